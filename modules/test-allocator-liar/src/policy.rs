//! The lying policy; see the crate documentation.

use std::collections::BTreeMap;

use meseta_types::allocation::{
    AgentId, AgentInfo, AgentUsage, AllocatorPolicy, FrameworkId, FrameworkInfo, FrameworkUsage,
    Offer, Options, ResourceKind, RoleId, role_within,
};
use meseta_types::{Create, Parameters, Quantities, parameter};

/// The framework id `unknown-framework` offers to.
pub const UNKNOWN_FRAMEWORK: FrameworkId = 9999;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lie {
    Honest,
    Oversized,
    UnknownFramework,
    Double,
    Negative,
    Wide,
    /// Traps (panics) in `initialize`: a module that cannot even start.
    TrapOnInitialize,
    /// Loops for ever in `allocate` (until the host's deadline stops it).
    Spin,
    /// Offers the first agent's amounts of every reserved slot to the first framework, whatever
    /// role they are reserved for.
    ReservedElsewhere,
}

#[derive(Clone, Debug, Default)]
struct Agent {
    total: Quantities,
    allocated: Quantities,
}

/// The lying allocator.
#[derive(Clone, Debug)]
pub struct LiarAllocator {
    pub lie: Lie,
    agents: BTreeMap<AgentId, Agent>,
    frameworks: Vec<(FrameworkId, RoleId)>,
    /// The number of resource kinds (`initialize`, then `add_resource_kinds`).
    slots: usize,
    /// Per slot, the role it is reserved for (`None`: unreserved).
    reserved: Vec<Option<RoleId>>,
    names: BTreeMap<RoleId, String>,
}

impl Create for LiarAllocator {
    fn create(parameters: &Parameters) -> Result<Self, String> {
        let lie = match parameter(parameters, "lie").unwrap_or("honest") {
            "honest" => Lie::Honest,
            "oversized" => Lie::Oversized,
            "unknown-framework" => Lie::UnknownFramework,
            "double" => Lie::Double,
            "negative" => Lie::Negative,
            "wide" => Lie::Wide,
            "trap-on-initialize" => Lie::TrapOnInitialize,
            "spin" => Lie::Spin,
            "reserved-elsewhere" => Lie::ReservedElsewhere,
            other => {
                return Err(format!(
                    "unknown lie '{other}' (expected honest, oversized, unknown-framework, \
                     double, negative, wide, trap-on-initialize, spin or reserved-elsewhere)"
                ));
            }
        };
        Ok(LiarAllocator {
            lie,
            agents: BTreeMap::new(),
            frameworks: Vec::new(),
            slots: 0,
            reserved: Vec::new(),
            names: BTreeMap::new(),
        })
    }
}

impl LiarAllocator {
    fn offer(framework: (FrameworkId, RoleId), agent: AgentId, resources: Quantities) -> Offer {
        Offer {
            framework: framework.0,
            role: framework.1,
            agent,
            resources,
        }
    }

    /// Whether `role` may be offered slot `i` (unreserved, or reserved for it or an ancestor).
    fn may_take(&self, role: RoleId, i: usize) -> bool {
        match self.reserved.get(i).copied().flatten() {
            None => true,
            Some(r) if r == role => true,
            Some(r) => match (self.names.get(&role), self.names.get(&r)) {
                (Some(name), Some(reserved)) => role_within(name, reserved),
                _ => false,
            },
        }
    }
}

impl AllocatorPolicy for LiarAllocator {
    fn initialize(&mut self, options: Options) {
        #[allow(clippy::panic)]
        if self.lie == Lie::TrapOnInitialize {
            panic!("test-allocator-liar: trap-on-initialize");
        }
        self.slots = options.resource_kinds.len();
        self.reserved = options
            .resource_kinds
            .iter()
            .map(|k| k.reserved_for)
            .collect();
    }
    fn add_role(&mut self, role: RoleId, name: &str) {
        self.names.insert(role, name.to_string());
    }
    fn add_resource_kinds(&mut self, kinds: &[ResourceKind]) {
        self.slots += kinds.len();
        self.reserved.extend(kinds.iter().map(|k| k.reserved_for));
    }
    fn update_weights(&mut self, _weights: &[(RoleId, f64)]) {}
    fn update_quota(&mut self, _role: RoleId, _guarantees: Quantities, _limits: Quantities) {}

