//! Conversions between the WIT bindings of the shared interfaces (`types`, `hook-types`) and the
//! plain-Rust [`meseta_types`] model. The world modules add their own.

use crate::wit::meseta::modules::hook_types as wh;
use crate::wit::meseta::modules::types as wt;
use meseta_types::hooks as h;
use meseta_types::isolation as iso;
use meseta_types::oversubscription as os;
use meseta_types::resources as r;

/// Converts every element of a list.
pub(crate) fn all<A, B: From<A>>(items: Vec<A>) -> Vec<B> {
    items.into_iter().map(B::from).collect()
}

impl From<wt::ValueRange> for r::ValueRange {
    fn from(v: wt::ValueRange) -> Self {
        r::ValueRange {
            begin: v.begin,
            end: v.end,
        }
    }
}

impl From<r::ValueRange> for wt::ValueRange {
    fn from(v: r::ValueRange) -> Self {
        wt::ValueRange {
            begin: v.begin,
            end: v.end,
        }
    }
}

impl From<wt::ResourceValue> for r::ResourceValue {
    fn from(v: wt::ResourceValue) -> Self {
        match v {
            wt::ResourceValue::Scalar(x) => r::ResourceValue::Scalar(x),
            wt::ResourceValue::Ranges(x) => r::ResourceValue::Ranges(all(x)),
            wt::ResourceValue::Set(x) => r::ResourceValue::Set(x),
        }
    }
}

impl From<r::ResourceValue> for wt::ResourceValue {
    fn from(v: r::ResourceValue) -> Self {
        match v {
            r::ResourceValue::Scalar(x) => wt::ResourceValue::Scalar(x),
            r::ResourceValue::Ranges(x) => wt::ResourceValue::Ranges(all(x)),
            r::ResourceValue::Set(x) => wt::ResourceValue::Set(x),
        }
    }
}

impl From<wt::Resource> for r::Resource {
    fn from(v: wt::Resource) -> Self {
        r::Resource {
            reservations: Vec::new(),
            disk: None,
            name: v.name,
            value: v.value.into(),
            role: v.role,
            revocable: v.revocable,
        }
    }
}

impl From<r::Resource> for wt::Resource {
    fn from(v: r::Resource) -> Self {
        wt::Resource {
            name: v.name,
            value: v.value.into(),
            role: v.role,
            revocable: v.revocable,
        }
    }
}

impl From<wt::AttributeValue> for r::AttributeValue {
    fn from(v: wt::AttributeValue) -> Self {
        match v {
            wt::AttributeValue::Scalar(x) => r::AttributeValue::Scalar(x),
            wt::AttributeValue::Ranges(x) => r::AttributeValue::Ranges(all(x)),
            wt::AttributeValue::Set(x) => r::AttributeValue::Set(x),
            wt::AttributeValue::Text(x) => r::AttributeValue::Text(x),
        }
    }
}

impl From<r::AttributeValue> for wt::AttributeValue {
    fn from(v: r::AttributeValue) -> Self {
        match v {
            r::AttributeValue::Scalar(x) => wt::AttributeValue::Scalar(x),
            r::AttributeValue::Ranges(x) => wt::AttributeValue::Ranges(all(x)),
            r::AttributeValue::Set(x) => wt::AttributeValue::Set(x),
            r::AttributeValue::Text(x) => wt::AttributeValue::Text(x),
        }
    }
}

impl From<wt::Attribute> for r::Attribute {
    fn from(v: wt::Attribute) -> Self {
        r::Attribute {
            name: v.name,
            value: v.value.into(),
        }
    }
}

impl From<r::Attribute> for wt::Attribute {
    fn from(v: r::Attribute) -> Self {
        wt::Attribute {
            name: v.name,
            value: v.value.into(),
        }
    }
}

impl From<wt::Label> for r::Label {
    fn from(v: wt::Label) -> Self {
        r::Label {
            key: v.key,
            value: v.value,
        }
    }
}

impl From<r::Label> for wt::Label {
    fn from(v: r::Label) -> Self {
        wt::Label {
            key: v.key,
            value: v.value,
        }
    }
}

impl From<wt::EnvVar> for r::EnvVar {
    fn from(v: wt::EnvVar) -> Self {
        r::EnvVar {
            name: v.name,
            value: v.value,
        }
    }
}

impl From<r::EnvVar> for wt::EnvVar {
    fn from(v: r::EnvVar) -> Self {
        wt::EnvVar {
            name: v.name,
            value: v.value,
        }
    }
}

impl From<wt::ResourceStatistics> for iso::ResourceStatistics {
    fn from(v: wt::ResourceStatistics) -> Self {
        iso::ResourceStatistics {
            timestamp: v.timestamp,
            processes: v.processes,
            threads: v.threads,
            cpus_user_time_secs: v.cpus_user_time_secs,
            cpus_system_time_secs: v.cpus_system_time_secs,
            cpus_limit: v.cpus_limit,
            cpus_nr_periods: v.cpus_nr_periods,
            cpus_nr_throttled: v.cpus_nr_throttled,
            cpus_throttled_time_secs: v.cpus_throttled_time_secs,
            mem_total_bytes: v.mem_total_bytes,
            mem_limit_bytes: v.mem_limit_bytes,
            mem_rss_bytes: v.mem_rss_bytes,
            mem_cache_bytes: v.mem_cache_bytes,
            mem_swap_bytes: v.mem_swap_bytes,
            disk_limit_bytes: v.disk_limit_bytes,
            disk_used_bytes: v.disk_used_bytes,
        }
    }
}

