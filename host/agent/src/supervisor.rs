//! The supervisor: a small process between the agent and a container's process, so that the
//! container outlives the agent (Mesos runs a command executor process per task for this).
//!
//! The agent starts `<binary> supervise --run_dir <meta run dir> [--exit_with_agent]` (the
//! `meseta` binary's hidden subcommand calls [`main`]). The supervisor:
//! 1. starts a session of its own (`setsid`), so signals to the agent's group miss it;
//! 2. reads `launch.json` ([`LaunchSpec`]) from the run dir and starts the process exactly as
//!    the agent would ([`crate::launcher::launch`]: own session and process group, sandbox cwd,
//!    `stdout`/`stderr` files, user switch, cgroups joined before `exec`); with the logrotate
//!    container logger its threads drain and rotate the container's output, agent or not;
//! 3. checkpoints the process's pid and start time (`pids/task.pid`) and prints
//!    `started <pid>` on its stdout (a pipe the agent reads once), or `failed <message>`;
//! 4. waits for the process to exit (unreaped, so the process group id cannot be recycled),
//!    SIGKILLs what is left of the group, reaps it, drains the container's log streams (at most
//!    [`crate::logger::DRAIN_TIMEOUT`]), and checkpoints how it ended (`termination`, written
//!    via a rename) before it exits itself.
//!
//! With `--exit_with_agent` (tasks of frameworks that do not checkpoint) the supervisor also
//! reads its stdin, a pipe whose write end only the agent holds: end of file means the agent
//! is gone, and the process group is SIGKILLed, as Mesos' executors of non-checkpointing
//! frameworks exit when their agent does.
//!
//! The agent that started a supervisor reaps it; an agent that recovered it waits for it with
//! `pidfd_open` (see [`crate::Containerizer::recover`]).

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, PidRecord, TerminationRecord, run_files};
use crate::containerizer::ExitStatus;
use crate::launcher::{self, CommandSpec, ContainerConfig};
use crate::sys;

/// What the supervisor launches: [`ContainerConfig`] without what only the agent needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LaunchSpec {
    pub container_id: String,
    pub agent_id: String,
    pub framework_id: String,
    pub executor_id: String,
    pub task_id: Option<String>,
    pub shell: bool,
    pub value: Option<String>,
    pub arguments: Vec<String>,
    pub environment: Vec<(String, String)>,
    pub user: Option<String>,
    pub sandbox: PathBuf,
    pub agent_endpoint: Option<String>,
    pub grace_period_ms: u64,
    pub extra_environment: Vec<(String, String)>,
    pub cgroups: Vec<PathBuf>,
    /// Read-only volumes, mounted in the container's own mount namespace.
    #[serde(default)]
    pub mounts: Vec<launcher::ReadOnlyMount>,
    /// `Some(recovery timeout in ms)` for a checkpointing framework.
    pub checkpoint_ms: Option<u64>,
    /// The container logger; its threads run in the supervisor, so rotation goes on while the
    /// agent is down.
    #[serde(default)]
    pub logger: crate::logger::ContainerLogger,
}

impl LaunchSpec {
    pub fn from_config(c: &ContainerConfig) -> Self {
        LaunchSpec {
            container_id: c.container_id.clone(),
            agent_id: c.agent_id.clone(),
            framework_id: c.framework_id.clone(),
            executor_id: c.executor_id.clone(),
            task_id: c.task_id.clone(),
            shell: c.command.shell,
            value: c.command.value.clone(),
            arguments: c.command.arguments.clone(),
            environment: c.command.environment.clone(),
            user: c.command.user.clone(),
            sandbox: c.sandbox.clone(),
            agent_endpoint: c.agent_endpoint.clone(),
            grace_period_ms: u64::try_from(c.grace_period.as_millis()).unwrap_or(u64::MAX),
            extra_environment: c.extra_environment.clone(),
            cgroups: c.cgroups.clone(),
            mounts: c.mounts.clone(),
            checkpoint_ms: c
                .checkpoint
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            logger: c.logger,
        }
    }

    pub fn to_config(&self) -> ContainerConfig {
        ContainerConfig {
            container_id: self.container_id.clone(),
            agent_id: self.agent_id.clone(),
            framework_id: self.framework_id.clone(),
            executor_id: self.executor_id.clone(),
            task_id: self.task_id.clone(),
            command: CommandSpec {
                shell: self.shell,
                value: self.value.clone(),
                arguments: self.arguments.clone(),
                environment: self.environment.clone(),
                user: self.user.clone(),
            },
            sandbox: self.sandbox.clone(),
            agent_endpoint: self.agent_endpoint.clone(),
            grace_period: Duration::from_millis(self.grace_period_ms),
            extra_environment: self.extra_environment.clone(),
            resources: Vec::new(),
            cgroups: self.cgroups.clone(),
            mounts: self.mounts.clone(),
            checkpoint: self.checkpoint_ms.map(Duration::from_millis),
            supervisor: None,
            logger: self.logger,
        }
    }
}

