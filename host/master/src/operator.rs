//! The operator endpoints' JSON, in Mesos' shapes: `/master/state`, `state-summary`,
//! `frameworks`, `slaves`, `tasks`, `roles`, `weights`, `flags`, `/metrics/snapshot` and
//! Meseta's `/master/modules`.

use std::collections::{BTreeMap, HashMap};

use meseta_api::common::{Attribute, TaskState};
use serde_json::{Map, Value, json};

use crate::allocator::AllocatorView;
use crate::core::{Agent, Core, Framework, Task};
use crate::resources::ResourceSet;
use crate::server::MESOS_VERSION;

/// Mesos' resources object: `{"cpus": 4, "mem": 1024, "ports": "[31000-32000]"}`.
pub fn resources_json(set: &ResourceSet) -> Value {
    let mut out = Map::new();
    for name in ["cpus", "mem", "disk", "gpus"] {
        out.insert(name.into(), json!(round(set.scalar(name))));
    }
    for ((name, revocable), v) in &set.scalars {
        if !revocable && !out.contains_key(name) {
            out.insert(name.clone(), json!(round(*v)));
        }
    }
    for (name, ranges) in &set.ranges {
        out.insert(name.clone(), json!(ranges_text(ranges.as_slice())));
    }
    Value::Object(out)
}

fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn ranges_text(r: &[meseta_types::resources::ValueRange]) -> String {
    let parts: Vec<String> = r.iter().map(|x| format!("{}-{}", x.begin, x.end)).collect();
    format!("[{}]", parts.join(", "))
}

/// `cpus:1; mem:128; ports:[31000-31001]`, for messages.
pub fn resources_text(set: &ResourceSet) -> String {
    let mut parts = Vec::new();
    for ((name, revocable), v) in &set.scalars {
        parts.push(format!(
            "{name}{}:{}",
            if *revocable { "(revocable)" } else { "" },
            round(*v)
        ));
    }
    for (name, r) in &set.ranges {
        parts.push(format!("{name}:{}", ranges_text(r.as_slice())));
    }
    if parts.is_empty() {
        "{}".into()
    } else {
        parts.join("; ")
    }
}

/// An attribute's value as Mesos writes it in `attributes` objects.
pub fn attribute_text(a: &Attribute) -> String {
    if let Some(t) = &a.text {
        return t.value.clone();
    }
    if let Some(s) = &a.scalar {
        return format!("{}", s.value);
    }
    if let Some(r) = &a.ranges {
        let parts: Vec<String> = r
            .range
            .iter()
            .map(|x| format!("{}-{}", x.begin, x.end))
            .collect();
        return format!("[{}]", parts.join(", "));
    }
    if let Some(s) = &a.set {
        return format!("{{{}}}", s.item.join(","));
    }
    String::new()
}

fn attributes_json(attrs: &[Attribute]) -> Value {
    let mut out = Map::new();
    for a in attrs {
        let v = match &a.scalar {
            Some(s) if a.text.is_none() => json!(s.value),
            _ => json!(attribute_text(a)),
        };
        out.insert(a.name.clone(), v);
    }
    Value::Object(out)
}

pub fn task_json(t: &Task) -> Value {
    let statuses: Vec<Value> = t
        .statuses
        .iter()
        .map(|(state, ts)| json!({"state": state.as_str(), "timestamp": ts}))
        .collect();
    let mut v = json!({
        "id": t.info.task_id.value,
        "name": t.info.name,
        "framework_id": t.framework_id,
        "executor_id": t.executor_id.clone().unwrap_or_default(),
        "slave_id": t.agent_id,
        "agent_id": t.agent_id,
        "state": t.state.as_str(),
        "role": t.role,
        "resources": resources_json(&t.resources),
        "statuses": statuses,
    });
    if let (Some(labels), Value::Object(m)) = (&t.info.labels, &mut v) {
        m.insert(
            "labels".into(),
            serde_json::to_value(&labels.labels).unwrap_or(Value::Null),
        );
    }
    if let (Some(s), Value::Object(m)) = (&t.last_status, &mut v)
        && let Some(msg) = &s.message
    {
        m.insert("message".into(), json!(msg));
    }
    v
}

fn used_by(f: &Framework) -> ResourceSet {
    let mut used = ResourceSet::default();
    for t in f.tasks.values() {
        used.add(&t.resources);
    }
    for (_, r) in f.executors.values() {
        used.add(r);
    }
    used
}

