//! The Meseta agent's task-running core: everything an agent does to run a task, without the
//! sockets.
//!
//! - [`sandbox`]: Mesos' sandbox layout under the work dir
//!   (`slaves/<agent>/frameworks/<fw>/executors/<ex>/runs/<container>` and `runs/latest`), and
//!   the confined file access behind `/files/browse` and `/files/read`.
//! - [`launcher`]: starts a command as a real process in its own session, in its sandbox, with
//!   Mesos' executor environment, as the right user.
//! - [`containerizer`]: tracks launched containers; wait, kill with a grace period (SIGTERM then
//!   SIGKILL to the whole process group), and the task state a termination maps to.
//! - [`resources`]: the resources the agent advertises (detected, then `--resources`).
//!
//! The HTTP endpoints and the master protocol live elsewhere and call this API; this crate owns
//! no sockets. It is Linux-only: it uses sessions, process groups, `waitid` and `statvfs`
//! through `libc`, all wrapped in one private module.

pub mod containerizer;
pub mod launcher;
pub mod resources;
pub mod sandbox;
mod sys;

pub use containerizer::{
    ContainerHandle, Containerizer, ExitStatus, TaskState, Termination, signal_name,
};
pub use launcher::{CommandSpec, ContainerConfig, LaunchError};
pub use resources::{DetectError, agent_resources, detect};
pub use sandbox::{
    FileError, FileInfo, PathError, ReadChunk, SandboxError, SandboxIds, SandboxLayout, browse,
    read_range, resolve_sandbox_path,
};
