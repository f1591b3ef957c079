//! The JSON of Mesos' agent endpoints: `/slave(1)/state`, `/metrics/snapshot`,
//! `/slave(1)/flags`.

use std::collections::BTreeMap;

use meseta_api::common::TaskState;
use meseta_types::resources::{Attribute, AttributeValue, Resource, ResourceValue, ValueRange};
use serde_json::{Map, Value, json};

use super::model::{Executor, ExecutorKind, Framework, State, Task};
use meseta_runtime::LoadedModule;

use super::{MESOS_VERSION, Shared};

fn ranges_text(ranges: &[ValueRange]) -> String {
    let parts: Vec<String> = ranges
        .iter()
        .map(|r| format!("{}-{}", r.begin, r.end))
        .collect();
    format!("[{}]", parts.join(", "))
}

/// Mesos' `model(Resources)`: `{"cpus": 4, "gpus": 0, "mem": 1024, "disk": 0,
/// "ports": "[31000-32000]"}` (scalars summed over roles; `cpus`, `gpus`, `mem`, `disk`
/// always present).
pub fn resources_object(resources: &[Resource]) -> Value {
    let mut scalars: BTreeMap<String, f64> = BTreeMap::new();
    for name in ["cpus", "gpus", "mem", "disk"] {
        scalars.insert(name.to_string(), 0.0);
    }
    let mut ranges: BTreeMap<String, Vec<ValueRange>> = BTreeMap::new();
    let mut sets: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in resources {
        match &r.value {
            ResourceValue::Scalar(v) => *scalars.entry(r.name.clone()).or_default() += v,
            ResourceValue::Ranges(v) => ranges.entry(r.name.clone()).or_default().extend(v),
            ResourceValue::Set(v) => sets.entry(r.name.clone()).or_default().extend(v.clone()),
        }
    }
    let mut out = Map::new();
    for (name, value) in scalars {
        out.insert(name, json!(value));
    }
    for (name, mut value) in ranges {
        value.sort_by_key(|r| (r.begin, r.end));
        out.insert(name, json!(ranges_text(&value)));
    }
    for (name, value) in sets {
        out.insert(name, json!(format!("{{{}}}", value.join(", "))));
    }
    Value::Object(out)
}

fn wire_resources_object(resources: &[meseta_api::common::Resource]) -> Value {
    let converted: Vec<Resource> = resources
        .iter()
        .filter_map(|r| Resource::try_from(r).ok())
        .collect();
    resources_object(&converted)
}

fn domain_resources(resources: &[meseta_api::common::Resource]) -> Vec<Resource> {
    resources
        .iter()
        .filter_map(|r| Resource::try_from(r).ok())
        .collect()
}

/// Mesos' attributes object: `{"rack": "r1", "weight": 3, "ids": "[1-10]"}`.
pub fn attributes_object(attributes: &[Attribute]) -> Value {
    let mut out = Map::new();
    for a in attributes {
        let value = match &a.value {
            AttributeValue::Scalar(v) => json!(v),
            AttributeValue::Ranges(r) => json!(ranges_text(r)),
            AttributeValue::Set(s) => json!(format!("{{{}}}", s.join(", "))),
            AttributeValue::Text(t) => json!(t),
        };
        out.insert(a.name.clone(), value);
    }
    Value::Object(out)
}

fn task_json(task: &Task, agent_id: &str) -> Value {
    let statuses: Vec<Value> = task
        .statuses
        .iter()
        .map(|s| {
            let mut v = json!({
                "state": s.state.as_str(),
                "timestamp": s.timestamp.unwrap_or_default(),
            });
            if let Some(cs) = &s.container_status
                && let (Some(map), Ok(cs)) = (v.as_object_mut(), serde_json::to_value(cs))
            {
                map.insert("container_status".into(), cs);
            }
            v
        })
        .collect();
    let mut v = json!({
        "id": task.id(),
        "name": task.info.name,
        "framework_id": task.framework_id,
        "executor_id": task.executor_id,
        "slave_id": agent_id,
        "state": task.state.as_str(),
        "resources": wire_resources_object(&task.info.resources),
        "statuses": statuses,
    });
    if let Some(map) = v.as_object_mut() {
        if let Some(labels) = &task.info.labels
            && let Ok(l) = serde_json::to_value(&labels.labels)
        {
            map.insert("labels".into(), l);
        }
        if let Some(container) = &task.info.container {
            map.insert("container".into(), container.clone());
        }
        if let Some(discovery) = &task.info.discovery {
            map.insert("discovery".into(), discovery.clone());
        }
    }
    v
}

