//! The v1 scheduler API (`mesos/v1/scheduler/scheduler.proto`): calls frameworks POST to
//! `/api/v1/scheduler` and events the master streams back.
//!
//! [`Call`] and [`Event`] are Rust enums over the call/event type, so a payload cannot go missing
//! or be paired with the wrong type. On the wire they are Mesos' flat messages,
//! `{"framework_id": ..., "type": "ACCEPT", "accept": {...}}` and `{"type": "OFFERS", "offers":
//! {...}}`: every event but `HEARTBEAT` carries its lower-case payload key (rule 12).
//!
//! Decoding follows Mesos' validation: a call whose type needs a payload and lacks it fails with
//! Mesos' message (`Expecting 'accept' to be present`). A call type this crate does not model
//! (`RECONCILE_OPERATIONS`, ...) decodes to [`CallKind::Other`] with its
//! type string, so the master can answer that it is not implemented. Likewise offer operations
//! other than `LAUNCH`, `LAUNCH_GROUP`, `RESERVE`, `UNRESERVE`, `CREATE` and `DESTROY` decode to
//! [`OperationKind::Other`].

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::bytes::Bytes;
use crate::common::{
    AgentID, ExecutorID, ExecutorInfo, Filters, FrameworkID, FrameworkInfo, KillPolicy, MasterInfo,
    Offer, OfferID, OperationID, TaskGroupInfo, TaskID, TaskInfo, TaskStatus, refuse_seconds,
};
use crate::lenient::{null_as_default, string_or_seq};
use crate::maintenance::{InverseOfferReply, InverseOffers, RescindInverseOffer};

// ---------------------------------------------------------------------------------------------
// Calls

/// A scheduler call.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// Required on every call but `SUBSCRIBE` (the master checks that).
    pub framework_id: Option<FrameworkID>,
    pub kind: CallKind,
}

/// The call's type and its payload.
#[derive(Clone, Debug, PartialEq)]
pub enum CallKind {
    Subscribe(Subscribe),
    Teardown,
    Accept(Accept),
    Decline(Decline),
    Revive(Revive),
    Suppress(Suppress),
    Kill(Kill),
    Shutdown(Shutdown),
    Acknowledge(Acknowledge),
    Reconcile(Reconcile),
    Message(Message),
    /// `REQUEST`: its payload is ignored (Mesos only logs it).
    Request,
    UpdateFramework(UpdateFramework),
    AcceptInverseOffers(InverseOfferReply),
    DeclineInverseOffers(InverseOfferReply),
    /// A type this crate does not model, spelled as received.
    Other(String),
}

impl CallKind {
    /// The `type` string.
    pub fn type_name(&self) -> &str {
        match self {
            CallKind::Subscribe(_) => "SUBSCRIBE",
            CallKind::Teardown => "TEARDOWN",
            CallKind::Accept(_) => "ACCEPT",
            CallKind::Decline(_) => "DECLINE",
            CallKind::Revive(_) => "REVIVE",
            CallKind::Suppress(_) => "SUPPRESS",
            CallKind::Kill(_) => "KILL",
            CallKind::Shutdown(_) => "SHUTDOWN",
            CallKind::Acknowledge(_) => "ACKNOWLEDGE",
            CallKind::Reconcile(_) => "RECONCILE",
            CallKind::Message(_) => "MESSAGE",
            CallKind::Request => "REQUEST",
            CallKind::UpdateFramework(_) => "UPDATE_FRAMEWORK",
            CallKind::AcceptInverseOffers(_) => "ACCEPT_INVERSE_OFFERS",
            CallKind::DeclineInverseOffers(_) => "DECLINE_INVERSE_OFFERS",
            CallKind::Other(t) => t,
        }
    }
}

impl Call {
    pub fn new(framework_id: Option<FrameworkID>, kind: CallKind) -> Self {
        Call { framework_id, kind }
    }

    /// The `type` string.
    pub fn type_name(&self) -> &str {
        self.kind.type_name()
    }
}

/// `Call.Subscribe`. `offer_constraints` is not modelled (ignored on input).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Subscribe {
    pub framework_info: FrameworkInfo,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub suppressed_roles: Vec<String>,
}

/// `Call.UpdateFramework`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateFramework {
    pub framework_info: FrameworkInfo,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub suppressed_roles: Vec<String>,
}

