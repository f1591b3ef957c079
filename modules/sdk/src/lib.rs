//! The guest SDK for Meseta modules: write a policy in plain Rust, export it as a WebAssembly
//! component.
//!
//! A Meseta module is a WebAssembly component that implements one world of the WIT contract (see
//! `wit/` at the root of the repository): `isolator`, `resource-estimator` or `qos-controller`
//! of `meseta:modules@0.1.0`, `allocator` of `meseta:allocator@0.2.0`, `master-hooks` or
//! `agent-hooks` of `meseta:hooks@0.2.0`, or `authorizer` of `meseta:authorizer@0.1.0`. Allocators and hooks are at their second version; the
//! first, in `meseta:modules@0.1.0`, is still served and exported with the `*-v1` features. This crate hides the bindings: you implement a
//! policy trait from [`meseta_types`] on a plain Rust type, and one macro turns it into the
//! component's exports.
//!
//! # Writing a module
//!
//! `Cargo.toml`: a `cdylib` that enables the SDK feature named after its world.
//!
//! ```toml
//! [package]
//! name = "my-hook"
//! version = "0.1.0"
//! edition = "2024"
//!
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! meseta-sdk = { version = "0.1", features = ["master-hooks"] }
//! ```
//!
//! `src/lib.rs`: the policy is a type that implements [`Create`] (built from the manifest's
//! `parameters`; an `Err` is reported by the daemon and stops it starting) and the policy trait of
//! its kind. The SDK re-exports [`meseta_types`], so no other dependency is needed.
//!
//! ```ignore
//! use meseta_sdk::meseta_types::hooks::{AgentView, Decision, Edit, FrameworkView, MasterHooks, TaskView};
//! use meseta_sdk::meseta_types::resources::Label;
//! use meseta_sdk::meseta_types::{parameter, Create, Parameters};
//!
//! pub struct TeamLabel {
//!     team: String,
//! }
//!
//! impl Create for TeamLabel {
//!     fn create(parameters: &Parameters) -> Result<Self, String> {
//!         let team = parameter(parameters, "team").ok_or("parameter 'team' is required")?;
//!         Ok(TeamLabel { team: team.to_string() })
//!     }
//! }
//!
//! impl MasterHooks for TeamLabel {
//!     fn launch_task_label_decorator(
//!         &mut self,
//!         task: &dyn TaskView,
//!         _framework: &dyn FrameworkView,
//!         _agent: &dyn AgentView,
//!     ) -> Decision<Edit<Label>> {
//!         // each view method is one host call that copies in only that field
//!         meseta_sdk::log::debug(&format!("labelling task {}", task.task_id()));
//!         // set one label; the task's other labels stay without crossing the boundary
//!         Ok(Some(Edit::Set(vec![Label { key: "team".into(), value: Some(self.team.clone()) }])))
//!     }
//! }
//!
//! meseta_sdk::export_master_hooks!(TeamLabel);
//! ```
//!
//! Build the component (the `wasm32-wasip2` target links a component directly):
//!
//! ```text
//! rustup target add wasm32-wasip2
//! cargo build --release --target wasm32-wasip2
//! # -> target/wasm32-wasip2/release/my_hook.wasm
//! ```
//!
//! and point a manifest's `file` at the `.wasm`.
//!
//! | world | feature | trait | macro |
//! |---|---|---|---|
//! | `allocator` (`meseta:allocator@0.3.0`) | `allocator` | [`AllocatorPolicy`](meseta_types::allocation::AllocatorPolicy) | [`export_allocator!`] |
//! | `isolator` | `isolator` | [`IsolatorPolicy`](meseta_types::isolation::IsolatorPolicy) | [`export_isolator!`] |
//! | `resource-estimator` | `resource-estimator` | [`EstimatorPolicy`](meseta_types::oversubscription::EstimatorPolicy) | [`export_resource_estimator!`] |
//! | `qos-controller` | `qos-controller` | [`QosPolicy`](meseta_types::oversubscription::QosPolicy) | [`export_qos_controller!`] |
//! | `master-hooks` (`meseta:hooks@0.2.0`) | `master-hooks` | [`MasterHooks`](meseta_types::hooks::MasterHooks) | [`export_master_hooks!`] |
//! | `agent-hooks` (`meseta:hooks@0.2.0`) | `agent-hooks` | [`AgentHooks`](meseta_types::hooks::AgentHooks) | [`export_agent_hooks!`] |
//! | `master-hooks` (`meseta:modules@0.1.0`) | `master-hooks-v1` | [`MasterHooks`](meseta_types::hooks::MasterHooks) | [`export_master_hooks_v1!`] |
//! | `agent-hooks` (`meseta:modules@0.1.0`) | `agent-hooks-v1` | [`AgentHooks`](meseta_types::hooks::AgentHooks) | [`export_agent_hooks_v1!`] |
//! | `authorizer` (`meseta:authorizer@0.1.0`) | `authorizer` | [`AuthorizerPolicy`](meseta_types::authorization::AuthorizerPolicy) | [`export_authorizer!`] |
//! | `allocator` (`meseta:allocator@0.2.0`) | `allocator-v2` | [`AllocatorPolicy`](meseta_types::allocation::AllocatorPolicy) | [`export_allocator_v2!`] |
//! | `allocator` (`meseta:modules@0.1.0`) | `allocator-v1` | [`AllocatorPolicy`](meseta_types::allocation::AllocatorPolicy) | [`export_allocator_v1!`] |
//!
//! Enable exactly one world feature per module: the component then contains exactly that world.
//!
//! # Hooks: the two versions
//!
//! Both versions export the same traits, whose methods take views (`&dyn TaskView`, ...). In
//! version 2 a view method is a host call that copies in only the field it returns (the hook
//! point passes integer handles), so a hook pays for what it reads; label and environment
//! decorators answer with an [`Edit`](meseta_types::hooks::Edit), and `Edit::Set` carries only
//! the entries the hook sets. The SDK sends an edit equal to the previous one at the same hook
//! point as `repeat`, which the host answers from the edit it kept, so a hook with a fixed
//! answer sends it once. In version 1 every call copies in whole records, the view methods read
//! that copy, and the SDK applies the edit to send the whole list.
//!
//! # Allocators: the three versions
//!
//! All export the same [`AllocatorPolicy`](meseta_types::allocation::AllocatorPolicy). Version 3
//! (`allocator`) is version 2 plus reserved resources: a
//! [`ResourceKind`](meseta_types::allocation::ResourceKind) may be `reserved_for` a role, and
//! [`add_resource_kinds`](meseta_types::allocation::AllocatorPolicy::add_resource_kinds) appends
//! kinds to the table (the columns' width grows with it); the host faults a round that offers a
//! reserved slot to a role other than its own or a sub-role. A version 1 or 2 module is given
//! the initial (unreserved) kinds only and never `add_resource_kinds`. In
//! versions 2 and 3 the SDK sends a round's offers as columns: the ids of each offer, and its amounts
//! padded with zeros to the number of resource kinds (`Options::resource_kinds`) in one flat
//! list; an offer with more amounts than there are kinds traps, naming its agent. In version 1
//! each offer crosses as a record with its own list. The host checks the offers of both the
//! same way.
//!
//! Versions 2 and 3 run a round through
//! [`AllocatorPolicy::allocate_into`](meseta_types::allocation::AllocatorPolicy::allocate_into),
//! which hands each offer over as the policy makes it: a policy that implements it (as
//! `allocator-drf` does) writes its offers straight into the columns, with no vector allocated
//! and dropped per offer. One that implements only `allocate` works the same, through the
//! trait's default.
//!
//! # What the export macros do
//!
//! * `init(parameters)` calls [`Create::create`] and keeps the instance in the component's
//!   state; an `Err` is returned to the host as is. A later `init` replaces the instance.
//! * Every other export converts the WIT values to [`meseta_types`] values, calls the trait and
//!   converts the answer back. Before a successful `init`, calls whose WIT result can carry an
//!   error return one (`"... called before a successful init"`), `allocate` returns no offers and
//!   `watch` no limitation; the remaining calls trap with that message.
//! * For the isolator world the SDK passes an implementation of
//!   [`Cgroups`](meseta_types::isolation::Cgroups) backed by the host's `cgroups` import, so the
//!   policy can be unit-tested natively with a fake.
//! * A panic in the policy traps the component; the host treats it as a module fault.
//!
//! # Keeping the policy native-testable
//!
//! The modules shipped with Meseta keep the policy in a crate that depends only on
//! `meseta-types`, so it compiles natively (for unit tests and as the daemons' built-in "native
//! twin"), and add the SDK only for `wasm32`:
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib", "rlib"]
//!
//! [dependencies]
//! meseta-types = "0.1"
//!
//! [target.'cfg(target_arch = "wasm32")'.dependencies]
//! meseta-sdk = { version = "0.1", features = ["allocator"] }
//! ```
//!
//! ```ignore
//! #[cfg(target_arch = "wasm32")]
//! meseta_sdk::export_allocator!(DrfAllocator);
//! ```
//!
//! # Host functions
//!
//! [`log`] sends log lines to the host, which re-emits them under the module's name, and
//! [`now_ns`] reads the host's monotonic clock. Both work under every world. Compiled natively
//! (in unit tests), they write to stderr and read the process's monotonic clock instead.
//!
//! Modules get no WASI capabilities unless their manifest grants them: no files, no environment,
//! no network.

