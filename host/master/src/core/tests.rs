//! The core on its own: inputs in, replies and effects out, time given by the test. No socket,
//! no thread, no allocator: the allocator's decisions are written by hand as a round would make
//! them.

use std::net::SocketAddr;
use std::time::Duration;

use meseta_api::common::{AgentInfo, TaskState};
use meseta_api::internal as wire;
use meseta_api::scheduler::{Call, Event};
use meseta_types::allocation as alloc;
use serde_json::{Value, json};

use super::*;

fn settings() -> Settings {
    Settings {
        allocation_interval: Duration::from_secs(1),
        offer_timeout: None,
        agent_ping_timeout: Duration::from_secs(15),
        max_agent_ping_timeouts: 3,
        heartbeat_interval: Duration::from_secs(5),
        roles: None,
        min_allocatable: Vec::new(),
        sorter: alloc::Sorter::Drf,
        agent_reregister_timeout: Duration::from_secs(600),
        recovery_agent_removal_limit: 1.0,
    }
}

/// A core and the time the next input happens at.
struct Harness {
    core: Core,
    clock: Clock,
    stream: u32,
}

impl Harness {
    fn new() -> Harness {
        let clock = Clock::now();
        let address: SocketAddr = "127.0.0.1:5050".parse().unwrap();
        let core = Core::new(
            "M".into(),
            address,
            "master".into(),
            settings(),
            Vec::new(),
            Vec::new(),
            clock,
        );
        let mut h = Harness {
            core,
            clock,
            stream: 0,
        };
        h.effects();
        h
    }

    fn handle(&mut self, input: Input) -> Result<Reply> {
        self.core.handle(input, self.clock)
    }

    fn effects(&mut self) -> Vec<Effect> {
        self.core.take_effects()
    }

    fn advance(&mut self, d: Duration) {
        self.clock = self.clock.after(d);
    }

    /// SUBSCRIBE of a framework named `name`; its id and stream id.
    fn subscribe(&mut self, name: &str, extra: Value) -> (String, String) {
        let mut info = json!({"name": name, "user": "u"});
        if let (Some(o), Some(e)) = (info.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        self.stream += 1;
        let stream_id = format!("stream-{}", self.stream);
        let reply = self
            .handle(Input::Subscribe {
                info: serde_json::from_value(info).unwrap(),
                claimed: None,
                suppressed: Vec::new(),
                stream_id: stream_id.clone(),
            })
            .unwrap();
        let Reply::Subscribed { framework_id } = reply else {
            panic!("{reply:?}")
        };
        (framework_id, stream_id)
    }

    /// An agent with 4 cpus and 4096 mem registers; its id.
    fn agent(&mut self, port: u16) -> String {
        let info: AgentInfo = serde_json::from_value(json!({
            "hostname": "h", "port": port,
            "resources": [
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": 4}},
                {"name": "mem", "type": "SCALAR", "scalar": {"value": 4096}},
            ],
        }))
        .unwrap();
        let endpoint = format!("127.0.0.1:{port}");
        let Reply::Admission {
            agent_id,
            operation,
        } = self
            .handle(Input::Admit {
                info: info.clone(),
                endpoint: endpoint.clone(),
            })
            .unwrap()
        else {
            panic!()
        };
        assert!(
            matches!(operation, Some(meseta_registry::Operation::AdmitAgent(_))),
            "a new agent's admission must be stored: {operation:?}"
        );
        let mut info = info;
        info.id = Some(meseta_api::common::AgentID::new(&agent_id));
        let msg = wire::RegisterAgent {
            agent_info: info,
            endpoint,
            tasks: Vec::new(),
            version: None,
            executors: Vec::new(),
        };
        self.handle(Input::Register {
            msg,
            reregistering: false,
        })
        .unwrap();
        agent_id
    }

    /// What an allocation round would decide: all of the agent's free resources to the
    /// framework, in role `*`.
    fn decision(&self, framework_id: &str, agent_id: &str) -> alloc::Offer {
        let agent = &self.core.agents[agent_id];
        let mut free = agent.total.clone();
        free.subtract(&agent.allocated);
        alloc::Offer {
            framework: self.core.frameworks[framework_id].handle,
            agent: agent.handle,
            role: self.core.roles["*"],
            resources: self.core.quantities(&free),
        }
    }

    /// Offers the agent to the framework; the offer's id.
    fn offer(&mut self, framework_id: &str, agent_id: &str) -> String {
        let d = self.decision(framework_id, agent_id);
        self.handle(Input::Allocated(vec![d])).unwrap();
        let offers: Vec<Event> = events(&self.effects(), framework_id)
            .into_iter()
            .filter(|e| matches!(e, Event::Offers(_)))
            .collect();
        match offers.as_slice() {
            [Event::Offers(o)] => o.offers[0].id.value.clone(),
            other => panic!("expected one OFFERS event, got {other:?}"),
        }
    }

    fn call(&mut self, framework_id: &str, stream_id: &str, call: Value) -> Result<Reply> {
        let call: Call = serde_json::from_value(call).unwrap();
        self.handle(Input::Call {
            framework_id: framework_id.into(),
            stream_id: Some(stream_id.into()),
            call: call.kind,
            refused: Refused::new(),
        })
    }
}

/// The scheduler events for `framework_id` among `effects`.
fn events(effects: &[Effect], framework_id: &str) -> Vec<Event> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Event {
                framework_id: f,
                event,
            } if f == framework_id => Some(event.clone()),
            _ => None,
        })
        .collect()
}

