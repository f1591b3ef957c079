//! Running what the master sends: command tasks, task groups, custom executors; and killing
//! them.
//!
//! - A command task (no executor) gets Mesos' command executor: executor id = task id, its own
//!   container and sandbox; its process is the task's command. `TASK_STARTING` when the launch
//!   begins, `TASK_RUNNING` once the process is up, then `TASK_FINISHED` (exit 0),
//!   `TASK_FAILED` (`Command exited with status N`) or `TASK_KILLED` (after a kill).
//! - A task group (LAUNCH_GROUP, a DEFAULT executor) runs each task as its own process under
//!   one executor id, in `<executor sandbox>/tasks/<task id>`. As Mesos' default executor: when
//!   one task fails or is killed, the others are killed.
//! - A custom executor is started once per (framework, executor id), with Mesos' executor
//!   environment; its tasks wait in `queued` until it subscribes (see `executor_api`), then go
//!   to it as LAUNCH events. When it exits, its unfinished tasks fail
//!   (`REASON_EXECUTOR_TERMINATED`) and the master hears `EXECUTOR_EXITED`.
//!
//! Updates the agent itself generates for a task it could not run (launch failures, an
//! executor that died, a kill of an unknown task) have `SOURCE_AGENT`, as in Mesos; the
//! command executor's own updates have `SOURCE_EXECUTOR`.

use std::path::PathBuf;
use std::time::Duration;

use meseta_api::common::{
    CapabilityType, CommandInfo, ContainerID, ContainerStatus, ExecutorID, ExecutorInfo,
    ExecutorType, FrameworkID, Reason, Source, TaskInfo, TaskState,
};
use meseta_api::executor::{Event, Kill, Launch};
use meseta_api::internal as wire;

use super::Shared;
use super::master_link;
use super::model::{Executor, ExecutorKind, State, Task};
use super::status::{self, enqueue};
use crate::containerizer::{ContainerHandle, ExitStatus, Termination};
use crate::launcher::{CommandSpec, ContainerConfig};
use crate::sandbox::{SandboxIds, validate_id};

/// Why a RUN_TASK was refused outright.
#[derive(Debug)]
pub enum RunTaskError {
    NotRegistered,
    Invalid(String),
}

fn new_container_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The wait status as Mesos reports it for an executor (`waitpid`'s encoding).
pub fn wait_status(status: ExitStatus) -> i32 {
    match status {
        ExitStatus::Exited(code) => (code & 0xff) << 8,
        ExitStatus::Signaled(signal) => signal & 0x7f,
        ExitStatus::Unknown => -1,
    }
}

/// What to run for a `CommandInfo`, as `user` (the command's, else the framework's).
/// The user a command runs as: its own `user`, else the framework's (`None`: the agent's).
fn run_user(command: &CommandInfo, framework_user: &str) -> Option<String> {
    command
        .user
        .clone()
        .filter(|u| !u.is_empty())
        .or_else(|| (!framework_user.is_empty()).then(|| framework_user.to_string()))
}

fn command_spec(command: &CommandInfo, framework_user: &str) -> Result<CommandSpec, String> {
    if !command.uris.is_empty() {
        tracing::warn!(
            uris = command.uris.len(),
            "command URIs are not fetched by this agent; ignoring them"
        );
    }
    let environment = meseta_api::convert::env_from_wire(command.environment.as_ref())
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|v| (v.name, v.value))
        .collect();
    let user = run_user(command, framework_user);
    Ok(CommandSpec {
        shell: command.shell,
        value: command.value.clone(),
        arguments: command.arguments.clone(),
        environment,
        user,
    })
}

/// A grace period a framework asked for (a kill policy's, an executor's
/// `shutdown_grace_period`), or `limit` when it asked for none, never longer than `limit`:
/// the agent's `--executor_shutdown_grace_period`, as in Mesos, where the agent destroys an
/// executor's container once that period has passed whatever the task asked for. So no
/// framework can make a kill (or the agent's own shutdown) wait longer; negative periods are
/// zero.
pub(super) fn capped_grace(
    limit: Duration,
    requested: Option<meseta_api::common::DurationInfo>,
) -> Duration {
    requested.map_or(limit, |g| g.as_duration().min(limit))
}

/// The grace period of a task kill: the kill's policy, else the task's, else the agent's;
/// capped (see [`capped_grace`]).
fn kill_grace(
    d: &Shared,
    kill: Option<&meseta_api::common::KillPolicy>,
    task: &TaskInfo,
) -> Duration {
    let requested = kill
        .and_then(|k| k.grace_period)
        .or_else(|| task.kill_policy.as_ref().and_then(|k| k.grace_period));
    capped_grace(d.config.executor_shutdown_grace_period, requested)
}

fn spawn_kill(handle: ContainerHandle, grace: Duration) {
    tokio::spawn(async move {
        handle.kill(grace).await;
    });
}

