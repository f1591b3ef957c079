#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The simulator against allocation theory, on small cases worked by hand, through the real
//! allocators: the shipped modules in their sandboxes and their native twins.

use std::sync::Arc;

use meseta_runtime::{ComponentCache, LoadedModule, Loader, ModuleSpec, Settings, Source};
use meseta_simulate::generate::{GenOptions, generate};
use meseta_simulate::{
    AllocatorSpec, Candidate, Native, Report, RunReport, SimOptions, Workload, simulate,
};

fn module(name: &str) -> Arc<LoadedModule> {
    let loader = Loader {
        worlds: meseta_bindings::WORLDS,
        builtins: &meseta_artifacts::Shipped,
        cache: ComponentCache::disabled(),
    };
    let spec = ModuleSpec {
        name: name.to_string(),
        source: Source::Builtin(name.to_string()),
        kind: Some("allocator".into()),
        parameters: Vec::new(),
        settings: Settings::default(),
        origin: "the simulator's tests".into(),
    };
    Arc::new(loader.load(&spec).unwrap())
}

fn wasm(name: &str) -> Candidate {
    Candidate {
        name: name.to_string(),
        spec: AllocatorSpec::Module(module(name)),
    }
}

fn native(which: Native) -> Candidate {
    Candidate {
        name: format!("{which:?}"),
        spec: AllocatorSpec::Native(which),
    }
}

fn run(json: &str, candidates: &[Candidate]) -> Report {
    let w = Workload::from_json(json).unwrap();
    let options = SimOptions {
        points: 1_000_000,
        ..SimOptions::default()
    };
    simulate("test", &w, candidates, &options, &mut |_| {}).unwrap()
}

/// A role's dominant share in the state after the last round at or before `t` seconds.
fn share_at(r: &RunReport, role: &str, t: f64) -> f64 {
    let i = r.series.t_s.partition_point(|x| *x <= t) - 1;
    r.series.shares[role][i]
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// The DRF paper's example (Ghodsi et al., 2011, and Mesos' docs): 9 CPUs and 18 GB, A's tasks
/// need <1 CPU, 4 GB>, B's <3 CPUs, 1 GB>. Progressive filling gives A 3 tasks and B 2, each
/// at a dominant share of 2/3 (A's memory: 12/18, B's CPUs: 6/9).
const DRF_PAPER: &str = r#"{
  "agents": [{"resources": {"cpus": 9, "mem": 18432}}],
  "frameworks": [
    {"name": "A", "roles": ["a"], "offers": {"max_tasks_per_offer": 1, "refuse_seconds": 0}},
    {"name": "B", "roles": ["b"], "offers": {"max_tasks_per_offer": 1, "refuse_seconds": 0}}
  ],
  "tasks": [
    {"framework": "A", "count": 20, "resources": {"cpus": 1, "mem": 4096}, "duration": 100},
    {"framework": "B", "count": 20, "resources": {"cpus": 3, "mem": 1024}, "duration": 100}
  ]
}"#;

#[test]
fn drf_equalises_dominant_shares_as_in_the_drf_paper() {
    let report = run(
        DRF_PAPER,
        &[
            wasm("allocator-drf"),
            native(Native::Drf),
            wasm("allocator-binpack"),
        ],
    );
    for r in &report.runs {
        // Once filled (5 rounds, one task each), and while both have work queued.
        for t in [10.0, 50.0, 99.0, 150.0] {
            let (a, b) = (share_at(r, "a", t), share_at(r, "b", t));
            assert!(
                close(a, 2.0 / 3.0) && close(b, 2.0 / 3.0),
                "{}: at {t} s shares a {a}, b {b}",
                r.allocator
            );
        }
        // The filling itself: A first (tie, lower id), then B, A, B, A.
        let a: Vec<f64> = (0..5).map(|t| share_at(r, "a", f64::from(t))).collect();
        let b: Vec<f64> = (0..5).map(|t| share_at(r, "b", f64::from(t))).collect();
        let expect_a = [2.0 / 9.0, 2.0 / 9.0, 4.0 / 9.0, 4.0 / 9.0, 2.0 / 3.0];
        let expect_b = [0.0, 1.0 / 3.0, 1.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0];
        assert!(
            a.iter().zip(expect_a).all(|(x, y)| close(*x, y)),
            "{}: {a:?}",
            r.allocator
        );
        assert!(
            b.iter().zip(expect_b).all(|(x, y)| close(*x, y)),
            "{}: {b:?}",
            r.allocator
        );
        assert_eq!(r.finished, 40, "{}", r.allocator);
        assert_eq!(r.faults, 0);
        // Equal weighted shares: Jain's index is 1 while both hold their 2/3.
        let i = r.series.t_s.partition_point(|x| *x <= 50.0) - 1;
        assert!(close(r.series.jain[i].unwrap(), 1.0));
    }
}