fn framework_json(inner: &Core, f: &Framework) -> Value {
    let mut offered = ResourceSet::default();
    let offers: Vec<Value> = f
        .offers
        .iter()
        .filter_map(|id| inner.offers.get(id))
        .map(|o| {
            offered.add(&o.resources);
            json!({
                "id": o.id, "framework_id": o.framework_id, "slave_id": o.agent_id,
                "agent_id": o.agent_id, "resources": resources_json(&o.resources),
                "allocation_info": {"role": o.role},
            })
        })
        .collect();
    let used = used_by(f);
    let executors: Vec<Value> = f
        .executors
        .iter()
        .map(|((agent, id), (e, r))| {
            json!({
                "executor_id": id, "name": e.name.clone().unwrap_or_default(),
                "framework_id": f.id, "slave_id": agent, "agent_id": agent,
                "resources": resources_json(r),
            })
        })
        .collect();
    let caps: Vec<Value> = f
        .info
        .capabilities
        .iter()
        .map(|c| json!(c.kind.as_str()))
        .collect();
    json!({
        "id": f.id,
        "name": f.info.name,
        "pid": Value::Null,
        "user": f.info.user,
        "hostname": f.info.hostname.clone().unwrap_or_default(),
        "webui_url": f.info.webui_url.clone().unwrap_or_default(),
        "principal": f.info.principal,
        "role": f.roles.first().cloned().unwrap_or_else(|| "*".into()),
        "roles": f.roles,
        "capabilities": caps,
        "failover_timeout": f.info.failover_timeout.unwrap_or(0.0),
        "checkpoint": f.info.checkpoint,
        "active": f.active,
        "connected": f.connected(),
        "recovered": false,
        "registered_time": f.registered_time,
        "reregistered_time": f.reregistered_time.unwrap_or(f.registered_time),
        "unregistered_time": f.unregistered_time.unwrap_or(0.0),
        "suppressed_roles": f.suppressed.iter().collect::<Vec<_>>(),
        "resources": resources_json(&{ let mut r = used.clone(); r.add(&offered); r }),
        "allocated_resources": resources_json(&used),
        "used_resources": resources_json(&used),
        "offered_resources": resources_json(&offered),
        "tasks": f.tasks.values().map(task_json).collect::<Vec<_>>(),
        "unreachable_tasks": f.unreachable_tasks.values().map(task_json).collect::<Vec<_>>(),
        "completed_tasks": f.completed_tasks.iter().map(task_json).collect::<Vec<_>>(),
        "offers": offers,
        "executors": executors,
        "labels": f.info.labels.as_ref().map(|l| serde_json::to_value(&l.labels).unwrap_or(Value::Null)),
    })
}

/// What each agent holds, gathered in one pass over the tasks, executors and offers (asking
/// per agent would cost agents x tasks: 10^9 steps for 10,000 agents and 100,000 tasks).
#[derive(Default)]
struct AgentUsage<'a> {
    /// Resources of active tasks and custom executors.
    used: HashMap<&'a str, ResourceSet>,
    offered: HashMap<&'a str, ResourceSet>,
}

