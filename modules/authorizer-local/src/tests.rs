#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use meseta_types::authorization::Object;

fn req(subject: Option<&str>, action: Action, value: Option<&str>) -> Request {
    Request {
        subject: subject.map(str::to_string),
        action,
        object: Object {
            value: value.map(str::to_string),
            ..Object::default()
        },
    }
}

fn acls(json: &str) -> LocalAuthorizer {
    LocalAuthorizer::from_json(json).unwrap_or_else(|e| panic!("{json}: {e}"))
}

fn err(json: &str) -> String {
    LocalAuthorizer::from_json(json).expect_err(json)
}

fn some(values: &[&str]) -> Entity {
    Entity::Some(values.iter().map(|s| s.to_string()).collect())
}

/// Mesos' match and allow matrices, for requests SOME{"a"} and ANY against every rule type.
#[test]
fn match_and_allow_matrices() {
    // (request, acl, matches, allows)
    let table: &[(Option<&str>, Entity, bool, bool)] = &[
        (Some("a"), some(&["a", "b"]), true, true),
        (Some("a"), some(&["b"]), false, false),
        (Some("a"), some(&[]), false, false),
        (Some("a"), Entity::Any, true, true),
        (Some("a"), Entity::None, true, false),
        (None, some(&["a"]), false, false),
        (None, Entity::Any, true, true),
        (None, Entity::None, true, false),
    ];
    for (request, acl, m, a) in table {
        assert_eq!(matches(*request, acl), *m, "matches({request:?}, {acl:?})");
        assert_eq!(allows(*request, acl), *a, "allows({request:?}, {acl:?})");
    }
}

#[test]
fn no_acls_allow_everything() {
    let a = LocalAuthorizer::default();
    assert!(a.allows_everything());
    for action in Action::ALL {
        assert!(a.allows_all(action));
        assert!(a.decide(&req(None, action, None)));
        assert!(a.decide(&req(Some("x"), action, Some("y"))));
    }
    let a = acls("{}");
    assert!(a.allows_everything());
    let a = acls(r#"{"permissive": true, "run_tasks": []}"#);
    assert!(a.allows_everything());
    let a = acls(r#"{"permissive": false}"#);
    assert!(!a.allows_everything());
    assert!(!a.decide(&req(Some("x"), Action::RunTask, Some("root"))));
    let a = Create::create(&[]).map(|a: LocalAuthorizer| a.allows_everything());
    assert_eq!(a, Ok(true));
}

/// The example of Mesos' docs: payroll may register in accounting, nobody else may register
/// anywhere; eng descendants may be reserved by anyone.
#[test]
fn mesos_docs_example() {
    let a = acls(
        r#"{"permissive": false,
            "register_frameworks": [
                {"principals": {"values": ["payroll"]}, "roles": {"values": ["accounting"]}},
                {"principals": {"type": "ANY"}, "roles": {"type": "NONE"}}],
            "reserve_resources": [{"principals": {"type": "ANY"}, "roles": {"values": ["eng/%"]}}],
            "get_endpoints": [{"principals": {"values": ["ops"]}, "paths": {"values": ["/metrics/snapshot"]}}]}"#,
    );
    assert!(!a.allows_everything());
    assert!(!a.allows_all(Action::RunTask)); // not permissive
    let r = Action::RegisterFramework;
    let table: &[(Option<&str>, Action, Option<&str>, bool)] = &[
        (Some("payroll"), r, Some("accounting"), true),
        // payroll in another role: the first rule does not match, the catch-all denies
        (Some("payroll"), r, Some("eng"), false),
        (Some("ads"), r, Some("accounting"), false),
        // unauthenticated: skips the SOME rule, the ANY/NONE rule denies
        (None, r, Some("accounting"), false),
        (Some("x"), Action::ReserveResources, Some("eng/a"), true),
        (Some("x"), Action::ReserveResources, Some("eng/a/b"), true),
        (None, Action::ReserveResources, Some("eng/a"), true),
        // eng itself is not a descendant: no rule matches, not permissive
        (Some("x"), Action::ReserveResources, Some("eng"), false),
        (
            Some("x"),
            Action::ReserveResources,
            Some("engineering/a"),
            false,
        ),
        (
            Some("ops"),
            Action::GetEndpoint,
            Some("/metrics/snapshot"),
            true,
        ),
        (
            Some("dev"),
            Action::GetEndpoint,
            Some("/metrics/snapshot"),
            false,
        ),
        (
            Some("ops"),
            Action::GetEndpoint,
            Some("/files/debug"),
            false,
        ),
        (Some("ops"), Action::RunTask, Some("root"), false),
    ];
    for (subject, action, value, expected) in table {
        assert_eq!(
            a.decide(&req(*subject, *action, *value)),
            *expected,
            "{subject:?} {action:?} {value:?}"
        );
    }
}

#[test]
fn first_matching_rule_decides() {
    let a = acls(
        r#"{"run_tasks": [
            {"principals": {"values": ["alice"]}, "users": {"type": "NONE"}},
            {"principals": {"values": ["alice", "bob"]}, "users": {"values": ["web"]}},
            {"principals": {"type": "ANY"}, "users": {"values": ["root"]}},
            {"principals": {"type": "NONE"}, "users": {"values": ["nobody"]}}]}"#,
    );
    let t = Action::RunTask;
    // alice matches the first rule for any user, and NONE denies
    assert!(!a.decide(&req(Some("alice"), t, Some("web"))));
    assert!(!a.decide(&req(Some("alice"), t, Some("other"))));
    assert!(a.decide(&req(Some("bob"), t, Some("web"))));
    // bob as root: rule 2 does not match (object), rule 3 allows anyone as root
    assert!(a.decide(&req(Some("bob"), t, Some("root"))));
    assert!(a.decide(&req(None, t, Some("root"))));
    // rule 4 matches anyone as nobody (NONE principals match) and denies
    assert!(!a.decide(&req(Some("carol"), t, Some("nobody"))));
    assert!(!a.decide(&req(None, t, Some("nobody"))));
    // no rule matches: permissive by default
    assert!(a.decide(&req(Some("carol"), t, Some("web"))));
    assert!(a.decide(&req(None, t, Some("web"))));
    // a request without a user is ANY: only ANY/NONE objects match it
    assert!(!a.decide(&req(Some("alice"), t, None)));
    assert!(a.decide(&req(Some("bob"), t, None)));
    assert!(!a.allows_all(t));
    assert!(a.allows_all(Action::ViewTask));
}

