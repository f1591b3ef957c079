//! An allocator module: dominant-share-first allocation of whole agents (the same policy as
//! `examples/python/allocator-share` and `examples/js/allocator-share`).
//!
//! Each round, every active agent with free resources (as much as `min_allocatable` asks) is
//! offered whole to the framework-role pair with the lowest dominant share among those that may
//! take it: the framework is active, the role is not suppressed, and no decline filter covers
//! the agent. Revocable slots go only to frameworks with the revocable-resources capability, and
//! slots reserved for a role only to that role and its sub-roles (`eng/backend` for `eng`). The
//! host checks every offer (known ids, within the agent's free resources, never twice), so the
//! policy keeps exactly the books the host keeps: offers and `used` count as held until
//! `recover_resources` gives them back.
//!
//! Plain Rust against `meseta-types`' `AllocatorPolicy`, tested natively by `cargo test`;
//! `cargo build --release --target wasm32-wasip2` exports it as a component of the `allocator`
//! world (`meseta module wit --kind allocator` prints it).

use std::collections::{BTreeMap, HashMap, HashSet};

use meseta_types::allocation::{
    AgentId, AgentInfo, AgentUsage, AllocatorPolicy, Capabilities, FrameworkId, FrameworkInfo,
    FrameworkUsage, Offer, Options, ResourceKind, RoleId, role_within,
};
use meseta_types::{Create, Parameters, Quantities};

const EPSILON: f64 = 1e-6;

struct Framework {
    roles: Vec<RoleId>,
    revocable: bool,
    active: bool,
    suppressed: HashSet<RoleId>,
}

struct Agent {
    total: Vec<f64>,
    active: bool,
}

#[derive(Default)]
pub struct Policy {
    revocable_slots: Vec<bool>,
    /// Per slot, the role its resources are reserved for (`None`: unreserved).
    reserved_slots: Vec<Option<RoleId>>,
    /// Per slot, the resource's name (`min_allocatable` adds up the slots of a name).
    slot_names: Vec<String>,
    role_names: HashMap<RoleId, String>,
    min_allocatable: Vec<Vec<f64>>,
    excluded: HashSet<usize>,
    frameworks: BTreeMap<FrameworkId, Framework>,
    agents: BTreeMap<AgentId, Agent>,
    /// (agent, framework, role) -> amounts held: offered or in use.
    held: HashMap<(AgentId, FrameworkId, RoleId), Vec<f64>>,
    /// (framework, role, agent) -> when the decline filter expires (ms).
    filters: HashMap<(FrameworkId, RoleId, AgentId), u64>,
    paused: bool,
}

impl Create for Policy {
    /// Called with the manifest's parameters; an error stops the daemon's start, saying why.
    fn create(parameters: &Parameters) -> Result<Self, String> {
        if let Some((key, _)) = parameters.first() {
            return Err(format!("unknown parameter '{key}': this allocator takes none"));
        }
        Ok(Policy::default())
    }
}

impl Policy {
    fn hold(&mut self, agent: AgentId, framework: FrameworkId, role: RoleId, amounts: &[f64]) {
        let n = self.revocable_slots.len();
        let held = self
            .held
            .entry((agent, framework, role))
            .or_insert_with(|| vec![0.0; n]);
        if held.len() < amounts.len() {
            held.resize(amounts.len(), 0.0); // kinds were added since
        }
        for (h, v) in held.iter_mut().zip(amounts) {
            *h += v;
        }
    }

    fn free(&self, agent: AgentId, total: &[f64]) -> Vec<f64> {
        let mut free = total.to_vec();
        for ((a, _, _), held) in &self.held {
            if *a == agent {
                for (f, h) in free.iter_mut().zip(held) {
                    *f -= h;
                }
            }
        }
        free.into_iter()
            .map(|v| if v > EPSILON { v } else { 0.0 })
            .collect()
    }

    fn allocatable(&self, amounts: &[f64]) -> bool {
        if self.min_allocatable.is_empty() {
            return amounts.iter().any(|v| *v > EPSILON);
        }
        // the slots of one name add up (revocable or reserved cpus are cpus)
        let of_name = |slot: usize| -> f64 {
            let name = self.slot_names.get(slot);
            amounts
                .iter()
                .enumerate()
                .filter(|(j, _)| self.slot_names.get(*j) == name)
                .map(|(_, v)| v)
                .sum()
        };
        self.min_allocatable.iter().any(|entry| {
            entry
                .iter()
                .enumerate()
                .all(|(i, m)| *m <= EPSILON || of_name(i) + EPSILON >= *m)
        })
    }

