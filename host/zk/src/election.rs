//! The master election, as Mesos' ZooKeeper contender and detector run it.
//!
//! A [`Contender`] joins by creating an `EPHEMERAL|SEQUENCE` znode `<path>/json.info_<seq>` whose
//! data is the master's `MasterInfo` as JSON; the member with the lowest sequence among the
//! `json.info_` children leads. A [`Detector`] watches the same children and yields the leader's
//! `MasterInfo`. Both run as a task on the tokio runtime they are started on and report through
//! a `tokio::sync::watch`.
//!
//! Leadership is given up at once ([`Candidacy::Suspended`]) when the connection to ZooKeeper
//! drops, because the session may expire on the servers (handing leadership to another) before
//! this process hears of it. It comes back if the connection returns within the session
//! timeout with the session alive; after that timeout the contender ends the session itself,
//! as Mesos does, and joins again with a new session and znode ([`Candidacy::Joining`]). An
//! expired session or a deleted znode also means joining again. A master that must stop when it
//! loses leadership (Mesos' leader exits) watches for `Leading` turning into anything else.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use meseta_api::common::MasterInfo;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use zookeeper_client::{Client, CreateMode, Error as ClientError, SessionInfo, SessionState};

use crate::error::ZkError;
use crate::session::{self, DEFAULT_SESSION_TIMEOUT, LABEL, ensure_path, leader};
use crate::url::ZkUrl;

/// Where a [`Contender`] stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Candidacy {
    /// Not a member: connecting, or joining again after a lost session or a deleted znode.
    Joining,
    /// A member through `znode`; another member leads.
    Standby { znode: String },
    /// The leader, through `znode`.
    Leading { znode: String },
    /// Disconnected with the session perhaps alive: not leading (the session may be expiring on
    /// the servers). Back to `Leading` or `Standby` on reconnection within the session timeout,
    /// `Joining` after it.
    Suspended { znode: String },
}

impl Candidacy {
    pub fn is_leading(&self) -> bool {
        matches!(self, Candidacy::Leading { .. })
    }

    /// This contender's znode, while it is a member.
    pub fn znode(&self) -> Option<&str> {
        match self {
            Candidacy::Joining => None,
            Candidacy::Standby { znode }
            | Candidacy::Leading { znode }
            | Candidacy::Suspended { znode } => Some(znode),
        }
    }
}

/// The proof of one leadership term: the leader's session and its election znode. A write
/// fenced by it ([`crate::ZkStorage`]) checks, in the same ZooKeeper transaction, that the znode
/// still exists; it exists exactly while this term lasts, since no lower sequence can appear
/// after it and ZooKeeper deletes an ephemeral znode when its session ends.
#[derive(Clone)]
pub struct Fence {
    pub(crate) client: Client,
    pub(crate) znode: String,
    /// The znode's data version when it was created (the contender never rewrites it).
    pub(crate) version: i32,
}

impl Fence {
    /// The leader's election znode, `<path>/json.info_<seq>`.
    pub fn znode(&self) -> &str {
        &self.znode
    }
}

impl std::fmt::Debug for Fence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fence")
            .field("znode", &self.znode)
            .field("session", &self.client.session_id())
            .finish()
    }
}

/// What the task shares with its [`Contender`].
struct Shared {
    fence: Mutex<Option<Fence>>,
    session: Mutex<Option<SessionInfo>>,
}

/// A master's candidacy in the election under a [`ZkUrl`]'s path. Withdraws (deletes its znode
/// and closes its session) when dropped.
pub struct Contender {
    status: watch::Receiver<Candidacy>,
    stop: watch::Sender<bool>,
    shared: Arc<Shared>,
    task: Option<JoinHandle<()>>,
    url: ZkUrl,
}

impl std::fmt::Debug for Contender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Contender")
            .field("url", &self.url)
            .field("candidacy", &*self.status.borrow())
            .finish()
    }
}

