//! What some tests need from outside the workspace, prepared on first use (pymesos in a venv under
//! `target/`), and the one kind of skip left: what the kernel forbids (no writable cgroup
//! hierarchy). A skip is written straight to the process's stderr, past the test harness's
//! capture, so it shows in `cargo test`'s own output instead of passing silently.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::daemons::{Failure, workspace_root};

/// Writes `line` to the real stderr: `eprintln!` in a test is captured and shown only when the
/// test fails, which would hide a skip.
pub fn say(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// Whether the cgroup tests can run on this machine; when not, says so for `test`, uncaptured.
pub fn cgroups_usable(test: &str) -> bool {
    match meseta_agent::cgroups::CgroupHost::detect("meseta-test-probe") {
        Ok(_) => true,
        Err(why) => {
            say(&format!(
                "SKIPPED {test}: this machine has no writable cgroup hierarchy (the kernel \
                 forbids it here): {why}"
            ));
            false
        }
    }
}

/// The Python of a venv that has pymesos 0.3.15: `$MESETA_PYMESOS_PYTHON` when set, else
/// `target/pymesos-venv`, made by `ci/setup-pymesos.sh` on first use (a few minutes, once; later
/// runs find it ready at once). Tests in several processes share it through a file lock.
pub fn pymesos_python() -> Result<PathBuf, Failure> {
    static READY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    READY.get_or_init(prepare_pymesos).clone().map_err(Failure)
}

fn prepare_pymesos() -> Result<PathBuf, String> {
    if let Some(python) = std::env::var_os("MESETA_PYMESOS_PYTHON").filter(|p| !p.is_empty()) {
        let python = PathBuf::from(python);
        return if python.is_file() {
            Ok(python)
        } else {
            Err(format!(
                "MESETA_PYMESOS_PYTHON={} is not a file: unset it to let the tests make their \
                 own venv, or point it at a venv's python with pymesos 0.3.15",
                python.display()
            ))
        };
    }
    let root = workspace_root();
    let venv = root.join("target/pymesos-venv");
    let python = venv.join("bin/python");
    std::fs::create_dir_all(root.join("target"))
        .map_err(|e| format!("cannot create {}/target: {e}", root.display()))?;
    let lock_path = root.join("target/pymesos-venv.lock");
    let lock = File::create(&lock_path)
        .map_err(|e| format!("cannot create {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    let ready = Command::new(&python)
        .args(["-c", "import pymesos, http_parser.parser"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !ready {
        say(&format!(
            "preparing pymesos 0.3.15 in {} for the compatibility tests (first use: \
             ci/setup-pymesos.sh, a few minutes)",
            venv.display()
        ));
        let script = root.join("ci/setup-pymesos.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg(&venv)
            .output()
            .map_err(|e| format!("cannot run bash {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "bash {} {} failed ({}): the pymesos compatibility tests need it\n--- stdout \
                 ---\n{}\n--- stderr ---\n{}",
                script.display(),
                venv.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        say(&format!("pymesos ready in {}", venv.display()));
    }
    Ok(python)
}

/// The Python of a venv that has the official Prometheus client (for its text parser):
/// `$MESETA_PROMETHEUS_PYTHON` when set, else `target/prometheus-venv`, made by
/// `ci/setup-prometheus-client.sh` on first use (seconds; later runs find it ready at once).
pub fn prometheus_python() -> Result<PathBuf, Failure> {
    static READY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    READY
        .get_or_init(prepare_prometheus)
        .clone()
        .map_err(Failure)
}

fn prepare_prometheus() -> Result<PathBuf, String> {
    if let Some(python) = std::env::var_os("MESETA_PROMETHEUS_PYTHON").filter(|p| !p.is_empty()) {
        let python = PathBuf::from(python);
        return if python.is_file() {
            Ok(python)
        } else {
            Err(format!(
                "MESETA_PROMETHEUS_PYTHON={} is not a file: unset it to let the tests make their \
                 own venv, or point it at a venv's python with prometheus-client",
                python.display()
            ))
        };
    }
    let root = workspace_root();
    let venv = root.join("target/prometheus-venv");
    std::fs::create_dir_all(root.join("target"))
        .map_err(|e| format!("cannot create {}/target: {e}", root.display()))?;
    let lock_path = root.join("target/prometheus-venv.lock");
    let lock = File::create(&lock_path)
        .map_err(|e| format!("cannot create {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    // the script returns at once when the venv is ready
    let script = root.join("ci/setup-prometheus-client.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(&venv)
        .output()
        .map_err(|e| format!("cannot run bash {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "bash {} {} failed ({}): the Prometheus test needs it\n--- stdout ---\n{}\n--- \
             stderr ---\n{}",
            script.display(),
            venv.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(venv.join("bin/python"))
}

/// Installs Debian's `packages` (for `what`, said in errors) unless `installed()` holds: once per
/// machine, under one file lock `target/apt-install.lock` shared by every test process (apt
/// itself allows one at a time). `files` names what `installed()` looks for, for the error when
/// it still fails afterwards.
pub fn apt_install(
    packages: &[&str],
    what: &str,
    installed: fn() -> bool,
    files: &str,
) -> Result<(), String> {
    if installed() {
        return Ok(());
    }
    let root = workspace_root();
    std::fs::create_dir_all(root.join("target"))
        .map_err(|e| format!("cannot create {}/target: {e}", root.display()))?;
    let lock_path = root.join("target/apt-install.lock");
    let lock = File::create(&lock_path)
        .map_err(|e| format!("cannot create {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    if installed() {
        return Ok(());
    }
    let list = packages.join(" ");
    say(&format!(
        "installing Debian's {list} for {what} (first use: apt-get)"
    ));
    let started = std::time::Instant::now();
    let install: Vec<&str> = ["install", "-y", "--no-install-recommends"]
        .into_iter()
        .chain(packages.iter().copied())
        .collect();
    for args in [&["update"][..], &install[..]] {
        let out = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| format!("cannot run apt-get: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "apt-get {} failed ({}): Debian's {list} is needed for {what} (as root)\n\
                 --- stdout ---\n{}\n--- stderr ---\n{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    if !installed() {
        return Err(format!(
            "apt-get installed {list} but {files} is still missing"
        ));
    }
    say(&format!(
        "{list} installed in {:.0} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Runs `tests/compat/<script> <master> <args> --timeout <timeout_secs>` with pymesos' Python:
/// its stdout when every check passed (the last line is `N passed, 0 failed`), otherwise a
/// failure with the script's output and `context()` (the daemons' output).
pub fn run_pymesos_check(
    script: &str,
    master: &str,
    args: &[&str],
    timeout_secs: u32,
    context: &dyn Fn() -> String,
) -> Result<String, Failure> {
    let python = pymesos_python()?;
    let path = workspace_root().join("tests/compat").join(script);
    let out = Command::new(python)
        .arg(&path)
        .arg(master)
        .args(args)
        .args(["--timeout", &timeout_secs.to_string()])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .map_err(|e| Failure(format!("cannot run {}: {e}", path.display())))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let last = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    if out.status.success() && last.ends_with(" 0 failed") {
        return Ok(stdout);
    }
    Err(Failure(format!(
        "{script} {args:?} failed ({}): {last}\n{stdout}\n--- stderr ---\n{}\n--- meseta ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        context()
    )))
}
