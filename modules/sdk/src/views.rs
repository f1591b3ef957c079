//! The version 2 hook worlds' views (`meseta:hooks/views@0.2.0`): the borrowed handles a hook
//! point receives, as [`TaskView`], [`ExecutorView`], [`FrameworkView`], [`AgentView`] and
//! [`StatusView`]. Each method is one host call that copies in only that field.

use std::borrow::Cow;

use crate::convert::all;
use meseta_types::hooks::{
    AgentView, CommandInfo, ContainerStatus, Edit, ExecutorView, FrameworkView, StatusView,
    TaskView,
};
use meseta_types::resources::{Attribute, EnvVar, Label, Resource};

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        inline: "
            package meseta:sdk-views;
            world views {
                import meseta:hooks/views@0.2.0;
            }
        ",
        path: ["../../wit/meseta-modules-0.1.0", "../../wit/meseta-hooks-0.2.0"],
        world: "views",
        with: {
            "meseta:modules/types@0.1.0": crate::wit::meseta::modules::types,
            "meseta:modules/hook-types@0.1.0": crate::wit::meseta::modules::hook_types,
        },
        generate_all,
        runtime_path: "meseta_sdk::wit_bindgen::rt",
    });
}

pub use bindings::meseta::hooks::views as wv;

fn owned<T>(v: T) -> Cow<'static, T::Owned>
where
    T: ToOwned<Owned = T>,
    T: Clone,
{
    Cow::Owned(v)
}

/// A borrowed `task` handle as a [`TaskView`].
pub struct GuestTask<'a>(pub &'a wv::Task);

impl TaskView for GuestTask<'_> {
    fn task_id(&self) -> Cow<'_, str> {
        Cow::Owned(self.0.task_id())
    }
    fn name(&self) -> Cow<'_, str> {
        Cow::Owned(self.0.name())
    }
    fn agent_id(&self) -> Cow<'_, str> {
        Cow::Owned(self.0.agent_id())
    }
    fn resources(&self) -> Cow<'_, [Resource]> {
        Cow::Owned(all(self.0.resources()))
    }
    fn labels(&self) -> Cow<'_, [Label]> {
        Cow::Owned(all(self.0.labels()))
    }
    fn command(&self) -> Option<Cow<'_, CommandInfo>> {
        self.0.command().map(|c| owned(CommandInfo::from(c)))
    }
    fn environment(&self) -> Cow<'_, [EnvVar]> {
        Cow::Owned(all(self.0.environment()))
    }
    fn executor_id(&self) -> Option<Cow<'_, str>> {
        self.0.executor_id().map(Cow::Owned)
    }
}

/// A borrowed `executor` handle as an [`ExecutorView`].
pub struct GuestExecutor<'a>(pub &'a wv::Executor);

impl ExecutorView for GuestExecutor<'_> {
    fn executor_id(&self) -> Cow<'_, str> {
        Cow::Owned(self.0.executor_id())
    }
    fn framework_id(&self) -> Cow<'_, str> {
        Cow::Owned(self.0.framework_id())
    }
    fn name(&self) -> Option<Cow<'_, str>> {
        self.0.name().map(Cow::Owned)
    }
    fn command(&self) -> Option<Cow<'_, CommandInfo>> {
        self.0.command().map(|c| owned(CommandInfo::from(c)))
    }
    fn environment(&self) -> Cow<'_, [EnvVar]> {
        Cow::Owned(all(self.0.environment()))
    }
    fn resources(&self) -> Cow<'_, [Resource]> {
        Cow::Owned(all(self.0.resources()))
    }
    fn labels(&self) -> Cow<'_, [Label]> {
        Cow::Owned(all(self.0.labels()))
    }
}

/// A borrowed `framework` handle as a [`FrameworkView`].
pub struct GuestFramework<'a>(pub &'a wv::Framework);

impl FrameworkView for GuestFramework<'_> {
    fn framework_id(&self) -> Cow<'_, str> {
        Cow::Owned(self.0.framework_id())
    }
    fn name(&self) -> Cow<'_, str> {
        Cow::Owned(self.0.name())
    }
    fn user(&self) -> Cow<'_, str> {
        Cow::Owned(self.0.user())
    }
    fn roles(&self) -> Cow<'_, [String]> {
        Cow::Owned(self.0.roles())
    }
}

/// A borrowed `agent` handle as an [`AgentView`].
pub struct GuestAgent<'a>(pub &'a wv::Agent);

impl AgentView for GuestAgent<'_> {
    fn agent_id(&self) -> Cow<'_, str> {
        Cow::Owned(self.0.agent_id())
    }
    fn hostname(&self) -> Cow<'_, str> {
        Cow::Owned(self.0.hostname())
    }
    fn port(&self) -> u32 {
        self.0.port()
    }
    fn resources(&self) -> Cow<'_, [Resource]> {
        Cow::Owned(all(self.0.resources()))
    }
    fn attributes(&self) -> Cow<'_, [Attribute]> {
        Cow::Owned(all(self.0.attributes()))
    }
}

/// A borrowed `status` handle as a [`StatusView`].
pub struct GuestStatus<'a>(pub &'a wv::Status);

impl StatusView for GuestStatus<'_> {
    fn task_id(&self) -> Cow<'_, str> {
        Cow::Owned(self.0.task_id())
    }
    fn state(&self) -> Cow<'_, str> {
        Cow::Owned(self.0.state())
    }
    fn executor_id(&self) -> Option<Cow<'_, str>> {
        self.0.executor_id().map(Cow::Owned)
    }
    fn message(&self) -> Option<Cow<'_, str>> {
        self.0.message().map(Cow::Owned)
    }
    fn reason(&self) -> Option<Cow<'_, str>> {
        self.0.reason().map(Cow::Owned)
    }
    fn source(&self) -> Option<Cow<'_, str>> {
        self.0.source().map(Cow::Owned)
    }
    fn labels(&self) -> Cow<'_, [Label]> {
        Cow::Owned(all(self.0.labels()))
    }
    fn container_status(&self) -> Option<Cow<'_, ContainerStatus>> {
        self.0
            .container_status()
            .map(|c| owned(ContainerStatus::from(c)))
    }
}

impl From<Edit<Label>> for wv::LabelEdit {
    fn from(e: Edit<Label>) -> Self {
        match e {
            Edit::Replace(v) => wv::LabelEdit::Replace(all(v)),
            Edit::Set(v) => wv::LabelEdit::Set(all(v)),
        }
    }
}

impl From<Edit<EnvVar>> for wv::EnvEdit {
    fn from(e: Edit<EnvVar>) -> Self {
        match e {
            Edit::Replace(v) => wv::EnvEdit::Replace(all(v)),
            Edit::Set(v) => wv::EnvEdit::Set(all(v)),
        }
    }
}
