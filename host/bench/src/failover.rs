//! Fault tolerance through a real master (in this process, on 127.0.0.1) and simulated agents
//! on the real master–agent protocol (see `launch`):
//!
//! - `registry`: durable agent admissions per second. Agents register concurrently; each is
//!   answered only once its admission is in the registry. The same run with `--registry
//!   in_memory` is the baseline column, the embedded store (redb, fsync per commit) the
//!   measured one; each runs twice, alternating, and its faster run counts.
//! - `master-failover`: a master with many agents and tasks is stopped and a new one started on
//!   the same port and work dir; the time from the new master's start until every agent has
//!   re-registered (reporting its tasks) and the re-subscribed framework has an offer. The
//!   baseline column is the same cluster's first start (registrations without recovery).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use meseta_api::internal as wire;
use meseta_master::{Master, MasterConfig};
use meseta_registry::Backend;
use serde_json::{Value, json};

use crate::launch::{self, AfterRunning, HttpClient, agent_resources, client, post, runtime};
use crate::{BenchOptions, Report, progress};

/// How many registrations are in flight at once.
const CONCURRENCY: usize = 256;

fn config(backend: Backend, work_dir: &std::path::Path, listen: SocketAddr) -> MasterConfig {
    MasterConfig {
        listen,
        registry: backend,
        work_dir: Some(work_dir.to_path_buf()),
        // the simulated agents answer every ping; a long interval keeps pings out of the way
        agent_ping_timeout: Duration::from_secs(60),
        ..MasterConfig::default()
    }
}

/// Registers agents `ids` (claimed ids when re-registering, `None` for new ones), with the
/// tasks `tasks(i)` reports, `CONCURRENCY` at a time; their ids as the master answered.
async fn register(
    client: &HttpClient,
    master: &str,
    endpoint: SocketAddr,
    ids: &[Option<String>],
    tasks: &(dyn Fn(usize) -> Value + Sync),
) -> anyhow::Result<Vec<String>> {
    let url = format!("http://{master}{}", wire::REGISTER);
    let mut out = Vec::with_capacity(ids.len());
    let mut inflight = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let mut body = json!({
            "agent_info": {"hostname": "127.0.0.1", "port": endpoint.port(),
                "resources": agent_resources()},
            "endpoint": endpoint.to_string(),
            "version": "bench",
            "tasks": tasks(i),
        });
        if let Some(id) = id {
            body["agent_info"]["id"] = json!({"value": id});
        }
        let (client, url) = (client.clone(), url.clone());
        inflight.push(tokio::spawn(async move {
            post(&client, &url, None, serde_json::to_vec(&body)?).await
        }));
        if inflight.len() == CONCURRENCY || i + 1 == ids.len() {
            for h in inflight.drain(..) {
                let (code, body) = h.await??;
                if code != 200 {
                    anyhow::bail!(
                        "agent registration: {code} {}",
                        String::from_utf8_lossy(&body)
                    );
                }
                let r: wire::Registered = serde_json::from_slice(&body)?;
                out.push(r.agent_id.value);
            }
        }
    }
    Ok(out)
}

/// `registry`: admissions per second, in memory and durable.
pub fn registry(o: &BenchOptions) -> anyhow::Result<Vec<Report>> {
    let agents = o.agents.unwrap_or(if o.quick { 200 } else { 10_000 }) as usize;
    let rt = runtime()?;
    // Each backend twice, alternating; the faster of its two runs counts (the first run of
    // the process also warms up the HTTP stack).
    let mut elapsed = [Duration::MAX; 2];
    for (slot, backend) in [
        Backend::InMemory,
        Backend::Redb,
        Backend::InMemory,
        Backend::Redb,
    ]
    .into_iter()
    .enumerate()
    .map(|(i, b)| (i % 2, b))
    {
        let dir = tempfile::tempdir()?;
        let took = rt.block_on(async {
            let master = Master::start(config(
                backend,
                dir.path(),
                SocketAddr::from(([127, 0, 0, 1], 0)),
            ))
            .await?;
            let address = master.address().to_string();
            let (_sim, endpoint) = launch::start_sim(&address, AfterRunning::Finish).await?;
            let client = client();
            let start = Instant::now();
            let ids = register(&client, &address, endpoint, &vec![None; agents], &|_| {
                json!([])
            })
            .await?;
            let took = start.elapsed();
            anyhow::ensure!(ids.len() == agents, "{} of {agents} registered", ids.len());
            master.stop().await;
            anyhow::Ok(took)
        })?;
        progress(
            "registry",
            format!(
                "{backend:?}: {agents} admissions in {took:?} ({:.0}/s)",
                agents as f64 / took.as_secs_f64()
            ),
        );
        elapsed[slot] = elapsed[slot].min(took);
    }
    let per_s = |d: Duration| agents as f64 / d.as_secs_f64().max(f64::MIN_POSITIVE);
    let durable = per_s(elapsed[1]);
    let mut r = Report::new(
        "registry",
        json!({"agents": agents, "concurrency": CONCURRENCY}),
        elapsed[0],
        elapsed[1],
    );
    r.set("in_memory_admissions_per_s", per_s(elapsed[0]).round());
    r.set("durable_admissions_per_s", durable.round());
    r.goal(
        format!("durable admissions >= 5,000/s ({durable:.0}/s)"),
        durable >= 5_000.0,
    );
    Ok(vec![r])
}

