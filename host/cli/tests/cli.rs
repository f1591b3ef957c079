#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `meseta module ...` as an operator runs it: the real binary on real files.

use std::path::Path;
use std::process::{Command, Output};

fn meseta(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meseta"))
        .args(args)
        .env(
            "MESETA_MODULE_CACHE",
            std::env::temp_dir().join("meseta-cli-test-cache"),
        )
        .output()
        .expect("run meseta")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const KINDS: &[&str] = &[
    "allocator",
    "isolator",
    "resource-estimator",
    "qos-controller",
    "master-hooks",
    "agent-hooks",
    "authorizer",
];

/// The package and version of the newest world of `kind` (hooks: `meseta:hooks@0.2.0`,
/// allocator: `meseta:allocator@0.3.0`).
fn newest(kind: &str) -> (&'static str, &'static str) {
    if kind.ends_with("-hooks") {
        ("meseta:hooks", "0.2.0")
    } else if kind == "allocator" {
        ("meseta:allocator", "0.3.0")
    } else if kind == "authorizer" {
        ("meseta:authorizer", "0.1.0")
    } else {
        ("meseta:modules", "0.1.0")
    }
}

#[test]
fn check_accepts_each_shipped_module_for_its_kind_and_rejects_it_for_others() {
    assert_eq!(meseta_artifacts::SHIPPED.len(), 10);
    for a in meseta_artifacts::SHIPPED {
        let o = meseta(&["module", "check", a.path, "--kind", a.kind]);
        let out = text(&o);
        assert!(o.status.success(), "{} as {}: {out}", a.name, a.kind);
        let (package, version) = newest(a.kind);
        assert!(
            out.contains(&format!("implements {package}/{}@{version}", a.kind)),
            "{out}"
        );
        assert!(
            out.contains(&format!("{package}/{}-api@{version}", a.kind)),
            "{out}"
        );
        for other in KINDS.iter().filter(|k| **k != a.kind) {
            let o = meseta(&["module", "check", a.path, "--kind", other]);
            let out = text(&o);
            assert!(!o.status.success(), "{} accepted as {other}", a.name);
            let (package, version) = newest(other);
            assert!(
                out.contains(&format!("missing export '{package}/{other}-api@{version}'")),
                "{} as {other}: {out}",
                a.name
            );
            let article = if a.kind.starts_with(['a', 'i']) {
                "an"
            } else {
                "a"
            };
            assert!(
                out.contains(&format!("it is {article} '{}' module", a.kind)),
                "{out}"
            );
        }
    }
}

#[test]
fn check_rejects_a_core_module_and_a_non_wasm_file_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let o = meseta(&[
        "module",
        "check",
        core.to_str().unwrap(),
        "--kind",
        "master-hooks",
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("is a core WebAssembly module, not a component"),
        "{}",
        text(&o)
    );

    let junk = dir.path().join("notes.wasm");
    std::fs::write(&junk, "these are not the bytes you are looking for").unwrap();
    let o = meseta(&[
        "module",
        "check",
        junk.to_str().unwrap(),
        "--kind",
        "master-hooks",
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("is not a WebAssembly file"),
        "{}",
        text(&o)
    );

    let o = meseta(&[
        "module",
        "check",
        "/nonexistent/x.wasm",
        "--kind",
        "master-hooks",
    ]);
    assert!(text(&o).contains("does not exist"), "{}", text(&o));

    let a = &meseta_artifacts::SHIPPED[0];
    let o = meseta(&["module", "check", a.path, "--kind", "authenticator"]);
    assert!(
        text(&o).contains("unknown kind 'authenticator' (known kinds: allocator, isolator"),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("agent-hooks, authorizer"), "{}", text(&o));
}

#[test]
fn inspect_names_the_kind() {
    let a = meseta_artifacts::shipped("hook-labels").unwrap();
    let o = meseta(&["module", "inspect", a.path]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("kind:     master-hooks (meseta:hooks/master-hooks@0.2.0)"),
        "{out}"
    );
    // a version 1 hooks module is still a master-hooks module
    let v1 = meseta_artifacts::test_guest("test-hooks-adversary").unwrap();
    let o = meseta(&["module", "inspect", v1.path]);
    let out = text(&o);
    assert!(
        out.contains("kind:     master-hooks (meseta:modules/master-hooks@0.1.0)"),
        "{out}"
    );
}

/// Mesos' docs example 1, with `file` pointing at a shipped module.
fn mesos_docs_manifest(file: &str) -> String {
    format!(
        r#"{{
          "libraries": [
            {{
              "file": "{file}",
              "modules": [
                {{
                  "name": "org_apache_mesos_bar",
                }},
                {{
                  "name": "org_apache_mesos_baz"
                }}
              ]
            }}
          ]
        }}"#
    )
}

