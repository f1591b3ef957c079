//! Launching a command task (or a command executor) as a real process.
//!
//! The process:
//! - runs `/bin/sh -c <value>` (shell form) or `value` with `arguments` as its argv (argv form,
//!   where, as in Mesos, `arguments[0]` is `argv[0]`), found through the task's `PATH`;
//! - starts a new session (`setsid`), so it and everything it forks form one process group that
//!   the containerizer can signal as a whole, and an executor may `killpg(0, ...)` its own group;
//! - has the sandbox as its working directory, stdin from `/dev/null`, and stdout and stderr
//!   going to the files `stdout` and `stderr` in the sandbox, through the container logger
//!   ([`crate::logger`]: appended directly, or drained by threads of the launching process and
//!   rotated by size);
//! - gets a clean environment built by [`environment`];
//! - runs as the agent's user, or as `user` when that differs and the agent is root (the sandbox
//!   is then chowned to that user, as Mesos does). A non-root agent refuses another user;
//! - with [`ContainerConfig::mounts`] (read-only persistent volumes), runs in a mount namespace
//!   of its own, made in the forked child before `exec` (mounts slaved to the agent's, so none
//!   propagates back), where each volume is bind-mounted read-only on its directory in the
//!   sandbox. The agent's namespace never sees those mounts: to the agent they are empty
//!   directories, and they go when the last process in the namespace ends.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::sys;

/// The `PATH` a task gets when the agent itself has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What to run: Mesos' `CommandInfo` (without URIs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommandSpec {
    /// `true`: run `value` with `/bin/sh -c`. `false`: execute `value` with `arguments`.
    pub shell: bool,
    pub value: Option<String>,
    /// argv form only: the whole argv, `arguments[0]` included. Empty means `[value]`.
    pub arguments: Vec<String>,
    /// The task's own environment, applied over the base and Mesos variables.
    pub environment: Vec<(String, String)>,
    /// The user to run as; `None` means the agent's user.
    pub user: Option<String>,
}

impl CommandSpec {
    /// A shell command, `sh -c <value>`.
    pub fn shell(value: impl Into<String>) -> Self {
        CommandSpec {
            shell: true,
            value: Some(value.into()),
            ..CommandSpec::default()
        }
    }

    /// An argv command: `value` is the executable, `arguments` the whole argv.
    pub fn argv(value: impl Into<String>, arguments: Vec<String>) -> Self {
        CommandSpec {
            shell: false,
            value: Some(value.into()),
            arguments,
            ..CommandSpec::default()
        }
    }
}

/// A read-only bind mount the process gets in a mount namespace of its own: a persistent
/// volume with `mode: RO` (see `daemon::persistent`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReadOnlyMount {
    /// The volume's directory.
    pub source: PathBuf,
    /// The (existing, empty) directory in the sandbox it is mounted on.
    pub target: PathBuf,
}

/// Everything needed to launch one container's process.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerConfig {
    /// Unique per run; the key the containerizer tracks the container by.
    pub container_id: String,
    pub agent_id: String,
    pub framework_id: String,
    pub executor_id: String,
    /// Set for a command task (exported as `MESOS_TASK_ID`); `None` for a custom executor.
    pub task_id: Option<String>,
    pub command: CommandSpec,
    /// The sandbox directory; it must exist (see [`crate::sandbox::SandboxLayout::create`]).
    pub sandbox: PathBuf,
    /// The agent's `host:port` (no scheme), exported as `MESOS_AGENT_ENDPOINT` when set.
    pub agent_endpoint: Option<String>,
    /// Exported as `MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD`; also the grace of
    /// [`crate::ContainerHandle::shutdown`].
    pub grace_period: Duration,
    /// Applied last, over the task's environment: variables from hooks and isolators.
    pub extra_environment: Vec<(String, String)>,
    /// The container's resources, for its isolators.
    pub resources: Vec<meseta_types::resources::Resource>,
    /// `cgroup.procs` files the process joins before `exec` (set by the containerizer from
    /// its isolators).
    pub cgroups: Vec<PathBuf>,
    /// Read-only bind mounts in a mount namespace of the process's own (none: the process
    /// shares the agent's mount namespace).
    pub mounts: Vec<ReadOnlyMount>,
    /// `Some(recovery timeout)` for a checkpointing framework: exported as
    /// `MESOS_CHECKPOINT=1` and `MESOS_RECOVERY_TIMEOUT`.
    pub checkpoint: Option<Duration>,
    /// Run under a supervisor process that outlives the agent (see [`crate::supervisor`]);
    /// `None` makes the process a direct child of the agent.
    pub supervisor: Option<crate::supervisor::Supervision>,
    /// Where the process's stdout and stderr go (`--container_logger`).
    pub logger: crate::logger::ContainerLogger,
}

