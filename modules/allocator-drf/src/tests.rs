use super::*;
use meseta_types::allocation::ResourceKind;

const CPUS: usize = 0;
const MEM: usize = 1;
const REV_CPUS: usize = 2;
const ROLE: RoleId = 1;

fn kinds() -> Vec<ResourceKind> {
    vec![
        ResourceKind {
            name: "cpus".into(),
            revocable: false,
        },
        ResourceKind {
            name: "mem".into(),
            revocable: false,
        },
        ResourceKind {
            name: "cpus".into(),
            revocable: true,
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

fn agents_of(offers: &[Offer], framework: FrameworkId) -> Vec<AgentId> {
    offers
        .iter()
        .filter(|o| o.framework == framework)
        .map(|o| o.agent)
        .collect()
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
fn shares_fairly_between_two_frameworks() {
    let mut a = allocator();
    add_framework(&mut a, 1);
    add_framework(&mut a, 2);
    add_agents(&mut a, 1..=4, q(4.0, 1024.0));
    let offers = a.allocate(0);
    assert_eq!(offers.len(), 4);
    assert_eq!(count_for(&offers, 1), 2);
    assert_eq!(count_for(&offers, 2), 2);
    // ties go to the lower id: framework 1 gets the first agent
    assert_eq!(offers[0].framework, 1);
    assert_eq!(offers[0].resources, q(4.0, 1024.0));
    assert!((a.share(1, ROLE) - 0.5).abs() < 1e-9);
    // everything is offered: nothing more until resources come back
    assert!(a.allocate(1).is_empty());
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
    // agents 1 and 2 have only memory left; 3 and 4 go to framework 2 (share 0) first...
    assert_eq!(agents_of(&offers, 2).len(), 3);
    assert_eq!(agents_of(&offers, 1), vec![4]);
}

#[test]
fn weights_scale_shares() {
    let mut a = allocator();
    a.add_role(2, "heavy");
    a.update_weights(&[(2, 3.0)]);
    a.add_framework(1, framework(&[ROLE], 0), &[], true, &[]);
    a.add_framework(2, framework(&[2], 0), &[], true, &[]);
    add_agents(&mut a, 1..=8, q(1.0, 100.0));
    let offers = a.allocate(0);
    assert_eq!(count_for(&offers, 2), 6);
    assert_eq!(count_for(&offers, 1), 2);
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
    assert_eq!(offers[0].framework, 1);
    // framework 1 declines for 10 s: the agent goes to framework 2 instead
    a.recover_resources(1, 1, ROLE, q(4.0, 1024.0), Some(10.0), 0);
    let offers = a.allocate(1_000);
    assert_eq!(agents_of(&offers, 2), vec![1]);
    // framework 2 declines without a filter; framework 1 is still filtered, framework 2 gets it again
    a.recover_resources(2, 1, ROLE, q(4.0, 1024.0), None, 1_000);
    assert_eq!(agents_of(&a.allocate(2_000), 2), vec![1]);
    a.remove_framework(2);
    assert!(a.allocate(9_999).is_empty(), "filter still active");
    let offers = a.allocate(10_000);
    assert_eq!(agents_of(&offers, 1), vec![1], "filter expired");
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
fn suppress_and_revive() {
    let mut a = allocator();
    add_framework(&mut a, 1);
    add_agents(&mut a, 1..=2, q(4.0, 1024.0));
    a.suppress(1, &[]);
    assert!(a.allocate(0).is_empty());
    a.revive(1, &[ROLE]);
    assert_eq!(a.allocate(1).len(), 2);
    // revive also clears decline filters
    a.recover_resources(1, 1, ROLE, q(4.0, 1024.0), Some(3600.0), 2);
    assert!(a.allocate(3).is_empty());
    a.revive(1, &[]);
    assert_eq!(agents_of(&a.allocate(4), 1), vec![1]);
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
    let cpus: f64 = offers.iter().map(|o| o.resources.get(CPUS)).sum();
    let mem: f64 = offers.iter().map(|o| o.resources.get(MEM)).sum();
    let rev: f64 = offers.iter().map(|o| o.resources.get(REV_CPUS)).sum();
    assert_eq!(
        (cpus, mem, rev),
        (6.0, 2048.0, 2.0),
        "cpus capped, revocable exempt"
    );
    // a fully used limit makes the regular part of an agent unofferable
    a.recover_resources(1, 2, 3, q_rev(2.0, 1024.0, 1.0), None, 1);
    let offers = a.allocate(2);
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].resources, q_rev(2.0, 1024.0, 1.0));
    // removing the quota lifts the cap
    a.update_quota(2, q(0.0, 0.0), Quantities(vec![f64::INFINITY; 3]));
    a.recover_resources(1, 2, 3, q_rev(4.0, 0.0, 0.0), None, 3);
    assert_eq!(a.allocate(4)[0].resources, q(4.0, 0.0));
}

#[test]
fn removing_frameworks_and_agents_frees_resources() {
    let mut a = allocator();
    add_framework(&mut a, 1);
    add_framework(&mut a, 2);
    add_agents(&mut a, 1..=2, q(4.0, 1024.0));
    a.allocate(0);
    a.remove_framework(1);
    assert_eq!(agents_of(&a.allocate(1), 2), vec![1]);
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
