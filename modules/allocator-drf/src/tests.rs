use super::*;
use meseta_types::allocation::{
    AgentInfo, AgentUsage, Capabilities, FrameworkInfo, FrameworkUsage, Options, ResourceKind,
};

const CPUS: usize = 0;
const MEM: usize = 1;
const REV_CPUS: usize = 2;
const ROLE: RoleId = 1;

fn kinds() -> Vec<ResourceKind> {
    vec![
        ResourceKind {
            name: "cpus".into(),
            revocable: false,
            reserved_for: None,
        },
        ResourceKind {
            name: "mem".into(),
            revocable: false,
            reserved_for: None,
        },
        ResourceKind {
            name: "cpus".into(),
            revocable: true,
            reserved_for: None,
        },
    ]
}

fn options(min_allocatable: Vec<Quantities>) -> Options {
    Options {
        resource_kinds: kinds(),
        allocation_interval_ms: 1000,
        min_allocatable,
        fairness_excluded: vec![],
        sorter: Default::default(),
    }
}

/// Mesos' default `--min_allocatable_resources`: `cpus:0.01|mem:32`.
fn mesos_min() -> Vec<Quantities> {
    vec![q(0.01, 0.0), q(0.0, 32.0)]
}

fn q(cpus: f64, mem: f64) -> Quantities {
    Quantities(vec![cpus, mem, 0.0])
}

fn q_rev(cpus: f64, mem: f64, rev: f64) -> Quantities {
    Quantities(vec![cpus, mem, rev])
}

fn allocator() -> DrfAllocator {
    let mut a = DrfAllocator::create(&[]).unwrap();
    a.initialize(options(vec![]));
    a.add_role(ROLE, "*");
    a
}

fn framework(roles: &[RoleId], capabilities: u8) -> FrameworkInfo {
    FrameworkInfo {
        name: "fw".into(),
        roles: roles.to_vec(),
        capabilities: Capabilities(capabilities),
    }
}

fn add_framework(a: &mut DrfAllocator, id: FrameworkId) {
    a.add_framework(id, framework(&[ROLE], 0), &[], true, &[]);
}

fn add_agents(a: &mut DrfAllocator, ids: std::ops::RangeInclusive<AgentId>, total: Quantities) {
    for id in ids {
        a.add_agent(id, AgentInfo::default(), total.clone(), &[]);
    }
}

fn count_for(offers: &[Offer], framework: FrameworkId) -> usize {
    offers.iter().filter(|o| o.framework == framework).count()
}

/// The agents offered to the framework, sorted (agents are visited in a shuffled order).
fn agents_of(offers: &[Offer], framework: FrameworkId) -> Vec<AgentId> {
    let mut agents: Vec<AgentId> = offers
        .iter()
        .filter(|o| o.framework == framework)
        .map(|o| o.agent)
        .collect();
    agents.sort_unstable();
    agents
}

fn sum(offers: &[Offer], slot: usize) -> f64 {
    offers.iter().map(|o| o.resources.get(slot)).sum()
}

#[test]
fn rejects_parameters() {
    assert!(
        DrfAllocator::create(&[("x".into(), "1".into())])
            .unwrap_err()
            .contains("'x'")
    );
}

#[test]
fn two_frameworks_in_one_role_get_equal_shares() {
    let mut a = allocator();
    add_framework(&mut a, 1);
    add_framework(&mut a, 2);
    add_agents(&mut a, 1..=4, q(4.0, 1024.0));
    let offers = a.allocate(0);
    assert_eq!(offers.len(), 4);
    assert_eq!(count_for(&offers, 1), 2);
    assert_eq!(count_for(&offers, 2), 2);
    assert_eq!(offers[0].resources, q(4.0, 1024.0));
    assert!((a.share(1, ROLE) - 0.5).abs() < 1e-9);
    assert!((a.share(2, ROLE) - 0.5).abs() < 1e-9);
    // everything is offered: nothing more until resources come back
    assert!(a.allocate(1).is_empty());
}

#[test]
fn weighted_roles_converge_to_their_weights() {
    let mut a = DrfAllocator::create(&[]).unwrap();
    a.initialize(options(mesos_min()));
    a.add_role(1, "light");
    a.add_role(2, "heavy");
    a.update_weights(&[(1, 1.0), (2, 3.0)]);
    a.add_framework(1, framework(&[1], 0), &[], true, &[]);
    a.add_framework(2, framework(&[2], 0), &[], true, &[]);
    add_agents(&mut a, 1..=400, q(1.0, 256.0));
    // the frameworks accept everything and never give anything back
    let mut total = 0;
    for round in 0..3 {
        total += a.allocate(round).len();
    }
    assert_eq!(total, 400);
    let (light, heavy) = (a.share(1, 1), a.share(2, 2));
    assert!((light + heavy - 1.0).abs() < 1e-9);
    assert!(
        (heavy / light - 3.0).abs() < 0.05,
        "shares {light} and {heavy} should be 1:3"
    );
    // weighted role shares are equal
    assert!((a.role_share(1) - a.role_share(2)).abs() < 0.01);
}

