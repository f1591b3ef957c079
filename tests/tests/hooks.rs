#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Hook modules at their call sites, on real daemons: a master and agents started in-process on
//! 127.0.0.1 port 0 with hook chains built from real modules (shipped `hook-labels` and
//! `hook-env`, the test guests `test-hooks-recorder` and `test-hooks-adversary`), driven by a
//! v1 scheduler client; and `meseta local --modules … --hooks …` as a process.
//! Assertions are on what frameworks and operators see; waits use generous timeouts.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use meseta_hooks::{AgentHookChain, Hook, MasterHookChain};
use meseta_master::MasterConfig;
use meseta_runtime::{ComponentCache, FailurePolicy, Grant, LoadedModule, Settings};
use meseta_tests::cluster::{Cluster, RES, T, master_config};
use meseta_tests::daemons::{Local, http_get, workspace_root};
use meseta_tests::scheduler::{Scheduler, offer_ids, task};
use meseta_types::hooks::{AgentView, Decision, MasterHooks, TaskView};
use meseta_types::resources::Resource;
use serde_json::{Value, json};

/// A module from a manifest-like spec, under its own name.
fn module(
    artifact: &str,
    name: &str,
    parameters: &[(&str, &str)],
    settings: Settings,
) -> Arc<LoadedModule> {
    let mut spec = meseta_tests::spec(artifact, parameters, settings);
    spec.name = name.to_string();
    Arc::new(
        meseta_tests::loader(ComponentCache::disabled())
            .load(&spec)
            .unwrap(),
    )
}

/// The recorder test guest at both versions of the agent-hooks world: `meseta:hooks@0.2.0`
/// (borrowed handles) and `meseta:modules@0.1.0` (records), which the host still serves.
const RECORDERS: [&str; 2] = ["test-hooks-recorder", "test-hooks-recorder-v1"];

/// A master with hook chains and one agent, on the shared in-process cluster.
struct Hooked(Cluster);

impl Hooked {
    /// A master with `master_hooks` and one agent with `agent_hooks`; every module is listed
    /// in the master's `/master/modules`, as `meseta local` does.
    fn start(master_hooks: &[Arc<LoadedModule>], agent_hooks: &[Arc<LoadedModule>]) -> Hooked {
        let chain = MasterHookChain::from_modules(master_hooks.to_vec()).unwrap();
        let modules = master_hooks.iter().chain(agent_hooks).cloned().collect();
        Hooked::start_chain(chain, modules, agent_hooks)
    }

    fn start_chain(
        master_hooks: MasterHookChain,
        modules: Vec<Arc<LoadedModule>>,
        agent_hooks: &[Arc<LoadedModule>],
    ) -> Hooked {
        let config = MasterConfig {
            modules,
            hooks: Arc::new(master_hooks),
            ..master_config()
        };
        let mut c = Cluster::start(config, &[]);
        let chain = Arc::new(AgentHookChain::from_modules(agent_hooks.to_vec()).unwrap());
        c.add_agent_with(RES, |a| a.hooks = chain);
        Hooked(c)
    }

    fn subscribe(&self, name: &str) -> Scheduler {
        let s = self.0.subscribe(json!({ "name": name }));
        s.set_auto_ack(true);
        s
    }

    /// `GET path` on the master, as JSON.
    fn get(&self, path: &str) -> Value {
        self.0.get(path)
    }

    /// `GET path` on the agent, as JSON.
    fn agent_get(&self, path: &str) -> Value {
        let agent = self.0.agents[0].as_ref().unwrap().address();
        get_json(&format!("http://{agent}"), path)
    }

    /// The agent's work dir.
    fn dir(&self) -> &Path {
        self.0.dirs[0].path()
    }
}

