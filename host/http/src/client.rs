//! The one HTTP client constructor of every Meseta process that talks to a daemon (master to
//! agents, agent to master, the CLI, the example framework, the bench): hyper-util's pooled
//! `Client` over a [`Connector`] that speaks `https` when the process's TLS is enabled
//! ([`crate::tls`]) and plain `http` otherwise.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::Uri;
use hyper::body::Body;
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tower_service::Service;

use crate::tls::TlsConfig;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The settings of a client's connections.
#[derive(Clone, Copy, Debug)]
pub struct ClientOptions {
    /// `TCP_NODELAY` on every connection.
    pub nodelay: bool,
    /// How long a TCP connect may take (`None`: the system's).
    pub connect_timeout: Option<Duration>,
    /// How long a pooled connection may stay unused.
    pub pool_idle_timeout: Option<Duration>,
    /// TCP keepalive probes after this long idle (`None`: off).
    pub keepalive: Option<Duration>,
}

impl Default for ClientOptions {
    /// The daemons' settings: nodelay, a 5 s connect timeout, pooled connections dropped after
    /// 30 s unused.
    fn default() -> Self {
        ClientOptions {
            nodelay: true,
            connect_timeout: Some(Duration::from_secs(5)),
            pool_idle_timeout: Some(Duration::from_secs(30)),
            keepalive: None,
        }
    }
}

/// A pooled client over [`Connector`].
pub type HttpClient<B> = Client<Connector, B>;

/// A client with `options`, speaking TLS as the process's `LIBPROCESS_SSL_*` say (plain
/// `http` when TLS is disabled or its configuration is invalid: a daemon refuses to start on
/// that before it builds a client).
pub fn client<B>(options: ClientOptions) -> HttpClient<B>
where
    B: Body + Send,
    B::Data: Send,
{
    let tls = crate::tls::process().ok().flatten();
    client_with(options, tls.as_deref())
}

/// A client with `options` and an explicit TLS configuration (`None`: plain `http` only).
pub fn client_with<B>(options: ClientOptions, tls: Option<&TlsConfig>) -> HttpClient<B>
where
    B: Body + Send,
    B::Data: Send,
{
    let connector = Connector::new(options, tls);
    let mut builder = Client::builder(TokioExecutor::new());
    builder.pool_idle_timeout(options.pool_idle_timeout);
    builder.build(connector)
}

/// Connects `http` URIs in clear and `https` URIs with TLS; with `SUPPORT_DOWNGRADE`, an
/// `https` connection whose handshake fails is made again in clear (Mesos' client retries so
/// during a rollout, while some servers do not speak TLS yet).
#[derive(Clone)]
pub struct Connector {
    http: HttpConnector,
    https: Option<HttpsConnector<HttpConnector>>,
    downgrade: bool,
}

impl Connector {
    /// A connector with `options`, for `tls` (`None`: `http` only).
    pub fn new(options: ClientOptions, tls: Option<&TlsConfig>) -> Connector {
        let mut http = HttpConnector::new();
        http.set_nodelay(options.nodelay);
        http.set_connect_timeout(options.connect_timeout);
        http.set_keepalive(options.keepalive);
        // The TLS connector hands it `https` URIs, and the downgrade too.
        http.enforce_http(false);
        let https = tls.map(|tls| {
            hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config((*tls.client).clone())
                .https_or_http()
                .enable_http1()
                .wrap_connector(http.clone())
        });
        Connector {
            http,
            https,
            downgrade: tls.is_some_and(|t| t.support_downgrade),
        }
    }
}

impl Service<Uri> for Connector {
    type Response = MaybeHttpsStream<TokioIo<TcpStream>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Both connectors are always ready (hyper-util's `HttpConnector` is).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let mut http = self.http.clone();
        let https = self.https.clone();
        let downgrade = self.downgrade;
        Box::pin(async move {
            let is_https = uri.scheme_str() == Some("https");
            match https {
                Some(mut https) => {
                    let attempt = https.call(uri.clone()).await;
                    match attempt {
                        Ok(stream) => Ok(stream),
                        Err(e) if is_https && downgrade => {
                            tracing::debug!(%uri, error = %e, "TLS failed, retrying in clear (LIBPROCESS_SSL_SUPPORT_DOWNGRADE)");
                            let plain = http.call(uri).await.map_err(BoxError::from)?;
                            Ok(MaybeHttpsStream::Http(plain))
                        }
                        Err(e) => Err(e),
                    }
                }
                None if is_https => Err(BoxError::from(format!(
                    "cannot connect to {uri}: https needs {}ENABLED and its certificate",
                    crate::tls::PREFIX
                ))),
                None => {
                    let plain = http.call(uri).await.map_err(BoxError::from)?;
                    Ok(MaybeHttpsStream::Http(plain))
                }
            }
        })
    }
}