fn updates(effects: &[Effect], framework_id: &str) -> Vec<(String, TaskState, Option<Reason>)> {
    events(effects, framework_id)
        .into_iter()
        .filter_map(|e| match e {
            Event::Update(u) => Some((u.status.task_id.value, u.status.state, u.status.reason)),
            _ => None,
        })
        .collect()
}

fn recovers(effects: &[Effect]) -> Vec<(alloc::FrameworkId, Option<f64>)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Allocator(AllocatorCall::Recover {
                framework,
                refuse_seconds,
                ..
            }) => Some((*framework, *refuse_seconds)),
            _ => None,
        })
        .collect()
}

fn launch(offer_id: &str, agent_id: &str, task_id: &str, cpus: f64) -> Value {
    json!({"type": "ACCEPT", "accept": {
        "offer_ids": [{"value": offer_id}],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": [{
            "name": task_id, "task_id": {"value": task_id}, "agent_id": {"value": agent_id},
            "command": {"value": "true"},
            "resources": [
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
                {"name": "mem", "type": "SCALAR", "scalar": {"value": 64}},
            ],
        }]}}],
        "filters": {"refuse_seconds": 7},
    }})
}

fn status(agent_id: &str, framework_id: &str, task_id: &str, state: &str) -> wire::StatusUpdate {
    serde_json::from_value(json!({
        "agent_id": {"value": agent_id},
        "framework_id": {"value": framework_id},
        "status": {"task_id": {"value": task_id}, "state": state, "uuid": "AAAAAAAAAAAAAAAAAAAAAA=="},
    }))
    .unwrap()
}

#[test]
fn subscribe_opens_the_stream_with_subscribed_first_and_tells_the_allocator() {
    let mut h = Harness::new();
    let (fid, stream) = h.subscribe("one", json!({}));
    let fx = h.effects();
    let open = fx
        .iter()
        .position(|e| matches!(e, Effect::OpenStream { stream_id, .. } if *stream_id == stream));
    let first_event = fx.iter().position(|e| matches!(e, Effect::Event { .. }));
    assert!(open.is_some() && open < first_event, "{fx:?}");
    let evs = events(&fx, &fid);
    assert!(matches!(evs[0], Event::Subscribed(_)), "{evs:?}");
    assert!(matches!(evs[1], Event::Heartbeat), "{evs:?}");
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Allocator(AllocatorCall::AddFramework { active: true, .. })
    )));
    assert!(matches!(fx.last(), Some(Effect::AllocateSoon)), "{fx:?}");
}

#[test]
fn calls_from_an_unknown_framework_or_a_stale_stream_are_refused_and_change_nothing() {
    let mut h = Harness::new();
    let (fid, _stream) = h.subscribe("one", json!({}));
    h.effects();
    let teardown = json!({"type": "TEARDOWN"});
    let e = h.call("nobody", "s", teardown.clone()).unwrap_err();
    assert_eq!(e.status(), 403, "{e}");
    let e = h.call(&fid, "old-stream", teardown).unwrap_err();
    assert_eq!(e.status(), 400, "{e}");
    assert!(e.to_string().contains("old-stream"), "{e}");
    assert!(h.effects().is_empty());
    assert!(h.core.frameworks.contains_key(&fid));
}

#[test]
fn a_decision_becomes_an_offer_and_a_stale_one_goes_back_to_the_allocator() {
    let mut h = Harness::new();
    let (fid, _) = h.subscribe("one", json!({}));
    let aid = h.agent(5051);
    h.effects();
    let offer = h.offer(&fid, &aid);
    assert!(h.core.offers.contains_key(&offer));
    assert!(!h.core.agents[&aid].allocated.is_empty());

    // A framework that went away while the round ran gets nothing; the allocator gets the
    // amounts back.
    let (other, stream) = h.subscribe("two", json!({"failover_timeout": 60}));
    let stale = h.decision(&other, &aid);
    h.handle(Input::Disconnected {
        framework_id: other.clone(),
        stream_id: stream,
    })
    .unwrap();
    h.effects();
    h.handle(Input::Allocated(vec![stale])).unwrap();
    let fx = h.effects();
    assert!(events(&fx, &other).is_empty(), "{fx:?}");
    assert_eq!(recovers(&fx).len(), 1, "{fx:?}");
}

