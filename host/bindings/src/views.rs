//! The host side of `meseta:hooks/views@0.2.0`: what a version 2 hook call lends its module.
//!
//! A hook point passes `borrow<task>` (and executor, framework, agent, status) handles. Behind
//! them is no copy: the store holds pointers to the caller's values ([`Lent`]) for the duration
//! of that one call, and each accessor the module calls converts only the field it asks for.
//!
//! Soundness: [`lend`] sets the pointers from references that outlive the call, runs the call,
//! and clears them when it returns or unwinds. A module reaches them only through a method on a
//! borrowed handle, and the component model makes a borrowed handle unusable once the call that
//! passed it returns, so no accessor ever runs while the pointers are unset or stale; an
//! accessor that finds nothing lent traps instead.

use std::ptr::NonNull;

use meseta_runtime::StoreState;
use meseta_types::hooks::{AgentView, ExecutorView, FrameworkView, StatusView, TaskView};
use wasmtime::Store;
use wasmtime::component::Resource;

use crate::convert as cv;
use crate::hook_types as wh;
use crate::master_hooks_v2::meseta::hooks::views as wv;
use crate::types as wt;

/// The host type of `views.task` (handles carry no data: the lent value is in the store).
pub enum TaskHandle {}
/// The host type of `views.executor`.
pub enum ExecutorHandle {}
/// The host type of `views.framework`.
pub enum FrameworkHandle {}
/// The host type of `views.agent`.
pub enum AgentHandle {}
/// The host type of `views.status`.
pub enum StatusHandle {}

/// The values one hook call lends its module.
#[derive(Clone, Copy, Default)]
pub struct Views<'a> {
    pub task: Option<&'a dyn TaskView>,
    pub executor: Option<&'a dyn ExecutorView>,
    pub framework: Option<&'a dyn FrameworkView>,
    pub agent: Option<&'a dyn AgentView>,
    pub status: Option<&'a dyn StatusView>,
}

/// The store data of a version 2 hook module: the current call's [`Views`], lifetime erased.
#[derive(Default)]
pub struct Lent {
    task: Option<NonNull<dyn TaskView>>,
    executor: Option<NonNull<dyn ExecutorView>>,
    framework: Option<NonNull<dyn FrameworkView>>,
    agent: Option<NonNull<dyn AgentView>>,
    status: Option<NonNull<dyn StatusView>>,
}

// SAFETY: the pointers are only dereferenced inside `lend`'s call, on the thread running it,
// while the references they came from are borrowed by that call.
unsafe impl Send for Lent {}

/// Erases a view reference's lifetime; only `lend` calls it, and clears the result before the
/// borrow ends.
macro_rules! erase {
    ($v:expr, $t:ident) => {
        $v.map(|r: &dyn $t| {
            // SAFETY: see the module documentation; the pointer does not outlive `lend`.
            let r: &'static dyn $t = unsafe { std::mem::transmute::<&dyn $t, &'static dyn $t>(r) };
            NonNull::from(r)
        })
    };
}

/// Clears what was lent when the call returns or unwinds.
struct Clear<'s>(&'s mut Store<StoreState<Lent>>);

impl Drop for Clear<'_> {
    fn drop(&mut self) {
        self.0.data_mut().data = Lent::default();
    }
}

/// Runs `f` (one export call) with `views` lent to the store.
pub fn lend<R>(
    store: &mut Store<StoreState<Lent>>,
    views: Views<'_>,
    f: impl FnOnce(&mut Store<StoreState<Lent>>) -> R,
) -> R {
    store.data_mut().data = Lent {
        task: erase!(views.task, TaskView),
        executor: erase!(views.executor, ExecutorView),
        framework: erase!(views.framework, FrameworkView),
        agent: erase!(views.agent, AgentView),
        status: erase!(views.status, StatusView),
    };
    let guard = Clear(store);
    f(&mut *guard.0)
}

/// The borrowed handle passed for a lent value (its rep is unused: one value per kind per call).
pub fn handle<T: 'static>() -> Resource<T> {
    Resource::new_borrow(0)
}

