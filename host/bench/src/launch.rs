//! End to end through a real master (`Master::start`, in this process, on 127.0.0.1): simulated
//! agents register over the real master–agent protocol (`meseta_api::internal`) and answer
//! RUN_TASK by reporting each task TASK_RUNNING, then TASK_FINISHED once RUNNING is
//! acknowledged, without forking anything; a load-generating framework on the v1 scheduler
//! HTTP API accepts every offer with as many small tasks as fit and acknowledges every update.
//!
//! The simulated agents share one HTTP listener (the master addresses each message to an
//! agent through its own outbox; the agent is named in the message), so a thousand agents
//! cost a thousand registrations, not a thousand sockets.
//!
//! Measured per run: tasks launched per second (first ACCEPT to last RUNNING), acknowledged
//! status updates per second (first ACCEPT to the last ACKNOWLEDGE answered), and the latency
//! from sending an ACCEPT to receiving that task's RUNNING (p50, p99). Run once with the native
//! allocator and once with the `allocator-drf` module.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post as route_post;
use http_body_util::{BodyExt, Full};
use meseta_api::common::{AgentID, ExecutorID, FrameworkID, TaskID, TaskState, TaskStatus};
use meseta_api::internal as wire;
use meseta_master::{Master, MasterConfig};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::{BenchOptions, Report, progress};

pub type HttpClient = meseta_http::HttpClient<Full<Bytes>>;

/// The bench's client, the daemons' (`https` with `LIBPROCESS_SSL_ENABLED`).
pub fn client() -> HttpClient {
    meseta_http::client(meseta_http::ClientOptions {
        connect_timeout: None,
        ..meseta_http::ClientOptions::default()
    })
}

/// POSTs JSON; the status and body.
pub async fn post(
    client: &HttpClient,
    url: &str,
    stream_id: Option<&str>,
    body: Vec<u8>,
) -> anyhow::Result<(u16, Bytes)> {
    let mut req = hyper::Request::post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json");
    if let Some(s) = stream_id {
        req = req.header("mesos-stream-id", s);
    }
    let response = client
        .request(req.body(Full::new(Bytes::from(body)))?)
        .await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// GETs `url`; the status and body.
pub async fn get(client: &HttpClient, url: &str) -> anyhow::Result<(u16, Bytes)> {
    let request = hyper::Request::get(url).body(Full::new(Bytes::new()))?;
    let response = client.request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// What the simulated agents do with a task once it is RUNNING.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum AfterRunning {
    Finish,
    KeepRunning,
}

/// An update sent, waiting for its acknowledgement: (agent, framework, task, state).
type Pending = (String, String, String, TaskState);

/// The simulated agents' side: one listener for all of them.
pub struct SimAgents {
    master: String,
    client: HttpClient,
    after: AfterRunning,
    /// uuid of an update waiting for its acknowledgement -> the update.
    pending: Mutex<HashMap<Vec<u8>, Pending>>,
    /// Encoded status updates for the master.
    outbox: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
    pub updates_sent: AtomicU64,
}

impl SimAgents {
    async fn send_status(
        self: &Arc<Self>,
        agent: &str,
        framework: &str,
        task: &str,
        state: TaskState,
    ) {
        let uuid = uuid::Uuid::new_v4().as_bytes().to_vec();
        let mut status = TaskStatus::new(TaskID::new(task), state);
        status.agent_id = Some(AgentID::new(agent));
        status.executor_id = Some(ExecutorID::new(task));
        status.uuid = Some(meseta_api::Bytes(uuid.clone()));
        status.timestamp = Some(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or_default(),
        );
        let update = wire::StatusUpdate {
            agent_id: AgentID::new(agent),
            framework_id: FrameworkID::new(framework),
            status,
            latest_state: None,
        };
        if let Ok(mut p) = self.pending.lock() {
            p.insert(
                uuid,
                (
                    agent.to_string(),
                    framework.to_string(),
                    task.to_string(),
                    state,
                ),
            );
        }
        // Like the real agent: the updates that wait while one POST is on its way go together.
        let _ = self
            .outbox
            .send(serde_json::to_vec(&update).unwrap_or_default());
    }
}

/// Sends the simulated agents' status updates: alone to `STATUS`, or together to `STATUSES`.
async fn status_sender(
    sim: Arc<SimAgents>,
    mut queue: tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let mut waiting = Vec::new();
    while let Some(first) = queue.recv().await {
        waiting.push(first);
        wire::fill_batch(&mut waiting, || queue.try_recv().ok());
        let (path, body) = if waiting.len() == 1 {
            (wire::STATUS, waiting.pop().unwrap_or_default())
        } else {
            (
                wire::STATUSES,
                wire::encode_status_updates(waiting.iter().map(Vec::as_slice)),
            )
        };
        let n = waiting.len().max(1) as u64;
        waiting.clear();
        let url = format!("{}://{}{path}", meseta_http::tls::scheme(), sim.master);
        // The real agent resends until acknowledged; the master here is local and up.
        if post(&sim.client, &url, None, body).await.is_ok() {
            sim.updates_sent.fetch_add(n, Ordering::Relaxed);
        }
    }
}

async fn batch(State(sim): State<Arc<SimAgents>>, body: Bytes) -> axum::response::Response {
    use axum::response::IntoResponse;
    let Ok(b) = serde_json::from_slice::<wire::Batch>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let mut codes = Vec::with_capacity(b.messages.len());
    for m in b.messages {
        let body = Bytes::copy_from_slice(m.message.get().as_bytes());
        let code = match m.path.as_str() {
            wire::RUN_TASK => run_task(State(sim.clone()), body).await,
            wire::ACKNOWLEDGE => acknowledge(State(sim.clone()), body).await,
            _ => StatusCode::ACCEPTED,
        };
        codes.push(code.as_u16());
    }
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec(&wire::Codes { codes }).unwrap_or_default(),
    )
        .into_response()
}

