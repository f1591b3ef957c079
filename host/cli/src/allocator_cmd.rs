//! `meseta allocator swap`: the operator's side of the master's `SWAP_ALLOCATOR` call (an
//! extension of the v1 operator API): the live allocator is replaced without a restart.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

#[derive(Subcommand)]
pub enum AllocatorCommand {
    /// Replace a running master's allocator between two allocation rounds. The candidate is
    /// given the cluster's state and is rolled back by itself if it faults in its first rounds;
    /// `/master/modules` lists every swap.
    Swap(SwapArgs),
}

#[derive(Args)]
pub struct SwapArgs {
    /// The master (`http://host:port` or `host:port`); a standby's redirect is followed.
    #[arg(long, default_value = "http://127.0.0.1:5050")]
    master: String,
    /// A module manifest (`--modules`' format) on the master's machine whose entry named
    /// ALLOCATOR to load, with its parameters and settings.
    #[arg(long)]
    manifest: Option<std::path::PathBuf>,
    /// A module name (`allocator-binpack`, `allocator-drf`, one of the master's `--modules`),
    /// `hierarchical` for the native DRF, or a component file (`*.wasm`) on the master's machine.
    allocator: String,
}

pub fn run(cmd: AllocatorCommand) -> ExitCode {
    let AllocatorCommand::Swap(args) = cmd;
    match swap(&args) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("meseta allocator swap: {e}");
            ExitCode::FAILURE
        }
    }
}

fn swap(args: &SwapArgs) -> Result<String, String> {
    let mut allocator = args.allocator.trim().to_string();
    if allocator.ends_with(".wasm") {
        // The master reads the file: name it absolutely.
        allocator = std::path::absolute(&allocator)
            .map_err(|e| format!("{allocator}: {e}"))?
            .display()
            .to_string();
    }
    let mut call = serde_json::json!({
        "type": "SWAP_ALLOCATOR",
        "swap_allocator": {"allocator": allocator},
    });
    if let Some(manifest) = &args.manifest {
        // The master reads the manifest: name it absolutely.
        let manifest = std::path::absolute(manifest)
            .map_err(|e| format!("--manifest {}: {e}", manifest.display()))?;
        call["swap_allocator"]["manifest"] = serde_json::json!(manifest.display().to_string());
    }
    let body = call.to_string();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    let base = args.master.trim().trim_end_matches('/');
    let mut base = if base.contains("://") {
        base.to_string()
    } else {
        format!("http://{base}")
    };
    runtime.block_on(async {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        for _ in 0..3 {
            let request = hyper::Request::post(format!("{base}/api/v1"))
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body.clone())))
                .map_err(|e| format!("--master {}: {e}", args.master))?;
            let response = tokio::time::timeout(
                std::time::Duration::from_secs(60),
                client.request(request),
            )
            .await
            .map_err(|_| format!("{base} did not answer within 60 s"))?
            .map_err(|e| format!("cannot reach the master at {base}: {e}"))?;
            let status = response.status();
            let location = response
                .headers()
                .get(hyper::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .map(str::to_string);
            let text = response
                .into_body()
                .collect()
                .await
                .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
                .unwrap_or_default();
            if status == hyper::StatusCode::TEMPORARY_REDIRECT
                && let Some(location) = location
            {
                // Mesos' standbys redirect protocol-relatively: `//leader:port/api/v1`.
                let authority = location
                    .trim_start_matches("http://")
                    .trim_start_matches("//")
                    .split('/')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                base = format!("http://{authority}");
                continue;
            }
            if !status.is_success() {
                return Err(format!("the master answered {status}: {}", text.trim()));
            }
            let answer: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| format!("the master's answer is not JSON ({e}): {text}"))?;
            let swap = &answer["swap_allocator"];
            return Ok(format!(
                "allocator swapped: {} -> {} (rolled back by itself if it faults in its first {} rounds; see {base}/master/modules)",
                swap["from"].as_str().unwrap_or("?"),
                swap["to"].as_str().unwrap_or("?"),
                meseta_master::allocator::PROBATION_ROUNDS,
            ));
        }
        Err(format!("too many redirects from {}", args.master))
    })
}
