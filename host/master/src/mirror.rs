//! What the allocator has been told, kept by the master independently of the policy, so that
//! another policy can be given the same state: the roles, the resource kinds added to the slot
//! table, weights and quota, the frameworks
//! (active, suppressed roles), the agents with what each framework holds there in each role
//! (tasks and outstanding offers alike), and the decline filters still running.
//!
//! [`Mirror::apply`] follows every [`AllocatorCall`], [`Mirror::took`] every round's offers.
//! [`Mirror::replay`] turns the state back into calls for a fresh policy: the agents come with
//! their holdings, so nothing held or offered is offered again, and every filter is
//! re-installed by handing its resources back with the time it has left.

use std::collections::BTreeMap;

use meseta_types::Quantities;
use meseta_types::allocation::{
    AgentId, AgentInfo, AgentUsage, FrameworkId, FrameworkInfo, Offer, Options, ResourceKind,
    RoleId,
};

use crate::core::AllocatorCall;

struct MirroredFramework {
    info: FrameworkInfo,
    active: bool,
    suppressed: Vec<RoleId>,
}

struct MirroredAgent {
    info: AgentInfo,
    total: Quantities,
    /// What each (framework, role) holds on the agent: tasks and outstanding offers.
    held: BTreeMap<(FrameworkId, RoleId), Quantities>,
    /// False while an operator has it deactivated (or draining).
    active: bool,
}

/// A decline filter: the framework is not offered `resources` of the agent in the role until
/// `until_ms` (the allocator's clock).
struct Filter {
    resources: Quantities,
    until_ms: u64,
}

/// The allocator's state as the master told it (see the module doc).
#[derive(Default)]
pub struct Mirror {
    options: Option<Options>,
    roles: BTreeMap<RoleId, String>,
    /// The kinds `AddResourceKinds` appended to `options.resource_kinds`, in order.
    added_kinds: Vec<ResourceKind>,
    weights: BTreeMap<RoleId, f64>,
    quotas: BTreeMap<RoleId, (Quantities, Quantities)>,
    frameworks: BTreeMap<FrameworkId, MirroredFramework>,
    agents: BTreeMap<AgentId, MirroredAgent>,
    /// The latest filter per (agent, framework, role).
    filters: BTreeMap<(AgentId, FrameworkId, RoleId), Filter>,
}

impl Mirror {
    /// How many decline filters are in force at `now_ms`, by role name (roles without any are
    /// left out).
    pub fn active_filters(&self, now_ms: u64) -> BTreeMap<String, usize> {
        let mut out: BTreeMap<String, usize> = BTreeMap::new();
        for ((_, _, role), filter) in &self.filters {
            if filter.until_ms > now_ms
                && let Some(name) = self.roles.get(role)
            {
                *out.entry(name.clone()).or_default() += 1;
            }
        }
        out
    }

