//! `test-allocator-liar-v1`: the `test-allocator-liar` policy exported in the version 1
//! `allocator` world of `meseta:modules@0.1.0` (one record per offer), so the tests show the host
//! still serves, and checks, version 1 allocator modules. Not shipped.

#[path = "../../test-allocator-liar/src/policy.rs"]
mod policy;

pub use policy::{LiarAllocator, Lie, UNKNOWN_FRAMEWORK};

#[cfg(target_arch = "wasm32")]
meseta_sdk::export_allocator_v1!(LiarAllocator);
