//! The master's core: the cluster state (frameworks, agents, offers, tasks, roles and quota)
//! and every transition of it, as a state machine with no I/O.
//!
//! [`Core::handle`] takes one [`Input`] (a framework's call, an agent's message, an operator's
//! command, a timer) and returns a [`Reply`] or a typed [`MasterError`]; everything the
//! transition asks of the world (scheduler events, messages to agents, allocator calls,
//! registry operations, hook calls) comes out as [`Effect`]s in [`Core::take_effects`], which
//! the server carries out in order after releasing the state lock. Nothing here touches a
//! socket, a channel, a Wasm module or the clock: time comes in with the input ([`Clock`]).
//!
//! The transitions are split by concern: `frameworks.rs` (SUBSCRIBE, failover, removal),
//! `offers.rs` (allocation results, offers, declines), `tasks.rs` (ACCEPT, task calls, status
//! updates, reconciliation), `agents.rs` (admission, registration, recovery, unreachable
//! agents) and `roles.rs` (roles, weights, quota).

mod agents;
mod effects;
mod error;
mod frameworks;
mod maintenance;
mod offers;
mod reservations;
mod roles;
mod tasks;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use meseta_api::common::{
    AgentID, AgentInfo, CapabilityType, ExecutorInfo, FrameworkInfo, MasterInfo, Reason, Source,
    TaskID, TaskInfo, TaskState, TaskStatus,
};
use meseta_api::internal as wire;
use meseta_api::scheduler::{CallKind, Event, Update};
use meseta_types::Quantities;
use meseta_types::allocation::{self as alloc, Capabilities, ResourceKind};

use crate::resources::{ResourceSet, SlotTable};

pub use effects::{AllocatorCall, Effect, EventScope, OperatorSubscriber, ToAgent};
pub use error::{MasterError, Result};
pub use maintenance::{DRAINED, DRAINING, InverseOfferEntry, Machine, agent_machine};
pub use reservations::{ResourceOperation, checkpointed};
pub use roles::validate_role;

/// How many completed tasks a framework keeps, and completed frameworks the master keeps.
const MAX_COMPLETED_TASKS: usize = 1000;
const MAX_COMPLETED_FRAMEWORKS: usize = 50;

/// Tasks a hook or the authorizer refused before the ACCEPT reached the core: task id → why.
pub type Refused = BTreeMap<String, Refusal>;

/// Why a task was refused before validation: its TASK_ERROR's reason and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub reason: meseta_api::common::Reason,
    pub message: String,
}

impl Refusal {
    /// An invalid task (`REASON_TASK_INVALID`).
    pub fn invalid(message: String) -> Refusal {
        Refusal {
            reason: meseta_api::common::Reason::TaskInvalid,
            message,
        }
    }

    /// A task its framework's principal may not run (`REASON_TASK_UNAUTHORIZED`).
    pub fn unauthorized(message: String) -> Refusal {
        Refusal {
            reason: meseta_api::common::Reason::TaskUnauthorized,
            message,
        }
    }
}

/// The time an input happens at: monotonic for timeouts, wall-clock for what frameworks and
/// operators see.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    pub instant: Instant,
    /// Seconds since the Unix epoch.
    pub wall: f64,
}

impl Clock {
    pub fn now() -> Clock {
        Clock {
            instant: Instant::now(),
            wall: meseta_api::common::timestamp_now(),
        }
    }

    /// This clock moved on by `d`.
    pub fn after(self, d: Duration) -> Clock {
        Clock {
            instant: self.instant + d,
            wall: self.wall + d.as_secs_f64(),
        }
    }
}