/// Checks a RUN_TASK and starts what it asks for (the launches go on in the background).
pub fn run_task(d: &Shared, mut msg: wire::RunTask) -> Result<(), RunTaskError> {
    let fid = msg.framework_id.value.clone();
    if msg.tasks.is_empty() {
        return Err(RunTaskError::Invalid("RUN_TASK has no tasks".into()));
    }
    let mut st = d.lock();
    let Some(agent_id) = st.agent_id.clone() else {
        return Err(RunTaskError::NotRegistered);
    };
    // Ids become sandbox paths. A task the agent cannot make a sandbox for ends with
    // TASK_ERROR (the master checks ids alike, so only a master of another rule sends one);
    // a refusal of the whole message would leave its tasks staging at the master.
    let message_problem = validate_id("framework id", &fid).err().or_else(|| {
        msg.executor
            .as_ref()
            .and_then(|e| validate_id("executor id", &e.executor_id.value).err())
    });
    let problems: Vec<Option<String>> = msg
        .tasks
        .iter()
        .map(|task| {
            message_problem
                .as_ref()
                .map(ToString::to_string)
                .or_else(|| {
                    validate_id("task id", &task.task_id.value)
                        .err()
                        .map(|e| e.to_string())
                })
                .or_else(|| {
                    task.executor.as_ref().and_then(|e| {
                        validate_id("executor id", &e.executor_id.value)
                            .err()
                            .map(|e| e.to_string())
                    })
                })
        })
        .collect();
    if problems.iter().any(Option::is_some) {
        // a task group launches whole or not at all
        let group_problem = problems.iter().flatten().next().cloned();
        let tasks = std::mem::take(&mut msg.tasks);
        for (task, problem) in tasks.into_iter().zip(problems) {
            let problem = match (problem, msg.group) {
                (Some(p), _) => Some(p),
                (None, true) => group_problem
                    .as_ref()
                    .map(|p| format!("another task of its group is invalid: {p}")),
                (None, false) => None,
            };
            match problem {
                Some(message) => refuse_as(
                    d,
                    &mut st,
                    &fid,
                    &task,
                    TaskState::Error,
                    Reason::TaskInvalid,
                    message,
                ),
                None => msg.tasks.push(task),
            }
        }
        if msg.tasks.is_empty() {
            return Ok(());
        }
    }
    let mut framework_info = msg.framework.clone();
    framework_info.id = Some(FrameworkID::new(&fid));
    st.framework_entry(&fid, Some(framework_info.clone()));
    msg.tasks.retain_mut(|task| {
        let executor = msg.executor.as_ref().or(task.executor.as_ref()).cloned();
        let decorated =
            super::hooks::run_task_labels(d, &st, &fid, &framework_info, executor.as_ref(), task);
        match decorated {
            Ok(()) => true,
            Err(message) => {
                refuse(d, &mut st, &fid, task, Reason::TaskInvalid, message);
                false
            }
        }
    });
    match (msg.executor, msg.group) {
        (None, _) => {
            for task in msg.tasks {
                // A task that names its executor goes to it, even if the message does not.
                match task.executor.clone() {
                    Some(executor) => run_on_executor(d, &mut st, &fid, executor, vec![task]),
                    None => run_command_task(d, &mut st, &agent_id, &fid, task),
                }
            }
        }
        (Some(executor), true) => run_group(d, &mut st, &agent_id, &fid, executor, msg.tasks),
        (Some(executor), false) => run_on_executor(d, &mut st, &fid, executor, msg.tasks),
    }
    // A framework that got nothing to run (all tasks refused) is not kept.
    let empty = st
        .frameworks
        .get(&fid)
        .is_some_and(|f| f.executors.is_empty());
    if empty && let Some(f) = st.frameworks.remove(&fid) {
        st.completed_frameworks.push_back(f);
    }
    Ok(())
}

/// A task the agent refuses before it has an executor: TASK_FAILED (or TASK_DROPPED-like
/// cases) straight to the master.
fn refuse(d: &Shared, st: &mut State, fid: &str, task: &TaskInfo, reason: Reason, message: String) {
    refuse_as(d, st, fid, task, TaskState::Failed, reason, message);
}

/// [`refuse`] with the terminal `state` to report.
fn refuse_as(
    d: &Shared,
    st: &mut State,
    fid: &str,
    task: &TaskInfo,
    state: TaskState,
    reason: Reason,
    message: String,
) {
    tracing::warn!(framework = %fid, task = %task.task_id.value, %message, "task refused");
    let status = status::status(
        &task.task_id.value,
        state,
        Source::Agent,
        Some(reason),
        Some(message),
    );
    enqueue(d, st, fid, status, false);
}

/// Whether `task_id` is already live on this agent for the framework.
fn task_exists(st: &State, fid: &str, task_id: &str) -> bool {
    st.executor_of(fid, task_id).is_some()
}

