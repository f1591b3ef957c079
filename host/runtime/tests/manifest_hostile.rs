#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Hostile input, continuously (issue 18, build item 5): the module manifest parser over
//! arbitrary text, arbitrary JSON and mutations of a valid manifest must never panic, and must
//! give a manifest or an error that names the manifest. Fixed case counts keep it to seconds.

use std::path::Path;

use meseta_runtime::manifest::{parse_bytes, parse_duration};
use meseta_runtime::{LoadError, Manifest};
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Value, json};

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

fn parse(text: &str) -> Result<Manifest, LoadError> {
    Manifest::parse(text, "hostile manifest", Path::new("/etc/meseta"))
}

/// Strings that look like Mesos' sizes and durations, huge and odd ones included.
fn quantity() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            any::<u64>().prop_map(|n| n.to_string()),
            prop::collection::vec(0u8..10, 1..40)
                .prop_map(|d| d.iter().map(|d| char::from(b'0' + d)).collect()),
            any::<f64>().prop_map(|f| f.abs().to_string()),
            Just(String::new()),
            Just(".".to_string()),
        ],
        prop::sample::select(vec![
            "", "B", "KB", "MB", "GB", "TB", "ns", "us", "ms", "secs", "mins", "hrs", "days",
            "weeks", "XB",
        ]),
    )
        .prop_map(|(n, unit)| format!("{n}{unit}"))
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<String>().prop_map(Value::String),
        quantity().prop_map(Value::String),
        prop::sample::select(vec![
            "fallback",
            "fail-closed",
            "reload",
            "allocator",
            "x.wasm"
        ])
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "libraries",
                        "file",
                        "name",
                        "modules",
                        "parameters",
                        "key",
                        "value",
                        "kind",
                        "memory_limit",
                        "deadline",
                        "failure_policy",
                        "grants",
                        "host_path",
                        "guest_path",
                        "read_only",
                        "unknown",
                    ]),
                    inner,
                ),
                0..5,
            )
            .prop_map(|f| Value::Object(f.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}

fn valid() -> Value {
    json!({"libraries": [
        {"file": "/opt/modules/allocator.wasm", "modules": [{
            "name": "org_example_allocator", "kind": "allocator",
            "parameters": [{"key": "k", "value": "v"}],
            "memory_limit": "64MB", "deadline": "100ms", "failure_policy": "fallback",
            "grants": [{"host_path": "data", "guest_path": "/data", "read_only": true}]}]},
        {"name": "builtin", "modules": [{"name": "org_example_hooks"}]}
    ]})
}

/// `value` with the value at one of its paths replaced, or that entry removed.
fn mutate(mut value: Value, pick: usize, remove: bool, replacement: Value) -> Value {
    fn paths(v: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        let children: Vec<(String, &Value)> = match v {
            Value::Object(m) => m.iter().map(|(k, c)| (k.clone(), c)).collect(),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, c)| (i.to_string(), c))
                .collect(),
            _ => Vec::new(),
        };
        for (k, child) in children {
            prefix.push(k);
            out.push(prefix.clone());
            paths(child, prefix, out);
            prefix.pop();
        }
    }
    let mut all = Vec::new();
    paths(&value, &mut Vec::new(), &mut all);
    let path = &all[pick % all.len()];
    let (last, parent) = path.split_last().unwrap();
    let pointer: String = parent.iter().map(|p| format!("/{p}")).collect();
    match value.pointer_mut(&pointer).unwrap() {
        Value::Object(m) if remove => {
            m.remove(last);
        }
        Value::Object(m) => {
            m.insert(last.clone(), replacement);
        }
        Value::Array(a) if remove => {
            a.remove(last.parse::<usize>().unwrap());
        }
        Value::Array(a) => a[last.parse::<usize>().unwrap()] = replacement,
        _ => unreachable!("a path's parent is an object or an array"),
    }
    value
}

fn check(text: &str) {
    if let Err(e) = parse(text) {
        let message = e.to_string();
        assert!(message.contains("hostile manifest"), "{message}");
    }
}

#[test]
fn the_valid_seed_parses() {
    let m = parse(&valid().to_string()).unwrap();
    assert_eq!(m.modules.len(), 2);
}

#[test]
fn huge_durations_and_sizes_are_errors_not_panics() {
    // regression: 1e20 s does not fit a Duration, and `Duration::from_secs_f64` panicked
    assert!(parse_duration("100000000000000000000secs").is_err());
    assert!(parse_duration("100000000000000weeks").is_err());
    assert!(parse_bytes("100000000000000000000TB").is_err());
    assert_eq!(
        parse_duration("5secs"),
        Ok(std::time::Duration::from_secs(5))
    );
    assert_eq!(parse_bytes("64MB"), Ok(64 << 20));
    let mut manifest = valid();
    manifest["libraries"][0]["modules"][0]["deadline"] = json!("100000000000000000000secs");
    let e = parse(&manifest.to_string()).unwrap_err().to_string();
    assert!(e.contains("deadline"), "{e}");
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn arbitrary_text_never_panics_the_manifest_parser(text in any::<String>()) {
        check(&text);
    }

    #[test]
    fn arbitrary_json_never_panics_the_manifest_parser(value in json_value()) {
        check(&value.to_string());
    }

    #[test]
    fn quantities_never_panic(text in quantity()) {
        let _ = parse_bytes(&text);
        let _ = parse_duration(&text);
    }
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn mutated_manifests_parse_or_fail_clearly(
        pick in any::<usize>(),
        remove in any::<bool>(),
        replacement in json_value(),
    ) {
        check(&mutate(valid(), pick, remove, replacement).to_string());
    }
}