impl<'a> AgentUsage<'a> {
    fn of(inner: &'a Core) -> AgentUsage<'a> {
        let mut u = AgentUsage::default();
        for f in inner.frameworks.values() {
            for t in f.tasks.values() {
                u.used
                    .entry(t.agent_id.as_str())
                    .or_default()
                    .add(&t.resources);
            }
            for ((a, _), (_, r)) in &f.executors {
                u.used.entry(a.as_str()).or_default().add(r);
            }
        }
        for o in inner.offers.values() {
            u.offered
                .entry(o.agent_id.as_str())
                .or_default()
                .add(&o.resources);
        }
        u
    }

    fn get(&self, agent_id: &str) -> (ResourceSet, ResourceSet) {
        (
            self.used.get(agent_id).cloned().unwrap_or_default(),
            self.offered.get(agent_id).cloned().unwrap_or_default(),
        )
    }
}

fn agent_json(a: &Agent, usage: &AgentUsage) -> Value {
    let (used, offered) = usage.get(&a.id);
    let mut unreserved_full = Vec::new();
    for r in meseta_api::convert::resources_to_wire(&a.total.to_resources()) {
        unreserved_full.push(serde_json::to_value(r).unwrap_or(Value::Null));
    }
    json!({
        "id": a.id,
        "pid": format!("slave(1)@{}", a.endpoint),
        "hostname": a.info.hostname,
        "port": a.info.port.unwrap_or(5051),
        "registered_time": a.registered_time,
        "reregistered_time": a.reregistered_time,
        "resources": resources_json(&a.total),
        "used_resources": resources_json(&used),
        "offered_resources": resources_json(&offered),
        "reserved_resources": {},
        "unreserved_resources": resources_json(&a.total),
        "unreserved_resources_full": unreserved_full,
        "reserved_resources_full": {},
        "attributes": attributes_json(&a.info.attributes),
        "active": true,
        "deactivated": false,
        "version": MESOS_VERSION,
        "meseta_version": a.version,
        "capabilities": ["MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT"],
    })
}

pub fn flags_json(inner: &Core) -> Value {
    let mut flags = Map::new();
    for (k, v) in &inner.flags {
        flags.insert(k.clone(), json!(v));
    }
    Value::Object(flags)
}

fn master_info_json(inner: &Core) -> Value {
    json!({
        "id": inner.master_id,
        "pid": format!("master@{}", inner.address),
        "port": inner.address.port(),
        "hostname": inner.hostname,
        "version": MESOS_VERSION,
        "address": {"hostname": inner.hostname, "ip": inner.address.ip().to_string(), "port": inner.address.port()},
    })
}

pub fn state(inner: &Core, allocator: &AllocatorView) -> Value {
    let usage = AgentUsage::of(inner);
    let mut frameworks: Vec<&Framework> = inner.frameworks.values().collect();
    frameworks.sort_by(|a, b| a.id.cmp(&b.id));
    let mut agents: Vec<&Agent> = inner.agents.values().collect();
    agents.sort_by(|a, b| a.id.cmp(&b.id));
    json!({
        "version": MESOS_VERSION,
        "meseta_version": env!("CARGO_PKG_VERSION"),
        "id": inner.master_id,
        "pid": format!("master@{}", inner.address),
        "hostname": inner.hostname,
        "start_time": inner.start_time,
        "elected_time": inner.start_time,
        "leader": format!("master@{}", inner.address),
        "leader_info": master_info_json(inner),
        "activated_slaves": inner.agents.len(),
        "deactivated_slaves": 0,
        "unreachable_slaves": inner.unreachable_agents.len(),
        "allocator": allocator.name,
        "flags": flags_json(inner),
        "slaves": agents.iter().map(|a| agent_json(a, &usage)).collect::<Vec<_>>(),
        "recovered_slaves": [],
        "frameworks": frameworks.iter().map(|f| framework_json(inner, f)).collect::<Vec<_>>(),
        "completed_frameworks": inner.completed_frameworks.iter().map(|f| framework_json(inner, f)).collect::<Vec<_>>(),
        "orphan_tasks": [],
        "unregistered_frameworks": [],
    })
}

fn task_counts(tasks: impl Iterator<Item = TaskState>) -> BTreeMap<&'static str, u64> {
    let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
    for s in [
        TaskState::Staging,
        TaskState::Starting,
        TaskState::Running,
        TaskState::Killing,
        TaskState::Finished,
        TaskState::Killed,
        TaskState::Failed,
        TaskState::Lost,
        TaskState::Error,
        TaskState::Unreachable,
        TaskState::Dropped,
        TaskState::Gone,
        TaskState::GoneByOperator,
    ] {
        counts.insert(s.as_str(), 0);
    }
    for s in tasks {
        *counts.entry(s.as_str()).or_default() += 1;
    }
    counts
}

fn all_tasks(f: &Framework) -> impl Iterator<Item = &Task> {
    f.tasks
        .values()
        .chain(f.unreachable_tasks.values())
        .chain(f.completed_tasks.iter())
}

