//! Native time of one allocation round of `BinpackAllocator` on a large cluster.
//!
//!     cargo run --release -p allocator-binpack --example binpack_round_timing [agents] [frameworks]
//!
//! Defaults to 10,000 agents (`cpus:24;mem:4096;disk:4096;ports:1001`) and 1,000 frameworks in
//! one role, min allocatable `cpus:0.01|mem:32`. Prints the median `allocate` time of 5 rounds
//! where every offer is recovered with no filter in between (each framework is offered the same
//! fullest agent again), and of 5 rounds where the frameworks keep what they are offered (each
//! round packs 1,000 more agents).

use std::time::{Duration, Instant};

use allocator_binpack::BinpackAllocator;
use meseta_types::Quantities;
use meseta_types::allocation::{
    AgentInfo, AllocatorPolicy, Capabilities, FrameworkInfo, Options, ResourceKind, Sorter,
};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let agents: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let frameworks: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1_000);
    let mut a = BinpackAllocator::new();
    a.initialize(Options {
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
        sorter: Sorter::Drf,
    });
    a.add_role(0, "*");
    for f in 0..frameworks {
        a.add_framework(
            f,
            FrameworkInfo {
                name: format!("framework-{f}"),
                roles: vec![0],
                capabilities: Capabilities::default(),
            },
            &[],
            true,
            &[],
        );
    }
    for id in 0..agents {
        a.add_agent(
            id,
            AgentInfo::default(),
            Quantities(vec![24.0, 4096.0, 4096.0, 1001.0]),
            &[],
        );
    }
    let mut now = 0;
    let mut steady = Vec::new();
    let mut offers = a.allocate(now);
    for _ in 0..5 {
        now += 1000;
        for o in &offers {
            a.recover_resources(o.framework, o.agent, o.role, o.resources.clone(), None, now);
        }
        let start = Instant::now();
        offers = a.allocate(now);
        steady.push(start.elapsed());
    }
    let mut packing = Vec::new();
    let mut n = 0;
    for _ in 0..5 {
        now += 1000;
        let start = Instant::now();
        n = a.allocate(now).len();
        packing.push(start.elapsed());
    }
    println!(
        "binpack {agents} agents x {frameworks} frameworks, one role: allocate after recover {} \
         ({} offers); allocate while packing {} ({n} offers)",
        ms(median(steady)),
        offers.len(),
        ms(median(packing)),
    );
}
