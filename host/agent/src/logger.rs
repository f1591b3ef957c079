//! Container loggers: where a container's stdout and stderr go (Mesos' `--container_logger`).
//!
//! - [`ContainerLogger::Sandbox`] (Mesos' `SandboxContainerLogger`): the process writes straight
//!   into the files `stdout` and `stderr` in its sandbox, which grow without bound.
//! - [`ContainerLogger::Logrotate`] (Mesos' `LogrotateContainerLogger`, the agent's default):
//!   each stream is a pipe drained by a thread of the process that launched the container (the
//!   supervisor, `meseta supervise`, when there is one, so rotation goes on while the agent is
//!   down) into `stdout` (`stderr`); when the file reaches its maximum size it is rotated as
//!   logrotate's `rotate <keep>` does: `stdout.<keep-1>` becomes `stdout.<keep>` (the oldest is
//!   dropped), ..., `stdout` becomes `stdout.1`, and a new `stdout` is started. No file ever
//!   exceeds the maximum size, so a stream takes at most `(keep + 1) * max_size` bytes.
//!
//! The drain never stops reading: a file that cannot be written (a full disk) loses what was
//! meant for it rather than blocking the task, and memory is one fixed buffer per stream. A
//! task that writes faster than the disk takes it is slowed down by its pipe, never stopped.
//! Files the logger creates after launch are opened with `O_NOFOLLOW | O_EXCL` (a task owns its
//! sandbox and could plant a link where `stdout` is re-created) and given to the task's user.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Mesos' default `max_stdout_size` / `max_stderr_size`: 10 MB.
pub const DEFAULT_MAX_SIZE: u64 = 10 * 1024 * 1024;
/// Rotated files kept per stream by default (`rotate 9`, as DC/OS configures Mesos' logger).
pub const DEFAULT_KEEP: u32 = 9;
/// Default `logrotate_stdout_options` / `logrotate_stderr_options`.
pub const DEFAULT_OPTIONS: &str = "rotate 9";
/// The smallest maximum size (Mesos: one memory page).
pub const MIN_MAX_SIZE: u64 = 4096;
/// The most rotated files a stream may keep.
pub const MAX_KEEP: u32 = 1000;
/// How long the launcher of a container that ended waits for its log streams to reach end of
/// file (a process that left the container may hold them open) before it goes on.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

const BUFFER: usize = 64 * 1024;

/// How one stream is rotated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    /// A file is rotated when it reaches this many bytes.
    pub max_size: u64,
    /// Rotated files kept (`stdout.1` ... `stdout.<keep>`); 0 drops a full file.
    pub keep: u32,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            max_size: DEFAULT_MAX_SIZE,
            keep: DEFAULT_KEEP,
        }
    }
}

/// Where a container's stdout and stderr go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerLogger {
    /// The files `stdout` and `stderr` in the sandbox, unrotated.
    Sandbox,
    /// `stdout` and `stderr` in the sandbox, each rotated by size.
    Logrotate { stdout: Rotation, stderr: Rotation },
}

impl Default for ContainerLogger {
    /// The agent's default: rotation with Mesos' default sizes.
    fn default() -> Self {
        ContainerLogger::Logrotate {
            stdout: Rotation::default(),
            stderr: Rotation::default(),
        }
    }
}

impl ContainerLogger {
    /// The `--container_logger` value: `sandbox` or `logrotate`.
    pub fn name(&self) -> &'static str {
        match self {
            ContainerLogger::Sandbox => "sandbox",
            ContainerLogger::Logrotate { .. } => "logrotate",
        }
    }
}