/// `Call.Accept`. Offer resources no operation uses are declined with `filters` (5 s when
/// absent, rule 19).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Accept {
    #[serde(default, deserialize_with = "null_as_default")]
    pub offer_ids: Vec<OfferID>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub operations: Vec<Operation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filters>,
}

impl Accept {
    /// Seconds to filter the unused resources for (see [`Filters::effective_refuse_seconds`]).
    pub fn refuse_seconds(&self) -> f64 {
        refuse_seconds(self.filters.as_ref())
    }
}

/// `Call.Decline`: an `ACCEPT` without operations.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Decline {
    #[serde(default, deserialize_with = "null_as_default")]
    pub offer_ids: Vec<OfferID>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filters>,
}

impl Decline {
    /// Seconds to filter the declined resources for: 5 when `filters` is absent or `null`
    /// (rule 20).
    pub fn refuse_seconds(&self) -> f64 {
        refuse_seconds(self.filters.as_ref())
    }
}

/// `Call.Revive`: no roles means every role of the framework. The older singular `role` is read
/// as `roles`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revive {
    #[serde(
        default,
        alias = "role",
        deserialize_with = "string_or_seq",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub roles: Vec<String>,
}

/// `Call.Suppress`: no roles means every role of the framework.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppress {
    #[serde(
        default,
        alias = "role",
        deserialize_with = "string_or_seq",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub roles: Vec<String>,
}

/// `Call.Kill`. `agent_id` may be absent (rule 21).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kill {
    pub task_id: TaskID,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentID>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_policy: Option<KillPolicy>,
}

/// `Call.Shutdown`: shut an executor down.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shutdown {
    pub executor_id: ExecutorID,
    pub agent_id: AgentID,
}

/// `Call.Acknowledge`. `uuid` is the status update's, as received (base64 on the wire); Mesos
/// answers 400 unless it is 16 bytes ([`Bytes::as_uuid`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledge {
    pub agent_id: AgentID,
    pub task_id: TaskID,
    pub uuid: Bytes,
}

/// One task of an explicit `RECONCILE`. `agent_id` may be absent (rule 21).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileTask {
    pub task_id: TaskID,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentID>,
}

/// `Call.Reconcile`: an empty `tasks` asks for every task of the framework (implicit).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconcile {
    #[serde(default, deserialize_with = "null_as_default")]
    pub tasks: Vec<ReconcileTask>,
}

/// `Call.Message` and `Event.Message`: framework message to or from an executor.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub agent_id: AgentID,
    pub executor_id: ExecutorID,
    #[serde(default, deserialize_with = "null_as_default")]
    pub data: Bytes,
}

// Offer operations ----------------------------------------------------------------------------

/// `Offer.Operation`.
#[derive(Clone, Debug, PartialEq)]
pub struct Operation {
    pub id: Option<OperationID>,
    pub kind: OperationKind,
}

/// An operation's type and payload.
#[allow(
    clippy::large_enum_variant,
    reason = "wire messages are built, (de)serialized and dropped; boxing would only cost ergonomics"
)]
#[derive(Clone, Debug, PartialEq)]
pub enum OperationKind {
    Launch(Launch),
    LaunchGroup(LaunchGroup),
    Reserve(Reserve),
    Unreserve(Unreserve),
    Create(Create),
    Destroy(Destroy),
    /// `GROW_VOLUME`, `CREATE_DISK`, ... or anything else: the type string as received; the
    /// payload is dropped.
    Other(String),
}

/// `Offer.Operation.Reserve`: the resources with their new reservation (innermost).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Reserve {
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub source: Vec<crate::common::Resource>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub resources: Vec<crate::common::Resource>,
}

/// `Offer.Operation.Unreserve`: reserved resources, as offered.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Unreserve {
    #[serde(default, deserialize_with = "null_as_default")]
    pub resources: Vec<crate::common::Resource>,
}

/// `Offer.Operation.Create`: persistent volumes to create on reserved disk.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Create {
    #[serde(default, deserialize_with = "null_as_default")]
    pub volumes: Vec<crate::common::Resource>,
}

/// `Offer.Operation.Destroy`: persistent volumes to destroy, as offered.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Destroy {
    #[serde(default, deserialize_with = "null_as_default")]
    pub volumes: Vec<crate::common::Resource>,
}