#[test]
fn weights_can_change_between_rounds() {
    let mut a = allocator();
    a.add_role(2, "other");
    a.add_framework(1, framework(&[ROLE], 0), &[], true, &[]);
    a.add_framework(2, framework(&[2], 0), &[], true, &[]);
    add_agents(&mut a, 1..=8, q(1.0, 100.0));
    let offers = a.allocate(0);
    assert_eq!((count_for(&offers, 1), count_for(&offers, 2)), (4, 4));
    for o in &offers {
        a.recover_resources(o.framework, o.agent, o.role, o.resources.clone(), None, 0);
    }
    a.update_weights(&[(2, 3.0)]);
    let offers = a.allocate(1);
    assert_eq!((count_for(&offers, 1), count_for(&offers, 2)), (2, 6));
}

#[test]
fn the_role_sorter_comes_before_the_framework_sorter() {
    // role 1 has two frameworks, role 2 one: the roles split the cluster in halves, and role
    // 1's half is split between its frameworks (a flat sorter over clients would give thirds)
    let mut a = allocator();
    a.add_role(2, "other");
    add_framework(&mut a, 1);
    add_framework(&mut a, 2);
    a.add_framework(3, framework(&[2], 0), &[], true, &[]);
    add_agents(&mut a, 1..=12, q(1.0, 100.0));
    let offers = a.allocate(0);
    assert_eq!(count_for(&offers, 1), 3);
    assert_eq!(count_for(&offers, 2), 3);
    assert_eq!(count_for(&offers, 3), 6);
    assert!((a.role_share(ROLE) - 0.5).abs() < 1e-9);
    assert!((a.share(3, 2) - 0.5).abs() < 1e-9);
}

#[test]
fn lowest_dominant_share_goes_first() {
    let mut a = allocator();
    add_agents(&mut a, 1..=4, q(4.0, 1024.0));
    // framework 1 already uses two agents' worth of cpus but little memory
    a.add_framework(
        1,
        framework(&[ROLE], 0),
        &[
            FrameworkUsage {
                agent: 1,
                role: ROLE,
                resources: q(4.0, 10.0),
            },
            FrameworkUsage {
                agent: 2,
                role: ROLE,
                resources: q(4.0, 10.0),
            },
        ],
        true,
        &[],
    );
    add_framework(&mut a, 2);
    let offers = a.allocate(0);
    // framework 2 (share 0) is offered agents until its share passes framework 1's (0.5)
    assert_eq!(agents_of(&offers, 2).len(), 3);
    assert_eq!(agents_of(&offers, 1).len(), 1);
    assert!(a.share(2, ROLE) >= 0.5);
}

#[test]
fn agents_are_visited_in_a_shuffled_order() {
    let mut a = allocator();
    add_framework(&mut a, 1);
    add_agents(&mut a, 1..=10, q(1.0, 100.0));
    let mut first = std::collections::BTreeSet::new();
    for round in 0..20 {
        let offers = a.allocate(round * 1000);
        assert_eq!(offers.len(), 10);
        first.insert(offers[0].agent);
        for o in &offers {
            a.recover_resources(o.framework, o.agent, o.role, o.resources.clone(), None, 0);
        }
    }
    assert!(first.len() > 1, "some agent should not always come first");
}

#[test]
fn recovered_resources_are_offered_again() {
    let mut a = allocator();
    add_framework(&mut a, 1);
    add_agents(&mut a, 1..=1, q(4.0, 1024.0));
    assert_eq!(a.allocate(0).len(), 1);
    a.recover_resources(1, 1, ROLE, q(1.0, 256.0), None, 0);
    assert_eq!(a.free(1), Some(q(1.0, 256.0)));
    let offers = a.allocate(1);
    assert_eq!(
        offers,
        vec![Offer {
            framework: 1,
            role: ROLE,
            agent: 1,
            resources: q(1.0, 256.0)
        }]
    );
}

#[test]
fn decline_filter_blocks_until_expiry() {
    let mut a = allocator();
    add_framework(&mut a, 1);
    add_framework(&mut a, 2);
    add_agents(&mut a, 1..=1, q(4.0, 1024.0));
    let offers = a.allocate(0);
    assert_eq!(offers[0].framework, 1, "ties go to the lower id");
    // framework 1 declines for 10 s: the agent goes to framework 2 instead
    a.recover_resources(1, 1, ROLE, q(4.0, 1024.0), Some(10.0), 0);
    let offers = a.allocate(1_000);
    assert_eq!(agents_of(&offers, 2), vec![1]);
    // framework 2 declines without a filter; framework 1 is still filtered, 2 gets it again
    a.recover_resources(2, 1, ROLE, q(4.0, 1024.0), None, 1_000);
    assert_eq!(agents_of(&a.allocate(2_000), 2), vec![1]);
    a.remove_framework(2);
    assert!(a.allocate(9_999).is_empty(), "filter still active");
    let offers = a.allocate(10_000);
    assert_eq!(agents_of(&offers, 1), vec![1], "filter expired");
}

#[test]
fn decline_filter_lasts_at_least_one_interval() {
    let mut a = allocator();
    add_framework(&mut a, 1);
    add_agents(&mut a, 1..=1, q(4.0, 1024.0));
    a.allocate(0);
    a.recover_resources(1, 1, ROLE, q(4.0, 1024.0), Some(0.1), 0);
    assert!(a.allocate(999).is_empty());
    assert_eq!(a.allocate(1_000).len(), 1);
    // zero or negative refuse_seconds: no filter
    a.recover_resources(1, 1, ROLE, q(4.0, 1024.0), Some(0.0), 2_000);
    assert_eq!(a.allocate(2_000).len(), 1);
    a.recover_resources(1, 1, ROLE, q(4.0, 1024.0), Some(-1.0), 3_000);
    assert_eq!(a.allocate(3_000).len(), 1);
}