impl Contender {
    /// Joins the election under `url`'s path with `info` as the znode's data, with Mesos'
    /// default session timeout. Returns at once; the candidacy is reported by
    /// [`Contender::watch`]. Must be called within a tokio runtime.
    pub fn start(url: ZkUrl, info: &MasterInfo) -> Result<Contender, ZkError> {
        Contender::with_session_timeout(url, info, DEFAULT_SESSION_TIMEOUT)
    }

    /// [`Contender::start`] with `--zk_session_timeout`.
    pub fn with_session_timeout(
        url: ZkUrl,
        info: &MasterInfo,
        session_timeout: Duration,
    ) -> Result<Contender, ZkError> {
        let data = serde_json::to_vec(info).map_err(|e| ZkError::Encode(e.to_string()))?;
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| ZkError::Stopped("runtime"))?;
        let (status_tx, status) = watch::channel(Candidacy::Joining);
        let (stop, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            fence: Mutex::new(None),
            session: Mutex::new(None),
        });
        let task = ContenderTask {
            url: url.clone(),
            data,
            timeout: session_timeout,
            status: status_tx,
            shared: shared.clone(),
            stop: stop_rx,
        };
        let task = runtime.spawn(task.run());
        Ok(Contender {
            status,
            stop,
            shared,
            task: Some(task),
            url,
        })
    }

    /// The candidacy, following changes.
    pub fn watch(&self) -> watch::Receiver<Candidacy> {
        self.status.clone()
    }

    /// The candidacy now.
    pub fn candidacy(&self) -> Candidacy {
        self.status.borrow().clone()
    }

    pub fn is_leading(&self) -> bool {
        self.status.borrow().is_leading()
    }

    /// Waits until this contender leads; its fence.
    pub async fn leading(&self) -> Result<Fence, ZkError> {
        let mut status = self.status.clone();
        loop {
            status
                .wait_for(Candidacy::is_leading)
                .await
                .map_err(|_| ZkError::Stopped("contender"))?;
            if let Some(fence) = self.fence() {
                return Ok(fence);
            }
            status
                .changed()
                .await
                .map_err(|_| ZkError::Stopped("contender"))?;
        }
    }

    /// The fence of the current leadership term, while leading.
    pub fn fence(&self) -> Option<Fence> {
        if !self.is_leading() {
            return None;
        }
        self.shared.fence.lock().ok().and_then(|f| f.clone())
    }

    /// The current ZooKeeper session (id and password), while there is one.
    pub fn session(&self) -> Option<SessionInfo> {
        self.shared.session.lock().ok().and_then(|s| s.clone())
    }

    /// Leaves the election: deletes the znode and closes the session, then returns.
    pub async fn withdraw(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Contender {
    fn drop(&mut self) {
        // The task withdraws on its own once it sees the stop.
        let _ = self.stop.send(true);
    }
}

/// Why a session's membership ended.
enum End {
    Stopped,
    Lost(String),
}

struct ContenderTask {
    url: ZkUrl,
    data: Vec<u8>,
    timeout: Duration,
    status: watch::Sender<Candidacy>,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
}

impl ContenderTask {
    async fn run(mut self) {
        let mut backoff = Backoff::default();
        loop {
            if *self.stop.borrow() {
                return;
            }
            let connected = tokio::select! {
                connected = session::connect(&self.url, self.timeout) => connected,
                _ = self.stop.changed() => return,
            };
            let client = match connected {
                Ok(client) => client,
                Err(e) => {
                    tracing::warn!(error = %e, "ZooKeeper contender cannot connect; retrying");
                    if backoff.wait(&mut self.stop).await {
                        return;
                    }
                    continue;
                }
            };
            let mut stop = self.stop.clone();
            let joined = tokio::select! {
                joined = self.join(&client) => joined,
                _ = stop.changed() => return,
            };
            let (znode, version) = match joined {
                Ok(joined) => joined,
                Err(e) => {
                    // The session is dropped with whatever it created.
                    tracing::warn!(error = %e, "ZooKeeper contender cannot join the election; retrying");
                    if backoff.wait(&mut self.stop).await {
                        return;
                    }
                    continue;
                }
            };
            backoff = Backoff::default();
            if let Ok(mut session) = self.shared.session.lock() {
                *session = Some(client.session().clone());
            }
            tracing::info!(url = %self.url, %znode, session = %client.session_id(), "joined the master election");
            let end = self.follow(&client, &znode, version).await;
            self.set(Candidacy::Joining, None);
            if let Ok(mut session) = self.shared.session.lock() {
                *session = None;
            }
            match end {
                End::Stopped => {
                    let deleted = client.delete(&znode, None);
                    let _ = tokio::time::timeout(Duration::from_secs(2), deleted).await;
                    tracing::info!(%znode, "left the master election");
                    return;
                }
                End::Lost(why) => {
                    tracing::warn!(%znode, "lost the election membership ({why}); joining again");
                }
            }
        }
    }

    async fn join(&self, client: &Client) -> Result<(String, i32), ZkError> {
        ensure_path(client, &self.url, &self.url.path).await?;
        let prefix = self.url.child(&format!("{LABEL}_"));
        let options = session::options(&self.url, CreateMode::EphemeralSequential);
        let (stat, sequence) = client
            .create(&prefix, &self.data, &options)
            .await
            .map_err(ZkError::request("create", &prefix))?;
        Ok((format!("{prefix}{sequence}"), stat.version))
    }

    fn set(&self, candidacy: Candidacy, fence: Option<Fence>) {
        if let Ok(mut slot) = self.shared.fence.lock() {
            *slot = fence;
        }
        self.status.send_if_modified(|now| {
            if *now == candidacy {
                false
            } else {
                tracing::info!(?candidacy, "master election");
                *now = candidacy;
                true
            }
        });
    }

    /// Follows the membership of one session until it ends.
    async fn follow(&mut self, client: &Client, znode: &str, version: i32) -> End {
        let name = znode.rsplit('/').next().unwrap_or(znode).to_string();
        let mut state = client.state_watcher();
        loop {
            let listed = tokio::select! {
                listed = client.list_and_watch_children(&self.url.path) => listed,
                _ = self.stop.changed() => return End::Stopped,
            };
            match listed {
                Ok((children, watcher)) => {
                    if !children.contains(&name) {
                        return End::Lost(format!("its znode {znode} was deleted"));
                    }
                    if leader(&children).is_some_and(|m| m.name == name) {
                        let fence = Fence {
                            client: client.clone(),
                            znode: znode.to_string(),
                            version,
                        };
                        self.set(
                            Candidacy::Leading {
                                znode: znode.to_string(),
                            },
                            Some(fence),
                        );
                    } else {
                        self.set(
                            Candidacy::Standby {
                                znode: znode.to_string(),
                            },
                            None,
                        );
                    }
                    tokio::select! {
                        _ = watcher.changed() => {}
                        now = state.changed() => {
                            if let Some(end) = self.on_state(now, &mut state, znode).await {
                                return end;
                            }
                        }
                        _ = self.stop.changed() => return End::Stopped,
                    }
                }
                Err(ClientError::ConnectionLoss) => {
                    if let Some(end) = self
                        .on_state(SessionState::Disconnected, &mut state, znode)
                        .await
                    {
                        return end;
                    }
                }
                Err(e) => return End::Lost(format!("listing {}: {e}", self.url.path)),
            }
        }
    }

    /// Handles a session state; `Some` when the membership ends.
    async fn on_state(
        &mut self,
        now: SessionState,
        state: &mut zookeeper_client::StateWatcher,
        znode: &str,
    ) -> Option<End> {
        match now {
            SessionState::SyncConnected | SessionState::ConnectedReadOnly => None,
            SessionState::Disconnected => {
                self.set(
                    Candidacy::Suspended {
                        znode: znode.to_string(),
                    },
                    None,
                );
                let deadline = Instant::now() + self.timeout;
                loop {
                    if state.peek_state() == SessionState::SyncConnected {
                        return None;
                    }
                    tokio::select! {
                        now = state.changed() => match now {
                            SessionState::SyncConnected => return None,
                            s if s.is_terminated() => return Some(End::Lost(format!("session {s}"))),
                            _ => {}
                        },
                        _ = tokio::time::sleep_until(deadline) => {
                            return Some(End::Lost(format!(
                                "disconnected from ZooKeeper for longer than the session timeout \
                                 ({:?}): the session is given up, as Mesos does",
                                self.timeout
                            )));
                        }
                        _ = self.stop.changed() => return Some(End::Stopped),
                    }
                }
            }
            other => Some(End::Lost(format!("session {other}"))),
        }
    }
}

/// Retry delays: 100 ms doubling to 2 s.
struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Backoff(Duration::from_millis(100))
    }
}

