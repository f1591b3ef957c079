//! Conversions between `meseta-types` (the daemons' model) and the generated WIT types.

use std::borrow::Cow;

use meseta_types::hooks as h;
use meseta_types::isolation as i;
use meseta_types::oversubscription as o;
use meseta_types::resources as r;

use crate::hook_types as wh;
use crate::types as w;

pub fn range_to(x: &r::ValueRange) -> w::ValueRange {
    w::ValueRange {
        begin: x.begin,
        end: x.end,
    }
}
pub fn range_from(x: w::ValueRange) -> r::ValueRange {
    r::ValueRange {
        begin: x.begin,
        end: x.end,
    }
}

pub fn resource_to(x: &r::Resource) -> w::Resource {
    w::Resource {
        name: x.name.clone(),
        value: match &x.value {
            r::ResourceValue::Scalar(v) => w::ResourceValue::Scalar(*v),
            r::ResourceValue::Ranges(rs) => {
                w::ResourceValue::Ranges(rs.iter().map(range_to).collect())
            }
            r::ResourceValue::Set(s) => w::ResourceValue::Set(s.clone()),
        },
        role: x.role.clone(),
        revocable: x.revocable,
    }
}
pub fn resource_from(x: w::Resource) -> r::Resource {
    r::Resource {
        name: x.name,
        value: match x.value {
            w::ResourceValue::Scalar(v) => r::ResourceValue::Scalar(v),
            w::ResourceValue::Ranges(rs) => {
                r::ResourceValue::Ranges(rs.into_iter().map(range_from).collect())
            }
            w::ResourceValue::Set(s) => r::ResourceValue::Set(s),
        },
        role: x.role,
        revocable: x.revocable,
        reservations: Vec::new(),
        disk: None,
    }
}
pub fn resources_to(x: &[r::Resource]) -> Vec<w::Resource> {
    x.iter().map(resource_to).collect()
}
pub fn resources_from(x: Vec<w::Resource>) -> Vec<r::Resource> {
    x.into_iter().map(resource_from).collect()
}

pub fn attribute_to(x: &r::Attribute) -> w::Attribute {
    w::Attribute {
        name: x.name.clone(),
        value: match &x.value {
            r::AttributeValue::Scalar(v) => w::AttributeValue::Scalar(*v),
            r::AttributeValue::Ranges(rs) => {
                w::AttributeValue::Ranges(rs.iter().map(range_to).collect())
            }
            r::AttributeValue::Set(s) => w::AttributeValue::Set(s.clone()),
            r::AttributeValue::Text(t) => w::AttributeValue::Text(t.clone()),
        },
    }
}
pub fn attribute_from(x: w::Attribute) -> r::Attribute {
    r::Attribute {
        name: x.name,
        value: match x.value {
            w::AttributeValue::Scalar(v) => r::AttributeValue::Scalar(v),
            w::AttributeValue::Ranges(rs) => {
                r::AttributeValue::Ranges(rs.into_iter().map(range_from).collect())
            }
            w::AttributeValue::Set(s) => r::AttributeValue::Set(s),
            w::AttributeValue::Text(t) => r::AttributeValue::Text(t),
        },
    }
}

pub fn label_to(x: &r::Label) -> w::Label {
    w::Label {
        key: x.key.clone(),
        value: x.value.clone(),
    }
}
pub fn label_from(x: w::Label) -> r::Label {
    r::Label {
        key: x.key,
        value: x.value,
    }
}
pub fn labels_to(x: &[r::Label]) -> Vec<w::Label> {
    x.iter().map(label_to).collect()
}
pub fn labels_from(x: Vec<w::Label>) -> Vec<r::Label> {
    x.into_iter().map(label_from).collect()
}

pub fn env_to(x: &r::EnvVar) -> w::EnvVar {
    w::EnvVar {
        name: x.name.clone(),
        value: x.value.clone(),
    }
}
pub fn env_from(x: w::EnvVar) -> r::EnvVar {
    r::EnvVar {
        name: x.name,
        value: x.value,
    }
}

pub fn command_to(x: &h::CommandInfo) -> wh::CommandInfo {
    wh::CommandInfo {
        shell: x.shell,
        value: x.value.clone(),
        arguments: x.arguments.clone(),
        environment: x.environment.iter().map(env_to).collect(),
        user: x.user.clone(),
    }
}

