#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Isolation and oversubscription on real daemons: isolator modules over the agent's real
//! cgroups (an OOM kill, CFS throttling, a disk quota), the revocable flow from estimate to QoS
//! preemption, and misbehaving isolator, estimator and QoS modules.
//!
//! Tests that need cgroups skip, saying why, only where the machine has no writable cgroup
//! hierarchy with cpu and memory controllers.

use std::sync::Arc;
use std::time::Duration;

use meseta_agent::cgroups::CgroupHost;
use meseta_agent::isolation::{Isolation, IsolationOptions, IsolatorSpec};
use meseta_runtime::{FailurePolicy, LoadedModule, Settings};
use meseta_tests::cluster::{Cluster, T, eventually, master_config, module};
use meseta_tests::daemons::http_get;
use meseta_tests::prereqs::cgroups_usable;
use meseta_tests::scheduler::{Scheduler, offer_ids};
use serde_json::{Value, json};

const RES: &str = "cpus:4;mem:2048;disk:2048;ports:[31000-32000]";

fn isolation(
    modules: &[Arc<LoadedModule>],
    tweak: impl FnOnce(&mut IsolationOptions),
) -> Arc<Isolation> {
    // a root per agent: a starting agent destroys what it finds under its root (recovery)
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut options = IsolationOptions {
        cgroups_root: format!("meseta-test-{}-{n}", std::process::id()),
        watch_interval: Duration::from_millis(100),
        ..IsolationOptions::default()
    };
    tweak(&mut options);
    let mut specs = vec![IsolatorSpec::PosixCpu, IsolatorSpec::PosixMem];
    specs.extend(modules.iter().cloned().map(IsolatorSpec::Module));
    Arc::new(Isolation::new(&specs, options).unwrap())
}

fn policy(p: FailurePolicy) -> Settings {
    Settings {
        failure_policy: p,
        deadline: Some(Duration::from_millis(100)),
        ..Settings::default()
    }
}

fn scalar(name: &str, value: f64) -> Value {
    json!({"name": name, "type": "SCALAR", "scalar": {"value": value}})
}

fn revocable(name: &str, value: f64) -> Value {
    json!({"name": name, "type": "SCALAR", "scalar": {"value": value}, "revocable": {}})
}

fn command_task(id: &str, agent: &str, command: &str, resources: Vec<Value>) -> Value {
    json!({
        "name": id,
        "task_id": {"value": id},
        "agent_id": {"value": agent},
        "resources": resources,
        "command": {"value": command, "shell": true},
    })
}

/// The next offer: (offer id, agent id, offer); other offers are declined.
fn offer(s: &mut Scheduler) -> (String, String, Value) {
    let offers = s.wait_offers(T).unwrap();
    if offers.len() > 1 {
        s.decline(&offer_ids(&offers[1..]), 0.0).unwrap();
    }
    let o = offers[0].clone();
    (
        o["id"]["value"].as_str().unwrap().to_string(),
        o["agent_id"]["value"].as_str().unwrap().to_string(),
        o,
    )
}

fn launch(s: &mut Scheduler, tasks: impl FnOnce(&str) -> Vec<Value>) {
    let (id, agent, _) = offer(s);
    let (code, body) = s.accept(&[id], Value::Array(tasks(&agent)), 0.0).unwrap();
    assert_eq!(code, 202, "ACCEPT: {body}");
}

/// The first terminal update of `task`.
fn terminal(s: &mut Scheduler, task: &str) -> Value {
    wait_map(s, &format!("a terminal update of {task}"), |e| {
        let st = &e["update"]["status"];
        let done = e["type"] == "UPDATE"
            && st["task_id"]["value"] == task
            && !matches!(
                st["state"].as_str(),
                Some("TASK_STAGING" | "TASK_STARTING" | "TASK_RUNNING")
            );
        done.then(|| st.clone())
    })
}

