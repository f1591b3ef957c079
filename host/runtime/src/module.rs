//! Loading: from a manifest entry to a compiled, verified component ready to instantiate.

use std::sync::Arc;
use std::time::Duration;

use meseta_types::closest;
use wasmtime::component::Component;

use crate::cache::{CacheOutcome, ComponentCache};
use crate::counters::Counters;
use crate::engine::{MAX_MEMORY_LIMIT, engine};
use crate::error::LoadError;
use crate::manifest::{ModuleSpec, Source};
use crate::world::{Summary, WorldSpec, implemented, missing, summarize};

/// A compiled component verified to implement its kind's world. Shared by every instance.
pub struct LoadedModule {
    pub spec: ModuleSpec,
    pub world: WorldSpec,
    pub component: Component,
    pub summary: Summary,
    pub sha256: String,
    pub cache: CacheOutcome,
    pub compile_time: Duration,
    pub memory_limit: u64,
    pub deadline: Duration,
    pub counters: Arc<Counters>,
}

impl std::fmt::Debug for LoadedModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModule")
            .field("name", &self.spec.name)
            .field("kind", &self.world.kind)
            .field("sha256", &self.sha256)
            .finish()
    }
}

/// Components built into the binary, looked up by library name.
pub trait Builtins: Sync {
    fn get(&self, name: &str) -> Option<&'static [u8]>;
    fn names(&self) -> Vec<&'static str>;
}

/// No built-in components.
pub struct NoBuiltins;

impl Builtins for NoBuiltins {
    fn get(&self, _name: &str) -> Option<&'static [u8]> {
        None
    }
    fn names(&self) -> Vec<&'static str> {
        Vec::new()
    }
}

/// Loads modules for the worlds a daemon serves.
pub struct Loader<'a> {
    pub worlds: &'a [WorldSpec],
    pub builtins: &'a dyn Builtins,
    pub cache: ComponentCache,
}

/// How the first bytes of a file classify it.
#[derive(Debug, PartialEq, Eq)]
pub enum Binary {
    Component,
    CoreModule,
    NotWasm,
}

pub fn classify_binary(bytes: &[u8]) -> Binary {
    if bytes.len() < 8 || &bytes[0..4] != b"\0asm" {
        return Binary::NotWasm;
    }
    // The preamble's version field: core modules have layer 0, components layer 1.
    if bytes[6..8] == [1, 0] {
        Binary::Component
    } else {
        Binary::CoreModule
    }
}

impl Loader<'_> {
    pub fn world(&self, kind: &str) -> Option<&WorldSpec> {
        self.worlds.iter().find(|w| w.kind == kind)
    }

    pub fn known_kinds(&self) -> String {
        let mut kinds: Vec<&str> = self.worlds.iter().map(|w| w.kind).collect();
        kinds.dedup();
        kinds.join(", ")
    }

    /// Reads, compiles (or loads from the cache) and verifies one module.
    pub fn load(&self, spec: &ModuleSpec) -> Result<LoadedModule, LoadError> {
        let name = spec.name.clone();
        let requested = match &spec.kind {
            Some(k) => Some(*self.world(k).ok_or_else(|| LoadError::UnknownKind {
                module: name.clone(),
                kind: k.clone(),
                known: self.known_kinds(),
            })?),
            None => None,
        };
        let owned;
        let mut identity = None;
        let bytes: &[u8] = match &spec.source {
            Source::File(path) => {
                // taken before the read: see `ComponentCache::compile_file`
                identity = crate::cache::FileIdentity::of(path);
                if !path.exists() {
                    return Err(LoadError::MissingFile {
                        module: name,
                        path: path.clone(),
                        origin: spec.origin.clone(),
                    });
                }
                owned = std::fs::read(path).map_err(|e| LoadError::ReadFile {
                    module: name.clone(),
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                &owned
            }
            Source::Builtin(lib) => self.builtins.get(lib).ok_or_else(|| {
                let names = self.builtins.names();
                LoadError::UnknownBuiltin {
                    module: name.clone(),
                    library: lib.clone(),
                    available: names.join(", "),
                    hint: closest(lib, &names)
                        .map(|n| format!("; did you mean '{n}'?"))
                        .unwrap_or_default(),
                }
            })?,
        };
        let path = spec.source.to_string();
        match classify_binary(bytes) {
            Binary::Component => {}
            Binary::CoreModule => return Err(LoadError::CoreModule { module: name, path }),
            Binary::NotWasm => return Err(LoadError::NotWasm { module: name, path }),
        }
        let engine = engine()?;
        let compiled = match &spec.source {
            Source::File(file) => self.cache.compile_file(engine, file, identity, bytes),
            Source::Builtin(_) => self.cache.compile(engine, bytes),
        }
        .map_err(|e| LoadError::Compile {
            module: name.clone(),
            path: path.clone(),
            message: format!("{e:#}"),
        })?;
        let summary = summarize(engine, &compiled.component);
        let world = match requested {
            // a kind served at several versions: the one the component implements
            Some(w) => {
                let served: Vec<&WorldSpec> =
                    self.worlds.iter().filter(|v| v.kind == w.kind).collect();
                if let Some(v) = served.iter().find(|v| missing(&summary, v, &[]).is_none()) {
                    **v
                } else if let Some((missing, hint)) = missing(&summary, &w, self.worlds) {
                    let expected: Vec<String> = served.iter().map(|v| v.world_name()).collect();
                    return Err(LoadError::WrongWorld {
                        module: name,
                        path,
                        expected: expected.join("' or '"),
                        missing,
                        hint,
                    });
                } else {
                    w
                }
            }
            None => match implemented(&summary, self.worlds).first() {
                Some(w) => **w,
                None => {
                    return Err(LoadError::NoKnownWorld {
                        module: name,
                        path,
                        exports: if summary.exports.is_empty() {
                            "nothing".into()
                        } else {
                            summary.exports.join(", ")
                        },
                    });
                }
            },
        };
        let memory_limit = spec.settings.memory_limit.unwrap_or(world.default_memory);
        if !(1 << 20..=MAX_MEMORY_LIMIT).contains(&memory_limit) {
            return Err(LoadError::Settings {
                module: name,
                setting: format!(
                    "memory_limit of {memory_limit} bytes is outside 1MB..{}MB",
                    MAX_MEMORY_LIMIT >> 20
                ),
            });
        }
        let deadline = spec.settings.deadline.unwrap_or(world.default_deadline);
        for g in &spec.settings.grants {
            if !g.host_path.is_dir() {
                return Err(LoadError::Settings {
                    module: name,
                    setting: format!(
                        "granted directory {} does not exist or is not a directory",
                        g.host_path.display()
                    ),
                });
            }
        }
        Ok(LoadedModule {
            spec: spec.clone(),
            world,
            component: compiled.component,
            summary,
            sha256: compiled.sha256,
            cache: compiled.outcome,
            compile_time: compiled.elapsed,
            memory_limit,
            deadline,
            counters: Arc::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn suggests_close_names() {
        assert_eq!(
            super::closest("hook-lables", &["hook-labels", "hook-env"]),
            Some("hook-labels")
        );
        assert_eq!(super::closest("allocator-xyz123", &["hook-labels"]), None);
    }
}
