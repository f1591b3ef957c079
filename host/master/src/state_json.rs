//! The cluster's state in Mesos' JSON shapes, rendered straight from the core's records: the v0
//! objects of `/master/state` (and its framework, agent and task objects, which the smaller
//! endpoints reuse) and the v1 objects of `GET_STATE` and the operator stream's SUBSCRIBED.
//!
//! Each shape is a borrowing `Serialize` type, so a 40 MB state of 100,000 tasks is written into
//! one buffer without an intermediate `serde_json::Value` per task (building and dropping those
//! trees cost 6x the goal of issue 21, most of it in the allocator zeroing fresh pages). What
//! the requesting principal may not see is skipped while rendering, asked of its [`Approver`].

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use meseta_api::common::{AgentID, FrameworkID};
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::allocator::AllocatorView;
use crate::core::{Agent, Core, Framework, Task};
use crate::resources::ResourceSet;
use crate::security::Approver;
use crate::server::MESOS_VERSION;

/// `/master/state` as compact ASCII JSON.
pub fn state(
    core: &Core,
    allocator: &AllocatorView,
    approver: &Approver,
) -> Result<Vec<u8>, serde_json::Error> {
    ascii(
        &State {
            core,
            allocator,
            approver,
        },
        core.frameworks.len() * 4096 + core.agents.len() * 2048,
    )
}

/// The operator API's answer to `GET_STATE`: `{"type": "GET_STATE", "get_state": {...}}`.
pub fn get_state_answer(core: &Core, approver: &Approver) -> Result<Vec<u8>, serde_json::Error> {
    let payload = GetState { core, approver };
    ascii(&Tagged("GET_STATE", "get_state", &payload), size_hint(core))
}

/// The operator stream's first record: SUBSCRIBED with the state `approver` may see, framed.
pub fn subscribed(
    core: &Core,
    approver: &Approver,
    heartbeat: Duration,
) -> Result<Vec<u8>, serde_json::Error> {
    struct Subscribed<'a> {
        state: GetState<'a>,
        heartbeat: f64,
    }
    impl Serialize for Subscribed<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut m = s.serialize_map(None)?;
            m.serialize_entry("get_state", &self.state)?;
            m.serialize_entry("heartbeat_interval_seconds", &self.heartbeat)?;
            m.end()
        }
    }
    let payload = Subscribed {
        state: GetState { core, approver },
        heartbeat: heartbeat.as_secs_f64(),
    };
    let data = ascii(
        &Tagged("SUBSCRIBED", "subscribed", &payload),
        size_hint(core),
    )?;
    Ok(meseta_api::recordio::frame(&data))
}

fn size_hint(core: &Core) -> usize {
    let tasks: usize = core.frameworks.values().map(|f| f.tasks.len()).sum();
    tasks * 512 + core.agents.len() * 1024
}

fn ascii<T: Serialize>(value: &T, capacity: usize) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(capacity.min(1 << 30));
    let mut ser =
        serde_json::Serializer::with_formatter(&mut out, meseta_api::recordio::AsciiFormatter);
    value.serialize(&mut ser)?;
    Ok(out)
}

/// `{"type": kind, key: payload}`.
pub struct Tagged<'a, T>(pub &'a str, pub &'a str, pub &'a T);

impl<T: Serialize> Serialize for Tagged<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("type", self.0)?;
        m.serialize_entry(self.1, self.2)?;
        m.end()
    }
}

/// A list rendered from an iterator made on demand.
struct List<F>(F);

impl<F, I> Serialize for List<F>
where
    F: Fn() -> I,
    I: Iterator,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq((self.0)())
    }
}

fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Mesos' v0 resources object: `{"cpus": 4, "mem": 1024, "ports": "[31000-32000]"}`.
pub struct Resources<'a>(pub &'a ResourceSet);

