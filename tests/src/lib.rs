//! Shared helpers for Meseta's end-to-end tests and benchmarks: load shipped modules and test
//! guests exactly as a daemon does (through a manifest spec and the runtime's loader), and run
//! the daemons and example programs as child processes ([`daemons`]); prepare what tests need
//! from outside ([`prereqs`]); run a real ZooKeeper ([`zookeeper`]); drive a headless Chromium ([`browser`]).

pub mod browser;
pub mod cluster;
pub mod daemons;
pub mod guests;
pub mod prereqs;
pub mod scheduler;
pub mod zookeeper;

use std::sync::Arc;

use meseta_bindings::WORLDS;
use meseta_runtime::{
    ComponentCache, LoadError, LoadedModule, Loader, ModuleSpec, Settings, Source,
};

pub fn loader(cache: ComponentCache) -> Loader<'static> {
    Loader {
        worlds: WORLDS,
        builtins: &meseta_artifacts::Shipped,
        cache,
    }
}

/// A module spec for a built artifact (shipped module or test guest) by crate name.
pub fn spec(artifact: &str, parameters: &[(&str, &str)], settings: Settings) -> ModuleSpec {
    let path = meseta_artifacts::shipped(artifact)
        .or_else(|| meseta_artifacts::test_guest(artifact))
        .map(|a| a.path)
        .unwrap_or("missing-artifact.wasm");
    ModuleSpec {
        name: format!("test_{}", artifact.replace('-', "_")),
        source: Source::File(path.into()),
        kind: None,
        parameters: parameters
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        settings,
        origin: "test".into(),
    }
}

pub fn load(
    artifact: &str,
    parameters: &[(&str, &str)],
    settings: Settings,
) -> Result<Arc<LoadedModule>, LoadError> {
    loader(ComponentCache::disabled())
        .load(&spec(artifact, parameters, settings))
        .map(Arc::new)
}
