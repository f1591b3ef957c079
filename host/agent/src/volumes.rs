//! Dynamic reservations and persistent volumes on the agent: the checkpointed resources the
//! master sends after RESERVE, UNRESERVE, CREATE and DESTROY (Mesos'
//! `CheckpointResourcesMessage`), what they make of the agent's total, and the volumes'
//! directories.
//!
//! ```text
//! <work_dir>/meta/resources/resources.info      the checkpointed resources (JSON array of
//!                                               Mesos `Resource`s), committed
//! <work_dir>/meta/resources/resources.target    the same, while being applied
//! <work_dir>/volumes/roles/<role>/<id>          a persistent volume (Mesos'
//!                                               `paths::getPersistentVolumePath`; a `/` in a
//!                                               hierarchical role is written as a space)
//! ```
//!
//! The checkpointed set is complete, not a delta: every dynamically reserved resource and
//! every persistent volume of the agent. The agent's total is its static resources
//! (`--resources`, detected ones, static reservations) with each checkpointed resource carved
//! out of the static resource it came from (same name, its reservation stack without the
//! dynamic reservations on top, no volume; ranges and sets item by item), plus the
//! checkpointed resources. A set that does not fit is refused as a whole.
//!
//! Applying a set is two-phase, as in Mesos: write `resources.target`, create the directory
//! of each new volume and delete that of each volume no longer in the set, then rename the
//! target over `resources.info`. A restarted agent that finds a target finishes the job.
//!
//! Nothing here is shared state: the daemon serializes calls.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use meseta_types::resources::{
    PersistentVolume, Reservation, ReservationKind, Resource, ResourceValue, ValueRange,
};

use crate::checkpoint::{self, CheckpointError, MetaLayout};

/// Scalars are compared and kept to Mesos' fixed point (three decimals).
const EPSILON: f64 = 0.0005;

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Why a set of checkpointed resources cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// The set does not fit the agent's resources, or is not a valid set; nothing changed.
    #[error("{0}")]
    Conflict(String),
    /// A checkpoint or a volume directory could not be written or removed.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("persistent volume directory '{}': {source}", path.display())]
    Directory { path: PathBuf, source: io::Error },
}

/// `<work_dir>/meta/resources/resources.info`.
pub fn resources_info(meta: &MetaLayout) -> PathBuf {
    meta.root().join("resources").join("resources.info")
}

/// `<work_dir>/meta/resources/resources.target`.
pub fn resources_target(meta: &MetaLayout) -> PathBuf {
    meta.root().join("resources").join("resources.target")
}

/// `<work_dir>/volumes/roles/<role>/<id>`, a `/` in the role written as a space.
pub fn volume_path(work_dir: &Path, role: &str, id: &str) -> PathBuf {
    work_dir
        .join("volumes")
        .join("roles")
        .join(role.replace('/', " "))
        .join(id)
}

/// A persistent volume as the agent knows it: its role (the innermost reservation's) and id.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VolumeKey {
    pub role: String,
    pub id: String,
}

impl std::fmt::Display for VolumeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "'{}' of role '{}'", self.id, self.role)
    }
}

/// The volume of a resource, with its key (`None`: not a volume, or an unreserved one).
pub fn volume_of(r: &Resource) -> Option<(VolumeKey, &PersistentVolume)> {
    let volume = r.disk.as_ref()?;
    let role = r.role.clone()?;
    Some((
        VolumeKey {
            role,
            id: volume.id.clone(),
        },
        volume,
    ))
}

/// The keys of every volume in `resources`.
pub fn volume_keys(resources: &[Resource]) -> BTreeSet<VolumeKey> {
    resources
        .iter()
        .filter_map(|r| volume_of(r).map(|(k, _)| k))
        .collect()
}

