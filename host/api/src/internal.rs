//! Meseta's own master–agent protocol: JSON over plain HTTP, one `POST` per message, or per
//! batch of messages when several are waiting (see "Batches" below).
//!
//! Mesos speaks libprocess between master and agent; Meseta replaces it by these messages. The
//! types reuse the v1 messages of [`crate::common`] so that what an agent reports is exactly
//! what the master shows to frameworks.
//!
//! Agent → master (paths under the master's address):
//!
//! | path | body | answer |
//! |---|---|---|
//! | `POST /internal/agent/register` | [`RegisterAgent`] | `200` [`Registered`] |
//! | `POST /internal/agent/status` | [`StatusUpdate`] | `202`; `409` when the master does not know the agent (the agent registers again) |
//! | `POST /internal/agent/executor_message` | [`ExecutorToFramework`] | `202` |
//! | `POST /internal/agent/executor_exited` | [`ExecutorExited`] | `202` |
//! | `POST /internal/agent/update` | [`UpdateAgent`] | `202`; `409` when the master does not know the agent |
//! | `POST /internal/agent/statuses` | [`StatusUpdates`] | `200` [`Codes`]: per update, what `status` would have answered |
//!
//! Master → agent (paths under the agent's `endpoint`):
//!
//! | path | body | answer |
//! |---|---|---|
//! | `POST /internal/master/ping` | [`Ping`] | `200` [`Pong`] |
//! | `POST /internal/master/run_task` | [`RunTask`] | `202` |
//! | `POST /internal/master/kill_task` | [`KillTask`] | `202` |
//! | `POST /internal/master/shutdown_framework` | [`ShutdownFramework`] | `202` |
//! | `POST /internal/master/shutdown_executor` | [`ShutdownExecutor`] | `202` |
//! | `POST /internal/master/acknowledge` | [`AcknowledgeUpdate`] | `202` |
//! | `POST /internal/master/framework_message` | [`FrameworkToExecutor`] | `202` |
//! | `POST /internal/master/checkpoint_resources` | [`CheckpointResources`] | `202` |
//! | `POST /internal/master/batch` | [`Batch`] | `200` [`Codes`]: per message, what its own path would have answered |
//!
//! Batches: a sender with more than one message waiting for the same peer (the master's
//! outbox of one agent; an agent's status updates) sends them in one `POST` instead of one
//! each, in order; the receiver handles them one after the other exactly as if they had come
//! alone. With a single message waiting, the message goes to its own path. A peer that answers
//! a batch with `404` (it predates batches) gets the messages one by one.
//!
//! Status updates: the agent numbers nothing; every update that needs an acknowledgement has a
//! `uuid` (16 bytes). The agent keeps one queue per task and sends only its head, again and
//! again with backoff, until an [`AcknowledgeUpdate`] with that uuid comes back; then the next.
//! The master records the task's latest state from every update, forwards each update to the
//! framework, and relays the framework's ACKNOWLEDGE to the agent.
//!
//! Liveness: the master pings every registered agent every `agent_ping_timeout`; an agent that
//! misses `max_agent_ping_timeouts` pings in a row is removed. An agent that hears no ping for
//! that long, or gets `409` from the master, registers again with its id and running tasks.

use serde::{Deserialize, Serialize};

use crate::Bytes;
use crate::common::{
    AgentID, AgentInfo, ExecutorID, ExecutorInfo, FrameworkID, FrameworkInfo, KillPolicy, Resource,
    TaskID, TaskInfo, TaskState, TaskStatus,
};
use crate::lenient::null_as_default;

pub const REGISTER: &str = "/internal/agent/register";
pub const STATUS: &str = "/internal/agent/status";
pub const EXECUTOR_MESSAGE: &str = "/internal/agent/executor_message";
pub const EXECUTOR_EXITED: &str = "/internal/agent/executor_exited";
pub const UPDATE: &str = "/internal/agent/update";
pub const STATUSES: &str = "/internal/agent/statuses";

pub const PING: &str = "/internal/master/ping";
pub const RUN_TASK: &str = "/internal/master/run_task";
pub const KILL_TASK: &str = "/internal/master/kill_task";
pub const SHUTDOWN_FRAMEWORK: &str = "/internal/master/shutdown_framework";
pub const ACKNOWLEDGE: &str = "/internal/master/acknowledge";
pub const FRAMEWORK_MESSAGE: &str = "/internal/master/framework_message";
pub const BATCH: &str = "/internal/master/batch";

/// The header naming the master that sends a message to an agent (its `MasterInfo.id`). An
/// agent that follows the election in ZooKeeper refuses (409) a message from any master but the
/// leader it detected, as Mesos' agent ignores messages from a master that is not its leader.
pub const MASTER_ID_HEADER: &str = "meseta-master-id";

/// The most messages one batch carries.
pub const MAX_BATCH: usize = 512;