pub fn state_summary(inner: &Core) -> Value {
    let usage = AgentUsage::of(inner);
    // Each agent's task states and frameworks, in one pass.
    let mut states: HashMap<&str, Vec<TaskState>> = HashMap::new();
    let mut agent_frameworks: HashMap<&str, std::collections::BTreeSet<&String>> = HashMap::new();
    for f in inner
        .frameworks
        .values()
        .chain(inner.completed_frameworks.iter())
    {
        for t in all_tasks(f) {
            states.entry(t.agent_id.as_str()).or_default().push(t.state);
        }
    }
    for f in inner.frameworks.values() {
        for t in f.tasks.values() {
            agent_frameworks
                .entry(t.agent_id.as_str())
                .or_default()
                .insert(&f.id);
        }
    }
    let mut agents = Vec::new();
    for a in inner.agents.values() {
        let mut v = agent_json(a, &usage);
        let tasks = states.get(a.id.as_str()).into_iter().flatten().copied();
        let fids: Vec<&String> = agent_frameworks
            .get(a.id.as_str())
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        if let Value::Object(m) = &mut v {
            for (k, n) in task_counts(tasks) {
                m.insert(k.into(), json!(n));
            }
            m.insert("framework_ids".into(), json!(fids));
        }
        agents.push(v);
    }
    let mut frameworks = Vec::new();
    for f in inner.frameworks.values() {
        let used = used_by(f);
        let mut v = json!({
            "id": f.id, "name": f.info.name, "pid": Value::Null,
            "used_resources": resources_json(&used),
            "offered_resources": resources_json(&ResourceSet::default()),
            "capabilities": f.info.capabilities.iter().map(|c| c.kind.as_str()).collect::<Vec<_>>(),
            "hostname": f.info.hostname.clone().unwrap_or_default(),
            "webui_url": f.info.webui_url.clone().unwrap_or_default(),
            "active": f.active, "connected": f.connected(),
            "role": f.roles.first().cloned().unwrap_or_else(|| "*".into()), "roles": f.roles,
        });
        let slave_ids: std::collections::BTreeSet<&String> =
            f.tasks.values().map(|t| &t.agent_id).collect();
        if let Value::Object(m) = &mut v {
            for (k, n) in task_counts(all_tasks(f).map(|t| t.state)) {
                m.insert(k.into(), json!(n));
            }
            m.insert("slave_ids".into(), json!(slave_ids));
        }
        frameworks.push(v);
    }
    json!({
        "hostname": inner.hostname,
        "slaves": agents,
        "frameworks": frameworks,
    })
}

pub fn frameworks(inner: &Core) -> Value {
    let mut fs: Vec<&Framework> = inner.frameworks.values().collect();
    fs.sort_by(|a, b| a.id.cmp(&b.id));
    json!({
        "frameworks": fs.iter().map(|f| framework_json(inner, f)).collect::<Vec<_>>(),
        "completed_frameworks": inner.completed_frameworks.iter().map(|f| framework_json(inner, f)).collect::<Vec<_>>(),
        "unregistered_frameworks": [],
    })
}

pub fn slaves(inner: &Core) -> Value {
    let usage = AgentUsage::of(inner);
    let mut agents: Vec<&Agent> = inner.agents.values().collect();
    agents.sort_by(|a, b| a.id.cmp(&b.id));
    json!({
        "slaves": agents.iter().map(|a| agent_json(a, &usage)).collect::<Vec<_>>(),
        "recovered_slaves": [],
    })
}

/// `/master/tasks?limit=&offset=&order=&framework_id=&task_id=`.
pub fn tasks(inner: &Core, query: &BTreeMap<String, String>) -> Result<Value, String> {
    let limit: usize = match query.get("limit") {
        Some(v) => v
            .parse()
            .map_err(|_| format!("Failed to parse 'limit': '{v}' is not a number"))?,
        None => 100,
    };
    let offset: usize = match query.get("offset") {
        Some(v) => v
            .parse()
            .map_err(|_| format!("Failed to parse 'offset': '{v}' is not a number"))?,
        None => 0,
    };
    let descending = match query.get("order").map(String::as_str) {
        None | Some("des") => true,
        Some("asc") => false,
        Some(o) => {
            return Err(format!(
                "Failed to parse 'order': '{o}' is not 'asc' or 'des'"
            ));
        }
    };
    let mut all: Vec<&Task> = inner
        .frameworks
        .values()
        .chain(inner.completed_frameworks.iter())
        .filter(|f| query.get("framework_id").is_none_or(|id| *id == f.id))
        .flat_map(all_tasks)
        .filter(|t| {
            query
                .get("task_id")
                .is_none_or(|id| *id == t.info.task_id.value)
        })
        .collect();
    all.sort_by(|a, b| {
        let ta = a.statuses.first().map(|s| s.1).unwrap_or(0.0);
        let tb = b.statuses.first().map(|s| s.1).unwrap_or(0.0);
        ta.partial_cmp(&tb).unwrap_or(std::cmp::Ordering::Equal)
    });
    if descending {
        all.reverse();
    }
    let page: Vec<Value> = all
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(task_json)
        .collect();
    Ok(json!({ "tasks": page }))
}

