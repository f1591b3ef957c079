//! The host side of `meseta:hooks/views@0.2.0`: what a version 2 hook call lends its module.
//!
//! A hook point passes integer handles of its task (and executor, framework, agent, status).
//! Behind them is no copy: the store holds pointers to the caller's values ([`Lent`]) for the
//! duration of that one call, and each accessor the module calls converts only the field it asks
//! for. Integer handles cost nothing to pass, where component-model `borrow` handles cost about
//! 0.13 µs each (a resource-table entry per call).
//!
//! Soundness: [`lend`] sets the pointers from references that outlive the call, runs the call,
//! and clears them when it returns or unwinds. Each call has its own handle number; an accessor
//! given any other number, or called while nothing of its kind is lent (between calls, or at a
//! hook point without that value), traps instead of dereferencing.

use std::ptr::NonNull;

use meseta_runtime::StoreState;
use meseta_types::hooks::{AgentView, ExecutorView, FrameworkView, StatusView, TaskView};
use wasmtime::Store;

use crate::convert as cv;
use crate::hook_types as wh;
use crate::master_hooks_v2::meseta::hooks::views as wv;
use crate::types as wt;

/// The values one hook call lends its module.
#[derive(Clone, Copy, Default)]
pub struct Views<'a> {
    pub task: Option<&'a dyn TaskView>,
    pub executor: Option<&'a dyn ExecutorView>,
    pub framework: Option<&'a dyn FrameworkView>,
    pub agent: Option<&'a dyn AgentView>,
    pub status: Option<&'a dyn StatusView>,
}

/// The store data of a version 2 hook module: the current call's [`Views`], lifetime erased,
/// and the number of the current (or last) call, which is its handle.
#[derive(Default)]
pub struct Lent {
    call: u32,
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

/// Clears what was lent when the call returns or unwinds (the handle number stays used).
struct Clear<'s>(&'s mut Store<StoreState<Lent>>);

impl Drop for Clear<'_> {
    fn drop(&mut self) {
        let lent = &mut self.0.data_mut().data;
        *lent = Lent {
            call: lent.call,
            ..Lent::default()
        };
    }
}

/// Runs `f` (one export call, given the call's handle) with `views` lent to the store.
pub fn lend<R>(
    store: &mut Store<StoreState<Lent>>,
    views: Views<'_>,
    f: impl FnOnce(&mut Store<StoreState<Lent>>, u32) -> R,
) -> R {
    // a fresh nonzero number per call, so a handle kept from an earlier call is refused
    let call = store.data().data.call.wrapping_add(1).max(1);
    store.data_mut().data = Lent {
        call,
        task: erase!(views.task, TaskView),
        executor: erase!(views.executor, ExecutorView),
        framework: erase!(views.framework, FrameworkView),
        agent: erase!(views.agent, AgentView),
        status: erase!(views.status, StatusView),
    };
    let guard = Clear(store);
    f(&mut *guard.0, call)
}

fn nothing(kind: &str, handle: u32) -> wasmtime::Error {
    wasmtime::Error::msg(format!(
        "{kind} handle {handle} is not lent to the hook call in progress"
    ))
}

impl Lent {
    fn task(&self, handle: u32) -> wasmtime::Result<&dyn TaskView> {
        match self.task {
            // SAFETY: set only during the call that lent it (module documentation).
            Some(p) if handle == self.call => Ok(unsafe { p.as_ref() }),
            _ => Err(nothing("task", handle)),
        }
    }
    fn executor(&self, handle: u32) -> wasmtime::Result<&dyn ExecutorView> {
        match self.executor {
            // SAFETY: set only during the call that lent it (module documentation).
            Some(p) if handle == self.call => Ok(unsafe { p.as_ref() }),
            _ => Err(nothing("executor", handle)),
        }
    }
    fn framework(&self, handle: u32) -> wasmtime::Result<&dyn FrameworkView> {
        match self.framework {
            // SAFETY: set only during the call that lent it (module documentation).
            Some(p) if handle == self.call => Ok(unsafe { p.as_ref() }),
            _ => Err(nothing("framework", handle)),
        }
    }
    fn agent(&self, handle: u32) -> wasmtime::Result<&dyn AgentView> {
        match self.agent {
            // SAFETY: set only during the call that lent it (module documentation).
            Some(p) if handle == self.call => Ok(unsafe { p.as_ref() }),
            _ => Err(nothing("agent", handle)),
        }
    }
    fn status(&self, handle: u32) -> wasmtime::Result<&dyn StatusView> {
        match self.status {
            // SAFETY: set only during the call that lent it (module documentation).
            Some(p) if handle == self.call => Ok(unsafe { p.as_ref() }),
            _ => Err(nothing("status", handle)),
        }
    }
}

fn env(v: &[meseta_types::resources::EnvVar]) -> Vec<wt::EnvVar> {
    v.iter().map(cv::env_to).collect()
}

type R<T> = wasmtime::Result<T>;

