//! The bookkeeping Meseta's allocators share: roles and their weights and quota, frameworks and
//! their suppressed roles, agents and what they hold, decline filters, the hierarchical DRF
//! sorters, the random sorter's order, and the minimum-allocatable test.
//!
//! Policies (`allocator-drf`, `allocator-binpack`) own a [`Cluster`], forward the events of the
//! allocator interface to it (`delegate_events!`) and implement only the allocation round.
//! `allocator-binpack` compiles this very file as its own module (`#[path]`), so both policies
//! apply the same eligibility rules without a crate between them (a shipped module's policy
//! depends only on `meseta-types`).
//!
//! # Sorters
//!
//! The role sorter holds every role with at least one eligible client, keyed by
//! (weighted dominant share of the role's allocation, role id). Each role has a framework sorter
//! holding its eligible frameworks keyed by (dominant share of the framework's allocation in
//! that role, framework id). A client, a (framework, role) pair, is eligible when its framework
//! is active, subscribed to the role and not suppressed in it. Keys are updated on every change
//! (`requeue_client`); when every share changes at once (the cluster total changed) the sorters
//! are rebuilt once, at the next round.
//!
//! # Reserved slots
//!
//! A slot may hold resources reserved for a role (`ResourceKind::reserved_for`, slots appended
//! by `add_resource_kinds`). Such a slot is offered only to that role and its sub-roles, as the
//! role's own: quota limits and the headroom held back for guarantees do not clip it. Shares and
//! quota consumption count a reserved slot as its resource: the slots of one name and
//! revocability add up (reserved cpus are cpus). Without reserved slots none of this costs
//! anything.

use std::cmp::Ordering;
use std::collections::BTreeSet;

// FxHash: the keys are small integer handles; SipHash cost ~4% of a Wasm round (see BENCHMARKS.md).
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::ops::Bound::{Excluded, Unbounded};

use meseta_types::Quantities;
use meseta_types::allocation::{
    AgentId, AgentUsage, Capabilities, FrameworkId, FrameworkInfo, FrameworkUsage, Options,
    ResourceKind, RoleId, Sorter,
};
use meseta_types::handles::Handles;
use meseta_types::quantities::{EPSILON, max, min};

/// The longest decline filter, as in Mesos (365 days).
pub const MAX_FILTER_MS: u64 = 365 * 24 * 60 * 60 * 1000;

/// A (framework, role) pair: what an offer is made to.
pub type Client = (FrameworkId, RoleId);

/// A share (or any sort key), totally ordered.
#[derive(Clone, Copy, Debug, Default)]
pub struct Share(pub f64);

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

/// A role's place in the role sorter.
pub type RoleKey = (Share, RoleId);
/// A framework's place in its role's framework sorter.
pub type FrameworkKey = (Share, FrameworkId);
/// An agent's place in the fullest-first index: (free size, agent).
pub type AgentKey = (Share, AgentId);

/// A small deterministic PRNG (xorshift64*), reseeded every round from the round's `now_ms`.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Default for Rng {
    fn default() -> Self {
        Rng(0x9E37_79B9_7F4A_7C15)
    }
}

impl Rng {
    /// Mixes `salt` into the state (splitmix64), so equal rounds still differ.
    pub fn reseed(&mut self, salt: u64) {
        let mut z = self.0 ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        self.0 = if z == 0 { 0x2545_F491_4F6C_DD1D } else { z };
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[0, n)` (`n` below 2^32; 0 for `n == 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * (n as u64)) >> 32) as usize
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Fisher-Yates.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

#[derive(Clone, Debug)]
struct Role {
    weight: f64,
    /// Quota nodes this role's allocation counts against: its ancestors, then itself.
    path: Vec<usize>,
    allocated: Quantities,
    /// The framework sorter: eligible frameworks by share within the role.
    frameworks: BTreeSet<FrameworkKey>,
    /// The role's key in the role sorter, when it is there.
    queued: Option<Share>,
}

impl Role {
    fn new(path: Vec<usize>) -> Self {
        Role {
            weight: 1.0,
            path,
            allocated: Quantities::default(),
            frameworks: BTreeSet::new(),
            queued: None,
        }
    }
}

#[derive(Clone, Debug, Default)]
struct QuotaNode {
    limits: Option<Quantities>,
    /// What the node's roles are guaranteed: held back from others as headroom until consumed.
    guarantees: Option<Quantities>,
    /// What the node's roles hold (the role of this path and every role under it).
    consumed: Quantities,
    /// The weight of the role of this path in the role tree (`None`: 1).
    weight: Option<f64>,
}

impl QuotaNode {
    /// What the node's guarantee still lacks in slot `i`.
    fn unsatisfied(&self, i: usize) -> f64 {
        self.guarantees
            .as_ref()
            .map_or(0.0, |g| max(g.get(i) - self.consumed.get(i), 0.0))
    }
}

#[derive(Clone, Debug)]
struct Framework {
    roles: Vec<RoleId>,
    revocable: bool,
    active: bool,
    suppressed: Vec<RoleId>,
}

#[derive(Clone, Debug, Default)]
struct ClientState {
    allocated: Quantities,
    /// The client's key in its role's framework sorter, when it is there.
    queued: Option<Share>,
}

#[derive(Clone, Debug)]
struct Agent {
    total: Quantities,
    allocated: Quantities,
    active: bool,
    by_client: HashMap<Client, Quantities>,
    /// How many clients have decline filters on this agent (0: skip the filter lookup).
    filtered: usize,
    /// The agent's key in the fullest-first index, when it is there.
    indexed: Option<Share>,
}

#[derive(Clone, Debug)]
struct Filter {
    refused: Quantities,
    expires_ms: u64,
}

/// Reusable buffers for one allocation round.
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    pub free: Vec<f64>,
    pub plain: Vec<f64>,
    pub rev: Vec<f64>,
    /// The role tree's order for one agent ([`Cluster::tree_order`]).
    pub order: Vec<RoleId>,
}

/// What a role may take of an agent's free resources.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fits {
    /// `Scratch::plain` (regular slots, clipped by quota) passes `min_allocatable`.
    pub plain: bool,
    /// `Scratch::rev` (the same plus revocable slots) passes `min_allocatable`.
    pub rev: bool,
}

impl Fits {
    pub fn any(self) -> bool {
        self.plain || self.rev
    }
}