async fn run_task(State(sim): State<Arc<SimAgents>>, body: Bytes) -> StatusCode {
    let Ok(msg) = serde_json::from_slice::<wire::RunTask>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    for t in msg.tasks {
        let Some(agent) = t.agent_id.map(|a| a.value) else {
            continue;
        };
        let sim = sim.clone();
        let framework = msg.framework_id.value.clone();
        tokio::spawn(async move {
            sim.send_status(&agent, &framework, &t.task_id.value, TaskState::Running)
                .await;
        });
    }
    StatusCode::ACCEPTED
}

async fn acknowledge(State(sim): State<Arc<SimAgents>>, body: Bytes) -> StatusCode {
    let Ok(ack) = serde_json::from_slice::<wire::AcknowledgeUpdate>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let entry = sim
        .pending
        .lock()
        .ok()
        .and_then(|mut p| p.remove(ack.uuid.as_slice()));
    if let Some((agent, framework, task, TaskState::Running)) = entry
        && sim.after == AfterRunning::Finish
    {
        tokio::spawn(async move {
            sim.send_status(&agent, &framework, &task, TaskState::Finished)
                .await;
        });
    }
    StatusCode::ACCEPTED
}

async fn ping() -> ([(axum::http::HeaderName, &'static str); 1], Vec<u8>) {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec(&wire::Pong { known: true }).unwrap_or_default(),
    )
}

/// Starts the simulated agents' listener.
pub async fn start_sim(
    master: &str,
    after: AfterRunning,
) -> anyhow::Result<(Arc<SimAgents>, SocketAddr)> {
    let (outbox, queue) = tokio::sync::mpsc::unbounded_channel();
    let sim = Arc::new(SimAgents {
        master: master.to_string(),
        client: client(),
        after,
        pending: Mutex::new(HashMap::new()),
        outbox,
        updates_sent: AtomicU64::new(0),
    });
    tokio::spawn(status_sender(sim.clone(), queue));
    let app = Router::new()
        .route(wire::RUN_TASK, route_post(run_task))
        .route(wire::ACKNOWLEDGE, route_post(acknowledge))
        .route(wire::PING, route_post(ping))
        .route(wire::BATCH, route_post(batch))
        .fallback(|| async { StatusCode::ACCEPTED })
        .with_state(sim.clone());
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        // The master's side speaks TLS to it as to a real agent (`LIBPROCESS_SSL_*`).
        meseta_http::serve(
            listener,
            app,
            meseta_http::Limits::default(),
            std::future::pending(),
        )
        .await;
    });
    Ok((sim, addr))
}

