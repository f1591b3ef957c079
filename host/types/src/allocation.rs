//! The allocator's view of the cluster: handles, numeric vectors, and the policy trait that
//! mirrors Mesos' `Allocator` interface.

use crate::Quantities;

pub type AgentId = u32;
pub type FrameworkId = u32;
pub type RoleId = u32;

/// The meaning of one slot of every quantities vector.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceKind {
    pub name: String,
    pub revocable: bool,
    /// The role the slot's resources are reserved to (the innermost role of their reservation
    /// stack), `None` for unreserved resources. Such a slot may be offered only to that role or
    /// its sub-roles (`eng/backend` for `eng`).
    pub reserved_for: Option<RoleId>,
}

impl ResourceKind {
    /// An unreserved kind.
    pub fn unreserved(name: impl Into<String>, revocable: bool) -> Self {
        ResourceKind {
            name: name.into(),
            revocable,
            reserved_for: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Sorter {
    #[default]
    Drf,
    Random,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub resource_kinds: Vec<ResourceKind>,
    pub allocation_interval_ms: u64,
    pub min_allocatable: Vec<Quantities>,
    pub fairness_excluded: Vec<u32>,
    pub sorter: Sorter,
}

/// Framework capabilities the allocator cares about, as bit flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities(pub u8);

impl Capabilities {
    pub const REVOCABLE_RESOURCES: u8 = 1 << 0;
    pub const MULTI_ROLE: u8 = 1 << 1;
    pub const PARTITION_AWARE: u8 = 1 << 2;
    pub const GPU_RESOURCES: u8 = 1 << 3;
    pub const RESERVATION_REFINEMENT: u8 = 1 << 4;
    pub const REGION_AWARE: u8 = 1 << 5;

    pub fn has(self, flag: u8) -> bool {
        self.0 & flag != 0
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct FrameworkInfo {
    pub name: String,
    pub roles: Vec<RoleId>,
    pub capabilities: Capabilities,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct AgentInfo {
    pub hostname: String,
    pub attributes: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FrameworkUsage {
    pub agent: AgentId,
    pub role: RoleId,
    pub resources: Quantities,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AgentUsage {
    pub framework: FrameworkId,
    pub role: RoleId,
    pub resources: Quantities,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Offer {
    pub framework: FrameworkId,
    pub role: RoleId,
    pub agent: AgentId,
    pub resources: Quantities,
}

/// Where a round's offers go, one at a time: [`AllocatorPolicy::allocate_into`]. A `Vec<Offer>`
/// collects them as [`Offer`]s; a Wasm module's SDK writes them straight into the columns its
/// answer crosses the boundary in, with no vector allocated per offer.
pub trait OfferSink {
    fn offer(&mut self, framework: FrameworkId, role: RoleId, agent: AgentId, resources: &[f64]);
}

impl OfferSink for Vec<Offer> {
    fn offer(&mut self, framework: FrameworkId, role: RoleId, agent: AgentId, resources: &[f64]) {
        self.push(Offer {
            framework,
            role,
            agent,
            resources: Quantities(resources.to_vec()),
        });
    }
}

/// An allocation policy. The master calls these in the order events happen; `allocate` returns
/// the offers of one round. Implementations keep their own state and are never sent the whole
/// cluster again.
pub trait AllocatorPolicy {
    fn initialize(&mut self, options: Options);
    fn add_role(&mut self, role: RoleId, name: &str);
    /// Appends `kinds` to the slot table (`Options::resource_kinds`, then every earlier call):
    /// later vectors may be as wide as the new table, and a shorter one means 0 in the slots it
    /// lacks. A kind's `reserved_for` role has been named by `add_role` before.
    fn add_resource_kinds(&mut self, kinds: &[ResourceKind]);
    fn update_weights(&mut self, weights: &[(RoleId, f64)]);
    fn update_quota(&mut self, role: RoleId, guarantees: Quantities, limits: Quantities);
    fn add_framework(
        &mut self,
        framework: FrameworkId,
        info: FrameworkInfo,
        used: &[FrameworkUsage],
        active: bool,
        suppressed_roles: &[RoleId],
    );
    fn remove_framework(&mut self, framework: FrameworkId);
    fn activate_framework(&mut self, framework: FrameworkId);
    fn deactivate_framework(&mut self, framework: FrameworkId);
    fn update_framework(
        &mut self,
        framework: FrameworkId,
        info: FrameworkInfo,
        suppressed_roles: &[RoleId],
    );
    fn add_agent(
        &mut self,
        agent: AgentId,
        info: AgentInfo,
        total: Quantities,
        used: &[AgentUsage],
    );
    fn remove_agent(&mut self, agent: AgentId);
    fn activate_agent(&mut self, agent: AgentId);
    fn deactivate_agent(&mut self, agent: AgentId);
    fn update_agent(&mut self, agent: AgentId, total: Quantities);
    #[allow(clippy::too_many_arguments)]
    fn recover_resources(
        &mut self,
        framework: FrameworkId,
        agent: AgentId,
        role: RoleId,
        resources: Quantities,
        refuse_seconds: Option<f64>,
        now_ms: u64,
    );
    fn suppress(&mut self, framework: FrameworkId, roles: &[RoleId]);
    fn revive(&mut self, framework: FrameworkId, roles: &[RoleId]);
    fn pause(&mut self);
    fn resume(&mut self);
    fn allocate(&mut self, now_ms: u64) -> Vec<Offer>;

    /// One allocation round, as `allocate`, handing each offer to `out` in order. The default
    /// collects `allocate`'s offers; a policy that builds offers one by one implements this
    /// instead (and `allocate` on top of it) to spare a vector per offer.
    fn allocate_into(&mut self, now_ms: u64, out: &mut dyn OfferSink) {
        for o in self.allocate(now_ms) {
            out.offer(o.framework, o.role, o.agent, &o.resources.0);
        }
    }
}

/// Whether the role named `role` is `ancestor` or one of its sub-roles: role names are paths,
/// `eng/backend` is within `eng` (but `engineering` is not).
pub fn role_within(role: &str, ancestor: &str) -> bool {
    role.strip_prefix(ancestor)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::role_within;

    #[test]
    fn a_role_is_within_itself_and_its_ancestors_only() {
        assert!(role_within("eng", "eng"));
        assert!(role_within("eng/backend", "eng"));
        assert!(role_within("eng/backend/db", "eng/backend"));
        assert!(!role_within("engineering", "eng"));
        assert!(!role_within("eng", "eng/backend"));
        assert!(!role_within("ops", "eng"));
    }
}