/// The state every allocator policy keeps; see the module documentation.
#[derive(Clone, Debug, Default)]
pub struct Cluster {
    /// Per slot: whether it holds revocable resources.
    revocable: Vec<bool>,
    /// Per slot: the role its resources are reserved for.
    reserved: Vec<Option<RoleId>>,
    /// Per slot: its resource (name, revocable), for kinds added later.
    kinds: Vec<(String, bool)>,
    /// Per slot: the first slot of the same resource (name and revocability).
    base: Vec<usize>,
    /// With reserved slots: each resource's first slot and all its slots, which shares and
    /// quota consumption add up. Empty without reserved slots (each slot is its own resource).
    fold: Vec<(usize, Vec<usize>)>,
    /// `--fair_sharing_excluded_resource_names`, as slots of the initial table.
    fairness_excluded: Vec<u32>,
    /// The resource names of `group_slots`, in order.
    group_names: Vec<String>,
    /// Per slot: whether it counts towards the dominant share.
    fair: Vec<bool>,
    /// Per resource name: its slots (min-allocatable merges revocable and regular).
    group_slots: Vec<Vec<usize>>,
    /// `min_allocatable`, per entry the (group, amount) it needs.
    min_allocatable: Vec<Vec<(usize, f64)>>,
    interval_ms: u64,
    sorter: Sorter,
    paused: bool,
    /// Sum of every agent's total, as of the last rebuild.
    total: Quantities,
    /// `total` with every resource's slots added up in its first slot (`fold`): what shares
    /// divide by. Equal to `total` without reserved slots.
    share_total: Quantities,
    roles: HashMap<RoleId, Role>,
    /// The role sorter.
    role_queue: BTreeSet<RoleKey>,
    quota: Vec<QuotaNode>,
    quota_index: HashMap<String, usize>,
    /// Some quota node has limits.
    limited: bool,
    /// Some quota node has guarantees.
    guaranteed: bool,
    /// Some role name has a `/`: the role sorter walks the role tree.
    hierarchical: bool,
    /// Per slot: what guarantees still lack, over every node (Mesos' required headroom).
    required: Quantities,
    /// Per slot: what every agent has allocated (total minus this is the available headroom).
    allocated_sum: Quantities,
    /// The roles of the role sorter whose path has a guarantee not yet met, in the same order
    /// (a round's first stage serves them first).
    guarantee_queue: BTreeSet<RoleKey>,
    frameworks: HashMap<FrameworkId, Framework>,
    clients: HashMap<Client, ClientState>,
    /// By handle (the master numbers agents from 0): a round looks its agents up by index.
    agents: Handles<Agent>,
    filters: HashMap<Client, HashMap<AgentId, Vec<Filter>>>,
    /// Every share changed: rebuild the sorters before the next round.
    dirty: bool,
    /// Active agents with allocatable free resources, least free first (binpack only).
    index: Option<BTreeSet<AgentKey>>,
    pub rng: Rng,
}

/// The dominant share of `allocated` against `total` (`share_total`), over the slots counted
/// for fairness; with reserved slots (`fold` not empty) the slots of one resource add up.
fn share_of(
    total: &Quantities,
    fair: &[bool],
    fold: &[(usize, Vec<usize>)],
    allocated: &Quantities,
) -> f64 {
    let mut share: f64 = 0.0;
    if fold.is_empty() {
        for (i, amount) in allocated.0.iter().enumerate() {
            let t = total.get(i);
            if t > EPSILON && fair.get(i).copied().unwrap_or(true) {
                share = max(share, amount / t);
            }
        }
        return share;
    }
    for (first, slots) in fold {
        let t = total.get(*first);
        if t > EPSILON && fair.get(*first).copied().unwrap_or(true) {
            let amount: f64 = slots.iter().map(|&i| allocated.get(i)).sum();
            share = max(share, amount / t);
        }
    }
    share
}

/// `--min_allocatable_resources` over `len` slots read through `get`: non-empty, and meets every
/// amount of at least one entry (no entries: anything non-empty).
fn allocatable_by(
    groups: &[Vec<usize>],
    entries: &[Vec<(usize, f64)>],
    len: usize,
    get: impl Fn(usize) -> f64,
) -> bool {
    if (0..len).all(|i| get(i) <= EPSILON) {
        return false;
    }
    if entries.is_empty() {
        return true;
    }
    entries.iter().any(|entry| {
        entry.iter().all(|&(g, need)| {
            let have: f64 = groups
                .get(g)
                .map_or(0.0, |slots| slots.iter().map(|&s| get(s)).sum());
            need <= have + EPSILON
        })
    })
}

/// Whether a refusal covers the candidate.
fn covers(refused: &Quantities, candidate: &[f64]) -> bool {
    candidate
        .iter()
        .enumerate()
        .all(|(i, v)| *v <= refused.get(i) + EPSILON)
}

impl Cluster {
    /// An empty cluster; `index_by_free` keeps the fullest-first agent index (binpack).
    pub fn new(index_by_free: bool) -> Self {
        Cluster {
            index: index_by_free.then(BTreeSet::new),
            ..Default::default()
        }
    }

    pub fn sorter(&self) -> Sorter {
        self.sorter
    }

    // ----- introspection -----

    /// The dominant share of a framework within a role (0 when unknown), unweighted, against
    /// the cluster total of the last round.
    pub fn share(&self, framework: FrameworkId, role: RoleId) -> f64 {
        self.clients.get(&(framework, role)).map_or(0.0, |c| {
            share_of(&self.share_total, &self.fair, &self.fold, &c.allocated)
        })
    }

    /// The weighted dominant share of a role (0 when unknown).
    pub fn role_share(&self, role: RoleId) -> f64 {
        self.roles.get(&role).map_or(0.0, |r| {
            share_of(&self.share_total, &self.fair, &self.fold, &r.allocated) / r.weight
        })
    }

    /// What a framework holds in a role, over every agent.
    pub fn allocation(&self, framework: FrameworkId, role: RoleId) -> Quantities {
        self.clients
            .get(&(framework, role))
            .map(|c| c.allocated.clone())
            .unwrap_or_default()
    }

    /// An agent's free resources (total minus allocated), if it is known.
    pub fn free(&self, agent: AgentId) -> Option<Quantities> {
        self.agents.get(agent).map(|a| {
            let mut free = a.total.clone();
            free.subtract(&a.allocated);
            free
        })
    }

    // ----- helpers for the rounds -----

    /// Gets the sorters ready for a round. `false` when the round makes no offers: paused, or
    /// no eligible client.
    pub fn prepare(&mut self, now_ms: u64) -> bool {
        if self.paused {
            return false;
        }
        if self.dirty {
            self.rebuild();
        }
        self.rng.reseed(now_ms);
        !self.role_queue.is_empty()
    }

    /// The active agents, in id order.
    pub fn active_agents(&self, out: &mut Vec<AgentId>) {
        out.clear();
        out.extend(
            self.agents
                .iter()
                .filter(|(_, a)| a.active)
                .map(|(id, _)| id),
        );
    }

    /// Writes an active agent's free resources to `out`; `false` for unknown/inactive agents.
    pub fn free_into(&self, agent: AgentId, out: &mut Vec<f64>) -> bool {
        let Some(a) = self.agents.get(agent).filter(|a| a.active) else {
            return false;
        };
        out.clear();
        out.extend(
            a.total
                .0
                .iter()
                .enumerate()
                .map(|(i, t)| max(t - a.allocated.get(i), 0.0)),
        );
        true
    }

    /// The next role in DRF order after `after` (the first one for `None`).
    pub fn role_after(&self, after: Option<RoleKey>) -> Option<RoleKey> {
        match after {
            None => self.role_queue.first().copied(),
            Some(k) => self
                .role_queue
                .range((Excluded(k), Unbounded))
                .next()
                .copied(),
        }
    }

