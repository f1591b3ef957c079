//! The registry's errors: one enum for the storage and the registrar, one for an operation
//! refused by the registry's rules.

use std::time::Duration;

/// A failure of the registry's storage or of the registrar. Each names the storage it concerns
/// (a file path, or `in_memory`).
#[derive(Debug, Clone, thiserror::Error)]
pub enum RegistryError {
    /// The stored registry cannot be read: not a registry file, a damaged or truncated file, or
    /// a record that does not parse. Never answered with an empty registry.
    #[error(
        "registry {location} is unreadable: {detail}; restore it from a backup, or move it away to start an empty cluster"
    )]
    Corrupt { location: String, detail: String },
    /// The registry was written by a newer Meseta.
    #[error(
        "registry {location} has format version {found}, this master reads version {supported}; run a newer master"
    )]
    UnsupportedVersion {
        location: String,
        found: u32,
        supported: u32,
    },
    /// The storage could not be opened (locked by another master, permission, missing work
    /// directory).
    #[error("registry {location} cannot be opened: {detail}")]
    Open { location: String, detail: String },
    /// A read or a write failed.
    #[error("registry {location}: {detail}")]
    Storage { location: String, detail: String },
    /// A fetch or store took longer than its timeout (`--registry_fetch_timeout`,
    /// `--registry_store_timeout`).
    #[error("registry {location}: {what} timed out after {after:?}")]
    Timeout {
        location: String,
        what: &'static str,
        after: Duration,
    },
    /// An operation refused by the registry's rules; only that operation fails.
    #[error("registry operation refused: {0}")]
    Refused(#[from] OperationError),
    /// The registrar stopped after a failed store (as Mesos' master exits then): every later
    /// operation fails with this.
    #[error("registrar stopped after an earlier failure: {0}")]
    Stopped(String),
    /// A `--registry` value that is not a backend.
    #[error("unknown registry backend {0:?}: expected `redb` or `in_memory`")]
    UnknownBackend(String),
    /// The redb backend needs `--work_dir`.
    #[error("the redb registry needs a work directory (--work_dir)")]
    NoWorkDir,
}

/// Why an operation was refused. The registry is left unchanged by a refused operation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OperationError {
    #[error("agent info has no agent id")]
    MissingAgentId,
    #[error("agent {0} is already admitted")]
    AlreadyAdmitted(String),
    #[error("agent id {0} is unreachable or gone and cannot be admitted anew")]
    IdReused(String),
    #[error("agent {0} is gone")]
    Gone(String),
    #[error("agent {0} is not admitted")]
    NotAdmitted(String),
    #[error("agent {0} is neither admitted nor unreachable")]
    UnknownAgent(String),
    #[error("weight {weight} of role {role:?} is not a positive number")]
    InvalidWeight { role: String, weight: f64 },
    #[error("quota of role {role:?}: {detail}")]
    InvalidQuota { role: String, detail: String },
    /// A maintenance change Mesos refuses (a machine not scheduled, not DOWN, ...).
    #[error("{0}")]
    Maintenance(String),
    #[error("cannot encode {what}: {detail}")]
    Encode { what: String, detail: String },
}
