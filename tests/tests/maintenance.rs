#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Maintenance and draining on real processes: a `meseta master`, a `meseta agent` and a pymesos
//! framework (`tests/compat/pymesos_maintenance.py`): a schedule gives inverse offers and
//! offers with their unavailability, `/machine/down` kills the agent's task and shuts it down,
//! an agent on a DOWN machine is refused until `/machine/up`; then DRAIN_AGENT of an agent
//! whose task ignores SIGTERM, REACTIVATE_AGENT and their errors through the v1 operator API.

use std::time::Duration;

use meseta_tests::cluster::eventually;
use meseta_tests::daemons::{
    AgentProcess, LOCAL_RESOURCES, free_port, http_get, http_request, in_memory_master,
};
use meseta_tests::prereqs::run_pymesos_check;
use meseta_tests::scheduler::{Scheduler, offer_ids, task};
use serde_json::{Value, json};

fn get_json(base: &str, path: &str) -> Value {
    let (code, body) = http_get(base, path).unwrap();
    assert_eq!(code, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn operator(base: &str, call: Value) -> (u16, String) {
    let (code, _, body) = http_request(base, "POST", "/api/v1", &[], &call.to_string()).unwrap();
    (code, body)
}

fn agents(base: &str) -> Vec<Value> {
    let body = get_json(base, "/master/slaves");
    body["slaves"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_maintenance_window_from_schedule_to_down_and_up_then_a_drain() {
    let dir = tempfile::tempdir().unwrap();
    let master = in_memory_master(&dir.path().join("master")).unwrap();
    let port = free_port().unwrap();
    let agent_dir = dir.path().join("agent");
    let mut agent =
        AgentProcess::start(&master.url, port, &agent_dir, LOCAL_RESOURCES, &[]).unwrap();
    eventually("the agent to register", || agents(&master.url).len() == 1);

    let stdout = run_pymesos_check("pymesos_maintenance.py", &master.url, &[], 90, &|| {
        format!(
            "--- master ---\n{}\n--- agent ---\n{}",
            master.output(),
            agent.output()
        )
    })
    .unwrap();
    println!("{stdout}");

    // The master told the agent to shut down; it exits.
    let exit = agent.wait_exit(Duration::from_secs(30));
    assert!(
        exit.is_some(),
        "the agent kept running after machine/down:\n{}",
        agent.output()
    );

    // An agent on the DOWN machine is refused, with the reason, until the machine is up.
    let agent = AgentProcess::start(&master.url, port, &agent_dir, LOCAL_RESOURCES, &[]).unwrap();
    eventually("the master to refuse the agent on the DOWN machine", || {
        agent.output().contains("DOWN for maintenance")
    });
    assert!(agents(&master.url).is_empty());
    let machine = json!([{"hostname": "127.0.0.1", "ip": "127.0.0.1"}]).to_string();
    let (code, _, body) =
        http_request(&master.url, "POST", "/master/machine/up", &[], &machine).unwrap();
    assert_eq!(code, 200, "machine/up: {body}");
    let (code, _, body) =
        http_request(&master.url, "POST", "/master/machine/up", &[], &machine).unwrap();
    assert_eq!(code, 400, "machine/up of a machine that is UP: {body}");
    assert!(body.contains("not in DOWN mode"), "{body}");
    eventually("the agent to register once its machine is up", || {
        agents(&master.url).len() == 1
    });
    let status = get_json(&master.url, "/master/maintenance/status");
    assert_eq!(
        status,
        json!({"draining_machines": [], "down_machines": []})
    );
    let schedule = get_json(&master.url, "/master/maintenance/schedule");
    assert_eq!(schedule, json!({"windows": []}));

    // DRAIN_AGENT: the agent's task, which ignores SIGTERM and asks for 600 s of grace, is
    // killed within the drain's 1 s; then the agent is DRAINED and shows so in GET_AGENTS.
    let agent_id = agents(&master.url)[0]["id"].as_str().unwrap().to_string();
    let mut framework = Scheduler::subscribe(
        master.url.trim_start_matches("http://"),
        json!({"name": "drained", "user": "root", "roles": ["*"],
               "capabilities": [{"type": "MULTI_ROLE"}]}),
    )
    .unwrap();
    let offers = framework.wait_offers(Duration::from_secs(30)).unwrap();
    let mut stubborn = task(
        "stubborn",
        &agent_id,
        "trap '' TERM; while true; do sleep 1; done",
        0.1,
        32.0,
    );
    stubborn["kill_policy"] = json!({"grace_period": {"nanoseconds": 600_000_000_000i64}});
    let (code, body) = framework
        .accept(&offer_ids(&offers), json!([stubborn]), 3600.0)
        .unwrap();
    assert_eq!(code, 202, "{body}");
    framework
        .wait_state("stubborn", "TASK_RUNNING", Duration::from_secs(30))
        .unwrap();
    let (code, body) = operator(
        &master.url,
        json!({"type": "DRAIN_AGENT", "drain_agent": {
            "agent_id": {"value": agent_id}, "max_grace_period": {"seconds": 1}}}),
    );
    assert_eq!(code, 200, "DRAIN_AGENT: {body}");
    let killed = framework
        .wait_state("stubborn", "TASK_KILLED", Duration::from_secs(30))
        .unwrap();
    assert_eq!(killed["state"], "TASK_KILLED", "{killed}");
    let drained = || {
        let (_, body) = operator(&master.url, json!({"type": "GET_AGENTS"}));
        let listed: Value = serde_json::from_str(&body).unwrap();
        listed["get_agents"]["agents"][0].clone()
    };
    eventually("the agent to be DRAINED", || {
        drained()["drain_info"]["state"] == "DRAINED"
    });
    let a = drained();
    assert_eq!(a["deactivated"], true, "{a}");
    assert_eq!(
        a["drain_info"]["config"]["max_grace_period"]["nanoseconds"],
        1_000_000_000i64
    );
    let (code, body) = operator(
        &master.url,
        json!({"type": "DRAIN_AGENT", "drain_agent": {"agent_id": {"value": "nope"}}}),
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("Unknown agent 'nope'"), "{body}");
    let reactivate = json!({"type": "REACTIVATE_AGENT",
        "reactivate_agent": {"agent_id": {"value": agent_id}}});
    let (code, body) = operator(&master.url, reactivate.clone());
    assert_eq!(code, 200, "REACTIVATE_AGENT: {body}");
    let (code, body) = operator(&master.url, reactivate);
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("is not deactivated"), "{body}");
    let (_, body) = operator(&master.url, json!({"type": "GET_AGENTS"}));
    let listed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(listed["get_agents"]["agents"][0]["deactivated"], false);
    let (code, body) = operator(&master.url, json!({"type": "GET_MAINTENANCE_SCHEDULE"}));
    assert_eq!(code, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"type": "GET_MAINTENANCE_SCHEDULE", "get_maintenance_schedule": {"schedule": {"windows": []}}})
    );
}