/// What the core is asked to do or told has happened.
#[derive(Debug)]
pub enum Input {
    // Frameworks (the v1 scheduler API).
    /// SUBSCRIBE on the stream `stream_id` (the server prepared it): a new framework, or one
    /// coming back under its id.
    Subscribe {
        info: FrameworkInfo,
        claimed: Option<String>,
        suppressed: Vec<String>,
        stream_id: String,
    },
    /// Any other scheduler call, from the stream `stream_id` (the `Mesos-Stream-Id` header).
    /// `refused`: the tasks of an ACCEPT the master's hooks refused (see `hooks.rs`).
    Call {
        framework_id: String,
        stream_id: Option<String>,
        call: CallKind,
        refused: Refused,
    },
    /// A call that could not be parsed (counted).
    InvalidCall,
    /// The subscription stream `stream_id` ended (the client went away).
    Disconnected {
        framework_id: String,
        stream_id: String,
    },
    // Operators.
    /// `/master/teardown`.
    Teardown {
        framework_id: String,
    },
    /// New weights, already stored in the registry.
    UpdateWeights(Vec<(String, f64)>),
    /// New quota per role, already stored in the registry (checked with
    /// [`Core::check_quota`] first).
    UpdateQuota(Vec<(String, Quota)>),
    // Agents (the master–agent protocol).
    /// The first step of a REGISTER: [`Reply::Admission`].
    Admit {
        info: AgentInfo,
        endpoint: String,
    },
    /// REGISTER, once the admission's registry operation is durable; `msg.agent_info.id` is
    /// the id the admission gave.
    Register {
        msg: wire::RegisterAgent,
        reregistering: bool,
    },
    /// Status updates from agents, in order: [`Reply::Codes`].
    StatusUpdates(Vec<wire::StatusUpdate>),
    /// An agent's estimator changed its revocable resources.
    Oversubscribed {
        agent_id: String,
        resources: Vec<meseta_types::resources::Resource>,
    },
    ExecutorMessage(wire::ExecutorToFramework),
    ExecutorExited(wire::ExecutorExited),
    /// The result of one ping of an agent at `endpoint`.
    Pinged {
        agent_id: String,
        endpoint: String,
        ok: bool,
    },
    // Timers and the registry.
    /// The allocator's decisions of one round.
    Allocated(Vec<alloc::Offer>),
    /// Offer timeouts, failover timeouts, agents that did not re-register after a restart.
    /// `Err(Fatal)` when too many of those are missing.
    Sweep,
    /// Agents the registry's GC pruned.
    ForgetAgents(Vec<String>),
    /// What an earlier master left in the registry (at start).
    Recover(meseta_registry::Registry),
    /// An operator's `SUBSCRIBE` (v1 operator API): the state now, then every change.
    OperatorSubscribe(OperatorSubscriber),
    /// An operator's event stream ended.
    OperatorUnsubscribed,
    /// MARK_AGENT_GONE, already stored in the registry.
    MarkGone {
        agent_id: String,
    },
    /// A new maintenance schedule, already stored (checked with [`Core::check_schedule`]).
    UpdateSchedule(meseta_api::maintenance::Schedule),
    /// `/machine/down`, already stored (checked with [`Core::check_machines_down`]).
    StartMaintenance(Vec<meseta_api::maintenance::MachineID>),
    /// `/machine/up`, already stored (checked with [`Core::check_machines_up`]).
    StopMaintenance(Vec<meseta_api::maintenance::MachineID>),
    /// DEACTIVATE_AGENT, already stored.
    DeactivateAgent {
        agent_id: String,
    },
    /// DRAIN_AGENT, already stored: `max_grace_period` in seconds.
    DrainAgent {
        agent_id: String,
        max_grace_period: Option<f64>,
        mark_gone: bool,
    },
    /// REACTIVATE_AGENT, already stored.
    ReactivateAgent {
        agent_id: String,
    },
    /// An operator's RESERVE_RESOURCES, UNRESERVE_RESOURCES, CREATE_VOLUMES or DESTROY_VOLUMES
    /// (authorized), by `principal`.
    Operate {
        agent_id: String,
        operation: ResourceOperation,
        principal: Option<String>,
    },
}

/// The key under which [`Refused`] holds the refusal of an ACCEPT's `index`th operation (an
/// operation other than a launch, refused by the authorizer). No task id can look like it.
pub fn operation_key(index: usize) -> String {
    format!("\u{0}operation {index}")
}

/// Why a registered agent is removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Removal {
    /// It stopped answering: its tasks LOST, or UNREACHABLE for partition-aware frameworks.
    Unreachable,
    /// An operator marked it gone: TASK_GONE_BY_OPERATOR.
    Gone,
    /// Its machine was brought DOWN: removed from the registry, its tasks LOST (GONE for
    /// partition-aware frameworks), `REASON_AGENT_REMOVED`.
    Down,
}

