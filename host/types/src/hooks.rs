//! What hooks see, and the hook traits with Mesos' decorator semantics.
//!
//! A decorator returns `Ok(Some(x))` to replace, `Ok(None)` to keep, and `Err(e)` to be logged
//! and skipped. Every method has a default that keeps, so a hook implements only its points.

use std::borrow::Cow;

use crate::resources::{Attribute, EnvVar, Label, Resource};

/// Mesos' `Result<T>`: replace, keep, or error.
pub type Decision<T> = Result<Option<T>, String>;

/// A decorator's change to a keyed list (labels by key, environment variables by name).
#[derive(Clone, Debug, PartialEq)]
pub enum Edit<T> {
    /// The whole new list (Mesos' decorators).
    Replace(Vec<T>),
    /// Only these entries, applied in order: each replaces the first entry with its key in
    /// place and drops the later ones with that key, or is appended when the key is new (so of
    /// two entries with one key, the later wins). A hook that only adds entries neither reads
    /// nor returns the others.
    Set(Vec<T>),
}

/// An entry of a keyed list.
pub trait Keyed {
    fn key(&self) -> &str;
}

impl Keyed for Label {
    fn key(&self) -> &str {
        &self.key
    }
}

impl Keyed for EnvVar {
    fn key(&self) -> &str {
        &self.name
    }
}

impl<T: Keyed + Clone> Edit<T> {
    /// Applies this edit to `list` in place.
    pub fn apply_to(self, list: &mut Vec<T>) {
        let set = match self {
            Edit::Replace(all) => {
                *list = all;
                return;
            }
            Edit::Set(set) => set,
        };
        for entry in set {
            match list.iter().position(|e| e.key() == entry.key()) {
                Some(i) => {
                    let mut j = i + 1;
                    while j < list.len() {
                        if list[j].key() == entry.key() {
                            list.remove(j);
                        } else {
                            j += 1;
                        }
                    }
                    list[i] = entry;
                }
                None => list.push(entry),
            }
        }
    }

