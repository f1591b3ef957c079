//! The v1 executor API: `POST /api/v1/executor` (also `/slave(1)/api/v1/executor`).
//!
//! - `SUBSCRIBE`: `200`, a chunked RecordIO stream, one record per HTTP chunk: `SUBSCRIBED`
//!   first, then `LAUNCH` for every queued task, then whatever comes (`LAUNCH`, `KILL`,
//!   `ACKNOWLEDGED`, `MESSAGE`, `SHUTDOWN`) and a `HEARTBEAT` every few seconds. A new
//!   subscription replaces the old stream.
//! - `UPDATE`: the status gets the agent id, the executor id, `SOURCE_EXECUTOR` and a timestamp
//!   filled in; its uuid (required) is the update's; then it goes through the status update
//!   manager. `202`.
//! - `MESSAGE`: relayed to the master (`EXECUTOR_MESSAGE`). `202`.
//!
//! A malformed call is `400` with a plain-text reason; a call for a framework or executor this
//! agent does not run is `404`.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use meseta_api::common::{AgentID, ContainerID, ExecutorID, FrameworkID, Source};
use meseta_api::executor::{Call, CallKind, Event, Subscribed};
use meseta_api::internal as wire;
use tokio::sync::mpsc;

use super::model::{EventStream, ExecutorKind};
use super::server::error;
use super::{EXECUTOR_HEARTBEAT_INTERVAL, Shared, master_link, status, tasks};

pub async fn executor_call(d: Shared, headers: &HeaderMap, body: Bytes) -> Response {
    let call: Call = match meseta_api::decode(&body) {
        Ok(c) => c,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let fid = call.framework_id.value.clone();
    let eid = call.executor_id.value.clone();
    if d.config.auth.http_executors
        && let Some(secret) = &d.config.auth.executor_secret
    {
        let container = d
            .lock()
            .executor_mut(&fid, &eid)
            .map(|e| e.container_id.clone());
        if let Err(refused) = secret.check(headers, &fid, &eid, container.as_deref()) {
            return refused;
        }
    }
    match call.kind {
        CallKind::Subscribe(sub) => subscribe(&d, &fid, &eid, sub),
        CallKind::Update(update) => {
            let mut status = update.status;
            let Some(uuid) = &status.uuid else {
                return error(StatusCode::BAD_REQUEST, "Expecting 'uuid' to be present");
            };
            if uuid.as_uuid().is_none() {
                return error(StatusCode::BAD_REQUEST, "'uuid' must be a 16-byte UUID");
            }
            let uuid = uuid.0.clone();
            let tid = status.task_id.value.clone();
            let mut st = d.lock();
            let agent_id = st.agent_id.clone();
            let Some(executor) = st.executor_mut(&fid, &eid) else {
                st.counters.invalid_status_updates += 1;
                return error(
                    StatusCode::NOT_FOUND,
                    format!("Executor '{eid}' of framework '{fid}' is not running on this agent"),
                );
            };
            let Some(task) = executor.tasks.get_mut(&tid) else {
                st.counters.invalid_status_updates += 1;
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("Task '{tid}' was not launched on executor '{eid}'"),
                );
            };
            if task.seen_uuids.contains(&uuid) {
                // A resend of an update the agent already has: nothing to do.
                return accepted();
            }
            task.seen_uuids.push(uuid);
            status.agent_id = agent_id.map(AgentID::new);
            status.executor_id = Some(ExecutorID::new(&eid));
            status.source = Some(Source::Executor);
            if status.timestamp.is_none() {
                status.timestamp = Some(meseta_api::common::timestamp_now());
            }
            st.counters.valid_status_updates += 1;
            status::enqueue(&d, &mut st, &fid, status, true);
            accepted()
        }
        CallKind::Message(message) => {
            let st = d.lock();
            let known = st
                .frameworks
                .get(&fid)
                .is_some_and(|f| f.executors.contains_key(&eid));
            if !known {
                return error(
                    StatusCode::NOT_FOUND,
                    format!("Executor '{eid}' of framework '{fid}' is not running on this agent"),
                );
            }
            let Some(agent_id) = st.agent_id.clone() else {
                return error(StatusCode::SERVICE_UNAVAILABLE, "Agent is not registered");
            };
            drop(st);
            let msg = wire::ExecutorToFramework {
                agent_id: AgentID::new(agent_id),
                framework_id: FrameworkID::new(&fid),
                executor_id: ExecutorID::new(&eid),
                data: message.data,
            };
            match serde_json::to_vec(&msg) {
                Ok(body) => master_link::send_later(&d, wire::EXECUTOR_MESSAGE, body),
                Err(e) => tracing::warn!(error = %e, "cannot encode an executor message"),
            }
            accepted()
        }
        CallKind::Other(t) => error(
            StatusCode::BAD_REQUEST,
            format!("Unsupported executor call type '{t}'"),
        ),
    }
}

fn accepted() -> Response {
    StatusCode::ACCEPTED.into_response()
}

