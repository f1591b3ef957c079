//! `authorizer-local`: Mesos' local ACL authorizer (`--authorizers=local`, `--acls`), the default
//! authorizer of the Meseta master and agent.
//!
//! The same policy runs natively (the daemons' built-in `local` authorizer, and the benchmark
//! baseline) and, for `wasm32`, as the shipped `authorizer` component `authorizer-local`.
//!
//! # ACLs
//!
//! The parameter `acls` (Mesos' `--acls`) is JSON:
//!
//! ```json
//! {"permissive": false,
//!  "register_frameworks": [{"principals": {"values": ["payroll"]}, "roles": {"values": ["accounting"]}},
//!                          {"principals": {"type": "ANY"}, "roles": {"type": "NONE"}}],
//!  "reserve_resources": [{"principals": {"type": "ANY"}, "roles": {"values": ["eng/%"]}}]}
//! ```
//!
//! `permissive` (default `true`) decides requests no rule matches. Every other key is one of
//! Mesos' ACL keys (`acls.proto`) and holds a list of rules; a rule names the subjects
//! (`principals`) and the objects (the field of its action: `roles` for `register_frameworks`,
//! `users` for `run_tasks`, ... see [`MESOS_ACLS`]), each an entity
//! `{"type": "SOME" (default) | "ANY" | "NONE", "values": [...]}`. Keys Mesos knows but Meseta
//! does not check yet (`access_mesos_logs`, the nested container actions, ...) are accepted,
//! validated, and their rules ignored ([`LocalAuthorizer::ignored`] names them); any other key is
//! an error.
//!
//! # Decisions (Mesos' `src/authorizer/local/authorizer.cpp`)
//!
//! The subject is SOME{principal}, or ANY when the request carried no credentials. The object is
//! SOME{value} (the [`Object::value`](meseta_types::authorization::Object::value) the daemon
//! filled in), ANY when the request has no value, and always ANY for `view_flags`,
//! `register_agents` and `mark_agents_gone`. The action's rules are tried in order; the first
//! rule whose principals and objects both *match* decides, by whether both *allow*; when none
//! matches, `permissive` decides.
//!
//! | request \ rule | SOME | NONE | ANY |
//! |---|---|---|---|
//! | *matches* SOME | request ⊆ values | yes | yes |
//! | *matches* ANY  | no | yes | yes |
//! | *allows* SOME  | request ⊆ values | no | yes |
//! | *allows* ANY   | no | no | yes |
//!
//! So an unauthenticated request skips the rules that name principals (SOME) and is decided by
//! the first rule whose principals are ANY (allowed, if the object allows) or NONE (denied).
//!
//! For the actions whose object is a role (`register_frameworks`, `reserve_resources`,
//! `create_volumes`, `update_weights`, `view_roles`, `get_quotas`, `update_quotas`), a value
//! ending in `/%` (`eng/%`) stands for every strict descendant of `eng` (`eng/a`, `eng/a/b`,
//! not `eng`): a rule with such values is split, as Mesos does, into one rule per `/%` value
//! followed by one with the remaining values. For other actions `/%` is an ordinary value.
//!
//! # Validation
//!
//! As Mesos: the objects of `view_flags`, `register_agents` and the other actions whose object
//! is always ANY must be of type ANY or NONE (so is `mark_agents_gone`'s, which Mesos does not
//! check but could never match), and the `paths` of `get_endpoints` must be endpoints Mesos
//! authorizes. Unlike Mesos' protobuf parser, every error names where it is and how to fix it.

use meseta_types::authorization::{Action, AuthorizerPolicy, Request};
use meseta_types::{Create, Parameters, closest, parameter};
use serde_json::{Map, Value};

