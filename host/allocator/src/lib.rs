//! The allocator kind. [`WasmAllocator`] drives an allocator module through the event-driven
//! `allocator-api` and is the authority over what it returns: every offer must name a known
//! framework and one of its roles, a known agent, and fit what is still free on that agent
//! (never offering the same resources twice). An invalid offer is a module fault.
//!
//! The adapter keeps a shadow of the state it told the module (roles, frameworks, agents and
//! their allocations) so that after a fault a fresh instance gets everything back by replay.
//! Decline filters are the module's own and are lost on replay; Mesos also drops them on
//! allocator restart.
//!
//! Reserved resources (`meseta:allocator@0.3.0`): `add_resource_kinds` appends slots to the
//! table, some reserved for a role. A version 3 module gets them and every vector at the full
//! width, and may offer a reserved slot only to its role or a sub-role. A version 1 or 2 module
//! gets only the initial (unreserved) slots: its vectors are cut to the initial width, the call
//! is not forwarded, so it never offers reserved resources.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

mod holdings;
use holdings::Holdings;
use std::sync::Arc;
use std::time::{Duration, Instant};

use meseta_runtime::{LoadError, LoadedModule, ModuleError, Sandbox, StoreState};
use meseta_types::Quantities;
use meseta_types::allocation::{
    AgentId, AgentInfo, AgentUsage, AllocatorPolicy, FrameworkId, FrameworkInfo, FrameworkUsage,
    Offer, Options, ResourceKind, RoleId, Sorter, role_within,
};
use meseta_types::handles::Handles;
use meseta_types::quantities::{EPSILON, subtract_amounts};
use rustc_hash::FxHashMap;
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
    allocated: Holdings,
    /// Total minus allocated, kept current: `refresh` after any change of `total` or
    /// `allocated` but `take`, which updates it in place. A round's check reads only this.
    free: Vec<f64>,
}

impl AgentState {
    fn new(info: AgentInfo, total: Quantities, allocated: Holdings) -> Self {
        let mut agent = AgentState {
            info,
            total,
            active: true,
            allocated,
            free: Vec::new(),
        };
        agent.refresh();
        agent
    }

    /// Recomputes `free` as `Quantities::subtract` would, one allocation after another.
    fn refresh(&mut self) {
        self.free.clear();
        self.free.extend_from_slice(&self.total.0);
        for (_, _, held) in self.allocated.iter() {
            subtract_amounts(&mut self.free, held);
        }
    }

    /// Records `r` as allocated to the framework in the role.
    fn take(&mut self, framework: FrameworkId, role: RoleId, r: &[f64]) {
        self.allocated.add(framework, role, r);
        subtract_amounts(&mut self.free, r);
    }

    /// Undoes `take` (or recovers `r`): the holding shrinks, and goes when nothing is left.
    fn give_back(&mut self, framework: FrameworkId, role: RoleId, r: &[f64]) {
        self.allocated.subtract(framework, role, r);
        self.refresh();
    }
}

#[derive(Default)]
struct Shadow {
    options: Option<Options>,
    /// The kinds `add_resource_kinds` appended to `options.resource_kinds`, in order.
    added_kinds: Vec<ResourceKind>,
    /// The reserved slots of the table and their roles, ascending (kept with `added_kinds`): a
    /// round checks only these slots of each offer.
    reserved_slots: Vec<(usize, RoleId)>,
    /// Whether role `.0` is role `.1` or one of its sub-roles, computed once per pair from the
    /// names (cleared when a role is named again).
    within: FxHashMap<(RoleId, RoleId), bool>,
    roles: BTreeMap<RoleId, String>,
    weights: BTreeMap<RoleId, f64>,
    quotas: BTreeMap<RoleId, (Quantities, Quantities)>,
    /// Indexed by handle: every offer of a round looks its framework and agent up here, agent
    /// by agent in ascending handle order (see `admit` and BENCHMARKS.md).
    frameworks: Handles<FrameworkState>,
    agents: Handles<AgentState>,
    paused: bool,
}

impl Shadow {
    /// The number of slots `options.resource_kinds` has (unreserved).
    fn initial_width(&self) -> usize {
        self.options.as_ref().map_or(0, |o| o.resource_kinds.len())
    }

    /// The width of the whole table: the initial kinds and the added ones.
    fn width(&self) -> usize {
        self.initial_width() + self.added_kinds.len()
    }
}

/// Whether an offer in `role` may hold resources reserved for `reserved` (the same role or a
/// sub-role of it). Names are compared once per pair, then the answer is cached in `within`.
fn may_hold(
    roles: &BTreeMap<RoleId, String>,
    within: &mut FxHashMap<(RoleId, RoleId), bool>,
    role: RoleId,
    reserved: RoleId,
) -> bool {
    if role == reserved {
        return true;
    }
    *within.entry((role, reserved)).or_insert_with(|| {
        match (roles.get(&role), roles.get(&reserved)) {
            (Some(r), Some(x)) => role_within(r, x),
            _ => false,
        }
    })
}

