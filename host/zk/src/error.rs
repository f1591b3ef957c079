//! The crate's errors.

use crate::url::UrlError;

/// A failure talking to ZooKeeper, naming the URL (password hidden) or znode concerned.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ZkError {
    #[error(transparent)]
    Url(#[from] UrlError),
    /// No session could be established with any server of the URL.
    #[error("cannot connect to ZooKeeper {url}: {detail}")]
    Connect { url: String, detail: String },
    /// A request on `path` failed.
    #[error("ZooKeeper {what} of {path} failed: {source}")]
    Request {
        what: &'static str,
        path: String,
        source: zookeeper_client::Error,
    },
    /// The MasterInfo given cannot be encoded.
    #[error("cannot encode the MasterInfo as JSON: {0}")]
    Encode(String),
    /// Stopped before the operation could finish.
    #[error("the ZooKeeper {0} has stopped")]
    Stopped(&'static str),
}

impl ZkError {
    pub(crate) fn request(
        what: &'static str,
        path: &str,
    ) -> impl FnOnce(zookeeper_client::Error) -> ZkError {
        let path = path.to_string();
        move |source| ZkError::Request { what, path, source }
    }
}
