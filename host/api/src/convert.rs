//! Conversions between the wire types and `meseta_types`' domain model.
//!
//! Wire to domain may fail ([`ConversionError`]): a resource without a value, a negative scalar,
//! a secret environment variable. Domain to wire never fails. Resources go out in Mesos'
//! pre-refinement format (`role` set, `"*"` when unreserved), which every client reads.

use meseta_types::hooks as h;
use meseta_types::resources as t;

use crate::common::{
    AgentInfo, Attribute, CommandInfo, ContainerID, ContainerStatus, DiskInfo, DiskVolume,
    Environment, ExecutorInfo, FrameworkInfo, IpAddress, Label, Labels, NetworkInfo, Persistence,
    Range, Ranges, ReservationInfo, ReservationType, Resource, RevocableInfo, Scalar, Set,
    TaskInfo, TaskStatus, Text, ValueType, Variable, VariableType,
};

/// A wire message that cannot be represented in the domain model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConversionError(pub String);

fn ranges_to_wire(ranges: &[t::ValueRange]) -> Ranges {
    Ranges {
        range: ranges
            .iter()
            .map(|r| Range {
                begin: r.begin,
                end: r.end,
            })
            .collect(),
    }
}

fn ranges_from_wire(name: &str, ranges: &Ranges) -> Result<Vec<t::ValueRange>, ConversionError> {
    ranges
        .range
        .iter()
        .map(|r| {
            if r.begin > r.end {
                Err(ConversionError(format!(
                    "'{name}' has a range whose begin {} is after its end {}",
                    r.begin, r.end
                )))
            } else {
                Ok(t::ValueRange {
                    begin: r.begin,
                    end: r.end,
                })
            }
        })
        .collect()
}

// Resources -----------------------------------------------------------------------------------

impl From<&t::Resource> for Resource {
    fn from(r: &t::Resource) -> Self {
        let stack = r.stack();
        let mut out = Resource {
            name: r.name.clone(),
            role: Some(r.role.clone().unwrap_or_else(|| "*".to_string())),
            revocable: r.revocable.then_some(RevocableInfo {}),
            // The innermost dynamic reservation in the pre-refinement form too, as Mesos'
            // endpoints write it.
            reservation: stack
                .last()
                .filter(|x| x.kind == t::ReservationKind::Dynamic)
                .map(|x| ReservationInfo {
                    principal: x.principal.clone(),
                    labels: labels_to_wire(&x.labels),
                    ..ReservationInfo::default()
                }),
            reservations: stack.iter().map(reservation_to_wire).collect(),
            disk: r.disk.as_ref().map(|v| DiskInfo {
                persistence: Some(Persistence {
                    id: v.id.clone(),
                    principal: v.principal.clone(),
                }),
                volume: Some(DiskVolume {
                    container_path: v.container_path.clone(),
                    mode: Some(if v.read_only { "RO" } else { "RW" }.to_string()),
                    host_path: None,
                }),
                source: None,
            }),
            ..Resource::default()
        };
        match &r.value {
            t::ResourceValue::Scalar(v) => {
                out.kind = Some(ValueType::Scalar);
                out.scalar = Some(Scalar { value: *v });
            }
            t::ResourceValue::Ranges(ranges) => {
                out.kind = Some(ValueType::Ranges);
                out.ranges = Some(ranges_to_wire(ranges));
            }
            t::ResourceValue::Set(items) => {
                out.kind = Some(ValueType::Set);
                out.set = Some(Set {
                    item: items.clone(),
                });
            }
        }
        out
    }
}

impl TryFrom<&Resource> for t::Resource {
    type Error = ConversionError;

