//! Oversubscription on the agent (Mesos' `ResourceEstimator` and `QoSController` loops), and
//! the usage snapshot both they and `/monitor/statistics` read.
//!
//! - The estimator is polled every `--oversubscribed_resources_interval`. Its answer (all
//!   revocable) goes to the master only when it changed, or after the agent registered again
//!   (the master then starts from the agent's registered total).
//! - The QoS controller is polled every `--qos_correction_interval_min`. A KILL correction
//!   destroys the named executor's containers at once; each of its live tasks ends
//!   `TASK_GONE` (partition-aware framework) or `TASK_LOST`, with `REASON_CONTAINER_PREEMPTED`.
//!   Only executors holding revocable resources may be killed: a kill of guaranteed work, like a
//!   kill of an unknown executor, is a module fault.
//! - Module faults are contained by the sandbox (counted, failure policy applied); a poll that
//!   faulted changes nothing.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use meseta_api::common::{CapabilityType, Reason, Source, TaskState};
use meseta_api::internal as wire;
use meseta_oversubscription::{WasmEstimator, WasmQosController};
use meseta_runtime::LoadedModule;
use meseta_types::isolation::ResourceStatistics;
use meseta_types::oversubscription::{Correction, ExecutorUsage, LoadAverage, ResourceUsage};
use meseta_types::resources::Resource;

use super::model::State;
use super::status::{self, enqueue};
use super::{AgentConfig, Shared, master_link};

/// The module `flag` names, if any, checked to be of `kind` (`what` in the error) and started.
fn start_policy<T, E: std::fmt::Display>(
    flag: &str,
    module: &Option<Arc<LoadedModule>>,
    kind: &str,
    what: &str,
    start: impl FnOnce(Arc<LoadedModule>) -> Result<T, E>,
) -> Result<Option<T>, String> {
    let Some(m) = module else {
        return Ok(None);
    };
    if m.world.kind != kind {
        return Err(format!(
            "{flag}: module '{}' is of kind '{}', not {what}",
            m.spec.name, m.world.kind
        ));
    }
    start(Arc::clone(m))
        .map(Some)
        .map_err(|e| format!("{flag}: module '{}': {e}", m.spec.name))
}

/// The estimator and QoS controller of one agent, started before the agent serves.
pub struct Policies {
    estimator: Option<WasmEstimator>,
    qos: Option<WasmQosController>,
}

impl Policies {
    pub fn new(config: &AgentConfig) -> Result<Policies, String> {
        let estimator = start_policy(
            "--resource_estimator",
            &config.resource_estimator,
            "resource-estimator",
            "a resource estimator",
            WasmEstimator::new,
        )?;
        let qos = start_policy(
            "--qos_controller",
            &config.qos_controller,
            "qos-controller",
            "a QoS controller",
            WasmQosController::new,
        )?;
        Ok(Policies { estimator, qos })
    }

    /// Starts the polling loops.
    pub fn spawn(self, d: &Shared) -> Vec<tokio::task::JoinHandle<()>> {
        let mut out = Vec::new();
        if let Some(e) = self.estimator {
            out.push(tokio::spawn(estimator_loop(d.clone(), e)));
        }
        if let Some(q) = self.qos {
            out.push(tokio::spawn(qos_loop(d.clone(), q)));
        }
        out
    }
}

/// One executor in a usage snapshot, with the containers it runs in.
pub struct ExecutorSnapshot {
    pub framework_id: String,
    pub executor_id: String,
    pub executor_name: String,
    pub source: String,
    pub containers: Vec<String>,
    pub allocated: Vec<Resource>,
}

/// The live executors of the agent.
pub fn executors(st: &State) -> Vec<ExecutorSnapshot> {
    let mut out = Vec::new();
    for (fid, f) in &st.frameworks {
        for (eid, e) in &f.executors {
            if e.terminated {
                continue;
            }
            let mut containers = vec![e.container_id.clone()];
            let mut wire = e.info.resources.clone();
            for t in e.tasks.values().filter(|t| !t.state.is_terminal()) {
                if let Some(c) = &t.container_id
                    && !containers.contains(c)
                {
                    containers.push(c.clone());
                }
                wire.extend(t.info.resources.iter().cloned());
            }
            let allocated = meseta_api::convert::resources_from_wire(&wire).unwrap_or_default();
            out.push(ExecutorSnapshot {
                framework_id: fid.clone(),
                executor_id: eid.clone(),
                executor_name: e.info.name.clone().unwrap_or_default(),
                source: e.info.source.clone().unwrap_or_default(),
                containers,
                allocated,
            });
        }
    }
    out
}

