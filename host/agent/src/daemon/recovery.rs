//! Checkpointing while the agent runs, and recovery when it starts (Mesos' agent recovery,
//! `docs/agent-recovery.md`); the layout is in [`crate::checkpoint`].
//!
//! While running, for frameworks with `FrameworkInfo.checkpoint` only: the framework, executor
//! and task infos when a command task, a custom executor or a task group is launched (a
//! group's tasks each run in a supervised container of their own, whose files are in the
//! task's checkpoint directory); every status update
//! before it is sent and every acknowledgement (`task.updates`); the agent's info and id once
//! registered. Their containers run under supervisors ([`crate::supervisor`]) when
//! [`super::AgentConfig::supervisor`] is set; the containers of other frameworks run under
//! supervisors that kill them when the agent dies, found through `meta/transient/<cid>`.
//!
//! On start ([`recover_identity`], then [`recover`]):
//! 1. the boot id: after a reboot the old agent id and its checkpoints are dropped (a new
//!    agent); otherwise `meta/slaves/latest` names the agent id to keep, and its `slave.info`
//!    must match this agent's resources and attributes, else the agent exits with advice;
//! 2. what is left of non-checkpointing frameworks' containers is killed;
//! 3. every checkpointed executor's latest run: its tasks and their update streams are
//!    replayed (latest state, unacknowledged updates queued again); a live supervisor is
//!    adopted (its container keeps running and is waited for); one that ended while the agent
//!    was down gives its checkpointed exit status and the task its terminal update; a task
//!    group's tasks are recovered so one by one, each from its own container;
//! 4. recovered custom executors must subscribe again within
//!    `executor_reregistration_timeout`, else they are killed and their tasks are
//!    `TASK_LOST` (`TASK_GONE` for partition-aware frameworks),
//!    `REASON_EXECUTOR_REREGISTRATION_TIMEOUT`; registration waits until they all have
//!    subscribed, or that timeout;
//! 5. the agent registers with its old id and reports the recovered tasks and executors.

use std::path::{Path, PathBuf};
use std::time::Duration;

use meseta_api::Bytes;
use meseta_api::common::{AgentInfo, Attribute, Resource, TaskInfo, TaskStatus};

use super::model::{Executor, ExecutorKind, State, Task};
use super::{AgentConfig, AgentError, Shared, status, tasks};
use crate::checkpoint::{
    self, AgentState, CheckpointError, ContainerRun, MetaLayout, PidRecord, TerminationRecord,
    UpdateRecord, run_files,
};
use crate::containerizer::{ContainerHandle, ExitStatus, Termination};
use crate::isolation::ContainerInfo;
use crate::sandbox::SandboxIds;
use crate::supervisor::Supervision;
use crate::tracking::ProcessTracker;

/// `meta/transient`: supervisors of containers that must not outlive the agent.
fn transient_dir(meta: &MetaLayout) -> PathBuf {
    meta.root().join("transient")
}

fn log_error(result: Result<(), CheckpointError>) {
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot write a checkpoint");
    }
}

/// Whether the framework checkpoints.
pub fn checkpoints(st: &State, fid: &str) -> bool {
    st.frameworks.get(fid).is_some_and(|f| f.info.checkpoint)
}

/// The run directory of a checkpointed executor's container.
fn run_dir(d: &Shared, st: &State, fid: &str, eid: &str) -> Option<PathBuf> {
    let aid = st.agent_id.as_deref()?;
    let executor = st.frameworks.get(fid)?.executors.get(eid)?;
    Some(d.meta.run_dir(aid, fid, eid, &executor.container_id))
}

/// Marks a checkpointed executor's end as handled ([`crate::checkpoint::run_files::completed`]).
pub fn checkpoint_completed(d: &Shared, st: &State, fid: &str, eid: &str) {
    if !checkpoints(st, fid) {
        return;
    }
    if let Some(run) = run_dir(d, st, fid, eid) {
        log_error(crate::checkpoint::write_atomic(
            &crate::checkpoint::run_files::completed(&run),
            b"",
        ));
    }
}

