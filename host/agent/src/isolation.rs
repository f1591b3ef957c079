//! Isolation: the isolators of `--isolation`, run around every container as Mesos runs them.
//!
//! * `prepare` in `--isolation` order (the container's cgroups are created first, when any
//!   isolator needs them), then the process starts inside its cgroups, then `isolate` for all;
//! * `watch` is polled every [`IsolationOptions::watch_interval`] while the container runs, and
//!   once more when it ends: a limitation ends the container and becomes the task's reason;
//! * `update` when the container's resources change, `usage` for `/monitor/statistics` and the
//!   resource estimator, `cleanup` in reverse order once it has ended.
//!
//! Built-in isolators: `posix/cpu` and `posix/mem` report the cpu time and resident memory of
//! the container's processes from `/proc` (Mesos' POSIX isolators; they enforce nothing).
//! Module isolators run as Wasm components, **one instance per container**: the instance sees
//! the container's sandbox read-only at `/sandbox` (a WASI preopen over cap-std) and reaches
//! cgroups only through the capability the isolator host scopes to that container. So a module
//! can name neither another container's cgroup nor a host path.
//!
//! A module fault (trap, deadline, memory cap, nonsense output) is counted on the module and
//! handled by its failure policy: under `fallback` the container goes on without that
//! isolator; under `fail-closed` and `reload` a fault in `prepare` or `isolate` fails the
//! launch. Faults in `watch`, `usage`, `update` and `cleanup` are logged and skipped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use meseta_isolator::WasmIsolator;
use meseta_runtime::{FailurePolicy, Grant, InstanceContext, LoadError, LoadedModule};
use meseta_types::isolation::{
    CgroupError, Cgroups, ContainerConfig as IsolatorConfig, ContainerId, CpuStats, Limitation,
    MemoryStats, ResourceStatistics,
};
use meseta_types::resources::{EnvVar, Resource};

use crate::cgroups::CgroupHost;

/// Where an isolator module sees its container's sandbox.
pub const SANDBOX_GUEST_PATH: &str = "/sandbox";

/// One entry of `--isolation`.
#[derive(Clone)]
pub enum IsolatorSpec {
    PosixCpu,
    PosixMem,
    Module(Arc<LoadedModule>),
}

impl std::fmt::Debug for IsolatorSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl IsolatorSpec {
    pub fn name(&self) -> String {
        match self {
            IsolatorSpec::PosixCpu => "posix/cpu".into(),
            IsolatorSpec::PosixMem => "posix/mem".into(),
            IsolatorSpec::Module(m) => m.spec.name.clone(),
        }
    }
}

/// The agent flags isolators read.
#[derive(Clone, Debug)]
pub struct IsolationOptions {
    /// `--cgroups_root`: the containers' cgroups live under it.
    pub cgroups_root: String,
    /// `--cgroups_enable_cfs`: hard cpu limits (given to modules as parameter `cfs_quota`).
    pub cgroups_enable_cfs: bool,
    /// `--container_disk_watch_interval` (parameter `watch_interval` of module isolators).
    pub container_disk_watch_interval: Duration,
    /// How often a running container's isolators are asked for limitations.
    pub watch_interval: Duration,
}

impl Default for IsolationOptions {
    fn default() -> Self {
        IsolationOptions {
            cgroups_root: "meseta".into(),
            cgroups_enable_cfs: false,
            container_disk_watch_interval: Duration::from_secs(15),
            watch_interval: Duration::from_millis(250),
        }
    }
}

/// Why isolation could not be set up at agent start-up.
#[derive(Debug, thiserror::Error)]
pub enum IsolationError {
    #[error("--isolation: module '{module}' is of kind '{kind}', not an isolator")]
    NotAnIsolator { module: String, kind: String },
    #[error("--isolation: isolator '{module}' cannot start on this agent: {source}")]
    Start {
        module: String,
        #[source]
        source: Box<LoadError>,
    },
}

/// What a container needs before its process starts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Prepared {
    /// Variables the isolators add to the environment.
    pub environment: Vec<(String, String)>,
    /// The `cgroup.procs` files the process joins before `exec`.
    pub cgroups: Vec<PathBuf>,
}