/// Tells the isolators of a custom executor's container its resources changed (its own plus
/// those of its live and queued tasks), as Mesos' containerizer `update` does.
pub fn update_isolation(d: &Shared, st: &State, fid: &str, eid: &str) {
    let Some(isolation) = d.containerizer.isolation().cloned() else {
        return;
    };
    let Some(e) = st.frameworks.get(fid).and_then(|f| f.executors.get(eid)) else {
        return;
    };
    let mut wire = e.info.resources.clone();
    for t in e.tasks.values().filter(|t| !t.state.is_terminal()) {
        wire.extend(t.info.resources.iter().cloned());
    }
    for t in &e.queued {
        wire.extend(t.resources.iter().cloned());
    }
    let resources = meseta_api::convert::resources_from_wire(&wire).unwrap_or_default();
    let container = e.container_id.clone();
    tokio::task::spawn_blocking(move || isolation.update(&container, &resources));
}

/// Sums the statistics of an executor's containers (blocking: isolators are called).
pub fn statistics(d: &Shared, containers: &[String]) -> Option<ResourceStatistics> {
    let isolation = d.containerizer.isolation()?;
    let mut total: Option<ResourceStatistics> = None;
    for c in containers {
        let Some(s) = isolation.usage(c) else {
            continue;
        };
        total = Some(match total {
            None => s,
            Some(t) => t.add(&s),
        });
    }
    total.map(|mut s| {
        s.timestamp = meseta_api::common::timestamp_now();
        s
    })
}

fn load_average() -> LoadAverage {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut it = text
        .split_whitespace()
        .map(|v| v.parse::<f64>().unwrap_or(0.0));
    LoadAverage {
        one: it.next().unwrap_or(0.0),
        five: it.next().unwrap_or(0.0),
        fifteen: it.next().unwrap_or(0.0),
    }
}

/// What estimators and QoS controllers see (Mesos' `ResourceUsage`). Blocking.
fn usage(d: &Shared) -> ResourceUsage {
    let snapshot = executors(&d.lock());
    let mut executors = Vec::with_capacity(snapshot.len());
    for (i, e) in snapshot.iter().enumerate() {
        executors.push(ExecutorUsage {
            container: u32::try_from(i).unwrap_or(u32::MAX),
            framework_id: e.framework_id.clone(),
            executor_id: e.executor_id.clone(),
            revocable: e.allocated.iter().any(|r| r.revocable),
            allocated: e.allocated.clone(),
            statistics: statistics(d, &e.containers),
        });
    }
    ResourceUsage {
        executors,
        total: d.total(),
        load: load_average(),
    }
}

