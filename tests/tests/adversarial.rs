#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Misbehaving modules are contained: each fault is reported with its cause, the daemon's call
//! returns, the next call runs on a fresh instance, and the counters show what happened.
//!
//! The adversary (`modules/test-hooks-adversary`) misbehaves in its label decorator when the
//! task is named "trigger", in the way its `mode` parameter says, and behaves otherwise.

use std::time::{Duration, Instant};

use meseta_hooks::{Hook, MasterHookChain, WasmMasterHooks};
use meseta_runtime::{FailurePolicy, FaultCause, Grant, LoadError, ModuleError, Settings};
use meseta_tests::load;
use meseta_types::hooks::{AgentInfo, FrameworkInfo, TaskInfo};
use meseta_types::resources::Label;

fn task(name: &str) -> TaskInfo {
    TaskInfo {
        task_id: format!("{name}-1"),
        name: name.to_string(),
        agent_id: "agent-1".into(),
        ..Default::default()
    }
}

fn adversary(mode: &str, extra: &[(&str, &str)], settings: Settings) -> WasmMasterHooks {
    let mut params = vec![("mode", mode)];
    params.extend_from_slice(extra);
    WasmMasterHooks::new(load("test-hooks-adversary", &params, settings).unwrap()).unwrap()
}

/// The task's labels after the adversary's decision (it answers with whole lists).
fn decorate(
    h: &WasmMasterHooks,
    name: &str,
) -> Result<Result<Option<Vec<Label>>, String>, ModuleError> {
    let t = task(name);
    let d = h.launch_task_label_decorator(&t, &FrameworkInfo::default(), &AgentInfo::default())?;
    Ok(d.map(|e| e.map(|e| e.apply(&t.labels))))
}

fn ok_label() -> Vec<Label> {
    vec![Label {
        key: "adversary".into(),
        value: Some("ok".into()),
    }]
}

/// The counters of the hook's module.
fn counters(h: &MasterHookChain) -> meseta_runtime::CountersSnapshot {
    match &h.hooks[0] {
        Hook::Wasm(w) => w.counters(),
        Hook::Native { .. } => unreachable!(),
    }
}

#[test]
fn infinite_loop_is_interrupted_at_its_deadline_and_the_next_call_succeeds() {
    let settings = Settings {
        deadline: Some(Duration::from_millis(50)),
        ..Settings::default()
    };
    let h = adversary("loop", &[], settings);
    let start = Instant::now();
    let err = decorate(&h, "trigger").unwrap_err();
    assert!(
        matches!(err.cause, FaultCause::Deadline(d) if d == Duration::from_millis(50)),
        "{err}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "the loop was not interrupted"
    );
    assert!(err.to_string().contains("exceeded its deadline"), "{err}");
    assert_eq!(decorate(&h, "normal").unwrap(), Ok(Some(ok_label())));
    let c = h.counters();
    assert_eq!(c.faults.deadline, 1);
    assert_eq!(
        c.instantiations, 2,
        "a fresh instance served the second call"
    );
}

#[test]
fn memory_bomb_hits_its_cap() {
    let settings = Settings {
        memory_limit: Some(32 << 20),
        ..Settings::default()
    };
    let h = adversary("memory-bomb", &[], settings);
    let err = decorate(&h, "trigger").unwrap_err();
    assert_eq!(err.cause, FaultCause::MemoryLimit(32 << 20), "{err}");
    assert_eq!(decorate(&h, "normal").unwrap(), Ok(Some(ok_label())));
    assert_eq!(h.counters().faults.memory, 1);
}

#[test]
fn panic_is_a_trap_that_quotes_the_panic_message() {
    let h = adversary("panic", &[], Settings::default());
    let err = decorate(&h, "trigger").unwrap_err();
    match &err.cause {
        FaultCause::Trap(m) => assert!(m.contains("adversary panicked on purpose"), "{m}"),
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_eq!(decorate(&h, "normal").unwrap(), Ok(Some(ok_label())));
    let c = h.counters();
    assert_eq!((c.faults.trap, c.calls, c.instantiations), (1, 2, 2));
}

#[test]
fn host_files_are_invisible_without_a_grant() {
    let h = adversary("read-file", &[("path", "/etc/passwd")], Settings::default());
    let r = decorate(&h, "trigger").unwrap();
    let e = r.unwrap_err();
    assert!(e.starts_with("read /etc/passwd:"), "{e}");
    assert!(!e.contains("root:"), "host file content leaked: {e}");
}

#[test]
fn host_environment_is_invisible() {
    // SAFETY: set before any thread of this test reads the environment; tests only read it.
    unsafe { std::env::set_var("MESETA_TEST_SECRET", "hunter2") };
    let h = adversary(
        "read-env",
        &[("var", "MESETA_TEST_SECRET")],
        Settings::default(),
    );
    let e = decorate(&h, "trigger").unwrap().unwrap_err();
    assert!(e.starts_with("env MESETA_TEST_SECRET:"), "{e}");
    assert!(!e.contains("hunter2"));
}

#[test]
fn a_read_only_grant_can_be_read_but_not_written() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), "hello from the host\n").unwrap();
    let grant = Settings {
        grants: vec![Grant {
            host_path: dir.path().to_path_buf(),
            guest_path: "/data".into(),
            read_only: true,
        }],
        // Not a deadline test: the hooks' default 100 ms can pass on a loaded 2-core machine
        // while the first call opens the grant.
        deadline: Some(std::time::Duration::from_secs(5)),
        ..Settings::default()
    };
    let reader = adversary("read-file", &[("path", "/data/hello.txt")], grant.clone());
    let labels = decorate(&reader, "trigger").unwrap().unwrap().unwrap();
    assert_eq!(labels[0].value.as_deref(), Some("hello from the host"));

    let writer = adversary("write-file", &[("path", "/data/new.txt")], grant.clone());
    let e = decorate(&writer, "trigger").unwrap().unwrap_err();
    assert!(e.starts_with("write /data/new.txt:"), "{e}");
    assert!(
        !dir.path().join("new.txt").exists(),
        "the module wrote through a read-only grant"
    );

    let escape = adversary("read-file", &[("path", "/data/../../etc/passwd")], grant);
    let e = decorate(&escape, "trigger").unwrap().unwrap_err();
    assert!(!e.contains("root:"), "{e}");
}

