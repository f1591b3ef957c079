//! Event shapes (rules 11-16, 26-27) and RecordIO streams (rule 10).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use meseta_api::scheduler::{self, Event};
use meseta_api::{
    AgentID, Bytes, ExecutorID, FrameworkID, MasterInfo, Offer, OfferID, Resource, TaskID,
    TaskState, TaskStatus, executor, recordio,
};
use serde_json::{Value, json};

fn one_of_each_scheduler_event() -> Vec<Event> {
    let mut status = TaskStatus::new(TaskID::new("t"), TaskState::Running);
    status.agent_id = Some(AgentID::new("a"));
    status.uuid = Some(meseta_api::new_status_uuid());
    vec![
        Event::Subscribed(scheduler::Subscribed {
            framework_id: FrameworkID::new("f"),
            heartbeat_interval_seconds: Some(5.0),
            master_info: None,
        }),
        Event::Offers(scheduler::Offers { offers: vec![] }),
        Event::Rescind(scheduler::Rescind {
            offer_id: OfferID::new("o"),
        }),
        Event::Update(scheduler::Update { status }),
        Event::Message(scheduler::Message {
            agent_id: AgentID::new("a"),
            executor_id: ExecutorID::new("e"),
            data: Bytes(b"hi".to_vec()),
        }),
        Event::Failure(scheduler::Failure::default()),
        Event::error("framework removed"),
        Event::Other("UPDATE_OPERATION_STATUS".into()),
        Event::Heartbeat,
    ]
}

#[test]
fn heartbeat_is_exactly_its_type() {
    assert_eq!(
        serde_json::to_string(&Event::Heartbeat).unwrap(),
        r#"{"type":"HEARTBEAT"}"#
    );
    assert_eq!(
        String::from_utf8(recordio::encode(&Event::Heartbeat).unwrap()).unwrap(),
        "20\n{\"type\":\"HEARTBEAT\"}"
    );
}

#[test]
fn every_scheduler_event_but_heartbeat_has_its_payload_key() {
    for event in one_of_each_scheduler_event() {
        let v = serde_json::to_value(&event).unwrap();
        let ty = v["type"].as_str().unwrap().to_string();
        assert_eq!(ty, event.type_name());
        let key = ty.to_ascii_lowercase();
        if ty == "HEARTBEAT" {
            assert_eq!(v.as_object().unwrap().len(), 1);
        } else {
            assert!(v.get(&key).is_some_and(Value::is_object), "{ty}: {v}");
        }
        // `type` comes first on the wire.
        assert!(
            serde_json::to_string(&event)
                .unwrap()
                .starts_with(r#"{"type":"#)
        );
        // And it reads back.
        let back: Event = serde_json::from_value(v).unwrap();
        assert_eq!(back, event);
    }
    // Even an empty failure and an empty offer list keep their key and the array.
    assert_eq!(
        serde_json::to_string(&Event::Failure(Default::default())).unwrap(),
        r#"{"type":"FAILURE","failure":{}}"#
    );
    assert_eq!(
        serde_json::to_string(&Event::Offers(Default::default())).unwrap(),
        r#"{"type":"OFFERS","offers":{"offers":[]}}"#
    );
}

#[test]
fn offers_have_what_clients_read() {
    let offer = Offer {
        id: OfferID::new("o1"),
        framework_id: FrameworkID::new("f"),
        agent_id: AgentID::new("a"),
        hostname: "h".into(),
        url: Some(meseta_api::Url {
            scheme: "http".into(),
            address: meseta_api::Address {
                hostname: Some("h".into()),
                ip: Some("10.0.0.1".into()),
                port: 5051,
            },
            path: Some("/slave(1)".into()),
            ..Default::default()
        }),
        resources: vec![
            Resource::scalar("cpus", 1.0),
            Resource::ranges("ports", &[(31000, 32000)]),
        ],
        ..Default::default()
    };
    let v = serde_json::to_value(&offer).unwrap();
    support::assert_json_eq(
        &v,
        &json!({
            "id": {"value": "o1"}, "framework_id": {"value": "f"}, "agent_id": {"value": "a"},
            "hostname": "h",
            "url": {"scheme": "http", "address": {"hostname": "h", "ip": "10.0.0.1", "port": 5051},
                    "path": "/slave(1)"},
            "resources": [
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.0}, "role": "*"},
                {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 32000}]},
                 "role": "*"}],
            "attributes": [], "executor_ids": []
        }),
    );
}

