#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The v1 scheduler endpoint over real HTTP, checked byte for byte with a raw client: strict
//! framework libraries need exactly one RecordIO record per HTTP chunk.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use meseta_master::{Master, MasterConfig};

struct Cluster {
    rt: tokio::runtime::Runtime,
    master: Option<Master>,
    addr: SocketAddr,
}

impl Cluster {
    fn start() -> Cluster {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let master = rt
            .block_on(Master::start(MasterConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                heartbeat_interval: Duration::from_millis(300),
                ..MasterConfig::default()
            }))
            .unwrap();
        let addr = master.address();
        Cluster {
            rt,
            master: Some(master),
            addr,
        }
    }

    fn frameworks(&self) -> Vec<(String, String)> {
        self.master.as_ref().unwrap().frameworks()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(m) = self.master.take() {
            self.rt.block_on(m.stop());
        }
    }
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    reader: BufReader<TcpStream>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The next HTTP chunk's payload; `None` at the terminating chunk.
    fn chunk(&mut self) -> Option<Vec<u8>> {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let size = usize::from_str_radix(line.trim(), 16)
            .unwrap_or_else(|_| panic!("bad chunk size line {line:?}"));
        let mut data = vec![0; size];
        self.reader.read_exact(&mut data).unwrap();
        let mut crlf = [0; 2];
        self.reader.read_exact(&mut crlf).unwrap();
        assert_eq!(&crlf, b"\r\n");
        (size > 0).then_some(data)
    }

    /// The next chunk, checked to be exactly one RecordIO record, as JSON.
    fn event(&mut self) -> Option<serde_json::Value> {
        let data = self.chunk()?;
        let text = String::from_utf8(data).unwrap();
        assert!(text.is_ascii(), "non-ASCII record: {text}");
        let (len, json) = text
            .split_once('\n')
            .unwrap_or_else(|| panic!("no length line in {text:?}"));
        assert_eq!(
            len.parse::<usize>().unwrap(),
            json.len(),
            "length prefix of {text:?}"
        );
        assert!(!json.contains('\n'), "record spans lines: {json}");
        Some(serde_json::from_str(json).unwrap())
    }

    fn body(mut self) -> String {
        let len: usize = self
            .header("content-length")
            .map_or(0, |v| v.parse().unwrap());
        let mut body = vec![0; len];
        self.reader.read_exact(&mut body).unwrap();
        String::from_utf8(body).unwrap()
    }
}

fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
    chunked: bool,
) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if chunked {
        head.push_str("Transfer-Encoding: chunked\r\n\r\n");
        head.push_str(&format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len()));
    } else {
        head.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    }
    stream.write_all(head.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').unwrap();
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    Response {
        status,
        headers,
        reader,
    }
}

const SUBSCRIBE: &str = r#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"test-fw","roles":["*"],"capabilities":null}}}"#;

