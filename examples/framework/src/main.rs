//! A minimal Mesos framework: runs `--tasks N` shell commands through the v1 scheduler HTTP API
//! and exits. It is written to be read; the whole protocol is in this file.
//!
//! ```text
//! example-framework --master http://127.0.0.1:5050 --tasks 5
//! example-framework --master zk://127.0.0.1:2181/meseta --tasks 5 --failover_timeout 3600
//! ```
//!
//! 0. Finding the master: `--master host:port` names it; a standby answers `307` with the
//!    leader's address in `Location`, which the framework follows. With `zk://host:port/path`
//!    (Mesos' URL) the framework follows the leader of the masters' election in ZooKeeper
//!    (meseta-zk's detector reads the `json.info_*` znodes the masters write); when the leader
//!    changes, the event stream ends and the framework subscribes to the new one.
//! 1. `POST /api/v1/scheduler` a `SUBSCRIBE` call (JSON). The master answers `200` and keeps the
//!    response open: its body is the event stream, in RecordIO framing (`<length>\n<json>` per
//!    event). The `Mesos-Stream-Id` response header must be sent with every later call.
//! 2. The first event is `SUBSCRIBED`, carrying the framework id that every later call names.
//!    `HEARTBEAT`s follow every few seconds.
//! 3. `OFFERS`: resources on an agent, ours to use until we answer. We pack as many pending
//!    tasks as fit into each offer and `ACCEPT` it with a `LAUNCH` operation, or `DECLINE` it.
//! 4. `UPDATE`: a task changed state. An update carrying a `uuid` is resent until the framework
//!    `ACKNOWLEDGE`s it (with the status's `agent_id`, `task_id` and `uuid`).
//! 5. Once every task is terminal we print `N finished, M failed`, send `TEARDOWN` (the master
//!    kills what is left, forgets the framework and ends the stream) and exit: 0 if every task
//!    finished, 1 otherwise. An `ERROR` event, a closed stream or `--timeout` also end the run (1).
//!
//! Every call other than `SUBSCRIBE` is a separate `POST` to the same endpoint (on another
//! connection: the first one carries the stream), answered `202 Accepted` with an empty body.
//! The JSON shapes are `meseta-api`'s types: `scheduler::Call` out, `scheduler::Event` in.

use std::collections::{BTreeMap, VecDeque};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{ACCEPT, CONTENT_TYPE};
use hyper::{Request, StatusCode, Uri};
use meseta_api::common::MasterInfo;
use meseta_api::scheduler::{
    Accept, Acknowledge, Call, CallKind, Decline, Event, Operation, Reconcile, Subscribe,
};
use meseta_api::{
    Capability, CapabilityType, CommandInfo, Decoder, Environment, Filters, FrameworkID,
    FrameworkInfo, Offer, Resource, Scalar, TaskID, TaskInfo, TaskState, TaskStatus, Variable,
    VariableType,
};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// Runs N shell tasks on a Mesos-compatible master through the v1 scheduler HTTP API.
#[derive(Parser)]
struct Flags {
    /// The master: `http(s)://host:port`, `host:port` (`https` when `LIBPROCESS_SSL_ENABLED`
    /// is set, as for every Mesos process), or the masters' election in ZooKeeper,
    /// `zk://host:port[,host:port...]/path` (or `file:///path` holding such a URL).
    #[arg(long, default_value = "127.0.0.1:5050")]
    master: String,
    /// How many tasks to run.
    #[arg(long, default_value_t = 5)]
    tasks: u32,
    /// CPUs per task.
    #[arg(long, default_value_t = 0.1)]
    cpus: f64,
    /// Memory per task, in MB.
    #[arg(long, default_value_t = 32.0)]
    mem: f64,
    /// The task's command, run with `sh -c`; `$TASK_N` is the task's number (1 to N).
    #[arg(long, default_value = "echo hello from task $TASK_N; sleep 1")]
    command: String,
    /// The role to subscribe with.
    #[arg(long, default_value = "*")]
    role: String,
    /// The framework's name.
    #[arg(long, default_value = "example-framework")]
    name: String,
    /// Run each task with the persistent volume of this id (`disk.persistence.id`) from the
    /// offer, at the volume's `container_path` in its sandbox: tasks launch only on offers
    /// holding it, one per offer (a volume has one user at a time).
    #[arg(long)]
    volume: Option<String>,
    /// At most this many tasks per offer (0: as many as fit). With 1, where tasks land shows
    /// the allocator's placement: `allocator-drf` offers every agent each round,
    /// `allocator-binpack` only the fullest.
    #[arg(long = "per_offer", alias = "per-offer", default_value_t = 0)]
    per_offer: usize,
    /// Seconds the master keeps the framework's tasks while it is away (`FrameworkInfo.
    /// failover_timeout`). Above 0 the framework also survives the master: when the event
    /// stream ends it subscribes again with its id (retrying until the master is back) and
    /// reconciles its tasks.
    #[arg(
        long = "failover_timeout",
        alias = "failover-timeout",
        default_value_t = 0.0
    )]
    failover_timeout: f64,
    /// Ask agents to checkpoint the framework's tasks (`FrameworkInfo.checkpoint`), so they
    /// survive an agent restart.
    #[arg(long)]
    checkpoint: bool,
    /// Give up after this long (`90s`, `2m`, `500ms`; a bare number is seconds).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    timeout: Duration,
    /// The framework's principal (`FrameworkInfo.principal`), authenticated with `--secret`
    /// by HTTP Basic on every call when both are given.
    #[arg(long, env = "MESOS_PRINCIPAL")]
    principal: Option<String>,
    /// The principal's secret (better given as `MESOS_SECRET`: a flag shows in `ps`).
    #[arg(long, env = "MESOS_SECRET", hide_env_values = true)]
    secret: Option<String>,
}

