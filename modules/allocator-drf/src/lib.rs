//! `allocator-drf`: Meseta's default allocator, Dominant Resource Fairness over
//! (framework, role) pairs, as in Mesos' hierarchical DRF allocator.
//!
//! # Policy
//!
//! Each allocation round visits every active agent that has free resources (its total minus
//! what is allocated: offers grow the allocation, `recover_resources` shrinks it) and offers them
//! to the client, a (framework, role) pair, with the lowest dominant share. A client's share is
//! the largest, over the slots not excluded from fairness, of its allocation divided by the
//! cluster's total (the sum of every added agent's total), divided by the role's weight (default
//! 1). Ties go to the lower framework id, then the lower role id. A client takes everything on
//! the agent it may take; what it may not take (revocable resources, quota) goes on to the next
//! client, so one agent may produce several offers. A client is skipped when:
//!
//! * its framework is inactive, or suppressed in that role;
//! * the candidate is revocable-only and the framework lacks `REVOCABLE_RESOURCES` (revocable
//!   slots are only offered to frameworks with that capability);
//! * a decline filter covers the candidate (below);
//! * the candidate does not pass `min_allocatable`: it must meet every amount of at least one
//!   entry (revocable and regular slots of the same resource name count together, as in Mesos);
//!   with no entries any non-empty candidate passes.
//!
//! **Decline filters** follow Mesos: `recover_resources` with `refuse_seconds = Some(s)`, `s > 0`,
//! creates a filter for (framework, role, agent) with timeout `max(allocation_interval, s)`
//! capped at 365 days. It blocks offers on that agent to that client while the candidate is
//! contained in the refused resources, until `now_ms` reaches its expiry. `None` or `s <= 0`
//! creates no filter. `revive` clears the filters of the revived roles; deactivating or removing
//! the framework, or removing the agent, clears its filters too.
//!
//! **Quota**: the limits of `update_quota` are kept per top-level role (a role `a/b` counts
//! against the quota of `a`) and an offer is clipped so the role's allocation never exceeds them.
//! Revocable slots are not subject to quota, as in Mesos. Guarantees are accepted but ignored:
//! this allocator has no first, guarantee-satisfying stage and does not hold back headroom.
//!
//! `Sorter::Random` is not implemented: the allocator always sorts by DRF. A paused allocator
//! makes no offers.
//!
//! # Cost
//!
//! Eligible clients live in a `BTreeSet` ordered by (share, framework, role). A client's key is
//! updated when its allocation changes; the set is rebuilt only when every share changes at once
//! (agents added, removed or resized, weights changed), at the next round. A round therefore
//! costs O(agents × log clients) when the first client in order takes an agent, plus one step
//! per client skipped (filtered, suppressed in the candidate's terms, or clipped to nothing).
//!
//! The policy is plain Rust (`DrfAllocator`), linked natively by the host as the built-in
//! allocator and benchmark baseline; for `wasm32` the crate also exports it as an `allocator`
//! component.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Bound::{Excluded, Unbounded};

use meseta_types::allocation::{
    AgentId, AgentInfo, AgentUsage, AllocatorPolicy, Capabilities, FrameworkId, FrameworkInfo,
    FrameworkUsage, Offer, Options, RoleId,
};
use meseta_types::quantities::EPSILON;
use meseta_types::{Create, Parameters, Quantities};

/// The longest decline filter, as in Mesos (365 days).
pub const MAX_FILTER_MS: u64 = 365 * 24 * 60 * 60 * 1000;

/// A (framework, role) pair: the unit DRF sorts.
pub type Client = (FrameworkId, RoleId);

/// A dominant share, totally ordered.
#[derive(Clone, Copy, Debug)]
struct Share(f64);