    /// The next framework of a role in DRF order after `after` (the first for `None`).
    pub fn framework_after(
        &self,
        role: RoleId,
        after: Option<FrameworkKey>,
    ) -> Option<FrameworkKey> {
        let queue = &self.roles.get(&role)?.frameworks;
        match after {
            None => queue.first().copied(),
            Some(k) => queue.range((Excluded(k), Unbounded)).next().copied(),
        }
    }

    /// The next agent of the fullest-first index after `after` (the fullest for `None`).
    pub fn fullest_after(&self, after: Option<AgentKey>) -> Option<AgentKey> {
        let index = self.index.as_ref()?;
        match after {
            None => index.first().copied(),
            Some(k) => index.range((Excluded(k), Unbounded)).next().copied(),
        }
    }

    /// Whether the framework may be offered revocable resources.
    pub fn takes_revocable(&self, framework: FrameworkId) -> bool {
        self.frameworks.get(&framework).is_some_and(|f| f.revocable)
    }

    fn is_revocable(&self, slot: usize) -> bool {
        self.revocable.get(slot).copied().unwrap_or(false)
    }

    /// `--min_allocatable_resources` for a candidate.
    pub fn allocatable(&self, q: &[f64]) -> bool {
        allocatable_by(&self.group_slots, &self.min_allocatable, q.len(), |i| {
            q.get(i).copied().unwrap_or(0.0)
        })
    }

    /// Whether `role` may be offered the slots reserved for `reserved`: it is that role or one
    /// of its sub-roles (the quota node of `reserved`'s name is on `role`'s path).
    pub fn holds_reserved(&self, role: RoleId, reserved: RoleId) -> bool {
        if role == reserved {
            return true;
        }
        match (self.roles.get(&role), self.roles.get(&reserved)) {
            (Some(r), Some(x)) => x.path.last().is_some_and(|n| r.path.contains(n)),
            _ => false,
        }
    }

    /// What `role` may take of `free`: `s.plain` (regular slots, each clipped to the headroom
    /// left under every quota limit on the role's path) and `s.rev` (the same plus the revocable
    /// slots, which quota does not cover), and whether each passes `min_allocatable`. Slots
    /// reserved for the role or an ancestor are the role's whole (no quota clipping); those
    /// reserved for other roles are 0.
    pub fn candidates(
        &self,
        role: RoleId,
        free: &[f64],
        plain: &mut Vec<f64>,
        rev: &mut Vec<f64>,
    ) -> Fits {
        plain.clear();
        rev.clear();
        let path: &[usize] = match (self.limited || self.guaranteed, self.roles.get(&role)) {
            (true, Some(r)) => &r.path,
            _ => &[],
        };
        let mut has_revocable = false;
        for (i, &f) in free.iter().enumerate() {
            if let Some(&Some(x)) = self.reserved.get(i) {
                let v = if self.holds_reserved(role, x) { f } else { 0.0 };
                if self.is_revocable(i) {
                    plain.push(0.0);
                    has_revocable |= v > EPSILON;
                } else {
                    plain.push(v);
                }
                rev.push(v);
                continue;
            }
            if self.is_revocable(i) {
                plain.push(0.0);
                rev.push(f);
                has_revocable |= f > EPSILON;
                continue;
            }
            let mut v = f;
            let mut advancing: f64 = 0.0;
            for node in path.iter().filter_map(|&n| self.quota.get(n)) {
                if let Some(limits) = &node.limits {
                    let limit = limits.get(i);
                    if i < limits.len() && limit.is_finite() {
                        v = min(v, max(limit - node.consumed.get(i), 0.0));
                    }
                }
                advancing = max(advancing, node.unsatisfied(i));
            }
            if self.guaranteed {
                // What would leave the others' guarantees short is held back: the role takes
                // what advances its own guarantee plus the surplus over the required headroom.
                let available = self.total.get(i) - self.allocated_sum.get(i);
                let surplus = max(available - self.required.get(i), 0.0);
                v = min(v, advancing + surplus);
            }
            plain.push(v);
            rev.push(v);
        }
        let plain_ok = self.allocatable(plain);
        let rev_ok = if has_revocable {
            self.allocatable(rev)
        } else {
            plain_ok
        };
        Fits {
            plain: plain_ok,
            rev: rev_ok,
        }
    }

    /// `candidates` for an agent with unbounded free resources: whether quota leaves the role
    /// anything allocatable at all (uses `s.free` as a buffer).
    pub fn candidates_unbounded(&self, role: RoleId, s: &mut Scratch) -> Fits {
        s.free.clear();
        s.free.resize(self.revocable.len(), f64::MAX);
        self.candidates(role, &s.free, &mut s.plain, &mut s.rev)
    }

    /// Whether a decline filter of the client on the agent covers `candidate`; drops expired
    /// filters on the way.
    pub fn is_filtered(
        &mut self,
        client: Client,
        agent: AgentId,
        candidate: &[f64],
        now_ms: u64,
    ) -> bool {
        let Some(a) = self.agents.get_mut(agent) else {
            return false;
        };
        if a.filtered == 0 {
            return false;
        }
        let Some(by_agent) = self.filters.get_mut(&client) else {
            return false;
        };
        let Some(list) = by_agent.get_mut(&agent) else {
            return false;
        };
        list.retain(|f| now_ms < f.expires_ms);
        let filtered = list.iter().any(|f| covers(&f.refused, candidate));
        if list.is_empty() {
            by_agent.remove(&agent);
            a.filtered = a.filtered.saturating_sub(1);
            if by_agent.is_empty() {
                self.filters.remove(&client);
            }
        }
        filtered
    }

    /// Decline-filter timeout for `refuse_seconds`, as in Mesos: none for `None`, `<= 0` or NaN;
    /// otherwise at least the allocation interval and at most 365 days.
    pub fn filter_timeout_ms(&self, refuse_seconds: Option<f64>) -> Option<u64> {
        let seconds = refuse_seconds?;
        if seconds.is_nan() || seconds <= 0.0 {
            return None;
        }
        // `as` saturates, and the cap applies before and after the interval
        let ms = (seconds * 1000.0).min(MAX_FILTER_MS as f64) as u64;
        Some(ms.max(self.interval_ms).min(MAX_FILTER_MS))
    }

    // ----- sorter maintenance -----

    fn eligible(&self, (framework, role): Client) -> bool {
        self.frameworks
            .get(&framework)
            .is_some_and(|f| f.active && f.roles.contains(&role) && !f.suppressed.contains(&role))
    }

    fn quota_node(&mut self, path: &str) -> usize {
        if let Some(&n) = self.quota_index.get(path) {
            return n;
        }
        self.quota.push(QuotaNode::default());
        let n = self.quota.len() - 1;
        self.quota_index.insert(path.to_string(), n);
        n
    }

    /// The quota nodes of a role name: "a/b/c" counts against "a", "a/b" and "a/b/c".
    fn quota_path(&mut self, name: &str) -> Vec<usize> {
        let mut path = Vec::new();
        for (i, c) in name.char_indices() {
            if c == '/' {
                path.push(self.quota_node(&name[..i]));
            }
        }
        path.push(self.quota_node(name));
        path
    }

