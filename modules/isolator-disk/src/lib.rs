//! `isolator-disk`: Mesos' `disk/du` isolator as a Meseta module.
//!
//! The agent runs one instance per container and gives it the container's sandbox, read-only,
//! at the path in parameter `sandbox` (`/sandbox`; a WASI preopen, so the module can see
//! nothing else). The module measures the sandbox (the apparent size of every file under it,
//! symbolic links not followed) at most once per parameter `watch_interval` (the agent passes
//! `--container_disk_watch_interval`; Mesos' default is 15 s), and:
//!
//! * `watch` reports a disk limitation once the usage is above the container's `disk`
//!   resource (unless parameter `enforce` is `false`, Mesos' `--enforce_container_disk_quota`);
//!   the agent then destroys the container and the task fails with
//!   `REASON_CONTAINER_LIMITATION_DISK`;
//! * `usage` reports `disk_limit_bytes` and `disk_used_bytes`.
//!
//! A container without `disk` resources is measured but never limited.
//!
//! Persistent volumes are accounted apart from the sandbox, as in Mesos: a `disk` resource
//! with a volume does not count towards the sandbox's limit, and the volume's data does not
//! count as the sandbox's usage (the volume appears in the sandbox as a symbolic link, which
//! is not followed; the module could not see past it anyway). The module does not measure the
//! volumes themselves.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use meseta_types::isolation::{
    Cgroups, ContainerConfig, ContainerId, IsolatorPolicy, LaunchInfo, Limitation,
    LimitationReason, ResourceStatistics,
};
use meseta_types::resources::{Resource, scalar_total};
use meseta_types::{Create, Parameters, parameter};

const MB: f64 = 1024.0 * 1024.0;

/// The sandbox's own `disk`: the container's `disk` scalars that are not persistent volumes
/// (`None` when there is none).
fn sandbox_disk(resources: &[Resource]) -> Option<u64> {
    let sandbox: Vec<Resource> = resources
        .iter()
        .filter(|r| r.name == "disk" && r.disk.is_none() && r.as_scalar().is_some())
        .cloned()
        .collect();
    (!sandbox.is_empty()).then(|| (scalar_total(&sandbox, "disk") * MB) as u64)
}

#[derive(Clone, Debug, PartialEq)]
struct Container {
    /// `disk` in bytes, when the container has any.
    limit: Option<u64>,
    used: Option<u64>,
    measured: Option<Instant>,
}

/// The disk quota isolator.
#[derive(Clone, Debug, PartialEq)]
pub struct DiskIsolator {
    root: PathBuf,
    interval: Duration,
    enforce: bool,
    containers: HashMap<ContainerId, Container>,
}

/// `15secs`, `500ms`, `2mins`, `100` (ms): Mesos' duration units.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{text}' is not a duration such as 15secs or 500ms"))?;
    let secs = match unit.trim() {
        "" | "ms" => n / 1e3,
        "ns" => n / 1e9,
        "us" => n / 1e6,
        "s" | "secs" => n,
        "mins" => n * 60.0,
        "hrs" => n * 3600.0,
        other => return Err(format!("'{text}' has an unknown unit '{other}'")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("'{text}' is not a non-negative duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The apparent size of everything under `dir`.
pub fn du(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                total += meta.len();
            }
        }
    }
    total
}

impl DiskIsolator {
    fn measure(&mut self, container: ContainerId, force: bool) -> Option<&Container> {
        let root = self.root.clone();
        let interval = self.interval;
        let c = self.containers.get_mut(&container)?;
        let due = c.measured.is_none_or(|t| t.elapsed() >= interval);
        if force || due {
            c.used = Some(du(&root));
            c.measured = Some(Instant::now());
        }
        Some(c)
    }
}

impl Create for DiskIsolator {
    fn create(parameters: &Parameters) -> Result<Self, String> {
        let root = PathBuf::from(parameter(parameters, "sandbox").unwrap_or("/sandbox"));
        let interval = match parameter(parameters, "watch_interval") {
            Some(t) => parse_interval(t).map_err(|e| format!("parameter 'watch_interval': {e}"))?,
            None => Duration::from_secs(15),
        };
        let enforce = match parameter(parameters, "enforce").map(str::trim) {
            None | Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return Err(format!(
                    "parameter 'enforce' must be 'true' or 'false', got '{other}'"
                ));
            }
        };
        Ok(DiskIsolator {
            root,
            interval,
            enforce,
            containers: HashMap::new(),
        })
    }
}

