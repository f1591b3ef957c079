#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! TLS as Mesos configures it (`LIBPROCESS_SSL_*`), on real `meseta master` and `meseta agent`
//! processes with certificates this test makes (a CA, a certificate for 127.0.0.1 and
//! localhost the daemons serve and present, and a client certificate for the test):
//!
//! - a master and an agent over TLS, each verifying the other's certificate, run the example
//!   framework's tasks to completion over `https`;
//! - a plaintext client of a TLS master is refused, and served with `SUPPORT_DOWNGRADE` (then
//!   a plaintext agent registers too: the master's client falls back to clear);
//! - with `REQUIRE_CLIENT_CERT` a client without a certificate is refused, one with a
//!   certificate the CA signed is served;
//! - a bad `CERT_FILE` stops the daemon with a message naming the variable and the file.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use meseta_tests::daemons::{
    Daemon, LOCAL_RESOURCES, RETRY_FLAGS, free_port, http_get, workspace_binary,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The certificates, as PEM files in a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "meseta test CA");
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();
        write("ca.pem", ca_cert.pem());
        // The daemons' certificate: served, and presented to the daemons they call.
        for (name, sans) in [
            (
                "server",
                vec!["localhost".to_string(), "127.0.0.1".to_string()],
            ),
            ("client", vec!["test-client".to_string()]),
        ] {
            let key = rcgen::KeyPair::generate().unwrap();
            let mut params = rcgen::CertificateParams::new(sans).unwrap();
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, name);
            let cert = params.signed_by(&key, &issuer).unwrap();
            write(&format!("{name}.pem"), cert.pem());
            write(&format!("{name}.key"), key.serialize_pem());
        }
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn text(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    /// The daemons' `LIBPROCESS_SSL_*`, with `extra` added.
    fn env(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env = vec![
            ("LIBPROCESS_SSL_ENABLED".to_string(), "true".to_string()),
            (
                "LIBPROCESS_SSL_CERT_FILE".to_string(),
                self.text("server.pem"),
            ),
            (
                "LIBPROCESS_SSL_KEY_FILE".to_string(),
                self.text("server.key"),
            ),
            ("LIBPROCESS_SSL_CA_FILE".to_string(), self.text("ca.pem")),
        ];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env
    }

    /// A TLS client trusting the CA, presenting the client certificate when `with_cert`.
    fn client(&self, with_cert: bool) -> Arc<rustls::ClientConfig> {
        let provider = meseta_http::tls::provider();
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(self.path("ca.pem")).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = if with_cert {
            let certs = CertificateDer::pem_file_iter(self.path("client.pem"))
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_file(self.path("client.key")).unwrap();
            builder.with_client_auth_cert(certs, key).unwrap()
        } else {
            builder.with_no_client_auth()
        };
        Arc::new(config)
    }
}

fn pairs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// `meseta master` on 127.0.0.1 (an ephemeral port) with `env`.
fn master(
    work_dir: &Path,
    env: &[(String, String)],
) -> Result<Daemon, meseta_tests::daemons::Failure> {
    let work_dir = work_dir.display().to_string();
    Daemon::spawn_env(
        &[
            "master",
            "--ip",
            "127.0.0.1",
            "--port",
            "0",
            "--work_dir",
            &work_dir,
        ],
        &pairs(env),
        "Master: ",
    )
}

/// `meseta agent --master <master>` on 127.0.0.1 with `env`.
fn agent(master: &str, work_dir: &Path, env: &[(String, String)]) -> Daemon {
    let work_dir = work_dir.display().to_string();
    let port = free_port().unwrap().to_string();
    let mut args = vec![
        "agent",
        "--master",
        master,
        "--ip",
        "127.0.0.1",
        "--port",
        &port,
        "--work_dir",
        &work_dir,
        "--resources",
        LOCAL_RESOURCES,
    ];
    args.extend(RETRY_FLAGS);
    Daemon::spawn_env(&args, &pairs(env), "Agent: ").unwrap()
}

/// `GET path` over TLS from `url` (`https://127.0.0.1:PORT`) with `config`, `Connection:
/// close`: the status and the raw body, or what failed (the handshake, or the server's alert
/// when it refuses the client's certificate after the handshake).
fn https_get(
    url: &str,
    path: &str,
    config: Arc<rustls::ClientConfig>,
) -> Result<(u16, String), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let authority = url.trim_start_matches("https://").to_string();
    let work = async move {
        let tcp = tokio::net::TcpStream::connect(&authority)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
        tls.write_all(request.as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut raw = Vec::new();
        tls.read_to_end(&mut raw)
            .await
            .map_err(|e| format!("read: {e}"))?;
        let raw = String::from_utf8_lossy(&raw).into_owned();
        let status = raw
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("no HTTP answer: {raw:?}"))?;
        let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        Ok((status, body.to_string()))
    };
    runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(20), work)
            .await
            .unwrap_or_else(|_| Err("no answer within 20 s".to_string()))
    })
}