/// Why a container could not be launched.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("invalid command: {0}")]
    InvalidCommand(String),
    #[error("unknown user '{0}'")]
    UnknownUser(String),
    #[error(
        "cannot run as user '{user}': the agent runs as '{current}' and only root may switch users"
    )]
    UserSwitchRefused { user: String, current: String },
    #[error("container '{0}' already exists")]
    DuplicateContainer(String),
    #[error("the agent is shutting down: no new containers")]
    ShuttingDown,
    #[error("invalid container config: {0}")]
    InvalidConfig(String),
    #[error("isolation failed: {0}")]
    Isolation(String),
    #[error("cannot create the container's cgroup: {0}")]
    Tracking(String),
    #[error("cannot prepare the sandbox '{}': {source}", path.display())]
    Sandbox { path: PathBuf, source: io::Error },
    #[error("cannot look up user '{user}': {source}")]
    UserLookup { user: String, source: io::Error },
    #[error("the supervisor could not start the container: {0}")]
    Supervisor(String),
    #[error("cannot start '{command}': {source}")]
    Spawn { command: String, source: io::Error },
}

/// Who the process runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunAs {
    pub name: String,
    pub home: PathBuf,
    /// `Some` when the launch switches to another uid.
    pub switch: Option<UserSwitch>,
}

/// The ids a root agent switches to before `exec`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserSwitch {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

fn current_user() -> RunAs {
    let uid = sys::effective_uid();
    match sys::user_by_uid(uid) {
        Ok(Some(p)) => RunAs {
            name: p.name,
            home: p.home,
            switch: None,
        },
        _ => RunAs {
            name: std::env::var("USER").unwrap_or_else(|_| uid.to_string()),
            home: std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/")),
            switch: None,
        },
    }
}

/// Decides who a command runs as: the agent's user, or `requested` (switching only when it is
/// a different uid, which needs root).
pub fn resolve_user(requested: Option<&str>) -> Result<RunAs, LaunchError> {
    let current = current_user();
    let Some(user) = requested else {
        return Ok(current);
    };
    let lookup_err = |source| LaunchError::UserLookup {
        user: user.to_string(),
        source,
    };
    let passwd = sys::user_by_name(user)
        .map_err(lookup_err)?
        .ok_or_else(|| LaunchError::UnknownUser(user.to_string()))?;
    let euid = sys::effective_uid();
    if passwd.uid == euid {
        return Ok(RunAs {
            name: passwd.name,
            home: passwd.home,
            switch: None,
        });
    }
    if euid != 0 {
        return Err(LaunchError::UserSwitchRefused {
            user: user.to_string(),
            current: current.name,
        });
    }
    let groups = sys::supplementary_groups(&passwd.name, passwd.gid).map_err(lookup_err)?;
    Ok(RunAs {
        switch: Some(UserSwitch {
            uid: passwd.uid,
            gid: passwd.gid,
            groups,
        }),
        name: passwd.name,
        home: passwd.home,
    })
}

/// Formats a duration as Mesos prints one (`5secs`, `500ms`, `1.5mins`, `2hrs`).
pub fn format_duration(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    const US: f64 = 1e3;
    const MS: f64 = 1e6;
    const SECS: f64 = 1e9;
    const MINS: f64 = 60.0 * SECS;
    const HRS: f64 = 60.0 * MINS;
    const DAYS: f64 = 24.0 * HRS;
    const WEEKS: f64 = 7.0 * DAYS;
    let (value, unit) = if ns < US {
        (ns, "ns")
    } else if ns < MS {
        (ns / US, "us")
    } else if ns < SECS {
        (ns / MS, "ms")
    } else if ns < MINS {
        (ns / SECS, "secs")
    } else if ns < HRS {
        (ns / MINS, "mins")
    } else if ns < DAYS {
        (ns / HRS, "hrs")
    } else if ns < WEEKS {
        (ns / DAYS, "days")
    } else {
        (ns / WEEKS, "weeks")
    };
    format!("{value}{unit}")
}

