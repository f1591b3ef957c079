#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Failures and recovery on real daemons (`meseta master` and `meseta agent` as separate
//! processes, SIGKILLed as a crash would stop them): a master that restarts on the same
//! `--work_dir` recovers its registry, agents re-register under their ids, frameworks
//! re-subscribe under theirs, and reconciliation answers as Mesos' does.

use std::time::{Duration, Instant};

use meseta_tests::daemons::{Daemon, RETRY_FLAGS, free_port, http_get};
use meseta_tests::scheduler::{Scheduler, offer_ids, task};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);

/// Work dirs for a master and an agent, and the port the master keeps across its restarts.
struct Site {
    _dir: tempfile::TempDir,
    master_dir: String,
    agent_dir: String,
    port: u16,
    /// `127.0.0.1:<port>`.
    address: String,
    /// `http://127.0.0.1:<port>`.
    base: String,
}

fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let path = |sub: &str| dir.path().join(sub).to_string_lossy().into_owned();
    let (master_dir, agent_dir) = (path("master"), path("agent"));
    let port = free_port().unwrap();
    let address = format!("127.0.0.1:{port}");
    Site {
        base: format!("http://{address}"),
        _dir: dir,
        master_dir,
        agent_dir,
        port,
        address,
    }
}

fn master(port: u16, work_dir: &str, extra: &[&str]) -> Daemon {
    let port = port.to_string();
    let mut args = vec![
        "master",
        "--ip",
        "127.0.0.1",
        "--port",
        &port,
        "--work_dir",
        work_dir,
        "--allocation_interval",
        "100ms",
    ];
    args.extend_from_slice(extra);
    Daemon::spawn(&args, "Master: ").unwrap()
}

fn agent(master: &str, work_dir: &str) -> Daemon {
    Daemon::spawn(
        &[
            "agent",
            "--master",
            master,
            "--ip",
            "127.0.0.1",
            "--port",
            "0",
            "--work_dir",
            work_dir,
            "--resources",
            "cpus:2;mem:1024;disk:1024;ports:[31000-31100]",
            RETRY_FLAGS[0],
            RETRY_FLAGS[1],
        ],
        "Agent: ",
    )
    .unwrap()
}