/// Mesos-like text of a resource: `disk(eng, DYNAMIC by ops)[pg-1:data]:100`.
pub fn describe(r: &Resource) -> String {
    let mut out = r.name.clone();
    let stack = r.stack();
    if !stack.is_empty() {
        let levels: Vec<String> = stack
            .iter()
            .map(|x| {
                let mut s = x.role.clone();
                if x.kind == ReservationKind::Dynamic {
                    s.push_str(", DYNAMIC");
                    if let Some(p) = &x.principal {
                        let _ = write!(s, " by {p}");
                    }
                }
                s
            })
            .collect();
        let _ = write!(out, "({})", levels.join(" / "));
    }
    if let Some(v) = &r.disk {
        let _ = write!(out, "[{}:{}]", v.id, v.container_path);
    }
    if r.revocable {
        out.push_str("{REV}");
    }
    out.push(':');
    out.push_str(&value_text(&r.value));
    out
}

fn value_text(value: &ResourceValue) -> String {
    match value {
        ResourceValue::Scalar(v) => format!("{}", round(*v)),
        ResourceValue::Ranges(rs) => {
            let parts: Vec<String> = rs
                .iter()
                .map(|r| format!("{}-{}", r.begin, r.end))
                .collect();
            format!("[{}]", parts.join(", "))
        }
        ResourceValue::Set(items) => format!("{{{}}}", items.join(", ")),
    }
}

/// The reservation stack a checkpointed resource was carved from: its own without the
/// dynamic reservations on top.
fn base_stack(r: &Resource) -> Vec<Reservation> {
    let mut stack = r.stack();
    while stack
        .last()
        .is_some_and(|x| x.kind == ReservationKind::Dynamic)
    {
        stack.pop();
    }
    stack
}

fn is_empty(r: &Resource) -> bool {
    match &r.value {
        ResourceValue::Scalar(v) => *v < EPSILON,
        ResourceValue::Ranges(rs) => rs.is_empty(),
        ResourceValue::Set(items) => items.is_empty(),
    }
}

/// Whether `id` can name a volume's directory: one path component.
fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id == "." || id == ".." || id.contains('/') || id.contains('\0') {
        return Err(format!(
            "persistent volume id '{id}' is not a valid directory name (one path component, \
             not '.' or '..')"
        ));
    }
    Ok(())
}

/// Checks that `checkpointed` is a set the agent can keep: each resource dynamically
/// reserved or a volume, not revocable; each volume on reserved disk, with a valid id unique
/// in its role.
pub fn validate(checkpointed: &[Resource]) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for r in checkpointed {
        let dynamic = r.stack().iter().any(|x| x.kind == ReservationKind::Dynamic);
        if r.revocable {
            return Err(format!(
                "{} is revocable and cannot be checkpointed",
                describe(r)
            ));
        }
        if !dynamic && r.disk.is_none() {
            return Err(format!(
                "{} is neither dynamically reserved nor a persistent volume, and cannot be \
                 checkpointed",
                describe(r)
            ));
        }
        if let Some(v) = &r.disk {
            check_id(&v.id)?;
            let Some((key, _)) = volume_of(r) else {
                return Err(format!(
                    "persistent volume '{}' is on unreserved disk; volumes need reserved disk",
                    v.id
                ));
            };
            if !seen.insert(key.clone()) {
                return Err(format!("persistent volume {key} is listed twice"));
            }
        }
    }
    Ok(())
}

