#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `meseta simulate` as an operator runs it: the real binary on the example workloads.

use std::path::PathBuf;
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

fn example(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/simulate")
        .join(name)
        .display()
        .to_string()
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The cells of the table's row whose label starts with `label`, one per allocator.
fn row(table: &str, label: &str) -> Vec<String> {
    let line = table
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no row '{label}' in\n{table}"));
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .skip(1)
        .map(str::to_string)
        .collect()
}

#[test]
fn simulate_prints_the_drf_shares_and_binpacks_packing() {
    // The DRF paper's example: A's and B's dominant shares both reach 2/3 (3 and 2 tasks).
    let table = stdout(&meseta(&[
        "simulate",
        &example("drf-paper.json"),
        "--allocator",
        "allocator-drf,allocator-binpack",
    ]));
    let header = table.lines().nth(1).unwrap();
    assert!(
        header.contains("allocator-drf") && header.contains("allocator-binpack"),
        "{table}"
    );
    for role in ["a", "b"] {
        let cells = row(&table, &format!("share {role} max"));
        assert_eq!(cells.len(), 2, "{table}");
        for c in cells {
            assert!(c.starts_with("0.667 / "), "role {role}: {c}\n{table}");
        }
    }
    assert_eq!(row(&table, "tasks launched"), vec!["15 / 15", "15 / 15"]);

    // Four tasks, one per offer, on four empty agents: DRF spreads them, binpack packs them.
    let table = stdout(&meseta(&[
        "simulate",
        &example("packing.json"),
        "--allocator",
        "allocator-drf",
        "--allocator",
        "allocator-binpack",
    ]));
    assert_eq!(
        row(&table, "agents used peak"),
        vec!["4 / 4", "1 / 1"],
        "{table}"
    );
}

#[test]
fn simulate_names_the_bad_field_and_the_unknown_allocator() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    let text = std::fs::read_to_string(example("packing.json"))
        .unwrap()
        .replace("\"duration\"", "\"duraton\"");
    std::fs::write(&bad, text).unwrap();
    let o = meseta(&["simulate", bad.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.json: tasks[0].duraton: unknown field `duraton`"),
        "{err}"
    );

    let o = meseta(&[
        "simulate",
        &example("packing.json"),
        "--allocator",
        "allocator-nope",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--allocator: no allocator module named 'allocator-nope'"),
        "{err}"
    );
    let o = meseta(&[
        "simulate",
        &example("packing.json"),
        "--allocator",
        "isolator-cgroups",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("is an isolator module, not an allocator"),
        "{err}"
    );
}

#[test]
fn generated_workloads_replay_to_json_and_charts() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w.json");
    let charts = dir.path().join("charts");
    stdout(&meseta(&[
        "simulate",
        "generate",
        "--agents",
        "20",
        "--frameworks",
        "3",
        "--tasks",
        "300",
        "--seed",
        "5",
        "--out",
        w.to_str().unwrap(),
    ]));
    let json = stdout(&meseta(&[
        "simulate",
        w.to_str().unwrap(),
        "--allocator",
        "allocator-drf,native:allocator-drf",
        "--format",
        "json",
        "--svg",
        charts.to_str().unwrap(),
    ]));
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for r in runs {
        assert_eq!(r["finished"], 300, "{r}");
        assert!(r["wait_s"]["p99"].as_f64().unwrap() >= r["wait_s"]["p50"].as_f64().unwrap());
    }
    assert_eq!(
        runs[0]["roles"], runs[1]["roles"],
        "the module and its twin agree"
    );
    let svgs: Vec<_> = std::fs::read_dir(&charts)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "svg"))
        .collect();
    assert_eq!(svgs.len(), 4, "{svgs:?}");
    assert!(charts.join("index.html").exists());
    for f in svgs {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            text.starts_with("<svg") && text.contains("allocator-drf"),
            "{}",
            f.display()
        );
    }
}
