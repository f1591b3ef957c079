//! The master's hook call sites (Mesos' `HookManager` calls in `master.cpp`). Hooks are Wasm
//! calls, so none runs under the state lock:
//!
//! - `masterLaunchTaskResourceDecorator`: every task of an ACCEPT's LAUNCH and LAUNCH_GROUP,
//!   with the agent's total resources, before the ACCEPT reaches the core (which validates the
//!   decorated tasks against the offers).
//! - `masterLaunchTaskLabelDecorator`: every task of the ACCEPT, right after the resource
//!   decorators; the decorated labels are the task's labels from then on. (Mesos calls it for
//!   tasks that passed validation only; here it also sees tasks the core then refuses.)
//! - `masterSlaveLostHook`: an effect of an agent's removal, after the frameworks were told.
//!
//! A hook's own error is logged and skipped by the chain; a module fault under `fallback` is
//! counted and the hook is skipped; under `fail-closed`/`reload` the guarded task is refused
//! (TASK_ERROR) and a lost-agent notification is only logged.

use meseta_api::common::{AgentInfo, TaskInfo};
use meseta_api::convert::{
    labels_from_wire, labels_to_wire, resources_from_wire, resources_to_wire,
};
use meseta_api::scheduler::{Operation, OperationKind};
use meseta_types::hooks as h;

use crate::core::{Refusal, Refused};

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

/// The hooks' view of a task; `None` when it cannot be converted (validation reports why).
fn task_view(task: &TaskInfo) -> Option<h::TaskInfo> {
    h::TaskInfo::try_from(task).ok()
}

fn agent_view(agent_id: &str, info: &AgentInfo) -> h::AgentInfo {
    let mut view = h::AgentInfo::try_from(info).unwrap_or_else(|_| h::AgentInfo {
        hostname: info.hostname.clone(),
        port: info.port.unwrap_or(5051),
        ..h::AgentInfo::default()
    });
    view.agent_id = agent_id.to_string();
    view
}

/// What the decorators are told about an ACCEPT: its framework and the agent of its offers.
pub(crate) struct AcceptContext {
    pub framework_id: String,
    pub framework: meseta_api::common::FrameworkInfo,
    pub agent_id: String,
    pub agent: AgentInfo,
}

/// Runs the resource decorators, then the label decorators, over every task of `operations`,
/// replacing a task's resources or labels when the chain changed them. Returns the tasks a
/// faulting hook refused, with why.
pub(crate) fn decorate_accept(
    hooks: &meseta_hooks::MasterHookChain,
    context: &AcceptContext,
    operations: &mut [Operation],
) -> Refused {
    let mut refused = Refused::new();
    if hooks.is_empty() {
        return refused;
    }
    let Ok(agent_resources) = resources_from_wire(&context.agent.resources) else {
        return refused;
    };
    let mut framework_view = h::FrameworkInfo::from(&context.framework);
    framework_view.framework_id = context.framework_id.clone();
    let agent_view = agent_view(&context.agent_id, &context.agent);
    for op in operations {
        let tasks = match &mut op.kind {
            OperationKind::Launch(l) => &mut l.task_infos,
            OperationKind::LaunchGroup(g) => &mut g.task_group.tasks,
            _ => continue,
        };
        for task in tasks {
            let Some(view) = task_view(task) else {
                continue;
            };
            match blocking(|| hooks.launch_task_resources(&view, &agent_resources)) {
                Ok(resources) if resources != view.resources => {
                    task.resources = resources_to_wire(&resources);
                }
                Ok(_) => {}
                Err(fault) => {
                    refused.insert(
                        task.task_id.value.clone(),
                        Refusal::invalid(format!(
                            "Task refused: a resource decorator hook failed: {fault}"
                        )),
                    );
                    continue;
                }
            }
            let Some(view) = task_view(task) else {
                continue;
            };
            match blocking(|| hooks.launch_task_labels(&view, &framework_view, &agent_view)) {
                Ok(labels) => {
                    if labels != labels_from_wire(task.labels.as_ref()) {
                        task.labels = labels_to_wire(&labels);
                    }
                }
                Err(fault) => {
                    refused.insert(
                        task.task_id.value.clone(),
                        Refusal::invalid(format!(
                            "Task refused: a label decorator hook failed: {fault}"
                        )),
                    );
                }
            }
        }
    }
    refused
}

/// `masterSlaveLostHook` for a removed agent; every hook is called, failures are logged.
pub(crate) fn agent_lost(hooks: &meseta_hooks::MasterHookChain, agent_id: &str, info: &AgentInfo) {
    if hooks.is_empty() {
        return;
    }
    if let Err(fault) = blocking(|| hooks.agent_lost(&agent_view(agent_id, info))) {
        tracing::warn!(agent = agent_id, "masterSlaveLostHook failed: {fault}");
    }
}