impl OperationKind {
    pub fn type_name(&self) -> &str {
        match self {
            OperationKind::Launch(_) => "LAUNCH",
            OperationKind::LaunchGroup(_) => "LAUNCH_GROUP",
            OperationKind::Reserve(_) => "RESERVE",
            OperationKind::Unreserve(_) => "UNRESERVE",
            OperationKind::Create(_) => "CREATE",
            OperationKind::Destroy(_) => "DESTROY",
            OperationKind::Other(t) => t,
        }
    }
}

impl Operation {
    pub fn launch(task_infos: Vec<TaskInfo>) -> Self {
        Operation {
            id: None,
            kind: OperationKind::Launch(Launch { task_infos }),
        }
    }

    pub fn type_name(&self) -> &str {
        self.kind.type_name()
    }
}

/// `Offer.Operation.Launch`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Launch {
    #[serde(default, deserialize_with = "null_as_default")]
    pub task_infos: Vec<TaskInfo>,
}

/// `Offer.Operation.LaunchGroup`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LaunchGroup {
    pub executor: ExecutorInfo,
    #[serde(default, deserialize_with = "null_as_default")]
    pub task_group: TaskGroupInfo,
}

#[derive(Deserialize)]
struct RawOperation {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    id: Option<OperationID>,
    #[serde(default)]
    launch: Option<Launch>,
    #[serde(default)]
    launch_group: Option<LaunchGroup>,
    #[serde(default)]
    reserve: Option<Reserve>,
    #[serde(default)]
    unreserve: Option<Unreserve>,
    #[serde(default)]
    create: Option<Create>,
    #[serde(default)]
    destroy: Option<Destroy>,
}

impl<'de> Deserialize<'de> for Operation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawOperation::deserialize(d)?;
        let kind = match raw.kind.as_deref() {
            None => {
                return Err(serde::de::Error::custom(
                    "operation: Expecting 'type' to be present",
                ));
            }
            Some("LAUNCH") => OperationKind::Launch(required(raw.launch, "launch")?),
            Some("LAUNCH_GROUP") => {
                OperationKind::LaunchGroup(required(raw.launch_group, "launch_group")?)
            }
            Some("RESERVE") => OperationKind::Reserve(required(raw.reserve, "reserve")?),
            Some("UNRESERVE") => OperationKind::Unreserve(required(raw.unreserve, "unreserve")?),
            Some("CREATE") => OperationKind::Create(required(raw.create, "create")?),
            Some("DESTROY") => OperationKind::Destroy(required(raw.destroy, "destroy")?),
            Some(other) => OperationKind::Other(other.to_string()),
        };
        Ok(Operation { id: raw.id, kind })
    }
}

impl Serialize for Operation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("type", self.type_name())?;
        if let Some(id) = &self.id {
            m.serialize_entry("id", id)?;
        }
        match &self.kind {
            OperationKind::Launch(p) => m.serialize_entry("launch", p)?,
            OperationKind::LaunchGroup(p) => m.serialize_entry("launch_group", p)?,
            OperationKind::Reserve(p) => m.serialize_entry("reserve", p)?,
            OperationKind::Unreserve(p) => m.serialize_entry("unreserve", p)?,
            OperationKind::Create(p) => m.serialize_entry("create", p)?,
            OperationKind::Destroy(p) => m.serialize_entry("destroy", p)?,
            OperationKind::Other(_) => {}
        }
        m.end()
    }
}

fn required<T, E: serde::de::Error>(payload: Option<T>, key: &str) -> Result<T, E> {
    payload.ok_or_else(|| E::custom(format!("Expecting '{key}' to be present")))
}

// Call (de)serialization ----------------------------------------------------------------------

#[derive(Deserialize)]
struct RawCall {
    #[serde(default)]
    framework_id: Option<FrameworkID>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    subscribe: Option<Subscribe>,
    #[serde(default)]
    accept: Option<Accept>,
    #[serde(default)]
    decline: Option<Decline>,
    #[serde(default)]
    revive: Option<Revive>,
    #[serde(default)]
    suppress: Option<Suppress>,
    #[serde(default)]
    kill: Option<Kill>,
    #[serde(default)]
    shutdown: Option<Shutdown>,
    #[serde(default)]
    acknowledge: Option<Acknowledge>,
    #[serde(default)]
    reconcile: Option<Reconcile>,
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    update_framework: Option<UpdateFramework>,
    #[serde(default)]
    accept_inverse_offers: Option<InverseOfferReply>,
    #[serde(default)]
    decline_inverse_offers: Option<InverseOfferReply>,
}

