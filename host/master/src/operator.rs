//! The operator endpoints' JSON, in Mesos' shapes: `/master/state`, `state-summary`,
//! `frameworks`, `slaves`, `tasks`, `roles`, `weights`, `flags`, `/metrics/snapshot` and
//! Meseta's `/master/modules`.

use std::collections::{BTreeMap, HashMap};

use meseta_api::common::{Attribute, TaskState};
use serde_json::{Map, Value, json};

use crate::allocator::AllocatorView;
use crate::core::{Agent, Core, Framework, Task};
use crate::resources::ResourceSet;
use crate::security::Approver;
use crate::state_json::{
    AgentUsage, Flags, GetAgents, GetExecutors, GetFrameworks, GetTasks, Resources, V0Agent,
    V0Framework, V0Task, V1Agent, V1Framework, V1Task, used_by,
};

/// Mesos' resources object: `{"cpus": 4, "mem": 1024, "ports": "[31000-32000]"}`.
pub fn resources_json(set: &ResourceSet) -> Value {
    to_value(&Resources(set))
}

fn to_value<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

pub(crate) fn ranges_text(r: &[meseta_types::resources::ValueRange]) -> String {
    let parts: Vec<String> = r.iter().map(|x| format!("{}-{}", x.begin, x.end)).collect();
    format!("[{}]", parts.join(", "))
}