impl From<iso::ResourceStatistics> for wt::ResourceStatistics {
    fn from(v: iso::ResourceStatistics) -> Self {
        wt::ResourceStatistics {
            timestamp: v.timestamp,
            processes: v.processes,
            threads: v.threads,
            cpus_user_time_secs: v.cpus_user_time_secs,
            cpus_system_time_secs: v.cpus_system_time_secs,
            cpus_limit: v.cpus_limit,
            cpus_nr_periods: v.cpus_nr_periods,
            cpus_nr_throttled: v.cpus_nr_throttled,
            cpus_throttled_time_secs: v.cpus_throttled_time_secs,
            mem_total_bytes: v.mem_total_bytes,
            mem_limit_bytes: v.mem_limit_bytes,
            mem_rss_bytes: v.mem_rss_bytes,
            mem_cache_bytes: v.mem_cache_bytes,
            mem_swap_bytes: v.mem_swap_bytes,
            disk_limit_bytes: v.disk_limit_bytes,
            disk_used_bytes: v.disk_used_bytes,
        }
    }
}

impl From<wt::ExecutorUsage> for os::ExecutorUsage {
    fn from(v: wt::ExecutorUsage) -> Self {
        os::ExecutorUsage {
            container: v.container,
            framework_id: v.framework_id,
            executor_id: v.executor_id,
            allocated: all(v.allocated),
            statistics: v.statistics.map(Into::into),
            revocable: v.revocable,
        }
    }
}

impl From<wt::LoadAverage> for os::LoadAverage {
    fn from(v: wt::LoadAverage) -> Self {
        os::LoadAverage {
            one: v.one,
            five: v.five,
            fifteen: v.fifteen,
        }
    }
}

impl From<wt::ResourceUsage> for os::ResourceUsage {
    fn from(v: wt::ResourceUsage) -> Self {
        os::ResourceUsage {
            executors: all(v.executors),
            total: all(v.total),
            load: v.load.into(),
        }
    }
}

impl From<wh::CommandInfo> for h::CommandInfo {
    fn from(v: wh::CommandInfo) -> Self {
        h::CommandInfo {
            shell: v.shell,
            value: v.value,
            arguments: v.arguments,
            environment: all(v.environment),
            user: v.user,
        }
    }
}

impl From<wh::TaskInfo> for h::TaskInfo {
    fn from(v: wh::TaskInfo) -> Self {
        h::TaskInfo {
            task_id: v.task_id,
            name: v.name,
            agent_id: v.agent_id,
            resources: all(v.resources),
            labels: all(v.labels),
            command: v.command.map(Into::into),
            executor_id: v.executor_id,
        }
    }
}

impl From<wh::ExecutorInfo> for h::ExecutorInfo {
    fn from(v: wh::ExecutorInfo) -> Self {
        h::ExecutorInfo {
            executor_id: v.executor_id,
            framework_id: v.framework_id,
            name: v.name,
            command: v.command.map(Into::into),
            resources: all(v.resources),
            labels: all(v.labels),
        }
    }
}

impl From<wh::FrameworkInfo> for h::FrameworkInfo {
    fn from(v: wh::FrameworkInfo) -> Self {
        h::FrameworkInfo {
            framework_id: v.framework_id,
            name: v.name,
            user: v.user,
            roles: v.roles,
        }
    }
}

impl From<wh::AgentInfo> for h::AgentInfo {
    fn from(v: wh::AgentInfo) -> Self {
        h::AgentInfo {
            agent_id: v.agent_id,
            hostname: v.hostname,
            port: v.port,
            resources: all(v.resources),
            attributes: all(v.attributes),
        }
    }
}

impl From<wh::ContainerStatus> for h::ContainerStatus {
    fn from(v: wh::ContainerStatus) -> Self {
        h::ContainerStatus {
            container_id: v.container_id,
            executor_pid: v.executor_pid,
            ip_addresses: v.ip_addresses,
        }
    }
}

impl From<h::ContainerStatus> for wh::ContainerStatus {
    fn from(v: h::ContainerStatus) -> Self {
        wh::ContainerStatus {
            container_id: v.container_id,
            executor_pid: v.executor_pid,
            ip_addresses: v.ip_addresses,
        }
    }
}

impl From<wh::TaskStatus> for h::TaskStatus {
    fn from(v: wh::TaskStatus) -> Self {
        h::TaskStatus {
            task_id: v.task_id,
            state: v.state,
            executor_id: v.executor_id,
            message: v.message,
            reason: v.reason,
            source: v.source,
            labels: all(v.labels),
            container_status: v.container_status.map(Into::into),
        }
    }
}

impl From<h::TaskStatus> for wh::TaskStatus {
    fn from(v: h::TaskStatus) -> Self {
        wh::TaskStatus {
            task_id: v.task_id,
            state: v.state,
            executor_id: v.executor_id,
            message: v.message,
            reason: v.reason,
            source: v.source,
            labels: all(v.labels),
            container_status: v.container_status.map(Into::into),
        }
    }
}
