#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `serve_with` and `client_with` over TLS, in one process: the limits hold over TLS (a client
//! that never finishes its handshake is cut off by the header-read timeout), the shared client
//! speaks https, and `SUPPORT_DOWNGRADE` works on both sides.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use meseta_http::{ClientOptions, Limits, TlsConfig, client_with, serve_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const HEADER_READ: Duration = Duration::from_secs(1);

struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca_cert.pem()).unwrap();
        std::fs::write(dir.path().join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();
        Pki { dir }
    }

    fn config(&self, extra: &[(&str, &str)]) -> Arc<TlsConfig> {
        let path = |n: &str| self.dir.path().join(n).display().to_string();
        let mut vars: HashMap<String, String> = [
            ("LIBPROCESS_SSL_ENABLED", "true".to_string()),
            ("LIBPROCESS_SSL_CERT_FILE", path("cert.pem")),
            ("LIBPROCESS_SSL_KEY_FILE", path("key.pem")),
            ("LIBPROCESS_SSL_CA_FILE", path("ca.pem")),
            ("LIBPROCESS_SSL_VERIFY_SERVER_CERT", "true".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Arc::new(
            TlsConfig::from_lookup(|k| vars.get(k).cloned())
                .unwrap()
                .unwrap(),
        )
    }
}

/// Serves `/health` on 127.0.0.1 with `tls`; the address.
async fn server(tls: Option<Arc<TlsConfig>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let app = Router::new().route("/health", get(|| async { "ok" }));
    let limits = Limits {
        header_read_timeout: HEADER_READ,
        ..Limits::default()
    };
    tokio::spawn(serve_with(
        listener,
        app,
        limits,
        tls,
        std::future::pending(),
    ));
    addr
}

async fn fetch(tls: Option<&TlsConfig>, url: String) -> Result<(u16, String), String> {
    let client = client_with::<Full<Bytes>>(ClientOptions::default(), tls);
    let request = hyper::Request::get(url)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
        .await
        .map_err(|_| "no answer".to_string())?
        .map_err(|e| format!("{e:?}"))?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Whether the server closes `conn` within `patience` (end of file or an error).
async fn closed_within(conn: &mut TcpStream, patience: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + patience;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, conn.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn the_shared_client_speaks_https_and_plaintext_is_closed() {
    let pki = Pki::new();
    let tls = pki.config(&[]);
    let addr = server(Some(tls.clone())).await;
    let served = fetch(Some(&tls), format!("https://{addr}/health")).await;
    assert_eq!(served, Ok((200, "ok".to_string())));
    // A plaintext client is closed, whatever it sends.
    let refused = fetch(None, format!("http://{addr}/health")).await;
    assert!(refused.is_err(), "{refused:?}");
    // Without TLS configured, the client refuses https rather than speaking clear.
    let e = fetch(None, format!("https://{addr}/health"))
        .await
        .unwrap_err();
    assert!(e.contains("LIBPROCESS_SSL_ENABLED"), "{e}");
}

#[tokio::test]
async fn a_stalled_handshake_is_cut_by_the_header_read_timeout() {
    let pki = Pki::new();
    let addr = server(Some(pki.config(&[]))).await;
    // Nothing at all, then half a TLS record header: both closed within the timeout.
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    let mut stalled = TcpStream::connect(&addr).await.unwrap();
    stalled.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
    let patience = HEADER_READ * 5;
    assert!(
        closed_within(&mut silent, patience).await,
        "a silent connection stayed open"
    );
    assert!(
        closed_within(&mut stalled, patience).await,
        "a stalled handshake stayed open"
    );
}

#[tokio::test]
async fn downgrade_on_both_sides() {
    let pki = Pki::new();
    let downgrade = pki.config(&[("LIBPROCESS_SSL_SUPPORT_DOWNGRADE", "1")]);
    // A downgrading server serves both on one port.
    let both = server(Some(downgrade.clone())).await;
    assert_eq!(
        fetch(None, format!("http://{both}/health"))
            .await
            .unwrap()
            .0,
        200
    );
    assert_eq!(
        fetch(Some(&downgrade), format!("https://{both}/health"))
            .await
            .unwrap()
            .0,
        200
    );
    // A downgrading client retries a plaintext server in clear; a strict one does not.
    let plain = server(None).await;
    let strict = pki.config(&[]);
    assert!(
        fetch(Some(&strict), format!("https://{plain}/health"))
            .await
            .is_err()
    );
    assert_eq!(
        fetch(Some(&downgrade), format!("https://{plain}/health"))
            .await
            .unwrap()
            .0,
        200
    );
}
