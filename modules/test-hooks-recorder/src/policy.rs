//! The recorder's policy, shared by `test-hooks-recorder` (the `agent-hooks` world of
//! `meseta:hooks@0.2.0`) and `test-hooks-recorder-v1` (the same policy as a version 1 module).

use std::io::Write as _;

use std::borrow::Cow;

use meseta_types::hooks::{AgentHooks, AgentView, Decision, Edit, ExecutorView, FrameworkView};
use meseta_types::hooks::{StatusView, TaskStatus, TaskView};
use meseta_types::resources::{Attribute, AttributeValue, Label, Resource};
use meseta_types::{Create, Parameters, parameter};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    Trap,
    Loop,
}

/// The recorder.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecorderHook {
    pub run_task_label: Option<Label>,
    pub status_label: Option<Label>,
    pub attribute: Option<Attribute>,
    pub resource: Option<Resource>,
    pub log: Option<String>,
    pub fault: Option<Fault>,
}

fn split<'a>(
    parameters: &'a Parameters,
    key: &str,
    sep: char,
) -> Result<Option<(&'a str, &'a str)>, String> {
    match parameter(parameters, key) {
        None => Ok(None),
        Some(v) => match v.split_once(sep) {
            Some((a, b)) if !a.is_empty() => Ok(Some((a, b))),
            _ => Err(format!(
                "parameter '{key}' must be 'name{sep}value', not '{v}'"
            )),
        },
    }
}

fn label((k, v): (&str, &str)) -> Label {
    Label {
        key: k.to_string(),
        value: Some(v.to_string()),
    }
}

impl Create for RecorderHook {
    fn create(parameters: &Parameters) -> Result<Self, String> {
        let resource = match split(parameters, "resource", ':')? {
            None => None,
            Some((name, amount)) => {
                let amount: f64 = amount
                    .parse()
                    .map_err(|_| format!("parameter 'resource': '{amount}' is not a number"))?;
                Some(Resource::scalar(name, amount))
            }
        };
        let fault = match parameter(parameters, "fault") {
            None => None,
            Some("trap") => Some(Fault::Trap),
            Some("loop") => Some(Fault::Loop),
            Some(other) => return Err(format!("unknown fault '{other}' (expected trap or loop)")),
        };
        Ok(RecorderHook {
            run_task_label: split(parameters, "run_task_label", '=')?.map(label),
            status_label: split(parameters, "status_label", '=')?.map(label),
            attribute: split(parameters, "attribute", ':')?.map(|(n, v)| Attribute {
                name: n.to_string(),
                value: AttributeValue::Text(v.to_string()),
            }),
            resource,
            log: parameter(parameters, "log").map(str::to_string),
            fault,
        })
    }
}

/// Spins until the host interrupts it.
fn spin() -> ! {
    let mut counter = 0u64;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

#[allow(clippy::panic)] // trapping is this guest's job
fn trap() -> ! {
    panic!("recorder trapped on purpose")
}

impl RecorderHook {
    fn record(&self, line: &str) -> Result<(), String> {
        let Some(path) = &self.log else {
            return Ok(());
        };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("open {path}: {e}"))?;
        writeln!(file, "{line}").map_err(|e| format!("write {path}: {e}"))
    }
}

fn appended<T: Clone>(list: &[T], extra: &Option<T>) -> Option<Vec<T>> {
    extra.as_ref().map(|x| {
        let mut out = list.to_vec();
        out.push(x.clone());
        out
    })
}

impl AgentHooks for RecorderHook {
    fn run_task_label_decorator(
        &mut self,
        task: &dyn TaskView,
        _executor: &dyn ExecutorView,
        _framework: &dyn FrameworkView,
        _agent: &dyn AgentView,
    ) -> Decision<Edit<Label>> {
        // reads the labels and returns them all (`set` would not need to; the tests cover both)
        Ok(appended(&task.labels(), &self.run_task_label).map(Edit::Replace))
    }