    /// The domain `role` is the reservation role ([`Resource::reservation_role`]); `None` when
    /// unreserved. `allocation_info` is not part of the domain resource.
    fn try_from(r: &Resource) -> Result<Self, ConversionError> {
        let name = &r.name;
        if name.is_empty() {
            return Err(ConversionError("a resource has no name".to_string()));
        }
        let missing = |what: &str| ConversionError(format!("resource '{name}' has no '{what}'"));
        let value = match r.value_type() {
            Some(ValueType::Scalar) => {
                let v = r.scalar.ok_or_else(|| missing("scalar"))?.value;
                if !v.is_finite() || v < 0.0 {
                    return Err(ConversionError(format!(
                        "resource '{name}' must be a non-negative number, got {v}"
                    )));
                }
                t::ResourceValue::Scalar(v)
            }
            Some(ValueType::Ranges) => t::ResourceValue::Ranges(ranges_from_wire(
                name,
                r.ranges.as_ref().ok_or_else(|| missing("ranges"))?,
            )?),
            Some(ValueType::Set) => {
                t::ResourceValue::Set(r.set.as_ref().ok_or_else(|| missing("set"))?.item.clone())
            }
            Some(ValueType::Text) => {
                return Err(ConversionError(format!(
                    "resource '{name}' is of type TEXT, which resources cannot be"
                )));
            }
            None => return Err(missing("type")),
        };
        let stack = reservations_from_wire(r)?;
        let disk = match &r.disk {
            Some(d) => match &d.persistence {
                Some(p) => {
                    if name != "disk" {
                        return Err(ConversionError(format!(
                            "resource '{name}' has a persistent volume, which only 'disk' can have"
                        )));
                    }
                    if p.id.is_empty() {
                        return Err(ConversionError(
                            "a persistent volume has an empty 'disk.persistence.id'".to_string(),
                        ));
                    }
                    let volume = d.volume.clone().unwrap_or_default();
                    let read_only = match volume.mode.as_deref() {
                        None | Some("RW") => false,
                        Some("RO") => true,
                        Some(m) => {
                            return Err(ConversionError(format!(
                                "persistent volume '{}' has mode '{m}'; use RW or RO",
                                p.id
                            )));
                        }
                    };
                    Some(t::PersistentVolume {
                        id: p.id.clone(),
                        principal: p.principal.clone(),
                        container_path: volume.container_path,
                        read_only,
                    })
                }
                None => None,
            },
            None => None,
        };
        Ok(t::Resource {
            name: name.clone(),
            value,
            role: None,
            revocable: r.is_revocable(),
            reservations: Vec::new(),
            disk,
        }
        .with_stack(stack))
    }
}

fn reservation_to_wire(x: &t::Reservation) -> ReservationInfo {
    ReservationInfo {
        kind: Some(match x.kind {
            t::ReservationKind::Static => ReservationType::Static,
            t::ReservationKind::Dynamic => ReservationType::Dynamic,
        }),
        role: Some(x.role.clone()),
        principal: x.principal.clone(),
        labels: labels_to_wire(&x.labels),
    }
}

/// The reservation stack of a wire resource, outermost first: `reservations` (post-refinement),
/// else `role` with `reservation` (dynamic) or without (static).
fn reservations_from_wire(r: &Resource) -> Result<Vec<t::Reservation>, ConversionError> {
    let labels = |l: &Option<Labels>| labels_from_wire(l.as_ref());
    if !r.reservations.is_empty() {
        let mut out = Vec::new();
        for x in &r.reservations {
            let role = x.role.clone().filter(|r| !r.is_empty() && r != "*").ok_or_else(|| {
                ConversionError(format!(
                    "a reservation of resource '{}' has no 'role' (each entry of 'reservations' names the role it reserves for)",
                    r.name
                ))
            })?;
            // A missing type reads as DYNAMIC: what a framework building the stack by hand
            // means (static reservations come only from agents, which always type them).
            let kind = match x.kind {
                Some(ReservationType::Static) => t::ReservationKind::Static,
                _ => t::ReservationKind::Dynamic,
            };
            out.push(t::Reservation {
                kind,
                role,
                principal: x.principal.clone(),
                labels: labels(&x.labels),
            });
        }
        return Ok(out);
    }
    let role = match r.role.as_deref() {
        None | Some("*") | Some("") => return Ok(Vec::new()),
        Some(role) => role.to_string(),
    };
    Ok(vec![match &r.reservation {
        Some(x) => t::Reservation {
            kind: t::ReservationKind::Dynamic,
            role,
            principal: x.principal.clone(),
            labels: labels(&x.labels),
        },
        None => t::Reservation {
            kind: t::ReservationKind::Static,
            role,
            principal: None,
            labels: Vec::new(),
        },
    }])
}

