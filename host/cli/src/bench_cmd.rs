//! `meseta bench`: the benchmark scenarios of `meseta-bench`, native twin against Wasm module.

use std::process::ExitCode;

use clap::{Args, ValueEnum};
use meseta_bench::{BenchOptions, Format};

#[derive(Clone, Copy, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

#[derive(Args)]
pub struct BenchCommand {
    /// Scenarios to run: all, allocator-decline, allocator-quota, allocator-suppress,
    /// allocator-shadow, launch, hooks, authorizer, operator-state, operator-stream, module-start, master-memory, registry,
    /// master-failover, agent-recovery, ha-failover, languages (default: all).
    scenarios: Vec<String>,
    /// Every scenario at small sizes: a smoke test that they complete and agree (CI).
    #[arg(long)]
    quick: bool,
    /// Agents (overrides the scenario's default; for allocator-decline, one point of the grid).
    #[arg(long)]
    agents: Option<u32>,
    /// Frameworks (allocator scenarios; roles and frameworks for allocator-quota).
    #[arg(long)]
    frameworks: Option<u32>,
    /// Allocation rounds (allocator-decline, allocator-suppress, allocator-shadow).
    #[arg(long)]
    rounds: Option<u32>,
    /// Tasks (launch, master-memory).
    #[arg(long)]
    tasks: Option<u32>,
    /// `table` for reading, `json` for one object per result per line.
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
}

pub fn run(cmd: BenchCommand) -> ExitCode {
    let options = BenchOptions {
        scenarios: cmd.scenarios,
        quick: cmd.quick,
        agents: cmd.agents,
        frameworks: cmd.frameworks,
        rounds: cmd.rounds,
        tasks: cmd.tasks,
        format: match cmd.format {
            OutputFormat::Table => Format::Table,
            OutputFormat::Json => Format::Json,
        },
    };
    match meseta_bench::run(&options) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("meseta bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
