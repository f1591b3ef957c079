//! A sandboxed, self-healing instance of one loaded module.
//!
//! Each instance lives in its own `Store` with a memory cap, a deadline on every call (epoch
//! interruption, armed before instantiation too) and only the WASI capabilities its manifest
//! grants. A fault (trap, deadline, memory cap, invalid output) poisons the instance: it is
//! dropped, and the next call creates a fresh one, runs `init(parameters)` again and lets the
//! caller replay whatever state the module needs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{InstancePre, Linker, ResourceTable};
use wasmtime::{ResourceLimiter, Store, Trap};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::engine::{deadline_ticks, engine};
use crate::error::{FaultCause, LoadError, ModuleError};
use crate::manifest::{FailurePolicy, Grant};
use crate::module::LoadedModule;
use crate::output::GuestOutput;

/// Generated bindings of one world, as the sandbox drives them. Implemented by the bindings
/// crate for each world.
pub trait World<T: Send + 'static>: Sized + 'static {
    type Pre: Clone + Send + Sync + 'static;
    /// Adds the world's host imports (beyond WASI) to the linker.
    fn add_to_linker(linker: &mut Linker<StoreState<T>>) -> wasmtime::Result<()>;
    fn pre(pre: InstancePre<StoreState<T>>) -> wasmtime::Result<Self::Pre>;
    fn instantiate(pre: &Self::Pre, store: &mut Store<StoreState<T>>) -> wasmtime::Result<Self>;
    /// The world's `init(parameters)` export.
    fn init(
        &self,
        store: &mut Store<StoreState<T>>,
        parameters: &[(String, String)],
    ) -> wasmtime::Result<Result<(), String>>;
}

/// Everything a module's store holds: WASI state, limits, output capture, and the kind's own
/// host state `T` (for example the isolator's cgroups scope).
pub struct StoreState<T> {
    module: Arc<str>,
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: Limiter,
    stderr: GuestOutput,
    pub data: T,
}

impl<T> StoreState<T> {
    pub fn module(&self) -> &str {
        &self.module
    }
}

impl<T: Send> WasiView for StoreState<T> {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Caps linear memory, remembers whether the guest hit the cap, and records the largest memory
/// granted in the module's counters (`Counters::memory_peak`).
struct Limiter {
    limit: u64,
    denied: bool,
    counters: Arc<crate::counters::Counters>,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.limit {
            self.denied = true;
            return Ok(false);
        }
        self.counters.record_memory(desired as u64);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// Why a fresh instance could not be started.
enum StartFailure {
    /// `init` returned an error: the module rejected its parameters.
    Rejected(String),
    Fault(FaultCause),
}

const BACKOFF_START: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// What the host adds to one instance beyond its manifest: directories it may see (for example
/// an isolator's read-only view of its container's sandbox) and parameters the daemon supplies
/// (manifest parameters of the same name win).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstanceContext {
    pub grants: Vec<Grant>,
    pub parameters: Vec<(String, String)>,
}

pub struct Sandbox<W: World<T>, T: Send + 'static> {
    module: Arc<LoadedModule>,
    pre: W::Pre,
    make_data: Arc<dyn Fn() -> T + Send + Sync>,
    context: InstanceContext,
    live: Option<(Store<StoreState<T>>, W)>,
    consecutive_faults: u32,
    quarantined_until: Option<Instant>,
}