/// What isolator modules are told a container holds: its resources without its persistent
/// volumes. A module sees resources without their disk info, so it would count a volume's
/// size as sandbox disk (`isolator-disk` limits the sandbox to it); volumes are accounted
/// apart from the sandbox, as in Mesos (their data is behind a link the sandbox's measure
/// does not follow).
pub fn sandbox_resources(resources: &[Resource]) -> Vec<Resource> {
    resources
        .iter()
        .filter(|r| r.disk.is_none())
        .cloned()
        .collect()
}

/// The container as isolators see it.
#[derive(Clone, Debug, Default)]
pub struct ContainerInfo {
    pub framework_id: String,
    pub executor_id: String,
    pub resources: Vec<Resource>,
    pub user: Option<String>,
    pub sandbox: PathBuf,
}

enum Isolator {
    PosixCpu,
    PosixMem,
    Module {
        name: String,
        /// The instance started at agent start-up; containers' instances are its siblings.
        template: Box<Mutex<WasmIsolator>>,
    },
}

struct Live {
    id: ContainerId,
    info: ContainerInfo,
    pid: Option<u32>,
    /// Per isolator (by index): the module instance, `None` for built-ins and for modules the
    /// container goes on without.
    instances: Vec<Option<WasmIsolator>>,
    limitation: Option<Limitation>,
}

/// The isolators of one agent.
pub struct Isolation {
    isolators: Vec<Isolator>,
    modules: Vec<Arc<LoadedModule>>,
    cgroups: Option<Arc<CgroupHost>>,
    parameters: Vec<(String, String)>,
    options: IsolationOptions,
    next_id: AtomicU32,
    live: Mutex<HashMap<String, Arc<Mutex<Live>>>>,
}

impl std::fmt::Debug for Isolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Isolation")
            .field("isolators", &self.names())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A cgroups backend for a machine without usable cgroups: every call says why.
struct NoCgroups(String);

impl Cgroups for NoCgroups {
    fn set_cpu_shares(&mut self, _: ContainerId, _: u64) -> Result<(), CgroupError> {
        Err(CgroupError::Unsupported(self.0.clone()))
    }
    fn set_cpu_quota(&mut self, _: ContainerId, _: u64, _: Option<u64>) -> Result<(), CgroupError> {
        Err(CgroupError::Unsupported(self.0.clone()))
    }
    fn set_memory_limit(&mut self, _: ContainerId, _: u64) -> Result<(), CgroupError> {
        Err(CgroupError::Unsupported(self.0.clone()))
    }
    fn cpu_stats(&mut self, _: ContainerId) -> Result<CpuStats, CgroupError> {
        Err(CgroupError::Unsupported(self.0.clone()))
    }
    fn memory_stats(&mut self, _: ContainerId) -> Result<MemoryStats, CgroupError> {
        Err(CgroupError::Unsupported(self.0.clone()))
    }
    fn oom_events(&mut self, _: ContainerId) -> Result<u64, CgroupError> {
        Err(CgroupError::Unsupported(self.0.clone()))
    }
}

