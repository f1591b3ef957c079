//! The agent daemon over real HTTP on 127.0.0.1, with real processes.
//!
//! `FakeMaster` is a test double that stands in for the real master: it answers REGISTER,
//! records STATUS / EXECUTOR_EXITED / EXECUTOR_MESSAGE posts into channels, and plays the
//! master's side towards the agent (RUN_TASK, KILL_TASK, ACKNOWLEDGE), optionally
//! acknowledging every update by itself. End-to-end tests with the real master come
//! separately.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use meseta_agent::{Agent, AgentConfig};
use meseta_api::common::{Reason, Source, TaskState};
use meseta_api::internal::{self as wire, ExecutorExited, RegisterAgent, StatusUpdate};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

async fn request(method: &str, url: &str, body: Option<Vec<u8>>) -> (u16, Vec<u8>) {
    let req = hyper::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .unwrap();
    let work = async {
        let resp = client().request(req).await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, body.to_vec())
    };
    tokio::time::timeout(Duration::from_secs(10), work)
        .await
        .expect("request timed out")
}

async fn get_json(url: &str) -> Value {
    let (code, body) = request("GET", url, None).await;
    assert_eq!(code, 200, "{url}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

// The test double master -----------------------------------------------------------------------

const AGENT_ID: &str = "fake-master-S0";

struct FakeShared {
    auto_ack: AtomicBool,
    /// Answer the next STATUS with 409 (the master does not know the agent).
    conflict_once: AtomicBool,
    registrations: Mutex<Vec<RegisterAgent>>,
    status_tx: mpsc::UnboundedSender<StatusUpdate>,
    exited_tx: mpsc::UnboundedSender<ExecutorExited>,
}

struct FakeMaster {
    addr: SocketAddr,
    shared: Arc<FakeShared>,
    statuses: mpsc::UnboundedReceiver<StatusUpdate>,
    exited: mpsc::UnboundedReceiver<ExecutorExited>,
    server: Option<(oneshot::Sender<()>, tokio::task::JoinHandle<()>)>,
}

async fn fake_register(State(s): State<Arc<FakeShared>>, body: Bytes) -> Response {
    let msg: RegisterAgent = serde_json::from_slice(&body).unwrap();
    s.registrations.lock().unwrap().push(msg);
    let answer = wire::Registered {
        agent_id: meseta_api::common::AgentID::new(AGENT_ID),
        master_id: "fake-master".into(),
        ping_interval_seconds: 3600.0,
        max_ping_timeouts: 5,
    };
    (StatusCode::OK, serde_json::to_vec(&answer).unwrap()).into_response()
}

async fn fake_status(State(s): State<Arc<FakeShared>>, body: Bytes) -> Response {
    let update: StatusUpdate = serde_json::from_slice(&body).unwrap();
    if s.conflict_once.swap(false, Ordering::SeqCst) {
        return (StatusCode::CONFLICT, "unknown agent").into_response();
    }
    if s.auto_ack.load(Ordering::SeqCst) {
        let endpoint = s
            .registrations
            .lock()
            .unwrap()
            .last()
            .map(|r| r.endpoint.clone())
            .unwrap();
        let ack = wire::AcknowledgeUpdate {
            framework_id: update.framework_id.clone(),
            task_id: update.status.task_id.clone(),
            uuid: update.status.uuid.clone().unwrap(),
        };
        tokio::spawn(async move {
            let url = format!("http://{endpoint}{}", wire::ACKNOWLEDGE);
            request("POST", &url, Some(serde_json::to_vec(&ack).unwrap())).await;
        });
    }
    let _ = s.status_tx.send(update);
    StatusCode::ACCEPTED.into_response()
}

async fn fake_exited(State(s): State<Arc<FakeShared>>, body: Bytes) -> Response {
    let msg: ExecutorExited = serde_json::from_slice(&body).unwrap();
    let _ = s.exited_tx.send(msg);
    StatusCode::ACCEPTED.into_response()
}

async fn serve_fake(
    shared: Arc<FakeShared>,
    addr: SocketAddr,
) -> (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let app = Router::new()
        .route(wire::REGISTER, post(fake_register))
        .route(wire::STATUS, post(fake_status))
        .route(wire::EXECUTOR_EXITED, post(fake_exited))
        .route(
            wire::EXECUTOR_MESSAGE,
            post(|| async { StatusCode::ACCEPTED }),
        )
        .with_state(shared);
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    (addr, tx, task)
}

impl FakeMaster {
    async fn start(auto_ack: bool) -> FakeMaster {
        let (status_tx, statuses) = mpsc::unbounded_channel();
        let (exited_tx, exited) = mpsc::unbounded_channel();
        let shared = Arc::new(FakeShared {
            auto_ack: AtomicBool::new(auto_ack),
            conflict_once: AtomicBool::new(false),
            registrations: Mutex::new(Vec::new()),
            status_tx,
            exited_tx,
        });
        let (addr, tx, task) = serve_fake(shared.clone(), "127.0.0.1:0".parse().unwrap()).await;
        FakeMaster {
            addr,
            shared,
            statuses,
            exited,
            server: Some((tx, task)),
        }
    }

    /// Stops answering: the port is closed.
    async fn go_down(&mut self) {
        if let Some((tx, task)) = self.server.take() {
            let _ = tx.send(());
            tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .unwrap()
                .unwrap();
        }
    }

    /// Serves again on the same port.
    async fn come_back(&mut self) {
        let (_, tx, task) = serve_fake(self.shared.clone(), self.addr).await;
        self.server = Some((tx, task));
    }

    async fn next_status(&mut self) -> StatusUpdate {
        tokio::time::timeout(Duration::from_secs(10), self.statuses.recv())
            .await
            .expect("no status update within 10 s")
            .unwrap()
    }

    /// The next update whose state differs from `previous` (resends of `previous` skipped).
    async fn next_new_status(&mut self, previous: Option<&StatusUpdate>) -> StatusUpdate {
        loop {
            let update = self.next_status().await;
            match previous {
                Some(p) if p.status.uuid == update.status.uuid => continue,
                _ => return update,
            }
        }
    }

    /// Collects updates of `task` until one is terminal; returns the distinct ones in order.
    async fn updates_until_terminal(&mut self, task: &str) -> Vec<StatusUpdate> {
        let mut out: Vec<StatusUpdate> = Vec::new();
        loop {
            let u = self.next_status().await;
            if u.status.task_id.value != task {
                continue;
            }
            if out.iter().any(|o| o.status.uuid == u.status.uuid) {
                continue;
            }
            let terminal = u.status.state.is_terminal();
            out.push(u);
            if terminal {
                return out;
            }
        }
    }
}

async fn ack(agent: &Agent, update: &StatusUpdate) {
    let ack = wire::AcknowledgeUpdate {
        framework_id: update.framework_id.clone(),
        task_id: update.status.task_id.clone(),
        uuid: update.status.uuid.clone().unwrap(),
    };
    let url = format!("http://{}{}", agent.address(), wire::ACKNOWLEDGE);
    let (code, _) = request("POST", &url, Some(serde_json::to_vec(&ack).unwrap())).await;
    assert_eq!(code, 202);
}

// The agent under test -------------------------------------------------------------------------

async fn start_agent(master: &FakeMaster, dir: &Path) -> Agent {
    let agent = Agent::start(agent_config(master, dir)).await.unwrap();
    assert!(
        agent.wait_registered(Duration::from_secs(10)).await,
        "agent did not register"
    );
    agent
}

fn agent_config(master: &FakeMaster, dir: &Path) -> AgentConfig {
    AgentConfig {
        master: format!("http://{}", master.addr),
        listen: "127.0.0.1:0".parse().unwrap(),
        hostname: None,
        work_dir: dir.join("work"),
        resources: Some("cpus:2;mem:512;disk:1000;ports:[31000-31010]".into()),
        attributes: Some("rack:r1;weight:3".into()),
        executor_shutdown_grace_period: Duration::from_secs(2),
        executor_registration_timeout: Duration::from_secs(20),
        status_update_retry_min: Duration::from_millis(100),
        status_update_retry_max: Duration::from_secs(1),
        registration_backoff: Duration::from_millis(50),
        ..AgentConfig::default()
    }
}

fn command_task(id: &str, command: &str) -> Value {
    json!({
        "name": format!("task {id}"),
        "task_id": {"value": id},
        "agent_id": {"value": AGENT_ID},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}, "role": "*"},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}, "role": "*"}
        ],
        "command": {"shell": true, "value": command}
    })
}

