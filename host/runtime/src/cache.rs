//! The compiled-module cache: precompiled components on disk, keyed by the component's content
//! hash and the engine's compatibility hash, so a restart does not recompile.
//!
//! Only artifacts this cache wrote are ever deserialized: files are created in a directory the
//! cache owns, named by the hash of the exact bytes they were compiled from, and written through
//! a temporary file and a rename so a crash never leaves a partial artifact under a real name.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where compiled modules are kept. `None` disables the cache.
#[derive(Clone, Debug, Default)]
pub struct ComponentCache {
    dir: Option<PathBuf>,
}

/// How a component was obtained, for `module inspect` and the cold-start benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    Hit,
    Compiled,
    Disabled,
}

#[derive(Clone, Debug)]
pub struct Compiled {
    pub component: Component,
    pub outcome: CacheOutcome,
    pub elapsed: Duration,
    pub sha256: String,
}

impl ComponentCache {
    pub fn disabled() -> Self {
        ComponentCache { dir: None }
    }

    pub fn at(dir: impl Into<PathBuf>) -> Self {
        ComponentCache {
            dir: Some(dir.into()),
        }
    }

    /// `$MESETA_MODULE_CACHE`, else `$XDG_CACHE_HOME/meseta/modules`, else
    /// `$HOME/.cache/meseta/modules`.
    pub fn default_location() -> Self {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let dir = env("MESETA_MODULE_CACHE")
            .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("meseta").join("modules")))
            .or_else(|| env("HOME").map(|d| d.join(".cache").join("meseta").join("modules")));
        ComponentCache { dir }
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Compiles `bytes`, or loads the artifact compiled from the same bytes by an engine with the
    /// same configuration. Cache IO problems never fail a load: they fall back to compiling.
    pub fn compile(&self, engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Compiled> {
        let start = Instant::now();
        let sha256 = hex(&Sha256::digest(bytes));
        let Some(dir) = &self.dir else {
            let component = Component::new(engine, bytes)?;
            return Ok(Compiled {
                component,
                outcome: CacheOutcome::Disabled,
                elapsed: start.elapsed(),
                sha256,
            });
        };
        let path = dir.join(format!("{sha256}-{}.cwasm", engine_key(engine)));
        if path.is_file() {
            // SAFETY: the file is in the cache's own directory, named by the hash of the bytes it
            // was compiled from and the engine's compatibility hash, and was written atomically by
            // `store` below; wasmtime still checks its header and engine compatibility.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => {
                    return Ok(Compiled {
                        component,
                        outcome: CacheOutcome::Hit,
                        elapsed: start.elapsed(),
                        sha256,
                    });
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "discarding unusable compiled module");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Err(e) = store(dir, &path, &component) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot write the compiled-module cache; continuing without it");
        }
        Ok(Compiled {
            component,
            outcome: CacheOutcome::Compiled,
            elapsed: start.elapsed(),
            sha256,
        })
    }
}

/// What identifies a file's content without reading it: device, inode, size, modification and
/// status-change times (nanoseconds), and the path. A file written again gets new times (the
/// status-change time cannot be set back), so an unchanged identity means unchanged bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileIdentity(String);

impl FileIdentity {
    /// `None` where the platform or the file system gives no such identity.
    pub fn of(path: &Path) -> Option<FileIdentity> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let m = std::fs::metadata(path).ok()?;
            let path = path.canonicalize().ok()?;
            Some(FileIdentity(format!(
                "{}:{}:{}:{}.{}:{}.{}:{}",
                m.dev(),
                m.ino(),
                m.size(),
                m.mtime(),
                m.mtime_nsec(),
                m.ctime(),
                m.ctime_nsec(),
                path.display()
            )))
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            None
        }
    }
}

impl ComponentCache {
    /// [`ComponentCache::compile`] for the bytes of the file at `path`, read after `identity`
    /// was taken: a file loaded before with the same identity is not hashed again (hashing a
    /// Python or JavaScript component, 12-18 MB, is most of a start from the cache). The cache
    /// remembers the content hash of a file only when its identity did not change while it was
    /// read and hashed; what it then loads is still only an artifact it compiled itself.
    pub fn compile_file(
        &self,
        engine: &Engine,
        path: &Path,
        identity: Option<FileIdentity>,
        bytes: &[u8],
    ) -> wasmtime::Result<Compiled> {
        let (Some(dir), Some(identity)) = (&self.dir, identity) else {
            return self.compile(engine, bytes);
        };
        let start = Instant::now();
        let memo = dir.join(format!(
            "{}.file",
            &hex(&Sha256::digest(identity.0.as_bytes()))[..32]
        ));
        if let Ok(sha256) = std::fs::read_to_string(&memo)
            && sha256.len() == 64
            && sha256.bytes().all(|b| b.is_ascii_hexdigit())
        {
            let artifact = dir.join(format!("{sha256}-{}.cwasm", engine_key(engine)));
            if artifact.is_file() {
                // SAFETY: as in `compile`: an artifact this cache wrote, named by the hash of
                // the bytes it was compiled from; wasmtime checks its header and engine.
                if let Ok(component) = unsafe { Component::deserialize_file(engine, &artifact) } {
                    return Ok(Compiled {
                        component,
                        outcome: CacheOutcome::Hit,
                        elapsed: start.elapsed(),
                        sha256,
                    });
                }
            }
        }
        let compiled = self.compile(engine, bytes)?;
        if compiled.outcome != CacheOutcome::Disabled
            && FileIdentity::of(path).as_ref() == Some(&identity)
        {
            let tmp = dir.join(format!(
                ".tmp-{}-{:?}-{}",
                std::process::id(),
                std::thread::current().id(),
                memo.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            ));
            let written =
                std::fs::write(&tmp, &compiled.sha256).and_then(|()| std::fs::rename(&tmp, &memo));
            if let Err(e) = written {
                tracing::debug!(path = %memo.display(), error = %e, "cannot remember a module file's hash");
            }
        }
        Ok(compiled)
    }
}

fn store(dir: &Path, path: &Path, component: &Component) -> std::io::Result<()> {
    // Only this user may add artifacts: the cache deserializes what it finds here.
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)?;
    let bytes = component
        .serialize()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let tmp = dir.join(format!(
        ".tmp-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// A stable hex digest of the engine's compatibility hash.
fn engine_key(engine: &Engine) -> String {
    struct ShaHasher(Sha256);
    impl Hasher for ShaHasher {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut h = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut h);
    hex(&h.0.finalize())[..16].to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
