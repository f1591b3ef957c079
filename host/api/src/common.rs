//! Messages of Mesos' `mesos/v1/mesos.proto` shared by the scheduler and executor APIs.
//!
//! Field names and enum strings are exactly Mesos' (protobuf names, snake_case fields, enum value
//! names as strings). Absent optional fields are omitted on output, never written as `null`.
//! On input `null` means absent everywhere and unknown fields are ignored. Parts Meseta does not
//! interpret but a task may need downstream (`container`, `health_check`, `discovery`, ...) are
//! kept as opaque JSON and passed through unchanged.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::bytes::Bytes;
use crate::lenient::{is_false, null_as_default, null_as_true, yes};

id_type!(
    /// `FrameworkID`.
    FrameworkID
);
id_type!(
    /// `AgentID`.
    AgentID
);
id_type!(
    /// `OfferID`.
    OfferID
);
id_type!(
    /// `TaskID`.
    TaskID
);
id_type!(
    /// `ExecutorID`.
    ExecutorID
);
id_type!(
    /// `OperationID` (only carried, Meseta implements no offer operation that needs it).
    OperationID
);

/// `ContainerID`: `{"value": ...}`, plus `parent` for nested containers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ContainerID {
    #[serde(default, deserialize_with = "null_as_default")]
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Box<ContainerID>>,
}

impl ContainerID {
    pub fn new(value: impl Into<String>) -> Self {
        ContainerID {
            value: value.into(),
            parent: None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Labels, values, resources, attributes

/// `Label`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    #[serde(default, deserialize_with = "null_as_default")]
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `Labels`: `{"labels": [{"key": ..., "value": ...}]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Labels {
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: Vec<Label>,
}

impl Labels {
    /// The value of the last label named `key` (Mesos allows repeated keys).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .rev()
            .find(|l| l.key == key)
            .and_then(|l| l.value.as_deref())
    }
}

string_enum!(
    /// `Value.Type`.
    closed enum ValueType {
        Scalar = "SCALAR",
        Ranges = "RANGES",
        Set = "SET",
        Text = "TEXT",
    }
);

/// `Value.Scalar`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Scalar {
    #[serde(default, deserialize_with = "null_as_default")]
    pub value: f64,
}

/// `Value.Range`, inclusive at both ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    #[serde(default, deserialize_with = "null_as_default")]
    pub begin: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub end: u64,
}

/// `Value.Ranges`: `{"range": [{"begin": b, "end": e}]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ranges {
    #[serde(default, deserialize_with = "null_as_default")]
    pub range: Vec<Range>,
}

/// `Value.Set`: `{"item": [...]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Set {
    #[serde(default, deserialize_with = "null_as_default")]
    pub item: Vec<String>,
}

/// `Value.Text`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    #[serde(default, deserialize_with = "null_as_default")]
    pub value: String,
}

/// `Resource.AllocationInfo`: the role a resource is allocated to (offers, tasks).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

string_enum!(
    /// `Resource.ReservationInfo.Type`.
    open enum ReservationType {
        Unknown = "UNKNOWN",
        Static = "STATIC",
        Dynamic = "DYNAMIC",
    }
);

/// `Resource.ReservationInfo`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationInfo {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ReservationType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
}

/// `Resource.DiskInfo`: a persistent volume (`persistence` and `volume`), and the disk's
/// `source` passed through.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DiskInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence: Option<Persistence>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<DiskVolume>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Json>,
}

/// `Resource.DiskInfo.Persistence`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Persistence {
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
}

/// `Volume` as a persistent volume uses it: `container_path` and `mode` (`RW` or `RO`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskVolume {
    #[serde(default, deserialize_with = "null_as_default")]
    pub container_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<String>,
}

/// `Resource.RevocableInfo`: an empty message whose presence marks a resource revocable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocableInfo {}

/// `Resource.SharedInfo`: an empty message whose presence marks a resource shared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedInfo {}

/// `Resource`.
///
/// `type` is optional here (Mesos requires it) so that a resource missing it still parses; the
/// conversion to `meseta_types` infers it from the value that is present. A resource without
/// `role`, `allocation_info` or `reservations` is unreserved (rule 19).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ValueType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scalar: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranges: Option<Ranges>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<Set>,
    /// Deprecated reservation role (pre-refinement format); `"*"` means unreserved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_info: Option<AllocationInfo>,
    /// Deprecated single dynamic reservation (pre-refinement format).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<ReservationInfo>,
    /// Reservation stack (post-refinement format), innermost last.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub reservations: Vec<ReservationInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<DiskInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocable: Option<RevocableInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<SharedInfo>,
    /// `ResourceProviderID`, passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<Json>,
}