fn run_command_task(d: &Shared, st: &mut State, agent_id: &str, fid: &str, task: TaskInfo) {
    let tid = task.task_id.value.clone();
    if task_exists(st, fid, &tid) {
        tracing::warn!(framework = %fid, task = %tid, "a task with this id is already running; ignoring the launch");
        return;
    }
    let exists = st
        .frameworks
        .get(fid)
        .is_some_and(|f| f.executors.contains_key(&tid));
    if exists {
        refuse(
            d,
            st,
            fid,
            &task,
            Reason::TaskInvalid,
            format!("Executor '{tid}' of a previous run of this task is still terminating"),
        );
        return;
    }
    let Some(command) = task.command.clone() else {
        refuse(
            d,
            st,
            fid,
            &task,
            Reason::TaskInvalid,
            "Task has neither a command nor an executor".into(),
        );
        return;
    };
    let container_id = new_container_id();
    let ids = SandboxIds::new(agent_id, fid, &tid, &container_id);
    let directory = d.layout.run_dir(&ids);
    let info = ExecutorInfo {
        kind: Some(ExecutorType::Unknown),
        executor_id: ExecutorID::new(&tid),
        framework_id: Some(FrameworkID::new(fid)),
        command: Some(command.clone()),
        name: Some(format!(
            "Command Executor (Task: {tid}) (Command: {})",
            describe_command(&command)
        )),
        source: Some(tid.clone()),
        ..ExecutorInfo::default()
    };
    let mut executor = Executor::new(
        &tid,
        fid,
        ExecutorKind::Command,
        info,
        container_id.clone(),
        directory.clone(),
    );
    let task_info = task.clone();
    let mut entry = Task::new(task, fid, &tid);
    entry.container_id = Some(container_id.clone());
    executor.tasks.insert(tid.clone(), entry);
    let framework = st.framework_entry(fid, None);
    let user = framework.info.user.clone();
    framework.executors.insert(tid.clone(), executor);
    super::recovery::checkpoint_launch(d, st, fid, &tid, &[&task_info]);
    let d2 = d.clone();
    let fid = fid.to_string();
    tokio::spawn(async move {
        let layout = d2.layout.clone();
        let created = tokio::task::spawn_blocking(move || layout.create(&ids)).await;
        let prepared = match created {
            Ok(Ok(_)) => command_spec(&command, &user),
            Ok(Err(e)) => Err(format!("Failed to create the sandbox: {e}")),
            Err(e) => Err(format!("Failed to create the sandbox: {e}")),
        };
        launch_process_task(d2, fid, tid.clone(), tid, container_id, directory, prepared).await;
    });
}

fn describe_command(command: &CommandInfo) -> String {
    let value = command.value.clone().unwrap_or_default();
    if command.shell {
        format!("sh -c '{value}'")
    } else {
        format!("{value} {:?}", command.arguments)
    }
}

/// Launches one task's process (command task or group member) in `sandbox`, reports
/// STARTING/RUNNING, and reports its end.
async fn launch_process_task(
    d: Shared,
    fid: String,
    eid: String,
    tid: String,
    container_id: String,
    sandbox: PathBuf,
    prepared: Result<CommandSpec, String>,
) {
    let command = match prepared {
        Ok(command) => command,
        Err(message) => {
            process_task_failed(&d, &fid, &eid, &tid, Reason::ContainerLaunchFailed, message);
            return;
        }
    };
    // the task's persistent volumes, linked into its sandbox before its command runs
    let wire_resources = d
        .lock()
        .task(&fid, &tid)
        .map(|t| t.info.resources.clone())
        .unwrap_or_default();
    let linked = {
        let (d, sandbox, user) = (d.clone(), sandbox.clone(), command.user.clone());
        tokio::task::spawn_blocking(move || {
            super::persistent::prepare(
                &d,
                &sandbox,
                &wire_resources,
                user.as_deref(),
                super::persistent::Container::New,
            )
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()))
    };
    let mounts = match linked {
        Ok(mounts) => mounts,
        Err(message) => {
            process_task_failed(&d, &fid, &eid, &tid, Reason::ContainerLaunchFailed, message);
            return;
        }
    };
    let (agent_id, grace, endpoint, resources, checkpoint, supervisor) = {
        let mut st = d.lock();
        let checkpoint = super::recovery::checkpoint_env(&d, &st, &fid);
        let supervisor =
            super::recovery::supervision(&d, &st, &fid, &eid, Some(&tid), &container_id);
        let agent_id = st.agent_id.clone().unwrap_or_default();
        let endpoint = st.endpoint.clone();
        let Some(task) = st.task_mut(&fid, &tid) else {
            return;
        };
        if task.kill.is_some() {
            let s = status::status(
                &tid,
                TaskState::Killed,
                Source::Agent,
                Some(Reason::TaskKilledDuringLaunch),
                Some("Task killed before it was launched".into()),
            );
            enqueue(&d, &mut st, &fid, s, false);
            process_ended(&d, &mut st, &fid, &eid, &tid);
            return;
        }
        let grace = kill_grace(&d, None, &task.info);
        let resources =
            meseta_api::convert::resources_from_wire(&task.info.resources).unwrap_or_default();
        let s = status::status(&tid, TaskState::Starting, Source::Executor, None, None);
        enqueue(&d, &mut st, &fid, s, false);
        (agent_id, grace, endpoint, resources, checkpoint, supervisor)
    };
    let extra_environment =
        match super::hooks::prepare_launch(&d, &fid, &eid, &container_id, &sandbox) {
            Ok(env) => env,
            Err(message) => {
                process_task_failed(&d, &fid, &eid, &tid, Reason::ContainerLaunchFailed, message);
                return;
            }
        };
    let config = ContainerConfig {
        container_id: container_id.clone(),
        agent_id,
        framework_id: fid.clone(),
        executor_id: eid.clone(),
        task_id: Some(tid.clone()),
        command,
        sandbox,
        agent_endpoint: Some(endpoint),
        grace_period: grace,
        extra_environment,
        resources,
        cgroups: Vec::new(),
        mounts,
        checkpoint,
        supervisor,
        logger: d.config.container_logger,
    };
    let handle = match d.containerizer.launch(config).await {
        Ok(handle) => handle,
        Err(e) => {
            process_task_failed(
                &d,
                &fid,
                &eid,
                &tid,
                Reason::ContainerLaunchFailed,
                format!("Failed to launch container: {e}"),
            );
            return;
        }
    };
    {
        let mut st = d.lock();
        let kill = match st.task_mut(&fid, &tid) {
            Some(task) => {
                task.handle = Some(handle.clone());
                task.kill
            }
            None => Some(Duration::ZERO),
        };
        let mut s = status::status(&tid, TaskState::Running, Source::Executor, None, None);
        s.container_status = Some(ContainerStatus {
            container_id: Some(ContainerID::new(&container_id)),
            executor_pid: Some(handle.pid()),
            ..ContainerStatus::default()
        });
        enqueue(&d, &mut st, &fid, s, false);
        if let Some(grace) = kill {
            spawn_kill(handle.clone(), grace);
        }
    }
    let termination = handle.wait().await;
    let mut st = d.lock();
    report_termination(&d, &mut st, &fid, &tid, &termination);
    process_ended(&d, &mut st, &fid, &eid, &tid);
}

