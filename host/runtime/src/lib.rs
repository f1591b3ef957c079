//! The module runtime: loads WebAssembly components listed in Mesos-format manifests and runs
//! them sandboxed.
//!
//! It knows nothing of Mesos' domain. Module kinds are given to it as [`WorldSpec`]s by the
//! crates that know them, and generated bindings plug in through the [`World`] trait.
//!
//! - [`manifest`]: `--modules` / `--modules_dir` JSON, with Meseta's per-module settings.
//! - [`module`]: read, classify, compile (through the [`cache`]) and verify a component.
//! - [`sandbox`]: one instance with a memory cap, a per-call deadline and granted directories
//!   only; faults poison the instance, which is replaced on the next call.
//! - [`counters`]: calls, faults by cause, fallbacks and latency per module.
//!
//! Architecture invariant: no call into a module can take the process down; every failure
//! becomes a [`ModuleError`] (at call time) or a [`LoadError`] (at load time) naming the module.

pub mod cache;
pub mod counters;
pub mod engine;
pub mod error;
pub mod manifest;
pub mod module;
pub mod output;
pub mod sandbox;
pub mod world;

pub use cache::{CacheOutcome, ComponentCache};
pub use counters::{Counters, CountersSnapshot, LatencyHistogram};
pub use error::{FaultCause, LoadError, ModuleError};
pub use manifest::{FailurePolicy, Grant, Manifest, ModuleSpec, Settings, Source};
pub use module::{Builtins, LoadedModule, Loader, NoBuiltins};
pub use sandbox::{InstanceContext, Sandbox, StoreState, World};
pub use world::{Summary, WorldSpec, article};
