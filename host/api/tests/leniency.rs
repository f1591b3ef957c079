//! What real clients send (rules 18-21 of `shared/reference/v1-clients.md`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use meseta_api::scheduler::{Call, CallKind, OperationKind};
use meseta_api::{CapabilityType, Reason, TaskStatus, decode};
use serde_json::json;

/// A pymesos-style client: every unset field is `null`, repeated ones included.
#[test]
fn nulls_everywhere_mean_absent() {
    let subscribe = r#"{"type":"SUBSCRIBE","framework_id":null,"subscribe":{
        "framework_info":{"user":"u","name":"n","id":null,"failover_timeout":null,"checkpoint":null,
          "role":null,"roles":null,"hostname":null,"principal":null,"webui_url":null,
          "capabilities":null,"labels":null,"offer_filters":null},
        "suppressed_roles":null}}"#;
    let call: Call = decode(subscribe.as_bytes()).unwrap();
    let CallKind::Subscribe(s) = call.kind else {
        panic!()
    };
    assert_eq!(s.framework_info.effective_roles(), vec!["*"]);
    assert!(!s.framework_info.checkpoint);
    // Written back without a single null.
    let out = serde_json::to_string(&Call {
        framework_id: None,
        kind: CallKind::Subscribe(s),
    })
    .unwrap();
    assert_eq!(
        out,
        r#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}"#
    );

    let accept = r#"{"type":"ACCEPT","framework_id":{"value":"f"},"accept":{
        "offer_ids":[{"value":"o1"}],"filters":null,
        "operations":[{"type":"LAUNCH","id":null,"launch":{"task_infos":[{
          "name":"t","task_id":{"value":"t1"},"agent_id":{"value":"a1"},
          "resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"ranges":null,"set":null,
             "role":null,"allocation_info":null,"reservation":null,"reservations":null,
             "disk":null,"revocable":null,"shared":null,"provider_id":null}],
          "executor":null,"container":null,"health_check":null,"check":null,"kill_policy":null,
          "data":null,"labels":null,"discovery":null,"max_completion_time":null,"limits":null,
          "command":{"uris":null,"environment":null,"shell":null,"value":"sleep 1",
                     "arguments":null,"user":null}}]},
          "launch_group":null}]}}"#;
    let call: Call = decode(accept.as_bytes()).unwrap();
    let CallKind::Accept(a) = call.kind else {
        panic!()
    };
    assert_eq!(a.refuse_seconds(), 5.0);
    let OperationKind::Launch(l) = &a.operations[0].kind else {
        panic!()
    };
    let task = &l.task_infos[0];
    let cmd = task.command.as_ref().unwrap();
    assert!(cmd.uris.is_empty() && cmd.arguments.is_empty());
    assert!(cmd.shell, "shell defaults to true, also when null");
    assert_eq!(task.resources[0].reservation_role(), "*");
    assert!(!task.resources[0].is_revocable());
    assert!(!serde_json::to_string(&a).unwrap().contains("null"));
}

/// Every field of a full ACCEPT, set to `null` one at a time, still parses, except the handful
/// that say what the call is about.
#[test]
fn any_single_field_may_be_null() {
    let full = json!({
      "framework_id": {"value": "f"}, "type": "ACCEPT",
      "accept": {
        "offer_ids": [{"value": "o1"}],
        "filters": {"refuse_seconds": 1.0},
        "operations": [
          {"type": "LAUNCH", "id": {"value": "op"}, "launch": {"task_infos": [{
            "name": "t", "task_id": {"value": "t1"}, "agent_id": {"value": "a1"},
            "resources": [
              {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}, "role": "*",
               "allocation_info": {"role": "r"}, "revocable": {}, "shared": {},
               "reservations": [{"type": "DYNAMIC", "role": "r", "principal": "p",
                                 "labels": {"labels": [{"key": "k", "value": "v"}]}}]},
              {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 1, "end": 2}]}},
              {"name": "s", "type": "SET", "set": {"item": ["a"]}}],
            "command": {
              "uris": [{"value": "http://x/y.tgz", "executable": false, "extract": true,
                        "cache": false, "output_file": "y"}],
              "environment": {"variables": [{"name": "A", "type": "VALUE", "value": "1"}]},
              "shell": false, "value": "/bin/echo", "arguments": ["echo", "hi"], "user": "nobody"},
            "executor": {"type": "CUSTOM", "executor_id": {"value": "e"},
                         "framework_id": {"value": "f"}, "name": "ex",
                         "command": {"value": "run"}, "resources": [],
                         "labels": {"labels": []}, "shutdown_grace_period": {"nanoseconds": 5}},
            "kill_policy": {"grace_period": {"nanoseconds": 1000}},
            "labels": {"labels": [{"key": "k", "value": "v"}]},
            "data": "aGk=", "container": {"type": "MESOS"}, "discovery": {"visibility": "FRAMEWORK"},
            "max_completion_time": {"nanoseconds": 9}}]}},
          {"type": "LAUNCH_GROUP", "launch_group": {
            "executor": {"type": "DEFAULT", "executor_id": {"value": "e2"}},
            "task_group": {"tasks": [{"name": "g", "task_id": {"value": "g1"}}]}}},
          {"type": "RESERVE", "reserve": {"resources": []}}]}
    });
    let call: Call = serde_json::from_value(full.clone()).unwrap();
    assert_eq!(call.type_name(), "ACCEPT");

    // Only the fields that say what the call is about may not be null (Mesos requires them too):
    // the call's and each operation's type and payload, task ids, and the executor of a
    // LAUNCH_GROUP with its id.
    let mut failed = Vec::new();
    for path in support::key_paths(&full) {
        let mutated = support::with_null_at(&full, &path);
        if serde_json::from_value::<Call>(mutated).is_err() {
            failed.push(path.join("."));
        }
    }
    failed.sort();
    assert_eq!(
        failed,
        [
            "accept",
            "accept.operations.0.launch",
            "accept.operations.0.launch.task_infos.0.executor.executor_id",
            "accept.operations.0.launch.task_infos.0.task_id",
            "accept.operations.0.type",
            "accept.operations.1.launch_group",
            "accept.operations.1.launch_group.executor",
            "accept.operations.1.launch_group.executor.executor_id",
            "accept.operations.1.launch_group.task_group.tasks.0.task_id",
            "accept.operations.1.type",
            "accept.operations.2.reserve",
            "accept.operations.2.type",
            "type",
        ]
    );
}