impl wv::Host for StoreState<Lent> {
    fn task_id(&mut self, t: u32) -> R<String> {
        Ok(self.data.task(t)?.task_id().into_owned())
    }
    fn task_name(&mut self, t: u32) -> R<String> {
        Ok(self.data.task(t)?.name().into_owned())
    }
    fn task_agent_id(&mut self, t: u32) -> R<String> {
        Ok(self.data.task(t)?.agent_id().into_owned())
    }
    fn task_resources(&mut self, t: u32) -> R<Vec<wt::Resource>> {
        Ok(cv::resources_to(&self.data.task(t)?.resources()))
    }
    fn task_labels(&mut self, t: u32) -> R<Vec<wt::Label>> {
        Ok(cv::labels_to(&self.data.task(t)?.labels()))
    }
    fn task_command(&mut self, t: u32) -> R<Option<wh::CommandInfo>> {
        Ok(self.data.task(t)?.command().map(|c| cv::command_to(&c)))
    }
    fn task_environment(&mut self, t: u32) -> R<Vec<wt::EnvVar>> {
        Ok(env(&self.data.task(t)?.environment()))
    }
    fn task_executor_id(&mut self, t: u32) -> R<Option<String>> {
        Ok(self.data.task(t)?.executor_id().map(|s| s.into_owned()))
    }

    fn executor_id(&mut self, e: u32) -> R<String> {
        Ok(self.data.executor(e)?.executor_id().into_owned())
    }
    fn executor_framework_id(&mut self, e: u32) -> R<String> {
        Ok(self.data.executor(e)?.framework_id().into_owned())
    }
    fn executor_name(&mut self, e: u32) -> R<Option<String>> {
        Ok(self.data.executor(e)?.name().map(|s| s.into_owned()))
    }
    fn executor_command(&mut self, e: u32) -> R<Option<wh::CommandInfo>> {
        Ok(self.data.executor(e)?.command().map(|c| cv::command_to(&c)))
    }
    fn executor_environment(&mut self, e: u32) -> R<Vec<wt::EnvVar>> {
        Ok(env(&self.data.executor(e)?.environment()))
    }
    fn executor_resources(&mut self, e: u32) -> R<Vec<wt::Resource>> {
        Ok(cv::resources_to(&self.data.executor(e)?.resources()))
    }
    fn executor_labels(&mut self, e: u32) -> R<Vec<wt::Label>> {
        Ok(cv::labels_to(&self.data.executor(e)?.labels()))
    }

    fn framework_id(&mut self, f: u32) -> R<String> {
        Ok(self.data.framework(f)?.framework_id().into_owned())
    }
    fn framework_name(&mut self, f: u32) -> R<String> {
        Ok(self.data.framework(f)?.name().into_owned())
    }
    fn framework_user(&mut self, f: u32) -> R<String> {
        Ok(self.data.framework(f)?.user().into_owned())
    }
    fn framework_roles(&mut self, f: u32) -> R<Vec<String>> {
        Ok(self.data.framework(f)?.roles().into_owned())
    }

    fn agent_id(&mut self, a: u32) -> R<String> {
        Ok(self.data.agent(a)?.agent_id().into_owned())
    }
    fn agent_hostname(&mut self, a: u32) -> R<String> {
        Ok(self.data.agent(a)?.hostname().into_owned())
    }
    fn agent_port(&mut self, a: u32) -> R<u32> {
        Ok(self.data.agent(a)?.port())
    }
    fn agent_resources(&mut self, a: u32) -> R<Vec<wt::Resource>> {
        Ok(cv::resources_to(&self.data.agent(a)?.resources()))
    }
    fn agent_attributes(&mut self, a: u32) -> R<Vec<wt::Attribute>> {
        let agent = self.data.agent(a)?;
        Ok(agent.attributes().iter().map(cv::attribute_to).collect())
    }

    fn status_task_id(&mut self, s: u32) -> R<String> {
        Ok(self.data.status(s)?.task_id().into_owned())
    }
    fn status_state(&mut self, s: u32) -> R<String> {
        Ok(self.data.status(s)?.state().into_owned())
    }
    fn status_executor_id(&mut self, s: u32) -> R<Option<String>> {
        Ok(self.data.status(s)?.executor_id().map(|s| s.into_owned()))
    }
    fn status_message(&mut self, s: u32) -> R<Option<String>> {
        Ok(self.data.status(s)?.message().map(|s| s.into_owned()))
    }
    fn status_reason(&mut self, s: u32) -> R<Option<String>> {
        Ok(self.data.status(s)?.reason().map(|s| s.into_owned()))
    }
    fn status_source(&mut self, s: u32) -> R<Option<String>> {
        Ok(self.data.status(s)?.source().map(|s| s.into_owned()))
    }
    fn status_labels(&mut self, s: u32) -> R<Vec<wt::Label>> {
        Ok(cv::labels_to(&self.data.status(s)?.labels()))
    }
    fn status_container_status(&mut self, s: u32) -> R<Option<wh::ContainerStatus>> {
        let status = self.data.status(s)?;
        Ok(status
            .container_status()
            .map(|c| cv::container_status_to(&c)))
    }
}
