//! The agent's hook call sites (Mesos' `HookManager` calls in `slave.cpp` and the
//! containerizer), as small helpers the daemon calls:
//!
//! - `slaveResourcesDecorator`, `slaveAttributesDecorator`: once at start-up, before the agent
//!   registers; the master sees the decorated resources and attributes.
//! - `slaveRunTaskLabelDecorator`: every task of a RUN_TASK, before it is launched; the
//!   decorated labels are the task's labels on this agent (`/slave(1)/state`, LAUNCH events).
//! - `slaveExecutorEnvironmentDecorator`: the environment of every process the agent starts for
//!   an executor (a command task's process, a task group member's process, a custom executor),
//!   applied over the command's own environment.
//! - `slavePostFetchHook`: with the container id and sandbox directory once the sandbox is
//!   prepared, before the process starts (the agent has no fetcher).
//! - `slaveTaskStatusDecorator`: every status update the agent queues for the master; only the
//!   `labels` and `container_status` of the result are used.
//! - `slaveRemoveExecutorHook`: when an executor's bookkeeping is removed (its tasks are done).
//!
//! A hook's own error is logged and skipped by the chain; a module fault under `fallback` is
//! counted and the hook is skipped; under `fail-closed`/`reload` the guarded launch fails
//! (TASK_FAILED) or the agent does not start, and a status or notification is left as it is.

use meseta_api::common::{ContainerStatus, ExecutorInfo, FrameworkInfo, TaskStatus};
use meseta_api::convert::{labels_from_wire, labels_to_wire};
use meseta_hooks::AgentHookChain;
use meseta_types::hooks as h;
use meseta_types::resources::{Attribute, Resource};

use super::{AgentError, Shared};

/// Runs a hook call off the async runtime's worker: a module that touches WASI (a file grant,
/// a panic message on stderr) makes wasmtime-wasi block on the ambient runtime, which a worker
/// thread must not do. On a multi-threaded runtime the call runs under `block_in_place`;
/// elsewhere (no runtime, a blocking thread) it runs as it is.
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// Decorates what the agent advertises; `Err` when a hook faulted under a fail-closed policy.
pub fn decorate_agent(
    hooks: &AgentHookChain,
    hostname: &str,
    port: u16,
    resources: Vec<Resource>,
    attributes: Vec<Attribute>,
) -> Result<(Vec<Resource>, Vec<Attribute>), AgentError> {
    if hooks.is_empty() {
        return Ok((resources, attributes));
    }
    let mut view = h::AgentInfo {
        agent_id: String::new(),
        hostname: hostname.to_string(),
        port: u32::from(port),
        resources,
        attributes,
    };
    view.resources =
        blocking(|| hooks.resources(&view)).map_err(|e| AgentError::Hook(e.to_string()))?;
    view.attributes =
        blocking(|| hooks.attributes(&view)).map_err(|e| AgentError::Hook(e.to_string()))?;
    Ok((view.resources, view.attributes))
}

/// The hooks' view of a framework.
fn framework_view(fid: &str, info: &FrameworkInfo) -> h::FrameworkInfo {
    let mut view = h::FrameworkInfo::from(info);
    view.framework_id = fid.to_string();
    view
}

/// The hooks' view of an executor (the framework id filled in).
fn executor_view(fid: &str, info: &ExecutorInfo) -> Option<h::ExecutorInfo> {
    let mut view = h::ExecutorInfo::try_from(info).ok()?;
    view.framework_id = fid.to_string();
    Some(view)
}

/// The label decorators over one task of a RUN_TASK, which runs on `executor` (a command task's
/// is its command executor: executor id = task id). Replaces the task's labels when the chain
/// changed them; `Err` (the task is refused) on a fail-closed fault.
pub fn run_task_labels(
    d: &Shared,
    st: &super::model::State,
    fid: &str,
    framework: &FrameworkInfo,
    executor: Option<&ExecutorInfo>,
    task: &mut meseta_api::common::TaskInfo,
) -> Result<(), String> {
    let hooks = &d.config.hooks;
    if hooks.is_empty() {
        return Ok(());
    }
    let Ok(view) = h::TaskInfo::try_from(&*task) else {
        return Ok(());
    };
    let executor = match executor.and_then(|e| executor_view(fid, e)) {
        Some(e) => e,
        None => h::ExecutorInfo {
            executor_id: task.task_id.value.clone(),
            framework_id: fid.to_string(),
            command: view.command.clone(),
            ..h::ExecutorInfo::default()
        },
    };
    let agent = agent_view(d, st);
    let framework = framework_view(fid, framework);
    match blocking(|| hooks.run_task_labels(&view, &executor, &framework, &agent)) {
        Ok(labels) => {
            if labels != view.labels {
                task.labels = labels_to_wire(&labels);
            }
            Ok(())
        }
        Err(fault) => Err(format!(
            "Task refused: a run-task label decorator hook failed: {fault}"
        )),
    }
}

