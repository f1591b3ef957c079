use super::*;
use meseta_types::allocation::{
    AgentInfo, AgentUsage, Capabilities, FrameworkInfo, Options, ResourceKind,
};

const CPUS: usize = 0;
const ROLE: RoleId = 1;
const OTHER: FrameworkId = 99;

fn options(sorter: Sorter) -> Options {
    let kind = |name: &str, revocable| ResourceKind {
        name: name.into(),
        revocable,
        reserved_for: None,
    };
    Options {
        resource_kinds: vec![kind("cpus", false), kind("mem", false), kind("cpus", true)],
        allocation_interval_ms: 1000,
        // Mesos' default: cpus:0.01|mem:32
        min_allocatable: vec![q(0.01, 0.0), q(0.0, 32.0)],
        fairness_excluded: vec![],
        sorter,
    }
}

fn q(cpus: f64, mem: f64) -> Quantities {
    Quantities(vec![cpus, mem, 0.0])
}

fn q_rev(cpus: f64, mem: f64, rev: f64) -> Quantities {
    Quantities(vec![cpus, mem, rev])
}

fn framework(roles: &[RoleId], capabilities: u8) -> FrameworkInfo {
    FrameworkInfo {
        name: "fw".into(),
        roles: roles.to_vec(),
        capabilities: Capabilities(capabilities),
    }
}

fn allocator_with(sorter: Sorter) -> BinpackAllocator {
    let mut a = BinpackAllocator::create(&[]).unwrap();
    a.initialize(options(sorter));
    a.add_role(ROLE, "*");
    a
}

fn allocator() -> BinpackAllocator {
    allocator_with(Sorter::Drf)
}

fn add_framework(a: &mut BinpackAllocator, id: FrameworkId) {
    a.add_framework(id, framework(&[ROLE], 0), &[], true, &[]);
}

/// Agent 1 is empty and large, agent 2 is partly used by another framework, agent 3 is empty
/// and small.
fn three_agents(a: &mut BinpackAllocator) {
    a.add_framework(OTHER, framework(&[ROLE], 0), &[], false, &[]);
    a.add_agent(1, AgentInfo::default(), q(8.0, 2048.0), &[]);
    a.add_agent(
        2,
        AgentInfo::default(),
        q(4.0, 1024.0),
        &[AgentUsage {
            framework: OTHER,
            role: ROLE,
            resources: q(2.0, 512.0),
        }],
    );
    a.add_agent(3, AgentInfo::default(), q(4.0, 1024.0), &[]);
}

fn agents(offers: &[Offer]) -> Vec<AgentId> {
    offers.iter().map(|o| o.agent).collect()
}

#[test]
fn rejects_parameters() {
    assert!(
        BinpackAllocator::create(&[("x".into(), "1".into())])
            .unwrap_err()
            .contains("'x'")
    );
}

#[test]
fn the_fullest_agent_that_fits_is_offered_first() {
    let mut a = allocator();
    three_agents(&mut a);
    add_framework(&mut a, 1);
    let offers = a.allocate(0);
    assert_eq!(
        offers,
        vec![Offer {
            framework: 1,
            role: ROLE,
            agent: 2,
            resources: q(2.0, 512.0)
        }],
        "one offer per framework per round: the partly used agent"
    );
    // the framework launches on it (never recovers): the next fullest is the small empty agent
    assert_eq!(agents(&a.allocate(1_000)), vec![3]);
    assert_eq!(agents(&a.allocate(2_000)), vec![1]);
    assert!(a.allocate(3_000).is_empty(), "everything is used");
}

#[test]
fn a_partly_launched_agent_stays_the_fullest() {
    let mut a = allocator();
    three_agents(&mut a);
    add_framework(&mut a, 1);
    assert_eq!(agents(&a.allocate(0)), vec![2]);
    // launched on part of it and gave the rest back: still the fullest agent
    a.recover_resources(1, 2, ROLE, q(1.0, 256.0), None, 0);
    let offers = a.allocate(1_000);
    assert_eq!(agents(&offers), vec![2]);
    assert_eq!(offers[0].resources, q(1.0, 256.0));
}