/// The agent's total: `static_resources` with `checkpointed` carved out and added (see the
/// module's documentation). An error names the checkpointed resource that does not fit.
pub fn apply(
    static_resources: &[Resource],
    checkpointed: &[Resource],
) -> Result<Vec<Resource>, String> {
    validate(checkpointed)?;
    let mut left: Vec<Resource> = static_resources.to_vec();
    for c in checkpointed {
        let base = base_stack(c);
        let from = |r: &Resource| {
            r.name == c.name && r.disk.is_none() && !r.revocable && r.stack() == base
        };
        let source = if base.is_empty() {
            format!("unreserved {}", c.name)
        } else {
            let roles: Vec<&str> = base.iter().map(|x| x.role.as_str()).collect();
            format!("{} statically reserved for '{}'", c.name, roles.join(" / "))
        };
        let available: Vec<String> = left
            .iter()
            .filter(|r| from(r))
            .map(|r| value_text(&r.value))
            .collect();
        let misfit = |what: String| {
            format!(
                "{} does not fit this agent's resources: {what} (the agent has {} left: {})",
                describe(c),
                source,
                if available.is_empty() {
                    "none".to_string()
                } else {
                    available.join(" + ")
                }
            )
        };
        match &c.value {
            ResourceValue::Scalar(v) => {
                let mut need = *v;
                for r in left.iter_mut().filter(|r| from(r)) {
                    if let ResourceValue::Scalar(have) = &mut r.value {
                        let take = need.min(*have);
                        *have = round(*have - take);
                        need = round(need - take);
                    }
                }
                if need > EPSILON {
                    return Err(misfit(format!("{need} more needed")));
                }
            }
            ResourceValue::Ranges(ranges) => {
                for range in ranges {
                    let holder =
                        left.iter_mut()
                            .filter(|r| from(r))
                            .find_map(|r| match &mut r.value {
                                ResourceValue::Ranges(rs) => rs
                                    .iter()
                                    .position(|x| x.begin <= range.begin && range.end <= x.end)
                                    .map(|i| (rs, i)),
                                _ => None,
                            });
                    let Some((rs, i)) = holder else {
                        return Err(misfit(format!(
                            "range {}-{} is not available",
                            range.begin, range.end
                        )));
                    };
                    let x = rs.remove(i);
                    if x.begin < range.begin {
                        rs.push(ValueRange {
                            begin: x.begin,
                            end: range.begin - 1,
                        });
                    }
                    if range.end < x.end {
                        rs.push(ValueRange {
                            begin: range.end + 1,
                            end: x.end,
                        });
                    }
                    rs.sort_by_key(|r| r.begin);
                }
            }
            ResourceValue::Set(items) => {
                for item in items {
                    let holder =
                        left.iter_mut()
                            .filter(|r| from(r))
                            .find_map(|r| match &mut r.value {
                                ResourceValue::Set(have) => {
                                    have.iter().position(|h| h == item).map(|i| (have, i))
                                }
                                _ => None,
                            });
                    let Some((have, i)) = holder else {
                        return Err(misfit(format!("item '{item}' is not available")));
                    };
                    have.remove(i);
                }
            }
        }
    }
    left.retain(|r| !is_empty(r));
    for c in checkpointed {
        // equal reservations merge, as Mesos' `Resources` does
        let same = left.iter_mut().find(|r| {
            r.name == c.name
                && r.stack() == c.stack()
                && r.disk == c.disk
                && r.revocable == c.revocable
                && matches!(
                    (&r.value, &c.value),
                    (ResourceValue::Scalar(_), ResourceValue::Scalar(_))
                )
        });
        match (same, &c.value) {
            (Some(r), ResourceValue::Scalar(v)) if c.disk.is_none() => {
                if let ResourceValue::Scalar(have) = &mut r.value {
                    *have = round(*have + v);
                }
            }
            _ => left.push(c.clone()),
        }
    }
    Ok(left)
}

/// The committed checkpointed resources (`resources.info`; none when absent).
pub fn read_checkpointed(meta: &MetaLayout) -> Result<Vec<Resource>, CheckpointError> {
    read_set(&resources_info(meta))
}

