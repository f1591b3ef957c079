//! The master's HTTP server.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use meseta_api::common::{FrameworkID, FrameworkInfo, MasterInfo};
use meseta_api::scheduler::{Call, CallKind, Event, Subscribed};
use tokio::sync::mpsc;

/// The Mesos version `/version` reports: numeric and dotted, as clients parse it with `int()`.
pub const MESOS_VERSION: &str = "1.11.0";

/// Largest request body accepted.
pub const MAX_BODY: usize = 16 << 20;

#[derive(Clone, Debug)]
pub struct MasterConfig {
    /// Address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Interval of the HEARTBEAT events on every subscription stream (clients drop a stream
    /// after 10 s of silence).
    pub heartbeat_interval: Duration,
}

impl Default for MasterConfig {
    fn default() -> Self {
        MasterConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 5050)),
            heartbeat_interval: Duration::from_secs(5),
        }
    }
}

struct Framework {
    info: FrameworkInfo,
    stream_id: String,
    /// The subscription stream: the response ends once this and the heartbeat task are gone.
    events: mpsc::UnboundedSender<Bytes>,
    heartbeat: tokio::task::AbortHandle,
}

impl Drop for Framework {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

struct Inner {
    master_id: String,
    config: MasterConfig,
    address: SocketAddr,
    next_framework: u64,
    frameworks: HashMap<String, Framework>,
}

#[derive(Clone)]
struct Shared(Arc<Mutex<Inner>>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running master.
pub struct Master {
    address: SocketAddr,
    shared: Shared,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Master {
    /// Binds the listening socket and serves until [`Master::stop`].
    pub async fn start(config: MasterConfig) -> std::io::Result<Master> {
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let address = listener.local_addr()?;
        let shared = Shared(Arc::new(Mutex::new(Inner {
            master_id: uuid::Uuid::new_v4().to_string(),
            config,
            address,
            next_framework: 0,
            frameworks: HashMap::new(),
        })));
        let app = router(shared.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "master HTTP server failed");
            }
        });
        tracing::info!(%address, "master listening");
        Ok(Master {
            address,
            shared,
            shutdown: Some(tx),
            task,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
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

    /// Ends every subscription stream and stops serving.
    pub async fn stop(mut self) {
        self.shared.lock().frameworks.clear();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = self.task.await;
    }
}

fn router(shared: Shared) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/master/health", get(|| async { StatusCode::OK }))
        .route("/api/v1/scheduler", post(scheduler))
        .route("/master/api/v1/scheduler", post(scheduler))
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

fn record(event: &Event) -> Option<Bytes> {
    match meseta_api::recordio::encode(event) {
        Ok(bytes) => Some(Bytes::from(bytes)),
        Err(e) => {
            tracing::error!(error = %e, event = event.type_name(), "cannot encode an event");
            None
        }
    }
}

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
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    if let CallKind::Subscribe(subscribe) = call.kind {
        return subscribe_call(&shared, subscribe.framework_info, call.framework_id);
    }
    let Some(framework_id) = call.framework_id else {
        return error(
            StatusCode::BAD_REQUEST,
            "Expecting 'framework_id' to be present",
        );
    };
    let mut inner = shared.lock();
    let Some(framework) = inner.frameworks.get(&framework_id.value) else {
        return error(
            StatusCode::FORBIDDEN,
            format!("Framework '{}' is not subscribed", framework_id.value),
        );
    };
    let stream_id = headers.get("mesos-stream-id").and_then(|v| v.to_str().ok());
    if stream_id != Some(framework.stream_id.as_str()) {
        return error(
            StatusCode::BAD_REQUEST,
            match stream_id {
                None => "All non-subscribe calls should include the 'Mesos-Stream-Id' header"
                    .to_string(),
                Some(s) => format!(
                    "The stream ID '{s}' included in this request didn't match the stream ID currently associated with framework ID {}",
                    framework_id.value
                ),
            },
        );
    }
    match call.kind {
        CallKind::Teardown => {
            inner.frameworks.remove(&framework_id.value);
            tracing::info!(framework = %framework_id.value, "framework torn down");
            accepted()
        }
        CallKind::Request => accepted(),
        CallKind::Other(t) => error(StatusCode::BAD_REQUEST, format!("Unknown call type '{t}'")),
        other => error(
            StatusCode::NOT_IMPLEMENTED,
            format!(
                "{} is not implemented by this master yet",
                other.type_name()
            ),
        ),
    }
}

fn subscribe_call(
    shared: &Shared,
    info: FrameworkInfo,
    top_level_id: Option<FrameworkID>,
) -> Response {
    let mut inner = shared.lock();
    let claimed = info.id.clone().or(top_level_id);
    let id = match claimed {
        // A framework that names its id is the same framework coming back (failover).
        Some(id) => id.value,
        None => {
            let id = format!("{}-{:04}", inner.master_id, inner.next_framework);
            inner.next_framework += 1;
            id
        }
    };
    let stream_id = uuid::Uuid::new_v4().to_string();
    let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
    let master_info = MasterInfo {
        id: inner.master_id.clone(),
        ip: match inner.address.ip() {
            std::net::IpAddr::V4(v4) => meseta_api::common::ipv4_to_mesos_u32(v4),
            std::net::IpAddr::V6(_) => 0,
        },
        port: u32::from(inner.address.port()),
        pid: Some(format!("master@{}", inner.address)),
        hostname: Some(inner.address.ip().to_string()),
        version: Some(MESOS_VERSION.to_string()),
        address: None,
    };
    let interval = inner.config.heartbeat_interval;
    let subscribed = Event::Subscribed(Subscribed {
        framework_id: FrameworkID::new(&id),
        heartbeat_interval_seconds: Some(interval.as_secs_f64()),
        master_info: Some(master_info),
    });
    for event in [subscribed, Event::Heartbeat] {
        if let Some(bytes) = record(&event) {
            let _ = tx.send(bytes);
        }
    }
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
    // Replacing an entry (failover) drops the old one, which ends the old stream.
    let previous = inner.frameworks.insert(
        id.clone(),
        Framework {
            info,
            stream_id: stream_id.clone(),
            events: tx,
            heartbeat: beats.abort_handle(),
        },
    );
    tracing::info!(framework = %id, failover = previous.is_some(), "framework subscribed");
    if let Some(old) = previous
        && let Some(bytes) = record(&Event::error("Framework failed over"))
    {
        // As Mesos does, the old connection hears why it is closed; dropping `old` ends it.
        let _ = old.events.send(bytes);
    }
    drop(inner);
    // One record per chunk: every channel item becomes one body frame, which hyper writes as
    // one HTTP chunk.
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let bytes = rx.recv().await?;
        Some((Ok::<Bytes, Infallible>(bytes), rx))
    });
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&stream_id) {
        headers.insert("Mesos-Stream-Id", v);
    }
    response
}
