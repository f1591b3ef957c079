//! The `isolator` world: exports an [`IsolatorPolicy`] with [`export_isolator!`](crate::export_isolator).
//!
//! The policy acts on cgroups through [`HostCgroups`], the SDK's implementation of
//! [`Cgroups`] over the host's `cgroups` import. The host scopes it to the container of the
//! current call: any other container handle is refused with [`CgroupError::NotPermitted`].

use crate::__private::{Instance, init, try_with, with_or};
use crate::convert::all;
use meseta_types::Create;
use meseta_types::isolation::{
    self as iso, CgroupError, Cgroups, ContainerId, CpuStats, IsolatorPolicy, MemoryStats,
};

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "isolator",
        path: "../../wit/meseta-modules-0.1.0",
        with: {
            "meseta:modules/host@0.1.0": crate::wit::meseta::modules::host,
            "meseta:modules/types@0.1.0": crate::wit::meseta::modules::types,
        },
        pub_export_macro: true,
        export_macro_name: "export_world",
        default_bindings_module: "meseta_sdk::isolator::bindings",
        runtime_path: "meseta_sdk::wit_bindgen::rt",
    });
}

use crate::wit::meseta::modules::types::{self as wt, Parameter};
use bindings::exports::meseta::modules::isolator_api as w;
use bindings::meseta::modules::cgroups as wc;

/// Exports the isolator `$policy` (a type implementing [`Create`] and [`IsolatorPolicy`]) as the
/// component's `isolator-api`.
///
/// ```ignore
/// meseta_sdk::export_isolator!(MyIsolator);
/// ```
#[macro_export]
macro_rules! export_isolator {
    ($policy:ty) => {
        const _: () = {
            $crate::__meseta_instance!(__MesetaIsolator, $policy);
            $crate::isolator::bindings::export_world!(
                __MesetaIsolator with_types_in $crate::isolator::bindings
            );
        };
    };
}

/// The host's `cgroups` import as a [`Cgroups`] capability.
#[derive(Debug, Default, Clone, Copy)]
pub struct HostCgroups;

impl From<wc::CgroupError> for CgroupError {
    fn from(e: wc::CgroupError) -> Self {
        match e {
            wc::CgroupError::NotPermitted(m) => CgroupError::NotPermitted(m),
            wc::CgroupError::Unsupported(m) => CgroupError::Unsupported(m),
            wc::CgroupError::Io(m) => CgroupError::Io(m),
        }
    }
}

// wit-bindgen names the imports `cpu-stats` / `memory-stats` `get_cpu_stats` / `get_memory_stats`
// because records of the same names exist in the interface.
impl Cgroups for HostCgroups {
    fn set_cpu_shares(&mut self, container: ContainerId, shares: u64) -> Result<(), CgroupError> {
        wc::set_cpu_shares(container, shares).map_err(Into::into)
    }

    fn set_cpu_quota(
        &mut self,
        container: ContainerId,
        period_us: u64,
        quota_us: Option<u64>,
    ) -> Result<(), CgroupError> {
        wc::set_cpu_quota(container, period_us, quota_us).map_err(Into::into)
    }

    fn set_memory_limit(&mut self, container: ContainerId, bytes: u64) -> Result<(), CgroupError> {
        wc::set_memory_limit(container, bytes).map_err(Into::into)
    }

    fn cpu_stats(&mut self, container: ContainerId) -> Result<CpuStats, CgroupError> {
        let s = wc::get_cpu_stats(container)?;
        Ok(CpuStats {
            usage_ns: s.usage_ns,
            user_ns: s.user_ns,
            system_ns: s.system_ns,
            nr_periods: s.nr_periods,
            nr_throttled: s.nr_throttled,
            throttled_ns: s.throttled_ns,
        })
    }

    fn memory_stats(&mut self, container: ContainerId) -> Result<MemoryStats, CgroupError> {
        let s = wc::get_memory_stats(container)?;
        Ok(MemoryStats {
            usage_bytes: s.usage_bytes,
            max_usage_bytes: s.max_usage_bytes,
            limit_bytes: s.limit_bytes,
            rss_bytes: s.rss_bytes,
            cache_bytes: s.cache_bytes,
            swap_bytes: s.swap_bytes,
        })
    }

    fn oom_events(&mut self, container: ContainerId) -> Result<u64, CgroupError> {
        wc::oom_events(container).map_err(Into::into)
    }
}

impl From<w::ContainerConfig> for iso::ContainerConfig {
    fn from(v: w::ContainerConfig) -> Self {
        iso::ContainerConfig {
            container: v.container,
            name: v.name,
            framework_id: v.framework_id,
            executor_id: v.executor_id,
            resources: all(v.resources),
            user: v.user,
        }
    }
}

impl From<iso::LaunchInfo> for w::LaunchInfo {
    fn from(v: iso::LaunchInfo) -> Self {
        w::LaunchInfo {
            environment: all(v.environment),
        }
    }
}

impl From<iso::Limitation> for w::Limitation {
    fn from(v: iso::Limitation) -> Self {
        w::Limitation {
            reason: match v.reason {
                iso::LimitationReason::Memory => w::LimitationReason::Memory,
                iso::LimitationReason::Disk => w::LimitationReason::Disk,
                iso::LimitationReason::Cpu => w::LimitationReason::Cpu,
                iso::LimitationReason::Other => w::LimitationReason::Other,
            },
            message: v.message,
            resources: all(v.resources),
        }
    }
}

impl<C> w::Guest for C
where
    C: Instance,
    C::Policy: IsolatorPolicy + Create,
{
    fn init(parameters: Vec<Parameter>) -> Result<(), String> {
        init::<C>(parameters)
    }

    fn recover(containers: Vec<w::ContainerConfig>) -> Result<(), String> {
        let containers: Vec<iso::ContainerConfig> = all(containers);
        try_with::<C, _>("recover", |p| p.recover(&containers, &mut HostCgroups))
    }

    fn prepare(config: w::ContainerConfig) -> Result<w::LaunchInfo, String> {
        let config = config.into();
        try_with::<C, _>("prepare", |p| {
            p.prepare(&config, &mut HostCgroups).map(Into::into)
        })
    }

    fn isolate(container: ContainerId, pid: u32) -> Result<(), String> {
        try_with::<C, _>("isolate", |p| p.isolate(container, pid, &mut HostCgroups))
    }

    fn watch(container: ContainerId) -> Option<w::Limitation> {
        with_or::<C, _>(None, |p| {
            p.watch(container, &mut HostCgroups).map(Into::into)
        })
    }

    fn update(container: ContainerId, resources: Vec<wt::Resource>) -> Result<(), String> {
        let resources: Vec<meseta_types::resources::Resource> = all(resources);
        try_with::<C, _>("update", |p| {
            p.update(container, &resources, &mut HostCgroups)
        })
    }

    fn usage(container: ContainerId) -> Result<wt::ResourceStatistics, String> {
        try_with::<C, _>("usage", |p| {
            p.usage(container, &mut HostCgroups).map(Into::into)
        })
    }

    fn cleanup(container: ContainerId) -> Result<(), String> {
        try_with::<C, _>("cleanup", |p| p.cleanup(container, &mut HostCgroups))
    }
}
