//! The allocator kind. [`WasmAllocator`] drives an allocator module through the event-driven
//! `allocator-api` and is the authority over what it returns: every offer must name a known
//! framework and one of its roles, a known agent, and fit what is still free on that agent
//! (never offering the same resources twice). An invalid offer is a module fault.
//!
//! The adapter keeps a shadow of the state it told the module (roles, frameworks, agents and
//! their allocations) so that after a fault a fresh instance gets everything back by replay.
//! Decline filters are the module's own and are lost on replay; Mesos also drops them on
//! allocator restart.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use meseta_bindings::allocator::Allocator as World;
use meseta_bindings::allocator::exports::meseta::modules::allocator_api as api;
use meseta_runtime::{LoadError, LoadedModule, ModuleError, Sandbox, StoreState};
use meseta_types::Quantities;
use meseta_types::allocation::{
    AgentId, AgentInfo, AgentUsage, AllocatorPolicy, FrameworkId, FrameworkInfo, FrameworkUsage,
    Offer, Options, RoleId, Sorter,
};
use rustc_hash::{FxHashMap, FxHashSet};
use wasmtime::Store;

#[derive(Default)]
struct FrameworkState {
    info: Option<FrameworkInfo>,
    active: bool,
    suppressed: BTreeSet<RoleId>,
}

struct AgentState {
    info: AgentInfo,
    total: Quantities,
    active: bool,
    allocated: BTreeMap<(FrameworkId, RoleId), Quantities>,
}

impl AgentState {
    /// Total minus allocated, as `Quantities::subtract` computes it, into `out`.
    fn free_into(&self, out: &mut Vec<f64>) {
        out.clear();
        out.extend_from_slice(&self.total.0);
        for q in self.allocated.values() {
            for (a, b) in out.iter_mut().zip(&q.0) {
                *a = (*a - *b).max(0.0);
                if *a < meseta_types::quantities::EPSILON {
                    *a = 0.0;
                }
            }
        }
    }
}

/// Buffers reused by every round's check.
#[derive(Default)]
struct Scratch {
    sum: Vec<f64>,
    free: Vec<f64>,
    /// Agents already visited by the adjacency test.
    seen: FxHashSet<AgentId>,
}

#[derive(Default)]
struct Shadow {
    options: Option<Options>,
    roles: BTreeMap<RoleId, String>,
    weights: BTreeMap<RoleId, f64>,
    quotas: BTreeMap<RoleId, (Quantities, Quantities)>,
    /// Hashed, not ordered: every offer of a round looks its framework and agent up here (see
    /// BENCHMARKS.md); replays sort the ids first.
    frameworks: FxHashMap<FrameworkId, FrameworkState>,
    agents: FxHashMap<AgentId, AgentState>,
    paused: bool,
}

impl Shadow {
    fn frameworks_in_order(&self) -> Vec<(&FrameworkId, &FrameworkState)> {
        let mut v: Vec<_> = self.frameworks.iter().collect();
        v.sort_unstable_by_key(|(id, _)| **id);
        v
    }

    fn agents_in_order(&self) -> Vec<(&AgentId, &AgentState)> {
        let mut v: Vec<_> = self.agents.iter().collect();
        v.sort_unstable_by_key(|(id, _)| **id);
        v
    }
}

/// An allocator module with its shadow state.
pub struct WasmAllocator {
    sandbox: Sandbox<World, ()>,
    shadow: Shadow,
    scratch: Scratch,
}

fn q(v: &Quantities) -> Vec<f64> {
    v.0.clone()
}

fn options_to(o: &Options) -> api::Options {
    api::Options {
        resource_kinds: o
            .resource_kinds
            .iter()
            .map(|k| api::ResourceKind {
                name: k.name.clone(),
                revocable: k.revocable,
            })
            .collect(),
        allocation_interval_ms: o.allocation_interval_ms,
        min_allocatable: o.min_allocatable.iter().map(q).collect(),
        fairness_excluded: o.fairness_excluded.clone(),
        sorter: match o.sorter {
            Sorter::Drf => api::Sorter::Drf,
            Sorter::Random => api::Sorter::Random,
        },
    }
}

fn framework_to(f: &FrameworkInfo) -> api::FrameworkInfo {
    api::FrameworkInfo {
        name: f.name.clone(),
        roles: f.roles.clone(),
        capabilities: capabilities_to(f.capabilities),
    }
}

