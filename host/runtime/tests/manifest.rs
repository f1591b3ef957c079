#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Manifest parsing, tested against the exact examples in Mesos' `docs/modules.md` and
//! `docs/oversubscription.md`, and against the mistakes operators make.

use std::path::{Path, PathBuf};

use meseta_runtime::{FailurePolicy, LoadError, Manifest, Source};

fn parse(text: &str) -> Result<Manifest, LoadError> {
    Manifest::parse(text, "test manifest", Path::new("/etc/meseta"))
}

#[test]
fn mesos_docs_example_1_with_its_trailing_comma() {
    let m = parse(
        r#"
        {
          "libraries": [
            {
              "file": "/path/to/libfoo.so",
              "modules": [
                {
                  "name": "org_apache_mesos_bar",
                },
                {
                  "name": "org_apache_mesos_baz"
                }
              ]
            }
          ]
        }"#,
    )
    .unwrap();
    let names: Vec<&str> = m.modules.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["org_apache_mesos_bar", "org_apache_mesos_baz"]);
    assert_eq!(
        m.modules[0].source,
        Source::File(PathBuf::from("/path/to/libfoo.so"))
    );
    assert!(m.modules[0].parameters.is_empty());
}

#[test]
fn mesos_docs_example_2_library_by_name_with_parameters() {
    let m = parse(
        r#"
        {
          "libraries": [
            {
              "name": "foo",
              "modules": [
                {
                  "name": "org_apache_mesos_bar",
                  "parameters": [
                    {
                      "key": "X",
                      "value": "Y"
                    }
                  ]
                },
                {
                  "name": "org_apache_mesos_baz"
                }
              ]
            }
          ]
        }"#,
    )
    .unwrap();
    assert_eq!(m.modules[0].source, Source::Builtin("foo".into()));
    assert_eq!(
        m.modules[0].parameters,
        vec![("X".to_string(), "Y".to_string())]
    );
    assert!(m.modules[1].parameters.is_empty());
}

#[test]
fn mesos_docs_example_3_inline() {
    let m = Manifest::from_modules_flag(
        r#"{"libraries":[{"file":"/path/to/libfoo.so", "modules":[{"name":"org_apache_mesos_bar"}]}]}"#,
    )
    .unwrap();
    assert_eq!(m.modules.len(), 1);
    assert_eq!(
        m.modules[0].origin,
        "inline --modules JSON (libraries[0].modules[0])"
    );
}

#[test]
fn mesos_oversubscription_doc_uses_single_objects_for_lists() {
    let m = parse(
        r#"{"libraries": {"file": "/path/to/libfixed_resource_estimator.so",
            "modules": {"name": "org_apache_mesos_FixedResourceEstimator",
                        "parameters": {"key": "resources", "value": "cpus:14"}}}}"#,
    )
    .unwrap();
    assert_eq!(m.modules[0].name, "org_apache_mesos_FixedResourceEstimator");
    assert_eq!(
        m.modules[0].parameters,
        vec![("resources".to_string(), "cpus:14".to_string())]
    );
}

#[test]
fn meseta_settings_and_nulls() {
    let m = parse(
        r#"{"libraries":[{"file":"hooks/labels.wasm","name":null,"modules":[{"name":"labels",
            "parameters":null,"kind":"master-hooks","memory_limit":"32MB","deadline":"250ms",
            "failure_policy":"fail-closed",
            "grants":[{"host_path":"data","guest_path":"/data","read_only":false}]}]}]}"#,
    )
    .unwrap();
    let s = &m.modules[0];
    assert_eq!(
        s.source,
        Source::File(PathBuf::from("/etc/meseta/hooks/labels.wasm"))
    );
    assert_eq!(s.kind.as_deref(), Some("master-hooks"));
    assert_eq!(s.settings.memory_limit, Some(32 << 20));
    assert_eq!(
        s.settings.deadline,
        Some(std::time::Duration::from_millis(250))
    );
    assert_eq!(s.settings.failure_policy, FailurePolicy::FailClosed);
    assert_eq!(
        s.settings.grants[0].host_path,
        PathBuf::from("/etc/meseta/data")
    );
    assert!(!s.settings.grants[0].read_only);
}

#[test]
fn mistakes_get_errors_that_say_what_to_fix() {
    let err = |t: &str| parse(t).unwrap_err().to_string();
    let e = err(r#"{"libraries":[{"file":"a.wasm","modules":[{"name":"x","paramters":[]}]}]}"#);
    assert!(
        e.contains("libraries[0].modules[0]: unknown field \"paramters\""),
        "{e}"
    );
    assert!(e.contains("\"parameters\""), "{e}");
    let e = err(r#"{"libraries":[{"modules":[{"name":"x"}]}]}"#);
    assert!(e.contains("neither \"file\""), "{e}");
    let e = err(
        r#"{"libraries":[{"file":"a.wasm","modules":[{"name":"x","parameters":[{"key":"k"}]}]}]}"#,
    );
    assert!(e.contains("(key \"k\") has no \"value\""), "{e}");
    let e = err(
        r#"{"libraries":[{"file":"a.wasm","modules":[{"name":"x","failure_policy":"retry"}]}]}"#,
    );
    assert!(
        e.contains("\"fallback\", \"fail-closed\", \"reload\""),
        "{e}"
    );
    let e =
        err(r#"{"libraries":[{"file":"a.wasm","modules":[{"name":"x","deadline":"5 parsecs"}]}]}"#);
    assert!(e.contains("unknown unit"), "{e}");
    let e = err(r#"{"libraries":[{"file":"a.wasm","modules":[{"name":"x"}]"#);
    assert!(e.contains("not valid JSON"), "{e}");
}

#[test]
fn duplicate_names_are_refused_unless_identical() {
    let twice = r#"{"libraries":[{"file":"a.wasm","modules":[{"name":"x"}]},{"file":"a.wasm","modules":[{"name":"x"}]}]}"#;
    assert_eq!(parse(twice).unwrap().modules.len(), 1);
    let differ = r#"{"libraries":[{"file":"a.wasm","modules":[{"name":"x"}]},{"file":"b.wasm","modules":[{"name":"x"}]}]}"#;
    let e = parse(differ).unwrap_err().to_string();
    assert!(e.contains("module 'x' is defined twice"), "{e}");
}

#[test]
fn modules_and_modules_dir_are_mutually_exclusive() {
    let e = Manifest::from_flags(Some("{}"), Some(Path::new("/tmp"))).unwrap_err();
    assert!(matches!(e, LoadError::BothModuleFlags));
    assert!(
        e.to_string()
            .contains("only one of --modules and --modules_dir")
    );
}

#[test]
fn modules_dir_reads_files_in_alphabetical_order() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("b.json"),
        r#"{"libraries":{"file":"b.wasm","modules":{"name":"second"}}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("a.json"),
        r#"{"libraries":{"file":"a.wasm","modules":{"name":"first"}}}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join(".hidden"), "not json").unwrap();
    let m = Manifest::from_dir(dir.path()).unwrap();
    let names: Vec<&str> = m.modules.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["first", "second"]);
    assert_eq!(m.modules[0].source, Source::File(dir.path().join("a.wasm")));
    let m2 =
        Manifest::from_modules_flag(&format!("file://{}", dir.path().join("b.json").display()))
            .unwrap();
    assert_eq!(m2.modules[0].name, "second");
}