/// `cpus:1; mem:128; ports:[31000-31001]`, for messages.
pub fn resources_text(set: &ResourceSet) -> String {
    let mut parts = Vec::new();
    let qualifier = |f: &crate::resources::Flavor| {
        let mut q = Vec::new();
        if let Some(role) = f.role() {
            q.push(role.to_string());
        }
        if let Some(v) = &f.volume {
            q.push(format!("volume {}", v.id));
        }
        if f.revocable {
            q.push("revocable".to_string());
        }
        if q.is_empty() {
            String::new()
        } else {
            format!("({})", q.join(", "))
        }
    };
    for ((name, f), v) in &set.scalars {
        parts.push(format!("{name}{}:{}", qualifier(f), round(*v)));
    }
    for ((name, f), r) in &set.ranges {
        parts.push(format!(
            "{name}{}:{}",
            qualifier(f),
            ranges_text(r.as_slice())
        ));
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

pub fn task_json(t: &Task) -> Value {
    to_value(&V0Task(t))
}

pub fn flags_json(inner: &Core) -> Value {
    to_value(&Flags(&inner.flags))
}

/// `/master/state` for everyone, as a value.
pub fn state(inner: &Core, allocator: &AllocatorView) -> Value {
    crate::state_json::state(inner, allocator, &Approver::everyone())
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null)
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
        let mut v = to_value(&V0Agent {
            agent: a,
            usage: &usage,
        });
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

/// `/master/frameworks`, as `approver` may see it.
pub fn frameworks(inner: &Core, approver: &Approver) -> Value {
    let mut fs: Vec<&Framework> = inner.frameworks.values().collect();
    fs.sort_by(|a, b| a.id.cmp(&b.id));
    let visible = |f: &&Framework| approver.everything() || approver.framework(f);
    let v0 = |framework| {
        to_value(&V0Framework {
            core: inner,
            framework,
            approver,
        })
    };
    json!({
        "frameworks": fs.into_iter().filter(visible).map(v0).collect::<Vec<_>>(),
        "completed_frameworks": inner.completed_frameworks.iter().filter(visible).map(v0).collect::<Vec<_>>(),
        "unregistered_frameworks": [],
    })
}

pub fn slaves(inner: &Core) -> Value {
    let usage = AgentUsage::of(inner);
    let mut agents: Vec<&Agent> = inner.agents.values().collect();
    agents.sort_by(|a, b| a.id.cmp(&b.id));
    json!({
        "slaves": agents.iter().map(|a| to_value(&V0Agent { agent: a, usage: &usage })).collect::<Vec<_>>(),
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
        let mut reserved = ResourceSet::default();
        for a in inner.agents.values() {
            if let Some(set) = a.total.by_reservation_role().get(&name) {
                reserved.add(set);
            }
        }
        fids.sort();
        out.push(json!({
            "name": name,
            "weight": inner.weights.get(&name).copied().unwrap_or(1.0),
            "frameworks": fids,
            "resources": resources_json(&resources),
            "allocated": resources_json(&allocated),
            "offered": resources_json(&offered),
            "reserved": resources_json(&reserved),
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
    put(
        "meseta/allocator/stale_decisions_taken",
        mx.stale_taken as f64,
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
        if let Some(u) = usage.used(&a.id) {
            used.add(u);
        }
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
    // Per role: the dominant share of what it holds (offered or allocated, as DRF counts it)
    // and, for roles with quota, its guarantee, limit and holding per resource.
    let mut held: BTreeMap<&str, ResourceSet> = BTreeMap::new();
    for f in inner.frameworks.values() {
        for role in &f.roles {
            held.entry(role.as_str()).or_default();
        }
        for t in f.tasks.values() {
            held.entry(t.role.as_str()).or_default().add(&t.resources);
        }
    }
    for o in inner.offers.values() {
        held.entry(o.role.as_str()).or_default().add(&o.resources);
    }
    for role in inner.weights.keys().chain(inner.quotas.keys()) {
        held.entry(role.as_str()).or_default();
    }
    for role in held.keys() {
        let active = s.offer_filters.get(*role).copied().unwrap_or(0);
        put(
            &format!("allocator/mesos/offer_filters/roles/{role}/active"),
            active as f64,
        );
    }
    for (role, set) in &held {
        let share = ["cpus", "mem", "disk", "gpus"]
            .iter()
            .filter(|r| total.scalar(r) > 0.0)
            .map(|r| set.scalar(r) / total.scalar(r))
            .fold(0.0, f64::max);
        put(
            &format!("allocator/mesos/roles/{role}/shares/dominant"),
            share,
        );
    }
    for (role, quota) in &inner.quotas {
        let set = held.get(role.as_str());
        let names: std::collections::BTreeSet<&String> =
            quota.guarantees.keys().chain(quota.limits.keys()).collect();
        for r in names {
            let base = format!("allocator/mesos/quota/roles/{role}/resources/{r}");
            if let Some(g) = quota.guarantees.get(r) {
                put(&format!("{base}/guarantee"), *g);
            }
            if let Some(l) = quota.limits.get(r) {
                put(&format!("{base}/limit"), *l);
            }
            put(
                &format!("{base}/offered_or_allocated"),
                set.map_or(0.0, |s| s.scalar(r)),
            );
        }
    }
    put(
        "master/operator_event_stream_subscribers",
        inner.operator_streams as f64,
    );
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

/// A task in the v1 operator API's shape (`v1::Task`).
pub fn task_v1(t: &Task) -> Value {
    to_value(&V1Task(t))
}

/// A framework in the v1 operator API's shape.
pub fn framework_v1(inner: &Core, f: &Framework) -> Value {
    to_value(&V1Framework {
        core: inner,
        framework: f,
    })
}

/// An agent in the v1 operator API's shape.
pub fn agent_v1(inner: &Core, a: &Agent) -> Value {
    let mut offered = ResourceSet::default();
    for o in inner.offers.values().filter(|o| o.agent_id == a.id) {
        offered.add(&o.resources);
    }
    to_value(&V1Agent {
        agent: a,
        offered: &offered,
        drain: inner.agent_drains.get(&a.id),
    })
}

/// `GET_TASKS`' payload, as `approver` may see it.
pub fn get_tasks(inner: &Core, approver: &Approver) -> Value {
    to_value(&GetTasks {
        core: inner,
        approver,
    })
}

/// `GET_EXECUTORS`' payload, as `approver` may see it.
pub fn get_executors(inner: &Core, approver: &Approver) -> Value {
    to_value(&GetExecutors {
        core: inner,
        approver,
    })
}

/// `GET_FRAMEWORKS`' payload, as `approver` may see it.
pub fn get_frameworks(inner: &Core, approver: &Approver) -> Value {
    to_value(&GetFrameworks {
        core: inner,
        approver,
    })
}

/// `GET_AGENTS`' payload.
pub fn get_agents(inner: &Core) -> Value {
    to_value(&GetAgents(inner))
}