/// Domain resources as Mesos writes them (`role` `"*"` when unreserved).
pub fn resources_to_wire(resources: &[t::Resource]) -> Vec<Resource> {
    resources.iter().map(Resource::from).collect()
}

/// Wire resources in the domain model; the first that does not convert is the error.
pub fn resources_from_wire(resources: &[Resource]) -> Result<Vec<t::Resource>, ConversionError> {
    resources.iter().map(t::Resource::try_from).collect()
}

// Attributes ----------------------------------------------------------------------------------

impl From<&t::Attribute> for Attribute {
    fn from(a: &t::Attribute) -> Self {
        let mut out = Attribute {
            name: a.name.clone(),
            ..Attribute::default()
        };
        match &a.value {
            t::AttributeValue::Scalar(v) => {
                out.kind = Some(ValueType::Scalar);
                out.scalar = Some(Scalar { value: *v });
            }
            t::AttributeValue::Ranges(r) => {
                out.kind = Some(ValueType::Ranges);
                out.ranges = Some(ranges_to_wire(r));
            }
            t::AttributeValue::Set(items) => {
                out.kind = Some(ValueType::Set);
                out.set = Some(Set {
                    item: items.clone(),
                });
            }
            t::AttributeValue::Text(s) => {
                out.kind = Some(ValueType::Text);
                out.text = Some(Text { value: s.clone() });
            }
        }
        out
    }
}

impl TryFrom<&Attribute> for t::Attribute {
    type Error = ConversionError;

    fn try_from(a: &Attribute) -> Result<Self, ConversionError> {
        let name = &a.name;
        let missing = |what: &str| ConversionError(format!("attribute '{name}' has no '{what}'"));
        let kind = a.kind.or(if a.text.is_some() {
            Some(ValueType::Text)
        } else if a.scalar.is_some() {
            Some(ValueType::Scalar)
        } else if a.ranges.is_some() {
            Some(ValueType::Ranges)
        } else if a.set.is_some() {
            Some(ValueType::Set)
        } else {
            None
        });
        let value = match kind {
            Some(ValueType::Scalar) => {
                t::AttributeValue::Scalar(a.scalar.ok_or_else(|| missing("scalar"))?.value)
            }
            Some(ValueType::Ranges) => t::AttributeValue::Ranges(ranges_from_wire(
                name,
                a.ranges.as_ref().ok_or_else(|| missing("ranges"))?,
            )?),
            Some(ValueType::Set) => {
                t::AttributeValue::Set(a.set.as_ref().ok_or_else(|| missing("set"))?.item.clone())
            }
            Some(ValueType::Text) => t::AttributeValue::Text(
                a.text
                    .as_ref()
                    .ok_or_else(|| missing("text"))?
                    .value
                    .clone(),
            ),
            None => return Err(missing("type")),
        };
        Ok(t::Attribute {
            name: name.clone(),
            value,
        })
    }
}

pub fn attributes_to_wire(attributes: &[t::Attribute]) -> Vec<Attribute> {
    attributes.iter().map(Attribute::from).collect()
}

pub fn attributes_from_wire(
    attributes: &[Attribute],
) -> Result<Vec<t::Attribute>, ConversionError> {
    attributes.iter().map(t::Attribute::try_from).collect()
}

// Labels --------------------------------------------------------------------------------------

impl From<&t::Label> for Label {
    fn from(l: &t::Label) -> Self {
        Label {
            key: l.key.clone(),
            value: l.value.clone(),
        }
    }
}

impl From<&Label> for t::Label {
    fn from(l: &Label) -> Self {
        t::Label {
            key: l.key.clone(),
            value: l.value.clone(),
        }
    }
}

impl From<&[t::Label]> for Labels {
    fn from(labels: &[t::Label]) -> Self {
        Labels {
            labels: labels.iter().map(Label::from).collect(),
        }
    }
}

/// The labels of an optional `labels` field (empty when absent).
pub fn labels_from_wire(labels: Option<&Labels>) -> Vec<t::Label> {
    labels
        .map(|l| l.labels.iter().map(t::Label::from).collect())
        .unwrap_or_default()
}

/// `None` for no labels, so that the field is omitted.
pub fn labels_to_wire(labels: &[t::Label]) -> Option<Labels> {
    (!labels.is_empty()).then(|| Labels::from(labels))
}

