//! `test-qos-adversary`: a QoS controller test guest that misbehaves on request. Not shipped;
//! the agent's tests load it.
//!
//! | parameter `mode` | `corrections` |
//! |---|---|
//! | `ok` | none |
//! | `unknown-kill` | a kill for an executor that does not exist (nonsense the host must refuse) |
//! | `trap` | panics |
//! | `loop` | spins forever |

use meseta_types::oversubscription::{Correction, Kill, QosPolicy, ResourceUsage};
use meseta_types::{Create, Parameters};

const MODES: &[&str] = &["ok", "unknown-kill", "trap", "loop"];

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
impl QosPolicy for Adversary {
    fn corrections(&mut self, _usage: &ResourceUsage) -> Result<Vec<Correction>, String> {
        match self.mode.as_str() {
            "unknown-kill" => Ok(vec![Correction::Kill(Kill {
                framework_id: "no-such-framework".into(),
                executor_id: "no-such-executor".into(),
                container: Some(4_000_000),
            })]),
            "trap" => panic!("adversary panicked on purpose"),
            "loop" => meseta_adversary::spin(),
            _ => Ok(Vec::new()),
        }
    }
}

#[cfg(target_arch = "wasm32")]
meseta_sdk::export_qos_controller!(Adversary);
