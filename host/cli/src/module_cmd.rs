//! `meseta module ...`: check a component against a kind, inspect one, validate a manifest.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Subcommand;
use meseta_bindings::views::Lent;
use meseta_bindings::{NoCgroups, WORLDS};
use meseta_runtime::module::{Binary, classify_binary};
use meseta_runtime::{
    ComponentCache, LoadError, LoadedModule, Loader, Manifest, ModuleSpec, Sandbox, Settings,
    Source, world,
};

#[derive(Subcommand)]
pub enum ModuleCommand {
    /// Verify that FILE implements the world of KIND; print its world, version, imports and exports.
    Check {
        file: PathBuf,
        /// allocator, isolator, resource-estimator, qos-controller, master-hooks, agent-hooks or
        /// authorizer.
        #[arg(long)]
        kind: String,
        /// Do not read or write the compiled-module cache.
        #[arg(long = "no_cache", alias = "no-cache")]
        no_cache: bool,
    },
    /// Describe FILE: whether it is a component, which module kind it implements, what it imports and exports.
    Inspect {
        file: PathBuf,
        #[arg(long = "no_cache", alias = "no-cache")]
        no_cache: bool,
    },
    /// Load, verify and start every module of a manifest exactly as a daemon would at start-up.
    Validate {
        /// A manifest file, a file:// URI, or inline JSON (Mesos' --modules).
        #[arg(long, env = "MESETA_MODULES")]
        modules: Option<String>,
        /// A directory of manifest files, read in alphabetical order (Mesos' --modules_dir).
        #[arg(
            long = "modules_dir",
            alias = "modules-dir",
            env = "MESETA_MODULES_DIR"
        )]
        modules_dir: Option<PathBuf>,
        #[arg(long = "no_cache", alias = "no-cache")]
        no_cache: bool,
    },
    /// List the modules built into this binary.
    List,
    /// Print the WIT contract of a module kind (its world and the packages it uses), or write it
    /// with --out in the layout componentize-py, componentize-js and wit-bindgen read.
    Wit {
        /// allocator, master-hooks, agent-hooks, isolator, resource-estimator, qos-controller or
        /// authorizer.
        #[arg(long)]
        kind: String,
        /// Write the files into this directory (the kind's package, `deps/` for the rest).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Load a module into the sandbox and drive it through scripted scenarios with the host's
    /// checks (an allocator: small simulated clusters; hooks: tasks through every hook point);
    /// reports the step that failed. FILE is a component; DIR a project with a modules.json.
    Test {
        target: PathBuf,
        /// The kind, when the component's exports do not say.
        #[arg(long)]
        kind: Option<String>,
        #[arg(long = "no_cache", alias = "no-cache")]
        no_cache: bool,
    },
    /// Create a module project that builds as generated: its WIT, its policy with passing tests,
    /// the glue to the world, a manifest and a README with the commands to build and run it.
    New {
        /// The module's name: lower-case letters, digits and '-'.
        name: String,
        /// allocator, master-hooks or agent-hooks.
        #[arg(long)]
        kind: String,
        #[arg(long, value_enum)]
        lang: crate::module_new::Lang,
        /// Where to create it (default: ./NAME); must be empty or absent.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Rust only: the Meseta checkout whose meseta-types and meseta-sdk the project uses
        /// (default: the tree this binary was built from).
        #[arg(long)]
        meseta: Option<PathBuf>,
    },
}

pub(crate) fn loader(no_cache: bool) -> Loader<'static> {
    Loader {
        worlds: WORLDS,
        builtins: &meseta_artifacts::Shipped,
        cache: if no_cache {
            ComponentCache::disabled()
        } else {
            ComponentCache::default_location()
        },
    }
}

pub fn run(cmd: ModuleCommand) -> ExitCode {
    match cmd {
        ModuleCommand::Check {
            file,
            kind,
            no_cache,
        } => check(&file, &kind, no_cache),
        ModuleCommand::Inspect { file, no_cache } => inspect(&file, no_cache),
        ModuleCommand::Validate {
            modules,
            modules_dir,
            no_cache,
        } => validate(modules.as_deref(), modules_dir.as_deref(), no_cache),
        ModuleCommand::Test {
            target,
            kind,
            no_cache,
        } => crate::module_test::run(&target, kind.as_deref(), no_cache),
        ModuleCommand::Wit { kind, out } => crate::module_new::wit(&kind, out.as_deref()),
        ModuleCommand::New {
            name,
            kind,
            lang,
            dir,
            meseta,
        } => crate::module_new::new(&name, &kind, lang, dir.as_deref(), meseta.as_deref()),
        ModuleCommand::List => {
            for a in meseta_artifacts::SHIPPED {
                println!("{:<20} {:<20} {} bytes", a.name, a.kind, a.bytes.len());
            }
            ExitCode::SUCCESS
        }
    }
}

