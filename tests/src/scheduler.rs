//! A small blocking v1 scheduler client for end-to-end tests.
//!
//! [`Scheduler::subscribe`] POSTs `SUBSCRIBE`, keeps the stream open on a background thread
//! that decodes the chunked body and its RecordIO records (`<len>\n<json>`), and queues every
//! event but `HEARTBEAT`. Tests take events in arrival order ([`Scheduler::next_event`]) or
//! pick the first one matching a predicate, leaving the others queued
//! ([`Scheduler::wait_for`]). Calls go on fresh `Connection: close` connections with the
//! stream's `Mesos-Stream-Id`. Dropping the scheduler closes the stream.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::daemons::Failure;

/// A subscribed framework.
pub struct Scheduler {
    /// The master's `host:port`.
    pub master: String,
    framework_id: String,
    stream_id: String,
    events: mpsc::Receiver<Value>,
    queued: VecDeque<Value>,
    closed: bool,
    auto_ack: Arc<AtomicBool>,
    stream: TcpStream,
    /// The `Authorization` header every request carries (a framework's credentials).
    authorization: Option<String>,
}

impl Scheduler {
    /// SUBSCRIBEs with `framework_info` (its `id`, when set, also goes in the call's top-level
    /// `framework_id`: a failover) and waits for `SUBSCRIBED`.
    pub fn subscribe(master: &str, framework_info: Value) -> Result<Scheduler, Failure> {
        Scheduler::subscribe_with(master, framework_info, None)
    }