fn read_set(path: &Path) -> Result<Vec<Resource>, CheckpointError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let wire: Vec<meseta_api::common::Resource> = checkpoint::read_json(path)?;
    meseta_api::convert::resources_from_wire(&wire).map_err(|e| CheckpointError::Malformed {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Creates the directory of every volume in `new` that has none, and deletes that of every
/// volume in `old` but not in `new`. The deletion does not follow symbolic links (a link in
/// a volume is removed, not what it points to).
pub fn sync_volume_dirs(
    work_dir: &Path,
    old: &[Resource],
    new: &[Resource],
) -> Result<(), VolumeError> {
    let keep = volume_keys(new);
    for key in &keep {
        let path = volume_path(work_dir, &key.role, &key.id);
        if !path.is_dir() {
            fs::create_dir_all(&path).map_err(|source| VolumeError::Directory {
                path: path.clone(),
                source,
            })?;
            tracing::info!(volume = %key, path = %path.display(), "created a persistent volume");
        }
    }
    for key in volume_keys(old).difference(&keep) {
        let path = volume_path(work_dir, &key.role, &key.id);
        match fs::remove_dir_all(&path) {
            Ok(()) => {
                tracing::info!(volume = %key, path = %path.display(), "deleted a destroyed persistent volume");
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(VolumeError::Directory { path, source }),
        }
    }
    Ok(())
}

fn write_set(path: &Path, resources: &[Resource]) -> Result<(), CheckpointError> {
    checkpoint::write_json(path, &meseta_api::convert::resources_to_wire(resources))
}

/// Applies a new checkpointed set: checks it fits `static_resources` (else
/// [`VolumeError::Conflict`], nothing changed), writes the target, creates and deletes volume
/// directories against `old`, and commits. The new total.
pub fn commit(
    meta: &MetaLayout,
    work_dir: &Path,
    static_resources: &[Resource],
    old: &[Resource],
    new: &[Resource],
) -> Result<Vec<Resource>, VolumeError> {
    let total = apply(static_resources, new).map_err(VolumeError::Conflict)?;
    let target = resources_target(meta);
    write_set(&target, new)?;
    sync_volume_dirs(work_dir, old, new)?;
    fs::rename(&target, resources_info(meta)).map_err(|source| CheckpointError::Io {
        path: resources_info(meta),
        source,
    })?;
    Ok(total)
}

/// On start: finishes a commit interrupted by a crash (a `resources.target` left), reads the
/// committed set, makes sure each volume has its directory, and returns the set and the total.
/// A set that no longer fits `static_resources` (`--resources` changed) is an error.
pub fn recover(
    meta: &MetaLayout,
    work_dir: &Path,
    static_resources: &[Resource],
) -> Result<(Vec<Resource>, Vec<Resource>), VolumeError> {
    let committed = read_checkpointed(meta)?;
    let target = resources_target(meta);
    let set = if target.exists() {
        let pending = read_set(&target)?;
        tracing::info!("finishing the checkpoint of resources interrupted by the last agent's end");
        commit(meta, work_dir, static_resources, &committed, &pending)?;
        pending
    } else {
        committed
    };
    let total = apply(static_resources, &set).map_err(|e| {
        VolumeError::Conflict(format!(
            "the checkpointed resources in {} do not fit this agent's resources \
             (--resources or --default_role changed?): {e}",
            resources_info(meta).display()
        ))
    })?;
    sync_volume_dirs(work_dir, &[], &set)?;
    Ok((set, total))
}

/// Checks a volume's `container_path`: relative, without `..`, not empty.
pub fn check_container_path(path: &str) -> Result<(), String> {
    let p = Path::new(path);
    if path.is_empty() {
        return Err("the volume's container_path is empty".into());
    }
    if p.is_absolute() {
        return Err(format!(
            "the volume's container_path '{path}' is absolute; it must be relative to the sandbox"
        ));
    }
    if p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(format!(
            "the volume's container_path '{path}' contains '..'; it must stay in the sandbox"
        ));
    }
    if p.components().all(|c| matches!(c, Component::CurDir)) {
        return Err(format!(
            "the volume's container_path '{path}' names the sandbox itself"
        ));
    }
    Ok(())
}

/// Makes `volume` appear at `<sandbox>/<container_path>`, as Mesos' `filesystem/posix`
/// isolator does: a symbolic link to the volume's directory (parent directories created). A
/// link already there to the same volume is kept; anything else there is an error.
pub fn link_volume(sandbox: &Path, container_path: &str, volume: &Path) -> Result<(), String> {
    check_container_path(container_path)?;
    let link = sandbox.join(container_path);
    if let Some(parent) = link.parent() {
        fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create '{}': {e}", parent.display()))?;
    }
    match fs::symlink_metadata(&link) {
        Ok(meta) if meta.file_type().is_symlink() => {
            if fs::read_link(&link).is_ok_and(|t| t == volume) {
                return Ok(());
            }
            return Err(format!(
                "'{}' in the sandbox is already a link to something else",
                container_path
            ));
        }
        Ok(_) => {
            return Err(format!(
                "'{container_path}' already exists in the sandbox; the volume cannot appear there"
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot inspect '{}': {e}", link.display())),
    }
    std::os::unix::fs::symlink(volume, &link).map_err(|e| {
        format!(
            "cannot link '{}' to the volume '{}': {e}",
            link.display(),
            volume.display()
        )
    })
}

/// Makes `<sandbox>/<container_path>` an empty directory (parents created) for a read-only
/// volume to be bind-mounted on in the container's mount namespace. An empty directory
/// already there is kept; anything else there is an error. The target.
pub fn mount_point(sandbox: &Path, container_path: &str) -> Result<PathBuf, String> {
    check_container_path(container_path)?;
    let target = sandbox.join(container_path);
    match fs::symlink_metadata(&target) {
        Ok(meta) if meta.is_dir() => {
            let empty = fs::read_dir(&target)
                .map_err(|e| format!("cannot read '{}': {e}", target.display()))?
                .next()
                .is_none();
            if empty {
                return Ok(target);
            }
            Err(format!(
                "'{container_path}' already exists in the sandbox and is not empty; the volume \
                 cannot be mounted there"
            ))
        }
        Ok(_) => Err(format!(
            "'{container_path}' already exists in the sandbox; the volume cannot appear there"
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir_all(&target)
            .map(|()| target.clone())
            .map_err(|e| format!("cannot create '{}': {e}", target.display())),
        Err(e) => Err(format!("cannot inspect '{}': {e}", target.display())),
    }
}

/// Mesos' rule for a volume used by a task that runs as a non-root user (`uid`): a volume
/// directory owned by root and empty (a new volume) is given to the user and its group, so
/// the task can write in it. A volume with anything in it, or owned by someone else, is left
/// alone; nothing is ever chowned recursively. Whether it was chowned.
pub fn claim_for_user(volume: &Path, uid: u32, gid: u32) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    if uid == 0 {
        return Ok(false);
    }
    let meta = fs::symlink_metadata(volume)?;
    if !meta.is_dir() || meta.uid() != 0 || fs::read_dir(volume)?.next().is_some() {
        return Ok(false);
    }
    std::os::unix::fs::lchown(volume, Some(uid), Some(gid))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use meseta_types::resources::parse_resources;

    fn dynamic(name: &str, value: f64, roles: &[(&str, ReservationKind)]) -> Resource {
        Resource::scalar(name, value).with_stack(
            roles
                .iter()
                .map(|(role, kind)| Reservation {
                    kind: *kind,
                    role: role.to_string(),
                    principal: (*kind == ReservationKind::Dynamic).then(|| "ops".into()),
                    labels: Vec::new(),
                })
                .collect(),
        )
    }

    fn volume(id: &str, role: &str, size: f64) -> Resource {
        let mut r = dynamic("disk", size, &[(role, ReservationKind::Dynamic)]);
        r.disk = Some(PersistentVolume {
            id: id.into(),
            principal: None,
            container_path: "data".into(),
            read_only: false,
        });
        r
    }

    fn scalar(rs: &[Resource], name: &str, role: Option<&str>) -> f64 {
        rs.iter()
            .filter(|r| r.name == name && r.role.as_deref() == role)
            .filter_map(Resource::as_scalar)
            .sum()
    }

    #[test]
    fn checkpointed_resources_are_carved_out_of_their_static_source() {
        let statics =
            parse_resources("cpus:4;mem:1024;disk(eng):500;disk:1000;ports:[31000-31010]").unwrap();
        let mut ports = dynamic("ports", 0.0, &[("web", ReservationKind::Dynamic)]);
        ports.value = ResourceValue::Ranges(vec![ValueRange {
            begin: 31005,
            end: 31006,
        }]);
        let set = vec![
            dynamic("cpus", 1.5, &[("eng", ReservationKind::Dynamic)]),
            // refines the static reservation for eng
            dynamic(
                "disk",
                200.0,
                &[
                    ("eng", ReservationKind::Static),
                    ("eng/db", ReservationKind::Dynamic),
                ],
            ),
            volume("pg-1", "eng", 300.0),
            ports,
        ];
        let total = apply(&statics, &set).unwrap();
        assert_eq!(scalar(&total, "cpus", None), 2.5);
        assert_eq!(scalar(&total, "cpus", Some("eng")), 1.5);
        // 300 left of the static 500, and the volume (reserved out of unreserved disk)
        assert_eq!(scalar(&total, "disk", Some("eng")), 600.0);
        assert_eq!(scalar(&total, "disk", Some("eng/db")), 200.0);
        assert_eq!(scalar(&total, "disk", None), 700.0);
        let unreserved_ports: Vec<_> = total
            .iter()
            .filter(|r| r.name == "ports" && r.role.is_none())
            .collect();
        assert_eq!(
            unreserved_ports[0].value,
            ResourceValue::Ranges(vec![
                ValueRange {
                    begin: 31000,
                    end: 31004
                },
                ValueRange {
                    begin: 31007,
                    end: 31010
                }
            ])
        );
        assert!(total.iter().any(|r| r.disk.is_some()));
    }

    #[test]
    fn a_set_that_does_not_fit_is_refused_with_the_resource_named() {
        let statics = parse_resources("cpus:1;disk:100").unwrap();
        let e = apply(
            &statics,
            &[dynamic("cpus", 2.0, &[("eng", ReservationKind::Dynamic)])],
        )
        .unwrap_err();
        assert!(e.contains("cpus(eng, DYNAMIC by ops):2"), "{e}");
        assert!(e.contains("1 more needed"), "{e}");
        // a refinement of a static reservation the agent does not have
        let e = apply(
            &statics,
            &[dynamic(
                "cpus",
                1.0,
                &[
                    ("x", ReservationKind::Static),
                    ("x/y", ReservationKind::Dynamic),
                ],
            )],
        )
        .unwrap_err();
        assert!(e.contains("statically reserved for 'x'"), "{e}");
        // statics are not checkpointed; volumes are unique per role
        assert!(apply(&statics, &parse_resources("cpus(eng):1").unwrap()).is_err());
        let e = apply(
            &statics,
            &[volume("v", "eng", 10.0), volume("v", "eng", 10.0)],
        )
        .unwrap_err();
        assert!(e.contains("listed twice"), "{e}");
        assert!(apply(&statics, &[volume("../x", "eng", 1.0)]).is_err());
    }

    #[test]
    fn volume_paths_encode_hierarchical_roles_with_a_space() {
        assert_eq!(
            volume_path(Path::new("/w"), "eng/backend", "pg-1"),
            PathBuf::from("/w/volumes/roles/eng backend/pg-1")
        );
    }

    #[test]
    fn commit_creates_and_deletes_volume_dirs_and_recovery_finishes_a_target() {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path();
        let meta = MetaLayout::new(work);
        let statics = parse_resources("cpus:2;disk:1000").unwrap();
        let v1 = volume("v1", "eng/a", 100.0);
        let set = vec![v1.clone()];
        let total = commit(&meta, work, &statics, &[], &set).unwrap();
        assert_eq!(scalar(&total, "disk", None), 900.0);
        let path = volume_path(work, "eng/a", "v1");
        assert!(path.is_dir());
        std::fs::write(path.join("data"), b"x").unwrap();
        assert_eq!(read_checkpointed(&meta).unwrap(), set);
        assert!(!resources_target(&meta).exists());

        // a crash between the target and the rename: recovery finishes it
        write_set(&resources_target(&meta), &[]).unwrap();
        let (set2, total2) = recover(&meta, work, &statics).unwrap();
        assert!(set2.is_empty());
        assert_eq!(scalar(&total2, "disk", None), 1000.0);
        assert!(!path.exists());
        assert!(!resources_target(&meta).exists());

        // a --resources change that no longer fits
        commit(&meta, work, &statics, &[], &set).unwrap();
        let smaller = parse_resources("cpus:2;disk:50").unwrap();
        let e = recover(&meta, work, &smaller).unwrap_err().to_string();
        assert!(
            e.contains("resources.info") && e.contains("disk(eng/a"),
            "{e}"
        );
    }

    #[test]
    fn links_are_checked_and_deleting_a_sandbox_keeps_the_volume() {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = dir.path().join("sandbox");
        let vol = dir.path().join("vol");
        std::fs::create_dir_all(&sandbox).unwrap();
        std::fs::create_dir_all(&vol).unwrap();
        std::fs::write(vol.join("kept"), b"data").unwrap();
        for bad in ["/abs", "a/../../x", "", "."] {
            assert!(link_volume(&sandbox, bad, &vol).is_err(), "{bad}");
        }
        link_volume(&sandbox, "deep/data", &vol).unwrap();
        link_volume(&sandbox, "deep/data", &vol).unwrap(); // idempotent
        assert!(link_volume(&sandbox, "deep/data", &dir.path().join("other")).is_err());
        assert_eq!(
            std::fs::read(sandbox.join("deep/data/kept")).unwrap(),
            b"data"
        );
        std::fs::remove_dir_all(&sandbox).unwrap();
        assert_eq!(std::fs::read(vol.join("kept")).unwrap(), b"data");
    }

    #[test]
    fn mount_points_are_empty_directories() {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = dir.path();
        let target = mount_point(sandbox, "a/data").unwrap();
        assert_eq!(target, sandbox.join("a/data"));
        assert!(target.is_dir());
        assert_eq!(mount_point(sandbox, "a/data").unwrap(), target); // idempotent
        std::fs::write(target.join("f"), b"x").unwrap();
        assert!(mount_point(sandbox, "a/data").is_err());
        std::fs::write(sandbox.join("file"), b"x").unwrap();
        assert!(mount_point(sandbox, "file").is_err());
        assert!(mount_point(sandbox, "../x").is_err());
    }

    #[test]
    fn only_an_empty_root_owned_volume_is_given_to_the_tasks_user() {
        use std::os::unix::fs::MetadataExt;
        if crate::sys::effective_uid() != 0 {
            eprintln!("skipped: chown needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("fresh");
        std::fs::create_dir(&fresh).unwrap();
        assert!(!claim_for_user(&fresh, 0, 0).unwrap(), "root keeps it");
        assert!(claim_for_user(&fresh, 65534, 65533).unwrap());
        let meta = std::fs::metadata(&fresh).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (65534, 65533));
        // owned by the user now: not chowned again (to another user either)
        assert!(!claim_for_user(&fresh, 1234, 1234).unwrap());
        assert_eq!(std::fs::metadata(&fresh).unwrap().uid(), 65534);

        let used = dir.path().join("used");
        std::fs::create_dir(&used).unwrap();
        std::fs::write(used.join("data"), b"x").unwrap();
        assert!(!claim_for_user(&used, 65534, 65534).unwrap());
        assert_eq!(std::fs::metadata(&used).unwrap().uid(), 0);
        assert_eq!(std::fs::metadata(used.join("data")).unwrap().uid(), 0);
    }
}
