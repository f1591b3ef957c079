//! The cost of one authorization decision: Mesos' local ACL authorizer over a realistic ACL
//! (21 rules over eight actions, hierarchical roles, a catch-all deny), natively
//! (`--authorizers=local`) and through the shipped Wasm module (`--authorizers=authorizer-local`),
//! both through `meseta_authorizer::Authorizer` as the daemons call it.

use std::time::{Duration, Instant};

use meseta_authorizer::{Action, Authorizer, Object, Request};
use serde_json::json;

use crate::{BenchOptions, Report, progress};

/// A cluster's ACLs: frameworks per team and role, operators, monitoring, and unauthenticated
/// access confined to a few read-only views.
pub const ACLS: &str = r#"{
  "permissive": false,
  "register_frameworks": [
    {"principals": {"values": ["payroll"]}, "roles": {"values": ["accounting", "accounting/%"]}},
    {"principals": {"values": ["marathon", "aurora"]}, "roles": {"values": ["web", "batch", "services/%"]}},
    {"principals": {"values": ["spark"]}, "roles": {"values": ["analytics/%"]}},
    {"principals": {"values": ["ops"]}, "roles": {"type": "ANY"}},
    {"principals": {"type": "ANY"}, "roles": {"type": "NONE"}}
  ],
  "run_tasks": [
    {"principals": {"values": ["marathon", "aurora"]}, "users": {"values": ["www-data", "app"]}},
    {"principals": {"values": ["spark"]}, "users": {"values": ["spark", "hadoop"]}},
    {"principals": {"values": ["ops"]}, "users": {"type": "ANY"}},
    {"principals": {"type": "ANY"}, "users": {"values": ["root"]}}
  ],
  "reserve_resources": [
    {"principals": {"values": ["ops"]}, "roles": {"type": "ANY"}},
    {"principals": {"values": ["marathon"]}, "roles": {"values": ["services/%"]}},
    {"principals": {"type": "ANY"}, "roles": {"type": "NONE"}}
  ],
  "teardown_frameworks": [
    {"principals": {"values": ["ops"]}, "framework_principals": {"type": "ANY"}},
    {"principals": {"type": "ANY"}, "framework_principals": {"type": "NONE"}}
  ],
  "get_endpoints": [
    {"principals": {"values": ["ops", "prometheus"]}, "paths": {"values": ["/metrics/snapshot", "/monitor/statistics"]}},
    {"principals": {"type": "ANY"}, "paths": {"type": "NONE"}}
  ],
  "view_frameworks": [
    {"principals": {"type": "ANY"}, "users": {"values": ["www-data", "app", "spark"]}}
  ],
  "view_tasks": [
    {"principals": {"values": ["ops"]}, "users": {"type": "ANY"}},
    {"principals": {"type": "ANY"}, "users": {"values": ["root"]}}
  ],
  "update_quotas": [
    {"principals": {"values": ["ops"]}, "roles": {"type": "ANY"}},
    {"principals": {"type": "ANY"}, "roles": {"type": "NONE"}}
  ]
}"#;

fn requests() -> Vec<Request> {
    let r = |subject: Option<&str>, action: Action, value: Option<&str>| Request {
        subject: subject.map(str::to_string),
        action,
        object: Object {
            value: value.map(str::to_string),
            framework_id: Some("7f3c2a1e-0000-4000-8000-000000000001-0003".into()),
            ..Object::default()
        },
    };
    use Action::*;
    vec![
        r(Some("payroll"), RegisterFramework, Some("accounting")),
        r(Some("payroll"), RegisterFramework, Some("accounting/eu")),
        r(Some("marathon"), RegisterFramework, Some("services/api")),
        r(Some("spark"), RegisterFramework, Some("analytics")),
        r(Some("intruder"), RegisterFramework, Some("web")),
        r(None, RegisterFramework, Some("web")),
        r(Some("marathon"), RunTask, Some("www-data")),
        r(Some("spark"), RunTask, Some("hadoop")),
        r(Some("spark"), RunTask, Some("root")),
        r(Some("ops"), RunTask, Some("root")),
        r(Some("aurora"), RunTask, Some("app")),
        r(Some("marathon"), ReserveResources, Some("services/db")),
        r(Some("marathon"), ReserveResources, Some("web")),
        r(Some("ops"), TeardownFramework, Some("spark")),
        r(Some("spark"), TeardownFramework, Some("marathon")),
        r(Some("prometheus"), GetEndpoint, Some("/metrics/snapshot")),
        r(None, GetEndpoint, Some("/metrics/snapshot")),
        r(None, ViewFramework, Some("www-data")),
        r(Some("dev"), ViewFramework, Some("root")),
        r(Some("ops"), ViewTask, Some("root")),
        r(Some("dev"), ViewTask, Some("app")),
        r(Some("ops"), UpdateQuota, Some("analytics")),
        r(Some("dev"), UpdateQuota, Some("analytics")),
        r(Some("dev"), ViewRole, Some("web")),
    ]
}

/// Per-decision latencies of `iters` decisions cycling through `reqs` (after a warm-up), sorted.
fn sample(a: &Authorizer, reqs: &[Request], iters: usize) -> Vec<Duration> {
    for r in reqs.iter().cycle().take(iters.min(2_000)) {
        std::hint::black_box(a.authorized(r));
    }
    let mut v = Vec::with_capacity(iters);
    for r in reqs.iter().cycle().take(iters) {
        let t = Instant::now();
        std::hint::black_box(a.authorized(r));
        v.push(t.elapsed());
    }
    v.sort();
    v
}

fn pct(v: &[Duration], p: f64) -> Duration {
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).copied().unwrap_or_default()
}

pub fn run(o: &BenchOptions) -> anyhow::Result<Vec<Report>> {
    let name = "authorizer";
    let iters = if o.quick { 5_000 } else { 200_000 };
    let acls = ACLS;
    let reqs = requests();
    progress(
        name,
        format!(
            "{iters} decisions over {} requests, local ACL authorizer native and Wasm",
            reqs.len()
        ),
    );
    let native = Authorizer::local(Some(acls)).map_err(anyhow::Error::msg)?;
    let wasm = Authorizer::resolve("authorizer-local", Some(acls), |n| {
        crate::load_builtin(n, &[]).map_err(|e| format!("{e:#}"))
    })
    .map_err(anyhow::Error::msg)?;
    let answers = |a: &Authorizer| reqs.iter().map(|r| a.authorized(r)).collect::<Vec<_>>();
    let expected = answers(&native);
    let consistent = expected == answers(&wasm);
    let allowed = expected.iter().filter(|x| **x).count();
    let n = sample(&native, &reqs, iters);
    let w = sample(&wasm, &reqs, iters);
    let (n50, w50) = (pct(&n, 0.5), pct(&w, 0.5));
    let faults = wasm.counters().faults.total();
    let mut rep = Report::new(
        name,
        json!({"rules": 21, "requests": reqs.len(), "decisions": iters}),
        n50,
        w50,
    );
    rep.consistent = consistent && faults == 0;
    rep.set("native_p99_us", pct(&n, 0.99).as_secs_f64() * 1e6);
    rep.set("wasm_p99_us", pct(&w, 0.99).as_secs_f64() * 1e6);
    rep.set("allowed", format!("{allowed} of {}", reqs.len()));
    rep.set(
        "anchor_note",
        "Mesos' local authorizer is in-process C++ behind a libprocess dispatch (no published per-call figure)",
    );
    rep.goal("one Wasm decision <= 5 us p50", w50.as_nanos() <= 5_000);
    Ok(vec![rep])
}
