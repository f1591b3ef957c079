#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Swapping the live allocator of a running `meseta local` (the v1 operator API's
//! `SWAP_ALLOCATOR`, as `meseta allocator swap` sends it): the candidate takes over between two
//! rounds with the cluster's state, a framework's outstanding offer stays valid and nothing is
//! offered twice; a candidate that traps while taking over is refused, one that lies in its
//! first round is rolled back; `/master/modules` keeps the history.

use std::time::Duration;

use meseta_tests::daemons::Local;
use meseta_tests::scheduler::{Scheduler, offer_ids, post_to, scalar, task};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);

/// `meseta local` whose module list holds two lying allocators (`test-allocator-liar`).
fn local_with_liars(dir: &std::path::Path) -> Local {
    let liar = meseta_artifacts::test_guest("test-allocator-liar")
        .expect("the test guests are built")
        .path;
    let manifest = json!({"libraries": [{"file": liar, "modules": [
        {"name": "liar_oversized", "parameters": [{"key": "lie", "value": "oversized"}],
         "failure_policy": "fallback"},
        {"name": "liar_trap", "parameters": [{"key": "lie", "value": "trap-on-initialize"}]},
    ]}]});
    let path = dir.join("modules.json");
    std::fs::write(&path, manifest.to_string()).unwrap();
    Local::start_with(&["--modules", &path.to_string_lossy()]).unwrap()
}

fn address(local: &Local) -> String {
    local.url.trim_start_matches("http://").to_string()
}

/// `SWAP_ALLOCATOR` to `allocator`: the status and the answer.
fn swap(local: &Local, allocator: &str) -> (u16, String) {
    let call = json!({"type": "SWAP_ALLOCATOR", "swap_allocator": {"allocator": allocator}});
    post_to(
        &address(local),
        "/api/v1",
        None,
        call.to_string().as_bytes(),
    )
    .unwrap()
}

fn modules(local: &Local) -> Value {
    let (status, body) = local.get("/master/modules").unwrap();
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn a_swap_keeps_offers_valid_and_offers_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let local = local_with_liars(dir.path());
    let mut s = Scheduler::subscribe(
        &address(&local),
        json!({"name": "swap", "user": "root", "roles": ["*"],
               "capabilities": [{"type": "MULTI_ROLE"}]}),
    )
    .unwrap();
    s.set_auto_ack(true);

    // An offer held across the swap, unanswered.
    let held = s.wait_offers(T).unwrap();
    let agent_id = held[0]["agent_id"]["value"].as_str().unwrap().to_string();
    let held_cpus: f64 = held.iter().map(|o| scalar(&o["resources"], "cpus")).sum();
    assert!(held_cpus > 0.5, "{held:?}");

    let (status, body) = swap(&local, "allocator-binpack");
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["swap_allocator"]["from"], "allocator-drf");
    assert_eq!(answer["swap_allocator"]["to"], "allocator-binpack");
    let m = modules(&local);
    assert_eq!(m["allocator"], "allocator-binpack", "{m}");
    assert_eq!(m["allocator_history"][0]["outcome"], "swapped", "{m}");

    // Rounds of the new allocator offer nothing while the held offer is out: it knows the
    // offer holds the agent's resources. (Had it not been told, the master would catch its
    // decisions as stale and give them back: counted, never sent.)
    let stale = || -> f64 {
        let (_, body) = local.get("/metrics/snapshot").unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        v["meseta/allocator/stale_decisions"].as_f64().unwrap()
    };
    let before = stale();
    if let Some(ev) = s.try_wait_for(|e| e["type"] == "OFFERS", Duration::from_secs(3)) {
        panic!("the held resources were offered again after the swap: {ev}");
    }
    assert_eq!(
        stale(),
        before,
        "the new allocator decided to offer resources that are held"
    );

    // The held offer is still valid: a task launched from it runs.
    let (code, body) = s
        .accept(
            &offer_ids(&held[..1]),
            json!([task("after-swap", &agent_id, "sleep 30", 1.0, 64.0)]),
            0.0,
        )
        .unwrap();
    assert_eq!(code, 202, "{body}");
    s.wait_state("after-swap", "TASK_RUNNING", T).unwrap();

    // The rest comes back from the new allocator, without what the task holds.
    let offers = s.wait_offers(T).unwrap();
    let offered: f64 = offers.iter().map(|o| scalar(&o["resources"], "cpus")).sum();
    assert!(
        (offered - (held_cpus - 1.0)).abs() < 1e-6,
        "offered {offered} cpus after the launch, expected {}",
        held_cpus - 1.0
    );
    // And back to DRF.
    let (status, body) = swap(&local, "allocator-drf");
    assert_eq!(status, 200, "{body}");
    assert_eq!(modules(&local)["allocator"], "allocator-drf");
}