impl Serialize for Resources<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        const ALWAYS: [&str; 4] = ["cpus", "mem", "disk", "gpus"];
        let set = self.0;
        let mut m = s.serialize_map(None)?;
        for name in ALWAYS {
            m.serialize_entry(name, &round(set.scalar(name)))?;
        }
        let mut others: BTreeMap<&str, f64> = BTreeMap::new();
        for ((name, f), v) in &set.scalars {
            if !f.revocable && !ALWAYS.contains(&name.as_str()) {
                *others.entry(name).or_default() += v;
            }
        }
        for (name, v) in others {
            m.serialize_entry(name, &round(v))?;
        }
        let mut ranges: BTreeMap<&str, crate::resources::Ranges> = BTreeMap::new();
        for ((name, _), rs) in &set.ranges {
            let merged = ranges.entry(name).or_default();
            for x in rs.as_slice() {
                merged.add(*x);
            }
        }
        for (name, rs) in ranges {
            m.serialize_entry(name, &crate::operator::ranges_text(rs.as_slice()))?;
        }
        m.end()
    }
}

/// Resources in the v1 shape (a list of `Resource`).
struct Wire<'a>(&'a ResourceSet);

impl Serialize for Wire<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        meseta_api::convert::resources_to_wire(&self.0.to_resources()).serialize(s)
    }
}

/// `{"value": ...}`.
struct Id<'a>(&'a str);

impl Serialize for Id<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry("value", self.0)?;
        m.end()
    }
}

/// Mesos' `TimeInfo` for a wall-clock time in seconds.
struct TimeInfo(f64);

impl Serialize for TimeInfo {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry("nanoseconds", &((self.0 * 1e9) as i64))?;
        m.end()
    }
}

// v0 ----------------------------------------------------------------------------------------

/// A task as `/master/state` and `/master/tasks` show it.
pub struct V0Task<'a>(pub &'a Task);

impl Serialize for V0Task<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Status(meseta_api::common::TaskState, f64);
        impl Serialize for Status {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("state", self.0.as_str())?;
                m.serialize_entry("timestamp", &self.1)?;
                m.end()
            }
        }
        let t = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &t.info.task_id.value)?;
        m.serialize_entry("name", &t.info.name)?;
        m.serialize_entry("framework_id", &t.framework_id)?;
        m.serialize_entry("executor_id", t.executor_id.as_deref().unwrap_or_default())?;
        m.serialize_entry("slave_id", &t.agent_id)?;
        m.serialize_entry("agent_id", &t.agent_id)?;
        m.serialize_entry("state", t.state.as_str())?;
        m.serialize_entry("role", &t.role)?;
        m.serialize_entry("resources", &Resources(&t.resources))?;
        m.serialize_entry(
            "statuses",
            &List(|| t.statuses.iter().map(|(state, ts)| Status(*state, *ts))),
        )?;
        if let Some(labels) = &t.info.labels {
            m.serialize_entry("labels", &labels.labels)?;
        }
        if let Some(message) = t.last_status.as_ref().and_then(|s| s.message.as_ref()) {
            m.serialize_entry("message", message)?;
        }
        m.end()
    }
}

/// The resources `f`'s tasks and custom executors hold.
pub fn used_by(f: &Framework) -> ResourceSet {
    let mut used = ResourceSet::default();
    for t in f.tasks.values() {
        used.add(&t.resources);
    }
    for (_, r) in f.executors.values() {
        used.add(r);
    }
    used
}

/// A framework as `/master/state` and `/master/frameworks` show it, with the tasks and
/// executors `approver` may see.
pub struct V0Framework<'a> {
    pub core: &'a Core,
    pub framework: &'a Framework,
    pub approver: &'a Approver,
}