/// The wire resources of `cpus:24;mem:4096;disk:4096;ports:[31000-32000]`.
pub fn agent_resources() -> Value {
    json!([
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 24.0}},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": 4096.0}},
        {"name": "disk", "type": "SCALAR", "scalar": {"value": 4096.0}},
        {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 32000}]}},
    ])
}

/// Registers `n` simulated agents at `endpoint`, `concurrency` at a time; their ids.
pub async fn register_agents(
    client: &HttpClient,
    master: &str,
    endpoint: SocketAddr,
    n: u32,
    tasks: impl Fn(u32) -> Value,
) -> anyhow::Result<Vec<String>> {
    let url = format!(
        "{}://{master}{}",
        meseta_http::tls::scheme(),
        wire::REGISTER
    );
    let mut ids = Vec::with_capacity(n as usize);
    let mut batch = Vec::new();
    for i in 0..n {
        let mut body = json!({
            "agent_info": {"hostname": format!("sim-{i}"), "port": endpoint.port(),
                "resources": agent_resources()},
            "endpoint": endpoint.to_string(),
            "version": "bench",
        });
        let t = tasks(i);
        if !t.is_null() {
            body["agent_info"]["id"] = json!({"value": format!("sim-agent-{i}")});
            body["tasks"] = t;
        }
        let (client, url) = (client.clone(), url.clone());
        batch.push(tokio::spawn(async move {
            post(&client, &url, None, serde_json::to_vec(&body)?).await
        }));
        if batch.len() == 64 || i + 1 == n {
            for h in batch.drain(..) {
                let (code, body) = h.await??;
                if code != 200 {
                    anyhow::bail!(
                        "agent registration: {code} {}",
                        String::from_utf8_lossy(&body)
                    );
                }
                let r: wire::Registered = serde_json::from_slice(&body)?;
                ids.push(r.agent_id.value);
            }
        }
    }
    Ok(ids)
}

/// A subscribed framework's event stream, as JSON events.
pub struct Subscription {
    pub framework_id: String,
    pub stream_id: String,
    pub events: tokio::sync::mpsc::UnboundedReceiver<Value>,
}

/// SUBSCRIBEs `framework_info` and reads the RecordIO stream on a task.
pub async fn subscribe(
    client: &HttpClient,
    master: &str,
    framework_info: Value,
) -> anyhow::Result<Subscription> {
    let body = json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info}});
    let req = hyper::Request::post(format!(
        "{}://{master}/api/v1/scheduler",
        meseta_http::tls::scheme()
    ))
    .header("content-type", "application/json")
    .header("accept", "application/json")
    .body(Full::new(Bytes::from(serde_json::to_vec(&body)?)))?;
    let response = client.request(req).await?;
    if response.status() != 200 {
        anyhow::bail!("SUBSCRIBE: {}", response.status());
    }
    let stream_id = response
        .headers()
        .get("mesos-stream-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut body = response.into_body();
    tokio::spawn(async move {
        let mut buf: Vec<u8> = Vec::new();
        while let Some(Ok(frame)) = body.frame().await {
            let Ok(data) = frame.into_data() else {
                continue;
            };
            buf.extend_from_slice(&data);
            // RecordIO: "<length>\n<record>".
            while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                let Some(len) = std::str::from_utf8(&buf[..nl])
                    .ok()
                    .and_then(|s| s.trim().parse::<usize>().ok())
                else {
                    return;
                };
                if buf.len() < nl + 1 + len {
                    break;
                }
                let record: Vec<u8> = buf.drain(..nl + 1 + len).skip(nl + 1).collect();
                if let Ok(v) = serde_json::from_slice::<Value>(&record)
                    && tx.send(v).is_err()
                {
                    return;
                }
            }
        }
    });
    let first = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await?
        .ok_or_else(|| anyhow::anyhow!("SUBSCRIBE: stream ended"))?;
    let framework_id = first["subscribed"]["framework_id"]["value"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("SUBSCRIBE: first event {first}"))?
        .to_string();
    Ok(Subscription {
        framework_id,
        stream_id,
        events: rx,
    })
}

#[derive(Default)]
struct Progress {
    launched: u64,
    accepted_at: HashMap<String, Instant>,
    latencies: Vec<Duration>,
    running: u64,
    finished: u64,
    first_accept: Option<Instant>,
    last_running: Option<Instant>,
}

