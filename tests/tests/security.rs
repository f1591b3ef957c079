#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Securing a cluster as Mesos does: credentials and realms (401 with `WWW-Authenticate`),
//! framework principals, agents that authenticate to the master, ACLs deciding who may
//! register in a role, run tasks, tear down, change weights and see what (403 with the reason,
//! views filtered), and executors that authenticate to their agent with their own token.
//! Real `meseta` processes, pymesos with credentials, raw HTTP for the refusals.

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use meseta_tests::daemons::{AgentProcess, Local, http_request, in_memory_master};
use meseta_tests::prereqs::run_pymesos_check;
use meseta_tests::scheduler::{
    OperatorStream, Scheduler, offer_ids, post_call_with, post_with_headers, task,
};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);

fn basic(principal: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{principal}:{secret}"))
    )
}

fn credentials_file(dir: &Path) -> String {
    let path = dir.join("credentials.json");
    std::fs::write(
        &path,
        json!({"credentials": [
            {"principal": "ops", "secret": "ops-secret"},
            {"principal": "alice", "secret": "alice-secret"},
            {"principal": "bob", "secret": "bob-secret"},
            {"principal": "carol", "secret": "carol-secret"},
        ]})
        .to_string(),
    )
    .unwrap();
    path.display().to_string()
}

const ACLS: &str = r#"{
  "permissive": false,
  "register_frameworks": [
    {"principals": {"values": ["alice", "carol"]}, "roles": {"values": ["web"]}}
  ],
  "run_tasks": [{"principals": {"values": ["alice"]}, "users": {"type": "ANY"}}],
  "teardown_frameworks": [
    {"principals": {"values": ["ops"]}, "framework_principals": {"type": "ANY"}}
  ],
  "view_frameworks": [{"principals": {"values": ["ops", "alice"]}, "users": {"type": "ANY"}}],
  "view_tasks": [{"principals": {"values": ["ops", "alice"]}, "users": {"type": "ANY"}}],
  "view_executors": [{"principals": {"values": ["ops", "alice"]}, "users": {"type": "ANY"}}],
  "view_roles": [{"principals": {"type": "ANY"}, "roles": {"type": "ANY"}}],
  "view_flags": [{"principals": {"values": ["ops"]}, "flags": {"type": "ANY"}}],
  "get_endpoints": [{"principals": {"values": ["ops"]}, "paths": {"type": "ANY"}}],
  "register_agents": [{"principals": {"type": "ANY"}, "agents": {"type": "ANY"}}],
  "update_weights": [{"principals": {"values": ["ops"]}, "roles": {"type": "ANY"}}]
}"#;

fn get(base: &str, path: &str, auth: Option<&str>) -> (u16, String, String) {
    let headers: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
    http_request(base, "GET", path, &headers, "").unwrap()
}

fn authority(url: &str) -> &str {
    url.trim_start_matches("http://")
}

/// Runs `tests/compat/pymesos_auth.py` against `master`: every check must pass.
fn pymesos_auth(master: &str, args: &[&str], context: &dyn Fn() -> String) {
    run_pymesos_check("pymesos_auth.py", master, args, 60, context).unwrap();
}

