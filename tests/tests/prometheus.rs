#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `GET /metrics` on a running `meseta local`: the master's and the agent's expositions parse
//! with the official Prometheus Python client's text parser, in a venv made on first use
//! (`ci/setup-prometheus-client.sh`), and show what moved after a real task ran.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use meseta_tests::daemons::{Local, http_get};
use meseta_tests::prereqs::prometheus_python;
use meseta_tests::scheduler::{Scheduler, offer_ids, task};
use serde_json::{Value, json};

/// Parses an exposition with `prometheus_client.parser.text_string_to_metric_families` and
/// returns its families as JSON: `[{"name", "type", "samples": [{"name", "labels", "value"}]}]`.
/// A text the parser refuses fails the test with the parser's error.
fn parse(text: &str) -> Vec<Value> {
    const SCRIPT: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type, "samples": [
        {"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples]})
print(json.dumps(out))
"#;
    let python = prometheus_python().unwrap();
    let mut child = Command::new(python)
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused the exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn family<'a>(families: &'a [Value], name: &str) -> &'a Value {
    families
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no family {name} in {families:?}"))
}

/// The value of the sample `name` whose labels include `labels`.
fn sample(families: &[Value], family_name: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    family(families, family_name)["samples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name && labels.iter().all(|(k, v)| s["labels"][*k] == *v))
        .and_then(|s| s["value"].as_f64())
        .unwrap_or_else(|| panic!("no sample {name}{labels:?} in {family_name}"))
}

/// `GET base/metrics`: the Content-Type the format asks for, and the body.
fn scrape(base: &str) -> String {
    let address = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.lines().any(|l| l
            .to_ascii_lowercase()
            .starts_with("content-type: text/plain; version=0.0.4")),
        "{head}"
    );
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    body.to_string()
}

#[test]
fn master_and_agent_metrics_parse_and_move() {
    let local = Local::start().unwrap();
    let address = local.url.trim_start_matches("http://").to_string();
    let mut s = Scheduler::subscribe(&address, json!({"name": "scraped", "user": "root"})).unwrap();
    let offers = s.wait_offers(Duration::from_secs(20)).unwrap();
    let agent_id = offers[0]["agent_id"]["value"].as_str().unwrap().to_string();
    let (status, body) = s
        .accept(
            &offer_ids(&offers),
            json!([task("t1", &agent_id, "true", 0.1, 32.0)]),
            1.0,
        )
        .unwrap();
    assert_eq!(status, 202, "{body}");
    s.wait_state("t1", "TASK_FINISHED", Duration::from_secs(30))
        .unwrap();

    let master = parse(&scrape(&local.url));
    assert_eq!(
        sample(&master, "mesos_master_elected", "mesos_master_elected", &[]),
        1.0
    );
    assert_eq!(
        family(&master, "mesos_master_task_states_exit")["type"],
        "counter"
    );
    assert!(
        sample(
            &master,
            "mesos_master_task_states_exit",
            "mesos_master_task_states_exit_total",
            &[("state", "finished")]
        ) >= 1.0,
        "the finished task is counted"
    );
    assert_eq!(
        sample(
            &master,
            "mesos_master_slaves_state",
            "mesos_master_slaves_state",
            &[("state", "connected_active")]
        ),
        1.0
    );
    // The framework's role is listed with its dominant share (a fraction of the cluster).
    let share = sample(
        &master,
        "mesos_master_allocator_role_shares_dominant",
        "mesos_master_allocator_role_shares_dominant",
        &[("role", "*")],
    );
    assert!((0.0..=1.0).contains(&share), "dominant share {share}");
    let drf = [("module", "allocator-drf"), ("kind", "allocator")];
    let calls = sample(
        &master,
        "meseta_module_calls",
        "meseta_module_calls_total",
        &drf,
    );
    assert!(calls > 0.0, "the allocator module was called");
    let latency = family(&master, "meseta_module_call_duration_seconds");
    assert_eq!(latency["type"], "histogram");
    let buckets: Vec<&Value> = latency["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| {
            s["name"] == "meseta_module_call_duration_seconds_bucket"
                && s["labels"]["module"] == "allocator-drf"
        })
        .collect();
    assert!(buckets.len() > 2, "{latency}");
    let count = sample(
        &master,
        "meseta_module_call_duration_seconds",
        "meseta_module_call_duration_seconds_count",
        &drf,
    );
    assert!(count > 0.0, "{latency}");
    let inf = sample(
        &master,
        "meseta_module_call_duration_seconds",
        "meseta_module_call_duration_seconds_bucket",
        &[("module", "allocator-drf"), ("le", "+Inf")],
    );
    assert_eq!(inf, count, "+Inf holds every call: {latency}");
    let values: Vec<f64> = buckets
        .iter()
        .map(|b| b["value"].as_f64().unwrap())
        .collect();
    assert!(
        values.windows(2).all(|w| w[0] <= w[1]),
        "cumulative: {values:?}"
    );
    assert!(
        sample(
            &master,
            "meseta_module_faults",
            "meseta_module_faults_total",
            &[("module", "allocator-drf"), ("cause", "trap")]
        ) == 0.0
    );

    // The agent, found where the master says it is.
    let (_, slaves) = http_get(&local.url, "/master/slaves").unwrap();
    let slaves: Value = serde_json::from_str(&slaves).unwrap();
    let port = slaves["slaves"][0]["port"].as_u64().unwrap();
    let agent = parse(&scrape(&format!("http://127.0.0.1:{port}")));
    assert_eq!(
        sample(
            &agent,
            "mesos_slave_registered",
            "mesos_slave_registered",
            &[]
        ),
        1.0
    );
    assert!(
        sample(
            &agent,
            "mesos_slave_task_states_exit",
            "mesos_slave_task_states_exit_total",
            &[("state", "finished")]
        ) >= 1.0,
        "the agent counts the finished task"
    );
    assert!(
        sample(
            &agent,
            "mesos_slave_cpus",
            "mesos_slave_cpus",
            &[("type", "total")]
        ) > 0.0
    );
}
