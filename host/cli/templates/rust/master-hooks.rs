//! A master hook module: adds its manifest parameters to every launched task as labels.
//!
//! The policy is plain Rust against `meseta-types`' `MasterHooks` trait, tested natively by
//! `cargo test`; `cargo build --release --target wasm32-wasip2` exports it as a component of the
//! `master-hooks` world (`meseta module wit --kind master-hooks` prints it).

use meseta_types::hooks::{AgentView, Decision, Edit, FrameworkView, MasterHooks, TaskView};
use meseta_types::resources::Label;
use meseta_types::{Create, Parameters};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Policy {
    /// One label per distinct key, in first-seen order, the last value winning.
    labels: Vec<Label>,
}

impl Create for Policy {
    /// Called with the manifest's parameters; an error stops the daemon's start, saying why.
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
        Ok(Policy { labels })
    }
}

impl MasterHooks for Policy {
    fn launch_task_label_decorator(
        &mut self,
        _task: &dyn TaskView,
        _framework: &dyn FrameworkView,
        _agent: &dyn AgentView,
    ) -> Decision<Edit<Label>> {
        if self.labels.is_empty() {
            return Ok(None);
        }
        // `Set`: only these labels cross the boundary; the host merges them by key
        Ok(Some(Edit::Set(self.labels.clone())))
    }
}

#[cfg(target_arch = "wasm32")]
meseta_sdk::export_master_hooks!(Policy);

#[cfg(test)]
mod tests {
    use super::*;
    use meseta_types::hooks::{AgentInfo, FrameworkInfo, TaskInfo};

    #[test]
    fn labels_every_task_with_the_parameters() {
        let params = vec![("team".to_string(), "platform".to_string())];
        let mut hook = Policy::create(&params).unwrap();
        let task = TaskInfo::default();
        let edit = hook
            .launch_task_label_decorator(&task, &FrameworkInfo::default(), &AgentInfo::default())
            .unwrap()
            .unwrap();
        let labels = edit.apply(&task.labels);
        assert_eq!(labels.len(), 1);
        assert_eq!(labels[0].key, "team");
        assert_eq!(labels[0].value.as_deref(), Some("platform"));
    }

    #[test]
    fn an_empty_key_is_refused() {
        assert!(Policy::create(&vec![(String::new(), "x".to_string())]).is_err());
    }
}
