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

use crate::child::{self, Child};
use crate::launch::{self, AfterRunning, HttpClient, agent_resources, client, post, runtime};
use crate::{BenchOptions, Report, progress};

/// How many registrations are in flight at once.
pub(crate) const CONCURRENCY: usize = 256;

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

/// The REGISTER message of a simulated agent at `endpoint`: a new agent (`id` `None`), or one
/// re-registering under `id` with the `tasks` it reports.
pub(crate) fn registration(endpoint: SocketAddr, id: Option<&str>, tasks: Value) -> Value {
    let mut body = json!({
        "agent_info": {"hostname": "127.0.0.1", "port": endpoint.port(),
            "resources": agent_resources()},
        "endpoint": endpoint.to_string(),
        "version": "bench",
        "tasks": tasks,
    });
    if let Some(id) = id {
        body["agent_info"]["id"] = json!({"value": id});
    }
    body
}

/// The master's answer to a REGISTER.
pub(crate) enum Answer {
    /// Registered, under this id.
    Registered(String),
    /// Refused: the status and body (a standby's 503 or 307, a bad message).
    Refused(u16, String),
}

/// POSTs one REGISTER to `master` (`host:port`); an error when the master cannot be reached.
pub(crate) async fn post_registration(
    client: &HttpClient,
    master: &str,
    body: &Value,
) -> anyhow::Result<Answer> {
    let url = format!(
        "{}://{master}{}",
        meseta_http::tls::scheme(),
        wire::REGISTER
    );
    let (code, body) = post(client, &url, None, serde_json::to_vec(body)?).await?;
    if code != 200 {
        return Ok(Answer::Refused(
            code,
            String::from_utf8_lossy(&body).into_owned(),
        ));
    }
    let r: wire::Registered = serde_json::from_slice(&body)?;
    Ok(Answer::Registered(r.agent_id.value))
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
    let mut out = Vec::with_capacity(ids.len());
    let mut inflight = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let body = registration(endpoint, id.as_deref(), tasks(i));
        let (client, master) = (client.clone(), master.to_string());
        inflight.push(tokio::spawn(async move {
            post_registration(&client, &master, &body).await
        }));
        if inflight.len() == CONCURRENCY || i + 1 == ids.len() {
            for h in inflight.drain(..) {
                match h.await?? {
                    Answer::Registered(id) => out.push(id),
                    Answer::Refused(code, body) => {
                        anyhow::bail!("agent registration: {code} {body}")
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The tasks simulated agent `agent_id` reports when re-registering: `tasks` RUNNING tasks of
/// `framework` (a FrameworkInfo with its id), named `task-<agent>-<k>` after `index`, the
/// agent's index.
pub(crate) fn running_tasks(
    framework: &Value,
    agent_id: &str,
    index: usize,
    tasks: std::ops::Range<usize>,
) -> Value {
    tasks
        .map(|k| {
            let task = format!("task-{index}-{k}");
            json!({
                "framework_id": framework["id"],
                "task": {"name": task, "task_id": {"value": task},
                    "agent_id": {"value": agent_id},
                    "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                                  {"name": "mem", "type": "SCALAR", "scalar": {"value": 32.0}}]},
                "status": {"task_id": {"value": task}, "state": "TASK_RUNNING",
                    "agent_id": {"value": agent_id}},
                "framework": framework,
            })
        })
        .collect()
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
        let ids = register(&client, &address, endpoint, &vec![None; agents], &|_| {
            json!([])
        })
        .await?;
        let first = start.elapsed();
        let sub = launch::subscribe(&client, &address, info.clone()).await?;
        let framework_id = sub.framework_id.clone();
        drop(sub);
        master.stop().await;
        progress(
            "master-failover",
            format!("{agents} agents admitted in {first:?}"),
        );

        // The agents' tasks, as they report them when re-registering.
        let mut framework = info.clone();
        framework["id"] = json!({"value": framework_id});
        let reported = |i: usize| -> Value {
            let first = i * per_agent;
            running_tasks(
                &framework,
                &ids[i],
                i,
                0..per_agent.min(tasks.saturating_sub(first)),
            )
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
        anyhow::ensure!(
            sub.framework_id == framework_id,
            "the framework got a new id"
        );
        let mut offers = 0;
        while let Some(ev) =
            tokio::time::timeout(Duration::from_secs(60), sub.events.recv()).await?
        {
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
        anyhow::ensure!(
            running == tasks,
            "{running} of {tasks} tasks known after failover"
        );
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

/// Starts `meseta agent` (this same binary) and waits for its `Agent: ` line.
fn spawn_agent(master: &str, port: u16, work_dir: &std::path::Path) -> anyhow::Result<Child> {
    let mut command = child::meseta()?;
    command
        .args(["agent", "--master", master, "--ip", "127.0.0.1", "--port"])
        .arg(port.to_string())
        .arg("--work_dir")
        .arg(work_dir)
        .args([
            "--resources",
            "cpus:1000;mem:100000;disk:1000;ports:[31000-32000]",
        ])
        .env("MESETA_LOG", "error")
        .stderr(std::process::Stdio::null());
    Ok(child::spawn_ready(&mut command, "Agent: ")?.0)
}

/// `agent-recovery`: an agent running `tasks` tasks of a checkpointing framework is SIGKILLed
/// and restarted; the time until it has re-registered with every task reattached.
pub fn agent_recovery(o: &BenchOptions) -> anyhow::Result<Vec<Report>> {
    let tasks = o.tasks.unwrap_or(if o.quick { 20 } else { 1_000 }) as usize;
    let rt = runtime()?;
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let (launch_time, recovery, reattached) = rt.block_on(async {
        let master = Master::start(MasterConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            allocation_interval: Duration::from_millis(100),
            ..MasterConfig::default()
        })
        .await?;
        let address = master.address().to_string();
        let mut agent = spawn_agent(&address, port, dir.path())?;
        let client = client();
        let info = json!({"name": "recovery-bench", "user": "root", "checkpoint": true,
            "failover_timeout": 3600.0});
        let mut sub = launch::subscribe(&client, &address, info).await?;
        let scheduler = format!(
            "{}://{address}/api/v1/scheduler",
            meseta_http::tls::scheme()
        );
        let call = |body: Value| {
            let (client, scheduler, stream) =
                (client.clone(), scheduler.clone(), sub.stream_id.clone());
            async move {
                post(
                    &client,
                    &scheduler,
                    Some(&stream),
                    serde_json::to_vec(&body)?,
                )
                .await
            }
        };
        let framework = json!({"value": sub.framework_id});

        // Launch every task on the agent's first offer; wait until all run.
        let start = Instant::now();
        let offer = loop {
            let ev = tokio::time::timeout(Duration::from_secs(30), sub.events.recv())
                .await?
                .ok_or_else(|| anyhow::anyhow!("the stream ended"))?;
            if ev["type"] == "OFFERS" {
                break ev["offers"]["offers"][0].clone();
            }
        };
        let task_infos: Vec<Value> = (0..tasks)
            .map(|i| {
                json!({"name": format!("r{i}"), "task_id": {"value": format!("r{i}")},
                    "agent_id": offer["agent_id"],
                    "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}},
                                  {"name": "mem", "type": "SCALAR", "scalar": {"value": 32.0}}],
                    "command": {"value": "sleep 3600", "shell": true}})
            })
            .collect();
        call(
            json!({"type": "ACCEPT", "framework_id": framework, "accept": {
            "offer_ids": [offer["id"]],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": task_infos}}]}}),
        )
        .await?;
        let mut running = std::collections::HashSet::new();
        while running.len() < tasks {
            let ev = tokio::time::timeout(Duration::from_secs(120), sub.events.recv())
                .await?
                .ok_or_else(|| anyhow::anyhow!("the stream ended"))?;
            if ev["type"] != "UPDATE" {
                continue;
            }
            let status = &ev["update"]["status"];
            if let Some(uuid) = status.get("uuid") {
                call(json!({"type": "ACKNOWLEDGE", "framework_id": framework,
                    "acknowledge": {"agent_id": status["agent_id"], "task_id": status["task_id"],
                        "uuid": uuid}}))
                .await?;
            }
            match status["state"].as_str() {
                Some("TASK_RUNNING") => {
                    running.insert(status["task_id"]["value"].to_string());
                }
                Some("TASK_STARTING" | "TASK_STAGING") => {}
                other => anyhow::bail!("task {} ended {other:?}", status["task_id"]),
            }
        }
        let launch_time = start.elapsed();
        progress(
            "agent-recovery",
            format!("{tasks} tasks running in {launch_time:?}"),
        );

        // SIGKILL, restart, and wait for the re-registration with every task.
        drop(agent);
        let killed = meseta_api::common::timestamp_now();
        let start = Instant::now();
        agent = spawn_agent(&address, port, dir.path())?;
        let reattached = loop {
            let state = master.state();
            let slave = &state["slaves"][0];
            if slave["reregistered_time"]
                .as_f64()
                .is_some_and(|t| t >= killed)
            {
                let running = state["frameworks"][0]["tasks"].as_array().map_or(0, |t| {
                    t.iter().filter(|t| t["state"] == "TASK_RUNNING").count()
                });
                break running;
            }
            anyhow::ensure!(
                start.elapsed() < Duration::from_secs(120),
                "no re-registration"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let recovery = start.elapsed();
        // End the tasks: TEARDOWN, then the agent stops (and kills what is left).
        call(json!({"type": "TEARDOWN", "framework_id": framework})).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &agent.0.id().to_string()])
            .status();
        let _ = tokio::task::spawn_blocking(move || {
            let _ = agent.0.wait();
        })
        .await;
        master.stop().await;
        anyhow::Ok((launch_time, recovery, reattached))
    })?;
    progress(
        "agent-recovery",
        format!("re-registered with {reattached} of {tasks} tasks running in {recovery:?}"),
    );
    let mut r = Report::new(
        "agent-recovery",
        json!({"tasks": tasks}),
        launch_time,
        recovery,
    );
    r.consistent = reattached == tasks;
    r.set("recovery_ms", crate::ms(recovery));
    r.goal(
        format!(
            "recovery of {tasks} tasks <= 2 s ({:.2} s)",
            recovery.as_secs_f64()
        ),
        recovery <= Duration::from_secs(2),
    );
    Ok(vec![r])
}