/// Every ACL key of Mesos 1.11 (`ACLs` in `acls.proto`) with the name of its object field.
pub const MESOS_ACLS: &[(&str, &str)] = &[
    ("register_frameworks", "roles"),
    ("run_tasks", "users"),
    ("reserve_resources", "roles"),
    ("unreserve_resources", "reserver_principals"),
    ("create_volumes", "roles"),
    ("destroy_volumes", "creator_principals"),
    ("teardown_frameworks", "framework_principals"),
    ("update_weights", "roles"),
    ("get_endpoints", "paths"),
    ("get_quotas", "roles"),
    ("update_quotas", "roles"),
    ("view_frameworks", "users"),
    ("view_tasks", "users"),
    ("view_executors", "users"),
    ("access_sandboxes", "users"),
    ("access_mesos_logs", "logs"),
    ("view_roles", "roles"),
    ("view_flags", "flags"),
    ("launch_nested_containers_as_user", "users"),
    ("launch_nested_containers_under_parent_with_user", "users"),
    ("kill_nested_containers", "users"),
    ("wait_nested_containers", "users"),
    ("launch_nested_container_sessions_as_user", "users"),
    (
        "launch_nested_container_sessions_under_parent_with_user",
        "users",
    ),
    ("attach_containers_input", "users"),
    ("attach_containers_output", "users"),
    ("view_containers", "users"),
    ("set_log_level", "level"),
    ("remove_nested_containers", "users"),
    ("register_agents", "agents"),
    ("update_maintenance_schedules", "machines"),
    ("get_maintenance_schedules", "machines"),
    ("start_maintenances", "machines"),
    ("stop_maintenances", "machines"),
    ("get_maintenance_statuses", "machines"),
    ("drain_agents", "agents"),
    ("deactivate_agents", "agents"),
    ("reactivate_agents", "agents"),
    ("mark_agents_gone", "agents"),
    ("launch_standalone_containers", "users"),
    ("kill_standalone_containers", "users"),
    ("wait_standalone_containers", "users"),
    ("remove_standalone_containers", "users"),
    ("view_standalone_containers", "users"),
    ("modify_resource_provider_configs", "resource_providers"),
    ("mark_resource_providers_gone", "resource_providers"),
    ("view_resource_providers", "resource_providers"),
    ("prune_images", "images"),
    ("resize_volumes", "roles"),
    ("create_block_disks", "roles"),
    ("destroy_block_disks", "roles"),
    ("create_mount_disks", "roles"),
    ("destroy_mount_disks", "roles"),
    ("destroy_raw_disks", "roles"),
];

/// Keys whose object is always ANY: their rules' objects must be ANY or NONE (Mesos'
/// `LocalAuthorizer::validate`, plus `mark_agents_gone`).
const OBJECT_ANY_OR_NONE: &[&str] = &[
    "access_mesos_logs",
    "view_flags",
    "set_log_level",
    "register_agents",
    "update_maintenance_schedules",
    "get_maintenance_schedules",
    "start_maintenances",
    "stop_maintenances",
    "get_maintenance_statuses",
    "drain_agents",
    "deactivate_agents",
    "reactivate_agents",
    "mark_agents_gone",
    "launch_standalone_containers",
    "kill_standalone_containers",
    "wait_standalone_containers",
    "remove_standalone_containers",
    "view_standalone_containers",
    "mark_resource_providers_gone",
    "view_resource_providers",
    "modify_resource_provider_configs",
    "prune_images",
];

/// The paths `get_endpoints` rules may name (Mesos' `AUTHORIZABLE_ENDPOINTS`).
pub const AUTHORIZABLE_ENDPOINTS: &[&str] = &[
    "/containers",
    "/containerizer/debug",
    "/files/debug",
    "/logging/toggle",
    "/metrics/snapshot",
    "/monitor/statistics",
];

/// An ACL entity: a set of principals or objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entity {
    /// These values (Mesos' default type).
    Some(Vec<String>),
    /// Anyone or anything.
    Any,
    /// No one, nothing.
    None,
}

/// One rule of an action, after `/%` values were split out.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    principals: Entity,
    objects: Entity,
    /// For a `/%` rule of a role action: the prefix a descendant starts with (`eng/`).
    descendants_of: Option<String>,
}

/// Mesos' local authorizer: the rules of every action Meseta checks, and `permissive`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalAuthorizer {
    permissive: bool,
    /// Indexed by `Action as usize` (the order of `Action::ALL`).
    rules: Vec<Vec<Rule>>,
    ignored: Vec<String>,
}

impl Default for LocalAuthorizer {
    /// No ACLs: everything is allowed.
    fn default() -> Self {
        LocalAuthorizer {
            permissive: true,
            rules: vec![Vec::new(); Action::ALL.len()],
            ignored: Vec::new(),
        }
    }
}

/// Whether the action's object is a role, whose `/%` values name descendants.
fn hierarchical(action: Action) -> bool {
    matches!(
        action,
        Action::RegisterFramework
            | Action::ReserveResources
            | Action::CreateVolume
            | Action::UpdateWeight
            | Action::ViewRole
            | Action::GetQuota
            | Action::UpdateQuota
    )
}

/// The request's object as Mesos' local authorizer builds it: `None` is ANY.
fn object_of(request: &Request) -> Option<&str> {
    match request.action {
        Action::ViewFlags | Action::RegisterAgent | Action::MarkAgentGone => None,
        _ => request.object.value.as_deref(),
    }
}

/// Mesos' match matrix, for a request entity that is SOME{value} (`Some`) or ANY (`None`).
fn matches(request: Option<&str>, acl: &Entity) -> bool {
    match (request, acl) {
        (_, Entity::Any | Entity::None) => true,
        (None, Entity::Some(_)) => false,
        (Some(v), Entity::Some(values)) => values.iter().any(|x| x == v),
    }
}