/// How to supervise a container of executor `eid`: the executor's own (a custom executor's, a
/// command task's), or with `tid` the container of one task of a task group (`None`: no
/// supervisor configured, run it as a direct child).
pub fn supervision(
    d: &Shared,
    st: &State,
    fid: &str,
    eid: &str,
    tid: Option<&str>,
    container_id: &str,
) -> Option<Supervision> {
    let binary = d.config.supervisor.clone()?;
    let checkpointed = checkpoints(st, fid);
    let run_dir = if checkpointed {
        let executor = st.frameworks.get(fid)?.executors.get(eid)?;
        let run = run_dir(d, st, fid, eid)?;
        match (executor.kind, tid) {
            // each task of a group is a container of its own, with a supervisor of its own:
            // its files are in the task's directory of the group's run
            (ExecutorKind::Group, Some(tid)) => run.join("tasks").join(tid),
            _ => run,
        }
    } else {
        transient_dir(&d.meta).join(container_id)
    };
    Some(Supervision {
        binary,
        run_dir,
        exit_with_agent: !checkpointed,
    })
}

/// `MESOS_RECOVERY_TIMEOUT` for a container of a checkpointing framework.
pub fn checkpoint_env(d: &Shared, st: &State, fid: &str) -> Option<Duration> {
    checkpoints(st, fid).then_some(d.config.recovery_timeout)
}

/// Checkpoints the launch of executor `eid` (already in the state) with `tasks`: the
/// framework's and the executor's infos, `runs/latest`, the executor's kind, each task's info.
/// A task group that gets more tasks is checkpointed again with them.
pub fn checkpoint_launch(d: &Shared, st: &State, fid: &str, eid: &str, tasks: &[&TaskInfo]) {
    if !checkpoints(st, fid) {
        return;
    }
    let (Some(aid), Some(framework)) = (st.agent_id.as_deref(), st.frameworks.get(fid)) else {
        return;
    };
    let Some(executor) = framework.executors.get(eid) else {
        return;
    };
    let cid = &executor.container_id;
    let kind = match executor.kind {
        ExecutorKind::Command => "command",
        ExecutorKind::Group => "group",
        ExecutorKind::Custom => "custom",
    };
    log_error(checkpoint::write_json(
        &d.meta.framework_info(aid, fid),
        &framework.info_with_id(),
    ));
    log_error(checkpoint::write_json(
        &d.meta.executor_info(aid, fid, eid),
        &executor.info,
    ));
    let run = d.meta.run_dir(aid, fid, eid, cid);
    log_error(checkpoint::write_atomic(
        &run_files::kind(&run),
        kind.as_bytes(),
    ));
    log_error(checkpoint::write_atomic(
        &d.meta.latest_run(aid, fid, eid),
        cid.as_bytes(),
    ));
    for task in tasks {
        checkpoint_task(d, st, fid, eid, task);
    }
}

/// Checkpoints one task's info (a task handed to a custom executor).
pub fn checkpoint_task(d: &Shared, st: &State, fid: &str, eid: &str, task: &TaskInfo) {
    if !checkpoints(st, fid) {
        return;
    }
    let (Some(aid), Some(executor)) = (
        st.agent_id.as_deref(),
        st.frameworks.get(fid).and_then(|f| f.executors.get(eid)),
    ) else {
        return;
    };
    let dir = d
        .meta
        .task_dir(aid, fid, eid, &executor.container_id, &task.task_id.value);
    log_error(checkpoint::write_json(&run_files::task_info(&dir), task));
}

/// The `task.updates` file of a live task of a checkpointing framework.
fn updates_file(d: &Shared, st: &State, fid: &str, tid: &str) -> Option<PathBuf> {
    if !checkpoints(st, fid) {
        return None;
    }
    let aid = st.agent_id.as_deref()?;
    let eid = st.executor_of(fid, tid)?;
    let executor = st.frameworks.get(fid)?.executors.get(&eid)?;
    let dir = d.meta.task_dir(aid, fid, &eid, &executor.container_id, tid);
    // a task never checkpointed (launched before the framework asked for it) stays so
    run_files::task_info(&dir)
        .exists()
        .then(|| run_files::task_updates(&dir))
}

