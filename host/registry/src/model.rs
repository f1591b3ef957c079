//! The registry's contents and the operations that change them.
//!
//! Each operation checks first and changes the registry only once it cannot fail, so a refused
//! operation leaves the registry as it was. Every change is also recorded, key by key, in a
//! [`ChangeSet`]: that, not the whole registry, is what the storage writes.

use std::collections::BTreeMap;
use std::time::Duration;

use indexmap::IndexMap;
use meseta_api::common::{AgentID, AgentInfo, MasterInfo};
use meseta_api::maintenance::{MachineID, MachineMode, Schedule};
use serde::{Deserialize, Serialize};

use crate::error::OperationError;
use crate::storage::{Change, ChangeSet, Table};

/// Mesos' `--registry_max_agent_age` default: two weeks.
pub const DEFAULT_MAX_AGENT_AGE: Duration = Duration::from_secs(14 * 24 * 3600);
/// Mesos' `--registry_max_agent_count` default.
pub const DEFAULT_MAX_AGENT_COUNT: usize = 102_400;

/// What Mesos keeps across master failovers, and nothing the master learns from agents (tasks,
/// executors, reservations and volumes come back when agents re-register).
///
/// Agents are keyed by their agent id's value; an agent is in at most one of `agents`,
/// `unreachable` and `gone`. Timestamps are seconds since the epoch.
///
/// It serializes as Mesos' `/registrar(1)/registry` JSON (`mesos.internal.Registry`).
#[derive(Clone, Debug, Default)]
pub struct Registry {
    /// The latest leading master (each new leader writes itself, [`Operation::Recover`]).
    pub master: Option<MasterInfo>,
    /// Admitted agents, each `AgentInfo` with its `id` set.
    pub agents: BTreeMap<String, AgentInfo>,
    /// Unreachable agents and when they were marked so, in the order they were marked.
    pub unreachable: IndexMap<String, f64>,
    /// Agents marked gone, and when.
    pub gone: BTreeMap<String, f64>,
    /// Role weights.
    pub weights: BTreeMap<String, f64>,
    /// Quota configurations by role.
    pub quotas: BTreeMap<String, QuotaConfig>,
    /// The allocator an operator swapped in (Meseta's, not in Mesos' registry), and the swaps.
    pub allocator: Option<AllocatorRecord>,
    /// The maintenance schedule operators posted (Mesos keeps a list of one).
    pub schedule: Schedule,
    /// Machines in maintenance (DRAINING or DOWN; a machine UP is not listed), by
    /// [`MachineID::key`].
    pub machines: BTreeMap<String, MachineRecord>,
    /// Deactivated agents, draining or not (Mesos' `Registry.Slave.deactivated` and
    /// `drain_info`), by agent id.
    pub agent_drains: BTreeMap<String, AgentDrainRecord>,
    /// The next insertion number of an unreachable agent: the storage keeps it with each entry
    /// so that a reload restores the marking order.
    pub(crate) next_unreachable_seq: u64,
}

impl PartialEq for Registry {
    fn eq(&self, other: &Self) -> bool {
        self.master == other.master
            && self.agents == other.agents
            && self.unreachable == other.unreachable
            && self.gone == other.gone
            && self.weights == other.weights
            && self.quotas == other.quotas
            && self.allocator == other.allocator
            && self.schedule == other.schedule
            && self.machines == other.machines
            && self.agent_drains == other.agent_drains
    }
}

/// The live allocator as swaps left it: a restarted or newly elected master takes it over.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AllocatorRecord {
    /// What `SWAP_ALLOCATOR` takes: a module name, `hierarchical`, or a component file path.
    pub name: String,
    /// The module manifest (a path on the master's machine) that names `name`, when the swap
    /// gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// Every swap, oldest first.
    #[serde(default)]
    pub history: Vec<AllocatorSwap>,
}

/// One change of the live allocator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AllocatorSwap {
    /// Seconds since the epoch.
    pub time: f64,
    pub from: String,
    pub to: String,
    /// `swapped`, `refused` (the candidate failed while taking over), `rolled back` (it
    /// faulted in its first rounds; `to` is the allocator restored) or `restored` (a restarted
    /// master took the registry's allocator over).
    pub outcome: String,
    /// Why a swap was refused or rolled back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Mesos' `QuotaConfig` of one role: scalar guarantees and limits by resource name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QuotaConfig {
    #[serde(default)]
    pub guarantees: BTreeMap<String, f64>,
    #[serde(default)]
    pub limits: BTreeMap<String, f64>,
}