/// A task, read whole through its view (version 1 hooks take records).
pub fn task_to(x: &dyn h::TaskView) -> wh::TaskInfo {
    wh::TaskInfo {
        task_id: x.task_id().into_owned(),
        name: x.name().into_owned(),
        agent_id: x.agent_id().into_owned(),
        resources: resources_to(&x.resources()),
        labels: labels_to(&x.labels()),
        command: x.command().map(|c| command_to(&c)),
        executor_id: x.executor_id().map(Cow::into_owned),
    }
}

pub fn executor_to(x: &dyn h::ExecutorView) -> wh::ExecutorInfo {
    wh::ExecutorInfo {
        executor_id: x.executor_id().into_owned(),
        framework_id: x.framework_id().into_owned(),
        name: x.name().map(Cow::into_owned),
        command: x.command().map(|c| command_to(&c)),
        resources: resources_to(&x.resources()),
        labels: labels_to(&x.labels()),
    }
}

pub fn framework_to(x: &dyn h::FrameworkView) -> wh::FrameworkInfo {
    wh::FrameworkInfo {
        framework_id: x.framework_id().into_owned(),
        name: x.name().into_owned(),
        user: x.user().into_owned(),
        roles: x.roles().into_owned(),
    }
}

pub fn agent_to(x: &dyn h::AgentView) -> wh::AgentInfo {
    wh::AgentInfo {
        agent_id: x.agent_id().into_owned(),
        hostname: x.hostname().into_owned(),
        port: x.port(),
        resources: resources_to(&x.resources()),
        attributes: x.attributes().iter().map(attribute_to).collect(),
    }
}

pub fn status_to(x: &dyn h::StatusView) -> wh::TaskStatus {
    wh::TaskStatus {
        task_id: x.task_id().into_owned(),
        state: x.state().into_owned(),
        executor_id: x.executor_id().map(Cow::into_owned),
        message: x.message().map(Cow::into_owned),
        reason: x.reason().map(Cow::into_owned),
        source: x.source().map(Cow::into_owned),
        labels: labels_to(&x.labels()),
        container_status: x.container_status().map(|c| container_status_to(&c)),
    }
}

pub fn container_status_to(c: &h::ContainerStatus) -> wh::ContainerStatus {
    wh::ContainerStatus {
        container_id: c.container_id.clone(),
        executor_pid: c.executor_pid,
        ip_addresses: c.ip_addresses.clone(),
    }
}

pub fn container_status_from(c: wh::ContainerStatus) -> h::ContainerStatus {
    h::ContainerStatus {
        container_id: c.container_id,
        executor_pid: c.executor_pid,
        ip_addresses: c.ip_addresses,
    }
}

pub fn status_from(x: wh::TaskStatus) -> h::TaskStatus {
    h::TaskStatus {
        task_id: x.task_id,
        state: x.state,
        executor_id: x.executor_id,
        message: x.message,
        reason: x.reason,
        source: x.source,
        labels: labels_from(x.labels),
        container_status: x.container_status.map(container_status_from),
    }
}

pub fn statistics_to(x: &i::ResourceStatistics) -> w::ResourceStatistics {
    w::ResourceStatistics {
        timestamp: x.timestamp,
        processes: x.processes,
        threads: x.threads,
        cpus_user_time_secs: x.cpus_user_time_secs,
        cpus_system_time_secs: x.cpus_system_time_secs,
        cpus_limit: x.cpus_limit,
        cpus_nr_periods: x.cpus_nr_periods,
        cpus_nr_throttled: x.cpus_nr_throttled,
        cpus_throttled_time_secs: x.cpus_throttled_time_secs,
        mem_total_bytes: x.mem_total_bytes,
        mem_limit_bytes: x.mem_limit_bytes,
        mem_rss_bytes: x.mem_rss_bytes,
        mem_cache_bytes: x.mem_cache_bytes,
        mem_swap_bytes: x.mem_swap_bytes,
        disk_limit_bytes: x.disk_limit_bytes,
        disk_used_bytes: x.disk_used_bytes,
    }
}

pub fn statistics_from(x: w::ResourceStatistics) -> i::ResourceStatistics {
    i::ResourceStatistics {
        timestamp: x.timestamp,
        processes: x.processes,
        threads: x.threads,
        cpus_user_time_secs: x.cpus_user_time_secs,
        cpus_system_time_secs: x.cpus_system_time_secs,
        cpus_limit: x.cpus_limit,
        cpus_nr_periods: x.cpus_nr_periods,
        cpus_nr_throttled: x.cpus_nr_throttled,
        cpus_throttled_time_secs: x.cpus_throttled_time_secs,
        mem_total_bytes: x.mem_total_bytes,
        mem_limit_bytes: x.mem_limit_bytes,
        mem_rss_bytes: x.mem_rss_bytes,
        mem_cache_bytes: x.mem_cache_bytes,
        mem_swap_bytes: x.mem_swap_bytes,
        disk_limit_bytes: x.disk_limit_bytes,
        disk_used_bytes: x.disk_used_bytes,
    }
}

