//! The agent's checkpoints: Mesos' `meta/` layout under the work dir (`src/slave/paths.hpp`),
//! so that a restarted agent knows what its predecessor ran.
//!
//! ```text
//! <work_dir>/meta/boot_id                              the boot the checkpoints were taken in
//! <work_dir>/meta/resources/resources.info             checkpointed resources (see
//!                                                      [`crate::volumes`]); not per agent id
//! <work_dir>/meta/slaves/latest                        the agent id (a file holding it)
//! <work_dir>/meta/slaves/<aid>/slave.info              AgentInfo (JSON)
//!   frameworks/<fid>/framework.info                    FrameworkInfo (JSON)
//!     executors/<eid>/executor.info                    ExecutorInfo (JSON)
//!       runs/latest                                    the latest container id (a file)
//!       runs/<cid>/meseta.executor                     {"kind": "command"|"group"|"custom"}
//!       runs/<cid>/pids/forked.pid                     "<pid> <start time>" of the supervisor
//!       runs/<cid>/pids/task.pid                       "<pid> <start time>" of its child
//!       runs/<cid>/launch.json                         what the supervisor runs
//!       runs/<cid>/termination                         how the child ended (the supervisor's)
//!       runs/<cid>/killed                              present once the agent asked for a kill
//!       runs/<cid>/completed                           present once the agent handled the
//!                                                      executor's end (Mesos' sentinel)
//!       runs/<cid>/tasks/<tid>/task.info               TaskInfo (JSON)
//!       runs/<cid>/tasks/<tid>/task.updates            status updates and acknowledgements
//!       runs/<cid>/tasks/<tid>/{launch.json,pids/,termination,killed}
//!                                                      a task group member's own container
//! ```
//!
//! The tasks of a task group (kind `group`) each run in a container of their own under the
//! executor's run, each with its own supervisor: those containers' files are in the task's
//! directory, as an executor's are in its run directory (the container id is in
//! `launch.json`).
//!
//! Single files are written to a temporary file and renamed over the old one. `task.updates` is
//! append-only: each record is a native-endian `u32` length followed by that many bytes of JSON
//! (an [`UpdateRecord`]), as Mesos frames its `StatusUpdateRecord`s. A torn last record (the
//! agent died while appending) is ignored and cut off when the stream is replayed.
//!
//! Only frameworks with `FrameworkInfo.checkpoint` are checkpointed. Everything here is
//! synchronous file IO with no other state.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use meseta_api::Bytes;
use meseta_api::common::{AgentInfo, ExecutorInfo, FrameworkInfo, TaskInfo, TaskStatus};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Where the kernel tells the current boot's id.
pub const BOOT_ID_PATH: &str = "/proc/sys/kernel/random/boot_id";

/// Largest record accepted in `task.updates` (anything bigger is a torn or corrupt length).
const MAX_RECORD: u32 = 64 << 20;

