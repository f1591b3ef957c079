//! Hook modules as WebAssembly components.

use std::sync::{Arc, Mutex, MutexGuard};

use meseta_bindings::agent_hooks::AgentHooks as AgentWorld;
use meseta_bindings::convert as cv;
use meseta_bindings::master_hooks::MasterHooks as MasterWorld;
use meseta_runtime::{LoadError, LoadedModule, ModuleError, Sandbox};
use meseta_types::hooks::{AgentInfo, Decision, ExecutorInfo, FrameworkInfo, TaskInfo, TaskStatus};
use meseta_types::resources::{Attribute, EnvVar, Label, Resource};

use crate::check;

fn lock<W: meseta_runtime::World<()>>(m: &Mutex<Sandbox<W, ()>>) -> MutexGuard<'_, Sandbox<W, ()>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Applies a check to a `Some` result; a failed check is a module fault.
fn checked<W: meseta_runtime::World<()>, T, U>(
    sb: &mut Sandbox<W, ()>,
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

/// A master-hooks module.
pub struct WasmMasterHooks {
    sandbox: Mutex<Sandbox<MasterWorld, ()>>,
    name: String,
}

impl WasmMasterHooks {
    /// The module's counters.
    pub fn counters(&self) -> meseta_runtime::CountersSnapshot {
        lock(&self.sandbox).module().counters.snapshot()
    }

    pub fn new(module: Arc<LoadedModule>) -> Result<Self, LoadError> {
        let name = module.spec.name.clone();
        let mut sandbox = Sandbox::new(module, || ())?;
        sandbox.start()?;
        Ok(WasmMasterHooks {
            sandbox: Mutex::new(sandbox),
            name,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn record_fallback(&self) {
        lock(&self.sandbox).record_fallback();
    }

    pub fn launch_task_label_decorator(
        &self,
        task: &TaskInfo,
        framework: &FrameworkInfo,
        agent: &AgentInfo,
    ) -> Result<Decision<Vec<Label>>, ModuleError> {
        const OP: &str = "launch-task-label-decorator";
        let (t, f, a) = (
            cv::task_to(task),
            cv::framework_to(framework),
            cv::agent_to(agent),
        );
        let mut sb = lock(&self.sandbox);
        let r = sb.call(OP, |w, s| {
            w.meseta_modules_master_hooks_api()
                .call_launch_task_label_decorator(s, &t, &f, &a)
        })?;
        checked(&mut sb, OP, r, |l| check::labels(l), cv::labels_from)
    }

    pub fn launch_task_resource_decorator(
        &self,
        task: &TaskInfo,
        agent_resources: &[Resource],
    ) -> Result<Decision<Vec<Resource>>, ModuleError> {
        const OP: &str = "launch-task-resource-decorator";
        let (t, r) = (cv::task_to(task), cv::resources_to(agent_resources));
        let mut sb = lock(&self.sandbox);
        let out = sb.call(OP, |w, s| {
            w.meseta_modules_master_hooks_api()
                .call_launch_task_resource_decorator(s, &t, &r)
        })?;
        checked(
            &mut sb,
            OP,
            out,
            |r| check::resources(r),
            cv::resources_from,
        )
    }

    pub fn agent_lost(&self, agent: &AgentInfo) -> Result<Result<(), String>, ModuleError> {
        let a = cv::agent_to(agent);
        lock(&self.sandbox).call("agent-lost", |w, s| {
            w.meseta_modules_master_hooks_api().call_agent_lost(s, &a)
        })
    }
}

/// An agent-hooks module.
pub struct WasmAgentHooks {
    sandbox: Mutex<Sandbox<AgentWorld, ()>>,
    name: String,
}

impl WasmAgentHooks {
    /// The module's counters.
    pub fn counters(&self) -> meseta_runtime::CountersSnapshot {
        lock(&self.sandbox).module().counters.snapshot()
    }

    pub fn new(module: Arc<LoadedModule>) -> Result<Self, LoadError> {
        let name = module.spec.name.clone();
        let mut sandbox = Sandbox::new(module, || ())?;
        sandbox.start()?;
        Ok(WasmAgentHooks {
            sandbox: Mutex::new(sandbox),
            name,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn record_fallback(&self) {
        lock(&self.sandbox).record_fallback();
    }

    pub fn run_task_label_decorator(
        &self,
        task: &TaskInfo,
        executor: &ExecutorInfo,
        framework: &FrameworkInfo,
        agent: &AgentInfo,
    ) -> Result<Decision<Vec<Label>>, ModuleError> {
        const OP: &str = "run-task-label-decorator";
        let (t, e, f, a) = (
            cv::task_to(task),
            cv::executor_to(executor),
            cv::framework_to(framework),
            cv::agent_to(agent),
        );
        let mut sb = lock(&self.sandbox);
        let r = sb.call(OP, |w, s| {
            w.meseta_modules_agent_hooks_api()
                .call_run_task_label_decorator(s, &t, &e, &f, &a)
        })?;
        checked(&mut sb, OP, r, |l| check::labels(l), cv::labels_from)
    }

    pub fn executor_environment_decorator(
        &self,
        executor: &ExecutorInfo,
    ) -> Result<Decision<Vec<EnvVar>>, ModuleError> {
        const OP: &str = "executor-environment-decorator";
        let e = cv::executor_to(executor);
        let mut sb = lock(&self.sandbox);
        let r = sb.call(OP, |w, s| {
            w.meseta_modules_agent_hooks_api()
                .call_executor_environment_decorator(s, &e)
        })?;
        checked(
            &mut sb,
            OP,
            r,
            |v| check::environment(v),
            |v| v.into_iter().map(cv::env_from).collect(),
        )
    }

    pub fn task_status_decorator(
        &self,
        framework_id: &str,
        status: &TaskStatus,
    ) -> Result<Decision<TaskStatus>, ModuleError> {
        const OP: &str = "task-status-decorator";
        let st = cv::status_to(status);
        let mut sb = lock(&self.sandbox);
        let r = sb.call(OP, |w, s| {
            w.meseta_modules_agent_hooks_api()
                .call_task_status_decorator(s, framework_id, &st)
        })?;
        checked(&mut sb, OP, r, check::status, cv::status_from)
    }

    pub fn resources_decorator(
        &self,
        agent: &AgentInfo,
    ) -> Result<Decision<Vec<Resource>>, ModuleError> {
        const OP: &str = "resources-decorator";
        let a = cv::agent_to(agent);
        let mut sb = lock(&self.sandbox);
        let r = sb.call(OP, |w, s| {
            w.meseta_modules_agent_hooks_api()
                .call_resources_decorator(s, &a)
        })?;
        checked(&mut sb, OP, r, |r| check::resources(r), cv::resources_from)
    }

    pub fn attributes_decorator(
        &self,
        agent: &AgentInfo,
    ) -> Result<Decision<Vec<Attribute>>, ModuleError> {
        const OP: &str = "attributes-decorator";
        let a = cv::agent_to(agent);
        let mut sb = lock(&self.sandbox);
        let r = sb.call(OP, |w, s| {
            w.meseta_modules_agent_hooks_api()
                .call_attributes_decorator(s, &a)
        })?;
        checked(
            &mut sb,
            OP,
            r,
            |a| check::attributes(a),
            |v| v.into_iter().map(cv::attribute_from).collect(),
        )
    }

    pub fn remove_executor(
        &self,
        framework: &FrameworkInfo,
        executor: &ExecutorInfo,
    ) -> Result<Result<(), String>, ModuleError> {
        let (f, e) = (cv::framework_to(framework), cv::executor_to(executor));
        lock(&self.sandbox).call("remove-executor", |w, s| {
            w.meseta_modules_agent_hooks_api()
                .call_remove_executor(s, &f, &e)
        })
    }

    pub fn post_fetch(
        &self,
        container_id: &str,
        directory: &str,
    ) -> Result<Result<(), String>, ModuleError> {
        lock(&self.sandbox).call("post-fetch", |w, s| {
            w.meseta_modules_agent_hooks_api()
                .call_post_fetch(s, container_id, directory)
        })
    }
}