/// An unauthenticated subject (ANY) against rules with SOME principals: they never match it
/// (authorizer.cpp: ANY matches only ANY or NONE), so it falls through to later rules or to
/// `permissive`, in both directions.
#[test]
fn unauthenticated_subject_skips_rules_naming_principals() {
    let deny_default = acls(
        r#"{"permissive": false,
            "view_frameworks": [{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}}]}"#,
    );
    assert!(deny_default.decide(&req(Some("ops"), Action::ViewFramework, Some("u"))));
    assert!(!deny_default.decide(&req(None, Action::ViewFramework, Some("u"))));
    let allow_default = acls(
        r#"{"view_frameworks": [{"principals": {"values": ["ops"]}, "users": {"type": "NONE"}}]}"#,
    );
    assert!(!allow_default.decide(&req(Some("ops"), Action::ViewFramework, Some("u"))));
    assert!(allow_default.decide(&req(None, Action::ViewFramework, Some("u"))));
    assert!(allow_default.decide(&req(Some("dev"), Action::ViewFramework, Some("u"))));
    // ANY principals match and allow it; NONE principals match and deny it
    let any = acls(
        r#"{"permissive": false, "view_tasks": [{"principals": {"type": "ANY"}, "users": {"type": "ANY"}}]}"#,
    );
    assert!(any.decide(&req(None, Action::ViewTask, Some("u"))));
    let none =
        acls(r#"{"view_tasks": [{"principals": {"type": "NONE"}, "users": {"type": "ANY"}}]}"#);
    assert!(!none.decide(&req(None, Action::ViewTask, Some("u"))));
    assert!(!none.decide(&req(Some("x"), Action::ViewTask, Some("u"))));
}

