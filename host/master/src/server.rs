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
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use meseta_api::common::{FrameworkID, MasterInfo};
use meseta_api::internal as wire;
use meseta_api::scheduler::{Call, CallKind, Event, Subscribed};
use meseta_registry::{Operation, Registrar};
use meseta_runtime::LoadedModule;
use tokio::sync::mpsc;

use crate::agents::{self, HttpClient};
use crate::allocator::{AllocatorChoice, AllocatorDriver};
use crate::operator;
use crate::state::{self, Conn, Inner, Settings, record};

/// The Mesos version `/version` reports: numeric and dotted, as clients parse it with `int()`.
pub const MESOS_VERSION: &str = "1.11.0";

/// Largest request body accepted (Mesos has no limit; 16 MiB is far above any real call).
pub const MAX_BODY: usize = 16 << 20;

/// The master's settings, with Mesos' flag names and defaults.
#[derive(Clone)]
pub struct MasterConfig {
    /// `--ip`/`--port`; port 0 picks a free one.
    pub listen: SocketAddr,
    /// `--hostname`; the listen ip when absent.
    pub hostname: Option<String>,
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
}

impl Default for MasterConfig {
    fn default() -> Self {
        MasterConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 5050)),
            hostname: None,
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

#[derive(Clone)]
pub struct Shared {
    inner: Arc<Mutex<Inner>>,
    modules: Arc<Vec<Arc<LoadedModule>>>,
    client: HttpClient,
    registrar: Registrar,
    /// Set when the master cannot go on (its registry failed, too many agents did not come
    /// back): [`Master::failed`] resolves with it.
    failure: Arc<tokio::sync::watch::Sender<Option<String>>>,
}

impl Shared {
    fn fail(&self, why: String) {
        tracing::error!(%why, "the master cannot go on");
        self.failure.send_replace(Some(why));
    }
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
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
}

