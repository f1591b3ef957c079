//! Dynamic reservations and persistent volumes on a real agent daemon (HTTP on 127.0.0.1,
//! real processes), driven by a small stand-in master that registers the agent and
//! acknowledges every status update: `checkpoint_resources`, `/state`, volume directories,
//! tasks that use a volume, restarts, `--default_role`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::Path;
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
use hyper_util::rt::TokioExecutor;
use meseta_agent::{Agent, AgentConfig};
use meseta_api::common::{Reason, TaskState};
use meseta_api::internal::{self as wire, RegisterAgent, StatusUpdate};
use serde_json::{Value, json};
use tokio::sync::mpsc;

const AGENT_ID: &str = "volumes-S0";

async fn request(method: &str, url: &str, body: Option<Vec<u8>>) -> (u16, String) {
    let req = hyper::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .unwrap();
    let client = Client::builder(TokioExecutor::new()).build_http();
    let work = async {
        let resp = client.request(req).await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    };
    tokio::time::timeout(Duration::from_secs(10), work)
        .await
        .expect("request timed out")
}

// The stand-in master ---------------------------------------------------------------------------

struct Shared {
    registrations: Mutex<Vec<RegisterAgent>>,
    statuses: mpsc::UnboundedSender<StatusUpdate>,
}

struct Master {
    addr: SocketAddr,
    shared: Arc<Shared>,
    statuses: mpsc::UnboundedReceiver<StatusUpdate>,
}

async fn register(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let msg: RegisterAgent = serde_json::from_slice(&body).unwrap();
    s.registrations.lock().unwrap().push(msg);
    let answer = wire::Registered {
        agent_id: meseta_api::common::AgentID::new(AGENT_ID),
        master_id: "volumes-master".into(),
        ping_interval_seconds: 3600.0,
        max_ping_timeouts: 5,
    };
    (StatusCode::OK, serde_json::to_vec(&answer).unwrap()).into_response()
}

async fn status(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let update: StatusUpdate = serde_json::from_slice(&body).unwrap();
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
    let _ = s.statuses.send(update);
    StatusCode::ACCEPTED.into_response()
}

impl Master {
    async fn start() -> Master {
        let (tx, statuses) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            registrations: Mutex::new(Vec::new()),
            statuses: tx,
        });
        let app = Router::new()
            .route(wire::REGISTER, post(register))
            .route(wire::STATUS, post(status))
            .route(
                wire::EXECUTOR_EXITED,
                post(|| async { StatusCode::ACCEPTED }),
            )
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Master {
            addr,
            shared,
            statuses,
        }
    }

    fn registrations(&self) -> Vec<RegisterAgent> {
        self.shared.registrations.lock().unwrap().clone()
    }

    /// The terminal update of `task` (earlier ones skipped).
    async fn terminal(&mut self, task: &str) -> StatusUpdate {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let u = tokio::time::timeout(left, self.statuses.recv())
                .await
                .unwrap_or_else(|_| panic!("no terminal update of {task}"))
                .unwrap();
            if u.status.task_id.value == task && u.status.state.is_terminal() {
                return u;
            }
        }
    }

    /// Waits for `task` to be RUNNING.
    async fn running(&mut self, task: &str) {
        self.running_update(task).await;
    }

    /// Waits for `task` to be RUNNING: its update.
    async fn running_update(&mut self, task: &str) -> StatusUpdate {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let u = tokio::time::timeout(left, self.statuses.recv())
                .await
                .unwrap_or_else(|_| panic!("{task} never ran"))
                .unwrap();
            if u.status.task_id.value == task {
                assert!(!u.status.state.is_terminal(), "{task}: {:?}", u.status);
                if u.status.state == TaskState::Running {
                    return u;
                }
            }
        }
    }
}

// The agent -----------------------------------------------------------------------------------

