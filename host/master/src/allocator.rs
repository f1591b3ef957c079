//! The master's allocator: the policy that decides offers, native or a Wasm module, behind one
//! driver.
//!
//! `--allocator` names it: the default is the `allocator-drf` module built into the binary;
//! `hierarchical` is the same DRF library compiled natively; any other name is a module from
//! `--modules` (or one built into the binary under its crate name). A module runs in its
//! sandbox; every offer it returns is checked by [`meseta_allocator::WasmAllocator`]. When a
//! round faults, the module's failure policy decides: `fallback` answers the round with the
//! native DRF built from the adapter's shadow of the cluster; `fail-closed` and `reload` make no
//! offers this round (the next round gets a fresh instance; `reload` waits out its backoff).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use crate::core::AllocatorCall;
use crate::mirror::Mirror;
use allocator_drf::DrfAllocator;
use meseta_allocator::WasmAllocator;
use meseta_runtime::{FailurePolicy, LoadedModule, ModuleError};
use meseta_types::Quantities;
use meseta_types::allocation::{
    AgentId, AgentInfo, AgentUsage, AllocatorPolicy, FrameworkId, FrameworkInfo, Offer, Options,
    ResourceKind, RoleId,
};

/// The allocator `--allocator` names (or a swap puts in).
#[derive(Clone)]
pub enum AllocatorChoice {
    /// The hierarchical DRF compiled into the master (`--allocator=hierarchical`).
    Native,
    /// A loaded allocator module.
    Module(Arc<LoadedModule>),
}

enum Policy {
    Native(Box<DrfAllocator>),
    Module(Box<WasmAllocator>),
}

/// Statistics of the allocation rounds, for `/metrics/snapshot`.
#[derive(Clone, Debug, Default)]
pub struct RoundStats {
    pub runs: u64,
    pub last_ms: f64,
    pub total_ms: f64,
    pub max_ms: f64,
    pub faults: u64,
    pub fallback_rounds: u64,
    pub event_faults: u64,
    /// Decline filters in force after the last round, by role name (Mesos'
    /// `allocator/mesos/offer_filters/roles/<role>/active`).
    pub offer_filters: BTreeMap<String, usize>,
}

/// The allocator as the operator endpoints and the allocation loop see it, refreshed by the
/// effector (which owns the allocator) after every round and every faulting event.
#[derive(Clone, Default)]
pub struct AllocatorView {
    /// `hierarchical`, or the module's name.
    pub name: String,
    pub module: Option<Arc<LoadedModule>>,
    pub stats: RoundStats,
    /// The last round faulted: rounds run on the interval only until one succeeds.
    pub degraded: bool,
    /// Every swap of this master's allocator, oldest first.
    pub history: Vec<Swap>,
}

/// What an operator names an allocator by: a module name, `hierarchical` or a component file,
/// and optionally the module manifest (a path on the master's machine) whose entry names it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllocatorSource {
    pub allocator: String,
    pub manifest: Option<String>,
}

/// One change of the live allocator (kept in the registry with the allocator's name).
pub use meseta_registry::AllocatorSwap as Swap;

/// How many rounds a swapped-in allocator must allocate without a fault before it stays.
pub const PROBATION_ROUNDS: u32 = 3;

/// A swapped-in allocator's first rounds: a fault puts `previous` back.
struct Probation {
    previous: AllocatorChoice,
    /// What names `previous` for the registry.
    previous_source: AllocatorSource,
    rounds_left: u32,
}

pub struct AllocatorDriver {
    policy: Policy,
    choice: AllocatorChoice,
    /// What names the policy for a restarted master: the module's name, `hierarchical`, or the
    /// file (or manifest entry) a swap named.
    source: AllocatorSource,
    /// A swap changed the allocator or its history since the registry was last told.
    dirty: bool,
    name: String,
    failure_policy: Option<FailurePolicy>,
    /// What the policy has been told, for a swap's replay.
    mirror: Mirror,
    history: Vec<Swap>,
    probation: Option<Probation>,
    /// The last fault of a module's event call, for a swap's refusal.
    last_event_fault: Option<String>,
    /// The last round faulted: until one succeeds, rounds run on the interval only (a fallback
    /// round has no decline filters, so event-triggered rounds would re-offer declined
    /// resources as fast as a framework declines them).
    degraded: bool,
    pub stats: RoundStats,
}

