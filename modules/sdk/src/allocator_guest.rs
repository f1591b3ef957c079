//! The guest side of the allocator worlds, one body for every version: the conversions from
//! the generated types and the `Guest` implementation over any [`AllocatorPolicy`]. Each
//! version's module brings its bindings into scope as `w` and says how a round's offers are
//! answered.

use std::cell::Cell;

std::thread_local! {
    /// The number of resource kinds (`options.resource-kinds`), set by `initialize` and grown
    /// by `add-resource-kinds`.
    pub(crate) static SLOTS: Cell<usize> = const { Cell::new(0) };
}

/// Implements the conversions and `w::Guest` for the `w` in scope; `allocate` answers
/// `$round(policy, now_ms)`, of type `$answer` (`$empty` before `init`). With `reserved`
/// (version 3) the kinds carry `reserved-for` and `add-resource-kinds` is exported; before it
/// every kind is unreserved.
macro_rules! allocator_guest {
    (reserved, $answer:ty, $empty:expr, $round:path) => {
        impl From<w::ResourceKind> for a::ResourceKind {
            fn from(v: w::ResourceKind) -> Self {
                a::ResourceKind {
                    name: v.name,
                    revocable: v.revocable,
                    reserved_for: v.reserved_for,
                }
            }
        }

        $crate::allocator_guest::allocator_guest!(@calls $answer, $empty, $round, {
            fn add_resource_kinds(kinds: Vec<w::ResourceKind>) {
                let added = kinds.len();
                let kinds: Vec<a::ResourceKind> = all(kinds);
                with_or_trap::<C, _>("add-resource-kinds", |p| p.add_resource_kinds(&kinds));
                let slots = &$crate::allocator_guest::SLOTS;
                slots.set(slots.get() + added);
            }
        });
    };
    ($answer:ty, $empty:expr, $round:path) => {
        impl From<w::ResourceKind> for a::ResourceKind {
            fn from(v: w::ResourceKind) -> Self {
                a::ResourceKind {
                    name: v.name,
                    revocable: v.revocable,
                    reserved_for: None,
                }
            }
        }

        $crate::allocator_guest::allocator_guest!(@calls $answer, $empty, $round, {});
    };
    (@calls $answer:ty, $empty:expr, $round:path, { $($extra:tt)* }) => {

        impl From<w::Sorter> for a::Sorter {
            fn from(v: w::Sorter) -> Self {
                match v {
                    w::Sorter::Drf => a::Sorter::Drf,
                    w::Sorter::Random => a::Sorter::Random,
                }
            }
        }

        impl From<w::Options> for a::Options {
            fn from(v: w::Options) -> Self {
                a::Options {
                    resource_kinds: all(v.resource_kinds),
                    allocation_interval_ms: v.allocation_interval_ms,
                    min_allocatable: v.min_allocatable.into_iter().map(Quantities).collect(),
                    fairness_excluded: v.fairness_excluded,
                    sorter: v.sorter.into(),
                }
            }
        }

        impl From<w::FrameworkInfo> for a::FrameworkInfo {
            fn from(v: w::FrameworkInfo) -> Self {
                a::FrameworkInfo {
                    name: v.name,
                    roles: v.roles,
                    capabilities: a::Capabilities(v.capabilities.bits()),
                }
            }
        }

        impl From<w::AgentInfo> for a::AgentInfo {
            fn from(v: w::AgentInfo) -> Self {
                a::AgentInfo {
                    hostname: v.hostname,
                    attributes: v.attributes,
                }
            }
        }

        impl From<w::FrameworkUsage> for a::FrameworkUsage {
            fn from(v: w::FrameworkUsage) -> Self {
                a::FrameworkUsage {
                    agent: v.agent,
                    role: v.role,
                    resources: Quantities(v.resources),
                }
            }
        }

        impl From<w::AgentUsage> for a::AgentUsage {
            fn from(v: w::AgentUsage) -> Self {
                a::AgentUsage {
                    framework: v.framework,
                    role: v.role,
                    resources: Quantities(v.resources),
                }
            }
        }

        impl<C> w::Guest for C
        where
            C: Instance,
            C::Policy: AllocatorPolicy + Create,
        {
            fn init(parameters: Vec<Parameter>) -> Result<(), String> {
                init::<C>(parameters)
            }

            fn initialize(options: w::Options) {
                $crate::allocator_guest::SLOTS.set(options.resource_kinds.len());
                with_or_trap::<C, _>("initialize", |p| p.initialize(options.into()));
            }

            fn add_role(role: a::RoleId, name: String) {
                with_or_trap::<C, _>("add-role", |p| p.add_role(role, &name));
            }

            $($extra)*

            fn update_weights(weights: Vec<(a::RoleId, f64)>) {
                with_or_trap::<C, _>("update-weights", |p| p.update_weights(&weights));
            }

            fn update_quota(role: a::RoleId, guarantees: Vec<f64>, limits: Vec<f64>) {
                with_or_trap::<C, _>("update-quota", |p| {
                    p.update_quota(role, Quantities(guarantees), Quantities(limits))
                });
            }

            fn add_framework(
                framework: a::FrameworkId,
                info: w::FrameworkInfo,
                used: Vec<w::FrameworkUsage>,
                active: bool,
                suppressed_roles: Vec<a::RoleId>,
            ) {
                let used: Vec<a::FrameworkUsage> = all(used);
                with_or_trap::<C, _>("add-framework", |p| {
                    p.add_framework(framework, info.into(), &used, active, &suppressed_roles)
                });
            }

            fn remove_framework(framework: a::FrameworkId) {
                with_or_trap::<C, _>("remove-framework", |p| p.remove_framework(framework));
            }

            fn activate_framework(framework: a::FrameworkId) {
                with_or_trap::<C, _>("activate-framework", |p| p.activate_framework(framework));
            }

            fn deactivate_framework(framework: a::FrameworkId) {
                with_or_trap::<C, _>("deactivate-framework", |p| {
                    p.deactivate_framework(framework)
                });
            }

            fn update_framework(
                framework: a::FrameworkId,
                info: w::FrameworkInfo,
                suppressed_roles: Vec<a::RoleId>,
            ) {
                with_or_trap::<C, _>("update-framework", |p| {
                    p.update_framework(framework, info.into(), &suppressed_roles)
                });
            }

            fn add_agent(
                agent: a::AgentId,
                info: w::AgentInfo,
                total: Vec<f64>,
                used: Vec<w::AgentUsage>,
            ) {
                let used: Vec<a::AgentUsage> = all(used);
                with_or_trap::<C, _>("add-agent", |p| {
                    p.add_agent(agent, info.into(), Quantities(total), &used)
                });
            }

            fn remove_agent(agent: a::AgentId) {
                with_or_trap::<C, _>("remove-agent", |p| p.remove_agent(agent));
            }

            fn activate_agent(agent: a::AgentId) {
                with_or_trap::<C, _>("activate-agent", |p| p.activate_agent(agent));
            }

            fn deactivate_agent(agent: a::AgentId) {
                with_or_trap::<C, _>("deactivate-agent", |p| p.deactivate_agent(agent));
            }

            fn update_agent(agent: a::AgentId, total: Vec<f64>) {
                with_or_trap::<C, _>("update-agent", |p| p.update_agent(agent, Quantities(total)));
            }

            fn recover_resources(
                framework: a::FrameworkId,
                agent: a::AgentId,
                role: a::RoleId,
                resources: Vec<f64>,
                refuse_seconds: Option<f64>,
                now_ms: u64,
            ) {
                with_or_trap::<C, _>("recover-resources", |p| {
                    p.recover_resources(
                        framework,
                        agent,
                        role,
                        Quantities(resources),
                        refuse_seconds,
                        now_ms,
                    )
                });
            }

            fn suppress(framework: a::FrameworkId, roles: Vec<a::RoleId>) {
                with_or_trap::<C, _>("suppress", |p| p.suppress(framework, &roles));
            }

            fn revive(framework: a::FrameworkId, roles: Vec<a::RoleId>) {
                with_or_trap::<C, _>("revive", |p| p.revive(framework, &roles));
            }

            fn pause() {
                with_or_trap::<C, _>("pause", |p| p.pause());
            }

            fn resume() {
                with_or_trap::<C, _>("resume", |p| p.resume());
            }

            fn allocate(now_ms: u64) -> $answer {
                with_or::<C, _>($empty, |p| $round(p, now_ms))
            }
        }
    };
}

pub(crate) use allocator_guest;