/// An environment under construction: setting a name again replaces its value in place.
#[derive(Default)]
struct Env(Vec<(String, String)>);

impl Env {
    fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let (name, value) = (name.into(), value.into());
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }
}

/// The process's whole environment, in order of precedence (later wins):
/// 1. a clean base: `PATH` (the agent's, or [`DEFAULT_PATH`]), `HOME`, `USER` and `LOGNAME` of
///    the user the task runs as, and `LANG` if the agent has it;
/// 2. Mesos' variables: `MESOS_SANDBOX`, `MESOS_DIRECTORY`, `MESOS_FRAMEWORK_ID`,
///    `MESOS_EXECUTOR_ID`, `MESOS_SLAVE_ID`, `MESOS_AGENT_ID`, `MESOS_AGENT_ENDPOINT` (if set),
///    `MESOS_CHECKPOINT` (`1` and `MESOS_RECOVERY_TIMEOUT` when checkpointing),
///    `MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD`, `MESOS_TASK_ID` (command tasks), and the
///    agent's own `LIBPROCESS_SSL_*` (and legacy `SSL_*`) TLS variables, so an executor
///    connects back to `MESOS_AGENT_ENDPOINT` as the agent serves it (Mesos' executors read
///    the same variables);
/// 3. the task's own environment;
/// 4. `extra_environment` (hooks and isolators).
pub fn environment(config: &ContainerConfig, run_as: &RunAs) -> Vec<(String, String)> {
    let mut env = Env::default();
    env.set(
        "PATH",
        std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.to_string()),
    );
    env.set("HOME", run_as.home.to_string_lossy());
    env.set("USER", run_as.name.as_str());
    env.set("LOGNAME", run_as.name.as_str());
    if let Ok(lang) = std::env::var("LANG") {
        env.set("LANG", lang);
    }

    let sandbox = config.sandbox.to_string_lossy();
    env.set("MESOS_SANDBOX", sandbox.as_ref());
    env.set("MESOS_DIRECTORY", sandbox.as_ref());
    env.set("MESOS_FRAMEWORK_ID", config.framework_id.as_str());
    env.set("MESOS_EXECUTOR_ID", config.executor_id.as_str());
    env.set("MESOS_SLAVE_ID", config.agent_id.as_str());
    env.set("MESOS_AGENT_ID", config.agent_id.as_str());
    if let Some(endpoint) = &config.agent_endpoint {
        env.set("MESOS_AGENT_ENDPOINT", endpoint.as_str());
    }
    match config.checkpoint {
        Some(recovery_timeout) => {
            env.set("MESOS_CHECKPOINT", "1");
            env.set("MESOS_RECOVERY_TIMEOUT", format_duration(recovery_timeout));
        }
        None => env.set("MESOS_CHECKPOINT", "0"),
    }
    env.set(
        "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
        format_duration(config.grace_period),
    );
    if let Some(task_id) = &config.task_id {
        env.set("MESOS_TASK_ID", task_id.as_str());
    }
    for (name, value) in meseta_http::tls::variables_set() {
        env.set(name, value);
    }

    for (name, value) in config
        .command
        .environment
        .iter()
        .chain(&config.extra_environment)
    {
        env.set(name.as_str(), value.as_str());
    }
    env.0
}

/// A process started by [`launch`]. Whoever holds it must reap it (the containerizer does).
#[derive(Debug)]
pub struct LaunchedProcess {
    pub child: Child,
    pub run_as: RunAs,
    /// The container's log streams: once the process has ended, drain them before its end is
    /// reported, so that its files hold all it wrote.
    pub logs: crate::logger::LogStreams,
}

