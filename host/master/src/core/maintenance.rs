//! Maintenance and draining: the schedule operators post, machines DRAINING and DOWN, inverse
//! offers and the frameworks' answers, and agents deactivated or drained (Mesos'
//! `master/maintenance.cpp`, `Master::updateUnavailability`, `Master::drainAgent`).
//!
//! Every change here is already durable when it reaches the core: the server stores the
//! registry operation first and hands the core the same change, checked beforehand with the
//! `check_*` functions (which change nothing).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use meseta_api::common::{AgentID, DurationInfo, FrameworkID, KillPolicy, OfferID, TimeInfo};
use meseta_api::internal as wire;
use meseta_api::maintenance::{
    ClusterStatus, DrainingMachine, InverseOffer, InverseOfferReply, InverseOfferState,
    InverseOfferStatus, InverseOffers, MachineID, MachineMode, RescindInverseOffer, Schedule,
    Unavailability, validate_machine_list,
};
use meseta_api::scheduler::Event;
use meseta_registry::{AgentDrainRecord, DrainRecord};

use super::{Agent, AllocatorCall, Core, Effect, ToAgent};

/// A machine in maintenance.
#[derive(Clone, Debug, PartialEq)]
pub struct Machine {
    pub id: MachineID,
    pub mode: MachineMode,
    pub unavailability: Unavailability,
}

/// An inverse offer outstanding: the master asked `framework_id` to leave `agent_id`.
#[derive(Clone, Debug)]
pub struct InverseOfferEntry {
    pub framework_id: String,
    pub agent_id: String,
}

/// How often, at most, the sweep looks for frameworks still to ask.
const INVERSE_OFFER_CHECK: Duration = Duration::from_secs(1);

/// The longest an answer keeps a framework from being asked again (a year).
const MAX_INVERSE_FILTER: f64 = 365.0 * 24.0 * 3600.0;

/// The machine an agent is on: its hostname and the IP it was reached at.
pub fn agent_machine(agent: &Agent) -> MachineID {
    machine_of(&agent.info.hostname, &agent.endpoint)
}

fn machine_of(hostname: &str, endpoint: &str) -> MachineID {
    let ip = endpoint
        .parse::<std::net::SocketAddr>()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    MachineID::new(hostname, &ip).normalized()
}

/// Mesos' `DrainInfo` state names.
pub const DRAINING: &str = "DRAINING";
pub const DRAINED: &str = "DRAINED";

impl Core {
    /// The machine of `agent_id` if it is in maintenance.
    fn machine_of_agent(&self, agent_id: &str) -> Option<&Machine> {
        if self.machines.is_empty() {
            return None;
        }
        let agent = self.agents.get(agent_id)?;
        self.machines.get(&agent_machine(agent).key())
    }

    /// When `agent_id`'s machine is scheduled for maintenance: what its offers carry.
    pub(super) fn unavailability_of(&self, agent_id: &str) -> Option<Unavailability> {
        self.machine_of_agent(agent_id)
            .map(|m| m.unavailability.clone())
    }

    /// Whether an agent at `endpoint` named `hostname` is on a machine that is DOWN: it may
    /// not register until the machine is brought up.
    pub(super) fn machine_down(&self, hostname: &str, endpoint: &str) -> Option<MachineID> {
        let id = machine_of(hostname, endpoint);
        self.machines
            .get(&id.key())
            .filter(|m| m.mode == MachineMode::Down)
            .map(|m| m.id.clone())
    }

    // Checks (nothing changes) ---------------------------------------------------------------

    /// A schedule that may replace the current one: valid, and keeping every DOWN machine.
    pub fn check_schedule(&self, schedule: &Schedule) -> Result<(), String> {
        schedule.validate()?;
        let scheduled: BTreeSet<String> =
            schedule.machines().iter().map(|(m, _)| m.key()).collect();
        for (key, m) in &self.machines {
            if m.mode == MachineMode::Down && !scheduled.contains(key) {
                return Err(format!(
                    "Machine '{}' is DOWN and must stay in the schedule until it is brought up \
                     (POST /master/machine/up)",
                    m.id
                ));
            }
        }
        Ok(())
    }