    /// The list after this edit.
    pub fn apply(self, current: &[T]) -> Vec<T> {
        let mut list = current.to_vec();
        self.apply_to(&mut list);
        list
    }
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct CommandInfo {
    pub shell: bool,
    pub value: Option<String>,
    pub arguments: Vec<String>,
    pub environment: Vec<EnvVar>,
    pub user: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct TaskInfo {
    pub task_id: String,
    pub name: String,
    pub agent_id: String,
    pub resources: Vec<Resource>,
    pub labels: Vec<Label>,
    pub command: Option<CommandInfo>,
    pub executor_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct ExecutorInfo {
    pub executor_id: String,
    pub framework_id: String,
    pub name: Option<String>,
    pub command: Option<CommandInfo>,
    pub resources: Vec<Resource>,
    pub labels: Vec<Label>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct FrameworkInfo {
    pub framework_id: String,
    pub name: String,
    pub user: String,
    pub roles: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct AgentInfo {
    pub agent_id: String,
    pub hostname: String,
    pub port: u32,
    pub resources: Vec<Resource>,
    pub attributes: Vec<Attribute>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct ContainerStatus {
    pub container_id: Option<String>,
    pub executor_pid: Option<u32>,
    pub ip_addresses: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct TaskStatus {
    pub task_id: String,
    pub state: String,
    pub executor_id: Option<String>,
    pub message: Option<String>,
    pub reason: Option<String>,
    pub source: Option<String>,
    pub labels: Vec<Label>,
    pub container_status: Option<ContainerStatus>,
}

/// A task as a hook sees it. Wasm hooks read it field by field through borrowed handles, so a
/// hook pays only for what it reads; native hooks get the value itself (`&TaskInfo`) or the
/// chain's view of it. The chain's view shows the chain's current value of the decorated field.
pub trait TaskView {
    fn task_id(&self) -> Cow<'_, str>;
    fn name(&self) -> Cow<'_, str>;
    fn agent_id(&self) -> Cow<'_, str>;
    fn resources(&self) -> Cow<'_, [Resource]>;
    fn labels(&self) -> Cow<'_, [Label]>;
    fn command(&self) -> Option<Cow<'_, CommandInfo>>;
    /// The environment of the task's command; empty without one.
    fn environment(&self) -> Cow<'_, [EnvVar]> {
        match self.command() {
            Some(Cow::Borrowed(c)) => Cow::Borrowed(&c.environment),
            Some(Cow::Owned(c)) => Cow::Owned(c.environment),
            None => Cow::Borrowed(&[]),
        }
    }
    fn executor_id(&self) -> Option<Cow<'_, str>>;
    /// Every field, read.
    fn to_info(&self) -> TaskInfo {
        TaskInfo {
            task_id: self.task_id().into_owned(),
            name: self.name().into_owned(),
            agent_id: self.agent_id().into_owned(),
            resources: self.resources().into_owned(),
            labels: self.labels().into_owned(),
            command: self.command().map(Cow::into_owned),
            executor_id: self.executor_id().map(Cow::into_owned),
        }
    }
}

/// An executor as a hook sees it (see [`TaskView`]).
pub trait ExecutorView {
    fn executor_id(&self) -> Cow<'_, str>;
    fn framework_id(&self) -> Cow<'_, str>;
    fn name(&self) -> Option<Cow<'_, str>>;
    fn command(&self) -> Option<Cow<'_, CommandInfo>>;
    /// The environment of the executor's command; empty without one.
    fn environment(&self) -> Cow<'_, [EnvVar]> {
        match self.command() {
            Some(Cow::Borrowed(c)) => Cow::Borrowed(&c.environment),
            Some(Cow::Owned(c)) => Cow::Owned(c.environment),
            None => Cow::Borrowed(&[]),
        }
    }
    fn resources(&self) -> Cow<'_, [Resource]>;
    fn labels(&self) -> Cow<'_, [Label]>;
    /// Every field, read.
    fn to_info(&self) -> ExecutorInfo {
        ExecutorInfo {
            executor_id: self.executor_id().into_owned(),
            framework_id: self.framework_id().into_owned(),
            name: self.name().map(Cow::into_owned),
            command: self.command().map(Cow::into_owned),
            resources: self.resources().into_owned(),
            labels: self.labels().into_owned(),
        }
    }
}

/// A framework as a hook sees it (see [`TaskView`]).
pub trait FrameworkView {
    fn framework_id(&self) -> Cow<'_, str>;
    fn name(&self) -> Cow<'_, str>;
    fn user(&self) -> Cow<'_, str>;
    fn roles(&self) -> Cow<'_, [String]>;
    /// Every field, read.
    fn to_info(&self) -> FrameworkInfo {
        FrameworkInfo {
            framework_id: self.framework_id().into_owned(),
            name: self.name().into_owned(),
            user: self.user().into_owned(),
            roles: self.roles().into_owned(),
        }
    }
}

/// An agent as a hook sees it (see [`TaskView`]).
pub trait AgentView {
    fn agent_id(&self) -> Cow<'_, str>;
    fn hostname(&self) -> Cow<'_, str>;
    fn port(&self) -> u32;
    fn resources(&self) -> Cow<'_, [Resource]>;
    fn attributes(&self) -> Cow<'_, [Attribute]>;
    /// Every field, read.
    fn to_info(&self) -> AgentInfo {
        AgentInfo {
            agent_id: self.agent_id().into_owned(),
            hostname: self.hostname().into_owned(),
            port: self.port(),
            resources: self.resources().into_owned(),
            attributes: self.attributes().into_owned(),
        }
    }
}

/// A status update as a hook sees it (see [`TaskView`]).
pub trait StatusView {
    fn task_id(&self) -> Cow<'_, str>;
    fn state(&self) -> Cow<'_, str>;
    fn executor_id(&self) -> Option<Cow<'_, str>>;
    fn message(&self) -> Option<Cow<'_, str>>;
    fn reason(&self) -> Option<Cow<'_, str>>;
    fn source(&self) -> Option<Cow<'_, str>>;
    fn labels(&self) -> Cow<'_, [Label]>;
    fn container_status(&self) -> Option<Cow<'_, ContainerStatus>>;
    /// Every field, read.
    fn to_info(&self) -> TaskStatus {
        TaskStatus {
            task_id: self.task_id().into_owned(),
            state: self.state().into_owned(),
            executor_id: self.executor_id().map(Cow::into_owned),
            message: self.message().map(Cow::into_owned),
            reason: self.reason().map(Cow::into_owned),
            source: self.source().map(Cow::into_owned),
            labels: self.labels().into_owned(),
            container_status: self.container_status().map(Cow::into_owned),
        }
    }
}

fn text(s: &str) -> Cow<'_, str> {
    Cow::Borrowed(s)
}

fn opt(s: &Option<String>) -> Option<Cow<'_, str>> {
    s.as_deref().map(Cow::Borrowed)
}

impl TaskView for TaskInfo {
    fn task_id(&self) -> Cow<'_, str> {
        text(&self.task_id)
    }
    fn name(&self) -> Cow<'_, str> {
        text(&self.name)
    }
    fn agent_id(&self) -> Cow<'_, str> {
        text(&self.agent_id)
    }
    fn resources(&self) -> Cow<'_, [Resource]> {
        Cow::Borrowed(&self.resources)
    }
    fn labels(&self) -> Cow<'_, [Label]> {
        Cow::Borrowed(&self.labels)
    }
    fn command(&self) -> Option<Cow<'_, CommandInfo>> {
        self.command.as_ref().map(Cow::Borrowed)
    }
    fn executor_id(&self) -> Option<Cow<'_, str>> {
        opt(&self.executor_id)
    }
    fn to_info(&self) -> TaskInfo {
        self.clone()
    }
}

