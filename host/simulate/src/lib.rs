//! `meseta simulate`: replays a workload in virtual time through one or more allocators and
//! reports how each one did, side by side.
//!
//! The allocator calls are real: a module runs in its sandbox behind
//! [`meseta_allocator::WasmAllocator`], with the host's checks of every round (an offer that does
//! not fit, names an unknown framework, ... is a module fault, counted in the report); a native
//! twin (`allocator-drf`'s or `allocator-binpack`'s policy linked into the binary) is called
//! directly. Only time is simulated, so a run is deterministic: the same workload, allocators
//! and seed give the same report (but the wall-clock cost of the rounds).
//!
//! # The replay
//!
//! A discrete-event loop. Allocation rounds run every `allocation_interval` of virtual time,
//! from 0. Before each round, the tasks that ended by then give their resources back
//! (`recover_resources` with no filter) and the tasks that arrived by then join their
//! framework's queue (reviving the role if the framework had suppressed it). Then
//! `allocate(now)` runs, and each offer is answered at once, in the order of the round (see
//! *Frameworks*): launched tasks hold their resources until `now + duration`; what the
//! framework leaves is recovered with its `refuse_seconds` filter. After the answers, roles
//! whose queue is empty are suppressed (`suppress_when_idle`), and the state is sampled.
//!
//! A round that made no offers, with no decline filter left to expire, is followed by rounds
//! equally empty until the next arrival or task end: the replay skips to the round after it.
//! (That assumes an allocator's round depends only on the events it was told and the filters'
//! expiry, as both shipped allocators' do.) The replay stops when every task has ended, at
//! `--until`, or when tasks are queued that nothing launches any more (nothing running, no
//! arrival left, no launch for three refuse periods): the report says it stopped early.
//!
//! # Workload format
//!
//! A JSON object; times are seconds of virtual time, resources Mesos' scalars (`mem` and
//! `disk` in MB). Unknown fields are errors, and every error names its field
//! (`tasks[3].resources.cpus: ...`).
//!
//! ```json
//! {
//!   "allocation_interval": 1,
//!   "roles": [
//!     {"name": "batch", "weight": 1},
//!     {"name": "web", "weight": 2, "quota": {"limits": {"cpus": 40}}}
//!   ],
//!   "agents": [
//!     {"hostname": "rack1", "count": 10, "resources": {"cpus": 8, "mem": 16384},
//!      "attributes": {"rack": "r1"}}
//!   ],
//!   "frameworks": [
//!     {"name": "spark", "roles": ["batch"],
//!      "offers": {"max_tasks_per_offer": 4, "refuse_seconds": 5}},
//!     {"name": "marathon", "roles": ["web"]}
//!   ],
//!   "tasks": [
//!     {"framework": "spark", "arrival": 0, "count": 100, "every": 0.5,
//!      "resources": {"cpus": 1, "mem": 2048}, "duration": 60},
//!     {"framework": "marathon", "role": "web", "arrival": 10,
//!      "resources": {"cpus": 2, "mem": 1024}, "duration": 600}
//!   ]
//! }
//! ```
//!
//! * `resources` (optional): the resource kinds in slot order; default the kinds the agents
//!   have, `cpus`, `mem`, `disk`, `gpus` first, then the others by name.
//! * `allocation_interval` (default 1): seconds between rounds (Mesos' `--allocation_interval`).
//! * `min_allocatable` (optional): Mesos' `--min_allocatable_resources` as a list of
//!   alternatives, `[{"cpus": 0.01}, {"mem": 32}]` (the default, for the kinds the cluster has).
//! * `roles` (optional): `name`, `weight` (default 1), `quota` with `limits` (kinds not named
//!   are unlimited) and `guarantees` (given to the allocator; the shipped ones hold what
//!   guarantees still lack back from other roles, as Mesos' hierarchical allocator does). A role a framework names but `roles` does not list has weight 1.
//! * `agents`: `resources` (kind to amount), `attributes` (name to text, optional), `count`
//!   identical agents (default 1), `hostname` (default `agent-<i>`; `<hostname>-<n>` in a group).
//! * `frameworks`: `name`, `roles` (default `["*"]`), `offers` (below).
//! * `tasks`: `framework` (its name), `role` (default the framework's first), `arrival`,
//!   `resources`, `duration`, and `count` tasks (default 1) arriving `every` seconds apart
//!   (default 0: together). Every task must fit on some agent.
//!
//! # Frameworks
//!
//! Each framework keeps a queue per role of the tasks that arrived and are not launched yet,
//! in arrival order. Given an offer in one of its roles, it walks that role's queue from the
//! front (at most 256 tasks) and launches each task that fits in what is left of the offer, up
//! to `max_tasks_per_offer` (default: no limit); with `"order": "fifo"` it stops at the first
//! task that does not fit instead of skipping it (head-of-line blocking; the default is
//! `"first-fit"`). An offer from which it launches nothing counts as declined. Whatever it
//! leaves of an offer goes back with Mesos' `refuse_seconds` filter (default 5; 0 sets none).
//! With `decline_fraction` p, it declines a share p of its offers whole without looking (drawn
//! from the run's seed, the same draws for every allocator). With `suppress_when_idle` (the
//! default) it suppresses a role while that role's queue is empty and revives it when a task
//! arrives, as well-behaved frameworks do; otherwise it keeps receiving, and declining, offers.
//!
//! To see an allocator's fairness at task granularity (DRF's progressive filling), give the
//! frameworks `"max_tasks_per_offer": 1`: each offer then grows the chosen role by one task
//! before the allocator sorts the roles again.
//!
//! # The report
//!
//! Per allocator: tasks launched and finished; makespan (when the last task ended); task wait
//! (arrival to launch) p50/p95/p99; offers made and declined; rounds and the wall time of the
//! real allocator call (mean, p99); utilisation per resource kind (held by running tasks over the
//! cluster's total; time-weighted mean and peak); agents running some task (peak, mean); Jain's
//! fairness index `(Σx)² / (n·Σx²)` over the weighted dominant shares `x` of the roles with
//! queued or running tasks (time-weighted mean); each role's dominant share (the largest
//! fraction of the cluster's total of any kind its running tasks hold; peak and time-weighted
//! mean); and time series of these for plots. [`Report::table`], [`Report::to_json`] and
//! [`plot::write_svgs`] render it.
//!
//! Synthetic workloads come from [`generate::generate`], whose distributions are documented there.

pub mod engine;
pub mod generate;
pub mod plot;
pub mod report;
pub mod workload;

pub use engine::{AllocatorSpec, Candidate, Native, SimOptions};
pub use report::{Report, RunReport, WorkloadSummary};
pub use workload::{Workload, WorkloadError};

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{0}")]
    Workload(#[from] WorkloadError),
    #[error("allocator '{allocator}': {message}")]
    Load { allocator: String, message: String },
}

/// Where a replay is, for a progress bar.
#[derive(Clone, Copy, Debug)]
pub struct Progress<'a> {
    pub allocator: &'a str,
    pub now_ms: u64,
    pub arrived: usize,
    pub finished: u64,
    pub tasks: usize,
}

/// Replays `workload` through each candidate in turn (same workload, same seed).
pub fn simulate(
    name: &str,
    workload: &Workload,
    candidates: &[Candidate],
    options: &SimOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Report, SimError> {
    let resolved = workload.resolve()?;
    let mut options = options.clone();
    if options.points == 0 {
        options.points = 400;
    }
    let runs = candidates
        .iter()
        .map(|c| engine::run_one(&resolved, c, &options, progress))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Report {
        workload: WorkloadSummary::new(name, &resolved),
        runs,
    })
}
