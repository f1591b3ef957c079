//! The version 1 `master-hooks` world (`meseta:modules@0.1.0`, whole records per call): exports
//! [`MasterHooks`] with [`export_master_hooks_v1!`](crate::export_master_hooks_v1).

use crate::__private::{Instance, init, try_with};
use crate::convert::all;
use meseta_types::Create;
use meseta_types::hooks::{self as h, MasterHooks};
use meseta_types::resources::Resource;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "master-hooks",
        path: "../../wit/meseta-modules-0.1.0",
        with: {
            "meseta:modules/host@0.1.0": crate::wit::meseta::modules::host,
            "meseta:modules/types@0.1.0": crate::wit::meseta::modules::types,
            "meseta:modules/hook-types@0.1.0": crate::wit::meseta::modules::hook_types,
        },
        pub_export_macro: true,
        export_macro_name: "export_world",
        default_bindings_module: "meseta_sdk::master_hooks_v1::bindings",
        runtime_path: "meseta_sdk::wit_bindgen::rt",
    });
}

use crate::wit::meseta::modules::hook_types as wh;
use crate::wit::meseta::modules::types::{self as wt, Parameter};
use bindings::exports::meseta::modules::master_hooks_api as w;

/// Exports the master hooks `$policy` (a type implementing [`Create`] and [`MasterHooks`]) as the
/// component's version 1 `master-hooks-api`
/// (`meseta:modules/master-hooks-api@0.1.0`).
///
/// ```ignore
/// meseta_sdk::export_master_hooks_v1!(MyHooks);
/// ```
#[macro_export]
macro_rules! export_master_hooks_v1 {
    ($policy:ty) => {
        const _: () = {
            $crate::__meseta_instance!(__MesetaMasterHooksV1, $policy);
            $crate::master_hooks_v1::bindings::export_world!(
                __MesetaMasterHooksV1 with_types_in $crate::master_hooks_v1::bindings
            );
        };
    };
}

impl<C> w::Guest for C
where
    C: Instance,
    C::Policy: MasterHooks + Create,
{
    fn init(parameters: Vec<Parameter>) -> Result<(), String> {
        init::<C>(parameters)
    }

    fn launch_task_label_decorator(
        task: wh::TaskInfo,
        framework: wh::FrameworkInfo,
        agent: wh::AgentInfo,
    ) -> Result<Option<Vec<wt::Label>>, String> {
        let (task, framework, agent): (h::TaskInfo, h::FrameworkInfo, h::AgentInfo) =
            (task.into(), framework.into(), agent.into());
        try_with::<C, _>("launch-task-label-decorator", |p| {
            p.launch_task_label_decorator(&task, &framework, &agent)
                .map(|d| d.map(|edit| all(edit.apply(&task.labels))))
        })
    }

    fn launch_task_resource_decorator(
        task: wh::TaskInfo,
        agent_resources: Vec<wt::Resource>,
    ) -> Result<Option<Vec<wt::Resource>>, String> {
        let task: h::TaskInfo = task.into();
        let agent_resources: Vec<Resource> = all(agent_resources);
        try_with::<C, _>("launch-task-resource-decorator", |p| {
            p.launch_task_resource_decorator(&task, &agent_resources)
                .map(|d| d.map(all))
        })
    }

    fn agent_lost(agent: wh::AgentInfo) -> Result<(), String> {
        let agent: h::AgentInfo = agent.into();
        try_with::<C, _>("agent-lost", |p| p.agent_lost(&agent))
    }
}
