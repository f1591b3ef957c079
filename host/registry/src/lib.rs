//! The master's registry: what Mesos keeps across master failovers (the latest leader, admitted,
//! unreachable and gone agents, role weights and quota, the maintenance schedule and machines,
//! deactivated and draining agents) and nothing
//! the master learns from agents (tasks, executors, reservations come back when agents
//! re-register).
//!
//! [`Registry`] is the plain data, changed only by [`Operation`]s. A [`Storage`] keeps it as
//! records (one per agent, role or the master) and commits a batch of changed records atomically
//! and durably: [`RedbStorage`] in `<work_dir>/registry.redb` by default, [`InMemoryStorage`] for
//! `--registry=in_memory`. The [`Registrar`] batches operations as Mesos' registrar does (every
//! operation queued while a commit runs goes into the next one), and resolves an operation only
//! once its batch is durable, so an agent is told it is registered only after its admission is
//! on disk. An unreadable registry file is an error naming the file, never an empty cluster.

pub mod bench;
mod error;
mod memory;
mod mesos_json;
mod model;
mod redb_store;
mod registrar;
mod storage;

pub use error::{OperationError, RegistryError};
pub use memory::InMemoryStorage;
pub use model::{
    AgentDrainRecord, AllocatorRecord, AllocatorSwap, DEFAULT_MAX_AGENT_AGE,
    DEFAULT_MAX_AGENT_COUNT, DrainRecord, GcCandidates, MachineRecord, Operation, QuotaConfig,
    Registry,
};
pub use redb_store::RedbStorage;
pub use registrar::{Registrar, RegistrarOptions};
pub use storage::{
    Backend, Change, ChangeSet, FORMAT_VERSION, REGISTRY_FILE, Record, Storage, Table, open,
    registry_path,
};