/// The answer to an input.
#[derive(Debug, PartialEq)]
pub enum Reply {
    Done,
    /// SUBSCRIBE: the framework's id.
    Subscribed {
        framework_id: String,
    },
    /// The agent's id, and the registry operation that must be durable before the agent is
    /// told it is registered (`None`: nothing to store).
    Admission {
        agent_id: String,
        operation: Option<meseta_registry::Operation>,
    },
    /// REGISTER: the agent's answer.
    Registered(wire::Registered),
    /// Per status update: 202, or 409 when its agent is not registered.
    Codes(Vec<u16>),
}

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
    /// The id of the framework's subscription stream while it is connected.
    pub stream: Option<String>,
    pub active: bool,
    pub registered_time: f64,
    pub reregistered_time: Option<f64>,
    pub unregistered_time: Option<f64>,
    pub disconnected_at: Option<Instant>,
    /// Known only from an agent's report since this master leads (Mesos' RECOVERED), until it
    /// subscribes again.
    pub recovered: bool,
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
        self.stream.is_some()
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
    /// Allocator decisions the master could not offer (stale: the resources taken, the
    /// framework or agent gone) and gave back.
    pub stale_decisions: u64,
    /// Of those, the ones whose resources were all taken already (a framework's removal or
    /// deactivation during the round is the other, harmless, kind).
    pub stale_taken: u64,
    pub framework_to_executor_messages: u64,
    pub executor_to_framework_messages: u64,
    pub calls: BTreeMap<String, u64>,
    pub invalid_calls: u64,
}

/// The master's state. See the module's documentation.
pub struct Core {
    pub master_id: String,
    pub address: SocketAddr,
    pub hostname: String,
    pub settings: Settings,
    pub flags: Vec<(String, String)>,
    pub start: Instant,
    pub start_time: f64,
    /// The time of the input being handled.
    clock: Clock,
    effects: Vec<Effect>,
    next_batch: u64,
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
    pub offers: HashMap<String, OfferEntry>,
    pub roles: BTreeMap<String, alloc::RoleId>,
    pub weights: BTreeMap<String, f64>,
    /// Quota per role: (guarantees, limits), scalar amounts by resource name.
    pub quotas: BTreeMap<String, Quota>,
    pub slots: SlotTable,
    pub metrics: Metrics,
    /// Operator event streams open: events are built only while there is one.
    pub operator_streams: usize,
    /// The maintenance schedule, and its machines (DRAINING or DOWN) by [`MachineID::key`].
    ///
    /// [`MachineID::key`]: meseta_api::maintenance::MachineID::key
    pub schedule: meseta_api::maintenance::Schedule,
    pub machines: BTreeMap<String, Machine>,
    /// Inverse offers outstanding, by id.
    pub inverse_offers: HashMap<String, InverseOfferEntry>,
    /// The frameworks' latest answers: agent id → framework id → status.
    pub inverse_statuses:
        BTreeMap<String, BTreeMap<String, meseta_api::maintenance::InverseOfferStatus>>,
    /// (agent, framework) → until when the framework is not asked again.
    inverse_filters: HashMap<(String, String), Instant>,
    last_inverse_check: Option<Instant>,
    /// Deactivated agents, with their drain when draining.
    pub agent_drains: BTreeMap<String, meseta_registry::AgentDrainRecord>,
}

impl Core {
    /// A master with no frameworks and no agents. The first effects initialize the allocator
    /// and give it the roles and `weights`.
    pub fn new(
        master_id: String,
        address: SocketAddr,
        hostname: String,
        settings: Settings,
        flags: Vec<(String, String)>,
        weights: Vec<(String, f64)>,
        clock: Clock,
    ) -> Core {
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
        let options = alloc::Options {
            resource_kinds: kinds,
            allocation_interval_ms: settings.allocation_interval.as_millis() as u64,
            min_allocatable,
            fairness_excluded: Vec::new(),
            sorter: settings.sorter,
        };
        let mut core = Core {
            master_id,
            address,
            hostname,
            settings,
            flags,
            start: clock.instant,
            start_time: clock.wall,
            clock,
            effects: vec![Effect::Allocator(AllocatorCall::Initialize(options))],
            next_batch: 0,
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
            offers: HashMap::new(),
            roles: BTreeMap::new(),
            weights: BTreeMap::new(),
            quotas: BTreeMap::new(),
            slots,
            metrics: Metrics::default(),
            operator_streams: 0,
            schedule: Default::default(),
            machines: BTreeMap::new(),
            inverse_offers: HashMap::new(),
            inverse_statuses: BTreeMap::new(),
            inverse_filters: HashMap::new(),
            last_inverse_check: None,
            agent_drains: BTreeMap::new(),
        };
        core.role_handle("*");
        core.set_weights(&weights);
        core
    }

