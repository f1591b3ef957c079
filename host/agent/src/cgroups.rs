//! The agent's cgroups: one cgroup per container under the agent's root (`--cgroups_root`,
//! `meseta` by default), in the `cpu`, `cpuacct` and `memory` controllers (cgroup v1) or the
//! unified hierarchy (cgroup v2), managed with cgroups-rs.
//!
//! Isolator modules never see a path: they name containers by the small integer handle the
//! agent gave them, and the isolator host ([`meseta_isolator`]) refuses any handle but the one
//! of the current call before [`CgroupBackend`] is reached. The backend itself only knows the
//! containers this agent created.
//!
//! A container's process joins its cgroups in the forked child, before `exec`, by writing `0`
//! to each `cgroup.procs` file [`CgroupHost::create`] returns, so nothing it runs is ever
//! outside them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use cgroups_rs::cgroup::Cgroup;
use cgroups_rs::cpu::CpuController;
use cgroups_rs::cpuacct::CpuAcctController;
use cgroups_rs::hierarchies;
use cgroups_rs::memory::MemController;
use cgroups_rs::{Controller, Hierarchy};
use meseta_types::isolation::{CgroupError, Cgroups, ContainerId, CpuStats, MemoryStats};

/// Which cgroup hierarchy the machine has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        }
    }
}

struct Container {
    cgroup: Cgroup,
}

/// The cgroups of the containers of one agent.
pub struct CgroupHost {
    version: Version,
    root: String,
    containers: Mutex<HashMap<ContainerId, Container>>,
    /// Container cgroups found under the root at start-up, left by an earlier agent: each is
    /// adopted by a recovered container or destroyed (see [`CgroupHost::recover`]).
    found: Mutex<std::collections::BTreeSet<String>>,
}

impl std::fmt::Debug for CgroupHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CgroupHost")
            .field("version", &self.version)
            .field("root", &self.root)
            .finish()
    }
}

fn controllers(version: Version) -> Vec<String> {
    let names: &[&str] = match version {
        Version::V1 => &["cpu", "cpuacct", "memory"],
        Version::V2 => &["cpu", "memory"],
    };
    names.iter().map(|s| s.to_string()).collect()
}

fn hierarchy() -> Box<dyn Hierarchy> {
    hierarchies::auto()
}

impl CgroupHost {
    /// Finds a writable cgroup hierarchy with cpu and memory control and creates `root` in it.
    /// The error says what is missing, for the start-up message of an isolator that needs
    /// cgroups.
    pub fn detect(root: &str) -> Result<Arc<CgroupHost>, String> {
        if root.is_empty() || root.split('/').any(|p| p.is_empty() || p == "..") {
            return Err(format!(
                "--cgroups_root '{root}' must be a relative path such as 'meseta'"
            ));
        }
        let version = if hierarchies::is_cgroup2_unified_mode() {
            Version::V2
        } else {
            Version::V1
        };
        let hier = hierarchy();
        let base = hier.root();
        match version {
            Version::V1 => {
                for c in ["cpu", "cpuacct", "memory"] {
                    let path = base.join(c);
                    if !path.join("cgroup.procs").is_file() {
                        return Err(format!(
                            "no cgroup v1 '{c}' controller is mounted at {}",
                            path.display()
                        ));
                    }
                }
            }
            Version::V2 => {
                let enabled =
                    std::fs::read_to_string(base.join("cgroup.controllers")).unwrap_or_default();
                for c in ["cpu", "memory"] {
                    if !enabled.split_whitespace().any(|e| e == c) {
                        return Err(format!(
                            "the cgroup v2 hierarchy at {} has no '{c}' controller",
                            base.display()
                        ));
                    }
                }
            }
        }
        let cg = Cgroup::new_with_specified_controllers(hier, root, Some(controllers(version)))
            .map_err(|e| {
                format!(
                    "cannot create the cgroup '{root}' under {} (is it mounted read-write, and \
                     does the agent run as root?): {e}",
                    base.display()
                )
            })?;
        if version == Version::V2 {
            // children of the root need the controllers delegated
            let _ = std::fs::write(
                base.join(root).join("cgroup.subtree_control"),
                "+cpu +memory",
            );
        }
        // Container cgroups left under the root by an agent that died: the recovered
        // containers adopt theirs, the rest are destroyed (`recover`).
        let mut orphans = std::collections::BTreeSet::new();
        for s in cg.subsystems() {
            if let Ok(dir) = std::fs::read_dir(s.to_controller().path()) {
                for e in dir.flatten() {
                    if e.path().is_dir() {
                        orphans.insert(e.file_name().to_string_lossy().into_owned());
                    }
                }
            }
        }
        drop(cg);
        Ok(Arc::new(CgroupHost {
            version,
            root: root.to_string(),
            containers: Mutex::new(HashMap::new()),
            found: Mutex::new(orphans),
        }))
    }

