//! The `agent-hooks` world of `meseta:hooks@0.2.0` (borrowed handles): exports [`AgentHooks`]
//! with [`export_agent_hooks!`](crate::export_agent_hooks).

use crate::__private::{Instance, init, try_with};
use crate::convert::all;
use crate::views::{
    GuestAgent, GuestExecutor, GuestFramework, GuestStatus, GuestTask, env_edit, label_edit, wv,
};
use meseta_types::Create;
use meseta_types::hooks::AgentHooks;
use meseta_types::hooks::Edit;
use meseta_types::resources::{EnvVar, Label};

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        // A world of another name including the version 2 world: the version 1 bindings next
        // door already define the export macro named after `agent-hooks`.
        inline: "
            package meseta:sdk-hooks;
            world agent-hooks-v2 {
                include meseta:hooks/agent-hooks@0.2.0;
            }
        ",
        world: "agent-hooks-v2",
        path: ["../../wit/meseta-modules-0.1.0", "../../wit/meseta-hooks-0.2.0"],
        with: {
            "meseta:modules/host@0.1.0": crate::wit::meseta::modules::host,
            "meseta:modules/types@0.1.0": crate::wit::meseta::modules::types,
            "meseta:modules/hook-types@0.1.0": crate::wit::meseta::modules::hook_types,
            "meseta:hooks/views@0.2.0": crate::views::wv,
        },
        pub_export_macro: true,
        export_macro_name: "export_world",
        default_bindings_module: "meseta_sdk::agent_hooks::bindings",
        runtime_path: "meseta_sdk::wit_bindgen::rt",
    });
}

use crate::wit::meseta::modules::types::{self as wt, Parameter};

std::thread_local! {
    /// The last edits sent (answered with `repeat` when the next is the same).
    static RUN_LABELS: std::cell::RefCell<Option<Edit<Label>>> = const { std::cell::RefCell::new(None) };
    static ENVIRONMENT: std::cell::RefCell<Option<Edit<EnvVar>>> = const { std::cell::RefCell::new(None) };
}
use bindings::exports::meseta::hooks::agent_hooks_api as w;

/// Exports the agent hooks `$policy` (a type implementing [`Create`] and [`AgentHooks`]) as the
/// component's `meseta:hooks/agent-hooks-api@0.2.0`.
///
/// ```ignore
/// meseta_sdk::export_agent_hooks!(MyHooks);
/// ```
#[macro_export]
macro_rules! export_agent_hooks {
    ($policy:ty) => {
        const _: () = {
            $crate::__meseta_instance!(__MesetaAgentHooks, $policy);
            $crate::agent_hooks::bindings::export_world!(
                __MesetaAgentHooks with_types_in $crate::agent_hooks::bindings
            );
        };
    };
}

impl<C> w::Guest for C
where
    C: Instance,
    C::Policy: AgentHooks + Create,
{
    fn init(parameters: Vec<Parameter>) -> Result<(), String> {
        init::<C>(parameters)
    }

    fn run_task_label_decorator(
        task: wv::Task,
        executor: wv::Executor,
        framework: wv::Framework,
        agent: wv::Agent,
    ) -> Result<Option<wv::LabelEdit>, String> {
        try_with::<C, _>("run-task-label-decorator", |p| {
            p.run_task_label_decorator(
                &GuestTask(task),
                &GuestExecutor(executor),
                &GuestFramework(framework),
                &GuestAgent(agent),
            )
            .map(|d| d.map(|e| label_edit(&RUN_LABELS, e)))
        })
    }

    fn executor_environment_decorator(
        executor: wv::Executor,
    ) -> Result<Option<wv::EnvEdit>, String> {
        try_with::<C, _>("executor-environment-decorator", |p| {
            p.executor_environment_decorator(&GuestExecutor(executor))
                .map(|d| d.map(|e| env_edit(&ENVIRONMENT, e)))
        })
    }

    /// Only the labels and the container status of the policy's answer go back (the host uses
    /// nothing else of a decorated status).
    fn task_status_decorator(
        framework_id: String,
        status: wv::Status,
    ) -> Result<Option<wv::StatusDecoration>, String> {
        try_with::<C, _>("task-status-decorator", |p| {
            p.task_status_decorator(&framework_id, &GuestStatus(status))
                .map(|d| {
                    d.map(|s| wv::StatusDecoration {
                        labels: all(s.labels),
                        container_status: s.container_status.map(Into::into),
                    })
                })
        })
    }

    fn resources_decorator(agent: wv::Agent) -> Result<Option<Vec<wt::Resource>>, String> {
        try_with::<C, _>("resources-decorator", |p| {
            p.resources_decorator(&GuestAgent(agent))
                .map(|d| d.map(all))
        })
    }

    fn attributes_decorator(agent: wv::Agent) -> Result<Option<Vec<wt::Attribute>>, String> {
        try_with::<C, _>("attributes-decorator", |p| {
            p.attributes_decorator(&GuestAgent(agent))
                .map(|d| d.map(all))
        })
    }

    fn remove_executor(framework: wv::Framework, executor: wv::Executor) -> Result<(), String> {
        try_with::<C, _>("remove-executor", |p| {
            p.remove_executor(&GuestFramework(framework), &GuestExecutor(executor))
        })
    }

    fn post_fetch(container_id: String, directory: String) -> Result<(), String> {
        try_with::<C, _>("post-fetch", |p| p.post_fetch(&container_id, &directory))
    }
}