/// `v` cut to at most `width` slots: what a module of an older version is given.
fn cut(v: &[f64], width: usize) -> &[f64] {
    v.get(..width).unwrap_or(v)
}

/// `q`'s amounts cut to at most `width` slots, copied only when they must be cut.
// a `Vec`: the generated bindings take `quantities` as `&Vec<f64>`
#[allow(clippy::owned_cow)]
fn cut_q(q: &Quantities, width: usize) -> Cow<'_, Vec<f64>> {
    if q.0.len() <= width {
        Cow::Borrowed(&q.0)
    } else {
        Cow::Owned(cut(&q.0, width).to_vec())
    }
}

/// The module, at whichever version of the allocator world it exports.
enum Versioned {
    /// `meseta:modules/allocator@0.1.0`: `allocate` answers a list of offer records.
    V1(Sandbox<v1::World, ()>),
    /// `meseta:allocator/allocator@0.2.0`: `allocate` answers columns.
    V2(Sandbox<v2::World, ()>),
    /// `meseta:allocator/allocator@0.3.0`: columns, and reserved kinds.
    V3(Sandbox<v3::World, ()>),
}

/// Where the time of the last `allocate` went.
#[derive(Clone, Copy, Debug)]
pub struct RoundTimes {
    /// The module's call: its round, and the copy of its answer out of the sandbox.
    pub call: Duration,
    /// The host's check and record of the answer (`admit`).
    pub admit: Duration,
}

/// An allocator module with its shadow state.
pub struct WasmAllocator {
    sandbox: Versioned,
    shadow: Shadow,
    last_round: Option<RoundTimes>,
    /// `admit`'s visiting order (agent handle, offer index), kept between rounds.
    order: Vec<u64>,
    /// A module before version 3 was given reserved kinds (logged once).
    told_reserved_unoffered: bool,
}

type S = Store<StoreState<()>>;