fn subscribe(addr: SocketAddr, body: &str) -> (Response, String, String) {
    let mut r = request(
        addr,
        "POST",
        "/api/v1/scheduler",
        &[("Content-Type", "application/json")],
        body,
        false,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    let stream_id = r.header("mesos-stream-id").unwrap().to_string();
    let first = r.event().unwrap();
    assert_eq!(first["type"], "SUBSCRIBED", "{first}");
    let id = first["subscribed"]["framework_id"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    (r, stream_id, id)
}

fn call(addr: SocketAddr, stream_id: Option<&str>, body: &str) -> (u16, String) {
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(s) = stream_id {
        headers.push(("Mesos-Stream-Id", s));
    }
    let r = request(addr, "POST", "/api/v1/scheduler", &headers, body, false);
    let status = r.status;
    (status, r.body())
}

#[test]
fn version_is_numeric_for_clients_that_parse_it() {
    let c = Cluster::start();
    let r = request(c.addr, "GET", "/version", &[], "", false);
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_str(&r.body()).unwrap();
    let version = v["version"].as_str().unwrap();
    assert!(
        version.split('.').all(|p| p.parse::<u32>().is_ok()),
        "{version}"
    );
    assert_eq!(
        request(c.addr, "GET", "/master/health", &[], "", false).status,
        200
    );
}

#[test]
fn subscribe_streams_subscribed_then_heartbeats_one_record_per_chunk() {
    let c = Cluster::start();
    let (mut r, _stream, id) = subscribe(c.addr, SUBSCRIBE);
    assert!(!id.is_empty());
    assert_eq!(
        r.event().unwrap(),
        serde_json::json!({"type": "HEARTBEAT"}),
        "HEARTBEAT at once"
    );
    let start = Instant::now();
    assert_eq!(r.event().unwrap()["type"], "HEARTBEAT");
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(c.frameworks(), vec![(id, "test-fw".to_string())]);
}

#[test]
fn subscribed_carries_the_interval_and_master_info() {
    let c = Cluster::start();
    let mut r = request(
        c.addr,
        "POST",
        "/master/api/v1/scheduler",
        &[("Connection", "close")],
        SUBSCRIBE,
        true,
    );
    assert_eq!(
        r.status, 200,
        "chunked body and Connection: close still get a stream"
    );
    let e = r.event().unwrap();
    assert_eq!(e["subscribed"]["heartbeat_interval_seconds"], 0.3);
    assert_eq!(e["subscribed"]["master_info"]["port"], c.addr.port());
    assert_eq!(r.event().unwrap()["type"], "HEARTBEAT");
}

#[test]
fn calls_are_checked_and_teardown_ends_the_stream() {
    let c = Cluster::start();
    let (mut r, stream, id) = subscribe(c.addr, SUBSCRIBE);
    let teardown = format!(r#"{{"type":"TEARDOWN","framework_id":{{"value":"{id}"}}}}"#);

    let (status, body) = call(c.addr, None, &teardown);
    assert_eq!(status, 400);
    assert!(body.contains("Mesos-Stream-Id"), "{body}");
    let (status, _) = call(c.addr, Some("not-the-stream"), &teardown);
    assert_eq!(status, 400);
    let (status, body) = call(
        c.addr,
        Some(&stream),
        r#"{"type":"TEARDOWN","framework_id":{"value":"nobody"}}"#,
    );
    assert_eq!(status, 403, "{body}");
    let (status, body) = call(c.addr, Some(&stream), r#"{"type":"TEARDOWN""#);
    assert_eq!(status, 400);
    assert!(!body.is_empty(), "a malformed call gets its reason");
    let (status, body) = call(
        c.addr,
        Some(&stream),
        r#"{"type":"FROBNICATE","framework_id":{"value":"x"}}"#,
    );
    assert!(status == 400 || status == 403, "{status} {body}");
    assert_eq!(
        c.frameworks().len(),
        1,
        "bad calls leave the state as it was"
    );

    let (status, body) = call(c.addr, Some(&stream), &teardown);
    assert_eq!(
        (status, body.as_str()),
        (202, ""),
        "accepted calls get exactly 202 and no body"
    );
    while r.event().is_some() {}
    assert!(c.frameworks().is_empty());
}

#[test]
fn resubscribing_with_the_framework_id_is_failover() {
    let c = Cluster::start();
    let (mut old, _, id) = subscribe(c.addr, SUBSCRIBE);
    let again = format!(
        r#"{{"type":"SUBSCRIBE","framework_id":{{"value":"{id}"}},"subscribe":{{"framework_info":{{"user":"root","name":"test-fw","id":{{"value":"{id}"}}}}}}}}"#
    );
    let (_new, new_stream, new_id) = subscribe(c.addr, &again);
    assert_eq!(new_id, id);
    let mut saw_error = false;
    while let Some(e) = old.event() {
        if e["type"] == "ERROR" {
            assert_eq!(e["error"]["message"], "Framework failed over");
            saw_error = true;
        }
    }
    assert!(saw_error, "the old connection is told why it ends");
    assert_eq!(c.frameworks().len(), 1);
    let teardown = format!(r#"{{"type":"TEARDOWN","framework_id":{{"value":"{id}"}}}}"#);
    assert_eq!(call(c.addr, Some(&new_stream), &teardown).0, 202);
}