#[test]
fn validate_accepts_the_mesos_docs_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("modules.json");
    std::fs::write(
        &manifest,
        mesos_docs_manifest(meseta_artifacts::shipped("hook-labels").unwrap().path),
    )
    .unwrap();
    let o = meseta(&[
        "module",
        "validate",
        "--modules",
        manifest.to_str().unwrap(),
    ]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("2 modules: 2 ok, 0 failed"), "{out}");
    let o = meseta(&[
        "module",
        "validate",
        "--modules_dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn validate_says_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.json");

    std::fs::write(&m, mesos_docs_manifest("/opt/modules/missing.wasm")).unwrap();
    let o = meseta(&["module", "validate", "--modules", m.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("file /opt/modules/missing.wasm does not exist"),
        "{}",
        text(&o)
    );

    std::fs::write(
        &m,
        r#"{"libraries":[{"name":"hook-lables","modules":[{"name":"labels"}]}]}"#,
    )
    .unwrap();
    let o = meseta(&["module", "validate", "--modules", m.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("did you mean 'hook-labels'?"),
        "{}",
        text(&o)
    );

    std::fs::write(
        &m,
        r#"{"libraries":[{"name":"hook-labels","modules":[{"name":"labels","paramters":[]}]}]}"#,
    )
    .unwrap();
    let o = meseta(&["module", "validate", "--modules", m.to_str().unwrap()]);
    assert!(
        text(&o).contains("unknown field \"paramters\""),
        "{}",
        text(&o)
    );

    let o = meseta(&[
        "module",
        "validate",
        "--modules",
        m.to_str().unwrap(),
        "--modules_dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("only one of --modules and --modules_dir"),
        "{}",
        text(&o)
    );

    std::fs::write(
        &m,
        r#"{"libraries":[{"name":"estimator-fixed","modules":[{"name":"fixed"}]}]}"#,
    )
    .unwrap();
    let o = meseta(&["module", "validate", "--modules", m.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("module 'fixed' rejected its parameters"),
        "{}",
        text(&o)
    );
}

#[test]
fn the_shipped_example_manifest_validates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let o = meseta(&[
        "module",
        "validate",
        "--modules",
        root.join("examples/modules.json").to_str().unwrap(),
    ]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("0 failed"), "{out}");
}

#[test]
fn agent_status_update_retry_flags_are_listed_and_checked() {
    let help = meseta(&["agent", "--help"]);
    let help = text(&help);
    assert!(
        help.contains("--status_update_retry_interval_min")
            && help.contains("--status_update_retry_interval_max"),
        "{help}"
    );
    let dir = std::env::temp_dir().join(format!("meseta-cli-retry-{}", std::process::id()));
    let out = meseta(&[
        "agent",
        "--master",
        "127.0.0.1:1",
        "--work_dir",
        dir.to_str().unwrap(),
        "--status_update_retry_interval_min",
        "5secs",
        "--status_update_retry_interval_max",
        "1secs",
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("--status_update_retry_interval_max"),
        "{}",
        text(&out)
    );
}

/// Issue 18, finding 7: each error names what is actually wrong.
#[test]
fn error_texts_say_what_is_wrong() {
    // A manifest whose `libraries` is no array: not blamed on a `libraries[0]` that is not there.
    let o = meseta(&["module", "validate", "--modules", r#"{"libraries":5}"#]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains("libraries: must be an array, not a number"),
        "{out}"
    );
    assert!(!out.contains("libraries[0]"), "{out}");
    let o = meseta(&[
        "module",
        "validate",
        "--modules",
        r#"{"libraries":[{"name":"hook-env","modules":"env"}]}"#,
    ]);
    let out = text(&o);
    assert!(
        out.contains("libraries[0].modules: must be an array, not a string"),
        "{out}"
    );

    // A missing --modules_dir is a directory, not a manifest.
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir");
    let o = meseta(&[
        "module",
        "validate",
        "--modules_dir",
        missing.to_str().unwrap(),
    ]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains(&format!("cannot read --modules_dir {}", missing.display())),
        "{out}"
    );
    assert!(!out.contains("module manifest {"), "{out}");
    assert!(!out.contains("cannot read module manifest"), "{out}");

    // An unknown isolator: the known ones are isolators only.
    let o = meseta(&[
        "agent",
        "--master",
        "127.0.0.1:1",
        "--work_dir",
        dir.path().join("agent").to_str().unwrap(),
        "--isolation",
        "posix/nope",
    ]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains("--isolation: no isolator module named 'posix/nope'"),
        "{out}"
    );
    let known = out.split("(known: ").nth(1).unwrap_or_default();
    assert!(
        known.contains("posix/cpu")
            && known.contains("posix/mem")
            && known.contains("isolator-cgroups")
            && known.contains("isolator-disk"),
        "{out}"
    );
    for other in meseta_artifacts::SHIPPED
        .iter()
        .filter(|a| a.kind != "isolator")
    {
        assert!(!known.contains(other.name), "{} listed: {out}", other.name);
    }

    // "an agent-hooks module", not "a agent-hooks module".
    let o = meseta(&[
        "master",
        "--port",
        "0",
        "--registry",
        "in_memory",
        "--work_dir",
        dir.path().join("master").to_str().unwrap(),
        "--allocator",
        "hook-env",
    ]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains("module 'hook-env' is an agent-hooks module, not an allocator"),
        "{out}"
    );
}

#[test]
fn agent_container_logger_flags_are_listed_and_checked() {
    let help = text(&meseta(&["agent", "--help"]));
    for flag in [
        "--container_logger ",
        "--container_logger_max_stdout_size",
        "--container_logger_logrotate_stdout_options",
        "--container_logger_max_stderr_size",
        "--container_logger_logrotate_stderr_options",
    ] {
        assert!(help.contains(flag), "{flag} missing: {help}");
    }
    let dir = std::env::temp_dir().join(format!("meseta-cli-logger-{}", std::process::id()));
    let work_dir = dir.to_str().unwrap();
    let agent = |extra: &[&str]| {
        let mut args = vec!["agent", "--master", "127.0.0.1:1", "--work_dir", work_dir];
        args.extend_from_slice(extra);
        meseta(&args)
    };
    let options = agent(&[
        "--container_logger_logrotate_stderr_options",
        "rotate 3 compress",
    ]);
    let size = agent(&["--container_logger_max_stdout_size", "1KB"]);
    let logger = agent(&["--container_logger", "journald"]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!options.status.success());
    assert!(
        text(&options).contains("--container_logger_logrotate_stderr_options")
            && text(&options).contains("'compress'"),
        "{}",
        text(&options)
    );
    assert!(!size.status.success());
    assert!(
        text(&size).contains("--container_logger_max_stdout_size") && text(&size).contains("4096"),
        "{}",
        text(&size)
    );
    assert!(!logger.status.success());
    assert!(text(&logger).contains("journald"), "{}", text(&logger));
}