impl Serialize for V0Framework<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Offer<'a>(&'a crate::core::OfferEntry);
        impl Serialize for Offer<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                struct Allocation<'a>(&'a str);
                impl Serialize for Allocation<'_> {
                    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                        let mut m = s.serialize_map(Some(1))?;
                        m.serialize_entry("role", self.0)?;
                        m.end()
                    }
                }
                let o = self.0;
                let mut m = s.serialize_map(None)?;
                m.serialize_entry("id", &o.id)?;
                m.serialize_entry("framework_id", &o.framework_id)?;
                m.serialize_entry("slave_id", &o.agent_id)?;
                m.serialize_entry("agent_id", &o.agent_id)?;
                m.serialize_entry("resources", &Resources(&o.resources))?;
                m.serialize_entry("allocation_info", &Allocation(&o.role))?;
                m.end()
            }
        }
        struct Executor<'a> {
            framework: &'a str,
            agent: &'a str,
            id: &'a str,
            info: &'a meseta_api::common::ExecutorInfo,
            resources: &'a ResourceSet,
        }
        impl Serialize for Executor<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(None)?;
                m.serialize_entry("executor_id", self.id)?;
                m.serialize_entry("name", self.info.name.as_deref().unwrap_or_default())?;
                m.serialize_entry("framework_id", self.framework)?;
                m.serialize_entry("slave_id", self.agent)?;
                m.serialize_entry("agent_id", self.agent)?;
                m.serialize_entry("resources", &Resources(self.resources))?;
                m.end()
            }
        }
        let (core, f, approver) = (self.core, self.framework, self.approver);
        let offers: Vec<&crate::core::OfferEntry> = f
            .offers
            .iter()
            .filter_map(|id| core.offers.get(id))
            .collect();
        let mut offered = ResourceSet::default();
        for o in &offers {
            offered.add(&o.resources);
        }
        let used = used_by(f);
        let mut total = used.clone();
        total.add(&offered);
        let visible = |t: &&Task| approver.everything() || approver.task_of(f, t);
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &f.id)?;
        m.serialize_entry("name", &f.info.name)?;
        m.serialize_entry("pid", &())?;
        m.serialize_entry("user", &f.info.user)?;
        m.serialize_entry("hostname", f.info.hostname.as_deref().unwrap_or_default())?;
        m.serialize_entry("webui_url", f.info.webui_url.as_deref().unwrap_or_default())?;
        m.serialize_entry("principal", &f.info.principal)?;
        m.serialize_entry("role", f.roles.first().map_or("*", String::as_str))?;
        m.serialize_entry("roles", &f.roles)?;
        m.serialize_entry(
            "capabilities",
            &List(|| f.info.capabilities.iter().map(|c| c.kind.as_str())),
        )?;
        m.serialize_entry("failover_timeout", &f.info.failover_timeout.unwrap_or(0.0))?;
        m.serialize_entry("checkpoint", &f.info.checkpoint)?;
        m.serialize_entry("active", &f.active)?;
        m.serialize_entry("connected", &f.connected())?;
        m.serialize_entry("recovered", &false)?;
        m.serialize_entry("registered_time", &f.registered_time)?;
        m.serialize_entry(
            "reregistered_time",
            &f.reregistered_time.unwrap_or(f.registered_time),
        )?;
        m.serialize_entry("unregistered_time", &f.unregistered_time.unwrap_or(0.0))?;
        m.serialize_entry("suppressed_roles", &f.suppressed)?;
        m.serialize_entry("resources", &Resources(&total))?;
        m.serialize_entry("allocated_resources", &Resources(&used))?;
        m.serialize_entry("used_resources", &Resources(&used))?;
        m.serialize_entry("offered_resources", &Resources(&offered))?;
        m.serialize_entry(
            "tasks",
            &List(|| f.tasks.values().filter(visible).map(V0Task)),
        )?;
        m.serialize_entry(
            "unreachable_tasks",
            &List(|| f.unreachable_tasks.values().filter(visible).map(V0Task)),
        )?;
        m.serialize_entry(
            "completed_tasks",
            &List(|| f.completed_tasks.iter().filter(visible).map(V0Task)),
        )?;
        m.serialize_entry("offers", &List(|| offers.iter().map(|o| Offer(o))))?;
        m.serialize_entry(
            "executors",
            &List(|| {
                f.executors
                    .iter()
                    .filter(|(_, (info, _))| approver.everything() || approver.executor_of(f, info))
                    .map(|((agent, id), (info, resources))| Executor {
                        framework: &f.id,
                        agent,
                        id,
                        info,
                        resources,
                    })
            }),
        )?;
        m.serialize_entry("labels", &f.info.labels.as_ref().map(|l| &l.labels))?;
        m.end()
    }
}

/// What each agent holds, gathered in one pass over the tasks, executors and offers (asking
/// per agent would cost agents x tasks: 10^9 steps for 10,000 agents and 100,000 tasks).
#[derive(Default)]
pub struct AgentUsage<'a> {
    /// Resources of active tasks and custom executors.
    used: HashMap<&'a str, ResourceSet>,
    offered: HashMap<&'a str, ResourceSet>,
    /// Deactivated agents, with their drains.
    drains: Option<&'a BTreeMap<String, meseta_registry::AgentDrainRecord>>,
}

