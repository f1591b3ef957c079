#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! End-to-end tests on real daemons in one process: a master and agents started as libraries
//! on 127.0.0.1 port 0 (real HTTP, real processes for tasks), driven by a v1 scheduler client
//! ([`meseta_tests::scheduler`]). Each test builds its own cluster, with short intervals.
//! Assertions are on Mesos' behaviour; waits use generous timeouts, never speed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use meseta_master::MasterConfig;
use meseta_tests::cluster::{
    Cluster, RES, T, eventually, find_framework, framework, master_config, module, task_in,
};
use meseta_tests::scheduler::{Scheduler, is_update_of, offer_ids, post_call, scalar, task};
use serde_json::{Value, json};

fn partition_aware(name: &str) -> Value {
    json!({"name": name, "capabilities": [{"type": "PARTITION_AWARE"}]})
}

/// Whether process `pid` is alive (a zombie counts as gone).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s.rsplit(')').next().unwrap_or("").split_whitespace().next();
            state != Some("Z")
        })
        .unwrap_or(false)
}

/// A `sleep 60` command that first writes its pid to `dir/<name>.pid`.
fn sleeper(dir: &std::path::Path, name: &str) -> (String, std::path::PathBuf) {
    let pidfile = dir.join(format!("{name}.pid"));
    (
        format!("echo $$ > {}; exec sleep 60", pidfile.display()),
        pidfile,
    )
}

fn read_pid(pidfile: &std::path::Path) -> u32 {
    let mut pid = 0;
    eventually("the task's pid file", || {
        pid = std::fs::read_to_string(pidfile)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        pid != 0
    });
    pid
}

/// The first offer (waiting for one) as (offer id, agent id, offer).
fn one_offer(s: &mut Scheduler) -> (String, String, Value) {
    let offers = s.wait_offers(T).unwrap();
    let o = offers[0].clone();
    // The rest stays with the framework; decline it without a filter.
    if offers.len() > 1 {
        s.decline(&offer_ids(&offers[1..]), 0.0).unwrap();
    }
    (
        o["id"]["value"].as_str().unwrap().to_string(),
        o["agent_id"]["value"].as_str().unwrap().to_string(),
        o,
    )
}

/// Launches one task from the next offer (unused resources refused for 0 s).
fn launch(s: &mut Scheduler, id: &str, command: &str) -> String {
    let (offer, agent, _) = one_offer(s);
    let (code, body) = s
        .accept(&[offer], json!([task(id, &agent, command, 0.1, 32.0)]), 0.0)
        .unwrap();
    assert_eq!(code, 202, "ACCEPT: {body}");
    agent
}

fn accepted(r: (u16, String)) {
    assert_eq!(r.0, 202, "call answered {}: {}", r.0, r.1);
}

// 1 -------------------------------------------------------------------------------------------

#[test]
fn task_lifecycle() {
    let c = Cluster::start(master_config(), &[RES]);
    let mut s = c.subscribe(framework("lifecycle"));

    launch(&mut s, "hi", "echo hi");
    let mut states = Vec::new();
    while states.last().map(String::as_str) != Some("TASK_FINISHED") {
        let status = s.wait_update("hi", T).unwrap(); // acknowledged
        assert!(
            status.get("uuid").is_some(),
            "update without uuid: {status}"
        );
        let state = status["state"].as_str().unwrap().to_string();
        if states.last() != Some(&state) {
            states.push(state);
        }
    }
    assert_eq!(states, ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]);
    let state = c.state();
    let f = find_framework(&state, "frameworks", s.framework_id()).unwrap();
    let t = task_in(f, "completed_tasks", "hi").expect("hi in completed_tasks");
    assert_eq!(t["state"], "TASK_FINISHED");

    launch(&mut s, "fails", "exit 3");
    s.wait_state("fails", "TASK_FAILED", T).unwrap();

    launch(&mut s, "sleeps", "sleep 60");
    s.wait_state("sleeps", "TASK_RUNNING", T).unwrap();
    accepted(s.kill("sleeps").unwrap());
    s.wait_state("sleeps", "TASK_KILLED", T).unwrap();
}

// 2 -------------------------------------------------------------------------------------------

fn wait_terminal(s: &mut Scheduler, id: &str) -> Value {
    s.wait_for(
        |e| {
            is_update_of(e, id)
                && !matches!(
                    e["update"]["status"]["state"].as_str(),
                    Some("TASK_STAGING" | "TASK_STARTING" | "TASK_RUNNING")
                )
        },
        T,
    )
    .unwrap()["update"]["status"]
        .clone()
}