impl Backoff {
    /// Waits the next delay; true when stopped meanwhile.
    async fn wait(&mut self, stop: &mut watch::Receiver<bool>) -> bool {
        let delay = self.0;
        self.0 = (self.0 * 2).min(Duration::from_secs(2));
        tokio::select! {
            _ = tokio::time::sleep(delay) => *stop.borrow(),
            _ = stop.changed() => true,
        }
    }
}

/// Follows the election under a [`ZkUrl`]'s path: the leading master's `MasterInfo`, or none.
/// Stops when dropped.
pub struct Detector {
    leader: watch::Receiver<Option<MasterInfo>>,
    _stop: watch::Sender<bool>,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("leader", &*self.leader.borrow())
            .finish()
    }
}

impl Detector {
    /// Starts following with Mesos' default session timeout. Must be called within a tokio
    /// runtime.
    pub fn start(url: ZkUrl) -> Result<Detector, ZkError> {
        Detector::with_session_timeout(url, DEFAULT_SESSION_TIMEOUT)
    }

    /// [`Detector::start`] with a session timeout: how long a lost connection may last before
    /// the leader is reported unknown.
    pub fn with_session_timeout(
        url: ZkUrl,
        session_timeout: Duration,
    ) -> Result<Detector, ZkError> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| ZkError::Stopped("runtime"))?;
        let (leader_tx, leader) = watch::channel(None);
        let (stop, stop_rx) = watch::channel(false);
        let task = DetectorTask {
            url,
            timeout: session_timeout,
            leader: leader_tx,
            stop: stop_rx,
        };
        runtime.spawn(task.run());
        Ok(Detector {
            leader,
            _stop: stop,
        })
    }

    /// The leader now, as last seen.
    pub fn leader(&self) -> Option<MasterInfo> {
        self.leader.borrow().clone()
    }

    /// The leader, following changes (each change is one new value).
    pub fn watch(&self) -> watch::Receiver<Option<MasterInfo>> {
        self.leader.clone()
    }

    /// Mesos' `detect(previous)`: waits until the leader differs from `previous`; the new one.
    pub async fn detect(&self, previous: Option<&MasterInfo>) -> Option<MasterInfo> {
        let mut leader = self.leader.clone();
        match leader.wait_for(|now| now.as_ref() != previous).await {
            Ok(now) => now.clone(),
            Err(_) => None,
        }
    }
}

