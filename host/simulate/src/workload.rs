//! The workload file: its JSON shape (documented in the crate's docs), parsing with errors that
//! name the field, and its resolution into the numeric form the replay runs on.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A workload as written in its JSON file. See the crate documentation for the meaning of each
/// field and its default.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Resource kinds in slot order; default: those the agents have, `cpus`, `mem`, `disk`,
    /// `gpus` first, then the others by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<String>>,
    /// Seconds of virtual time between allocation rounds (default 1).
    #[serde(default = "one")]
    pub allocation_interval: f64,
    /// Mesos' `--min_allocatable_resources` as alternatives, e.g. `[{"cpus": 0.01}, {"mem": 32}]`;
    /// default that one, restricted to the kinds the cluster has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_allocatable: Option<Vec<BTreeMap<String, f64>>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<Role>,
    pub agents: Vec<AgentGroup>,
    pub frameworks: Vec<Framework>,
    pub tasks: Vec<TaskGroup>,
}

fn one() -> f64 {
    1.0
}

fn one_u32() -> u32 {
    1
}

fn is_one(x: &f64) -> bool {
    *x == 1.0
}

fn is_one_u32(x: &u32) -> bool {
    *x == 1
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Role {
    pub name: String,
    /// Mesos' role weight (default 1).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub weight: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<Quota>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// What the role is guaranteed: the shipped allocators hold it back from other roles until
    /// the role holds it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub guarantees: BTreeMap<String, f64>,
    /// What the role may hold at most; kinds not named are unlimited.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, f64>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AgentGroup {
    /// Host name of the agent, or prefix of the group's (`<hostname>-<i>` when `count` > 1);
    /// default `agent-<group index>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// How many identical agents (default 1).
    #[serde(default = "one_u32", skip_serializing_if = "is_one_u32")]
    pub count: u32,
    pub resources: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Framework {
    pub name: String,
    /// Default `["*"]`.
    #[serde(default = "default_roles")]
    pub roles: Vec<String>,
    /// How the framework answers offers.
    #[serde(default)]
    pub offers: OfferBehaviour,
}

fn default_roles() -> Vec<String> {
    vec!["*".into()]
}

/// How a framework answers an offer: documented in the crate docs ("Frameworks").
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OfferBehaviour {
    /// `first-fit` (default): queued tasks in arrival order, skipping those that do not fit;
    /// `fifo`: stop at the first queued task that does not fit (head-of-line).
    #[serde(default)]
    pub order: Order,
    /// At most this many tasks per offer (default: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tasks_per_offer: Option<u32>,
    /// The filter set on what it declines or leaves unused (Mesos' `refuse_seconds`, default 5).
    #[serde(default = "five")]
    pub refuse_seconds: f64,
    /// Fraction of offers declined whole without looking (drawn from the run's seed; default 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub decline_fraction: f64,
    /// Suppress a role while it has no queued task, revive it when one arrives (default true).
    #[serde(default = "yes")]
    pub suppress_when_idle: bool,
}

fn five() -> f64 {
    5.0
}

fn yes() -> bool {
    true
}

impl Default for OfferBehaviour {
    fn default() -> Self {
        OfferBehaviour {
            order: Order::FirstFit,
            max_tasks_per_offer: None,
            refuse_seconds: 5.0,
            decline_fraction: 0.0,
            suppress_when_idle: true,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Order {
    #[default]
    FirstFit,
    Fifo,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TaskGroup {
    /// The framework's `name`.
    pub framework: String,
    /// One of the framework's roles (default its first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Seconds of virtual time when the (first) task arrives.
    #[serde(default)]
    pub arrival: f64,
    /// How many identical tasks (default 1).
    #[serde(default = "one_u32", skip_serializing_if = "is_one_u32")]
    pub count: u32,
    /// Seconds between the arrivals of the group's tasks (default 0: all at `arrival`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub every: f64,
    pub resources: BTreeMap<String, f64>,
    /// Seconds the task runs once launched.
    pub duration: f64,
}

/// A workload field that is wrong: `path` as `tasks[3].resources.cpus`.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct WorkloadError {
    pub path: String,
    pub message: String,
}

fn err(path: impl Into<String>, message: impl Into<String>) -> WorkloadError {
    WorkloadError {
        path: path.into(),
        message: message.into(),
    }
}

impl Workload {
    /// Parses a workload, naming the field that is wrong.
    pub fn from_json(text: &str) -> Result<Workload, WorkloadError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let w: Workload = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { "workload".into() } else { path };
            err(path, e.into_inner().to_string())
        })?;
        Ok(w)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks the workload and turns it into the numeric form the replay runs on.
    pub fn resolve(&self) -> Result<Resolved, WorkloadError> {
        resolve(self)
    }
}

/// A role as the replay sees it.
#[derive(Clone, Debug)]
pub struct RRole {
    pub name: String,
    pub weight: f64,
    /// (guarantees, limits) in slots; unnamed limits are infinite.
    pub quota: Option<(Vec<f64>, Vec<f64>)>,
}

#[derive(Clone, Debug)]
pub struct RAgent {
    pub hostname: String,
    pub resources: Vec<f64>,
    pub attributes: Vec<(String, String)>,
}

#[derive(Clone, Debug)]
pub struct RFramework {
    pub name: String,
    /// Role handles.
    pub roles: Vec<u32>,
    pub offers: OfferBehaviour,
}

#[derive(Clone, Debug)]
pub struct RTask {
    pub framework: u32,
    /// Role handle.
    pub role: u32,
    pub arrival_ms: u64,
    pub duration_ms: u64,
    pub resources: Vec<f64>,
}

/// A checked workload: names turned into handles (indices), resources into slot vectors,
/// groups expanded, tasks in arrival order, times in milliseconds.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub kinds: Vec<String>,
    pub interval_ms: u64,
    pub min_allocatable: Vec<Vec<f64>>,
    pub roles: Vec<RRole>,
    pub agents: Vec<RAgent>,
    pub frameworks: Vec<RFramework>,
    pub tasks: Vec<RTask>,
    /// The cluster's total per slot.
    pub total: Vec<f64>,
}

fn check_amount(path: &str, v: f64) -> Result<(), WorkloadError> {
    if !v.is_finite() || v < 0.0 {
        return Err(err(
            path,
            format!("must be a finite non-negative number, got {v}"),
        ));
    }
    Ok(())
}

fn seconds_to_ms(path: &str, s: f64) -> Result<u64, WorkloadError> {
    if !s.is_finite() || s < 0.0 {
        return Err(err(
            path,
            format!("must be a non-negative number of seconds, got {s}"),
        ));
    }
    Ok((s * 1000.0).round() as u64)
}

fn slots(
    path: &str,
    kinds: &[String],
    amounts: &BTreeMap<String, f64>,
    fill: f64,
) -> Result<Vec<f64>, WorkloadError> {
    let mut v = vec![fill; kinds.len()];
    for (name, amount) in amounts {
        let at = format!("{path}.{name}");
        check_amount(&at, *amount)?;
        let Some(slot) = kinds.iter().position(|k| k == name) else {
            return Err(err(
                at,
                format!(
                    "unknown resource (the cluster's agents have: {})",
                    kinds.join(", ")
                ),
            ));
        };
        v[slot] = *amount;
    }
    Ok(v)
}

const FIRST_KINDS: &[&str] = &["cpus", "mem", "disk", "gpus"];

fn resolve(w: &Workload) -> Result<Resolved, WorkloadError> {
    let kinds: Vec<String> = match &w.resources {
        Some(k) => {
            if k.is_empty() {
                return Err(err("resources", "must name at least one resource kind"));
            }
            k.clone()
        }
        None => {
            let mut names: Vec<&String> =
                w.agents.iter().flat_map(|a| a.resources.keys()).collect();
            names.sort_by_key(|n| {
                (
                    FIRST_KINDS
                        .iter()
                        .position(|f| f == n)
                        .unwrap_or(FIRST_KINDS.len()),
                    n.to_string(),
                )
            });
            names.dedup();
            names.into_iter().cloned().collect()
        }
    };
    if !w.allocation_interval.is_finite() || w.allocation_interval <= 0.0 {
        return Err(err(
            "allocation_interval",
            format!(
                "must be a positive number of seconds, got {}",
                w.allocation_interval
            ),
        ));
    }
    let interval_ms = ((w.allocation_interval * 1000.0).round() as u64).max(1);
    let min_allocatable = match &w.min_allocatable {
        Some(alts) => alts
            .iter()
            .enumerate()
            .map(|(i, m)| slots(&format!("min_allocatable[{i}]"), &kinds, m, 0.0))
            .collect::<Result<Vec<_>, _>>()?,
        None => [("cpus", 0.01), ("mem", 32.0)]
            .iter()
            .filter_map(|(name, v)| {
                let slot = kinds.iter().position(|k| k == name)?;
                let mut q = vec![0.0; kinds.len()];
                q[slot] = *v;
                Some(q)
            })
            .collect(),
    };

    let mut roles: Vec<RRole> = Vec::new();
    for (i, r) in w.roles.iter().enumerate() {
        if r.name.is_empty() {
            return Err(err(format!("roles[{i}].name"), "must not be empty"));
        }
        if roles.iter().any(|x| x.name == r.name) {
            return Err(err(
                format!("roles[{i}].name"),
                format!("role '{}' is listed twice", r.name),
            ));
        }
        if !r.weight.is_finite() || r.weight <= 0.0 {
            return Err(err(
                format!("roles[{i}].weight"),
                format!("must be a positive number, got {}", r.weight),
            ));
        }
        let quota = match &r.quota {
            Some(q) => Some((
                slots(
                    &format!("roles[{i}].quota.guarantees"),
                    &kinds,
                    &q.guarantees,
                    0.0,
                )?,
                slots(
                    &format!("roles[{i}].quota.limits"),
                    &kinds,
                    &q.limits,
                    f64::INFINITY,
                )?,
            )),
            None => None,
        };
        roles.push(RRole {
            name: r.name.clone(),
            weight: r.weight,
            quota,
        });
    }

    let mut agents = Vec::new();
    for (i, g) in w.agents.iter().enumerate() {
        let resources = slots(&format!("agents[{i}].resources"), &kinds, &g.resources, 0.0)?;
        let base = g.hostname.clone().unwrap_or_else(|| format!("agent-{i}"));
        for n in 0..g.count {
            agents.push(RAgent {
                hostname: if g.count == 1 {
                    base.clone()
                } else {
                    format!("{base}-{n}")
                },
                resources: resources.clone(),
                attributes: g
                    .attributes
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            });
        }
    }
    if agents.is_empty() {
        return Err(err("agents", "the cluster has no agent"));
    }
    let mut total = vec![0.0; kinds.len()];
    for a in &agents {
        for (t, v) in total.iter_mut().zip(&a.resources) {
            *t += v;
        }
    }

    let mut frameworks: Vec<RFramework> = Vec::new();
    for (i, f) in w.frameworks.iter().enumerate() {
        if frameworks.iter().any(|x| x.name == f.name) {
            return Err(err(
                format!("frameworks[{i}].name"),
                format!("framework '{}' is listed twice", f.name),
            ));
        }
        if f.roles.is_empty() {
            return Err(err(
                format!("frameworks[{i}].roles"),
                "must name at least one role",
            ));
        }
        let o = &f.offers;
        if !o.refuse_seconds.is_finite() || o.refuse_seconds < 0.0 {
            return Err(err(
                format!("frameworks[{i}].offers.refuse_seconds"),
                format!("must be a non-negative number, got {}", o.refuse_seconds),
            ));
        }
        if !(0.0..=1.0).contains(&o.decline_fraction) {
            return Err(err(
                format!("frameworks[{i}].offers.decline_fraction"),
                format!("must be between 0 and 1, got {}", o.decline_fraction),
            ));
        }
        if o.max_tasks_per_offer == Some(0) {
            return Err(err(
                format!("frameworks[{i}].offers.max_tasks_per_offer"),
                "must be at least 1 (a framework that takes nothing never launches a task)",
            ));
        }
        let mut handles = Vec::new();
        for name in &f.roles {
            let h = match roles.iter().position(|r| &r.name == name) {
                Some(h) => h,
                None => {
                    if name.is_empty() {
                        return Err(err(
                            format!("frameworks[{i}].roles"),
                            "a role name is empty",
                        ));
                    }
                    roles.push(RRole {
                        name: name.clone(),
                        weight: 1.0,
                        quota: None,
                    });
                    roles.len() - 1
                }
            };
            handles.push(h as u32);
        }
        frameworks.push(RFramework {
            name: f.name.clone(),
            roles: handles,
            offers: o.clone(),
        });
    }

    let mut tasks = Vec::new();
    for (i, g) in w.tasks.iter().enumerate() {
        let at = |field: &str| format!("tasks[{i}].{field}");
        let Some(fw) = frameworks.iter().position(|f| f.name == g.framework) else {
            return Err(err(
                at("framework"),
                format!("no framework named '{}'", g.framework),
            ));
        };
        let role = match &g.role {
            None => frameworks[fw].roles[0],
            Some(name) => {
                let Some(h) = frameworks[fw]
                    .roles
                    .iter()
                    .copied()
                    .find(|h| roles[*h as usize].name == *name)
                else {
                    return Err(err(
                        at("role"),
                        format!("framework '{}' has no role '{name}'", g.framework),
                    ));
                };
                h
            }
        };
        let resources = slots(&at("resources"), &kinds, &g.resources, 0.0)?;
        if resources.iter().all(|v| *v <= 0.0) {
            return Err(err(at("resources"), "a task must need some resource"));
        }
        if !agents.iter().any(|a| {
            a.resources
                .iter()
                .zip(&resources)
                .all(|(have, need)| need <= have)
        }) {
            return Err(err(
                at("resources"),
                "the task fits on no agent of the cluster",
            ));
        }
        let arrival_ms = seconds_to_ms(&at("arrival"), g.arrival)?;
        let every_ms = seconds_to_ms(&at("every"), g.every)?;
        let duration_ms = seconds_to_ms(&at("duration"), g.duration)?;
        for n in 0..u64::from(g.count) {
            tasks.push(RTask {
                framework: fw as u32,
                role,
                arrival_ms: arrival_ms + n * every_ms,
                duration_ms,
                resources: resources.clone(),
            });
        }
    }
    tasks.sort_by_key(|t| t.arrival_ms);
    Ok(Resolved {
        kinds,
        interval_ms,
        min_allocatable,
        roles,
        agents,
        frameworks,
        tasks,
        total,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn defaults_fill_in_and_groups_expand() {
        let w = Workload::from_json(
            r#"{"agents":[{"count":2,"resources":{"mem":8,"cpus":4}}],
                "frameworks":[{"name":"a"}],
                "tasks":[{"framework":"a","count":3,"every":0.5,"resources":{"cpus":1},"duration":2}]}"#,
        )
        .unwrap();
        let r = w.resolve().unwrap();
        assert_eq!(r.kinds, vec!["cpus", "mem"]);
        assert_eq!(r.agents.len(), 2);
        assert_eq!(r.agents[1].hostname, "agent-0-1");
        assert_eq!(r.roles[0].name, "*");
        assert_eq!(r.total, vec![8.0, 16.0]);
        let arrivals: Vec<u64> = r.tasks.iter().map(|t| t.arrival_ms).collect();
        assert_eq!(arrivals, vec![0, 500, 1000]);
        assert_eq!(r.interval_ms, 1000);
        assert_eq!(r.min_allocatable, vec![vec![0.01, 0.0], vec![0.0, 32.0]]);
    }

    #[test]
    fn errors_name_the_field() {
        let e = Workload::from_json(
            r#"{"agents":[{"resources":{"cpus":"x"}}],"frameworks":[],"tasks":[]}"#,
        )
        .unwrap_err();
        assert_eq!(e.path, "agents[0].resources.cpus", "{e}");
        let w = Workload::from_json(
            r#"{"agents":[{"resources":{"cpus":4}}],"frameworks":[{"name":"a"}],
                "tasks":[{"framework":"b","resources":{"cpus":1},"duration":1}]}"#,
        )
        .unwrap();
        assert_eq!(
            w.resolve().unwrap_err().to_string(),
            "tasks[0].framework: no framework named 'b'"
        );
    }
}