impl PartialEq for Share {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Share {}

impl PartialOrd for Share {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Share {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// A client's place in the sort order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    share: Share,
    framework: FrameworkId,
    role: RoleId,
}

#[derive(Clone, Debug)]
struct Role {
    /// The top-level role the quota of this role is kept under.
    top: String,
    weight: f64,
}

#[derive(Clone, Debug)]
struct Framework {
    roles: Vec<RoleId>,
    revocable: bool,
    active: bool,
    suppressed: HashSet<RoleId>,
}

#[derive(Clone, Debug, Default)]
struct ClientState {
    allocated: Quantities,
    /// The client's key in the queue, when it is eligible.
    queued: Option<Key>,
}

#[derive(Clone, Debug)]
struct Agent {
    total: Quantities,
    allocated: Quantities,
    active: bool,
    by_client: HashMap<Client, Quantities>,
}

impl Agent {
    fn free(&self) -> Quantities {
        let mut free = self.total.clone();
        free.subtract(&self.allocated);
        free
    }
}

#[derive(Clone, Debug)]
struct Filter {
    refused: Quantities,
    expires_ms: u64,
}

/// The DRF allocator.
#[derive(Clone, Debug, Default)]
pub struct DrfAllocator {
    /// Per slot: whether it holds revocable resources.
    revocable: Vec<bool>,
    /// Per slot: whether it counts towards the dominant share.
    fair: Vec<bool>,
    /// Per slot: the index of its resource name (min-allocatable merges revocable and regular).
    group: Vec<usize>,
    groups: usize,
    interval_ms: u64,
    min_allocatable: Vec<Quantities>,
    paused: bool,
    /// Sum of every agent's total.
    total: Quantities,
    roles: HashMap<RoleId, Role>,
    /// Quota limits by top-level role name.
    limits: HashMap<String, Quantities>,
    /// Allocation by top-level role name.
    consumed: HashMap<String, Quantities>,
    frameworks: HashMap<FrameworkId, Framework>,
    clients: HashMap<Client, ClientState>,
    queue: BTreeSet<Key>,
    /// Every share changed (cluster total or weights): rebuild the queue before the next round.
    dirty: bool,
    agents: BTreeMap<AgentId, Agent>,
    filters: HashMap<Client, HashMap<AgentId, Vec<Filter>>>,
}

impl Create for DrfAllocator {
    fn create(parameters: &Parameters) -> Result<Self, String> {
        if let Some((key, _)) = parameters.first() {
            return Err(format!("allocator-drf takes no parameters, got '{key}'"));
        }
        Ok(DrfAllocator::default())
    }
}

fn top_level(name: &str) -> String {
    name.split('/').next().unwrap_or(name).to_string()
}

impl DrfAllocator {
    /// A new allocator (the same as `create` with no parameters).
    pub fn new() -> Self {
        Self::default()
    }

    /// The dominant share of a client (0 for an unknown one), against the cluster total of the
    /// last allocation round.
    pub fn share(&self, framework: FrameworkId, role: RoleId) -> f64 {
        self.clients
            .get(&(framework, role))
            .map_or(0.0, |c| self.share_of(role, &c.allocated))
    }

    /// What the client holds now, over every agent.
    pub fn allocation(&self, framework: FrameworkId, role: RoleId) -> Quantities {
        self.clients
            .get(&(framework, role))
            .map(|c| c.allocated.clone())
            .unwrap_or_default()
    }

    /// An agent's free resources (total minus allocated), if it is known.
    pub fn free(&self, agent: AgentId) -> Option<Quantities> {
        self.agents.get(&agent).map(Agent::free)
    }

    fn share_of(&self, role: RoleId, allocated: &Quantities) -> f64 {
        let mut share: f64 = 0.0;
        for (i, amount) in allocated.0.iter().enumerate() {
            let total = self.total.get(i);
            if total > EPSILON && self.fair.get(i).copied().unwrap_or(true) {
                share = share.max(amount / total);
            }
        }
        share / self.roles.get(&role).map_or(1.0, |r| r.weight)
    }

    fn top_of(&self, role: RoleId) -> String {
        match self.roles.get(&role) {
            Some(r) => r.top.clone(),
            None => format!("#{role}"),
        }
    }

