//! Mesos' ZooKeeper URLs: `zk://host:port[,host:port...]/path`, `zk://user:pass@hosts/path`
//! (digest authentication), and `file:///path` naming a file that holds such a URL.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// ZooKeeper's client port, used for a server given without one.
pub const DEFAULT_PORT: u16 = 2181;

/// A parsed `zk://` URL.
#[derive(Clone, PartialEq, Eq)]
pub struct ZkUrl {
    /// `host:port` of every server, in the URL's order.
    pub servers: Vec<String>,
    /// `user:password` for ZooKeeper's `digest` scheme.
    pub credentials: Option<(String, String)>,
    /// The znode under which the masters elect and keep the registry: absolute, with no
    /// trailing `/` (except the root itself).
    pub path: String,
}

/// What is wrong with a `--zk` or `--master` value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error(
        "{url:?} is not a ZooKeeper URL: expected zk://host:port[,host:port...]/path, zk://user:password@host:port/path or file:///path/to/file"
    )]
    Scheme { url: String },
    #[error("{url:?} names no ZooKeeper server: expected zk://host:port[,host:port...]/path")]
    NoServers { url: String },
    #[error("{url:?}: server {server:?} is not host:port: {detail}")]
    Server {
        url: String,
        server: String,
        detail: String,
    },
    #[error("{url:?} has no znode path: expected zk://hosts/path, e.g. zk://127.0.0.1:2181/mesos")]
    NoPath { url: String },
    #[error("{url:?}: znode path {path:?} is invalid: {detail}")]
    Path {
        url: String,
        path: String,
        detail: String,
    },
    #[error("{url:?}: credentials before `@` must be user:password with a non-empty user")]
    Credentials { url: String },
    #[error("cannot read the ZooKeeper URL from {path}: {detail}")]
    File { path: String, detail: String },
}

impl ZkUrl {
    /// Parses `zk://...`, or reads `file:///path` and parses the URL inside (trimmed).
    pub fn parse(text: &str) -> Result<ZkUrl, UrlError> {
        let text = text.trim();
        if let Some(file) = text.strip_prefix("file://") {
            let contents =
                std::fs::read_to_string(Path::new(file)).map_err(|e| UrlError::File {
                    path: file.to_string(),
                    detail: e.to_string(),
                })?;
            let inner = contents.trim();
            if inner.starts_with("file://") {
                return Err(UrlError::File {
                    path: file.to_string(),
                    detail: "it holds another file:// URL; it must hold a zk:// URL".to_string(),
                });
            }
            return ZkUrl::parse_zk(inner);
        }
        ZkUrl::parse_zk(text)
    }

    fn parse_zk(url: &str) -> Result<ZkUrl, UrlError> {
        let owned = || url.to_string();
        let rest = url
            .strip_prefix("zk://")
            .ok_or_else(|| UrlError::Scheme { url: owned() })?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => return Err(UrlError::NoPath { url: owned() }),
        };
        let (credentials, hosts) = match authority.rsplit_once('@') {
            Some((creds, hosts)) => {
                let (user, password) = creds
                    .split_once(':')
                    .ok_or_else(|| UrlError::Credentials { url: owned() })?;
                if user.is_empty() {
                    return Err(UrlError::Credentials { url: owned() });
                }
                (Some((user.to_string(), password.to_string())), hosts)
            }
            None => (None, authority),
        };
        if hosts.is_empty() {
            return Err(UrlError::NoServers { url: owned() });
        }
        let mut servers = Vec::new();
        for server in hosts.split(',') {
            servers.push(parse_server(url, server)?);
        }
        let path = normalize_path(url, path)?;
        Ok(ZkUrl {
            servers,
            credentials,
            path,
        })
    }

    /// The servers as ZooKeeper's connect string, `host:port,host:port` (no path: the path is
    /// used as a prefix of absolute znode paths, not as a chroot).
    pub fn connect_string(&self) -> String {
        self.servers.join(",")
    }

    /// `<path>/<name>`.
    pub fn child(&self, name: &str) -> String {
        if self.path == "/" {
            format!("/{name}")
        } else {
            format!("{}/{name}", self.path)
        }
    }

    /// The same servers and credentials under another path.
    pub fn with_path(&self, path: &str) -> Result<ZkUrl, UrlError> {
        let path = normalize_path(&self.to_string(), path)?;
        Ok(ZkUrl {
            path,
            ..self.clone()
        })
    }
}

impl FromStr for ZkUrl {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ZkUrl::parse(s)
    }
}

/// `zk://[user:***@]servers/path`: the password is never shown.
impl fmt::Display for ZkUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("zk://")?;
        if let Some((user, _)) = &self.credentials {
            write!(f, "{user}:***@")?;
        }
        write!(f, "{}{}", self.connect_string(), self.path)
    }
}

impl fmt::Debug for ZkUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ZkUrl({self})")
    }
}

