#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! High availability on a real ZooKeeper (Debian's package, installed on first use): several
//! `meseta master` processes with the same `--zk` elect one leader; the others redirect to it;
//! the leader's death hands leadership over with the registry intact; a leader frozen past its
//! session never leads again.

use std::time::{Duration, Instant};

use meseta_tests::daemons::Daemon;
use meseta_tests::zookeeper::{ZooKeeper, unique_path};

const SESSION: &str = "2secs";
/// Session timeout plus the time a new leader needs to recover: generous for a loaded machine.
const FAILOVER: Duration = Duration::from_secs(20);

fn master(url: &str, dir: &std::path::Path) -> Daemon {
    meseta_tests::daemons::zk_master(url, dir, SESSION, &["--quorum", "1"]).unwrap()
}

/// `METHOD path` on `base` (`http://ip:port`): status, head, body.
fn request(base: &str, method: &str, path: &str, body: &str) -> (u16, String, String) {
    meseta_tests::daemons::http_request(base, method, path, &[], body).unwrap()
}

fn location(head: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("location")
            .then(|| v.trim().to_string())
    })
}

fn elected(m: &Daemon) -> Option<bool> {
    let (status, body) = m.get("/metrics/snapshot").ok()?;
    if status != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    Some(v["master/elected"].as_f64() == Some(1.0))
}