#[test]
fn decline_filter_only_covers_the_refused_resources() {
    let mut a = allocator();
    add_framework(&mut a, 1);
    add_agents(&mut a, 1..=1, q(4.0, 1024.0));
    a.allocate(0);
    // declines half, keeps half
    a.recover_resources(1, 1, ROLE, q(2.0, 512.0), Some(60.0), 0);
    assert!(a.allocate(1_000).is_empty());
    // the kept half is freed too: the candidate (everything) is no longer inside the refusal
    a.recover_resources(1, 1, ROLE, q(2.0, 512.0), None, 1_000);
    assert_eq!(a.allocate(2_000)[0].resources, q(4.0, 1024.0));
}

#[test]
fn decline_filters_are_per_role() {
    let mut a = allocator();
    a.add_role(2, "other");
    a.add_framework(1, framework(&[ROLE, 2], 0), &[], true, &[]);
    add_agents(&mut a, 1..=1, q(4.0, 1024.0));
    let offers = a.allocate(0);
    assert_eq!(offers.len(), 1);
    let declined = offers[0].role;
    a.recover_resources(1, 1, declined, q(4.0, 1024.0), Some(60.0), 0);
    let offers = a.allocate(1_000);
    assert_eq!(offers.len(), 1);
    assert_ne!(offers[0].role, declined);
}

#[test]
fn filter_timeouts_follow_mesos() {
    let a = allocator();
    assert_eq!(a.filter_timeout_ms(None), None);
    assert_eq!(a.filter_timeout_ms(Some(0.0)), None);
    assert_eq!(a.filter_timeout_ms(Some(-3.0)), None);
    assert_eq!(a.filter_timeout_ms(Some(f64::NAN)), None);
    assert_eq!(
        a.filter_timeout_ms(Some(0.2)),
        Some(1000),
        "at least the allocation interval"
    );
    assert_eq!(a.filter_timeout_ms(Some(5.0)), Some(5000));
    assert_eq!(a.filter_timeout_ms(Some(1e12)), Some(MAX_FILTER_MS));
    assert_eq!(
        a.filter_timeout_ms(Some(f64::INFINITY)),
        Some(MAX_FILTER_MS)
    );
}

#[test]
fn revive_clears_decline_filters() {
    let mut a = allocator();
    a.add_role(2, "other");
    a.add_framework(1, framework(&[ROLE, 2], 0), &[], true, &[]);
    add_agents(&mut a, 1..=2, q(4.0, 1024.0));
    // decline both agents in both roles for an hour
    for o in a.allocate(0) {
        for role in [ROLE, 2] {
            a.recover_resources(1, o.agent, role, o.resources.clone(), Some(3600.0), 0);
        }
    }
    assert!(a.allocate(1).is_empty());
    // reviving one role clears only that role's filters
    a.revive(1, &[2]);
    let offers = a.allocate(2);
    assert_eq!(offers.len(), 2);
    assert!(offers.iter().all(|o| o.role == 2));
    for o in offers {
        a.recover_resources(1, o.agent, 2, o.resources, Some(3600.0), 3);
    }
    assert!(a.allocate(4).is_empty());
    // reviving with no roles clears them all
    a.revive(1, &[]);
    assert_eq!(agents_of(&a.allocate(5), 1), vec![1, 2]);
}

#[test]
fn suppress_and_revive() {
    let mut a = allocator();
    add_framework(&mut a, 1);
    add_framework(&mut a, 2);
    add_agents(&mut a, 1..=2, q(4.0, 1024.0));
    a.suppress(1, &[]);
    let offers = a.allocate(0);
    assert_eq!(agents_of(&offers, 2), vec![1, 2], "suppressed: all to 2");
    for o in offers {
        a.recover_resources(2, o.agent, ROLE, o.resources, None, 0);
    }
    a.suppress(2, &[ROLE]);
    assert!(a.allocate(1).is_empty());
    a.revive(1, &[ROLE]);
    assert_eq!(agents_of(&a.allocate(2), 1), vec![1, 2]);
}

#[test]
fn suppression_is_per_role() {
    let mut a = allocator();
    a.add_role(2, "other");
    a.add_framework(1, framework(&[ROLE, 2], 0), &[], true, &[ROLE]);
    add_agents(&mut a, 1..=1, q(1.0, 1.0));
    let offers = a.allocate(0);
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].role, 2);
}

