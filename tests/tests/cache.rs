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
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
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

/// A module file loaded again unchanged is found by its identity (device, inode, size, times),
/// without hashing it; a file written again is hashed again, so new bytes are never served the
/// old compiled module.
#[test]
fn an_unchanged_file_is_not_hashed_again_and_a_changed_one_is() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let file = dir.path().join("hook.wasm");
    let labels = meseta_artifacts::shipped("hook-labels").unwrap().bytes;
    let env = meseta_artifacts::shipped("hook-env").unwrap().bytes;
    std::fs::write(&file, labels).unwrap();
    let mut s = spec("hook-labels", &[], Settings::default());
    s.source = meseta_runtime::Source::File(file.clone());
    let first = loader(ComponentCache::at(&cache)).load(&s).unwrap();
    assert_eq!(first.cache, CacheOutcome::Compiled);
    let memos = std::fs::read_dir(&cache)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "file")
        })
        .count();
    assert_eq!(memos, 1, "the file's hash is remembered");
    let second = loader(ComponentCache::at(&cache)).load(&s).unwrap();
    assert_eq!(
        (second.cache, &second.sha256),
        (CacheOutcome::Hit, &first.sha256)
    );

    // another module written over the same file: hashed again, compiled, and what loads is it
    std::thread::sleep(std::time::Duration::from_millis(10));
    std::fs::write(&file, env).unwrap();
    let mut s = s.clone();
    s.kind = Some("agent-hooks".into());
    let third = loader(ComponentCache::at(&cache)).load(&s).unwrap();
    assert_eq!(third.cache, CacheOutcome::Compiled);
    assert_ne!(third.sha256, first.sha256);
    assert_eq!(third.world.kind, "agent-hooks");
    let fourth = loader(ComponentCache::at(&cache)).load(&s).unwrap();
    assert_eq!(
        (fourth.cache, &fourth.sha256),
        (CacheOutcome::Hit, &third.sha256)
    );
}
