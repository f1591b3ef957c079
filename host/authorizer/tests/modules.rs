//! The authorizer over the real Wasm modules: the shipped `authorizer-local` agrees with the
//! native local authorizer, and every fault of `test-authorizer-adversary` denies, is counted,
//! and leaves the next call working.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use meseta_authorizer::{Action, Authorizer, Object, Request};
use meseta_runtime::{ComponentCache, LoadedModule, Loader, ModuleSpec, Settings, Source};

fn loader() -> Loader<'static> {
    Loader {
        worlds: meseta_bindings::WORLDS,
        builtins: &meseta_artifacts::Shipped,
        cache: ComponentCache::disabled(),
    }
}

fn load(name: &str, source: Source, settings: Settings) -> Result<Arc<LoadedModule>, String> {
    loader()
        .load(&ModuleSpec {
            name: name.into(),
            source,
            kind: Some("authorizer".into()),
            parameters: Vec::new(),
            settings,
            origin: "meseta-authorizer's tests".into(),
        })
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

/// As a daemon's module lookup: the shipped modules by name.
fn shipped(name: &str) -> Result<Arc<LoadedModule>, String> {
    load(name, Source::Builtin(name.into()), Settings::default())
}

fn adversary(deadline: Duration) -> Authorizer {
    let path = meseta_artifacts::test_guest("test-authorizer-adversary")
        .unwrap()
        .path;
    let settings = Settings {
        deadline: Some(deadline),
        memory_limit: Some(32 << 20),
        ..Settings::default()
    };
    let m = load("adversary", Source::File(path.into()), settings).unwrap();
    Authorizer::from_module(m, None).unwrap()
}

fn req(subject: Option<&str>, action: Action, value: Option<&str>) -> Request {
    Request {
        subject: subject.map(str::to_string),
        action,
        object: Object {
            value: value.map(str::to_string),
            framework_id: Some("fw-1".into()),
            ..Object::default()
        },
    }
}

const ACLS: &[&str] = &[
    "{}",
    r#"{"permissive": false}"#,
    r#"{"permissive": false,
        "register_frameworks": [
            {"principals": {"values": ["payroll"]}, "roles": {"values": ["accounting"]}},
            {"principals": {"type": "ANY"}, "roles": {"values": ["eng/%"]}},
            {"principals": {"type": "ANY"}, "roles": {"type": "NONE"}}],
        "run_tasks": [
            {"principals": {"values": ["ops"]}, "users": {"type": "ANY"}},
            {"principals": {"type": "ANY"}, "users": {"values": ["nobody", "web"]}}],
        "view_flags": [{"principals": {"values": ["ops"]}, "flags": {"type": "ANY"}}],
        "get_endpoints": [{"principals": {"values": ["ops"]}, "paths": {"values": ["/metrics/snapshot"]}}],
        "access_mesos_logs": [{"principals": {"type": "ANY"}, "logs": {"type": "NONE"}}]}"#,
    r#"{"view_tasks": [{"principals": {"type": "NONE"}, "users": {"values": ["root"]}}],
        "teardown_frameworks": [{"principals": {"values": ["ops", "payroll"]}, "framework_principals": {"type": "ANY"}},
                                {"principals": {"type": "ANY"}, "framework_principals": {"type": "NONE"}}]}"#,
];

const SUBJECTS: &[Option<&str>] = &[None, Some("ops"), Some("payroll"), Some("dev")];
const VALUES: &[Option<&str>] = &[
    None,
    Some("accounting"),
    Some("eng"),
    Some("eng/a"),
    Some("root"),
    Some("web"),
    Some("/metrics/snapshot"),
    Some("payroll"),
];

