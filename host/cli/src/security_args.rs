//! The daemons' security flags, with Mesos' names: authentication (`--credentials`,
//! `--authenticate_*`), authorization (`--acls`, `--authorizers`) and, for agents, their own
//! `--credential` and the executors' tokens. Secrets are read from files; `/flags` shows the
//! files' paths, never what they hold.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use meseta_agent::daemon::AgentAuth;
use meseta_agent::daemon::executor_auth::ExecutorSecret;
use meseta_http::auth::{Credential, Credentials};
use meseta_master::security::Authentication;

/// A Mesos boolean flag: `--name`, `--name=true`, `--name=false`.
macro_rules! mesos_bool {
    () => {
        clap::ArgAction::Set
    };
}

#[derive(Args, Clone, Debug, Default)]
pub struct MasterSecurityArgs {
    /// Principals and secrets the master accepts: a JSON file `{"credentials": [{"principal":
    /// "NAME", "secret": "SECRET"}]}`, as a path or `file://` URL (Mesos' `--credentials`).
    #[arg(long, env = "MESETA_CREDENTIALS")]
    credentials: Option<String>,
    /// Frameworks must authenticate (HTTP Basic, realm `mesos-master-scheduler`).
    #[arg(long = "authenticate_http_frameworks", env = "MESETA_AUTHENTICATE_HTTP_FRAMEWORKS",
          default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = mesos_bool!())]
    authenticate_http_frameworks: bool,
    /// How frameworks authenticate: `basic` (Mesos requires this flag with
    /// --authenticate_http_frameworks).
    #[arg(
        long = "http_framework_authenticators",
        env = "MESETA_HTTP_FRAMEWORK_AUTHENTICATORS"
    )]
    http_framework_authenticators: Option<String>,
    /// How operators authenticate: `basic` (Mesos' default and the only one here).
    #[arg(
        long = "http_authenticators",
        env = "MESETA_HTTP_AUTHENTICATORS",
        default_value = "basic"
    )]
    http_authenticators: String,
    /// The state endpoints require credentials (realm `mesos-master-readonly`).
    #[arg(long = "authenticate_http_readonly", env = "MESETA_AUTHENTICATE_HTTP_READONLY",
          default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = mesos_bool!())]
    authenticate_http_readonly: bool,
    /// The operator API and the endpoints that change something require credentials (realm
    /// `mesos-master-readwrite`).
    #[arg(long = "authenticate_http_readwrite", env = "MESETA_AUTHENTICATE_HTTP_READWRITE",
          default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = mesos_bool!())]
    authenticate_http_readwrite: bool,
    /// Agents must authenticate with their `--credential` (realm `mesos-master-agent`).
    #[arg(long = "authenticate_agents", alias = "authenticate_slaves", env = "MESETA_AUTHENTICATE_AGENTS",
          default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = mesos_bool!())]
    authenticate_agents: bool,
    /// Mesos' ACLs (JSON text, or the path or `file://` URL of a JSON file) for the local
    /// authorizer: `{"permissive": false, "register_frameworks": [...], ...}`.
    #[arg(long, env = "MESETA_ACLS")]
    pub(crate) acls: Option<String>,
    /// The authorizer: `local` (Mesos' local ACL authorizer, the default) or the name of an
    /// authorizer module from --modules (then --acls is not used).
    #[arg(long, env = "MESETA_AUTHORIZERS", default_value = "local")]
    pub(crate) authorizers: String,
}

impl MasterSecurityArgs {
    pub fn authentication(&self) -> Result<Authentication, String> {
        if self.http_authenticators != "basic" {
            return Err(format!(
                "--http_authenticators: '{}' is not an authenticator Meseta has; use 'basic'",
                self.http_authenticators
            ));
        }
        if self.authenticate_http_frameworks {
            match self.http_framework_authenticators.as_deref() {
                Some("basic") => {}
                Some(other) => {
                    return Err(format!(
                        "--http_framework_authenticators: '{other}' is not an authenticator \
                         Meseta has; use 'basic'"
                    ));
                }
                None => {
                    return Err("--authenticate_http_frameworks needs \
                         --http_framework_authenticators=basic (as in Mesos)"
                        .into());
                }
            }
        }
        let credentials = match &self.credentials {
            Some(path) => Some(Arc::new(Credentials::load(path, "--credentials")?)),
            None => None,
        };
        let authentication = Authentication {
            credentials,
            http_frameworks: self.authenticate_http_frameworks,
            http_readonly: self.authenticate_http_readonly,
            http_readwrite: self.authenticate_http_readwrite,
            agents: self.authenticate_agents,
        };
        authentication.check()?;
        Ok(authentication)
    }