impl ExecutorView for ExecutorInfo {
    fn executor_id(&self) -> Cow<'_, str> {
        text(&self.executor_id)
    }
    fn framework_id(&self) -> Cow<'_, str> {
        text(&self.framework_id)
    }
    fn name(&self) -> Option<Cow<'_, str>> {
        opt(&self.name)
    }
    fn command(&self) -> Option<Cow<'_, CommandInfo>> {
        self.command.as_ref().map(Cow::Borrowed)
    }
    fn resources(&self) -> Cow<'_, [Resource]> {
        Cow::Borrowed(&self.resources)
    }
    fn labels(&self) -> Cow<'_, [Label]> {
        Cow::Borrowed(&self.labels)
    }
    fn to_info(&self) -> ExecutorInfo {
        self.clone()
    }
}

impl FrameworkView for FrameworkInfo {
    fn framework_id(&self) -> Cow<'_, str> {
        text(&self.framework_id)
    }
    fn name(&self) -> Cow<'_, str> {
        text(&self.name)
    }
    fn user(&self) -> Cow<'_, str> {
        text(&self.user)
    }
    fn roles(&self) -> Cow<'_, [String]> {
        Cow::Borrowed(&self.roles)
    }
    fn to_info(&self) -> FrameworkInfo {
        self.clone()
    }
}

impl AgentView for AgentInfo {
    fn agent_id(&self) -> Cow<'_, str> {
        text(&self.agent_id)
    }
    fn hostname(&self) -> Cow<'_, str> {
        text(&self.hostname)
    }
    fn port(&self) -> u32 {
        self.port
    }
    fn resources(&self) -> Cow<'_, [Resource]> {
        Cow::Borrowed(&self.resources)
    }
    fn attributes(&self) -> Cow<'_, [Attribute]> {
        Cow::Borrowed(&self.attributes)
    }
    fn to_info(&self) -> AgentInfo {
        self.clone()
    }
}

