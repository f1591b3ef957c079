//! `test-allocator-liar`: an allocator test guest that returns invalid offers on request. Not
//! shipped; the host's validation tests load it.
//!
//! The policy (in `policy.rs`) tracks agents (in id order) and frameworks (in the order they were added) minimally.
//! Parameter `lie` chooses what `allocate` returns:
//!
//! | lie | offers |
//! |---|---|
//! | `honest` | each agent's free resources (total minus what it offered and got no recovery for) to the first framework, in its first role, but for the slots reserved for other roles |
//! | `oversized` | one offer per agent with 10× the agent's total, to the first framework |
//! | `unknown-framework` | the first agent's total to framework 9999 |
//! | `double` | the first agent's total twice to the first framework, in one round |
//! | `negative` | -1 of every resource on the first agent to the first framework |
//! | `wide` | one cpu on the first agent to the first framework, with one amount more than there are resource kinds |
//! | `trap-on-initialize` | none: `initialize` traps |
//! | `spin` | none: `allocate` loops until the host's deadline stops it |
//! | `reserved-elsewhere` | the first agent's amounts of every reserved slot to the first framework, whatever role they are reserved for |
//!
//! This crate exports the policy as a version 3 allocator (`meseta:allocator@0.3.0`, columns and
//! reserved kinds); `test-allocator-liar-v2` exports the same policy at version 2
//! (`meseta:allocator@0.2.0`) and `test-allocator-liar-v1` in the version 1 world of
//! `meseta:modules@0.1.0`, so the tests check the offers of every version the host serves.

mod policy;

pub use policy::{LiarAllocator, Lie, UNKNOWN_FRAMEWORK};

#[cfg(target_arch = "wasm32")]
meseta_sdk::export_allocator!(LiarAllocator);
