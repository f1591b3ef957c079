//! The storage behind the registry: a key-value store of a few tables, written in atomic batches.
//!
//! Every record is one agent, one role's weight or quota, or the master's info, its value JSON.
//! A commit carries only the records a batch of operations changed, so a backend never rewrites
//! the whole registry: the embedded backend ([`crate::RedbStorage`]) writes them in one
//! transaction, and a ZooKeeper backend can map tables to znodes (agents sharded over several,
//! each under ZooKeeper's 1 MB) and write a batch as one `multi` with version checks.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use meseta_api::common::{AgentInfo, MasterInfo};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{OperationError, RegistryError};
use crate::memory::InMemoryStorage;
use crate::model::{
    ALLOCATOR_KEY, AgentDrainRecord, GoneRecord, MASTER_KEY, MachineRecord, QuotaConfig, Registry,
    SCHEDULE_KEY, UnreachableRecord, WeightRecord,
};
use crate::redb_store::RedbStorage;

/// The registry format this crate writes and reads ([`Table::Meta`], key `version`).
pub const FORMAT_VERSION: u32 = 1;

/// One kind of record. Each is a table of its own in a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// The format version (key `version`).
    Meta,
    /// The latest leading master (key `info`, a `MasterInfo`).
    Master,
    /// Admitted agents by agent id (`AgentInfo`).
    Agents,
    /// Unreachable agents by agent id (`{"timestamp": seconds, "seq": insertion number}`).
    Unreachable,
    /// Gone agents by agent id (`{"timestamp": seconds}`).
    Gone,
    /// Role weights by role (`{"weight": w}`).
    Weights,
    /// Quota configurations by role (`{"guarantees": {...}, "limits": {...}}`).
    Quotas,
    /// Machines in maintenance (DRAINING or DOWN) by machine key (`{"id": ..., "mode": ...}`).
    Machines,
    /// Deactivated and draining agents by agent id (`{"drain": ...}`).
    AgentDrains,
}

impl Table {
    /// Every table, in a fixed order.
    pub const ALL: [Table; 9] = [
        Table::Meta,
        Table::Master,
        Table::Agents,
        Table::Unreachable,
        Table::Gone,
        Table::Weights,
        Table::Quotas,
        Table::Machines,
        Table::AgentDrains,
    ];

    /// The table's name in a backend.
    pub fn name(self) -> &'static str {
        match self {
            Table::Meta => "meta",
            Table::Master => "master",
            Table::Agents => "agents",
            Table::Unreachable => "unreachable",
            Table::Gone => "gone",
            Table::Weights => "weights",
            Table::Quotas => "quotas",
            Table::Machines => "machines",
            Table::AgentDrains => "agent_drains",
        }
    }
}

/// A stored record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub table: Table,
    pub key: String,
    pub value: Vec<u8>,
}

/// One record written or deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Put(Record),
    Delete { table: Table, key: String },
}

impl Change {
    /// A put of `value` as JSON.
    pub(crate) fn put<T: Serialize + ?Sized>(
        table: Table,
        key: &str,
        value: &T,
    ) -> Result<Change, OperationError> {
        let value = serde_json::to_vec(value).map_err(|e| OperationError::Encode {
            what: format!("{} record {key:?}", table.name()),
            detail: e.to_string(),
        })?;
        Ok(Change::Put(Record {
            table,
            key: key.to_string(),
            value,
        }))
    }

    pub(crate) fn delete(table: Table, key: &str) -> Change {
        Change::Delete {
            table,
            key: key.to_string(),
        }
    }
}

/// The changes of one batch, in order (a later change to the same key wins).
pub type ChangeSet = Vec<Change>;

/// A registry backend. Blocking: the registrar calls it from `spawn_blocking`.
pub trait Storage: Send + Sync + 'static {
    /// What errors name: the file path, or `in_memory`.
    fn location(&self) -> &str;

    /// Every stored record. An unreadable store is an error ([`RegistryError::Corrupt`]), never
    /// an empty list.
    fn load(&self) -> Result<Vec<Record>, RegistryError>;

    /// Applies `changes` in order, atomically (all or none) and durably (on stable storage when
    /// this returns `Ok`). An empty batch still writes, as Mesos' registrar stores every batch (a
    /// replicated backend confirms its leadership that way).
    fn commit(&self, changes: &[Change]) -> Result<(), RegistryError>;
}

/// Mesos' `--registry`: where the registry lives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// `<work_dir>/registry.redb`, the default.
    #[default]
    Redb,
    /// Nothing survives the process, for tests (`--registry=in_memory`).
    InMemory,
}

