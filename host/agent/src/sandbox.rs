//! Sandboxes: Mesos' directory layout under the agent's work dir, and the file access behind the
//! agent's `/files/browse` and `/files/read` endpoints.
//!
//! Every run of an executor (and so every command task) gets its own directory:
//!
//! ```text
//! <work_dir>/slaves/<agent_id>/frameworks/<framework_id>/executors/<executor_id>/runs/<container_id>/
//! <work_dir>/slaves/<agent_id>/frameworks/<framework_id>/executors/<executor_id>/runs/latest -> <container_id>
//! ```
//!
//! Ids become path components, so they are validated first (Mesos' rules: not empty, not `.` or
//! `..`, no `/`, no NUL or other control characters, at most 255 bytes).
//!
//! The file functions refuse anything that does not stay inside the sandbox root once every
//! symlink is resolved: `..` components, absolute paths elsewhere, and symlinks that point out.
//! They are synchronous (a few syscalls each); an async caller runs them in `spawn_blocking`.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, symlink};
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use crate::sys;

/// The name of the symlink in `runs/` that points at the newest run.
pub const LATEST: &str = "latest";

/// A sandbox path error: why an id or a requested path was refused.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("invalid {kind} '{id}': {why}")]
    InvalidId {
        kind: &'static str,
        id: String,
        why: &'static str,
    },
    #[error("cannot create sandbox '{}': {source}", path.display())]
    Create { path: PathBuf, source: io::Error },
}

/// The ids that name one run of an executor, and so one sandbox.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SandboxIds {
    pub agent_id: String,
    pub framework_id: String,
    pub executor_id: String,
    pub container_id: String,
}

impl SandboxIds {
    pub fn new(
        agent_id: impl Into<String>,
        framework_id: impl Into<String>,
        executor_id: impl Into<String>,
        container_id: impl Into<String>,
    ) -> Self {
        SandboxIds {
            agent_id: agent_id.into(),
            framework_id: framework_id.into(),
            executor_id: executor_id.into(),
            container_id: container_id.into(),
        }
    }

    /// Checks every id with [`validate_id`].
    pub fn validate(&self) -> Result<(), SandboxError> {
        validate_id("agent id", &self.agent_id)?;
        validate_id("framework id", &self.framework_id)?;
        validate_id("executor id", &self.executor_id)?;
        validate_id("container id", &self.container_id)
    }
}

/// Checks that `id` can be used as one path component (Mesos' `validateID` rules, shared with
/// the master: [`meseta_api::common::id_problem`]).
pub fn validate_id(kind: &'static str, id: &str) -> Result<(), SandboxError> {
    match meseta_api::common::id_problem(id) {
        Some(why) => Err(SandboxError::InvalidId {
            kind,
            id: id.to_string(),
            why,
        }),
        None => Ok(()),
    }
}

/// Mesos' sandbox layout under one agent work dir.
///
/// The path functions are pure: they neither validate ids nor touch the filesystem.
/// [`SandboxLayout::create`] validates and creates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxLayout {
    work_dir: PathBuf,
}

impl SandboxLayout {
    pub fn new(work_dir: impl Into<PathBuf>) -> Self {
        SandboxLayout {
            work_dir: work_dir.into(),
        }
    }

    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    /// `<work_dir>/slaves`: the root of every sandbox, and the root `/files` serves.
    pub fn slaves_dir(&self) -> PathBuf {
        self.work_dir.join("slaves")
    }

    /// `<work_dir>/slaves/<agent_id>`
    pub fn agent_dir(&self, agent_id: &str) -> PathBuf {
        self.slaves_dir().join(agent_id)
    }

    /// `.../slaves/<agent_id>/frameworks/<framework_id>`
    pub fn framework_dir(&self, agent_id: &str, framework_id: &str) -> PathBuf {
        self.agent_dir(agent_id)
            .join("frameworks")
            .join(framework_id)
    }

    /// `.../frameworks/<framework_id>/executors/<executor_id>`
    pub fn executor_dir(&self, ids: &SandboxIds) -> PathBuf {
        self.framework_dir(&ids.agent_id, &ids.framework_id)
            .join("executors")
            .join(&ids.executor_id)
    }

    /// `.../executors/<executor_id>/runs`
    pub fn runs_dir(&self, ids: &SandboxIds) -> PathBuf {
        self.executor_dir(ids).join("runs")
    }

    /// `.../runs/<container_id>`: the sandbox itself.
    pub fn run_dir(&self, ids: &SandboxIds) -> PathBuf {
        self.runs_dir(ids).join(&ids.container_id)
    }

