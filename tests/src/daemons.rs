//! Helpers for tests that run the real `meseta` daemons and programs as child processes: the
//! workspace's built binaries, `meseta local` (a master and an agent in one process) on a free
//! port, and a tiny blocking HTTP GET.
//!
//! Errors are [`Failure`]s, whose `Debug` is their plain text, so a test's `.unwrap()` prints
//! the daemon's output readably.

use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A helper's error: plain text, shown as is by both `Display` and `Debug`.
pub struct Failure(pub String);

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failure {}

fn fail<T>(message: impl Into<String>) -> Result<T, Failure> {
    Err(Failure(message.into()))
}

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR"));
    tests.parent().unwrap_or(tests).to_path_buf()
}

/// `target/<profile>`, where cargo put the workspace's binaries: the directory above the
/// running test executable's (`target/<profile>/deps/<test>-<hash>`).
pub fn bin_dir() -> Result<PathBuf, Failure> {
    let exe = std::env::current_exe().map_err(|e| Failure(format!("current_exe: {e}")))?;
    match exe.parent().and_then(Path::parent) {
        Some(dir) => Ok(dir.to_path_buf()),
        None => fail(format!("no target directory above {}", exe.display())),
    }
}

/// A binary of another workspace package, which `cargo test --workspace` builds before running
/// tests. `CARGO_BIN_EXE_<name>` only exists for binaries of the test's own package.
pub fn workspace_binary(name: &str, package: &str) -> Result<PathBuf, Failure> {
    let path = bin_dir()?.join(name);
    if !path.is_file() {
        return fail(format!(
            "{} is missing: build the binary first: cargo build -p {package} \
             (with the same profile and CARGO_TARGET_DIR as the tests)",
            path.display()
        ));
    }
    Ok(path)
}

/// Status update resends of the `meseta agent` and `meseta local` processes the helpers start:
/// the first after 1 s, doubling up to 10 s (Meseta's fixed schedule before the defaults became
/// Mesos' 10 s doubling to 10 min), so an update whose delivery failed (a master that was
/// down, a framework that was disconnected) comes again within a test's patience. Tests that
/// spawn these daemons themselves pass them too.
pub const RETRY_FLAGS: [&str; 2] = [
    "--status_update_retry_interval_min=1secs",
    "--status_update_retry_interval_max=10secs",
];

