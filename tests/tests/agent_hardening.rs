#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Hostile tasks and input against the agent (issue 18), each on real daemons: a master and an
//! agent started in-process on 127.0.0.1 port 0 (or a `meseta agent` process where the agent's
//! own exit is under test), real task processes, real cgroups where the machine has them.

use meseta_agent::logger::{ContainerLogger, Rotation};
use meseta_tests::cluster::{
    Cluster, RES, T, assert_rotated, eventually, framework, log_files, master_config,
};
use meseta_tests::daemons::http_get;
use meseta_tests::scheduler::{Scheduler, offer_ids, task};
use serde_json::{Value, json};

/// Whether process `pid` is alive (a zombie counts as gone).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s.rsplit(')').next().unwrap_or("").split_whitespace().next();
            state != Some("Z")
        })
        .unwrap_or(false)
}

fn read_pid(pidfile: &std::path::Path) -> u32 {
    let mut pid = 0;
    eventually("a pid file", || {
        pid = std::fs::read_to_string(pidfile)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        pid != 0
    });
    pid
}

/// Launches `task_json` (a task without `agent_id`) on the next offer; the agent id.
fn launch_task(s: &mut Scheduler, mut task_json: Value) -> String {
    let offers = s.wait_offers(T).unwrap();
    let offer = offers[0]["id"]["value"].as_str().unwrap().to_string();
    let agent = offers[0]["agent_id"]["value"].as_str().unwrap().to_string();
    if offers.len() > 1 {
        s.decline(&offer_ids(&offers[1..]), 0.0).unwrap();
    }
    task_json["agent_id"] = json!({"value": agent});
    let (code, body) = s.accept(&[offer], json!([task_json]), 0.0).unwrap();
    assert_eq!(code, 202, "ACCEPT: {body}");
    agent
}

fn launch(s: &mut Scheduler, id: &str, command: &str) -> String {
    launch_task(s, task(id, "", command, 0.1, 32.0))
}

fn agent_url(c: &Cluster) -> String {
    format!("http://{}", c.agents[0].as_ref().unwrap().address())
}

// Finding 1 -----------------------------------------------------------------------------------