    fn ensure_role(&mut self, role: RoleId) {
        if !self.roles.contains_key(&role) {
            let path = self.quota_path(&format!("#{role}"));
            self.roles.insert(role, Role::new(path));
        }
    }

    /// Puts the client at its place in its role's framework sorter, or takes it out when it is
    /// not eligible; then does the same for the role in the role sorter.
    pub fn requeue_client(&mut self, client: Client) {
        let (framework, role) = client;
        if let Some(old) = self.clients.get_mut(&client).and_then(|c| c.queued.take())
            && let Some(r) = self.roles.get_mut(&role)
        {
            r.frameworks.remove(&(old, framework));
        }
        if !self.dirty && self.eligible(client) {
            self.ensure_role(role);
            let state = self.clients.entry(client).or_default();
            let share = Share(share_of(
                &self.share_total,
                &self.fair,
                &self.fold,
                &state.allocated,
            ));
            state.queued = Some(share);
            if let Some(r) = self.roles.get_mut(&role) {
                r.frameworks.insert((share, framework));
            }
        }
        self.requeue_role(role);
    }

    /// Puts the role at its place in the role sorter, or takes it out when it has no eligible
    /// framework.
    pub fn requeue_role(&mut self, role: RoleId) {
        let Some(r) = self.roles.get_mut(&role) else {
            return;
        };
        if let Some(old) = r.queued.take() {
            self.role_queue.remove(&(old, role));
            self.guarantee_queue.remove(&(old, role));
        }
        if self.dirty || r.frameworks.is_empty() {
            return;
        }
        let share =
            Share(share_of(&self.share_total, &self.fair, &self.fold, &r.allocated) / r.weight);
        r.queued = Some(share);
        self.role_queue.insert((share, role));
        if self.guaranteed {
            let slots = self.revocable.len();
            let short = r
                .path
                .iter()
                .filter_map(|&n| self.quota.get(n))
                .any(|node| {
                    (0..slots).any(|i| !self.revocable[i] && node.unsatisfied(i) > EPSILON)
                });
            if short {
                self.guarantee_queue.insert((share, role));
            }
        }
    }

    /// The next role after `after` whose guarantee is not met yet, in DRF order.
    pub fn guaranteed_role_after(&self, after: Option<RoleKey>) -> Option<RoleKey> {
        match after {
            None => self.guarantee_queue.first().copied(),
            Some(k) => self
                .guarantee_queue
                .range((Excluded(k), Unbounded))
                .next()
                .copied(),
        }
    }

    /// Whether the role sorter walks a role tree (some role name has a `/`).
    pub fn hierarchical(&self) -> bool {
        self.hierarchical
    }

    /// The roles of the role sorter in the order of Mesos' hierarchical DRF sorter: siblings of
    /// the role tree by the weighted share of everything under them, depth first; a role that
    /// also has sub-roles competes with them by its own share (Mesos' `.` leaf).
    pub fn tree_order(&self, out: &mut Vec<RoleId>) {
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        enum Entry {
            Node(usize),
            Leaf(RoleId),
        }
        const ROOT: usize = usize::MAX;
        let mut children: HashMap<usize, Vec<(Share, Entry)>> = HashMap::default();
        let mut seen: HashSet<(usize, usize)> = HashSet::default();
        let node_share = |n: usize| {
            let node = &self.quota[n];
            Share(
                share_of(&self.share_total, &self.fair, &self.fold, &node.consumed)
                    / node.weight.unwrap_or(1.0),
            )
        };
        for &(share, role) in &self.role_queue {
            let Some(r) = self.roles.get(&role) else {
                continue;
            };
            let mut parent = ROOT;
            for &n in &r.path {
                if n >= self.quota.len() {
                    break;
                }
                if seen.insert((parent, n)) {
                    children
                        .entry(parent)
                        .or_default()
                        .push((node_share(n), Entry::Node(n)));
                }
                parent = n;
            }
            children
                .entry(parent)
                .or_default()
                .push((share, Entry::Leaf(role)));
        }
        for list in children.values_mut() {
            list.sort();
        }
        out.clear();
        let mut stack: Vec<(usize, usize)> = vec![(ROOT, 0)];
        while let Some((node, i)) = stack.pop() {
            let Some(&(_, entry)) = children.get(&node).and_then(|l| l.get(i)) else {
                continue;
            };
            stack.push((node, i + 1));
            match entry {
                Entry::Leaf(role) => out.push(role),
                Entry::Node(n) => stack.push((n, 0)),
            }
        }
    }

    /// Whether some role has a guarantee.
    pub fn guaranteed(&self) -> bool {
        self.guaranteed
    }

    /// Adds (or, with `add` false, takes off) `amounts` to quota node `n`'s consumption,
    /// keeping the required headroom.
    fn consume(&mut self, n: usize, amounts: &[f64], add: bool) {
        // reserved slots count as their resource: consumption is kept folded
        let folded;
        let amounts = if self.fold.is_empty() {
            amounts
        } else {
            folded = self.folded(amounts);
            &folded[..]
        };
        let Some(node) = self.quota.get_mut(n) else {
            return;
        };
        let guaranteed = node.guarantees.is_some();
        let before: Vec<f64> = if guaranteed {
            (0..amounts.len()).map(|i| node.unsatisfied(i)).collect()
        } else {
            Vec::new()
        };
        if add {
            node.consumed.add_amounts(amounts);
        } else {
            meseta_types::quantities::subtract_amounts(&mut node.consumed.0, amounts);
        }
        if guaranteed {
            let node = &self.quota[n];
            let mut required = std::mem::take(&mut self.required);
            for (i, b) in before.iter().enumerate() {
                let now = node.unsatisfied(i);
                if let Some(r) = required.0.get_mut(i) {
                    *r = max(*r + now - b, 0.0);
                }
            }
            self.required = required;
        }
    }