    /// `.../runs/latest`: the symlink to the newest run.
    pub fn latest_link(&self, ids: &SandboxIds) -> PathBuf {
        self.runs_dir(ids).join(LATEST)
    }

    /// The virtual path Mesos also serves an executor's newest sandbox under:
    /// `/frameworks/<framework_id>/executors/<executor_id>/runs/latest`.
    pub fn virtual_latest_path(framework_id: &str, executor_id: &str) -> String {
        format!("/frameworks/{framework_id}/executors/{executor_id}/runs/{LATEST}")
    }

    /// Validates the ids, creates the run directory (and its parents) and points `runs/latest`
    /// at it, atomically replacing the previous link. Returns the sandbox path. Creating an
    /// existing run again is harmless.
    ///
    /// The link's target is relative (the container id), so the work dir can move.
    pub fn create(&self, ids: &SandboxIds) -> Result<PathBuf, SandboxError> {
        ids.validate()?;
        let run_dir = self.run_dir(ids);
        let create_err = |source| SandboxError::Create {
            path: run_dir.clone(),
            source,
        };
        fs::create_dir_all(&run_dir).map_err(create_err)?;

        let runs = self.runs_dir(ids);
        let tmp = runs.join(format!(".{LATEST}.{}", ids.container_id));
        match fs::remove_file(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(create_err(e)),
        }
        symlink(&ids.container_id, &tmp).map_err(create_err)?;
        if let Err(e) = fs::rename(&tmp, runs.join(LATEST)) {
            let _ = fs::remove_file(&tmp);
            return Err(create_err(e));
        }
        tracing::debug!(sandbox = %run_dir.display(), "created sandbox");
        Ok(run_dir)
    }

    /// Resolves a `/files` path for this agent: an absolute path inside
    /// [`slaves_dir`](Self::slaves_dir), a path relative to it, or Mesos' virtual path
    /// `/frameworks/<fid>/executors/<eid>/runs/...` (mapped under `slaves/<agent_id>`).
    pub fn resolve(&self, agent_id: &str, requested: &str) -> Result<PathBuf, PathError> {
        let root = self.slaves_dir();
        if requested.starts_with("/frameworks/") && !Path::new(requested).starts_with(&root) {
            validate_id("agent id", agent_id).map_err(|_| PathError::Invalid)?;
            let relative = format!("{agent_id}{requested}");
            return resolve_sandbox_path(&root, &relative);
        }
        resolve_sandbox_path(&root, requested)
    }
}

/// Why a requested `/files` path was refused.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    #[error("empty path")]
    Empty,
    #[error("invalid path")]
    Invalid,
    #[error("path traversal ('..') is not allowed")]
    Traversal,
    #[error("path is outside the sandboxes")]
    Outside,
    #[error("path escapes the sandboxes through a symlink")]
    Escapes,
    #[error("no such file or directory")]
    NotFound,
    #[error("cannot resolve path: {0}")]
    Io(#[source] io::Error),
}

impl PathError {
    /// The HTTP status Mesos' `/files` answers with: 400 for a malformed or escaping path, 404
    /// for a path that is not there or not served, 500 otherwise.
    pub fn http_status(&self) -> u16 {
        match self {
            PathError::Empty | PathError::Invalid | PathError::Traversal | PathError::Escapes => {
                400
            }
            PathError::Outside | PathError::NotFound => 404,
            PathError::Io(_) => 500,
        }
    }
}

fn canonicalize(path: &Path) -> Result<PathBuf, PathError> {
    fs::canonicalize(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => PathError::NotFound,
        _ => PathError::Io(e),
    })
}

/// Resolves `requested` (absolute, or relative to `sandbox_root`) to a canonical path that is
/// `sandbox_root` or inside it.
///
/// Refused: empty paths, paths with NUL, any `..` component (even one that would stay inside),
/// absolute paths outside the root, and paths whose canonical form (every symlink resolved)
/// leaves the root. Symlinks that stay inside, such as `runs/latest`, are followed.
pub fn resolve_sandbox_path(sandbox_root: &Path, requested: &str) -> Result<PathBuf, PathError> {
    if requested.is_empty() {
        return Err(PathError::Empty);
    }
    if requested.contains('\0') {
        return Err(PathError::Invalid);
    }
    let requested_path = Path::new(requested);
    if requested_path
        .components()
        .any(|c| matches!(c, Component::ParentDir))
    {
        return Err(PathError::Traversal);
    }
    let root = canonicalize(sandbox_root)?;
    let candidate = if requested_path.is_absolute() {
        if !requested_path.starts_with(sandbox_root) && !requested_path.starts_with(&root) {
            return Err(PathError::Outside);
        }
        requested_path.to_path_buf()
    } else {
        root.join(requested_path)
    };
    let resolved = canonicalize(&candidate)?;
    if resolved.starts_with(&root) {
        Ok(resolved)
    } else {
        Err(PathError::Escapes)
    }
}

