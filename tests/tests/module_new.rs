#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `meseta module new NAME --kind KIND --lang LANG` makes a project that builds as generated: for
//! every language and kind it has templates for, the project's own tests pass, its README's build
//! command makes a component, and `meseta module check` finds the kind's world in it. Python and
//! JavaScript use the tool chains `meseta_tests::guests` installs under `target/`; the Rust
//! projects share one target directory (`target/module-new-rust`), so their dependencies build
//! once.

use std::path::Path;
use std::process::Command;

use meseta_tests::daemons::{workspace_binary, workspace_root};
use meseta_tests::guests;

const KINDS: [&str; 3] = ["allocator", "master-hooks", "agent-hooks"];

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed ({})\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `meseta module new` into `<tmp>/<name>`; returns the project's directory.
fn new(tmp: &Path, name: &str, kind: &str, lang: &str) -> std::path::PathBuf {
    let meseta = workspace_binary("meseta", "meseta-cli").unwrap();
    let dir = tmp.join(name);
    run(Command::new(&meseta)
        .args([
            "module", "new", name, "--kind", kind, "--lang", lang, "--dir",
        ])
        .arg(&dir));
    for file in [
        "README.md",
        "modules.json",
        "wit/deps/meseta-modules-0.1.0/types.wit",
    ] {
        assert!(dir.join(file).is_file(), "{name}: no {file}");
    }
    dir
}

/// `meseta module check WASM --kind KIND`, without the compiled-module cache (each build is a
/// new component, which would only add to it).
fn check(wasm: &Path, kind: &str) {
    let meseta = workspace_binary("meseta", "meseta-cli").unwrap();
    let out = run(Command::new(&meseta)
        .args(["module", "check"])
        .arg(wasm)
        .args(["--kind", kind, "--no_cache"]));
    assert!(out.starts_with("ok: "), "{out}");
}

#[test]
fn python_projects_test_build_and_check() {
    let venv = guests::python_tools().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    for kind in KINDS {
        let name = format!("py-{kind}");
        let dir = new(tmp.path(), &name, kind, "python");
        run(Command::new("python3")
            .args(["-m", "unittest"])
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .current_dir(&dir));
        // the README's build command, with the venv's componentize-py
        run(Command::new(venv.join("bin/componentize-py"))
            .args(["-d", "wit", "-w", kind, "componentize", "app", "-o"])
            .arg(format!("{name}.wasm"))
            .current_dir(&dir));
        // compiling an 18 MB component takes half a minute in the test profile: the allocator,
        // the largest template, is checked; the build already refused exports that are missing
        if kind == "allocator" {
            check(&dir.join(format!("{name}.wasm")), kind);
        }
    }
}

#[test]
fn js_projects_test_build_and_check() {
    let tools = guests::js_tools().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    for kind in KINDS {
        let name = format!("js-{kind}");
        let dir = new(tmp.path(), &name, kind, "js");
        run(Command::new("node").arg("--test").current_dir(&dir));
        // `npm run build` without a second 380 MB `npm install`: the suite's componentize-js,
        // found through PATH as npm would find the project's own
        let path = format!(
            "{}:{}",
            tools.join("node_modules/.bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        run(Command::new("npm")
            .args(["run", "build", "--silent"])
            .env("PATH", path)
            .current_dir(&dir));
        if kind == "allocator" {
            check(&dir.join(format!("{name}.wasm")), kind);
        }
    }
}

#[test]
fn rust_projects_test_build_and_check() {
    let tmp = tempfile::tempdir().unwrap();
    let target = workspace_root().join("target/module-new-rust");
    for kind in KINDS {
        let name = format!("rs-{kind}");
        let dir = new(tmp.path(), &name, kind, "rust");
        let cargo = |args: &[&str]| {
            run(Command::new("cargo")
                .args(args)
                .env("CARGO_TARGET_DIR", &target)
                .current_dir(&dir))
        };
        cargo(&["test", "--quiet"]);
        cargo(&["build", "--release", "--quiet", "--target", "wasm32-wasip2"]);
        let wasm = target.join(format!(
            "wasm32-wasip2/release/{}.wasm",
            name.replace('-', "_")
        ));
        check(&wasm, kind);
    }
}