/// Why a checkpoint could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot access checkpoint '{}': {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("malformed checkpoint '{}': {message}", path.display())]
    Malformed { path: PathBuf, message: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The `meta/` tree of one work dir.
#[derive(Clone, Debug)]
pub struct MetaLayout {
    root: PathBuf,
}

impl MetaLayout {
    /// The layout under `<work_dir>/meta`.
    pub fn new(work_dir: &Path) -> Self {
        MetaLayout {
            root: work_dir.join("meta"),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn boot_id(&self) -> PathBuf {
        self.root.join("boot_id")
    }

    pub fn latest_agent(&self) -> PathBuf {
        self.root.join("slaves").join("latest")
    }

    pub fn agent_dir(&self, aid: &str) -> PathBuf {
        self.root.join("slaves").join(aid)
    }

    pub fn agent_info(&self, aid: &str) -> PathBuf {
        self.agent_dir(aid).join("slave.info")
    }

    pub fn frameworks_dir(&self, aid: &str) -> PathBuf {
        self.agent_dir(aid).join("frameworks")
    }

    pub fn framework_dir(&self, aid: &str, fid: &str) -> PathBuf {
        self.frameworks_dir(aid).join(fid)
    }

    pub fn framework_info(&self, aid: &str, fid: &str) -> PathBuf {
        self.framework_dir(aid, fid).join("framework.info")
    }

    pub fn executor_dir(&self, aid: &str, fid: &str, eid: &str) -> PathBuf {
        self.framework_dir(aid, fid).join("executors").join(eid)
    }

    pub fn executor_info(&self, aid: &str, fid: &str, eid: &str) -> PathBuf {
        self.executor_dir(aid, fid, eid).join("executor.info")
    }

    pub fn latest_run(&self, aid: &str, fid: &str, eid: &str) -> PathBuf {
        self.executor_dir(aid, fid, eid).join("runs").join("latest")
    }

    pub fn run_dir(&self, aid: &str, fid: &str, eid: &str, cid: &str) -> PathBuf {
        self.executor_dir(aid, fid, eid).join("runs").join(cid)
    }

    pub fn task_dir(&self, aid: &str, fid: &str, eid: &str, cid: &str, tid: &str) -> PathBuf {
        self.run_dir(aid, fid, eid, cid).join("tasks").join(tid)
    }
}

/// Files of one run directory (`runs/<cid>`).
pub mod run_files {
    use std::path::{Path, PathBuf};

    pub fn kind(run: &Path) -> PathBuf {
        run.join("meseta.executor")
    }
    pub fn forked_pid(run: &Path) -> PathBuf {
        run.join("pids").join("forked.pid")
    }
    pub fn task_pid(run: &Path) -> PathBuf {
        run.join("pids").join("task.pid")
    }
    pub fn launch(run: &Path) -> PathBuf {
        run.join("launch.json")
    }
    pub fn termination(run: &Path) -> PathBuf {
        run.join("termination")
    }
    pub fn killed(run: &Path) -> PathBuf {
        run.join("killed")
    }
    /// Written once the agent has handled the executor's end (its tasks' last updates
    /// checkpointed, EXECUTOR_EXITED sent), as Mesos' executor sentinel: a restarted agent
    /// does not report that end again.
    pub fn completed(run: &Path) -> PathBuf {
        run.join("completed")
    }
    pub fn supervisor_log(run: &Path) -> PathBuf {
        run.join("supervisor.log")
    }
    pub fn task_info(task: &Path) -> PathBuf {
        task.join("task.info")
    }
    pub fn task_updates(task: &Path) -> PathBuf {
        task.join("task.updates")
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so a
/// reader sees the old content or the new, never a part. Creates the parent directories.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let parent = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(io_err(parent))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let write = || -> io::Result<()> {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.flush()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        CheckpointError::Io {
            path: path.to_path_buf(),
            source: e,
        }
    })
}

/// [`write_atomic`] of `value` as JSON.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), CheckpointError> {
    let bytes = serde_json::to_vec(value).map_err(|e| CheckpointError::Malformed {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    write_atomic(path, &bytes)
}

/// Reads a JSON checkpoint.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, CheckpointError> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    serde_json::from_slice(&bytes).map_err(|e| CheckpointError::Malformed {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Reads a one-line text checkpoint (trimmed); `None` if the file does not exist.
pub fn read_text(path: &Path) -> Result<Option<String>, CheckpointError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text.trim().to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// The current boot id (`/proc/sys/kernel/random/boot_id`), empty if it cannot be read.
pub fn current_boot_id() -> String {
    fs::read_to_string(BOOT_ID_PATH)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// A process, identified against pid reuse by its start time (field 22 of `/proc/<pid>/stat`,
/// in clock ticks since boot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PidRecord {
    pub pid: u32,
    pub start_time: u64,
}

impl PidRecord {
    /// The record of a running process; `None` if it is gone.
    pub fn of(pid: u32) -> Option<PidRecord> {
        let (_, start_time) = proc_stat(pid)?;
        Some(PidRecord { pid, start_time })
    }

    /// Whether this very process (same pid, same start time) still runs (a zombie does not).
    pub fn is_alive(&self) -> bool {
        matches!(proc_stat(self.pid), Some((state, start)) if start == self.start_time && state != 'Z' && state != 'X')
    }

    pub fn to_text(self) -> String {
        format!("{} {}\n", self.pid, self.start_time)
    }

    pub fn parse(text: &str) -> Option<PidRecord> {
        let mut words = text.split_whitespace();
        let pid = words.next()?.parse().ok()?;
        let start_time = words.next()?.parse().ok()?;
        Some(PidRecord { pid, start_time })
    }

    /// Reads a pid file; `None` if it is missing or malformed.
    pub fn read(path: &Path) -> Option<PidRecord> {
        read_text(path).ok().flatten().and_then(|t| Self::parse(&t))
    }
}

/// `(state, start time)` from `/proc/<pid>/stat`.
fn proc_stat(pid: u32) -> Option<(char, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain anything: skip past the
    // last ')'. Then field 3 is the state, field 22 the start time.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// One record of `task.updates`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UpdateRecord {
    /// A status update was accepted (before it is sent).
    Update {
        status: Box<TaskStatus>,
        /// Sent by a custom executor (it hears `ACKNOWLEDGED`).
        #[serde(default)]
        from_executor: bool,
    },
    /// The framework acknowledged the update with this uuid.
    Ack { uuid: Bytes },
}

/// Appends one record to a `task.updates` file (created if needed).
pub fn append_update(path: &Path, record: &UpdateRecord) -> Result<(), CheckpointError> {
    let json = serde_json::to_vec(record).map_err(|e| CheckpointError::Malformed {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let len = u32::try_from(json.len()).map_err(|_| CheckpointError::Malformed {
        path: path.to_path_buf(),
        message: "record too large".into(),
    })?;
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    let mut frame = Vec::with_capacity(4 + json.len());
    frame.extend_from_slice(&len.to_ne_bytes());
    frame.extend_from_slice(&json);
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io_err(path))?;
    file.write_all(&frame).map_err(io_err(path))
}

/// A replayed `task.updates`: every update in order, and which were acknowledged.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplayedStream {
    /// Every update, oldest first, with its `from_executor` flag.
    pub updates: Vec<(TaskStatus, bool)>,
    pub acked: HashSet<Vec<u8>>,
    /// A torn or undecodable tail was cut off.
    pub truncated: bool,
}

impl ReplayedStream {
    /// The updates not yet acknowledged, oldest first.
    pub fn unacknowledged(&self) -> Vec<(TaskStatus, bool)> {
        self.updates
            .iter()
            .filter(|(s, _)| s.uuid.as_ref().is_none_or(|u| !self.acked.contains(&u.0)))
            .cloned()
            .collect()
    }
}

/// Reads a `task.updates` file; a torn last record is dropped and cut off the file, so later
/// appends follow the last whole record. A missing file is an empty stream.
pub fn replay_updates(path: &Path) -> Result<ReplayedStream, CheckpointError> {
    let mut bytes = Vec::new();
    match fs::File::open(path) {
        Ok(mut file) => {
            file.read_to_end(&mut bytes).map_err(io_err(path))?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(ReplayedStream::default()),
        Err(e) => return Err(io_err(path)(e)),
    }
    let mut out = ReplayedStream::default();
    let mut at = 0usize;
    while at < bytes.len() {
        let Some(head) = bytes.get(at..at + 4) else {
            out.truncated = true;
            break;
        };
        let mut len = [0u8; 4];
        len.copy_from_slice(head);
        let len = u32::from_ne_bytes(len);
        let end = at + 4 + len as usize;
        if len > MAX_RECORD || end > bytes.len() {
            out.truncated = true;
            break;
        }
        match serde_json::from_slice::<UpdateRecord>(&bytes[at + 4..end]) {
            Ok(UpdateRecord::Update {
                status,
                from_executor,
            }) => out.updates.push((*status, from_executor)),
            Ok(UpdateRecord::Ack { uuid }) => {
                out.acked.insert(uuid.0);
            }
            Err(_) => {
                out.truncated = true;
                break;
            }
        }
        at = end;
    }
    if out.truncated {
        tracing::warn!(path = %path.display(), kept = at, size = bytes.len(),
            "cutting a torn record off a status update stream");
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io_err(path))?;
        file.set_len(at as u64).map_err(io_err(path))?;
    }
    Ok(out)
}

/// How a supervised process ended, as the supervisor checkpoints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TerminationRecord {
    Exited(i32),
    Signaled(i32),
    Unknown,
}

/// A recovered task: its info and its update stream.
#[derive(Clone, Debug)]
pub struct TaskState {
    pub info: TaskInfo,
    pub stream: ReplayedStream,
    /// A task group member's own container, once its launch was checkpointed.
    pub container: Option<ContainerRun>,
}

/// The checkpoints of a supervised container that is not its executor's: a task group
/// member's, in its task directory.
#[derive(Clone, Debug)]
pub struct ContainerRun {
    pub container_id: String,
    /// Where its supervisor's files are (`runs/<cid>/tasks/<tid>`).
    pub dir: PathBuf,
    pub supervisor: Option<PidRecord>,
    pub task_pid: Option<PidRecord>,
    pub termination: Option<TerminationRecord>,
    pub killed: bool,
}

/// The part of a `launch.json` that recovery needs.
#[derive(Deserialize)]
struct LaunchedContainer {
    container_id: String,
}

fn read_termination(dir: &Path) -> Result<Option<TerminationRecord>, CheckpointError> {
    match read_text(&run_files::termination(dir))? {
        Some(text) => {
            serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| CheckpointError::Malformed {
                    path: run_files::termination(dir),
                    message: e.to_string(),
                })
        }
        None => Ok(None),
    }
}