impl Isolation {
    /// Sets up `--isolation`. Module isolators are started once here, with the parameters the
    /// agent supplies (`cgroups` = `v1`, `v2` or `none: <why>`, `cfs_quota`, `watch_interval`),
    /// so one that cannot work on this machine (an isolator that needs cgroups where there are
    /// none) stops the agent with its own message.
    pub fn new(specs: &[IsolatorSpec], options: IsolationOptions) -> Result<Self, IsolationError> {
        let has_modules = specs.iter().any(|s| matches!(s, IsolatorSpec::Module(_)));
        let (cgroups, cgroups_param) = if has_modules {
            match CgroupHost::detect(&options.cgroups_root) {
                Ok(host) => {
                    let v = host.version().as_str().to_string();
                    (Some(host), v)
                }
                Err(why) => (None, format!("none: {why}")),
            }
        } else {
            (None, "none: no isolator module needs them".to_string())
        };
        let parameters = vec![
            ("cgroups".to_string(), cgroups_param.clone()),
            (
                "cfs_quota".to_string(),
                options.cgroups_enable_cfs.to_string(),
            ),
            (
                "watch_interval".to_string(),
                format!("{}ms", options.container_disk_watch_interval.as_millis()),
            ),
            ("sandbox".to_string(), SANDBOX_GUEST_PATH.to_string()),
        ];
        let mut isolators = Vec::with_capacity(specs.len());
        for spec in specs {
            isolators.push(match spec {
                IsolatorSpec::PosixCpu => Isolator::PosixCpu,
                IsolatorSpec::PosixMem => Isolator::PosixMem,
                IsolatorSpec::Module(m) => {
                    if m.world.kind != "isolator" {
                        return Err(IsolationError::NotAnIsolator {
                            module: m.spec.name.clone(),
                            kind: m.world.kind.to_string(),
                        });
                    }
                    let backend = backend_factory(cgroups.clone(), &cgroups_param);
                    let context = InstanceContext {
                        grants: Vec::new(),
                        parameters: parameters.clone(),
                    };
                    let template = WasmIsolator::with_context(Arc::clone(m), backend, context)
                        .map_err(|e| IsolationError::Start {
                            module: m.spec.name.clone(),
                            source: Box::new(e),
                        })?;
                    Isolator::Module {
                        name: m.spec.name.clone(),
                        template: Box::new(Mutex::new(template)),
                    }
                }
            });
        }
        let modules = specs
            .iter()
            .filter_map(|s| match s {
                IsolatorSpec::Module(m) => Some(Arc::clone(m)),
                _ => None,
            })
            .collect();
        Ok(Isolation {
            isolators,
            modules,
            cgroups,
            parameters,
            options,
            next_id: AtomicU32::new(1),
            live: Mutex::new(HashMap::new()),
        })
    }

    /// The isolators' names, in order.
    pub fn names(&self) -> Vec<String> {
        self.isolators
            .iter()
            .map(|i| match i {
                Isolator::PosixCpu => "posix/cpu".to_string(),
                Isolator::PosixMem => "posix/mem".to_string(),
                Isolator::Module { name, .. } => name.clone(),
            })
            .collect()
    }

    /// The isolator modules, for their counters.
    pub fn modules(&self) -> &[Arc<LoadedModule>] {
        &self.modules
    }

    pub fn is_empty(&self) -> bool {
        self.isolators.is_empty()
    }

    pub fn watch_interval(&self) -> Duration {
        self.options.watch_interval
    }

    fn get(&self, container: &str) -> Option<Arc<Mutex<Live>>> {
        lock(&self.live).get(container).cloned()
    }

