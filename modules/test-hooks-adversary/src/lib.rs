//! `test-hooks-adversary`: a master-hooks test guest that misbehaves on request. Not shipped; the
//! host's sandbox tests load it.
//!
//! Parameter `mode` (default `ok`) chooses what `launch_task_label_decorator` does when the task
//! is named `trigger`; for any other task it behaves (returns `adversary=ok`), so tests can show
//! that the call after a fault succeeds on a fresh instance:
//!
//! | mode | behaviour |
//! |---|---|
//! | `ok` | returns the label `adversary=ok` |
//! | `loop` | spins forever (the deadline must stop it) |
//! | `memory-bomb` | allocates and touches 16 MiB chunks until allocation fails (traps) |
//! | `panic` | panics with "adversary panicked on purpose" (also in `agent_lost`) |
//! | `read-file` | reads parameter `path`; returns its first line as label `content`, or `Err("read <path>: <error>")` |
//! | `read-env` | reads the variable named by parameter `var`; returns it as label `<var>=<value>`, or `Err("env <var>: <error>")`; also an error if the environment is not empty |
//! | `write-file` | writes `x` to parameter `path`; `Ok(None)` or `Err("write <path>: <error>")` |
//! | `bad-init` | `init` fails with "bad-init: parameter mode asks to fail" |
//!
//! An unknown mode fails `init`.

use meseta_types::hooks::{AgentView, Decision, Edit, FrameworkView, MasterHooks, TaskView};
use meseta_types::resources::Label;
use meseta_types::{Create, Parameters, parameter};

const MODES: &str = "ok, loop, memory-bomb, panic, read-file, read-env, write-file, bad-init";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    Ok,
    Loop,
    MemoryBomb,
    Panic,
    ReadFile { path: String },
    ReadEnv { var: String },
    WriteFile { path: String },
}

/// The adversarial hook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdversaryHook {
    pub mode: Mode,
}

fn required(parameters: &Parameters, mode: &str, key: &str) -> Result<String, String> {
    parameter(parameters, key)
        .map(str::to_string)
        .ok_or_else(|| format!("mode '{mode}' needs parameter '{key}'"))
}

impl Create for AdversaryHook {
    fn create(parameters: &Parameters) -> Result<Self, String> {
        let mode = match parameter(parameters, "mode").unwrap_or("ok") {
            "ok" => Mode::Ok,
            "loop" => Mode::Loop,
            "memory-bomb" => Mode::MemoryBomb,
            "panic" => Mode::Panic,
            "read-file" => Mode::ReadFile {
                path: required(parameters, "read-file", "path")?,
            },
            "read-env" => Mode::ReadEnv {
                var: required(parameters, "read-env", "var")?,
            },
            "write-file" => Mode::WriteFile {
                path: required(parameters, "write-file", "path")?,
            },
            "bad-init" => return Err("bad-init: parameter mode asks to fail".into()),
            other => return Err(format!("unknown mode '{other}' (expected one of {MODES})")),
        };
        Ok(AdversaryHook { mode })
    }
}

/// The task's labels replaced by `key=value`.
fn label(key: &str, value: &str) -> Edit<Label> {
    Edit::Replace(vec![Label {
        key: key.to_string(),
        value: Some(value.to_string()),
    }])
}

#[allow(clippy::panic)] // panicking is this guest's job
fn panic_on_purpose() -> ! {
    panic!("adversary panicked on purpose")
}

fn read_env(var: &str) -> Decision<Edit<Label>> {
    let present: Vec<String> = std::env::vars_os()
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .collect();
    let value = std::env::var(var);
    if !present.is_empty() {
        return Err(format!(
            "env {var}: environment is not empty: {}",
            present.join(", ")
        ));
    }
    match value {
        Ok(value) => Ok(Some(label(var, &value))),
        Err(e) => Err(format!("env {var}: {e}")),
    }
}

