//! Module manifests in Mesos' `--modules` / `--modules_dir` JSON format, plus Meseta's own
//! per-module settings (kind, memory limit, deadline, failure policy, grants).
//!
//! Parsing is as lenient as Mesos where Mesos is lenient (a single object where a list is
//! expected, `null` for an absent field, the trailing comma of the first example in Mesos' docs)
//! and strict everywhere else: an unknown field is an error that names it, so a typo never
//! silently drops a setting.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::error::LoadError;

/// Where a module's component comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A `.wasm` component on disk (`file`).
    File(PathBuf),
    /// A component built into the binary, named by the library's `name` (Mesos' library search).
    Builtin(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Builtin(n) => write!(f, "built-in '{n}'"),
        }
    }
}

/// What the daemon does when a module faults (trap, deadline, memory cap, invalid output).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FailurePolicy {
    /// The failed call is answered by the kind's built-in default; the next call gets a fresh
    /// instance.
    #[default]
    Fallback,
    /// The failed call returns an error to the daemon, which refuses what the call guarded.
    FailClosed,
    /// Like `fail-closed`, and the module is quarantined with exponential backoff before a fresh
    /// instance is tried.
    Reload,
}

impl FailurePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            FailurePolicy::Fallback => "fallback",
            FailurePolicy::FailClosed => "fail-closed",
            FailurePolicy::Reload => "reload",
        }
    }
}

/// A directory the module may see through WASI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub host_path: PathBuf,
    pub guest_path: String,
    pub read_only: bool,
}

/// Meseta's per-module sandbox settings. `None` means "the kind's default".
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Settings {
    pub memory_limit: Option<u64>,
    pub deadline: Option<Duration>,
    pub failure_policy: FailurePolicy,
    pub grants: Vec<Grant>,
}

/// One module of a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleSpec {
    pub name: String,
    pub source: Source,
    /// The module kind (world) it must implement; inferred from its exports when absent.
    pub kind: Option<String>,
    pub parameters: Vec<(String, String)>,
    pub settings: Settings,
    /// Where the module was declared, for error messages.
    pub origin: String,
}

/// Every module an operator listed, in load order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub modules: Vec<ModuleSpec>,
}

impl Manifest {
    /// Reads `--modules` (a path, a `file://` URI or inline JSON) or `--modules_dir`.
    /// Giving both is an error, as in Mesos.
    pub fn from_flags(
        modules: Option<&str>,
        modules_dir: Option<&Path>,
    ) -> Result<Manifest, LoadError> {
        match (modules, modules_dir) {
            (Some(_), Some(_)) => Err(LoadError::BothModuleFlags),
            (Some(m), None) => Manifest::from_modules_flag(m),
            (None, Some(d)) => Manifest::from_dir(d),
            (None, None) => Ok(Manifest::default()),
        }
    }

    /// `--modules`: inline JSON when it starts with `{`, else a path or `file://` URI.
    pub fn from_modules_flag(value: &str) -> Result<Manifest, LoadError> {
        let trimmed = value.trim_start();
        if trimmed.starts_with('{') {
            let cwd = std::env::current_dir().unwrap_or_default();
            return Manifest::parse(trimmed, "inline --modules JSON", &cwd);
        }
        let path = value.strip_prefix("file://").unwrap_or(value);
        Manifest::from_file(Path::new(path))
    }

    pub fn from_file(path: &Path) -> Result<Manifest, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|e| LoadError::ManifestRead {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let base = if base.as_os_str().is_empty() {
            std::env::current_dir().unwrap_or_default()
        } else {
            base
        };
        Manifest::parse(&text, &path.display().to_string(), &base)
    }

