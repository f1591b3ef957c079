//! Frameworks: SUBSCRIBE and failover, the scheduler calls' dispatch, disconnection and
//! failover timeouts, removal, UPDATE_FRAMEWORK, SUPPRESS and REVIVE.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use meseta_api::common::{FrameworkID, FrameworkInfo, TaskState};
use meseta_api::internal as wire;
use meseta_api::scheduler::{CallKind, Event, Subscribed};
use meseta_types::allocation as alloc;

use super::{
    AllocatorCall, Core, Effect, Framework, MAX_COMPLETED_FRAMEWORKS, MAX_COMPLETED_TASKS,
    MasterError, Refused, Result, Task, ToAgent, capabilities, validate_role,
};

impl Core {
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

    pub(super) fn framework_alloc_info(
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

    /// SUBSCRIBE: a new framework, or the same one coming back (failover). The framework's
    /// id.
    pub(super) fn subscribe(
        &mut self,
        mut info: FrameworkInfo,
        claimed: Option<String>,
        suppressed: Vec<String>,
        stream_id: String,
    ) -> Result<String> {
        let roles = self.validate_framework(&info).map_err(|e| {
            MasterError::Invalid(format!("Failed to validate scheduler::Call: {e}"))
        })?;
        if let Some(r) = suppressed.iter().find(|r| !roles.contains(r)) {
            return Err(MasterError::Invalid(format!(
                "Suppressed role '{r}' is not one of the framework's roles"
            )));
        }
        if let Some(id) = &claimed
            && self.is_completed_framework(id)
            && !self.frameworks.contains_key(id)
        {
            // As Mesos: a removed framework cannot come back under its id.
            return Err(MasterError::FrameworkRemoved(id.clone()));
        }
        let now = self.clock.wall;
        let failover = claimed
            .as_ref()
            .is_some_and(|id| self.frameworks.contains_key(id));
        let id = match claimed {
            Some(id) => id,
            None => format!("{}-{:04}", self.master_id, self.next_framework),
        };
        info.id = Some(FrameworkID::new(&id));
        let ainfo = self.framework_alloc_info(&info, &roles);
        let suppressed_handles: Vec<alloc::RoleId> =
            suppressed.iter().map(|r| self.role_handle(r)).collect();
        if failover && let Some(f) = self.frameworks.get_mut(&id) {
            let old = f.stream.replace(stream_id.clone());
            f.info = info;
            f.roles = roles;
            f.reregistered_time = Some(now);
            f.disconnected_at = None;
            f.recovered = false;
            f.unregistered_time = None;
            f.suppressed = suppressed.into_iter().collect();
            let handle = f.handle;
            let was_active = f.active;
            f.active = true;
            let offers: Vec<String> = f.offers.iter().cloned().collect();
            if let Some(old) = old {
                // As Mesos does, the old connection hears why it is closed.
                self.effect(Effect::CloseStream {
                    framework_id: id.clone(),
                    stream_id: old,
                    error: Some("Framework failed over".into()),
                });
            }
            self.open_stream(&id, stream_id);
            // Offers made to the old connection are withdrawn: the new one gets fresh ones.
            for o in offers {
                self.remove_offer(&o, None, false);
            }
            self.allocator(AllocatorCall::UpdateFramework {
                framework: handle,
                info: ainfo,
                suppressed: suppressed_handles,
            });
            if !was_active {
                self.allocator(AllocatorCall::ActivateFramework(handle));
            }
            self.trigger_allocation();
            self.framework_event("FRAMEWORK_UPDATED", &id);
            tracing::info!(framework = %id, failover = true, "framework subscribed");
            return Ok(id);
        }
        // An id the master does not know is a framework registered with an earlier master
        // process: Mesos re-admits it under that id.
        let handle = self.next_framework;
        self.next_framework += 1;
        self.allocator(AllocatorCall::AddFramework {
            framework: handle,
            info: ainfo,
            active: true,
        });
        if !suppressed_handles.is_empty() {
            self.allocator(AllocatorCall::Suppress {
                framework: handle,
                roles: suppressed_handles,
            });
        }
        self.framework_handles.insert(handle, id.clone());
        self.frameworks.insert(
            id.clone(),
            Framework {
                id: id.clone(),
                handle,
                info,
                roles,
                stream: Some(stream_id.clone()),
                active: true,
                registered_time: now,
                reregistered_time: None,
                unregistered_time: None,
                disconnected_at: None,
                recovered: false,
                suppressed: suppressed.into_iter().collect(),
                offers: BTreeSet::new(),
                tasks: BTreeMap::new(),
                unreachable_tasks: BTreeMap::new(),
                completed_tasks: VecDeque::new(),
                executors: BTreeMap::new(),
            },
        );
        self.open_stream(&id, stream_id);
        self.trigger_allocation();
        self.framework_event("FRAMEWORK_ADDED", &id);
        tracing::info!(framework = %id, failover = false, "framework subscribed");
        Ok(id)
    }

    /// FRAMEWORK_ADDED or FRAMEWORK_UPDATED for the operator streams.
    fn framework_event(&mut self, kind: &str, id: &str) {
        self.operator_event(|core| {
            let f = core.frameworks.get(id)?;
            let mut event = serde_json::json!({ "type": kind });
            event[kind.to_lowercase()] =
                serde_json::json!({ "framework": crate::operator::framework_v1(core, f) });
            Some((event, super::framework_event_scope(f)))
        });
    }

    /// The stream becomes the framework's; SUBSCRIBED and a first HEARTBEAT go ahead of
    /// anything else on it.
    fn open_stream(&mut self, framework_id: &str, stream_id: String) {
        self.effect(Effect::OpenStream {
            framework_id: framework_id.to_string(),
            stream_id,
        });
        let subscribed = Event::Subscribed(Subscribed {
            framework_id: FrameworkID::new(framework_id),
            heartbeat_interval_seconds: Some(self.settings.heartbeat_interval.as_secs_f64()),
            master_info: Some(self.master_info()),
        });
        self.send(framework_id, subscribed);
        self.send(framework_id, Event::Heartbeat);
    }

    /// A scheduler call other than SUBSCRIBE, from the stream `stream_id`.
    pub(super) fn call(
        &mut self,
        framework_id: &str,
        stream_id: Option<&str>,
        call: CallKind,
        refused: Refused,
    ) -> Result<()> {
        let Some(framework) = self.frameworks.get(framework_id) else {
            return Err(MasterError::NotSubscribed(framework_id.to_string()));
        };
        if stream_id.is_none() || stream_id != framework.stream.as_deref() {
            return Err(MasterError::Invalid(match stream_id {
                None => "All non-subscribe calls should include the 'Mesos-Stream-Id' header"
                    .to_string(),
                Some(s) => format!(
                    "The stream ID '{s}' included in this request didn't match the stream ID currently associated with framework ID {framework_id}"
                ),
            }));
        }
        let check_roles = |roles: &[String]| -> Result<()> {
            match roles.iter().find(|r| !framework.roles.contains(r)) {
                Some(r) => Err(MasterError::Invalid(format!(
                    "Role '{r}' is not one of the framework's roles ({})",
                    framework.roles.join(", ")
                ))),
                None => Ok(()),
            }
        };
        match &call {
            CallKind::Revive(r) => check_roles(&r.roles)?,
            CallKind::Suppress(s) => check_roles(&s.roles)?,
            CallKind::Acknowledge(a) if a.uuid.as_uuid().is_none() => {
                return Err(MasterError::Invalid(
                    "Failed to validate scheduler::Call: 'acknowledge.uuid' is not a valid UUID (16 bytes, base64)".into(),
                ));
            }
            CallKind::Subscribe(_) | CallKind::Other(_) => {
                return Err(MasterError::Invalid(format!(
                    "unexpected call '{}'",
                    call.type_name()
                )));
            }
            _ => {}
        }
        *self
            .metrics
            .calls
            .entry(call.type_name().to_string())
            .or_default() += 1;
        let fid = framework_id;
        match call {
            CallKind::Teardown => self.remove_framework(fid, "TEARDOWN call"),
            CallKind::Accept(a) => self.accept(fid, a, &refused)?,
            CallKind::Decline(d) => {
                let refuse = d.refuse_seconds();
                self.decline(fid, &d.offer_ids, refuse);
            }
            CallKind::Revive(r) => self.revive(fid, r.roles),
            CallKind::Suppress(s) => self.suppress(fid, s.roles),
            CallKind::Kill(k) => self.kill(fid, &k.task_id.value, k.kill_policy),
            CallKind::Shutdown(s) => {
                self.shutdown_executor(fid, &s.agent_id.value, &s.executor_id.value)
            }
            CallKind::Acknowledge(a) => {
                self.acknowledge(fid, &a.agent_id.value, &a.task_id.value, a.uuid)
            }
            CallKind::Reconcile(r) => self.reconcile(fid, r),
            CallKind::Message(m) => self.framework_message(fid, m),
            CallKind::UpdateFramework(u) => {
                self.update_framework(fid, u.framework_info, u.suppressed_roles)?
            }
            CallKind::AcceptInverseOffers(r) => self.answer_inverse_offers(fid, &r, true),
            CallKind::DeclineInverseOffers(r) => self.answer_inverse_offers(fid, &r, false),
            CallKind::Request | CallKind::Subscribe(_) | CallKind::Other(_) => {}
        }
        Ok(())
    }

    /// The stream `stream_id` of a framework ended (the client went away).
    pub(super) fn disconnected(&mut self, framework_id: &str, stream_id: &str) {
        let Some(f) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        if f.stream.as_deref() != Some(stream_id) {
            return;
        }
        f.stream = None;
        f.active = false;
        f.disconnected_at = Some(self.clock.instant);
        f.unregistered_time = Some(self.clock.wall);
        let handle = f.handle;
        let timeout = f.info.failover_timeout.unwrap_or(0.0);
        let offers: Vec<String> = f.offers.iter().cloned().collect();
        tracing::info!(
            framework = framework_id,
            failover_timeout = timeout,
            "framework disconnected"
        );
        self.effect(Effect::CloseStream {
            framework_id: framework_id.to_string(),
            stream_id: stream_id.to_string(),
            error: None,
        });
        for o in offers {
            self.remove_offer(&o, None, false);
        }
        self.allocator(AllocatorCall::DeactivateFramework(handle));
        if timeout <= 0.0 {
            self.remove_framework(framework_id, "failover timeout (0 s) elapsed");
        }
    }

    /// Frameworks whose failover timeout elapsed are removed. A recovered framework (this master
    /// learnt of it from an agent) gets at least `--agent_reregister_timeout` to subscribe
    /// again, as long as agents get to re-register: a master failover must not remove a
    /// framework whose failover timeout is 0 before it could find the new leader.
    pub(super) fn expire_frameworks(&mut self) {
        let now = self.clock.instant;
        let grace = self.settings.agent_reregister_timeout.as_secs_f64();
        let expired: Vec<String> = self
            .frameworks
            .values()
            .filter(|f| {
                let mut timeout = f.info.failover_timeout.unwrap_or(0.0);
                if f.recovered {
                    timeout = timeout.max(grace);
                }
                f.disconnected_at
                    .is_some_and(|at| now.saturating_duration_since(at).as_secs_f64() >= timeout)
            })
            .map(|f| f.id.clone())
            .collect();
        for id in expired {
            self.remove_framework(&id, "failover timeout elapsed");
        }
    }

    /// TEARDOWN, failover expiry, `/master/teardown`: kill the tasks, forget the framework.
    pub(super) fn remove_framework(&mut self, framework_id: &str, why: &str) {
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
            t.statuses.push((TaskState::Killed, self.clock.wall));
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
                ToAgent::ShutdownFramework(wire::ShutdownFramework {
                    framework_id: FrameworkID::new(framework_id),
                }),
            );
        }
        self.allocator(AllocatorCall::RemoveFramework(f.handle));
        self.framework_handles.remove(&f.handle);
        if let Some(stream_id) = f.stream.take() {
            self.effect(Effect::CloseStream {
                framework_id: framework_id.to_string(),
                stream_id,
                error: None,
            });
        }
        f.active = false;
        f.unregistered_time = Some(self.clock.wall);
        while f.completed_tasks.len() > MAX_COMPLETED_TASKS {
            f.completed_tasks.pop_front();
        }
        let mut info = serde_json::to_value(&f.info).unwrap_or_default();
        info["id"] = serde_json::json!({ "value": f.id });
        let scope = super::framework_event_scope(&f);
        self.completed_frameworks.push_back(f);
        self.operator_event(|_| {
            let event = serde_json::json!({"type": "FRAMEWORK_REMOVED",
                "framework_removed": { "framework_info": info }});
            Some((event, scope))
        });
        while self.completed_frameworks.len() > MAX_COMPLETED_FRAMEWORKS {
            self.completed_frameworks.pop_front();
        }
        self.trigger_allocation();
    }

    fn update_framework(
        &mut self,
        framework_id: &str,
        mut info: FrameworkInfo,
        suppressed: Vec<String>,
    ) -> Result<()> {
        let roles = self
            .validate_framework(&info)
            .map_err(MasterError::Invalid)?;
        if info.id.as_ref().is_some_and(|id| id.value != framework_id) {
            return Err(MasterError::Invalid(
                "'framework_info.id' does not match the call's 'framework_id'".into(),
            ));
        }
        if !self.frameworks.contains_key(framework_id) {
            return Err(MasterError::NotSubscribed(framework_id.to_string()));
        }
        info.id = Some(FrameworkID::new(framework_id));
        let ainfo = self.framework_alloc_info(&info, &roles);
        let s: Vec<alloc::RoleId> = suppressed.iter().map(|r| self.role_handle(r)).collect();
        let Some(f) = self.frameworks.get_mut(framework_id) else {
            return Err(MasterError::NotSubscribed(framework_id.to_string()));
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
        self.allocator(AllocatorCall::UpdateFramework {
            framework: handle,
            info: ainfo,
            suppressed: s,
        });
        self.trigger_allocation();
        Ok(())
    }

    fn suppress(&mut self, framework_id: &str, roles: Vec<String>) {
        let handles: Vec<alloc::RoleId> = roles.iter().map(|r| self.role_handle(r)).collect();
        if let Some(f) = self.frameworks.get_mut(framework_id) {
            if roles.is_empty() {
                f.suppressed = f.roles.iter().cloned().collect();
            } else {
                f.suppressed.extend(roles);
            }
            let h = f.handle;
            self.allocator(AllocatorCall::Suppress {
                framework: h,
                roles: handles,
            });
        }
    }

    fn revive(&mut self, framework_id: &str, roles: Vec<String>) {
        let handles: Vec<alloc::RoleId> = roles.iter().map(|r| self.role_handle(r)).collect();
        if let Some(f) = self.frameworks.get_mut(framework_id) {
            if roles.is_empty() {
                f.suppressed.clear();
            } else {
                f.suppressed.retain(|r| !roles.contains(r));
            }
            let h = f.handle;
            self.allocator(AllocatorCall::Revive {
                framework: h,
                roles: handles,
            });
            self.trigger_allocation();
        }
    }

    /// A framework known only from an agent's report (this master restarted or took over, and
    /// the framework has not re-subscribed yet): added inactive and disconnected, so its
    /// failover timeout, but at least `--agent_reregister_timeout`, runs from now and it is
    /// removed if it never comes back (Mesos leaves such frameworks forever, MESOS-4659).
    /// SUBSCRIBE with its id takes it over.
    pub(super) fn recover_framework(&mut self, id: &str, mut info: FrameworkInfo) {
        let roles = self
            .validate_framework(&info)
            .unwrap_or_else(|_| info.effective_roles());
        info.id = Some(FrameworkID::new(id));
        let handle = self.next_framework;
        self.next_framework += 1;
        let ainfo = self.framework_alloc_info(&info, &roles);
        self.allocator(AllocatorCall::AddFramework {
            framework: handle,
            info: ainfo,
            active: false,
        });
        self.framework_handles.insert(handle, id.to_string());
        let now = self.clock.wall;
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
                stream: None,
                active: false,
                registered_time: now,
                reregistered_time: None,
                unregistered_time: Some(now),
                disconnected_at: Some(self.clock.instant),
                recovered: true,
                suppressed: BTreeSet::new(),
                offers: BTreeSet::new(),
                tasks: BTreeMap::new(),
                unreachable_tasks: BTreeMap::new(),
                completed_tasks: VecDeque::new(),
                executors: BTreeMap::new(),
            },
        );
    }
}
