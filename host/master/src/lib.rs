//! The master daemon: cluster state (agents, frameworks, offers, tasks), the allocator driver,
//! the v1 scheduler HTTP API, the agents' side of the master–agent protocol and the operator
//! endpoints.
//!
//! - [`core`]: the cluster state and every transition of it, a state machine with no I/O:
//!   inputs in, a reply or a typed error out, and effects for the rest of the master.
//! - [`server`]: HTTP routes (parse, apply to the core, answer; errors become answers in one
//!   place), the timers (allocation, sweeps, pings) and [`Master`], the running daemon.
//! - [`effector`]: carries out the core's effects in order, off the state lock, on a thread
//!   that owns the allocator.
//! - [`allocator`]: the allocation policy (native DRF or a Wasm module) and its failure policy.
//! - [`agents`]: ordered delivery of messages to agents and the health pings.
//! - [`operator`]: the operator endpoints' JSON in Mesos' shapes.
//! - [`resources`]: named resources ⇄ the allocator's numeric slots.
//! - `hooks`: the call sites of the master's hook modules (ACCEPT, agent removal).
//!
//! Architecture invariant: this crate and the agent are the only ones that own sockets and the
//! tokio runtime. Under the state lock only the core runs: no Wasm call, no channel send, no
//! await; the effector does those after the lock is released.

pub mod agents;
pub mod allocator;
pub mod core;
pub mod effector;
pub mod ha;
mod hooks;
mod maintenance;
mod mirror;
pub mod operator;
mod reservations;
pub mod resources;
pub mod security;
pub mod server;
pub mod shadow;
pub mod state_json;

pub use allocator::{AllocatorChoice, AllocatorSource};
pub use server::{AllocatorResolver, Master, MasterConfig, StartError, parse_min_allocatable};