pub(super) fn report_termination(
    d: &Shared,
    st: &mut State,
    fid: &str,
    tid: &str,
    termination: &Termination,
) {
    let already = st.task_mut(fid, tid).is_none_or(|t| t.state.is_terminal());
    if already {
        return;
    }
    let state = termination.task_state();
    // a container an isolator limited was destroyed by the agent, as in Mesos
    let source = match termination.limitation {
        Some(_) => Source::Agent,
        None => Source::Executor,
    };
    let s = status::status(
        tid,
        state,
        source,
        termination.reason(),
        Some(termination.message()),
    );
    enqueue(d, st, fid, s, false);
}

fn process_task_failed(
    d: &Shared,
    fid: &str,
    eid: &str,
    tid: &str,
    reason: Reason,
    message: String,
) {
    tracing::warn!(framework = %fid, task = %tid, %message, "cannot launch the task");
    let mut st = d.lock();
    let s = status::status(
        tid,
        TaskState::Failed,
        Source::Agent,
        Some(reason),
        Some(message),
    );
    enqueue(d, &mut st, fid, s, false);
    process_ended(d, &mut st, fid, eid, tid);
}

/// A command or group task's process has ended (or never started): for a group, a failed or
/// killed task takes the others down; the executor ends with its last task.
pub(super) fn process_ended(d: &Shared, st: &mut State, fid: &str, eid: &str, tid: &str) {
    let Some(executor) = st.executor_mut(fid, eid) else {
        return;
    };
    let failed = executor
        .tasks
        .get(tid)
        .is_some_and(|t| t.state != TaskState::Finished);
    let mut exited = false;
    match executor.kind {
        ExecutorKind::Command => {
            exited = !executor.terminated;
            executor.terminated = true;
        }
        ExecutorKind::Group => {
            if failed {
                for (id, task) in executor.tasks.iter_mut() {
                    if id == tid || task.state.is_terminal() || task.kill.is_some() {
                        continue;
                    }
                    let grace = capped_grace(
                        d.config.executor_shutdown_grace_period,
                        task.info.kill_policy.as_ref().and_then(|k| k.grace_period),
                    );
                    task.kill = Some(grace);
                    if let Some(handle) = task.handle.clone() {
                        spawn_kill(handle, grace);
                    }
                }
            }
            if executor.tasks.values().all(|t| t.state.is_terminal()) && !executor.terminated {
                executor.terminated = true;
                exited = true;
            }
        }
        ExecutorKind::Custom => {}
    }
    let kind = executor.kind;
    if exited {
        st.counters.executors_terminated += 1;
        // The master releases a default executor's resources when it hears it exited; a
        // command executor's end is its task's end.
        if kind == ExecutorKind::Group {
            master_link::executor_exited(d, st, fid, eid, 0);
        }
    }
    st.collect(fid, eid);
}

