//! The allocator alone, at Mesos' benchmark shapes: `DeclineOffers`, `LargeAndSmallQuota` and
//! `SuppressOffers`. The native `DrfAllocator` and the `allocator-drf` module (through
//! `WasmAllocator`, with its shadow state and offer checks) get the same events, and their
//! rounds alternate so both see the same machine conditions. Both seed their agent shuffle from
//! `now_ms`, so they must make exactly the same offers: the consistency check.

use std::time::Duration;

use allocator_drf::DrfAllocator;
use meseta_allocator::WasmAllocator;
use meseta_types::Quantities;
use meseta_types::allocation::{
    AgentInfo, AgentUsage, AllocatorPolicy, Capabilities, FrameworkInfo, Offer, Options,
    ResourceKind, Sorter,
};
use serde_json::json;

use crate::{BenchOptions, Report, median, ms, progress, timed};

/// The events the scenarios send, to either allocator.
pub(crate) trait Alloc {
    fn initialize(&mut self, o: Options) -> anyhow::Result<()>;
    fn add_role(&mut self, role: u32, name: &str) -> anyhow::Result<()>;
    fn update_quota(&mut self, role: u32, q: Quantities) -> anyhow::Result<()>;
    fn add_framework(&mut self, f: u32, info: FrameworkInfo) -> anyhow::Result<()>;
    fn add_agent(
        &mut self,
        a: u32,
        info: AgentInfo,
        total: Quantities,
        used: &[AgentUsage],
    ) -> anyhow::Result<()>;
    fn recover(&mut self, o: &Offer, refuse: Option<f64>, now: u64) -> anyhow::Result<()>;
    fn suppress(&mut self, f: u32) -> anyhow::Result<()>;
    fn allocate(&mut self, now: u64) -> anyhow::Result<Vec<Offer>>;
}

impl Alloc for DrfAllocator {
    fn initialize(&mut self, o: Options) -> anyhow::Result<()> {
        AllocatorPolicy::initialize(self, o);
        Ok(())
    }
    fn add_role(&mut self, role: u32, name: &str) -> anyhow::Result<()> {
        AllocatorPolicy::add_role(self, role, name);
        Ok(())
    }
    fn update_quota(&mut self, role: u32, q: Quantities) -> anyhow::Result<()> {
        AllocatorPolicy::update_quota(self, role, q.clone(), q);
        Ok(())
    }
    fn add_framework(&mut self, f: u32, info: FrameworkInfo) -> anyhow::Result<()> {
        AllocatorPolicy::add_framework(self, f, info, &[], true, &[]);
        Ok(())
    }
    fn add_agent(
        &mut self,
        a: u32,
        info: AgentInfo,
        total: Quantities,
        used: &[AgentUsage],
    ) -> anyhow::Result<()> {
        AllocatorPolicy::add_agent(self, a, info, total, used);
        Ok(())
    }
    fn recover(&mut self, o: &Offer, refuse: Option<f64>, now: u64) -> anyhow::Result<()> {
        self.recover_resources(
            o.framework,
            o.agent,
            o.role,
            o.resources.clone(),
            refuse,
            now,
        );
        Ok(())
    }
    fn suppress(&mut self, f: u32) -> anyhow::Result<()> {
        AllocatorPolicy::suppress(self, f, &[]);
        Ok(())
    }
    fn allocate(&mut self, now: u64) -> anyhow::Result<Vec<Offer>> {
        Ok(AllocatorPolicy::allocate(self, now))
    }
}

