//! Container process tracking: every process a container starts ends with the container.
//!
//! A container's process joins its own freezer cgroup before `exec` (Mesos' `LinuxLauncher`):
//! `<freezer mount>/<cgroups_root>/<container id>` on cgroup v1, `<root>/<container id>` in the
//! unified hierarchy on cgroup v2. Whatever it forks stays in it, whether it starts a new
//! session, double-forks or changes its process group, so destroying the container reaches
//! them all: v1 freezes the cgroup (nothing in it can fork any more), SIGKILLs every process in
//! `cgroup.procs`, thaws it so the signals are delivered, waits until it is empty and removes
//! it; v2 writes `cgroup.kill` (Linux 5.14+; older kernels get the same freeze, kill, thaw
//! through `cgroup.freeze`).
//!
//! The cgroup is named by the container id only, so an agent recovering its containers after a
//! restart finds each one's cgroup again. The tracker never removes a cgroup it was not asked
//! about: several agents may share a root (each knows its own containers from its work dir).
//!
//! A machine without a writable freezer (not root, no cgroups) falls back to the process group
//! and session the launcher gives each container, and says so once in a log line: a process
//! that leaves them (`setsid`) then outlives its container.
//!
//! These are a handful of writes to well-known files, so they are plain `std::fs` calls;
//! the resource cgroups of isolator modules (cpu, memory) are `crate::cgroups`' business.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a destroy waits for a cgroup to freeze and then to empty before it gives up (and
/// logs what is left).
const DESTROY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    /// cgroup v1: `<freezer mount>/<root>`.
    FreezerV1(PathBuf),
    /// cgroup v2: `<unified mount>/<root>`.
    Unified(PathBuf),
    /// No usable cgroups: process groups and sessions only.
    Session,
}

/// Where the containers' processes are tracked (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessTracker {
    kind: Kind,
}

impl Default for ProcessTracker {
    fn default() -> Self {
        ProcessTracker::detect(
            crate::isolation::IsolationOptions::default()
                .cgroups_root
                .as_str(),
        )
    }
}

/// The mount point of the cgroup v1 hierarchy with the freezer, from `/proc/self/mounts`.
fn freezer_mount(mounts: &str) -> Option<PathBuf> {
    mounts.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let (_, dir, fstype, options) = (
            fields.next()?,
            fields.next()?,
            fields.next()?,
            fields.next()?,
        );
        (fstype == "cgroup" && options.split(',').any(|o| o == "freezer"))
            .then(|| PathBuf::from(dir))
    })
}

/// The cgroup v2 mount point, when the machine runs the unified hierarchy alone.
fn unified_mount(mounts: &str) -> Option<PathBuf> {
    let dir = mounts.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let (_, dir, fstype) = (fields.next()?, fields.next()?, fields.next()?);
        (fstype == "cgroup2").then(|| PathBuf::from(dir))
    })?;
    // a hybrid machine's cgroup2 mount has no controllers and no freezer worth using
    dir.join("cgroup.freeze").exists().then_some(dir)
}