fn run_group(
    d: &Shared,
    st: &mut State,
    agent_id: &str,
    fid: &str,
    info: ExecutorInfo,
    tasks: Vec<TaskInfo>,
) {
    let eid = info.executor_id.value.clone();
    let mut accepted = Vec::new();
    for task in tasks {
        if task_exists(st, fid, &task.task_id.value) {
            tracing::warn!(framework = %fid, task = %task.task_id.value,
                "a task with this id is already running; ignoring the launch");
        } else if task.command.is_none() {
            refuse(
                d,
                st,
                fid,
                &task,
                Reason::TaskInvalid,
                "Task in a group has no command".into(),
            );
        } else {
            accepted.push(task);
        }
    }
    if accepted.is_empty() {
        return;
    }
    let existing = st.executor_mut(fid, &eid).map(|e| {
        (
            e.kind,
            e.terminated,
            e.container_id.clone(),
            e.directory.clone(),
        )
    });
    let (container_id, directory, create) = match existing {
        Some((ExecutorKind::Group, false, container_id, directory)) => {
            (container_id, directory, false)
        }
        Some(_) => {
            for task in &accepted {
                refuse(
                    d,
                    st,
                    fid,
                    task,
                    Reason::TaskInvalid,
                    format!("Executor '{eid}' is terminating or is not a default executor"),
                );
            }
            return;
        }
        None => {
            let container_id = new_container_id();
            let ids = SandboxIds::new(agent_id, fid, &eid, &container_id);
            let directory = d.layout.run_dir(&ids);
            (container_id, directory, true)
        }
    };
    let framework = st.framework_entry(fid, None);
    let user = framework.info.user.clone();
    let executor = framework.executors.entry(eid.clone()).or_insert_with(|| {
        let mut info = info.clone();
        info.framework_id = Some(FrameworkID::new(fid));
        Executor::new(
            &eid,
            fid,
            ExecutorKind::Group,
            info,
            container_id.clone(),
            directory.clone(),
        )
    });
    let mut launches = Vec::new();
    for task in &accepted {
        let tid = task.task_id.value.clone();
        let task_container = new_container_id();
        let command = task.command.clone().unwrap_or_default();
        let mut entry = Task::new(task.clone(), fid, &eid);
        entry.container_id = Some(task_container.clone());
        executor.tasks.insert(tid.clone(), entry);
        launches.push((tid, task_container, command));
    }
    // checkpointed (a framework that checkpoints) before any of them is launched or updated
    let infos: Vec<&TaskInfo> = accepted.iter().collect();
    super::recovery::checkpoint_launch(d, st, fid, &eid, &infos);
    let d = d.clone();
    let fid = fid.to_string();
    let ids = SandboxIds::new(agent_id, &fid, &eid, &container_id);
    tokio::spawn(async move {
        let layout = d.layout.clone();
        let created: Result<(), String> = if create {
            match tokio::task::spawn_blocking(move || layout.create(&ids)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        } else {
            Ok(())
        };
        for (tid, task_container, command) in launches {
            let sandbox = directory.join("tasks").join(&tid);
            let prepared = match &created {
                Ok(()) => match std::fs::create_dir_all(&sandbox) {
                    Ok(()) => command_spec(&command, &user),
                    Err(e) => Err(format!("Failed to create the sandbox: {e}")),
                },
                Err(e) => Err(format!("Failed to create the sandbox: {e}")),
            };
            tokio::spawn(launch_process_task(
                d.clone(),
                fid.clone(),
                eid.clone(),
                tid,
                task_container,
                sandbox,
                prepared,
            ));
        }
    });
}

fn run_on_executor(
    d: &Shared,
    st: &mut State,
    fid: &str,
    info: ExecutorInfo,
    tasks: Vec<TaskInfo>,
) {
    let eid = info.executor_id.value.clone();
    let mut accepted = Vec::new();
    for task in tasks {
        if task_exists(st, fid, &task.task_id.value) {
            tracing::warn!(framework = %fid, task = %task.task_id.value,
                "a task with this id is already running; ignoring the launch");
        } else {
            accepted.push(task);
        }
    }
    if accepted.is_empty() {
        return;
    }
    let existing = st.executor_mut(fid, &eid).map(|e| (e.kind, e.terminated));
    match existing {
        Some((ExecutorKind::Custom, false)) => {
            // the new tasks' persistent volumes, linked into the executor's sandbox
            let framework_user = st.framework_entry(fid, None).info.user.clone();
            let (directory, user) = st
                .executor_mut(fid, &eid)
                .map(|e| {
                    let user = e
                        .info
                        .command
                        .as_ref()
                        .and_then(|c| run_user(c, &framework_user));
                    (e.directory.clone(), user)
                })
                .unwrap_or_default();
            accepted.retain(|task| {
                match super::persistent::prepare(
                    d,
                    &directory,
                    &task.resources,
                    user.as_deref(),
                    super::persistent::Container::Running,
                ) {
                    Ok(_) => true,
                    Err(message) => {
                        refuse(d, st, fid, task, Reason::ContainerLaunchFailed, message);
                        false
                    }
                }
            });
            let Some(executor) = st.executor_mut(fid, &eid) else {
                return;
            };
            if executor.subscribed && executor.stream.is_some() {
                for task in accepted.iter().cloned() {
                    launch_on_executor(executor, task);
                }
                for task in &accepted {
                    super::recovery::checkpoint_task(d, st, fid, &eid, task);
                }
            } else {
                executor.queued.extend(accepted);
            }
            // the executor's container now holds the new tasks' resources too
            super::oversubscription::update_isolation(d, st, fid, &eid);
        }
        Some(_) => {
            for task in &accepted {
                refuse(
                    d,
                    st,
                    fid,
                    task,
                    Reason::ExecutorTerminated,
                    format!("Executor '{eid}' is terminating or is not a custom executor"),
                );
            }
        }
        None => {
            let Some(agent_id) = st.agent_id.clone() else {
                return;
            };
            let container_id = new_container_id();
            let ids = SandboxIds::new(&agent_id, fid, &eid, &container_id);
            let directory = d.layout.run_dir(&ids);
            let mut info = info;
            info.framework_id = Some(FrameworkID::new(fid));
            let mut executor = Executor::new(
                &eid,
                fid,
                ExecutorKind::Custom,
                info,
                container_id,
                directory,
            );
            executor.queued = accepted;
            st.framework_entry(fid, None)
                .executors
                .insert(eid.clone(), executor);
            super::recovery::checkpoint_launch(d, st, fid, &eid, &[]);
            tokio::spawn(start_executor(d.clone(), fid.to_string(), eid, ids));
        }
    }
}

/// Hands a task to a subscribed executor: it becomes launched (STAGING) and the executor gets
/// LAUNCH.
pub fn launch_on_executor(executor: &mut Executor, mut task: TaskInfo) {
    if task.executor.is_none() {
        task.executor = Some(executor.info.clone());
    }
    let tid = task.task_id.value.clone();
    let event = Event::Launch(Launch { task: task.clone() });
    executor.tasks.insert(
        tid.clone(),
        Task::new(task, &executor.framework_id, &executor.id),
    );
    if !executor.send(&event) {
        tracing::warn!(executor = %executor.id, task = %tid, "cannot deliver LAUNCH to the executor");
    }
}

async fn start_executor(d: Shared, fid: String, eid: String, ids: SandboxIds) {
    let (info, user, endpoint, agent_id, sandbox, container_id, checkpoint, supervisor) = {
        let mut st = d.lock();
        let checkpoint = super::recovery::checkpoint_env(&d, &st, &fid);
        let user = st.framework_entry(&fid, None).info.user.clone();
        let endpoint = st.endpoint.clone();
        let agent_id = st.agent_id.clone().unwrap_or_default();
        let Some(executor) = st.executor_mut(&fid, &eid) else {
            return;
        };
        let container_id = executor.container_id.clone();
        let info = executor.info.clone();
        let directory = executor.directory.clone();
        let supervisor = super::recovery::supervision(&d, &st, &fid, &eid, None, &container_id);
        (
            info,
            user,
            endpoint,
            agent_id,
            directory,
            container_id,
            checkpoint,
            supervisor,
        )
    };
    let layout = d.layout.clone();
    let created = match tokio::task::spawn_blocking(move || layout.create(&ids)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("Failed to create the sandbox: {e}")),
        Err(e) => Err(format!("Failed to create the sandbox: {e}")),
    };
    let spec = created.and_then(|()| match &info.command {
        Some(command) => command_spec(command, &user),
        None => Err("The executor has no command".to_string()),
    });
    // the persistent volumes of the executor and of its first tasks, in its sandbox
    let mut mounts = Vec::new();
    let spec = spec.and_then(|spec| {
        let mut wire = info.resources.clone();
        if let Some(e) = d.lock().executor_mut(&fid, &eid) {
            for t in &e.queued {
                wire.extend(t.resources.iter().cloned());
            }
        }
        mounts = super::persistent::prepare(
            &d,
            &sandbox,
            &wire,
            spec.user.as_deref(),
            super::persistent::Container::New,
        )?;
        Ok(spec)
    });
    let spec = spec.and_then(|spec| {
        super::hooks::prepare_launch(&d, &fid, &eid, &container_id, &sandbox).map(|env| (spec, env))
    });
    let spec = spec.and_then(|(spec, mut env)| {
        if let Some(secret) = &d.config.auth.executor_secret {
            let token = secret.token(&fid, &eid, &container_id)?;
            env.push((super::executor_auth::TOKEN_VARIABLE.to_string(), token));
        }
        Ok((spec, env))
    });
    let (spec, extra_environment) = match spec {
        Ok(spec) => spec,
        Err(message) => {
            executor_ended(
                &d,
                &fid,
                &eid,
                None,
                Some((Reason::ContainerLaunchFailed, message)),
            );
            return;
        }
    };
    let grace = capped_grace(
        d.config.executor_shutdown_grace_period,
        info.shutdown_grace_period,
    );
    // the executor's container holds its own resources and those of its first tasks
    let resources = d
        .lock()
        .executor_mut(&fid, &eid)
        .map(|e| {
            let mut wire = e.info.resources.clone();
            for t in &e.queued {
                wire.extend(t.resources.iter().cloned());
            }
            meseta_api::convert::resources_from_wire(&wire).unwrap_or_default()
        })
        .unwrap_or_default();
    let config = ContainerConfig {
        container_id,
        agent_id,
        framework_id: fid.clone(),
        executor_id: eid.clone(),
        task_id: None,
        command: spec,
        sandbox,
        agent_endpoint: Some(endpoint),
        grace_period: grace,
        extra_environment,
        resources,
        cgroups: Vec::new(),
        mounts,
        checkpoint,
        supervisor,
        logger: d.config.container_logger,
    };
    let handle = match d.containerizer.launch(config).await {
        Ok(handle) => handle,
        Err(e) => {
            executor_ended(
                &d,
                &fid,
                &eid,
                None,
                Some((
                    Reason::ContainerLaunchFailed,
                    format!("Failed to launch the executor: {e}"),
                )),
            );
            return;
        }
    };
    tracing::info!(framework = %fid, executor = %eid, pid = handle.pid(), "executor started");
    {
        let mut st = d.lock();
        if let Some(executor) = st.executor_mut(&fid, &eid) {
            executor.handle = Some(handle.clone());
            if executor.shutting_down {
                // Shut down while it was starting: it has no stream to hear SHUTDOWN on.
                spawn_kill(handle.clone(), grace);
            }
        }
    }
    let timeout = d.config.executor_registration_timeout;
    watch_executor(d, fid, eid, handle, timeout, |e| {
        e.registration_timed_out = true
    })
    .await;
}

