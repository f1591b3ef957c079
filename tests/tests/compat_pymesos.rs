#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! pymesos 0.3.15, an unmodified third-party framework library, drives `meseta local` through
//! the v1 scheduler API (`tests/compat/pymesos_flow.py`) and runs a custom executor written with
//! its executor driver (`tests/compat/pymesos_executor.py`).
//!
//! The venv with pymesos (`target/pymesos-venv`, or `MESETA_PYMESOS_PYTHON`) is made by
//! `ci/setup-pymesos.sh` on first use.

use std::path::{Path, PathBuf};
use std::process::Command;

use meseta_tests::daemons::{Local, workspace_root};
use meseta_tests::prereqs::{cgroups_usable, pymesos_python};

/// pymesos' Python, prepared on first use (`target/pymesos-venv`).
fn python() -> PathBuf {
    pymesos_python().unwrap()
}

/// Runs `tests/compat/<script> <master url>` and asserts every check passed.
fn run_script(python: &Path, script: &str) {
    run_script_with(python, script, &[], &[]);
}

/// Like [`run_script`], with extra flags for `meseta local` and for the script.
fn run_script_with(python: &Path, script: &str, local_args: &[&str], script_args: &[&str]) {
    let local = Local::start_with(local_args).unwrap();
    let path = workspace_root().join("tests/compat").join(script);
    let out = Command::new(python)
        .arg(&path)
        .arg(&local.url)
        .args(script_args)
        .args(["--timeout", "90"])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    if !out.status.success() || !last.ends_with(" 0 failed") {
        panic!(
            "{script} against {} failed ({}), last line {last:?}\n\
             --- script stdout ---\n{stdout}\n--- script stderr ---\n{stderr}\n\
             --- meseta local ---\n{}",
            local.url,
            out.status,
            local.output()
        );
    }
    println!("{stdout}");
}

#[test]
fn pymesos_scheduler_flow() {
    run_script(&python(), "pymesos_flow.py");
}

#[test]
fn pymesos_custom_executor() {
    run_script(&python(), "pymesos_executor.py");
}

/// Issue 4's first "done when": `meseta local --isolation=isolator-cgroups,isolator-disk`, a
/// memory hog launched by pymesos fails with REASON_CONTAINER_LIMITATION_MEMORY while the task
/// beside it finishes.
#[test]
fn pymesos_memory_hog_is_limited() {
    if !cgroups_usable("pymesos_memory_hog_is_limited") {
        return;
    }
    run_script_with(
        &python(),
        "pymesos_modules.py",
        &["--isolation=isolator-cgroups,isolator-disk"],
        &["--check", "isolation"],
    );
}

/// Issue 4's second "done when": revocable offers from `estimator-fixed` reach a pymesos
/// framework with REVOCABLE_RESOURCES, and `qos-load` at threshold 0 preempts its task.
#[test]
fn pymesos_revocable_task_is_preempted() {
    let manifest = r#"{"libraries": [
        {"name": "estimator-fixed", "modules": [{"name": "fixed",
            "parameters": [{"key": "resources", "value": "cpus:2;mem:512"}]}]},
        {"name": "qos-load", "modules": [{"name": "qos",
            "parameters": [{"key": "load_threshold_5min", "value": "0"}]}]}]}"#;
    run_script_with(
        &python(),
        "pymesos_modules.py",
        &[
            "--modules",
            manifest,
            "--resource_estimator",
            "fixed",
            "--qos_controller",
            "qos",
            "--oversubscribed_resources_interval",
            "1secs",
        ],
        &["--check", "revocable"],
    );
}