#[test]
fn agents_below_min_allocatable_are_passed_over() {
    let mut a = allocator();
    add_framework(&mut a, 1);
    a.add_agent(1, AgentInfo::default(), q(0.005, 16.0), &[]);
    a.add_agent(2, AgentInfo::default(), q(4.0, 1024.0), &[]);
    assert_eq!(agents(&a.allocate(0)), vec![2]);
    assert!(a.allocate(1_000).is_empty());
}

#[test]
fn each_framework_gets_one_agent_per_round_in_drf_order() {
    let mut a = allocator();
    three_agents(&mut a);
    add_framework(&mut a, 1);
    add_framework(&mut a, 2);
    let offers = a.allocate(0);
    // framework 1 (lower id) takes the fullest agent, framework 2 the next fullest
    assert_eq!(
        offers
            .iter()
            .map(|o| (o.framework, o.agent))
            .collect::<Vec<_>>(),
        vec![(1, 2), (2, 3)]
    );
    // framework 1 has the lower share now: it goes first and gets the last agent
    let offers = a.allocate(1_000);
    assert_eq!(
        offers
            .iter()
            .map(|o| (o.framework, o.agent))
            .collect::<Vec<_>>(),
        vec![(1, 1)]
    );
}

#[test]
fn weighted_roles_go_first_by_weighted_share() {
    let mut a = allocator();
    a.add_role(2, "heavy");
    a.update_weights(&[(2, 4.0)]);
    a.add_framework(1, framework(&[ROLE], 0), &[], true, &[]);
    a.add_framework(2, framework(&[2], 0), &[], true, &[]);
    for id in 1..=10 {
        a.add_agent(id, AgentInfo::default(), q(1.0, 100.0), &[]);
    }
    let order = |offers: Vec<Offer>| -> Vec<(FrameworkId, AgentId)> {
        offers.iter().map(|o| (o.framework, o.agent)).collect()
    };
    // equal (zero) shares: the lower role id first; identical agents: the lower agent id first
    assert_eq!(order(a.allocate(0)), vec![(1, 1), (2, 2)]);
    // then the heavy role's weighted share (0.1 / 4) is the lower one: it goes first
    assert_eq!(order(a.allocate(1_000)), vec![(2, 3), (1, 4)]);
    assert_eq!(order(a.allocate(2_000)), vec![(2, 5), (1, 6)]);
    assert!((a.cluster().role_share(2) - 0.3 / 4.0).abs() < 1e-9);
}

#[test]
fn decline_filters_suppress_and_revive() {
    let mut a = allocator();
    three_agents(&mut a);
    add_framework(&mut a, 1);
    assert_eq!(agents(&a.allocate(0)), vec![2]);
    // declines the fullest agent for 10 s: the next fullest is offered instead
    a.recover_resources(1, 2, ROLE, q(2.0, 512.0), Some(10.0), 0);
    assert_eq!(agents(&a.allocate(1_000)), vec![3]);
    a.recover_resources(1, 3, ROLE, q(4.0, 1024.0), None, 1_000);
    assert_eq!(
        agents(&a.allocate(2_000)),
        vec![3],
        "agent 2 still filtered"
    );
    a.recover_resources(1, 3, ROLE, q(4.0, 1024.0), None, 2_000);
    assert_eq!(agents(&a.allocate(10_000)), vec![2], "filter expired");
    a.recover_resources(1, 2, ROLE, q(2.0, 512.0), Some(3600.0), 10_000);
    a.suppress(1, &[]);
    assert!(a.allocate(11_000).is_empty());
    // revive lifts suppression and clears the filter
    a.revive(1, &[ROLE]);
    assert_eq!(agents(&a.allocate(12_000)), vec![2]);
}