#[test]
fn revocable_resources_only_go_to_capable_frameworks() {
    let mut a = allocator();
    add_framework(&mut a, 1);
    a.add_framework(
        2,
        framework(&[ROLE], Capabilities::REVOCABLE_RESOURCES),
        &[],
        true,
        &[],
    );
    a.add_agent(1, AgentInfo::default(), q_rev(4.0, 1024.0, 8.0), &[]);
    let offers = a.allocate(0);
    assert_eq!(offers.len(), 2);
    // framework 1 (lower id) takes the regular part, the revocable rest goes to framework 2
    assert_eq!(
        offers[0],
        Offer {
            framework: 1,
            role: ROLE,
            agent: 1,
            resources: q_rev(4.0, 1024.0, 0.0)
        }
    );
    assert_eq!(
        offers[1],
        Offer {
            framework: 2,
            role: ROLE,
            agent: 1,
            resources: q_rev(0.0, 0.0, 8.0)
        }
    );

    // revocable-only agents are not offered to frameworks without the capability
    let mut b = allocator();
    add_framework(&mut b, 1);
    b.add_agent(1, AgentInfo::default(), q_rev(0.0, 0.0, 8.0), &[]);
    assert!(b.allocate(0).is_empty());
    // ...but are to one with it
    b.add_framework(
        2,
        framework(&[ROLE], Capabilities::REVOCABLE_RESOURCES),
        &[],
        true,
        &[],
    );
    assert_eq!(b.allocate(1)[0].resources, q_rev(0.0, 0.0, 8.0));
}

#[test]
fn min_allocatable_resources() {
    let mut a = DrfAllocator::create(&[]).unwrap();
    // cpus:0.01;mem:32 | mem:256
    a.initialize(options(vec![q(0.01, 32.0), Quantities(vec![0.0, 256.0])]));
    add_framework(&mut a, 1);
    a.add_agent(1, AgentInfo::default(), q(0.005, 64.0), &[]);
    a.add_agent(2, AgentInfo::default(), q(0.5, 64.0), &[]);
    a.add_agent(3, AgentInfo::default(), q(0.0, 512.0), &[]);
    a.add_agent(4, AgentInfo::default(), q(1.0, 16.0), &[]);
    let offers = a.allocate(0);
    assert_eq!(agents_of(&offers, 1), vec![2, 3]);

    // Mesos' default, cpus:0.01|mem:32
    let mut m = DrfAllocator::create(&[]).unwrap();
    m.initialize(options(mesos_min()));
    add_framework(&mut m, 1);
    m.add_agent(1, AgentInfo::default(), q(0.005, 16.0), &[]);
    m.add_agent(2, AgentInfo::default(), q(0.01, 0.0), &[]);
    m.add_agent(3, AgentInfo::default(), q(0.0, 32.0), &[]);
    assert_eq!(agents_of(&m.allocate(0), 1), vec![2, 3]);

    // revocable cpus count as cpus
    let mut b = DrfAllocator::create(&[]).unwrap();
    b.initialize(options(vec![q(0.01, 32.0)]));
    b.add_framework(
        1,
        framework(&[ROLE], Capabilities::REVOCABLE_RESOURCES),
        &[],
        true,
        &[],
    );
    b.add_agent(1, AgentInfo::default(), q_rev(0.0, 64.0, 1.0), &[]);
    assert_eq!(b.allocate(0).len(), 1);

    // with no entries, anything non-empty goes
    let mut c = allocator();
    add_framework(&mut c, 1);
    c.add_agent(1, AgentInfo::default(), q(0.001, 0.0), &[]);
    c.add_agent(2, AgentInfo::default(), q(0.0, 0.0), &[]);
    assert_eq!(agents_of(&c.allocate(0), 1), vec![1]);
}

#[test]
fn min_allocatable_applies_after_quota_clipping() {
    let mut a = DrfAllocator::create(&[]).unwrap();
    a.initialize(options(vec![q(1.0, 0.0)]));
    a.add_role(ROLE, "capped");
    a.update_quota(
        ROLE,
        q(0.0, 0.0),
        Quantities(vec![1.5, f64::INFINITY, f64::INFINITY]),
    );
    add_framework(&mut a, 1);
    add_agents(&mut a, 1..=2, q(1.0, 100.0));
    let offers = a.allocate(0);
    // the second agent would be clipped to 0.5 cpus, below the minimum of 1
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].resources, q(1.0, 100.0));
}

#[test]
fn paused_allocator_offers_nothing() {
    let mut a = allocator();
    add_framework(&mut a, 1);
    add_agents(&mut a, 1..=2, q(4.0, 1024.0));
    a.pause();
    assert!(a.allocate(0).is_empty());
    a.resume();
    assert_eq!(a.allocate(1).len(), 2);
}

#[test]
fn inactive_agents_and_frameworks_get_nothing() {
    let mut a = allocator();
    add_framework(&mut a, 1);
    a.add_framework(2, framework(&[ROLE], 0), &[], false, &[]);
    add_agents(&mut a, 1..=2, q(4.0, 1024.0));
    a.deactivate_agent(2);
    assert_eq!(agents_of(&a.allocate(0), 1), vec![1]);
    a.activate_agent(2);
    a.deactivate_framework(1);
    assert!(a.allocate(1).is_empty(), "framework 2 was added inactive");
    a.activate_framework(2);
    assert_eq!(agents_of(&a.allocate(2), 2), vec![2]);
}