impl Resource {
    /// An unreserved scalar resource, `role` `"*"`, as Mesos writes them in offers.
    pub fn scalar(name: &str, value: f64) -> Self {
        Resource {
            name: name.to_string(),
            kind: Some(ValueType::Scalar),
            scalar: Some(Scalar { value }),
            role: Some("*".to_string()),
            ..Resource::default()
        }
    }

    /// An unreserved ranges resource (`ports`), `role` `"*"`.
    pub fn ranges(name: &str, ranges: &[(u64, u64)]) -> Self {
        Resource {
            name: name.to_string(),
            kind: Some(ValueType::Ranges),
            ranges: Some(Ranges {
                range: ranges
                    .iter()
                    .map(|&(begin, end)| Range { begin, end })
                    .collect(),
            }),
            role: Some("*".to_string()),
            ..Resource::default()
        }
    }

    /// An unreserved set resource, `role` `"*"`.
    pub fn set(name: &str, items: &[&str]) -> Self {
        Resource {
            name: name.to_string(),
            kind: Some(ValueType::Set),
            set: Some(Set {
                item: items.iter().map(|s| s.to_string()).collect(),
            }),
            role: Some("*".to_string()),
            ..Resource::default()
        }
    }

    /// Sets `allocation_info.role`.
    pub fn allocated_to(mut self, role: &str) -> Self {
        self.allocation_info = Some(AllocationInfo {
            role: Some(role.to_string()),
        });
        self
    }

    /// The role the resource is reserved for, `"*"` if unreserved: the innermost of
    /// `reservations`, else the deprecated `reservation`/`role`.
    pub fn reservation_role(&self) -> &str {
        self.reservations
            .last()
            .and_then(|r| r.role.as_deref())
            .or_else(|| self.reservation.as_ref().and_then(|r| r.role.as_deref()))
            .or(self.role.as_deref())
            .unwrap_or("*")
    }

    /// `allocation_info.role`, if set.
    pub fn allocation_role(&self) -> Option<&str> {
        self.allocation_info
            .as_ref()
            .and_then(|a| a.role.as_deref())
    }

    pub fn is_revocable(&self) -> bool {
        self.revocable.is_some()
    }

    /// The value's type: `type` if present, else the kind of value that is present.
    pub fn value_type(&self) -> Option<ValueType> {
        self.kind.or(if self.scalar.is_some() {
            Some(ValueType::Scalar)
        } else if self.ranges.is_some() {
            Some(ValueType::Ranges)
        } else if self.set.is_some() {
            Some(ValueType::Set)
        } else {
            None
        })
    }
}

/// `Attribute`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ValueType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scalar: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranges: Option<Ranges>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<Set>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
}

impl Attribute {
    pub fn text(name: &str, value: &str) -> Self {
        Attribute {
            name: name.to_string(),
            kind: Some(ValueType::Text),
            text: Some(Text {
                value: value.to_string(),
            }),
            ..Attribute::default()
        }
    }

    pub fn scalar(name: &str, value: f64) -> Self {
        Attribute {
            name: name.to_string(),
            kind: Some(ValueType::Scalar),
            scalar: Some(Scalar { value }),
            ..Attribute::default()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Frameworks, masters, agents

string_enum!(
    /// `FrameworkInfo.Capability.Type`.
    #[derive(Default)]
    open enum CapabilityType {
        #[default]
        Unknown = "UNKNOWN",
        RevocableResources = "REVOCABLE_RESOURCES",
        TaskKillingState = "TASK_KILLING_STATE",
        GpuResources = "GPU_RESOURCES",
        SharedResources = "SHARED_RESOURCES",
        PartitionAware = "PARTITION_AWARE",
        MultiRole = "MULTI_ROLE",
        ReservationRefinement = "RESERVATION_REFINEMENT",
        RegionAware = "REGION_AWARE",
    }
);

/// `FrameworkInfo.Capability`: `{"type": "MULTI_ROLE"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capability {
    #[serde(rename = "type", default, deserialize_with = "null_as_default")]
    pub kind: CapabilityType,
}

/// `FrameworkInfo`. `offer_filters` is not modelled (ignored on input).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FrameworkInfo {
    #[serde(default, deserialize_with = "null_as_default")]
    pub user: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<FrameworkID>,
    /// Seconds; Mesos' default is 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover_timeout: Option<f64>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_false"
    )]
    pub checkpoint: bool,
    /// Deprecated single role (frameworks without `MULTI_ROLE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webui_url: Option<String>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub capabilities: Vec<Capability>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
}