impl IsolatorPolicy for DiskIsolator {
    fn prepare(
        &mut self,
        config: &ContainerConfig,
        _cg: &mut dyn Cgroups,
    ) -> Result<LaunchInfo, String> {
        let limit = sandbox_disk(&config.resources);
        self.containers.insert(
            config.container,
            Container {
                limit,
                used: None,
                measured: None,
            },
        );
        Ok(LaunchInfo::default())
    }

    fn update(
        &mut self,
        container: ContainerId,
        resources: &[Resource],
        _cg: &mut dyn Cgroups,
    ) -> Result<(), String> {
        let c = self
            .containers
            .get_mut(&container)
            .ok_or_else(|| format!("unknown container {container}"))?;
        if let Some(limit) = sandbox_disk(resources) {
            c.limit = Some(limit);
        }
        Ok(())
    }

    fn watch(&mut self, container: ContainerId, _cg: &mut dyn Cgroups) -> Option<Limitation> {
        let enforce = self.enforce;
        let c = self.measure(container, false)?;
        let (limit, used) = (c.limit?, c.used?);
        if !enforce || used <= limit {
            return None;
        }
        Some(Limitation {
            reason: LimitationReason::Disk,
            message: format!(
                "Disk usage ({:.1}MB) exceeds quota ({:.1}MB)",
                used as f64 / MB,
                limit as f64 / MB
            ),
            resources: vec![Resource::scalar("disk", limit as f64 / MB)],
        })
    }

    fn usage(
        &mut self,
        container: ContainerId,
        _cg: &mut dyn Cgroups,
    ) -> Result<ResourceStatistics, String> {
        let c = self
            .measure(container, false)
            .ok_or_else(|| format!("unknown container {container}"))?;
        Ok(ResourceStatistics {
            disk_limit_bytes: c.limit,
            disk_used_bytes: c.used,
            ..Default::default()
        })
    }

    fn cleanup(&mut self, container: ContainerId, _cg: &mut dyn Cgroups) -> Result<(), String> {
        self.containers.remove(&container);
        Ok(())
    }
}

#[cfg(target_arch = "wasm32")]
meseta_sdk::export_isolator!(DiskIsolator);

#[cfg(test)]
mod tests {
    use super::*;
    use meseta_types::isolation::{CgroupError, CpuStats, MemoryStats};

    struct NoCg;
    impl Cgroups for NoCg {
        fn set_cpu_shares(&mut self, _: ContainerId, _: u64) -> Result<(), CgroupError> {
            Ok(())
        }
        fn set_cpu_quota(
            &mut self,
            _: ContainerId,
            _: u64,
            _: Option<u64>,
        ) -> Result<(), CgroupError> {
            Ok(())
        }
        fn set_memory_limit(&mut self, _: ContainerId, _: u64) -> Result<(), CgroupError> {
            Ok(())
        }
        fn cpu_stats(&mut self, _: ContainerId) -> Result<CpuStats, CgroupError> {
            Ok(CpuStats::default())
        }
        fn memory_stats(&mut self, _: ContainerId) -> Result<MemoryStats, CgroupError> {
            Ok(MemoryStats::default())
        }
        fn oom_events(&mut self, _: ContainerId) -> Result<u64, CgroupError> {
            Ok(0)
        }
    }

    fn isolator(dir: &Path, interval: &str) -> DiskIsolator {
        DiskIsolator::create(&[
            ("sandbox".into(), dir.display().to_string()),
            ("watch_interval".into(), interval.into()),
        ])
        .unwrap()
    }

    fn config(id: ContainerId, disk_mb: f64) -> ContainerConfig {
        ContainerConfig {
            container: id,
            resources: vec![Resource::scalar("disk", disk_mb)],
            ..Default::default()
        }
    }