    /// `--modules_dir`: every regular file in the directory, in alphabetical order.
    pub fn from_dir(dir: &Path) -> Result<Manifest, LoadError> {
        let read_err = |e: std::io::Error| LoadError::ModulesDirRead {
            path: dir.to_path_buf(),
            message: e.to_string(),
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(read_err)? {
            let entry = entry.map_err(read_err)?;
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if !hidden && entry.path().is_file() {
                files.push(entry.path());
            }
        }
        files.sort();
        let mut manifest = Manifest::default();
        for file in files {
            manifest.merge(Manifest::from_file(&file)?)?;
        }
        Ok(manifest)
    }

    /// Parses manifest text. Relative `file` paths are resolved against `base`.
    pub fn parse(text: &str, origin: &str, base: &Path) -> Result<Manifest, LoadError> {
        let cleaned = strip_trailing_commas(text);
        let root: Value = serde_json::from_str(&cleaned).map_err(|e| LoadError::ManifestParse {
            origin: origin.to_string(),
            message: format!("not valid JSON: {e}"),
        })?;
        let err = |path: &str, message: String| LoadError::ManifestParse {
            origin: origin.to_string(),
            message: format!("{path}: {message}"),
        };
        let root = object(&root, "manifest").map_err(|m| err("manifest", m))?;
        check_fields(root, &["libraries"]).map_err(|m| err("manifest", m))?;
        let mut manifest = Manifest::default();
        let libraries = array(root.get("libraries")).map_err(|m| err("libraries", m))?;
        for (li, lib) in libraries.into_iter().enumerate() {
            let at = format!("libraries[{li}]");
            let lib = object(lib, &at).map_err(|m| err(&at, m))?;
            check_fields(lib, &["file", "name", "modules"]).map_err(|m| err(&at, m))?;
            let file = string(lib.get("file")).map_err(|m| err(&format!("{at}.file"), m))?;
            let lib_name = string(lib.get("name")).map_err(|m| err(&format!("{at}.name"), m))?;
            let source = match (file, lib_name) {
                (Some(f), _) => {
                    let f = f.strip_prefix("file://").unwrap_or(&f);
                    let p = Path::new(f);
                    Source::File(normalize(&base.join(p)))
                }
                (None, Some(n)) => Source::Builtin(n),
                (None, None) => {
                    return Err(err(
                        &at,
                        "has neither \"file\" (the path of a .wasm component) nor \"name\" (a built-in module library)".into(),
                    ));
                }
            };
            let modules =
                array(lib.get("modules")).map_err(|m| err(&format!("{at}.modules"), m))?;
            if modules.is_empty() {
                return Err(err(&at, "lists no \"modules\"".into()));
            }
            for (mi, m) in modules.into_iter().enumerate() {
                let at = format!("{at}.modules[{mi}]");
                let spec = parse_module(m, &at, &source, origin, base).map_err(|m| err(&at, m))?;
                manifest.push(spec)?;
            }
        }
        Ok(manifest)
    }

    /// Appends the modules of `other`, with the duplicate-name rules of `push`.
    pub fn merge(&mut self, other: Manifest) -> Result<(), LoadError> {
        for m in other.modules {
            self.push(m)?;
        }
        Ok(())
    }

    /// Adds a module. A name seen before is allowed only for an identical definition (Mesos'
    /// rule); it is then loaded once.
    pub fn push(&mut self, spec: ModuleSpec) -> Result<(), LoadError> {
        if let Some(existing) = self.modules.iter().find(|m| m.name == spec.name) {
            let same = ModuleSpec {
                origin: existing.origin.clone(),
                ..spec.clone()
            };
            if *existing == same {
                return Ok(());
            }
            return Err(LoadError::DuplicateModule {
                name: spec.name,
                first: existing.origin.clone(),
                second: spec.origin,
            });
        }
        self.modules.push(spec);
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&ModuleSpec> {
        self.modules.iter().find(|m| m.name == name)
    }
}

fn parse_module(
    m: &Value,
    at: &str,
    source: &Source,
    origin: &str,
    base: &Path,
) -> Result<ModuleSpec, String> {
    let m = object(m, at)?;
    check_fields(
        m,
        &[
            "name",
            "parameters",
            "kind",
            "memory_limit",
            "deadline",
            "failure_policy",
            "grants",
        ],
    )?;
    let name = string(m.get("name"))?.ok_or("has no \"name\"")?;
    if name.is_empty() {
        return Err("has an empty \"name\"".into());
    }
    let mut parameters = Vec::new();
    let given = array(m.get("parameters")).map_err(|e| format!("parameters: {e}"))?;
    for (pi, p) in given.into_iter().enumerate() {
        let p = object(p, "parameter").map_err(|e| format!("parameters[{pi}]: {e}"))?;
        check_fields(p, &["key", "value"]).map_err(|e| format!("parameters[{pi}]: {e}"))?;
        let key = string(p.get("key"))
            .map_err(|e| format!("parameters[{pi}].key: {e}"))?
            .ok_or_else(|| format!("parameters[{pi}] has no \"key\""))?;
        let value = string(p.get("value"))
            .map_err(|e| format!("parameters[{pi}].value: {e}"))?
            .ok_or_else(|| format!("parameters[{pi}] (key \"{key}\") has no \"value\""))?;
        parameters.push((key, value));
    }
    let kind = string(m.get("kind")).map_err(|e| format!("kind: {e}"))?;
    let memory_limit =
        match string(m.get("memory_limit")).map_err(|e| format!("memory_limit: {e}"))? {
            Some(s) => Some(parse_bytes(&s).map_err(|e| format!("memory_limit: {e}"))?),
            None => None,
        };
    let deadline = match string(m.get("deadline")).map_err(|e| format!("deadline: {e}"))? {
        Some(s) => Some(parse_duration(&s).map_err(|e| format!("deadline: {e}"))?),
        None => None,
    };
    let failure_policy = match string(m.get("failure_policy"))
        .map_err(|e| format!("failure_policy: {e}"))?
    {
        None => FailurePolicy::default(),
        Some(s) => match s.as_str() {
            "fallback" => FailurePolicy::Fallback,
            "fail-closed" | "fail_closed" => FailurePolicy::FailClosed,
            "reload" => FailurePolicy::Reload,
            other => {
                return Err(format!(
                    "failure_policy \"{other}\" is not one of \"fallback\", \"fail-closed\", \"reload\""
                ));
            }
        },
    };
    let mut grants = Vec::new();
    let given = array(m.get("grants")).map_err(|e| format!("grants: {e}"))?;
    for (gi, g) in given.into_iter().enumerate() {
        let g = object(g, "grant").map_err(|e| format!("grants[{gi}]: {e}"))?;
        check_fields(g, &["host_path", "guest_path", "read_only"])
            .map_err(|e| format!("grants[{gi}]: {e}"))?;
        let host = string(g.get("host_path"))
            .map_err(|e| format!("grants[{gi}].host_path: {e}"))?
            .ok_or_else(|| format!("grants[{gi}] has no \"host_path\""))?;
        let host = Path::new(&host);
        let host_path = normalize(&base.join(host));
        let guest_path = string(g.get("guest_path"))
            .map_err(|e| format!("grants[{gi}].guest_path: {e}"))?
            .unwrap_or_else(|| "/data".to_string());
        let read_only = match g.get("read_only") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(format!(
                    "grants[{gi}].read_only must be true or false, not {other}"
                ));
            }
        };
        grants.push(Grant {
            host_path,
            guest_path,
            read_only,
        });
    }
    Ok(ModuleSpec {
        name,
        source: source.clone(),
        kind,
        parameters,
        settings: Settings {
            memory_limit,
            deadline,
            failure_policy,
            grants,
        },
        origin: format!("{origin} ({at})"),
    })
}