/// A running master.
pub struct Master {
    address: SocketAddr,
    shared: Shared,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Master {
    /// Binds the listening socket, starts the allocator and the timers, and serves until
    /// [`Master::stop`].
    pub async fn start(config: MasterConfig) -> Result<Master, StartError> {
        let min_allocatable =
            parse_min_allocatable(&config.min_allocatable_resources).map_err(StartError::Config)?;
        for (role, w) in &config.weights {
            state::validate_role(role)
                .map_err(|e| StartError::Config(format!("--weights: {e}")))?;
            if !w.is_finite() || *w <= 0.0 {
                return Err(StartError::Config(format!(
                    "--weights: the weight of role '{role}' must be a positive number, got {w}"
                )));
            }
        }
        let choice = match &config.allocator {
            Some(m) => AllocatorChoice::Module(m.clone()),
            None => AllocatorChoice::Native,
        };
        let allocator = AllocatorDriver::new(choice)?;
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
        let settings = Settings {
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
        };
        let master_id = uuid::Uuid::new_v4().to_string();
        let (registrar, registry) =
            recover_registry(&config, master_info(&master_id, address, &hostname)).await?;
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
        let mut inner = Inner::new(
            master_id,
            address,
            hostname,
            settings,
            config.flags.clone(),
            allocator,
            weights,
        );
        inner.hooks = config.hooks.clone();
        inner.registry_log = Some(registry_log);
        inner.recover_from_registry(&registry);
        let shared = Shared {
            inner: Arc::new(Mutex::new(inner)),
            modules: Arc::new(config.modules.clone()),
            client: agents::client(),
            registrar,
            failure: Arc::new(tokio::sync::watch::channel(None).0),
        };
        let app = router(shared.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let mut tasks = vec![tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "master HTTP server failed");
            }
        })];
        tasks.push(tokio::spawn(registry_writer(
            shared.clone(),
            registry_queue,
        )));
        tasks.push(tokio::spawn(registry_gc(
            shared.clone(),
            config.registry_gc_interval,
            config.registry_max_agent_age,
            config.registry_max_agent_count,
        )));
        tasks.push(tokio::spawn(allocation_loop(shared.clone())));
        tasks.push(tokio::spawn(sweep_loop(shared.clone())));
        tasks.push(tokio::spawn(agents::ping_loop(
            shared.clone(),
            shared.client.clone(),
        )));
        tracing::info!(%address, allocator = %shared.lock().allocator.name(), "master listening");
        Ok(Master {
            address,
            shared,
            shutdown: Some(tx),
            tasks,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Resolves when the master cannot go on (its registry failed, or more agents than
    /// `--recovery_agent_removal_limit` did not re-register after a restart), with why. As in
    /// Mesos, the daemon then exits rather than serve a cluster it can no longer keep durable.
    pub async fn failed(&self) -> String {
        let mut rx = self.shared.failure.subscribe();
        match rx.wait_for(Option::is_some).await {
            Ok(why) => why.clone().unwrap_or_default(),
            Err(_) => std::future::pending().await,
        }
    }

    /// The subscribed frameworks: (id, name), sorted by id.
    pub fn frameworks(&self) -> Vec<(String, String)> {
        let inner = self.shared.lock();
        let mut out: Vec<(String, String)> = inner
            .frameworks
            .iter()
            .map(|(id, f)| (id.clone(), f.info.name.clone()))
            .collect();
        out.sort();
        out
    }

    /// `/master/state` as a value.
    pub fn state(&self) -> serde_json::Value {
        operator::state(&self.shared.lock())
    }

    /// Ends every subscription stream and stops serving.
    pub async fn stop(mut self) {
        {
            let mut inner = self.shared.lock();
            for f in inner.frameworks.values_mut() {
                f.conn = None;
            }
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let mut tasks = std::mem::take(&mut self.tasks);
        for t in tasks.iter().skip(1) {
            t.abort();
        }
        if !tasks.is_empty() {
            let server = tasks.remove(0);
            let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        }
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// This master's `MasterInfo`, as frameworks see it in SUBSCRIBED and the registry keeps it.
fn master_info(id: &str, address: SocketAddr, hostname: &str) -> MasterInfo {
    MasterInfo {
        id: id.to_string(),
        ip: match address.ip() {
            std::net::IpAddr::V4(v4) => meseta_api::common::ipv4_to_mesos_u32(v4),
            std::net::IpAddr::V6(_) => 0,
        },
        port: u32::from(address.port()),
        pid: Some(format!("master@{address}")),
        hostname: Some(hostname.to_string()),
        version: Some(MESOS_VERSION.to_string()),
        address: None,
    }
}

/// Opens the `--registry` and recovers it (Mesos' registrar `recover`: the new master's info is
/// stored durably before anything else happens).
async fn recover_registry(
    config: &MasterConfig,
    info: MasterInfo,
) -> Result<(Registrar, meseta_registry::Registry), StartError> {
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
    let options = meseta_registry::RegistrarOptions {
        fetch_timeout: config.registry_fetch_timeout,
        store_timeout: config.registry_store_timeout,
    };
    let (registrar, registry) = Registrar::recover_with(storage, info, options).await?;
    tracing::info!(registry = %registrar.location(), agents = registry.agents.len(),
        unreachable = registry.unreachable.len(), gone = registry.gone.len(), "registry recovered");
    Ok((registrar, registry))
}

/// Applies, in order, the registry operations the state machine queued (agents marked
/// unreachable). A failed store stops the registrar; as Mesos, the master cannot go on
/// without its registry, so it stops serving frameworks and agents (logged).
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
        let candidates = shared
            .registrar
            .snapshot()
            .gc(state::now_secs(), max_age, max_count);
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
                shared.lock().forget_agents(&ids);
            }
            Err(e) => {
                shared.fail(format!("the registry failed: {e}"));
                return;
            }
        }
    }
}

/// Runs an allocation round every `--allocation_interval`, and soon after any event that may
/// free or add resources; events that arrive during a round are batched into the next one.
async fn allocation_loop(shared: Shared) {
    let (interval, notify) = {
        let inner = shared.lock();
        (
            inner.settings.allocation_interval,
            inner.allocate_soon.clone(),
        )
    };
    let mut next_tick = tokio::time::Instant::now() + interval;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next_tick) => {}
            _ = notify.notified() => {
                if shared.lock().allocator.degraded() {
                    // The allocator module is faulting: interval rounds only.
                    continue;
                }
                // Let a burst of events (a whole ACCEPT, several agents registering) land first.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        if tokio::time::Instant::now() >= next_tick {
            next_tick = tokio::time::Instant::now() + interval;
        }
        let shared = shared.clone();
        let _ = tokio::task::spawn_blocking(move || shared.lock().allocate()).await;
    }
}