async fn estimator_loop(d: Shared, estimator: WasmEstimator) {
    let estimator = Arc::new(Mutex::new(estimator));
    let every = d
        .config
        .oversubscribed_resources_interval
        .max(Duration::from_millis(10));
    let mut last: Option<(Vec<Resource>, u64)> = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = d.stopped() => return,
        }
        let (agent_id, registrations) = {
            let st = d.lock();
            (st.agent_id.clone(), st.counters.registrations)
        };
        let Some(agent_id) = agent_id else { continue };
        let (d2, e2) = (d.clone(), Arc::clone(&estimator));
        let answer = tokio::task::spawn_blocking(move || {
            let u = usage(&d2);
            let mut e = e2.lock().unwrap_or_else(PoisonError::into_inner);
            e.oversubscribable(&u)
        })
        .await;
        let estimate = match answer {
            Ok(Ok(Ok(r))) => r,
            Ok(Ok(Err(e))) => {
                tracing::warn!(error = %e, "the resource estimator returned an error; estimate unchanged");
                continue;
            }
            // a fault: counted and logged by the sandbox; keep the last estimate
            Ok(Err(_)) | Err(_) => continue,
        };
        if last
            .as_ref()
            .is_some_and(|(r, n)| *r == estimate && *n == registrations)
        {
            continue;
        }
        let message = wire::UpdateAgent {
            agent_id: meseta_api::common::AgentID::new(&agent_id),
            oversubscribed_resources: meseta_api::convert::resources_to_wire(&estimate),
        };
        match master_link::post(
            &d,
            wire::UPDATE,
            serde_json::to_vec(&message).unwrap_or_default(),
        )
        .await
        {
            Ok((code, _)) if code < 300 => {
                tracing::info!(estimate = ?estimate.iter().map(|r| format!("{}:{}", r.name, r.as_scalar().unwrap_or(0.0))).collect::<Vec<_>>(),
                    "sent oversubscribed resources to the master");
                last = Some((estimate, registrations));
            }
            Ok((409, _)) => d.reregister.notify_one(),
            Ok((code, body)) => tracing::warn!(code, answer = %String::from_utf8_lossy(&body),
                "the master refused the oversubscribed resources"),
            Err(e) => tracing::debug!(error = %e, "cannot reach the master with the estimate"),
        }
    }
}

async fn qos_loop(d: Shared, qos: WasmQosController) {
    let qos = Arc::new(Mutex::new(qos));
    let every = d
        .config
        .qos_correction_interval_min
        .max(Duration::from_millis(10));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = d.stopped() => return,
        }
        let (d2, q2) = (d.clone(), Arc::clone(&qos));
        let answer = tokio::task::spawn_blocking(move || {
            let u = usage(&d2);
            let mut q = q2.lock().unwrap_or_else(PoisonError::into_inner);
            let r = q.corrections(&u);
            // a kill of guaranteed work is refused like a kill of an unknown executor
            if let Ok(Ok(corrections)) = &r {
                for Correction::Kill(k) in corrections {
                    let revocable = u.executors.iter().any(|e| {
                        e.framework_id == k.framework_id && e.executor_id == k.executor_id && e.revocable
                    });
                    if !revocable {
                        let err = q.refuse(format!(
                            "kill names executor '{}' of framework '{}', which holds no revocable resources",
                            k.executor_id, k.framework_id
                        ));
                        return Err(err);
                    }
                }
            }
            r
        })
        .await;
        let corrections = match answer {
            Ok(Ok(Ok(c))) => c,
            Ok(Ok(Err(e))) => {
                tracing::warn!(error = %e, "the QoS controller returned an error");
                continue;
            }
            Ok(Err(_)) | Err(_) => continue,
        };
        for Correction::Kill(k) in corrections {
            preempt(&d, &k.framework_id, &k.executor_id);
        }
    }
}

/// Ends an executor's live tasks as preempted and destroys its containers.
fn preempt(d: &Shared, fid: &str, eid: &str) {
    let mut st = d.lock();
    let partition_aware = st.frameworks.get(fid).is_some_and(|f| {
        f.info
            .capabilities
            .iter()
            .any(|c| c.kind == CapabilityType::PartitionAware)
    });
    let state = if partition_aware {
        TaskState::Gone
    } else {
        TaskState::Lost
    };
    let Some(executor) = st.executor_mut(fid, eid) else {
        return;
    };
    let mut handles: Vec<_> = executor.handle.iter().cloned().collect();
    let mut live = Vec::new();
    for (tid, task) in executor.tasks.iter_mut() {
        if let Some(h) = &task.handle {
            handles.push(h.clone());
        }
        if !task.state.is_terminal() {
            task.kill = Some(Duration::ZERO);
            live.push(tid.clone());
        }
    }
    tracing::warn!(
        framework = fid,
        executor = eid,
        tasks = live.len(),
        "preempting revocable work on a QoS correction"
    );
    for tid in live {
        let s = status::status(
            &tid,
            state,
            Source::Agent,
            Some(Reason::ContainerPreempted),
            Some("Container preempted by a QoS correction".into()),
        );
        enqueue(d, &mut st, fid, s, false);
    }
    drop(st);
    for h in handles {
        tokio::spawn(async move {
            h.kill(Duration::ZERO).await;
        });
    }
}
