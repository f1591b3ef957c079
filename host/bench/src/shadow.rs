//! `allocator-shadow`: what a shadow allocator costs the live allocation round.
//!
//! Mesos' `DeclineOffers` cluster (10,000 agents, 1,000 frameworks; `--quick`: 200 x 20) in
//! the master's own allocator driver with the `allocator-drf` module live. Each round is what
//! the master's effector does: the live round, the round's offers handed to the shadows, and
//! every offer declined (without a filter, so every round offers the whole cluster again), each
//! decline a call the shadows get too. The same rounds run without a shadow and then with
//! `allocator-binpack` in shadow (it offers one agent per framework where DRF offers every
//! agent, so after every round it must follow the live state on most agents: a shadow at its
//! busiest), in alternating blocks (three of each, `--rounds` rounds per block). Rounds are spaced as the master's allocation loop spaces them at its busiest (the
//! next no sooner than four times the last one's cost). Reported: the live round's time (the
//! round, handing its offers over, and the declines) without and with the shadow (median),
//! their ratio, and what the shadow did meanwhile (rounds computed and skipped, its own round
//! time).

use std::sync::Arc;
use std::time::{Duration, Instant};

use meseta_master::allocator::{AllocatorChoice, AllocatorDriver, AllocatorSource};
use meseta_master::core::AllocatorCall;
use meseta_master::shadow::{ShadowBoard, Shadows, reports};
use meseta_types::Quantities;
use meseta_types::allocation::{AgentUsage, Offer};
use serde_json::json;

use crate::allocators::{agent, framework, mesos_min_allocatable, options};
use crate::{BenchOptions, Report, median, ms, progress};

const NAME: &str = "allocator-shadow";

/// The calls that build Mesos' benchmark cluster: agents `cpus:24;mem:4096;disk:4096;
/// ports:[31000-32000]`, each partly used by framework `i % frameworks`.
fn cluster(agents: u32, frameworks: u32) -> Vec<AllocatorCall> {
    let mut calls = vec![
        AllocatorCall::Initialize(options(
            &["cpus", "mem", "disk", "ports"],
            mesos_min_allocatable(4),
        )),
        AllocatorCall::AddRole {
            role: 0,
            name: "*".into(),
        },
    ];
    for f in 0..frameworks {
        calls.push(AllocatorCall::AddFramework {
            framework: f,
            info: framework(f, 0),
            active: true,
        });
    }
    for a in 0..agents {
        calls.push(AllocatorCall::AddAgent {
            agent: a,
            info: agent(a),
            total: Quantities(vec![24.0, 4096.0, 4096.0, 1001.0]),
            used: vec![AgentUsage {
                framework: a % frameworks,
                role: 0,
                resources: Quantities(vec![16.0, 2014.0, 1024.0, 16.0]),
            }],
        });
    }
    calls
}

/// One round as the effector runs it: its time, the part of it spent handing calls and offers
/// to the shadows, and the offers made.
fn round(
    live: &mut AllocatorDriver,
    shadows: &mut Shadows,
    now_ms: u64,
) -> (Duration, Duration, usize) {
    let started = Instant::now();
    // As the effector does around each job.
    shadows.busy();
    let offers: Vec<Offer> = live.allocate(now_ms);
    let handing = Instant::now();
    shadows.round(now_ms, &offers);
    let mut handoff = handing.elapsed();
    let declines: Vec<AllocatorCall> = offers
        .iter()
        .map(|o| AllocatorCall::Recover {
            framework: o.framework,
            agent: o.agent,
            role: o.role,
            resources: o.resources.clone(),
            refuse_seconds: None,
            now_ms,
        })
        .collect();
    let handing = Instant::now();
    for call in &declines {
        shadows.call(call);
    }
    // The effector hands the calls of each batch of effects over at its end.
    shadows.flush();
    handoff += handing.elapsed();
    for call in declines {
        live.apply(call);
    }
    shadows.idle();
    (started.elapsed(), handoff, offers.len())
}

