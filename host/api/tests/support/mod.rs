//! Helpers shared by the integration tests.

#![allow(dead_code)]

use serde_json::Value;

/// JSON equality where numbers compare as `f64` (`2` and `2.0` are the same protobuf double).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

#[track_caller]
pub fn assert_json_eq(actual: &Value, expected: &Value) {
    assert!(
        json_eq(actual, expected),
        "JSON differs\n  actual:   {actual}\n  expected: {expected}"
    );
}

/// Parses `text` as `T`, serializes it back, and checks the result equals `expected` (numbers
/// compared as doubles). Returns the parsed value.
#[track_caller]
pub fn round_trip<T>(text: &str, expected: &Value) -> T
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let parsed: T = serde_json::from_str(text).unwrap_or_else(|e| panic!("parse: {e}\n{text}"));
    let out = serde_json::to_value(&parsed).unwrap();
    assert_json_eq(&out, expected);
    parsed
}

/// Every object key path in `v`, e.g. `["accept", "operations", "0", "type"]`.
pub fn key_paths(v: &Value) -> Vec<Vec<String>> {
    fn walk(v: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    prefix.push(k.clone());
                    out.push(prefix.clone());
                    walk(child, prefix, out);
                    prefix.pop();
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    prefix.push(i.to_string());
                    walk(child, prefix, out);
                    prefix.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

/// `v` with the value at `path` replaced by `null`.
pub fn with_null_at(v: &Value, path: &[String]) -> Value {
    let mut v = v.clone();
    let mut cur = &mut v;
    for seg in path {
        cur = match cur {
            Value::Object(m) => m.get_mut(seg).unwrap(),
            Value::Array(a) => a.get_mut(seg.parse::<usize>().unwrap()).unwrap(),
            _ => unreachable!(),
        };
    }
    *cur = Value::Null;
    v
}