#[test]
fn accept_launches_on_the_agent_and_returns_the_rest_with_the_filter() {
    let mut h = Harness::new();
    let (fid, stream) = h.subscribe("one", json!({}));
    let aid = h.agent(5051);
    let offer = h.offer(&fid, &aid);
    h.call(&fid, &stream, launch(&offer, &aid, "t1", 1.0))
        .unwrap();
    let fx = h.effects();
    let run = fx.iter().find_map(|e| match e {
        Effect::ToAgent {
            agent_id,
            message: ToAgent::RunTask(run),
        } if *agent_id == aid => Some(run),
        _ => None,
    });
    assert_eq!(run.map(|r| r.tasks[0].task_id.value.as_str()), Some("t1"));
    // What the task did not use goes back, filtered for the ACCEPT's refuse_seconds.
    let handle = h.core.frameworks[&fid].handle;
    assert_eq!(recovers(&fx), vec![(handle, Some(7.0))]);
    assert_eq!(
        h.core.frameworks[&fid].tasks["t1"].state,
        TaskState::Staging
    );
    assert!(h.core.offers.is_empty());
}

#[test]
fn accept_with_an_offer_already_used_answers_task_lost_and_launches_nothing() {
    let mut h = Harness::new();
    let (fid, stream) = h.subscribe("one", json!({}));
    let aid = h.agent(5051);
    let offer = h.offer(&fid, &aid);
    h.call(&fid, &stream, launch(&offer, &aid, "t1", 1.0))
        .unwrap();
    h.effects();
    h.call(&fid, &stream, launch(&offer, &aid, "t2", 1.0))
        .unwrap();
    let fx = h.effects();
    assert_eq!(
        updates(&fx, &fid),
        vec![("t2".into(), TaskState::Lost, Some(Reason::InvalidOffers))]
    );
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::ToAgent { .. })),
        "{fx:?}"
    );
}

#[test]
fn an_unsupported_operation_is_refused_whole() {
    let mut h = Harness::new();
    let (fid, stream) = h.subscribe("one", json!({}));
    let aid = h.agent(5051);
    let offer = h.offer(&fid, &aid);
    let call = json!({"type": "ACCEPT", "accept": {
        "offer_ids": [{"value": offer}],
        "operations": [{"type": "GROW_VOLUME", "grow_volume": {}}],
    }});
    let e = h.call(&fid, &stream, call).unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("GROW_VOLUME"), "{e}");
    assert!(h.effects().is_empty());
    assert!(
        h.core.offers.contains_key(&offer),
        "the offer is still outstanding"
    );
}

#[test]
fn a_terminal_latest_state_frees_the_resources_before_its_update_is_acknowledged() {
    let mut h = Harness::new();
    let (fid, stream) = h.subscribe("one", json!({}));
    let aid = h.agent(5051);
    let offer = h.offer(&fid, &aid);
    h.call(&fid, &stream, launch(&offer, &aid, "t1", 1.0))
        .unwrap();
    h.effects();
    let mut running = status(&aid, &fid, "t1", "TASK_RUNNING");
    running.latest_state = Some(TaskState::Finished);
    let reply = h.handle(Input::StatusUpdates(vec![running])).unwrap();
    assert_eq!(reply, Reply::Codes(vec![202]));
    let fx = h.effects();
    // The framework hears RUNNING (the update it must acknowledge first) ...
    assert_eq!(
        updates(&fx, &fid),
        vec![("t1".into(), TaskState::Running, None)]
    );
    // ... but the task is accounted as finished, and its resources are free again.
    assert!(!h.core.frameworks[&fid].tasks.contains_key("t1"));
    assert_eq!(recovers(&fx).len(), 1, "{fx:?}");
    assert!(h.core.agents[&aid].allocated.is_empty());
}

#[test]
fn status_updates_from_an_unknown_agent_answer_409() {
    let mut h = Harness::new();
    let (fid, _) = h.subscribe("one", json!({}));
    let reply = h
        .handle(Input::StatusUpdates(vec![status(
            "ghost",
            &fid,
            "t",
            "TASK_RUNNING",
        )]))
        .unwrap();
    assert_eq!(reply, Reply::Codes(vec![409]));
}

