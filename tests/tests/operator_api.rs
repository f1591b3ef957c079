#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The v1 operator API (`POST /api/v1`) on a running `meseta local`: each call answers in
//! Mesos' shape (`{"type": CALL, "<call>": {...}}`), changes go through the same validation
//! and registry as the endpoints, and an unknown call is refused naming what is supported.

use std::time::Duration;

use meseta_tests::daemons::Local;
use meseta_tests::scheduler::{Scheduler, post_to};
use serde_json::{Value, json};

fn call(local: &Local, body: Value) -> (u16, Value) {
    let address = local.url.trim_start_matches("http://");
    let (status, text) = post_to(address, "/api/v1", None, body.to_string().as_bytes()).unwrap();
    let value = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, value)
}

#[test]
fn operator_calls_answer_in_mesos_shapes() {
    let local = Local::start_with(&["--weights", "web=2"]).unwrap();

    let (status, v) = call(&local, json!({"type": "GET_HEALTH"}));
    assert_eq!(
        (status, &v["get_health"]["healthy"]),
        (200, &json!(true)),
        "{v}"
    );
    assert_eq!(v["type"], "GET_HEALTH");

    let (_, v) = call(&local, json!({"type": "GET_VERSION"}));
    assert!(
        v["get_version"]["version_info"]["version"].is_string(),
        "{v}"
    );

    let (_, v) = call(&local, json!({"type": "GET_FLAGS"}));
    let flags = v["get_flags"]["flags"].as_array().unwrap();
    assert!(
        flags
            .iter()
            .any(|f| f["name"] == "weights" && f["value"] == "web=2"),
        "{v}"
    );

    let (_, v) = call(&local, json!({"type": "GET_METRICS"}));
    let metrics = v["get_metrics"]["metrics"].as_array().unwrap();
    assert!(
        metrics
            .iter()
            .any(|m| m["name"] == "master/elected" && m["value"] == 1.0),
        "{v}"
    );

    let (_, v) = call(&local, json!({"type": "GET_MASTER"}));
    let info = &v["get_master"]["master_info"];
    assert!(info["id"].is_string() && info["port"].is_number(), "{v}");
    assert!(v["get_master"]["start_time"].as_f64().unwrap() > 0.0, "{v}");

    let (_, v) = call(&local, json!({"type": "GET_LOGGING_LEVEL"}));
    assert_eq!(v["get_logging_level"]["level"], 0, "{v}");

    // Weights: set through the API, read back there and at /master/weights.
    let (status, v) = call(
        &local,
        json!({"type": "UPDATE_WEIGHTS",
               "update_weights": {"weight_infos": [{"role": "batch", "weight": 0.5}]}}),
    );
    assert_eq!(status, 200, "{v}");
    let (_, v) = call(&local, json!({"type": "GET_WEIGHTS"}));
    let weights = v["get_weights"]["weight_infos"].as_array().unwrap();
    assert!(
        weights
            .iter()
            .any(|w| w["role"] == "batch" && w["weight"] == 0.5),
        "{v}"
    );
    assert!(
        weights
            .iter()
            .any(|w| w["role"] == "web" && w["weight"] == 2.0),
        "{v}"
    );
    let (status, v) = call(
        &local,
        json!({"type": "UPDATE_WEIGHTS",
               "update_weights": {"weight_infos": [{"role": "batch", "weight": -1}]}}),
    );
    assert_eq!(status, 400, "{v}");
    assert!(
        v.as_str().unwrap().contains("weights must be positive"),
        "{v}"
    );

    // A framework shows in GET_ROLES and TEARDOWN removes it.
    let address = local.url.trim_start_matches("http://").to_string();
    let mut s = Scheduler::subscribe(
        &address,
        json!({"name": "torn", "user": "root", "roles": ["web"],
               "capabilities": [{"type": "MULTI_ROLE"}]}),
    )
    .unwrap();
    let (_, v) = call(&local, json!({"type": "GET_ROLES"}));
    let web = v["get_roles"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "web")
        .cloned()
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(web["weight"], 2.0, "{web}");
    assert_eq!(web["frameworks"][0], s.framework_id(), "{web}");
    let (status, v) = call(
        &local,
        json!({"type": "TEARDOWN", "teardown": {"framework_id": {"value": s.framework_id()}}}),
    );
    assert_eq!(status, 200, "{v}");
    assert!(s.wait_closed(Duration::from_secs(10)), "the stream ends");
    let (status, v) = call(&local, json!({"type": "TEARDOWN", "teardown": {}}));
    assert_eq!(status, 400, "{v}");

    let (status, v) = call(&local, json!({"type": "GET_NOTHING"}));
    assert_eq!(status, 400, "{v}");
    assert!(v.as_str().unwrap().contains("'GET_NOTHING'"), "{v}");
    assert!(v.as_str().unwrap().contains("GET_HEALTH"), "{v}");
}

