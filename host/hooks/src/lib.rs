//! Hooks: Mesos' hook points as an ordered chain of decorators, each a Wasm module or a native
//! Rust implementation of `meseta_types::hooks::{MasterHooks, AgentHooks}`.
//!
//! Chain semantics are Mesos': hooks run in `--hooks` order and each sees the previous one's
//! output; `Some` replaces, `None` keeps, a hook's own error is logged and skipped. A module
//! *fault* (trap, deadline, memory cap, invalid output) follows the module's failure policy:
//! `fallback` treats the hook as absent for that call (the built-in default is "no hook"),
//! `fail-closed` and `reload` fail the chain so the caller refuses the operation.
//!
//! Architecture invariant: no hook output reaches the daemon unchecked (see [`check`]).

pub mod check;
mod wasm;

use std::sync::Mutex;

use meseta_runtime::{LoadError, LoadedModule, ModuleError};
use meseta_types::hooks::{
    AgentHooks, AgentInfo, AgentRedecorated, Decision, Edit, ExecutorInfo, FrameworkInfo, Keyed,
    MasterHooks, TaskInfo, TaskRedecorated, TaskStatus, WithEnvironment,
};
use meseta_types::resources::{Attribute, EnvVar, Label, Resource};
use std::sync::Arc;

pub use wasm::{WasmAgentHooks, WasmMasterHooks};

/// One hook of a chain.
pub enum Hook<W, N: ?Sized> {
    Wasm(W),
    Native { name: String, hooks: Mutex<Box<N>> },
}

pub type MasterHook = Hook<WasmMasterHooks, dyn MasterHooks + Send>;
pub type AgentHook = Hook<WasmAgentHooks, dyn AgentHooks + Send>;

impl<W, N: ?Sized> Hook<W, N> {
    pub fn native(name: &str, hooks: Box<N>) -> Self {
        Hook::Native {
            name: name.to_string(),
            hooks: Mutex::new(hooks),
        }
    }
}

fn lock<T: ?Sized>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A decorator's answer applied to the chain's current value.
trait Update<T> {
    fn update(self, current: &mut T);
}

/// Most points replace the value.
impl<T> Update<T> for T {
    fn update(self, current: &mut T) {
        *current = self;
    }
}

/// Label and environment points edit the list in place.
impl<T: Keyed + Clone> Update<Vec<T>> for Edit<T> {
    fn update(self, current: &mut Vec<T>) {
        self.apply_to(current);
    }
}

/// Runs one decorator point through the chain.
fn decorate<E, T, U: Update<T>>(
    entries: &[E],
    point: &'static str,
    initial: T,
    name: impl Fn(&E) -> &str,
    mut call: impl FnMut(&E, &T) -> Result<Decision<U>, ModuleError>,
    fallback: impl Fn(&E),
) -> Result<T, ModuleError> {
    let mut current = initial;
    for entry in entries {
        match call(entry, &current) {
            Ok(Ok(Some(answer))) => answer.update(&mut current),
            Ok(Ok(None)) => {}
            Ok(Err(message)) => {
                tracing::warn!(
                    hook = name(entry),
                    point,
                    "{point} hook failed for module '{}': {message}",
                    name(entry)
                );
            }
            Err(fault) if fault.policy == meseta_runtime::FailurePolicy::Fallback => {
                fallback(entry)
            }
            Err(fault) => return Err(fault),
        }
    }
    Ok(current)
}

/// Runs a non-decorating hook point (every hook is called; errors are logged).
fn notify<E>(
    entries: &[E],
    point: &'static str,
    name: impl Fn(&E) -> &str,
    mut call: impl FnMut(&E) -> Result<Result<(), String>, ModuleError>,
    fallback: impl Fn(&E),
) -> Result<(), ModuleError> {
    let mut first_fault = None;
    for entry in entries {
        match call(entry) {
            Ok(Ok(())) => {}
            Ok(Err(message)) => {
                tracing::warn!(hook = name(entry), point, "{point} hook failed: {message}")
            }
            Err(fault) if fault.policy == meseta_runtime::FailurePolicy::Fallback => {
                fallback(entry)
            }
            Err(fault) => {
                first_fault.get_or_insert(fault);
            }
        }
    }
    first_fault.map_or(Ok(()), Err)
}

/// The master's hooks, in `--hooks` order.
#[derive(Default)]
pub struct MasterHookChain {
    pub hooks: Vec<MasterHook>,
}

impl std::fmt::Debug for MasterHookChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.hooks.iter().map(master_name))
            .finish()
    }
}

fn master_name(h: &MasterHook) -> &str {
    match h {
        Hook::Wasm(w) => w.name(),
        Hook::Native { name, .. } => name,
    }
}