/// `Authorization: Basic ...` for every call, from `--principal` and `--secret`.
static CREDENTIAL: std::sync::OnceLock<String> = std::sync::OnceLock::new();

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let flags = Flags::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match run(flags).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("example-framework: {e:#}");
            ExitCode::FAILURE
        }
    }
}

type HttpClient = meseta_http::HttpClient<Full<Bytes>>;

async fn run(flags: Flags) -> Result<ExitCode> {
    let deadline = Deadline {
        at: Instant::now() + flags.timeout,
        total: flags.timeout,
    };
    // TLS as every Mesos process configures it: `LIBPROCESS_SSL_*` (see meseta_http::tls).
    meseta_http::tls::process().map_err(anyhow::Error::msg)?;
    let client: HttpClient = meseta_http::client(meseta_http::ClientOptions {
        connect_timeout: None,
        pool_idle_timeout: Some(Duration::from_secs(90)),
        ..meseta_http::ClientOptions::default()
    });
    let mut master = Master::new(&flags.master)?;

    // 1-2. SUBSCRIBE (no framework id yet: the master assigns one); SUBSCRIBED comes first.
    let info = FrameworkInfo {
        user: current_user(),
        name: flags.name.clone(),
        roles: vec![flags.role.clone()],
        capabilities: vec![Capability {
            kind: CapabilityType::MultiRole,
        }],
        failover_timeout: (flags.failover_timeout > 0.0).then_some(flags.failover_timeout),
        checkpoint: flags.checkpoint,
        principal: flags.principal.clone(),
        ..FrameworkInfo::default()
    };
    if let (Some(principal), Some(secret)) = (&flags.principal, &flags.secret) {
        use base64::Engine as _;
        let pair =
            base64::engine::general_purpose::STANDARD.encode(format!("{principal}:{secret}"));
        let _ = CREDENTIAL.set(format!("Basic {pair}"));
    }
    let (endpoint, stream_id, mut events, framework_id) =
        subscribe(&client, &mut master, &info, None, &deadline).await?;
    println!("subscribed as framework {framework_id}");
    let mut framework = Framework {
        info,
        pending: (1..=flags.tasks).collect(),
        launched: BTreeMap::new(),
        flags,
        client,
        master,
        endpoint,
        stream_id,
        framework_id,
        deadline,
    };

    // 3-5. React to events until every task is terminal.
    loop {
        if let Some((finished, failed)) = framework.outcome() {
            println!("{finished} finished, {failed} failed");
            framework.call(CallKind::Teardown).await?;
            return Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        let waiting_for = framework.waiting_for();
        // The next event, or the end of this master's leadership as ZooKeeper tells it (a
        // frozen or cut-off leader may leave the stream open without sending anything).
        let next = async {
            tokio::select! {
                event = events.next() => event,
                moved = framework.master.moved_from(&framework.endpoint) => Err(moved),
            }
        };
        let event = match deadline.wait(&waiting_for, next).await? {
            Ok(event) => event,
            // The master went away: a framework with a failover timeout, or one following the
            // election (another master leads), comes back under its id and asks for its tasks'
            // states (implicit reconciliation).
            Err(e) if framework.flags.failover_timeout > 0.0 || framework.master.is_detected() => {
                warn!("{e:#}; subscribing again as {}", framework.framework_id);
                let (endpoint, stream_id, stream, _) = subscribe(
                    &framework.client,
                    &mut framework.master,
                    &framework.info,
                    Some(&framework.framework_id),
                    &deadline,
                )
                .await?;
                println!(
                    "subscribed again as framework {} ({endpoint})",
                    framework.framework_id
                );
                framework.endpoint = endpoint;
                framework.stream_id = stream_id;
                events = stream;
                framework
                    .call(CallKind::Reconcile(Reconcile { tasks: Vec::new() }))
                    .await?;
                continue;
            }
            Err(e) => return Err(e),
        };
        match event {
            Event::Offers(offers) => framework.offers(offers.offers).await?,
            Event::Update(update) => framework.update(update.status).await?,
            Event::Heartbeat => debug!("heartbeat"),
            // An offer we had not answered yet was withdrawn: nothing to undo.
            Event::Rescind(rescind) => info!("offer {} rescinded", rescind.offer_id),
            Event::Error(error) => bail!("the master sent ERROR: {}", error.message),
            // Maintenance: the master asks for an agent back. This framework only says so; its
            // tasks are killed when the operator brings the machine down.
            Event::InverseOffers(inverse) => {
                for i in &inverse.inverse_offers {
                    let agent = i.agent_id.as_ref().map_or("", |a| a.value.as_str());
                    warn!(
                        "inverse offer {}: agent {agent} is scheduled for maintenance from {} s",
                        i.id,
                        i.unavailability.start.nanoseconds / 1_000_000_000
                    );
                }
            }
            other => info!("ignoring {} event", other.type_name()),
        }
    }
}

/// The framework's state between events.
struct Framework {
    info: FrameworkInfo,
    flags: Flags,
    client: HttpClient,
    master: Master,
    /// The scheduler endpoint of the master we subscribed with.
    endpoint: Uri,
    stream_id: String,
    framework_id: FrameworkID,
    deadline: Deadline,
    /// Task numbers not launched yet.
    pending: VecDeque<u32>,
    /// The last known state of every launched task, by task id.
    launched: BTreeMap<String, TaskState>,
}

impl Framework {
    /// Packs pending tasks into each offer and accepts it, or declines it.
    async fn offers(&mut self, offers: Vec<Offer>) -> Result<()> {
        for offer in offers {
            let tasks = self.pack(&offer);
            if tasks.is_empty() {
                // Once nothing is left to launch, ask the master not to offer these resources
                // again for a long while; otherwise the default 5 s.
                let refuse_seconds = if self.pending.is_empty() { 3600.0 } else { 5.0 };
                debug!("declining offer {}", offer.id);
                self.call(CallKind::Decline(Decline {
                    offer_ids: vec![offer.id],
                    filters: Some(Filters { refuse_seconds }),
                }))
                .await?;
            } else {
                let names: Vec<&str> = tasks.iter().map(|t| t.task_id.as_str()).collect();
                info!(
                    "offer {} on {}: launching {}",
                    offer.id,
                    offer.hostname,
                    names.join(", ")
                );
                // Resources of the offer the tasks do not use go back to the master: at once
                // while tasks are still pending, else filtered for the default 5 s.
                let refuse_seconds = if self.pending.is_empty() { 5.0 } else { 0.0 };
                self.call(CallKind::Accept(Accept {
                    offer_ids: vec![offer.id],
                    operations: vec![Operation::launch(tasks)],
                    filters: Some(Filters { refuse_seconds }),
                }))
                .await?;
            }
        }
        Ok(())
    }

    /// Takes as many pending tasks as fit into `offer`, each needing `--cpus` and `--mem`.
    fn pack(&mut self, offer: &Offer) -> Vec<TaskInfo> {
        const EPSILON: f64 = 1e-9;
        let (Some(cpus), Some(mem)) = (largest(offer, "cpus"), largest(offer, "mem")) else {
            return Vec::new();
        };
        let (mut cpus_left, mut mem_left) = (scalar(cpus), scalar(mem));
        let volume = match &self.flags.volume {
            None => None,
            Some(id) => match offer.resources.iter().find(|r| {
                r.disk
                    .as_ref()
                    .and_then(|d| d.persistence.as_ref())
                    .is_some_and(|p| p.id == *id)
            }) {
                Some(v) => Some(v.clone()),
                None => return Vec::new(),
            },
        };
        let per_offer = match volume {
            Some(_) => 1,
            None => self.flags.per_offer,
        };
        let mut tasks = Vec::new();
        while cpus_left + EPSILON >= self.flags.cpus
            && mem_left + EPSILON >= self.flags.mem
            && (per_offer == 0 || tasks.len() < per_offer)
        {
            let Some(n) = self.pending.pop_front() else {
                break;
            };
            cpus_left -= self.flags.cpus;
            mem_left -= self.flags.mem;
            let task_id = format!("task-{n}");
            self.launched.insert(task_id.clone(), TaskState::Staging);
            let environment = Environment {
                variables: vec![Variable {
                    name: "TASK_N".to_string(),
                    kind: Some(VariableType::Value),
                    value: Some(n.to_string()),
                    secret: None,
                }],
            };
            tasks.push(TaskInfo {
                name: format!("{} {task_id}", self.flags.name),
                task_id: TaskID::new(task_id),
                agent_id: Some(offer.agent_id.clone()),
                resources: [
                    with_amount(cpus, self.flags.cpus),
                    with_amount(mem, self.flags.mem),
                ]
                .into_iter()
                .chain(volume.clone())
                .collect(),
                command: Some(CommandInfo {
                    environment: Some(environment),
                    ..CommandInfo::shell(&self.flags.command)
                }),
                ..TaskInfo::default()
            });
        }
        tasks
    }

    /// Prints a task's new state and acknowledges the update if it asks for it.
    async fn update(&mut self, status: TaskStatus) -> Result<()> {
        match status.message.as_deref().filter(|m| !m.is_empty()) {
            Some(message) => println!("{} {} {message}", status.task_id, status.state),
            None => println!("{} {}", status.task_id, status.state),
        }
        if let Some(state) = self.launched.get_mut(status.task_id.as_str()) {
            *state = status.state;
        }
        // Updates without a uuid (reconciliation answers, ...) need no acknowledgement.
        if let Some(uuid) = status.uuid {
            let Some(agent_id) = status.agent_id else {
                warn!("update of {} has a uuid but no agent_id", status.task_id);
                return Ok(());
            };
            self.call(CallKind::Acknowledge(Acknowledge {
                agent_id,
                task_id: status.task_id,
                uuid,
            }))
            .await?;
        }
        Ok(())
    }

    /// `(finished, failed)` once every task is launched and terminal.
    fn outcome(&self) -> Option<(usize, usize)> {
        if !self.pending.is_empty() || self.launched.values().any(|s| !s.is_terminal()) {
            return None;
        }
        let finished = self
            .launched
            .values()
            .filter(|s| **s == TaskState::Finished)
            .count();
        Some((finished, self.launched.len() - finished))
    }

    /// What the next event should bring, for the timeout message.
    fn waiting_for(&self) -> String {
        if !self.pending.is_empty() {
            return format!("offers for {} more task(s)", self.pending.len());
        }
        let active: Vec<String> = self
            .launched
            .iter()
            .filter(|(_, state)| !state.is_terminal())
            .map(|(id, state)| format!("{id} ({state})"))
            .collect();
        format!("updates of {}", active.join(", "))
    }

    /// Whether the framework outlives its master (a failover timeout, or following the
    /// election): then a call the master could not take is not the end of the run.
    fn outlives_master(&self) -> bool {
        self.flags.failover_timeout > 0.0 || self.master.is_detected()
    }

    /// Sends a call with our framework id and stream id; anything but `202 Accepted` is an error,
    /// except, for a framework that outlives its master, a master that is gone or no longer
    /// leads: the event stream ends too, and the framework subscribes again (an unacknowledged
    /// update is sent again, a lost launch shows in reconciliation).
    async fn call(&self, kind: CallKind) -> Result<()> {
        let call = Call::new(Some(self.framework_id.clone()), kind);
        let name = call.type_name().to_string();
        let request = post(&self.endpoint, &call, Some(&self.stream_id))?;
        let answer = self
            .deadline
            .wait(
                &format!("the answer to {name}"),
                self.client.request(request),
            )
            .await?;
        let response = match answer {
            Ok(response) => response,
            Err(e) if self.outlives_master() => {
                warn!("{name} did not reach the master ({e}); it is going away");
                return Ok(());
            }
            Err(e) => return Err(e).with_context(|| format!("{name} call")),
        };
        let status = response.status();
        let leaving =
            status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TEMPORARY_REDIRECT;
        if leaving && self.outlives_master() {
            warn!("{name} answered {status}: the master no longer leads");
            return Ok(());
        }
        if status != StatusCode::ACCEPTED {
            let body = response.into_body().collect().await?.to_bytes();
            bail!(
                "{name} answered {status}: {}",
                String::from_utf8_lossy(&body).trim()
            );
        }
        Ok(())
    }
}

/// SUBSCRIBEs (again, with `id`, after a failover) to the master `master` names now; a `307`
/// is followed, and while the master is unreachable, not elected or recovering (and always
/// with `id` set or a ZooKeeper URL) it retries. The scheduler endpoint, the stream id, the
/// event stream after SUBSCRIBED, and the framework id.
async fn subscribe(
    client: &HttpClient,
    master: &mut Master,
    info: &FrameworkInfo,
    id: Option<&FrameworkID>,
    deadline: &Deadline,
) -> Result<(Uri, String, EventStream, FrameworkID)> {
    let mut info = info.clone();
    info.id = id.cloned();
    let subscribe = Call::new(
        id.cloned(),
        CallKind::Subscribe(Subscribe {
            framework_info: info,
            suppressed_roles: Vec::new(),
        }),
    );
    let patient = id.is_some() || master.is_detected();
    let (endpoint, response) = loop {
        let endpoint = master.endpoint(deadline).await?;
        let what = format!("the master at {endpoint} to answer SUBSCRIBE");
        match deadline
            .wait(&what, client.request(post(&endpoint, &subscribe, None)?))
            .await?
        {
            Ok(r) if r.status() == StatusCode::TEMPORARY_REDIRECT => {
                let location = r
                    .headers()
                    .get(hyper::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                info!("{endpoint} is not the leading master; redirected to {location:?}");
                master.redirected(&location)?;
                continue;
            }
            // A refusal (401 credentials, 400 principal) does not change by retrying.
            Ok(r) if r.status() == StatusCode::OK || !patient || r.status().is_client_error() => {
                break (endpoint, r);
            }
            Ok(r) => debug!("SUBSCRIBE answered {}; retrying", r.status()),
            Err(e) if patient => debug!("SUBSCRIBE: {e}; retrying"),
            Err(e) => return Err(e).with_context(|| format!("SUBSCRIBE to {endpoint}")),
        }
        deadline
            .wait(&what, tokio::time::sleep(Duration::from_millis(500)))
            .await?;
    };
    if response.status() != StatusCode::OK {
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        bail!(
            "SUBSCRIBE answered {status}: {}",
            String::from_utf8_lossy(&body).trim()
        );
    }
    let stream_id = response
        .headers()
        .get("Mesos-Stream-Id")
        .context("the SUBSCRIBE response has no Mesos-Stream-Id header")?
        .to_str()?
        .to_string();
    let mut events = EventStream {
        body: response.into_body(),
        decoder: Decoder::new(),
    };
    let framework_id = match deadline.wait("SUBSCRIBED", events.next()).await?? {
        Event::Subscribed(subscribed) => subscribed.framework_id,
        Event::Error(error) => bail!("the master sent ERROR: {}", error.message),
        other => bail!("expected SUBSCRIBED first, got {}", other.type_name()),
    };
    Ok((endpoint, stream_id, events, framework_id))
}

/// The master to talk to: `--master`'s address (or where a standby redirected us), or the
/// leader of the masters' election in ZooKeeper.
enum Master {
    Address(Uri),
    Detected {
        url: meseta_zk::ZkUrl,
        leader: watch::Receiver<Option<MasterInfo>>,
        /// Follows the election for as long as the framework runs.
        _detector: meseta_zk::Detector,
    },
}

impl Master {
    /// `--master`: `zk://...` or `file://...` starts following the election.
    fn new(flag: &str) -> Result<Master> {
        if flag.starts_with("zk://") || flag.starts_with("file://") {
            let url =
                meseta_zk::ZkUrl::parse(flag).with_context(|| format!("bad --master {flag:?}"))?;
            let detector = meseta_zk::Detector::start(url.clone())
                .with_context(|| format!("--master {flag}"))?;
            let leader = detector.watch();
            return Ok(Master::Detected {
                url,
                leader,
                _detector: detector,
            });
        }
        Ok(Master::Address(scheduler_endpoint(flag)?))
    }

    fn is_detected(&self) -> bool {
        matches!(self, Master::Detected { .. })
    }

    /// The scheduler endpoint of the master to talk to now; with ZooKeeper, waits for a leader
    /// to be elected.
    async fn endpoint(&mut self, deadline: &Deadline) -> Result<Uri> {
        match self {
            Master::Address(endpoint) => Ok(endpoint.clone()),
            Master::Detected { url, leader, .. } => {
                let what = format!("a leading master in {url}");
                let info = deadline
                    .wait(&what, leader.wait_for(|l| l.is_some()))
                    .await?
                    .map_err(|_| anyhow!("the ZooKeeper detector for {url} stopped"))?
                    .clone();
                let address = info
                    .as_ref()
                    .and_then(MasterInfo::http_address)
                    .with_context(|| format!("the leader in {url} has no address: {info:?}"))?;
                scheduler_endpoint(&address)
            }
        }
    }

    /// Returns once another master leads than the one at `endpoint` (never for a fixed
    /// address), saying so.
    async fn moved_from(&mut self, endpoint: &Uri) -> anyhow::Error {
        let Master::Detected { url, leader, .. } = self else {
            return std::future::pending().await;
        };
        let elsewhere = |l: &Option<MasterInfo>| {
            l.as_ref()
                .and_then(MasterInfo::http_address)
                .and_then(|a| scheduler_endpoint(&a).ok())
                .is_none_or(|e| e != *endpoint)
        };
        match leader.wait_for(elsewhere).await {
            Ok(now) => match now.as_ref().and_then(MasterInfo::http_address) {
                Some(address) => anyhow!("the leading master in {url} is now {address}"),
                None => anyhow!("no master leads in {url} any more"),
            },
            Err(_) => anyhow!("the ZooKeeper detector for {url} stopped"),
        }
    }

    /// A standby's `307` names the leader (`//host:port/path`, as Mesos writes it); a detected
    /// leader is left to the detector, which will see the same.
    fn redirected(&mut self, location: &str) -> Result<()> {
        if let Master::Address(endpoint) = self {
            let authority = location
                .trim_start_matches("http://")
                .trim_start_matches("https://")
                .trim_start_matches("//")
                .split('/')
                .next()
                .unwrap_or_default();
            if authority.is_empty() {
                bail!("a 307 without a leader's address (Location {location:?})");
            }
            // Protocol-relative: the leader speaks the scheme this master spoke.
            let scheme = endpoint.scheme_str().unwrap_or("http").to_string();
            *endpoint = scheduler_endpoint(&format!("{scheme}://{authority}"))?;
        }
        Ok(())
    }
}

struct EventStream {
    body: Incoming,
    decoder: Decoder,
}

impl EventStream {
    async fn next(&mut self) -> Result<Event> {
        loop {
            if let Some(record) = self.decoder.pop()? {
                return Ok(meseta_api::decode(&record)?);
            }
            match self.body.frame().await {
                Some(frame) => {
                    if let Ok(data) = frame?.into_data() {
                        self.decoder.push(&data);
                    }
                }
                None => bail!("the master closed the event stream"),
            }
        }
    }
}

/// The `--timeout` deadline shared by every wait.
#[derive(Clone, Copy)]
struct Deadline {
    at: Instant,
    total: Duration,
}

impl Deadline {
    async fn wait<T>(&self, what: &str, future: impl Future<Output = T>) -> Result<T> {
        tokio::time::timeout_at(self.at, future)
            .await
            .map_err(|_| anyhow!("timed out after {:?} waiting for {what}", self.total))
    }
}

/// A JSON `POST` of `call` to the scheduler endpoint.
fn post(endpoint: &Uri, call: &Call, stream_id: Option<&str>) -> Result<Request<Full<Bytes>>> {
    let mut request = Request::post(endpoint.clone())
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "application/json");
    if let Some(stream_id) = stream_id {
        request = request.header("Mesos-Stream-Id", stream_id);
    }
    if let Some(credential) = CREDENTIAL.get() {
        request = request.header(hyper::header::AUTHORIZATION, credential.as_str());
    }
    Ok(request.body(Full::new(Bytes::from(serde_json::to_vec(call)?)))?)
}

/// `http(s)://host:port/api/v1/scheduler` from `--master` (without a scheme, `https` with
/// `LIBPROCESS_SSL_ENABLED`).
fn scheduler_endpoint(master: &str) -> Result<Uri> {
    let base = if master.contains("://") {
        master.to_string()
    } else {
        meseta_http::tls::url(master)
    };
    format!("{}/api/v1/scheduler", base.trim_end_matches('/'))
        .parse()
        .with_context(|| format!("bad --master {master:?}"))
}

/// The offer's largest scalar resource called `name` (an offer may hold several, e.g.
/// unreserved and reserved cpus).
fn largest<'a>(offer: &'a Offer, name: &str) -> Option<&'a Resource> {
    offer
        .resources
        .iter()
        .filter(|r| r.name == name && r.scalar.is_some())
        .max_by(|a, b| scalar(a).total_cmp(&scalar(b)))
}

