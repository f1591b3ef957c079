//! The resources an agent advertises: detected defaults, overridden by `--resources`.
//!
//! As in Mesos, each of `cpus`, `mem`, `disk` and `ports` is detected only when `--resources`
//! does not name it:
//! - `cpus`: the available parallelism (online CPUs, narrowed by affinity and cgroup quota);
//! - `mem`: total memory in MB, less 1 GB kept for the system, or half of it when that is less
//!   (Mesos: `total >= 2 GB ? total - 1 GB : total / 2`);
//! - `disk`: the size of the work dir's filesystem in MB, less 10 GB, or half of it when that is
//!   less (Mesos' rule). The total, not the free space: what an agent advertises must not change
//!   between two starts, or a restarted agent would no longer match its checkpointed info and
//!   could not recover its tasks.
//! - `ports`: `[31000-32000]`.
//!
//! With `--default_role`, every resource that names no role (detected ones included) is
//! statically reserved for that role, as in Mesos.
//!
//! Any other resource comes only from `--resources`. A name given in `--resources` replaces the
//! detected value entirely (all its entries, whatever their roles).

use std::io;
use std::path::{Path, PathBuf};

use meseta_types::resources::{
    Reservation, Resource, ResourceValue, ValueRange, parse_resources_with_default_role,
    validate_role,
};

use crate::sys;

const MB: u64 = 1024 * 1024;
const GB: u64 = 1024 * MB;

/// The default port range.
pub const DEFAULT_PORTS: ValueRange = ValueRange {
    begin: 31000,
    end: 32000,
};

/// The detected resources, in order.
pub const DETECTED: [&str; 4] = ["cpus", "mem", "disk", "ports"];

/// Why the agent's resources could not be determined.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("invalid --resources: {0}")]
    Flag(String),
    #[error("invalid --default_role: {0}")]
    DefaultRole(String),
    #[error("cannot determine the number of cpus: {0}")]
    Cpus(#[source] io::Error),
    #[error("cannot determine total memory: {0}")]
    Memory(#[source] io::Error),
    #[error("cannot determine the disk size under '{}': {source}", path.display())]
    Disk { path: PathBuf, source: io::Error },
}

/// `total` less `reserve`, or half of `total` when that leaves less than half.
fn after_reserve(total: u64, reserve: u64) -> u64 {
    if total >= 2 * reserve {
        total - reserve
    } else {
        total / 2
    }
}

fn detect_one(name: &str, work_dir: &Path) -> Result<Resource, DetectError> {
    Ok(match name {
        "cpus" => {
            let n = std::thread::available_parallelism().map_err(DetectError::Cpus)?;
            Resource::scalar("cpus", n.get() as f64)
        }
        "mem" => {
            let total = sys::total_memory().map_err(DetectError::Memory)?;
            Resource::scalar("mem", (after_reserve(total, GB) / MB) as f64)
        }
        "disk" => {
            let dir = existing_ancestor(work_dir);
            let (_free, total) =
                sys::filesystem_space(&dir).map_err(|source| DetectError::Disk {
                    path: dir.clone(),
                    source,
                })?;
            Resource::scalar("disk", (after_reserve(total, 10 * GB) / MB) as f64)
        }
        _ => Resource {
            name: "ports".to_string(),
            value: ResourceValue::Ranges(vec![DEFAULT_PORTS]),
            role: None,
            revocable: false,
            reservations: Vec::new(),
            disk: None,
        },
    })
}

/// The work dir, or its nearest existing ancestor (the agent may not have created it yet).
fn existing_ancestor(path: &Path) -> PathBuf {
    let mut path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    loop {
        if path.exists() {
            return path.to_path_buf();
        }
        match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => path = parent,
            _ => return PathBuf::from("."),
        }
    }
}

/// Detects `cpus`, `mem`, `disk` (on the filesystem holding `work_dir`) and `ports`.
pub fn detect(work_dir: &Path) -> Result<Vec<Resource>, DetectError> {
    DETECTED
        .iter()
        .map(|name| detect_one(name, work_dir))
        .collect()
}

