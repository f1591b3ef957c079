//! The Python and JavaScript example modules (`examples/python/*`, `examples/js/*`), built by the
//! test suite with the languages' own tool chains, installed on first use under `target/`:
//! componentize-py 0.25.1 (PyPI) in `target/guest-tools/py`, componentize-js 0.23.0 (npm) in
//! `target/guest-tools/js`. A built component is kept in `target/guest-modules/` with a stamp
//! of what it was built from (the sources, the WIT, the tool version), so later runs reuse it;
//! and it is compiled once into the compiled-module cache `target/guest-modules/compiled`, which
//! every daemon the tests start reads (`MESETA_MODULE_CACHE`): a Python or JavaScript component
//! takes seconds to compile and milliseconds to load from there. Tests in several processes
//! share all of it through one file lock.

use std::fs::File;
use std::hash::{DefaultHasher, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::daemons::{Failure, workspace_binary, workspace_root};
use crate::prereqs::say;

/// componentize-py, from PyPI.
pub const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";
/// componentize-js, from npm (its own CLI: jco 1.35's `componentize` fails to read a WIT
/// directory with `deps/` here, "failed to get path metadata").
pub const COMPONENTIZE_JS: &str = "@bytecodealliance/componentize-js@0.23.0";

/// A guest language other than Rust.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Python,
    Js,
}

impl Lang {
    fn dir(self) -> &'static str {
        match self {
            Lang::Python => "python",
            Lang::Js => "js",
        }
    }
}

/// One example module: `examples/<lang>/<name>`, implementing `world` of the WIT package
/// directory `package` (under `wit/`).
#[derive(Clone, Copy, Debug)]
pub struct Guest {
    pub lang: Lang,
    pub name: &'static str,
    /// The module kind, as a manifest names it.
    pub kind: &'static str,
}

impl Guest {
    pub const fn new(lang: Lang, name: &'static str, kind: &'static str) -> Guest {
        Guest { lang, name, kind }
    }

    fn world(&self) -> &'static str {
        self.kind
    }

    fn package(&self) -> &'static str {
        if self.kind == "allocator" {
            "meseta-allocator-0.2.0"
        } else {
            "meseta-hooks-0.2.0"
        }
    }

    pub fn source_dir(&self) -> PathBuf {
        workspace_root()
            .join("examples")
            .join(self.lang.dir())
            .join(self.name)
    }

    /// `target/guest-modules/<lang>-<name>.wasm`.
    pub fn wasm(&self) -> PathBuf {
        guest_dir().join(format!("{}-{}.wasm", self.lang.dir(), self.name))
    }
}

pub const PY_ALLOCATOR: Guest = Guest::new(Lang::Python, "allocator-share", "allocator");
pub const PY_HOOK: Guest = Guest::new(Lang::Python, "hook-env", "agent-hooks");
pub const JS_ALLOCATOR: Guest = Guest::new(Lang::Js, "allocator-share", "allocator");
pub const JS_HOOK: Guest = Guest::new(Lang::Js, "hook-labels", "master-hooks");
pub const PY_LABELS: Guest = Guest::new(Lang::Python, "hook-labels", "master-hooks");
pub const JS_ENV: Guest = Guest::new(Lang::Js, "hook-env", "agent-hooks");
/// Every example, for the test that builds them all.
pub const ALL: [Guest; 6] = [
    PY_ALLOCATOR,
    PY_HOOK,
    PY_LABELS,
    JS_ALLOCATOR,
    JS_HOOK,
    JS_ENV,
];

fn guest_dir() -> PathBuf {
    workspace_root().join("target/guest-modules")
}

/// The compiled-module cache the guests are compiled into: give it to daemons as
/// `MESETA_MODULE_CACHE`.
pub fn module_cache() -> PathBuf {
    guest_dir().join("compiled")
}

/// `("MESETA_MODULE_CACHE", <module_cache>)`, for `Daemon::spawn_env`.
pub fn cache_env() -> (&'static str, String) {
    (
        "MESETA_MODULE_CACHE",
        module_cache().to_string_lossy().into_owned(),
    )
}