#[test]
fn master_info_ip_is_mesos_uint32() {
    let ip = meseta_api::ipv4_to_mesos_u32("127.0.0.1".parse().unwrap());
    assert_eq!(ip, 16_777_343);
    assert_eq!(meseta_api::mesos_u32_to_ipv4(ip).to_string(), "127.0.0.1");
    let info = MasterInfo {
        id: "m".into(),
        ip,
        port: 5050,
        hostname: Some("localhost".into()),
        version: Some("1.11.0".into()),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_string(&info).unwrap(),
        r#"{"id":"m","ip":16777343,"port":5050,"hostname":"localhost","version":"1.11.0"}"#
    );
}

#[test]
fn recordio_is_ascii_with_a_byte_length_prefix() {
    let event = Event::error("caf\u{e9} \u{1f680} d\u{e9}j\u{e0} vu");
    let record = recordio::encode(&event).unwrap();
    assert!(record.is_ascii());
    let text = String::from_utf8(record.clone()).unwrap();
    let (len, json) = text.split_once('\n').unwrap();
    assert_eq!(len.parse::<usize>().unwrap(), json.len());
    assert!(!json.contains('\n'));
    assert!(
        json.contains(r"caf\u00e9 \ud83d\ude80 d\u00e9j\u00e0 vu"),
        "{json}"
    );
    // A client that decodes the escapes gets the original text back.
    let back: Event = serde_json::from_str(json).unwrap();
    assert_eq!(back, event);
    assert_eq!(meseta_api::ascii_json(&event).unwrap(), json);
}

#[test]
fn decoder_reassembles_records_split_anywhere() {
    let events = one_of_each_scheduler_event();
    let stream: Vec<u8> = events
        .iter()
        .flat_map(|e| recordio::encode(e).unwrap())
        .collect();
    for chunk in [1, 2, 3, 7, 64, stream.len()] {
        let mut decoder = recordio::Decoder::new();
        let mut got = Vec::new();
        for piece in stream.chunks(chunk) {
            decoder.push(piece);
            while let Some(e) = decoder.pop_json::<Event>().unwrap() {
                got.push(e);
            }
        }
        assert_eq!(got, events, "chunk size {chunk}");
        assert_eq!(decoder.buffered(), 0);
    }
    // A length line split from its digits.
    let mut d = recordio::Decoder::new();
    d.push(b"2");
    assert_eq!(d.pop().unwrap(), None);
    d.push(b"0\n{\"type\":\"HEART");
    assert_eq!(d.pop().unwrap(), None);
    d.push(b"BEAT\"}12\n");
    assert_eq!(d.pop_json::<Event>().unwrap(), Some(Event::Heartbeat));
    assert_eq!(d.pop().unwrap(), None);
}

// Executor API ---------------------------------------------------------------------------------