/// Why a read or a listing failed (the path itself was already resolved).
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("no such file or directory")]
    NotFound,
    #[error("cannot read a directory")]
    IsDirectory,
    /// A FIFO, device, socket or other non-regular file: reading one could block forever or
    /// touch hardware, so only regular files are served.
    #[error("cannot read {0}: only regular files are served")]
    NotRegular(&'static str),
    #[error("the file is too large to download ({size} bytes; at most {max})")]
    TooLarge { size: u64, max: u64 },
    #[error("{0}")]
    Io(#[source] io::Error),
}

impl FileError {
    /// The HTTP status Mesos' `/files` answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            FileError::NotFound => 404,
            FileError::IsDirectory | FileError::NotRegular(_) => 400,
            FileError::TooLarge { .. } => 413,
            FileError::Io(_) => 500,
        }
    }
}

impl From<io::Error> for FileError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::NotFound {
            FileError::NotFound
        } else {
            FileError::Io(e)
        }
    }
}

/// What a file that is not a regular file is, for the refusal's message.
fn kind_of(file_type: fs::FileType) -> Option<&'static str> {
    if file_type.is_file() {
        None
    } else if file_type.is_dir() {
        Some("a directory")
    } else if file_type.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if file_type.is_char_device() {
        Some("a character device")
    } else if file_type.is_block_device() {
        Some("a block device")
    } else if file_type.is_socket() {
        Some("a socket")
    } else if file_type.is_symlink() {
        Some("a symbolic link")
    } else {
        Some("not a regular file")
    }
}

fn refuse_kind(kind: &'static str) -> FileError {
    if kind == "a directory" {
        FileError::IsDirectory
    } else {
        FileError::NotRegular(kind)
    }
}

/// Opens `path` for reading only if it is a regular file, without ever blocking: its type is
/// checked first without following a symlink, the open itself is `O_NONBLOCK | O_NOFOLLOW` (a
/// FIFO swapped in meanwhile opens at once instead of waiting for a writer), and the opened
/// descriptor is checked again with `fstat`, which is what is read. A task owns its sandbox and
/// can replace any file in it at any time, so each check alone is not enough.
pub fn open_regular(path: &Path) -> Result<fs::File, FileError> {
    if let Some(kind) = kind_of(fs::symlink_metadata(path)?.file_type()) {
        return Err(refuse_kind(kind));
    }
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => FileError::NotRegular("a symbolic link"),
            _ => FileError::from(e),
        })?;
    if let Some(kind) = kind_of(file.metadata()?.file_type()) {
        return Err(refuse_kind(kind));
    }
    Ok(file)
}

