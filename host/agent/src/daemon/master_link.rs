//! The agent's side of the master–agent protocol that leaves the process: the HTTP client,
//! registration and re-registration, and the messages that are not status updates.

use std::time::Duration;

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use meseta_api::common::{AgentID, ExecutorID, FrameworkID};
use meseta_api::internal as wire;
use tokio::sync::{mpsc, oneshot};

use super::Shared;
use super::model::{ExecutorKind, State};
use super::status;

pub type HttpClient = meseta_http::HttpClient<Full<Bytes>>;

/// How long one request to the master may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The agent's client to the master: `https` with `LIBPROCESS_SSL_ENABLED`.
pub fn client() -> HttpClient {
    meseta_http::client(meseta_http::ClientOptions::default())
}

/// POSTs `body` (JSON) to the current master's `path` (the leading one, with a ZooKeeper
/// `--master`): the answer's status and body; an error while no leader is known.
pub async fn post(d: &Shared, path: &str, body: Vec<u8>) -> Result<(u16, Bytes), String> {
    let Some(master) = d.master() else {
        return Err("no leading master is known".to_string());
    };
    post_to(d, &master, path, body).await
}

/// POSTs `body` (JSON) to `path` of the master at `master` (`host:port`).
async fn post_to(
    d: &Shared,
    master: &str,
    path: &str,
    body: Vec<u8>,
) -> Result<(u16, Bytes), String> {
    let mut request = hyper::Request::post(format!("{}{path}", meseta_http::tls::url(master)))
        .header("content-type", "application/json");
    if let Some(credential) = &d.config.auth.credential {
        request = request.header("authorization", credential.basic_header());
    }
    let request = request
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let work = async {
        let response = d.client.request(request).await.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, body))
    };
    tokio::time::timeout(REQUEST_TIMEOUT, work)
        .await
        .map_err(|_| format!("no answer within {REQUEST_TIMEOUT:?}"))?
}

/// An encoded [`wire::StatusUpdate`] and where its answer goes.
type QueuedStatus = (Vec<u8>, oneshot::Sender<Result<(u16, Bytes), String>>);
pub type StatusQueue = mpsc::UnboundedSender<QueuedStatus>;

/// POSTs one encoded status update to the master, batched with the others that are waiting
/// (see [`status_sender`]); the answer is what `wire::STATUS` answered for this update.
pub async fn post_status(d: &Shared, body: Vec<u8>) -> Result<(u16, Bytes), String> {
    let (tx, rx) = oneshot::channel();
    d.statuses
        .send((body, tx))
        .map_err(|_| "the agent is stopping".to_string())?;
    rx.await.map_err(|_| "the agent is stopping".to_string())?
}

/// Sends the queued status updates: alone to `wire::STATUS` when only one is waiting, else
/// together to `wire::STATUSES` (the updates that queue up while one POST is on its way go in
/// the next). A master that does not know `STATUSES` (`404`) gets them one by one.
pub async fn status_sender(d: Shared, mut queue: mpsc::UnboundedReceiver<QueuedStatus>) {
    let mut batches = true;
    let mut waiting: Vec<QueuedStatus> = Vec::new();
    while let Some(first) = queue.recv().await {
        waiting.push(first);
        wire::fill_batch(&mut waiting, || queue.try_recv().ok());
        if waiting.len() > 1 && batches {
            let body = wire::encode_status_updates(waiting.iter().map(|(b, _)| b.as_slice()));
            match post(&d, wire::STATUSES, body).await {
                Ok((200, text)) => {
                    let codes = serde_json::from_slice::<wire::Codes>(&text)
                        .map(|c| c.codes)
                        .unwrap_or_default();
                    let short = codes.len() != waiting.len();
                    for ((_, reply), code) in waiting
                        .drain(..)
                        .zip(codes.into_iter().chain(std::iter::repeat(0)))
                    {
                        let _ = reply.send(if short {
                            Err(
                                "the master's answer to a batch of status updates is malformed"
                                    .into(),
                            )
                        } else {
                            Ok((code, Bytes::new()))
                        });
                    }
                    continue;
                }
                Ok((404, _)) => {
                    tracing::info!(
                        "the master does not take batches of status updates; sending them one by one"
                    );
                    batches = false;
                }
                other => {
                    for (_, reply) in waiting.drain(..) {
                        let _ = reply.send(other.clone());
                    }
                    continue;
                }
            }
        }
        for (body, reply) in waiting.drain(..) {
            let _ = reply.send(post(&d, wire::STATUS, body).await);
        }
    }
}