impl FrameworkInfo {
    pub fn has_capability(&self, kind: &CapabilityType) -> bool {
        self.capabilities.iter().any(|c| &c.kind == kind)
    }

    /// The roles the framework subscribes with: `roles` if any, else `role`, else `"*"`.
    ///
    /// Mesos insists on `roles` exactly when `MULTI_ROLE` is set; this reading accepts either
    /// field regardless, which is what every client means.
    pub fn effective_roles(&self) -> Vec<String> {
        if !self.roles.is_empty() {
            self.roles.clone()
        } else {
            vec![self.role.clone().unwrap_or_else(|| "*".to_string())]
        }
    }
}

/// `Address`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub port: u32,
}

/// `Parameter` (`URL.query`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parameter {
    #[serde(default, deserialize_with = "null_as_default")]
    pub key: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub value: String,
}

/// `URL`: `{"scheme": "http", "address": {...}, "path": "/slave(1)"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Url {
    #[serde(default, deserialize_with = "null_as_default")]
    pub scheme: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub address: Address,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub query: Vec<Parameter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fragment: Option<String>,
}

/// What is wrong with an id (task, executor, framework, agent or container id) that becomes one
/// path component of a sandbox, by Mesos' `validateID` rules: not empty, at most 255 bytes, not
/// `.` or `..`, no `/` or `\\`, no control characters. `None` when it is fine. The master and
/// the agent both check with it, so nothing the master accepts is refused by the agent.
pub fn id_problem(id: &str) -> Option<&'static str> {
    if id.is_empty() {
        Some("must not be empty")
    } else if id.len() > 255 {
        Some("must be at most 255 bytes")
    } else if id == "." || id == ".." {
        Some("must not be '.' or '..'")
    } else if id.contains('/') || id.contains('\\') {
        Some("must not contain '/' or '\\'")
    } else if id.chars().any(char::is_control) {
        Some("must not contain control characters")
    } else {
        None
    }
}

/// Mesos' `uint32` IPv4 (`MasterInfo.ip`): the address's bytes in network order, read as a
/// little-endian integer (what Mesos writes on the x86 hosts it runs on; 127.0.0.1 is
/// 16777343).
pub fn ipv4_to_mesos_u32(ip: std::net::Ipv4Addr) -> u32 {
    u32::from_le_bytes(ip.octets())
}

/// The inverse of [`ipv4_to_mesos_u32`].
pub fn mesos_u32_to_ipv4(ip: u32) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from(ip.to_le_bytes())
}

/// `MasterInfo`. `domain` and `capabilities` are not modelled.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterInfo {
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    /// See [`ipv4_to_mesos_u32`].
    #[serde(default, deserialize_with = "null_as_default")]
    pub ip: u32,
    #[serde(default, deserialize_with = "null_as_default")]
    pub port: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
}

impl MasterInfo {
    /// `host:port` of a `MasterInfo`, as Mesos derives it for HTTP (its masters' redirects): the
    /// `hostname` when there is one, else the `ip` (Mesos' `uint32`, see
    /// [`mesos_u32_to_ipv4`]); the `port`. Masters that fill only `address`
    /// (hostname or ip, port) are understood too. `None` when no host or port is known.
    pub fn http_address(&self) -> Option<String> {
        let from_address = self.address.as_ref();
        let port = Some(self.port)
            .filter(|p| *p != 0)
            .or_else(|| from_address.map(|a| a.port))
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0)?;
        let non_empty = |s: &Option<String>| -> Option<String> {
            s.as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
        };
        let host = non_empty(&self.hostname)
            .or_else(|| (self.ip != 0).then(|| mesos_u32_to_ipv4(self.ip).to_string()))
            .or_else(|| from_address.and_then(|a| non_empty(&a.hostname)))
            .or_else(|| from_address.and_then(|a| non_empty(&a.ip)))?;
        if host.contains(':') && !host.starts_with('[') {
            Some(format!("[{host}]:{port}"))
        } else {
            Some(format!("{host}:{port}"))
        }
    }
}

