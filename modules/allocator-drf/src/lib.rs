//! `allocator-drf`: Meseta's default allocator, hierarchical Dominant Resource Fairness as in
//! Mesos' `HierarchicalDRFAllocator`.
//!
//! # Policy
//!
//! Two levels of sorters decide who is offered what. The **role sorter** orders roles by their
//! weighted dominant share: the largest, over the slots not excluded from fairness, of the
//! role's allocation (all its frameworks together) divided by the cluster's total (the sum of
//! every added agent's total), divided by the role's weight (`update_weights`, default 1). In
//! each role a **framework sorter** orders the role's frameworks by their dominant share within
//! that role (their allocation in that role, unweighted). Ties go to the lower id. Role paths
//! form a tree, sorted as Mesos' hierarchical DRF sorter does: siblings by the weighted share of
//! everything under them (`eng` holds what `eng/a` and `eng/b` hold; the weight of `eng` is the
//! weight given to that path), depth first, a role that also has sub-roles competing with them
//! by its own share. Without any `/` in role names this is the flat order above.
//!
//! Each round visits the active agents in a shuffled order (a deterministic PRNG reseeded from
//! the round's `now_ms`, so no agent is always first). For each agent with free resources (its
//! total minus what is allocated: offers grow the allocation, `recover_resources` shrinks it)
//! it walks the roles in role-sorter order and, in each, the frameworks in that role's order,
//! and offers the agent's free resources to the first eligible (framework, role); what that
//! client may not take (revocable slots, quota) goes on to the next one, so one agent may
//! produce several offers. Shares are updated after each agent (one ordered-set remove and
//! insert per client served and per role), never re-sorted from scratch, except once after the
//! cluster's total changed (agents added, removed or resized).
//!
//! A client is skipped when:
//!
//! * its framework is inactive, or suppressed in that role (`suppress`; `revive` lifts it);
//! * the candidate is revocable-only and the framework lacks `REVOCABLE_RESOURCES` (revocable
//!   slots are only offered to frameworks with that capability);
//! * a decline filter covers the candidate (below);
//! * the candidate does not pass `min_allocatable` (given by the host in `Options`, Mesos'
//!   default being `cpus:0.01|mem:32`): it must meet every amount of at least one entry
//!   (revocable and regular slots of the same resource name count together, as in Mesos); with
//!   no entries any non-empty candidate passes.
//!
//! **Decline filters** follow Mesos: `recover_resources` with `refuse_seconds = Some(s)`, `s > 0`,
//! creates a filter for (framework, role, agent) with timeout `max(allocation_interval, s)`
//! capped at 365 days. It blocks offers on that agent to that client while the candidate is
//! contained in the refused resources, until `now_ms` reaches its expiry. `None`, `s <= 0` or NaN
//! creates no filter. `revive` clears the filters of the revived roles; deactivating or removing
//! the framework, or removing the agent, clears its filters too.
//!
//! **Quota**: the guarantees and limits of `update_quota` belong to the role's path: a role
//! `a/b` counts against those of `a`, `a/b` and itself, and an offer is clipped so that no role
//! on the path exceeds its limits. Guarantees work as in Mesos' hierarchical allocator: what
//! guarantees still lack, summed over every role (the *required headroom*), is held back from
//! everyone; a role may take what advances a guarantee on its path plus the surplus of the
//! cluster's unallocated resources over the required headroom. A round has two stages: first
//! the roles whose guarantee is not met, in DRF order, on every agent; then every role.
//! Revocable slots are not subject to quota, as in Mesos.
//!
//! **`Sorter::Random`** (Mesos' random sorter) replaces both sorters, for every agent, by a
//! weighted random order: roles are drawn with probability proportional to their weight among
//! those not yet drawn for this agent, frameworks uniformly; allocations are ignored. The order
//! is drawn lazily from a deterministic PRNG. A paused allocator makes no offers.
//!
//! # Cost
//!
//! Both sorters are `BTreeSet`s of (share, id); a role is in the role sorter only while it has an
//! eligible framework. A round costs O(agents) to shuffle plus, per agent with free resources,
//! O(log roles + log frameworks) when the first client in order takes the agent, plus one step
//! per client skipped (filtered, or of the wrong capability). Roles whose quota leaves nothing
//! allocatable are skipped whole. Per-round scratch buffers are reused across agents. With role
//! paths, each agent's walk first lays out the role tree's order: O(roles log roles) per agent.
//! With guarantees, the first stage adds one pass over the agents for the roles still short.
//!
//! The policy is plain Rust (`DrfAllocator`), linked natively by the host as the built-in
//! allocator and benchmark baseline; for `wasm32` the crate also exports it as an `allocator`
//! component. The bookkeeping it shares with `allocator-binpack` is in [`cluster`].

