//! The v1 scheduler API examples of `shared/reference/mesos.md` §7.1 (Mesos'
//! `docs/scheduler-http-api.md`), parsed and written back.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use meseta_api::scheduler::{Call, CallKind, Event, OperationKind};
use meseta_api::{Reason, Source, TaskState, ValueType};
use serde_json::json;
use support::round_trip;

#[test]
fn subscribe_call() {
    let text = r#"{"type": "SUBSCRIBE",
 "subscribe": {
   "framework_info": {"user": "foo", "name": "Example HTTP Framework",
                      "roles": ["test1", "test2"], "capabilities": [{"type": "MULTI_ROLE"}]},
   "suppressed_roles": ["test2"],
   "offer_constraints": {"role_constraints": {"test1": {"groups": [{"attribute_constraints": [
       {"selector": {"attribute_name": "foo"}, "predicate": {"exists": {}}}]}]}}}}}"#;
    // offer_constraints is not modelled: everything else comes back as written.
    let call: Call = round_trip(
        text,
        &json!({"type": "SUBSCRIBE",
         "subscribe": {
           "framework_info": {"user": "foo", "name": "Example HTTP Framework",
                              "roles": ["test1", "test2"], "capabilities": [{"type": "MULTI_ROLE"}]},
           "suppressed_roles": ["test2"]}}),
    );
    assert_eq!(call.framework_id, None);
    let CallKind::Subscribe(s) = call.kind else {
        panic!("not SUBSCRIBE")
    };
    assert!(
        s.framework_info
            .has_capability(&meseta_api::CapabilityType::MultiRole)
    );
    assert_eq!(s.framework_info.effective_roles(), vec!["test1", "test2"]);
    assert_eq!(s.suppressed_roles, vec!["test2"]);
}

#[test]
fn subscribed_event() {
    let text = r#"{"type": "SUBSCRIBED",
 "subscribed": {"framework_id": {"value":"12220-3440-12532-2345"}, "heartbeat_interval_seconds": 15}}"#;
    let event: Event = round_trip(text, &serde_json::from_str(text).unwrap());
    let Event::Subscribed(s) = event else {
        panic!("not SUBSCRIBED")
    };
    assert_eq!(s.framework_id.value, "12220-3440-12532-2345");
    assert_eq!(s.heartbeat_interval_seconds, Some(15.0));
    assert_eq!(s.master_info, None);
}

#[test]
fn offers_event() {
    // As written in Mesos' docs, `offers` is the bare array; Mesos itself (scheduler.proto:
    // `Event.Offers { repeated Offer offers }`) and every client use `{"offers": {"offers": [...]}}`.
    // Both parse; the nested form is what is written.
    let offer = json!({
       "allocation_info": {"role": "engineering"},
       "id": {"value": "12214-23523-O235235"},
       "framework_id": {"value": "12124-235325-32425"},
       "agent_id": {"value": "12325-23523-S23523"},
       "hostname": "agent.host",
       "resources": [{"allocation_info": {"role": "engineering"}, "name": "cpus", "type": "SCALAR",
                      "scalar": {"value": 2}, "role": "*"}],
       "attributes": [{"name": "os", "type": "TEXT", "text": {"value": "ubuntu16.04"}}],
       "executor_ids": [{"value": "12214-23523-my-executor"}]});
    let doc = json!({"type": "OFFERS", "offers": [offer.clone()]}).to_string();
    let nested = json!({"type": "OFFERS", "offers": {"offers": [offer]}});
    let event: Event = round_trip(&doc, &nested);
    let _: Event = round_trip(&nested.to_string(), &nested);
    let Event::Offers(o) = event else {
        panic!("not OFFERS")
    };
    let r = &o.offers[0].resources[0];
    assert_eq!(r.kind, Some(ValueType::Scalar));
    assert_eq!(r.scalar.unwrap().value, 2.0);
    assert_eq!(r.allocation_role(), Some("engineering"));
    assert_eq!(r.reservation_role(), "*");
    assert_eq!(
        o.offers[0].attributes[0].text.as_ref().unwrap().value,
        "ubuntu16.04"
    );
}

#[test]
fn accept_with_launch() {
    let text = r#"{"framework_id": {"value": "12220-3440-12532-2345"},
 "type": "ACCEPT",
 "accept": {
   "offer_ids": [{"value": "12220-3440-12532-O12"}],
   "operations": [{
     "type": "LAUNCH",
     "launch": {"task_infos": [{
       "name": "My Task",
       "task_id": {"value": "12220-3440-12532-my-task"},
       "agent_id": {"value": "12220-3440-12532-S1233"},
       "executor": {"command": {"shell": true, "value": "sleep 1000"},
                    "executor_id": {"value": "12214-23523-my-executor"}},
       "resources": [
         {"allocation_info": {"role": "engineering"}, "name": "cpus", "role": "*",
          "type": "SCALAR", "scalar": {"value": 1.0}},
         {"allocation_info": {"role": "engineering"}, "name": "mem", "role": "*",
          "type": "SCALAR", "scalar": {"value": 128.0}}],
       "limits": {"cpus": "Infinity", "mem": 512.0}}]}}],
   "filters": {"refuse_seconds": 5.0}}}"#;
    // `limits` is passed through untouched, so the whole example comes back.
    let call: Call = round_trip(text, &serde_json::from_str(text).unwrap());
    assert_eq!(
        call.framework_id.as_ref().unwrap().value,
        "12220-3440-12532-2345"
    );
    let CallKind::Accept(a) = call.kind else {
        panic!("not ACCEPT")
    };
    assert_eq!(a.refuse_seconds(), 5.0);
    let OperationKind::Launch(l) = &a.operations[0].kind else {
        panic!("not LAUNCH")
    };
    let task = &l.task_infos[0];
    assert_eq!(task.name, "My Task");
    let exec = task.executor.as_ref().unwrap();
    assert_eq!(exec.executor_id.value, "12214-23523-my-executor");
    assert!(exec.command.as_ref().unwrap().shell);
    assert_eq!(task.resources[1].scalar.unwrap().value, 128.0);
}

