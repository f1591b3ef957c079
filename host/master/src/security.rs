//! Who may do what on the master: the realms its endpoints authenticate in, and the
//! authorizer every mutation and every view goes through.
//!
//! - **Realms** (Mesos' names): `mesos-master-readonly` for the state endpoints,
//!   `mesos-master-readwrite` for the operator API and the endpoints that change something,
//!   `mesos-master-scheduler` for the v1 scheduler API, and `mesos-master-agent` (Meseta's: Mesos
//!   agents authenticate with SASL) for the agents' side of the master–agent protocol. Each
//!   requires credentials only when its `--authenticate_*` flag is set.
//! - **Authorization**: [`Authz`] answers a [`Request`]; the daemon gives it the authorizer of
//!   `--authorizers` / `--acls`. A refused mutation is a 403 with the reason; views are filtered
//!   ([`Visibility`]): what the subject may not see is left out, as Mesos' approvers do.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use meseta_http::auth::{Credentials, Realm};
use meseta_types::authorization::{Action, Object, Request};
use serde_json::Value;

use crate::core::{Core, Framework, Task};

/// `--credentials` and the `--authenticate_*` flags.
#[derive(Clone, Debug, Default)]
pub struct Authentication {
    pub credentials: Option<Arc<Credentials>>,
    /// `--authenticate_http_frameworks`.
    pub http_frameworks: bool,
    /// `--authenticate_http_readonly`.
    pub http_readonly: bool,
    /// `--authenticate_http_readwrite`.
    pub http_readwrite: bool,
    /// `--authenticate_agents`.
    pub agents: bool,
}

