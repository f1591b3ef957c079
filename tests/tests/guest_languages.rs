#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Modules written in Python (componentize-py) and JavaScript (componentize-js), from
//! `examples/python` and `examples/js`, built by the suite on first use (`meseta_tests::guests`),
//! run in a real `meseta local` under the same sandbox, limits and checks as the Rust modules:
//! each allocator gives pymesos' scheduler flow its offers (declines with filters, suppress,
//! revive, kill, reconcile), and the hooks label and set the environment of the example
//! framework's tasks.

use std::process::Command;

use meseta_tests::daemons::{Local, workspace_binary};
use meseta_tests::guests::{self, Guest, JS_ALLOCATOR, JS_HOOK, PY_ALLOCATOR, PY_HOOK};
use meseta_tests::prereqs::run_pymesos_check;
use serde_json::Value;

/// A manifest entry for `guest`, built, named `name`.
fn library(guest: Guest, name: &str, parameters: &[(&str, &str)], extra: &str) -> String {
    let wasm = guests::build(guest).unwrap();
    let parameters: Vec<Value> = parameters
        .iter()
        .map(|(k, v)| serde_json::json!({"key": k, "value": v}))
        .collect();
    format!(
        r#"{{"file": {}, "modules": [{{"name": "{name}", "kind": "{}", "parameters": {}{extra}}}]}}"#,
        Value::from(wasm.to_string_lossy()),
        guest.kind,
        Value::from(parameters),
    )
}

