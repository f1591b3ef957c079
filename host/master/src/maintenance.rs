//! Maintenance over HTTP: `/master/maintenance/schedule` (GET, POST), `/maintenance/status`,
//! `/machine/down`, `/machine/up`, and the operator calls GET_MAINTENANCE_STATUS,
//! GET_MAINTENANCE_SCHEDULE, UPDATE_MAINTENANCE_SCHEDULE, START_MAINTENANCE,
//! STOP_MAINTENANCE, DRAIN_AGENT, DEACTIVATE_AGENT and REACTIVATE_AGENT.
//!
//! Each change is checked against the core first (nothing changes on a 400), stored in the
//! registry, then handed to the core (see `core/maintenance.rs`).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use meseta_api::common::AgentID;
use meseta_api::maintenance::{MachineID, Schedule};
use meseta_registry::{AgentDrainRecord, DrainRecord, Operation};
use serde_json::{Value, json};

use crate::core::{DRAINING, Input, MasterError};
use crate::server::{Shared, answer, json};

/// The maintenance endpoints (readwrite realm, as in Mesos).
pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/master/maintenance/schedule", any(schedule_endpoint))
        .route("/maintenance/schedule", any(schedule_endpoint))
        .route("/master/maintenance/status", get(status_endpoint))
        .route("/maintenance/status", get(status_endpoint))
        .route("/master/machine/down", post(down_endpoint))
        .route("/machine/down", post(down_endpoint))
        .route("/master/machine/up", post(up_endpoint))
        .route("/machine/up", post(up_endpoint))
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, MasterError> {
    meseta_api::limits::check(body).map_err(|e| MasterError::Invalid(e.to_string()))?;
    serde_json::from_slice(body).map_err(|e| {
        MasterError::Invalid(format!("Failed to parse the request body into {what}: {e}"))
    })
}

async fn schedule_endpoint(
    State(shared): State<Shared>,
    method: Method,
    body: Bytes,
) -> Result<Response, MasterError> {
    match method {
        Method::GET => Ok(json(StatusCode::OK, &schedule_json(&shared))),
        Method::POST => {
            let schedule: Schedule =
                parse(&body, "a maintenance schedule (mesos.maintenance.Schedule)")?;
            update_schedule(&shared, schedule).await?;
            Ok(StatusCode::OK.into_response())
        }
        other => Err(MasterError::MethodNotAllowed(format!(
            "Expecting 'GET' or 'POST', received '{other}'"
        ))),
    }
}

async fn status_endpoint(State(shared): State<Shared>) -> Response {
    json(StatusCode::OK, &status_json(&shared))
}

async fn down_endpoint(State(shared): State<Shared>, body: Bytes) -> Result<Response, MasterError> {
    let machines: Vec<MachineID> = parse(
        &body,
        "a list of machines ([{\"hostname\": ..., \"ip\": ...}])",
    )?;
    start_maintenance(&shared, machines).await?;
    Ok(StatusCode::OK.into_response())
}

async fn up_endpoint(State(shared): State<Shared>, body: Bytes) -> Result<Response, MasterError> {
    let machines: Vec<MachineID> = parse(
        &body,
        "a list of machines ([{\"hostname\": ..., \"ip\": ...}])",
    )?;
    stop_maintenance(&shared, machines).await?;
    Ok(StatusCode::OK.into_response())
}

fn schedule_json(shared: &Shared) -> Value {
    shared.read(|core| serde_json::to_value(&core.schedule).unwrap_or_default())
}

fn status_json(shared: &Shared) -> Value {
    shared.read(|core| serde_json::to_value(core.maintenance_status()).unwrap_or_default())
}

async fn update_schedule(shared: &Shared, schedule: Schedule) -> Result<(), MasterError> {
    shared.read(|core| core.check_schedule(&schedule).map_err(MasterError::Invalid))?;
    shared
        .store(Operation::UpdateSchedule(schedule.clone()))
        .await?;
    shared.execute(Input::UpdateSchedule(schedule))?;
    Ok(())
}

async fn start_maintenance(shared: &Shared, machines: Vec<MachineID>) -> Result<(), MasterError> {
    shared.read(|core| {
        core.check_machines_down(&machines)
            .map_err(MasterError::Invalid)
    })?;
    shared
        .store(Operation::StartMaintenance(machines.clone()))
        .await?;
    shared.execute(Input::StartMaintenance(machines))?;
    Ok(())
}

async fn stop_maintenance(shared: &Shared, machines: Vec<MachineID>) -> Result<(), MasterError> {
    shared.read(|core| {
        core.check_machines_up(&machines)
            .map_err(MasterError::Invalid)
    })?;
    shared
        .store(Operation::StopMaintenance(machines.clone()))
        .await?;
    shared.execute(Input::StopMaintenance(machines))?;
    Ok(())
}

/// The call's payload under its lower-case key, parsed; a missing one is Mesos' message.
fn payload<T: serde::de::DeserializeOwned>(call: &Value, kind: &str) -> Result<T, MasterError> {
    let key = kind.to_ascii_lowercase();
    let value = call
        .get(&key)
        .ok_or_else(|| MasterError::Invalid(format!("Expecting '{key}' to be present")))?;
    serde_json::from_value(value.clone())
        .map_err(|e| MasterError::Invalid(format!("Failed to parse '{key}': {e}")))
}

fn agent_id(call: &Value, kind: &str) -> Result<String, MasterError> {
    let key = kind.to_ascii_lowercase();
    call.pointer(&format!("/{key}/agent_id/value"))
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            MasterError::Invalid(format!(
                "{kind} needs '{key}.agent_id.value': the agent's id"
            ))
        })
}

