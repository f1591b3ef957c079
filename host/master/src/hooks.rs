//! The master's hook call sites (Mesos' `HookManager` calls in `master.cpp`), as small helpers
//! on [`Inner`] that the ACCEPT and agent-removal transitions call under the state lock:
//!
//! - `masterLaunchTaskResourceDecorator`: every task of an ACCEPT's LAUNCH and LAUNCH_GROUP,
//!   with the agent's total resources, before the task is validated against the offers.
//! - `masterLaunchTaskLabelDecorator`: every task that passed validation, before it is recorded
//!   and sent to the agent; the decorated labels are the task's labels from then on.
//! - `masterSlaveLostHook`: after the frameworks were told that an agent was removed.
//!
//! A hook's own error is logged and skipped by the chain; a module fault under `fallback` is
//! counted and the hook is skipped; under `fail-closed`/`reload` the guarded task is refused
//! (TASK_ERROR) and a lost-agent notification is only logged.

use std::collections::BTreeMap;

use meseta_api::common::{AgentInfo, TaskInfo};
use meseta_api::convert::{
    labels_from_wire, labels_to_wire, resources_from_wire, resources_to_wire,
};
use meseta_api::scheduler::{Operation, OperationKind};
use meseta_types::hooks as h;

use crate::state::Inner;

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

/// Tasks a hook fault refused: task id → message.
pub(crate) type Refused = BTreeMap<String, String>;

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

impl Inner {
    /// Runs the resource decorators over every task of `operations` (on agent `agent_id`),
    /// replacing a task's resources when the chain changed them. Returns the tasks a faulting
    /// hook refused.
    pub(crate) fn hook_task_resources(
        &self,
        agent_id: &str,
        operations: &mut [Operation],
    ) -> Refused {
        let mut refused = Refused::new();
        if self.hooks.is_empty() {
            return refused;
        }
        let Some(agent) = self.agents.get(agent_id) else {
            return refused;
        };
        let Ok(agent_resources) = resources_from_wire(&agent.info.resources) else {
            return refused;
        };
        for op in operations {
            let tasks = match &mut op.kind {
                OperationKind::Launch(l) => &mut l.task_infos,
                OperationKind::LaunchGroup(g) => &mut g.task_group.tasks,
                OperationKind::Other(_) => continue,
            };
            for task in tasks {
                let Some(view) = task_view(task) else {
                    continue;
                };
                match blocking(|| self.hooks.launch_task_resources(&view, &agent_resources)) {
                    Ok(resources) if resources != view.resources => {
                        task.resources = resources_to_wire(&resources);
                    }
                    Ok(_) => {}
                    Err(fault) => {
                        refused.insert(
                            task.task_id.value.clone(),
                            format!("Task refused: a resource decorator hook failed: {fault}"),
                        );
                    }
                }
            }
        }
        refused
    }

    /// Runs the label decorators over `task` (about to be launched on `agent_id` for
    /// `framework_id`), replacing its labels when the chain changed them. `Err` (the task is
    /// refused) when a hook faulted under a fail-closed policy.
    pub(crate) fn hook_task_labels(
        &self,
        framework_id: &str,
        agent_id: &str,
        task: &mut TaskInfo,
    ) -> Result<(), String> {
        if self.hooks.is_empty() {
            return Ok(());
        }
        let (Some(framework), Some(agent)) =
            (self.frameworks.get(framework_id), self.agents.get(agent_id))
        else {
            return Ok(());
        };
        let Some(view) = task_view(task) else {
            return Ok(());
        };
        let mut framework_view = h::FrameworkInfo::from(&framework.info);
        framework_view.framework_id = framework_id.to_string();
        let agent_view = agent_view(agent_id, &agent.info);
        match blocking(|| {
            self.hooks
                .launch_task_labels(&view, &framework_view, &agent_view)
        }) {
            Ok(labels) => {
                if labels != labels_from_wire(task.labels.as_ref()) {
                    task.labels = labels_to_wire(&labels);
                }
                Ok(())
            }
            Err(fault) => Err(format!(
                "Task refused: a label decorator hook failed: {fault}"
            )),
        }
    }

    /// `masterSlaveLostHook` for a removed agent; every hook is called, failures are logged.
    pub(crate) fn hook_agent_lost(&self, agent_id: &str, info: &AgentInfo) {
        if self.hooks.is_empty() {
            return;
        }
        if let Err(fault) = blocking(|| self.hooks.agent_lost(&agent_view(agent_id, info))) {
            tracing::warn!(agent = agent_id, "masterSlaveLostHook failed: {fault}");
        }
    }
}

impl Inner {
    /// A LAUNCH task that passed validation: `Err` if a resource decorator refused it, else
    /// its labels decorated.
    pub(crate) fn hook_task(
        &self,
        refused: &Refused,
        framework_id: &str,
        agent_id: &str,
        task: &mut TaskInfo,
    ) -> Result<(), String> {
        check_refused(refused, task)?;
        self.hook_task_labels(framework_id, agent_id, task)
    }

    /// The tasks of a LAUNCH_GROUP that passed validation, their labels decorated; the group's
    /// error if a hook refused one of them.
    pub(crate) fn hook_group(
        &self,
        framework_id: &str,
        agent_id: &str,
        tasks: &mut [TaskInfo],
    ) -> Option<String> {
        for task in tasks {
            if let Err(e) = self.hook_task_labels(framework_id, agent_id, task) {
                return Some(format!("Task '{}': {e}", task.task_id.value));
            }
        }
        None
    }
}

/// `Err` with the refusal of `task`, if a hook refused it.
pub(crate) fn check_refused(refused: &Refused, task: &TaskInfo) -> Result<(), String> {
    match refused.get(&task.task_id.value) {
        Some(message) => Err(message.clone()),
        None => Ok(()),
    }
}