pub fn roles(inner: &Core) -> Value {
    let mut out = Vec::new();
    let mut names: std::collections::BTreeSet<String> = inner.weights.keys().cloned().collect();
    names.extend(inner.quotas.keys().cloned());
    for f in inner.frameworks.values() {
        names.extend(f.roles.iter().cloned());
    }
    for name in names {
        let mut allocated = ResourceSet::default();
        let mut offered = ResourceSet::default();
        let mut fids = Vec::new();
        for f in inner.frameworks.values() {
            if f.roles.contains(&name) {
                fids.push(f.id.clone());
            }
            for t in f.tasks.values().filter(|t| t.role == name) {
                allocated.add(&t.resources);
            }
        }
        for o in inner.offers.values().filter(|o| o.role == name) {
            offered.add(&o.resources);
        }
        let mut resources = allocated.clone();
        resources.add(&offered);
        fids.sort();
        out.push(json!({
            "name": name,
            "weight": inner.weights.get(&name).copied().unwrap_or(1.0),
            "frameworks": fids,
            "resources": resources_json(&resources),
            "allocated": resources_json(&allocated),
            "offered": resources_json(&offered),
            "reserved": {},
            "quota": {
                "role": name,
                "guarantee": inner.quotas.get(&name).map(|q| q.guarantees.clone()).unwrap_or_default(),
                "limit": inner.quotas.get(&name).map(|q| q.limits.clone()).unwrap_or_default(),
                "consumed": resources_json(&allocated),
            },
        }));
    }
    json!({ "roles": out })
}

pub fn weights(inner: &Core) -> Value {
    let list: Vec<Value> = inner
        .weights
        .iter()
        .map(|(r, w)| json!({"role": r, "weight": w}))
        .collect();
    Value::Array(list)
}

pub fn modules(
    allocator: &AllocatorView,
    loaded: &[std::sync::Arc<meseta_runtime::LoadedModule>],
    shadows: &[crate::shadow::ShadowReport],
) -> Value {
    let mut out = Vec::new();
    // A module swapped in at run time is listed too.
    let swapped_in = allocator
        .module
        .as_ref()
        .filter(|a| !loaded.iter().any(|m| std::sync::Arc::ptr_eq(a, m)));
    for m in loaded.iter().chain(swapped_in) {
        let c = m.counters.snapshot();
        let in_use = allocator
            .module
            .as_ref()
            .is_some_and(|a| std::sync::Arc::ptr_eq(a, m));
        out.push(json!({
            "name": m.spec.name,
            "kind": m.world.kind,
            "world": format!("{}/{}@{}.{}.{}", m.world.package, m.world.kind, m.world.version.0, m.world.version.1, m.world.version.2),
            "origin": m.spec.origin,
            "failure_policy": m.spec.settings.failure_policy.as_str(),
            "memory_limit": m.memory_limit,
            "deadline_ms": m.deadline.as_secs_f64() * 1e3,
            "in_use": in_use,
            "counters": {
                "calls": c.calls,
                "faults": c.faults.total(),
                "faults_by_cause": {
                    "trap": c.faults.trap, "deadline": c.faults.deadline, "memory": c.faults.memory,
                    "invalid_output": c.faults.invalid_output, "instantiate": c.faults.instantiate,
                    "quarantined": c.faults.quarantined,
                },
                "fallbacks": c.fallbacks,
                "instantiations": c.instantiations,
                "latency_us": {"mean": c.latency.mean_us, "p50": c.latency.p50_us, "p99": c.latency.p99_us, "max": c.latency.max_us},
            },
        }));
    }
    json!({
        "allocator": allocator.name,
        "allocator_history": allocator.history,
        "shadow_allocators": shadows,
        "modules": out,
    })
}

