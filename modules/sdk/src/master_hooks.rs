//! The `master-hooks` world of `meseta:hooks@0.2.0` (borrowed handles): exports [`MasterHooks`]
//! with [`export_master_hooks!`](crate::export_master_hooks).

use crate::__private::{Instance, init, try_with};
use crate::convert::all;
use crate::views::{GuestAgent, GuestFramework, GuestTask, label_edit, wv};
use meseta_types::Create;
use meseta_types::hooks::Edit;
use meseta_types::hooks::MasterHooks;
use meseta_types::resources::{Label, Resource};

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        // A world of another name including the version 2 world: the version 1 bindings next
        // door already define the export macro named after `master-hooks`.
        inline: "
            package meseta:sdk-hooks;
            world master-hooks-v2 {
                include meseta:hooks/master-hooks@0.2.0;
            }
        ",
        world: "master-hooks-v2",
        path: ["../../wit/meseta-modules-0.1.0", "../../wit/meseta-hooks-0.2.0"],
        with: {
            "meseta:modules/host@0.1.0": crate::wit::meseta::modules::host,
            "meseta:modules/types@0.1.0": crate::wit::meseta::modules::types,
            "meseta:modules/hook-types@0.1.0": crate::wit::meseta::modules::hook_types,
            "meseta:hooks/views@0.2.0": crate::views::wv,
        },
        pub_export_macro: true,
        export_macro_name: "export_world",
        default_bindings_module: "meseta_sdk::master_hooks::bindings",
        runtime_path: "meseta_sdk::wit_bindgen::rt",
    });
}

use crate::wit::meseta::modules::types::{self as wt, Parameter};

std::thread_local! {
    /// The last label edit sent (answered with `repeat` when the next is the same).
    static LAUNCH_LABELS: std::cell::RefCell<Option<Edit<Label>>> =
        const { std::cell::RefCell::new(None) };
}
use bindings::exports::meseta::hooks::master_hooks_api as w;

/// Exports the master hooks `$policy` (a type implementing [`Create`] and [`MasterHooks`]) as the
/// component's `meseta:hooks/master-hooks-api@0.2.0`.
///
/// ```ignore
/// meseta_sdk::export_master_hooks!(MyHooks);
/// ```
#[macro_export]
macro_rules! export_master_hooks {
    ($policy:ty) => {
        const _: () = {
            $crate::__meseta_instance!(__MesetaMasterHooks, $policy);
            $crate::master_hooks::bindings::export_world!(
                __MesetaMasterHooks with_types_in $crate::master_hooks::bindings
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
        task: wv::Task,
        framework: wv::Framework,
        agent: wv::Agent,
    ) -> Result<Option<wv::LabelEdit>, String> {
        try_with::<C, _>("launch-task-label-decorator", |p| {
            p.launch_task_label_decorator(
                &GuestTask(task),
                &GuestFramework(framework),
                &GuestAgent(agent),
            )
            .map(|d| d.map(|e| label_edit(&LAUNCH_LABELS, e)))
        })
    }

    fn launch_task_resource_decorator(
        task: wv::Task,
        agent_resources: Vec<wt::Resource>,
    ) -> Result<Option<Vec<wt::Resource>>, String> {
        let agent_resources: Vec<Resource> = all(agent_resources);
        try_with::<C, _>("launch-task-resource-decorator", |p| {
            p.launch_task_resource_decorator(&GuestTask(task), &agent_resources)
                .map(|d| d.map(all))
        })
    }

    fn agent_lost(agent: wv::Agent) -> Result<(), String> {
        try_with::<C, _>("agent-lost", |p| p.agent_lost(&GuestAgent(agent)))
    }
}