impl QuotaConfig {
    /// Mesos removes a role's quota when it is set to no guarantees and no limits.
    pub fn is_empty(&self) -> bool {
        self.guarantees.is_empty() && self.limits.is_empty()
    }
}

/// A machine in maintenance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineRecord {
    pub id: MachineID,
    pub mode: MachineMode,
}

/// A deactivated agent and, when it is being drained, how (Mesos' `DrainInfo`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentDrainRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain: Option<DrainRecord>,
}

/// `DrainInfo`: the drain's state and its configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DrainRecord {
    /// `DRAINING` or `DRAINED`.
    pub state: String,
    /// Seconds; tasks are killed with at most this grace period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_grace_period: Option<f64>,
    #[serde(default)]
    pub mark_gone: bool,
}

/// A change to the registry, as Mesos' registrar operations.
#[derive(Clone, Debug, PartialEq)]
pub enum Operation {
    /// Admit a new agent; refused if its id is already admitted, unreachable or gone (an agent
    /// id is never reused).
    AdmitAgent(AgentInfo),
    /// Replace an admitted agent's info; refused if it is not admitted.
    UpdateAgent(AgentInfo),
    /// Move an admitted agent to the unreachable list; refused if it is not admitted.
    MarkAgentUnreachable { id: AgentID, time: f64 },
    /// Move an unreachable agent back to the admitted ones. An agent already admitted is a
    /// no-op; an unknown agent (pruned by the registry's GC meanwhile) is admitted, as Mesos; a
    /// gone agent is refused.
    MarkAgentReachable(AgentInfo),
    /// Mark an admitted or unreachable agent gone; an agent already gone is a no-op.
    MarkAgentGone { id: AgentID, time: f64 },
    /// Remove an admitted agent; refused if it is not admitted.
    RemoveAgent(AgentID),
    /// Forget unreachable and gone agents (the registry's GC, [`Registry::gc`]).
    Prune {
        unreachable: Vec<AgentID>,
        gone: Vec<AgentID>,
    },
    /// Set role weights (roles not listed keep theirs).
    UpdateWeights(Vec<(String, f64)>),
    /// Set a role's quota; `None`, or a configuration with no guarantees and no limits, removes it.
    UpdateQuota {
        role: String,
        config: Option<QuotaConfig>,
    },
    /// A master took the lead: store its info.
    Recover(MasterInfo),
    /// The live allocator changed (an operator's swap, or its roll-back).
    SetAllocator(AllocatorRecord),
    /// Replace the maintenance schedule (Mesos' `UpdateSchedule`): machines newly scheduled go
    /// DRAINING, DRAINING machines no longer scheduled go UP; refused if it drops a DOWN machine
    /// or is invalid.
    UpdateSchedule(Schedule),
    /// `/machine/down` (`StartMaintenance`): DRAINING machines go DOWN; refused unless every one
    /// is scheduled and DRAINING.
    StartMaintenance(Vec<MachineID>),
    /// `/machine/up` (`StopMaintenance`): DOWN machines go UP and leave the schedule; refused
    /// unless every one is DOWN.
    StopMaintenance(Vec<MachineID>),
    /// Deactivate or drain an agent (`Some`), or reactivate it (`None`).
    SetAgentDrain {
        id: AgentID,
        drain: Option<AgentDrainRecord>,
    },
}

/// Agents the registry's GC should prune ([`Operation::Prune`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcCandidates {
    pub unreachable: Vec<AgentID>,
    pub gone: Vec<AgentID>,
}

impl GcCandidates {
    pub fn is_empty(&self) -> bool {
        self.unreachable.is_empty() && self.gone.is_empty()
    }

    /// The prune operation for these agents.
    pub fn into_operation(self) -> Operation {
        Operation::Prune {
            unreachable: self.unreachable,
            gone: self.gone,
        }
    }
}

impl Registry {
    /// Which unreachable and gone agents Mesos' registry GC prunes at `now` (seconds since the
    /// epoch): each list separately, oldest first while it holds more than `max_count`, plus
    /// every entry older than `max_age`.
    pub fn gc(&self, now: f64, max_age: Duration, max_count: usize) -> GcCandidates {
        GcCandidates {
            unreachable: gc_list(
                self.unreachable.iter().map(|(id, t)| (id.as_str(), *t)),
                now,
                max_age,
                max_count,
            ),
            gone: gc_list(
                self.gone.iter().map(|(id, t)| (id.as_str(), *t)),
                now,
                max_age,
                max_count,
            ),
        }
    }

