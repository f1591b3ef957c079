//! `estimator-load`: oversubscribe what guaranteed work was given but does not use.
//!
//! Each `oversubscribable` call looks at the executors that hold no revocable resources and
//! estimates, per resource:
//!
//! * `cpus`: allocated cpus minus the cpus used since the previous call (the rate of the
//!   executors' user + system cpu time between two samples; an executor seen for the first
//!   time counts as fully used until the next sample);
//! * `mem`: allocated `mem` minus resident memory (`mem_rss_bytes`, else `mem_total_bytes`).
//!
//! The slack, less parameter `safety_margin` (a fraction of the allocation kept back, default
//! `0.1`), minus the revocable resources already allocated, is returned as revocable. An
//! executor without statistics counts as fully used, so the module never oversubscribes what
//! it cannot see.

use std::collections::HashMap;

use meseta_types::oversubscription::{EstimatorPolicy, ResourceUsage};
use meseta_types::resources::{Resource, scalar_total};
use meseta_types::{Create, Parameters, parameter};

const MB: f64 = 1024.0 * 1024.0;

/// Estimates slack from usage statistics.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadEstimator {
    margin: f64,
    /// Per (framework, executor): the last cpu seconds and timestamp seen.
    samples: HashMap<(String, String), (f64, f64)>,
}

impl Create for LoadEstimator {
    fn create(parameters: &Parameters) -> Result<Self, String> {
        let margin = match parameter(parameters, "safety_margin") {
            None => 0.1,
            Some(t) => match t.trim().parse::<f64>() {
                Ok(v) if (0.0..=1.0).contains(&v) => v,
                _ => {
                    return Err(format!(
                        "parameter 'safety_margin' must be a fraction between 0 and 1, got '{t}'"
                    ));
                }
            },
        };
        Ok(LoadEstimator {
            margin,
            samples: HashMap::new(),
        })
    }
}

impl EstimatorPolicy for LoadEstimator {
    fn oversubscribable(&mut self, usage: &ResourceUsage) -> Result<Vec<Resource>, String> {
        let mut cpus_slack = 0.0;
        let mut mem_slack = 0.0;
        let mut revocable_cpus = 0.0;
        let mut revocable_mem = 0.0;
        let mut seen = HashMap::new();
        for e in &usage.executors {
            if e.revocable {
                revocable_cpus += scalar_total(&e.allocated, "cpus");
                revocable_mem += scalar_total(&e.allocated, "mem");
                continue;
            }
            let cpus = scalar_total(&e.allocated, "cpus");
            let mem = scalar_total(&e.allocated, "mem");
            let key = (e.framework_id.clone(), e.executor_id.clone());
            let Some(s) = &e.statistics else {
                continue;
            };
            let cpu_secs =
                s.cpus_user_time_secs.unwrap_or(0.0) + s.cpus_system_time_secs.unwrap_or(0.0);
            let used_cpus = match self.samples.get(&key) {
                Some((prev_secs, prev_ts)) if s.timestamp > *prev_ts => {
                    ((cpu_secs - prev_secs) / (s.timestamp - prev_ts)).max(0.0)
                }
                _ => cpus,
            };
            seen.insert(key, (cpu_secs, s.timestamp));
            cpus_slack += (cpus * (1.0 - self.margin) - used_cpus).max(0.0);
            if let Some(rss) = s.mem_rss_bytes.or(s.mem_total_bytes) {
                mem_slack += (mem * (1.0 - self.margin) - rss as f64 / MB).max(0.0);
            }
        }
        self.samples = seen;
        let mut out = Vec::new();
        let cpus = ((cpus_slack - revocable_cpus) * 100.0).floor() / 100.0;
        if cpus > 0.0 {
            out.push(Resource {
                revocable: true,
                ..Resource::scalar("cpus", cpus)
            });
        }
        let mem = (mem_slack - revocable_mem).floor();
        if mem > 0.0 {
            out.push(Resource {
                revocable: true,
                ..Resource::scalar("mem", mem)
            });
        }
        Ok(out)
    }
}

#[cfg(target_arch = "wasm32")]
meseta_sdk::export_resource_estimator!(LoadEstimator);

#[cfg(test)]
mod tests {
    use super::*;
    use meseta_types::isolation::ResourceStatistics;
    use meseta_types::oversubscription::ExecutorUsage;

    fn executor(
        id: &str,
        cpus: f64,
        mem: f64,
        stats: Option<(f64, f64, u64)>,
        revocable: bool,
    ) -> ExecutorUsage {
        ExecutorUsage {
            framework_id: "f".into(),
            executor_id: id.into(),
            allocated: vec![
                Resource {
                    revocable,
                    ..Resource::scalar("cpus", cpus)
                },
                Resource {
                    revocable,
                    ..Resource::scalar("mem", mem)
                },
            ],
            statistics: stats.map(|(ts, secs, rss)| ResourceStatistics {
                timestamp: ts,
                cpus_user_time_secs: Some(secs),
                cpus_system_time_secs: Some(0.0),
                mem_rss_bytes: Some(rss),
                ..Default::default()
            }),
            revocable,
            ..Default::default()
        }
    }

    #[test]
    fn slack_is_allocated_minus_used() {
        let mut est = LoadEstimator::create(&[("safety_margin".into(), "0".into())]).unwrap();
        let mut usage = ResourceUsage {
            executors: vec![executor(
                "a",
                4.0,
                1024.0,
                Some((100.0, 10.0, 256 << 20)),
                false,
            )],
            ..Default::default()
        };
        // first sample: cpus count as fully used
        let first = est.oversubscribable(&usage).unwrap();
        assert_eq!(
            first,
            vec![Resource {
                revocable: true,
                ..Resource::scalar("mem", 768.0)
            }]
        );
        // 1 cpu-second per second over the next 10 s: 3 cpus of slack
        usage.executors = vec![executor(
            "a",
            4.0,
            1024.0,
            Some((110.0, 20.0, 256 << 20)),
            false,
        )];
        let second = est.oversubscribable(&usage).unwrap();
        assert_eq!(
            second[0],
            Resource {
                revocable: true,
                ..Resource::scalar("cpus", 3.0)
            }
        );
        // revocable work already placed is taken off
        usage.executors = vec![
            executor("a", 4.0, 1024.0, Some((120.0, 30.0, 256 << 20)), false),
            executor("r", 1.0, 512.0, None, true),
        ];
        let third = est.oversubscribable(&usage).unwrap();
        assert_eq!(third[0].as_scalar(), Some(2.0));
        assert_eq!(third[1].as_scalar(), Some(256.0));
    }

    #[test]
    fn unseen_executors_count_as_used_and_margins_are_checked() {
        let mut est = LoadEstimator::create(&[]).unwrap();
        let usage = ResourceUsage {
            executors: vec![executor("a", 4.0, 1024.0, None, false)],
            ..Default::default()
        };
        assert!(est.oversubscribable(&usage).unwrap().is_empty());
        assert!(LoadEstimator::create(&[("safety_margin".into(), "2".into())]).is_err());
    }
}