    /// Runs `prepare` of every isolator in order. On an error nothing is left behind.
    /// Blocking: call it off the async runtime.
    pub fn prepare(&self, container: &str, info: ContainerInfo) -> Result<Prepared, String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut prepared = Prepared::default();
        if let Some(cg) = &self.cgroups {
            prepared.cgroups = cg.create(id, container)?;
        }
        let live = Arc::new(Mutex::new(Live {
            id,
            info: info.clone(),
            pid: None,
            instances: Vec::with_capacity(self.isolators.len()),
            limitation: None,
        }));
        lock(&self.live).insert(container.to_string(), Arc::clone(&live));
        let config = IsolatorConfig {
            container: id,
            name: container.to_string(),
            framework_id: info.framework_id.clone(),
            executor_id: info.executor_id.clone(),
            resources: sandbox_resources(&info.resources),
            user: info.user.clone(),
        };
        let result = self.prepare_each(&live, &config, &info.sandbox);
        match result {
            Ok(env) => {
                prepared.environment = env
                    .into_iter()
                    .map(|EnvVar { name, value }| (name, value))
                    .collect();
                Ok(prepared)
            }
            Err(e) => {
                self.cleanup(container);
                Err(e)
            }
        }
    }

    fn prepare_each(
        &self,
        live: &Mutex<Live>,
        config: &IsolatorConfig,
        sandbox: &Path,
    ) -> Result<Vec<EnvVar>, String> {
        let mut env = Vec::new();
        for isolator in &self.isolators {
            let Isolator::Module { name, template } = isolator else {
                lock(live).instances.push(None);
                continue;
            };
            let context = InstanceContext {
                grants: vec![Grant {
                    host_path: sandbox.to_path_buf(),
                    guest_path: SANDBOX_GUEST_PATH.to_string(),
                    read_only: true,
                }],
                parameters: self.parameters.clone(),
            };
            let started = lock(template).sibling(context);
            let mut instance = match started {
                Ok(i) => i,
                Err(e) => {
                    let policy = lock(template).policy();
                    if policy == FailurePolicy::Fallback {
                        tracing::warn!(isolator = %name, error = %e,
                            "cannot start the isolator for this container; going on without it (fallback)");
                        lock(live).instances.push(None);
                        continue;
                    }
                    return Err(format!("isolator '{name}' cannot start: {e}"));
                }
            };
            match instance.prepare(config) {
                Ok(Ok(info)) => {
                    env.extend(info.environment);
                    lock(live).instances.push(Some(instance));
                }
                Ok(Err(e)) => {
                    lock(live).instances.push(Some(instance));
                    return Err(format!("isolator '{name}' refused to prepare: {e}"));
                }
                Err(fault) if fault.policy == FailurePolicy::Fallback => {
                    tracing::warn!(isolator = %name, error = %fault,
                        "going on without this isolator for the container (fallback)");
                    lock(live).instances.push(None);
                }
                Err(fault) => {
                    lock(live).instances.push(None);
                    return Err(format!("isolator '{name}' failed: {fault}"));
                }
            }
        }
        Ok(env)
    }

    /// Runs `isolate` of every isolator with the container's pid. Blocking.
    pub fn isolate(&self, container: &str, pid: u32) -> Result<(), String> {
        let Some(live) = self.get(container) else {
            return Ok(());
        };
        let mut live = lock(&live);
        live.pid = Some(pid);
        let id = live.id;
        for (i, slot) in live.instances.iter_mut().enumerate() {
            let Some(instance) = slot else { continue };
            let name = self.name_of(i);
            match instance.isolate(id, pid) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(format!("isolator '{name}' failed to isolate: {e}")),
                Err(fault) if fault.policy == FailurePolicy::Fallback => {
                    tracing::warn!(isolator = %name, error = %fault,
                        "going on without this isolator for the container (fallback)");
                    *slot = None;
                }
                Err(fault) => return Err(format!("isolator '{name}' failed: {fault}")),
            }
        }
        Ok(())
    }

    fn name_of(&self, i: usize) -> String {
        self.names().get(i).cloned().unwrap_or_default()
    }

    /// Asks every isolator whether the container hit a limit; the first limitation found is
    /// kept and returned from then on. Blocking.
    pub fn watch(&self, container: &str) -> Option<Limitation> {
        let live = self.get(container)?;
        let mut live = lock(&live);
        if let Some(l) = &live.limitation {
            return Some(l.clone());
        }
        let id = live.id;
        let mut found = None;
        for (i, slot) in live.instances.iter_mut().enumerate() {
            let Some(instance) = slot else { continue };
            match instance.watch(id) {
                Ok(Some(l)) => {
                    tracing::info!(container, isolator = %self.name_of(i), reason = ?l.reason,
                        message = %l.message, "container limitation");
                    found = Some(l);
                    break;
                }
                Ok(None) => {}
                Err(fault) => {
                    tracing::debug!(isolator = %self.name_of(i), error = %fault, "watch failed");
                }
            }
        }
        live.limitation.clone_from(&found);
        found
    }

    /// Gives every isolator the container's new resources. Blocking.
    pub fn update(&self, container: &str, resources: &[Resource]) {
        let Some(live) = self.get(container) else {
            return;
        };
        let mut live = lock(&live);
        live.info.resources = resources.to_vec();
        let id = live.id;
        let resources = sandbox_resources(resources);
        for (i, slot) in live.instances.iter_mut().enumerate() {
            let Some(instance) = slot else { continue };
            match instance.update(id, &resources) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(isolator = %self.name_of(i), error = %e, "update refused")
                }
                Err(fault) => {
                    tracing::warn!(isolator = %self.name_of(i), error = %fault, "update failed")
                }
            }
        }
    }

    /// The container's statistics: built-ins first, then each module's fields where no earlier
    /// isolator gave that field. `None` for an unknown container. Blocking.
    pub fn usage(&self, container: &str) -> Option<ResourceStatistics> {
        let live = self.get(container)?;
        let mut live = lock(&live);
        let id = live.id;
        let pid = live.pid;
        let mut stats = ResourceStatistics::default();
        let mut posix: Option<PosixUsage> = None;
        for (i, isolator) in self.isolators.iter().enumerate() {
            match isolator {
                Isolator::PosixCpu | Isolator::PosixMem => {
                    // one scan of /proc serves both built-ins
                    if posix.is_none() {
                        posix = pid.map(posix_usage);
                    }
                    let Some(p) = posix else { continue };
                    let from = if matches!(isolator, Isolator::PosixCpu) {
                        ResourceStatistics {
                            cpus_user_time_secs: Some(p.user_secs),
                            cpus_system_time_secs: Some(p.system_secs),
                            processes: Some(p.processes),
                            threads: Some(p.threads),
                            ..Default::default()
                        }
                    } else {
                        ResourceStatistics {
                            mem_rss_bytes: Some(p.rss_bytes),
                            ..Default::default()
                        }
                    };
                    stats.fill_from(&from);
                }
                Isolator::Module { name, .. } => {
                    let Some(Some(instance)) = live.instances.get_mut(i) else {
                        continue;
                    };
                    match instance.usage(id) {
                        Ok(Ok(s)) => stats.fill_from(&s),
                        Ok(Err(e)) => tracing::debug!(isolator = %name, error = %e, "no usage"),
                        Err(fault) => {
                            tracing::debug!(isolator = %name, error = %fault, "usage failed")
                        }
                    }
                }
            }
        }
        Some(stats)
    }

    /// Recovery after an agent restart: the cgroups of the containers still running
    /// (`containers`: container id and what isolators know of it) are adopted and every other
    /// container cgroup under the root is destroyed; each isolator module gets a fresh
    /// instance per recovered container and its `recover` with that container. A container
    /// whose cgroup is gone (or that an isolator refuses) goes on without isolation. Blocking.
    pub fn recover(&self, containers: &[(String, ContainerInfo)]) {
        let ids: Vec<(ContainerId, String)> = containers
            .iter()
            .map(|(name, _)| (self.next_id.fetch_add(1, Ordering::Relaxed), name.clone()))
            .collect();
        let adopted = match &self.cgroups {
            Some(cg) => cg.recover(&ids),
            None => containers.iter().map(|(n, _)| n.clone()).collect(),
        };
        for ((id, name), (_, info)) in ids.into_iter().zip(containers) {
            if !adopted.contains(&name) {
                tracing::warn!(container = %name, "a recovered container has no cgroup left; it runs without isolation");
                continue;
            }
            let config = IsolatorConfig {
                container: id,
                name: name.clone(),
                framework_id: info.framework_id.clone(),
                executor_id: info.executor_id.clone(),
                resources: info.resources.clone(),
                user: info.user.clone(),
            };
            let mut instances = Vec::with_capacity(self.isolators.len());
            for (i, isolator) in self.isolators.iter().enumerate() {
                let Isolator::Module { template, .. } = isolator else {
                    instances.push(None);
                    continue;
                };
                let context = InstanceContext {
                    grants: vec![Grant {
                        host_path: info.sandbox.clone(),
                        guest_path: SANDBOX_GUEST_PATH.to_string(),
                        read_only: true,
                    }],
                    parameters: self.parameters.clone(),
                };
                let started = lock(template).sibling(context);
                let recovered = match started {
                    Ok(mut instance) => match instance.recover(std::slice::from_ref(&config)) {
                        Ok(Ok(())) => Some(instance),
                        Ok(Err(e)) => {
                            tracing::warn!(isolator = %self.name_of(i), container = %name, error = %e,
                                "the isolator refused to recover the container; going on without it");
                            None
                        }
                        Err(fault) => {
                            tracing::warn!(isolator = %self.name_of(i), container = %name, error = %fault,
                                "the isolator failed to recover the container; going on without it");
                            None
                        }
                    },
                    Err(e) => {
                        tracing::warn!(isolator = %self.name_of(i), container = %name, error = %e,
                            "cannot start the isolator for a recovered container");
                        None
                    }
                };
                instances.push(recovered);
            }
            let live = Live {
                id,
                info: info.clone(),
                pid: None,
                instances,
                limitation: None,
            };
            lock(&self.live).insert(name, Arc::new(Mutex::new(live)));
        }
    }

    /// Runs `cleanup` of every isolator in reverse order, then removes the container's
    /// cgroups. Blocking.
    pub fn cleanup(&self, container: &str) {
        let Some(live) = lock(&self.live).remove(container) else {
            return;
        };
        let mut live = lock(&live);
        let id = live.id;
        let n = live.instances.len();
        for i in (0..n).rev() {
            let Some(Some(instance)) = live.instances.get_mut(i) else {
                continue;
            };
            match instance.cleanup(id) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(isolator = %self.name_of(i), error = %e, "cleanup refused")
                }
                Err(fault) => {
                    tracing::warn!(isolator = %self.name_of(i), error = %fault, "cleanup failed")
                }
            }
        }
        live.instances.clear();
        if let Some(cg) = &self.cgroups {
            cg.destroy(id);
        }
    }
}

