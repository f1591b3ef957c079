//! Shadow allocators: candidate policies that get every call the live allocator gets and
//! compute their own round on the same state, while their offers are never sent.
//!
//! Each shadow runs on a thread of its own with its own [`AllocatorDriver`] (so its own module
//! instance, sandbox and limits). The effector hands it a copy of every allocator call and,
//! after each live round, the live offers; it never waits for a shadow. The shadow computes its
//! round, records how it differs from the live one ([`RoundDiff`]), and then follows the live
//! allocator: the live offers are held, its own are not ([`AllocatorDriver::follow`]), so every
//! round is compared from the state the cluster is really in.
//!
//! A shadow that falls behind skips rounds (when a later round is already queued, the older
//! one is only followed, not computed), so a slow or looping shadow costs the live allocator
//! a copy of each call (handed over in one message per batch of effects) and of each round's
//! offers. One that falls [`MAX_BACKLOG`] calls behind is stopped and says so.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use meseta_types::Quantities;
use meseta_types::allocation::{AgentId, FrameworkId, Offer, RoleId};
use serde::Serialize;
use tokio::sync::oneshot;

use crate::allocator::{AllocatorChoice, AllocatorDriver, AllocatorSource, OfferKey, choice_name};
use crate::core::AllocatorCall;
use crate::mirror::Mirror;

/// A shadow this many calls and rounds behind the live allocator is stopped, so a shadow that
/// cannot keep up never holds memory without bound (about 100 MB of calls).
pub const MAX_BACKLOG: usize = 1 << 20;

/// Every shadow's report, by name, as the operator endpoints read them.
pub type ShadowBoard = Arc<Mutex<BTreeMap<String, BoardEntry>>>;

/// A shadow's report, and its backlog as it is now.
#[derive(Clone)]
pub struct BoardEntry {
    report: Arc<Mutex<ShadowReport>>,
    backlog: Arc<AtomicUsize>,
}

/// What a shadow has shown so far (`/master/modules`, `/metrics/snapshot`,
/// `GET_SHADOW_ALLOCATORS`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct ShadowReport {
    /// `hierarchical`, or the module's name: what `REMOVE_SHADOW_ALLOCATOR` takes.
    pub name: String,
    /// How the operator named it (a name or a component file).
    pub allocator: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// `starting`, `running`, `failed` (it could not take the cluster's state) or `stopped`
    /// (it fell too far behind).
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Rounds the shadow computed (faulted ones included).
    pub rounds: u64,
    /// Rounds only followed because a later one was already waiting.
    pub rounds_skipped: u64,
    /// Computed rounds whose offers differed from the live round's.
    pub rounds_differing: u64,
    /// Over all computed rounds: offers made by one allocator and not the other.
    pub offers_differing: u64,
    /// Rounds in which the shadow faulted (it then made no offers).
    pub faults: u64,
    /// Calls other than rounds on which the shadow faulted.
    pub event_faults: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_fault: Option<String>,
    /// The shadow's own round time.
    pub round_ms: RoundMs,
    /// Calls and rounds handed to the shadow that it has not taken yet.
    pub backlog: usize,
    /// Jain's fairness index over the roles' weighted dominant shares after each round, the
    /// mean over the compared rounds.
    pub fairness_index_mean: Pair,
    /// The last compared round.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_round: Option<RoundDiff>,
    /// The last compared round whose offers differed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_differing_round: Option<RoundDiff>,
}

#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct RoundMs {
    pub last: f64,
    pub mean: f64,
    pub max: f64,
}

/// One figure for the live allocator and the shadow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Pair {
    pub live: f64,
    pub shadow: f64,
}

/// How one shadow round differed from the live round.
#[derive(Clone, Debug, Serialize)]
pub struct RoundDiff {
    /// The allocator's clock: milliseconds since the master started.
    pub time_ms: u64,
    pub live_offers: usize,
    pub shadow_offers: usize,
    /// Offers both made: the same agent, framework, role and resources.
    pub offers_same: usize,
    /// Offers only one of them made.
    pub offers_differing: usize,
    /// Each role of a framework or with resources held.
    pub roles: Vec<RoleDiff>,
    /// Jain's index over the roles' dominant shares divided by their weights, after the round
    /// (1 is perfectly fair).
    pub fairness_index: Pair,
}