    /// `/master/flags`' entries (file paths, never secrets).
    pub fn flags(&self) -> Vec<(String, String)> {
        let mut f = vec![
            (
                "authenticate_http_frameworks".to_string(),
                self.authenticate_http_frameworks.to_string(),
            ),
            (
                "authenticate_http_readonly".into(),
                self.authenticate_http_readonly.to_string(),
            ),
            (
                "authenticate_http_readwrite".into(),
                self.authenticate_http_readwrite.to_string(),
            ),
            (
                "authenticate_agents".into(),
                self.authenticate_agents.to_string(),
            ),
            (
                "http_authenticators".into(),
                self.http_authenticators.clone(),
            ),
            ("authorizers".into(), self.authorizers.clone()),
        ];
        if let Some(c) = &self.credentials {
            f.push(("credentials".into(), c.clone()));
        }
        if let Some(a) = &self.http_framework_authenticators {
            f.push(("http_framework_authenticators".into(), a.clone()));
        }
        if let Some(acls) = &self.acls {
            // A path is shown as given; inline ACLs as what they are (they hold no secret).
            f.push(("acls".into(), acls.clone()));
        }
        f
    }

    /// The credential `meseta local` gives its agents when the master authenticates agents:
    /// the first of `--credentials`.
    pub fn agent_credential(&self) -> Result<Option<Credential>, String> {
        if !self.authenticate_agents {
            return Ok(None);
        }
        let Some(path) = &self.credentials else {
            return Ok(None);
        };
        Ok(Credentials::read_list(path, "--credentials")?
            .into_iter()
            .next())
    }
}

#[derive(Args, Clone, Debug, Default)]
pub struct AgentSecurityArgs {
    /// The agent's own credential, presented to the master: a JSON file `{"principal": "NAME",
    /// "secret": "SECRET"}` (Mesos' `--credential`).
    #[arg(long, env = "MESETA_CREDENTIAL")]
    credential: Option<String>,
    /// Principals the agent's endpoints accept: a JSON file as the master's --credentials
    /// (Mesos' `--http_credentials`).
    #[arg(long = "http_credentials", env = "MESETA_HTTP_CREDENTIALS")]
    http_credentials: Option<String>,
    /// `/state`, `/files/*`, `/flags`, `/metrics/*` require credentials (realm
    /// `mesos-agent-readonly`).
    #[arg(long = "authenticate_http_readonly", env = "MESETA_AUTHENTICATE_HTTP_READONLY",
          default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = mesos_bool!())]
    authenticate_http_readonly: bool,
    /// The agent's operator API requires credentials (realm `mesos-agent-readwrite`).
    #[arg(long = "authenticate_http_readwrite", env = "MESETA_AUTHENTICATE_HTTP_READWRITE",
          default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = mesos_bool!())]
    authenticate_http_readwrite: bool,
    /// Executors must present their own token (`MESOS_EXECUTOR_AUTHENTICATION_TOKEN`) on every
    /// executor API call; needs --executor_secret_key.
    #[arg(long = "authenticate_http_executors", env = "MESETA_AUTHENTICATE_HTTP_EXECUTORS",
          default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = mesos_bool!())]
    authenticate_http_executors: bool,
    /// A file holding the key executor tokens are signed with (at least 16 bytes).
    #[arg(long = "executor_secret_key", env = "MESETA_EXECUTOR_SECRET_KEY")]
    executor_secret_key: Option<PathBuf>,
}

impl AgentSecurityArgs {
    pub fn auth(&self) -> Result<AgentAuth, String> {
        let auth = AgentAuth {
            credential: match &self.credential {
                Some(path) => Some(Credential::load(path)?),
                None => None,
            },
            http_credentials: match &self.http_credentials {
                Some(path) => Some(Arc::new(Credentials::load(path, "--http_credentials")?)),
                None => None,
            },
            http_readonly: self.authenticate_http_readonly,
            http_readwrite: self.authenticate_http_readwrite,
            http_executors: self.authenticate_http_executors,
            executor_secret: match &self.executor_secret_key {
                Some(path) => Some(ExecutorSecret::load(path)?),
                None => None,
            },
        };
        auth.check()?;
        Ok(auth)
    }
}