/// `master-failover`: a master with `agents` agents and `tasks` tasks restarted.
pub fn master_failover(o: &BenchOptions) -> anyhow::Result<Vec<Report>> {
    let agents = o.agents.unwrap_or(if o.quick { 50 } else { 10_000 }) as usize;
    let tasks = o.tasks.unwrap_or(if o.quick { 500 } else { 100_000 }) as usize;
    let per_agent = tasks.div_ceil(agents.max(1));
    let rt = runtime()?;
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let listen = SocketAddr::from(([127, 0, 0, 1], port));
    let address = listen.to_string();
    let (first, failover, offers) = rt.block_on(async {
        let (_sim, endpoint) = launch::start_sim(&address, AfterRunning::KeepRunning).await?;
        let client = client();
        let info = json!({"name": "failover-bench", "user": "root", "failover_timeout": 3600.0,
            "checkpoint": true});

        // First start: agents admitted, a framework subscribed.
        let master = Master::start(config(Backend::Redb, dir.path(), listen)).await?;
        let start = Instant::now();
        let ids = register(&client, &address, endpoint, &vec![None; agents], &|_| json!([]))
            .await?;
        let first = start.elapsed();
        let sub = launch::subscribe(&client, &address, info.clone()).await?;
        let framework_id = sub.framework_id.clone();
        drop(sub);
        master.stop().await;
        progress("master-failover", format!("{agents} agents admitted in {first:?}"));

        // The agents' tasks, as they report them when re-registering.
        let mut framework = info.clone();
        framework["id"] = json!({"value": framework_id});
        let reported = |i: usize| -> Value {
            (0..per_agent)
                .filter(|k| i * per_agent + k < tasks)
                .map(|k| {
                    let task = format!("task-{i}-{k}");
                    json!({
                        "framework_id": {"value": framework_id},
                        "task": {"name": task, "task_id": {"value": task},
                            "agent_id": {"value": ids[i]},
                            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                                          {"name": "mem", "type": "SCALAR", "scalar": {"value": 32.0}}]},
                        "status": {"task_id": {"value": task}, "state": "TASK_RUNNING",
                            "agent_id": {"value": ids[i]}},
                        "framework": framework,
                    })
                })
                .collect()
        };

        // The new master: recovery, every agent back with its tasks, the framework's offer.
        let start = Instant::now();
        let master = loop {
            // the old registrar may still hold the file for a moment
            match Master::start(config(Backend::Redb, dir.path(), listen)).await {
                Ok(m) => break m,
                Err(e) if start.elapsed() < Duration::from_secs(10) => {
                    tracing_free_wait(&e).await;
                }
                Err(e) => return Err(e.into()),
            }
        };
        let claimed: Vec<Option<String>> = ids.iter().cloned().map(Some).collect();
        let (again, sub) = tokio::join!(
            register(&client, &address, endpoint, &claimed, &reported),
            launch::subscribe(&client, &address, framework.clone()),
        );
        let again = again?;
        anyhow::ensure!(again == ids, "agents re-registered under other ids");
        let mut sub = sub?;
        anyhow::ensure!(sub.framework_id == framework_id, "the framework got a new id");
        let mut offers = 0;
        while let Some(ev) = tokio::time::timeout(Duration::from_secs(60), sub.events.recv()).await? {
            if ev["type"] == "OFFERS" {
                offers = ev["offers"]["offers"].as_array().map_or(0, Vec::len);
                break;
            }
        }
        let failover = start.elapsed();
        let state = master.state();
        let running: usize = state["frameworks"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| f["tasks"].as_array().map_or(0, Vec::len))
            .sum();
        anyhow::ensure!(running == tasks, "{running} of {tasks} tasks known after failover");
        master.stop().await;
        anyhow::Ok((first, failover, offers))
    })?;
    progress(
        "master-failover",
        format!("failover to first offer in {failover:?}"),
    );
    let mut r = Report::new(
        "master-failover",
        json!({"agents": agents, "tasks": tasks}),
        first,
        failover,
    );
    r.consistent = offers > 0;
    r.set("failover_to_offer_ms", crate::ms(failover));
    r.goal(
        format!(
            "failover to first offer <= 5 s ({:.2} s)",
            failover.as_secs_f64()
        ),
        failover <= Duration::from_secs(5),
    );
    Ok(vec![r])
}

async fn tracing_free_wait(e: &meseta_master::StartError) {
    progress(
        "master-failover",
        format!("waiting for the registry file: {e}"),
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
}
