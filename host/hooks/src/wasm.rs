//! Hook modules as WebAssembly components, at either version of the hook worlds.
//!
//! Version 2 (`meseta:hooks@0.2.0`) lends the call's values behind integer handles
//! ([`meseta_bindings::views`]); version 1 (`meseta:modules@0.1.0`) lowers whole records.

use std::sync::{Arc, Mutex, MutexGuard};

use meseta_bindings::agent_hooks::AgentHooks as AgentV1;
use meseta_bindings::agent_hooks_v2::AgentHooks as AgentV2;
use meseta_bindings::convert as cv;
use meseta_bindings::master_hooks::MasterHooks as MasterV1;
use meseta_bindings::master_hooks_v2::MasterHooks as MasterV2;
use meseta_bindings::master_hooks_v2::meseta::hooks::views::{EnvEdit, LabelEdit};
use meseta_bindings::views::{Lent, Views, lend};
use meseta_runtime::{LoadError, LoadedModule, ModuleError, Sandbox, StoreState, World};
use meseta_types::hooks::{
    AgentView, Decision, Edit, ExecutorView, FrameworkView, StatusView, TaskStatus, TaskView,
};
use meseta_types::resources::{Attribute, EnvVar, Label, Resource};
use wasmtime::Store;

use crate::check;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Applies a check to a `Some` result; a failed check is a module fault.
fn checked<W: World<D>, D: Send + 'static, T, U>(
    sb: &mut Sandbox<W, D>,
    op: &'static str,
    r: Result<Option<T>, String>,
    check: impl Fn(&T) -> Result<(), String>,
    convert: impl Fn(T) -> U,
) -> Result<Decision<U>, ModuleError> {
    match r {
        Ok(Some(v)) => match check(&v) {
            Ok(()) => Ok(Ok(Some(convert(v)))),
            Err(m) => Err(sb.reject(op, m)),
        },
        Ok(None) => Ok(Ok(None)),
        Err(e) => Ok(Err(e)),
    }
}

/// One call of a version 2 module with `views` lent to it; `f` gets the call's handle.
fn lent<W: World<Lent>, R>(
    sb: &mut Sandbox<W, Lent>,
    op: &'static str,
    views: Views<'_>,
    f: impl FnOnce(&W, &mut Store<StoreState<Lent>>, u32) -> wasmtime::Result<R>,
) -> Result<R, ModuleError> {
    sb.call(op, |w, s| lend(s, views, |s, h| f(w, s, h)))
}

/// A version 2 module's previous edits, one per keyed-list hook point, for `repeat`.
#[derive(Default)]
struct Previous {
    labels: Option<Edit<Label>>,
    environment: Option<Edit<EnvVar>>,
}

/// An edit as it crossed the boundary: a list (`replace` or `set`) or `repeat`.
enum Wire<W> {
    Edit(Edit<W>),
    Repeat,
}

impl From<LabelEdit> for Wire<meseta_bindings::types::Label> {
    fn from(e: LabelEdit) -> Self {
        match e {
            LabelEdit::Replace(v) => Wire::Edit(Edit::Replace(v)),
            LabelEdit::Set(v) => Wire::Edit(Edit::Set(v)),
            LabelEdit::Repeat => Wire::Repeat,
        }
    }
}

impl From<EnvEdit> for Wire<meseta_bindings::types::EnvVar> {
    fn from(e: EnvEdit) -> Self {
        match e {
            EnvEdit::Replace(v) => Wire::Edit(Edit::Replace(v)),
            EnvEdit::Set(v) => Wire::Edit(Edit::Set(v)),
            EnvEdit::Repeat => Wire::Repeat,
        }
    }
}

/// A version 2 edit answer made usable: a list is checked, converted and remembered; `repeat`
/// is the remembered edit. A fault forgets it (the next instance starts without one).
fn edit_answer<W, T: Clone>(
    sb: &mut Sandbox<impl World<Lent>, Lent>,
    op: &'static str,
    r: Result<Result<Option<impl Into<Wire<W>>>, String>, ModuleError>,
    previous: &mut Option<Edit<T>>,
    check: impl Fn(&[W]) -> Result<(), String>,
    convert: impl Fn(W) -> T,
) -> Result<Decision<Edit<T>>, ModuleError> {
    let r = r.inspect_err(|_| *previous = None)?;
    let wire = match r {
        Ok(Some(w)) => w.into(),
        Ok(None) => return Ok(Ok(None)),
        Err(e) => return Ok(Err(e)),
    };
    let edit = match wire {
        Wire::Repeat => match previous {
            Some(p) => return Ok(Ok(Some(p.clone()))),
            None => return Err(sb.reject(op, "answered `repeat` with no previous edit")),
        },
        Wire::Edit(e) => e,
    };
    let (replace, list) = match edit {
        Edit::Replace(v) => (true, v),
        Edit::Set(v) => (false, v),
    };
    if let Err(m) = check(&list) {
        *previous = None;
        return Err(sb.reject(op, m));
    }
    let list: Vec<T> = list.into_iter().map(convert).collect();
    let edit = if replace {
        Edit::Replace(list)
    } else {
        Edit::Set(list)
    };
    *previous = Some(edit.clone());
    Ok(Ok(Some(edit)))
}