/// How the agent runs a container under a supervisor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Supervision {
    /// The `meseta` binary (its `supervise` subcommand).
    pub binary: PathBuf,
    /// The run's checkpoint directory (`meta/.../runs/<cid>`).
    pub run_dir: PathBuf,
    /// The container dies with the agent (a framework that does not checkpoint).
    pub exit_with_agent: bool,
}

impl From<ExitStatus> for TerminationRecord {
    fn from(s: ExitStatus) -> Self {
        match s {
            ExitStatus::Exited(c) => TerminationRecord::Exited(c),
            ExitStatus::Signaled(s) => TerminationRecord::Signaled(s),
            ExitStatus::Unknown => TerminationRecord::Unknown,
        }
    }
}

impl From<TerminationRecord> for ExitStatus {
    fn from(s: TerminationRecord) -> Self {
        match s {
            TerminationRecord::Exited(c) => ExitStatus::Exited(c),
            TerminationRecord::Signaled(s) => ExitStatus::Signaled(s),
            TerminationRecord::Unknown => ExitStatus::Unknown,
        }
    }
}

/// Reads the termination a supervisor checkpointed in `run_dir`; `None` when it wrote none.
pub fn read_termination(run_dir: &Path) -> Option<ExitStatus> {
    let text = checkpoint::read_text(&run_files::termination(run_dir))
        .ok()
        .flatten()?;
    serde_json::from_str::<TerminationRecord>(&text)
        .ok()
        .map(ExitStatus::from)
}

/// The supervisor's whole life (the `supervise` subcommand): the process's exit code.
pub fn main(run_dir: &Path, exit_with_agent: bool) -> i32 {
    // A new session: the agent's process group and terminal signals do not reach it. Fails
    // only if it already leads a group, which is fine.
    sys::new_session();
    let mut out = std::io::stdout();
    let report_failure = |out: &mut std::io::Stdout, message: &str| {
        let _ = writeln!(out, "failed {}", message.replace('\n', " "));
        let _ = out.flush();
        1
    };
    let spec: LaunchSpec = match checkpoint::read_json(&run_files::launch(run_dir)) {
        Ok(spec) => spec,
        Err(e) => return report_failure(&mut out, &e.to_string()),
    };
    let process = match launcher::launch(&spec.to_config()) {
        Ok(p) => p,
        Err(e) => return report_failure(&mut out, &e.to_string()),
    };
    let pid = process.pid();
    if let Some(record) = PidRecord::of(pid)
        && let Err(e) =
            checkpoint::write_atomic(&run_files::task_pid(run_dir), record.to_text().as_bytes())
    {
        eprintln!("meseta supervise: {e}");
    }
    let _ = writeln!(out, "started {pid}");
    let _ = out.flush();

    let reaped = Arc::new(Mutex::new(false));
    if exit_with_agent {
        let reaped = Arc::clone(&reaped);
        let _ = std::thread::Builder::new()
            .name("agent-watch".into())
            .spawn(move || {
                let mut stdin = std::io::stdin().lock();
                let mut buf = [0u8; 64];
                while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
                let reaped = reaped.lock().unwrap_or_else(PoisonError::into_inner);
                if !*reaped {
                    eprintln!("meseta supervise: the agent is gone; killing the container");
                    let _ = sys::signal_group(pid, libc::SIGKILL);
                }
            });
    }

    let mut child = process.child;
    let logs = process.logs;
    if let Err(e) = sys::wait_exited_unreaped(pid) {
        eprintln!("meseta supervise: cannot wait for {pid}: {e}");
    }
    let status = {
        let mut reaped = reaped.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = sys::signal_group(pid, libc::SIGKILL);
        let status = match child.wait() {
            Ok(s) => ExitStatus::from_std(s),
            Err(_) => ExitStatus::Unknown,
        };
        *reaped = true;
        status
    };
    if !logs.drain(crate::logger::DRAIN_TIMEOUT) {
        eprintln!(
            "meseta supervise: a process outside the container still holds its output; \
             not waiting for it"
        );
    }
    let record = TerminationRecord::from(status);
    if let Err(e) = checkpoint::write_json(&run_files::termination(run_dir), &record) {
        eprintln!("meseta supervise: {e}");
        return 1;
    }
    0
}

/// Reads the supervisor's first line: the container's pid, or why it could not start.
pub(crate) fn read_started(stdout: impl Read) -> Result<u32, String> {
    let mut line = String::new();
    let mut reader = std::io::BufReader::new(stdout);
    reader
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the supervisor's answer: {e}"))?;
    let line = line.trim();
    if let Some(pid) = line.strip_prefix("started ") {
        return pid
            .trim()
            .parse()
            .map_err(|_| format!("malformed supervisor answer '{line}'"));
    }
    if let Some(message) = line.strip_prefix("failed ") {
        return Err(message.to_string());
    }
    Err(if line.is_empty() {
        "the supervisor exited without starting the container".to_string()
    } else {
        format!("malformed supervisor answer '{line}'")
    })
}