    /// [`Scheduler::subscribe`] with an `Authorization` header on every request (the stream's
    /// and every call's).
    pub fn subscribe_with(
        master: &str,
        framework_info: Value,
        authorization: Option<&str>,
    ) -> Result<Scheduler, Failure> {
        let mut call =
            json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info}});
        if let Some(id) = framework_info.get("id") {
            call["framework_id"] = id.clone();
        }
        let err =
            |what: &str, e: std::io::Error| Failure(format!("SUBSCRIBE to {master}: {what}: {e}"));
        let mut stream = TcpStream::connect(master).map_err(|e| err("connect", e))?;
        let body = call.to_string();
        let auth = authorization
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        write!(
            stream,
            "POST /api/v1/scheduler HTTP/1.1\r\nHost: {master}\r\nContent-Type: application/json\r\n\
             {auth}Accept: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .map_err(|e| err("write", e))?;
        let mut reader = BufReader::new(stream.try_clone().map_err(|e| err("clone", e))?);
        let (status, headers) = read_head(&mut reader).map_err(|e| err("read", e))?;
        if status != 200 {
            let mut rest = String::new();
            let _ = reader.read_to_string(&mut rest);
            return Err(Failure(format!("SUBSCRIBE to {master}: {status}: {rest}")));
        }
        let stream_id = header(&headers, "mesos-stream-id").unwrap_or_default();
        let (tx, events) = mpsc::channel();
        let auto_ack = Arc::new(AtomicBool::new(false));
        let mut scheduler = Scheduler {
            master: master.to_string(),
            framework_id: String::new(),
            stream_id,
            events,
            queued: VecDeque::new(),
            closed: false,
            auto_ack: auto_ack.clone(),
            stream,
            authorization: authorization.map(str::to_string),
        };
        let acker = (
            master.to_string(),
            scheduler.stream_id.clone(),
            scheduler.authorization.clone(),
        );
        std::thread::spawn(move || read_events(reader, tx, auto_ack, acker));
        let first = scheduler
            .next_event(Duration::from_secs(30))
            .ok_or_else(|| Failure(format!("SUBSCRIBE to {master}: no event")))?;
        match first["subscribed"]["framework_id"]["value"].as_str() {
            Some(id) if first["type"] == "SUBSCRIBED" => {
                scheduler.framework_id = id.to_string();
                Ok(scheduler)
            }
            _ => Err(Failure(format!(
                "SUBSCRIBE to {master}: first event {first}"
            ))),
        }
    }

    pub fn framework_id(&self) -> &str {
        &self.framework_id
    }

    pub fn stream_id(&self) -> &str {
        &self.stream_id
    }

    /// Acknowledge every UPDATE that carries a `uuid` as it arrives (the update is still
    /// queued for the test).
    pub fn set_auto_ack(&self, on: bool) {
        self.auto_ack.store(on, Ordering::SeqCst);
    }

    /// The next event, in arrival order; `None` after `timeout` or once the stream ended.
    pub fn next_event(&mut self, timeout: Duration) -> Option<Value> {
        if let Some(ev) = self.queued.pop_front() {
            return Some(ev);
        }
        self.receive(timeout)
    }

    fn receive(&mut self, timeout: Duration) -> Option<Value> {
        if self.closed {
            return None;
        }
        match self.events.recv_timeout(timeout) {
            Ok(ev) => Some(ev),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                self.closed = true;
                None
            }
        }
    }

    /// The first event (queued or arriving within `timeout`) for which `pred` holds; the
    /// others stay queued.
    pub fn try_wait_for(
        &mut self,
        mut pred: impl FnMut(&Value) -> bool,
        timeout: Duration,
    ) -> Option<Value> {
        if let Some(i) = self.queued.iter().position(&mut pred) {
            return self.queued.remove(i);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ev = self.receive(left)?;
            if pred(&ev) {
                return Some(ev);
            }
            self.queued.push_back(ev);
        }
    }

    /// As [`Scheduler::try_wait_for`], an error (listing what arrived) when nothing matched.
    pub fn wait_for(
        &mut self,
        pred: impl FnMut(&Value) -> bool,
        timeout: Duration,
    ) -> Result<Value, Failure> {
        self.try_wait_for(pred, timeout).ok_or_else(|| {
            let seen: Vec<String> = self.queued.iter().map(Value::to_string).collect();
            Failure(format!(
                "framework {}: no matching event within {timeout:?} (stream closed: {}); queued:\n{}",
                self.framework_id,
                self.closed,
                seen.join("\n")
            ))
        })
    }

    /// The next OFFERS event's offers.
    pub fn wait_offers(&mut self, timeout: Duration) -> Result<Vec<Value>, Failure> {
        let ev = self.wait_for(|e| e["type"] == "OFFERS", timeout)?;
        Ok(ev["offers"]["offers"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// The next UPDATE of `task_id` (acknowledged if it carries a uuid and auto-ack is off).
    pub fn wait_update(&mut self, task_id: &str, timeout: Duration) -> Result<Value, Failure> {
        let ev = self.wait_for(|e| is_update_of(e, task_id), timeout)?;
        let status = ev["update"]["status"].clone();
        if !self.auto_ack.load(Ordering::SeqCst) && status.get("uuid").is_some() {
            self.ack(&status)?;
        }
        Ok(status)
    }

    /// Waits for an UPDATE of `task_id` in `state`, acknowledging updates on the way.
    pub fn wait_state(
        &mut self,
        task_id: &str,
        state: &str,
        timeout: Duration,
    ) -> Result<Value, Failure> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let status = self
                .wait_update(task_id, left)
                .map_err(|f| Failure(format!("waiting for {task_id} to be {state}: {f}")))?;
            if status["state"] == state {
                return Ok(status);
            }
        }
    }

    /// Drains the stream until it ends; whether it did within `timeout`.
    pub fn wait_closed(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.closed && Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if let Some(ev) = self.receive(left) {
                self.queued.push_back(ev);
            }
        }
        self.closed
    }

    /// POSTs `call` (with this framework's id and stream id): the status and the body.
    pub fn call(&self, mut call: Value) -> Result<(u16, String), Failure> {
        call["framework_id"] = json!({"value": self.framework_id});
        post_call_with(
            &self.master,
            Some(&self.stream_id),
            self.authorization.as_deref(),
            call.to_string().as_bytes(),
        )
    }

    /// ACCEPT with one LAUNCH of `tasks` (a JSON array of TaskInfo), unused resources
    /// refused for `refuse_seconds`.
    pub fn accept(
        &self,
        offer_ids: &[String],
        tasks: Value,
        refuse_seconds: f64,
    ) -> Result<(u16, String), Failure> {
        self.accept_operations(
            offer_ids,
            json!([{"type": "LAUNCH", "launch": {"task_infos": tasks}}]),
            refuse_seconds,
        )
    }

    pub fn accept_operations(
        &self,
        offer_ids: &[String],
        operations: Value,
        refuse_seconds: f64,
    ) -> Result<(u16, String), Failure> {
        self.call(json!({"type": "ACCEPT", "accept": {
            "offer_ids": ids(offer_ids),
            "operations": operations,
            "filters": {"refuse_seconds": refuse_seconds},
        }}))
    }

    pub fn decline(
        &self,
        offer_ids: &[String],
        refuse_seconds: f64,
    ) -> Result<(u16, String), Failure> {
        self.call(json!({"type": "DECLINE", "decline": {
            "offer_ids": ids(offer_ids),
            "filters": {"refuse_seconds": refuse_seconds},
        }}))
    }

    /// ACKNOWLEDGE a status (the `status` object of an UPDATE).
    pub fn ack(&self, status: &Value) -> Result<(u16, String), Failure> {
        self.call(ack_call(status))
    }

    pub fn kill(&self, task_id: &str) -> Result<(u16, String), Failure> {
        self.call(json!({"type": "KILL", "kill": {"task_id": {"value": task_id}}}))
    }

    /// RECONCILE the named tasks; none: implicit reconciliation.
    pub fn reconcile(&self, task_ids: &[&str]) -> Result<(u16, String), Failure> {
        let tasks: Vec<Value> = task_ids
            .iter()
            .map(|t| json!({"task_id": {"value": t}}))
            .collect();
        self.call(json!({"type": "RECONCILE", "reconcile": {"tasks": tasks}}))
    }

    pub fn teardown(&self) -> Result<(u16, String), Failure> {
        self.call(json!({"type": "TEARDOWN"}))
    }

    pub fn revive(&self) -> Result<(u16, String), Failure> {
        self.call(json!({"type": "REVIVE"}))
    }

    pub fn suppress(&self) -> Result<(u16, String), Failure> {
        self.call(json!({"type": "SUPPRESS"}))
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// Whether `event` is an UPDATE of `task_id`.
pub fn is_update_of(event: &Value, task_id: &str) -> bool {
    event["type"] == "UPDATE" && event["update"]["status"]["task_id"]["value"] == task_id
}

/// The ids of offers.
pub fn offer_ids(offers: &[Value]) -> Vec<String> {
    offers
        .iter()
        .filter_map(|o| o["id"]["value"].as_str().map(str::to_string))
        .collect()
}

/// The scalar `name` of an offer's (or task's) `resources`, summed.
pub fn scalar(resources: &Value, name: &str) -> f64 {
    resources
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter(|r| r["name"] == name)
                .filter_map(|r| r["scalar"]["value"].as_f64())
                .sum()
        })
        .unwrap_or(0.0)
}

