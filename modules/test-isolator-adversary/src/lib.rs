//! `test-isolator-adversary`: an isolator test guest that misbehaves on request. Not shipped;
//! the agent's tests load it.
//!
//! | parameter `mode` | behaviour |
//! |---|---|
//! | `ok` | behaves; `prepare` adds `ADVERSARY=ok` to the environment |
//! | `trap-prepare` | panics in `prepare` |
//! | `loop-watch` | spins forever in `watch` (the deadline must stop it) |
//! | `bomb-usage` | allocates until the memory cap stops it in `usage` |
//! | `bad-env` | `prepare` returns a variable named `A=B` (nonsense the host must refuse) |
//! | `escape` | `prepare` tries another container's cgroup and host paths; reports what happened in `ADVERSARY_CGROUP` and `ADVERSARY_HOSTFS` |
//!
//! An unknown mode fails `init`.

use meseta_types::isolation::{
    Cgroups, ContainerConfig, ContainerId, IsolatorPolicy, LaunchInfo, ResourceStatistics,
};
use meseta_types::resources::{EnvVar, Resource};
use meseta_types::{Create, Parameters};

const MODES: &[&str] = &[
    "ok",
    "trap-prepare",
    "loop-watch",
    "bomb-usage",
    "bad-env",
    "escape",
];

pub struct Adversary {
    mode: String,
}

impl Create for Adversary {
    fn create(parameters: &Parameters) -> Result<Self, String> {
        Ok(Adversary {
            mode: meseta_adversary::mode(parameters, MODES)?,
        })
    }
}

fn env(name: &str, value: String) -> EnvVar {
    EnvVar {
        name: name.into(),
        value,
    }
}

#[allow(clippy::panic)] // panicking is this guest's job
impl IsolatorPolicy for Adversary {
    fn prepare(
        &mut self,
        config: &ContainerConfig,
        cg: &mut dyn Cgroups,
    ) -> Result<LaunchInfo, String> {
        match self.mode.as_str() {
            "trap-prepare" => panic!("adversary panicked on purpose in prepare"),
            "bad-env" => Ok(LaunchInfo {
                environment: vec![env("A=B", "x".into())],
            }),
            "escape" => {
                let other = config.container.wrapping_add(1);
                let cgroup = match cg.set_memory_limit(other, 1 << 20) {
                    Ok(()) => "escaped".to_string(),
                    Err(e) => e.to_string(),
                };
                let hostfs = match std::fs::read_to_string("/etc/passwd") {
                    Ok(_) => "read /etc/passwd".to_string(),
                    Err(_) => match std::fs::write("/sandbox/adversary-was-here", "x") {
                        Ok(()) => "wrote into the sandbox".to_string(),
                        Err(_) => "denied".to_string(),
                    },
                };
                Ok(LaunchInfo {
                    environment: vec![
                        env("ADVERSARY_CGROUP", cgroup),
                        env("ADVERSARY_HOSTFS", hostfs),
                    ],
                })
            }
            _ => Ok(LaunchInfo {
                environment: vec![env("ADVERSARY", "ok".into())],
            }),
        }
    }

    fn watch(
        &mut self,
        _container: ContainerId,
        _cg: &mut dyn Cgroups,
    ) -> Option<meseta_types::isolation::Limitation> {
        if self.mode == "loop-watch" {
            meseta_adversary::spin()
        }
        None
    }

    fn update(
        &mut self,
        _container: ContainerId,
        _resources: &[Resource],
        _cg: &mut dyn Cgroups,
    ) -> Result<(), String> {
        Ok(())
    }

    fn usage(
        &mut self,
        _container: ContainerId,
        _cg: &mut dyn Cgroups,
    ) -> Result<ResourceStatistics, String> {
        if self.mode == "bomb-usage" {
            meseta_adversary::memory_bomb();
        }
        Ok(ResourceStatistics::default())
    }
}

#[cfg(target_arch = "wasm32")]
meseta_sdk::export_isolator!(Adversary);