fn get_json(base: &str, path: &str) -> Value {
    let (status, body) = http_get(base, path).unwrap();
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Polls `f` until it returns `Some`, for up to `timeout`.
fn eventually<R>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<R>) -> R {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(r) = f() {
            return r;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn agent_ids(base: &str) -> Vec<String> {
    get_json(base, "/master/slaves")["slaves"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|s| s["id"].as_str().map(str::to_string))
        .collect()
}

/// Launches `command` as task `id` on the first offer; its agent id.
fn launch(s: &mut Scheduler, id: &str, command: &str) -> String {
    let offers = s.wait_offers(T).unwrap();
    let agent_id = offers[0]["agent_id"]["value"].as_str().unwrap().to_string();
    let (code, body) = s
        .accept(
            &offer_ids(&offers[..1]),
            json!([task(id, &agent_id, command, 0.1, 32.0)]),
            0.0,
        )
        .unwrap();
    assert_eq!(code, 202, "ACCEPT: {body}");
    agent_id
}

/// Master SIGKILL and restart on the same work_dir and port: the agent keeps its id, the
/// framework its id, explicit reconciliation reports RUNNING, and a new task runs from a fresh
/// offer. The registry file is what the new master recovers from.
#[test]
fn master_sigkill_and_restart_loses_nothing() {
    let Site {
        _dir,
        master_dir,
        agent_dir,
        port,
        address,
        base,
    } = site();

    let mut m = master(port, &master_dir, &[]);
    let _a = agent(&address, &agent_dir);
    let info = json!({"name": "failover", "user": "root", "failover_timeout": 3600.0,
        "checkpoint": true});
    let mut s = Scheduler::subscribe(&address, info.clone()).unwrap();
    let framework_id = s.framework_id().to_string();
    let agent_id = launch(&mut s, "long", "sleep 60");
    s.wait_state("long", "TASK_RUNNING", T).unwrap();
    let registry = get_json(&base, "/registrar(1)/registry");
    assert!(
        registry.to_string().contains(&agent_id),
        "the admitted agent is in the registry: {registry}"
    );
    let old_master_id = get_json(&base, "/master/state")["id"].clone();

    m.kill9();
    drop(s);
    let m = master(port, &master_dir, &[]);
    assert_ne!(
        get_json(&base, "/master/state")["id"],
        old_master_id,
        "a new master process"
    );

    // The framework comes back under its id before the agent has re-registered.
    let mut info = info;
    info["id"] = json!({"value": framework_id});
    let mut s = Scheduler::subscribe(&address, info).unwrap();
    assert_eq!(s.framework_id(), framework_id);

    // The agent, pinged by the new master, re-registers under its id at once.
    eventually(T, "the agent to re-register", || {
        agent_ids(&base).contains(&agent_id).then_some(())
    });
    assert_eq!(agent_ids(&base), vec![agent_id.clone()], "{}", m.output());

    // The answer to reconciliation (the agent may resend the unacknowledged RUNNING update
    // first: it is re-registered by then).
    s.reconcile(&["long"]).unwrap();
    let event = s
        .wait_for(
            |e| {
                meseta_tests::scheduler::is_update_of(e, "long")
                    && e["update"]["status"]["reason"] == "REASON_RECONCILIATION"
            },
            T,
        )
        .unwrap();
    let status = &event["update"]["status"];
    assert_eq!(status["state"], "TASK_RUNNING", "{status}");

    // A fresh offer (the old one vanished with the old master) runs a new task.
    launch(&mut s, "after", "true");
    s.wait_state("after", "TASK_FINISHED", T).unwrap();
    s.kill("long").unwrap();
    s.wait_state("long", "TASK_KILLED", T).unwrap();
}

/// A framework with `failover_timeout` 0 (pymesos' and the example framework's default) that
/// comes back after the master restarted, but only after its agent re-registered (so the new
/// master first learnt of it from the agent's report): it is still there, under its id, with
/// its task running. A recovered framework gets at least `--agent_reregister_timeout` to
/// return, as agents do; Mesos never times such frameworks out.
#[test]
fn a_framework_with_no_failover_timeout_survives_a_master_restart() {
    let Site {
        _dir,
        master_dir,
        agent_dir,
        port,
        address,
        base,
    } = site();
    let mut m = master(port, &master_dir, &[]);
    let _a = agent(&address, &agent_dir);
    let info = json!({"name": "no-failover-timeout", "user": "root"});
    let mut s = Scheduler::subscribe(&address, info.clone()).unwrap();
    let framework_id = s.framework_id().to_string();
    let agent_id = launch(&mut s, "long", "sleep 60");
    s.wait_state("long", "TASK_RUNNING", T).unwrap();

    m.kill9();
    drop(s);
    let m = master(port, &master_dir, &[]);
    eventually(T, "the agent to re-register", || {
        agent_ids(&base).contains(&agent_id).then_some(())
    });
    // Longer than the failover timeout (0 s) and a tick of the master's timers.
    std::thread::sleep(Duration::from_secs(2));
    let frameworks = get_json(&base, "/master/frameworks");
    assert!(
        frameworks.to_string().contains(&framework_id),
        "the recovered framework is gone: {frameworks}\n{}",
        m.output()
    );

    let mut info = info;
    info["id"] = json!({"value": framework_id});
    let mut s = Scheduler::subscribe(&address, info).unwrap();
    assert_eq!(s.framework_id(), framework_id);
    s.reconcile(&["long"]).unwrap();
    let status = s.wait_update("long", T).unwrap();
    assert_eq!(status["state"], "TASK_RUNNING", "{status}");
    s.kill("long").unwrap();
    s.wait_state("long", "TASK_KILLED", T).unwrap();
}

/// Before an agent of the registry has re-registered, explicit reconciliation of a task the
/// new master does not know is not answered (Mesos: the agent may still report it); once the
/// agent is back, the task's state comes. Weights and quota survive the restart.
#[test]
fn a_restarted_master_waits_for_recovered_agents_before_answering() {
    let Site {
        _dir,
        master_dir,
        agent_dir,
        port,
        address,
        base,
    } = site();

    let mut m = master(port, &master_dir, &["--weights", "analytics=3"]);
    let mut a = agent(&address, &agent_dir);
    let quota = json!({"type": "UPDATE_QUOTA", "update_quota": {"quota_configs": [
        {"role": "analytics", "limits": {"cpus": {"value": 1.5}}}]}});
    let (code, body) =
        meseta_tests::scheduler::post_to(&address, "/api/v1", None, quota.to_string().as_bytes())
            .unwrap();
    assert_eq!(code, 200, "UPDATE_QUOTA: {body}");
    let info = json!({"name": "reconciler", "user": "root", "failover_timeout": 3600.0,
        "checkpoint": true, "capabilities": [{"type": "PARTITION_AWARE"}]});
    let mut s = Scheduler::subscribe(&address, info.clone()).unwrap();
    let framework_id = s.framework_id().to_string();
    let agent_id = launch(&mut s, "t1", "sleep 60");
    s.wait_state("t1", "TASK_RUNNING", T).unwrap();

    // Both die; only the master comes back: the agent is recovered but not re-registered.
    a.kill9();
    m.kill9();
    drop(s);
    let _m = master(port, &master_dir, &["--weights", "analytics=1"]);
    let weights = get_json(&base, "/master/weights");
    assert!(
        weights.to_string().contains("\"weight\":3"),
        "the registry's weights win over --weights: {weights}"
    );
    let quota = get_json(&base, "/master/quota");
    assert!(
        quota.to_string().contains("1.5"),
        "quota recovered: {quota}"
    );

    let mut info = info;
    info["id"] = json!({"value": framework_id});
    let mut s = Scheduler::subscribe(&address, info).unwrap();
    s.call(json!({"type": "RECONCILE", "reconcile": {"tasks": [
        {"task_id": {"value": "t1"}, "agent_id": {"value": agent_id}}]}}))
        .unwrap();
    assert!(
        s.try_wait_for(|e| e["type"] == "UPDATE", Duration::from_secs(2))
            .is_none(),
        "no answer while the task's agent may still re-register"
    );

    // The agent comes back (the task process was killed with it, so it reports what it can).
    let _a = agent(&address, &agent_dir);
    eventually(T, "an agent to register", || {
        (!agent_ids(&base).is_empty()).then_some(())
    });
}

/// A registry file that is not a registry (here: garbage, as a bad disk or a wrong copy would
/// leave) stops the master with an error naming the file and what to do; it never starts an
/// empty cluster over it.
#[test]
fn a_corrupt_registry_stops_the_master_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("registry.redb");
    let garbage: Vec<u8> = (0..64 * 1024u64)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&file, &garbage).unwrap();
    let work_dir = dir.path().to_string_lossy().into_owned();
    let err = match Daemon::spawn(
        &[
            "master",
            "--ip",
            "127.0.0.1",
            "--port",
            "0",
            "--work_dir",
            &work_dir,
        ],
        "Master: ",
    ) {
        Ok(d) => panic!(
            "the master started over a corrupt registry:\n{}",
            d.output()
        ),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains(&file.display().to_string()),
        "names the file: {err}"
    );
    assert!(err.contains("backup"), "says what to do: {err}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        garbage,
        "the file is left as it was"
    );
}