impl<'de> Deserialize<'de> for Call {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawCall::deserialize(d)?;
        let kind = match raw.kind.as_deref() {
            None => return Err(serde::de::Error::custom("Expecting 'type' to be present")),
            Some("SUBSCRIBE") => CallKind::Subscribe(required(raw.subscribe, "subscribe")?),
            Some("TEARDOWN") => CallKind::Teardown,
            Some("ACCEPT") => CallKind::Accept(required(raw.accept, "accept")?),
            Some("DECLINE") => CallKind::Decline(required(raw.decline, "decline")?),
            // REVIVE and SUPPRESS payloads are optional: absent means every role.
            Some("REVIVE") => CallKind::Revive(raw.revive.unwrap_or_default()),
            Some("SUPPRESS") => CallKind::Suppress(raw.suppress.unwrap_or_default()),
            Some("KILL") => CallKind::Kill(required(raw.kill, "kill")?),
            Some("SHUTDOWN") => CallKind::Shutdown(required(raw.shutdown, "shutdown")?),
            Some("ACKNOWLEDGE") => CallKind::Acknowledge(required(raw.acknowledge, "acknowledge")?),
            Some("RECONCILE") => CallKind::Reconcile(required(raw.reconcile, "reconcile")?),
            Some("MESSAGE") => CallKind::Message(required(raw.message, "message")?),
            Some("REQUEST") => CallKind::Request,
            Some("UPDATE_FRAMEWORK") => {
                CallKind::UpdateFramework(required(raw.update_framework, "update_framework")?)
            }
            Some("ACCEPT_INVERSE_OFFERS") => CallKind::AcceptInverseOffers(required(
                raw.accept_inverse_offers,
                "accept_inverse_offers",
            )?),
            Some("DECLINE_INVERSE_OFFERS") => CallKind::DeclineInverseOffers(required(
                raw.decline_inverse_offers,
                "decline_inverse_offers",
            )?),
            Some(other) => CallKind::Other(other.to_string()),
        };
        Ok(Call {
            framework_id: raw.framework_id,
            kind,
        })
    }
}

impl Serialize for Call {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if let Some(id) = &self.framework_id {
            m.serialize_entry("framework_id", id)?;
        }
        m.serialize_entry("type", self.type_name())?;
        match &self.kind {
            CallKind::Subscribe(p) => m.serialize_entry("subscribe", p)?,
            CallKind::Accept(p) => m.serialize_entry("accept", p)?,
            CallKind::Decline(p) => m.serialize_entry("decline", p)?,
            CallKind::Revive(p) => m.serialize_entry("revive", p)?,
            CallKind::Suppress(p) => m.serialize_entry("suppress", p)?,
            CallKind::Kill(p) => m.serialize_entry("kill", p)?,
            CallKind::Shutdown(p) => m.serialize_entry("shutdown", p)?,
            CallKind::Acknowledge(p) => m.serialize_entry("acknowledge", p)?,
            CallKind::Reconcile(p) => m.serialize_entry("reconcile", p)?,
            CallKind::Message(p) => m.serialize_entry("message", p)?,
            CallKind::Request => m.serialize_entry("request", &Empty {})?,
            CallKind::UpdateFramework(p) => m.serialize_entry("update_framework", p)?,
            CallKind::AcceptInverseOffers(p) => m.serialize_entry("accept_inverse_offers", p)?,
            CallKind::DeclineInverseOffers(p) => m.serialize_entry("decline_inverse_offers", p)?,
            CallKind::Teardown | CallKind::Other(_) => {}
        }
        m.end()
    }
}

#[derive(Serialize)]
struct Empty {}

// ---------------------------------------------------------------------------------------------
// Events

/// A scheduler event.
#[allow(
    clippy::large_enum_variant,
    reason = "wire messages are built, (de)serialized and dropped; boxing would only cost ergonomics"
)]
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Subscribed(Subscribed),
    Offers(Offers),
    Rescind(Rescind),
    Update(Update),
    Message(Message),
    Failure(Failure),
    Error(ErrorEvent),
    Heartbeat,
    InverseOffers(InverseOffers),
    RescindInverseOffer(RescindInverseOffer),
    /// A type this crate does not model (`UPDATE_OPERATION_STATUS`, ...),
    /// as received. It serializes with an empty payload under its lower-case key.
    Other(String),
}

