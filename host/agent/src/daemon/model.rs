//! What the agent knows: frameworks, their executors, the executors' tasks, the status update
//! streams, and counters. Plain data behind the daemon's one mutex.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use meseta_api::common::{ExecutorInfo, FrameworkInfo, TaskInfo, TaskState, TaskStatus};
use meseta_api::executor::Event;
use tokio::sync::{Notify, mpsc};

use crate::containerizer::ContainerHandle;

use super::MAX_COMPLETED;

/// How an executor runs its tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecutorKind {
    /// Mesos' command executor: one task, run as the executor's process.
    Command,
    /// A task group under a (pseudo) default executor: each task its own process.
    Group,
    /// A framework's executor, speaking the v1 executor API.
    Custom,
}

/// A task the agent has launched (or is launching).
#[derive(Debug)]
pub struct Task {
    pub info: TaskInfo,
    pub framework_id: String,
    pub executor_id: String,
    /// The latest state.
    pub state: TaskState,
    /// Every status so far (the latest last).
    pub statuses: Vec<TaskStatus>,
    /// Command and group tasks: their process.
    pub handle: Option<ContainerHandle>,
    pub container_id: Option<String>,
    /// A kill was asked for, with this grace period.
    pub kill: Option<Duration>,
    /// Uuids of the updates the executor sent (to drop resends).
    pub seen_uuids: Vec<Vec<u8>>,
}

impl Task {
    pub fn new(info: TaskInfo, framework_id: &str, executor_id: &str) -> Self {
        Task {
            info,
            framework_id: framework_id.to_string(),
            executor_id: executor_id.to_string(),
            state: TaskState::Staging,
            statuses: Vec::new(),
            handle: None,
            container_id: None,
            kill: None,
            seen_uuids: Vec::new(),
        }
    }

    pub fn id(&self) -> &str {
        &self.info.task_id.value
    }

    pub fn latest_status(&self) -> TaskStatus {
        self.statuses
            .last()
            .cloned()
            .unwrap_or_else(|| TaskStatus::new(self.info.task_id.clone(), self.state))
    }
}

/// A custom executor's event stream (its SUBSCRIBE response).
#[derive(Debug)]
pub struct EventStream {
    pub generation: u64,
    pub tx: mpsc::UnboundedSender<Bytes>,
}

/// An executor: its container, its tasks.
#[derive(Debug)]
pub struct Executor {
    pub id: String,
    pub framework_id: String,
    pub kind: ExecutorKind,
    pub info: ExecutorInfo,
    pub container_id: String,
    pub directory: PathBuf,
    /// Launched tasks, until their terminal update is acknowledged.
    pub tasks: BTreeMap<String, Task>,
    /// Custom executors: tasks waiting for the executor to subscribe.
    pub queued: Vec<TaskInfo>,
    pub completed_tasks: VecDeque<Task>,
    /// Custom executors: the executor's process.
    pub handle: Option<ContainerHandle>,
    pub stream: Option<EventStream>,
    pub subscribed: bool,
    /// Its process (command: the task's; group: every task's) has ended, or never started.
    pub terminated: bool,
    /// The agent is shutting it down (its tasks end as TASK_KILLED).
    pub shutting_down: bool,
    /// Killed because it did not subscribe in time.
    pub registration_timed_out: bool,
    /// Recovered, and killed because it did not subscribe again in time.
    pub reregistration_timed_out: bool,
}

impl Executor {
    pub fn new(
        id: &str,
        framework_id: &str,
        kind: ExecutorKind,
        info: ExecutorInfo,
        container_id: String,
        directory: PathBuf,
    ) -> Self {
        Executor {
            id: id.to_string(),
            framework_id: framework_id.to_string(),
            kind,
            info,
            container_id,
            directory,
            tasks: BTreeMap::new(),
            queued: Vec::new(),
            completed_tasks: VecDeque::new(),
            handle: None,
            stream: None,
            subscribed: false,
            terminated: false,
            shutting_down: false,
            registration_timed_out: false,
            reregistration_timed_out: false,
        }
    }

    /// Sends an event on the executor's stream; whether there was a stream to send it on.
    pub fn send(&self, event: &Event) -> bool {
        let Some(stream) = &self.stream else {
            return false;
        };
        match meseta_api::recordio::encode(event) {
            Ok(record) => stream.tx.send(Bytes::from(record)).is_ok(),
            Err(e) => {
                tracing::warn!(executor = %self.id, error = %e, "cannot encode an executor event");
                false
            }
        }
    }
}

