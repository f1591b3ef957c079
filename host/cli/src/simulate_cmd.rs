//! `meseta simulate`: replays a workload through allocators in virtual time (`meseta-simulate`),
//! and `meseta simulate generate` writes a synthetic workload.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};
use meseta_simulate::generate::{GenOptions, generate};
use meseta_simulate::{AllocatorSpec, Candidate, Native, Progress, SimOptions, Workload};

use crate::daemon_cmd::{ModuleArgs, Modules, NATIVE_ALLOCATOR};
use crate::module_cmd;

#[derive(Clone, Copy, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SimulateCommand {
    #[command(subcommand)]
    generate: Option<SimulateSub>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum SimulateSub {
    /// Write a synthetic workload (distributions: see `meseta_simulate::generate`).
    Generate(GenerateArgs),
}

#[derive(Args)]
struct RunArgs {
    /// The workload file (JSON; format in README.md, "Simulating allocation policies").
    workload: Option<PathBuf>,
    /// Allocators to compare, repeated or comma-separated: a module from --modules or built into
    /// this binary (`allocator-drf`, `allocator-binpack`), a component file (`*.wasm`), or a
    /// native twin: `hierarchical` (native DRF, as `meseta master` names it),
    /// `native:allocator-drf`, `native:allocator-binpack`.
    #[arg(long, value_delimiter = ',', default_value = "allocator-drf")]
    allocator: Vec<String>,
    #[command(flatten)]
    modules: ModuleArgs,
    /// `table` for reading, `json` for the whole report with its time series.
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
    /// Write SVG charts (utilisation, dominant shares, fairness, agents used) into this directory.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Seed of the frameworks' random declines (`decline_fraction`).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Stop at this many seconds of virtual time even if tasks remain.
    #[arg(long)]
    until: Option<f64>,
    /// Show a progress bar on stderr even when it is not a terminal.
    #[arg(long)]
    progress: bool,
}

#[derive(Args)]
struct GenerateArgs {
    #[arg(long, default_value_t = 100)]
    agents: u32,
    #[arg(long, default_value_t = 4)]
    frameworks: u32,
    #[arg(long, default_value_t = 1000)]
    tasks: u32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Roles (default: as many as frameworks, at most 4).
    #[arg(long)]
    roles: Option<u32>,
    /// Expected CPU demand as a fraction of the cluster's CPUs.
    #[arg(long, default_value_t = 0.8)]
    load: f64,
    /// Median task duration in seconds (log-normal, σ 1).
    #[arg(long = "median-duration", default_value_t = 60.0)]
    median_duration: f64,
    /// Write here instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(cmd: SimulateCommand) -> ExitCode {
    let result = match cmd.generate {
        Some(SimulateSub::Generate(g)) => generate_cmd(&g),
        None => simulate_cmd(&cmd.run),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("meseta simulate: {e}");
            ExitCode::FAILURE
        }
    }
}

fn generate_cmd(g: &GenerateArgs) -> Result<(), String> {
    let w = generate(&GenOptions {
        agents: g.agents,
        frameworks: g.frameworks,
        tasks: g.tasks,
        seed: g.seed,
        roles: g.roles,
        load: g.load,
        median_duration: g.median_duration,
    })?;
    let text = w.to_json() + "\n";
    match &g.out {
        Some(path) => {
            std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
        }
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .map_err(|e| e.to_string()),
    }
}

/// The allocators the flag names, resolved as `meseta master --allocator` resolves its one.
fn candidates(args: &RunArgs) -> Result<Vec<Candidate>, String> {
    let mut modules: Option<Modules> = None;
    let mut out = Vec::new();
    for name in args
        .allocator
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
    {
        let spec = if NATIVE_ALLOCATOR.contains(&name) || name == "native:allocator-drf" {
            AllocatorSpec::Native(Native::Drf)
        } else if name == "native:allocator-binpack" {
            AllocatorSpec::Native(Native::Binpack)
        } else if name.ends_with(".wasm") {
            let spec = module_cmd::file_spec(Path::new(name), Some("allocator"));
            let m = module_cmd::loader(false)
                .load(&spec)
                .map_err(|e| format!("--allocator: {e}"))?;
            AllocatorSpec::Module(std::sync::Arc::new(m))
        } else {
            let modules = match &mut modules {
                Some(m) => m,
                None => modules.insert(Modules::load(&args.modules)?),
            };
            AllocatorSpec::Module(modules.allocator(name, "--allocator")?)
        };
        out.push(Candidate {
            name: name.to_string(),
            spec,
        });
    }
    if out.is_empty() {
        return Err("--allocator: name at least one allocator".into());
    }
    Ok(out)
}

fn simulate_cmd(args: &RunArgs) -> Result<(), String> {
    let Some(path) = &args.workload else {
        return Err(
            "name a workload file (`meseta simulate WORKLOAD.json`), or write one with `meseta simulate generate`"
                .into(),
        );
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let workload = Workload::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let candidates = candidates(args)?;
    let until_ms = match args.until {
        Some(s) if s.is_finite() && s >= 0.0 => Some((s * 1000.0) as u64),
        Some(s) => {
            return Err(format!(
                "--until must be a non-negative number of seconds, got {s}"
            ));
        }
        None => None,
    };
    let options = SimOptions {
        seed: args.seed,
        until_ms,
        points: 0,
    };
    let mut bar = Bar::new(args.progress || std::io::stderr().is_terminal());
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let report = meseta_simulate::simulate(&name, &workload, &candidates, &options, &mut |p| {
        bar.show(p)
    })
    .map_err(|e| format!("{}: {e}", path.display()))?;
    bar.clear();
    match args.format {
        OutputFormat::Table => print!("{}", report.table()),
        OutputFormat::Json => println!("{}", report.to_json()),
    }
    if let Some(dir) = &args.svg {
        let files = meseta_simulate::plot::write_svgs(&report, dir)
            .map_err(|e| format!("cannot write the charts into {}: {e}", dir.display()))?;
        for f in files {
            eprintln!("wrote {}", f.display());
        }
    }
    Ok(())
}

/// A one-line progress bar on stderr, redrawn at most ten times a second.
struct Bar {
    on: bool,
    last: Option<Instant>,
    drawn: bool,
}

impl Bar {
    fn new(on: bool) -> Self {
        Bar {
            on,
            last: None,
            drawn: false,
        }
    }

    fn show(&mut self, p: &Progress) {
        if !self.on
            || self
                .last
                .is_some_and(|l| l.elapsed() < Duration::from_millis(100))
        {
            return;
        }
        self.last = Some(Instant::now());
        let done = if p.tasks == 0 {
            1.0
        } else {
            p.finished as f64 / p.tasks as f64
        };
        let width = 30;
        let filled = ((done * width as f64) as usize).min(width);
        eprint!(
            "\r{:<20} [{}{}] {:>5.1}%  virtual time {:>8} s  tasks arrived {}/{}  \x1b[K",
            p.allocator,
            "#".repeat(filled),
            "-".repeat(width - filled),
            done * 100.0,
            p.now_ms / 1000,
            p.arrived,
            p.tasks
        );
        self.drawn = true;
    }

    fn clear(&mut self) {
        if self.drawn {
            eprint!("\r\x1b[K");
            self.drawn = false;
        }
    }
}
