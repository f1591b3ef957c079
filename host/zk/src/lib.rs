//! ZooKeeper for the masters' high availability, as Mesos uses it: `--zk` URLs ([`ZkUrl`]),
//! the election ([`Contender`] joins it with the master's `MasterInfo` in an ephemeral
//! sequential `json.info_` znode, [`Detector`] follows its leader, both readable by Mesos'
//! own detectors), and the registry kept in ZooKeeper ([`ZkStorage`], a
//! `meseta_registry::Storage` whose every commit is fenced by the leader's election znode).
//!
//! The client is the `zookeeper-client` crate; sessions run on the tokio runtime the contender,
//! detector or storage is started on.
//!
//! [`server`] runs a local ZooKeeper server process (Debian's package) for the tests and for
//! `meseta bench ha-failover`; the daemons never use it.

mod election;
mod error;
pub mod server;
mod session;
mod storage;
mod url;

pub use election::{Candidacy, Contender, Detector, Fence};
pub use error::ZkError;
pub use session::{DEFAULT_SESSION_TIMEOUT, LABEL};
pub use storage::{REGISTRY_NODE, ZkStorage, escape, unescape};
pub use url::{DEFAULT_PORT, UrlError, ZkUrl};
pub use zookeeper_client::SessionInfo;
