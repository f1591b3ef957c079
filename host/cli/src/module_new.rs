//! `meseta module wit` (the contract of a module kind, as the guest tool chains read it) and
//! `meseta module new` (a project in Rust, Python or JavaScript that builds as generated).
//!
//! The WIT and the templates are compiled into the binary: the WIT from `wit/`, the Python and
//! JavaScript templates from the examples the test suite builds and runs in a cluster
//! (`examples/python`, `examples/js`), the Rust hooks from the shipped `hook-labels` and
//! `hook-env`, the Rust allocator and the project files from `host/cli/templates/rust`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// A WIT package directory: its name under `wit/` and its files.
struct Package {
    dir: &'static str,
    files: &'static [(&'static str, &'static str)],
}

macro_rules! wit {
    ($dir:literal, [$($file:literal),*]) => {
        Package {
            dir: $dir,
            files: &[$(($file, include_str!(concat!("../../../wit/", $dir, "/", $file)))),*],
        }
    };
}

const MODULES: Package = wit!(
    "meseta-modules-0.1.0",
    [
        "types.wit",
        "allocator.wit",
        "hooks.wit",
        "isolator.wit",
        "oversubscription.wit"
    ]
);
const HOOKS: Package = wit!("meseta-hooks-0.2.0", ["hooks.wit"]);
const ALLOCATOR: Package = wit!("meseta-allocator-0.3.0", ["allocator.wit"]);
/// The allocator's previous version, which the Python and JavaScript templates (the examples
/// `allocator-share`) implement; the host serves it too.
const ALLOCATOR_V2: Package = wit!("meseta-allocator-0.2.0", ["allocator.wit"]);
const AUTHORIZER: Package = wit!("meseta-authorizer-0.1.0", ["authorizer.wit"]);

/// The kinds, each with the package of its newest world (whose world has the kind's name).
const KINDS: &[(&str, &Package)] = &[
    ("allocator", &ALLOCATOR),
    ("master-hooks", &HOOKS),
    ("agent-hooks", &HOOKS),
    ("isolator", &MODULES),
    ("resource-estimator", &MODULES),
    ("qos-controller", &MODULES),
    ("authorizer", &AUTHORIZER),
];

fn package_of(kind: &str) -> Result<&'static Package, String> {
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, p)| *p)
        .ok_or_else(|| {
            let known: Vec<&str> = KINDS.iter().map(|(k, _)| *k).collect();
            format!("unknown kind '{kind}': use one of {}", known.join(", "))
        })
}

/// The WIT a guest of `kind` builds against, as `(relative path, text)`: the kind's package at
/// the top, `meseta:modules@0.1.0` (which it uses) under `deps/`.
fn wit_files(kind: &str) -> Result<Vec<(String, &'static str)>, String> {
    Ok(package_files(package_of(kind)?))
}