/// Adds to `waiting` (which holds the message that woke the sender) what `next` has ready
/// now, up to [`MAX_BATCH`]: the messages that queued up while the previous POST was on its way.
pub fn fill_batch<T>(waiting: &mut Vec<T>, mut next: impl FnMut() -> Option<T>) {
    while waiting.len() < MAX_BATCH {
        match next() {
            Some(m) => waiting.push(m),
            None => break,
        }
    }
}

/// A task the agent runs, as reported when (re-)registering.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunningTask {
    pub framework_id: FrameworkID,
    pub task: TaskInfo,
    /// The latest status of the task (its state and the rest).
    pub status: TaskStatus,
    /// The framework as the agent got it with the task (so a master that lost it can show it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework: Option<FrameworkInfo>,
}

/// `POST /internal/agent/register`: first registration (`agent_info.id` absent) or
/// re-registration (`agent_info.id` set, `tasks` the tasks still known to the agent).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegisterAgent {
    /// hostname, port, resources (after `--resources`), attributes, and `id` when re-registering.
    pub agent_info: AgentInfo,
    /// `ip:port` the master reaches the agent's HTTP server at.
    pub endpoint: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tasks: Vec<RunningTask>,
    /// Meseta version of the agent, for `/master/slaves`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The custom executors the agent runs (Mesos' `ReregisterSlaveMessage.executor_infos`), so
    /// a master that lost them accounts their resources again.
    #[serde(default, deserialize_with = "null_as_default")]
    pub executors: Vec<RunningExecutor>,
}

/// A custom executor an agent runs, in its re-registration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunningExecutor {
    pub framework_id: FrameworkID,
    pub executor: ExecutorInfo,
}

/// The answer to [`RegisterAgent`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Registered {
    pub agent_id: AgentID,
    pub master_id: String,
    /// How often the master pings (seconds); the agent registers again after
    /// `ping_interval_seconds * max_ping_timeouts` of silence.
    pub ping_interval_seconds: f64,
    pub max_ping_timeouts: u32,
}

/// `POST /internal/agent/status`: one status update of a task. `status.agent_id`,
/// `status.executor_id` and `status.uuid` are filled in by the agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusUpdate {
    pub agent_id: AgentID,
    pub framework_id: FrameworkID,
    pub status: TaskStatus,
    /// The latest state the agent knows for the task (Mesos' `StatusUpdate.latest_state`): newer
    /// than `status.state` when later updates wait behind this unacknowledged one. The master
    /// shows and accounts the task by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_state: Option<TaskState>,
}

/// `POST /internal/agent/statuses`: several status updates (each as in `status`), in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusUpdates {
    pub updates: Vec<StatusUpdate>,
}

/// `POST /internal/master/batch`: master -> agent messages, handled in order.
#[derive(Debug, Serialize, Deserialize)]
pub struct Batch {
    pub messages: Vec<BatchMessage>,
}

/// One message of a [`Batch`]: the path it would have been POSTed to alone, and its body.
#[derive(Debug, Serialize, Deserialize)]
pub struct BatchMessage {
    pub path: String,
    pub message: Box<serde_json::value::RawValue>,
}

/// The answer to a batch: one HTTP status code per message, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Codes {
    pub codes: Vec<u16>,
}

/// The JSON of a batch of already-encoded messages (`(path, JSON body)`), without decoding
/// and encoding them again: `{"messages":[{"path":..,"message":..},..]}`.
pub fn encode_batch<'a>(messages: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Vec<u8> {
    let mut out = br#"{"messages":["#.to_vec();
    for (i, (path, body)) in messages.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(br#"{"path":"#);
        out.extend_from_slice(
            serde_json::to_string(path)
                .unwrap_or_else(|_| "\"\"".into())
                .as_bytes(),
        );
        out.extend_from_slice(br#","message":"#);
        out.extend_from_slice(body);
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    out
}

/// The JSON of [`StatusUpdates`] from already-encoded [`StatusUpdate`]s.
pub fn encode_status_updates<'a>(updates: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = br#"{"updates":["#.to_vec();
    for (i, body) in updates.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(body);
    }
    out.extend_from_slice(b"]}");
    out
}

/// `POST /internal/agent/executor_message`: an executor's MESSAGE call, for the scheduler.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecutorToFramework {
    pub agent_id: AgentID,
    pub framework_id: FrameworkID,
    pub executor_id: ExecutorID,
    pub data: Bytes,
}

/// `POST /internal/agent/executor_exited`: a custom executor ended (the master sends FAILURE).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecutorExited {
    pub agent_id: AgentID,
    pub framework_id: FrameworkID,
    pub executor_id: ExecutorID,
    /// The raw wait status, as Mesos reports it: `code << 8` after an exit, the signal number
    /// after a signal, -1 when unknown. The master passes it on in `FAILURE.status`.
    pub status: i32,
}

/// `POST /internal/agent/update` (Mesos' `UpdateSlaveMessage`): the agent's resource estimator
/// changed its estimate. `oversubscribed_resources` (all revocable) replaces the previous
/// estimate; the master adds it to the agent's total and rescinds outstanding offers of the
/// old estimate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UpdateAgent {
    pub agent_id: AgentID,
    #[serde(default, deserialize_with = "null_as_default")]
    pub oversubscribed_resources: Vec<Resource>,
}