/// A hooks module's sandbox, at the version of the world it implements.
enum Versioned<V1: World<()>, V2: World<Lent>> {
    V1(Sandbox<V1, ()>),
    V2(Sandbox<V2, Lent>, Previous),
}

impl<V1: World<()>, V2: World<Lent>> Versioned<V1, V2> {
    fn new(module: Arc<LoadedModule>) -> Result<Self, LoadError> {
        Ok(
            if module.world.package == meseta_bindings::MASTER_HOOKS_V2.package {
                let mut sb = Sandbox::new(module, Lent::default)?;
                sb.start()?;
                Versioned::V2(sb, Previous::default())
            } else {
                let mut sb = Sandbox::new(module, || ())?;
                sb.start()?;
                Versioned::V1(sb)
            },
        )
    }
}

/// The parts every wrapper shares.
struct Module<V1: World<()>, V2: World<Lent>> {
    sandbox: Mutex<Versioned<V1, V2>>,
    module: Arc<LoadedModule>,
}

impl<V1: World<()>, V2: World<Lent>> Module<V1, V2> {
    fn new(module: Arc<LoadedModule>) -> Result<Self, LoadError> {
        Ok(Module {
            sandbox: Mutex::new(Versioned::new(module.clone())?),
            module,
        })
    }
}

/// A master-hooks module.
pub struct WasmMasterHooks(Module<MasterV1, MasterV2>);

impl WasmMasterHooks {
    /// The module's counters.
    pub fn counters(&self) -> meseta_runtime::CountersSnapshot {
        self.0.module.counters.snapshot()
    }

    pub fn new(module: Arc<LoadedModule>) -> Result<Self, LoadError> {
        Module::new(module).map(WasmMasterHooks)
    }

    pub fn name(&self) -> &str {
        &self.0.module.spec.name
    }

    pub fn record_fallback(&self) {
        self.0.module.counters.record_fallback();
    }

    pub fn launch_task_label_decorator(
        &self,
        task: &dyn TaskView,
        framework: &dyn FrameworkView,
        agent: &dyn AgentView,
    ) -> Result<Decision<Edit<Label>>, ModuleError> {
        const OP: &str = "launch-task-label-decorator";
        match &mut *lock(&self.0.sandbox) {
            Versioned::V2(sb, previous) => {
                let views = Views {
                    task: Some(task),
                    framework: Some(framework),
                    agent: Some(agent),
                    ..Views::default()
                };
                let r = lent(sb, OP, views, |w, s, h| {
                    w.meseta_hooks_master_hooks_api()
                        .call_launch_task_label_decorator(s, h, h, h)
                });
                let previous = &mut previous.labels;
                edit_answer(sb, OP, r, previous, check::labels, cv::label_from)
            }
            Versioned::V1(sb) => {
                let (t, f, a) = (
                    cv::task_to(task),
                    cv::framework_to(framework),
                    cv::agent_to(agent),
                );
                let r = sb.call(OP, |w, s| {
                    w.meseta_modules_master_hooks_api()
                        .call_launch_task_label_decorator(s, &t, &f, &a)
                })?;
                checked(
                    sb,
                    OP,
                    r,
                    |l| check::labels(l),
                    |l| Edit::Replace(cv::labels_from(l)),
                )
            }
        }
    }

    pub fn launch_task_resource_decorator(
        &self,
        task: &dyn TaskView,
        agent_resources: &[Resource],
    ) -> Result<Decision<Vec<Resource>>, ModuleError> {
        const OP: &str = "launch-task-resource-decorator";
        let r = cv::resources_to(agent_resources);
        match &mut *lock(&self.0.sandbox) {
            Versioned::V2(sb, _) => {
                let views = Views {
                    task: Some(task),
                    ..Views::default()
                };
                let out = lent(sb, OP, views, |w, s, h| {
                    w.meseta_hooks_master_hooks_api()
                        .call_launch_task_resource_decorator(s, h, &r)
                })?;
                checked(sb, OP, out, |r| check::resources(r), cv::resources_from)
            }
            Versioned::V1(sb) => {
                let t = cv::task_to(task);
                let out = sb.call(OP, |w, s| {
                    w.meseta_modules_master_hooks_api()
                        .call_launch_task_resource_decorator(s, &t, &r)
                })?;
                checked(sb, OP, out, |r| check::resources(r), cv::resources_from)
            }
        }
    }