#[derive(Clone, Debug, Serialize)]
pub struct RoleDiff {
    pub role: String,
    pub weight: f64,
    /// What the round offered the role, by resource (amounts above zero).
    pub offered: Offered,
    /// The role's dominant share of the cluster after the round: what it held before
    /// (tasks and outstanding offers) plus what the round offered it.
    pub dominant_share: Pair,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Offered {
    pub live: BTreeMap<String, f64>,
    pub shadow: BTreeMap<String, f64>,
}

/// Compares a round's offers: `mirror` is the cluster before the round (what is held).
pub fn compare(mirror: &Mirror, time_ms: u64, live: &[Offer], shadow: &[Offer]) -> RoundDiff {
    let mut counts: HashMap<OfferKey, (usize, usize)> = HashMap::new();
    for o in live {
        counts.entry(OfferKey::of(o)).or_default().0 += 1;
    }
    for o in shadow {
        counts.entry(OfferKey::of(o)).or_default().1 += 1;
    }
    let offers_same: usize = counts.values().map(|(l, s)| (*l).min(*s)).sum();
    let names = mirror.resource_names();
    let slots = mirror.fairness_slots();
    let total = mirror.total();
    let held = mirror.role_holdings();
    let live_by_role = by_role(live);
    let shadow_by_role = by_role(shadow);
    let roles: BTreeSet<RoleId> = held
        .keys()
        .chain(live_by_role.keys())
        .chain(shadow_by_role.keys())
        .copied()
        .collect();
    let none = Quantities::default();
    let mut out = Vec::with_capacity(roles.len());
    let (mut live_x, mut shadow_x) = (Vec::new(), Vec::new());
    for role in roles {
        let base = held.get(&role).unwrap_or(&none);
        let l = live_by_role.get(&role).unwrap_or(&none);
        let s = shadow_by_role.get(&role).unwrap_or(&none);
        let share = |offered: &Quantities| {
            let mut after = base.clone();
            after.add(offered);
            dominant_share(&after, &total, &slots)
        };
        let weight = mirror.weight(role);
        let dominant = Pair {
            live: share(l),
            shadow: share(s),
        };
        let weight_for_index = if weight > 0.0 { weight } else { 1.0 };
        live_x.push(dominant.live / weight_for_index);
        shadow_x.push(dominant.shadow / weight_for_index);
        out.push(RoleDiff {
            role: mirror.role_name(role),
            weight,
            offered: Offered {
                live: named(l, &names),
                shadow: named(s, &names),
            },
            dominant_share: dominant,
        });
    }
    RoundDiff {
        time_ms,
        live_offers: live.len(),
        shadow_offers: shadow.len(),
        offers_same,
        offers_differing: live.len() + shadow.len() - 2 * offers_same,
        roles: out,
        fairness_index: Pair {
            live: jain_index(&live_x),
            shadow: jain_index(&shadow_x),
        },
    }
}

fn by_role(offers: &[Offer]) -> BTreeMap<RoleId, Quantities> {
    let mut out: BTreeMap<RoleId, Quantities> = BTreeMap::new();
    for o in offers {
        out.entry(o.role).or_default().add(&o.resources);
    }
    out
}

fn named(amounts: &Quantities, names: &[String]) -> BTreeMap<String, f64> {
    amounts
        .0
        .iter()
        .enumerate()
        .filter(|(_, x)| **x > meseta_types::quantities::EPSILON)
        .map(|(k, x)| {
            let name = names.get(k).cloned().unwrap_or_else(|| format!("slot {k}"));
            (name, *x)
        })
        .collect()
}

/// The largest share of the cluster's total the role holds, over the counted slots.
pub fn dominant_share(held: &Quantities, total: &Quantities, slots: &[usize]) -> f64 {
    slots
        .iter()
        .filter_map(|k| {
            let t = *total.0.get(*k)?;
            (t > meseta_types::quantities::EPSILON)
                .then(|| held.0.get(*k).copied().unwrap_or(0.0) / t)
        })
        .fold(0.0, f64::max)
}

/// Jain's fairness index, (Σx)² / (n·Σx²): 1 when every x is equal, 1/n when one has
/// everything; 1 for no roles or when nobody holds anything.
pub fn jain_index(xs: &[f64]) -> f64 {
    let sum: f64 = xs.iter().sum();
    let squares: f64 = xs.iter().map(|x| x * x).sum();
    if xs.is_empty() || squares <= f64::EPSILON {
        return 1.0;
    }
    sum * sum / (xs.len() as f64 * squares)
}

enum Msg {
    /// The shadow's policy and the live allocator's state to start from.
    Start {
        choice: AllocatorChoice,
        replay: Vec<AllocatorCall>,
        reply: Option<oneshot::Sender<Result<(), String>>>,
    },
    /// Calls the live allocator was given, in order.
    Calls(Arc<Batch>),
    /// A live round's offers.
    Round { now_ms: u64, live: Arc<Columns> },
}

/// Calls as the live path keeps them: a decline or a use (`recover`, the call every offer ends
/// in) is stored without an allocation of its own, its amounts in one shared column; the
/// shadow's thread builds the calls back.
#[derive(Default)]
struct Batch {
    calls: Vec<Kept>,
    amounts: Vec<f64>,
}

enum Kept {
    Call(AllocatorCall),
    Recover {
        framework: FrameworkId,
        agent: AgentId,
        role: RoleId,
        /// `amounts[at..at + len]`.
        at: usize,
        len: usize,
        refuse_seconds: Option<f64>,
        now_ms: u64,
    },
}

impl Batch {
    fn keep(&mut self, call: &AllocatorCall) {
        match call {
            AllocatorCall::Recover {
                framework,
                agent,
                role,
                resources,
                refuse_seconds,
                now_ms,
            } => {
                let at = self.amounts.len();
                self.amounts.extend_from_slice(&resources.0);
                self.calls.push(Kept::Recover {
                    framework: *framework,
                    agent: *agent,
                    role: *role,
                    at,
                    len: resources.0.len(),
                    refuse_seconds: *refuse_seconds,
                    now_ms: *now_ms,
                });
            }
            other => self.calls.push(Kept::Call(other.clone())),
        }
    }