#[test]
fn the_state_calls_show_agents_frameworks_and_tasks() {
    let local = Local::start_with(&[]).unwrap();
    let address = local.url.trim_start_matches("http://").to_string();
    let mut s = Scheduler::subscribe(
        &address,
        json!({"name": "seen", "user": "root", "roles": ["*"]}),
    )
    .unwrap();
    s.set_auto_ack(true);
    let offers = s.wait_offers(Duration::from_secs(30)).unwrap();
    let agent = offers[0]["agent_id"]["value"].as_str().unwrap().to_string();
    let (status, body) = s
        .accept(
            &meseta_tests::scheduler::offer_ids(&offers[..1]),
            json!([meseta_tests::scheduler::task(
                "seen-1", &agent, "sleep 30", 0.5, 32.0
            )]),
            0.0,
        )
        .unwrap();
    assert_eq!(status, 202, "{body}");
    s.wait_state("seen-1", "TASK_RUNNING", Duration::from_secs(30))
        .unwrap();

    let (status, v) = call(&local, json!({"type": "GET_TASKS"}));
    assert_eq!(status, 200, "{v}");
    let task = &v["get_tasks"]["tasks"][0];
    assert_eq!(task["task_id"]["value"], "seen-1", "{v}");
    assert_eq!(task["state"], "TASK_RUNNING", "{v}");
    assert_eq!(task["agent_id"]["value"], agent.as_str(), "{v}");
    assert_eq!(task["framework_id"]["value"], s.framework_id(), "{v}");
    assert!(
        task["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "cpus" && r["scalar"]["value"] == 0.5),
        "{v}"
    );
    assert_eq!(task["statuses"][0]["state"], "TASK_RUNNING", "{v}");

    let (_, v) = call(&local, json!({"type": "GET_FRAMEWORKS"}));
    let f = &v["get_frameworks"]["frameworks"][0];
    assert_eq!(f["framework_info"]["id"]["value"], s.framework_id(), "{v}");
    assert_eq!(f["framework_info"]["name"], "seen", "{v}");
    assert_eq!(
        (&f["active"], &f["connected"]),
        (&json!(true), &json!(true)),
        "{v}"
    );
    assert!(
        f["registered_time"]["nanoseconds"].as_i64().unwrap() > 0,
        "{v}"
    );

    let (_, v) = call(&local, json!({"type": "GET_AGENTS"}));
    let a = &v["get_agents"]["agents"][0];
    assert_eq!(a["agent_info"]["id"]["value"], agent.as_str(), "{v}");
    assert!(
        a["allocated_resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "cpus"),
        "{v}"
    );

    // The agent's own operator API: its flags and the task's sandbox.
    let (_, slaves) = local.get("/master/slaves").unwrap();
    let slaves: Value = serde_json::from_str(&slaves).unwrap();
    let agent_address = format!(
        "127.0.0.1:{}",
        slaves["slaves"][0]["port"].as_u64().unwrap()
    );
    let agent_call = |body: Value| {
        let (status, text) =
            post_to(&agent_address, "/api/v1", None, body.to_string().as_bytes()).unwrap();
        (
            status,
            serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text)),
        )
    };
    let (status, v) = agent_call(json!({"type": "GET_AGENT"}));
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["get_agent"]["agent_info"]["id"]["value"],
        agent.as_str(),
        "{v}"
    );
    let (_, v) = agent_call(json!({"type": "GET_FLAGS"}));
    assert!(
        v["get_flags"]["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == "port"),
        "{v}"
    );
    let (_, _, agent_state) = meseta_tests::daemons::http_request(
        &format!("http://{agent_address}"),
        "GET",
        "/slave(1)/state",
        &[],
        "",
    )
    .unwrap();
    let agent_state: Value = serde_json::from_str(&agent_state).unwrap();
    let sandbox = agent_state["frameworks"][0]["executors"][0]["directory"]
        .as_str()
        .unwrap_or_else(|| panic!("{agent_state}"))
        .to_string();
    let (status, v) = agent_call(json!({"type": "LIST_FILES", "list_files": {"path": sandbox}}));
    assert_eq!(status, 200, "{v}");
    let stdout = v["list_files"]["file_infos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with("/stdout"))
        .cloned()
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(
        stdout["mode"].as_u64().unwrap() & 0o170000,
        0o100000,
        "{stdout}"
    );
    let (status, v) = agent_call(json!({"type": "READ_FILE",
        "read_file": {"path": format!("{sandbox}/stdout"), "offset": 0}}));
    assert_eq!(status, 200, "{v}");
    assert!(v["read_file"]["size"].is_u64(), "{v}");
    assert!(v["read_file"]["data"].is_string(), "{v}");
    let (status, v) = agent_call(json!({"type": "LIST_FILES", "list_files": {"path": "/etc"}}));
    assert!(status >= 400, "outside the sandboxes: {status} {v}");

    // The agent's state and containers, in the v1 shapes.
    let (status, v) = agent_call(json!({"type": "GET_STATE"}));
    assert_eq!(status, 200, "{v}");
    let state = &v["get_state"];
    let launched = &state["get_tasks"]["launched_tasks"][0];
    assert_eq!(launched["task_id"]["value"], "seen-1", "{v}");
    assert_eq!(launched["state"], "TASK_RUNNING", "{v}");
    assert_eq!(launched["agent_id"]["value"], agent.as_str(), "{v}");
    assert_eq!(
        state["get_frameworks"]["frameworks"][0]["framework_info"]["id"]["value"],
        s.framework_id(),
        "{v}"
    );
    assert!(
        state["get_executors"]["executors"][0]["executor_info"]["executor_id"]["value"].is_string(),
        "{v}"
    );
    let (status, v) = agent_call(json!({"type": "GET_TASKS"}));
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["get_tasks"]["launched_tasks"][0]["task_id"]["value"],
        "seen-1"
    );
    let (status, v) = agent_call(json!({"type": "GET_CONTAINERS"}));
    assert_eq!(status, 200, "{v}");
    let container = &v["get_containers"]["containers"][0];
    assert_eq!(container["framework_id"]["value"], s.framework_id(), "{v}");
    assert!(
        container["container_id"]["value"]
            .as_str()
            .is_some_and(|c| !c.is_empty()),
        "{v}"
    );

    let (_, v) = call(&local, json!({"type": "GET_STATE"}));
    let state = &v["get_state"];
    assert_eq!(state["get_tasks"]["tasks"][0]["task_id"]["value"], "seen-1");
    assert_eq!(
        state["get_agents"]["agents"][0]["agent_info"]["id"]["value"],
        agent.as_str()
    );
    assert!(state["get_executors"]["executors"].is_array(), "{v}");
    assert_eq!(
        state["get_frameworks"]["frameworks"][0]["framework_info"]["id"]["value"],
        s.framework_id()
    );
}