/// A framework with executors on this agent.
#[derive(Debug)]
pub struct Framework {
    pub id: String,
    pub info: FrameworkInfo,
    pub executors: BTreeMap<String, Executor>,
    pub completed_executors: VecDeque<Executor>,
}

impl Framework {
    pub fn new(id: &str, info: FrameworkInfo) -> Self {
        Framework {
            id: id.to_string(),
            info,
            executors: BTreeMap::new(),
            completed_executors: VecDeque::new(),
        }
    }

    /// The framework info with `id` set (executors compare it as a whole object).
    pub fn info_with_id(&self) -> FrameworkInfo {
        let mut info = self.info.clone();
        info.id = Some(meseta_api::common::FrameworkID::new(&self.id));
        info
    }
}

/// One pending status update.
#[derive(Clone, Debug)]
pub struct PendingUpdate {
    pub status: TaskStatus,
    /// Sent by a custom executor: it hears `ACKNOWLEDGED` once the framework acknowledged.
    pub from_executor: bool,
}

/// The status updates of one task not yet acknowledged, oldest first; only the head is sent.
#[derive(Debug)]
pub struct UpdateStream {
    pub pending: VecDeque<PendingUpdate>,
    /// Wakes the sender (an acknowledgement arrived, or the agent registered again).
    pub notify: Arc<Notify>,
}

/// Counters for `/metrics/snapshot`.
#[derive(Debug, Default)]
pub struct Counters {
    pub tasks_finished: u64,
    pub tasks_failed: u64,
    pub tasks_killed: u64,
    pub tasks_lost: u64,
    pub tasks_error: u64,
    pub tasks_dropped: u64,
    pub tasks_gone: u64,
    pub executors_terminated: u64,
    pub valid_status_updates: u64,
    pub invalid_status_updates: u64,
    pub valid_framework_messages: u64,
    pub invalid_framework_messages: u64,
    pub registrations: u64,
    /// Checkpoints skipped as unreadable during recovery (`--strict=false`).
    pub recovery_errors: u64,
}

impl Counters {
    pub fn count_terminal(&mut self, state: TaskState) {
        let slot = match state {
            TaskState::Finished => &mut self.tasks_finished,
            TaskState::Failed => &mut self.tasks_failed,
            TaskState::Killed => &mut self.tasks_killed,
            TaskState::Lost => &mut self.tasks_lost,
            TaskState::Error => &mut self.tasks_error,
            TaskState::Dropped => &mut self.tasks_dropped,
            TaskState::Gone | TaskState::GoneByOperator => &mut self.tasks_gone,
            _ => return,
        };
        *slot += 1;
    }
}

/// Everything behind the daemon's mutex.
#[derive(Debug)]
pub struct State {
    pub agent_id: Option<String>,
    pub master_id: Option<String>,
    /// The advertised hostname.
    pub hostname: String,
    /// `ip:port` the master reaches the agent at.
    pub endpoint: String,
    pub last_ping: Instant,
    /// Re-register after this long without a ping (known once registered).
    pub ping_timeout: Option<Duration>,
    pub frameworks: BTreeMap<String, Framework>,
    pub completed_frameworks: VecDeque<Framework>,
    /// Keyed by (framework id, task id).
    pub streams: HashMap<(String, String), UpdateStream>,
    pub counters: Counters,
    pub next_generation: u64,
    /// The agent's hook modules, for `slaveRemoveExecutorHook` in [`State::collect`].
    pub hooks: Arc<meseta_hooks::AgentHookChain>,
}

impl State {
    /// The containers of checkpointing frameworks (command tasks, custom executors, the tasks
    /// of task groups), which outlive an agent that exits.
    pub fn checkpointed_containers(&self) -> std::collections::HashSet<String> {
        let mut out = std::collections::HashSet::new();
        for f in self.frameworks.values().filter(|f| f.info.checkpoint) {
            for e in f.executors.values() {
                out.insert(e.container_id.clone());
                out.extend(e.tasks.values().filter_map(|t| t.container_id.clone()));
            }
        }
        out
    }

    pub fn new(hostname: String, endpoint: String) -> Self {
        State {
            agent_id: None,
            master_id: None,
            hostname,
            endpoint,
            last_ping: Instant::now(),
            ping_timeout: None,
            frameworks: BTreeMap::new(),
            completed_frameworks: VecDeque::new(),
            streams: HashMap::new(),
            counters: Counters::default(),
            next_generation: 1,
            hooks: Arc::default(),
        }
    }

