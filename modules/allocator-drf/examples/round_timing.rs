//! Native time of one allocation round of `DrfAllocator` on a large cluster.
//!
//!     cargo run --release -p allocator-drf --example round_timing [agents] [frameworks]
//!
//! Defaults to 10,000 agents (`cpus:24;mem:4096;disk:4096;ports:1001`) and 1,000 frameworks,
//! min allocatable `cpus:0.01|mem:32`, for each sorter, with every framework in one role and
//! with one role per framework. Per case it prints:
//!
//! * round 0: the first `allocate` (includes building the sorters);
//! * steady: `allocate` after every offer was recovered with no filter (median of 5), and the
//!   time of those `recover_resources` calls;
//! * declined: `allocate` after every offer was declined with a long filter, as in Mesos'
//!   `DeclineOffers` benchmark (median of 5; filters accumulate round after round).

use std::time::{Duration, Instant};

use allocator_drf::DrfAllocator;
use meseta_types::Quantities;
use meseta_types::allocation::{
    AgentInfo, AllocatorPolicy, Capabilities, FrameworkInfo, Offer, Options, ResourceKind, Sorter,
};

fn options(sorter: Sorter) -> Options {
    Options {
        resource_kinds: ["cpus", "mem", "disk", "ports"]
            .iter()
            .map(|n| ResourceKind {
                name: n.to_string(),
                revocable: false,
                reserved_for: None,
            })
            .collect(),
        allocation_interval_ms: 1000,
        min_allocatable: vec![
            Quantities(vec![0.01, 0.0, 0.0, 0.0]),
            Quantities(vec![0.0, 32.0, 0.0, 0.0]),
        ],
        fairness_excluded: vec![],
        sorter,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn recover(a: &mut DrfAllocator, offers: &[Offer], refuse: Option<f64>, now: u64) -> Duration {
    let start = Instant::now();
    for o in offers {
        a.recover_resources(
            o.framework,
            o.agent,
            o.role,
            o.resources.clone(),
            refuse,
            now,
        );
    }
    start.elapsed()
}

fn case(agents: u32, frameworks: u32, sorter: Sorter, role_per_framework: bool) {
    let mut a = DrfAllocator::new();
    a.initialize(options(sorter));
    let roles = if role_per_framework { frameworks } else { 1 };
    for r in 0..roles {
        a.add_role(r, &format!("role-{r}"));
    }
    for f in 0..frameworks {
        let role = if role_per_framework { f } else { 0 };
        a.add_framework(
            f,
            FrameworkInfo {
                name: format!("framework-{f}"),
                roles: vec![role],
                capabilities: Capabilities::default(),
            },
            &[],
            true,
            &[],
        );
    }
    let start = Instant::now();
    for id in 0..agents {
        a.add_agent(
            id,
            AgentInfo {
                hostname: format!("agent-{id}"),
                attributes: vec![],
            },
            Quantities(vec![24.0, 4096.0, 4096.0, 1001.0]),
            &[],
        );
    }
    let added = start.elapsed();

    let mut now = 0;
    let start = Instant::now();
    let mut offers = a.allocate(now);
    let round0 = start.elapsed();
    let n0 = offers.len();

    let mut steady = Vec::new();
    let mut recovering = Vec::new();
    for _ in 0..5 {
        now += 1000;
        recovering.push(recover(&mut a, &offers, None, now));
        let start = Instant::now();
        offers = a.allocate(now);
        steady.push(start.elapsed());
    }
    let n_steady = offers.len();

    let mut declined = Vec::new();
    let mut n_declined = 0;
    for _ in 0..5 {
        now += 1000;
        recover(&mut a, &offers, Some(1e9), now);
        let start = Instant::now();
        offers = a.allocate(now);
        declined.push(start.elapsed());
        n_declined = offers.len();
    }

    let shape = if role_per_framework {
        "one role per framework"
    } else {
        "all in one role"
    };
    println!(
        "{agents} agents x {frameworks} frameworks, {shape}, {sorter:?}: added agents in {}; \
         round 0 {} ({n0} offers); steady allocate {} ({n_steady} offers), recover {}; \
         declined allocate {} (last round {n_declined} offers)",
        ms(added),
        ms(round0),
        ms(median(steady)),
        ms(median(recovering)),
        ms(median(declined)),
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let agents = args.next().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let frameworks = args.next().and_then(|s| s.parse().ok()).unwrap_or(1_000);
    for sorter in [Sorter::Drf, Sorter::Random] {
        for role_per_framework in [false, true] {
            case(agents, frameworks, sorter, role_per_framework);
        }
    }
}