fn master_fallback(h: &MasterHook) {
    if let Hook::Wasm(w) = h {
        w.record_fallback();
    }
}

impl MasterHookChain {
    /// Builds the chain from loaded master-hooks modules, starting each (its `init` runs now).
    pub fn from_modules(modules: Vec<Arc<LoadedModule>>) -> Result<Self, LoadError> {
        let hooks = modules
            .into_iter()
            .map(|m| WasmMasterHooks::new(m).map(Hook::Wasm))
            .collect::<Result<_, _>>()?;
        Ok(MasterHookChain { hooks })
    }

    pub fn is_empty(&self) -> bool {
        self.hooks.is_empty()
    }

    /// The task's labels after every label decorator.
    pub fn launch_task_labels(
        &self,
        task: &TaskInfo,
        framework: &FrameworkInfo,
        agent: &AgentInfo,
    ) -> Result<Vec<Label>, ModuleError> {
        decorate(
            &self.hooks,
            "masterLaunchTaskLabelDecorator",
            task.labels.clone(),
            master_name,
            |h, labels| {
                let task = TaskRedecorated {
                    task,
                    labels: Some(labels),
                    resources: None,
                };
                let edit = match h {
                    Hook::Wasm(w) => w.launch_task_label_decorator(&task, framework, agent)?,
                    Hook::Native { hooks, .. } => {
                        lock(hooks).launch_task_label_decorator(&task, framework, agent)
                    }
                };
                Ok(edit)
            },
            master_fallback,
        )
    }

    /// The task's resources after every resource decorator.
    pub fn launch_task_resources(
        &self,
        task: &TaskInfo,
        agent_resources: &[Resource],
    ) -> Result<Vec<Resource>, ModuleError> {
        decorate(
            &self.hooks,
            "masterLaunchTaskResourceDecorator",
            task.resources.clone(),
            master_name,
            |h, resources| {
                let task = TaskRedecorated {
                    task,
                    labels: None,
                    resources: Some(resources),
                };
                match h {
                    Hook::Wasm(w) => w.launch_task_resource_decorator(&task, agent_resources),
                    Hook::Native { hooks, .. } => {
                        Ok(lock(hooks).launch_task_resource_decorator(&task, agent_resources))
                    }
                }
            },
            master_fallback,
        )
    }

    pub fn agent_lost(&self, agent: &AgentInfo) -> Result<(), ModuleError> {
        notify(
            &self.hooks,
            "masterSlaveLostHook",
            master_name,
            |h| match h {
                Hook::Wasm(w) => w.agent_lost(agent),
                Hook::Native { hooks, .. } => Ok(lock(hooks).agent_lost(agent)),
            },
            master_fallback,
        )
    }
}

/// The agent's hooks, in `--hooks` order.
#[derive(Default)]
pub struct AgentHookChain {
    pub hooks: Vec<AgentHook>,
}

impl std::fmt::Debug for AgentHookChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.hooks.iter().map(agent_name))
            .finish()
    }
}

fn agent_name(h: &AgentHook) -> &str {
    match h {
        Hook::Wasm(w) => w.name(),
        Hook::Native { name, .. } => name,
    }
}

fn agent_fallback(h: &AgentHook) {
    if let Hook::Wasm(w) = h {
        w.record_fallback();
    }
}

impl AgentHookChain {
    pub fn from_modules(modules: Vec<Arc<LoadedModule>>) -> Result<Self, LoadError> {
        let hooks = modules
            .into_iter()
            .map(|m| WasmAgentHooks::new(m).map(Hook::Wasm))
            .collect::<Result<_, _>>()?;
        Ok(AgentHookChain { hooks })
    }

    pub fn is_empty(&self) -> bool {
        self.hooks.is_empty()
    }

    /// The loaded module of every Wasm hook, in chain order.
    pub fn modules(&self) -> Vec<std::sync::Arc<meseta_runtime::LoadedModule>> {
        self.hooks
            .iter()
            .filter_map(|h| match h {
                Hook::Wasm(w) => Some(w.module().clone()),
                Hook::Native { .. } => None,
            })
            .collect()
    }

    /// The name and counters of every Wasm hook, in chain order.
    pub fn counters(&self) -> Vec<(String, meseta_runtime::CountersSnapshot)> {
        self.hooks
            .iter()
            .filter_map(|h| match h {
                Hook::Wasm(w) => Some((w.name().to_string(), w.counters())),
                Hook::Native { .. } => None,
            })
            .collect()
    }

