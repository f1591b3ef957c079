//! Containers: launched processes the agent can wait on and kill, and the task state their end
//! maps to.
//!
//! Each container's process group leader is watched by a small dedicated thread that waits for
//! it to exit *without reaping it* (`waitid(WNOWAIT)`), then SIGKILLs whatever is left in the
//! process group (as Mesos' POSIX launcher destroys the container once its executor is gone),
//! then reaps the leader. While the leader is unreaped its pid, and so the group id, cannot be
//! recycled, so no signal ever reaches a stranger. Nothing is left as a zombie by the agent;
//! orphaned grandchildren are reparented to init, which reaps them.
//!
//! A kill sends SIGTERM to the whole group, and SIGKILL to the group once the grace period has
//! passed, unless the container is already gone. Processes that leave the group (a new session
//! or `setpgid`) escape both; they are still in the container's own cgroup, which is destroyed
//! (everything in it SIGKILLed) once the container has ended (see [`crate::tracking`]).
//!
//! The API is async over tokio: the runtime must have the time driver enabled (`enable_all`).

use std::collections::HashMap;
use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::process::Child;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::watch;

use std::path::PathBuf;

use crate::checkpoint::{PidRecord, run_files};
use crate::isolation::{ContainerInfo, Isolation};
use crate::launcher::{self, ContainerConfig, LaunchError};
use crate::sys;
use crate::tracking::ProcessTracker;
use meseta_types::isolation::{Limitation, LimitationReason};

/// Mesos' task states, as the wire types define them.
pub use meseta_api::common::TaskState;

/// How a container's main process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// It exited with this code.
    Exited(i32),
    /// A signal (this number) terminated it.
    Signaled(i32),
    /// The status could not be collected (the process was reaped behind our back).
    Unknown,
}

impl ExitStatus {
    pub fn success(self) -> bool {
        self == ExitStatus::Exited(0)
    }

    pub(crate) fn from_std(status: std::process::ExitStatus) -> Self {
        match (status.code(), status.signal()) {
            (Some(code), _) => ExitStatus::Exited(code),
            (None, Some(signal)) => ExitStatus::Signaled(signal),
            (None, None) => ExitStatus::Unknown,
        }
    }
}

/// Mesos' `WSTRINGIFY`: `exited with status 3`, `terminated with signal Killed`.
impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitStatus::Exited(code) => write!(f, "exited with status {code}"),
            ExitStatus::Signaled(signal) => {
                write!(f, "terminated with signal {}", signal_name(*signal))
            }
            ExitStatus::Unknown => f.write_str("terminated with an unknown status"),
        }
    }
}

/// The description `strsignal(3)` gives a signal on Linux (`Killed`, `Terminated`, ...).
pub fn signal_name(signal: i32) -> String {
    let name = match signal {
        libc::SIGHUP => "Hangup",
        libc::SIGINT => "Interrupt",
        libc::SIGQUIT => "Quit",
        libc::SIGILL => "Illegal instruction",
        libc::SIGTRAP => "Trace/breakpoint trap",
        libc::SIGABRT => "Aborted",
        libc::SIGBUS => "Bus error",
        libc::SIGFPE => "Floating point exception",
        libc::SIGKILL => "Killed",
        libc::SIGUSR1 => "User defined signal 1",
        libc::SIGSEGV => "Segmentation fault",
        libc::SIGUSR2 => "User defined signal 2",
        libc::SIGPIPE => "Broken pipe",
        libc::SIGALRM => "Alarm clock",
        libc::SIGTERM => "Terminated",
        libc::SIGSTKFLT => "Stack fault",
        libc::SIGCHLD => "Child exited",
        libc::SIGCONT => "Continued",
        libc::SIGSTOP => "Stopped (signal)",
        libc::SIGTSTP => "Stopped",
        libc::SIGTTIN => "Stopped (tty input)",
        libc::SIGTTOU => "Stopped (tty output)",
        libc::SIGURG => "Urgent I/O condition",
        libc::SIGXCPU => "CPU time limit exceeded",
        libc::SIGXFSZ => "File size limit exceeded",
        libc::SIGVTALRM => "Virtual timer expired",
        libc::SIGPROF => "Profiling timer expired",
        libc::SIGWINCH => "Window changed",
        libc::SIGIO => "I/O possible",
        libc::SIGPWR => "Power failure",
        libc::SIGSYS => "Bad system call",
        s if (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&s) => {
            return format!("Real-time signal {}", s - libc::SIGRTMIN());
        }
        s => return format!("Unknown signal {s}"),
    };
    name.to_string()
}

