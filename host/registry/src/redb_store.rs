//! The embedded backend: `<work_dir>/registry.redb`, a redb database with one table per
//! [`Table`] (string keys, JSON values); one durable write transaction per batch.
//!
//! redb is crash-safe: a commit is on disk when it returns, and after a crash the next open
//! repairs the file back to the last commit. The file is opened with its integrity checked
//! (every page's checksum), so a damaged or truncated file is an error naming it rather than a
//! panic or an empty registry.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableHandle};

use crate::error::RegistryError;
use crate::storage::{Change, Record, Storage, Table, version_record};

/// redb's page cache (reads and the write buffer). Its default, 1 GiB, would let the integrity
/// check at open pull the whole file into the master's memory; the registry's working set is
/// small.
const CACHE_BYTES: usize = 64 << 20;

fn definition(table: Table) -> TableDefinition<'static, &'static str, &'static [u8]> {
    TableDefinition::new(table.name())
}

/// The registry in a redb file.
pub struct RedbStorage {
    db: Database,
    path: PathBuf,
    location: String,
}

impl std::fmt::Debug for RedbStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStorage")
            .field("path", &self.path)
            .finish()
    }
}

impl RedbStorage {
    /// Opens the registry file at `path`, creating an empty registry if the file is missing or
    /// empty. A file that is not a registry, or is damaged, is [`RegistryError::Corrupt`]; a file
    /// another process holds open is [`RegistryError::Open`].
    pub fn open(path: &Path) -> Result<RedbStorage, RegistryError> {
        let location = path.display().to_string();
        let fresh = match std::fs::metadata(path) {
            Ok(meta) => meta.len() == 0,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => {
                return Err(RegistryError::Open {
                    location,
                    detail: e.to_string(),
                });
            }
        };
        let repaired = Arc::new(AtomicBool::new(false));
        let db = guard(&location, "opening", || {
            let mut builder = Database::builder();
            builder.set_cache_size(CACHE_BYTES);
            let seen = repaired.clone();
            let at = location.clone();
            // Called only when the file needs a repair on open: its last writer did not close it.
            builder.set_repair_callback(move |_session| {
                if !seen.swap(true, Ordering::Relaxed) {
                    tracing::warn!(path = %at, "registry file was not closed cleanly; repairing it to its last commit");
                }
            });
            if fresh {
                builder.create(path)
            } else {
                builder.open(path)
            }
        })?
        .map_err(|e| open_error(&location, e.into()))?;
        // Damage from outside redb (a truncated or overwritten file): redb reports it as an error,
        // not a panic, only under a full check.
        let mut db = db;
        if !fresh {
            match guard(&location, "checking", || db.check_integrity())? {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(path = %location, "registry file failed its integrity check; repaired to its last commit")
                }
                Err(e) => return Err(open_error(&location, e.into())),
            }
        }
        let storage = RedbStorage {
            db,
            path: path.to_path_buf(),
            location,
        };
        storage.initialize()?;
        Ok(storage)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the format version into a database that has no table yet (a new file, or one whose
    /// creation was cut short); refuses a redb database of something else.
    fn initialize(&self) -> Result<(), RegistryError> {
        let location = &self.location;
        let (has_tables, has_version) = guard(location, "reading", || {
            let txn = self.db.begin_read()?;
            let has_tables = txn.list_tables()?.next().is_some();
            let has_version = match txn.open_table(definition(Table::Meta)) {
                Ok(table) => table.get("version")?.is_some(),
                Err(redb::TableError::TableDoesNotExist(_)) => false,
                Err(e) => return Err(redb::Error::from(e)),
            };
            Ok::<_, redb::Error>((has_tables, has_version))
        })?
        .map_err(|e| classify(location, e))?;
        if has_version {
            return Ok(());
        }
        if has_tables {
            return Err(RegistryError::Corrupt {
                location: location.clone(),
                detail: "a redb database without a registry format version, not a meseta registry"
                    .to_string(),
            });
        }
        let version = version_record();
        self.write(&[Change::Put(version)])
    }

    fn write(&self, changes: &[Change]) -> Result<(), RegistryError> {
        let location = &self.location;
        guard(location, "writing", || {
            let txn = self.db.begin_write()?;
            {
                let mut tables = Vec::with_capacity(Table::ALL.len());
                for table in Table::ALL {
                    tables.push((table, txn.open_table(definition(table))?));
                }
                for change in changes {
                    let (table, key) = match change {
                        Change::Put(record) => (record.table, record.key.as_str()),
                        Change::Delete { table, key } => (*table, key.as_str()),
                    };
                    let Some((_, handle)) = tables.iter_mut().find(|(t, _)| *t == table) else {
                        continue;
                    };
                    match change {
                        Change::Put(record) => {
                            handle.insert(key, record.value.as_slice())?;
                        }
                        Change::Delete { .. } => {
                            handle.remove(key)?;
                        }
                    }
                }
            }
            txn.commit()?;
            Ok::<_, redb::Error>(())
        })?
        .map_err(|e| classify(location, e))
    }
}

impl Storage for RedbStorage {
    fn location(&self) -> &str {
        &self.location
    }