    /// `amounts` with each resource's slots added up in its first slot (the others 0).
    fn folded(&self, amounts: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; amounts.len()];
        for (i, v) in amounts.iter().enumerate() {
            let b = self.base.get(i).copied().unwrap_or(i);
            if let Some(o) = out.get_mut(b) {
                *o += v;
            }
        }
        out
    }

    /// Recomputes the required headroom from every node.
    fn recompute_required(&mut self) {
        let slots = self.revocable.len();
        let mut required = Quantities::zeros(slots);
        for node in &self.quota {
            for (i, r) in required.0.iter_mut().enumerate() {
                *r += node.unsatisfied(i);
            }
        }
        self.required = required;
        self.guaranteed = self.quota.iter().any(|n| n.guarantees.is_some());
    }

    /// Takes the role out of the role sorter for the rest of the round when quota leaves it
    /// nothing allocatable on any agent (its headroom only shrinks during a round); `true` when
    /// it was parked. The round puts it back with [`Cluster::requeue_role`] when it ends.
    pub fn park_if_exhausted(&mut self, role: RoleId, s: &mut Scratch) -> bool {
        if !self.limited || self.candidates_unbounded(role, s).any() {
            return false;
        }
        let Some(r) = self.roles.get_mut(&role) else {
            return false;
        };
        match r.queued.take() {
            Some(old) => {
                self.role_queue.remove(&(old, role));
                true
            }
            None => false,
        }
    }

    /// Whether any role has a quota limit.
    pub fn limited(&self) -> bool {
        self.limited
    }

    /// The roles in the role sorter now.
    pub fn queued_roles(&self, out: &mut Vec<RoleId>) {
        out.clear();
        out.extend(self.role_queue.iter().map(|k| k.1));
    }

    fn requeue_roles_of(&mut self, framework: FrameworkId, roles: &[RoleId]) {
        for &role in roles {
            self.requeue_client((framework, role));
        }
    }

    /// Takes the framework out of every framework sorter (for the rest of a round).
    pub fn dequeue_framework(&mut self, framework: FrameworkId) {
        let roles = self
            .frameworks
            .get(&framework)
            .map(|f| f.roles.clone())
            .unwrap_or_default();
        for role in roles {
            if let Some(old) = self
                .clients
                .get_mut(&(framework, role))
                .and_then(|c| c.queued.take())
                && let Some(r) = self.roles.get_mut(&role)
            {
                r.frameworks.remove(&(old, framework));
            }
            self.requeue_role(role);
        }
    }

    /// Puts every client of the framework back at its place.
    pub fn requeue_framework(&mut self, framework: FrameworkId) {
        let roles = self
            .frameworks
            .get(&framework)
            .map(|f| f.roles.clone())
            .unwrap_or_default();
        self.requeue_roles_of(framework, &roles);
    }

    /// Keeps the agent's place in the fullest-first index.
    fn reindex(&mut self, agent: AgentId) {
        let Some(index) = self.index.as_mut() else {
            return;
        };
        let Some(a) = self.agents.get_mut(agent) else {
            return;
        };
        if let Some(old) = a.indexed.take() {
            index.remove(&(old, agent));
        }
        if self.dirty || !a.active {
            return;
        }
        let free = |i: usize| max(a.total.get(i) - a.allocated.get(i), 0.0);
        let len = a.total.len();
        if !allocatable_by(&self.group_slots, &self.min_allocatable, len, free) {
            return;
        }
        // the free resources, each as a fraction of the cluster's total of that kind
        let size: f64 = (0..len)
            .filter(|&i| self.fair.get(i).copied().unwrap_or(true))
            .filter_map(|i| {
                let t = self.total.get(i);
                (t > EPSILON).then(|| free(i) / t)
            })
            .sum();
        a.indexed = Some(Share(size));
        index.insert((Share(size), agent));
    }

    /// Recomputes the cluster total and every key.
    fn rebuild(&mut self) {
        let mut total = Quantities::zeros(self.revocable.len());
        for agent in self.agents.values() {
            total.add(&agent.total);
        }
        self.share_total = if self.fold.is_empty() {
            total.clone()
        } else {
            Quantities(self.folded(&total.0))
        };
        self.total = total;
        let mut allocated = Quantities::zeros(self.revocable.len());
        for agent in self.agents.values() {
            allocated.add(&agent.allocated);
        }
        self.allocated_sum = allocated;
        self.recompute_required();
        self.role_queue.clear();
        self.guarantee_queue.clear();
        for r in self.roles.values_mut() {
            r.frameworks.clear();
            r.queued = None;
        }
        for c in self.clients.values_mut() {
            c.queued = None;
        }
        if let Some(index) = self.index.as_mut() {
            index.clear();
        }
        for a in self.agents.values_mut() {
            a.indexed = None;
        }
        self.dirty = false;
        let clients: Vec<Client> = self
            .frameworks
            .iter()
            .flat_map(|(&f, info)| info.roles.iter().map(move |&r| (f, r)))
            .collect();
        for client in clients {
            self.requeue_client(client);
        }
        if self.index.is_some() {
            let agents: Vec<AgentId> = self.agents.keys().collect();
            for agent in agents {
                self.reindex(agent);
            }
        }
    }

    // ----- allocation bookkeeping -----

    /// Records `resources` of the agent as allocated to the client. Sorter keys are not
    /// touched: call `requeue_client` when the round is ready for it.
    pub fn track(&mut self, agent: AgentId, client: Client, resources: &[f64]) {
        if let Some(a) = self.agents.get_mut(agent) {
            a.allocated.add_amounts(resources);
            a.by_client
                .entry(client)
                .or_default()
                .add_amounts(resources);
            self.allocated_sum.add_amounts(resources);
        }
        self.clients
            .entry(client)
            .or_default()
            .allocated
            .add_amounts(resources);
        self.ensure_role(client.1);
        let path = match self.roles.get_mut(&client.1) {
            Some(r) => {
                r.allocated.add_amounts(resources);
                std::mem::take(&mut r.path)
            }
            None => Vec::new(),
        };
        for &n in &path {
            self.consume(n, resources, true);
        }
        if let Some(r) = self.roles.get_mut(&client.1) {
            r.path = path;
        }
        self.reindex(agent);
    }

    /// Takes `resources` off the client's and its role's allocation (not the agent's).
    fn release(&mut self, client: Client, resources: &Quantities) {
        if let Some(c) = self.clients.get_mut(&client) {
            c.allocated.subtract(resources);
        }
        let path = match self.roles.get_mut(&client.1) {
            Some(r) => {
                r.allocated.subtract(resources);
                std::mem::take(&mut r.path)
            }
            None => Vec::new(),
        };
        for &n in &path {
            self.consume(n, &resources.0, false);
        }
        if let Some(r) = self.roles.get_mut(&client.1) {
            r.path = path;
        }
    }

    /// Takes back what the agent holds for the client, at most `resources`.
    fn untrack(&mut self, agent: AgentId, client: Client, resources: &Quantities) {
        let Some(a) = self.agents.get_mut(agent) else {
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
                .map(|(i, v)| min(max(*v, 0.0), held.get(i)))
                .collect(),
        );
        held.subtract(&taken);
        if held.is_empty() {
            a.by_client.remove(&client);
        }
        a.allocated.subtract(&taken);
        self.allocated_sum.subtract(&taken);
        self.release(client, &taken);
        self.reindex(agent);
    }

    fn add_filter(&mut self, client: Client, agent: AgentId, filter: Filter) {
        let list = self
            .filters
            .entry(client)
            .or_default()
            .entry(agent)
            .or_default();
        if list.is_empty()
            && let Some(a) = self.agents.get_mut(agent)
        {
            a.filtered += 1;
        }
        list.push(filter);
    }

    fn clear_filters(&mut self, client: Client) {
        let Some(by_agent) = self.filters.remove(&client) else {
            return;
        };
        for agent in by_agent.keys() {
            if let Some(a) = self.agents.get_mut(*agent) {
                a.filtered = a.filtered.saturating_sub(1);
            }
        }
    }

    fn clear_framework_filters(&mut self, framework: FrameworkId) {
        let clients: Vec<Client> = self
            .filters
            .keys()
            .filter(|c| c.0 == framework)
            .copied()
            .collect();
        for client in clients {
            self.clear_filters(client);
        }
    }

    // ----- the allocator interface (everything but `allocate`) -----

    pub fn initialize(&mut self, options: Options) {
        self.revocable.clear();
        self.reserved.clear();
        self.kinds.clear();
        self.base.clear();
        self.fold.clear();
        self.fair.clear();
        self.group_names.clear();
        self.group_slots.clear();
        self.fairness_excluded = options.fairness_excluded.clone();
        self.append_kinds(&options.resource_kinds);
        let group_of: Vec<usize> = self
            .kinds
            .iter()
            .map(|(name, _)| {
                self.group_names
                    .iter()
                    .position(|n| n == name)
                    .unwrap_or(usize::MAX)
            })
            .collect();
        self.min_allocatable = options
            .min_allocatable
            .iter()
            .map(|entry| {
                let mut needs: Vec<(usize, f64)> = Vec::new();
                for (slot, &v) in entry.0.iter().enumerate() {
                    if v <= EPSILON {
                        continue;
                    }
                    // an amount of a slot outside the kind table can never be met
                    let g = group_of.get(slot).copied().unwrap_or(usize::MAX);
                    match needs.iter_mut().find(|(n, _)| *n == g) {
                        Some((_, need)) => *need += v,
                        None => needs.push((g, v)),
                    }
                }
                needs
            })
            .collect();
        self.interval_ms = options.allocation_interval_ms;
        self.sorter = options.sorter;
        self.dirty = true;
    }

    /// Appends slots to the table (`add_resource_kinds`): later vectors may be that wide.
    pub fn add_resource_kinds(&mut self, kinds: &[ResourceKind]) {
        self.append_kinds(kinds);
        self.dirty = true;
    }

    /// Appends `kinds` to the per-slot tables: a kind joins the min-allocatable group of its
    /// name, and the resource (name, revocability) of an earlier slot, whose fairness it shares.
    fn append_kinds(&mut self, kinds: &[ResourceKind]) {
        for k in kinds {
            let slot = self.kinds.len();
            let g = match self.group_names.iter().position(|n| *n == k.name) {
                Some(g) => g,
                None => {
                    self.group_names.push(k.name.clone());
                    self.group_slots.push(Vec::new());
                    self.group_names.len() - 1
                }
            };
            if let Some(slots) = self.group_slots.get_mut(g) {
                slots.push(slot);
            }
            let base = self
                .kinds
                .iter()
                .position(|(n, r)| *n == k.name && *r == k.revocable)
                .unwrap_or(slot);
            let fair = if base == slot {
                !self.fairness_excluded.iter().any(|&x| x as usize == slot)
            } else {
                self.fair.get(base).copied().unwrap_or(true)
            };
            self.kinds.push((k.name.clone(), k.revocable));
            self.revocable.push(k.revocable);
            self.reserved.push(k.reserved_for);
            self.base.push(base);
            self.fair.push(fair);
        }
        self.fold.clear();
        if self.base.iter().enumerate().any(|(i, b)| i != *b) {
            for (i, &b) in self.base.iter().enumerate() {
                if i == b {
                    self.fold.push((i, vec![i]));
                } else if let Some((_, slots)) = self.fold.iter_mut().find(|(f, _)| *f == b) {
                    slots.push(i);
                }
            }
        }
    }

    pub fn add_role(&mut self, role: RoleId, name: &str) {
        self.hierarchical |= name.contains('/');
        let path = self.quota_path(name);
        let Some(r) = self.roles.get_mut(&role) else {
            self.roles.insert(role, Role::new(path));
            return;
        };
        if r.path != path {
            // the allocation moves to the quota nodes of the new name
            let old = std::mem::replace(&mut r.path, path.clone());
            let allocated = r.allocated.clone();
            for n in old {
                self.consume(n, &allocated.0, false);
            }
            for n in path {
                self.consume(n, &allocated.0, true);
            }
        }
    }

    pub fn update_weights(&mut self, weights: &[(RoleId, f64)]) {
        for &(role, weight) in weights {
            if !(weight.is_finite() && weight > 0.0) {
                continue;
            }
            self.ensure_role(role);
            if let Some(r) = self.roles.get_mut(&role) {
                r.weight = weight;
                if let Some(node) = r.path.last().and_then(|&n| self.quota.get_mut(n)) {
                    node.weight = Some(weight);
                }
            }
            self.requeue_role(role);
        }
    }

    /// Sets the guarantees and limits of the role itself (its path counts its sub-roles);
    /// all-zero guarantees and all-infinite limits remove them.
    pub fn update_quota(&mut self, role: RoleId, guarantees: Quantities, limits: Quantities) {
        self.ensure_role(role);
        let Some(&node) = self.roles.get(&role).and_then(|r| r.path.last()) else {
            return;
        };
        let unlimited = limits.0.iter().all(|l| l.is_infinite() && *l > 0.0);
        let unguaranteed = guarantees
            .0
            .iter()
            .all(|g| !(g.is_finite() && *g > EPSILON));
        if let Some(n) = self.quota.get_mut(node) {
            n.limits = (!unlimited).then_some(limits);
            n.guarantees = (!unguaranteed).then(|| {
                Quantities(
                    guarantees
                        .0
                        .iter()
                        .map(|g| if g.is_finite() { max(*g, 0.0) } else { 0.0 })
                        .collect(),
                )
            });
        }
        self.limited = self.quota.iter().any(|n| n.limits.is_some());
        self.recompute_required();
        // Which roles fall short changed: the sorters are rebuilt before the next round.
        self.dirty = true;
    }

    pub fn add_framework(
        &mut self,
        framework: FrameworkId,
        info: FrameworkInfo,
        used: &[FrameworkUsage],
        active: bool,
        suppressed_roles: &[RoleId],
    ) {
        if self.frameworks.contains_key(&framework) {
            self.remove_framework(framework);
        }
        let roles = info.roles.clone();
        for &role in &roles {
            self.ensure_role(role);
        }
        self.frameworks.insert(
            framework,
            Framework {
                roles: info.roles,
                revocable: info.capabilities.has(Capabilities::REVOCABLE_RESOURCES),
                active,
                suppressed: suppressed_roles.to_vec(),
            },
        );
        for u in used {
            if self.agents.contains_key(u.agent) {
                self.track(u.agent, (framework, u.role), &u.resources.0);
                self.requeue_role(u.role);
            }
        }
        self.requeue_roles_of(framework, &roles);
    }

    pub fn remove_framework(&mut self, framework: FrameworkId) {
        let mut freed: Vec<(AgentId, Client, Quantities)> = Vec::new();
        for (id, agent) in self.agents.iter_mut() {
            if !agent.by_client.keys().any(|c| c.0 == framework) {
                continue;
            }
            let clients: Vec<Client> = agent
                .by_client
                .keys()
                .filter(|c| c.0 == framework)
                .copied()
                .collect();
            for client in clients {
                if let Some(q) = agent.by_client.remove(&client) {
                    agent.allocated.subtract(&q);
                    freed.push((id, client, q));
                }
            }
        }
        let mut roles: Vec<RoleId> = Vec::new();
        for (agent, client, q) in freed {
            self.release(client, &q);
            self.reindex(agent);
            roles.push(client.1);
        }
        let clients: Vec<Client> = self
            .clients
            .keys()
            .filter(|c| c.0 == framework)
            .copied()
            .collect();
        for client in clients {
            if let Some(share) = self.clients.remove(&client).and_then(|c| c.queued)
                && let Some(r) = self.roles.get_mut(&client.1)
            {
                r.frameworks.remove(&(share, framework));
            }
            roles.push(client.1);
        }
        self.clear_framework_filters(framework);
        self.frameworks.remove(&framework);
        roles.sort_unstable();
        roles.dedup();
        for role in roles {
            self.requeue_role(role);
        }
    }

    pub fn activate_framework(&mut self, framework: FrameworkId) {
        let Some(f) = self.frameworks.get_mut(&framework) else {
            return;
        };
        f.active = true;
        let roles = f.roles.clone();
        self.requeue_roles_of(framework, &roles);
    }

    pub fn deactivate_framework(&mut self, framework: FrameworkId) {
        let Some(f) = self.frameworks.get_mut(&framework) else {
            return;
        };
        f.active = false;
        let roles = f.roles.clone();
        self.requeue_roles_of(framework, &roles);
        // as in Mesos, a deactivated framework's decline filters go
        self.clear_framework_filters(framework);
    }

    pub fn update_framework(
        &mut self,
        framework: FrameworkId,
        info: FrameworkInfo,
        suppressed_roles: &[RoleId],
    ) {
        for &role in &info.roles {
            self.ensure_role(role);
        }
        let Some(f) = self.frameworks.get_mut(&framework) else {
            return;
        };
        let mut touched = std::mem::replace(&mut f.roles, info.roles.clone());
        f.revocable = info.capabilities.has(Capabilities::REVOCABLE_RESOURCES);
        f.suppressed = suppressed_roles.to_vec();
        touched.extend(info.roles);
        touched.sort_unstable();
        touched.dedup();
        self.requeue_roles_of(framework, &touched);
    }

    pub fn add_agent(&mut self, agent: AgentId, total: Quantities, used: &[AgentUsage]) {
        if self.agents.contains_key(agent) {
            self.remove_agent(agent);
        }
        self.agents.insert(
            agent,
            Agent {
                total,
                allocated: Quantities::default(),
                active: true,
                by_client: HashMap::default(),
                filtered: 0,
                indexed: None,
            },
        );
        for u in used {
            self.track(agent, (u.framework, u.role), &u.resources.0);
        }
        self.dirty = true;
    }

    pub fn remove_agent(&mut self, agent: AgentId) {
        let Some(removed) = self.agents.remove(agent) else {
            return;
        };
        if let (Some(index), Some(share)) = (self.index.as_mut(), removed.indexed) {
            index.remove(&(share, agent));
        }
        self.allocated_sum.subtract(&removed.allocated);
        for (client, q) in removed.by_client {
            self.release(client, &q);
        }
        for by_agent in self.filters.values_mut() {
            by_agent.remove(&agent);
        }
        self.filters.retain(|_, by_agent| !by_agent.is_empty());
        self.dirty = true;
    }

    pub fn activate_agent(&mut self, agent: AgentId) {
        if let Some(a) = self.agents.get_mut(agent) {
            a.active = true;
        }
        self.reindex(agent);
    }

    pub fn deactivate_agent(&mut self, agent: AgentId) {
        if let Some(a) = self.agents.get_mut(agent) {
            a.active = false;
        }
        self.reindex(agent);
    }

    pub fn update_agent(&mut self, agent: AgentId, total: Quantities) {
        if let Some(a) = self.agents.get_mut(agent) {
            a.total = total;
            self.dirty = true;
        }
    }

    pub fn recover_resources(
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
        self.requeue_client(client);
        let Some(timeout_ms) = self.filter_timeout_ms(refuse_seconds) else {
            return;
        };
        if !self.frameworks.contains_key(&framework) || !self.agents.contains_key(agent) {
            return;
        }
        self.add_filter(
            client,
            agent,
            Filter {
                refused: resources,
                expires_ms: now_ms.saturating_add(timeout_ms),
            },
        );
    }

    fn roles_or_all(&self, framework: FrameworkId, roles: &[RoleId]) -> Option<Vec<RoleId>> {
        let f = self.frameworks.get(&framework)?;
        Some(if roles.is_empty() {
            f.roles.clone()
        } else {
            roles.to_vec()
        })
    }

    /// Suppresses the roles (all of the framework's for an empty list).
    pub fn suppress(&mut self, framework: FrameworkId, roles: &[RoleId]) {
        let Some(roles) = self.roles_or_all(framework, roles) else {
            return;
        };
        if let Some(f) = self.frameworks.get_mut(&framework) {
            for &role in &roles {
                if !f.suppressed.contains(&role) {
                    f.suppressed.push(role);
                }
            }
        }
        self.requeue_roles_of(framework, &roles);
    }

    /// Lifts suppression of the roles (all for an empty list) and clears their decline filters.
    pub fn revive(&mut self, framework: FrameworkId, roles: &[RoleId]) {
        let Some(roles) = self.roles_or_all(framework, roles) else {
            return;
        };
        if let Some(f) = self.frameworks.get_mut(&framework) {
            f.suppressed.retain(|r| !roles.contains(r));
        }
        for &role in &roles {
            self.clear_filters((framework, role));
        }
        self.requeue_roles_of(framework, &roles);
    }

    pub fn pause(&mut self) {
        self.paused = true;
    }

    pub fn resume(&mut self) {
        self.paused = false;
    }
}