    /// Handles one input at `clock`. On `Err` nothing changed and no effect was added.
    pub fn handle(&mut self, input: Input, clock: Clock) -> Result<Reply> {
        self.clock = clock;
        match input {
            Input::Subscribe {
                info,
                claimed,
                suppressed,
                stream_id,
            } => self
                .subscribe(info, claimed, suppressed, stream_id)
                .map(|framework_id| Reply::Subscribed { framework_id }),
            Input::Call {
                framework_id,
                stream_id,
                call,
                refused,
            } => self
                .call(&framework_id, stream_id.as_deref(), call, refused)
                .map(|()| Reply::Done),
            Input::InvalidCall => {
                self.metrics.invalid_calls += 1;
                Ok(Reply::Done)
            }
            Input::Disconnected {
                framework_id,
                stream_id,
            } => {
                self.disconnected(&framework_id, &stream_id);
                Ok(Reply::Done)
            }
            Input::Teardown { framework_id } => {
                if !self.frameworks.contains_key(&framework_id) {
                    return Err(MasterError::Invalid(format!(
                        "No framework found with specified ID '{framework_id}'"
                    )));
                }
                self.remove_framework(&framework_id, "operator teardown");
                Ok(Reply::Done)
            }
            Input::UpdateWeights(weights) => {
                self.set_weights(&weights);
                Ok(Reply::Done)
            }
            Input::UpdateQuota(quotas) => {
                for (role, quota) in &quotas {
                    self.check_quota(role, quota)
                        .map_err(MasterError::Invalid)?;
                }
                for (role, quota) in quotas {
                    self.set_quota(&role, quota);
                }
                Ok(Reply::Done)
            }
            Input::Admit { info, endpoint } => {
                self.admission(&info, &endpoint)
                    .map(|(agent_id, operation)| Reply::Admission {
                        agent_id,
                        operation,
                    })
            }
            Input::Register { msg, reregistering } => self
                .register_agent(msg, reregistering)
                .map(Reply::Registered),
            Input::StatusUpdates(updates) => {
                let codes = updates
                    .into_iter()
                    .map(|u| if self.status_update(u) { 202 } else { 409 })
                    .collect();
                self.check_drains();
                Ok(Reply::Codes(codes))
            }
            Input::Oversubscribed {
                agent_id,
                resources,
            } => match self.update_oversubscribed(&agent_id, &resources) {
                true => Ok(Reply::Done),
                false => Err(MasterError::UnknownAgent(agent_id)),
            },
            Input::ExecutorMessage(m) => {
                self.executor_message(m);
                Ok(Reply::Done)
            }
            Input::ExecutorExited(m) => {
                self.executor_exited(m);
                Ok(Reply::Done)
            }
            Input::Pinged {
                agent_id,
                endpoint,
                ok,
            } => {
                self.pinged(&agent_id, &endpoint, ok);
                Ok(Reply::Done)
            }
            Input::Allocated(decisions) => {
                self.allocated(decisions);
                Ok(Reply::Done)
            }
            Input::Sweep => {
                self.expire_offers();
                self.expire_frameworks();
                self.expire_recovered_agents().map_err(MasterError::Fatal)?;
                self.send_inverse_offers();
                Ok(Reply::Done)
            }
            Input::ForgetAgents(ids) => {
                self.forget_agents(&ids);
                Ok(Reply::Done)
            }
            Input::Recover(registry) => {
                self.recover_from_registry(&registry);
                Ok(Reply::Done)
            }
            Input::OperatorSubscribe(subscriber) => {
                self.operator_streams += 1;
                // Rendered here, under the state lock, so that the events of later batches
                // follow it exactly.
                let subscribed = crate::state_json::subscribed(
                    self,
                    &subscriber.approver,
                    self.settings.heartbeat_interval,
                );
                match subscribed {
                    Ok(subscribed) => self.effects.push(Effect::OperatorSubscribe {
                        subscriber,
                        subscribed: subscribed.into(),
                    }),
                    Err(e) => tracing::error!(error = %e, "cannot render SUBSCRIBED"),
                }
                Ok(Reply::Done)
            }
            Input::MarkGone { agent_id } => {
                self.mark_gone(&agent_id)?;
                Ok(Reply::Done)
            }
            Input::UpdateSchedule(schedule) => {
                self.check_schedule(&schedule)
                    .map_err(MasterError::Invalid)?;
                self.update_schedule(schedule);
                Ok(Reply::Done)
            }
            Input::StartMaintenance(machines) => {
                self.check_machines_down(&machines)
                    .map_err(MasterError::Invalid)?;
                self.start_maintenance(&machines);
                Ok(Reply::Done)
            }
            Input::StopMaintenance(machines) => {
                self.check_machines_up(&machines)
                    .map_err(MasterError::Invalid)?;
                self.stop_maintenance(&machines);
                Ok(Reply::Done)
            }
            Input::DeactivateAgent { agent_id } => {
                self.check_agent_for_drain(&agent_id, false)
                    .map_err(MasterError::Invalid)?;
                self.deactivate_agent(&agent_id);
                Ok(Reply::Done)
            }
            Input::DrainAgent {
                agent_id,
                max_grace_period,
                mark_gone,
            } => {
                self.check_agent_for_drain(&agent_id, true)
                    .map_err(MasterError::Invalid)?;
                self.drain_agent(&agent_id, max_grace_period, mark_gone);
                Ok(Reply::Done)
            }
            Input::ReactivateAgent { agent_id } => {
                self.check_reactivate(&agent_id)
                    .map_err(MasterError::Invalid)?;
                self.reactivate_agent(&agent_id);
                Ok(Reply::Done)
            }
            Input::Operate {
                agent_id,
                operation,
                principal,
            } => {
                self.operate(&agent_id, &operation, principal.as_deref())?;
                Ok(Reply::Done)
            }
            Input::OperatorUnsubscribed => {
                self.operator_streams = self.operator_streams.saturating_sub(1);
                Ok(Reply::Done)
            }
        }
    }