    fn eligible(&self, (framework, role): Client) -> bool {
        self.frameworks
            .get(&framework)
            .is_some_and(|f| f.active && f.roles.contains(&role) && !f.suppressed.contains(&role))
    }

    /// Puts the client at its place in the queue, or takes it out when it is not eligible.
    fn requeue(&mut self, client: Client) {
        if let Some(old) = self.clients.get_mut(&client).and_then(|c| c.queued.take()) {
            self.queue.remove(&old);
        }
        if self.dirty || !self.eligible(client) {
            return;
        }
        let share = self
            .clients
            .get(&client)
            .map_or(0.0, |c| self.share_of(client.1, &c.allocated));
        let key = Key {
            share: Share(share),
            framework: client.0,
            role: client.1,
        };
        self.clients.entry(client).or_default().queued = Some(key);
        self.queue.insert(key);
    }

    fn requeue_framework(&mut self, framework: FrameworkId, roles: &[RoleId]) {
        for &role in roles {
            self.requeue((framework, role));
        }
    }

    /// Recomputes the cluster total and every eligible client's key.
    fn rebuild(&mut self) {
        let mut total = Quantities::zeros(self.revocable.len());
        for agent in self.agents.values() {
            total.add(&agent.total);
        }
        self.total = total;
        self.queue.clear();
        for state in self.clients.values_mut() {
            state.queued = None;
        }
        self.dirty = false;
        let clients: Vec<Client> = self
            .frameworks
            .iter()
            .flat_map(|(&f, info)| info.roles.iter().map(move |&r| (f, r)))
            .collect();
        for client in clients {
            self.requeue(client);
        }
    }

    fn track(&mut self, agent: AgentId, client: Client, resources: &Quantities) {
        if let Some(a) = self.agents.get_mut(&agent) {
            a.allocated.add(resources);
            a.by_client.entry(client).or_default().add(resources);
        }
        self.clients
            .entry(client)
            .or_default()
            .allocated
            .add(resources);
        let top = self.top_of(client.1);
        self.consumed.entry(top).or_default().add(resources);
    }

    /// Takes back what the agent holds for the client, at most `resources`.
    fn untrack(&mut self, agent: AgentId, client: Client, resources: &Quantities) {
        let Some(a) = self.agents.get_mut(&agent) else {
            return;
        };
        let Some(held) = a.by_client.get_mut(&client) else {
            return;
        };
        let taken = Quantities(
            resources
                .0
                .iter()
                .enumerate()
                .map(|(i, v)| v.max(0.0).min(held.get(i)))
                .collect(),
        );
        held.subtract(&taken);
        if held.is_empty() {
            a.by_client.remove(&client);
        }
        a.allocated.subtract(&taken);
        if let Some(c) = self.clients.get_mut(&client) {
            c.allocated.subtract(&taken);
        }
        let top = self.top_of(client.1);
        if let Some(c) = self.consumed.get_mut(&top) {
            c.subtract(&taken);
        }
    }

    fn is_revocable(&self, slot: usize) -> bool {
        self.revocable.get(slot).copied().unwrap_or(false)
    }

    /// What the client may take of `free`: revocable slots only with the capability, regular
    /// slots only up to the quota left to its role. `None` when that is nothing.
    fn candidate(&self, (framework, role): Client, free: &Quantities) -> Option<Quantities> {
        let takes_revocable = self.frameworks.get(&framework).is_some_and(|f| f.revocable);
        let mut candidate = if takes_revocable {
            free.clone()
        } else {
            free.filter(|i| !self.is_revocable(i))
        };
        if !self.limits.is_empty() {
            let top = self.top_of(role);
            if let Some(limits) = self.limits.get(&top) {
                let consumed = self.consumed.get(&top);
                for (i, amount) in candidate.0.iter_mut().enumerate() {
                    let limit = limits.get(i);
                    if self.is_revocable(i) || !limit.is_finite() || i >= limits.len() {
                        continue;
                    }
                    let used = consumed.map_or(0.0, |c| c.get(i));
                    *amount = amount.min((limit - used).max(0.0));
                }
            }
        }
        (!candidate.is_empty()).then_some(candidate)
    }

