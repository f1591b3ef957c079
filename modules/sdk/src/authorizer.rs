//! The `authorizer` world of `meseta:authorizer@0.1.0`: exports an [`AuthorizerPolicy`] with
//! [`export_authorizer!`](crate::export_authorizer).

use crate::__private::{Instance, init, try_with};
use meseta_types::Create;
use meseta_types::authorization::{Action, AuthorizerPolicy, Object, Request};

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "meseta:authorizer/authorizer@0.1.0",
        path: ["../../wit/meseta-modules-0.1.0", "../../wit/meseta-authorizer-0.1.0"],
        with: {
            "meseta:modules/host@0.1.0": crate::wit::meseta::modules::host,
            "meseta:modules/types@0.1.0": crate::wit::meseta::modules::types,
        },
        pub_export_macro: true,
        export_macro_name: "export_world",
        default_bindings_module: "meseta_sdk::authorizer::bindings",
        runtime_path: "meseta_sdk::wit_bindgen::rt",
    });
}

use crate::wit::meseta::modules::types::Parameter;
use bindings::exports::meseta::authorizer::authorizer_api as w;

/// Exports the authorizer `$policy` (a type implementing [`Create`] and [`AuthorizerPolicy`])
/// as the component's `meseta:authorizer/authorizer-api@0.1.0`.
///
/// ```ignore
/// meseta_sdk::export_authorizer!(MyAuthorizer);
/// ```
#[macro_export]
macro_rules! export_authorizer {
    ($policy:ty) => {
        const _: () = {
            $crate::__meseta_instance!(__MesetaAuthorizer, $policy);
            $crate::authorizer::bindings::export_world!(
                __MesetaAuthorizer with_types_in $crate::authorizer::bindings
            );
        };
    };
}

fn action(x: w::Action) -> Action {
    use w::Action as W;
    match x {
        W::RegisterFramework => Action::RegisterFramework,
        W::RunTask => Action::RunTask,
        W::TeardownFramework => Action::TeardownFramework,
        W::UpdateWeight => Action::UpdateWeight,
        W::UpdateQuota => Action::UpdateQuota,
        W::GetQuota => Action::GetQuota,
        W::ViewRole => Action::ViewRole,
        W::GetEndpoint => Action::GetEndpoint,
        W::ViewFramework => Action::ViewFramework,
        W::ViewTask => Action::ViewTask,
        W::ViewExecutor => Action::ViewExecutor,
        W::ViewFlags => Action::ViewFlags,
        W::AccessSandbox => Action::AccessSandbox,
        W::RegisterAgent => Action::RegisterAgent,
        W::MarkAgentGone => Action::MarkAgentGone,
        W::ReserveResources => Action::ReserveResources,
        W::UnreserveResources => Action::UnreserveResources,
        W::CreateVolume => Action::CreateVolume,
        W::DestroyVolume => Action::DestroyVolume,
    }
}

impl<C> w::Guest for C
where
    C: Instance,
    C::Policy: AuthorizerPolicy + Create,
{
    fn init(parameters: Vec<Parameter>) -> Result<(), String> {
        init::<C>(parameters)
    }

    fn authorized(request: w::Request) -> Result<bool, String> {
        let o = request.object;
        let request = Request {
            subject: request.subject,
            action: action(request.action),
            object: Object {
                value: o.value,
                framework_id: o.framework_id,
                framework_name: o.framework_name,
                framework_principal: o.framework_principal,
                role: o.role,
                user: o.user,
                task_id: o.task_id,
                executor_id: o.executor_id,
                agent_id: o.agent_id,
            },
        };
        try_with::<C, _>("authorized", |p| p.authorized(&request))
    }
}