impl StatusView for TaskStatus {
    fn task_id(&self) -> Cow<'_, str> {
        text(&self.task_id)
    }
    fn state(&self) -> Cow<'_, str> {
        text(&self.state)
    }
    fn executor_id(&self) -> Option<Cow<'_, str>> {
        opt(&self.executor_id)
    }
    fn message(&self) -> Option<Cow<'_, str>> {
        opt(&self.message)
    }
    fn reason(&self) -> Option<Cow<'_, str>> {
        opt(&self.reason)
    }
    fn source(&self) -> Option<Cow<'_, str>> {
        opt(&self.source)
    }
    fn labels(&self) -> Cow<'_, [Label]> {
        Cow::Borrowed(&self.labels)
    }
    fn container_status(&self) -> Option<Cow<'_, ContainerStatus>> {
        self.container_status.as_ref().map(Cow::Borrowed)
    }
    fn to_info(&self) -> TaskStatus {
        self.clone()
    }
}

/// A task whose labels, or resources, are the chain's current ones.
pub struct TaskRedecorated<'a> {
    pub task: &'a TaskInfo,
    pub labels: Option<&'a [Label]>,
    pub resources: Option<&'a [Resource]>,
}

impl TaskView for TaskRedecorated<'_> {
    fn task_id(&self) -> Cow<'_, str> {
        text(&self.task.task_id)
    }
    fn name(&self) -> Cow<'_, str> {
        text(&self.task.name)
    }
    fn agent_id(&self) -> Cow<'_, str> {
        text(&self.task.agent_id)
    }
    fn resources(&self) -> Cow<'_, [Resource]> {
        Cow::Borrowed(self.resources.unwrap_or(&self.task.resources))
    }
    fn labels(&self) -> Cow<'_, [Label]> {
        Cow::Borrowed(self.labels.unwrap_or(&self.task.labels))
    }
    fn command(&self) -> Option<Cow<'_, CommandInfo>> {
        self.task.command.as_ref().map(Cow::Borrowed)
    }
    fn executor_id(&self) -> Option<Cow<'_, str>> {
        opt(&self.task.executor_id)
    }
}

/// An executor whose command environment is the chain's current one.
pub struct WithEnvironment<'a> {
    pub executor: &'a ExecutorInfo,
    pub environment: &'a [EnvVar],
}

impl ExecutorView for WithEnvironment<'_> {
    fn executor_id(&self) -> Cow<'_, str> {
        text(&self.executor.executor_id)
    }
    fn framework_id(&self) -> Cow<'_, str> {
        text(&self.executor.framework_id)
    }
    fn name(&self) -> Option<Cow<'_, str>> {
        opt(&self.executor.name)
    }
    /// The command with the current environment; an executor without a command shows a default
    /// command holding it once a hook has added variables.
    fn command(&self) -> Option<Cow<'_, CommandInfo>> {
        match &self.executor.command {
            Some(c) if c.environment == self.environment => Some(Cow::Borrowed(c)),
            None if self.environment.is_empty() => None,
            c => Some(Cow::Owned(CommandInfo {
                environment: self.environment.to_vec(),
                ..c.clone().unwrap_or_default()
            })),
        }
    }
    fn environment(&self) -> Cow<'_, [EnvVar]> {
        Cow::Borrowed(self.environment)
    }
    fn resources(&self) -> Cow<'_, [Resource]> {
        Cow::Borrowed(&self.executor.resources)
    }
    fn labels(&self) -> Cow<'_, [Label]> {
        Cow::Borrowed(&self.executor.labels)
    }
}

/// An agent whose resources, or attributes, are the chain's current ones.
pub struct AgentRedecorated<'a> {
    pub agent: &'a AgentInfo,
    pub resources: Option<&'a [Resource]>,
    pub attributes: Option<&'a [Attribute]>,
}