/// Forwards every `AllocatorPolicy` method but `allocate` to the `cluster` field.
macro_rules! delegate_events {
    () => {
        fn initialize(&mut self, options: meseta_types::allocation::Options) {
            self.cluster.initialize(options);
        }

        fn add_role(&mut self, role: meseta_types::allocation::RoleId, name: &str) {
            self.cluster.add_role(role, name);
        }

        fn add_resource_kinds(&mut self, kinds: &[meseta_types::allocation::ResourceKind]) {
            self.cluster.add_resource_kinds(kinds);
        }

        fn update_weights(&mut self, weights: &[(meseta_types::allocation::RoleId, f64)]) {
            self.cluster.update_weights(weights);
        }

        fn update_quota(
            &mut self,
            role: meseta_types::allocation::RoleId,
            guarantees: meseta_types::Quantities,
            limits: meseta_types::Quantities,
        ) {
            self.cluster.update_quota(role, guarantees, limits);
        }

        fn add_framework(
            &mut self,
            framework: meseta_types::allocation::FrameworkId,
            info: meseta_types::allocation::FrameworkInfo,
            used: &[meseta_types::allocation::FrameworkUsage],
            active: bool,
            suppressed_roles: &[meseta_types::allocation::RoleId],
        ) {
            self.cluster
                .add_framework(framework, info, used, active, suppressed_roles);
        }

        fn remove_framework(&mut self, framework: meseta_types::allocation::FrameworkId) {
            self.cluster.remove_framework(framework);
        }

        fn activate_framework(&mut self, framework: meseta_types::allocation::FrameworkId) {
            self.cluster.activate_framework(framework);
        }

        fn deactivate_framework(&mut self, framework: meseta_types::allocation::FrameworkId) {
            self.cluster.deactivate_framework(framework);
        }

        fn update_framework(
            &mut self,
            framework: meseta_types::allocation::FrameworkId,
            info: meseta_types::allocation::FrameworkInfo,
            suppressed_roles: &[meseta_types::allocation::RoleId],
        ) {
            self.cluster
                .update_framework(framework, info, suppressed_roles);
        }

        fn add_agent(
            &mut self,
            agent: meseta_types::allocation::AgentId,
            _info: meseta_types::allocation::AgentInfo,
            total: meseta_types::Quantities,
            used: &[meseta_types::allocation::AgentUsage],
        ) {
            self.cluster.add_agent(agent, total, used);
        }

        fn remove_agent(&mut self, agent: meseta_types::allocation::AgentId) {
            self.cluster.remove_agent(agent);
        }

        fn activate_agent(&mut self, agent: meseta_types::allocation::AgentId) {
            self.cluster.activate_agent(agent);
        }

        fn deactivate_agent(&mut self, agent: meseta_types::allocation::AgentId) {
            self.cluster.deactivate_agent(agent);
        }

        fn update_agent(
            &mut self,
            agent: meseta_types::allocation::AgentId,
            total: meseta_types::Quantities,
        ) {
            self.cluster.update_agent(agent, total);
        }

        fn recover_resources(
            &mut self,
            framework: meseta_types::allocation::FrameworkId,
            agent: meseta_types::allocation::AgentId,
            role: meseta_types::allocation::RoleId,
            resources: meseta_types::Quantities,
            refuse_seconds: Option<f64>,
            now_ms: u64,
        ) {
            self.cluster.recover_resources(
                framework,
                agent,
                role,
                resources,
                refuse_seconds,
                now_ms,
            );
        }

        fn suppress(
            &mut self,
            framework: meseta_types::allocation::FrameworkId,
            roles: &[meseta_types::allocation::RoleId],
        ) {
            self.cluster.suppress(framework, roles);
        }

        fn revive(
            &mut self,
            framework: meseta_types::allocation::FrameworkId,
            roles: &[meseta_types::allocation::RoleId],
        ) {
            self.cluster.revive(framework, roles);
        }

        fn pause(&mut self) {
            self.cluster.pause();
        }

        fn resume(&mut self) {
            self.cluster.resume();
        }
    };
}

