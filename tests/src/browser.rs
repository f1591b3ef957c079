//! A headless Chromium for the web UI's test, driven over WebDriver: Debian's `chromium` and
//! `chromium-driver`, installed on first use (`apt-get install`, once, under a file lock in
//! `target/`, as [`crate::zookeeper`] installs ZooKeeper).
//!
//! The client is a few W3C WebDriver commands (new session, navigate, execute script,
//! screenshot, and chromedriver's browser log) as JSON over a blocking HTTP/1.1 exchange: a
//! WebDriver crate (fantoccini) would add some twenty crates to the build, Unicode
//! segmentation tables among them, for these six calls. (chromedriver answers
//! `Connection: close` but keeps the socket open, so a body is read by its `Content-Length`.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::daemons::{Failure, free_port};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Installs Debian's `chromium` and `chromium-driver` if either binary is missing: once per
/// machine, under a file lock shared by concurrent test processes.
pub fn ensure_installed() -> Result<(), Failure> {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    READY.get_or_init(install).clone().map_err(Failure)
}

fn installed() -> bool {
    Path::new(CHROMIUM).is_file() && Path::new(CHROMEDRIVER).exists()
}

fn install() -> Result<(), String> {
    crate::prereqs::apt_install(
        &["chromium", "chromium-driver"],
        "the web UI test",
        installed,
        &format!("{CHROMIUM} or {CHROMEDRIVER}"),
    )
}

/// A headless Chromium under chromedriver, one WebDriver session; both end on drop.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Installs Chromium if needed, starts chromedriver on a free port and opens a session of
    /// a headless Chromium (fresh profile, no background network, window 1280x900) that keeps
    /// the page's console log.
    pub fn start() -> Result<Browser, Failure> {
        ensure_installed()?;
        let port = free_port()?;
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| Failure(format!("cannot start {CHROMEDRIVER}: {e}")))?;
        let profile = tempfile::tempdir().map_err(|e| Failure(format!("tempdir: {e}")))?;
        let mut browser = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            _profile: profile,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match exchange(&browser.base, "GET", "/status", "") {
                Ok((200, body)) if body.contains("\"ready\":true") => break,
                _ if Instant::now() > deadline => {
                    return Err(Failure("chromedriver did not get ready in 20 s".into()));
                }
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        let profile = browser._profile.path().display().to_string();
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-extensions",
            "--window-size=1280,900",
            &format!("--user-data-dir={profile}"),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let answer = browser.command("POST", "/session", &capabilities)?;
        browser.session = answer["sessionId"]
            .as_str()
            .ok_or_else(|| Failure(format!("no session id in {answer}")))?
            .to_string();
        Ok(browser)
    }

    /// One WebDriver command: its `value`, or a failure naming the command and the error.
    fn command(&self, method: &str, path: &str, body: &Value) -> Result<Value, Failure> {
        let body = if method == "GET" || method == "DELETE" {
            String::new()
        } else {
            body.to_string()
        };
        let (status, text) = exchange(&self.base, method, path, &body)
            .map_err(|e| Failure(format!("WebDriver {method} {path}: {e}")))?;
        let answer: Value = serde_json::from_str(&text).map_err(|e| {
            Failure(format!(
                "WebDriver {method} {path}: {status}: not JSON ({e}): {text:.300}"
            ))
        })?;
        if status != 200 {
            return Err(Failure(format!(
                "WebDriver {method} {path}: {status}: {}",
                answer["value"]
            )));
        }
        Ok(answer["value"].clone())
    }

    fn session_command(&self, method: &str, path: &str, body: &Value) -> Result<Value, Failure> {
        self.command(method, &format!("/session/{}{path}", self.session), body)
    }

    /// Opens `url` (waits for the page's load event).
    pub fn goto(&self, url: &str) -> Result<(), Failure> {
        self.session_command("POST", "/url", &json!({ "url": url }))
            .map(drop)
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page: what it returns.
    pub fn execute(&self, script: &str, args: &[Value]) -> Result<Value, Failure> {
        self.session_command(
            "POST",
            "/execute/sync",
            &json!({ "script": script, "args": args }),
        )
    }

    /// Runs `script` until it returns something other than `null`, `false` or `""`, for up to
    /// `timeout`: that value, or a failure saying what was awaited and what the page showed.
    pub fn wait_for(
        &self,
        what: &str,
        script: &str,
        args: &[Value],
        timeout: Duration,
    ) -> Result<Value, Failure> {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.execute(script, args)?;
            let done = !(value.is_null() || value == json!(false) || value == json!(""));
            if done {
                return Ok(value);
            }
            if Instant::now() > deadline {
                let page = self
                    .execute("return document.body.innerText", &[])
                    .unwrap_or_default();
                return Err(Failure(format!(
                    "waited {timeout:?} for {what}; the page shows:\n{}",
                    page.as_str().unwrap_or_default()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A PNG of the window, written to `path`.
    pub fn screenshot(&self, path: &Path) -> Result<(), Failure> {
        use base64::Engine as _;
        let value = self.session_command("GET", "/screenshot", &Value::Null)?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(value.as_str().unwrap_or_default())
            .map_err(|e| Failure(format!("screenshot: not base64: {e}")))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Failure(format!("cannot create {}: {e}", dir.display())))?;
        }
        std::fs::write(path, png)
            .map_err(|e| Failure(format!("cannot write {}: {e}", path.display())))
    }

    /// The console entries logged since the last call (chromedriver's `browser` log: each
    /// `{level, message, source, timestamp}`; uncaught exceptions and failed loads are
    /// `SEVERE`).
    pub fn console(&self) -> Result<Vec<Value>, Failure> {
        let value = self.session_command("POST", "/se/log", &json!({"type": "browser"}))?;
        Ok(value.as_array().cloned().unwrap_or_default())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.command(
                "DELETE",
                &format!("/session/{}", self.session),
                &Value::Null,
            );
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// One HTTP/1.1 request with a JSON body on `base` (`http://host:port`): the status and the
/// body, read by its `Content-Length` (or to the end of the stream without one).
fn exchange(base: &str, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let authority = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(authority)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut length = None;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let mut raw = Vec::new();
    match length {
        Some(n) => {
            raw.resize(n, 0);
            reader.read_exact(&mut raw)?;
        }
        None => {
            reader.read_to_end(&mut raw)?;
        }
    }
    Ok((status, String::from_utf8_lossy(&raw).into_owned()))
}