/// The container launched from `dir` (its `launch.json`); `None` if none was.
fn read_container(dir: &Path) -> Result<Option<ContainerRun>, CheckpointError> {
    let launch = run_files::launch(dir);
    if !launch.exists() {
        return Ok(None);
    }
    let launched: LaunchedContainer = read_json(&launch)?;
    Ok(Some(ContainerRun {
        container_id: launched.container_id,
        dir: dir.to_path_buf(),
        supervisor: PidRecord::read(&run_files::forked_pid(dir)),
        task_pid: PidRecord::read(&run_files::task_pid(dir)),
        termination: read_termination(dir)?,
        killed: run_files::killed(dir).exists(),
    }))
}

/// A recovered run (the executor's latest container).
#[derive(Clone, Debug)]
pub struct RunState {
    pub container_id: String,
    pub dir: PathBuf,
    /// `command`, `group` or `custom` (absent in runs of a foreign layout).
    pub kind: Option<String>,
    pub supervisor: Option<PidRecord>,
    pub task_pid: Option<PidRecord>,
    pub termination: Option<TerminationRecord>,
    pub killed: bool,
    /// The agent handled the executor's end before it stopped ([`run_files::completed`]).
    pub completed: bool,
    pub tasks: Vec<TaskState>,
}

#[derive(Clone, Debug)]
pub struct ExecutorState {
    pub id: String,
    pub info: ExecutorInfo,
    pub run: Option<RunState>,
}

