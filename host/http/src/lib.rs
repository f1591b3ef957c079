//! The HTTP serving the master and the agent share: [`serve`] runs an axum [`Router`] on a
//! bound listener with the [`Limits`] a server on an untrusted network needs.
//!
//! - **Connections**: at most `max_connections` at once (`--http_max_connections`); past it the
//!   server stops accepting until one closes (new clients wait in the kernel's backlog), as Go's
//!   `netutil.LimitListener` does.
//! - **Header read**: a request's head must arrive within `header_read_timeout` of its first
//!   byte (of the connection's start, for its first request), or the connection is closed
//!   (`--http_header_read_timeout`): a slowloris client sending its headers a byte at a time is
//!   cut off.
//! - **Idle**: a keep-alive connection with no request in flight and no byte of a new one is
//!   closed after `idle_timeout` (`--http_idle_timeout`). A request is in flight until its
//!   response body has been sent, so the long-lived streams (a framework's SUBSCRIBE, an
//!   executor's) are never cut.
//! - **Body**: a request body over `max_body_size` (`--http_max_body_size`) is refused with 413,
//!   saying which limit and its value: at once when its `Content-Length` says so, else once
//!   that much has been read (axum's [`DefaultBodyLimit`], for chunked bodies).
//!
//! hyper's own `header_read_timeout` runs from the end of one response to the end of the next
//! request's head, so it cannot tell an idle keep-alive connection from a slow one (hyper#1628,
//! hyper#3828); the two phases are timed here, around hyper's connection, instead.
//!
//! - **TLS**: with `LIBPROCESS_SSL_ENABLED` ([`tls`]) a connection must begin with a TLS
//!   handshake (its first byte, `0x16`, is sniffed) or it is closed, unless
//!   `LIBPROCESS_SSL_SUPPORT_DOWNGRADE` lets it be served in clear on the same port. The
//!   handshake counts against the header-read timeout.
//!
//! [`client`] is the matching client: `https` with the same configuration.
//!
//! **Invariant:** a connection is only ever closed for a limit while no request is in flight on
//! it. **API boundary:** [`serve`], [`serve_with`], [`Limits`], [`client()`], [`tls`].

pub mod auth;

use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

pub mod client;
pub mod tls;

pub use client::{ClientOptions, Connector, HttpClient, client, client_with};
pub use tls::TlsConfig;

/// What one server accepts. The defaults are the daemons' flag defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `--http_max_connections`: connections open at once.
    pub max_connections: usize,
    /// `--http_header_read_timeout`: from a request's first byte to the end of its head.
    pub header_read_timeout: Duration,
    /// `--http_idle_timeout`: how long a connection may wait, with nothing in flight, for the
    /// first byte of its next request.
    pub idle_timeout: Duration,
    /// `--http_max_body_size`: bytes of one request body.
    pub max_body_size: usize,
}

