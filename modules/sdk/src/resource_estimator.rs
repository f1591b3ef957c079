//! The `resource-estimator` world: exports an [`EstimatorPolicy`] with
//! [`export_resource_estimator!`](crate::export_resource_estimator).

use crate::__private::{Instance, init, try_with};
use crate::convert::all;
use meseta_types::Create;
use meseta_types::oversubscription::{EstimatorPolicy, ResourceUsage};

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "resource-estimator",
        path: "../../wit/meseta-modules-0.1.0",
        with: {
            "meseta:modules/host@0.1.0": crate::wit::meseta::modules::host,
            "meseta:modules/types@0.1.0": crate::wit::meseta::modules::types,
        },
        pub_export_macro: true,
        export_macro_name: "export_world",
        default_bindings_module: "meseta_sdk::resource_estimator::bindings",
        runtime_path: "meseta_sdk::wit_bindgen::rt",
    });
}

use crate::wit::meseta::modules::types::{self as wt, Parameter};
use bindings::exports::meseta::modules::resource_estimator_api as w;

/// Exports the resource estimator `$policy` (a type implementing [`Create`] and
/// [`EstimatorPolicy`]) as the component's `resource-estimator-api`.
///
/// ```ignore
/// meseta_sdk::export_resource_estimator!(MyEstimator);
/// ```
#[macro_export]
macro_rules! export_resource_estimator {
    ($policy:ty) => {
        const _: () = {
            $crate::__meseta_instance!(__MesetaResourceEstimator, $policy);
            $crate::resource_estimator::bindings::export_world!(
                __MesetaResourceEstimator with_types_in $crate::resource_estimator::bindings
            );
        };
    };
}

impl<C> w::Guest for C
where
    C: Instance,
    C::Policy: EstimatorPolicy + Create,
{
    fn init(parameters: Vec<Parameter>) -> Result<(), String> {
        init::<C>(parameters)
    }

    fn oversubscribable(usage: wt::ResourceUsage) -> Result<Vec<wt::Resource>, String> {
        let usage: ResourceUsage = usage.into();
        try_with::<C, _>("oversubscribable", |p| p.oversubscribable(&usage).map(all))
    }
}