    /// Machines that may be brought down: a valid list of scheduled, DRAINING machines.
    pub fn check_machines_down(&self, machines: &[MachineID]) -> Result<(), String> {
        validate_machine_list(machines)?;
        for m in machines {
            match self.machines.get(&m.key()).map(|x| &x.mode) {
                None => {
                    return Err(format!(
                        "Machine '{m}' is not part of a maintenance schedule"
                    ));
                }
                Some(MachineMode::Draining) => {}
                Some(_) => {
                    return Err(format!(
                        "Machine '{m}' is not in DRAINING mode and cannot be brought down"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Machines that may be brought up: a valid list of DOWN machines.
    pub fn check_machines_up(&self, machines: &[MachineID]) -> Result<(), String> {
        validate_machine_list(machines)?;
        for m in machines {
            if self.machines.get(&m.key()).map(|x| &x.mode) != Some(&MachineMode::Down) {
                return Err(format!(
                    "Machine '{m}' is not in DOWN mode and cannot be brought up"
                ));
            }
        }
        Ok(())
    }

    /// An agent an operator may deactivate or drain: registered, recovered or unreachable,
    /// and for a drain not on a machine in the maintenance schedule.
    pub fn check_agent_for_drain(&self, agent_id: &str, drain: bool) -> Result<(), String> {
        let known = self.agents.contains_key(agent_id)
            || self.recovered_agents.contains_key(agent_id)
            || self.unreachable_agents.contains_key(agent_id);
        if !known {
            return Err(format!("Unknown agent '{agent_id}'"));
        }
        if drain && self.machine_of_agent(agent_id).is_some() {
            return Err(format!(
                "Agent '{agent_id}' is on a machine in the maintenance schedule: \
                 machines are drained through the schedule, not DRAIN_AGENT"
            ));
        }
        Ok(())
    }

    /// An agent an operator may reactivate: one that is deactivated.
    pub fn check_reactivate(&self, agent_id: &str) -> Result<(), String> {
        match self.agent_drains.contains_key(agent_id) {
            true => Ok(()),
            false => Err(format!("Agent '{agent_id}' is not deactivated")),
        }
    }

    // Changes ---------------------------------------------------------------------------------

    /// Loads the maintenance state an earlier master left in the registry.
    pub(super) fn recover_maintenance(&mut self, registry: &meseta_registry::Registry) {
        let unavailability: BTreeMap<String, Unavailability> = registry
            .schedule
            .machines()
            .into_iter()
            .map(|(m, u)| (m.key(), u))
            .collect();
        self.schedule = registry.schedule.clone();
        self.machines = registry
            .machines
            .iter()
            .map(|(key, r)| {
                let machine = Machine {
                    id: r.id.clone(),
                    mode: r.mode,
                    unavailability: unavailability.get(key).cloned().unwrap_or_default(),
                };
                (key.clone(), machine)
            })
            .collect();
        self.agent_drains = registry.agent_drains.clone();
    }

    /// A new maintenance schedule (stored): its machines DRAINING (or still DOWN), the others
    /// UP. Agents whose machine changed have their offers rescinded, to be offered again with
    /// (or without) the unavailability; frameworks using agents on DRAINING machines get
    /// inverse offers.
    pub(super) fn update_schedule(&mut self, schedule: Schedule) {
        let mut next = BTreeMap::new();
        for (id, unavailability) in schedule.machines() {
            let key = id.key();
            let mode = match self.machines.get(&key) {
                Some(m) if m.mode == MachineMode::Down => MachineMode::Down,
                _ => MachineMode::Draining,
            };
            next.insert(
                key,
                Machine {
                    id,
                    mode,
                    unavailability,
                },
            );
        }
        let before = std::mem::replace(&mut self.machines, next);
        self.schedule = schedule;
        let agents: Vec<(String, String)> = self
            .agents
            .values()
            .map(|a| (a.id.clone(), agent_machine(a).key()))
            .collect();
        for (agent_id, key) in agents {
            let after = self.machines.get(&key);
            if before.get(&key) == after {
                continue;
            }
            let unscheduled = after.is_none();
            self.rescind_agent_offers(&agent_id);
            if unscheduled {
                self.rescind_inverse_offers(|e| e.agent_id == agent_id);
                self.inverse_statuses.remove(&agent_id);
                self.inverse_filters.retain(|(a, _), _| *a != agent_id);
            }
        }
        self.last_inverse_check = None;
        self.send_inverse_offers();
        self.trigger_allocation();
    }

    /// `/machine/down` (stored): the machines go DOWN, and the agents on them are shut down
    /// and removed, their tasks LOST (GONE to partition-aware frameworks).
    pub(super) fn start_maintenance(&mut self, machines: &[MachineID]) {
        let keys: BTreeSet<String> = machines.iter().map(MachineID::key).collect();
        for key in &keys {
            if let Some(m) = self.machines.get_mut(key) {
                m.mode = MachineMode::Down;
            }
        }
        let down: Vec<String> = self
            .agents
            .values()
            .filter(|a| keys.contains(&agent_machine(a).key()))
            .map(|a| a.id.clone())
            .collect();
        for agent_id in down {
            self.send_to_agent(
                &agent_id,
                ToAgent::ShutdownAgent(wire::ShutdownAgent {
                    message: "the agent's machine was brought DOWN for maintenance".into(),
                }),
            );
            self.remove_agent_for(
                &agent_id,
                "its machine was brought DOWN for maintenance",
                super::Removal::Down,
            );
            self.inverse_statuses.remove(&agent_id);
            self.inverse_filters.retain(|(a, _), _| *a != agent_id);
        }
    }

    /// `/machine/up` (stored): the machines are UP again and leave the schedule; their agents
    /// may register.
    pub(super) fn stop_maintenance(&mut self, machines: &[MachineID]) {
        let keys: BTreeSet<String> = machines.iter().map(MachineID::key).collect();
        self.machines.retain(|k, _| !keys.contains(k));
        for w in &mut self.schedule.windows {
            w.machine_ids.retain(|m| !keys.contains(&m.key()));
        }
        self.schedule.windows.retain(|w| !w.machine_ids.is_empty());
    }

    /// Inverse offers to frameworks that use an agent on a DRAINING machine (tasks, executors
    /// or offers there) and have none outstanding for it nor an answer still in force.
    pub(super) fn send_inverse_offers(&mut self) {
        if self.machines.is_empty() {
            return;
        }
        let now = self.clock.instant;
        if self
            .last_inverse_check
            .is_some_and(|t| now.saturating_duration_since(t) < INVERSE_OFFER_CHECK)
        {
            return;
        }
        self.last_inverse_check = Some(now);
        // Inverse offers of frameworks gone since are forgotten.
        let frameworks = &self.frameworks;
        self.inverse_offers
            .retain(|_, e| frameworks.contains_key(&e.framework_id));
        let draining: HashMap<String, Unavailability> = self
            .agents
            .values()
            .filter_map(|a| {
                let m = self.machines.get(&agent_machine(a).key())?;
                (m.mode == MachineMode::Draining).then(|| (a.id.clone(), m.unavailability.clone()))
            })
            .collect();
        if draining.is_empty() {
            return;
        }
        let mut users: BTreeSet<(String, String)> = BTreeSet::new();
        for f in self.frameworks.values().filter(|f| f.active) {
            for t in f.tasks.values() {
                if draining.contains_key(&t.agent_id) {
                    users.insert((f.id.clone(), t.agent_id.clone()));
                }
            }
            for (agent_id, _) in f.executors.keys() {
                if draining.contains_key(agent_id) {
                    users.insert((f.id.clone(), agent_id.clone()));
                }
            }
        }
        for o in self.offers.values() {
            if draining.contains_key(&o.agent_id)
                && self
                    .frameworks
                    .get(&o.framework_id)
                    .is_some_and(|f| f.active)
            {
                users.insert((o.framework_id.clone(), o.agent_id.clone()));
            }
        }
        let outstanding: BTreeSet<(String, String)> = self
            .inverse_offers
            .values()
            .map(|e| (e.framework_id.clone(), e.agent_id.clone()))
            .collect();
        let mut out: BTreeMap<String, Vec<InverseOffer>> = BTreeMap::new();
        let wall = self.clock.wall;
        for (framework_id, agent_id) in users {
            let pair = (framework_id.clone(), agent_id.clone());
            if outstanding.contains(&pair)
                || self
                    .inverse_filters
                    .get(&(agent_id.clone(), framework_id.clone()))
                    .is_some_and(|until| *until > now)
            {
                continue;
            }
            let id = format!("{}-O{}", self.master_id, self.next_offer);
            self.next_offer += 1;
            self.inverse_offers.insert(
                id.clone(),
                InverseOfferEntry {
                    framework_id: framework_id.clone(),
                    agent_id: agent_id.clone(),
                },
            );
            self.inverse_statuses
                .entry(agent_id.clone())
                .or_default()
                .entry(framework_id.clone())
                .or_insert_with(|| InverseOfferStatus {
                    status: InverseOfferState::Unknown,
                    framework_id: FrameworkID::new(&framework_id),
                    timestamp: time(wall),
                });
            out.entry(framework_id.clone())
                .or_default()
                .push(InverseOffer {
                    id: OfferID::new(&id),
                    url: None,
                    framework_id: FrameworkID::new(&framework_id),
                    agent_id: Some(AgentID::new(&agent_id)),
                    unavailability: draining[&agent_id].clone(),
                    resources: Vec::new(),
                });
        }
        for (framework_id, inverse_offers) in out {
            tracing::info!(framework = %framework_id, count = inverse_offers.len(), "inverse offers sent");
            self.send(
                &framework_id,
                Event::InverseOffers(InverseOffers { inverse_offers }),
            );
        }
    }

    /// ACCEPT_INVERSE_OFFERS or DECLINE_INVERSE_OFFERS: the answer is recorded for the
    /// maintenance status, and the framework is not asked again for `refuse_seconds`.
    /// Inverse offers that are not the framework's, or no longer outstanding, are ignored.
    pub(super) fn answer_inverse_offers(
        &mut self,
        framework_id: &str,
        reply: &InverseOfferReply,
        accept: bool,
    ) {
        let until = self.clock.instant
            + Duration::from_secs_f64(reply.refuse_seconds().clamp(0.0, MAX_INVERSE_FILTER));
        let wall = self.clock.wall;
        for id in &reply.inverse_offer_ids {
            let Some(entry) = self.inverse_offers.get(&id.value) else {
                continue;
            };
            if entry.framework_id != framework_id {
                continue;
            }
            let agent_id = entry.agent_id.clone();
            self.inverse_offers.remove(&id.value);
            self.inverse_statuses
                .entry(agent_id.clone())
                .or_default()
                .insert(
                    framework_id.to_string(),
                    InverseOfferStatus {
                        status: if accept {
                            InverseOfferState::Accept
                        } else {
                            InverseOfferState::Decline
                        },
                        framework_id: FrameworkID::new(framework_id),
                        timestamp: time(wall),
                    },
                );
            self.inverse_filters
                .insert((agent_id, framework_id.to_string()), until);
        }
    }

    /// Withdraws the inverse offers `which` selects, telling their frameworks.
    pub(super) fn rescind_inverse_offers(&mut self, which: impl Fn(&InverseOfferEntry) -> bool) {
        let ids: Vec<String> = self
            .inverse_offers
            .iter()
            .filter(|(_, e)| which(e))
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            let Some(entry) = self.inverse_offers.remove(&id) else {
                continue;
            };
            if self.frameworks.contains_key(&entry.framework_id) {
                self.send(
                    &entry.framework_id,
                    Event::RescindInverseOffer(RescindInverseOffer {
                        inverse_offer_id: OfferID::new(&id),
                    }),
                );
            }
        }
    }

    /// `/maintenance/status`: DRAINING machines with the frameworks' latest answers for their
    /// agents, and DOWN machines.
    pub fn maintenance_status(&self) -> ClusterStatus {
        let mut statuses: BTreeMap<String, Vec<InverseOfferStatus>> = BTreeMap::new();
        for (agent_id, answers) in &self.inverse_statuses {
            let Some(agent) = self.agents.get(agent_id) else {
                continue;
            };
            statuses
                .entry(agent_machine(agent).key())
                .or_default()
                .extend(answers.values().cloned());
        }
        let mut status = ClusterStatus::default();
        for (key, m) in &self.machines {
            match m.mode {
                MachineMode::Down => status.down_machines.push(m.id.clone()),
                _ => status.draining_machines.push(DrainingMachine {
                    id: m.id.clone(),
                    statuses: statuses.remove(key).unwrap_or_default(),
                }),
            }
        }
        status
    }

    /// DEACTIVATE_AGENT (stored): no more offers of the agent; its outstanding ones are
    /// rescinded. Tasks keep running.
    pub(super) fn deactivate_agent(&mut self, agent_id: &str) {
        self.agent_drains.entry(agent_id.to_string()).or_default();
        if let Some(handle) = self.agents.get(agent_id).map(|a| a.handle) {
            self.allocator(AllocatorCall::DeactivateAgent(handle));
            self.rescind_agent_offers(agent_id);
        }
    }

    /// DRAIN_AGENT (stored): deactivated, and every task on it killed with at most
    /// `max_grace_period` seconds of grace. Once none is left the agent is DRAINED (and marked
    /// gone when `mark_gone`).
    pub(super) fn drain_agent(
        &mut self,
        agent_id: &str,
        max_grace_period: Option<f64>,
        mark_gone: bool,
    ) {
        self.deactivate_agent(agent_id);
        self.agent_drains.insert(
            agent_id.to_string(),
            AgentDrainRecord {
                drain: Some(DrainRecord {
                    state: DRAINING.to_string(),
                    max_grace_period,
                    mark_gone,
                }),
            },
        );
        self.kill_for_drain(agent_id);
        self.check_drained(agent_id);
    }

    /// REACTIVATE_AGENT (stored): offered again; a drain ends.
    pub(super) fn reactivate_agent(&mut self, agent_id: &str) {
        self.agent_drains.remove(agent_id);
        if let Some(handle) = self.agents.get(agent_id).map(|a| a.handle) {
            self.allocator(AllocatorCall::ActivateAgent(handle));
            self.trigger_allocation();
        }
    }

    /// An agent (re-)registered: a deactivated one stays so, a draining one has its tasks
    /// killed again (it may not have heard the first time).
    pub(super) fn reapply_drain(&mut self, agent_id: &str) {
        let Some(record) = self.agent_drains.get(agent_id) else {
            return;
        };
        let draining = record.drain.as_ref().is_some_and(|d| d.state == DRAINING);
        if let Some(handle) = self.agents.get(agent_id).map(|a| a.handle) {
            self.allocator(AllocatorCall::DeactivateAgent(handle));
        }
        if draining {
            self.kill_for_drain(agent_id);
            self.check_drained(agent_id);
        }
    }

    fn kill_for_drain(&mut self, agent_id: &str) {
        let Some(max) = self
            .agent_drains
            .get(agent_id)
            .and_then(|r| r.drain.as_ref())
            .map(|d| d.max_grace_period)
        else {
            return;
        };
        let mut kills = Vec::new();
        for f in self.frameworks.values() {
            for t in f.tasks.values().filter(|t| t.agent_id == agent_id) {
                let own = t
                    .info
                    .kill_policy
                    .as_ref()
                    .and_then(|k| k.grace_period.as_ref())
                    .map(|d| d.nanoseconds as f64 / 1e9);
                let grace = match (own, max) {
                    (Some(own), Some(max)) => Some(own.min(max)),
                    (None, Some(max)) => Some(max),
                    (own, None) => own,
                };
                kills.push(wire::KillTask {
                    framework_id: FrameworkID::new(&f.id),
                    task_id: t.info.task_id.clone(),
                    kill_policy: grace.map(|g| KillPolicy {
                        grace_period: Some(DurationInfo::from_duration(Duration::from_secs_f64(
                            g.max(0.0),
                        ))),
                    }),
                });
            }
        }
        tracing::info!(
            agent = agent_id,
            tasks = kills.len(),
            "draining: killing the agent's tasks"
        );
        for kill in kills {
            self.send_to_agent(agent_id, ToAgent::KillTask(kill));
        }
    }

    /// Draining agents with no task left become DRAINED (stored), and gone if asked.
    pub(super) fn check_drains(&mut self) {
        if self.agent_drains.is_empty() {
            return;
        }
        let draining: Vec<String> = self
            .agent_drains
            .iter()
            .filter(|(_, r)| r.drain.as_ref().is_some_and(|d| d.state == DRAINING))
            .map(|(id, _)| id.clone())
            .collect();
        for agent_id in draining {
            self.check_drained(&agent_id);
        }
    }

    fn check_drained(&mut self, agent_id: &str) {
        let busy = self
            .frameworks
            .values()
            .any(|f| f.tasks.values().any(|t| t.agent_id == agent_id));
        if busy || !self.agents.contains_key(agent_id) {
            return;
        }
        let Some(drain) = self
            .agent_drains
            .get_mut(agent_id)
            .and_then(|r| r.drain.as_mut())
            .filter(|d| d.state == DRAINING)
        else {
            return;
        };
        drain.state = DRAINED.to_string();
        let mark_gone = drain.mark_gone;
        let record = self.agent_drains.get(agent_id).cloned();
        tracing::info!(agent = agent_id, mark_gone, "agent drained");
        self.effect(Effect::Registry(
            meseta_registry::Operation::SetAgentDrain {
                id: AgentID::new(agent_id),
                drain: record,
            },
        ));
        if mark_gone {
            self.effect(Effect::Registry(
                meseta_registry::Operation::MarkAgentGone {
                    id: AgentID::new(agent_id),
                    time: self.clock.wall,
                },
            ));
            let _ = self.mark_gone(agent_id);
        }
    }

    /// Rescinds every offer outstanding on `agent_id`.
    pub(super) fn rescind_agent_offers(&mut self, agent_id: &str) {
        for o in self.agent_offer_ids(agent_id) {
            self.remove_offer(&o, None, true);
        }
    }

    /// The ids of the outstanding offers on the agent.
    pub(super) fn agent_offer_ids(&self, agent_id: &str) -> Vec<String> {
        self.offers
            .values()
            .filter(|o| o.agent_id == agent_id)
            .map(|o| o.id.clone())
            .collect()
    }
}

fn time(seconds: f64) -> TimeInfo {
    TimeInfo {
        nanoseconds: (seconds * 1e9) as i64,
    }
}
