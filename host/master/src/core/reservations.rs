//! Reservations and persistent volumes: RESERVE, UNRESERVE, CREATE and DESTROY, from a
//! framework's ACCEPT (on the offered resources) and from operators (`/master/reserve` and the
//! operator calls, on the agent's free resources).
//!
//! An operation is a conversion: it takes some resources of an agent and gives back the same
//! amounts with another flavor (reserved, unreserved, a volume, plain disk). The master applies
//! it to the agent's total, sends the agent its whole checkpointed set (Mesos'
//! `CheckpointResourcesMessage`: every dynamic reservation and volume), and tells the allocator
//! the agent again (`resync_agent`): the allocator contract has no "update allocation" call, so
//! the agent is removed and added back with its new total and what each framework holds on it.
//! Agents are the source of truth after a restart: they register with their checkpointed total.

use std::collections::BTreeMap;

use meseta_api::internal as wire;
use meseta_api::scheduler::OperationKind;
use meseta_types::allocation as alloc;
use meseta_types::resources::{ReservationKind, Resource};

use super::{AllocatorCall, Core, MasterError, Result, ToAgent, validate_role};
use crate::resources::{Flavor, ResourceSet};

/// A resource operation with its resources in the domain model.
#[derive(Clone, Debug, PartialEq)]
pub enum ResourceOperation {
    Reserve(Vec<Resource>),
    Unreserve(Vec<Resource>),
    Create(Vec<Resource>),
    Destroy(Vec<Resource>),
}

impl ResourceOperation {
    /// The operation of an ACCEPT's `kind`; `None` for LAUNCH and the others.
    pub fn from_kind(kind: &OperationKind) -> Option<std::result::Result<Self, String>> {
        let (name, list, make): (&str, _, fn(Vec<Resource>) -> Self) = match kind {
            OperationKind::Reserve(r) => ("RESERVE", &r.resources, ResourceOperation::Reserve),
            OperationKind::Unreserve(r) => {
                ("UNRESERVE", &r.resources, ResourceOperation::Unreserve)
            }
            OperationKind::Create(c) => ("CREATE", &c.volumes, ResourceOperation::Create),
            OperationKind::Destroy(d) => ("DESTROY", &d.volumes, ResourceOperation::Destroy),
            _ => return None,
        };
        Some(Self::parse(name, list).map(make))
    }

    /// Wire resources in the domain model, named in the error by the operation.
    pub fn parse(
        name: &str,
        list: &[meseta_api::common::Resource],
    ) -> std::result::Result<Vec<Resource>, String> {
        if list.is_empty() {
            return Err(format!("Invalid {name} operation: no resources given"));
        }
        meseta_api::convert::resources_from_wire(list)
            .map_err(|e| format!("Invalid {name} operation: {}", e.0))
    }

    pub fn name(&self) -> &'static str {
        match self {
            ResourceOperation::Reserve(_) => "RESERVE",
            ResourceOperation::Unreserve(_) => "UNRESERVE",
            ResourceOperation::Create(_) => "CREATE",
            ResourceOperation::Destroy(_) => "DESTROY",
        }
    }

    pub fn resources(&self) -> &[Resource] {
        match self {
            ResourceOperation::Reserve(r)
            | ResourceOperation::Unreserve(r)
            | ResourceOperation::Create(r)
            | ResourceOperation::Destroy(r) => r,
        }
    }
}

/// Who asks for an operation.
#[derive(Clone, Copy, Debug)]
pub struct Caller<'a> {
    /// The authenticated principal (a framework's `principal`), if any.
    pub principal: Option<&'a str>,
    /// A framework's roles; `None` for an operator.
    pub roles: Option<&'a [String]>,
}