/// Reads Mesos' `logrotate_stdout_options`: logrotate directives, of which the built-in
/// rotation understands `rotate <count>`, the number of rotated files kept. Without it no
/// rotated file is kept (logrotate's own default, `rotate 0`). Any other directive is refused
/// by name, so a configuration copied from Mesos does not silently mean something else.
pub fn parse_logrotate_options(text: &str) -> Result<u32, String> {
    let mut keep = 0;
    let mut words = text.split_whitespace();
    while let Some(word) = words.next() {
        if word != "rotate" {
            return Err(format!(
                "unsupported logrotate option '{word}': the built-in rotation understands only \
                 'rotate <count>'"
            ));
        }
        let count = words
            .next()
            .ok_or_else(|| "'rotate' needs a count, e.g. 'rotate 9'".to_string())?;
        keep = count
            .parse::<u32>()
            .ok()
            .filter(|k| *k <= MAX_KEEP)
            .ok_or_else(|| format!("invalid rotate count '{count}': expected 0 to {MAX_KEEP}"))?;
    }
    Ok(keep)
}

/// Checks a maximum file size: at least [`MIN_MAX_SIZE`].
pub fn check_max_size(max_size: u64) -> Result<u64, String> {
    if max_size < MIN_MAX_SIZE {
        return Err(format!(
            "a maximum log size of {max_size} bytes is below the minimum of {MIN_MAX_SIZE} \
             bytes (one page)"
        ));
    }
    Ok(max_size)
}

/// The log streams of a launched container: the threads draining its pipes (none for the
/// sandbox logger).
#[derive(Debug)]
pub struct LogStreams {
    done: mpsc::Receiver<()>,
    pending: usize,
}

impl LogStreams {
    fn none() -> Self {
        let (_, done) = mpsc::channel();
        LogStreams { done, pending: 0 }
    }

    /// Waits until every stream has reached end of file and its file is complete, or until
    /// `timeout` has passed; whether all were drained.
    pub fn drain(mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.pending > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.done.recv_timeout(left) {
                Ok(()) => self.pending -= 1,
                Err(_) => return false,
            }
        }
        true
    }
}

/// The stdout and stderr a container's process gets, and the streams behind them.
pub struct Outputs {
    pub stdout: Stdio,
    pub stderr: Stdio,
    pub streams: LogStreams,
}

/// Opens a log file in the sandbox for appending (created `0644` when missing).
fn open_append(path: &Path, nofollow: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true).mode(0o644);
    if nofollow {
        options.custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)
}

/// Sets up the container's stdout and stderr in `sandbox` as `logger` says. `owner` is the
/// uid and gid files created later belong to (the task's user when the launch switches user).
pub fn open(
    logger: &ContainerLogger,
    sandbox: &Path,
    owner: Option<(u32, u32)>,
) -> io::Result<Outputs> {
    match logger {
        ContainerLogger::Sandbox => Ok(Outputs {
            stdout: Stdio::from(open_append(&sandbox.join("stdout"), false)?),
            stderr: Stdio::from(open_append(&sandbox.join("stderr"), false)?),
            streams: LogStreams::none(),
        }),
        ContainerLogger::Logrotate { stdout, stderr } => {
            let out = RotatingFile::open(sandbox.join("stdout"), *stdout, owner)?;
            let err = RotatingFile::open(sandbox.join("stderr"), *stderr, owner)?;
            let (done_tx, done) = mpsc::channel();
            let stdout = spawn_pump("stdout", out, done_tx.clone())?;
            let stderr = spawn_pump("stderr", err, done_tx)?;
            Ok(Outputs {
                stdout,
                stderr,
                streams: LogStreams { done, pending: 2 },
            })
        }
    }
}

/// Starts the thread that drains one stream's pipe into its file; the pipe's write end.
fn spawn_pump(name: &str, mut file: RotatingFile, done: mpsc::Sender<()>) -> io::Result<Stdio> {
    let (mut reader, writer) = io::pipe()?;
    std::thread::Builder::new()
        .name(format!("meseta-log-{name}"))
        .stack_size(64 * 1024)
        .spawn(move || {
            let mut buf = vec![0u8; BUFFER];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => file.write(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        tracing::warn!(file = %file.path.display(), error = %e,
                            "cannot read the container's output");
                        break;
                    }
                }
            }
            file.close();
            let _ = done.send(());
        })?;
    Ok(Stdio::from(writer))
}