// Environment ---------------------------------------------------------------------------------

impl From<&t::EnvVar> for Variable {
    fn from(v: &t::EnvVar) -> Self {
        Variable {
            name: v.name.clone(),
            kind: Some(VariableType::Value),
            value: Some(v.value.clone()),
            secret: None,
        }
    }
}

impl TryFrom<&Variable> for t::EnvVar {
    type Error = ConversionError;

    /// `VALUE` (or untyped) variables; `SECRET` ones are refused, Meseta resolves no secrets.
    fn try_from(v: &Variable) -> Result<Self, ConversionError> {
        match &v.kind {
            None | Some(VariableType::Value) | Some(VariableType::Unknown) => Ok(t::EnvVar {
                name: v.name.clone(),
                value: v.value.clone().unwrap_or_default(),
            }),
            Some(other) => Err(ConversionError(format!(
                "environment variable '{}' is of type {other}, which is not supported",
                v.name
            ))),
        }
    }
}

impl From<&[t::EnvVar]> for Environment {
    fn from(vars: &[t::EnvVar]) -> Self {
        Environment {
            variables: vars.iter().map(Variable::from).collect(),
        }
    }
}

/// The variables of an optional `environment` field (empty when absent).
pub fn env_from_wire(env: Option<&Environment>) -> Result<Vec<t::EnvVar>, ConversionError> {
    env.map(|e| e.variables.iter().map(t::EnvVar::try_from).collect())
        .unwrap_or_else(|| Ok(Vec::new()))
}

// Hook views ----------------------------------------------------------------------------------

impl TryFrom<&CommandInfo> for h::CommandInfo {
    type Error = ConversionError;

    fn try_from(c: &CommandInfo) -> Result<Self, ConversionError> {
        Ok(h::CommandInfo {
            shell: c.shell,
            value: c.value.clone(),
            arguments: c.arguments.clone(),
            environment: env_from_wire(c.environment.as_ref())?,
            user: c.user.clone(),
        })
    }
}

impl TryFrom<&TaskInfo> for h::TaskInfo {
    type Error = ConversionError;

    fn try_from(task: &TaskInfo) -> Result<Self, ConversionError> {
        Ok(h::TaskInfo {
            task_id: task.task_id.value.clone(),
            name: task.name.clone(),
            agent_id: task
                .agent_id
                .as_ref()
                .map(|a| a.value.clone())
                .unwrap_or_default(),
            resources: resources_from_wire(&task.resources)?,
            labels: labels_from_wire(task.labels.as_ref()),
            command: task
                .command
                .as_ref()
                .map(h::CommandInfo::try_from)
                .transpose()?,
            executor_id: task.executor.as_ref().map(|e| e.executor_id.value.clone()),
        })
    }
}

impl TryFrom<&ExecutorInfo> for h::ExecutorInfo {
    type Error = ConversionError;

    fn try_from(e: &ExecutorInfo) -> Result<Self, ConversionError> {
        Ok(h::ExecutorInfo {
            executor_id: e.executor_id.value.clone(),
            framework_id: e
                .framework_id
                .as_ref()
                .map(|f| f.value.clone())
                .unwrap_or_default(),
            name: e.name.clone(),
            command: e
                .command
                .as_ref()
                .map(h::CommandInfo::try_from)
                .transpose()?,
            resources: resources_from_wire(&e.resources)?,
            labels: labels_from_wire(e.labels.as_ref()),
        })
    }
}

impl From<&FrameworkInfo> for h::FrameworkInfo {
    fn from(f: &FrameworkInfo) -> Self {
        h::FrameworkInfo {
            framework_id: f.id.as_ref().map(|i| i.value.clone()).unwrap_or_default(),
            name: f.name.clone(),
            user: f.user.clone(),
            roles: f.effective_roles(),
        }
    }
}

impl TryFrom<&AgentInfo> for h::AgentInfo {
    type Error = ConversionError;

    fn try_from(a: &AgentInfo) -> Result<Self, ConversionError> {
        Ok(h::AgentInfo {
            agent_id: a.id.as_ref().map(|i| i.value.clone()).unwrap_or_default(),
            hostname: a.hostname.clone(),
            port: a.port.unwrap_or(5051),
            resources: resources_from_wire(&a.resources)?,
            attributes: attributes_from_wire(&a.attributes)?,
        })
    }
}

