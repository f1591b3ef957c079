#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Shadow allocators on a running `meseta local` (`--shadow_allocators`, the operator calls
//! `ADD_SHADOW_ALLOCATOR` / `REMOVE_SHADOW_ALLOCATOR` / `GET_SHADOW_ALLOCATORS`, and
//! `meseta allocator shadow`): a shadow computes its own rounds on the live cluster's state and
//! reports how they differ, while frameworks only ever see the live allocator's offers; a
//! shadow that loops does not hold up the live rounds.

use std::process::Command;
use std::time::{Duration, Instant};

use meseta_tests::daemons::{Local, workspace_binary};
use meseta_tests::scheduler::{Scheduler, offer_ids, post_to, scalar, task};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);

fn address(local: &Local) -> String {
    local.url.trim_start_matches("http://").to_string()
}

fn operator(local: &Local, call: Value) -> (u16, String) {
    post_to(
        &address(local),
        "/api/v1",
        None,
        call.to_string().as_bytes(),
    )
    .unwrap()
}

fn shadows(local: &Local) -> Vec<Value> {
    let (status, body) = operator(local, json!({"type": "GET_SHADOW_ALLOCATORS"}));
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    answer["get_shadow_allocators"]["shadow_allocators"]
        .as_array()
        .cloned()
        .unwrap()
}