/// `POST /internal/master/ping`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ping {
    pub master_id: String,
    pub agent_id: AgentID,
}

/// The answer to [`Ping`]. `known = false` tells the master the agent does not consider itself
/// registered with this id (it restarted): the master removes it, the agent registers anew.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pong {
    pub known: bool,
}

/// `POST /internal/master/run_task`: launch `tasks` for `framework`. With `executor` absent each
/// task is a command task (its own command executor, `executor_id` = task id); with `executor`
/// set the tasks go to that custom executor (started if not running). `group` marks a
/// LAUNCH_GROUP (the tasks start and fail together under the default executor).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunTask {
    pub framework: FrameworkInfo,
    pub framework_id: FrameworkID,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor: Option<ExecutorInfo>,
    pub tasks: Vec<TaskInfo>,
    #[serde(default)]
    pub group: bool,
}

/// `POST /internal/master/kill_task`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KillTask {
    pub framework_id: FrameworkID,
    pub task_id: TaskID,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_policy: Option<KillPolicy>,
}

/// `POST /internal/master/shutdown_framework`: kill every task and executor of the framework
/// on this agent (TEARDOWN, failover timeout).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShutdownFramework {
    pub framework_id: FrameworkID,
}

/// `POST /internal/master/acknowledge`: the framework acknowledged the update `uuid` of a task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AcknowledgeUpdate {
    pub framework_id: FrameworkID,
    pub task_id: TaskID,
    pub uuid: Bytes,
}

/// `POST /internal/master/framework_message`: a scheduler's MESSAGE call, for an executor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameworkToExecutor {
    pub framework_id: FrameworkID,
    pub executor_id: ExecutorID,
    pub data: Bytes,
}

/// A shutdown request from the master for one executor (SHUTDOWN call).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShutdownExecutor {
    pub framework_id: FrameworkID,
    pub executor_id: ExecutorID,
}

pub const SHUTDOWN_EXECUTOR: &str = "/internal/master/shutdown_executor";

/// The master tells an agent to shut down for good (Mesos' `ShutdownMessage`): an operator
/// marked it gone. It kills everything it runs, forgets its id and stops.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShutdownAgent {
    pub message: String,
}

pub const SHUTDOWN_AGENT: &str = "/internal/master/shutdown_agent";

/// The agent's checkpointed resources after an operation changed them (Mesos'
/// `CheckpointResourcesMessage`): every dynamically reserved resource and every persistent
/// volume on the agent, in full (not a delta). The agent writes them to its checkpoint, carves
/// them out of its `--resources`, creates the directory of each new volume and deletes the
/// directory of each volume no longer listed; from then on it registers with the new total.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckpointResources {
    #[serde(default, deserialize_with = "null_as_default")]
    pub resources: Vec<Resource>,
}

pub const CHECKPOINT_RESOURCES: &str = "/internal/master/checkpoint_resources";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn register_round_trips_and_tolerates_null_tasks() {
        let text = r#"{"agent_info":{"hostname":"h","port":5051},"endpoint":"127.0.0.1:5051","tasks":null}"#;
        let r: RegisterAgent = serde_json::from_str(text).unwrap();
        assert!(r.tasks.is_empty());
        assert_eq!(r.agent_info.port, Some(5051));
        let back: RegisterAgent =
            serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn batches_carry_encoded_messages_unchanged_and_in_order() {
        let ack = serde_json::to_vec(&AcknowledgeUpdate {
            framework_id: FrameworkID::new("f"),
            task_id: TaskID::new("t"),
            uuid: crate::Bytes(vec![1, 2, 3]),
        })
        .unwrap();
        let ping = br#"{"master_id":"m","agent_id":{"value":"a"}}"#.to_vec();
        let text = encode_batch([(ACKNOWLEDGE, ack.as_slice()), (PING, ping.as_slice())]);
        let b: Batch = serde_json::from_slice(&text).unwrap();
        assert_eq!(b.messages.len(), 2);
        assert_eq!(b.messages[0].path, ACKNOWLEDGE);
        let back: AcknowledgeUpdate = serde_json::from_str(b.messages[0].message.get()).unwrap();
        assert_eq!(back.uuid.0, vec![1, 2, 3]);
        assert_eq!(b.messages[1].path, PING);
        assert_eq!(b.messages[1].message.get().as_bytes(), ping.as_slice());

        let u = StatusUpdate {
            agent_id: AgentID::new("a"),
            framework_id: FrameworkID::new("f"),
            status: TaskStatus::new(TaskID::new("t"), crate::common::TaskState::Running),
            latest_state: None,
        };
        let one = serde_json::to_vec(&u).unwrap();
        let all = encode_status_updates([one.as_slice(), one.as_slice()]);
        let back: StatusUpdates = serde_json::from_slice(&all).unwrap();
        assert_eq!(back.updates, vec![u.clone(), u]);
    }
}