#[test]
fn quota_limits_clip_offers() {
    let mut a = allocator();
    a.add_role(2, "limited");
    a.add_role(3, "limited/child");
    a.update_quota(
        2,
        q(0.0, 0.0),
        Quantities(vec![6.0, f64::INFINITY, f64::INFINITY]),
    );
    a.add_framework(
        1,
        framework(&[3], Capabilities::REVOCABLE_RESOURCES),
        &[],
        true,
        &[],
    );
    add_agents(&mut a, 1..=2, q_rev(4.0, 1024.0, 1.0));
    let offers = a.allocate(0);
    assert_eq!(
        (
            sum(&offers, CPUS),
            sum(&offers, MEM),
            sum(&offers, REV_CPUS)
        ),
        (6.0, 2048.0, 2.0),
        "cpus capped by the parent's limit, revocable exempt"
    );
    // the agent visited second was clipped to 2 cpus
    let clipped = offers
        .iter()
        .find(|o| o.resources.get(CPUS) < 3.0)
        .unwrap()
        .agent;
    assert_eq!(a.free(clipped), Some(q_rev(2.0, 0.0, 0.0)));
    // a fully used limit makes the regular part of an agent unofferable
    a.recover_resources(1, clipped, 3, q_rev(2.0, 1024.0, 1.0), None, 1);
    let offers = a.allocate(2);
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].resources, q_rev(2.0, 1024.0, 1.0));
    // removing the quota lifts the cap
    a.update_quota(2, q(0.0, 0.0), Quantities(vec![f64::INFINITY; 3]));
    a.recover_resources(1, clipped, 3, q_rev(4.0, 0.0, 0.0), None, 3);
    assert_eq!(a.allocate(4)[0].resources, q(4.0, 0.0));
}

#[test]
fn quota_of_a_child_role_does_not_limit_its_siblings() {
    let mut a = allocator();
    a.add_role(2, "eng/a");
    a.add_role(3, "eng/b");
    a.update_quota(
        2,
        q(0.0, 0.0),
        Quantities(vec![2.0, f64::INFINITY, f64::INFINITY]),
    );
    a.add_framework(1, framework(&[2], 0), &[], true, &[]);
    a.add_framework(2, framework(&[3], 0), &[], true, &[]);
    add_agents(&mut a, 1..=4, q(2.0, 100.0));
    let offers = a.allocate(0);
    let cpus_of = |f| {
        offers
            .iter()
            .filter(|o| o.framework == f)
            .map(|o| o.resources.get(CPUS))
            .sum::<f64>()
    };
    assert_eq!(cpus_of(1), 2.0, "eng/a is capped at 2 cpus");
    assert_eq!(cpus_of(2), 6.0, "eng/b takes the rest");
}

#[test]
fn removing_frameworks_and_agents_frees_resources() {
    let mut a = allocator();
    add_framework(&mut a, 1);
    add_framework(&mut a, 2);
    add_agents(&mut a, 1..=2, q(4.0, 1024.0));
    let offers = a.allocate(0);
    let of_1 = agents_of(&offers, 1);
    a.remove_framework(1);
    assert_eq!(agents_of(&a.allocate(1), 2), of_1);
    assert_eq!(a.allocation(2, ROLE), q(8.0, 2048.0));
    a.remove_agent(1);
    assert_eq!(a.allocation(2, ROLE), q(4.0, 1024.0));
    // resources of a removed agent coming back are ignored
    a.recover_resources(2, 1, ROLE, q(4.0, 1024.0), Some(5.0), 2);
    assert!(a.allocate(3).is_empty());
}

#[test]
fn agents_added_with_used_resources() {
    let mut a = allocator();
    add_framework(&mut a, 1);
    a.add_agent(
        1,
        AgentInfo::default(),
        q(4.0, 1024.0),
        &[AgentUsage {
            framework: 1,
            role: ROLE,
            resources: q(3.0, 1000.0),
        }],
    );
    assert_eq!(a.allocate(0)[0].resources, q(1.0, 24.0));
    // over-recovery is clamped to what the framework held
    a.recover_resources(1, 1, ROLE, q(100.0, 100_000.0), None, 1);
    assert_eq!(a.free(1), Some(q(4.0, 1024.0)));
}

#[test]
fn update_agent_changes_free_resources() {
    let mut a = allocator();
    add_framework(&mut a, 1);
    add_agents(&mut a, 1..=1, q(4.0, 1024.0));
    a.allocate(0);
    a.update_agent(1, q(6.0, 1024.0));
    assert_eq!(a.allocate(1)[0].resources, q(2.0, 0.0));
}

#[test]
fn fairness_excluded_slots_do_not_count() {
    let mut a = DrfAllocator::create(&[]).unwrap();
    let mut o = options(vec![]);
    o.fairness_excluded = vec![MEM as u32];
    a.initialize(o);
    add_framework(&mut a, 1);
    add_framework(&mut a, 2);
    add_agents(&mut a, 1..=2, q(1.0, 1.0));
    // framework 1 holds lots of memory but no cpus: its share is 0
    a.add_agent(
        3,
        AgentInfo::default(),
        q(0.0, 100.0),
        &[AgentUsage {
            framework: 1,
            role: ROLE,
            resources: q(0.0, 100.0),
        }],
    );
    let offers = a.allocate(0);
    assert_eq!(offers[0].framework, 1);
    assert_eq!(a.share(1, ROLE), 0.5);
}