#[macro_use]
pub mod cluster;

use meseta_types::allocation::{
    AgentId, AllocatorPolicy, FrameworkId, Offer, OfferSink, RoleId, Sorter,
};
use meseta_types::quantities::max;
use meseta_types::{Create, Parameters, Quantities};

pub use cluster::MAX_FILTER_MS;
use cluster::{Client, Cluster, FrameworkKey, RandomOrder, RoleKey, Scratch};

/// The hierarchical DRF allocator.
#[derive(Clone, Debug)]
pub struct DrfAllocator {
    cluster: Cluster,
    /// Reused across rounds.
    agents: Vec<AgentId>,
    served: Vec<Client>,
    scratch: Scratch,
    /// Roles taken out of the role sorter for the current round (quota exhausted).
    parked: Vec<RoleId>,
}

impl Default for DrfAllocator {
    fn default() -> Self {
        DrfAllocator {
            cluster: Cluster::new(false),
            agents: Vec::new(),
            served: Vec::new(),
            scratch: Scratch::default(),
            parked: Vec::new(),
        }
    }
}

impl Create for DrfAllocator {
    fn create(parameters: &Parameters) -> Result<Self, String> {
        if let Some((key, _)) = parameters.first() {
            return Err(format!("allocator-drf takes no parameters, got '{key}'"));
        }
        Ok(DrfAllocator::default())
    }
}

/// The order a walk over one agent follows.
enum Walk<'a> {
    Drf,
    /// The first stage: DRF order over the roles whose guarantee is not met yet.
    Guarantees,
    Random(&'a mut RandomOrder),
}

impl DrfAllocator {
    /// A new allocator (the same as `create` with no parameters).
    pub fn new() -> Self {
        Self::default()
    }

    /// The shared bookkeeping (shares, allocations, free resources).
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The dominant share of a framework within a role (0 for an unknown one), against the
    /// cluster total of the last allocation round.
    pub fn share(&self, framework: FrameworkId, role: RoleId) -> f64 {
        self.cluster.share(framework, role)
    }

    /// The weighted dominant share of a role.
    pub fn role_share(&self, role: RoleId) -> f64 {
        self.cluster.role_share(role)
    }

    /// What the framework holds in the role now, over every agent.
    pub fn allocation(&self, framework: FrameworkId, role: RoleId) -> Quantities {
        self.cluster.allocation(framework, role)
    }

    /// An agent's free resources (total minus allocated), if it is known.
    pub fn free(&self, agent: AgentId) -> Option<Quantities> {
        self.cluster.free(agent)
    }

    /// Mesos' decline-filter timeout for `refuse_seconds`, in milliseconds.
    pub fn filter_timeout_ms(&self, refuse_seconds: Option<f64>) -> Option<u64> {
        self.cluster.filter_timeout_ms(refuse_seconds)
    }
}

