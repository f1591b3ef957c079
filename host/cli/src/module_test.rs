//! `meseta module test FILE|DIR`: a module in the sandbox, driven through scripted scenarios
//! with the host's checks on, in seconds. An allocator replays small workloads through
//! `meseta-simulate` (its frameworks accept, decline with filters, suppress and revive; every
//! round's offers are checked as the master checks them), and passes when every task finished
//! without a fault. A hook module gets tasks, executors, status updates and agents through
//! each of its hook points. A fault (trap, deadline, memory cap, an offer that does not fit, an
//! unknown id, invalid output) fails the step it happened in, and the report names the step.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use meseta_hooks::{WasmAgentHooks, WasmMasterHooks};
use meseta_runtime::{LoadedModule, Manifest, ModuleError, ModuleSpec};
use meseta_simulate::{AllocatorSpec, Candidate, SimOptions, Workload};
use meseta_types::hooks::{
    AgentInfo, CommandInfo, ExecutorInfo, FrameworkInfo, TaskInfo, TaskStatus,
};
use meseta_types::resources::{Label, Resource};

use crate::module_cmd::{file_spec, loader};

/// The allocator scenarios: a name and a workload (the simulator's JSON format).
const ALLOCATOR_SCENARIOS: &[(&str, &str)] = &[
    (
        "two frameworks share three agents",
        r#"{"agents": [{"count": 3, "resources": {"cpus": 4, "mem": 4096}}],
            "frameworks": [{"name": "a"}, {"name": "b"}],
            "tasks": [
              {"framework": "a", "arrival": 0, "count": 12, "resources": {"cpus": 1, "mem": 512}, "duration": 5},
              {"framework": "b", "arrival": 0, "count": 12, "resources": {"cpus": 1, "mem": 512}, "duration": 5}]}"#,
    ),
    (
        "declines with filters: one task per offer, refuse 1 s",
        r#"{"agents": [{"count": 2, "resources": {"cpus": 2, "mem": 2048}}],
            "frameworks": [{"name": "picky", "offers": {"max_tasks_per_offer": 1, "refuse_seconds": 1}}],
            "tasks": [{"framework": "picky", "arrival": 0, "count": 8, "resources": {"cpus": 0.5, "mem": 128}, "duration": 3}]}"#,
    ),
    (
        "suppress while idle, revive on arrival",
        r#"{"agents": [{"count": 2, "resources": {"cpus": 2, "mem": 2048}}],
            "frameworks": [{"name": "bursty"}, {"name": "steady", "roles": ["web"]}],
            "roles": [{"name": "web", "weight": 2}],
            "tasks": [
              {"framework": "bursty", "arrival": 0, "count": 4, "resources": {"cpus": 1, "mem": 256}, "duration": 2},
              {"framework": "bursty", "arrival": 30, "count": 4, "resources": {"cpus": 1, "mem": 256}, "duration": 2},
              {"framework": "steady", "arrival": 0, "count": 6, "every": 5, "resources": {"cpus": 0.5, "mem": 256}, "duration": 10}]}"#,
    ),
];

/// Faults shown per failed scenario, the first ones.
const SHOWN_FAULTS: usize = 3;

/// `meseta module test FILE|DIR [--kind KIND]`.
pub fn run(target: &Path, kind: Option<&str>, no_cache: bool) -> ExitCode {
    let specs = match specs(target, kind) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut failed = 0;
    for spec in specs {
        let started = std::time::Instant::now();
        let module = match loader(no_cache).load(&spec) {
            Ok(m) => Arc::new(m),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!(
            "{} ({} {}, loaded in {:.0} ms)",
            spec.name,
            module.world.kind,
            spec.source,
            started.elapsed().as_secs_f64() * 1e3
        );
        let steps = match module.world.kind {
            "allocator" => allocator(&module),
            "master-hooks" => master_hooks(&module),
            "agent-hooks" => agent_hooks(&module),
            other => vec![Step::fail(
                "load",
                format!("`module test` has no scenarios for {other} modules yet"),
            )],
        };
        for s in &steps {
            println!(
                "  {} {}{}",
                if s.ok { "ok  " } else { "FAIL" },
                s.name,
                s.detail
            );
        }
        let bad = steps.iter().filter(|s| !s.ok).count();
        failed += bad;
        println!(
            "  {} of {} steps passed in {:.1} s",
            steps.len() - bad,
            steps.len(),
            started.elapsed().as_secs_f64()
        );
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The modules to test: FILE alone, or the modules of DIR's `modules.json` (a project made by
/// `meseta module new`).
fn specs(target: &Path, kind: Option<&str>) -> Result<Vec<ModuleSpec>, String> {
    if target.is_dir() {
        let path: PathBuf = target.join("modules.json");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "cannot read {}: {e}; give the component file instead, or a project directory \
                 made by `meseta module new`",
                path.display()
            )
        })?;
        let manifest = Manifest::parse(&text, &path.display().to_string(), target)
            .map_err(|e| e.to_string())?;
        for spec in &manifest.modules {
            if let meseta_runtime::Source::File(f) = &spec.source
                && !f.is_file()
            {
                return Err(format!(
                    "{} names {}, which does not exist: build the module first (see {}/README.md)",
                    path.display(),
                    f.display(),
                    target.display()
                ));
            }
        }
        return Ok(manifest.modules);
    }
    if !target.is_file() {
        return Err(format!(
            "{} does not exist: give a component (.wasm) or a project directory",
            target.display()
        ));
    }
    Ok(vec![file_spec(target, kind)])
}

