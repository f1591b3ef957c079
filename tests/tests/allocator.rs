#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The host is the authority over allocator output: invalid offers are module faults, and a
//! fresh instance gets the cluster back by replay. Each test runs the lying allocator at every
//! version of the allocator world the host serves (`LIARS`). Reserved slots
//! (`meseta:allocator@0.3.0`) go only to their role and its sub-roles; older versions are given
//! the unreserved slots alone.

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
                reserved_for: None,
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

/// The same lying policy as a version 3 (`meseta:allocator@0.3.0`, columns and reserved kinds),
/// a version 2 (`meseta:allocator@0.2.0`, columns) and a version 1 (`meseta:modules@0.1.0`, one
/// record per offer) module.
const LIARS: [&str; 3] = [
    "test-allocator-liar",
    "test-allocator-liar-v2",
    "test-allocator-liar-v1",
];

fn liar(module: &str, lie: &str) -> WasmAllocator {
    let mut a =
        WasmAllocator::new(load(module, &[("lie", lie)], Settings::default()).unwrap()).unwrap();
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
fn the_liars_export_every_version() {
    let versions: Vec<String> = LIARS
        .iter()
        .map(|m| liar(m, "honest").module().world.world_name())
        .collect();
    assert_eq!(
        versions,
        [
            "meseta:allocator/allocator@0.3.0",
            "meseta:allocator/allocator@0.2.0",
            "meseta:modules/allocator@0.1.0"
        ]
    );
}

#[test]
fn invalid_offers_are_faults() {
    for module in LIARS {
        for (lie, expect) in [
            ("oversized", "exceed its free resources"),
            ("unknown-framework", "unknown framework 9999"),
            ("double", "exceed its free resources"),
            ("negative", "invalid amounts"),
        ] {
            let mut a = liar(module, lie);
            let err = a.allocate(0).unwrap_err();
            match &err.cause {
                FaultCause::InvalidOutput(m) => {
                    assert!(m.contains(expect), "{module} {lie}: {m}")
                }
                other => panic!("{module} {lie}: expected invalid output, got {other:?}"),
            }
            assert_eq!(
                a.module().counters.snapshot().faults.invalid_output,
                1,
                "{module} {lie}"
            );
        }
    }
}

#[test]
fn an_offer_with_more_amounts_than_resource_kinds_is_a_fault_at_every_version() {
    // Version 1 sends the list as is and the host rejects it; the SDK of versions 2 and 3
    // cannot put it in the columns and traps, naming the agent.
    let mut v1 = liar("test-allocator-liar-v1", "wide");
    let err = v1.allocate(0).unwrap_err();
    assert!(
        matches!(&err.cause, FaultCause::InvalidOutput(m) if m.contains("at most 2 slots")),
        "{err}"
    );
    for module in ["test-allocator-liar", "test-allocator-liar-v2"] {
        let mut v2 = liar(module, "wide");
        let err = v2.allocate(0).unwrap_err();
        assert!(
            matches!(&err.cause, FaultCause::Trap(m) if m.contains("agent 3 has 3 amounts, more than the 2 resource kinds")),
            "{module}: {err}"
        );
        // All keep serving: the next round, on a fresh instance, makes the same (refused) offer.
        assert!(v2.allocate(1).is_err());
        assert_eq!(v2.module().counters.snapshot().instantiations, 2);
    }
}

#[test]
fn a_fresh_instance_gets_the_cluster_back_by_replay() {
    for module in LIARS {
        let mut a = liar(module, "oversized");
        a.allocate(0).unwrap_err();
        // The next call instantiates afresh; the liar only knows agent 3 if the host replayed it.
        let err = a.allocate(1).unwrap_err();
        assert!(
            err.to_string().contains("agent 3 (agent-3)"),
            "{module}: {err}"
        );
        assert_eq!(a.module().counters.snapshot().instantiations, 2);
        let mut honest = liar(module, "honest");
        let offers = honest.allocate(0).unwrap();
        assert_eq!(offers[0].resources, Quantities(vec![4.0, 1024.0]));
        assert!(honest.allocate(1).unwrap().is_empty(), "{module}");
        honest
            .recover_resources(7, 3, 0, Quantities(vec![1.0, 24.0]), None, 2)
            .unwrap();
        let offers = honest.allocate(3).unwrap();
        assert_eq!(offers[0].resources, Quantities(vec![1.0, 24.0]), "{module}");
    }
}

#[test]
fn after_a_fault_the_native_twin_answers_the_round_from_the_same_state() {
    for module in LIARS {
        after_a_fault(module);
    }
}

fn after_a_fault(module: &str) {
    let mut a = liar(module, "oversized");
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

#[test]
fn a_rejected_round_records_none_of_its_offers() {
    // `double` offers the whole agent twice: the first offer fits, the second does not. The
    // host must not keep the first; the native twin, replayed from the host's record, sees the
    // agent free.
    for module in LIARS {
        let mut a = liar(module, "double");
        let err = a.allocate(0).unwrap_err();
        assert!(
            err.to_string().contains("exceed its free resources"),
            "{module}: {err}"
        );
        let mut twin = <allocator_drf::DrfAllocator as meseta_types::Create>::create(&[]).unwrap();
        let offers = a.allocate_natively(&mut twin, 1);
        assert_eq!(offers.len(), 1, "{module}");
        assert_eq!(
            offers[0].resources,
            Quantities(vec![4.0, 1024.0]),
            "{module}"
        );
    }
}

// ----- reserved slots (`meseta:allocator@0.3.0`) -----

/// Role 1 `eng` and role 2 `eng/backend` named, a slot of cpus reserved for `eng` added, and
/// agent 3 given 2 of them: `cpus:4;mem:1024;cpus(eng):2`.
fn reserve(a: &mut WasmAllocator) {
    a.add_role(1, "eng").unwrap();
    a.add_role(2, "eng/backend").unwrap();
    a.add_resource_kinds(&[ResourceKind {
        name: "cpus".into(),
        revocable: false,
        reserved_for: Some(1),
    }])
    .unwrap();
    a.update_agent(3, Quantities(vec![4.0, 1024.0, 2.0]))
        .unwrap();
}

/// A framework (8) in `eng/backend`, beside framework 7 in `*`.
fn add_backend_framework(a: &mut WasmAllocator) {
    let info = FrameworkInfo {
        name: "backend".into(),
        roles: vec![2],
        capabilities: Capabilities::default(),
    };
    a.add_framework(8, info, &[], true, &[]).unwrap();
}

#[test]
fn an_offer_of_another_roles_reserved_slot_is_a_fault() {
    let mut a = liar("test-allocator-liar", "reserved-elsewhere");
    reserve(&mut a);
    let err = a.allocate(0).unwrap_err();
    assert!(
        matches!(&err.cause, FaultCause::InvalidOutput(m)
            if m.contains("in role '*'") && m.contains("reserved for role 'eng'")),
        "{err}"
    );
    // A fresh instance is told the added kinds by replay: it makes the same offer, of 3 slots.
    let err = a.allocate(1).unwrap_err();
    assert!(err.to_string().contains("reserved for role 'eng'"), "{err}");
    assert_eq!(a.module().counters.snapshot().instantiations, 2);
    // The native twin, replayed from the shadow, knows the kinds too and keeps the rule.
    let mut twin = <allocator_drf::DrfAllocator as meseta_types::Create>::create(&[]).unwrap();
    let offers = a.allocate_natively(&mut twin, 2);
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].resources, Quantities(vec![4.0, 1024.0, 0.0]));
}