#[test]
fn shipped_wasm_local_authorizer_agrees_with_the_native_one() {
    for acls in ACLS {
        let native = Authorizer::local(Some(acls)).unwrap();
        let wasm = Authorizer::resolve("authorizer-local", Some(acls), shipped).unwrap();
        assert_eq!(wasm.name(), "authorizer-local");
        assert!(wasm.module().is_some());
        assert_eq!(
            native.allows_everything(),
            wasm.allows_everything(),
            "{acls}"
        );
        let mut decisions = 0;
        for action in Action::ALL {
            assert_eq!(native.allows_all(action), wasm.allows_all(action));
            for subject in SUBJECTS {
                for value in VALUES {
                    let r = req(*subject, action, *value);
                    assert_eq!(native.authorized(&r), wasm.authorized(&r), "{acls}\n{r:?}");
                    decisions += 1;
                }
            }
        }
        let n = native.counters();
        let w = wasm.counters();
        assert_eq!(n.calls, decisions);
        assert_eq!(w.calls, decisions);
        assert_eq!(w.faults.total(), 0);
        assert_eq!(w.fallbacks, 0);
    }
    // one of them for real: the docs' example denies what it should
    let native = Authorizer::local(Some(ACLS[2])).unwrap();
    assert!(native.authorized(&req(
        Some("payroll"),
        Action::RegisterFramework,
        Some("accounting")
    )));
    assert!(native.authorized(&req(None, Action::RegisterFramework, Some("eng/a"))));
    assert!(!native.authorized(&req(Some("dev"), Action::RegisterFramework, Some("eng"))));
    assert!(!native.authorized(&req(Some("dev"), Action::ViewFlags, None)));
}

#[test]
fn no_acls_allow_everything_natively_and_in_wasm() {
    let native = Authorizer::resolve("local", None, |_| panic!("no module")).unwrap();
    assert_eq!(native.name(), "local");
    assert!(native.allows_everything());
    let wasm = Authorizer::resolve("authorizer-local", None, shipped).unwrap();
    assert!(wasm.allows_everything());
    assert!(wasm.authorized(&req(None, Action::RunTask, Some("root"))));
    let mesos_name =
        Authorizer::resolve("mesos::internal::LocalAuthorizer", None, |_| panic!()).unwrap();
    assert!(mesos_name.allows_everything());
    // another module: the host cannot know what it allows
    assert!(!adversary(Duration::from_secs(1)).allows_everything());
}

#[test]
fn every_fault_denies_is_counted_and_the_next_call_works() {
    // Long enough that only the spinning call misses it, even on a loaded 2-core CI machine
    // (a 50 ms deadline once caught the memory bomb, which grows to its 32 MB cap, as well).
    let a = adversary(Duration::from_millis(300));
    let alice = req(Some("alice"), Action::RunTask, Some("root"));
    assert!(a.authorized(&alice));
    assert!(!a.authorized(&req(Some("bob"), Action::RunTask, Some("root"))));
    assert!(!a.authorized(&req(None, Action::RunTask, Some("root"))));
    for (i, subject) in ["trap", "spin", "error", "bomb"].iter().enumerate() {
        assert!(
            !a.authorized(&req(Some(subject), Action::RunTask, Some("root"))),
            "{subject}"
        );
        assert_eq!(a.counters().fallbacks, i as u64 + 1, "{subject}");
        assert!(a.authorized(&alice), "after {subject}");
    }
    let c = a.counters();
    assert_eq!(c.faults.trap, 1);
    assert_eq!(c.faults.deadline, 1);
    assert_eq!(c.faults.memory, 1);
    assert_eq!(c.faults.total(), 3);
    // `err` is not a fault of the instance, but a denial the module did not decide
    assert_eq!(c.fallbacks, 4);
    // three faulted instances were replaced
    assert_eq!(c.instantiations, 4);
}