    /// Each framework's dominant share of the cluster's total.
    fn shares(&self) -> HashMap<FrameworkId, f64> {
        let n = self.revocable_slots.len();
        let mut total = vec![0.0; n];
        for a in self.agents.values() {
            for (t, v) in total.iter_mut().zip(&a.total) {
                *t += v;
            }
        }
        let mut used: HashMap<FrameworkId, Vec<f64>> = HashMap::new();
        for ((_, f, _), held) in &self.held {
            let acc = used.entry(*f).or_insert_with(|| vec![0.0; n]);
            for (a, h) in acc.iter_mut().zip(held) {
                *a += h;
            }
        }
        self.frameworks
            .keys()
            .map(|f| {
                let share = used.get(f).map_or(0.0, |acc| {
                    (0..n)
                        .filter(|i| total[*i] > 0.0 && !self.excluded.contains(i))
                        .map(|i| acc[i] / total[i])
                        .fold(0.0, f64::max)
                });
                (*f, share)
            })
            .collect()
    }

    /// Whether `role` may be offered slot `i`: unreserved, or reserved for the role or one of
    /// its ancestors.
    fn may_take(&self, role: RoleId, i: usize) -> bool {
        match self.reserved_slots.get(i).copied().flatten() {
            None => true,
            Some(r) => {
                r == role
                    || matches!(
                        (self.role_names.get(&role), self.role_names.get(&r)),
                        (Some(name), Some(reserved)) if role_within(name, reserved)
                    )
            }
        }
    }

    fn drop_filters(&mut self, keep: impl Fn(&(FrameworkId, RoleId, AgentId)) -> bool) {
        self.filters.retain(|k, _| keep(k));
    }
}

impl AllocatorPolicy for Policy {
    fn initialize(&mut self, options: Options) {
        self.revocable_slots = options.resource_kinds.iter().map(|k| k.revocable).collect();
        self.reserved_slots = options.resource_kinds.iter().map(|k| k.reserved_for).collect();
        self.slot_names = options.resource_kinds.iter().map(|k| k.name.clone()).collect();
        self.min_allocatable = options.min_allocatable.into_iter().map(|q| q.0).collect();
        self.excluded = options.fairness_excluded.iter().map(|i| *i as usize).collect();
    }

    fn add_role(&mut self, role: RoleId, name: &str) {
        self.role_names.insert(role, name.to_string());
    }

    /// New slots (for example reserved for a role): later vectors may be that wide.
    fn add_resource_kinds(&mut self, kinds: &[ResourceKind]) {
        self.revocable_slots.extend(kinds.iter().map(|k| k.revocable));
        self.reserved_slots.extend(kinds.iter().map(|k| k.reserved_for));
        self.slot_names.extend(kinds.iter().map(|k| k.name.clone()));
    }

    fn update_weights(&mut self, _weights: &[(RoleId, f64)]) {}

    fn update_quota(&mut self, _role: RoleId, _guarantees: Quantities, _limits: Quantities) {}

    fn add_framework(
        &mut self,
        framework: FrameworkId,
        info: FrameworkInfo,
        used: &[FrameworkUsage],
        active: bool,
        suppressed_roles: &[RoleId],
    ) {
        self.remove_framework(framework);
        self.frameworks.insert(
            framework,
            Framework {
                roles: info.roles,
                revocable: info.capabilities.has(Capabilities::REVOCABLE_RESOURCES),
                active,
                suppressed: suppressed_roles.iter().copied().collect(),
            },
        );
        for u in used {
            if self.agents.contains_key(&u.agent) {
                self.hold(u.agent, framework, u.role, &u.resources.0);
            }
        }
    }

    fn remove_framework(&mut self, framework: FrameworkId) {
        self.frameworks.remove(&framework);
        self.held.retain(|(_, f, _), _| *f != framework);
        self.drop_filters(|(f, _, _)| *f != framework);
    }

    fn activate_framework(&mut self, framework: FrameworkId) {
        if let Some(f) = self.frameworks.get_mut(&framework) {
            f.active = true;
        }
    }

    fn deactivate_framework(&mut self, framework: FrameworkId) {
        if let Some(f) = self.frameworks.get_mut(&framework) {
            f.active = false;
        }
        // as in Mesos, a deactivated framework's filters go
        self.drop_filters(|(f, _, _)| *f != framework);
    }

