//! The runtime's two error types: `LoadError` (nothing was started) and `ModuleError` (a call
//! into a loaded module failed and the module is to blame).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::manifest::FailurePolicy;

/// Why a manifest or a module could not be loaded. Every message names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "only one of --modules and --modules_dir may be given; pass the manifest file with --modules, or put it in the directory named by --modules_dir"
    )]
    BothModuleFlags,
    #[error("cannot read module manifest {path}: {message}")]
    ManifestRead { path: PathBuf, message: String },
    #[error("cannot read --modules_dir {path} (a directory of module manifests): {message}")]
    ModulesDirRead { path: PathBuf, message: String },
    #[error("bad module manifest {origin}: {message}")]
    ManifestParse { origin: String, message: String },
    #[error(
        "module '{name}' is defined twice with different settings: in {first} and in {second}; module names must be unique"
    )]
    DuplicateModule {
        name: String,
        first: String,
        second: String,
    },
    #[error(
        "module '{module}': file {path} does not exist (declared in {origin}); fix the library's \"file\" path"
    )]
    MissingFile {
        module: String,
        path: PathBuf,
        origin: String,
    },
    #[error("module '{module}': cannot read {path}: {message}")]
    ReadFile {
        module: String,
        path: PathBuf,
        message: String,
    },
    #[error(
        "module '{module}': library '{library}' is not a built-in module library{hint} (built-ins: {available}); fix the name, or set \"file\" to the path of a .wasm component"
    )]
    UnknownBuiltin {
        module: String,
        library: String,
        available: String,
        hint: String,
    },
    #[error(
        "module '{module}': {path} is not a WebAssembly file (it does not start with \\0asm); \"file\" must point at a component built with `cargo build --target wasm32-wasip2`"
    )]
    NotWasm { module: String, path: String },
    #[error(
        "module '{module}': {path} is a core WebAssembly module, not a component; build it with `--target wasm32-wasip2`, or wrap it with `wasm-tools component new`"
    )]
    CoreModule { module: String, path: String },
    #[error("module '{module}': {path} failed to compile: {message}")]
    Compile {
        module: String,
        path: String,
        message: String,
    },
    #[error("module '{module}': unknown kind '{kind}' (known kinds: {known})")]
    UnknownKind {
        module: String,
        kind: String,
        known: String,
    },
    #[error(
        "module '{module}': {path} implements no Meseta module world (it exports: {exports}); set \"kind\" in the manifest or build it against the meseta:modules WIT package"
    )]
    NoKnownWorld {
        module: String,
        path: String,
        exports: String,
    },
    #[error(
        "module '{module}': {path} does not implement world '{expected}': missing export '{missing}'{hint}"
    )]
    WrongWorld {
        module: String,
        path: String,
        expected: String,
        missing: String,
        hint: String,
    },
    #[error(
        "module '{module}': {path} cannot be linked as {} '{kind}' module: {message}",
        crate::world::article(.kind)
    )]
    Link {
        module: String,
        path: String,
        kind: String,
        message: String,
    },
    #[error("module '{module}': {setting}")]
    Settings { module: String, setting: String },
    #[error("module '{module}' rejected its parameters: {message}")]
    Init { module: String, message: String },
    #[error("module '{module}' failed while starting: {cause}")]
    Start {
        module: String,
        cause: Box<ModuleError>,
    },
    #[error(
        "module '{module}' is {} '{actual}' module, but it is named where {} '{expected}' module is needed",
        crate::world::article(.actual),
        crate::world::article(.expected)
    )]
    KindMismatch {
        module: String,
        actual: String,
        expected: String,
    },
    #[error(
        "no module named '{name}' is loaded (loaded: {loaded}); check the name in the flag against the manifest's module names"
    )]
    NoSuchModule { name: String, loaded: String },
    #[error("module runtime: {0}")]
    Engine(String),
}

/// What went wrong inside a module call.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultCause {
    /// The guest trapped (a panic, `unreachable`, an out-of-bounds access...).
    Trap(String),
    /// The call ran past its deadline and was interrupted.
    Deadline(Duration),
    /// The guest tried to grow its memory past its cap.
    MemoryLimit(u64),
    /// The guest returned something the host will not use.
    InvalidOutput(String),
    /// A fresh instance could not be created or refused its parameters.
    Instantiate(String),
    /// The module is quarantined after faults (`reload` policy); no call was made.
    Quarantined(Duration),
}

impl FaultCause {
    /// Short name used in counters and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            FaultCause::Trap(_) => "trap",
            FaultCause::Deadline(_) => "deadline",
            FaultCause::MemoryLimit(_) => "memory",
            FaultCause::InvalidOutput(_) => "invalid_output",
            FaultCause::Instantiate(_) => "instantiate",
            FaultCause::Quarantined(_) => "quarantined",
        }
    }
}

impl std::fmt::Display for FaultCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FaultCause::Trap(m) => write!(f, "trapped: {m}"),
            FaultCause::Deadline(d) => {
                write!(f, "exceeded its deadline of {d:?} and was interrupted")
            }
            FaultCause::MemoryLimit(l) => write!(f, "exceeded its memory limit of {} bytes", l),
            FaultCause::InvalidOutput(m) => write!(f, "returned invalid output: {m}"),
            FaultCause::Instantiate(m) => write!(f, "could not be instantiated: {m}"),
            FaultCause::Quarantined(d) => write!(
                f,
                "is quarantined after repeated faults; next attempt in {d:?}"
            ),
        }
    }
}

/// A failed module call. The instance that failed has already been discarded.
#[derive(Debug, Clone, thiserror::Error)]
#[error("module '{module}' ({kind}) {cause} (in {op}; failure policy {})", policy.as_str())]
pub struct ModuleError {
    pub module: Arc<str>,
    pub kind: &'static str,
    pub op: &'static str,
    pub cause: FaultCause,
    pub policy: FailurePolicy,
}