impl Alloc for WasmAllocator {
    fn initialize(&mut self, o: Options) -> anyhow::Result<()> {
        Ok(WasmAllocator::initialize(self, o)?)
    }
    fn add_role(&mut self, role: u32, name: &str) -> anyhow::Result<()> {
        Ok(WasmAllocator::add_role(self, role, name)?)
    }
    fn update_quota(&mut self, role: u32, q: Quantities) -> anyhow::Result<()> {
        Ok(WasmAllocator::update_quota(self, role, q.clone(), q)?)
    }
    fn add_framework(&mut self, f: u32, info: FrameworkInfo) -> anyhow::Result<()> {
        Ok(WasmAllocator::add_framework(self, f, info, &[], true, &[])?)
    }
    fn add_agent(
        &mut self,
        a: u32,
        info: AgentInfo,
        total: Quantities,
        used: &[AgentUsage],
    ) -> anyhow::Result<()> {
        Ok(WasmAllocator::add_agent(self, a, info, total, used)?)
    }
    fn recover(&mut self, o: &Offer, refuse: Option<f64>, now: u64) -> anyhow::Result<()> {
        Ok(self.recover_resources(
            o.framework,
            o.agent,
            o.role,
            o.resources.clone(),
            refuse,
            now,
        )?)
    }
    fn suppress(&mut self, f: u32) -> anyhow::Result<()> {
        Ok(WasmAllocator::suppress(self, f, &[])?)
    }
    fn allocate(&mut self, now: u64) -> anyhow::Result<Vec<Offer>> {
        Ok(WasmAllocator::allocate(self, now)?)
    }
}

pub(crate) fn options(kinds: &[&str], min_allocatable: Vec<Quantities>) -> Options {
    Options {
        resource_kinds: kinds
            .iter()
            .map(|n| ResourceKind {
                name: n.to_string(),
                revocable: false,
                reserved_for: None,
            })
            .collect(),
        allocation_interval_ms: 1000,
        min_allocatable,
        fairness_excluded: vec![],
        sorter: Sorter::Drf,
    }
}

/// Mesos' default `--min_allocatable_resources`, `cpus:0.01|mem:32`, over `slots` slots.
pub(crate) fn mesos_min_allocatable(slots: usize) -> Vec<Quantities> {
    let mut cpus = vec![0.0; slots];
    cpus[0] = 0.01;
    let mut mem = vec![0.0; slots];
    mem[1] = 32.0;
    vec![Quantities(cpus), Quantities(mem)]
}

pub(crate) fn framework(f: u32, role: u32) -> FrameworkInfo {
    FrameworkInfo {
        name: format!("framework-{f}"),
        roles: vec![role],
        capabilities: Capabilities::default(),
    }
}

pub(crate) fn agent(a: u32) -> AgentInfo {
    AgentInfo {
        hostname: format!("agent-{a}"),
        attributes: vec![],
    }
}

/// The offers of a round in a canonical order, for comparing native and Wasm.
fn canonical(offers: &[Offer]) -> Vec<(u32, u32, u32, Vec<u64>)> {
    let mut v: Vec<_> = offers
        .iter()
        .map(|o| {
            (
                o.agent,
                o.framework,
                o.role,
                o.resources.0.iter().map(|x| x.to_bits()).collect(),
            )
        })
        .collect();
    v.sort();
    v
}

fn wasm_allocator() -> anyhow::Result<WasmAllocator> {
    let module = crate::load_builtin("allocator-drf", &[])?;
    Ok(WasmAllocator::new(module)?)
}

/// Builds the same cluster in both allocators.
fn both(
    mut build: impl FnMut(&mut dyn Alloc) -> anyhow::Result<()>,
) -> anyhow::Result<(DrfAllocator, WasmAllocator, Duration, Duration)> {
    let mut native = DrfAllocator::new();
    let (r, native_setup) = timed(|| build(&mut native));
    r?;
    let mut wasm = wasm_allocator()?;
    let (r, wasm_setup) = timed(|| build(&mut wasm));
    r?;
    Ok((native, wasm, native_setup, wasm_setup))
}

/// Mesos' benchmark cluster: one role `*`, `frameworks` frameworks, and `agents` agents of
/// `cpus:24;mem:4096;disk:4096;ports:[31000-32000]`, agent `i` partly used (`used`: cpus, mem,
/// disk, ports) by framework `i % frameworks`.
pub(crate) fn mesos_agents(
    a: &mut dyn Alloc,
    agents: u32,
    frameworks: u32,
    used: [f64; 4],
) -> anyhow::Result<()> {
    a.initialize(options(
        &["cpus", "mem", "disk", "ports"],
        mesos_min_allocatable(4),
    ))?;
    a.add_role(0, "*")?;
    for f in 0..frameworks {
        a.add_framework(f, framework(f, 0))?;
    }
    for id in 0..agents {
        let used = AgentUsage {
            framework: id % frameworks,
            role: 0,
            resources: Quantities(used.to_vec()),
        };
        a.add_agent(
            id,
            agent(id),
            Quantities(vec![24.0, 4096.0, 4096.0, 1001.0]),
            &[used],
        )?;
    }
    Ok(())
}