#[test]
fn many_agents_and_frameworks_converge_to_equal_shares() {
    let mut a = allocator();
    for f in 1..=10 {
        add_framework(&mut a, f);
    }
    add_agents(&mut a, 1..=1000, q(2.0, 4096.0));
    let offers = a.allocate(0);
    assert_eq!(offers.len(), 1000);
    for f in 1..=10 {
        assert_eq!(count_for(&offers, f), 100);
    }
}

#[test]
fn random_sorter_offers_everything_and_respects_weights_on_average() {
    let mut a = DrfAllocator::create(&[]).unwrap();
    let mut o = options(mesos_min());
    o.sorter = Sorter::Random;
    a.initialize(o);
    a.add_role(1, "light");
    a.add_role(2, "heavy");
    a.update_weights(&[(2, 3.0)]);
    a.add_framework(1, framework(&[1], 0), &[], true, &[]);
    a.add_framework(2, framework(&[2], 0), &[], true, &[]);
    // a third framework that is suppressed never gets anything
    a.add_framework(3, framework(&[2], 0), &[], true, &[2]);
    add_agents(&mut a, 1..=4000, q(1.0, 256.0));
    let offers = a.allocate(0);
    assert_eq!(offers.len(), 4000, "every agent is offered");
    assert_eq!(count_for(&offers, 3), 0);
    let heavy = count_for(&offers, 2) as f64 / 4000.0;
    // the random sorter ignores allocations: each agent goes to "heavy" with probability 3/4
    assert!((heavy - 0.75).abs() < 0.03, "heavy got {heavy}");
    assert!(a.allocate(1).is_empty());
}

#[test]
fn random_sorter_walks_on_past_skipped_clients() {
    let mut a = DrfAllocator::create(&[]).unwrap();
    let mut o = options(vec![]);
    o.sorter = Sorter::Random;
    a.initialize(o);
    a.add_role(2, "other");
    for f in 1..=5 {
        a.add_framework(f, framework(&[ROLE, 2], 0), &[], true, &[]);
    }
    a.add_framework(
        9,
        framework(&[2], Capabilities::REVOCABLE_RESOURCES),
        &[],
        true,
        &[],
    );
    a.add_agent(1, AgentInfo::default(), q_rev(0.0, 0.0, 4.0), &[]);
    // only framework 9 can take a revocable-only agent, wherever it is in the random order
    for round in 0..10 {
        let offers = a.allocate(round);
        assert_eq!(offers.len(), 1);
        assert_eq!(offers[0].framework, 9);
        a.recover_resources(9, 1, 2, offers[0].resources.clone(), None, round);
    }
}

#[test]
fn the_drf_sorter_is_incremental_within_a_round() {
    // frameworks 1 and 2 in one role alternate agent by agent in a single round
    let mut a = allocator();
    add_framework(&mut a, 1);
    add_framework(&mut a, 2);
    add_agents(&mut a, 1..=6, q(1.0, 100.0));
    let offers = a.allocate(0);
    let order: Vec<FrameworkId> = offers.iter().map(|o| o.framework).collect();
    assert_eq!(order, vec![1, 2, 1, 2, 1, 2]);
}

/// The cpus offered to the framework.
fn cpus_for(offers: &[Offer], framework: FrameworkId) -> f64 {
    offers
        .iter()
        .filter(|o| o.framework == framework)
        .map(|o| o.resources.get(CPUS))
        .sum()
}

fn unlimited() -> Quantities {
    Quantities(vec![f64::INFINITY; 3])
}

#[test]
fn guarantees_are_held_back_from_other_roles() {
    // 4 agents of 2 cpus; "db" is guaranteed 6 cpus but its framework holds nothing yet and
    // is suppressed; "web" (no quota, first in DRF order) may only take the 2 cpus of surplus.
    let mut a = allocator();
    a.add_role(2, "db");
    a.add_role(3, "web");
    a.update_quota(2, q(6.0, 0.0), unlimited());
    a.add_framework(1, framework(&[2], 0), &[], true, &[2]);
    a.add_framework(2, framework(&[3], 0), &[], true, &[]);
    add_agents(&mut a, 1..=4, q(2.0, 100.0));
    let offers = a.allocate(0);
    assert_eq!(
        sum(&offers, CPUS),
        2.0,
        "only the surplus over db's guarantee: {offers:?}"
    );
    assert_eq!(count_for(&offers, 1), 0);
    // db revives: it gets its 6 cpus.
    a.revive(1, &[2]);
    let offers = a.allocate(1);
    assert_eq!(sum(&offers, CPUS), 6.0, "{offers:?}");
    assert_eq!(count_for(&offers, 1), offers.len(), "all to db: {offers:?}");
}