fn capabilities_to(c: meseta_types::allocation::Capabilities) -> api::Capabilities {
    use meseta_types::allocation::Capabilities as C;
    let table = [
        (
            C::REVOCABLE_RESOURCES,
            api::Capabilities::REVOCABLE_RESOURCES,
        ),
        (C::MULTI_ROLE, api::Capabilities::MULTI_ROLE),
        (C::PARTITION_AWARE, api::Capabilities::PARTITION_AWARE),
        (C::GPU_RESOURCES, api::Capabilities::GPU_RESOURCES),
        (
            C::RESERVATION_REFINEMENT,
            api::Capabilities::RESERVATION_REFINEMENT,
        ),
        (C::REGION_AWARE, api::Capabilities::REGION_AWARE),
    ];
    table
        .into_iter()
        .filter(|(bit, _)| c.has(*bit))
        .fold(api::Capabilities::empty(), |acc, (_, flag)| acc | flag)
}

fn agent_to(a: &AgentInfo) -> api::AgentInfo {
    api::AgentInfo {
        hostname: a.hostname.clone(),
        attributes: a.attributes.clone(),
    }
}

type S = Store<StoreState<()>>;

/// Tells a fresh instance everything the shadow knows.
fn replay(shadow: &Shadow, w: &World, s: &mut S) -> wasmtime::Result<Result<(), String>> {
    let a = w.meseta_modules_allocator_api();
    if let Some(o) = &shadow.options {
        a.call_initialize(&mut *s, &options_to(o))?;
    }
    for (role, name) in &shadow.roles {
        a.call_add_role(&mut *s, *role, name)?;
    }
    if !shadow.weights.is_empty() {
        let weights: Vec<(u32, f64)> = shadow.weights.iter().map(|(r, w)| (*r, *w)).collect();
        a.call_update_weights(&mut *s, &weights)?;
    }
    for (role, (g, l)) in &shadow.quotas {
        a.call_update_quota(&mut *s, *role, &q(g), &q(l))?;
    }
    for (id, f) in shadow.frameworks_in_order() {
        if let Some(info) = &f.info {
            let suppressed: Vec<u32> = f.suppressed.iter().copied().collect();
            a.call_add_framework(
                &mut *s,
                *id,
                &framework_to(info),
                &[],
                f.active,
                &suppressed,
            )?;
        }
    }
    for (id, agent) in shadow.agents_in_order() {
        let used: Vec<api::AgentUsage> = agent
            .allocated
            .iter()
            .map(|((framework, role), r)| api::AgentUsage {
                framework: *framework,
                role: *role,
                resources: q(r),
            })
            .collect();
        a.call_add_agent(
            &mut *s,
            *id,
            &agent_to(&agent.info),
            &q(&agent.total),
            &used,
        )?;
        if !agent.active {
            a.call_deactivate_agent(&mut *s, *id)?;
        }
    }
    if shadow.paused {
        a.call_pause(&mut *s)?;
    }
    Ok(Ok(()))
}

/// Tells a native policy everything the shadow knows (the same order as `replay`).
fn replay_native(shadow: &Shadow, p: &mut dyn AllocatorPolicy) {
    if let Some(o) = &shadow.options {
        p.initialize(o.clone());
    }
    for (role, name) in &shadow.roles {
        p.add_role(*role, name);
    }
    if !shadow.weights.is_empty() {
        let weights: Vec<(u32, f64)> = shadow.weights.iter().map(|(r, w)| (*r, *w)).collect();
        p.update_weights(&weights);
    }
    for (role, (g, l)) in &shadow.quotas {
        p.update_quota(*role, g.clone(), l.clone());
    }
    for (id, f) in shadow.frameworks_in_order() {
        if let Some(info) = &f.info {
            let suppressed: Vec<u32> = f.suppressed.iter().copied().collect();
            p.add_framework(*id, info.clone(), &[], f.active, &suppressed);
        }
    }
    for (id, agent) in shadow.agents_in_order() {
        let used: Vec<AgentUsage> = agent
            .allocated
            .iter()
            .map(|((framework, role), r)| AgentUsage {
                framework: *framework,
                role: *role,
                resources: r.clone(),
            })
            .collect();
        p.add_agent(*id, agent.info.clone(), agent.total.clone(), &used);
        if !agent.active {
            p.deactivate_agent(*id);
        }
    }
    if shadow.paused {
        p.pause();
    }
}