    fn task_status_decorator(
        &mut self,
        _framework_id: &str,
        status: &dyn StatusView,
    ) -> Decision<TaskStatus> {
        if status.task_id() == "trigger" {
            match self.fault {
                Some(Fault::Trap) => trap(),
                Some(Fault::Loop) => spin(),
                None => {}
            }
        }
        Ok(
            // only the labels and the container status of a decorated status are used
            appended(&status.labels(), &self.status_label).map(|labels| TaskStatus {
                labels,
                container_status: status.container_status().map(Cow::into_owned),
                ..TaskStatus::default()
            }),
        )
    }

    fn resources_decorator(&mut self, agent: &dyn AgentView) -> Decision<Vec<Resource>> {
        Ok(appended(&agent.resources(), &self.resource))
    }

    fn attributes_decorator(&mut self, agent: &dyn AgentView) -> Decision<Vec<Attribute>> {
        Ok(appended(&agent.attributes(), &self.attribute))
    }

    fn remove_executor(
        &mut self,
        framework: &dyn FrameworkView,
        executor: &dyn ExecutorView,
    ) -> Result<(), String> {
        self.record(&format!(
            "remove-executor {} {}",
            framework.framework_id(),
            executor.executor_id()
        ))
    }

    fn post_fetch(&mut self, container_id: &str, directory: &str) -> Result<(), String> {
        self.record(&format!("post-fetch {container_id} {directory}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meseta_types::hooks::{AgentInfo, ExecutorInfo, FrameworkInfo, TaskInfo};

    fn create(kv: &[(&str, &str)]) -> Result<RecorderHook, String> {
        let p: Vec<(String, String)> = kv
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        RecorderHook::create(&p)
    }

    #[test]
    fn decorates_from_parameters_and_keeps_without() {
        let mut keep = create(&[]).unwrap();
        let agent = AgentInfo::default();
        assert_eq!(keep.attributes_decorator(&agent), Ok(None));
        assert_eq!(keep.resources_decorator(&agent), Ok(None));
        assert_eq!(
            keep.task_status_decorator("f", &TaskStatus::default()),
            Ok(None)
        );
        let mut hook = create(&[
            ("attribute", "rack:r9"),
            ("resource", "gpus:2"),
            ("status_label", "checked=yes"),
            ("run_task_label", "agent=seen"),
        ])
        .unwrap();
        assert_eq!(
            hook.attributes_decorator(&agent).unwrap().unwrap(),
            vec![Attribute {
                name: "rack".into(),
                value: AttributeValue::Text("r9".into())
            }]
        );
        assert_eq!(
            hook.resources_decorator(&agent).unwrap().unwrap(),
            vec![Resource::scalar("gpus", 2.0)]
        );
        let status = hook
            .task_status_decorator("f", &TaskStatus::default())
            .unwrap()
            .unwrap();
        assert_eq!(status.labels, vec![label(("checked", "yes"))]);
        let labels = hook
            .run_task_label_decorator(
                &TaskInfo::default(),
                &ExecutorInfo::default(),
                &FrameworkInfo::default(),
                &agent,
            )
            .unwrap()
            .unwrap();
        assert_eq!(labels, Edit::Replace(vec![label(("agent", "seen"))]));
    }

    #[test]
    fn bad_parameters_fail_init() {
        assert!(create(&[("resource", "gpus:x")]).is_err());
        assert!(create(&[("attribute", "norack")]).is_err());
        assert!(create(&[("fault", "nope")]).is_err());
    }

    #[test]
    fn records_notifications() {
        let dir = std::env::temp_dir().join(format!("recorder-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("events");
        let mut hook = create(&[("log", log.to_str().unwrap())]).unwrap();
        hook.post_fetch("c1", "/sandbox").unwrap();
        let framework = FrameworkInfo {
            framework_id: "f1".into(),
            ..Default::default()
        };
        let executor = ExecutorInfo {
            executor_id: "e1".into(),
            ..Default::default()
        };
        hook.remove_executor(&framework, &executor).unwrap();
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "post-fetch c1 /sandbox\nremove-executor f1 e1\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