    /// The framework, created (or brought back from the completed ones) if needed; its info
    /// refreshed when `info` is given.
    pub fn framework_entry(&mut self, id: &str, info: Option<FrameworkInfo>) -> &mut Framework {
        if !self.frameworks.contains_key(id) {
            let framework = match self.completed_frameworks.iter().position(|f| f.id == id) {
                Some(i) => self
                    .completed_frameworks
                    .remove(i)
                    .unwrap_or_else(|| Framework::new(id, FrameworkInfo::default())),
                None => Framework::new(id, FrameworkInfo::default()),
            };
            self.frameworks.insert(id.to_string(), framework);
        }
        let framework = self
            .frameworks
            .entry(id.to_string())
            .or_insert_with(|| Framework::new(id, FrameworkInfo::default()));
        if let Some(info) = info {
            framework.info = info;
        }
        framework
    }

    pub fn executor_mut(&mut self, framework_id: &str, executor_id: &str) -> Option<&mut Executor> {
        self.frameworks
            .get_mut(framework_id)?
            .executors
            .get_mut(executor_id)
    }

    /// The live (not completed) task, wherever it is.
    pub fn task(&self, framework_id: &str, task_id: &str) -> Option<&Task> {
        self.frameworks
            .get(framework_id)?
            .executors
            .values()
            .find_map(|e| e.tasks.get(task_id))
    }

    /// The live (not completed) task, wherever it is.
    pub fn task_mut(&mut self, framework_id: &str, task_id: &str) -> Option<&mut Task> {
        self.frameworks
            .get_mut(framework_id)?
            .executors
            .values_mut()
            .find_map(|e| e.tasks.get_mut(task_id))
    }

    /// The id of the executor that has the task (launched or queued).
    pub fn executor_of(&self, framework_id: &str, task_id: &str) -> Option<String> {
        self.frameworks
            .get(framework_id)?
            .executors
            .values()
            .find(|e| {
                e.tasks.contains_key(task_id) || e.queued.iter().any(|t| t.task_id.value == task_id)
            })
            .map(|e| e.id.clone())
    }

    pub fn has_pending_updates(&self, framework_id: &str, task_id: &str) -> bool {
        self.streams
            .get(&(framework_id.to_string(), task_id.to_string()))
            .is_some_and(|s| !s.pending.is_empty())
    }

    /// Moves what is done to the completed lists: a terminal task with every update
    /// acknowledged; then an executor whose process ended and that has no task left; then a
    /// framework without executors.
    pub fn collect(&mut self, framework_id: &str, executor_id: &str) {
        let done: Vec<String> = match self.executor_mut(framework_id, executor_id) {
            Some(e) => e
                .tasks
                .values()
                .filter(|t| t.state.is_terminal())
                .map(|t| t.id().to_string())
                .collect(),
            None => return,
        };
        let done: Vec<String> = done
            .into_iter()
            .filter(|t| !self.has_pending_updates(framework_id, t))
            .collect();
        let Some(framework) = self.frameworks.get_mut(framework_id) else {
            return;
        };
        let Some(executor) = framework.executors.get_mut(executor_id) else {
            return;
        };
        for task_id in done {
            if let Some(mut task) = executor.tasks.remove(&task_id) {
                task.handle = None;
                executor.completed_tasks.push_back(task);
                while executor.completed_tasks.len() > MAX_COMPLETED {
                    executor.completed_tasks.pop_front();
                }
            }
        }
        if executor.terminated
            && executor.tasks.is_empty()
            && executor.queued.is_empty()
            && let Some(mut executor) = framework.executors.remove(executor_id)
        {
            executor.stream = None;
            executor.handle = None;
            super::hooks::remove_executor(
                &self.hooks,
                framework_id,
                &framework.info,
                &executor.info,
            );
            framework.completed_executors.push_back(executor);
            while framework.completed_executors.len() > MAX_COMPLETED {
                framework.completed_executors.pop_front();
            }
        }
        if framework.executors.is_empty()
            && let Some(framework) = self.frameworks.remove(framework_id)
        {
            self.completed_frameworks.push_back(framework);
            while self.completed_frameworks.len() > MAX_COMPLETED {
                self.completed_frameworks.pop_front();
            }
        }
    }

    /// Ends every executor event stream (the agent is stopping).
    pub fn close_streams(&mut self) {
        for framework in self.frameworks.values_mut() {
            for executor in framework.executors.values_mut() {
                executor.stream = None;
            }
        }
    }

    pub fn next_generation(&mut self) -> u64 {
        let g = self.next_generation;
        self.next_generation += 1;
        g
    }
}