/// One stream's file, rotated by size.
struct RotatingFile {
    path: PathBuf,
    rotation: Rotation,
    owner: Option<(u32, u32)>,
    /// `None` when the current file could not be opened: output is dropped until it can.
    file: Option<File>,
    /// Bytes in the current file.
    size: u64,
    /// Whether a write failure was already logged (once per file).
    failed: bool,
}

impl RotatingFile {
    /// Opens (appends to) the stream's file as the launch finds it.
    fn open(path: PathBuf, rotation: Rotation, owner: Option<(u32, u32)>) -> io::Result<Self> {
        let file = open_append(&path, true)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile {
            path,
            rotation,
            owner,
            file: Some(file),
            size,
            failed: false,
        })
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    /// Appends `data`, rotating whenever the file reaches its maximum size, so that no file
    /// exceeds it. Never fails: what cannot be written is dropped.
    fn write(&mut self, mut data: &[u8]) {
        let max = self.rotation.max_size.max(1);
        while !data.is_empty() {
            if self.size >= max {
                self.rotate();
            }
            if self.file.is_none() {
                self.reopen();
            }
            let room = usize::try_from(max - self.size.min(max)).unwrap_or(usize::MAX);
            let n = room.min(data.len());
            if let Some(file) = &mut self.file
                && let Err(e) = file.write_all(&data[..n])
                && !self.failed
            {
                self.failed = true;
                tracing::warn!(file = %self.path.display(), error = %e,
                    "cannot write the container's output; dropping it");
            }
            self.size += n as u64;
            data = &data[n..];
        }
    }

    /// `<file>.<keep-1>` → `<file>.<keep>`, ..., `<file>` → `<file>.1`, then a new `<file>`.
    fn rotate(&mut self) {
        self.file = None;
        let keep = self.rotation.keep;
        if keep == 0 {
            let _ = std::fs::remove_file(&self.path);
        } else {
            for n in (1..keep).rev() {
                let _ = std::fs::rename(self.rotated(n), self.rotated(n + 1));
            }
            if let Err(e) = std::fs::rename(&self.path, self.rotated(1)) {
                tracing::warn!(file = %self.path.display(), error = %e, "cannot rotate");
                let _ = std::fs::remove_file(&self.path);
            }
        }
        self.reopen();
    }

