#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Guest logs reach `tracing` under the module's name. (Alone in its test binary: tracing caches
//! per-callsite interest process-wide, so a capture must not race other tests' threads.)

use std::io::Write;
use std::sync::{Arc, Mutex};

use meseta_hooks::WasmMasterHooks;
use meseta_runtime::Settings;
use meseta_tests::load;
use meseta_types::hooks::{AgentInfo, FrameworkInfo, TaskInfo};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn captured(f: impl FnOnce()) -> String {
    let buffer = Buffer::default();
    let out = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || out.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
}

#[test]
fn guest_log_lines_and_stderr_are_re_emitted_under_the_module_name() {
    let logs = captured(|| {
        let module = load("hook-labels", &[("team", "platform")], Settings::default()).unwrap();
        WasmMasterHooks::new(module).unwrap();
    });
    assert!(logs.contains("module=test_hook_labels"), "{logs}");
    assert!(logs.contains("initialized with 1 parameters"), "{logs}");

    let logs = captured(|| {
        let module = load(
            "test-hooks-adversary",
            &[("mode", "panic")],
            Settings::default(),
        )
        .unwrap();
        let hooks = WasmMasterHooks::new(module).unwrap();
        let task = TaskInfo {
            name: "trigger".into(),
            ..Default::default()
        };
        hooks
            .launch_task_label_decorator(&task, &FrameworkInfo::default(), &AgentInfo::default())
            .unwrap_err();
    });
    let line = logs
        .lines()
        .find(|l| l.contains("adversary panicked on purpose") && l.contains("stream=\"stderr\""))
        .unwrap_or_else(|| panic!("no stderr line re-emitted: {logs}"));
    assert!(line.contains("module=test_test_hooks_adversary"), "{line}");
}