pub fn usage_to(x: &o::ResourceUsage) -> w::ResourceUsage {
    w::ResourceUsage {
        executors: x
            .executors
            .iter()
            .map(|e| w::ExecutorUsage {
                container: e.container,
                framework_id: e.framework_id.clone(),
                executor_id: e.executor_id.clone(),
                allocated: resources_to(&e.allocated),
                statistics: e.statistics.as_ref().map(statistics_to),
                revocable: e.revocable,
            })
            .collect(),
        total: resources_to(&x.total),
        load: w::LoadAverage {
            one: x.load.one,
            five: x.load.five,
            fifteen: x.load.fifteen,
        },
    }
}

// --- authorizer (`meseta:authorizer@0.1.0`) ---

use crate::authorizer::exports::meseta::authorizer::authorizer_api as wa;
use meseta_types::authorization as az;

pub fn action_to(x: az::Action) -> wa::Action {
    use az::Action as A;
    use wa::Action as W;
    match x {
        A::RegisterFramework => W::RegisterFramework,
        A::RunTask => W::RunTask,
        A::TeardownFramework => W::TeardownFramework,
        A::UpdateWeight => W::UpdateWeight,
        A::UpdateQuota => W::UpdateQuota,
        A::GetQuota => W::GetQuota,
        A::ViewRole => W::ViewRole,
        A::GetEndpoint => W::GetEndpoint,
        A::ViewFramework => W::ViewFramework,
        A::ViewTask => W::ViewTask,
        A::ViewExecutor => W::ViewExecutor,
        A::ViewFlags => W::ViewFlags,
        A::AccessSandbox => W::AccessSandbox,
        A::RegisterAgent => W::RegisterAgent,
        A::MarkAgentGone => W::MarkAgentGone,
        A::ReserveResources => W::ReserveResources,
        A::UnreserveResources => W::UnreserveResources,
        A::CreateVolume => W::CreateVolume,
        A::DestroyVolume => W::DestroyVolume,
    }
}

pub fn action_from(x: wa::Action) -> az::Action {
    use az::Action as A;
    use wa::Action as W;
    match x {
        W::RegisterFramework => A::RegisterFramework,
        W::RunTask => A::RunTask,
        W::TeardownFramework => A::TeardownFramework,
        W::UpdateWeight => A::UpdateWeight,
        W::UpdateQuota => A::UpdateQuota,
        W::GetQuota => A::GetQuota,
        W::ViewRole => A::ViewRole,
        W::GetEndpoint => A::GetEndpoint,
        W::ViewFramework => A::ViewFramework,
        W::ViewTask => A::ViewTask,
        W::ViewExecutor => A::ViewExecutor,
        W::ViewFlags => A::ViewFlags,
        W::AccessSandbox => A::AccessSandbox,
        W::RegisterAgent => A::RegisterAgent,
        W::MarkAgentGone => A::MarkAgentGone,
        W::ReserveResources => A::ReserveResources,
        W::UnreserveResources => A::UnreserveResources,
        W::CreateVolume => A::CreateVolume,
        W::DestroyVolume => A::DestroyVolume,
    }
}

pub fn authz_object_to(x: &az::Object) -> wa::Object {
    wa::Object {
        value: x.value.clone(),
        framework_id: x.framework_id.clone(),
        framework_name: x.framework_name.clone(),
        framework_principal: x.framework_principal.clone(),
        role: x.role.clone(),
        user: x.user.clone(),
        task_id: x.task_id.clone(),
        executor_id: x.executor_id.clone(),
        agent_id: x.agent_id.clone(),
    }
}

pub fn authz_request_to(x: &az::Request) -> wa::Request {
    wa::Request {
        subject: x.subject.clone(),
        action: action_to(x.action),
        object: authz_object_to(&x.object),
    }
}

pub fn authz_request_from(x: wa::Request) -> az::Request {
    az::Request {
        subject: x.subject,
        action: action_from(x.action),
        object: az::Object {
            value: x.object.value,
            framework_id: x.object.framework_id,
            framework_name: x.object.framework_name,
            framework_principal: x.object.framework_principal,
            role: x.object.role,
            user: x.object.user,
            task_id: x.object.task_id,
            executor_id: x.object.executor_id,
            agent_id: x.object.agent_id,
        },
    }
}
