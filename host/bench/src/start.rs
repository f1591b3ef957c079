//! Module start: from a manifest entry to the first call returning (parse the manifest, read
//! the `.wasm`, compile it or load it from the compiled-module cache, verify its world, link,
//! instantiate, `init`, one call), for each Rust module we ship that a daemon loads at start.
//! Native: creating the same policy linked into the host and making the same call.
//!
//! Meseta has no componentize-py (Python) component in the tree, so only Rust modules are
//! measured.

use std::path::Path;
use std::time::Duration;

use allocator_drf::DrfAllocator;
use hook_env::EnvHook;
use hook_labels::LabelsHook;
use meseta_allocator::WasmAllocator;
use meseta_hooks::{WasmAgentHooks, WasmMasterHooks};
use meseta_runtime::{ComponentCache, Manifest};
use meseta_types::Create;
use meseta_types::allocation::{AllocatorPolicy, Options, Sorter};
use meseta_types::hooks::{
    AgentHooks, AgentInfo, ExecutorInfo, FrameworkInfo, MasterHooks, TaskInfo,
};
use serde_json::json;

use crate::{BenchOptions, Report, median, ms, progress, timed};

const MODULES: &[&str] = &["hook-labels", "hook-env", "allocator-drf"];

fn manifest(module: &str, file: &Path) -> String {
    let parameters = if module == "allocator-drf" {
        json!([])
    } else {
        json!([{"key": "team", "value": "platform"}])
    };
    json!({"libraries": [{"file": file, "modules": [{"name": "bench_module",
        "parameters": parameters}]}]})
    .to_string()
}

fn options() -> Options {
    Options {
        resource_kinds: vec![],
        allocation_interval_ms: 1000,
        min_allocatable: vec![],
        fairness_excluded: vec![],
        sorter: Sorter::Drf,
    }
}

/// Manifest text to the first call returning, through the Wasm module.
fn wasm_start(module: &str, text: &str, cache: ComponentCache) -> anyhow::Result<()> {
    let m = Manifest::parse(text, "meseta bench", Path::new("/"))?;
    let spec = m
        .modules
        .first()
        .ok_or_else(|| anyhow::anyhow!("empty manifest"))?;
    let loaded = std::sync::Arc::new(crate::loader(cache).load(spec)?);
    match module {
        "hook-labels" => {
            let h = WasmMasterHooks::new(loaded)?;
            let _ = h.launch_task_label_decorator(
                &TaskInfo::default(),
                &FrameworkInfo::default(),
                &AgentInfo::default(),
            )?;
        }
        "hook-env" => {
            let h = WasmAgentHooks::new(loaded)?;
            let _ = h.executor_environment_decorator(&ExecutorInfo::default())?;
        }
        _ => {
            let mut a = WasmAllocator::new(loaded)?;
            a.initialize(options())?;
        }
    }
    Ok(())
}

/// The same, natively.
fn native_start(module: &str) -> anyhow::Result<()> {
    let p = vec![("team".to_string(), "platform".to_string())];
    match module {
        "hook-labels" => {
            let mut h = LabelsHook::create(&p).map_err(anyhow::Error::msg)?;
            let _ = h.launch_task_label_decorator(
                &TaskInfo::default(),
                &FrameworkInfo::default(),
                &AgentInfo::default(),
            );
        }
        "hook-env" => {
            let mut h = EnvHook::create(&p).map_err(anyhow::Error::msg)?;
            let _ = h.executor_environment_decorator(&ExecutorInfo::default());
        }
        _ => {
            let mut a = DrfAllocator::new();
            a.initialize(options());
        }
    }
    Ok(())
}

pub fn run(o: &BenchOptions) -> anyhow::Result<Vec<Report>> {
    let name = "module-start";
    let samples = if o.quick { 3 } else { 15 };
    let dir = tempfile::tempdir()?;
    let cache_dir = dir.path().join("cache");
    let mut out = Vec::new();
    for module in MODULES {
        progress(name, format!("{module}: {samples} starts each way"));
        let artifact = meseta_artifacts::shipped(module)
            .ok_or_else(|| anyhow::anyhow!("{module} is not built into this binary"))?;
        let file = dir.path().join(format!("{module}.wasm"));
        std::fs::write(&file, artifact.bytes)?;
        let text = manifest(module, &file);
        // Fill the cache once.
        wasm_start(module, &text, ComponentCache::at(&cache_dir))?;
        let mut cold = Vec::new();
        let mut warm = Vec::new();
        let mut native = Vec::new();
        for _ in 0..samples {
            let (r, d) = timed(|| wasm_start(module, &text, ComponentCache::disabled()));
            r?;
            cold.push(d);
            let (r, d) = timed(|| wasm_start(module, &text, ComponentCache::at(&cache_dir)));
            r?;
            warm.push(d);
            let (r, d) = timed(|| native_start(module));
            r?;
            native.push(d);
        }
        let (cold, warm): (Duration, Duration) = (median(cold), median(warm));
        let mut rep = Report::new(
            name,
            json!({"module": module, "language": "rust", "bytes": artifact.bytes.len()}),
            median(native),
            warm,
        );
        rep.set("wasm_no_cache_ms", ms(cold));
        rep.set("wasm_cache_ms", ms(warm));
        rep.set("cache_speedup", ms(cold) / ms(warm).max(1e-9));
        rep.set(
            "anchor_note",
            "Mesos dlopen()s a shared library; no published figure",
        );
        rep.goal("with cache <= 5 ms", ms(warm) <= 5.0);
        out.push(rep);
    }
    progress(
        name,
        "no componentize-py (Python) component in the tree: only Rust modules measured",
    );
    Ok(out)
}
