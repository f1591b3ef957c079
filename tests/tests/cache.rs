#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The compiled-module cache spares a restart the compile.

use std::sync::Arc;

use meseta_hooks::WasmMasterHooks;
use meseta_runtime::{CacheOutcome, ComponentCache, Settings};
use meseta_tests::{loader, spec};

#[test]
fn a_restart_loads_the_compiled_module_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let s = spec("hook-labels", &[], Settings::default());
    let first = loader(ComponentCache::at(dir.path())).load(&s).unwrap();
    assert_eq!(first.cache, CacheOutcome::Compiled);
    let artifacts: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(artifacts.len(), 1, "{artifacts:?}");
    let name = artifacts[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with(&first.sha256) && name.ends_with(".cwasm"),
        "{name}"
    );

    let second = loader(ComponentCache::at(dir.path())).load(&s).unwrap();
    assert_eq!(second.cache, CacheOutcome::Hit);
    WasmMasterHooks::new(Arc::new(second)).unwrap();

    // A damaged artifact is discarded and the module compiled again.
    std::fs::write(&artifacts[0], b"garbage").unwrap();
    let third = loader(ComponentCache::at(dir.path())).load(&s).unwrap();
    assert_eq!(third.cache, CacheOutcome::Compiled);
    WasmMasterHooks::new(Arc::new(third)).unwrap();
    assert_eq!(
        loader(ComponentCache::at(dir.path()))
            .load(&s)
            .unwrap()
            .cache,
        CacheOutcome::Hit
    );
}