macro_rules! forward {
    ($self:ident, $op:literal, |$a:ident, $s:ident| $body:expr) => {{
        let shadow = &$self.shadow;
        $self.sandbox.call_with(
            $op,
            |w, s| replay(shadow, w, s),
            |w, $s| {
                let $a = w.meseta_modules_allocator_api();
                $body
            },
        )
    }};
}

impl WasmAllocator {
    /// Links and starts the module (its `init(parameters)` runs now).
    pub fn new(module: Arc<LoadedModule>) -> Result<Self, LoadError> {
        let mut sandbox = Sandbox::new(module, || ())?;
        sandbox.start()?;
        Ok(WasmAllocator {
            sandbox,
            shadow: Shadow::default(),
            scratch: Scratch::default(),
        })
    }

    pub fn module(&self) -> &Arc<LoadedModule> {
        self.sandbox.module()
    }

    pub fn record_fallback(&self) {
        self.sandbox.record_fallback();
    }

    pub fn initialize(&mut self, options: Options) -> Result<(), ModuleError> {
        let o = options_to(&options);
        self.shadow.options = Some(options);
        forward!(self, "initialize", |a, s| a.call_initialize(s, &o))
    }

    pub fn add_role(&mut self, role: RoleId, name: &str) -> Result<(), ModuleError> {
        self.shadow.roles.insert(role, name.to_string());
        forward!(self, "add-role", |a, s| a.call_add_role(s, role, name))
    }

    pub fn update_weights(&mut self, weights: &[(RoleId, f64)]) -> Result<(), ModuleError> {
        self.shadow.weights.extend(weights.iter().copied());
        forward!(self, "update-weights", |a, s| a
            .call_update_weights(s, weights))
    }

    pub fn update_quota(
        &mut self,
        role: RoleId,
        guarantees: Quantities,
        limits: Quantities,
    ) -> Result<(), ModuleError> {
        let (g, l) = (q(&guarantees), q(&limits));
        self.shadow.quotas.insert(role, (guarantees, limits));
        forward!(self, "update-quota", |a, s| a
            .call_update_quota(s, role, &g, &l))
    }

    pub fn add_framework(
        &mut self,
        framework: FrameworkId,
        info: FrameworkInfo,
        used: &[FrameworkUsage],
        active: bool,
        suppressed_roles: &[RoleId],
    ) -> Result<(), ModuleError> {
        for u in used {
            if let Some(agent) = self.shadow.agents.get_mut(&u.agent) {
                agent
                    .allocated
                    .entry((framework, u.role))
                    .or_insert_with(|| Quantities::zeros(0))
                    .add(&u.resources);
            }
        }
        let wi = framework_to(&info);
        self.shadow.frameworks.insert(
            framework,
            FrameworkState {
                info: Some(info),
                active,
                suppressed: suppressed_roles.iter().copied().collect(),
            },
        );
        let wu: Vec<api::FrameworkUsage> = used
            .iter()
            .map(|u| api::FrameworkUsage {
                agent: u.agent,
                role: u.role,
                resources: q(&u.resources),
            })
            .collect();
        forward!(self, "add-framework", |a, s| a.call_add_framework(
            s,
            framework,
            &wi,
            &wu,
            active,
            suppressed_roles
        ))
    }

    pub fn remove_framework(&mut self, framework: FrameworkId) -> Result<(), ModuleError> {
        self.shadow.frameworks.remove(&framework);
        for agent in self.shadow.agents.values_mut() {
            agent.allocated.retain(|(f, _), _| *f != framework);
        }
        forward!(self, "remove-framework", |a, s| a
            .call_remove_framework(s, framework))
    }

    pub fn activate_framework(&mut self, framework: FrameworkId) -> Result<(), ModuleError> {
        self.shadow.frameworks.entry(framework).or_default().active = true;
        forward!(self, "activate-framework", |a, s| a
            .call_activate_framework(s, framework))
    }

    pub fn deactivate_framework(&mut self, framework: FrameworkId) -> Result<(), ModuleError> {
        self.shadow.frameworks.entry(framework).or_default().active = false;
        forward!(self, "deactivate-framework", |a, s| a
            .call_deactivate_framework(s, framework))
    }