// The generated bindings name this crate by its path (`runtime_path`), also from inside it.
extern crate self as meseta_sdk;

pub use meseta_types;
pub use meseta_types::{Create, Parameters, Quantities, parameter};
#[cfg(target_arch = "wasm32")]
pub use wit_bindgen;

// The bindings and the exports build only for wasm32: wit-bindgen is a wasm32-only dependency, so
// a native build of the workspace (where this crate is a member) compiles neither it nor its
// proc-macro's dependencies, whose features would otherwise differ from those the `meseta`
// binary's own build resolves, and `cargo build --workspace` would rebuild wasmtime for it.
#[cfg(all(
    not(target_arch = "wasm32"),
    any(
        feature = "allocator",
        feature = "allocator-v1",
        feature = "allocator-v2",
        feature = "isolator",
        feature = "resource-estimator",
        feature = "qos-controller",
        feature = "master-hooks",
        feature = "master-hooks-v1",
        feature = "agent-hooks",
        feature = "agent-hooks-v1",
        feature = "authorizer"
    )
))]
compile_error!(
    "meseta-sdk's world features build a component: compile for wasm32-wasip2 (add the SDK under \
     [target.'cfg(target_arch = \"wasm32\")'.dependencies]); natively, depend on meseta-types"
);

#[cfg(target_arch = "wasm32")]
mod convert;
pub mod log;
pub mod resources;

