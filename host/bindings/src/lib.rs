//! Host bindings for the `meseta:modules@0.1.0` worlds, their later versions
//! (`meseta:hooks@0.2.0`, `meseta:allocator@0.2.0` and `@0.3.0`) and `meseta:authorizer@0.1.0`, generated at compile time from `wit/`.
//!
//! This is the only crate that runs `wasmtime::component::bindgen!`. It shares the generated
//! `types`, `host` and `hook-types` interfaces between the worlds, implements the `host` import
//! (log, clock) for every module, plugs each world into the runtime through
//! [`meseta_runtime::World`], and declares each kind's [`WorldSpec`].
//!
//! API boundary: the kind crates use the generated types and the `WORLDS` table; nothing here
//! knows when a daemon calls what.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use meseta_runtime::{StoreState, World, WorldSpec};
use wasmtime::Store;
use wasmtime::component::{HasSelf, InstancePre, Linker};

pub mod allocator {
    wasmtime::component::bindgen!({
        world: "allocator",
        path: "../../wit/meseta-modules-0.1.0",
    });
}

pub mod isolator {
    wasmtime::component::bindgen!({
        world: "isolator",
        path: "../../wit/meseta-modules-0.1.0",
        with: {
            "meseta:modules/types": crate::allocator::meseta::modules::types,
            "meseta:modules/host": crate::allocator::meseta::modules::host,
        },
    });
}

pub mod resource_estimator {
    wasmtime::component::bindgen!({
        world: "resource-estimator",
        path: "../../wit/meseta-modules-0.1.0",
        with: {
            "meseta:modules/types": crate::allocator::meseta::modules::types,
            "meseta:modules/host": crate::allocator::meseta::modules::host,
        },
    });
}

pub mod qos_controller {
    wasmtime::component::bindgen!({
        world: "qos-controller",
        path: "../../wit/meseta-modules-0.1.0",
        with: {
            "meseta:modules/types": crate::allocator::meseta::modules::types,
            "meseta:modules/host": crate::allocator::meseta::modules::host,
        },
    });
}

pub mod master_hooks {
    wasmtime::component::bindgen!({
        world: "master-hooks",
        path: "../../wit/meseta-modules-0.1.0",
        with: {
            "meseta:modules/types": crate::allocator::meseta::modules::types,
            "meseta:modules/host": crate::allocator::meseta::modules::host,
        },
    });
}

pub mod agent_hooks {
    wasmtime::component::bindgen!({
        world: "agent-hooks",
        path: "../../wit/meseta-modules-0.1.0",
        with: {
            "meseta:modules/types": crate::allocator::meseta::modules::types,
            "meseta:modules/host": crate::allocator::meseta::modules::host,
            "meseta:modules/hook-types": crate::master_hooks::meseta::modules::hook_types,
        },
    });
}

/// Version 2 of the hook worlds (`meseta:hooks@0.2.0`): integer handles instead of records.
pub mod master_hooks_v2 {
    wasmtime::component::bindgen!({
        world: "meseta:hooks/master-hooks@0.2.0",
        path: ["../../wit/meseta-modules-0.1.0", "../../wit/meseta-hooks-0.2.0"],
        with: {
            "meseta:modules/types": crate::allocator::meseta::modules::types,
            "meseta:modules/host": crate::allocator::meseta::modules::host,
            "meseta:modules/hook-types": crate::master_hooks::meseta::modules::hook_types,
        },
        imports: { default: trappable },
    });
}

pub mod agent_hooks_v2 {
    wasmtime::component::bindgen!({
        world: "meseta:hooks/agent-hooks@0.2.0",
        path: ["../../wit/meseta-modules-0.1.0", "../../wit/meseta-hooks-0.2.0"],
        with: {
            "meseta:modules/types": crate::allocator::meseta::modules::types,
            "meseta:modules/host": crate::allocator::meseta::modules::host,
            "meseta:modules/hook-types": crate::master_hooks::meseta::modules::hook_types,
            "meseta:hooks/views": crate::master_hooks_v2::meseta::hooks::views,
        },
        imports: { default: trappable },
    });
}

