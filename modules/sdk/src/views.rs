//! The version 2 hook worlds' views (`meseta:hooks/views@0.2.0`): the handles a hook point
//! receives, as [`TaskView`], [`ExecutorView`], [`FrameworkView`], [`AgentView`] and
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

/// A `task` handle as a [`TaskView`].
pub struct GuestTask(pub wv::Task);

impl TaskView for GuestTask {
    fn task_id(&self) -> Cow<'_, str> {
        Cow::Owned(wv::task_id(self.0))
    }
    fn name(&self) -> Cow<'_, str> {
        Cow::Owned(wv::task_name(self.0))
    }
    fn agent_id(&self) -> Cow<'_, str> {
        Cow::Owned(wv::task_agent_id(self.0))
    }
    fn resources(&self) -> Cow<'_, [Resource]> {
        Cow::Owned(all(wv::task_resources(self.0)))
    }
    fn labels(&self) -> Cow<'_, [Label]> {
        Cow::Owned(all(wv::task_labels(self.0)))
    }
    fn command(&self) -> Option<Cow<'_, CommandInfo>> {
        wv::task_command(self.0).map(|c| Cow::Owned(CommandInfo::from(c)))
    }
    fn environment(&self) -> Cow<'_, [EnvVar]> {
        Cow::Owned(all(wv::task_environment(self.0)))
    }
    fn executor_id(&self) -> Option<Cow<'_, str>> {
        wv::task_executor_id(self.0).map(Cow::Owned)
    }
}

/// An `executor` handle as an [`ExecutorView`].
pub struct GuestExecutor(pub wv::Executor);

impl ExecutorView for GuestExecutor {
    fn executor_id(&self) -> Cow<'_, str> {
        Cow::Owned(wv::executor_id(self.0))
    }
    fn framework_id(&self) -> Cow<'_, str> {
        Cow::Owned(wv::executor_framework_id(self.0))
    }
    fn name(&self) -> Option<Cow<'_, str>> {
        wv::executor_name(self.0).map(Cow::Owned)
    }
    fn command(&self) -> Option<Cow<'_, CommandInfo>> {
        wv::executor_command(self.0).map(|c| Cow::Owned(CommandInfo::from(c)))
    }
    fn environment(&self) -> Cow<'_, [EnvVar]> {
        Cow::Owned(all(wv::executor_environment(self.0)))
    }
    fn resources(&self) -> Cow<'_, [Resource]> {
        Cow::Owned(all(wv::executor_resources(self.0)))
    }
    fn labels(&self) -> Cow<'_, [Label]> {
        Cow::Owned(all(wv::executor_labels(self.0)))
    }
}

/// A `framework` handle as a [`FrameworkView`].
pub struct GuestFramework(pub wv::Framework);

impl FrameworkView for GuestFramework {
    fn framework_id(&self) -> Cow<'_, str> {
        Cow::Owned(wv::framework_id(self.0))
    }
    fn name(&self) -> Cow<'_, str> {
        Cow::Owned(wv::framework_name(self.0))
    }
    fn user(&self) -> Cow<'_, str> {
        Cow::Owned(wv::framework_user(self.0))
    }
    fn roles(&self) -> Cow<'_, [String]> {
        Cow::Owned(wv::framework_roles(self.0))
    }
}

/// An `agent` handle as an [`AgentView`].
pub struct GuestAgent(pub wv::Agent);

impl AgentView for GuestAgent {
    fn agent_id(&self) -> Cow<'_, str> {
        Cow::Owned(wv::agent_id(self.0))
    }
    fn hostname(&self) -> Cow<'_, str> {
        Cow::Owned(wv::agent_hostname(self.0))
    }
    fn port(&self) -> u32 {
        wv::agent_port(self.0)
    }
    fn resources(&self) -> Cow<'_, [Resource]> {
        Cow::Owned(all(wv::agent_resources(self.0)))
    }
    fn attributes(&self) -> Cow<'_, [Attribute]> {
        Cow::Owned(all(wv::agent_attributes(self.0)))
    }
}

/// A `status` handle as a [`StatusView`].
pub struct GuestStatus(pub wv::Status);

impl StatusView for GuestStatus {
    fn task_id(&self) -> Cow<'_, str> {
        Cow::Owned(wv::status_task_id(self.0))
    }
    fn state(&self) -> Cow<'_, str> {
        Cow::Owned(wv::status_state(self.0))
    }
    fn executor_id(&self) -> Option<Cow<'_, str>> {
        wv::status_executor_id(self.0).map(Cow::Owned)
    }
    fn message(&self) -> Option<Cow<'_, str>> {
        wv::status_message(self.0).map(Cow::Owned)
    }
    fn reason(&self) -> Option<Cow<'_, str>> {
        wv::status_reason(self.0).map(Cow::Owned)
    }
    fn source(&self) -> Option<Cow<'_, str>> {
        wv::status_source(self.0).map(Cow::Owned)
    }
    fn labels(&self) -> Cow<'_, [Label]> {
        Cow::Owned(all(wv::status_labels(self.0)))
    }
    fn container_status(&self) -> Option<Cow<'_, ContainerStatus>> {
        wv::status_container_status(self.0).map(|c| Cow::Owned(ContainerStatus::from(c)))
    }
}

/// The last edit sent at one hook point, to answer `repeat` when the next is the same.
pub(crate) type Last<T> = std::thread::LocalKey<std::cell::RefCell<Option<Edit<T>>>>;

/// `edit` as sent: `repeat` when it equals the previous edit sent at this point.
fn remembered<T: PartialEq + Clone, W>(
    last: &'static Last<T>,
    edit: Edit<T>,
    repeat: W,
    wire: impl FnOnce(Edit<T>) -> W,
) -> W {
    last.with_borrow_mut(|l| {
        if l.as_ref() == Some(&edit) {
            return repeat;
        }
        *l = Some(edit.clone());
        wire(edit)
    })
}

pub(crate) fn label_edit(last: &'static Last<Label>, edit: Edit<Label>) -> wv::LabelEdit {
    remembered(last, edit, wv::LabelEdit::Repeat, |e| match e {
        Edit::Replace(v) => wv::LabelEdit::Replace(all(v)),
        Edit::Set(v) => wv::LabelEdit::Set(all(v)),
    })
}

pub(crate) fn env_edit(last: &'static Last<EnvVar>, edit: Edit<EnvVar>) -> wv::EnvEdit {
    remembered(last, edit, wv::EnvEdit::Repeat, |e| match e {
        Edit::Replace(v) => wv::EnvEdit::Replace(all(v)),
        Edit::Set(v) => wv::EnvEdit::Set(all(v)),
    })
}