fn subscribe(d: &Shared, fid: &str, eid: &str, sub: meseta_api::executor::Subscribe) -> Response {
    let mut st = d.lock();
    let generation = st.next_generation();
    let agent_info = d.agent_info(&st);
    let Some(framework) = st.frameworks.get_mut(fid) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("Framework '{fid}' is not running on this agent"),
        );
    };
    let framework_info = framework.info_with_id();
    let Some(executor) = framework.executors.get_mut(eid) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("Executor '{eid}' of framework '{fid}' is not running on this agent"),
        );
    };
    if executor.kind != ExecutorKind::Custom || executor.terminated {
        return error(
            StatusCode::BAD_REQUEST,
            format!("Executor '{eid}' of framework '{fid}' cannot subscribe"),
        );
    }
    let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
    if executor.stream.is_some() {
        tracing::info!(framework = %fid, executor = %eid, "executor subscribed again; closing its old stream");
    }
    executor.stream = Some(EventStream { generation, tx });
    executor.subscribed = true;
    let mut executor_info = executor.info.clone();
    executor_info.framework_id = Some(FrameworkID::new(fid));
    let subscribed = Event::Subscribed(Subscribed {
        executor_info,
        framework_info,
        agent_info,
        container_id: Some(ContainerID::new(&executor.container_id)),
    });
    executor.send(&subscribed);
    let launched = std::mem::take(&mut executor.queued);
    for task in launched.iter().cloned() {
        tasks::launch_on_executor(executor, task);
    }
    if executor.shutting_down {
        executor.send(&Event::Shutdown);
    }
    tracing::info!(framework = %fid, executor = %eid, "executor subscribed");
    for task in &launched {
        super::recovery::checkpoint_task(d, &st, fid, eid, task);
    }
    resubscribed(d, &mut st, fid, eid, sub);
    drop(st);

    let guard = StreamGuard {
        d: d.clone(),
        fid: fid.to_string(),
        eid: eid.to_string(),
        generation,
    };
    tokio::spawn(heartbeats(
        d.clone(),
        fid.to_string(),
        eid.to_string(),
        generation,
    ));
    // One record per chunk: every channel item becomes one body frame, which hyper writes as
    // one HTTP chunk.
    let stream = futures_util::stream::unfold((rx, guard), |(mut rx, guard)| async move {
        let bytes = rx.recv().await?;
        Some((Ok::<Bytes, Infallible>(bytes), (rx, guard)))
    });
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// What a (re)subscribing executor says it has not seen acknowledged (after an agent restart,
/// Mesos' executor driver resends both): tasks the agent does not know become launched tasks,
/// updates the agent does not have (by uuid) go to the status update manager.
fn resubscribed(
    d: &Shared,
    st: &mut super::model::State,
    fid: &str,
    eid: &str,
    sub: meseta_api::executor::Subscribe,
) {
    let agent_id = st.agent_id.clone();
    let Some(executor) = st.executor_mut(fid, eid) else {
        return;
    };
    for task in sub.unacknowledged_tasks {
        let tid = task.task_id.value.clone();
        if !executor.tasks.contains_key(&tid) {
            executor.queued.retain(|t| t.task_id.value != tid);
            tracing::info!(framework = %fid, executor = %eid, task = %tid,
                "the executor reports a task this agent had not launched; adopting it");
            executor
                .tasks
                .insert(tid, super::model::Task::new(task, fid, eid));
        }
    }
    let mut fresh = Vec::new();
    for update in sub.unacknowledged_updates {
        let mut status = update.status;
        let Some(uuid) = status.uuid.as_ref().map(|u| u.0.clone()) else {
            continue;
        };
        let Some(task) = executor.tasks.get_mut(&status.task_id.value) else {
            continue;
        };
        if task.seen_uuids.contains(&uuid) {
            continue;
        }
        task.seen_uuids.push(uuid);
        status.agent_id = agent_id.clone().map(AgentID::new);
        status.executor_id = Some(ExecutorID::new(eid));
        status.source = Some(Source::Executor);
        fresh.push(status);
    }
    for status in fresh {
        st.counters.valid_status_updates += 1;
        status::enqueue(d, st, fid, status, true);
    }
}

/// Sends HEARTBEAT on one subscription's stream until it is replaced or gone.
async fn heartbeats(d: Shared, fid: String, eid: String, generation: u64) {
    let mut ticker = tokio::time::interval_at(
        tokio::time::Instant::now() + EXECUTOR_HEARTBEAT_INTERVAL,
        EXECUTOR_HEARTBEAT_INTERVAL,
    );
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = d.stopped() => return,
        }
        let st = d.lock();
        let current = st
            .frameworks
            .get(&fid)
            .and_then(|f| f.executors.get(&eid))
            .filter(|e| {
                e.stream
                    .as_ref()
                    .is_some_and(|s| s.generation == generation)
            });
        match current {
            Some(executor) => {
                executor.send(&Event::Heartbeat);
            }
            None => return,
        }
    }
}

/// Forgets a subscription's stream when its connection goes away (unless a newer one replaced
/// it).
struct StreamGuard {
    d: Shared,
    fid: String,
    eid: String,
    generation: u64,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let mut st = self.d.lock();
        if let Some(executor) = st.executor_mut(&self.fid, &self.eid)
            && executor
                .stream
                .as_ref()
                .is_some_and(|s| s.generation == self.generation)
        {
            tracing::info!(framework = %self.fid, executor = %self.eid, "executor disconnected");
            executor.stream = None;
        }
    }
}