/// Appends a status update to its task's stream (before it is sent).
pub fn checkpoint_update(
    d: &Shared,
    st: &State,
    fid: &str,
    status: &TaskStatus,
    from_executor: bool,
) {
    if let Some(path) = updates_file(d, st, fid, &status.task_id.value) {
        log_error(checkpoint::append_update(
            &path,
            &UpdateRecord::Update {
                status: Box::new(status.clone()),
                from_executor,
            },
        ));
    }
}

/// Appends an acknowledgement to its task's stream.
pub fn checkpoint_ack(d: &Shared, st: &State, fid: &str, tid: &str, uuid: &Bytes) {
    if let Some(path) = updates_file(d, st, fid, tid) {
        log_error(checkpoint::append_update(
            &path,
            &UpdateRecord::Ack { uuid: uuid.clone() },
        ));
    }
}

/// Checkpoints the agent's identity once registered: `slave.info`, `slaves/latest`, `boot_id`.
/// The info keeps the agent's static resources (Mesos' `SlaveInfo.resources`): the
/// checkpointed ones are in `meta/resources` and may change while the agent runs.
pub fn checkpoint_agent(d: &Shared, info: &AgentInfo, aid: &str) {
    let mut info = info.clone();
    info.resources = meseta_api::convert::resources_to_wire(&d.static_resources);
    log_error(checkpoint::write_json(&d.meta.agent_info(aid), &info));
    log_error(checkpoint::write_atomic(
        &d.meta.latest_agent(),
        aid.as_bytes(),
    ));
    log_error(checkpoint::write_atomic(
        &d.meta.boot_id(),
        checkpoint::current_boot_id().as_bytes(),
    ));
}

fn sorted_json<T: serde::Serialize>(items: &[T]) -> Vec<String> {
    let mut out: Vec<String> = items
        .iter()
        .map(|i| serde_json::to_string(i).unwrap_or_default())
        .collect();
    out.sort();
    out
}

fn describe(resources: &[Resource], attributes: &[Attribute]) -> String {
    format!(
        "resources {} and attributes {}",
        sorted_json(resources).join(","),
        sorted_json(attributes).join(",")
    )
}

/// Steps 1 of recovery: the agent id to keep and its checkpoints, or `None` for a new agent.
pub fn recover_identity(
    config: &AgentConfig,
    resources: &[Resource],
    attributes: &[Attribute],
) -> Result<Option<AgentState>, AgentError> {
    let meta = MetaLayout::new(&config.work_dir);
    let Some(aid) = checkpoint::read_text(&meta.latest_agent())?.filter(|a| !a.is_empty()) else {
        return Ok(None);
    };
    let booted = checkpoint::read_text(&meta.boot_id())?.unwrap_or_default();
    let current = checkpoint::current_boot_id();
    if !booted.is_empty() && !current.is_empty() && booted != current {
        tracing::info!(agent = %aid, "the host rebooted since the last checkpoint; starting as a new agent");
        let _ = std::fs::remove_file(meta.latest_agent());
        return Ok(None);
    }
    let state = checkpoint::read_agent(&meta, &aid, config.strict)?;
    if let Some(info) = &state.info {
        let same = sorted_json(&info.resources) == sorted_json(resources)
            && sorted_json(&info.attributes) == sorted_json(attributes);
        if !same && config.new_agent_when_incompatible {
            tracing::warn!(agent = %aid, old = %describe(&info.resources, &info.attributes),
                new = %describe(resources, attributes),
                "the agent's resources or attributes changed since its checkpoint; starting as a new agent");
            let _ = std::fs::remove_file(meta.latest_agent());
            return Ok(None);
        }
        if !same {
            return Err(AgentError::Incompatible {
                id: aid,
                old: describe(&info.resources, &info.attributes),
                new: describe(resources, attributes),
                latest: meta.latest_agent(),
            });
        }
    }
    Ok(Some(state))
}