#[test]
fn a_reserved_slot_may_go_to_a_sub_role_of_its_role() {
    let mut a = liar("test-allocator-liar", "honest");
    reserve(&mut a);
    a.remove_framework(7).unwrap();
    add_backend_framework(&mut a);
    let offers = a.allocate(0).unwrap();
    assert_eq!(offers.len(), 1);
    assert_eq!((offers[0].framework, offers[0].role), (8, 2));
    assert_eq!(offers[0].resources, Quantities(vec![4.0, 1024.0, 2.0]));
}

#[test]
fn older_versions_are_given_the_unreserved_slots_only() {
    for module in ["test-allocator-liar-v2", "test-allocator-liar-v1"] {
        let mut a = liar(module, "honest");
        reserve(&mut a);
        let offers = a.allocate(0).unwrap();
        assert_eq!(offers.len(), 1, "{module}");
        assert_eq!(
            offers[0].resources,
            Quantities(vec![4.0, 1024.0]),
            "{module}: the reserved cpus are not offered"
        );
        // what comes back at the full width reaches the module cut to its width
        a.recover_resources(7, 3, 0, Quantities(vec![1.0, 24.0, 0.0]), None, 1)
            .unwrap();
        let offers = a.allocate(2).unwrap();
        assert_eq!(offers[0].resources, Quantities(vec![1.0, 24.0]), "{module}");
        // and a fresh instance, after a fault, is replayed at its width too
        let mut oversized = liar(module, "oversized");
        reserve(&mut oversized);
        let err = oversized.allocate(0).unwrap_err();
        assert!(
            err.to_string().contains("offered [40.0, 10240.0]"),
            "{module}: {err}"
        );
        assert!(oversized.allocate(1).is_err());
    }
}

#[test]
fn the_drf_module_offers_reserved_slots_to_their_role_and_its_sub_roles_only() {
    let mut a =
        WasmAllocator::new(load("allocator-drf", &[], Settings::default()).unwrap()).unwrap();
    assert_eq!(a.version(), 3);
    cluster(&mut a);
    reserve(&mut a);
    let offers = a.allocate(0).unwrap();
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].framework, 7);
    assert_eq!(offers[0].resources, Quantities(vec![4.0, 1024.0, 0.0]));
    add_backend_framework(&mut a);
    let offers = a.allocate(1).unwrap();
    assert_eq!(offers.len(), 1);
    assert_eq!((offers[0].framework, offers[0].role), (8, 2));
    assert_eq!(offers[0].resources, Quantities(vec![0.0, 0.0, 2.0]));
}
