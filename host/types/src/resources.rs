//! Named resources, attributes, labels and environment variables (Mesos' shapes).

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValueRange {
    pub begin: u64,
    pub end: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ResourceValue {
    Scalar(f64),
    Ranges(Vec<ValueRange>),
    Set(Vec<String>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    pub name: String,
    pub value: ResourceValue,
    /// The role the resource is reserved for (the innermost of `reservations`); `None` means
    /// unreserved (the default role `*`).
    pub role: Option<String>,
    pub revocable: bool,
    /// The reservation stack, outermost first (Mesos' post-refinement `reservations`). Empty
    /// with `role` set means one static reservation for `role` (see [`Resource::stack`]).
    pub reservations: Vec<Reservation>,
    /// A persistent volume: only on `disk` resources.
    pub disk: Option<PersistentVolume>,
}

/// Whether a reservation comes from the agent's `--resources` or from RESERVE.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReservationKind {
    #[default]
    Static,
    Dynamic,
}

/// One level of a reservation stack (Mesos' `Resource.ReservationInfo`).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reservation {
    pub kind: ReservationKind,
    pub role: String,
    pub principal: Option<String>,
    /// Reservation labels, in the order given.
    pub labels: Vec<Label>,
}

/// A persistent volume on a disk resource (Mesos' `DiskInfo` with `persistence` and `volume`).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PersistentVolume {
    /// `persistence.id`, unique per role on an agent.
    pub id: String,
    /// `persistence.principal`: who created it.
    pub principal: Option<String>,
    /// `volume.container_path`: where it appears in a task's sandbox (relative).
    pub container_path: String,
    /// `volume.mode` `RO`.
    pub read_only: bool,
}

impl Resource {
    pub fn scalar(name: &str, value: f64) -> Self {
        Resource {
            name: name.to_string(),
            value: ResourceValue::Scalar(value),
            role: None,
            revocable: false,
            reservations: Vec::new(),
            disk: None,
        }
    }

    /// The reservation stack, outermost first: `reservations`, or one static reservation for
    /// `role` when only `role` is set (the pre-refinement form), or nothing when unreserved.
    pub fn stack(&self) -> Vec<Reservation> {
        match (&self.role, self.reservations.is_empty()) {
            (_, false) => self.reservations.clone(),
            (Some(role), true) => vec![Reservation {
                kind: ReservationKind::Static,
                role: role.clone(),
                principal: None,
                labels: Vec::new(),
            }],
            (None, true) => Vec::new(),
        }
    }

    /// `role` made consistent with `reservations` (the innermost role).
    pub fn with_stack(mut self, stack: Vec<Reservation>) -> Self {
        self.role = stack.last().map(|r| r.role.clone());
        self.reservations = stack;
        self
    }

    pub fn as_scalar(&self) -> Option<f64> {
        match self.value {
            ResourceValue::Scalar(v) => Some(v),
            _ => None,
        }
    }
}

/// Sum of the scalar resources named `name`.
pub fn scalar_total(resources: &[Resource], name: &str) -> f64 {
    resources
        .iter()
        .filter(|r| r.name == name)
        .filter_map(Resource::as_scalar)
        .sum()
}

/// Whether `role` is a valid Mesos role name (Mesos' `roles::validate`): `*`, or `/`-separated
/// components, none empty, `.`, `..` or `*`, none starting with `-`, and no tab, line feed,
/// vertical tab, form feed, carriage return, space or DEL anywhere; no leading or trailing `/`.
pub fn validate_role(role: &str) -> Result<(), String> {
    if role == "*" {
        return Ok(());
    }
    if role.is_empty() {
        return Err("a role name must not be empty".into());
    }
    if role.starts_with('/') || role.ends_with('/') {
        return Err(format!("role '{role}' must not start or end with '/'"));
    }
    if let Some(c) = role
        .chars()
        .find(|c| matches!(c, '\t' | '\n' | '\x0b' | '\x0c' | '\r' | ' ' | '\x7f'))
    {
        return Err(format!(
            "role '{role}' contains the invalid character {c:?} (no whitespace or DEL)"
        ));
    }
    for part in role.split('/') {
        if part.is_empty() {
            return Err(format!("role '{role}' has an empty component ('//')"));
        }
        if part == "." || part == ".." || part == "*" {
            return Err(format!(
                "role '{role}' has the component '{part}' ('.', '..' and '*' are not allowed)"
            ));
        }
        if part.starts_with('-') {
            return Err(format!(
                "role '{role}' has the component '{part}', which starts with '-'"
            ));
        }
    }
    Ok(())
}

/// Parses Mesos' resource text, `cpus:14;mem(eng):1024;ports:[31000-32000]`, into resources.
/// `name(role)` is a static reservation for `role`.
pub fn parse_resources(text: &str) -> Result<Vec<Resource>, String> {
    parse_resources_with_default_role(text, None)
}

