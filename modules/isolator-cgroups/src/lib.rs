//! `isolator-cgroups`: cpu and memory isolation through cgroups (Mesos' `cgroups/cpu` and
//! `cgroups/mem` isolators) as a Meseta module.
//!
//! * `prepare` and `update` apply the container's resources: cpu shares
//!   `max(2, round(cpus × 1024))`, with parameter `cfs_quota` = `true` also a CFS quota of
//!   `cpus × 100 ms` per 100 ms period (at least 1 ms, the kernel's minimum), and a memory limit
//!   of `mem` MB × 1 MiB. A container without `cpus` or `mem` resources is left alone.
//! * `watch` reports a memory limitation once the container's cgroup saw an OOM kill.
//! * `usage` reads the cgroup's cpu and memory statistics.
//! * `cleanup` forgets the container.
//! * `init` fails when the agent's parameter `cgroups` says there is no usable hierarchy
//!   (`none: <why>`), so the agent refuses to start with this isolator.
//!
//! All cgroup access goes through the [`Cgroups`] capability the host scopes to the container of
//! the current call. The policy is plain Rust (`CgroupsIsolator`), linked natively by the host as
//! the native twin; for `wasm32` the crate also exports it as an `isolator` component.

use std::collections::HashMap;

use meseta_types::isolation::{
    CgroupError, Cgroups, ContainerConfig, ContainerId, IsolatorPolicy, LaunchInfo, Limitation,
    LimitationReason, ResourceStatistics,
};
use meseta_types::resources::{Resource, scalar_total};
use meseta_types::{Create, Parameters, parameter};

/// CFS bandwidth period, as in Mesos (`CPU_CFS_PERIOD` = 100 ms).
pub const CFS_PERIOD_US: u64 = 100_000;
/// The smallest CFS quota the kernel accepts (Mesos' `MIN_CPU_CFS_QUOTA` = 1 ms).
pub const MIN_CFS_QUOTA_US: u64 = 1_000;
/// Cpu shares per cpu (Mesos' `CPU_SHARES_PER_CPU`).
pub const SHARES_PER_CPU: f64 = 1024.0;
/// The smallest cpu shares value the kernel accepts (Mesos' `MIN_CPU_SHARES`).
pub const MIN_SHARES: u64 = 2;
const MIB: f64 = 1024.0 * 1024.0;

/// The limits applied to one container.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Limits {
    /// `cpus`, when the container has any.
    pub cpus: Option<f64>,
    /// `mem` in MB, when the container has any.
    pub mem_mb: Option<f64>,
}

impl Limits {
    fn of(resources: &[Resource]) -> Limits {
        let has = |name: &str| {
            resources
                .iter()
                .any(|r| r.name == name && r.as_scalar().is_some())
        };
        Limits {
            cpus: has("cpus").then(|| scalar_total(resources, "cpus")),
            mem_mb: has("mem").then(|| scalar_total(resources, "mem")),
        }
    }

    fn is_empty(&self) -> bool {
        self.cpus.is_none() && self.mem_mb.is_none()
    }
}

/// Cpu shares for `cpus`: `max(2, round(cpus × 1024))`.
pub fn cpu_shares(cpus: f64) -> u64 {
    // `as` saturates: a negative or NaN amount gives 0 and then the minimum
    ((cpus * SHARES_PER_CPU).round() as u64).max(MIN_SHARES)
}

/// CFS quota in µs per [`CFS_PERIOD_US`] for `cpus`.
pub fn cfs_quota_us(cpus: f64) -> u64 {
    ((cpus * CFS_PERIOD_US as f64).round() as u64).max(MIN_CFS_QUOTA_US)
}

/// Memory limit in bytes for `mem_mb` megabytes.
pub fn memory_limit_bytes(mem_mb: f64) -> u64 {
    (mem_mb * MIB).round() as u64
}

/// The cgroups cpu/memory isolator.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CgroupsIsolator {
    cfs_quota: bool,
    containers: HashMap<ContainerId, Limits>,
}

impl CgroupsIsolator {
    /// The limits last applied to `container`, if it is known.
    pub fn limits(&self, container: ContainerId) -> Option<Limits> {
        self.containers.get(&container).copied()
    }

    fn apply(
        &self,
        container: ContainerId,
        limits: Limits,
        cg: &mut dyn Cgroups,
    ) -> Result<(), String> {
        let fail = |what: &str, e: CgroupError| format!("{what} of container {container}: {e}");
        if let Some(cpus) = limits.cpus {
            cg.set_cpu_shares(container, cpu_shares(cpus))
                .map_err(|e| fail("set cpu shares", e))?;
            if self.cfs_quota {
                cg.set_cpu_quota(container, CFS_PERIOD_US, Some(cfs_quota_us(cpus)))
                    .map_err(|e| fail("set cpu quota", e))?;
            }
        }
        if let Some(mem_mb) = limits.mem_mb {
            cg.set_memory_limit(container, memory_limit_bytes(mem_mb))
                .map_err(|e| fail("set memory limit", e))?;
        }
        Ok(())
    }
}