/// Version 2 of the allocator world (`meseta:allocator@0.2.0`): `allocate` answers columns.
pub mod allocator_v2 {
    wasmtime::component::bindgen!({
        world: "meseta:allocator/allocator@0.2.0",
        path: ["../../wit/meseta-modules-0.1.0", "../../wit/meseta-allocator-0.2.0"],
        with: {
            "meseta:modules/types": crate::allocator::meseta::modules::types,
            "meseta:modules/host": crate::allocator::meseta::modules::host,
        },
    });
}

/// Version 3 of the allocator world (`meseta:allocator@0.3.0`): reserved resources as slots.
pub mod allocator_v3 {
    wasmtime::component::bindgen!({
        world: "meseta:allocator/allocator@0.3.0",
        path: ["../../wit/meseta-modules-0.1.0", "../../wit/meseta-allocator-0.3.0"],
        with: {
            "meseta:modules/types": crate::allocator::meseta::modules::types,
            "meseta:modules/host": crate::allocator::meseta::modules::host,
        },
    });
}

/// The authorizer world (`meseta:authorizer@0.1.0`): one call per decision.
pub mod authorizer {
    wasmtime::component::bindgen!({
        world: "meseta:authorizer/authorizer@0.1.0",
        path: ["../../wit/meseta-modules-0.1.0", "../../wit/meseta-authorizer-0.1.0"],
        with: {
            "meseta:modules/types": crate::allocator::meseta::modules::types,
            "meseta:modules/host": crate::allocator::meseta::modules::host,
        },
    });
}

pub mod convert;
pub mod views;

use allocator::meseta::modules::host::{self, Level};
pub use allocator::meseta::modules::types;
pub use master_hooks::meseta::modules::hook_types;

const PACKAGE: &str = "meseta:modules";
const VERSION: (u64, u64, u64) = (0, 1, 0);
const MIB: u64 = 1 << 20;

pub const ALLOCATOR: WorldSpec = WorldSpec {
    kind: "allocator",
    package: PACKAGE,
    version: VERSION,
    export: "allocator-api",
    default_deadline: Duration::from_secs(5),
    default_memory: 512 * MIB,
};
pub const ISOLATOR: WorldSpec = WorldSpec {
    kind: "isolator",
    package: PACKAGE,
    version: VERSION,
    export: "isolator-api",
    default_deadline: Duration::from_millis(500),
    default_memory: 64 * MIB,
};
pub const RESOURCE_ESTIMATOR: WorldSpec = WorldSpec {
    kind: "resource-estimator",
    package: PACKAGE,
    version: VERSION,
    export: "resource-estimator-api",
    default_deadline: Duration::from_millis(500),
    default_memory: 64 * MIB,
};
pub const QOS_CONTROLLER: WorldSpec = WorldSpec {
    kind: "qos-controller",
    package: PACKAGE,
    version: VERSION,
    export: "qos-controller-api",
    default_deadline: Duration::from_millis(500),
    default_memory: 64 * MIB,
};
pub const MASTER_HOOKS: WorldSpec = WorldSpec {
    kind: "master-hooks",
    package: PACKAGE,
    version: VERSION,
    export: "master-hooks-api",
    default_deadline: Duration::from_millis(100),
    default_memory: 64 * MIB,
};
pub const AGENT_HOOKS: WorldSpec = WorldSpec {
    kind: "agent-hooks",
    package: PACKAGE,
    version: VERSION,
    export: "agent-hooks-api",
    default_deadline: Duration::from_millis(100),
    default_memory: 64 * MIB,
};

