//! Authorizers: Mesos' `Authorizer` module kind. The daemon asks, for one action, whether a
//! subject (the authenticated principal, or nobody) may act on an object.
//!
//! Mesos' local ACL authorizer compares one string per action (the role a framework registers
//! in, the user a task runs as, the path of an endpoint, ...): that string is
//! [`Object::value`], filled in by the daemon as Mesos does for each action. The other fields
//! give a custom authorizer more to decide from; any of them may be absent.

/// An action the daemons ask about. The names are Mesos' ACL keys (`acls.proto`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// `register_frameworks`: object value = the framework's role (one request per role).
    RegisterFramework,
    /// `run_tasks`: object value = the user the task runs as.
    RunTask,
    /// `teardown_frameworks`: object value = the framework's principal.
    TeardownFramework,
    /// `update_weights`: object value = the role.
    UpdateWeight,
    /// `update_quotas`: object value = the role.
    UpdateQuota,
    /// `get_quotas`: object value = the role.
    GetQuota,
    /// `view_roles`: object value = the role.
    ViewRole,
    /// `get_endpoints`: object value = the endpoint's path.
    GetEndpoint,
    /// `view_frameworks`: object value = the framework's user.
    ViewFramework,
    /// `view_tasks`: object value = the task's user.
    ViewTask,
    /// `view_executors`: object value = the executor's user.
    ViewExecutor,
    /// `view_flags`: no object value.
    ViewFlags,
    /// `access_sandboxes`: object value = the executor's user.
    AccessSandbox,
    /// `register_agents`: no object value.
    RegisterAgent,
    /// `mark_agents_gone`: no object value.
    MarkAgentGone,
    /// `reserve_resources`: object value = the role.
    ReserveResources,
    /// `unreserve_resources`: object value = the reservation's principal.
    UnreserveResources,
    /// `create_volumes`: object value = the role.
    CreateVolume,
    /// `destroy_volumes`: object value = the volume's creator principal.
    DestroyVolume,
}

impl Action {
    /// Every action, in declaration order.
    pub const ALL: [Action; 19] = [
        Action::RegisterFramework,
        Action::RunTask,
        Action::TeardownFramework,
        Action::UpdateWeight,
        Action::UpdateQuota,
        Action::GetQuota,
        Action::ViewRole,
        Action::GetEndpoint,
        Action::ViewFramework,
        Action::ViewTask,
        Action::ViewExecutor,
        Action::ViewFlags,
        Action::AccessSandbox,
        Action::RegisterAgent,
        Action::MarkAgentGone,
        Action::ReserveResources,
        Action::UnreserveResources,
        Action::CreateVolume,
        Action::DestroyVolume,
    ];

    /// The action's key in Mesos' ACL JSON (`"register_frameworks"`, ...).
    pub fn acl_key(self) -> &'static str {
        match self {
            Action::RegisterFramework => "register_frameworks",
            Action::RunTask => "run_tasks",
            Action::TeardownFramework => "teardown_frameworks",
            Action::UpdateWeight => "update_weights",
            Action::UpdateQuota => "update_quotas",
            Action::GetQuota => "get_quotas",
            Action::ViewRole => "view_roles",
            Action::GetEndpoint => "get_endpoints",
            Action::ViewFramework => "view_frameworks",
            Action::ViewTask => "view_tasks",
            Action::ViewExecutor => "view_executors",
            Action::ViewFlags => "view_flags",
            Action::AccessSandbox => "access_sandboxes",
            Action::RegisterAgent => "register_agents",
            Action::MarkAgentGone => "mark_agents_gone",
            Action::ReserveResources => "reserve_resources",
            Action::UnreserveResources => "unreserve_resources",
            Action::CreateVolume => "create_volumes",
            Action::DestroyVolume => "destroy_volumes",
        }
    }

    /// The name of the object field a rule of this action names in Mesos' ACL JSON
    /// (`"roles"`, `"users"`, ...).
    pub fn acl_object(self) -> &'static str {
        match self {
            Action::RegisterFramework
            | Action::UpdateWeight
            | Action::UpdateQuota
            | Action::GetQuota
            | Action::ViewRole
            | Action::ReserveResources
            | Action::CreateVolume => "roles",
            Action::RunTask
            | Action::ViewFramework
            | Action::ViewTask
            | Action::ViewExecutor
            | Action::AccessSandbox => "users",
            Action::TeardownFramework => "framework_principals",
            Action::GetEndpoint => "paths",
            Action::ViewFlags => "flags",
            Action::RegisterAgent | Action::MarkAgentGone => "agents",
            Action::UnreserveResources => "reserver_principals",
            Action::DestroyVolume => "creator_principals",
        }
    }

    /// Mesos' `authorization::Action` name (`"REGISTER_FRAMEWORK"`, ...), as shown in errors.
    pub fn mesos_name(self) -> &'static str {
        match self {
            Action::RegisterFramework => "REGISTER_FRAMEWORK",
            Action::RunTask => "RUN_TASK",
            Action::TeardownFramework => "TEARDOWN_FRAMEWORK",
            Action::UpdateWeight => "UPDATE_WEIGHT",
            Action::UpdateQuota => "UPDATE_QUOTA",
            Action::GetQuota => "GET_QUOTA",
            Action::ViewRole => "VIEW_ROLE",
            Action::GetEndpoint => "GET_ENDPOINT_WITH_PATH",
            Action::ViewFramework => "VIEW_FRAMEWORK",
            Action::ViewTask => "VIEW_TASK",
            Action::ViewExecutor => "VIEW_EXECUTOR",
            Action::ViewFlags => "VIEW_FLAGS",
            Action::AccessSandbox => "ACCESS_SANDBOX",
            Action::RegisterAgent => "REGISTER_AGENT",
            Action::MarkAgentGone => "MARK_AGENT_GONE",
            Action::ReserveResources => "RESERVE_RESOURCES",
            Action::UnreserveResources => "UNRESERVE_RESOURCES",
            Action::CreateVolume => "CREATE_VOLUME",
            Action::DestroyVolume => "DESTROY_VOLUME",
        }
    }
}

/// What an action is on. `value` is what Mesos' local authorizer compares (see [`Action`]);
/// the rest is context for custom authorizers.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Object {
    pub value: Option<String>,
    pub framework_id: Option<String>,
    pub framework_name: Option<String>,
    pub framework_principal: Option<String>,
    pub role: Option<String>,
    pub user: Option<String>,
    pub task_id: Option<String>,
    pub executor_id: Option<String>,
    pub agent_id: Option<String>,
}

impl Object {
    /// An object known only by its value.
    pub fn value(value: impl Into<String>) -> Object {
        Object {
            value: Some(value.into()),
            ..Object::default()
        }
    }
}

/// One question: may `subject` (the authenticated principal; `None` when the request carried
/// no credentials) perform `action` on `object`?
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub subject: Option<String>,
    pub action: Action,
    pub object: Object,
}

/// Mesos' `Authorizer`: answers [`Request`]s. An `Err` means the question could not be
/// decided; the daemon then denies.
pub trait AuthorizerPolicy {
    fn authorized(&mut self, request: &Request) -> Result<bool, String>;
}