/// Issue 15's "done when": a pymesos framework with `checkpoint: true` survives `kill -9` of
/// its agent and then of its master (each restarted on its work dir), with every task reaching
/// TASK_FINISHED exactly once (`tests/compat/pymesos_failover.py`).
#[test]
fn pymesos_checkpointed_tasks_survive_agent_and_master_sigkill() {
    use meseta_tests::daemons::{Daemon, LOCAL_RESOURCES, RETRY_FLAGS, free_port};

    let dir = tempfile::tempdir().unwrap();
    let master_dir = dir.path().join("master").to_string_lossy().into_owned();
    let agent_dir = dir.path().join("agent").to_string_lossy().into_owned();
    let (port, agent_port) = (
        free_port().unwrap().to_string(),
        free_port().unwrap().to_string(),
    );
    let address = format!("127.0.0.1:{port}");
    let master_args = [
        "master",
        "--ip",
        "127.0.0.1",
        "--port",
        &port,
        "--work_dir",
        &master_dir,
    ];
    let agent_args = [
        "agent",
        "--master",
        &address,
        "--ip",
        "127.0.0.1",
        "--port",
        &agent_port,
        "--work_dir",
        &agent_dir,
        "--resources",
        LOCAL_RESOURCES,
        RETRY_FLAGS[0],
        RETRY_FLAGS[1],
    ];
    let mut master = Daemon::spawn(&master_args, "Master: ").unwrap();
    let mut agent = Daemon::spawn(&agent_args, "Agent: ").unwrap();

    let script = FailoverScript::start(&format!("http://{address}"), dir.path(), &[], || {
        format!(
            "--- master ---\n{}\n--- agent ---\n{}",
            master.output(),
            agent.output()
        )
    });

    agent.kill9();
    let agent = Daemon::spawn(&agent_args, "Agent: ").unwrap();
    master.kill9();
    let master = Daemon::spawn(&master_args, "Master: ").unwrap();
    script.finish(|| {
        format!(
            "--- master ---\n{}\n--- agent ---\n{}",
            master.output(),
            agent.output()
        )
    });
}

/// The policy lab's hot swap under an unmodified framework: while a checkpointing pymesos
/// framework's tasks run, the allocator is swapped (DRF to binpack); the tasks finish exactly
/// once, a new task runs from a fresh offer of the new allocator, and no decision of it found
/// its resources taken (nothing held was offered again).
#[test]
fn pymesos_keeps_running_through_an_allocator_swap() {
    let local = Local::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let script = FailoverScript::start(
        &local.url,
        dir.path(),
        &["--new-task", "--no-restart"],
        || local.output(),
    );
    let address = local.url.trim_start_matches("http://").to_string();
    let call =
        r#"{"type": "SWAP_ALLOCATOR", "swap_allocator": {"allocator": "allocator-binpack"}}"#;
    let (status, body) =
        meseta_tests::scheduler::post_to(&address, "/api/v1", None, call.as_bytes()).unwrap();
    assert_eq!(status, 200, "{body}");
    script.finish(|| local.output());
    let (_, modules) = local.get("/master/modules").unwrap();
    assert!(
        modules.contains("\"allocator\":\"allocator-binpack\""),
        "{modules}"
    );
    let (_, metrics) = local.get("/metrics/snapshot").unwrap();
    let metrics: serde_json::Value = serde_json::from_str(&metrics).unwrap();
    // Nothing held was offered again. (A decision for the framework the script tears down at
    // its end may still be stale, harmlessly: `stale_decisions` counts those too.)
    assert_eq!(
        metrics["meseta/allocator/stale_decisions_taken"].as_f64(),
        Some(0.0),
        "{metrics}"
    );
}

/// The session timeout of the HA tests' masters.
const ZK_SESSION: &str = "2secs";

/// How long a failover may take on a loaded 2-core machine: the session timeout, a JVM's
/// latency, the new leader's recovery.
const FAILOVER: std::time::Duration = std::time::Duration::from_secs(30);

/// `meseta master --zk <url>` with its work dir `dir`.
fn zk_master(url: &str, dir: &Path) -> meseta_tests::daemons::Daemon {
    meseta_tests::daemons::zk_master(url, dir, ZK_SESSION, &[]).unwrap()
}

/// `meseta agent --master <zk url>` with its work dir `dir`.
fn zk_agent(url: &str, dir: &Path) -> meseta_tests::daemons::Daemon {
    meseta_tests::daemons::zk_agent(url, dir).unwrap()
}