    pub fn update_framework(
        &mut self,
        framework: FrameworkId,
        info: FrameworkInfo,
        suppressed_roles: &[RoleId],
    ) -> Result<(), ModuleError> {
        let wi = framework_to(&info);
        let f = self.shadow.frameworks.entry(framework).or_default();
        f.info = Some(info);
        f.suppressed = suppressed_roles.iter().copied().collect();
        forward!(self, "update-framework", |a, s| a.call_update_framework(
            s,
            framework,
            &wi,
            suppressed_roles
        ))
    }

    pub fn add_agent(
        &mut self,
        agent: AgentId,
        info: AgentInfo,
        total: Quantities,
        used: &[AgentUsage],
    ) -> Result<(), ModuleError> {
        let mut allocated = BTreeMap::new();
        for u in used {
            allocated
                .entry((u.framework, u.role))
                .or_insert_with(|| Quantities::zeros(0))
                .add(&u.resources);
        }
        let (wi, wt) = (agent_to(&info), q(&total));
        let wu: Vec<api::AgentUsage> = used
            .iter()
            .map(|u| api::AgentUsage {
                framework: u.framework,
                role: u.role,
                resources: q(&u.resources),
            })
            .collect();
        self.shadow.agents.insert(
            agent,
            AgentState {
                info,
                total,
                active: true,
                allocated,
            },
        );
        forward!(self, "add-agent", |a, s| a
            .call_add_agent(s, agent, &wi, &wt, &wu))
    }

    pub fn remove_agent(&mut self, agent: AgentId) -> Result<(), ModuleError> {
        self.shadow.agents.remove(&agent);
        forward!(self, "remove-agent", |a, s| a.call_remove_agent(s, agent))
    }

    pub fn activate_agent(&mut self, agent: AgentId) -> Result<(), ModuleError> {
        if let Some(a) = self.shadow.agents.get_mut(&agent) {
            a.active = true;
        }
        forward!(self, "activate-agent", |a, s| a
            .call_activate_agent(s, agent))
    }

    pub fn deactivate_agent(&mut self, agent: AgentId) -> Result<(), ModuleError> {
        if let Some(a) = self.shadow.agents.get_mut(&agent) {
            a.active = false;
        }
        forward!(self, "deactivate-agent", |a, s| a
            .call_deactivate_agent(s, agent))
    }

    pub fn update_agent(&mut self, agent: AgentId, total: Quantities) -> Result<(), ModuleError> {
        let wt = q(&total);
        if let Some(a) = self.shadow.agents.get_mut(&agent) {
            a.total = total;
        }
        forward!(self, "update-agent", |a, s| a
            .call_update_agent(s, agent, &wt))
    }

    #[allow(clippy::too_many_arguments)]
    pub fn recover_resources(
        &mut self,
        framework: FrameworkId,
        agent: AgentId,
        role: RoleId,
        resources: Quantities,
        refuse_seconds: Option<f64>,
        now_ms: u64,
    ) -> Result<(), ModuleError> {
        if let Some(a) = self.shadow.agents.get_mut(&agent)
            && let Some(held) = a.allocated.get_mut(&(framework, role))
        {
            held.subtract(&resources);
            if held.is_empty() {
                a.allocated.remove(&(framework, role));
            }
        }
        let wr = q(&resources);
        forward!(self, "recover-resources", |a, s| a.call_recover_resources(
            s,
            framework,
            agent,
            role,
            &wr,
            refuse_seconds,
            now_ms
        ))
    }

    pub fn suppress(
        &mut self,
        framework: FrameworkId,
        roles: &[RoleId],
    ) -> Result<(), ModuleError> {
        let f = self.shadow.frameworks.entry(framework).or_default();
        let all = f.info.as_ref().map(|i| i.roles.clone()).unwrap_or_default();
        f.suppressed
            .extend(if roles.is_empty() { &all[..] } else { roles });
        forward!(self, "suppress", |a, s| a
            .call_suppress(s, framework, roles))
    }

    pub fn revive(&mut self, framework: FrameworkId, roles: &[RoleId]) -> Result<(), ModuleError> {
        let f = self.shadow.frameworks.entry(framework).or_default();
        if roles.is_empty() {
            f.suppressed.clear();
        } else {
            f.suppressed.retain(|r| !roles.contains(r));
        }
        forward!(self, "revive", |a, s| a.call_revive(s, framework, roles))
    }

    pub fn pause(&mut self) -> Result<(), ModuleError> {
        self.shadow.paused = true;
        forward!(self, "pause", |a, s| a.call_pause(s))
    }

