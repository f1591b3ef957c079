//! `ha-failover`: masters in high availability on ZooKeeper, the leader SIGKILLed.
//!
//! Three `meseta master` child processes (this same binary) contend under one `--zk` path of a
//! local ZooKeeper ([`meseta_zk::server::LocalZooKeeper`]: Debian's `zookeeper` package, which
//! must be installed; the bench installs nothing), each with its own work dir, on 127.0.0.1 with
//! ephemeral ports and `--zk_session_timeout` 10 s (Mesos' default; 2 s with `--quick`).
//! Simulated agents (`launch`'s listener, the real master–agent protocol) and a framework (the
//! v1 scheduler API) find the leader through ZooKeeper: the agents share one [`Detector`] (one
//! session for all of them where real agents have one each: they all watch the same znodes, so
//! they learn of a new leader at the same moment), the framework has its own.
//!
//! Each simulated agent follows the leader as `meseta agent`'s registration loop does
//! (`host/agent/src/daemon/master_link.rs`): when the detector names another leader it
//! registers with it at once, under its id and reporting its tasks; when that fails (a new
//! leader answers 503 until it has recovered its registry) it tries again after the agent's
//! registration backoff (`AgentConfig::registration_backoff`, 1 s, doubling up to ten times
//! that), or at once when yet another leader is named. The framework re-subscribes with its
//! framework id on the same schedule. At most 256 registrations are in flight at once (the load
//! generator's limit, as in `master-failover`).
//!
//! Measured from the SIGKILL of the leader: until the detector names a new leader, until that
//! leader has recovered (`master/elected` 1 on its `/metrics/snapshot`), until every agent has
//! re-registered, until the framework has re-subscribed, and until its first offer (the
//! measured column). The first of these is ZooKeeper's: the dead leader's session expires one
//! session timeout after the last message the leader sent it (its client pings when idle for
//! 3/8 of its connection timeout, so that message may be up to about 2.5 s older than the kill
//! with 10 s sessions), rounded up to the server's tick; it varies from run to run by that
//! much. `detected_to_offer_ms` is the part after it, the masters', agents' and framework's.
//!
//! The baseline column is the same cluster's first start: from the first leader's recovery
//! until the framework's first offer, the agents registering meanwhile as new agents. Checked:
//! every agent re-registered under its old id, the framework kept its id, the new leader knows
//! every agent and task, and the offer's agents are among them.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use meseta_api::common::MasterInfo;
use meseta_zk::server::LocalZooKeeper;
use meseta_zk::{Detector, ZkUrl};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, watch};

use crate::child::{self, Child};
use crate::failover::{Answer, CONCURRENCY, post_registration, registration, running_tasks};
use crate::launch::{self, AfterRunning, HttpClient, Subscription, client, get, runtime};
use crate::{BenchOptions, Report, progress};

const NAME: &str = "ha-failover";
const MASTERS: usize = 3;
/// How long `meseta agent` waits for the master's answer to one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long any step may take before the run fails (beyond the session timeout).
const PATIENCE: Duration = Duration::from_secs(120);

/// A `meseta master --zk` child process.
struct MasterProcess {
    child: Child,
    /// `host:port`.
    address: String,
    log: PathBuf,
}

fn spawn_master(url: &str, session: Duration, dir: &Path) -> anyhow::Result<MasterProcess> {
    std::fs::create_dir_all(dir)?;
    let log = dir.join("master.log");
    let mut command = child::meseta()?;
    command
        .args(["master", "--ip", "127.0.0.1", "--port", "0", "--work_dir"])
        .arg(dir.join("work"))
        .args(["--zk", url, "--quorum", "1", "--zk_session_timeout"])
        .arg(format!("{}ms", session.as_millis()))
        .env("MESETA_LOG", "warn")
        .stderr(std::fs::File::create(&log)?);
    let (child, url) = child::spawn_ready(&mut command, "Master: ")?;
    Ok(MasterProcess {
        child,
        address: url
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .to_string(),
        log,
    })
}