fn get_json(base: &str, path: &str) -> Value {
    let (status, body) = http_get(base, path).unwrap();
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Launches `tasks` (a JSON array of TaskInfo built for agent `AGENT`) from the next offer.
fn launch(s: &mut Scheduler, tasks: &[(&str, &str)], labels: Option<Value>) {
    let offers = s.wait_offers(T).unwrap();
    let agent = offers[0]["agent_id"]["value"].as_str().unwrap().to_string();
    let infos: Vec<Value> = tasks
        .iter()
        .map(|(id, command)| {
            let mut t = task(id, &agent, command, 0.1, 32.0);
            if let Some(l) = &labels {
                t["labels"] = json!({ "labels": l });
            }
            t
        })
        .collect();
    let (code, body) = s.accept(&offer_ids(&offers), json!(infos), 0.0).unwrap();
    assert_eq!(code, 202, "ACCEPT: {body}");
}

/// The first object under `v` describing task `id` (it has `id` and `state`).
fn find_task<'a>(v: &'a Value, id: &str) -> Option<&'a Value> {
    match v {
        Value::Object(map) => {
            if map.get("id").and_then(Value::as_str) == Some(id) && map.contains_key("state") {
                return Some(v);
            }
            map.values().find_map(|x| find_task(x, id))
        }
        Value::Array(items) => items.iter().find_map(|x| find_task(x, id)),
        _ => None,
    }
}

/// Whether a JSON list of labels (`[{"key": …, "value": …}]`) has `key=value`.
fn has_label(labels: &Value, key: &str, value: &str) -> bool {
    labels
        .as_array()
        .is_some_and(|ls| ls.iter().any(|l| l["key"] == key && l["value"] == value))
}

/// The labels of a status (`{"labels": {"labels": [...]}}`).
fn status_labels(status: &Value) -> &Value {
    &status["labels"]["labels"]
}

/// The first file named `name` under `root` (symlinks are not followed).
fn find_file(root: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(root).ok()?.flatten() {
        let path = entry.path();
        let kind = entry.file_type().ok()?;
        if kind.is_dir() {
            if let Some(found) = find_file(&path, name) {
                return Some(found);
            }
        } else if kind.is_file() && entry.file_name() == name {
            return Some(path);
        }
    }
    None
}