/// `master-hooks` at version 2 (`meseta:hooks@0.2.0`): integer handles instead of records.
pub const MASTER_HOOKS_V2: WorldSpec = WorldSpec {
    package: "meseta:hooks",
    version: (0, 2, 0),
    ..MASTER_HOOKS
};
/// `agent-hooks` at version 2 (`meseta:hooks@0.2.0`).
pub const AGENT_HOOKS_V2: WorldSpec = WorldSpec {
    package: "meseta:hooks",
    version: (0, 2, 0),
    ..AGENT_HOOKS
};

/// `allocator` at version 2 (`meseta:allocator@0.2.0`): `allocate` answers columns.
pub const ALLOCATOR_V2: WorldSpec = WorldSpec {
    package: "meseta:allocator",
    version: (0, 2, 0),
    ..ALLOCATOR
};

/// `allocator` at version 3 (`meseta:allocator@0.3.0`): reserved resources as slots.
pub const ALLOCATOR_V3: WorldSpec = WorldSpec {
    package: "meseta:allocator",
    version: (0, 3, 0),
    ..ALLOCATOR
};

/// `authorizer` (`meseta:authorizer@0.1.0`): Mesos' `--authorizers`. A decision is a lookup,
/// so the deadline is short: a daemon asks on every request it authorizes.
pub const AUTHORIZER: WorldSpec = WorldSpec {
    kind: "authorizer",
    package: "meseta:authorizer",
    version: (0, 1, 0),
    export: "authorizer-api",
    default_deadline: Duration::from_millis(100),
    default_memory: 64 * MIB,
};

/// Every module kind this host serves; a kind served at two versions is listed newest first.
pub const WORLDS: &[WorldSpec] = &[
    ALLOCATOR_V3,
    ALLOCATOR_V2,
    ALLOCATOR,
    ISOLATOR,
    RESOURCE_ESTIMATOR,
    QOS_CONTROLLER,
    MASTER_HOOKS_V2,
    MASTER_HOOKS,
    AGENT_HOOKS_V2,
    AGENT_HOOKS,
    AUTHORIZER,
];

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

impl<T: Send> host::Host for StoreState<T> {
    fn log(&mut self, level: Level, message: String) {
        let module = self.module();
        match level {
            Level::Trace => {
                tracing::trace!(target: "meseta::module", module = %module, "{message}")
            }
            Level::Debug => {
                tracing::debug!(target: "meseta::module", module = %module, "{message}")
            }
            Level::Info => tracing::info!(target: "meseta::module", module = %module, "{message}"),
            Level::Warn => tracing::warn!(target: "meseta::module", module = %module, "{message}"),
            Level::Error => {
                tracing::error!(target: "meseta::module", module = %module, "{message}")
            }
        }
    }

    fn now(&mut self) -> u64 {
        origin().elapsed().as_nanos() as u64
    }
}

impl<T: Send> types::Host for StoreState<T> {}
impl<T: Send> hook_types::Host for StoreState<T> {}

fn parameters(p: &[(String, String)]) -> Vec<types::Parameter> {
    p.iter()
        .map(|(key, value)| types::Parameter {
            key: key.clone(),
            value: value.clone(),
        })
        .collect()
}