/// Reads a whole regular file (see [`open_regular`]) of at most `max` bytes.
pub fn read_all(path: &Path, max: u64) -> Result<Vec<u8>, FileError> {
    let file = open_regular(path)?;
    let size = file.metadata()?.len();
    if size > max {
        return Err(FileError::TooLarge { size, max });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    // a file that grows meanwhile is cut at the limit
    file.take(max).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The body of Mesos' `/files/read`: `{"data": "...", "offset": N}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReadChunk {
    pub data: String,
    pub offset: u64,
}

/// The most `/files/read` returns at once: 16 pages, as Mesos.
pub fn max_read_length() -> u64 {
    sys::page_size() * 16
}

/// Reads part of a file with Mesos' `/files/read` semantics.
///
/// - `offset: None` (Mesos' `offset=-1`) asks only for the size: `{"data":"","offset":<size>}`.
/// - An offset at or past the end gives no data and echoes the offset.
/// - `length: None` reads to the end; every read is capped at [`max_read_length`].
/// - `data` is the bytes as text: invalid UTF-8 is replaced with U+FFFD, and a multi-byte
///   character cut by the end of the range is left for the next read (unless it is all there
///   is), so consecutive reads do not garble it.
pub fn read_range(
    path: &Path,
    offset: Option<u64>,
    length: Option<u64>,
) -> Result<ReadChunk, FileError> {
    let mut file = open_regular(path)?;
    let size = file.seek(SeekFrom::End(0))?;
    let Some(offset) = offset else {
        return Ok(ReadChunk {
            data: String::new(),
            offset: size,
        });
    };
    let empty = ReadChunk {
        data: String::new(),
        offset,
    };
    if offset >= size {
        return Ok(empty);
    }
    let length = length
        .unwrap_or(size - offset)
        .min(size - offset)
        .min(max_read_length());
    if length == 0 {
        return Ok(empty);
    }
    file.seek(SeekFrom::Start(offset))?;
    let mut bytes = Vec::with_capacity(length as usize);
    file.take(length).read_to_end(&mut bytes)?;
    let keep = complete_utf8_prefix(&bytes);
    Ok(ReadChunk {
        data: String::from_utf8_lossy(&bytes[..keep]).into_owned(),
        offset,
    })
}

/// The length of `bytes` without a trailing, incomplete UTF-8 sequence (if dropping it leaves
/// something).
fn complete_utf8_prefix(bytes: &[u8]) -> usize {
    let len = bytes.len();
    for back in 1..=3.min(len) {
        let b = bytes[len - back];
        if b & 0b1100_0000 == 0b1000_0000 {
            continue; // a continuation byte: keep looking for the lead
        }
        let needed = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => return len,
        };
        return if needed > back && len - back > 0 {
            len - back
        } else {
            len
        };
    }
    len
}

/// One entry of Mesos' `/files/browse` listing: what `ls -l` shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileInfo {
    /// The requested directory joined with the entry's name.
    pub path: String,
    pub nlink: u64,
    /// Bytes.
    pub size: u64,
    /// Unix seconds.
    pub mtime: i64,
    /// `ls -l` style, e.g. `-rw-r--r--` or `drwxr-xr-x`.
    pub mode: String,
    /// The owner's name, or the number when the user database does not know it.
    pub uid: String,
    /// The group's name, or the number.
    pub gid: String,
}

/// Lists `dir` as Mesos' `/files/browse` does, with each entry's `path` under `dir`.
pub fn browse(dir: &Path) -> Result<Vec<FileInfo>, FileError> {
    browse_as(dir, &dir.to_string_lossy())
}

/// Lists `dir` (a resolved path) showing each entry's `path` under `shown_as` (the path the
/// client asked for, e.g. the `runs/latest` or virtual path), as Mesos does.
///
/// Entries are sorted by path and symlinks are followed (an entry whose target is gone is
/// skipped). A path that is not a directory lists as empty, as in Mesos.
pub fn browse_as(dir: &Path, shown_as: &str) -> Result<Vec<FileInfo>, FileError> {
    let meta = fs::metadata(dir)?;
    if !meta.is_dir() {
        return Ok(Vec::new());
    }
    let mut names = Vec::new();
    for entry in fs::read_dir(dir)? {
        names.push(entry?.file_name());
    }
    names.sort();
    let shown_as = shown_as.trim_end_matches('/');
    let mut users = HashMap::new();
    let mut groups = HashMap::new();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let full = dir.join(&name);
        let meta = match fs::metadata(&full) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(path = %full.display(), error = %e, "found in listing but stat failed");
                continue;
            }
        };
        let path = format!("{shown_as}/{}", name.to_string_lossy());
        out.push(file_info(path, &meta, &mut users, &mut groups));
    }
    Ok(out)
}

fn file_info(
    path: String,
    meta: &fs::Metadata,
    users: &mut HashMap<u32, String>,
    groups: &mut HashMap<u32, String>,
) -> FileInfo {
    let uid = meta.uid();
    let gid = meta.gid();
    let uid = users
        .entry(uid)
        .or_insert_with(|| match sys::user_by_uid(uid) {
            Ok(Some(p)) => p.name,
            _ => uid.to_string(),
        })
        .clone();
    let gid = groups
        .entry(gid)
        .or_insert_with(|| sys::group_name(gid).unwrap_or_else(|| gid.to_string()))
        .clone();
    FileInfo {
        path,
        nlink: meta.nlink(),
        size: meta.size(),
        mtime: meta.mtime(),
        mode: mode_string(meta.mode()),
        uid,
        gid,
    }
}