/// A command task (`sh -c command`) on `agent_id` with `cpus` and `mem`.
pub fn task(id: &str, agent_id: &str, command: &str, cpus: f64, mem: f64) -> Value {
    json!({
        "name": id,
        "task_id": {"value": id},
        "agent_id": {"value": agent_id},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}},
        ],
        "command": {"value": command, "shell": true},
    })
}

fn ids(offer_ids: &[String]) -> Vec<Value> {
    offer_ids.iter().map(|i| json!({"value": i})).collect()
}

fn ack_call(status: &Value) -> Value {
    json!({"type": "ACKNOWLEDGE", "acknowledge": {
        "agent_id": status["agent_id"],
        "task_id": status["task_id"],
        "uuid": status["uuid"],
    }})
}

/// POSTs `body` to `/api/v1/scheduler` on `master`, with `Mesos-Stream-Id` when given: the
/// status and the (de-chunked) body.
pub fn post_call(
    master: &str,
    stream_id: Option<&str>,
    body: &[u8],
) -> Result<(u16, String), Failure> {
    post_to(master, "/api/v1/scheduler", stream_id, body)
}

/// [`post_call`] with an `Authorization` header.
pub fn post_call_with(
    master: &str,
    stream_id: Option<&str>,
    authorization: Option<&str>,
    body: &[u8],
) -> Result<(u16, String), Failure> {
    let mut headers = Vec::new();
    if let Some(s) = stream_id {
        headers.push(("Mesos-Stream-Id", s));
    }
    if let Some(a) = authorization {
        headers.push(("Authorization", a));
    }
    post_with_headers(master, "/api/v1/scheduler", &headers, body)
}

/// POSTs a JSON `body` to `path` on `master` (see [`post_call`]).
pub fn post_to(
    master: &str,
    path: &str,
    stream_id: Option<&str>,
    body: &[u8],
) -> Result<(u16, String), Failure> {
    match stream_id {
        Some(s) => post_with_headers(master, path, &[("Mesos-Stream-Id", s)], body),
        None => post_with_headers(master, path, &[], body),
    }
}

