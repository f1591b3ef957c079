//! The status update manager.
//!
//! Every update of a task goes into the task's FIFO. Only the head is in flight: it is POSTed
//! to the master's `STATUS`, and POSTed again after `status_update_retry_min` (10 s), each time
//! after twice the previous interval up to `status_update_retry_max` (10 min), until the master
//! relays the framework's acknowledgement of its uuid. Then the next one goes. Each POST
//! carries the task's latest state (`latest_state`), so the master knows a task has ended
//! while older updates still wait for their acknowledgement. Nothing is dropped while the master is unreachable; a `409` (the master does
//! not know the agent) makes the agent register again, and the update is resent afterwards.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use meseta_api::common::{
    AgentID, ExecutorID, FrameworkID, Reason, Source, TaskID, TaskState, TaskStatus,
};
use meseta_api::executor::{Acknowledged, Event};
use meseta_api::internal as wire;
use tokio::sync::Notify;

use super::Shared;
use super::master_link;
use super::model::{PendingUpdate, State, UpdateStream};

/// A status the agent (or its command executor) generates.
pub fn status(
    task_id: &str,
    state: TaskState,
    source: Source,
    reason: Option<Reason>,
    message: Option<String>,
) -> TaskStatus {
    let mut status = TaskStatus::new(TaskID::new(task_id), state);
    status.source = Some(source);
    status.reason = reason;
    status.message = message;
    status
}

/// Queues `status` for the master. Fills in what is missing (`agent_id`, `timestamp`, a fresh
/// `uuid`), records it as the task's latest status if the task is known, and starts the
/// task's sender if it is idle.
pub fn enqueue(
    d: &Shared,
    st: &mut State,
    framework_id: &str,
    mut status: TaskStatus,
    from_executor: bool,
) {
    super::hooks::decorate_status(d, framework_id, &mut status);
    if status.agent_id.is_none() {
        status.agent_id = st.agent_id.clone().map(AgentID::new);
    }
    if status.timestamp.is_none() {
        status.timestamp = Some(meseta_api::common::timestamp_now());
    }
    if status.uuid.is_none() {
        status.uuid = Some(meseta_api::new_status_uuid());
    }
    let task_id = status.task_id.value.clone();
    if let Some(task) = st.task_mut(framework_id, &task_id) {
        if status.executor_id.is_none() {
            status.executor_id = Some(ExecutorID::new(&task.executor_id));
        }
        let was_terminal = task.state.is_terminal();
        task.state = status.state;
        task.statuses.push(status.clone());
        if !was_terminal && status.state.is_terminal() {
            st.counters.count_terminal(status.state);
        }
    } else if status.state.is_terminal() {
        st.counters.count_terminal(status.state);
    }
    tracing::info!(framework = %framework_id, task = %task_id, state = %status.state.as_str(),
        message = status.message.as_deref().unwrap_or(""), "status update");
    // checkpointed before it can be sent
    super::recovery::checkpoint_update(d, st, framework_id, &status, from_executor);
    // A stream exists exactly as long as its sender runs: the sender removes it (under the
    // lock) when it finds it empty.
    let key = (framework_id.to_string(), task_id);
    let created = !st.streams.contains_key(&key);
    let stream = st
        .streams
        .entry(key.clone())
        .or_insert_with(|| UpdateStream {
            pending: VecDeque::new(),
            notify: Arc::new(Notify::new()),
        });
    stream.pending.push_back(PendingUpdate {
        status,
        from_executor,
    });
    if created {
        tokio::spawn(sender(d.clone(), key));
    }
}

/// The update to send for the stream `key` (framework id, task id): its head, with the
/// latest state the agent knows for the task as `latest_state` (Mesos' `Slave::forward`: the
/// task's state, newer than the head's when later updates wait behind it; for a task the agent
/// does not keep, the state of the newest update of the stream). `None` when the stream is
/// empty or gone.
pub(super) fn outgoing(
    st: &State,
    key: &(String, String),
    agent_id: &str,
) -> Option<wire::StatusUpdate> {
    let stream = st.streams.get(key)?;
    let head = stream.pending.front()?;
    let latest_state = st
        .task(&key.0, &key.1)
        .map(|task| task.state)
        .or_else(|| stream.pending.back().map(|newest| newest.status.state));
    Some(wire::StatusUpdate {
        agent_id: AgentID::new(agent_id),
        framework_id: FrameworkID::new(&key.0),
        status: head.status.clone(),
        latest_state,
    })
}