/// Acknowledged means durable: agents register in a burst, the master is SIGKILLed in the
/// middle of it, and every agent that was told "registered" is in the registry the restarted
/// master recovers.
#[test]
fn every_agent_told_registered_survives_a_crash_mid_burst() {
    use std::sync::{Arc, Mutex};
    let dir = tempfile::tempdir().unwrap();
    let master_dir = dir.path().to_string_lossy().into_owned();
    let port = free_port().unwrap();
    let address = format!("127.0.0.1:{port}");
    let mut m = master(port, &master_dir, &[]);
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut threads = Vec::new();
    for t in 0..16 {
        let (address, acknowledged) = (address.clone(), acknowledged.clone());
        threads.push(std::thread::spawn(move || {
            for i in 0..1_000 / 16 + 1 {
                let body = json!({
                    "agent_info": {"hostname": format!("burst-{t}-{i}"), "port": 1,
                        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.0}}]},
                    "endpoint": "127.0.0.1:1",
                });
                match meseta_tests::scheduler::post_to(
                    &address,
                    "/internal/agent/register",
                    None,
                    body.to_string().as_bytes(),
                ) {
                    Ok((200, answer)) => {
                        let v: Value = serde_json::from_str(&answer).unwrap();
                        let id = v["agent_id"]["value"].as_str().unwrap().to_string();
                        acknowledged.lock().unwrap().push(id);
                    }
                    _ => return, // the master is gone
                }
            }
        }));
    }
    eventually(T, "a few hundred admissions", || {
        (acknowledged.lock().unwrap().len() >= 300).then_some(())
    });
    m.kill9();
    for t in threads {
        t.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() < 1_000, "the crash came mid-burst");

    let _m = master(port, &master_dir, &[]);
    let registry = get_json(&format!("http://{address}"), "/registrar(1)/registry");
    let admitted: std::collections::BTreeSet<String> = registry["slaves"]["slaves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["info"]["id"]["value"].as_str().unwrap().to_string())
        .collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !admitted.contains(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged agents missing from the registry: {lost:?}",
        lost.len(),
        acknowledged.len()
    );
}

