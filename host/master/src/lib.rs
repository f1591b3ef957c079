//! The master daemon: cluster state (agents, frameworks, offers, tasks), the allocator driver,
//! the v1 scheduler HTTP API and the operator endpoints.
//!
//! Work in progress: resource accounting ([`resources`]) is here; the daemon follows.

pub mod resources;