#[test]
fn unknown_fields_are_ignored() {
    let call: Call = decode(
        br#"{"type":"KILL","framework_id":{"value":"f","extra":1},"future_field":[1,2],
            "kill":{"task_id":{"value":"t"},"something_new":{"a":null}}}"#,
    )
    .unwrap();
    assert!(matches!(call.kind, CallKind::Kill(_)));
}

#[test]
fn decline_without_filters_refuses_for_five_seconds() {
    for body in [
        r#"{"type":"DECLINE","framework_id":{"value":"f"},"decline":{"offer_ids":[{"value":"o"}],"filters":null}}"#,
        r#"{"type":"DECLINE","framework_id":{"value":"f"},"decline":{"offer_ids":[{"value":"o"}]}}"#,
        r#"{"type":"DECLINE","framework_id":{"value":"f"},"decline":{"offer_ids":[{"value":"o"}],"filters":{}}}"#,
        r#"{"type":"DECLINE","framework_id":{"value":"f"},"decline":{"offer_ids":[{"value":"o"}],"filters":{"refuse_seconds":null}}}"#,
        r#"{"type":"DECLINE","framework_id":{"value":"f"},"decline":{"offer_ids":[{"value":"o"}],"filters":{"refuse_seconds":-3}}}"#,
    ] {
        let call: Call = decode(body.as_bytes()).unwrap();
        let CallKind::Decline(d) = call.kind else {
            panic!()
        };
        assert_eq!(d.refuse_seconds(), 5.0, "{body}");
    }
    let call: Call = decode(
        br#"{"type":"DECLINE","framework_id":{"value":"f"},"decline":{"offer_ids":[],"filters":{"refuse_seconds":1e12}}}"#,
    )
    .unwrap();
    let CallKind::Decline(d) = call.kind else {
        panic!()
    };
    assert_eq!(d.refuse_seconds(), 31_536_000.0, "capped at a year");
}

