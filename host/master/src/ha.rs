//! High availability on ZooKeeper (`--zk`): every master contends in the election and detects
//! its leader ([`meseta_zk`]); one leads, the others stand by.
//!
//! A standby answers as Mesos' non-leading masters do: `/health`, `/version`, `/flags` and
//! `/metrics/snapshot` locally (`master/elected` 0), everything else with a 307 to the leader
//! (`Location: //<leader host>:<port><path>?<query>`), or 503 "No leader elected" while there is
//! none. Once elected, the master recovers the registry kept in ZooKeeper (its writes fenced by
//! its own election znode); a request that arrives meanwhile waits for the recovery (up to
//! [`RECOVERY_WAIT`], then 503 "Master has not finished recovery"), and is then answered by the
//! leading master's routes.
//!
//! A leader that loses its candidacy (its session expired, its znode is gone, or it cannot reach
//! ZooKeeper for the session timeout) stops acting as leader at once: its routes are dropped (the
//! standby answers again), its timers and its effector stop (no offers, no status forwarding),
//! its registry writes would fail the fence anyway; then the master fails ([`Master::failed`]),
//! and `meseta master` exits, as Mesos' master does. Exiting rather than rejoining as a
//! follower: the deposed leader's in-memory cluster state is stale the moment another master
//! leads, and a process that starts afresh (restarted by its supervisor) can only recover what
//! the new leader's registry and the agents say, never act on what it remembered.
//!
//! [`Master::failed`]: crate::Master::failed

use std::sync::{Arc, RwLock};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use meseta_api::common::MasterInfo;
use meseta_zk::{Candidacy, Contender, Detector, ZkStorage, ZkUrl};
use tokio::sync::watch;
use tower::ServiceExt;

use crate::server::{self, MESOS_VERSION, Shared};

/// The leading master's routes, once this master leads and has recovered.
pub type Leading = Arc<RwLock<Option<(Shared, Router)>>>;

/// What every request sees: the leader's routes when this master leads, else the standby.
#[derive(Clone)]
pub struct Front {
    pub leading: Leading,
    pub leader: watch::Receiver<Option<MasterInfo>>,
    /// Elected, recovering the registry (`true` until the leading routes are in place).
    pub elected: Arc<watch::Sender<bool>>,
    pub flags: Arc<Vec<(String, String)>>,
    pub started: Instant,
}

pub fn router(front: Front) -> Router {
    Router::new().fallback(answer).with_state(front)
}

/// How long a request that arrives while this master recovers the registry waits for it (then
/// 503). Agents and frameworks follow the election as fast as the master does, so their first
/// requests usually arrive during the recovery; held, they are answered once it is done
/// instead of being refused and retried after a backoff.
const RECOVERY_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

async fn answer(State(front): State<Front>, request: Request) -> Response {
    let leading = || {
        front
            .leading
            .read()
            .ok()
            .and_then(|l| l.as_ref().map(|(_, router)| router.clone()))
    };
    let mut router = leading();
    if router.is_none() && *front.elected.borrow() && !answered_locally(request.uri().path()) {
        let mut recovered = front.elected.subscribe();
        let _ = tokio::time::timeout(RECOVERY_WAIT, recovered.wait_for(|e| !*e)).await;
        router = leading();
    }
    if let Some(router) = router {
        return match router.oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
    }
    standby(&front, request)
}

fn text(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message.to_string(),
    )
        .into_response()
}

/// What a standby answers itself rather than redirecting.
fn answered_locally(path: &str) -> bool {
    matches!(
        path,
        "/health"
            | "/master/health"
            | "/version"
            | "/flags"
            | "/master/flags"
            | "/metrics/snapshot"
            | "/metrics"
    )
}