fn nothing(kind: &str) -> wasmtime::Error {
    wasmtime::Error::msg(format!("no {kind} is lent to this call"))
}

impl Lent {
    fn task(&self) -> wasmtime::Result<&dyn TaskView> {
        // SAFETY: set only during the call that lent it (module documentation).
        self.task
            .map(|p| unsafe { p.as_ref() })
            .ok_or_else(|| nothing("task"))
    }
    fn executor(&self) -> wasmtime::Result<&dyn ExecutorView> {
        // SAFETY: as for `task`.
        self.executor
            .map(|p| unsafe { p.as_ref() })
            .ok_or_else(|| nothing("executor"))
    }
    fn framework(&self) -> wasmtime::Result<&dyn FrameworkView> {
        // SAFETY: as for `task`.
        self.framework
            .map(|p| unsafe { p.as_ref() })
            .ok_or_else(|| nothing("framework"))
    }
    fn agent(&self) -> wasmtime::Result<&dyn AgentView> {
        // SAFETY: as for `task`.
        self.agent
            .map(|p| unsafe { p.as_ref() })
            .ok_or_else(|| nothing("agent"))
    }
    fn status(&self) -> wasmtime::Result<&dyn StatusView> {
        // SAFETY: as for `task`.
        self.status
            .map(|p| unsafe { p.as_ref() })
            .ok_or_else(|| nothing("status"))
    }
}

fn env(v: &[meseta_types::resources::EnvVar]) -> Vec<wt::EnvVar> {
    v.iter().map(cv::env_to).collect()
}

fn container(c: &meseta_types::hooks::ContainerStatus) -> wh::ContainerStatus {
    cv::container_status_to(c)
}

type R<T> = wasmtime::Result<T>;

impl wv::HostTask for StoreState<Lent> {
    fn task_id(&mut self, _: Resource<TaskHandle>) -> R<String> {
        Ok(self.data.task()?.task_id().into_owned())
    }
    fn name(&mut self, _: Resource<TaskHandle>) -> R<String> {
        Ok(self.data.task()?.name().into_owned())
    }
    fn agent_id(&mut self, _: Resource<TaskHandle>) -> R<String> {
        Ok(self.data.task()?.agent_id().into_owned())
    }
    fn resources(&mut self, _: Resource<TaskHandle>) -> R<Vec<wt::Resource>> {
        Ok(cv::resources_to(&self.data.task()?.resources()))
    }
    fn labels(&mut self, _: Resource<TaskHandle>) -> R<Vec<wt::Label>> {
        Ok(cv::labels_to(&self.data.task()?.labels()))
    }
    fn command(&mut self, _: Resource<TaskHandle>) -> R<Option<wh::CommandInfo>> {
        Ok(self.data.task()?.command().map(|c| cv::command_to(&c)))
    }
    fn environment(&mut self, _: Resource<TaskHandle>) -> R<Vec<wt::EnvVar>> {
        Ok(env(&self.data.task()?.environment()))
    }
    fn executor_id(&mut self, _: Resource<TaskHandle>) -> R<Option<String>> {
        Ok(self.data.task()?.executor_id().map(|s| s.into_owned()))
    }
    fn drop(&mut self, _: Resource<TaskHandle>) -> R<()> {
        Ok(())
    }
}

impl wv::HostExecutor for StoreState<Lent> {
    fn executor_id(&mut self, _: Resource<ExecutorHandle>) -> R<String> {
        Ok(self.data.executor()?.executor_id().into_owned())
    }
    fn framework_id(&mut self, _: Resource<ExecutorHandle>) -> R<String> {
        Ok(self.data.executor()?.framework_id().into_owned())
    }
    fn name(&mut self, _: Resource<ExecutorHandle>) -> R<Option<String>> {
        Ok(self.data.executor()?.name().map(|s| s.into_owned()))
    }
    fn command(&mut self, _: Resource<ExecutorHandle>) -> R<Option<wh::CommandInfo>> {
        Ok(self.data.executor()?.command().map(|c| cv::command_to(&c)))
    }
    fn environment(&mut self, _: Resource<ExecutorHandle>) -> R<Vec<wt::EnvVar>> {
        Ok(env(&self.data.executor()?.environment()))
    }
    fn resources(&mut self, _: Resource<ExecutorHandle>) -> R<Vec<wt::Resource>> {
        Ok(cv::resources_to(&self.data.executor()?.resources()))
    }
    fn labels(&mut self, _: Resource<ExecutorHandle>) -> R<Vec<wt::Label>> {
        Ok(cv::labels_to(&self.data.executor()?.labels()))
    }
    fn drop(&mut self, _: Resource<ExecutorHandle>) -> R<()> {
        Ok(())
    }
}