/// One run's figures.
pub(crate) struct RunFigures {
    pub total: Duration,
    pub tasks_per_s: f64,
    pub updates_per_s: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub finished: u64,
    pub acked: u64,
    pub offers: u64,
    /// What the attached operator streams received, when any were.
    pub stream: Option<crate::stream::StreamFigures>,
    /// Scheduler calls answered with an error or not answered.
    pub failed_calls: u64,
    /// CPU time of the whole process during the run (user + system), and of the attached
    /// streams' readers within it.
    pub cpu_s: f64,
    pub reader_cpu_s: f64,
}

fn pct(v: &[Duration], p: f64) -> Duration {
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).copied().unwrap_or_default()
}

const TASK_CPUS: f64 = 0.1;
/// Tasks launched and not yet RUNNING, at most, in the throughput run.
const WINDOW: u64 = 1_000;
/// The latency run's rate: the throughput goal.
const PACED_RATE: f64 = 5_000.0;
const TASK_MEM: f64 = 32.0;

fn scalar(resources: &Value, name: &str) -> f64 {
    resources
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter(|r| r["name"] == name)
                .filter_map(|r| r["scalar"]["value"].as_f64())
                .sum()
        })
        .unwrap_or(0.0)
}

/// How the load generator launches.
#[derive(Clone, Copy)]
pub(crate) enum Load {
    /// As fast as offers allow, with at most this many tasks between ACCEPT and RUNNING
    /// (the throughput run).
    Window(u64),
    /// At a steady rate (tasks/s), from offers it holds (the latency run).
    Paced(f64),
}

/// An ACCEPT of `offer_id` launching `n` tasks on `agent_id`, recorded in `p`.
fn accept_body(p: &mut Progress, offer_id: &Value, agent_id: &Value, n: u64) -> Value {
    let now = Instant::now();
    p.first_accept.get_or_insert(now);
    let mut task_infos = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let id = format!("t{}", p.launched);
        p.launched += 1;
        p.accepted_at.insert(id.clone(), now);
        task_infos.push(json!({
            "name": id, "task_id": {"value": id},
            "agent_id": agent_id,
            "resources": [
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": TASK_CPUS}},
                {"name": "mem", "type": "SCALAR", "scalar": {"value": TASK_MEM}}],
            "command": {"value": "true", "shell": true},
        }));
    }
    json!({"type": "ACCEPT", "accept": {"offer_ids": [offer_id],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": task_infos}}],
        "filters": {"refuse_seconds": 0.0}}})
}

/// With the window full, offers are held: launches from them as the window makes room, in
/// batches of at least 50 tasks (or what an offer or the run has left), so that each RUNNING
/// update does not make an ACCEPT of its own.
fn launch_held(
    p: &mut Progress,
    held: &Mutex<std::collections::VecDeque<(Value, Value, u64)>>,
    window: u64,
    tasks: u64,
) -> Vec<Value> {
    let mut bodies = Vec::new();
    let Ok(mut held) = held.lock() else {
        return bodies;
    };
    while let Some((_, _, fit)) = held.front() {
        let in_flight = p.launched - p.running.min(p.launched);
        let left = tasks - p.launched.min(tasks);
        let room = window.saturating_sub(in_flight).min(left);
        if room == 0 || room < (*fit).min(50).min(left) {
            break;
        }
        let Some((offer_id, agent_id, fit)) = held.pop_front() else {
            break;
        };
        bodies.push(accept_body(p, &offer_id, &agent_id, fit.min(room)));
    }
    bodies
}

async fn one_run(
    allocator: Option<Arc<meseta_runtime::LoadedModule>>,
    agents: u32,
    tasks: u64,
    label: &str,
    load: Load,
) -> anyhow::Result<RunFigures> {
    one_run_with(allocator, agents, tasks, label, load, 0).await
}