    fn load(&self) -> Result<Vec<Record>, RegistryError> {
        let location = &self.location;
        guard(location, "reading", || {
            let txn = self.db.begin_read()?;
            let mut records = Vec::new();
            for table in Table::ALL {
                let handle = match txn.open_table(definition(table)) {
                    Ok(handle) => handle,
                    Err(redb::TableError::TableDoesNotExist(_)) => continue,
                    Err(e) => return Err(redb::Error::from(e)),
                };
                for entry in handle.iter()? {
                    let (key, value) = entry?;
                    records.push(Record {
                        table,
                        key: key.value().to_string(),
                        value: value.value().to_vec(),
                    });
                }
            }
            // Tables of a later format are not read by this one.
            for handle in txn.list_tables()? {
                if !Table::ALL.iter().any(|t| t.name() == handle.name()) {
                    tracing::debug!(path = %location, table = handle.name(), "registry table not read by this version");
                }
            }
            Ok::<_, redb::Error>(records)
        })?
        .map_err(|e| classify(location, e))
    }

    fn commit(&self, changes: &[Change]) -> Result<(), RegistryError> {
        self.write(changes)
    }
}

/// Runs a redb call, turning a panic inside redb (which its debug assertions can raise on a
/// file damaged outside it) into an error naming the file.
fn guard<T>(location: &str, what: &str, f: impl FnOnce() -> T) -> Result<T, RegistryError> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_string());
        RegistryError::Corrupt {
            location: location.to_string(),
            detail: format!("redb failed {what} it ({message})"),
        }
    })
}

fn open_error(location: &str, e: redb::Error) -> RegistryError {
    match e {
        redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch => {
            RegistryError::Open {
                location: location.to_string(),
                detail:
                    "it is held open by another process (another master on this work directory?)"
                        .to_string(),
            }
        }
        redb::Error::Io(io) if !is_data_error(&io) => RegistryError::Open {
            location: location.to_string(),
            detail: io.to_string(),
        },
        other => classify(location, other),
    }
}

fn is_data_error(io: &std::io::Error) -> bool {
    matches!(
        io.kind(),
        std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
    )
}

fn classify(location: &str, e: redb::Error) -> RegistryError {
    let detail = e.to_string();
    let corrupt = match &e {
        redb::Error::Corrupted(_)
        | redb::Error::UpgradeRequired(_)
        | redb::Error::RepairAborted
        | redb::Error::TableTypeMismatch(_)
        | redb::Error::TypeDefinitionChanged(_)
        | redb::Error::TableIsMultimap(_)
        | redb::Error::TableIsNotMultimap(_) => true,
        redb::Error::Io(io) => is_data_error(io),
        _ => false,
    };
    if corrupt {
        RegistryError::Corrupt {
            location: location.to_string(),
            detail: format!("redb: {detail}"),
        }
    } else {
        RegistryError::Storage {
            location: location.to_string(),
            detail: format!("redb: {detail}"),
        }
    }
}