/// Offers one agent's free resources, walking roles then frameworks in sorter order.
fn allocate_agent(
    c: &mut Cluster,
    agent: AgentId,
    now_ms: u64,
    mut walk: Walk<'_>,
    s: &mut Scratch,
    served: &mut Vec<Client>,
    offers: &mut dyn OfferSink,
) {
    if !c.free_into(agent, &mut s.free) || !c.allocatable(&s.free) {
        return;
    }
    served.clear();
    let mut role_cursor: Option<RoleKey> = None;
    // With role paths (`eng/backend`) the roles are walked in the role tree's order, fixed for
    // the agent (shares change only once the agent is done).
    let tree = matches!(walk, Walk::Drf) && c.hierarchical();
    if tree {
        c.tree_order(&mut s.order);
    }
    let mut tree_index = 0;
    'roles: loop {
        let (role, random_index) = match &mut walk {
            Walk::Drf if tree => {
                let Some(&role) = s.order.get(tree_index) else {
                    break;
                };
                tree_index += 1;
                (role, 0)
            }
            Walk::Drf => {
                let Some(key) = c.role_after(role_cursor) else {
                    break;
                };
                role_cursor = Some(key);
                (key.1, 0)
            }
            Walk::Guarantees => {
                let Some(key) = c.guaranteed_role_after(role_cursor) else {
                    break;
                };
                role_cursor = Some(key);
                (key.1, 0)
            }
            Walk::Random(order) => {
                let Some(i) = order.pick(&mut c.rng) else {
                    break;
                };
                order.take(i);
                let Some(&role) = order.roles.get(i) else {
                    break;
                };
                (role, i)
            }
        };
        let mut fits = c.candidates(role, &s.free, &mut s.plain, &mut s.rev);
        if !fits.any() {
            continue; // quota or min_allocatable leave this role nothing here
        }
        let mut framework_cursor: Option<FrameworkKey> = None;
        let mut drawn = 0;
        loop {
            let framework = match &mut walk {
                Walk::Drf | Walk::Guarantees => {
                    let Some(key) = c.framework_after(role, framework_cursor) else {
                        break;
                    };
                    framework_cursor = Some(key);
                    key.1
                }
                Walk::Random(order) => {
                    let Some(f) = order.next_member(random_index, &mut drawn, &mut c.rng) else {
                        break;
                    };
                    f
                }
            };
            let takes_revocable = c.takes_revocable(framework);
            let (ok, candidate) = if takes_revocable {
                (fits.rev, &s.rev)
            } else {
                (fits.plain, &s.plain)
            };
            if !ok {
                continue;
            }
            let client = (framework, role);
            if c.is_filtered(client, agent, candidate, now_ms) {
                continue;
            }
            for (f, taken) in s.free.iter_mut().zip(candidate) {
                *f = max(*f - taken, 0.0);
            }
            c.track(agent, client, candidate);
            served.push(client);
            offers.offer(framework, role, agent, candidate);
            if !c.allocatable(&s.free) {
                break 'roles; // nobody can take a part of what is left
            }
            fits = c.candidates(role, &s.free, &mut s.plain, &mut s.rev);
            if !fits.any() {
                break;
            }
        }
    }
    if let Walk::Random(order) = walk {
        order.restore();
    }
    // shares change only after the agent is done, so no client is visited twice
    for &client in served.iter() {
        c.requeue_client(client);
    }
}

impl AllocatorPolicy for DrfAllocator {
    delegate_events!();

    fn allocate(&mut self, now_ms: u64) -> Vec<Offer> {
        let mut offers = Vec::new();
        self.allocate_into(now_ms, &mut offers);
        offers
    }

    fn allocate_into(&mut self, now_ms: u64, offers: &mut dyn OfferSink) {
        let c = &mut self.cluster;
        if !c.prepare(now_ms) {
            return;
        }
        c.active_agents(&mut self.agents);
        c.rng.shuffle(&mut self.agents);
        let mut random = (c.sorter() == Sorter::Random).then(|| RandomOrder::new(c));
        // Roles whose quota leaves them nothing are parked for the round, so that each agent's
        // walk visits only roles that can take something (LargeAndSmallQuota: O(agents), not
        // O(agents x roles)).
        let park = random.is_none() && c.limited();
        self.parked.clear();
        // Stage 1 (Mesos' first allocation stage): roles whose guarantee is not met are
        // served first, on every agent, before anyone else.
        if random.is_none() && c.guaranteed() {
            for &agent in &self.agents {
                allocate_agent(
                    c,
                    agent,
                    now_ms,
                    Walk::Guarantees,
                    &mut self.scratch,
                    &mut self.served,
                    offers,
                );
            }
        }
        if park {
            let mut queued = Vec::new();
            c.queued_roles(&mut queued);
            for role in queued {
                if c.park_if_exhausted(role, &mut self.scratch) {
                    self.parked.push(role);
                }
            }
        }
        for &agent in &self.agents {
            let walk = match random.as_mut() {
                Some(order) => Walk::Random(order),
                None => Walk::Drf,
            };
            allocate_agent(
                c,
                agent,
                now_ms,
                walk,
                &mut self.scratch,
                &mut self.served,
                offers,
            );
            if park {
                for &(_, role) in &self.served {
                    if c.park_if_exhausted(role, &mut self.scratch) {
                        self.parked.push(role);
                    }
                }
            }
        }
        for &role in &self.parked {
            c.requeue_role(role);
        }
    }
}

#[cfg(target_arch = "wasm32")]
meseta_sdk::export_allocator!(DrfAllocator);

#[cfg(test)]
mod tests;