#[test]
fn a_candidate_that_traps_or_lies_does_not_stay() {
    let dir = tempfile::tempdir().unwrap();
    let local = local_with_liars(dir.path());

    // Traps in `initialize`, replayed while taking over: refused, DRF stays.
    let (status, body) = swap(&local, "liar_trap");
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("refused") && body.contains("liar_trap") && body.contains("allocator-drf"),
        "{body}"
    );
    let m = modules(&local);
    assert_eq!(m["allocator"], "allocator-drf", "{m}");
    assert_eq!(m["allocator_history"][0]["outcome"], "refused", "{m}");

    // Unknown names and modules of another kind are refused by name.
    let (status, body) = swap(&local, "no-such-allocator");
    assert_eq!(status, 400);
    assert!(
        body.contains("no allocator module named 'no-such-allocator'"),
        "{body}"
    );
    let (status, body) = swap(&local, "hook-labels");
    assert_eq!(status, 400);
    assert!(body.contains("not an allocator"), "{body}");

    // Lies in its first round (offers ten times an agent): that round is answered by the
    // fallback, and DRF is put back with the cluster's state.
    let mut s = Scheduler::subscribe(
        &address(&local),
        json!({"name": "swap-liar", "user": "root", "roles": ["*"],
               "capabilities": [{"type": "MULTI_ROLE"}]}),
    )
    .unwrap();
    let first = s.wait_offers(T).unwrap();
    s.decline(&offer_ids(&first), 0.0).unwrap();
    let (status, body) = swap(&local, "liar_oversized");
    assert_eq!(status, 200, "{body}");
    let deadline = std::time::Instant::now() + T;
    loop {
        let m = modules(&local);
        let history = m["allocator_history"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if let Some(back) = history.iter().find(|h| h["outcome"] == "rolled back") {
            assert_eq!(back["from"], "liar_oversized", "{m}");
            assert_eq!(back["to"], "allocator-drf", "{m}");
            assert!(
                back["reason"].as_str().unwrap_or("").contains("faulted"),
                "{m}"
            );
            assert_eq!(m["allocator"], "allocator-drf", "{m}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no roll-back: {m}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Offers keep coming, within the agent's resources.
    let offers = s.wait_offers(T).unwrap();
    for o in &offers {
        assert!(scalar(&o["resources"], "cpus") <= 4.0 + 1e-6, "{o}");
    }
}

/// The swapped-in allocator is kept in the registry: `meseta master` SIGKILLed and restarted on
/// its work dir leads with it, and the history says so.
#[test]
fn the_swapped_in_allocator_survives_a_master_restart() {
    use meseta_tests::daemons::{Daemon, free_port};

    let dir = tempfile::tempdir().unwrap();
    let work_dir = dir.path().to_string_lossy().into_owned();
    let port = free_port().unwrap().to_string();
    let args = [
        "master",
        "--ip",
        "127.0.0.1",
        "--port",
        &port,
        "--work_dir",
        &work_dir,
    ];
    let address = format!("127.0.0.1:{port}");
    let call =
        json!({"type": "SWAP_ALLOCATOR", "swap_allocator": {"allocator": "allocator-binpack"}});
    let modules = |m: &Daemon| -> Value {
        let (_, body) = m.get("/master/modules").unwrap();
        serde_json::from_str(&body).unwrap()
    };

    let mut master = Daemon::spawn(&args, "Master: ").unwrap();
    let (status, body) = post_to(&address, "/api/v1", None, call.to_string().as_bytes()).unwrap();
    assert_eq!(status, 200, "{body}");
    master.kill9();

    let master = Daemon::spawn(&args, "Master: ").unwrap();
    let m = modules(&master);
    assert_eq!(
        m["allocator"],
        "allocator-binpack",
        "{m}\n{}",
        master.output()
    );
    let outcomes: Vec<&str> = m["allocator_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["swapped", "restored"], "{m}");
}

/// A candidate from a module manifest on the master's machine: its entry (file, parameters,
/// settings) is loaded by name; a name the manifest lacks is refused, naming what it has.
#[test]
fn a_candidate_can_come_from_a_manifest_entry() {
    let dir = tempfile::tempdir().unwrap();
    let local = local_with_liars(dir.path());
    let binpack = meseta_artifacts::shipped("allocator-binpack").unwrap().path;
    let manifest = dir.path().join("candidates.json");
    std::fs::write(
        &manifest,
        json!({"libraries": [{"file": binpack, "modules": [
            {"name": "binpack_candidate", "deadline": "200ms"}]}]})
        .to_string(),
    )
    .unwrap();
    let manifest = manifest.to_string_lossy().into_owned();
    let swap_from = |name: &str| {
        let call = json!({"type": "SWAP_ALLOCATOR",
            "swap_allocator": {"allocator": name, "manifest": manifest}});
        post_to(
            &address(&local),
            "/api/v1",
            None,
            call.to_string().as_bytes(),
        )
        .unwrap()
    };
    let (status, body) = swap_from("nope");
    assert_eq!(status, 400);
    assert!(
        body.contains("no module named 'nope'") && body.contains("binpack_candidate"),
        "{body}"
    );
    let (status, body) = swap_from("binpack_candidate");
    assert_eq!(status, 200, "{body}");
    let m = modules(&local);
    assert_eq!(m["allocator"], "binpack_candidate", "{m}");
    let entry = m["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "binpack_candidate")
        .cloned()
        .unwrap_or_default();
    assert_eq!(entry["deadline_ms"], 200.0, "{m}");
    assert_eq!(entry["in_use"], true, "{m}");
}