/// Sends the head of one task's stream until it is acknowledged, then the next; ends when the
/// stream is empty (and removes it). The first resend of a head comes after
/// `status_update_retry_min`, each later one after twice the previous interval, at most
/// `status_update_retry_max` (Mesos: 10 s doubling to 10 min, forever).
async fn sender(d: Shared, key: (String, String)) {
    let min = d
        .config
        .status_update_retry_min
        .max(Duration::from_millis(1));
    let max = d.config.status_update_retry_max.max(min);
    let mut backoff = min;
    let mut current: Option<Vec<u8>> = None;
    loop {
        if d.is_stopping() {
            return;
        }
        let notify = {
            let mut st = d.lock();
            let Some(stream) = st.streams.get(&key) else {
                return;
            };
            if stream.pending.is_empty() {
                st.streams.remove(&key);
                return;
            }
            stream.notify.clone()
        };
        let Some(agent_id) = wait_registered(&d).await else {
            return;
        };
        // A wake-up stored before this send (the registration that `wait_registered` waited
        // for wakes every sender) must not make it resend at once: forget it.
        let _ = futures_util::FutureExt::now_or_never(notify.notified());
        // built now, after any wait: the head and the task's latest state as they are
        let Some(update) = outgoing(&d.lock(), &key, &agent_id) else {
            continue;
        };
        let uuid = update.status.uuid.as_ref().map(|u| u.0.clone());
        if uuid != current {
            current = uuid;
            backoff = min;
        }
        match serde_json::to_vec(&update) {
            Ok(body) => match master_link::post_status(&d, body).await {
                Ok((202 | 200, _)) => {}
                Ok((409, _)) => {
                    tracing::info!(task = %key.1,
                        "the master does not know this agent; registering again");
                    d.reregister.notify_one();
                }
                Ok((code, text)) => {
                    tracing::warn!(task = %key.1, code, answer = %String::from_utf8_lossy(&text),
                        "the master refused a status update");
                }
                Err(e) => {
                    tracing::debug!(task = %key.1, error = %e, "cannot send a status update; will retry");
                }
            },
            Err(e) => {
                tracing::warn!(task = %key.1, error = %e, "cannot encode a status update");
            }
        }
        tokio::select! {
            _ = notify.notified() => {}
            _ = tokio::time::sleep(backoff) => {
                backoff = (backoff * 2).min(max);
            }
            _ = d.stopped() => return,
        }
    }
}

/// The agent id, waiting for registration; `None` if the agent stops first.
async fn wait_registered(d: &Shared) -> Option<String> {
    let mut rx = d.registered.subscribe();
    tokio::select! {
        r = rx.wait_for(Option::is_some) => r.ok().and_then(|id| id.clone()),
        _ = d.stopped() => None,
    }
}

/// The master relayed an acknowledgement: if it is for the head of the task's stream, drop the
/// head, wake the sender, tell the executor (`ACKNOWLEDGED`) if the update came from one, and
/// move a terminal task to the completed ones once its last update is acknowledged.
pub fn acknowledge(d: &Shared, ack: wire::AcknowledgeUpdate) {
    let fid = ack.framework_id.value.clone();
    let tid = ack.task_id.value.clone();
    let mut st = d.lock();
    let key = (fid.clone(), tid.clone());
    let Some(stream) = st.streams.get_mut(&key) else {
        tracing::warn!(framework = %fid, task = %tid, uuid = %ack.uuid,
            "acknowledgement for a task without pending updates; ignored");
        return;
    };
    let matches = stream
        .pending
        .front()
        .is_some_and(|head| head.status.uuid.as_ref() == Some(&ack.uuid));
    if !matches {
        tracing::warn!(framework = %fid, task = %tid, uuid = %ack.uuid,
            "acknowledgement of an update that is not the one in flight; ignored");
        return;
    }
    let Some(acked) = stream.pending.pop_front() else {
        return;
    };
    stream.notify.notify_one();
    super::recovery::checkpoint_ack(d, &st, &fid, &tid, &ack.uuid);
    tracing::debug!(framework = %fid, task = %tid, uuid = %ack.uuid,
        state = %acked.status.state.as_str(), "status update acknowledged");
    let executor_id = acked
        .status
        .executor_id
        .as_ref()
        .map(|e| e.value.clone())
        .or_else(|| st.executor_of(&fid, &tid));
    if let Some(executor_id) = executor_id {
        if acked.from_executor
            && let Some(executor) = st.executor_mut(&fid, &executor_id)
        {
            let event = Event::Acknowledged(Acknowledged {
                task_id: ack.task_id.clone(),
                uuid: ack.uuid.clone(),
            });
            if !executor.send(&event) {
                tracing::debug!(executor = %executor_id,
                    "executor not connected; ACKNOWLEDGED not delivered");
            }
        }
        st.collect(&fid, &executor_id);
    }
}