/// How and why a container ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Termination {
    pub status: ExitStatus,
    /// Whether the agent asked for the kill (before the process exited).
    pub killed: bool,
    /// The reason given to [`ContainerHandle::kill_with_reason`], if any.
    pub reason: Option<String>,
    /// The limit an isolator saw the container hit (it was then destroyed).
    pub limitation: Option<Limitation>,
}

impl Termination {
    /// The task state this end maps to, as Mesos' command executor decides: a zero exit is
    /// `TASK_FINISHED` (even after a kill, when the task shut down cleanly); otherwise a kill we
    /// asked for is `TASK_KILLED`, and anything else `TASK_FAILED`.
    pub fn task_state(&self) -> TaskState {
        if self.limitation.is_some() {
            TaskState::Failed
        } else if self.status.success() {
            TaskState::Finished
        } else if self.killed {
            TaskState::Killed
        } else {
            TaskState::Failed
        }
    }

    /// The status message: `Command exited with status 3`,
    /// `Command terminated with signal Killed`.
    pub fn message(&self) -> String {
        match &self.limitation {
            Some(l) => l.message.clone(),
            None => format!("Command {}", self.status),
        }
    }

    /// Mesos' reason for a container an isolator limited.
    pub fn reason(&self) -> Option<meseta_api::common::Reason> {
        use meseta_api::common::Reason;
        self.limitation.as_ref().map(|l| match l.reason {
            LimitationReason::Memory => Reason::ContainerLimitationMemory,
            LimitationReason::Disk => Reason::ContainerLimitationDisk,
            LimitationReason::Cpu | LimitationReason::Other => Reason::ContainerLimitation,
        })
    }
}

/// The part of a container's state the kill path and the reaper thread share.
#[derive(Debug, Default)]
struct ProcState {
    reaped: bool,
    killed: bool,
    kill_reason: Option<String>,
    limitation: Option<Limitation>,
}

fn lock(state: &Mutex<ProcState>) -> MutexGuard<'_, ProcState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A container run under a supervisor process (see [`crate::supervisor`]).
#[derive(Clone, Debug)]
struct Supervised {
    supervisor: PidRecord,
    run_dir: PathBuf,
}

#[derive(Debug)]
struct Inner {
    container_id: String,
    pid: u32,
    supervised: Option<Supervised>,
    grace_period: Duration,
    state: Arc<Mutex<ProcState>>,
    termination: watch::Receiver<Option<Termination>>,
}

/// A launched container. Cheap to clone; every clone sees the same container.
#[derive(Clone, Debug)]
pub struct ContainerHandle {
    inner: Arc<Inner>,
}

impl ContainerHandle {
    pub fn container_id(&self) -> &str {
        &self.inner.container_id
    }

    /// The main process's pid, which is also its process group and session id.
    pub fn pid(&self) -> u32 {
        self.inner.pid
    }

    /// The supervisor's pid, for a container run under one.
    pub fn supervisor_pid(&self) -> Option<u32> {
        self.inner.supervised.as_ref().map(|s| s.supervisor.pid)
    }

    /// Whether the main process has ended (for a supervised container: its supervisor).
    fn has_ended(&self) -> bool {
        match &self.inner.supervised {
            Some(s) => !s.supervisor.is_alive(),
            None => sys::has_exited(self.inner.pid),
        }
    }

    /// The grace period from the container's config.
    pub fn grace_period(&self) -> Duration {
        self.inner.grace_period
    }

    /// The termination, if the container has ended.
    pub fn try_wait(&self) -> Option<Termination> {
        self.inner.termination.borrow().clone()
    }

    /// Waits for the container to end (its main process exited and was reaped, and the rest of
    /// its process group was killed).
    pub async fn wait(&self) -> Termination {
        let mut rx = self.inner.termination.clone();
        let result = rx.wait_for(Option::is_some).await.map(|t| t.clone());
        match result {
            Ok(Some(termination)) => termination,
            // The reaper always sends before it ends; if it could not, the status is lost.
            _ => Termination {
                status: ExitStatus::Unknown,
                killed: lock(&self.inner.state).killed,
                reason: None,
                limitation: None,
            },
        }
    }

