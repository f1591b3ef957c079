//! Agents: admission and registration, re-registration after either side restarted, recovery
//! from the registry, oversubscribed resources, health pings and unreachable agents.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use meseta_api::common::{
    AgentID, AgentInfo, ExecutorID, FrameworkID, Reason, Source, TaskID, TaskState, TaskStatus,
};
use meseta_api::internal as wire;
use meseta_api::scheduler::{Event, Failure};
use meseta_types::Quantities;
use meseta_types::allocation as alloc;

use super::{
    Agent, AllocatorCall, Core, Effect, EventScope, MAX_COMPLETED_TASKS, MasterError, Quota,
    RecoveredAgent, Removal, Result, ToAgent,
};
use crate::resources::ResourceSet;

/// An agent's `endpoint` must be where the master can reach it: `ip:port`.
fn check_endpoint(endpoint: &str) -> Result<()> {
    match endpoint.parse::<SocketAddr>() {
        Ok(_) => Ok(()),
        Err(_) => Err(MasterError::Invalid(format!(
            "'endpoint' must be ip:port, got '{endpoint}'"
        ))),
    }
}

impl Core {
    /// The first step of a REGISTER: the agent's id (a new one for a first registration) and
    /// the registry operation that must be durable before the agent is told it is registered
    /// (Mesos: `AdmitSlave` for a new agent, `MarkSlaveReachable` for one this master does not
    /// have as admitted). `None`: the agent is registered with this master or admitted by an
    /// earlier one, and nothing needs storing.
    pub(super) fn admission(
        &mut self,
        info: &AgentInfo,
        endpoint: &str,
    ) -> Result<(String, Option<meseta_registry::Operation>)> {
        check_endpoint(endpoint)?;
        if let Some(machine) = self.machine_down(&info.hostname, endpoint) {
            return Err(MasterError::Forbidden(format!(
                "Agent {} at {endpoint} is on machine '{machine}', which is DOWN for \
                 maintenance: it may register once the machine is brought up \
                 (POST /master/machine/up)",
                info.hostname
            )));
        }
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
            return Err(MasterError::Forbidden(format!(
                "Agent {id} has been marked gone: it cannot register again under this id \
                 (remove <work_dir>/meta/slaves/latest on the agent to register as a new agent)"
            )));
        }
        if self.agents.contains_key(&id) || self.recovered_agents.contains_key(&id) {
            return Ok((id, None));
        }
        Ok((id, Some(Operation::MarkAgentReachable(info.clone()))))
    }

    /// REGISTER from an agent, once [`Core::admission`]'s operation is durable: `msg` carries
    /// the agent's id. `reregistering`: the agent came with an id of its own.
    pub(super) fn register_agent(
        &mut self,
        msg: wire::RegisterAgent,
        reregistering: bool,
    ) -> Result<wire::Registered> {
        check_endpoint(&msg.endpoint)?;
        let resources = meseta_api::convert::resources_from_wire(&msg.agent_info.resources)
            .map_err(|e| MasterError::Invalid(format!("Invalid agent resources: {}", e.0)))?;
        let total = ResourceSet::from_resources(&resources);
        let claimed = msg
            .agent_info
            .id
            .as_ref()
            .map(|i| i.value.clone())
            .filter(|s| !s.is_empty());
        let now = self.clock.wall;
        if let Some(id) = &claimed
            && self.agents.contains_key(id)
        {
            let id = id.clone();
            self.reregister_known_agent(&id, msg, now);
            return Ok(self.registered(&id));
        }
        let Some(id) = claimed else {
            return Err(MasterError::Invalid(
                "an agent registers with the id its admission gave it".into(),
            ));
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
        self.reservation_slots(&total);
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
        };
        self.effect(Effect::LinkAgent {
            agent_id: id.clone(),
            endpoint: agent.endpoint.clone(),
        });
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
            let executor_id = rt
                .task
                .executor
                .as_ref()
                .map(|e| e.executor_id.value.clone());
            let mut task = existing.unwrap_or_else(|| {
                Self::new_task(&fid, &id, role, res, executor_id, rt.task.clone())
            });
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
        // Custom executors the agent runs hold resources of their own: accounted again when
        // this master does not have them (it restarted, or the agent was unreachable).
        for re in msg.executors {
            let fid = re.framework_id.value.clone();
            let Some(f) = self.frameworks.get_mut(&fid) else {
                continue;
            };
            let key = (id.clone(), re.executor.executor_id.value.clone());
            if f.executors.contains_key(&key) {
                continue;
            }
            let res = meseta_api::convert::resources_from_wire(&re.executor.resources)
                .map(|r| ResourceSet::from_resources(&r))
                .unwrap_or_default();
            let role = f.roles.first().cloned().unwrap_or_else(|| "*".into());
            agent.allocated.add(&res);
            pending_usage.push((f.handle, role, self.slots.quantities(&res)));
            f.executors.insert(key, (re.executor, res));
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
        self.allocator(AllocatorCall::AddAgent {
            agent: handle,
            info: ainfo,
            total: q,
            used: usage,
        });
        self.agent_handles.insert(handle, id.clone());
        self.agents.insert(id.clone(), agent);
        self.operator_event(|core| {
            let agent = core.agents.get(&id)?;
            let event = serde_json::json!({"type": "AGENT_ADDED",
                "agent_added": { "agent": crate::operator::agent_v1(core, agent) }});
            Some((event, EventScope::Cluster))
        });
        for fid in shutdown {
            self.send_to_agent(
                &id,
                ToAgent::ShutdownFramework(wire::ShutdownFramework {
                    framework_id: FrameworkID::new(&fid),
                }),
            );
        }
        for (fid, s) in recovered {
            self.send(&fid, Self::update_event(s));
        }
        if reregistering {
            self.metrics.agent_reregistrations += 1;
        } else {
            self.metrics.agent_registrations += 1;
        }
        tracing::info!(agent = %id, hostname = %info.hostname, reregistering, "agent registered");
        self.reapply_drain(&id);
        self.trigger_allocation();
        Ok(self.registered(&id))
    }

    /// The answer to an agent's REGISTER.
    fn registered(&self, agent_id: &str) -> wire::Registered {
        wire::Registered {
            agent_id: AgentID::new(agent_id),
            master_id: self.master_id.clone(),
            ping_interval_seconds: self.settings.agent_ping_timeout.as_secs_f64(),
            max_ping_timeouts: self.settings.max_agent_ping_timeouts,
        }
    }

    /// An agent the master has registered comes again with the same id (its process restarted,
    /// or it stopped hearing pings): new endpoint and outbox; tasks the master has on it that
    /// the agent no longer reports are lost (Mesos' `reconcileKnownSlave`: `TASK_DROPPED` to
    /// partition-aware frameworks, `TASK_LOST` to others, `REASON_RECONCILIATION`). Tasks
    /// still `STAGING` are left alone: their launch may still be on its way to the agent.
    fn reregister_known_agent(&mut self, id: &str, msg: wire::RegisterAgent, now: f64) {
        let reported = meseta_api::convert::resources_from_wire(&msg.agent_info.resources)
            .map(|r| super::checkpointed(&ResourceSet::from_resources(&r)))
            .ok();
        let mut resend = None;
        if let Some(a) = self.agents.get_mut(id) {
            a.endpoint = msg.endpoint.clone();
            a.missed_pings = 0;
            a.reregistered_time = Some(now);
            a.version = msg.version;
            // An agent that missed a checkpoint (it restarted before writing it) gets the
            // master's set again, as Mesos' master sends it on re-registration.
            let mine = super::checkpointed(&a.total);
            if reported.as_ref() != Some(&mine) {
                resend = Some(mine);
            }
        }
        // A restarted agent process: its messages go to where it listens now.
        self.effect(Effect::LinkAgent {
            agent_id: id.to_string(),
            endpoint: msg.endpoint,
        });
        if let Some(set) = resend {
            tracing::info!(
                agent = id,
                "the agent's checkpointed resources differ from the master's: sent again"
            );
            let resources = meseta_api::convert::resources_to_wire(&set.to_resources());
            self.send_to_agent(
                id,
                ToAgent::CheckpointResources(wire::CheckpointResources { resources }),
            );
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
            self.send(&fid, Self::update_event(s));
        }
        tracing::info!(agent = %id, "agent re-registered");
        self.reapply_drain(id);
        self.trigger_allocation();
    }

    /// What an earlier master left in the registry (Mesos' `Master::_recover`): admitted agents
    /// are expected to re-register (pinged at their last address), unreachable and gone ones are
    /// remembered, quota applies again. Weights are given to [`Core::new`].
    pub(super) fn recover_from_registry(&mut self, registry: &meseta_registry::Registry) {
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
            self.recovered_at = Some(self.clock.instant);
            self.recovered_total = self.recovered_agents.len();
        }
        self.unreachable_agents
            .extend(registry.unreachable.iter().map(|(id, t)| (id.clone(), *t)));
        self.gone_agents
            .extend(registry.gone.iter().map(|(id, t)| (id.clone(), *t)));
        self.recover_maintenance(registry);
        for (role, config) in &registry.quotas {
            let quota = Quota {
                guarantees: config.guarantees.clone(),
                limits: config.limits.clone(),
            };
            match self.check_quota(role, &quota) {
                Ok(()) => self.set_quota(role, quota),
                Err(e) => {
                    tracing::warn!(role = %role, error = %e, "quota in the registry not applied")
                }
            }
        }
    }

    /// After `agent_reregister_timeout`, recovered agents that did not re-register are marked
    /// unreachable (Mesos: not shut down; they may still come back). Returns their ids, or,
    /// when more of them are missing than `--recovery_agent_removal_limit` allows, why the
    /// master must stop (Mesos exits then, leaving the agents as they are).
    pub(super) fn expire_recovered_agents(&mut self) -> Result<Vec<String>, String> {
        let timeout = self.settings.agent_reregister_timeout;
        if self.recovered_agents.is_empty()
            || self
                .recovered_at
                .is_none_or(|at| self.clock.instant.saturating_duration_since(at) < timeout)
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
        let now = self.clock.wall;
        let missing: Vec<String> = std::mem::take(&mut self.recovered_agents)
            .into_keys()
            .collect();
        for id in &missing {
            tracing::warn!(agent = %id, timeout = ?timeout,
                "agent did not re-register with this master in time: marked unreachable");
            self.unreachable_agents.insert(id.clone(), now);
            self.effect(Effect::Registry(
                meseta_registry::Operation::MarkAgentUnreachable {
                    id: AgentID::new(id),
                    time: now,
                },
            ));
            let fids: Vec<String> = self.frameworks.keys().cloned().collect();
            for fid in fids {
                self.send(
                    &fid,
                    Event::Failure(Failure {
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
    pub(super) fn forget_agents(&mut self, ids: &[String]) {
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
    pub(super) fn update_oversubscribed(
        &mut self,
        agent_id: &str,
        revocable: &[meseta_types::resources::Resource],
    ) -> bool {
        let Some(agent) = self.agents.get(agent_id) else {
            return false;
        };
        let mut total = agent.total.clone();
        total.scalars.retain(|(_, f), _| !f.revocable);
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
            .filter(|o| {
                o.agent_id == agent_id && o.resources.scalars.keys().any(|(_, f)| f.revocable)
            })
            .map(|o| o.id.clone())
            .collect();
        for o in stale {
            self.remove_offer(&o, None, true);
        }
        let q = self.quantities(&total);
        if let Some(agent) = self.agents.get_mut(agent_id) {
            agent.total = total;
        }
        self.allocator(AllocatorCall::UpdateAgent {
            agent: handle,
            total: q,
        });
        self.trigger_allocation();
        true
    }

    pub(super) fn mark_unreachable(&mut self, agent_id: &str, why: &str) {
        self.remove_agent_for(agent_id, why, Removal::Unreachable);
    }

    /// MARK_AGENT_GONE, once the registry holds it: a registered agent is told to shut down and
    /// removed, its tasks TASK_GONE_BY_OPERATOR; an unreachable one's tasks likewise. The agent
    /// is refused if it comes back. `Err` for an agent the master does not know.
    pub(super) fn mark_gone(&mut self, agent_id: &str) -> Result<()> {
        let now = self.clock.wall;
        if self.agents.contains_key(agent_id) {
            self.send_to_agent(
                agent_id,
                ToAgent::ShutdownAgent(wire::ShutdownAgent {
                    message: "the agent was marked gone by an operator (MARK_AGENT_GONE)".into(),
                }),
            );
            self.remove_agent_for(agent_id, "marked gone by an operator", Removal::Gone);
        } else if self.unreachable_agents.remove(agent_id).is_some() {
            let mut updates = Vec::new();
            for (fid, f) in self.frameworks.iter_mut() {
                let ids: Vec<String> = f
                    .unreachable_tasks
                    .values()
                    .filter(|t| t.agent_id == agent_id)
                    .map(|t| t.info.task_id.value.clone())
                    .collect();
                for tid in ids {
                    let Some(mut t) = f.unreachable_tasks.remove(&tid) else {
                        continue;
                    };
                    let state = TaskState::GoneByOperator;
                    t.state = state;
                    t.statuses.push((state, now));
                    let mut s = TaskStatus::new(TaskID::new(&tid), state);
                    s.source = Some(Source::Master);
                    s.reason = Some(Reason::AgentRemovedByOperator);
                    s.message = Some(format!("Agent {agent_id} was marked gone by an operator"));
                    s.agent_id = Some(AgentID::new(agent_id));
                    s.timestamp = Some(now);
                    t.last_status = Some(s.clone());
                    f.completed_tasks.push_back(t);
                    updates.push((fid.clone(), s));
                }
            }
            for (fid, s) in updates {
                self.send(&fid, Self::update_event(s));
            }
        } else if !self.gone_agents.contains_key(agent_id) {
            return Err(MasterError::NotFound(format!(
                "Agent '{agent_id}' is neither registered nor unreachable"
            )));
        }
        self.gone_agents.insert(agent_id.to_string(), now);
        Ok(())
    }

    /// Removes a registered agent, as [`Removal`] says.
    pub(super) fn remove_agent_for(&mut self, agent_id: &str, why: &str, removal: Removal) {
        let gone = removal == Removal::Gone;
        self.rescind_agent_offers(agent_id);
        self.rescind_inverse_offers(|e| e.agent_id == agent_id);
        let Some(agent) = self.agents.remove(agent_id) else {
            return;
        };
        self.operator_event(|_| {
            let event = serde_json::json!({"type": "AGENT_REMOVED",
                "agent_removed": { "agent_id": { "value": agent_id } }});
            Some((event, EventScope::Cluster))
        });
        tracing::warn!(agent = agent_id, hostname = %agent.info.hostname, why, "agent removed");
        self.metrics.agent_removals += 1;
        self.allocator(AllocatorCall::RemoveAgent(agent.handle));
        self.agent_handles.remove(&agent.handle);
        self.effect(Effect::UnlinkAgent {
            agent_id: agent_id.to_string(),
        });
        let now = self.clock.wall;
        match removal {
            Removal::Unreachable => {
                self.unreachable_agents.insert(agent_id.to_string(), now);
                self.effect(Effect::Registry(
                    meseta_registry::Operation::MarkAgentUnreachable {
                        id: AgentID::new(agent_id),
                        time: now,
                    },
                ));
            }
            Removal::Down => {
                self.effect(Effect::Registry(meseta_registry::Operation::RemoveAgent(
                    AgentID::new(agent_id),
                )));
            }
            Removal::Gone => {}
        }
        let mut updates: Vec<(String, TaskStatus)> = Vec::new();
        let message = match removal {
            Removal::Unreachable => format!(
                "Agent {} ({}) is unreachable: {why}",
                agent_id, agent.info.hostname
            ),
            _ => format!(
                "Agent {} ({}) was removed: {why}",
                agent_id, agent.info.hostname
            ),
        };
        let fids: Vec<String> = self.frameworks.keys().cloned().collect();
        for fid in &fids {
            let Some(f) = self.frameworks.get_mut(fid) else {
                continue;
            };
            let aware = f.partition_aware() && removal == Removal::Unreachable;
            let gone_for_aware = f.partition_aware() && removal == Removal::Down;
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
                let state = if gone {
                    TaskState::GoneByOperator
                } else if gone_for_aware {
                    TaskState::Gone
                } else if aware {
                    TaskState::Unreachable
                } else {
                    TaskState::Lost
                };
                t.state = state;
                t.statuses.push((state, now));
                let mut s = TaskStatus::new(TaskID::new(&tid), state);
                s.source = Some(Source::Master);
                s.reason = Some(if gone {
                    Reason::AgentRemovedByOperator
                } else {
                    Reason::AgentRemoved
                });
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
                    let key = match state {
                        TaskState::GoneByOperator => "gone_by_operator",
                        TaskState::Gone => "gone",
                        _ => "lost",
                    };
                    *self.metrics.terminal.entry(key).or_default() += 1;
                    f.completed_tasks.push_back(t);
                    while f.completed_tasks.len() > MAX_COMPLETED_TASKS {
                        f.completed_tasks.pop_front();
                    }
                }
            }
            f.executors.retain(|(a, _), _| a != agent_id);
        }
        for (fid, s) in updates {
            self.send(&fid, Self::update_event(s));
        }
        for fid in &fids {
            self.send(
                fid,
                Event::Failure(Failure {
                    agent_id: Some(AgentID::new(agent_id)),
                    executor_id: None,
                    status: None,
                }),
            );
        }
        self.effect(Effect::AgentLostHook {
            agent_id: agent_id.to_string(),
            info: agent.info,
        });
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
    pub(super) fn pinged(&mut self, agent_id: &str, endpoint: &str, ok: bool) {
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