/// The conversions to one version's generated types and the replay through its calls. Both
/// versions declare the same records, so one body serves both.
///
/// `$reserved`: whether the version knows reserved kinds (version 3). Older versions get the
/// initial slots only: every vector is cut to `options.resource_kinds`' width. `$kind`, with
/// `$k` a kind, lists the fields a version's `ResourceKind` has beyond `name` and `revocable`;
/// `$add_kinds`, with the calls `$a`, the store `$s` and the added kinds `$kinds`, replays
/// `add-resource-kinds` (nothing before version 3).
macro_rules! version {
    ($name:ident, $world:path, $api:path, $calls:ident, reserved: $reserved:literal,
     |$k:ident| { $($kind:tt)* },
     |$a:ident, $s:ident, $kinds:ident| $add_kinds:expr) => {
        mod $name {
            use super::*;
            pub use $api as api;
            pub type World = $world;

            /// Whether this version is given reserved kinds (and the full width).
            pub const RESERVED: bool = $reserved;

            /// How many slots of each vector this version is given.
            pub fn width(shadow: &Shadow) -> usize {
                if RESERVED {
                    usize::MAX
                } else {
                    shadow.initial_width()
                }
            }

            pub fn kind_to($k: &ResourceKind) -> api::ResourceKind {
                api::ResourceKind {
                    name: $k.name.clone(),
                    revocable: $k.revocable,
                    $($kind)*
                }
            }

            pub fn calls(w: &World) -> &api::Guest {
                w.$calls()
            }

            pub fn options_to(o: &Options) -> api::Options {
                api::Options {
                    resource_kinds: o.resource_kinds.iter().map(kind_to).collect(),
                    allocation_interval_ms: o.allocation_interval_ms,
                    min_allocatable: o.min_allocatable.iter().map(|m| m.0.clone()).collect(),
                    fairness_excluded: o.fairness_excluded.clone(),
                    sorter: match o.sorter {
                        Sorter::Drf => api::Sorter::Drf,
                        Sorter::Random => api::Sorter::Random,
                    },
                }
            }

            pub fn framework_to(f: &FrameworkInfo) -> api::FrameworkInfo {
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
                api::FrameworkInfo {
                    name: f.name.clone(),
                    roles: f.roles.clone(),
                    capabilities: table
                        .into_iter()
                        .filter(|(bit, _)| f.capabilities.has(*bit))
                        .fold(api::Capabilities::empty(), |acc, (_, flag)| acc | flag),
                }
            }

            pub fn agent_to(a: &AgentInfo) -> api::AgentInfo {
                api::AgentInfo {
                    hostname: a.hostname.clone(),
                    attributes: a.attributes.clone(),
                }
            }

            pub fn framework_usage(
                used: &[FrameworkUsage],
                width: usize,
            ) -> Vec<api::FrameworkUsage> {
                used.iter()
                    .map(|u| api::FrameworkUsage {
                        agent: u.agent,
                        role: u.role,
                        resources: cut(&u.resources.0, width).to_vec(),
                    })
                    .collect()
            }

            pub fn agent_usage<'a>(
                used: impl Iterator<Item = (FrameworkId, RoleId, &'a [f64])>,
                width: usize,
            ) -> Vec<api::AgentUsage> {
                used.map(|(framework, role, r)| api::AgentUsage {
                    framework,
                    role,
                    resources: cut(r, width).to_vec(),
                })
                .collect()
            }

            /// Tells a fresh instance everything the shadow knows.
            pub fn replay(
                shadow: &Shadow,
                w: &World,
                s: &mut S,
            ) -> wasmtime::Result<Result<(), String>> {
                let a = calls(w);
                let width = width(shadow);
                if let Some(o) = &shadow.options {
                    a.call_initialize(&mut *s, &options_to(o))?;
                }
                for (role, name) in &shadow.roles {
                    a.call_add_role(&mut *s, *role, name)?;
                }
                if RESERVED && !shadow.added_kinds.is_empty() {
                    let kinds: Vec<api::ResourceKind> =
                        shadow.added_kinds.iter().map(kind_to).collect();
                    let ($a, $s, $kinds) = (a, &mut *s, &kinds);
                    $add_kinds?;
                }
                if !shadow.weights.is_empty() {
                    let weights: Vec<(u32, f64)> =
                        shadow.weights.iter().map(|(r, w)| (*r, *w)).collect();
                    a.call_update_weights(&mut *s, &weights)?;
                }
                for (role, (g, l)) in &shadow.quotas {
                    a.call_update_quota(&mut *s, *role, &cut_q(g, width), &cut_q(l, width))?;
                }
                for (id, f) in shadow.frameworks.iter() {
                    if let Some(info) = &f.info {
                        let suppressed: Vec<u32> = f.suppressed.iter().copied().collect();
                        a.call_add_framework(
                            &mut *s,
                            id,
                            &framework_to(info),
                            &[],
                            f.active,
                            &suppressed,
                        )?;
                    }
                }
                for (id, agent) in shadow.agents.iter() {
                    let used = agent_usage(agent.allocated.iter(), width);
                    a.call_add_agent(
                        &mut *s,
                        id,
                        &agent_to(&agent.info),
                        &cut_q(&agent.total, width),
                        &used,
                    )?;
                    if !agent.active {
                        a.call_deactivate_agent(&mut *s, id)?;
                    }
                }
                if shadow.paused {
                    a.call_pause(&mut *s)?;
                }
                Ok(Ok(()))
            }
        }
    };
}

version!(
    v1,
    meseta_bindings::allocator::Allocator,
    meseta_bindings::allocator::exports::meseta::modules::allocator_api,
    meseta_modules_allocator_api,
    reserved: false,
    |_k| {},
    |_a, _s, _kinds| wasmtime::Result::<()>::Ok(())
);
version!(
    v2,
    meseta_bindings::allocator_v2::Allocator,
    meseta_bindings::allocator_v2::exports::meseta::allocator::allocator_api,
    meseta_allocator_allocator_api,
    reserved: false,
    |_k| {},
    |_a, _s, _kinds| wasmtime::Result::<()>::Ok(())
);
version!(
    v3,
    meseta_bindings::allocator_v3::Allocator,
    meseta_bindings::allocator_v3::exports::meseta::allocator::allocator_api,
    meseta_allocator_allocator_api,
    reserved: true,
    |k| { reserved_for: k.reserved_for, },
    |a, s, kinds| a.call_add_resource_kinds(s, kinds)
);

/// Tells a native policy everything the shadow knows (the same order as `replay`).
fn replay_native(shadow: &Shadow, p: &mut dyn AllocatorPolicy) {
    if let Some(o) = &shadow.options {
        p.initialize(o.clone());
    }
    for (role, name) in &shadow.roles {
        p.add_role(*role, name);
    }
    if !shadow.added_kinds.is_empty() {
        p.add_resource_kinds(&shadow.added_kinds);
    }
    if !shadow.weights.is_empty() {
        let weights: Vec<(u32, f64)> = shadow.weights.iter().map(|(r, w)| (*r, *w)).collect();
        p.update_weights(&weights);
    }
    for (role, (g, l)) in &shadow.quotas {
        p.update_quota(*role, g.clone(), l.clone());
    }
    for (id, f) in shadow.frameworks.iter() {
        if let Some(info) = &f.info {
            let suppressed: Vec<u32> = f.suppressed.iter().copied().collect();
            p.add_framework(id, info.clone(), &[], f.active, &suppressed);
        }
    }
    for (id, agent) in shadow.agents.iter() {
        let used: Vec<AgentUsage> = agent
            .allocated
            .iter()
            .map(|(framework, role, r)| AgentUsage {
                framework,
                role,
                resources: Quantities(r.to_vec()),
            })
            .collect();
        p.add_agent(id, agent.info.clone(), agent.total.clone(), &used);
        if !agent.active {
            p.deactivate_agent(id);
        }
    }
    if shadow.paused {
        p.pause();
    }
}