#[test]
fn unmet_guarantees_are_served_first_then_everyone_by_drf() {
    // "small" is guaranteed 1 cpu but already holds more share than "big" would after an
    // agent: without the first stage DRF would serve "big" everywhere first.
    let mut a = allocator();
    a.add_role(2, "small");
    a.add_role(3, "big");
    a.update_quota(2, q(3.0, 0.0), unlimited());
    a.add_framework(1, framework(&[2], 0), &[], true, &[]);
    a.add_framework(2, framework(&[3], 0), &[], true, &[]);
    add_agents(&mut a, 1..=4, q(1.0, 100.0));
    let offers = a.allocate(0);
    assert_eq!(
        cpus_for(&offers, 1),
        3.0,
        "small's guarantee met first: {offers:?}"
    );
    assert_eq!(cpus_for(&offers, 2), 1.0, "big gets the rest: {offers:?}");
    // What small gives back while it declines stays held for its guarantee.
    let held = offers.iter().find(|o| o.framework == 1).unwrap();
    a.recover_resources(1, held.agent, 2, held.resources.clone(), Some(3600.0), 1);
    let offers = a.allocate(2);
    assert_eq!(
        sum(&offers, CPUS),
        0.0,
        "small's guarantee keeps its cpu for it (its memory is not guaranteed): {offers:?}"
    );
    for o in &offers {
        a.recover_resources(o.framework, o.agent, o.role, o.resources.clone(), None, 2);
    }
    a.update_quota(2, q(0.0, 0.0), unlimited());
    let offers = a.allocate(3);
    assert_eq!(
        sum(&offers, CPUS),
        1.0,
        "no guarantee: big takes it: {offers:?}"
    );
    assert_eq!(count_for(&offers, 2), offers.len(), "{offers:?}");
}

#[test]
fn a_child_roles_allocation_advances_its_parents_guarantee() {
    let mut a = allocator();
    a.add_role(2, "eng");
    a.add_role(3, "eng/backend");
    a.add_role(4, "ops");
    a.update_quota(2, q(4.0, 0.0), unlimited());
    a.add_framework(1, framework(&[3], 0), &[], true, &[]);
    a.add_framework(2, framework(&[4], 0), &[], true, &[]);
    add_agents(&mut a, 1..=3, q(2.0, 100.0));
    let offers = a.allocate(0);
    assert_eq!(
        cpus_for(&offers, 1),
        4.0,
        "eng/backend fills eng's guarantee: {offers:?}"
    );
    assert_eq!(cpus_for(&offers, 2), 2.0, "{offers:?}");
}

/// 12 agents of 1 cpu (each taken whole by one client) shared by one framework in each of
/// `eng/a`, `eng/b` and `ops`, with `weights` by role name: the agents each role gets.
fn tree_shares(weights: &[(&str, f64)]) -> (usize, usize, usize) {
    let mut a = allocator();
    for (id, name) in [(2, "eng/a"), (3, "eng/b"), (4, "ops"), (5, "eng")] {
        a.add_role(id, name);
    }
    let ids = |name: &str| match name {
        "eng/a" => 2,
        "eng/b" => 3,
        "ops" => 4,
        _ => 5,
    };
    let w: Vec<(RoleId, f64)> = weights.iter().map(|(n, w)| (ids(n), *w)).collect();
    a.update_weights(&w);
    for (f, role) in [(1, 2), (2, 3), (3, 4)] {
        a.add_framework(f, framework(&[role], 0), &[], true, &[]);
    }
    add_agents(&mut a, 1..=12, q(1.0, 100.0));
    let offers = a.allocate(0);
    (
        count_for(&offers, 1),
        count_for(&offers, 2),
        count_for(&offers, 3),
    )
}

#[test]
fn the_role_tree_is_sorted_level_by_level() {
    // eng (a and b together) and ops share equally; a and b share eng's half.
    assert_eq!(tree_shares(&[]), (3, 3, 6));
    // ops weighs twice eng: 8 to ops, eng's 4 split between a and b.
    assert_eq!(tree_shares(&[("ops", 2.0)]), (2, 2, 8));
    // the weight of the parent path counts for its whole subtree.
    assert_eq!(tree_shares(&[("eng", 2.0)]), (4, 4, 4));
    // and a child's weight within its parent.
    assert_eq!(tree_shares(&[("eng/a", 2.0)]), (4, 2, 6));
}

// ----- reserved slots (`meseta:allocator@0.3.0`) -----

const OPS: RoleId = 2;
const ENG: RoleId = 3;
const ENG_BACKEND: RoleId = 4;
const ENGINEERING: RoleId = 5;
/// The slot `add_resource_kinds` appends: cpus reserved for `eng`.
const ENG_CPUS: usize = 3;

fn reserved_cpus(role: RoleId) -> ResourceKind {
    ResourceKind {
        name: "cpus".into(),
        revocable: false,
        reserved_for: Some(role),
    }
}

/// An allocator with roles `ops`, `eng`, `eng/backend` and `engineering`, a slot of cpus
/// reserved for `eng`, and one agent of `cpus:4;mem:1024;cpus(eng):2`.
fn reserving() -> DrfAllocator {
    let mut a = DrfAllocator::create(&[]).unwrap();
    a.initialize(options(mesos_min()));
    for (role, name) in [
        (OPS, "ops"),
        (ENG, "eng"),
        (ENG_BACKEND, "eng/backend"),
        (ENGINEERING, "engineering"),
    ] {
        a.add_role(role, name);
    }
    a.add_resource_kinds(&[reserved_cpus(ENG)]);
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
    for (role, gets) in [
        (OPS, false),
        (ENGINEERING, false),
        (ENG, true),
        (ENG_BACKEND, true),
    ] {
        let mut a = reserving();
        a.add_framework(1, framework(&[role], 0), &[], true, &[]);
        let offers = a.allocate(0);
        assert_eq!(offers.len(), 1, "role {role}: {offers:?}");
        let expected = if gets { 2.0 } else { 0.0 };
        assert_eq!(
            offers[0].resources,
            Quantities(vec![4.0, 1024.0, 0.0, expected]),
            "role {role}"
        );
        // nothing left that the role may take: the eng cpus stay free for someone in eng
        assert!(a.allocate(1).is_empty(), "role {role}");
        assert_eq!(a.free(1).unwrap().get(ENG_CPUS), 2.0 - expected);
    }
}

