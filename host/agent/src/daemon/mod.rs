//! The agent daemon: an HTTP server, the link to the master, and the bookkeeping that turns the
//! master's messages into containers and the containers' lives into status updates.
//!
//! - `server`: the routes. The master's side of Meseta's master–agent protocol
//!   ([`meseta_api::internal`]), the v1 executor API, and Mesos' agent operator endpoints
//!   (`/slave(1)/state`, `/files/*`, `/metrics/snapshot`, `/slave(1)/health`, `/version`,
//!   `/slave(1)/flags`).
//! - `leader`: which master the agent talks to: `--master`'s `host:port`, or the leading master
//!   of a ZooKeeper election (`--master=zk://...`), followed by a detector.
//! - `master_link`: the outgoing HTTP client; registration, re-registration (after a `409`,
//!   when pings stop, or when another master leads), and the agent → master messages.
//! - `status`: the status update manager: one FIFO per task, only its head in flight, resent
//!   with backoff until the master relays the framework's acknowledgement.
//! - `tasks`: command tasks (one command executor per task), task groups (a pseudo default
//!   executor), custom executors; kills and shutdowns.
//! - `executor_api`: `POST /api/v1/executor` (SUBSCRIBE streams, UPDATE, MESSAGE).
//! - `state_json`: the JSON of `/slave(1)/state` and `/metrics/snapshot`.
//! - `hooks`: the call sites of the agent's hook modules.
//! - `persistent`: the master's `checkpoint_resources` (dynamic reservations, persistent
//!   volumes; see [`crate::volumes`]) and the volumes of containers.
//! - `recovery`: the checkpoints written as the agent runs (frameworks that checkpoint), and
//!   recovery on start: same agent id, recovered containers, replayed update streams.
//!
//! Concurrency: one `std::sync::Mutex` over `model::State`, never held across an `.await`;
//! every slow thing (launching, waiting, HTTP) runs in spawned tasks.

mod executor_api;
pub mod executor_auth;
mod hooks;
mod leader;
mod master_link;
mod model;
mod oversubscription;
mod persistent;
mod recovery;
mod server;
mod state_json;
mod status;
mod tasks;

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use meseta_api::common::{AgentInfo, Attribute, Resource};
use tokio::sync::{Notify, watch};

use crate::containerizer::Containerizer;
use crate::isolation::Isolation;
use crate::resources::DetectError;
use crate::sandbox::SandboxLayout;
use meseta_runtime::LoadedModule;

use self::model::State;

/// The Mesos version the agent reports (`/version`, `/slave(1)/state`): numeric and dotted, as
/// clients parse it.
pub const MESOS_VERSION: &str = "1.11.0";

/// How often a subscribed executor gets a `HEARTBEAT` event.
pub const EXECUTOR_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);

/// How many completed frameworks, executors (per framework) and tasks (per executor) `/state`
/// keeps.
pub const MAX_COMPLETED: usize = 100;

/// Mesos' `STATUS_UPDATE_RETRY_INTERVAL_MIN`: the default first resend of an unacknowledged
/// status update.
pub const STATUS_UPDATE_RETRY_INTERVAL_MIN: Duration = Duration::from_secs(10);

/// Mesos' `STATUS_UPDATE_RETRY_INTERVAL_MAX`: the default cap of the doubling resend interval.
pub const STATUS_UPDATE_RETRY_INTERVAL_MAX: Duration = Duration::from_secs(10 * 60);

