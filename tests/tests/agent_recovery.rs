//! Agent recovery on real processes: a `meseta agent` process is SIGKILLed and started again
//! on the same `--work_dir` (and port), under an in-process master that keeps the agent
//! registered meanwhile (a long ping timeout).
//!
//! Each task writes its pid to `<dir>/<task>.pid` and runs until `<dir>/<task>.go` exists.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use meseta_master::MasterConfig;
use meseta_tests::cluster::{Cluster, T, assert_rotated, master_config};
use meseta_tests::daemons::{AgentProcess, free_port};
use meseta_tests::scheduler::{Scheduler, is_update_of, offer_ids, task};
use serde_json::{Value, json};

const RES: &str = "cpus:4;mem:4096;disk:4096;ports:[31000-32000]";

fn master() -> Cluster {
    Cluster::start(
        MasterConfig {
            agent_ping_timeout: Duration::from_secs(1),
            max_agent_ping_timeouts: 30,
            ..master_config()
        },
        &[],
    )
}

/// The ids of the agents the master knows.
fn agent_ids(cluster: &Cluster) -> Vec<String> {
    cluster.state()["slaves"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .unwrap_or("X");
            state != "Z" && state != "X"
        }
        Err(_) => false,
    }
}

/// The tasks' files; kills whatever task is left when dropped.
struct Tasks {
    dir: tempfile::TempDir,
}