/// `--http_max_connections` (enough for 10,000 agents with a connection each, and their
/// frameworks).
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;
/// `--http_header_read_timeout` (hyper's default header read timeout).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// `--http_idle_timeout`. Long: framework libraries (pymesos) send their calls on one
/// keep-alive connection and do not retry a call on a connection the server closed while it
/// was idle, so it is closed only when it is surely abandoned (Envoy's default idle timeout).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(3600);
/// `--http_max_body_size` (16 MiB, far above any real call; Mesos has no limit).
pub const DEFAULT_MAX_BODY_SIZE: usize = 16 << 20;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_body_size: DEFAULT_MAX_BODY_SIZE,
        }
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` resolves; then stops accepting,
/// lets every connection finish its request in flight, and returns once all have closed.
pub async fn serve<F>(listener: TcpListener, app: Router, limits: Limits, shutdown: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let tls = match tls::process() {
        Ok(tls) => tls,
        Err(e) => {
            // The daemons check it before they bind; a server never falls back to plaintext.
            tracing::error!("not serving: {e}");
            return;
        }
    };
    serve_with(listener, app, limits, tls, shutdown).await;
}

/// [`serve`] with an explicit TLS configuration (`None`: plaintext only) instead of the
/// process's `LIBPROCESS_SSL_*`.
pub async fn serve_with<F>(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    tls: Option<Arc<TlsConfig>>,
    shutdown: F,
) where
    F: Future<Output = ()> + Send + 'static,
{
    let tls = tls.map(|t| (TlsAcceptor::from(t.server.clone()), t.support_downgrade));
    let app = with_body_limit(app, limits.max_body_size);
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let permit = match permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                tracing::warn!(
                    limit = limits.max_connections,
                    "connection limit reached (--http_max_connections): new connections wait until one closes"
                );
                tokio::select! {
                    permit = permits.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    if !is_connection_error(&e) {
                        // Out of file descriptors, most likely: wait rather than spin.
                        tracing::error!(error = %e, "cannot accept a connection");
                        tokio::select! {
                            () = tokio::time::sleep(Duration::from_secs(1)) => {}
                            () = &mut shutdown => break,
                        }
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let activity = Arc::new(Activity::new());
        let service = Tracked {
            app: app.clone(),
            activity: activity.clone(),
        };
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            // The TLS handshake is part of the first request's head, timed from the start.
            tokio::select! {
                () = connection(stream, tls, activity.clone(), service, watcher) => {}
                why = activity.expired(&limits) => {
                    tracing::debug!(why, "closing a connection");
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The first byte of a TLS ClientHello record (a handshake record).
const TLS_HANDSHAKE: u8 = 0x16;

/// Serves one accepted connection: in clear, or (with `tls`) after the TLS handshake; a
/// plaintext client of a TLS server is served only with `SUPPORT_DOWNGRADE` and otherwise
/// closed. Ends when the connection does.
async fn connection(
    stream: TcpStream,
    tls: Option<(TlsAcceptor, bool)>,
    activity: Arc<Activity>,
    service: Tracked,
    watcher: Watcher,
) {
    let Some((acceptor, downgrade)) = tls else {
        return http1(Watched::new(stream, activity), service, watcher).await;
    };
    let mut first = [0u8; 1];
    match stream.peek(&mut first).await {
        Ok(0) | Err(_) => return,
        Ok(_) => {}
    }
    if first[0] != TLS_HANDSHAKE {
        if downgrade {
            return http1(Watched::new(stream, activity), service, watcher).await;
        }
        tracing::debug!(
            "refusing a plaintext connection (LIBPROCESS_SSL_ENABLED without SUPPORT_DOWNGRADE)"
        );
        return;
    }
    match acceptor.accept(Watched::new(stream, activity)).await {
        Ok(stream) => http1(stream, service, watcher).await,
        Err(e) => tracing::debug!(error = %e, "TLS handshake failed"),
    }
}

/// hyper's HTTP/1 connection over `io`, watched for the graceful shutdown.
async fn http1<I>(io: I, service: Tracked, watcher: Watcher)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(conn).await {
        tracing::trace!(error = %e, "connection ended");
    }
}

/// Errors of one connection that `accept` reports; the listener itself is fine.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// `app` with request bodies bounded by `max` (axum's [`DefaultBodyLimit`], which also bounds
/// chunked bodies as they are read); a body whose declared length is over it is refused before
/// it is read. Either way the 413 says which limit and its value.
fn with_body_limit(app: Router, max: usize) -> Router {
    app.layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| async move {
            let declared = request
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            if declared.is_some_and(|n| n > max as u64) {
                return too_large(max);
            }
            let response = next.run(request).await;
            if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
                return too_large(max);
            }
            response
        },
    ))
    .layer(DefaultBodyLimit::max(max))
}

fn too_large(max: usize) -> Response {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("the request body is over the limit of {max} bytes (--http_max_body_size)"),
    )
        .into_response()
}

/// What a connection is doing, for its timeouts.
struct Activity {
    state: Mutex<State>,
    changed: Notify,
}

struct State {
    /// Requests whose responses are not yet sent.
    in_flight: usize,
    /// When the connection last had nothing in flight.
    idle_since: Instant,
    /// When the head of the next request began (the connection's start, for the first).
    head_since: Option<Instant>,
}

impl Activity {
    fn new() -> Activity {
        let now = Instant::now();
        Activity {
            state: Mutex::new(State {
                in_flight: 0,
                idle_since: now,
                head_since: Some(now),
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bytes arrived: with nothing in flight, they begin a request's head.
    fn read(&self) {
        let mut state = self.lock();
        if state.in_flight == 0 && state.head_since.is_none() {
            state.head_since = Some(Instant::now());
            drop(state);
            self.changed.notify_one();
        }
    }

    /// A request's head has been read: it is in flight until the guard drops.
    fn begin(self: &Arc<Self>) -> InFlight {
        {
            let mut state = self.lock();
            state.in_flight += 1;
            state.head_since = None;
        }
        self.changed.notify_one();
        InFlight(self.clone())
    }

    /// When the connection is to be closed, and why (`None`: a request is in flight).
    fn deadline(&self, limits: &Limits) -> Option<(Instant, &'static str)> {
        let state = self.lock();
        if state.in_flight > 0 {
            None
        } else if let Some(head) = state.head_since {
            Some((
                head + limits.header_read_timeout,
                "no complete request head within --http_header_read_timeout",
            ))
        } else {
            Some((
                state.idle_since + limits.idle_timeout,
                "idle for --http_idle_timeout",
            ))
        }
    }

    /// Resolves once the connection has overrun a timeout, with which.
    async fn expired(&self, limits: &Limits) -> &'static str {
        loop {
            match self.deadline(limits) {
                None => self.changed.notified().await,
                Some((at, why)) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {
                            if self.deadline(limits).is_some_and(|(at, _)| at <= Instant::now()) {
                                return why;
                            }
                        }
                        () = self.changed.notified() => {}
                    }
                }
            }
        }
    }
}

/// A request in flight; dropped when its response body has been sent (or abandoned).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        {
            let mut state = self.0.lock();
            state.in_flight = state.in_flight.saturating_sub(1);
            if state.in_flight == 0 {
                state.idle_since = Instant::now();
            }
        }
        self.0.changed.notify_one();
    }
}

/// The router, marking each request in flight until its response body is done.
#[derive(Clone)]
struct Tracked {
    app: Router,
    activity: Arc<Activity>,
}

impl hyper::service::Service<Request<Incoming>> for Tracked {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Self::Error>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let in_flight = self.activity.begin();
        let app = self.app.clone();
        Box::pin(async move {
            let response = app.oneshot(request.map(Body::new)).await?;
            Ok(response.map(move |body| {
                // The guard lives as long as the body: hyper drops it once it is sent.
                Body::new(body.map_frame(move |frame| {
                    still_in_flight(&in_flight);
                    frame
                }))
            }))
        })
    }
}

fn still_in_flight(_: &InFlight) {}

/// The connection's socket, telling [`Activity`] when bytes arrive (under TLS, the encrypted
/// bytes: a record of the next request begins its head as its first byte would).
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl Watched {
    fn new(inner: TcpStream, activity: Arc<Activity>) -> Watched {
        Watched { inner, activity }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