fn queued_task_json(
    task: &meseta_api::common::TaskInfo,
    executor: &Executor,
    agent_id: &str,
) -> Value {
    json!({
        "id": task.task_id.value,
        "name": task.name,
        "framework_id": executor.framework_id,
        "executor_id": executor.id,
        "slave_id": agent_id,
        "state": TaskState::Staging.as_str(),
        "resources": wire_resources_object(&task.resources),
    })
}

fn executor_resources(executor: &Executor) -> Vec<Resource> {
    let mut all = domain_resources(&executor.info.resources);
    for task in executor.tasks.values().filter(|t| !t.state.is_terminal()) {
        all.extend(domain_resources(&task.info.resources));
    }
    for task in &executor.queued {
        all.extend(domain_resources(&task.resources));
    }
    all
}

fn executor_json(executor: &Executor, agent_id: &str) -> Value {
    let kind = match executor.kind {
        ExecutorKind::Command => "COMMAND",
        ExecutorKind::Group => "DEFAULT",
        ExecutorKind::Custom => "CUSTOM",
    };
    json!({
        "id": executor.id,
        "name": executor.info.name.clone().unwrap_or_default(),
        "source": executor.info.source.clone().unwrap_or_default(),
        "framework_id": executor.framework_id,
        "container": executor.container_id,
        "directory": executor.directory.to_string_lossy(),
        "type": kind,
        "resources": resources_object(&executor_resources(executor)),
        "tasks": executor.tasks.values().map(|t| task_json(t, agent_id)).collect::<Vec<_>>(),
        "queued_tasks": executor.queued.iter().map(|t| queued_task_json(t, executor, agent_id)).collect::<Vec<_>>(),
        "completed_tasks": executor.completed_tasks.iter().map(|t| task_json(t, agent_id)).collect::<Vec<_>>(),
    })
}

fn framework_json(framework: &Framework, agent_id: &str) -> Value {
    let info = &framework.info;
    let roles = info.effective_roles();
    json!({
        "id": framework.id,
        "name": info.name,
        "user": info.user,
        "role": info.role.clone().unwrap_or_else(|| roles.first().cloned().unwrap_or_else(|| "*".into())),
        "roles": roles,
        "hostname": info.hostname.clone().unwrap_or_default(),
        "failover_timeout": info.failover_timeout.unwrap_or(0.0),
        "checkpoint": info.checkpoint,
        "capabilities": info.capabilities.iter().map(|c| c.kind.as_str().to_string()).collect::<Vec<_>>(),
        "executors": framework.executors.values().map(|e| executor_json(e, agent_id)).collect::<Vec<_>>(),
        "completed_executors": framework.completed_executors.iter().map(|e| executor_json(e, agent_id)).collect::<Vec<_>>(),
    })
}

/// Mesos' agent flags, as far as Meseta has them.
pub fn flags(d: &Shared) -> Value {
    let c = &d.config;
    json!({
        // a ZooKeeper URL without its password
        "master": match &d.zk {
            Some(url) if c.master.trim().starts_with("zk://") => url.to_string(),
            _ => c.master.clone(),
        },
        "ip": c.listen.ip().to_string(),
        "port": d.address.port().to_string(),
        "hostname": c.hostname.clone().unwrap_or_default(),
        "work_dir": c.work_dir.to_string_lossy(),
        "resources": c.resources.clone().unwrap_or_default(),
        "default_role": c.default_role.clone().unwrap_or_else(|| "*".to_string()),
        "attributes": c.attributes.clone().unwrap_or_default(),
        "executor_shutdown_grace_period": crate::launcher::format_duration(c.executor_shutdown_grace_period),
        "executor_registration_timeout": crate::launcher::format_duration(c.executor_registration_timeout),
        "checkpoint": "false",
        "switch_user": "true",
        "isolation": c.isolation.as_ref().map(|i| i.names().join(",")).unwrap_or_default(),
        "resource_estimator": c.resource_estimator.as_ref().map(|m| m.spec.name.clone()).unwrap_or_default(),
        "qos_controller": c.qos_controller.as_ref().map(|m| m.spec.name.clone()).unwrap_or_default(),
        "oversubscribed_resources_interval": crate::launcher::format_duration(c.oversubscribed_resources_interval),
        "qos_correction_interval_min": crate::launcher::format_duration(c.qos_correction_interval_min),
        "container_logger": c.container_logger.name(),
        // whether, never what: the credential's principal and secret stay out of /flags
        "authenticate_http_readonly": c.auth.http_readonly.to_string(),
        "authenticate_http_readwrite": c.auth.http_readwrite.to_string(),
        "authenticate_http_executors": c.auth.http_executors.to_string(),
        "credential_set": c.auth.credential.is_some().to_string(),
    })
}