/// Builds `guest` unless its component is up to date, and compiles it into [`module_cache`];
/// returns the component's path.
pub fn build(guest: Guest) -> Result<PathBuf, Failure> {
    // one build at a time in this process; the file lock covers other processes
    static ONE: Mutex<()> = Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = guest_dir();
    std::fs::create_dir_all(&dir)
        .map_err(|e| Failure(format!("cannot create {}: {e}", dir.display())))?;
    let lock_path = dir.join(".lock");
    let lock = File::create(&lock_path)
        .map_err(|e| Failure(format!("cannot create {}: {e}", lock_path.display())))?;
    lock.lock()
        .map_err(|e| Failure(format!("cannot lock {}: {e}", lock_path.display())))?;

    let wasm = guest.wasm();
    let stamp_path = wasm.with_extension("stamp");
    let stamp = stamp(&guest)?;
    let fresh =
        wasm.is_file() && std::fs::read_to_string(&stamp_path).is_ok_and(|s| s.trim() == stamp);
    if !fresh {
        let started = std::time::Instant::now();
        let work = dir.join(format!("build-{}-{}", guest.lang.dir(), guest.name));
        let _ = std::fs::remove_dir_all(&work);
        copy_dir(&guest.source_dir(), &work)?;
        assemble_wit(&guest, &work.join("wit"))?;
        let tmp = wasm.with_extension("wasm.tmp");
        let mut cmd = match guest.lang {
            Lang::Python => {
                let mut c = Command::new(python_tools()?.join("bin/componentize-py"));
                c.args([
                    "-d",
                    "wit",
                    "-w",
                    guest.world(),
                    "componentize",
                    "app",
                    "-o",
                ])
                .arg(&tmp);
                c
            }
            Lang::Js => {
                let mut c = Command::new(js_tools()?.join("node_modules/.bin/componentize-js"));
                c.args(["app.js", "--wit", "wit", "--world-name", guest.world()])
                    .args(["--disable", "http", "fetch-event", "--out"])
                    .arg(&tmp);
                c
            }
        };
        run(
            cmd.current_dir(&work),
            &format!("building {}", wasm.display()),
        )?;
        std::fs::rename(&tmp, &wasm)
            .map_err(|e| Failure(format!("cannot rename {}: {e}", tmp.display())))?;
        std::fs::write(&stamp_path, &stamp)
            .map_err(|e| Failure(format!("cannot write {}: {e}", stamp_path.display())))?;
        let _ = std::fs::remove_dir_all(&work);
        say(&format!(
            "built {} in {:.0} s",
            wasm.display(),
            started.elapsed().as_secs_f64()
        ));
    }
    // compile into the cache (a hit returns at once): daemons then load it in milliseconds
    let meseta = workspace_binary("meseta", "meseta-cli")?;
    let (key, cache) = cache_env();
    let out = run(
        Command::new(meseta)
            .args(["module", "check"])
            .arg(&wasm)
            .args(["--kind", guest.kind])
            .env(key, cache),
        &format!("meseta module check {}", wasm.display()),
    )?;
    // the compiled form of this guest's previous build (35 MB) is of no further use
    let sha_path = wasm.with_extension("sha256");
    let sha = out
        .split_once("sha256 ")
        .map(|(_, rest)| {
            rest.chars()
                .take_while(char::is_ascii_hexdigit)
                .collect::<String>()
        })
        .unwrap_or_default();
    if let Ok(old) = std::fs::read_to_string(&sha_path)
        && old.len() == 64
        && old != sha
        && let Ok(entries) = std::fs::read_dir(module_cache())
    {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&old) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    if sha.len() == 64 {
        let _ = std::fs::write(&sha_path, &sha);
    }
    Ok(wasm)
}