fn parse_server(url: &str, server: &str) -> Result<String, UrlError> {
    let bad = |detail: &str| UrlError::Server {
        url: url.to_string(),
        server: server.to_string(),
        detail: detail.to_string(),
    };
    if server.is_empty() {
        return Err(bad("empty (a stray comma?)"));
    }
    // `[v6]:port`, `[v6]`, `host:port` or `host`.
    let (host, port) = if let Some(rest) = server.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| bad("an IPv6 address without its closing `]`"))?;
        match after {
            "" => (format!("[{host}]"), None),
            _ => match after.strip_prefix(':') {
                Some(port) => (format!("[{host}]"), Some(port)),
                None => return Err(bad("text after `]` that is not :port")),
            },
        }
    } else {
        match server.rsplit_once(':') {
            Some((host, port)) => (host.to_string(), Some(port)),
            None => (server.to_string(), None),
        }
    };
    if host.is_empty() || host == "[]" {
        return Err(bad("no host"));
    }
    if host.contains(['/', '@', ' ', ':']) && !host.starts_with('[') {
        return Err(bad("the host has characters a host name cannot have"));
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(0) | Err(_) => return Err(bad(&format!("port {p:?} is not a number in 1-65535"))),
            Ok(p) => p,
        },
    };
    Ok(format!("{host}:{port}"))
}

fn normalize_path(url: &str, path: &str) -> Result<String, UrlError> {
    let bad = |detail: &str| UrlError::Path {
        url: url.to_string(),
        path: path.to_string(),
        detail: detail.to_string(),
    };
    if !path.starts_with('/') {
        return Err(bad("it must start with `/`"));
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok("/".to_string());
    }
    for part in trimmed[1..].split('/') {
        if part.is_empty() {
            return Err(bad("it has an empty component (`//`)"));
        }
        if part == "." || part == ".." {
            return Err(bad("`.` and `..` are not znode names"));
        }
        if part.chars().any(|c| c.is_control()) {
            return Err(bad("it has a control character"));
        }
    }
    if trimmed == "/zookeeper" || trimmed.starts_with("/zookeeper/") {
        return Err(bad("/zookeeper is ZooKeeper's own subtree"));
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mesos_urls() {
        let url = ZkUrl::parse("zk://h1:2181,h2:2182/mesos").unwrap();
        assert_eq!(url.servers, ["h1:2181", "h2:2182"]);
        assert_eq!(url.path, "/mesos");
        assert_eq!(url.credentials, None);
        assert_eq!(url.connect_string(), "h1:2181,h2:2182");
        assert_eq!(url.child("json.info_"), "/mesos/json.info_");

        let url = ZkUrl::parse("zk://bob:s3cr:et@10.0.0.1:2181/a/b/").unwrap();
        assert_eq!(
            url.credentials,
            Some(("bob".to_string(), "s3cr:et".to_string()))
        );
        assert_eq!(url.path, "/a/b");
        assert_eq!(url.to_string(), "zk://bob:***@10.0.0.1:2181/a/b");

        let url = ZkUrl::parse("zk://zk1,[::1]:2190,[fe80::1]/").unwrap();
        assert_eq!(url.servers, ["zk1:2181", "[::1]:2190", "[fe80::1]:2181"]);
        assert_eq!(url.path, "/");
        assert_eq!(url.child("registry"), "/registry");
    }

    #[test]
    fn reads_a_file_url() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("zk");
        std::fs::write(&file, "zk://u:p@h:1/m\n").unwrap();
        let url = ZkUrl::parse(&format!("file://{}", file.display())).unwrap();
        assert_eq!(url.path, "/m");
        assert_eq!(url.servers, ["h:1"]);

        let missing = ZkUrl::parse("file:///no/such/file").unwrap_err();
        assert!(matches!(missing, UrlError::File { .. }), "{missing}");
        assert!(missing.to_string().contains("/no/such/file"));
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let cases = [
            ("http://h:1/m", "not a ZooKeeper URL"),
            ("h:2181/mesos", "not a ZooKeeper URL"),
            ("zk://h:2181", "has no znode path"),
            ("zk:///mesos", "names no ZooKeeper server"),
            ("zk://h:99999/m", "port \"99999\" is not a number"),
            ("zk://h:x/m", "port \"x\" is not a number"),
            ("zk://h1,,h2/m", "empty (a stray comma?)"),
            ("zk://:2181/m", "no host"),
            ("zk://bob@h/m", "user:password"),
            ("zk://:pw@h/m", "user:password"),
            ("zk://h/a//b", "empty component"),
            ("zk://h/a/../b", "`.` and `..`"),
            ("zk://h/zookeeper/x", "ZooKeeper's own subtree"),
        ];
        for (url, expected) in cases {
            let err = ZkUrl::parse(url).unwrap_err().to_string();
            assert!(err.contains(expected), "{url}: {err}");
            assert!(err.contains(url), "{url}: the error names the URL: {err}");
        }
    }
}
