//! A local ZooKeeper server process, from Debian's `zookeeper` package: a standalone server
//! ([`LocalZooKeeper::start`]) or an ensemble whose nodes can be killed and restarted
//! ([`LocalZooKeeper::ensemble`]), each on 127.0.0.1 with ephemeral ports and a temporary data
//! directory. The tests (`meseta_tests::zookeeper`, which also installs the package on first
//! use) and `meseta bench ha-failover` run their ZooKeeper with it; this module never installs
//! anything: without the package it fails with [`ServerError::NotInstalled`].
//!
//! Each server is `java -cp /usr/share/java/zookeeper.jar
//! org.apache.zookeeper.server.quorum.QuorumPeerMain <cfg>` with a configuration written here,
//! run under a small bash guard that kills the JVM when its stdin closes: when the node is
//! killed, when the [`LocalZooKeeper`] is dropped, and when the owning process exits however it
//! exits (a `static` is never dropped).
//!
//! Readiness is an event, not a sleep: [`LocalZooKeeper::wait_serving`] polls ZooKeeper's
//! `srvr` command until the node says it serves (`Mode: standalone`, `leader` or `follower`),
//! with a deadline.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where Debian's package puts the server's jar (its manifest's `Class-Path` names the jars it
/// needs, all under `/usr/share/java`).
pub const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";
/// Logs to stderr when Debian's slf4j package has it (the server logs nothing without a binding).
const SLF4J_SIMPLE_JAR: &str = "/usr/share/java/slf4j-simple.jar";
const MAIN_CLASS: &str = "org.apache.zookeeper.server.quorum.QuorumPeerMain";

/// How long a node may take to serve after its start (a JVM's start on a loaded 2-core machine,
/// and an ensemble's leader election).
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// ZooKeeper's tick: sessions may last from 2 to 120 ticks (1 s to 60 s here).
const TICK_MS: u64 = 500;

/// Why a local ZooKeeper could not be run or reached.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Debian's package (or `java`) is missing.
    #[error(
        "ZooKeeper is not installed: {ZOOKEEPER_JAR} or java is missing \
         (apt-get install zookeeper)"
    )]
    NotInstalled,
    /// A file, directory, port or process could not be had.
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("an ensemble has at least 2 servers, not {0}: use LocalZooKeeper::start for one")]
    EnsembleSize(usize),
    #[error("no ZooKeeper node {index}: this one has {size} (0-based)")]
    NoSuchNode { index: usize, size: usize },
    #[error("ZooKeeper node {node} exited ({status}) before serving\n{log}")]
    Exited {
        node: usize,
        status: std::process::ExitStatus,
        log: String,
    },
    #[error(
        "ZooKeeper node {node} on 127.0.0.1:{port} did not serve within {timeout:?} (last \
         answer to srvr: {last})\n{log}"
    )]
    NotServing {
        node: usize,
        port: u16,
        timeout: Duration,
        last: String,
        log: String,
    },
    #[error("a ZooKeeper node's lock is poisoned")]
    Poisoned,
}

impl ServerError {
    fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServerError {
        let what = what.into();
        move |source| ServerError::Io { what, source }
    }
}

