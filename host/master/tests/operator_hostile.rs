#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Hostile input to the v1 operator API (issue 18, build item 5): arbitrary bodies and
//! arbitrary payloads under every call name reach a real master over HTTP. Each must be
//! answered with a 2xx or a 4xx (a refusal that says why), never a 5xx, a hang or a crash, and
//! the master must go on answering. A fixed number of cases keeps it within seconds.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use meseta_master::{Master, MasterConfig};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

/// Every call the master answers, and two it does not.
fn calls() -> Vec<&'static str> {
    let mut calls = meseta_master::server::OPERATOR_CALLS.to_vec();
    calls.extend(["NOT_A_CALL", ""]);
    calls
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<String>().prop_map(Value::String),
        prop::sample::select(vec!["*", "web", "eng/backend", "cpus", "mem", "", "/"])
            .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "role",
                        "weight",
                        "weight_infos",
                        "quota_configs",
                        "guarantees",
                        "limits",
                        "value",
                        "framework_id",
                        "agent_id",
                        "allocator",
                        "manifest",
                        "name",
                        "update_weights",
                        "update_quota",
                        "teardown",
                        "swap_allocator",
                        "add_shadow_allocator",
                        "remove_shadow_allocator",
                        "resources",
                        "volumes",
                        "machines",
                        "machine_ids",
                        "windows",
                        "unavailability",
                        "hostname",
                        "ip",
                        "max_grace_period",
                        "mark_gone",
                        "seconds",
                        "reserve_resources",
                        "create_volumes",
                        "drain_agent",
                        "update_maintenance_schedule",
                        "start_maintenance",
                    ]),
                    inner,
                ),
                0..5,
            )
            .prop_map(|fields| {
                Value::Object(
                    fields
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect(),
                )
            }),
        ]
    })
}

/// A call: a known (or unknown) type and an arbitrary payload under its lower-case key.
fn operator_call() -> impl Strategy<Value = Value> {
    (prop::sample::select(calls()), json_value()).prop_map(|(kind, payload)| {
        let mut call = json!({ "type": kind });
        call[kind.to_lowercase()] = payload;
        call
    })
}

/// A connection that has sent `POST /api/v1` with `body`, ready to read the answer.
fn send(addr: SocketAddr, body: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "POST /api/v1 HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    let _ = stream.write_all(body);
    stream
}

/// The status code of the answer to `body`.
fn post(addr: SocketAddr, body: &[u8]) -> u16 {
    let mut stream = send(addr, body);
    // Only the status line: a SUBSCRIBE answer is a stream that does not end.
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
        line.push(byte[0]);
    }
    String::from_utf8_lossy(&line)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A master with the defaults on an ephemeral port.
fn start_master(rt: &tokio::runtime::Runtime) -> Master {
    rt.block_on(Master::start(MasterConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..MasterConfig::default()
    }))
    .unwrap()
}

#[test]
fn any_operator_call_is_answered_without_a_server_error() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let master = start_master(&rt);
    let addr = master.address();
    let config = Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    };
    let seen = std::sync::Mutex::new(std::collections::BTreeSet::new());
    let mut runner = TestRunner::new(config.clone());
    runner
        .run(&operator_call(), |call| {
            let body = call.to_string();
            let status = post(addr, body.as_bytes());
            seen.lock().unwrap().insert(status);
            prop_assert!((200..500).contains(&status), "{body} was answered {status}");
            Ok(())
        })
        .unwrap();
    // The cases reached both answers: calls that worked and calls refused.
    let seen = seen.into_inner().unwrap();
    assert!(
        seen.contains(&200) && seen.contains(&400),
        "answers seen: {seen:?}"
    );
    // Bytes that are not JSON, or JSON that is not an object.
    let mut runner = TestRunner::new(config);
    runner
        .run(&prop::collection::vec(any::<u8>(), 0..256), |bytes| {
            let status = post(addr, &bytes);
            prop_assert!(
                (400..500).contains(&status),
                "{bytes:?} was answered {status}"
            );
            Ok(())
        })
        .unwrap();
    assert_eq!(post(addr, br#"{"type": "GET_HEALTH"}"#), 200);
    rt.block_on(master.stop());
}

/// Each call the 400 names as supported is one the master answers: none of them is refused as
/// unknown, and the 400 for an unknown one lists them all.
#[test]
fn the_supported_calls_are_the_answered_ones() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let master = start_master(&rt);
    let addr = master.address();
    let ask = |kind: &str| {
        let body = json!({ "type": kind }).to_string();
        // SUBSCRIBE answers a stream: only its status line is read.
        if kind == "SUBSCRIBE" {
            return (post(addr, body.as_bytes()), String::new());
        }
        let mut stream = send(addr, body.as_bytes());
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let status = answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    };
    let (status, unknown) = ask("GET_NOTHING");
    assert_eq!(status, 400);
    assert!(
        unknown.contains("'GET_NOTHING' is not supported"),
        "{unknown}"
    );
    for kind in meseta_master::server::OPERATOR_CALLS {
        assert!(
            unknown.contains(kind),
            "the 400 does not name {kind}: {unknown}"
        );
        let (status, body) = ask(kind);
        assert!(
            !body.contains("is not supported"),
            "{kind} is listed as supported but answered {status}: {body}"
        );
        assert!(status < 500, "{kind} answered {status}: {body}");
    }
    rt.block_on(master.stop());
}