    /// Kills the container: SIGTERM to its process group, then SIGKILL to the group if it is
    /// still there after `grace` (a zero grace sends SIGKILL at once). Returns once it has ended.
    /// On a container that has already ended this is a no-op that returns its termination.
    pub async fn kill(&self, grace: Duration) -> Termination {
        self.kill_inner(grace, None).await
    }

    /// [`kill`](Self::kill), recording `reason` in the [`Termination`] (the first reason wins).
    pub async fn kill_with_reason(
        &self,
        grace: Duration,
        reason: impl Into<String>,
    ) -> Termination {
        self.kill_inner(grace, Some(reason.into())).await
    }

    /// Destroys the container at once (SIGKILL) because an isolator saw it hit a limit.
    pub async fn limit(&self, limitation: Limitation) -> Termination {
        {
            let mut state = lock(&self.inner.state);
            if state.limitation.is_none() {
                state.limitation = Some(limitation);
            }
        }
        self.kill_inner(Duration::ZERO, None).await
    }

    /// Kills the container with the grace period from its config.
    pub async fn shutdown(&self) -> Termination {
        self.kill(self.inner.grace_period).await
    }

    /// Sends `signal` to the group unless the leader has exited. Whether it was sent.
    fn signal_if_alive(&self, signal: libc::c_int, mark_killed: Option<Option<String>>) -> bool {
        let pid = self.inner.pid;
        let mut state = lock(&self.inner.state);
        // Reaped means the pid may be reused; exited-but-unreaped means the reaper is about to
        // clean up. Either way the container has ended on its own: nothing to do.
        if state.reaped || self.has_ended() {
            return false;
        }
        if let Some(reason) = mark_killed
            && !state.killed
        {
            state.killed = true;
            state.kill_reason = reason;
            // a restarted agent must know the kill was asked for (TASK_KILLED, not FAILED)
            if let Some(s) = &self.inner.supervised
                && let Err(e) = crate::checkpoint::write_atomic(&run_files::killed(&s.run_dir), b"")
            {
                tracing::warn!(container = %self.inner.container_id, error = %e,
                    "cannot checkpoint the kill");
            }
        }
        if let Err(e) = sys::signal_group(pid, signal) {
            tracing::warn!(container = %self.inner.container_id, pid, signal, error = %e,
                "cannot signal the container's process group");
        }
        true
    }

    async fn kill_inner(&self, grace: Duration, reason: Option<String>) -> Termination {
        let first = if grace.is_zero() {
            libc::SIGKILL
        } else {
            libc::SIGTERM
        };
        let sent = self.signal_if_alive(first, Some(reason));
        if sent {
            tracing::debug!(container = %self.inner.container_id, pid = self.inner.pid,
                grace = ?grace, "killing container");
        }
        if sent && !grace.is_zero() {
            if let Ok(termination) = tokio::time::timeout(grace, self.wait()).await {
                return termination;
            }
            if self.signal_if_alive(libc::SIGKILL, None) {
                tracing::debug!(container = %self.inner.container_id, pid = self.inner.pid,
                    "grace period over, sent SIGKILL");
            }
        }
        self.wait().await
    }
}

type Registry = Mutex<HashMap<String, ContainerHandle>>;

fn registry(map: &Registry) -> MutexGuard<'_, HashMap<String, ContainerHandle>> {
    map.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Launches containers and tracks the running ones by container id.
#[derive(Clone, Debug, Default)]
pub struct Containerizer {
    running: Arc<Registry>,
    /// Set by [`Containerizer::shutdown_all`]: no container starts after it.
    closed: Arc<std::sync::atomic::AtomicBool>,
    isolation: Option<Arc<Isolation>>,
    /// Each container's own cgroup, whose processes die with it (see [`crate::tracking`]).
    tracker: Arc<ProcessTracker>,
}

impl Containerizer {
    pub fn new() -> Self {
        Containerizer::default()
    }

    /// A containerizer that runs every container under `isolation`'s isolators.
    pub fn with_isolation(isolation: Arc<Isolation>) -> Self {
        Containerizer {
            isolation: (!isolation.is_empty()).then_some(isolation),
            ..Containerizer::default()
        }
    }