/// What the component is built from: the example's files, the WIT, the tool's version.
fn stamp(guest: &Guest) -> Result<String, Failure> {
    let root = workspace_root();
    let mut files = Vec::new();
    list_files(&guest.source_dir(), &mut files)?;
    list_files(&root.join("wit").join(guest.package()), &mut files)?;
    list_files(&root.join("wit/meseta-modules-0.1.0"), &mut files)?;
    files.sort();
    let mut h = DefaultHasher::new();
    h.write(COMPONENTIZE_PY.as_bytes());
    h.write(COMPONENTIZE_JS.as_bytes());
    h.write(guest.kind.as_bytes());
    for f in files {
        let bytes =
            std::fs::read(&f).map_err(|e| Failure(format!("cannot read {}: {e}", f.display())))?;
        h.write(f.to_string_lossy().as_bytes());
        h.write(&bytes);
    }
    Ok(format!("{:016x}", h.finish()))
}

fn list_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), Failure> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Failure(format!("cannot read {}: {e}", dir.display())))?;
    for entry in entries {
        let path = entry
            .map_err(|e| Failure(format!("cannot read {}: {e}", dir.display())))?
            .path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') || name == "__pycache__" || name == "node_modules" {
            continue;
        }
        if path.is_dir() {
            list_files(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), Failure> {
    let mut files = Vec::new();
    list_files(from, &mut files)?;
    for f in files {
        let rel = f.strip_prefix(from).unwrap_or(&f);
        let dest = to.join(rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Failure(format!("cannot create {}: {e}", parent.display())))?;
        }
        std::fs::copy(&f, &dest)
            .map_err(|e| Failure(format!("cannot copy {}: {e}", f.display())))?;
    }
    Ok(())
}

/// The layout both tool chains read (what `meseta module wit --kind KIND --out wit` writes): the
/// world's package at the top, `meseta:modules@0.1.0` under `deps/`.
fn assemble_wit(guest: &Guest, wit: &Path) -> Result<(), Failure> {
    let root = workspace_root().join("wit");
    copy_dir(&root.join(guest.package()), wit)?;
    copy_dir(
        &root.join("meseta-modules-0.1.0"),
        &wit.join("deps/meseta-modules-0.1.0"),
    )
}

/// Runs `cmd`; its stdout, or a failure with both outputs.
fn run(cmd: &mut Command, what: &str) -> Result<String, Failure> {
    let out = cmd
        .output()
        .map_err(|e| Failure(format!("{what}: cannot run {:?}: {e}", cmd.get_program())))?;
    if !out.status.success() {
        return Err(Failure(format!(
            "{what} failed ({})\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A venv with componentize-py: `target/guest-tools/py`, made on first use (under a minute).
pub fn python_tools() -> Result<PathBuf, Failure> {
    let venv = workspace_root().join("target/guest-tools/py");
    let tool = venv.join("bin/componentize-py");
    let ready = Command::new(&tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("0.25.1"));
    if !ready {
        say(&format!(
            "installing {COMPONENTIZE_PY} into {} for the Python modules (first use: pip)",
            venv.display()
        ));
        run(
            Command::new("python3").arg("-m").arg("venv").arg(&venv),
            "python3 -m venv (Debian: apt-get install python3-venv)",
        )?;
        run(
            Command::new(venv.join("bin/pip")).args(["install", "-q", COMPONENTIZE_PY]),
            &format!("pip install {COMPONENTIZE_PY}"),
        )?;
    }
    Ok(venv)
}

/// An npm prefix with componentize-js: `target/guest-tools/js`, made on first use (about a
/// minute; 380 MB).
pub fn js_tools() -> Result<PathBuf, Failure> {
    let prefix = workspace_root().join("target/guest-tools/js");
    let tool = prefix.join("node_modules/.bin/componentize-js");
    let ready = Command::new(&tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("0.23.0"));
    if !ready {
        say(&format!(
            "installing {COMPONENTIZE_JS} into {} for the JavaScript modules (first use: npm)",
            prefix.display()
        ));
        std::fs::create_dir_all(&prefix)
            .map_err(|e| Failure(format!("cannot create {}: {e}", prefix.display())))?;
        run(
            Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--prefix"])
                .arg(&prefix)
                .arg(COMPONENTIZE_JS),
            &format!("npm install {COMPONENTIZE_JS} (Node 20 or later)"),
        )?;
    }
    Ok(prefix)
}