    pub fn run_task_labels(
        &self,
        task: &TaskInfo,
        executor: &ExecutorInfo,
        framework: &FrameworkInfo,
        agent: &AgentInfo,
    ) -> Result<Vec<Label>, ModuleError> {
        decorate(
            &self.hooks,
            "slaveRunTaskLabelDecorator",
            task.labels.clone(),
            agent_name,
            |h, labels| {
                let task = TaskRedecorated {
                    task,
                    labels: Some(labels),
                    resources: None,
                };
                let edit = match h {
                    Hook::Wasm(w) => {
                        w.run_task_label_decorator(&task, executor, framework, agent)?
                    }
                    Hook::Native { hooks, .. } => {
                        lock(hooks).run_task_label_decorator(&task, executor, framework, agent)
                    }
                };
                Ok(edit)
            },
            agent_fallback,
        )
    }

    /// The environment the hooks add to an executor: the chain threads it through the
    /// executor's command environment, and the final variables are returned.
    pub fn executor_environment(
        &self,
        executor: &ExecutorInfo,
    ) -> Result<Vec<EnvVar>, ModuleError> {
        let initial = executor
            .command
            .as_ref()
            .map(|c| c.environment.clone())
            .unwrap_or_default();
        decorate(
            &self.hooks,
            "slaveExecutorEnvironmentDecorator",
            initial,
            agent_name,
            |h, environment| {
                let executor = WithEnvironment {
                    executor,
                    environment,
                };
                let edit = match h {
                    Hook::Wasm(w) => w.executor_environment_decorator(&executor)?,
                    Hook::Native { hooks, .. } => {
                        lock(hooks).executor_environment_decorator(&executor)
                    }
                };
                Ok(edit)
            },
            agent_fallback,
        )
    }

    /// The status after every status decorator; only `labels` and `container_status` of a
    /// decorator's result are taken, as in Mesos.
    pub fn task_status(
        &self,
        framework_id: &str,
        status: &TaskStatus,
    ) -> Result<TaskStatus, ModuleError> {
        decorate(
            &self.hooks,
            "slaveTaskStatusDecorator",
            status.clone(),
            agent_name,
            |h, current| {
                let decided = match h {
                    Hook::Wasm(w) => w.task_status_decorator(framework_id, current)?,
                    Hook::Native { hooks, .. } => {
                        lock(hooks).task_status_decorator(framework_id, current)
                    }
                };
                Ok(decided.map(|o| {
                    o.map(|d| TaskStatus {
                        labels: d.labels,
                        container_status: d.container_status,
                        ..current.clone()
                    })
                }))
            },
            agent_fallback,
        )
    }

    pub fn resources(&self, agent: &AgentInfo) -> Result<Vec<Resource>, ModuleError> {
        decorate(
            &self.hooks,
            "slaveResourcesDecorator",
            agent.resources.clone(),
            agent_name,
            |h, resources| {
                let agent = AgentRedecorated {
                    agent,
                    resources: Some(resources),
                    attributes: None,
                };
                match h {
                    Hook::Wasm(w) => w.resources_decorator(&agent),
                    Hook::Native { hooks, .. } => Ok(lock(hooks).resources_decorator(&agent)),
                }
            },
            agent_fallback,
        )
    }

    pub fn attributes(&self, agent: &AgentInfo) -> Result<Vec<Attribute>, ModuleError> {
        decorate(
            &self.hooks,
            "slaveAttributesDecorator",
            agent.attributes.clone(),
            agent_name,
            |h, attributes| {
                let agent = AgentRedecorated {
                    agent,
                    resources: None,
                    attributes: Some(attributes),
                };
                match h {
                    Hook::Wasm(w) => w.attributes_decorator(&agent),
                    Hook::Native { hooks, .. } => Ok(lock(hooks).attributes_decorator(&agent)),
                }
            },
            agent_fallback,
        )
    }

    pub fn remove_executor(
        &self,
        framework: &FrameworkInfo,
        executor: &ExecutorInfo,
    ) -> Result<(), ModuleError> {
        notify(
            &self.hooks,
            "slaveRemoveExecutorHook",
            agent_name,
            |h| match h {
                Hook::Wasm(w) => w.remove_executor(framework, executor),
                Hook::Native { hooks, .. } => Ok(lock(hooks).remove_executor(framework, executor)),
            },
            agent_fallback,
        )
    }

    pub fn post_fetch(&self, container_id: &str, directory: &str) -> Result<(), ModuleError> {
        notify(
            &self.hooks,
            "slavePostFetchHook",
            agent_name,
            |h| match h {
                Hook::Wasm(w) => w.post_fetch(container_id, directory),
                Hook::Native { hooks, .. } => Ok(lock(hooks).post_fetch(container_id, directory)),
            },
            agent_fallback,
        )
    }
}
