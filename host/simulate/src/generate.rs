//! Synthetic workloads, deterministic by seed (`meseta simulate generate`).
//!
//! # Distributions
//!
//! * **Agents**: each agent's shape is drawn uniformly from three: `cpus 8, mem 32768`,
//!   `cpus 16, mem 65536`, `cpus 32, mem 131072` (MB). Agents of a shape form one group, with the
//!   attribute `class` `small`, `medium` or `large`.
//! * **Roles**: `roles` roles `role-0`, `role-1`, ... (default: as many as frameworks, at most 4),
//!   weight 1 each; framework `j` is in role `j % roles`.
//! * **Frameworks**: the default offer behaviour (first-fit, `refuse_seconds` 5, suppress when
//!   idle).
//! * **Tasks**: the framework of each task is drawn uniformly; its shape from four, with these
//!   probabilities: `cpus 0.5, mem 1024` 30 %, `cpus 1, mem 2048` 30 %, `cpus 2, mem 4096` 25 %,
//!   `cpus 4, mem 8192` 15 %. Durations are log-normal with median `median_duration` (default 60
//!   s) and σ 1 (mean `median · e^½`), at least 1 s and at most 20 times the median. Arrivals are
//!   a Poisson process from time 0 (exponential inter-arrival times) whose rate puts the expected
//!   CPU demand at `load` (default 0.8) of the cluster's CPUs: `λ = load · cpus / (E[task cpus] ·
//!   E[duration])`. That is a steady state: the cluster fills to `load` only when the arrivals
//!   last longer than a task runs, i.e. with many more tasks than `load · cpus / 1.7` (the
//!   number of tasks that run at once then); fewer tasks make a burst.
//!
//! The same options and seed give the same workload (fastrand's generator, seeded).

use std::collections::BTreeMap;

use crate::workload::{AgentGroup, Framework, OfferBehaviour, Role, TaskGroup, Workload};

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenOptions {
    pub agents: u32,
    pub frameworks: u32,
    pub tasks: u32,
    pub seed: u64,
    /// Default `min(frameworks, 4)`.
    pub roles: Option<u32>,
    /// Target expected CPU utilisation.
    pub load: f64,
    /// Seconds.
    pub median_duration: f64,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            agents: 100,
            frameworks: 4,
            tasks: 1000,
            seed: 0,
            roles: None,
            load: 0.8,
            median_duration: 60.0,
        }
    }
}

const AGENT_SHAPES: [(&str, f64, f64); 3] = [
    ("small", 8.0, 32768.0),
    ("medium", 16.0, 65536.0),
    ("large", 32.0, 131072.0),
];

/// (probability, cpus, mem)
const TASK_SHAPES: [(f64, f64, f64); 4] = [
    (0.30, 0.5, 1024.0),
    (0.30, 1.0, 2048.0),
    (0.25, 2.0, 4096.0),
    (0.15, 4.0, 8192.0),
];

fn round_ms(s: f64) -> f64 {
    (s * 1000.0).round() / 1000.0
}

/// A synthetic workload; the options must be positive (`agents`, `frameworks`, `load`,
/// `median_duration`), else the error says which.
pub fn generate(o: &GenOptions) -> Result<Workload, String> {
    if o.agents == 0 || o.frameworks == 0 {
        return Err("--agents and --frameworks must be at least 1".into());
    }
    if !(o.load.is_finite() && o.load > 0.0) {
        return Err(format!("--load must be a positive number, got {}", o.load));
    }
    if !(o.median_duration.is_finite() && o.median_duration > 0.0) {
        return Err(format!(
            "--median-duration must be a positive number of seconds, got {}",
            o.median_duration
        ));
    }
    let roles = o
        .roles
        .unwrap_or(o.frameworks.min(4))
        .clamp(1, o.frameworks);
    let mut rng = fastrand::Rng::with_seed(o.seed);

    let mut per_shape = [0u32; 3];
    for _ in 0..o.agents {
        per_shape[rng.usize(0..AGENT_SHAPES.len())] += 1;
    }
    let mut cluster_cpus = 0.0;
    let agents = AGENT_SHAPES
        .iter()
        .zip(per_shape)
        .filter(|(_, n)| *n > 0)
        .map(|((class, cpus, mem), n)| {
            cluster_cpus += cpus * f64::from(n);
            AgentGroup {
                hostname: Some(class.to_string()),
                count: n,
                resources: BTreeMap::from([("cpus".into(), *cpus), ("mem".into(), *mem)]),
                attributes: BTreeMap::from([("class".into(), class.to_string())]),
            }
        })
        .collect();

    let sigma: f64 = 1.0;
    let mean_duration = o.median_duration * (sigma * sigma / 2.0).exp();
    let mean_cpus: f64 = TASK_SHAPES.iter().map(|(p, c, _)| p * c).sum();
    let rate = o.load * cluster_cpus / (mean_cpus * mean_duration);

    let mut t = 0.0;
    let mut tasks = Vec::with_capacity(o.tasks as usize);
    for _ in 0..o.tasks {
        let framework = rng.u32(0..o.frameworks);
        let mut u = rng.f64();
        let mut shape = TASK_SHAPES[TASK_SHAPES.len() - 1];
        for s in TASK_SHAPES {
            if u < s.0 {
                shape = s;
                break;
            }
            u -= s.0;
        }
        // Box-Muller: a standard normal from two uniforms in (0, 1].
        let (u1, u2) = (1.0 - rng.f64(), rng.f64());
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        let duration = (o.median_duration * (sigma * z).exp()).clamp(1.0, 20.0 * o.median_duration);
        tasks.push(TaskGroup {
            framework: format!("framework-{framework}"),
            role: None,
            arrival: round_ms(t),
            count: 1,
            every: 0.0,
            resources: BTreeMap::from([("cpus".into(), shape.1), ("mem".into(), shape.2)]),
            duration: round_ms(duration),
        });
        t += -(1.0 - rng.f64()).ln() / rate;
    }

    Ok(Workload {
        resources: None,
        allocation_interval: 1.0,
        min_allocatable: None,
        roles: (0..roles)
            .map(|r| Role {
                name: format!("role-{r}"),
                weight: 1.0,
                quota: None,
            })
            .collect(),
        agents,
        frameworks: (0..o.frameworks)
            .map(|j| Framework {
                name: format!("framework-{j}"),
                roles: vec![format!("role-{}", j % roles)],
                offers: OfferBehaviour::default(),
            })
            .collect(),
        tasks,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn same_seed_same_workload_and_it_resolves() {
        let o = GenOptions {
            agents: 20,
            frameworks: 3,
            tasks: 200,
            seed: 7,
            ..GenOptions::default()
        };
        let a = generate(&o).unwrap();
        assert_eq!(a, generate(&o).unwrap());
        assert_ne!(
            a,
            generate(&GenOptions {
                seed: 8,
                ..o.clone()
            })
            .unwrap()
        );
        let r = a.resolve().unwrap();
        assert_eq!(
            (r.agents.len(), r.frameworks.len(), r.tasks.len()),
            (20, 3, 200)
        );
        assert_eq!(r.roles.len(), 3);
        // Arrivals never go back in time and durations stay in their documented range.
        assert!(a.tasks.windows(2).all(|w| w[0].arrival <= w[1].arrival));
        assert!(a.tasks.iter().all(|t| (1.0..=1200.0).contains(&t.duration)));
    }
}