/// Offer timeouts, framework failover timeouts, and agents that did not re-register after a
/// master restart.
async fn sweep_loop(shared: Shared) {
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    loop {
        ticker.tick().await;
        let mut inner = shared.lock();
        inner.expire_offers();
        inner.expire_frameworks();
        if let Err(why) = inner.expire_recovered_agents() {
            drop(inner);
            shared.fail(why);
            return;
        }
    }
}

fn router(shared: Shared) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/master/health", get(|| async { StatusCode::OK }))
        .route("/health", get(|| async { StatusCode::OK }))
        .route("/api/v1/scheduler", post(scheduler))
        .route("/master/api/v1/scheduler", post(scheduler))
        .route(wire::REGISTER, post(agent_register))
        .route(wire::STATUS, post(agent_status))
        .route(wire::STATUSES, post(agent_statuses))
        .route(wire::EXECUTOR_MESSAGE, post(agent_executor_message))
        .route(wire::EXECUTOR_EXITED, post(agent_executor_exited))
        .route(wire::UPDATE, post(agent_update))
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
        .route("/master/weights", any(weights))
        .route("/master/teardown", post(teardown))
        .route("/master/flags", get(flags))
        .route("/master/redirect", get(redirect))
        .route("/master/modules", get(modules))
        .route("/master/quota", get(quota))
        .route("/registrar(1)/registry", get(registry_endpoint))
        .route("/api/v1", post(operator_api))
        .route("/master/api/v1", post(operator_api))
        .route("/metrics/snapshot", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(shared)
}

async fn version() -> Response {
    json(
        StatusCode::OK,
        &serde_json::json!({
            "version": MESOS_VERSION,
            "meseta_version": env!("CARGO_PKG_VERSION"),
        }),
    )
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response {
    let body = meseta_api::ascii_json(value).unwrap_or_else(|_| "{}".into());
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A plain-text error answer, as Mesos gives.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message.into(),
    )
        .into_response()
}

fn accepted() -> Response {
    StatusCode::ACCEPTED.into_response()
}

// The v1 scheduler API ----------------------------------------------------------------------