pub fn metrics(
    inner: &Core,
    allocator: &AllocatorView,
    loaded: &[std::sync::Arc<meseta_runtime::LoadedModule>],
    shadows: &[crate::shadow::ShadowReport],
) -> Value {
    let mut m: BTreeMap<String, f64> = BTreeMap::new();
    let mut put = |k: &str, v: f64| {
        m.insert(k.to_string(), v);
    };
    put("master/uptime_secs", inner.start.elapsed().as_secs_f64());
    put("master/elected", 1.0);
    let fs = &inner.frameworks;
    put(
        "master/frameworks_active",
        fs.values().filter(|f| f.active).count() as f64,
    );
    put(
        "master/frameworks_inactive",
        fs.values().filter(|f| !f.active).count() as f64,
    );
    put(
        "master/frameworks_connected",
        fs.values().filter(|f| f.connected()).count() as f64,
    );
    put(
        "master/frameworks_disconnected",
        fs.values().filter(|f| !f.connected()).count() as f64,
    );
    put("master/slaves_active", inner.agents.len() as f64);
    put("master/slaves_connected", inner.agents.len() as f64);
    put("master/slaves_inactive", 0.0);
    put("master/slaves_disconnected", 0.0);
    put(
        "master/slaves_unreachable",
        inner.unreachable_agents.len() as f64,
    );
    let mx = &inner.metrics;
    put("master/slave_registrations", mx.agent_registrations as f64);
    put(
        "master/slave_reregistrations",
        mx.agent_reregistrations as f64,
    );
    put("master/slave_removals", mx.agent_removals as f64);
    put(
        "master/slave_removals/reason_unhealthy",
        mx.agent_removals as f64,
    );
    put("master/outstanding_offers", inner.offers.len() as f64);
    put(
        "master/valid_status_updates",
        mx.valid_status_updates as f64,
    );
    put(
        "master/invalid_status_updates",
        mx.invalid_status_updates as f64,
    );
    put("master/messages_decline_offers", mx.offers_declined as f64);
    put("master/messages_launch_tasks", mx.tasks_launched as f64);
    put(
        "master/valid_framework_to_executor_messages",
        mx.framework_to_executor_messages as f64,
    );
    put(
        "master/valid_executor_to_framework_messages",
        mx.executor_to_framework_messages as f64,
    );
    put("master/invalid_calls", mx.invalid_calls as f64);
    put(
        "meseta/allocator/stale_decisions",
        mx.stale_decisions as f64,
    );
    for shadow in shadows {
        let key = |k: &str| format!("meseta/allocator/shadow/{}/{k}", shadow.name);
        put(&key("rounds"), shadow.rounds as f64);
        put(&key("rounds_skipped"), shadow.rounds_skipped as f64);
        put(&key("rounds_differing"), shadow.rounds_differing as f64);
        put(&key("offers_differing"), shadow.offers_differing as f64);
        put(&key("faults"), shadow.faults as f64);
        put(&key("event_faults"), shadow.event_faults as f64);
        put(&key("backlog"), shadow.backlog as f64);
        put(&key("round_ms"), shadow.round_ms.last);
        put(
            &key("running"),
            f64::from(u8::from(shadow.state == "running")),
        );
        if let Some(last) = &shadow.last_round {
            put(&key("fairness_index"), last.fairness_index.shadow);
            put(&key("live_fairness_index"), last.fairness_index.live);
            put(&key("last_offers_differing"), last.offers_differing as f64);
        }
    }
    for (call, n) in &mx.calls {
        put(&format!("master/calls/{}", call.to_lowercase()), *n as f64);
    }
    let mut active_states: BTreeMap<&'static str, u64> = BTreeMap::new();
    for f in fs.values() {
        for t in f.tasks.values().chain(f.unreachable_tasks.values()) {
            *active_states.entry(t.state.as_str()).or_default() += 1;
        }
    }
    for (state, key) in [
        (TaskState::Staging, "staging"),
        (TaskState::Starting, "starting"),
        (TaskState::Running, "running"),
        (TaskState::Killing, "killing"),
        (TaskState::Unreachable, "unreachable"),
    ] {
        put(
            &format!("master/tasks_{key}"),
            active_states.get(state.as_str()).copied().unwrap_or(0) as f64,
        );
    }
    for key in [
        "finished",
        "failed",
        "killed",
        "lost",
        "error",
        "dropped",
        "gone",
        "gone_by_operator",
    ] {
        put(
            &format!("master/tasks_{key}"),
            mx.terminal.get(key).copied().unwrap_or(0) as f64,
        );
    }
    let mut total = ResourceSet::default();
    let mut used = ResourceSet::default();
    let usage = AgentUsage::of(inner);
    for a in inner.agents.values() {
        total.add(&a.total);
        used.add(&usage.get(&a.id).0);
    }
    let mut offered = ResourceSet::default();
    for o in inner.offers.values() {
        offered.add(&o.resources);
    }
    for r in ["cpus", "mem", "disk", "gpus"] {
        let t = total.scalar(r);
        let u = used.scalar(r);
        put(&format!("master/{r}_total"), t);
        put(&format!("master/{r}_used"), u);
        put(
            &format!("master/{r}_percent"),
            if t > 0.0 { u / t } else { 0.0 },
        );
        put(&format!("allocator/mesos/resources/{r}/total"), t);
        let mut oa = used.scalar(r);
        oa += offered.scalar(r);
        put(
            &format!("allocator/mesos/resources/{r}/offered_or_allocated"),
            oa,
        );
    }
    let s = &allocator.stats;
    put("allocator/mesos/allocation_runs", s.runs as f64);
    put("allocator/mesos/allocation_run_ms", s.last_ms);
    put("allocator/mesos/allocation_run_ms/count", s.runs as f64);
    put("allocator/mesos/allocation_run_ms/max", s.max_ms);
    put(
        "allocator/mesos/allocation_run_ms/mean",
        if s.runs > 0 {
            s.total_ms / s.runs as f64
        } else {
            0.0
        },
    );
    put("allocator/mesos/event_queue_dispatches", 0.0);
    put("meseta/allocator/module_faults", s.faults as f64);
    put("meseta/allocator/event_faults", s.event_faults as f64);
    put("meseta/allocator/fallback_rounds", s.fallback_rounds as f64);
    for (role, w) in &inner.weights {
        put(&format!("allocator/mesos/roles/{role}/weight"), *w);
    }
    for module in loaded {
        let c = module.counters.snapshot();
        let base = format!("meseta/modules/{}", module.spec.name);
        put(&format!("{base}/calls"), c.calls as f64);
        put(&format!("{base}/faults"), c.faults.total() as f64);
        put(&format!("{base}/fallbacks"), c.fallbacks as f64);
        put(&format!("{base}/instantiations"), c.instantiations as f64);
        put(&format!("{base}/latency_us/p99"), c.latency.p99_us);
    }
    let mut out = Map::new();
    for (k, v) in m {
        out.insert(k, json!(v));
    }
    Value::Object(out)
}