/// Kills what is left of non-checkpointing frameworks' containers (their supervisors normally
/// did when the agent died) and forgets them.
fn kill_transient(meta: &MetaLayout, tracker: &ProcessTracker) -> usize {
    let dir = transient_dir(meta);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return 0;
    };
    let mut killed = 0;
    for entry in entries.flatten() {
        let run = entry.path();
        let container_id = entry.file_name().to_string_lossy().into_owned();
        if kill_run(&run, &container_id, tracker) {
            killed += 1;
        }
        let _ = std::fs::remove_dir_all(&run);
    }
    killed
}

/// SIGKILLs a run's container group (and its supervisor) if they are the processes recorded,
/// and everything in the container's cgroup. Whether anything was running.
fn kill_run(run: &Path, container_id: &str, tracker: &ProcessTracker) -> bool {
    let mut any = !tracker.pids(container_id).is_empty();
    tracker.destroy(container_id);
    if let Some(task) = PidRecord::read(&run_files::task_pid(run))
        && task.is_alive()
    {
        tracing::info!(run = %run.display(), pid = task.pid, "killing a container left by an earlier agent");
        let _ = crate::sys::signal_group(task.pid, libc::SIGKILL);
        any = true;
    }
    if let Some(supervisor) = PidRecord::read(&run_files::forked_pid(run))
        && supervisor.is_alive()
    {
        // it exits by itself once its container is gone; only a supervisor without one waits
        // for nothing
        any = true;
    }
    any
}

/// `--recover=cleanup`: kills every container a previous agent left in `work_dir` (of
/// checkpointing frameworks or not; with their cgroups under `cgroups_root`) and forgets the
/// agent id. The number of containers found running.
pub fn cleanup(work_dir: &Path, cgroups_root: &str) -> Result<usize, AgentError> {
    let meta = MetaLayout::new(work_dir);
    let tracker = ProcessTracker::detect(cgroups_root);
    let mut killed = kill_transient(&meta, &tracker);
    if let Some(aid) = checkpoint::read_text(&meta.latest_agent())? {
        let state = checkpoint::read_agent(&meta, &aid, false)?;
        for framework in &state.frameworks {
            for executor in &framework.executors {
                let Some(run) = &executor.run else { continue };
                if kill_run(&run.dir, &run.container_id, &tracker) {
                    killed += 1;
                }
                // the containers of a task group's tasks
                for task in &run.tasks {
                    if let Some(container) = &task.container
                        && kill_run(&container.dir, &container.container_id, &tracker)
                    {
                        killed += 1;
                    }
                }
            }
        }
        let _ = std::fs::remove_file(meta.latest_agent());
    }
    Ok(killed)
}

/// Whether every live custom executor has subscribed (the recovered ones again).
pub fn all_resubscribed(d: &Shared) -> bool {
    let st = d.lock();
    st.frameworks.values().all(|f| {
        f.executors
            .values()
            .filter(|e| e.kind == ExecutorKind::Custom && !e.terminated)
            .all(|e| e.subscribed)
    })
}

