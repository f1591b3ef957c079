//! An agent hook module: adds its manifest parameters to every task's environment.
//!
//! The policy is plain Rust against `meseta-types`' `AgentHooks` trait, tested natively by
//! `cargo test`; `cargo build --release --target wasm32-wasip2` exports it as a component of the
//! `agent-hooks` world (`meseta module wit --kind agent-hooks` prints it).

use meseta_types::hooks::{AgentHooks, Decision, Edit, ExecutorView};
use meseta_types::resources::EnvVar;
use meseta_types::{Create, Parameters};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Policy {
    /// One variable per distinct name, in first-seen order, the last value winning.
    variables: Vec<EnvVar>,
}

impl Create for Policy {
    /// Called with the manifest's parameters; an error stops the daemon's start, saying why.
    fn create(parameters: &Parameters) -> Result<Self, String> {
        let mut variables: Vec<EnvVar> = Vec::new();
        for (name, value) in parameters {
            let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!(
                    "parameter '{name}' is not an environment variable name: use letters, \
                     digits and '_', not starting with a digit"
                ));
            }
            match variables.iter_mut().find(|v| &v.name == name) {
                Some(v) => v.value = value.clone(),
                None => variables.push(EnvVar {
                    name: name.clone(),
                    value: value.clone(),
                }),
            }
        }
        Ok(Policy { variables })
    }
}

impl AgentHooks for Policy {
    fn executor_environment_decorator(
        &mut self,
        _executor: &dyn ExecutorView,
    ) -> Decision<Edit<EnvVar>> {
        if self.variables.is_empty() {
            return Ok(None);
        }
        // `Set`: only these variables cross the boundary; the host merges them by name
        Ok(Some(Edit::Set(self.variables.clone())))
    }
}

#[cfg(target_arch = "wasm32")]
meseta_sdk::export_agent_hooks!(Policy);

#[cfg(test)]
mod tests {
    use super::*;
    use meseta_types::hooks::ExecutorInfo;

    #[test]
    fn sets_the_parameters_as_variables() {
        let params = vec![("DEPLOY_ENV".to_string(), "staging".to_string())];
        let mut hook = Policy::create(&params).unwrap();
        let edit = hook
            .executor_environment_decorator(&ExecutorInfo::default())
            .unwrap()
            .unwrap();
        let env = edit.apply(&[]);
        assert_eq!(env.len(), 1);
        assert_eq!((env[0].name.as_str(), env[0].value.as_str()), ("DEPLOY_ENV", "staging"));
    }

    #[test]
    fn a_bad_name_is_refused_with_its_name() {
        let err = Policy::create(&vec![("1X".to_string(), "v".to_string())]).unwrap_err();
        assert!(err.contains("'1X'"), "{err}");
    }
}