impl Authentication {
    /// Refuses flags that cannot work together (a realm that requires credentials with no
    /// `--credentials` to check them against).
    pub fn check(&self) -> Result<(), String> {
        if self.credentials.is_none() {
            for (set, flag) in [
                (self.http_frameworks, "--authenticate_http_frameworks"),
                (self.http_readonly, "--authenticate_http_readonly"),
                (self.http_readwrite, "--authenticate_http_readwrite"),
                (self.agents, "--authenticate_agents"),
            ] {
                if set {
                    return Err(format!(
                        "{flag} needs --credentials: give the path of a JSON file \
                         {{\"credentials\": [{{\"principal\": \"NAME\", \"secret\": \"SECRET\"}}]}}"
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn readonly(&self) -> Realm {
        Realm::new(
            "mesos-master-readonly",
            self.http_readonly,
            &self.credentials,
        )
    }

    pub fn readwrite(&self) -> Realm {
        Realm::new(
            "mesos-master-readwrite",
            self.http_readwrite,
            &self.credentials,
        )
    }

    pub fn scheduler(&self) -> Realm {
        Realm::new(
            "mesos-master-scheduler",
            self.http_frameworks,
            &self.credentials,
        )
    }

    pub fn agents(&self) -> Realm {
        Realm::new("mesos-master-agent", self.agents, &self.credentials)
    }
}

type Check = Arc<dyn Fn(&Request) -> bool + Send + Sync>;

/// The master's authorizer: `None` allows everything (no `--acls`, no `--authorizers`).
#[derive(Clone, Default)]
pub struct Authz {
    check: Option<Check>,
}

impl std::fmt::Debug for Authz {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.check.is_some() {
            "Authz(configured)"
        } else {
            "Authz(allow all)"
        })
    }
}

impl Authz {
    /// Asks `check` (which denies when it cannot decide).
    pub fn new(check: impl Fn(&Request) -> bool + Send + Sync + 'static) -> Authz {
        Authz {
            check: Some(Arc::new(check)),
        }
    }

    /// Whether every request is allowed, so views need no filtering.
    pub fn allows_everything(&self) -> bool {
        self.check.is_none()
    }

    pub fn authorized(&self, subject: Option<&str>, action: Action, object: Object) -> bool {
        match &self.check {
            None => true,
            Some(check) => check(&Request {
                subject: subject.map(str::to_string),
                action,
                object,
            }),
        }
    }

    /// `Err` with the 403 reason when `subject` may not `action` on `object`.
    pub fn require(
        &self,
        subject: Option<&str>,
        action: Action,
        object: Object,
    ) -> Result<(), String> {
        let what = object.value.clone();
        if self.authorized(subject, action, object) {
            return Ok(());
        }
        let who = match subject {
            Some(p) => format!("principal '{p}'"),
            None => "an unauthenticated request".to_string(),
        };
        Err(match what {
            Some(v) => format!(
                "{who} is not authorized to {} '{v}' (ACL '{}')",
                verb(action),
                action.acl_key()
            ),
            None => format!(
                "{who} is not authorized to {} (ACL '{}')",
                verb(action),
                action.acl_key()
            ),
        })
    }
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::RegisterFramework => "register a framework in role",
        Action::RunTask => "run tasks as user",
        Action::TeardownFramework => "tear down frameworks of principal",
        Action::UpdateWeight => "update the weight of role",
        Action::UpdateQuota => "update the quota of role",
        Action::GetQuota => "get the quota of role",
        Action::ViewRole => "view role",
        Action::GetEndpoint => "get endpoint",
        Action::ViewFramework => "view frameworks of user",
        Action::ViewTask => "view tasks of user",
        Action::ViewExecutor => "view executors of user",
        Action::ViewFlags => "view the flags",
        Action::AccessSandbox => "access sandboxes of user",
        Action::RegisterAgent => "register agents",
        Action::MarkAgentGone => "mark agents gone",
        Action::ReserveResources => "reserve resources for role",
        Action::UnreserveResources => "unreserve resources reserved by",
        Action::CreateVolume => "create volumes for role",
        Action::DestroyVolume => "destroy volumes created by",
    }
}

/// The user a task runs as, as Mesos picks it: its command's, its executor's, its framework's.
pub fn task_user<'a>(framework: &'a Framework, task: &'a Task) -> &'a str {
    task_info_user(&framework.info, &task.info)
}

/// The user a task launched by `framework` runs as.
pub fn task_info_user<'a>(
    framework: &'a meseta_api::common::FrameworkInfo,
    task: &'a meseta_api::common::TaskInfo,
) -> &'a str {
    task.command
        .as_ref()
        .and_then(|c| c.user.as_deref())
        .or_else(|| {
            task.executor
                .as_ref()
                .and_then(|e| e.command.as_ref())
                .and_then(|c| c.user.as_deref())
        })
        .unwrap_or(&framework.user)
}

/// The object of a framework-level view or action.
pub fn framework_object(f: &Framework, value: &str) -> Object {
    Object {
        value: Some(value.to_string()),
        framework_id: Some(f.id.clone()),
        framework_name: Some(f.info.name.clone()),
        framework_principal: f.info.principal.clone(),
        role: f.roles.first().cloned(),
        user: Some(f.info.user.clone()),
        ..Object::default()
    }
}

/// One subject's view decisions (Mesos' approvers), asked of the authorizer lazily and each
/// distinct (action, user or role) once: a request's renderer asks it framework by framework and
/// task by task, and an operator event stream keeps one for its whole life (the ACLs do not
/// change while the master runs).
pub struct Approver {
    authz: Authz,
    subject: Option<String>,
    memo: std::sync::Mutex<BTreeMap<(Action, String), bool>>,
}

impl std::fmt::Debug for Approver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Approver({:?}, {:?})", self.subject, self.authz)
    }
}

impl Approver {
    pub fn new(authz: &Authz, subject: Option<&str>) -> Approver {
        Approver {
            authz: authz.clone(),
            subject: subject.map(str::to_string),
            memo: std::sync::Mutex::new(BTreeMap::new()),
        }
    }