/// Whether Debian's `zookeeper` package (its jar) and `java` are installed.
pub fn is_installed() -> bool {
    Path::new(ZOOKEEPER_JAR).is_file()
        && Command::new("java")
            .arg("-version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

/// One server of a [`LocalZooKeeper`].
struct Node {
    /// `server.<id>` in an ensemble (1-based).
    id: usize,
    client_port: u16,
    /// Quorum and election ports (ensembles only).
    peer_ports: Option<(u16, u16)>,
    dir: PathBuf,
    process: Mutex<Option<Process>>,
}

struct Process {
    child: Child,
    /// Closing it makes the guard kill the JVM.
    stdin: Option<ChildStdin>,
}

impl Process {
    fn stop(mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running ZooKeeper: one standalone server, or an ensemble. Every server is killed on drop.
pub struct LocalZooKeeper {
    nodes: Vec<Node>,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for LocalZooKeeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalZooKeeper")
            .field("connect", &self.connect_string())
            .finish()
    }
}

impl LocalZooKeeper {
    /// One standalone server, serving when this returns.
    pub fn start() -> Result<LocalZooKeeper, ServerError> {
        Self::launch(1)
    }

    /// An ensemble of `size` servers (3 for quorum-loss tests), all serving when this returns.
    pub fn ensemble(size: usize) -> Result<LocalZooKeeper, ServerError> {
        if size < 2 {
            return Err(ServerError::EnsembleSize(size));
        }
        Self::launch(size)
    }

    fn launch(size: usize) -> Result<LocalZooKeeper, ServerError> {
        if !is_installed() {
            return Err(ServerError::NotInstalled);
        }
        let dir = tempfile::Builder::new()
            .prefix("meseta-zookeeper-")
            .tempdir()
            .map_err(ServerError::io("cannot create a temporary directory"))?;
        let mut nodes = Vec::with_capacity(size);
        for id in 1..=size {
            let peer_ports = if size > 1 {
                Some((free_port()?, free_port()?))
            } else {
                None
            };
            let node_dir = dir.path().join(format!("node{id}"));
            std::fs::create_dir_all(node_dir.join("data")).map_err(ServerError::io(format!(
                "cannot create {}",
                node_dir.display()
            )))?;
            nodes.push(Node {
                id,
                client_port: free_port()?,
                peer_ports,
                dir: node_dir,
                process: Mutex::new(None),
            });
        }
        let zk = LocalZooKeeper { nodes, _dir: dir };
        for node in &zk.nodes {
            zk.write_config(node)?;
        }
        for index in 0..zk.nodes.len() {
            zk.spawn(index)?;
        }
        for index in 0..zk.nodes.len() {
            zk.wait_serving(index, START_TIMEOUT)?;
        }
        Ok(zk)
    }

    fn write_config(&self, node: &Node) -> Result<(), ServerError> {
        let data = node.dir.join("data");
        let mut cfg = format!(
            "tickTime={TICK_MS}\n\
             initLimit=20\n\
             syncLimit=4\n\
             dataDir={}\n\
             clientPort={}\n\
             clientPortAddress=127.0.0.1\n\
             maxSessionTimeout={}\n\
             maxClientCnxns=0\n\
             admin.enableServer=false\n\
             4lw.commands.whitelist=ruok,srvr,stat,mntr\n\
             autopurge.purgeInterval=0\n",
            data.display(),
            node.client_port,
            TICK_MS * 120,
        );
        if self.nodes.len() > 1 {
            for peer in &self.nodes {
                if let Some((quorum, election)) = peer.peer_ports {
                    cfg.push_str(&format!(
                        "server.{}=127.0.0.1:{quorum}:{election}\n",
                        peer.id
                    ));
                }
            }
            write(&data.join("myid"), &format!("{}\n", node.id))?;
        }
        write(&node.dir.join("zoo.cfg"), &cfg)
    }

    fn spawn(&self, index: usize) -> Result<(), ServerError> {
        let node = self.node(index)?;
        let mut slot = node.process.lock().map_err(|_| ServerError::Poisoned)?;
        if slot.is_some() {
            return Ok(());
        }
        let mut classpath = ZOOKEEPER_JAR.to_string();
        if Path::new(SLF4J_SIMPLE_JAR).is_file() {
            classpath.push(':');
            classpath.push_str(SLF4J_SIMPLE_JAR);
        }
        // The guard: the JVM runs in the background with the pipe closed; the guard waits for
        // either the JVM to exit or its own stdin (the pipe from this process) to close, then
        // kills the JVM.
        let guard = r#"exec 3<&0 </dev/null
"$@" 3<&- &
jvm=$!
(read -r _ <&3) &
reader=$!
exec 3<&-
wait -n "$jvm" "$reader"
kill -9 "$jvm" "$reader" 2>/dev/null
wait"#;
        let log_path = node.dir.join("server.log");
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(ServerError::io(format!(
                "cannot open {}",
                log_path.display()
            )))?;
        let log_err = log
            .try_clone()
            .map_err(ServerError::io("cannot duplicate a log file handle"))?;
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(guard)
            .arg("zookeeper-guard")
            .arg("java")
            .args([
                "-Xms32m",
                "-Xmx192m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-Xshare:auto",
                "-Dzookeeper.admin.enableServer=false",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                "-Dorg.slf4j.simpleLogger.showDateTime=true",
                "-cp",
                &classpath,
                MAIN_CLASS,
            ])
            .arg(node.dir.join("zoo.cfg"))
            .stdin(Stdio::piped())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(ServerError::io("cannot start bash for ZooKeeper"))?;
        let stdin = child.stdin.take();
        *slot = Some(Process { child, stdin });
        Ok(())
    }

    fn node(&self, index: usize) -> Result<&Node, ServerError> {
        self.nodes.get(index).ok_or(ServerError::NoSuchNode {
            index,
            size: self.nodes.len(),
        })
    }

    /// How many servers.
    pub fn size(&self) -> usize {
        self.nodes.len()
    }

    /// `127.0.0.1:<port>[,127.0.0.1:<port>...]`, every server.
    pub fn connect_string(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.client_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Mesos' `zk://<servers><path>` for `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("zk://{}{path}", self.connect_string())
    }

    /// Kills server `index` (0-based) at once, as a crash (SIGKILL); waits until it is gone.
    pub fn kill(&self, index: usize) -> Result<(), ServerError> {
        let node = self.node(index)?;
        let process = node
            .process
            .lock()
            .map_err(|_| ServerError::Poisoned)?
            .take();
        if let Some(process) = process {
            process.stop();
        }
        Ok(())
    }

    /// Starts server `index` again on its ports and data; does not wait for it to serve (an
    /// ensemble node serves only once a quorum is up): see [`LocalZooKeeper::wait_serving`].
    pub fn restart(&self, index: usize) -> Result<(), ServerError> {
        self.spawn(index)
    }

    /// Waits until server `index` serves clients (it is in a quorum, or standalone).
    pub fn wait_serving(&self, index: usize, timeout: Duration) -> Result<(), ServerError> {
        let node = self.node(index)?;
        let deadline = Instant::now() + timeout;
        loop {
            let last = match four_letter(node.client_port, "srvr") {
                Ok(answer) if answer.contains("Mode:") => return Ok(()),
                Ok(answer) => answer,
                Err(e) => e,
            };
            if let Ok(mut slot) = node.process.lock()
                && let Some(process) = slot.as_mut()
                && let Ok(Some(status)) = process.child.try_wait()
            {
                *slot = None;
                return Err(ServerError::Exited {
                    node: node.id,
                    status,
                    log: self.log(index),
                });
            }
            if Instant::now() >= deadline {
                return Err(ServerError::NotServing {
                    node: node.id,
                    port: node.client_port,
                    timeout,
                    last,
                    log: self.log(index),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether server `index` answers `srvr` as serving.
    pub fn is_serving(&self, index: usize) -> bool {
        self.nodes
            .get(index)
            .and_then(|n| four_letter(n.client_port, "srvr").ok())
            .is_some_and(|a| a.contains("Mode:"))
    }

    /// What server `index` logged (warnings and errors), for failure messages.
    pub fn log(&self, index: usize) -> String {
        let Some(node) = self.nodes.get(index) else {
            return String::new();
        };
        let text = std::fs::read_to_string(node.dir.join("server.log")).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        let mut out = format!("--- ZooKeeper node {} log (last lines) ---\n", node.id);
        for line in tail.into_iter().rev() {
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

impl Drop for LocalZooKeeper {
    fn drop(&mut self) {
        for node in &self.nodes {
            let process = node.process.lock().ok().and_then(|mut p| p.take());
            if let Some(process) = process {
                process.stop();
            }
        }
    }
}

fn free_port() -> Result<u16, ServerError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(ServerError::io("no free port"))
}

/// Sends a four-letter command and reads the whole answer.
fn four_letter(port: u16, command: &str) -> Result<String, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    stream
        .write_all(command.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| format!("read: {e}"))?;
    Ok(answer)
}

fn write(path: &Path, text: &str) -> Result<(), ServerError> {
    std::fs::write(path, text).map_err(ServerError::io(format!("cannot write {}", path.display())))
}