    pub fn agent_lost(&self, agent: &dyn AgentView) -> Result<Result<(), String>, ModuleError> {
        const OP: &str = "agent-lost";
        match &mut *lock(&self.0.sandbox) {
            Versioned::V2(sb, _) => {
                let views = Views {
                    agent: Some(agent),
                    ..Views::default()
                };
                lent(sb, OP, views, |w, s, h| {
                    w.meseta_hooks_master_hooks_api().call_agent_lost(s, h)
                })
            }
            Versioned::V1(sb) => {
                let a = cv::agent_to(agent);
                sb.call(OP, |w, s| {
                    w.meseta_modules_master_hooks_api().call_agent_lost(s, &a)
                })
            }
        }
    }
}

/// An agent-hooks module.
pub struct WasmAgentHooks(Module<AgentV1, AgentV2>);

impl WasmAgentHooks {
    /// The module's counters.
    pub fn counters(&self) -> meseta_runtime::CountersSnapshot {
        self.0.module.counters.snapshot()
    }

    /// The loaded module behind the hooks.
    pub fn module(&self) -> &Arc<LoadedModule> {
        &self.0.module
    }

    pub fn new(module: Arc<LoadedModule>) -> Result<Self, LoadError> {
        Module::new(module).map(WasmAgentHooks)
    }

    pub fn name(&self) -> &str {
        &self.0.module.spec.name
    }

    pub fn record_fallback(&self) {
        self.0.module.counters.record_fallback();
    }

    pub fn run_task_label_decorator(
        &self,
        task: &dyn TaskView,
        executor: &dyn ExecutorView,
        framework: &dyn FrameworkView,
        agent: &dyn AgentView,
    ) -> Result<Decision<Edit<Label>>, ModuleError> {
        const OP: &str = "run-task-label-decorator";
        match &mut *lock(&self.0.sandbox) {
            Versioned::V2(sb, previous) => {
                let views = Views {
                    task: Some(task),
                    executor: Some(executor),
                    framework: Some(framework),
                    agent: Some(agent),
                    status: None,
                };
                let r = lent(sb, OP, views, |w, s, h| {
                    w.meseta_hooks_agent_hooks_api()
                        .call_run_task_label_decorator(s, h, h, h, h)
                });
                let previous = &mut previous.labels;
                edit_answer(sb, OP, r, previous, check::labels, cv::label_from)
            }
            Versioned::V1(sb) => {
                let (t, e, f, a) = (
                    cv::task_to(task),
                    cv::executor_to(executor),
                    cv::framework_to(framework),
                    cv::agent_to(agent),
                );
                let r = sb.call(OP, |w, s| {
                    w.meseta_modules_agent_hooks_api()
                        .call_run_task_label_decorator(s, &t, &e, &f, &a)
                })?;
                checked(
                    sb,
                    OP,
                    r,
                    |l| check::labels(l),
                    |l| Edit::Replace(cv::labels_from(l)),
                )
            }
        }
    }

    pub fn executor_environment_decorator(
        &self,
        executor: &dyn ExecutorView,
    ) -> Result<Decision<Edit<EnvVar>>, ModuleError> {
        const OP: &str = "executor-environment-decorator";
        let convert = |v: Vec<_>| v.into_iter().map(cv::env_from).collect();
        match &mut *lock(&self.0.sandbox) {
            Versioned::V2(sb, previous) => {
                let views = Views {
                    executor: Some(executor),
                    ..Views::default()
                };
                let r = lent(sb, OP, views, |w, s, h| {
                    w.meseta_hooks_agent_hooks_api()
                        .call_executor_environment_decorator(s, h)
                });
                let previous = &mut previous.environment;
                edit_answer(sb, OP, r, previous, check::environment, cv::env_from)
            }
            Versioned::V1(sb) => {
                let e = cv::executor_to(executor);
                let r = sb.call(OP, |w, s| {
                    w.meseta_modules_agent_hooks_api()
                        .call_executor_environment_decorator(s, &e)
                })?;
                checked(
                    sb,
                    OP,
                    r,
                    |v| check::environment(v),
                    |v| Edit::Replace(convert(v)),
                )
            }
        }
    }