    /// Recovery: the cgroups of `known` containers (id, name) found at start-up are adopted
    /// (their processes keep running); every other container cgroup found is destroyed, an
    /// orphan of an agent that died. The names of the adopted ones.
    pub fn recover(&self, known: &[(ContainerId, String)]) -> Vec<String> {
        let found = std::mem::take(&mut *self.found.lock().unwrap_or_else(PoisonError::into_inner));
        let mut adopted = Vec::new();
        for name in &found {
            let path = format!("{}/{name}", self.root);
            let cgroup = Cgroup::load_with_specified_controllers(
                hierarchy(),
                &path,
                controllers(self.version),
            );
            match known.iter().find(|(_, n)| n == name) {
                Some((id, _)) => {
                    tracing::info!(cgroup = %path, "adopting the cgroup of a recovered container");
                    self.lock().insert(*id, Container { cgroup });
                    adopted.push(name.clone());
                }
                None => {
                    tracing::warn!(cgroup = %path, "destroying an orphaned container left by an earlier agent");
                    destroy(&cgroup);
                }
            }
        }
        adopted
    }

    pub fn version(&self) -> Version {
        self.version
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ContainerId, Container>> {
        self.containers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Creates the container's cgroups (`<root>/<name>`); returns the `cgroup.procs` files
    /// its process must join.
    pub fn create(&self, id: ContainerId, name: &str) -> Result<Vec<PathBuf>, String> {
        let path = format!("{}/{name}", self.root);
        let cgroup = Cgroup::new_with_specified_controllers(
            hierarchy(),
            &path,
            Some(controllers(self.version)),
        )
        .map_err(|e| format!("cannot create the cgroup '{path}': {e}"))?;
        let procs = cgroup
            .subsystems()
            .iter()
            .map(|s| s.to_controller().path().join("cgroup.procs"))
            .collect();
        self.lock().insert(id, Container { cgroup });
        Ok(procs)
    }

    /// Kills whatever is left in the container's cgroups and removes them.
    pub fn destroy(&self, id: ContainerId) {
        let Some(container) = self.lock().remove(&id) else {
            return;
        };
        destroy(&container.cgroup);
    }

    /// A backend for one isolator instance.
    pub fn backend(self: &Arc<Self>) -> Box<dyn Cgroups + Send> {
        Box::new(CgroupBackend {
            host: Arc::clone(self),
        })
    }

    fn with<R>(
        &self,
        id: ContainerId,
        f: impl FnOnce(&Cgroup) -> Result<R, CgroupError>,
    ) -> Result<R, CgroupError> {
        let map = self.lock();
        let c = map.get(&id).ok_or_else(|| {
            CgroupError::NotPermitted(format!("container {id} has no cgroup on this agent"))
        })?;
        f(&c.cgroup)
    }
}

/// Kills whatever is in `cg` and removes it.
fn destroy(cg: &Cgroup) {
    for _ in 0..50 {
        let procs = cg.procs();
        if procs.is_empty() {
            break;
        }
        for p in procs {
            // SAFETY: kill(2) with a pid read from the container's own cgroup.
            unsafe {
                libc::kill(p.pid as libc::pid_t, libc::SIGKILL);
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    if let Err(e) = cg.delete() {
        tracing::warn!(cgroup = cg.path(), error = %e, "cannot remove the container's cgroup");
    }
}

fn io(what: &str, e: impl std::fmt::Display) -> CgroupError {
    CgroupError::Io(format!("{what}: {e}"))
}

fn controller<'a, T>(cg: &'a Cgroup, name: &str) -> Result<&'a T, CgroupError>
where
    &'a T: From<&'a cgroups_rs::Subsystem>,
    T: Controller + cgroups_rs::ControllIdentifier,
{
    cg.controller_of::<T>()
        .ok_or_else(|| CgroupError::Unsupported(format!("no '{name}' controller")))
}

/// `key value` lines of a cgroup stat file.
fn stat_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The cgroups capability of one isolator instance.
pub struct CgroupBackend {
    host: Arc<CgroupHost>,
}

impl Cgroups for CgroupBackend {
    fn set_cpu_shares(&mut self, c: ContainerId, shares: u64) -> Result<(), CgroupError> {
        self.host.with(c, |cg| {
            let cpu: &CpuController = controller(cg, "cpu")?;
            cpu.set_shares(shares).map_err(|e| io("cpu shares", e))
        })
    }

    fn set_cpu_quota(
        &mut self,
        c: ContainerId,
        period_us: u64,
        quota_us: Option<u64>,
    ) -> Result<(), CgroupError> {
        self.host.with(c, |cg| {
            let cpu: &CpuController = controller(cg, "cpu")?;
            let quota = quota_us.map_or(-1, |q| i64::try_from(q).unwrap_or(i64::MAX));
            cpu.set_cfs_quota_and_period(Some(quota), Some(period_us))
                .map_err(|e| io("cpu quota", e))
        })
    }

    fn set_memory_limit(&mut self, c: ContainerId, bytes: u64) -> Result<(), CgroupError> {
        self.host.with(c, |cg| {
            let mem: &MemController = controller(cg, "memory")?;
            let limit = i64::try_from(bytes).unwrap_or(i64::MAX);
            // No swap beyond the limit where the kernel accounts swap. v1 wants memory <=
            // memory+swap at every step: raise memsw first, lower it last (the first attempt
            // fails harmlessly when lowering).
            let _ = mem.set_memswap_limit(limit);
            mem.set_limit(limit).map_err(|e| io("memory limit", e))?;
            let _ = mem.set_memswap_limit(limit);
            Ok(())
        })
    }

    fn cpu_stats(&mut self, c: ContainerId) -> Result<CpuStats, CgroupError> {
        let version = self.host.version;
        self.host.with(c, |cg| {
            let cpu: &CpuController = controller(cg, "cpu")?;
            let stat = read(&cpu.path().join("cpu.stat"));
            match version {
                Version::V1 => {
                    let acct: &CpuAcctController = controller(cg, "cpuacct")?;
                    let a = acct.cpuacct();
                    Ok(CpuStats {
                        usage_ns: a.usage,
                        user_ns: a.usage_user,
                        system_ns: a.usage_sys,
                        nr_periods: stat_value(&stat, "nr_periods").unwrap_or(0),
                        nr_throttled: stat_value(&stat, "nr_throttled").unwrap_or(0),
                        throttled_ns: stat_value(&stat, "throttled_time").unwrap_or(0),
                    })
                }
                Version::V2 => {
                    let us = |k| stat_value(&stat, k).unwrap_or(0).saturating_mul(1000);
                    Ok(CpuStats {
                        usage_ns: us("usage_usec"),
                        user_ns: us("user_usec"),
                        system_ns: us("system_usec"),
                        nr_periods: stat_value(&stat, "nr_periods").unwrap_or(0),
                        nr_throttled: stat_value(&stat, "nr_throttled").unwrap_or(0),
                        throttled_ns: us("throttled_usec"),
                    })
                }
            }
        })
    }

    fn memory_stats(&mut self, c: ContainerId) -> Result<MemoryStats, CgroupError> {
        self.host.with(c, |cg| {
            let mem: &MemController = controller(cg, "memory")?;
            let m = mem.memory_stat();
            let limit = u64::try_from(m.limit_in_bytes).ok();
            // v1 reports "no limit" as a page-rounded i64::MAX
            let limit = limit.filter(|l| *l < (1u64 << 62));
            Ok(MemoryStats {
                usage_bytes: m.usage_in_bytes,
                max_usage_bytes: m.max_usage_in_bytes,
                limit_bytes: limit,
                rss_bytes: m.stat.rss,
                cache_bytes: m.stat.cache,
                swap_bytes: m.stat.swap,
            })
        })
    }

    fn oom_events(&mut self, c: ContainerId) -> Result<u64, CgroupError> {
        let version = self.host.version;
        self.host.with(c, |cg| {
            let mem: &MemController = controller(cg, "memory")?;
            match version {
                Version::V1 => Ok(stat_value(
                    &read(&mem.path().join("memory.oom_control")),
                    "oom_kill",
                )
                .unwrap_or(0)),
                Version::V2 => Ok(
                    stat_value(&read(&mem.path().join("memory.events")), "oom_kill").unwrap_or(0),
                ),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse() {
        let s = "nr_periods 12\nnr_throttled 3\nthrottled_time 4500\n";
        assert_eq!(stat_value(s, "nr_throttled"), Some(3));
        assert_eq!(stat_value(s, "throttled_time"), Some(4500));
        assert_eq!(stat_value(s, "missing"), None);
    }

    #[test]
    fn roots_must_be_relative() {
        assert!(
            CgroupHost::detect("")
                .unwrap_err()
                .contains("--cgroups_root")
        );
        assert!(CgroupHost::detect("/abs").unwrap_err().contains("relative"));
        assert!(CgroupHost::detect("a/../b").is_err());
    }
}
