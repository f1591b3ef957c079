//! The WebAssembly components built from `modules/`, embedded in the binary.
//!
//! `build.rs` compiles every module crate for `wasm32-wasip2` in release mode with a nested
//! cargo (target directory `target/wasm-modules`), copies each component to the stable path
//! `target/modules/<crate>.wasm` (for manifests and users) and embeds it here.
//!
//! * [`SHIPPED`]: the modules Meseta ships (`allocator-drf`, `allocator-binpack`,
//!   `isolator-cgroups`, `isolator-disk`, `estimator-fixed`, `estimator-load`, `qos-load`,
//!   `hook-labels`, `hook-env`, `authorizer-local`).
//! * [`TEST_GUESTS`]: misbehaving guests for the host's tests (`test-hooks-adversary`,
//!   `test-allocator-liar` (and its `-v1`, `-v2` versions), `test-isolator-adversary`, `test-estimator-adversary`,
//!   `test-qos-adversary`, `test-authorizer-adversary`) and `test-hooks-recorder` (agent hooks for the call-site tests).
//!
//! **Architecture invariant**: every crate under `modules/` except the SDK is listed in exactly
//! one table with the world it implements, and its component exports that world's interface;
//! the build fails otherwise. Building needs the `wasm32-wasip2` target
//! (`rustup target add wasm32-wasip2`; `rust-toolchain.toml` names it).

/// A module component built from `modules/<name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Artifact {
    /// The crate name, e.g. `"hook-labels"`.
    pub name: &'static str,
    /// The world it implements: `"allocator"`, `"isolator"`, `"resource-estimator"`,
    /// `"qos-controller"`, `"master-hooks"`, `"agent-hooks"` or `"authorizer"`.
    pub kind: &'static str,
    /// Absolute path of the copy under `target/modules/`.
    pub path: &'static str,
    /// The component itself.
    pub bytes: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));

/// The shipped module named `name`.
pub fn shipped(name: &str) -> Option<&'static Artifact> {
    SHIPPED.iter().find(|a| a.name == name)
}

/// The shipped modules as a module loader's built-ins: a manifest library given by `name`
/// (and `meseta local --allocator allocator-drf`) resolves here.
pub struct Shipped;

impl meseta_runtime::Builtins for Shipped {
    fn get(&self, name: &str) -> Option<&'static [u8]> {
        shipped(name).map(|a| a.bytes)
    }
    fn names(&self) -> Vec<&'static str> {
        SHIPPED.iter().map(|a| a.name).collect()
    }
}

/// The test guest named `name`.
pub fn test_guest(name: &str) -> Option<&'static Artifact> {
    TEST_GUESTS.iter().find(|a| a.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_artifact_is_a_component_at_its_path() {
        for a in SHIPPED.iter().chain(TEST_GUESTS) {
            // the component-model binary header: magic, then version 0x0d and layer 1
            assert_eq!(&a.bytes[..8], b"\0asm\x0d\0\x01\0", "{}", a.name);
            assert!(std::path::Path::new(a.path).is_file(), "{}", a.path);
            assert!(a.path.ends_with(&format!("target/modules/{}.wasm", a.name)));
        }
        assert_eq!(SHIPPED.len(), 10);
        assert_eq!(shipped("hook-labels").unwrap().kind, "master-hooks");
        assert_eq!(test_guest("test-allocator-liar").unwrap().kind, "allocator");
        assert!(shipped("test-allocator-liar").is_none());
    }
}
