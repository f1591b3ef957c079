//! Resource arithmetic: the [`meseta_types`] helpers plus a few conveniences for estimators,
//! isolators and hooks.

pub use meseta_types::Quantities;
pub use meseta_types::quantities::EPSILON;
pub use meseta_types::resources::{
    Attribute, AttributeValue, EnvVar, Label, Resource, ResourceValue, ValueRange, parse_resources,
    scalar_total,
};

use std::collections::BTreeMap;

/// The same resources, marked revocable (what an estimator returns).
pub fn revocable(resources: impl IntoIterator<Item = Resource>) -> Vec<Resource> {
    resources
        .into_iter()
        .map(|mut r| {
            r.revocable = true;
            r
        })
        .collect()
}

/// Scalar amounts summed by resource name (roles and revocability merged), in name order.
pub fn scalar_totals(resources: &[Resource]) -> BTreeMap<String, f64> {
    let mut totals = BTreeMap::new();
    for r in resources {
        if let Some(v) = r.as_scalar() {
            *totals.entry(r.name.clone()).or_insert(0.0) += v;
        }
    }
    totals
}

/// `minuend - subtrahend` on scalars of the same name, clamped at zero; resources left at zero
/// are dropped. Non-scalar resources of `minuend` are kept unchanged.
pub fn subtract_scalars(minuend: &[Resource], subtrahend: &[Resource]) -> Vec<Resource> {
    let mut taken = scalar_totals(subtrahend);
    let mut out = Vec::with_capacity(minuend.len());
    for r in minuend {
        match r.value {
            ResourceValue::Scalar(v) => {
                let debt = taken.get_mut(&r.name);
                let left = match debt {
                    Some(d) => {
                        let used = d.min(v).max(0.0);
                        *d -= used;
                        v - used
                    }
                    None => v,
                };
                if left > EPSILON {
                    out.push(Resource {
                        value: ResourceValue::Scalar(left),
                        ..r.clone()
                    });
                }
            }
            _ => out.push(r.clone()),
        }
    }
    out
}

/// The labels with `key` set to `value`: an existing label with that key is replaced in place
/// (later duplicates dropped), otherwise the label is appended.
pub fn set_label(labels: &mut Vec<Label>, key: &str, value: Option<String>) {
    match labels.iter().position(|l| l.key == key) {
        Some(i) => {
            labels[i].value = value;
            let mut seen = false;
            labels.retain(|l| {
                if l.key != key {
                    return true;
                }
                let keep = !seen;
                seen = true;
                keep
            });
        }
        None => labels.push(Label {
            key: key.to_string(),
            value,
        }),
    }
}

/// The environment with `name` set to `value`: an existing variable of that name is replaced in
/// place (later duplicates dropped), otherwise the variable is appended.
pub fn set_env(environment: &mut Vec<EnvVar>, name: &str, value: &str) {
    match environment.iter().position(|v| v.name == name) {
        Some(i) => {
            environment[i].value = value.to_string();
            let mut seen = false;
            environment.retain(|v| {
                if v.name != name {
                    return true;
                }
                let keep = !seen;
                seen = true;
                keep
            });
        }
        None => environment.push(EnvVar {
            name: name.to_string(),
            value: value.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtracts_scalars_by_name_and_drops_empty() {
        let total = vec![
            Resource::scalar("cpus", 4.0),
            Resource::scalar("mem", 1024.0),
        ];
        let used = vec![
            Resource::scalar("cpus", 1.5),
            Resource::scalar("mem", 2048.0),
        ];
        assert_eq!(
            subtract_scalars(&total, &used),
            vec![Resource::scalar("cpus", 2.5)]
        );
        assert!(revocable(total).iter().all(|r| r.revocable));
    }

    #[test]
    fn sets_labels_and_env() {
        let mut labels = vec![
            Label {
                key: "a".into(),
                value: Some("1".into()),
            },
            Label {
                key: "b".into(),
                value: None,
            },
            Label {
                key: "a".into(),
                value: Some("2".into()),
            },
        ];
        set_label(&mut labels, "a", Some("x".into()));
        set_label(&mut labels, "c", None);
        let keys: Vec<_> = labels
            .iter()
            .map(|l| (l.key.as_str(), l.value.as_deref()))
            .collect();
        assert_eq!(keys, vec![("a", Some("x")), ("b", None), ("c", None)]);

        let mut env = vec![EnvVar {
            name: "A".into(),
            value: "1".into(),
        }];
        set_env(&mut env, "A", "2");
        set_env(&mut env, "B", "3");
        assert_eq!(
            env,
            vec![
                EnvVar {
                    name: "A".into(),
                    value: "2".into()
                },
                EnvVar {
                    name: "B".into(),
                    value: "3".into()
                }
            ]
        );
    }
}