/// The containers of `state` whose supervisor still runs, as isolators know them.
fn live_containers(d: &Shared, state: &AgentState) -> Vec<(String, ContainerInfo)> {
    let mut out = Vec::new();
    let live = |supervisor: Option<PidRecord>, task_pid: Option<PidRecord>| {
        supervisor.is_some_and(|s| s.is_alive()) && task_pid.is_some()
    };
    for framework in &state.frameworks {
        for executor in &framework.executors {
            let Some(run) = &executor.run else { continue };
            let executor_sandbox = d.layout.run_dir(&SandboxIds::new(
                &state.id,
                &framework.id,
                &executor.id,
                &run.container_id,
            ));
            // the tasks of a group: a container each
            for task in &run.tasks {
                let Some(container) = &task.container else {
                    continue;
                };
                if !live(container.supervisor, container.task_pid) {
                    continue;
                }
                let user = run_as(task.info.command.as_ref(), &framework.info.user);
                out.push((
                    container.container_id.clone(),
                    ContainerInfo {
                        framework_id: framework.id.clone(),
                        executor_id: executor.id.clone(),
                        resources: meseta_api::convert::resources_from_wire(&task.info.resources)
                            .unwrap_or_default(),
                        user,
                        sandbox: executor_sandbox
                            .join("tasks")
                            .join(&task.info.task_id.value),
                    },
                ));
            }
            if !live(run.supervisor, run.task_pid) {
                continue;
            }
            let mut wire = executor.info.resources.clone();
            for task in &run.tasks {
                if task.info.executor.is_none() {
                    wire.extend(task.info.resources.iter().cloned());
                }
            }
            let user = run_as(executor.info.command.as_ref(), &framework.info.user);
            out.push((
                run.container_id.clone(),
                ContainerInfo {
                    framework_id: framework.id.clone(),
                    executor_id: executor.id.clone(),
                    resources: meseta_api::convert::resources_from_wire(&wire).unwrap_or_default(),
                    user,
                    sandbox: executor_sandbox,
                },
            ));
        }
    }
    out
}

/// Adopts a recovered container whose supervisor still runs (its handle), or, when its end
/// cannot be followed (the supervisor is gone or unknown: the agent died while starting it),
/// SIGKILLs what is left of it: it must not run on unseen.
fn adopt(
    d: &Shared,
    container_id: &str,
    dir: &Path,
    supervisor: Option<PidRecord>,
    task_pid: Option<PidRecord>,
    killed: bool,
) -> Option<ContainerHandle> {
    let live = supervisor.filter(PidRecord::is_alive);
    let handle = match (live, task_pid) {
        (Some(supervisor), Some(task_pid)) => Some(d.containerizer.recover(
            container_id,
            supervisor,
            task_pid.pid,
            dir.to_path_buf(),
            d.config.executor_shutdown_grace_period,
            killed,
        )),
        _ => None,
    };
    if handle.is_none()
        && let Some(task_pid) = task_pid.filter(PidRecord::is_alive)
    {
        tracing::warn!(container = %container_id, pid = task_pid.pid,
            "killing a container whose supervisor cannot be followed");
        let _ = crate::sys::signal_group(task_pid.pid, libc::SIGKILL);
    }
    if handle.is_none() {
        // what its processes started (even in sessions of their own) goes with it
        d.containerizer.tracker().destroy(container_id);
    }
    handle
}

/// How a container that ended while no agent watched it ended, from its checkpoints.
fn checkpointed_termination(termination: Option<TerminationRecord>, killed: bool) -> Termination {
    Termination {
        status: termination
            .map(ExitStatus::from)
            .unwrap_or(ExitStatus::Unknown),
        killed,
        reason: None,
        limitation: None,
    }
}

/// A recovered task still to be dealt with: its id, its unacknowledged updates (oldest
/// first), and its own container if it is a task group's.
type Replayed = (String, Vec<(TaskStatus, bool)>, Option<ContainerRun>);

/// Puts a run's checkpointed tasks into `model`, their states replayed: a task done before the
/// agent died (terminal, every update acknowledged) among the completed ones, the others as
/// live tasks (returned).
fn replay_tasks(model: &mut Executor, tasks: Vec<checkpoint::TaskState>) -> Vec<Replayed> {
    let mut live = Vec::new();
    for task in tasks {
        let tid = task.info.task_id.value.clone();
        let mut entry = Task::new(task.info, &model.framework_id, &model.id);
        entry.container_id = match &task.container {
            Some(container) => Some(container.container_id.clone()),
            None if model.kind == ExecutorKind::Group => None,
            None => Some(model.container_id.clone()),
        };
        for (status, from_executor) in &task.stream.updates {
            entry.state = status.state;
            entry.statuses.push(status.clone());
            if *from_executor && let Some(uuid) = &status.uuid {
                entry.seen_uuids.push(uuid.0.clone());
            }
        }
        let unacked = task.stream.unacknowledged();
        if entry.state.is_terminal() && unacked.is_empty() {
            // done before the agent died: nothing left to do for it
            model.completed_tasks.push_back(entry);
            continue;
        }
        model.tasks.insert(tid.clone(), entry);
        live.push((tid, unacked, task.container));
    }
    live
}

