//! The master's cluster state and every transition of it: frameworks, agents, offers, tasks.
//!
//! Everything here is synchronous and runs under the master's one lock. What must leave the
//! process is queued, never awaited: scheduler events go into each framework's stream channel,
//! messages for agents into each agent's ordered outbox (a task per agent sends them, see
//! `agents.rs`).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use meseta_api::common::{
    AgentID, AgentInfo, CapabilityType, ExecutorID, ExecutorInfo, FrameworkID, FrameworkInfo,
    Offer, OfferID, Reason, Source, TaskID, TaskInfo, TaskState, TaskStatus, Url,
};
use meseta_api::internal as wire;
use meseta_api::scheduler::{
    Accept, Event, Failure, Message, Offers, OperationKind, Reconcile, Rescind, Update,
};
use meseta_types::Quantities;
use meseta_types::allocation::{self as alloc, Capabilities, ResourceKind};
use tokio::sync::{Notify, mpsc};

use crate::allocator::AllocatorDriver;
use crate::hooks;
use crate::resources::{ResourceSet, SlotTable};

/// How many completed tasks a framework keeps, and completed frameworks the master keeps.
const MAX_COMPLETED_TASKS: usize = 1000;
const MAX_COMPLETED_FRAMEWORKS: usize = 50;

/// Master settings the state machine needs.
#[derive(Clone, Debug)]
pub struct Settings {
    pub allocation_interval: Duration,
    pub offer_timeout: Option<Duration>,
    pub agent_ping_timeout: Duration,
    pub max_agent_ping_timeouts: u32,
    pub heartbeat_interval: Duration,
    /// `--roles`: when set, frameworks may only use these roles (and `*`).
    pub roles: Option<Vec<String>>,
    /// Mesos' `--min_allocatable_resources`, parsed.
    pub min_allocatable: Vec<Vec<(String, f64)>>,
    /// `--role_sorter`: DRF or weighted random.
    pub sorter: alloc::Sorter,
    /// `--agent_reregister_timeout` (10 min): how long agents admitted by an earlier master
    /// have to re-register before they are marked unreachable.
    pub agent_reregister_timeout: Duration,
    /// `--recovery_agent_removal_limit` as a fraction (1.0: 100%).
    pub recovery_agent_removal_limit: f64,
}

/// A role's quota: scalar amounts by resource name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Quota {
    pub guarantees: BTreeMap<String, f64>,
    pub limits: BTreeMap<String, f64>,
}

/// A subscription stream.
pub struct Conn {
    pub stream_id: String,
    pub events: mpsc::UnboundedSender<Bytes>,
    pub heartbeat: tokio::task::AbortHandle,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

#[derive(Clone, Debug)]
pub struct Task {
    pub info: TaskInfo,
    pub framework_id: String,
    pub agent_id: String,
    pub executor_id: Option<String>,
    pub role: String,
    pub resources: ResourceSet,
    pub state: TaskState,
    /// `(state, timestamp)` of every update seen.
    pub statuses: Vec<(TaskState, f64)>,
    pub last_status: Option<TaskStatus>,
}

pub struct Framework {
    pub id: String,
    pub handle: alloc::FrameworkId,
    pub info: FrameworkInfo,
    pub roles: Vec<String>,
    pub conn: Option<Conn>,
    pub active: bool,
    pub registered_time: f64,
    pub reregistered_time: Option<f64>,
    pub unregistered_time: Option<f64>,
    pub disconnected_at: Option<Instant>,
    pub suppressed: BTreeSet<String>,
    pub offers: BTreeSet<String>,
    pub tasks: BTreeMap<String, Task>,
    pub unreachable_tasks: BTreeMap<String, Task>,
    pub completed_tasks: VecDeque<Task>,
    /// Custom executors: (agent, executor) → info and resources.
    pub executors: BTreeMap<(String, String), (ExecutorInfo, ResourceSet)>,
}

impl Framework {
    pub fn partition_aware(&self) -> bool {
        self.info.has_capability(&CapabilityType::PartitionAware)
    }