    /// Applies `op` (see [`Operation::apply`]) without recording its changes.
    pub fn apply(&mut self, op: &Operation) -> Result<bool, OperationError> {
        op.apply(self, &mut ChangeSet::new())
    }

    /// Whether `id` is admitted.
    pub fn is_admitted(&self, id: &str) -> bool {
        self.agents.contains_key(id)
    }
}

fn gc_list<'a>(
    entries: impl Iterator<Item = (&'a str, f64)>,
    now: f64,
    max_age: Duration,
    max_count: usize,
) -> Vec<AgentID> {
    let mut entries: Vec<(&str, f64)> = entries.collect();
    // Oldest first; a stable sort keeps the insertion order among equal times.
    entries.sort_by(|a, b| a.1.total_cmp(&b.1));
    let max_age = max_age.as_secs_f64();
    let mut remaining = entries.len();
    let mut pruned = Vec::new();
    for (id, time) in entries {
        if remaining > max_count || now - time > max_age {
            pruned.push(AgentID::new(id));
            remaining -= 1;
        }
    }
    pruned
}

fn agent_id(info: &AgentInfo) -> Result<String, OperationError> {
    match &info.id {
        Some(id) if !id.value.is_empty() => Ok(id.value.clone()),
        _ => Err(OperationError::MissingAgentId),
    }
}