struct Step {
    name: String,
    ok: bool,
    detail: String,
}

impl Step {
    fn fail(name: impl Into<String>, why: impl std::fmt::Display) -> Step {
        Step {
            name: name.into(),
            ok: false,
            detail: format!(": {why}"),
        }
    }

    /// A hook call: a fault fails it; the hook's own `err` is what the daemon logs and skips.
    fn hook<T: std::fmt::Debug>(name: &str, r: Result<Result<T, String>, ModuleError>) -> Step {
        match r {
            Ok(Ok(v)) => Step {
                name: name.into(),
                ok: true,
                detail: format!(" -> {v:?}"),
            },
            Ok(Err(e)) => Step {
                name: name.into(),
                ok: true,
                detail: format!(" -> err {e:?} (the daemon logs it and skips this hook)"),
            },
            Err(e) => Step::fail(name, e),
        }
    }
}

fn allocator(module: &Arc<LoadedModule>) -> Vec<Step> {
    let mut steps = Vec::new();
    for (name, json) in ALLOCATOR_SCENARIOS {
        let workload = match Workload::from_json(json) {
            Ok(w) => w,
            Err(e) => {
                steps.push(Step::fail(*name, format!("scenario: {e}")));
                continue;
            }
        };
        let candidate = Candidate {
            name: module.spec.name.clone(),
            spec: AllocatorSpec::Module(Arc::clone(module)),
        };
        let options = SimOptions {
            seed: 1,
            until_ms: Some(600_000),
            points: 10,
        };
        let report =
            match meseta_simulate::simulate(name, &workload, &[candidate], &options, &mut |_| {}) {
                Ok(r) => r,
                Err(e) => {
                    steps.push(Step::fail(*name, e));
                    continue;
                }
            };
        let Some(run) = report.runs.first() else {
            steps.push(Step::fail(*name, "the simulator made no run"));
            continue;
        };
        let summary = format!(
            "{} rounds, {} offers ({} declined), {} of {} tasks finished by t={:.0}s",
            run.rounds, run.offers, run.offers_declined, run.finished, run.tasks, run.makespan_s
        );
        if run.faults > 0 {
            let mut why = format!("{} faults ({summary})", run.faults);
            for line in run.fault_log.iter().take(SHOWN_FAULTS) {
                why.push_str("\n         at ");
                why.push_str(line);
            }
            if run.faults > SHOWN_FAULTS as u64 {
                why.push_str(&format!(
                    "\n         ... and {} more",
                    run.faults - SHOWN_FAULTS as u64
                ));
            }
            steps.push(Step::fail(*name, why));
        } else if run.stopped_early || run.finished < run.tasks as u64 {
            steps.push(Step::fail(
                *name,
                format!("tasks were left waiting: the allocator stopped offering what they need ({summary})"),
            ));
        } else {
            steps.push(Step {
                name: (*name).into(),
                ok: true,
                detail: format!(": {summary}"),
            });
        }
    }
    steps
}

struct Scene {
    task: TaskInfo,
    framework: FrameworkInfo,
    agent: AgentInfo,
    executor: ExecutorInfo,
}