fn create_dir(path: &Path) -> io::Result<()> {
    match std::fs::create_dir_all(path) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

impl ProcessTracker {
    /// Finds a writable freezer (cgroup v1) or unified hierarchy (cgroup v2) and creates `root`
    /// in it; without one, tracks by process group and session, and logs that it does.
    pub fn detect(root: &str) -> ProcessTracker {
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let relative = !root.is_empty() && root.split('/').all(|p| !p.is_empty() && p != "..");
        let candidate = if !relative {
            Err(format!("--cgroups_root '{root}' is not a relative path"))
        } else if let Some(mount) = freezer_mount(&mounts) {
            Ok(Kind::FreezerV1(mount.join(root)))
        } else if let Some(mount) = unified_mount(&mounts) {
            Ok(Kind::Unified(mount.join(root)))
        } else {
            Err("no freezer cgroup hierarchy is mounted".to_string())
        };
        let kind = candidate.and_then(|kind| {
            let (Kind::FreezerV1(dir) | Kind::Unified(dir)) = &kind else {
                return Ok(kind);
            };
            create_dir(dir)
                .map(|()| kind.clone())
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))
        });
        match kind {
            Ok(kind) => {
                tracing::debug!(tracker = ?kind, "container processes are tracked by cgroup");
                ProcessTracker { kind }
            }
            Err(why) => {
                tracing::warn!(reason = %why,
                    "container processes are tracked by process group and session only: a \
                     process that starts its own session can outlive its container");
                ProcessTracker::session()
            }
        }
    }

    /// A tracker without cgroups: process groups and sessions only.
    pub fn session() -> ProcessTracker {
        ProcessTracker {
            kind: Kind::Session,
        }
    }

    /// Whether containers get a cgroup.
    pub fn uses_cgroups(&self) -> bool {
        self.kind != Kind::Session
    }

    /// The container's cgroup directory (none without cgroups).
    pub fn cgroup(&self, container_id: &str) -> Option<PathBuf> {
        match &self.kind {
            Kind::FreezerV1(root) | Kind::Unified(root) => Some(root.join(container_id)),
            Kind::Session => None,
        }
    }

    /// Creates the container's cgroup; the `cgroup.procs` file its process joins before `exec`
    /// (`None` without cgroups).
    pub fn prepare(&self, container_id: &str) -> io::Result<Option<PathBuf>> {
        let Some(dir) = self.cgroup(container_id) else {
            return Ok(None);
        };
        crate::sandbox::validate_id("container id", container_id)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        create_dir(&dir)?;
        Ok(Some(dir.join("cgroup.procs")))
    }

    /// The pids in the container's cgroup (empty when it has none).
    pub fn pids(&self, container_id: &str) -> Vec<i32> {
        self.cgroup(container_id)
            .map(|dir| pids_in(&dir))
            .unwrap_or_default()
    }

    /// Kills every process in the container's cgroup and removes it; a container without one
    /// (never created, already destroyed, no cgroups) is a no-op. Blocks for at most a few
    /// seconds; call it off the async runtime.
    pub fn destroy(&self, container_id: &str) {
        let Some(dir) = self.cgroup(container_id) else {
            return;
        };
        if !dir.exists() {
            return;
        }
        let killed = match &self.kind {
            Kind::FreezerV1(_) => freeze_kill_thaw(&dir, "freezer.state", "FROZEN", "THAWED"),
            Kind::Unified(_) => {
                if std::fs::write(dir.join("cgroup.kill"), "1").is_ok() {
                    Ok(())
                } else {
                    freeze_kill_thaw(&dir, "cgroup.freeze", "1", "0")
                }
            }
            Kind::Session => Ok(()),
        };
        if let Err(e) = killed {
            tracing::warn!(container = %container_id, cgroup = %dir.display(), error = %e,
                "cannot freeze the container's cgroup; killing its processes unfrozen");
            kill_all(&dir);
        }
        let deadline = Instant::now() + DESTROY_TIMEOUT;
        loop {
            let left = pids_in(&dir);
            if left.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                tracing::warn!(container = %container_id, cgroup = %dir.display(), pids = ?left,
                    "processes of a destroyed container are still there");
                return;
            }
            kill_all(&dir);
            std::thread::sleep(Duration::from_millis(5));
        }
        match std::fs::remove_dir(&dir) {
            Ok(()) => {
                tracing::debug!(container = %container_id, "destroyed the container's cgroup")
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(container = %container_id, cgroup = %dir.display(),
                error = %e, "cannot remove the container's cgroup"),
        }
    }
}

fn pids_in(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn kill_all(dir: &Path) {
    for pid in pids_in(dir) {
        if pid > 0 {
            let _ = crate::sys::signal_process(pid, libc::SIGKILL);
        }
    }
}

/// Freezes the cgroup (waiting until it is), SIGKILLs everything in it, thaws it.
fn freeze_kill_thaw(dir: &Path, file: &str, frozen: &str, thawed: &str) -> io::Result<()> {
    let state = dir.join(file);
    let deadline = Instant::now() + DESTROY_TIMEOUT;
    loop {
        // Freezing can stall on a process in an uninterruptible sleep; writing again retries.
        std::fs::write(&state, frozen)?;
        if std::fs::read_to_string(&state)?.trim() == frozen {
            break;
        }
        if Instant::now() >= deadline {
            let _ = std::fs::write(&state, thawed);
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the cgroup did not freeze",
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    kill_all(dir);
    std::fs::write(&state, thawed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_freezer_mount() {
        let mounts = "tmpfs /sys/fs/cgroup tmpfs rw 0 0\n\
            cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0\n\
            cgroup /sys/fs/cgroup/freezer cgroup rw,relatime,freezer 0 0\n\
            cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n";
        assert_eq!(
            freezer_mount(mounts),
            Some(PathBuf::from("/sys/fs/cgroup/freezer"))
        );
        assert_eq!(
            freezer_mount("cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n"),
            None
        );
    }

    #[test]
    fn a_bad_root_falls_back_to_sessions() {
        assert!(!ProcessTracker::detect("../escape").uses_cgroups());
        assert!(!ProcessTracker::detect("/abs").uses_cgroups());
        assert_eq!(ProcessTracker::session().cgroup("c"), None);
        assert_eq!(ProcessTracker::session().prepare("c").unwrap(), None);
    }
}