/// `SUBSCRIBE` on the operator API: twenty operators follow one framework's life in the same
/// order (SUBSCRIBED with the state, FRAMEWORK_ADDED, TASK_ADDED, TASK_UPDATED to RUNNING and
/// FINISHED, FRAMEWORK_REMOVED), and a HEARTBEAT comes when nothing happens; a subscriber that
/// leaves does not disturb the others.
#[test]
fn the_event_stream_tells_every_subscriber_everything_in_order() {
    use meseta_tests::scheduler::{OperatorStream, offer_ids, task};
    let local = Local::start_with(&["--heartbeat_interval", "1secs"]).unwrap();
    let address = local.url.trim_start_matches("http://").to_string();
    let t = Duration::from_secs(30);
    let streams: Vec<OperatorStream> = (0..20)
        .map(|_| OperatorStream::open(&address, None).unwrap())
        .collect();
    for stream in &streams {
        let first = stream.next(t).unwrap();
        assert_eq!(first["type"], "SUBSCRIBED", "{first}");
        let agents = &first["subscribed"]["get_state"]["get_agents"]["agents"];
        assert_eq!(agents.as_array().unwrap().len(), 1, "{first}");
    }
    // One leaves at once; the rest keep going.
    let mut streams = streams;
    drop(streams.pop());

    let mut s = Scheduler::subscribe(&address, json!({"user": "root", "name": "watched"})).unwrap();
    s.set_auto_ack(true);
    let offers = s.wait_offers(t).unwrap();
    let agent = offers[0]["agent_id"]["value"].as_str().unwrap();
    s.accept(
        &offer_ids(&offers[..1]),
        json!([task("watched-task", agent, "sleep 0.2", 0.1, 32.0)]),
        0.0,
    )
    .unwrap();
    s.wait_state("watched-task", "TASK_FINISHED", t).unwrap();
    s.teardown().unwrap();

    let expected = [
        "FRAMEWORK_ADDED",
        "TASK_ADDED",
        "TASK_UPDATED:TASK_STARTING",
        "TASK_UPDATED:TASK_RUNNING",
        "TASK_UPDATED:TASK_FINISHED",
        "FRAMEWORK_REMOVED",
    ];
    for stream in &streams {
        let mut seen = Vec::new();
        while seen.len() < expected.len() {
            let Some(event) = stream.next_change(t) else {
                panic!(
                    "the stream ended or stalled after {seen:?}\n{}",
                    local.output()
                );
            };
            let kind = event["type"].as_str().unwrap().to_string();
            let label = match kind.as_str() {
                "TASK_UPDATED" => {
                    assert_eq!(
                        event["task_updated"]["framework_id"]["value"],
                        s.framework_id()
                    );
                    format!(
                        "{kind}:{}",
                        event["task_updated"]["state"].as_str().unwrap()
                    )
                }
                "TASK_ADDED" => {
                    assert_eq!(
                        event["task_added"]["task"]["task_id"]["value"],
                        "watched-task"
                    );
                    kind
                }
                "FRAMEWORK_ADDED" => {
                    assert_eq!(
                        event["framework_added"]["framework"]["framework_info"]["name"],
                        "watched"
                    );
                    kind
                }
                _ => kind,
            };
            seen.push(label);
        }
        assert_eq!(seen, expected);
    }
    // Nothing happens now: a HEARTBEAT within the interval (and a little).
    let beat = streams[0].next(Duration::from_secs(5)).unwrap();
    assert_eq!(beat["type"], "HEARTBEAT", "{beat}");
}

