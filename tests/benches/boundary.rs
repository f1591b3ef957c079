#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Boundary costs: the same Rust policy called natively and as a Wasm module, in one run.
//!
//! `cargo bench -p meseta-tests --bench boundary` prints, per case, the native time, the Wasm
//! time and their ratio. `MESETA_BENCH_QUICK=1` runs a short smoke version (CI uses it to prove
//! the benchmark still works; its figures are not meant to be quoted).

use std::hint::black_box;
use std::time::{Duration, Instant};

use allocator_drf::DrfAllocator;
use hook_labels::LabelsHook;
use meseta_allocator::WasmAllocator;
use meseta_hooks::WasmMasterHooks;
use meseta_runtime::{ComponentCache, Settings};
use meseta_tests::{loader, spec};
use meseta_types::allocation::{
    AgentInfo, AllocatorPolicy, Capabilities, FrameworkInfo, Options, ResourceKind, Sorter,
};
use meseta_types::hooks::{
    AgentInfo as HookAgent, FrameworkInfo as HookFramework, MasterHooks, TaskInfo,
};
use meseta_types::resources::{Label, Resource};
use meseta_types::{Create, Quantities};

fn quick() -> bool {
    std::env::var_os("MESETA_BENCH_QUICK").is_some()
}

/// Median of `rounds` timings of `iters` calls, per call.
fn per_call(iters: u32, rounds: u32, mut f: impl FnMut()) -> Duration {
    for _ in 0..iters.min(1000) {
        f();
    }
    let mut samples: Vec<Duration> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                f();
            }
            start.elapsed() / iters
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

fn row(case: &str, native: Duration, wasm: Duration) {
    let ratio = wasm.as_secs_f64() / native.as_secs_f64().max(1e-12);
    println!(
        "{case:<44} {:>12} {:>12} {:>9.1}x",
        fmt(native),
        fmt(wasm),
        ratio
    );
}

fn fmt(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns < 10_000 {
        format!("{ns} ns")
    } else if ns < 10_000_000 {
        format!("{:.1} us", ns as f64 / 1e3)
    } else {
        format!("{:.2} ms", ns as f64 / 1e6)
    }
}