struct DetectorTask {
    url: ZkUrl,
    timeout: Duration,
    leader: watch::Sender<Option<MasterInfo>>,
    stop: watch::Receiver<bool>,
}

impl DetectorTask {
    fn publish(&self, leader: Option<MasterInfo>) {
        self.leader.send_if_modified(|now| {
            if *now == leader {
                false
            } else {
                tracing::info!(leader = ?leader.as_ref().map(|l| (&l.id, &l.hostname, l.port)), "detected a new leading master");
                *now = leader;
                true
            }
        });
    }

    async fn run(mut self) {
        let mut backoff = Backoff::default();
        loop {
            let connected = tokio::select! {
                connected = session::connect(&self.url, self.timeout) => connected,
                _ = self.stop.changed() => return,
            };
            let client = match connected {
                Ok(client) => client,
                Err(e) => {
                    tracing::warn!(error = %e, "ZooKeeper detector cannot connect; retrying");
                    self.publish(None);
                    if backoff.wait(&mut self.stop).await {
                        return;
                    }
                    continue;
                }
            };
            backoff = Backoff::default();
            match self.follow(&client).await {
                End::Stopped => return,
                End::Lost(why) => {
                    tracing::warn!("ZooKeeper detector lost its session ({why}); reconnecting");
                }
            }
        }
    }