impl Operation {
    /// Applies the operation: `Ok(true)` if it changed the registry, `Ok(false)` if it was a
    /// no-op, an error if it was refused (the registry and `changes` are then left as they were).
    pub fn apply(
        &self,
        registry: &mut Registry,
        changes: &mut ChangeSet,
    ) -> Result<bool, OperationError> {
        match self {
            Operation::AdmitAgent(info) => {
                let id = agent_id(info)?;
                if registry.agents.contains_key(&id) {
                    return Err(OperationError::AlreadyAdmitted(id));
                }
                if registry.unreachable.contains_key(&id) || registry.gone.contains_key(&id) {
                    return Err(OperationError::IdReused(id));
                }
                changes.push(Change::put(Table::Agents, &id, info)?);
                registry.agents.insert(id, info.clone());
                Ok(true)
            }
            Operation::UpdateAgent(info) => {
                let id = agent_id(info)?;
                match registry.agents.get(&id) {
                    None => Err(OperationError::NotAdmitted(id)),
                    Some(current) if current == info => Ok(false),
                    Some(_) => {
                        changes.push(Change::put(Table::Agents, &id, info)?);
                        registry.agents.insert(id, info.clone());
                        Ok(true)
                    }
                }
            }
            Operation::MarkAgentUnreachable { id, time } => {
                let id = id.value.clone();
                if !registry.agents.contains_key(&id) {
                    return Err(OperationError::NotAdmitted(id));
                }
                let seq = registry.next_unreachable_seq;
                let unreachable = Change::put(
                    Table::Unreachable,
                    &id,
                    &UnreachableRecord {
                        timestamp: *time,
                        seq,
                    },
                )?;
                changes.push(Change::delete(Table::Agents, &id));
                changes.push(unreachable);
                registry.agents.remove(&id);
                registry.unreachable.insert(id, *time);
                registry.next_unreachable_seq = seq + 1;
                Ok(true)
            }
            Operation::MarkAgentReachable(info) => {
                let id = agent_id(info)?;
                if registry.agents.contains_key(&id) {
                    return Ok(false);
                }
                if registry.gone.contains_key(&id) {
                    return Err(OperationError::Gone(id));
                }
                let admitted = Change::put(Table::Agents, &id, info)?;
                if registry.unreachable.shift_remove(&id).is_some() {
                    changes.push(Change::delete(Table::Unreachable, &id));
                }
                changes.push(admitted);
                registry.agents.insert(id, info.clone());
                Ok(true)
            }
            Operation::MarkAgentGone { id, time } => {
                let id = id.value.clone();
                if registry.gone.contains_key(&id) {
                    return Ok(false);
                }
                let from = if registry.agents.contains_key(&id) {
                    Table::Agents
                } else if registry.unreachable.contains_key(&id) {
                    Table::Unreachable
                } else {
                    return Err(OperationError::UnknownAgent(id));
                };
                let gone = Change::put(Table::Gone, &id, &GoneRecord { timestamp: *time })?;
                changes.push(Change::delete(from, &id));
                changes.push(gone);
                registry.agents.remove(&id);
                registry.unreachable.shift_remove(&id);
                registry.gone.insert(id, *time);
                Ok(true)
            }
            Operation::RemoveAgent(id) => {
                let id = id.value.clone();
                if registry.agents.remove(&id).is_none() {
                    return Err(OperationError::NotAdmitted(id));
                }
                changes.push(Change::delete(Table::Agents, &id));
                Ok(true)
            }
            Operation::Prune { unreachable, gone } => {
                let mut mutated = false;
                for id in unreachable {
                    if registry.unreachable.shift_remove(&id.value).is_some() {
                        changes.push(Change::delete(Table::Unreachable, &id.value));
                        mutated = true;
                    }
                }
                for id in gone {
                    if registry.gone.remove(&id.value).is_some() {
                        changes.push(Change::delete(Table::Gone, &id.value));
                        mutated = true;
                    }
                }
                Ok(mutated)
            }
            Operation::UpdateWeights(weights) => {
                let mut puts = Vec::with_capacity(weights.len());
                for (role, weight) in weights {
                    if !(weight.is_finite() && *weight > 0.0) {
                        return Err(OperationError::InvalidWeight {
                            role: role.clone(),
                            weight: *weight,
                        });
                    }
                    if registry.weights.get(role) != Some(weight) {
                        puts.push(Change::put(
                            Table::Weights,
                            role,
                            &WeightRecord { weight: *weight },
                        )?);
                    }
                }
                let mutated = !puts.is_empty();
                changes.extend(puts);
                for (role, weight) in weights {
                    registry.weights.insert(role.clone(), *weight);
                }
                Ok(mutated)
            }
            Operation::UpdateQuota { role, config } => match config {
                Some(config) if !config.is_empty() => {
                    check_quota(role, config)?;
                    if registry.quotas.get(role) == Some(config) {
                        return Ok(false);
                    }
                    changes.push(Change::put(Table::Quotas, role, config)?);
                    registry.quotas.insert(role.clone(), config.clone());
                    Ok(true)
                }
                _ => {
                    if registry.quotas.remove(role).is_none() {
                        return Ok(false);
                    }
                    changes.push(Change::delete(Table::Quotas, role));
                    Ok(true)
                }
            },
            Operation::Recover(info) => {
                changes.push(Change::put(Table::Master, MASTER_KEY, info)?);
                registry.master = Some(info.clone());
                Ok(true)
            }
            Operation::SetAllocator(record) => {
                if registry.allocator.as_ref() == Some(record) {
                    return Ok(false);
                }
                changes.push(Change::put(Table::Master, ALLOCATOR_KEY, record)?);
                registry.allocator = Some(record.clone());
                Ok(true)
            }
            Operation::UpdateSchedule(schedule) => update_schedule(registry, changes, schedule),
            Operation::StartMaintenance(machines) => {
                for m in machines {
                    match registry.machines.get(&m.key()) {
                        Some(r) if r.mode == MachineMode::Draining => {}
                        Some(_) => {
                            return Err(OperationError::Maintenance(format!(
                                "Machine '{m}' is not in DRAINING mode and cannot be brought down"
                            )));
                        }
                        None => {
                            return Err(OperationError::Maintenance(format!(
                                "Machine '{m}' is not part of a maintenance schedule"
                            )));
                        }
                    }
                }
                let mut puts = Vec::with_capacity(machines.len());
                for m in machines {
                    let record = MachineRecord {
                        id: m.normalized(),
                        mode: MachineMode::Down,
                    };
                    puts.push((
                        m.key(),
                        Change::put(Table::Machines, &m.key(), &record)?,
                        record,
                    ));
                }
                for (key, change, record) in puts {
                    changes.push(change);
                    registry.machines.insert(key, record);
                }
                Ok(!machines.is_empty())
            }
            Operation::StopMaintenance(machines) => {
                for m in machines {
                    if registry.machines.get(&m.key()).map(|r| &r.mode) != Some(&MachineMode::Down)
                    {
                        return Err(OperationError::Maintenance(format!(
                            "Machine '{m}' is not in DOWN mode and cannot be brought up"
                        )));
                    }
                }
                let keys: std::collections::BTreeSet<String> =
                    machines.iter().map(MachineID::key).collect();
                let mut schedule = registry.schedule.clone();
                for w in &mut schedule.windows {
                    w.machine_ids.retain(|m| !keys.contains(&m.key()));
                }
                schedule.windows.retain(|w| !w.machine_ids.is_empty());
                let put = Change::put(Table::Master, SCHEDULE_KEY, &schedule)?;
                for key in &keys {
                    changes.push(Change::delete(Table::Machines, key));
                    registry.machines.remove(key);
                }
                changes.push(put);
                registry.schedule = schedule;
                Ok(!keys.is_empty())
            }
            Operation::SetAgentDrain { id, drain } => {
                let id = id.value.clone();
                match drain {
                    Some(record) => {
                        if registry.agent_drains.get(&id) == Some(record) {
                            return Ok(false);
                        }
                        changes.push(Change::put(Table::AgentDrains, &id, record)?);
                        registry.agent_drains.insert(id, record.clone());
                    }
                    None => {
                        if registry.agent_drains.remove(&id).is_none() {
                            return Ok(false);
                        }
                        changes.push(Change::delete(Table::AgentDrains, &id));
                    }
                }
                Ok(true)
            }
        }
    }
}