/// Sends one event to the module at its version: in `$body`, `$a` is the module's calls, `$s`
/// the store and `$v` the version's conversions (`v1`, `v2` or `v3`).
macro_rules! forward {
    ($self:ident, $op:literal, |$a:ident, $s:ident, $v:ident| $body:expr) => {{
        let shadow = &$self.shadow;
        match &mut $self.sandbox {
            Versioned::V1(sandbox) => sandbox.call_with(
                $op,
                |w, s| v1::replay(shadow, w, s),
                |w, $s| {
                    use v1 as $v;
                    let $a = $v::calls(w);
                    $body
                },
            ),
            Versioned::V2(sandbox) => sandbox.call_with(
                $op,
                |w, s| v2::replay(shadow, w, s),
                |w, $s| {
                    use v2 as $v;
                    let $a = $v::calls(w);
                    $body
                },
            ),
            Versioned::V3(sandbox) => sandbox.call_with(
                $op,
                |w, s| v3::replay(shadow, w, s),
                |w, $s| {
                    use v3 as $v;
                    let $a = $v::calls(w);
                    $body
                },
            ),
        }
    }};
}

/// One offer of a round as the module answered it, at either version.
#[derive(Clone, Copy, Debug)]
struct Proposed<'a> {
    framework: FrameworkId,
    role: RoleId,
    agent: AgentId,
    amounts: &'a [f64],
}

/// A round's answer, read offer by offer without copying it.
#[derive(Clone, Copy, Debug)]
enum Offers<'a> {
    /// Version 1: one record per offer.
    Records(&'a [v1::api::Offer]),
    /// Versions 2 and 3: columns (`frameworks`, `roles`, `agents`, `amounts`), `slots` amounts
    /// per offer (checked by `columns`).
    Columns(&'a [u32], &'a [u32], &'a [u32], &'a [f64], usize),
}

impl<'a> Offers<'a> {
    fn len(&self) -> usize {
        match self {
            Offers::Records(r) => r.len(),
            Offers::Columns(_, _, agents, _, _) => agents.len(),
        }
    }

    fn get(&self, i: usize) -> Option<Proposed<'a>> {
        match *self {
            Offers::Records(r) => r.get(i).map(|o| Proposed {
                framework: o.framework,
                role: o.role,
                agent: o.agent,
                amounts: &o.resources,
            }),
            Offers::Columns(frameworks, roles, agents, amounts, slots) => Some(Proposed {
                framework: *frameworks.get(i)?,
                role: *roles.get(i)?,
                agent: *agents.get(i)?,
                amounts: amounts.get(i * slots..(i + 1) * slots)?,
            }),
        }
    }

    fn iter(&self) -> impl Iterator<Item = Proposed<'a>> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

/// Reads a version 2 or 3 answer's columns (`frameworks`, `roles`, `agents`, `amounts`) as
/// offers of `slots` amounts each, or says how they are malformed.
fn columns<'a>(
    frameworks: &'a [u32],
    roles: &'a [u32],
    agents: &'a [u32],
    amounts: &'a [f64],
    slots: usize,
) -> Result<Offers<'a>, String> {
    let n = agents.len();
    if frameworks.len() != n || roles.len() != n {
        return Err(format!(
            "offers' columns differ in length: {} frameworks, {} roles, {} agents (one of each per offer)",
            frameworks.len(),
            roles.len(),
            n
        ));
    }
    if amounts.len() != n * slots {
        return Err(format!(
            "offers carry {} amounts for {n} offers; expected {} ({slots} per offer, one per resource kind)",
            amounts.len(),
            n * slots
        ));
    }
    Ok(Offers::Columns(frameworks, roles, agents, amounts, slots))
}