/// One round on each allocator: (native offers, native time, Wasm offers, Wasm time).
type Round = (Vec<Offer>, Duration, Vec<Offer>, Duration);

fn round(native: &mut DrfAllocator, wasm: &mut WasmAllocator, now: u64) -> anyhow::Result<Round> {
    let (n, nt) = timed(|| Alloc::allocate(native, now));
    let (w, wt) = timed(|| Alloc::allocate(wasm, now));
    Ok((n?, nt, w?, wt))
}

/// (agents, frameworks, Mesos' figure in ms and its source).
type GridPoint = (u32, u32, Option<(f64, &'static str)>);

/// `DeclineOffers` grid: Mesos 1.8's per-round time (blog chart / commit 6ef0df93f).
const DECLINE_GRID: &[(u32, u32, f64, &str)] = &[
    (
        1_000,
        100,
        200.0,
        "Mesos 1.8.0 blog chart: <=0.2 s (upper bound)",
    ),
    (5_000, 500, 400.0, "Mesos 1.8.0 blog chart: ~0.4 s"),
    (
        10_000,
        1_000,
        1_060.0,
        "commit 6ef0df93f: DeclineOffers/21 1.06 s",
    ),
    (20_000, 2_000, 3_800.0, "Mesos 1.8.0 blog chart: ~3.8 s"),
];

/// Mesos' `DeclineOffers`: agents `cpus:24;mem:4096;disk:4096;ports:[31000-32000]`, each with
/// `cpus:16;mem:2014;disk:1024` and 16 ports used by a round-robin framework; every offer is
/// declined for ever. Times `allocate` per round (the declines are timed apart).
pub fn decline(o: &BenchOptions) -> anyhow::Result<Vec<Report>> {
    let grid: Vec<GridPoint> = match (o.agents, o.frameworks) {
        (None, None) if o.quick => vec![(200, 20, None)],
        (None, None) => DECLINE_GRID
            .iter()
            .map(|(a, f, m, s)| (*a, *f, Some((*m, *s))))
            .collect(),
        (a, f) => {
            let a = a.unwrap_or(10_000);
            let f = f.unwrap_or((a / 10).max(1));
            let anchor = DECLINE_GRID
                .iter()
                .find(|g| g.0 == a && g.1 == f)
                .map(|g| (g.2, g.3));
            vec![(a, f, anchor)]
        }
    };
    let rounds = o.rounds.unwrap_or(if o.quick { 3 } else { 5 }).max(1);
    let mut out = Vec::new();
    for (agents, frameworks, anchor) in grid {
        let name = "allocator-decline";
        progress(
            name,
            format!("{agents} agents x {frameworks} frameworks: building both allocators"),
        );
        let (mut native, mut wasm, ns, ws) =
            both(|a| mesos_agents(a, agents, frameworks, [16.0, 2014.0, 1024.0, 16.0]))?;
        let (mut nt, mut wt, mut nd, mut wd) = (vec![], vec![], vec![], vec![]);
        let (mut call, mut admit) = (vec![], vec![]);
        let mut consistent = true;
        let mut offers_per_round = Vec::new();
        for r in 0..rounds {
            let now = 1_000 * (u64::from(r) + 1);
            let (n, ntime, w, wtime) = round(&mut native, &mut wasm, now)?;
            if canonical(&n) != canonical(&w) {
                consistent = false;
                progress(
                    name,
                    format!(
                        "round {r}: native made {} offers, Wasm {} — they differ",
                        n.len(),
                        w.len()
                    ),
                );
            }
            let parts = wasm.last_round();
            if let Some(p) = parts {
                call.push(p.call);
                admit.push(p.admit);
            }
            progress(
                name,
                format!(
                    "round {r}: {} offers; native {:.2} ms, Wasm {:.2} ms{}",
                    n.len(),
                    ms(ntime),
                    ms(wtime),
                    parts.map_or(String::new(), |p| format!(
                        " (module call {:.2} ms, host check and record {:.2} ms)",
                        ms(p.call),
                        ms(p.admit)
                    ))
                ),
            );
            offers_per_round.push(n.len());
            nt.push(ntime);
            wt.push(wtime);
            // Decline every offer for ever (Mesos: refuse_seconds = INT_MAX; capped at a year).
            let (r, d) = timed(|| {
                n.iter()
                    .try_for_each(|of| Alloc::recover(&mut native, of, Some(1e12), now))
            });
            r?;
            nd.push(d);
            let (r, d) = timed(|| {
                w.iter()
                    .try_for_each(|of| Alloc::recover(&mut wasm, of, Some(1e12), now))
            });
            r?;
            wd.push(d);
        }
        let mut rep = Report::new(
            name,
            json!({"agents": agents, "frameworks": frameworks, "rounds": rounds}),
            median(nt.clone()),
            median(wt.clone()),
        );
        if let Some((m, s)) = anchor {
            rep = rep.with_anchor(m, s);
        }
        rep.consistent = consistent;
        rep.set("offers_per_round", json!(offers_per_round));
        rep.set("native_round0_ms", json!(ms(nt[0])));
        rep.set("wasm_round0_ms", json!(ms(wt[0])));
        rep.set("native_decline_ms", json!(ms(median(nd))));
        rep.set("wasm_decline_ms", json!(ms(median(wd))));
        if !call.is_empty() {
            rep.set("wasm_call_ms", json!(ms(median(call))));
            rep.set("wasm_admit_ms", json!(ms(median(admit))));
        }
        rep.set("native_setup_ms", json!(ms(ns)));
        rep.set("wasm_setup_ms", json!(ms(ws)));
        if agents == 10_000 && frameworks == 1_000 {
            let (w, r) = (rep.wasm_ms, rep.ratio());
            rep.goal("Wasm <= 100 ms per round", w <= 100.0);
            rep.goal("Wasm/native <= 1.5", r <= 1.5);
        }
        out.push(rep);
    }
    Ok(out)
}

/// Mesos' `LargeAndSmallQuota/2`: 3,000 agents `cpus:2;mem:2048;disk:2048`, 3,000 roles with one
/// framework each: 2,500 with a small quota `cpus:1;mem:1024;disk:1024` (which chops agents) and
/// 500 with a large one `cpus:4;mem:4096;disk:4096`. Times the first cycle (which satisfies
/// every quota) and the second (nothing left to offer within the limits). Each quota is a
/// guarantee and an equal limit, as in Mesos' benchmark: the first cycle serves the roles short
/// of their guarantee first, and the required headroom is held back from everyone else.
pub fn quota(o: &BenchOptions) -> anyhow::Result<Vec<Report>> {
    let name = "allocator-quota";
    let agents = o.agents.unwrap_or(if o.quick { 300 } else { 3_000 });
    let roles = o.frameworks.unwrap_or(agents);
    let small = roles * 5 / 6;
    progress(
        name,
        format!(
            "{agents} agents x {roles} roles x {roles} frameworks ({small} small quotas, {} large)",
            roles - small
        ),
    );
    let (mut native, mut wasm, ns, ws) = both(|a| {
        a.initialize(options(&["cpus", "mem", "disk"], mesos_min_allocatable(3)))?;
        for r in 0..roles {
            let (kind, q) = if r < small {
                ("small", vec![1.0, 1024.0, 1024.0])
            } else {
                ("large", vec![4.0, 4096.0, 4096.0])
            };
            a.add_role(r, &format!("quota-{kind}-{r}"))?;
            a.update_quota(r, Quantities(q))?;
        }
        for f in 0..roles {
            a.add_framework(f, framework(f, f))?;
        }
        for id in 0..agents {
            a.add_agent(id, agent(id), Quantities(vec![2.0, 2048.0, 2048.0]), &[])?;
        }
        Ok(())
    })?;
    let (n1, nt1, w1, wt1) = round(&mut native, &mut wasm, 1_000)?;
    progress(
        name,
        format!(
            "first cycle: {} allocations; native {:.2} ms, Wasm {:.2} ms",
            n1.len(),
            ms(nt1),
            ms(wt1)
        ),
    );
    let (n2, nt2, w2, wt2) = round(&mut native, &mut wasm, 2_000)?;
    progress(
        name,
        format!(
            "second cycle: {} allocations; native {:.2} ms, Wasm {:.2} ms",
            n2.len(),
            ms(nt2),
            ms(wt2)
        ),
    );
    let mut rep = Report::new(
        name,
        json!({"agents": agents, "roles": roles, "frameworks": roles}),
        nt1,
        wt1,
    );
    if agents == 3_000 && roles == 3_000 {
        rep = rep.with_anchor(
            15_400.0,
            "commit 73033130d: LargeAndSmallQuota/2 made 3500 allocations in 15.39 s",
        );
    }
    rep.consistent = canonical(&n1) == canonical(&w1) && canonical(&n2) == canonical(&w2);
    rep.set("first_cycle_allocations", n1.len());
    rep.set("second_cycle_allocations", n2.len());
    rep.set("native_second_cycle_ms", ms(nt2));
    rep.set("wasm_second_cycle_ms", ms(wt2));
    rep.set("mesos_second_cycle_ms", 13_700.0);
    rep.set("native_setup_ms", ms(ns));
    rep.set("wasm_setup_ms", ms(ws));
    if agents == 3_000 && roles == 3_000 {
        let w = rep.wasm_ms;
        rep.goal("Wasm first cycle <= 500 ms", w <= 500.0);
    }
    Ok(vec![rep])
}

/// Mesos' `SuppressOffers`: agents `cpus:24;mem:4096;disk:4096;ports:[31000-32000]` with
/// `cpus:16;mem:1024;disk:1024` used; five rounds, before each another fifth of the frameworks
/// suppresses offers (0%, 20%, ... 80%); offers are recovered with no filter between rounds.
pub fn suppress(o: &BenchOptions) -> anyhow::Result<Vec<Report>> {
    let name = "allocator-suppress";
    let agents = o.agents.unwrap_or(if o.quick { 200 } else { 10_000 });
    let frameworks = o.frameworks.unwrap_or((agents / 10).max(1));
    let rounds = o.rounds.unwrap_or(5).max(1);
    progress(
        name,
        format!("{agents} agents x {frameworks} frameworks, {rounds} rounds"),
    );
    let (mut native, mut wasm, _, _) =
        both(|a| mesos_agents(a, agents, frameworks, [16.0, 1024.0, 1024.0, 0.0]))?;
    let batch = frameworks / rounds;
    let mut suppressed = 0;
    let (mut nt, mut wt) = (vec![], vec![]);
    let mut consistent = true;
    let mut per_round = Vec::new();
    for r in 0..rounds {
        let now = 1_000 * (u64::from(r) + 1);
        let (n, ntime, w, wtime) = round(&mut native, &mut wasm, now)?;
        consistent &= canonical(&n) == canonical(&w);
        progress(
            name,
            format!(
                "round {r}: {} offers with {suppressed} of {frameworks} frameworks suppressing; \
                 native {:.2} ms, Wasm {:.2} ms",
                n.len(),
                ms(ntime),
                ms(wtime)
            ),
        );
        per_round.push(json!({"suppressed": suppressed, "offers": n.len(),
            "native_ms": ms(ntime), "wasm_ms": ms(wtime)}));
        nt.push(ntime);
        wt.push(wtime);
        for of in &n {
            Alloc::recover(&mut native, of, None, now)?;
        }
        for of in &w {
            Alloc::recover(&mut wasm, of, None, now)?;
        }
        for f in suppressed..(suppressed + batch).min(frameworks) {
            Alloc::suppress(&mut native, f)?;
            Alloc::suppress(&mut wasm, f)?;
        }
        suppressed = (suppressed + batch).min(frameworks);
    }
    let mut rep = Report::new(
        name,
        json!({"agents": agents, "frameworks": frameworks, "rounds": rounds}),
        median(nt),
        median(wt),
    );
    rep.consistent = consistent;
    rep.set("rounds_detail", per_round);
    rep.set(
        "anchor_note",
        "Mesos publishes no figure for SuppressOffers",
    );
    Ok(vec![rep])
}