    fn add_framework(
        &mut self,
        framework: FrameworkId,
        info: FrameworkInfo,
        _used: &[FrameworkUsage],
        _active: bool,
        _suppressed_roles: &[RoleId],
    ) {
        let role = info.roles.first().copied().unwrap_or(0);
        self.frameworks.push((framework, role));
    }

    fn remove_framework(&mut self, framework: FrameworkId) {
        self.frameworks.retain(|(f, _)| *f != framework);
    }

    fn activate_framework(&mut self, _framework: FrameworkId) {}
    fn deactivate_framework(&mut self, _framework: FrameworkId) {}
    fn update_framework(
        &mut self,
        _framework: FrameworkId,
        _info: FrameworkInfo,
        _suppressed: &[RoleId],
    ) {
    }

    fn add_agent(
        &mut self,
        agent: AgentId,
        _info: AgentInfo,
        total: Quantities,
        used: &[AgentUsage],
    ) {
        let mut allocated = Quantities::zeros(total.len());
        for u in used {
            allocated.add(&u.resources);
        }
        self.agents.insert(agent, Agent { total, allocated });
    }

    fn remove_agent(&mut self, agent: AgentId) {
        self.agents.remove(&agent);
    }

    fn activate_agent(&mut self, _agent: AgentId) {}
    fn deactivate_agent(&mut self, _agent: AgentId) {}

    fn update_agent(&mut self, agent: AgentId, total: Quantities) {
        if let Some(a) = self.agents.get_mut(&agent) {
            a.total = total;
        }
    }

    fn recover_resources(
        &mut self,
        _framework: FrameworkId,
        agent: AgentId,
        _role: RoleId,
        resources: Quantities,
        _refuse_seconds: Option<f64>,
        _now_ms: u64,
    ) {
        if let Some(a) = self.agents.get_mut(&agent) {
            a.allocated.subtract(&resources);
        }
    }

    fn suppress(&mut self, _framework: FrameworkId, _roles: &[RoleId]) {}
    fn revive(&mut self, _framework: FrameworkId, _roles: &[RoleId]) {}
    fn pause(&mut self) {}
    fn resume(&mut self) {}