#[test]
fn accept_validation() {
    let c = Cluster::start(master_config(), &[RES]);
    let mut s = c.subscribe(framework("validation"));
    s.set_auto_ack(true);
    let agent = c.agent_id(0);

    // An offer id the master never made.
    accepted(
        s.accept(
            &["no-such-offer".into()],
            json!([task("unknown-offer", &agent, "true", 0.1, 32.0)]),
            0.0,
        )
        .unwrap(),
    );
    let st = wait_terminal(&mut s, "unknown-offer");
    assert_eq!(st["state"], "TASK_LOST", "{st}");
    assert_eq!(st["reason"], "REASON_INVALID_OFFERS", "{st}");

    // An offer used twice.
    let (offer, agent, _) = one_offer(&mut s);
    accepted(
        s.accept(
            std::slice::from_ref(&offer),
            json!([task("first-use", &agent, "true", 0.1, 32.0)]),
            0.0,
        )
        .unwrap(),
    );
    accepted(
        s.accept(
            &[offer],
            json!([task("second-use", &agent, "true", 0.1, 32.0)]),
            0.0,
        )
        .unwrap(),
    );
    let st = wait_terminal(&mut s, "second-use");
    assert_eq!(st["state"], "TASK_LOST", "{st}");
    assert_eq!(st["reason"], "REASON_INVALID_OFFERS", "{st}");
    assert_eq!(wait_terminal(&mut s, "first-use")["state"], "TASK_FINISHED");

    // The same task id twice in one ACCEPT: the second is invalid, the first runs.
    let (offer, agent, _) = one_offer(&mut s);
    accepted(
        s.accept(
            &[offer],
            json!([
                task("dup", &agent, "true", 0.1, 32.0),
                task("dup", &agent, "true", 0.1, 32.0)
            ]),
            0.0,
        )
        .unwrap(),
    );
    let error = s
        .wait_for(
            |e| is_update_of(e, "dup") && e["update"]["status"]["state"] == "TASK_ERROR",
            T,
        )
        .unwrap();
    assert_eq!(error["update"]["status"]["reason"], "REASON_TASK_INVALID");
    s.wait_for(
        |e| is_update_of(e, "dup") && e["update"]["status"]["state"] == "TASK_FINISHED",
        T,
    )
    .unwrap();

    // More cpus than offered.
    let (offer, agent, o) = one_offer(&mut s);
    let cpus = scalar(&o["resources"], "cpus");
    accepted(
        s.accept(
            &[offer],
            json!([task("too-big", &agent, "true", cpus + 1.0, 32.0)]),
            0.0,
        )
        .unwrap(),
    );
    let st = wait_terminal(&mut s, "too-big");
    assert_eq!(st["state"], "TASK_ERROR", "{st}");
    assert_eq!(st["reason"], "REASON_TASK_INVALID", "{st}");

    // A task id the agent could not make a sandbox of (longer than 255 bytes): refused by the
    // master as by the agent, with a terminal update, never left staging.
    let (offer, agent, _) = one_offer(&mut s);
    let long = "x".repeat(300);
    accepted(
        s.accept(
            &[offer],
            json!([task(&long, &agent, "true", 0.1, 32.0)]),
            0.0,
        )
        .unwrap(),
    );
    let st = wait_terminal(&mut s, &long);
    assert_eq!(st["state"], "TASK_ERROR", "{st}");
    assert_eq!(st["reason"], "REASON_TASK_INVALID", "{st}");
    assert!(
        st["message"]
            .as_str()
            .unwrap_or("")
            .contains("must be at most 255 bytes"),
        "{st}"
    );

    // Neither a command nor an executor.
    let (offer, agent, _) = one_offer(&mut s);
    let mut bare = task("bare", &agent, "true", 0.1, 32.0);
    bare.as_object_mut().unwrap().remove("command");
    accepted(s.accept(&[offer], json!([bare]), 0.0).unwrap());
    let st = wait_terminal(&mut s, "bare");
    assert_eq!(st["state"], "TASK_ERROR", "{st}");
    assert_eq!(st["reason"], "REASON_TASK_INVALID", "{st}");

    // An operation Meseta does not support: 400, and the offer stays valid.
    let (offer, agent, o) = one_offer(&mut s);
    let (code, body) = s
        .accept_operations(
            std::slice::from_ref(&offer),
            json!([{"type": "GROW_VOLUME", "grow_volume": {"volume": o["resources"][0]}}]),
            0.0,
        )
        .unwrap();
    assert_eq!(code, 400, "GROW_VOLUME: {body}");
    assert!(!body.is_empty());
    accepted(
        s.accept(
            &[offer],
            json!([task("after-reserve", &agent, "true", 0.1, 32.0)]),
            0.0,
        )
        .unwrap(),
    );
    assert_eq!(
        wait_terminal(&mut s, "after-reserve")["state"],
        "TASK_FINISHED"
    );

    // A partition-aware framework hears TASK_DROPPED instead of TASK_LOST.
    let mut pa = c.subscribe(partition_aware("validation-pa"));
    accepted(
        pa.accept(
            &["no-such-offer".into()],
            json!([task("pa-unknown-offer", &agent, "true", 0.1, 32.0)]),
            0.0,
        )
        .unwrap(),
    );
    let st = wait_terminal(&mut pa, "pa-unknown-offer");
    assert_eq!(st["state"], "TASK_DROPPED", "{st}");
    assert_eq!(st["reason"], "REASON_INVALID_OFFERS", "{st}");
}

// 3, 4 ----------------------------------------------------------------------------------------

fn no_offer_within(s: &mut Scheduler, d: Duration) {
    if let Some(ev) = s.try_wait_for(|e| e["type"] == "OFFERS", d) {
        panic!("unexpected offer: {ev}");
    }
}