impl<W: World<T>, T: Send + 'static> Sandbox<W, T> {
    /// Links the module against its world. Missing imports or mismatched exports are reported
    /// here, before any instance exists.
    pub fn new(
        module: Arc<LoadedModule>,
        make_data: impl Fn() -> T + Send + Sync + 'static,
    ) -> Result<Self, LoadError> {
        let engine = engine()?;
        let link_err = |e: wasmtime::Error| LoadError::Link {
            module: module.spec.name.clone(),
            path: module.spec.source.to_string(),
            kind: module.world.kind.to_string(),
            message: format!("{e:#}"),
        };
        let mut linker = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(link_err)?;
        W::add_to_linker(&mut linker).map_err(link_err)?;
        let pre = linker
            .instantiate_pre(&module.component)
            .map_err(link_err)?;
        let pre = W::pre(pre).map_err(link_err)?;
        Ok(Sandbox {
            module,
            pre,
            make_data: Arc::new(make_data),
            context: InstanceContext::default(),
            live: None,
            consecutive_faults: 0,
            quarantined_until: None,
        })
    }

    pub fn module(&self) -> &Arc<LoadedModule> {
        &self.module
    }

    /// Sets what the host adds to this sandbox's instances; takes effect at the next instance.
    pub fn with_context(mut self, context: InstanceContext) -> Self {
        self.context = context;
        self
    }

    /// A second sandbox of the same module, sharing its linked component (no relinking), with
    /// its own instances and `context`. Not started.
    pub fn sibling(&self, context: InstanceContext) -> Self {
        Sandbox {
            module: Arc::clone(&self.module),
            pre: self.pre.clone(),
            make_data: Arc::clone(&self.make_data),
            context,
            live: None,
            consecutive_faults: 0,
            quarantined_until: None,
        }
    }

    /// The parameters `init` gets: the manifest's, then the host's for names the manifest
    /// does not set.
    fn parameters(&self) -> Vec<(String, String)> {
        let mut out = self.module.spec.parameters.clone();
        for (k, v) in &self.context.parameters {
            if !out.iter().any(|(n, _)| n == k) {
                out.push((k.clone(), v.clone()));
            }
        }
        out
    }

    pub fn policy(&self) -> FailurePolicy {
        self.module.spec.settings.failure_policy
    }

    /// Creates the first instance and runs `init(parameters)`, so that configuration errors stop
    /// the daemon at start-up rather than at the first call.
    pub fn start(&mut self) -> Result<(), LoadError> {
        match self.instantiate(|_, _| Ok(Ok(()))) {
            Ok(()) => Ok(()),
            Err(StartFailure::Rejected(message)) => Err(LoadError::Init {
                module: self.module.spec.name.clone(),
                message,
            }),
            Err(StartFailure::Fault(cause)) => Err(LoadError::Start {
                module: self.module.spec.name.clone(),
                cause: Box::new(self.error("start", cause)),
            }),
        }
    }

    /// Calls into the module under its deadline.
    pub fn call<R>(
        &mut self,
        op: &'static str,
        f: impl FnOnce(&W, &mut Store<StoreState<T>>) -> wasmtime::Result<R>,
    ) -> Result<R, ModuleError> {
        self.call_with(op, |_, _| Ok(Ok(())), f)
    }

    /// Like `call`; when a fresh instance has to be created first, `replay` runs after its
    /// `init` to give it back the state it needs.
    pub fn call_with<R>(
        &mut self,
        op: &'static str,
        replay: impl FnOnce(&W, &mut Store<StoreState<T>>) -> wasmtime::Result<Result<(), String>>,
        f: impl FnOnce(&W, &mut Store<StoreState<T>>) -> wasmtime::Result<R>,
    ) -> Result<R, ModuleError> {
        if let Some(until) = self.quarantined_until {
            let now = Instant::now();
            if now < until {
                let cause = FaultCause::Quarantined(until - now);
                self.module.counters.record_fault(&cause);
                return Err(self.error(op, cause));
            }
            self.quarantined_until = None;
        }
        if self.live.is_none() {
            match self.instantiate(replay) {
                Ok(()) => {}
                Err(StartFailure::Rejected(m)) => {
                    return Err(self.fault(
                        op,
                        FaultCause::Instantiate(format!("init rejected its parameters: {m}")),
                    ));
                }
                Err(StartFailure::Fault(cause)) => return Err(self.fault(op, cause)),
            }
        }
        let deadline = self.module.deadline;
        let _span = tracing::debug_span!(
            "module_call",
            module = %self.module.spec.name,
            kind = self.module.world.kind,
            op
        )
        .entered();
        let Some((store, bindings)) = self.live.as_mut() else {
            return Err(self.fault(op, FaultCause::Instantiate("no live instance".into())));
        };
        store.set_epoch_deadline(deadline_ticks(deadline));
        store.data_mut().stderr_reset();
        let start = Instant::now();
        let running = crate::engine::running();
        let result = f(bindings, store);
        drop(running);
        self.module.counters.record_call(start.elapsed());
        match result {
            Ok(r) => {
                self.consecutive_faults = 0;
                Ok(r)
            }
            Err(e) => {
                let cause = classify(&e, store.data(), deadline);
                Err(self.fault(op, cause))
            }
        }
    }

    /// The host refuses what the module returned: a fault like a trap. The instance is
    /// discarded, since a module that produced nonsense may hold corrupt state.
    pub fn reject(&mut self, op: &'static str, message: impl Into<String>) -> ModuleError {
        self.fault(op, FaultCause::InvalidOutput(message.into()))
    }

    /// Counts an answer given by the built-in default instead of the module.
    pub fn record_fallback(&self) {
        self.module.counters.record_fallback();
    }

    /// Whether a live instance exists (false after a fault until the next call).
    pub fn is_live(&self) -> bool {
        self.live.is_some()
    }

    fn instantiate(
        &mut self,
        replay: impl FnOnce(&W, &mut Store<StoreState<T>>) -> wasmtime::Result<Result<(), String>>,
    ) -> Result<(), StartFailure> {
        let engine =
            engine().map_err(|e| StartFailure::Fault(FaultCause::Instantiate(e.to_string())))?;
        let module = &self.module;
        let name: Arc<str> = Arc::from(module.spec.name.as_str());
        let stdout = GuestOutput::new(name.clone(), "stdout");
        let stderr = GuestOutput::new(name.clone(), "stderr");
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(stdout).stderr(stderr.clone());
        for g in module
            .spec
            .settings
            .grants
            .iter()
            .chain(&self.context.grants)
        {
            let perms = if g.read_only {
                FsPerms::ReadOnly
            } else {
                FsPerms::ReadWrite
            };
            wasi.preopened_dir(&g.host_path, &g.guest_path, perms)
                .map_err(|e| {
                    StartFailure::Fault(FaultCause::Instantiate(format!(
                        "cannot open granted directory {}: {e}",
                        g.host_path.display()
                    )))
                })?;
        }
        let state = StoreState {
            module: name,
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limiter: Limiter {
                limit: module.memory_limit,
                denied: false,
                counters: Arc::clone(&module.counters),
            },
            stderr,
            data: (self.make_data)(),
        };
        let mut store = Store::new(engine, state);
        // Guest code runs from here on (start functions, `init`, the replay).
        let _running = crate::engine::running();
        store.limiter(|s| &mut s.limiter);
        store.epoch_deadline_trap();
        let deadline = module.deadline;
        store.set_epoch_deadline(deadline_ticks(deadline));
        module.counters.record_instantiation();
        let classify_here = |e: wasmtime::Error, store: &Store<StoreState<T>>| {
            StartFailure::Fault(classify(&e, store.data(), deadline))
        };
        let bindings =
            W::instantiate(&self.pre, &mut store).map_err(|e| classify_here(e, &store))?;
        match bindings.init(&mut store, &self.parameters()) {
            Ok(Ok(())) => {}
            Ok(Err(message)) => return Err(StartFailure::Rejected(message)),
            Err(e) => return Err(classify_here(e, &store)),
        }
        // Replaying state may take longer than one call: allow ten deadlines.
        store.set_epoch_deadline(deadline_ticks(deadline * 10));
        match replay(&bindings, &mut store) {
            Ok(Ok(())) => {}
            Ok(Err(message)) => {
                return Err(StartFailure::Fault(FaultCause::Instantiate(format!(
                    "replaying state failed: {message}"
                ))));
            }
            Err(e) => return Err(classify_here(e, &store)),
        }
        self.live = Some((store, bindings));
        Ok(())
    }

    fn fault(&mut self, op: &'static str, cause: FaultCause) -> ModuleError {
        self.live = None;
        self.module.counters.record_fault(&cause);
        self.consecutive_faults = self.consecutive_faults.saturating_add(1);
        if self.policy() == FailurePolicy::Reload {
            let exp = self.consecutive_faults.saturating_sub(1).min(16);
            let backoff = BACKOFF_START.saturating_mul(1 << exp).min(BACKOFF_MAX);
            self.quarantined_until = Some(Instant::now() + backoff);
        }
        let err = self.error(op, cause);
        tracing::warn!(module = %err.module, kind = err.kind, op, "{err}");
        err
    }

    fn error(&self, op: &'static str, cause: FaultCause) -> ModuleError {
        ModuleError {
            module: Arc::from(self.module.spec.name.as_str()),
            kind: self.module.world.kind,
            op,
            cause,
            policy: self.policy(),
        }
    }
}

impl<T> StoreState<T> {
    /// Forgets what the previous call left behind, so a fault report quotes only this call.
    fn stderr_reset(&mut self) {
        self.limiter.denied = false;
        self.stderr.clear();
    }
}

fn classify<T>(e: &wasmtime::Error, state: &StoreState<T>, deadline: Duration) -> FaultCause {
    if state.limiter.denied {
        return FaultCause::MemoryLimit(state.limiter.limit);
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => FaultCause::Deadline(deadline),
        Some(trap) => {
            let said = state
                .stderr
                .last_line()
                .map(|l| format!("; the module wrote: {l}"))
                .unwrap_or_default();
            FaultCause::Trap(format!("{trap}{said}"))
        }
        None => FaultCause::Trap(format!("{e:#}")),
    }
}
