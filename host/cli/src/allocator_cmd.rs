//! `meseta allocator`: the operator's side of the master's allocator calls (extensions of the
//! v1 operator API): `swap` replaces the live allocator without a restart (`SWAP_ALLOCATOR`);
//! `shadow add|remove|list` runs candidates beside it (`ADD_SHADOW_ALLOCATOR`,
//! `REMOVE_SHADOW_ALLOCATOR`, `GET_SHADOW_ALLOCATORS`).

use std::process::ExitCode;

use clap::{Args, Subcommand};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;

#[derive(Subcommand)]
pub enum AllocatorCommand {
    /// Replace a running master's allocator between two allocation rounds. The candidate is
    /// given the cluster's state and is rolled back by itself if it faults in its first rounds;
    /// `/master/modules` lists every swap.
    Swap(SwapArgs),
    /// Run candidate allocators in shadow beside the live one: each gets every event and
    /// computes its own rounds, its offers are never sent, and the master reports how its
    /// rounds differ from the live allocator's.
    #[command(subcommand)]
    Shadow(ShadowCommand),
}

#[derive(Subcommand)]
pub enum ShadowCommand {
    /// Start a shadow allocator beside the live one.
    Add(SwapArgs),
    /// Stop a shadow allocator.
    Remove(RemoveArgs),
    /// Show each shadow allocator's comparison with the live allocator.
    List(ListArgs),
}

#[derive(Args)]
pub struct SwapArgs {
    /// The master (`http(s)://host:port`, or `host:port`: `https` with
    /// `LIBPROCESS_SSL_ENABLED`); a standby's redirect is followed.
    #[arg(long, default_value = "127.0.0.1:5050")]
    master: String,
    /// A module manifest (`--modules`' format) on the master's machine whose entry named
    /// ALLOCATOR to load, with its parameters and settings.
    #[arg(long)]
    manifest: Option<std::path::PathBuf>,
    /// A module name (`allocator-binpack`, `allocator-drf`, one of the master's `--modules`),
    /// `hierarchical` for the native DRF, or a component file (`*.wasm`) on the master's machine.
    allocator: String,
}

#[derive(Args)]
pub struct RemoveArgs {
    /// The master (`http(s)://host:port`, or `host:port`: `https` with
    /// `LIBPROCESS_SSL_ENABLED`); a standby's redirect is followed.
    #[arg(long, default_value = "127.0.0.1:5050")]
    master: String,
    /// The shadow's name, as `meseta allocator shadow list` shows it.
    name: String,
}

