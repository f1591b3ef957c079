//! Which master the agent talks to: the `host:port` of `--master`, or, with
//! `--master=zk://...` (or `file://...` naming a file that holds such a URL), the leading master
//! of the ZooKeeper election, followed by a [`Detector`] as Mesos' agent follows it with its
//! master detector.
//!
//! The daemon keeps the current master in a `watch` channel ([`super::Daemon::leader`]): fixed
//! from the start for `host:port`, `None` while no leader is known, and a new value whenever
//! the election's leader changes (the registration loop then registers with the new one).

use meseta_api::common::MasterInfo;
use meseta_zk::{Detector, ZkUrl};
use tokio::sync::watch;

use super::AgentError;

/// `--master`, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MasterFlag {
    /// `host:port` (or `http://host:port`): one master, always the same.
    Fixed(String),
    /// `zk://...` or `file://...`: the leader of the election under this URL's path.
    ZooKeeper(ZkUrl),
}

impl MasterFlag {
    /// `host:port`, `http://host:port[/]`, `zk://[user:password@]host:port[,host:port...]/path`
    /// or `file:///path/to/a/file/holding/a/zk/url`.
    pub fn parse(flag: &str) -> Result<MasterFlag, AgentError> {
        let text = flag.trim();
        if text.starts_with("zk://") || text.starts_with("file://") {
            return ZkUrl::parse(text)
                .map(MasterFlag::ZooKeeper)
                .map_err(AgentError::MasterUrl);
        }
        normalize_master(text).map(MasterFlag::Fixed)
    }
}

/// `host:port` from `host:port` or `http(s)://host:port[/]` (the scheme the agent speaks is
/// the process's, `LIBPROCESS_SSL_ENABLED`).
fn normalize_master(master: &str) -> Result<String, AgentError> {
    let bad = || AgentError::Master(master.to_string());
    let text = master.trim();
    let text = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
        .unwrap_or(text);
    let text = text.trim_end_matches('/');
    if text.is_empty() || text.contains("://") || text.contains('/') || !text.contains(':') {
        return Err(bad());
    }
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(bad());
    }
    Ok(text.to_string())
}

/// The master the agent registers with and sends its messages to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leader {
    /// `host:port`.
    pub address: String,
    /// The `MasterInfo.id` the election published (detected leaders only).
    pub id: Option<String>,
}

impl Leader {
    pub fn fixed(address: String) -> Leader {
        Leader { address, id: None }
    }

    /// The leader a `MasterInfo` of the election names; `None` when it holds no address.
    pub fn detected(info: &MasterInfo) -> Option<Leader> {
        Some(Leader {
            address: info.http_address()?,
            id: Some(info.id.clone()).filter(|id| !id.is_empty()),
        })
    }
}

/// Publishes the detector's leader into `leader` at every change, until the detector stops or
/// this task is aborted (which drops the detector, ending its ZooKeeper session).
pub async fn follow(detector: Detector, leader: watch::Sender<Option<Leader>>) {
    let mut detected = detector.watch();
    loop {
        let next = match detected.borrow_and_update().clone() {
            None => None,
            Some(info) => {
                let next = Leader::detected(&info);
                if next.is_none() {
                    tracing::warn!(master = ?info,
                        "the leading master's MasterInfo holds no address; waiting for another leader");
                }
                next
            }
        };
        leader.send_if_modified(|now| {
            if *now == next {
                false
            } else {
                *now = next;
                true
            }
        });
        if detected.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meseta_api::common::{Address, ipv4_to_mesos_u32};

    #[test]
    fn master_flags() {
        let fixed = |s: &str| match MasterFlag::parse(s) {
            Ok(MasterFlag::Fixed(a)) => Some(a),
            _ => None,
        };
        assert_eq!(fixed("h:5050").as_deref(), Some("h:5050"));
        assert_eq!(
            fixed("http://10.0.0.1:5050/").as_deref(),
            Some("10.0.0.1:5050")
        );
        assert_eq!(
            fixed("https://10.0.0.1:5050/").as_deref(),
            Some("10.0.0.1:5050")
        );
        for bad in ["", "h", "h:x", ":5050", "ftp://h:1"] {
            assert!(
                matches!(MasterFlag::parse(bad), Err(AgentError::Master(_))),
                "{bad}"
            );
        }
        match MasterFlag::parse("zk://10.0.0.1:2181,10.0.0.2:2181/mesos") {
            Ok(MasterFlag::ZooKeeper(url)) => {
                assert_eq!(url.servers, vec!["10.0.0.1:2181", "10.0.0.2:2181"]);
                assert_eq!(url.path, "/mesos");
            }
            other => panic!("{other:?}"),
        }
        for bad in [
            "zk://",
            "zk://h:2181",
            "zk://h:x/mesos",
            "file:///no/such/file",
        ] {
            let error = MasterFlag::parse(bad).err().map(|e| e.to_string());
            assert!(
                error.as_deref().is_some_and(|e| e.contains("--master")),
                "{bad}: {error:?}"
            );
        }
    }

    #[test]
    fn master_info_addresses() {
        let ip = ipv4_to_mesos_u32(std::net::Ipv4Addr::new(10, 0, 0, 1));
        let mut info = MasterInfo {
            id: "m1".into(),
            ip,
            port: 5050,
            ..MasterInfo::default()
        };
        assert_eq!(info.http_address().as_deref(), Some("10.0.0.1:5050"));
        info.hostname = Some("m1.example".into());
        assert_eq!(info.http_address().as_deref(), Some("m1.example:5050"));
        info.port = 0;
        assert_eq!(info.http_address(), None);
        let only_address = MasterInfo {
            address: Some(Address {
                hostname: None,
                ip: Some("10.0.0.2".into()),
                port: 5051,
            }),
            ..MasterInfo::default()
        };
        assert_eq!(
            only_address.http_address().as_deref(),
            Some("10.0.0.2:5051")
        );
        assert_eq!(MasterInfo::default().http_address(), None);
        let leader = Leader::detected(&MasterInfo {
            id: "m2".into(),
            ip,
            port: 5050,
            ..MasterInfo::default()
        });
        assert_eq!(
            leader,
            Some(Leader {
                address: "10.0.0.1:5050".into(),
                id: Some("m2".into())
            })
        );
    }
}