/// Recovers a task group's executor: each task's container is adopted if its supervisor
/// still runs (and watched as a launched one is), a task whose container ended while the
/// agent was down gets its terminal update from the checkpointed exit status (one that never
/// started: `TASK_FAILED`); as for a launched group, a failed or killed task takes the others
/// down and the executor ends (`EXECUTOR_EXITED`) with its last task. A group that was done
/// before the agent died (every task terminal and acknowledged) is only remembered.
fn recover_group(d: &Shared, st: &mut State, mut model: Executor, replayed: Vec<Replayed>) {
    let fid = model.framework_id.clone();
    let eid = model.id.clone();
    let mut watched = Vec::new();
    let mut ended = Vec::new();
    let mut pending = Vec::new();
    for (tid, unacked, container) in replayed {
        pending.push((tid.clone(), unacked));
        let handle = container.as_ref().and_then(|c| {
            adopt(
                d,
                &c.container_id,
                &c.dir,
                c.supervisor,
                c.task_pid,
                c.killed,
            )
        });
        match (handle, model.tasks.get_mut(&tid)) {
            (Some(handle), Some(task)) => {
                task.handle = Some(handle.clone());
                watched.push((tid, handle));
            }
            _ => {
                let termination = container
                    .map(|c| checkpointed_termination(c.termination, c.killed))
                    .unwrap_or_else(|| checkpointed_termination(None, false));
                ended.push((tid, termination));
            }
        }
    }
    tracing::info!(framework = %fid, executor = %eid, container = %model.container_id,
        tasks = model.tasks.len(), running = watched.len(), "recovered task group");
    let done = model.tasks.is_empty();
    model.terminated = done;
    st.framework_entry(&fid, None)
        .executors
        .insert(eid.clone(), model);
    for (tid, unacked) in pending {
        status::restore(d, st, &fid, &tid, unacked);
    }
    for (tid, handle) in watched {
        tokio::spawn(tasks::watch_recovered_task(
            d.clone(),
            fid.clone(),
            eid.clone(),
            tid,
            handle,
        ));
    }
    // after every live task has its handle, so that a failure takes the others down
    for (tid, termination) in ended {
        tasks::report_termination(d, st, &fid, &tid, &termination);
        tasks::process_ended(d, st, &fid, &eid, &tid);
    }
    if done {
        st.collect(&fid, &eid);
    }
}

