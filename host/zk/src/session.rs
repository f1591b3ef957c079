//! Sessions, ACLs and the reading of an election's children, shared by the contender, the
//! detector and the storage.

use std::time::Duration;

use zookeeper_client::{Acl, Acls, Client, CreateMode, CreateOptions, Permission};

use crate::error::ZkError;
use crate::url::ZkUrl;

/// Mesos' `--zk_session_timeout` default.
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(10);

/// The label of the znodes Mesos' masters create since 0.24: `json.info_<seq>`, data the
/// MasterInfo as JSON.
pub const LABEL: &str = "json.info";

/// `digest` users: "world read, creator all", as Mesos sets them.
static WORLD_READ_CREATOR_ALL: [Acl; 2] = [
    Acl::new_const(Permission::READ, "world", "anyone"),
    Acl::new_const(Permission::ALL, "auth", ""),
];

/// The ACLs of the znodes this crate creates under `url`.
pub(crate) fn acls(url: &ZkUrl) -> Acls<'static> {
    if url.credentials.is_some() {
        Acls::new(&WORLD_READ_CREATOR_ALL)
    } else {
        Acls::anyone_all()
    }
}

pub(crate) fn options(url: &ZkUrl, mode: CreateMode) -> CreateOptions<'static> {
    mode.with_acls(acls(url))
}

/// A new session with the servers of `url` (digest credentials added), within `timeout`.
pub(crate) async fn connect(url: &ZkUrl, timeout: Duration) -> Result<Client, ZkError> {
    let mut connector = Client::connector()
        .with_session_timeout(timeout)
        .with_connection_timeout(timeout.min(Duration::from_secs(5)));
    if let Some((user, password)) = &url.credentials {
        connector = connector.with_auth("digest", format!("{user}:{password}").as_bytes());
    }
    let servers = url.connect_string();
    let connect = connector.connect(&servers);
    match tokio::time::timeout(timeout, connect).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(ZkError::Connect {
            url: url.to_string(),
            detail: e.to_string(),
        }),
        Err(_) => Err(ZkError::Connect {
            url: url.to_string(),
            detail: format!("no server answered within {timeout:?}"),
        }),
    }
}

/// Creates `path` and its parents as persistent znodes if missing.
pub(crate) async fn ensure_path(client: &Client, url: &ZkUrl, path: &str) -> Result<(), ZkError> {
    if path == "/" {
        return Ok(());
    }
    client
        .mkdir(path, &options(url, CreateMode::Persistent))
        .await
        .map_err(ZkError::request("mkdir", path))
}

/// A child of the election path that is a contender: its label (`json.info`, or Mesos' legacy
/// `info`, or none) and sequence. Like Mesos, a name counts when its last `_`-separated token is
/// an int32 (so `log_replicas` and `registry` are skipped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Member {
    pub name: String,
    pub label: String,
    pub sequence: i32,
}

pub(crate) fn member(name: &str) -> Option<Member> {
    let (label, sequence) = match name.rsplit_once('_') {
        Some((label, token)) => (label, token),
        None => ("", name),
    };
    let sequence = sequence.parse::<i32>().ok()?;
    Some(Member {
        name: name.to_string(),
        label: label.to_string(),
        sequence,
    })
}

/// The leading `json.info_` child: the lowest sequence among them. Legacy `info_` children
/// (binary protobuf, Mesos before 0.24) and unlabelled ones are left out, as no Meseta or current
/// Mesos master writes them.
pub(crate) fn leader<'a>(children: impl IntoIterator<Item = &'a String>) -> Option<Member> {
    children
        .into_iter()
        .filter_map(|name| member(name))
        .filter(|m| m.label == LABEL)
        .min_by_key(|m| m.sequence)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lowest_json_info_child_leads() {
        let children: Vec<String> = [
            "log_replicas",
            "registry",
            "info_0000000001",
            "json.info_0000000007",
            "json.info_0000000003",
            "0000000000",
            "json.info_x",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let lead = leader(&children).unwrap();
        assert_eq!(lead.name, "json.info_0000000003");
        assert_eq!(lead.sequence, 3);
        assert_eq!(member("info_0000000001").unwrap().label, "info");
        assert_eq!(member("0000000000").unwrap().label, "");
        assert_eq!(member("log_replicas"), None);
        assert_eq!(leader(&["registry".to_string()]), None);
    }
}