/// Polls `f` until it returns `Some`, for at most `T`.
fn eventually<R>(what: &str, mut f: impl FnMut() -> Option<R>) -> R {
    let deadline = Instant::now() + T;
    loop {
        if let Some(r) = f() {
            return r;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn label_decorators_label_tasks_and_status_decorator_labels_updates() {
    for recorder_artifact in RECORDERS {
        let labels = module(
            "hook-labels",
            "team_labels",
            &[("team", "infra"), ("app", "decorated")],
            Settings::default(),
        );
        let recorder = module(
            recorder_artifact,
            "recorder",
            &[
                ("run_task_label", "agent=seen"),
                ("status_label", "checked=yes"),
            ],
            Settings::default(),
        );
        let c = Hooked::start(&[labels], &[recorder]);
        let mut s = c.subscribe("labels");
        launch(
            &mut s,
            &[("labelled", "true")],
            Some(json!([{"key": "app", "value": "web"}, {"key": "keep", "value": "me"}])),
        );
        let running = s.wait_state("labelled", "TASK_RUNNING", T).unwrap();
        let finished = s.wait_state("labelled", "TASK_FINISHED", T).unwrap();
        // The agent's status decorator labels every update it sends.
        for status in [&running, &finished] {
            assert!(
                has_label(status_labels(status), "checked", "yes"),
                "{status}"
            );
        }

        // The master's label decorator: the task's labels in /master/state.
        let state = c.get("/master/state");
        let t = find_task(&state, "labelled").unwrap_or_else(|| panic!("{state}"));
        let l = &t["labels"];
        assert!(has_label(l, "app", "decorated"), "hook replaces app: {t}");
        assert!(has_label(l, "keep", "me"), "other labels stay: {t}");
        assert!(has_label(l, "team", "infra"), "{t}");
        assert!(!has_label(l, "app", "web"), "{t}");

        // The agent got the master's labels and added its own run-task label.
        let agent_state = c.agent_get("/slave(1)/state");
        let t = find_task(&agent_state, "labelled").unwrap_or_else(|| panic!("{agent_state}"));
        assert!(has_label(&t["labels"], "team", "infra"), "{t}");
        assert!(has_label(&t["labels"], "agent", "seen"), "{t}");
    }
}

#[test]
fn executor_environment_reaches_the_task_and_notifications_are_called() {
    for recorder_artifact in RECORDERS {
        let log_dir = tempfile::tempdir().unwrap();
        let env = module(
            "hook-env",
            "deploy_env",
            &[("DEPLOY_ENV", "staging"), ("GREETING", "hello from a hook")],
            Settings::default(),
        );
        let recorder = module(
            recorder_artifact,
            "recorder",
            &[("log", "/log/events")],
            Settings {
                grants: vec![Grant {
                    host_path: log_dir.path().to_path_buf(),
                    guest_path: "/log".into(),
                    read_only: false,
                }],
                ..Settings::default()
            },
        );
        let c = Hooked::start(&[], &[env, recorder]);
        let mut s = c.subscribe("env");
        launch(
            &mut s,
            &[("env-task", "echo \"$DEPLOY_ENV/$GREETING\" > out.txt")],
            None,
        );
        s.wait_state("env-task", "TASK_FINISHED", T).unwrap();
        let out = find_file(c.dir(), "out.txt").expect("the task's out.txt");
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "staging/hello from a hook\n"
        );

        // post-fetch with the container's sandbox before the task ran; remove-executor once the
        // command executor is gone.
        let events = log_dir.path().join("events");
        let text = eventually("remove-executor", || {
            let text = std::fs::read_to_string(&events).ok()?;
            text.contains("remove-executor").then_some(text)
        });
        let sandbox = out.parent().unwrap().to_string_lossy().into_owned();
        let fetch = text
            .lines()
            .find(|l| l.starts_with("post-fetch "))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(
            fetch.ends_with(&format!(" {sandbox}")),
            "{fetch} vs {sandbox}"
        );
        let fid = s.framework_id().to_string();
        assert!(
            text.lines()
                .any(|l| l == format!("remove-executor {fid} env-task")),
            "{text}"
        );
    }
}

#[test]
fn decorated_agent_resources_and_attributes_reach_the_master() {
    for recorder_artifact in RECORDERS {
        let recorder = module(
            recorder_artifact,
            "recorder",
            &[("attribute", "rack:r9"), ("resource", "widgets:3")],
            Settings::default(),
        );
        let c = Hooked::start(&[], &[recorder]);
        let slaves = c.get("/master/slaves");
        let agent = &slaves["slaves"][0];
        assert_eq!(agent["attributes"]["rack"], "r9", "{slaves}");
        assert_eq!(agent["resources"]["widgets"], 3.0, "{slaves}");
        assert_eq!(agent["resources"]["cpus"], 4.0, "{slaves}");
        let state = c.get("/master/state");
        assert_eq!(state["slaves"][0]["attributes"]["rack"], "r9", "{state}");
        // Offers carry the decorated attributes.
        let mut s = c.subscribe("widgets");
        let offers = s.wait_offers(T).unwrap();
        assert_eq!(offers[0]["attributes"][0]["name"], "rack", "{offers:?}");
        assert_eq!(
            offers[0]["attributes"][0]["text"]["value"], "r9",
            "{offers:?}"
        );
    }
}

fn module_entry<'a>(modules: &'a Value, name: &str) -> &'a Value {
    modules["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {modules}"))
}