/// `AgentInfo`. `domain` and `capabilities` are not modelled.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentInfo {
    #[serde(default, deserialize_with = "null_as_default")]
    pub hostname: String,
    /// Mesos' default is 5051.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub resources: Vec<Resource>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub attributes: Vec<Attribute>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<AgentID>,
}

/// `Offer`. `unavailability` and `domain` are not modelled.
///
/// `resources`, `attributes` and `executor_ids` are always written, empty or not: clients index
/// them directly (rule 14).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    pub id: OfferID,
    #[serde(default, deserialize_with = "null_as_default")]
    pub framework_id: FrameworkID,
    #[serde(default, deserialize_with = "null_as_default")]
    pub agent_id: AgentID,
    #[serde(default, deserialize_with = "null_as_default")]
    pub hostname: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Url>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub resources: Vec<Resource>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub attributes: Vec<Attribute>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub executor_ids: Vec<ExecutorID>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_info: Option<AllocationInfo>,
    /// When the agent's machine is scheduled for maintenance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailability: Option<crate::maintenance::Unavailability>,
}

/// `Filters`: how long declined resources are not re-offered to the framework.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Filters {
    /// Seconds; 5 when absent or `null`.
    #[serde(
        default = "default_refuse_seconds",
        deserialize_with = "null_as_default_refuse_seconds"
    )]
    pub refuse_seconds: f64,
}

/// Mesos' default `Filters.refuse_seconds`.
pub const DEFAULT_REFUSE_SECONDS: f64 = 5.0;

/// Mesos caps a decline filter at a year.
pub const MAX_REFUSE_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

fn default_refuse_seconds() -> f64 {
    DEFAULT_REFUSE_SECONDS
}

fn null_as_default_refuse_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(DEFAULT_REFUSE_SECONDS))
}

impl Default for Filters {
    fn default() -> Self {
        Filters {
            refuse_seconds: DEFAULT_REFUSE_SECONDS,
        }
    }
}

impl Filters {
    /// The filter duration the master applies: negative or non-finite values fall back to the
    /// default 5 s (Mesos logs and ignores them), large ones are capped at a year.
    pub fn effective_refuse_seconds(&self) -> f64 {
        let s = self.refuse_seconds;
        if !s.is_finite() && s > 0.0 {
            MAX_REFUSE_SECONDS
        } else if !s.is_finite() || s < 0.0 {
            DEFAULT_REFUSE_SECONDS
        } else {
            s.min(MAX_REFUSE_SECONDS)
        }
    }
}

/// The effective refusal of an optional `filters` field (5 s when absent, rule 20).
pub fn refuse_seconds(filters: Option<&Filters>) -> f64 {
    filters
        .copied()
        .unwrap_or_default()
        .effective_refuse_seconds()
}

// ---------------------------------------------------------------------------------------------
// Commands, executors, tasks

/// `DurationInfo`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DurationInfo {
    #[serde(default, deserialize_with = "null_as_default")]
    pub nanoseconds: i64,
}

impl DurationInfo {
    pub fn from_duration(d: std::time::Duration) -> Self {
        DurationInfo {
            nanoseconds: i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        }
    }

    /// Negative durations read as zero.
    pub fn as_duration(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(u64::try_from(self.nanoseconds).unwrap_or(0))
    }
}

/// `TimeInfo`: nanoseconds since the epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeInfo {
    #[serde(default, deserialize_with = "null_as_default")]
    pub nanoseconds: i64,
}

/// `KillPolicy`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period: Option<DurationInfo>,
}

/// `CommandInfo.URI`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uri {
    #[serde(default, deserialize_with = "null_as_default")]
    pub value: String,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_false"
    )]
    pub executable: bool,
    /// Default `true`.
    #[serde(default = "yes", deserialize_with = "null_as_true")]
    pub extract: bool,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "is_false"
    )]
    pub cache: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_file: Option<String>,
}

string_enum!(
    /// `Environment.Variable.Type`.
    open enum VariableType {
        Unknown = "UNKNOWN",
        Value = "VALUE",
        Secret = "SECRET",
    }
);

/// `Environment.Variable`. `secret` is passed through (Meseta resolves no secrets).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Variable {
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<VariableType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Json>,
}

/// `Environment`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    #[serde(default, deserialize_with = "null_as_default")]
    pub variables: Vec<Variable>,
}