/// A fenwick tree over role weights: weighted picks in O(log roles).
#[derive(Clone, Debug, Default)]
struct Fenwick(Vec<f64>);

impl Fenwick {
    fn build(weights: &[f64]) -> Self {
        let n = weights.len();
        let mut tree = vec![0.0; n + 1];
        for (i, w) in weights.iter().enumerate() {
            if let Some(t) = tree.get_mut(i + 1) {
                *t += w;
            }
            let j = (i + 1) + ((i + 1) & (i + 1).wrapping_neg());
            if j <= n {
                let v = tree.get(i + 1).copied().unwrap_or(0.0);
                if let Some(t) = tree.get_mut(j) {
                    *t += v;
                }
            }
        }
        Fenwick(tree)
    }

    fn add(&mut self, i: usize, delta: f64) {
        let mut j = i + 1;
        while let Some(t) = self.0.get_mut(j) {
            *t += delta;
            j += j & j.wrapping_neg();
        }
    }

    fn total(&self) -> f64 {
        let mut j = self.0.len().saturating_sub(1);
        let mut sum = 0.0;
        while j > 0 {
            sum += self.0.get(j).copied().unwrap_or(0.0);
            j -= j & j.wrapping_neg();
        }
        sum
    }

    /// The index `i` such that the prefix sum before `i` is `<= u` and through `i` is `> u`.
    fn find(&self, mut u: f64) -> usize {
        let n = self.0.len().saturating_sub(1);
        let mut pos = 0;
        let mut step = if n == 0 {
            0
        } else {
            1 << (usize::BITS - 1 - n.leading_zeros())
        };
        while step > 0 {
            let next = pos + step;
            if let Some(&t) = self.0.get(next)
                && t <= u
            {
                pos = next;
                u -= t;
            }
            step >>= 1;
        }
        pos
    }
}

