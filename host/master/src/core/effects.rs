//! What the core asks the rest of the master to do: the effects of a transition, carried out by
//! the server's effector in order once the state lock is released.

use meseta_api::common::AgentInfo;
use meseta_api::internal as wire;
use meseta_api::scheduler::Event;
use meseta_types::Quantities;
use meseta_types::allocation::{self as alloc, AgentId, FrameworkId, RoleId};
use meseta_types::authorization::Object;

/// One effect of a transition. (Effects live for one batch; boxing the larger ones would cost
/// an allocation each for nothing.)
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Effect {
    /// A scheduler event for the framework's current subscription stream (dropped when it has
    /// none).
    Event { framework_id: String, event: Event },
    /// The stream `stream_id`, prepared by the server for a SUBSCRIBE, becomes the framework's.
    OpenStream {
        framework_id: String,
        stream_id: String,
    },
    /// Ends the framework's stream `stream_id`, after a last ERROR event when given.
    CloseStream {
        framework_id: String,
        stream_id: String,
        error: Option<String>,
    },
    /// The agent is (again) reached at `endpoint`: a fresh ordered outbox.
    LinkAgent { agent_id: String, endpoint: String },
    /// The agent was removed: its outbox ends once it has delivered what it holds.
    UnlinkAgent { agent_id: String },
    /// A message for an agent, through its outbox.
    ToAgent { agent_id: String, message: ToAgent },
    /// A call to the allocator.
    Allocator(AllocatorCall),
    /// A registry operation, applied after the ones before it (agents marked unreachable).
    Registry(meseta_registry::Operation),
    /// `masterSlaveLostHook` for a removed agent.
    AgentLostHook { agent_id: String, info: AgentInfo },
    /// An allocation round should run soon (resources were freed or added).
    AllocateSoon,
    /// An event for the operators' `SUBSCRIBE` streams (a v1 `master::Event`, JSON), sent to
    /// the subscribers allowed to see its `scope`.
    Operator {
        event: serde_json::Value,
        scope: EventScope,
    },
    /// A new operator subscription: `subscribed` (SUBSCRIBED with the state as of this batch)
    /// goes first, then every [`Effect::Operator`] after it.
    OperatorSubscribe {
        subscriber: OperatorSubscriber,
        /// The SUBSCRIBED record, rendered for the subscriber's view.
        subscribed: axum::body::Bytes,
    },
}

/// Who may see an operator event: everyone who may follow the stream (agents), or those whom
/// `view_frameworks` allows for the framework (and `view_tasks` for the task), the objects
/// being what the authorizer is asked, as for the state endpoints.
#[derive(Clone, Debug)]
pub enum EventScope {
    Cluster,
    Framework(Box<Object>),
    Task {
        framework: Box<Object>,
        task: Box<Object>,
    },
}

/// An operator subscription: its channel, bounded so that a subscriber that does not read is
/// dropped rather than buffered without bound, and what its principal may see.
#[derive(Clone, Debug)]
pub struct OperatorSubscriber {
    pub tx: crate::effector::OperatorQueue,
    pub approver: std::sync::Arc<crate::security::Approver>,
}

/// A message from the master to an agent.
#[derive(Clone, Debug)]
pub enum ToAgent {
    RunTask(Box<wire::RunTask>),
    KillTask(wire::KillTask),
    Acknowledge(wire::AcknowledgeUpdate),
    ShutdownFramework(wire::ShutdownFramework),
    ShutdownExecutor(wire::ShutdownExecutor),
    FrameworkMessage(wire::FrameworkToExecutor),
    ShutdownAgent(wire::ShutdownAgent),
    CheckpointResources(wire::CheckpointResources),
}

impl ToAgent {
    /// The agent's endpoint for this message.
    pub fn path(&self) -> &'static str {
        match self {
            ToAgent::RunTask(_) => wire::RUN_TASK,
            ToAgent::KillTask(_) => wire::KILL_TASK,
            ToAgent::Acknowledge(_) => wire::ACKNOWLEDGE,
            ToAgent::ShutdownFramework(_) => wire::SHUTDOWN_FRAMEWORK,
            ToAgent::ShutdownExecutor(_) => wire::SHUTDOWN_EXECUTOR,
            ToAgent::FrameworkMessage(_) => wire::FRAMEWORK_MESSAGE,
            ToAgent::ShutdownAgent(_) => wire::SHUTDOWN_AGENT,
            ToAgent::CheckpointResources(_) => wire::CHECKPOINT_RESOURCES,
        }
    }

    /// The message's JSON body.
    pub fn encode(&self) -> Vec<u8> {
        let encoded = match self {
            ToAgent::RunTask(m) => serde_json::to_vec(m),
            ToAgent::KillTask(m) => serde_json::to_vec(m),
            ToAgent::Acknowledge(m) => serde_json::to_vec(m),
            ToAgent::ShutdownFramework(m) => serde_json::to_vec(m),
            ToAgent::ShutdownExecutor(m) => serde_json::to_vec(m),
            ToAgent::FrameworkMessage(m) => serde_json::to_vec(m),
            ToAgent::ShutdownAgent(m) => serde_json::to_vec(m),
            ToAgent::CheckpointResources(m) => serde_json::to_vec(m),
        };
        encoded.unwrap_or_default()
    }
}

/// The allocator's interface (Mesos' `Allocator`), as calls.
#[derive(Clone, Debug)]
pub enum AllocatorCall {
    Initialize(alloc::Options),
    AddRole {
        role: RoleId,
        name: String,
    },
    /// Appends kinds to the allocator's slot table (`meseta:allocator@0.3.0`
    /// `add-resource-kinds`), typically slots reserved for a role with no slots yet. Every
    /// role a kind is `reserved_for` must have been named by `AddRole` before. Later vectors
    /// may be as wide as the new table; shorter ones mean 0 in the slots they lack.
    AddResourceKinds(Vec<alloc::ResourceKind>),
    UpdateWeights(Vec<(RoleId, f64)>),
    UpdateQuota {
        role: RoleId,
        guarantees: Quantities,
        limits: Quantities,
    },
    AddFramework {
        framework: FrameworkId,
        info: alloc::FrameworkInfo,
        active: bool,
    },
    RemoveFramework(FrameworkId),
    ActivateFramework(FrameworkId),
    DeactivateFramework(FrameworkId),
    UpdateFramework {
        framework: FrameworkId,
        info: alloc::FrameworkInfo,
        suppressed: Vec<RoleId>,
    },
    AddAgent {
        agent: AgentId,
        info: alloc::AgentInfo,
        total: Quantities,
        used: Vec<alloc::AgentUsage>,
    },
    RemoveAgent(AgentId),
    /// Offer the agent's resources again (REACTIVATE_AGENT).
    ActivateAgent(AgentId),
    /// Stop offering the agent's resources (DEACTIVATE_AGENT, DRAIN_AGENT).
    DeactivateAgent(AgentId),
    UpdateAgent {
        agent: AgentId,
        total: Quantities,
    },
    /// Resources held by a framework go back, with a decline filter of `refuse_seconds`.
    Recover {
        framework: FrameworkId,
        agent: AgentId,
        role: RoleId,
        resources: Quantities,
        refuse_seconds: Option<f64>,
        now_ms: u64,
    },
    Suppress {
        framework: FrameworkId,
        roles: Vec<RoleId>,
    },
    Revive {
        framework: FrameworkId,
        roles: Vec<RoleId>,
    },
}