    fn update_framework(
        &mut self,
        framework: FrameworkId,
        info: FrameworkInfo,
        suppressed_roles: &[RoleId],
    ) {
        if let Some(f) = self.frameworks.get_mut(&framework) {
            f.revocable = info.capabilities.has(Capabilities::REVOCABLE_RESOURCES);
            f.roles = info.roles;
            f.suppressed = suppressed_roles.iter().copied().collect();
        }
    }

    fn add_agent(
        &mut self,
        agent: AgentId,
        _info: AgentInfo,
        total: Quantities,
        used: &[AgentUsage],
    ) {
        self.remove_agent(agent);
        self.agents.insert(
            agent,
            Agent {
                total: total.0,
                active: true,
            },
        );
        for u in used {
            self.hold(agent, u.framework, u.role, &u.resources.0);
        }
    }

    fn remove_agent(&mut self, agent: AgentId) {
        self.agents.remove(&agent);
        self.held.retain(|(a, _, _), _| *a != agent);
        self.drop_filters(|(_, _, a)| *a != agent);
    }

    fn activate_agent(&mut self, agent: AgentId) {
        if let Some(a) = self.agents.get_mut(&agent) {
            a.active = true;
        }
    }

    fn deactivate_agent(&mut self, agent: AgentId) {
        if let Some(a) = self.agents.get_mut(&agent) {
            a.active = false;
        }
    }

    fn update_agent(&mut self, agent: AgentId, total: Quantities) {
        if let Some(a) = self.agents.get_mut(&agent) {
            a.total = total.0;
        }
    }

    fn recover_resources(
        &mut self,
        framework: FrameworkId,
        agent: AgentId,
        role: RoleId,
        resources: Quantities,
        refuse_seconds: Option<f64>,
        now_ms: u64,
    ) {
        if let Some(held) = self.held.get_mut(&(agent, framework, role)) {
            for (h, v) in held.iter_mut().zip(&resources.0) {
                *h = (*h - v).max(0.0);
            }
            if held.iter().all(|v| *v <= EPSILON) {
                self.held.remove(&(agent, framework, role));
            }
        }
        if let Some(seconds) = refuse_seconds.filter(|s| *s > 0.0)
            && self.frameworks.contains_key(&framework)
            && self.agents.contains_key(&agent)
        {
            let expires = now_ms.saturating_add((seconds * 1000.0) as u64);
            self.filters.insert((framework, role, agent), expires);
        }
    }

    fn suppress(&mut self, framework: FrameworkId, roles: &[RoleId]) {
        if let Some(f) = self.frameworks.get_mut(&framework) {
            let roles = if roles.is_empty() { &f.roles[..] } else { roles };
            f.suppressed.extend(roles.iter().copied());
        }
    }

    fn revive(&mut self, framework: FrameworkId, roles: &[RoleId]) {
        let Some(f) = self.frameworks.get_mut(&framework) else {
            return;
        };
        let revived: HashSet<RoleId> = if roles.is_empty() {
            f.roles.iter().copied().collect()
        } else {
            roles.iter().copied().collect()
        };
        f.suppressed.retain(|r| !revived.contains(r));
        self.drop_filters(|(f, r, _)| *f != framework || !revived.contains(r));
    }

    fn pause(&mut self) {
        self.paused = true;
    }

    fn resume(&mut self) {
        self.paused = false;
    }

    fn allocate(&mut self, now_ms: u64) -> Vec<Offer> {
        let mut offers = Vec::new();
        if self.paused {
            return offers;
        }
        self.filters.retain(|_, expires| *expires > now_ms);
        let mut shares = self.shares();
        let agents: Vec<(AgentId, Vec<f64>)> = self
            .agents
            .iter()
            .filter(|(_, a)| a.active)
            .map(|(id, a)| (*id, a.total.clone()))
            .collect();
        for (agent, total) in agents {
            let free = self.free(agent, &total);
            let mut candidates: Vec<(f64, FrameworkId, RoleId)> = Vec::new();
            for (id, f) in self.frameworks.iter().filter(|(_, f)| f.active) {
                for role in &f.roles {
                    if !f.suppressed.contains(role)
                        && !self.filters.contains_key(&(*id, *role, agent))
                    {
                        candidates.push((shares.get(id).copied().unwrap_or(0.0), *id, *role));
                    }
                }
            }
            candidates.sort_by(|a, b| a.0.total_cmp(&b.0).then((a.1, a.2).cmp(&(b.1, b.2))));
            for (_, framework, role) in candidates {
                let revocable = self.frameworks.get(&framework).is_some_and(|f| f.revocable);
                let amounts: Vec<f64> = free
                    .iter()
                    .zip(&self.revocable_slots)
                    .enumerate()
                    .map(|(i, (v, r))| {
                        if (*r && !revocable) || !self.may_take(role, i) {
                            0.0
                        } else {
                            *v
                        }
                    })
                    .collect();
                if !self.allocatable(&amounts) {
                    continue;
                }
                self.hold(agent, framework, role, &amounts);
                offers.push(Offer {
                    framework,
                    role,
                    agent,
                    resources: Quantities(amounts),
                });
                shares = self.shares();
                break;
            }
        }
        offers
    }
}