#[test]
fn a_disconnected_framework_is_removed_when_its_failover_timeout_elapses() {
    let mut h = Harness::new();
    let (fid, stream) = h.subscribe("one", json!({"failover_timeout": 30}));
    let aid = h.agent(5051);
    let offer = h.offer(&fid, &aid);
    h.call(&fid, &stream, launch(&offer, &aid, "t1", 1.0))
        .unwrap();
    h.handle(Input::Disconnected {
        framework_id: fid.clone(),
        stream_id: stream,
    })
    .unwrap();
    h.effects();
    h.advance(Duration::from_secs(29));
    h.handle(Input::Sweep).unwrap();
    assert!(h.core.frameworks.contains_key(&fid), "29 s < 30 s");
    h.advance(Duration::from_secs(2));
    h.handle(Input::Sweep).unwrap();
    let fx = h.effects();
    assert!(!h.core.frameworks.contains_key(&fid));
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::ToAgent { message: ToAgent::ShutdownFramework(s), .. } if s.framework_id.value == fid
    )));
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Allocator(AllocatorCall::RemoveFramework(_))))
    );
    // Removed for good: it cannot come back under its id.
    let e = h
        .handle(Input::Subscribe {
            info: serde_json::from_value(json!({"name": "one", "user": "u"})).unwrap(),
            claimed: Some(fid),
            suppressed: Vec::new(),
            stream_id: "again".into(),
        })
        .unwrap_err();
    assert!(matches!(e, MasterError::FrameworkRemoved(_)), "{e:?}");
}

#[test]
fn a_failover_closes_the_old_stream_with_an_error_and_keeps_the_tasks() {
    let mut h = Harness::new();
    let (fid, old) = h.subscribe("one", json!({"failover_timeout": 30}));
    let aid = h.agent(5051);
    let offer = h.offer(&fid, &aid);
    h.call(&fid, &old, launch(&offer, &aid, "t1", 1.0)).unwrap();
    h.effects();
    let Reply::Subscribed { framework_id } = h
        .handle(Input::Subscribe {
            info: serde_json::from_value(json!({"name": "one", "user": "u"})).unwrap(),
            claimed: Some(fid.clone()),
            suppressed: Vec::new(),
            stream_id: "new".into(),
        })
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(framework_id, fid);
    let fx = h.effects();
    assert!(
        matches!(
            &fx[0],
            Effect::CloseStream { stream_id, error: Some(e), .. } if *stream_id == old && e.contains("failed over")
        ),
        "{fx:?}"
    );
    assert!(h.core.frameworks[&fid].tasks.contains_key("t1"));
    // The old stream's calls are refused from now on.
    let e = h.call(&fid, &old, json!({"type": "REVIVE"})).unwrap_err();
    assert_eq!(e.status(), 400);
}

#[test]
fn an_agent_that_misses_its_pings_becomes_unreachable_durably() {
    let mut h = Harness::new();
    let (fid, stream) = h.subscribe("one", json!({}));
    let aid = h.agent(5051);
    let offer = h.offer(&fid, &aid);
    h.call(&fid, &stream, launch(&offer, &aid, "t1", 1.0))
        .unwrap();
    h.effects();
    let endpoint = h.core.agents[&aid].endpoint.clone();
    for _ in 0..3 {
        h.handle(Input::Pinged {
            agent_id: aid.clone(),
            endpoint: endpoint.clone(),
            ok: false,
        })
        .unwrap();
    }
    let fx = h.effects();
    assert!(!h.core.agents.contains_key(&aid));
    assert!(h.core.unreachable_agents.contains_key(&aid));
    assert_eq!(
        updates(&fx, &fid),
        vec![("t1".into(), TaskState::Lost, Some(Reason::AgentRemoved))]
    );
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Registry(meseta_registry::Operation::MarkAgentUnreachable { id, .. }) if id.value == aid
    )));
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Allocator(AllocatorCall::RemoveAgent(_))))
    );
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::AgentLostHook { agent_id, .. } if *agent_id == aid))
    );
}

