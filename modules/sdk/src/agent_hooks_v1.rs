//! The version 1 `agent-hooks` world (`meseta:modules@0.1.0`, whole records per call): exports
//! [`AgentHooks`] with [`export_agent_hooks_v1!`](crate::export_agent_hooks_v1).

use crate::__private::{Instance, init, try_with};
use crate::convert::all;
use meseta_types::Create;
use meseta_types::hooks::{self as h, AgentHooks};

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "agent-hooks",
        path: "../../wit/meseta-modules-0.1.0",
        with: {
            "meseta:modules/host@0.1.0": crate::wit::meseta::modules::host,
            "meseta:modules/types@0.1.0": crate::wit::meseta::modules::types,
            "meseta:modules/hook-types@0.1.0": crate::wit::meseta::modules::hook_types,
        },
        pub_export_macro: true,
        export_macro_name: "export_world",
        default_bindings_module: "meseta_sdk::agent_hooks_v1::bindings",
        runtime_path: "meseta_sdk::wit_bindgen::rt",
    });
}

use crate::wit::meseta::modules::hook_types as wh;
use crate::wit::meseta::modules::types::{self as wt, Parameter};
use bindings::exports::meseta::modules::agent_hooks_api as w;

/// Exports the agent hooks `$policy` (a type implementing [`Create`] and [`AgentHooks`]) as the
/// component's version 1 `agent-hooks-api`
/// (`meseta:modules/agent-hooks-api@0.1.0`).
///
/// ```ignore
/// meseta_sdk::export_agent_hooks_v1!(MyHooks);
/// ```
#[macro_export]
macro_rules! export_agent_hooks_v1 {
    ($policy:ty) => {
        const _: () = {
            $crate::__meseta_instance!(__MesetaAgentHooksV1, $policy);
            $crate::agent_hooks_v1::bindings::export_world!(
                __MesetaAgentHooksV1 with_types_in $crate::agent_hooks_v1::bindings
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
        task: wh::TaskInfo,
        executor: wh::ExecutorInfo,
        framework: wh::FrameworkInfo,
        agent: wh::AgentInfo,
    ) -> Result<Option<Vec<wt::Label>>, String> {
        let task: h::TaskInfo = task.into();
        let executor: h::ExecutorInfo = executor.into();
        let framework: h::FrameworkInfo = framework.into();
        let agent: h::AgentInfo = agent.into();
        try_with::<C, _>("run-task-label-decorator", |p| {
            p.run_task_label_decorator(&task, &executor, &framework, &agent)
                .map(|d| d.map(|edit| all(edit.apply(&task.labels))))
        })
    }

    fn executor_environment_decorator(
        executor: wh::ExecutorInfo,
    ) -> Result<Option<Vec<wt::EnvVar>>, String> {
        let executor: h::ExecutorInfo = executor.into();
        try_with::<C, _>("executor-environment-decorator", |p| {
            p.executor_environment_decorator(&executor).map(|d| {
                d.map(|edit| {
                    let current = executor.command.as_ref().map(|c| c.environment.as_slice());
                    all(edit.apply(current.unwrap_or_default()))
                })
            })
        })
    }

    fn task_status_decorator(
        framework_id: String,
        status: wh::TaskStatus,
    ) -> Result<Option<wh::TaskStatus>, String> {
        let status: h::TaskStatus = status.into();
        try_with::<C, _>("task-status-decorator", |p| {
            p.task_status_decorator(&framework_id, &status)
                .map(|d| d.map(Into::into))
        })
    }

    fn resources_decorator(agent: wh::AgentInfo) -> Result<Option<Vec<wt::Resource>>, String> {
        let agent: h::AgentInfo = agent.into();
        try_with::<C, _>("resources-decorator", |p| {
            p.resources_decorator(&agent).map(|d| d.map(all))
        })
    }

    fn attributes_decorator(agent: wh::AgentInfo) -> Result<Option<Vec<wt::Attribute>>, String> {
        let agent: h::AgentInfo = agent.into();
        try_with::<C, _>("attributes-decorator", |p| {
            p.attributes_decorator(&agent).map(|d| d.map(all))
        })
    }

    fn remove_executor(
        framework: wh::FrameworkInfo,
        executor: wh::ExecutorInfo,
    ) -> Result<(), String> {
        let framework: h::FrameworkInfo = framework.into();
        let executor: h::ExecutorInfo = executor.into();
        try_with::<C, _>("remove-executor", |p| {
            p.remove_executor(&framework, &executor)
        })
    }

    fn post_fetch(container_id: String, directory: String) -> Result<(), String> {
        try_with::<C, _>("post-fetch", |p| p.post_fetch(&container_id, &directory))
    }
}
