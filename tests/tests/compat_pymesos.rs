#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! pymesos 0.3.15, an unmodified third-party framework library, drives `meseta local` through
//! the v1 scheduler API (`tests/compat/pymesos_flow.py`) and runs a custom executor written with
//! its executor driver (`tests/compat/pymesos_executor.py`).
//!
//! Needs the venv of `ci/setup-pymesos.sh target/pymesos-venv` (or `MESETA_PYMESOS_PYTHON`).
//! Without it the tests are skipped, except under `CI`, where they fail.

use std::path::{Path, PathBuf};
use std::process::Command;

use meseta_tests::daemons::{Local, pymesos_python, workspace_root};

fn python() -> Option<PathBuf> {
    let python = pymesos_python();
    if python.is_none() {
        if std::env::var_os("CI").is_some() {
            panic!(
                "pymesos venv missing: run ci/setup-pymesos.sh {}/target/pymesos-venv \
                 (or set MESETA_PYMESOS_PYTHON)",
                workspace_root().display()
            );
        }
        eprintln!(
            "SKIPPED: no pymesos venv (run ci/setup-pymesos.sh target/pymesos-venv, \
             or set MESETA_PYMESOS_PYTHON)"
        );
    }
    python
}

/// Runs `tests/compat/<script> <master url>` and asserts every check passed.
fn run_script(python: &Path, script: &str) {
    let local = Local::start().unwrap();
    let path = workspace_root().join("tests/compat").join(script);
    let out = Command::new(python)
        .arg(&path)
        .arg(&local.url)
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
    if let Some(python) = python() {
        run_script(&python, "pymesos_flow.py");
    }
}

#[test]
fn pymesos_custom_executor() {
    if let Some(python) = python() {
        run_script(&python, "pymesos_executor.py");
    }
}
