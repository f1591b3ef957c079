//! Mesos' v1 HTTP API wire types: the only place in Meseta that knows JSON shapes.
//!
//! The master and agent daemons and the example framework speak the Mesos v1 scheduler and
//! executor APIs through this crate, so existing Mesos framework libraries work unchanged. There
//! is no HTTP and no IO here: the daemons own sockets, this crate owns bytes.
//!
//! - [`common`]: messages of `mesos.proto` (ids, `FrameworkInfo`, `Resource`, `Offer`,
//!   `TaskInfo`, `TaskStatus`, ...), with Mesos' field names and enum strings.
//! - [`scheduler`]: `Call` / `Event` of the scheduler API.
//! - [`executor`]: `Call` / `Event` of the executor API.
//! - [`recordio`]: RecordIO framing with ASCII-only compact JSON, and a streaming decoder.
//! - [`bytes`]: protobuf `bytes` fields (base64 in JSON) and status update UUIDs.
//! - [`convert`]: to and from `meseta_types` (resources, attributes, labels, environment, hook
//!   views).
//! - [`internal`]: Meseta's own master–agent protocol messages.
//! - [`maintenance`]: machines, the maintenance schedule, inverse offers.
//! - [`text`]: Mesos' `--resources` and `--attributes` flag texts.
//! - [`lenient`]: the serde helpers behind the leniency rules.
//! - [`limits`]: the bounds on field sizes every decoded request is checked against.
//!
//! What every type here does, following `shared/reference/v1-clients.md`:
//! - On input, JSON `null` is "absent" everywhere, repeated fields included (rule 18); unknown
//!   fields are ignored; enum strings this crate does not know are kept (`Other(String)`) where
//!   Mesos would accept them (call types, operation types, reasons, capabilities, ...).
//! - On output, absent optional fields are omitted, never `null`; enums are their protobuf value
//!   names; every scheduler event but `HEARTBEAT` has its lower-case payload key (rule 12).
//! - Required fields that identify what a call acts on (`task_id`, `acknowledge.uuid`, ...) are
//!   required: a call without them is malformed ([`decode`] fails, the master answers 400).

#[macro_use]
mod macros;

pub mod bytes;
pub mod common;
pub mod convert;
pub mod executor;
pub mod internal;
pub mod lenient;
pub mod limits;
pub mod maintenance;
pub mod recordio;
pub mod scheduler;
pub mod text;

pub use bytes::{Bytes, new_status_uuid, uuid_from_base64, uuid_to_base64};
pub use common::*;
pub use convert::ConversionError;
pub use recordio::{Decoder, RecordIoError, ascii_json};

use serde::de::DeserializeOwned;

/// A request body that is not a valid message, or has a field over its limit. Its `Display` is
/// a plain-text reason fit for a `400 Bad Request` body.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("Failed to parse body into {what}: {source}")]
    Malformed {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("{0}")]
    Limit(#[from] limits::LimitError),
}

/// Parses a JSON request body, e.g. `decode::<scheduler::Call>(body)`, after checking its fields
/// against [`limits`].
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, DecodeError> {
    limits::check(body)?;
    serde_json::from_slice(body).map_err(|source| DecodeError::Malformed {
        what: short_type_name::<T>(),
        source,
    })
}

fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    // `meseta_api::scheduler::Call` -> `scheduler::Call`.
    full.strip_prefix("meseta_api::").unwrap_or(full)
}
