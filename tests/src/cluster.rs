#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! An in-process cluster for end-to-end tests: a master and agents started as libraries on
//! 127.0.0.1 port 0 (real HTTP, real processes for tasks), with short intervals.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use meseta_agent::{Agent, AgentConfig};
use meseta_master::{Master, MasterConfig};
use meseta_runtime::{LoadedModule, Settings};
use serde_json::{Value, json};

use crate::daemons::http_get;
use crate::scheduler::Scheduler;

/// How long to wait for anything that should happen.
pub const T: Duration = Duration::from_secs(20);
pub const RES: &str = "cpus:4;mem:4096;disk:4096;ports:[31000-32000]";

pub struct Cluster {
    pub rt: tokio::runtime::Runtime,
    pub master: Option<Master>,
    pub agents: Vec<Option<Agent>>,
    /// `127.0.0.1:port` of the master.
    pub addr: String,
    pub dirs: Vec<tempfile::TempDir>,
}

pub fn master_config() -> MasterConfig {
    MasterConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        allocation_interval: Duration::from_millis(100),
        heartbeat_interval: Duration::from_secs(1),
        agent_ping_timeout: Duration::from_millis(200),
        max_agent_ping_timeouts: 3,
        ..MasterConfig::default()
    }
}

pub fn module(artifact: &str, parameters: &[(&str, &str)]) -> Arc<LoadedModule> {
    crate::load(artifact, parameters, Settings::default()).unwrap()
}

impl Cluster {
    pub fn start(config: MasterConfig, agents: &[&str]) -> Cluster {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let master = rt.block_on(Master::start(config)).unwrap();
        let mut cluster = Cluster {
            addr: master.address().to_string(),
            rt,
            master: Some(master),
            agents: Vec::new(),
            dirs: Vec::new(),
        };
        for resources in agents {
            cluster.add_agent(resources);
        }
        cluster
    }

    /// Starts an agent and waits until it is registered; its index.
    pub fn add_agent(&mut self, resources: &str) -> usize {
        self.add_agent_with(resources, |_| {})
    }

    /// Like [`add_agent`](Self::add_agent), with `tweak` applied to the agent's config.
    pub fn add_agent_with(
        &mut self,
        resources: &str,
        tweak: impl FnOnce(&mut AgentConfig),
    ) -> usize {
        let dir = tempfile::tempdir().unwrap();
        let mut config = AgentConfig {
            master: self.addr.clone(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            work_dir: dir.path().to_path_buf(),
            resources: Some(resources.to_string()),
            executor_shutdown_grace_period: Duration::from_secs(2),
            status_update_retry_min: Duration::from_millis(200),
            status_update_retry_max: Duration::from_secs(2),
            registration_backoff: Duration::from_millis(200),
            ..AgentConfig::default()
        };
        tweak(&mut config);
        let agent = self.rt.block_on(Agent::start(config)).unwrap();
        assert!(
            self.rt.block_on(agent.wait_registered(T)),
            "agent did not register"
        );
        self.dirs.push(dir);
        self.agents.push(Some(agent));
        self.agents.len() - 1
    }

    pub fn agent_id(&self, i: usize) -> String {
        self.agents[i].as_ref().unwrap().agent_id().unwrap()
    }

    /// Stops an agent abruptly: it stops serving (so it stops answering pings) and its
    /// processes are SIGKILLed; nothing more reaches the master.
    pub fn kill_agent(&mut self, i: usize) {
        let _guard = self.rt.enter();
        drop(self.agents[i].take());
    }

    pub fn subscribe(&self, info: Value) -> Scheduler {
        Scheduler::subscribe(&self.addr, info).unwrap()
    }

    /// `GET path` as JSON.
    pub fn get(&self, path: &str) -> Value {
        let (status, body) = http_get(&format!("http://{}", self.addr), path).unwrap();
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    pub fn state(&self) -> Value {
        self.get("/master/state")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let agents: Vec<Agent> = self.agents.drain(..).flatten().collect();
        let master = self.master.take();
        self.rt.block_on(async move {
            for a in agents {
                a.stop().await;
            }
            if let Some(m) = master {
                m.stop().await;
            }
        });
    }
}

pub fn framework(name: &str) -> Value {
    json!({"name": name})
}

/// The framework `id` in `/master/state`'s `frameworks` (or `completed_frameworks`).
pub fn find_framework<'a>(state: &'a Value, list: &str, id: &str) -> Option<&'a Value> {
    state[list].as_array()?.iter().find(|f| f["id"] == id)
}

pub fn task_in<'a>(framework: &'a Value, list: &str, task_id: &str) -> Option<&'a Value> {
    framework[list]
        .as_array()?
        .iter()
        .find(|t| t["id"] == task_id)
}

/// Polls `check` until it holds; panics with `what` after `T`.
pub fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + T;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The files of a sandbox whose names start with `stream` (`stdout`, `stdout.1`, ...), with
/// their sizes, sorted by name.
pub fn log_files(sandbox: &std::path::Path, stream: &str) -> Vec<(String, u64)> {
    let mut files: Vec<(String, u64)> = std::fs::read_dir(sandbox)
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            let size = e.metadata().unwrap().len();
            name.starts_with(stream).then_some((name, size))
        })
        .collect();
    files.sort();
    files
}

/// Asserts that `stream` in `sandbox` was rotated with files of at most `max_size` bytes and
/// exactly `keep` rotated files (`<stream>.1` to `<stream>.<keep>`), none beyond, and that the
/// current file ends with `last`.
pub fn assert_rotated(
    sandbox: &std::path::Path,
    stream: &str,
    max_size: u64,
    keep: u32,
    last: &str,
) {
    let files = log_files(sandbox, stream);
    let mut expected: Vec<String> = (1..=keep).map(|n| format!("{stream}.{n}")).collect();
    expected.push(stream.to_string());
    expected.sort();
    let names: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(names, expected, "{files:?}");
    assert!(
        files.iter().all(|(_, size)| *size <= max_size),
        "a file above {max_size} bytes: {files:?}"
    );
    for (name, size) in &files {
        if name != stream {
            assert_eq!(*size, max_size, "{name} was rotated before it was full");
        }
    }
    let current = std::fs::read(sandbox.join(stream)).unwrap();
    assert!(
        current.ends_with(last.as_bytes()),
        "{stream} does not end with {last:?}: ...{:?}",
        String::from_utf8_lossy(&current[current.len().saturating_sub(80)..])
    );
}