/// The first event for which `f` gives something, which is returned; panics naming `what`.
fn wait_map<R>(s: &mut Scheduler, what: &str, mut f: impl FnMut(&Value) -> Option<R>) -> R {
    let event = s
        .wait_for(|e| f(e).is_some(), T)
        .unwrap_or_else(|e| panic!("waiting for {what}: {e:?}"));
    f(&event).unwrap()
}

fn agent_url(c: &Cluster, i: usize) -> String {
    format!("http://{}", c.agents[i].as_ref().unwrap().address())
}

fn statistics(c: &Cluster, i: usize) -> Vec<Value> {
    let (code, body) = http_get(&agent_url(c, i), "/monitor/statistics").unwrap();
    assert_eq!(code, 200, "{body}");
    serde_json::from_str::<Value>(&body)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn oom_kills_the_hog_and_spares_its_neighbour() {
    if !cgroups_usable("oom_kills_the_hog_and_spares_its_neighbour") {
        return;
    }
    let iso = isolation(
        &[
            module("isolator-cgroups", &[]),
            module("isolator-disk", &[]),
        ],
        |_| {},
    );
    let mut c = Cluster::start(master_config(), &[]);
    c.add_agent_with(RES, |a| a.isolation = Some(iso));
    let mut s = c.subscribe(json!({"name": "oom"}));
    s.set_auto_ack(true);
    launch(&mut s, |agent| {
        vec![
            // `tail` keeps the whole line in memory: 300 MB against a 32 MB limit
            command_task(
                "hog",
                agent,
                "head -c 300000000 /dev/zero | tail; sleep 5",
                vec![scalar("cpus", 0.1), scalar("mem", 32.0)],
            ),
            command_task(
                "neighbour",
                agent,
                "sleep 2",
                vec![scalar("cpus", 0.1), scalar("mem", 32.0)],
            ),
        ]
    });
    let hog = terminal(&mut s, "hog");
    assert_eq!(hog["state"], "TASK_FAILED", "{hog}");
    assert_eq!(hog["reason"], "REASON_CONTAINER_LIMITATION_MEMORY", "{hog}");
    assert_eq!(hog["source"], "SOURCE_AGENT", "{hog}");
    assert!(
        hog["message"]
            .as_str()
            .unwrap()
            .starts_with("Memory limit exceeded"),
        "{hog}"
    );
    let neighbour = terminal(&mut s, "neighbour");
    assert_eq!(neighbour["state"], "TASK_FINISHED", "{neighbour}");
}

#[test]
fn cfs_quota_throttles_a_busy_task() {
    if !cgroups_usable("cfs_quota_throttles_a_busy_task") {
        return;
    }
    let iso = isolation(&[module("isolator-cgroups", &[])], |o| {
        o.cgroups_enable_cfs = true
    });
    let mut c = Cluster::start(master_config(), &[]);
    c.add_agent_with(RES, |a| a.isolation = Some(iso));
    let mut s = c.subscribe(json!({"name": "cfs"}));
    s.set_auto_ack(true);
    launch(&mut s, |agent| {
        vec![command_task(
            "busy",
            agent,
            "while :; do :; done",
            vec![scalar("cpus", 0.1), scalar("mem", 32.0)],
        )]
    });
    s.wait_state("busy", "TASK_RUNNING", T).unwrap();
    let mut last = Value::Null;
    eventually("throttled time in /monitor/statistics", || {
        let entries = statistics(&c, 0);
        let Some(e) = entries.iter().find(|e| e["executor_id"] == "busy") else {
            return false;
        };
        last = e["statistics"].clone();
        last["cpus_nr_throttled"].as_u64().unwrap_or(0) > 0
            && last["cpus_throttled_time_secs"].as_f64().unwrap_or(0.0) > 0.0
    });
    assert_eq!(last["cpus_limit"], 0.1, "{last}");
    assert_eq!(last["mem_limit_bytes"], 32 * 1024 * 1024, "{last}");
    assert!(
        last["processes"].as_u64().unwrap() >= 1,
        "posix/cpu fields: {last}"
    );
    // 0.1 cpus of quota: far below one core, however long it ran
    let user = last["cpus_user_time_secs"].as_f64().unwrap();
    assert!(user < 5.0, "{last}");
    s.kill("busy").unwrap();
    s.wait_state("busy", "TASK_KILLED", T).unwrap();
}

#[test]
fn disk_quota_stops_a_writer() {
    let iso = isolation(&[module("isolator-disk", &[])], |o| {
        o.container_disk_watch_interval = Duration::from_millis(100);
    });
    let mut c = Cluster::start(master_config(), &[]);
    c.add_agent_with(RES, |a| a.isolation = Some(iso));
    let mut s = c.subscribe(json!({"name": "disk"}));
    s.set_auto_ack(true);
    launch(&mut s, |agent| {
        vec![
            command_task(
                "writer",
                agent,
                "head -c 20000000 /dev/zero > junk; sleep 60",
                vec![
                    scalar("cpus", 0.1),
                    scalar("mem", 32.0),
                    scalar("disk", 5.0),
                ],
            ),
            command_task(
                "modest",
                agent,
                "head -c 1000 /dev/zero > junk; sleep 1",
                vec![
                    scalar("cpus", 0.1),
                    scalar("mem", 32.0),
                    scalar("disk", 5.0),
                ],
            ),
        ]
    });
    let writer = terminal(&mut s, "writer");
    assert_eq!(writer["state"], "TASK_FAILED", "{writer}");
    assert_eq!(
        writer["reason"], "REASON_CONTAINER_LIMITATION_DISK",
        "{writer}"
    );
    assert!(
        writer["message"]
            .as_str()
            .unwrap()
            .contains("exceeds quota (5.0MB)"),
        "{writer}"
    );
    assert_eq!(terminal(&mut s, "modest")["state"], "TASK_FINISHED");
}

#[test]
fn isolator_modules_cannot_escape_their_container() {
    let escape = module("test-isolator-adversary", &[("mode", "escape")]);
    let iso = isolation(&[escape], |_| {});
    let mut c = Cluster::start(master_config(), &[]);
    c.add_agent_with(RES, |a| a.isolation = Some(iso));
    let mut s = c.subscribe(json!({"name": "escape"}));
    s.set_auto_ack(true);
    launch(&mut s, |agent| {
        vec![command_task(
            "env",
            agent,
            "echo \"$ADVERSARY_CGROUP|$ADVERSARY_HOSTFS\"",
            vec![scalar("cpus", 0.1), scalar("mem", 32.0)],
        )]
    });
    assert_eq!(terminal(&mut s, "env")["state"], "TASK_FINISHED");
    let dir = c.dirs[0].path();
    let out = find_file(dir, "stdout").expect("the task's stdout");
    let text = std::fs::read_to_string(out).unwrap();
    let (cgroup, hostfs) = text.trim().split_once('|').unwrap();
    // another container's cgroup is refused before the kernel is touched
    assert!(cgroup.starts_with("not permitted"), "{text}");
    // no host path is visible, and the sandbox view is read-only
    assert_eq!(hostfs, "denied", "{text}");
}

fn find_file(dir: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() && !p.is_symlink() {
            if let Some(f) = find_file(&p, name) {
                return Some(f);
            }
        } else if e.file_name() == name {
            return Some(p);
        }
    }
    None
}

