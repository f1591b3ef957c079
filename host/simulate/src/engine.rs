//! The replay: a discrete-event loop in virtual time around one real allocator.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use allocator_binpack::BinpackAllocator;
use allocator_drf::DrfAllocator;
use meseta_allocator::WasmAllocator;
use meseta_runtime::{LoadedModule, ModuleError};
use meseta_types::Quantities;
use meseta_types::allocation::{
    AgentInfo, AllocatorPolicy, Capabilities, FrameworkInfo, Offer, Options, ResourceKind, RoleId,
    Sorter,
};
use meseta_types::quantities::EPSILON;

use crate::report::{Recorder, RunReport};
use crate::workload::{Order, Resolved};
use crate::{Progress, SimError};

/// A native twin, linked into this binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Native {
    /// `allocator-drf`'s policy (`hierarchical`, as `meseta master --allocator` calls it).
    Drf,
    /// `allocator-binpack`'s policy.
    Binpack,
}

/// What to replay the workload through.
#[derive(Clone)]
pub enum AllocatorSpec {
    Native(Native),
    /// A loaded allocator module, driven through [`WasmAllocator`] with the host's checks.
    Module(Arc<LoadedModule>),
}

/// One allocator of a comparison, under the name the report shows.
#[derive(Clone)]
pub struct Candidate {
    pub name: String,
    pub spec: AllocatorSpec,
}

enum Policy {
    Native(Box<dyn AllocatorPolicy>),
    Module(Box<WasmAllocator>),
}

impl Policy {
    fn new(spec: &AllocatorSpec, name: &str) -> Result<Policy, SimError> {
        Ok(match spec {
            AllocatorSpec::Native(Native::Drf) => Policy::Native(Box::new(DrfAllocator::new())),
            AllocatorSpec::Native(Native::Binpack) => {
                Policy::Native(Box::new(BinpackAllocator::new()))
            }
            AllocatorSpec::Module(m) => {
                Policy::Module(Box::new(WasmAllocator::new(m.clone()).map_err(|e| {
                    SimError::Load {
                        allocator: name.to_string(),
                        message: e.to_string(),
                    }
                })?))
            }
        })
    }

    /// Sends one event; a module fault is returned (and counted by the caller).
    fn event(
        &mut self,
        native: impl FnOnce(&mut dyn AllocatorPolicy),
        module: impl FnOnce(&mut WasmAllocator) -> Result<(), ModuleError>,
    ) -> Result<(), ModuleError> {
        match self {
            Policy::Native(p) => {
                native(p.as_mut());
                Ok(())
            }
            Policy::Module(m) => module(m),
        }
    }

    fn allocate(&mut self, now_ms: u64) -> Result<Vec<Offer>, ModuleError> {
        match self {
            Policy::Native(p) => Ok(p.allocate(now_ms)),
            Policy::Module(m) => m.allocate(now_ms),
        }
    }
}

/// Replay options shared by every allocator of a run.
#[derive(Clone, Debug, Default)]
pub struct SimOptions {
    /// Seed of the frameworks' random declines (`decline_fraction`).
    pub seed: u64,
    /// Stop at this virtual time (ms) even if tasks remain.
    pub until_ms: Option<u64>,
    /// Points kept per time series in the report.
    pub points: usize,
}

/// How many queued tasks a framework looks at per offer.
const SCAN_LIMIT: usize = 256;

struct Running {
    end_ms: u64,
    task: u32,
    agent: u32,
}

impl PartialEq for Running {
    fn eq(&self, other: &Self) -> bool {
        (self.end_ms, self.task) == (other.end_ms, other.task)
    }
}
impl Eq for Running {}
impl PartialOrd for Running {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Running {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.end_ms, self.task).cmp(&(other.end_ms, other.task))
    }
}

struct FrameworkSim {
    /// One queue of task indices per role of the framework, in the framework's role order.
    queues: Vec<VecDeque<u32>>,
    suppressed: Vec<bool>,
    rng: fastrand::Rng,
}