/// `MARK_AGENT_GONE`: the agent's tasks end TASK_GONE_BY_OPERATOR, the agent is told to shut
/// down (it kills its tasks and exits), operators see AGENT_REMOVED, and the agent, started
/// again on its work dir, comes back as a new agent; an unknown id is 404.
#[test]
fn mark_agent_gone_ends_its_tasks_and_shuts_the_agent_down() {
    use meseta_tests::daemons::{AgentProcess, in_memory_master};
    use meseta_tests::scheduler::{OperatorStream, offer_ids, task};
    let t = Duration::from_secs(30);
    let dir = tempfile::tempdir().unwrap();
    let master_dir = dir.path().join("master");
    let master = in_memory_master(&master_dir).unwrap();
    let address = master.url.trim_start_matches("http://").to_string();
    let work = dir.path().join("agent");
    let mut agent = AgentProcess::start(&address, 0, &work, "cpus:2;mem:512", &[]).unwrap();
    let stream = OperatorStream::open(&address, None).unwrap();
    let mut s = Scheduler::subscribe(&address, json!({"user": "root", "name": "gone"})).unwrap();
    s.set_auto_ack(true);
    let offers = s.wait_offers(t).unwrap();
    let agent_id = offers[0]["agent_id"]["value"].as_str().unwrap().to_string();
    s.accept(
        &offer_ids(&offers[..1]),
        json!([task("doomed", &agent_id, "sleep 600", 0.1, 32.0)]),
        0.0,
    )
    .unwrap();
    s.wait_state("doomed", "TASK_RUNNING", t).unwrap();

    let call = |body: Value| {
        let (status, text) =
            post_to(&address, "/api/v1", None, body.to_string().as_bytes()).unwrap();
        (status, text)
    };
    let (status, text) = call(json!({"type": "MARK_AGENT_GONE",
        "mark_agent_gone": {"agent_id": {"value": "no-such-agent"}}}));
    assert_eq!(status, 404, "{text}");
    let (status, text) = call(json!({"type": "MARK_AGENT_GONE",
        "mark_agent_gone": {"agent_id": {"value": agent_id}}}));
    assert_eq!(status, 200, "{text}");

    let update = s.wait_state("doomed", "TASK_GONE_BY_OPERATOR", t).unwrap();
    assert_eq!(
        update["reason"], "REASON_AGENT_REMOVED_BY_OPERATOR",
        "{update}"
    );
    assert!(
        agent.wait_exit(t).is_some(),
        "the agent did not exit\n{}",
        agent.output()
    );
    let removed = loop {
        let event = stream.next_change(t).expect("AGENT_REMOVED");
        if event["type"] == "AGENT_REMOVED" {
            break event;
        }
    };
    assert_eq!(
        removed["agent_removed"]["agent_id"]["value"],
        agent_id.as_str()
    );

    // Started again on its work dir, it is a new agent: offers come from it under a new id.
    let again = AgentProcess::start(&address, 0, &work, "cpus:2;mem:512", &[]).unwrap();
    let fresh = |e: &Value| {
        e["type"] == "OFFERS"
            && e["offers"]["offers"].as_array().is_some_and(|o| {
                o.iter()
                    .any(|o| o["agent_id"]["value"] != agent_id.as_str())
            })
    };
    s.wait_for(fresh, t)
        .unwrap_or_else(|e| panic!("{e:?}\n{}", again.output()));
}