/// Formats `st_mode` as `ls -l` does (type character and the nine permission bits).
pub fn mode_string(mode: u32) -> String {
    let kind = match mode & libc::S_IFMT {
        libc::S_IFDIR => 'd',
        libc::S_IFCHR => 'c',
        libc::S_IFBLK => 'b',
        libc::S_IFIFO => 'p',
        libc::S_IFLNK => 'l',
        libc::S_IFSOCK => 's',
        _ => '-',
    };
    let mut s = String::with_capacity(10);
    s.push(kind);
    for shift in [6u32, 3, 0] {
        let bits = (mode >> shift) & 0o7;
        s.push(if bits & 0o4 != 0 { 'r' } else { '-' });
        s.push(if bits & 0o2 != 0 { 'w' } else { '-' });
        s.push(if bits & 0o1 != 0 { 'x' } else { '-' });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_single_path_components() {
        for bad in ["", ".", "..", "a/b", "a\\b", "a\nb", "a\0b"] {
            assert!(validate_id("task id", bad).is_err(), "{bad:?}");
        }
        assert!(validate_id("task id", &"x".repeat(256)).is_err());
        for good in ["a", "my-task.1", "4f0c-…-ü", "with space"] {
            assert!(validate_id("task id", good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn layout_paths() {
        let layout = SandboxLayout::new("/var/lib/meseta");
        let ids = SandboxIds::new("A", "F", "E", "C");
        assert_eq!(
            layout.run_dir(&ids),
            Path::new("/var/lib/meseta/slaves/A/frameworks/F/executors/E/runs/C")
        );
        assert_eq!(
            layout.latest_link(&ids),
            Path::new("/var/lib/meseta/slaves/A/frameworks/F/executors/E/runs/latest")
        );
        assert_eq!(
            SandboxLayout::virtual_latest_path("F", "E"),
            "/frameworks/F/executors/E/runs/latest"
        );
    }

    #[test]
    fn modes_format_like_ls() {
        assert_eq!(mode_string(libc::S_IFREG | 0o644), "-rw-r--r--");
        assert_eq!(mode_string(libc::S_IFDIR | 0o755), "drwxr-xr-x");
        assert_eq!(mode_string(libc::S_IFREG | 0o4711), "-rwx--x--x");
    }

    #[test]
    fn only_regular_files_are_read_and_nothing_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo(3) on a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        // No writer ever comes: a blocking open would hang here.
        let e = read_range(&fifo, Some(0), None).unwrap_err();
        assert!(matches!(e, FileError::NotRegular(_)), "{e}");
        assert_eq!(e.http_status(), 400);
        assert!(e.to_string().contains("FIFO"), "{e}");
        assert!(
            read_all(&fifo, 10)
                .unwrap_err()
                .to_string()
                .contains("FIFO")
        );

        let socket = dir.path().join("socket");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let e = read_range(&socket, None, None).unwrap_err();
        assert!(e.to_string().contains("socket"), "{e}");

        let e = read_range(Path::new("/dev/zero"), Some(0), Some(10)).unwrap_err();
        assert!(e.to_string().contains("character device"), "{e}");

        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&fifo, &link).unwrap();
        assert!(read_range(&link, Some(0), None).is_err());

        assert!(matches!(
            read_range(dir.path(), Some(0), None),
            Err(FileError::IsDirectory)
        ));

        let file = dir.path().join("file");
        std::fs::write(&file, "hello").unwrap();
        assert_eq!(read_range(&file, Some(1), Some(3)).unwrap().data, "ell");
        assert_eq!(read_all(&file, 5).unwrap(), b"hello");
        assert!(matches!(
            read_all(&file, 4),
            Err(FileError::TooLarge { size: 5, max: 4 })
        ));
    }

    #[test]
    fn incomplete_utf8_tails_are_held_back() {
        assert_eq!(complete_utf8_prefix(b"abc"), 3);
        let e_acute = "é".as_bytes(); // 2 bytes
        let mut v = b"ab".to_vec();
        v.push(e_acute[0]);
        assert_eq!(complete_utf8_prefix(&v), 2);
        let euro = "€".as_bytes(); // 3 bytes
        let mut v = b"a".to_vec();
        v.extend_from_slice(&euro[..2]);
        assert_eq!(complete_utf8_prefix(&v), 1);
        v.push(euro[2]);
        assert_eq!(complete_utf8_prefix(&v), 4);
        // Nothing but a cut character: return it anyway so the reader makes progress.
        assert_eq!(complete_utf8_prefix(&euro[..1]), 1);
        // A stray invalid byte is not held back.
        assert_eq!(complete_utf8_prefix(b"a\xff"), 2);
    }
}
