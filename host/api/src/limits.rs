//! Bounds on the sizes of fields a request may carry: every limit Meseta puts on the v1
//! scheduler, executor and operator JSON (and its own master–agent messages) is here.
//!
//! What a daemon keeps of a request (a framework's name, a task's labels, ...) stays in its
//! memory and in every `/master/state` for as long as the framework or task lives, so a field is
//! refused when it is larger than any real framework sends; the request body as a whole is
//! bounded by the daemons (`--http_max_body_size`). Mesos has no such limits; where it has a
//! precedent, the bound follows it. [`check`] reads the JSON text once, without building it,
//! before the typed decoding, and names the first field over its limit by its path
//! (`subscribe.framework_info.name`).
//!
//! A field's limit is that of its key in [`FIELDS`], else its parent's (so the `value` of
//! `{"hostname": {"value": ...}}` or every item of `"roles": [...]` has the limit of its key),
//! else [`MAX_STRING`].

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

/// Any string field not listed in [`FIELDS`]: a command, an argument, an environment
/// variable's value, a label's value, a URI. Linux refuses a single argument or environment
/// string longer than this to `execve` (`MAX_ARG_STRLEN`, 32 pages).
pub const MAX_STRING: usize = 128 * 1024;

/// Names: of frameworks, tasks, resources, attributes, volumes, images.
pub const MAX_NAME: usize = 1024;

/// Host names: RFC 1035 bounds a domain name at 255 octets.
pub const MAX_HOSTNAME: usize = 255;

/// Opaque `data` (`TaskInfo.data`, `ExecutorInfo.data`, framework messages), base64 in JSON.
pub const MAX_DATA: usize = 4 * 1024 * 1024;

/// Entries of one `labels` list.
pub const MAX_LABELS: usize = 1024;

/// The keys with their own limit (bytes of the string in JSON, after unescaping), each with what
/// it bounds as the refusal names it.
pub const FIELDS: &[(&str, usize, &str)] = &[
    ("name", MAX_NAME, "a name"),
    ("hostname", MAX_HOSTNAME, "a host name (RFC 1035)"),
    ("data", MAX_DATA, "opaque data"),
];

/// A field over its limit. Its `Display` is the plain-text reason of the `400 Bad Request`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("field '{field}' is {len} bytes long, over the limit of {limit} bytes for {what}")]
    TooLong {
        field: String,
        len: usize,
        limit: usize,
        what: &'static str,
    },
    #[error("field '{field}' has {len} entries, over the limit of {limit} labels")]
    TooMany {
        field: String,
        len: usize,
        limit: usize,
    },
}

/// Checks every string and every `labels` list of a JSON document against its limit. Text that
/// is not JSON passes: the typed decoding then says what is wrong with it.
pub fn check(json: &[u8]) -> Result<(), LimitError> {
    let mut scan = Scan {
        path: Vec::new(),
        found: None,
    };
    let mut de = serde_json::Deserializer::from_slice(json);
    let root = Node {
        scan: &mut scan,
        limit: (MAX_STRING, "a string field"),
        labels: false,
    };
    let _ = root.deserialize(&mut de);
    match scan.found {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The limit of `key`: its own, else `inherited`.
fn limit_of(key: &str, inherited: (usize, &'static str)) -> (usize, &'static str) {
    FIELDS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, limit, what)| (*limit, *what))
        .unwrap_or(inherited)
}

enum Segment {
    Key(String),
    Index(usize),
}

struct Scan {
    path: Vec<Segment>,
    found: Option<LimitError>,
}

impl Scan {
    fn field(&self) -> String {
        let mut out = String::new();
        for segment in &self.path {
            match segment {
                Segment::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                Segment::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        if out.is_empty() {
            out.push_str("(the body)");
        }
        out
    }

    /// Records the first violation and stops the scan (the error itself is discarded).
    fn refuse<E: de::Error>(&mut self, error: LimitError) -> E {
        self.found.get_or_insert(error);
        E::custom("over a limit")
    }
}

/// One JSON value at the scan's current path.
struct Node<'a> {
    scan: &'a mut Scan,
    limit: (usize, &'static str),
    /// The value of a `labels` key: a list of labels, counted.
    labels: bool,
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        let (limit, what) = self.limit;
        if v.len() > limit {
            let field = self.scan.field();
            return Err(self.scan.refuse(LimitError::TooLong {
                field,
                len: v.len(),
                limit,
                what,
            }));
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        loop {
            self.scan.path.push(Segment::Index(index));
            let item = seq.next_element_seed(Node {
                scan: &mut *self.scan,
                limit: self.limit,
                labels: false,
            });
            self.scan.path.pop();
            if item?.is_none() {
                return Ok(());
            }
            index += 1;
            if self.labels && index > MAX_LABELS {
                let field = self.scan.field();
                return Err(self.scan.refuse(LimitError::TooMany {
                    field,
                    len: index,
                    limit: MAX_LABELS,
                }));
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            let node = Node {
                scan: &mut *self.scan,
                limit: limit_of(&key, self.limit),
                labels: key == "labels",
            };
            node.scan.path.push(Segment::Key(key));
            let value = map.next_value_seed(node);
            self.scan.path.pop();
            value?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn a_long_framework_name_is_named_by_its_path() {
        let name = "x".repeat(MAX_NAME + 1);
        let body = format!(
            r#"{{"type":"SUBSCRIBE","subscribe":{{"framework_info":{{"user":"u","name":"{name}"}}}}}}"#
        );
        let e = check(body.as_bytes()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "field 'subscribe.framework_info.name' is {} bytes long, over the limit of 1024 bytes for a name",
                MAX_NAME + 1
            )
        );
        let ok = body.replace(&name, &"x".repeat(MAX_NAME));
        assert_eq!(check(ok.as_bytes()), Ok(()));
    }

    #[test]
    fn children_inherit_their_key_s_limit_and_lists_are_indexed() {
        let host = "h".repeat(MAX_HOSTNAME + 1);
        let body = format!(r#"{{"a":[{{"b":1}},{{"hostname":{{"value":"{host}"}}}}]}}"#);
        let e = check(body.as_bytes()).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "field 'a[1].hostname.value' is 256 bytes long, over the limit of 255"
            ),
            "{e}"
        );
        // Other strings have the general limit; escapes count once unescaped.
        let value = "\\u0041".repeat(MAX_STRING);
        let body = format!(r#"{{"command":{{"value":"{value}"}}}}"#);
        assert_eq!(check(body.as_bytes()), Ok(()));
        let body = format!(r#"{{"command":{{"value":"{value}A"}}}}"#);
        assert!(check(body.as_bytes()).is_err());
    }

    #[test]
    fn labels_are_counted() {
        let labels = vec![r#"{"key":"k","value":"v"}"#; MAX_LABELS + 1].join(",");
        let body = format!(r#"{{"task":{{"labels":{{"labels":[{labels}]}}}}}}"#);
        let e = check(body.as_bytes()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "field 'task.labels.labels' has 1025 entries, over the limit of 1024 labels"
        );
    }

    #[test]
    fn what_is_not_json_is_left_to_the_decoder() {
        assert_eq!(check(b"{\"name\": "), Ok(()));
        assert_eq!(check(b""), Ok(()));
    }
}