/// Removes `.` and resolves `..` lexically (`examples/../target/x.wasm` is `target/x.wasm`), so
/// messages show the path an operator would write. Symlinks are not followed.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !matches!(
                    out.components().next_back(),
                    None | Some(Component::ParentDir) | Some(Component::RootDir)
                ) {
                    out.pop();
                } else if !out.has_root() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// A list of the manifest's structure (`libraries`, `modules`): absent or `null` is empty; a
/// single object is a one-element list (Mesos' JSON-to-protobuf reading accepts it); anything
/// else is an error saying an array is needed.
fn array(v: Option<&Value>) -> Result<Vec<&Value>, String> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items.iter().collect()),
        Some(obj @ Value::Object(_)) => Ok(vec![obj]),
        Some(other) => Err(format!("must be an array, not {}", kind_of(other))),
    }
}

fn object<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| format!("{what} must be a JSON object, not {}", kind_of(v)))
}

fn string(v: Option<&Value>) -> Result<Option<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(other) => Err(format!("must be a string, not {}", kind_of(other))),
    }
}

fn check_fields(obj: &Map<String, Value>, known: &[&str]) -> Result<(), String> {
    for key in obj.keys() {
        if !known.contains(&key.as_str()) {
            return Err(format!(
                "unknown field \"{key}\" (known fields: {})",
                known
                    .iter()
                    .map(|k| format!("\"{k}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok(())
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Removes commas that directly precede `}` or `]` outside strings (the first example manifest
/// in Mesos' docs has one).
fn strip_trailing_commas(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for (i, &c) in chars.iter().enumerate() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        if c == '"' {
            in_string = true;
        } else if c == ',' {
            let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
            if matches!(next, Some('}') | Some(']')) {
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// Splits `"64MB"` into `(64.0, "MB")`.
fn number_and_unit(text: &str) -> Option<(f64, &str)> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    Some((num.parse().ok()?, unit.trim()))
}

/// Parses Mesos' byte sizes: `64MB`, `1GB`, `512KB`, `1024B`, or a plain number of bytes.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let (value, unit) = number_and_unit(text)
        .ok_or_else(|| format!("\"{text}\" is not a size such as \"64MB\" or \"1GB\""))?;
    let scale: u64 = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "KB" | "KIB" => 1 << 10,
        "MB" | "MIB" => 1 << 20,
        "GB" | "GIB" => 1 << 30,
        "TB" | "TIB" => 1 << 40,
        other => {
            return Err(format!(
                "\"{text}\" has an unknown unit \"{other}\" (use B, KB, MB, GB)"
            ));
        }
    };
    let bytes = value * scale as f64;
    // `as` would saturate: a size beyond u64 is an error, not 16 EiB
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("\"{text}\" is too large a size"));
    }
    Ok(bytes as u64)
}

/// Parses Mesos' durations: `100ms`, `5secs`, `2mins`, `1hrs`, `250us`, `10ns`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (value, unit) = number_and_unit(text)
        .ok_or_else(|| format!("\"{text}\" is not a duration such as \"100ms\" or \"5secs\""))?;
    let secs = match unit {
        "ns" | "nsecs" => value / 1e9,
        "us" | "usecs" => value / 1e6,
        "ms" | "msecs" => value / 1e3,
        "s" | "secs" | "sec" => value,
        "mins" | "min" => value * 60.0,
        "hrs" | "hr" => value * 3600.0,
        "days" | "day" => value * 86_400.0,
        "weeks" | "week" => value * 604_800.0,
        other => {
            return Err(format!(
                "\"{text}\" has an unknown unit \"{other}\" (use ns, us, ms, secs, mins, hrs, \
                 days, weeks)"
            ));
        }
    };
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!("\"{text}\" must be a positive duration"));
    }
    // `Duration::from_secs_f64` panics beyond u64::MAX seconds
    Duration::try_from_secs_f64(secs).map_err(|_| format!("\"{text}\" is too long a duration"))
}

#[cfg(test)]
mod tests {
    use super::normalize;
    use std::path::{Path, PathBuf};

    #[test]
    fn paths_are_normalized_lexically() {
        assert_eq!(
            normalize(Path::new("examples/../target/m.wasm")),
            PathBuf::from("target/m.wasm")
        );
        assert_eq!(
            normalize(Path::new("/etc/meseta/./a/../b.wasm")),
            PathBuf::from("/etc/meseta/b.wasm")
        );
        assert_eq!(
            normalize(Path::new("../x/../../y")),
            PathBuf::from("../../y")
        );
        assert_eq!(normalize(Path::new("/../y")), PathBuf::from("/y"));
    }
}