#[test]
fn weights_scale_the_shares() {
    // 12 CPUs, 12 GB; every task <1 CPU, 1 GB>; role a weighs 2, b 1: weighted DRF gives a
    // twice b's share, 8 tasks (2/3) against 4 (1/3).
    let json = r#"{
      "roles": [{"name": "a", "weight": 2}, {"name": "b"}],
      "agents": [{"resources": {"cpus": 12, "mem": 12288}}],
      "frameworks": [
        {"name": "A", "roles": ["a"], "offers": {"max_tasks_per_offer": 1, "refuse_seconds": 0}},
        {"name": "B", "roles": ["b"], "offers": {"max_tasks_per_offer": 1, "refuse_seconds": 0}}
      ],
      "tasks": [
        {"framework": "A", "count": 30, "resources": {"cpus": 1, "mem": 1024}, "duration": 100},
        {"framework": "B", "count": 30, "resources": {"cpus": 1, "mem": 1024}, "duration": 100}
      ]
    }"#;
    let report = run(json, &[wasm("allocator-drf"), native(Native::Drf)]);
    for r in &report.runs {
        for t in [20.0, 60.0] {
            let (a, b) = (share_at(r, "a", t), share_at(r, "b", t));
            assert!(
                close(a, 8.0 / 12.0) && close(b, 4.0 / 12.0),
                "{}: at {t} s shares a {a}, b {b}",
                r.allocator
            );
        }
        let i = r.series.t_s.partition_point(|x| *x <= 50.0) - 1;
        assert!(
            close(r.series.jain[i].unwrap(), 1.0),
            "weighted shares are equal"
        );
    }
}

#[test]
fn binpack_packs_where_drf_spreads() {
    // Four empty agents of 4 CPUs; one framework with four 1-CPU tasks, one per offer. DRF
    // offers every agent in a round: one task on each. Binpack offers the fullest agent that
    // fits: all four on one agent, one per round.
    let json = r#"{
      "agents": [{"count": 4, "resources": {"cpus": 4, "mem": 8192}}],
      "frameworks": [{"name": "f", "offers": {"max_tasks_per_offer": 1, "refuse_seconds": 0}}],
      "tasks": [{"framework": "f", "count": 4, "resources": {"cpus": 1, "mem": 1024}, "duration": 60}]
    }"#;
    let report = run(
        json,
        &[
            wasm("allocator-drf"),
            wasm("allocator-binpack"),
            native(Native::Binpack),
        ],
    );
    let [drf, binpack, binpack_native] = &report.runs[..] else {
        panic!()
    };
    assert_eq!(drf.agents_used_peak, 4);
    assert_eq!(drf.wait_s.p99, 0.0);
    for b in [binpack, binpack_native] {
        assert_eq!(b.agents_used_peak, 1, "{}", b.allocator);
        assert_eq!(b.wait_s.p99, 3.0, "one task per round");
        assert_eq!(b.finished, 4);
    }
}

#[test]
fn the_module_and_its_native_twin_replay_alike() {
    let w = generate(&GenOptions {
        agents: 30,
        frameworks: 3,
        tasks: 400,
        seed: 11,
        ..GenOptions::default()
    })
    .unwrap();
    let options = SimOptions {
        points: 1_000_000,
        ..SimOptions::default()
    };
    for (module, twin) in [
        ("allocator-drf", Native::Drf),
        ("allocator-binpack", Native::Binpack),
    ] {
        let report = simulate(
            "generated",
            &w,
            &[wasm(module), native(twin)],
            &options,
            &mut |_| {},
        )
        .unwrap();
        let same = |r: &RunReport| {
            let mut v = serde_json::to_value(r).unwrap();
            let o = v.as_object_mut().unwrap();
            o.remove("allocator");
            o.remove("round_ms");
            v
        };
        let (m, n) = (&report.runs[0], &report.runs[1]);
        assert_eq!(m.finished, 400, "{module}: every task ran");
        assert!(m.offers > 0);
        assert_eq!(same(m), same(n), "{module} and its native twin differ");
    }
}

