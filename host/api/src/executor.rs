//! The v1 executor API (`mesos/v1/executor/executor.proto`): calls executors POST to the agent's
//! `/api/v1/executor` and events the agent streams back.
//!
//! Same conventions as [`crate::scheduler`]: enums on the Rust side, Mesos' flat messages on the
//! wire. Executor events follow Mesos exactly: `SHUTDOWN` and `HEARTBEAT` carry no payload key
//! (the executor proto has no message for them), every other event carries its lower-case key.

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::bytes::Bytes;
use crate::common::{
    AgentInfo, ContainerID, ExecutorID, ExecutorInfo, FrameworkID, FrameworkInfo, KillPolicy,
    TaskGroupInfo, TaskID, TaskInfo, TaskStatus,
};
use crate::lenient::null_as_default;

// ---------------------------------------------------------------------------------------------
// Calls

/// An executor call.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub executor_id: ExecutorID,
    pub framework_id: FrameworkID,
    pub kind: CallKind,
}

/// The call's type and its payload.
#[allow(
    clippy::large_enum_variant,
    reason = "wire messages are built, (de)serialized and dropped; boxing would only cost ergonomics"
)]
#[derive(Clone, Debug, PartialEq)]
pub enum CallKind {
    Subscribe(Subscribe),
    Update(Update),
    Message(Message),
    /// A type this crate does not model, spelled as received.
    Other(String),
}

impl CallKind {
    pub fn type_name(&self) -> &str {
        match self {
            CallKind::Subscribe(_) => "SUBSCRIBE",
            CallKind::Update(_) => "UPDATE",
            CallKind::Message(_) => "MESSAGE",
            CallKind::Other(t) => t,
        }
    }
}

impl Call {
    pub fn type_name(&self) -> &str {
        self.kind.type_name()
    }
}

/// `Call.Subscribe`: what a (re)subscribing executor has not seen acknowledged.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Subscribe {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub unacknowledged_tasks: Vec<TaskInfo>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub unacknowledged_updates: Vec<Update>,
}

/// `Call.Update`. The status usually has no `agent_id`/`executor_id`: the agent fills them in
/// (rule 27). Its `uuid` is the executor's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Update {
    pub status: TaskStatus,
}

/// `Call.Message` and `Event.Message`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    #[serde(default, deserialize_with = "null_as_default")]
    pub data: Bytes,
}

#[derive(Deserialize)]
struct RawCall {
    executor_id: ExecutorID,
    framework_id: FrameworkID,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    subscribe: Option<Subscribe>,
    #[serde(default)]
    update: Option<Update>,
    #[serde(default)]
    message: Option<Message>,
}

fn required<T, E: serde::de::Error>(payload: Option<T>, key: &str) -> Result<T, E> {
    payload.ok_or_else(|| E::custom(format!("Expecting '{key}' to be present")))
}

impl<'de> Deserialize<'de> for Call {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawCall::deserialize(d)?;
        let kind = match raw.kind.as_deref() {
            None => return Err(serde::de::Error::custom("Expecting 'type' to be present")),
            // An empty subscribe payload is a first subscription.
            Some("SUBSCRIBE") => CallKind::Subscribe(raw.subscribe.unwrap_or_default()),
            Some("UPDATE") => CallKind::Update(required(raw.update, "update")?),
            Some("MESSAGE") => CallKind::Message(required(raw.message, "message")?),
            Some(other) => CallKind::Other(other.to_string()),
        };
        Ok(Call {
            executor_id: raw.executor_id,
            framework_id: raw.framework_id,
            kind,
        })
    }
}

impl Serialize for Call {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("executor_id", &self.executor_id)?;
        m.serialize_entry("framework_id", &self.framework_id)?;
        m.serialize_entry("type", self.type_name())?;
        match &self.kind {
            CallKind::Subscribe(p) => m.serialize_entry("subscribe", p)?,
            CallKind::Update(p) => m.serialize_entry("update", p)?,
            CallKind::Message(p) => m.serialize_entry("message", p)?,
            CallKind::Other(_) => {}
        }
        m.end()
    }
}

// ---------------------------------------------------------------------------------------------
// Events