fn config(master: &Master, dir: &Path, resources: &str) -> AgentConfig {
    AgentConfig {
        master: format!("http://{}", master.addr),
        listen: "127.0.0.1:0".parse().unwrap(),
        work_dir: dir.join("work"),
        resources: Some(resources.into()),
        executor_shutdown_grace_period: Duration::from_secs(1),
        status_update_retry_min: Duration::from_millis(100),
        status_update_retry_max: Duration::from_secs(1),
        registration_backoff: Duration::from_millis(50),
        ..AgentConfig::default()
    }
}

async fn start(config: AgentConfig) -> Agent {
    let agent = Agent::start(config).await.unwrap();
    assert!(agent.wait_registered(Duration::from_secs(10)).await);
    agent
}

const RESOURCES: &str = "cpus:2;mem:512;disk:1000;ports:[31000-31010]";

fn reserved(name: &str, value: f64) -> Value {
    json!({"name": name, "type": "SCALAR", "scalar": {"value": value}, "role": "eng",
           "reservations": [{"type": "DYNAMIC", "role": "eng", "principal": "ops"}]})
}

fn volume(id: &str, container_path: &str, size: f64) -> Value {
    volume_with_mode(id, container_path, size, "RW")
}

fn volume_with_mode(id: &str, container_path: &str, size: f64, mode: &str) -> Value {
    let mut v = reserved("disk", size);
    v["disk"] = json!({"persistence": {"id": id, "principal": "ops"},
                       "volume": {"container_path": container_path, "mode": mode}});
    v
}

async fn checkpoint(agent: &Agent, resources: Vec<Value>) -> (u16, String) {
    let url = format!("http://{}{}", agent.address(), wire::CHECKPOINT_RESOURCES);
    let body = json!({ "resources": resources });
    request("POST", &url, Some(serde_json::to_vec(&body).unwrap())).await
}

async fn state(agent: &Agent) -> Value {
    let (code, body) = request("GET", &format!("http://{}/state", agent.address()), None).await;
    assert_eq!(code, 200);
    serde_json::from_str(&body).unwrap()
}

fn task(id: &str, command: &str, volume: Option<Value>) -> Value {
    let mut resources = vec![
        reserved("cpus", 0.1),
        json!({"name": "mem", "type": "SCALAR", "scalar": {"value": 32}, "role": "*"}),
    ];
    resources.extend(volume);
    json!({
        "name": id, "task_id": {"value": id}, "agent_id": {"value": AGENT_ID},
        "resources": resources,
        "command": {"shell": true, "value": command}
    })
}

async fn run(agent: &Agent, task: Value) {
    let body = json!({
        "framework": {"user": "", "name": "volumes", "id": {"value": "fw-1"}, "roles": ["eng"]},
        "framework_id": {"value": "fw-1"},
        "tasks": [task],
    });
    let url = format!("http://{}{}", agent.address(), wire::RUN_TASK);
    let (code, text) = request("POST", &url, Some(serde_json::to_vec(&body).unwrap())).await;
    assert_eq!(code, 202, "{text}");
}

