//! Tasks: ACCEPT (LAUNCH and LAUNCH_GROUP, validated as Mesos does), KILL, ACKNOWLEDGE,
//! RECONCILE, SHUTDOWN, MESSAGE, and the agents' status updates and executor messages.

use std::collections::{BTreeMap, BTreeSet};

use meseta_api::common::{
    AgentID, ExecutorID, ExecutorInfo, FrameworkID, Reason, Source, TaskID, TaskInfo, TaskState,
    TaskStatus,
};
use meseta_api::internal as wire;
use meseta_api::scheduler::{Accept, Event, Failure, Message, OperationKind, Reconcile};

use super::reservations::{Caller, ResourceOperation};
use super::{
    Core, Framework, MAX_COMPLETED_TASKS, MasterError, Refusal, Refused, Result, Task, ToAgent,
    operation_key,
};
use crate::resources::ResourceSet;

/// `Err` with the refusal of `task`, if a hook or the authorizer refused it.
fn check_refused(refused: &Refused, task: &TaskInfo) -> std::result::Result<(), Refusal> {
    match refused.get(&task.task_id.value) {
        Some(refusal) => Err(refusal.clone()),
        None => Ok(()),
    }
}

impl Core {
    /// ACCEPT. `Err` is a 400 answer: nothing changed. Invalid tasks are answered with
    /// TASK_ERROR / TASK_DROPPED / TASK_LOST updates instead.
    pub(super) fn accept(
        &mut self,
        framework_id: &str,
        accept: Accept,
        refused: &Refused,
    ) -> Result<()> {
        for op in &accept.operations {
            if let OperationKind::Other(t) = &op.kind {
                return Err(MasterError::Invalid(format!(
                    "Offer operation '{t}' is not supported by Meseta yet (supported: LAUNCH, LAUNCH_GROUP, RESERVE, UNRESERVE, CREATE, DESTROY); nothing was accepted"
                )));
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
                _ => Vec::new(),
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
                self.send(framework_id, Self::update_event(status));
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
        let mut launched_ids: BTreeSet<String> = BTreeSet::new();
        let mut converted = false;
        for (index, op) in accept.operations.into_iter().enumerate() {
            if let Some(parsed) = ResourceOperation::from_kind(&op.kind) {
                let refusal = refused.get(&operation_key(index));
                converted |=
                    self.offer_operation(framework_id, &agent_id, parsed, refusal, &mut pool);
                continue;
            }
            match op.kind {
                OperationKind::Launch(l) => {
                    for task in l.task_infos {
                        // As Mesos: authorization (and the hooks) first, then validation.
                        let validated = check_refused(refused, &task).and_then(|()| {
                            self.validate_task(
                                framework_id,
                                &agent_id,
                                &task,
                                &launched_ids,
                                &pool,
                                None,
                            )
                            .map_err(Refusal::invalid)
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
                            Err(refusal) => {
                                let status = self.master_status(
                                    &task.task_id.value,
                                    Some(&agent_id),
                                    TaskState::Error,
                                    refusal.reason,
                                    refusal.message,
                                );
                                self.send(framework_id, Self::update_event(status));
                            }
                        }
                    }
                }
                OperationKind::LaunchGroup(g) => {
                    let mut scratch = pool.clone();
                    let mut ids = launched_ids.clone();
                    let mut parts = Vec::new();
                    let mut error: Option<(Reason, String)> = None;
                    let mut exec_res: Option<(ExecutorInfo, ResourceSet)> = None;
                    if g.task_group.tasks.is_empty() {
                        error = Some((Reason::TaskGroupInvalid, "Task group is empty".to_string()));
                    }
                    for task in &g.task_group.tasks {
                        let executor = Some(&g.executor);
                        let validated = check_refused(refused, task).and_then(|()| {
                            self.validate_task(
                                framework_id,
                                &agent_id,
                                task,
                                &ids,
                                &scratch,
                                executor,
                            )
                            .map_err(Refusal::invalid)
                        });
                        match validated {
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
                            Err(refusal) => {
                                let reason = if refusal.reason == Reason::TaskUnauthorized {
                                    Reason::TaskGroupUnauthorized
                                } else {
                                    Reason::TaskGroupInvalid
                                };
                                error = Some((
                                    reason,
                                    format!("Task '{}': {}", task.task_id.value, refusal.message),
                                ));
                                break;
                            }
                        }
                    }
                    if let Some((reason, message)) = error {
                        for task in &g.task_group.tasks {
                            let status = self.master_status(
                                &task.task_id.value,
                                Some(&agent_id),
                                TaskState::Error,
                                reason.clone(),
                                message.clone(),
                            );
                            self.send(framework_id, Self::update_event(status));
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
                _ => {}
            }
        }
        // Reservations or volumes changed: the allocator learns the agent again, with what
        // is left of the offers still held by the framework until given back below.
        if converted {
            let held: Vec<(String, String, ResourceSet)> = pool
                .iter()
                .map(|(role, rest)| (framework_id.to_string(), role.clone(), rest.clone()))
                .collect();
            self.resync_agent(&agent_id, &held);
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

    /// One RESERVE, UNRESERVE, CREATE or DESTROY of an ACCEPT, applied to the pooled offers
    /// (per allocation role) and to the agent. An invalid or unauthorized operation is dropped
    /// with a warning, as Mesos drops it; the ACCEPT's other operations go on. Whether it
    /// applied.
    fn offer_operation(
        &mut self,
        framework_id: &str,
        agent_id: &str,
        parsed: std::result::Result<ResourceOperation, String>,
        refusal: Option<&Refusal>,
        pool: &mut BTreeMap<String, ResourceSet>,
    ) -> bool {
        let outcome = (|| {
            if let Some(r) = refusal {
                return Err(r.message.clone());
            }
            let op = parsed?;
            let f = self
                .frameworks
                .get(framework_id)
                .ok_or_else(|| "Framework is not subscribed".to_string())?;
            let (principal, roles) = (f.info.principal.clone(), f.roles.clone());
            let total = self
                .agents
                .get(agent_id)
                .map(|a| a.total.clone())
                .ok_or_else(|| format!("Agent {agent_id} is gone"))?;
            let caller = Caller {
                principal: principal.as_deref(),
                roles: Some(&roles),
            };
            let (consumed, produced) = self.conversion(agent_id, &total, &op, caller)?;
            // RESERVE reserves for the role the resources were offered to (Mesos' rule).
            let reserved_for: Vec<&str> = match &op {
                ResourceOperation::Reserve(rs) => {
                    rs.iter().filter_map(|r| r.role.as_deref()).collect()
                }
                _ => Vec::new(),
            };
            let role = pool
                .iter()
                .find(|(role, p)| {
                    p.contains(&consumed) && reserved_for.iter().all(|r| r == role)
                })
                .map(|(role, _)| role.clone())
                .ok_or_else(|| {
                    format!(
                        "Invalid {} operation: the offers (to the role the resources are for) do not hold {}",
                        op.name(),
                        crate::operator::resources_text(&consumed)
                    )
                })?;
            Ok((op, role, consumed, produced))
        })();
        match outcome {
            Err(why) => {
                tracing::warn!(
                    framework = framework_id,
                    agent = agent_id,
                    "operation dropped: {why}"
                );
                false
            }
            Ok((op, role, consumed, produced)) => {
                if let Some(p) = pool.get_mut(&role) {
                    p.subtract(&consumed);
                    p.add(&produced);
                }
                self.convert_resources(agent_id, &consumed, &produced, true);
                tracing::info!(framework = framework_id, agent = agent_id, operation = op.name(),
                    resources = %crate::operator::resources_text(&produced), "operation applied");
                true
            }
        }
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
        // The agent makes a sandbox directory of it: checked by the same rules here.
        if let Some(why) = meseta_api::common::id_problem(id) {
            return Err(format!("Task ID '{}' {why}", shorten(id)));
        }
        if let Some(e) = group_executor.or(task.executor.as_ref())
            && let Some(why) = meseta_api::common::id_problem(&e.executor_id.value)
        {
            return Err(format!(
                "Executor ID '{}' {why}",
                shorten(&e.executor_id.value)
            ));
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

    pub(super) fn new_task(
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
        self.tasks_added(framework_id, &tasks);
        let Some(f) = self.frameworks.get(framework_id) else {
            return;
        };
        let msg = wire::RunTask {
            framework: f.info.clone(),
            framework_id: FrameworkID::new(framework_id),
            executor,
            tasks,
            group,
        };
        self.send_to_agent(agent_id, ToAgent::RunTask(Box::new(msg)));
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
        self.tasks_added(framework_id, &tasks);
        let Some(f) = self.frameworks.get(framework_id) else {
            return;
        };
        let msg = wire::RunTask {
            framework: f.info.clone(),
            framework_id: FrameworkID::new(framework_id),
            executor: Some(executor),
            tasks,
            group: true,
        };
        self.send_to_agent(agent_id, ToAgent::RunTask(Box::new(msg)));
    }

    /// TASK_ADDED for each of `tasks` (just recorded) on the operator streams.
    fn tasks_added(&mut self, framework_id: &str, tasks: &[TaskInfo]) {
        for t in tasks {
            self.operator_event(|core| {
                let framework = core.frameworks.get(framework_id)?;
                let task = framework.tasks.get(&t.task_id.value)?;
                let event = serde_json::json!({"type": "TASK_ADDED",
                    "task_added": { "task": crate::operator::task_v1(task) }});
                Some((event, super::task_event_scope(framework, task)))
            });
        }
    }

    // Task calls ------------------------------------------------------------------------------

    pub(super) fn kill(
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
                ToAgent::KillTask(wire::KillTask {
                    framework_id: FrameworkID::new(framework_id),
                    task_id: TaskID::new(task_id),
                    kill_policy: policy,
                }),
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

    pub(super) fn acknowledge(
        &mut self,
        framework_id: &str,
        agent_id: &str,
        task_id: &str,
        uuid: meseta_api::Bytes,
    ) {
        self.send_to_agent(
            agent_id,
            ToAgent::Acknowledge(wire::AcknowledgeUpdate {
                framework_id: FrameworkID::new(framework_id),
                task_id: TaskID::new(task_id),
                uuid,
            }),
        );
    }

    pub(super) fn reconcile(&mut self, framework_id: &str, reconcile: Reconcile) {
        let now = self.clock.wall;
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
            s.timestamp = Some(now);
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
                s.timestamp = Some(now);
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
            self.send(framework_id, Self::update_event(s));
        }
    }

    pub(super) fn shutdown_executor(
        &mut self,
        framework_id: &str,
        agent_id: &str,
        executor_id: &str,
    ) {
        self.send_to_agent(
            agent_id,
            ToAgent::ShutdownExecutor(wire::ShutdownExecutor {
                framework_id: FrameworkID::new(framework_id),
                executor_id: ExecutorID::new(executor_id),
            }),
        );
    }

    pub(super) fn framework_message(&mut self, framework_id: &str, m: Message) {
        self.metrics.framework_to_executor_messages += 1;
        self.send_to_agent(
            &m.agent_id.value,
            ToAgent::FrameworkMessage(wire::FrameworkToExecutor {
                framework_id: FrameworkID::new(framework_id),
                executor_id: m.executor_id,
                data: m.data,
            }),
        );
    }

    /// A status update from an agent. `false` when the agent is unknown (answered 409: it must register
    /// again).
    pub(super) fn status_update(&mut self, msg: wire::StatusUpdate) -> bool {
        let agent_id = msg.agent_id.value.clone();
        if !self.agents.contains_key(&agent_id) {
            self.metrics.invalid_status_updates += 1;
            return false;
        }
        let fid = msg.framework_id.value.clone();
        // The task's state is the latest the agent knows (Mesos' `latest_state`), which is
        // ahead of this update's when later ones wait behind it; the framework hears the
        // updates one by one.
        let latest = msg.latest_state.unwrap_or(msg.status.state);
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
                let new_state = latest;
                let changed = t.state != new_state || t.statuses.is_empty();
                if changed && !t.state.is_terminal() {
                    t.state = new_state;
                    t.statuses
                        .push((new_state, status.timestamp.unwrap_or(self.clock.wall)));
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
        self.send(&fid, Self::update_event(status));
        true
    }

    pub(super) fn executor_message(&mut self, msg: wire::ExecutorToFramework) {
        self.metrics.executor_to_framework_messages += 1;
        self.send(
            &msg.framework_id.value,
            Event::Message(Message {
                agent_id: msg.agent_id,
                executor_id: msg.executor_id,
                data: msg.data,
            }),
        );
    }

    pub(super) fn executor_exited(&mut self, msg: wire::ExecutorExited) {
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
            Event::Failure(Failure {
                agent_id: Some(msg.agent_id),
                executor_id: Some(msg.executor_id),
                status: Some(msg.status),
            }),
        );
        self.trigger_allocation();
    }
}

/// An id as an error message shows it: the first 64 characters of a long one.
fn shorten(id: &str) -> String {
    match id.char_indices().nth(64) {
        Some((at, _)) => format!("{}... ({} bytes)", &id[..at], id.len()),
        None => id.to_string(),
    }
}