    #[test]
    fn intervals_parse() {
        assert_eq!(parse_interval("15secs").unwrap(), Duration::from_secs(15));
        assert_eq!(parse_interval("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_interval("2mins").unwrap(), Duration::from_secs(120));
        assert!(parse_interval("soon").is_err());
        assert!(
            parse_interval("5years")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(DiskIsolator::create(&[("enforce".into(), "maybe".into())]).is_err());
    }

    #[test]
    fn over_quota_is_a_disk_limitation() {
        let dir = std::env::temp_dir().join(format!("isolator-disk-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let mut iso = isolator(&dir, "0ms");
        iso.prepare(&config(1, 1.0), &mut NoCg).unwrap();
        std::fs::write(dir.join("sub/small"), vec![0u8; 1000]).unwrap();
        assert_eq!(iso.watch(1, &mut NoCg), None);
        let s = iso.usage(1, &mut NoCg).unwrap();
        assert_eq!(s.disk_used_bytes, Some(1000));
        assert_eq!(s.disk_limit_bytes, Some(1024 * 1024));
        std::fs::write(dir.join("sub/big"), vec![0u8; 2 * 1024 * 1024]).unwrap();
        let l = iso.watch(1, &mut NoCg).unwrap();
        assert_eq!(l.reason, LimitationReason::Disk);
        assert!(l.message.contains("exceeds quota (1.0MB)"), "{}", l.message);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn measures_at_most_once_per_interval() {
        let dir = std::env::temp_dir().join(format!("isolator-disk-i-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut iso = isolator(&dir, "1hrs");
        iso.prepare(&config(2, 1.0), &mut NoCg).unwrap();
        assert_eq!(iso.watch(2, &mut NoCg), None);
        std::fs::write(dir.join("big"), vec![0u8; 2 * 1024 * 1024]).unwrap();
        // not measured again within the hour
        assert_eq!(iso.watch(2, &mut NoCg), None);
        let mut lax = DiskIsolator::create(&[
            ("sandbox".into(), dir.display().to_string()),
            ("watch_interval".into(), "0ms".into()),
            ("enforce".into(), "false".into()),
        ])
        .unwrap();
        lax.prepare(&config(3, 1.0), &mut NoCg).unwrap();
        assert_eq!(lax.watch(3, &mut NoCg), None);
        assert!(lax.usage(3, &mut NoCg).unwrap().disk_used_bytes.unwrap() > 1024 * 1024);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn persistent_volumes_count_neither_in_the_limit_nor_in_the_usage() {
        let dir = std::env::temp_dir().join(format!("isolator-disk-v-{}", std::process::id()));
        let sandbox = dir.join("sandbox");
        let volume = dir.join("volume");
        std::fs::create_dir_all(&sandbox).unwrap();
        std::fs::create_dir_all(&volume).unwrap();
        std::fs::write(volume.join("data"), vec![0u8; 3 * 1024 * 1024]).unwrap();
        std::fs::write(sandbox.join("own"), vec![0u8; 1000]).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&volume, sandbox.join("data")).unwrap();
        let mut v = Resource::scalar("disk", 100.0);
        v.disk = Some(meseta_types::resources::PersistentVolume {
            id: "pg".into(),
            container_path: "data".into(),
            ..Default::default()
        });
        let mut iso = isolator(&sandbox, "0ms");
        let cfg = ContainerConfig {
            container: 4,
            resources: vec![Resource::scalar("disk", 1.0), v.clone()],
            ..Default::default()
        };
        iso.prepare(&cfg, &mut NoCg).unwrap();
        // 3 MB in the volume, 1 MB of sandbox: no limitation
        assert_eq!(iso.watch(4, &mut NoCg), None);
        let s = iso.usage(4, &mut NoCg).unwrap();
        assert_eq!(s.disk_limit_bytes, Some(1024 * 1024));
        // the sandbox's file and the link itself, not what it points to
        assert!(s.disk_used_bytes.unwrap() < 2000, "{s:?}");
        // a container with only a volume has no sandbox limit
        iso.prepare(
            &ContainerConfig {
                container: 5,
                resources: vec![v],
                ..Default::default()
            },
            &mut NoCg,
        )
        .unwrap();
        assert_eq!(iso.usage(5, &mut NoCg).unwrap().disk_limit_bytes, None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