#[test]
fn after_a_restart_reconciliation_waits_for_the_agents_of_the_registry() {
    let mut h = Harness::new();
    let mut registry = meseta_registry::Registry::default();
    let info: AgentInfo = serde_json::from_value(json!({
        "id": {"value": "S1"}, "hostname": "h", "port": 5051, "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 4}},
        ],
    }))
    .unwrap();
    registry.agents.insert("S1".into(), info.clone());
    h.handle(Input::Recover(registry)).unwrap();
    let (fid, stream) = h.subscribe("one", json!({}));
    h.effects();
    let reconcile = json!({"type": "RECONCILE", "reconcile": {"tasks": [
        {"task_id": {"value": "t1"}, "agent_id": {"value": "S1"}},
    ]}});
    h.call(&fid, &stream, reconcile.clone()).unwrap();
    assert!(
        updates(&h.effects(), &fid).is_empty(),
        "no answer while S1 may still come back"
    );
    // S1 re-registers with its running task: the task is known again.
    let Reply::Admission { operation, .. } = h
        .handle(Input::Admit {
            info: info.clone(),
            endpoint: "127.0.0.1:5051".into(),
        })
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(operation, None, "S1 is admitted already");
    let task: meseta_api::common::TaskInfo = serde_json::from_value(json!({
        "name": "t1", "task_id": {"value": "t1"}, "agent_id": {"value": "S1"},
        "command": {"value": "sleep 100"},
        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}}],
    }))
    .unwrap();
    let msg = wire::RegisterAgent {
        agent_info: info,
        endpoint: "127.0.0.1:5051".into(),
        tasks: vec![wire::RunningTask {
            framework_id: meseta_api::common::FrameworkID::new(&fid),
            task,
            status: TaskStatus::new(TaskID::new("t1"), TaskState::Running),
            framework: None,
        }],
        version: None,
        executors: Vec::new(),
    };
    h.handle(Input::Register {
        msg,
        reregistering: true,
    })
    .unwrap();
    h.effects();
    h.call(&fid, &stream, reconcile).unwrap();
    assert_eq!(
        updates(&h.effects(), &fid),
        vec![(
            "t1".into(),
            TaskState::Running,
            Some(Reason::Reconciliation)
        )]
    );
}

#[test]
fn agents_not_back_in_time_are_marked_unreachable_or_stop_the_master_over_the_limit() {
    let mut h = Harness::new();
    h.core.settings.recovery_agent_removal_limit = 0.5;
    let mut registry = meseta_registry::Registry::default();
    for id in ["S1", "S2"] {
        let info: AgentInfo = serde_json::from_value(json!({
            "id": {"value": id}, "hostname": "h", "port": 5051, "resources": [],
        }))
        .unwrap();
        registry.agents.insert(id.into(), info);
    }
    h.handle(Input::Recover(registry)).unwrap();
    h.advance(Duration::from_secs(601));
    let e = h.handle(Input::Sweep).unwrap_err();
    assert!(matches!(e, MasterError::Fatal(_)), "{e:?}");
    assert!(
        e.to_string().contains("--recovery_agent_removal_limit"),
        "{e}"
    );
    h.core.settings.recovery_agent_removal_limit = 1.0;
    h.effects();
    h.handle(Input::Sweep).unwrap();
    assert_eq!(h.core.unreachable_agents.len(), 2);
    let stored = h
        .effects()
        .iter()
        .filter(|e| matches!(e, Effect::Registry(_)))
        .count();
    assert_eq!(stored, 2);
}

#[test]
fn a_gone_agent_is_refused_and_a_bad_endpoint_is_named() {
    let mut h = Harness::new();
    let mut registry = meseta_registry::Registry::default();
    registry.gone.insert("S9".into(), 1.0);
    h.handle(Input::Recover(registry)).unwrap();
    let info: AgentInfo =
        serde_json::from_value(json!({"id": {"value": "S9"}, "hostname": "h"})).unwrap();
    let e = h
        .handle(Input::Admit {
            info: info.clone(),
            endpoint: "127.0.0.1:5051".into(),
        })
        .unwrap_err();
    assert_eq!(e.status(), 403);
    assert!(e.to_string().contains("marked gone"), "{e}");
    let e = h
        .handle(Input::Admit {
            info,
            endpoint: "nowhere".into(),
        })
        .unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("'nowhere'"), "{e}");
}

#[test]
fn quota_over_its_limit_is_refused_before_anything_changes() {
    let mut h = Harness::new();
    let quota = Quota {
        guarantees: [("cpus".to_string(), 4.0)].into(),
        limits: [("cpus".to_string(), 2.0)].into(),
    };
    let e = h
        .handle(Input::UpdateQuota(vec![("eng".into(), quota)]))
        .unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(h.core.quotas.is_empty());
    assert!(h.effects().is_empty());
}

#[test]
fn errors_carry_mesos_status_codes() {
    for (e, code) in [
        (MasterError::Invalid(String::new()), 400),
        (MasterError::NotSubscribed(String::new()), 403),
        (MasterError::UnknownAgent(String::new()), 409),
        (MasterError::Unsupported(String::new()), 501),
        (MasterError::Registry(String::new()), 503),
    ] {
        assert_eq!(e.status(), code, "{e:?}");
    }
}

