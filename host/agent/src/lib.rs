//! The Meseta agent: everything an agent does to run a task, and the daemon around it.
//!
//! - [`sandbox`]: Mesos' sandbox layout under the work dir
//!   (`slaves/<agent>/frameworks/<fw>/executors/<ex>/runs/<container>` and `runs/latest`), and
//!   the confined file access behind `/files/browse` and `/files/read`.
//! - [`launcher`]: starts a command as a real process in its own session, in its sandbox, with
//!   Mesos' executor environment, as the right user.
//! - [`logger`]: the container loggers: `stdout`/`stderr` in the sandbox as they are, or
//!   rotated by size (Mesos' `LogrotateContainerLogger`, the default).
//! - [`containerizer`]: tracks launched containers; wait, kill with a grace period (SIGTERM then
//!   SIGKILL to the whole process group), and the task state a termination maps to.
//! - [`tracking`]: each container's own freezer cgroup, so that everything it starts (even in
//!   a new session) dies with it.
//! - [`resources`]: the resources the agent advertises (detected, then `--resources`).
//! - [`volumes`]: the checkpointed resources (dynamic reservations, persistent volumes) the
//!   master sends, the total they make, the volumes' directories and how a task sees one.
//! - [`checkpoint`]: Mesos' `meta/` checkpoint layout (infos, pids, status update streams),
//!   read back when a restarted agent recovers.
//! - [`supervisor`]: the `meseta supervise` process between the agent and a container, which
//!   outlives the agent and checkpoints the container's exit status.
//! - [`daemon`]: the agent daemon ([`Agent`], [`AgentConfig`]). It owns the sockets and the
//!   tokio tasks: an HTTP server for the master's messages (Meseta's master–agent protocol,
//!   [`meseta_api::internal`]), the v1 executor API and Mesos' agent operator endpoints
//!   (`/slave(1)/state`, `/files/*`, `/metrics/snapshot`, ...); registration with the master;
//!   and the status update manager, which resends every update until it is acknowledged.
//!
//! The library modules above are synchronous or plain async and own no sockets; the daemon
//! calls them. It is Linux-only: it uses sessions, process groups, `waitid` and `statvfs`
//! through `libc`, all wrapped in one private module.

pub mod cgroups;
pub mod checkpoint;
pub mod containerizer;
pub mod daemon;
pub mod isolation;
pub mod launcher;
pub mod logger;
pub mod resources;
pub mod sandbox;
pub mod supervisor;
mod sys;
pub mod tracking;
pub mod volumes;

pub use containerizer::{
    ContainerHandle, Containerizer, ExitStatus, TaskState, Termination, signal_name,
};
pub use daemon::{Agent, AgentConfig, AgentError, RecoverMode};
pub use launcher::{CommandSpec, ContainerConfig, LaunchError, ReadOnlyMount};
pub use resources::{DetectError, agent_resources, agent_resources_for_role, detect};
pub use sandbox::{
    FileError, FileInfo, PathError, ReadChunk, SandboxError, SandboxIds, SandboxLayout, browse,
    read_range, resolve_sandbox_path,
};
