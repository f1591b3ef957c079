//! The isolator kind: [`WasmIsolator`] drives an isolator module, handing it the cgroups
//! capability scoped to the container each call is about.
//!
//! Architecture invariant: during a call about container C, the module's cgroups imports can
//! reach C's cgroup only; any other handle is refused with `not-permitted` before the backend
//! (the agent's real cgroups) is touched.

use std::sync::Arc;

use meseta_bindings::CgroupsHost;
use meseta_bindings::convert as cv;
use meseta_bindings::isolator::Isolator as World;
use meseta_bindings::isolator::exports::meseta::modules::isolator_api as api;
use meseta_runtime::{InstanceContext, LoadError, LoadedModule, ModuleError, Sandbox};
use meseta_types::isolation::{
    CgroupError, Cgroups, ContainerConfig, ContainerId, CpuStats, LaunchInfo, Limitation,
    LimitationReason, MemoryStats, ResourceStatistics,
};
use meseta_types::resources::{EnvVar, Resource};

/// The store state of an isolator instance: the agent's cgroups backend and the current scope.
pub struct Scoped {
    backend: Box<dyn Cgroups + Send>,
    scope: Option<ContainerId>,
}

impl Scoped {
    fn allow(&self, container: ContainerId) -> Result<(), CgroupError> {
        match self.scope {
            Some(c) if c == container => Ok(()),
            Some(c) => Err(CgroupError::NotPermitted(format!(
                "container {container} is not the container of this call ({c})"
            ))),
            None => Err(CgroupError::NotPermitted(
                "this call is not about a container".into(),
            )),
        }
    }
}

impl Cgroups for Scoped {
    fn set_cpu_shares(&mut self, c: ContainerId, shares: u64) -> Result<(), CgroupError> {
        self.allow(c)?;
        self.backend.set_cpu_shares(c, shares)
    }
    fn set_cpu_quota(
        &mut self,
        c: ContainerId,
        period_us: u64,
        quota_us: Option<u64>,
    ) -> Result<(), CgroupError> {
        self.allow(c)?;
        self.backend.set_cpu_quota(c, period_us, quota_us)
    }
    fn set_memory_limit(&mut self, c: ContainerId, bytes: u64) -> Result<(), CgroupError> {
        self.allow(c)?;
        self.backend.set_memory_limit(c, bytes)
    }
    fn cpu_stats(&mut self, c: ContainerId) -> Result<CpuStats, CgroupError> {
        self.allow(c)?;
        self.backend.cpu_stats(c)
    }
    fn memory_stats(&mut self, c: ContainerId) -> Result<MemoryStats, CgroupError> {
        self.allow(c)?;
        self.backend.memory_stats(c)
    }
    fn oom_events(&mut self, c: ContainerId) -> Result<u64, CgroupError> {
        self.allow(c)?;
        self.backend.oom_events(c)
    }
}

impl CgroupsHost for Scoped {
    fn cgroups(&mut self) -> &mut dyn Cgroups {
        self
    }
}

pub struct WasmIsolator {
    sandbox: Sandbox<World, Scoped>,
}

fn config_to(c: &ContainerConfig) -> api::ContainerConfig {
    api::ContainerConfig {
        container: c.container,
        name: c.name.clone(),
        framework_id: c.framework_id.clone(),
        executor_id: c.executor_id.clone(),
        resources: cv::resources_to(&c.resources),
        user: c.user.clone(),
    }
}

impl WasmIsolator {
    /// `backend` makes the agent's cgroups backend for each fresh instance.
    pub fn new(
        module: Arc<LoadedModule>,
        backend: impl Fn() -> Box<dyn Cgroups + Send> + Send + Sync + 'static,
    ) -> Result<Self, LoadError> {
        Self::with_context(module, backend, InstanceContext::default())
    }

    /// Like [`new`](Self::new), with what the host adds to the instance (grants, parameters).
    /// The first instance is created and `init` runs, so a module that cannot work here says so
    /// now.
    pub fn with_context(
        module: Arc<LoadedModule>,
        backend: impl Fn() -> Box<dyn Cgroups + Send> + Send + Sync + 'static,
        context: InstanceContext,
    ) -> Result<Self, LoadError> {
        let mut sandbox = Sandbox::new(module, move || Scoped {
            backend: backend(),
            scope: None,
        })?
        .with_context(context);
        sandbox.start()?;
        Ok(WasmIsolator { sandbox })
    }

