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

/// Three `meseta master --zk` processes, an agent and a checkpointing pymesos framework that
/// find the leader in a real ZooKeeper; the leader is SIGKILLed while the tasks run: another
/// master leads with the registry kept in ZooKeeper, the agent and pymesos (its own kazoo
/// detector) follow it, every task ends TASK_FINISHED exactly once, and a new task runs from a
/// fresh offer of the new leader.
#[test]
fn pymesos_follows_the_leader_through_zookeeper_when_it_dies() {
    use std::time::{Duration, Instant};

    use meseta_tests::daemons::{Daemon, LOCAL_RESOURCES, RETRY_FLAGS, free_port};
    use meseta_tests::zookeeper::{ZooKeeper, unique_path};

    let zk = ZooKeeper::shared().unwrap();
    let url = zk.url(&unique_path("meseta-pymesos-ha"));
    let dir = tempfile::tempdir().unwrap();
    let master = |i: usize| {
        let work_dir = dir
            .path()
            .join(format!("m{i}"))
            .to_string_lossy()
            .into_owned();
        Daemon::spawn(
            &[
                "master",
                "--ip",
                "127.0.0.1",
                "--port",
                "0",
                "--work_dir",
                &work_dir,
                "--zk",
                &url,
                "--zk_session_timeout",
                "2secs",
            ],
            "Master: ",
        )
        .unwrap()
    };
    let mut masters: Vec<Daemon> = (0..3).map(master).collect();
    let agent_dir = dir.path().join("agent").to_string_lossy().into_owned();
    let agent_port = free_port().unwrap().to_string();
    let agent = Daemon::spawn(
        &[
            "agent",
            "--master",
            &url,
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
        ],
        "Agent: ",
    )
    .unwrap();
    let leader = |masters: &[Daemon]| -> Option<usize> {
        masters.iter().position(|m| {
            m.get("/metrics/snapshot")
                .is_ok_and(|(status, body)| status == 200 && body.contains("\"master/elected\":1"))
        })
    };

    let outputs = |masters: &[Daemon]| {
        let all: Vec<String> = masters.iter().map(|m| m.output()).collect();
        format!(
            "--- agent ---\n{}\n--- masters ---\n{}",
            agent.output(),
            all.join("\n----\n")
        )
    };
    let script = FailoverScript::start(&url, dir.path(), &["--new-task"], || outputs(&masters));

    let first = leader(&masters).expect("a leader runs the tasks");
    masters[first].kill9();
    let deadline = Instant::now() + Duration::from_secs(30);
    while leader(&masters).is_none_or(|l| l == first) {
        assert!(
            Instant::now() < deadline,
            "no new leader after the first died"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    script.finish(|| outputs(&masters));
}

/// `tests/compat/pymesos_failover.py` running against `master` (an address URL or `zk://`):
/// started, then driven by the test between its `READY` line and the go file.
struct FailoverScript {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    printed: Vec<String>,
    go: PathBuf,
}

impl FailoverScript {
    /// Starts the script and waits until its tasks run (`READY`); `context` (the daemons'
    /// output) goes into the failure message.
    fn start(master: &str, dir: &Path, extra: &[&str], context: impl Fn() -> String) -> Self {
        use std::io::{BufRead, BufReader};
        use std::process::Stdio;

        let go = dir.join("go");
        let mut child = Command::new(python())
            .arg(workspace_root().join("tests/compat/pymesos_failover.py"))
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
        let mut printed = Vec::new();
        loop {
            match lines.recv_timeout(std::time::Duration::from_secs(60)) {
                Ok(line) => {
                    let ready = line == "READY";
                    printed.push(line);
                    if ready {
                        break;
                    }
                }
                Err(e) => panic!(
                    "the script never got its tasks running ({e}):\n{}\n{}",
                    printed.join("\n"),
                    context()
                ),
            }
        }
        FailoverScript {
            child,
            lines,
            printed,
            go,
        }
    }

    /// Lets the script go on (the failures are done) and checks that every check passed.
    fn finish(mut self, context: impl Fn() -> String) {
        std::fs::write(&self.go, b"").unwrap();
        self.printed.extend(self.lines.iter());
        let status = self.child.wait().unwrap();
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
        }
        let last = self
            .printed
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .cloned()
            .unwrap_or_default();
        assert!(
            status.success() && last.ends_with(" 0 failed"),
            "pymesos_failover.py failed ({status}), last line {last:?}\n--- stdout ---\n{}\n\
             --- stderr ---\n{stderr}\n{}",
            self.printed.join("\n"),
            context()
        );
        println!("{}", self.printed.join("\n"));
    }
}