    pub fn connected(&self) -> bool {
        self.conn.is_some()
    }
}

pub struct Agent {
    pub id: String,
    pub handle: alloc::AgentId,
    pub info: AgentInfo,
    pub endpoint: String,
    pub total: ResourceSet,
    /// Offered plus used by tasks and executors.
    pub allocated: ResourceSet,
    pub registered_time: f64,
    pub reregistered_time: Option<f64>,
    pub missed_pings: u32,
    pub version: Option<String>,
    pub outbox: mpsc::UnboundedSender<(&'static str, Vec<u8>)>,
}

/// An agent admitted by an earlier master, waiting to re-register.
#[derive(Clone, Debug)]
pub struct RecoveredAgent {
    pub info: AgentInfo,
    /// Where the agent was last reached (pinged so it re-registers at once).
    pub endpoint: Option<String>,
}

pub struct OfferEntry {
    pub id: String,
    pub framework_id: String,
    pub agent_id: String,
    pub role: String,
    pub resources: ResourceSet,
    pub created: Instant,
}

/// Cumulative counters for `/metrics/snapshot`.
#[derive(Default, Debug, Clone)]
pub struct Metrics {
    pub terminal: BTreeMap<&'static str, u64>,
    pub agent_registrations: u64,
    pub agent_reregistrations: u64,
    pub agent_removals: u64,
    pub valid_status_updates: u64,
    pub invalid_status_updates: u64,
    pub offers_declined: u64,
    pub offers_rescinded: u64,
    pub offers_accepted: u64,
    pub tasks_launched: u64,
    pub frameworks_removed: u64,
    pub framework_to_executor_messages: u64,
    pub executor_to_framework_messages: u64,
    pub calls: BTreeMap<String, u64>,
    pub invalid_calls: u64,
}

/// A message for an agent the caller must deliver (the agent's outbox is taken by value so
/// the caller can send after releasing the lock; here we queue directly).
pub struct Inner {
    pub master_id: String,
    pub address: SocketAddr,
    pub hostname: String,
    pub settings: Settings,
    pub flags: Vec<(String, String)>,
    pub start: Instant,
    pub start_time: f64,
    next_framework: u32,
    next_agent: u32,
    /// The number in the next new agent id (`<master id>-S<n>`).
    next_agent_number: u32,
    next_offer: u64,
    pub frameworks: HashMap<String, Framework>,
    framework_handles: HashMap<alloc::FrameworkId, String>,
    pub completed_frameworks: VecDeque<Framework>,
    pub agents: HashMap<String, Agent>,
    agent_handles: HashMap<alloc::AgentId, String>,
    /// Agents removed as unreachable, with the time they were removed.
    pub unreachable_agents: BTreeMap<String, f64>,
    /// Agents an earlier master admitted (from the registry) that have not re-registered with
    /// this one yet (Mesos' `slaves.recovered`); reconciliation does not answer for their tasks
    /// until they do or `agent_reregister_timeout` marks them unreachable.
    pub recovered_agents: BTreeMap<String, RecoveredAgent>,
    /// When the recovered agents were loaded, and how many there were.
    pub recovered_at: Option<Instant>,
    recovered_total: usize,
    /// Agents an operator marked gone (from the registry): refused if they come back.
    pub gone_agents: BTreeMap<String, f64>,
    /// Registry operations the server applies after the lock is released, in order (agents
    /// marked unreachable). `None` in unit tests without a registry.
    pub registry_log: Option<mpsc::UnboundedSender<meseta_registry::Operation>>,
    pub offers: HashMap<String, OfferEntry>,
    pub roles: BTreeMap<String, alloc::RoleId>,
    pub weights: BTreeMap<String, f64>,
    /// Quota per role: (guarantees, limits), scalar amounts by resource name.
    pub quotas: BTreeMap<String, Quota>,
    pub slots: SlotTable,
    pub allocator: AllocatorDriver,
    pub metrics: Metrics,
    pub allocate_soon: Arc<Notify>,
    /// The master's hook modules (`--hooks`), called from `hooks.rs`.
    pub hooks: Arc<meseta_hooks::MasterHookChain>,
}

pub fn now_secs() -> f64 {
    meseta_api::common::timestamp_now()
}

/// Valid Mesos role name (see Mesos `roles::validate`).
pub fn validate_role(role: &str) -> Result<(), String> {
    if role == "*" {
        return Ok(());
    }
    if role.is_empty() {
        return Err("role name must not be empty".into());
    }
    if role.starts_with('/') || role.ends_with('/') {
        return Err(format!("role '{role}' must not start or end with '/'"));
    }
    for part in role.split('/') {
        if part.is_empty() || part == "." || part == ".." || part.starts_with('-') {
            return Err(format!(
                "role '{role}' has an invalid path component '{part}'"
            ));
        }
        if part == "*" {
            return Err(format!("role '{role}' must not contain '*' as a component"));
        }
        if part
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
        {
            return Err(format!(
                "role '{role}' must not contain whitespace, control characters or backslashes"
            ));
        }
    }
    Ok(())
}

pub(crate) fn record(event: &Event) -> Option<Bytes> {
    match meseta_api::recordio::encode(event) {
        Ok(bytes) => Some(Bytes::from(bytes)),
        Err(e) => {
            tracing::error!(error = %e, event = event.type_name(), "cannot encode an event");
            None
        }
    }
}

fn to_json(value: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

fn capabilities(info: &FrameworkInfo) -> Capabilities {
    let mut bits = 0;
    for (kind, bit) in [
        (
            CapabilityType::RevocableResources,
            Capabilities::REVOCABLE_RESOURCES,
        ),
        (CapabilityType::MultiRole, Capabilities::MULTI_ROLE),
        (
            CapabilityType::PartitionAware,
            Capabilities::PARTITION_AWARE,
        ),
        (CapabilityType::GpuResources, Capabilities::GPU_RESOURCES),
    ] {
        if info.has_capability(&kind) {
            bits |= bit;
        }
    }
    Capabilities(bits)
}

/// What `subscribe` decided.
pub enum Subscribed {
    New { id: String },
    Failover { id: String, old: Option<Conn> },
}

impl Inner {
    pub fn new(
        master_id: String,
        address: SocketAddr,
        hostname: String,
        settings: Settings,
        flags: Vec<(String, String)>,
        mut allocator: AllocatorDriver,
        weights: Vec<(String, f64)>,
    ) -> Inner {
        let slots = SlotTable::default();
        let kinds: Vec<ResourceKind> = slots.kinds();
        let min_allocatable = settings
            .min_allocatable
            .iter()
            .map(|entry| {
                let mut q = Quantities::zeros(kinds.len());
                for (name, v) in entry {
                    if let Some(slot) = slots.slot(name, false) {
                        q.0[slot] = *v;
                    }
                }
                q
            })
            .collect();
        allocator.initialize(alloc::Options {
            resource_kinds: kinds,
            allocation_interval_ms: settings.allocation_interval.as_millis() as u64,
            min_allocatable,
            fairness_excluded: Vec::new(),
            sorter: settings.sorter,
        });
        let mut inner = Inner {
            master_id,
            address,
            hostname,
            settings,
            flags,
            start: Instant::now(),
            start_time: now_secs(),
            next_framework: 0,
            next_agent: 0,
            next_agent_number: 0,
            next_offer: 0,
            frameworks: HashMap::new(),
            framework_handles: HashMap::new(),
            completed_frameworks: VecDeque::new(),
            agents: HashMap::new(),
            agent_handles: HashMap::new(),
            unreachable_agents: BTreeMap::new(),
            recovered_agents: BTreeMap::new(),
            recovered_at: None,
            recovered_total: 0,
            gone_agents: BTreeMap::new(),
            registry_log: None,
            offers: HashMap::new(),
            roles: BTreeMap::new(),
            weights: BTreeMap::new(),
            quotas: BTreeMap::new(),
            slots,
            allocator,
            metrics: Metrics::default(),
            allocate_soon: Arc::new(Notify::new()),
            hooks: Arc::default(),
        };
        inner.role_handle("*");
        inner.set_weights(&weights);
        inner
    }

    pub fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn trigger_allocation(&self) {
        self.allocate_soon.notify_one();
    }

    pub fn role_handle(&mut self, role: &str) -> alloc::RoleId {
        if let Some(h) = self.roles.get(role) {
            return *h;
        }
        let h = self.roles.len() as alloc::RoleId;
        self.roles.insert(role.to_string(), h);
        self.allocator.add_role(h, role);
        h
    }

    pub fn set_weights(&mut self, weights: &[(String, f64)]) {
        let mut handles = Vec::new();
        for (role, w) in weights {
            let h = self.role_handle(role);
            self.weights.insert(role.clone(), *w);
            handles.push((h, *w));
        }
        if !handles.is_empty() {
            self.allocator.update_weights(&handles);
            self.trigger_allocation();
        }
    }

    /// UPDATE_QUOTA: limits clip what the role's offers may reach (a role `a/b` also counts
    /// against `a`); resources without a limit are unlimited. Guarantees are recorded and
    /// shown but not reserved (Mesos deprecated guarantee-only quota in 1.9).
    pub fn set_quota(&mut self, role: &str, quota: Quota) -> Result<(), String> {
        self.check_quota(role, &quota)?;
        let n = self.slots.len();
        let mut guarantees = Quantities::zeros(n);
        let mut limits = Quantities(vec![f64::INFINITY; n]);
        for (name, v) in &quota.guarantees {
            if let Some(slot) = self.slots.slot(name, false) {
                guarantees.0[slot] = *v;
            }
        }
        for (name, v) in &quota.limits {
            if let Some(slot) = self.slots.slot(name, false) {
                limits.0[slot] = *v;
            }
        }
        let h = self.role_handle(role);
        self.allocator.update_quota(h, guarantees, limits);
        if quota.guarantees.is_empty() && quota.limits.is_empty() {
            self.quotas.remove(role);
        } else {
            self.quotas.insert(role.to_string(), quota);
        }
        self.trigger_allocation();
        Ok(())
    }

    /// What [`Inner::set_quota`] refuses, checked before the registry stores a quota.
    pub fn check_quota(&self, role: &str, quota: &Quota) -> Result<(), String> {
        validate_role(role)?;
        if role == "*" {
            return Err("quota cannot be set for role '*'".into());
        }
        for (name, v) in quota.guarantees.iter().chain(quota.limits.iter()) {
            if !v.is_finite() || *v < 0.0 {
                return Err(format!(
                    "quota of role '{role}': '{name}' must be a non-negative number"
                ));
            }
            if self.slots.slot(name, false).is_none() {
                return Err(format!(
                    "quota of role '{role}': unknown resource '{name}' (quota applies to {})",
                    self.slots
                        .kinds()
                        .iter()
                        .filter(|k| !k.revocable)
                        .map(|k| k.name.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        Ok(())
    }

    pub fn quantities(&self, set: &ResourceSet) -> Quantities {
        self.slots.quantities(set)
    }

    // Events to frameworks -------------------------------------------------------------------

    pub fn send(&self, framework_id: &str, event: &Event) {
        if let Some(f) = self.frameworks.get(framework_id)
            && let Some(conn) = &f.conn
            && let Some(bytes) = record(event)
        {
            let _ = conn.events.send(bytes);
        }
    }

    fn send_to_agent(&self, agent_id: &str, path: &'static str, body: &impl serde::Serialize) {
        if let Some(a) = self.agents.get(agent_id) {
            let _ = a.outbox.send((path, to_json(body)));
        } else {
            tracing::debug!(
                agent = agent_id,
                path,
                "message for an unknown agent dropped"
            );
        }
    }

    fn master_status(
        &self,
        task_id: &str,
        agent_id: Option<&str>,
        state: TaskState,
        reason: Reason,
        message: impl Into<String>,
    ) -> TaskStatus {
        let mut status = TaskStatus::new(TaskID::new(task_id), state);
        status.source = Some(Source::Master);
        status.reason = Some(reason);
        status.message = Some(message.into());
        status.agent_id = Some(AgentID::new(agent_id.unwrap_or("")));
        status.timestamp = Some(now_secs());
        status
    }

    fn update_event(status: TaskStatus) -> Event {
        Event::Update(Update { status })
    }

    // Frameworks ------------------------------------------------------------------------------

    /// Validates a SUBSCRIBE's framework info; the error is the 400 body.
    pub fn validate_framework(&self, info: &FrameworkInfo) -> Result<Vec<String>, String> {
        if info.name.is_empty() {
            return Err("'FrameworkInfo.name' must be set".into());
        }
        let roles = info.effective_roles();
        let mut seen = BTreeSet::new();
        for r in &roles {
            validate_role(r).map_err(|e| format!("Invalid 'FrameworkInfo.roles': {e}"))?;
            if !seen.insert(r) {
                return Err(format!(
                    "'FrameworkInfo.roles' contains duplicate role '{r}'"
                ));
            }
            if let Some(allowed) = &self.settings.roles
                && r != "*"
                && !allowed.contains(r)
            {
                return Err(format!(
                    "Role '{r}' is not present in the master's --roles ({})",
                    allowed.join(",")
                ));
            }
        }
        Ok(roles)
    }

    fn framework_alloc_info(
        &mut self,
        info: &FrameworkInfo,
        roles: &[String],
    ) -> alloc::FrameworkInfo {
        let handles = roles.iter().map(|r| self.role_handle(r)).collect();
        alloc::FrameworkInfo {
            name: info.name.clone(),
            roles: handles,
            capabilities: capabilities(info),
        }
    }

    pub fn is_completed_framework(&self, id: &str) -> bool {
        self.completed_frameworks.iter().any(|f| f.id == id)
    }

    /// SUBSCRIBE: a new framework, or the same one coming back (failover).
    pub fn subscribe(
        &mut self,
        mut info: FrameworkInfo,
        roles: Vec<String>,
        claimed: Option<String>,
        suppressed: Vec<String>,
        conn: Conn,
    ) -> Subscribed {
        let now = now_secs();
        if let Some(id) = claimed
            .as_ref()
            .filter(|id| self.frameworks.contains_key(*id))
        {
            let id = id.clone();
            info.id = Some(FrameworkID::new(&id));
            let ainfo = self.framework_alloc_info(&info, &roles);
            let suppressed_handles: Vec<alloc::RoleId> =
                suppressed.iter().map(|r| self.role_handle(r)).collect();
            let Some(f) = self.frameworks.get_mut(&id) else {
                return Subscribed::New { id };
            };
            let old = f.conn.replace(conn);
            f.info = info;
            f.roles = roles;
            f.reregistered_time = Some(now);
            f.disconnected_at = None;
            f.unregistered_time = None;
            f.suppressed = suppressed.into_iter().collect();
            let handle = f.handle;
            let was_active = f.active;
            f.active = true;
            // Offers made to the old connection are rescinded: the new one gets fresh ones.
            let offers: Vec<String> = f.offers.iter().cloned().collect();
            for o in offers {
                self.remove_offer(&o, None, false);
            }
            self.allocator
                .update_framework(handle, ainfo, &suppressed_handles);
            if !was_active {
                self.allocator.activate_framework(handle);
            }
            self.trigger_allocation();
            return Subscribed::Failover { id, old };
        }
        let id = match claimed {
            // An id the master does not know: a framework that was registered with a previous
            // master process. Mesos re-admits it under that id.
            Some(id) => id,
            None => format!("{}-{:04}", self.master_id, self.next_framework),
        };
        let handle = self.next_framework;
        self.next_framework += 1;
        info.id = Some(FrameworkID::new(&id));
        let ainfo = self.framework_alloc_info(&info, &roles);
        self.allocator.add_framework(handle, ainfo, true);
        if !suppressed.is_empty() {
            let s: Vec<alloc::RoleId> = suppressed.iter().map(|r| self.role_handle(r)).collect();
            self.allocator.suppress(handle, &s);
        }
        self.framework_handles.insert(handle, id.clone());
        self.frameworks.insert(
            id.clone(),
            Framework {
                id: id.clone(),
                handle,
                info,
                roles,
                conn: Some(conn),
                active: true,
                registered_time: now,
                reregistered_time: None,
                unregistered_time: None,
                disconnected_at: None,
                suppressed: suppressed.into_iter().collect(),
                offers: BTreeSet::new(),
                tasks: BTreeMap::new(),
                unreachable_tasks: BTreeMap::new(),
                completed_tasks: VecDeque::new(),
                executors: BTreeMap::new(),
            },
        );
        self.trigger_allocation();
        Subscribed::New { id }
    }

    /// The stream `stream_id` of a framework ended (the client went away).
    pub fn disconnected(&mut self, framework_id: &str, stream_id: &str) {
        let Some(f) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        if f.conn.as_ref().map(|c| c.stream_id.as_str()) != Some(stream_id) {
            return;
        }
        f.conn = None;
        f.active = false;
        f.disconnected_at = Some(Instant::now());
        f.unregistered_time = Some(now_secs());
        let handle = f.handle;
        let timeout = f.info.failover_timeout.unwrap_or(0.0);
        let offers: Vec<String> = f.offers.iter().cloned().collect();
        tracing::info!(
            framework = framework_id,
            failover_timeout = timeout,
            "framework disconnected"
        );
        for o in offers {
            self.remove_offer(&o, None, false);
        }
        self.allocator.deactivate_framework(handle);
        if timeout <= 0.0 {
            self.remove_framework(framework_id, "failover timeout (0 s) elapsed");
        }
    }

    /// Frameworks whose failover timeout elapsed are removed.
    pub fn expire_frameworks(&mut self) {
        let expired: Vec<String> = self
            .frameworks
            .values()
            .filter(|f| {
                f.disconnected_at.is_some_and(|at| {
                    at.elapsed().as_secs_f64() >= f.info.failover_timeout.unwrap_or(0.0)
                })
            })
            .map(|f| f.id.clone())
            .collect();
        for id in expired {
            self.remove_framework(&id, "failover timeout elapsed");
        }
    }

    /// TEARDOWN, failover expiry, `/master/teardown`: kill the tasks, forget the framework.
    pub fn remove_framework(&mut self, framework_id: &str, why: &str) {
        let Some(mut f) = self.frameworks.remove(framework_id) else {
            return;
        };
        tracing::info!(framework = framework_id, why, "removing framework");
        self.metrics.frameworks_removed += 1;
        for o in f.offers.clone() {
            self.remove_offer(&o, None, false);
        }
        let mut agents: BTreeSet<String> = BTreeSet::new();
        let tasks: Vec<Task> = std::mem::take(&mut f.tasks).into_values().collect();
        for mut t in tasks {
            agents.insert(t.agent_id.clone());
            if let Some(a) = self.agents.get_mut(&t.agent_id) {
                a.allocated.subtract(&t.resources);
            }
            t.state = TaskState::Killed;
            t.statuses.push((TaskState::Killed, now_secs()));
            *self.metrics.terminal.entry("killed").or_default() += 1;
            f.completed_tasks.push_back(t);
        }
        for ((agent, _), (_, res)) in std::mem::take(&mut f.executors) {
            if let Some(a) = self.agents.get_mut(&agent) {
                a.allocated.subtract(&res);
            }
            agents.insert(agent);
        }
        for agent in agents {
            self.send_to_agent(
                &agent,
                wire::SHUTDOWN_FRAMEWORK,
                &wire::ShutdownFramework {
                    framework_id: FrameworkID::new(framework_id),
                },
            );
        }
        self.allocator.remove_framework(f.handle);
        self.framework_handles.remove(&f.handle);
        f.conn = None;
        f.active = false;
        f.unregistered_time = Some(now_secs());
        while f.completed_tasks.len() > MAX_COMPLETED_TASKS {
            f.completed_tasks.pop_front();
        }
        self.completed_frameworks.push_back(f);
        while self.completed_frameworks.len() > MAX_COMPLETED_FRAMEWORKS {
            self.completed_frameworks.pop_front();
        }
        self.trigger_allocation();
    }

    pub fn update_framework(
        &mut self,
        framework_id: &str,
        mut info: FrameworkInfo,
        suppressed: Vec<String>,
    ) -> Result<(), String> {
        let roles = self.validate_framework(&info)?;
        if info.id.as_ref().is_some_and(|id| id.value != framework_id) {
            return Err("'framework_info.id' does not match the call's 'framework_id'".into());
        }
        info.id = Some(FrameworkID::new(framework_id));
        let ainfo = self.framework_alloc_info(&info, &roles);
        let s: Vec<alloc::RoleId> = suppressed.iter().map(|r| self.role_handle(r)).collect();
        let Some(f) = self.frameworks.get_mut(framework_id) else {
            return Err(format!("Framework '{framework_id}' is not subscribed"));
        };
        let removed_roles: Vec<String> = f
            .roles
            .iter()
            .filter(|r| !roles.contains(r))
            .cloned()
            .collect();
        f.info = info;
        f.roles = roles;
        f.suppressed = suppressed.into_iter().collect();
        let handle = f.handle;
        let stale: Vec<String> = f
            .offers
            .iter()
            .filter(|o| {
                self.offers
                    .get(*o)
                    .is_some_and(|e| removed_roles.contains(&e.role))
            })
            .cloned()
            .collect();
        for o in stale {
            self.remove_offer(&o, None, true);
        }
        self.allocator.update_framework(handle, ainfo, &s);
        self.trigger_allocation();
        Ok(())
    }

    pub fn suppress(&mut self, framework_id: &str, roles: Vec<String>) {
        let handles: Vec<alloc::RoleId> = roles.iter().map(|r| self.role_handle(r)).collect();
        if let Some(f) = self.frameworks.get_mut(framework_id) {
            if roles.is_empty() {
                f.suppressed = f.roles.iter().cloned().collect();
            } else {
                f.suppressed.extend(roles);
            }
            let h = f.handle;
            self.allocator.suppress(h, &handles);
        }
    }

    pub fn revive(&mut self, framework_id: &str, roles: Vec<String>) {
        let handles: Vec<alloc::RoleId> = roles.iter().map(|r| self.role_handle(r)).collect();
        if let Some(f) = self.frameworks.get_mut(framework_id) {
            if roles.is_empty() {
                f.suppressed.clear();
            } else {
                f.suppressed.retain(|r| !roles.contains(r));
            }
            let h = f.handle;
            self.allocator.revive(h, &handles);
            self.trigger_allocation();
        }
    }

    // Offers ----------------------------------------------------------------------------------

    /// Removes an offer and gives its resources back to the allocator (with a decline filter
    /// of `refuse` seconds when given). `rescind` also tells the framework.
    pub fn remove_offer(&mut self, offer_id: &str, refuse: Option<f64>, rescind: bool) {
        let Some(o) = self.offers.remove(offer_id) else {
            return;
        };
        if let Some(f) = self.frameworks.get_mut(&o.framework_id) {
            f.offers.remove(offer_id);
        }
        if rescind {
            self.metrics.offers_rescinded += 1;
            self.send(
                &o.framework_id,
                &Event::Rescind(Rescind {
                    offer_id: OfferID::new(offer_id),
                }),
            );
        }
        self.give_back(&o.framework_id, &o.agent_id, &o.role, &o.resources, refuse);
        self.trigger_allocation();
    }

    /// Returns resources held by a framework on an agent to the allocator.
    fn give_back(
        &mut self,
        framework_id: &str,
        agent_id: &str,
        role: &str,
        resources: &ResourceSet,
        refuse: Option<f64>,
    ) {
        let q = self.quantities(resources);
        let role_h = self.role_handle(role);
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return;
        };
        agent.allocated.subtract(resources);
        let agent_h = agent.handle;
        if let Some(f) = self.frameworks.get(framework_id) {
            let fh = f.handle;
            let now = self.now_ms();
            self.allocator.recover(fh, agent_h, role_h, q, refuse, now);
        }
    }

    /// One allocation round: ask the allocator, turn its amounts into concrete offers, send
    /// them.
    pub fn allocate(&mut self) {
        let now = self.now_ms();
        let decided = self.allocator.allocate(now);
        let mut by_framework: BTreeMap<String, Vec<Offer>> = BTreeMap::new();
        for d in decided {
            let (Some(fid), Some(aid)) = (
                self.framework_handles.get(&d.framework).cloned(),
                self.agent_handles.get(&d.agent).cloned(),
            ) else {
                continue;
            };
            let Some(role) = self
                .roles
                .iter()
                .find(|(_, h)| **h == d.role)
                .map(|(r, _)| r.clone())
            else {
                continue;
            };
            let Some(agent) = self.agents.get_mut(&aid) else {
                continue;
            };
            let mut free = agent.total.clone();
            free.subtract(&agent.allocated);
            let resources = self.slots.materialize(&d.resources, &free);
            if resources.is_empty() {
                // Nothing concrete to offer: the allocator gets its amounts back.
                self.allocator
                    .recover(d.framework, d.agent, d.role, d.resources, None, now);
                continue;
            }
            agent.allocated.add(&resources);
            let offer_id = format!("{}-O{}", self.master_id, self.next_offer);
            self.next_offer += 1;
            let wire_resources: Vec<_> =
                meseta_api::convert::resources_to_wire(&resources.to_resources())
                    .into_iter()
                    .map(|r| r.allocated_to(&role))
                    .collect();
            let ip = agent
                .endpoint
                .parse::<SocketAddr>()
                .map(|a| a.ip().to_string())
                .unwrap_or_else(|_| agent.info.hostname.clone());
            let offer = Offer {
                id: OfferID::new(&offer_id),
                framework_id: FrameworkID::new(&fid),
                agent_id: AgentID::new(&aid),
                hostname: agent.info.hostname.clone(),
                url: Some(Url {
                    scheme: "http".into(),
                    address: meseta_api::common::Address {
                        hostname: Some(agent.info.hostname.clone()),
                        ip: Some(ip),
                        port: agent.info.port.unwrap_or(5051),
                    },
                    path: Some("/slave(1)".into()),
                    ..Url::default()
                }),
                resources: wire_resources,
                attributes: agent.info.attributes.clone(),
                executor_ids: Vec::new(),
                allocation_info: Some(meseta_api::common::AllocationInfo {
                    role: Some(role.clone()),
                }),
            };
            self.offers.insert(
                offer_id.clone(),
                OfferEntry {
                    id: offer_id.clone(),
                    framework_id: fid.clone(),
                    agent_id: aid,
                    role,
                    resources,
                    created: Instant::now(),
                },
            );
            if let Some(f) = self.frameworks.get_mut(&fid) {
                f.offers.insert(offer_id);
            }
            by_framework.entry(fid).or_default().push(offer);
        }
        for (fid, offers) in by_framework {
            self.send(&fid, &Event::Offers(Offers { offers }));
        }
    }

    /// Rescinds offers outstanding for longer than `--offer_timeout`.
    pub fn expire_offers(&mut self) {
        let Some(timeout) = self.settings.offer_timeout else {
            return;
        };
        let expired: Vec<String> = self
            .offers
            .values()
            .filter(|o| o.created.elapsed() >= timeout)
            .map(|o| o.id.clone())
            .collect();
        for id in expired {
            self.remove_offer(&id, None, true);
        }
    }

    pub fn decline(&mut self, framework_id: &str, offer_ids: &[OfferID], refuse: f64) {
        for id in offer_ids {
            if self
                .offers
                .get(&id.value)
                .is_some_and(|o| o.framework_id == framework_id)
            {
                self.metrics.offers_declined += 1;
                self.remove_offer(&id.value, Some(refuse), false);
            }
        }
    }

    // ACCEPT ----------------------------------------------------------------------------------

    /// ACCEPT. `Err` is a 400 answer: nothing changed. Invalid tasks are answered with
    /// TASK_ERROR / TASK_DROPPED / TASK_LOST updates instead.
    pub fn accept(&mut self, framework_id: &str, mut accept: Accept) -> Result<(), String> {
        for op in &accept.operations {
            if let OperationKind::Other(t) = &op.kind {
                return Err(format!(
                    "Offer operation '{t}' is not supported by Meseta yet (supported: LAUNCH, LAUNCH_GROUP); nothing was accepted"
                ));
            }
        }
        let refuse = accept.refuse_seconds();
        let partition_aware = self
            .frameworks
            .get(framework_id)
            .is_some_and(Framework::partition_aware);
        // Offers: every one must be outstanding, this framework's, on one agent.
        let mut problem: Option<String> = None;
        let mut agent: Option<String> = None;
        let mut valid: Vec<String> = Vec::new();
        let mut seen = BTreeSet::new();
        for id in &accept.offer_ids {
            if !seen.insert(id.value.clone()) {
                problem.get_or_insert(format!("Offer {} appears more than once", id.value));
                continue;
            }
            match self.offers.get(&id.value) {
                None => {
                    problem.get_or_insert(format!(
                        "Offer {} is no longer valid (unknown, already used, declined or rescinded)",
                        id.value
                    ));
                }
                Some(o) if o.framework_id != framework_id => {
                    problem
                        .get_or_insert(format!("Offer {} belongs to another framework", id.value));
                }
                Some(o) => {
                    if agent.as_ref().is_some_and(|a| *a != o.agent_id) {
                        problem.get_or_insert(
                            "Aggregated offers must belong to the same agent".to_string(),
                        );
                    }
                    agent.get_or_insert(o.agent_id.clone());
                    valid.push(id.value.clone());
                }
            }
        }
        if accept.offer_ids.is_empty() {
            problem = Some("No offers specified".into());
        }
        self.metrics.offers_accepted += valid.len() as u64;
        let all_tasks: Vec<TaskInfo> = accept
            .operations
            .iter()
            .flat_map(|op| match &op.kind {
                OperationKind::Launch(l) => l.task_infos.clone(),
                OperationKind::LaunchGroup(g) => g.task_group.tasks.clone(),
                OperationKind::Other(_) => Vec::new(),
            })
            .collect();
        if let Some(problem) = problem {
            let state = if partition_aware {
                TaskState::Dropped
            } else {
                TaskState::Lost
            };
            for t in &all_tasks {
                let status = self.master_status(
                    &t.task_id.value,
                    agent.as_deref(),
                    state,
                    Reason::InvalidOffers,
                    format!("Task launched with invalid offers: {problem}"),
                );
                self.send(framework_id, &Self::update_event(status));
            }
            for o in valid {
                self.remove_offer(&o, None, false);
            }
            return Ok(());
        }
        let Some(agent_id) = agent else {
            return Ok(());
        };
        // Pool the offers' resources per role.
        let mut pool: BTreeMap<String, ResourceSet> = BTreeMap::new();
        for id in &valid {
            if let Some(o) = self.offers.remove(id) {
                if let Some(f) = self.frameworks.get_mut(framework_id) {
                    f.offers.remove(id);
                }
                pool.entry(o.role.clone()).or_default().add(&o.resources);
            }
        }
        let refused = self.hook_task_resources(&agent_id, &mut accept.operations);
        let mut launched_ids: BTreeSet<String> = BTreeSet::new();
        for op in accept.operations {
            match op.kind {
                OperationKind::Launch(l) => {
                    for mut task in l.task_infos {
                        let validated = self.validate_task(
                            framework_id,
                            &agent_id,
                            &task,
                            &launched_ids,
                            &pool,
                            None,
                        );
                        let validated = validated.and_then(|v| {
                            self.hook_task(&refused, framework_id, &agent_id, &mut task)
                                .map(|()| v)
                        });
                        match validated {
                            Ok((role, res, exec)) => {
                                launched_ids.insert(task.task_id.value.clone());
                                if let Some(p) = pool.get_mut(&role) {
                                    p.subtract(&res);
                                    if let Some((_, er)) = &exec {
                                        p.subtract(er);
                                    }
                                }
                                self.launch(
                                    framework_id,
                                    &agent_id,
                                    role,
                                    res,
                                    exec,
                                    vec![task],
                                    false,
                                );
                            }
                            Err(message) => {
                                let status = self.master_status(
                                    &task.task_id.value,
                                    Some(&agent_id),
                                    TaskState::Error,
                                    Reason::TaskInvalid,
                                    message,
                                );
                                self.send(framework_id, &Self::update_event(status));
                            }
                        }
                    }
                }
                OperationKind::LaunchGroup(mut g) => {
                    let mut scratch = pool.clone();
                    let mut ids = launched_ids.clone();
                    let mut parts = Vec::new();
                    let mut error = None;
                    let mut exec_res: Option<(ExecutorInfo, ResourceSet)> = None;
                    if g.task_group.tasks.is_empty() {
                        error = Some("Task group is empty".to_string());
                    }
                    for task in &g.task_group.tasks {
                        let executor = Some(&g.executor);
                        let validated = self.validate_task(
                            framework_id,
                            &agent_id,
                            task,
                            &ids,
                            &scratch,
                            executor,
                        );
                        match validated
                            .and_then(|v| hooks::check_refused(&refused, task).map(|()| v))
                        {
                            Ok((role, res, exec)) => {
                                if let Some(p) = scratch.get_mut(&role) {
                                    p.subtract(&res);
                                    if let Some((_, er)) = &exec {
                                        p.subtract(er);
                                    }
                                }
                                if exec.is_some() {
                                    exec_res = exec;
                                }
                                ids.insert(task.task_id.value.clone());
                                parts.push((role, res));
                            }
                            Err(e) => {
                                error = Some(format!("Task '{}': {e}", task.task_id.value));
                                break;
                            }
                        }
                    }
                    if error.is_none() {
                        error = self.hook_group(framework_id, &agent_id, &mut g.task_group.tasks);
                    }
                    if let Some(message) = error {
                        for task in &g.task_group.tasks {
                            let status = self.master_status(
                                &task.task_id.value,
                                Some(&agent_id),
                                TaskState::Error,
                                Reason::TaskGroupInvalid,
                                message.clone(),
                            );
                            self.send(framework_id, &Self::update_event(status));
                        }
                        continue;
                    }
                    pool = scratch;
                    launched_ids = ids;
                    let mut tasks = g.task_group.tasks;
                    for t in &mut tasks {
                        t.executor = None;
                    }
                    // Tasks of a group are recorded one by one; the run message carries them all.
                    let exec =
                        exec_res.or_else(|| Some((g.executor.clone(), ResourceSet::default())));
                    self.launch_group(framework_id, &agent_id, parts, exec, tasks, g.executor);
                }
                OperationKind::Other(_) => {}
            }
        }
        // What no operation used goes back to the allocator, filtered for `refuse` seconds.
        for (role, rest) in pool {
            if !rest.is_empty() {
                self.give_back(framework_id, &agent_id, &role, &rest, Some(refuse));
            }
        }
        self.trigger_allocation();
        Ok(())
    }

    /// Mesos' task validation against the pooled offers. Returns the role the resources come
    /// from, the task's resources, and the executor's (when it is new on the agent).
    #[allow(clippy::type_complexity)]
    fn validate_task(
        &self,
        framework_id: &str,
        agent_id: &str,
        task: &TaskInfo,
        launched: &BTreeSet<String>,
        pool: &BTreeMap<String, ResourceSet>,
        group_executor: Option<&ExecutorInfo>,
    ) -> Result<(String, ResourceSet, Option<(ExecutorInfo, ResourceSet)>), String> {
        let id = &task.task_id.value;
        if id.is_empty() {
            return Err("Task ID must not be empty".into());
        }
        if id.contains('/') || id.chars().any(char::is_control) || id.contains("..") {
            return Err(format!("Task ID '{id}' contains an invalid character"));
        }
        let f = self
            .frameworks
            .get(framework_id)
            .ok_or_else(|| "Framework is not subscribed".to_string())?;
        if f.tasks.contains_key(id) || f.unreachable_tasks.contains_key(id) || launched.contains(id)
        {
            return Err(format!("Task has duplicate ID: {id}"));
        }
        if let Some(a) = &task.agent_id
            && !a.value.is_empty()
            && a.value != agent_id
        {
            return Err(format!(
                "Task uses agent {} but the offers are on agent {agent_id}",
                a.value
            ));
        }
        let executor = group_executor.or(task.executor.as_ref());
        match (group_executor, &task.executor, &task.command) {
            (None, Some(_), Some(_)) => {
                return Err(
                    "Task should have at most one of CommandInfo or ExecutorInfo present".into(),
                );
            }
            (None, None, None) => {
                return Err("Task should have at least one (but not both) of CommandInfo or ExecutorInfo present".into());
            }
            (Some(_), _, None) => {
                return Err("Task in a group must have a CommandInfo".into());
            }
            _ => {}
        }
        if let Some(c) = &task.command
            && group_executor.is_none()
            && c.value.as_deref().is_none_or(str::is_empty)
        {
            return Err("Task's CommandInfo has no 'value' (the command to run)".into());
        }
        if let Some(e) = executor
            && group_executor.is_none()
            && e.command
                .as_ref()
                .and_then(|c| c.value.as_deref())
                .is_none_or(str::is_empty)
        {
            return Err(format!(
                "Executor '{}' has no CommandInfo with a 'value'",
                e.executor_id.value
            ));
        }
        let resources = meseta_api::convert::resources_from_wire(&task.resources)
            .map_err(|e| format!("Task has invalid resources: {}", e.0))?;
        if resources.is_empty() {
            return Err("Task uses no resources".into());
        }
        for r in &resources {
            if let Some(v) = r.as_scalar()
                && (!v.is_finite() || v < 0.0)
            {
                return Err(format!(
                    "Task resource '{}' has an invalid value {v}",
                    r.name
                ));
            }
        }
        let res = ResourceSet::from_resources(&resources);
        let exec_res = match executor {
            Some(e)
                if !f
                    .executors
                    .contains_key(&(agent_id.to_string(), e.executor_id.value.clone())) =>
            {
                let er = meseta_api::convert::resources_from_wire(&e.resources)
                    .map_err(|err| format!("Executor has invalid resources: {}", err.0))?;
                Some((e.clone(), ResourceSet::from_resources(&er)))
            }
            _ => None,
        };
        let wanted_role = task
            .resources
            .iter()
            .find_map(|r| r.allocation_role().map(str::to_string));
        let mut need = res.clone();
        if let Some((_, er)) = &exec_res {
            need.add(er);
        }
        let candidates: Vec<&String> = match &wanted_role {
            Some(r) => pool.keys().filter(|k| *k == r).collect(),
            None => pool.keys().collect(),
        };
        for role in candidates {
            if pool.get(role).is_some_and(|p| p.contains(&need)) {
                return Ok((role.clone(), res, exec_res));
            }
        }
        Err(format!(
            "Task uses more resources {} than available {}",
            crate::operator::resources_text(&need),
            crate::operator::resources_text(&pool.values().fold(
                ResourceSet::default(),
                |mut acc, p| {
                    acc.add(p);
                    acc
                }
            ))
        ))
    }

    fn new_task(
        framework_id: &str,
        agent_id: &str,
        role: String,
        resources: ResourceSet,
        executor_id: Option<String>,
        info: TaskInfo,
    ) -> Task {
        Task {
            info,
            framework_id: framework_id.to_string(),
            agent_id: agent_id.to_string(),
            executor_id,
            role,
            resources,
            state: TaskState::Staging,
            statuses: Vec::new(),
            last_status: None,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn launch(
        &mut self,
        framework_id: &str,
        agent_id: &str,
        role: String,
        resources: ResourceSet,
        exec: Option<(ExecutorInfo, ResourceSet)>,
        tasks: Vec<TaskInfo>,
        group: bool,
    ) {
        let Some(f) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        let executor = tasks.first().and_then(|t| t.executor.clone());
        if let Some((e, er)) = exec {
            f.executors
                .insert((agent_id.to_string(), e.executor_id.value.clone()), (e, er));
        }
        for t in &tasks {
            let exec_id = t.executor.as_ref().map(|e| e.executor_id.value.clone());
            f.tasks.insert(
                t.task_id.value.clone(),
                Self::new_task(
                    framework_id,
                    agent_id,
                    role.clone(),
                    resources.clone(),
                    exec_id,
                    t.clone(),
                ),
            );
            self.metrics.tasks_launched += 1;
        }
        let msg = wire::RunTask {
            framework: f.info.clone(),
            framework_id: FrameworkID::new(framework_id),
            executor,
            tasks,
            group,
        };
        self.send_to_agent(agent_id, wire::RUN_TASK, &msg);
    }

    #[allow(clippy::too_many_arguments)]
    fn launch_group(
        &mut self,
        framework_id: &str,
        agent_id: &str,
        parts: Vec<(String, ResourceSet)>,
        exec: Option<(ExecutorInfo, ResourceSet)>,
        tasks: Vec<TaskInfo>,
        executor: ExecutorInfo,
    ) {
        let Some(f) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        let key = (agent_id.to_string(), executor.executor_id.value.clone());
        if let Some((e, er)) = exec
            && !f.executors.contains_key(&key)
        {
            f.executors.insert(key, (e, er));
        }
        for (t, (role, res)) in tasks.iter().zip(parts) {
            f.tasks.insert(
                t.task_id.value.clone(),
                Self::new_task(
                    framework_id,
                    agent_id,
                    role,
                    res,
                    Some(executor.executor_id.value.clone()),
                    t.clone(),
                ),
            );
            self.metrics.tasks_launched += 1;
        }
        let msg = wire::RunTask {
            framework: f.info.clone(),
            framework_id: FrameworkID::new(framework_id),
            executor: Some(executor),
            tasks,
            group: true,
        };
        self.send_to_agent(agent_id, wire::RUN_TASK, &msg);
    }

    // Task calls ------------------------------------------------------------------------------

    pub fn kill(
        &mut self,
        framework_id: &str,
        task_id: &str,
        policy: Option<meseta_api::common::KillPolicy>,
    ) {
        let found = self
            .frameworks
            .get(framework_id)
            .and_then(|f| f.tasks.get(task_id))
            .map(|t| t.agent_id.clone());
        match found {
            Some(agent) => self.send_to_agent(
                &agent,
                wire::KILL_TASK,
                &wire::KillTask {
                    framework_id: FrameworkID::new(framework_id),
                    task_id: TaskID::new(task_id),
                    kill_policy: policy,
                },
            ),
            None => {
                // Mesos reconciles an unknown task.
                self.reconcile(
                    framework_id,
                    Reconcile {
                        tasks: vec![meseta_api::scheduler::ReconcileTask {
                            task_id: TaskID::new(task_id),
                            agent_id: None,
                        }],
                    },
                );
            }
        }
    }

    pub fn acknowledge(
        &mut self,
        framework_id: &str,
        agent_id: &str,
        task_id: &str,
        uuid: meseta_api::Bytes,
    ) {
        self.send_to_agent(
            agent_id,
            wire::ACKNOWLEDGE,
            &wire::AcknowledgeUpdate {
                framework_id: FrameworkID::new(framework_id),
                task_id: TaskID::new(task_id),
                uuid,
            },
        );
    }

    pub fn reconcile(&mut self, framework_id: &str, reconcile: Reconcile) {
        let Some(f) = self.frameworks.get(framework_id) else {
            return;
        };
        let mut out = Vec::new();
        let status_of = |t: &Task| {
            let mut s = t
                .last_status
                .clone()
                .unwrap_or_else(|| TaskStatus::new(t.info.task_id.clone(), t.state));
            s.state = t.state;
            s.uuid = None;
            s.reason = Some(Reason::Reconciliation);
            s.source = Some(Source::Master);
            s.agent_id = Some(AgentID::new(&t.agent_id));
            s.timestamp = Some(now_secs());
            s.message = Some("Reconciliation: latest task state".into());
            s
        };
        if reconcile.tasks.is_empty() {
            for t in f.tasks.values().chain(f.unreachable_tasks.values()) {
                out.push(status_of(t));
            }
        } else {
            for rt in &reconcile.tasks {
                let id = &rt.task_id.value;
                if let Some(t) = f.tasks.get(id).or_else(|| f.unreachable_tasks.get(id)) {
                    out.push(status_of(t));
                    continue;
                }
                let completed = f
                    .completed_tasks
                    .iter()
                    .rev()
                    .find(|t| &t.info.task_id.value == id);
                let agent = rt.agent_id.as_ref().map(|a| a.value.as_str());
                // Mesos' table (docs/reconciliation.md): no answer while the task's agent (or,
                // without an agent id, any agent) has yet to re-register after a failover.
                let recovering = match agent {
                    Some(a) => self.recovered_agents.contains_key(a),
                    None => !self.recovered_agents.is_empty(),
                };
                if completed.is_none() && recovering {
                    continue;
                }
                let aware = f.partition_aware();
                let (state, message) = match (completed, agent) {
                    (Some(t), _) => (t.state, "Reconciliation: task is terminal"),
                    (None, _) if !aware => (TaskState::Lost, "Reconciliation: task is unknown"),
                    (None, Some(a)) if self.agents.contains_key(a) => (
                        TaskState::Gone,
                        "Reconciliation: task is unknown to its agent",
                    ),
                    (None, Some(a)) if self.unreachable_agents.contains_key(a) => (
                        TaskState::Unreachable,
                        "Reconciliation: the task's agent is unreachable",
                    ),
                    (None, _) => (TaskState::Unknown, "Reconciliation: task is unknown"),
                };
                let mut s = TaskStatus::new(rt.task_id.clone(), state);
                s.reason = Some(Reason::Reconciliation);
                s.source = Some(Source::Master);
                s.message = Some(message.into());
                s.agent_id = Some(
                    rt.agent_id
                        .clone()
                        .or_else(|| completed.map(|t| AgentID::new(&t.agent_id)))
                        .unwrap_or_default(),
                );
                s.timestamp = Some(now_secs());
                if state == TaskState::Unreachable
                    && let Some(at) = agent.and_then(|a| self.unreachable_agents.get(a))
                {
                    s.unreachable_time = Some(meseta_api::common::TimeInfo {
                        nanoseconds: (at * 1e9) as i64,
                    });
                }
                out.push(s);
            }
        }
        for s in out {
            self.send(framework_id, &Self::update_event(s));
        }
    }

    pub fn shutdown_executor(&mut self, framework_id: &str, agent_id: &str, executor_id: &str) {
        self.send_to_agent(
            agent_id,
            wire::SHUTDOWN_EXECUTOR,
            &wire::ShutdownExecutor {
                framework_id: FrameworkID::new(framework_id),
                executor_id: ExecutorID::new(executor_id),
            },
        );
    }

    pub fn framework_message(&mut self, framework_id: &str, m: Message) {
        self.metrics.framework_to_executor_messages += 1;
        self.send_to_agent(
            &m.agent_id.value,
            wire::FRAMEWORK_MESSAGE,
            &wire::FrameworkToExecutor {
                framework_id: FrameworkID::new(framework_id),
                executor_id: m.executor_id,
                data: m.data,
            },
        );
    }

    // Agents ----------------------------------------------------------------------------------

    /// The first step of a REGISTER: the agent's id (a new one for a first registration) and
    /// the registry operation that must be durable before the agent is told it is registered
    /// (Mesos: `AdmitSlave` for a new agent, `MarkSlaveReachable` for one this master does not
    /// have as admitted). `None`: the agent is registered with this master or admitted by an
    /// earlier one, and nothing needs storing.
    pub fn admission(
        &mut self,
        info: &AgentInfo,
    ) -> Result<(String, Option<meseta_registry::Operation>), String> {
        use meseta_registry::Operation;
        let claimed = info
            .id
            .as_ref()
            .map(|i| i.value.clone())
            .filter(|s| !s.is_empty());
        let Some(id) = claimed else {
            let id = format!("{}-S{}", self.master_id, self.next_agent_number);
            self.next_agent_number += 1;
            let mut info = info.clone();
            info.id = Some(AgentID::new(&id));
            return Ok((id, Some(Operation::AdmitAgent(info))));
        };
        if self.gone_agents.contains_key(&id) {
            return Err(format!(
                "Agent {id} has been marked gone: it cannot register again under this id \
                 (remove <work_dir>/meta/slaves/latest on the agent to register as a new agent)"
            ));
        }
        if self.agents.contains_key(&id) || self.recovered_agents.contains_key(&id) {
            return Ok((id, None));
        }
        Ok((id, Some(Operation::MarkAgentReachable(info.clone()))))
    }

    /// REGISTER from an agent, once [`Inner::admission`]'s operation is durable: `msg` carries
    /// the agent's id. `reregistering`: the agent came with an id of its own.
    pub fn register_agent(
        &mut self,
        msg: wire::RegisterAgent,
        outbox: mpsc::UnboundedSender<(&'static str, Vec<u8>)>,
        reregistering: bool,
    ) -> Result<String, String> {
        let resources = meseta_api::convert::resources_from_wire(&msg.agent_info.resources)
            .map_err(|e| format!("Invalid agent resources: {}", e.0))?;
        let total = ResourceSet::from_resources(&resources);
        let claimed = msg
            .agent_info
            .id
            .as_ref()
            .map(|i| i.value.clone())
            .filter(|s| !s.is_empty());
        let now = now_secs();
        if let Some(id) = &claimed
            && self.agents.contains_key(id)
        {
            let id = id.clone();
            self.reregister_known_agent(&id, msg, outbox, now);
            return Ok(id);
        }
        let Some(id) = claimed else {
            return Err("an agent registers with the id its admission gave it".into());
        };
        let handle = self.next_agent;
        self.next_agent += 1;
        self.unreachable_agents.remove(&id);
        // An agent admitted by an earlier master re-registering after a failover: its tasks
        // are adopted silently. One that was unreachable (or unknown) gets its tasks' current
        // state forwarded to their frameworks (Mesos 1.5+, REASON_AGENT_REREGISTERED).
        let recovered_agent = self.recovered_agents.remove(&id).is_some();
        // Frameworks this master does not know but the agent runs tasks of (a restarted
        // master): known again from the agent's report, inactive until they re-subscribe.
        for rt in &msg.tasks {
            let fid = &rt.framework_id.value;
            if !self.frameworks.contains_key(fid)
                && !self.is_completed_framework(fid)
                && let Some(info) = &rt.framework
            {
                self.recover_framework(fid, info.clone());
            }
        }
        let mut info = msg.agent_info;
        info.id = Some(AgentID::new(&id));
        let attributes: Vec<(String, String)> = info
            .attributes
            .iter()
            .map(|a| (a.name.clone(), crate::operator::attribute_text(a)))
            .collect();
        let q = self.quantities(&total);
        let mut agent = Agent {
            id: id.clone(),
            handle,
            info: info.clone(),
            endpoint: msg.endpoint,
            total,
            allocated: ResourceSet::default(),
            registered_time: now,
            reregistered_time: reregistering.then_some(now),
            missed_pings: 0,
            version: msg.version,
            outbox,
        };
        // Tasks the agent still runs are adopted, for every framework (Mesos 1.5+: even a task
        // already reported TASK_LOST comes back; its framework hears its current state). Only
        // frameworks this master removed are told to shut down.
        let mut pending_usage: Vec<(alloc::FrameworkId, String, Quantities)> = Vec::new();
        let mut shutdown: BTreeSet<String> = BTreeSet::new();
        let mut recovered: Vec<(String, TaskStatus)> = Vec::new();
        for rt in msg.tasks {
            let fid = rt.framework_id.value.clone();
            let Some(f) = self.frameworks.get_mut(&fid) else {
                shutdown.insert(fid);
                continue;
            };
            let tid = rt.task.task_id.value.clone();
            let existing = f
                .unreachable_tasks
                .remove(&tid)
                .or_else(|| f.tasks.remove(&tid));
            if existing.is_none() {
                // A task the master had reported lost: it is running after all.
                f.completed_tasks.retain(|t| t.info.task_id.value != tid);
            }
            let res = meseta_api::convert::resources_from_wire(&rt.task.resources)
                .map(|r| ResourceSet::from_resources(&r))
                .unwrap_or_default();
            let role = f.roles.first().cloned().unwrap_or_else(|| "*".into());
            let mut task = existing
                .unwrap_or_else(|| Self::new_task(&fid, &id, role, res, None, rt.task.clone()));
            task.agent_id = id.clone();
            task.state = rt.status.state;
            task.statuses.push((rt.status.state, now));
            task.last_status = Some(rt.status.clone());
            agent.allocated.add(&task.resources);
            pending_usage.push((
                f.handle,
                task.role.clone(),
                self.slots.quantities(&task.resources),
            ));
            let mut s = rt.status;
            s.agent_id = Some(AgentID::new(&id));
            s.uuid = None;
            s.reason = Some(Reason::AgentReregistered);
            s.source = Some(Source::Master);
            if !recovered_agent {
                recovered.push((fid.clone(), s));
            }
            f.tasks.insert(tid, task);
        }
        let usage: Vec<alloc::AgentUsage> = pending_usage
            .into_iter()
            .map(|(framework, role, resources)| alloc::AgentUsage {
                framework,
                role: self.role_handle(&role),
                resources,
            })
            .collect();
        let ainfo = alloc::AgentInfo {
            hostname: info.hostname.clone(),
            attributes,
        };
        self.allocator
            .add_agent_with_usage(handle, ainfo, q, &usage);
        self.agent_handles.insert(handle, id.clone());
        self.agents.insert(id.clone(), agent);
        for fid in shutdown {
            self.send_to_agent(
                &id,
                wire::SHUTDOWN_FRAMEWORK,
                &wire::ShutdownFramework {
                    framework_id: FrameworkID::new(&fid),
                },
            );
        }
        for (fid, s) in recovered {
            self.send(&fid, &Self::update_event(s));
        }
        if reregistering {
            self.metrics.agent_reregistrations += 1;
        } else {
            self.metrics.agent_registrations += 1;
        }
        tracing::info!(agent = %id, hostname = %info.hostname, reregistering, "agent registered");
        self.trigger_allocation();
        Ok(id)
    }

    /// An agent the master has registered comes again with the same id (its process restarted,
    /// or it stopped hearing pings): new endpoint and outbox; tasks the master has on it that
    /// the agent no longer reports are lost (Mesos' `reconcileKnownSlave`: `TASK_DROPPED` to
    /// partition-aware frameworks, `TASK_LOST` to others, `REASON_RECONCILIATION`). Tasks
    /// still `STAGING` are left alone: their launch may still be on its way to the agent.
    fn reregister_known_agent(
        &mut self,
        id: &str,
        msg: wire::RegisterAgent,
        outbox: mpsc::UnboundedSender<(&'static str, Vec<u8>)>,
        now: f64,
    ) {
        if let Some(a) = self.agents.get_mut(id) {
            a.endpoint = msg.endpoint;
            a.outbox = outbox;
            a.missed_pings = 0;
            a.reregistered_time = Some(now);
            a.version = msg.version;
        }
        self.metrics.agent_reregistrations += 1;
        let reported: BTreeSet<(String, String)> = msg
            .tasks
            .iter()
            .map(|rt| (rt.framework_id.value.clone(), rt.task.task_id.value.clone()))
            .collect();
        let mut missing: Vec<(String, String)> = Vec::new();
        for f in self.frameworks.values() {
            for t in f.tasks.values() {
                if t.agent_id == id
                    && t.state != TaskState::Staging
                    && !reported.contains(&(f.id.clone(), t.info.task_id.value.clone()))
                {
                    missing.push((f.id.clone(), t.info.task_id.value.clone()));
                }
            }
        }
        for (fid, tid) in missing {
            let Some(f) = self.frameworks.get_mut(&fid) else {
                continue;
            };
            let state = if f.partition_aware() {
                TaskState::Dropped
            } else {
                TaskState::Lost
            };
            let Some(mut t) = f.tasks.remove(&tid) else {
                continue;
            };
            let mut s = TaskStatus::new(TaskID::new(&tid), state);
            s.source = Some(Source::Master);
            s.reason = Some(Reason::Reconciliation);
            s.message = Some("Task is unknown to the agent".into());
            s.agent_id = Some(AgentID::new(id));
            s.executor_id = t.executor_id.clone().map(ExecutorID::new);
            s.timestamp = Some(now);
            t.state = state;
            t.statuses.push((state, now));
            t.last_status = Some(s.clone());
            *self
                .metrics
                .terminal
                .entry(if state == TaskState::Lost {
                    "lost"
                } else {
                    "dropped"
                })
                .or_default() += 1;
            let (role, res) = (t.role.clone(), t.resources.clone());
            f.completed_tasks.push_back(t);
            while f.completed_tasks.len() > MAX_COMPLETED_TASKS {
                f.completed_tasks.pop_front();
            }
            tracing::warn!(agent = id, framework = %fid, task = %tid,
                "the re-registered agent does not know this task: {state:?}");
            self.give_back(&fid, id, &role, &res, None);
            self.send(&fid, &Self::update_event(s));
        }
        tracing::info!(agent = %id, "agent re-registered");
        self.trigger_allocation();
    }

    /// A framework known only from an agent's report (this master restarted and the framework
    /// has not re-subscribed yet): added inactive and disconnected, so its failover timeout runs
    /// from now and it is removed if it never comes back (Mesos leaves such frameworks forever,
    /// MESOS-4659). SUBSCRIBE with its id takes it over.
    fn recover_framework(&mut self, id: &str, mut info: FrameworkInfo) {
        let roles = self
            .validate_framework(&info)
            .unwrap_or_else(|_| info.effective_roles());
        info.id = Some(FrameworkID::new(id));
        let handle = self.next_framework;
        self.next_framework += 1;
        let ainfo = self.framework_alloc_info(&info, &roles);
        self.allocator.add_framework(handle, ainfo, false);
        self.framework_handles.insert(handle, id.to_string());
        let now = now_secs();
        tracing::info!(framework = id, name = %info.name,
            failover_timeout = info.failover_timeout.unwrap_or(0.0),
            "framework recovered from an agent's report; waiting for it to re-subscribe");
        self.frameworks.insert(
            id.to_string(),
            Framework {
                id: id.to_string(),
                handle,
                info,
                roles,
                conn: None,
                active: false,
                registered_time: now,
                reregistered_time: None,
                unregistered_time: Some(now),
                disconnected_at: Some(Instant::now()),
                suppressed: BTreeSet::new(),
                offers: BTreeSet::new(),
                tasks: BTreeMap::new(),
                unreachable_tasks: BTreeMap::new(),
                completed_tasks: VecDeque::new(),
                executors: BTreeMap::new(),
            },
        );
    }

    /// What an earlier master left in the registry (Mesos' `Master::_recover`): admitted agents
    /// are expected to re-register (pinged at their last address), unreachable and gone ones are
    /// remembered, quota applies again. Weights are given to [`Inner::new`].
    pub fn recover_from_registry(&mut self, registry: &meseta_registry::Registry) {
        for (id, info) in &registry.agents {
            let endpoint = info.port.map(|port| format!("{}:{port}", info.hostname));
            self.recovered_agents.insert(
                id.clone(),
                RecoveredAgent {
                    info: info.clone(),
                    endpoint,
                },
            );
        }
        if !self.recovered_agents.is_empty() {
            self.recovered_at = Some(Instant::now());
            self.recovered_total = self.recovered_agents.len();
        }
        self.unreachable_agents
            .extend(registry.unreachable.iter().map(|(id, t)| (id.clone(), *t)));
        self.gone_agents
            .extend(registry.gone.iter().map(|(id, t)| (id.clone(), *t)));
        for (role, config) in &registry.quotas {
            let quota = Quota {
                guarantees: config.guarantees.clone(),
                limits: config.limits.clone(),
            };
            if let Err(e) = self.set_quota(role, quota) {
                tracing::warn!(role = %role, error = %e, "quota in the registry not applied");
            }
        }
    }

    /// Queues a registry operation for the server to apply once the lock is released.
    fn log_registry(&self, op: meseta_registry::Operation) {
        if let Some(log) = &self.registry_log {
            let _ = log.send(op);
        }
    }

    /// After `agent_reregister_timeout`, recovered agents that did not re-register are marked
    /// unreachable (Mesos: not shut down; they may still come back). Returns their ids, or,
    /// when more of them are missing than `--recovery_agent_removal_limit` allows, why the
    /// master must stop (Mesos exits then, leaving the agents as they are).
    pub fn expire_recovered_agents(&mut self) -> Result<Vec<String>, String> {
        let timeout = self.settings.agent_reregister_timeout;
        if self.recovered_agents.is_empty()
            || self.recovered_at.is_none_or(|at| at.elapsed() < timeout)
        {
            return Ok(Vec::new());
        }
        let missing = self.recovered_agents.len();
        let limit = self.settings.recovery_agent_removal_limit;
        let fraction = missing as f64 / self.recovered_total.max(1) as f64;
        if fraction > limit {
            return Err(format!(
                "{missing} of the {} agents in the registry did not re-register within \
                 --agent_reregister_timeout ({timeout:?}), more than \
                 --recovery_agent_removal_limit ({}%) allows: not marking them unreachable",
                self.recovered_total,
                limit * 100.0
            ));
        }
        let now = now_secs();
        let missing: Vec<String> = std::mem::take(&mut self.recovered_agents)
            .into_keys()
            .collect();
        for id in &missing {
            tracing::warn!(agent = %id, timeout = ?timeout,
                "agent did not re-register with this master in time: marked unreachable");
            self.unreachable_agents.insert(id.clone(), now);
            self.log_registry(meseta_registry::Operation::MarkAgentUnreachable {
                id: AgentID::new(id),
                time: now,
            });
            let fids: Vec<String> = self.frameworks.keys().cloned().collect();
            for fid in fids {
                self.send(
                    &fid,
                    &Event::Failure(Failure {
                        agent_id: Some(AgentID::new(id)),
                        executor_id: None,
                        status: None,
                    }),
                );
            }
        }
        Ok(missing)
    }

    /// Agents the registry's GC pruned: forgotten, with the tasks they had when they became
    /// unreachable (reconciliation then answers TASK_UNKNOWN for those, as in Mesos).
    pub fn forget_agents(&mut self, ids: &[String]) {
        for id in ids {
            self.unreachable_agents.remove(id);
            self.gone_agents.remove(id);
        }
        for f in self.frameworks.values_mut() {
            f.unreachable_tasks
                .retain(|_, t| !ids.contains(&t.agent_id));
        }
    }

    /// The agent missed too many pings: its offers are rescinded, its tasks reported
    /// TASK_LOST (TASK_UNREACHABLE to partition-aware frameworks), frameworks hear FAILURE.
    /// The agent's estimator changed its estimate (Mesos' `Master::updateSlave`): the revocable
    /// part of the agent's total becomes `revocable`, outstanding offers holding revocable
    /// resources of the agent are rescinded, and the allocator gets the new total. Whether
    /// the agent is known.
    pub fn update_oversubscribed(
        &mut self,
        agent_id: &str,
        revocable: &[meseta_types::resources::Resource],
    ) -> bool {
        let Some(agent) = self.agents.get(agent_id) else {
            return false;
        };
        let mut total = agent.total.clone();
        total.scalars.retain(|(_, r), _| !*r);
        let estimate = ResourceSet::from_resources(revocable);
        total.add(&estimate);
        if total == agent.total {
            return true;
        }
        let handle = agent.handle;
        tracing::info!(agent = agent_id, estimate = ?revocable.iter().map(|r| format!("{}:{}", r.name, r.as_scalar().unwrap_or(0.0))).collect::<Vec<_>>(),
            "oversubscribed resources updated");
        let stale: Vec<String> = self
            .offers
            .values()
            .filter(|o| o.agent_id == agent_id && o.resources.scalars.keys().any(|(_, r)| *r))
            .map(|o| o.id.clone())
            .collect();
        for o in stale {
            self.remove_offer(&o, None, true);
        }
        let q = self.quantities(&total);
        if let Some(agent) = self.agents.get_mut(agent_id) {
            agent.total = total;
        }
        self.allocator.update_agent(handle, q);
        self.trigger_allocation();
        true
    }

    pub fn mark_unreachable(&mut self, agent_id: &str, why: &str) {
        let offers: Vec<String> = self
            .offers
            .values()
            .filter(|o| o.agent_id == agent_id)
            .map(|o| o.id.clone())
            .collect();
        for o in offers {
            self.remove_offer(&o, None, true);
        }
        let Some(agent) = self.agents.remove(agent_id) else {
            return;
        };
        tracing::warn!(agent = agent_id, hostname = %agent.info.hostname, why, "agent removed");
        self.metrics.agent_removals += 1;
        self.allocator.remove_agent(agent.handle);
        self.agent_handles.remove(&agent.handle);
        let now = now_secs();
        self.unreachable_agents.insert(agent_id.to_string(), now);
        self.log_registry(meseta_registry::Operation::MarkAgentUnreachable {
            id: AgentID::new(agent_id),
            time: now,
        });
        let mut updates: Vec<(String, TaskStatus)> = Vec::new();
        let message = format!(
            "Agent {} ({}) is unreachable: {why}",
            agent_id, agent.info.hostname
        );
        let fids: Vec<String> = self.frameworks.keys().cloned().collect();
        for fid in &fids {
            let Some(f) = self.frameworks.get_mut(fid) else {
                continue;
            };
            let aware = f.partition_aware();
            let ids: Vec<String> = f
                .tasks
                .values()
                .filter(|t| t.agent_id == agent_id)
                .map(|t| t.info.task_id.value.clone())
                .collect();
            for tid in ids {
                let Some(mut t) = f.tasks.remove(&tid) else {
                    continue;
                };
                let state = if aware {
                    TaskState::Unreachable
                } else {
                    TaskState::Lost
                };
                t.state = state;
                t.statuses.push((state, now));
                let mut s = TaskStatus::new(TaskID::new(&tid), state);
                s.source = Some(Source::Master);
                s.reason = Some(Reason::AgentRemoved);
                s.message = Some(message.clone());
                s.agent_id = Some(AgentID::new(agent_id));
                s.executor_id = t.executor_id.clone().map(ExecutorID::new);
                s.timestamp = Some(now);
                if aware {
                    s.unreachable_time = Some(meseta_api::common::TimeInfo {
                        nanoseconds: (now * 1e9) as i64,
                    });
                }
                t.last_status = Some(s.clone());
                updates.push((fid.clone(), s));
                if aware {
                    f.unreachable_tasks.insert(tid, t);
                } else {
                    *self.metrics.terminal.entry("lost").or_default() += 1;
                    f.completed_tasks.push_back(t);
                    while f.completed_tasks.len() > MAX_COMPLETED_TASKS {
                        f.completed_tasks.pop_front();
                    }
                }
            }
            f.executors.retain(|(a, _), _| a != agent_id);
        }
        for (fid, s) in updates {
            self.send(&fid, &Self::update_event(s));
        }
        for fid in &fids {
            self.send(
                fid,
                &Event::Failure(Failure {
                    agent_id: Some(AgentID::new(agent_id)),
                    executor_id: None,
                    status: None,
                }),
            );
        }
        self.hook_agent_lost(agent_id, &agent.info);
        self.trigger_allocation();
    }

    /// STATUS from an agent. `false` when the agent is unknown (answered 409: it must register
    /// again).
    pub fn status_update(&mut self, msg: wire::StatusUpdate) -> bool {
        let agent_id = msg.agent_id.value.clone();
        if !self.agents.contains_key(&agent_id) {
            self.metrics.invalid_status_updates += 1;
            return false;
        }
        let fid = msg.framework_id.value.clone();
        let mut status = msg.status;
        status.agent_id = Some(AgentID::new(&agent_id));
        let tid = status.task_id.value.clone();
        if !self.frameworks.contains_key(&fid) {
            // The framework is gone: acknowledge on its behalf so the agent stops resending.
            if let Some(uuid) = status.uuid.clone() {
                self.acknowledge(&fid, &agent_id, &tid, uuid);
            }
            self.metrics.invalid_status_updates += 1;
            return true;
        }
        self.metrics.valid_status_updates += 1;
        let mut released: Option<(String, ResourceSet)> = None;
        if let Some(f) = self.frameworks.get_mut(&fid) {
            let from_unreachable = f.unreachable_tasks.remove(&tid);
            if let Some(t) = from_unreachable {
                f.tasks.insert(tid.clone(), t);
            }
            if let Some(t) = f.tasks.get_mut(&tid) {
                let new_state = status.state;
                let changed = t.state != new_state || t.statuses.is_empty();
                if changed && !t.state.is_terminal() {
                    t.state = new_state;
                    t.statuses
                        .push((new_state, status.timestamp.unwrap_or_else(now_secs)));
                }
                t.last_status = Some(status.clone());
                if new_state.is_terminal()
                    && let Some(t) = f.tasks.remove(&tid)
                {
                    let key = match new_state {
                        TaskState::Finished => "finished",
                        TaskState::Failed => "failed",
                        TaskState::Killed => "killed",
                        TaskState::Lost => "lost",
                        TaskState::Error => "error",
                        TaskState::Dropped => "dropped",
                        TaskState::Gone => "gone",
                        TaskState::GoneByOperator => "gone_by_operator",
                        _ => "other",
                    };
                    *self.metrics.terminal.entry(key).or_default() += 1;
                    released = Some((t.role.clone(), t.resources.clone()));
                    f.completed_tasks.push_back(t);
                    while f.completed_tasks.len() > MAX_COMPLETED_TASKS {
                        f.completed_tasks.pop_front();
                    }
                }
            }
        }
        if let Some((role, res)) = released {
            self.give_back(&fid, &agent_id, &role, &res, None);
            self.trigger_allocation();
        }
        self.send(&fid, &Self::update_event(status));
        true
    }

    pub fn executor_message(&mut self, msg: wire::ExecutorToFramework) {
        self.metrics.executor_to_framework_messages += 1;
        self.send(
            &msg.framework_id.value,
            &Event::Message(Message {
                agent_id: msg.agent_id,
                executor_id: msg.executor_id,
                data: msg.data,
            }),
        );
    }

    pub fn executor_exited(&mut self, msg: wire::ExecutorExited) {
        let fid = msg.framework_id.value.clone();
        let key = (msg.agent_id.value.clone(), msg.executor_id.value.clone());
        let released = self
            .frameworks
            .get_mut(&fid)
            .and_then(|f| f.executors.remove(&key));
        if let Some((_, res)) = released {
            let role = self
                .frameworks
                .get(&fid)
                .and_then(|f| f.roles.first().cloned())
                .unwrap_or_else(|| "*".into());
            if !res.is_empty() {
                self.give_back(&fid, &msg.agent_id.value, &role, &res, None);
            }
        }
        self.send(
            &fid,
            &Event::Failure(Failure {
                agent_id: Some(msg.agent_id),
                executor_id: Some(msg.executor_id),
                status: Some(msg.status),
            }),
        );
        self.trigger_allocation();
    }

    /// Agents to ping: (id, endpoint). Recovered agents are pinged too: an agent that hears
    /// a new master id re-registers at once.
    pub fn ping_targets(&self) -> Vec<(String, String)> {
        let recovered = self
            .recovered_agents
            .iter()
            .filter_map(|(id, a)| Some((id.clone(), a.endpoint.clone()?)));
        self.agents
            .values()
            .map(|a| (a.id.clone(), a.endpoint.clone()))
            .chain(recovered)
            .collect()
    }

    /// The result of one ping round for an agent.
    pub fn pinged(&mut self, agent_id: &str, endpoint: &str, ok: bool) {
        let max = self.settings.max_agent_ping_timeouts;
        let Some(a) = self.agents.get_mut(agent_id) else {
            return;
        };
        if a.endpoint != endpoint {
            return;
        }
        if ok {
            a.missed_pings = 0;
            return;
        }
        a.missed_pings += 1;
        tracing::debug!(
            agent = agent_id,
            missed = a.missed_pings,
            "agent missed a ping"
        );
        if a.missed_pings >= max {
            let why = format!(
                "health check timed out ({} pings missed, {:?} apart)",
                a.missed_pings, self.settings.agent_ping_timeout
            );
            self.mark_unreachable(agent_id, &why);
        }
    }
}