    /// Sees everything (no authorizer configured).
    pub fn everyone() -> Approver {
        Approver::new(&Authz::default(), None)
    }

    /// Whether nothing is filtered, so renderers need not ask.
    pub fn everything(&self) -> bool {
        self.authz.allows_everything()
    }

    fn ask(&self, action: Action, value: &str, object: impl FnOnce() -> Object) -> bool {
        if self.everything() {
            return true;
        }
        let key = (action, value.to_string());
        if let Ok(memo) = self.memo.lock()
            && let Some(answer) = memo.get(&key)
        {
            return *answer;
        }
        let answer = self
            .authz
            .authorized(self.subject.as_deref(), action, object());
        if let Ok(mut memo) = self.memo.lock() {
            memo.insert(key, answer);
        }
        answer
    }

    pub fn flags(&self) -> bool {
        self.ask(Action::ViewFlags, "", Object::default)
    }

    pub fn framework(&self, f: &Framework) -> bool {
        let user = f.info.user.as_str();
        self.ask(Action::ViewFramework, user, || framework_object(f, user))
    }

    /// Whether `t` is visible, given that its framework `f` is.
    pub fn task_of(&self, f: &Framework, t: &Task) -> bool {
        let user = task_user(f, t);
        self.ask(Action::ViewTask, user, || Object {
            task_id: Some(t.info.task_id.value.clone()),
            agent_id: Some(t.agent_id.clone()),
            ..framework_object(f, user)
        })
    }

    /// Whether the executor `info` is visible, given that its framework `f` is.
    pub fn executor_of(&self, f: &Framework, info: &meseta_api::common::ExecutorInfo) -> bool {
        let user = info
            .command
            .as_ref()
            .and_then(|c| c.user.as_deref())
            .unwrap_or(&f.info.user);
        self.ask(Action::ViewExecutor, user, || Object {
            executor_id: Some(info.executor_id.value.clone()),
            ..framework_object(f, user)
        })
    }

    pub fn role(&self, role: &str) -> bool {
        self.ask(Action::ViewRole, role, || Object {
            role: Some(role.to_string()),
            ..Object::value(role.to_string())
        })
    }

    /// Whether an operator event of `scope` may be sent to this subject.
    pub fn event(&self, scope: &crate::core::EventScope) -> bool {
        use crate::core::EventScope;
        if self.everything() {
            return true;
        }
        let value = |o: &Object| o.value.clone().unwrap_or_default();
        match scope {
            EventScope::Cluster => true,
            EventScope::Framework(framework) => {
                self.ask(Action::ViewFramework, &value(framework), || {
                    framework.as_ref().clone()
                })
            }
            EventScope::Task { framework, task } => {
                self.ask(Action::ViewFramework, &value(framework), || {
                    framework.as_ref().clone()
                }) && self.ask(Action::ViewTask, &value(task), || task.as_ref().clone())
            }
        }
    }
}

/// What one subject may see of the cluster's state: the frameworks, tasks, executors and roles
/// it may not, and whether it may see the flags. Decided once per request under the state lock
/// (each distinct user or role asked once), then applied to the JSON the endpoint built.
#[derive(Debug, Default)]
pub struct Visibility {
    everything: bool,
    hidden_frameworks: BTreeSet<String>,
    /// (framework id, task id).
    hidden_tasks: BTreeSet<(String, String)>,
    /// (framework id, executor id).
    hidden_executors: BTreeSet<(String, String)>,
    hidden_roles: BTreeSet<String>,
    pub flags: bool,
}

