#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `meseta module test FILE|DIR`: well-behaved modules (the Python allocator, the JavaScript
//! agent hook) pass every scenario; the adversarial test guests fail, and the report names the
//! scenario, the simulated time and the call, and the host's check that caught them.

use std::process::Command;

use meseta_tests::daemons::workspace_binary;
use meseta_tests::guests::{self, JS_ENV, PY_ALLOCATOR};

/// `meseta module test <args>`: (success, stdout).
fn module_test(args: &[&str]) -> (bool, String) {
    let meseta = workspace_binary("meseta", "meseta-cli").unwrap();
    let (key, cache) = guests::cache_env();
    let out = Command::new(meseta)
        .args(["module", "test"])
        .args(args)
        .env(key, cache)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (
        out.status.success(),
        format!("{stdout}\n--- stderr ---\n{stderr}"),
    )
}

#[test]
fn python_allocator_and_js_hook_pass_every_scenario() {
    for (guest, steps) in [(PY_ALLOCATOR, 3), (JS_ENV, 20)] {
        let wasm = guests::build(guest).unwrap();
        let (ok, out) = module_test(&[wasm.to_str().unwrap()]);
        assert!(ok, "{out}");
        assert!(
            out.contains(&format!("{steps} of {steps} steps passed")),
            "{out}"
        );
        assert!(!out.contains("FAIL"), "{out}");
    }
}

#[test]
fn misbehaving_modules_fail_at_the_step_that_caught_them() {
    let liar = meseta_artifacts::test_guest("test-allocator-liar")
        .unwrap()
        .path;
    let adversary = meseta_artifacts::test_guest("test-hooks-adversary")
        .unwrap()
        .path;
    let dir = tempfile::tempdir().unwrap();
    let manifest = serde_json::json!({"libraries": [
        {"file": liar, "modules": [{"name": "liar",
            "parameters": [{"key": "lie", "value": "oversized"}]}]},
        {"file": liar, "modules": [{"name": "spinner", "deadline": "20ms",
            "parameters": [{"key": "lie", "value": "spin"}]}]},
        {"file": adversary, "modules": [{"name": "bad_init",
            "parameters": [{"key": "mode", "value": "bad-init"}]}]}]});
    std::fs::write(dir.path().join("modules.json"), manifest.to_string()).unwrap();
    let (ok, out) = module_test(&[dir.path().to_str().unwrap()]);
    assert!(!ok, "{out}");
    for expected in [
        "FAIL two frameworks share three agents: 19 faults",
        "at t=0.000s allocate: module 'liar' (allocator) returned invalid output: offers on agent 0",
        "exceed its free resources",
        "module 'spinner' (allocator) exceeded its deadline of 20ms",
        "FAIL start (init with the manifest's parameters): module 'bad_init' rejected its parameters",
        "0 of 3 steps passed",
    ] {
        assert!(out.contains(expected), "no {expected:?} in\n{out}");
    }
}

#[test]
fn bad_targets_say_what_to_give_instead() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = module_test(&[dir.path().to_str().unwrap()]);
    assert!(
        !ok && out.contains("modules.json") && out.contains("meseta module new"),
        "{out}"
    );
    let missing = dir.path().join("nope.wasm");
    let (ok, out) = module_test(&[missing.to_str().unwrap()]);
    assert!(!ok && out.contains("does not exist"), "{out}");
}