fn is_ancestor_or_self(ancestor: &str, role: &str) -> bool {
    role == ancestor
        || role
            .strip_prefix(ancestor)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The resource with its innermost reservation popped.
fn popped(r: &Resource) -> Resource {
    let mut stack = r.stack();
    stack.pop();
    r.clone().with_stack(stack)
}

fn set_of(r: Resource) -> ResourceSet {
    ResourceSet::from_resources(&[r])
}

/// The dynamic reservations and volumes of an agent's total: what it checkpoints.
pub fn checkpointed(total: &ResourceSet) -> ResourceSet {
    total.filter(|f: &Flavor| {
        f.volume.is_some()
            || f.reservations
                .iter()
                .any(|r| r.kind == ReservationKind::Dynamic)
    })
}

impl Core {
    /// What `op` takes from an agent's resources and what it gives back, checked as Mesos'
    /// validation does. `total` is the agent's total as it would be when the operation runs
    /// (earlier operations of the same ACCEPT applied).
    pub(super) fn conversion(
        &self,
        agent_id: &str,
        total: &ResourceSet,
        op: &ResourceOperation,
        caller: Caller<'_>,
    ) -> std::result::Result<(ResourceSet, ResourceSet), String> {
        let name = op.name();
        let mut consumed = ResourceSet::default();
        let mut produced = ResourceSet::default();
        let role_allowed = |role: &str| {
            caller
                .roles
                .is_none_or(|roles| roles.iter().any(|r| is_ancestor_or_self(role, r)))
        };
        for r in op.resources() {
            let what = format!("Invalid {name} operation on '{}'", r.name);
            let stack = r.stack();
            match op {
                ResourceOperation::Reserve(_) => {
                    let Some(top) = stack.last() else {
                        return Err(format!(
                            "{what}: the resource has no reservation (give 'reservations' with a DYNAMIC entry for the role, or 'role' with 'reservation')"
                        ));
                    };
                    if top.kind != ReservationKind::Dynamic {
                        return Err(format!("{what}: its innermost reservation must be DYNAMIC"));
                    }
                    validate_role(&top.role)
                        .map_err(|e| format!("{what}: role '{}': {e}", top.role))?;
                    if top.role == "*" {
                        return Err(format!("{what}: resources cannot be reserved for role '*'"));
                    }
                    if r.revocable {
                        return Err(format!("{what}: revocable resources cannot be reserved"));
                    }
                    if r.disk.is_some() {
                        return Err(format!(
                            "{what}: a persistent volume cannot be reserved (reserve the disk, then CREATE the volume)"
                        ));
                    }
                    if let Some(p) = caller.principal
                        && top.principal.as_deref() != Some(p)
                    {
                        return Err(format!(
                            "{what}: the reservation's principal {:?} does not match the caller's principal '{p}'",
                            top.principal.as_deref().unwrap_or("")
                        ));
                    }
                    if let Some(roles) = caller.roles
                        && !roles.contains(&top.role)
                    {
                        return Err(format!(
                            "{what}: role '{}' is not one of the framework's roles ({})",
                            top.role,
                            roles.join(", ")
                        ));
                    }
                    if let Some(parent) = stack.len().checked_sub(2).and_then(|i| stack.get(i))
                        && !is_ancestor_or_self(&parent.role, &top.role)
                    {
                        return Err(format!(
                            "{what}: a reservation for '{}' can only refine one for an ancestor role, not '{}'",
                            top.role, parent.role
                        ));
                    }
                    consumed.add(&set_of(popped(r)));
                    produced.add(&set_of(r.clone()));
                }
                ResourceOperation::Unreserve(_) => {
                    if stack
                        .last()
                        .is_none_or(|t| t.kind != ReservationKind::Dynamic)
                    {
                        return Err(format!(
                            "{what}: only dynamically reserved resources can be unreserved"
                        ));
                    }
                    if r.disk.is_some() {
                        return Err(format!(
                            "{what}: a persistent volume cannot be unreserved (DESTROY it first)"
                        ));
                    }
                    consumed.add(&set_of(r.clone()));
                    produced.add(&set_of(popped(r)));
                }
                ResourceOperation::Create(_) => {
                    let Some(volume) = &r.disk else {
                        return Err(format!(
                            "{what}: a volume needs 'disk.persistence' (its id) and 'disk.volume' (its container_path)"
                        ));
                    };
                    if r.name != "disk" {
                        return Err(format!("{what}: only 'disk' can hold a persistent volume"));
                    }
                    let Some(role) = stack.last().map(|t| t.role.clone()) else {
                        return Err(format!(
                            "{what}: persistent volumes cannot be created from unreserved resources (RESERVE the disk for a role first)"
                        ));
                    };
                    let path = &volume.container_path;
                    if path.is_empty()
                        || path.starts_with('/')
                        || path.split('/').any(|p| p == "..")
                    {
                        return Err(format!(
                            "{what}: container_path '{path}' must be a relative path inside the sandbox, without '..'"
                        ));
                    }
                    if !role_allowed(&role) {
                        return Err(format!(
                            "{what}: the volume's role '{role}' is not one of the framework's roles or their ancestors"
                        ));
                    }
                    if let Some(p) = caller.principal
                        && volume.principal.as_deref() != Some(p)
                    {
                        return Err(format!(
                            "{what}: 'disk.persistence.principal' must be the caller's principal '{p}'"
                        ));
                    }
                    let taken = total
                        .volumes()
                        .chain(produced.volumes())
                        .any(|(f, v, _)| v.id == volume.id && f.role() == Some(role.as_str()));
                    if taken {
                        return Err(format!(
                            "{what}: a persistent volume with id '{}' already exists for role '{role}' on agent {agent_id}",
                            volume.id
                        ));
                    }
                    let mut plain = r.clone();
                    plain.disk = None;
                    consumed.add(&set_of(plain));
                    produced.add(&set_of(r.clone()));
                }
                ResourceOperation::Destroy(_) => {
                    let Some(volume) = &r.disk else {
                        return Err(format!("{what}: the resource is not a persistent volume"));
                    };
                    let key = set_of(r.clone());
                    if !total.contains(&key) {
                        return Err(format!(
                            "{what}: persistent volume '{}' not found on agent {agent_id}",
                            volume.id
                        ));
                    }
                    if self.volume_in_use(agent_id, &key) {
                        return Err(format!(
                            "{what}: persistent volume '{}' is in use by a task",
                            volume.id
                        ));
                    }
                    let mut plain = r.clone();
                    plain.disk = None;
                    consumed.add(&key);
                    produced.add(&set_of(plain));
                }
            }
        }
        Ok((consumed, produced))
    }

    /// Whether a task or executor on the agent holds any of `volumes`.
    fn volume_in_use(&self, agent_id: &str, volumes: &ResourceSet) -> bool {
        let uses = |held: &ResourceSet| {
            held.volumes()
                .any(|(f, _, _)| volumes.volumes().any(|(g, _, _)| f == g))
        };
        self.frameworks.values().any(|f| {
            f.tasks
                .values()
                .any(|t| t.agent_id == agent_id && uses(&t.resources))
                || f.executors
                    .iter()
                    .any(|((a, _), (_, res))| a == agent_id && uses(res))
        })
    }

    /// Applies a checked conversion to the agent's total (and to what is allocated on it, for
    /// resources a framework holds), then checkpoints the agent's resources on it.
    pub(super) fn convert_resources(
        &mut self,
        agent_id: &str,
        consumed: &ResourceSet,
        produced: &ResourceSet,
        allocated: bool,
    ) {
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return;
        };
        agent.total.subtract(consumed);
        agent.total.add(produced);
        if allocated {
            agent.allocated.subtract(consumed);
            agent.allocated.add(produced);
        }
        let resources =
            meseta_api::convert::resources_to_wire(&checkpointed(&agent.total).to_resources());
        self.send_to_agent(
            agent_id,
            ToAgent::CheckpointResources(wire::CheckpointResources { resources }),
        );
    }

    /// Gives the allocator the slots of every role `set` holds reservations for.
    pub(super) fn reservation_slots(&mut self, set: &ResourceSet) {
        for role in set.by_reservation_role().into_keys() {
            let added = self.slots.reserve_role(&role);
            if added.is_empty() {
                continue;
            }
            let handle = self.role_handle(&role);
            let kinds = added
                .into_iter()
                .map(|s| alloc::ResourceKind {
                    name: s.name,
                    revocable: s.revocable,
                    reserved_for: Some(handle),
                })
                .collect();
            self.allocator(AllocatorCall::AddResourceKinds(kinds));
        }
    }

    /// The allocator learns the agent again: removed, then added with its current total and
    /// what each framework holds there (tasks, executors, outstanding offers, and `held`:
    /// resources of an ACCEPT being handled). A deactivated agent stays deactivated.
    pub(super) fn resync_agent(&mut self, agent_id: &str, held: &[(String, String, ResourceSet)]) {
        let Some(agent) = self.agents.get(agent_id) else {
            return;
        };
        let (handle, total) = (agent.handle, agent.total.clone());
        let info = alloc::AgentInfo {
            hostname: agent.info.hostname.clone(),
            attributes: agent
                .info
                .attributes
                .iter()
                .map(|a| (a.name.clone(), crate::operator::attribute_text(a)))
                .collect(),
        };
        self.reservation_slots(&total);
        let mut usage: BTreeMap<(String, String), ResourceSet> = BTreeMap::new();
        for f in self.frameworks.values() {
            for t in f.tasks.values().filter(|t| t.agent_id == agent_id) {
                usage
                    .entry((f.id.clone(), t.role.clone()))
                    .or_default()
                    .add(&t.resources);
            }
            let role = f.roles.first().cloned().unwrap_or_else(|| "*".into());
            for ((a, _), (_, res)) in &f.executors {
                if a == agent_id {
                    usage
                        .entry((f.id.clone(), role.clone()))
                        .or_default()
                        .add(res);
                }
            }
        }
        for o in self.offers.values().filter(|o| o.agent_id == agent_id) {
            usage
                .entry((o.framework_id.clone(), o.role.clone()))
                .or_default()
                .add(&o.resources);
        }
        for (fid, role, res) in held {
            usage
                .entry((fid.clone(), role.clone()))
                .or_default()
                .add(res);
        }
        let mut used = Vec::new();
        for ((fid, role), res) in usage {
            let Some(fh) = self.frameworks.get(&fid).map(|f| f.handle) else {
                continue;
            };
            used.push(alloc::AgentUsage {
                framework: fh,
                role: self.role_handle(&role),
                resources: self.slots.quantities(&res),
            });
        }
        let q = self.slots.quantities(&total);
        self.allocator(AllocatorCall::RemoveAgent(handle));
        self.allocator(AllocatorCall::AddAgent {
            agent: handle,
            info,
            total: q,
            used,
        });
        if self.agent_drains.contains_key(agent_id) {
            self.allocator(AllocatorCall::DeactivateAgent(handle));
        }
    }

    /// An operator's RESERVE_RESOURCES, UNRESERVE_RESOURCES, CREATE_VOLUMES or
    /// DESTROY_VOLUMES on an agent's free resources. Offers on the agent are rescinded (with
    /// Mesos' 5 s filter) until the operation is covered; `Conflict` when it still is not.
    pub(super) fn operate(
        &mut self,
        agent_id: &str,
        op: &ResourceOperation,
        principal: Option<&str>,
    ) -> Result<()> {
        let Some(agent) = self.agents.get(agent_id) else {
            return Err(MasterError::Invalid(format!(
                "No agent found with specified ID '{agent_id}'"
            )));
        };
        let caller = Caller {
            principal,
            roles: None,
        };
        let (consumed, produced) = self
            .conversion(agent_id, &agent.total.clone(), op, caller)
            .map_err(MasterError::Invalid)?;
        let free = |core: &Core| {
            core.agents.get(agent_id).map(|a| {
                let mut free = a.total.clone();
                free.subtract(&a.allocated);
                free
            })
        };
        if !free(self).is_some_and(|f| f.contains(&consumed)) {
            for id in self.agent_offer_ids(agent_id) {
                self.remove_offer(&id, Some(5.0), true);
                if free(self).is_some_and(|f| f.contains(&consumed)) {
                    break;
                }
            }
        }
        if !free(self).is_some_and(|f| f.contains(&consumed)) {
            return Err(MasterError::Conflict(format!(
                "Invalid {} operation: the agent's free resources do not hold {} (in use by tasks or not there)",
                op.name(),
                crate::operator::resources_text(&consumed)
            )));
        }
        self.convert_resources(agent_id, &consumed, &produced, false);
        self.resync_agent(agent_id, &[]);
        tracing::info!(agent = agent_id, operation = op.name(), resources = %crate::operator::resources_text(&produced), "operator operation applied");
        self.trigger_allocation();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_are_path_prefixes() {
        assert!(is_ancestor_or_self("eng", "eng"));
        assert!(is_ancestor_or_self("eng", "eng/backend"));
        assert!(!is_ancestor_or_self("eng", "engineering"));
        assert!(!is_ancestor_or_self("eng/backend", "eng"));
    }
}