pub(crate) fn file_spec(file: &Path, kind: Option<&str>) -> ModuleSpec {
    ModuleSpec {
        name: file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "module".into()),
        source: Source::File(file.to_path_buf()),
        kind: kind.map(str::to_string),
        parameters: Vec::new(),
        settings: Settings::default(),
        origin: "the command line".into(),
    }
}

/// Links the module against its world, as a daemon does before the first instance.
fn link(module: Arc<LoadedModule>) -> Result<Arc<LoadedModule>, LoadError> {
    use meseta_bindings as b;
    match module.world.kind {
        "allocator" if module.world == b::ALLOCATOR_V3 => {
            drop(Sandbox::<b::allocator_v3::Allocator, ()>::new(
                module.clone(),
                || (),
            )?)
        }
        "allocator" if module.world == b::ALLOCATOR_V2 => {
            drop(Sandbox::<b::allocator_v2::Allocator, ()>::new(
                module.clone(),
                || (),
            )?)
        }
        "allocator" => drop(Sandbox::<b::allocator::Allocator, ()>::new(
            module.clone(),
            || (),
        )?),
        "isolator" => drop(Sandbox::<b::isolator::Isolator, NoCgroups>::new(
            module.clone(),
            NoCgroups::default,
        )?),
        "resource-estimator" => drop(
            Sandbox::<b::resource_estimator::ResourceEstimator, ()>::new(module.clone(), || ())?,
        ),
        "qos-controller" => drop(Sandbox::<b::qos_controller::QosController, ()>::new(
            module.clone(),
            || (),
        )?),
        "master-hooks" if module.world == b::MASTER_HOOKS_V2 => {
            drop(Sandbox::<b::master_hooks_v2::MasterHooks, Lent>::new(
                module.clone(),
                Lent::default,
            )?)
        }
        "agent-hooks" if module.world == b::AGENT_HOOKS_V2 => {
            drop(Sandbox::<b::agent_hooks_v2::AgentHooks, Lent>::new(
                module.clone(),
                Lent::default,
            )?)
        }
        "master-hooks" => drop(Sandbox::<b::master_hooks::MasterHooks, ()>::new(
            module.clone(),
            || (),
        )?),
        "agent-hooks" => drop(Sandbox::<b::agent_hooks::AgentHooks, ()>::new(
            module.clone(),
            || (),
        )?),
        "authorizer" => drop(Sandbox::<b::authorizer::Authorizer, ()>::new(
            module.clone(),
            || (),
        )?),
        _ => {}
    }
    Ok(module)
}

/// Links and starts the module: one instance is created and `init(parameters)` runs.
fn start(module: Arc<LoadedModule>) -> Result<(), LoadError> {
    use meseta_bindings as b;
    match module.world.kind {
        "allocator" if module.world == b::ALLOCATOR_V3 => {
            Sandbox::<b::allocator_v3::Allocator, ()>::new(module, || ())?.start()
        }
        "allocator" if module.world == b::ALLOCATOR_V2 => {
            Sandbox::<b::allocator_v2::Allocator, ()>::new(module, || ())?.start()
        }
        "allocator" => Sandbox::<b::allocator::Allocator, ()>::new(module, || ())?.start(),
        "isolator" => {
            Sandbox::<b::isolator::Isolator, NoCgroups>::new(module, NoCgroups::default)?.start()
        }
        "resource-estimator" => {
            Sandbox::<b::resource_estimator::ResourceEstimator, ()>::new(module, || ())?.start()
        }
        "qos-controller" => {
            Sandbox::<b::qos_controller::QosController, ()>::new(module, || ())?.start()
        }
        "master-hooks" if module.world == b::MASTER_HOOKS_V2 => {
            Sandbox::<b::master_hooks_v2::MasterHooks, Lent>::new(module, Lent::default)?.start()
        }
        "agent-hooks" if module.world == b::AGENT_HOOKS_V2 => {
            Sandbox::<b::agent_hooks_v2::AgentHooks, Lent>::new(module, Lent::default)?.start()
        }
        "master-hooks" => Sandbox::<b::master_hooks::MasterHooks, ()>::new(module, || ())?.start(),
        "agent-hooks" => Sandbox::<b::agent_hooks::AgentHooks, ()>::new(module, || ())?.start(),
        "authorizer" => Sandbox::<b::authorizer::Authorizer, ()>::new(module, || ())?.start(),
        _ => Ok(()),
    }
}