#[test]
fn faulting_hooks_are_contained() {
    let master_hooks: Vec<Arc<LoadedModule>> = [
        ("adv_loop", "loop"),
        ("adv_panic", "panic"),
        ("adv_bomb", "memory-bomb"),
    ]
    .iter()
    .map(|(name, mode)| {
        module(
            "test-hooks-adversary",
            name,
            &[("mode", mode)],
            Settings::default(),
        )
    })
    .collect();
    let recorder = module(
        "test-hooks-recorder",
        "rec_trap",
        &[("fault", "trap"), ("status_label", "checked=yes")],
        Settings::default(),
    );
    let c = Hooked::start(&master_hooks, &[recorder]);
    let mut s = c.subscribe("adversary");
    // The adversaries misbehave on the task named `trigger`, the recorder on its updates.
    launch(&mut s, &[("trigger", "true"), ("other", "true")], None);
    let trigger = s.wait_state("trigger", "TASK_FINISHED", T).unwrap();
    let other = s.wait_state("other", "TASK_FINISHED", T).unwrap();
    assert!(
        !has_label(status_labels(&trigger), "checked", "yes"),
        "{trigger}"
    );
    assert!(
        has_label(status_labels(&other), "checked", "yes"),
        "a fresh instance decorates the next update: {other}"
    );

    let state = c.get("/master/state");
    let t = find_task(&state, "trigger").unwrap();
    assert!(!has_label(&t["labels"], "adversary", "ok"), "{t}");
    let t = find_task(&state, "other").unwrap();
    assert!(has_label(&t["labels"], "adversary", "ok"), "{t}");

    let modules = c.get("/master/modules");
    for (name, cause) in [
        ("adv_loop", "deadline"),
        ("adv_panic", "trap"),
        ("adv_bomb", ""),
        ("rec_trap", "trap"),
    ] {
        let counters = &module_entry(&modules, name)["counters"];
        assert!(
            counters["faults"].as_u64().unwrap() >= 1,
            "{name}: {counters}"
        );
        assert!(
            counters["fallbacks"].as_u64().unwrap() >= 1,
            "{name}: {counters}"
        );
        if !cause.is_empty() {
            assert!(
                counters["faults_by_cause"][cause].as_u64().unwrap() >= 1,
                "{name}: {counters}"
            );
        }
    }
    let metrics = c.agent_get("/metrics/snapshot");
    assert!(
        metrics["meseta/modules/rec_trap/faults"].as_f64().unwrap() >= 1.0,
        "{metrics}"
    );

    // Both daemons keep serving: a later task runs.
    launch(&mut s, &[("after", "true")], None);
    s.wait_state("after", "TASK_FINISHED", T).unwrap();
}

#[test]
fn a_fail_closed_hook_fault_refuses_the_task() {
    let adversary = module(
        "test-hooks-adversary",
        "adv_closed",
        &[("mode", "panic")],
        Settings {
            failure_policy: FailurePolicy::FailClosed,
            ..Settings::default()
        },
    );
    let c = Hooked::start(&[adversary], &[]);
    let mut s = c.subscribe("closed");
    launch(&mut s, &[("trigger", "true"), ("other", "true")], None);
    let refused = s.wait_state("trigger", "TASK_ERROR", T).unwrap();
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("label decorator hook failed"),
        "{refused}"
    );
    s.wait_state("other", "TASK_FINISHED", T).unwrap();
}

/// `meseta local --modules examples/modules.json --hooks …`, as the README shows it: the
/// master gets the master hooks, the agent the agent hooks.
#[test]
fn meseta_local_passes_hooks_to_master_and_agent() {
    let manifest = workspace_root().join("examples/modules.json");
    let local = Local::start_with(&[
        "--modules",
        manifest.to_str().unwrap(),
        "--hooks",
        "com_example_team_labels,com_example_deploy_env",
    ])
    .unwrap();
    let master = local.url.trim_start_matches("http://").to_string();
    let mut s = Scheduler::subscribe(&master, json!({"name": "local-hooks"})).unwrap();
    s.set_auto_ack(true);
    launch(
        &mut s,
        &[("deploy", "test \"$DEPLOY_ENV\" = staging")],
        None,
    );
    let status = s.wait_state("deploy", "TASK_FINISHED", T);
    assert!(status.is_ok(), "{status:?}\n{}", local.output());
    let (code, body) = local.get("/master/state").unwrap();
    assert_eq!(code, 200);
    let state: Value = serde_json::from_str(&body).unwrap();
    let t = find_task(&state, "deploy").unwrap();
    assert!(has_label(&t["labels"], "team", "platform"), "{t}");
    assert!(has_label(&t["labels"], "cost-center", "42"), "{t}");
}

/// A native master hook (the chain takes Rust implementations beside Wasm modules): gives
/// every task without `disk` a default 16 MB of it, and records lost agents.
struct DefaultDisk {
    lost: Arc<Mutex<Vec<String>>>,
}

impl MasterHooks for DefaultDisk {
    fn launch_task_resource_decorator(
        &mut self,
        task: &dyn TaskView,
        _agent_resources: &[Resource],
    ) -> Decision<Vec<Resource>> {
        if task.resources().iter().any(|r| r.name == "disk") {
            return Ok(None);
        }
        let mut resources = task.resources().into_owned();
        resources.push(Resource::scalar("disk", 16.0));
        Ok(Some(resources))
    }