    pub fn isolation(&self) -> Option<&Arc<Isolation>> {
        self.isolation.as_ref()
    }

    /// Tracks the containers' processes with `tracker` (by default: cgroups under `meseta`
    /// where the machine has them).
    pub fn with_tracker(mut self, tracker: ProcessTracker) -> Self {
        self.tracker = Arc::new(tracker);
        self
    }

    pub fn tracker(&self) -> &ProcessTracker {
        &self.tracker
    }

    /// Launches the container's process (see [`launcher::launch`]) and starts watching it.
    ///
    /// The container id must be a valid id and not belong to a running container. The sandbox
    /// must exist.
    pub async fn launch(&self, config: ContainerConfig) -> Result<ContainerHandle, LaunchError> {
        crate::sandbox::validate_id("container id", &config.container_id)
            .map_err(|e| LaunchError::InvalidConfig(e.to_string()))?;
        if registry(&self.running).contains_key(&config.container_id) {
            return Err(LaunchError::DuplicateContainer(config.container_id));
        }
        use std::sync::atomic::Ordering;
        if self.closed.load(Ordering::SeqCst) {
            return Err(LaunchError::ShuttingDown);
        }
        let running = Arc::downgrade(&self.running);
        let isolation = self.isolation.clone();
        let tracker = Arc::clone(&self.tracker);
        let handle = tokio::task::spawn_blocking(move || {
            launch_isolated(config, running, isolation, tracker)
        })
        .await
        .map_err(|e| LaunchError::Spawn {
            command: "container".to_string(),
            source: std::io::Error::other(e.to_string()),
        })??;
        if let Some(isolation) = &self.isolation {
            tokio::spawn(watch(Arc::clone(isolation), handle.clone()));
        }
        // The container is registered now: either `shutdown_all` (which closes first, then
        // looks at the registry) sees it, or it closed before and this launch undoes itself.
        if self.closed.load(Ordering::SeqCst) {
            handle.shutdown().await;
            return Err(LaunchError::ShuttingDown);
        }
        Ok(handle)
    }

    /// Adopts a container a previous agent started under a supervisor that still runs
    /// (`supervisor`, checked against pid reuse by its start time): waits for the supervisor
    /// with `pidfd_open` (this agent is not its parent), then reads the termination it
    /// checkpointed in `run_dir`. `task_pid` is the container's process group; `killed` says
    /// whether the previous agent had asked for a kill. A supervisor already gone gives a
    /// handle that has ended.
    pub fn recover(
        &self,
        container_id: &str,
        supervisor: PidRecord,
        task_pid: u32,
        run_dir: PathBuf,
        grace_period: Duration,
        killed: bool,
    ) -> ContainerHandle {
        let state = Arc::new(Mutex::new(ProcState {
            killed,
            ..ProcState::default()
        }));
        let (tx, rx) = watch::channel(None);
        let handle = ContainerHandle {
            inner: Arc::new(Inner {
                container_id: container_id.to_string(),
                pid: task_pid,
                supervised: Some(Supervised {
                    supervisor,
                    run_dir: run_dir.clone(),
                }),
                grace_period,
                state: Arc::clone(&state),
                termination: rx,
            }),
        };
        registry(&self.running).insert(container_id.to_string(), handle.clone());
        let running = Arc::downgrade(&self.running);
        let isolation = self.isolation.clone();
        let tracker = Arc::clone(&self.tracker);
        let id = container_id.to_string();
        let watcher = move || {
            sys::wait_gone(supervisor.pid, || supervisor.is_alive());
            let status =
                crate::supervisor::read_termination(&run_dir).unwrap_or(ExitStatus::Unknown);
            finish(
                &id,
                task_pid,
                status,
                &state,
                &tx,
                &running,
                isolation.as_deref(),
                &tracker,
            );
        };
        if let Err(e) = std::thread::Builder::new()
            .name("meseta-reaper".to_string())
            .stack_size(128 * 1024)
            .spawn(watcher)
        {
            tracing::warn!(container = %container_id, error = %e, "cannot watch a recovered container");
        }
        if let Some(isolation) = &self.isolation
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(watch(Arc::clone(isolation), handle.clone()));
        }
        handle
    }

    /// The running container with this id.
    pub fn get(&self, container_id: &str) -> Option<ContainerHandle> {
        registry(&self.running).get(container_id).cloned()
    }

    /// The ids of the running containers, sorted.
    pub fn container_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = registry(&self.running).keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Kills a running container (see [`ContainerHandle::kill`]); `None` if there is none.
    pub async fn kill(&self, container_id: &str, grace: Duration) -> Option<Termination> {
        let handle = self.get(container_id)?;
        Some(handle.kill(grace).await)
    }

    /// Kills every running container, each with its own grace period, and waits for them all.
    /// Refuses every later launch; a launch in flight kills its container when it completes.
    pub fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// No container launches after this is called; one being launched meanwhile is killed.
    pub async fn shutdown_all(&self) -> Vec<(String, Termination)> {
        self.shutdown_except(&std::collections::HashSet::new())
            .await
    }

    /// [`Containerizer::shutdown_all`], leaving the containers `keep` names running.
    pub async fn shutdown_except(
        &self,
        keep: &std::collections::HashSet<String>,
    ) -> Vec<(String, Termination)> {
        self.close();
        let handles: Vec<ContainerHandle> = registry(&self.running)
            .values()
            .filter(|h| !keep.contains(h.container_id()))
            .cloned()
            .collect();
        let mut tasks = Vec::with_capacity(handles.len());
        for handle in handles {
            tasks.push(tokio::spawn(async move {
                let termination = handle.shutdown().await;
                (handle.container_id().to_string(), termination)
            }));
        }
        let mut out = Vec::with_capacity(tasks.len());
        for task in tasks {
            if let Ok(result) = task.await {
                out.push(result);
            }
        }
        out
    }
}

