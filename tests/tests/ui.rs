#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The master's web UI in a real browser (headless Chromium over WebDriver, installed on first
//! use): one browser session goes through every page of a `meseta local` with a framework and
//! its tasks. The tasks page shows a running task, then its TASK_KILLED without a reload; the
//! task's sandbox lists and opens the file the task wrote (read from the agent's `/files`
//! across origins); the modules page shows the allocator's calls; and the page logs no error.
//!
//! A PNG of each page goes to `target/ui-screenshots/`, and also to `$MESETA_UI_SCREENSHOTS`
//! when set (`MESETA_UI_SCREENSHOTS=docs/ui` refreshes the README's).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use meseta_tests::browser::Browser;
use meseta_tests::daemons::{Local, http_get, http_request, workspace_root};
use meseta_tests::scheduler::{Scheduler, offer_ids, task};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

/// Where the screenshots go: `target/ui-screenshots`, and `$MESETA_UI_SCREENSHOTS` (relative
/// to the workspace root) when set.
fn screenshot_dirs() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut dirs = vec![root.join("target/ui-screenshots")];
    if let Some(dir) = std::env::var_os("MESETA_UI_SCREENSHOTS").filter(|d| !d.is_empty()) {
        dirs.push(root.join(dir));
    }
    dirs
}

fn shoot(browser: &Browser, name: &str) {
    for dir in screenshot_dirs() {
        browser
            .screenshot(&dir.join(format!("{name}.png")))
            .unwrap();
    }
}

/// Opens `#/<route>` in the page already loaded (a fragment change: no reload).
fn open(browser: &Browser, route: &str) {
    browser
        .execute("location.hash = arguments[0]; return true", &[json!(route)])
        .unwrap();
}

/// The text of the first element matching `selector`, or null.
const TEXT_OF: &str =
    "const e = document.querySelector(arguments[0]); return e ? e.textContent : null";

fn wait_text(browser: &Browser, selector: &str, wanted: &str) {
    browser
        .wait_for(
            &format!("'{wanted}' in {selector}"),
            "const e = document.querySelector(arguments[0]); \
             return !!e && e.textContent.includes(arguments[1])",
            &[json!(selector), json!(wanted)],
            WAIT,
        )
        .unwrap();
}

/// The agent's URL, from the `Agent: <url>` line `meseta local` prints.
fn agent_url(local: &Local) -> String {
    local
        .output()
        .lines()
        .find_map(|l| l.split("Agent: ").nth(1))
        .map(|u| u.trim().to_string())
        .expect("meseta local printed no Agent: line")
}