impl Tasks {
    fn new() -> Tasks {
        Tasks {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `sh -c` that records its pid and waits for its go file.
    fn command(&self, tid: &str) -> String {
        let pid = self.path(&format!("{tid}.pid"));
        let go = self.path(&format!("{tid}.go"));
        format!(
            "echo $$ > {pid}.tmp && mv {pid}.tmp {pid}; while [ ! -f {go} ]; do sleep 0.05; done; echo done",
            pid = pid.display(),
            go = go.display()
        )
    }

    fn pid(&self, tid: &str) -> u32 {
        let path = self.path(&format!("{tid}.pid"));
        wait_until(&format!("{tid}'s pid file"), T, || path.exists());
        std::fs::read_to_string(&path)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    fn go(&self, tid: &str) {
        std::fs::write(self.path(&format!("{tid}.go")), b"").unwrap();
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.dir.path()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(tid) = name.strip_suffix(".pid")
                && let Ok(text) = std::fs::read_to_string(entry.path())
                && let Ok(pid) = text.trim().parse::<u32>()
                && alive(pid)
            {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", "--", &format!("-{pid}")])
                    .status();
                let _ = tid;
            }
        }
    }
}

fn framework(name: &str, checkpoint: bool) -> Value {
    json!({"name": name, "user": "", "checkpoint": checkpoint})
}

/// Launches `tids` (each [`Tasks::command`]) on the first offer; the agent id.
fn launch(s: &mut Scheduler, tasks: &Tasks, tids: &[&str]) -> String {
    let offers = s.wait_offers(T).unwrap();
    let agent_id = offers[0]["agent_id"]["value"].as_str().unwrap().to_string();
    let infos: Vec<Value> = tids
        .iter()
        .map(|t| task(t, &agent_id, &tasks.command(t), 0.1, 16.0))
        .collect();
    let (code, body) = s
        .accept(&offer_ids(&offers[..1]), json!(infos), 0.0)
        .unwrap();
    assert_eq!(code, 202, "{body}");
    for t in tids {
        s.wait_state(t, "TASK_RUNNING", T).unwrap();
    }
    agent_id
}

fn start_agent(cluster: &Cluster, port: u16, work_dir: &Path) -> AgentProcess {
    AgentProcess::start(&cluster.addr, port, work_dir, RES, &[]).unwrap()
}

/// Asserts that no further update of `tid` arrives for a while.
fn no_more_updates(s: &mut Scheduler, tid: &str) {
    if let Some(ev) = s.try_wait_for(|e| is_update_of(e, tid), Duration::from_secs(3)) {
        panic!("unexpected second update of {tid}: {ev}");
    }
}

#[test]
fn checkpointed_command_task_survives_agent_sigkill() {
    let cluster = master();
    let work = tempfile::tempdir().unwrap();
    let tasks = Tasks::new();
    let port = free_port().unwrap();
    let mut agent = start_agent(&cluster, port, work.path());
    let mut s = Scheduler::subscribe(&cluster.addr, framework("ckpt", true)).unwrap();
    s.set_auto_ack(true);
    let agent_id = launch(&mut s, &tasks, &["t1", "t2"]);
    let (p1, p2) = (tasks.pid("t1"), tasks.pid("t2"));

    agent.kill9();
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(p1) && alive(p2), "the tasks outlive the agent");

    let agent = start_agent(&cluster, port, work.path());
    wait_until("the agent to re-register", T, || {
        agent.output().contains("registered with the master")
    });
    assert_eq!(
        agent_ids(&cluster),
        vec![agent_id.clone()],
        "same agent id\n{}",
        agent.output()
    );
    assert!(alive(p1) && alive(p2), "the tasks still run");

    // a kill reaches the recovered task's process group
    s.kill("t2").unwrap();
    let status = s.wait_state("t2", "TASK_KILLED", T).unwrap();
    assert_eq!(status["agent_id"]["value"], agent_id.as_str());
    wait_until("t2 to be gone", T, || !alive(p2));

    tasks.go("t1");
    let status = s
        .wait_state("t1", "TASK_FINISHED", T)
        .unwrap_or_else(|e| panic!("{e:?}\n{}", agent.output()));
    assert_eq!(status["agent_id"]["value"], agent_id.as_str());
    no_more_updates(&mut s, "t1");
}

#[test]
fn task_ending_while_the_agent_is_down_is_reported_after_restart() {
    let cluster = master();
    let work = tempfile::tempdir().unwrap();
    let tasks = Tasks::new();
    let port = free_port().unwrap();
    let mut agent = start_agent(&cluster, port, work.path());
    let mut s = Scheduler::subscribe(&cluster.addr, framework("ckpt-down", true)).unwrap();
    s.set_auto_ack(true);
    let agent_id = launch(&mut s, &tasks, &["t1"]);
    let pid = tasks.pid("t1");

    agent.kill9();
    tasks.go("t1");
    wait_until("t1 to end while the agent is down", T, || !alive(pid));
    assert!(
        s.try_wait_for(|e| is_update_of(e, "t1"), Duration::from_millis(500))
            .is_none(),
        "nobody reports it while the agent is down"
    );

    let agent = start_agent(&cluster, port, work.path());
    let status = s
        .wait_state("t1", "TASK_FINISHED", T)
        .unwrap_or_else(|e| panic!("{e:?}\n{}", agent.output()));
    assert_eq!(status["agent_id"]["value"], agent_id.as_str());
    assert_eq!(agent_ids(&cluster), vec![agent_id]);
    no_more_updates(&mut s, "t1");
}

/// Launches a task group of `tids` (each [`Tasks::command`]) under the default executor `eid`
/// on the first offer; the agent id.
fn launch_group(s: &mut Scheduler, tasks: &Tasks, eid: &str, tids: &[&str]) -> String {
    let offers = s.wait_offers(T).unwrap();
    let agent_id = offers[0]["agent_id"]["value"].as_str().unwrap().to_string();
    let infos: Vec<Value> = tids
        .iter()
        .map(|t| task(t, &agent_id, &tasks.command(t), 0.1, 16.0))
        .collect();
    let executor = json!({
        "type": "DEFAULT",
        "executor_id": {"value": eid},
        "framework_id": {"value": s.framework_id()},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 32.0}},
        ],
    });
    let operation = json!({"type": "LAUNCH_GROUP", "launch_group": {
        "executor": executor,
        "task_group": {"tasks": infos},
    }});
    let (code, body) = s
        .accept_operations(&offer_ids(&offers[..1]), json!([operation]), 0.0)
        .unwrap();
    assert_eq!(code, 202, "{body}");
    for t in tids {
        s.wait_state(t, "TASK_RUNNING", T).unwrap();
    }
    agent_id
}