    /// The effects of the inputs handled since the last call, in order.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// [`Core::take_effects`] as a numbered batch, when there are any: batches are numbered
    /// 0, 1, 2, ... in the order they were taken, so the effector can carry them out in that
    /// order whatever order they reach it in.
    pub fn take_batch(&mut self) -> Option<(u64, Vec<Effect>)> {
        if self.effects.is_empty() {
            return None;
        }
        let seq = self.next_batch;
        self.next_batch += 1;
        Some((seq, self.take_effects()))
    }

    /// Milliseconds since the master started, on the clock of the input being handled (the
    /// allocator's time).
    pub fn now_ms(&self) -> u64 {
        self.clock
            .instant
            .saturating_duration_since(self.start)
            .as_millis() as u64
    }

    fn now(&self) -> f64 {
        self.clock.wall
    }

    pub fn quantities(&self, set: &ResourceSet) -> Quantities {
        self.slots.quantities(set)
    }

    // Effects ---------------------------------------------------------------------------------

    fn effect(&mut self, effect: Effect) {
        self.effects.push(effect);
    }

    fn allocator(&mut self, call: AllocatorCall) {
        self.effects.push(Effect::Allocator(call));
    }

    /// An allocation round should follow soon (once per batch of effects).
    fn trigger_allocation(&mut self) {
        if !matches!(self.effects.last(), Some(Effect::AllocateSoon)) {
            self.effects.retain(|e| !matches!(e, Effect::AllocateSoon));
            self.effects.push(Effect::AllocateSoon);
        }
    }

    /// An event for the operator streams, built by `build` only when one is open.
    fn operator_event(
        &mut self,
        build: impl FnOnce(&Core) -> Option<(serde_json::Value, EventScope)>,
    ) {
        if self.operator_streams > 0
            && let Some((event, scope)) = build(self)
        {
            self.effects.push(Effect::Operator { event, scope });
        }
    }