/// Forwards one event to the policy; a module fault is logged (the sandbox counts it) and the
/// event stays in the adapter's shadow, so a fresh instance gets it by replay.
macro_rules! event {
    ($self:ident, $method:ident ( $($arg:expr),* )) => {{
        match &mut $self.policy {
            Policy::Native(p) => p.$method($($arg),*),
            Policy::Module(m) => {
                if let Err(e) = m.$method($($arg),*) {
                    $self.stats.event_faults += 1;
                    tracing::warn!(allocator = %$self.name, error = %e, "allocator module faulted on an event");
                    $self.last_event_fault = Some(e.to_string());
                }
            }
        }
    }};
}

impl AllocatorDriver {
    pub fn new(choice: AllocatorChoice) -> Result<Self, meseta_runtime::LoadError> {
        let (policy, name, failure_policy) = match &choice {
            AllocatorChoice::Native => (
                Policy::Native(Box::new(DrfAllocator::new())),
                "hierarchical".to_string(),
                None,
            ),
            AllocatorChoice::Module(module) => (
                Policy::Module(Box::new(WasmAllocator::new(module.clone())?)),
                module.spec.name.clone(),
                Some(module.spec.settings.failure_policy),
            ),
        };
        Ok(AllocatorDriver {
            policy,
            choice,
            source: AllocatorSource {
                allocator: name.clone(),
                manifest: None,
            },
            dirty: false,
            name,
            failure_policy,
            mirror: Mirror::default(),
            history: Vec::new(),
            probation: None,
            last_event_fault: None,
            degraded: false,
            stats: RoundStats::default(),
        })
    }

    /// A fresh `choice` given this allocator's state by replay; refused if it cannot be
    /// loaded or faults on any replayed call.
    fn candidate(&self, choice: AllocatorChoice, now_ms: u64) -> Result<AllocatorDriver, String> {
        let mut candidate = AllocatorDriver::new(choice).map_err(|e| e.to_string())?;
        for call in self.mirror.replay(now_ms) {
            candidate.apply(call);
            if let Some(fault) = candidate.last_event_fault.take() {
                return Err(format!(
                    "'{}' faulted while taking over the cluster's state: {fault}",
                    candidate.name
                ));
            }
        }
        Ok(candidate)
    }

    /// Puts `next` in this allocator's place, keeping the statistics and the history.
    fn replace(&mut self, mut next: AllocatorDriver, source: AllocatorSource) {
        next.stats = std::mem::take(&mut self.stats);
        next.history = std::mem::take(&mut self.history);
        next.source = source;
        next.dirty = true;
        *self = next;
    }

    /// The history a restarted master's registry kept, and how this allocator got here;
    /// `source` names it as the swap that put it in did.
    pub fn restore_history(
        &mut self,
        source: Option<AllocatorSource>,
        history: Vec<Swap>,
        restored: Option<Swap>,
    ) {
        if let Some(source) = source {
            self.source = source;
        }
        self.history = history;
        self.history.extend(restored);
    }

    /// The allocator and its swaps for the registry, once after each change.
    pub fn take_record(&mut self) -> Option<meseta_registry::AllocatorRecord> {
        if !std::mem::take(&mut self.dirty) {
            return None;
        }
        Some(meseta_registry::AllocatorRecord {
            name: self.source.allocator.clone(),
            manifest: self.source.manifest.clone(),
            history: self.history.clone(),
        })
    }

    /// Replaces the live policy with `choice` between two rounds: the candidate is loaded,
    /// given the current state by replay (what is held or offered stays held, filters and
    /// suppressions stay), and allocates from the next round on. It is on probation for
    /// [`PROBATION_ROUNDS`] rounds: a faulting round puts the previous allocator back. A
    /// candidate that cannot take over is refused and the live allocator stays.
    pub fn swap(
        &mut self,
        choice: AllocatorChoice,
        source: AllocatorSource,
        now_ms: u64,
    ) -> Result<Swap, Swap> {
        let from = self.name.clone();
        let to = choice_name(&choice);
        let record = |outcome: &str, reason: Option<String>| Swap {
            time: meseta_api::common::timestamp_now(),
            from: from.clone(),
            to: to.clone(),
            outcome: outcome.to_string(),
            reason,
        };
        match self.candidate(choice, now_ms) {
            Ok(candidate) => {
                let previous = self.choice.clone();
                let previous_source = self.source.clone();
                self.replace(candidate, source);
                self.probation = Some(Probation {
                    previous,
                    previous_source,
                    rounds_left: PROBATION_ROUNDS,
                });
                let swap = record("swapped", None);
                tracing::info!(from = %swap.from, to = %swap.to, "allocator swapped");
                self.history.push(swap.clone());
                Ok(swap)
            }
            Err(reason) => {
                tracing::warn!(from = %from, to = %to, %reason, "allocator swap refused");
                let swap = record("refused", Some(reason));
                self.history.push(swap.clone());
                self.dirty = true;
                Err(swap)
            }
        }
    }

