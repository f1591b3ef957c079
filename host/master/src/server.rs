//! The master's HTTP server: the v1 scheduler API, the agents' side of the master–agent
//! protocol, and the operator endpoints; plus the timers (allocation, offer timeout, failover
//! expiry, agent pings).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use meseta_api::common::FrameworkID;
use meseta_api::internal as wire;
use meseta_api::scheduler::{Call, CallKind, Event};
use meseta_registry::{Operation, Registrar};
use meseta_runtime::LoadedModule;
use tokio::sync::{mpsc, oneshot};

use crate::agents::{self, HttpClient};
use crate::allocator::{AllocatorChoice, AllocatorDriver, AllocatorSource, AllocatorView, Swap};
use crate::core::{
    self, Clock, Core, Input, MasterError, OperatorSubscriber, Quota, Refusal, Refused, Reply,
    Settings,
};
use crate::effector::{Effector, Job, PreparedStreams, record};
use crate::security::{Approver, Authentication, Authz, Visibility};
use crate::shadow::{ShadowBoard, Shadows};
use crate::{ha, hooks, operator};
use meseta_http::auth::{Principal, in_realm};
use meseta_types::authorization::{Action, Object};

/// The Mesos version `/version` reports: numeric and dotted, as clients parse it with `int()`.
pub const MESOS_VERSION: &str = "1.11.0";

/// The master's settings, with Mesos' flag names and defaults.
#[derive(Clone)]
pub struct MasterConfig {
    /// `--ip`/`--port`; port 0 picks a free one.
    pub listen: SocketAddr,
    /// `--hostname`; the listen ip when absent.
    pub hostname: Option<String>,
    /// `--http_max_connections`, `--http_header_read_timeout`, `--http_idle_timeout`,
    /// `--http_max_body_size`: what the master's HTTP server accepts.
    pub http: meseta_http::Limits,
    /// Interval of HEARTBEAT events (clients drop a stream after 10 s of silence).
    pub heartbeat_interval: Duration,
    /// `--allocation_interval` (1 s).
    pub allocation_interval: Duration,
    /// `--offer_timeout` (none).
    pub offer_timeout: Option<Duration>,
    /// `--agent_ping_timeout` (15 s).
    pub agent_ping_timeout: Duration,
    /// `--max_agent_ping_timeouts` (5).
    pub max_agent_ping_timeouts: u32,
    /// `--agent_reregister_timeout` (10 min): agents admitted by an earlier master that do
    /// not re-register with this one by then are marked unreachable.
    pub agent_reregister_timeout: Duration,
    /// `--registry`: where admitted, unreachable and gone agents, weights and quota survive a
    /// restart. The library's default is `in_memory`; `meseta master` defaults to the redb
    /// file under `work_dir`.
    pub registry: meseta_registry::Backend,
    /// `--work_dir`: the master's own directory (the registry file lives there).
    pub work_dir: Option<std::path::PathBuf>,
    /// `--registry_fetch_timeout` / `--registry_store_timeout` (60 s / 20 s).
    pub registry_fetch_timeout: Duration,
    pub registry_store_timeout: Duration,
    /// `--registry_gc_interval` (15 min), `--registry_max_agent_age` (2 weeks),
    /// `--registry_max_agent_count` (102,400): the unreachable and gone lists are pruned.
    pub registry_gc_interval: Duration,
    pub registry_max_agent_age: Duration,
    pub registry_max_agent_count: usize,
    /// `--recovery_agent_removal_limit` (100%, as a fraction): when more of the recovered agents
    /// than this fail to re-register in time, the master stops instead of marking them
    /// unreachable (something is wrong with the network, not the agents).
    pub recovery_agent_removal_limit: f64,
    /// `--roles`: when set, the only roles frameworks may use (besides `*`).
    pub roles: Option<Vec<String>>,
    /// `--weights`: `role=weight` pairs.
    pub weights: Vec<(String, f64)>,
    /// `--min_allocatable_resources` (`cpus:0.01|mem:32`).
    pub min_allocatable_resources: String,
    /// `--role_sorter` (and `--framework_sorter`): `drf` or `random`.
    pub sorter: meseta_types::allocation::Sorter,
    /// The allocator module (`None`: the native hierarchical DRF).
    pub allocator: Option<Arc<LoadedModule>>,
    /// Every loaded module, for `/master/modules` and the metrics.
    pub modules: Vec<Arc<LoadedModule>>,
    /// `--hooks`: the master-hooks modules, in order (none by default).
    pub hooks: Arc<meseta_hooks::MasterHookChain>,
    /// The flags as given, for `/master/flags`.
    pub flags: Vec<(String, String)>,
    /// `--zk`: contend for leadership with the other masters under this ZooKeeper path, and keep
    /// the registry there (`--registry` and `--work_dir` then do not hold it).
    pub zk: Option<meseta_zk::ZkUrl>,
    /// `--zk_session_timeout` (10 s).
    pub zk_session_timeout: Duration,
    /// Finds the allocator an operator swaps in by name (or module file path): the daemon's
    /// module list and the modules built into the binary (`None`: swaps are refused).
    pub allocators: Option<AllocatorResolver>,
    /// `--shadow_allocators`: candidates that run beside the live allocator from the start
    /// (see [`crate::shadow`]), resolved as `SWAP_ALLOCATOR` resolves a name.
    pub shadow_allocators: Vec<(AllocatorChoice, AllocatorSource)>,
    /// `--credentials` and `--authenticate_*`: which realms require credentials.
    pub authentication: Authentication,
    /// `--authorizers` / `--acls`: who may do and see what.
    pub authz: Authz,
}

/// Resolves `SWAP_ALLOCATOR`'s `allocator` (a name, `hierarchical`, or a component file path),
/// in its `manifest` when it names one.
pub type AllocatorResolver =
    Arc<dyn Fn(&AllocatorSource) -> Result<AllocatorChoice, String> + Send + Sync>;

impl Default for MasterConfig {
    fn default() -> Self {
        MasterConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 5050)),
            hostname: None,
            http: meseta_http::Limits::default(),
            heartbeat_interval: Duration::from_secs(5),
            allocation_interval: Duration::from_secs(1),
            offer_timeout: None,
            agent_ping_timeout: Duration::from_secs(15),
            max_agent_ping_timeouts: 5,
            agent_reregister_timeout: Duration::from_secs(600),
            registry: meseta_registry::Backend::InMemory,
            work_dir: None,
            registry_fetch_timeout: Duration::from_secs(60),
            registry_store_timeout: Duration::from_secs(20),
            registry_gc_interval: Duration::from_secs(15 * 60),
            registry_max_agent_age: meseta_registry::DEFAULT_MAX_AGENT_AGE,
            registry_max_agent_count: meseta_registry::DEFAULT_MAX_AGENT_COUNT,
            recovery_agent_removal_limit: 1.0,
            roles: None,
            weights: Vec::new(),
            min_allocatable_resources: "cpus:0.01|mem:32".into(),
            sorter: meseta_types::allocation::Sorter::Drf,
            allocator: None,
            modules: Vec::new(),
            hooks: Arc::default(),
            flags: Vec::new(),
            zk: None,
            zk_session_timeout: meseta_zk::DEFAULT_SESSION_TIMEOUT,
            allocators: None,
            shadow_allocators: Vec::new(),
            authentication: Authentication::default(),
            authz: Authz::default(),
        }
    }
}

/// Parses `--min_allocatable_resources`: `cpus:0.01|mem:32`, alternatives separated by `|`,
/// each a `;`-separated list of scalar `name:value`.
pub fn parse_min_allocatable(text: &str) -> Result<Vec<Vec<(String, f64)>>, String> {
    let mut out = Vec::new();
    for alt in text.split('|').map(str::trim).filter(|a| !a.is_empty()) {
        let mut entry = Vec::new();
        for part in alt.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once(':').ok_or_else(|| {
                format!("--min_allocatable_resources: '{part}' is not 'name:value'")
            })?;
            let v: f64 = value.trim().parse().map_err(|_| {
                format!("--min_allocatable_resources: '{value}' in '{part}' is not a number")
            })?;
            if !v.is_finite() || v < 0.0 {
                return Err(format!(
                    "--min_allocatable_resources: '{part}' must be a non-negative number"
                ));
            }
            entry.push((name.trim().to_string(), v));
        }
        out.push(entry);
    }
    Ok(out)
}

/// What every handler and timer of the master shares.
#[derive(Clone)]
pub struct Shared {
    core: Arc<Mutex<Core>>,
    /// The effector's jobs: effect batches and allocation rounds.
    effector: std::sync::mpsc::Sender<Job>,
    prepared: PreparedStreams,
    allocator: Arc<Mutex<AllocatorView>>,
    allocate_soon: Arc<crate::effector::AllocateSoon>,
    hooks: Arc<meseta_hooks::MasterHookChain>,
    modules: Arc<Vec<Arc<LoadedModule>>>,
    allocators: Option<AllocatorResolver>,
    /// The shadow allocators' reports.
    shadows: ShadowBoard,
    client: HttpClient,
    registrar: Registrar,
    /// Set when the master cannot go on (its registry failed, too many agents did not come
    /// back): [`Master::failed`] resolves with it.
    failure: Arc<tokio::sync::watch::Sender<Option<String>>>,
    /// The leading master's timers, stopped when it stops leading.
    loops: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    authentication: Arc<Authentication>,
    pub(crate) authz: Authz,
}

impl Shared {
    fn fail(&self, why: String) {
        tracing::error!(%why, "the master cannot go on");
        self.failure.send_replace(Some(why));
    }

    /// What `principal` may see of the state, decided now.
    fn visibility(&self, principal: &Principal) -> Visibility {
        self.read(|core| Visibility::of(&self.authz, principal.0.as_deref(), core))
    }

    /// `Err(403)` with the reason unless `principal` may `action` on `object`.
    fn authorize(
        &self,
        principal: &Principal,
        action: Action,
        object: Object,
    ) -> Result<(), MasterError> {
        self.authz
            .require(principal.0.as_deref(), action, object)
            .map_err(MasterError::Forbidden)
    }

