#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The example framework's failure paths, without a master. (It runs against `meseta local` in
//! `tests/tests/example_framework.rs`. This test also makes `cargo test --workspace` build the
//! `example-framework` binary that one uses.)

use std::net::TcpListener;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn run(args: &[&str]) -> (Output, Duration) {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_example-framework"))
        .args(args)
        .output()
        .unwrap();
    (out, start.elapsed())
}

#[test]
fn no_master_is_an_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (out, _) = run(&["--master", &format!("127.0.0.1:{port}"), "--timeout", "10s"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("SUBSCRIBE"), "{stderr}");
}

#[test]
fn silent_master_times_out_naming_what_it_waited_for() {
    // Accepts connections (the kernel does, on listen) but never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (out, elapsed) = run(&["--master", &url, "--timeout", "1s"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("timed out after 1s waiting for the master"),
        "{stderr}"
    );
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    drop(listener);
}

#[test]
fn bad_timeout_is_a_usage_error() {
    let (out, _) = run(&["--timeout", "soon"]);
    assert_eq!(out.status.code(), Some(2));
}