    /// The decorated status; of a decorator's answer only the labels and the container status
    /// count (version 2 returns only those).
    pub fn task_status_decorator(
        &self,
        framework_id: &str,
        status: &dyn StatusView,
    ) -> Result<Decision<TaskStatus>, ModuleError> {
        const OP: &str = "task-status-decorator";
        match &mut *lock(&self.0.sandbox) {
            Versioned::V2(sb, _) => {
                let views = Views {
                    status: Some(status),
                    ..Views::default()
                };
                let r = lent(sb, OP, views, |w, s, h| {
                    w.meseta_hooks_agent_hooks_api()
                        .call_task_status_decorator(s, framework_id, h)
                })?;
                checked(
                    sb,
                    OP,
                    r,
                    |d| check::labels(&d.labels),
                    |d| TaskStatus {
                        labels: cv::labels_from(d.labels),
                        container_status: d.container_status.map(cv::container_status_from),
                        ..TaskStatus::default()
                    },
                )
            }
            Versioned::V1(sb) => {
                let st = cv::status_to(status);
                let r = sb.call(OP, |w, s| {
                    w.meseta_modules_agent_hooks_api()
                        .call_task_status_decorator(s, framework_id, &st)
                })?;
                checked(sb, OP, r, check::status, cv::status_from)
            }
        }
    }

    pub fn resources_decorator(
        &self,
        agent: &dyn AgentView,
    ) -> Result<Decision<Vec<Resource>>, ModuleError> {
        const OP: &str = "resources-decorator";
        match &mut *lock(&self.0.sandbox) {
            Versioned::V2(sb, _) => {
                let views = Views {
                    agent: Some(agent),
                    ..Views::default()
                };
                let r = lent(sb, OP, views, |w, s, h| {
                    w.meseta_hooks_agent_hooks_api()
                        .call_resources_decorator(s, h)
                })?;
                checked(sb, OP, r, |r| check::resources(r), cv::resources_from)
            }
            Versioned::V1(sb) => {
                let a = cv::agent_to(agent);
                let r = sb.call(OP, |w, s| {
                    w.meseta_modules_agent_hooks_api()
                        .call_resources_decorator(s, &a)
                })?;
                checked(sb, OP, r, |r| check::resources(r), cv::resources_from)
            }
        }
    }

    pub fn attributes_decorator(
        &self,
        agent: &dyn AgentView,
    ) -> Result<Decision<Vec<Attribute>>, ModuleError> {
        const OP: &str = "attributes-decorator";
        let convert = |v: Vec<_>| v.into_iter().map(cv::attribute_from).collect();
        match &mut *lock(&self.0.sandbox) {
            Versioned::V2(sb, _) => {
                let views = Views {
                    agent: Some(agent),
                    ..Views::default()
                };
                let r = lent(sb, OP, views, |w, s, h| {
                    w.meseta_hooks_agent_hooks_api()
                        .call_attributes_decorator(s, h)
                })?;
                checked(sb, OP, r, |a| check::attributes(a), convert)
            }
            Versioned::V1(sb) => {
                let a = cv::agent_to(agent);
                let r = sb.call(OP, |w, s| {
                    w.meseta_modules_agent_hooks_api()
                        .call_attributes_decorator(s, &a)
                })?;
                checked(sb, OP, r, |a| check::attributes(a), convert)
            }
        }
    }

    pub fn remove_executor(
        &self,
        framework: &dyn FrameworkView,
        executor: &dyn ExecutorView,
    ) -> Result<Result<(), String>, ModuleError> {
        const OP: &str = "remove-executor";
        match &mut *lock(&self.0.sandbox) {
            Versioned::V2(sb, _) => {
                let views = Views {
                    framework: Some(framework),
                    executor: Some(executor),
                    ..Views::default()
                };
                lent(sb, OP, views, |w, s, h| {
                    w.meseta_hooks_agent_hooks_api()
                        .call_remove_executor(s, h, h)
                })
            }
            Versioned::V1(sb) => {
                let (f, e) = (cv::framework_to(framework), cv::executor_to(executor));
                sb.call(OP, |w, s| {
                    w.meseta_modules_agent_hooks_api()
                        .call_remove_executor(s, &f, &e)
                })
            }
        }
    }

    pub fn post_fetch(
        &self,
        container_id: &str,
        directory: &str,
    ) -> Result<Result<(), String>, ModuleError> {
        const OP: &str = "post-fetch";
        match &mut *lock(&self.0.sandbox) {
            Versioned::V2(sb, _) => sb.call(OP, |w, s| {
                w.meseta_hooks_agent_hooks_api()
                    .call_post_fetch(s, container_id, directory)
            }),
            Versioned::V1(sb) => sb.call(OP, |w, s| {
                w.meseta_modules_agent_hooks_api()
                    .call_post_fetch(s, container_id, directory)
            }),
        }
    }
}