impl From<&ContainerStatus> for h::ContainerStatus {
    fn from(c: &ContainerStatus) -> Self {
        h::ContainerStatus {
            container_id: c.container_id.as_ref().map(|i| i.value.clone()),
            executor_pid: c.executor_pid,
            ip_addresses: c
                .network_infos
                .iter()
                .flat_map(|n| n.ip_addresses.iter())
                .filter_map(|ip| ip.ip_address.clone())
                .collect(),
        }
    }
}

impl From<&h::ContainerStatus> for ContainerStatus {
    fn from(c: &h::ContainerStatus) -> Self {
        ContainerStatus {
            container_id: c.container_id.as_deref().map(ContainerID::new),
            network_infos: if c.ip_addresses.is_empty() {
                Vec::new()
            } else {
                vec![NetworkInfo {
                    ip_addresses: c
                        .ip_addresses
                        .iter()
                        .map(|ip| IpAddress {
                            protocol: None,
                            ip_address: Some(ip.clone()),
                        })
                        .collect(),
                    ..NetworkInfo::default()
                }]
            },
            cgroup_info: None,
            executor_pid: c.executor_pid,
        }
    }
}

impl From<&TaskStatus> for h::TaskStatus {
    fn from(s: &TaskStatus) -> Self {
        h::TaskStatus {
            task_id: s.task_id.value.clone(),
            state: s.state.as_str().to_string(),
            executor_id: s.executor_id.as_ref().map(|e| e.value.clone()),
            message: s.message.clone(),
            reason: s.reason.as_ref().map(|r| r.as_str().to_string()),
            source: s.source.as_ref().map(|r| r.as_str().to_string()),
            labels: labels_from_wire(s.labels.as_ref()),
            container_status: s.container_status.as_ref().map(h::ContainerStatus::from),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::{AllocationInfo, ReservationInfo};

    #[test]
    fn resources_round_trip_through_the_domain() {
        let domain =
            t::parse_resources("cpus:2;mem(prod):512;ports:[31000-32000];disks:{a,b}").unwrap();
        let wire = resources_to_wire(&domain);
        let json = serde_json::to_value(&wire).unwrap();
        assert_eq!(
            json[0],
            serde_json::json!({"name":"cpus","type":"SCALAR","scalar":{"value":2.0},"role":"*"})
        );
        assert_eq!(json[1]["role"], "prod");
        assert_eq!(
            json[2],
            serde_json::json!({"name":"ports","type":"RANGES",
                "ranges":{"range":[{"begin":31000,"end":32000}]},"role":"*"})
        );
        assert_eq!(json[3]["set"]["item"], serde_json::json!(["a", "b"]));
        assert_eq!(resources_from_wire(&wire).unwrap(), domain);
    }

    #[test]
    fn resource_roles_and_revocability() {
        // No role, no allocation_info, no reservations: unreserved (rule 19).
        let bare: Resource =
            serde_json::from_str(r#"{"name":"cpus","type":"SCALAR","scalar":{"value":1}}"#)
                .unwrap();
        assert_eq!(bare.reservation_role(), "*");
        assert_eq!(bare.allocation_role(), None);
        assert_eq!(
            t::Resource::try_from(&bare).unwrap(),
            t::Resource::scalar("cpus", 1.0)
        );

        let refined = Resource {
            reservations: vec![ReservationInfo {
                role: Some("a/b".into()),
                ..Default::default()
            }],
            allocation_info: Some(AllocationInfo {
                role: Some("a/b".into()),
            }),
            revocable: Some(RevocableInfo {}),
            ..Resource::scalar("mem", 64.0)
        };
        let d = t::Resource::try_from(&refined).unwrap();
        assert_eq!(d.role.as_deref(), Some("a/b"));
        assert!(d.revocable);
        let back = Resource::from(&d);
        assert_eq!(
            serde_json::to_value(back.revocable).unwrap(),
            serde_json::json!({})
        );

        // Type inferred when missing; negative, valueless and TEXT resources refused.
        let untyped: Resource =
            serde_json::from_str(r#"{"name":"gpus","scalar":{"value":1}}"#).unwrap();
        assert!(t::Resource::try_from(&untyped).is_ok());
        for bad in [
            r#"{"name":"cpus","type":"SCALAR","scalar":{"value":-1}}"#,
            r#"{"name":"cpus","type":"SCALAR"}"#,
            r#"{"name":"cpus"}"#,
            r#"{"name":"x","type":"TEXT"}"#,
            r#"{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":5,"end":4}]}}"#,
        ] {
            let r: Resource = serde_json::from_str(bad).unwrap();
            assert!(t::Resource::try_from(&r).is_err(), "{bad}");
        }
    }

    #[test]
    fn attributes_labels_and_environment() {
        let attrs = vec![
            t::Attribute {
                name: "rack".into(),
                value: t::AttributeValue::Text("r1".into()),
            },
            t::Attribute {
                name: "weight".into(),
                value: t::AttributeValue::Scalar(3.0),
            },
        ];
        let wire = attributes_to_wire(&attrs);
        assert_eq!(
            serde_json::to_value(&wire[0]).unwrap(),
            serde_json::json!({"name":"rack","type":"TEXT","text":{"value":"r1"}})
        );
        assert_eq!(attributes_from_wire(&wire).unwrap(), attrs);

        let labels = vec![t::Label {
            key: "k".into(),
            value: None,
        }];
        let wire = labels_to_wire(&labels).unwrap();
        assert_eq!(
            serde_json::to_value(&wire).unwrap(),
            serde_json::json!({"labels":[{"key":"k"}]})
        );
        assert_eq!(labels_from_wire(Some(&wire)), labels);
        assert_eq!(labels_to_wire(&[]), None);

        let env: Environment = serde_json::from_str(
            r#"{"variables":[{"name":"A","type":"VALUE","value":"1"},{"name":"B","value":null}]}"#,
        )
        .unwrap();
        let vars = env_from_wire(Some(&env)).unwrap();
        assert_eq!(vars[0].value, "1");
        assert_eq!(vars[1].value, "");
        let secret: Environment =
            serde_json::from_str(r#"{"variables":[{"name":"S","type":"SECRET","secret":{}}]}"#)
                .unwrap();
        assert!(
            env_from_wire(Some(&secret))
                .unwrap_err()
                .0
                .contains("SECRET")
        );
    }

    #[test]
    fn hook_views() {
        let task: TaskInfo = serde_json::from_str(
            r#"{"name":"t","task_id":{"value":"t1"},"agent_id":{"value":"a1"},
                "resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":0.5}}],
                "command":{"value":"echo hi","environment":{"variables":[{"name":"X","value":"y"}]}},
                "labels":{"labels":[{"key":"a","value":"b"}]}}"#,
        )
        .unwrap();
        let view = h::TaskInfo::try_from(&task).unwrap();
        assert_eq!(view.task_id, "t1");
        assert_eq!(view.agent_id, "a1");
        assert_eq!(view.labels[0].value.as_deref(), Some("b"));
        let cmd = view.command.unwrap();
        assert!(cmd.shell);
        assert_eq!(cmd.environment[0].name, "X");

        let status: TaskStatus = serde_json::from_str(
            r#"{"task_id":{"value":"t1"},"state":"TASK_RUNNING","reason":"REASON_FOO",
                "container_status":{"network_infos":[{"ip_addresses":[{"ip_address":"10.0.0.1"}]}]}}"#,
        )
        .unwrap();
        let view = h::TaskStatus::from(&status);
        assert_eq!(view.state, "TASK_RUNNING");
        assert_eq!(view.reason.as_deref(), Some("REASON_FOO"));
        let cs = view.container_status.unwrap();
        assert_eq!(cs.ip_addresses, vec!["10.0.0.1".to_string()]);
        let back = ContainerStatus::from(&cs);
        assert_eq!(
            back.network_infos[0].ip_addresses[0].ip_address.as_deref(),
            Some("10.0.0.1")
        );

        let fw: FrameworkInfo =
            serde_json::from_str(r#"{"user":"u","name":"n","role":"r"}"#).unwrap();
        assert_eq!(h::FrameworkInfo::from(&fw).roles, vec!["r".to_string()]);
    }
}
