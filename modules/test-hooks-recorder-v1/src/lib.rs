//! `test-hooks-recorder-v1`: the `test-hooks-recorder` policy exported in the version 1
//! `agent-hooks` world of `meseta:modules@0.1.0` (whole records per call), so the tests show the
//! host still serves version 1 hook modules. Not shipped.

#[path = "../../test-hooks-recorder/src/policy.rs"]
mod policy;

pub use policy::{Fault, RecorderHook};

#[cfg(target_arch = "wasm32")]
meseta_sdk::export_agent_hooks_v1!(RecorderHook);
