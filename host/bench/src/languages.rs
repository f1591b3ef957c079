//! Modules in other languages beside Rust: the Python (componentize-py) and JavaScript
//! (componentize-js) examples against the Rust modules of the same kind, each through the same
//! loader, sandbox and checks a daemon uses. Per language: component size; start (manifest to
//! the first call returning) without and with the compiled-module cache; the largest linear
//! memory an instance was granted; a master label hook's call (`hook-labels`, the same policy in
//! the three languages); one allocation round of Mesos' `DeclineOffers` cluster (1,000 agents x
//! 100 frameworks, everything declined, so every round offers every agent again), the Python and
//! JavaScript `allocator-share` beside the Rust `allocator-drf` (a policy that does more work).
//! The baseline column is the Rust component; the ratio is the language's over it.
//!
//! The Python and JavaScript components are not built into the binary: the test suite builds
//! them into `target/guest-modules` (`cargo test -p meseta-tests --test guest_languages`), or
//! `$MESETA_GUEST_MODULES` names another directory. A missing one is reported and skipped.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use meseta_allocator::WasmAllocator;
use meseta_hooks::WasmMasterHooks;
use meseta_runtime::{ComponentCache, LoadedModule, Manifest};
use meseta_types::allocation::Offer;
use meseta_types::hooks::{AgentInfo, FrameworkInfo, TaskInfo};
use serde_json::json;

use crate::allocators::{Alloc, mesos_agents};
use crate::{BenchOptions, Report, median, ms, progress, timed};

const NAME: &str = "languages";

/// Where the test suite puts the Python and JavaScript components.
fn guest_dir() -> PathBuf {
    let dir = std::env::var_os("MESETA_GUEST_MODULES")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("target/guest-modules"), PathBuf::from);
    // the manifests below resolve relative paths against `/`
    std::path::absolute(&dir).unwrap_or(dir)
}

/// `(language, component file, parameters)` of each module of `kind` (`hook` or `allocator`).
fn modules(kind: &str, dir: &Path, rust: &Path) -> Vec<(&'static str, PathBuf)> {
    let (rust_file, guest) = if kind == "hook" {
        ("hook-labels.wasm", "hook-labels.wasm")
    } else {
        ("allocator-drf.wasm", "allocator-share.wasm")
    };
    vec![
        ("rust", rust.join(rust_file)),
        ("python", dir.join(format!("python-{guest}"))),
        ("js", dir.join(format!("js-{guest}"))),
    ]
}

fn load(file: &Path, kind: &str, cache: ComponentCache) -> anyhow::Result<Arc<LoadedModule>> {
    let parameters = if kind == "allocator" {
        json!([])
    } else {
        json!([{"key": "team", "value": "platform"}, {"key": "tier", "value": "gold"}])
    };
    let text = json!({"libraries": [{"file": file, "modules": [{"name": "bench_module",
        "kind": kind, "parameters": parameters}]}]})
    .to_string();
    let m = Manifest::parse(&text, "meseta bench", Path::new("/"))?;
    let spec = m
        .modules
        .first()
        .ok_or_else(|| anyhow::anyhow!("empty manifest"))?;
    Ok(Arc::new(crate::loader(cache).load(spec)?))
}

fn label_call(h: &WasmMasterHooks, task: &TaskInfo) -> anyhow::Result<()> {
    h.launch_task_label_decorator(task, &FrameworkInfo::default(), &AgentInfo::default())?
        .map_err(|e| anyhow::anyhow!("the hook answered an error: {e}"))?;
    Ok(())
}

/// Manifest to the first call returning.
fn start(file: &Path, kind: &str, cache: ComponentCache) -> anyhow::Result<Arc<LoadedModule>> {
    let module = load(file, kind, cache)?;
    if kind == "allocator" {
        let mut a = WasmAllocator::new(Arc::clone(&module))?;
        Alloc::initialize(
            &mut a,
            crate::allocators::options(&["cpus", "mem"], Vec::new()),
        )?;
    } else {
        let h = WasmMasterHooks::new(Arc::clone(&module))?;
        label_call(&h, &TaskInfo::default())?;
    }
    Ok(module)
}

struct Figures {
    bytes: u64,
    no_cache: Duration,
    cache: Duration,
    memory: u64,
    /// Hook: one call's p50; allocator: one round's median.
    call: Duration,
    p99: Option<Duration>,
}