impl<'a> AgentUsage<'a> {
    pub fn of(core: &'a Core) -> AgentUsage<'a> {
        let mut u = AgentUsage::default();
        for f in core.frameworks.values() {
            for t in f.tasks.values() {
                u.used
                    .entry(t.agent_id.as_str())
                    .or_default()
                    .add(&t.resources);
            }
            for ((a, _), (_, r)) in &f.executors {
                u.used.entry(a.as_str()).or_default().add(r);
            }
        }
        for o in core.offers.values() {
            u.offered
                .entry(o.agent_id.as_str())
                .or_default()
                .add(&o.resources);
        }
        u.drains = Some(&core.agent_drains);
        u
    }

    /// The agent's deactivation and drain, when an operator deactivated it.
    pub fn drain(&self, agent_id: &str) -> Option<&'a meseta_registry::AgentDrainRecord> {
        self.drains?.get(agent_id)
    }

    pub fn used(&self, agent_id: &str) -> Option<&ResourceSet> {
        self.used.get(agent_id)
    }

    pub fn offered(&self, agent_id: &str) -> Option<&ResourceSet> {
        self.offered.get(agent_id)
    }
}

/// An agent as `/master/state` and `/master/slaves` show it.
pub struct V0Agent<'a> {
    pub agent: &'a Agent,
    pub usage: &'a AgentUsage<'a>,
}

impl Serialize for V0Agent<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Attributes<'a>(&'a [meseta_api::common::Attribute]);
        impl Serialize for Attributes<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(None)?;
                for a in self.0 {
                    match &a.scalar {
                        Some(v) if a.text.is_none() => m.serialize_entry(&a.name, &v.value)?,
                        _ => m.serialize_entry(&a.name, &crate::operator::attribute_text(a))?,
                    }
                }
                m.end()
            }
        }
        let a = self.agent;
        let none = ResourceSet::default();
        let used = self.usage.used(&a.id).unwrap_or(&none);
        let offered = self.usage.offered(&a.id).unwrap_or(&none);
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &a.id)?;
        m.serialize_entry("pid", &format!("slave(1)@{}", a.endpoint))?;
        m.serialize_entry("hostname", &a.info.hostname)?;
        m.serialize_entry("port", &a.info.port.unwrap_or(5051))?;
        m.serialize_entry("registered_time", &a.registered_time)?;
        m.serialize_entry("reregistered_time", &a.reregistered_time)?;
        m.serialize_entry("resources", &Resources(&a.total))?;
        m.serialize_entry("used_resources", &Resources(used))?;
        m.serialize_entry("offered_resources", &Resources(offered))?;
        let reserved = a.total.by_reservation_role();
        let unreserved = a.total.filter(|f| f.role().is_none());
        let reserved_v0: BTreeMap<&String, Resources> = reserved
            .iter()
            .map(|(r, set)| (r, Resources(set)))
            .collect();
        let reserved_full: BTreeMap<&String, Wire> =
            reserved.iter().map(|(r, set)| (r, Wire(set))).collect();
        m.serialize_entry("reserved_resources", &reserved_v0)?;
        m.serialize_entry("unreserved_resources", &Resources(&unreserved))?;
        m.serialize_entry("unreserved_resources_full", &Wire(&unreserved))?;
        m.serialize_entry("reserved_resources_full", &reserved_full)?;
        m.serialize_entry("attributes", &Attributes(&a.info.attributes))?;
        let drain = self.usage.drain(&a.id);
        m.serialize_entry("active", &true)?;
        m.serialize_entry("deactivated", &drain.is_some())?;
        if let Some(d) = drain.and_then(|d| d.drain.as_ref()) {
            m.serialize_entry("drain_info", &DrainInfo(d))?;
        }
        m.serialize_entry("version", MESOS_VERSION)?;
        m.serialize_entry("meseta_version", &a.version)?;
        m.serialize_entry(
            "capabilities",
            &["MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT"],
        )?;
        m.end()
    }
}

/// The master's flags as one object.
pub struct Flags<'a>(pub &'a [(String, String)]);

impl Serialize for Flags<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

/// The leading master's `MasterInfo` in the v0 shape.
pub struct MasterInfo<'a>(pub &'a Core);