#[test]
fn a_read_write_grant_can_be_written() {
    let dir = tempfile::tempdir().unwrap();
    let grant = Settings {
        grants: vec![Grant {
            host_path: dir.path().to_path_buf(),
            guest_path: "/data".into(),
            read_only: false,
        }],
        ..Settings::default()
    };
    let writer = adversary("write-file", &[("path", "/data/new.txt")], grant);
    assert_eq!(decorate(&writer, "trigger").unwrap(), Ok(None));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("new.txt")).unwrap(),
        "x"
    );
}

#[test]
fn bad_parameters_stop_the_start_with_the_modules_own_message() {
    let module = load(
        "test-hooks-adversary",
        &[("mode", "bad-init")],
        Settings::default(),
    )
    .unwrap();
    let err = WasmMasterHooks::new(module).err().unwrap();
    assert!(matches!(err, LoadError::Init { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("rejected its parameters: bad-init"), "{text}");
}

#[test]
fn a_module_of_another_kind_is_refused_naming_the_missing_export() {
    let mut spec = meseta_tests::spec("hook-labels", &[], Settings::default());
    spec.kind = Some("allocator".into());
    let err = meseta_tests::loader(meseta_runtime::ComponentCache::disabled())
        .load(&spec)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains(
            "does not implement world 'meseta:allocator/allocator@0.3.0' or \
             'meseta:allocator/allocator@0.2.0' or 'meseta:modules/allocator@0.1.0'"
        ),
        "{err}"
    );
    assert!(
        err.contains("missing export 'meseta:allocator/allocator-api@0.3.0'"),
        "{err}"
    );
    assert!(err.contains("it is a 'master-hooks' module"), "{err}");
}

fn chain(policy: FailurePolicy) -> MasterHookChain {
    let settings = Settings {
        failure_policy: policy,
        ..Settings::default()
    };
    let bad = load("test-hooks-adversary", &[("mode", "panic")], settings).unwrap();
    let labels = load("hook-labels", &[("team", "platform")], Settings::default()).unwrap();
    MasterHookChain::from_modules(vec![bad, labels]).unwrap()
}

#[test]
fn fallback_policy_skips_the_faulty_hook_and_the_chain_goes_on() {
    let c = chain(FailurePolicy::Fallback);
    let labels = c
        .launch_task_labels(
            &task("trigger"),
            &FrameworkInfo::default(),
            &AgentInfo::default(),
        )
        .unwrap();
    assert_eq!(
        labels,
        vec![Label {
            key: "team".into(),
            value: Some("platform".into())
        }]
    );
    let s = counters(&c);
    assert_eq!((s.faults.trap, s.fallbacks), (1, 1));
}

#[test]
fn fail_closed_policy_fails_the_chain() {
    let c = chain(FailurePolicy::FailClosed);
    let err = c
        .launch_task_labels(
            &task("trigger"),
            &FrameworkInfo::default(),
            &AgentInfo::default(),
        )
        .unwrap_err();
    assert_eq!(err.policy, FailurePolicy::FailClosed);
    assert!(
        err.to_string().contains("failure policy fail-closed"),
        "{err}"
    );
    // The next launch is served by a fresh instance.
    let labels = c
        .launch_task_labels(
            &task("normal"),
            &FrameworkInfo::default(),
            &AgentInfo::default(),
        )
        .unwrap();
    assert_eq!(labels.len(), 2);
}

#[test]
fn reload_policy_quarantines_the_module_after_a_fault() {
    let c = chain(FailurePolicy::Reload);
    let first = c
        .launch_task_labels(
            &task("trigger"),
            &FrameworkInfo::default(),
            &AgentInfo::default(),
        )
        .unwrap_err();
    assert!(matches!(first.cause, FaultCause::Trap(_)));
    let second = c
        .launch_task_labels(
            &task("normal"),
            &FrameworkInfo::default(),
            &AgentInfo::default(),
        )
        .unwrap_err();
    assert!(
        matches!(second.cause, FaultCause::Quarantined(_)),
        "{second}"
    );
    let s = counters(&c);
    assert_eq!(
        (s.calls, s.faults.quarantined),
        (1, 1),
        "the quarantined call never entered the module"
    );
}