/// The last lines each master logged, for an error message.
fn logs(masters: &[MasterProcess]) -> String {
    let mut out = String::new();
    for m in masters {
        let text = std::fs::read_to_string(&m.log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        out.push_str(&format!("--- master {} ---\n", m.address));
        for line in tail.into_iter().rev() {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Waits until `leaders` names a leader other than `previous` (a `MasterInfo.id`).
async fn next_leader(
    leaders: &mut watch::Receiver<Option<MasterInfo>>,
    previous: Option<&str>,
) -> anyhow::Result<MasterInfo> {
    let wait = leaders.wait_for(|l| l.as_ref().is_some_and(|l| Some(l.id.as_str()) != previous));
    let leader = tokio::time::timeout(PATIENCE, wait)
        .await
        .map_err(|_| anyhow::anyhow!("no new leader detected within {PATIENCE:?}"))?
        .map_err(|_| anyhow::anyhow!("the detector stopped"))?;
    leader
        .clone()
        .ok_or_else(|| anyhow::anyhow!("the detector named no leader"))
}

/// Waits until the master at `address` leads and has recovered (`master/elected` 1).
async fn recovered(client: &HttpClient, address: &str) -> anyhow::Result<()> {
    let url = format!(
        "{}://{address}/metrics/snapshot",
        meseta_http::tls::scheme()
    );
    let start = Instant::now();
    loop {
        if let Ok((200, body)) = get(client, &url).await
            && serde_json::from_slice::<Value>(&body)
                .is_ok_and(|m| m["master/elected"].as_f64() == Some(1.0))
        {
            return Ok(());
        }
        anyhow::ensure!(
            start.elapsed() < PATIENCE,
            "{address} did not finish its recovery within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Follows the leader as `meseta agent`'s registration loop does: waits until `leaders` names
/// one other than `previous`, runs `attempt` on its `host:port` at once, and on failure tries
/// again after `backoff` (doubling up to ten times it), or at once when another leader is
/// named. `attempt`'s result and how many attempts failed before it.
async fn follow<T, F, Fut>(
    mut leaders: watch::Receiver<Option<MasterInfo>>,
    previous: Option<&str>,
    backoff: Duration,
    mut attempt: F,
) -> anyhow::Result<(T, u32)>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let (min, max) = (backoff, backoff * 10);
    let mut backoff = min;
    let mut failures = 0;
    let stopped = || anyhow::anyhow!("the detector stopped");
    loop {
        let leader = leaders.borrow_and_update().clone();
        let Some(leader) = leader.filter(|l| Some(l.id.as_str()) != previous) else {
            leaders.changed().await.map_err(|_| stopped())?;
            backoff = min;
            continue;
        };
        match attempt(address_of(&leader)?).await {
            Ok(done) => return Ok((done, failures)),
            Err(_) => failures += 1,
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => backoff = (backoff * 2).min(max),
            changed = leaders.changed() => {
                changed.map_err(|_| stopped())?;
                backoff = min;
            }
        }
    }
}

/// An agent's (re-)registration: its id as the master answered, when, and the failed attempts.
struct Joined {
    id: String,
    at: Instant,
    failures: u32,
}

/// Every agent of `bodies` (REGISTER messages) follows the leader from `previous` on, each as
/// its own task; their registrations, in order.
fn agents_follow(
    leaders: &watch::Receiver<Option<MasterInfo>>,
    previous: Option<String>,
    client: &HttpClient,
    bodies: Vec<Value>,
    backoff: Duration,
) -> Vec<tokio::task::JoinHandle<anyhow::Result<Joined>>> {
    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    bodies
        .into_iter()
        .map(|body| {
            let (leaders, previous, client, slots) = (
                leaders.clone(),
                previous.clone(),
                client.clone(),
                slots.clone(),
            );
            tokio::spawn(async move {
                let body = Arc::new(body);
                let (id, failures) = follow(leaders, previous.as_deref(), backoff, |master| {
                    let (client, slots, body) = (client.clone(), slots.clone(), body.clone());
                    async move {
                        let _slot = slots.acquire().await?;
                        let posted = post_registration(&client, &master, &body);
                        match tokio::time::timeout(REQUEST_TIMEOUT, posted).await?? {
                            Answer::Registered(id) => Ok(id),
                            Answer::Refused(code, text) => {
                                anyhow::bail!("{master} refused: {code} {text}")
                            }
                        }
                    }
                })
                .await?;
                Ok(Joined {
                    id,
                    at: Instant::now(),
                    failures,
                })
            })
        })
        .collect()
}

async fn joined(
    handles: Vec<tokio::task::JoinHandle<anyhow::Result<Joined>>>,
) -> anyhow::Result<Vec<Joined>> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await??);
    }
    Ok(out)
}

/// The framework follows the leader from `previous` on and SUBSCRIBEs `info` (with its id when
/// it has one) to it; then waits for its first offer. The subscription, when it was answered,
/// when the offer came, the offer's agents, and the failed attempts.
async fn framework_follow(
    leaders: watch::Receiver<Option<MasterInfo>>,
    previous: Option<String>,
    client: HttpClient,
    info: Value,
    backoff: Duration,
) -> anyhow::Result<(Subscription, Instant, Instant, Vec<String>, u32)> {
    let (mut sub, failures) = follow(leaders, previous.as_deref(), backoff, |master| {
        let (client, info) = (client.clone(), info.clone());
        async move { launch::subscribe(&client, &master, info).await }
    })
    .await?;
    let subscribed = Instant::now();
    loop {
        let ev = tokio::time::timeout(PATIENCE, sub.events.recv())
            .await
            .map_err(|_| anyhow::anyhow!("no offer within {PATIENCE:?}"))?
            .ok_or_else(|| anyhow::anyhow!("the framework's event stream ended"))?;
        if ev["type"] == "OFFERS" {
            let agents = ev["offers"]["offers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|o| o["agent_id"]["value"].as_str().map(str::to_string))
                .collect();
            return Ok((sub, subscribed, Instant::now(), agents, failures));
        }
    }
}

/// What one run measured.
struct Figures {
    /// Masters spawned until the first leader had recovered.
    first_election: Duration,
    /// First leader recovered until every agent registered, and until the first offer.
    first_registered: Duration,
    first_offer: Duration,
    /// From the SIGKILL of the leader.
    detected: Duration,
    recovered: Duration,
    reregistered: Duration,
    resubscribed: Duration,
    offer: Duration,
    /// Registration attempts that failed, and the agents they were of.
    refused: u64,
    agents_refused: usize,
    framework_refused: u32,
    offer_agents: usize,
    /// Every check held; what failed otherwise.
    problems: Vec<String>,
}

/// `ha-failover`: see the module documentation.
pub fn ha_failover(o: &BenchOptions) -> anyhow::Result<Vec<Report>> {
    let agents = o.agents.unwrap_or(if o.quick { 50 } else { 1_000 }) as usize;
    let tasks = o.tasks.unwrap_or(if o.quick { 200 } else { 10_000 }) as usize;
    let session = if o.quick {
        Duration::from_secs(2)
    } else {
        meseta_zk::DEFAULT_SESSION_TIMEOUT
    };
    let zk = LocalZooKeeper::start()
        .map_err(|e| anyhow::anyhow!("{NAME} runs its masters on a local ZooKeeper: {e}"))?;
    let url = zk.url("/meseta-bench");
    let dir = tempfile::tempdir()?;
    let spawned = Instant::now();
    let mut masters = Vec::with_capacity(MASTERS);
    for i in 0..MASTERS {
        masters.push(spawn_master(
            &url,
            session,
            &dir.path().join(format!("master{i}")),
        )?);
    }
    progress(
        NAME,
        format!(
            "{MASTERS} masters on ZooKeeper {} (session timeout {session:?}): {}",
            zk.connect_string(),
            masters
                .iter()
                .map(|m| m.address.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    let rt = runtime()?;
    let figures = rt.block_on(run(&mut masters, &url, session, spawned, agents, tasks));
    rt.shutdown_timeout(Duration::from_secs(1));
    let f = figures.map_err(|e| anyhow::anyhow!("{NAME}: {e:#}\n{}", logs(&masters)))?;
    drop(masters);
    drop(zk);
    progress(
        NAME,
        format!(
            "leader killed: new leader detected after {:?}, recovered after {:?}, {agents} \
             agents re-registered after {:?} ({} refused attempts), framework re-subscribed \
             after {:?}, first offer after {:?}",
            f.detected, f.recovered, f.reregistered, f.refused, f.resubscribed, f.offer
        ),
    );
    for problem in &f.problems {
        progress(NAME, format!("INCONSISTENT: {problem}"));
    }
    let mut r = Report::new(
        NAME,
        json!({"agents": agents, "tasks": tasks, "masters": MASTERS,
            "session_timeout_s": session.as_secs_f64()}),
        f.first_offer,
        f.offer,
    );
    r.consistent = f.problems.is_empty();
    r.set("first_election_ms", crate::ms(f.first_election));
    r.set("first_registered_ms", crate::ms(f.first_registered));
    r.set("first_offer_ms", crate::ms(f.first_offer));
    r.set("leader_detected_ms", crate::ms(f.detected));
    r.set("leader_recovered_ms", crate::ms(f.recovered));
    r.set("agents_reregistered_ms", crate::ms(f.reregistered));
    r.set("framework_resubscribed_ms", crate::ms(f.resubscribed));
    r.set("failover_to_offer_ms", crate::ms(f.offer));
    r.set(
        "detected_to_offer_ms",
        crate::ms(f.offer.saturating_sub(f.detected)),
    );
    r.set("registrations_refused", f.refused);
    r.set("agents_refused", f.agents_refused as u64);
    r.set("subscriptions_refused", f.framework_refused);
    r.set("offer_agents", f.offer_agents as u64);
    let limit = session + Duration::from_secs(1);
    r.goal(
        format!(
            "first offer <= session timeout + 1 s = {:.0} s ({:.2} s)",
            limit.as_secs_f64(),
            f.offer.as_secs_f64()
        ),
        f.offer <= limit,
    );
    Ok(vec![r])
}

async fn run(
    masters: &mut [MasterProcess],
    url: &str,
    session: Duration,
    spawned: Instant,
    agents: usize,
    tasks: usize,
) -> anyhow::Result<Figures> {
    let zk_url = ZkUrl::parse(url)?;
    let agents_detector = Detector::with_session_timeout(zk_url.clone(), session)?;
    let framework_detector = Detector::with_session_timeout(zk_url, session)?;
    let http = client();
    let backoff = meseta_agent::AgentConfig::default().registration_backoff;

    // First start: the election, every agent registering as new, the framework's first offer.
    let first = next_leader(&mut agents_detector.watch(), None).await?;
    let first_address = address_of(&first)?;
    recovered(&http, &first_address).await?;
    let first_election = spawned.elapsed();
    let (_sim, endpoint) = launch::start_sim(&first_address, AfterRunning::KeepRunning).await?;
    let info = json!({"name": "ha-failover-bench", "user": "root", "failover_timeout": 3600.0,
        "checkpoint": true});
    let start = Instant::now();
    let new_agents = vec![registration(endpoint, None, json!([])); agents];
    let handles = agents_follow(&agents_detector.watch(), None, &http, new_agents, backoff);
    let (registered, framework) = tokio::join!(
        joined(handles),
        framework_follow(
            framework_detector.watch(),
            None,
            http.clone(),
            info.clone(),
            backoff
        ),
    );
    let registered = registered?;
    let (old_subscription, _, first_offer_at, _, _) = framework?;
    let first_registered = registered
        .iter()
        .map(|j| j.at)
        .max()
        .unwrap_or(start)
        .saturating_duration_since(start);
    let first_offer = first_offer_at.saturating_duration_since(start);
    let ids: Vec<String> = registered.into_iter().map(|j| j.id).collect();
    anyhow::ensure!(
        ids.iter().collect::<HashSet<_>>().len() == agents,
        "the first leader gave {agents} agents fewer than {agents} distinct ids"
    );
    let framework_id = old_subscription.framework_id.clone();
    progress(
        NAME,
        format!(
            "first leader {first_address} recovered {first_election:?} after the masters' start; \
             {agents} agents registered in {first_registered:?}, first offer after {first_offer:?}"
        ),
    );

    // The failover: everyone waits for another leader; the leader is SIGKILLed.
    let mut framework = info;
    framework["id"] = json!({"value": framework_id});
    let per_agent = tasks.div_ceil(agents.max(1));
    let bodies: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let first_task = i * per_agent;
            let reported = running_tasks(
                &framework,
                id,
                i,
                0..per_agent.min(tasks.saturating_sub(first_task)),
            );
            registration(endpoint, Some(id), reported)
        })
        .collect();
    let previous = Some(first.id.clone());
    let handles = agents_follow(
        &agents_detector.watch(),
        previous.clone(),
        &http,
        bodies,
        backoff,
    );
    let framework_task = tokio::spawn(framework_follow(
        framework_detector.watch(),
        previous.clone(),
        http.clone(),
        framework.clone(),
        backoff,
    ));
    let mut leaders = agents_detector.watch();
    let leader_task = {
        let http = http.clone();
        let previous = first.id.clone();
        tokio::spawn(async move {
            let next = next_leader(&mut leaders, Some(&previous)).await?;
            let detected = Instant::now();
            let address = address_of(&next)?;
            recovered(&http, &address).await?;
            anyhow::Ok((next, address, detected, Instant::now()))
        })
    };
    let leader = masters
        .iter_mut()
        .find(|m| m.address == first_address)
        .ok_or_else(|| anyhow::anyhow!("the leader {first_address} is none of the masters"))?;
    let killed = Instant::now();
    leader.child.0.kill()?;
    leader.child.0.wait()?;
    drop(old_subscription);
    progress(NAME, format!("SIGKILLed the leader {first_address}"));

    let (again, framework_result, leader_result) =
        tokio::join!(joined(handles), framework_task, leader_task);
    let again = again?;
    let (_subscription, resubscribed_at, offer_at, offer_agents, framework_refused) =
        framework_result??;
    let (next, next_address, detected_at, recovered_at) = leader_result??;
    let since = |at: Instant| at.saturating_duration_since(killed);

    // Checks: ids kept, the framework's too, the new leader knows every agent and task, and
    // the offer names known agents.
    let mut problems = Vec::new();
    let moved = ids
        .iter()
        .zip(&again)
        .filter(|(old, j)| **old != j.id)
        .count();
    if moved > 0 {
        problems.push(format!("{moved} agents re-registered under another id"));
    }
    if next.id == first.id {
        problems.push("the new leader is the old one".into());
    }
    let (code, body) = get(
        &http,
        &format!(
            "{}://{next_address}/master/state",
            meseta_http::tls::scheme()
        ),
    )
    .await?;
    let state: Value = serde_json::from_slice(&body)
        .map_err(|e| anyhow::anyhow!("/master/state of {next_address} ({code}): {e}"))?;
    let known: HashSet<&str> = state["slaves"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["id"].as_str())
        .collect();
    let expected: HashSet<&str> = ids.iter().map(String::as_str).collect();
    if known != expected {
        problems.push(format!(
            "the new leader knows {} agents, {} of the {agents} registered",
            known.len(),
            known.intersection(&expected).count()
        ));
    }
    let frameworks = state["frameworks"].as_array().cloned().unwrap_or_default();
    if frameworks.len() != 1 || frameworks[0]["id"] != json!(framework_id) {
        problems.push(format!(
            "the new leader's frameworks are {:?}, not {framework_id}",
            frameworks.iter().map(|f| &f["id"]).collect::<Vec<_>>()
        ));
    }
    let running: usize = frameworks
        .iter()
        .map(|f| f["tasks"].as_array().map_or(0, Vec::len))
        .sum();
    if running != tasks {
        problems.push(format!("{running} of {tasks} tasks known after failover"));
    }
    if offer_agents.is_empty() {
        problems.push("the first offer after failover is empty".into());
    }
    if let Some(unknown) = offer_agents.iter().find(|a| !expected.contains(a.as_str())) {
        problems.push(format!("the first offer names an unknown agent {unknown}"));
    }
    Ok(Figures {
        first_election,
        first_registered,
        first_offer,
        detected: since(detected_at),
        recovered: since(recovered_at),
        reregistered: again.iter().map(|j| since(j.at)).max().unwrap_or_default(),
        resubscribed: since(resubscribed_at),
        offer: since(offer_at),
        refused: again.iter().map(|j| u64::from(j.failures)).sum(),
        agents_refused: again.iter().filter(|j| j.failures > 0).count(),
        framework_refused,
        offer_agents: offer_agents.len(),
        problems,
    })
}

/// `host:port` of a leader the election names.
fn address_of(leader: &meseta_api::common::MasterInfo) -> anyhow::Result<String> {
    leader
        .http_address()
        .ok_or_else(|| anyhow::anyhow!("the leader's MasterInfo holds no address: {leader:?}"))
}