/// Polls the isolators of a running container; a limitation destroys it.
async fn watch(isolation: Arc<Isolation>, handle: ContainerHandle) {
    let every = isolation.watch_interval();
    loop {
        if tokio::time::timeout(every, handle.wait()).await.is_ok() {
            return;
        }
        let iso = Arc::clone(&isolation);
        let id = handle.container_id().to_string();
        let found = tokio::task::spawn_blocking(move || iso.watch(&id)).await;
        if let Ok(Some(limitation)) = found {
            handle.limit(limitation).await;
            return;
        }
    }
}

/// Prepares the container's isolators, launches it inside its cgroups and isolates it;
/// undoes the isolators' work when the launch fails.
fn launch_isolated(
    mut config: ContainerConfig,
    running: Weak<Registry>,
    isolation: Option<Arc<Isolation>>,
    tracker: Arc<ProcessTracker>,
) -> Result<ContainerHandle, LaunchError> {
    let Some(isolation) = isolation else {
        return launch_tracked(config, running, None, tracker);
    };
    let id = config.container_id.clone();
    let info = ContainerInfo {
        framework_id: config.framework_id.clone(),
        executor_id: config.executor_id.clone(),
        resources: config.resources.clone(),
        user: config.command.user.clone(),
        sandbox: config.sandbox.clone(),
    };
    let prepared = isolation
        .prepare(&id, info)
        .map_err(LaunchError::Isolation)?;
    config.extra_environment.extend(prepared.environment);
    config.cgroups = prepared.cgroups;
    let handle = match launch_tracked(config, running, Some(Arc::clone(&isolation)), tracker) {
        Ok(handle) => handle,
        Err(e) => {
            isolation.cleanup(&id);
            return Err(e);
        }
    };
    if let Err(e) = isolation.isolate(&id, handle.pid()) {
        // the reaper cleans the isolators up once the process is gone
        let _ = handle.signal_if_alive(libc::SIGKILL, Some(None));
        return Err(LaunchError::Isolation(e));
    }
    Ok(handle)
}

/// Creates the container's own cgroup (see [`crate::tracking`]) for its process to join, then
/// launches it; removes the cgroup again when the launch fails.
fn launch_tracked(
    mut config: ContainerConfig,
    running: Weak<Registry>,
    isolation: Option<Arc<Isolation>>,
    tracker: Arc<ProcessTracker>,
) -> Result<ContainerHandle, LaunchError> {
    let id = config.container_id.clone();
    let procs = tracker
        .prepare(&id)
        .map_err(|e| LaunchError::Tracking(e.to_string()))?;
    config.cgroups.extend(procs);
    let launched = launch_blocking(config, running, isolation, Arc::clone(&tracker));
    if launched.is_err() {
        tracker.destroy(&id);
    }
    launched
}