impl WasmAllocator {
    /// Links and starts the module (its `init(parameters)` runs now), at whichever version of
    /// the allocator world it exports.
    pub fn new(module: Arc<LoadedModule>) -> Result<Self, LoadError> {
        let sandbox = if module.world == meseta_bindings::ALLOCATOR_V3 {
            let mut sandbox = Sandbox::new(module, || ())?;
            sandbox.start()?;
            Versioned::V3(sandbox)
        } else if module.world == meseta_bindings::ALLOCATOR_V2 {
            let mut sandbox = Sandbox::new(module, || ())?;
            sandbox.start()?;
            Versioned::V2(sandbox)
        } else {
            let mut sandbox = Sandbox::new(module, || ())?;
            sandbox.start()?;
            Versioned::V1(sandbox)
        };
        Ok(WasmAllocator {
            sandbox,
            shadow: Shadow::default(),
            last_round: None,
            order: Vec::new(),
            told_reserved_unoffered: false,
        })
    }

    pub fn module(&self) -> &Arc<LoadedModule> {
        match &self.sandbox {
            Versioned::V1(s) => s.module(),
            Versioned::V2(s) => s.module(),
            Versioned::V3(s) => s.module(),
        }
    }

    /// Where the time of the last `allocate` that reached the module went.
    pub fn last_round(&self) -> Option<RoundTimes> {
        self.last_round
    }

    pub fn record_fallback(&self) {
        match &self.sandbox {
            Versioned::V1(s) => s.record_fallback(),
            Versioned::V2(s) => s.record_fallback(),
            Versioned::V3(s) => s.record_fallback(),
        }
    }

    fn reject(&mut self, op: &'static str, message: String) -> ModuleError {
        match &mut self.sandbox {
            Versioned::V1(s) => s.reject(op, message),
            Versioned::V2(s) => s.reject(op, message),
            Versioned::V3(s) => s.reject(op, message),
        }
    }

    /// How many slots of each vector the module is given: all of them from version 3 on, the
    /// initial (unreserved) ones before.
    fn given_width(&self) -> usize {
        match &self.sandbox {
            Versioned::V1(_) => v1::width(&self.shadow),
            Versioned::V2(_) => v2::width(&self.shadow),
            Versioned::V3(_) => v3::width(&self.shadow),
        }
    }

    /// The module's version of the allocator world (1, 2 or 3).
    pub fn version(&self) -> u32 {
        match &self.sandbox {
            Versioned::V1(_) => 1,
            Versioned::V2(_) => 2,
            Versioned::V3(_) => 3,
        }
    }

    pub fn initialize(&mut self, options: Options) -> Result<(), ModuleError> {
        self.shadow.options = Some(options.clone());
        forward!(self, "initialize", |a, s, v| a
            .call_initialize(s, &v::options_to(&options)))
    }

    pub fn add_role(&mut self, role: RoleId, name: &str) -> Result<(), ModuleError> {
        if self.shadow.roles.insert(role, name.to_string()).is_some() {
            self.shadow.within.clear();
        }
        forward!(self, "add-role", |a, s, v| a.call_add_role(s, role, name))
    }

    /// Appends `kinds` to the slot table. A module before version 3 is not told: it keeps the
    /// initial slots, so it never offers reserved resources (logged once, at info level).
    pub fn add_resource_kinds(&mut self, kinds: &[ResourceKind]) -> Result<(), ModuleError> {
        let first = self.shadow.width();
        self.shadow.added_kinds.extend_from_slice(kinds);
        for (i, k) in kinds.iter().enumerate() {
            if let Some(role) = k.reserved_for {
                self.shadow.reserved_slots.push((first + i, role));
            }
        }
        let shadow = &self.shadow;
        match &mut self.sandbox {
            Versioned::V3(sandbox) => {
                let wit: Vec<v3::api::ResourceKind> = kinds.iter().map(v3::kind_to).collect();
                sandbox.call_with(
                    "add-resource-kinds",
                    |w, s| v3::replay(shadow, w, s),
                    |w, s| v3::calls(w).call_add_resource_kinds(s, &wit),
                )
            }
            Versioned::V1(_) | Versioned::V2(_) => {
                if !self.told_reserved_unoffered && kinds.iter().any(|k| k.reserved_for.is_some()) {
                    self.told_reserved_unoffered = true;
                    tracing::info!(
                        module = %self.module().spec.name,
                        version = self.version(),
                        "reserved resources are not offered by an allocator module of version {} \
                         (meseta:allocator@0.3.0 offers them)",
                        self.version()
                    );
                }
                Ok(())
            }
        }
    }

    pub fn update_weights(&mut self, weights: &[(RoleId, f64)]) -> Result<(), ModuleError> {
        self.shadow.weights.extend(weights.iter().copied());
        forward!(self, "update-weights", |a, s, v| a
            .call_update_weights(s, weights))
    }