/// Recovery, steps 2 to 4. Whether there are recovered custom executors to wait for before
/// registering.
pub fn recover(d: &Shared, recovered: Option<AgentState>) -> bool {
    let transient = kill_transient(&d.meta, d.containerizer.tracker());
    if transient > 0 {
        tracing::info!(
            containers = transient,
            "killed the containers of non-checkpointing frameworks left by the previous agent"
        );
    }
    log_error(checkpoint::write_atomic(
        &d.meta.boot_id(),
        checkpoint::current_boot_id().as_bytes(),
    ));
    if let Some(isolation) = d.containerizer.isolation() {
        let live = recovered
            .as_ref()
            .map(|state| live_containers(d, state))
            .unwrap_or_default();
        isolation.recover(&live);
    }
    let Some(state) = recovered else {
        return false;
    };
    let aid = state.id.clone();
    tracing::info!(agent = %aid, frameworks = state.frameworks.len(), errors = state.errors,
        "recovering the checkpointed state");
    let mut st = d.lock();
    st.agent_id = Some(aid.clone());
    st.counters.recovery_errors += state.errors;
    let mut wait = false;
    for framework in state.frameworks {
        let fid = framework.id.clone();
        st.framework_entry(&fid, Some(framework.info.clone()));
        for executor in framework.executors {
            let eid = executor.id.clone();
            let Some(run) = executor.run else {
                continue;
            };
            let kind = match run.kind.as_deref() {
                Some("command") => ExecutorKind::Command,
                Some("custom") => ExecutorKind::Custom,
                Some("group") => ExecutorKind::Group,
                other => {
                    tracing::warn!(framework = %fid, executor = %eid, kind = ?other,
                        "cannot recover this kind of executor; ignoring it");
                    continue;
                }
            };
            let cid = run.container_id.clone();
            let directory = d.layout.run_dir(&SandboxIds::new(&aid, &fid, &eid, &cid));
            let mut model = Executor::new(&eid, &fid, kind, executor.info, cid.clone(), directory);
            let replayed = replay_tasks(&mut model, run.tasks);
            if kind == ExecutorKind::Group {
                recover_group(d, &mut st, model, replayed);
                continue;
            }
            let handle = adopt(d, &cid, &run.dir, run.supervisor, run.task_pid, run.killed);
            tracing::info!(framework = %fid, executor = %eid, container = %cid,
                tasks = model.tasks.len(), running = handle.is_some(), "recovered executor");
            match kind {
                ExecutorKind::Command => {
                    for task in model.tasks.values_mut() {
                        task.handle = handle.clone();
                    }
                }
                _ => {
                    model.handle = handle.clone();
                    // its tasks are live again: the executor must subscribe and resend
                    if handle.is_some() {
                        wait = true;
                    }
                }
            }
            st.framework_entry(&fid, None)
                .executors
                .insert(eid.clone(), model);
            for (tid, unacked, _) in replayed {
                status::restore(d, &mut st, &fid, &tid, unacked);
            }
            let termination = || checkpointed_termination(run.termination, run.killed);
            match (kind, handle) {
                (ExecutorKind::Command, Some(handle)) => {
                    // a command executor's id is its task's id
                    tokio::spawn(tasks::watch_recovered_task(
                        d.clone(),
                        fid.clone(),
                        eid.clone(),
                        eid.clone(),
                        handle,
                    ));
                }
                (ExecutorKind::Command, None) => {
                    let tids: Vec<String> = st
                        .executor_mut(&fid, &eid)
                        .map(|e| e.tasks.keys().cloned().collect())
                        .unwrap_or_default();
                    for tid in tids {
                        tasks::report_termination(d, &mut st, &fid, &tid, &termination());
                        tasks::process_ended(d, &mut st, &fid, &eid, &tid);
                    }
                    if let Some(e) = st.executor_mut(&fid, &eid) {
                        e.terminated = true;
                    }
                    st.collect(&fid, &eid);
                }
                (_, Some(handle)) => {
                    tokio::spawn(tasks::watch_recovered_executor(
                        d.clone(),
                        fid.clone(),
                        eid.clone(),
                        handle,
                    ));
                }
                // Its end was handled before the agent stopped: nothing to report again.
                (_, None) if run.completed => {
                    if let Some(e) = st.executor_mut(&fid, &eid) {
                        e.terminated = true;
                    }
                    st.collect(&fid, &eid);
                }
                (_, None) => {
                    drop(st);
                    tasks::executor_ended(d, &fid, &eid, Some(termination()), None);
                    st = d.lock();
                }
            }
        }
        if st
            .frameworks
            .get(&fid)
            .is_some_and(|f| f.executors.is_empty())
            && let Some(f) = st.frameworks.remove(&fid)
        {
            st.completed_frameworks.push_back(f);
        }
    }
    wait
}

/// The user a recovered container runs as: its command's, else its framework's (none if empty).
fn run_as(
    command: Option<&meseta_api::common::CommandInfo>,
    framework_user: &str,
) -> Option<String> {
    command
        .and_then(|c| c.user.clone())
        .or_else(|| Some(framework_user.to_string()))
        .filter(|u| !u.is_empty())
}