impl Event {
    /// The `type` string.
    pub fn type_name(&self) -> &str {
        match self {
            Event::Subscribed(_) => "SUBSCRIBED",
            Event::Offers(_) => "OFFERS",
            Event::Rescind(_) => "RESCIND",
            Event::Update(_) => "UPDATE",
            Event::Message(_) => "MESSAGE",
            Event::Failure(_) => "FAILURE",
            Event::Error(_) => "ERROR",
            Event::Heartbeat => "HEARTBEAT",
            Event::InverseOffers(_) => "INVERSE_OFFERS",
            Event::RescindInverseOffer(_) => "RESCIND_INVERSE_OFFER",
            Event::Other(t) => t,
        }
    }

    /// An `ERROR` event.
    pub fn error(message: impl Into<String>) -> Self {
        Event::Error(ErrorEvent {
            message: message.into(),
        })
    }
}

/// `Event.Subscribed`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Subscribed {
    pub framework_id: FrameworkID,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_interval_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_info: Option<MasterInfo>,
}

/// `Event.Offers`: `{"offers": [...]}`, the array always written. `inverse_offers` is not
/// modelled.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Offers {
    #[serde(default, deserialize_with = "null_as_default")]
    pub offers: Vec<Offer>,
}

/// `Event.Rescind`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rescind {
    pub offer_id: OfferID,
}

/// `Event.Update`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Update {
    pub status: TaskStatus,
}

/// `Event.Failure`: an agent (no `executor_id`) or an executor (`executor_id`, `status` = its
/// exit status) is gone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentID>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_id: Option<ExecutorID>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
}

/// `Event.Error`: the master drops the framework after sending it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEvent {
    #[serde(default, deserialize_with = "null_as_default")]
    pub message: String,
}

/// Accepts Mesos' `{"offers": [...]}` and, for the example in Mesos' own docs, a bare array.
#[derive(Deserialize)]
#[serde(untagged)]
enum OffersOrList {
    Nested(Offers),
    List(Vec<Offer>),
}

#[derive(Deserialize)]
struct RawEvent {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    subscribed: Option<Subscribed>,
    #[serde(default)]
    offers: Option<OffersOrList>,
    #[serde(default)]
    rescind: Option<Rescind>,
    #[serde(default)]
    update: Option<Update>,
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    failure: Option<Failure>,
    #[serde(default)]
    error: Option<ErrorEvent>,
    #[serde(default)]
    inverse_offers: Option<InverseOffers>,
    #[serde(default)]
    rescind_inverse_offer: Option<RescindInverseOffer>,
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawEvent::deserialize(d)?;
        Ok(match raw.kind.as_deref() {
            None => return Err(serde::de::Error::custom("Expecting 'type' to be present")),
            Some("SUBSCRIBED") => Event::Subscribed(required(raw.subscribed, "subscribed")?),
            Some("OFFERS") => Event::Offers(match required(raw.offers, "offers")? {
                OffersOrList::Nested(o) => o,
                OffersOrList::List(offers) => Offers { offers },
            }),
            Some("RESCIND") => Event::Rescind(required(raw.rescind, "rescind")?),
            Some("UPDATE") => Event::Update(required(raw.update, "update")?),
            Some("MESSAGE") => Event::Message(required(raw.message, "message")?),
            Some("FAILURE") => Event::Failure(raw.failure.unwrap_or_default()),
            Some("ERROR") => Event::Error(required(raw.error, "error")?),
            Some("HEARTBEAT") => Event::Heartbeat,
            Some("INVERSE_OFFERS") => {
                Event::InverseOffers(required(raw.inverse_offers, "inverse_offers")?)
            }
            Some("RESCIND_INVERSE_OFFER") => Event::RescindInverseOffer(required(
                raw.rescind_inverse_offer,
                "rescind_inverse_offer",
            )?),
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
            Event::Offers(p) => m.serialize_entry("offers", p)?,
            Event::Rescind(p) => m.serialize_entry("rescind", p)?,
            Event::Update(p) => m.serialize_entry("update", p)?,
            Event::Message(p) => m.serialize_entry("message", p)?,
            Event::Failure(p) => m.serialize_entry("failure", p)?,
            Event::Error(p) => m.serialize_entry("error", p)?,
            Event::Heartbeat => {}
            Event::InverseOffers(p) => m.serialize_entry("inverse_offers", p)?,
            Event::RescindInverseOffer(p) => m.serialize_entry("rescind_inverse_offer", p)?,
            Event::Other(t) => m.serialize_entry(&t.to_ascii_lowercase(), &Empty {})?,
        }
        m.end()
    }
}