fn params(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn hook_call(iters: u32, rounds: u32) {
    let p = [("team", "platform"), ("tier", "gold")];
    let task = TaskInfo {
        task_id: "task-000123".into(),
        name: "web-frontend".into(),
        agent_id: "agent-42".into(),
        resources: vec![
            Resource::scalar("cpus", 0.5),
            Resource::scalar("mem", 128.0),
        ],
        labels: vec![Label {
            key: "app".into(),
            value: Some("web".into()),
        }],
        ..Default::default()
    };
    let fw = HookFramework {
        framework_id: "fw-1".into(),
        name: "marathon".into(),
        user: "root".into(),
        roles: vec!["*".into()],
    };
    let agent = HookAgent {
        agent_id: "agent-42".into(),
        hostname: "node-42".into(),
        port: 5051,
        ..Default::default()
    };
    let mut native = LabelsHook::create(&params(&p)).unwrap();
    let n = per_call(iters, rounds, || {
        black_box(native.launch_task_label_decorator(&task, &fw, &agent)).unwrap();
    });
    let module = loader(ComponentCache::disabled())
        .load(&spec("hook-labels", &p, Settings::default()))
        .unwrap();
    let wasm = WasmMasterHooks::new(module.into()).unwrap();
    let w = per_call(iters, rounds, || {
        black_box(wasm.launch_task_label_decorator(&task, &fw, &agent))
            .unwrap()
            .unwrap();
    });
    row("hook: launch-task-label-decorator", n, w);
}

fn options() -> Options {
    Options {
        resource_kinds: ["cpus", "mem", "disk", "ports"]
            .iter()
            .map(|n| ResourceKind {
                name: n.to_string(),
                revocable: false,
                reserved_for: None,
            })
            .collect(),
        allocation_interval_ms: 1000,
        min_allocatable: vec![
            Quantities(vec![0.01, 0.0, 0.0, 0.0]),
            Quantities(vec![0.0, 32.0, 0.0, 0.0]),
        ],
        fairness_excluded: vec![],
        sorter: Sorter::Drf,
    }
}

/// Builds the same cluster in any allocator through `add`.
fn cluster(agents: u32, frameworks: u32, mut add: impl FnMut(Event)) {
    add(Event::Role);
    for f in 0..frameworks {
        add(Event::Framework(f));
    }
    for a in 0..agents {
        add(Event::Agent(a));
    }
}

enum Event {
    Role,
    Framework(u32),
    Agent(u32),
}

fn framework_info(f: u32) -> FrameworkInfo {
    FrameworkInfo {
        name: format!("framework-{f}"),
        roles: vec![0],
        capabilities: Capabilities::default(),
    }
}

fn agent_info(a: u32) -> AgentInfo {
    AgentInfo {
        hostname: format!("agent-{a}"),
        attributes: vec![],
    }
}

fn total() -> Quantities {
    Quantities(vec![24.0, 4096.0, 4096.0, 1001.0])
}

fn allocator_calls(iters: u32, rounds: u32) {
    let (agents, frameworks) = if quick() { (100, 10) } else { (1000, 100) };
    let mut native = DrfAllocator::create(&[]).unwrap();
    native.initialize(options());
    cluster(agents, frameworks, |e| match e {
        Event::Role => native.add_role(0, "*"),
        Event::Framework(f) => native.add_framework(f, framework_info(f), &[], true, &[]),
        Event::Agent(a) => native.add_agent(a, agent_info(a), total(), &[]),
    });
    let module = loader(ComponentCache::disabled())
        .load(&spec("allocator-drf", &[], Settings::default()))
        .unwrap();
    let mut wasm = WasmAllocator::new(module.into()).unwrap();
    wasm.initialize(options()).unwrap();
    cluster(agents, frameworks, |e| match e {
        Event::Role => wasm.add_role(0, "*").unwrap(),
        Event::Framework(f) => wasm
            .add_framework(f, framework_info(f), &[], true, &[])
            .unwrap(),
        Event::Agent(a) => wasm.add_agent(a, agent_info(a), total(), &[]).unwrap(),
    });

    // An event call: the framework's decline of nothing on one agent (a recover-resources call
    // with the hot path's shape: handles and a numeric vector).
    let zero = Quantities(vec![0.0; 4]);
    let n = per_call(iters, rounds, || {
        native.recover_resources(1, 7, 0, zero.clone(), None, 0)
    });
    let w = per_call(iters, rounds, || {
        wasm.recover_resources(1, 7, 0, zero.clone(), None, 0)
            .unwrap()
    });
    row("allocator event: recover-resources", n, w);
    let n = per_call(iters, rounds, || {
        native.deactivate_framework(3);
        native.activate_framework(3);
    });
    let w = per_call(iters, rounds, || {
        wasm.deactivate_framework(3).unwrap();
        wasm.activate_framework(3).unwrap();
    });
    row("allocator event: deactivate+activate framework", n, w);

    // A full allocation round: every agent offered, then everything recovered with no filter.
    let round = |offers: Vec<meseta_types::allocation::Offer>,
                 recover: &mut dyn FnMut(&meseta_types::allocation::Offer)| {
        for o in &offers {
            recover(o);
        }
        offers.len()
    };
    let allocate_rounds = if quick() { 3 } else { 11 };
    let n = per_call(1, allocate_rounds, || {
        let offers = native.allocate(0);
        let mut rec = |o: &meseta_types::allocation::Offer| {
            native.recover_resources(o.framework, o.agent, o.role, o.resources.clone(), None, 0)
        };
        black_box(round(offers, &mut rec));
    });
    let w = per_call(1, allocate_rounds, || {
        let offers = wasm.allocate(0).unwrap();
        let mut rec = |o: &meseta_types::allocation::Offer| {
            wasm.recover_resources(o.framework, o.agent, o.role, o.resources.clone(), None, 0)
                .unwrap()
        };
        black_box(round(offers, &mut rec));
    });
    row(
        &format!("allocator round: allocate+recover {agents}x{frameworks}"),
        n,
        w,
    );
}

fn cold_start(rounds: u32) {
    let dir = std::env::temp_dir().join(format!("meseta-bench-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let p = [("team", "platform")];
    let task = TaskInfo::default();
    let start = |cache: ComponentCache| {
        let t = Instant::now();
        let module = loader(cache)
            .load(&spec("hook-labels", &p, Settings::default()))
            .unwrap();
        let hooks = WasmMasterHooks::new(module.into()).unwrap();
        hooks
            .launch_task_label_decorator(&task, &HookFramework::default(), &HookAgent::default())
            .unwrap()
            .unwrap();
        t.elapsed()
    };
    start(ComponentCache::at(&dir)); // fills the cache
    let mut cold: Vec<Duration> = (0..rounds)
        .map(|_| start(ComponentCache::disabled()))
        .collect();
    let mut warm: Vec<Duration> = (0..rounds)
        .map(|_| start(ComponentCache::at(&dir)))
        .collect();
    cold.sort();
    warm.sort();
    let (c, w) = (cold[cold.len() / 2], warm[warm.len() / 2]);
    println!(
        "{:<44} {:>12} {:>12} {:>9.1}x faster",
        "module start to first call: compile | cache",
        fmt(c),
        fmt(w),
        c.as_secs_f64() / w.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let (iters, rounds) = if quick() { (2_000, 3) } else { (100_000, 9) };
    println!(
        "{:<44} {:>12} {:>12} {:>10}",
        "case", "native", "wasm", "wasm/native"
    );
    hook_call(iters, rounds);
    allocator_calls(iters, rounds);
    println!();
    println!("{:<44} {:>12} {:>12}", "case", "no cache", "cache hit");
    cold_start(if quick() { 3 } else { 15 });
}