async fn scheduler(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    if content_type.starts_with("application/x-protobuf") {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Meseta speaks JSON only: send the call with Content-Type: application/json",
        );
    }
    let call: Call = match meseta_api::decode(&body) {
        Ok(c) => c,
        Err(e) => {
            shared.lock().metrics.invalid_calls += 1;
            return error(StatusCode::BAD_REQUEST, e.to_string());
        }
    };
    if let CallKind::Other(t) = &call.kind {
        shared.lock().metrics.invalid_calls += 1;
        return error(
            StatusCode::BAD_REQUEST,
            format!("Failed to validate scheduler::Call: unknown call type '{t}'"),
        );
    }
    if let CallKind::Subscribe(subscribe) = call.kind {
        return subscribe_call(&shared, subscribe, call.framework_id);
    }
    let Some(framework_id) = call.framework_id else {
        return error(
            StatusCode::BAD_REQUEST,
            "Expecting 'framework_id' to be present",
        );
    };
    let fid = framework_id.value;
    let mut inner = shared.lock();
    let Some(framework) = inner.frameworks.get(&fid) else {
        return error(
            StatusCode::FORBIDDEN,
            format!("Framework '{fid}' is not subscribed"),
        );
    };
    let stream_id = headers.get("mesos-stream-id").and_then(|v| v.to_str().ok());
    let current = framework.conn.as_ref().map(|c| c.stream_id.as_str());
    if stream_id.is_none() || stream_id != current {
        return error(
            StatusCode::BAD_REQUEST,
            match stream_id {
                None => "All non-subscribe calls should include the 'Mesos-Stream-Id' header"
                    .to_string(),
                Some(s) => format!(
                    "The stream ID '{s}' included in this request didn't match the stream ID currently associated with framework ID {fid}"
                ),
            },
        );
    }
    *inner
        .metrics
        .calls
        .entry(call.kind.type_name().to_string())
        .or_default() += 1;
    match call.kind {
        CallKind::Teardown => {
            inner.remove_framework(&fid, "TEARDOWN call");
            accepted()
        }
        CallKind::Accept(a) => match inner.accept(&fid, a) {
            Ok(()) => accepted(),
            Err(e) => error(StatusCode::BAD_REQUEST, e),
        },
        CallKind::Decline(d) => {
            let refuse = d.refuse_seconds();
            inner.decline(&fid, &d.offer_ids, refuse);
            accepted()
        }
        CallKind::Revive(r) => {
            if let Err(e) = check_roles(&inner, &fid, &r.roles) {
                return error(StatusCode::BAD_REQUEST, e);
            }
            inner.revive(&fid, r.roles);
            accepted()
        }
        CallKind::Suppress(s) => {
            if let Err(e) = check_roles(&inner, &fid, &s.roles) {
                return error(StatusCode::BAD_REQUEST, e);
            }
            inner.suppress(&fid, s.roles);
            accepted()
        }
        CallKind::Kill(k) => {
            inner.kill(&fid, &k.task_id.value, k.kill_policy);
            accepted()
        }
        CallKind::Shutdown(s) => {
            inner.shutdown_executor(&fid, &s.agent_id.value, &s.executor_id.value);
            accepted()
        }
        CallKind::Acknowledge(a) => {
            if a.uuid.as_uuid().is_none() {
                return error(
                    StatusCode::BAD_REQUEST,
                    "Failed to validate scheduler::Call: 'acknowledge.uuid' is not a valid UUID (16 bytes, base64)",
                );
            }
            inner.acknowledge(&fid, &a.agent_id.value, &a.task_id.value, a.uuid);
            accepted()
        }
        CallKind::Reconcile(r) => {
            inner.reconcile(&fid, r);
            accepted()
        }
        CallKind::Message(m) => {
            inner.framework_message(&fid, m);
            accepted()
        }
        CallKind::UpdateFramework(u) => {
            match inner.update_framework(&fid, u.framework_info, u.suppressed_roles) {
                Ok(()) => accepted(),
                Err(e) => error(StatusCode::BAD_REQUEST, e),
            }
        }
        CallKind::Request => accepted(),
        CallKind::Subscribe(_) | CallKind::Other(_) => {
            error(StatusCode::BAD_REQUEST, "unexpected call")
        }
    }
}

fn check_roles(inner: &Inner, fid: &str, roles: &[String]) -> Result<(), String> {
    let Some(f) = inner.frameworks.get(fid) else {
        return Ok(());
    };
    for r in roles {
        if !f.roles.contains(r) {
            return Err(format!(
                "Role '{r}' is not one of the framework's roles ({})",
                f.roles.join(", ")
            ));
        }
    }
    Ok(())
}

/// Ends when the response body is dropped (the client went away): tells the master.
struct StreamGuard {
    shared: Shared,
    framework_id: String,
    stream_id: String,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let mut inner = self.shared.lock();
        inner.disconnected(&self.framework_id, &self.stream_id);
    }
}