    /// Follows one call the allocator is given.
    pub fn apply(&mut self, call: &AllocatorCall) {
        match call {
            AllocatorCall::Initialize(options) => self.options = Some(options.clone()),
            AllocatorCall::AddRole { role, name } => {
                self.roles.insert(*role, name.clone());
            }
            AllocatorCall::AddResourceKinds(kinds) => {
                self.added_kinds.extend_from_slice(kinds);
            }
            AllocatorCall::UpdateWeights(weights) => {
                for (role, weight) in weights {
                    self.weights.insert(*role, *weight);
                }
            }
            AllocatorCall::UpdateQuota {
                role,
                guarantees,
                limits,
            } => {
                self.quotas
                    .insert(*role, (guarantees.clone(), limits.clone()));
            }
            AllocatorCall::AddFramework {
                framework,
                info,
                active,
            } => {
                self.frameworks.insert(
                    *framework,
                    MirroredFramework {
                        info: info.clone(),
                        active: *active,
                        suppressed: Vec::new(),
                    },
                );
            }
            AllocatorCall::RemoveFramework(framework) => {
                self.frameworks.remove(framework);
                for agent in self.agents.values_mut() {
                    agent.held.retain(|(f, _), _| f != framework);
                }
                self.filters.retain(|(_, f, _), _| f != framework);
            }
            AllocatorCall::ActivateFramework(framework) => {
                if let Some(f) = self.frameworks.get_mut(framework) {
                    f.active = true;
                }
            }
            AllocatorCall::DeactivateFramework(framework) => {
                if let Some(f) = self.frameworks.get_mut(framework) {
                    f.active = false;
                }
            }
            AllocatorCall::UpdateFramework {
                framework,
                info,
                suppressed,
            } => {
                if let Some(f) = self.frameworks.get_mut(framework) {
                    f.info = info.clone();
                    f.suppressed = suppressed.clone();
                }
            }
            AllocatorCall::AddAgent {
                agent,
                info,
                total,
                used,
            } => {
                let mut held: BTreeMap<(FrameworkId, RoleId), Quantities> = BTreeMap::new();
                for u in used {
                    held.entry((u.framework, u.role))
                        .or_insert_with(|| Quantities::zeros(u.resources.len()))
                        .add(&u.resources);
                }
                self.agents.insert(
                    *agent,
                    MirroredAgent {
                        info: info.clone(),
                        total: total.clone(),
                        held,
                        active: true,
                    },
                );
            }
            AllocatorCall::ActivateAgent(agent) | AllocatorCall::DeactivateAgent(agent) => {
                if let Some(a) = self.agents.get_mut(agent) {
                    a.active = matches!(call, AllocatorCall::ActivateAgent(_));
                }
            }
            AllocatorCall::RemoveAgent(agent) => {
                self.agents.remove(agent);
                self.filters.retain(|(a, _, _), _| a != agent);
            }
            AllocatorCall::UpdateAgent { agent, total } => {
                if let Some(a) = self.agents.get_mut(agent) {
                    a.total = total.clone();
                }
            }
            AllocatorCall::Recover {
                framework,
                agent,
                role,
                resources,
                refuse_seconds,
                now_ms,
            } => {
                if let Some(a) = self.agents.get_mut(agent)
                    && let Some(held) = a.held.get_mut(&(*framework, *role))
                {
                    held.subtract(resources);
                    if held
                        .0
                        .iter()
                        .all(|x| *x <= meseta_types::quantities::EPSILON)
                    {
                        a.held.remove(&(*framework, *role));
                    }
                }
                if let Some(seconds) = refuse_seconds.filter(|s| *s > 0.0) {
                    let until_ms = now_ms.saturating_add((seconds * 1000.0) as u64);
                    self.filters.insert(
                        (*agent, *framework, *role),
                        Filter {
                            resources: resources.clone(),
                            until_ms,
                        },
                    );
                }
            }
            AllocatorCall::Suppress { framework, roles } => {
                if let Some(f) = self.frameworks.get_mut(framework) {
                    for r in roles {
                        if !f.suppressed.contains(r) {
                            f.suppressed.push(*r);
                        }
                    }
                }
            }
            AllocatorCall::Revive { framework, roles } => {
                if let Some(f) = self.frameworks.get_mut(framework) {
                    if roles.is_empty() {
                        f.suppressed.clear();
                    } else {
                        f.suppressed.retain(|r| !roles.contains(r));
                    }
                }
                // Reviving clears the framework's filters (in those roles), as in Mesos.
                self.filters.retain(|(_, f, r), _| {
                    f != framework || !(roles.is_empty() || roles.contains(r))
                });
            }
        }
    }

    /// Follows a round's offers: the offered resources are held by their framework until it
    /// uses or declines them.
    pub fn took(&mut self, offers: &[Offer]) {
        for o in offers {
            if let Some(a) = self.agents.get_mut(&o.agent) {
                a.held
                    .entry((o.framework, o.role))
                    .or_insert_with(|| Quantities::zeros(o.resources.len()))
                    .add(&o.resources);
            }
        }
    }