impl wv::HostFramework for StoreState<Lent> {
    fn framework_id(&mut self, _: Resource<FrameworkHandle>) -> R<String> {
        Ok(self.data.framework()?.framework_id().into_owned())
    }
    fn name(&mut self, _: Resource<FrameworkHandle>) -> R<String> {
        Ok(self.data.framework()?.name().into_owned())
    }
    fn user(&mut self, _: Resource<FrameworkHandle>) -> R<String> {
        Ok(self.data.framework()?.user().into_owned())
    }
    fn roles(&mut self, _: Resource<FrameworkHandle>) -> R<Vec<String>> {
        Ok(self.data.framework()?.roles().into_owned())
    }
    fn drop(&mut self, _: Resource<FrameworkHandle>) -> R<()> {
        Ok(())
    }
}

impl wv::HostAgent for StoreState<Lent> {
    fn agent_id(&mut self, _: Resource<AgentHandle>) -> R<String> {
        Ok(self.data.agent()?.agent_id().into_owned())
    }
    fn hostname(&mut self, _: Resource<AgentHandle>) -> R<String> {
        Ok(self.data.agent()?.hostname().into_owned())
    }
    fn port(&mut self, _: Resource<AgentHandle>) -> R<u32> {
        Ok(self.data.agent()?.port())
    }
    fn resources(&mut self, _: Resource<AgentHandle>) -> R<Vec<wt::Resource>> {
        Ok(cv::resources_to(&self.data.agent()?.resources()))
    }
    fn attributes(&mut self, _: Resource<AgentHandle>) -> R<Vec<wt::Attribute>> {
        Ok(self
            .data
            .agent()?
            .attributes()
            .iter()
            .map(cv::attribute_to)
            .collect())
    }
    fn drop(&mut self, _: Resource<AgentHandle>) -> R<()> {
        Ok(())
    }
}

impl wv::HostStatus for StoreState<Lent> {
    fn task_id(&mut self, _: Resource<StatusHandle>) -> R<String> {
        Ok(self.data.status()?.task_id().into_owned())
    }
    fn state(&mut self, _: Resource<StatusHandle>) -> R<String> {
        Ok(self.data.status()?.state().into_owned())
    }
    fn executor_id(&mut self, _: Resource<StatusHandle>) -> R<Option<String>> {
        Ok(self.data.status()?.executor_id().map(|s| s.into_owned()))
    }
    fn message(&mut self, _: Resource<StatusHandle>) -> R<Option<String>> {
        Ok(self.data.status()?.message().map(|s| s.into_owned()))
    }
    fn reason(&mut self, _: Resource<StatusHandle>) -> R<Option<String>> {
        Ok(self.data.status()?.reason().map(|s| s.into_owned()))
    }
    fn source(&mut self, _: Resource<StatusHandle>) -> R<Option<String>> {
        Ok(self.data.status()?.source().map(|s| s.into_owned()))
    }
    fn labels(&mut self, _: Resource<StatusHandle>) -> R<Vec<wt::Label>> {
        Ok(cv::labels_to(&self.data.status()?.labels()))
    }
    fn container_status(&mut self, _: Resource<StatusHandle>) -> R<Option<wh::ContainerStatus>> {
        Ok(self
            .data
            .status()?
            .container_status()
            .map(|c| container(&c)))
    }
    fn drop(&mut self, _: Resource<StatusHandle>) -> R<()> {
        Ok(())
    }
}

impl wv::Host for StoreState<Lent> {}
