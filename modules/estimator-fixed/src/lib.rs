//! `estimator-fixed`: Mesos' `FixedResourceEstimator` as a Meseta module.
//!
//! The required parameter `resources` (Mesos resource text, e.g. `cpus:14;mem:1024`) is the
//! amount the agent may oversubscribe. Each `oversubscribable` call returns those resources,
//! marked revocable, minus the revocable resources already allocated to executors (matched by
//! resource name, clamped at zero; resources left at zero are omitted, as Mesos' `Resources`
//! subtraction drops empty resources).
//!
//! The policy is plain Rust (`FixedEstimator`), linked natively by the host as the native twin;
//! for `wasm32` the crate also exports it as a `resource-estimator` component.

use meseta_types::oversubscription::{EstimatorPolicy, ResourceUsage};
use meseta_types::quantities::EPSILON;
use meseta_types::resources::{Resource, ResourceValue, ValueRange, parse_resources};
use meseta_types::{Create, Parameters, parameter};

const EXAMPLE: &str = "e.g. {\"key\": \"resources\", \"value\": \"cpus:14;mem:1024\"}";

/// Offers a fixed amount of revocable resources.
#[derive(Clone, Debug, PartialEq)]
pub struct FixedEstimator {
    resources: Vec<Resource>,
}

impl FixedEstimator {
    /// The fixed resources (revocable), before subtracting what is in use.
    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }
}

impl Create for FixedEstimator {
    fn create(parameters: &Parameters) -> Result<Self, String> {
        let text = parameter(parameters, "resources")
            .ok_or_else(|| format!("parameter 'resources' is required, {EXAMPLE}"))?;
        let resources = parse_resources(text)
            .map_err(|e| format!("parameter 'resources' is invalid: {e} ({EXAMPLE})"))?;
        if resources.is_empty() {
            return Err(format!(
                "parameter 'resources' names no resource ({EXAMPLE})"
            ));
        }
        let resources = resources
            .into_iter()
            .map(|mut r| {
                r.revocable = true;
                r
            })
            .collect();
        Ok(FixedEstimator { resources })
    }
}

impl EstimatorPolicy for FixedEstimator {
    fn oversubscribable(&mut self, usage: &ResourceUsage) -> Result<Vec<Resource>, String> {
        let mut left = self.resources.clone();
        let allocated = usage
            .executors
            .iter()
            .flat_map(|e| e.allocated.iter())
            .filter(|r| r.revocable);
        for used in allocated {
            subtract(&mut left, used);
        }
        left.retain(|r| !is_empty(r));
        Ok(left)
    }
}

/// Takes `used` out of the resources of the same name, first come first served.
fn subtract(from: &mut [Resource], used: &Resource) {
    match &used.value {
        ResourceValue::Scalar(amount) => {
            let mut debt = *amount;
            for r in from.iter_mut().filter(|r| r.name == used.name) {
                if let ResourceValue::Scalar(v) = &mut r.value {
                    let take = debt.min(*v).max(0.0);
                    *v -= take;
                    if *v < EPSILON {
                        *v = 0.0;
                    }
                    debt -= take;
                }
                if debt <= EPSILON {
                    break;
                }
            }
        }
        ResourceValue::Ranges(ranges) => {
            for r in from.iter_mut().filter(|r| r.name == used.name) {
                if let ResourceValue::Ranges(have) = &mut r.value {
                    for taken in ranges {
                        *have = remove_range(have, *taken);
                    }
                }
            }
        }
        ResourceValue::Set(items) => {
            for r in from.iter_mut().filter(|r| r.name == used.name) {
                if let ResourceValue::Set(have) = &mut r.value {
                    have.retain(|i| !items.contains(i));
                }
            }
        }
    }
}

/// `ranges` without the integers of `taken`.
fn remove_range(ranges: &[ValueRange], taken: ValueRange) -> Vec<ValueRange> {
    let mut out = Vec::with_capacity(ranges.len() + 1);
    for r in ranges {
        if taken.end < r.begin || taken.begin > r.end {
            out.push(*r);
            continue;
        }
        if taken.begin > r.begin {
            out.push(ValueRange {
                begin: r.begin,
                end: taken.begin - 1,
            });
        }
        if taken.end < r.end {
            out.push(ValueRange {
                begin: taken.end + 1,
                end: r.end,
            });
        }
    }
    out
}

fn is_empty(r: &Resource) -> bool {
    match &r.value {
        ResourceValue::Scalar(v) => *v <= EPSILON,
        ResourceValue::Ranges(v) => v.is_empty(),
        ResourceValue::Set(v) => v.is_empty(),
    }
}

#[cfg(target_arch = "wasm32")]
meseta_sdk::export_resource_estimator!(FixedEstimator);

#[cfg(test)]
mod tests {
    use super::*;
    use meseta_types::oversubscription::ExecutorUsage;

    fn params(text: &str) -> Vec<(String, String)> {
        vec![("resources".to_string(), text.to_string())]
    }

    fn revocable(name: &str, v: f64) -> Resource {
        Resource {
            revocable: true,
            ..Resource::scalar(name, v)
        }
    }

    fn executor(allocated: Vec<Resource>) -> ExecutorUsage {
        ExecutorUsage {
            allocated,
            ..Default::default()
        }
    }

    #[test]
    fn requires_a_parsable_resources_parameter() {
        let missing = FixedEstimator::create(&[]).unwrap_err();
        assert!(
            missing.contains("'resources'") && missing.contains("cpus:14"),
            "{missing}"
        );
        let bad = FixedEstimator::create(&params("cpus=4")).unwrap_err();
        assert!(
            bad.contains("'resources'") && bad.contains("cpus:14"),
            "{bad}"
        );
        assert!(FixedEstimator::create(&params("  ")).is_err());
    }

    #[test]
    fn offers_fixed_resources_as_revocable() {
        let mut e = FixedEstimator::create(&params("cpus:14;mem:1024")).unwrap();
        let out = e.oversubscribable(&ResourceUsage::default()).unwrap();
        assert_eq!(out, vec![revocable("cpus", 14.0), revocable("mem", 1024.0)]);
    }

    #[test]
    fn subtracts_allocated_revocable_only_and_clamps() {
        let mut e = FixedEstimator::create(&params("cpus:4;mem:1024;ports:[31000-31010]")).unwrap();
        let mut ports = revocable("ports", 0.0);
        ports.value = ResourceValue::Ranges(vec![ValueRange {
            begin: 31002,
            end: 31003,
        }]);
        let usage = ResourceUsage {
            executors: vec![
                executor(vec![
                    revocable("cpus", 1.5),
                    Resource::scalar("mem", 4096.0),
                ]),
                executor(vec![
                    revocable("cpus", 1.0),
                    revocable("mem", 2048.0),
                    ports,
                ]),
            ],
            ..Default::default()
        };
        let out = e.oversubscribable(&usage).unwrap();
        let mut expected_ports = revocable("ports", 0.0);
        expected_ports.value = ResourceValue::Ranges(vec![
            ValueRange {
                begin: 31000,
                end: 31001,
            },
            ValueRange {
                begin: 31004,
                end: 31010,
            },
        ]);
        assert_eq!(out, vec![revocable("cpus", 1.5), expected_ports]);
    }
}