impl Serialize for MasterInfo<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Address<'a>(&'a Core);
        impl Serialize for Address<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(3))?;
                m.serialize_entry("hostname", &self.0.hostname)?;
                m.serialize_entry("ip", &self.0.address.ip().to_string())?;
                m.serialize_entry("port", &self.0.address.port())?;
                m.end()
            }
        }
        let core = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &core.master_id)?;
        m.serialize_entry("pid", &format!("master@{}", core.address))?;
        m.serialize_entry("port", &core.address.port())?;
        m.serialize_entry("hostname", &core.hostname)?;
        m.serialize_entry("version", MESOS_VERSION)?;
        m.serialize_entry("address", &Address(core))?;
        m.end()
    }
}

struct State<'a> {
    core: &'a Core,
    allocator: &'a AllocatorView,
    approver: &'a Approver,
}

impl Serialize for State<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (core, approver) = (self.core, self.approver);
        let usage = AgentUsage::of(core);
        let mut frameworks: Vec<&Framework> = core.frameworks.values().collect();
        frameworks.sort_by(|a, b| a.id.cmp(&b.id));
        let mut agents: Vec<&Agent> = core.agents.values().collect();
        agents.sort_by(|a, b| a.id.cmp(&b.id));
        let visible = |f: &&Framework| approver.everything() || approver.framework(f);
        let v0 = |framework| V0Framework {
            core,
            framework,
            approver,
        };
        let leader = format!("master@{}", core.address);
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("version", MESOS_VERSION)?;
        m.serialize_entry("meseta_version", env!("CARGO_PKG_VERSION"))?;
        m.serialize_entry("id", &core.master_id)?;
        m.serialize_entry("pid", &leader)?;
        m.serialize_entry("hostname", &core.hostname)?;
        m.serialize_entry("start_time", &core.start_time)?;
        m.serialize_entry("elected_time", &core.start_time)?;
        m.serialize_entry("leader", &leader)?;
        m.serialize_entry("leader_info", &MasterInfo(core))?;
        m.serialize_entry("activated_slaves", &core.agents.len())?;
        m.serialize_entry("deactivated_slaves", &core.agent_drains.len())?;
        m.serialize_entry("unreachable_slaves", &core.unreachable_agents.len())?;
        m.serialize_entry("allocator", &self.allocator.name)?;
        if approver.everything() || approver.flags() {
            m.serialize_entry("flags", &Flags(&core.flags))?;
        }
        m.serialize_entry(
            "slaves",
            &List(|| {
                agents.iter().map(|agent| V0Agent {
                    agent,
                    usage: &usage,
                })
            }),
        )?;
        m.serialize_entry("recovered_slaves", &[(); 0])?;
        m.serialize_entry(
            "frameworks",
            &List(|| frameworks.iter().copied().filter(visible).map(v0)),
        )?;
        m.serialize_entry(
            "completed_frameworks",
            &List(|| core.completed_frameworks.iter().filter(visible).map(v0)),
        )?;
        m.serialize_entry("orphan_tasks", &[(); 0])?;
        m.serialize_entry("unregistered_frameworks", &[(); 0])?;
        m.end()
    }
}

// v1 ----------------------------------------------------------------------------------------

/// A task in the v1 operator API's shape (`v1::Task`).
pub struct V1Task<'a>(pub &'a Task);

impl Serialize for V1Task<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = self.0;
        let info = &t.info;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", &info.name)?;
        m.serialize_entry("task_id", &Id(&info.task_id.value))?;
        m.serialize_entry("framework_id", &Id(&t.framework_id))?;
        if let Some(e) = &t.executor_id {
            m.serialize_entry("executor_id", &Id(e))?;
        }
        m.serialize_entry("agent_id", &Id(&t.agent_id))?;
        m.serialize_entry("state", t.state.as_str())?;
        m.serialize_entry("resources", &Wire(&t.resources))?;
        m.serialize_entry("statuses", &List(|| t.last_status.iter()))?;
        // Only the fields the v1 `Task` carries (the whole `TaskInfo`, command and data
        // included, would cost several times more for 100,000 tasks).
        if let Some(v) = &info.labels {
            m.serialize_entry("labels", v)?;
        }
        if let Some(v) = &info.discovery {
            m.serialize_entry("discovery", v)?;
        }
        if let Some(v) = &info.container {
            m.serialize_entry("container", v)?;
        }
        if let Some(v) = &info.health_check {
            m.serialize_entry("health_check", v)?;
        }
        if let Some(v) = &info.check {
            m.serialize_entry("check", v)?;
        }
        if let Some(v) = &info.kill_policy {
            m.serialize_entry("kill_policy", v)?;
        }
        m.end()
    }
}

