//! `meseta bench`: Mesos' benchmark scenarios, each measuring the native twin (the policy crate
//! linked into the host) and the Wasm module (the same crate behind Meseta's sandbox and
//! checks) in one run, with their ratio and Mesos' published figure where one exists.
//!
//! Scenarios: `allocator-decline`, `allocator-quota`, `allocator-suppress` (the allocator alone,
//! Mesos' `DeclineOffers`, `LargeAndSmallQuota` and `SuppressOffers` replicas),
//! `allocator-shadow` (the live round's time with and without a shadow allocator), `launch` (a real
//! master in this process driven over its v1 HTTP API by a load-generating framework, with
//! simulated agents speaking the real master–agent protocol), `hooks` (a chain of two hook
//! modules per task launch), `authorizer` (one decision of Mesos' local ACL authorizer over a
//! realistic ACL), `operator-state` (`/master/state` and the operator stream's SUBSCRIBED for
//! 10,000 agents and 100,000 tasks), `operator-stream` (`launch` with 100 operator event streams
//! attached and read), `module-start` (manifest to first call, with and without the
//! compiled cache), `master-memory` (a `meseta master` child process's RSS with many agents
//! and tasks), `registry` (durable agent admissions per second, against `in_memory`) and
//! `master-failover` (a master with many agents and tasks restarted, to the first offer),
//! `agent-recovery` (a `meseta agent` child process with many running tasks SIGKILLed and
//! restarted, until it has re-registered with all of them) and `ha-failover` (three `meseta
//! master --zk` child processes on a local ZooKeeper, which must be installed; the leader
//! SIGKILLed with many agents and a framework following it through ZooKeeper: time to a new
//! leader, to every agent re-registered and to the first offer), and `languages` (the Python and
//! JavaScript example modules beside the Rust ones: size, start, memory, hook call, round).
//!
//! Every scenario also checks that its results are consistent (native and Wasm rounds made the
//! same offers, every task was launched, ...); `--quick` runs all of them at small sizes as a
//! smoke test. Progress goes to stderr, results to stdout (a table, or one JSON object per line).
//!
//! Architecture note: like the master and the agent, this crate owns sockets and a tokio
//! runtime (for `launch` and `master-memory`); it is a load generator, never part of a daemon.
//! `master-memory`, `agent-recovery` and `ha-failover` run daemons as child processes of the
//! same binary (`child`).

mod allocators;
mod authorizer;
mod child;
mod failover;
mod ha;
mod hooks;
mod languages;
mod launch;
mod memory;
mod shadow;
mod start;
mod state;
mod stream;

use std::time::{Duration, Instant};

use meseta_bindings::WORLDS;
use meseta_runtime::{ComponentCache, Loader};
use serde_json::{Map, Value, json};

/// Every scenario, in the order `all` runs them.
pub const SCENARIOS: &[&str] = &[
    "allocator-decline",
    "allocator-quota",
    "allocator-suppress",
    "allocator-shadow",
    "launch",
    "hooks",
    "authorizer",
    "operator-state",
    "operator-stream",
    "module-start",
    "master-memory",
    "registry",
    "master-failover",
    "agent-recovery",
    "ha-failover",
    "languages",
];

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

/// What to run.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Scenario names (`all` expands to [`SCENARIOS`]).
    pub scenarios: Vec<String>,
    /// Small sizes everywhere (the CI smoke test).
    pub quick: bool,
    /// `--agents`: overrides the scenario's agent count (the grid of `allocator-decline`).
    pub agents: Option<u32>,
    /// `--frameworks`: overrides the framework count.
    pub frameworks: Option<u32>,
    /// `--rounds`: allocation rounds (allocator scenarios).
    pub rounds: Option<u32>,
    /// `--tasks`: tasks to launch (`launch`, `master-memory`).
    pub tasks: Option<u32>,
    pub format: Format,
}