/// `args` + [`RETRY_FLAGS`] (each unless `extra` sets it) + `extra`.
fn with_retry_flags<'a>(mut args: Vec<&'a str>, extra: &[&'a str]) -> Vec<&'a str> {
    for flag in RETRY_FLAGS {
        let name = flag.split('=').next().unwrap_or(flag);
        if !extra.iter().any(|e| e.starts_with(name)) {
            args.push(flag);
        }
    }
    args.extend_from_slice(extra);
    args
}

/// Resources `meseta local`'s agent offers in tests.
pub const LOCAL_RESOURCES: &str = "cpus:4;mem:4096;disk:4096;ports:[31000-32000]";

/// How long `meseta local` may take to print its `Master: ` line.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `meseta local --ip 127.0.0.1 --port 0` in a temporary work directory, stopped
/// (SIGTERM, then SIGKILL after 5 s) when dropped.
/// A `meseta` subcommand running as a child process, its output drained and kept. Stopped
/// (SIGTERM, then SIGKILL after 5 s) when dropped; [`Daemon::kill9`] stops it as a crash does.
pub struct Daemon {
    /// The URL the daemon printed on its ready line (`Master: <url>` or `Agent: <url>`).
    pub url: String,
    child: Child,
    output: Arc<Mutex<String>>,
}

impl Daemon {
    /// Runs `meseta <args>` and waits until it prints a line starting with `ready` (e.g.
    /// `"Master: "`); the rest of that line is [`Daemon::url`].
    pub fn spawn(args: &[&str], ready: &str) -> Result<Daemon, Failure> {
        Daemon::spawn_env(args, &[], ready)
    }

    /// [`Daemon::spawn`] with `env` added to the test's environment (e.g. `LIBPROCESS_SSL_*`).
    pub fn spawn_env(args: &[&str], env: &[(&str, &str)], ready: &str) -> Result<Daemon, Failure> {
        let meseta = workspace_binary("meseta", "meseta-cli")?;
        let mut child = Command::new(&meseta)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Failure(format!("spawning {}: {e}", meseta.display())))?;

        // Both pipes are drained for the daemon's whole life (a full pipe would block it); the
        // text is kept for failure messages, stdout lines also go to `lines`.
        let output = Arc::new(Mutex::new(String::new()));
        let (lines_tx, lines) = mpsc::channel::<String>();
        if let Some(stdout) = child.stdout.take() {
            let output = Arc::clone(&output);
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    append(&output, "stdout", &line);
                    let _ = lines_tx.send(line);
                }
            });
        }
        if let Some(stderr) = child.stderr.take() {
            let output = Arc::clone(&output);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    append(&output, "stderr", &line);
                }
            });
        }

        let mut daemon = Daemon {
            url: String::new(),
            child,
            output,
        };
        let what = format!("`meseta {}`", args.first().copied().unwrap_or(""));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix(ready) {
                        daemon.url = url.trim().trim_end_matches('/').to_string();
                        return Ok(daemon);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return fail(format!(
                        "{what} printed no `{ready}` line within {START_TIMEOUT:?}\n{}",
                        daemon.output()
                    ));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = daemon
                        .child
                        .wait()
                        .map(|s| s.to_string())
                        .unwrap_or_default();
                    std::thread::sleep(Duration::from_millis(100)); // let stderr drain
                    return fail(format!(
                        "{what} exited ({status}) before printing `{ready}`\n{}",
                        daemon.output()
                    ));
                }
            }
        }
    }

    /// Everything the daemon printed so far, each line prefixed with `stdout| ` or `stderr| `.
    pub fn output(&self) -> String {
        self.output.lock().map(|o| o.clone()).unwrap_or_default()
    }

    /// `GET <url><path>`.
    pub fn get(&self, path: &str) -> Result<(u16, String), Failure> {
        http_get(&self.url, path)
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, as a crash: nothing of the daemon runs its shutdown.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, as an operator's `kill` or a service manager's stop; waits up to 10 s for the
    /// daemon to exit: its exit status.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        self.wait_exit(Duration::from_secs(10))
    }

    /// Waits up to `timeout` (zero: just looks) for the daemon to exit; its exit status.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SIGTERM first so the daemon can stop its tasks; `kill(1)` spares a libc dependency.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        if self.wait_exit(Duration::from_secs(5)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `meseta master --zk <url> --zk_session_timeout <session> <extra>` on 127.0.0.1 (an
/// ephemeral port) with its work dir `work_dir`, running once it printed its `Master: ` line
/// (it may lead or stand by).
pub fn zk_master(
    url: &str,
    work_dir: &Path,
    session: &str,
    extra: &[&str],
) -> Result<Daemon, Failure> {
    let work_dir = work_dir.to_string_lossy();
    let mut args = vec![
        "master",
        "--ip",
        "127.0.0.1",
        "--port",
        "0",
        "--work_dir",
        &work_dir,
        "--zk",
        url,
        "--zk_session_timeout",
        session,
    ];
    args.extend_from_slice(extra);
    Daemon::spawn(&args, "Master: ")
}

/// `meseta master` on 127.0.0.1 (an ephemeral port) with an in-memory registry, its work dir
/// `work_dir` and 100 ms allocation rounds, once it printed its `Master: ` line.
pub fn in_memory_master(work_dir: &Path) -> Result<Daemon, Failure> {
    let work_dir = work_dir.to_string_lossy();
    Daemon::spawn(
        &[
            "master",
            "--ip",
            "127.0.0.1",
            "--port",
            "0",
            "--registry",
            "in_memory",
            "--work_dir",
            &work_dir,
            "--allocation_interval",
            "100ms",
        ],
        "Master: ",
    )
}

