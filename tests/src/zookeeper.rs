//! A real ZooKeeper server for tests, from Debian's `zookeeper` package: a standalone server
//! ([`ZooKeeper::start`], or the one per test binary [`ZooKeeper::shared`]) or an ensemble whose
//! nodes can be killed and restarted ([`ZooKeeper::ensemble`]), each on 127.0.0.1 with ephemeral
//! ports and a temporary data directory.
//!
//! The server processes are [`meseta_zk::server::LocalZooKeeper`]'s (configuration, the JVM
//! under a guard that kills it when this process exits, readiness by polling `srvr`); this
//! layer adds what only tests do: the package is installed on first use when missing
//! (`apt-get update && apt-get install -y zookeeper`, once, under a file lock in `target/`, as
//! [`crate::prereqs`] prepares pymesos), one shared server per test binary, and errors as
//! [`Failure`]s.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use meseta_zk::server::{LocalZooKeeper, ServerError, is_installed};

use crate::daemons::Failure;

pub use meseta_zk::server::ZOOKEEPER_JAR;

fn failure(e: ServerError) -> Failure {
    Failure(e.to_string())
}

/// A running ZooKeeper: one standalone server, or an ensemble. Every server is killed on drop.
#[derive(Debug)]
pub struct ZooKeeper {
    server: LocalZooKeeper,
}

impl ZooKeeper {
    /// One standalone server, serving when this returns.
    pub fn start() -> Result<ZooKeeper, Failure> {
        ensure_installed()?;
        let server = LocalZooKeeper::start().map_err(failure)?;
        Ok(ZooKeeper { server })
    }

    /// An ensemble of `size` servers (3 for quorum-loss tests), all serving when this returns.
    pub fn ensemble(size: usize) -> Result<ZooKeeper, Failure> {
        if size < 2 {
            return Err(failure(ServerError::EnsembleSize(size)));
        }
        ensure_installed()?;
        let server = LocalZooKeeper::ensemble(size).map_err(failure)?;
        Ok(ZooKeeper { server })
    }

    /// The standalone server of this test binary, started on first use and shared by its tests
    /// (each under its own path: [`unique_path`]). It lives until the process exits.
    pub fn shared() -> Result<&'static ZooKeeper, Failure> {
        static SHARED: OnceLock<Result<ZooKeeper, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| ZooKeeper::start().map_err(|e| e.0))
            .as_ref()
            .map_err(|e| Failure(e.clone()))
    }

    /// How many servers.
    pub fn size(&self) -> usize {
        self.server.size()
    }

    /// `127.0.0.1:<port>[,127.0.0.1:<port>...]`, every server.
    pub fn connect_string(&self) -> String {
        self.server.connect_string()
    }

    /// Mesos' `zk://<servers><path>` for `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    /// Kills server `index` (0-based) at once, as a crash (SIGKILL); waits until it is gone.
    pub fn kill(&self, index: usize) -> Result<(), Failure> {
        self.server.kill(index).map_err(failure)
    }

    /// Starts server `index` again on its ports and data; does not wait for it to serve (an
    /// ensemble node serves only once a quorum is up): see [`ZooKeeper::wait_serving`].
    pub fn restart(&self, index: usize) -> Result<(), Failure> {
        self.server.restart(index).map_err(failure)
    }

    /// Waits until server `index` serves clients (it is in a quorum, or standalone).
    pub fn wait_serving(&self, index: usize, timeout: Duration) -> Result<(), Failure> {
        self.server.wait_serving(index, timeout).map_err(failure)
    }

    /// Whether server `index` answers `srvr` as serving.
    pub fn is_serving(&self, index: usize) -> bool {
        self.server.is_serving(index)
    }

    /// What server `index` logged (warnings and errors), for failure messages.
    pub fn log(&self, index: usize) -> String {
        self.server.log(index)
    }
}

/// A path no other test of this process uses: `/<prefix>-<pid>-<n>`.
pub fn unique_path(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "/{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Installs Debian's `zookeeper` package if its jar or `java` is missing: once per machine, under
/// a file lock in `target/` shared by concurrent test processes.
pub fn ensure_installed() -> Result<(), Failure> {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    READY.get_or_init(install).clone().map_err(Failure)
}

fn install() -> Result<(), String> {
    crate::prereqs::apt_install(
        &["zookeeper"],
        "the ZooKeeper tests",
        is_installed,
        &format!("{ZOOKEEPER_JAR} or java"),
    )
}
