#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Reservations and persistent volumes on real processes: a `meseta master`, a `meseta agent`
//! with a static reservation, and two pymesos frameworks (`tests/compat/pymesos_reservations.py`:
//! the stateful framework of role `eng` reserves, creates a volume, writes to it, reads it back
//! from a second task, then destroys and unreserves; a framework of role `ops` never sees a
//! reserved resource). Then an operator does the same through `/master/reserve`,
//! `/master/create-volumes`, `/master/destroy-volumes` and `/master/unreserve` with Mesos' HTTP
//! codes, and the reservation and the volume with its data survive an agent restart.

use std::path::Path;

use meseta_tests::cluster::eventually;
use meseta_tests::daemons::{AgentProcess, free_port, http_get, http_request, in_memory_master};
use meseta_tests::prereqs::run_pymesos_check;
use serde_json::{Value, json};

const RESOURCES: &str = "cpus:2;mem:1024;disk:1024;ports:[31000-31100];cpus(eng):1;mem(eng):256";

fn get_json(base: &str, path: &str) -> Value {
    let (code, body) = http_get(base, path).unwrap();
    assert_eq!(code, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn slave(base: &str) -> Value {
    let slaves = get_json(base, "/master/slaves");
    slaves["slaves"][0].clone()
}

/// `POST path` with the form `slaveId=<agent>&<field>=<json>`, the JSON written raw as
/// `curl -d` sends it: the status code and body.
fn form(base: &str, path: &str, agent: &str, field: &str, value: &Value) -> (u16, String) {
    let body = format!("slaveId={agent}&{field}={value}");
    let headers = [("Content-Type", "application/x-www-form-urlencoded")];
    let (code, _, answer) = http_request(base, "POST", path, &headers, &body).unwrap();
    (code, answer)
}

fn reserved(name: &str, value: f64) -> Value {
    json!({"name": name, "type": "SCALAR", "scalar": {"value": value},
           "reservations": [{"type": "DYNAMIC", "role": "eng", "principal": "ops"}]})
}

fn volume(id: &str, size: f64) -> Value {
    let mut v = reserved("disk", size);
    v["disk"] = json!({"persistence": {"id": id, "principal": "ops"},
                       "volume": {"container_path": "state", "mode": "RW"}});
    v
}

/// The ids of the volumes `/master/slaves` lists for role `eng`.
fn volume_ids(agent: &Value) -> Vec<String> {
    agent["reserved_resources_full"]["eng"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|r| {
            r.pointer("/disk/persistence/id")?
                .as_str()
                .map(String::from)
        })
        .collect()
}

fn reserved_cpus(agent: &Value) -> f64 {
    agent["reserved_resources"]["eng"]["cpus"]
        .as_f64()
        .unwrap_or(0.0)
}

fn volume_dir(work_dir: &Path, id: &str) -> std::path::PathBuf {
    work_dir.join("volumes").join("roles").join("eng").join(id)
}

#[test]
fn a_stateful_framework_and_an_operator_reserve_create_and_get_their_data_back() {
    let dir = tempfile::tempdir().unwrap();
    let master = in_memory_master(&dir.path().join("master")).unwrap();
    let port = free_port().unwrap();
    let agent_dir = dir.path().join("agent");
    let mut agent = AgentProcess::start(&master.url, port, &agent_dir, RESOURCES, &[]).unwrap();
    eventually("the agent to register", || {
        get_json(&master.url, "/master/slaves")["slaves"]
            .as_array()
            .is_some_and(|s| s.len() == 1)
    });
    assert_eq!(
        reserved_cpus(&slave(&master.url)),
        1.0,
        "the static reservation"
    );

    let stdout = run_pymesos_check("pymesos_reservations.py", &master.url, &[], 120, &|| {
        format!(
            "--- master ---\n{}\n--- agent ---\n{}",
            master.output(),
            agent.output()
        )
    })
    .unwrap();
    println!("{stdout}");
    assert!(
        !volume_dir(&agent_dir, "data-1").exists(),
        "DESTROY deletes the volume's data"
    );

    // The operator's endpoints, with Mesos' codes.
    let id = slave(&master.url)["id"].as_str().unwrap().to_string();
    let url = &master.url;
    let cases: [(&str, &str, &str, Value, u16, &str); 5] = [
        (
            "/master/reserve",
            &id,
            "resources",
            json!([reserved("cpus", 100.0)]),
            409,
            "free",
        ),
        (
            "/master/reserve",
            "no-such-agent",
            "resources",
            json!([reserved("cpus", 1.0)]),
            400,
            "No agent",
        ),
        (
            "/master/reserve",
            &id,
            "resources",
            json!({"not": "a list"}),
            400,
            "resources",
        ),
        (
            "/master/unreserve",
            &id,
            "resources",
            json!([reserved("cpus", 1.0)]),
            409,
            "free",
        ),
        (
            "/master/destroy-volumes",
            &id,
            "volumes",
            json!([volume("nope", 1.0)]),
            400,
            "not found",
        ),
    ];
    for (path, agent_id, field, value, code, says) in cases {
        let (got, body) = form(url, path, agent_id, field, &value);
        assert_eq!(got, code, "{path} {value}: {body}");
        assert!(body.contains(says), "{path}: '{body}' should say '{says}'");
    }
    let (code, _, body) =
        http_request(url, "POST", "/master/reserve", &[], "resources=[]").unwrap();
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("slaveId"), "{body}");
    let (code, _, _) = http_request(url, "GET", "/master/reserve", &[], "").unwrap();
    assert_eq!(code, 405);

    let reserve = json!([reserved("cpus", 1.0), reserved("disk", 128.0)]);
    let (code, body) = form(url, "/master/reserve", &id, "resources", &reserve);
    assert_eq!(code, 202, "{body}");
    assert_eq!(reserved_cpus(&slave(url)), 2.0, "static 1 + dynamic 1");
    let (code, body) = form(
        url,
        "/master/create-volumes",
        &id,
        "volumes",
        &json!([volume("ops-1", 128.0)]),
    );
    assert_eq!(code, 202, "{body}");
    assert_eq!(volume_ids(&slave(url)), ["ops-1"]);
    let (code, body) = form(
        url,
        "/master/create-volumes",
        &id,
        "volumes",
        &json!([volume("ops-1", 1.0)]),
    );
    assert_eq!(code, 400, "a second volume with the same id: {body}");
    let data = volume_dir(&agent_dir, "ops-1");
    eventually("the agent to create the volume's directory", || {
        data.is_dir()
    });
    std::fs::write(data.join("kept.txt"), "still here").unwrap();

    // The agent restarts: its reservation, its volume and the data are still there.
    agent.kill9();
    let agent = AgentProcess::start(&master.url, port, &agent_dir, RESOURCES, &[]).unwrap();
    let state = || {
        let (code, body) = http_get(&agent.url, "/state").unwrap();
        assert_eq!(code, 200, "{body}");
        serde_json::from_str::<Value>(&body).unwrap()
    };
    eventually("the restarted agent to list the volume", || {
        volume_ids(&state()) == ["ops-1"]
    });
    assert_eq!(reserved_cpus(&state()), 2.0, "{}", state());
    assert_eq!(
        std::fs::read_to_string(data.join("kept.txt")).unwrap(),
        "still here"
    );
    assert_eq!(volume_ids(&slave(url)), ["ops-1"]);

    // Unreserving the volume's disk before destroying the volume is refused; in order, both go.
    let (code, body) = form(
        url,
        "/master/unreserve",
        &id,
        "resources",
        &json!([volume("ops-1", 128.0)]),
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("DESTROY it first"), "{body}");
    let (code, body) = form(
        url,
        "/master/destroy-volumes",
        &id,
        "volumes",
        &json!([volume("ops-1", 128.0)]),
    );
    assert_eq!(code, 202, "{body}");
    let (code, body) = form(url, "/master/unreserve", &id, "resources", &reserve);
    assert_eq!(code, 202, "{body}");
    let after = slave(url);
    assert_eq!(
        reserved_cpus(&after),
        1.0,
        "the static reservation only: {after}"
    );
    assert!(volume_ids(&after).is_empty(), "{after}");

    // The same through the v1 operator API.
    let call = |kind: &str, field: &str, list: Value| {
        let key = kind.to_ascii_lowercase();
        let body = json!({"type": kind, key: {"agent_id": {"value": id}, field: list}});
        let (code, _, answer) =
            http_request(url, "POST", "/api/v1", &[], &body.to_string()).unwrap();
        (code, answer)
    };
    let cpus = json!([reserved("cpus", 0.5)]);
    assert_eq!(call("RESERVE_RESOURCES", "resources", cpus.clone()).0, 202);
    assert_eq!(reserved_cpus(&slave(url)), 1.5);
    let (code, body) = call(
        "UNRESERVE_RESOURCES",
        "resources",
        json!([reserved("cpus", 5.0)]),
    );
    assert_eq!(code, 409, "{body}");
    assert_eq!(call("UNRESERVE_RESOURCES", "resources", cpus).0, 202);
    let (code, body) = call("CREATE_VOLUMES", "volumes", json!([volume("v", 1.0)]));
    assert_eq!(code, 409, "no reserved disk is free: {body}");
    assert_eq!(reserved_cpus(&slave(url)), 1.0);
    eventually("the agent to delete the destroyed volume", || {
        !data.exists()
    });
    let reserved_disk = state()["reserved_resources"]["eng"]["disk"]
        .as_f64()
        .unwrap_or(0.0);
    assert_eq!(reserved_disk, 0.0, "{}", state());
}
