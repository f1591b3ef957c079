//! The version 1 `allocator` world (`meseta:modules@0.1.0`, one record per offer): exports an
//! [`AllocatorPolicy`] with [`export_allocator_v1!`](crate::export_allocator_v1).

use crate::__private::{Instance, init, with_or, with_or_trap};
use crate::convert::all;
use meseta_types::allocation::{self as a, AllocatorPolicy};
use meseta_types::{Create, Quantities};

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "allocator",
        path: "../../wit/meseta-modules-0.1.0",
        with: {
            "meseta:modules/host@0.1.0": crate::wit::meseta::modules::host,
            "meseta:modules/types@0.1.0": crate::wit::meseta::modules::types,
        },
        pub_export_macro: true,
        export_macro_name: "export_world",
        default_bindings_module: "meseta_sdk::allocator_v1::bindings",
        runtime_path: "meseta_sdk::wit_bindgen::rt",
    });
}

use crate::wit::meseta::modules::types::Parameter;
use bindings::exports::meseta::modules::allocator_api as w;

/// Exports the allocator `$policy` (a type implementing [`Create`] and [`AllocatorPolicy`]) as
/// the component's version 1 `allocator-api` (`meseta:modules/allocator-api@0.1.0`).
///
/// ```ignore
/// meseta_sdk::export_allocator_v1!(MyAllocator);
/// ```
#[macro_export]
macro_rules! export_allocator_v1 {
    ($policy:ty) => {
        const _: () = {
            $crate::__meseta_instance!(__MesetaAllocator, $policy);
            $crate::allocator_v1::bindings::export_world!(
                __MesetaAllocator with_types_in $crate::allocator_v1::bindings
            );
        };
    };
}

impl From<a::Offer> for w::Offer {
    fn from(v: a::Offer) -> Self {
        w::Offer {
            framework: v.framework,
            role: v.role,
            agent: v.agent,
            resources: v.resources.0,
        }
    }
}

/// A round's offers as records, each with its own list of amounts.
fn round<P: AllocatorPolicy + ?Sized>(policy: &mut P, now_ms: u64) -> Vec<w::Offer> {
    all(policy.allocate(now_ms))
}

crate::allocator_guest::allocator_guest!(Vec<w::Offer>, Vec::new(), round);
