#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! `meseta bench ha-failover --quick` on the real binary completes and its checks hold (every
//! agent back under its id, the framework's tasks known, the offer's agents known): a smoke
//! test, not a timing. The bench runs its own ZooKeeper but installs nothing, so this installs
//! Debian's package first when missing, as the other ZooKeeper tests do; CI's `meseta bench
//! --quick` (`.ci/run`, after the tests) then finds it too.

use std::process::Command;

use meseta_tests::daemons::workspace_binary;
use meseta_tests::zookeeper::ensure_installed;

#[test]
fn ha_failover_quick_is_consistent() {
    ensure_installed().unwrap();
    let meseta = workspace_binary("meseta", "meseta-cli").unwrap();
    let out = Command::new(meseta)
        .args(["bench", "ha-failover", "--quick", "--format", "json"])
        .env("MESETA_LOG", "error")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "meseta bench ha-failover --quick: {}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        out.status
    );
    let report: serde_json::Value = stdout
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON report on stdout:\n{stdout}\n{stderr}"));
    assert_eq!(report["scenario"], "ha-failover", "{report}");
    assert_eq!(report["consistent"], true, "{report}\n{stderr}");
    assert_eq!(report["params"]["agents"], 50, "{report}");
}