    /// The swapped-in allocator faulted in its first rounds: the previous one comes back with
    /// the current state.
    fn roll_back(&mut self, previous: Probation, reason: String, now_ms: u64) {
        let from = self.name.clone();
        match self.candidate(previous.previous, now_ms) {
            Ok(restored) => {
                let to = restored.name.clone();
                tracing::warn!(from = %from, to = %to, %reason, "allocator swap rolled back");
                self.replace(restored, previous.previous_source);
                self.history.push(Swap {
                    time: meseta_api::common::timestamp_now(),
                    from,
                    to,
                    outcome: "rolled back".into(),
                    reason: Some(reason),
                });
            }
            Err(e) => tracing::error!(allocator = %from, error = %e,
                "cannot roll the allocator back; the swapped-in one stays (its failure policy applies)"),
        }
    }

    /// `hierarchical`, or the module's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn module(&self) -> Option<&Arc<LoadedModule>> {
        match &self.policy {
            Policy::Module(m) => Some(m.module()),
            Policy::Native(_) => None,
        }
    }

    pub fn initialize(&mut self, options: Options) {
        event!(self, initialize(options))
    }
    pub fn add_role(&mut self, role: RoleId, name: &str) {
        event!(self, add_role(role, name))
    }
    /// Appends kinds to the slot table (a module before `meseta:allocator@0.3.0` is not told,
    /// and never offers them).
    pub fn add_resource_kinds(&mut self, kinds: &[ResourceKind]) {
        event!(self, add_resource_kinds(kinds))
    }
    pub fn update_weights(&mut self, weights: &[(RoleId, f64)]) {
        event!(self, update_weights(weights))
    }
    pub fn update_quota(&mut self, role: RoleId, guarantees: Quantities, limits: Quantities) {
        event!(self, update_quota(role, guarantees, limits))
    }
    pub fn add_framework(&mut self, id: FrameworkId, info: FrameworkInfo, active: bool) {
        event!(self, add_framework(id, info, &[], active, &[]))
    }
    pub fn remove_framework(&mut self, id: FrameworkId) {
        event!(self, remove_framework(id))
    }
    pub fn activate_framework(&mut self, id: FrameworkId) {
        event!(self, activate_framework(id))
    }
    pub fn deactivate_framework(&mut self, id: FrameworkId) {
        event!(self, deactivate_framework(id))
    }
    pub fn update_framework(
        &mut self,
        id: FrameworkId,
        info: FrameworkInfo,
        suppressed: &[RoleId],
    ) {
        event!(self, update_framework(id, info, suppressed))
    }
    pub fn add_agent_with_usage(
        &mut self,
        id: AgentId,
        info: AgentInfo,
        total: Quantities,
        used: &[AgentUsage],
    ) {
        event!(self, add_agent(id, info, total, used))
    }
    pub fn remove_agent(&mut self, id: AgentId) {
        event!(self, remove_agent(id))
    }
    pub fn update_agent(&mut self, id: AgentId, total: Quantities) {
        event!(self, update_agent(id, total))
    }
    pub fn recover(
        &mut self,
        framework: FrameworkId,
        agent: AgentId,
        role: RoleId,
        resources: Quantities,
        refuse_seconds: Option<f64>,
        now_ms: u64,
    ) {
        event!(
            self,
            recover_resources(framework, agent, role, resources, refuse_seconds, now_ms)
        )
    }
    pub fn suppress(&mut self, framework: FrameworkId, roles: &[RoleId]) {
        event!(self, suppress(framework, roles))
    }
    pub fn revive(&mut self, framework: FrameworkId, roles: &[RoleId]) {
        event!(self, revive(framework, roles))
    }

    /// Carries out one allocator call of the core.
    pub fn apply(&mut self, call: AllocatorCall) {
        self.mirror.apply(&call);
        self.tell(call);
    }

    /// Gives the policy one call, leaving the mirror as it is.
    fn tell(&mut self, call: AllocatorCall) {
        match call {
            AllocatorCall::Initialize(options) => self.initialize(options),
            AllocatorCall::AddRole { role, name } => self.add_role(role, &name),
            AllocatorCall::AddResourceKinds(kinds) => self.add_resource_kinds(&kinds),
            AllocatorCall::UpdateWeights(weights) => self.update_weights(&weights),
            AllocatorCall::UpdateQuota {
                role,
                guarantees,
                limits,
            } => self.update_quota(role, guarantees, limits),
            AllocatorCall::AddFramework {
                framework,
                info,
                active,
            } => self.add_framework(framework, info, active),
            AllocatorCall::RemoveFramework(f) => self.remove_framework(f),
            AllocatorCall::ActivateFramework(f) => self.activate_framework(f),
            AllocatorCall::DeactivateFramework(f) => self.deactivate_framework(f),
            AllocatorCall::UpdateFramework {
                framework,
                info,
                suppressed,
            } => self.update_framework(framework, info, &suppressed),
            AllocatorCall::AddAgent {
                agent,
                info,
                total,
                used,
            } => self.add_agent_with_usage(agent, info, total, &used),
            AllocatorCall::RemoveAgent(a) => self.remove_agent(a),
            AllocatorCall::ActivateAgent(a) => event!(self, activate_agent(a)),
            AllocatorCall::DeactivateAgent(a) => event!(self, deactivate_agent(a)),
            AllocatorCall::UpdateAgent { agent, total } => self.update_agent(agent, total),
            AllocatorCall::Recover {
                framework,
                agent,
                role,
                resources,
                refuse_seconds,
                now_ms,
            } => self.recover(framework, agent, role, resources, refuse_seconds, now_ms),
            AllocatorCall::Suppress { framework, roles } => self.suppress(framework, &roles),
            AllocatorCall::Revive { framework, roles } => self.revive(framework, &roles),
        }
    }

    /// What the operator endpoints show of the allocator.
    pub fn view(&self) -> AllocatorView {
        AllocatorView {
            name: self.name.clone(),
            module: self.module().cloned(),
            stats: self.stats.clone(),
            degraded: self.degraded,
            history: self.history.clone(),
        }
    }

    /// Whether the last round faulted (see the field).
    pub fn degraded(&self) -> bool {
        self.degraded
    }

    /// One allocation round.
    pub fn allocate(&mut self, now_ms: u64) -> Vec<Offer> {
        let started = Instant::now();
        self.degraded = false;
        let offers = match &mut self.policy {
            Policy::Native(p) => p.allocate(now_ms),
            Policy::Module(m) => match m.allocate(now_ms) {
                Ok(offers) => offers,
                Err(e) => {
                    self.degraded = true;
                    self.stats.faults += 1;
                    Self::on_fault(
                        &self.name,
                        self.failure_policy,
                        m,
                        &e,
                        now_ms,
                        &mut self.stats,
                    )
                }
            },
        };
        let ms = started.elapsed().as_secs_f64() * 1e3;
        self.stats.runs += 1;
        self.stats.last_ms = ms;
        self.stats.total_ms += ms;
        self.stats.max_ms = self.stats.max_ms.max(ms);
        self.mirror.took(&offers);
        self.stats.offer_filters = self.mirror.active_filters(now_ms);
        if let Some(mut probation) = self.probation.take() {
            if self.degraded {
                let reason = format!(
                    "'{}' faulted in round {} after the swap",
                    self.name,
                    PROBATION_ROUNDS - probation.rounds_left + 1
                );
                self.roll_back(probation, reason, now_ms);
            } else if probation.rounds_left > 1 {
                probation.rounds_left -= 1;
                self.probation = Some(probation);
            }
        }
        offers
    }

    /// A shadow's round: the policy's offers, or why it faulted. There is no fallback: a
    /// shadow's fault is what the operator wants to see.
    pub fn shadow_allocate(&mut self, now_ms: u64) -> Result<Vec<Offer>, String> {
        let started = Instant::now();
        let result = match &mut self.policy {
            Policy::Native(p) => Ok(p.allocate(now_ms)),
            Policy::Module(m) => m.allocate(now_ms).map_err(|e| e.to_string()),
        };
        let ms = started.elapsed().as_secs_f64() * 1e3;
        self.stats.runs += 1;
        self.stats.last_ms = ms;
        self.stats.total_ms += ms;
        self.stats.max_ms = self.stats.max_ms.max(ms);
        if result.is_err() {
            self.stats.faults += 1;
        }
        result
    }

    /// After a shadow's round: the live allocator's offers (`live`) are held, the shadow's own
    /// (`own`) are not. Every agent on which the two differ is taken from the policy and given
    /// back as the mirror has it (with its filters), so the shadow's next round starts from the
    /// live cluster's state.
    ///
    /// `pause` is called every 64 agents: a shadow's thread waits there while the
    /// live allocator works.
    pub fn follow(&mut self, live: &[Offer], own: &[Offer], now_ms: u64, pause: &mut dyn FnMut()) {
        self.mirror.took(live);
        let mut by_agent: std::collections::BTreeMap<AgentId, (Vec<OfferKey>, Vec<OfferKey>)> =
            std::collections::BTreeMap::new();
        for o in live {
            by_agent.entry(o.agent).or_default().0.push(OfferKey::of(o));
        }
        for o in own {
            by_agent.entry(o.agent).or_default().1.push(OfferKey::of(o));
        }
        let touched: Vec<AgentId> = by_agent
            .into_iter()
            .filter_map(|(agent, (mut l, mut o))| {
                l.sort_unstable();
                o.sort_unstable();
                (l != o).then_some(agent)
            })
            .collect();
        if touched.is_empty() {
            return;
        }
        for chunk in touched.chunks(64) {
            pause();
            for agent in chunk {
                self.remove_agent(*agent);
            }
            let (adds, filters) = self.mirror.agent_calls(chunk, now_ms);
            for call in adds.into_iter().chain(filters) {
                self.tell(call);
            }
        }
    }

    /// What the policy has been told (and, for a shadow, what the live allocator holds).
    pub fn mirror(&self) -> &Mirror {
        &self.mirror
    }

    /// The last fault of an event call, once.
    pub fn take_event_fault(&mut self) -> Option<String> {
        self.last_event_fault.take()
    }

    fn on_fault(
        name: &str,
        policy: Option<FailurePolicy>,
        module: &mut WasmAllocator,
        error: &ModuleError,
        now_ms: u64,
        stats: &mut RoundStats,
    ) -> Vec<Offer> {
        match policy {
            Some(FailurePolicy::Fallback) | None => {
                tracing::warn!(allocator = %name, error = %error,
                    "allocator module faulted; this round is allocated by the built-in hierarchical DRF (failure policy: fallback)");
                stats.fallback_rounds += 1;
                let mut native = DrfAllocator::new();
                module.allocate_natively(&mut native, now_ms)
            }
            Some(p) => {
                tracing::warn!(allocator = %name, error = %error, failure_policy = p.as_str(),
                    "allocator module faulted; no offers this round");
                Vec::new()
            }
        }
    }
}

/// `hierarchical`, or the module's name.
pub fn choice_name(choice: &AllocatorChoice) -> String {
    match choice {
        AllocatorChoice::Native => "hierarchical".into(),
        AllocatorChoice::Module(m) => m.spec.name.clone(),
    }
}

/// An offer as compared between two allocators: the same framework, role and agent, and the
/// same amounts to a millionth.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OfferKey {
    pub agent: AgentId,
    pub framework: FrameworkId,
    pub role: RoleId,
    pub amounts: Vec<i64>,
}

impl OfferKey {
    pub fn of(offer: &Offer) -> OfferKey {
        let mut amounts: Vec<i64> = offer
            .resources
            .0
            .iter()
            .map(|x| (x * 1e6).round() as i64)
            .collect();
        while amounts.last() == Some(&0) {
            amounts.pop();
        }
        OfferKey {
            agent: offer.agent,
            framework: offer.framework,
            role: offer.role,
            amounts,
        }
    }
}