/// One run with `streams` operator event streams attached and read throughout.
pub(crate) async fn one_run_with(
    allocator: Option<Arc<meseta_runtime::LoadedModule>>,
    agents: u32,
    tasks: u64,
    label: &str,
    load: Load,
    streams: usize,
) -> anyhow::Result<RunFigures> {
    let name = "launch";
    let master = Master::start(MasterConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        allocation_interval: Duration::from_millis(1000),
        heartbeat_interval: Duration::from_secs(15),
        agent_ping_timeout: Duration::from_secs(60),
        allocator,
        ..MasterConfig::default()
    })
    .await?;
    let addr = master.address().to_string();
    let (sim, endpoint) = start_sim(&addr, AfterRunning::Finish).await?;
    let client = client();
    register_agents(&client, &addr, endpoint, agents, |_| Value::Null).await?;
    let attached_at = Instant::now();
    let attached = if streams > 0 {
        Some(crate::stream::attach(&addr, streams, attached_at).await?)
    } else {
        None
    };
    progress(
        name,
        format!("{label}: {agents} simulated agents registered; launching {tasks} tasks"),
    );
    let sub = subscribe(
        &client,
        &addr,
        json!({"user": "bench", "name": "meseta-bench-launch", "roles": ["*"],
            "capabilities": [{"type": "MULTI_ROLE"}]}),
    )
    .await?;
    let Subscription {
        framework_id,
        stream_id,
        mut events,
    } = sub;
    let url = format!("{}://{addr}/api/v1/scheduler", meseta_http::tls::scheme());
    let progress_state = Arc::new(Mutex::new(Progress::default()));
    let acked = Arc::new(AtomicU64::new(0));
    let all_acked = Arc::new(Notify::new());
    let offers_seen = Arc::new(AtomicU64::new(0));
    let failed_calls = Arc::new(AtomicU64::new(0));
    let call = {
        let (client, url, stream_id, framework_id, failed_calls) = (
            client.clone(),
            url.clone(),
            stream_id.clone(),
            framework_id.clone(),
            failed_calls.clone(),
        );
        move |mut body: Value| {
            let (client, url, stream_id) = (client.clone(), url.clone(), stream_id.clone());
            let failed_calls = failed_calls.clone();
            body["framework_id"] = json!({"value": framework_id});
            async move {
                let answer = post(
                    &client,
                    &url,
                    Some(&stream_id),
                    serde_json::to_vec(&body).unwrap_or_default(),
                )
                .await;
                // A call lost here would show only as tasks never launched: count and say it.
                let failure = match &answer {
                    Ok((status, _)) if *status < 300 => None,
                    Ok((status, text)) => {
                        Some(format!("{status} {}", String::from_utf8_lossy(text)))
                    }
                    Err(e) => Some(e.to_string()),
                };
                if let Some(why) = failure
                    && failed_calls.fetch_add(1, Ordering::Relaxed) == 0
                {
                    progress("launch", format!("a scheduler call failed: {why}"));
                }
                answer
            }
        }
    };
    let (cpu_start, reader_cpu_start) = crate::stream::cpu_seconds();
    let start = Instant::now();
    let held: Arc<Mutex<std::collections::VecDeque<(Value, Value, u64)>>> = Arc::default();
    let pacer = match load {
        Load::Window(_) => None,
        Load::Paced(rate) => {
            let (progress_state, held, call) = (progress_state.clone(), held.clone(), call.clone());
            Some(tokio::spawn(async move {
                // Launches from held offers at `rate` tasks/s, every 2 ms what is due.
                let mut tick = tokio::time::interval(Duration::from_millis(2));
                let paced_from = Instant::now();
                loop {
                    tick.tick().await;
                    let due = ((paced_from.elapsed().as_secs_f64() * rate) as u64).min(tasks);
                    loop {
                        let Ok(mut p) = progress_state.lock() else {
                            return;
                        };
                        if p.launched >= due {
                            break;
                        }
                        let Some((offer_id, agent_id, fit)) =
                            held.lock().ok().and_then(|mut h| h.pop_front())
                        else {
                            break;
                        };
                        let n = fit.min(due - p.launched);
                        let body = accept_body(&mut p, &offer_id, &agent_id, n);
                        drop(p);
                        tokio::spawn(call(body));
                    }
                    if progress_state
                        .lock()
                        .map(|p| p.launched >= tasks)
                        .unwrap_or(true)
                    {
                        return;
                    }
                }
            }))
        }
    };
    let reader = {
        let (progress_state, acked, all_acked, offers_seen, held) = (
            progress_state.clone(),
            acked.clone(),
            all_acked.clone(),
            offers_seen.clone(),
            held.clone(),
        );
        let call = call.clone();
        tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                match ev["type"].as_str() {
                    Some("OFFERS") => {
                        let Some(offers) = ev["offers"]["offers"].as_array() else {
                            continue;
                        };
                        offers_seen.fetch_add(offers.len() as u64, Ordering::Relaxed);
                        for offer in offers {
                            let fit = ((scalar(&offer["resources"], "cpus") / TASK_CPUS + 1e-9)
                                .floor())
                            .min((scalar(&offer["resources"], "mem") / TASK_MEM).floor())
                                as u64;
                            let hold = || {
                                if let Ok(mut h) = held.lock() {
                                    h.push_back((
                                        offer["id"].clone(),
                                        offer["agent_id"].clone(),
                                        fit,
                                    ));
                                }
                            };
                            let window = match load {
                                Load::Window(w) => w,
                                Load::Paced(_) => {
                                    // The pacer launches from it when tasks are due.
                                    hold();
                                    continue;
                                }
                            };
                            let body = {
                                let Ok(mut p) = progress_state.lock() else {
                                    continue;
                                };
                                // At most `window` tasks between ACCEPT and RUNNING: a steady
                                // load whose latency is the system's, not a queue's.
                                let in_flight = p.launched - p.running.min(p.launched);
                                let n = fit
                                    .min(tasks - p.launched)
                                    .min(window.saturating_sub(in_flight));
                                if n == 0 && p.launched < tasks && fit > 0 {
                                    // The window is full: the offer is kept, and the RUNNING
                                    // updates that make room launch from it (a framework
                                    // that declined it would leave the agent idle for the
                                    // decline's filter).
                                    hold();
                                    continue;
                                } else if n == 0 {
                                    // Nothing more to launch here.
                                    json!({"type": "DECLINE", "decline": {"offer_ids": [offer["id"]],
                                        "filters": {"refuse_seconds": 1.0}}})
                                } else {
                                    accept_body(&mut p, &offer["id"], &offer["agent_id"], n)
                                }
                            };
                            tokio::spawn(call(body));
                        }
                    }
                    Some("UPDATE") => {
                        let status = &ev["update"]["status"];
                        let state = status["state"].as_str().unwrap_or_default();
                        let task = status["task_id"]["value"].as_str().unwrap_or_default();
                        if let Ok(mut p) = progress_state.lock() {
                            let now = Instant::now();
                            if state == "TASK_RUNNING" {
                                if let Some(t) = p.accepted_at.remove(task) {
                                    p.latencies.push(now - t);
                                }
                                p.running += 1;
                                p.last_running = Some(now);
                                if let Load::Window(window) = load {
                                    for body in launch_held(&mut p, &held, window, tasks) {
                                        tokio::spawn(call(body));
                                    }
                                }
                            } else if state == "TASK_FINISHED" {
                                p.finished += 1;
                            }
                        }
                        if status.get("uuid").is_some() {
                            let body = json!({"type": "ACKNOWLEDGE", "acknowledge": {
                                "agent_id": status["agent_id"], "task_id": status["task_id"],
                                "uuid": status["uuid"]}});
                            let (acked, all_acked, fut) =
                                (acked.clone(), all_acked.clone(), call(body));
                            tokio::spawn(async move {
                                if let Ok((202, _)) = fut.await
                                    && acked.fetch_add(1, Ordering::Relaxed) + 1 == 2 * tasks
                                {
                                    all_acked.notify_one();
                                }
                            });
                        }
                    }
                    _ => {}
                }
            }
        })
    };
    let deadline = Duration::from_secs(120);
    let mut last_report = Instant::now();
    let done = loop {
        tokio::select! {
            _ = all_acked.notified() => break true,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        if start.elapsed() > deadline {
            break false;
        }
        if last_report.elapsed() > Duration::from_secs(2) {
            last_report = Instant::now();
            let (running, finished) = progress_state
                .lock()
                .map(|p| (p.running, p.finished))
                .unwrap_or_default();
            progress(
                name,
                format!(
                    "{label}: {running} running, {finished} finished, {} acknowledged",
                    acked.load(Ordering::Relaxed)
                ),
            );
        }
    };
    let end = Instant::now();
    reader.abort();
    if let Some(p) = pacer {
        p.abort();
    }
    let first_accept = progress_state
        .lock()
        .ok()
        .and_then(|p| p.first_accept)
        .unwrap_or(start);
    let stream = match attached {
        Some(attached) => {
            // TASK_ADDED, RUNNING and FINISHED for every task, on every stream.
            let expected = 3 * tasks * streams as u64;
            Some(crate::stream::collect(attached, expected, attached_at, first_accept).await)
        }
        None => None,
    };
    let (cpu_end, reader_cpu_end) = crate::stream::cpu_seconds();
    master.stop().await;
    let p = progress_state
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?;
    if !done {
        progress(
            name,
            format!(
                "{label}: timed out after {deadline:?} ({} running, {} finished)",
                p.running, p.finished
            ),
        );
    }
    let first = p.first_accept.unwrap_or(start);
    let launch_span = p
        .last_running
        .unwrap_or(end)
        .saturating_duration_since(first);
    let total = end.saturating_duration_since(first);
    let acked = acked.load(Ordering::Relaxed);
    let mut lat = p.latencies.clone();
    lat.sort();
    let _ = sim.updates_sent.load(Ordering::Relaxed);
    Ok(RunFigures {
        total,
        tasks_per_s: p.running as f64 / launch_span.as_secs_f64().max(1e-9),
        updates_per_s: acked as f64 / total.as_secs_f64().max(1e-9),
        p50: pct(&lat, 0.5),
        p99: pct(&lat, 0.99),
        finished: p.finished,
        acked,
        offers: offers_seen.load(Ordering::Relaxed),
        stream,
        failed_calls: failed_calls.load(Ordering::Relaxed),
        cpu_s: cpu_end - cpu_start,
        reader_cpu_s: reader_cpu_end - reader_cpu_start,
    })
}

