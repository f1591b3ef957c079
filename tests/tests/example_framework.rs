#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The example framework (`examples/framework`) runs 3 tasks on `meseta local`, and the master's
//! `/master/state` shows them finished, in Mesos' shape.

use std::process::Command;
use std::time::{Duration, Instant};

use meseta_tests::daemons::{Local, workspace_binary};
use serde_json::Value;

/// `(task id, state)` of every completed task in `/master/state`, from both
/// `frameworks[].completed_tasks` and `completed_frameworks[].completed_tasks`.
fn completed_tasks(state: &Value) -> Vec<(String, String)> {
    let mut tasks = Vec::new();
    for list in ["frameworks", "completed_frameworks"] {
        for framework in state[list].as_array().into_iter().flatten() {
            for task in framework["completed_tasks"]
                .as_array()
                .into_iter()
                .flatten()
            {
                tasks.push((
                    task["id"].as_str().unwrap_or_default().to_string(),
                    task["state"].as_str().unwrap_or_default().to_string(),
                ));
            }
        }
    }
    tasks
}

#[test]
fn example_framework_runs_three_tasks() {
    let local = Local::start().unwrap();
    let framework = workspace_binary("example-framework", "meseta-example-framework").unwrap();
    let out = Command::new(&framework)
        .args(["--master", &local.url, "--tasks", "3", "--timeout", "60s"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let context = || {
        format!(
            "--- example-framework stdout ---\n{stdout}\n--- stderr ---\n{stderr}\n\
             --- meseta local ---\n{}",
            local.output()
        )
    };
    assert!(
        out.status.success(),
        "example-framework failed ({})\n{}",
        out.status,
        context()
    );
    for n in 1..=3 {
        let line = format!("task-{n} TASK_FINISHED");
        assert!(
            stdout.lines().any(|l| l.starts_with(&line)),
            "no `{line}` line\n{}",
            context()
        );
    }
    assert!(
        stdout.lines().any(|l| l == "3 finished, 0 failed"),
        "no summary line `3 finished, 0 failed`\n{}",
        context()
    );

    // The master keeps the finished tasks, torn-down framework or not.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, body) = local.get("/master/state").unwrap();
        assert_eq!(status, 200, "GET /master/state: {body}");
        let state: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("/master/state is not JSON ({e}): {body}"));
        let tasks = completed_tasks(&state);
        let missing: Vec<String> = (1..=3)
            .map(|n| format!("task-{n}"))
            .filter(|id| !tasks.iter().any(|(t, s)| t == id && s == "TASK_FINISHED"))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/master/state lacks finished {missing:?} in frameworks[].completed_tasks or \
             completed_frameworks[].completed_tasks (found {tasks:?}):\n{body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `--master zk://...` is all the example framework needs: it finds the leading master in a real
/// ZooKeeper and, when that master is SIGKILLed while the tasks run, subscribes to the next
/// leader under its id; every task finishes.
#[test]
fn example_framework_follows_the_leader_through_zookeeper() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    use meseta_tests::daemons::{zk_agent, zk_master};
    use meseta_tests::zookeeper::{ZooKeeper, unique_path};

    let zk = ZooKeeper::shared().unwrap();
    let url = zk.url(&unique_path("meseta-example-ha"));
    let dir = tempfile::tempdir().unwrap();
    let mut masters: Vec<_> = (0..2)
        .map(|i| zk_master(&url, &dir.path().join(format!("m{i}")), "2secs", &[]).unwrap())
        .collect();
    let agent = zk_agent(&url, &dir.path().join("agent")).unwrap();
    let framework = workspace_binary("example-framework", "meseta-example-framework").unwrap();
    let mut child = Command::new(&framework)
        .args(["--master", &url, "--tasks", "3", "--command", "sleep 4"])
        .args(["--timeout", "90s"])
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
    let context = |masters: &[meseta_tests::daemons::Daemon], printed: &[String]| {
        let all: Vec<String> = masters.iter().map(|m| m.output()).collect();
        format!(
            "--- example-framework stdout ---\n{}\n--- agent ---\n{}\n--- masters ---\n{}",
            printed.join("\n"),
            agent.output(),
            all.join("\n----\n")
        )
    };

    // Once a task runs, the leader dies.
    let mut printed = Vec::new();
    while !printed.iter().any(|l: &String| l.contains("TASK_RUNNING")) {
        match lines.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => printed.push(line),
            Err(e) => panic!("no task ran ({e})\n{}", context(&masters, &printed)),
        }
    }
    let leader = masters
        .iter()
        .position(|m| {
            m.get("/metrics/snapshot")
                .is_ok_and(|(_, body)| body.contains("\"master/elected\":1"))
        })
        .expect("a master leads");
    masters[leader].kill9();

    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        printed.extend(lines.try_iter());
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the framework is still running\n{}",
            context(&masters, &printed)
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    printed.extend(lines.iter());
    let mut stderr = String::new();
    let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr);
    let context = || {
        format!(
            "{}\n--- its stderr ---\n{stderr}",
            context(&masters, &printed)
        )
    };
    assert!(
        status.success(),
        "example-framework failed ({status})\n{}",
        context()
    );
    assert!(
        printed
            .iter()
            .any(|l| l.starts_with("subscribed again as framework")),
        "it never subscribed to the new leader\n{}",
        context()
    );
    assert!(
        printed.iter().any(|l| l == "3 finished, 0 failed"),
        "no `3 finished, 0 failed`\n{}",
        context()
    );
}
