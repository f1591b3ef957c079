//! Durable admissions per second through the registrar, redb against in_memory.
//!
//! `cargo run --release -p meseta-registry --example admissions -- [ADMISSIONS] [CONCURRENCY] [DIR]`
//! (defaults: 10000 admissions from 100 concurrent tasks, the redb file in a temporary
//! directory; pass DIR to put it on the disk a master's `--work_dir` would use).

use std::sync::Arc;

use meseta_registry::bench::{AdmissionsFigure, measure_admissions};
use meseta_registry::{InMemoryStorage, RedbStorage, Storage, registry_path};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let admissions: usize = args.next().map_or(Ok(10_000), |a| a.parse())?;
    let concurrency: usize = args.next().map_or(Ok(100), |a| a.parse())?;
    let dir = match args.next() {
        Some(dir) => tempfile::tempdir_in(dir)?,
        None => tempfile::tempdir()?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let redb: Arc<dyn Storage> = Arc::new(RedbStorage::open(&registry_path(dir.path()))?);
        let figure = measure_admissions(redb, admissions, concurrency).await?;
        print(&figure);
        let memory: Arc<dyn Storage> = Arc::new(InMemoryStorage::new());
        let figure = measure_admissions(memory, admissions, concurrency).await?;
        print(&figure);
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}

fn print(figure: &AdmissionsFigure) {
    println!(
        "{}: {} admissions from {} tasks in {:.3} s = {:.0} durable admissions/s; {} commits, {:.1} admissions per commit",
        figure.location,
        figure.admissions,
        figure.concurrency,
        figure.elapsed.as_secs_f64(),
        figure.per_second(),
        figure.commits,
        figure.batch()
    );
}