/// Waits for a custom executor's process to end, then handles its end; if it has not
/// subscribed within `timeout`, `timed_out` notes it on the executor and it is killed.
async fn watch_executor(
    d: Shared,
    fid: String,
    eid: String,
    handle: ContainerHandle,
    timeout: Duration,
    timed_out: fn(&mut Executor),
) {
    let (d2, fid2, eid2, h2) = (d.clone(), fid.clone(), eid.clone(), handle.clone());
    let timer = tokio::spawn(async move {
        tokio::time::sleep(timeout).await;
        let expired = {
            let mut st = d2.lock();
            match st.executor_mut(&fid2, &eid2) {
                Some(e) if !e.subscribed && !e.terminated => {
                    timed_out(e);
                    true
                }
                _ => false,
            }
        };
        if expired {
            tracing::warn!(framework = %fid2, executor = %eid2, timeout = ?timeout,
                "the executor did not subscribe in time; killing it");
            h2.kill(Duration::ZERO).await;
        }
    });
    let termination = handle.wait().await;
    timer.abort();
    executor_ended(&d, &fid, &eid, Some(termination), None);
}

/// A custom executor's process ended (or could not start): its unfinished tasks fail (or are
/// killed, when the agent shut it down), its stream closes, the master hears EXECUTOR_EXITED.
pub(super) fn executor_ended(
    d: &Shared,
    fid: &str,
    eid: &str,
    termination: Option<Termination>,
    launch_failure: Option<(Reason, String)>,
) {
    let mut st = d.lock();
    let partition_aware = st
        .frameworks
        .get(fid)
        .is_some_and(|f| f.info.has_capability(&CapabilityType::PartitionAware));
    let Some(executor) = st.executor_mut(fid, eid) else {
        return;
    };
    executor.terminated = true;
    executor.subscribed = false;
    executor.stream = None;
    executor.handle = None;
    let queued = std::mem::take(&mut executor.queued);
    for task in queued {
        let tid = task.task_id.value.clone();
        let entry = Task::new(task, fid, eid);
        executor.tasks.insert(tid, entry);
    }
    let (state, reason, message) = if let Some((reason, message)) = launch_failure {
        (TaskState::Failed, reason, message)
    } else if executor.shutting_down {
        (
            TaskState::Killed,
            Reason::ExecutorTerminated,
            "Executor was shut down".to_string(),
        )
    } else if executor.reregistration_timed_out {
        (
            if partition_aware {
                TaskState::Gone
            } else {
                TaskState::Lost
            },
            Reason::ExecutorReregistrationTimeout,
            "Executor did not reregister within the timeout".to_string(),
        )
    } else if executor.registration_timed_out {
        (
            TaskState::Failed,
            Reason::ExecutorRegistrationTimeout,
            "Executor did not subscribe in time".to_string(),
        )
    } else {
        let how = termination
            .as_ref()
            .map(|t| t.status.to_string())
            .unwrap_or_else(|| "terminated".to_string());
        (
            TaskState::Failed,
            Reason::ExecutorTerminated,
            format!("Executor {how}"),
        )
    };
    let unfinished: Vec<String> = executor
        .tasks
        .values()
        .filter(|t| !t.state.is_terminal())
        .map(|t| t.id().to_string())
        .collect();
    tracing::info!(framework = %fid, executor = %eid, unfinished = unfinished.len(), %message, "executor ended");
    for tid in unfinished {
        let s = status::status(
            &tid,
            state,
            Source::Agent,
            Some(reason.clone()),
            Some(message.clone()),
        );
        enqueue(d, &mut st, fid, s, false);
    }
    st.counters.executors_terminated += 1;
    let code = termination.map(|t| wait_status(t.status)).unwrap_or(-1);
    master_link::executor_exited(d, &st, fid, eid, code);
    super::recovery::checkpoint_completed(d, &st, fid, eid);
    st.collect(fid, eid);
}