impl Visibility {
    pub fn of(authz: &Authz, subject: Option<&str>, core: &Core) -> Visibility {
        let approver = Approver::new(authz, subject);
        if approver.everything() {
            return Visibility {
                everything: true,
                flags: true,
                ..Visibility::default()
            };
        }
        let mut v = Visibility {
            flags: approver.flags(),
            ..Visibility::default()
        };
        for f in core
            .frameworks
            .values()
            .chain(core.completed_frameworks.iter())
        {
            if !approver.framework(f) {
                v.hidden_frameworks.insert(f.id.clone());
                continue;
            }
            let tasks = f
                .tasks
                .values()
                .chain(f.unreachable_tasks.values())
                .chain(f.completed_tasks.iter());
            for t in tasks {
                if !approver.task_of(f, t) {
                    v.hidden_tasks
                        .insert((f.id.clone(), t.info.task_id.value.clone()));
                }
            }
            for (_, (info, _)) in f.executors.iter() {
                if !approver.executor_of(f, info) {
                    v.hidden_executors
                        .insert((f.id.clone(), info.executor_id.value.clone()));
                }
            }
        }
        let mut roles: BTreeSet<String> = core.weights.keys().cloned().collect();
        for f in core.frameworks.values() {
            roles.extend(f.roles.iter().cloned());
        }
        for role in roles {
            if !approver.role(&role) {
                v.hidden_roles.insert(role);
            }
        }
        v
    }

    pub fn sees_everything(&self) -> bool {
        self.everything
    }

    pub fn framework(&self, id: &str) -> bool {
        !self.hidden_frameworks.contains(id)
    }

    pub fn task(&self, framework_id: &str, task_id: &str) -> bool {
        self.framework(framework_id)
            && !self
                .hidden_tasks
                .contains(&(framework_id.to_string(), task_id.to_string()))
    }

    pub fn executor(&self, framework_id: &str, executor_id: &str) -> bool {
        self.framework(framework_id)
            && !self
                .hidden_executors
                .contains(&(framework_id.to_string(), executor_id.to_string()))
    }

    pub fn role(&self, role: &str) -> bool {
        !self.hidden_roles.contains(role)
    }

    /// Filters a v0 framework object (`/master/state`'s, `/master/frameworks`'): its tasks and
    /// executors. The framework itself is filtered by [`Visibility::frameworks`].
    fn framework_v0(&self, framework: &mut Value) {
        let fid = framework["id"].as_str().unwrap_or_default().to_string();
        for key in ["tasks", "unreachable_tasks", "completed_tasks"] {
            if let Some(list) = framework.get_mut(key).and_then(Value::as_array_mut) {
                list.retain(|t| self.task(&fid, t["id"].as_str().unwrap_or_default()));
            }
        }
        if let Some(list) = framework.get_mut("executors").and_then(Value::as_array_mut) {
            list.retain(|e| self.executor(&fid, e["id"].as_str().unwrap_or_default()));
        }
    }

    /// Filters the v0 lists `frameworks` and `completed_frameworks` of `value`.
    pub fn frameworks(&self, value: &mut Value) {
        if self.everything {
            return;
        }
        for key in ["frameworks", "completed_frameworks"] {
            if let Some(list) = value.get_mut(key).and_then(Value::as_array_mut) {
                list.retain(|f| self.framework(f["id"].as_str().unwrap_or_default()));
                for f in list.iter_mut() {
                    self.framework_v0(f);
                }
            }
        }
    }

    /// Filters `/master/tasks` (and any `{"tasks": [...]}` of v0 tasks).
    pub fn tasks_v0(&self, value: &mut Value) {
        if self.everything {
            return;
        }
        if let Some(list) = value.get_mut("tasks").and_then(Value::as_array_mut) {
            list.retain(|t| {
                self.task(
                    t["framework_id"].as_str().unwrap_or_default(),
                    t["id"].as_str().unwrap_or_default(),
                )
            });
        }
    }

    /// Filters `/master/roles` (`{"roles": [{"name": ...}]}`).
    pub fn roles_v0(&self, value: &mut Value) {
        if self.everything {
            return;
        }
        if let Some(list) = value.get_mut("roles").and_then(Value::as_array_mut) {
            list.retain(|r| self.role(r["name"].as_str().unwrap_or_default()));
        }
    }
}