impl AgentView for AgentRedecorated<'_> {
    fn agent_id(&self) -> Cow<'_, str> {
        text(&self.agent.agent_id)
    }
    fn hostname(&self) -> Cow<'_, str> {
        text(&self.agent.hostname)
    }
    fn port(&self) -> u32 {
        self.agent.port
    }
    fn resources(&self) -> Cow<'_, [Resource]> {
        Cow::Borrowed(self.resources.unwrap_or(&self.agent.resources))
    }
    fn attributes(&self) -> Cow<'_, [Attribute]> {
        Cow::Borrowed(self.attributes.unwrap_or(&self.agent.attributes))
    }
}

/// Master hook points.
pub trait MasterHooks {
    fn launch_task_label_decorator(
        &mut self,
        _task: &dyn TaskView,
        _framework: &dyn FrameworkView,
        _agent: &dyn AgentView,
    ) -> Decision<Edit<Label>> {
        Ok(None)
    }
    fn launch_task_resource_decorator(
        &mut self,
        _task: &dyn TaskView,
        _agent_resources: &[Resource],
    ) -> Decision<Vec<Resource>> {
        Ok(None)
    }
    fn agent_lost(&mut self, _agent: &dyn AgentView) -> Result<(), String> {
        Ok(())
    }
}

/// Agent hook points.
pub trait AgentHooks {
    fn run_task_label_decorator(
        &mut self,
        _task: &dyn TaskView,
        _executor: &dyn ExecutorView,
        _framework: &dyn FrameworkView,
        _agent: &dyn AgentView,
    ) -> Decision<Edit<Label>> {
        Ok(None)
    }
    fn executor_environment_decorator(
        &mut self,
        _executor: &dyn ExecutorView,
    ) -> Decision<Edit<EnvVar>> {
        Ok(None)
    }
    fn task_status_decorator(
        &mut self,
        _framework_id: &str,
        _status: &dyn StatusView,
    ) -> Decision<TaskStatus> {
        Ok(None)
    }
    fn resources_decorator(&mut self, _agent: &dyn AgentView) -> Decision<Vec<Resource>> {
        Ok(None)
    }
    fn attributes_decorator(&mut self, _agent: &dyn AgentView) -> Decision<Vec<Attribute>> {
        Ok(None)
    }
    fn remove_executor(
        &mut self,
        _framework: &dyn FrameworkView,
        _executor: &dyn ExecutorView,
    ) -> Result<(), String> {
        Ok(())
    }
    fn post_fetch(&mut self, _container_id: &str, _directory: &str) -> Result<(), String> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(k: &str, v: &str) -> Label {
        Label {
            key: k.into(),
            value: Some(v.into()),
        }
    }

    #[test]
    fn set_replaces_in_place_drops_repeats_and_appends_new_keys() {
        let current = [l("env", "dev"), l("app", "web"), l("env", "x")];
        let out = Edit::Set(vec![l("team", "db"), l("env", "prod")]).apply(&current);
        assert_eq!(
            out,
            vec![l("env", "prod"), l("app", "web"), l("team", "db")]
        );
        assert_eq!(
            Edit::Replace(vec![l("a", "1")]).apply(&current),
            vec![l("a", "1")]
        );
        assert_eq!(Edit::<Label>::Set(vec![]).apply(&current), current.to_vec());
    }

    #[test]
    fn set_applies_in_order_and_replace_replaces() {
        let current = vec![l("env", "dev"), l("app", "web"), l("env", "x"), l("b", "1")];
        let mut list = current.clone();
        Edit::Set(vec![l("env", "a"), l("env", "b"), l("c", "3")]).apply_to(&mut list);
        assert_eq!(
            list,
            vec![l("env", "b"), l("app", "web"), l("b", "1"), l("c", "3")]
        );
        Edit::Replace(vec![l("z", "9")]).apply_to(&mut list);
        assert_eq!(list, vec![l("z", "9")]);
    }
}