/// `meseta agent --master <zk url>` on 127.0.0.1 with [`LOCAL_RESOURCES`], [`RETRY_FLAGS`] and
/// its work dir `work_dir`: it follows the leader of the election under the URL's path.
pub fn zk_agent(url: &str, work_dir: &Path) -> Result<Daemon, Failure> {
    let work_dir = work_dir.to_string_lossy();
    let port = free_port()?.to_string();
    Daemon::spawn(
        &with_retry_flags(
            vec![
                "agent",
                "--master",
                url,
                "--ip",
                "127.0.0.1",
                "--port",
                &port,
                "--work_dir",
                &work_dir,
                "--resources",
                LOCAL_RESOURCES,
            ],
            &[],
        ),
        "Agent: ",
    )
}

/// A port that was free a moment ago (for a daemon that must come back on the same port).
pub fn free_port() -> Result<u16, Failure> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Failure(format!("no free port: {e}")))
}

/// A running `meseta local --ip 127.0.0.1 --port 0` in a temporary work directory, stopped
/// (SIGTERM, then SIGKILL after 5 s) when dropped.
pub struct Local {
    /// `http://127.0.0.1:PORT`, from the `Master: <url>` line the daemon prints once serving.
    pub url: String,
    daemon: Daemon,
    _work_dir: tempfile::TempDir,
}

impl Local {
    pub fn start() -> Result<Local, Failure> {
        Local::start_with(&[])
    }

    /// With extra command-line flags.
    pub fn start_with(extra: &[&str]) -> Result<Local, Failure> {
        Local::start_env(extra, &[])
    }

    /// With extra command-line flags and environment variables (e.g. `MESETA_MODULE_CACHE`).
    pub fn start_env(extra: &[&str], env: &[(&str, &str)]) -> Result<Local, Failure> {
        let work_dir = tempfile::tempdir().map_err(|e| Failure(format!("tempdir: {e}")))?;
        let dir = work_dir.path().to_string_lossy().into_owned();
        let args = vec![
            "local",
            "--ip",
            "127.0.0.1",
            "--port",
            "0",
            "--work_dir",
            &dir,
            "--resources",
            LOCAL_RESOURCES,
        ];
        let args = with_retry_flags(args, extra);
        let daemon = Daemon::spawn_env(&args, env, "Master: ")?;
        Ok(Local {
            url: daemon.url.clone(),
            daemon,
            _work_dir: work_dir,
        })
    }

    /// Everything the daemon printed so far, each line prefixed with `stdout| ` or `stderr| `.
    pub fn output(&self) -> String {
        self.daemon.output()
    }

    /// `GET <url><path>`.
    pub fn get(&self, path: &str) -> Result<(u16, String), Failure> {
        http_get(&self.url, path)
    }

    /// SIGKILL, as a crash.
    pub fn kill9(&mut self) {
        self.daemon.kill9();
    }
}

/// A running `meseta agent` process, with its output kept for failure messages. Dropping it
/// SIGKILLs it (the tasks of checkpointing frameworks live on: tests end them themselves).
pub struct AgentProcess {
    /// `http://127.0.0.1:PORT`, from the `Agent: <url>` line.
    pub url: String,
    daemon: Daemon,
}

impl AgentProcess {
    /// `meseta agent --master <master> --ip 127.0.0.1 --port <port> --work_dir <work_dir>
    /// --resources <resources> <RETRY_FLAGS> <extra>`, once it prints `Agent: `.
    pub fn start(
        master: &str,
        port: u16,
        work_dir: &Path,
        resources: &str,
        extra: &[&str],
    ) -> Result<AgentProcess, Failure> {
        let port = port.to_string();
        let work_dir = work_dir.to_string_lossy();
        let args = vec![
            "agent",
            "--master",
            master,
            "--ip",
            "127.0.0.1",
            "--port",
            &port,
            "--work_dir",
            &work_dir,
            "--resources",
            resources,
        ];
        let args = with_retry_flags(args, extra);
        let daemon = Daemon::spawn(&args, "Agent: ")?;
        Ok(AgentProcess {
            url: daemon.url.clone(),
            daemon,
        })
    }

