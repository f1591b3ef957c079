//! The registry in ZooKeeper: an implementation of `meseta_registry::Storage` for the elected
//! master, every write fenced by its leadership.
//!
//! # Layout
//! One znode per record, so that no znode nears ZooKeeper's 1 MB limit however many agents the
//! cluster has (10,000 agents are 10,000 znodes of a few hundred bytes):
//!
//! ```text
//! <path>/registry                      persistent, empty
//! <path>/registry/<table>              one per Table (meta, master, agents, unreachable, ...)
//! <path>/registry/<table>/<key>        the record's value (JSON); the key percent-encoded
//! ```
//!
//! # Fencing
//! [`Storage::commit`] is one ZooKeeper `multi`: first a `check` of the leader's election znode
//! at the version it was created with ([`Fence`]), then the creates, sets and deletes. The znode
//! exists exactly while its session lives, and while it exists no other contender can lead, so
//! a deposed leader's late commit fails as a whole with [`RegistryError::Storage`] ("no longer
//! the leading master") instead of overwriting the new leader's registry. A batch is limited by
//! ZooKeeper's request size (`jute.maxbuffer`, 1 MB by default); the registrar's batches, a few
//! records each, are far below it, and a larger one fails whole with an error saying so.
//!
//! # Blocking
//! `Storage` is synchronous, and the master calls it from `tokio::task::spawn_blocking`. The
//! ZooKeeper client is async and its session runs on the runtime the [`ZkStorage`] was opened
//! on, so each call spawns its request onto that runtime (through the `Handle` kept at open) and
//! waits for the answer on a std channel, with a deadline. This works from `spawn_blocking` and
//! from any thread outside the runtime; it must not be called on a worker of a current-thread
//! runtime (that worker would wait for itself until the deadline).

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use meseta_registry::{Change, FORMAT_VERSION, Record, RegistryError, Storage, Table};
use zookeeper_client::{
    Client, CreateMode, Error as ClientError, MultiReadResult, MultiWriteError,
};

use crate::election::Fence;
use crate::session::{ensure_path, options};
use crate::url::ZkUrl;

/// The registry's znode under the election path.
pub const REGISTRY_NODE: &str = "registry";

/// Above this many bytes (paths and values), a batch cannot be one ZooKeeper request.
const MAX_TRANSACTION_BYTES: usize = 1_000_000 - 64 * 1024;

/// Records read per multi-read in [`Storage::load`].
const READ_BATCH: usize = 256;

/// How long one blocking call waits for ZooKeeper.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The registry under `<path>/registry`, written only while its [`Fence`]'s term lasts.
pub struct ZkStorage {
    client: Client,
    fence_znode: String,
    fence_version: i32,
    url: ZkUrl,
    root: String,
    location: String,
    runtime: tokio::runtime::Handle,
    /// The keys that exist, per table, so that a put is a create or a set. `None` when unknown
    /// (at open, or after a commit whose outcome is unknown): listed again before the next
    /// commit.
    keys: Mutex<Option<BTreeMap<Table, HashSet<String>>>>,
}

impl std::fmt::Debug for ZkStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZkStorage")
            .field("location", &self.location)
            .field("fence", &self.fence_znode)
            .finish()
    }
}