/// Mesos' allow matrix, for the same request entities.
fn allows(request: Option<&str>, acl: &Entity) -> bool {
    match (request, acl) {
        (_, Entity::Any) => true,
        (_, Entity::None) => false,
        (None, Entity::Some(_)) => false,
        (Some(v), Entity::Some(values)) => values.iter().any(|x| x == v),
    }
}

impl LocalAuthorizer {
    /// Parses and validates Mesos' `--acls` JSON.
    pub fn from_json(text: &str) -> Result<LocalAuthorizer, String> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("the ACLs are not valid JSON: {e}"))?;
        let Value::Object(top) = value else {
            return Err(format!(
                "the ACLs must be a JSON object such as {{\"permissive\": false, \
                 \"register_frameworks\": [...]}}, not {}",
                kind_of(&value)
            ));
        };
        let mut out = LocalAuthorizer::default();
        for (key, value) in &top {
            if key == "permissive" {
                out.permissive = value.as_bool().ok_or_else(|| {
                    format!("'permissive' must be true or false, not {}", kind_of(value))
                })?;
                continue;
            }
            let Some(&(_, field)) = MESOS_ACLS.iter().find(|(k, _)| k == key) else {
                return Err(unknown_key(key));
            };
            let rules = parse_rules(key, field, value)?;
            match Action::ALL.iter().find(|a| a.acl_key() == key) {
                Some(&action) => out.rules[action as usize] = split(action, rules),
                None => out.ignored.push(key.clone()),
            }
        }
        Ok(out)
    }

    /// Whether requests no rule matches are allowed.
    pub fn permissive(&self) -> bool {
        self.permissive
    }

    /// Mesos ACL keys the ACLs set that Meseta does not check yet (their rules are ignored).
    pub fn ignored(&self) -> &[String] {
        &self.ignored
    }

    /// Whether every request is allowed: permissive with no rule for any action checked.
    pub fn allows_everything(&self) -> bool {
        self.permissive && self.rules.iter().all(Vec::is_empty)
    }

    /// Whether every request for `action` is allowed: permissive with no rule for it.
    pub fn allows_all(&self, action: Action) -> bool {
        self.permissive && self.rules[action as usize].is_empty()
    }

    /// The decision for one request.
    pub fn decide(&self, request: &Request) -> bool {
        let subject = request.subject.as_deref();
        let object = object_of(request);
        for rule in &self.rules[request.action as usize] {
            match &rule.descendants_of {
                None => {
                    if matches(subject, &rule.principals) && matches(object, &rule.objects) {
                        return allows(subject, &rule.principals) && allows(object, &rule.objects);
                    }
                }
                Some(prefix) => {
                    // a descendant matches the rule, and its objects then count as ANY
                    let descendant = object.is_some_and(|o| o.starts_with(prefix.as_str()));
                    if descendant && matches(subject, &rule.principals) {
                        return allows(subject, &rule.principals);
                    }
                }
            }
        }
        self.permissive
    }
}

impl Create for LocalAuthorizer {
    /// The parameter `acls` holds the JSON; without it there are no ACLs (everything allowed).
    fn create(parameters: &Parameters) -> Result<Self, String> {
        match parameter(parameters, "acls") {
            None => Ok(LocalAuthorizer::default()),
            Some(text) => {
                LocalAuthorizer::from_json(text).map_err(|e| format!("parameter 'acls': {e}"))
            }
        }
    }
}

impl AuthorizerPolicy for LocalAuthorizer {
    fn authorized(&mut self, request: &Request) -> Result<bool, String> {
        Ok(self.decide(request))
    }
}

fn kind_of(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

fn unknown_key(key: &str) -> String {
    let keys: Vec<&str> = MESOS_ACLS.iter().map(|(k, _)| *k).collect();
    let hint = closest(key, &keys)
        .map(|k| format!("did you mean '{k}'? "))
        .unwrap_or_default();
    let checked: Vec<&str> = Action::ALL.iter().map(|a| a.acl_key()).collect();
    format!(
        "'{key}' is not a Mesos ACL key; {hint}the keys are 'permissive' and Mesos' ACL names \
         (acls.proto); Meseta checks {}",
        checked.join(", ")
    )
}

fn parse_rules(key: &str, field: &str, value: &Value) -> Result<Vec<(Entity, Entity)>, String> {
    let Value::Array(items) = value else {
        return Err(format!(
            "'{key}' must be a list of rules such as [{{\"principals\": {{\"type\": \"ANY\"}}, \
             \"{field}\": {{\"values\": [...]}}}}], not {}",
            kind_of(value)
        ));
    };
    let mut rules = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("{key}[{i}]");
        let Value::Object(rule) = item else {
            return Err(format!(
                "{at} must be an object with 'principals' and '{field}', not {}",
                kind_of(item)
            ));
        };
        rules.push(parse_rule(&at, key, field, rule)?);
    }
    Ok(rules)
}