    /// Who may see an event about `framework_id`'s task `task_id` (active, unreachable or
    /// completed; only the framework's viewers when the task is not found).
    fn task_scope(&self, framework_id: &str, task_id: &str) -> EventScope {
        let framework = self.frameworks.get(framework_id).or_else(|| {
            self.completed_frameworks
                .iter()
                .rev()
                .find(|f| f.id == framework_id)
        });
        let Some(f) = framework else {
            return EventScope::Framework(Box::new(meseta_types::authorization::Object {
                framework_id: Some(framework_id.to_string()),
                ..Default::default()
            }));
        };
        let task = f
            .tasks
            .get(task_id)
            .or_else(|| f.unreachable_tasks.get(task_id))
            .or_else(|| {
                f.completed_tasks
                    .iter()
                    .rev()
                    .find(|t| t.info.task_id.value == task_id)
            });
        match task {
            Some(t) => task_event_scope(f, t),
            None => framework_event_scope(f),
        }
    }

    fn send(&mut self, framework_id: &str, event: Event) {
        if let Event::Update(update) = &event {
            let status = &update.status;
            self.operator_event(|core| {
                let event = serde_json::json!({"type": "TASK_UPDATED", "task_updated": {
                    "framework_id": {"value": framework_id},
                    "status": status,
                    "state": status.state.as_str(),
                }});
                Some((event, core.task_scope(framework_id, &status.task_id.value)))
            });
        }
        if self
            .frameworks
            .get(framework_id)
            .is_some_and(Framework::connected)
        {
            self.effects.push(Effect::Event {
                framework_id: framework_id.to_string(),
                event,
            });
        }
    }

    fn send_to_agent(&mut self, agent_id: &str, message: ToAgent) {
        if self.agents.contains_key(agent_id) {
            self.effects.push(Effect::ToAgent {
                agent_id: agent_id.to_string(),
                message,
            });
        } else {
            tracing::debug!(
                agent = agent_id,
                path = message.path(),
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
        status.timestamp = Some(self.now());
        status
    }

    fn update_event(status: TaskStatus) -> Event {
        Event::Update(Update { status })
    }
}

impl Core {
    /// This master's `MasterInfo`, as frameworks see it in SUBSCRIBED.
    pub fn master_info(&self) -> MasterInfo {
        master_info(&self.master_id, self.address, &self.hostname)
    }
}

/// A master's `MasterInfo`, as frameworks see it in SUBSCRIBED and the registry keeps it.
pub fn master_info(id: &str, address: SocketAddr, hostname: &str) -> MasterInfo {
    MasterInfo {
        id: id.to_string(),
        ip: match address.ip() {
            std::net::IpAddr::V4(v4) => meseta_api::common::ipv4_to_mesos_u32(v4),
            std::net::IpAddr::V6(_) => 0,
        },
        port: u32::from(address.port()),
        pid: Some(format!("master@{address}")),
        hostname: Some(hostname.to_string()),
        version: Some(crate::server::MESOS_VERSION.to_string()),
        // What detectors read (pymesos takes `address.ip` and `address.port`).
        address: Some(meseta_api::common::Address {
            hostname: Some(hostname.to_string()),
            ip: Some(address.ip().to_string()),
            port: u32::from(address.port()),
        }),
    }
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

/// Who may see an event about framework `f`: its `view_frameworks` viewers.
pub(crate) fn framework_event_scope(f: &Framework) -> EventScope {
    EventScope::Framework(Box::new(crate::security::framework_object(f, &f.info.user)))
}

/// Who may see an event about task `t` of `f`: its `view_frameworks` and `view_tasks` viewers.
pub(crate) fn task_event_scope(f: &Framework, t: &Task) -> EventScope {
    let user = crate::security::task_user(f, t);
    EventScope::Task {
        framework: Box::new(crate::security::framework_object(f, &f.info.user)),
        task: Box::new(meseta_types::authorization::Object {
            task_id: Some(t.info.task_id.value.clone()),
            agent_id: Some(t.agent_id.clone()),
            ..crate::security::framework_object(f, user)
        }),
    }
}