fn launch_blocking(
    config: ContainerConfig,
    running: Weak<Registry>,
    isolation: Option<Arc<Isolation>>,
    tracker: Arc<ProcessTracker>,
) -> Result<ContainerHandle, LaunchError> {
    if config.supervisor.is_some() {
        return launch_supervised(config, running, isolation, tracker);
    }
    let state = Arc::new(Mutex::new(ProcState::default()));
    let (tx, rx) = watch::channel(None);

    // Start the reaper first: if no thread can be had, nothing has been launched yet.
    let (child_tx, child_rx) =
        std::sync::mpsc::channel::<(Child, String, crate::logger::LogStreams)>();
    let reaper_state = Arc::clone(&state);
    let reaper_running = running.clone();
    std::thread::Builder::new()
        .name("meseta-reaper".to_string())
        .stack_size(128 * 1024)
        .spawn(move || {
            // A closed channel means the launch failed: nothing to watch.
            if let Ok((child, container_id, logs)) = child_rx.recv() {
                reap(
                    child,
                    &container_id,
                    logs,
                    &reaper_state,
                    &tx,
                    &reaper_running,
                    isolation.as_deref(),
                    &tracker,
                );
            }
        })
        .map_err(|source| LaunchError::Spawn {
            command: "the reaper thread".to_string(),
            source,
        })?;

    let process = launcher::launch(&config)?;
    let pid = process.pid();
    let handle = ContainerHandle {
        inner: Arc::new(Inner {
            container_id: config.container_id.clone(),
            pid,
            supervised: None,
            grace_period: config.grace_period,
            state,
            termination: rx,
        }),
    };

    // Register before the reaper can finish, so that its removal finds the entry.
    if let Some(map) = running.upgrade() {
        let mut map = registry(&map);
        if map.contains_key(&config.container_id) {
            drop(map);
            destroy_now(process.child, pid);
            return Err(LaunchError::DuplicateContainer(config.container_id));
        }
        map.insert(config.container_id.clone(), handle.clone());
    }

    if let Err(std::sync::mpsc::SendError((child, container_id, _))) =
        child_tx.send((process.child, config.container_id, process.logs))
    {
        // The reaper thread is gone (it cannot be, short of a panic): clean up here.
        if let Some(map) = running.upgrade() {
            registry(&map).remove(&container_id);
        }
        destroy_now(child, pid);
        return Err(LaunchError::Spawn {
            command: "the reaper thread".to_string(),
            source: std::io::Error::other("the reaper thread ended early"),
        });
    }
    Ok(handle)
}

