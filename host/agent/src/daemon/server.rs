//! The agent's HTTP server: the master's side of the master–agent protocol, the v1 executor
//! API, and the operator endpoints.
//!
//! Master → agent messages answer at once (`202`, or `200 Pong` for pings) and do their work
//! in the background; a body that is not the expected JSON is `400` with a plain-text reason
//! and changes nothing.

use std::collections::HashMap;
use std::path::PathBuf;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use meseta_api::internal as wire;
use meseta_http::auth::{Realm, in_realm};
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;

use super::tasks::{self, RunTaskError};
use super::{MESOS_VERSION, Shared, executor_api, state_json, status};
use crate::sandbox::{self, PathError};

/// A plain-text error answer.
pub fn error(code: StatusCode, message: impl Into<String>) -> Response {
    let mut response = (code, message.into()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn json(code: StatusCode, value: &serde_json::Value) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut response = (code, body).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn accepted() -> Response {
    StatusCode::ACCEPTED.into_response()
}

/// A refusal: the status and the plain-text reason (see [`error`]).
type Reject = (StatusCode, String);

fn reject(r: Reject) -> Response {
    error(r.0, r.1)
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, Reject> {
    meseta_api::decode(body).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))
}

/// Lets through only the messages of the master the agent follows: with `--master=zk://...`,
/// the leader it detected (a deposed or partitioned master that still sends is refused with
/// 409, as Mesos' agent ignores messages from a master that is not its leader). A fixed
/// `--master` is not checked: whoever answers on that address is the master.
async fn from_leader(State(d): State<Shared>, request: Request, next: Next) -> Response {
    if d.zk.is_some() {
        let from = request
            .headers()
            .get(wire::MASTER_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let leader = d.leader.borrow().as_ref().and_then(|l| l.id.clone());
        if leader.as_deref() != Some(from.as_str()) {
            let path = request.uri().path().to_string();
            tracing::warn!(%path, from = %from, leader = ?leader,
                "ignoring a message from a master that is not the leading master");
            return error(
                StatusCode::CONFLICT,
                format!(
                    "this agent follows the leading master {}; ignoring {path} from master \
                     '{from}'",
                    leader.as_deref().unwrap_or("(none elected)")
                ),
            );
        }
    }
    next.run(request).await
}

pub fn router(d: Shared) -> Router {
    let from_master = Router::new()
        .route(wire::PING, post(ping))
        .route(wire::RUN_TASK, post(run_task))
        .route(wire::KILL_TASK, post(kill_task))
        .route(wire::SHUTDOWN_FRAMEWORK, post(shutdown_framework))
        .route(wire::SHUTDOWN_EXECUTOR, post(shutdown_executor))
        .route(wire::ACKNOWLEDGE, post(acknowledge))
        .route(wire::FRAMEWORK_MESSAGE, post(framework_message))
        .route(wire::BATCH, post(batch))
        .route(wire::SHUTDOWN_AGENT, post(shutdown_agent))
        .route(wire::CHECKPOINT_RESOURCES, post(checkpoint_resources))
        .route_layer(axum::middleware::from_fn_with_state(d.clone(), from_leader));
    let auth = &d.config.auth;
    let readonly = Router::new()
        .route("/slave(1)/state", get(state))
        .route("/slave(1)/state.json", get(state))
        .route("/state", get(state))
        .route("/state.json", get(state))
        .route("/metrics/snapshot", get(metrics))
        .route("/metrics", get(prometheus))
        .route("/monitor/statistics", get(statistics))
        .route("/monitor/statistics.json", get(statistics))
        .route("/slave(1)/monitor/statistics", get(statistics))
        .route("/slave(1)/flags", get(flags))
        .route("/flags", get(flags));
    // A task's sandbox, read by the master's web UI from the master's origin.
    let files = Router::new()
        .route("/files/browse", get(files_browse))
        .route("/files/browse.json", get(files_browse))
        .route("/files/read", get(files_read))
        .route("/files/read.json", get(files_read))
        .route("/files/download", get(files_download))
        .route("/files/download.json", get(files_download));
    let readonly_realm = || {
        Realm::new(
            "mesos-agent-readonly",
            auth.http_readonly,
            &auth.http_credentials,
        )
    };
    let readwrite = Router::new()
        .route("/api/v1", post(operator_api))
        .route("/slave(1)/api/v1", post(operator_api));
    Router::new()
        // Master -> agent.
        .merge(from_master)
        // Executors (authenticated by their tokens, see `executor_auth`).
        .route("/api/v1/executor", post(executor))
        .route("/slave(1)/api/v1/executor", post(executor))
        // Operators.
        .merge(in_realm(readonly, readonly_realm()))
        .merge(in_realm(files, readonly_realm()).layer(axum::middleware::map_response(any_origin)))
        .merge(in_realm(
            readwrite,
            Realm::new(
                "mesos-agent-readwrite",
                auth.http_readwrite,
                &auth.http_credentials,
            ),
        ))
        .route("/slave(1)/health", get(health))
        .route("/health", get(health))
        .route("/version", get(version))
        .with_state(d)
}

/// CORS for the `/files` reads, so the master's web UI (another origin) can list and read a
/// sandbox, as Mesos' UI does with JSONP. Any origin, and no credentials: a browser sends none
/// to another origin under `*`, so what another site's page could read this way is what it
/// could read with JSONP from Mesos' agent, and nothing from an agent that requires
/// credentials (`--authenticate_http_readonly`). GETs without custom headers are simple
/// requests: no preflight.
async fn any_origin(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// Serves until the agent stops.
pub async fn serve(d: Shared, listener: TcpListener) {
    let app = router(d.clone());
    let stop = d.clone();
    let limits = d.config.http;
    meseta_http::serve(listener, app, limits, async move { stop.stopped().await }).await;
}

// Master -> agent -----------------------------------------------------------------------------

async fn ping(State(d): State<Shared>, body: Bytes) -> Response {
    let ping: wire::Ping = match decode(&body) {
        Ok(p) => p,
        Err(r) => return reject(r),
    };
    let mut st = d.lock();
    let known = st.agent_id.as_deref() == Some(ping.agent_id.value.as_str());
    if known && d.zk.is_some() {
        // The detector says which master leads: only the pings of the master the agent
        // registered with count; another master's (a deposed leader still running, or a new
        // one that pings before the agent has re-registered with it) are answered, not obeyed,
        // as Mesos' agent ignores every master but the detected leader.
        if st.master_id.as_deref() == Some(ping.master_id.as_str()) {
            st.last_ping = std::time::Instant::now();
        } else {
            tracing::debug!(master = %ping.master_id,
                "a ping from a master this agent is not registered with; ignored");
        }
    } else if known {
        st.last_ping = std::time::Instant::now();
        // A ping from another master (it restarted, or failed over) that found this agent in
        // its registry: re-register with it now, reporting our tasks, instead of waiting for
        // the old master's pings to time out.
        if st.master_id.as_deref().is_some_and(|m| m != ping.master_id) {
            tracing::info!(master = %ping.master_id, "a new master pinged this agent; re-registering");
            d.reregister.notify_one();
        }
        st.master_id = Some(ping.master_id);
    }
    json(
        StatusCode::OK,
        &serde_json::to_value(wire::Pong { known }).unwrap_or_default(),
    )
}

async fn run_task(State(d): State<Shared>, body: Bytes) -> Response {
    let msg: wire::RunTask = match decode(&body) {
        Ok(m) => m,
        Err(r) => return reject(r),
    };
    match tasks::run_task(&d, msg) {
        Ok(()) => accepted(),
        Err(RunTaskError::Invalid(reason)) => error(StatusCode::BAD_REQUEST, reason),
        Err(RunTaskError::NotRegistered) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Agent is not registered with a master",
        ),
    }
}

async fn kill_task(State(d): State<Shared>, body: Bytes) -> Response {
    match decode::<wire::KillTask>(&body) {
        Ok(msg) => {
            tasks::kill_task(&d, msg);
            accepted()
        }
        Err(r) => reject(r),
    }
}

async fn shutdown_framework(State(d): State<Shared>, body: Bytes) -> Response {
    match decode::<wire::ShutdownFramework>(&body) {
        Ok(msg) => {
            tasks::shutdown_framework(&d, &msg.framework_id.value);
            accepted()
        }
        Err(r) => reject(r),
    }
}

/// The master marked this agent gone (Mesos' `ShutdownMessage`): kill everything, forget the
/// agent id (a restart registers as a new agent), and let the process exit.
async fn shutdown_agent(State(d): State<Shared>, body: Bytes) -> Response {
    match decode::<wire::ShutdownAgent>(&body) {
        Ok(msg) => {
            tracing::warn!(reason = %msg.message, "the master told this agent to shut down");
            let frameworks: Vec<String> = d.lock().frameworks.keys().cloned().collect();
            for fid in frameworks {
                tasks::shutdown_framework(&d, &fid);
            }
            let _ = std::fs::remove_file(d.meta.latest_agent());
            d.shut_down_by_master.send_replace(Some(msg.message));
            accepted()
        }
        Err(r) => reject(r),
    }
}

/// The agent's checkpointed resources after RESERVE/UNRESERVE/CREATE/DESTROY: `202` once
/// they are checkpointed and the new volumes' directories exist; `409` (nothing changed) for a
/// set that does not fit the agent's resources or drops a volume in use.
async fn checkpoint_resources(State(d): State<Shared>, body: Bytes) -> Response {
    let msg: wire::CheckpointResources = match decode(&body) {
        Ok(m) => m,
        Err(r) => return reject(r),
    };
    match super::persistent::checkpoint(&d, &msg.resources).await {
        Ok(()) => accepted(),
        Err((code, why)) => error(
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            why,
        ),
    }
}

async fn shutdown_executor(State(d): State<Shared>, body: Bytes) -> Response {
    match decode::<wire::ShutdownExecutor>(&body) {
        Ok(msg) => {
            let mut st = d.lock();
            tasks::shutdown_executor(&d, &mut st, &msg.framework_id.value, &msg.executor_id.value);
            accepted()
        }
        Err(r) => reject(r),
    }
}

async fn acknowledge(State(d): State<Shared>, body: Bytes) -> Response {
    match decode::<wire::AcknowledgeUpdate>(&body) {
        Ok(msg) => {
            status::acknowledge(&d, msg);
            accepted()
        }
        Err(r) => reject(r),
    }
}

async fn framework_message(State(d): State<Shared>, body: Bytes) -> Response {
    match decode::<wire::FrameworkToExecutor>(&body) {
        Ok(msg) => {
            tasks::framework_message(&d, msg);
            accepted()
        }
        Err(r) => reject(r),
    }
}

/// Several of the messages above, handled in order as if each had come alone; the answer
/// lists what each would have been answered.
async fn batch(State(d): State<Shared>, body: Bytes) -> Response {
    let batch: wire::Batch = match decode(&body) {
        Ok(b) => b,
        Err(r) => return reject(r),
    };
    let mut codes = Vec::with_capacity(batch.messages.len());
    for m in batch.messages {
        let body = Bytes::copy_from_slice(m.message.get().as_bytes());
        let s = State(d.clone());
        let answer = match m.path.as_str() {
            wire::PING => ping(s, body).await,
            wire::RUN_TASK => run_task(s, body).await,
            wire::KILL_TASK => kill_task(s, body).await,
            wire::SHUTDOWN_FRAMEWORK => shutdown_framework(s, body).await,
            wire::SHUTDOWN_EXECUTOR => shutdown_executor(s, body).await,
            wire::ACKNOWLEDGE => acknowledge(s, body).await,
            wire::FRAMEWORK_MESSAGE => framework_message(s, body).await,
            wire::SHUTDOWN_AGENT => shutdown_agent(s, body).await,
            wire::CHECKPOINT_RESOURCES => checkpoint_resources(s, body).await,
            other => {
                tracing::warn!(
                    path = other,
                    "a batch from the master holds an unknown message"
                );
                error(StatusCode::NOT_FOUND, format!("no message path '{other}'"))
            }
        };
        codes.push(answer.status().as_u16());
    }
    json(
        StatusCode::OK,
        &serde_json::to_value(wire::Codes { codes }).unwrap_or_default(),
    )
}

async fn executor(State(d): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    executor_api::executor_call(d, &headers, body).await
}

// Operators -----------------------------------------------------------------------------------

async fn state(State(d): State<Shared>) -> Response {
    json(StatusCode::OK, &state_json::state(&d))
}

async fn metrics(State(d): State<Shared>) -> Response {
    json(StatusCode::OK, &state_json::metrics(&d))
}

/// `GET /metrics`: the snapshot and the modules' counters in the Prometheus text format.
async fn prometheus(State(d): State<Shared>) -> Response {
    match meseta_prometheus::render_snapshot(&state_json::metrics(&d), &state_json::modules(&d)) {
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

/// `/monitor/statistics`: one entry per live executor with its isolators' usage, as Mesos
/// shows it.
/// `GET_CONTAINERS`' containers: each running executor's container, with its usage.
async fn containers_v1(d: &Shared) -> Vec<serde_json::Value> {
    let d2 = d.clone();
    tokio::task::spawn_blocking(move || {
        let snapshot = super::oversubscription::executors(&d2.lock());
        snapshot
            .into_iter()
            .map(|e| {
                let stats = super::oversubscription::statistics(&d2, &e.containers);
                let mut v = serde_json::json!({
                    "framework_id": {"value": e.framework_id},
                    "executor_id": {"value": e.executor_id},
                    "executor_name": e.executor_name,
                    "container_id": {"value": e.containers.first().cloned().unwrap_or_default()},
                });
                if let Some(stats) = stats {
                    v["resource_statistics"] = state_json::statistics_json(&stats);
                }
                v
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default()
}

async fn statistics(State(d): State<Shared>) -> Response {
    let d2 = d.clone();
    let entries =
        tokio::task::spawn_blocking(move || {
            let snapshot = super::oversubscription::executors(&d2.lock());
            snapshot
                .into_iter()
                .map(|e| {
                    let stats = super::oversubscription::statistics(&d2, &e.containers)
                        .unwrap_or_else(|| meseta_types::isolation::ResourceStatistics {
                            timestamp: meseta_api::common::timestamp_now(),
                            ..Default::default()
                        });
                    serde_json::json!({
                        "executor_id": e.executor_id,
                        "executor_name": e.executor_name,
                        "framework_id": e.framework_id,
                        "source": e.source,
                        "statistics": state_json::statistics_json(&stats),
                    })
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
    json(StatusCode::OK, &serde_json::Value::Array(entries))
}

async fn health() -> Response {
    StatusCode::OK.into_response()
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

async fn flags(State(d): State<Shared>) -> Response {
    json(
        StatusCode::OK,
        &serde_json::json!({ "flags": state_json::flags(&d) }),
    )
}

fn path_error(e: &PathError) -> Reject {
    let code = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    (code, e.to_string())
}

fn file_error(e: &sandbox::FileError) -> Response {
    let code = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    error(code, e.to_string())
}

/// How long one `/files` request may spend on the file system before it is answered `504`.
/// Only regular files are opened, and never in a way that waits (see
/// [`sandbox::open_regular`]), so this bounds what the kernel alone could stall (a hung
/// disk); the blocking thread is then left to finish on its own.
const FILE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs a `/files` operation on the blocking pool, bounded by [`FILE_TIMEOUT`]; a failure is
/// the answer to give.
async fn file_op<T: Send + 'static>(
    op: impl FnOnce() -> Result<T, sandbox::FileError> + Send + 'static,
) -> Result<T, Response> {
    match tokio::time::timeout(FILE_TIMEOUT, tokio::task::spawn_blocking(op)).await {
        Ok(Ok(Ok(value))) => Ok(value),
        Ok(Ok(Err(e))) => Err(file_error(&e)),
        Ok(Err(e)) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
        Err(_) => Err(error(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "the file system did not answer within {}",
                crate::launcher::format_duration(FILE_TIMEOUT)
            ),
        )),
    }
}

/// The `path` query parameter, resolved inside the sandboxes.
fn resolve(d: &Shared, query: &HashMap<String, String>) -> Result<(String, PathBuf), Reject> {
    let Some(path) = query.get("path") else {
        return Err((
            StatusCode::BAD_REQUEST,
            "Expecting 'path' to be present".to_string(),
        ));
    };
    let agent_id = d.lock().agent_id.clone().unwrap_or_default();
    d.layout
        .resolve(&agent_id, path)
        .map(|resolved| (path.clone(), resolved))
        .map_err(|e| path_error(&e))
}

/// Mesos' optional integer parameters: absent or negative means "none".
fn int_param(query: &HashMap<String, String>, name: &str) -> Result<Option<u64>, Reject> {
    match query.get(name) {
        None => Ok(None),
        Some(text) => match text.trim().parse::<i64>() {
            Ok(v) if v < 0 => Ok(None),
            Ok(v) => Ok(Some(v.unsigned_abs())),
            Err(_) => Err((
                StatusCode::BAD_REQUEST,
                format!("Failed to parse '{name}': '{text}' is not an integer"),
            )),
        },
    }
}

async fn files_browse(
    State(d): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (shown, path) = match resolve(&d, &query) {
        Ok(p) => p,
        Err(r) => return reject(r),
    };
    match file_op(move || sandbox::browse_as(&path, &shown)).await {
        Ok(entries) => match serde_json::to_value(entries) {
            Ok(v) => json(StatusCode::OK, &v),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        },
        Err(response) => response,
    }
}

async fn files_read(
    State(d): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (_, path) = match resolve(&d, &query) {
        Ok(p) => p,
        Err(r) => return reject(r),
    };
    // Mesos: no offset (or -1) asks for the size only.
    let offset = match int_param(&query, "offset") {
        Ok(v) => v,
        Err(r) => return reject(r),
    };
    let length = match int_param(&query, "length") {
        Ok(v) => v,
        Err(r) => return reject(r),
    };
    match file_op(move || sandbox::read_range(&path, offset, length)).await {
        Ok(chunk) => match serde_json::to_value(chunk) {
            Ok(v) => json(StatusCode::OK, &v),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        },
        Err(response) => response,
    }
}

/// The largest file `/files/download` serves in one answer.
const MAX_DOWNLOAD: u64 = 256 << 20;

async fn files_download(
    State(d): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (_, path) = match resolve(&d, &query) {
        Ok(p) => p,
        Err(r) => return reject(r),
    };
    match file_op(move || sandbox::read_all(&path, MAX_DOWNLOAD)).await {
        Ok(bytes) => {
            let mut response = (StatusCode::OK, bytes).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            response
        }
        Err(response) => response,
    }
}

/// The agent's v1 operator API (`POST /api/v1`): what the agent has, in Mesos' shapes.
async fn operator_api(State(d): State<Shared>, body: Bytes) -> Response {
    let call: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("Failed to parse body into agent::Call: {e}"),
            );
        }
    };
    let kind = call.get("type").and_then(|t| t.as_str()).unwrap_or("");
    let answer = |payload: serde_json::Value| {
        let mut out = serde_json::Map::new();
        out.insert("type".into(), serde_json::json!(kind));
        out.insert(kind.to_lowercase(), payload);
        json(StatusCode::OK, &serde_json::Value::Object(out))
    };
    match kind {
        "GET_HEALTH" => answer(serde_json::json!({"healthy": true})),
        "GET_VERSION" => answer(serde_json::json!({"version_info": {
            "version": MESOS_VERSION,
            "meseta_version": env!("CARGO_PKG_VERSION"),
        }})),
        "GET_FLAGS" => {
            let flags: Vec<serde_json::Value> = state_json::flags(&d)
                .as_object()
                .into_iter()
                .flatten()
                .map(|(name, value)| {
                    let value = value
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| value.to_string());
                    serde_json::json!({"name": name, "value": value})
                })
                .collect();
            answer(serde_json::json!({ "flags": flags }))
        }
        "GET_METRICS" => {
            let metrics: Vec<serde_json::Value> = state_json::metrics(&d)
                .as_object()
                .into_iter()
                .flatten()
                .map(|(name, value)| serde_json::json!({"name": name, "value": value}))
                .collect();
            answer(serde_json::json!({ "metrics": metrics }))
        }
        "GET_LOGGING_LEVEL" => answer(serde_json::json!({"level": 0})),
        "GET_AGENT" => {
            let state = state_json::state(&d);
            answer(serde_json::json!({"agent_info": {
                "id": {"value": state["id"]},
                "hostname": state["hostname"],
                "port": state["port"],
            }}))
        }
        "LIST_FILES" => {
            let Some(path) = call.pointer("/list_files/path").and_then(|p| p.as_str()) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "LIST_FILES needs 'list_files.path'",
                );
            };
            let query = HashMap::from([("path".to_string(), path.to_string())]);
            let (shown, resolved) = match resolve(&d, &query) {
                Ok(p) => p,
                Err(r) => return reject(r),
            };
            match file_op(move || sandbox::browse_as(&resolved, &shown)).await {
                Ok(entries) => {
                    let infos: Vec<serde_json::Value> = entries.iter().map(file_info_v1).collect();
                    answer(serde_json::json!({ "file_infos": infos }))
                }
                Err(response) => response,
            }
        }
        "READ_FILE" => {
            let Some(path) = call.pointer("/read_file/path").and_then(|p| p.as_str()) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "READ_FILE needs 'read_file.path' (and 'read_file.offset', optionally 'read_file.length')",
                );
            };
            let query = HashMap::from([("path".to_string(), path.to_string())]);
            let (_, resolved) = match resolve(&d, &query) {
                Ok(p) => p,
                Err(r) => return reject(r),
            };
            let offset = call
                .pointer("/read_file/offset")
                .and_then(|o| o.as_u64())
                .unwrap_or(0);
            let length = call.pointer("/read_file/length").and_then(|l| l.as_u64());
            let size_of = resolved.clone();
            let size = match file_op(move || sandbox::read_range(&size_of, None, None)).await {
                Ok(chunk) => chunk.offset,
                Err(response) => return response,
            };
            match file_op(move || sandbox::read_range(&resolved, Some(offset), length)).await {
                Ok(chunk) => answer(serde_json::json!({
                    "size": size,
                    "data": meseta_api::bytes::base64_encode(chunk.data.as_bytes()),
                })),
                Err(response) => response,
            }
        }
        "GET_STATE" => answer(state_json::get_state_v1(&d)),
        "GET_FRAMEWORKS" | "GET_EXECUTORS" | "GET_TASKS" => {
            let state = state_json::get_state_v1(&d);
            answer(state[kind.to_lowercase()].clone())
        }
        "GET_CONTAINERS" => answer(serde_json::json!({ "containers": containers_v1(&d).await })),
        "" => error(StatusCode::BAD_REQUEST, "agent::Call has no 'type'"),
        other => error(
            StatusCode::NOT_IMPLEMENTED,
            format!(
                "Agent operator call '{other}' is not supported by Meseta yet (supported: \
                 GET_HEALTH, GET_VERSION, GET_FLAGS, GET_METRICS, GET_LOGGING_LEVEL, GET_AGENT, \
                 GET_STATE, GET_FRAMEWORKS, GET_EXECUTORS, GET_TASKS, GET_CONTAINERS, \
                 LIST_FILES, READ_FILE)"
            ),
        ),
    }
}

/// A sandbox entry as `v1::FileInfo`: the mode as `st_mode` bits, the time as `TimeInfo`.
fn file_info_v1(f: &sandbox::FileInfo) -> serde_json::Value {
    let mut mode: u32 = match f.mode.chars().next() {
        Some('d') => 0o040000,
        Some('l') => 0o120000,
        Some('p') => 0o010000,
        Some('s') => 0o140000,
        Some('c') => 0o020000,
        Some('b') => 0o060000,
        _ => 0o100000,
    };
    for (i, c) in f.mode.chars().skip(1).take(9).enumerate() {
        if c != '-' {
            mode |= 1 << (8 - i);
        }
    }
    serde_json::json!({
        "path": f.path,
        "nlink": f.nlink,
        "size": f.size,
        "mtime": {"nanoseconds": f.mtime.saturating_mul(1_000_000_000)},
        "mode": mode,
        "uid": f.uid,
        "gid": f.gid,
    })
}