/// The agent's resources: `flag` (`--resources` text such as `cpus:4;mem:2048;gpus:1`), plus
/// each of `cpus`, `mem`, `disk`, `ports` it does not name, detected. Detected resources come
/// first in that order (or the flag's entries in their place), then the flag's other names in
/// the flag's order.
pub fn agent_resources(work_dir: &Path, flag: Option<&str>) -> Result<Vec<Resource>, DetectError> {
    agent_resources_for_role(work_dir, flag, None)
}

/// [`agent_resources`] with Mesos' `--default_role`: every resource that names no role in
/// `flag`, and every detected one, is statically reserved for `default_role` (`None` or `*`:
/// unreserved). `name(*)` in `flag` stays unreserved.
pub fn agent_resources_for_role(
    work_dir: &Path,
    flag: Option<&str>,
    default_role: Option<&str>,
) -> Result<Vec<Resource>, DetectError> {
    if let Some(role) = default_role {
        validate_role(role).map_err(DetectError::DefaultRole)?;
    }
    let default_role = default_role.filter(|r| *r != "*");
    let overrides = match flag {
        Some(text) => {
            parse_resources_with_default_role(text, default_role).map_err(DetectError::Flag)?
        }
        None => Vec::new(),
    };
    let mut out = Vec::new();
    for name in DETECTED {
        if overrides.iter().any(|r| r.name == name) {
            out.extend(overrides.iter().filter(|r| r.name == name).cloned());
        } else {
            let detected = detect_one(name, work_dir)?;
            let stack = default_role
                .map(|role| {
                    vec![Reservation {
                        role: role.to_string(),
                        ..Reservation::default()
                    }]
                })
                .unwrap_or_default();
            out.push(detected.with_stack(stack));
        }
    }
    out.extend(
        overrides
            .into_iter()
            .filter(|r| !DETECTED.contains(&r.name.as_str())),
    );
    Ok(out)
}

/// Merges `overrides` into `detected` by name: every name in `overrides` replaces all of that
/// name's entries in `detected` (at the position of the first), and new names are appended.
pub fn merge_by_name(detected: Vec<Resource>, overrides: Vec<Resource>) -> Vec<Resource> {
    let mut out: Vec<Resource> = Vec::with_capacity(detected.len() + overrides.len());
    let mut placed: Vec<String> = Vec::new();
    for resource in detected {
        if overrides.iter().any(|o| o.name == resource.name) {
            if !placed.contains(&resource.name) {
                out.extend(
                    overrides
                        .iter()
                        .filter(|o| o.name == resource.name)
                        .cloned(),
                );
                placed.push(resource.name);
            }
        } else {
            out.push(resource);
        }
    }
    out.extend(overrides.into_iter().filter(|o| !placed.contains(&o.name)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserves_follow_mesos() {
        assert_eq!(after_reserve(8 * GB, GB), 7 * GB);
        assert_eq!(after_reserve(2 * GB, GB), GB);
        assert_eq!(after_reserve(GB, GB), GB / 2);
        assert_eq!(after_reserve(100 * GB, 5 * GB), 95 * GB);
        assert_eq!(after_reserve(6 * GB, 5 * GB), 3 * GB);
        assert_eq!(after_reserve(0, GB), 0);
    }

    #[test]
    fn merge_replaces_by_name_and_appends() {
        let detected = vec![
            Resource::scalar("cpus", 8.0),
            Resource::scalar("mem", 1000.0),
            Resource::scalar("cpus", 1.0),
        ];
        let overrides = vec![Resource::scalar("gpus", 1.0), Resource::scalar("cpus", 2.0)];
        let merged = merge_by_name(detected, overrides);
        let names: Vec<_> = merged
            .iter()
            .map(|r| (r.name.as_str(), r.as_scalar()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("cpus", Some(2.0)),
                ("mem", Some(1000.0)),
                ("gpus", Some(1.0))
            ]
        );
    }
}
