#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Issue 18, finding 5: the master's and the agent's HTTP servers close idle and slowloris
//! connections, cap their connections, and refuse oversized bodies (413) and fields (400),
//! saying which limit was hit; ordinary requests and the SUBSCRIBE stream carry on.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use meseta_http::Limits;
use meseta_tests::cluster::{Cluster, RES, T, eventually, framework, master_config};
use meseta_tests::daemons::{http_get, http_request};
use serde_json::json;

const HEADER_READ: Duration = Duration::from_secs(1);
const IDLE: Duration = Duration::from_secs(2);

fn short_limits() -> Limits {
    Limits {
        header_read_timeout: HEADER_READ,
        idle_timeout: IDLE,
        ..Limits::default()
    }
}

/// Whether the server closes `conn` (end of file or reset) before `patience` runs out; what it
/// sends first (a response) is read and dropped.
fn closed_by_server(conn: &mut TcpStream, patience: Duration) -> bool {
    let deadline = Instant::now() + patience;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        conn.set_read_timeout(Some(left)).unwrap();
        match conn.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

/// `GET /health` on a kept-alive connection; the status line.
fn get_health(conn: &mut TcpStream, addr: &str) -> String {
    write!(conn, "GET /health HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    conn.set_read_timeout(Some(T)).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            conn.read(&mut byte).unwrap(),
            1,
            "connection closed mid-response"
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(
        head.to_ascii_lowercase().contains("content-length: 0"),
        "{head}"
    );
    head.lines().next().unwrap_or_default().to_string()
}

/// Opens connections of three kinds to `addr` and checks the server closes each: `fresh` that
/// never send a byte, `idle` that make one request and then wait, and `slow` that send a
/// request head one byte at a time, never finishing it. A connection that makes a request every
/// half `IDLE` meanwhile stays open throughout.
fn attack_and_check(addr: &str, fresh: usize, idle: usize, slow: usize) {
    let mut fresh: Vec<TcpStream> = (0..fresh)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    let mut idle: Vec<TcpStream> = (0..idle)
        .map(|_| {
            let mut c = TcpStream::connect(addr).unwrap();
            assert!(get_health(&mut c, addr).contains("200"));
            c
        })
        .collect();
    let started = Instant::now();

    // The slowloris: one byte per connection every 100 ms, a header line that never ends the
    // head. Meanwhile a polite keep-alive client, one request per IDLE / 2.
    let slow_head = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n");
    let filler = "X-Slow: 1\r\n";
    let mut slow: Vec<(TcpStream, usize)> = (0..slow)
        .map(|_| {
            let c = TcpStream::connect(addr).unwrap();
            c.set_nonblocking(true).unwrap();
            (c, 0)
        })
        .collect();
    let mut polite = TcpStream::connect(addr).unwrap();
    let mut polite_requests = 0;
    let mut next_polite = Instant::now();
    let mut open = slow.len();
    let deadline = Instant::now() + HEADER_READ * 10;
    let mut slow_closed = vec![false; slow.len()];
    while open > 0 {
        assert!(
            Instant::now() < deadline,
            "{open} slowloris connections still open after {:?}",
            started.elapsed()
        );
        for (i, (conn, sent)) in slow.iter_mut().enumerate() {
            if slow_closed[i] {
                continue;
            }
            let mut buf = [0u8; 256];
            match conn.read(&mut buf) {
                Ok(0) => slow_closed[i] = true,
                Ok(n) => panic!(
                    "a slowloris connection was answered: {}",
                    String::from_utf8_lossy(&buf[..n])
                ),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    let text = slow_head
                        .as_bytes()
                        .iter()
                        .chain(filler.as_bytes().iter().cycle());
                    let byte = *text.clone().nth(*sent).unwrap();
                    match conn.write(&[byte]) {
                        Ok(_) => *sent += 1,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(_) => slow_closed[i] = true,
                    }
                }
                Err(_) => slow_closed[i] = true,
            }
            if slow_closed[i] {
                open -= 1;
            }
        }
        if Instant::now() >= next_polite {
            assert!(get_health(&mut polite, addr).contains("200"));
            polite_requests += 1;
            next_polite = Instant::now() + IDLE / 2;
        }
        // The slowloris' pace: what the test sends, not a wait for an event.
        std::thread::sleep(Duration::from_millis(100));
    }
    for (i, (_, sent)) in slow.iter().enumerate() {
        assert!(*sent >= 3, "slowloris {i} sent only {sent} bytes");
    }

    for (i, c) in fresh.iter_mut().enumerate() {
        assert!(
            closed_by_server(c, HEADER_READ * 10),
            "connection {i} that never sent a byte is still open"
        );
    }
    for (i, c) in idle.iter_mut().enumerate() {
        assert!(
            closed_by_server(c, IDLE * 10),
            "idle keep-alive connection {i} is still open"
        );
    }
    // The polite client kept its connection past the idle timeout.
    while started.elapsed() < IDLE * 2 {
        assert!(get_health(&mut polite, addr).contains("200"));
        polite_requests += 1;
        std::thread::sleep(IDLE / 2);
    }
    assert!(polite_requests >= 4, "{polite_requests}");
}

#[test]
fn the_master_closes_idle_and_slowloris_connections_but_not_streams() {
    let mut config = master_config();
    config.http = short_limits();
    let mut c = Cluster::start(config, &[]);
    c.add_agent_with(RES, |a| a.http = short_limits());
    let mut s = c.subscribe(framework("patient"));
    let offers = s.wait_offers(T).unwrap();

    attack_and_check(&c.addr, 300, 100, 50);

    // The SUBSCRIBE stream outlived the idle timeout many times over: the framework's calls
    // are still answered and new offers still arrive on it.
    while s.next_event(Duration::ZERO).is_some() {} // what came before or during the attack
    let ids: Vec<String> = offers
        .iter()
        .map(|o| o["id"]["value"].as_str().unwrap().to_string())
        .collect();
    let (code, body) = s.decline(&ids, 0.0).unwrap();
    assert_eq!(code, 202, "{body}");
    s.wait_offers(T).unwrap();
    let state = c.state();
    assert_eq!(state["frameworks"][0]["active"], true, "{state}");
    assert_eq!(state["activated_slaves"], 1, "{state}");
}

#[test]
fn the_agent_closes_idle_and_slowloris_connections_and_keeps_running_tasks() {
    let mut config = master_config();
    config.http = short_limits();
    let mut c = Cluster::start(config, &[]);
    c.add_agent_with(RES, |a| a.http = short_limits());
    let agent = c.agents[0].as_ref().unwrap().address().to_string();

    attack_and_check(&agent, 100, 50, 20);

    // The agent still serves, and master and agent still talk: a task runs to its end.
    let (code, _) = http_get(&format!("http://{agent}"), "/state").unwrap();
    assert_eq!(code, 200);
    let mut s = c.subscribe(framework("after"));
    let offers = s.wait_offers(T).unwrap();
    let offer = offers[0]["id"]["value"].as_str().unwrap().to_string();
    let agent_id = offers[0]["agent_id"]["value"].clone();
    let task = json!({
        "name": "t", "task_id": {"value": "t"}, "agent_id": {"value": agent_id},
        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                      {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}],
        "command": {"value": "true"},
    });
    let (code, body) = s.accept(&[offer], json!([task]), 0.0).unwrap();
    assert_eq!(code, 202, "{body}");
    s.wait_state("t", "TASK_FINISHED", T).unwrap();
}