fn agent_view(d: &Shared, st: &super::model::State) -> h::AgentInfo {
    h::AgentInfo {
        agent_id: st.agent_id.clone().unwrap_or_default(),
        hostname: st.hostname.clone(),
        port: u32::from(d.address.port()),
        resources: d.total(),
        attributes: d.attributes.clone(),
    }
}

/// What a process started for executor `eid` needs from the hooks, once its sandbox is
/// ready: runs the post-fetch hook for (`container_id`, `sandbox`), then the environment
/// decorators over the executor; the variables to add over the command's environment. `Err`
/// (the launch fails) on a fail-closed fault.
pub fn prepare_launch(
    d: &Shared,
    fid: &str,
    eid: &str,
    container_id: &str,
    sandbox: &std::path::Path,
) -> Result<Vec<(String, String)>, String> {
    let hooks = &d.config.hooks;
    if hooks.is_empty() {
        return Ok(Vec::new());
    }
    blocking(|| hooks.post_fetch(container_id, &sandbox.to_string_lossy()))
        .map_err(|fault| format!("A post-fetch hook failed: {fault}"))?;
    let info = d.lock().executor_mut(fid, eid).map(|e| e.info.clone());
    let Some(view) = info.as_ref().and_then(|i| executor_view(fid, i)) else {
        return Ok(Vec::new());
    };
    let env = blocking(|| hooks.executor_environment(&view))
        .map_err(|fault| format!("An executor environment decorator hook failed: {fault}"))?;
    Ok(env.into_iter().map(|v| (v.name, v.value)).collect())
}

/// The status decorators over a status the agent is about to queue.
pub fn decorate_status(d: &Shared, fid: &str, status: &mut TaskStatus) {
    let hooks = &d.config.hooks;
    if hooks.is_empty() {
        return;
    }
    let view = h::TaskStatus::from(&*status);
    match blocking(|| hooks.task_status(fid, &view)) {
        Ok(decorated) => {
            if decorated.labels != labels_from_wire(status.labels.as_ref()) {
                status.labels = labels_to_wire(&decorated.labels);
            }
            if decorated.container_status != view.container_status {
                status.container_status = decorated
                    .container_status
                    .as_ref()
                    .map(ContainerStatus::from);
            }
        }
        Err(fault) => {
            tracing::warn!(framework = fid, task = %status.task_id.value,
                "slaveTaskStatusDecorator failed; the update is sent undecorated: {fault}");
        }
    }
}

/// `slaveRemoveExecutorHook`; every hook is called, failures are logged.
pub fn remove_executor(
    hooks: &AgentHookChain,
    fid: &str,
    framework: &FrameworkInfo,
    executor: &ExecutorInfo,
) {
    if hooks.is_empty() {
        return;
    }
    let Some(view) = executor_view(fid, executor) else {
        return;
    };
    if let Err(fault) = blocking(|| hooks.remove_executor(&framework_view(fid, framework), &view)) {
        tracing::warn!(framework = fid, executor = %executor.executor_id.value,
            "slaveRemoveExecutorHook failed: {fault}");
    }
}

/// The hooks' counters for `/metrics/snapshot`, as the master names them.
pub fn metrics(hooks: &AgentHookChain) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for (name, c) in hooks.counters() {
        let base = format!("meseta/modules/{name}");
        out.push((format!("{base}/calls"), c.calls as f64));
        out.push((format!("{base}/faults"), c.faults.total() as f64));
        out.push((format!("{base}/fallbacks"), c.fallbacks as f64));
        out.push((format!("{base}/instantiations"), c.instantiations as f64));
        out.push((format!("{base}/latency_us/p99"), c.latency.p99_us));
    }
    out
}