    /// The calls that give a fresh policy this state at `now_ms`. Each running filter's
    /// resources are counted as held on its agent and then handed back with the time left, so
    /// the new policy holds the same filters.
    pub fn replay(&self, now_ms: u64) -> Vec<AllocatorCall> {
        let mut calls = Vec::new();
        if let Some(options) = &self.options {
            calls.push(AllocatorCall::Initialize(options.clone()));
        }
        for (role, name) in &self.roles {
            calls.push(AllocatorCall::AddRole {
                role: *role,
                name: name.clone(),
            });
        }
        // after the roles (a kind names its reserved role), before anything of the new width
        if !self.added_kinds.is_empty() {
            calls.push(AllocatorCall::AddResourceKinds(self.added_kinds.clone()));
        }
        if !self.weights.is_empty() {
            calls.push(AllocatorCall::UpdateWeights(
                self.weights.iter().map(|(r, w)| (*r, *w)).collect(),
            ));
        }
        for (role, (guarantees, limits)) in &self.quotas {
            calls.push(AllocatorCall::UpdateQuota {
                role: *role,
                guarantees: guarantees.clone(),
                limits: limits.clone(),
            });
        }
        for (id, f) in &self.frameworks {
            calls.push(AllocatorCall::AddFramework {
                framework: *id,
                info: f.info.clone(),
                active: f.active,
            });
            if !f.suppressed.is_empty() {
                calls.push(AllocatorCall::Suppress {
                    framework: *id,
                    roles: f.suppressed.clone(),
                });
            }
        }
        let agents: Vec<AgentId> = self.agents.keys().copied().collect();
        let (adds, filters) = self.agent_calls(&agents, now_ms);
        calls.extend(adds);
        calls.extend(filters);
        calls
    }

    /// The calls that give a policy `agents` as they are (each agent with what is held there),
    /// then their running filters: each filter's resources are counted as held and handed back
    /// with the time it has left. A shadow allocator that removed those agents gets them back
    /// as the live allocator has them.
    pub fn agent_calls(
        &self,
        agents: &[AgentId],
        now_ms: u64,
    ) -> (Vec<AllocatorCall>, Vec<AllocatorCall>) {
        let mut adds = Vec::with_capacity(agents.len());
        let mut filters = Vec::new();
        for id in agents {
            let Some(agent) = self.agents.get(id) else {
                continue;
            };
            let mut used: Vec<AgentUsage> = agent
                .held
                .iter()
                .map(|((framework, role), resources)| AgentUsage {
                    framework: *framework,
                    role: *role,
                    resources: resources.clone(),
                })
                .collect();
            let running = self
                .filters
                .range((*id, FrameworkId::MIN, RoleId::MIN)..=(*id, FrameworkId::MAX, RoleId::MAX))
                .filter(|((_, f, _), filter)| {
                    filter.until_ms > now_ms && self.frameworks.contains_key(f)
                });
            for ((_, framework, role), filter) in running {
                used.push(AgentUsage {
                    framework: *framework,
                    role: *role,
                    resources: filter.resources.clone(),
                });
                filters.push(AllocatorCall::Recover {
                    framework: *framework,
                    agent: *id,
                    role: *role,
                    resources: filter.resources.clone(),
                    refuse_seconds: Some((filter.until_ms - now_ms) as f64 / 1000.0),
                    now_ms,
                });
            }
            adds.push(AllocatorCall::AddAgent {
                agent: *id,
                info: agent.info.clone(),
                total: agent.total.clone(),
                used,
            });
            if !agent.active {
                adds.push(AllocatorCall::DeactivateAgent(*id));
            }
        }
        (adds, filters)
    }

