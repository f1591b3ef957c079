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
    assert_eq!(status, 501, "{v}");
    assert!(v.as_str().unwrap().contains("GET_HEALTH"), "{v}");
}