#[test]
fn clones_share_one_module_across_threads() {
    let a = adversary(Duration::from_secs(1));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let a = a.clone();
            std::thread::spawn(move || {
                for i in 0..200 {
                    let who = if (t + i) % 2 == 0 { "alice" } else { "eve" };
                    let r = req(Some(who), Action::ViewTask, Some("u"));
                    assert_eq!(a.authorized(&r), who == "alice");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(a.counters().calls, 800);
}

#[test]
fn resolve_errors_name_the_flag_and_the_fix() {
    let e = Authorizer::resolve("local", Some(r#"{"regster_frameworks": []}"#), |_| panic!())
        .unwrap_err();
    assert!(
        e.starts_with("--acls: 'regster_frameworks' is not a Mesos ACL key"),
        "{e}"
    );
    assert!(e.contains("did you mean 'register_frameworks'?"), "{e}");
    let e =
        Authorizer::resolve("authorizer-local", Some(r#"{"run_tasks": 1}"#), shipped).unwrap_err();
    assert!(e.starts_with("--authorizers: "), "{e}");
    assert!(e.contains("'run_tasks' must be a list of rules"), "{e}");
    let e = Authorizer::resolve("local,other", None, |_| panic!()).unwrap_err();
    assert!(e.contains("exactly one"), "{e}");
    let e = Authorizer::resolve("allocator-drf", None, |n| {
        loader()
            .load(&ModuleSpec {
                name: n.into(),
                source: Source::Builtin(n.into()),
                kind: None,
                parameters: Vec::new(),
                settings: Settings::default(),
                origin: "test".into(),
            })
            .map(Arc::new)
            .map_err(|e| e.to_string())
    })
    .unwrap_err();
    assert!(
        e.contains("is an allocator module, not an authorizer"),
        "{e}"
    );
    let e =
        Authorizer::resolve("nope", None, |n| Err(format!("no module named '{n}'"))).unwrap_err();
    assert_eq!(e, "no module named 'nope'");
}

#[test]
fn a_module_other_than_the_local_authorizer_ignores_acls() {
    let path = meseta_artifacts::test_guest("test-authorizer-adversary")
        .unwrap()
        .path;
    let a = Authorizer::resolve("adversary", Some(r#"{"permissive": false}"#), |n| {
        load(n, Source::File(path.into()), Settings::default())
    })
    .unwrap();
    assert!(a.authorized(&req(Some("alice"), Action::RunTask, None)));
    assert!(!a.allows_everything());
}

#[test]
fn acls_flag_is_json_or_a_file() {
    let json = r#"{"permissive": false}"#;
    assert_eq!(meseta_authorizer::read_acls_flag(json).unwrap(), json);
    let dir = std::env::temp_dir().join(format!("meseta-acls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("acls.json");
    std::fs::write(&file, json).unwrap();
    let path = file.to_str().unwrap();
    assert_eq!(meseta_authorizer::read_acls_flag(path).unwrap(), json);
    assert_eq!(
        meseta_authorizer::read_acls_flag(&format!("file://{path}")).unwrap(),
        json
    );
    let e = meseta_authorizer::read_acls_flag("/no/such/acls.json").unwrap_err();
    assert!(
        e.starts_with("--acls: cannot read '/no/such/acls.json'"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_quarantined_module_denies_without_being_called() {
    let path = meseta_artifacts::test_guest("test-authorizer-adversary")
        .unwrap()
        .path;
    let settings = Settings {
        failure_policy: meseta_runtime::FailurePolicy::Reload,
        ..Settings::default()
    };
    let m = load("adversary", Source::File(path.into()), settings).unwrap();
    let a = Authorizer::from_module(m, None).unwrap();
    let alice = req(Some("alice"), Action::RunTask, None);
    assert!(a.authorized(&alice));
    assert!(!a.authorized(&req(Some("trap"), Action::RunTask, None)));
    // within the first backoff (500 ms): denied, counted, the module not entered
    assert!(!a.authorized(&alice));
    let c = a.counters();
    assert_eq!(c.faults.trap, 1);
    assert_eq!(c.faults.quarantined, 1);
    assert_eq!(c.fallbacks, 2);
    assert_eq!(c.calls, 2);
}