    async fn follow(&mut self, client: &Client) -> End {
        let path = self.url.path.clone();
        let mut state = client.state_watcher();
        loop {
            let listed = tokio::select! {
                listed = client.list_and_watch_children(&path) => listed,
                _ = self.stop.changed() => return End::Stopped,
            };
            let watcher = match listed {
                Ok((children, watcher)) => {
                    let leader = match leader(&children) {
                        None => None,
                        Some(member) => {
                            let znode = self.url.child(&member.name);
                            match client.get_data(&znode).await {
                                Ok((data, _)) => {
                                    match serde_json::from_slice::<MasterInfo>(&data) {
                                        Ok(info) => Some(info),
                                        Err(e) => {
                                            tracing::warn!(%znode, error = %e, "the leading master's znode does not hold a MasterInfo");
                                            None
                                        }
                                    }
                                }
                                // Gone meanwhile: the children watch fires.
                                Err(ClientError::NoNode) => None,
                                Err(ClientError::ConnectionLoss) => None,
                                Err(e) => return End::Lost(format!("reading {znode}: {e}")),
                            }
                        }
                    };
                    self.publish(leader);
                    Some(watcher)
                }
                Err(ClientError::NoNode) => {
                    // No election yet: wait for the path to appear.
                    self.publish(None);
                    match client.check_and_watch_stat(&path).await {
                        Ok((Some(_), _)) => continue,
                        Ok((None, watcher)) => {
                            tokio::select! {
                                _ = watcher.changed() => continue,
                                _ = self.stop.changed() => return End::Stopped,
                            }
                        }
                        Err(ClientError::ConnectionLoss) => None,
                        Err(e) => return End::Lost(format!("watching {path}: {e}")),
                    }
                }
                Err(ClientError::ConnectionLoss) => None,
                Err(e) => return End::Lost(format!("listing {path}: {e}")),
            };
            let now = match watcher {
                Some(watcher) => tokio::select! {
                    _ = watcher.changed() => continue,
                    now = state.changed() => now,
                    _ = self.stop.changed() => return End::Stopped,
                },
                None => state.peek_state(),
            };
            match now {
                SessionState::SyncConnected | SessionState::ConnectedReadOnly => {}
                SessionState::Disconnected => {
                    // The last leader stands until the session would have expired.
                    let mut deadline = Some(Instant::now() + self.timeout);
                    loop {
                        if state.peek_state() == SessionState::SyncConnected {
                            break;
                        }
                        let expiry = async {
                            match deadline {
                                Some(at) => tokio::time::sleep_until(at).await,
                                None => std::future::pending().await,
                            }
                        };
                        tokio::select! {
                            now = state.changed() => {
                                if now.is_terminated() {
                                    self.publish(None);
                                    return End::Lost(format!("session {now}"));
                                }
                            }
                            _ = expiry => {
                                deadline = None;
                                self.publish(None);
                            }
                            _ = self.stop.changed() => return End::Stopped,
                        }
                    }
                }
                other => {
                    self.publish(None);
                    return End::Lost(format!("session {other}"));
                }
            }
        }
    }
}
