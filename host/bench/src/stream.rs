//! `operator-stream`: the `launch` benchmark with 100 operator `SUBSCRIBE` streams attached
//! (each read by its own client in this process, as service-discovery bridges read Mesos'
//! stream), beside the same run without them. Measured: the launch figures both ways, and the
//! events each stream received (every TASK_ADDED and TASK_UPDATED of the burst must reach every
//! stream: none dropped as slow). Goal (issue 21): the launch goals hold with 100 subscribers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::json;

use crate::launch::{HttpClient, Load, RunFigures, one_run_with};
use crate::{BenchOptions, Report, progress};

/// What the attached streams received, summed over them.
#[derive(Default)]
pub struct StreamCounters {
    pub records: AtomicU64,
    pub bytes: AtomicU64,
    /// TASK_ADDED and TASK_UPDATED records.
    pub task_events: AtomicU64,
    /// Streams whose body ended or failed before the run was over.
    pub ended: AtomicU64,
    /// When the last task event arrived (µs since `since`).
    pub last_event_us: AtomicU64,
}

/// The attached streams: their readers run on a runtime of their own (one thread named
/// `stream-reader`), so that the CPU they take can be told apart from the master's.
pub struct Attached {
    pub counters: Arc<StreamCounters>,
    readers: Vec<tokio::task::JoinHandle<()>>,
    runtime: tokio::runtime::Runtime,
}

/// `n` operator streams on the master at `addr`, each read by its own task until aborted.
pub async fn attach(addr: &str, n: usize, since: Instant) -> anyhow::Result<Attached> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(READER_THREAD)
        .enable_all()
        .build()?;
    let counters = Arc::new(StreamCounters::default());
    let url = format!("{}://{addr}/api/v1", meseta_http::tls::scheme());
    let (opened_tx, mut opened) = tokio::sync::mpsc::channel::<anyhow::Result<()>>(n.max(1));
    let mut readers = Vec::with_capacity(n);
    for _ in 0..n {
        let (url, counters, opened_tx) = (url.clone(), counters.clone(), opened_tx.clone());
        readers.push(runtime.spawn(async move {
            let client = crate::launch::client();
            let opened = read_stream(&client, &url, &counters, since, &opened_tx).await;
            if let Err(e) = opened {
                let _ = opened_tx.send(Err(e)).await;
            }
        }));
    }
    for _ in 0..n {
        match opened.recv().await {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(e),
            None => anyhow::bail!("the stream readers ended before subscribing"),
        }
    }
    Ok(Attached {
        counters,
        readers,
        runtime,
    })
}

const READER_THREAD: &str = "stream-reader";

/// CPU time (user + system) of this process and of its `stream-reader` threads so far.
pub fn cpu_seconds() -> (f64, f64) {
    let ticks = |stat: &str| -> f64 {
        // Fields after the `(comm)`: utime and stime are the 12th and 13th.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            return 0.0;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let at = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        (at(11) + at(12)) / 100.0
    };
    let process = std::fs::read_to_string("/proc/self/stat")
        .map(|s| ticks(&s))
        .unwrap_or(0.0);
    let mut readers = 0.0;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if comm.trim() == READER_THREAD
                && let Ok(stat) = std::fs::read_to_string(task.path().join("stat"))
            {
                readers += ticks(&stat);
            }
        }
    }
    (process, readers)
}