fn subscribe_call(
    shared: &Shared,
    subscribe: meseta_api::scheduler::Subscribe,
    top_level_id: Option<FrameworkID>,
) -> Response {
    let info = subscribe.framework_info;
    let mut inner = shared.lock();
    let roles = match inner.validate_framework(&info) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("Failed to validate scheduler::Call: {e}"),
            );
        }
    };
    for r in &subscribe.suppressed_roles {
        if !roles.contains(r) {
            return error(
                StatusCode::BAD_REQUEST,
                format!("Suppressed role '{r}' is not one of the framework's roles"),
            );
        }
    }
    let claimed = info
        .id
        .clone()
        .or(top_level_id)
        .map(|i| i.value)
        .filter(|s| !s.is_empty());
    let stream_id = uuid::Uuid::new_v4().to_string();
    let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
    if let Some(id) = &claimed
        && inner.is_completed_framework(id)
        && !inner.frameworks.contains_key(id)
    {
        // As Mesos: a removed framework cannot come back under its id.
        if let Some(bytes) = record(&Event::error("Framework has been removed")) {
            let _ = tx.send(bytes);
        }
        drop(tx);
        return stream_response(rx, &stream_id, None);
    }
    let interval = inner.settings.heartbeat_interval;
    let heartbeat = tx.clone();
    let beats = tokio::spawn(async move {
        let Some(beat) = record(&Event::Heartbeat) else {
            return;
        };
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        loop {
            ticker.tick().await;
            if heartbeat.send(beat.clone()).is_err() {
                break;
            }
        }
    });
    let conn = Conn {
        stream_id: stream_id.clone(),
        events: tx.clone(),
        heartbeat: beats.abort_handle(),
    };
    let outcome = inner.subscribe(info, roles, claimed, subscribe.suppressed_roles, conn);
    let (id, old) = match outcome {
        state::Subscribed::New { id } => (id, None),
        state::Subscribed::Failover { id, old } => (id, old),
    };
    let master_info = master_info(&inner.master_id, inner.address, &inner.hostname);
    let subscribed = Event::Subscribed(Subscribed {
        framework_id: FrameworkID::new(&id),
        heartbeat_interval_seconds: Some(interval.as_secs_f64()),
        master_info: Some(master_info),
    });
    // SUBSCRIBED and the first HEARTBEAT go ahead of anything the subscription triggered
    // (offers come from the allocation loop, after this function returns).
    for event in [subscribed, Event::Heartbeat] {
        if let Some(bytes) = record(&event) {
            let _ = tx.send(bytes);
        }
    }
    tracing::info!(framework = %id, failover = old.is_some(), "framework subscribed");
    if let Some(old) = old
        && let Some(bytes) = record(&Event::error("Framework failed over"))
    {
        // As Mesos does, the old connection hears why it is closed; dropping `old` ends it.
        let _ = old.events.send(bytes);
    }
    drop(inner);
    let guard = StreamGuard {
        shared: shared.clone(),
        framework_id: id,
        stream_id: stream_id.clone(),
    };
    stream_response(rx, &stream_id, Some(guard))
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