#[test]
fn credentials_realms_principals_and_acls_as_mesos_has_them() {
    let dir = tempfile::tempdir().unwrap();
    let credentials = credentials_file(dir.path());
    let local = Local::start_with(&[
        "--credentials",
        &credentials,
        "--authenticate_http_frameworks",
        "--http_framework_authenticators=basic",
        "--authenticate_http_readonly",
        "--authenticate_http_readwrite=true",
        "--authenticate_agents",
        "--acls",
        ACLS,
    ])
    .unwrap();
    let url = local.url.clone();
    let ops = basic("ops", "ops-secret");
    let alice = basic("alice", "alice-secret");
    let bob = basic("bob", "bob-secret");
    let carol = basic("carol", "carol-secret");

    // Realms: open, readonly, readwrite, scheduler.
    assert_eq!(get(&url, "/health", None).0, 200);
    let (code, head, _) = get(&url, "/master/state", None);
    assert_eq!(code, 401, "{head}");
    assert!(
        head.to_lowercase()
            .contains("www-authenticate: basic realm=\"mesos-master-readonly\""),
        "{head}"
    );
    let (code, _, _) = get(&url, "/master/state", Some(&basic("ops", "wrong")));
    assert_eq!(code, 401);
    let (code, head, _) =
        http_request(&url, "POST", "/api/v1", &[], r#"{"type":"GET_HEALTH"}"#).unwrap();
    assert_eq!(code, 401);
    assert!(head.contains("mesos-master-readwrite"), "{head}");
    let (code, body) = post_with_headers(
        authority(&url),
        "/api/v1",
        &[("Authorization", &ops)],
        br#"{"type":"GET_HEALTH"}"#,
    )
    .unwrap();
    assert_eq!(code, 200, "{body}");

    // The agent authenticated with the first credential `meseta local` gives it.
    let (code, _, state) = get(&url, "/master/state", Some(&ops));
    assert_eq!(code, 200);
    let state: Value = serde_json::from_str(&state).unwrap();
    assert_eq!(state["slaves"].as_array().unwrap().len(), 1, "{state}");

    // Secrets are nowhere in the flags or the state; the flags are for ops only.
    let (code, _, flags) = get(&url, "/master/flags", Some(&ops));
    assert_eq!(code, 200);
    assert!(flags.contains("credentials.json"), "{flags}");
    let (_, _, all) = get(&url, "/master/state", Some(&ops));
    for text in [&flags, &all, &local.output()] {
        assert!(!text.contains("-secret"), "a secret leaked: {text}");
    }
    let (code, _, why) = get(&url, "/master/flags", Some(&alice));
    assert_eq!(code, 403, "{why}");
    assert!(why.contains("view_flags"), "{why}");

    // Frameworks: no credentials is 401; credentials for another principal is 400.
    let subscribe = |principal: Option<&str>, role: &str| {
        let mut info = json!({"user": "root", "name": "sec", "role": role});
        if let Some(p) = principal {
            info["principal"] = json!(p);
        }
        json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}).to_string()
    };
    let (code, body) = post_call_with(
        authority(&url),
        None,
        None,
        subscribe(None, "web").as_bytes(),
    )
    .unwrap();
    assert_eq!(code, 401, "{body}");
    let (code, body) = post_call_with(
        authority(&url),
        None,
        Some(&alice),
        subscribe(Some("bob"), "web").as_bytes(),
    )
    .unwrap();
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("does not match"), "{body}");

    // pymesos with credentials: alice runs a task in `web`; bob, and alice in `batch`, are
    // refused with an ERROR event.
    let context = || local.output();
    pymesos_auth(
        &url,
        &[
            "--principal",
            "alice",
            "--secret",
            "alice-secret",
            "--role",
            "web",
        ],
        &context,
    );
    pymesos_auth(
        &url,
        &[
            "--principal",
            "bob",
            "--secret",
            "bob-secret",
            "--role",
            "web",
            "--refused",
        ],
        &context,
    );
    pymesos_auth(
        &url,
        &[
            "--principal",
            "alice",
            "--secret",
            "alice-secret",
            "--role",
            "batch",
            "--refused",
        ],
        &context,
    );

    // Operator event streams are filtered as the state is: ops follows everything, bob (who
    // may view no framework) gets the state without frameworks and no framework's events.
    let ops_stream = OperatorStream::open(authority(&url), Some(&ops)).unwrap();
    let bob_stream = OperatorStream::open(authority(&url), Some(&bob)).unwrap();
    let first = bob_stream.next(T).unwrap();
    assert_eq!(first["type"], "SUBSCRIBED", "{first}");
    let state = &first["subscribed"]["get_state"];
    assert_eq!(
        state["get_frameworks"]["frameworks"],
        json!([]),
        "bob sees no framework: {first}"
    );
    assert_eq!(state["get_tasks"]["completed_tasks"], json!([]), "{first}");
    assert_eq!(ops_stream.next(T).unwrap()["type"], "SUBSCRIBED");

    // carol may register in `web` but not run tasks: TASK_ERROR, REASON_TASK_UNAUTHORIZED.
    let mut s = Scheduler::subscribe_with(
        authority(&url),
        json!({"user": "root", "name": "carol-fw", "role": "web"}),
        Some(&carol),
    )
    .unwrap();
    let offers = s.wait_offers(T).unwrap();
    let agent = offers[0]["agent_id"]["value"].as_str().unwrap();
    let (code, body) = s
        .accept(
            &offer_ids(&offers[..1]),
            json!([task("carol-task", agent, "true", 0.1, 32.0)]),
            0.0,
        )
        .unwrap();
    assert_eq!(code, 202, "{body}");
    let status = s.wait_update("carol-task", T).unwrap();
    assert_eq!(status["state"], "TASK_ERROR", "{status}");
    assert_eq!(status["reason"], "REASON_TASK_UNAUTHORIZED", "{status}");
    assert!(
        status["message"].as_str().unwrap().contains("run_tasks"),
        "{status}"
    );
    // ops saw carol's framework arrive and her task fail; bob saw neither (events go to every
    // stream in the same batch, so bob's would be there by now: one second is plenty).
    let (mut added, mut failed) = (false, false);
    while !(added && failed) {
        let event = ops_stream
            .next_change(T)
            .expect("ops's stream has carol's framework and task");
        added |= event["type"] == "FRAMEWORK_ADDED"
            && event["framework_added"]["framework"]["framework_info"]["name"] == "carol-fw";
        failed |= event["type"] == "TASK_UPDATED"
            && event["task_updated"]["status"]["task_id"]["value"] == "carol-task";
    }
    if let Some(event) = bob_stream.next_change(Duration::from_secs(1)) {
        panic!("bob may view no framework, yet his stream got {event}");
    }
    // The framework's calls must come with its principal's credentials.
    let (code, body) = post_call_with(
        authority(&url),
        Some(s.stream_id()),
        Some(&alice),
        json!({"type": "REVIVE", "framework_id": {"value": s.framework_id()}})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(code, 400, "{body}");

    // Views: bob sees no frameworks and no flags; ops sees carol's.
    let (_, _, seen) = get(&url, "/master/state", Some(&bob));
    let seen: Value = serde_json::from_str(&seen).unwrap();
    assert_eq!(seen["frameworks"], json!([]), "{seen}");
    assert!(seen.get("flags").is_none(), "{seen}");
    let (_, _, seen) = get(&url, "/master/frameworks", Some(&ops));
    assert!(seen.contains("carol-fw"), "{seen}");
    let (code, _, _) = get(&url, "/metrics/snapshot", Some(&bob));
    assert_eq!(code, 403);
    let (code, _, _) = get(&url, "/metrics/snapshot", Some(&ops));
    assert_eq!(code, 200);

    // Mutations: bob may not tear carol down, nor alice change a weight; ops may do both.
    let form = format!("frameworkId={}", s.framework_id());
    let headers = [
        ("Authorization", bob.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    let (code, _, why) = http_request(&url, "POST", "/master/teardown", &headers, &form).unwrap();
    assert_eq!(code, 403, "{why}");
    assert!(why.contains("teardown_frameworks"), "{why}");
    let weights = r#"[{"role": "web", "weight": 2.0}]"#;
    let (code, _, _) = http_request(
        &url,
        "PUT",
        "/master/weights",
        &[("Authorization", alice.as_str())],
        weights,
    )
    .unwrap();
    assert_eq!(code, 403);
    let (code, _, _) = http_request(
        &url,
        "PUT",
        "/master/weights",
        &[("Authorization", ops.as_str())],
        weights,
    )
    .unwrap();
    assert_eq!(code, 200);
    let headers = [
        ("Authorization", ops.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    let (code, _, why) = http_request(&url, "POST", "/master/teardown", &headers, &form).unwrap();
    assert_eq!(code, 200, "{why}");
    assert!(s.wait_closed(T), "the torn-down framework's stream ends");

    // An agent without credentials is refused (401) and never registers.
    let work = tempfile::tempdir().unwrap();
    let intruder =
        AgentProcess::start(authority(&url), 0, work.path(), "cpus:1;mem:256", &[]).unwrap();
    let deadline = Instant::now() + T;
    while !intruder.output().contains("code=401") {
        assert!(
            Instant::now() < deadline,
            "the agent without --credential was not refused\n{}",
            intruder.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        intruder.output().contains("--credential"),
        "the refusal says what to do\n{}",
        intruder.output()
    );
    let (_, _, state) = get(&url, "/master/state", Some(&ops));
    let state: Value = serde_json::from_str(&state).unwrap();
    assert_eq!(state["slaves"].as_array().unwrap().len(), 1, "{state}");
}

#[test]
fn executors_authenticate_to_their_agent_with_their_own_token() {
    let dir = tempfile::tempdir().unwrap();
    let master_dir = dir.path().join("master");
    let master = in_memory_master(&master_dir).unwrap();
    let key = dir.path().join("executor.key");
    std::fs::write(&key, "an executor secret key of 32 bytes").unwrap();
    let work = dir.path().join("agent");
    let agent = AgentProcess::start(
        authority(&master.url),
        0,
        &work,
        "cpus:2;mem:512",
        &[
            "--authenticate_http_executors",
            "--executor_secret_key",
            key.to_str().unwrap(),
        ],
    )
    .unwrap();

    let mut s = Scheduler::subscribe(
        authority(&master.url),
        json!({"user": "root", "name": "tokens"}),
    )
    .unwrap();
    let offers = s.wait_offers(T).unwrap();
    let agent_id = offers[0]["agent_id"]["value"].as_str().unwrap().to_string();
    let tokens = dir.path().join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let executor_task = |n: &str| {
        let file = tokens.join(n);
        json!({
            "name": n, "task_id": {"value": n}, "agent_id": {"value": agent_id},
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                          {"name": "mem", "type": "SCALAR", "scalar": {"value": 32.0}}],
            "executor": {
                "executor_id": {"value": format!("exec-{n}")},
                "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                              {"name": "mem", "type": "SCALAR", "scalar": {"value": 32.0}}],
                "command": {"value": format!(
                    "printf %s \"$MESOS_EXECUTOR_AUTHENTICATION_TOKEN\" > {f}.tmp && mv {f}.tmp {f}; exec sleep 120",
                    f = file.display()
                )},
            },
        })
    };
    let (code, body) = s
        .accept(
            &offer_ids(&offers[..1]),
            json!([executor_task("one"), executor_task("two")]),
            0.0,
        )
        .unwrap();
    assert_eq!(code, 202, "{body}");
    let token = |n: &str| {
        let file = tokens.join(n);
        let deadline = Instant::now() + T;
        loop {
            if let Ok(t) = std::fs::read_to_string(&file) {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "executor {n} never wrote its token\n{}",
                agent.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let (one, two) = (token("one"), token("two"));
    assert!(one.len() > 20 && one != two, "each executor has a token");

    let message = |executor: &str, auth: Option<String>| {
        let body = json!({
            "type": "MESSAGE",
            "framework_id": {"value": s.framework_id()},
            "executor_id": {"value": executor},
            "message": {"data": "aGk="},
        })
        .to_string();
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| ("Authorization", a))
            .into_iter()
            .collect();
        let (code, head, body) =
            http_request(&agent.url, "POST", "/api/v1/executor", &headers, &body).unwrap();
        (code, format!("{head}\n{body}"))
    };
    let (code, text) = message("exec-one", None);
    assert_eq!(code, 401, "{text}");
    assert!(text.contains("mesos-agent-executor"), "{text}");
    let (code, text) = message("exec-one", Some("Bearer not-a-token".into()));
    assert_eq!(code, 401, "{text}");
    let (code, text) = message("exec-one", Some(format!("Bearer {two}")));
    assert_eq!(code, 403, "another executor's token: {text}");
    let (code, text) = message("exec-one", Some(format!("Bearer {one}")));
    assert_eq!(code, 202, "its own token: {text}");
    let event = s
        .wait_for(|e| e["type"] == "MESSAGE", T)
        .unwrap_or_else(|e| panic!("{e:?}\n{}", agent.output()));
    assert_eq!(event["message"]["executor_id"]["value"], "exec-one");

    // The tokens are in no state an operator or a framework reads.
    let (_, state) = meseta_tests::daemons::http_get(&agent.url, "/state").unwrap();
    let (_, master_state) = master.get("/master/state").unwrap();
    let (_, flags) = meseta_tests::daemons::http_get(&agent.url, "/flags").unwrap();
    assert!(
        flags.contains(r#""authenticate_http_executors":"true""#),
        "{flags}"
    );
    let key_text = std::fs::read_to_string(&key).unwrap();
    for text in [&state, &master_state, &agent.output(), &flags] {
        assert!(!text.contains(&one), "a token leaked: {text}");
        assert!(!text.contains(key_text.trim()), "the key leaked: {text}");
    }
    s.teardown().unwrap();
}