/// Subscribes, says so on `opened`, then reads until the stream ends.
async fn read_stream(
    client: &HttpClient,
    url: &str,
    counters: &StreamCounters,
    since: Instant,
    opened: &tokio::sync::mpsc::Sender<anyhow::Result<()>>,
) -> anyhow::Result<()> {
    {
        let request = hyper::Request::post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .body(Full::new(Bytes::from_static(br#"{"type":"SUBSCRIBE"}"#)))?;
        let response = client.request(request).await?;
        anyhow::ensure!(
            response.status().is_success(),
            "SUBSCRIBE on /api/v1 answered {}",
            response.status()
        );
        let _ = opened.send(Ok(())).await;
        let mut body = response.into_body();
        {
            let mut scan = Scanner::default();
            while let Some(Ok(frame)) = body.frame().await {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                counters
                    .bytes
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
                let (records, task_events) = scan.feed(&data);
                counters.records.fetch_add(records, Ordering::Relaxed);
                if task_events > 0 {
                    counters
                        .task_events
                        .fetch_add(task_events, Ordering::Relaxed);
                    counters
                        .last_event_us
                        .fetch_max(since.elapsed().as_micros() as u64, Ordering::Relaxed);
                }
            }
            counters.ended.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

/// Counts RecordIO records as they stream by without copying them (a subscriber here is a
/// reader like `curl > file`: the master's cost is what is measured, not a client's parsing),
/// and among them the task events: the master writes each record's keys in order, `type` last,
/// so a record is a task event when its last bytes are `"type":"TASK_ADDED"}` or
/// `"type":"TASK_UPDATED"}`.
#[derive(Default)]
struct Scanner {
    /// Bytes of the current record's data still to come (0: reading a length line).
    remaining: usize,
    length: usize,
    /// The current record's last bytes.
    tail: Vec<u8>,
}

impl Scanner {
    const TAIL: usize = 24;

    /// (records completed, task events among them) in `data`.
    fn feed(&mut self, mut data: &[u8]) -> (u64, u64) {
        let (mut records, mut tasks) = (0, 0);
        while !data.is_empty() {
            if self.remaining == 0 {
                match data.iter().position(|&b| b == b'\n') {
                    Some(newline) => {
                        for &d in &data[..newline] {
                            self.length = self.length * 10 + usize::from(d.wrapping_sub(b'0'));
                        }
                        self.remaining = std::mem::take(&mut self.length);
                        self.tail.clear();
                        data = &data[newline + 1..];
                    }
                    None => {
                        for &d in data {
                            self.length = self.length * 10 + usize::from(d.wrapping_sub(b'0'));
                        }
                        return (records, tasks);
                    }
                }
                continue;
            }
            let take = self.remaining.min(data.len());
            let part = &data[..take];
            // Keep the record's last TAIL bytes.
            if take >= Self::TAIL {
                self.tail.clear();
                self.tail.extend_from_slice(&part[take - Self::TAIL..]);
            } else {
                self.tail.extend_from_slice(part);
                let excess = self.tail.len().saturating_sub(Self::TAIL);
                self.tail.drain(..excess);
            }
            self.remaining -= take;
            data = &data[take..];
            if self.remaining == 0 {
                records += 1;
                let tail = self.tail.as_slice();
                if tail.ends_with(br#""type":"TASK_ADDED"}"#)
                    || tail.ends_with(br#""type":"TASK_UPDATED"}"#)
                {
                    tasks += 1;
                }
            }
        }
        (records, tasks)
    }
}

pub fn run(o: &BenchOptions) -> anyhow::Result<Vec<Report>> {
    let name = "operator-stream";
    let agents = o.agents.unwrap_or(if o.quick { 20 } else { 1_000 });
    let tasks = u64::from(o.tasks.unwrap_or(if o.quick { 500 } else { 20_000 }));
    let subscribers = if o.quick { 10 } else { 100 };
    let module = crate::load_builtin("allocator-drf", &[])?;
    let rt = crate::launch::runtime()?;
    let rate = if o.quick { 1_000.0 } else { 5_000.0 };
    let mut figures: Vec<(RunFigures, RunFigures)> = Vec::new();
    for streams in [0, subscribers] {
        progress(
            name,
            format!(
                "{agents} simulated agents, {tasks} tasks, allocator-drf module, \
                 {streams} operator streams"
            ),
        );
        let saturated = rt.block_on(one_run_with(
            Some(module.clone()),
            agents,
            tasks,
            &format!("{streams} streams"),
            Load::Window(1_000),
            streams,
        ))?;
        let paced = rt.block_on(one_run_with(
            Some(module.clone()),
            agents,
            tasks,
            &format!("{streams} streams, paced"),
            Load::Paced(rate),
            streams,
        ))?;
        figures.push((saturated, paced));
    }
    rt.shutdown_timeout(Duration::from_secs(1));
    let [(bare, bare_paced), (with, with_paced)] =
        <[_; 2]>::try_from(figures).map_err(|_| anyhow::anyhow!("expected two configurations"))?;
    let mut rep = Report::new(
        name,
        json!({"agents": agents, "tasks": tasks, "subscribers": subscribers,
            "paced_tasks_per_s": rate}),
        bare.total,
        with.total,
    );
    rep.set(
        "columns",
        "native = launch without operator streams, wasm = with them (both allocator-drf)",
    );
    // Each stream must see every task's TASK_ADDED and both TASK_UPDATEDs, in both runs.
    let expected = 3 * tasks * subscribers as u64;
    let complete = |f: &RunFigures| {
        f.finished == tasks
            && f.acked == 2 * tasks
            && f.stream
                .as_ref()
                .is_some_and(|s| s.task_events == expected && s.ended == 0)
    };
    for (key, f) in [
        ("bare", &bare),
        ("bare_paced", &bare_paced),
        ("streams", &with),
        ("streams_paced", &with_paced),
    ] {
        if !complete(f) && (key.starts_with("streams") || f.finished != tasks) {
            let (events, ended) = f
                .stream
                .as_ref()
                .map_or((0, 0), |s| (s.task_events, s.ended));
            rep.set(
                &format!("{key}_incomplete"),
                format!(
                    "finished {}/{tasks}, acknowledged {}/{}, failed calls {}, stream task events {events}/{expected}, streams ended {ended}",
                    f.finished,
                    f.acked,
                    2 * tasks,
                    f.failed_calls
                ),
            );
        }
    }
    rep.consistent = bare.finished == tasks
        && bare_paced.finished == tasks
        && complete(&with)
        && complete(&with_paced);
    for (prefix, f, fp) in [
        ("bare", &bare, &bare_paced),
        ("streams", &with, &with_paced),
    ] {
        rep.set(&format!("{prefix}_tasks_per_s"), f.tasks_per_s.round());
        rep.set(&format!("{prefix}_updates_per_s"), f.updates_per_s.round());
        rep.set(
            &format!("{prefix}_paced_p50_accept_to_running_ms"),
            crate::ms(fp.p50),
        );
        rep.set(
            &format!("{prefix}_paced_p99_accept_to_running_ms"),
            crate::ms(fp.p99),
        );
        // Where the CPU went in the saturated run: all of it, the readers', the rest (the
        // master, the simulated agents and the framework).
        rep.set(&format!("{prefix}_cpu_s"), round2(f.cpu_s));
        rep.set(&format!("{prefix}_reader_cpu_s"), round2(f.reader_cpu_s));
        rep.set(
            &format!("{prefix}_cluster_cpu_s"),
            round2(f.cpu_s - f.reader_cpu_s),
        );
    }
    if let Some(s) = &with.stream {
        rep.set("stream_task_events", s.task_events);
        rep.set("stream_task_events_expected", expected);
        rep.set("stream_records", s.records);
        rep.set("stream_mb", s.bytes as f64 / 1e6);
        rep.set("streams_dropped", s.ended);
        rep.set(
            "stream_events_per_s",
            (s.task_events as f64 / s.span.as_secs_f64().max(1e-9)).round(),
        );
    }
    if agents >= 1_000 {
        rep.goal(
            ">= 5,000 tasks/s with 100 streams",
            with.tasks_per_s >= 5_000.0,
        );
        rep.goal(
            ">= 10,000 acknowledged updates/s with 100 streams",
            with.updates_per_s >= 10_000.0,
        );
        rep.goal(
            "p99 ACCEPT->RUNNING < 50 ms at 5,000 tasks/s with 100 streams",
            with_paced.p99 < Duration::from_millis(50),
        );
    }
    Ok(vec![rep])
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// What one run's streams received.
pub struct StreamFigures {
    pub task_events: u64,
    pub records: u64,
    pub bytes: u64,
    pub ended: u64,
    /// First ACCEPT to the last task event received.
    pub span: Duration,
}

/// Waits (up to 30 s) until the streams hold `expected` task events, then stops the readers.
pub async fn collect(
    attached: Attached,
    expected: u64,
    since: Instant,
    first_accept: Instant,
) -> StreamFigures {
    let Attached {
        counters,
        readers,
        runtime,
    } = attached;
    let deadline = Instant::now() + Duration::from_secs(30);
    while counters.task_events.load(Ordering::Relaxed) < expected
        && counters.ended.load(Ordering::Relaxed) == 0
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ended = counters.ended.load(Ordering::Relaxed);
    for r in readers {
        r.abort();
    }
    runtime.shutdown_background();
    let last = since + Duration::from_micros(counters.last_event_us.load(Ordering::Relaxed));
    StreamFigures {
        task_events: counters.task_events.load(Ordering::Relaxed),
        records: counters.records.load(Ordering::Relaxed),
        bytes: counters.bytes.load(Ordering::Relaxed),
        ended,
        span: last.saturating_duration_since(first_accept),
    }
}
