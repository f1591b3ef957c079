//! `test-authorizer-adversary`: an authorizer test guest that misbehaves on request, picked by
//! the request's subject. Not shipped; `meseta-authorizer`'s tests load it.
//!
//! | subject | `authorized` |
//! |---|---|
//! | `alice` | `ok(true)` |
//! | `trap` | panics |
//! | `spin` | spins until the deadline |
//! | `bomb` | allocates until the memory cap stops it |
//! | `error` | `err("cannot decide ...")` |
//! | anyone else, or none | `ok(false)` |

use meseta_types::authorization::{AuthorizerPolicy, Request};
use meseta_types::{Create, Parameters};

pub struct Adversary;

impl Create for Adversary {
    fn create(_parameters: &Parameters) -> Result<Self, String> {
        Ok(Adversary)
    }
}

#[allow(clippy::panic)] // panicking is this guest's job
impl AuthorizerPolicy for Adversary {
    fn authorized(&mut self, request: &Request) -> Result<bool, String> {
        match request.subject.as_deref() {
            Some("alice") => Ok(true),
            Some("trap") => panic!("adversary panicked on purpose"),
            Some("spin") => meseta_adversary::spin(),
            Some("bomb") => meseta_adversary::memory_bomb(),
            Some("error") => Err("cannot decide: the adversary was asked to fail".into()),
            _ => Ok(false),
        }
    }
}

#[cfg(target_arch = "wasm32")]
meseta_sdk::export_authorizer!(Adversary);