#[test]
fn executor_calls_from_pymesos() {
    // pymesos' SUBSCRIBE and UPDATE bodies: the status carries no agent_id/executor_id
    // (rule 27), and an integer timestamp.
    let sub: executor::Call = meseta_api::decode(
        br#"{"type":"SUBSCRIBE","framework_id":{"value":"f"},"executor_id":{"value":"e"},
            "subscribe":{"unacknowledged_tasks":[],"unacknowledged_updates":[]}}"#,
    )
    .unwrap();
    assert!(matches!(sub.kind, executor::CallKind::Subscribe(_)));
    let upd: executor::Call = meseta_api::decode(
        br#"{"type":"UPDATE","executor_id":{"value":"e"},"framework_id":{"value":"f"},
            "update":{"status":{"task_id":{"value":"t"},"state":"TASK_RUNNING","timestamp":1700000000,
            "uuid":"MTIzNDU2Nzg5MDEyMzQ1Ng==","source":"SOURCE_EXECUTOR"}}}"#,
    )
    .unwrap();
    let executor::CallKind::Update(u) = upd.kind else {
        panic!()
    };
    assert_eq!(u.status.agent_id, None);
    assert_eq!(u.status.timestamp, Some(1_700_000_000.0));
    let msg: executor::Call = meseta_api::decode(
        br#"{"type":"MESSAGE","executor_id":{"value":"e"},"framework_id":{"value":"f"},"message":{"data":"aGk="}}"#,
    )
    .unwrap();
    assert!(matches!(msg.kind, executor::CallKind::Message(m) if m.data.0 == b"hi"));
    let sub = serde_json::to_string(&executor::Call {
        executor_id: "e".into(),
        framework_id: "f".into(),
        kind: executor::CallKind::Subscribe(Default::default()),
    })
    .unwrap();
    assert_eq!(
        sub,
        r#"{"executor_id":{"value":"e"},"framework_id":{"value":"f"},"type":"SUBSCRIBE","subscribe":{}}"#
    );
}

#[test]
fn executor_events() {
    let subscribed = executor::Event::Subscribed(executor::Subscribed {
        executor_info: meseta_api::ExecutorInfo {
            executor_id: ExecutorID::new("e"),
            framework_id: Some(FrameworkID::new("f")),
            ..Default::default()
        },
        framework_info: meseta_api::FrameworkInfo {
            user: "u".into(),
            name: "n".into(),
            id: Some(FrameworkID::new("f")),
            ..Default::default()
        },
        agent_info: meseta_api::AgentInfo {
            hostname: "h".into(),
            port: Some(5051),
            id: Some(AgentID::new("a")),
            ..Default::default()
        },
        container_id: Some(meseta_api::ContainerID::new("c")),
    });
    let v = serde_json::to_value(&subscribed).unwrap();
    // A client compares these as whole objects with its own `{"value": ...}` (rule 26).
    assert_eq!(
        v["subscribed"]["executor_info"]["executor_id"],
        json!({"value": "e"})
    );
    assert_eq!(
        v["subscribed"]["framework_info"]["id"],
        json!({"value": "f"})
    );

    let events = vec![
        subscribed,
        executor::Event::Launch(executor::Launch {
            task: meseta_api::TaskInfo {
                name: "t".into(),
                task_id: TaskID::new("t"),
                command: Some(meseta_api::CommandInfo::shell("sleep 1")),
                ..Default::default()
            },
        }),
        executor::Event::LaunchGroup(Default::default()),
        executor::Event::Kill(executor::Kill {
            task_id: TaskID::new("t"),
            kill_policy: None,
        }),
        executor::Event::Acknowledged(executor::Acknowledged {
            task_id: TaskID::new("t"),
            uuid: meseta_api::new_status_uuid(),
        }),
        executor::Event::Message(executor::Message {
            data: Bytes(vec![1, 2]),
        }),
        executor::Event::Error(executor::ErrorEvent {
            message: "x".into(),
        }),
        executor::Event::Shutdown,
        executor::Event::Heartbeat,
    ];
    for event in &events {
        let v = serde_json::to_value(event).unwrap();
        let ty = event.type_name();
        assert_eq!(v["type"], ty);
        if matches!(ty, "SHUTDOWN" | "HEARTBEAT") {
            assert_eq!(v.as_object().unwrap().len(), 1, "{v}");
        } else {
            assert!(v.get(ty.to_ascii_lowercase()).is_some(), "{v}");
        }
        let back: executor::Event = serde_json::from_value(v).unwrap();
        assert_eq!(&back, event);
    }
    assert_eq!(
        serde_json::to_string(&executor::Event::Shutdown).unwrap(),
        r#"{"type":"SHUTDOWN"}"#
    );
}
