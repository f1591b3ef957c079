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
use meseta_types::{Create, Parameters, parameter};

const MODES: &[&str] = &["ok", "negative", "nan", "trap", "loop", "bomb"];

pub struct Adversary {
    mode: String,
    hoard: Vec<Vec<u8>>,
}

impl Create for Adversary {
    fn create(parameters: &Parameters) -> Result<Self, String> {
        let mode = parameter(parameters, "mode").unwrap_or("ok").to_string();
        if !MODES.contains(&mode.as_str()) {
            return Err(format!(
                "unknown mode '{mode}'; modes: {}",
                MODES.join(", ")
            ));
        }
        Ok(Adversary {
            mode,
            hoard: Vec::new(),
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
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "bomb" => loop {
                let mut chunk = vec![0u8; 16 << 20];
                chunk[0] = 1;
                self.hoard.push(chunk);
            },
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