/// Mesos' `reserved_resources` shapes: per role (the innermost reservation's), `shape` of
/// that role's reserved resources.
fn reserved_by_role(total: &[Resource], shape: impl Fn(&[Resource]) -> Value) -> Value {
    let mut by_role: BTreeMap<&str, Vec<Resource>> = BTreeMap::new();
    for r in total {
        if let Some(role) = r.role.as_deref() {
            by_role.entry(role).or_default().push(r.clone());
        }
    }
    Value::Object(
        by_role
            .into_iter()
            .map(|(role, rs)| (role.to_string(), shape(&rs)))
            .collect(),
    )
}

/// `GET /slave(1)/state`.
pub fn state(d: &Shared) -> Value {
    let st = d.lock();
    let total = d.total();
    let unreserved: Vec<Resource> = total.iter().filter(|r| r.role.is_none()).cloned().collect();
    let agent_id = st.agent_id.clone().unwrap_or_default();
    let master = d.master();
    let master_hostname = master.as_deref().map(|m| {
        m.rsplit_once(':')
            .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']').to_string())
            .unwrap_or_else(|| m.to_string())
    });
    let leader_id = d.leader.borrow().as_ref().and_then(|l| l.id.clone());
    let mut state = json!({
        "version": MESOS_VERSION,
        "meseta_version": env!("CARGO_PKG_VERSION"),
        "start_time": d.start_time,
        "id": agent_id,
        "pid": format!("slave(1)@{}", st.endpoint),
        "hostname": st.hostname,
        "port": d.address.port(),
        "capabilities": ["MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT", "TASK_KILLING_STATE"],
        "resources": resources_object(&total),
        "reserved_resources": reserved_by_role(&total, resources_object),
        "reserved_resources_full": reserved_by_role(&total, |rs| json!(meseta_api::convert::resources_to_wire(rs))),
        "unreserved_resources": resources_object(&unreserved),
        "unreserved_resources_full": meseta_api::convert::resources_to_wire(&unreserved),
        "attributes": attributes_object(&d.attributes),
        "flags": flags(d),
        "frameworks": st.frameworks.values().map(|f| framework_json(f, &agent_id)).collect::<Vec<_>>(),
        "completed_frameworks": st.completed_frameworks.iter().map(|f| framework_json(f, &agent_id)).collect::<Vec<_>>(),
        // Meseta's: the master the agent talks to (the detected leader with a ZooKeeper
        // --master: `null` while none is known, `leader_id` its MasterInfo id), and the id of
        // the master it is registered with (`null` while it is not).
        "meseta_master": {
            "address": master,
            "leader_id": leader_id,
            "registered_with": st.master_id.clone().filter(|_| d.registered.borrow().is_some()),
            "zk": d.zk.as_ref().map(ToString::to_string),
        },
    });
    // as Mesos: only while a master is known
    if let (Some(hostname), Some(object)) = (master_hostname, state.as_object_mut()) {
        object.insert("master_hostname".into(), Value::String(hostname));
    }
    state
}

fn live_tasks(st: &State) -> impl Iterator<Item = &Task> {
    st.frameworks
        .values()
        .flat_map(|f| f.executors.values())
        .flat_map(|e| e.tasks.values())
}

/// The agent's isolation, estimator and QoS modules (the hooks keep their own list).
fn non_hook_modules(d: &Shared) -> impl Iterator<Item = &std::sync::Arc<LoadedModule>> {
    d.config
        .isolation
        .iter()
        .flat_map(|i| i.modules().iter())
        .chain(d.config.resource_estimator.iter())
        .chain(d.config.qos_controller.iter())
}

/// Every module the agent loaded, hooks included, for `/metrics`.
pub fn modules(d: &Shared) -> Vec<std::sync::Arc<LoadedModule>> {
    let mut all: Vec<_> = non_hook_modules(d).cloned().collect();
    all.extend(d.config.hooks.modules());
    all
}

