//! `hook-labels`: a master hook that adds its manifest parameters to every launched task as
//! labels.
//!
//! Each parameter `{"key": k, "value": v}` becomes the label `k=v` in
//! `launch_task_label_decorator`, returned as [`Edit::Set`]: a parameter replaces a task label with
//! the same key, the other labels are kept in order, and the hook never reads them. With no parameters the hook keeps the labels unchanged. The other
//! hook points keep.
//!
//! The policy is plain Rust (`LabelsHook`), linked natively by the host as the native twin; for
//! `wasm32` the crate also exports it as a `master-hooks` component.

use meseta_types::hooks::{AgentView, Decision, Edit, FrameworkView, MasterHooks, TaskView};
use meseta_types::resources::Label;
use meseta_types::{Create, Parameters};

/// Adds the manifest's parameters to every task's labels.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LabelsHook {
    /// One label per distinct key, in first-appearance order, with the last value given.
    labels: Vec<Label>,
}

impl LabelsHook {
    /// The labels this hook adds.
    pub fn labels(&self) -> &[Label] {
        &self.labels
    }
}

impl Create for LabelsHook {
    fn create(parameters: &Parameters) -> Result<Self, String> {
        let mut labels: Vec<Label> = Vec::new();
        for (key, value) in parameters {
            if key.is_empty() {
                return Err("a parameter has an empty key; label keys must not be empty".into());
            }
            match labels.iter_mut().find(|l| &l.key == key) {
                Some(l) => l.value = Some(value.clone()),
                None => labels.push(Label {
                    key: key.clone(),
                    value: Some(value.clone()),
                }),
            }
        }
        Ok(LabelsHook { labels })
    }
}

impl MasterHooks for LabelsHook {
    fn launch_task_label_decorator(
        &mut self,
        _task: &dyn TaskView,
        _framework: &dyn FrameworkView,
        _agent: &dyn AgentView,
    ) -> Decision<Edit<Label>> {
        if self.labels.is_empty() {
            return Ok(None);
        }
        // only this hook's labels cross the boundary; the chain merges them by key
        Ok(Some(Edit::Set(self.labels.clone())))
    }
}

#[cfg(target_arch = "wasm32")]
meseta_sdk::export_master_hooks!(LabelsHook);

#[cfg(test)]
mod tests {
    use super::*;
    use meseta_types::hooks::{AgentInfo, FrameworkInfo, TaskInfo};

    fn params(kv: &[(&str, &str)]) -> Vec<(String, String)> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn label(k: &str, v: Option<&str>) -> Label {
        Label {
            key: k.into(),
            value: v.map(Into::into),
        }
    }

    #[test]
    fn adds_and_overrides_labels() {
        let mut hook = LabelsHook::create(&params(&[
            ("team", "infra"),
            ("env", "prod"),
            ("team", "db"),
        ]))
        .unwrap();
        assert_eq!(
            hook.labels(),
            &[label("team", Some("db")), label("env", Some("prod"))]
        );
        let task = TaskInfo {
            labels: vec![
                label("env", Some("dev")),
                label("app", None),
                label("env", Some("x")),
            ],
            ..Default::default()
        };
        let out = hook
            .launch_task_label_decorator(&task, &FrameworkInfo::default(), &AgentInfo::default())
            .unwrap()
            .unwrap()
            .apply(&task.labels);
        assert_eq!(
            out,
            vec![
                label("env", Some("prod")),
                label("app", None),
                label("team", Some("db"))
            ]
        );
    }

    #[test]
    fn keeps_without_parameters_and_at_other_points() {
        let mut hook = LabelsHook::create(&[]).unwrap();
        let task = TaskInfo {
            labels: vec![label("a", None)],
            ..Default::default()
        };
        assert_eq!(
            hook.launch_task_label_decorator(
                &task,
                &FrameworkInfo::default(),
                &AgentInfo::default()
            ),
            Ok(None)
        );
        let mut hook = LabelsHook::create(&params(&[("a", "1")])).unwrap();
        assert_eq!(hook.launch_task_resource_decorator(&task, &[]), Ok(None));
        assert_eq!(hook.agent_lost(&AgentInfo::default()), Ok(()));
    }

    #[test]
    fn rejects_empty_keys() {
        assert!(
            LabelsHook::create(&params(&[("", "x")]))
                .unwrap_err()
                .contains("empty key")
        );
    }
}