    fn calls(&self) -> impl Iterator<Item = AllocatorCall> + '_ {
        self.calls.iter().map(|k| match k {
            Kept::Call(call) => call.clone(),
            Kept::Recover {
                framework,
                agent,
                role,
                at,
                len,
                refuse_seconds,
                now_ms,
            } => AllocatorCall::Recover {
                framework: *framework,
                agent: *agent,
                role: *role,
                resources: Quantities(self.amounts[*at..*at + *len].to_vec()),
                refuse_seconds: *refuse_seconds,
                now_ms: *now_ms,
            },
        })
    }
}

/// Handed-over buffers the shadows are done with (a few of each), back to the live path.
#[derive(Clone, Default)]
struct Spares {
    batches: Arc<Mutex<Vec<Batch>>>,
    columns: Arc<Mutex<Vec<Columns>>>,
}

impl Spares {
    const KEEP: usize = 4;

    /// Keeps `batch` if this shadow was the last to hold it.
    fn give_batch(&self, batch: Arc<Batch>) {
        if let Ok(mut b) = Arc::try_unwrap(batch) {
            b.calls.clear();
            b.amounts.clear();
            if let Ok(mut spare) = self.batches.lock()
                && spare.len() < Self::KEEP
            {
                spare.push(b);
            }
        }
    }

    fn give_columns(&self, columns: Arc<Columns>) {
        if let Ok(c) = Arc::try_unwrap(columns)
            && let Ok(mut spare) = self.columns.lock()
            && spare.len() < Self::KEEP
        {
            spare.push(c);
        }
    }
}

/// A round's offers in columns: ids, and every offer's amounts in one list.
struct Columns {
    ids: Vec<(FrameworkId, RoleId, AgentId, usize, usize)>,
    amounts: Vec<f64>,
}