/// `GET /metrics/snapshot`: Mesos' agent metric names.
pub fn metrics(d: &Shared) -> Value {
    let st = d.lock();
    let count = |state: TaskState| live_tasks(&st).filter(|t| t.state == state).count() as f64;
    let queued: usize = st
        .frameworks
        .values()
        .flat_map(|f| f.executors.values())
        .map(|e| e.queued.len())
        .sum();
    let executors: Vec<&Executor> = st
        .frameworks
        .values()
        .flat_map(|f| f.executors.values())
        .collect();
    let registering = executors
        .iter()
        .filter(|e| e.kind == ExecutorKind::Custom && !e.subscribed && !e.terminated)
        .count();
    let terminating = executors
        .iter()
        .filter(|e| e.shutting_down && !e.terminated)
        .count();
    let running = executors
        .iter()
        .filter(|e| !e.terminated)
        .count()
        .saturating_sub(registering);
    let mut used: Vec<Resource> = Vec::new();
    for e in executors.iter().filter(|e| !e.terminated) {
        used.extend(executor_resources(e));
    }
    let agent_total = d.total();
    let total = |name: &str| meseta_types::resources::scalar_total(&agent_total, name);
    let in_use = |name: &str| meseta_types::resources::scalar_total(&used, name);
    let percent = |name: &str| {
        let t = total(name);
        if t > 0.0 { in_use(name) / t } else { 0.0 }
    };
    let c = &st.counters;
    let mut out = json!({
        "slave/registered": if st.agent_id.is_some() && d.registered.borrow().is_some() { 1.0 } else { 0.0 },
        "slave/uptime_secs": d.started.elapsed().as_secs_f64(),
        "slave/frameworks_active": st.frameworks.len() as f64,
        "slave/tasks_staging": count(TaskState::Staging) + queued as f64,
        "slave/tasks_starting": count(TaskState::Starting),
        "slave/tasks_running": count(TaskState::Running),
        "slave/tasks_killing": count(TaskState::Killing),
        "slave/tasks_finished": c.tasks_finished as f64,
        "slave/tasks_failed": c.tasks_failed as f64,
        "slave/tasks_killed": c.tasks_killed as f64,
        "slave/tasks_lost": c.tasks_lost as f64,
        "slave/tasks_error": c.tasks_error as f64,
        "slave/tasks_dropped": c.tasks_dropped as f64,
        "slave/tasks_gone": c.tasks_gone as f64,
        "slave/recovery_errors": c.recovery_errors as f64,
        "slave/executors_registering": registering as f64,
        "slave/executors_running": running as f64,
        "slave/executors_terminating": terminating as f64,
        "slave/executors_terminated": c.executors_terminated as f64,
        "slave/valid_status_updates": c.valid_status_updates as f64,
        "slave/invalid_status_updates": c.invalid_status_updates as f64,
        "slave/valid_framework_messages": c.valid_framework_messages as f64,
        "slave/invalid_framework_messages": c.invalid_framework_messages as f64,
        "slave/recovery_errors": 0.0,
        "slave/cpus_total": total("cpus"),
        "slave/cpus_used": in_use("cpus"),
        "slave/cpus_percent": percent("cpus"),
        "slave/mem_total": total("mem"),
        "slave/mem_used": in_use("mem"),
        "slave/mem_percent": percent("mem"),
        "slave/disk_total": total("disk"),
        "slave/disk_used": in_use("disk"),
        "slave/disk_percent": percent("disk"),
        "slave/gpus_total": total("gpus"),
        "slave/gpus_used": in_use("gpus"),
        "slave/gpus_percent": percent("gpus"),
        "containerizer/mesos/container_destroy_errors": 0.0,
        "meseta/agent/registrations": c.registrations as f64,
        "meseta/agent/pending_status_updates": st.streams.values().map(|s| s.pending.len()).sum::<usize>() as f64,
    });
    // the agent's modules, as the master reports its own
    if let Some(map) = out.as_object_mut() {
        for module in non_hook_modules(d) {
            let c = module.counters.snapshot();
            let base = format!("meseta/modules/{}", module.spec.name);
            map.insert(format!("{base}/calls"), json!(c.calls as f64));
            map.insert(format!("{base}/faults"), json!(c.faults.total() as f64));
            map.insert(format!("{base}/fallbacks"), json!(c.fallbacks as f64));
            map.insert(
                format!("{base}/instantiations"),
                json!(c.instantiations as f64),
            );
        }
    }
    if let Value::Object(map) = &mut out {
        for (key, value) in super::hooks::metrics(&d.config.hooks) {
            map.insert(key, json!(value));
        }
    }
    out
}