#[test]
fn decline_filters() {
    let c = Cluster::start(master_config(), &[RES]);
    let mut s = c.subscribe(framework("decline"));
    let agent = c.agent_id(0);

    let (offer, _, _) = one_offer(&mut s);
    let declined = Instant::now();
    accepted(s.decline(&[offer], 1.0).unwrap());
    let offers = s.wait_offers(T).unwrap();
    let after = declined.elapsed();
    println!("re-offered {after:?} after DECLINE with refuse_seconds 1");
    assert!(
        after >= Duration::from_millis(800),
        "re-offered after {after:?}, before the 1 s filter expired"
    );
    assert_eq!(offers[0]["agent_id"]["value"], agent.as_str());

    accepted(s.decline(&offer_ids(&offers), 60.0).unwrap());
    no_offer_within(&mut s, Duration::from_secs(1));
    // The filter shows in the allocator's metrics for its role, and goes with REVIVE.
    let filters = |c: &Cluster| {
        c.get("/metrics/snapshot")["allocator/mesos/offer_filters/roles/*/active"].clone()
    };
    assert_eq!(filters(&c), json!(1.0));
    accepted(s.revive().unwrap());
    let offers = s.wait_offers(Duration::from_secs(5)).unwrap();
    assert_eq!(offers[0]["agent_id"]["value"], agent.as_str());
    assert_eq!(filters(&c), json!(0.0));
}

#[test]
fn suppress_and_revive() {
    let c = Cluster::start(master_config(), &[RES]);
    let mut s = c.subscribe(framework("suppress"));
    let offers = s.wait_offers(T).unwrap();
    accepted(s.suppress().unwrap());
    accepted(s.decline(&offer_ids(&offers), 0.0).unwrap());
    no_offer_within(&mut s, Duration::from_secs(1));
    accepted(s.revive().unwrap());
    s.wait_offers(Duration::from_secs(5)).unwrap();
}

// 5 -------------------------------------------------------------------------------------------

/// The id of an offer on `agent` (other offers stay with the framework).
fn offer_on(s: &mut Scheduler, agent: &str) -> String {
    let has = |o: &Value| o["agent_id"]["value"] == agent;
    let ev = s
        .wait_for(
            |e| e["type"] == "OFFERS" && e["offers"]["offers"].as_array().unwrap().iter().any(has),
            T,
        )
        .unwrap();
    let offers = ev["offers"]["offers"].as_array().unwrap();
    let o = offers.iter().find(|o| has(o)).unwrap();
    o["id"]["value"].as_str().unwrap().to_string()
}