    pub fn resume(&mut self) -> Result<(), ModuleError> {
        self.shadow.paused = false;
        forward!(self, "resume", |a, s| a.call_resume(s))
    }

    /// One allocation round. Every offer is checked before any is accepted; one bad offer
    /// rejects the whole round as a module fault.
    pub fn allocate(&mut self, now_ms: u64) -> Result<Vec<Offer>, ModuleError> {
        let offers = forward!(self, "allocate", |a, s| a.call_allocate(s, now_ms))?;
        let checked = self.check(&offers);
        if let Err(message) = checked {
            return Err(self.sandbox.reject("allocate", message));
        }
        let offers: Vec<Offer> = offers
            .into_iter()
            .map(|o| Offer {
                framework: o.framework,
                role: o.role,
                agent: o.agent,
                resources: Quantities(o.resources),
            })
            .collect();
        self.record(&offers);
        Ok(offers)
    }

    /// One allocation round by the native twin `policy`, built afresh from the shadow state:
    /// what the `fallback` failure policy answers when the module faulted. Decline filters are
    /// not part of the shadow, so a fallback round may re-offer declined resources.
    pub fn allocate_natively(
        &mut self,
        policy: &mut dyn AllocatorPolicy,
        now_ms: u64,
    ) -> Vec<Offer> {
        replay_native(&self.shadow, policy);
        let offers = policy.allocate(now_ms);
        self.record(&offers);
        self.sandbox.record_fallback();
        offers
    }

    fn record(&mut self, offers: &[Offer]) {
        for o in offers {
            let Some(agent) = self.shadow.agents.get_mut(&o.agent) else {
                continue;
            };
            match agent.allocated.entry((o.framework, o.role)) {
                std::collections::btree_map::Entry::Occupied(mut e) => {
                    e.get_mut().add(&o.resources)
                }
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(o.resources.clone());
                }
            }
        }
    }

    /// Checks a round's offers, with no allocation per offer: the offers on one agent are
    /// summed while they are adjacent, as every allocator emits them (when they are not, the
    /// offers are visited in agent order instead).
    fn check(&mut self, offers: &[api::Offer]) -> Result<(), String> {
        let slots = self
            .shadow
            .options
            .as_ref()
            .map_or(usize::MAX, |o| o.resource_kinds.len());
        let Scratch { sum, free, seen } = &mut self.scratch;
        seen.clear();
        let mut previous = None;
        let grouped = offers.iter().all(|o| {
            let fresh = previous == Some(o.agent) || seen.insert(o.agent);
            previous = Some(o.agent);
            fresh
        });
        let mut order: Vec<usize> = (0..offers.len()).collect();
        if !grouped {
            order.sort_by_key(|i| offers.get(*i).map(|o| o.agent));
        }
        let mut current: Option<AgentId> = None;
        for o in order.iter().filter_map(|i| offers.get(*i)) {
            let Some(f) = self.shadow.frameworks.get(&o.framework) else {
                return Err(format!("offer to unknown framework {}", o.framework));
            };
            if !f.info.as_ref().is_some_and(|i| i.roles.contains(&o.role)) {
                return Err(format!(
                    "offer to framework {} in role {}, which it does not have",
                    o.framework, o.role
                ));
            }
            let Some(agent) = self.shadow.agents.get(&o.agent) else {
                return Err(format!("offer on unknown agent {}", o.agent));
            };
            if o.resources.len() > slots || !o.resources.iter().all(|v| v.is_finite() && *v >= 0.0)
            {
                return Err(format!(
                    "offer on agent {} has invalid amounts {:?} (amounts must be finite, non-negative, at most {slots} slots)",
                    o.agent, o.resources
                ));
            }
            if current != Some(o.agent) {
                current = Some(o.agent);
                sum.clear();
                agent.free_into(free);
            }
            if sum.len() < o.resources.len() {
                sum.resize(o.resources.len(), 0.0);
            }
            for (a, b) in sum.iter_mut().zip(&o.resources) {
                *a += *b;
            }
            let fits = sum.iter().enumerate().all(|(i, v)| {
                *v <= free.get(i).copied().unwrap_or(0.0) + meseta_types::quantities::EPSILON
            });
            if !fits {
                return Err(format!(
                    "offers on agent {} ({}) exceed its free resources: offered {:?}, free {:?}",
                    o.agent, agent.info.hostname, sum, free
                ));
            }
        }
        Ok(())
    }
}
