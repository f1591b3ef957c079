//! Serde helpers for the leniency real clients need (rules 18-21 of `v1-clients.md`).
//!
//! One client sends `null` for every unset field, repeated ones included (`"uris": null`), and
//! `#[serde(default)]` alone rejects that: it only covers *missing* fields. Every non-`Option`
//! field of the wire types therefore carries
//! `#[serde(default, deserialize_with = "null_as_default")]`. `Option` fields need only
//! `#[serde(default)]`: serde already reads `null` as `None`.

use serde::{Deserialize, Deserializer};

/// Reads `null` as `T::default()` (an empty `Vec`, an empty `String`, `false`, ...).
pub fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Reads `null` (or a missing field, with `#[serde(default = "yes")]`) as `true`, for the
/// protobuf fields whose declared default is `true` (`CommandInfo.shell`, `URI.extract`).
pub fn null_as_true<'de, D>(deserializer: D) -> Result<bool, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(Option::<bool>::deserialize(deserializer)?.unwrap_or(true))
}

/// Reads a repeated string field that older clients may send as a single string
/// (`"role": "r"` where `"roles": ["r"]` is meant), or `null`.
pub fn string_or_seq<'de, D>(deserializer: D) -> Result<Vec<String>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(deserializer)? {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    })
}

pub(crate) const fn yes() -> bool {
    true
}

pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}