async fn agent_register(State(shared): State<Shared>, body: Bytes) -> Response {
    let msg: wire::RegisterAgent = match meseta_api::decode(&body) {
        Ok(m) => m,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    if msg.endpoint.parse::<SocketAddr>().is_err() {
        return error(
            StatusCode::BAD_REQUEST,
            format!("'endpoint' must be ip:port, got '{}'", msg.endpoint),
        );
    }
    let mut msg = msg;
    let reregistering = msg
        .agent_info
        .id
        .as_ref()
        .is_some_and(|i| !i.value.is_empty());
    let admission = shared.lock().admission(&msg.agent_info);
    let id = match admission {
        Err(e) => return error(StatusCode::FORBIDDEN, e),
        Ok((id, None)) => id,
        Ok((id, Some(op))) => {
            // Acknowledged means durable: the agent hears "registered" only once its admission
            // (or its return from unreachable) is in the registry.
            match shared.registrar.apply(op).await {
                Ok(_) => id,
                Err(meseta_registry::RegistryError::Refused(e)) => {
                    return error(StatusCode::FORBIDDEN, e.to_string());
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot store an agent's admission");
                    return error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("the registry cannot store this agent's admission: {e}"),
                    );
                }
            }
        }
    };
    msg.agent_info.id = Some(meseta_api::common::AgentID::new(&id));
    let mut inner = shared.lock();
    let outbox = agents::spawn_outbox(shared.client.clone(), id, msg.endpoint.clone());
    match inner.register_agent(msg, outbox, reregistering) {
        Ok(agent_id) => json(
            StatusCode::OK,
            &serde_json::to_value(wire::Registered {
                agent_id: meseta_api::common::AgentID::new(agent_id),
                master_id: inner.master_id.clone(),
                ping_interval_seconds: inner.settings.agent_ping_timeout.as_secs_f64(),
                max_ping_timeouts: inner.settings.max_agent_ping_timeouts,
            })
            .unwrap_or_default(),
        ),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

async fn agent_status(State(shared): State<Shared>, body: Bytes) -> Response {
    let msg: wire::StatusUpdate = match meseta_api::decode(&body) {
        Ok(m) => m,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let agent = msg.agent_id.value.clone();
    match shared.lock().status_update(msg) {
        true => accepted(),
        false => error(
            StatusCode::CONFLICT,
            format!("Agent '{agent}' is not registered with this master: register again"),
        ),
    }
}

async fn agent_statuses(State(shared): State<Shared>, body: Bytes) -> Response {
    let msg: wire::StatusUpdates = match meseta_api::decode(&body) {
        Ok(m) => m,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let mut inner = shared.lock();
    let codes = msg
        .updates
        .into_iter()
        .map(|u| if inner.status_update(u) { 202 } else { 409 })
        .collect();
    drop(inner);
    json(
        StatusCode::OK,
        &serde_json::to_value(wire::Codes { codes }).unwrap_or_default(),
    )
}

async fn agent_update(State(shared): State<Shared>, body: Bytes) -> Response {
    let msg: wire::UpdateAgent = match meseta_api::decode(&body) {
        Ok(m) => m,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let resources = match meseta_api::convert::resources_from_wire(&msg.oversubscribed_resources) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("oversubscribed_resources: {e}"),
            );
        }
    };
    if let Some(bad) = resources.iter().find(|r| !r.revocable) {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "oversubscribed_resources: '{}' is not revocable; every oversubscribed resource \
                 must carry \"revocable\": {{}}",
                bad.name
            ),
        );
    }
    let agent = msg.agent_id.value.clone();
    match shared.lock().update_oversubscribed(&agent, &resources) {
        true => accepted(),
        false => error(
            StatusCode::CONFLICT,
            format!("Agent '{agent}' is not registered with this master: register again"),
        ),
    }
}

