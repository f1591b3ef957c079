//! The cost hooks add to one task launch: the master's label decorator chain (`hook-labels`)
//! and the agent's executor environment chain (`hook-env`), through `meseta-hooks`' chains
//! exactly as the daemons call them. Native: the same hooks linked in as `Hook::Native`.

use std::time::{Duration, Instant};

use hook_env::EnvHook;
use hook_labels::LabelsHook;
use meseta_hooks::{AgentHookChain, Hook, MasterHookChain};
use meseta_types::Create;
use meseta_types::hooks::{
    AgentInfo, CommandInfo, ExecutorInfo, FrameworkInfo, MasterHooks, TaskInfo,
};
use meseta_types::resources::{EnvVar, Label, Resource};
use serde_json::json;

use crate::{BenchOptions, Report, progress};

const LABELS: &[(&str, &str)] = &[("team", "platform"), ("tier", "gold")];
const ENV: &[(&str, &str)] = &[("MESETA_CLUSTER", "bench"), ("ZONE", "a")];

fn params(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

struct Launch {
    task: TaskInfo,
    framework: FrameworkInfo,
    agent: AgentInfo,
    executor: ExecutorInfo,
}

fn launch_input() -> Launch {
    let command = CommandInfo {
        shell: true,
        value: Some("./serve --port $PORT0".into()),
        environment: vec![EnvVar {
            name: "PORT0".into(),
            value: "31000".into(),
        }],
        ..Default::default()
    };
    Launch {
        task: TaskInfo {
            task_id: "task-000123".into(),
            name: "web-frontend".into(),
            agent_id: "agent-42".into(),
            resources: vec![
                Resource::scalar("cpus", 0.5),
                Resource::scalar("mem", 128.0),
            ],
            labels: vec![Label {
                key: "app".into(),
                value: Some("web".into()),
            }],
            command: Some(command.clone()),
            executor_id: None,
        },
        framework: FrameworkInfo {
            framework_id: "fw-1".into(),
            name: "marathon".into(),
            user: "root".into(),
            roles: vec!["*".into()],
        },
        agent: AgentInfo {
            agent_id: "agent-42".into(),
            hostname: "node-42".into(),
            port: 5051,
            ..Default::default()
        },
        executor: ExecutorInfo {
            executor_id: "task-000123".into(),
            framework_id: "fw-1".into(),
            name: Some("command executor".into()),
            command: Some(command),
            resources: vec![],
            labels: vec![],
        },
    }
}

/// One launch through both chains; the decorated labels and environment.
fn launch(
    m: &MasterHookChain,
    a: &AgentHookChain,
    l: &Launch,
) -> anyhow::Result<(Vec<Label>, Vec<EnvVar>)> {
    let labels = m.launch_task_labels(&l.task, &l.framework, &l.agent)?;
    let env = a.executor_environment(&l.executor)?;
    Ok((labels, env))
}

/// Per-launch latencies of `iters` launches (after a warm-up), sorted.
fn sample(
    m: &MasterHookChain,
    a: &AgentHookChain,
    l: &Launch,
    iters: usize,
) -> anyhow::Result<Vec<Duration>> {
    for _ in 0..iters.min(1_000) {
        launch(m, a, l)?;
    }
    let mut v = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t = Instant::now();
        std::hint::black_box(launch(m, a, l)?);
        v.push(t.elapsed());
    }
    v.sort();
    Ok(v)
}

fn pct(v: &[Duration], p: f64) -> Duration {
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).copied().unwrap_or_default()
}

pub fn run(o: &BenchOptions) -> anyhow::Result<Vec<Report>> {
    let name = "hooks";
    let iters = if o.quick { 2_000 } else { 100_000 };
    progress(
        name,
        format!("{iters} task launches through hook-labels then hook-env"),
    );
    let l = launch_input();
    let labels_native: Box<dyn MasterHooks + Send> = Box::new(
        LabelsHook::create(&params(LABELS)).map_err(|e| anyhow::anyhow!("hook-labels: {e}"))?,
    );
    let env_native =
        Box::new(EnvHook::create(&params(ENV)).map_err(|e| anyhow::anyhow!("hook-env: {e}"))?);
    let native_m = MasterHookChain {
        hooks: vec![Hook::native("hook-labels", labels_native)],
    };
    let native_a = AgentHookChain {
        hooks: vec![Hook::native("hook-env", env_native)],
    };
    let wasm_m = MasterHookChain::from_modules(vec![crate::load_builtin("hook-labels", LABELS)?])?;
    let wasm_a = AgentHookChain::from_modules(vec![crate::load_builtin("hook-env", ENV)?])?;

    let consistent = launch(&native_m, &native_a, &l)? == launch(&wasm_m, &wasm_a, &l)?;
    let n = sample(&native_m, &native_a, &l, iters)?;
    let w = sample(&wasm_m, &wasm_a, &l, iters)?;
    let (n50, w50) = (pct(&n, 0.5), pct(&w, 0.5));
    let mut rep = Report::new(name, json!({"hooks": 2, "launches": iters}), n50, w50);
    rep.consistent = consistent;
    rep.set("native_p99_us", pct(&n, 0.99).as_secs_f64() * 1e6);
    rep.set("wasm_p99_us", pct(&w, 0.99).as_secs_f64() * 1e6);
    rep.set(
        "anchor_note",
        "Mesos hooks are in-process C++ (no published per-call figure)",
    );
    rep.goal(
        "two Wasm hooks <= 2 us p50 per launch",
        w50.as_nanos() <= 2_000,
    );
    Ok(vec![rep])
}