/// The agent's settings, with Mesos' flag names and defaults where Mesos has them.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// `--master`: `host:port` of the master (`http://host:port` is accepted too), or Mesos'
    /// `zk://host:port[,host:port...]/path` (or `file:///path` of a file holding one): the agent
    /// then follows the masters' election in ZooKeeper and talks to the leader.
    pub master: String,
    /// `--ip`/`--port`: where to listen; port 0 picks a free one.
    pub listen: SocketAddr,
    /// `--hostname`: the advertised hostname; the advertised ip as text when absent.
    pub hostname: Option<String>,
    /// `--http_max_connections`, `--http_header_read_timeout`, `--http_idle_timeout`,
    /// `--http_max_body_size`: what the agent's HTTP server accepts.
    pub http: meseta_http::Limits,
    /// `--work_dir`: sandboxes live under `<work_dir>/slaves`.
    pub work_dir: PathBuf,
    /// `--resources` text; the rest is detected (see [`crate::agent_resources`]).
    pub resources: Option<String>,
    /// `--default_role` (`*`, unreserved, when `None`): the role every resource that names
    /// none, detected ones included, is statically reserved for.
    pub default_role: Option<String>,
    /// `--attributes` text (`rack:r1;zone:z2`).
    pub attributes: Option<String>,
    /// `--executor_shutdown_grace_period` (5 s): the default kill grace of a task, and how long
    /// a custom executor has to exit after `SHUTDOWN`; also the cap of every grace period a
    /// framework asks for (a kill policy's, an executor's `shutdown_grace_period`), so a kill,
    /// a framework's removal and the agent's own shutdown end in bounded time.
    pub executor_shutdown_grace_period: Duration,
    /// `--executor_registration_timeout` (1 min): a custom executor that has not subscribed
    /// by then is killed and its tasks fail.
    pub executor_registration_timeout: Duration,
    /// `--status_update_retry_interval_min` (10 s, Mesos' `STATUS_UPDATE_RETRY_INTERVAL_MIN`):
    /// the first resend of an unacknowledged status update comes after this; each later one
    /// after twice the previous interval, up to `status_update_retry_max`.
    pub status_update_retry_min: Duration,
    /// `--status_update_retry_interval_max` (10 min, Mesos' `STATUS_UPDATE_RETRY_INTERVAL_MAX`):
    /// the longest interval between resends of an unacknowledged status update (a value below
    /// `status_update_retry_min` counts as `status_update_retry_min`).
    pub status_update_retry_max: Duration,
    /// First retry of a failed registration after this; doubling, capped at ten times this.
    pub registration_backoff: Duration,
    /// `--isolation`, set up (see [`Isolation::new`]); `None` runs containers without
    /// isolators.
    pub isolation: Option<Arc<Isolation>>,
    /// `--resource_estimator`: polled every `oversubscribed_resources_interval`; the master
    /// hears every change of its estimate.
    pub resource_estimator: Option<Arc<LoadedModule>>,
    /// `--oversubscribed_resources_interval` (Mesos: 15 s).
    pub oversubscribed_resources_interval: Duration,
    /// `--qos_controller`: polled every `qos_correction_interval_min`; its kills preempt.
    pub qos_controller: Option<Arc<LoadedModule>>,
    /// `--qos_correction_interval_min` (Meseta: 1 s).
    pub qos_correction_interval_min: Duration,
    /// `--hooks`: the agent-hooks modules, in order (none by default).
    pub hooks: Arc<meseta_hooks::AgentHookChain>,
    /// The binary whose hidden `supervise` subcommand runs each command task and custom
    /// executor (the `meseta` CLI passes itself), so that the tasks of checkpointing
    /// frameworks outlive the agent and a restarted agent recovers them. `None` (the agent
    /// library embedded in tests): containers are direct children of the agent and nothing
    /// survives it; checkpoints are still written and read.
    pub supervisor: Option<PathBuf>,
    /// `--recover`: what a starting agent does with what its predecessor left.
    pub recover: RecoverMode,
    /// `--strict` (true): an unreadable checkpoint stops the agent; false: it is skipped and
    /// counted in `slave/recovery_errors`.
    pub strict: bool,
    /// `--recovery_timeout` (15 min): told to checkpointing executors
    /// (`MESOS_RECOVERY_TIMEOUT`), how long they wait for a restarted agent.
    pub recovery_timeout: Duration,
    /// `--executor_reregistration_timeout` (2 s): recovered custom executors must subscribe
    /// again within this, or are killed (their tasks `TASK_LOST`/`TASK_GONE`).
    pub executor_reregistration_timeout: Duration,
    /// `--cgroups_root` (`meseta`): each container's processes are tracked in their own cgroup
    /// `<freezer>/<cgroups_root>/<container id>` (see [`crate::tracking`]).
    pub cgroups_root: String,
    /// `--container_logger` (`logrotate`, with 10 MB files and `rotate 9`): where the stdout
    /// and stderr of every container go (see [`crate::logger`]).
    pub container_logger: crate::logger::ContainerLogger,
    /// When the checkpointed agent's resources or attributes differ from this start's: `false`
    /// (Mesos, `meseta agent`) refuses to start, naming the checkpoint to remove; `true`
    /// (`meseta local`, where a new set of flags is an everyday thing) warns and starts as a
    /// new agent.
    pub new_agent_when_incompatible: bool,
    /// Credentials and the `--authenticate_*` flags.
    pub auth: AgentAuth,
}