fn local(manifest_libraries: &[String], flags: &[&str]) -> Local {
    let manifest = format!(r#"{{"libraries": [{}]}}"#, manifest_libraries.join(","));
    let mut args = vec!["--modules", &manifest];
    args.extend_from_slice(flags);
    let (key, cache) = guests::cache_env();
    Local::start_env(&args, &[(key, &cache)]).unwrap()
}

/// `/master/modules`' entry for `name`.
fn module_entry(local: &Local, name: &str) -> Value {
    let (status, body) = local.get("/master/modules").unwrap();
    assert_eq!(status, 200, "{body}");
    let all: Value = serde_json::from_str(&body).unwrap();
    let found = all
        .as_array()
        .into_iter()
        .flatten()
        .chain(all["modules"].as_array().into_iter().flatten())
        .find(|m| m["name"] == name)
        .cloned();
    found.unwrap_or_else(|| panic!("no module {name} in /master/modules: {body}"))
}

fn allocator_runs_pymesos_flow(guest: Guest, name: &str) {
    let local = local(
        &[library(guest, name, &[], "")],
        &["--allocator", name, "--allocation_interval", "200ms"],
    );
    let stdout = run_pymesos_check("pymesos_flow.py", &local.url, &[], 90, &|| local.output())
        .unwrap_or_else(|e| panic!("{e}"));
    println!("{stdout}");
    // the offers came from the module: its rounds ran, none faulted or fell back to native DRF
    let entry = module_entry(&local, name);
    let text = entry.to_string();
    assert_eq!(entry["in_use"], true, "{name} is not the allocator: {text}");
    assert!(
        entry["counters"]["calls"].as_u64().unwrap_or(0) > 0,
        "no calls into {name}: {text}"
    );
    assert_eq!(
        entry["counters"]["faults"],
        0,
        "{name} faulted: {text}\n{}",
        local.output()
    );
    assert_eq!(
        entry["counters"]["fallbacks"], 0,
        "{name} fell back: {text}"
    );
}

#[test]
fn python_allocator_gives_pymesos_its_offers() {
    allocator_runs_pymesos_flow(PY_ALLOCATOR, "py_share");
}

#[test]
fn js_allocator_gives_pymesos_its_offers() {
    allocator_runs_pymesos_flow(JS_ALLOCATOR, "js_share");
}

/// The JavaScript master hook labels every task of the example framework, and the Python agent
/// hook sets their environment: `/master/state` has the labels, the sandboxes the variables.
#[test]
fn js_hook_labels_tasks_and_python_hook_sets_their_environment() {
    let local = local(
        &[
            library(
                JS_HOOK,
                "js_labels",
                &[("team", "platform"), ("tier", "2")],
                "",
            ),
            library(PY_HOOK, "py_env", &[("DEPLOY_ENV", "staging")], ""),
        ],
        &["--hooks", "js_labels,py_env"],
    );
    let framework = workspace_binary("example-framework", "meseta-example-framework").unwrap();
    let out = Command::new(&framework)
        .args(["--master", &local.url, "--tasks", "2", "--timeout", "60s"])
        .args([
            "--command",
            "echo deployed to $DEPLOY_ENV by $MESETA_FRAMEWORK_ID",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("2 finished, 0 failed"),
        "example-framework failed ({})\n{stdout}\n{}\n--- meseta local ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        local.output()
    );
    let (_, body) = local.get("/master/state").unwrap();
    let state: Value = serde_json::from_str(&body).unwrap();
    let mut tasks = 0;
    let frameworks = ["frameworks", "completed_frameworks"].map(|k| state[k].as_array().cloned());
    for framework in frameworks.iter().flatten().flatten() {
        let id = framework["id"].as_str().unwrap();
        for task in framework["completed_tasks"]
            .as_array()
            .into_iter()
            .flatten()
        {
            tasks += 1;
            let labels = task["labels"].to_string();
            for label in [
                r#""key":"team","value":"platform""#,
                r#""key":"tier","value":"2""#,
            ] {
                assert!(labels.contains(label), "task without {label}: {task}");
            }
            let work_dir = std::path::PathBuf::from(state["flags"]["work_dir"].as_str().unwrap());
            let stdout_file = sandbox_stdout(&work_dir, id, task["id"].as_str().unwrap());
            let printed = std::fs::read_to_string(&stdout_file).unwrap();
            assert!(
                printed.contains(&format!("deployed to staging by {id}")),
                "{}: {printed:?}",
                stdout_file.display()
            );
        }
    }
    assert_eq!(tasks, 2, "{body}");
    // the master hook's counters (the agent's are on the agent): calls, and no fault
    let entry = module_entry(&local, "js_labels");
    assert!(
        entry["counters"]["calls"].as_u64().unwrap_or(0) >= 2,
        "{entry}"
    );
    assert_eq!(entry["counters"]["faults"], 0, "{entry}");
}

/// `<dir>/slaves/*/frameworks/<framework>/executors/<task>/runs/latest/stdout`, where `<dir>` is
/// the first agent's work dir: `meseta local`'s own, the parent of the master's.
fn sandbox_stdout(work_dir: &std::path::Path, framework: &str, task: &str) -> std::path::PathBuf {
    let slaves = work_dir.parent().unwrap().join("slaves");
    for agent in std::fs::read_dir(&slaves).unwrap() {
        let path = agent
            .unwrap()
            .path()
            .join("frameworks")
            .join(framework)
            .join("executors")
            .join(task)
            .join("runs/latest/stdout");
        if path.is_file() {
            return path;
        }
    }
    panic!("no sandbox of task {task} under {}", slaves.display());
}

/// Every example in `examples/python` and `examples/js` passes its own unit tests (the policy,
/// natively: `python3 -m unittest`, `node --test`), builds, and loads as its kind (the two the
/// cluster tests above do not run are the ones `meseta bench languages` and `meseta module new`
/// use).
#[test]
fn every_example_passes_its_tests_builds_and_loads() {
    for guest in guests::ALL {
        let dir = guest.source_dir();
        let out = match guest.lang {
            guests::Lang::Python => Command::new("python3")
                .args(["-m", "unittest"])
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .current_dir(&dir)
                .output(),
            guests::Lang::Js => Command::new("node")
                .arg("--test")
                .current_dir(&dir)
                .output(),
        }
        .unwrap();
        assert!(
            out.status.success(),
            "{}: its tests failed\n{}\n{}",
            dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // builds it and loads it with `meseta module check --kind`
        guests::build(guest).unwrap();
    }
}