async fn agent_executor_message(State(shared): State<Shared>, body: Bytes) -> Response {
    match meseta_api::decode::<wire::ExecutorToFramework>(&body) {
        Ok(m) => {
            shared.lock().executor_message(m);
            accepted()
        }
        Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

async fn agent_executor_exited(State(shared): State<Shared>, body: Bytes) -> Response {
    match meseta_api::decode::<wire::ExecutorExited>(&body) {
        Ok(m) => {
            shared.lock().executor_exited(m);
            accepted()
        }
        Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

// Operator endpoints --------------------------------------------------------------------------

async fn state_endpoint(State(shared): State<Shared>) -> Response {
    json(StatusCode::OK, &operator::state(&shared.lock()))
}

async fn state_summary(State(shared): State<Shared>) -> Response {
    json(StatusCode::OK, &operator::state_summary(&shared.lock()))
}

async fn frameworks(State(shared): State<Shared>) -> Response {
    json(StatusCode::OK, &operator::frameworks(&shared.lock()))
}

async fn slaves(State(shared): State<Shared>) -> Response {
    json(StatusCode::OK, &operator::slaves(&shared.lock()))
}

async fn tasks(
    State(shared): State<Shared>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    match operator::tasks(&shared.lock(), &query) {
        Ok(v) => json(StatusCode::OK, &v),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

async fn roles(State(shared): State<Shared>) -> Response {
    json(StatusCode::OK, &operator::roles(&shared.lock()))
}

async fn flags(State(shared): State<Shared>) -> Response {
    json(
        StatusCode::OK,
        &serde_json::json!({ "flags": operator::flags_json(&shared.lock()) }),
    )
}

async fn modules(State(shared): State<Shared>) -> Response {
    json(
        StatusCode::OK,
        &operator::modules(&shared.lock(), &shared.modules),
    )
}

async fn metrics(State(shared): State<Shared>) -> Response {
    json(
        StatusCode::OK,
        &operator::metrics(&shared.lock(), &shared.modules),
    )
}

async fn redirect(State(shared): State<Shared>) -> Response {
    let address = shared.lock().address;
    let mut r = StatusCode::TEMPORARY_REDIRECT.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("//{address}")) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// `GET /master/weights`; `PUT` (or `POST`) with `[{"role": "r", "weight": 2.0}, ...]`.
async fn weights(State(shared): State<Shared>, method: Method, body: Bytes) -> Response {
    if method == Method::GET {
        return json(StatusCode::OK, &operator::weights(&shared.lock()));
    }
    if method != Method::PUT && method != Method::POST {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "Expecting 'GET' or 'PUT' for /master/weights",
        );
    }
    #[derive(serde::Deserialize)]
    struct WeightInfo {
        role: String,
        weight: f64,
    }
    let list: Vec<WeightInfo> = match serde_json::from_slice(&body) {
        Ok(l) => l,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "Failed to parse update weights request JSON (expected [{{\"role\": \"...\", \"weight\": 1.0}}]): {e}"
                ),
            );
        }
    };
    let mut updates = Vec::new();
    for w in list {
        if let Err(e) = state::validate_role(&w.role) {
            return error(StatusCode::BAD_REQUEST, format!("Invalid role: {e}"));
        }
        if !w.weight.is_finite() || w.weight <= 0.0 {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "Invalid weight '{}' for role '{}': weights must be positive",
                    w.weight, w.role
                ),
            );
        }
        updates.push((w.role, w.weight));
    }
    if let Err(e) = shared
        .registrar
        .apply(Operation::UpdateWeights(updates.clone()))
        .await
    {
        return registry_failed(e);
    }
    shared.lock().set_weights(&updates);
    StatusCode::OK.into_response()
}

/// A registry operation the master could not make durable: nothing changed.
fn registry_failed(e: meseta_registry::RegistryError) -> Response {
    match e {
        meseta_registry::RegistryError::Refused(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
        e => {
            tracing::error!(error = %e, "the registry failed");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the registry cannot store the change: {e}"),
            )
        }
    }
}

/// `GET /registrar(1)/registry`: the registry as last stored, in Mesos' JSON shape.
async fn registry_endpoint(State(shared): State<Shared>) -> Response {
    json(
        StatusCode::OK,
        &serde_json::to_value(shared.registrar.snapshot()).unwrap_or_default(),
    )
}

/// `POST /master/teardown` with the form `frameworkId=<id>`.
async fn teardown(State(shared): State<Shared>, body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body);
    let id = text.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == "frameworkId").then(|| v.trim().to_string())
    });
    let Some(id) = id.filter(|i| !i.is_empty()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "Missing 'frameworkId' query parameter in the request body",
        );
    };
    let mut inner = shared.lock();
    if !inner.frameworks.contains_key(&id) {
        return error(
            StatusCode::BAD_REQUEST,
            format!("No framework found with specified ID '{id}'"),
        );
    }
    inner.remove_framework(&id, "operator teardown");
    StatusCode::OK.into_response()
}