impl ZkStorage {
    /// Opens the registry under `url`'s path for the leader holding `fence`: creates its znodes
    /// if missing and writes the format version into a new registry (a fenced commit). Call it
    /// on the runtime the contender runs on; the storage keeps that runtime's handle.
    pub async fn open(url: &ZkUrl, fence: Fence) -> Result<ZkStorage, RegistryError> {
        let root = url.child(REGISTRY_NODE);
        let location = url
            .with_path(&root)
            .map_or_else(|_| format!("{url}/{REGISTRY_NODE}"), |u| u.to_string());
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| RegistryError::Open {
            location: location.clone(),
            detail: "ZkStorage::open must run on a tokio runtime".to_string(),
        })?;
        let storage = ZkStorage {
            client: fence.client,
            fence_znode: fence.znode,
            fence_version: fence.version,
            url: url.clone(),
            root,
            location,
            runtime,
            keys: Mutex::new(None),
        };
        for table in Table::ALL {
            let path = storage.table_path(table);
            ensure_path(&storage.client, url, &path)
                .await
                .map_err(|e| RegistryError::Open {
                    location: storage.location.clone(),
                    detail: e.to_string(),
                })?;
        }
        let keys = list_keys(&storage.client, &storage.root)
            .await
            .map_err(|e| RegistryError::Open {
                location: storage.location.clone(),
                detail: e,
            })?;
        let has_version = keys
            .get(&Table::Meta)
            .is_some_and(|meta| meta.contains("version"));
        store_keys(&storage.keys, Some(keys));
        if !has_version {
            let version = Record {
                table: Table::Meta,
                key: "version".to_string(),
                value: FORMAT_VERSION.to_string().into_bytes(),
            };
            let (result, keys) = storage.write(vec![Change::Put(version)]).await;
            store_keys(&storage.keys, keys);
            result?;
        }
        Ok(storage)
    }

    /// `<path>/registry`.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The election znode whose existence every commit checks.
    pub fn fence(&self) -> &str {
        &self.fence_znode
    }

    fn table_path(&self, table: Table) -> String {
        format!("{}/{}", self.root, table.name())
    }

    /// Runs `future` on the storage's runtime and waits for it (see the module's "Blocking").
    fn block<T: Send + 'static>(
        &self,
        what: &'static str,
        future: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, RegistryError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.runtime.spawn(async move {
            let _ = tx.send(future.await);
        });
        match rx.recv_timeout(CALL_TIMEOUT) {
            Ok(result) => Ok(result),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(RegistryError::Timeout {
                location: self.location.clone(),
                what,
                after: CALL_TIMEOUT,
            }),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(RegistryError::Storage {
                location: self.location.clone(),
                detail: format!("{what}: the runtime running the ZooKeeper session has stopped"),
            }),
        }
    }

    /// The fenced transaction of `changes` (see the module's "Fencing").
    ///
    /// The future's output is the outcome and the keys that exist afterwards (`None` when
    /// unknown: the transaction may or may not have been applied).
    fn write(&self, changes: Vec<Change>) -> impl Future<Output = Written> + Send + 'static {
        let client = self.client.clone();
        let fence = self.fence_znode.clone();
        let fence_version = self.fence_version;
        let root = self.root.clone();
        let location = self.location.clone();
        let create = options(&self.url, CreateMode::Persistent);
        let known = self.keys.lock().ok().and_then(|k| k.clone());
        async move {
            let storage_error = |detail: String| RegistryError::Storage {
                location: location.clone(),
                detail,
            };
            let mut keys = match known {
                Some(keys) => keys,
                None => match list_keys(&client, &root).await {
                    Ok(keys) => keys,
                    Err(e) => return (Err(storage_error(e)), None),
                },
            };
            let result = transaction(
                &client,
                &fence,
                fence_version,
                &root,
                &create,
                changes,
                &mut keys,
            )
            .await
            .map_err(|(detail, known)| (storage_error(detail), known));
            match result {
                Ok(()) => (Ok(()), Some(keys)),
                Err((error, true)) => (Err(error), Some(keys)),
                Err((error, false)) => (Err(error), None),
            }
        }
    }
}

/// A commit's outcome, and the keys that exist after it when known.
type Written = (
    Result<(), RegistryError>,
    Option<BTreeMap<Table, HashSet<String>>>,
);

