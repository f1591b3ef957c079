//! `meseta`: the one binary. Flags, subcommands and the tracing subscriber live here.

mod module_cmd;

use clap::{Parser, Subcommand};

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

#[derive(Subcommand)]
enum Command {
    /// Check, inspect and validate modules and module manifests.
    #[command(subcommand)]
    Module(module_cmd::ModuleCommand),
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MESETA_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Module(cmd) => module_cmd::run(cmd),
    }
}