fn quota_status(inner: &Inner) -> serde_json::Value {
    let amounts = |m: &BTreeMap<String, f64>| {
        let mut o = serde_json::Map::new();
        for (k, v) in m {
            o.insert(k.clone(), serde_json::json!({ "value": v }));
        }
        serde_json::Value::Object(o)
    };
    let configs: Vec<serde_json::Value> = inner
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
    json(StatusCode::OK, &quota_status(&shared.lock()))
}

/// The v1 operator API (`POST /api/v1`), JSON: `UPDATE_QUOTA` and `GET_QUOTA`, the calls that
/// set what the allocator enforces. Other operator calls are answered 501, naming the call.
async fn operator_api(State(shared): State<Shared>, body: Bytes) -> Response {
    let call: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("Failed to parse body into master::Call: {e}"),
            );
        }
    };
    let kind = call.get("type").and_then(|t| t.as_str()).unwrap_or("");
    match kind {
        "GET_QUOTA" => json(
            StatusCode::OK,
            &serde_json::json!({
                "type": "GET_QUOTA",
                "get_quota": { "status": quota_status(&shared.lock()) },
            }),
        ),
        "UPDATE_QUOTA" => {
            let configs = call
                .pointer("/update_quota/quota_configs")
                .and_then(|c| c.as_array())
                .cloned()
                .unwrap_or_default();
            if configs.is_empty() {
                return error(
                    StatusCode::BAD_REQUEST,
                    "UPDATE_QUOTA needs 'update_quota.quota_configs': [{\"role\": ..., \"limits\": {\"cpus\": {\"value\": 2}}}]",
                );
            }
            let mut parsed = Vec::new();
            for c in &configs {
                let Some(role) = c.get("role").and_then(|r| r.as_str()) else {
                    return error(StatusCode::BAD_REQUEST, "a quota config has no 'role'");
                };
                let amounts = |key: &str| -> Result<BTreeMap<String, f64>, String> {
                    let mut out = BTreeMap::new();
                    if let Some(map) = c.get(key).and_then(|m| m.as_object()) {
                        for (name, v) in map {
                            let value = v
                                .get("value")
                                .and_then(|x| x.as_f64())
                                .or_else(|| v.as_f64())
                                .ok_or_else(|| {
                                    format!("quota of role '{role}': '{key}.{name}' needs a numeric 'value'")
                                })?;
                            out.insert(name.clone(), value);
                        }
                    }
                    Ok(out)
                };
                let quota = match (amounts("guarantees"), amounts("limits")) {
                    (Ok(guarantees), Ok(limits)) => state::Quota { guarantees, limits },
                    (Err(e), _) | (_, Err(e)) => return error(StatusCode::BAD_REQUEST, e),
                };
                parsed.push((role.to_string(), quota));
            }
            // Validate everything before changing anything.
            {
                let inner = shared.lock();
                for (role, quota) in &parsed {
                    if let Err(e) = inner.check_quota(role, quota) {
                        return error(StatusCode::BAD_REQUEST, e);
                    }
                    if quota
                        .guarantees
                        .iter()
                        .any(|(k, g)| quota.limits.get(k).is_some_and(|l| g > l))
                    {
                        return error(
                            StatusCode::BAD_REQUEST,
                            format!("quota of role '{role}': a guarantee exceeds its limit"),
                        );
                    }
                }
            }
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
                if let Err(e) = shared.registrar.apply(op).await {
                    return registry_failed(e);
                }
            }
            let mut inner = shared.lock();
            for (role, quota) in parsed {
                if let Err(e) = inner.set_quota(&role, quota) {
                    return error(StatusCode::BAD_REQUEST, e);
                }
            }
            StatusCode::OK.into_response()
        }
        "" => error(StatusCode::BAD_REQUEST, "master::Call has no 'type'"),
        other => error(
            StatusCode::NOT_IMPLEMENTED,
            format!(
                "Operator call '{other}' is not supported by Meseta yet (supported: GET_QUOTA, UPDATE_QUOTA)"
            ),
        ),
    }
}