#[cfg(target_arch = "wasm32")]
meseta_sdk::export_allocator!(Policy);

#[cfg(test)]
mod tests {
    use super::*;
    use meseta_types::allocation::Sorter;

    fn cluster() -> Policy {
        let mut p = Policy::create(&[]).unwrap();
        let kind = |name: &str| ResourceKind {
            name: name.into(),
            revocable: false,
            reserved_for: None,
        };
        p.initialize(Options {
            resource_kinds: vec![kind("cpus"), kind("mem")],
            allocation_interval_ms: 1000,
            min_allocatable: vec![Quantities(vec![0.01, 32.0])],
            fairness_excluded: vec![],
            sorter: Sorter::Drf,
        });
        for agent in [0, 1] {
            p.add_agent(agent, AgentInfo::default(), Quantities(vec![4.0, 4096.0]), &[]);
        }
        for framework in [0, 1] {
            let info = FrameworkInfo {
                name: format!("f{framework}"),
                roles: vec![0],
                capabilities: Capabilities(0),
            };
            p.add_framework(framework, info, &[], true, &[]);
        }
        p
    }

    #[test]
    fn each_agent_goes_whole_to_the_lowest_dominant_share() {
        let offers = cluster().allocate(0);
        let got: Vec<_> = offers
            .iter()
            .map(|o| (o.framework, o.agent, o.resources.0.clone()))
            .collect();
        assert_eq!(got, vec![(0, 0, vec![4.0, 4096.0]), (1, 1, vec![4.0, 4096.0])]);
    }

    #[test]
    fn offered_resources_are_not_offered_again_until_recovered() {
        let mut p = cluster();
        p.allocate(0);
        assert!(p.allocate(1000).is_empty());
        p.recover_resources(0, 0, 0, Quantities(vec![4.0, 4096.0]), None, 1000);
        assert_eq!(p.allocate(2000).len(), 1);
    }

    #[test]
    fn a_decline_filter_holds_until_it_expires() {
        let mut p = cluster();
        p.remove_framework(1);
        p.allocate(0);
        for agent in [0, 1] {
            p.recover_resources(0, agent, 0, Quantities(vec![4.0, 4096.0]), Some(1.0), 0);
        }
        assert!(p.allocate(500).is_empty());
        assert_eq!(p.allocate(1000).len(), 2);
    }

    #[test]
    fn slots_reserved_for_another_role_are_not_offered() {
        let mut p = cluster();
        p.add_role(0, "ops");
        p.add_role(1, "eng");
        p.add_resource_kinds(&[ResourceKind {
            name: "cpus".into(),
            revocable: false,
            reserved_for: Some(1),
        }]);
        p.update_agent(0, Quantities(vec![4.0, 4096.0, 2.0]));
        let offers = p.allocate(0);
        assert_eq!(offers.len(), 2);
        assert!(offers.iter().all(|o| o.resources.0.get(2).copied().unwrap_or(0.0) == 0.0));
        // a framework in eng, alone: agent 0 whole, its reserved cpus included
        p.remove_framework(0);
        p.remove_framework(1);
        let info = FrameworkInfo {
            name: "eng".into(),
            roles: vec![1],
            capabilities: Capabilities(0),
        };
        p.add_framework(2, info, &[], true, &[]);
        let offers = p.allocate(1000);
        let got: Vec<_> = offers
            .iter()
            .map(|o| (o.framework, o.agent, o.resources.0.clone()))
            .collect();
        assert_eq!(
            got,
            vec![(2, 0, vec![4.0, 4096.0, 2.0]), (2, 1, vec![4.0, 4096.0])]
        );
    }
}