fn measure(
    language: &str,
    file: &Path,
    kind: &str,
    o: &BenchOptions,
    cache_dir: &Path,
) -> anyhow::Result<Figures> {
    let bytes = std::fs::metadata(file)?.len();
    let starts = if o.quick { 2 } else { 10 };
    // without the cache: once for Python and JavaScript (seconds each), like the others' starts
    // for Rust; in --quick, the test suite's cache stands in (compiling them in a debug build
    // takes half a minute each)
    let (module, no_cache) = if o.quick && language != "rust" {
        timed(|| start(file, kind, ComponentCache::at(cache_dir)))
    } else {
        let mut times = Vec::new();
        let n = if language == "rust" { starts } else { 1 };
        for _ in 0..n {
            let (r, d) = timed(|| start(file, kind, ComponentCache::disabled()));
            r?;
            times.push(d);
        }
        (
            start(file, kind, ComponentCache::at(cache_dir)),
            median(times),
        )
    };
    module?;
    let mut warm = Vec::new();
    for _ in 0..starts {
        let (r, d) = timed(|| start(file, kind, ComponentCache::at(cache_dir)));
        r?;
        warm.push(d);
    }
    let module = load(file, kind, ComponentCache::at(cache_dir))?;
    let (call, p99) = if kind == "allocator" {
        let (agents, frameworks, rounds) = if o.quick {
            (50, 5, 2)
        } else {
            (
                o.agents.unwrap_or(1000),
                o.frameworks.unwrap_or(100),
                o.rounds.unwrap_or(5),
            )
        };
        let mut a = WasmAllocator::new(Arc::clone(&module))?;
        mesos_agents(&mut a, agents, frameworks, [0.5, 512.0, 0.0, 1.0])?;
        let mut times = Vec::new();
        for round in 0..rounds {
            let now = u64::from(round) * 1000;
            let (offers, d) = timed(|| Alloc::allocate(&mut a, now));
            let offers: Vec<Offer> = offers?;
            if offers.len() != agents as usize {
                anyhow::bail!(
                    "{language}: round {round} offered {} agents of {agents}",
                    offers.len()
                );
            }
            times.push(d);
            for offer in &offers {
                a.recover(offer, None, now)?;
            }
        }
        (median(times), None)
    } else {
        let h = WasmMasterHooks::new(Arc::clone(&module))?;
        let task = TaskInfo {
            task_id: "task-000123".into(),
            name: "web".into(),
            ..Default::default()
        };
        let calls = if o.quick { 100 } else { 5000 };
        label_call(&h, &task)?;
        let mut times = Vec::with_capacity(calls);
        for _ in 0..calls {
            let (r, d) = timed(|| label_call(&h, &task));
            r?;
            times.push(d);
        }
        times.sort();
        let p99 = times
            .get(times.len() * 99 / 100)
            .copied()
            .unwrap_or_default();
        (median(times), Some(p99))
    };
    Ok(Figures {
        bytes,
        no_cache,
        cache: median(warm),
        memory: module.counters.memory_peak(),
        call,
        p99,
    })
}

pub fn run(o: &BenchOptions) -> anyhow::Result<Vec<Report>> {
    let dir = guest_dir();
    let tmp = tempfile::tempdir()?;
    let rust = tmp.path().join("rust");
    std::fs::create_dir_all(&rust)?;
    for name in ["hook-labels", "allocator-drf"] {
        let artifact = meseta_artifacts::shipped(name)
            .ok_or_else(|| anyhow::anyhow!("{name} is not built into this binary"))?;
        std::fs::write(rust.join(format!("{name}.wasm")), artifact.bytes)?;
    }
    // --quick: the test suite's cache (compiled by the same binary); else a fresh one
    let cache_dir = if o.quick {
        dir.join("compiled")
    } else {
        tmp.path().join("cache")
    };
    let mut out = Vec::new();
    for kind in ["hook", "allocator"] {
        let world = if kind == "hook" {
            "master-hooks"
        } else {
            "allocator"
        };
        let mut baseline: Option<Figures> = None;
        for (language, file) in modules(kind, &dir, &rust) {
            if !file.is_file() {
                progress(
                    NAME,
                    format!(
                        "skipping {language} {kind}: {} is missing (build it with `cargo test -p \
                         meseta-tests --test guest_languages`, or set MESETA_GUEST_MODULES)",
                        file.display()
                    ),
                );
                continue;
            }
            progress(NAME, format!("{language} {kind}: {}", file.display()));
            let f = measure(language, &file, world, o, &cache_dir)?;
            let base = baseline.as_ref().unwrap_or(&f);
            let metric = if kind == "hook" {
                "hook call p50"
            } else {
                "allocation round"
            };
            let mut rep = Report::new(
                NAME,
                json!({"language": language, "module": file.file_stem().map(|s| s.to_string_lossy()),
                       "metric": metric}),
                base.call,
                f.call,
            );
            rep.set("baseline", "the Rust component");
            rep.set("bytes", f.bytes);
            rep.set("start_no_cache_ms", ms(f.no_cache));
            rep.set("start_cache_ms", ms(f.cache));
            rep.set("memory_peak_bytes", f.memory);
            if let Some(p99) = f.p99 {
                rep.set("hook_call_p99_ms", ms(p99));
            }
            if kind == "allocator" {
                rep.set(
                    "cluster",
                    if o.quick {
                        "50 agents x 5 frameworks"
                    } else {
                        "1,000 agents x 100 frameworks (DeclineOffers)"
                    },
                );
            }
            rep.goal("start from cache <= 20 ms", ms(f.cache) <= 20.0);
            if kind == "hook" {
                rep.goal("hook call p50 <= 50 us", ms(f.call) <= 0.05);
            }
            out.push(rep);
            if baseline.is_none() {
                baseline = Some(f);
            }
        }
    }
    Ok(out)
}