pub fn run(o: &BenchOptions) -> anyhow::Result<Vec<Report>> {
    let agents = o.agents.unwrap_or(if o.quick { 200 } else { 10_000 });
    let frameworks = o.frameworks.unwrap_or((agents / 10).max(1));
    let rounds = o.rounds.unwrap_or(if o.quick { 3 } else { 10 }).max(1);
    progress(
        NAME,
        format!("{agents} agents x {frameworks} frameworks: building the live allocator-drf"),
    );
    let drf = crate::load_builtin("allocator-drf", &[])?;
    let binpack = crate::load_builtin("allocator-binpack", &[])?;
    let mut live = AllocatorDriver::new(AllocatorChoice::Module(drf))?;
    for call in cluster(agents, frameworks) {
        live.apply(call);
    }
    let board = ShadowBoard::default();
    let mut shadows = Shadows::new(board.clone());
    let mut now = 1_000;
    // Blocks of rounds without and with the shadow, alternating, so that a drift of the
    // machine's speed falls on both alike.
    let blocks = if o.quick { 1 } else { 3 };
    let (mut alone, mut beside, mut handoffs) = (Vec::new(), Vec::new(), Vec::new());
    let (mut computed, mut skipped, mut shadow_ms, mut faults) = (0, 0, Vec::new(), 0);
    let mut running = true;
    for block in 0..blocks {
        let label = format!("block {block}, without a shadow:");
        alone.extend(phase(&mut live, &mut shadows, &mut now, rounds, &label).0);
        let (started, outcome) = tokio::sync::oneshot::channel();
        let replay = live.mirror().replay(now);
        shadows
            .add(
                AllocatorChoice::Module(Arc::clone(&binpack)),
                AllocatorSource {
                    allocator: "allocator-binpack".into(),
                    manifest: None,
                },
                replay,
                Some(started),
            )
            .map_err(anyhow::Error::msg)?;
        outcome
            .blocking_recv()
            .map_err(|_| anyhow::anyhow!("the shadow's thread ended"))?
            .map_err(anyhow::Error::msg)?;
        let label = format!("block {block}, beside a binpack shadow:");
        let (times, handed) = phase(&mut live, &mut shadows, &mut now, rounds, &label);
        beside.extend(times);
        handoffs.extend(handed);
        let report = reports(&board)
            .into_iter()
            .next()
            .ok_or_else(|| anyhow::anyhow!("the shadow is gone"))?;
        computed += report.rounds;
        skipped += report.rounds_skipped;
        faults += report.faults;
        shadow_ms.push(Duration::from_secs_f64(report.round_ms.mean / 1e3));
        running &= report.state == "running";
        // The next block starts once the shadow's thread is gone.
        if let Some(thread) = shadows.remove(&report.name) {
            let _ = thread.join();
        }
    }

    let mut rep = Report::new(
        NAME,
        json!({"agents": agents, "frameworks": frameworks, "rounds": rounds * blocks}),
        median(alone.clone()),
        median(beside.clone()),
    );
    rep.set("live_round_ms_without_shadow", json!(ms(median(alone))));
    rep.set("live_round_ms_with_shadow", json!(ms(median(beside))));
    rep.set("handoff_ms", json!(ms(median(handoffs))));
    rep.set("shadow_rounds_computed", json!(computed));
    rep.set("shadow_rounds_skipped", json!(skipped));
    rep.set("shadow_round_ms_mean", json!(ms(median(shadow_ms))));
    rep.set("shadow_faults", json!(faults));
    rep.consistent = faults == 0 && running;
    if agents == 10_000 && frameworks == 1_000 {
        let r = rep.ratio();
        rep.goal("live round with a shadow <= 1.05x without", r <= 1.05);
    }
    Ok(vec![rep])
}

/// `rounds` rounds: their times, and the parts spent handing over to the shadows.
fn phase(
    live: &mut AllocatorDriver,
    shadows: &mut Shadows,
    now: &mut u64,
    rounds: u32,
    label: &str,
) -> (Vec<Duration>, Vec<Duration>) {
    let (mut times, mut handoffs) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        *now += 1_000;
        let (t, handoff, offers) = round(live, shadows, *now);
        // The master's allocation loop at its busiest: the next round no sooner than four
        // times the last round's cost (its settle after events).
        std::thread::sleep(Duration::from_secs_f64(live.stats.last_ms * 4.0 / 1e3));
        progress(
            NAME,
            format!(
                "{label} round {r}: {offers} offers in {:.2} ms (handing over {:.2} ms)",
                ms(t),
                ms(handoff)
            ),
        );
        times.push(t);
        handoffs.push(handoff);
    }
    (times, handoffs)
}