/// Mesos' `ResourceStatistics` JSON: the fields an isolator filled, and `timestamp`.
pub fn statistics_json(s: &meseta_types::isolation::ResourceStatistics) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("timestamp".into(), json!(s.timestamp));
    for (name, value) in s.fields() {
        let v = match value {
            meseta_types::isolation::StatValue::Int(i) => json!(i),
            meseta_types::isolation::StatValue::Float(f) => json!(f),
        };
        m.insert(name.into(), v);
    }
    Value::Object(m)
}

// The v1 agent operator API's shapes ----------------------------------------------------------

fn id_v1(value: &str) -> Value {
    json!({ "value": value })
}

/// A task as `v1::Task`.
fn task_v1(task: &Task, agent_id: &str) -> Value {
    let mut v = json!({
        "name": task.info.name,
        "task_id": id_v1(task.id()),
        "framework_id": id_v1(&task.framework_id),
        "executor_id": id_v1(&task.executor_id),
        "agent_id": id_v1(agent_id),
        "state": task.state.as_str(),
        "resources": task.info.resources,
        "statuses": task.statuses,
    });
    if let (Some(map), Some(status)) = (v.as_object_mut(), task.statuses.last()) {
        map.insert("status_update_state".into(), json!(status.state.as_str()));
    }
    v
}

fn queued_task_v1(
    task: &meseta_api::common::TaskInfo,
    executor: &Executor,
    agent_id: &str,
) -> Value {
    json!({
        "name": task.name,
        "task_id": id_v1(&task.task_id.value),
        "framework_id": id_v1(&executor.framework_id),
        "executor_id": id_v1(&executor.id),
        "agent_id": id_v1(agent_id),
        "state": TaskState::Staging.as_str(),
        "resources": task.resources,
    })
}

fn executor_info_v1(executor: &Executor) -> Value {
    let mut info = serde_json::to_value(&executor.info).unwrap_or_default();
    info["framework_id"] = id_v1(&executor.framework_id);
    info
}

fn framework_info_v1(framework: &Framework) -> Value {
    let mut info = serde_json::to_value(&framework.info).unwrap_or_default();
    info["id"] = id_v1(&framework.id);
    info
}

/// `GET_STATE`'s payload: `get_tasks`, `get_executors` and `get_frameworks`, from one look at
/// the agent's state.
pub fn get_state_v1(d: &Shared) -> Value {
    let st = d.lock();
    let agent_id = st.agent_id.clone().unwrap_or_default();
    let (mut launched, mut queued, mut completed) = (Vec::new(), Vec::new(), Vec::new());
    let (mut executors, mut completed_executors) = (Vec::new(), Vec::new());
    let (mut frameworks, mut completed_frameworks) = (Vec::new(), Vec::new());
    let mut tasks_of = |e: &Executor, launched: &mut Vec<Value>, completed: &mut Vec<Value>| {
        for t in e.tasks.values() {
            if t.state.is_terminal() {
                completed.push(task_v1(t, &agent_id));
            } else {
                launched.push(task_v1(t, &agent_id));
            }
        }
        completed.extend(e.completed_tasks.iter().map(|t| task_v1(t, &agent_id)));
        queued.extend(e.queued.iter().map(|t| queued_task_v1(t, e, &agent_id)));
    };
    for f in st.frameworks.values() {
        frameworks.push(json!({ "framework_info": framework_info_v1(f) }));
        for e in f.executors.values() {
            executors.push(json!({ "executor_info": executor_info_v1(e) }));
            tasks_of(e, &mut launched, &mut completed);
        }
        for e in &f.completed_executors {
            completed_executors.push(json!({ "executor_info": executor_info_v1(e) }));
            tasks_of(e, &mut launched, &mut completed);
        }
    }
    for f in &st.completed_frameworks {
        completed_frameworks.push(json!({ "framework_info": framework_info_v1(f) }));
        for e in f.executors.values().chain(f.completed_executors.iter()) {
            completed_executors.push(json!({ "executor_info": executor_info_v1(e) }));
            tasks_of(e, &mut launched, &mut completed);
        }
    }
    json!({
        "get_tasks": {
            "launched_tasks": launched,
            "queued_tasks": queued,
            "completed_tasks": completed,
        },
        "get_executors": {
            "executors": executors,
            "completed_executors": completed_executors,
        },
        "get_frameworks": {
            "frameworks": frameworks,
            "completed_frameworks": completed_frameworks,
        },
    })
}