impl Create for CgroupsIsolator {
    fn create(parameters: &Parameters) -> Result<Self, String> {
        // the agent says which hierarchy it has: `v1`, `v2`, or `none: <why>`
        if let Some(none) = parameter(parameters, "cgroups").and_then(|c| c.strip_prefix("none")) {
            let why = none.trim_start_matches(':').trim();
            return Err(format!(
                "isolator-cgroups needs cgroups, and this agent has no usable cgroup hierarchy \
                 ({why}); use posix/cpu,posix/mem instead"
            ));
        }
        let cfs_quota = match parameter(parameters, "cfs_quota").map(str::trim) {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(format!(
                    "parameter 'cfs_quota' must be 'true' or 'false', got '{other}'"
                ));
            }
        };
        Ok(CgroupsIsolator {
            cfs_quota,
            containers: HashMap::new(),
        })
    }
}

impl IsolatorPolicy for CgroupsIsolator {
    fn recover(
        &mut self,
        containers: &[ContainerConfig],
        _cg: &mut dyn Cgroups,
    ) -> Result<(), String> {
        // the cgroups survived the agent restart with their limits: only remember them
        for config in containers {
            self.containers
                .insert(config.container, Limits::of(&config.resources));
        }
        Ok(())
    }

    fn prepare(
        &mut self,
        config: &ContainerConfig,
        cg: &mut dyn Cgroups,
    ) -> Result<LaunchInfo, String> {
        let limits = Limits::of(&config.resources);
        self.containers.insert(config.container, limits);
        if !limits.is_empty() {
            self.apply(config.container, limits, cg)?;
        }
        Ok(LaunchInfo::default())
    }

    fn update(
        &mut self,
        container: ContainerId,
        resources: &[Resource],
        cg: &mut dyn Cgroups,
    ) -> Result<(), String> {
        if !self.containers.contains_key(&container) {
            return Err(format!("unknown container {container}"));
        }
        let limits = Limits::of(resources);
        self.apply(container, limits, cg)?;
        // keep what an update leaves out, as the cgroup keeps it
        if let Some(known) = self.containers.get_mut(&container) {
            known.cpus = limits.cpus.or(known.cpus);
            known.mem_mb = limits.mem_mb.or(known.mem_mb);
        }
        Ok(())
    }

    fn watch(&mut self, container: ContainerId, cg: &mut dyn Cgroups) -> Option<Limitation> {
        let limits = self.containers.get(&container)?;
        let mem_mb = limits.mem_mb?;
        match cg.oom_events(container) {
            Ok(n) if n > 0 => {}
            _ => return None,
        }
        let mut message = format!("Memory limit exceeded: Requested: {mem_mb}MB");
        if let Ok(stats) = cg.memory_stats(container) {
            let max_used_mb = stats.max_usage_bytes as f64 / MIB;
            message.push_str(&format!(" Maximum Used: {max_used_mb:.0}MB"));
        }
        Some(Limitation {
            reason: LimitationReason::Memory,
            message,
            resources: vec![Resource::scalar("mem", mem_mb)],
        })
    }

    fn usage(
        &mut self,
        container: ContainerId,
        cg: &mut dyn Cgroups,
    ) -> Result<ResourceStatistics, String> {
        let limits = self
            .containers
            .get(&container)
            .copied()
            .ok_or_else(|| format!("unknown container {container}"))?;
        let mut stats = ResourceStatistics {
            cpus_limit: limits.cpus,
            ..Default::default()
        };
        let secs = |ns: u64| ns as f64 / 1e9;
        // a controller the agent lacks leaves its fields empty; other errors fail the call
        match cg.cpu_stats(container) {
            Ok(cpu) => {
                stats.cpus_user_time_secs = Some(secs(cpu.user_ns));
                stats.cpus_system_time_secs = Some(secs(cpu.system_ns));
                stats.cpus_nr_periods = Some(cpu.nr_periods);
                stats.cpus_nr_throttled = Some(cpu.nr_throttled);
                stats.cpus_throttled_time_secs = Some(secs(cpu.throttled_ns));
            }
            Err(CgroupError::Unsupported(_)) => {}
            Err(e) => return Err(format!("cpu statistics of container {container}: {e}")),
        }
        match cg.memory_stats(container) {
            Ok(mem) => {
                stats.mem_total_bytes = Some(mem.usage_bytes);
                stats.mem_limit_bytes = mem.limit_bytes.or(limits.mem_mb.map(memory_limit_bytes));
                stats.mem_rss_bytes = Some(mem.rss_bytes);
                stats.mem_cache_bytes = Some(mem.cache_bytes);
                stats.mem_swap_bytes = Some(mem.swap_bytes);
            }
            Err(CgroupError::Unsupported(_)) => {}
            Err(e) => return Err(format!("memory statistics of container {container}: {e}")),
        }
        Ok(stats)
    }

