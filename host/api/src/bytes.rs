//! Protobuf `bytes` fields, which Mesos' JSON carries as base64 text, and status update UUIDs.
//!
//! Output is standard base64 with padding, as Mesos writes it. Input is read leniently: padding
//! optional and non-zero trailing bits accepted (Mesos' own decoder accepts both, and its docs show
//! an acknowledgement uuid, `jhadf73jhakdlfha723adf`, that needs that leniency).

use std::fmt;

use base64::Engine;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Base64 text that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid base64: {0}")]
pub struct Base64Error(String);

/// Standard base64 with padding.
pub fn base64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Standard base64, padding optional.
pub fn base64_decode(text: &str) -> Result<Vec<u8>, Base64Error> {
    LENIENT
        .decode(text.trim())
        .map_err(|e| Base64Error(e.to_string()))
}

/// The contents of a protobuf `bytes` field: base64 text in JSON, raw bytes here.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The bytes as a status update UUID, if there are exactly 16 of them.
    pub fn as_uuid(&self) -> Option<[u8; 16]> {
        <[u8; 16]>::try_from(self.0.as_slice()).ok()
    }

    pub fn to_base64(&self) -> String {
        base64_encode(&self.0)
    }

    pub fn from_base64(text: &str) -> Result<Self, Base64Error> {
        base64_decode(text).map(Bytes)
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes({})", self.to_base64())
    }
}

/// The base64 text, as on the wire.
impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        Bytes(v)
    }
}

impl From<&[u8]> for Bytes {
    fn from(v: &[u8]) -> Self {
        Bytes(v.to_vec())
    }
}

impl From<[u8; 16]> for Bytes {
    fn from(v: [u8; 16]) -> Self {
        Bytes(v.to_vec())
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Bytes::from_base64(&text).map_err(serde::de::Error::custom)
    }
}

/// A fresh random (v4) UUID for a status update that must be acknowledged.
pub fn new_status_uuid() -> Bytes {
    Bytes::from(uuid::Uuid::new_v4().into_bytes())
}

/// A status update UUID as Mesos puts it in JSON: base64 of its 16 bytes.
pub fn uuid_to_base64(uuid: &[u8; 16]) -> String {
    base64_encode(uuid)
}

/// The 16 bytes of a base64 status update UUID (what `ACKNOWLEDGE` carries).
pub fn uuid_from_base64(text: &str) -> Result<[u8; 16], Base64Error> {
    let bytes = base64_decode(text)?;
    <[u8; 16]>::try_from(bytes.as_slice())
        .map_err(|_| Base64Error(format!("a UUID is 16 bytes, got {}", bytes.len())))
}

/// The canonical hyphenated form of a UUID's bytes, for logs and operator endpoints.
pub fn uuid_to_string(uuid: &[u8; 16]) -> String {
    uuid::Uuid::from_bytes(*uuid).hyphenated().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_round_trip_through_base64() {
        let u = new_status_uuid();
        let bytes = u.as_uuid().unwrap();
        let text = uuid_to_base64(&bytes);
        assert_eq!(text.len(), 24);
        assert!(text.ends_with("=="));
        assert_eq!(uuid_from_base64(&text).unwrap(), bytes);
        assert_eq!(uuid_from_base64(text.trim_end_matches('=')).unwrap(), bytes);
        assert_ne!(new_status_uuid(), u);
        assert!(
            uuid_from_base64("aGVsbG8=")
                .unwrap_err()
                .to_string()
                .contains("16 bytes")
        );
        assert!(base64_decode("not base64!").is_err());
        assert_eq!(
            uuid_to_string(&[0; 16]),
            "00000000-0000-0000-0000-000000000000"
        );
    }

    #[test]
    fn bytes_are_base64_strings_in_json() {
        let b = Bytes(b"hello".to_vec());
        assert_eq!(serde_json::to_string(&b).unwrap(), r#""aGVsbG8=""#);
        let back: Bytes = serde_json::from_str(r#""aGVsbG8""#).unwrap();
        assert_eq!(back, b);
        assert!(serde_json::from_str::<Bytes>(r#""@@@""#).is_err());
    }
}