#[test]
fn misbehaving_isolators_are_contained_by_their_policy() {
    let trap_fallback = meseta_tests::load(
        "test-isolator-adversary",
        &[("mode", "trap-prepare")],
        policy(FailurePolicy::Fallback),
    )
    .unwrap();
    let looping = meseta_tests::load(
        "test-isolator-adversary",
        &[("mode", "loop-watch")],
        policy(FailurePolicy::Fallback),
    )
    .unwrap();
    let bomb = meseta_tests::load(
        "test-isolator-adversary",
        &[("mode", "bomb-usage")],
        policy(FailurePolicy::Fallback),
    )
    .unwrap();
    let iso = isolation(
        &[trap_fallback.clone(), looping.clone(), bomb.clone()],
        |_| {},
    );
    let mut c = Cluster::start(master_config(), &[]);
    c.add_agent_with(RES, |a| a.isolation = Some(iso));
    let mut s = c.subscribe(json!({"name": "contained"}));
    s.set_auto_ack(true);
    launch(&mut s, |agent| {
        vec![command_task(
            "survivor",
            agent,
            "sleep 1",
            vec![scalar("cpus", 0.1), scalar("mem", 32.0)],
        )]
    });
    s.wait_state("survivor", "TASK_RUNNING", T).unwrap();
    // the memory bomb faults in usage; the endpoint still answers
    let entries = statistics(&c, 0);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(terminal(&mut s, "survivor")["state"], "TASK_FINISHED");
    for m in [&trap_fallback, &looping, &bomb] {
        let n = m.counters.snapshot();
        assert!(n.faults.total() > 0, "{}: {n:?}", m.spec.name);
    }
    assert!(looping.counters.snapshot().faults.deadline > 0);

    // under fail-closed, a fault in prepare fails the launch
    let trap_closed = meseta_tests::load(
        "test-isolator-adversary",
        &[("mode", "trap-prepare")],
        policy(FailurePolicy::FailClosed),
    )
    .unwrap();
    let bad_env = meseta_tests::load(
        "test-isolator-adversary",
        &[("mode", "bad-env")],
        policy(FailurePolicy::FailClosed),
    )
    .unwrap();
    for (m, task) in [(trap_closed, "trapped"), (bad_env, "nonsense")] {
        let iso = isolation(std::slice::from_ref(&m), |_| {});
        let i = c.add_agent_with(RES, |a| a.isolation = Some(iso));
        let agent_id = c.agent_id(i);
        let o = wait_map(&mut s, "an offer on the new agent", |e| {
            e["offers"]["offers"].as_array().and_then(|os| {
                os.iter()
                    .find(|o| o["agent_id"]["value"] == agent_id.as_str())
                    .cloned()
            })
        });
        let (code, body) = s
            .accept(
                &[o["id"]["value"].as_str().unwrap().to_string()],
                json!([command_task(
                    task,
                    &agent_id,
                    "true",
                    vec![scalar("cpus", 0.1), scalar("mem", 32.0)]
                )]),
                0.0,
            )
            .unwrap();
        assert_eq!(code, 202, "{body}");
        let st = terminal(&mut s, task);
        assert_eq!(st["state"], "TASK_FAILED", "{st}");
        assert_eq!(st["reason"], "REASON_CONTAINER_LAUNCH_FAILED", "{st}");
        assert!(m.counters.snapshot().faults.total() > 0);
    }
}