/// The registration message: the agent's info (with its id when it has one) and, when
/// re-registering, every task it still has with its latest status, and every executor that
/// holds resources of its own (see [`running_executors`]).
fn register_message(d: &Shared, st: &State) -> wire::RegisterAgent {
    let mut tasks = Vec::new();
    for framework in st.frameworks.values() {
        let info = framework.info_with_id();
        for executor in framework.executors.values() {
            for task in executor.tasks.values() {
                let mut status = task.latest_status();
                if status.agent_id.is_none() {
                    status.agent_id = st.agent_id.clone().map(AgentID::new);
                }
                if status.executor_id.is_none() {
                    status.executor_id = Some(ExecutorID::new(&task.executor_id));
                }
                let mut task_info = task.info.clone();
                if task_info.agent_id.is_none() {
                    task_info.agent_id = st.agent_id.clone().map(AgentID::new);
                }
                tasks.push(wire::RunningTask {
                    framework_id: FrameworkID::new(&framework.id),
                    task: task_info,
                    status,
                    framework: Some(info.clone()),
                });
            }
            for queued in &executor.queued {
                let mut status = meseta_api::common::TaskStatus::new(
                    queued.task_id.clone(),
                    meseta_api::common::TaskState::Staging,
                );
                status.agent_id = st.agent_id.clone().map(AgentID::new);
                status.executor_id = Some(ExecutorID::new(&executor.id));
                tasks.push(wire::RunningTask {
                    framework_id: FrameworkID::new(&framework.id),
                    task: queued.clone(),
                    status,
                    framework: Some(info.clone()),
                });
            }
        }
    }
    wire::RegisterAgent {
        agent_info: d.agent_info(st),
        endpoint: st.endpoint.clone(),
        tasks,
        version: Some(env!("CARGO_PKG_VERSION").to_string()),
        executors: running_executors(st),
    }
}

/// The executors to report in a registration (Mesos' `ReregisterSlaveMessage.executor_infos`):
/// every executor that has not terminated, launched or recovered, except the command executors
/// the agent makes up for command tasks (the master never stores those: their tasks hold the
/// resources). A task group's default executor is reported: Meseta runs no process for it,
/// but the master accounts its `ExecutorInfo.resources` from the LAUNCH_GROUP until the agent
/// reports it exited, exactly as for a custom executor.
fn running_executors(st: &State) -> Vec<wire::RunningExecutor> {
    let mut out = Vec::new();
    for framework in st.frameworks.values() {
        for executor in framework.executors.values() {
            if executor.kind == ExecutorKind::Command || executor.terminated {
                continue;
            }
            let mut info = executor.info.clone();
            if info.framework_id.is_none() {
                info.framework_id = Some(FrameworkID::new(&framework.id));
            }
            out.push(wire::RunningExecutor {
                framework_id: FrameworkID::new(&framework.id),
                executor: info,
            });
        }
    }
    out
}

/// Registers with the master, retrying with backoff while it is unreachable; then waits until
/// the agent must register again (a `409` on a status update, no ping for
/// `ping_interval_seconds * max_ping_timeouts`, or, with a ZooKeeper `--master`, another
/// leading master), and does. While no leader is known it waits for one (status updates wait
/// too: the agent counts as unregistered). Runs until the agent stops.
pub async fn registration_loop(d: Shared) {
    let min = d.config.registration_backoff.max(Duration::from_millis(1));
    let max = min * 10;
    let mut backoff = min;
    let mut leaders = d.leader.subscribe();
    loop {
        if d.is_stopping() {
            return;
        }
        let Some(leader) = leaders.borrow_and_update().clone() else {
            disconnected(&d);
            tracing::info!(zk = ?d.zk.as_ref().map(ToString::to_string),
                "no leading master is known; waiting for one to be elected");
            tokio::select! {
                _ = leaders.wait_for(Option::is_some) => {}
                _ = d.stopped() => return,
            }
            backoff = min;
            continue;
        };
        let master = leader.address.clone();
        let ip = super::advertised_ip(d.address, &master).await;
        let message = {
            let mut st = d.lock();
            st.endpoint = std::net::SocketAddr::new(ip, d.address.port()).to_string();
            if d.config.hostname.is_none() {
                st.hostname = ip.to_string();
            }
            register_message(&d, &st)
        };
        let reregistering = message.agent_info.id.is_some();
        let answer = match serde_json::to_vec(&message) {
            Ok(body) => post_to(&d, &master, wire::REGISTER, body).await,
            Err(e) => Err(e.to_string()),
        };
        let registered = match answer {
            Ok((200, body)) => match meseta_api::decode::<wire::Registered>(&body) {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::warn!(error = %e, "the master's answer to REGISTER is malformed");
                    None
                }
            },
            Ok((401, body)) => {
                tracing::warn!(master = %master, code = 401, answer = %String::from_utf8_lossy(&body),
                    "the master requires agents to authenticate: give this agent its principal \
                     and secret with --credential");
                None
            }
            Ok((code, body)) => {
                tracing::warn!(master = %master, code, answer = %String::from_utf8_lossy(&body),
                    "the master refused the registration");
                None
            }
            Err(e) => {
                tracing::info!(master = %master, error = %e,
                    "cannot reach the master; will retry");
                None
            }
        };
        let Some(registered) = registered else {
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {
                    backoff = (backoff * 2).min(max);
                }
                // another leader: register with it at once
                _ = leaders.changed() => backoff = min,
                _ = d.stopped() => return,
            }
            continue;
        };
        backoff = min;
        let agent_id = registered.agent_id.value.clone();
        let timeout = ping_timeout(&registered);
        {
            let mut st = d.lock();
            if let Some(old) = &st.agent_id
                && *old != agent_id
            {
                tracing::warn!(old = %old, new = %agent_id,
                    "the master registered this agent under a new id");
            }
            st.agent_id = Some(agent_id.clone());
            st.master_id = Some(registered.master_id.clone());
            st.ping_timeout = Some(timeout);
            st.last_ping = std::time::Instant::now();
            st.counters.registrations += 1;
            status::wake_all(&st);
            let mut info = message.agent_info.clone();
            info.id = Some(AgentID::new(&agent_id));
            super::recovery::checkpoint_agent(&d, &info, &agent_id);
        }
        d.registered.send_replace(Some(agent_id.clone()));
        tracing::info!(agent = %agent_id, master = %registered.master_id, address = %master,
            reregistering, "registered with the master");

        // Wait for a reason to register again (a leader elected while this registration was on
        // its way counts: `changed` sees it at once).
        loop {
            let deadline = {
                let st = d.lock();
                st.last_ping + timeout
            };
            tokio::select! {
                _ = d.reregister.notified() => break,
                _ = tokio::time::sleep_until(deadline.into()) => {
                    let silent = d.lock().last_ping.elapsed();
                    if silent >= timeout {
                        tracing::warn!(silent = ?silent,
                            "no ping from the master; registering again");
                        break;
                    }
                }
                changed = leaders.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let next = leaders.borrow().clone();
                    if next.as_ref() == Some(&leader) {
                        continue;
                    }
                    match &next {
                        Some(next) => tracing::info!(old = %master, new = %next.address,
                            id = ?next.id, "a new master leads; re-registering with it"),
                        None => tracing::warn!(old = %master,
                            "the leading master is lost; waiting for a new one"),
                    }
                    disconnected(&d);
                    break;
                }
                _ = d.stopped() => return,
            }
        }
    }
}