/// Polls the shadow `name`'s report until `done` holds.
fn wait_shadow(local: &Local, name: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + T;
    loop {
        let report = shadows(local).into_iter().find(|s| s["name"] == name);
        if let Some(r) = &report
            && done(r)
        {
            return r.clone();
        }
        assert!(
            Instant::now() < deadline,
            "shadow {name} never got there: {report:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn metrics(local: &Local) -> Value {
    let (status, body) = local.get("/metrics/snapshot").unwrap();
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// `meseta allocator shadow VERB --master MASTER NAME`.
fn shadow_cmd(master: &str, verb: &str, name: &str) -> (bool, String) {
    meseta(&["allocator", "shadow", verb, "--master", master, name])
}

fn meseta(args: &[&str]) -> (bool, String) {
    let out = Command::new(workspace_binary("meseta", "meseta-cli").unwrap())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn a_shadow_binpack_beside_live_drf_reports_differences_while_frameworks_see_only_drf() {
    let local = Local::start_with(&[
        "--num_agents",
        "2",
        "--shadow_allocators",
        "allocator-binpack",
    ])
    .unwrap();
    let mut s = Scheduler::subscribe(
        &address(&local),
        json!({"name": "shadowed", "user": "root", "roles": ["*"]}),
    )
    .unwrap();
    s.set_auto_ack(true);

    // DRF offers every agent in a round; binpack would offer one agent per framework.
    let offers = s.wait_offers(T).unwrap();
    let agents: std::collections::BTreeSet<&str> = offers
        .iter()
        .map(|o| o["agent_id"]["value"].as_str().unwrap())
        .collect();
    assert_eq!(agents.len(), 2, "live DRF offers both agents: {offers:?}");
    let offered_cpus: f64 = offers.iter().map(|o| scalar(&o["resources"], "cpus")).sum();

    let report = wait_shadow(&local, "allocator-binpack", |r| {
        r["rounds_differing"].as_u64().unwrap() >= 1
    });
    assert_eq!(report["state"], "running", "{report}");
    assert_eq!(report["allocator"], "allocator-binpack", "{report}");
    let round = &report["last_differing_round"];
    assert_eq!(round["live_offers"], 2, "{report}");
    assert_eq!(round["shadow_offers"], 1, "{report}");
    assert!(round["offers_same"].as_u64().unwrap() <= 1, "{report}");
    let role = round["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["role"] == "*")
        .unwrap_or_else(|| panic!("role * in {report}"));
    let live_cpus = role["offered"]["live"]["cpus"].as_f64().unwrap();
    let shadow_cpus = role["offered"]["shadow"]["cpus"].as_f64().unwrap();
    assert!((live_cpus - offered_cpus).abs() < 1e-6, "{report}");
    assert!(
        (shadow_cpus - live_cpus / 2.0).abs() < 1e-6,
        "binpack offers one of the two equal agents: {report}"
    );
    let share = &role["dominant_share"];
    assert!(
        share["live"].as_f64().unwrap() > share["shadow"].as_f64().unwrap(),
        "{report}"
    );

    // The shadow's offers were never sent: while the framework holds DRF's offers, nothing
    // else arrives, though the shadow keeps computing rounds.
    let rounds_before = report["rounds"].as_u64().unwrap();
    wait_shadow(&local, "allocator-binpack", |r| {
        r["rounds"].as_u64().unwrap() >= rounds_before + 2
    });
    while let Some(event) = s.next_event(Duration::from_millis(200)) {
        assert_ne!(
            event["type"], "OFFERS",
            "only the live allocator offers: {event}"
        );
    }

    // The framework uses one agent: DRF's next rounds and the shadow follow what it holds.
    let agent = offers[0]["agent_id"]["value"].as_str().unwrap().to_string();
    let ids = offer_ids(&offers);
    let (status, body) = s.decline(&ids[1..], 0.0).unwrap();
    assert_eq!(status, 202, "{body}");
    let (status, body) = s
        .accept(
            &ids[..1],
            json!([task("t1", &agent, "sleep 0.2", 0.5, 32.0)]),
            0.0,
        )
        .unwrap();
    assert_eq!(status, 202, "{body}");
    s.wait_state("t1", "TASK_FINISHED", T).unwrap();

    let m = metrics(&local);
    let key = |k: &str| format!("meseta/allocator/shadow/allocator-binpack/{k}");
    assert!(m[key("rounds_differing")].as_f64().unwrap() >= 1.0, "{m}");
    assert!(m[key("offers_differing")].as_f64().unwrap() >= 1.0, "{m}");
    assert_eq!(m[key("running")], 1.0, "{m}");
    assert!(m.get(key("fairness_index")).is_some(), "{m}");
    let (status, body) = local.get("/master/modules").unwrap();
    assert_eq!(status, 200);
    let modules: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(modules["allocator"], "allocator-drf", "{modules}");
    assert_eq!(
        modules["shadow_allocators"][0]["name"], "allocator-binpack",
        "{modules}"
    );
    let (_, flags) = local.get("/master/flags").unwrap();
    assert!(
        flags.contains("\"shadow_allocators\":\"allocator-binpack\""),
        "{flags}"
    );

    // Removed and added again at run time, through the CLI.
    let master = local.url.as_str();
    let (ok, out) = shadow_cmd(master, "remove", "allocator-binpack");
    assert!(ok, "{out}");
    assert!(shadows(&local).is_empty());
    let (ok, out) = shadow_cmd(master, "remove", "allocator-binpack");
    assert!(
        !ok && out.contains("no shadow allocator named 'allocator-binpack'"),
        "{out}"
    );
    let (ok, out) = shadow_cmd(master, "add", "hierarchical");
    assert!(ok, "{out}");
    let (ok, out) = shadow_cmd(master, "add", "hierarchical");
    assert!(!ok && out.contains("runs already"), "{out}");
    let (ok, out) = shadow_cmd(master, "add", "no-such-allocator");
    assert!(
        !ok && out.contains("no allocator module named 'no-such-allocator'"),
        "{out}"
    );

    // The native twin of the live DRF, given the state mid-run, agrees with it round by
    // round: the framework declines what it gets, so every round offers again.
    let deadline = Instant::now() + T;
    let report = loop {
        if let Some(event) = s.next_event(Duration::from_millis(100))
            && event["type"] == "OFFERS"
        {
            let offers = event["offers"]["offers"].as_array().cloned().unwrap();
            let (status, body) = s.decline(&offer_ids(&offers), 0.0).unwrap();
            assert_eq!(status, 202, "{body}");
        }
        let report = shadows(&local)
            .into_iter()
            .find(|r| r["name"] == "hierarchical")
            .unwrap();
        if report["last_round"]["live_offers"].as_u64().unwrap_or(0) > 0 {
            break report;
        }
        assert!(Instant::now() < deadline, "{report}");
    };
    assert_eq!(report["rounds_differing"], 0, "{report}");
    assert_eq!(report["faults"], 0, "{report}");
    let (ok, out) = meseta(&["allocator", "shadow", "list", "--master", master]);
    assert!(ok && out.contains("hierarchical (running)"), "{out}");
}

#[test]
fn a_shadow_that_loops_does_not_hold_up_the_live_rounds() {
    let dir = tempfile::tempdir().unwrap();
    let liar = meseta_artifacts::test_guest("test-allocator-liar")
        .expect("the test guests are built")
        .path;
    // Each of its rounds runs into a 3 s deadline.
    let manifest = json!({"libraries": [{"file": liar, "modules": [
        {"name": "liar_spin", "parameters": [{"key": "lie", "value": "spin"}],
         "deadline": "3secs"},
        {"name": "liar_trap", "parameters": [{"key": "lie", "value": "trap-on-initialize"}]},
    ]}]});
    let path = dir.path().join("modules.json");
    std::fs::write(&path, manifest.to_string()).unwrap();
    let local = Local::start_with(&[
        "--modules",
        &path.to_string_lossy(),
        "--shadow_allocators",
        "liar_spin",
        "--allocation_interval",
        "200ms",
    ])
    .unwrap();
    // A shadow that cannot even start is refused with the reason, and not kept.
    let (status, body) = operator(
        &local,
        json!({"type": "ADD_SHADOW_ALLOCATOR",
               "add_shadow_allocator": {"allocator": "liar_trap"}}),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("liar_trap") && body.contains("faulted"),
        "{body}"
    );
    assert!(shadows(&local).iter().all(|s| s["name"] != "liar_trap"));

    let mut s = Scheduler::subscribe(
        &address(&local),
        json!({"name": "beside-a-spinner", "user": "root", "roles": ["*"]}),
    )
    .unwrap();
    s.set_auto_ack(true);

    // Tasks run one after another, each from a fresh offer, while the shadow spins.
    for i in 0..4 {
        let offers = s.wait_offers(T).unwrap();
        let agent = offers[0]["agent_id"]["value"].as_str().unwrap().to_string();
        let id = format!("t{i}");
        let (status, body) = s
            .accept(
                &offer_ids(&offers),
                json!([task(&id, &agent, "true", 0.1, 16.0)]),
                0.0,
            )
            .unwrap();
        assert_eq!(status, 202, "{body}");
        s.wait_state(&id, "TASK_FINISHED", T).unwrap();
    }

    let report = wait_shadow(&local, "liar_spin", |r| {
        r["faults"].as_u64().unwrap() >= 1 && r["rounds_skipped"].as_u64().unwrap() >= 1
    });
    assert!(
        report["last_fault"].as_str().unwrap().contains("deadline"),
        "{report}"
    );
    assert!(
        report["round_ms"]["max"].as_f64().unwrap() >= 2_900.0,
        "{report}"
    );
    // The live rounds never waited for one of the shadow's 3 s rounds.
    let m = metrics(&local);
    let live_max = m["allocator/mesos/allocation_run_ms/max"].as_f64().unwrap();
    assert!(
        live_max < 2_900.0,
        "live rounds took up to {live_max} ms: {m}"
    );
    let live_runs = m["allocator/mesos/allocation_runs"].as_f64().unwrap();
    let shadow_rounds = m["meseta/allocator/shadow/liar_spin/rounds"]
        .as_f64()
        .unwrap();
    assert!(
        live_runs > shadow_rounds,
        "live {live_runs} rounds, shadow {shadow_rounds}"
    );
}
