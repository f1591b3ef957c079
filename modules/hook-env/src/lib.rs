//! `hook-env`: an agent hook that adds its manifest parameters to every executor's environment.
//!
//! Each parameter `{"key": k, "value": v}` becomes the variable `k=v`:
//! `executor_environment_decorator` sets these variables ([`Edit::Set`]): they replace variables
//! of the same name and the others are kept, without the hook reading them. With no parameters the hook keeps the
//! environment unchanged. The other hook points keep.
//!
//! The policy is plain Rust (`EnvHook`), linked natively by the host as the native twin; for
//! `wasm32` the crate also exports it as an `agent-hooks` component.

use meseta_types::hooks::{AgentHooks, Decision, Edit, ExecutorView};
use meseta_types::resources::EnvVar;
use meseta_types::{Create, Parameters};

/// Adds the manifest's parameters to every executor's environment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EnvHook {
    /// One variable per distinct name, in first-appearance order, with the last value given.
    variables: Vec<EnvVar>,
}

impl EnvHook {
    /// The variables this hook sets.
    pub fn variables(&self) -> &[EnvVar] {
        &self.variables
    }
}

impl Create for EnvHook {
    fn create(parameters: &Parameters) -> Result<Self, String> {
        let mut variables: Vec<EnvVar> = Vec::new();
        for (name, value) in parameters {
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                return Err(format!(
                    "parameter '{name}' is not a valid environment variable name \
                     (it must be non-empty, without '=' or NUL)"
                ));
            }
            if value.contains('\0') {
                return Err(format!("parameter '{name}' has a value containing NUL"));
            }
            match variables.iter_mut().find(|v| &v.name == name) {
                Some(v) => v.value = value.clone(),
                None => variables.push(EnvVar {
                    name: name.clone(),
                    value: value.clone(),
                }),
            }
        }
        Ok(EnvHook { variables })
    }
}

impl AgentHooks for EnvHook {
    fn executor_environment_decorator(
        &mut self,
        _executor: &dyn ExecutorView,
    ) -> Decision<Edit<EnvVar>> {
        if self.variables.is_empty() {
            return Ok(None);
        }
        // only this hook's variables cross the boundary; the chain merges them by name
        Ok(Some(Edit::Set(self.variables.clone())))
    }
}

#[cfg(target_arch = "wasm32")]
meseta_sdk::export_agent_hooks!(EnvHook);

#[cfg(test)]
mod tests {
    use super::*;
    use meseta_types::hooks::{CommandInfo, ExecutorInfo};

    fn params(kv: &[(&str, &str)]) -> Vec<(String, String)> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn var(n: &str, v: &str) -> EnvVar {
        EnvVar {
            name: n.into(),
            value: v.into(),
        }
    }

    #[test]
    fn adds_and_overrides_variables() {
        let mut hook = EnvHook::create(&params(&[("A", "1"), ("B", "2")])).unwrap();
        let executor = ExecutorInfo {
            command: Some(CommandInfo {
                environment: vec![var("PATH", "/bin"), var("B", "old")],
                ..Default::default()
            }),
            ..Default::default()
        };
        let out = hook
            .executor_environment_decorator(&executor)
            .unwrap()
            .unwrap()
            .apply(&executor.command.as_ref().unwrap().environment);
        assert_eq!(out, vec![var("PATH", "/bin"), var("B", "2"), var("A", "1")]);
    }

    #[test]
    fn works_without_a_command_and_keeps_without_parameters() {
        let mut hook = EnvHook::create(&params(&[("A", "1")])).unwrap();
        assert_eq!(
            hook.executor_environment_decorator(&ExecutorInfo::default()),
            Ok(Some(Edit::Set(vec![var("A", "1")])))
        );
        let mut empty = EnvHook::create(&[]).unwrap();
        assert_eq!(
            empty.executor_environment_decorator(&ExecutorInfo::default()),
            Ok(None)
        );
    }

    #[test]
    fn rejects_bad_names() {
        assert!(EnvHook::create(&params(&[("A=B", "1")])).is_err());
        assert!(EnvHook::create(&params(&[("", "1")])).is_err());
    }
}