fn parse_rule(
    at: &str,
    key: &str,
    field: &str,
    rule: &Map<String, Value>,
) -> Result<(Entity, Entity), String> {
    for name in rule.keys() {
        if name != "principals" && name != field {
            let belongs: Vec<&str> = MESOS_ACLS
                .iter()
                .filter(|(_, f)| f == name)
                .map(|(k, _)| *k)
                .take(4)
                .collect();
            let elsewhere = if belongs.is_empty() {
                String::new()
            } else {
                format!(" ('{name}' is the object of {})", belongs.join(", "))
            };
            return Err(format!(
                "{at}: '{name}' is not a field of a '{key}' rule, whose fields are 'principals' \
                 and '{field}'{elsewhere}; write \"{field}\": {{...}}"
            ));
        }
    }
    let entity = |name: &str| -> Result<Entity, String> {
        let v = rule.get(name).ok_or_else(|| {
            format!(
                "{at}: '{name}' is required (use {{\"type\": \"ANY\"}} for any, \
                 {{\"type\": \"NONE\"}} for none)"
            )
        })?;
        parse_entity(&format!("{at}.{name}"), v)
    };
    let principals = entity("principals")?;
    let objects = entity(field)?;
    if OBJECT_ANY_OR_NONE.contains(&key) && matches!(objects, Entity::Some(_)) {
        return Err(format!(
            "{at}.{field}: the object of '{key}' can only be {{\"type\": \"ANY\"}} or \
             {{\"type\": \"NONE\"}} (the request never names one), not a list of values"
        ));
    }
    if key == "get_endpoints"
        && let Entity::Some(paths) = &objects
    {
        for path in paths {
            if !AUTHORIZABLE_ENDPOINTS.contains(&path.as_str()) {
                return Err(format!(
                    "{at}.paths: '{path}' is not an endpoint whose access is authorized; the \
                     paths are {}",
                    AUTHORIZABLE_ENDPOINTS.join(", ")
                ));
            }
        }
    }
    Ok((principals, objects))
}

fn parse_entity(at: &str, v: &Value) -> Result<Entity, String> {
    let Value::Object(e) = v else {
        return Err(format!(
            "{at} must be an object such as {{\"values\": [\"a\", \"b\"]}} or \
             {{\"type\": \"ANY\"}}, not {}",
            kind_of(v)
        ));
    };
    for name in e.keys() {
        if name != "type" && name != "values" {
            return Err(format!(
                "{at}: unknown field '{name}'; an entity has 'type' (SOME, ANY or NONE) and \
                 'values'"
            ));
        }
    }
    let kind = match e.get("type") {
        None | Some(Value::Null) => "SOME",
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(format!(
                "{at}.type must be \"SOME\", \"ANY\" or \"NONE\", not {}",
                kind_of(other)
            ));
        }
    };
    let values = match e.get("values") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let mut values = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) => values.push(s.clone()),
                    other => {
                        return Err(format!(
                            "{at}.values[{i}] must be a string, not {}",
                            kind_of(other)
                        ));
                    }
                }
            }
            values
        }
        Some(other) => {
            return Err(format!(
                "{at}.values must be a list of strings, not {}",
                kind_of(other)
            ));
        }
    };
    match kind {
        "SOME" => Ok(Entity::Some(values)),
        "ANY" => Ok(Entity::Any),
        "NONE" => Ok(Entity::None),
        other => Err(format!(
            "{at}.type must be \"SOME\", \"ANY\" or \"NONE\" (upper case), not {other:?}"
        )),
    }
}

/// Mesos' `createHierarchicalRoleACLs`: for role actions, each `/%` value of a SOME rule
/// becomes a rule of its own, followed by one with the rule's other values.
fn split(action: Action, rules: Vec<(Entity, Entity)>) -> Vec<Rule> {
    let mut out = Vec::with_capacity(rules.len());
    for (principals, objects) in rules {
        match objects {
            Entity::Some(values) if hierarchical(action) => {
                let mut plain = Vec::new();
                for value in values {
                    if let Some(parent) = value.strip_suffix('%').filter(|p| p.ends_with('/')) {
                        out.push(Rule {
                            principals: principals.clone(),
                            objects: Entity::Some(vec![value.clone()]),
                            descendants_of: Some(parent.to_string()),
                        });
                    } else {
                        plain.push(value);
                    }
                }
                if !plain.is_empty() {
                    out.push(Rule {
                        principals,
                        objects: Entity::Some(plain),
                        descendants_of: None,
                    });
                }
            }
            objects => out.push(Rule {
                principals,
                objects,
                descendants_of: None,
            }),
        }
    }
    out
}

#[cfg(target_arch = "wasm32")]
meseta_sdk::export_authorizer!(LocalAuthorizer);

#[cfg(test)]
mod tests;