/// Agents of the registry that do not come back: beyond `--recovery_agent_removal_limit` the
/// restarted master exits, saying why; within it they are marked unreachable in the registry
/// after `--agent_reregister_timeout`, and the registry's GC drops them past
/// `--registry_max_agent_count`.
#[test]
fn agents_that_never_come_back_are_marked_unreachable_then_pruned() {
    let Site {
        _dir,
        master_dir,
        agent_dir,
        port,
        address,
        base,
    } = site();
    let mut m = master(port, &master_dir, &[]);
    let mut a = agent(&address, &agent_dir);
    let agent_id = eventually(T, "the agent", || agent_ids(&base).first().cloned());
    a.kill9();
    m.kill9();

    let mut m = master(
        port,
        &master_dir,
        &[
            "--agent_reregister_timeout",
            "500ms",
            "--recovery_agent_removal_limit",
            "50%",
        ],
    );
    let status = m.wait_exit(T).expect("the master exits");
    assert!(!status.success(), "{status}");
    assert!(
        m.output()
            .contains("1 of the 1 agents in the registry did not re-register"),
        "{}",
        m.output()
    );

    let _m = master(
        port,
        &master_dir,
        &[
            "--agent_reregister_timeout",
            "500ms",
            // Long enough after the 500 ms re-registration timeout that the agent is seen
            // unreachable before the GC prunes it (a 300 ms interval left a window a loaded
            // machine's polls could miss).
            "--registry_gc_interval",
            "2secs",
            "--registry_max_agent_count",
            "0",
        ],
    );
    let registry = eventually(T, "the agent marked unreachable", || {
        let r = get_json(&base, "/registrar(1)/registry");
        r["unreachable"]["slaves"]
            .to_string()
            .contains(&agent_id)
            .then_some(r)
    });
    assert_eq!(registry["slaves"]["slaves"], json!([]), "{registry}");
    eventually(T, "the GC to prune it", || {
        let r = get_json(&base, "/registrar(1)/registry");
        (!r.to_string().contains(&agent_id)).then_some(())
    });
}