/// The tasks of a task group of a checkpointing framework outlive the agent's death as command
/// tasks do: each runs on, one that ends while the agent is down is reported after the
/// restart, the other when it ends, each `TASK_FINISHED` exactly once.
#[test]
fn checkpointed_task_group_survives_agent_sigkill() {
    let cluster = master();
    let work = tempfile::tempdir().unwrap();
    let tasks = Tasks::new();
    let port = free_port().unwrap();
    let mut agent = start_agent(&cluster, port, work.path());
    let mut s = Scheduler::subscribe(&cluster.addr, framework("ckpt-group", true)).unwrap();
    s.set_auto_ack(true);
    let agent_id = launch_group(&mut s, &tasks, "group-1", &["g1", "g2"]);
    let (p1, p2) = (tasks.pid("g1"), tasks.pid("g2"));

    agent.kill9();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        alive(p1) && alive(p2),
        "the group's tasks outlive the agent"
    );
    tasks.go("g2");
    wait_until("g2 to end while the agent is down", T, || !alive(p2));

    let agent = start_agent(&cluster, port, work.path());
    wait_until("the agent to re-register", T, || {
        agent.output().contains("registered with the master")
    });
    assert_eq!(
        agent_ids(&cluster),
        vec![agent_id.clone()],
        "same agent id\n{}",
        agent.output()
    );
    let status = s
        .wait_state("g2", "TASK_FINISHED", T)
        .unwrap_or_else(|e| panic!("{e:?}\n{}", agent.output()));
    assert_eq!(status["agent_id"]["value"], agent_id.as_str());
    assert_eq!(status["executor_id"]["value"], "group-1");
    assert!(alive(p1), "the other task still runs\n{}", agent.output());

    tasks.go("g1");
    let status = s
        .wait_state("g1", "TASK_FINISHED", T)
        .unwrap_or_else(|e| panic!("{e:?}\n{}", agent.output()));
    assert_eq!(status["agent_id"]["value"], agent_id.as_str());
    assert_eq!(status["executor_id"]["value"], "group-1");
    no_more_updates(&mut s, "g1");
    no_more_updates(&mut s, "g2");
}

/// A kill reaches a recovered group's task, and, as before the restart, a killed task takes
/// the rest of its group down.
#[test]
fn recovered_task_group_is_killed_together() {
    let cluster = master();
    let work = tempfile::tempdir().unwrap();
    let tasks = Tasks::new();
    let port = free_port().unwrap();
    let mut agent = start_agent(&cluster, port, work.path());
    let mut s = Scheduler::subscribe(&cluster.addr, framework("ckpt-group-kill", true)).unwrap();
    s.set_auto_ack(true);
    launch_group(&mut s, &tasks, "group-k", &["k1", "k2"]);
    let (p1, p2) = (tasks.pid("k1"), tasks.pid("k2"));

    agent.kill9();
    let agent = start_agent(&cluster, port, work.path());
    wait_until("the agent to re-register", T, || {
        agent.output().contains("registered with the master")
    });
    assert!(alive(p1) && alive(p2), "{}", agent.output());
    s.kill("k1").unwrap();
    for t in ["k1", "k2"] {
        s.wait_state(t, "TASK_KILLED", T)
            .unwrap_or_else(|e| panic!("{e:?}\n{}", agent.output()));
    }
    wait_until("both tasks to be gone", T, || !alive(p1) && !alive(p2));
    no_more_updates(&mut s, "k1");
    no_more_updates(&mut s, "k2");
}

