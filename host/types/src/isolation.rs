//! Isolators and the scoped cgroups capability they act through.

use crate::resources::{EnvVar, Resource};

pub type ContainerId = u32;

#[derive(Clone, Debug, PartialEq, Default)]
pub struct ContainerConfig {
    pub container: ContainerId,
    pub name: String,
    pub framework_id: String,
    pub executor_id: String,
    pub resources: Vec<Resource>,
    pub user: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct LaunchInfo {
    pub environment: Vec<EnvVar>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitationReason {
    Memory,
    Disk,
    Cpu,
    Other,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Limitation {
    pub reason: LimitationReason,
    pub message: String,
    pub resources: Vec<Resource>,
}

/// Mesos' `ResourceStatistics`; each isolator fills what it knows.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ResourceStatistics {
    pub timestamp: f64,
    pub processes: Option<u32>,
    pub threads: Option<u32>,
    pub cpus_user_time_secs: Option<f64>,
    pub cpus_system_time_secs: Option<f64>,
    pub cpus_limit: Option<f64>,
    pub cpus_nr_periods: Option<u64>,
    pub cpus_nr_throttled: Option<u64>,
    pub cpus_throttled_time_secs: Option<f64>,
    pub mem_total_bytes: Option<u64>,
    pub mem_limit_bytes: Option<u64>,
    pub mem_rss_bytes: Option<u64>,
    pub mem_cache_bytes: Option<u64>,
    pub mem_swap_bytes: Option<u64>,
    pub disk_limit_bytes: Option<u64>,
    pub disk_used_bytes: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CgroupError {
    NotPermitted(String),
    Unsupported(String),
    Io(String),
}

impl std::fmt::Display for CgroupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CgroupError::NotPermitted(m) => write!(f, "not permitted: {m}"),
            CgroupError::Unsupported(m) => write!(f, "unsupported: {m}"),
            CgroupError::Io(m) => write!(f, "cgroup io error: {m}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CpuStats {
    pub usage_ns: u64,
    pub user_ns: u64,
    pub system_ns: u64,
    pub nr_periods: u64,
    pub nr_throttled: u64,
    pub throttled_ns: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MemoryStats {
    pub usage_bytes: u64,
    pub max_usage_bytes: u64,
    pub limit_bytes: Option<u64>,
    pub rss_bytes: u64,
    pub cache_bytes: u64,
    pub swap_bytes: u64,
}

/// The cgroups capability, scoped to the container of the current call.
pub trait Cgroups {
    fn set_cpu_shares(&mut self, container: ContainerId, shares: u64) -> Result<(), CgroupError>;
    fn set_cpu_quota(
        &mut self,
        container: ContainerId,
        period_us: u64,
        quota_us: Option<u64>,
    ) -> Result<(), CgroupError>;
    fn set_memory_limit(&mut self, container: ContainerId, bytes: u64) -> Result<(), CgroupError>;
    fn cpu_stats(&mut self, container: ContainerId) -> Result<CpuStats, CgroupError>;
    fn memory_stats(&mut self, container: ContainerId) -> Result<MemoryStats, CgroupError>;
    fn oom_events(&mut self, container: ContainerId) -> Result<u64, CgroupError>;
}

/// An isolator policy, mirroring Mesos' `Isolator`.
pub trait IsolatorPolicy {
    fn recover(
        &mut self,
        _containers: &[ContainerConfig],
        _cg: &mut dyn Cgroups,
    ) -> Result<(), String> {
        Ok(())
    }
    fn prepare(
        &mut self,
        config: &ContainerConfig,
        cg: &mut dyn Cgroups,
    ) -> Result<LaunchInfo, String>;
    fn isolate(
        &mut self,
        _container: ContainerId,
        _pid: u32,
        _cg: &mut dyn Cgroups,
    ) -> Result<(), String> {
        Ok(())
    }
    fn watch(&mut self, _container: ContainerId, _cg: &mut dyn Cgroups) -> Option<Limitation> {
        None
    }
    fn update(
        &mut self,
        container: ContainerId,
        resources: &[Resource],
        cg: &mut dyn Cgroups,
    ) -> Result<(), String>;
    fn usage(
        &mut self,
        container: ContainerId,
        cg: &mut dyn Cgroups,
    ) -> Result<ResourceStatistics, String>;
    fn cleanup(&mut self, _container: ContainerId, _cg: &mut dyn Cgroups) -> Result<(), String> {
        Ok(())
    }
}