    fn lock(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies `input` to the core under the state lock; its effects go to the effector once
    /// the lock is released.
    pub fn execute(&self, input: Input) -> Result<Reply, MasterError> {
        let (result, batch) = {
            let mut core = self.lock();
            let result = core.handle(input, Clock::now());
            (result, core.take_batch())
        };
        if let Some((seq, effects)) = batch {
            let _ = self.effector.send(Job::Effects { seq, effects });
        }
        result
    }

    /// Reads the core under the state lock.
    /// Stores a registry operation; the change takes effect once this returns `Ok`.
    pub(crate) async fn store(&self, op: Operation) -> Result<(), MasterError> {
        self.registrar.apply(op).await?;
        Ok(())
    }

    pub fn read<R>(&self, f: impl FnOnce(&Core) -> R) -> R {
        f(&self.lock())
    }

    /// Stops acting as the leading master: the timers stop and every subscription stream ends.
    pub fn abdicate(&self) {
        if let Ok(mut loops) = self.loops.lock() {
            for l in loops.drain(..) {
                l.abort();
            }
        }
        let _ = self.effector.send(Job::CloseStreams);
    }

    /// The allocator as of its last round.
    pub fn allocator(&self) -> AllocatorView {
        self.allocator
            .lock()
            .map(|v| v.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Swaps the live allocator for `choice` between two rounds (see
    /// [`crate::allocator::AllocatorDriver::swap`]): the swap's record, or why it was refused.
    pub async fn swap_allocator(
        &self,
        choice: AllocatorChoice,
        source: AllocatorSource,
    ) -> Result<Swap, MasterError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.effector
            .send(Job::SwapAllocator {
                choice,
                source,
                reply,
            })
            .map_err(|_| MasterError::Fatal("the effector has stopped".into()))?;
        let (outcome, record) = answer
            .await
            .map_err(|_| MasterError::Fatal("the effector has stopped".into()))?;
        // Durable before it is answered, as weights and quota are.
        if let Some(record) = record {
            self.registrar
                .apply(Operation::SetAllocator(record))
                .await?;
        }
        match outcome {
            Ok(swap) => Ok(swap),
            Err(refused) => Err(MasterError::Invalid(format!(
                "the allocator swap from '{}' to '{}' was refused: {}; '{}' stays",
                refused.from,
                refused.to,
                refused.reason.unwrap_or_default(),
                refused.from
            ))),
        }
    }

    /// Starts a shadow allocator beside the live one (see [`crate::shadow`]); answers once it
    /// took the cluster's state.
    pub async fn add_shadow(
        &self,
        choice: AllocatorChoice,
        source: AllocatorSource,
    ) -> Result<crate::shadow::ShadowReport, MasterError> {
        let name = crate::allocator::choice_name(&choice);
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.effector
            .send(Job::AddShadow {
                choice,
                source,
                reply,
            })
            .map_err(|_| MasterError::Fatal("the effector has stopped".into()))?;
        let started = answer
            .await
            .map_err(|_| MasterError::Fatal("the effector has stopped".into()))?;
        started.map_err(MasterError::Invalid)?;
        crate::shadow::reports(&self.shadows)
            .into_iter()
            .find(|r| r.name == name)
            .ok_or_else(|| MasterError::Invalid(format!("shadow allocator '{name}' stopped")))
    }

    /// Stops the shadow allocator `name`.
    pub async fn remove_shadow(&self, name: &str) -> Result<(), MasterError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.effector
            .send(Job::RemoveShadow {
                name: name.to_string(),
                reply,
            })
            .map_err(|_| MasterError::Fatal("the effector has stopped".into()))?;
        let removed = answer
            .await
            .map_err(|_| MasterError::Fatal("the effector has stopped".into()))?;
        if removed {
            return Ok(());
        }
        let running: Vec<String> = crate::shadow::reports(&self.shadows)
            .into_iter()
            .map(|r| r.name)
            .collect();
        Err(MasterError::Invalid(format!(
            "no shadow allocator named '{name}' runs (running: {})",
            if running.is_empty() {
                "none".to_string()
            } else {
                running.join(", ")
            }
        )))
    }

    /// The shadow allocators' reports.
    pub fn shadows(&self) -> Vec<crate::shadow::ShadowReport> {
        crate::shadow::reports(&self.shadows)
    }
}

/// Why the master could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Config(String),
    #[error("allocator module: {0}")]
    Allocator(#[from] meseta_runtime::LoadError),
    #[error("registry: {0}")]
    Registry(#[from] meseta_registry::RegistryError),
    #[error("cannot start the effector thread: {0}")]
    Thread(std::io::Error),
}

/// A running master.
pub struct Master {
    address: SocketAddr,
    /// The leading master's state: from the start without `--zk`; while this master leads with.
    leading: ha::Leading,
    failure: Arc<tokio::sync::watch::Sender<Option<String>>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// What a master is before it leads.
#[derive(Clone)]
struct Identity {
    master_id: String,
    address: SocketAddr,
    hostname: String,
    settings: Settings,
}

impl Master {
    /// Binds the listening socket, starts the allocator and the timers, and serves until
    /// [`Master::stop`]. With `--zk`, the master contends in the election first and stands by
    /// (redirecting to the leader) until it leads.
    pub async fn start(config: MasterConfig) -> Result<Master, StartError> {
        // LIBPROCESS_SSL_*: a bad TLS configuration stops the master before it listens.
        meseta_http::tls::process().map_err(StartError::Config)?;
        let min_allocatable =
            parse_min_allocatable(&config.min_allocatable_resources).map_err(StartError::Config)?;
        for (role, w) in &config.weights {
            core::validate_role(role).map_err(|e| StartError::Config(format!("--weights: {e}")))?;
            if !w.is_finite() || *w <= 0.0 {
                return Err(StartError::Config(format!(
                    "--weights: the weight of role '{role}' must be a positive number, got {w}"
                )));
            }
        }
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| StartError::Bind {
                address: config.listen,
                source,
            })?;
        let address = listener.local_addr().map_err(|source| StartError::Bind {
            address: config.listen,
            source,
        })?;
        let hostname = config
            .hostname
            .clone()
            .unwrap_or_else(|| address.ip().to_string());
        let identity = Identity {
            master_id: uuid::Uuid::new_v4().to_string(),
            address,
            hostname,
            settings: Settings {
                allocation_interval: config.allocation_interval,
                offer_timeout: config.offer_timeout,
                agent_ping_timeout: config.agent_ping_timeout,
                max_agent_ping_timeouts: config.max_agent_ping_timeouts.max(1),
                heartbeat_interval: config.heartbeat_interval,
                roles: config.roles.clone(),
                min_allocatable,
                sorter: config.sorter,
                agent_reregister_timeout: config.agent_reregister_timeout,
                recovery_agent_removal_limit: config.recovery_agent_removal_limit,
            },
        };
        let failure = Arc::new(tokio::sync::watch::channel(None).0);
        let leading: ha::Leading = Arc::default();
        let mut tasks = Vec::new();
        let app = match &config.zk {
            None => {
                let storage = open_storage(&config).await?;
                let shared = lead(&config, &identity, storage, failure.clone()).await?;
                let routes = routes(shared.clone());
                if let Ok(mut l) = leading.write() {
                    *l = Some((shared, routes.clone()));
                }
                routes
            }
            Some(url) => {
                let info = core::master_info(&identity.master_id, address, &identity.hostname);
                let contender = meseta_zk::Contender::with_session_timeout(
                    url.clone(),
                    &info,
                    config.zk_session_timeout,
                )
                .map_err(|e| StartError::Config(format!("--zk {url}: {e}")))?;
                let detector =
                    ha::detect(url, config.zk_session_timeout).map_err(StartError::Config)?;
                let front = ha::Front {
                    leading: leading.clone(),
                    leader: detector.watch(),
                    elected: Arc::new(tokio::sync::watch::channel(false).0),
                    flags: Arc::new(config.flags.clone()),
                    started: std::time::Instant::now(),
                };
                let (cfg, id, fail) = (config.clone(), identity.clone(), failure.clone());
                let url = url.clone();
                let campaign_front = front.clone();
                tasks.push(tokio::spawn(async move {
                    let _detector = detector;
                    ha::campaign(
                        url,
                        contender,
                        campaign_front,
                        fail.clone(),
                        |storage| async move {
                            lead(&cfg, &id, storage, fail)
                                .await
                                .map_err(|e| format!("cannot lead: {e}"))
                        },
                    )
                    .await;
                }));
                tracing::info!(%address, zk = %url_text(&config), "master contending for leadership");
                ha::router(front)
            }
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(meseta_http::serve(listener, app, config.http, async {
            let _ = rx.await;
        }));
        Ok(Master {
            address,
            leading,
            failure,
            shutdown: Some(tx),
            server: Some(server),
            tasks,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Resolves when the master cannot go on (its registry failed, more agents than
    /// `--recovery_agent_removal_limit` did not re-register after a restart, or it lost its
    /// leadership), with why. As in Mesos, the daemon then exits rather than serve a cluster it
    /// can no longer keep durable.
    pub async fn failed(&self) -> String {
        let mut rx = self.failure.subscribe();
        match rx.wait_for(Option::is_some).await {
            Ok(why) => why.clone().unwrap_or_default(),
            Err(_) => std::future::pending().await,
        }
    }

    /// The leading master's state, when this master leads.
    fn shared(&self) -> Option<Shared> {
        self.leading
            .read()
            .ok()
            .and_then(|l| l.as_ref().map(|(s, _)| s.clone()))
    }

    /// Whether this master leads (always, without `--zk`).
    pub fn is_leading(&self) -> bool {
        self.shared().is_some()
    }

    /// The subscribed frameworks: (id, name), sorted by id (none while standing by).
    pub fn frameworks(&self) -> Vec<(String, String)> {
        let Some(shared) = self.shared() else {
            return Vec::new();
        };
        let mut out: Vec<(String, String)> = shared.read(|core| {
            core.frameworks
                .iter()
                .map(|(id, f)| (id.clone(), f.info.name.clone()))
                .collect()
        });
        out.sort();
        out
    }

    /// `/master/state` as a value (`null` while standing by).
    pub fn state(&self) -> serde_json::Value {
        let Some(shared) = self.shared() else {
            return serde_json::Value::Null;
        };
        let allocator = shared.allocator();
        shared.read(|core| operator::state(core, &allocator))
    }

    /// Ends every subscription stream and stops serving.
    pub async fn stop(mut self) {
        let shared = self.shared();
        if let Some(shared) = &shared {
            let _ = shared.effector.send(Job::CloseStreams);
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        for t in self.tasks.drain(..) {
            t.abort();
        }
        if let Some(shared) = &shared {
            shared.abdicate();
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        }
        // The registry file is closed cleanly: the next master opens it without a repair.
        if let Some(shared) = shared {
            shared.registrar.close().await;
        }
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Some(shared) = self.shared() {
            shared.abdicate();
        }
        if let Some(server) = &self.server {
            server.abort();
        }
    }
}

fn url_text(config: &MasterConfig) -> String {
    config
        .zk
        .as_ref()
        .map(|u| u.to_string())
        .unwrap_or_default()
}

/// The allocator to lead with: `--allocator`'s, unless an operator swapped another in and the
/// registry kept it (then that one, with the swaps' history). One that cannot be loaded any
/// more leaves `--allocator`'s, saying so.
fn recovered_allocator(
    config: &MasterConfig,
    kept: Option<meseta_registry::AllocatorRecord>,
) -> Result<AllocatorDriver, StartError> {
    let flag = match &config.allocator {
        Some(m) => AllocatorChoice::Module(m.clone()),
        None => AllocatorChoice::Native,
    };
    let Some(kept) = kept else {
        return Ok(AllocatorDriver::new(flag)?);
    };
    let flag_name = crate::allocator::choice_name(&flag);
    if kept.name == flag_name && kept.manifest.is_none() {
        let mut driver = AllocatorDriver::new(flag)?;
        driver.restore_history(None, kept.history, None);
        return Ok(driver);
    }
    let source = AllocatorSource {
        allocator: kept.name.clone(),
        manifest: kept.manifest.clone(),
    };
    let resolved = match &config.allocators {
        Some(resolve) => resolve(&source),
        None => Err("this master cannot load allocators at run time".into()),
    };
    let restored = |outcome: &str, to: &str, reason: Option<String>| Swap {
        time: meseta_api::common::timestamp_now(),
        from: flag_name.clone(),
        to: to.to_string(),
        outcome: outcome.to_string(),
        reason,
    };
    match resolved.and_then(|choice| AllocatorDriver::new(choice).map_err(|e| e.to_string())) {
        Ok(mut driver) => {
            tracing::info!(allocator = %kept.name, flag = %flag_name,
                "leading with the allocator an operator swapped in (kept in the registry)");
            let swap = restored("restored", &kept.name, None);
            driver.restore_history(Some(source), kept.history, Some(swap));
            Ok(driver)
        }
        Err(e) => {
            tracing::warn!(allocator = %kept.name, error = %e, flag = %flag_name,
                "the registry's allocator cannot be loaded; leading with --allocator's");
            let mut driver = AllocatorDriver::new(flag)?;
            let swap = restored("refused", &kept.name, Some(e));
            driver.restore_history(None, kept.history, Some(swap));
            Ok(driver)
        }
    }
}

/// Becomes the leading master on `storage`: recovers the registry (Mesos' registrar `recover`:
/// this master's info is stored durably before anything else happens), builds the core and the
/// effector, and starts the timers.
async fn lead(
    config: &MasterConfig,
    identity: &Identity,
    storage: Arc<dyn meseta_registry::Storage>,
    failure: Arc<tokio::sync::watch::Sender<Option<String>>>,
) -> Result<Shared, StartError> {
    let info = core::master_info(&identity.master_id, identity.address, &identity.hostname);
    let options = meseta_registry::RegistrarOptions {
        fetch_timeout: config.registry_fetch_timeout,
        store_timeout: config.registry_store_timeout,
    };
    let (registrar, registry) = Registrar::recover_with(storage, info, options).await?;
    tracing::info!(registry = %registrar.location(), agents = registry.agents.len(),
        unreachable = registry.unreachable.len(), gone = registry.gone.len(), "registry recovered");
    let allocator = recovered_allocator(config, registry.allocator.clone())?;
    // Weights: the registry's win over --weights; the flag's are stored when it has none.
    let weights = if registry.weights.is_empty() {
        if !config.weights.is_empty() {
            registrar
                .apply(Operation::UpdateWeights(config.weights.clone()))
                .await?;
        }
        config.weights.clone()
    } else {
        registry.weights.clone().into_iter().collect()
    };
    let (registry_log, registry_queue) = tokio::sync::mpsc::unbounded_channel();
    let clock = Clock::now();
    let core = Core::new(
        identity.master_id.clone(),
        identity.address,
        identity.hostname.clone(),
        identity.settings.clone(),
        config.flags.clone(),
        weights,
        clock,
    );
    let view = Arc::new(Mutex::new(allocator.view()));
    let board = ShadowBoard::default();
    let mut shadows = Shadows::new(board.clone());
    for (choice, source) in &config.shadow_allocators {
        shadows
            .add(choice.clone(), source.clone(), Vec::new(), None)
            .map_err(StartError::Config)?;
    }
    let prepared = PreparedStreams::default();
    let allocate_soon = Arc::new(crate::effector::AllocateSoon::default());
    let client = agents::client();
    let effector = Effector {
        master_id: identity.master_id.clone(),
        allocator,
        shadows,
        view: view.clone(),
        prepared: prepared.clone(),
        client: client.clone(),
        registry: registry_log,
        allocate_soon: allocate_soon.clone(),
        hooks: config.hooks.clone(),
        start: clock.instant,
        heartbeat_interval: config.heartbeat_interval,
    }
    .spawn(tokio::runtime::Handle::current())
    .map_err(StartError::Thread)?;
    let shared = Shared {
        core: Arc::new(Mutex::new(core)),
        effector,
        prepared,
        allocator: view,
        allocate_soon,
        hooks: config.hooks.clone(),
        modules: Arc::new(config.modules.clone()),
        allocators: config.allocators.clone(),
        shadows: board,
        client,
        registrar,
        failure,
        loops: Arc::default(),
        authentication: Arc::new(config.authentication.clone()),
        authz: config.authz.clone(),
    };
    // The allocator's initialization goes out with the recovery's effects.
    let _ = shared.execute(Input::Recover(registry));
    let loops = [
        tokio::spawn(registry_writer(shared.clone(), registry_queue)),
        tokio::spawn(registry_gc(
            shared.clone(),
            config.registry_gc_interval,
            config.registry_max_agent_age,
            config.registry_max_agent_count,
        )),
        tokio::spawn(allocation_loop(shared.clone(), config.allocation_interval)),
        tokio::spawn(sweep_loop(shared.clone())),
        tokio::spawn(agents::ping_loop(
            shared.clone(),
            shared.client.clone(),
            config.agent_ping_timeout,
        )),
    ];
    if let Ok(mut l) = shared.loops.lock() {
        l.extend(loops.iter().map(|t| t.abort_handle()));
    }
    tracing::info!(address = %identity.address, allocator = %shared.allocator().name, "master leading");
    Ok(shared)
}

/// Opens the `--registry` (the redb file under `--work_dir`, or memory).
async fn open_storage(
    config: &MasterConfig,
) -> Result<Arc<dyn meseta_registry::Storage>, StartError> {
    let (backend, work_dir) = (config.registry, config.work_dir.clone());
    if backend == meseta_registry::Backend::Redb
        && let Some(dir) = &work_dir
    {
        std::fs::create_dir_all(dir).map_err(|e| {
            StartError::Config(format!("cannot create --work_dir {}: {e}", dir.display()))
        })?;
    }
    let storage =
        tokio::task::spawn_blocking(move || meseta_registry::open(backend, work_dir.as_deref()))
            .await
            .map_err(|e| StartError::Config(format!("opening the registry failed: {e}")))??;
    Ok(storage)
}

/// Applies, in order, the registry operations the core asked for (agents marked unreachable).
/// A failed store stops the registrar; as Mesos, the master cannot go on without its registry,
/// so it stops serving frameworks and agents (logged).
async fn registry_writer(
    shared: Shared,
    mut queue: tokio::sync::mpsc::UnboundedReceiver<Operation>,
) {
    while let Some(op) = queue.recv().await {
        match shared.registrar.apply(op).await {
            Ok(_) | Err(meseta_registry::RegistryError::Refused(_)) => {}
            Err(e) => {
                shared.fail(format!("the registry failed: {e}"));
                return;
            }
        }
    }
}

/// Mesos' registry GC: every `interval`, unreachable and gone agents beyond `max_count` (oldest
/// first) or older than `max_age` are pruned from the registry, then forgotten by the master
/// (their tasks too: reconciliation answers TASK_UNKNOWN for them).
async fn registry_gc(shared: Shared, interval: Duration, max_age: Duration, max_count: usize) {
    let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(10)));
    ticker.tick().await; // the first tick is immediate: GC after a whole interval
    loop {
        ticker.tick().await;
        let candidates =
            shared
                .registrar
                .snapshot()
                .gc(meseta_api::common::timestamp_now(), max_age, max_count);
        if candidates.is_empty() {
            continue;
        }
        let ids: Vec<String> = candidates
            .unreachable
            .iter()
            .chain(&candidates.gone)
            .map(|id| id.value.clone())
            .collect();
        match shared.registrar.apply(candidates.into_operation()).await {
            Ok(_) => {
                tracing::info!(agents = ids.len(), "registry GC pruned agents");
                let _ = shared.execute(Input::ForgetAgents(ids));
            }
            Err(e) => {
                shared.fail(format!("the registry failed: {e}"));
                return;
            }
        }
    }
}

/// Runs an allocation round every `--allocation_interval`, and soon after any event that may
/// free or add resources; events that arrive during a round are batched into the next one. The
/// round runs on the effector (which owns the allocator), its decisions go into the core.
/// Event-triggered rounds wait at least 5 ms, and at least four times as long as the last round
/// took (never longer than the interval): a large cluster registering (every registration asks
/// for a round) gets a round every few dozen milliseconds, not one per event, and rounds take
/// no more than about a fifth of a core away from the rest of the master.
async fn allocation_loop(shared: Shared, interval: Duration) {
    let soon = shared.allocate_soon.clone();
    let mut next_tick = tokio::time::Instant::now() + interval;
    let mut last_round = Duration::ZERO;
    // Requests seen when the last round was sent: the round saw their effects.
    let mut seen = u64::MAX;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next_tick) => {}
            _ = soon.notify.notified() => {
                if soon.requests() == seen {
                    // A wake-up left over from requests the last round already answered.
                    continue;
                }
                if shared.allocator().degraded {
                    // The allocator module is faulting: interval rounds only.
                    continue;
                }
                // Let a burst of events (a whole ACCEPT, several agents registering) land first.
                let settle = (last_round * 4).max(Duration::from_millis(5)).min(interval);
                tokio::time::sleep(settle).await;
            }
        }
        if tokio::time::Instant::now() >= next_tick {
            next_tick = tokio::time::Instant::now() + interval;
        }
        let started = std::time::Instant::now();
        let (tx, rx) = oneshot::channel();
        // Every request counted so far had its effects queued before this round.
        seen = soon.requests();
        if shared.effector.send(Job::Allocate(tx)).is_err() {
            return;
        }
        let Ok(decisions) = rx.await else {
            return;
        };
        if !decisions.is_empty() {
            let _ = shared.execute(Input::Allocated(decisions));
        }
        // The round's own cost, not the wait behind the effects queued before it (a wave of
        // re-registrations after a failover would otherwise stretch the settle to the interval).
        last_round = Duration::try_from_secs_f64(shared.allocator().stats.last_ms / 1e3)
            .unwrap_or_else(|_| started.elapsed());
    }
}

/// Offer timeouts, framework failover timeouts, and agents that did not re-register after a
/// master restart.
async fn sweep_loop(shared: Shared) {
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    loop {
        ticker.tick().await;
        if let Err(e) = shared.execute(Input::Sweep) {
            shared.fail(e.to_string());
            return;
        }
    }
}

/// The leading master's routes, each in its realm (see [`crate::security`]).
pub(crate) fn routes(shared: Shared) -> Router {
    let auth = shared.authentication.clone();
    let open = Router::new()
        .route("/version", get(version))
        .route("/master/health", get(|| async { StatusCode::OK }))
        .route("/health", get(|| async { StatusCode::OK }))
        .route("/master/redirect", get(redirect));
    let scheduler_api = Router::new()
        .route("/api/v1/scheduler", post(scheduler))
        .route("/master/api/v1/scheduler", post(scheduler));
    let agent_protocol = Router::new()
        .route(wire::REGISTER, post(agent_register))
        .route(wire::STATUS, post(agent_status))
        .route(wire::STATUSES, post(agent_statuses))
        .route(wire::EXECUTOR_MESSAGE, post(agent_executor_message))
        .route(wire::EXECUTOR_EXITED, post(agent_executor_exited))
        .route(wire::UPDATE, post(agent_update));
    let readonly = Router::new()
        .route("/master/state", get(state_endpoint))
        .route("/master/state.json", get(state_endpoint))
        .route("/state", get(state_endpoint))
        .route("/state.json", get(state_endpoint))
        .route("/master/state-summary", get(state_summary))
        .route("/master/frameworks", get(frameworks))
        .route("/master/slaves", get(slaves))
        .route("/master/tasks", get(tasks))
        .route("/master/tasks.json", get(tasks))
        .route("/master/roles", get(roles))
        .route("/master/roles.json", get(roles))
        .route("/master/flags", get(flags))
        .route("/master/modules", get(modules))
        .route("/registrar(1)/registry", get(registry_endpoint))
        .route("/metrics/snapshot", get(metrics))
        .route("/metrics", get(prometheus))
        // The web UI (`meseta-ui`): `/` and `/ui/*`, in the readonly realm so the browser's
        // login on the page gives the credentials its later requests reuse.
        .merge(meseta_ui::routes());
    let readwrite = Router::new()
        .route("/master/weights", any(weights))
        .route("/master/teardown", post(teardown))
        .route("/master/quota", get(quota))
        .merge(crate::maintenance::routes())
        .merge(crate::reservations::routes())
        .route("/api/v1", post(operator_api))
        .route("/master/api/v1", post(operator_api));
    Router::new()
        .merge(open)
        .merge(in_realm(scheduler_api, auth.scheduler()))
        .merge(in_realm(agent_protocol, auth.agents()))
        .merge(in_realm(readonly, auth.readonly()))
        .merge(in_realm(readwrite, auth.readwrite()))
        .with_state(shared)
}

// Answers ----------------------------------------------------------------------------------------

async fn version() -> Response {
    json(
        StatusCode::OK,
        &serde_json::json!({
            "version": MESOS_VERSION,
            "meseta_version": env!("CARGO_PKG_VERSION"),
        }),
    )
}

pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Response {
    let body = meseta_api::ascii_json(value).unwrap_or_else(|_| "{}".into());
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// JSON already rendered (ASCII).
pub(crate) fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn accepted() -> Response {
    StatusCode::ACCEPTED.into_response()
}

/// The one place errors become answers: Mesos' status code and a plain-text message.
impl IntoResponse for MasterError {
    fn into_response(self) -> Response {
        if let MasterError::Registry(_) | MasterError::Fatal(_) = &self {
            tracing::error!(error = %self, "request failed");
        }
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.to_string(),
        )
            .into_response()
    }
}

/// A reply of a kind the input does not give (a bug): a 500 naming it.
fn unexpected(reply: Reply) -> Response {
    tracing::error!(?reply, "unexpected reply from the master's core");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, MasterError> {
    meseta_api::decode(body).map_err(|e| MasterError::Invalid(e.to_string()))
}

// The v1 scheduler API ----------------------------------------------------------------------

async fn scheduler(
    State(shared): State<Shared>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, MasterError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    if content_type.starts_with("application/x-protobuf") {
        return Err(MasterError::UnsupportedMediaType(
            "Meseta speaks JSON only: send the call with Content-Type: application/json".into(),
        ));
    }
    let call: Call = decode(&body).inspect_err(|_| {
        let _ = shared.execute(Input::InvalidCall);
    })?;
    if let CallKind::Other(t) = &call.kind {
        let _ = shared.execute(Input::InvalidCall);
        return Err(MasterError::Invalid(format!(
            "Failed to validate scheduler::Call: unknown call type '{t}'"
        )));
    }
    if let CallKind::Subscribe(mut subscribe) = call.kind {
        // As Mesos: a principal set in FrameworkInfo must be the authenticated one; an unset
        // one is filled in.
        if let Some(authenticated) = &principal.0 {
            match &subscribe.framework_info.principal {
                Some(claimed) if claimed != authenticated => {
                    return Err(MasterError::Invalid(format!(
                        "Authenticated principal '{authenticated}' does not match principal \
                         '{claimed}' set in `FrameworkInfo`"
                    )));
                }
                Some(_) => {}
                None => subscribe.framework_info.principal = Some(authenticated.clone()),
            }
        }
        return subscribe_call(&shared, subscribe, call.framework_id);
    }
    let Some(framework_id) = call.framework_id else {
        return Err(MasterError::Invalid(
            "Expecting 'framework_id' to be present".into(),
        ));
    };
    let framework_id = framework_id.value;
    let framework_principal = shared.read(|core| {
        core.frameworks
            .get(&framework_id)
            .map(|f| f.info.principal.clone())
    });
    if let (Some(authenticated), Some(framework_principal)) = (&principal.0, &framework_principal)
        && framework_principal.as_deref() != Some(authenticated.as_str())
    {
        return Err(MasterError::Invalid(format!(
            "Authenticated principal '{authenticated}' does not match principal '{}' set in \
             `FrameworkInfo`",
            framework_principal.as_deref().unwrap_or_default()
        )));
    }
    let stream_id = headers
        .get("mesos-stream-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut kind = call.kind;
    let mut refused = match &mut kind {
        CallKind::Accept(accept) if !shared.hooks.is_empty() => {
            decorate(&shared, &framework_id, accept)
        }
        _ => Refused::new(),
    };
    if let CallKind::Accept(accept) = &kind
        && !shared.authz.allows_everything()
    {
        authorize_launches(&shared, &framework_id, accept, &mut refused);
    }
    shared.execute(Input::Call {
        framework_id,
        stream_id,
        call: kind,
        refused,
    })?;
    Ok(accepted())
}

/// Asks `run_tasks` for every task an ACCEPT launches (on the user it would run as, with the
/// framework's principal as the subject); a refused task ends in TASK_ERROR /
/// REASON_TASK_UNAUTHORIZED, as Mesos' does.
fn authorize_launches(
    shared: &Shared,
    framework_id: &str,
    accept: &meseta_api::scheduler::Accept,
    refused: &mut Refused,
) {
    let Some(info) = shared.read(|core| core.frameworks.get(framework_id).map(|f| f.info.clone()))
    else {
        return;
    };
    let subject = info.principal.as_deref();
    let mut ask = |task: &meseta_api::common::TaskInfo| {
        let user = crate::security::task_info_user(&info, task);
        let object = Object {
            value: Some(user.to_string()),
            framework_id: Some(framework_id.to_string()),
            framework_name: Some(info.name.clone()),
            framework_principal: info.principal.clone(),
            user: Some(user.to_string()),
            task_id: Some(task.task_id.value.clone()),
            agent_id: task.agent_id.as_ref().map(|a| a.value.clone()),
            ..Object::default()
        };
        if let Err(why) = shared.authz.require(subject, Action::RunTask, object) {
            refused
                .entry(task.task_id.value.clone())
                .or_insert(Refusal::unauthorized(format!(
                    "Not authorized to launch: {why}"
                )));
        }
    };
    let mut refused_operations = Vec::new();
    for (index, op) in accept.operations.iter().enumerate() {
        match &op.kind {
            meseta_api::scheduler::OperationKind::Launch(l) => {
                l.task_infos.iter().for_each(&mut ask);
            }
            meseta_api::scheduler::OperationKind::LaunchGroup(g) => {
                for task in &g.task_group.tasks {
                    let mut task = task.clone();
                    task.executor = Some(g.executor.clone());
                    ask(&task);
                }
            }
            kind => {
                if let Some(Ok(operation)) = core::ResourceOperation::from_kind(kind)
                    && let Err(why) = authorize_operation(shared, subject, &operation)
                {
                    refused_operations.push((
                        core::operation_key(index),
                        Refusal::unauthorized(format!("Not authorized to {why}")),
                    ));
                }
            }
        }
    }
    refused.extend(refused_operations);
}

/// Asks the authorizer for a RESERVE, UNRESERVE, CREATE or DESTROY by `subject`, as Mesos
/// does: `reserve_resources` and `create_volumes` on the role, `unreserve_resources` on the
/// reservation's principal, `destroy_volumes` on the volume's creator. The error says what was
/// refused.
pub(crate) fn authorize_operation(
    shared: &Shared,
    subject: Option<&str>,
    operation: &core::ResourceOperation,
) -> Result<(), String> {
    use core::ResourceOperation as Op;
    for r in operation.resources() {
        let stack = r.stack();
        let top = stack.last();
        let (action, value) = match operation {
            Op::Reserve(_) => (Action::ReserveResources, top.map(|t| t.role.clone())),
            Op::Unreserve(_) => (
                Action::UnreserveResources,
                top.and_then(|t| t.principal.clone()),
            ),
            Op::Create(_) => (Action::CreateVolume, top.map(|t| t.role.clone())),
            Op::Destroy(_) => (
                Action::DestroyVolume,
                r.disk.as_ref().and_then(|d| d.principal.clone()),
            ),
        };
        let object = Object {
            value: value.clone(),
            role: top.map(|t| t.role.clone()),
            ..Object::default()
        };
        shared
            .authz
            .require(subject, action, object)
            .map_err(|why| {
                format!(
                    "{} '{}': {why}",
                    action.mesos_name(),
                    value.unwrap_or_default()
                )
            })?;
    }
    Ok(())
}

/// Runs the master's task decorators over an ACCEPT's tasks, outside the state lock.
fn decorate(
    shared: &Shared,
    framework_id: &str,
    accept: &mut meseta_api::scheduler::Accept,
) -> Refused {
    let context = shared.read(|core| {
        let framework = core.frameworks.get(framework_id)?;
        let offer = accept
            .offer_ids
            .iter()
            .find_map(|id| core.offers.get(&id.value))?;
        let agent = core.agents.get(&offer.agent_id)?;
        Some(hooks::AcceptContext {
            framework_id: framework_id.to_string(),
            framework: framework.info.clone(),
            agent_id: agent.id.clone(),
            agent: agent.info.clone(),
        })
    });
    match context {
        Some(context) => hooks::decorate_accept(&shared.hooks, &context, &mut accept.operations),
        None => Refused::new(),
    }
}

/// Ends when the response body is dropped (the client went away): tells the master.
struct StreamGuard {
    shared: Shared,
    framework_id: String,
    stream_id: String,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let _ = self.shared.execute(Input::Disconnected {
            framework_id: self.framework_id.clone(),
            stream_id: self.stream_id.clone(),
        });
    }
}

fn subscribe_call(
    shared: &Shared,
    subscribe: meseta_api::scheduler::Subscribe,
    top_level_id: Option<FrameworkID>,
) -> Result<Response, MasterError> {
    let info = subscribe.framework_info;
    let claimed = info
        .id
        .clone()
        .or(top_level_id)
        .map(|i| i.value)
        .filter(|s| !s.is_empty());
    let stream_id = uuid::Uuid::new_v4().to_string();
    let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
    if let Some(why) = unauthorized_roles(shared, &info) {
        // As Mesos: the subscription's stream carries the ERROR event and ends.
        tracing::info!(framework = %info.name, %why, "refused a framework's subscription");
        if let Some(bytes) = record(&Event::error(&why)) {
            let _ = tx.send(bytes);
        }
        drop(tx);
        return Ok(stream_response(rx, &stream_id, None));
    }
    if let Ok(mut prepared) = shared.prepared.lock() {
        prepared.insert(stream_id.clone(), tx);
    }
    let take_prepared = || {
        shared
            .prepared
            .lock()
            .ok()
            .and_then(|mut p| p.remove(&stream_id))
    };
    match shared.execute(Input::Subscribe {
        info,
        claimed,
        suppressed: subscribe.suppressed_roles,
        stream_id: stream_id.clone(),
    }) {
        Ok(Reply::Subscribed { framework_id }) => {
            let guard = StreamGuard {
                shared: shared.clone(),
                framework_id,
                stream_id: stream_id.clone(),
            };
            Ok(stream_response(rx, &stream_id, Some(guard)))
        }
        Err(MasterError::FrameworkRemoved(_)) => {
            // As Mesos: the stream carries the ERROR event and ends.
            if let Some(tx) = take_prepared()
                && let Some(bytes) = record(&Event::error("Framework has been removed"))
            {
                let _ = tx.send(bytes);
            }
            Ok(stream_response(rx, &stream_id, None))
        }
        Err(e) => {
            take_prepared();
            Err(e)
        }
        Ok(other) => {
            take_prepared();
            Ok(unexpected(other))
        }
    }
}

/// Why a framework may not subscribe in its roles (`register_frameworks`, the framework's
/// principal as the subject), or `None` when it may.
fn unauthorized_roles(shared: &Shared, info: &meseta_api::common::FrameworkInfo) -> Option<String> {
    if shared.authz.allows_everything() {
        return None;
    }
    let roles: Vec<String> = if !info.roles.is_empty() {
        info.roles.clone()
    } else {
        vec![info.role.clone().unwrap_or_else(|| "*".to_string())]
    };
    for role in roles {
        let object = Object {
            value: Some(role.clone()),
            framework_name: Some(info.name.clone()),
            framework_principal: info.principal.clone(),
            role: Some(role.clone()),
            user: Some(info.user.clone()),
            framework_id: info.id.as_ref().map(|i| i.value.clone()),
            ..Object::default()
        };
        if let Err(why) =
            shared
                .authz
                .require(info.principal.as_deref(), Action::RegisterFramework, object)
        {
            return Some(format!("Not authorized to subscribe: {why}"));
        }
    }
    None
}

/// The operator API's `SUBSCRIBE`: a RecordIO stream of SUBSCRIBED (the state), then
/// TASK_ADDED, TASK_UPDATED, AGENT_ADDED, AGENT_REMOVED, FRAMEWORK_ADDED, FRAMEWORK_UPDATED
/// and FRAMEWORK_REMOVED as they happen, in order, with a HEARTBEAT when nothing happened for
/// the heartbeat interval. A subscriber that stops reading is dropped (see the effector).
fn operator_subscribe(shared: &Shared, principal: &Principal) -> Result<Response, MasterError> {
    let (tx, rx) = crate::effector::operator_queue(crate::effector::OPERATOR_STREAM_BUFFER);
    let approver = Arc::new(Approver::new(&shared.authz, principal.0.as_deref()));
    shared.execute(Input::OperatorSubscribe(OperatorSubscriber {
        tx,
        approver,
    }))?;
    let guard = OperatorStreamGuard(shared.clone());
    let interval = shared.read(|core| core.settings.heartbeat_interval);
    let heartbeat = crate::effector::operator_record(&serde_json::json!({"type": "HEARTBEAT"}))
        .unwrap_or_default();
    struct Stream {
        rx: crate::effector::OperatorQueueRx,
        ticker: Option<tokio::time::Interval>,
        heartbeat: Bytes,
        interval: Duration,
        _guard: OperatorStreamGuard,
    }
    let state = Stream {
        rx,
        ticker: None,
        heartbeat,
        interval,
        _guard: guard,
    };
    let body = futures_util::stream::unfold(state, |mut s| async move {
        let bytes = match &mut s.ticker {
            // SUBSCRIBED first; heartbeats only after it.
            None => {
                let first = s.rx.recv().await?;
                let start = tokio::time::Instant::now() + s.interval;
                s.ticker = Some(tokio::time::interval_at(start, s.interval));
                first
            }
            Some(ticker) => tokio::select! {
                item = s.rx.recv() => {
                    ticker.reset();
                    coalesce(item?, &mut s.rx)
                }
                _ = ticker.tick() => s.heartbeat.clone(),
            },
        };
        Some((Ok::<Bytes, Infallible>(bytes), s))
    });
    let mut response = Response::new(Body::from_stream(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// `first` and the records already queued behind it, up to [`OPERATOR_CHUNK`] bytes, as one
/// chunk: under a burst of events a stream then costs one write per chunk, not one per event.
fn coalesce(first: Bytes, rx: &mut crate::effector::OperatorQueueRx) -> Bytes {
    if rx.is_empty() || first.len() >= OPERATOR_CHUNK {
        return first;
    }
    let mut size = first.len();
    let mut records = vec![first];
    while size < OPERATOR_CHUNK {
        match rx.try_recv() {
            Some(more) => {
                size += more.len();
                records.push(more);
            }
            None => break,
        }
    }
    match records.len() {
        1 => records.pop().unwrap_or_default(),
        _ => Bytes::from(records.concat()),
    }
}

/// How many bytes of queued operator events go out in one chunk at most.
const OPERATOR_CHUNK: usize = 16 * 1024;

/// Tells the core when an operator stream ends (the client left, or it was dropped).
struct OperatorStreamGuard(Shared);

impl Drop for OperatorStreamGuard {
    fn drop(&mut self) {
        let _ = self.0.execute(Input::OperatorUnsubscribed);
    }
}

fn stream_response(
    rx: mpsc::UnboundedReceiver<Bytes>,
    stream_id: &str,
    guard: Option<StreamGuard>,
) -> Response {
    // One record per chunk: every channel item becomes one body frame, which hyper writes as
    // one HTTP chunk.
    let stream = futures_util::stream::unfold((rx, guard), |(mut rx, guard)| async move {
        let bytes = rx.recv().await?;
        Some((Ok::<Bytes, Infallible>(bytes), (rx, guard)))
    });
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(stream_id) {
        headers.insert("Mesos-Stream-Id", v);
    }
    response
}

// The agents' side of the master–agent protocol -----------------------------------------------

async fn agent_register(
    State(shared): State<Shared>,
    Extension(principal): Extension<Principal>,
    body: Bytes,
) -> Result<Response, MasterError> {
    let mut msg: wire::RegisterAgent = decode(&body)?;
    shared.authorize(
        &principal,
        Action::RegisterAgent,
        Object {
            agent_id: msg.agent_info.id.as_ref().map(|i| i.value.clone()),
            ..Object::default()
        },
    )?;
    let reregistering = msg
        .agent_info
        .id
        .as_ref()
        .is_some_and(|i| !i.value.is_empty());
    let admitted = shared.execute(Input::Admit {
        info: msg.agent_info.clone(),
        endpoint: msg.endpoint.clone(),
    })?;
    let Reply::Admission {
        agent_id,
        operation,
    } = admitted
    else {
        return Ok(unexpected(admitted));
    };
    if let Some(op) = operation {
        // Acknowledged means durable: the agent hears "registered" only once its admission
        // (or its return from unreachable) is in the registry.
        shared.registrar.apply(op).await.map_err(|e| match e {
            meseta_registry::RegistryError::Refused(e) => MasterError::Forbidden(e.to_string()),
            e => MasterError::Registry(format!("cannot store this agent's admission: {e}")),
        })?;
    }
    msg.agent_info.id = Some(meseta_api::common::AgentID::new(&agent_id));
    match shared.execute(Input::Register { msg, reregistering })? {
        Reply::Registered(registered) => Ok(json(
            StatusCode::OK,
            &serde_json::to_value(registered).unwrap_or_default(),
        )),
        other => Ok(unexpected(other)),
    }
}

async fn agent_status(State(shared): State<Shared>, body: Bytes) -> Result<Response, MasterError> {
    let msg: wire::StatusUpdate = decode(&body)?;
    let agent = msg.agent_id.value.clone();
    match shared.execute(Input::StatusUpdates(vec![msg]))? {
        Reply::Codes(codes) if codes.first() == Some(&202) => Ok(accepted()),
        Reply::Codes(_) => Err(MasterError::UnknownAgent(agent)),
        other => Ok(unexpected(other)),
    }
}

async fn agent_statuses(
    State(shared): State<Shared>,
    body: Bytes,
) -> Result<Response, MasterError> {
    let msg: wire::StatusUpdates = decode(&body)?;
    match shared.execute(Input::StatusUpdates(msg.updates))? {
        Reply::Codes(codes) => Ok(json(
            StatusCode::OK,
            &serde_json::to_value(wire::Codes { codes }).unwrap_or_default(),
        )),
        other => Ok(unexpected(other)),
    }
}

async fn agent_update(State(shared): State<Shared>, body: Bytes) -> Result<Response, MasterError> {
    let msg: wire::UpdateAgent = decode(&body)?;
    let resources = meseta_api::convert::resources_from_wire(&msg.oversubscribed_resources)
        .map_err(|e| MasterError::Invalid(format!("oversubscribed_resources: {e}")))?;
    if let Some(bad) = resources.iter().find(|r| !r.revocable) {
        return Err(MasterError::Invalid(format!(
            "oversubscribed_resources: '{}' is not revocable; every oversubscribed resource \
             must carry \"revocable\": {{}}",
            bad.name
        )));
    }
    shared.execute(Input::Oversubscribed {
        agent_id: msg.agent_id.value,
        resources,
    })?;
    Ok(accepted())
}

async fn agent_executor_message(
    State(shared): State<Shared>,
    body: Bytes,
) -> Result<Response, MasterError> {
    shared.execute(Input::ExecutorMessage(decode(&body)?))?;
    Ok(accepted())
}

async fn agent_executor_exited(
    State(shared): State<Shared>,
    body: Bytes,
) -> Result<Response, MasterError> {
    shared.execute(Input::ExecutorExited(decode(&body)?))?;
    Ok(accepted())
}

// Operator endpoints --------------------------------------------------------------------------

async fn state_endpoint(
    State(shared): State<Shared>,
    Extension(principal): Extension<Principal>,
) -> Response {
    let allocator = shared.allocator();
    let approver = Approver::new(&shared.authz, principal.0.as_deref());
    match shared.read(|core| crate::state_json::state(core, &allocator, &approver)) {
        Ok(body) => json_bytes(StatusCode::OK, body),
        Err(e) => MasterError::Fatal(format!("cannot render the state: {e}")).into_response(),
    }
}

async fn state_summary(
    State(shared): State<Shared>,
    Extension(principal): Extension<Principal>,
) -> Response {
    let visibility = shared.visibility(&principal);
    let mut summary = shared.read(operator::state_summary);
    visibility.frameworks(&mut summary);
    json(StatusCode::OK, &summary)
}

async fn frameworks(
    State(shared): State<Shared>,
    Extension(principal): Extension<Principal>,
) -> Response {
    let approver = Approver::new(&shared.authz, principal.0.as_deref());
    json(
        StatusCode::OK,
        &shared.read(|core| operator::frameworks(core, &approver)),
    )
}

async fn slaves(State(shared): State<Shared>) -> Response {
    json(StatusCode::OK, &shared.read(operator::slaves))
}

async fn tasks(
    State(shared): State<Shared>,
    Extension(principal): Extension<Principal>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Result<Response, MasterError> {
    let visibility = shared.visibility(&principal);
    let mut tasks = shared
        .read(|core| operator::tasks(core, &query))
        .map_err(MasterError::Invalid)?;
    visibility.tasks_v0(&mut tasks);
    Ok(json(StatusCode::OK, &tasks))
}

async fn roles(
    State(shared): State<Shared>,
    Extension(principal): Extension<Principal>,
) -> Response {
    let visibility = shared.visibility(&principal);
    let mut roles = shared.read(operator::roles);
    visibility.roles_v0(&mut roles);
    json(StatusCode::OK, &roles)
}

async fn flags(
    State(shared): State<Shared>,
    Extension(principal): Extension<Principal>,
) -> Result<Response, MasterError> {
    shared.authorize(&principal, Action::ViewFlags, Object::default())?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "flags": shared.read(operator::flags_json) }),
    ))
}

async fn modules(State(shared): State<Shared>) -> Response {
    let allocator = shared.allocator();
    json(
        StatusCode::OK,
        &operator::modules(&allocator, &shared.modules, &shared.shadows()),
    )
}

async fn metrics(
    State(shared): State<Shared>,
    Extension(principal): Extension<Principal>,
) -> Result<Response, MasterError> {
    shared.authorize(
        &principal,
        Action::GetEndpoint,
        Object::value("/metrics/snapshot"),
    )?;
    let allocator = shared.allocator();
    let shadows = shared.shadows();
    Ok(json(
        StatusCode::OK,
        &shared.read(|core| operator::metrics(core, &allocator, &shared.modules, &shadows)),
    ))
}

/// `GET /metrics`: the snapshot and the modules' counters in the Prometheus text format.
async fn prometheus(
    State(shared): State<Shared>,
    Extension(principal): Extension<Principal>,
) -> Result<Response, MasterError> {
    shared.authorize(&principal, Action::GetEndpoint, Object::value("/metrics"))?;
    let allocator = shared.allocator();
    let shadows = shared.shadows();
    let snapshot =
        shared.read(|core| operator::metrics(core, &allocator, &shared.modules, &shadows));
    Ok(prometheus_text(&snapshot, &shared.modules))
}

/// A `/metrics/snapshot` object and the modules, rendered for Prometheus.
pub(crate) fn prometheus_text(
    snapshot: &serde_json::Value,
    modules: &[Arc<LoadedModule>],
) -> Response {
    match meseta_prometheus::render_snapshot(snapshot, modules) {
        Ok(text) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, meseta_prometheus::CONTENT_TYPE)],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!("cannot encode the metrics: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn redirect(State(shared): State<Shared>) -> Response {
    let address = shared.read(|core| core.address);
    let mut r = StatusCode::TEMPORARY_REDIRECT.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("//{address}")) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// `GET /master/weights`; `PUT` (or `POST`) with `[{"role": "r", "weight": 2.0}, ...]`.
async fn weights(
    State(shared): State<Shared>,
    Extension(principal): Extension<Principal>,
    method: Method,
    body: Bytes,
) -> Result<Response, MasterError> {
    if method == Method::GET {
        let visibility = shared.visibility(&principal);
        let mut weights = shared.read(operator::weights);
        if let Some(list) = weights.as_array_mut() {
            list.retain(|w| visibility.role(w["role"].as_str().unwrap_or_default()));
        }
        return Ok(json(StatusCode::OK, &weights));
    }
    if method != Method::PUT && method != Method::POST {
        return Err(MasterError::MethodNotAllowed(
            "Expecting 'GET' or 'PUT' for /master/weights".into(),
        ));
    }
    #[derive(serde::Deserialize)]
    struct WeightInfo {
        role: String,
        weight: f64,
    }
    meseta_api::limits::check(&body).map_err(|e| MasterError::Invalid(e.to_string()))?;
    let list: Vec<WeightInfo> = serde_json::from_slice(&body).map_err(|e| {
        MasterError::Invalid(format!(
            "Failed to parse update weights request JSON (expected [{{\"role\": \"...\", \"weight\": 1.0}}]): {e}"
        ))
    })?;
    update_weights(
        &shared,
        &principal,
        list.into_iter().map(|w| (w.role, w.weight)).collect(),
    )
    .await?;
    Ok(StatusCode::OK.into_response())
}

/// Validates and stores `list` (role, weight), then applies it: `/master/weights` and
/// `UPDATE_WEIGHTS`.
async fn update_weights(
    shared: &Shared,
    principal: &Principal,
    list: Vec<(String, f64)>,
) -> Result<(), MasterError> {
    struct WeightInfo {
        role: String,
        weight: f64,
    }
    let list = list
        .into_iter()
        .map(|(role, weight)| WeightInfo { role, weight });
    let mut updates = Vec::new();
    for w in list {
        core::validate_role(&w.role)
            .map_err(|e| MasterError::Invalid(format!("Invalid role: {e}")))?;
        if !w.weight.is_finite() || w.weight <= 0.0 {
            return Err(MasterError::Invalid(format!(
                "Invalid weight '{}' for role '{}': weights must be positive",
                w.weight, w.role
            )));
        }
        updates.push((w.role, w.weight));
    }
    for (role, _) in &updates {
        shared.authorize(principal, Action::UpdateWeight, role_object(role))?;
    }
    // Durable before it takes effect.
    shared
        .registrar
        .apply(Operation::UpdateWeights(updates.clone()))
        .await?;
    shared.execute(Input::UpdateWeights(updates))?;
    Ok(())
}

/// `GET /registrar(1)/registry`: the registry as last stored, in Mesos' JSON shape.
async fn registry_endpoint(State(shared): State<Shared>) -> Response {
    json(
        StatusCode::OK,
        &serde_json::to_value(shared.registrar.snapshot()).unwrap_or_default(),
    )
}

/// The object of a role's action.
fn role_object(role: &str) -> Object {
    Object {
        role: Some(role.to_string()),
        ..Object::value(role)
    }
}

/// Tears `framework_id` down if `principal` may (`teardown_frameworks`, on the framework's
/// principal): `/master/teardown` and `TEARDOWN`.
fn teardown_framework(
    shared: &Shared,
    principal: &Principal,
    framework_id: String,
) -> Result<(), MasterError> {
    if !shared.authz.allows_everything() {
        let object = shared.read(|core| {
            core.frameworks.get(&framework_id).map(|f| {
                crate::security::framework_object(
                    f,
                    f.info.principal.as_deref().unwrap_or_default(),
                )
            })
        });
        if let Some(object) = object {
            shared.authorize(principal, Action::TeardownFramework, object)?;
        }
    }
    shared.execute(Input::Teardown { framework_id })?;
    Ok(())
}

/// `POST /master/teardown` with the form `frameworkId=<id>`.
async fn teardown(
    State(shared): State<Shared>,
    Extension(principal): Extension<Principal>,
    body: Bytes,
) -> Result<Response, MasterError> {
    let text = String::from_utf8_lossy(&body);
    let id = text.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == "frameworkId").then(|| v.trim().to_string())
    });
    let Some(framework_id) = id.filter(|i| !i.is_empty()) else {
        return Err(MasterError::Invalid(
            "Missing 'frameworkId' query parameter in the request body".into(),
        ));
    };
    teardown_framework(&shared, &principal, framework_id)?;
    Ok(StatusCode::OK.into_response())
}

fn quota_status(core: &Core) -> serde_json::Value {
    let amounts = |m: &BTreeMap<String, f64>| {
        let mut o = serde_json::Map::new();
        for (k, v) in m {
            o.insert(k.clone(), serde_json::json!({ "value": v }));
        }
        serde_json::Value::Object(o)
    };
    let configs: Vec<serde_json::Value> = core
        .quotas
        .iter()
        .map(|(role, q)| {
            serde_json::json!({
                "role": role,
                "guarantees": amounts(&q.guarantees),
                "limits": amounts(&q.limits),
            })
        })
        .collect();
    serde_json::json!({ "infos": [], "configs": configs })
}

/// `GET /master/quota`: the `QuotaStatus` of every role with a quota.
async fn quota(State(shared): State<Shared>) -> Response {
    json(StatusCode::OK, &shared.read(quota_status))
}

/// Parses UPDATE_QUOTA's `quota_configs`.
fn parse_quota_configs(call: &serde_json::Value) -> Result<Vec<(String, Quota)>, MasterError> {
    let configs = call
        .pointer("/update_quota/quota_configs")
        .and_then(|c| c.as_array())
        .cloned()
        .unwrap_or_default();
    if configs.is_empty() {
        return Err(MasterError::Invalid(
            "UPDATE_QUOTA needs 'update_quota.quota_configs': [{\"role\": ..., \"limits\": {\"cpus\": {\"value\": 2}}}]".into(),
        ));
    }
    let mut parsed = Vec::new();
    for c in &configs {
        let Some(role) = c.get("role").and_then(|r| r.as_str()) else {
            return Err(MasterError::Invalid("a quota config has no 'role'".into()));
        };
        let amounts = |key: &str| -> Result<BTreeMap<String, f64>, MasterError> {
            let mut out = BTreeMap::new();
            if let Some(map) = c.get(key).and_then(|m| m.as_object()) {
                for (name, v) in map {
                    let value = v
                        .get("value")
                        .and_then(|x| x.as_f64())
                        .or_else(|| v.as_f64())
                        .ok_or_else(|| {
                            MasterError::Invalid(format!(
                                "quota of role '{role}': '{key}.{name}' needs a numeric 'value'"
                            ))
                        })?;
                    out.insert(name.clone(), value);
                }
            }
            Ok(out)
        };
        let quota = Quota {
            guarantees: amounts("guarantees")?,
            limits: amounts("limits")?,
        };
        parsed.push((role.to_string(), quota));
    }
    Ok(parsed)
}

/// The v1 operator API (`POST /api/v1`), JSON: the calls of [`OPERATOR_CALLS`]. Any other
/// call is answered 400, naming it and them.
async fn operator_api(
    State(shared): State<Shared>,
    Extension(principal): Extension<Principal>,
    body: Bytes,
) -> Result<Response, MasterError> {
    meseta_api::limits::check(&body).map_err(|e| MasterError::Invalid(e.to_string()))?;
    let call: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        MasterError::Invalid(format!("Failed to parse body into master::Call: {e}"))
    })?;
    let kind = call.get("type").and_then(|t| t.as_str()).unwrap_or("");
    match kind {
        "GET_QUOTA" => Ok(json(
            StatusCode::OK,
            &serde_json::json!({
                "type": "GET_QUOTA",
                "get_quota": { "status": shared.read(quota_status) },
            }),
        )),
        "UPDATE_QUOTA" => {
            let parsed = parse_quota_configs(&call)?;
            for (role, _) in &parsed {
                shared.authorize(&principal, Action::UpdateQuota, role_object(role))?;
            }
            // Validate everything before changing anything.
            let force = call
                .pointer("/update_quota/force")
                .and_then(|f| f.as_bool())
                .unwrap_or(false);
            shared.read(|core| {
                parsed.iter().try_for_each(|(role, quota)| {
                    core.check_quota(role, quota).map_err(MasterError::Invalid)
                })?;
                match force {
                    true => Ok(()),
                    false => core
                        .check_guarantee_capacity(&parsed)
                        .map_err(MasterError::Invalid),
                }
            })?;
            // Durable before it takes effect (Mesos' `UpdateQuota` registry operation).
            for (role, quota) in &parsed {
                let config = meseta_registry::QuotaConfig {
                    guarantees: quota.guarantees.clone(),
                    limits: quota.limits.clone(),
                };
                let op = Operation::UpdateQuota {
                    role: role.clone(),
                    config: (!config.is_empty()).then_some(config),
                };
                shared.registrar.apply(op).await?;
            }
            shared.execute(Input::UpdateQuota(parsed))?;
            Ok(StatusCode::OK.into_response())
        }
        "GET_HEALTH" => Ok(answer(kind, serde_json::json!({"healthy": true}))),
        "GET_MAINTENANCE_STATUS"
        | "GET_MAINTENANCE_SCHEDULE"
        | "UPDATE_MAINTENANCE_SCHEDULE"
        | "START_MAINTENANCE"
        | "STOP_MAINTENANCE"
        | "DRAIN_AGENT"
        | "DEACTIVATE_AGENT"
        | "REACTIVATE_AGENT" => crate::maintenance::operator_call(&shared, kind, &call).await,
        "RESERVE_RESOURCES" | "UNRESERVE_RESOURCES" | "CREATE_VOLUMES" | "DESTROY_VOLUMES" => {
            crate::reservations::operator_call(&shared, &principal, kind, &call)
        }
        "SUBSCRIBE" => operator_subscribe(&shared, &principal),
        "MARK_AGENT_GONE" => {
            let agent_id = call
                .pointer("/mark_agent_gone/agent_id/value")
                .and_then(|v| v.as_str())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    MasterError::Invalid(
                        "MARK_AGENT_GONE needs 'mark_agent_gone.agent_id.value': the agent's id"
                            .into(),
                    )
                })?
                .to_string();
            shared.authorize(
                &principal,
                Action::MarkAgentGone,
                Object {
                    agent_id: Some(agent_id.clone()),
                    ..Object::default()
                },
            )?;
            let known = shared.read(|core| {
                core.agents.contains_key(&agent_id)
                    || core.unreachable_agents.contains_key(&agent_id)
                    || core.gone_agents.contains_key(&agent_id)
            });
            if !known {
                return Err(MasterError::NotFound(format!(
                    "Agent '{agent_id}' is neither registered nor unreachable"
                )));
            }
            // Durable before it takes effect: a restarted master refuses the agent too.
            let time = Clock::now().wall;
            shared
                .registrar
                .apply(Operation::MarkAgentGone {
                    id: meseta_api::common::AgentID::new(&agent_id),
                    time,
                })
                .await?;
            shared.execute(Input::MarkGone { agent_id })?;
            Ok(StatusCode::OK.into_response())
        }
        "GET_VERSION" => Ok(answer(
            kind,
            serde_json::json!({"version_info": {
                "version": MESOS_VERSION,
                "meseta_version": env!("CARGO_PKG_VERSION"),
            }}),
        )),
        "GET_FLAGS" => {
            shared.authorize(&principal, Action::ViewFlags, Object::default())?;
            let flags: Vec<serde_json::Value> = shared.read(|core| {
                core.flags
                    .iter()
                    .map(|(name, value)| serde_json::json!({"name": name, "value": value}))
                    .collect()
            });
            Ok(answer(kind, serde_json::json!({ "flags": flags })))
        }
        "GET_METRICS" => {
            shared.authorize(
                &principal,
                Action::GetEndpoint,
                Object::value("/metrics/snapshot"),
            )?;
            let allocator = shared.allocator();
            let shadows = shared.shadows();
            let snapshot =
                shared.read(|core| operator::metrics(core, &allocator, &shared.modules, &shadows));
            let metrics: Vec<serde_json::Value> = snapshot
                .as_object()
                .into_iter()
                .flatten()
                .map(|(name, value)| serde_json::json!({"name": name, "value": value}))
                .collect();
            Ok(answer(kind, serde_json::json!({ "metrics": metrics })))
        }
        // Meseta logs through `RUST_LOG`; Mesos' glog level 0 is its default.
        "GET_LOGGING_LEVEL" => Ok(answer(kind, serde_json::json!({"level": 0}))),
        "GET_MASTER" => {
            let (info, start) = shared.read(|core| (core.master_info(), core.start_time));
            Ok(answer(
                kind,
                serde_json::json!({"master_info": info, "start_time": start, "elected_time": start}),
            ))
        }
        "GET_WEIGHTS" => {
            let weights = shared.read(operator::weights);
            Ok(answer(kind, serde_json::json!({ "weight_infos": weights })))
        }
        "UPDATE_WEIGHTS" => {
            let infos = call
                .pointer("/update_weights/weight_infos")
                .and_then(|w| w.as_array())
                .ok_or_else(|| {
                    MasterError::Invalid(
                        "UPDATE_WEIGHTS needs 'update_weights.weight_infos': a list of \
                         {\"role\": \"...\", \"weight\": 1.0}"
                            .into(),
                    )
                })?;
            let mut list = Vec::new();
            for (i, w) in infos.iter().enumerate() {
                let role = w.get("role").and_then(|r| r.as_str());
                let weight = w.get("weight").and_then(|x| x.as_f64());
                let (Some(role), Some(weight)) = (role, weight) else {
                    return Err(MasterError::Invalid(format!(
                        "update_weights.weight_infos[{i}] needs a string 'role' and a number 'weight'"
                    )));
                };
                list.push((role.to_string(), weight));
            }
            update_weights(&shared, &principal, list).await?;
            Ok(StatusCode::OK.into_response())
        }
        "GET_STATE" => {
            let approver = Approver::new(&shared.authz, principal.0.as_deref());
            let body = shared
                .read(|core| crate::state_json::get_state_answer(core, &approver))
                .map_err(|e| MasterError::Fatal(format!("cannot render GET_STATE: {e}")))?;
            Ok(json_bytes(StatusCode::OK, body))
        }
        "GET_FRAMEWORKS" | "GET_EXECUTORS" | "GET_TASKS" => {
            let approver = Approver::new(&shared.authz, principal.0.as_deref());
            let payload = shared.read(|core| match kind {
                "GET_FRAMEWORKS" => operator::get_frameworks(core, &approver),
                "GET_EXECUTORS" => operator::get_executors(core, &approver),
                _ => operator::get_tasks(core, &approver),
            });
            Ok(answer(kind, payload))
        }
        "GET_ROLES" => {
            let visibility = shared.visibility(&principal);
            let mut payload = shared.read(operator::roles);
            visibility.roles_v0(&mut payload);
            Ok(answer(kind, payload))
        }
        "GET_AGENTS" => Ok(answer(kind, shared.read(operator::get_agents))),
        "TEARDOWN" => {
            let framework_id = call
                .pointer("/teardown/framework_id/value")
                .and_then(|v| v.as_str())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    MasterError::Invalid(
                        "TEARDOWN needs 'teardown.framework_id.value': the framework's id".into(),
                    )
                })?;
            teardown_framework(&shared, &principal, framework_id.to_string())?;
            Ok(StatusCode::OK.into_response())
        }
        // Meseta's extension: replace the live allocator without a restart.
        "SWAP_ALLOCATOR" => {
            let (choice, source) = resolve_allocator(&shared, &call, "swap_allocator")?;
            let swap = shared.swap_allocator(choice, source).await?;
            Ok(json(
                StatusCode::OK,
                &serde_json::json!({"type": "SWAP_ALLOCATOR", "swap_allocator": swap}),
            ))
        }
        // Meseta's extension: run a candidate allocator beside the live one.
        "ADD_SHADOW_ALLOCATOR" => {
            let (choice, source) = resolve_allocator(&shared, &call, "add_shadow_allocator")?;
            let report = shared.add_shadow(choice, source).await?;
            Ok(json(
                StatusCode::OK,
                &serde_json::json!({
                    "type": "ADD_SHADOW_ALLOCATOR",
                    "add_shadow_allocator": {"shadow_allocator": report},
                }),
            ))
        }
        "REMOVE_SHADOW_ALLOCATOR" => {
            let name = call
                .pointer("/remove_shadow_allocator/name")
                .and_then(|n| n.as_str())
                .filter(|n| !n.trim().is_empty())
                .ok_or_else(|| {
                    MasterError::Invalid(
                        "REMOVE_SHADOW_ALLOCATOR needs 'remove_shadow_allocator.name': the \
                         shadow's name as GET_SHADOW_ALLOCATORS lists it"
                            .into(),
                    )
                })?;
            shared.remove_shadow(name.trim()).await?;
            Ok(StatusCode::OK.into_response())
        }
        "GET_SHADOW_ALLOCATORS" => Ok(json(
            StatusCode::OK,
            &serde_json::json!({
                "type": "GET_SHADOW_ALLOCATORS",
                "get_shadow_allocators": {"shadow_allocators": shared.shadows()},
            }),
        )),
        "" => Err(MasterError::Invalid("master::Call has no 'type'".into())),
        // As the issue asks and as Mesos answers a call it cannot parse: 400, naming the call.
        other => Err(MasterError::Invalid(format!(
            "Operator call '{other}' is not supported by Meseta (supported: {})",
            OPERATOR_CALLS.join(", ")
        ))),
    }
}