/// `meseta local` on a work dir an earlier run left, with other `--resources`: the agent starts
/// as a new agent (and says so) instead of refusing, as `meseta agent` does; the master,
/// which recovered the earlier agent from its registry, gets the new one.
#[test]
fn meseta_local_with_new_resources_starts_a_new_agent() {
    let dir = tempfile::tempdir().unwrap();
    let work_dir = dir.path().to_string_lossy().into_owned();
    let local = |cpus: &str| {
        let resources = format!("cpus:{cpus};mem:512;disk:512;ports:[31000-31010]");
        Daemon::spawn(
            &[
                "local",
                "--ip",
                "127.0.0.1",
                "--port",
                "0",
                "--work_dir",
                &work_dir,
                "--resources",
                &resources,
                RETRY_FLAGS[0],
                RETRY_FLAGS[1],
            ],
            "Master: ",
        )
        .unwrap()
    };
    let first = local("2");
    let first_ids = agent_ids(&first.url);
    assert_eq!(first_ids.len(), 1);
    drop(first);
    let second = local("3");
    let ids = eventually(T, "the new agent", || {
        let ids = agent_ids(&second.url);
        (!ids.is_empty()).then_some(ids)
    });
    assert_ne!(ids, first_ids, "a new agent id");
    let slaves = get_json(&second.url, "/master/slaves");
    assert!(slaves.to_string().contains("\"cpus\":3"), "{slaves}");
    assert!(
        second.output().contains("starting as a new agent"),
        "{}",
        second.output()
    );
}

/// An agent that was marked unreachable comes back with its task still running: the task is
/// adopted again, even though a framework that is not partition-aware was told TASK_LOST, and
/// the framework hears its current state (Mesos 1.5+, REASON_AGENT_REREGISTERED); the registry
/// has the agent admitted again.
#[test]
fn an_unreachable_agent_that_comes_back_keeps_its_tasks() {
    let Site {
        _dir,
        master_dir,
        agent_dir,
        port,
        address,
        base,
    } = site();
    let _m = master(
        port,
        &master_dir,
        &[
            "--agent_ping_timeout",
            "200ms",
            "--max_agent_ping_timeouts",
            "2",
        ],
    );
    let a = agent(&address, &agent_dir);
    let info = json!({"name": "partitioned", "user": "root", "failover_timeout": 3600.0,
        "checkpoint": true});
    let mut s = Scheduler::subscribe(&address, info).unwrap();
    let agent_id = launch(&mut s, "p1", "sleep 60");
    s.wait_state("p1", "TASK_RUNNING", T).unwrap();

    // The agent stops answering (SIGSTOP): missed pings make it unreachable, its task lost.
    let pid = a.pid().to_string();
    std::process::Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap();
    let lost = s.wait_state("p1", "TASK_LOST", T).unwrap();
    assert_eq!(lost["reason"], "REASON_AGENT_REMOVED", "{lost}");
    eventually(T, "the agent marked unreachable in the registry", || {
        get_json(&base, "/registrar(1)/registry")["unreachable"]["slaves"]
            .to_string()
            .contains(&agent_id)
            .then_some(())
    });

    // It comes back: same id, the task adopted and reported RUNNING again.
    std::process::Command::new("kill")
        .args(["-CONT", &pid])
        .status()
        .unwrap();
    let back = s.wait_state("p1", "TASK_RUNNING", T).unwrap();
    assert_eq!(back["reason"], "REASON_AGENT_REREGISTERED", "{back}");
    assert_eq!(agent_ids(&base), vec![agent_id.clone()]);
    let registry = get_json(&base, "/registrar(1)/registry");
    assert!(
        registry["slaves"]["slaves"].to_string().contains(&agent_id),
        "admitted again: {registry}"
    );
    s.kill("p1").unwrap();
    s.wait_state("p1", "TASK_KILLED", T).unwrap();
}
