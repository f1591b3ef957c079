//! The `qos-controller` world: exports a [`QosPolicy`] with
//! [`export_qos_controller!`](crate::export_qos_controller).

use crate::__private::{Instance, init, try_with};
use crate::convert::all;
use meseta_types::Create;
use meseta_types::oversubscription::{Correction, QosPolicy, ResourceUsage};

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "qos-controller",
        path: "../../wit/meseta-modules-0.1.0",
        with: {
            "meseta:modules/host@0.1.0": crate::wit::meseta::modules::host,
            "meseta:modules/types@0.1.0": crate::wit::meseta::modules::types,
        },
        pub_export_macro: true,
        export_macro_name: "export_world",
        default_bindings_module: "meseta_sdk::qos_controller::bindings",
        runtime_path: "meseta_sdk::wit_bindgen::rt",
    });
}

use crate::wit::meseta::modules::types::{self as wt, Parameter};
use bindings::exports::meseta::modules::qos_controller_api as w;

/// Exports the QoS controller `$policy` (a type implementing [`Create`] and [`QosPolicy`]) as the
/// component's `qos-controller-api`.
///
/// ```ignore
/// meseta_sdk::export_qos_controller!(MyController);
/// ```
#[macro_export]
macro_rules! export_qos_controller {
    ($policy:ty) => {
        const _: () = {
            $crate::__meseta_instance!(__MesetaQosController, $policy);
            $crate::qos_controller::bindings::export_world!(
                __MesetaQosController with_types_in $crate::qos_controller::bindings
            );
        };
    };
}

impl From<Correction> for w::Correction {
    fn from(v: Correction) -> Self {
        match v {
            Correction::Kill(k) => w::Correction::Kill(w::Kill {
                framework_id: k.framework_id,
                executor_id: k.executor_id,
                container: k.container,
            }),
        }
    }
}

impl<C> w::Guest for C
where
    C: Instance,
    C::Policy: QosPolicy + Create,
{
    fn init(parameters: Vec<Parameter>) -> Result<(), String> {
        init::<C>(parameters)
    }

    fn corrections(usage: wt::ResourceUsage) -> Result<Vec<w::Correction>, String> {
        let usage: ResourceUsage = usage.into();
        try_with::<C, _>("corrections", |p| p.corrections(&usage).map(all))
    }
}
