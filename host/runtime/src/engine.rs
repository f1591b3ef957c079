//! The process-wide wasmtime engine: epoch interruption with a ticker thread, the pooling
//! allocator, component-model async off.

use std::sync::OnceLock;
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::error::LoadError;

/// How often the epoch advances; call deadlines are rounded up to this.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// The largest memory cap a manifest may ask for.
pub const MAX_MEMORY_LIMIT: u64 = 2 << 30;

static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();

/// The shared engine, created on first use together with its epoch ticker.
pub fn engine() -> Result<&'static Engine, LoadError> {
    ENGINE
        .get_or_init(build)
        .as_ref()
        .map_err(|e| LoadError::Engine(e.clone()))
}

fn build() -> Result<Engine, String> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(1000)
        .total_core_instances(2000)
        .total_memories(1000)
        .total_tables(2000)
        .max_memory_size(MAX_MEMORY_LIMIT as usize);
    let mut config = Config::new();
    config
        .epoch_interruption(true)
        .concurrency_support(false)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    // `MESETA_WASM_PROFILE=perfmap` writes /tmp/perf-<pid>.map so that `perf report` names
    // the modules' functions (for profiling a module's cost, see BENCHMARKS.md).
    if std::env::var("MESETA_WASM_PROFILE").is_ok_and(|v| v == "perfmap") {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    let engine =
        Engine::new(&config).map_err(|e| format!("cannot create the wasmtime engine: {e}"))?;
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("meseta-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map_err(|e| format!("cannot start the epoch ticker thread: {e}"))?;
    Ok(engine)
}

/// Epoch ticks for a deadline: rounded up, plus one because the current tick is partly spent.
pub fn deadline_ticks(deadline: Duration) -> u64 {
    let tick = EPOCH_TICK.as_nanos().max(1);
    (deadline.as_nanos().div_ceil(tick) as u64).saturating_add(1)
}