/// Mesos' figure for a scenario.
#[derive(Clone, Debug)]
pub struct Anchor {
    pub mesos_ms: f64,
    pub source: &'static str,
}

/// A goal of issue 5 and whether this run met it.
#[derive(Clone, Debug)]
pub struct Goal {
    pub text: String,
    pub met: bool,
}

/// One result: a scenario at one set of parameters.
#[derive(Clone, Debug)]
pub struct Report {
    pub scenario: &'static str,
    pub params: Value,
    pub native_ms: f64,
    pub wasm_ms: f64,
    pub anchor: Option<Anchor>,
    pub goals: Vec<Goal>,
    /// Native and Wasm agree (same offers, every task done, ...).
    pub consistent: bool,
    /// Scenario-specific figures.
    pub extra: Map<String, Value>,
}

impl Report {
    fn new(scenario: &'static str, params: Value, native: Duration, wasm: Duration) -> Report {
        Report {
            scenario,
            params,
            native_ms: ms(native),
            wasm_ms: ms(wasm),
            anchor: None,
            goals: Vec::new(),
            consistent: true,
            extra: Map::new(),
        }
    }

    pub fn ratio(&self) -> f64 {
        if self.native_ms > 0.0 {
            self.wasm_ms / self.native_ms
        } else {
            f64::NAN
        }
    }

    fn with_anchor(mut self, mesos_ms: f64, source: &'static str) -> Self {
        self.anchor = Some(Anchor { mesos_ms, source });
        self
    }

    fn goal(&mut self, text: impl Into<String>, met: bool) {
        self.goals.push(Goal {
            text: text.into(),
            met,
        });
    }

    fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.extra.insert(key.to_string(), rounded(value.into()));
    }

    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("scenario".into(), json!(self.scenario));
        o.insert("params".into(), self.params.clone());
        o.insert("native_ms".into(), json!(round6(self.native_ms)));
        o.insert("wasm_ms".into(), json!(round6(self.wasm_ms)));
        let ratio = self.ratio();
        o.insert(
            "ratio".into(),
            if ratio.is_finite() {
                json!(round6(ratio))
            } else {
                Value::Null
            },
        );
        o.insert(
            "anchor".into(),
            self.anchor.as_ref().map_or(
                Value::Null,
                |a| json!({"mesos_ms": a.mesos_ms, "source": a.source}),
            ),
        );
        o.insert(
            "goals".into(),
            self.goals
                .iter()
                .map(|g| json!({"goal": g.text, "met": g.met}))
                .collect(),
        );
        o.insert("consistent".into(), json!(self.consistent));
        for (k, v) in &self.extra {
            o.insert(k.clone(), v.clone());
        }
        Value::Object(o)
    }
}

/// Floats to six decimals (a nanosecond, in ms), recursively (results are read by people and diffed by scripts).
fn rounded(v: Value) -> Value {
    match v {
        Value::Number(n) if n.is_f64() => n.as_f64().map_or(Value::Null, |x| json!(round6(x))),
        Value::Array(a) => Value::Array(a.into_iter().map(rounded).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, rounded(v))).collect()),
        other => other,
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub(crate) fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Progress on stderr, prefixed by the scenario.
pub(crate) fn progress(scenario: &str, message: impl std::fmt::Display) {
    eprintln!("[{scenario}] {message}");
}

/// Times `f`.
pub(crate) fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}

pub(crate) fn loader(cache: ComponentCache) -> Loader<'static> {
    Loader {
        worlds: WORLDS,
        builtins: &meseta_artifacts::Shipped,
        cache,
    }
}

