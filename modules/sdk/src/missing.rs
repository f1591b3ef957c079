//! Export macros of the worlds whose feature is off: they fail with a message that says which
//! feature to enable, instead of "cannot find macro".

#[cfg(not(feature = "allocator"))]
#[macro_export]
macro_rules! export_allocator {
    ($($t:tt)*) => {
        compile_error!("export_allocator! needs the `allocator` feature of meseta-sdk");
    };
}

#[cfg(not(feature = "allocator-v1"))]
#[macro_export]
macro_rules! export_allocator_v1 {
    ($($t:tt)*) => {
        compile_error!("export_allocator_v1! needs the `allocator-v1` feature of meseta-sdk");
    };
}

#[cfg(not(feature = "isolator"))]
#[macro_export]
macro_rules! export_isolator {
    ($($t:tt)*) => {
        compile_error!("export_isolator! needs the `isolator` feature of meseta-sdk");
    };
}

#[cfg(not(feature = "resource-estimator"))]
#[macro_export]
macro_rules! export_resource_estimator {
    ($($t:tt)*) => {
        compile_error!(
            "export_resource_estimator! needs the `resource-estimator` feature of meseta-sdk"
        );
    };
}

#[cfg(not(feature = "qos-controller"))]
#[macro_export]
macro_rules! export_qos_controller {
    ($($t:tt)*) => {
        compile_error!("export_qos_controller! needs the `qos-controller` feature of meseta-sdk");
    };
}

#[cfg(not(feature = "master-hooks"))]
#[macro_export]
macro_rules! export_master_hooks {
    ($($t:tt)*) => {
        compile_error!("export_master_hooks! needs the `master-hooks` feature of meseta-sdk");
    };
}

#[cfg(not(feature = "agent-hooks"))]
#[macro_export]
macro_rules! export_agent_hooks {
    ($($t:tt)*) => {
        compile_error!("export_agent_hooks! needs the `agent-hooks` feature of meseta-sdk");
    };
}

#[cfg(not(feature = "master-hooks-v1"))]
#[macro_export]
macro_rules! export_master_hooks_v1 {
    ($($t:tt)*) => {
        compile_error!("export_master_hooks_v1! needs the `master-hooks-v1` feature of meseta-sdk");
    };
}

#[cfg(not(feature = "agent-hooks-v1"))]
#[macro_export]
macro_rules! export_agent_hooks_v1 {
    ($($t:tt)*) => {
        compile_error!("export_agent_hooks_v1! needs the `agent-hooks-v1` feature of meseta-sdk");
    };
}

#[cfg(not(feature = "authorizer"))]
#[macro_export]
macro_rules! export_authorizer {
    ($($t:tt)*) => {
        compile_error!("export_authorizer! needs the `authorizer` feature of meseta-sdk");
    };
}