#[test]
fn decline_call() {
    // From Mesos' docs/scheduler-http-api.md (not reproduced in mesos.md).
    let text = r#"{"framework_id": {"value": "12220-3440-12532-2345"}, "type": "DECLINE",
        "decline": {"offer_ids": [{"value": "12220-3440-12532-O12"}, {"value": "12220-3440-12532-O13"}],
                    "filters": {"refuse_seconds": 5.0}}}"#;
    let call: Call = round_trip(text, &serde_json::from_str(text).unwrap());
    let CallKind::Decline(d) = call.kind else {
        panic!("not DECLINE")
    };
    assert_eq!(d.offer_ids.len(), 2);
    assert_eq!(d.refuse_seconds(), 5.0);
}

#[test]
fn acknowledge_call() {
    let text = r#"{"framework_id": {"value": "12220-3440-12532-2345"}, "type": "ACKNOWLEDGE",
 "acknowledge": {"agent_id": {"value": "12220-3440-12532-S1233"},
                 "task_id": {"value": "12220-3440-12532-my-task"},
                 "uuid": "jhadf73jhakdlfha723adf"}}"#;
    // The docs' uuid is 22 base64 characters without padding whose last one carries non-zero
    // trailing bits: it decodes to 16 bytes, and is written back in canonical form (the last
    // character's unused bits cleared, padding added).
    let mut expected: serde_json::Value = serde_json::from_str(text).unwrap();
    expected["acknowledge"]["uuid"] = json!("jhadf73jhakdlfha723adQ==");
    let call: Call = round_trip(text, &expected);
    let CallKind::Acknowledge(a) = call.kind else {
        panic!("not ACKNOWLEDGE")
    };
    assert_eq!(a.uuid.as_uuid().map(|u| u.len()), Some(16));
    assert_eq!(a.task_id.value, "12220-3440-12532-my-task");
    // Canonical text round-trips exactly.
    let canonical = serde_json::to_string(&Call {
        framework_id: None,
        kind: CallKind::Acknowledge(a),
    })
    .unwrap();
    let again: Call = serde_json::from_str(&canonical).unwrap();
    assert_eq!(serde_json::to_string(&again).unwrap(), canonical);
}

#[test]
fn reconcile_call() {
    // From Mesos' docs/scheduler-http-api.md (not reproduced in mesos.md).
    let text = r#"{"framework_id": {"value": "12220-3440-12532-2345"}, "type": "RECONCILE",
        "reconcile": {"tasks": [{"task_id": {"value": "312325"}, "agent_id": {"value": "123535"}}]}}"#;
    let call: Call = round_trip(text, &serde_json::from_str(text).unwrap());
    let CallKind::Reconcile(r) = call.kind else {
        panic!("not RECONCILE")
    };
    assert_eq!(r.tasks[0].agent_id.as_ref().unwrap().value, "123535");
    // Implicit reconciliation: empty list (or null).
    for implicit in [
        r#"{"framework_id":{"value":"f"},"type":"RECONCILE","reconcile":{"tasks":[]}}"#,
        r#"{"framework_id":{"value":"f"},"type":"RECONCILE","reconcile":{"tasks":null}}"#,
        r#"{"framework_id":{"value":"f"},"type":"RECONCILE","reconcile":{}}"#,
    ] {
        let call: Call = serde_json::from_str(implicit).unwrap();
        assert!(matches!(call.kind, CallKind::Reconcile(r) if r.tasks.is_empty()));
    }
}

#[test]
fn update_event() {
    // The docs' UPDATE: `{"task_id":{...}, ..., "uuid":"...", "bytes":"..."}` with placeholders.
    // Filled in here; `bytes` is no TaskStatus field (it is `data`) and is dropped.
    let text = r#"{"type":"UPDATE","update":{"status":{"task_id":{"value":"t1"},"state":"TASK_RUNNING",
        "source":"SOURCE_EXECUTOR","uuid":"MTIzNDU2Nzg5MDEyMzQ1Ng==","bytes":"aGk="}}}"#;
    let event: Event = round_trip(
        text,
        &json!({"type":"UPDATE","update":{"status":{"task_id":{"value":"t1"},"state":"TASK_RUNNING",
            "source":"SOURCE_EXECUTOR","uuid":"MTIzNDU2Nzg5MDEyMzQ1Ng=="}}}),
    );
    let Event::Update(u) = event else {
        panic!("not UPDATE")
    };
    assert_eq!(u.status.state, TaskState::Running);
    assert_eq!(u.status.source, Some(Source::Executor));
    assert_eq!(u.status.uuid.unwrap().as_uuid(), Some(*b"1234567890123456"));

    // Reconciliation answers carry a reason and no uuid (rule 15).
    let mut status = meseta_api::TaskStatus::new("t1".into(), TaskState::Lost);
    status.reason = Some(Reason::Reconciliation);
    status.source = Some(Source::Master);
    status.agent_id = Some("a1".into());
    let out =
        serde_json::to_string(&Event::Update(meseta_api::scheduler::Update { status })).unwrap();
    assert_eq!(
        out,
        r#"{"type":"UPDATE","update":{"status":{"task_id":{"value":"t1"},"state":"TASK_LOST","source":"SOURCE_MASTER","reason":"REASON_RECONCILIATION","agent_id":{"value":"a1"}}}}"#
    );
}