#[test]
fn connections_over_the_cap_wait_for_a_free_one() {
    let mut config = master_config();
    config.http = Limits {
        max_connections: 8,
        ..Limits::default()
    };
    let c = Cluster::start(config, &[]);
    let mut held: Vec<TcpStream> = (0..8)
        .map(|_| TcpStream::connect(&c.addr).unwrap())
        .collect();
    // Each of the eight is being served: a request on it is answered.
    for conn in &mut held {
        assert!(get_health(conn, &c.addr).contains("200"));
    }
    let mut ninth = TcpStream::connect(&c.addr).unwrap();
    write!(ninth, "GET /health HTTP/1.1\r\nHost: {}\r\n\r\n", c.addr).unwrap();
    ninth
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 256];
    match ninth.read(&mut buf) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("the ninth connection was served past the cap of 8: {other:?}"),
    }
    // One closes: the ninth is served.
    drop(held.pop());
    ninth.set_read_timeout(Some(T)).unwrap();
    let n = ninth.read(&mut buf).unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
}

#[test]
fn oversized_bodies_and_fields_are_refused_naming_the_limit() {
    let mut config = master_config();
    config.http = Limits {
        max_body_size: 12 << 20,
        ..Limits::default()
    };
    let mut c = Cluster::start(config, &[]);
    c.add_agent_with(RES, |a| {
        a.http = Limits {
            max_body_size: 1 << 20,
            ..Limits::default()
        }
    });
    let master = format!("http://{}", c.addr);

    // A framework with a 9 MB name: 400, naming the field and the limit; nothing is kept.
    let name = "n".repeat(9 << 20);
    let call =
        json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": name}}});
    let (code, _, body) =
        http_request(&master, "POST", "/api/v1/scheduler", &[], &call.to_string()).unwrap();
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains(&format!(
            "field 'subscribe.framework_info.name' is {} bytes long, over the limit of 1024 bytes",
            9 << 20
        )),
        "{body}"
    );
    let state = c.state();
    assert_eq!(state["frameworks"].as_array().unwrap().len(), 0, "{state}");

    // A task with a 9 MB label value from a subscribed framework: 400 naming it.
    let s = c.subscribe(framework("labels"));
    let value = "v".repeat(9 << 20);
    let (code, body) = s
        .call(json!({"type": "ACCEPT", "accept": {"offer_ids": [], "operations": [
            {"type": "LAUNCH", "launch": {"task_infos": [{"name": "t", "task_id": {"value": "t"},
             "agent_id": {"value": "a"}, "labels": {"labels": [{"key": "k", "value": value}]}}]}}]}}))
        .unwrap();
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("field 'accept.operations[0].launch.task_infos[0].labels.labels[0].value'")
            && body.contains("over the limit of 131072 bytes"),
        "{body}"
    );

    // A body over --http_max_body_size: 413 saying so, with a length given or chunked.
    // (The head alone: the length is refused before any of the body is read.)
    let mut conn = TcpStream::connect(&c.addr).unwrap();
    write!(
        conn,
        "POST /api/v1/scheduler HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        c.addr,
        13 << 20
    )
    .unwrap();
    let mut answer = String::new();
    conn.set_read_timeout(Some(T)).unwrap();
    let mut buf = [0u8; 4096];
    while !answer.contains("--http_max_body_size") {
        let n = conn.read(&mut buf).unwrap();
        assert!(n > 0, "closed after: {answer}");
        answer.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains(
            "the request body is over the limit of 12582912 bytes (--http_max_body_size)"
        ),
        "{answer}"
    );
    let agent = c.agents[0].as_ref().unwrap().address().to_string();
    let mut conn = TcpStream::connect(&agent).unwrap();
    write!(
        conn,
        "POST /api/v1/executor HTTP/1.1\r\nHost: {agent}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let chunk = "c".repeat(64 << 10);
    for _ in 0..32 {
        if write!(conn, "{:x}\r\n{chunk}\r\n", chunk.len()).is_err() {
            break; // the agent answered and closed before the end
        }
    }
    let _ = write!(conn, "0\r\n\r\n");
    let mut answer = String::new();
    conn.set_read_timeout(Some(T)).unwrap();
    let _ = conn.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("over the limit of 1048576 bytes (--http_max_body_size)"),
        "{answer}"
    );
    eventually("the master still serves", || {
        http_get(&master, "/health").is_ok_and(|(code, _)| code == 200)
    });
}