/// Waits for a recovered task's container (a command task's, or a task group member's), then
/// reports its end as for a launched one.
pub(super) async fn watch_recovered_task(
    d: Shared,
    fid: String,
    eid: String,
    tid: String,
    handle: ContainerHandle,
) {
    let termination = handle.wait().await;
    let mut st = d.lock();
    report_termination(&d, &mut st, &fid, &tid, &termination);
    process_ended(&d, &mut st, &fid, &eid, &tid);
}

/// Waits for a recovered custom executor: killed if it does not subscribe again within
/// `executor_reregistration_timeout`; its end is handled as for a launched one.
pub(super) async fn watch_recovered_executor(
    d: Shared,
    fid: String,
    eid: String,
    handle: ContainerHandle,
) {
    let timeout = d.config.executor_reregistration_timeout;
    watch_executor(d, fid, eid, handle, timeout, |e| {
        e.reregistration_timed_out = true
    })
    .await;
}

/// KILL_TASK.
pub fn kill_task(d: &Shared, msg: wire::KillTask) {
    let fid = msg.framework_id.value.clone();
    let tid = msg.task_id.value.clone();
    let mut st = d.lock();
    let Some(eid) = st.executor_of(&fid, &tid) else {
        // Mesos: a task the agent does not know was never launched here.
        tracing::warn!(framework = %fid, task = %tid, "kill of an unknown task; sending TASK_LOST");
        let s = status::status(
            &tid,
            TaskState::Lost,
            Source::Agent,
            Some(Reason::ExecutorTerminated),
            Some("Cannot find executor".into()),
        );
        enqueue(d, &mut st, &fid, s, false);
        return;
    };
    let killing_state = st
        .frameworks
        .get(&fid)
        .is_some_and(|f| f.info.has_capability(&CapabilityType::TaskKillingState));
    let default_grace = d.config.executor_shutdown_grace_period;
    let Some(executor) = st.executor_mut(&fid, &eid) else {
        return;
    };
    match executor.kind {
        ExecutorKind::Command | ExecutorKind::Group => {
            let Some(task) = executor.tasks.get_mut(&tid) else {
                return;
            };
            if task.state.is_terminal() || task.kill.is_some() {
                return;
            }
            let requested = msg
                .kill_policy
                .as_ref()
                .and_then(|k| k.grace_period)
                .or_else(|| task.info.kill_policy.as_ref().and_then(|k| k.grace_period));
            let grace = capped_grace(default_grace, requested);
            task.kill = Some(grace);
            tracing::info!(framework = %fid, task = %tid, grace = ?grace, "killing task");
            if let Some(handle) = task.handle.clone() {
                spawn_kill(handle, grace);
                if killing_state {
                    let s = status::status(&tid, TaskState::Killing, Source::Executor, None, None);
                    enqueue(d, &mut st, &fid, s, false);
                }
            }
        }
        ExecutorKind::Custom => {
            if let Some(i) = executor.queued.iter().position(|t| t.task_id.value == tid) {
                let task = executor.queued.remove(i);
                executor
                    .tasks
                    .insert(tid.clone(), Task::new(task, &fid, &eid));
                let s = status::status(
                    &tid,
                    TaskState::Killed,
                    Source::Agent,
                    Some(Reason::TaskKilledDuringLaunch),
                    Some("Task killed before it was delivered to the executor".into()),
                );
                enqueue(d, &mut st, &fid, s, false);
                st.collect(&fid, &eid);
            } else if !executor.send(&Event::Kill(Kill {
                task_id: msg.task_id.clone(),
                kill_policy: msg.kill_policy.clone(),
            })) {
                tracing::warn!(framework = %fid, executor = %eid, task = %tid,
                    "the executor is not connected; cannot deliver KILL");
            }
        }
    }
}