/// A framework with task `t1` RUNNING on an agent at 127.0.0.1:5051, effects taken.
fn running_task() -> (Harness, String, String, String) {
    let mut h = Harness::new();
    let (fid, stream) = h.subscribe("one", json!({}));
    let aid = h.agent(5051);
    let offer = h.offer(&fid, &aid);
    h.call(&fid, &stream, launch(&offer, &aid, "t1", 1.0))
        .unwrap();
    let running = status(&aid, &fid, "t1", "TASK_RUNNING");
    h.handle(Input::StatusUpdates(vec![running])).unwrap();
    h.effects();
    (h, fid, stream, aid)
}

fn schedule_for(hostname: &str, ip: &str) -> meseta_api::maintenance::Schedule {
    serde_json::from_value(json!({"windows": [{
        "machine_ids": [{"hostname": hostname, "ip": ip}],
        "unavailability": {"start": {"nanoseconds": 1_000_000_000i64}},
    }]}))
    .unwrap()
}

#[test]
fn a_scheduled_machine_gets_inverse_offers_and_unavailable_offers_then_down_removes_its_agent() {
    use meseta_api::maintenance::{InverseOfferState, MachineID, MachineMode};
    let (mut h, fid, stream, aid) = running_task();

    // The agent's machine is its hostname and the IP it was reached at ("H" matches "h").
    let e = h.handle(Input::UpdateSchedule(schedule_for("H", "10.9.9.9")));
    assert!(e.is_ok());
    assert!(
        events(&h.effects(), &fid).is_empty(),
        "another machine: no inverse offer"
    );
    h.handle(Input::UpdateSchedule(schedule_for("H", "127.0.0.1")))
        .unwrap();
    let fx = h.effects();
    let inverse: Vec<_> = events(&fx, &fid)
        .into_iter()
        .filter_map(|e| match e {
            Event::InverseOffers(i) => Some(i.inverse_offers),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(inverse.len(), 1, "{fx:?}");
    assert_eq!(inverse[0].agent_id.as_ref().unwrap().value, aid);
    assert_eq!(inverse[0].unavailability.start.nanoseconds, 1_000_000_000);
    // Offers of the agent now carry the unavailability.
    let d = h.decision(&fid, &aid);
    h.handle(Input::Allocated(vec![d])).unwrap();
    let offered = events(&h.effects(), &fid);
    let Some(Event::Offers(o)) = offered.first() else {
        panic!("{offered:?}")
    };
    assert!(o.offers[0].unavailability.is_some(), "{o:?}");

    // DECLINE_INVERSE_OFFERS is recorded in the status; the framework is not asked again
    // while its filter runs.
    h.call(
        &fid,
        &stream,
        json!({"type": "DECLINE_INVERSE_OFFERS", "decline_inverse_offers": {
        "inverse_offer_ids": [{"value": inverse[0].id.value}], "filters": {"refuse_seconds": 30}}}),
    )
    .unwrap();
    let status = h.core.maintenance_status();
    assert_eq!(status.draining_machines.len(), 1);
    assert_eq!(
        status.draining_machines[0].statuses[0].status,
        InverseOfferState::Decline
    );
    h.advance(Duration::from_secs(2));
    h.handle(Input::Sweep).unwrap();
    assert!(
        !events(&h.effects(), &fid)
            .iter()
            .any(|e| matches!(e, Event::InverseOffers(_))),
        "asked again within the decline's filter"
    );
    h.advance(Duration::from_secs(30));
    h.handle(Input::Sweep).unwrap();
    assert!(
        events(&h.effects(), &fid)
            .iter()
            .any(|e| matches!(e, Event::InverseOffers(_)))
    );

    // Down: only a scheduled DRAINING machine; the agent is shut down and removed, its task
    // LOST with REASON_SLAVE_REMOVED, and it cannot register while the machine is down.
    let machine = MachineID::new("h", "127.0.0.1");
    let unknown = MachineID::new("x", "127.0.0.2");
    assert!(h.handle(Input::StartMaintenance(vec![unknown])).is_err());
    h.handle(Input::StartMaintenance(vec![machine.clone()]))
        .unwrap();
    let fx = h.effects();
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::ToAgent {
            message: ToAgent::ShutdownAgent(_),
            ..
        }
    )));
    assert_eq!(
        updates(&fx, &fid),
        vec![("t1".into(), TaskState::Lost, Some(Reason::AgentRemoved))]
    );
    assert!(fx.iter().any(|e| matches!(
        e,
        Effect::Registry(meseta_registry::Operation::RemoveAgent(_))
    )));
    assert!(!h.core.agents.contains_key(&aid));
    assert_eq!(h.core.machines[&machine.key()].mode, MachineMode::Down);
    let info: AgentInfo = serde_json::from_value(json!({"hostname": "h", "port": 5051})).unwrap();
    let e = h
        .handle(Input::Admit {
            info: info.clone(),
            endpoint: "127.0.0.1:5051".into(),
        })
        .unwrap_err();
    assert_eq!(e.status(), 403);
    assert!(e.to_string().contains("DOWN for maintenance"), "{e}");
    // A schedule may not drop a DOWN machine; up brings it back and out of the schedule.
    assert!(h.core.check_schedule(&Default::default()).is_err());
    h.handle(Input::StopMaintenance(vec![machine])).unwrap();
    assert!(h.core.machines.is_empty() && h.core.schedule.windows.is_empty());
    assert!(
        h.handle(Input::Admit {
            info,
            endpoint: "127.0.0.1:5051".into()
        })
        .is_ok()
    );
}