#[test]
fn actions_without_an_object_compare_any() {
    let a = acls(
        r#"{"permissive": false,
            "view_flags": [{"principals": {"values": ["ops"]}, "flags": {"type": "ANY"}}],
            "register_agents": [{"principals": {"values": ["agent"]}, "agents": {"type": "ANY"}},
                                {"principals": {"type": "ANY"}, "agents": {"type": "NONE"}}],
            "mark_agents_gone": [{"principals": {"values": ["ops"]}, "agents": {"type": "NONE"}}]}"#,
    );
    // the value, if a daemon gives one, is not compared
    assert!(a.decide(&req(Some("ops"), Action::ViewFlags, Some("ignored"))));
    assert!(!a.decide(&req(Some("dev"), Action::ViewFlags, None)));
    assert!(a.decide(&req(Some("agent"), Action::RegisterAgent, Some("host1"))));
    assert!(!a.decide(&req(Some("other"), Action::RegisterAgent, None)));
    assert!(!a.decide(&req(None, Action::RegisterAgent, None)));
    assert!(!a.decide(&req(Some("ops"), Action::MarkAgentGone, None)));
}

#[test]
fn descendants_of_roles() {
    let a = acls(
        r#"{"permissive": false,
            "update_weights": [{"principals": {"values": ["ops"]}, "roles": {"values": ["eng/%", "ads"]}}],
            "view_roles": [{"principals": {"type": "ANY"}, "roles": {"values": ["a/b/%"]}},
                           {"principals": {"type": "ANY"}, "roles": {"type": "NONE"}}],
            "run_tasks": [{"principals": {"type": "ANY"}, "users": {"values": ["eng/%"]}}]}"#,
    );
    let w = Action::UpdateWeight;
    assert!(a.decide(&req(Some("ops"), w, Some("eng/x"))));
    assert!(a.decide(&req(Some("ops"), w, Some("ads"))));
    assert!(!a.decide(&req(Some("ops"), w, Some("eng"))));
    assert!(!a.decide(&req(Some("ops"), w, Some("ads/x"))));
    assert!(!a.decide(&req(Some("dev"), w, Some("eng/x"))));
    assert!(!a.decide(&req(None, w, Some("eng/x"))));
    // a request without a role (ANY) matches no `/%` rule
    assert!(!a.decide(&req(Some("ops"), w, None)));
    let v = Action::ViewRole;
    assert!(a.decide(&req(None, v, Some("a/b/c"))));
    assert!(a.decide(&req(None, v, Some("a/b/c/d"))));
    assert!(!a.decide(&req(None, v, Some("a/b"))));
    assert!(!a.decide(&req(None, v, Some("a"))));
    // `/%` is an ordinary value for actions whose object is not a role
    assert!(a.decide(&req(None, Action::RunTask, Some("eng/%"))));
    assert!(!a.decide(&req(None, Action::RunTask, Some("eng/x"))));
    // every role action reads `/%` as descendants
    for action in Action::ALL {
        let json = format!(
            r#"{{"permissive": false, "{}": [{{"principals": {{"type": "ANY"}}, "{}": {{"values": ["r/%"]}}}}]}}"#,
            action.acl_key(),
            action.acl_object()
        );
        if OBJECT_ANY_OR_NONE.contains(&action.acl_key()) || action == Action::GetEndpoint {
            continue;
        }
        let a = acls(&json);
        assert_eq!(
            a.decide(&req(None, action, Some("r/child"))),
            hierarchical(action),
            "{action:?}"
        );
    }
}

#[test]
fn split_rules_keep_mesos_order() {
    let rules = split(
        Action::RegisterFramework,
        vec![(Entity::Any, some(&["a", "b/%", "c", "d/%"]))],
    );
    let shape: Vec<(Entity, Option<&str>)> = rules
        .iter()
        .map(|r| (r.objects.clone(), r.descendants_of.as_deref()))
        .collect();
    assert_eq!(
        shape,
        vec![
            (some(&["b/%"]), Some("b/")),
            (some(&["d/%"]), Some("d/")),
            (some(&["a", "c"]), None),
        ]
    );
    // only `/%` counts: a bare `%` is an ordinary value
    let rules = split(Action::RegisterFramework, vec![(Entity::Any, some(&["%"]))]);
    assert_eq!(rules[0].descendants_of, None);
    // not a role action: untouched
    let rules = split(Action::RunTask, vec![(Entity::Any, some(&["b/%"]))]);
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].descendants_of, None);
}