    /// The resource kinds' names, in slot order, the added kinds included, a reserved one as
    /// Mesos writes it (`cpus(eng)`) (empty before `initialize`).
    pub fn resource_names(&self) -> Vec<String> {
        self.options
            .as_ref()
            .map(|o| {
                o.resource_kinds
                    .iter()
                    .chain(&self.added_kinds)
                    .map(|k| match k.reserved_for {
                        Some(role) => format!("{}({})", k.name, self.role_name(role)),
                        None => k.name.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The slots a dominant share counts (not `fairness_excluded`): an added kind counts when
    /// the initial kind of its name and revocability does.
    pub fn fairness_slots(&self) -> Vec<usize> {
        let Some(options) = &self.options else {
            return Vec::new();
        };
        let initial = &options.resource_kinds;
        let fair = |k: usize| !options.fairness_excluded.contains(&(k as u32));
        let added = self.added_kinds.iter().enumerate().filter_map(|(i, k)| {
            let counted = initial
                .iter()
                .position(|b| b.name == k.name && b.revocable == k.revocable)
                .is_none_or(fair);
            counted.then_some(initial.len() + i)
        });
        (0..initial.len())
            .filter(|k| fair(*k))
            .chain(added)
            .collect()
    }

    pub fn role_name(&self, role: RoleId) -> String {
        self.roles
            .get(&role)
            .cloned()
            .unwrap_or_else(|| format!("role {role}"))
    }

    /// A role's weight (1 unless set).
    pub fn weight(&self, role: RoleId) -> f64 {
        self.weights.get(&role).copied().unwrap_or(1.0)
    }

    /// The cluster's total, over every agent.
    pub fn total(&self) -> Quantities {
        let mut total = Quantities::zeros(self.resource_names().len());
        for agent in self.agents.values() {
            total.add(&agent.total);
        }
        total
    }

    /// What each role holds over the cluster (tasks and outstanding offers), and the roles of
    /// the frameworks (with nothing held, they hold zeros).
    pub fn role_holdings(&self) -> BTreeMap<RoleId, Quantities> {
        let slots = self.resource_names().len();
        let mut out: BTreeMap<RoleId, Quantities> = BTreeMap::new();
        for f in self.frameworks.values() {
            for role in &f.info.roles {
                out.entry(*role).or_insert_with(|| Quantities::zeros(slots));
            }
        }
        for agent in self.agents.values() {
            for ((_, role), held) in &agent.held {
                out.entry(*role)
                    .or_insert_with(|| Quantities::zeros(held.len()))
                    .add(held);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use meseta_types::allocation::Sorter;

    #[test]
    fn added_kinds_are_replayed_after_the_roles_and_before_the_agents() {
        let mut m = Mirror::default();
        let calls = [
            AllocatorCall::Initialize(Options {
                resource_kinds: vec![ResourceKind::unreserved("cpus", false)],
                allocation_interval_ms: 1000,
                min_allocatable: vec![],
                fairness_excluded: vec![],
                sorter: Sorter::Drf,
            }),
            AllocatorCall::AddAgent {
                agent: 0,
                info: AgentInfo::default(),
                total: Quantities(vec![4.0]),
                used: vec![],
            },
            AllocatorCall::AddRole {
                role: 1,
                name: "eng".into(),
            },
            AllocatorCall::AddResourceKinds(vec![ResourceKind {
                name: "cpus".into(),
                revocable: false,
                reserved_for: Some(1),
            }]),
            AllocatorCall::UpdateAgent {
                agent: 0,
                total: Quantities(vec![4.0, 2.0]),
            },
        ];
        for call in &calls {
            m.apply(call);
        }
        let replay = m.replay(0);
        let at = |f: &dyn Fn(&AllocatorCall) -> bool| replay.iter().position(f).unwrap();
        let role = at(&|c| matches!(c, AllocatorCall::AddRole { .. }));
        let kinds = at(&|c| matches!(c, AllocatorCall::AddResourceKinds(k) if k.len() == 1));
        let agent =
            at(&|c| matches!(c, AllocatorCall::AddAgent { total, .. } if total.0 == [4.0, 2.0]));
        assert!(role < kinds && kinds < agent, "{role} {kinds} {agent}");
        assert_eq!(m.resource_names(), ["cpus", "cpus(eng)"]);
        assert_eq!(m.fairness_slots(), [0, 1]);
    }
}