#[test]
fn agent_loss() {
    let mut c = Cluster::start(master_config(), &[RES, RES]);
    let (x, y) = (c.agent_id(0), c.agent_id(1));

    // A (not partition-aware) launches on X, filters X's rest for a minute and keeps Y's offer.
    let mut a = c.subscribe(framework("loss-a"));
    a.set_auto_ack(true);
    let on_x = offer_on(&mut a, &x);
    accepted(
        a.accept(
            &[on_x],
            json!([task("a-task", &x, "sleep 60", 0.1, 32.0)]),
            60.0,
        )
        .unwrap(),
    );
    a.wait_state("a-task", "TASK_RUNNING", T).unwrap();

    // B (partition-aware) gets X's rest, launches there and holds the rest of X.
    let mut b = c.subscribe(partition_aware("loss-b"));
    b.set_auto_ack(true);
    let on_x = offer_on(&mut b, &x);
    accepted(
        b.accept(
            &[on_x],
            json!([task("b-task", &x, "sleep 60", 0.1, 32.0)]),
            0.0,
        )
        .unwrap(),
    );
    b.wait_state("b-task", "TASK_RUNNING", T).unwrap();
    let held = b
        .wait_for(
            |e| {
                e["type"] == "OFFERS" && e["offers"]["offers"][0]["agent_id"]["value"] == x.as_str()
            },
            T,
        )
        .unwrap();
    let held = held["offers"]["offers"][0]["id"]["value"].clone();

    c.kill_agent(0);

    let lost = a.wait_state("a-task", "TASK_LOST", T).unwrap();
    assert_eq!(lost["reason"], "REASON_AGENT_REMOVED", "{lost}");
    assert_eq!(lost["agent_id"]["value"], x.as_str());
    let unreachable = b.wait_state("b-task", "TASK_UNREACHABLE", T).unwrap();
    assert_eq!(
        unreachable["reason"], "REASON_AGENT_REMOVED",
        "{unreachable}"
    );
    for s in [&mut a, &mut b] {
        s.wait_for(
            |e| e["type"] == "FAILURE" && e["failure"]["agent_id"]["value"] == x.as_str(),
            T,
        )
        .unwrap();
    }
    b.wait_for(
        |e| e["type"] == "RESCIND" && e["rescind"]["offer_id"]["value"] == held,
        T,
    )
    .unwrap();
    let slaves = c.get("/master/slaves");
    let ids: Vec<&str> = slaves["slaves"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(ids, [y.as_str()], "{slaves}");
}

// 6 -------------------------------------------------------------------------------------------

#[test]
fn framework_failover() {
    let dir = tempfile::tempdir().unwrap();
    let c = Cluster::start(master_config(), &[RES]);

    // failover_timeout 30: the framework survives its stream.
    let mut s = c.subscribe(json!({"name": "failover", "failover_timeout": 30.0}));
    s.set_auto_ack(true);
    let id = s.framework_id().to_string();
    launch(&mut s, "survivor", "sleep 60");
    s.wait_state("survivor", "TASK_RUNNING", T).unwrap();
    drop(s);
    let mut s = c.subscribe(json!({
        "name": "failover", "failover_timeout": 30.0, "id": {"value": id},
    }));
    assert_eq!(s.framework_id(), id);
    let state = c.state();
    let f = find_framework(&state, "frameworks", &id).expect("framework still there");
    let t = task_in(f, "tasks", "survivor").expect("its task still there");
    assert_eq!(t["state"], "TASK_RUNNING");
    accepted(s.reconcile(&["survivor"]).unwrap());
    let st = s
        .wait_for(
            |e| {
                is_update_of(e, "survivor")
                    && e["update"]["status"]["reason"] == "REASON_RECONCILIATION"
            },
            T,
        )
        .unwrap();
    let st = &st["update"]["status"];
    assert_eq!(st["state"], "TASK_RUNNING", "{st}");
    assert!(st.get("uuid").is_none(), "{st}");

    // Its offers go back once it is disconnected (it stays registered for 30 s).
    drop(s);

    // failover_timeout 0: the framework goes with its stream, and its task with it.
    let mut s = c.subscribe(framework("no-failover"));
    s.set_auto_ack(true);
    let id = s.framework_id().to_string();
    let (command, pidfile) = sleeper(dir.path(), "doomed");
    launch(&mut s, "doomed", &command);
    s.wait_state("doomed", "TASK_RUNNING", T).unwrap();
    let pid = read_pid(&pidfile);
    assert!(alive(pid));
    drop(s);
    eventually("the framework in completed_frameworks", || {
        let state = c.state();
        find_framework(&state, "frameworks", &id).is_none()
            && find_framework(&state, "completed_frameworks", &id).is_some()
    });
    eventually("the task's process to end", || !alive(pid));
}

// 7 -------------------------------------------------------------------------------------------

#[test]
fn reconciliation() {
    let c = Cluster::start(master_config(), &[RES]);
    let mut s = c.subscribe(framework("reconcile"));
    s.set_auto_ack(true);
    for id in ["r1", "r2"] {
        launch(&mut s, id, "sleep 60");
        s.wait_state(id, "TASK_RUNNING", T).unwrap();
    }
    let reconciled = |e: &Value, id: &str| {
        is_update_of(e, id) && e["update"]["status"]["reason"] == "REASON_RECONCILIATION"
    };

    accepted(s.reconcile(&["r1", "nobody"]).unwrap());
    let st = s.wait_for(|e| reconciled(e, "r1"), T).unwrap();
    let st = &st["update"]["status"];
    assert_eq!(st["state"], "TASK_RUNNING", "{st}");
    assert!(st.get("uuid").is_none(), "{st}");
    let st = s.wait_for(|e| reconciled(e, "nobody"), T).unwrap();
    assert_eq!(st["update"]["status"]["state"], "TASK_LOST", "{st}");

    accepted(s.reconcile(&[]).unwrap());
    for id in ["r1", "r2"] {
        let st = s.wait_for(|e| reconciled(e, id), T).unwrap();
        assert_eq!(st["update"]["status"]["state"], "TASK_RUNNING", "{st}");
    }
}

// 8 -------------------------------------------------------------------------------------------

#[test]
fn teardown() {
    let dir = tempfile::tempdir().unwrap();
    let c = Cluster::start(master_config(), &[RES]);
    let mut s = c.subscribe(framework("teardown"));
    s.set_auto_ack(true);
    let id = s.framework_id().to_string();
    let (command, pidfile) = sleeper(dir.path(), "victim");
    launch(&mut s, "victim", &command);
    s.wait_state("victim", "TASK_RUNNING", T).unwrap();
    let pid = read_pid(&pidfile);

    let (code, body) = s.teardown().unwrap();
    assert_eq!((code, body.as_str()), (202, ""));
    assert!(s.wait_closed(T), "the stream did not end");
    let state = c.state();
    assert!(find_framework(&state, "frameworks", &id).is_none());
    assert!(find_framework(&state, "completed_frameworks", &id).is_some());
    eventually("the task's process to end", || !alive(pid));
}

// 9 -------------------------------------------------------------------------------------------

#[test]
fn hundred_tasks_on_three_agents() {
    const N: usize = 100;
    let c = Cluster::start(master_config(), &[RES, RES, RES]);
    let mut s = c.subscribe(framework("hundred"));
    s.set_auto_ack(true);
    let mut launched = 0;
    while launched < N {
        let offers = s.wait_offers(T).unwrap();
        for o in &offers {
            let fit = ((scalar(&o["resources"], "cpus") + 1e-9) / 0.1)
                .min(scalar(&o["resources"], "mem") / 32.0) as usize;
            // At most a third per offer, so that every agent gets some.
            let n = fit.min(N - launched).min(N.div_ceil(3));
            let oid = o["id"]["value"].as_str().unwrap().to_string();
            if n == 0 {
                accepted(s.decline(&[oid], 0.0).unwrap());
                continue;
            }
            let agent = o["agent_id"]["value"].as_str().unwrap();
            let tasks: Vec<Value> = (launched..launched + n)
                .map(|i| task(&format!("t{i:03}"), agent, "true", 0.1, 32.0))
                .collect();
            accepted(s.accept(&[oid], json!(tasks), 0.0).unwrap());
            launched += n;
        }
    }
    let mut finished = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while finished.len() < N {
        let left = deadline.saturating_duration_since(Instant::now());
        let ev = s
            .wait_for(|e| e["type"] == "UPDATE", left)
            .unwrap_or_else(|f| panic!("{} of {N} finished: {f:?}", finished.len()));
        let st = &ev["update"]["status"];
        let state = st["state"].as_str().unwrap();
        assert!(
            matches!(state, "TASK_STARTING" | "TASK_RUNNING" | "TASK_FINISHED"),
            "{st}"
        );
        if state == "TASK_FINISHED" {
            finished.insert(st["task_id"]["value"].as_str().unwrap().to_string());
        }
    }
    let mut agents = BTreeSet::new();
    eventually("100 completed tasks in /master/state", || {
        let state = c.state();
        let f = find_framework(&state, "frameworks", s.framework_id()).unwrap();
        let done = f["completed_tasks"].as_array().unwrap();
        agents = done.iter().map(|t| t["slave_id"].to_string()).collect();
        done.len() == N && done.iter().all(|t| t["state"] == "TASK_FINISHED")
    });
    assert_eq!(agents.len(), 3, "{agents:?}");
}

// 10, 11, 12 ----------------------------------------------------------------------------------

/// Launches `sleep 60` tasks of 0.1 cpus / 32 MB from every offer, as many as fit; offers too
/// small for one are declined for a minute. The number launched.
fn greedy(s: &mut Scheduler, launched: &mut usize, wait: Duration) {
    let Some(ev) = s.try_wait_for(|e| e["type"] == "OFFERS", wait) else {
        return;
    };
    for o in ev["offers"]["offers"].as_array().unwrap() {
        let oid = o["id"]["value"].as_str().unwrap().to_string();
        let n = ((scalar(&o["resources"], "cpus") + 1e-9) / 0.1)
            .min(scalar(&o["resources"], "mem") / 32.0) as usize;
        if n == 0 {
            accepted(s.decline(&[oid], 60.0).unwrap());
            continue;
        }
        let agent = o["agent_id"]["value"].as_str().unwrap();
        let tasks: Vec<Value> = (*launched..*launched + n)
            .map(|i| task(&format!("g{i:03}"), agent, "sleep 60", 0.1, 32.0))
            .collect();
        accepted(s.accept(&[oid], json!(tasks), 0.0).unwrap());
        *launched += n;
    }
}

/// Cpus held by a framework's live tasks in `/master/state`.
fn held_cpus(state: &Value, id: &str) -> f64 {
    let f = find_framework(state, "frameworks", id).unwrap();
    f["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["resources"]["cpus"].as_f64().unwrap_or(0.0))
        .sum()
}

#[test]
fn weighted_drf_module() {
    let drf = module("allocator-drf", &[]);
    let config = MasterConfig {
        weights: vec![("a".into(), 1.0), ("b".into(), 3.0)],
        allocator: Some(drf.clone()),
        modules: vec![drf],
        min_allocatable_resources: "cpus:0.1".into(),
        ..master_config()
    };
    // The frameworks first, then 4 agents of 2 cpus (8 in all): each agent goes whole to the
    // role with the lowest weighted share.
    let mut c = Cluster::start(config, &[]);
    let mut a = c.subscribe(json!({"name": "drf-a", "role": "a"}));
    let mut b = c.subscribe(json!({"name": "drf-b", "role": "b"}));
    a.set_auto_ack(true);
    b.set_auto_ack(true);
    for _ in 0..4 {
        c.add_agent("cpus:2;mem:4096;disk:1024");
    }
    let (mut na, mut nb) = (0, 0);
    let deadline = Instant::now() + T;
    while na + nb < 80 && Instant::now() < deadline {
        greedy(&mut a, &mut na, Duration::from_millis(50));
        greedy(&mut b, &mut nb, Duration::from_millis(50));
    }
    assert_eq!(na + nb, 80, "launched a={na} b={nb}");
    let (mut ca, mut cb) = (0.0, 0.0);
    eventually("80 tasks in /master/state", || {
        let state = c.state();
        ca = held_cpus(&state, a.framework_id());
        cb = held_cpus(&state, b.framework_id());
        // All running: none is still being launched when the agents stop.
        let running = state["frameworks"].as_array().unwrap().iter().all(|f| {
            f["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t["state"] == "TASK_RUNNING")
        });
        ca + cb > 7.95 && running
    });
    let ratio = cb / ca;
    println!("weighted DRF: b holds {cb:.1} cpus, a {ca:.1} (ratio {ratio:.2})");
    assert!(
        (2.4..=3.6).contains(&ratio),
        "b holds {cb} cpus, a {ca}: ratio {ratio}, want ~3"
    );
}

#[test]
fn binpack_module_packs() {
    let binpack = module("allocator-binpack", &[]);
    let config = MasterConfig {
        allocator: Some(binpack.clone()),
        modules: vec![binpack],
        min_allocatable_resources: "cpus:0.5".into(),
        // Rounds follow events only: an interval round that ran while the framework still held
        // its last offer would rightly offer the other agent, and the loop below would take it.
        allocation_interval: Duration::from_secs(3600),
        ..master_config()
    };
    let c = Cluster::start(config, &["cpus:2;mem:4096", "cpus:2;mem:4096"]);
    let mut s = c.subscribe(framework("binpack"));
    s.set_auto_ack(true);
    let mut placed = Vec::new();
    for i in 0..5 {
        let offers = s.wait_offers(T).unwrap();
        let o = &offers[0];
        let agent = o["agent_id"]["value"].as_str().unwrap().to_string();
        let oid = o["id"]["value"].as_str().unwrap().to_string();
        accepted(
            s.accept(
                &[oid],
                json!([task(&format!("p{i}"), &agent, "sleep 60", 0.5, 32.0)]),
                0.0,
            )
            .unwrap(),
        );
        if offers.len() > 1 {
            accepted(s.decline(&offer_ids(&offers[1..]), 0.0).unwrap());
        }
        placed.push(agent);
    }
    for i in 0..5 {
        s.wait_state(&format!("p{i}"), "TASK_RUNNING", T).unwrap();
    }
    // Where the master put them.
    let state = c.state();
    let f = find_framework(&state, "frameworks", s.framework_id()).unwrap();
    let on: Vec<String> = (0..5)
        .map(|i| {
            let t = task_in(f, "tasks", &format!("p{i}"))
                .or_else(|| task_in(f, "completed_tasks", &format!("p{i}")))
                .unwrap();
            t["slave_id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(on, placed);
    println!("binpack placed p0..p4 on {on:?}");
    assert!(
        on[..4].iter().all(|a| *a == on[0]),
        "the first 4 tasks (2 cpus) should fill one agent: {on:?}"
    );
    assert_ne!(on[4], on[0], "the 5th task should go to the other agent");
}

#[test]
fn lying_allocator_falls_back() {
    let liar = module("test-allocator-liar", &[("lie", "oversized")]);
    let config = MasterConfig {
        allocator: Some(liar.clone()),
        modules: vec![liar.clone()],
        ..master_config()
    };
    let c = Cluster::start(config, &[RES]);
    let mut s = c.subscribe(framework("liar"));
    s.set_auto_ack(true);
    let (offer, agent, o) = one_offer(&mut s);
    assert!(scalar(&o["resources"], "cpus") <= 4.0 + 1e-9, "{o}");
    accepted(
        s.accept(
            &[offer],
            json!([task("honest", &agent, "true", 0.1, 32.0)]),
            0.0,
        )
        .unwrap(),
    );
    s.wait_state("honest", "TASK_FINISHED", T).unwrap();

    let modules = c.get("/master/modules");
    let m = modules["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == liar.spec.name.as_str())
        .unwrap_or_else(|| panic!("{modules}"));
    assert!(m["counters"]["faults"].as_u64().unwrap() >= 1, "{m}");
    assert!(m["counters"]["fallbacks"].as_u64().unwrap() >= 1, "{m}");
    let metrics = c.get("/metrics/snapshot");
    assert!(
        metrics["meseta/allocator/fallback_rounds"]
            .as_f64()
            .unwrap()
            >= 1.0,
        "{metrics}"
    );
}

// 13 ------------------------------------------------------------------------------------------

/// What must not change: frameworks (id, active) and their tasks (id, state).
fn summary(state: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for list in ["frameworks", "completed_frameworks"] {
        for f in state[list].as_array().unwrap() {
            let tasks: BTreeMap<String, Value> = ["tasks", "completed_tasks"]
                .iter()
                .flat_map(|l| f[*l].as_array().cloned().unwrap_or_default())
                .map(|t| (t["id"].as_str().unwrap().to_string(), t["state"].clone()))
                .collect();
            out.insert(
                format!("{list}/{}", f["id"].as_str().unwrap()),
                json!({"active": f["active"], "tasks": tasks}),
            );
        }
    }
    out
}

#[test]
fn bad_input() {
    let c = Cluster::start(master_config(), &[RES]);
    let mut s = c.subscribe(framework("bad-input"));
    s.set_auto_ack(true);
    launch(&mut s, "steady", "sleep 60");
    s.wait_state("steady", "TASK_RUNNING", T).unwrap();
    let before = summary(&c.state());
    let fid = s.framework_id().to_string();
    let stream = Some(s.stream_id());
    let call = |stream: Option<&str>, body: &[u8]| post_call(&c.addr, stream, body).unwrap();

    let (code, body) = call(stream, b"{\"type\": \"DECLINE\", ");
    assert_eq!(code, 400);
    assert!(!body.trim().is_empty(), "400 without a reason");
    assert!(
        serde_json::from_str::<Value>(&body).is_err(),
        "not plain text: {body}"
    );

    let unknown = json!({"type": "FROBNICATE", "framework_id": {"value": fid}});
    assert_eq!(call(stream, unknown.to_string().as_bytes()).0, 400);

    let kill = json!({"type": "KILL", "framework_id": {"value": fid},
        "kill": {"task_id": {"value": "steady"}}});
    assert_eq!(call(None, kill.to_string().as_bytes()).0, 400);
    assert_eq!(
        call(Some("not-the-stream"), kill.to_string().as_bytes()).0,
        400
    );

    let stranger = json!({"type": "KILL", "framework_id": {"value": "no-such-framework"},
        "kill": {"task_id": {"value": "steady"}}});
    assert_eq!(call(stream, stranger.to_string().as_bytes()).0, 403);

    let huge = vec![b' '; 20 << 20];
    let (code, body) = call(stream, &huge);
    println!("20 MiB call: {code} {body}");
    assert!(code == 413 || code == 400, "20 MiB body answered {code}");

    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(summary(&c.state()), before);
    let t = s.try_wait_for(|e| is_update_of(e, "steady"), Duration::from_millis(200));
    assert!(
        t.is_none_or(|e| e["update"]["status"]["state"] == "TASK_RUNNING"),
        "the task changed"
    );
}

// Agent stop --------------------------------------------------------------------------------

/// `Agent::stop` kills every container, also those still being launched when it is called
/// (no task process may outlive its agent).
#[test]
fn agent_stop_kills_tasks_being_launched() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Cluster::start(master_config(), &[RES]);
    let mut s = c.subscribe(framework("stop"));
    s.set_auto_ack(true);
    let (offer, agent, _) = one_offer(&mut s);
    let tasks: Vec<Value> = (0..20)
        .map(|i| {
            let id = format!("s{i:02}");
            task(&id, &agent, &sleeper(dir.path(), &id).0, 0.1, 32.0)
        })
        .collect();
    accepted(s.accept(&[offer], json!(tasks), 0.0).unwrap());
    s.wait_for(|e| e["type"] == "UPDATE", T).unwrap(); // the agent is launching them
    let agent = c.agents[0].take().unwrap();
    c.rt.block_on(agent.stop());
    std::thread::sleep(Duration::from_secs(1));
    let mut survivors = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let pid: u32 = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        if pid != 0 && alive(pid) {
            survivors.push((
                path.file_name().unwrap().to_string_lossy().into_owned(),
                pid,
            ));
            // Not left behind for a minute, whatever the verdict.
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
    assert!(
        survivors.is_empty(),
        "task processes outlived Agent::stop: {survivors:?}"
    );
}

#[test]
fn quota_limits_clip_offers() {
    let c = Cluster::start(master_config(), &[RES]);
    let body = json!({"type": "UPDATE_QUOTA", "update_quota": {"quota_configs": [
        {"role": "dev", "limits": {"cpus": {"value": 1.5}, "mem": {"value": 512}}}
    ]}});
    let (status, text) =
        meseta_tests::scheduler::post_to(&c.addr, "/api/v1", None, body.to_string().as_bytes())
            .unwrap();
    assert_eq!(status, 200, "{text}");
    let bad = json!({"type": "UPDATE_QUOTA", "update_quota": {"quota_configs": [
        {"role": "dev", "limits": {"bogus": {"value": 1}}}
    ]}});
    let (status, text) =
        meseta_tests::scheduler::post_to(&c.addr, "/api/v1", None, bad.to_string().as_bytes())
            .unwrap();
    assert_eq!(status, 400, "an unknown resource is refused: {text}");
    assert!(text.contains("bogus"), "{text}");
    let quota = c.get("/master/quota");
    assert_eq!(quota["configs"][0]["role"], "dev", "{quota}");
    assert_eq!(
        quota["configs"][0]["limits"]["cpus"]["value"], 1.5,
        "{quota}"
    );

    let mut s = c.subscribe(json!({"name": "quota", "roles": ["dev"],
        "capabilities": [{"type": "MULTI_ROLE"}]}));
    let offers = s.wait_offers(T).unwrap();
    let offered: f64 = offers.iter().map(|o| scalar(&o["resources"], "cpus")).sum();
    assert!(
        offered <= 1.5 + 1e-9 && offered > 0.0,
        "role dev is offered at most its 1.5 cpus limit of the agent's 4: {offered}"
    );
    let mem: f64 = offers.iter().map(|o| scalar(&o["resources"], "mem")).sum();
    assert!(mem <= 512.0 + 1e-9, "and at most 512 MB: {mem}");
}

/// The role tree, end to end on the Wasm DRF module: `ops` weighs twice `eng`, whose agents
/// `eng/a` and `eng/b` share; offers are held, so each agent goes to the lowest weighted share
/// of the tree. A flat sorter would give `eng/a`, `eng/b` and `ops` 1.5, 1.5 and 3 of 6.
#[test]
fn the_role_tree_shares_agents_by_weighted_drf() {
    let drf = module("allocator-drf", &[]);
    let config = MasterConfig {
        weights: vec![("ops".into(), 2.0)],
        allocator: Some(drf.clone()),
        modules: vec![drf],
        ..master_config()
    };
    let mut c = Cluster::start(config, &[]);
    let roles = ["eng/a", "eng/b", "ops"];
    let mut frameworks: Vec<Scheduler> = roles
        .iter()
        .map(|r| {
            c.subscribe(json!({"name": r, "roles": [r],
                "capabilities": [{"type": "MULTI_ROLE"}]}))
        })
        .collect();
    for _ in 0..6 {
        c.add_agent("cpus:1;mem:1024;disk:1024");
    }
    let mut agents = [0usize; 3];
    let deadline = Instant::now() + T;
    while agents.iter().sum::<usize>() < 6 && Instant::now() < deadline {
        for (i, f) in frameworks.iter_mut().enumerate() {
            if let Some(ev) = f.try_wait_for(|e| e["type"] == "OFFERS", Duration::from_millis(50)) {
                agents[i] += ev["offers"]["offers"].as_array().map_or(0, Vec::len);
            }
        }
    }
    assert_eq!(agents, [1, 1, 4], "agents offered to eng/a, eng/b, ops");
}

/// Quota guarantees, end to end on the Wasm DRF module: what a guarantee still lacks is held
/// back from other roles, the guaranteed role gets it when it comes, and guarantees beyond the
/// cluster's capacity need `force`.
#[test]
fn quota_guarantees_are_held_back_for_their_role() {
    let drf = meseta_tests::cluster::module("allocator-drf", &[]);
    let config = MasterConfig {
        allocator: Some(drf),
        ..master_config()
    };
    let agent = "cpus:2;mem:2048;disk:1024";
    let c = Cluster::start(config, &[agent, agent]);
    let post = |body: Value| {
        meseta_tests::scheduler::post_to(&c.addr, "/api/v1", None, body.to_string().as_bytes())
            .unwrap()
    };
    let quota = |role: &str, cpus: f64, force: bool| {
        json!({"type": "UPDATE_QUOTA", "update_quota": {"force": force, "quota_configs": [
            {"role": role, "guarantees": {"cpus": {"value": cpus}}}]}})
    };
    let (status, text) = post(quota("db", 3.0, false));
    assert_eq!(status, 200, "{text}");
    let (status, text) = post(quota("batch", 2.0, false));
    assert_eq!(status, 400, "5 cpus guaranteed of 4: {text}");
    assert!(
        text.contains("'force'") && text.contains("capacity (4)"),
        "{text}"
    );
    let (status, text) = post(quota("batch", 2.0, true));
    assert_eq!(status, 200, "forced: {text}");
    let (status, text) = post(json!({"type": "UPDATE_QUOTA", "update_quota": {
        "quota_configs": [{"role": "batch"}]}}));
    assert_eq!(status, 200, "removed: {text}");

    // web may take only the 1 cpu of surplus over db's guarantee (memory is not guaranteed).
    let mut web = c.subscribe(json!({"name": "web", "roles": ["web"],
        "capabilities": [{"type": "MULTI_ROLE"}]}));
    let offers = web.wait_offers(T).unwrap();
    let cpus: f64 = offers.iter().map(|o| scalar(&o["resources"], "cpus")).sum();
    let mem: f64 = offers.iter().map(|o| scalar(&o["resources"], "mem")).sum();
    assert_eq!(cpus, 1.0, "{offers:?}");
    assert_eq!(mem, 4096.0, "{offers:?}");
    // db, arriving later while web holds its offers, gets the 3 cpus held for it.
    let mut db = c.subscribe(json!({"name": "db", "roles": ["db"],
        "capabilities": [{"type": "MULTI_ROLE"}]}));
    let offers = db.wait_offers(T).unwrap();
    let cpus: f64 = offers.iter().map(|o| scalar(&o["resources"], "cpus")).sum();
    assert_eq!(cpus, 3.0, "{offers:?}");
}

// Batches on the master–agent protocol ---------------------------------------------------------

#[test]
fn batched_messages_are_handled_in_order_each_with_its_own_answer() {
    let c = Cluster::start(master_config(), &[RES]);
    let agent_id = c.agent_id(0);
    let agent_addr = c.agents[0].as_ref().unwrap().address().to_string();
    let master_id = c.state()["id"].clone();
    let post = |addr: &str, path: &str, body: &Value| {
        meseta_tests::scheduler::post_to(addr, path, None, body.to_string().as_bytes()).unwrap()
    };

    // master -> agent: a known ping, a path the agent does not have, a malformed message
    let batch = json!({"messages": [
        {"path": "/internal/master/ping",
         "message": {"master_id": master_id, "agent_id": {"value": agent_id}}},
        {"path": "/internal/master/reboot", "message": {}},
        {"path": "/internal/master/kill_task", "message": {"task_id": 7}},
    ]});
    let (code, text) = post(&agent_addr, "/internal/master/batch", &batch);
    assert_eq!(code, 200, "{text}");
    let codes: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(codes["codes"], json!([200, 404, 400]), "{text}");
    let (code, text) = post(
        &agent_addr,
        "/internal/master/batch",
        &json!({"messages": 3}),
    );
    assert_eq!(code, 400, "a malformed batch is refused: {text}");

    // agent -> master: an update of a registered agent and one of an unknown agent
    let update = |agent: &str| {
        json!({"agent_id": {"value": agent}, "framework_id": {"value": "no-such-framework"},
            "status": {"task_id": {"value": "t"}, "state": "TASK_RUNNING"}})
    };
    let updates = json!({"updates": [update(&agent_id), update("no-such-agent")]});
    let (code, text) = post(&c.addr, "/internal/agent/statuses", &updates);
    assert_eq!(code, 200, "{text}");
    let codes: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(codes["codes"], json!([202, 409]), "{text}");
    let (code, text) = post(
        &c.addr,
        "/internal/agent/statuses",
        &json!({"updates": [1]}),
    );
    assert_eq!(code, 400, "{text}");
}

#[test]
fn many_tasks_of_one_accept_all_run_and_finish() {
    // One ACCEPT of 40 tasks on one agent: 40 RUN_TASKs for the agent at once and their 120
    // status updates and acknowledgements, which travel in batches.
    let c = Cluster::start(master_config(), &[RES]);
    let mut s = c.subscribe(framework("burst"));
    s.set_auto_ack(true);
    let (offer, agent, _) = one_offer(&mut s);
    let tasks: Vec<Value> = (0..40)
        .map(|i| task(&format!("burst-{i}"), &agent, "true", 0.05, 16.0))
        .collect();
    accepted(s.accept(&[offer], json!(tasks), 0.0).unwrap());
    let mut finished = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while finished.len() < 40 && Instant::now() < deadline {
        if let Ok(e) = s.wait_for(|e| e["type"] == "UPDATE", T) {
            let st = &e["update"]["status"];
            if st["state"] == "TASK_FINISHED" {
                finished.insert(st["task_id"]["value"].as_str().unwrap().to_string());
            }
        }
    }
    assert_eq!(finished.len(), 40, "finished: {finished:?}");
    let state = c.state();
    let f = find_framework(&state, "frameworks", s.framework_id()).unwrap();
    assert_eq!(f["completed_tasks"].as_array().unwrap().len(), 40, "{f}");
}