#[cfg(feature = "agent-hooks")]
pub mod agent_hooks;
#[cfg(feature = "agent-hooks-v1")]
pub mod agent_hooks_v1;
#[cfg(feature = "allocator")]
pub mod allocator;
#[cfg(any(
    feature = "allocator",
    feature = "allocator-v1",
    feature = "allocator-v2"
))]
mod allocator_guest;
#[cfg(feature = "allocator-v1")]
pub mod allocator_v1;
#[cfg(feature = "allocator-v2")]
pub mod allocator_v2;
#[cfg(feature = "authorizer")]
pub mod authorizer;
#[cfg(feature = "isolator")]
pub mod isolator;
#[cfg(feature = "master-hooks")]
pub mod master_hooks;
#[cfg(feature = "master-hooks-v1")]
pub mod master_hooks_v1;
#[cfg(feature = "qos-controller")]
pub mod qos_controller;
#[cfg(feature = "resource-estimator")]
pub mod resource_estimator;

mod missing;
#[cfg(any(feature = "master-hooks", feature = "agent-hooks"))]
pub mod views;

/// Bindings of the parts of the contract every world shares: the `host` import and the
/// `types` and `hook-types` interfaces. The world bindings reuse these types (`with`), so one
/// set of conversions serves every world.
#[doc(hidden)]
#[cfg(target_arch = "wasm32")]
pub mod wit {
    wit_bindgen::generate!({
        inline: "
            package meseta:sdk;
            world common {
                import meseta:modules/host@0.1.0;
                import meseta:modules/types@0.1.0;
                import meseta:modules/hook-types@0.1.0;
            }
        ",
        path: "../../wit/meseta-modules-0.1.0",
        world: "common",
        generate_unused_types: true,
        generate_all,
        runtime_path: "meseta_sdk::wit_bindgen::rt",
    });
}