    fn cleanup(&mut self, container: ContainerId, _cg: &mut dyn Cgroups) -> Result<(), String> {
        self.containers.remove(&container);
        Ok(())
    }
}

#[cfg(target_arch = "wasm32")]
meseta_sdk::export_isolator!(CgroupsIsolator);

#[cfg(test)]
mod tests {
    use super::*;
    use meseta_types::isolation::{CpuStats, MemoryStats};

    /// An in-memory cgroup tree.
    #[derive(Default)]
    struct FakeCgroups {
        shares: HashMap<ContainerId, u64>,
        quota: HashMap<ContainerId, (u64, Option<u64>)>,
        memory_limit: HashMap<ContainerId, u64>,
        ooms: HashMap<ContainerId, u64>,
        cpu: CpuStats,
        memory: MemoryStats,
        calls: usize,
        unsupported_cpu: bool,
    }

    impl Cgroups for FakeCgroups {
        fn set_cpu_shares(&mut self, c: ContainerId, shares: u64) -> Result<(), CgroupError> {
            self.calls += 1;
            self.shares.insert(c, shares);
            Ok(())
        }
        fn set_cpu_quota(
            &mut self,
            c: ContainerId,
            period: u64,
            quota: Option<u64>,
        ) -> Result<(), CgroupError> {
            self.calls += 1;
            self.quota.insert(c, (period, quota));
            Ok(())
        }
        fn set_memory_limit(&mut self, c: ContainerId, bytes: u64) -> Result<(), CgroupError> {
            self.calls += 1;
            self.memory_limit.insert(c, bytes);
            Ok(())
        }
        fn cpu_stats(&mut self, _: ContainerId) -> Result<CpuStats, CgroupError> {
            if self.unsupported_cpu {
                return Err(CgroupError::Unsupported("no cpu controller".into()));
            }
            Ok(self.cpu.clone())
        }
        fn memory_stats(&mut self, c: ContainerId) -> Result<MemoryStats, CgroupError> {
            Ok(MemoryStats {
                limit_bytes: self.memory_limit.get(&c).copied(),
                ..self.memory.clone()
            })
        }
        fn oom_events(&mut self, c: ContainerId) -> Result<u64, CgroupError> {
            Ok(self.ooms.get(&c).copied().unwrap_or(0))
        }
    }

    fn config(container: ContainerId, resources: Vec<Resource>) -> ContainerConfig {
        ContainerConfig {
            container,
            resources,
            ..Default::default()
        }
    }

    fn isolator(cfs: bool) -> CgroupsIsolator {
        let value = if cfs { "true" } else { "false" };
        CgroupsIsolator::create(&[("cfs_quota".to_string(), value.to_string())]).unwrap()
    }

    #[test]
    fn prepare_sets_shares_quota_and_memory() {
        let mut cg = FakeCgroups::default();
        let mut iso = isolator(true);
        let res = vec![
            Resource::scalar("cpus", 1.5),
            Resource::scalar("mem", 128.0),
        ];
        assert_eq!(
            iso.prepare(&config(7, res), &mut cg),
            Ok(LaunchInfo::default())
        );
        assert_eq!(cg.shares[&7], 1536);
        assert_eq!(cg.quota[&7], (100_000, Some(150_000)));
        assert_eq!(cg.memory_limit[&7], 128 * 1024 * 1024);
    }

    #[test]
    fn small_cpus_get_minimums_and_quota_is_off_by_default() {
        let mut cg = FakeCgroups::default();
        let mut iso = CgroupsIsolator::create(&[]).unwrap();
        iso.prepare(&config(1, vec![Resource::scalar("cpus", 0.001)]), &mut cg)
            .unwrap();
        assert_eq!(cg.shares[&1], 2);
        assert!(cg.quota.is_empty());
        assert!(cg.memory_limit.is_empty());
        assert_eq!(cfs_quota_us(0.001), 1_000);
        assert!(CgroupsIsolator::create(&[("cfs_quota".into(), "yes".into())]).is_err());
        let none = CgroupsIsolator::create(&[("cgroups".into(), "none: not mounted".into())]);
        assert!(
            none.unwrap_err()
                .contains("no usable cgroup hierarchy (not mounted)")
        );
        assert!(CgroupsIsolator::create(&[("cgroups".into(), "v1".into())]).is_ok());
    }