/// The master that says it leads (`master/elected`), if one does.
fn elected(masters: &[meseta_tests::daemons::Daemon]) -> Option<usize> {
    masters.iter().position(|m| {
        m.get("/metrics/snapshot")
            .is_ok_and(|(status, body)| status == 200 && body.contains("\"master/elected\":1"))
    })
}

/// Waits up to [`FAILOVER`] for a master other than `not` to lead; its index.
fn next_leader(
    masters: &[meseta_tests::daemons::Daemon],
    not: Option<usize>,
    context: impl Fn() -> String,
) -> usize {
    let deadline = std::time::Instant::now() + FAILOVER;
    loop {
        match elected(masters) {
            Some(l) if Some(l) != not => return l,
            _ => {}
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no new leader within {FAILOVER:?}\n{}",
            context()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The masters' and the agent's output, for failure messages.
fn outputs(
    masters: &[meseta_tests::daemons::Daemon],
    agent: &meseta_tests::daemons::Daemon,
) -> String {
    let all: Vec<String> = masters.iter().map(|m| m.output()).collect();
    format!(
        "--- agent ---\n{}\n--- masters ---\n{}",
        agent.output(),
        all.join("\n----\n")
    )
}

/// Three `meseta master --zk` processes, an agent and a checkpointing pymesos framework that
/// find the leader in a real ZooKeeper; the leader is SIGKILLed while the tasks run: another
/// master leads with the registry kept in ZooKeeper, the agent and pymesos (its own kazoo
/// detector) follow it, every task ends TASK_FINISHED exactly once, and a new task runs from a
/// fresh offer of the new leader.
#[test]
fn pymesos_follows_the_leader_through_zookeeper_when_it_dies() {
    use meseta_tests::zookeeper::{ZooKeeper, unique_path};

    let zk = ZooKeeper::shared().unwrap();
    let url = zk.url(&unique_path("meseta-pymesos-ha"));
    let dir = tempfile::tempdir().unwrap();
    let mut masters: Vec<_> = (0..3)
        .map(|i| zk_master(&url, &dir.path().join(format!("m{i}"))))
        .collect();
    let agent = zk_agent(&url, &dir.path().join("agent"));
    let script = FailoverScript::start(&url, dir.path(), &["--new-task"], || {
        outputs(&masters, &agent)
    });

    let first = elected(&masters).expect("a leader runs the tasks");
    masters[first].kill9();
    next_leader(&masters, Some(first), || outputs(&masters, &agent));
    script.finish(|| outputs(&masters, &agent));
}

/// Issue 16's bounded chaos run: three masters, an agent and a pymesos framework launching
/// short tasks continuously (`tests/compat/pymesos_chaos.py`); the leader is SIGKILLed 20
/// times, each time after the framework launched again, and restarted as a standby. Afterwards
/// every launch is accounted for (finished, or reported lost with a reason), every task seen
/// running finished, and no task id ran twice (each task appends its id to a log).
#[test]
fn pymesos_launches_through_twenty_leader_kills() {
    use meseta_tests::zookeeper::{ZooKeeper, unique_path};

    const KILLS: usize = 20;
    let zk = ZooKeeper::shared().unwrap();
    let url = zk.url(&unique_path("meseta-pymesos-chaos"));
    let dir = tempfile::tempdir().unwrap();
    let master_dir = |i: usize| dir.path().join(format!("m{i}"));
    let mut masters: Vec<_> = (0..3).map(|i| zk_master(&url, &master_dir(i))).collect();
    let agent = zk_agent(&url, &dir.path().join("agent"));
    let ran = dir.path().join("ran.log").to_string_lossy().into_owned();
    let mut script = FailoverScript::start_script(
        "pymesos_chaos.py",
        &url,
        dir.path(),
        &["--ran-log", &ran, "--timeout", "900"],
        || outputs(&masters, &agent),
    );

    let mut failovers = Vec::with_capacity(KILLS);
    for kill in 1..=KILLS {
        // A master that stopped on its own (its session lost on a loaded machine) comes back,
        // as its supervisor would bring it back.
        for (i, m) in masters.iter_mut().enumerate() {
            if m.wait_exit(std::time::Duration::ZERO).is_some() {
                *m = zk_master(&url, &master_dir(i));
            }
        }
        script.skip_lines();
        script.wait_line("LAUNCHED ", FAILOVER, || {
            format!(
                "the framework launched nothing before kill {kill}\n{}",
                outputs(&masters, &agent)
            )
        });
        let leader = next_leader(&masters, None, || outputs(&masters, &agent));
        masters[leader].kill9();
        let killed = std::time::Instant::now();
        next_leader(&masters, Some(leader), || outputs(&masters, &agent));
        failovers.push(killed.elapsed());
        masters[leader] = zk_master(&url, &master_dir(leader));
    }
    println!("{KILLS} failovers, kill to new leader: {failovers:?}");
    script.finish(|| outputs(&masters, &agent));
}

/// The whole system through a ZooKeeper ensemble losing its quorum: two masters, an agent and a
/// checkpointing pymesos framework with running tasks on a three-server ensemble; two servers
/// die. The leader stops leading (it exits, as Mesos' master does), the standby cannot lead
/// without a quorum, the tasks keep running. The servers come back: the standby leads with the
/// registry intact, the agent re-registers under its id, pymesos follows, every task finishes
/// exactly once and a new one runs.
#[test]
fn pymesos_and_the_masters_survive_the_ensemble_losing_quorum() {
    use meseta_tests::zookeeper::ZooKeeper;

    let ensemble = ZooKeeper::ensemble(3).unwrap();
    let url = ensemble.url("/mesos");
    let dir = tempfile::tempdir().unwrap();
    let master_dir = |i: usize| dir.path().join(format!("m{i}"));
    let mut masters: Vec<_> = (0..2).map(|i| zk_master(&url, &master_dir(i))).collect();
    let agent = zk_agent(&url, &dir.path().join("agent"));
    let script = FailoverScript::start(&url, dir.path(), &["--new-task"], || {
        outputs(&masters, &agent)
    });
    let first = next_leader(&masters, None, || outputs(&masters, &agent));
    let other = 1 - first;
    let quota = r#"{"type": "UPDATE_QUOTA", "update_quota": {"quota_configs": [
        {"role": "eng", "limits": {"cpus": {"value": 1.5}}}]}}"#;
    let address = masters[first].url.trim_start_matches("http://").to_string();
    let (code, body) =
        meseta_tests::scheduler::post_to(&address, "/api/v1", None, quota.as_bytes()).unwrap();
    assert_eq!(code, 200, "UPDATE_QUOTA on the leader: {body}");
    let agent_id = |m: &meseta_tests::daemons::Daemon| -> Option<String> {
        let (status, body) = m.get("/master/slaves").ok()?;
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        let a = v["slaves"].as_array()?.first()?.clone();
        (status == 200 && a["active"] == serde_json::json!(true))
            .then(|| a["id"].as_str().map(String::from))?
    };
    let registered = agent_id(&masters[first]).expect("the agent is registered");

    ensemble.kill(0).unwrap();
    ensemble.kill(1).unwrap();
    // The leader stops leading at once and exits; the standby leads nobody without a quorum.
    let status = masters[first].wait_exit(FAILOVER);
    assert!(
        status.is_some_and(|s| !s.success()),
        "the leader went on without a quorum: {status:?}\n{}",
        outputs(&masters, &agent)
    );
    assert!(
        masters[first].output().contains("lost leadership"),
        "{}",
        masters[first].output()
    );
    let deadline = std::time::Instant::now() + FAILOVER;
    loop {
        let (status, body) = masters[other].get("/master/state").unwrap();
        if status == 503 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the standby without a quorum: {status} {body}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(elected(&masters[other..=other]), None, "nobody leads");

    ensemble.restart(0).unwrap();
    ensemble.restart(1).unwrap();
    for node in 0..3 {
        ensemble
            .wait_serving(node, std::time::Duration::from_secs(60))
            .unwrap();
    }
    // Leadership resumes with the quorum, with what the registry held.
    masters[first] = zk_master(&url, &master_dir(first));
    let leader = next_leader(&masters, None, || outputs(&masters, &agent));
    let (_, quota) = masters[leader].get("/master/quota").unwrap();
    assert!(
        quota.contains("\"eng\"") && quota.contains("1.5"),
        "the registry's quota is gone: {quota}"
    );
    let deadline = std::time::Instant::now() + FAILOVER;
    while agent_id(&masters[leader]).as_ref() != Some(&registered) {
        assert!(
            std::time::Instant::now() < deadline,
            "the agent did not re-register as {registered}\n{}",
            outputs(&masters, &agent)
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    script.finish(|| outputs(&masters, &agent));
}

/// A `tests/compat/` script running against `master` (an address URL or `zk://`): started,
/// then driven by the test between its `READY` line and the go file, reading what it prints.
struct FailoverScript {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    printed: Vec<String>,
    /// What the script wrote to stderr (pymesos' log).
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
    go: PathBuf,
}

impl FailoverScript {
    /// Starts `tests/compat/pymesos_failover.py` and waits until its tasks run (`READY`);
    /// `context` (the daemons' output) goes into the failure message.
    fn start(master: &str, dir: &Path, extra: &[&str], context: impl Fn() -> String) -> Self {
        Self::start_script("pymesos_failover.py", master, dir, extra, context)
    }

    /// Starts `tests/compat/<script>` and waits for its `READY`.
    fn start_script(
        script: &str,
        master: &str,
        dir: &Path,
        extra: &[&str],
        context: impl Fn() -> String,
    ) -> Self {
        use std::io::{BufRead, BufReader};
        use std::process::Stdio;

        let go = dir.join("go");
        let mut child = Command::new(python())
            .arg(workspace_root().join("tests/compat").join(script))
            .arg(master)
            .arg("--go-file")
            .arg(&go)
            .args(["--timeout", "120"])
            .args(extra)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = std::sync::mpsc::channel::<String>();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let errors = child.stderr.take().unwrap();
        let sink = std::sync::Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(errors).lines().map_while(Result::ok) {
                if let Ok(mut s) = sink.lock() {
                    s.push_str(&line);
                    s.push('\n');
                }
            }
        });
        let mut script = FailoverScript {
            child,
            lines,
            printed: Vec::new(),
            stderr,
            go,
        };
        script.wait_line("READY", std::time::Duration::from_secs(60), || {
            format!("the script never got its tasks running\n{}", context())
        });
        script
    }

    /// Waits up to `timeout` for a line that starts with `prefix`.
    fn wait_line(
        &mut self,
        prefix: &str,
        timeout: std::time::Duration,
        context: impl Fn() -> String,
    ) {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.starts_with(prefix);
                    self.printed.push(line);
                    if found {
                        return;
                    }
                }
                Err(e) => panic!(
                    "no `{prefix}` line from the script ({e}):\n{}\n--- its stderr ---\n{}\n{}",
                    self.printed.join("\n"),
                    self.stderr(),
                    context()
                ),
            }
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Takes in what the script printed so far without waiting.
    fn skip_lines(&mut self) {
        self.printed.extend(self.lines.try_iter());
    }

    /// Lets the script go on (the failures are done) and checks that every check passed.
    fn finish(mut self, context: impl Fn() -> String) {
        std::fs::write(&self.go, b"").unwrap();
        self.printed.extend(self.lines.iter());
        let status = self.child.wait().unwrap();
        let stderr = self.stderr();
        let last = self
            .printed
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .cloned()
            .unwrap_or_default();
        assert!(
            status.success() && last.ends_with(" 0 failed"),
            "the script failed ({status}), last line {last:?}\n--- stdout ---\n{}\n\
             --- stderr ---\n{stderr}\n{}",
            self.printed.join("\n"),
            context()
        );
        println!("{}", self.printed.join("\n"));
    }
}