/// Starts the container under a supervisor (see [`crate::supervisor`]): checkpoints what to
/// launch, starts `<binary> supervise`, learns the container's pid from it, and watches the
/// supervisor (this agent is its parent, so a thread reaps it); the container's end is what
/// the supervisor checkpointed.
fn launch_supervised(
    config: ContainerConfig,
    running: Weak<Registry>,
    isolation: Option<Arc<Isolation>>,
    tracker: Arc<ProcessTracker>,
) -> Result<ContainerHandle, LaunchError> {
    use std::process::{Command, Stdio};
    let Some(supervision) = config.supervisor.clone() else {
        return Err(LaunchError::InvalidConfig("no supervisor".into()));
    };
    let run_dir = supervision.run_dir.clone();
    let supervisor_err = |message: String| LaunchError::Supervisor(message);
    let spec = crate::supervisor::LaunchSpec::from_config(&config);
    crate::checkpoint::write_json(&run_files::launch(&run_dir), &spec)
        .map_err(|e| supervisor_err(e.to_string()))?;
    let _ = std::fs::remove_file(run_files::termination(&run_dir));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(run_files::supervisor_log(&run_dir))
        .map_err(|e| supervisor_err(format!("cannot open the supervisor's log: {e}")))?;
    let mut command = Command::new(&supervision.binary);
    command
        .arg("supervise")
        .arg("--run_dir")
        .arg(&run_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .stdin(if supervision.exit_with_agent {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    if supervision.exit_with_agent {
        command.arg("--exit_with_agent");
    }
    let mut child = command.spawn().map_err(|source| LaunchError::Spawn {
        command: format!("{} supervise", supervision.binary.display()),
        source,
    })?;
    let supervisor_pid = child.id();
    let started = match child.stdout.take() {
        Some(stdout) => crate::supervisor::read_started(stdout),
        None => Err("no pipe to the supervisor".to_string()),
    };
    let task_pid = match started {
        Ok(pid) => pid,
        Err(message) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(supervisor_err(message));
        }
    };
    let Some(supervisor) = PidRecord::of(supervisor_pid) else {
        // it has already exited (the container ended at once): its zombie has no start time
        // to read, but this agent is its parent, so the pid cannot be reused before we reap.
        return Ok(finish_supervised_now(
            config, child, task_pid, running, isolation, &tracker,
        ));
    };
    if let Err(e) = crate::checkpoint::write_atomic(
        &run_files::forked_pid(&run_dir),
        supervisor.to_text().as_bytes(),
    ) {
        tracing::warn!(container = %config.container_id, error = %e, "cannot checkpoint the supervisor's pid");
    }
    let state = Arc::new(Mutex::new(ProcState::default()));
    let (tx, rx) = watch::channel(None);
    let handle = ContainerHandle {
        inner: Arc::new(Inner {
            container_id: config.container_id.clone(),
            pid: task_pid,
            supervised: Some(Supervised {
                supervisor,
                run_dir: run_dir.clone(),
            }),
            grace_period: config.grace_period,
            state: Arc::clone(&state),
            termination: rx,
        }),
    };
    if let Some(map) = running.upgrade() {
        registry(&map).insert(config.container_id.clone(), handle.clone());
    }
    let id = config.container_id.clone();
    // The reaper holds the supervisor's stdin: with --exit_with_agent it reads end of file
    // only when this process is gone.
    let reaper = move || {
        let _stdin = child.stdin.take();
        let _ = child.wait();
        let status = crate::supervisor::read_termination(&run_dir).unwrap_or(ExitStatus::Unknown);
        if supervision.exit_with_agent {
            // nothing of it is recovered: its files go with it
            let _ = std::fs::remove_dir_all(&run_dir);
        }
        finish(
            &id,
            task_pid,
            status,
            &state,
            &tx,
            &running,
            isolation.as_deref(),
            &tracker,
        );
    };
    std::thread::Builder::new()
        .name("meseta-reaper".to_string())
        .stack_size(128 * 1024)
        .spawn(reaper)
        .map_err(|source| LaunchError::Spawn {
            command: "the reaper thread".to_string(),
            source,
        })?;
    Ok(handle)
}

/// A supervised container that ended before its supervisor could be looked at.
fn finish_supervised_now(
    config: ContainerConfig,
    mut child: Child,
    task_pid: u32,
    running: Weak<Registry>,
    isolation: Option<Arc<Isolation>>,
    tracker: &ProcessTracker,
) -> ContainerHandle {
    let run_dir = config
        .supervisor
        .as_ref()
        .map(|s| s.run_dir.clone())
        .unwrap_or_default();
    let _ = child.wait();
    let state = Arc::new(Mutex::new(ProcState::default()));
    let (tx, rx) = watch::channel(None);
    let status = crate::supervisor::read_termination(&run_dir).unwrap_or(ExitStatus::Unknown);
    let handle = ContainerHandle {
        inner: Arc::new(Inner {
            container_id: config.container_id.clone(),
            pid: task_pid,
            supervised: Some(Supervised {
                supervisor: PidRecord {
                    pid: child.id(),
                    start_time: 0,
                },
                run_dir,
            }),
            grace_period: config.grace_period,
            state: Arc::clone(&state),
            termination: rx,
        }),
    };
    finish(
        &config.container_id,
        task_pid,
        status,
        &state,
        &tx,
        &running,
        isolation.as_deref(),
        tracker,
    );
    handle
}

/// Publishes a container's end (supervised, or reaped by [`reap`]): marks it reaped, kills
/// whatever is left in its cgroup (processes that left its session), asks the isolators once
/// more (the kernel may have killed the process for a limit, an OOM kill, before the watcher
/// looked), cleans them up in reverse order, forgets the container.
#[allow(clippy::too_many_arguments)]
fn finish(
    container_id: &str,
    pid: u32,
    status: ExitStatus,
    state: &Mutex<ProcState>,
    tx: &watch::Sender<Option<Termination>>,
    running: &Weak<Registry>,
    isolation: Option<&Isolation>,
    tracker: &ProcessTracker,
) {
    tracker.destroy(container_id);
    let mut termination = {
        let mut state = lock(state);
        state.reaped = true;
        Termination {
            status,
            killed: state.killed,
            reason: state.kill_reason.clone(),
            limitation: state.limitation.clone(),
        }
    };
    if let Some(isolation) = isolation {
        if termination.limitation.is_none() && !termination.status.success() {
            termination.limitation = isolation.watch(container_id);
        }
        isolation.cleanup(container_id);
    }
    tracing::debug!(container = %container_id, pid, status = %termination.status,
        killed = termination.killed, "container terminated");
    if let Some(map) = running.upgrade() {
        registry(&map).remove(container_id);
    }
    tx.send_replace(Some(termination));
}

/// Kills a just-launched process group and reaps the leader.
fn destroy_now(mut child: Child, pid: u32) {
    let _ = sys::signal_group(pid, libc::SIGKILL);
    let _ = child.wait();
}

/// The reaper thread's body: wait for the leader to exit (unreaped), kill what is left of its
/// group, reap it, publish the termination, forget the container.
#[allow(clippy::too_many_arguments)]
fn reap(
    mut child: Child,
    container_id: &str,
    logs: crate::logger::LogStreams,
    state: &Mutex<ProcState>,
    tx: &watch::Sender<Option<Termination>>,
    running: &Weak<Registry>,
    isolation: Option<&Isolation>,
    tracker: &ProcessTracker,
) {
    let pid = child.id();
    if let Err(e) = sys::wait_exited_unreaped(pid) {
        tracing::warn!(container = %container_id, pid, error = %e, "cannot wait for the container");
    }
    let status = {
        // held while reaping, and the container marked reaped before the lock goes, so that no
        // kill can signal a process group whose pid was reused
        let mut state = lock(state);
        match sys::signal_group(pid, libc::SIGKILL) {
            Ok(true) => tracing::debug!(container = %container_id, pid,
                "killed processes left in the container's process group"),
            Ok(false) => {}
            Err(e) => tracing::warn!(container = %container_id, pid, error = %e,
                "cannot clean up the container's process group"),
        }
        let status = match child.wait() {
            Ok(status) => ExitStatus::from_std(status),
            Err(e) => {
                tracing::warn!(container = %container_id, pid, error = %e,
                    "cannot collect the container's exit status");
                ExitStatus::Unknown
            }
        };
        state.reaped = true;
        status
    };
    // the end is reported once the container's output is in its files
    if !logs.drain(crate::logger::DRAIN_TIMEOUT) {
        tracing::debug!(container = %container_id,
            "a process outside the container still holds its output");
    }
    finish(
        container_id,
        pid,
        status,
        state,
        tx,
        running,
        isolation,
        tracker,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_messages_follow_the_command_executor() {
        let t = |status, killed| Termination {
            status,
            killed,
            reason: None,
            limitation: None,
        };
        assert_eq!(
            t(ExitStatus::Exited(0), false).task_state(),
            TaskState::Finished
        );
        assert_eq!(
            t(ExitStatus::Exited(0), true).task_state(),
            TaskState::Finished
        );
        assert_eq!(
            t(ExitStatus::Exited(3), false).task_state(),
            TaskState::Failed
        );
        assert_eq!(
            t(ExitStatus::Exited(3), true).task_state(),
            TaskState::Killed
        );
        assert_eq!(
            t(ExitStatus::Signaled(9), false).task_state(),
            TaskState::Failed
        );
        assert_eq!(
            t(ExitStatus::Signaled(15), true).task_state(),
            TaskState::Killed
        );
        assert_eq!(
            t(ExitStatus::Exited(3), false).message(),
            "Command exited with status 3"
        );
        assert_eq!(
            t(ExitStatus::Signaled(libc::SIGKILL), false).message(),
            "Command terminated with signal Killed"
        );
        assert_eq!(
            t(ExitStatus::Signaled(libc::SIGTERM), true).message(),
            "Command terminated with signal Terminated"
        );
        assert_eq!(TaskState::Killed.as_str(), "TASK_KILLED");
        assert!(TaskState::Finished.is_terminal());
        assert!(!TaskState::Running.is_terminal());
    }
}
