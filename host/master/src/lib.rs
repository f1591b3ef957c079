//! The master daemon: cluster state (agents, frameworks, offers, tasks), the allocator driver,
//! the v1 scheduler HTTP API, the agents' side of the master–agent protocol and the operator
//! endpoints.
//!
//! - [`server`]: HTTP routes, the timers (allocation, offer timeout, failover expiry) and
//!   [`Master`], the running daemon.
//! - [`state`]: every transition of the cluster state, synchronous, under one lock.
//! - [`allocator`]: the allocation policy (native DRF or a Wasm module) and its failure policy.
//! - [`agents`]: ordered delivery of messages to agents and the health pings.
//! - [`operator`]: the operator endpoints' JSON in Mesos' shapes.
//! - [`resources`]: named resources ⇄ the allocator's numeric slots.
//! - `hooks`: the call sites of the master's hook modules (ACCEPT, agent removal).
//!
//! Architecture invariant: this crate and the agent are the only ones that own sockets and the
//! tokio runtime. Nothing awaits while holding the state lock: events for frameworks and
//! messages for agents are queued on channels.

pub mod agents;
pub mod allocator;
mod hooks;
pub mod operator;
pub mod resources;
pub mod server;
pub mod state;

pub use allocator::AllocatorChoice;
pub use server::{Master, MasterConfig, StartError, parse_min_allocatable};