/// `package`'s files at the top, `meseta:modules@0.1.0` under `deps/`.
fn package_files(package: &'static Package) -> Vec<(String, &'static str)> {
    let mut files: Vec<(String, &'static str)> = package
        .files
        .iter()
        .map(|(f, text)| (f.to_string(), *text))
        .collect();
    if package.dir != MODULES.dir {
        files.extend(
            MODULES
                .files
                .iter()
                .map(|(f, text)| (format!("deps/{}/{f}", MODULES.dir), *text)),
        );
    }
    files
}

/// `meseta module wit --kind KIND [--out DIR]`.
pub fn wit(kind: &str, out: Option<&Path>) -> ExitCode {
    let files = match wit_files(kind) {
        Ok(files) => files,
        Err(e) => return fail(&e),
    };
    match out {
        Some(dir) => match write_files(dir, files.iter().map(|(p, t)| (p.clone(), *t))) {
            Ok(()) => {
                println!(
                    "wrote the {kind} world ({}) and its dependencies to {}",
                    package_of(kind).map(|p| p.dir).unwrap_or_default(),
                    dir.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        None => {
            println!(
                "// The `{kind}` world: build a guest against the first file, with the others \
                 in the layout `meseta module wit --kind {kind} --out wit` writes."
            );
            for (path, text) in files {
                println!("\n// ---- {path} ----\n{}", text.trim_end());
            }
            ExitCode::SUCCESS
        }
    }
}

fn write_files<'a>(
    dir: &Path,
    files: impl IntoIterator<Item = (String, &'a str)>,
) -> Result<(), String> {
    for (path, text) in files {
        let dest = dir.join(&path);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&dest, text).map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
    }
    Ok(())
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

/// The kinds `module new` has templates for.
const NEW_KINDS: &[&str] = &["allocator", "master-hooks", "agent-hooks"];

macro_rules! example {
    ($lang:literal, $name:literal, [$($file:literal),*]) => {
        &[$(($file, include_str!(concat!("../../../examples/", $lang, "/", $name, "/", $file)))),*]
    };
}

type Files = &'static [(&'static str, &'static str)];

/// The template of `lang` and `kind`: its files, and the manifest parameters of its example.
fn template(lang: Lang, kind: &str) -> (Files, &'static [(&'static str, &'static str)]) {
    let params: &[(&str, &str)] = match kind {
        "master-hooks" => &[("team", "platform")],
        "agent-hooks" => &[("DEPLOY_ENV", "staging")],
        _ => &[],
    };
    let files: Files = match (lang, kind) {
        (Lang::Python, "allocator") => example!(
            "python",
            "allocator-share",
            ["app.py", "policy.py", "test_policy.py"]
        ),
        (Lang::Python, "master-hooks") => example!(
            "python",
            "hook-labels",
            ["app.py", "policy.py", "test_policy.py"]
        ),
        (Lang::Python, _) => example!(
            "python",
            "hook-env",
            ["app.py", "policy.py", "test_policy.py"]
        ),
        (Lang::Js, "allocator") => example!(
            "js",
            "allocator-share",
            ["app.js", "policy.js", "policy.test.js"]
        ),
        (Lang::Js, "master-hooks") => {
            example!(
                "js",
                "hook-labels",
                ["app.js", "policy.js", "policy.test.js"]
            )
        }
        (Lang::Js, _) => example!("js", "hook-env", ["app.js", "policy.js", "policy.test.js"]),
        (Lang::Rust, "allocator") => {
            &[("src/lib.rs", include_str!("../templates/rust/allocator.rs"))]
        }
        // the shipped hook modules are the Rust hook templates, as they are
        (Lang::Rust, "master-hooks") => &[(
            "src/lib.rs",
            include_str!("../../../modules/hook-labels/src/lib.rs"),
        )],
        (Lang::Rust, _) => &[(
            "src/lib.rs",
            include_str!("../../../modules/hook-env/src/lib.rs"),
        )],
    };
    (files, params)
}

/// This binary's source tree (for the Rust template's path dependencies on `meseta-types` and
/// `meseta-sdk`), when it is still where the binary was built.
fn default_meseta_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    dir.join("modules/sdk/Cargo.toml")
        .is_file()
        .then(|| dir.canonicalize().unwrap_or(dir))
}

/// `meseta module new NAME --kind KIND --lang LANG [--dir DIR] [--meseta DIR]`.
pub fn new(
    name: &str,
    kind: &str,
    lang: Lang,
    dir: Option<&Path>,
    meseta: Option<&Path>,
) -> ExitCode {
    match create(name, kind, lang, dir, meseta) {
        Ok(dir) => {
            println!(
                "created {} ({lang:?} {kind} module); next: see {}/README.md",
                dir.display(),
                dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn create(
    name: &str,
    kind: &str,
    lang: Lang,
    dir: Option<&Path>,
    meseta: Option<&Path>,
) -> Result<PathBuf, String> {
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        return Err(format!(
            "'{name}' is not a module name: use lower-case letters, digits and '-', starting \
             with a letter (it names the package, the component file and the manifest entry)"
        ));
    }
    if !NEW_KINDS.contains(&kind) {
        package_of(kind)?;
        return Err(format!(
            "`module new` has templates for {}; for a {kind} module start from its contract: \
             meseta module wit --kind {kind} --out wit",
            NEW_KINDS.join(", ")
        ));
    }
    let dir = dir.map_or_else(|| PathBuf::from(name), Path::to_path_buf);
    if std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err(format!(
            "{} exists and is not empty: pick another NAME or --dir",
            dir.display()
        ));
    }
    let (files, params) = template(lang, kind);
    let underscored = name.replace('-', "_");
    let wasm = match lang {
        Lang::Rust => format!("target/wasm32-wasip2/release/{underscored}.wasm"),
        _ => format!("{name}.wasm"),
    };
    let mut out: Vec<(String, String)> = files
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect();
    let build = match lang {
        Lang::Python => {
            format!("componentize-py -d wit -w {kind} componentize app -o {wasm}")
        }
        Lang::Js => format!(
            "componentize-js app.js --wit wit --world-name {kind} --disable http fetch-event \
             --out {wasm}"
        ),
        Lang::Rust => "cargo build --release --target wasm32-wasip2".to_string(),
    };
    let (install, test) = match lang {
        Lang::Python => (
            "python3 -m venv .venv && .venv/bin/pip install componentize-py==0.25.1 \
             && . .venv/bin/activate",
            "python3 -m unittest",
        ),
        Lang::Js => ("npm install", "npm test"),
        Lang::Rust => ("rustup target add wasm32-wasip2", "cargo test"),
    };
    match lang {
        Lang::Rust => {
            let meseta = match meseta {
                Some(m) => m.to_path_buf(),
                None => default_meseta_dir().ok_or_else(|| {
                    "cannot find Meseta's source tree for the Rust template's dependencies \
                     (meseta-types, meseta-sdk): pass --meseta DIR, a checkout of Meseta"
                        .to_string()
                })?,
            };
            if !meseta.join("modules/sdk/Cargo.toml").is_file() {
                return Err(format!(
                    "{} is not a checkout of Meseta (no modules/sdk/Cargo.toml): pass --meseta \
                     DIR with the repository's root",
                    meseta.display()
                ));
            }
            let meseta = meseta.canonicalize().unwrap_or(meseta);
            out.push((
                "Cargo.toml".into(),
                format!(
                    include_str!("../templates/rust/Cargo.toml.in"),
                    name = name,
                    meseta = meseta.display(),
                    kind = kind
                ),
            ));
            out.push((
                "rust-toolchain.toml".into(),
                include_str!("../templates/rust/rust-toolchain.toml").into(),
            ));
        }
        Lang::Js => out.push((
            "package.json".into(),
            format!(
                r#"{{
  "name": "{name}",
  "version": "0.1.0",
  "private": true,
  "type": "module",
  "scripts": {{
    "build": "{build}",
    "test": "node --test"
  }},
  "devDependencies": {{
    "@bytecodealliance/componentize-js": "0.23.0"
  }}
}}
"#
            ),
        )),
        Lang::Python => {}
    }
    let params_json: Vec<String> = params
        .iter()
        .map(|(k, v)| format!(r#"{{"key": "{k}", "value": "{v}"}}"#))
        .collect();
    out.push((
        "modules.json".into(),
        format!(
            r#"{{
  "libraries": [
    {{
      "file": "{wasm}",
      "modules": [
        {{ "name": "{underscored}", "kind": "{kind}", "parameters": [{}] }}
      ]
    }}
  ]
}}
"#,
            params_json.join(", ")
        ),
    ));
    let flag = if kind == "allocator" {
        format!("--allocator {underscored}")
    } else {
        format!("--hooks {underscored}")
    };
    let build_cmd = if lang == Lang::Js {
        "npm run build".to_string()
    } else {
        build.clone()
    };
    out.push((
        "README.md".into(),
        format!(
            "# {name}\n\n\
             A Meseta `{kind}` module in {lang:?}, made by `meseta module new`. `wit/` is its \
             contract (`meseta module wit --kind {kind}`); the policy is in the file the tests \
             exercise, the glue to the WIT in the other.\n\n\
             Set up once, then test, build, check and run (from this directory):\n\n\
             \x20   {install}\n\
             \x20   {test}\n\
             \x20   {build_cmd}\n\
             \x20   meseta module check {wasm} --kind {kind}\n\
             \x20   meseta local --modules modules.json {flag}\n\n\
             `modules.json` is the manifest: change its `parameters`, or add `memory_limit`, \
             `deadline` and `failure_policy` (see Meseta's README, \"Module manifests\").\n"
        ),
    ));
    // the Python and JavaScript allocators are the examples, at the allocator's version 2
    let package = match (lang, kind) {
        (Lang::Python | Lang::Js, "allocator") => &ALLOCATOR_V2,
        _ => package_of(kind)?,
    };
    for (path, text) in package_files(package) {
        out.push((format!("wit/{path}"), text.to_string()));
    }
    write_files(&dir, out.iter().map(|(p, t)| (p.clone(), t.as_str())))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_world_at_the_top() {
        for (kind, _) in KINDS {
            let files = wit_files(kind).unwrap();
            assert!(
                files.iter().any(
                    |(p, t)| !p.starts_with("deps/") && t.contains(&format!("world {kind} {{"))
                ),
                "no world {kind}"
            );
        }
    }

    #[test]
    fn bad_input_names_what_was_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let at = |n: &str| dir.path().join(n);
        let err = create("My_Mod", "allocator", Lang::Js, Some(&at("a")), None).unwrap_err();
        assert!(err.contains("'My_Mod' is not a module name"), "{err}");
        let err = create("m", "isolator", Lang::Js, Some(&at("b")), None).unwrap_err();
        assert!(err.contains("meseta module wit --kind isolator"), "{err}");
        let err = create("m", "sorter", Lang::Js, Some(&at("c")), None).unwrap_err();
        assert!(err.contains("unknown kind 'sorter'"), "{err}");
        let err = create(
            "m",
            "allocator",
            Lang::Rust,
            Some(&at("d")),
            Some(dir.path()),
        )
        .unwrap_err();
        assert!(err.contains("is not a checkout of Meseta"), "{err}");
        std::fs::write(at("e"), "").unwrap();
        create("m", "allocator", Lang::Js, Some(&at("f")), None).unwrap();
        let err = create("m", "allocator", Lang::Js, Some(&at("f")), None).unwrap_err();
        assert!(err.contains("is not empty"), "{err}");
    }
}