/// The master the agent was registered with no longer leads: until the agent registers with
/// the next one, it counts as unregistered (its status updates wait) and ignores the pings of
/// the old one. It keeps its id and its tasks, which it reports when it re-registers.
fn disconnected(d: &Shared) {
    d.lock().master_id = None;
    d.registered.send_replace(None);
}

/// `ping_interval_seconds * max_ping_timeouts`, sane even if the master sends nonsense.
fn ping_timeout(r: &wire::Registered) -> Duration {
    let secs = r.ping_interval_seconds * f64::from(r.max_ping_timeouts.max(1));
    if secs.is_finite() && secs > 0.0 {
        Duration::from_secs_f64(secs.min(365.0 * 24.0 * 3600.0))
    } else {
        Duration::from_secs(75)
    }
}

/// Delivers a message that is not a status update (executor messages, executor exits): after
/// registration, retried a few times with backoff: the first retry after a second (or after
/// `status_update_retry_min` when that is shorter, as in tests), doubling up to 10 s.
pub fn send_later(d: &Shared, path: &'static str, body: Vec<u8>) {
    let d = d.clone();
    tokio::spawn(async move {
        let mut delay = d
            .config
            .status_update_retry_min
            .min(Duration::from_secs(1))
            .max(Duration::from_millis(1));
        for attempt in 0..8 {
            if d.is_stopping() {
                return;
            }
            match post(&d, path, body.clone()).await {
                Ok((code, _)) if code < 300 => return,
                Ok((409, _)) => d.reregister.notify_one(),
                Ok((code, text)) => {
                    tracing::warn!(path, code, answer = %String::from_utf8_lossy(&text),
                        "the master refused a message");
                    return;
                }
                Err(e) => {
                    tracing::debug!(path, attempt, error = %e, "cannot reach the master; retrying");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = d.stopped() => return,
            }
            delay = (delay * 2).min(Duration::from_secs(10));
        }
        tracing::warn!(path, "giving up on a message to the master");
    });
}

/// Tells the master that an executor ended (`status` is the wait status, as Mesos reports it).
pub fn executor_exited(d: &Shared, st: &State, framework_id: &str, executor_id: &str, status: i32) {
    let Some(agent_id) = st.agent_id.clone() else {
        return;
    };
    let message = wire::ExecutorExited {
        agent_id: AgentID::new(agent_id),
        framework_id: FrameworkID::new(framework_id),
        executor_id: ExecutorID::new(executor_id),
        status,
    };
    match serde_json::to_vec(&message) {
        Ok(body) => send_later(d, wire::EXECUTOR_EXITED, body),
        Err(e) => tracing::warn!(error = %e, "cannot encode EXECUTOR_EXITED"),
    }
}
