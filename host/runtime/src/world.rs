//! Worlds and verification: which component implements which module kind, at which version.
//!
//! The runtime is told the worlds it serves (`WorldSpec`) by the crates that know the module
//! kinds; it only knows that a kind is a world whose single export interface the component must
//! provide at a semver-compatible version.

use std::time::Duration;

use wasmtime::Engine;
use wasmtime::component::Component;

/// A module kind as the runtime sees it: a WIT world with one export interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorldSpec {
    /// The kind's name in manifests and flags, also the world's name (`master-hooks`).
    pub kind: &'static str,
    /// The WIT package (`meseta:modules`).
    pub package: &'static str,
    /// The package version this host implements.
    pub version: (u64, u64, u64),
    /// The interface the component must export (`master-hooks-api`).
    pub export: &'static str,
    /// Deadline of each call when the manifest sets none.
    pub default_deadline: Duration,
    /// Memory cap when the manifest sets none.
    pub default_memory: u64,
}

impl WorldSpec {
    pub fn version_string(&self) -> String {
        let (a, b, c) = self.version;
        format!("{a}.{b}.{c}")
    }

    /// `meseta:modules/master-hooks@0.1.0`
    pub fn world_name(&self) -> String {
        format!("{}/{}@{}", self.package, self.kind, self.version_string())
    }

    /// `meseta:modules/master-hooks-api@0.1.0`
    pub fn export_name(&self) -> String {
        format!("{}/{}@{}", self.package, self.export, self.version_string())
    }

    /// Whether an export named `name` is this world's interface at a version this host serves:
    /// same major version, and for 0.x the same minor (semver's rule for pre-1.0 packages).
    pub fn accepts_export(&self, name: &str) -> bool {
        match parse_versioned(name) {
            Some((pkg, iface, v)) => {
                pkg == self.package && iface == self.export && compatible(self.version, v)
            }
            None => false,
        }
    }
}

/// What a component imports and exports, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

pub fn summarize(engine: &Engine, component: &Component) -> Summary {
    let ty = component.component_type();
    Summary {
        imports: ty.imports(engine).map(|(n, _)| n.to_string()).collect(),
        exports: ty.exports(engine).map(|(n, _)| n.to_string()).collect(),
    }
}

/// The worlds among `worlds` whose export the component provides.
pub fn implemented<'a>(summary: &Summary, worlds: &'a [WorldSpec]) -> Vec<&'a WorldSpec> {
    worlds
        .iter()
        .filter(|w| summary.exports.iter().any(|e| w.accepts_export(e)))
        .collect()
}

/// Why a component does not implement `world`: the missing export and a hint naming what it does
/// implement (another kind, or the same interface at an incompatible version).
pub fn missing(
    summary: &Summary,
    world: &WorldSpec,
    worlds: &[WorldSpec],
) -> Option<(String, String)> {
    if summary.exports.iter().any(|e| world.accepts_export(e)) {
        return None;
    }
    let same_iface: Vec<&String> = summary
        .exports
        .iter()
        .filter(|e| matches!(parse_versioned(e), Some((p, i, _)) if p == world.package && i == world.export))
        .collect();
    let hint = if let Some(other) = same_iface.first() {
        format!(
            "; it exports '{other}', which this host (serving {}) cannot use: rebuild it against {}@{}",
            world.version_string(),
            world.package,
            world.version_string()
        )
    } else {
        let others = implemented(summary, worlds);
        if let Some(o) = others.first() {
            format!(
                "; it is {} '{}' module (it exports '{}')",
                article(o.kind),
                o.kind,
                o.export_name()
            )
        } else if summary.exports.is_empty() {
            "; it exports nothing".to_string()
        } else {
            format!("; it exports: {}", summary.exports.join(", "))
        }
    };
    Some((world.export_name(), hint))
}

fn parse_versioned(name: &str) -> Option<(&str, &str, (u64, u64, u64))> {
    let (path, version) = name.split_once('@')?;
    let (pkg, iface) = path.rsplit_once('/')?;
    let mut parts = version.split(['.', '-', '+']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = parts.next()?.parse().ok()?;
    Some((pkg, iface, (major, minor, patch)))
}

fn compatible(host: (u64, u64, u64), guest: (u64, u64, u64)) -> bool {
    if host.0 != guest.0 {
        return false;
    }
    if host.0 == 0 {
        return host.1 == guest.1;
    }
    true
}

/// The indefinite article for a module kind or other word: "an" before a vowel ("an
/// allocator", "an 'agent-hooks' module"), else "a" ("a 'master-hooks' module").
pub fn article(word: &str) -> &'static str {
    let first = word.trim_start_matches(['\'', '"']).chars().next();
    match first.map(|c| c.to_ascii_lowercase()) {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOOKS: WorldSpec = WorldSpec {
        kind: "master-hooks",
        package: "meseta:modules",
        version: (0, 1, 0),
        export: "master-hooks-api",
        default_deadline: Duration::from_millis(100),
        default_memory: 1 << 26,
    };

    #[test]
    fn semver_compatibility_of_exports() {
        assert!(HOOKS.accepts_export("meseta:modules/master-hooks-api@0.1.0"));
        assert!(HOOKS.accepts_export("meseta:modules/master-hooks-api@0.1.7"));
        assert!(!HOOKS.accepts_export("meseta:modules/master-hooks-api@0.2.0"));
        assert!(!HOOKS.accepts_export("meseta:modules/agent-hooks-api@0.1.0"));
        assert!(!HOOKS.accepts_export("other:pkg/master-hooks-api@0.1.0"));
    }

    #[test]
    fn missing_export_names_what_the_component_is() {
        let s = Summary {
            imports: vec![],
            exports: vec!["meseta:modules/master-hooks-api@0.2.0".into()],
        };
        let (missing, hint) = missing(&s, &HOOKS, &[HOOKS]).unwrap();
        assert_eq!(missing, "meseta:modules/master-hooks-api@0.1.0");
        assert!(
            hint.contains("rebuild it against meseta:modules@0.1.0"),
            "{hint}"
        );
    }
}