impl FromStr for Backend {
    type Err = RegistryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "redb" => Ok(Backend::Redb),
            "in_memory" => Ok(Backend::InMemory),
            other => Err(RegistryError::UnknownBackend(other.to_string())),
        }
    }
}

/// The registry file's name under the master's `--work_dir`.
pub const REGISTRY_FILE: &str = "registry.redb";

/// The registry file under `work_dir`.
pub fn registry_path(work_dir: &Path) -> PathBuf {
    work_dir.join(REGISTRY_FILE)
}

/// Opens the `--registry` backend (`work_dir` is needed by [`Backend::Redb`]).
pub fn open(backend: Backend, work_dir: Option<&Path>) -> Result<Arc<dyn Storage>, RegistryError> {
    match backend {
        Backend::InMemory => Ok(Arc::new(InMemoryStorage::new())),
        Backend::Redb => {
            let work_dir = work_dir.ok_or(RegistryError::NoWorkDir)?;
            Ok(Arc::new(RedbStorage::open(&registry_path(work_dir))?))
        }
    }
}

/// Builds the registry from stored records. A record that does not parse, or a version this
/// crate does not read, is an error naming `location`.
pub(crate) fn decode(location: &str, records: Vec<Record>) -> Result<Registry, RegistryError> {
    let mut registry = Registry::default();
    let mut unreachable: Vec<(String, UnreachableRecord)> = Vec::new();
    for record in records {
        match record.table {
            Table::Meta => {
                if record.key == "version" {
                    let found: u32 = parse(location, &record)?;
                    if found > FORMAT_VERSION {
                        return Err(RegistryError::UnsupportedVersion {
                            location: location.to_string(),
                            found,
                            supported: FORMAT_VERSION,
                        });
                    }
                }
            }
            Table::Master => {
                if record.key == MASTER_KEY {
                    registry.master = Some(parse::<MasterInfo>(location, &record)?);
                } else if record.key == ALLOCATOR_KEY {
                    registry.allocator = Some(parse(location, &record)?);
                } else if record.key == SCHEDULE_KEY {
                    registry.schedule = parse(location, &record)?;
                }
            }
            Table::Agents => {
                let info: AgentInfo = parse(location, &record)?;
                if info.id.as_ref().map(|id| id.value.as_str()) != Some(record.key.as_str()) {
                    return Err(corrupt(
                        location,
                        &record,
                        "the agent id inside differs from its key",
                    ));
                }
                registry.agents.insert(record.key, info);
            }
            Table::Unreachable => {
                let entry: UnreachableRecord = parse(location, &record)?;
                unreachable.push((record.key, entry));
            }
            Table::Gone => {
                let entry: GoneRecord = parse(location, &record)?;
                registry.gone.insert(record.key, entry.timestamp);
            }
            Table::Weights => {
                let entry: WeightRecord = parse(location, &record)?;
                registry.weights.insert(record.key, entry.weight);
            }
            Table::Quotas => {
                let config: QuotaConfig = parse(location, &record)?;
                registry.quotas.insert(record.key, config);
            }
            Table::Machines => {
                let machine: MachineRecord = parse(location, &record)?;
                registry.machines.insert(record.key, machine);
            }
            Table::AgentDrains => {
                let drain: AgentDrainRecord = parse(location, &record)?;
                registry.agent_drains.insert(record.key, drain);
            }
        }
    }
    unreachable.sort_by_key(|(_, entry)| entry.seq);
    registry.next_unreachable_seq = unreachable.last().map_or(0, |(_, entry)| entry.seq + 1);
    registry.unreachable = unreachable
        .into_iter()
        .map(|(id, entry)| (id, entry.timestamp))
        .collect();
    Ok(registry)
}

fn parse<T: DeserializeOwned>(location: &str, record: &Record) -> Result<T, RegistryError> {
    serde_json::from_slice(&record.value)
        .map_err(|e| corrupt(location, record, &format!("does not parse ({e})")))
}

fn corrupt(location: &str, record: &Record, what: &str) -> RegistryError {
    RegistryError::Corrupt {
        location: location.to_string(),
        detail: format!(
            "record {:?} of table {}: {what}",
            record.key,
            record.table.name()
        ),
    }
}

/// The record of the format version, written when a store is created.
pub(crate) fn version_record() -> Record {
    Record {
        table: Table::Meta,
        key: "version".to_string(),
        value: FORMAT_VERSION.to_string().into_bytes(),
    }
}