/// `CommandInfo`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommandInfo {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub uris: Vec<Uri>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// Default `true`: run `value` with `/bin/sh -c`; `false`: exec `value` with `arguments`.
    #[serde(default = "yes", deserialize_with = "null_as_true")]
    pub shell: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub arguments: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

impl Default for CommandInfo {
    fn default() -> Self {
        CommandInfo {
            uris: Vec::new(),
            environment: None,
            shell: true,
            value: None,
            arguments: Vec::new(),
            user: None,
        }
    }
}

impl CommandInfo {
    /// A shell command (`shell: true`).
    pub fn shell(command: &str) -> Self {
        CommandInfo {
            value: Some(command.to_string()),
            ..CommandInfo::default()
        }
    }
}

string_enum!(
    /// `ExecutorInfo.Type`.
    open enum ExecutorType {
        Unknown = "UNKNOWN",
        Default = "DEFAULT",
        Custom = "CUSTOM",
    }
);

/// `ExecutorInfo`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecutorInfo {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ExecutorType>,
    pub executor_id: ExecutorID,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework_id: Option<FrameworkID>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandInfo>,
    /// `ContainerInfo`, passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<Json>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub resources: Vec<Resource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Bytes>,
    /// `DiscoveryInfo`, passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown_grace_period: Option<DurationInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
}

/// `TaskInfo`.
///
/// `agent_id` is optional here although Mesos requires it: the master validates it against the
/// offer and answers `TASK_ERROR`, which says more than a rejected call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    pub task_id: TaskID,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentID>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub resources: Vec<Resource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor: Option<ExecutorInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandInfo>,
    /// `ContainerInfo`, passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<Json>,
    /// `HealthCheck`, passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<Json>,
    /// `CheckInfo`, passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_policy: Option<KillPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Bytes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    /// `DiscoveryInfo`, passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_time: Option<DurationInfo>,
    /// Resource limits, passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Json>,
}

/// `TaskGroupInfo`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskGroupInfo {
    #[serde(default, deserialize_with = "null_as_default")]
    pub tasks: Vec<TaskInfo>,
}

// ---------------------------------------------------------------------------------------------
// Task status

string_enum!(
    /// `TaskState`. Closed: `state` is required, and Mesos rejects a status whose state it does
    /// not know.
    closed enum TaskState {
        Staging = "TASK_STAGING",
        Starting = "TASK_STARTING",
        Running = "TASK_RUNNING",
        Killing = "TASK_KILLING",
        Finished = "TASK_FINISHED",
        Failed = "TASK_FAILED",
        Killed = "TASK_KILLED",
        Error = "TASK_ERROR",
        Lost = "TASK_LOST",
        Dropped = "TASK_DROPPED",
        Unreachable = "TASK_UNREACHABLE",
        Gone = "TASK_GONE",
        GoneByOperator = "TASK_GONE_BY_OPERATOR",
        Unknown = "TASK_UNKNOWN",
    }
);

impl TaskState {
    /// Mesos' `isTerminalState`: no further update follows. `TASK_UNREACHABLE` and
    /// `TASK_UNKNOWN` are not terminal.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Finished
                | TaskState::Failed
                | TaskState::Killed
                | TaskState::Error
                | TaskState::Lost
                | TaskState::Dropped
                | TaskState::Gone
                | TaskState::GoneByOperator
        )
    }
}

string_enum!(
    /// `TaskStatus.Source`.
    open enum Source {
        Master = "SOURCE_MASTER",
        Agent = "SOURCE_AGENT",
        Executor = "SOURCE_EXECUTOR",
    }
);