fn oversubscribed_cluster(estimator: Arc<LoadedModule>, qos: Option<Arc<LoadedModule>>) -> Cluster {
    let mut c = Cluster::start(master_config(), &[]);
    c.add_agent_with(RES, |a| {
        a.resource_estimator = Some(estimator);
        a.oversubscribed_resources_interval = Duration::from_millis(100);
        a.qos_controller = qos;
        a.qos_correction_interval_min = Duration::from_millis(100);
    });
    c
}

fn has_revocable(offer: &Value) -> bool {
    offer["resources"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r.get("revocable").is_some())
}

#[test]
fn revocable_resources_flow_from_estimate_to_preemption() {
    let fixed = module("estimator-fixed", &[("resources", "cpus:2;mem:512")]);
    let qos = module("qos-load", &[("load_threshold_5min", "0")]);
    let c = oversubscribed_cluster(fixed, Some(qos.clone()));
    let agent_id = c.agent_id(0);

    // without REVOCABLE_RESOURCES, no revocable resources
    let mut plain = c.subscribe(json!({"name": "plain"}));
    for _ in 0..3 {
        let offers = plain.wait_offers(T).unwrap();
        assert!(offers.iter().all(|o| !has_revocable(o)), "{offers:?}");
        plain.decline(&offer_ids(&offers), 0.0).unwrap();
    }
    plain.teardown().unwrap();

    let mut s = c.subscribe(json!({"name": "best-effort",
        "capabilities": [{"type": "REVOCABLE_RESOURCES"}, {"type": "PARTITION_AWARE"}]}));
    s.set_auto_ack(true);
    let o = wait_map(&mut s, "a revocable offer", |e| {
        e["offers"]["offers"]
            .as_array()
            .and_then(|os| os.iter().find(|o| has_revocable(o)).cloned())
    });
    let rev: Vec<&Value> = o["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.get("revocable").is_some())
        .collect();
    assert_eq!(rev.len(), 2, "{o}");
    assert_eq!(rev[0]["name"], "cpus");
    assert_eq!(rev[0]["scalar"]["value"], 2.0);
    assert_eq!(rev[0]["revocable"], json!({}));
    assert_eq!(rev[1]["name"], "mem");
    assert_eq!(rev[1]["scalar"]["value"], 512.0);

    // a new estimate rescinds the outstanding revocable offer
    let offer_id = o["id"]["value"].as_str().unwrap().to_string();
    let update = json!({"agent_id": {"value": agent_id},
        "oversubscribed_resources": [revocable("cpus", 1.0), revocable("mem", 256.0)]});
    let (code, body) = meseta_tests::scheduler::post_to(
        &c.addr,
        "/internal/agent/update",
        None,
        update.to_string().as_bytes(),
    )
    .unwrap();
    assert_eq!(code, 202, "{body}");
    wait_map(&mut s, "RESCIND of the revocable offer", |e| {
        (e["type"] == "RESCIND" && e["rescind"]["offer_id"]["value"] == offer_id.as_str())
            .then_some(())
    });
    let o = wait_map(&mut s, "an offer of the new estimate", |e| {
        e["offers"]["offers"]
            .as_array()
            .and_then(|os| os.iter().find(|o| has_revocable(o)).cloned())
    });

    // revocable work runs, and the QoS controller (threshold 0) preempts it
    let (code, body) = s
        .accept(
            &[o["id"]["value"].as_str().unwrap().to_string()],
            json!([command_task(
                "best-effort",
                &agent_id,
                "while :; do :; done",
                vec![revocable("cpus", 1.0), revocable("mem", 32.0)]
            )]),
            0.0,
        )
        .unwrap();
    assert_eq!(code, 202, "{body}");
    // a partition-aware framework hears TASK_GONE (pymesos_modules.py checks TASK_LOST)
    let st = terminal(&mut s, "best-effort");
    assert_eq!(st["state"], "TASK_GONE", "{st}");
    assert_eq!(st["reason"], "REASON_CONTAINER_PREEMPTED", "{st}");
    assert!(qos.counters.snapshot().calls > 0);
}

#[test]
fn misbehaving_estimators_and_qos_controllers_are_contained() {
    let negative = meseta_tests::load(
        "test-estimator-adversary",
        &[("mode", "negative")],
        policy(FailurePolicy::Fallback),
    )
    .unwrap();
    let unknown_kill = meseta_tests::load(
        "test-qos-adversary",
        &[("mode", "unknown-kill")],
        policy(FailurePolicy::Fallback),
    )
    .unwrap();
    let c = oversubscribed_cluster(negative.clone(), Some(unknown_kill.clone()));
    let mut s = c.subscribe(json!({"name": "guaranteed",
        "capabilities": [{"type": "REVOCABLE_RESOURCES"}]}));
    s.set_auto_ack(true);
    launch(&mut s, |agent| {
        vec![command_task(
            "steady",
            agent,
            "sleep 2",
            vec![scalar("cpus", 0.1), scalar("mem", 32.0)],
        )]
    });
    s.wait_state("steady", "TASK_RUNNING", T).unwrap();
    let mut saw_offers = 0;
    let deadline = std::time::Instant::now() + Duration::from_millis(1500);
    while std::time::Instant::now() < deadline {
        if let Some(e) = s.next_event(Duration::from_millis(200))
            && let Some(os) = e["offers"]["offers"].as_array()
        {
            assert!(
                os.iter().all(|o| !has_revocable(o)),
                "a negative estimate was offered: {os:?}"
            );
            saw_offers += os.len();
            s.decline(&offer_ids(os), 0.0).unwrap();
        }
    }
    assert!(saw_offers > 0);
    assert_eq!(terminal(&mut s, "steady")["state"], "TASK_FINISHED");
    assert!(negative.counters.snapshot().faults.invalid_output > 0);
    // reported on the agent's metrics
    let (_, body) = http_get(&agent_url(&c, 0), "/metrics/snapshot").unwrap();
    let metrics: Value = serde_json::from_str(&body).unwrap();
    let faults = |m: &Arc<LoadedModule>| {
        metrics[format!("meseta/modules/{}/faults", m.spec.name)]
            .as_f64()
            .unwrap_or(0.0)
    };
    assert!(faults(&negative) > 0.0, "{metrics}");
    assert!(faults(&unknown_kill) > 0.0, "{metrics}");
    assert!(unknown_kill.counters.snapshot().faults.invalid_output > 0);

    // a looping estimator hits its deadline; the agent keeps serving
    let looping = meseta_tests::load(
        "test-estimator-adversary",
        &[("mode", "loop")],
        policy(FailurePolicy::Fallback),
    )
    .unwrap();
    let c2 = oversubscribed_cluster(looping.clone(), None);
    eventually("a deadline fault of the looping estimator", || {
        looping.counters.snapshot().faults.deadline > 0
    });
    let (code, _) = http_get(&agent_url(&c2, 0), "/slave(1)/state").unwrap();
    assert_eq!(code, 200);
}

#[test]
fn load_estimator_offers_the_slack_of_idle_work() {
    let load = module("estimator-load", &[("safety_margin", "0.1")]);
    let mut c = Cluster::start(master_config(), &[]);
    let iso = isolation(&[], |_| {});
    c.add_agent_with(RES, |a| {
        a.isolation = Some(iso);
        a.resource_estimator = Some(load);
        a.oversubscribed_resources_interval = Duration::from_millis(200);
    });
    let mut s = c.subscribe(json!({"name": "slack",
        "capabilities": [{"type": "REVOCABLE_RESOURCES"}]}));
    s.set_auto_ack(true);
    // an idle task holding 2 cpus and 512 MB
    launch(&mut s, |agent| {
        vec![command_task(
            "idle",
            agent,
            "sleep 60",
            vec![scalar("cpus", 2.0), scalar("mem", 512.0)],
        )]
    });
    s.wait_state("idle", "TASK_RUNNING", T).unwrap();
    // the first estimate counts cpus as used (no rate yet); the next one has them
    let o = wait_map(&mut s, "an offer of the idle task's slack", |e| {
        e["offers"]["offers"].as_array().and_then(|os| {
            os.iter()
                .find(|o| {
                    o["resources"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|r| r["name"] == "cpus" && r.get("revocable").is_some())
                })
                .cloned()
        })
    });
    let rev = |name: &str| -> f64 {
        o["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["name"] == name && r.get("revocable").is_some())
            .filter_map(|r| r["scalar"]["value"].as_f64())
            .sum()
    };
    // 90% of 2 idle cpus, and of 512 MB less what `sleep` keeps resident
    assert!(rev("cpus") > 1.5 && rev("cpus") <= 1.8, "{o}");
    assert!(rev("mem") > 400.0 && rev("mem") <= 460.8, "{o}");
    s.kill("idle").unwrap();
}

#[test]
fn update_changes_a_containers_limits_and_cleanup_removes_its_cgroup() {
    if !cgroups_usable("update_changes_a_containers_limits_and_cleanup_removes_its_cgroup") {
        return;
    }
    use meseta_agent::isolation::ContainerInfo;
    use meseta_types::resources::Resource;
    let iso = isolation(&[module("isolator-cgroups", &[])], |_| {});
    let sandbox = tempfile::tempdir().unwrap();
    let name = format!("update-test-{}", std::process::id());
    let info = ContainerInfo {
        framework_id: "f".into(),
        executor_id: "e".into(),
        resources: vec![Resource::scalar("cpus", 0.5), Resource::scalar("mem", 32.0)],
        user: None,
        sandbox: sandbox.path().to_path_buf(),
    };
    let prepared = iso.prepare(&name, info).unwrap();
    assert!(!prepared.cgroups.is_empty());
    assert!(prepared.cgroups.iter().all(|p| p.exists()), "{prepared:?}");
    let limit = |iso: &Isolation| iso.usage(&name).unwrap().mem_limit_bytes;
    assert_eq!(limit(&iso), Some(32 << 20));
    iso.update(
        &name,
        &[Resource::scalar("cpus", 1.0), Resource::scalar("mem", 64.0)],
    );
    assert_eq!(limit(&iso), Some(64 << 20));
    assert_eq!(iso.usage(&name).unwrap().cpus_limit, Some(1.0));
    iso.cleanup(&name);
    assert!(prepared.cgroups.iter().all(|p| !p.exists()), "{prepared:?}");
    assert!(iso.usage(&name).is_none());
}

#[test]
fn a_restarted_agent_adopts_the_cgroups_of_recovered_containers() {
    if !cgroups_usable("a_restarted_agent_adopts_the_cgroups_of_recovered_containers") {
        return;
    }
    let root = format!("meseta-test-adopt-{}", std::process::id());
    let host = CgroupHost::detect(&root).unwrap();
    let kept = host.create(1, "kept").unwrap();
    let gone = host.create(2, "gone").unwrap();
    let mut survivor = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    for p in &kept {
        std::fs::write(p, survivor.id().to_string()).unwrap();
    }
    drop(host);
    let next = CgroupHost::detect(&root).unwrap();
    assert_eq!(
        next.recover(&[(7, "kept".to_string())]),
        vec!["kept".to_string()]
    );
    assert!(
        gone.iter().all(|p| !p.parent().unwrap().exists()),
        "{gone:?}"
    );
    assert!(kept.iter().all(|p| p.exists()), "adopted: {kept:?}");
    assert!(
        survivor.try_wait().unwrap().is_none(),
        "its process runs on"
    );
    next.destroy(7);
    let _ = survivor.wait();
    assert!(
        kept.iter().all(|p| !p.parent().unwrap().exists()),
        "{kept:?}"
    );
}

#[test]
fn a_restarted_agent_destroys_orphaned_containers() {
    if !cgroups_usable("a_restarted_agent_destroys_orphaned_containers") {
        return;
    }
    use std::os::unix::process::ExitStatusExt;
    let root = format!("meseta-test-orphans-{}", std::process::id());
    let host = CgroupHost::detect(&root).unwrap();
    let procs = host.create(1, "orphan").unwrap();
    let mut child = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    for p in &procs {
        std::fs::write(p, child.id().to_string()).unwrap();
    }
    // the agent dies without cleaning up; the next one on this root recovers
    drop(host);
    let next = CgroupHost::detect(&root).unwrap();
    assert!(next.recover(&[]).is_empty(), "nothing to adopt");
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status:?}");
    assert!(
        procs.iter().all(|p| !p.parent().unwrap().exists()),
        "{procs:?}"
    );
}