/// A framework in the v1 operator API's shape.
pub struct V1Framework<'a> {
    pub core: &'a Core,
    pub framework: &'a Framework,
}

impl Serialize for V1Framework<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let f = self.framework;
        let mut info = f.info.clone();
        info.id = Some(FrameworkID::new(&f.id));
        let mut allocated = ResourceSet::default();
        for t in f.tasks.values() {
            allocated.add(&t.resources);
        }
        let mut offered = ResourceSet::default();
        for o in f.offers.iter().filter_map(|o| self.core.offers.get(o)) {
            offered.add(&o.resources);
        }
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("framework_info", &info)?;
        m.serialize_entry("active", &f.active)?;
        m.serialize_entry("connected", &f.connected())?;
        m.serialize_entry("recovered", &f.recovered)?;
        m.serialize_entry("registered_time", &TimeInfo(f.registered_time))?;
        if let Some(t) = f.reregistered_time {
            m.serialize_entry("reregistered_time", &TimeInfo(t))?;
        }
        if let Some(t) = f.unregistered_time {
            m.serialize_entry("unregistered_time", &TimeInfo(t))?;
        }
        m.serialize_entry("offers", &[(); 0])?;
        m.serialize_entry("allocated_resources", &Wire(&allocated))?;
        m.serialize_entry("offered_resources", &Wire(&offered))?;
        m.end()
    }
}

/// An agent in the v1 operator API's shape.
pub struct V1Agent<'a> {
    pub agent: &'a Agent,
    pub offered: &'a ResourceSet,
    pub drain: Option<&'a meseta_registry::AgentDrainRecord>,
}

/// `DrainInfo`: `{"state": "DRAINING", "config": {"max_grace_period": {...}, "mark_gone": b}}`.
struct DrainInfo<'a>(&'a meseta_registry::DrainRecord);

impl Serialize for DrainInfo<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.0;
        let mut config = serde_json::Map::new();
        if let Some(g) = d.max_grace_period {
            config.insert(
                "max_grace_period".into(),
                serde_json::json!({ "nanoseconds": (g * 1e9) as i64 }),
            );
        }
        config.insert("mark_gone".into(), serde_json::json!(d.mark_gone));
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("state", &d.state)?;
        m.serialize_entry("config", &config)?;
        m.end()
    }
}

impl Serialize for V1Agent<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let a = self.agent;
        let mut info = a.info.clone();
        info.id = Some(AgentID::new(&a.id));
        let host = a
            .endpoint
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or_default();
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("agent_info", &info)?;
        m.serialize_entry("active", &true)?;
        m.serialize_entry("deactivated", &self.drain.is_some())?;
        if let Some(d) = self.drain.and_then(|d| d.drain.as_ref()) {
            m.serialize_entry("drain_info", &DrainInfo(d))?;
        }
        m.serialize_entry("version", a.version.as_deref().unwrap_or(MESOS_VERSION))?;
        m.serialize_entry("pid", &format!("slave(1)@{host}"))?;
        m.serialize_entry("registered_time", &TimeInfo(a.registered_time))?;
        if let Some(t) = a.reregistered_time {
            m.serialize_entry("reregistered_time", &TimeInfo(t))?;
        }
        m.serialize_entry("total_resources", &Wire(&a.total))?;
        m.serialize_entry("allocated_resources", &Wire(&a.allocated))?;
        m.serialize_entry("offered_resources", &Wire(self.offered))?;
        m.serialize_entry("capabilities", &[(); 0])?;
        m.end()
    }
}

/// Frameworks, active then completed, sorted by id within each.
fn frameworks_by_id(core: &Core) -> (Vec<&Framework>, Vec<&Framework>) {
    let mut active: Vec<&Framework> = core.frameworks.values().collect();
    active.sort_by(|a, b| a.id.cmp(&b.id));
    (active, core.completed_frameworks.iter().collect())
}

