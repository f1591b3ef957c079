//! `qos-load`: Mesos' `LoadQoSController` as a Meseta module.
//!
//! Parameters `load_threshold_5min` and `load_threshold_15min` (at least one is required; each a
//! non-negative number). When the agent's 5-minute load average is above the first, or its
//! 15-minute load average above the second (strictly, as in Mesos), every revocable executor is
//! killed. The 1-minute load is ignored, as in Mesos.
//!
//! The policy is plain Rust (`LoadQosController`), linked natively by the host as the native
//! twin; for `wasm32` the crate also exports it as a `qos-controller` component.

use meseta_types::oversubscription::{Correction, Kill, QosPolicy, ResourceUsage};
use meseta_types::{Create, Parameters, parameter};

/// Kills revocable executors while the agent's load is above a threshold.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadQosController {
    threshold_5min: Option<f64>,
    threshold_15min: Option<f64>,
}

impl LoadQosController {
    /// The 5- and 15-minute thresholds (`None`: not checked).
    pub fn thresholds(&self) -> (Option<f64>, Option<f64>) {
        (self.threshold_5min, self.threshold_15min)
    }
}

fn threshold(parameters: &Parameters, key: &str) -> Result<Option<f64>, String> {
    let Some(text) = parameter(parameters, key) else {
        return Ok(None);
    };
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(Some(v)),
        _ => Err(format!(
            "parameter '{key}' must be a non-negative number (a load average such as 4.5), \
             got '{text}'"
        )),
    }
}

impl Create for LoadQosController {
    fn create(parameters: &Parameters) -> Result<Self, String> {
        let threshold_5min = threshold(parameters, "load_threshold_5min")?;
        let threshold_15min = threshold(parameters, "load_threshold_15min")?;
        if threshold_5min.is_none() && threshold_15min.is_none() {
            return Err("at least one of the parameters 'load_threshold_5min' and \
                        'load_threshold_15min' is required"
                .into());
        }
        Ok(LoadQosController {
            threshold_5min,
            threshold_15min,
        })
    }
}

impl QosPolicy for LoadQosController {
    fn corrections(&mut self, usage: &ResourceUsage) -> Result<Vec<Correction>, String> {
        let over_5 = self.threshold_5min.is_some_and(|t| usage.load.five > t);
        let over_15 = self.threshold_15min.is_some_and(|t| usage.load.fifteen > t);
        if !(over_5 || over_15) {
            return Ok(Vec::new());
        }
        Ok(usage
            .executors
            .iter()
            .filter(|e| e.revocable)
            .map(|e| {
                Correction::Kill(Kill {
                    framework_id: e.framework_id.clone(),
                    executor_id: e.executor_id.clone(),
                    container: Some(e.container),
                })
            })
            .collect())
    }
}

#[cfg(target_arch = "wasm32")]
meseta_sdk::export_qos_controller!(LoadQosController);

#[cfg(test)]
mod tests {
    use super::*;
    use meseta_types::oversubscription::{ExecutorUsage, LoadAverage};

    fn params(kv: &[(&str, &str)]) -> Vec<(String, String)> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn usage(one: f64, five: f64, fifteen: f64) -> ResourceUsage {
        let executor = |id: &str, container, revocable| ExecutorUsage {
            container,
            framework_id: "fw".into(),
            executor_id: id.into(),
            revocable,
            ..Default::default()
        };
        ResourceUsage {
            executors: vec![
                executor("a", 1, true),
                executor("b", 2, false),
                executor("c", 3, true),
            ],
            total: Vec::new(),
            load: LoadAverage { one, five, fifteen },
        }
    }

    fn killed(corrections: &[Correction]) -> Vec<&str> {
        corrections
            .iter()
            .map(|Correction::Kill(k)| k.executor_id.as_str())
            .collect()
    }

    #[test]
    fn validates_parameters() {
        assert!(
            LoadQosController::create(&[])
                .unwrap_err()
                .contains("at least one")
        );
        let err =
            LoadQosController::create(&params(&[("load_threshold_5min", "high")])).unwrap_err();
        assert!(
            err.contains("'load_threshold_5min'") && err.contains("high"),
            "{err}"
        );
        assert!(LoadQosController::create(&params(&[("load_threshold_15min", "-1")])).is_err());
        assert!(LoadQosController::create(&params(&[("load_threshold_15min", "NaN")])).is_err());
        let c = LoadQosController::create(&params(&[("load_threshold_15min", " 2.5 ")])).unwrap();
        assert_eq!(c.thresholds(), (None, Some(2.5)));
    }

    #[test]
    fn kills_revocable_executors_above_either_threshold() {
        let mut c = LoadQosController::create(&params(&[
            ("load_threshold_5min", "4"),
            ("load_threshold_15min", "3"),
        ]))
        .unwrap();
        assert!(
            c.corrections(&usage(100.0, 4.0, 3.0)).unwrap().is_empty(),
            "1-min load and equality ignored"
        );
        let five = c.corrections(&usage(0.0, 4.1, 0.0)).unwrap();
        assert_eq!(killed(&five), vec!["a", "c"]);
        let fifteen = c.corrections(&usage(0.0, 0.0, 3.5)).unwrap();
        assert_eq!(killed(&fifteen), vec!["a", "c"]);
        assert_eq!(
            fifteen[1],
            Correction::Kill(Kill {
                framework_id: "fw".into(),
                executor_id: "c".into(),
                container: Some(3)
            })
        );
    }

    #[test]
    fn zero_threshold_fires_on_any_load() {
        let mut c = LoadQosController::create(&params(&[("load_threshold_5min", "0")])).unwrap();
        assert!(c.corrections(&usage(0.0, 0.0, 9.0)).unwrap().is_empty());
        assert_eq!(
            killed(&c.corrections(&usage(0.0, 0.01, 0.0)).unwrap()).len(),
            2
        );
    }
}
