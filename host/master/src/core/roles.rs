//! Roles, weights and quota.

use meseta_types::Quantities;
use meseta_types::allocation as alloc;

use super::{AllocatorCall, Core, Quota};

/// Valid Mesos role name (see Mesos `roles::validate`).
pub fn validate_role(role: &str) -> Result<(), String> {
    if role == "*" {
        return Ok(());
    }
    if role.is_empty() {
        return Err("role name must not be empty".into());
    }
    if role.starts_with('/') || role.ends_with('/') {
        return Err(format!("role '{role}' must not start or end with '/'"));
    }
    for part in role.split('/') {
        if part.is_empty() || part == "." || part == ".." || part.starts_with('-') {
            return Err(format!(
                "role '{role}' has an invalid path component '{part}'"
            ));
        }
        if part == "*" {
            return Err(format!("role '{role}' must not contain '*' as a component"));
        }
        if part
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
        {
            return Err(format!(
                "role '{role}' must not contain whitespace, control characters or backslashes"
            ));
        }
    }
    Ok(())
}

impl Core {
    /// The allocator's handle of `role`, added to the allocator on first use.
    pub fn role_handle(&mut self, role: &str) -> alloc::RoleId {
        if let Some(h) = self.roles.get(role) {
            return *h;
        }
        let h = self.roles.len() as alloc::RoleId;
        self.roles.insert(role.to_string(), h);
        self.allocator(AllocatorCall::AddRole {
            role: h,
            name: role.to_string(),
        });
        h
    }

    pub(super) fn set_weights(&mut self, weights: &[(String, f64)]) {
        let mut handles = Vec::new();
        for (role, w) in weights {
            let h = self.role_handle(role);
            self.weights.insert(role.clone(), *w);
            handles.push((h, *w));
        }
        if !handles.is_empty() {
            self.allocator(AllocatorCall::UpdateWeights(handles));
            self.trigger_allocation();
        }
    }

    /// UPDATE_QUOTA: limits clip what the role's offers may reach (a role `a/b` also counts
    /// against `a`); resources without a limit are unlimited. Guarantees are recorded and
    /// shown but not reserved (Mesos deprecated guarantee-only quota in 1.9).
    pub(super) fn set_quota(&mut self, role: &str, quota: Quota) {
        let n = self.slots.len();
        let mut guarantees = Quantities::zeros(n);
        let mut limits = Quantities(vec![f64::INFINITY; n]);
        for (name, v) in &quota.guarantees {
            if let Some(slot) = self.slots.slot(name, false) {
                guarantees.0[slot] = *v;
            }
        }
        for (name, v) in &quota.limits {
            if let Some(slot) = self.slots.slot(name, false) {
                limits.0[slot] = *v;
            }
        }
        let h = self.role_handle(role);
        self.allocator(AllocatorCall::UpdateQuota {
            role: h,
            guarantees,
            limits,
        });
        if quota.guarantees.is_empty() && quota.limits.is_empty() {
            self.quotas.remove(role);
        } else {
            self.quotas.insert(role.to_string(), quota);
        }
        self.trigger_allocation();
    }

    /// What [`Core::set_quota`] refuses, checked before the registry stores a quota.
    pub fn check_quota(&self, role: &str, quota: &Quota) -> Result<(), String> {
        validate_role(role)?;
        if role == "*" {
            return Err("quota cannot be set for role '*'".into());
        }
        for (name, v) in quota.guarantees.iter().chain(quota.limits.iter()) {
            if !v.is_finite() || *v < 0.0 {
                return Err(format!(
                    "quota of role '{role}': '{name}' must be a non-negative number"
                ));
            }
            if self.slots.slot(name, false).is_none() {
                return Err(format!(
                    "quota of role '{role}': unknown resource '{name}' (quota applies to {})",
                    self.slots
                        .kinds()
                        .iter()
                        .filter(|k| !k.revocable)
                        .map(|k| k.name.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        if quota
            .guarantees
            .iter()
            .any(|(k, g)| quota.limits.get(k).is_some_and(|l| g > l))
        {
            return Err(format!(
                "quota of role '{role}': a guarantee exceeds its limit"
            ));
        }
        Ok(())
    }

    /// Mesos' overcommit check for UPDATE_QUOTA without `force`: the guarantees, with
    /// `updates` applied, must fit in the registered agents' non-revocable capacity. Roles
    /// under a guaranteed ancestor are counted in it, not again.
    pub fn check_guarantee_capacity(&self, updates: &[(String, Quota)]) -> Result<(), String> {
        let mut quotas = self.quotas.clone();
        for (role, quota) in updates {
            quotas.insert(role.clone(), quota.clone());
        }
        let guaranteed = |role: &str| quotas.get(role).is_some_and(|q| !q.guarantees.is_empty());
        let mut total: std::collections::BTreeMap<&str, f64> = Default::default();
        for (role, quota) in &quotas {
            let mut ancestors = role.match_indices('/').map(|(i, _)| &role[..i]);
            if ancestors.any(guaranteed) {
                continue;
            }
            for (name, v) in &quota.guarantees {
                *total.entry(name.as_str()).or_default() += v;
            }
        }
        for (name, sum) in total {
            let capacity: f64 = self.agents.values().map(|a| a.total.scalar(name)).sum();
            if sum > capacity + meseta_types::quantities::EPSILON {
                return Err(format!(
                    "Total quota guarantees of '{name}' ({sum}) exceed the registered agents' \
                     capacity ({capacity}): set 'force' to true to set them anyway"
                ));
            }
        }
        Ok(())
    }
}