#[test]
fn draining_an_agent_kills_its_tasks_within_the_grace_period_then_it_is_drained() {
    let (mut h, fid, _stream, aid) = running_task();
    h.handle(Input::DrainAgent {
        agent_id: aid.clone(),
        max_grace_period: Some(2.0),
        mark_gone: false,
    })
    .unwrap();
    let fx = h.effects();
    let kill = fx.iter().find_map(|e| match e {
        Effect::ToAgent {
            message: ToAgent::KillTask(k),
            ..
        } => Some(k.clone()),
        _ => None,
    });
    let grace = kill
        .and_then(|k| k.kill_policy)
        .and_then(|p| p.grace_period);
    assert_eq!(grace.map(|g| g.nanoseconds), Some(2_000_000_000), "{fx:?}");
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Allocator(AllocatorCall::DeactivateAgent(_))))
    );
    assert_eq!(
        h.core.agent_drains[&aid].drain.as_ref().unwrap().state,
        DRAINING
    );
    // A drain is refused for an unknown agent, and reactivation of an active one.
    assert!(
        h.handle(Input::DrainAgent {
            agent_id: "nope".into(),
            max_grace_period: None,
            mark_gone: false
        })
        .is_err()
    );
    h.handle(Input::StatusUpdates(vec![status(
        &aid,
        &fid,
        "t1",
        "TASK_KILLED",
    )]))
    .unwrap();
    assert_eq!(
        h.core.agent_drains[&aid].drain.as_ref().unwrap().state,
        DRAINED
    );
    assert!(h.effects().iter().any(|e| matches!(
        e,
        Effect::Registry(meseta_registry::Operation::SetAgentDrain { drain: Some(_), .. })
    )));
    h.handle(Input::ReactivateAgent {
        agent_id: aid.clone(),
    })
    .unwrap();
    assert!(
        h.effects()
            .iter()
            .any(|e| matches!(e, Effect::Allocator(AllocatorCall::ActivateAgent(_))))
    );
    assert!(h.handle(Input::ReactivateAgent { agent_id: aid }).is_err());
}

/// The checkpointed resources the core sent to `agent_id`, last first.
fn checkpoints(effects: &[Effect], agent_id: &str) -> Vec<Vec<meseta_api::common::Resource>> {
    effects
        .iter()
        .rev()
        .filter_map(|e| match e {
            Effect::ToAgent {
                agent_id: a,
                message: ToAgent::CheckpointResources(m),
            } if a == agent_id => Some(m.resources.clone()),
            _ => None,
        })
        .collect()
}

fn reserved_cpus(value: f64, role: &str) -> Value {
    json!({"name": "cpus", "type": "SCALAR", "scalar": {"value": value},
           "reservations": [{"type": "DYNAMIC", "role": role, "principal": "ops"}]})
}