#[derive(Args)]
pub struct ListArgs {
    /// The master (`http(s)://host:port`, or `host:port`: `https` with
    /// `LIBPROCESS_SSL_ENABLED`); a standby's redirect is followed.
    #[arg(long, default_value = "127.0.0.1:5050")]
    master: String,
    /// Print the master's answer as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: AllocatorCommand) -> ExitCode {
    let (what, outcome) = match cmd {
        AllocatorCommand::Swap(args) => ("swap", swap(&args)),
        AllocatorCommand::Shadow(ShadowCommand::Add(args)) => ("shadow add", shadow_add(&args)),
        AllocatorCommand::Shadow(ShadowCommand::Remove(args)) => {
            ("shadow remove", shadow_remove(&args))
        }
        AllocatorCommand::Shadow(ShadowCommand::List(args)) => ("shadow list", shadow_list(&args)),
    };
    match outcome {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("meseta allocator {what}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The `allocator` (and `manifest`) fields of a call naming an allocator: files are named
/// absolutely, since the master reads them.
fn named(args: &SwapArgs) -> Result<serde_json::Value, String> {
    let mut allocator = args.allocator.trim().to_string();
    if allocator.ends_with(".wasm") {
        allocator = std::path::absolute(&allocator)
            .map_err(|e| format!("{allocator}: {e}"))?
            .display()
            .to_string();
    }
    let mut fields = serde_json::json!({ "allocator": allocator });
    if let Some(manifest) = &args.manifest {
        let manifest = std::path::absolute(manifest)
            .map_err(|e| format!("--manifest {}: {e}", manifest.display()))?;
        fields["manifest"] = serde_json::json!(manifest.display().to_string());
    }
    Ok(fields)
}

fn swap(args: &SwapArgs) -> Result<String, String> {
    let call = serde_json::json!({"type": "SWAP_ALLOCATOR", "swap_allocator": named(args)?});
    let (base, answer) = operator_call(&args.master, &call)?;
    let swap = &answer["swap_allocator"];
    Ok(format!(
        "allocator swapped: {} -> {} (rolled back by itself if it faults in its first {} rounds; see {base}/master/modules)",
        swap["from"].as_str().unwrap_or("?"),
        swap["to"].as_str().unwrap_or("?"),
        meseta_master::allocator::PROBATION_ROUNDS,
    ))
}

fn shadow_add(args: &SwapArgs) -> Result<String, String> {
    let call = serde_json::json!({
        "type": "ADD_SHADOW_ALLOCATOR",
        "add_shadow_allocator": named(args)?,
    });
    let (base, answer) = operator_call(&args.master, &call)?;
    let name = answer
        .pointer("/add_shadow_allocator/shadow_allocator/name")
        .and_then(|n| n.as_str())
        .unwrap_or("?");
    Ok(format!(
        "shadow allocator '{name}' runs beside the live allocator; compare with `meseta allocator shadow list --master {base}`"
    ))
}

fn shadow_remove(args: &RemoveArgs) -> Result<String, String> {
    let call = serde_json::json!({
        "type": "REMOVE_SHADOW_ALLOCATOR",
        "remove_shadow_allocator": {"name": args.name.trim()},
    });
    operator_call(&args.master, &call)?;
    Ok(format!("shadow allocator '{}' removed", args.name.trim()))
}

fn shadow_list(args: &ListArgs) -> Result<String, String> {
    let call = serde_json::json!({"type": "GET_SHADOW_ALLOCATORS"});
    let (_, answer) = operator_call(&args.master, &call)?;
    let shadows = answer
        .pointer("/get_shadow_allocators/shadow_allocators")
        .and_then(|s| s.as_array())
        .cloned()
        .unwrap_or_default();
    if args.json {
        return serde_json::to_string_pretty(&shadows).map_err(|e| e.to_string());
    }
    if shadows.is_empty() {
        return Ok(
            "no shadow allocators run (add one with `meseta allocator shadow add NAME`)".into(),
        );
    }
    let mut out = String::new();
    for s in &shadows {
        out.push_str(&shadow_text(s));
    }
    Ok(out.trim_end().to_string())
}

/// One shadow's report as an operator reads it.
fn shadow_text(s: &serde_json::Value) -> String {
    let f = |p: &str| s.pointer(p).and_then(|v| v.as_f64()).unwrap_or(0.0);
    let u = |p: &str| s.pointer(p).and_then(|v| v.as_u64()).unwrap_or(0);
    let mut out = format!(
        "{} ({}){}\n  rounds {} (differing {}, skipped {}, faulted {}), offers differing {}, round {:.2} ms (mean {:.2}, max {:.2}), backlog {}\n  fairness (Jain, mean over rounds): {}\n",
        s["name"].as_str().unwrap_or("?"),
        s["state"].as_str().unwrap_or("?"),
        s["reason"]
            .as_str()
            .map(|r| format!(": {r}"))
            .unwrap_or_default(),
        u("/rounds"),
        u("/rounds_differing"),
        u("/rounds_skipped"),
        u("/faults"),
        u("/offers_differing"),
        f("/round_ms/last"),
        f("/round_ms/mean"),
        f("/round_ms/max"),
        u("/backlog"),
        if u("/rounds") > u("/faults") {
            format!(
                "live {:.3}, shadow {:.3}",
                f("/fairness_index_mean/live"),
                f("/fairness_index_mean/shadow")
            )
        } else {
            "no round compared yet".to_string()
        },
    );
    if let Some(fault) = s["last_fault"].as_str() {
        out.push_str(&format!("  last fault: {fault}\n"));
    }
    if let Some(last) = s.get("last_round") {
        out.push_str(&format!(
            "  last round at t={} ms: live {} offers, shadow {}, {} the same\n",
            last["time_ms"].as_u64().unwrap_or(0),
            last["live_offers"].as_u64().unwrap_or(0),
            last["shadow_offers"].as_u64().unwrap_or(0),
            last["offers_same"].as_u64().unwrap_or(0),
        ));
    }
    if let Some(last) = s.get("last_differing_round") {
        out.push_str(&format!(
            "  last differing round at t={} ms: live {} offers, shadow {}, {} the same; fairness live {:.3}, shadow {:.3}\n",
            last["time_ms"].as_u64().unwrap_or(0),
            last["live_offers"].as_u64().unwrap_or(0),
            last["shadow_offers"].as_u64().unwrap_or(0),
            last["offers_same"].as_u64().unwrap_or(0),
            last.pointer("/fairness_index/live").and_then(|v| v.as_f64()).unwrap_or(0.0),
            last.pointer("/fairness_index/shadow").and_then(|v| v.as_f64()).unwrap_or(0.0),
        ));
        out.push_str(&format!(
            "    {:<16} {:>14} {:>14}  {:<28} {}\n",
            "role", "share live", "share shadow", "offered live", "offered shadow"
        ));
        for r in last["roles"].as_array().into_iter().flatten() {
            let amounts = |side: &str| {
                r.pointer(&format!("/offered/{side}"))
                    .and_then(|o| o.as_object())
                    .map(|o| {
                        o.iter()
                            .map(|(k, v)| format!("{k}:{}", v.as_f64().unwrap_or(0.0)))
                            .collect::<Vec<_>>()
                            .join(";")
                    })
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| "-".into())
            };
            out.push_str(&format!(
                "    {:<16} {:>14.3} {:>14.3}  {:<28} {}\n",
                r["role"].as_str().unwrap_or("?"),
                r.pointer("/dominant_share/live")
                    .and_then(|v| v.as_f64())
                    .unwrap_or(0.0),
                r.pointer("/dominant_share/shadow")
                    .and_then(|v| v.as_f64())
                    .unwrap_or(0.0),
                amounts("live"),
                amounts("shadow"),
            ));
        }
    }
    out
}

/// Posts `call` to the master's `/api/v1`, following a standby's redirect: the master's base
/// URL and its JSON answer (`null` for an empty one).
fn operator_call(
    master: &str,
    call: &serde_json::Value,
) -> Result<(String, serde_json::Value), String> {
    let body = call.to_string();
    meseta_http::tls::process()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    let base = master.trim().trim_end_matches('/');
    let mut base = if base.contains("://") {
        base.to_string()
    } else {
        meseta_http::tls::url(base)
    };
    runtime.block_on(async {
        let client = meseta_http::client::<Full<Bytes>>(meseta_http::ClientOptions {
            connect_timeout: None,
            pool_idle_timeout: None,
            ..meseta_http::ClientOptions::default()
        });
        for _ in 0..3 {
            let request = hyper::Request::post(format!("{base}/api/v1"))
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body.clone())))
                .map_err(|e| format!("--master {master}: {e}"))?;
            let response =
                tokio::time::timeout(std::time::Duration::from_secs(60), client.request(request))
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
                // Mesos' standbys redirect protocol-relatively: `//leader:port/api/v1`; the
                // scheme stays the one this request used.
                let scheme = base.split("://").next().unwrap_or("http").to_string();
                let authority = location
                    .trim_start_matches("http://")
                    .trim_start_matches("https://")
                    .trim_start_matches("//")
                    .split('/')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                base = format!("{scheme}://{authority}");
                continue;
            }
            if !status.is_success() {
                return Err(format!("the master answered {status}: {}", text.trim()));
            }
            if text.trim().is_empty() {
                return Ok((base, serde_json::Value::Null));
            }
            let answer: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| format!("the master's answer is not JSON ({e}): {text}"))?;
            return Ok((base, answer));
        }
        Err(format!("too many redirects from {master}"))
    })
}