/// SHUTDOWN_EXECUTOR (and part of SHUTDOWN_FRAMEWORK): command and group tasks are killed; a
/// custom executor gets SHUTDOWN and, after its grace period, is killed.
pub fn shutdown_executor(d: &Shared, st: &mut State, fid: &str, eid: &str) {
    let default_grace = d.config.executor_shutdown_grace_period;
    let Some(executor) = st.executor_mut(fid, eid) else {
        tracing::warn!(framework = %fid, executor = %eid, "shutdown of an unknown executor; ignored");
        return;
    };
    if executor.terminated {
        return;
    }
    executor.shutting_down = true;
    tracing::info!(framework = %fid, executor = %eid, "shutting down executor");
    match executor.kind {
        ExecutorKind::Command | ExecutorKind::Group => {
            for task in executor.tasks.values_mut() {
                if task.state.is_terminal() || task.kill.is_some() {
                    continue;
                }
                let grace = capped_grace(
                    default_grace,
                    task.info.kill_policy.as_ref().and_then(|k| k.grace_period),
                );
                task.kill = Some(grace);
                if let Some(handle) = task.handle.clone() {
                    spawn_kill(handle, grace);
                }
            }
        }
        ExecutorKind::Custom => {
            let grace = capped_grace(default_grace, executor.info.shutdown_grace_period);
            let handle = executor.handle.clone();
            if executor.send(&Event::Shutdown) {
                if let Some(handle) = handle {
                    tokio::spawn(async move {
                        if tokio::time::timeout(grace, handle.wait()).await.is_err() {
                            handle.kill(Duration::ZERO).await;
                        }
                    });
                }
            } else if let Some(handle) = handle {
                spawn_kill(handle, grace);
            }
        }
    }
}

/// SHUTDOWN_FRAMEWORK: every executor of the framework is shut down.
pub fn shutdown_framework(d: &Shared, fid: &str) {
    let mut st = d.lock();
    let executors: Vec<String> = match st.frameworks.get(fid) {
        Some(f) => f.executors.keys().cloned().collect(),
        None => {
            tracing::warn!(framework = %fid, "shutdown of an unknown framework; ignored");
            return;
        }
    };
    tracing::info!(framework = %fid, executors = executors.len(), "shutting down framework");
    for eid in executors {
        shutdown_executor(d, &mut st, fid, &eid);
    }
}

/// FRAMEWORK_MESSAGE: to the executor, as a MESSAGE event.
pub fn framework_message(d: &Shared, msg: wire::FrameworkToExecutor) {
    let fid = msg.framework_id.value;
    let eid = msg.executor_id.value;
    let mut st = d.lock();
    let delivered = st.executor_mut(&fid, &eid).is_some_and(|e| {
        e.send(&Event::Message(meseta_api::executor::Message {
            data: msg.data,
        }))
    });
    if delivered {
        st.counters.valid_framework_messages += 1;
    } else {
        st.counters.invalid_framework_messages += 1;
        tracing::warn!(framework = %fid, executor = %eid,
            "framework message for an executor that is not connected; dropped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meseta_api::common::DurationInfo;

    #[test]
    fn grace_periods_are_capped_by_the_agents_flag() {
        let limit = Duration::from_secs(5);
        let ns = |nanoseconds| Some(DurationInfo { nanoseconds });
        assert_eq!(capped_grace(limit, None), limit);
        assert_eq!(capped_grace(limit, ns(i64::MAX)), limit);
        assert_eq!(
            capped_grace(limit, ns(1_000_000_000)),
            Duration::from_secs(1)
        );
        assert_eq!(capped_grace(limit, ns(-1)), Duration::ZERO);
        assert_eq!(capped_grace(limit, ns(i64::MIN)), Duration::ZERO);
    }
}