/// Puts back a recovered task's unacknowledged updates (oldest first) and starts its sender;
/// they go to the master once the agent has registered again.
pub fn restore(
    d: &Shared,
    st: &mut State,
    framework_id: &str,
    task_id: &str,
    pending: Vec<(TaskStatus, bool)>,
) {
    if pending.is_empty() {
        return;
    }
    let key = (framework_id.to_string(), task_id.to_string());
    let created = !st.streams.contains_key(&key);
    let stream = st
        .streams
        .entry(key.clone())
        .or_insert_with(|| UpdateStream {
            pending: VecDeque::new(),
            notify: Arc::new(Notify::new()),
        });
    for (status, from_executor) in pending {
        stream.pending.push_back(PendingUpdate {
            status,
            from_executor,
        });
    }
    if created {
        tokio::spawn(sender(d.clone(), key));
    }
}

/// Wakes every sender (after a registration: resend now rather than after the backoff).
pub fn wake_all(st: &State) {
    for stream in st.streams.values() {
        stream.notify.notify_one();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::daemon::model::{Executor, ExecutorKind, Framework, Task};
    use meseta_api::common::{ExecutorInfo, FrameworkInfo, TaskInfo};

    fn update(task: &str, state: TaskState) -> PendingUpdate {
        let mut status = TaskStatus::new(TaskID::new(task), state);
        status.uuid = Some(meseta_api::new_status_uuid());
        PendingUpdate {
            status,
            from_executor: false,
        }
    }

    /// A state with framework `f`, command executor `t1` and its task `t1` in `state`.
    fn state_with_task(state: TaskState) -> State {
        let mut st = State::new("host".into(), "127.0.0.1:5051".into());
        let mut executor = Executor::new(
            "t1",
            "f",
            ExecutorKind::Command,
            ExecutorInfo::default(),
            "c1".into(),
            "/nonexistent".into(),
        );
        let info = TaskInfo {
            task_id: TaskID::new("t1"),
            ..TaskInfo::default()
        };
        let mut task = Task::new(info, "f", "t1");
        task.state = state;
        executor.tasks.insert("t1".into(), task);
        let mut framework = Framework::new("f", FrameworkInfo::default());
        framework.executors.insert("t1".into(), executor);
        st.frameworks.insert("f".into(), framework);
        st
    }

    fn stream(updates: Vec<PendingUpdate>) -> UpdateStream {
        UpdateStream {
            pending: updates.into(),
            notify: Arc::new(Notify::new()),
        }
    }

    #[test]
    fn the_update_in_flight_carries_the_latest_state_of_its_task() {
        // TASK_RUNNING is unacknowledged; TASK_FINISHED waits behind it
        let mut st = state_with_task(TaskState::Finished);
        let key = ("f".to_string(), "t1".to_string());
        let running = update("t1", TaskState::Running);
        let finished = update("t1", TaskState::Finished);
        st.streams
            .insert(key.clone(), stream(vec![running.clone(), finished.clone()]));

        let sent = outgoing(&st, &key, "a1").unwrap();
        assert_eq!(sent.status, running.status, "the head is what is sent");
        assert_eq!(sent.status.state, TaskState::Running);
        assert_eq!(sent.latest_state, Some(TaskState::Finished));
        assert_eq!(sent.agent_id.value, "a1");
        assert_eq!(sent.framework_id.value, "f");

        // once the head is acknowledged, the next one goes, its own state the latest
        st.streams.get_mut(&key).unwrap().pending.pop_front();
        let sent = outgoing(&st, &key, "a1").unwrap();
        assert_eq!(sent.status, finished.status);
        assert_eq!(sent.latest_state, Some(TaskState::Finished));

        st.streams.get_mut(&key).unwrap().pending.pop_front();
        assert!(outgoing(&st, &key, "a1").is_none(), "nothing left to send");
    }

    #[test]
    fn a_task_the_agent_does_not_keep_takes_its_latest_state_from_its_stream() {
        // e.g. a task refused before it had an executor: only its updates exist
        let mut st = State::new("host".into(), "127.0.0.1:5051".into());
        let key = ("f".to_string(), "refused".to_string());
        st.streams.insert(
            key.clone(),
            stream(vec![
                update("refused", TaskState::Starting),
                update("refused", TaskState::Failed),
            ]),
        );
        let sent = outgoing(&st, &key, "a1").unwrap();
        assert_eq!(sent.status.state, TaskState::Starting);
        assert_eq!(sent.latest_state, Some(TaskState::Failed));
    }
}