impl Columns {
    /// `offers` in columns, in `spare`'s buffers.
    fn of(offers: &[Offer], spare: Option<Columns>) -> Columns {
        let mut c = spare.unwrap_or(Columns {
            ids: Vec::new(),
            amounts: Vec::new(),
        });
        c.ids.clear();
        c.amounts.clear();
        for o in offers {
            let at = c.amounts.len();
            c.ids
                .push((o.framework, o.role, o.agent, at, o.resources.0.len()));
            c.amounts.extend_from_slice(&o.resources.0);
        }
        c
    }

    fn offers(&self) -> Vec<Offer> {
        self.ids
            .iter()
            .map(|(framework, role, agent, at, len)| Offer {
                framework: *framework,
                role: *role,
                agent: *agent,
                resources: Quantities(self.amounts[*at..*at + *len].to_vec()),
            })
            .collect()
    }
}

struct Handle {
    name: String,
    tx: mpsc::Sender<Msg>,
    thread: std::thread::Thread,
    joined: Option<std::thread::JoinHandle<()>>,
    /// Messages sent and not yet taken.
    backlog: Arc<AtomicUsize>,
    /// Rounds sent and not yet taken.
    rounds_queued: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    /// Set by the shadow's thread when it ends.
    ended: Arc<AtomicBool>,
    report: Arc<Mutex<ShadowReport>>,
}

/// The shadows, as the effector drives them (see the module doc).
pub struct Shadows {
    list: Vec<Handle>,
    board: ShadowBoard,
    /// Calls not yet handed over: they go in one message per batch ([`Shadows::flush`]).
    pending: Batch,
    /// Buffers the shadows are done with, for the next batches: the live path then neither
    /// allocates nor frees memory a shadow's thread touched.
    spares: Spares,
    /// Set while the effector works: shadows wait for it to be idle ([`Shadows::busy`]).
    live_busy: Arc<AtomicBool>,
}