/// Replays the workload through one allocator.
pub fn run_one(
    w: &Resolved,
    candidate: &Candidate,
    options: &SimOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<RunReport, SimError> {
    let name = candidate.name.as_str();
    let mut policy = Policy::new(&candidate.spec, name)?;
    let mut rec = Recorder::new(w, name);
    let slots = w.kinds.len();

    // The cluster, told to the allocator in the order a master would.
    let opts = Options {
        resource_kinds: w
            .kinds
            .iter()
            .map(|k| ResourceKind {
                name: k.clone(),
                revocable: false,
                reserved_for: None,
            })
            .collect(),
        allocation_interval_ms: w.interval_ms,
        min_allocatable: w
            .min_allocatable
            .iter()
            .map(|m| Quantities(m.clone()))
            .collect(),
        fairness_excluded: Vec::new(),
        sorter: Sorter::Drf,
    };
    let mut faults = 0u64;
    // A module fault on an event is counted and the replay goes on: the adapter keeps the
    // event in its shadow, so the next call's fresh instance gets it by replay.
    // What faulted, when and on which call (`meseta module test` shows them): the first few.
    let clock = std::cell::Cell::new(0u64);
    let mut fault_log: Vec<String> = Vec::new();
    let mut log_fault = |call: &str, e: &dyn std::fmt::Display| {
        if fault_log.len() < MAX_FAULT_LOG {
            fault_log.push(format!("t={:.3}s {call}: {e}", clock.get() as f64 / 1e3));
        }
    };
    macro_rules! count {
        ($r:expr) => {
            if let Err(e) = $r {
                faults += 1;
                log_fault(call_name(stringify!($r)), &e);
                tracing::warn!(allocator = name, error = %e, "allocator module faulted on an event");
            }
        };
    }
    count!(policy.event(
        |p| p.initialize(opts.clone()),
        |m| m.initialize(opts.clone()),
    ));
    for (h, r) in w.roles.iter().enumerate() {
        let h = h as RoleId;
        count!(policy.event(|p| p.add_role(h, &r.name), |m| m.add_role(h, &r.name)));
    }
    let weights: Vec<(RoleId, f64)> = w
        .roles
        .iter()
        .enumerate()
        .filter(|(_, r)| r.weight != 1.0)
        .map(|(h, r)| (h as RoleId, r.weight))
        .collect();
    if !weights.is_empty() {
        count!(policy.event(
            |p| p.update_weights(&weights),
            |m| m.update_weights(&weights),
        ));
    }
    for (h, r) in w.roles.iter().enumerate() {
        if let Some((g, l)) = &r.quota {
            let (g, l) = (Quantities(g.clone()), Quantities(l.clone()));
            let h = h as RoleId;
            count!(policy.event(
                |p| p.update_quota(h, g.clone(), l.clone()),
                |m| m.update_quota(h, g.clone(), l.clone()),
            ));
        }
    }
    let mut frameworks: Vec<FrameworkSim> = Vec::new();
    for (id, f) in w.frameworks.iter().enumerate() {
        let info = FrameworkInfo {
            name: f.name.clone(),
            roles: f.roles.clone(),
            capabilities: Capabilities(Capabilities::MULTI_ROLE),
        };
        // An idle framework starts suppressed; the first task of a role revives it.
        let suppressed: Vec<RoleId> = if f.offers.suppress_when_idle {
            f.roles.clone()
        } else {
            Vec::new()
        };
        let id = id as u32;
        count!(policy.event(
            |p| p.add_framework(id, info.clone(), &[], true, &suppressed),
            |m| m.add_framework(id, info.clone(), &[], true, &suppressed),
        ));
        frameworks.push(FrameworkSim {
            queues: vec![VecDeque::new(); f.roles.len()],
            suppressed: vec![f.offers.suppress_when_idle; f.roles.len()],
            rng: fastrand::Rng::with_seed(options.seed ^ (u64::from(id) << 32)),
        });
    }
    for (id, a) in w.agents.iter().enumerate() {
        let info = AgentInfo {
            hostname: a.hostname.clone(),
            attributes: a.attributes.clone(),
        };
        let total = Quantities(a.resources.clone());
        let id = id as u32;
        count!(policy.event(
            |p| p.add_agent(id, info.clone(), total.clone(), &[]),
            |m| m.add_agent(id, info.clone(), total.clone(), &[]),
        ));
    }

    let max_refuse_ms = w
        .frameworks
        .iter()
        .map(|f| (f.offers.refuse_seconds * 1000.0) as u64)
        .max()
        .unwrap_or(0)
        .max(w.interval_ms);
    let mut running: BinaryHeap<Reverse<Running>> = BinaryHeap::new();
    let mut next_task = 0usize;
    let mut queued = 0usize;
    let mut now = 0u64;
    // Until when a decline filter may still hold something back.
    let mut filters_until = 0u64;
    // The last time a task launched or ended: a cluster idle for long with tasks queued is stuck.
    let mut last_change = 0u64;
    let mut round_cost: Vec<Duration> = Vec::new();
    let mut remaining = vec![0.0; slots];
    let stuck_after = 3 * max_refuse_ms + 2 * w.interval_ms;
    let mut stopped_early = false;

    loop {
        clock.set(now);
        // Tasks that ended by now give their resources back (no filter).
        while let Some(Reverse(r)) = running.peek() {
            if r.end_ms > now {
                break;
            }
            let Some(Reverse(r)) = running.pop() else {
                break;
            };
            let t = &w.tasks[r.task as usize];
            rec.end(t, r.agent, r.end_ms);
            last_change = now;
            let q = Quantities(t.resources.clone());
            let (f, a, role, at) = (t.framework, r.agent, t.role, r.end_ms);
            count!(policy.event(
                |p| p.recover_resources(f, a, role, q.clone(), None, at),
                |m| m.recover_resources(f, a, role, q.clone(), None, at),
            ));
        }
        // Tasks that arrived by now join their framework's queue, reviving the role.
        while let Some(t) = w.tasks.get(next_task) {
            if t.arrival_ms > now {
                break;
            }
            let f = &mut frameworks[t.framework as usize];
            let slot = w.frameworks[t.framework as usize]
                .roles
                .iter()
                .position(|r| *r == t.role)
                .unwrap_or(0);
            f.queues[slot].push_back(next_task as u32);
            queued += 1;
            rec.arrive(t);
            if f.suppressed[slot] {
                f.suppressed[slot] = false;
                let (fid, role) = (t.framework, [t.role]);
                count!(policy.event(|p| p.revive(fid, &role), |m| m.revive(fid, &role)));
            }
            next_task += 1;
        }

        // The round, timed as the master would see it.
        let started = Instant::now();
        let offers = match policy.allocate(now) {
            Ok(o) => o,
            Err(e) => {
                faults += 1;
                log_fault("allocate", &e);
                tracing::warn!(allocator = name, error = %e, "allocator module faulted in a round");
                Vec::new()
            }
        };
        round_cost.push(started.elapsed());
        let made_offers = !offers.is_empty();

        for o in &offers {
            let spec = &w.frameworks[o.framework as usize];
            let b = &spec.offers;
            let fsim = &mut frameworks[o.framework as usize];
            let slot = spec.roles.iter().position(|r| *r == o.role).unwrap_or(0);
            remaining.clear();
            remaining.extend_from_slice(&o.resources.0);
            remaining.resize(slots, 0.0);
            let mut launched = 0u32;
            let decline_all = b.decline_fraction > 0.0 && fsim.rng.f64() < b.decline_fraction;
            if !decline_all {
                let limit = b.max_tasks_per_offer.unwrap_or(u32::MAX);
                let queue = &mut fsim.queues[slot];
                let mut i = 0;
                let mut scanned = 0;
                while i < queue.len() && scanned < SCAN_LIMIT && launched < limit {
                    scanned += 1;
                    let ti = queue[i];
                    let t = &w.tasks[ti as usize];
                    let fits = t
                        .resources
                        .iter()
                        .zip(&remaining)
                        .all(|(need, have)| *need <= *have + EPSILON);
                    if fits {
                        for (have, need) in remaining.iter_mut().zip(&t.resources) {
                            *have = (*have - need).max(0.0);
                        }
                        queue.remove(i);
                        queued -= 1;
                        launched += 1;
                        rec.launch(t, o.agent, now);
                        last_change = now;
                        running.push(Reverse(Running {
                            end_ms: now + t.duration_ms,
                            task: ti,
                            agent: o.agent,
                        }));
                    } else if b.order == Order::Fifo {
                        break;
                    } else {
                        i += 1;
                    }
                }
            }
            rec.offer(launched == 0);
            if remaining.iter().any(|v| *v > EPSILON) {
                let refuse = (b.refuse_seconds > 0.0).then_some(b.refuse_seconds);
                if let Some(s) = refuse {
                    filters_until =
                        filters_until.max(now + ((s * 1000.0) as u64).max(w.interval_ms));
                }
                let q = Quantities(remaining.clone());
                let (f, a, role) = (o.framework, o.agent, o.role);
                count!(policy.event(
                    |p| p.recover_resources(f, a, role, q.clone(), refuse, now),
                    |m| m.recover_resources(f, a, role, q.clone(), refuse, now),
                ));
            }
        }
        // Roles left with nothing queued are suppressed.
        for (fid, (spec, fsim)) in w.frameworks.iter().zip(frameworks.iter_mut()).enumerate() {
            if !spec.offers.suppress_when_idle {
                continue;
            }
            for (slot, role) in spec.roles.iter().enumerate() {
                if !fsim.suppressed[slot] && fsim.queues[slot].is_empty() {
                    fsim.suppressed[slot] = true;
                    let (fid, role) = (fid as u32, [*role]);
                    count!(policy.event(|p| p.suppress(fid, &role), |m| m.suppress(fid, &role)));
                }
            }
        }
        rec.sample(now);
        progress(&Progress {
            allocator: name,
            now_ms: now,
            arrived: next_task,
            finished: rec.finished(),
            tasks: w.tasks.len(),
        });

        let arrivals_left = next_task < w.tasks.len();
        if !arrivals_left && running.is_empty() && queued == 0 {
            break;
        }
        if options.until_ms.is_some_and(|u| now >= u) {
            stopped_early = true;
            break;
        }
        if !arrivals_left && running.is_empty() && now.saturating_sub(last_change) > stuck_after {
            // Queued tasks that nothing launches any more (quota, declines): stop.
            stopped_early = true;
            break;
        }
        // Next round. A round that offered nothing, with no decline filter left to expire,
        // is followed by equally empty rounds until an event: skip to the round after the next
        // arrival or task end.
        let mut next = now + w.interval_ms;
        if !made_offers && now >= filters_until {
            let next_event = [
                w.tasks.get(next_task).map(|t| t.arrival_ms),
                running.peek().map(|Reverse(r)| r.end_ms),
            ]
            .into_iter()
            .flatten()
            .min();
            if let Some(e) = next_event {
                let grid = e.div_ceil(w.interval_ms) * w.interval_ms;
                next = next.max(grid);
            }
        }
        if let Some(u) = options.until_ms {
            next = next.min(u.max(now + 1));
        }
        now = next;
    }
    let mut report = rec.finish(now, round_cost, faults, stopped_early, options.points);
    report.fault_log = fault_log;
    Ok(report)
}

/// Faults kept with their step in [`RunReport::fault_log`].
const MAX_FAULT_LOG: usize = 20;

/// The allocator call in a `count!` expression's text (`policy.event(|p| p.revive(...` →
/// `revive`).
fn call_name(expr: &str) -> &str {
    expr.split_once(" p.")
        .and_then(|(_, rest)| rest.split('(').next())
        .map_or(expr, str::trim)
}
