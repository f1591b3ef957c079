//! The registrar: Mesos' group commit over a [`Storage`].
//!
//! [`Registrar::apply`] queues an operation. One task takes every operation queued so far as a
//! batch, applies them in order to its working copy, writes the batch's changes in one durable
//! commit and only then resolves each operation's future; operations arriving meanwhile form the
//! next batch. A failed or timed-out commit fails the whole batch and stops the registrar for
//! good (Mesos' master exits then): every later operation fails with
//! [`RegistryError::Stopped`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use meseta_api::common::MasterInfo;
use tokio::sync::{mpsc, oneshot};

use crate::error::RegistryError;
use crate::model::{Operation, Registry};
use crate::storage::{ChangeSet, Storage, decode};

/// Mesos' `--registry_fetch_timeout` and `--registry_store_timeout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegistrarOptions {
    /// How long loading the registry may take at recovery.
    pub fetch_timeout: Duration,
    /// How long one commit may take; a slower one fails its batch and stops the registrar.
    pub store_timeout: Duration,
}

impl Default for RegistrarOptions {
    fn default() -> Self {
        RegistrarOptions {
            fetch_timeout: Duration::from_secs(60),
            store_timeout: Duration::from_secs(20),
        }
    }
}

type Reply = oneshot::Sender<Result<bool, RegistryError>>;

struct Pending {
    op: Operation,
    reply: Reply,
}

/// What the registrar's task is sent.
enum Message {
    Apply(Pending),
    /// Stop after the batches before it, close the storage, then answer.
    Close(oneshot::Sender<()>),
}

struct Shared {
    /// The registry as last committed.
    durable: RwLock<Registry>,
    commits: AtomicU64,
    stopped: Mutex<Option<RegistryError>>,
    location: String,
}

/// A handle on the registrar; clones share it. The registrar's task ends when every handle is
/// dropped.
#[derive(Clone)]
pub struct Registrar {
    queue: mpsc::UnboundedSender<Message>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Registrar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registrar")
            .field("location", &self.shared.location)
            .field("commits", &self.commits())
            .finish()
    }
}

impl Registrar {
    /// Loads the registry from `storage`, durably records `master` as the leader
    /// ([`Operation::Recover`]), and starts the registrar on the current tokio runtime. Returns
    /// the registry as recovered, with default timeouts.
    pub async fn recover(
        storage: Arc<dyn Storage>,
        master: MasterInfo,
    ) -> Result<(Registrar, Registry), RegistryError> {
        Self::recover_with(storage, master, RegistrarOptions::default()).await
    }

    /// [`Registrar::recover`] with the given timeouts.
    pub async fn recover_with(
        storage: Arc<dyn Storage>,
        master: MasterInfo,
        options: RegistrarOptions,
    ) -> Result<(Registrar, Registry), RegistryError> {
        let location = storage.location().to_string();
        let loader = storage.clone();
        let records = blocking(&location, "fetch", options.fetch_timeout, move || {
            loader.load()
        })
        .await?;
        let mut registry = decode(&location, records)?;
        let mut changes = ChangeSet::new();
        Operation::Recover(master).apply(&mut registry, &mut changes)?;
        let committer = storage.clone();
        blocking(&location, "store", options.store_timeout, move || {
            committer.commit(&changes)
        })
        .await?;
        tracing::info!(
            path = %location,
            agents = registry.agents.len(),
            unreachable = registry.unreachable.len(),
            gone = registry.gone.len(),
            "registry recovered"
        );

        let shared = Arc::new(Shared {
            durable: RwLock::new(registry.clone()),
            commits: AtomicU64::new(1),
            stopped: Mutex::new(None),
            location,
        });
        let (queue, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run(
            storage,
            receiver,
            shared.clone(),
            registry.clone(),
            options,
        ));
        Ok((Registrar { queue, shared }, registry))
    }

    /// Queues `op` and resolves once its batch is durable: `Ok(true)` if it changed the registry,
    /// `Ok(false)` if it was a no-op, [`RegistryError::Refused`] if the registry's rules refused
    /// it (the rest of its batch still applies), or the batch's storage error.
    pub async fn apply(&self, op: Operation) -> Result<bool, RegistryError> {
        let (reply, answer) = oneshot::channel();
        if self
            .queue
            .send(Message::Apply(Pending { op, reply }))
            .is_err()
        {
            return Err(self.ended());
        }
        match answer.await {
            Ok(result) => result,
            Err(_) => Err(self.ended()),
        }
    }