fn print_summary(m: &LoadedModule, size: usize) {
    println!("  kind:     {}", m.world.kind);
    println!("  world:    {}", m.world.world_name());
    println!("  export:   {}", m.world.export_name());
    println!("  size:     {size} bytes, sha256 {}", m.sha256);
    println!(
        "  compiled: {:?} in {:.1} ms",
        m.cache,
        m.compile_time.as_secs_f64() * 1e3
    );
    println!("  imports:  {}", list(&m.summary.imports));
    println!("  exports:  {}", list(&m.summary.exports));
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".into()
    } else {
        items.join(", ")
    }
}

fn check(file: &Path, kind: &str, no_cache: bool) -> ExitCode {
    let loader = loader(no_cache);
    let spec = file_spec(file, Some(kind));
    match loader.load(&spec).map(Arc::new).and_then(link) {
        Ok(m) => {
            println!("ok: {} implements {}", file.display(), m.world.world_name());
            print_summary(
                &m,
                std::fs::metadata(file)
                    .map(|m| m.len() as usize)
                    .unwrap_or(0),
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn inspect(file: &Path, no_cache: bool) -> ExitCode {
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", file.display());
            return ExitCode::FAILURE;
        }
    };
    println!("{}", file.display());
    match classify_binary(&bytes) {
        Binary::NotWasm => {
            println!("  format:   not WebAssembly ({} bytes)", bytes.len());
            return ExitCode::FAILURE;
        }
        Binary::CoreModule => {
            println!(
                "  format:   core WebAssembly module, not a component ({} bytes)",
                bytes.len()
            );
            println!(
                "  hint:     build with `--target wasm32-wasip2`, or wrap it with `wasm-tools component new`"
            );
            return ExitCode::FAILURE;
        }
        Binary::Component => println!("  format:   WebAssembly component ({} bytes)", bytes.len()),
    }
    let engine = match meseta_runtime::engine::engine() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cache = loader(no_cache).cache;
    let compiled = match cache.compile(engine, &bytes) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {} failed to compile: {e:#}", file.display());
            return ExitCode::FAILURE;
        }
    };
    let summary = world::summarize(engine, &compiled.component);
    let kinds: Vec<String> = world::implemented(&summary, WORLDS)
        .iter()
        .map(|w| format!("{} ({})", w.kind, w.world_name()))
        .collect();
    println!(
        "  kind:     {}",
        if kinds.is_empty() {
            "none: implements no Meseta module world".to_string()
        } else {
            kinds.join(", ")
        }
    );
    println!("  sha256:   {}", compiled.sha256);
    println!(
        "  compiled: {:?} in {:.1} ms",
        compiled.outcome,
        compiled.elapsed.as_secs_f64() * 1e3
    );
    println!("  imports:  {}", list(&summary.imports));
    println!("  exports:  {}", list(&summary.exports));
    ExitCode::SUCCESS
}

fn validate(modules: Option<&str>, modules_dir: Option<&Path>, no_cache: bool) -> ExitCode {
    if modules.is_none() && modules_dir.is_none() {
        eprintln!(
            "error: give a manifest with --modules (a path, file:// URI or inline JSON) or a directory with --modules_dir"
        );
        return ExitCode::from(2);
    }
    let manifest = match Manifest::from_flags(modules, modules_dir) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if manifest.modules.is_empty() {
        eprintln!("error: the manifest lists no modules");
        return ExitCode::from(2);
    }
    let loader = loader(no_cache);
    let mut failed = 0;
    for spec in &manifest.modules {
        let result = loader.load(spec).map(Arc::new).and_then(|m| {
            let summary = (
                m.world.kind,
                m.world.world_name(),
                m.spec.settings.failure_policy,
            );
            start(m).map(|()| summary)
        });
        match result {
            Ok((kind, world, policy)) => println!(
                "ok      {:<28} {:<18} {world}  source={}  parameters={}  failure_policy={}",
                spec.name,
                kind,
                spec.source,
                spec.parameters.len(),
                policy.as_str()
            ),
            Err(e) => {
                failed += 1;
                println!("FAILED  {:<28} {e}", spec.name);
            }
        }
    }
    println!(
        "{} modules: {} ok, {failed} failed",
        manifest.modules.len(),
        manifest.modules.len() - failed
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
