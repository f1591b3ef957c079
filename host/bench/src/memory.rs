//! Master memory: a `meseta master` child process (this same binary), one framework subscribed,
//! then many simulated agents registering over the real master–agent protocol, each reporting
//! its share of RUNNING tasks of that framework (the re-registration path a master takes after
//! a failover, which is how 100,000 running tasks get into it in seconds rather than through
//! 100,000 launches). Measures the child's resident set (`VmRSS`) once everything is in.
//! Run with `--allocator hierarchical` (native) and with the `allocator-drf` module.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::launch::{AfterRunning, client, register_agents, runtime, start_sim, subscribe};
use crate::{BenchOptions, Report, progress};

fn rss_kib(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok((field("VmRSS:"), field("VmHWM:")))
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    Ok(l.local_addr()?.port())
}

struct Figures {
    running: usize,
    registered: usize,
    register: Duration,
    rss_mib: f64,
    hwm_mib: f64,
    idle_rss_mib: f64,
}

fn one(
    allocator: &str,
    agents: u32,
    tasks: u32,
    work: &std::path::Path,
) -> anyhow::Result<Figures> {
    let name = "master-memory";
    let port = free_port()?;
    let child = crate::child::meseta()?
        .args([
            "master",
            "--ip",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--agent_ping_timeout",
            "3600secs",
            "--allocator",
            allocator,
        ])
        .env("MESETA_LOG", "error")
        .env("MESETA_WORK_DIR", work)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let child = crate::child::Child(child);
    let pid = child.0.id();
    let master = format!("127.0.0.1:{port}");
    let rt = runtime()?;
    let out = rt.block_on(async {
        let http = client();
        let started = Instant::now();
        loop {
            let req = hyper::Request::get(format!("{}://{master}/health", meseta_http::tls::scheme()))
                .body(http_body_util::Full::new(axum::body::Bytes::new()))?;
            if let Ok(r) = http.request(req).await
                && r.status() == 200
            {
                break;
            }
            if started.elapsed() > Duration::from_secs(30) {
                anyhow::bail!("master on {master} did not answer /health within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (idle, _) = rss_kib(pid)?;
        let (_sim, endpoint) = start_sim(&master, AfterRunning::KeepRunning).await?;
        let sub = subscribe(
            &http,
            &master,
            json!({"user": "bench", "name": "meseta-bench-memory", "roles": ["*"],
                "failover_timeout": 86400.0}),
        )
        .await?;
        let framework_id = sub.framework_id.clone();
        // Offers keep coming; nobody answers them (they stay outstanding, as in a busy master).
        let mut events = sub.events;
        tokio::spawn(async move { while events.recv().await.is_some() {} });
        let per_agent = tasks.div_ceil(agents.max(1));
        progress(
            name,
            format!("--allocator {allocator}: registering {agents} agents with {per_agent} running tasks each"),
        );
        let framework_info = json!({"user": "bench", "name": "meseta-bench-memory",
            "id": {"value": framework_id}, "roles": ["*"]});
        let t = Instant::now();
        let mut remaining = tasks;
        let mut counts = Vec::with_capacity(agents as usize);
        for _ in 0..agents {
            let n = per_agent.min(remaining);
            remaining -= n;
            counts.push(n);
        }
        register_agents(&http, &master, endpoint, agents, |i| {
            let agent_id = format!("sim-agent-{i}");
            let n = counts.get(i as usize).copied().unwrap_or(0);
            Value::Array(
                (0..n)
                    .map(|k| {
                        let id = format!("a{i}-t{k}");
                        json!({
                            "framework_id": {"value": framework_id},
                            "framework": framework_info,
                            "task": {"name": id, "task_id": {"value": id},
                                "agent_id": {"value": agent_id},
                                "resources": [
                                    {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                                    {"name": "mem", "type": "SCALAR", "scalar": {"value": 32.0}}],
                                "command": {"value": "sleep 1000", "shell": true}},
                            "status": {"task_id": {"value": id}, "state": "TASK_RUNNING",
                                "agent_id": {"value": agent_id}},
                        })
                    })
                    .collect(),
            )
        })
        .await?;
        let register = t.elapsed();
        // Let offers and the first rounds settle.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (rss, hwm) = rss_kib(pid)?;
        // After the measurement (rendering the state costs memory): did everything get in?
        let req = hyper::Request::get(format!("{}://{master}/master/state", meseta_http::tls::scheme()))
            .body(http_body_util::Full::new(axum::body::Bytes::new()))?;
        let body = http_body_util::BodyExt::collect(http.request(req).await?.into_body())
            .await?
            .to_bytes();
        let state: Value = serde_json::from_slice(&body)?;
        let running = state["frameworks"]
            .as_array()
            .map(|fs| {
                fs.iter()
                    .filter_map(|f| f["tasks"].as_array())
                    .flatten()
                    .filter(|t| t["state"] == "TASK_RUNNING")
                    .count()
            })
            .unwrap_or(0);
        let registered = state["slaves"].as_array().map_or(0, Vec::len);
        Ok(Figures {
            running,
            registered,
            register,
            rss_mib: rss as f64 / 1024.0,
            hwm_mib: hwm as f64 / 1024.0,
            idle_rss_mib: idle as f64 / 1024.0,
        })
    });
    rt.shutdown_timeout(Duration::from_secs(1));
    drop(child);
    out
}

pub fn run(o: &BenchOptions) -> anyhow::Result<Vec<Report>> {
    let agents = o.agents.unwrap_or(if o.quick { 100 } else { 10_000 });
    let tasks = o.tasks.unwrap_or(if o.quick { 1_000 } else { 100_000 });
    let work = tempfile::tempdir()?;
    let n = one("hierarchical", agents, tasks, work.path())?;
    let w = one("allocator-drf", agents, tasks, work.path())?;
    let mut rep = Report::new(
        "master-memory",
        json!({"agents": agents, "tasks": tasks}),
        n.register,
        w.register,
    );
    rep.consistent = [&n, &w]
        .iter()
        .all(|f| f.running == tasks as usize && f.registered == agents as usize);
    if !rep.consistent {
        progress(
            "master-memory",
            format!(
                "expected {agents} agents and {tasks} running tasks; native master has {} and {}, Wasm {} and {}",
                n.registered, n.running, w.registered, w.running
            ),
        );
    }
    rep.set("timed", "registration of every agent with its tasks");
    rep.set("native_rss_mib", n.rss_mib.round());
    rep.set("wasm_rss_mib", w.rss_mib.round());
    rep.set("native_peak_rss_mib", n.hwm_mib.round());
    rep.set("wasm_peak_rss_mib", w.hwm_mib.round());
    rep.set("idle_rss_mib", w.idle_rss_mib.round());
    rep.set(
        "anchor_note",
        "Mesos publishes no master RSS figure at this size",
    );
    if agents >= 10_000 && tasks >= 100_000 {
        rep.goal("master RSS <= 1 GiB (Wasm)", w.rss_mib <= 1024.0);
    }
    Ok(vec![rep])
}
