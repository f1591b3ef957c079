//! `operator-state`: what an operator's view of a large cluster costs the master. A master's
//! core holds 10,000 agents running 100,000 tasks of 100 frameworks (the agents re-register
//! with their tasks, as after a master failover); then `/master/state` (built and rendered as
//! the endpoint answers it) and the operator stream's SUBSCRIBED snapshot (`GET_STATE`, framed
//! as its RecordIO record) are timed, each the median of five, with their sizes. Goal (issue
//! 21): the state in <= 500 ms.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use meseta_api::common::{
    AgentInfo, FrameworkID, FrameworkInfo, TaskID, TaskInfo, TaskState, TaskStatus,
};
use meseta_api::internal as wire;
use meseta_master::allocator::AllocatorView;
use meseta_master::core::{Clock, Core, Input, Reply, Settings};
use meseta_master::security::Approver;
use meseta_master::state_json;
use serde_json::json;

use crate::{BenchOptions, Report, progress};

const FRAMEWORKS: usize = 100;

fn settings() -> Settings {
    Settings {
        allocation_interval: Duration::from_secs(1),
        offer_timeout: None,
        agent_ping_timeout: Duration::from_secs(15),
        max_agent_ping_timeouts: 5,
        heartbeat_interval: Duration::from_secs(5),
        roles: None,
        min_allocatable: Vec::new(),
        sorter: meseta_types::allocation::Sorter::Drf,
        agent_reregister_timeout: Duration::from_secs(600),
        recovery_agent_removal_limit: 1.0,
    }
}

fn framework(n: usize) -> FrameworkInfo {
    serde_json::from_value(json!({
        "user": "app", "name": format!("framework-{n}"), "roles": ["*"],
        "id": {"value": format!("F{n}")}, "checkpoint": true, "failover_timeout": 3600.0,
        "capabilities": [{"type": "MULTI_ROLE"}, {"type": "PARTITION_AWARE"}],
    }))
    .unwrap_or_default()
}

/// A core with `agents` agents, each running `per_agent` tasks spread over the frameworks.
fn cluster(agents: usize, per_agent: usize) -> anyhow::Result<Core> {
    let clock = Clock::now();
    let address: SocketAddr = "127.0.0.1:5050".parse()?;
    let mut core = Core::new(
        "bench-master".into(),
        address,
        "master".into(),
        settings(),
        Vec::new(),
        Vec::new(),
        clock,
    );
    let frameworks: Vec<FrameworkInfo> = (0..FRAMEWORKS).map(framework).collect();
    for a in 0..agents {
        let id = format!("A{a}");
        let info: AgentInfo = serde_json::from_value(json!({
            "hostname": format!("agent-{a}.example.org"), "port": 5051, "id": {"value": id},
            "resources": [
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": 32.0}},
                {"name": "mem", "type": "SCALAR", "scalar": {"value": 131072.0}},
                {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 32000}]}},
            ],
            "attributes": [{"name": "rack", "type": "TEXT", "text": {"value": format!("r{}", a % 40)}}],
        }))?;
        let endpoint = format!("10.0.{}.{}:5051", a / 250, a % 250);
        match core.handle(
            Input::Admit {
                info: info.clone(),
                endpoint: endpoint.clone(),
            },
            clock,
        ) {
            Ok(Reply::Admission { .. }) => {}
            other => anyhow::bail!("agent {id} was not admitted: {other:?}"),
        }
        let tasks = (0..per_agent)
            .map(|t| {
                let f = (a * per_agent + t) % FRAMEWORKS;
                let task_id = format!("task-{a}-{t}");
                let task: TaskInfo = serde_json::from_value(json!({
                    "name": task_id, "task_id": {"value": task_id}, "agent_id": {"value": id},
                    "resources": [
                        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}},
                        {"name": "mem", "type": "SCALAR", "scalar": {"value": 512.0}},
                    ],
                    "command": {"value": "sleep 3600"},
                    "labels": {"labels": [{"key": "team", "value": "web"}]},
                }))?;
                let mut status = TaskStatus::new(TaskID::new(&task_id), TaskState::Running);
                status.timestamp = Some(clock.wall);
                Ok(wire::RunningTask {
                    framework_id: FrameworkID::new(format!("F{f}")),
                    task,
                    status,
                    framework: frameworks.get(f).cloned(),
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let msg = wire::RegisterAgent {
            agent_info: info,
            endpoint,
            tasks,
            version: None,
            executors: Vec::new(),
        };
        if let Err(e) = core.handle(
            Input::Register {
                msg,
                reregistering: true,
            },
            clock,
        ) {
            anyhow::bail!("agent {id} did not re-register: {e}");
        }
        // The effects (allocator calls, messages) are the effector's business, not this bench's.
        core.take_effects();
    }
    Ok(core)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

pub fn run(o: &BenchOptions) -> anyhow::Result<Vec<Report>> {
    let name = "operator-state";
    let agents = o
        .agents
        .map(|a| a as usize)
        .unwrap_or(if o.quick { 200 } else { 10_000 });
    let tasks = o
        .tasks
        .map(|t| t as usize)
        .unwrap_or(if o.quick { 2_000 } else { 100_000 });
    let per_agent = tasks.div_ceil(agents.max(1));
    progress(
        name,
        format!(
            "{agents} agents x {per_agent} tasks ({FRAMEWORKS} frameworks): /master/state and SUBSCRIBED"
        ),
    );
    let built = Instant::now();
    let core = cluster(agents, per_agent)?;
    let build_time = built.elapsed();
    let running: usize = core.frameworks.values().map(|f| f.tasks.len()).sum();
    let view = AllocatorView::default();
    let everyone = Approver::everyone();
    let (mut state_times, mut snapshot_times) = (Vec::new(), Vec::new());
    let (mut state_bytes, mut snapshot_bytes) = (0, 0);
    for _ in 0..5 {
        let start = Instant::now();
        let body = state_json::state(&core, &view, &everyone)?;
        state_times.push(start.elapsed());
        state_bytes = body.len();
        let start = Instant::now();
        let record = state_json::subscribed(&core, &everyone, Duration::from_secs(5))?;
        snapshot_times.push(start.elapsed());
        snapshot_bytes = record.len();
    }
    let (state, snapshot) = (median(state_times), median(snapshot_times));
    let mut rep = Report::new(
        name,
        json!({"agents": agents, "tasks": running, "frameworks": FRAMEWORKS}),
        state,
        snapshot,
    );
    rep.consistent = running == agents * per_agent;
    rep.set(
        "columns",
        "native = GET /master/state, wasm = the SUBSCRIBED snapshot (no module involved)",
    );
    rep.set("state_mb", state_bytes as f64 / 1e6);
    rep.set("subscribed_mb", snapshot_bytes as f64 / 1e6);
    rep.set("cluster_build_s", build_time.as_secs_f64());
    rep.goal(
        "/master/state <= 500 ms",
        state <= Duration::from_millis(500),
    );
    Ok(vec![rep])
}