    /// Starts a new, empty current file. Whatever stands at its name (the task may have put
    /// a link there) is removed first; the file is created anew, never followed.
    fn reopen(&mut self) {
        self.size = 0;
        self.failed = false;
        let create = || {
            OpenOptions::new()
                .append(true)
                .create_new(true)
                .mode(0o644)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&self.path)
        };
        let file = match create() {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let _ = std::fs::remove_file(&self.path);
                create()
            }
            other => other,
        };
        match file {
            Ok(file) => {
                if let Some((uid, gid)) = self.owner {
                    let _ = std::os::unix::fs::fchown(&file, Some(uid), Some(gid));
                }
                self.file = Some(file);
            }
            Err(e) => {
                tracing::warn!(file = %self.path.display(), error = %e,
                    "cannot create the log file; dropping output");
                self.file = None;
            }
        }
    }

    fn close(&mut self) {
        if let Some(mut file) = self.file.take() {
            let _ = file.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logrotate_options_give_the_count_kept() {
        assert_eq!(parse_logrotate_options("rotate 9"), Ok(9));
        assert_eq!(parse_logrotate_options("  rotate 3\n"), Ok(3));
        assert_eq!(parse_logrotate_options(""), Ok(0));
        assert!(
            parse_logrotate_options("rotate 3 compress")
                .unwrap_err()
                .contains("'compress'")
        );
        assert!(parse_logrotate_options("rotate").is_err());
        assert!(parse_logrotate_options("rotate -1").is_err());
        assert!(parse_logrotate_options("rotate 1000000").is_err());
        assert!(check_max_size(100).unwrap_err().contains("minimum"));
        assert_eq!(check_max_size(4096), Ok(4096));
    }

    fn sizes(dir: &Path) -> Vec<(String, u64)> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.metadata().unwrap().len(),
                )
            })
            .collect();
        files.sort();
        files
    }

    #[test]
    fn files_rotate_at_their_size_and_the_oldest_go() {
        let dir = tempfile::tempdir().unwrap();
        let rotation = Rotation {
            max_size: 100,
            keep: 2,
        };
        let mut f = RotatingFile::open(dir.path().join("stdout"), rotation, None).unwrap();
        // 7 lines of 40 bytes: 280 bytes, in files of at most 100
        for i in 0..7 {
            f.write(format!("{i:039}\n").as_bytes());
        }
        f.close();
        assert_eq!(
            sizes(dir.path()),
            vec![
                ("stdout".to_string(), 80),
                ("stdout.1".to_string(), 100),
                ("stdout.2".to_string(), 100),
            ]
        );
        let all = [
            std::fs::read_to_string(dir.path().join("stdout.2")).unwrap(),
            std::fs::read_to_string(dir.path().join("stdout.1")).unwrap(),
            std::fs::read_to_string(dir.path().join("stdout")).unwrap(),
        ]
        .concat();
        let expected: String = (0..7).map(|i| format!("{i:039}\n")).collect();
        assert_eq!(all, expected, "in order, nothing lost with nothing dropped");

        // more output: the oldest rotated file goes, the count stays
        f.write(&[b'x'; 250]);
        f.close();
        let files = sizes(dir.path());
        assert_eq!(files.len(), 3, "{files:?}");
        assert!(files.iter().all(|(_, size)| *size <= 100), "{files:?}");
        assert!(
            std::fs::read_to_string(dir.path().join("stdout"))
                .unwrap()
                .ends_with('x')
        );
    }

    #[test]
    fn keep_zero_drops_full_files() {
        let dir = tempfile::tempdir().unwrap();
        let rotation = Rotation {
            max_size: 10,
            keep: 0,
        };
        let mut f = RotatingFile::open(dir.path().join("stderr"), rotation, None).unwrap();
        f.write(b"0123456789abcdef");
        f.close();
        assert_eq!(sizes(dir.path()), vec![("stderr".to_string(), 6)]);
    }

    #[test]
    fn a_link_planted_where_the_file_is_recreated_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, b"precious").unwrap();
        let path = dir.path().join("stdout");
        let rotation = Rotation {
            max_size: 10,
            keep: 1,
        };
        let mut f = RotatingFile::open(path.clone(), rotation, None).unwrap();
        f.write(b"0123456789");
        // the task replaces its current file by a link before the next rotation
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        f.write(b"more");
        f.close();
        assert_eq!(std::fs::read(&target).unwrap(), b"precious");
        assert!(!std::fs::symlink_metadata(&path).unwrap().is_symlink());
        assert_eq!(std::fs::read(&path).unwrap(), b"more");
    }

    #[test]
    fn a_pipe_is_drained_into_rotated_files_until_end_of_file() {
        let dir = tempfile::tempdir().unwrap();
        let rotation = Rotation {
            max_size: 4096,
            keep: 3,
        };
        let logger = ContainerLogger::Logrotate {
            stdout: rotation,
            stderr: rotation,
        };
        let outputs = open(&logger, dir.path(), None).unwrap();
        let status = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg("i=0; while [ $i -lt 2000 ]; do echo line-$i; i=$((i+1)); done; echo oops >&2")
            .stdin(Stdio::null())
            .stdout(outputs.stdout)
            .stderr(outputs.stderr)
            .status()
            .unwrap();
        assert!(status.success());
        assert!(outputs.streams.drain(Duration::from_secs(10)));
        let files = sizes(dir.path());
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["stderr", "stdout", "stdout.1", "stdout.2", "stdout.3"]
        );
        assert!(files.iter().all(|(_, size)| *size <= 4096), "{files:?}");
        let last = std::fs::read_to_string(dir.path().join("stdout")).unwrap();
        assert!(last.ends_with("line-1999\n"), "{last}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("stderr")).unwrap(),
            "oops\n"
        );
    }
}
