//! `test-allocator-liar-v2`: the `test-allocator-liar` policy exported in the version 2
//! `allocator` world (`meseta:allocator@0.2.0`, columns, no reserved kinds), so the tests show
//! the host still serves version 2 modules, and gives them only the unreserved slots. Not
//! shipped.

#[path = "../../test-allocator-liar/src/policy.rs"]
mod policy;

pub use policy::{LiarAllocator, Lie, UNKNOWN_FRAMEWORK};

#[cfg(target_arch = "wasm32")]
meseta_sdk::export_allocator_v2!(LiarAllocator);