    #[test]
    fn containers_without_cpus_or_mem_are_left_alone() {
        let mut cg = FakeCgroups::default();
        let mut iso = isolator(true);
        iso.prepare(&config(2, vec![Resource::scalar("disk", 10.0)]), &mut cg)
            .unwrap();
        assert_eq!(cg.calls, 0);
        assert_eq!(iso.watch(2, &mut cg), None);
    }

    #[test]
    fn update_reapplies_and_unknown_containers_fail() {
        let mut cg = FakeCgroups::default();
        let mut iso = isolator(true);
        iso.prepare(
            &config(
                3,
                vec![Resource::scalar("cpus", 1.0), Resource::scalar("mem", 64.0)],
            ),
            &mut cg,
        )
        .unwrap();
        iso.update(
            3,
            &[
                Resource::scalar("cpus", 2.0),
                Resource::scalar("mem", 256.0),
            ],
            &mut cg,
        )
        .unwrap();
        assert_eq!(cg.shares[&3], 2048);
        assert_eq!(cg.quota[&3], (100_000, Some(200_000)));
        assert_eq!(cg.memory_limit[&3], 256 * 1024 * 1024);
        assert_eq!(
            iso.limits(3),
            Some(Limits {
                cpus: Some(2.0),
                mem_mb: Some(256.0)
            })
        );
        assert!(
            iso.update(99, &[], &mut cg)
                .unwrap_err()
                .contains("unknown container 99")
        );
    }

    #[test]
    fn watch_reports_oom_as_memory_limitation() {
        let mut cg = FakeCgroups::default();
        let mut iso = isolator(false);
        iso.prepare(&config(4, vec![Resource::scalar("mem", 64.0)]), &mut cg)
            .unwrap();
        assert_eq!(iso.watch(4, &mut cg), None);
        cg.ooms.insert(4, 1);
        cg.memory.max_usage_bytes = 64 * 1024 * 1024;
        let limitation = iso.watch(4, &mut cg).unwrap();
        assert_eq!(limitation.reason, LimitationReason::Memory);
        assert!(
            limitation.message.starts_with("Memory limit exceeded: "),
            "{}",
            limitation.message
        );
        assert!(
            limitation.message.contains("Requested: 64MB"),
            "{}",
            limitation.message
        );
        assert_eq!(limitation.resources, vec![Resource::scalar("mem", 64.0)]);
    }

    #[test]
    fn usage_reads_statistics() {
        let mut cg = FakeCgroups {
            cpu: CpuStats {
                usage_ns: 3_000_000_000,
                user_ns: 2_000_000_000,
                system_ns: 1_000_000_000,
                nr_periods: 10,
                nr_throttled: 2,
                throttled_ns: 500_000_000,
            },
            memory: MemoryStats {
                usage_bytes: 1000,
                max_usage_bytes: 2000,
                limit_bytes: None,
                rss_bytes: 600,
                cache_bytes: 300,
                swap_bytes: 100,
            },
            ..Default::default()
        };
        let mut iso = isolator(false);
        iso.prepare(
            &config(
                5,
                vec![Resource::scalar("cpus", 0.5), Resource::scalar("mem", 1.0)],
            ),
            &mut cg,
        )
        .unwrap();
        let s = iso.usage(5, &mut cg).unwrap();
        assert_eq!(s.cpus_user_time_secs, Some(2.0));
        assert_eq!(s.cpus_system_time_secs, Some(1.0));
        assert_eq!(s.cpus_nr_periods, Some(10));
        assert_eq!(s.cpus_nr_throttled, Some(2));
        assert_eq!(s.cpus_throttled_time_secs, Some(0.5));
        assert_eq!(s.cpus_limit, Some(0.5));
        assert_eq!(s.mem_total_bytes, Some(1000));
        assert_eq!(s.mem_limit_bytes, Some(1024 * 1024));
        assert_eq!(s.mem_rss_bytes, Some(600));
        assert_eq!(s.mem_cache_bytes, Some(300));
        assert_eq!(s.mem_swap_bytes, Some(100));

        cg.unsupported_cpu = true;
        let s = iso.usage(5, &mut cg).unwrap();
        assert_eq!(s.cpus_user_time_secs, None);
        assert_eq!(s.mem_total_bytes, Some(1000));
    }

    #[test]
    fn cleanup_forgets_and_ignores_unknown() {
        let mut cg = FakeCgroups::default();
        let mut iso = isolator(false);
        iso.prepare(&config(6, vec![Resource::scalar("mem", 32.0)]), &mut cg)
            .unwrap();
        iso.cleanup(6, &mut cg).unwrap();
        assert_eq!(iso.limits(6), None);
        assert!(iso.usage(6, &mut cg).is_err());
        assert_eq!(iso.cleanup(42, &mut cg), Ok(()));
    }
}