#[test]
fn non_checkpointing_tasks_die_with_the_agent() {
    let cluster = master();
    let work = tempfile::tempdir().unwrap();
    let tasks = Tasks::new();
    let port = free_port().unwrap();
    let mut agent = start_agent(&cluster, port, work.path());
    let mut s = Scheduler::subscribe(&cluster.addr, framework("no-ckpt", false)).unwrap();
    s.set_auto_ack(true);
    launch(&mut s, &tasks, &["t1"]);
    let pid = tasks.pid("t1");

    agent.kill9();
    wait_until("the task to be killed with its agent", T, || !alive(pid));
    // the restarted agent knows nothing of it: the master, reconciling the agent's report
    // with what it knows (Mesos' reconcileKnownSlave), tells the framework it is lost
    let agent = start_agent(&cluster, port, work.path());
    let status = s
        .wait_state("t1", "TASK_LOST", T)
        .unwrap_or_else(|e| panic!("{e:?}\n{}", agent.output()));
    assert_eq!(status["message"], "Task is unknown to the agent");
    assert_eq!(status["reason"], "REASON_RECONCILIATION");
    // and a KILL of it now finds nothing to kill
    s.kill("t1").unwrap();
    let status = s.wait_update("t1", T).unwrap();
    assert_eq!(status["state"], "TASK_LOST", "{status}");
}

#[test]
fn incompatible_agent_info_on_the_same_boot_exits_with_advice() {
    let cluster = master();
    let work = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let mut agent = start_agent(&cluster, port, work.path());
    wait_until("the agent to register", T, || {
        agent_ids(&cluster).len() == 1
    });
    wait_until("the agent to checkpoint its id", T, || {
        work.path().join("meta/slaves/latest").exists()
    });
    agent.kill9();

    let mut agent = AgentProcess::start(
        &cluster.addr,
        port,
        work.path(),
        "cpus:2;mem:4096;disk:4096;ports:[31000-32000]",
        &[],
    )
    .err()
    .map(|e| e.0)
    .unwrap_or_default();
    assert!(
        agent.contains("incompatible agent info") && agent.contains("rm -f"),
        "{agent}"
    );
    agent.clear();

    // following the advice, it starts as a new agent
    std::fs::remove_file(work.path().join("meta/slaves/latest")).unwrap();
    let _agent = AgentProcess::start(
        &cluster.addr,
        port,
        work.path(),
        "cpus:2;mem:4096;disk:4096;ports:[31000-32000]",
        &[],
    )
    .unwrap();
    wait_until("a second agent id", T, || agent_ids(&cluster).len() == 2);
}

