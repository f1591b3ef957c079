//! What hooks see, and the hook traits with Mesos' decorator semantics.
//!
//! A decorator returns `Ok(Some(x))` to replace, `Ok(None)` to keep, and `Err(e)` to be logged
//! and skipped. Every method has a default that keeps, so a hook implements only its points.

use crate::resources::{Attribute, EnvVar, Label, Resource};

/// Mesos' `Result<T>`: replace, keep, or error.
pub type Decision<T> = Result<Option<T>, String>;

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

/// Master hook points.
pub trait MasterHooks {
    fn launch_task_label_decorator(
        &mut self,
        _task: &TaskInfo,
        _framework: &FrameworkInfo,
        _agent: &AgentInfo,
    ) -> Decision<Vec<Label>> {
        Ok(None)
    }
    fn launch_task_resource_decorator(
        &mut self,
        _task: &TaskInfo,
        _agent_resources: &[Resource],
    ) -> Decision<Vec<Resource>> {
        Ok(None)
    }
    fn agent_lost(&mut self, _agent: &AgentInfo) -> Result<(), String> {
        Ok(())
    }
}

/// Agent hook points.
pub trait AgentHooks {
    fn run_task_label_decorator(
        &mut self,
        _task: &TaskInfo,
        _executor: &ExecutorInfo,
        _framework: &FrameworkInfo,
        _agent: &AgentInfo,
    ) -> Decision<Vec<Label>> {
        Ok(None)
    }
    fn executor_environment_decorator(
        &mut self,
        _executor: &ExecutorInfo,
    ) -> Decision<Vec<EnvVar>> {
        Ok(None)
    }
    fn task_status_decorator(
        &mut self,
        _framework_id: &str,
        _status: &TaskStatus,
    ) -> Decision<TaskStatus> {
        Ok(None)
    }
    fn resources_decorator(&mut self, _agent: &AgentInfo) -> Decision<Vec<Resource>> {
        Ok(None)
    }
    fn attributes_decorator(&mut self, _agent: &AgentInfo) -> Decision<Vec<Attribute>> {
        Ok(None)
    }
    fn remove_executor(
        &mut self,
        _framework: &FrameworkInfo,
        _executor: &ExecutorInfo,
    ) -> Result<(), String> {
        Ok(())
    }
    fn post_fetch(&mut self, _container_id: &str, _directory: &str) -> Result<(), String> {
        Ok(())
    }
}