/// Nanoseconds on the host's monotonic clock (an arbitrary origin fixed when the host started).
///
/// Compiled natively, the origin is the first call in this process.
pub fn now_ns() -> u64 {
    #[cfg(target_arch = "wasm32")]
    {
        wit::meseta::modules::host::now()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        use std::sync::OnceLock;
        use std::time::Instant;
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        let origin = *ORIGIN.get_or_init(Instant::now);
        u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Parses the parameter `key` with [`FromStr`](std::str::FromStr): `Ok(None)` when it is absent,
/// an error naming the parameter when it does not parse.
pub fn parse_parameter<T>(parameters: &Parameters, key: &str) -> Result<Option<T>, String>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    match parameter(parameters, key) {
        None => Ok(None),
        Some(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|e| format!("parameter '{key}' is invalid ('{text}'): {e}")),
    }
}

/// Machinery used by the export macros; not part of the API.
#[doc(hidden)]
#[cfg(target_arch = "wasm32")]
pub mod __private {
    use meseta_types::Create;

    pub use std::cell::RefCell;
    pub use std::thread_local;

    /// The component's one policy instance, kept in a thread-local of the module crate (a
    /// component instance is single-threaded).
    pub trait Instance: 'static {
        type Policy: Create;
        fn with<R>(f: impl FnOnce(&mut Option<Self::Policy>) -> R) -> R;
    }

    /// `init`: builds the policy from the manifest's parameters.
    pub fn init<C: Instance>(
        parameters: Vec<crate::wit::meseta::modules::types::Parameter>,
    ) -> Result<(), String> {
        let parameters: Vec<(String, String)> =
            parameters.into_iter().map(|p| (p.key, p.value)).collect();
        let created = C::Policy::create(&parameters);
        C::with(|slot| match created {
            Ok(policy) => {
                *slot = Some(policy);
                crate::log::debug(&format!("initialized with {} parameters", parameters.len()));
                Ok(())
            }
            Err(e) => {
                *slot = None;
                Err(e)
            }
        })
    }

    fn not_initialized(call: &str) -> String {
        format!("`{call}` called before a successful init")
    }

    /// Runs `f` on the policy, or returns the "not initialized" error.
    pub fn try_with<C: Instance, R>(
        call: &str,
        f: impl FnOnce(&mut C::Policy) -> Result<R, String>,
    ) -> Result<R, String> {
        C::with(|slot| match slot {
            Some(policy) => f(policy),
            None => Err(not_initialized(call)),
        })
    }

    /// Runs `f` on the policy, or returns `fallback` when there is none yet.
    pub fn with_or<C: Instance, R>(fallback: R, f: impl FnOnce(&mut C::Policy) -> R) -> R {
        C::with(|slot| match slot {
            Some(policy) => f(policy),
            None => fallback,
        })
    }

    /// Runs `f` on the policy, or traps (the WIT function has no way to report an error).
    pub fn with_or_trap<C: Instance, R>(call: &str, f: impl FnOnce(&mut C::Policy) -> R) -> R {
        C::with(|slot| match slot {
            Some(policy) => f(policy),
            None => trap(&not_initialized(call)),
        })
    }

    /// Logs `message` to the host, then traps with it.
    #[allow(clippy::panic)] // a trap is the only answer a void export can give
    pub fn trap(message: &str) -> ! {
        crate::log::error(message);
        panic!("meseta-sdk: {message}")
    }

    /// Declares the unit type `$name` holding the policy `$policy`.
    #[macro_export]
    #[doc(hidden)]
    macro_rules! __meseta_instance {
        ($name:ident, $policy:ty) => {
            struct $name;
            $crate::__private::thread_local! {
                static __MESETA_POLICY: $crate::__private::RefCell<::core::option::Option<$policy>> =
                    const { $crate::__private::RefCell::new(::core::option::Option::None) };
            }
            impl $crate::__private::Instance for $name {
                type Policy = $policy;
                fn with<R>(f: impl FnOnce(&mut ::core::option::Option<$policy>) -> R) -> R {
                    __MESETA_POLICY.with_borrow_mut(f)
                }
            }
        };
    }
}
