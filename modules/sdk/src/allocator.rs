//! The `allocator` world of `meseta:allocator@0.3.0` (a round's offers as columns, reserved
//! resources as slots of their own): exports an [`AllocatorPolicy`] with
//! [`export_allocator!`](crate::export_allocator).

use crate::__private::{Instance, init, with_or, with_or_trap};
use crate::convert::all;
use meseta_types::allocation::{self as a, AllocatorPolicy};
use meseta_types::{Create, Quantities};

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        // A world of another name including the version 3 world: the version 1 bindings next
        // door already define the export macro named after `allocator`.
        inline: "
            package meseta:sdk-allocator;
            world allocator-v3 {
                include meseta:allocator/allocator@0.3.0;
            }
        ",
        world: "allocator-v3",
        path: ["../../wit/meseta-modules-0.1.0", "../../wit/meseta-allocator-0.3.0"],
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
/// the component's `meseta:allocator/allocator-api@0.3.0`.
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

std::thread_local! {
    /// How many offers the last round made: the next round's columns start that large.
    static LAST_ROUND: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// A round's offers written straight into the columns of the answer, each offer's amounts
/// padded with zeros to the number of resource kinds (no vector per offer: the policy hands
/// each offer over as it makes it, through [`a::OfferSink`]).
struct Columns {
    slots: usize,
    answer: w::Offers,
}

impl a::OfferSink for Columns {
    /// Traps, naming the agent, on an offer with more amounts than there are resource kinds.
    fn offer(&mut self, framework: a::FrameworkId, role: a::RoleId, agent: a::AgentId, r: &[f64]) {
        if r.len() > self.slots {
            crate::__private::trap(&format!(
                "offer on agent {agent} has {} amounts, more than the {} resource kinds",
                r.len(),
                self.slots
            ));
        }
        let c = &mut self.answer;
        c.frameworks.push(framework);
        c.roles.push(role);
        c.agents.push(agent);
        c.amounts.extend_from_slice(r);
        c.amounts
            .resize(c.amounts.len() + self.slots - r.len(), 0.0);
    }
}

/// One round of `policy`, answered as columns.
fn round<P: AllocatorPolicy + ?Sized>(policy: &mut P, now_ms: u64) -> w::Offers {
    let slots = crate::allocator_guest::SLOTS.get();
    let expected = LAST_ROUND.get();
    let mut c = Columns {
        slots,
        answer: w::Offers {
            frameworks: Vec::with_capacity(expected),
            roles: Vec::with_capacity(expected),
            agents: Vec::with_capacity(expected),
            amounts: Vec::with_capacity(expected * slots),
        },
    };
    policy.allocate_into(now_ms, &mut c);
    LAST_ROUND.set(c.answer.agents.len());
    c.answer
}

crate::allocator_guest::allocator_guest!(
    reserved,
    w::Offers,
    w::Offers {
        frameworks: Vec::new(),
        roles: Vec::new(),
        agents: Vec::new(),
        amounts: Vec::new(),
    },
    round
);