fn scalar(resource: &Resource) -> f64 {
    resource.scalar.map_or(0.0, |s| s.value)
}

/// A copy of an offered resource (same role, reservation and allocation) with our amount.
fn with_amount(offered: &Resource, value: f64) -> Resource {
    Resource {
        scalar: Some(Scalar { value }),
        ..offered.clone()
    }
}

/// Tasks run as this user on the agent.
fn current_user() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| {
            let out = std::process::Command::new("id").arg("-un").output().ok()?;
            let name = String::from_utf8(out.stdout).ok()?.trim().to_string();
            (out.status.success() && !name.is_empty()).then_some(name)
        })
        .unwrap_or_else(|| "root".to_string())
}

/// `90s`, `1.5m`, `500ms`, `2h` or plain seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("bad duration {text:?}"))?;
    let seconds = match unit.trim() {
        "" | "s" | "secs" => number,
        "ms" => number / 1000.0,
        "m" | "mins" => number * 60.0,
        "h" => number * 3600.0,
        _ => return Err(format!("bad duration unit in {text:?} (use ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("60s").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1.5m").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn endpoints() {
        for master in [
            "http://127.0.0.1:5050",
            "127.0.0.1:5050",
            "http://127.0.0.1:5050/",
        ] {
            assert_eq!(
                scheduler_endpoint(master).unwrap().to_string(),
                "http://127.0.0.1:5050/api/v1/scheduler"
            );
        }
    }
}