    /// Another instance of the same module with its own `context` (for example one container's
    /// sandbox view), sharing the linked component. Started.
    pub fn sibling(&self, context: InstanceContext) -> Result<Self, LoadError> {
        let mut sandbox = self.sandbox.sibling(context);
        sandbox.start()?;
        Ok(WasmIsolator { sandbox })
    }

    /// The module's failure policy.
    pub fn policy(&self) -> meseta_runtime::FailurePolicy {
        self.sandbox.policy()
    }

    pub fn module(&self) -> &Arc<LoadedModule> {
        self.sandbox.module()
    }

    /// Runs `f` with the cgroups capability scoped to `container`.
    fn scoped<R>(
        &mut self,
        op: &'static str,
        container: Option<ContainerId>,
        f: impl FnOnce(
            &api::Guest,
            &mut wasmtime::Store<meseta_runtime::StoreState<Scoped>>,
        ) -> wasmtime::Result<R>,
    ) -> Result<R, ModuleError> {
        self.sandbox.call(op, |w, s| {
            s.data_mut().data.scope = container;
            let r = f(w.meseta_modules_isolator_api(), s);
            s.data_mut().data.scope = None;
            r
        })
    }

    pub fn recover(
        &mut self,
        containers: &[ContainerConfig],
    ) -> Result<Result<(), String>, ModuleError> {
        let cs: Vec<api::ContainerConfig> = containers.iter().map(config_to).collect();
        self.scoped("recover", None, |a, s| a.call_recover(s, &cs))
    }

    pub fn prepare(
        &mut self,
        config: &ContainerConfig,
    ) -> Result<Result<LaunchInfo, String>, ModuleError> {
        let c = config_to(config);
        let r = self.scoped("prepare", Some(config.container), |a, s| {
            a.call_prepare(s, &c)
        })?;
        match r {
            Ok(info) => {
                let env: Vec<_> = info.environment;
                if let Some(bad) = env
                    .iter()
                    .find(|e| e.name.is_empty() || e.name.contains(['=', '\0']))
                {
                    return Err(self.sandbox.reject(
                        "prepare",
                        format!(
                            "bad environment variable name '{}'",
                            bad.name.escape_debug()
                        ),
                    ));
                }
                Ok(Ok(LaunchInfo {
                    environment: env.into_iter().map(cv::env_from).collect::<Vec<EnvVar>>(),
                }))
            }
            Err(e) => Ok(Err(e)),
        }
    }

    pub fn isolate(
        &mut self,
        container: ContainerId,
        pid: u32,
    ) -> Result<Result<(), String>, ModuleError> {
        self.scoped("isolate", Some(container), |a, s| {
            a.call_isolate(s, container, pid)
        })
    }

    pub fn watch(&mut self, container: ContainerId) -> Result<Option<Limitation>, ModuleError> {
        let r = self.scoped("watch", Some(container), |a, s| a.call_watch(s, container))?;
        Ok(r.map(|l| Limitation {
            reason: match l.reason {
                api::LimitationReason::Memory => LimitationReason::Memory,
                api::LimitationReason::Disk => LimitationReason::Disk,
                api::LimitationReason::Cpu => LimitationReason::Cpu,
                api::LimitationReason::Other => LimitationReason::Other,
            },
            message: l.message,
            resources: cv::resources_from(l.resources),
        }))
    }

    pub fn update(
        &mut self,
        container: ContainerId,
        resources: &[Resource],
    ) -> Result<Result<(), String>, ModuleError> {
        let r = cv::resources_to(resources);
        self.scoped("update", Some(container), |a, s| {
            a.call_update(s, container, &r)
        })
    }

    pub fn usage(
        &mut self,
        container: ContainerId,
    ) -> Result<Result<ResourceStatistics, String>, ModuleError> {
        let r = self.scoped("usage", Some(container), |a, s| a.call_usage(s, container))?;
        Ok(r.map(cv::statistics_from))
    }

    pub fn cleanup(&mut self, container: ContainerId) -> Result<Result<(), String>, ModuleError> {
        self.scoped("cleanup", Some(container), |a, s| {
            a.call_cleanup(s, container)
        })
    }
}