/// The tasks the hook scenarios send: a plain one, one with labels, environment and a custom
/// executor, and one with empty fields.
fn scenes() -> Vec<(&'static str, Scene)> {
    let agent = AgentInfo {
        agent_id: "agent-1".into(),
        hostname: "host-1".into(),
        port: 5051,
        resources: vec![
            Resource::scalar("cpus", 4.0),
            Resource::scalar("mem", 4096.0),
        ],
        attributes: vec![],
    };
    let framework = FrameworkInfo {
        framework_id: "framework-1".into(),
        name: "test".into(),
        user: "root".into(),
        roles: vec!["*".into()],
    };
    let command = CommandInfo {
        shell: true,
        value: Some("echo hi".into()),
        ..Default::default()
    };
    let plain = TaskInfo {
        task_id: "task-1".into(),
        name: "plain".into(),
        agent_id: "agent-1".into(),
        resources: vec![
            Resource::scalar("cpus", 0.5),
            Resource::scalar("mem", 128.0),
        ],
        command: Some(command.clone()),
        ..Default::default()
    };
    let labelled = TaskInfo {
        task_id: "task-2".into(),
        name: "labelled".into(),
        labels: vec![Label {
            key: "team".into(),
            value: Some("web".into()),
        }],
        executor_id: Some("executor-2".into()),
        ..plain.clone()
    };
    let executor = |id: &str| ExecutorInfo {
        executor_id: id.into(),
        framework_id: "framework-1".into(),
        command: Some(command.clone()),
        ..Default::default()
    };
    vec![
        (
            "a plain command task",
            Scene {
                task: plain,
                framework: framework.clone(),
                agent: agent.clone(),
                executor: executor("task-1"),
            },
        ),
        (
            "a labelled task with an executor",
            Scene {
                task: labelled,
                framework: framework.clone(),
                agent: agent.clone(),
                executor: executor("executor-2"),
            },
        ),
        (
            "a task with empty fields",
            Scene {
                task: TaskInfo::default(),
                framework: FrameworkInfo::default(),
                agent: AgentInfo::default(),
                executor: ExecutorInfo::default(),
            },
        ),
    ]
}

fn master_hooks(module: &Arc<LoadedModule>) -> Vec<Step> {
    let hooks = match WasmMasterHooks::new(Arc::clone(module)) {
        Ok(h) => h,
        Err(e) => return vec![Step::fail("start (init with the manifest's parameters)", e)],
    };
    let mut steps = Vec::new();
    for (name, s) in scenes() {
        steps.push(Step::hook(
            &format!("{name}: launch-task-label-decorator"),
            hooks.launch_task_label_decorator(&s.task, &s.framework, &s.agent),
        ));
        steps.push(Step::hook(
            &format!("{name}: launch-task-resource-decorator"),
            hooks.launch_task_resource_decorator(&s.task, &s.agent.resources),
        ));
    }
    for (name, s) in scenes().into_iter().take(1) {
        steps.push(Step::hook(
            &format!("{name}: agent-lost"),
            hooks.agent_lost(&s.agent),
        ));
    }
    steps
}

fn agent_hooks(module: &Arc<LoadedModule>) -> Vec<Step> {
    let hooks = match WasmAgentHooks::new(Arc::clone(module)) {
        Ok(h) => h,
        Err(e) => return vec![Step::fail("start (init with the manifest's parameters)", e)],
    };
    let mut steps = Vec::new();
    if let Some((_, s)) = scenes().into_iter().next() {
        steps.push(Step::hook(
            "agent start-up: resources-decorator",
            hooks.resources_decorator(&s.agent),
        ));
        steps.push(Step::hook(
            "agent start-up: attributes-decorator",
            hooks.attributes_decorator(&s.agent),
        ));
    }
    for (name, s) in scenes() {
        steps.push(Step::hook(
            &format!("{name}: run-task-label-decorator"),
            hooks.run_task_label_decorator(&s.task, &s.executor, &s.framework, &s.agent),
        ));
        steps.push(Step::hook(
            &format!("{name}: executor-environment-decorator"),
            hooks.executor_environment_decorator(&s.executor),
        ));
        steps.push(Step::hook(
            &format!("{name}: post-fetch"),
            hooks.post_fetch("container-1", "/tmp/sandbox"),
        ));
        for state in ["TASK_RUNNING", "TASK_FINISHED"] {
            let status = TaskStatus {
                task_id: s.task.task_id.clone(),
                state: state.into(),
                ..Default::default()
            };
            steps.push(Step::hook(
                &format!("{name}: task-status-decorator {state}"),
                hooks.task_status_decorator(&s.framework.framework_id, &status),
            ));
        }
        steps.push(Step::hook(
            &format!("{name}: remove-executor"),
            hooks.remove_executor(&s.framework, &s.executor),
        ));
    }
    steps
}