#[derive(Clone, Debug)]
pub struct FrameworkState {
    pub id: String,
    pub info: FrameworkInfo,
    pub executors: Vec<ExecutorState>,
}

/// Everything checkpointed for one agent id.
#[derive(Clone, Debug)]
pub struct AgentState {
    pub id: String,
    pub info: Option<AgentInfo>,
    pub frameworks: Vec<FrameworkState>,
    /// Unreadable pieces skipped (only when not strict).
    pub errors: u64,
}

fn subdirs(path: &Path) -> Result<Vec<String>, CheckpointError> {
    let entries = match fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(path)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err(path))?;
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            out.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    out.sort();
    Ok(out)
}

/// Runs `read`; when not strict, an error is logged, counted and skipped (`None`).
fn tolerate<T>(
    strict: bool,
    errors: &mut u64,
    read: impl FnOnce(&mut u64) -> Result<T, CheckpointError>,
) -> Result<Option<T>, CheckpointError> {
    match read(errors) {
        Ok(v) => Ok(Some(v)),
        Err(e) if !strict => {
            tracing::warn!(error = %e, "skipping unreadable checkpointed state (--strict=false)");
            *errors += 1;
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Reads every checkpoint of agent `aid`. With `strict`, the first unreadable file is an
/// error; otherwise it is skipped and counted in [`AgentState::errors`].
pub fn read_agent(
    meta: &MetaLayout,
    aid: &str,
    strict: bool,
) -> Result<AgentState, CheckpointError> {
    let mut errors = 0u64;
    let info = tolerate(strict, &mut errors, |_| read_json(&meta.agent_info(aid)))?;
    let mut frameworks = Vec::new();
    for fid in subdirs(&meta.frameworks_dir(aid))? {
        let framework = tolerate(strict, &mut errors, |errors| {
            read_framework(meta, aid, &fid, strict, errors)
        })?;
        frameworks.extend(framework);
    }
    Ok(AgentState {
        id: aid.to_string(),
        info,
        frameworks,
        errors,
    })
}

fn read_framework(
    meta: &MetaLayout,
    aid: &str,
    fid: &str,
    strict: bool,
    errors: &mut u64,
) -> Result<FrameworkState, CheckpointError> {
    let info: FrameworkInfo = read_json(&meta.framework_info(aid, fid))?;
    let mut executors = Vec::new();
    for eid in subdirs(&meta.framework_dir(aid, fid).join("executors"))? {
        let executor = tolerate(strict, errors, |errors| {
            read_executor(meta, aid, fid, &eid, strict, errors)
        })?;
        executors.extend(executor);
    }
    Ok(FrameworkState {
        id: fid.to_string(),
        info,
        executors,
    })
}

fn read_executor(
    meta: &MetaLayout,
    aid: &str,
    fid: &str,
    eid: &str,
    strict: bool,
    errors: &mut u64,
) -> Result<ExecutorState, CheckpointError> {
    let info: ExecutorInfo = read_json(&meta.executor_info(aid, fid, eid))?;
    let run = match read_text(&meta.latest_run(aid, fid, eid))? {
        Some(cid) if !cid.is_empty() => {
            let dir = meta.run_dir(aid, fid, eid, &cid);
            let mut tasks = Vec::new();
            for tid in subdirs(&dir.join("tasks"))? {
                let task_dir = dir.join("tasks").join(&tid);
                let task = tolerate(strict, errors, |_| {
                    Ok(TaskState {
                        info: read_json(&run_files::task_info(&task_dir))?,
                        stream: replay_updates(&run_files::task_updates(&task_dir))?,
                        container: read_container(&task_dir)?,
                    })
                })?;
                tasks.extend(task);
            }
            let termination = read_termination(&dir)?;
            Some(RunState {
                kind: read_text(&run_files::kind(&dir))?,
                supervisor: PidRecord::read(&run_files::forked_pid(&dir)),
                task_pid: PidRecord::read(&run_files::task_pid(&dir)),
                killed: run_files::killed(&dir).exists(),
                completed: run_files::completed(&dir).exists(),
                termination,
                container_id: cid,
                dir,
                tasks,
            })
        }
        _ => None,
    };
    Ok(ExecutorState {
        id: eid.to_string(),
        info,
        run,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use meseta_api::common::{TaskID, TaskState as WireState};

    fn status(state: WireState, uuid: u8) -> TaskStatus {
        let mut s = TaskStatus::new(TaskID::new("t1"), state);
        s.uuid = Some(Bytes(vec![uuid; 16]));
        s
    }

    #[test]
    fn update_streams_replay_and_survive_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tasks/t1/task.updates");
        let update = |s| UpdateRecord::Update {
            status: Box::new(s),
            from_executor: false,
        };
        append_update(&path, &update(status(WireState::Starting, 1))).unwrap();
        append_update(
            &path,
            &UpdateRecord::Ack {
                uuid: Bytes(vec![1; 16]),
            },
        )
        .unwrap();
        append_update(&path, &update(status(WireState::Running, 2))).unwrap();
        let whole = fs::metadata(&path).unwrap().len();
        // a torn record: a length and half its bytes
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&100u32.to_ne_bytes()).unwrap();
        file.write_all(b"{\"type\":").unwrap();
        drop(file);

        let replayed = replay_updates(&path).unwrap();
        assert!(replayed.truncated);
        assert_eq!(replayed.updates.len(), 2);
        let pending = replayed.unacknowledged();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].0.state, WireState::Running);
        assert_eq!(
            fs::metadata(&path).unwrap().len(),
            whole,
            "the torn tail is cut off"
        );

        append_update(&path, &update(status(WireState::Finished, 3))).unwrap();
        let replayed = replay_updates(&path).unwrap();
        assert!(!replayed.truncated);
        assert_eq!(replayed.unacknowledged().len(), 2);
    }

    #[test]
    fn unreadable_checkpoints_stop_a_strict_recovery_and_are_counted_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let meta = MetaLayout::new(dir.path());
        write_atomic(&meta.latest_agent(), b"a1").unwrap();
        write_atomic(&meta.framework_info("a1", "good"), b"{}").unwrap();
        write_atomic(&meta.framework_info("a1", "bad"), b"{not json").unwrap();
        assert!(read_agent(&meta, "a1", true).is_err());
        let state = read_agent(&meta, "a1", false).unwrap();
        // slave.info is missing too
        assert_eq!(state.errors, 2);
        assert_eq!(state.frameworks.len(), 1);
        assert_eq!(state.frameworks[0].id, "good");
    }

    #[test]
    fn a_group_task_has_its_own_container_in_its_task_dir() {
        let dir = tempfile::tempdir().unwrap();
        let meta = MetaLayout::new(dir.path());
        write_atomic(&meta.agent_info("a1"), b"{}").unwrap();
        write_atomic(&meta.framework_info("a1", "f"), b"{}").unwrap();
        write_atomic(
            &meta.executor_info("a1", "f", "g"),
            br#"{"executor_id": {"value": "g"}}"#,
        )
        .unwrap();
        write_atomic(&meta.latest_run("a1", "f", "g"), b"c0").unwrap();
        write_atomic(
            &run_files::kind(&meta.run_dir("a1", "f", "g", "c0")),
            b"group",
        )
        .unwrap();
        for tid in ["t1", "t2"] {
            let task = meta.task_dir("a1", "f", "g", "c0", tid);
            let info = format!(r#"{{"name": "{tid}", "task_id": {{"value": "{tid}"}}}}"#);
            write_atomic(&run_files::task_info(&task), info.as_bytes()).unwrap();
        }
        // t1 was launched and ended (killed); t2 never was
        let t1 = meta.task_dir("a1", "f", "g", "c0", "t1");
        write_atomic(
            &run_files::launch(&t1),
            br#"{"container_id": "c1", "other": "ignored"}"#,
        )
        .unwrap();
        write_atomic(&run_files::forked_pid(&t1), b"10 20\n").unwrap();
        write_atomic(&run_files::task_pid(&t1), b"11 21\n").unwrap();
        write_json(
            &run_files::termination(&t1),
            &TerminationRecord::Signaled(9),
        )
        .unwrap();
        write_atomic(&run_files::killed(&t1), b"").unwrap();

        let state = read_agent(&meta, "a1", true).unwrap();
        let run = state.frameworks[0].executors[0].run.as_ref().unwrap();
        assert_eq!(run.kind.as_deref(), Some("group"));
        assert!(run.supervisor.is_none() && run.task_pid.is_none());
        let container = run.tasks[0].container.as_ref().unwrap();
        assert_eq!(container.container_id, "c1");
        assert_eq!(container.dir, t1);
        assert_eq!(
            container.supervisor,
            Some(PidRecord {
                pid: 10,
                start_time: 20
            })
        );
        assert_eq!(container.task_pid.map(|p| p.pid), Some(11));
        assert_eq!(container.termination, Some(TerminationRecord::Signaled(9)));
        assert!(container.killed);
        assert!(run.tasks[1].container.is_none());
    }

    #[test]
    fn atomic_writes_and_pid_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/slave.info");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);

        let me = PidRecord::of(std::process::id()).unwrap();
        assert!(me.is_alive());
        assert_eq!(PidRecord::parse(&me.to_text()), Some(me));
        let reused = PidRecord {
            start_time: me.start_time + 1,
            ..me
        };
        assert!(!reused.is_alive(), "another start time is another process");
    }
}