string_enum!(
    /// `TaskStatus.Reason`. Open: a reason this crate does not know is kept as `Other`.
    open enum Reason {
        AgentDisconnected = "REASON_AGENT_DISCONNECTED",
        AgentRemoved = "REASON_AGENT_REMOVED",
        AgentRemovedByOperator = "REASON_AGENT_REMOVED_BY_OPERATOR",
        AgentReregistered = "REASON_AGENT_REREGISTERED",
        AgentRestarted = "REASON_AGENT_RESTARTED",
        AgentUnknown = "REASON_AGENT_UNKNOWN",
        CommandExecutorFailed = "REASON_COMMAND_EXECUTOR_FAILED",
        ContainerLaunchFailed = "REASON_CONTAINER_LAUNCH_FAILED",
        ContainerLimitation = "REASON_CONTAINER_LIMITATION",
        ContainerLimitationDisk = "REASON_CONTAINER_LIMITATION_DISK",
        ContainerLimitationMemory = "REASON_CONTAINER_LIMITATION_MEMORY",
        ContainerPreempted = "REASON_CONTAINER_PREEMPTED",
        ContainerUpdateFailed = "REASON_CONTAINER_UPDATE_FAILED",
        ExecutorRegistrationTimeout = "REASON_EXECUTOR_REGISTRATION_TIMEOUT",
        ExecutorReregistrationTimeout = "REASON_EXECUTOR_REREGISTRATION_TIMEOUT",
        ExecutorTerminated = "REASON_EXECUTOR_TERMINATED",
        ExecutorUnregistered = "REASON_EXECUTOR_UNREGISTERED",
        FrameworkRemoved = "REASON_FRAMEWORK_REMOVED",
        GcError = "REASON_GC_ERROR",
        InvalidFrameworkId = "REASON_INVALID_FRAMEWORKID",
        InvalidOffers = "REASON_INVALID_OFFERS",
        IoSwitchboardExited = "REASON_IO_SWITCHBOARD_EXITED",
        MasterDisconnected = "REASON_MASTER_DISCONNECTED",
        MaxCompletionTimeReached = "REASON_MAX_COMPLETION_TIME_REACHED",
        Reconciliation = "REASON_RECONCILIATION",
        ResourcesUnknown = "REASON_RESOURCES_UNKNOWN",
        TaskCheckStatusUpdated = "REASON_TASK_CHECK_STATUS_UPDATED",
        TaskHealthCheckStatusUpdated = "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED",
        TaskGroupInvalid = "REASON_TASK_GROUP_INVALID",
        TaskGroupUnauthorized = "REASON_TASK_GROUP_UNAUTHORIZED",
        TaskInvalid = "REASON_TASK_INVALID",
        TaskKilledDuringLaunch = "REASON_TASK_KILLED_DURING_LAUNCH",
        TaskUnauthorized = "REASON_TASK_UNAUTHORIZED",
        TaskUnknown = "REASON_TASK_UNKNOWN",
        /// v0 spelling of `REASON_AGENT_DISCONNECTED`; the v1 API writes the `AGENT` forms.
        SlaveDisconnected = "REASON_SLAVE_DISCONNECTED",
        /// v0 spelling of `REASON_AGENT_REMOVED`.
        SlaveRemoved = "REASON_SLAVE_REMOVED",
        /// v0 spelling of `REASON_AGENT_RESTARTED`.
        SlaveRestarted = "REASON_SLAVE_RESTARTED",
        /// v0 spelling of `REASON_AGENT_UNKNOWN`.
        SlaveUnknown = "REASON_SLAVE_UNKNOWN",
    }
);

/// `NetworkInfo.IPAddress`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpAddress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
}

/// `NetworkInfo`. `port_mappings` is passed through.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkInfo {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ip_addresses: Vec<IpAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub port_mappings: Vec<Json>,
}

/// `ContainerStatus`. `cgroup_info` is passed through.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<ContainerID>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub network_infos: Vec<NetworkInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_info: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_pid: Option<u32>,
}

/// `TaskStatus`.
///
/// Rule 15: a status sent to a scheduler always has `agent_id` (clients build acknowledgements
/// from it); `uuid` is set only on updates that must be acknowledged, so reconciliation answers
/// carry `reason: REASON_RECONCILIATION` and no `uuid`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskStatus {
    pub task_id: TaskID,
    pub state: TaskState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Bytes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentID>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_id: Option<ExecutorID>,
    /// Seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<f64>,
    /// 16 bytes; base64 on the wire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<Bytes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    /// `CheckStatusInfo`, passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_status: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_status: Option<ContainerStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable_time: Option<TimeInfo>,
    /// `TaskResourceLimitation`, passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limitation: Option<Json>,
}

impl TaskStatus {
    /// A status with only `task_id` and `state` set.
    pub fn new(task_id: TaskID, state: TaskState) -> Self {
        TaskStatus {
            task_id,
            state,
            message: None,
            source: None,
            reason: None,
            data: None,
            agent_id: None,
            executor_id: None,
            timestamp: None,
            uuid: None,
            healthy: None,
            check_status: None,
            labels: None,
            container_status: None,
            unreachable_time: None,
            limitation: None,
        }
    }
}

/// Seconds since the epoch as an `f64`, for `TaskStatus.timestamp`.
pub fn timestamp_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
