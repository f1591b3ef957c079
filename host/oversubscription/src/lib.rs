//! Oversubscription kinds: resource estimators and QoS controllers as Wasm modules.
//!
//! The host checks what they return: an estimate must be non-negative finite scalars (the host
//! marks them revocable, as Mesos requires), and a QoS kill must name an executor the agent
//! reported in the usage it sent. Anything else is a module fault.

use std::sync::Arc;

use meseta_bindings::convert as cv;
use meseta_bindings::qos_controller::QosController as QosWorld;
use meseta_bindings::qos_controller::exports::meseta::modules::qos_controller_api as qos;
use meseta_bindings::resource_estimator::ResourceEstimator as EstimatorWorld;
use meseta_bindings::types as w;
use meseta_runtime::{LoadError, LoadedModule, ModuleError, Sandbox};
use meseta_types::oversubscription::{Correction, Kill, ResourceUsage};
use meseta_types::resources::Resource;

pub struct WasmEstimator {
    sandbox: Sandbox<EstimatorWorld, ()>,
}

impl WasmEstimator {
    pub fn new(module: Arc<LoadedModule>) -> Result<Self, LoadError> {
        let mut sandbox = Sandbox::new(module, || ())?;
        sandbox.start()?;
        Ok(WasmEstimator { sandbox })
    }

    pub fn module(&self) -> &Arc<LoadedModule> {
        self.sandbox.module()
    }

    /// The revocable resources the agent may offer now.
    pub fn oversubscribable(
        &mut self,
        usage: &ResourceUsage,
    ) -> Result<Result<Vec<Resource>, String>, ModuleError> {
        let u = cv::usage_to(usage);
        let r = self.sandbox.call("oversubscribable", |x, s| {
            x.meseta_modules_resource_estimator_api()
                .call_oversubscribable(s, &u)
        })?;
        let resources = match r {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        for res in &resources {
            match res.value {
                w::ResourceValue::Scalar(v)
                    if v.is_finite() && v >= 0.0 && !res.name.is_empty() => {}
                _ => {
                    return Err(self.sandbox.reject(
                        "oversubscribable",
                        format!(
                            "estimate '{}' is not a non-negative scalar: {:?}",
                            res.name, res.value
                        ),
                    ));
                }
            }
        }
        Ok(Ok(resources
            .into_iter()
            .map(|r| Resource {
                revocable: true,
                ..cv::resource_from(r)
            })
            .collect()))
    }
}

pub struct WasmQosController {
    sandbox: Sandbox<QosWorld, ()>,
}

impl WasmQosController {
    pub fn new(module: Arc<LoadedModule>) -> Result<Self, LoadError> {
        let mut sandbox = Sandbox::new(module, || ())?;
        sandbox.start()?;
        Ok(WasmQosController { sandbox })
    }

    pub fn module(&self) -> &Arc<LoadedModule> {
        self.sandbox.module()
    }

    /// The host refuses a correction the module returned (for example a kill of guaranteed
    /// work): a module fault, counted and handled like any other.
    pub fn refuse(&mut self, message: String) -> ModuleError {
        self.sandbox.reject("corrections", message)
    }

    pub fn corrections(
        &mut self,
        usage: &ResourceUsage,
    ) -> Result<Result<Vec<Correction>, String>, ModuleError> {
        let u = cv::usage_to(usage);
        let r = self.sandbox.call("corrections", |x, s| {
            x.meseta_modules_qos_controller_api()
                .call_corrections(s, &u)
        })?;
        let corrections = match r {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        let mut out = Vec::with_capacity(corrections.len());
        for c in corrections {
            let qos::Correction::Kill(k) = c;
            let known = usage.executors.iter().any(|e| {
                e.framework_id == k.framework_id
                    && e.executor_id == k.executor_id
                    && k.container.is_none_or(|c| c == e.container)
            });
            if !known {
                return Err(self.sandbox.reject(
                    "corrections",
                    format!(
                        "kill names executor '{}' of framework '{}', which is not running on this agent",
                        k.executor_id, k.framework_id
                    ),
                ));
            }
            out.push(Correction::Kill(Kill {
                framework_id: k.framework_id,
                executor_id: k.executor_id,
                container: k.container,
            }));
        }
        Ok(Ok(out))
    }
}