    fn allocate(&mut self, _now_ms: u64) -> Vec<Offer> {
        if self.lie == Lie::Spin {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        let Some(&first) = self.frameworks.first() else {
            return Vec::new();
        };
        let first_agent = self
            .agents
            .iter()
            .next()
            .map(|(id, a)| (*id, a.total.clone()));
        match self.lie {
            Lie::Honest => {
                let mut offers = Vec::new();
                let others: Vec<usize> = (0..self.reserved.len())
                    .filter(|&i| !self.may_take(first.1, i))
                    .collect();
                for (id, agent) in &mut self.agents {
                    let mut free = agent.total.clone();
                    free.subtract(&agent.allocated);
                    for &i in &others {
                        if let Some(v) = free.0.get_mut(i) {
                            *v = 0.0;
                        }
                    }
                    if !free.is_empty() {
                        agent.allocated.add(&free);
                        offers.push(Self::offer(first, *id, free));
                    }
                }
                offers
            }
            Lie::Oversized => self
                .agents
                .iter()
                .map(|(id, a)| {
                    Self::offer(
                        first,
                        *id,
                        Quantities(a.total.0.iter().map(|v| v * 10.0).collect()),
                    )
                })
                .collect(),
            Lie::UnknownFramework => first_agent
                .map(|(id, total)| Self::offer((UNKNOWN_FRAMEWORK, first.1), id, total))
                .into_iter()
                .collect(),
            Lie::Double => first_agent
                .map(|(id, total)| {
                    vec![
                        Self::offer(first, id, total.clone()),
                        Self::offer(first, id, total),
                    ]
                })
                .unwrap_or_default(),
            Lie::Wide => first_agent
                .map(|(id, total)| {
                    let mut wide = Quantities::zeros(self.slots + 1);
                    wide.0[0] = total.0.first().copied().unwrap_or(0.0).min(1.0);
                    Self::offer(first, id, wide)
                })
                .into_iter()
                .collect(),
            Lie::Negative => first_agent
                .map(|(id, total)| {
                    Self::offer(first, id, Quantities(vec![-1.0; total.len().max(1)]))
                })
                .into_iter()
                .collect(),
            Lie::ReservedElsewhere => first_agent
                .map(|(id, total)| {
                    let mut reserved = Quantities::zeros(self.slots);
                    for (i, r) in self.reserved.iter().enumerate() {
                        if let (Some(_), Some(v)) = (r, reserved.0.get_mut(i)) {
                            *v = total.get(i);
                        }
                    }
                    Self::offer(first, id, reserved)
                })
                .into_iter()
                .collect(),
            Lie::TrapOnInitialize | Lie::Spin => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meseta_types::allocation::{Capabilities, ResourceKind, Sorter};

    fn liar(lie: &str) -> LiarAllocator {
        let mut l = LiarAllocator::create(&[("lie".to_string(), lie.to_string())]).unwrap();
        l.add_agent(1, AgentInfo::default(), Quantities(vec![4.0, 1024.0]), &[]);
        l.add_agent(2, AgentInfo::default(), Quantities(vec![2.0, 512.0]), &[]);
        let info = FrameworkInfo {
            name: "f".into(),
            roles: vec![3],
            capabilities: Capabilities::default(),
        };
        l.add_framework(7, info, &[], true, &[]);
        l
    }

    #[test]
    fn honest_offers_free_resources_once() {
        let mut l = liar("honest");
        let offers = l.allocate(0);
        assert_eq!(offers.len(), 2);
        assert_eq!(
            offers[0],
            Offer {
                framework: 7,
                role: 3,
                agent: 1,
                resources: Quantities(vec![4.0, 1024.0])
            }
        );
        assert!(l.allocate(0).is_empty());
        l.recover_resources(7, 2, 3, Quantities(vec![2.0, 512.0]), None, 0);
        assert_eq!(l.allocate(0).len(), 1);
    }

    #[test]
    fn lies_as_documented() {
        assert_eq!(
            liar("oversized").allocate(0)[1].resources,
            Quantities(vec![20.0, 5120.0])
        );
        assert_eq!(
            liar("unknown-framework").allocate(0)[0].framework,
            UNKNOWN_FRAMEWORK
        );
        let double = liar("double").allocate(0);
        assert_eq!(double.len(), 2);
        assert_eq!(double[0], double[1]);
        assert!(!liar("negative").allocate(0)[0].resources.is_valid());
        let mut wide = liar("wide");
        wide.initialize(Options {
            resource_kinds: ["cpus", "mem"]
                .map(|name| ResourceKind::unreserved(name, false))
                .to_vec(),
            allocation_interval_ms: 1000,
            min_allocatable: vec![],
            fairness_excluded: vec![],
            sorter: Sorter::Drf,
        });
        assert_eq!(
            wide.allocate(0)[0].resources,
            Quantities(vec![1.0, 0.0, 0.0])
        );
        assert!(LiarAllocator::create(&[("lie".into(), "truth".into())]).is_err());
    }

    #[test]
    fn honest_leaves_other_roles_reservations_and_reserved_elsewhere_takes_them() {
        let kinds = |l: &mut LiarAllocator| {
            l.initialize(Options {
                resource_kinds: ["cpus", "mem"]
                    .map(|name| ResourceKind::unreserved(name, false))
                    .to_vec(),
                allocation_interval_ms: 1000,
                min_allocatable: vec![],
                fairness_excluded: vec![],
                sorter: Sorter::Drf,
            });
            l.add_role(3, "ops");
            l.add_role(4, "eng");
            l.add_resource_kinds(&[ResourceKind {
                name: "cpus".into(),
                revocable: false,
                reserved_for: Some(4),
            }]);
            l.update_agent(1, Quantities(vec![4.0, 1024.0, 2.0]));
        };
        let mut honest = liar("honest");
        kinds(&mut honest);
        let offers = honest.allocate(0);
        assert_eq!(offers[0].resources, Quantities(vec![4.0, 1024.0, 0.0]));
        let mut lying = liar("reserved-elsewhere");
        kinds(&mut lying);
        assert_eq!(
            lying.allocate(0)[0].resources,
            Quantities(vec![0.0, 0.0, 2.0])
        );
    }
}