/// `GET_TASKS`' payload.
pub struct GetTasks<'a> {
    pub core: &'a Core,
    pub approver: &'a Approver,
}

impl Serialize for GetTasks<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let approver = self.approver;
        let (active, completed) = frameworks_by_id(self.core);
        let mut all: Vec<&Framework> = active.into_iter().chain(completed).collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all.retain(|f| approver.everything() || approver.framework(f));
        let tasks = |pick: fn(&Framework) -> Box<dyn Iterator<Item = &Task> + '_>| {
            let all = &all;
            List(move || {
                all.iter().flat_map(move |f| {
                    pick(f)
                        .filter(move |t| approver.everything() || approver.task_of(f, t))
                        .map(V1Task)
                })
            })
        };
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("tasks", &tasks(|f| Box::new(f.tasks.values())))?;
        m.serialize_entry(
            "unreachable_tasks",
            &tasks(|f| Box::new(f.unreachable_tasks.values())),
        )?;
        m.serialize_entry(
            "completed_tasks",
            &tasks(|f| Box::new(f.completed_tasks.iter())),
        )?;
        m.end()
    }
}

/// `GET_EXECUTORS`' payload: the custom executors.
pub struct GetExecutors<'a> {
    pub core: &'a Core,
    pub approver: &'a Approver,
}

impl Serialize for GetExecutors<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Executor<'a> {
            agent: &'a str,
            info: &'a meseta_api::common::ExecutorInfo,
        }
        impl Serialize for Executor<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("executor_info", self.info)?;
                m.serialize_entry("agent_id", &Id(self.agent))?;
                m.end()
            }
        }
        let approver = self.approver;
        let executors = List(|| {
            self.core
                .frameworks
                .values()
                .filter(|f| approver.everything() || approver.framework(f))
                .flat_map(move |f| {
                    f.executors
                        .iter()
                        .filter(move |(_, (info, _))| {
                            approver.everything() || approver.executor_of(f, info)
                        })
                        .map(|((agent, _), (info, _))| Executor { agent, info })
                })
        });
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry("executors", &executors)?;
        m.end()
    }
}

/// `GET_FRAMEWORKS`' payload.
pub struct GetFrameworks<'a> {
    pub core: &'a Core,
    pub approver: &'a Approver,
}

impl<'a> Serialize for GetFrameworks<'a> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (core, approver) = (self.core, self.approver);
        let (active, completed) = frameworks_by_id(core);
        let list = |fs: Vec<&'a Framework>| {
            fs.into_iter()
                .filter(|f| approver.everything() || approver.framework(f))
                .map(|framework| V1Framework { core, framework })
                .collect::<Vec<_>>()
        };
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("frameworks", &list(active))?;
        m.serialize_entry("completed_frameworks", &list(completed))?;
        m.end()
    }
}

/// `GET_AGENTS`' payload.
pub struct GetAgents<'a>(pub &'a Core);

impl Serialize for GetAgents<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let core = self.0;
        let mut agents: Vec<&Agent> = core.agents.values().collect();
        agents.sort_by(|a, b| a.id.cmp(&b.id));
        let usage = AgentUsage::of(core);
        let none = ResourceSet::default();
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry(
            "agents",
            &List(|| {
                agents.iter().map(|agent| V1Agent {
                    agent,
                    offered: usage.offered(&agent.id).unwrap_or(&none),
                    drain: usage.drain(&agent.id),
                })
            }),
        )?;
        m.serialize_entry(
            "recovered_agents",
            &List(|| {
                core.recovered_agents.iter().map(|(agent_id, r)| {
                    let mut info = r.info.clone();
                    info.id = Some(AgentID::new(agent_id));
                    info
                })
            }),
        )?;
        m.end()
    }
}

/// `GET_STATE`'s payload.
pub struct GetState<'a> {
    pub core: &'a Core,
    pub approver: &'a Approver,
}

impl Serialize for GetState<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (core, approver) = (self.core, self.approver);
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("get_tasks", &GetTasks { core, approver })?;
        m.serialize_entry("get_executors", &GetExecutors { core, approver })?;
        m.serialize_entry("get_frameworks", &GetFrameworks { core, approver })?;
        m.serialize_entry("get_agents", &GetAgents(core))?;
        m.end()
    }
}