    /// Whether a decline filter of the client on the agent covers `candidate`; drops expired
    /// filters on the way.
    fn is_filtered(
        &mut self,
        client: Client,
        agent: AgentId,
        candidate: &Quantities,
        now_ms: u64,
    ) -> bool {
        let Some(by_agent) = self.filters.get_mut(&client) else {
            return false;
        };
        let Some(filters) = by_agent.get_mut(&agent) else {
            return false;
        };
        filters.retain(|f| now_ms < f.expires_ms);
        let filtered = filters.iter().any(|f| f.refused.contains(candidate));
        if filters.is_empty() {
            by_agent.remove(&agent);
            if by_agent.is_empty() {
                self.filters.remove(&client);
            }
        }
        filtered
    }

    fn group_of(&self, slot: usize) -> usize {
        self.group.get(slot).copied().unwrap_or(self.groups + slot)
    }

    fn by_group(&self, q: &Quantities) -> Vec<f64> {
        let mut sums = vec![0.0; self.groups + q.len()];
        for (i, v) in q.0.iter().enumerate() {
            if let Some(s) = sums.get_mut(self.group_of(i)) {
                *s += v;
            }
        }
        sums
    }

    /// `--min_allocatable_resources`: non-empty, and meets every amount of at least one entry.
    fn allocatable(&self, q: &Quantities) -> bool {
        if q.is_empty() {
            return false;
        }
        if self.min_allocatable.is_empty() {
            return true;
        }
        let have = self.by_group(q);
        self.min_allocatable.iter().any(|entry| {
            self.by_group(entry)
                .iter()
                .enumerate()
                .all(|(g, need)| *need <= have.get(g).copied().unwrap_or(0.0) + EPSILON)
        })
    }

    fn filter_timeout_ms(&self, refuse_seconds: Option<f64>) -> Option<u64> {
        let seconds = refuse_seconds?;
        if seconds.is_nan() || seconds <= 0.0 {
            return None;
        }
        // `as` saturates, and the cap applies before and after the interval
        let ms = (seconds * 1000.0).min(MAX_FILTER_MS as f64) as u64;
        Some(ms.max(self.interval_ms).min(MAX_FILTER_MS))
    }

    /// Offers one agent's free resources, lowest share first.
    fn allocate_agent(
        &mut self,
        agent: AgentId,
        mut free: Quantities,
        now_ms: u64,
        offers: &mut Vec<Offer>,
    ) {
        let mut served: Vec<Client> = Vec::new();
        let mut cursor: Option<Key> = None;
        loop {
            let next = match &cursor {
                None => self.queue.iter().next(),
                Some(k) => self.queue.range((Excluded(k), Unbounded)).next(),
            };
            let Some(&key) = next else {
                break;
            };
            cursor = Some(key);
            let client = (key.framework, key.role);
            let Some(candidate) = self.candidate(client, &free) else {
                continue;
            };
            if self.is_filtered(client, agent, &candidate, now_ms) || !self.allocatable(&candidate)
            {
                continue;
            }
            self.track(agent, client, &candidate);
            free.subtract(&candidate);
            served.push(client);
            offers.push(Offer {
                framework: client.0,
                role: client.1,
                agent,
                resources: candidate,
            });
            if free.is_empty() {
                break;
            }
        }
        // shares change only after the agent is done, so no client is visited twice
        for client in served {
            self.requeue(client);
        }
    }
}

impl AllocatorPolicy for DrfAllocator {
    fn initialize(&mut self, options: Options) {
        let kinds = &options.resource_kinds;
        self.revocable = kinds.iter().map(|k| k.revocable).collect();
        self.fair = (0..kinds.len())
            .map(|i| !options.fairness_excluded.iter().any(|&x| x as usize == i))
            .collect();
        let mut names: Vec<&str> = Vec::new();
        self.group = kinds
            .iter()
            .map(|k| match names.iter().position(|n| *n == k.name) {
                Some(g) => g,
                None => {
                    names.push(&k.name);
                    names.len() - 1
                }
            })
            .collect();
        self.groups = names.len();
        self.interval_ms = options.allocation_interval_ms;
        self.min_allocatable = options.min_allocatable;
        self.dirty = true;
    }