#[test]
fn entity_defaults_and_types() {
    let a = acls(
        r#"{"permissive": false, "teardown_frameworks": [
            {"principals": {}, "framework_principals": {"type": "ANY"}},
            {"principals": {"type": "SOME", "values": ["ops"]}, "framework_principals": {"type": "ANY", "values": ["ignored"]}}]}"#,
    );
    // `{}` is SOME with no values: matches no one
    assert!(a.decide(&req(Some("ops"), Action::TeardownFramework, Some("fw"))));
    assert!(!a.decide(&req(Some("dev"), Action::TeardownFramework, Some("fw"))));
}

#[test]
fn every_action_reads_its_own_key_and_object() {
    for action in Action::ALL {
        if OBJECT_ANY_OR_NONE.contains(&action.acl_key()) {
            continue;
        }
        let value = if action == Action::GetEndpoint {
            "/files/debug"
        } else {
            "v"
        };
        let json = format!(
            r#"{{"permissive": false, "{}": [{{"principals": {{"values": ["p"]}}, "{}": {{"values": ["{value}"]}}}}]}}"#,
            action.acl_key(),
            action.acl_object()
        );
        let a = acls(&json);
        for other in Action::ALL {
            let allowed = a.decide(&req(Some("p"), other, Some(value)));
            assert_eq!(allowed, other == action, "{json} for {other:?}");
        }
    }
}

#[test]
fn mesos_keys_meseta_does_not_check_are_accepted_and_ignored() {
    let a = acls(
        r#"{"permissive": true,
            "access_mesos_logs": [{"principals": {"type": "ANY"}, "logs": {"type": "NONE"}}],
            "launch_nested_containers_as_user": [{"principals": {"type": "ANY"}, "users": {"values": ["root"]}}],
            "resize_volumes": [{"principals": {"type": "ANY"}, "roles": {"type": "NONE"}}]}"#,
    );
    assert_eq!(
        a.ignored(),
        &[
            "access_mesos_logs",
            "launch_nested_containers_as_user",
            "resize_volumes"
        ]
    );
    assert!(a.allows_everything());
    // they are still validated as Mesos does
    let e = err(
        r#"{"access_mesos_logs": [{"principals": {"type": "ANY"}, "logs": {"values": ["x"]}}]}"#,
    );
    assert!(e.contains("access_mesos_logs[0].logs"), "{e}");
    let e =
        err(r#"{"resize_volumes": [{"principals": {"type": "ANY"}, "users": {"type": "ANY"}}]}"#);
    assert!(
        e.contains("'users' is not a field of a 'resize_volumes' rule"),
        "{e}"
    );
}

#[test]
fn every_mesos_key_is_listed_once_and_every_action_is_a_mesos_key() {
    for (i, (k, _)) in MESOS_ACLS.iter().enumerate() {
        assert!(!MESOS_ACLS[..i].iter().any(|(x, _)| x == k), "{k} twice");
    }
    assert_eq!(MESOS_ACLS.len(), 54);
    for action in Action::ALL {
        assert!(
            MESOS_ACLS.contains(&(action.acl_key(), action.acl_object())),
            "{action:?}"
        );
    }
    for k in OBJECT_ANY_OR_NONE {
        assert!(MESOS_ACLS.iter().any(|(x, _)| x == k), "{k}");
    }
}