impl MasterHooks for AdversaryHook {
    fn launch_task_label_decorator(
        &mut self,
        task: &dyn TaskView,
        _framework: &dyn FrameworkView,
        _agent: &dyn AgentView,
    ) -> Decision<Edit<Label>> {
        if task.name() != "trigger" {
            return Ok(Some(label("adversary", "ok")));
        }
        match &self.mode {
            Mode::Ok => Ok(Some(label("adversary", "ok"))),
            Mode::Loop => meseta_adversary::spin(),
            Mode::MemoryBomb => meseta_adversary::memory_bomb(),
            Mode::Panic => panic_on_purpose(),
            Mode::ReadFile { path } => match std::fs::read_to_string(path) {
                Ok(text) => Ok(Some(label("content", text.lines().next().unwrap_or("")))),
                Err(e) => Err(format!("read {path}: {e}")),
            },
            Mode::ReadEnv { var } => read_env(var),
            Mode::WriteFile { path } => match std::fs::write(path, "x") {
                Ok(()) => Ok(None),
                Err(e) => Err(format!("write {path}: {e}")),
            },
        }
    }

    fn agent_lost(&mut self, _agent: &dyn AgentView) -> Result<(), String> {
        if self.mode == Mode::Panic {
            panic_on_purpose();
        }
        Ok(())
    }
}

#[cfg(target_arch = "wasm32")]
meseta_sdk::export_master_hooks_v1!(AdversaryHook);

#[cfg(test)]
mod tests {
    use super::*;
    use meseta_types::hooks::{AgentInfo, FrameworkInfo, TaskInfo};

    fn create(kv: &[(&str, &str)]) -> Result<AdversaryHook, String> {
        let p: Vec<(String, String)> = kv
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        AdversaryHook::create(&p)
    }

    fn decorate(hook: &mut AdversaryHook) -> Decision<Edit<Label>> {
        let trigger = TaskInfo {
            name: "trigger".into(),
            ..TaskInfo::default()
        };
        hook.launch_task_label_decorator(&trigger, &FrameworkInfo::default(), &AgentInfo::default())
    }

    #[test]
    fn modes_parse_and_fail_as_documented() {
        assert_eq!(create(&[]).unwrap().mode, Mode::Ok);
        assert_eq!(
            create(&[("mode", "bad-init")]).unwrap_err(),
            "bad-init: parameter mode asks to fail"
        );
        assert!(
            create(&[("mode", "nope")])
                .unwrap_err()
                .contains("unknown mode 'nope'")
        );
        assert!(
            create(&[("mode", "read-file")])
                .unwrap_err()
                .contains("'path'")
        );
        let mut ok = create(&[("mode", "ok")]).unwrap();
        assert_eq!(decorate(&mut ok), Ok(Some(label("adversary", "ok"))));
        let mut panicky = create(&[("mode", "panic")]).unwrap();
        let other = TaskInfo::default();
        let (f, a) = (FrameworkInfo::default(), AgentInfo::default());
        assert_eq!(
            panicky.launch_task_label_decorator(&other, &f, &a),
            Ok(Some(label("adversary", "ok"))),
            "only a task named 'trigger' makes it misbehave"
        );
        assert_eq!(ok.agent_lost(&AgentInfo::default()), Ok(()));
    }

    #[test]
    fn file_modes_report_errors_with_the_path() {
        let dir = std::env::temp_dir().join(format!("adversary-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("f.txt");
        let path = file.to_string_lossy().into_owned();
        let mut write = create(&[("mode", "write-file"), ("path", &path)]).unwrap();
        assert_eq!(decorate(&mut write), Ok(None));
        let mut read = create(&[("mode", "read-file"), ("path", &path)]).unwrap();
        assert_eq!(decorate(&mut read), Ok(Some(label("content", "x"))));
        let missing = dir.join("missing").to_string_lossy().into_owned();
        let mut read = create(&[("mode", "read-file"), ("path", &missing)]).unwrap();
        assert!(
            decorate(&mut read)
                .unwrap_err()
                .starts_with(&format!("read {missing}: "))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    #[should_panic(expected = "adversary panicked on purpose")]
    fn panic_mode_panics() {
        let mut hook = create(&[("mode", "panic")]).unwrap();
        let _ = decorate(&mut hook);
    }

    #[test]
    fn read_env_fails_when_the_environment_is_not_empty() {
        // a native test process always has an environment
        let mut hook = create(&[("mode", "read-env"), ("var", "PATH")]).unwrap();
        let err = decorate(&mut hook).unwrap_err();
        assert!(
            err.starts_with("env PATH: environment is not empty: "),
            "{err}"
        );
    }
}