/// The master calls `/api/v1` answers (the 400 for any other names them).
pub const OPERATOR_CALLS: &[&str] = &[
    "SUBSCRIBE",
    "GET_HEALTH",
    "GET_VERSION",
    "GET_FLAGS",
    "GET_METRICS",
    "GET_LOGGING_LEVEL",
    "GET_MASTER",
    "GET_STATE",
    "GET_AGENTS",
    "GET_FRAMEWORKS",
    "GET_EXECUTORS",
    "GET_TASKS",
    "GET_WEIGHTS",
    "UPDATE_WEIGHTS",
    "GET_ROLES",
    "GET_QUOTA",
    "UPDATE_QUOTA",
    "TEARDOWN",
    "MARK_AGENT_GONE",
    "GET_MAINTENANCE_STATUS",
    "GET_MAINTENANCE_SCHEDULE",
    "UPDATE_MAINTENANCE_SCHEDULE",
    "START_MAINTENANCE",
    "STOP_MAINTENANCE",
    "DRAIN_AGENT",
    "DEACTIVATE_AGENT",
    "REACTIVATE_AGENT",
    "RESERVE_RESOURCES",
    "UNRESERVE_RESOURCES",
    "CREATE_VOLUMES",
    "DESTROY_VOLUMES",
    "SWAP_ALLOCATOR",
    "ADD_SHADOW_ALLOCATOR",
    "REMOVE_SHADOW_ALLOCATOR",
    "GET_SHADOW_ALLOCATORS",
];

