//! A load figure: durable admissions per second through the registrar, for `BENCHMARKS.md`
//! (`cargo run --release -p meseta-registry --example admissions`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use meseta_api::common::{AgentID, AgentInfo, Attribute, MasterInfo, Resource};

use crate::error::RegistryError;
use crate::model::Operation;
use crate::registrar::Registrar;
use crate::storage::Storage;

/// What [`measure_admissions`] measured.
#[derive(Clone, Debug, PartialEq)]
pub struct AdmissionsFigure {
    /// The storage's location.
    pub location: String,
    pub admissions: usize,
    pub concurrency: usize,
    /// From the first admission queued to the last one acknowledged.
    pub elapsed: Duration,
    /// Commits the admissions took (the recovery's excluded).
    pub commits: u64,
}

impl AdmissionsFigure {
    /// Acknowledged (durable) admissions per second.
    pub fn per_second(&self) -> f64 {
        self.admissions as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    /// Admissions per commit, on average.
    pub fn batch(&self) -> f64 {
        self.admissions as f64 / (self.commits.max(1) as f64)
    }
}

/// An agent as the benchmark admits it: a typical `AgentInfo` (four resources, one attribute).
pub fn sample_agent(id: &str) -> AgentInfo {
    AgentInfo {
        hostname: format!("{id}.cluster.example.org"),
        port: Some(5051),
        resources: vec![
            Resource::scalar("cpus", 32.0),
            Resource::scalar("mem", 257_000.0),
            Resource::scalar("disk", 1_800_000.0),
            Resource::ranges("ports", &[(31000, 32000)]),
        ],
        attributes: vec![Attribute::text("rack", "r42")],
        id: Some(AgentID::new(id)),
    }
}

/// Recovers a registrar on `storage` (on the current tokio runtime) and admits `admissions`
/// agents from `concurrency` tasks, each awaiting its admission before the next.
pub async fn measure_admissions(
    storage: Arc<dyn Storage>,
    admissions: usize,
    concurrency: usize,
) -> Result<AdmissionsFigure, RegistryError> {
    let location = storage.location().to_string();
    let master = MasterInfo {
        id: "bench".to_string(),
        ..MasterInfo::default()
    };
    let (registrar, _) = Registrar::recover(storage, master).await?;
    let concurrency = concurrency.max(1);
    let before = registrar.commits();
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(concurrency);
    for task in 0..concurrency {
        let registrar = registrar.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = task;
            while i < admissions {
                let id = format!("bench-agent-{i}");
                registrar
                    .apply(Operation::AdmitAgent(sample_agent(&id)))
                    .await?;
                i += concurrency;
            }
            Ok::<(), RegistryError>(())
        }));
    }
    for task in tasks {
        task.await.map_err(|e| RegistryError::Storage {
            location: location.clone(),
            detail: format!("an admitting task failed: {e}"),
        })??;
    }
    let elapsed = start.elapsed();
    Ok(AdmissionsFigure {
        location,
        admissions,
        concurrency,
        elapsed,
        commits: registrar.commits() - before,
    })
}