pub fn run(o: &BenchOptions) -> anyhow::Result<Vec<Report>> {
    let agents = o.agents.unwrap_or(if o.quick { 20 } else { 1_000 });
    let tasks = u64::from(o.tasks.unwrap_or(if o.quick { 500 } else { 20_000 }));
    let module = crate::load_builtin("allocator-drf", &[])?;
    let rt = runtime()?;
    let rate = if o.quick { 1_000.0 } else { PACED_RATE };
    let saturate = Load::Window(WINDOW);
    let n = rt.block_on(one_run(None, agents, tasks, "native allocator", saturate))?;
    let w = rt.block_on(one_run(
        Some(module.clone()),
        agents,
        tasks,
        "allocator-drf module",
        saturate,
    ))?;
    progress(
        "launch",
        format!("latency runs: {tasks} tasks at a steady {rate} tasks/s"),
    );
    let paced = Load::Paced(rate);
    let np = rt.block_on(one_run(
        None,
        agents,
        tasks,
        "native allocator, paced",
        paced,
    ))?;
    let wp = rt.block_on(one_run(
        Some(module),
        agents,
        tasks,
        "allocator-drf module, paced",
        paced,
    ))?;
    rt.shutdown_timeout(Duration::from_secs(1));
    let mut rep = Report::new(
        "launch",
        json!({"agents": agents, "tasks": tasks, "window": WINDOW, "paced_tasks_per_s": rate}),
        n.total,
        w.total,
    );
    rep.consistent = [&n, &w, &np, &wp]
        .iter()
        .all(|f| f.finished == tasks && f.acked == 2 * tasks);
    for (prefix, f, fp) in [("native", &n, &np), ("wasm", &w, &wp)] {
        rep.set(&format!("{prefix}_tasks_per_s"), f.tasks_per_s.round());
        rep.set(&format!("{prefix}_updates_per_s"), f.updates_per_s.round());
        // Latency of the paced run, and of the saturated one (Little's law of the window).
        for (kind, run) in [("", fp), ("saturated_", f)] {
            let key = |p: &str| format!("{prefix}_{kind}{p}_accept_to_running_ms");
            rep.set(&key("p50"), crate::ms(run.p50));
            rep.set(&key("p99"), crate::ms(run.p99));
        }
        rep.set(&format!("{prefix}_offers"), f.offers);
    }
    rep.set(
        "anchor_note",
        "no published Mesos end-to-end launch rate on comparable hardware",
    );
    if agents >= 1_000 {
        rep.goal(">= 5,000 tasks/s (Wasm)", w.tasks_per_s >= 5_000.0);
        rep.goal(
            ">= 10,000 acknowledged updates/s (Wasm)",
            w.updates_per_s >= 10_000.0,
        );
        rep.goal(
            "p99 ACCEPT->RUNNING < 50 ms at 5,000 tasks/s (Wasm)",
            wp.p99 < Duration::from_millis(50),
        );
    }
    Ok(vec![rep])
}