async fn run_task(agent: &Agent, framework_id: &str, executor: Option<Value>, tasks: Vec<Value>) {
    let mut body = json!({
        "framework": {"user": "", "name": "test-framework", "id": {"value": framework_id}},
        "framework_id": {"value": framework_id},
        "tasks": tasks,
    });
    if let Some(executor) = executor {
        body["executor"] = executor;
    }
    let url = format!("http://{}{}", agent.address(), wire::RUN_TASK);
    let (code, text) = request("POST", &url, Some(serde_json::to_vec(&body).unwrap())).await;
    assert_eq!(code, 202, "{}", String::from_utf8_lossy(&text));
}

fn states(updates: &[StatusUpdate]) -> Vec<TaskState> {
    updates.iter().map(|u| u.status.state).collect()
}

// Tests ----------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_with_its_info_and_serves_the_basics() {
    let dir = tempfile::tempdir().unwrap();
    let master = FakeMaster::start(true).await;
    let agent = start_agent(&master, dir.path()).await;
    assert_eq!(agent.agent_id().as_deref(), Some(AGENT_ID));

    let reg = master.shared.registrations.lock().unwrap()[0].clone();
    assert_eq!(reg.endpoint, agent.address().to_string());
    assert!(reg.agent_info.id.is_none());
    assert_eq!(reg.agent_info.hostname, "127.0.0.1");
    assert_eq!(reg.agent_info.port, Some(u32::from(agent.address().port())));
    assert!(reg.tasks.is_empty());
    let names: Vec<&str> = reg
        .agent_info
        .resources
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(names, ["cpus", "mem", "disk", "ports"]);
    assert_eq!(reg.agent_info.resources[0].scalar.unwrap().value, 2.0);
    assert_eq!(reg.agent_info.attributes.len(), 2);

    let base = format!("http://{}", agent.address());
    let version = get_json(&format!("{base}/version")).await;
    assert_eq!(version["version"], "1.11.0");
    let (code, _) = request("GET", &format!("{base}/slave(1)/health"), None).await;
    assert_eq!(code, 200);
    let flags = get_json(&format!("{base}/slave(1)/flags")).await;
    assert!(flags["flags"]["work_dir"].is_string());
    let metrics = get_json(&format!("{base}/metrics/snapshot")).await;
    assert_eq!(metrics["slave/registered"], 1.0);
    assert_eq!(metrics["slave/cpus_total"], 2.0);
    assert_eq!(metrics["slave/mem_total"], 512.0);

    let state = get_json(&format!("{base}/slave(1)/state")).await;
    assert_eq!(state["id"], AGENT_ID);
    assert_eq!(state["pid"], format!("slave(1)@{}", agent.address()));
    assert_eq!(state["resources"]["cpus"], 2.0);
    assert_eq!(state["resources"]["ports"], "[31000-31010]");
    assert_eq!(state["attributes"]["rack"], "r1");
    assert_eq!(state["attributes"]["weight"], 3.0);
    assert_eq!(state["master_hostname"], "127.0.0.1");
    assert_eq!(state["version"], "1.11.0");
    assert!(state["frameworks"].as_array().unwrap().is_empty());

    // A ping with our id is known; another id is not.
    let ping = |id: &str| {
        serde_json::to_vec(&wire::Ping {
            master_id: "fake-master".into(),
            agent_id: meseta_api::common::AgentID::new(id),
        })
        .unwrap()
    };
    let (code, body) = request(
        "POST",
        &format!("{base}{}", wire::PING),
        Some(ping(AGENT_ID)),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        serde_json::from_slice::<wire::Pong>(&body).unwrap(),
        wire::Pong { known: true }
    );
    let (_, body) = request(
        "POST",
        &format!("{base}{}", wire::PING),
        Some(ping("other")),
    )
    .await;
    assert_eq!(
        serde_json::from_slice::<wire::Pong>(&body).unwrap(),
        wire::Pong { known: false }
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shell_task_runs_to_completion_and_its_output_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let mut master = FakeMaster::start(true).await;
    let agent = start_agent(&master, dir.path()).await;
    run_task(
        &agent,
        "fw-1",
        None,
        vec![command_task("t1", "echo hello-meseta; echo to-stderr >&2")],
    )
    .await;

    let updates = master.updates_until_terminal("t1").await;
    assert_eq!(
        states(&updates),
        [TaskState::Starting, TaskState::Running, TaskState::Finished]
    );
    for u in &updates {
        assert_eq!(u.agent_id.value, AGENT_ID);
        assert_eq!(u.framework_id.value, "fw-1");
        assert_eq!(u.status.agent_id.as_ref().unwrap().value, AGENT_ID);
        assert_eq!(u.status.executor_id.as_ref().unwrap().value, "t1");
        assert_eq!(u.status.source, Some(Source::Executor));
        assert!(u.status.timestamp.is_some());
        assert_eq!(
            u.status.uuid.as_ref().unwrap().as_uuid().map(|_| ()),
            Some(())
        );
    }
    let running = &updates[1].status;
    assert!(
        running
            .container_status
            .as_ref()
            .unwrap()
            .executor_pid
            .is_some()
    );

    let stdout = dir
        .path()
        .join("work/slaves")
        .join(AGENT_ID)
        .join("frameworks/fw-1/executors/t1/runs/latest/stdout");
    assert_eq!(std::fs::read_to_string(&stdout).unwrap(), "hello-meseta\n");

    let base = format!("http://{}", agent.address());
    let read = get_json(&format!(
        "{base}/files/read?path=/frameworks/fw-1/executors/t1/runs/latest/stdout&offset=0"
    ))
    .await;
    assert_eq!(read["data"], "hello-meseta\n");
    assert_eq!(read["offset"], 0);
    let read = get_json(&format!(
        "{base}/files/read.json?path={}&offset=0&length=5",
        stdout.display()
    ))
    .await;
    assert_eq!(read["data"], "hello");
    let size = get_json(&format!(
        "{base}/files/read?path={}&offset=-1",
        stdout.display()
    ))
    .await;
    assert_eq!(size["offset"], 13);
    let listing = get_json(&format!(
        "{base}/files/browse?path=/frameworks/fw-1/executors/t1/runs/latest"
    ))
    .await;
    let paths: Vec<&str> = listing
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(paths.iter().any(|p| p.ends_with("/stderr")), "{paths:?}");
    assert!(paths.iter().any(|p| p.ends_with("/stdout")), "{paths:?}");

    // Acknowledged and terminal: the task is completed in /state.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let state = get_json(&format!("{base}/slave(1)/state")).await;
        let done = &state["completed_frameworks"];
        if let Some(task) = done
            .as_array()
            .and_then(|f| f.first())
            .and_then(|f| f["completed_executors"][0]["completed_tasks"].get(0))
        {
            assert_eq!(task["id"], "t1");
            assert_eq!(task["state"], "TASK_FINISHED");
            assert_eq!(task["resources"]["cpus"], 0.1);
            assert_eq!(task["statuses"].as_array().unwrap().len(), 3);
            let executor = &done[0]["completed_executors"][0];
            let directory = executor["directory"].as_str().unwrap();
            let read = get_json(&format!(
                "{base}/files/read?path={directory}/stdout&offset=0"
            ))
            .await;
            assert_eq!(read["data"], "hello-meseta\n");
            break;
        }
        assert!(Instant::now() < deadline, "task never completed: {state}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let metrics = get_json(&format!("{base}/metrics/snapshot")).await;
    assert_eq!(metrics["slave/tasks_finished"], 1.0);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_and_unlaunchable_tasks_fail() {
    let dir = tempfile::tempdir().unwrap();
    let mut master = FakeMaster::start(true).await;
    let agent = start_agent(&master, dir.path()).await;
    run_task(&agent, "fw-1", None, vec![command_task("bad", "exit 3")]).await;
    let updates = master.updates_until_terminal("bad").await;
    let last = &updates.last().unwrap().status;
    assert_eq!(last.state, TaskState::Failed);
    assert_eq!(
        last.message.as_deref(),
        Some("Command exited with status 3")
    );

    // A task without a command cannot run.
    let mut no_command = command_task("nocmd", "true");
    no_command.as_object_mut().unwrap().remove("command");
    run_task(&agent, "fw-1", None, vec![no_command]).await;
    let updates = master.updates_until_terminal("nocmd").await;
    assert_eq!(states(&updates), [TaskState::Failed]);
    assert_eq!(updates[0].status.source, Some(Source::Agent));

    // Nor one whose user does not exist.
    let mut bad_user = command_task("baduser", "true");
    bad_user["command"]["user"] = json!("no-such-user-meseta-xyz");
    run_task(&agent, "fw-1", None, vec![bad_user]).await;
    let updates = master.updates_until_terminal("baduser").await;
    let last = &updates.last().unwrap().status;
    assert_eq!(last.state, TaskState::Failed);
    assert_eq!(last.reason, Some(Reason::ContainerLaunchFailed));
    assert!(
        last.message
            .as_deref()
            .unwrap()
            .contains("no-such-user-meseta-xyz"),
        "{last:?}"
    );
    agent.stop().await;
}

/// Processes of the process group `pgid` that are not zombies (killed processes orphaned to
/// init stay zombies until init reaps them).
fn live_group_members(pgid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid pgrp ...`; comm may contain anything, so split after ')'.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[2].parse::<i32>() == Ok(pgid) && fields[0] != "Z" {
            out.push(pid);
        }
    }
    out
}

async fn wait_group_gone(pgid: i32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if live_group_members(pgid).is_empty() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_task_is_killed_with_its_group_and_state_shows_it_running_before() {
    let dir = tempfile::tempdir().unwrap();
    let mut master = FakeMaster::start(true).await;
    let agent = start_agent(&master, dir.path()).await;
    // The shell forks a background sleep too: both must go.
    run_task(
        &agent,
        "fw-k",
        None,
        vec![command_task("sleeper", "sleep 60 & sleep 60")],
    )
    .await;
    let starting = master.next_new_status(None).await;
    assert_eq!(starting.status.state, TaskState::Starting);
    let running = master.next_new_status(Some(&starting)).await;
    assert_eq!(running.status.state, TaskState::Running);
    let pid = running
        .status
        .container_status
        .as_ref()
        .unwrap()
        .executor_pid
        .unwrap() as i32;
    let deadline = Instant::now() + Duration::from_secs(3);
    while live_group_members(pid).len() < 3 {
        assert!(Instant::now() < deadline, "sh and two sleeps never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let base = format!("http://{}", agent.address());
    let state = get_json(&format!("{base}/slave(1)/state")).await;
    let framework = &state["frameworks"][0];
    assert_eq!(framework["id"], "fw-k");
    assert_eq!(framework["name"], "test-framework");
    let executor = &framework["executors"][0];
    assert_eq!(executor["id"], "sleeper");
    assert_eq!(executor["tasks"][0]["id"], "sleeper");
    assert_eq!(executor["tasks"][0]["state"], "TASK_RUNNING");
    assert_eq!(executor["tasks"][0]["slave_id"], AGENT_ID);
    assert_eq!(executor["tasks"][0]["framework_id"], "fw-k");
    assert!(executor["directory"].as_str().unwrap().contains("/runs/"));
    let metrics = get_json(&format!("{base}/metrics/snapshot")).await;
    assert_eq!(metrics["slave/tasks_running"], 1.0);
    assert_eq!(metrics["slave/cpus_used"], 0.1);

    let kill = json!({"framework_id": {"value": "fw-k"}, "task_id": {"value": "sleeper"}});
    let (code, _) = request(
        "POST",
        &format!("{base}{}", wire::KILL_TASK),
        Some(kill.to_string().into_bytes()),
    )
    .await;
    assert_eq!(code, 202);
    let killed = master.next_new_status(Some(&running)).await;
    assert_eq!(killed.status.state, TaskState::Killed);
    assert!(
        wait_group_gone(pid).await,
        "the process group survived the kill: {:?}",
        live_group_members(pid)
    );

    // Killing a task the agent does not know: TASK_LOST.
    let kill = json!({"framework_id": {"value": "fw-k"}, "task_id": {"value": "nope"}});
    request(
        "POST",
        &format!("{base}{}", wire::KILL_TASK),
        Some(kill.to_string().into_bytes()),
    )
    .await;
    let lost = master.updates_until_terminal("nope").await;
    assert_eq!(states(&lost), [TaskState::Lost]);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_are_resent_until_acknowledged_and_sent_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut master = FakeMaster::start(false).await;
    let agent = start_agent(&master, dir.path()).await;
    run_task(&agent, "fw-1", None, vec![command_task("quick", "true")]).await;

    let expected = [TaskState::Starting, TaskState::Running, TaskState::Finished];
    let mut previous: Option<StatusUpdate> = None;
    let mut first = true;
    for state in expected {
        let update = master.next_new_status(previous.as_ref()).await;
        assert_eq!(update.status.state, state, "{update:?}");
        if first {
            // Unacknowledged: the same update comes again (and nothing else does).
            let started = Instant::now();
            let mut resends = 0;
            while started.elapsed() < Duration::from_millis(700) {
                if let Ok(Some(again)) =
                    tokio::time::timeout(Duration::from_millis(100), master.statuses.recv()).await
                {
                    assert_eq!(again.status.uuid, update.status.uuid, "{again:?}");
                    resends += 1;
                }
            }
            assert!(resends >= 2, "only {resends} resends");
            first = false;
        }
        ack(&agent, &update).await;
        previous = Some(update);
    }
    // An acknowledgement for something else changes nothing.
    let bogus = wire::AcknowledgeUpdate {
        framework_id: meseta_api::common::FrameworkID::new("fw-1"),
        task_id: meseta_api::common::TaskID::new("quick"),
        uuid: meseta_api::new_status_uuid(),
    };
    let url = format!("http://{}{}", agent.address(), wire::ACKNOWLEDGE);
    let (code, _) = request("POST", &url, Some(serde_json::to_vec(&bogus).unwrap())).await;
    assert_eq!(code, 202);
    agent.stop().await;
}

/// While TASK_STARTING waits for its acknowledgement, the task runs and ends: the resends of
/// TASK_STARTING carry the task's latest state (Mesos' `StatusUpdate.latest_state`), so the
/// master can know it ended before the framework acknowledged the older updates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_update_in_flight_carries_the_latest_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut master = FakeMaster::start(false).await;
    let agent = start_agent(&master, dir.path()).await;
    run_task(&agent, "fw-1", None, vec![command_task("quick", "true")]).await;

    let starting = master.next_status().await;
    assert_eq!(starting.status.state, TaskState::Starting);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(
            Instant::now() < deadline,
            "no resend of TASK_STARTING with latest_state TASK_FINISHED"
        );
        let again = master.next_status().await;
        assert_eq!(
            again.status.uuid, starting.status.uuid,
            "only the head is sent: {again:?}"
        );
        assert_eq!(again.status.state, TaskState::Starting);
        if again.latest_state == Some(TaskState::Finished) {
            break;
        }
    }
    // acknowledged in order, the later updates come with the same latest state
    ack(&agent, &starting).await;
    let running = master.next_new_status(Some(&starting)).await;
    assert_eq!(running.status.state, TaskState::Running);
    assert_eq!(running.latest_state, Some(TaskState::Finished));
    ack(&agent, &running).await;
    let finished = master.next_new_status(Some(&running)).await;
    assert_eq!(finished.status.state, TaskState::Finished);
    assert_eq!(finished.latest_state, Some(TaskState::Finished));
    ack(&agent, &finished).await;
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_survive_the_master_being_down() {
    let dir = tempfile::tempdir().unwrap();
    let mut master = FakeMaster::start(true).await;
    let agent = start_agent(&master, dir.path()).await;
    master.go_down().await;
    run_task(
        &agent,
        "fw-1",
        None,
        vec![command_task("offline", "echo offline")],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(master.statuses.try_recv().is_err());
    master.come_back().await;
    let updates = master.updates_until_terminal("offline").await;
    assert_eq!(
        states(&updates),
        [TaskState::Starting, TaskState::Running, TaskState::Finished]
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut master = FakeMaster::start(true).await;
    let agent = start_agent(&master, dir.path()).await;
    let base = format!("http://{}", agent.address());

    for body in ["not json", "{\"tasks\": 1}", "{}"] {
        let (code, text) = request(
            "POST",
            &format!("{base}{}", wire::RUN_TASK),
            Some(body.into()),
        )
        .await;
        assert_eq!(code, 400, "{body}");
        assert!(!text.is_empty());
    }
    let bad_id = json!({
        "framework": {"user": "", "name": "x"},
        "framework_id": {"value": "../escape"},
        "tasks": [command_task("t", "true")],
    });
    let (code, text) = request(
        "POST",
        &format!("{base}{}", wire::RUN_TASK),
        Some(bad_id.to_string().into_bytes()),
    )
    .await;
    // refused task by task, each with a terminal update, never left staging
    assert_eq!(code, 202, "{}", String::from_utf8_lossy(&text));
    let update = master.next_status().await;
    assert_eq!(update.status.task_id.value, "t");
    assert_eq!(update.status.state, TaskState::Error);
    assert_eq!(update.status.reason, Some(Reason::TaskInvalid));
    assert!(
        update
            .status
            .message
            .as_deref()
            .unwrap()
            .contains("framework id"),
        "{update:?}"
    );
    for path in [
        wire::KILL_TASK,
        wire::ACKNOWLEDGE,
        wire::PING,
        "/api/v1/executor",
    ] {
        let (code, _) = request("POST", &format!("{base}{path}"), Some("{".into())).await;
        assert_eq!(code, 400, "{path}");
    }
    let state = get_json(&format!("{base}/slave(1)/state")).await;
    assert!(state["frameworks"].as_array().unwrap().is_empty());

    // A task id longer than 255 bytes: TASK_ERROR for it, its neighbour runs.
    let long = "x".repeat(256);
    run_task(
        &agent,
        "fw-ids",
        None,
        vec![command_task(&long, "true"), command_task("fine", "true")],
    )
    .await;
    let refused = master.updates_until_terminal(&long).await;
    let last = &refused.last().unwrap().status;
    assert_eq!(last.state, TaskState::Error);
    assert_eq!(last.reason, Some(Reason::TaskInvalid));
    assert!(
        last.message.as_deref().unwrap().contains("task id"),
        "{last:?}"
    );
    let fine = master.updates_until_terminal("fine").await;
    assert_eq!(fine.last().unwrap().status.state, TaskState::Finished);

    // Sandbox paths only.
    run_task(&agent, "fw-1", None, vec![command_task("f", "true")]).await;
    let layout_dir = agent.work_dir().join("slaves");
    for path in [
        "/frameworks/fw-1/executors/f/runs/latest/../../../../../../../etc/passwd".to_string(),
        format!("{}/../../etc/passwd", layout_dir.display()),
        "/etc/passwd".to_string(),
        "".to_string(),
    ] {
        let (code, _) = request(
            "GET",
            &format!("{base}/files/read?path={path}&offset=0"),
            None,
        )
        .await;
        assert!((400..500).contains(&code), "{path}: {code}");
        let (code, _) = request("GET", &format!("{base}/files/browse?path={path}"), None).await;
        assert!((400..500).contains(&code), "{path}: {code}");
    }
    // A bad offset on a path that exists (the task's sandbox is made after RUN_TASK answers).
    for _ in 0..200 {
        let browse = format!("{base}/files/browse?path=/frameworks/fw-1");
        if request("GET", &browse, None).await.0 == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let (code, _) = request(
        "GET",
        &format!("{base}/files/read?path=/frameworks/fw-1&offset=x"),
        None,
    )
    .await;
    assert_eq!(code, 400);
    // An executor call for an executor that does not exist.
    let call = json!({"type": "SUBSCRIBE", "framework_id": {"value": "fw-none"}, "executor_id": {"value": "e"}});
    let (code, _) = request(
        "POST",
        &format!("{base}/api/v1/executor"),
        Some(call.to_string().into_bytes()),
    )
    .await;
    assert_eq!(code, 404);
    agent.stop().await;
}

const EXECUTOR_PY: &str = r#"
import base64, http.client, json, os, sys, uuid

endpoint = os.environ["MESOS_AGENT_ENDPOINT"]
fid = os.environ["MESOS_FRAMEWORK_ID"]
eid = os.environ["MESOS_EXECUTOR_ID"]
host, port = endpoint.rsplit(":", 1)
log = open(os.path.join(os.environ["MESOS_SANDBOX"], "events.log"), "a")

def record(kind, body):
    log.write(json.dumps({"kind": kind, "body": body}) + "\n")
    log.flush()

def call(body):
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("POST", "/api/v1/executor", json.dumps(body), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status

def update(task_id, state):
    u = base64.b64encode(uuid.uuid4().bytes).decode()
    code = call({"type": "UPDATE", "framework_id": {"value": fid}, "executor_id": {"value": eid},
                 "update": {"status": {"task_id": task_id, "state": state, "uuid": u}}})
    record("sent", {"state": state, "uuid": u, "code": code})

sub = http.client.HTTPConnection(host, int(port), timeout=30)
sub.request("POST", "/api/v1/executor",
            json.dumps({"type": "SUBSCRIBE", "framework_id": {"value": fid},
                        "executor_id": {"value": eid}, "subscribe": {}}),
            {"Content-Type": "application/json", "Accept": "application/json"})
resp = sub.getresponse()
record("subscribe", {"status": resp.status, "chunked": resp.chunked,
                     "content_type": resp.getheader("Content-Type")})
acks = 0
while True:
    line = resp.readline()
    if not line:
        break
    event = json.loads(resp.read(int(line.strip())))
    record("event", event)
    kind = event.get("type")
    if kind == "LAUNCH":
        task_id = event["launch"]["task"]["task_id"]
        update(task_id, "TASK_RUNNING")
        update(task_id, "TASK_FINISHED")
    elif kind == "ACKNOWLEDGED":
        acks += 1
        if acks == 2:
            break
    elif kind == "SHUTDOWN":
        break
record("done", {})
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_executor_subscribes_runs_a_task_and_hears_acknowledgements() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("executor.py");
    std::fs::write(&script, EXECUTOR_PY).unwrap();
    let mut master = FakeMaster::start(true).await;
    let agent = start_agent(&master, dir.path()).await;
    let executor = json!({
        "type": "CUSTOM",
        "executor_id": {"value": "exec-1"},
        "name": "python executor",
        "command": {"shell": true, "value": format!("exec python3 {}", script.display())},
    });
    let mut task = command_task("task-e1", "unused");
    task.as_object_mut().unwrap().remove("command");
    run_task(&agent, "fw-exec", Some(executor), vec![task]).await;

    let updates = master.updates_until_terminal("task-e1").await;
    assert_eq!(states(&updates), [TaskState::Running, TaskState::Finished]);
    for u in &updates {
        assert_eq!(u.agent_id.value, AGENT_ID);
        assert_eq!(u.status.agent_id.as_ref().unwrap().value, AGENT_ID);
        assert_eq!(u.status.executor_id.as_ref().unwrap().value, "exec-1");
        assert_eq!(u.status.source, Some(Source::Executor));
        assert!(u.status.timestamp.is_some());
    }
    let exited = tokio::time::timeout(Duration::from_secs(10), master.exited.recv())
        .await
        .expect("no EXECUTOR_EXITED")
        .unwrap();
    assert_eq!(exited.executor_id.value, "exec-1");
    assert_eq!(exited.framework_id.value, "fw-exec");
    assert_eq!(exited.status, 0);

    let log = dir
        .path()
        .join("work/slaves")
        .join(AGENT_ID)
        .join("frameworks/fw-exec/executors/exec-1/runs/latest/events.log");
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let subscribe = lines.iter().find(|l| l["kind"] == "subscribe").unwrap();
    assert_eq!(subscribe["body"]["status"], 200);
    assert_eq!(subscribe["body"]["chunked"], true);
    assert_eq!(subscribe["body"]["content_type"], "application/json");
    let events: Vec<&Value> = lines
        .iter()
        .filter(|l| l["kind"] == "event")
        .map(|l| &l["body"])
        .filter(|e| e["type"] != "HEARTBEAT")
        .collect();
    assert_eq!(events[0]["type"], "SUBSCRIBED");
    let subscribed = &events[0]["subscribed"];
    assert_eq!(
        subscribed["executor_info"]["executor_id"],
        json!({"value": "exec-1"})
    );
    assert_eq!(
        subscribed["framework_info"]["id"],
        json!({"value": "fw-exec"})
    );
    assert_eq!(subscribed["agent_info"]["id"], json!({"value": AGENT_ID}));
    assert!(subscribed["container_id"]["value"].is_string());
    assert_eq!(events[1]["type"], "LAUNCH");
    assert_eq!(
        events[1]["launch"]["task"]["task_id"],
        json!({"value": "task-e1"})
    );
    let sent: Vec<&Value> = lines
        .iter()
        .filter(|l| l["kind"] == "sent")
        .map(|l| &l["body"])
        .collect();
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|s| s["code"] == 202), "{sent:?}");
    let acked: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "ACKNOWLEDGED")
        .map(|e| &e["acknowledged"])
        .collect();
    assert_eq!(acked.len(), 2);
    for ((a, s), u) in acked.iter().zip(&sent).zip(&updates) {
        assert_eq!(a["task_id"], json!({"value": "task-e1"}));
        assert_eq!(a["uuid"], s["uuid"]);
        assert_eq!(
            u.status.uuid.as_ref().unwrap().to_base64(),
            s["uuid"].as_str().unwrap()
        );
    }
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_group_fails_together() {
    let dir = tempfile::tempdir().unwrap();
    let mut master = FakeMaster::start(true).await;
    let agent = start_agent(&master, dir.path()).await;
    let executor = json!({
        "type": "DEFAULT",
        "executor_id": {"value": "group-exec"},
        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}],
    });
    let body = json!({
        "framework": {"user": "", "name": "test-framework", "id": {"value": "fw-g"}},
        "framework_id": {"value": "fw-g"},
        "executor": executor,
        "tasks": [command_task("g-sleep", "sleep 60"), command_task("g-fail", "sleep 0.3; exit 1")],
        "group": true,
    });
    let url = format!("http://{}{}", agent.address(), wire::RUN_TASK);
    let (code, _) = request("POST", &url, Some(body.to_string().into_bytes())).await;
    assert_eq!(code, 202);
    let mut terminal = std::collections::HashMap::new();
    while terminal.len() < 2 {
        let u = master.next_status().await;
        assert_eq!(u.status.executor_id.as_ref().unwrap().value, "group-exec");
        if u.status.state.is_terminal() {
            terminal.insert(u.status.task_id.value.clone(), u.status.state);
        }
    }
    assert_eq!(terminal["g-fail"], TaskState::Failed);
    assert_eq!(terminal["g-sleep"], TaskState::Killed);
    let exited = tokio::time::timeout(Duration::from_secs(10), master.exited.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(exited.executor_id.value, "group-exec");
    // Each task has its own sandbox under the executor's.
    let tasks_dir = dir
        .path()
        .join("work/slaves")
        .join(AGENT_ID)
        .join("frameworks/fw-g/executors/group-exec/runs/latest/tasks");
    assert!(tasks_dir.join("g-sleep/stdout").exists());
    assert!(tasks_dir.join("g-fail/stdout").exists());
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_409_makes_the_agent_register_again_with_its_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let mut master = FakeMaster::start(true).await;
    let agent = start_agent(&master, dir.path()).await;
    master.shared.conflict_once.store(true, Ordering::SeqCst);
    run_task(&agent, "fw-r", None, vec![command_task("long", "sleep 60")]).await;
    // The update refused with 409 is delivered after the re-registration.
    let first = master.next_status().await;
    assert_eq!(first.status.state, TaskState::Starting);
    let deadline = Instant::now() + Duration::from_secs(5);
    let regs = loop {
        let regs = master.shared.registrations.lock().unwrap().clone();
        if regs.len() >= 2 || Instant::now() > deadline {
            break regs;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(regs.len(), 2, "{regs:?}");
    let again = &regs[1];
    assert_eq!(again.agent_info.id.as_ref().unwrap().value, AGENT_ID);
    assert_eq!(again.tasks.len(), 1);
    assert_eq!(again.tasks[0].task.task_id.value, "long");
    assert_eq!(again.tasks[0].framework_id.value, "fw-r");
    assert_eq!(
        again.tasks[0].framework.as_ref().unwrap().name,
        "test-framework"
    );

    // SHUTDOWN_FRAMEWORK kills what the framework runs.
    let running = master.next_new_status(Some(&first)).await;
    assert_eq!(running.status.state, TaskState::Running);
    let body = json!({"framework_id": {"value": "fw-r"}});
    let url = format!("http://{}{}", agent.address(), wire::SHUTDOWN_FRAMEWORK);
    let (code, _) = request("POST", &url, Some(body.to_string().into_bytes())).await;
    assert_eq!(code, 202);
    let killed = master.next_new_status(Some(&running)).await;
    assert_eq!(killed.status.state, TaskState::Killed);
    agent.stop().await;
}

fn custom_executor(id: &str, command: &str) -> Value {
    json!({
        "type": "CUSTOM",
        "executor_id": {"value": id},
        "command": {"shell": true, "value": command},
    })
}

fn executor_task(id: &str) -> Value {
    let mut task = command_task(id, "unused");
    task.as_object_mut().unwrap().remove("command");
    task
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_of_an_executor_that_dies_fail() {
    let dir = tempfile::tempdir().unwrap();
    let mut master = FakeMaster::start(true).await;
    let agent = start_agent(&master, dir.path()).await;
    let executor = custom_executor("dies", "sleep 0.2; exit 7");
    run_task(
        &agent,
        "fw-d",
        Some(executor),
        vec![executor_task("orphan")],
    )
    .await;
    let updates = master.updates_until_terminal("orphan").await;
    let last = &updates.last().unwrap().status;
    assert_eq!(last.state, TaskState::Failed);
    assert_eq!(last.reason, Some(Reason::ExecutorTerminated));
    assert_eq!(last.source, Some(Source::Agent));
    assert_eq!(last.executor_id.as_ref().unwrap().value, "dies");
    let exited = tokio::time::timeout(Duration::from_secs(10), master.exited.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(exited.executor_id.value, "dies");
    assert_eq!(exited.status, 7 << 8, "a wait status, as Mesos reports it");
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_tasks_can_be_killed_and_executors_shut_down() {
    let dir = tempfile::tempdir().unwrap();
    let mut master = FakeMaster::start(true).await;
    let agent = start_agent(&master, dir.path()).await;
    // An executor that never subscribes: its task stays queued.
    let executor = custom_executor("silent", "sleep 60");
    run_task(
        &agent,
        "fw-q",
        Some(executor),
        vec![executor_task("q1"), executor_task("q2")],
    )
    .await;
    let base = format!("http://{}", agent.address());
    let state = get_json(&format!("{base}/slave(1)/state")).await;
    let queued = &state["frameworks"][0]["executors"][0]["queued_tasks"];
    assert_eq!(queued.as_array().unwrap().len(), 2, "{state}");

    let kill = json!({"framework_id": {"value": "fw-q"}, "task_id": {"value": "q1"}});
    let (code, _) = request(
        "POST",
        &format!("{base}{}", wire::KILL_TASK),
        Some(kill.to_string().into_bytes()),
    )
    .await;
    assert_eq!(code, 202);
    let updates = master.updates_until_terminal("q1").await;
    assert_eq!(states(&updates), [TaskState::Killed]);
    assert_eq!(
        updates[0].status.reason,
        Some(Reason::TaskKilledDuringLaunch)
    );

    let shutdown = json!({"framework_id": {"value": "fw-q"}, "executor_id": {"value": "silent"}});
    let (code, _) = request(
        "POST",
        &format!("{base}{}", wire::SHUTDOWN_EXECUTOR),
        Some(shutdown.to_string().into_bytes()),
    )
    .await;
    assert_eq!(code, 202);
    let updates = master.updates_until_terminal("q2").await;
    assert_eq!(updates.last().unwrap().status.state, TaskState::Killed);
    let exited = tokio::time::timeout(Duration::from_secs(10), master.exited.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(exited.executor_id.value, "silent");
    assert_eq!(exited.status, libc::SIGTERM);
    agent.stop().await;
}

/// Waits until the fake master has seen `n` registrations; all of them.
async fn registrations(master: &FakeMaster, n: usize) -> Vec<RegisterAgent> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let regs = master.shared.registrations.lock().unwrap().clone();
        if regs.len() >= n {
            return regs;
        }
        assert!(
            Instant::now() < deadline,
            "{} registrations, expected {n}",
            regs.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn reported_executors(reg: &RegisterAgent) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = reg
        .executors
        .iter()
        .map(|e| {
            assert_eq!(
                e.executor.framework_id.as_ref(),
                Some(&e.framework_id),
                "{e:?}"
            );
            (
                e.framework_id.value.clone(),
                e.executor.executor_id.value.clone(),
            )
        })
        .collect();
    out.sort();
    out
}

/// A (re-)registration reports the custom executors and the task groups' default executors,
/// which hold resources at the master, but not the command executors of command tasks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_reports_custom_and_default_executors_but_not_command_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut master = FakeMaster::start(true).await;
    let agent = start_agent(&master, dir.path()).await;
    // an executor that never subscribes: it runs, its task stays queued
    let mut silent = custom_executor("silent", "sleep 60");
    silent["resources"] = json!([{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}]);
    run_task(&agent, "fw-x", Some(silent), vec![executor_task("q1")]).await;
    run_task(&agent, "fw-x", None, vec![command_task("cmd", "sleep 60")]).await;
    let body = json!({
        "framework": {"user": "", "name": "test-framework", "id": {"value": "fw-g"}},
        "framework_id": {"value": "fw-g"},
        "executor": {
            "type": "DEFAULT",
            "executor_id": {"value": "group-exec"},
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}],
        },
        "tasks": [command_task("g1", "sleep 60")],
        "group": true,
    });
    let url = format!("http://{}{}", agent.address(), wire::RUN_TASK);
    let (code, _) = request("POST", &url, Some(body.to_string().into_bytes())).await;
    assert_eq!(code, 202);
    // the first update of the next task is refused with 409: the agent registers again
    master.shared.conflict_once.store(true, Ordering::SeqCst);
    run_task(
        &agent,
        "fw-x",
        None,
        vec![command_task("trigger", "sleep 60")],
    )
    .await;

    let regs = registrations(&master, 2).await;
    assert!(regs[0].executors.is_empty(), "{:?}", regs[0].executors);
    let again = &regs[1];
    assert_eq!(
        reported_executors(again),
        [
            ("fw-g".to_string(), "group-exec".to_string()),
            ("fw-x".to_string(), "silent".to_string()),
        ]
    );
    let silent = again
        .executors
        .iter()
        .find(|e| e.executor.executor_id.value == "silent")
        .unwrap();
    assert_eq!(silent.executor.resources.len(), 1, "{silent:?}");
    assert_eq!(
        silent.executor.command.as_ref().unwrap().value.as_deref(),
        Some("sleep 60")
    );
    let _ = master.next_status().await;
    agent.stop().await;
}

/// A custom executor recovered from the checkpoints of a previous agent (here written by
/// hand, with a `sleep` standing in for its supervisor and its process) is reported in the
/// re-registration once it has subscribed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_reports_recovered_executors() {
    use meseta_agent::checkpoint::{self, MetaLayout, PidRecord, UpdateRecord, run_files};
    use std::os::unix::process::CommandExt;

    let dir = tempfile::tempdir().unwrap();
    let master = FakeMaster::start(true).await;
    // a first agent registers and checkpoints its identity
    start_agent(&master, dir.path()).await.stop().await;

    let mut process = std::process::Command::new("sleep")
        .arg("60")
        .process_group(0)
        .spawn()
        .unwrap();
    let record = PidRecord::of(process.id()).unwrap();
    let meta = MetaLayout::new(&dir.path().join("work"));
    let (fid, eid, cid, tid) = ("fw-rec", "exec-rec", "cid-rec", "t-rec");
    checkpoint::write_json(
        &meta.framework_info(AGENT_ID, fid),
        &json!({"user": "", "name": "recovering", "checkpoint": true, "id": {"value": fid}}),
    )
    .unwrap();
    checkpoint::write_json(
        &meta.executor_info(AGENT_ID, fid, eid),
        &json!({
            "type": "CUSTOM",
            "executor_id": {"value": eid},
            "framework_id": {"value": fid},
            "command": {"shell": true, "value": "sleep 60"},
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}],
        }),
    )
    .unwrap();
    checkpoint::write_atomic(&meta.latest_run(AGENT_ID, fid, eid), cid.as_bytes()).unwrap();
    let run = meta.run_dir(AGENT_ID, fid, eid, cid);
    checkpoint::write_atomic(&run_files::kind(&run), b"custom").unwrap();
    for pids in [run_files::forked_pid(&run), run_files::task_pid(&run)] {
        checkpoint::write_atomic(&pids, record.to_text().as_bytes()).unwrap();
    }
    let task_dir = meta.task_dir(AGENT_ID, fid, eid, cid, tid);
    let mut task = executor_task(tid);
    task["executor"] = json!({"executor_id": {"value": eid}});
    checkpoint::write_json(&run_files::task_info(&task_dir), &task).unwrap();
    let mut running = meseta_api::common::TaskStatus::new(
        meseta_api::common::TaskID::new(tid),
        TaskState::Running,
    );
    running.uuid = Some(meseta_api::new_status_uuid());
    checkpoint::append_update(
        &run_files::task_updates(&task_dir),
        &UpdateRecord::Update {
            status: Box::new(running.clone()),
            from_executor: true,
        },
    )
    .unwrap();
    checkpoint::append_update(
        &run_files::task_updates(&task_dir),
        &UpdateRecord::Ack {
            uuid: running.uuid.clone().unwrap(),
        },
    )
    .unwrap();

    let agent = Agent::start(AgentConfig {
        executor_reregistration_timeout: Duration::from_secs(10),
        ..agent_config(&master, dir.path())
    })
    .await
    .unwrap();
    // the executor subscribes again (its stream stays open while `_stream` lives)
    let subscribe = json!({
        "type": "SUBSCRIBE",
        "framework_id": {"value": fid},
        "executor_id": {"value": eid},
        "subscribe": {},
    });
    let req = hyper::Request::post(format!("http://{}/api/v1/executor", agent.address()))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(subscribe.to_string())))
        .unwrap();
    let stream = tokio::time::timeout(Duration::from_secs(10), client().request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(agent.wait_registered(Duration::from_secs(10)).await);

    let regs = registrations(&master, 2).await;
    let again = &regs[1];
    assert_eq!(again.agent_info.id.as_ref().unwrap().value, AGENT_ID);
    assert_eq!(
        reported_executors(again),
        [(fid.to_string(), eid.to_string())]
    );
    assert_eq!(again.tasks.len(), 1, "{:?}", again.tasks);
    assert_eq!(again.tasks[0].status.state, TaskState::Running);
    agent.stop().await;
    let _ = process.kill();
    let _ = process.wait();
}
