//! `--registry=in_memory`: a registry that lives as long as its process, for tests.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use crate::error::RegistryError;
use crate::storage::{Change, Record, Storage, Table, version_record};

/// Records in a map; a commit applies under one lock, so it is atomic.
#[derive(Debug)]
pub struct InMemoryStorage {
    records: Mutex<BTreeMap<(Table, String), Vec<u8>>>,
}

impl Default for InMemoryStorage {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryStorage {
    /// An empty registry (with its format version).
    pub fn new() -> Self {
        let version = version_record();
        let mut records = BTreeMap::new();
        records.insert((version.table, version.key), version.value);
        InMemoryStorage {
            records: Mutex::new(records),
        }
    }

    fn records(&self) -> MutexGuard<'_, BTreeMap<(Table, String), Vec<u8>>> {
        // A panic elsewhere while holding the lock cannot leave a half-applied commit: the map
        // is only changed by `commit`, which does not panic between its inserts.
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Storage for InMemoryStorage {
    fn location(&self) -> &str {
        "in_memory"
    }

    fn load(&self) -> Result<Vec<Record>, RegistryError> {
        Ok(self
            .records()
            .iter()
            .map(|((table, key), value)| Record {
                table: *table,
                key: key.clone(),
                value: value.clone(),
            })
            .collect())
    }

    fn commit(&self, changes: &[Change]) -> Result<(), RegistryError> {
        let mut records = self.records();
        for change in changes {
            match change {
                Change::Put(record) => {
                    records.insert((record.table, record.key.clone()), record.value.clone());
                }
                Change::Delete { table, key } => {
                    records.remove(&(*table, key.clone()));
                }
            }
        }
        Ok(())
    }
}