    fn add_role(&mut self, role: RoleId, name: &str) {
        let top = top_level(name);
        let weight = self.roles.get(&role).map_or(1.0, |r| r.weight);
        self.roles.insert(role, Role { top, weight });
    }

    fn update_weights(&mut self, weights: &[(RoleId, f64)]) {
        for &(role, weight) in weights {
            if !(weight.is_finite() && weight > 0.0) {
                continue;
            }
            match self.roles.get_mut(&role) {
                Some(r) => r.weight = weight,
                None => {
                    self.roles.insert(
                        role,
                        Role {
                            top: format!("#{role}"),
                            weight,
                        },
                    );
                }
            }
        }
        self.dirty = true;
    }

    fn update_quota(&mut self, role: RoleId, _guarantees: Quantities, limits: Quantities) {
        let top = self.top_of(role);
        if limits.0.iter().all(|l| l.is_infinite() && *l > 0.0) {
            self.limits.remove(&top);
        } else {
            self.limits.insert(top, limits);
        }
    }

    fn add_framework(
        &mut self,
        framework: FrameworkId,
        info: FrameworkInfo,
        used: &[FrameworkUsage],
        active: bool,
        suppressed_roles: &[RoleId],
    ) {
        let roles = info.roles.clone();
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
                self.track(u.agent, (framework, u.role), &u.resources);
            }
        }
        self.requeue_framework(framework, &roles);
    }

    fn remove_framework(&mut self, framework: FrameworkId) {
        let mut freed: Vec<(Client, Quantities)> = Vec::new();
        for agent in self.agents.values_mut() {
            let clients: Vec<Client> = agent
                .by_client
                .keys()
                .filter(|c| c.0 == framework)
                .copied()
                .collect();
            for client in clients {
                if let Some(q) = agent.by_client.remove(&client) {
                    agent.allocated.subtract(&q);
                    freed.push((client, q));
                }
            }
        }
        for (client, q) in freed {
            let top = self.top_of(client.1);
            if let Some(c) = self.consumed.get_mut(&top) {
                c.subtract(&q);
            }
        }
        let clients: Vec<Client> = self
            .clients
            .keys()
            .filter(|c| c.0 == framework)
            .copied()
            .collect();
        for client in clients {
            if let Some(key) = self.clients.remove(&client).and_then(|c| c.queued) {
                self.queue.remove(&key);
            }
        }
        self.filters.retain(|c, _| c.0 != framework);
        self.frameworks.remove(&framework);
    }

    fn activate_framework(&mut self, framework: FrameworkId) {
        let Some(f) = self.frameworks.get_mut(&framework) else {
            return;
        };
        f.active = true;
        let roles = f.roles.clone();
        self.requeue_framework(framework, &roles);
    }

    fn deactivate_framework(&mut self, framework: FrameworkId) {
        let Some(f) = self.frameworks.get_mut(&framework) else {
            return;
        };
        f.active = false;
        let roles = f.roles.clone();
        self.requeue_framework(framework, &roles);
        // as in Mesos, a deactivated framework's decline filters go
        self.filters.retain(|c, _| c.0 != framework);
    }