    /// Everything the agent printed so far.
    pub fn output(&self) -> String {
        self.daemon.output()
    }

    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    /// SIGKILLs the agent (its supervisors and tasks are not its process group and live on)
    /// and reaps it.
    pub fn kill9(&mut self) {
        self.daemon.kill9();
    }

    /// SIGTERM; waits for the agent to exit: its exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        self.daemon
            .terminate()
            .map(|status| status.code().unwrap_or(-1))
    }

    /// Waits up to `timeout` for the process to exit by itself: its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        self.daemon
            .wait_exit(timeout)
            .map(|status| status.code().unwrap_or(-1))
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn append(output: &Mutex<String>, stream: &str, line: &str) {
    if let Ok(mut o) = output.lock() {
        o.push_str(stream);
        o.push_str("| ");
        o.push_str(line);
        o.push('\n');
    }
}

/// A blocking HTTP/1.1 request `METHOD path` on `base` (`http://host:port`) with `headers` and a
/// JSON `body`, `Connection: close`: the status, the head (status line and headers, for
/// `Location` and the like) and the body as sent (not de-chunked).
pub fn http_request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(u16, String, String), Failure> {
    let authority = base.trim_start_matches("http://").trim_end_matches('/');
    let err =
        |what: &str, e: std::io::Error| Failure(format!("{method} {base}{path}: {what}: {e}"));
    let mut stream = TcpStream::connect(authority).map_err(|e| err("connect", e))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| err("socket", e))?;
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n\
         {extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| err("write", e))?;
    let mut raw = String::new();
    let _ = stream.read_to_string(&mut raw);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, head.to_string(), body.to_string()))
}

/// A blocking HTTP/1.1 `GET` of `path` on `base` (`http://host:port`), with
/// `Connection: close`: the status code and the body (chunked bodies are decoded).
pub fn http_get(base: &str, path: &str) -> Result<(u16, String), Failure> {
    let authority = base
        .strip_prefix("http://")
        .unwrap_or(base)
        .trim_end_matches('/');
    let err = |what: &str, e: std::io::Error| Failure(format!("GET {base}{path}: {what}: {e}"));
    let addr = authority
        .to_socket_addrs()
        .map_err(|e| err("resolve", e))?
        .next()
        .ok_or_else(|| Failure(format!("GET {base}{path}: no address")))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .map_err(|e| err("connect", e))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| err("socket", e))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: application/json\r\n\
         Connection: close\r\n\r\n"
    )
    .map_err(|e| err("write", e))?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(|e| err("read", e))?;
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return fail(format!(
            "GET {base}{path}: malformed response {:?}",
            String::from_utf8_lossy(&raw)
        ));
    };
    let head = String::from_utf8_lossy(&raw[..split]);
    let body = &raw[split + 4..];
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Failure(format!("GET {base}{path}: bad status line in {head:?}")))?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_vec()
    };
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Decodes a `Transfer-Encoding: chunked` body (extensions and trailers ignored).
fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let size_line = String::from_utf8_lossy(&rest[..eol]);
        let size_hex = size_line.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_hex, 16) else {
            break;
        };
        let data = &rest[eol + 2..];
        if size == 0 || data.len() < size {
            break;
        }
        out.extend_from_slice(&data[..size]);
        rest = data[size..].strip_prefix(b"\r\n").unwrap_or(&data[size..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::dechunk;

    #[test]
    fn dechunks() {
        assert_eq!(dechunk(b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n"), b"abcde");
    }
}