#[test]
fn kill_and_reconcile_without_agent_id() {
    let call: Call =
        decode(br#"{"type":"KILL","framework_id":{"value":"f"},"kill":{"task_id":{"value":"t"}}}"#)
            .unwrap();
    let CallKind::Kill(k) = call.kind else {
        panic!()
    };
    assert_eq!(k.task_id.value, "t");
    assert_eq!(k.agent_id, None);
    let call: Call = decode(
        br#"{"type":"RECONCILE","framework_id":{"value":"f"},"reconcile":{"tasks":[{"task_id":{"value":"t"},"agent_id":null}]}}"#,
    )
    .unwrap();
    assert!(matches!(call.kind, CallKind::Reconcile(r) if r.tasks[0].agent_id.is_none()));
}

#[test]
fn revive_and_suppress_payloads_are_optional() {
    let call: Call = decode(br#"{"type":"REVIVE","framework_id":{"value":"f"}}"#).unwrap();
    assert!(matches!(call.kind, CallKind::Revive(r) if r.roles.is_empty()));
    let call: Call =
        decode(br#"{"type":"SUPPRESS","framework_id":{"value":"f"},"suppress":null}"#).unwrap();
    assert!(matches!(call.kind, CallKind::Suppress(r) if r.roles.is_empty()));
    let call: Call =
        decode(br#"{"type":"REVIVE","framework_id":{"value":"f"},"revive":{"roles":["a","b"]}}"#)
            .unwrap();
    assert!(matches!(&call.kind, CallKind::Revive(r) if r.roles == ["a", "b"]));
    assert_eq!(
        serde_json::to_string(&call).unwrap(),
        r#"{"framework_id":{"value":"f"},"type":"REVIVE","revive":{"roles":["a","b"]}}"#
    );
    // The older singular form, as in mesos.md's `{"revive":{"role": r}}`.
    let call: Call =
        decode(br#"{"type":"REVIVE","framework_id":{"value":"f"},"revive":{"role":"a"}}"#).unwrap();
    assert!(matches!(&call.kind, CallKind::Revive(r) if r.roles == ["a"]));
}

#[test]
fn unknown_types_and_enum_values_are_kept() {
    // Call types this crate does not model keep their type string.
    let call: Call = decode(
        br#"{"type":"ACKNOWLEDGE_OPERATION_STATUS","framework_id":{"value":"f"},
            "acknowledge_operation_status":{"uuid":"AAAA"}}"#,
    )
    .unwrap();
    assert_eq!(
        call.kind,
        CallKind::Other("ACKNOWLEDGE_OPERATION_STATUS".into())
    );
    let call: Call = decode(br#"{"type":"TEARDOWN","framework_id":{"value":"f"}}"#).unwrap();
    assert_eq!(call.kind, CallKind::Teardown);
    let call: Call =
        decode(br#"{"type":"REQUEST","framework_id":{"value":"f"},"request":{"requests":[]}}"#)
            .unwrap();
    assert_eq!(call.kind, CallKind::Request);

    // Known operations decode; others keep their type name.
    let call: Call = decode(
        br#"{"type":"ACCEPT","framework_id":{"value":"f"},"accept":{"offer_ids":[{"value":"o"}],
            "operations":[{"type":"RESERVE","reserve":{"resources":[]}},{"type":"FROBNICATE"}]}}"#,
    )
    .unwrap();
    let CallKind::Accept(a) = call.kind else {
        panic!()
    };
    assert!(matches!(a.operations[0].kind, OperationKind::Reserve(_)));
    assert_eq!(a.operations[1].type_name(), "FROBNICATE");

    // Open enums.
    let fw: meseta_api::FrameworkInfo = serde_json::from_str(
        r#"{"user":"u","name":"n","capabilities":[{"type":"PARTITION_AWARE"},{"type":"TELEPATHY"}]}"#,
    )
    .unwrap();
    assert!(fw.has_capability(&CapabilityType::PartitionAware));
    assert_eq!(
        fw.capabilities[1].kind,
        CapabilityType::Other("TELEPATHY".into())
    );
    let s: TaskStatus = serde_json::from_str(
        r#"{"task_id":{"value":"t"},"state":"TASK_FAILED","reason":"REASON_SOMETHING_NEW","source":"SOURCE_SLAVE"}"#,
    )
    .unwrap();
    assert_eq!(s.reason, Some(Reason::Other("REASON_SOMETHING_NEW".into())));
    assert!(
        serde_json::to_string(&s)
            .unwrap()
            .contains(r#""reason":"REASON_SOMETHING_NEW""#)
    );
    assert_eq!(Reason::parse("REASON_SLAVE_REMOVED"), Reason::SlaveRemoved);
    assert_eq!(
        Reason::ContainerLimitationMemory.as_str(),
        "REASON_CONTAINER_LIMITATION_MEMORY"
    );

    // TaskState is closed: `state` is required and must be known.
    let err =
        serde_json::from_str::<TaskStatus>(r#"{"task_id":{"value":"t"},"state":"TASK_NAPPING"}"#)
            .unwrap_err();
    assert!(err.to_string().contains("TASK_NAPPING"), "{err}");
}

#[test]
fn malformed_calls_say_why() {
    let cases: &[(&[u8], &str)] = &[
        (br#"{"framework_id":{"value":"f"}}"#, "Expecting 'type' to be present"),
        (br#"{"type":"ACCEPT","framework_id":{"value":"f"}}"#, "Expecting 'accept' to be present"),
        (br#"{"type":"DECLINE","framework_id":{"value":"f"},"decline":null}"#, "Expecting 'decline' to be present"),
        (br#"{"type":"KILL","framework_id":{"value":"f"},"kill":{}}"#, "task_id"),
        (
            br#"{"type":"ACKNOWLEDGE","framework_id":{"value":"f"},"acknowledge":{"agent_id":{"value":"a"},"task_id":{"value":"t"},"uuid":"!!"}}"#,
            "base64",
        ),
        (
            br#"{"type":"ACCEPT","framework_id":{"value":"f"},"accept":{"operations":[{"type":"LAUNCH"}]}}"#,
            "Expecting 'launch' to be present",
        ),
        (b"not json", "expected"),
    ];
    for (body, needle) in cases {
        let err = decode::<Call>(body).unwrap_err().to_string();
        assert!(
            err.starts_with("Failed to parse body into scheduler::Call: "),
            "{err}"
        );
        assert!(err.contains(needle), "{err} should mention {needle}");
    }
}

#[test]
fn task_states() {
    use meseta_api::TaskState;
    for s in TaskState::KNOWN {
        let state: TaskState = serde_json::from_value(json!(s)).unwrap();
        assert_eq!(state.as_str(), *s);
    }
    assert_eq!(TaskState::KNOWN.len(), 14);
    assert!(TaskState::Finished.is_terminal());
    assert!(TaskState::GoneByOperator.is_terminal());
    assert!(!TaskState::Unreachable.is_terminal());
    assert!(!TaskState::Killing.is_terminal());
}
