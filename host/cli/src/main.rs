//! `meseta`: the one binary. Flags, subcommands and the tracing subscriber live here.

mod allocator_cmd;
mod bench_cmd;
mod daemon_cmd;
mod module_cmd;
mod module_new;
mod module_test;
mod security_args;
mod simulate_cmd;

use clap::{Parser, Subcommand};

/// mimalloc instead of glibc's malloc: a launch-heavy master spends ~15% of its time in
/// `malloc`/`free` (HTTP bodies, JSON values, task records); see BENCHMARKS.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "meseta",
    version,
    about = "A Mesos-style cluster manager whose policies are WebAssembly components"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start-up: the size of the daemons' flag sets does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Check, inspect and validate modules and module manifests.
    #[command(subcommand)]
    Module(module_cmd::ModuleCommand),
    /// Run a master: the v1 scheduler API, offers from the allocator module, operator endpoints.
    Master(daemon_cmd::MasterCommand),
    /// Run an agent: registers with --master and runs tasks in sandboxes.
    Agent(daemon_cmd::AgentCommand),
    /// Run a master and one agent in one process, with the built-in modules; prints the
    /// master's URL.
    Local(daemon_cmd::LocalCommand),
    /// Benchmarks: each scenario's native twin and Wasm module in one run, with the ratio and
    /// Mesos' figure (`--quick`: all at small sizes, a smoke test).
    Bench(bench_cmd::BenchCommand),
    /// Replay a workload in virtual time through allocators (modules or native twins) and
    /// compare them side by side; `simulate generate` writes a synthetic workload.
    Simulate(simulate_cmd::SimulateCommand),
    /// Operate a running master's allocator: `allocator swap` replaces it without a restart;
    /// `allocator shadow add|remove|list` runs candidates beside it.
    #[command(subcommand)]
    Allocator(allocator_cmd::AllocatorCommand),
    /// Internal: the agent's per-container supervisor (see `meseta_agent::supervisor`).
    #[command(hide = true)]
    Supervise(SuperviseCommand),
}

#[derive(clap::Args)]
struct SuperviseCommand {
    /// The run's checkpoint directory, holding `launch.json`.
    #[arg(long = "run_dir")]
    run_dir: std::path::PathBuf,
    /// Kill the container when the agent (the holder of stdin's pipe) is gone.
    #[arg(long = "exit_with_agent")]
    exit_with_agent: bool,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Daemons log what they do; the module commands only what went wrong.
    let default = match cli.command {
        // the test kit reports every fault itself, with its step
        Command::Module(module_cmd::ModuleCommand::Test { .. }) => "error",
        Command::Module(_)
        | Command::Bench(_)
        | Command::Simulate(_)
        | Command::Allocator(_)
        | Command::Supervise(_) => "warn",
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MESETA_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match cli.command {
        Command::Module(cmd) => module_cmd::run(cmd),
        Command::Master(cmd) => daemon_cmd::master(cmd),
        Command::Agent(cmd) => daemon_cmd::agent(cmd),
        Command::Local(cmd) => daemon_cmd::local(cmd),
        Command::Bench(cmd) => bench_cmd::run(cmd),
        Command::Simulate(cmd) => simulate_cmd::run(cmd),
        Command::Allocator(cmd) => allocator_cmd::run(cmd),
        Command::Supervise(cmd) => {
            let code = meseta_agent::supervisor::main(&cmd.run_dir, cmd.exit_with_agent);
            std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn flags_are_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
