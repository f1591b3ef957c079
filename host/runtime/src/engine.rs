//! The process-wide wasmtime engine: epoch interruption with a ticker thread, the pooling
//! allocator, component-model async off.
//!
//! The ticker advances the epoch every [`EPOCH_TICK`] while guest code runs or has run lately
//! (a [`Running`] guard is held during a call, an instantiation, a replay). After
//! [`IDLE_TICKS`] ticks without a guard it parks, so an idle daemon does not wake a thousand
//! times a second (that cost an idle master 3-4% of a core); the first guard after that wakes
//! it. Waiting that long before parking keeps the wake-up (a syscall) off busy call paths.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::error::LoadError;

/// How often the epoch advances; call deadlines are rounded up to this.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// The largest memory cap a manifest may ask for.
pub const MAX_MEMORY_LIMIT: u64 = 2 << 30;

static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();

/// Ticks without a guard after which the ticker parks (100 ms).
pub const IDLE_TICKS: u32 = 100;

/// Guards held now; guards ever taken; whether the ticker is (about to be) parked; the ticker.
static RUNNING: AtomicUsize = AtomicUsize::new(0);
static TAKEN: AtomicU64 = AtomicU64::new(0);
static PARKED: AtomicBool = AtomicBool::new(false);
static TICKER: OnceLock<std::thread::Thread> = OnceLock::new();

/// Held while guest code may run: the epoch advances (and deadlines can expire) meanwhile.
pub struct Running(());

/// Takes a [`Running`] guard, waking the ticker if it was parked.
pub fn running() -> Running {
    TAKEN.fetch_add(1, Ordering::Relaxed);
    // Paired with the ticker's store of PARKED then load of RUNNING (both SeqCst): either it
    // sees this guard and does not park, or this sees PARKED and wakes it.
    if RUNNING.fetch_add(1, Ordering::SeqCst) == 0
        && PARKED.load(Ordering::SeqCst)
        && let Some(ticker) = TICKER.get()
    {
        ticker.unpark();
    }
    Running(())
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::SeqCst);
    }
}

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
    let ticker = std::thread::Builder::new()
        .name("meseta-epoch".into())
        .spawn(move || {
            let (mut quiet, mut seen) = (0, TAKEN.load(Ordering::Relaxed));
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                let taken = TAKEN.load(Ordering::Relaxed);
                if taken == seen && RUNNING.load(Ordering::SeqCst) == 0 {
                    quiet += 1;
                } else {
                    (quiet, seen) = (0, taken);
                }
                if quiet < IDLE_TICKS {
                    std::thread::sleep(EPOCH_TICK);
                    continue;
                }
                PARKED.store(true, Ordering::SeqCst);
                // A guard taken after this load unparks us: `park` then returns at once.
                if RUNNING.load(Ordering::SeqCst) == 0 {
                    std::thread::park();
                }
                PARKED.store(false, Ordering::SeqCst);
                (quiet, seen) = (0, TAKEN.load(Ordering::Relaxed));
            }
        })
        .map_err(|e| format!("cannot start the epoch ticker thread: {e}"))?;
    let _ = TICKER.set(ticker.thread().clone());
    Ok(engine)
}

/// Epoch ticks for a deadline: rounded up, plus one because the current tick is partly spent.
pub fn deadline_ticks(deadline: Duration) -> u64 {
    let tick = EPOCH_TICK.as_nanos().max(1);
    (deadline.as_nanos().div_ceil(tick) as u64).saturating_add(1)
}