/// POSTs a JSON `body` to `path` on `master` with extra `headers`: the status and the
/// (de-chunked) body.
pub fn post_with_headers(
    master: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(u16, String), Failure> {
    let err = |what: &str, e: std::io::Error| Failure(format!("POST to {master}: {what}: {e}"));
    let mut stream = TcpStream::connect(master).map_err(|e| err("connect", e))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| err("socket", e))?;
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {master}\r\nContent-Type: application/json\r\n\
         {extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .map_err(|e| err("write", e))?;
    // A server may answer (413) and close before reading a large body: a failed write is not
    // the end, the answer may be there.
    let _ = stream.write_all(body);
    let mut reader = BufReader::new(stream);
    let (status, headers) = read_head(&mut reader).map_err(|e| err("read", e))?;
    let body = if header(&headers, "transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        let mut out = Vec::new();
        while let Some(chunk) = read_chunk(&mut reader).map_err(|e| err("read", e))? {
            out.extend(chunk);
        }
        out
    } else if let Some(len) = header(&headers, "content-length").and_then(|l| l.parse().ok()) {
        let mut out = vec![0; len];
        reader.read_exact(&mut out).map_err(|e| err("read", e))?;
        out
    } else {
        let mut out = Vec::new();
        let _ = reader.read_to_end(&mut out);
        out
    };
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// The status code and the headers (names lower-cased).
fn read_head(reader: &mut impl BufRead) -> std::io::Result<(u16, Vec<(String, String)>)> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let l = line.trim_end();
        if l.is_empty() {
            return Ok((status, headers));
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
}

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

/// One chunk of a chunked body; `None` at the last chunk.
fn read_chunk(reader: &mut impl BufRead) -> std::io::Result<Option<Vec<u8>>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
        .map_err(|_| std::io::Error::other(format!("bad chunk size {line:?}")))?;
    if size == 0 {
        return Ok(None);
    }
    let mut data = vec![0; size + 2];
    reader.read_exact(&mut data)?;
    data.truncate(size);
    Ok(Some(data))
}

/// The stream's reader thread: chunks → RecordIO records → events.
fn read_events(
    mut reader: BufReader<TcpStream>,
    tx: mpsc::Sender<Value>,
    auto_ack: Arc<AtomicBool>,
    (master, stream_id, authorization): (String, String, Option<String>),
) {
    let mut framework_id = Value::Null;
    for_each_record(&mut reader, |event| {
        if event["type"] == "HEARTBEAT" {
            return true;
        }
        if event["type"] == "SUBSCRIBED" {
            framework_id = event["subscribed"]["framework_id"].clone();
        }
        if auto_ack.load(Ordering::SeqCst)
            && event["type"] == "UPDATE"
            && event["update"]["status"].get("uuid").is_some()
        {
            let mut call = ack_call(&event["update"]["status"]);
            call["framework_id"] = framework_id.clone();
            let _ = post_call_with(
                &master,
                Some(&stream_id),
                authorization.as_deref(),
                call.to_string().as_bytes(),
            );
        }
        tx.send(event).is_ok()
    });
}

/// Decodes a chunked RecordIO body (`<len>\n<json>` records, split across chunks any way) and
/// hands each record to `f` until it returns `false`, the body ends, or a record is not JSON.
fn for_each_record(reader: &mut impl BufRead, mut f: impl FnMut(Value) -> bool) {
    let mut buffer: Vec<u8> = Vec::new();
    while let Ok(Some(chunk)) = read_chunk(reader) {
        buffer.extend(chunk);
        while let Some(newline) = buffer.iter().position(|b| *b == b'\n') {
            let Some(len) = std::str::from_utf8(&buffer[..newline])
                .ok()
                .and_then(|l| l.trim().parse::<usize>().ok())
            else {
                return; // not RecordIO: give up on the stream
            };
            if buffer.len() < newline + 1 + len {
                break;
            }
            let record: Vec<u8> = buffer
                .drain(..newline + 1 + len)
                .skip(newline + 1)
                .collect();
            let Ok(event) = serde_json::from_slice::<Value>(&record) else {
                return;
            };
            if !f(event) {
                return;
            }
        }
    }
}

/// An operator's event stream: `SUBSCRIBE` on the master's `/api/v1`, its RecordIO records
/// decoded on a background thread, HEARTBEATs included. Dropping it closes the connection.
pub struct OperatorStream {
    events: mpsc::Receiver<Value>,
    stream: TcpStream,
}

impl OperatorStream {
    /// Subscribes; the first event (SUBSCRIBED) is left for the test to take.
    pub fn open(master: &str, authorization: Option<&str>) -> Result<OperatorStream, Failure> {
        let err =
            |what: &str, e: std::io::Error| Failure(format!("SUBSCRIBE to {master}: {what}: {e}"));
        let mut stream = TcpStream::connect(master).map_err(|e| err("connect", e))?;
        let body = r#"{"type": "SUBSCRIBE"}"#;
        let auth = authorization
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        write!(
            stream,
            "POST /api/v1 HTTP/1.1\r\nHost: {master}\r\nContent-Type: application/json\r\n\
             {auth}Accept: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .map_err(|e| err("write", e))?;
        let mut reader = BufReader::new(stream.try_clone().map_err(|e| err("clone", e))?);
        let (status, _) = read_head(&mut reader).map_err(|e| err("read", e))?;
        if status != 200 {
            return Err(Failure(format!("SUBSCRIBE to {master}: {status}")));
        }
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for_each_record(&mut reader, |event| tx.send(event).is_ok());
        });
        Ok(OperatorStream { events, stream })
    }

    /// The next event, HEARTBEATs included; `None` after `timeout` or when the stream ended.
    pub fn next(&self, timeout: Duration) -> Option<Value> {
        self.events.recv_timeout(timeout).ok()
    }

    /// The next event that is not a HEARTBEAT.
    pub fn next_change(&self, timeout: Duration) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let event = self.events.recv_timeout(left).ok()?;
            if event["type"] != "HEARTBEAT" {
                return Some(event);
            }
        }
    }
}

impl Drop for OperatorStream {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}