fn standby(front: &Front, request: Request) -> Response {
    let path = request.uri().path().to_string();
    match path.as_str() {
        "/health" | "/master/health" => return StatusCode::OK.into_response(),
        "/version" => {
            return server::json(
                StatusCode::OK,
                &serde_json::json!({
                    "version": MESOS_VERSION,
                    "meseta_version": env!("CARGO_PKG_VERSION"),
                }),
            );
        }
        "/flags" | "/master/flags" => {
            let flags: serde_json::Map<String, serde_json::Value> = front
                .flags
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::json!(v)))
                .collect();
            return server::json(StatusCode::OK, &serde_json::json!({ "flags": flags }));
        }
        "/metrics/snapshot" | "/metrics" => {
            let snapshot = serde_json::json!({
                "master/elected": 0.0,
                "master/uptime_secs": front.started.elapsed().as_secs_f64(),
            });
            return if path == "/metrics" {
                server::prometheus_text(&snapshot, &[])
            } else {
                server::json(StatusCode::OK, &snapshot)
            };
        }
        _ => {}
    }
    if *front.elected.borrow() {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "Master has not finished recovery",
        );
    }
    let Some(leader) = front
        .leader
        .borrow()
        .as_ref()
        .and_then(MasterInfo::http_address)
    else {
        return text(StatusCode::SERVICE_UNAVAILABLE, "No leader elected");
    };
    let target = if path == "/redirect" || path == "/master/redirect" {
        String::new()
    } else if path.starts_with("/internal/") {
        // Agents find the leader themselves (`--master=zk://...`).
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "This master is not the leader; the leading master is {}",
                leader
            ),
        );
    } else {
        match request.uri().query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        }
    };
    let mut response = StatusCode::TEMPORARY_REDIRECT.into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("//{leader}{target}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    *response.body_mut() = Body::empty();
    response
}

/// Contends until elected, recovers the registry from ZooKeeper and leads; stops leading and
/// fails the master when the candidacy is lost. `lead` builds the leading master on a storage.
pub async fn campaign<F, Fut>(
    url: ZkUrl,
    contender: Contender,
    front: Front,
    failure: Arc<watch::Sender<Option<String>>>,
    lead: F,
) where
    F: FnOnce(Arc<dyn meseta_registry::Storage>) -> Fut,
    Fut: std::future::Future<Output = Result<Shared, String>>,
{
    let fail = |why: String| {
        tracing::error!(%why, "the master cannot go on");
        front.elected.send_replace(false);
        failure.send_replace(Some(why));
    };
    let fence = match contender.leading().await {
        Ok(fence) => fence,
        Err(e) => return fail(format!("the election failed: {e}")),
    };
    front.elected.send_replace(true);
    tracing::info!(
        znode = fence.znode(),
        "elected leading master; recovering the registry"
    );
    let storage = match ZkStorage::open(&url, fence).await {
        Ok(s) => Arc::new(s) as Arc<dyn meseta_registry::Storage>,
        Err(e) => return fail(format!("cannot open the registry in ZooKeeper: {e}")),
    };
    let shared = match lead(storage).await {
        Ok(shared) => shared,
        Err(e) => return fail(e),
    };
    let routes = server::routes(shared.clone());
    if let Ok(mut l) = front.leading.write() {
        *l = Some((shared.clone(), routes));
    }
    front.elected.send_replace(false);
    tracing::info!("leading");
    let mut candidacy = contender.watch();
    let lost = candidacy
        .wait_for(|c| !c.is_leading())
        .await
        .map(|c| c.clone())
        .unwrap_or(Candidacy::Joining);
    // Stop acting as leader at once: no routes, no timers, no effects.
    if let Ok(mut l) = front.leading.write() {
        *l = None;
    }
    shared.abdicate();
    drop(contender);
    fail(format!(
        "lost leadership ({lost:?}): a master that is no longer the leader exits, as Mesos' does"
    ));
}

/// Follows the leader under `url` for the standby's redirects.
pub fn detect(url: &ZkUrl, session_timeout: std::time::Duration) -> Result<Detector, String> {
    Detector::with_session_timeout(url.clone(), session_timeout)
        .map_err(|e| format!("--zk {url}: {e}"))
}
