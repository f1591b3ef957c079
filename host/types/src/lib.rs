//! Meseta's domain model and the policy traits every module kind implements.
//!
//! This crate is plain Rust with no dependencies, no IO and no `unsafe`: it compiles for the host
//! and for `wasm32-wasip2` alike. A policy written against these traits runs natively inside the
//! daemons (the built-in default and benchmark baseline) and, through the guest SDK's export
//! macros, as a WebAssembly component. The host's Wasm adapters convert between these types and
//! the WIT bindings.

pub mod allocation;
pub mod authorization;
pub mod handles;
pub mod hooks;
pub mod isolation;
pub mod oversubscription;
pub mod quantities;
pub mod resources;

pub use quantities::Quantities;

/// A module's `parameters` from the manifest, in manifest order.
pub type Parameters = [(String, String)];

/// Looks a parameter up by key (the last one wins, as when a map is built in order).
pub fn parameter<'a>(parameters: &'a Parameters, key: &str) -> Option<&'a str> {
    parameters
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// How every policy is built: from its manifest parameters, or a configuration error.
pub trait Create: Sized {
    fn create(parameters: &Parameters) -> Result<Self, String>;
}

/// The candidate within edit distance 3 of `name`, if any: the "did you mean" of error messages
/// (a misspelt module, library or ACL key).
pub fn closest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(name, c), *c))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, c)| c)
}

/// Levenshtein distance, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