/// Mesos' `TimeInfo` for a wall-clock time in seconds.
fn time_info(seconds: f64) -> Value {
    json!({ "nanoseconds": (seconds * 1e9) as i64 })
}

/// Resources in the v1 JSON shape.
fn wire(set: &ResourceSet) -> Value {
    serde_json::to_value(meseta_api::convert::resources_to_wire(&set.to_resources()))
        .unwrap_or_default()
}

fn id(value: &str) -> Value {
    json!({ "value": value })
}

/// A task as the v1 operator API shows it (`v1::Task`).
/// A task in the v1 operator API's shape.
pub fn task_v1(t: &Task) -> Value {
    let info = &t.info;
    let mut out = Map::new();
    out.insert("name".into(), json!(info.name));
    out.insert("task_id".into(), id(&info.task_id.value));
    out.insert("framework_id".into(), id(&t.framework_id));
    if let Some(e) = &t.executor_id {
        out.insert("executor_id".into(), id(e));
    }
    out.insert("agent_id".into(), id(&t.agent_id));
    out.insert("state".into(), json!(t.state.as_str()));
    out.insert("resources".into(), wire(&t.resources));
    let statuses: Vec<Value> = t
        .last_status
        .iter()
        .filter_map(|s| serde_json::to_value(s).ok())
        .collect();
    out.insert("statuses".into(), Value::Array(statuses));
    // Only the fields the v1 `Task` carries, each serialized on its own (the whole `TaskInfo`,
    // command and data included, would cost several times more for 100,000 tasks).
    let optional = [
        (
            "labels",
            info.labels
                .as_ref()
                .and_then(|v| serde_json::to_value(v).ok()),
        ),
        (
            "discovery",
            info.discovery
                .as_ref()
                .and_then(|v| serde_json::to_value(v).ok()),
        ),
        (
            "container",
            info.container
                .as_ref()
                .and_then(|v| serde_json::to_value(v).ok()),
        ),
        (
            "health_check",
            info.health_check
                .as_ref()
                .and_then(|v| serde_json::to_value(v).ok()),
        ),
        (
            "check",
            info.check
                .as_ref()
                .and_then(|v| serde_json::to_value(v).ok()),
        ),
        (
            "kill_policy",
            info.kill_policy
                .as_ref()
                .and_then(|v| serde_json::to_value(v).ok()),
        ),
    ];
    for (key, value) in optional {
        if let Some(v) = value.filter(|v| !v.is_null()) {
            out.insert(key.into(), v);
        }
    }
    Value::Object(out)
}

/// `GET_TASKS`' payload.
pub fn get_tasks(inner: &Core) -> Value {
    let mut frameworks: Vec<&Framework> = inner
        .frameworks
        .values()
        .chain(inner.completed_frameworks.iter())
        .collect();
    frameworks.sort_by(|a, b| a.id.cmp(&b.id));
    let (mut tasks, mut unreachable, mut completed) = (Vec::new(), Vec::new(), Vec::new());
    for f in frameworks {
        tasks.extend(f.tasks.values().map(task_v1));
        unreachable.extend(f.unreachable_tasks.values().map(task_v1));
        completed.extend(f.completed_tasks.iter().map(task_v1));
    }
    json!({"tasks": tasks, "unreachable_tasks": unreachable, "completed_tasks": completed})
}

