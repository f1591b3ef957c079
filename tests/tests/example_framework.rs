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