/// A task under pymesos' executor driver (`tests/compat/pymesos_executor_main.py`), which runs
/// its task until `<task>.go` exists; the executor's pid is in `<task>.pid`.
fn executor_task(tasks: &Tasks, tid: &str, agent_id: &str) -> Value {
    let python = meseta_tests::prereqs::pymesos_python().unwrap();
    let main =
        meseta_tests::daemons::workspace_root().join("tests/compat/pymesos_executor_main.py");
    let pid = tasks.path(&format!("{tid}.pid"));
    let resources = json!([
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": 32.0}},
    ]);
    json!({
        "name": tid,
        "task_id": {"value": tid},
        "agent_id": {"value": agent_id},
        "resources": resources,
        "executor": {
            "executor_id": {"value": format!("exec-{tid}")},
            "name": "pymesos recovery executor",
            "resources": resources,
            "command": {
                "shell": true,
                "value": format!("echo $$ > {pid}; exec {} {}", python.display(), main.display(), pid = pid.display()),
                "environment": {"variables": [
                    {"name": "MESETA_TEST_GO_FILE", "value": tasks.path(&format!("{tid}.go")).display().to_string()},
                    {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
                ]},
            },
        },
    })
}

fn launch_on_executor(s: &mut Scheduler, tasks: &Tasks, tid: &str) -> String {
    let offers = s.wait_offers(T).unwrap();
    let agent_id = offers[0]["agent_id"]["value"].as_str().unwrap().to_string();
    let info = executor_task(tasks, tid, &agent_id);
    let (code, body) = s
        .accept(&offer_ids(&offers[..1]), json!([info]), 0.0)
        .unwrap();
    assert_eq!(code, 202, "{body}");
    s.wait_state(tid, "TASK_RUNNING", T).unwrap();
    agent_id
}

#[test]
fn custom_executor_resubscribes_after_agent_restart() {
    let cluster = master();
    let work = tempfile::tempdir().unwrap();
    let tasks = Tasks::new();
    let port = free_port().unwrap();
    let mut agent = start_agent(&cluster, port, work.path());
    let mut s = Scheduler::subscribe(&cluster.addr, framework("ckpt-executor", true)).unwrap();
    s.set_auto_ack(true);
    let agent_id = launch_on_executor(&mut s, &tasks, "e1");
    let pid = tasks.pid("e1");

    agent.kill9();
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(pid), "the executor outlives the agent");

    // pymesos' driver reconnects with a backoff that grows while the agent is down: give it
    // more than Mesos' default 2 s on a loaded machine
    let agent = AgentProcess::start(
        &cluster.addr,
        port,
        work.path(),
        RES,
        &["--executor_reregistration_timeout=10secs"],
    )
    .unwrap();
    let deadline = Instant::now() + T;
    while !agent.output().contains("executor subscribed") {
        assert!(
            Instant::now() < deadline,
            "the executor did not subscribe again\n{}",
            agent.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    tasks.go("e1");
    let status = s
        .wait_state("e1", "TASK_FINISHED", T)
        .unwrap_or_else(|e| panic!("{e:?}\n{}", agent.output()));
    assert_eq!(status["agent_id"]["value"], agent_id.as_str());
    assert_eq!(agent_ids(&cluster), vec![agent_id]);
    no_more_updates(&mut s, "e1");
}

/// A custom executor that ended (its task finished, the framework told with a FAILURE event)
/// is not reported again by a restarted agent: the agent marks an executor's end as handled
/// in its checkpoints, as Mesos' executor sentinel does.
#[test]
fn an_ended_custom_executor_is_not_reported_again_after_agent_restart() {
    let cluster = master();
    let work = tempfile::tempdir().unwrap();
    let tasks = Tasks::new();
    let port = free_port().unwrap();
    let mut agent = start_agent(&cluster, port, work.path());
    let mut s = Scheduler::subscribe(&cluster.addr, framework("ended-executor", true)).unwrap();
    s.set_auto_ack(true);
    launch_on_executor(&mut s, &tasks, "e3");
    let pid = tasks.pid("e3");
    tasks.go("e3");
    s.wait_state("e3", "TASK_FINISHED", T).unwrap();
    let is_failure =
        |e: &Value| e["type"] == "FAILURE" && e["failure"]["executor_id"]["value"] == "exec-e3";
    s.wait_for(is_failure, T)
        .unwrap_or_else(|e| panic!("{e:?}\n{}", agent.output()));
    wait_until("the executor to exit", T, || !alive(pid));

    agent.kill9();
    let agent = start_agent(&cluster, port, work.path());
    wait_until("the restarted agent to re-register", T, || {
        agent.output().contains("registered with the master")
    });
    if let Some(e) = s.try_wait_for(is_failure, Duration::from_secs(3)) {
        panic!(
            "the ended executor was reported again: {e}\n{}",
            agent.output()
        );
    }
}

#[test]
fn custom_executor_that_does_not_resubscribe_is_killed_and_its_task_lost() {
    let cluster = master();
    let work = tempfile::tempdir().unwrap();
    let tasks = Tasks::new();
    let port = free_port().unwrap();
    let mut agent = start_agent(&cluster, port, work.path());
    let mut s = Scheduler::subscribe(&cluster.addr, framework("ckpt-stuck", true)).unwrap();
    s.set_auto_ack(true);
    launch_on_executor(&mut s, &tasks, "e1");
    let pid = tasks.pid("e1");

    // a stopped executor cannot subscribe again
    let _ = std::process::Command::new("kill")
        .args(["-STOP", &pid.to_string()])
        .status();
    agent.kill9();
    let agent = start_agent(&cluster, port, work.path());
    let status = s
        .wait_state("e1", "TASK_LOST", T)
        .unwrap_or_else(|e| panic!("{e:?}\n{}", agent.output()));
    assert_eq!(status["reason"], "REASON_EXECUTOR_REREGISTRATION_TIMEOUT");
    wait_until("the executor to be killed", T, || !alive(pid));
}

#[test]
fn recovered_task_keeps_its_cgroup() {
    if !meseta_tests::prereqs::cgroups_usable("recovered_task_keeps_its_cgroup") {
        return;
    }
    let cluster = master();
    let work = tempfile::tempdir().unwrap();
    let tasks = Tasks::new();
    let port = free_port().unwrap();
    let root = format!("meseta-test-recovery-{}", std::process::id());
    let flags = [
        "--isolation=isolator-cgroups",
        "--cgroups_root",
        root.as_str(),
    ];
    let mut agent = AgentProcess::start(&cluster.addr, port, work.path(), RES, &flags).unwrap();
    let mut s = Scheduler::subscribe(&cluster.addr, framework("ckpt-cgroups", true)).unwrap();
    s.set_auto_ack(true);
    launch(&mut s, &tasks, &["t1"]);
    let pid = tasks.pid("t1");
    let cgroup_of =
        |pid: u32| std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    assert!(cgroup_of(pid).contains(&root), "{}", cgroup_of(pid));

    agent.kill9();
    let agent = AgentProcess::start(&cluster.addr, port, work.path(), RES, &flags).unwrap();
    wait_until("the agent to re-register", T, || {
        agent.output().contains("registered with the master")
    });
    assert!(
        alive(pid),
        "the recovered container's cgroup is adopted, not destroyed\n{}",
        agent.output()
    );
    assert!(cgroup_of(pid).contains(&root), "{}", cgroup_of(pid));
    tasks.go("t1");
    s.wait_state("t1", "TASK_FINISHED", T)
        .unwrap_or_else(|e| panic!("{e:?}\n{}", agent.output()));
    no_more_updates(&mut s, "t1");
}

#[test]
fn recover_cleanup_kills_what_is_left_and_forgets_the_agent() {
    let cluster = master();
    let work = tempfile::tempdir().unwrap();
    let tasks = Tasks::new();
    let port = free_port().unwrap();
    let mut agent = start_agent(&cluster, port, work.path());
    let mut s = Scheduler::subscribe(&cluster.addr, framework("ckpt-cleanup", true)).unwrap();
    s.set_auto_ack(true);
    launch(&mut s, &tasks, &["t1"]);
    let pid = tasks.pid("t1");
    agent.kill9();
    assert!(alive(pid));

    let meseta = meseta_tests::daemons::workspace_binary("meseta", "meseta-cli").unwrap();
    let out = std::process::Command::new(meseta)
        .args([
            "agent",
            "--recover=cleanup",
            "--master",
            &cluster.addr,
            "--work_dir",
        ])
        .arg(work.path())
        .args(["--resources", RES])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until("the task to be killed", T, || !alive(pid));
    assert!(!work.path().join("meta/slaves/latest").exists());
}

/// SIGTERM (an operator's `kill`, a service manager's stop) is a clean exit: as in Mesos, the
/// tasks of a checkpointing framework keep running and the next agent recovers them; those of a
/// framework that does not checkpoint are killed.
#[test]
fn sigterm_leaves_checkpointed_tasks_running() {
    let cluster = master();
    let work = tempfile::tempdir().unwrap();
    let tasks = Tasks::new();
    let port = free_port().unwrap();
    let mut agent = start_agent(&cluster, port, work.path());
    let mut kept = Scheduler::subscribe(&cluster.addr, framework("ckpt", true)).unwrap();
    kept.set_auto_ack(true);
    let agent_id = launch(&mut kept, &tasks, &["kept"]);
    // what is left goes to the other framework
    let rest = kept.wait_offers(T).unwrap();
    kept.decline(&offer_ids(&rest), 3600.0).unwrap();
    let mut plain = Scheduler::subscribe(&cluster.addr, framework("plain", false)).unwrap();
    plain.set_auto_ack(true);
    launch(&mut plain, &tasks, &["plain"]);
    let (p_kept, p_plain) = (tasks.pid("kept"), tasks.pid("plain"));

    assert_eq!(agent.terminate(), Some(0), "{}", agent.output());
    wait_until("the plain task to be killed", T, || !alive(p_plain));
    assert!(alive(p_kept), "the checkpointed task outlives the agent");

    let agent = start_agent(&cluster, port, work.path());
    wait_until("the agent to re-register", T, || {
        agent.output().contains("registered with the master")
    });
    assert_eq!(agent_ids(&cluster), vec![agent_id]);
    tasks.go("kept");
    kept.wait_state("kept", "TASK_FINISHED", T)
        .unwrap_or_else(|e| panic!("{e:?}\n{}", agent.output()));
    no_more_updates(&mut kept, "kept");
}

#[test]
fn logs_rotate_while_the_agent_is_down() {
    const MB: u64 = 1 << 20;
    let cluster = master();
    let work = tempfile::tempdir().unwrap();
    let tasks = Tasks::new();
    let port = free_port().unwrap();
    let flags = [
        "--container_logger_max_stdout_size",
        "1MB",
        "--container_logger_logrotate_stdout_options",
        "rotate 3",
    ];
    let mut agent = AgentProcess::start(&cluster.addr, port, work.path(), RES, &flags).unwrap();
    let mut s = Scheduler::subscribe(&cluster.addr, framework("ckpt-logs", true)).unwrap();
    s.set_auto_ack(true);
    let fid = s.framework_id().to_string();

    // 2 MB, then the pid file and a wait for the go file, then 30 MB and a last line
    let flood = |mb: u32| format!("head -c {} /dev/zero | tr '\\0' a", mb * 1024 * 1024);
    let command = format!(
        "{}; {}; {}; echo; echo the-last-line",
        flood(2),
        tasks.command("logs").replace("; echo done", ""),
        flood(30)
    );
    let offers = s.wait_offers(T).unwrap();
    let agent_id = offers[0]["agent_id"]["value"].as_str().unwrap().to_string();
    let info = task("logs", &agent_id, &command, 0.1, 16.0);
    let (code, body) = s
        .accept(&offer_ids(&offers[..1]), json!([info]), 0.0)
        .unwrap();
    assert_eq!(code, 202, "{body}");
    s.wait_state("logs", "TASK_RUNNING", T).unwrap();
    let pid = tasks.pid("logs");
    let sandbox = work.path().join(format!(
        "slaves/{agent_id}/frameworks/{fid}/executors/logs/runs/latest"
    ));

    // the agent goes; the task writes on, and its supervisor rotates
    agent.kill9();
    tasks.go("logs");
    wait_until("the task to end while the agent is down", T, || !alive(pid));
    wait_until("its last line in stdout", T, || {
        std::fs::read(sandbox.join("stdout")).is_ok_and(|b| b.ends_with(b"the-last-line\n"))
    });
    assert_rotated(&sandbox, "stdout", MB, 3, "\nthe-last-line\n");

    let agent = start_agent(&cluster, port, work.path());
    s.wait_state("logs", "TASK_FINISHED", T)
        .unwrap_or_else(|e| panic!("{e:?}\n{}", agent.output()));
    assert_rotated(&sandbox, "stdout", MB, 3, "\nthe-last-line\n");
}