#[test]
fn errors_say_what_is_wrong_and_how_to_fix_it() {
    let cases: &[(&str, &[&str])] = &[
        ("not json", &["not valid JSON"]),
        ("[]", &["must be a JSON object"]),
        (
            r#"{"permissive": "false"}"#,
            &["'permissive' must be true or false", "string"],
        ),
        (
            r#"{"regster_frameworks": []}"#,
            &[
                "'regster_frameworks' is not a Mesos ACL key",
                "did you mean 'register_frameworks'?",
            ],
        ),
        (
            r#"{"launch_rockets": []}"#,
            &[
                "'launch_rockets' is not a Mesos ACL key",
                "Meseta checks register_frameworks",
            ],
        ),
        (
            r#"{"run_tasks": {}}"#,
            &["'run_tasks' must be a list of rules", "\"users\""],
        ),
        (
            r#"{"run_tasks": [1]}"#,
            &["run_tasks[0] must be an object with 'principals' and 'users'"],
        ),
        (
            r#"{"register_frameworks": [{"principals": {"type": "ANY"}, "users": {"type": "ANY"}}]}"#,
            &[
                "register_frameworks[0]: 'users' is not a field of a 'register_frameworks' rule",
                "'principals' and 'roles'",
                "write \"roles\"",
            ],
        ),
        (
            r#"{"run_tasks": [{"principals": {"type": "ANY"}}]}"#,
            &["run_tasks[0]: 'users' is required", "\"type\": \"ANY\""],
        ),
        (
            r#"{"run_tasks": [{"users": {"type": "ANY"}}]}"#,
            &["run_tasks[0]: 'principals' is required"],
        ),
        (
            r#"{"run_tasks": [{"principals": {"type": "ALL"}, "users": {"type": "ANY"}}]}"#,
            &[
                "run_tasks[0].principals.type must be \"SOME\", \"ANY\" or \"NONE\"",
                "\"ALL\"",
            ],
        ),
        (
            r#"{"run_tasks": [{"principals": {"type": "any"}, "users": {"type": "ANY"}}]}"#,
            &["(upper case)"],
        ),
        (
            r#"{"run_tasks": [{"principals": {"type": 1}, "users": {"type": "ANY"}}]}"#,
            &["run_tasks[0].principals.type must be", "the number 1"],
        ),
        (
            r#"{"run_tasks": [{"principals": {"value": ["a"]}, "users": {"type": "ANY"}}]}"#,
            &["run_tasks[0].principals: unknown field 'value'"],
        ),
        (
            r#"{"run_tasks": [{"principals": {"values": "a"}, "users": {"type": "ANY"}}]}"#,
            &["run_tasks[0].principals.values must be a list of strings"],
        ),
        (
            r#"{"run_tasks": [{"principals": {"values": [1]}, "users": {"type": "ANY"}}]}"#,
            &["run_tasks[0].principals.values[0] must be a string"],
        ),
        (
            r#"{"run_tasks": [{"principals": "alice", "users": {"type": "ANY"}}]}"#,
            &["run_tasks[0].principals must be an object"],
        ),
        (
            r#"{"view_flags": [{"principals": {"type": "ANY"}, "flags": {"values": ["x"]}}]}"#,
            &["view_flags[0].flags: the object of 'view_flags' can only be"],
        ),
        (
            r#"{"register_agents": [{"principals": {"type": "ANY"}, "agents": {"values": ["a"]}}]}"#,
            &["register_agents[0].agents"],
        ),
        (
            r#"{"get_endpoints": [{"principals": {"type": "ANY"}, "paths": {"values": ["/state"]}}]}"#,
            &[
                "get_endpoints[0].paths: '/state' is not an endpoint",
                "/metrics/snapshot",
            ],
        ),
    ];
    for (json, wanted) in cases {
        let e = err(json);
        for w in *wanted {
            assert!(e.contains(w), "{json}: {e:?} lacks {w:?}");
        }
    }
    let e = LocalAuthorizer::create(&[("acls".into(), "{\"x\": 1}".into())]).unwrap_err();
    assert!(
        e.starts_with("parameter 'acls': 'x' is not a Mesos ACL key"),
        "{e}"
    );
}

#[test]
fn policy_trait_answers_decide() {
    let mut a = acls(
        r#"{"permissive": false, "run_tasks": [{"principals": {"values": ["a"]}, "users": {"type": "ANY"}}]}"#,
    );
    assert_eq!(
        a.authorized(&req(Some("a"), Action::RunTask, Some("u"))),
        Ok(true)
    );
    assert_eq!(
        a.authorized(&req(Some("b"), Action::RunTask, Some("u"))),
        Ok(false)
    );
}
