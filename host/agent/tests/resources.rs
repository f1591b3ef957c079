//! Resource detection on this machine, and `--resources` overrides.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use meseta_agent::{DetectError, agent_resources, detect};
use meseta_types::resources::{ResourceValue, ValueRange, scalar_total};

#[test]
fn detect_finds_positive_scalars_and_the_default_ports() {
    let dir = tempfile::tempdir().unwrap();
    let resources = detect(dir.path()).unwrap();
    let names: Vec<_> = resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, vec!["cpus", "mem", "disk", "ports"]);
    assert!(scalar_total(&resources, "cpus") >= 1.0);
    assert!(scalar_total(&resources, "mem") > 0.0);
    assert!(scalar_total(&resources, "disk") > 0.0);
    assert_eq!(
        resources[3].value,
        ResourceValue::Ranges(vec![ValueRange {
            begin: 31000,
            end: 32000
        }])
    );
    assert!(resources.iter().all(|r| r.role.is_none() && !r.revocable));
}

#[test]
fn detect_works_before_the_work_dir_exists() {
    let dir = tempfile::tempdir().unwrap();
    let resources = detect(&dir.path().join("not/yet/created")).unwrap();
    assert!(scalar_total(&resources, "disk") > 0.0);
}

#[test]
fn flag_overrides_by_name_and_adds_new_names() {
    let dir = tempfile::tempdir().unwrap();
    let resources = agent_resources(
        dir.path(),
        Some("cpus:3;gpus:1;ports:[4000-4010,5000-5000];cpus(web):2"),
    )
    .unwrap();
    let cpus: Vec<_> = resources.iter().filter(|r| r.name == "cpus").collect();
    assert_eq!(cpus.len(), 2);
    assert_eq!(cpus[0].as_scalar(), Some(3.0));
    assert_eq!(cpus[1].role.as_deref(), Some("web"));
    assert!(scalar_total(&resources, "mem") > 0.0, "mem still detected");
    assert!(
        scalar_total(&resources, "disk") > 0.0,
        "disk still detected"
    );
    assert_eq!(scalar_total(&resources, "gpus"), 1.0);
    let ports: Vec<_> = resources.iter().filter(|r| r.name == "ports").collect();
    assert_eq!(ports.len(), 1);
    assert_eq!(
        ports[0].value,
        ResourceValue::Ranges(vec![
            ValueRange {
                begin: 4000,
                end: 4010
            },
            ValueRange {
                begin: 5000,
                end: 5000
            }
        ])
    );
    let names: Vec<_> = resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, vec!["cpus", "cpus", "mem", "disk", "ports", "gpus"]);

    let same = agent_resources(dir.path(), None).unwrap();
    assert_eq!(same.len(), 4);

    let exact = agent_resources(dir.path(), Some("mem:512")).unwrap();
    assert_eq!(scalar_total(&exact, "mem"), 512.0);

    assert!(matches!(
        agent_resources(dir.path(), Some("cpus:lots")),
        Err(DetectError::Flag(_))
    ));
}