/// Loads a built-in module by crate name (no cache: each bench compiles it once).
pub(crate) fn load_builtin(
    name: &str,
    parameters: &[(&str, &str)],
) -> anyhow::Result<std::sync::Arc<meseta_runtime::LoadedModule>> {
    let spec = meseta_runtime::ModuleSpec {
        name: name.replace('-', "_"),
        source: meseta_runtime::Source::Builtin(name.to_string()),
        kind: None,
        parameters: parameters
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        settings: meseta_runtime::Settings::default(),
        origin: "meseta bench".into(),
    };
    Ok(std::sync::Arc::new(
        loader(ComponentCache::disabled()).load(&spec)?,
    ))
}

/// Runs the scenarios, printing each result as it completes. `Ok(false)` when a result was
/// inconsistent (the smoke test fails on it); goals missed do not fail the run.
pub fn run(options: &BenchOptions) -> anyhow::Result<bool> {
    let mut names: Vec<&str> = Vec::new();
    for s in &options.scenarios {
        if s == "all" {
            names.extend(SCENARIOS);
        } else if let Some(known) = SCENARIOS.iter().find(|k| **k == s.as_str()) {
            names.push(known);
        } else {
            anyhow::bail!(
                "unknown scenario '{s}' (known: all, {})",
                SCENARIOS.join(", ")
            );
        }
    }
    if names.is_empty() {
        names.extend(SCENARIOS);
    }
    if options.format == Format::Table {
        print_header();
    }
    let mut all = Vec::new();
    for name in names {
        let reports = match name {
            "allocator-decline" => allocators::decline(options)?,
            "allocator-quota" => allocators::quota(options)?,
            "allocator-suppress" => allocators::suppress(options)?,
            "allocator-shadow" => shadow::run(options)?,
            "launch" => launch::run(options)?,
            "operator-stream" => stream::run(options)?,
            "hooks" => hooks::run(options)?,
            "authorizer" => authorizer::run(options)?,
            "operator-state" => state::run(options)?,
            "module-start" => start::run(options)?,
            "master-memory" => memory::run(options)?,
            "registry" => failover::registry(options)?,
            "master-failover" => failover::master_failover(options)?,
            "agent-recovery" => failover::agent_recovery(options)?,
            "ha-failover" => ha::ha_failover(options)?,
            "languages" => languages::run(options)?,
            _ => Vec::new(),
        };
        for r in &reports {
            match options.format {
                Format::Table => print_row(r),
                Format::Json => println!("{}", r.to_json()),
            }
        }
        all.extend(reports);
    }
    let inconsistent: Vec<String> = all
        .iter()
        .filter(|r| !r.consistent)
        .map(|r| format!("{} {}", r.scenario, r.params))
        .collect();
    if !inconsistent.is_empty() {
        eprintln!("inconsistent results: {}", inconsistent.join("; "));
    }
    Ok(inconsistent.is_empty())
}

fn print_header() {
    println!(
        "{:<19} {:<34} {:>12} {:>12} {:>7} {:>10}  goals",
        "scenario", "params", "native", "wasm", "ratio", "Mesos"
    );
}

fn fmt_ms(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0} ms")
    } else if x >= 1.0 {
        format!("{x:.2} ms")
    } else {
        format!("{:.2} us", x * 1e3)
    }
}

fn print_row(r: &Report) {
    let params = match &r.params {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    };
    let anchor = r
        .anchor
        .as_ref()
        .map_or("-".to_string(), |a| fmt_ms(a.mesos_ms));
    let goals = r
        .goals
        .iter()
        .map(|g| format!("{} [{}]", g.text, if g.met { "met" } else { "MISSED" }))
        .collect::<Vec<_>>()
        .join("; ");
    println!(
        "{:<19} {:<34} {:>12} {:>12} {:>6.2}x {:>10}  {}{}",
        r.scenario,
        params,
        fmt_ms(r.native_ms),
        fmt_ms(r.wasm_ms),
        r.ratio(),
        anchor,
        goals,
        if r.consistent { "" } else { " INCONSISTENT" }
    );
    if !r.extra.is_empty() {
        let extra = r
            .extra
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        println!("{:<19} {extra}", "");
    }
}
