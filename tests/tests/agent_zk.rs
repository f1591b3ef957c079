#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `meseta agent --master=zk://...` against a real ZooKeeper and real `meseta master` and
//! `meseta agent` processes: the agent follows the leading master of the election under the
//! URL's path, as Mesos' agents do.
//!
//! The masters here run without ZooKeeper; the test writes the election itself, as a Meseta
//! master with `--zk` (and Mesos' masters) do: an ephemeral sequential `<path>/json.info_<seq>`
//! znode holding the leader's `MasterInfo` as JSON, the lowest sequence leading.

use std::path::Path;
use std::time::{Duration, Instant};

use meseta_tests::daemons::{AgentProcess, Daemon, free_port, http_get};
use meseta_tests::scheduler::{Scheduler, offer_ids, task};
use meseta_tests::zookeeper::{ZooKeeper, unique_path};
use serde_json::{Value, json};
use zookeeper_client::{Acls, Client, CreateMode};

const T: Duration = Duration::from_secs(30);
const RESOURCES: &str = "cpus:2;mem:1024;disk:1024;ports:[31000-31100]";
/// 127.0.0.1 as Mesos' `MasterInfo.ip` (network-order bytes read as a little-endian u32).
const LOCALHOST_U32: u32 = 16_777_343;

/// A `meseta master` process, not connected to ZooKeeper.
struct Master {
    daemon: Daemon,
    /// `127.0.0.1:<port>`.
    address: String,
    port: u16,
    /// Its `/master/state` `id`.
    id: String,
}

impl Master {
    fn start(work_dir: &Path, extra: &[&str]) -> Master {
        let port = free_port().unwrap();
        let port_text = port.to_string();
        let work_dir = work_dir.to_string_lossy();
        let mut args = vec![
            "master",
            "--ip",
            "127.0.0.1",
            "--port",
            &port_text,
            "--work_dir",
            &work_dir,
            "--allocation_interval",
            "100ms",
        ];
        args.extend_from_slice(extra);
        let daemon = Daemon::spawn(&args, "Master: ").unwrap();
        let address = format!("127.0.0.1:{port}");
        let id = get_json(&address, "/master/state")["id"]
            .as_str()
            .unwrap()
            .to_string();
        Master {
            daemon,
            address,
            port,
            id,
        }
    }

    /// The agents registered with this master (`/master/slaves`, active ones).
    fn agent_ids(&self) -> Vec<String> {
        get_json(&self.address, "/master/slaves")["slaves"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter(|s| s["active"].as_bool().unwrap_or(true))
            .filter_map(|s| s["id"].as_str().map(str::to_string))
            .collect()
    }
}

/// The election under one path, written by hand over its own ZooKeeper session (its
/// ephemeral znodes live as long as this does).
struct Election {
    client: Client,
    path: String,
    runtime: tokio::runtime::Runtime,
}

impl Election {
    fn new(zk: &ZooKeeper, path: &str) -> Election {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let client = runtime
            .block_on(Client::connect(&zk.connect_string()))
            .unwrap();
        Election {
            client,
            path: path.to_string(),
            runtime,
        }
    }

    /// Joins the election for `master` (with `hostname` in its MasterInfo, or only Mesos'
    /// u32 `ip`): the znode's path.
    fn join(&self, master: &Master, hostname: Option<&str>) -> String {
        let mut info = json!({
            "id": master.id,
            "ip": LOCALHOST_U32,
            "port": master.port,
            "pid": format!("master@{}", master.address),
            "version": "1.11.0",
        });
        if let Some(hostname) = hostname {
            info["hostname"] = json!(hostname);
        }
        let data = info.to_string();
        self.runtime.block_on(async {
            let persistent = CreateMode::Persistent.with_acls(Acls::anyone_all());
            self.client.mkdir(&self.path, &persistent).await.unwrap();
            let prefix = format!("{}/json.info_", self.path);
            let ephemeral = CreateMode::EphemeralSequential.with_acls(Acls::anyone_all());
            let (_, sequence) = self
                .client
                .create(&prefix, data.as_bytes(), &ephemeral)
                .await
                .unwrap();
            format!("{prefix}{sequence}")
        })
    }

