//! Reservations and volumes over HTTP: `/master/reserve`, `/master/unreserve`,
//! `/master/create-volumes`, `/master/destroy-volumes` (form fields `slaveId` and
//! `resources` / `volumes`, a JSON array of `Resource`), and the operator calls
//! RESERVE_RESOURCES, UNRESERVE_RESOURCES, CREATE_VOLUMES and DESTROY_VOLUMES. Each answers
//! 202 once the master applied the operation (the agent checkpoints it asynchronously), 400 on
//! bad input, 403 when the authorizer refuses, 409 when the agent's free resources do not hold
//! the operation's resources (see `core/reservations.rs`).

use axum::Extension;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use meseta_http::auth::Principal;
use serde_json::Value;

use crate::core::{Input, MasterError, ResourceOperation};
use crate::server::Shared;

/// The operation endpoints (readwrite realm, as in Mesos).
pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/master/reserve", post(reserve))
        .route("/master/unreserve", post(unreserve))
        .route("/master/create-volumes", post(create_volumes))
        .route("/master/destroy-volumes", post(destroy_volumes))
}

async fn reserve(s: State<Shared>, p: Extension<Principal>, body: Bytes) -> Response {
    endpoint(s, p, body, "RESERVE", "resources").await
}

async fn unreserve(s: State<Shared>, p: Extension<Principal>, body: Bytes) -> Response {
    endpoint(s, p, body, "UNRESERVE", "resources").await
}

async fn create_volumes(s: State<Shared>, p: Extension<Principal>, body: Bytes) -> Response {
    endpoint(s, p, body, "CREATE", "volumes").await
}

async fn destroy_volumes(s: State<Shared>, p: Extension<Principal>, body: Bytes) -> Response {
    endpoint(s, p, body, "DESTROY", "volumes").await
}

fn operation(
    name: &str,
    list: &[meseta_api::common::Resource],
) -> Result<ResourceOperation, MasterError> {
    let resources = ResourceOperation::parse(name, list).map_err(MasterError::Invalid)?;
    if list.iter().any(|r| r.allocation_info.is_some()) {
        return Err(MasterError::Invalid(format!(
            "Invalid {name} operation: an operator's resources must not carry 'allocation_info'"
        )));
    }
    Ok(match name {
        "RESERVE" => ResourceOperation::Reserve(resources),
        "UNRESERVE" => ResourceOperation::Unreserve(resources),
        "CREATE" => ResourceOperation::Create(resources),
        _ => ResourceOperation::Destroy(resources),
    })
}

async fn endpoint(
    State(shared): State<Shared>,
    Extension(principal): Extension<Principal>,
    body: Bytes,
    name: &str,
    field: &str,
) -> Response {
    let outcome = async {
        meseta_api::limits::check(&body).map_err(|e| MasterError::Invalid(e.to_string()))?;
        let mut agent_id = None;
        let mut list = None;
        for (k, v) in form_urlencoded::parse(&body) {
            if k == "slaveId" {
                agent_id = Some(v.trim().to_string());
            } else if k == field {
                list = Some(v.into_owned());
            }
        }
        let agent_id = agent_id.filter(|a| !a.is_empty()).ok_or_else(|| {
            MasterError::Invalid("Missing 'slaveId' query parameter in the request body".into())
        })?;
        let list = list.ok_or_else(|| {
            MasterError::Invalid(format!(
                "Missing '{field}' query parameter in the request body"
            ))
        })?;
        let list: Vec<meseta_api::common::Resource> = serde_json::from_str(&list).map_err(|e| {
            MasterError::Invalid(format!(
                "Error in parsing '{field}' query parameter: not a JSON array of Resource: {e}"
            ))
        })?;
        let op = operation(name, &list)?;
        apply(&shared, &principal, agent_id, op)
    }
    .await;
    match outcome {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(e) => e.into_response(),
    }
}

fn apply(
    shared: &Shared,
    principal: &Principal,
    agent_id: String,
    operation: ResourceOperation,
) -> Result<(), MasterError> {
    if !shared.authz.allows_everything() {
        crate::server::authorize_operation(shared, principal.0.as_deref(), &operation)
            .map_err(|why| MasterError::Forbidden(format!("Not authorized to {why}")))?;
    }
    shared.execute(Input::Operate {
        agent_id,
        operation,
        principal: principal.0.clone(),
    })?;
    Ok(())
}

/// One of the operation calls of the operator API.
pub(crate) fn operator_call(
    shared: &Shared,
    principal: &Principal,
    kind: &str,
    call: &Value,
) -> Result<Response, MasterError> {
    let key = kind.to_ascii_lowercase();
    let (name, field) = match kind {
        "RESERVE_RESOURCES" => ("RESERVE", "resources"),
        "UNRESERVE_RESOURCES" => ("UNRESERVE", "resources"),
        "CREATE_VOLUMES" => ("CREATE", "volumes"),
        _ => ("DESTROY", "volumes"),
    };
    let agent_id = call
        .pointer(&format!("/{key}/agent_id/value"))
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            MasterError::Invalid(format!(
                "{kind} needs '{key}.agent_id.value': the agent's id"
            ))
        })?;
    let list = call
        .pointer(&format!("/{key}/{field}"))
        .cloned()
        .ok_or_else(|| MasterError::Invalid(format!("Expecting '{key}.{field}' to be present")))?;
    let list: Vec<meseta_api::common::Resource> = serde_json::from_value(list)
        .map_err(|e| MasterError::Invalid(format!("Failed to parse '{key}.{field}': {e}")))?;
    let op = operation(name, &list)?;
    apply(shared, principal, agent_id.to_string(), op)?;
    Ok(StatusCode::ACCEPTED.into_response())
}
