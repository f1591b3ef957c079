#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The host is the authority over allocator output: invalid offers are module faults, and a
//! fresh instance gets the cluster back by replay.

use meseta_allocator::WasmAllocator;
use meseta_runtime::{FaultCause, Settings};
use meseta_tests::load;
use meseta_types::Quantities;
use meseta_types::allocation::{
    AgentInfo, Capabilities, FrameworkInfo, Options, ResourceKind, Sorter,
};

fn options() -> Options {
    Options {
        resource_kinds: ["cpus", "mem"]
            .iter()
            .map(|n| ResourceKind {
                name: n.to_string(),
                revocable: false,
            })
            .collect(),
        allocation_interval_ms: 1000,
        min_allocatable: vec![],
        fairness_excluded: vec![],
        sorter: Sorter::Drf,
    }
}

fn cluster(a: &mut WasmAllocator) {
    a.initialize(options()).unwrap();
    a.add_role(0, "*").unwrap();
    a.add_framework(
        7,
        FrameworkInfo {
            name: "fw".into(),
            roles: vec![0],
            capabilities: Capabilities::default(),
        },
        &[],
        true,
        &[],
    )
    .unwrap();
    a.add_agent(
        3,
        AgentInfo {
            hostname: "agent-3".into(),
            attributes: vec![],
        },
        Quantities(vec![4.0, 1024.0]),
        &[],
    )
    .unwrap();
}

fn liar(lie: &str) -> WasmAllocator {
    let mut a = WasmAllocator::new(
        load("test-allocator-liar", &[("lie", lie)], Settings::default()).unwrap(),
    )
    .unwrap();
    cluster(&mut a);
    a
}

#[test]
fn the_drf_module_offers_the_agent_to_the_framework_once() {
    let mut a =
        WasmAllocator::new(load("allocator-drf", &[], Settings::default()).unwrap()).unwrap();
    cluster(&mut a);
    let offers = a.allocate(0).unwrap();
    assert_eq!(offers.len(), 1);
    assert_eq!(
        (offers[0].framework, offers[0].agent, offers[0].role),
        (7, 3, 0)
    );
    assert_eq!(offers[0].resources, Quantities(vec![4.0, 1024.0]));
    assert!(
        a.allocate(1).unwrap().is_empty(),
        "offered resources are not free"
    );
    a.recover_resources(7, 3, 0, Quantities(vec![4.0, 1024.0]), None, 2)
        .unwrap();
    assert_eq!(a.allocate(3).unwrap().len(), 1);
}

#[test]
fn invalid_offers_are_faults() {
    for (lie, expect) in [
        ("oversized", "exceed its free resources"),
        ("unknown-framework", "unknown framework 9999"),
        ("double", "exceed its free resources"),
        ("negative", "invalid amounts"),
    ] {
        let mut a = liar(lie);
        let err = a.allocate(0).unwrap_err();
        match &err.cause {
            FaultCause::InvalidOutput(m) => assert!(m.contains(expect), "{lie}: {m}"),
            other => panic!("{lie}: expected invalid output, got {other:?}"),
        }
        assert_eq!(
            a.module().counters.snapshot().faults.invalid_output,
            1,
            "{lie}"
        );
    }
}

#[test]
fn a_fresh_instance_gets_the_cluster_back_by_replay() {
    let mut a = liar("oversized");
    a.allocate(0).unwrap_err();
    // The next call instantiates afresh; the liar only knows agent 3 if the host replayed it.
    let err = a.allocate(1).unwrap_err();
    assert!(err.to_string().contains("agent 3 (agent-3)"), "{err}");
    assert_eq!(a.module().counters.snapshot().instantiations, 2);
    let mut honest = liar("honest");
    let offers = honest.allocate(0).unwrap();
    assert_eq!(offers[0].resources, Quantities(vec![4.0, 1024.0]));
}

#[test]
fn after_a_fault_the_native_twin_answers_the_round_from_the_same_state() {
    let mut a = liar("oversized");
    let fault = a.allocate(0).unwrap_err();
    assert!(matches!(fault.cause, FaultCause::InvalidOutput(_)));
    let mut twin = <allocator_drf::DrfAllocator as meseta_types::Create>::create(&[]).unwrap();
    let offers = a.allocate_natively(&mut twin, 0);
    assert_eq!(offers.len(), 1);
    assert_eq!((offers[0].framework, offers[0].agent), (7, 3));
    assert_eq!(offers[0].resources, Quantities(vec![4.0, 1024.0]));
    let counters = a.module().counters.snapshot();
    assert_eq!((counters.faults.invalid_output, counters.fallbacks), (1, 1));
    // The fallback's offer is recorded: the module, back on a fresh instance, may not re-offer it.
    let err = a.allocate(1).unwrap_err();
    assert!(
        err.to_string().contains("exceed its free resources"),
        "{err}"
    );
}