    /// Leaves the election (as a master that dies or withdraws).
    fn leave(&self, znode: &str) {
        self.runtime
            .block_on(self.client.delete(znode, None))
            .unwrap();
    }
}

fn get_json(address: &str, path: &str) -> Value {
    let (status, body) = http_get(&format!("http://{address}"), path).unwrap();
    assert_eq!(status, 200, "GET {address}{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn agent_state(agent: &AgentProcess) -> Value {
    let (status, body) = http_get(&agent.url, "/slave(1)/state").unwrap();
    assert_eq!(status, 200, "GET /slave(1)/state: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Polls `f` (every 50 ms) until it returns `Some`, for up to `timeout`.
fn eventually<R>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<R>) -> R {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(r) = f() {
            return r;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The agent's registered id once `master` lists it and the agent says it is registered with
/// that master.
fn wait_registered_with(agent: &AgentProcess, master: &Master) -> String {
    eventually(
        T,
        &format!("the agent to register with {}", master.address),
        || {
            let state = agent_state(agent);
            let id = state["id"].as_str().unwrap_or_default().to_string();
            let ours = state["meseta_master"]["registered_with"] == json!(master.id)
                && state["meseta_master"]["address"] == json!(master.address);
            (ours && !id.is_empty() && master.agent_ids().contains(&id)).then_some(id)
        },
    )
}

fn task_state(tasks: &Value, task_id: &str) -> Option<String> {
    tasks["tasks"]
        .as_array()?
        .iter()
        .find(|t| t["id"] == task_id)
        .and_then(|t| t["state"].as_str())
        .map(str::to_string)
}

/// The agent registers with the leader the election names; when another master leads (the
/// first one's znode deleted, one for the second created) it re-registers with the new one
/// under its id, its running task still RUNNING there, and the task's later updates go there.
/// The first master keeps running (as a deposed leader that has not noticed yet would) and
/// pinging the agent: the agent stays with the leader and refuses the other's messages.
#[test]
fn the_agent_follows_the_leading_master_in_zookeeper() {
    let zk = ZooKeeper::shared().unwrap();
    let path = unique_path("agent-zk-follow");
    let dir = tempfile::tempdir().unwrap();
    let election = Election::new(zk, &path);

    // It pings every 100 ms: pings the agent must not follow once another master leads.
    let m1 = Master::start(&dir.path().join("m1"), &["--agent_ping_timeout", "100ms"]);
    let first = election.join(&m1, Some("127.0.0.1"));
    let agent =
        AgentProcess::start(&zk.url(&path), 0, &dir.path().join("agent"), RESOURCES, &[]).unwrap();
    let agent_id = wait_registered_with(&agent, &m1);
    let state = agent_state(&agent);
    assert_eq!(state["master_hostname"], "127.0.0.1", "{state}");
    assert_eq!(state["meseta_master"]["leader_id"], json!(m1.id), "{state}");
    assert_eq!(state["flags"]["master"], json!(zk.url(&path)), "{state}");

    // A framework runs a task through the first master.
    let info = json!({"name": "zk-follower", "user": "root", "failover_timeout": 3600.0});
    let mut s = Scheduler::subscribe(&m1.address, info.clone()).unwrap();
    let framework_id = s.framework_id().to_string();
    let offers = s.wait_offers(T).unwrap();
    assert_eq!(offers[0]["agent_id"]["value"], json!(agent_id));
    let (code, body) = s
        .accept(
            &offer_ids(&offers[..1]),
            json!([task("long", &agent_id, "sleep 600", 0.1, 32.0)]),
            0.0,
        )
        .unwrap();
    assert_eq!(code, 202, "ACCEPT: {body}");
    s.wait_state("long", "TASK_RUNNING", T).unwrap();
    drop(s);

    // The second master takes over.
    let m2 = Master::start(&dir.path().join("m2"), &[]);
    assert!(m2.agent_ids().is_empty());
    let switch = Instant::now();
    election.leave(&first);
    election.join(&m2, None);
    let same_id = wait_registered_with(&agent, &m2);
    let took = switch.elapsed();
    assert_eq!(same_id, agent_id, "the agent keeps its id");
    assert_eq!(m2.agent_ids(), vec![agent_id.clone()]);
    eprintln!("the agent re-registered with the new leader {took:?} after the switch");

    let tasks = get_json(&m2.address, "/master/tasks");
    assert_eq!(
        task_state(&tasks, "long").as_deref(),
        Some("TASK_RUNNING"),
        "the new leader has the agent's task: {tasks}"
    );
    let state = agent_state(&agent);
    assert_eq!(
        state["meseta_master"]["address"],
        json!(m2.address),
        "{state}"
    );
    assert_eq!(state["meseta_master"]["leader_id"], json!(m2.id));
    let running = state["frameworks"][0]["executors"][0]["tasks"][0].clone();
    assert_eq!(running["id"], "long", "{state}");
    assert_eq!(running["state"], "TASK_RUNNING", "{state}");

    // The framework fails over to the new leader: the task is RUNNING there, and its next
    // update (the kill) comes from the agent through the new leader.
    let mut info = info;
    info["id"] = json!({"value": framework_id});
    let mut s = Scheduler::subscribe(&m2.address, info).unwrap();
    assert_eq!(s.framework_id(), framework_id);
    s.reconcile(&["long"]).unwrap();
    let status = s.wait_update("long", T).unwrap();
    assert_eq!(status["state"], "TASK_RUNNING", "{status}");
    s.kill("long").unwrap();
    s.wait_state("long", "TASK_KILLED", T).unwrap();

    // Still with the second master, registered twice in all (once with each), though the
    // first one pings it all along.
    let state = agent_state(&agent);
    assert_eq!(
        state["meseta_master"]["registered_with"],
        json!(m2.id),
        "{state}\n{}",
        agent.output()
    );
    let metrics = get_json(agent.url.trim_start_matches("http://"), "/metrics/snapshot");
    assert_eq!(
        metrics["meseta/agent/registrations"],
        json!(2.0),
        "{}",
        agent.output()
    );
    assert!(
        agent.output().contains("the leading master is lost"),
        "{}",
        agent.output()
    );

    // Only the leader is obeyed: the first master, deposed without noticing, still pings, and
    // the agent refuses what does not come from the master it follows, as Mesos' agent ignores
    // a master that is not its leader; that master soon counts the agent as gone.
    let ping = |from: &str| {
        let body = json!({"master_id": from, "agent_id": {"value": agent_id}}).to_string();
        post_from(&agent.url, from, "/internal/master/ping", &body)
    };
    let (code, answer) = ping(&m1.id);
    assert_eq!(code, 409, "a ping from the deposed master: {answer}");
    assert!(answer.contains(&m2.id), "{answer}");
    assert_eq!(ping(&m2.id).0, 200, "a ping from the leader");
    eventually(T, "the deposed master to lose the agent", || {
        (!m1.agent_ids().contains(&agent_id)).then_some(())
    });
    assert!(
        agent
            .output()
            .contains("ignoring a message from a master that is not the leading master"),
        "{}",
        agent.output()
    );
    drop(m1.daemon);
}

/// `POST path` on `base` as master `from` would send it: the status and the body.
fn post_from(base: &str, from: &str, path: &str, body: &str) -> (u16, String) {
    let headers = [("meseta-master-id", from)];
    let (status, _, body) =
        meseta_tests::daemons::http_request(base, "POST", path, &headers, body).unwrap();
    (status, body)
}

/// Mesos' usual failover: a standby master is already in the election (a higher sequence), so
/// the agent stays with the leader; when the leader's znode goes, the standby leads at once
/// (no moment without a leader) and the agent re-registers with it under its id.
#[test]
fn the_agent_moves_to_the_standby_when_the_leader_leaves() {
    let zk = ZooKeeper::shared().unwrap();
    let path = unique_path("agent-zk-standby");
    let dir = tempfile::tempdir().unwrap();
    let election = Election::new(zk, &path);
    let m1 = Master::start(&dir.path().join("m1"), &[]);
    let m2 = Master::start(&dir.path().join("m2"), &[]);
    let leading = election.join(&m1, Some("127.0.0.1"));
    election.join(&m2, Some("127.0.0.1"));
    let agent =
        AgentProcess::start(&zk.url(&path), 0, &dir.path().join("agent"), RESOURCES, &[]).unwrap();
    let agent_id = wait_registered_with(&agent, &m1);
    assert!(
        m2.agent_ids().is_empty(),
        "the standby is not the agent's master"
    );
    let before = agent.output().len();

    election.leave(&leading);
    assert_eq!(wait_registered_with(&agent, &m2), agent_id);
    let output = agent.output();
    let since = &output[before..];
    assert!(since.contains("a new master leads"), "{output}");
    assert!(
        !since.contains("no leading master is known"),
        "never without a leader:\n{output}"
    );
}

/// With no election at all (not even its path), the agent registers nowhere and waits (one
/// log line, no spinning); as soon as a leader is elected it registers with it. The URL comes
/// through `file://`, as Mesos allows.
#[test]
fn the_agent_waits_for_a_leader_and_registers_once_one_is_elected() {
    let zk = ZooKeeper::shared().unwrap();
    let path = unique_path("agent-zk-wait");
    let dir = tempfile::tempdir().unwrap();
    let url_file = dir.path().join("master.zk");
    std::fs::write(&url_file, format!("{}\n", zk.url(&path))).unwrap();
    let master_flag = format!("file://{}", url_file.display());

    let m = Master::start(&dir.path().join("m"), &[]);
    let agent =
        AgentProcess::start(&master_flag, 0, &dir.path().join("agent"), RESOURCES, &[]).unwrap();
    const WAITING: &str = "no leading master is known";
    eventually(T, "the agent to say it waits for a leader", || {
        agent.output().contains(WAITING).then_some(())
    });
    // A short look: nothing registers, and the agent waits quietly.
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        assert!(m.agent_ids().is_empty(), "{}", agent.output());
        let state = agent_state(&agent);
        assert_eq!(state["id"], "", "{state}");
        assert_eq!(state["meseta_master"]["address"], Value::Null, "{state}");
        assert!(state.get("master_hostname").is_none(), "{state}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = agent.output();
    assert_eq!(
        output.matches(WAITING).count(),
        1,
        "one wait, no retries:\n{output}"
    );
    assert!(
        !output.contains("cannot reach the master"),
        "no attempt to reach a master:\n{output}"
    );

    let election = Election::new(zk, &path);
    let elected = Instant::now();
    election.join(&m, Some("127.0.0.1"));
    let agent_id = wait_registered_with(&agent, &m);
    let took = elected.elapsed();
    eprintln!("the agent registered {took:?} after the election");
    assert!(
        took < Duration::from_secs(5),
        "registered at once, not after a backoff: {took:?}"
    );
    assert_eq!(m.agent_ids(), vec![agent_id]);
}

/// A `--master` that is neither `host:port` nor a valid ZooKeeper URL stops the agent at once
/// with an error naming the flag.
#[test]
fn a_bad_zookeeper_url_stops_the_agent_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    for bad in [
        "zk://127.0.0.1:2181",
        "zk:///mesos",
        "zk://127.0.0.1:x/mesos",
        "file:///no/such/meseta/zk-url",
    ] {
        let work_dir = dir.path().join("agent");
        let result = AgentProcess::start(bad, 0, &work_dir, RESOURCES, &[]);
        let Err(failure) = result else {
            panic!("the agent started with --master {bad}");
        };
        let text = failure.to_string();
        assert!(
            text.contains("exited") && text.contains("--master"),
            "--master {bad}: {text}"
        );
    }
}
