//! The `allocator` world of `meseta:allocator@0.2.0` (a round's offers as columns): exports an
//! [`AllocatorPolicy`] with [`export_allocator!`](crate::export_allocator).

use crate::__private::{Instance, init, with_or, with_or_trap};
use crate::convert::all;
use meseta_types::allocation::{self as a, AllocatorPolicy};
use meseta_types::{Create, Quantities};

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        // A world of another name including the version 2 world: the version 1 bindings next
        // door already define the export macro named after `allocator`.
        inline: "
            package meseta:sdk-allocator;
            world allocator-v2 {
                include meseta:allocator/allocator@0.2.0;
            }
        ",
        world: "allocator-v2",
        path: ["../../wit/meseta-modules-0.1.0", "../../wit/meseta-allocator-0.2.0"],
        with: {
            "meseta:modules/host@0.1.0": crate::wit::meseta::modules::host,
            "meseta:modules/types@0.1.0": crate::wit::meseta::modules::types,
        },
        pub_export_macro: true,
        export_macro_name: "export_world",
        default_bindings_module: "meseta_sdk::allocator::bindings",
        runtime_path: "meseta_sdk::wit_bindgen::rt",
    });
}

use crate::wit::meseta::modules::types::Parameter;
use bindings::exports::meseta::allocator::allocator_api as w;

/// Exports the allocator `$policy` (a type implementing [`Create`] and [`AllocatorPolicy`]) as
/// the component's `meseta:allocator/allocator-api@0.2.0`.
///
/// ```ignore
/// meseta_sdk::export_allocator!(MyAllocator);
/// ```
#[macro_export]
macro_rules! export_allocator {
    ($policy:ty) => {
        const _: () = {
            $crate::__meseta_instance!(__MesetaAllocator, $policy);
            $crate::allocator::bindings::export_world!(
                __MesetaAllocator with_types_in $crate::allocator::bindings
            );
        };
    };
}

/// A round's offers as columns, each offer's amounts padded with zeros to the number of
/// resource kinds. An offer with more amounts than there are kinds traps, naming its agent.
fn offers(offers: Vec<a::Offer>) -> w::Offers {
    let slots = crate::allocator_guest::SLOTS.get();
    let mut c = w::Offers {
        frameworks: Vec::with_capacity(offers.len()),
        roles: Vec::with_capacity(offers.len()),
        agents: Vec::with_capacity(offers.len()),
        amounts: Vec::with_capacity(offers.len() * slots),
    };
    for o in offers {
        if o.resources.0.len() > slots {
            crate::__private::trap(&format!(
                "offer on agent {} has {} amounts, more than the {slots} resource kinds",
                o.agent,
                o.resources.0.len()
            ));
        }
        c.frameworks.push(o.framework);
        c.roles.push(o.role);
        c.agents.push(o.agent);
        c.amounts.extend_from_slice(&o.resources.0);
        c.amounts
            .resize(c.amounts.len() + slots - o.resources.0.len(), 0.0);
    }
    c
}

crate::allocator_guest::allocator_guest!(
    w::Offers,
    w::Offers {
        frameworks: Vec::new(),
        roles: Vec::new(),
        agents: Vec::new(),
        amounts: Vec::new(),
    },
    offers
);