/// An executor event.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Subscribed(Subscribed),
    Launch(Launch),
    LaunchGroup(LaunchGroup),
    Kill(Kill),
    Acknowledged(Acknowledged),
    Message(Message),
    Shutdown,
    Error(ErrorEvent),
    Heartbeat,
    /// A type this crate does not model, as received.
    Other(String),
}

impl Event {
    pub fn type_name(&self) -> &str {
        match self {
            Event::Subscribed(_) => "SUBSCRIBED",
            Event::Launch(_) => "LAUNCH",
            Event::LaunchGroup(_) => "LAUNCH_GROUP",
            Event::Kill(_) => "KILL",
            Event::Acknowledged(_) => "ACKNOWLEDGED",
            Event::Message(_) => "MESSAGE",
            Event::Shutdown => "SHUTDOWN",
            Event::Error(_) => "ERROR",
            Event::Heartbeat => "HEARTBEAT",
            Event::Other(t) => t,
        }
    }
}

/// `Event.Subscribed`. A client compares `executor_info.executor_id` and `framework_info.id`
/// as whole objects with its own `{"value": ...}` (rule 26), which the id types guarantee.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Subscribed {
    pub executor_info: ExecutorInfo,
    pub framework_info: FrameworkInfo,
    pub agent_info: AgentInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<ContainerID>,
}

/// `Event.Launch`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Launch {
    pub task: TaskInfo,
}

/// `Event.LaunchGroup`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LaunchGroup {
    #[serde(default, deserialize_with = "null_as_default")]
    pub task_group: TaskGroupInfo,
}

/// `Event.Kill`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kill {
    pub task_id: TaskID,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_policy: Option<KillPolicy>,
}

/// `Event.Acknowledged`: the scheduler acknowledged the update with this `uuid`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledged {
    pub task_id: TaskID,
    pub uuid: Bytes,
}

/// `Event.Error`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEvent {
    #[serde(default, deserialize_with = "null_as_default")]
    pub message: String,
}

#[derive(Deserialize)]
struct RawEvent {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    subscribed: Option<Subscribed>,
    #[serde(default)]
    launch: Option<Launch>,
    #[serde(default)]
    launch_group: Option<LaunchGroup>,
    #[serde(default)]
    kill: Option<Kill>,
    #[serde(default)]
    acknowledged: Option<Acknowledged>,
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    error: Option<ErrorEvent>,
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawEvent::deserialize(d)?;
        Ok(match raw.kind.as_deref() {
            None => return Err(serde::de::Error::custom("Expecting 'type' to be present")),
            Some("SUBSCRIBED") => Event::Subscribed(required(raw.subscribed, "subscribed")?),
            Some("LAUNCH") => Event::Launch(required(raw.launch, "launch")?),
            Some("LAUNCH_GROUP") => Event::LaunchGroup(required(raw.launch_group, "launch_group")?),
            Some("KILL") => Event::Kill(required(raw.kill, "kill")?),
            Some("ACKNOWLEDGED") => {
                Event::Acknowledged(required(raw.acknowledged, "acknowledged")?)
            }
            Some("MESSAGE") => Event::Message(required(raw.message, "message")?),
            Some("SHUTDOWN") => Event::Shutdown,
            Some("ERROR") => Event::Error(required(raw.error, "error")?),
            Some("HEARTBEAT") => Event::Heartbeat,
            Some(other) => Event::Other(other.to_string()),
        })
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("type", self.type_name())?;
        match self {
            Event::Subscribed(p) => m.serialize_entry("subscribed", p)?,
            Event::Launch(p) => m.serialize_entry("launch", p)?,
            Event::LaunchGroup(p) => m.serialize_entry("launch_group", p)?,
            Event::Kill(p) => m.serialize_entry("kill", p)?,
            Event::Acknowledged(p) => m.serialize_entry("acknowledged", p)?,
            Event::Message(p) => m.serialize_entry("message", p)?,
            Event::Error(p) => m.serialize_entry("error", p)?,
            Event::Shutdown | Event::Heartbeat | Event::Other(_) => {}
        }
        m.end()
    }
}
