//! The daemon's side of [`crate::volumes`]: the master's `checkpoint_resources` message, which
//! volumes running work uses, and giving a container its volumes.
//!
//! A task (or executor) whose resources hold a `disk` with `persistence` and
//! `volume.container_path` sees the volume at `<sandbox>/<container_path>`, a symbolic link
//! to `<work_dir>/volumes/roles/<role>/<id>` made before its command runs (Mesos'
//! `filesystem/posix` isolator). Containers share the agent's mount namespace, so a volume
//! with `mode: RO` is linked too and read-only only by agreement: nothing stops the task from
//! writing through the link (Mesos' posix isolator does the same; only `filesystem/linux`
//! bind-mounts it read-only).

use std::collections::BTreeSet;
use std::path::Path;

use meseta_api::common::Resource as WireResource;

use super::Shared;
use super::model::State;
use crate::volumes::{self, VolumeError, VolumeKey};

/// The volumes in `resources` (wire), with their `container_path`s.
fn volumes_in(resources: &[WireResource]) -> Vec<(VolumeKey, String)> {
    resources
        .iter()
        .filter_map(|r| meseta_types::resources::Resource::try_from(r).ok())
        .filter_map(|r| volumes::volume_of(&r).map(|(k, v)| (k, v.container_path.clone())))
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

/// Makes every volume in `resources` appear in `sandbox` (see the module's documentation).
/// The error says why the container cannot launch. Blocking; takes the resources' lock, so
/// call it without the state's.
pub fn prepare(d: &Shared, sandbox: &Path, resources: &[WireResource]) -> Result<(), String> {
    let wanted = volumes_in(resources);
    if wanted.is_empty() {
        return Ok(());
    }
    let known = volumes::volume_keys(&d.totals().checkpointed);
    for (key, container_path) in wanted {
        volumes::check_container_path(&container_path)
            .map_err(|e| format!("persistent volume {key}: {e}"))?;
        let path = volumes::volume_path(&d.config.work_dir, &key.role, &key.id);
        if !known.contains(&key) || !path.is_dir() {
            return Err(format!(
                "persistent volume {key} does not exist on this agent"
            ));
        }
        volumes::link_volume(sandbox, &container_path, &path)
            .map_err(|e| format!("persistent volume {key}: {e}"))?;
    }
    Ok(())
}