impl LaunchedProcess {
    /// The pid, which is also the process group id and session id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

fn validate_env(vars: &[(String, String)]) -> Result<(), LaunchError> {
    for (name, value) in vars {
        if name.is_empty() || name.contains('=') || name.contains('\0') || value.contains('\0') {
            return Err(LaunchError::InvalidCommand(format!(
                "invalid environment variable '{}'",
                name.escape_debug()
            )));
        }
    }
    Ok(())
}

fn chown_tree(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    let meta = std::fs::symlink_metadata(path)?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

fn describe(command: &CommandSpec) -> String {
    let value = command.value.as_deref().unwrap_or_default();
    if command.shell || command.arguments.is_empty() {
        value.to_string()
    } else {
        format!("{value} {:?}", command.arguments)
    }
}

/// What the `pre_exec` hook needs for a mount: absolute source and target as C strings and the
/// source's mount flags to keep.
fn prepare_mount(
    m: &ReadOnlyMount,
) -> Result<(std::ffi::CString, std::ffi::CString, libc::c_ulong), LaunchError> {
    let fail = |what: String| {
        LaunchError::Isolation(format!(
            "cannot mount '{}' read-only on '{}': {what}",
            m.source.display(),
            m.target.display()
        ))
    };
    if !m.target.is_dir() || !m.source.is_dir() {
        return Err(fail("not a directory".into()));
    }
    let keep = sys::mount_flags_to_keep(&m.source).map_err(|e| fail(e.to_string()))?;
    let c = |p: &Path| {
        let p = std::path::absolute(p).map_err(|e| fail(e.to_string()))?;
        std::ffi::CString::new(p.into_os_string().into_encoded_bytes())
            .map_err(|_| fail("the path has a NUL".into()))
    };
    Ok((c(&m.source)?, c(&m.target)?, keep))
}

/// Starts the container's process (synchronously: user lookup, sandbox files, fork and exec).
pub fn launch(config: &ContainerConfig) -> Result<LaunchedProcess, LaunchError> {
    let command = &config.command;
    let value = command
        .value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| LaunchError::InvalidCommand("the command has no value".to_string()))?;
    if value.contains('\0') || command.arguments.iter().any(|a| a.contains('\0')) {
        return Err(LaunchError::InvalidCommand(
            "the command contains a NUL byte".to_string(),
        ));
    }
    validate_env(&command.environment)?;
    validate_env(&config.extra_environment)?;

    let run_as = resolve_user(command.user.as_deref())?;
    let env = environment(config, &run_as);

    let sandbox = &config.sandbox;
    let sandbox_err = |source| LaunchError::Sandbox {
        path: sandbox.clone(),
        source,
    };
    if !sandbox.is_dir() {
        return Err(sandbox_err(io::Error::from(io::ErrorKind::NotFound)));
    }
    let owner = run_as.switch.as_ref().map(|s| (s.uid, s.gid));
    let outputs = crate::logger::open(&config.logger, sandbox, owner).map_err(sandbox_err)?;
    if let Some(switch) = &run_as.switch {
        chown_tree(sandbox, switch.uid, switch.gid).map_err(sandbox_err)?;
    }

    let mut cmd = if command.shell {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg0("sh").arg("-c").arg(value);
        cmd
    } else {
        let mut cmd = Command::new(value);
        if let Some((argv0, rest)) = command.arguments.split_first() {
            cmd.arg0(argv0).args(rest);
        }
        cmd
    };
    cmd.current_dir(sandbox)
        .env_clear()
        .envs(
            env.iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v))),
        )
        .stdin(Stdio::null())
        .stdout(outputs.stdout)
        .stderr(outputs.stderr);

    let switch = run_as.switch.clone();
    let cgroups = config
        .cgroups
        .iter()
        .map(|p| {
            std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).map_err(|_| {
                LaunchError::InvalidConfig(format!("cgroup path {} has a NUL", p.display()))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mounts = config
        .mounts
        .iter()
        .map(prepare_mount)
        .collect::<Result<Vec<_>, _>>()?;
    // SAFETY: the hook runs in the forked child before exec; it only makes async-signal-safe
    // system calls on data prepared before the fork (no allocation, no locks).
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() == -1 {
                return Err(io::Error::last_os_error());
            }
            // read-only volumes: a mount namespace of its own, while still root
            if !mounts.is_empty() {
                sys::unshare_mount_namespace()?;
                for (source, target, keep) in &mounts {
                    sys::bind_mount_read_only(source, target, *keep)?;
                }
            }
            // join the container's cgroups: writing 0 to cgroup.procs moves the writer
            for path in &cgroups {
                let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd == -1 {
                    return Err(io::Error::last_os_error());
                }
                let ok = libc::write(fd, b"0".as_ptr().cast(), 1) == 1;
                let err = io::Error::last_os_error();
                libc::close(fd);
                if !ok {
                    return Err(err);
                }
            }
            if let Some(switch) = &switch
                && (libc::setgroups(switch.groups.len(), switch.groups.as_ptr()) == -1
                    || libc::setgid(switch.gid) == -1
                    || libc::setuid(switch.uid) == -1)
            {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }

    let child = cmd.spawn().map_err(|source| LaunchError::Spawn {
        command: describe(command),
        source,
    })?;
    tracing::debug!(
        container = %config.container_id,
        pid = child.id(),
        user = %run_as.name,
        command = %describe(command),
        "launched container process"
    );
    // `cmd` holds the pipes' write ends: only the child may keep them, or the log streams
    // never reach end of file
    drop(cmd);
    Ok(LaunchedProcess {
        child,
        run_as,
        logs: outputs.streams,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ContainerConfig {
        ContainerConfig {
            container_id: "c1".into(),
            agent_id: "agent-1".into(),
            framework_id: "fw-1".into(),
            executor_id: "exec-1".into(),
            task_id: Some("task-1".into()),
            command: CommandSpec::shell("true"),
            sandbox: PathBuf::from("/sandbox"),
            agent_endpoint: Some("127.0.0.1:5051".into()),
            grace_period: Duration::from_secs(5),
            extra_environment: vec![],
            resources: Vec::new(),
            cgroups: Vec::new(),
            mounts: Vec::new(),
            checkpoint: None,
            supervisor: None,
            logger: crate::logger::ContainerLogger::Sandbox,
        }
    }

    fn get<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
        env.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn durations_print_like_mesos() {
        assert_eq!(format_duration(Duration::from_secs(5)), "5secs");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5secs");
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_duration(Duration::from_secs(90)), "1.5mins");
        assert_eq!(format_duration(Duration::from_secs(7200)), "2hrs");
        assert_eq!(format_duration(Duration::from_nanos(0)), "0ns");
    }

    #[test]
    fn environment_layers_in_order() {
        let mut config = config();
        config.command.environment = vec![
            ("FOO".into(), "task".into()),
            ("MESOS_CHECKPOINT".into(), "task-wins".into()),
            ("BAR".into(), "task".into()),
        ];
        config.extra_environment = vec![("BAR".into(), "hook".into())];
        let run_as = RunAs {
            name: "alice".into(),
            home: "/home/alice".into(),
            switch: None,
        };
        let env = environment(&config, &run_as);
        assert_eq!(get(&env, "MESOS_SANDBOX"), Some("/sandbox"));
        assert_eq!(get(&env, "MESOS_DIRECTORY"), Some("/sandbox"));
        assert_eq!(get(&env, "MESOS_FRAMEWORK_ID"), Some("fw-1"));
        assert_eq!(get(&env, "MESOS_EXECUTOR_ID"), Some("exec-1"));
        assert_eq!(get(&env, "MESOS_SLAVE_ID"), Some("agent-1"));
        assert_eq!(get(&env, "MESOS_AGENT_ID"), Some("agent-1"));
        assert_eq!(get(&env, "MESOS_AGENT_ENDPOINT"), Some("127.0.0.1:5051"));
        assert_eq!(
            get(&env, "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"),
            Some("5secs")
        );
        assert_eq!(get(&env, "MESOS_TASK_ID"), Some("task-1"));
        assert_eq!(get(&env, "USER"), Some("alice"));
        assert_eq!(get(&env, "LOGNAME"), Some("alice"));
        assert_eq!(get(&env, "HOME"), Some("/home/alice"));
        assert!(get(&env, "PATH").is_some());
        assert_eq!(get(&env, "FOO"), Some("task"));
        assert_eq!(get(&env, "MESOS_CHECKPOINT"), Some("task-wins"));
        assert_eq!(get(&env, "BAR"), Some("hook"));
        let names: Vec<_> = env.iter().map(|(n, _)| n.as_str()).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(names.len(), unique.len(), "no duplicates: {names:?}");
    }

    #[test]
    fn executors_get_no_task_id_and_no_endpoint_when_unset() {
        let mut config = config();
        config.task_id = None;
        config.agent_endpoint = None;
        let env = environment(&config, &current_user());
        assert_eq!(get(&env, "MESOS_TASK_ID"), None);
        assert_eq!(get(&env, "MESOS_AGENT_ENDPOINT"), None);
    }

    #[test]
    fn users() {
        let me = resolve_user(None).unwrap();
        assert!(me.switch.is_none());
        let same = resolve_user(Some(&me.name)).unwrap();
        assert!(same.switch.is_none());
        assert!(matches!(
            resolve_user(Some("no-such-user-meseta-xyz")),
            Err(LaunchError::UnknownUser(_))
        ));
    }
}