#[derive(serde::Deserialize)]
struct ScheduleCall {
    schedule: Schedule,
}

#[derive(serde::Deserialize)]
struct MachinesCall {
    #[serde(default)]
    machines: Vec<MachineID>,
}

/// `google.protobuf.Duration` as JSON: `{"seconds": N, "nanos": M}` (a string `"600s"` too).
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum ProtoDuration {
    Parts {
        /// int64: a number, or a string as protobuf's JSON writes it.
        #[serde(default)]
        seconds: Value,
        #[serde(default)]
        nanos: i64,
    },
    Text(String),
}

impl ProtoDuration {
    fn seconds(&self) -> Result<f64, String> {
        match self {
            ProtoDuration::Parts { seconds, nanos } => {
                let s = match seconds {
                    Value::Null => 0.0,
                    Value::Number(n) => n.as_f64().unwrap_or(0.0),
                    Value::String(t) => t
                        .parse::<f64>()
                        .map_err(|_| format!("'seconds' is not a number: {t:?}"))?,
                    other => return Err(format!("'seconds' is not a number: {other}")),
                };
                Ok(s + *nanos as f64 / 1e9)
            }
            ProtoDuration::Text(t) => t
                .strip_suffix('s')
                .and_then(|n| n.parse::<f64>().ok())
                .ok_or_else(|| format!("'{t}' is not a duration such as \"600s\"")),
        }
    }
}

#[derive(serde::Deserialize)]
struct DrainCall {
    #[serde(default)]
    max_grace_period: Option<ProtoDuration>,
    #[serde(default)]
    mark_gone: bool,
}

/// One of the maintenance operator calls.
pub(crate) async fn operator_call(
    shared: &Shared,
    kind: &str,
    call: &Value,
) -> Result<Response, MasterError> {
    match kind {
        "GET_MAINTENANCE_STATUS" => Ok(answer(kind, json!({ "status": status_json(shared) }))),
        "GET_MAINTENANCE_SCHEDULE" => {
            Ok(answer(kind, json!({ "schedule": schedule_json(shared) })))
        }
        "UPDATE_MAINTENANCE_SCHEDULE" => {
            let c: ScheduleCall = payload(call, kind)?;
            update_schedule(shared, c.schedule).await?;
            Ok(StatusCode::OK.into_response())
        }
        "START_MAINTENANCE" => {
            let c: MachinesCall = payload(call, kind)?;
            start_maintenance(shared, c.machines).await?;
            Ok(StatusCode::OK.into_response())
        }
        "STOP_MAINTENANCE" => {
            let c: MachinesCall = payload(call, kind)?;
            stop_maintenance(shared, c.machines).await?;
            Ok(StatusCode::OK.into_response())
        }
        "DRAIN_AGENT" => {
            let agent_id = agent_id(call, kind)?;
            let c: DrainCall = payload(call, kind)?;
            let max_grace_period = match &c.max_grace_period {
                None => None,
                Some(d) => {
                    let s = d.seconds().map_err(|e| {
                        MasterError::Invalid(format!("Invalid 'drain_agent.max_grace_period': {e}"))
                    })?;
                    if !(s.is_finite() && s >= 0.0) {
                        return Err(MasterError::Invalid(
                            "'drain_agent.max_grace_period' must not be negative".into(),
                        ));
                    }
                    Some(s)
                }
            };
            shared.read(|core| {
                core.check_agent_for_drain(&agent_id, true)
                    .map_err(MasterError::Invalid)
            })?;
            let record = AgentDrainRecord {
                drain: Some(DrainRecord {
                    state: DRAINING.to_string(),
                    max_grace_period,
                    mark_gone: c.mark_gone,
                }),
            };
            shared
                .store(Operation::SetAgentDrain {
                    id: AgentID::new(&agent_id),
                    drain: Some(record),
                })
                .await?;
            shared.execute(Input::DrainAgent {
                agent_id,
                max_grace_period,
                mark_gone: c.mark_gone,
            })?;
            Ok(StatusCode::OK.into_response())
        }
        "DEACTIVATE_AGENT" => {
            let agent_id = agent_id(call, kind)?;
            shared.read(|core| {
                core.check_agent_for_drain(&agent_id, false)
                    .map_err(MasterError::Invalid)
            })?;
            // A draining agent stays as it is: it is deactivated already.
            let current = shared.read(|core| core.agent_drains.get(&agent_id).cloned());
            if current.is_none() {
                shared
                    .store(Operation::SetAgentDrain {
                        id: AgentID::new(&agent_id),
                        drain: Some(AgentDrainRecord::default()),
                    })
                    .await?;
                shared.execute(Input::DeactivateAgent { agent_id })?;
            }
            Ok(StatusCode::OK.into_response())
        }
        "REACTIVATE_AGENT" => {
            let agent_id = agent_id(call, kind)?;
            shared.read(|core| {
                core.check_reactivate(&agent_id)
                    .map_err(MasterError::Invalid)
            })?;
            shared
                .store(Operation::SetAgentDrain {
                    id: AgentID::new(&agent_id),
                    drain: None,
                })
                .await?;
            shared.execute(Input::ReactivateAgent { agent_id })?;
            Ok(StatusCode::OK.into_response())
        }
        other => Err(MasterError::Invalid(format!(
            "'{other}' is not a maintenance call"
        ))),
    }
}