/// Implements `World` for a generated world whose imports need nothing beyond `StoreState`:
/// for any store data, or (`[generics] data, ...`) for the given one.
macro_rules! plain_world {
    ([$($g:tt)*] $data:ty, $world:ty, $pre:ty, $iface:ident) => {
        impl<$($g)*> World<$data> for $world {
            type Pre = $pre;
            fn add_to_linker(linker: &mut Linker<StoreState<$data>>) -> wasmtime::Result<()> {
                <$world>::add_to_linker::<_, HasSelf<_>>(linker, |s| s)
            }
            fn pre(pre: InstancePre<StoreState<$data>>) -> wasmtime::Result<Self::Pre> {
                <$pre>::new(pre)
            }
            fn instantiate(
                pre: &Self::Pre,
                store: &mut Store<StoreState<$data>>,
            ) -> wasmtime::Result<Self> {
                pre.instantiate(store)
            }
            fn init(
                &self,
                store: &mut Store<StoreState<$data>>,
                p: &[(String, String)],
            ) -> wasmtime::Result<Result<(), String>> {
                self.$iface().call_init(store, &parameters(p))
            }
        }
    };
    ($world:ty, $pre:ty, $iface:ident) => {
        plain_world!([T: Send + 'static] T, $world, $pre, $iface);
    };
}

plain_world!(
    allocator::Allocator,
    allocator::AllocatorPre<StoreState<T>>,
    meseta_modules_allocator_api
);
plain_world!(
    allocator_v2::Allocator,
    allocator_v2::AllocatorPre<StoreState<T>>,
    meseta_allocator_allocator_api
);
plain_world!(
    allocator_v3::Allocator,
    allocator_v3::AllocatorPre<StoreState<T>>,
    meseta_allocator_allocator_api
);
plain_world!(
    resource_estimator::ResourceEstimator,
    resource_estimator::ResourceEstimatorPre<StoreState<T>>,
    meseta_modules_resource_estimator_api
);
plain_world!(
    qos_controller::QosController,
    qos_controller::QosControllerPre<StoreState<T>>,
    meseta_modules_qos_controller_api
);
plain_world!(
    authorizer::Authorizer,
    authorizer::AuthorizerPre<StoreState<T>>,
    meseta_authorizer_authorizer_api
);
plain_world!(
    master_hooks::MasterHooks,
    master_hooks::MasterHooksPre<StoreState<T>>,
    meseta_modules_master_hooks_api
);
plain_world!(
    agent_hooks::AgentHooks,
    agent_hooks::AgentHooksPre<StoreState<T>>,
    meseta_modules_agent_hooks_api
);

// Version 2 hooks worlds: their `views` import reads the store's `Lent`.
plain_world!(
    [] views::Lent,
    master_hooks_v2::MasterHooks,
    master_hooks_v2::MasterHooksPre<StoreState<views::Lent>>,
    meseta_hooks_master_hooks_api
);
plain_world!(
    [] views::Lent,
    agent_hooks_v2::AgentHooks,
    agent_hooks_v2::AgentHooksPre<StoreState<views::Lent>>,
    meseta_hooks_agent_hooks_api
);

/// The host side of the isolator's scoped `cgroups` import. The agent provides it; the isolator
/// adapter scopes each call to one container.
pub trait CgroupsHost: Send {
    fn cgroups(&mut self) -> &mut dyn meseta_types::isolation::Cgroups;
}

pub use isolator::meseta::modules::cgroups;

impl<T: CgroupsHost> cgroups::Host for StoreState<T> {
    fn set_cpu_shares(&mut self, container: u32, shares: u64) -> Result<(), cgroups::CgroupError> {
        self.data
            .cgroups()
            .set_cpu_shares(container, shares)
            .map_err(cgroup_error)
    }
    fn set_cpu_quota(
        &mut self,
        container: u32,
        period_us: u64,
        quota_us: Option<u64>,
    ) -> Result<(), cgroups::CgroupError> {
        self.data
            .cgroups()
            .set_cpu_quota(container, period_us, quota_us)
            .map_err(cgroup_error)
    }
    fn set_memory_limit(&mut self, container: u32, bytes: u64) -> Result<(), cgroups::CgroupError> {
        self.data
            .cgroups()
            .set_memory_limit(container, bytes)
            .map_err(cgroup_error)
    }
    fn get_cpu_stats(&mut self, container: u32) -> Result<cgroups::CpuStats, cgroups::CgroupError> {
        let s = self
            .data
            .cgroups()
            .cpu_stats(container)
            .map_err(cgroup_error)?;
        Ok(cgroups::CpuStats {
            usage_ns: s.usage_ns,
            user_ns: s.user_ns,
            system_ns: s.system_ns,
            nr_periods: s.nr_periods,
            nr_throttled: s.nr_throttled,
            throttled_ns: s.throttled_ns,
        })
    }
    fn get_memory_stats(
        &mut self,
        container: u32,
    ) -> Result<cgroups::MemoryStats, cgroups::CgroupError> {
        let s = self
            .data
            .cgroups()
            .memory_stats(container)
            .map_err(cgroup_error)?;
        Ok(cgroups::MemoryStats {
            usage_bytes: s.usage_bytes,
            max_usage_bytes: s.max_usage_bytes,
            limit_bytes: s.limit_bytes,
            rss_bytes: s.rss_bytes,
            cache_bytes: s.cache_bytes,
            swap_bytes: s.swap_bytes,
        })
    }
    fn oom_events(&mut self, container: u32) -> Result<u64, cgroups::CgroupError> {
        self.data
            .cgroups()
            .oom_events(container)
            .map_err(cgroup_error)
    }
}

fn cgroup_error(e: meseta_types::isolation::CgroupError) -> cgroups::CgroupError {
    use meseta_types::isolation::CgroupError as E;
    match e {
        E::NotPermitted(m) => cgroups::CgroupError::NotPermitted(m),
        E::Unsupported(m) => cgroups::CgroupError::Unsupported(m),
        E::Io(m) => cgroups::CgroupError::Io(m),
    }
}

impl<T: CgroupsHost + 'static> World<T> for isolator::Isolator {
    type Pre = isolator::IsolatorPre<StoreState<T>>;
    fn add_to_linker(linker: &mut Linker<StoreState<T>>) -> wasmtime::Result<()> {
        isolator::Isolator::add_to_linker::<_, HasSelf<_>>(linker, |s| s)
    }
    fn pre(pre: InstancePre<StoreState<T>>) -> wasmtime::Result<Self::Pre> {
        isolator::IsolatorPre::new(pre)
    }
    fn instantiate(pre: &Self::Pre, store: &mut Store<StoreState<T>>) -> wasmtime::Result<Self> {
        pre.instantiate(store)
    }
    fn init(
        &self,
        store: &mut Store<StoreState<T>>,
        p: &[(String, String)],
    ) -> wasmtime::Result<Result<(), String>> {
        self.meseta_modules_isolator_api()
            .call_init(store, &parameters(p))
    }
}

/// A cgroups host with no cgroups: every call is refused as unsupported. For tools that only
/// link and start isolator modules (`meseta module validate`), never for running containers.
#[derive(Default)]
pub struct NoCgroups;

impl meseta_types::isolation::Cgroups for NoCgroups {
    fn set_cpu_shares(
        &mut self,
        _: u32,
        _: u64,
    ) -> Result<(), meseta_types::isolation::CgroupError> {
        Err(no_cgroups())
    }
    fn set_cpu_quota(
        &mut self,
        _: u32,
        _: u64,
        _: Option<u64>,
    ) -> Result<(), meseta_types::isolation::CgroupError> {
        Err(no_cgroups())
    }
    fn set_memory_limit(
        &mut self,
        _: u32,
        _: u64,
    ) -> Result<(), meseta_types::isolation::CgroupError> {
        Err(no_cgroups())
    }
    fn cpu_stats(
        &mut self,
        _: u32,
    ) -> Result<meseta_types::isolation::CpuStats, meseta_types::isolation::CgroupError> {
        Err(no_cgroups())
    }
    fn memory_stats(
        &mut self,
        _: u32,
    ) -> Result<meseta_types::isolation::MemoryStats, meseta_types::isolation::CgroupError> {
        Err(no_cgroups())
    }
    fn oom_events(&mut self, _: u32) -> Result<u64, meseta_types::isolation::CgroupError> {
        Err(no_cgroups())
    }
}

fn no_cgroups() -> meseta_types::isolation::CgroupError {
    meseta_types::isolation::CgroupError::Unsupported("no container is being isolated".into())
}

impl CgroupsHost for NoCgroups {
    fn cgroups(&mut self) -> &mut dyn meseta_types::isolation::Cgroups {
        self
    }
}