    fn agent_lost(&mut self, agent: &dyn AgentView) -> Result<(), String> {
        self.lost
            .lock()
            .unwrap()
            .push(agent.agent_id().into_owned());
        Ok(())
    }
}

#[test]
fn resource_decorator_and_agent_lost_hook_run_in_the_master() {
    let lost = Arc::new(Mutex::new(Vec::new()));
    let chain = MasterHookChain {
        hooks: vec![Hook::native(
            "default_disk",
            Box::new(DefaultDisk { lost: lost.clone() }),
        )],
    };
    let mut c = Hooked::start_chain(chain, Vec::new(), &[]);
    let mut s = c.subscribe("disk");
    launch(&mut s, &[("disky", "true")], None);
    s.wait_state("disky", "TASK_FINISHED", T).unwrap();
    let state = c.get("/master/state");
    let t = find_task(&state, "disky").unwrap_or_else(|| panic!("{state}"));
    assert_eq!(t["resources"]["disk"], 16.0, "{t}");

    // The agent goes away: the hook hears of it after the framework did.
    let agent_id = c.0.agent_id(0);
    c.0.kill_agent(0);
    s.wait_for(|e| e["type"] == "FAILURE", T).unwrap();
    let got = eventually("agent_lost", || {
        let l = lost.lock().unwrap().clone();
        (!l.is_empty()).then_some(l)
    });
    assert_eq!(got, vec![agent_id]);
}

fn label(key: &str, value: &str) -> meseta_types::resources::Label {
    meseta_types::resources::Label {
        key: key.into(),
        value: Some(value.into()),
    }
}

fn labelled(labels: &[(&str, &str)]) -> meseta_types::hooks::TaskInfo {
    meseta_types::hooks::TaskInfo {
        task_id: "t".into(),
        labels: labels.iter().map(|(k, v)| label(k, v)).collect(),
        ..Default::default()
    }
}

/// Version 2 decorators answer an unchanged edit with `repeat`: the host applies the edit it
/// kept to each task's own labels, and a changed answer replaces the kept one.
#[test]
fn repeated_edits_apply_to_each_tasks_own_labels() {
    use meseta_types::hooks::{AgentInfo, ExecutorInfo, FrameworkInfo};
    let labels = module(
        "hook-labels",
        "labels",
        &[("team", "infra")],
        Settings::default(),
    );
    let chain = MasterHookChain::from_modules(vec![labels.clone()]).unwrap();
    let (f, a) = (FrameworkInfo::default(), AgentInfo::default());
    for (task, expected) in [
        (
            vec![("app", "web")],
            vec![label("app", "web"), label("team", "infra")],
        ),
        (
            vec![("team", "old"), ("x", "1")],
            vec![label("team", "infra"), label("x", "1")],
        ),
        (vec![], vec![label("team", "infra")]),
    ] {
        let out = chain.launch_task_labels(&labelled(&task), &f, &a).unwrap();
        assert_eq!(out, expected, "task labels {task:?}");
    }
    assert_eq!(labels.counters.snapshot().faults.total(), 0);

    // The recorder reads the task's labels and answers the whole list: the same task twice
    // repeats, another task's labels change the answer.
    for artifact in RECORDERS {
        let recorder = module(
            artifact,
            "recorder",
            &[("run_task_label", "agent=seen")],
            Settings::default(),
        );
        let chain = AgentHookChain::from_modules(vec![recorder.clone()]).unwrap();
        let e = ExecutorInfo::default();
        for task in [
            vec![("a", "1")],
            vec![("a", "1")],
            vec![("b", "2")],
            vec![("a", "1")],
        ] {
            let t = labelled(&task);
            let out = chain.run_task_labels(&t, &e, &f, &a).unwrap();
            let mut expected = t.labels.clone();
            expected.push(label("agent", "seen"));
            assert_eq!(out, expected, "{artifact}: task labels {task:?}");
        }
        assert_eq!(recorder.counters.snapshot().faults.total(), 0, "{artifact}");
    }
}