#[test]
fn files_endpoints_refuse_a_fifo_at_once_and_keep_serving() {
    let c = Cluster::start(master_config(), &[RES]);
    let mut s = c.subscribe(framework("fifo"));
    s.set_auto_ack(true);
    let fid = s.framework_id().to_string();
    launch(
        &mut s,
        "fifo",
        "mkfifo trap && echo ready > marker && exec sleep 1000",
    );
    s.wait_state("fifo", "TASK_RUNNING", T).unwrap();
    let agent = agent_url(&c);
    let sandbox = format!("/frameworks/{fid}/executors/fifo/runs/latest");
    eventually("the task's marker file", || {
        http_get(
            &agent,
            &format!("/files/read?path={sandbox}/marker&offset=0"),
        )
        .is_ok_and(|(code, body)| code == 200 && body.contains("ready"))
    });

    // Far more requests than the blocking pool has threads (512), from 32 clients at once:
    // each must be refused, none may hang on the FIFO waiting for a writer.
    let endpoints = [
        format!("/files/read?path={sandbox}/trap&offset=0"),
        format!("/files/read.json?path={sandbox}/trap&offset=0&length=10"),
        format!("/files/download?path={sandbox}/trap"),
    ];
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..32)
            .map(|i| {
                let agent = agent.clone();
                let endpoints = endpoints.clone();
                scope.spawn(move || {
                    for j in 0..20 {
                        let path = &endpoints[(i + j) % endpoints.len()];
                        let (code, body) = http_get(&agent, path).unwrap();
                        assert_eq!(code, 400, "GET {path}: {body}");
                        assert!(body.contains("FIFO"), "GET {path}: {body}");
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });

    // Browsing lists the FIFO as one (`p`) without opening it.
    let (code, body) = http_get(&agent, &format!("/files/browse?path={sandbox}")).unwrap();
    assert_eq!(code, 200, "{body}");
    let listing: Value = serde_json::from_str(&body).unwrap();
    let trap = listing
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"].as_str().unwrap().ends_with("/trap"))
        .expect("the FIFO in the listing");
    assert!(trap["mode"].as_str().unwrap().starts_with('p'), "{trap}");

    // File serving still works and the master still offers: a new task runs to its end.
    let (code, body) = http_get(
        &agent,
        &format!("/files/read?path={sandbox}/marker&offset=0"),
    )
    .unwrap();
    assert_eq!(code, 200, "{body}");
    launch(&mut s, "after", "echo after");
    s.wait_state("after", "TASK_FINISHED", T).unwrap();
}

// Finding 3 -----------------------------------------------------------------------------------

/// A task that ignores SIGTERM (so does its `sleep`: an ignored signal stays ignored across
/// `exec`) and asks for a grace period of `i64::MAX` ns; it writes its pid to `pidfile`.
fn stubborn_task(id: &str, pidfile: &std::path::Path) -> Value {
    let mut t = task(
        id,
        "",
        &format!(
            "trap '' TERM; echo $$ > {}; exec sleep 1000",
            pidfile.display()
        ),
        0.1,
        32.0,
    );
    t["kill_policy"] = json!({"grace_period": {"nanoseconds": i64::MAX}});
    t
}

#[test]
fn an_endless_kill_grace_period_is_capped_and_ends_in_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    // The agents of `Cluster` have --executor_shutdown_grace_period=2secs.
    let c = Cluster::start(master_config(), &[RES]);
    let mut s = c.subscribe(framework("stubborn"));
    s.set_auto_ack(true);

    let pidfile = dir.path().join("killed.pid");
    launch_task(&mut s, stubborn_task("killed", &pidfile));
    s.wait_state("killed", "TASK_RUNNING", T).unwrap();
    let pid = read_pid(&pidfile);
    let (code, body) = s.kill("killed").unwrap();
    assert_eq!(code, 202, "{body}");
    let status = s.wait_state("killed", "TASK_KILLED", T).unwrap();
    assert_eq!(
        status["message"], "Command terminated with signal Killed",
        "{status}"
    );
    assert!(!alive(pid));

    // Torn down while its task ignores SIGTERM: the task still ends, by SIGKILL.
    let pidfile = dir.path().join("torn.pid");
    launch_task(&mut s, stubborn_task("torn", &pidfile));
    s.wait_state("torn", "TASK_RUNNING", T).unwrap();
    let pid = read_pid(&pidfile);
    let (code, body) = s.teardown().unwrap();
    assert_eq!(code, 202, "{body}");
    eventually("the torn-down task's process to end", || !alive(pid));
}

#[test]
fn an_agent_exits_on_sigterm_although_its_task_ignores_sigterm_forever() {
    let dir = tempfile::tempdir().unwrap();
    let c = Cluster::start(master_config(), &[]);
    let port = meseta_tests::daemons::free_port().unwrap();
    let mut agent = meseta_tests::daemons::AgentProcess::start(
        &c.addr,
        port,
        &dir.path().join("agent"),
        RES,
        &["--executor_shutdown_grace_period=1secs"],
    )
    .unwrap();
    let mut s = c.subscribe(framework("stubborn"));
    s.set_auto_ack(true);
    let pidfile = dir.path().join("task.pid");
    launch_task(&mut s, stubborn_task("stubborn", &pidfile));
    s.wait_state("stubborn", "TASK_RUNNING", T).unwrap();
    let pid = read_pid(&pidfile);

    // `terminate` waits up to 10 s: the agent must not wait on its task's SIGTERM forever.
    let exit = agent.terminate();
    assert!(
        exit.is_some(),
        "the agent did not exit on SIGTERM\n{}",
        agent.output()
    );
    eventually("the task's process to end", || !alive(pid));
}

// Finding 2 -----------------------------------------------------------------------------------

/// A shell command that starts a process in a session of its own (`setsid`, so it leaves the
/// task's session and process group), which writes its pid to `pidfile` and sleeps; the
/// command then goes on with `rest`.
fn escaping(pidfile: &std::path::Path, rest: &str) -> String {
    let p = pidfile.display();
    format!(
        "setsid sh -c 'echo $$ > {p}.tmp && mv {p}.tmp {p}; exec sleep 1000' & \
         while [ ! -s {p} ]; do sleep 0.05; done; {rest}"
    )
}

/// Whether `pid` leads a session of its own.
fn own_session(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    // state ppid pgrp session ...
    fields[3] == pid.to_string()
}

#[test]
fn processes_that_leave_the_session_end_with_their_container() {
    let dir = tempfile::tempdir().unwrap();
    let c = Cluster::start(master_config(), &[RES]);
    let mut s = c.subscribe(framework("escapes"));
    s.set_auto_ack(true);

    // The task finishes while the process it started in its own session still runs.
    let pidfile = dir.path().join("finished.pid");
    launch(&mut s, "finishes", &escaping(&pidfile, "exit 0"));
    s.wait_state("finishes", "TASK_FINISHED", T).unwrap();
    let escaped = read_pid(&pidfile);
    eventually("the escaped process of a finished task to end", || {
        !alive(escaped)
    });

    // The framework is torn down while its task and the escaped process run.
    let pidfile = dir.path().join("torn.pid");
    launch(&mut s, "runs", &escaping(&pidfile, "exec sleep 1000"));
    s.wait_state("runs", "TASK_RUNNING", T).unwrap();
    let escaped = read_pid(&pidfile);
    assert!(alive(escaped) && own_session(escaped), "not escaped");
    if std::path::Path::new("/sys/fs/cgroup/freezer/cgroup.procs").exists() {
        let cgroups = std::fs::read_to_string(format!("/proc/{escaped}/cgroup")).unwrap();
        assert!(
            cgroups.lines().any(|l| l.contains(":freezer:/meseta/")),
            "not in a container freezer cgroup: {cgroups}"
        );
    }
    let (code, body) = s.teardown().unwrap();
    assert_eq!(code, 202, "{body}");
    eventually(
        "the escaped process of a torn-down framework to end",
        || !alive(escaped),
    );
}

// Finding 6 -----------------------------------------------------------------------------------

const MB: u64 = 1 << 20;

/// 50 MB on stdout, then a last line; a line on stderr.
const FLOOD: &str = "head -c 52428800 /dev/zero | tr '\\0' a; echo; echo the-last-line; \
                     echo on-stderr >&2";

#[test]
fn a_task_flooding_stdout_leaves_rotated_files_of_bounded_size() {
    let mut c = Cluster::start(master_config(), &[]);
    let rotation = Rotation {
        max_size: MB,
        keep: 3,
    };
    c.add_agent_with(RES, |config| {
        config.container_logger = ContainerLogger::Logrotate {
            stdout: rotation,
            stderr: rotation,
        };
    });
    let mut s = c.subscribe(framework("flood"));
    s.set_auto_ack(true);
    let fid = s.framework_id().to_string();
    let agent_id = launch(&mut s, "flood", FLOOD);
    s.wait_state("flood", "TASK_FINISHED", T).unwrap();

    // on disk: stdout and stdout.1..3, each at most 1 MB, the newest output in stdout
    let sandbox = c.dirs[0].path().join(format!(
        "slaves/{agent_id}/frameworks/{fid}/executors/flood/runs/latest"
    ));
    assert_rotated(&sandbox, "stdout", MB, 3, "\nthe-last-line\n");
    let total: u64 = log_files(&sandbox, "stdout").iter().map(|(_, s)| s).sum();
    assert!(total <= 4 * MB, "{total} bytes of stdout kept");
    assert_eq!(
        log_files(&sandbox, "stderr"),
        vec![("stderr".to_string(), 10)]
    );
    assert_eq!(
        std::fs::read_to_string(sandbox.join("stderr")).unwrap(),
        "on-stderr\n"
    );

    // the sandbox browser and file reader show the same
    let agent = agent_url(&c);
    let path = format!("/frameworks/{fid}/executors/flood/runs/latest");
    let (code, body) = http_get(&agent, &format!("/files/browse?path={path}")).unwrap();
    assert_eq!(code, 200, "{body}");
    let listing: Value = serde_json::from_str(&body).unwrap();
    let mut names: Vec<String> = listing
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["path"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string()
        })
        .filter(|n| n.starts_with("std"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["stderr", "stdout", "stdout.1", "stdout.2", "stdout.3"]
    );
    let (code, body) =
        http_get(&agent, &format!("/files/read?path={path}/stdout&offset=0")).unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("the-last-line"), "{body}");
}

#[test]
fn the_sandbox_logger_leaves_one_unrotated_file() {
    let mut c = Cluster::start(master_config(), &[]);
    c.add_agent_with(RES, |config| {
        config.container_logger = ContainerLogger::Sandbox;
    });
    let mut s = c.subscribe(framework("sandbox-logger"));
    s.set_auto_ack(true);
    let fid = s.framework_id().to_string();
    let agent_id = launch(&mut s, "big", "head -c 3000000 /dev/zero; echo end");
    s.wait_state("big", "TASK_FINISHED", T).unwrap();
    let sandbox = c.dirs[0].path().join(format!(
        "slaves/{agent_id}/frameworks/{fid}/executors/big/runs/latest"
    ));
    assert_eq!(
        log_files(&sandbox, "stdout"),
        vec![("stdout".to_string(), 3_000_004)]
    );
}