/// Writes `changes` in one `multi` that first checks `fence` at `fence_version`; updates `keys`
/// on success. An error says whether nothing was written for sure (`true`) or the outcome is
/// unknown.
async fn transaction(
    client: &Client,
    fence: &str,
    fence_version: i32,
    root: &str,
    create: &zookeeper_client::CreateOptions<'static>,
    changes: Vec<Change>,
    keys: &mut BTreeMap<Table, HashSet<String>>,
) -> Result<(), (String, bool)> {
    // The last change to each key wins.
    let mut last: BTreeMap<(Table, String), Option<Vec<u8>>> = BTreeMap::new();
    for change in changes {
        match change {
            Change::Put(record) => {
                last.insert((record.table, record.key), Some(record.value));
            }
            Change::Delete { table, key } => {
                last.insert((table, key), None);
            }
        }
    }
    let mut writer = client.new_multi_writer();
    let mut ops: Vec<String> = vec![format!("check {fence}")];
    let mut bytes = fence.len();
    let add = |e: ClientError| (format!("cannot build the transaction: {e}"), true);
    writer
        .add_check_version(fence, fence_version)
        .map_err(add)?;
    for ((table, key), value) in &last {
        let path = format!("{root}/{}/{}", table.name(), escape(key));
        let exists = keys.get(table).is_some_and(|k| k.contains(key));
        bytes += path.len() + 32;
        match value {
            Some(value) => {
                bytes += value.len();
                if exists {
                    writer.add_set_data(&path, value, None).map_err(add)?;
                    ops.push(format!("set {path}"));
                } else {
                    writer.add_create(&path, value, create).map_err(add)?;
                    ops.push(format!("create {path}"));
                }
            }
            None if exists => {
                writer.add_delete(&path, None).map_err(add)?;
                ops.push(format!("delete {path}"));
            }
            None => {}
        }
    }
    if bytes > MAX_TRANSACTION_BYTES {
        return Err((
            format!(
                "a batch of {} changes is {bytes} bytes, above what one ZooKeeper \
                         transaction carries ({MAX_TRANSACTION_BYTES} bytes under the 1 MB \
                         jute.maxbuffer); nothing was written",
                last.len()
            ),
            true,
        ));
    }
    let deposed = |why: String| {
        (
            format!(
                "this master is no longer the leading master: {why}; the commit was \
                         refused so as not to overwrite the new leader's registry"
            ),
            true,
        )
    };
    match writer.commit().await {
        Ok(_) => {
            for ((table, key), value) in last {
                let set = keys.entry(table).or_default();
                if value.is_some() {
                    set.insert(key);
                } else {
                    set.remove(&key);
                }
            }
            Ok(())
        }
        Err(MultiWriteError::OperationFailed { index: 0, source }) => Err(deposed(format!(
            "its election znode {fence} is gone or was rewritten ({source})"
        ))),
        Err(MultiWriteError::OperationFailed { index, source }) => {
            let op = ops.get(index).cloned().unwrap_or_default();
            Err((
                format!("the transaction failed at `{op}` ({source}); nothing was written"),
                true,
            ))
        }
        Err(MultiWriteError::RequestFailed {
            source:
                source @ (ClientError::SessionExpired
                | ClientError::ClientClosed
                | ClientError::SessionMoved),
        }) => Err(deposed(format!(
            "its ZooKeeper session has ended ({source})"
        ))),
        Err(MultiWriteError::RequestFailed { source }) if client.state().is_terminated() => {
            Err(deposed(format!(
                "its ZooKeeper session has ended ({}; {source})",
                client.state()
            )))
        }
        Err(MultiWriteError::RequestFailed { source }) => Err((
            format!("the transaction's outcome is unknown ({source})"),
            false,
        )),
    }
}

fn store_keys(
    slot: &Mutex<Option<BTreeMap<Table, HashSet<String>>>>,
    keys: Option<BTreeMap<Table, HashSet<String>>>,
) {
    if let Ok(mut slot) = slot.lock() {
        *slot = keys;
    }
}

impl Storage for ZkStorage {
    fn location(&self) -> &str {
        &self.location
    }

    fn load(&self) -> Result<Vec<Record>, RegistryError> {
        let client = self.client.clone();
        let root = self.root.clone();
        let location = self.location.clone();
        let (records, keys) = self
            .block(
                "registry fetch",
                async move { read_all(&client, &root).await },
            )?
            .map_err(|detail| RegistryError::Storage { location, detail })?;
        store_keys(&self.keys, Some(keys));
        Ok(records)
    }

