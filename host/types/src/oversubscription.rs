//! Resource estimators and QoS controllers.

use crate::isolation::{ContainerId, ResourceStatistics};
use crate::resources::Resource;

#[derive(Clone, Debug, PartialEq, Default)]
pub struct ExecutorUsage {
    pub container: ContainerId,
    pub framework_id: String,
    pub executor_id: String,
    pub allocated: Vec<Resource>,
    pub statistics: Option<ResourceStatistics>,
    pub revocable: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct LoadAverage {
    pub one: f64,
    pub five: f64,
    pub fifteen: f64,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct ResourceUsage {
    pub executors: Vec<ExecutorUsage>,
    pub total: Vec<Resource>,
    pub load: LoadAverage,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kill {
    pub framework_id: String,
    pub executor_id: String,
    pub container: Option<ContainerId>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Correction {
    Kill(Kill),
}

/// Mesos' `ResourceEstimator`: the most that may be oversubscribed now.
pub trait EstimatorPolicy {
    fn oversubscribable(&mut self, usage: &ResourceUsage) -> Result<Vec<Resource>, String>;
}

/// Mesos' `QoSController`: which revocable work to evict now.
pub trait QosPolicy {
    fn corrections(&mut self, usage: &ResourceUsage) -> Result<Vec<Correction>, String>;
}
