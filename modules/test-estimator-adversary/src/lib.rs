//! `test-estimator-adversary`: a resource estimator test guest that misbehaves on request. Not
//! shipped; the agent's tests load it.
//!
//! | parameter `mode` | `oversubscribable` |
//! |---|---|
//! | `ok` | `cpus:2` |
//! | `negative` | `cpus:-5` (nonsense the host must refuse) |
//! | `nan` | `cpus:NaN` |
//! | `trap` | panics |
//! | `loop` | spins forever |
//! | `bomb` | allocates until the memory cap stops it |

use meseta_types::oversubscription::{EstimatorPolicy, ResourceUsage};
use meseta_types::resources::Resource;
use meseta_types::{Create, Parameters};

const MODES: &[&str] = &["ok", "negative", "nan", "trap", "loop", "bomb"];

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

#[allow(clippy::panic)] // panicking is this guest's job
impl EstimatorPolicy for Adversary {
    fn oversubscribable(&mut self, _usage: &ResourceUsage) -> Result<Vec<Resource>, String> {
        let cpus = match self.mode.as_str() {
            "negative" => -5.0,
            "nan" => f64::NAN,
            "trap" => panic!("adversary panicked on purpose"),
            "loop" => meseta_adversary::spin(),
            "bomb" => meseta_adversary::memory_bomb(),
            _ => 2.0,
        };
        Ok(vec![Resource {
            revocable: true,
            ..Resource::scalar("cpus", cpus)
        }])
    }
}

#[cfg(target_arch = "wasm32")]
meseta_sdk::export_resource_estimator!(Adversary);