    fn update_framework(
        &mut self,
        framework: FrameworkId,
        info: FrameworkInfo,
        suppressed_roles: &[RoleId],
    ) {
        let Some(f) = self.frameworks.get_mut(&framework) else {
            return;
        };
        let mut touched = std::mem::replace(&mut f.roles, info.roles.clone());
        f.revocable = info.capabilities.has(Capabilities::REVOCABLE_RESOURCES);
        f.suppressed = suppressed_roles.iter().copied().collect();
        touched.extend(info.roles);
        self.requeue_framework(framework, &touched);
    }

    fn add_agent(
        &mut self,
        agent: AgentId,
        _info: AgentInfo,
        total: Quantities,
        used: &[AgentUsage],
    ) {
        if self.agents.contains_key(&agent) {
            self.remove_agent(agent);
        }
        self.agents.insert(
            agent,
            Agent {
                total,
                allocated: Quantities::default(),
                active: true,
                by_client: HashMap::new(),
            },
        );
        for u in used {
            self.track(agent, (u.framework, u.role), &u.resources);
        }
        self.dirty = true;
    }

    fn remove_agent(&mut self, agent: AgentId) {
        let Some(removed) = self.agents.remove(&agent) else {
            return;
        };
        for (client, q) in removed.by_client {
            if let Some(c) = self.clients.get_mut(&client) {
                c.allocated.subtract(&q);
            }
            let top = self.top_of(client.1);
            if let Some(c) = self.consumed.get_mut(&top) {
                c.subtract(&q);
            }
        }
        for by_agent in self.filters.values_mut() {
            by_agent.remove(&agent);
        }
        self.filters.retain(|_, by_agent| !by_agent.is_empty());
        self.dirty = true;
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
            a.total = total;
            self.dirty = true;
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
        let client = (framework, role);
        self.untrack(agent, client, &resources);
        self.requeue(client);
        let Some(timeout_ms) = self.filter_timeout_ms(refuse_seconds) else {
            return;
        };
        if !self.frameworks.contains_key(&framework) || !self.agents.contains_key(&agent) {
            return;
        }
        self.filters
            .entry(client)
            .or_default()
            .entry(agent)
            .or_default()
            .push(Filter {
                refused: resources,
                expires_ms: now_ms.saturating_add(timeout_ms),
            });
    }

    fn suppress(&mut self, framework: FrameworkId, roles: &[RoleId]) {
        let Some(f) = self.frameworks.get_mut(&framework) else {
            return;
        };
        let roles = if roles.is_empty() {
            f.roles.clone()
        } else {
            roles.to_vec()
        };
        f.suppressed.extend(roles.iter().copied());
        self.requeue_framework(framework, &roles);
    }

    fn revive(&mut self, framework: FrameworkId, roles: &[RoleId]) {
        let Some(f) = self.frameworks.get_mut(&framework) else {
            return;
        };
        let roles = if roles.is_empty() {
            f.roles.clone()
        } else {
            roles.to_vec()
        };
        for role in &roles {
            f.suppressed.remove(role);
            self.filters.remove(&(framework, *role));
        }
        self.requeue_framework(framework, &roles);
    }

    fn pause(&mut self) {
        self.paused = true;
    }

    fn resume(&mut self) {
        self.paused = false;
    }

    fn allocate(&mut self, now_ms: u64) -> Vec<Offer> {
        if self.paused {
            return Vec::new();
        }
        if self.dirty {
            self.rebuild();
        }
        let mut offers = Vec::new();
        if self.queue.is_empty() {
            return offers;
        }
        let candidates: Vec<(AgentId, Quantities)> = self
            .agents
            .iter()
            .filter(|(_, a)| a.active)
            .map(|(&id, a)| (id, a.free()))
            // no client can take more than everything: skip agents nobody could be offered
            .filter(|(_, free)| self.allocatable(free))
            .collect();
        for (agent, free) in candidates {
            self.allocate_agent(agent, free, now_ms, &mut offers);
        }
        offers
    }
}

#[cfg(target_arch = "wasm32")]
meseta_sdk::export_allocator!(DrfAllocator);

#[cfg(test)]
mod tests;