/// Waits until exactly one of `masters` leads (and has recovered); its index.
fn leader(masters: &[&Daemon], within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let leading: Vec<usize> = masters
            .iter()
            .enumerate()
            .filter(|(_, m)| elected(m) == Some(true))
            .map(|(i, _)| i)
            .collect();
        if leading.len() == 1 {
            return leading[0];
        }
        assert!(leading.len() < 2, "two masters lead at once: {leading:?}");
        assert!(
            Instant::now() < deadline,
            "no leader within {within:?}:\n{}",
            masters
                .iter()
                .map(|m| m.output())
                .collect::<Vec<_>>()
                .join("\n----\n")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn port(m: &Daemon) -> String {
    m.url.rsplit(':').next().unwrap_or_default().to_string()
}

#[test]
fn three_masters_elect_one_leader_that_fails_over_with_its_registry() {
    let zk = ZooKeeper::shared().unwrap();
    let url = zk.url(&unique_path("meseta-ha"));
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut masters: Vec<Daemon> = dirs.iter().map(|d| master(&url, d.path())).collect();
    let first = leader(&masters.iter().collect::<Vec<_>>(), FAILOVER);
    let leader_port = port(&masters[first]);

    // The standbys redirect to the leader, protocol-relative as Mesos does.
    let standby = &masters[(first + 1) % 3];
    let (status, head, _) = request(&standby.url, "GET", "/master/state?jsonp=x", "");
    assert_eq!(status, 307, "{head}");
    assert_eq!(
        location(&head),
        Some(format!("//127.0.0.1:{leader_port}/master/state?jsonp=x"))
    );
    let (status, head, _) = request(&standby.url, "POST", "/api/v1/scheduler", "{}");
    assert_eq!(status, 307, "{head}");
    assert_eq!(
        location(&head),
        Some(format!("//127.0.0.1:{leader_port}/api/v1/scheduler"))
    );
    let (status, head, _) = request(&standby.url, "GET", "/master/redirect", "");
    assert_eq!(
        (status, location(&head)),
        (307, Some(format!("//127.0.0.1:{leader_port}")))
    );
    assert_eq!(standby.get("/health").unwrap().0, 200, "answered locally");

    // A change the registry keeps, made on the leader.
    let (status, _, body) = request(
        &masters[first].url,
        "PUT",
        "/master/weights",
        r#"[{"role": "eng", "weight": 3.0}]"#,
    );
    assert_eq!(status, 200, "{body}");

    // The leader dies: another leads, with the registry the first one wrote to ZooKeeper.
    masters[first].kill9();
    let rest: Vec<usize> = (0..3).filter(|i| *i != first).collect();
    let second = rest[leader(&[&masters[rest[0]], &masters[rest[1]]], FAILOVER)];
    let (_, weights) = masters[second].get("/master/weights").unwrap();
    assert!(
        weights.contains("\"eng\"") && weights.contains('3'),
        "the new leader lost the registry's weights: {weights}"
    );

    // The old leader comes back as a standby of the new one.
    let dir = dirs[first].path().to_path_buf();
    masters[first] = master(&url, &dir);
    let deadline = Instant::now() + FAILOVER;
    loop {
        let (status, head, _) = request(&masters[first].url, "GET", "/master/state", "");
        if status == 307 {
            assert_eq!(
                location(&head),
                Some(format!(
                    "//127.0.0.1:{}/master/state",
                    port(&masters[second])
                ))
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the restarted master: {status} {head}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(elected(&masters[first]), Some(false));
    assert_eq!(elected(&masters[second]), Some(true));
    // Prometheus scrapes every master: a standby answers `/metrics` itself, not elected.
    let (status, text) = masters[first].get("/metrics").unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(
        text.lines().any(|l| l == "mesos_master_elected 0.0"),
        "{text}"
    );
}

#[test]
fn a_leader_frozen_past_its_session_never_leads_again() {
    let zk = ZooKeeper::shared().unwrap();
    let url = zk.url(&unique_path("meseta-ha"));
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut masters: Vec<Daemon> = dirs.iter().map(|d| master(&url, d.path())).collect();
    let first = leader(&masters.iter().collect::<Vec<_>>(), FAILOVER);
    let other = 1 - first;
    let pid = masters[first].pid().to_string();
    let signal = |sig: &str| {
        std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap();
    };
    signal("-STOP");
    // The other master leads once the frozen one's session expired.
    let deadline = Instant::now() + FAILOVER;
    while elected(&masters[other]) != Some(true) {
        assert!(
            Instant::now() < deadline,
            "no new leader: {}",
            masters[other].output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    signal("-CONT");
    // Resumed, it finds its leadership gone and exits as Mesos' master does, without leading.
    let status = masters[first].wait_exit(FAILOVER);
    assert!(
        status.is_some_and(|s| !s.success()),
        "the deposed leader did not exit: {status:?}\n{}",
        masters[first].output()
    );
    assert!(
        masters[first].output().contains("lost leadership"),
        "{}",
        masters[first].output()
    );
    assert_eq!(elected(&masters[other]), Some(true));
}

/// Two `meseta local --zk` on one ZooKeeper: the first one's master leads and both agents
/// register with it; when that whole process dies, the second one's master leads and its agent
/// follows it, under the same id.
#[test]
fn meseta_local_with_zk_follows_the_leader() {
    use meseta_tests::daemons::{Local, free_port};

    let zk = ZooKeeper::shared().unwrap();
    let url = zk.url(&unique_path("meseta-local-ha"));
    let local = |port: &str| {
        Local::start_with(&[
            "--zk",
            &url,
            "--zk_session_timeout",
            SESSION,
            "--agent_port",
            port,
        ])
        .unwrap()
    };
    let (p1, p2) = (
        free_port().unwrap().to_string(),
        free_port().unwrap().to_string(),
    );
    let mut one = local(&p1);
    let two = local(&p2);
    let agents = |l: &Local| -> Vec<(String, bool)> {
        let Ok((200, body)) = l.get("/master/slaves") else {
            return Vec::new();
        };
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        v["slaves"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                (
                    format!("{}|{}", a["id"].as_str().unwrap_or(""), a["port"]),
                    a["active"].as_bool() == Some(true),
                )
            })
            .collect()
    };
    let before = agents(&one);
    assert_eq!(
        before.len(),
        2,
        "both agents register with the leader: {before:?}"
    );
    let second_agent = before
        .iter()
        .find(|(a, _)| a.ends_with(&format!("|{p2}")))
        .map(|(a, _)| a.clone())
        .unwrap_or_else(|| panic!("no agent on port {p2}: {before:?}"));
    let (status, _) = two.get("/master/state").unwrap();
    assert_eq!(status, 307, "the second master stands by");

    one.kill9();
    let deadline = Instant::now() + FAILOVER;
    loop {
        let now = agents(&two);
        if now.iter().any(|(a, active)| *a == second_agent && *active) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the second agent never re-registered with the new leader: {now:?}\n{}",
            two.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
