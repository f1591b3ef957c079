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

/// The optional fields of [`ResourceStatistics`], by Mesos' JSON name, with one macro per use.
macro_rules! statistics_fields {
    ($m:ident) => {
        $m!(
            processes,
            threads,
            cpus_user_time_secs,
            cpus_system_time_secs,
            cpus_limit,
            cpus_nr_periods,
            cpus_nr_throttled,
            cpus_throttled_time_secs,
            mem_total_bytes,
            mem_limit_bytes,
            mem_rss_bytes,
            mem_cache_bytes,
            mem_swap_bytes,
            disk_limit_bytes,
            disk_used_bytes
        )
    };
}

fn sum<T: std::ops::Add<Output = T> + Copy>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    }
}

/// A statistics value: counters and byte counts are integers, times and cpus are not.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StatValue {
    Int(u64),
    Float(f64),
}

impl From<u32> for StatValue {
    fn from(v: u32) -> Self {
        StatValue::Int(u64::from(v))
    }
}

impl From<u64> for StatValue {
    fn from(v: u64) -> Self {
        StatValue::Int(v)
    }
}

impl From<f64> for StatValue {
    fn from(v: f64) -> Self {
        StatValue::Float(v)
    }
}

impl ResourceStatistics {
    /// The fields that are set, by Mesos' name (for JSON).
    pub fn fields(&self) -> Vec<(&'static str, StatValue)> {
        let mut out = Vec::new();
        macro_rules! each {
            ($($f:ident),*) => { $( if let Some(v) = self.$f { out.push((stringify!($f), StatValue::from(v))); } )* };
        }
        statistics_fields!(each);
        out
    }

    /// Fills the fields still unset from `other` (an earlier isolator's answer wins).
    pub fn fill_from(&mut self, other: &ResourceStatistics) {
        macro_rules! each {
            ($($f:ident),*) => { $( if self.$f.is_none() { self.$f = other.$f; } )* };
        }
        statistics_fields!(each);
        if self.timestamp == 0.0 {
            self.timestamp = other.timestamp;
        }
    }

    /// The sum of two containers' statistics (an executor running in several).
    pub fn add(&self, other: &ResourceStatistics) -> ResourceStatistics {
        let mut out = ResourceStatistics {
            timestamp: self.timestamp.max(other.timestamp),
            ..Default::default()
        };
        macro_rules! each {
            ($($f:ident),*) => { $( out.$f = sum(self.$f, other.$f); )* };
        }
        statistics_fields!(each);
        out
    }
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