    pub fn update_quota(
        &mut self,
        role: RoleId,
        guarantees: Quantities,
        limits: Quantities,
    ) -> Result<(), ModuleError> {
        let width = self.given_width();
        let (g, l) = (
            cut(&guarantees.0, width).to_vec(),
            cut(&limits.0, width).to_vec(),
        );
        self.shadow.quotas.insert(role, (guarantees, limits));
        forward!(self, "update-quota", |a, s, v| a
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
            if let Some(agent) = self.shadow.agents.get_mut(u.agent) {
                agent.allocated.add(framework, u.role, &u.resources.0);
                agent.refresh();
            }
        }
        self.shadow.frameworks.insert(
            framework,
            FrameworkState {
                info: Some(info.clone()),
                active,
                suppressed: suppressed_roles.iter().copied().collect(),
            },
        );
        let width = self.given_width();
        forward!(self, "add-framework", |a, s, v| a.call_add_framework(
            s,
            framework,
            &v::framework_to(&info),
            &v::framework_usage(used, width),
            active,
            suppressed_roles
        ))
    }

    pub fn remove_framework(&mut self, framework: FrameworkId) -> Result<(), ModuleError> {
        self.shadow.frameworks.remove(framework);
        for agent in self.shadow.agents.values_mut() {
            if agent.allocated.retain(|f| f != framework) {
                agent.refresh();
            }
        }
        forward!(self, "remove-framework", |a, s, v| a
            .call_remove_framework(s, framework))
    }

    pub fn activate_framework(&mut self, framework: FrameworkId) -> Result<(), ModuleError> {
        self.shadow.frameworks.or_default(framework).active = true;
        forward!(self, "activate-framework", |a, s, v| a
            .call_activate_framework(s, framework))
    }

    pub fn deactivate_framework(&mut self, framework: FrameworkId) -> Result<(), ModuleError> {
        self.shadow.frameworks.or_default(framework).active = false;
        forward!(self, "deactivate-framework", |a, s, v| a
            .call_deactivate_framework(s, framework))
    }