/// Who the agent is to its master, and who may call it.
#[derive(Clone, Debug, Default)]
pub struct AgentAuth {
    /// `--credential`: presented to the master (HTTP Basic) on every request.
    pub credential: Option<meseta_http::auth::Credential>,
    /// `--http_credentials`: the principals the agent's own endpoints accept.
    pub http_credentials: Option<Arc<meseta_http::auth::Credentials>>,
    /// `--authenticate_http_readonly`: `/state`, `/files/*`, `/flags`, `/metrics/*`,
    /// `/monitor/statistics` require credentials (realm `mesos-agent-readonly`).
    pub http_readonly: bool,
    /// `--authenticate_http_readwrite`: the agent's operator API requires credentials (realm
    /// `mesos-agent-readwrite`).
    pub http_readwrite: bool,
    /// `--authenticate_http_executors`: executor API calls need their executor's token.
    pub http_executors: bool,
    /// `--executor_secret_key`: signs the executors' tokens (set whenever executors get one).
    pub executor_secret: Option<executor_auth::ExecutorSecret>,
}

impl AgentAuth {
    /// Refuses flags that cannot work together.
    pub fn check(&self) -> Result<(), String> {
        if self.http_executors && self.executor_secret.is_none() {
            return Err(
                "--authenticate_http_executors needs --executor_secret_key: the path \
                 of a file holding the key executor tokens are signed with"
                    .into(),
            );
        }
        if self.http_credentials.is_none() {
            for (set, flag) in [
                (self.http_readonly, "--authenticate_http_readonly"),
                (self.http_readwrite, "--authenticate_http_readwrite"),
            ] {
                if set {
                    return Err(format!(
                        "{flag} needs --http_credentials: give the path of a JSON file \
                         {{\"credentials\": [{{\"principal\": \"NAME\", \"secret\": \"SECRET\"}}]}}"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `--recover`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RecoverMode {
    /// Reattach to the checkpointed executors and tasks, and re-register with the same id.
    #[default]
    Reconnect,
    /// Kill everything checkpointed, then exit (see [`cleanup`]).
    Cleanup,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            master: "127.0.0.1:5050".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 5051)),
            hostname: None,
            http: meseta_http::Limits::default(),
            work_dir: PathBuf::from("/var/lib/meseta/agent"),
            resources: None,
            default_role: None,
            attributes: None,
            executor_shutdown_grace_period: Duration::from_secs(5),
            executor_registration_timeout: Duration::from_secs(60),
            status_update_retry_min: STATUS_UPDATE_RETRY_INTERVAL_MIN,
            status_update_retry_max: STATUS_UPDATE_RETRY_INTERVAL_MAX,
            registration_backoff: Duration::from_secs(1),
            isolation: None,
            resource_estimator: None,
            oversubscribed_resources_interval: Duration::from_secs(15),
            qos_controller: None,
            qos_correction_interval_min: Duration::from_secs(1),
            hooks: Arc::default(),
            supervisor: None,
            recover: RecoverMode::Reconnect,
            strict: true,
            recovery_timeout: Duration::from_secs(15 * 60),
            executor_reregistration_timeout: Duration::from_secs(2),
            new_agent_when_incompatible: false,
            auth: AgentAuth::default(),
            cgroups_root: "meseta".into(),
            container_logger: crate::logger::ContainerLogger::default(),
        }
    }
}

pub use recovery::cleanup;

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(
        "invalid --master '{0}': expected host:port, http(s)://host:port, \
         zk://host:port[,host:port...]/path or file:///path/to/file"
    )]
    Master(String),
    #[error("invalid --master: {0}")]
    MasterUrl(meseta_zk::UrlError),
    #[error("--master: cannot follow the ZooKeeper election: {0}")]
    Detector(meseta_zk::ZkError),
    #[error("cannot create the work dir '{}': {source}", path.display())]
    WorkDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Resources(#[from] DetectError),
    #[error("invalid --attributes: {0}")]
    Attributes(String),
    #[error("{0}")]
    Module(String),
    #[error("agent hook: {0}")]
    Hook(String),
    #[error("cannot recover the agent's checkpoints: {0}")]
    Recovery(#[from] crate::checkpoint::CheckpointError),
    #[error("cannot recover the checkpointed resources (reservations, persistent volumes): {0}")]
    Volumes(#[from] crate::volumes::VolumeError),
    #[error(
        "incompatible agent info detected: the checkpointed agent {id} had {old}, this agent has {new}; \
         to start as a new agent (its checkpointed tasks are not recovered), \
         remove the checkpoint: rm -f {}",
        latest.display()
    )]
    Incompatible {
        id: String,
        old: String,
        new: String,
        latest: PathBuf,
    },
    #[error("{0}")]
    Tls(String),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
}

/// What every part of the daemon shares.
pub(crate) struct Daemon {
    pub config: AgentConfig,
    /// The master to talk to: `--master`'s, or the leader detected in ZooKeeper (`None` while
    /// no leader is known).
    pub leader: watch::Sender<Option<leader::Leader>>,
    /// `--master`'s ZooKeeper URL, when the agent follows the election.
    pub zk: Option<meseta_zk::ZkUrl>,
    /// The address the server is bound to.
    pub address: SocketAddr,
    pub layout: SandboxLayout,
    /// The checkpoints (`<work_dir>/meta`).
    pub meta: crate::checkpoint::MetaLayout,
    pub containerizer: Containerizer,
    pub client: master_link::HttpClient,
    /// Status updates on their way to the master (batched, see `master_link::post_status`).
    pub statuses: master_link::StatusQueue,
    /// The agent's static resources (`--resources`, detected, `--default_role`, hooks).
    pub static_resources: Vec<meseta_types::resources::Resource>,
    /// What the agent advertises: the static resources with the checkpointed ones applied.
    /// Locked after the state's mutex when both are needed, never the other way round.
    totals: Mutex<Totals>,
    pub attributes: Vec<meseta_types::resources::Attribute>,
    pub wire_attributes: Vec<Attribute>,
    /// The agent id once registered.
    pub registered: watch::Sender<Option<String>>,
    /// Ask the registration loop to register again now.
    pub reregister: Notify,
    /// `true` once the agent is stopping.
    pub stopping: watch::Sender<bool>,
    /// `Some(why)` once the master told the agent to shut down for good (it was marked gone).
    pub shut_down_by_master: watch::Sender<Option<String>>,
    pub start_time: f64,
    pub started: Instant,
    state: Mutex<State>,
}

pub(crate) type Shared = Arc<Daemon>;

/// The checkpointed resources and the total they make (see [`crate::volumes`]).
pub(crate) struct Totals {
    /// Every dynamically reserved resource and persistent volume, as the master last sent.
    pub checkpointed: Vec<meseta_types::resources::Resource>,
    pub total: Vec<meseta_types::resources::Resource>,
    pub wire: Vec<Resource>,
}

impl Totals {
    fn new(
        checkpointed: Vec<meseta_types::resources::Resource>,
        total: Vec<meseta_types::resources::Resource>,
    ) -> Self {
        Totals {
            wire: meseta_api::convert::resources_to_wire(&total),
            checkpointed,
            total,
        }
    }
}

impl Daemon {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn totals(&self) -> MutexGuard<'_, Totals> {
        self.totals.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What the agent advertises now.
    pub fn total(&self) -> Vec<meseta_types::resources::Resource> {
        self.totals().total.clone()
    }

    /// Applies a new set of checkpointed resources (see [`crate::volumes::commit`]); a volume
    /// in `in_use` may not be dropped. Blocking file IO.
    pub fn checkpoint_resources(
        &self,
        new: Vec<meseta_types::resources::Resource>,
        in_use: &std::collections::BTreeSet<crate::volumes::VolumeKey>,
    ) -> Result<(), crate::volumes::VolumeError> {
        let mut totals = self.totals();
        let dropped: Vec<_> = crate::volumes::volume_keys(&totals.checkpointed)
            .difference(&crate::volumes::volume_keys(&new))
            .filter(|k| in_use.contains(k))
            .map(ToString::to_string)
            .collect();
        if !dropped.is_empty() {
            return Err(crate::volumes::VolumeError::Conflict(format!(
                "persistent volume {} is in use by a running task or executor; not destroying it",
                dropped.join(", ")
            )));
        }
        let total = crate::volumes::commit(
            &self.meta,
            &self.config.work_dir,
            &self.static_resources,
            &totals.checkpointed,
            &new,
        )?;
        *totals = Totals::new(new, total);
        Ok(())
    }

    /// `host:port` of the master to talk to now, if one is known.
    pub fn master(&self) -> Option<String> {
        self.leader.borrow().as_ref().map(|l| l.address.clone())
    }

    pub fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// Resolves once the agent is stopping.
    pub async fn stopped(&self) {
        let mut rx = self.stopping.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// The `AgentInfo` the agent registers with and tells executors.
    pub fn agent_info(&self, state: &State) -> AgentInfo {
        AgentInfo {
            hostname: state.hostname.clone(),
            port: Some(u32::from(self.address.port())),
            resources: self.totals().wire.clone(),
            attributes: self.wire_attributes.clone(),
            id: state.agent_id.clone().map(meseta_api::common::AgentID::new),
        }
    }
}

/// A running agent daemon.
pub struct Agent {
    daemon: Shared,
    server: tokio::task::JoinHandle<()>,
    background: Vec<tokio::task::JoinHandle<()>>,
}

impl Agent {
    /// Checks the config, binds the listen address, starts serving and starts registering with
    /// the master in the background (retrying while the master is unreachable).
    pub async fn start(config: AgentConfig) -> Result<Agent, AgentError> {
        // LIBPROCESS_SSL_*: a bad TLS configuration stops the agent before it listens.
        meseta_http::tls::process().map_err(AgentError::Tls)?;
        let master = leader::MasterFlag::parse(&config.master)?;
        let mut config = config;
        std::fs::create_dir_all(&config.work_dir).map_err(|source| AgentError::WorkDir {
            path: config.work_dir.clone(),
            source,
        })?;
        // Absolute, so that the `directory` of an executor in `/state` is a path `/files`
        // accepts as it is.
        config.work_dir =
            std::fs::canonicalize(&config.work_dir).map_err(|source| AgentError::WorkDir {
                path: config.work_dir.clone(),
                source,
            })?;
        let resources = crate::resources::agent_resources_for_role(
            &config.work_dir,
            config.resources.as_deref(),
            config.default_role.as_deref(),
        )?;
        let attributes = match config.attributes.as_deref() {
            Some(text) => {
                meseta_api::text::parse_attributes(text).map_err(AgentError::Attributes)?
            }
            None => Vec::new(),
        };
        let policies = oversubscription::Policies::new(&config).map_err(AgentError::Module)?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| AgentError::Bind {
                address: config.listen,
                source,
            })?;
        let address = listener.local_addr().map_err(|source| AgentError::Bind {
            address: config.listen,
            source,
        })?;
        let hostname = config
            .hostname
            .clone()
            .unwrap_or_else(|| address.ip().to_string());
        let (resources, attributes) = hooks::decorate_agent(
            &config.hooks,
            &hostname,
            address.port(),
            resources,
            attributes,
        )?;
        let meta = crate::checkpoint::MetaLayout::new(&config.work_dir);
        let (checkpointed, total) = crate::volumes::recover(&meta, &config.work_dir, &resources)?;
        if !checkpointed.is_empty() {
            tracing::info!(
                resources = %checkpointed.iter().map(crate::volumes::describe).collect::<Vec<_>>().join("; "),
                "recovered the checkpointed resources"
            );
        }
        let recovered = recovery::recover_identity(
            &config,
            &meseta_api::convert::resources_to_wire(&resources),
            &meseta_api::convert::attributes_to_wire(&attributes),
        )?;
        let endpoint = address.to_string();
        let (registered, _) = watch::channel(None);
        let (stopping, _) = watch::channel(false);
        let (zk, detector, first) = match master {
            leader::MasterFlag::Fixed(address) => {
                (None, None, Some(leader::Leader::fixed(address)))
            }
            leader::MasterFlag::ZooKeeper(url) => {
                let detector =
                    meseta_zk::Detector::start(url.clone()).map_err(AgentError::Detector)?;
                (Some(url), Some(detector), None)
            }
        };
        let (leader, _) = watch::channel(first);
        let (statuses, status_queue) = tokio::sync::mpsc::unbounded_channel();
        let daemon = Arc::new(Daemon {
            layout: SandboxLayout::new(config.work_dir.clone()),
            meta,
            containerizer: match &config.isolation {
                Some(isolation) => Containerizer::with_isolation(Arc::clone(isolation)),
                None => Containerizer::new(),
            }
            .with_tracker(crate::tracking::ProcessTracker::detect(
                &config.cgroups_root,
            )),
            client: master_link::client(),
            statuses,
            wire_attributes: meseta_api::convert::attributes_to_wire(&attributes),
            static_resources: resources,
            totals: Mutex::new(Totals::new(checkpointed, total)),
            attributes,
            registered,
            reregister: Notify::new(),
            stopping,
            shut_down_by_master: watch::channel(None).0,
            start_time: meseta_api::common::timestamp_now(),
            started: Instant::now(),
            state: Mutex::new(State {
                hooks: config.hooks.clone(),
                ..State::new(hostname, endpoint)
            }),
            leader,
            zk,
            address,
            config,
        });
        let server = tokio::spawn(server::serve(daemon.clone(), listener));
        let wait_for_executors = recovery::recover(&daemon, recovered);
        let registration = tokio::spawn({
            let daemon = daemon.clone();
            async move {
                // Mesos re-registers only once the recovered executors have subscribed again
                // or had their chance to (MESOS-7539).
                if wait_for_executors {
                    let deadline = Instant::now() + daemon.config.executor_reregistration_timeout;
                    while Instant::now() < deadline && !recovery::all_resubscribed(&daemon) {
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                            _ = daemon.stopped() => return,
                        }
                    }
                }
                master_link::registration_loop(daemon).await;
            }
        });
        let status_sender = tokio::spawn(master_link::status_sender(daemon.clone(), status_queue));
        let mut background = vec![registration, status_sender];
        if let Some(detector) = detector {
            background.push(tokio::spawn(leader::follow(
                detector,
                daemon.leader.clone(),
            )));
        }
        background.extend(policies.spawn(&daemon));
        match &daemon.zk {
            Some(url) => tracing::info!(address = %address, zk = %url,
                work_dir = %daemon.config.work_dir.display(),
                "agent started; following the leading master in ZooKeeper"),
            None => tracing::info!(address = %address, master = ?daemon.master(),
                work_dir = %daemon.config.work_dir.display(), "agent started"),
        }
        Ok(Agent {
            daemon,
            server,
            background,
        })
    }

    /// The address the agent's HTTP server is bound to.
    pub fn address(&self) -> SocketAddr {
        self.daemon.address
    }

    /// The agent id, once the master has registered the agent.
    pub fn agent_id(&self) -> Option<String> {
        self.daemon.lock().agent_id.clone()
    }

    /// The agent's work dir (absolute).
    pub fn work_dir(&self) -> &std::path::Path {
        &self.daemon.config.work_dir
    }

    /// Waits until the agent is registered; whether it is, after at most `timeout`.
    pub async fn wait_registered(&self, timeout: Duration) -> bool {
        let mut rx = self.daemon.registered.subscribe();
        matches!(
            tokio::time::timeout(timeout, rx.wait_for(Option::is_some)).await,
            Ok(Ok(_))
        )
    }

    /// Resolves, with the master's reason, once the master told this agent to shut down for
    /// good (an operator marked it gone): everything it ran is killed and its id forgotten;
    /// the process should exit.
    pub async fn shut_down_by_master(&self) -> String {
        let mut rx = self.daemon.shut_down_by_master.subscribe();
        match rx.wait_for(Option::is_some).await {
            Ok(why) => why.clone().unwrap_or_default(),
            Err(_) => std::future::pending().await,
        }
    }

    /// Stops the agent: stops serving (ending executor streams), stops talking to the master,
    /// kills every container (SIGTERM to each process group, SIGKILL after its grace period)
    /// and waits for them.
    pub async fn stop(self) {
        tracing::info!(address = %self.daemon.address, "agent stopping");
        let killed = self.shut_down(&HashSet::new()).await;
        tracing::info!(containers = killed, "agent stopped");
    }

    /// Exits as Mesos' agent does on SIGTERM: stops serving and kills the containers of
    /// frameworks that do not checkpoint, but leaves those of checkpointing frameworks running
    /// under their supervisors, for the next agent on this work dir to recover. Without a
    /// supervisor binary (an embedded agent) every container is a child of this process and
    /// is killed, as by [`Agent::stop`].
    pub async fn exit(self) {
        let keep = if self.daemon.config.supervisor.is_some() {
            self.daemon.lock().checkpointed_containers()
        } else {
            HashSet::new()
        };
        tracing::info!(address = %self.daemon.address, kept = keep.len(),
            "agent exiting; the containers of checkpointing frameworks keep running");
        let killed = self.shut_down(&keep).await;
        tracing::info!(killed, kept = keep.len(), "agent exited");
    }

    /// Stops serving and the background tasks, then every container but `keep`'s; how many
    /// were killed.
    async fn shut_down(mut self, keep: &HashSet<String>) -> usize {
        self.daemon.stopping.send_replace(true);
        self.daemon.lock().close_streams();
        let server = std::mem::replace(&mut self.server, tokio::spawn(async {}));
        if tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .is_err()
        {
            tracing::warn!("the HTTP server did not stop in time");
        }
        for task in self.background.drain(..) {
            task.abort();
        }
        self.daemon.containerizer.shutdown_except(keep).await.len()
    }
}

impl Drop for Agent {
    /// Dropping a running agent (without [`Agent::stop`]) stops it in the background and
    /// SIGKILLs its containers' process groups at once.
    fn drop(&mut self) {
        if self.daemon.is_stopping() {
            return;
        }
        self.daemon.stopping.send_replace(true);
        self.daemon.lock().close_streams();
        self.server.abort();
        for task in &self.background {
            task.abort();
        }
        self.daemon.containerizer.close();
        for id in self.daemon.containerizer.container_ids() {
            if let Some(handle) = self.daemon.containerizer.get(&id) {
                // The first poll sends SIGKILL synchronously; the reaper thread does the rest.
                let _ = futures_util::FutureExt::now_or_never(handle.kill(Duration::ZERO));
            }
        }
    }
}

/// The ip the master can reach the agent at: the listen ip, or when that is unspecified
/// (`0.0.0.0`), the local address of the route towards the master.
pub(crate) async fn advertised_ip(listen: SocketAddr, master: &str) -> IpAddr {
    if !listen.ip().is_unspecified() {
        return listen.ip();
    }
    if let Ok(mut addrs) = tokio::net::lookup_host(master).await
        && let Some(target) = addrs.next()
    {
        let bind: SocketAddr = if target.is_ipv4() {
            SocketAddr::from(([0, 0, 0, 0], 0))
        } else {
            SocketAddr::from(([0u16; 8], 0))
        };
        if let Ok(socket) = std::net::UdpSocket::bind(bind)
            && socket.connect(target).is_ok()
            && let Ok(local) = socket.local_addr()
            && !local.ip().is_unspecified()
        {
            return local.ip();
        }
    }
    IpAddr::from([127, 0, 0, 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_updates_are_resent_on_mesos_schedule_by_default() {
        let config = AgentConfig::default();
        assert_eq!(config.status_update_retry_min, Duration::from_secs(10));
        assert_eq!(config.status_update_retry_max, Duration::from_secs(600));
    }
}