/// `GET_EXECUTORS`' payload: the custom executors.
pub fn get_executors(inner: &Core) -> Value {
    let mut executors = Vec::new();
    for f in inner.frameworks.values() {
        for ((agent, _), (info, _)) in &f.executors {
            executors.push(json!({
                "executor_info": serde_json::to_value(info).unwrap_or_default(),
                "agent_id": id(agent),
            }));
        }
    }
    json!({ "executors": executors })
}

/// A framework in the v1 operator API's shape.
pub fn framework_v1(inner: &Core, f: &Framework) -> Value {
    let mut info = serde_json::to_value(&f.info).unwrap_or_default();
    info["id"] = id(&f.id);
    let mut allocated = ResourceSet::default();
    for t in f.tasks.values() {
        allocated.add(&t.resources);
    }
    let mut offered = ResourceSet::default();
    for o in f.offers.iter().filter_map(|o| inner.offers.get(o)) {
        offered.add(&o.resources);
    }
    let mut out = json!({
        "framework_info": info,
        "active": f.active,
        "connected": f.connected(),
        "recovered": f.recovered,
        "registered_time": time_info(f.registered_time),
        "offers": [],
        "allocated_resources": wire(&allocated),
        "offered_resources": wire(&offered),
    });
    if let Some(t) = f.reregistered_time {
        out["reregistered_time"] = time_info(t);
    }
    if let Some(t) = f.unregistered_time {
        out["unregistered_time"] = time_info(t);
    }
    out
}

/// `GET_FRAMEWORKS`' payload.
pub fn get_frameworks(inner: &Core) -> Value {
    let mut frameworks: Vec<&Framework> = inner.frameworks.values().collect();
    frameworks.sort_by(|a, b| a.id.cmp(&b.id));
    json!({
        "frameworks": frameworks.iter().map(|f| framework_v1(inner, f)).collect::<Vec<_>>(),
        "completed_frameworks": inner
            .completed_frameworks
            .iter()
            .map(|f| framework_v1(inner, f))
            .collect::<Vec<_>>(),
    })
}

/// An agent in the v1 operator API's shape.
pub fn agent_v1(inner: &Core, a: &Agent) -> Value {
    let mut offered = ResourceSet::default();
    for o in inner.offers.values().filter(|o| o.agent_id == a.id) {
        offered.add(&o.resources);
    }
    agent_v1_with(a, &offered)
}

fn agent_v1_with(a: &Agent, offered: &ResourceSet) -> Value {
    let mut info = serde_json::to_value(&a.info).unwrap_or_default();
    info["id"] = id(&a.id);
    let mut out = json!({
        "agent_info": info,
        "active": true,
        "deactivated": false,
        "version": a.version.clone().unwrap_or_else(|| MESOS_VERSION.to_string()),
        "pid": format!("slave(1)@{}", a.endpoint.trim_start_matches("http://").split('/').next().unwrap_or_default()),
        "registered_time": time_info(a.registered_time),
        "total_resources": wire(&a.total),
        "allocated_resources": wire(&a.allocated),
        "offered_resources": wire(offered),
        "capabilities": [],
    });
    if let Some(t) = a.reregistered_time {
        out["reregistered_time"] = time_info(t);
    }
    out
}

/// `GET_AGENTS`' payload.
pub fn get_agents(inner: &Core) -> Value {
    let mut agents: Vec<&Agent> = inner.agents.values().collect();
    agents.sort_by(|a, b| a.id.cmp(&b.id));
    let usage = AgentUsage::of(inner);
    let agents: Vec<Value> = agents
        .iter()
        .map(|a| agent_v1_with(a, &usage.get(&a.id).1))
        .collect();
    let recovered: Vec<Value> = inner
        .recovered_agents
        .iter()
        .map(|(agent_id, r)| {
            let mut info = serde_json::to_value(&r.info).unwrap_or_default();
            info["id"] = id(agent_id);
            info
        })
        .collect();
    json!({ "agents": agents, "recovered_agents": recovered })
}

/// `GET_STATE`'s payload.
pub fn get_state(inner: &Core) -> Value {
    json!({
        "get_tasks": get_tasks(inner),
        "get_executors": get_executors(inner),
        "get_frameworks": get_frameworks(inner),
        "get_agents": get_agents(inner),
    })
}