#[test]
fn a_role_above_its_share_still_gets_its_reservation() {
    let mut a = reserving();
    a.add_framework(1, framework(&[OPS], 0), &[], true, &[]);
    a.add_framework(2, framework(&[ENG], 0), &[], true, &[]);
    // eng already holds a second agent's everything: far above ops' share
    a.add_agent(
        2,
        AgentInfo::default(),
        Quantities(vec![8.0, 4096.0, 0.0, 0.0]),
        &[AgentUsage {
            framework: 2,
            role: ENG,
            resources: Quantities(vec![8.0, 4096.0, 0.0, 0.0]),
        }],
    );
    let offers = a.allocate(0);
    let to = |f: FrameworkId| {
        offers
            .iter()
            .filter(|o| o.framework == f)
            .map(|o| o.resources.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(to(1), vec![Quantities(vec![4.0, 1024.0, 0.0, 0.0])]);
    assert_eq!(to(2), vec![Quantities(vec![0.0, 0.0, 0.0, 2.0])]);
}

#[test]
fn reserved_cpus_count_as_cpus_for_shares() {
    let mut a = reserving();
    // inactive: the round only rebuilds the sorters
    a.add_framework(
        1,
        framework(&[ENG], 0),
        &[FrameworkUsage {
            agent: 1,
            role: ENG,
            resources: Quantities(vec![0.0, 0.0, 0.0, 2.0]),
        }],
        false,
        &[],
    );
    assert!(a.allocate(0).is_empty());
    // 2 of the cluster's 6 cpus, not 2 of the 2 reserved ones
    assert!(
        (a.role_share(ENG) - 2.0 / 6.0).abs() < 1e-9,
        "{}",
        a.role_share(ENG)
    );
}

#[test]
fn quota_does_not_clip_a_reservation_but_counts_it() {
    let mut a = reserving();
    let inf = f64::INFINITY;
    a.update_quota(
        ENG,
        Quantities(vec![0.0; 3]),
        Quantities(vec![1.0, inf, inf]),
    );
    a.add_framework(1, framework(&[ENG], 0), &[], true, &[]);
    let offers = a.allocate(0);
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].resources, Quantities(vec![1.0, 1024.0, 0.0, 2.0]));
    // the reserved cpus hold 2 of the limit's 1: a new agent's unreserved cpus stay out
    a.add_agent(2, AgentInfo::default(), q(4.0, 1024.0), &[]);
    let offers = a.allocate(1);
    assert!(
        offers.iter().all(|o| o.resources.get(CPUS) == 0.0),
        "{offers:?}"
    );
}

#[test]
fn kinds_added_mid_stream_widen_the_table() {
    let mut a = DrfAllocator::create(&[]).unwrap();
    a.initialize(options(mesos_min()));
    a.add_role(OPS, "ops");
    a.add_role(ENG, "eng");
    a.add_framework(1, framework(&[ENG], 0), &[], true, &[]);
    // an agent of the old width, offered and partly recovered at that width
    a.add_agent(1, AgentInfo::default(), q(4.0, 1024.0), &[]);
    let offers = a.allocate(0);
    assert_eq!(offers[0].resources, q(4.0, 1024.0));
    a.recover_resources(1, 1, ENG, q(4.0, 1024.0), None, 0);
    a.add_resource_kinds(&[reserved_cpus(ENG)]);
    // vectors of the old width still mean 0 in the new slot
    a.add_agent(2, AgentInfo::default(), q(2.0, 512.0), &[]);
    a.update_agent(1, Quantities(vec![4.0, 1024.0, 0.0, 2.0]));
    let mut offers = a.allocate(1);
    offers.sort_by_key(|o| o.agent);
    assert_eq!(offers.len(), 2);
    assert_eq!(offers[0].resources, Quantities(vec![4.0, 1024.0, 0.0, 2.0]));
    assert_eq!(offers[1].resources.get(ENG_CPUS), 0.0);
    a.recover_resources(1, 1, ENG, q(4.0, 1024.0), None, 2);
    let offers = a.allocate(2);
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].resources.get(CPUS), 4.0);
    assert_eq!(a.free(1).unwrap().get(ENG_CPUS), 0.0, "still held");
}

#[test]
fn min_allocatable_counts_reserved_and_unreserved_slots_of_a_name_together() {
    let mut a = DrfAllocator::create(&[]).unwrap();
    // cpus:1 at least
    a.initialize(options(vec![q(1.0, 0.0)]));
    a.add_role(ENG, "eng");
    a.add_resource_kinds(&[reserved_cpus(ENG)]);
    a.add_framework(1, framework(&[ENG], 0), &[], true, &[]);
    a.add_agent(
        1,
        AgentInfo::default(),
        Quantities(vec![0.5, 64.0, 0.0, 0.5]),
        &[],
    );
    let offers = a.allocate(0);
    assert_eq!(offers.len(), 1, "0.5 + 0.5 reserved cpus make the 1 cpu");
}