    fn commit(&self, changes: &[Change]) -> Result<(), RegistryError> {
        let write = self.write(changes.to_vec());
        // The keys are unknown until the transaction's outcome is.
        store_keys(&self.keys, None);
        let (result, keys) = self.block("registry store", write)?;
        store_keys(&self.keys, keys);
        result
    }
}

/// Every table's keys.
async fn list_keys(
    client: &Client,
    root: &str,
) -> Result<BTreeMap<Table, HashSet<String>>, String> {
    let mut keys = BTreeMap::new();
    for table in Table::ALL {
        let path = format!("{root}/{}", table.name());
        let names = match client.list_children(&path).await {
            Ok(names) => names,
            Err(ClientError::NoNode) => Vec::new(),
            Err(e) => return Err(format!("listing {path}: {e}")),
        };
        let mut set = HashSet::with_capacity(names.len());
        for name in names {
            set.insert(
                unescape(&name).ok_or_else(|| format!("{path}/{name} is not a registry key"))?,
            );
        }
        keys.insert(table, set);
    }
    Ok(keys)
}

/// Every record, and every table's keys.
async fn read_all(
    client: &Client,
    root: &str,
) -> Result<(Vec<Record>, BTreeMap<Table, HashSet<String>>), String> {
    let keys = list_keys(client, root).await?;
    let mut records = Vec::new();
    for (table, names) in &keys {
        let mut names: Vec<&String> = names.iter().collect();
        names.sort();
        for chunk in names.chunks(READ_BATCH) {
            let mut reader = client.new_multi_reader();
            let mut paths = Vec::with_capacity(chunk.len());
            for key in chunk {
                let path = format!("{root}/{}/{}", table.name(), escape(key));
                reader
                    .add_get_data(&path)
                    .map_err(|e| format!("reading {path}: {e}"))?;
                paths.push(path);
            }
            let results = reader
                .commit()
                .await
                .map_err(|e| format!("reading {} records of {root}: {e}", chunk.len()))?;
            for ((key, path), result) in chunk.iter().zip(&paths).zip(results) {
                match result {
                    MultiReadResult::Data { data, .. } => records.push(Record {
                        table: *table,
                        key: (*key).clone(),
                        value: data,
                    }),
                    // Deleted since the listing.
                    MultiReadResult::Error {
                        err: ClientError::NoNode,
                    } => {}
                    MultiReadResult::Error { err } => return Err(format!("reading {path}: {err}")),
                    other => {
                        return Err(format!("reading {path}: an unexpected answer {other:?}"));
                    }
                }
            }
        }
    }
    Ok((records, keys))
}

/// A key as a znode name: ASCII letters, digits, `-` and `_` as they are, every other byte as
/// `%XX` (so `/`, `.` and `..` cannot form paths); the empty key is `%`.
pub fn escape(key: &str) -> String {
    if key.is_empty() {
        return "%".to_string();
    }
    let mut out = String::with_capacity(key.len());
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The inverse of [`escape`]; `None` for a name it does not make.
pub fn unescape(name: &str) -> Option<String> {
    if name == "%" {
        return Some(String::new());
    }
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = name.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_escape_to_znode_names_and_back() {
        for key in [
            "",
            "6f1e2b-S12",
            "a/b/c",
            ".",
            "..",
            "eng.prod",
            "100%",
            "rôle",
            "*",
        ] {
            let name = escape(key);
            assert!(
                !name.contains('/') && name != "." && name != "..",
                "{key:?} -> {name}"
            );
            assert_eq!(unescape(&name).as_deref(), Some(key), "{key:?} -> {name}");
        }
        assert_eq!(escape("a/b"), "a%2Fb");
        assert_eq!(unescape("%zz"), None);
        assert_eq!(unescape("%2"), None);
    }
}
