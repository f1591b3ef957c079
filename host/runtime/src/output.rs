//! Guest stdout/stderr: each complete line is re-emitted through `tracing` under the module's
//! name, and the last few KiB are kept so a trap report can quote the guest's panic message.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

const KEEP: usize = 4096;

#[derive(Default)]
struct Inner {
    line: Vec<u8>,
    tail: VecDeque<u8>,
}

/// A guest output stream (stdout or stderr) that never blocks and never fails.
#[derive(Clone)]
pub struct GuestOutput {
    module: Arc<str>,
    stream: &'static str,
    inner: Arc<Mutex<Inner>>,
}

impl GuestOutput {
    pub fn new(module: Arc<str>, stream: &'static str) -> Self {
        GuestOutput {
            module,
            stream,
            inner: Arc::default(),
        }
    }

    fn push(&self, bytes: &[u8]) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        for &b in bytes {
            inner.tail.push_back(b);
            if inner.tail.len() > KEEP {
                inner.tail.pop_front();
            }
            if b == b'\n' {
                let line = std::mem::take(&mut inner.line);
                self.emit(&line);
            } else if inner.line.len() < KEEP {
                inner.line.push(b);
            }
        }
    }

    fn emit(&self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        tracing::info!(target: "meseta::module", module = %self.module, stream = self.stream, "{}", text.trim_end());
    }

    pub fn clear(&self) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.tail.clear();
        }
    }

    /// The last non-empty line the guest wrote, if any (e.g. a panic message).
    pub fn last_line(&self) -> Option<String> {
        let inner = self.inner.lock().ok()?;
        let bytes: Vec<u8> = inner.tail.iter().copied().collect();
        let text = String::from_utf8_lossy(&bytes).to_string();
        text.lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("note:"))
            .map(str::to_string)
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: bytes::Bytes) -> Result<(), StreamError> {
        self.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }
    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