fn backend_factory(
    cgroups: Option<Arc<CgroupHost>>,
    why: &str,
) -> impl Fn() -> Box<dyn Cgroups + Send> + Send + Sync + 'static {
    let why = format!("this agent has no usable cgroups ({why})");
    move || match &cgroups {
        Some(host) => host.backend(),
        None => Box::new(NoCgroups(why.clone())),
    }
}

/// What `/proc` says about the processes of one session.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PosixUsage {
    pub processes: u32,
    pub threads: u32,
    pub user_secs: f64,
    pub system_secs: f64,
    pub rss_bytes: u64,
}

/// Sums cpu time, threads and resident memory over the processes of session `sid` (a
/// container's processes share its leader's session).
pub fn posix_usage(sid: u32) -> PosixUsage {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    // SAFETY: as above.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    let mut out = PosixUsage::default();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // the command name may hold spaces and parentheses: fields start after the last ')'
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        // f[0] is field 3 (state): field n is f[n - 3]
        let field = |n: usize| {
            f.get(n - 3)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        if field(6) != u64::from(sid) {
            continue;
        }
        out.processes += 1;
        out.threads += u32::try_from(field(20)).unwrap_or(0);
        out.user_secs += field(14) as f64 / ticks;
        out.system_secs += field(15) as f64 / ticks;
        out.rss_bytes += field(24) * page;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posix_usage_sees_this_session() {
        // SAFETY: getsid(0) has no preconditions.
        let sid = unsafe { libc::getsid(0) } as u32;
        let u = posix_usage(sid);
        assert!(u.processes >= 1, "{u:?}");
        assert!(u.threads >= 1 && u.rss_bytes > 0, "{u:?}");
        assert_eq!(posix_usage(u32::MAX - 1), PosixUsage::default());
    }

    #[test]
    fn merge_keeps_earlier_fields() {
        let mut a = ResourceStatistics {
            mem_rss_bytes: Some(1),
            ..Default::default()
        };
        a.fill_from(&ResourceStatistics {
            mem_rss_bytes: Some(2),
            cpus_limit: Some(0.5),
            ..Default::default()
        });
        assert_eq!(a.mem_rss_bytes, Some(1));
        assert_eq!(a.cpus_limit, Some(0.5));
    }
}

#[cfg(test)]
mod volume_tests {
    use super::*;

    #[test]
    fn modules_are_not_told_a_volumes_disk() {
        let mut volume = Resource::scalar("disk", 100.0);
        volume.disk = Some(meseta_types::resources::PersistentVolume {
            id: "pg".into(),
            container_path: "data".into(),
            ..Default::default()
        });
        let all = vec![
            Resource::scalar("disk", 5.0),
            volume,
            Resource::scalar("cpus", 1.0),
        ];
        let seen = sandbox_resources(&all);
        assert_eq!(
            seen,
            vec![Resource::scalar("disk", 5.0), Resource::scalar("cpus", 1.0)]
        );
    }
}