#[test]
fn reserve_in_accept_converts_the_offer_checkpoints_and_resyncs_the_allocator() {
    let mut h = Harness::new();
    let (fid, stream) = h.subscribe("db", json!({"role": "eng", "principal": "ops"}));
    let aid = h.agent(5051);
    h.effects();
    let mut d = h.decision(&fid, &aid);
    d.role = h.core.roles["eng"];
    h.handle(Input::Allocated(vec![d])).unwrap();
    let offer = match events(&h.effects(), &fid).as_slice() {
        [Event::Offers(o)] => o.offers[0].id.value.clone(),
        other => panic!("{other:?}"),
    };
    let mut task_cpus = reserved_cpus(1.0, "eng");
    task_cpus["allocation_info"] = json!({"role": "eng"});
    let accept = json!({"type": "ACCEPT", "accept": {
        "offer_ids": [{"value": offer}],
        "operations": [
            {"type": "RESERVE", "reserve": {"resources": [reserved_cpus(2.0, "eng")]}},
            {"type": "LAUNCH", "launch": {"task_infos": [{
                "name": "t", "task_id": {"value": "t"}, "agent_id": {"value": aid},
                "command": {"value": "true"}, "resources": [task_cpus],
            }]}},
        ],
    }});
    h.call(&fid, &stream, accept).unwrap();
    let fx = h.effects();
    // The agent is told its whole checkpointed set: the 2 reserved cpus.
    let sent = checkpoints(&fx, &aid);
    assert_eq!(sent.len(), 1, "{fx:?}");
    assert_eq!(sent[0].len(), 1);
    assert_eq!(sent[0][0].reservation_role(), "eng");
    assert_eq!(sent[0][0].scalar.unwrap().value, 2.0);
    let agent = &h.core.agents[&aid];
    let by_role = agent.total.by_reservation_role();
    assert_eq!(by_role["eng"].scalar("cpus"), 2.0);
    assert_eq!(
        agent.total.scalar("cpus"),
        4.0,
        "a reservation keeps the total"
    );
    // The allocator got the eng slots, then the agent again with the task's reserved cpu.
    let eng = h.core.roles["eng"];
    let kinds = fx.iter().find_map(|e| match e {
        Effect::Allocator(AllocatorCall::AddResourceKinds(k)) => Some(k.clone()),
        _ => None,
    });
    let kinds = kinds.expect("slots for the eng reservation");
    assert!(
        kinds.iter().all(|k| k.reserved_for == Some(eng)),
        "{kinds:?}"
    );
    let slot = h
        .core
        .slots
        .slots()
        .iter()
        .position(|s| s.name == "cpus" && s.reserved_for.as_deref() == Some("eng"));
    let slot = slot.unwrap();
    let readded = fx.iter().find_map(|e| match e {
        Effect::Allocator(AllocatorCall::AddAgent { used, .. }) => Some(used.clone()),
        _ => None,
    });
    let used = readded.expect("the agent is added again");
    assert!(
        used.iter()
            .any(|u| u.role == eng && u.resources.get(slot) == 2.0),
        "the framework holds both reserved cpus (the task's, and the rest of the offer): {used:?}"
    );
    let recovered = fx.iter().find_map(|e| match e {
        Effect::Allocator(AllocatorCall::Recover { resources, .. }) => Some(resources.clone()),
        _ => None,
    });
    assert_eq!(
        recovered.map(|r| r.get(slot)),
        Some(1.0),
        "the reserved cpu the task does not use goes back to the allocator"
    );
    assert!(
        matches!(updates(&fx, &fid).as_slice(), []),
        "the task launched without an error"
    );
    assert!(h.core.frameworks[&fid].tasks.contains_key("t"));

    // An operator unreserves the free reserved cpu; not the one the task holds.
    let unreserve = |cpus: f64| Input::Operate {
        agent_id: aid.clone(),
        operation: ResourceOperation::Unreserve(
            meseta_api::convert::resources_from_wire(&[serde_json::from_value(reserved_cpus(
                cpus, "eng",
            ))
            .unwrap()])
            .unwrap(),
        ),
        principal: None,
    };
    let e = h.handle(unreserve(2.0)).unwrap_err();
    assert_eq!(e.status(), 409, "{e}");
    h.handle(unreserve(1.0)).unwrap();
    let agent = &h.core.agents[&aid];
    assert_eq!(agent.total.by_reservation_role()["eng"].scalar("cpus"), 1.0);
    let fx = h.effects();
    assert_eq!(checkpoints(&fx, &aid)[0].len(), 1);

    // A volume on unreserved disk, or on an unknown agent, is refused with a reason.
    let volume = |role: Option<&str>| {
        let mut v = json!({"name": "disk", "type": "SCALAR", "scalar": {"value": 1},
            "disk": {"persistence": {"id": "v1"}, "volume": {"container_path": "data", "mode": "RW"}}});
        if let Some(role) = role {
            v["reservations"] = json!([{"type": "DYNAMIC", "role": role}]);
        }
        ResourceOperation::Create(
            meseta_api::convert::resources_from_wire(&[serde_json::from_value(v).unwrap()])
                .unwrap(),
        )
    };
    let e = h
        .handle(Input::Operate {
            agent_id: aid.clone(),
            operation: volume(None),
            principal: None,
        })
        .unwrap_err();
    assert!(e.to_string().contains("unreserved"), "{e}");
    let e = h
        .handle(Input::Operate {
            agent_id: "nope".into(),
            operation: volume(Some("eng")),
            principal: None,
        })
        .unwrap_err();
    assert!(e.to_string().contains("No agent found"), "{e}");
}