/// Waits (up to 30 s) until `active` agents are registered, reading `/master/slaves` with `get`.
fn wait_agents(
    active: usize,
    get: impl Fn() -> Result<(u16, String), String>,
    context: impl Fn() -> String,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok((200, body)) = get() {
            let slaves: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let n = slaves["slaves"]
                .as_array()
                .map(|a| a.iter().filter(|s| s["active"] == true).count())
                .unwrap_or(0);
            if n >= active {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{active} agent(s) did not register within 30 s\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn master_and_agent_run_the_example_framework_over_tls() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    // Each daemon verifies the other's certificate and requires one from its clients.
    let env = pki.env(&[
        ("LIBPROCESS_SSL_VERIFY_SERVER_CERT", "true"),
        ("LIBPROCESS_SSL_REQUIRE_CLIENT_CERT", "true"),
    ]);
    let master = master(&dir.path().join("master"), &env).unwrap();
    assert!(
        master.url.starts_with("https://127.0.0.1:"),
        "{}",
        master.url
    );
    let agent = agent(&master.url, &dir.path().join("agent"), &env);
    assert!(agent.url.starts_with("https://127.0.0.1:"), "{}", agent.url);
    let context = || {
        format!(
            "--- master ---\n{}\n--- agent ---\n{}",
            master.output(),
            agent.output()
        )
    };
    wait_agents(
        1,
        || https_get(&master.url, "/master/slaves", pki.client(true)),
        context,
    );

    let framework = workspace_binary("example-framework", "meseta-example-framework").unwrap();
    let authority = master.url.trim_start_matches("https://");
    // `host:port`: the framework speaks https because LIBPROCESS_SSL_ENABLED says so.
    let out = Command::new(&framework)
        .args(["--master", authority, "--tasks", "3", "--timeout", "60s"])
        .envs(pairs(&env))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.lines().any(|l| l == "3 finished, 0 failed"),
        "example-framework ({})\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}\n{}",
        out.status,
        context()
    );

    // The agent's own endpoints are TLS too, with the same client certificate rule.
    let (status, _) = https_get(&agent.url, "/health", pki.client(true)).unwrap();
    assert_eq!(status, 200);
    assert!(https_get(&agent.url, "/health", pki.client(false)).is_err());
}

#[test]
fn plaintext_is_refused_unless_downgrade_is_supported() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();

    let strict = master(&dir.path().join("strict"), &pki.env(&[])).unwrap();
    let plain = strict.url.replacen("https://", "http://", 1);
    let refused = http_get(&plain, "/health");
    assert!(
        !matches!(refused, Ok((200, _))),
        "a plaintext GET of a TLS master was served: {refused:?}"
    );
    // TLS works, without a client certificate (not required) and verifying the master's.
    assert_eq!(
        https_get(&strict.url, "/health", pki.client(false))
            .unwrap()
            .0,
        200
    );

    let env = pki.env(&[("LIBPROCESS_SSL_SUPPORT_DOWNGRADE", "true")]);
    let lenient = master(&dir.path().join("lenient"), &env).unwrap();
    let plain = lenient.url.replacen("https://", "http://", 1);
    assert_eq!(http_get(&plain, "/health").unwrap().0, 200);
    assert_eq!(
        https_get(&lenient.url, "/health", pki.client(false))
            .unwrap()
            .0,
        200
    );

    // A rollout's step: an agent without TLS registers with the downgrading master (its
    // requests in clear are served; the master's https to it falls back to clear).
    let agent = agent(&plain, &dir.path().join("agent"), &[]);
    assert!(agent.url.starts_with("http://"), "{}", agent.url);
    wait_agents(
        1,
        || http_get(&plain, "/master/slaves").map_err(|e| e.to_string()),
        || {
            format!(
                "--- master ---\n{}\n--- agent ---\n{}",
                lenient.output(),
                agent.output()
            )
        },
    );
}

#[test]
fn a_required_client_certificate_is_checked() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let env = pki.env(&[("LIBPROCESS_SSL_REQUIRE_CLIENT_CERT", "true")]);
    let master = master(&dir.path().join("master"), &env).unwrap();

    let without = https_get(&master.url, "/health", pki.client(false));
    assert!(
        without.is_err(),
        "served without a client certificate: {without:?}"
    );
    let with = https_get(&master.url, "/health", pki.client(true)).unwrap();
    assert_eq!(with.0, 200, "{with:?}");

    // A client certificate from another CA is refused too.
    let other = Pki::new();
    let foreign = {
        let provider = meseta_http::tls::provider();
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(pki.path("ca.pem")).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let certs = CertificateDer::pem_file_iter(other.path("client.pem"))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(other.path("client.key")).unwrap();
        Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_client_auth_cert(certs, key)
                .unwrap(),
        )
    };
    let foreign = https_get(&master.url, "/health", foreign);
    assert!(
        foreign.is_err(),
        "served with another CA's certificate: {foreign:?}"
    );
}

#[test]
fn a_bad_cert_file_stops_the_daemon_naming_it() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-cert.pem").display().to_string();
    let not_a_cert = pki.text("server.key");
    for (cert, problem) in [
        (&missing, "cannot read the file"),
        (&not_a_cert, "no certificate"),
    ] {
        let env = pki.env(&[("LIBPROCESS_SSL_CERT_FILE", cert)]);
        for (what, started) in [
            ("master", master(&dir.path().join("m"), &env).err()),
            (
                "agent",
                Daemon::spawn_env(
                    &[
                        "agent",
                        "--master",
                        "127.0.0.1:1",
                        "--work_dir",
                        &dir.path().join("a").display().to_string(),
                    ],
                    &pairs(&env),
                    "Agent: ",
                )
                .err(),
            ),
        ] {
            let message = started
                .unwrap_or_else(|| panic!("the {what} started with CERT_FILE={cert}"))
                .to_string();
            assert!(
                message.contains("exited (exit status: 1)"),
                "{what}: {message}"
            );
            let named = format!("LIBPROCESS_SSL_CERT_FILE={cert}: {problem}");
            assert!(
                message.contains(&named),
                "{what}: no `{named}` in\n{message}"
            );
        }
    }
}