#[test]
fn revocable_quota_pause_and_inactive_agents() {
    let mut a = allocator();
    a.add_role(2, "capped");
    a.update_quota(
        2,
        q(0.0, 0.0),
        Quantities(vec![1.0, f64::INFINITY, f64::INFINITY]),
    );
    a.add_framework(1, framework(&[2], 0), &[], true, &[]);
    a.add_framework(
        2,
        framework(&[ROLE], Capabilities::REVOCABLE_RESOURCES),
        &[],
        true,
        &[],
    );
    // the fullest agent is revocable-only: framework 1 cannot take it, framework 2 can
    a.add_agent(1, AgentInfo::default(), q_rev(0.0, 0.0, 2.0), &[]);
    a.add_agent(2, AgentInfo::default(), q(4.0, 1024.0), &[]);
    a.add_agent(3, AgentInfo::default(), q(8.0, 2048.0), &[]);
    a.pause();
    assert!(a.allocate(0).is_empty());
    a.resume();
    a.deactivate_agent(2);
    let offers = a.allocate(1_000);
    assert_eq!(
        offers
            .iter()
            .map(|o| (o.framework, o.agent, o.resources.get(CPUS)))
            .collect::<Vec<_>>(),
        vec![(2, 1, 0.0), (1, 3, 1.0)],
        "framework 2 (role 1, the lower id) takes the revocable-only agent; framework 1 is \
         clipped to its 1 cpu of quota on the only active regular agent"
    );
    // framework 1's cpu quota is used up, but memory is not limited: it is offered the memory
    // of the fullest agent, the reactivated agent 2; framework 2 then takes that agent's cpus
    a.activate_agent(2);
    let offers = a.allocate(2_000);
    assert_eq!(
        offers
            .iter()
            .map(|o| (o.framework, o.agent, o.resources.clone()))
            .collect::<Vec<_>>(),
        vec![(1, 2, q(0.0, 1024.0)), (2, 2, q(4.0, 0.0))]
    );
}

#[test]
fn random_sorter_serves_every_framework_once_per_round() {
    let mut a = allocator_with(Sorter::Random);
    for f in 1..=5 {
        add_framework(&mut a, f);
    }
    for id in 1..=20 {
        a.add_agent(id, AgentInfo::default(), q(1.0, 100.0), &[]);
    }
    let mut total = 0;
    for round in 0..4 {
        let offers = a.allocate(round * 1_000);
        let mut frameworks: Vec<FrameworkId> = offers.iter().map(|o| o.framework).collect();
        frameworks.sort_unstable();
        assert_eq!(frameworks, vec![1, 2, 3, 4, 5]);
        total += offers.len();
    }
    assert_eq!(total, 20);
    assert!(a.allocate(9_000).is_empty());
}

// ----- reserved slots (`meseta:allocator@0.3.0`) -----

const OPS: RoleId = 2;
const ENG: RoleId = 3;
const ENG_BACKEND: RoleId = 4;

/// Roles `ops`, `eng` and `eng/backend`, a slot of cpus reserved for `eng` (slot 3), and one
/// agent of `cpus:4;mem:1024;cpus(eng):2`.
fn reserving() -> BinpackAllocator {
    let mut a = allocator();
    a.add_role(OPS, "ops");
    a.add_role(ENG, "eng");
    a.add_role(ENG_BACKEND, "eng/backend");
    a.add_resource_kinds(&[ResourceKind {
        name: "cpus".into(),
        revocable: false,
        reserved_for: Some(ENG),
    }]);
    a.add_agent(
        1,
        AgentInfo::default(),
        Quantities(vec![4.0, 1024.0, 0.0, 2.0]),
        &[],
    );
    a
}

#[test]
fn reserved_slots_go_only_to_their_role_and_its_sub_roles() {
    for (role, reserved) in [(OPS, 0.0), (ENG, 2.0), (ENG_BACKEND, 2.0)] {
        let mut a = reserving();
        a.add_framework(1, framework(&[role], 0), &[], true, &[]);
        let offers = a.allocate(0);
        assert_eq!(offers.len(), 1, "role {role}");
        assert_eq!(
            offers[0].resources,
            Quantities(vec![4.0, 1024.0, 0.0, reserved]),
            "role {role}"
        );
        assert!(a.allocate(1).is_empty(), "role {role}");
    }
}

#[test]
fn kinds_added_mid_stream_widen_the_table() {
    let mut a = allocator();
    a.add_role(ENG, "eng");
    a.add_framework(1, framework(&[ENG], 0), &[], true, &[]);
    a.add_agent(1, AgentInfo::default(), q(4.0, 1024.0), &[]);
    a.add_resource_kinds(&[ResourceKind {
        name: "cpus".into(),
        revocable: false,
        reserved_for: Some(ENG),
    }]);
    a.add_agent(
        2,
        AgentInfo::default(),
        Quantities(vec![0.0, 0.0, 0.0, 2.0]),
        &[],
    );
    // the fullest agent that suits: agent 2, with only the reserved cpus
    let offers = a.allocate(0);
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].agent, 2);
    assert_eq!(offers[0].resources, Quantities(vec![0.0, 0.0, 0.0, 2.0]));
}