/// The random sorter for one round: roles picked with probability proportional to their
/// weight among those not yet picked, frameworks of a role uniformly among those not yet
/// picked (a partial Fisher-Yates shuffle). Orders are drawn lazily, so a walk that stops at
/// the first client costs O(log roles).
#[derive(Clone, Debug, Default)]
pub struct RandomOrder {
    pub roles: Vec<RoleId>,
    weights: Vec<f64>,
    tree: Fenwick,
    members: Vec<Vec<FrameworkId>>,
    taken: Vec<(usize, f64)>,
}

impl RandomOrder {
    /// The eligible roles and frameworks of the cluster (after `prepare`).
    pub fn new(c: &Cluster) -> Self {
        let mut roles = Vec::with_capacity(c.role_queue.len());
        let mut weights = Vec::with_capacity(c.role_queue.len());
        let mut members = Vec::with_capacity(c.role_queue.len());
        for &(_, role) in &c.role_queue {
            let Some(r) = c.roles.get(&role) else {
                continue;
            };
            roles.push(role);
            weights.push(r.weight);
            members.push(r.frameworks.iter().map(|k| k.1).collect());
        }
        RandomOrder {
            tree: Fenwick::build(&weights),
            roles,
            weights,
            members,
            taken: Vec::new(),
        }
    }

    /// A weighted pick among the roles not taken, or `None` when all are.
    pub fn pick(&mut self, rng: &mut Rng) -> Option<usize> {
        let total = self.tree.total();
        if total <= 0.0 {
            return None;
        }
        let i = self.tree.find(rng.unit() * total);
        if self.weights.get(i).is_some_and(|w| *w > 0.0) {
            return Some(i);
        }
        // rounding landed on a taken role: any untaken one
        self.weights.iter().position(|w| *w > 0.0)
    }

    /// Takes a role out of the picks until `restore`.
    pub fn take(&mut self, i: usize) {
        let Some(w) = self.weights.get_mut(i) else {
            return;
        };
        if *w > 0.0 {
            let weight = *w;
            *w = 0.0;
            self.tree.add(i, -weight);
            self.taken.push((i, weight));
        }
    }

    /// Puts back every role taken since the last `restore`.
    pub fn restore(&mut self) {
        for (i, weight) in self.taken.drain(..) {
            if let Some(w) = self.weights.get_mut(i) {
                *w = weight;
                self.tree.add(i, weight);
            }
        }
    }

    /// Forgets the roles taken so far: they stay taken.
    pub fn keep_taken(&mut self) {
        self.taken.clear();
    }

    /// The next framework of role `i` in a uniform random order, `pos` counting the ones
    /// already drawn in this order.
    pub fn next_member(&mut self, i: usize, pos: &mut usize, rng: &mut Rng) -> Option<FrameworkId> {
        let members = self.members.get_mut(i)?;
        let n = members.len();
        if *pos >= n {
            return None;
        }
        let j = *pos + rng.below(n - *pos);
        members.swap(*pos, j);
        let f = members.get(*pos).copied();
        *pos += 1;
        f
    }
}