    /// Stops the registrar once what was queued before is stored, and closes its storage (a
    /// redb file is then closed cleanly: the next master opens it without a repair). Operations
    /// applied afterwards fail with [`RegistryError::Stopped`].
    pub async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.queue.send(Message::Close(done)).is_ok() {
            let _ = closed.await;
        }
    }

    /// A copy of the registry as last committed (for `/registrar(1)/registry`).
    pub fn snapshot(&self) -> Registry {
        self.shared
            .durable
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many durable commits the registrar has made, the recovery's included.
    pub fn commits(&self) -> u64 {
        self.shared.commits.load(Ordering::Relaxed)
    }

    /// The failure that stopped the registrar, if one did.
    pub fn failure(&self) -> Option<RegistryError> {
        self.shared
            .stopped
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The storage's location (a file path, or `in_memory`).
    pub fn location(&self) -> &str {
        &self.shared.location
    }

    fn ended(&self) -> RegistryError {
        match self.failure() {
            Some(e) => RegistryError::Stopped(e.to_string()),
            None => RegistryError::Stopped("the registrar's task has ended".to_string()),
        }
    }
}

async fn run(
    storage: Arc<dyn Storage>,
    mut receiver: mpsc::UnboundedReceiver<Message>,
    shared: Arc<Shared>,
    mut working: Registry,
    options: RegistrarOptions,
) {
    let location = shared.location.clone();
    let mut failure: Option<RegistryError> = None;
    let mut closing: Option<oneshot::Sender<()>> = None;
    while closing.is_none()
        && let Some(first) = receiver.recv().await
    {
        let mut batch = Vec::new();
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Apply(pending) => batch.push(pending),
                Message::Close(done) => {
                    closing = Some(done);
                    break;
                }
            }
            next = receiver.try_recv().ok();
        }
        if batch.is_empty() {
            continue;
        }
        if let Some(e) = &failure {
            for pending in batch {
                let _ = pending
                    .reply
                    .send(Err(RegistryError::Stopped(e.to_string())));
            }
            continue;
        }

        let mut changes = ChangeSet::new();
        let results: Vec<Result<bool, RegistryError>> = batch
            .iter()
            .map(|pending| {
                pending
                    .op
                    .apply(&mut working, &mut changes)
                    .map_err(RegistryError::from)
            })
            .collect();
        let operations = batch.len();
        let written = changes.len();
        let committer = storage.clone();
        let stored = blocking(&location, "store", options.store_timeout, move || {
            committer.commit(&changes)
        })
        .await;
        match stored {
            Ok(()) => {
                shared.commits.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(path = %location, operations, records = written, "registry batch committed");
                {
                    // Bring the durable copy to the working one by the same operations (the two
                    // were equal before the batch), rather than copying the whole registry.
                    let mut durable = shared
                        .durable
                        .write()
                        .unwrap_or_else(PoisonError::into_inner);
                    let mut scratch = ChangeSet::new();
                    for (pending, result) in batch.iter().zip(&results) {
                        if result.is_ok() {
                            let _ = pending.op.apply(&mut durable, &mut scratch);
                            scratch.clear();
                        }
                    }
                }
                for (pending, result) in batch.into_iter().zip(results) {
                    let _ = pending.reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!(path = %location, operations, error = %e, "registry commit failed; the registrar stops");
                *shared
                    .stopped
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(e.clone());
                for pending in batch {
                    let _ = pending.reply.send(Err(e.clone()));
                }
                failure = Some(e);
            }
        }
    }
    // Whatever arrived after the close is refused; then the storage is dropped (closed) before
    // the closer hears back.
    receiver.close();
    while let Ok(message) = receiver.try_recv() {
        if let Message::Apply(pending) = message {
            let _ = pending.reply.send(Err(RegistryError::Stopped(
                "the registrar was closed".to_string(),
            )));
        }
    }
    let _ = tokio::task::spawn_blocking(move || drop(storage)).await;
    if let Some(done) = closing {
        let _ = done.send(());
    }
}

/// Runs a blocking storage call on tokio's blocking pool within `timeout`. A call that times out
/// keeps running; its outcome is ignored.
async fn blocking<T: Send + 'static>(
    location: &str,
    what: &'static str,
    timeout: Duration,
    call: impl FnOnce() -> Result<T, RegistryError> + Send + 'static,
) -> Result<T, RegistryError> {
    match tokio::time::timeout(timeout, tokio::task::spawn_blocking(call)).await {
        Err(_) => Err(RegistryError::Timeout {
            location: location.to_string(),
            what,
            after: timeout,
        }),
        Ok(Err(join)) => Err(RegistryError::Storage {
            location: location.to_string(),
            detail: format!("the {what} failed: {join}"),
        }),
        Ok(Ok(result)) => result,
    }
}