    pub fn update_framework(
        &mut self,
        framework: FrameworkId,
        info: FrameworkInfo,
        suppressed_roles: &[RoleId],
    ) -> Result<(), ModuleError> {
        let f = self.shadow.frameworks.or_default(framework);
        f.info = Some(info.clone());
        f.suppressed = suppressed_roles.iter().copied().collect();
        forward!(self, "update-framework", |a, s, v| a.call_update_framework(
            s,
            framework,
            &v::framework_to(&info),
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
        let mut allocated = Holdings::default();
        for u in used {
            allocated.add(u.framework, u.role, &u.resources.0);
        }
        let width = self.given_width();
        let wt = cut(&total.0, width).to_vec();
        self.shadow
            .agents
            .insert(agent, AgentState::new(info.clone(), total, allocated));
        forward!(self, "add-agent", |a, s, v| a.call_add_agent(
            s,
            agent,
            &v::agent_to(&info),
            &wt,
            &v::agent_usage(
                used.iter()
                    .map(|u| (u.framework, u.role, &u.resources.0[..])),
                width
            )
        ))
    }

    pub fn remove_agent(&mut self, agent: AgentId) -> Result<(), ModuleError> {
        self.shadow.agents.remove(agent);
        forward!(self, "remove-agent", |a, s, v| a
            .call_remove_agent(s, agent))
    }

    pub fn activate_agent(&mut self, agent: AgentId) -> Result<(), ModuleError> {
        if let Some(a) = self.shadow.agents.get_mut(agent) {
            a.active = true;
        }
        forward!(self, "activate-agent", |a, s, v| a
            .call_activate_agent(s, agent))
    }

    pub fn deactivate_agent(&mut self, agent: AgentId) -> Result<(), ModuleError> {
        if let Some(a) = self.shadow.agents.get_mut(agent) {
            a.active = false;
        }
        forward!(self, "deactivate-agent", |a, s, v| a
            .call_deactivate_agent(s, agent))
    }

    pub fn update_agent(&mut self, agent: AgentId, total: Quantities) -> Result<(), ModuleError> {
        let wt = cut(&total.0, self.given_width()).to_vec();
        if let Some(a) = self.shadow.agents.get_mut(agent) {
            a.total = total;
            a.refresh();
        }
        forward!(self, "update-agent", |a, s, v| a
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
        if let Some(a) = self.shadow.agents.get_mut(agent) {
            a.give_back(framework, role, &resources.0);
        }
        let r = cut_q(&resources, self.given_width());
        forward!(self, "recover-resources", |a, s, v| a
            .call_recover_resources(
                s,
                framework,
                agent,
                role,
                &r,
                refuse_seconds,
                now_ms
            ))
    }

    pub fn suppress(
        &mut self,
        framework: FrameworkId,
        roles: &[RoleId],
    ) -> Result<(), ModuleError> {
        let f = self.shadow.frameworks.or_default(framework);
        let all = f.info.as_ref().map(|i| i.roles.clone()).unwrap_or_default();
        f.suppressed
            .extend(if roles.is_empty() { &all[..] } else { roles });
        forward!(self, "suppress", |a, s, v| a
            .call_suppress(s, framework, roles))
    }

    pub fn revive(&mut self, framework: FrameworkId, roles: &[RoleId]) -> Result<(), ModuleError> {
        let f = self.shadow.frameworks.or_default(framework);
        if roles.is_empty() {
            f.suppressed.clear();
        } else {
            f.suppressed.retain(|r| !roles.contains(r));
        }
        forward!(self, "revive", |a, s, v| a.call_revive(s, framework, roles))
    }

    pub fn pause(&mut self) -> Result<(), ModuleError> {
        self.shadow.paused = true;
        forward!(self, "pause", |a, s, v| a.call_pause(s))
    }

    pub fn resume(&mut self) -> Result<(), ModuleError> {
        self.shadow.paused = false;
        forward!(self, "resume", |a, s, v| a.call_resume(s))
    }

    /// One allocation round. Every offer is checked before any is accepted; one bad offer
    /// rejects the whole round as a module fault.
    pub fn allocate(&mut self, now_ms: u64) -> Result<Vec<Offer>, ModuleError> {
        let slots = self.given_width().min(self.shadow.width());
        let shadow = &self.shadow;
        let started = Instant::now();
        let answer = match &mut self.sandbox {
            Versioned::V1(sandbox) => sandbox
                .call_with(
                    "allocate",
                    |w, s| v1::replay(shadow, w, s),
                    |w, s| v1::calls(w).call_allocate(s, now_ms),
                )
                .map(Answer::V1),
            Versioned::V2(sandbox) => sandbox
                .call_with(
                    "allocate",
                    |w, s| v2::replay(shadow, w, s),
                    |w, s| v2::calls(w).call_allocate(s, now_ms),
                )
                .map(Answer::V2),
            Versioned::V3(sandbox) => sandbox
                .call_with(
                    "allocate",
                    |w, s| v3::replay(shadow, w, s),
                    |w, s| v3::calls(w).call_allocate(s, now_ms),
                )
                .map(Answer::V3),
        }?;
        let proposed = match &answer {
            Answer::V1(records) => Ok(Offers::Records(records)),
            Answer::V2(c) => columns(&c.frameworks, &c.roles, &c.agents, &c.amounts, slots),
            Answer::V3(c) => columns(&c.frameworks, &c.roles, &c.agents, &c.amounts, slots),
        };
        let called = Instant::now();
        let admitted = proposed.and_then(|p| self.admit(p, slots));
        self.last_round = Some(RoundTimes {
            call: called - started,
            admit: called.elapsed(),
        });
        admitted.map_err(|message| self.reject("allocate", message))
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
        for o in &offers {
            self.record(o.framework, o.role, o.agent, &o.resources);
        }
        self.record_fallback();
        offers
    }

    fn record(&mut self, framework: FrameworkId, role: RoleId, agent: AgentId, r: &Quantities) {
        if let Some(agent) = self.shadow.agents.get_mut(agent) {
            agent.take(framework, role, &r.0);
        }
    }

    /// Checks and records a round's offers in one pass: each offer must name a known framework
    /// and one of its roles, a known agent, and fit what is still free there after the offers
    /// before it. The first that does not rejects the round: the offers recorded before it are
    /// taken back, so a rejected round changes nothing.
    ///
    /// The offers are visited agent by agent, in ascending handle order (the module's order
    /// among one agent's offers, which is all that "the offers before it" depends on): the
    /// shadow's agents sit in a vector indexed by handle, so consecutive offers touch
    /// neighbouring memory rather than one random cache line each (see BENCHMARKS.md).
    fn admit(&mut self, offers: Offers<'_>, slots: usize) -> Result<Vec<Offer>, String> {
        let mut order = std::mem::take(&mut self.order);
        order.clear();
        order.reserve(offers.len());
        order.extend(
            offers
                .iter()
                .enumerate()
                .map(|(i, o)| (u64::from(o.agent) << 32) | i as u64),
        );
        order.sort_unstable();
        let at = |key: &u64| offers.get((key & u64::from(u32::MAX)) as usize);
        let mut failed = None;
        for (n, key) in order.iter().enumerate() {
            let Some(o) = at(key) else { continue };
            if let Err(message) = self.admit_one(&o, slots) {
                for taken in order.get(..n).unwrap_or(&[]).iter().filter_map(at) {
                    if let Some(agent) = self.shadow.agents.get_mut(taken.agent) {
                        agent.give_back(taken.framework, taken.role, taken.amounts);
                    }
                }
                failed = Some(message);
                break;
            }
        }
        self.order = order;
        if let Some(message) = failed {
            return Err(message);
        }
        // Sized up front: grown by doubling, a round's 10,000 offers cost a dozen copies, the
        // larger ones into freshly faulted pages.
        let mut admitted = Vec::with_capacity(offers.len());
        admitted.extend(offers.iter().map(|o| Offer {
            framework: o.framework,
            role: o.role,
            agent: o.agent,
            resources: Quantities(o.amounts.to_vec()),
        }));
        Ok(admitted)
    }

    fn admit_one(&mut self, o: &Proposed<'_>, slots: usize) -> Result<(), String> {
        let Some(f) = self.shadow.frameworks.get(o.framework) else {
            return Err(format!("offer to unknown framework {}", o.framework));
        };
        if !f.info.as_ref().is_some_and(|i| i.roles.contains(&o.role)) {
            return Err(format!(
                "offer to framework {} in role {}, which it does not have",
                o.framework, o.role
            ));
        }
        if o.amounts.len() > slots || !o.amounts.iter().all(|v| v.is_finite() && *v >= 0.0) {
            return Err(format!(
                "offer on agent {} has invalid amounts {:?} (amounts must be finite, non-negative, at most {slots} slots)",
                o.agent, o.amounts
            ));
        }
        // Reserved slots (given to version 3 modules only): to their role or a sub-role alone.
        // One cached lookup per non-zero reserved amount; nothing without reservations.
        let shadow = &mut self.shadow;
        for &(slot, reserved) in &shadow.reserved_slots {
            let Some(&v) = o.amounts.get(slot) else {
                break;
            };
            if v > EPSILON && !may_hold(&shadow.roles, &mut shadow.within, o.role, reserved) {
                let name = |r: RoleId| {
                    shadow
                        .roles
                        .get(&r)
                        .map_or_else(|| format!("role {r}"), |n| format!("'{n}'"))
                };
                return Err(format!(
                    "offer to framework {} in role {} on agent {} holds {v} of slot {slot}, reserved for role {}: a reserved slot goes only to its role or a sub-role",
                    o.framework,
                    name(o.role),
                    o.agent,
                    name(reserved)
                ));
            }
        }
        let Some(agent) = shadow.agents.get_mut(o.agent) else {
            return Err(format!("offer on unknown agent {}", o.agent));
        };
        let fits = o.amounts.iter().enumerate().all(|(i, v)| {
            *v <= agent.free.get(i).copied().unwrap_or(0.0) + meseta_types::quantities::EPSILON
        });
        if !fits {
            return Err(format!(
                "offers on agent {} ({}) exceed its free resources: offered {:?}, free {:?}",
                o.agent, agent.info.hostname, o.amounts, agent.free
            ));
        }
        agent.take(o.framework, o.role, o.amounts);
        Ok(())
    }
}

/// A round's answer at the module's version.
enum Answer {
    V1(Vec<v1::api::Offer>),
    V2(v2::api::Offers),
    V3(v3::api::Offers),
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn answer(
        frameworks: Vec<u32>,
        roles: Vec<u32>,
        agents: Vec<u32>,
        amounts: Vec<f64>,
    ) -> v2::api::Offers {
        v2::api::Offers {
            frameworks,
            roles,
            agents,
            amounts,
        }
    }

    fn read(c: &v2::api::Offers, slots: usize) -> Result<Offers<'_>, String> {
        columns(&c.frameworks, &c.roles, &c.agents, &c.amounts, slots)
    }

    #[test]
    fn columns_are_read_as_offers_of_one_amount_per_resource_kind() {
        let c = answer(
            vec![7, 8],
            vec![0, 1],
            vec![3, 4],
            vec![1.0, 32.0, 2.0, 64.0],
        );
        let offers = read(&c, 2).unwrap();
        assert_eq!(offers.len(), 2);
        let second = offers.get(1).unwrap();
        assert_eq!(
            (second.framework, second.role, second.agent, second.amounts),
            (8, 1, 4, &[2.0, 64.0][..])
        );
        assert!(
            read(&answer(vec![], vec![], vec![], vec![]), 4)
                .unwrap()
                .len()
                == 0
        );
    }

    #[test]
    fn malformed_columns_say_what_is_wrong() {
        let ragged = answer(vec![7, 8], vec![0], vec![3, 4], vec![1.0, 2.0]);
        let err = read(&ragged, 1).unwrap_err();
        assert!(err.contains("2 frameworks, 1 roles, 2 agents"), "{err}");
        let short = answer(vec![7, 8], vec![0, 0], vec![3, 4], vec![1.0, 32.0, 2.0]);
        let err = read(&short, 2).unwrap_err();
        assert!(err.contains("3 amounts for 2 offers; expected 4"), "{err}");
    }
}