fn check_quota(role: &str, config: &QuotaConfig) -> Result<(), OperationError> {
    for (kind, map) in [("guarantee", &config.guarantees), ("limit", &config.limits)] {
        for (name, value) in map {
            if !(value.is_finite() && *value >= 0.0) {
                return Err(OperationError::InvalidQuota {
                    role: role.to_string(),
                    detail: format!("{kind} of {name} is {value}, not a non-negative number"),
                });
            }
        }
    }
    for (name, guarantee) in &config.guarantees {
        if let Some(limit) = config.limits.get(name)
            && guarantee > limit
        {
            return Err(OperationError::InvalidQuota {
                role: role.to_string(),
                detail: format!("guarantee of {name} ({guarantee}) exceeds its limit ({limit})"),
            });
        }
    }
    Ok(())
}

/// The key of the master's info in [`Table::Master`].
pub(crate) const MASTER_KEY: &str = "info";
/// The key of the allocator record ([`AllocatorRecord`]) in the master table.
pub(crate) const ALLOCATOR_KEY: &str = "allocator";
/// The maintenance schedule's key in [`Table::Master`].
pub(crate) const SCHEDULE_KEY: &str = "schedule";

/// Mesos' `UpdateSchedule` on `registry`.
fn update_schedule(
    registry: &mut Registry,
    changes: &mut ChangeSet,
    schedule: &Schedule,
) -> Result<bool, OperationError> {
    schedule.validate().map_err(OperationError::Maintenance)?;
    let scheduled: BTreeMap<String, MachineID> = schedule
        .machines()
        .into_iter()
        .map(|(m, _)| (m.key(), m))
        .collect();
    for (key, record) in &registry.machines {
        if record.mode == MachineMode::Down && !scheduled.contains_key(key) {
            return Err(OperationError::Maintenance(format!(
                "Machine '{}' is DOWN and must stay in the schedule until it is brought up \
                 (POST /master/machine/up)",
                record.id
            )));
        }
    }
    let mut batch = vec![Change::put(Table::Master, SCHEDULE_KEY, schedule)?];
    let mut added = Vec::new();
    for (key, id) in &scheduled {
        if !registry.machines.contains_key(key) {
            let record = MachineRecord {
                id: id.clone(),
                mode: MachineMode::Draining,
            };
            batch.push(Change::put(Table::Machines, key, &record)?);
            added.push((key.clone(), record));
        }
    }
    let dropped: Vec<String> = registry
        .machines
        .keys()
        .filter(|k| !scheduled.contains_key(*k))
        .cloned()
        .collect();
    for key in &dropped {
        batch.push(Change::delete(Table::Machines, key));
        registry.machines.remove(key);
    }
    registry.machines.extend(added);
    registry.schedule = schedule.clone();
    changes.extend(batch);
    Ok(true)
}

/// A stored unreachable agent: when it was marked, and its insertion number.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct UnreachableRecord {
    pub timestamp: f64,
    pub seq: u64,
}

/// A stored gone agent.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct GoneRecord {
    pub timestamp: f64,
}

/// A stored role weight.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WeightRecord {
    pub weight: f64,
}