// Tests ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservations_and_volumes_are_checkpointed_used_by_tasks_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut master = Master::start().await;
    let agent = start(config(&master, dir.path(), RESOURCES)).await;
    let work = agent.work_dir().to_path_buf();
    let volume_dir = work.join("volumes/roles/eng/pg-1");
    let info = work.join("meta/resources/resources.info");

    // RESERVE cpus:1 and disk:300, then CREATE a 100 MB volume out of the disk
    let set = vec![
        reserved("cpus", 1.0),
        reserved("disk", 200.0),
        volume("pg-1", "data", 100.0),
    ];
    let (code, text) = checkpoint(&agent, set.clone()).await;
    assert_eq!(code, 202, "{text}");
    assert!(
        volume_dir.is_dir(),
        "the volume's directory exists once answered"
    );
    let s = state(&agent).await;
    assert_eq!(s["reserved_resources"]["eng"]["cpus"], json!(1.0));
    assert_eq!(s["reserved_resources"]["eng"]["disk"], json!(300.0));
    assert_eq!(s["unreserved_resources"]["cpus"], json!(1.0));
    assert_eq!(s["unreserved_resources"]["disk"], json!(700.0));
    assert_eq!(s["resources"]["cpus"], json!(2.0));
    let full = s["reserved_resources_full"]["eng"].as_array().unwrap();
    assert!(
        full.iter()
            .any(|r| r["disk"]["persistence"]["id"] == json!("pg-1")
                && r["reservations"][0]["type"] == json!("DYNAMIC")),
        "{full:?}"
    );

    // A set that does not fit is refused whole: nothing changes.
    let before = std::fs::read(&info).unwrap();
    let (code, text) = checkpoint(&agent, vec![reserved("cpus", 5.0)]).await;
    assert_eq!(code, 409);
    assert!(text.contains("cpus(eng, DYNAMIC by ops):5"), "{text}");
    assert_eq!(std::fs::read(&info).unwrap(), before);
    assert!(volume_dir.is_dir());
    assert_eq!(
        state(&agent).await["reserved_resources"]["eng"]["cpus"],
        json!(1.0)
    );

    // One task writes through <sandbox>/data, the next one reads it.
    run(
        &agent,
        task(
            "writer",
            "echo hello > data/greeting",
            Some(volume("pg-1", "data", 100.0)),
        ),
    )
    .await;
    let u = master.terminal("writer").await;
    assert_eq!(u.status.state, TaskState::Finished, "{:?}", u.status);
    assert_eq!(
        std::fs::read_to_string(volume_dir.join("greeting")).unwrap(),
        "hello\n"
    );
    run(
        &agent,
        task(
            "reader",
            "test -L sub/dir/vol && test \"$(cat sub/dir/vol/greeting)\" = hello",
            Some(volume("pg-1", "sub/dir/vol", 100.0)),
        ),
    )
    .await;
    let u = master.terminal("reader").await;
    assert_eq!(u.status.state, TaskState::Finished, "{:?}", u.status);

    // A volume in use is not destroyed.
    run(
        &agent,
        task("sleeper", "sleep 30", Some(volume("pg-1", "data", 100.0))),
    )
    .await;
    master.running("sleeper").await;
    let (code, text) =
        checkpoint(&agent, vec![reserved("cpus", 1.0), reserved("disk", 300.0)]).await;
    assert_eq!(code, 409);
    assert!(
        text.contains("'pg-1' of role 'eng'") && text.contains("in use"),
        "{text}"
    );
    assert!(volume_dir.join("greeting").exists());

    // A restart keeps the reservations and the volume, and registers with them.
    agent.stop().await;
    let regs_before = master.registrations().len();
    let agent = start(config(&master, dir.path(), RESOURCES)).await;
    let reg = master.registrations()[regs_before].clone();
    let wire = &reg.agent_info.resources;
    let eng_cpus: f64 = wire
        .iter()
        .filter(|r| r.name == "cpus" && r.role.as_deref() == Some("eng"))
        .filter_map(|r| r.scalar.as_ref().map(|s| s.value))
        .sum();
    assert_eq!(eng_cpus, 1.0);
    assert!(wire.iter().any(|r| {
        r.disk
            .as_ref()
            .and_then(|d| d.persistence.as_ref())
            .is_some_and(|p| p.id == "pg-1")
    }));
    assert_eq!(
        std::fs::read_to_string(volume_dir.join("greeting")).unwrap(),
        "hello\n"
    );
    assert_eq!(
        state(&agent).await["reserved_resources"]["eng"]["disk"],
        json!(300.0)
    );

    // DESTROY and UNRESERVE: the volume's data goes, the sandbox link is left dangling.
    let (code, text) = checkpoint(&agent, vec![]).await;
    assert_eq!(code, 202, "{text}");
    assert!(!volume_dir.exists());
    let s = state(&agent).await;
    assert_eq!(s["reserved_resources"], json!({}));
    assert_eq!(s["unreserved_resources"]["disk"], json!(1000.0));
    agent.stop().await;

    // A --resources change that no longer fits a checkpoint: the agent does not start.
    let mut set = set;
    set.truncate(1);
    let agent = start(config(&master, dir.path(), RESOURCES)).await;
    assert_eq!(checkpoint(&agent, set).await.0, 202);
    agent.stop().await;
    let e = Agent::start(config(&master, dir.path(), "cpus:0.5;mem:512;disk:1000"))
        .await
        .err()
        .expect("an agent whose resources no longer hold its reservations must not start")
        .to_string();
    assert!(
        e.contains("cpus(eng, DYNAMIC by ops):1") && e.contains("resources.info"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_with_bad_or_unknown_volumes_fail_to_launch() {
    let dir = tempfile::tempdir().unwrap();
    let mut master = Master::start().await;
    let agent = start(config(&master, dir.path(), RESOURCES)).await;
    let (code, text) = checkpoint(
        &agent,
        vec![reserved("cpus", 1.0), volume("v", "data", 10.0)],
    )
    .await;
    assert_eq!(code, 202, "{text}");
    for (id, volume, expected) in [
        ("absolute", volume("v", "/etc/x", 10.0), "absolute"),
        ("escaping", volume("v", "a/../../x", 10.0), "'..'"),
        (
            "unknown",
            volume("nope", "data", 10.0),
            "does not exist on this agent",
        ),
    ] {
        run(&agent, task(id, "true", Some(volume))).await;
        let u = master.terminal(id).await;
        assert_eq!(u.status.state, TaskState::Failed, "{id}");
        assert_eq!(u.status.reason, Some(Reason::ContainerLaunchFailed), "{id}");
        let message = u.status.message.unwrap_or_default();
        assert!(message.contains(expected), "{id}: {message}");
    }
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_role_reserves_resources_that_name_no_role() {
    let dir = tempfile::tempdir().unwrap();
    let master = Master::start().await;
    let mut c = config(&master, dir.path(), "cpus:2;mem(*):256;gpus(ml):1");
    c.default_role = Some("eng".into());
    let agent = start(c).await;
    let reg = master.registrations().last().cloned().unwrap();
    let role_of = |name: &str| {
        reg.agent_info
            .resources
            .iter()
            .find(|r| r.name == name)
            .and_then(|r| r.role.clone())
            .unwrap()
    };
    assert_eq!(role_of("cpus"), "eng");
    assert_eq!(role_of("mem"), "*");
    assert_eq!(role_of("gpus"), "ml");
    // detected resources too
    assert_eq!(role_of("disk"), "eng");
    assert_eq!(role_of("ports"), "eng");
    let s = state(&agent).await;
    assert_eq!(s["reserved_resources"]["eng"]["cpus"], json!(2.0));
    assert_eq!(s["unreserved_resources"]["mem"], json!(256.0));
    agent.stop().await;

    for (role, resources, expected) in [
        (Some("a b"), "cpus:1", "--default_role"),
        (Some("/eng"), "cpus:1", "--default_role"),
        (None, "cpus(eng//x):1", "--resources"),
    ] {
        let mut c = config(&master, dir.path(), resources);
        c.default_role = role.map(str::to_string);
        let e = Agent::start(c).await.err().expect("a bad role").to_string();
        assert!(e.contains(expected), "{e}");
    }
}

// Read-only volumes ---------------------------------------------------------------------------

/// The `meseta` binary next to the test's directory (`cargo build -p meseta-cli`).
fn meseta_binary() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("meseta");
    path.is_file().then_some(path)
}

/// The sandbox of command task `task` (its only run).
fn sandbox_of(work: &Path, task: &str) -> std::path::PathBuf {
    let runs = work.join(format!(
        "slaves/{AGENT_ID}/frameworks/fw-1/executors/{task}/runs"
    ));
    std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap())
        .find(|e| e.file_name() != "latest")
        .map(|e| e.path())
        .unwrap_or_else(|| panic!("no run in {}", runs.display()))
}

fn mountinfo_mentions(pid: &str, path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let needle = path.to_string_lossy().into_owned();
    text.lines()
        .find(|l| l.split(' ').nth(4) == Some(needle.as_str()))
        .map(str::to_string)
}

/// RO volumes: readable, not writable (EROFS), mounted only in the task's namespace; RW
/// volumes: still links, writable. `supervisor`: the tasks run under `meseta supervise`.
async fn read_only_volumes(supervisor: Option<std::path::PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let mut master = Master::start().await;
    let mut c = config(&master, dir.path(), RESOURCES);
    c.supervisor = supervisor;
    let agent = start(c).await;
    let work = agent.work_dir().to_path_buf();
    let ro = volume_with_mode("ro-1", "data", 10.0, "RO");
    let rw = volume("rw-1", "rw", 10.0);
    let (code, text) =
        checkpoint(&agent, vec![reserved("cpus", 1.0), ro.clone(), rw.clone()]).await;
    assert_eq!(code, 202, "{text}");
    let ro_dir = work.join("volumes/roles/eng/ro-1");
    let rw_dir = work.join("volumes/roles/eng/rw-1");
    // what the operator put in the volume
    std::fs::write(ro_dir.join("seed"), "seeded\n").unwrap();

    // readable, a directory in the sandbox (not a link)
    run(
        &agent,
        task(
            "ro-reader",
            "test -d data && ! test -L data && test \"$(cat data/seed)\" = seeded",
            Some(ro.clone()),
        ),
    )
    .await;
    let u = master.terminal("ro-reader").await;
    assert_eq!(u.status.state, TaskState::Finished, "{:?}", u.status);

    // not writable: the task fails and nothing reaches the volume
    run(
        &agent,
        task("ro-writer", "echo x > data/f", Some(ro.clone())),
    )
    .await;
    let u = master.terminal("ro-writer").await;
    assert_eq!(u.status.state, TaskState::Failed, "{:?}", u.status);
    assert!(!ro_dir.join("f").exists());
    let stderr = std::fs::read_to_string(sandbox_of(&work, "ro-writer").join("stderr")).unwrap();
    assert!(stderr.contains("Read-only file system"), "{stderr}");
    // nor can the seed be removed or changed
    run(
        &agent,
        task(
            "ro-remover",
            "rm -f data/seed || echo y >> data/seed",
            Some(ro.clone()),
        ),
    )
    .await;
    let u = master.terminal("ro-remover").await;
    assert_eq!(u.status.state, TaskState::Failed, "{:?}", u.status);
    assert_eq!(
        std::fs::read_to_string(ro_dir.join("seed")).unwrap(),
        "seeded\n"
    );

    // a RW volume is still a writable link
    run(
        &agent,
        task(
            "rw-writer",
            "test -L rw && echo hi > rw/f",
            Some(rw.clone()),
        ),
    )
    .await;
    let u = master.terminal("rw-writer").await;
    assert_eq!(u.status.state, TaskState::Finished, "{:?}", u.status);
    assert_eq!(std::fs::read_to_string(rw_dir.join("f")).unwrap(), "hi\n");

    // the mount is in the task's namespace only: the agent sees an empty directory
    run(&agent, task("ro-sleeper", "sleep 30", Some(ro.clone()))).await;
    let u = master.running_update("ro-sleeper").await;
    let pid = u
        .status
        .container_status
        .and_then(|c| c.executor_pid)
        .expect("the task's pid")
        .to_string();
    let sandbox = sandbox_of(&work, "ro-sleeper");
    let mount_point = sandbox.join("data");
    let line = mountinfo_mentions(&pid, &mount_point)
        .unwrap_or_else(|| panic!("{} is not mounted in the task", mount_point.display()));
    assert!(
        line.split(' ')
            .nth(5)
            .unwrap()
            .split(',')
            .any(|o| o == "ro"),
        "{line}"
    );
    assert!(mountinfo_mentions("self", &mount_point).is_none());
    assert!(std::fs::read_dir(&mount_point).unwrap().next().is_none());
    // the sandbox stays readable by the agent
    let url = format!(
        "http://{}/files/browse?path={}",
        agent.address(),
        sandbox.display()
    );
    let (code, body) = request("GET", &url, None).await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("data"), "{body}");
    // deleting the sandbox from the agent's namespace never reaches the volume
    agent.stop().await;
    std::fs::remove_dir_all(&sandbox).unwrap();
    assert_eq!(
        std::fs::read_to_string(ro_dir.join("seed")).unwrap(),
        "seeded\n"
    );
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_volumes_are_mounted_read_only_in_the_tasks_namespace() {
    if !is_root() {
        eprintln!("skipped: read-only volumes are enforced only by an agent that runs as root");
        return;
    }
    read_only_volumes(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_volumes_are_enforced_under_the_supervisor() {
    if !is_root() {
        eprintln!("skipped: read-only volumes are enforced only by an agent that runs as root");
        return;
    }
    let Some(binary) = meseta_binary() else {
        // `cargo test --workspace` builds it; `cargo test -p meseta-agent` alone does not
        eprintln!("skipped: no meseta binary next to the tests (cargo build -p meseta-cli)");
        return;
    };
    read_only_volumes(Some(binary)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_volume_is_given_to_the_non_root_user_of_its_first_task() {
    use std::os::unix::fs::MetadataExt;
    if !is_root() {
        eprintln!("skipped: only a root agent runs tasks as other users");
        return;
    }
    let Ok(out) = std::process::Command::new("id")
        .args(["-u", "nobody"])
        .output()
    else {
        eprintln!("skipped: cannot run id");
        return;
    };
    let Ok(nobody) = String::from_utf8_lossy(&out.stdout).trim().parse::<u32>() else {
        eprintln!("skipped: no user 'nobody' on this machine");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut master = Master::start().await;
    let agent = start(config(&master, dir.path(), RESOURCES)).await;
    let work = agent.work_dir().to_path_buf();
    // the test's temporary directory is private to root: let nobody reach its sandbox
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let fresh = volume("fresh", "data", 10.0);
    let used = volume("used", "data", 10.0);
    let (code, text) = checkpoint(
        &agent,
        vec![reserved("cpus", 1.0), fresh.clone(), used.clone()],
    )
    .await;
    assert_eq!(code, 202, "{text}");
    let used_dir = work.join("volumes/roles/eng/used");
    std::fs::write(used_dir.join("root-data"), "x").unwrap();

    let as_nobody = |id: &str, volume: &Value| {
        let mut t = task(id, "echo hi > data/f", Some(volume.clone()));
        t["command"]["user"] = json!("nobody");
        t
    };
    run(&agent, as_nobody("fresh-writer", &fresh)).await;
    let u = master.terminal("fresh-writer").await;
    assert_eq!(u.status.state, TaskState::Finished, "{:?}", u.status);
    let fresh_dir = work.join("volumes/roles/eng/fresh");
    assert_eq!(std::fs::metadata(&fresh_dir).unwrap().uid(), nobody);
    assert_eq!(
        std::fs::metadata(fresh_dir.join("f")).unwrap().uid(),
        nobody
    );

    // a volume with data in it is not chowned: the task cannot write there
    run(&agent, as_nobody("used-writer", &used)).await;
    let u = master.terminal("used-writer").await;
    assert_eq!(u.status.state, TaskState::Failed, "{:?}", u.status);
    assert_eq!(std::fs::metadata(&used_dir).unwrap().uid(), 0);
    assert!(!used_dir.join("f").exists());
    agent.stop().await;
}