/// The allocator a `SWAP_ALLOCATOR` or `ADD_SHADOW_ALLOCATOR` call names in
/// `<field>.allocator` (and `<field>.manifest`), loaded.
fn resolve_allocator(
    shared: &Shared,
    call: &serde_json::Value,
    field: &str,
) -> Result<(AllocatorChoice, AllocatorSource), MasterError> {
    let kind = field.to_uppercase();
    let name = call
        .get(field)
        .and_then(|f| f.get("allocator"))
        .and_then(|n| n.as_str())
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| {
            MasterError::Invalid(format!(
                "{kind} needs '{field}.allocator': a module name, 'hierarchical', or the path \
                 of a component file on the master (and optionally '{field}.manifest': a module \
                 manifest on the master whose entry of that name to load)"
            ))
        })?;
    // A master embedded without a resolver (a library user's): the request cannot be served
    // by this master, which is the caller's to know (4xx, as any refused operator call).
    let resolve = shared.allocators.as_ref().ok_or_else(|| {
        MasterError::Conflict(
            "this master cannot load allocators at run time (it was started without a module \
             loader)"
                .into(),
        )
    })?;
    let source = AllocatorSource {
        allocator: name.trim().to_string(),
        manifest: call
            .get(field)
            .and_then(|f| f.get("manifest"))
            .and_then(|m| m.as_str())
            .filter(|m| !m.trim().is_empty())
            .map(|m| m.trim().to_string()),
    };
    let choice = resolve(&source).map_err(MasterError::Invalid)?;
    Ok((choice, source))
}

/// An operator call's answer: `{"type": KIND, "<kind>": payload}`.
pub(crate) fn answer(kind: &str, payload: serde_json::Value) -> Response {
    let mut out = serde_json::Map::new();
    out.insert("type".into(), serde_json::json!(kind));
    out.insert(kind.to_lowercase(), payload);
    json(StatusCode::OK, &serde_json::Value::Object(out))
}
