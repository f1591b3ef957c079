//! The daemon's side of [`crate::volumes`]: the master's `checkpoint_resources` message, which
//! volumes running work uses, and giving a container its volumes.
//!
//! A task (or executor) whose resources hold a `disk` with `persistence` and
//! `volume.container_path` sees the volume at `<sandbox>/<container_path>`:
//!
//! - `mode: RW`: a symbolic link to `<work_dir>/volumes/roles/<role>/<id>` made before its
//!   command runs (Mesos' `filesystem/posix` isolator); the container shares the agent's
//!   mount namespace.
//! - `mode: RO`, on an agent that runs as root where mount namespaces work (probed once, by a
//!   forked child that unshares one): an empty directory at `<sandbox>/<container_path>`, and
//!   the container's process runs in a mount namespace of its own (made before `exec`, mounts
//!   slaved to the host's so nothing leaks back) where the volume is bind-mounted on that
//!   directory and remounted read-only (Mesos' `filesystem/linux` isolator): writes fail with
//!   `EROFS`. See [`crate::launcher::ReadOnlyMount`]. The mount exists only in the
//!   container's namespace and goes with its last process; the agent (its `/files`, the
//!   sandbox's `du`, the sandbox's deletion) sees an empty directory, never the volume.
//! - `mode: RO` where that is impossible (the agent is not root, or `unshare` fails; the agent
//!   logs why once, at warn): the symbolic link, and read-only is only advisory. A task given
//!   to an executor that already runs cannot get a mount in the executor's namespace either:
//!   its read-only volumes are linked, advisory, with a warning.
//!
//! A container that runs as a non-root user gets each volume that is owned by root and empty
//! (a new volume) chowned to that user first ([`volumes::claim_for_user`]), as Mesos does.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::OnceLock;

use meseta_api::common::Resource as WireResource;

use super::Shared;
use super::model::State;
use crate::launcher::ReadOnlyMount;
use crate::sys;
use crate::volumes::{self, VolumeError, VolumeKey};

/// The volumes in `resources` (wire), with their `container_path`s and whether they are
/// read-only.
fn volumes_in(resources: &[WireResource]) -> Vec<(VolumeKey, String, bool)> {
    resources
        .iter()
        .filter_map(|r| meseta_types::resources::Resource::try_from(r).ok())
        .filter_map(|r| {
            volumes::volume_of(&r).map(|(k, v)| (k, v.container_path.clone(), v.read_only))
        })
        .collect()
}

/// The volumes live work holds: running executors' and live or queued tasks'.
pub fn in_use(st: &State) -> BTreeSet<VolumeKey> {
    let mut out = BTreeSet::new();
    for framework in st.frameworks.values() {
        for executor in framework.executors.values() {
            if !executor.terminated {
                out.extend(
                    volumes_in(&executor.info.resources)
                        .into_iter()
                        .map(|v| v.0),
                );
            }
            for task in executor.tasks.values().filter(|t| !t.state.is_terminal()) {
                out.extend(volumes_in(&task.info.resources).into_iter().map(|v| v.0));
            }
            for task in &executor.queued {
                out.extend(volumes_in(&task.resources).into_iter().map(|v| v.0));
            }
        }
    }
    out
}

/// Applies a `checkpoint_resources` message: `Ok`, or the status and reason to answer.
pub async fn checkpoint(d: &Shared, resources: &[WireResource]) -> Result<(), (u16, String)> {
    let new = meseta_api::convert::resources_from_wire(resources)
        .map_err(|e| (400, format!("invalid checkpointed resources: {e}")))?;
    let in_use = in_use(&d.lock());
    let d2 = d.clone();
    let described: Vec<String> = new.iter().map(volumes::describe).collect();
    let result = tokio::task::spawn_blocking(move || d2.checkpoint_resources(new, &in_use))
        .await
        .map_err(|e| (500, e.to_string()))?;
    match result {
        Ok(()) => {
            tracing::info!(resources = %described.join("; "), "checkpointed resources applied");
            Ok(())
        }
        Err(VolumeError::Conflict(why)) => {
            tracing::error!(resources = %described.join("; "), error = %why,
                "refusing the checkpointed resources from the master; nothing changed");
            Err((409, why))
        }
        Err(e) => {
            tracing::error!(resources = %described.join("; "), error = %e,
                "cannot apply the checkpointed resources from the master");
            Err((500, e.to_string()))
        }
    }
}

/// Whether read-only volumes can be enforced on this machine (probed once; when they cannot,
/// the agent says why, once).
fn read_only_enforced() -> bool {
    static ENFORCED: OnceLock<bool> = OnceLock::new();
    *ENFORCED.get_or_init(|| match sys::probe_mount_namespaces() {
        Ok(()) => true,
        Err(why) => {
            tracing::warn!(reason = %why,
                "read-only persistent volumes are only advisory on this machine: tasks see \
                 them through a writable link");
            false
        }
    })
}

/// Where the container that gets the volumes stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    /// Not started yet: read-only volumes can be mounted in its own mount namespace.
    New,
    /// An executor already running (tasks given to it): volumes can only be linked.
    Running,
}

/// Makes every volume in `resources` appear in `sandbox` (see the module's documentation) for
/// a container that runs as `user` (`None`: the agent's user). The read-only mounts the
/// container's process must make, to put in its [`crate::launcher::ContainerConfig`]. The
/// error says why the container cannot launch. Blocking; takes the resources' lock, so call it
/// without the state's.
pub fn prepare(
    d: &Shared,
    sandbox: &Path,
    resources: &[WireResource],
    user: Option<&str>,
    container: Container,
) -> Result<Vec<ReadOnlyMount>, String> {
    let wanted = volumes_in(resources);
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let known = volumes::volume_keys(&d.totals().checkpointed);
    // a non-root user the agent switches to: new volumes are given to it
    let owner = user
        .filter(|_| sys::effective_uid() == 0)
        .and_then(|u| sys::user_by_name(u).ok().flatten())
        .filter(|p| p.uid != 0);
    let mut mounts = Vec::new();
    for (key, container_path, read_only) in wanted {
        volumes::check_container_path(&container_path)
            .map_err(|e| format!("persistent volume {key}: {e}"))?;
        let path = volumes::volume_path(&d.config.work_dir, &key.role, &key.id);
        if !known.contains(&key) || !path.is_dir() {
            return Err(format!(
                "persistent volume {key} does not exist on this agent"
            ));
        }
        if let Some(owner) = &owner {
            match volumes::claim_for_user(&path, owner.uid, owner.gid) {
                Ok(true) => tracing::info!(volume = %key, user = %owner.name,
                    "gave the new persistent volume to the user of the task that uses it"),
                Ok(false) => {}
                Err(e) => tracing::warn!(volume = %key, user = %owner.name, error = %e,
                    "cannot give the persistent volume to the task's user"),
            }
        }
        if read_only && container == Container::New && read_only_enforced() {
            let target = volumes::mount_point(sandbox, &container_path)
                .map_err(|e| format!("persistent volume {key}: {e}"))?;
            mounts.push(ReadOnlyMount {
                source: path,
                target,
            });
            continue;
        }
        if read_only && container == Container::Running && read_only_enforced() {
            tracing::warn!(volume = %key, container_path = %container_path,
                "a read-only persistent volume given to an executor that already runs is \
                 linked into its sandbox: read-only is only advisory for it");
        }
        volumes::link_volume(sandbox, &container_path, &path)
            .map_err(|e| format!("persistent volume {key}: {e}"))?;
    }
    Ok(mounts)
}