impl Shadows {
    pub fn new(board: ShadowBoard) -> Shadows {
        Shadows {
            list: Vec::new(),
            board,
            pending: Batch::default(),
            spares: Spares::default(),
            live_busy: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Starts a shadow of `choice` from `replay` (the live allocator's state; empty before
    /// the master's first call). `reply` hears whether it took the state. Refused when a
    /// shadow of that name runs already.
    pub fn add(
        &mut self,
        choice: AllocatorChoice,
        source: AllocatorSource,
        replay: Vec<AllocatorCall>,
        reply: Option<oneshot::Sender<Result<(), String>>>,
    ) -> Result<(), String> {
        let name = choice_name(&choice);
        // Calls kept before this shadow existed are in `replay` already.
        self.flush();
        self.list.retain(|h| !h.ended.load(Ordering::Acquire));
        if self.list.iter().any(|h| h.name == name) {
            return Err(format!(
                "a shadow allocator named '{name}' runs already (remove it first)"
            ));
        }
        let report = Arc::new(Mutex::new(ShadowReport {
            name: name.clone(),
            allocator: source.allocator,
            manifest: source.manifest,
            state: "starting",
            ..ShadowReport::default()
        }));
        let (tx, rx) = mpsc::channel();
        let backlog = Arc::new(AtomicUsize::new(1));
        let rounds_queued = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let ended = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            name: name.clone(),
            board: self.board.clone(),
            spares: self.spares.clone(),
            live_busy: self.live_busy.clone(),
            ended: ended.clone(),
            report: report.clone(),
            backlog: backlog.clone(),
            rounds_queued: rounds_queued.clone(),
            stop: stop.clone(),
        };
        let joined = std::thread::Builder::new()
            .name(format!("meseta-shadow-{name}"))
            .spawn(move || worker.run(rx))
            .map_err(|e| format!("cannot start a thread for shadow allocator '{name}': {e}"))?;
        let thread = joined.thread().clone();
        let handle = Handle {
            name: name.clone(),
            tx,
            thread,
            joined: Some(joined),
            backlog,
            rounds_queued,
            stop,
            ended,
            report: report.clone(),
        };
        let _ = handle.tx.send(Msg::Start {
            choice,
            replay,
            reply,
        });
        if let Ok(mut board) = self.board.lock() {
            board.insert(
                name,
                BoardEntry {
                    report,
                    backlog: handle.backlog.clone(),
                },
            );
        }
        self.list.push(handle);
        Ok(())
    }

    /// Stops the shadow `name` (it finishes the call it is in) and forgets its report; its
    /// thread, to join if the caller wants to wait for it (`None`: no shadow of that name).
    pub fn remove(&mut self, name: &str) -> Option<std::thread::JoinHandle<()>> {
        let at = self.list.iter().position(|h| h.name == name)?;
        let mut handle = self.list.remove(at);
        handle.stop.store(true, Ordering::Relaxed);
        handle.thread.unpark();
        if let Ok(mut board) = self.board.lock() {
            board.remove(name);
        }
        handle.joined.take()
    }

    /// The effector starts a job: shadows hold off until it is done, so that on a small
    /// machine a shadow's work does not compete with the live allocator's.
    pub fn busy(&self) {
        if !self.list.is_empty() {
            self.live_busy.store(true, Ordering::Release);
        }
    }

    /// The effector is idle: shadows go on.
    pub fn idle(&self) {
        if self.live_busy.swap(false, Ordering::AcqRel) {
            for h in &self.list {
                h.thread.unpark();
            }
        }
    }

    /// Keeps a copy of a call the live allocator is given, for every shadow.
    pub fn call(&mut self, call: &AllocatorCall) {
        if !self.list.is_empty() {
            self.pending.keep(call);
        }
    }

    /// Hands the calls kept since the last flush to every shadow, in one message.
    pub fn flush(&mut self) {
        if self.pending.calls.is_empty() {
            return;
        }
        let fresh = self
            .spares
            .batches
            .lock()
            .ok()
            .and_then(|mut b| b.pop())
            .unwrap_or_default();
        let calls = Arc::new(std::mem::replace(&mut self.pending, fresh));
        let n = calls.calls.len();
        self.send(|| Msg::Calls(calls.clone()), n, false);
    }

    /// Hands every shadow a live round's offers (after the calls before it).
    pub fn round(&mut self, now_ms: u64, live: &[Offer]) {
        if self.list.is_empty() {
            return;
        }
        self.flush();
        let spare = self.spares.columns.lock().ok().and_then(|mut c| c.pop());
        let live = Arc::new(Columns::of(live, spare));
        self.send(
            || Msg::Round {
                now_ms,
                live: live.clone(),
            },
            1,
            true,
        );
    }

    /// `weight`: how many calls the message carries, for the backlog.
    fn send(&mut self, msg: impl Fn() -> Msg, weight: usize, round: bool) {
        self.list.retain(|h| {
            if h.backlog.load(Ordering::Relaxed) >= MAX_BACKLOG {
                h.stop.store(true, Ordering::Relaxed);
                if let Ok(mut r) = h.report.lock() {
                    r.state = "stopped";
                    r.reason = Some(format!(
                        "it fell {MAX_BACKLOG} calls behind the live allocator"
                    ));
                }
                tracing::warn!(shadow = %h.name, "shadow allocator stopped: it fell too far behind");
                return false;
            }
            h.backlog.fetch_add(weight, Ordering::Relaxed);
            if round {
                h.rounds_queued.fetch_add(1, Ordering::AcqRel);
            }
            // A shadow whose thread ended (it failed to start) is dropped; its report says why.
            h.tx.send(msg()).is_ok()
        });
    }
}

/// A shadow's thread.
struct Worker {
    spares: Spares,
    live_busy: Arc<AtomicBool>,
    name: String,
    board: ShadowBoard,
    ended: Arc<AtomicBool>,
    report: Arc<Mutex<ShadowReport>>,
    backlog: Arc<AtomicUsize>,
    rounds_queued: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Worker {
    fn run(self, rx: mpsc::Receiver<Msg>) {
        self.serve(rx);
        self.ended.store(true, Ordering::Release);
    }

    fn serve(&self, rx: mpsc::Receiver<Msg>) {
        let mut driver: Option<AllocatorDriver> = None;
        while let Ok(msg) = rx.recv() {
            self.wait_for_idle_live();
            let weight = match &msg {
                Msg::Calls(calls) => calls.calls.len(),
                _ => 1,
            };
            self.backlog.fetch_sub(weight, Ordering::Relaxed);
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            match msg {
                Msg::Start {
                    choice,
                    replay,
                    reply,
                } => match start(choice, replay) {
                    Ok(d) => {
                        driver = Some(d);
                        self.update(|r| r.state = "running");
                        if let Some(reply) = reply {
                            let _ = reply.send(Ok(()));
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "shadow allocator failed to start");
                        self.update(|r| {
                            r.state = "failed";
                            r.reason = Some(e.clone());
                        });
                        // An operator's call hears why; a flag's shadow stays listed, failed.
                        if let Some(reply) = reply {
                            if let Ok(mut board) = self.board.lock() {
                                board.remove(&self.name);
                            }
                            let _ = reply.send(Err(e));
                        }
                        return;
                    }
                },
                Msg::Calls(calls) => {
                    if let Some(d) = &mut driver {
                        for (i, call) in calls.calls().enumerate() {
                            if i % 64 == 63 {
                                self.wait_for_idle_live();
                            }
                            d.apply(call);
                        }
                        self.spares.give_batch(calls);
                        self.event_fault(d);
                    }
                }
                Msg::Round { now_ms, live } => {
                    let live = {
                        let offers = live.offers();
                        self.spares.give_columns(live);
                        offers
                    };
                    let later = self.rounds_queued.fetch_sub(1, Ordering::AcqRel) > 1;
                    let Some(d) = &mut driver else {
                        continue;
                    };
                    if later {
                        d.follow(&live, &[], now_ms, &mut || self.wait_for_idle_live());
                        self.event_fault(d);
                        self.update(|r| r.rounds_skipped += 1);
                        continue;
                    }
                    let outcome = d.shadow_allocate(now_ms);
                    let ms = d.stats.last_ms;
                    let diff = outcome
                        .as_ref()
                        .ok()
                        .map(|own| compare(d.mirror(), now_ms, &live, own));
                    d.follow(
                        &live,
                        outcome.as_deref().unwrap_or(&[]),
                        now_ms,
                        &mut || self.wait_for_idle_live(),
                    );
                    self.event_fault(d);
                    self.update(|r| {
                        r.rounds += 1;
                        r.round_ms.last = ms;
                        r.round_ms.max = r.round_ms.max.max(ms);
                        r.round_ms.mean += (ms - r.round_ms.mean) / r.rounds as f64;
                        match (&outcome, diff) {
                            (Err(e), _) => {
                                r.faults += 1;
                                r.last_fault = Some(e.clone());
                            }
                            (Ok(_), Some(diff)) => {
                                let compared = (r.rounds - r.faults) as f64;
                                let mean = &mut r.fairness_index_mean;
                                mean.live += (diff.fairness_index.live - mean.live) / compared;
                                mean.shadow +=
                                    (diff.fairness_index.shadow - mean.shadow) / compared;
                                if diff.offers_differing > 0 {
                                    r.rounds_differing += 1;
                                    r.last_differing_round = Some(diff.clone());
                                }
                                r.offers_differing += diff.offers_differing as u64;
                                r.last_round = Some(diff);
                            }
                            (Ok(_), None) => {}
                        }
                    });
                }
            }
        }
    }

    /// The live allocator first: a shadow works while the effector is idle.
    fn wait_for_idle_live(&self) {
        while self.live_busy.load(Ordering::Acquire) && !self.stop.load(Ordering::Relaxed) {
            std::thread::park_timeout(std::time::Duration::from_millis(100));
        }
    }

    fn event_fault(&self, driver: &mut AllocatorDriver) {
        if let Some(fault) = driver.take_event_fault() {
            self.update(|r| {
                r.event_faults += 1;
                r.last_fault = Some(fault);
            });
        }
    }

    fn update(&self, f: impl FnOnce(&mut ShadowReport)) {
        if let Ok(mut r) = self.report.lock() {
            f(&mut r);
        }
    }
}

/// The shadow's driver, given the live allocator's state.
fn start(choice: AllocatorChoice, replay: Vec<AllocatorCall>) -> Result<AllocatorDriver, String> {
    let name = choice_name(&choice);
    let mut driver = AllocatorDriver::new(choice)
        .map_err(|e| format!("shadow allocator '{name}' cannot be loaded: {e}"))?;
    for call in replay {
        driver.apply(call);
        if let Some(fault) = driver.take_event_fault() {
            return Err(format!(
                "shadow allocator '{name}' faulted while taking the cluster's state: {fault}"
            ));
        }
    }
    Ok(driver)
}

/// The reports on `board`, each with its backlog as of now.
pub fn reports(board: &ShadowBoard) -> Vec<ShadowReport> {
    let Ok(board) = board.lock() else {
        return Vec::new();
    };
    board
        .values()
        .filter_map(|e| {
            let mut r = e.report.lock().ok()?.clone();
            r.backlog = e.backlog.load(Ordering::Relaxed);
            Some(r)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use meseta_types::allocation::{AgentInfo, FrameworkInfo, Options, ResourceKind};

    fn kinds() -> Vec<ResourceKind> {
        ["cpus", "mem"]
            .iter()
            .map(|n| ResourceKind {
                name: n.to_string(),
                revocable: false,
                reserved_for: None,
            })
            .collect()
    }

    /// Two agents of `cpus:4;mem:8`, roles `a` (weight 1) and `b` (weight 2), one framework
    /// each.
    fn cluster() -> Vec<AllocatorCall> {
        let mut calls = vec![
            AllocatorCall::Initialize(Options {
                resource_kinds: kinds(),
                allocation_interval_ms: 1000,
                min_allocatable: vec![Quantities(vec![0.01, 0.0])],
                fairness_excluded: Vec::new(),
                sorter: Default::default(),
            }),
            AllocatorCall::AddRole {
                role: 0,
                name: "a".into(),
            },
            AllocatorCall::AddRole {
                role: 1,
                name: "b".into(),
            },
            AllocatorCall::UpdateWeights(vec![(1, 2.0)]),
        ];
        for (f, role) in [(0, 0), (1, 1)] {
            calls.push(AllocatorCall::AddFramework {
                framework: f,
                info: FrameworkInfo {
                    name: format!("f{f}"),
                    roles: vec![role],
                    capabilities: Default::default(),
                },
                active: true,
            });
        }
        for agent in 0..2 {
            calls.push(AllocatorCall::AddAgent {
                agent,
                info: AgentInfo::default(),
                total: Quantities(vec![4.0, 8.0]),
                used: Vec::new(),
            });
        }
        calls
    }

    fn mirror_of(calls: &[AllocatorCall]) -> Mirror {
        let mut m = Mirror::default();
        for c in calls {
            m.apply(c);
        }
        m
    }

    fn offer(framework: u32, role: u32, agent: u32, cpus: f64, mem: f64) -> Offer {
        Offer {
            framework,
            role,
            agent,
            resources: Quantities(vec![cpus, mem]),
        }
    }

    #[test]
    fn jain_index_by_hand() {
        assert_eq!(jain_index(&[]), 1.0);
        assert_eq!(jain_index(&[0.0, 0.0]), 1.0);
        assert!((jain_index(&[0.5, 0.5]) - 1.0).abs() < 1e-12);
        // One of four holds everything: 1/4.
        assert!((jain_index(&[1.0, 0.0, 0.0, 0.0]) - 0.25).abs() < 1e-12);
        // (0.2 + 0.6)^2 / (2 * (0.04 + 0.36)) = 0.64 / 0.8.
        assert!((jain_index(&[0.2, 0.6]) - 0.8).abs() < 1e-12);
    }

    #[test]
    fn a_round_compared_by_hand() {
        let m = mirror_of(&cluster());
        // Live: agent 0 to a, agent 1 to b. Shadow: both agents to a.
        let live = [offer(0, 0, 0, 4.0, 8.0), offer(1, 1, 1, 4.0, 8.0)];
        let shadow = [offer(0, 0, 0, 4.0, 8.0), offer(0, 0, 1, 4.0, 8.0)];
        let d = compare(&m, 7, &live, &shadow);
        assert_eq!((d.live_offers, d.shadow_offers, d.offers_same), (2, 2, 1));
        assert_eq!(d.offers_differing, 2);
        let a = &d.roles[0];
        let b = &d.roles[1];
        assert_eq!((a.role.as_str(), b.role.as_str()), ("a", "b"));
        assert_eq!(b.weight, 2.0);
        assert_eq!(a.offered.live["cpus"], 4.0);
        assert_eq!(a.offered.shadow["cpus"], 8.0);
        assert!(b.offered.shadow.is_empty());
        // Dominant shares: half the cluster each live; all of it to a in the shadow.
        assert_eq!(
            a.dominant_share,
            Pair {
                live: 0.5,
                shadow: 1.0
            }
        );
        assert_eq!(
            b.dominant_share,
            Pair {
                live: 0.5,
                shadow: 0.0
            }
        );
        // Weighted: live x = (0.5, 0.25): 0.5625 / (2 * 0.3125) = 0.9; shadow (1, 0): 0.5.
        assert!((d.fairness_index.live - 0.9).abs() < 1e-12, "{d:?}");
        assert!((d.fairness_index.shadow - 0.5).abs() < 1e-12, "{d:?}");
    }

    /// A shadow follows what the live allocator offered, not what it offered itself: resources
    /// the live round gave away are held in its next round, resources only it offered are free.
    #[test]
    fn a_shadow_starts_each_round_from_the_live_state() {
        let mut shadow = AllocatorDriver::new(AllocatorChoice::Native).unwrap();
        for c in cluster() {
            shadow.apply(c);
        }
        let own = shadow.shadow_allocate(1_000).unwrap();
        let own_cpus: f64 = own.iter().map(|o| o.resources.0[0]).sum();
        assert_eq!(own_cpus, 8.0, "{own:?}");
        // The live allocator offered nothing (say it was another policy): all is free again.
        shadow.follow(&[], &own, 1_000, &mut || {});
        let again = shadow.shadow_allocate(2_000).unwrap();
        assert_eq!(
            again.iter().map(|o| o.resources.0[0]).sum::<f64>(),
            8.0,
            "{again:?}"
        );
        // Now the live allocator gave all of agent 1 to framework 1: only agent 0 is left.
        let live = [offer(1, 1, 1, 4.0, 8.0)];
        shadow.follow(&live, &again, 2_000, &mut || {});
        let third = shadow.shadow_allocate(3_000).unwrap();
        assert!(third.iter().all(|o| o.agent == 0), "{third:?}");
        assert_eq!(third.iter().map(|o| o.resources.0[0]).sum::<f64>(), 4.0);
        // Its base for the comparison is the live holding.
        let held = shadow.mirror().role_holdings();
        assert_eq!(held[&1].0, vec![4.0, 8.0]);
    }

    /// A live decline filter reaches the shadow: the agent a framework refused is not offered
    /// to it again while the filter runs.
    #[test]
    fn a_shadow_keeps_the_live_filters() {
        let mut shadow = AllocatorDriver::new(AllocatorChoice::Native).unwrap();
        let mut calls = cluster();
        calls.truncate(calls.len() - 1); // one agent
        calls.retain(|c| !matches!(c, AllocatorCall::AddFramework { framework: 1, .. }));
        for c in calls {
            shadow.apply(c);
        }
        let live = [offer(0, 0, 0, 4.0, 8.0)];
        let own = shadow.shadow_allocate(1_000).unwrap();
        shadow.follow(&live, &own, 1_000, &mut || {});
        shadow.apply(AllocatorCall::Recover {
            framework: 0,
            agent: 0,
            role: 0,
            resources: Quantities(vec![4.0, 8.0]),
            refuse_seconds: Some(60.0),
            now_ms: 1_000,
        });
        assert!(shadow.shadow_allocate(2_000).unwrap().is_empty());
        // A round in which the shadow and the live allocator differ on the agent re-adds it
        // from the mirror, filter included.
        shadow.follow(&[], &[offer(0, 0, 0, 1.0, 1.0)], 2_000, &mut || {});
        assert!(shadow.shadow_allocate(3_000).unwrap().is_empty());
        assert_eq!(shadow.shadow_allocate(62_000).unwrap().len(), 1);
    }
}