/// [`parse_resources`], with the resources that name no role statically reserved for
/// `default_role` (Mesos' `--default_role`; `None` or `*`: unreserved). `name(*)` stays
/// unreserved. Every role is checked with [`validate_role`].
pub fn parse_resources_with_default_role(
    text: &str,
    default_role: Option<&str>,
) -> Result<Vec<Resource>, String> {
    let mut out = Vec::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = part
            .split_once(':')
            .ok_or_else(|| format!("resource '{part}' is not of the form name:value"))?;
        let (name, role) = match name.split_once('(') {
            Some((n, r)) => (n.trim(), Some(r.trim_end_matches(')').to_string())),
            None => (name.trim(), None),
        };
        let value = value.trim();
        let value = if let Some(inner) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
            let mut ranges = Vec::new();
            for range in inner.split(',').map(str::trim).filter(|r| !r.is_empty()) {
                let (b, e) = range.split_once('-').unwrap_or((range, range));
                let begin = b.trim().parse::<u64>();
                let end = e.trim().parse::<u64>();
                match (begin, end) {
                    (Ok(begin), Ok(end)) if begin <= end => ranges.push(ValueRange { begin, end }),
                    _ => return Err(format!("resource '{name}' has a bad range '{range}'")),
                }
            }
            ResourceValue::Ranges(ranges)
        } else if let Some(inner) = value.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
            ResourceValue::Set(inner.split(',').map(|s| s.trim().to_string()).collect())
        } else {
            let v = value
                .parse::<f64>()
                .map_err(|_| format!("resource '{name}' has a non-numeric value '{value}'"))?;
            if !v.is_finite() || v < 0.0 {
                return Err(format!(
                    "resource '{name}' must be a non-negative number, got '{value}'"
                ));
            }
            ResourceValue::Scalar(v)
        };
        if let Some(role) = &role {
            validate_role(role).map_err(|e| format!("resource '{name}': {e}"))?;
        }
        let role = role
            .or_else(|| default_role.map(str::to_string))
            .filter(|r| r != "*");
        let resource = Resource {
            name: name.to_string(),
            value,
            role: None,
            revocable: false,
            reservations: Vec::new(),
            disk: None,
        };
        let stack = role
            .map(|role| {
                vec![Reservation {
                    role,
                    ..Reservation::default()
                }]
            })
            .unwrap_or_default();
        out.push(resource.with_stack(stack));
    }
    Ok(out)
}

#[derive(Clone, Debug, PartialEq)]
pub enum AttributeValue {
    Scalar(f64),
    Ranges(Vec<ValueRange>),
    Set(Vec<String>),
    Text(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub value: AttributeValue,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    pub key: String,
    pub value: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mesos_resource_text() {
        let r =
            parse_resources("cpus:14;mem(prod):1024; ports:[31000-32000, 40000-40010]").unwrap();
        assert_eq!(r[0], Resource::scalar("cpus", 14.0));
        assert_eq!(r[1].role.as_deref(), Some("prod"));
        assert_eq!(r[1].stack()[0].kind, ReservationKind::Static);
        assert_eq!(r[1].stack(), r[1].reservations);
        assert!(parse_resources("cpus(*):2").unwrap()[0].role.is_none());
        assert_eq!(
            r[2].value,
            ResourceValue::Ranges(vec![
                ValueRange {
                    begin: 31000,
                    end: 32000
                },
                ValueRange {
                    begin: 40000,
                    end: 40010
                }
            ])
        );
        assert_eq!(scalar_total(&r, "cpus"), 14.0);
        assert!(
            parse_resources("cpus=4")
                .unwrap_err()
                .contains("name:value")
        );
        let d =
            parse_resources_with_default_role("cpus:2;mem(*):3;disk(a/b):4", Some("eng")).unwrap();
        assert_eq!(d[0].role.as_deref(), Some("eng"));
        assert_eq!(d[0].stack()[0].kind, ReservationKind::Static);
        assert_eq!(d[1].role, None);
        assert_eq!(d[2].role.as_deref(), Some("a/b"));
        assert!(
            parse_resources("cpus(a b):1")
                .unwrap_err()
                .contains("'a b'")
        );
        assert!(
            parse_resources("cpus:-1")
                .unwrap_err()
                .contains("non-negative")
        );
    }

    #[test]
    fn roles_follow_mesos() {
        for ok in ["*", "eng", "eng/backend", "a.b", "a-b", "x/y/z"] {
            assert!(validate_role(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "/eng", "eng/", "a//b", ".", "..", "a/../b", "a/*", "-a", "a/-b", "a b", "a\tb",
            "a\u{7f}",
        ] {
            assert!(validate_role(bad).is_err(), "{bad:?}");
        }
    }
}
