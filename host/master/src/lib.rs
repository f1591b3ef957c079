//! The master daemon: cluster state (agents, frameworks, offers, tasks), the allocator driver,
//! the v1 scheduler HTTP API and the operator endpoints.
//!
//! Work in progress (issue 3). Here so far: resource accounting ([`resources`]) and the HTTP
//! layer ([`server`]): `/version`, `/master/health`, and `/api/v1/scheduler` with SUBSCRIBE
//! streams (RecordIO, one record per chunk, SUBSCRIBED then HEARTBEATs), stream-id checks and
//! TEARDOWN. Calls that need offers answer 501 until the allocator driver is wired in.
//!
//! Architecture invariant: this crate and the agent are the only ones that own sockets and the
//! tokio runtime.

pub mod resources;
pub mod server;

pub use server::{Master, MasterConfig};
