//! The master's side of the master–agent protocol that leaves the process: one ordered outbox
//! per agent, and the health pings.

use std::time::Duration;

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use meseta_api::internal as wire;
use tokio::sync::mpsc;

use crate::core::Input;
use crate::server::Shared;

pub type HttpClient = meseta_http::HttpClient<Full<Bytes>>;

/// The master's client to its agents: `https` with `LIBPROCESS_SSL_ENABLED`.
pub fn client() -> HttpClient {
    meseta_http::client(meseta_http::ClientOptions::default())
}

/// POSTs `body` to `http(s)://endpoint path`; the answer's status and body.
pub async fn post(
    client: &HttpClient,
    master_id: &str,
    endpoint: &str,
    path: &str,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<(u16, Bytes), String> {
    let request = hyper::Request::post(format!("{}{path}", meseta_http::tls::url(endpoint)))
        .header("content-type", "application/json")
        .header(wire::MASTER_ID_HEADER, master_id)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let work = async {
        let response = client.request(request).await.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, body))
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| format!("no answer within {timeout:?}"))?
}

/// Delivers an agent's messages in order. When more than one is waiting, they go together as
/// one batch (`wire::BATCH`); an agent that does not know batches (`404`) gets them one by one
/// from then on. A message that cannot be delivered is retried a few times (the agent may be
/// restarting); the ping loop decides whether the agent is gone.
pub fn spawn_outbox(
    client: HttpClient,
    master_id: String,
    agent_id: String,
    endpoint: String,
) -> mpsc::UnboundedSender<(&'static str, Vec<u8>)> {
    let (tx, mut rx) = mpsc::unbounded_channel::<(&'static str, Vec<u8>)>();
    tokio::spawn(async move {
        let mut batches = true;
        let mut waiting = Vec::new();
        while let Some(first) = rx.recv().await {
            waiting.push(first);
            wire::fill_batch(&mut waiting, || rx.try_recv().ok());
            if waiting.len() > 1 && batches {
                let body = wire::encode_batch(waiting.iter().map(|(p, b)| (*p, b.as_slice())));
                match deliver(&client, &master_id, &agent_id, &endpoint, wire::BATCH, body).await {
                    Some((200, text)) => {
                        let codes = serde_json::from_slice::<wire::Codes>(&text)
                            .map(|c| c.codes)
                            .unwrap_or_default();
                        for ((path, _), code) in waiting.iter().zip(codes) {
                            if code >= 300 {
                                tracing::warn!(agent = %agent_id, path, code,
                                    "agent refused a message of a batch");
                            }
                        }
                        waiting.clear();
                        continue;
                    }
                    Some((404, _)) => {
                        tracing::info!(agent = %agent_id,
                            "agent does not take batches; sending its messages one by one");
                        batches = false;
                    }
                    Some((code, text)) => {
                        tracing::warn!(agent = %agent_id, code,
                            answer = %String::from_utf8_lossy(&text), "agent refused a batch");
                        waiting.clear();
                        continue;
                    }
                    None => {
                        waiting.clear();
                        continue;
                    }
                }
            }
            for (path, body) in waiting.drain(..) {
                if let Some((code, text)) =
                    deliver(&client, &master_id, &agent_id, &endpoint, path, body).await
                    && code >= 300
                {
                    tracing::warn!(agent = %agent_id, path, code,
                        answer = %String::from_utf8_lossy(&text), "agent refused a message");
                }
            }
        }
    });
    tx
}

/// POSTs one message (or batch), retrying with backoff while the agent is unreachable; the
/// answer, or `None` after the last attempt.
async fn deliver(
    client: &HttpClient,
    master_id: &str,
    agent_id: &str,
    endpoint: &str,
    path: &str,
    body: Vec<u8>,
) -> Option<(u16, Bytes)> {
    let mut delay = Duration::from_millis(100);
    for attempt in 0..5 {
        match post(
            client,
            master_id,
            endpoint,
            path,
            body.clone(),
            Duration::from_secs(10),
        )
        .await
        {
            Ok(answer) => return Some(answer),
            Err(e) => {
                tracing::debug!(agent = %agent_id, path, attempt, error = %e, "agent unreachable; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
    None
}

/// Pings every agent every `agent_ping_timeout`; an agent that misses
/// `max_agent_ping_timeouts` in a row is removed.
pub async fn ping_loop(shared: Shared, client: HttpClient, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let (master_id, targets) =
            shared.read(|core| (core.master_id.clone(), core.ping_targets()));
        for (agent_id, endpoint) in targets {
            let shared = shared.clone();
            let client = client.clone();
            let from = master_id.clone();
            let body = serde_json::to_vec(&wire::Ping {
                master_id: master_id.clone(),
                agent_id: meseta_api::common::AgentID::new(&agent_id),
            })
            .unwrap_or_default();
            tokio::spawn(async move {
                let ok = match post(&client, &from, &endpoint, wire::PING, body, interval).await {
                    Ok((200, body)) => serde_json::from_slice::<wire::Pong>(&body)
                        .map(|p| p.known)
                        .unwrap_or(false),
                    _ => false,
                };
                let _ = shared.execute(Input::Pinged {
                    agent_id,
                    endpoint,
                    ok,
                });
            });
        }
    }
}
