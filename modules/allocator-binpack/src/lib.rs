//! `allocator-binpack`: an allocator that packs frameworks onto as few agents as possible,
//! filling the fullest agent that fits first.
//!
//! # Policy
//!
//! Each round serves the eligible clients, (framework, role) pairs, one at a time in
//! hierarchical DRF order: the role with the lowest weighted dominant share first, and in it
//! the framework with the lowest dominant share within the role (ties to the lower id). After a
//! client is served its role's share is updated before the next pick, so the order stays fair
//! within the round. Each framework is served at most once per round: it is offered **one
//! agent**, the fullest eligible one, that is the active agent with the least free resources (the
//! sum, over the slots counted for fairness, of the agent's free amount divided by the
//! cluster's total of that slot) whose free resources, as the client may take them, still pass
//! `min_allocatable`; ties go to the lower agent id. The offer is the agent's whole free
//! resources as the client may take them. The other agents wait for the next round, so a
//! framework's tasks pile up on few agents while empty agents stay empty (whereas
//! `allocator-drf` offers every agent in every round).
//!
//! Eligibility is exactly `allocator-drf`'s (the same bookkeeping code, compiled into this
//! crate): frameworks must be active and not suppressed in the role (`suppress`/`revive`);
//! revocable slots only go to frameworks with `REVOCABLE_RESOURCES`; decline filters follow
//! Mesos (`refuse_seconds > 0` filters the (framework, role, agent) for
//! `max(allocation_interval, refuse_seconds)`, at most 365 days, while the candidate is within
//! the refused resources; `revive` clears them); quota limits of a role and of its ancestors clip
//! what the role is offered, and what other roles' guarantees still lack is held back from it
//! (the required headroom, as in `allocator-drf`; there is no first stage serving guaranteed
//! roles before the others); a paused allocator and inactive agents
//! get nothing. With `Sorter::Random` the clients are drawn in a weighted random order instead
//! (roles by weight, frameworks uniformly), still one agent per framework per round.
//!
//! # Cost
//!
//! Agents with allocatable free resources are kept in a `BTreeSet` ordered by (free size, id),
//! updated on every change to an agent. A round costs O(log) per framework when the fullest
//! agent suits it, plus one step per agent it skips (filtered, or offering only what the
//! framework may not take).

#[macro_use]
#[path = "../../allocator-drf/src/cluster.rs"]
pub mod cluster;

use std::collections::HashSet;

use meseta_types::allocation::{AgentId, AllocatorPolicy, FrameworkId, Offer, RoleId, Sorter};
use meseta_types::{Create, Parameters, Quantities};

pub use cluster::MAX_FILTER_MS;
use cluster::{AgentKey, Cluster, RandomOrder, Scratch};

/// The bin-packing allocator.
#[derive(Clone, Debug)]
pub struct BinpackAllocator {
    cluster: Cluster,
    /// Reused across rounds.
    done: Vec<FrameworkId>,
    scratch: Scratch,
}

impl Default for BinpackAllocator {
    fn default() -> Self {
        BinpackAllocator {
            cluster: Cluster::new(true),
            done: Vec::new(),
            scratch: Scratch::default(),
        }
    }
}

impl Create for BinpackAllocator {
    fn create(parameters: &Parameters) -> Result<Self, String> {
        if let Some((key, _)) = parameters.first() {
            return Err(format!(
                "allocator-binpack takes no parameters, got '{key}'"
            ));
        }
        Ok(BinpackAllocator::default())
    }
}

impl BinpackAllocator {
    /// A new allocator (the same as `create` with no parameters).
    pub fn new() -> Self {
        Self::default()
    }

    /// The shared bookkeeping (shares, allocations, free resources).
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// An agent's free resources (total minus allocated), if it is known.
    pub fn free(&self, agent: AgentId) -> Option<Quantities> {
        self.cluster.free(agent)
    }
}

/// Offers the client the fullest agent it may take something of, if any.
fn place(
    c: &mut Cluster,
    framework: FrameworkId,
    role: RoleId,
    now_ms: u64,
    s: &mut Scratch,
) -> Option<Offer> {
    let takes_revocable = c.takes_revocable(framework);
    // a role whose quota leaves it nothing allocatable anywhere skips the agent walk
    let unbounded = c.candidates_unbounded(role, s);
    if !(if takes_revocable {
        unbounded.rev
    } else {
        unbounded.plain
    }) {
        return None;
    }
    let mut cursor: Option<AgentKey> = None;
    while let Some(key) = c.fullest_after(cursor) {
        cursor = Some(key);
        let agent = key.1;
        if !c.free_into(agent, &mut s.free) {
            continue;
        }
        let fits = c.candidates(role, &s.free, &mut s.plain, &mut s.rev);
        let (ok, candidate) = if takes_revocable {
            (fits.rev, &s.rev)
        } else {
            (fits.plain, &s.plain)
        };
        if !ok || c.is_filtered((framework, role), agent, candidate, now_ms) {
            continue;
        }
        let resources = Quantities(candidate.clone());
        c.track(agent, (framework, role), &resources.0);
        return Some(Offer {
            framework,
            role,
            agent,
            resources,
        });
    }
    None
}

impl AllocatorPolicy for BinpackAllocator {
    delegate_events!();

    fn allocate(&mut self, now_ms: u64) -> Vec<Offer> {
        let mut offers = Vec::new();
        let c = &mut self.cluster;
        if !c.prepare(now_ms) {
            return offers;
        }
        self.done.clear();
        match c.sorter() {
            Sorter::Drf => {
                // the lowest role, its lowest framework; served frameworks leave the sorters
                // for the rest of the round
                while let Some((_, role)) = c.role_after(None) {
                    let Some((_, framework)) = c.framework_after(role, None) else {
                        break;
                    };
                    c.dequeue_framework(framework);
                    if c.framework_after(role, None)
                        .is_some_and(|k| k.1 == framework)
                    {
                        break; // cannot happen: the framework left the sorter
                    }
                    self.done.push(framework);
                    if let Some(offer) = place(c, framework, role, now_ms, &mut self.scratch) {
                        offers.push(offer);
                        c.requeue_role(role);
                    }
                }
            }
            Sorter::Random => {
                let mut order = RandomOrder::new(c);
                let mut drawn = vec![0usize; order.roles.len()];
                let mut seen: HashSet<FrameworkId> = HashSet::new();
                while let Some(i) = order.pick(&mut c.rng) {
                    let (Some(pos), Some(&role)) = (drawn.get_mut(i), order.roles.get(i)) else {
                        break;
                    };
                    let Some(framework) = order.next_member(i, pos, &mut c.rng) else {
                        // the role has no framework left this round
                        order.take(i);
                        order.keep_taken();
                        continue;
                    };
                    if !seen.insert(framework) {
                        continue; // served in another role
                    }
                    if let Some(offer) = place(c, framework, role, now_ms, &mut self.scratch) {
                        offers.push(offer);
                    }
                }
                self.done.extend(seen);
            }
        }
        for &framework in &self.done {
            c.requeue_framework(framework);
        }
        offers
    }
}

#[cfg(target_arch = "wasm32")]
meseta_sdk::export_allocator!(BinpackAllocator);

#[cfg(test)]
mod tests;