#[test]
fn a_bad_field_is_named() {
    let typo = DRF_PAPER.replace("\"duration\": 100}", "\"duraton\": 100}");
    let e = Workload::from_json(&typo).unwrap_err();
    assert_eq!(e.path, "tasks[0].duraton", "{e}");
    assert!(e.to_string().contains("unknown field `duraton`"), "{e}");
    let missing = DRF_PAPER.replace(", \"duration\": 100}", "}");
    let e = Workload::from_json(&missing).unwrap_err();
    assert_eq!(e.path, "tasks[0]", "{e}");
    assert!(e.to_string().contains("missing field `duration`"), "{e}");

    let wrong_type = DRF_PAPER.replace("\"cpus\": 9", "\"cpus\": \"nine\"");
    let e = Workload::from_json(&wrong_type).unwrap_err();
    assert_eq!(e.path, "agents[0].resources.cpus", "{e}");

    let unknown_resource = DRF_PAPER.replace("\"cpus\": 3,", "\"gpus\": 3,");
    let w = Workload::from_json(&unknown_resource).unwrap();
    let e = simulate(
        "bad",
        &w,
        &[native(Native::Drf)],
        &SimOptions::default(),
        &mut |_| {},
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "tasks[1].resources.gpus: unknown resource (the cluster's agents have: cpus, mem)"
    );

    let too_big = DRF_PAPER.replace("\"cpus\": 3,", "\"cpus\": 10,");
    let e = Workload::from_json(&too_big)
        .unwrap()
        .resolve()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "tasks[1].resources: the task fits on no agent of the cluster"
    );
}

#[test]
fn tasks_nothing_launches_stop_the_replay() {
    // Quota caps role a below one task's CPU: nothing launches; the replay stops and says so.
    let json = r#"{
      "roles": [{"name": "a", "quota": {"limits": {"cpus": 0.5}}}],
      "agents": [{"resources": {"cpus": 8, "mem": 8192}}],
      "frameworks": [{"name": "A", "roles": ["a"]}],
      "tasks": [{"framework": "A", "count": 2, "resources": {"cpus": 1, "mem": 64}, "duration": 10}]
    }"#;
    let report = run(json, &[wasm("allocator-drf")]);
    let r = &report.runs[0];
    assert_eq!((r.launched, r.finished), (0, 0));
    assert!(r.stopped_early);
    assert!(r.offers_declined > 0 && r.offers_declined == r.offers);
    assert!(r.makespan_s < 60.0, "{}", r.makespan_s);
}

#[test]
fn the_hosts_checks_hold_a_lying_module_to_account() {
    // Every round of this module offers more than an agent has: the adapter rejects each one as
    // a fault, so nothing launches, and the report counts the faults.
    let artifact = meseta_artifacts::test_guest("test-allocator-liar").unwrap();
    let loader = Loader {
        worlds: meseta_bindings::WORLDS,
        builtins: &meseta_artifacts::Shipped,
        cache: ComponentCache::disabled(),
    };
    let liar = |lie: &str| Candidate {
        name: format!("liar-{lie}"),
        spec: AllocatorSpec::Module(Arc::new(
            loader
                .load(&ModuleSpec {
                    name: format!("liar_{lie}"),
                    source: Source::File(artifact.path.into()),
                    kind: Some("allocator".into()),
                    parameters: vec![("lie".into(), lie.into())],
                    settings: Settings::default(),
                    origin: "the simulator's tests".into(),
                })
                .unwrap(),
        )),
    };
    let json = r#"{
      "agents": [{"count": 2, "resources": {"cpus": 4, "mem": 8192}}],
      "frameworks": [{"name": "f"}],
      "tasks": [{"framework": "f", "count": 4, "resources": {"cpus": 1, "mem": 1024}, "duration": 10}]
    }"#;
    let report = run(json, &[liar("oversized"), liar("honest")]);
    let (lying, honest) = (&report.runs[0], &report.runs[1]);
    assert!(lying.faults > 0);
    assert_eq!(lying.launched, 0);
    assert!(lying.stopped_early);
    assert_eq!(honest.faults, 0);
    assert_eq!(honest.finished, 4);
}