#[test]
fn the_web_ui_shows_the_cluster_live() {
    let started = Instant::now();
    let local = Local::start_with(&["--weights", "web=2"]).unwrap();
    let address = local.url.trim_start_matches("http://").to_string();
    let mut s = Scheduler::subscribe(
        &address,
        json!({"name": "ui-test", "user": "root", "roles": ["web"]}),
    )
    .unwrap();
    s.set_auto_ack(true);
    let offers = s.wait_offers(WAIT).unwrap();
    let agent = offers[0]["agent_id"]["value"].as_str().unwrap().to_string();
    let tasks = json!([
        task(
            "ui-task",
            &agent,
            "echo 'hello from the ui test' > greeting.txt; exec sleep 600",
            0.5,
            64.0
        ),
        task("ui-done", &agent, "echo done", 0.1, 16.0),
    ]);
    let (status, body) = s.accept(&offer_ids(&offers[..1]), tasks, 0.0).unwrap();
    assert_eq!(status, 202, "{body}");
    s.wait_state("ui-done", "TASK_FINISHED", WAIT).unwrap();
    // The task's file is in its sandbox before the browser looks (no fixed sleep: polled).
    let sandbox = format!(
        "/frameworks/{}/executors/ui-task/runs/latest",
        s.framework_id()
    );
    let agent_base = agent_url(&local);
    let deadline = Instant::now() + WAIT;
    loop {
        let (code, text) = http_get(
            &agent_base,
            &format!("/files/read?path={sandbox}/greeting.txt&offset=0"),
        )
        .unwrap();
        if code == 200 && text.contains("hello") {
            break;
        }
        assert!(Instant::now() < deadline, "the task wrote no greeting.txt");
        std::thread::sleep(Duration::from_millis(50));
    }
    let cluster_ready = started.elapsed();

    let browser = Browser::start().unwrap();
    let browser_ready = started.elapsed();
    browser.goto(&format!("{}/#/tasks", local.url)).unwrap();
    // The task launched above shows as running.
    wait_text(&browser, "tr[data-task=\"ui-task\"] .state", "TASK_RUNNING");
    wait_text(
        &browser,
        "tr[data-task=\"ui-done\"] .state",
        "TASK_FINISHED",
    );
    wait_text(&browser, "#status", "live");
    shoot(&browser, "tasks");

    // Overview, agents, frameworks, roles.
    open(&browser, "#/");
    wait_text(&browser, "#agents-count .n", "1");
    wait_text(&browser, "#leader", &address.replace("127.0.0.1", ""));
    shoot(&browser, "overview");
    open(&browser, "#/agents");
    wait_text(&browser, "tr[data-agent] td", "127.0.0.1");
    open(&browser, "#/frameworks");
    wait_text(&browser, "tr[data-framework]", "ui-test");
    shoot(&browser, "frameworks");
    open(&browser, &format!("#/frameworks/{}", s.framework_id()));
    wait_text(&browser, "tr[data-task=\"ui-task\"] .state", "TASK_RUNNING");
    // An operator reserves for `web` and creates a volume: the agents page, the agent's page
    // and the roles page show them (from `/master/slaves` and `/master/roles`).
    let reserved = |name: &str, value: f64| {
        json!({"name": name, "type": "SCALAR", "scalar": {"value": value},
               "reservations": [{"type": "DYNAMIC", "role": "web", "principal": "ops"}]})
    };
    let mut volume = reserved("disk", 32.0);
    volume["disk"] = json!({"persistence": {"id": "ui-vol", "principal": "ops"},
                            "volume": {"container_path": "data", "mode": "RW"}});
    for (path, field, value) in [
        (
            "/master/reserve",
            "resources",
            json!([reserved("cpus", 0.25), reserved("disk", 32.0)]),
        ),
        ("/master/create-volumes", "volumes", json!([volume])),
    ] {
        let form = format!("slaveId={agent}&{field}={value}");
        let headers = [("Content-Type", "application/x-www-form-urlencoded")];
        let (code, _, body) = http_request(&local.url, "POST", path, &headers, &form).unwrap();
        assert_eq!(code, 202, "{path}: {body}");
    }
    open(&browser, "#/agents");
    wait_text(&browser, "tr[data-agent] .agent-state", "active");
    wait_text(&browser, "tr[data-agent] .reserved", "web: cpus: 0.25");
    shoot(&browser, "agents");
    open(&browser, &format!("#/agents/{agent}"));
    wait_text(&browser, "#reservations", "DYNAMIC web by ops");
    wait_text(
        &browser,
        "tr[data-volume=\"ui-vol\"] .volume",
        "ui-vol at data (RW)",
    );
    shoot(&browser, "agent");
    open(&browser, "#/roles");
    wait_text(&browser, "tr[data-role=\"web\"]", "2");
    wait_text(&browser, "tr[data-role=\"web\"] .reserved", "cpus: 0.25");
    shoot(&browser, "roles");

    // The allocator module's counters.
    open(&browser, "#/modules");
    browser
        .wait_for(
            "the allocator module's calls",
            "const e = document.querySelector('tr[data-module=\"allocator-drf\"] .calls'); \
             return !!e && Number(e.textContent.replace(/,/g, '')) > 0",
            &[],
            WAIT,
        )
        .unwrap();
    shoot(&browser, "modules");

    // The sandbox, through the link on the tasks page, and the file the task wrote.
    open(&browser, "#/tasks");
    let link = browser
        .wait_for(
            "the task's sandbox link",
            "const a = document.querySelector('tr[data-task=\"ui-task\"] a.sandbox'); \
             return a ? a.getAttribute('href') : null",
            &[],
            WAIT,
        )
        .unwrap();
    open(&browser, link.as_str().unwrap());
    wait_text(&browser, "tr[data-file=\"greeting.txt\"]", "greeting.txt");
    shoot(&browser, "sandbox");
    browser
        .execute(
            "document.querySelector('tr[data-file=\"greeting.txt\"] a.view').click(); return true",
            &[],
        )
        .unwrap();
    wait_text(&browser, "#file-content", "hello from the ui test");
    shoot(&browser, "file");

    // A state change arrives on the open page without a reload.
    open(&browser, "#/tasks");
    wait_text(&browser, "tr[data-task=\"ui-task\"] .state", "TASK_RUNNING");
    browser
        .execute("window.stillTheSamePage = true; return true", &[])
        .unwrap();
    let (status, body) = s.kill("ui-task").unwrap();
    assert_eq!(status, 202, "{body}");
    wait_text(&browser, "tr[data-task=\"ui-task\"] .state", "TASK_KILLED");
    let same = browser
        .execute("return window.stillTheSamePage === true", &[])
        .unwrap();
    assert_eq!(same, json!(true), "the page was reloaded");
    wait_text(&browser, "#completed-tasks", "ui-task");
    let reason = browser
        .execute(TEXT_OF, &[json!("tr[data-task=\"ui-task\"] .reason")])
        .unwrap();
    assert!(
        !reason.as_str().unwrap_or_default().trim().is_empty(),
        "no reason or message shown for the killed task"
    );
    shoot(&browser, "tasks-completed");

    // An operator deactivates the agent (maintenance): the agents page says so.
    let operator = |kind: &str| {
        let call = json!({"type": kind, kind.to_lowercase(): {"agent_id": {"value": agent}}});
        let headers = [("Content-Type", "application/json")];
        let (code, _, body) =
            http_request(&local.url, "POST", "/api/v1", &headers, &call.to_string()).unwrap();
        assert_eq!(code, 200, "{kind}: {body}");
    };
    operator("DEACTIVATE_AGENT");
    open(&browser, "#/agents");
    wait_text(&browser, "tr[data-agent] .agent-state", "deactivated");
    operator("REACTIVATE_AGENT");
    wait_text(&browser, "tr[data-agent] .agent-state", "active");

    // A sandbox on an agent the master does not know: a message, not a blank page.
    open(&browser, "#/sandbox/no-such-agent/f/e");
    wait_text(&browser, "main .error", "no-such-agent is not registered");

    // No errors in the console on any page.
    let console = browser.console().unwrap();
    let errors: Vec<&Value> = console.iter().filter(|e| e["level"] == "SEVERE").collect();
    assert!(errors.is_empty(), "the page logged errors: {errors:#?}");
    // (and the console is really read: an error logged now shows)
    browser
        .execute("console.error('ui-test-probe'); return true", &[])
        .unwrap();
    let probe = browser.console().unwrap();
    assert!(
        probe
            .iter()
            .any(|e| e["level"] == "SEVERE" && e["message"].to_string().contains("ui-test-probe")),
        "console.error did not show in the browser log: {probe:?}"
    );
    meseta_tests::prereqs::say(&format!(
        "ui test: cluster ready after {:.1} s, browser after {:.1} s, done after {:.1} s",
        cluster_ready.as_secs_f64(),
        browser_ready.as_secs_f64(),
        started.elapsed().as_secs_f64()
    ));
}
