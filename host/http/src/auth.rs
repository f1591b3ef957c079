//! HTTP authentication as Mesos does it: HTTP Basic against a credentials file, per realm.
//!
//! - [`Credentials`]: Mesos' `--credentials` file, `{"credentials": [{"principal": "p",
//!   "secret": "s"}, ...]}`, given as a path or a `file://` URL; [`Credential`]: the one object
//!   of an agent's `--credential` (or a framework's).
//! - [`Realm`]: one group of endpoints (`mesos-master-readonly`, `mesos-master-readwrite`,
//!   `mesos-master-scheduler`, ...) and whether it requires credentials. [`authenticate`] is the
//!   axum middleware a router's routes are wrapped in: when the realm requires credentials, a
//!   request without them, with malformed ones or with unknown ones gets **401** with
//!   `WWW-Authenticate: Basic realm="<realm>"`; an authenticated request carries its
//!   [`Principal`] in its extensions for the handler (and the authorizer) to read. When the realm
//!   does not require credentials, a request is let through with no principal.
//!
//! **Invariant:** a secret is never logged, formatted or echoed: [`Credential`]'s `Debug` hides
//! it and errors name principals and files, never secrets.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;

/// One principal and its secret.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct Credential {
    pub principal: String,
    #[serde(default)]
    pub secret: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("principal", &self.principal)
            .field("secret", &"<hidden>")
            .finish()
    }
}

impl Credential {
    /// Reads an agent's (or a framework's) `--credential`: a JSON object `{"principal": ...,
    /// "secret": ...}`, or Mesos' older text form `principal secret` on one line.
    pub fn load(path: &str) -> Result<Credential, String> {
        let (path, text) = read(path, "--credential")?;
        let trimmed = text.trim();
        if trimmed.starts_with('{') {
            let credential: Credential = serde_json::from_str(trimmed).map_err(|e| {
                format!(
                    "--credential {path}: not a credential ({e}); expected \
                     {{\"principal\": \"NAME\", \"secret\": \"SECRET\"}}"
                )
            })?;
            if credential.principal.is_empty() {
                return Err(format!("--credential {path}: 'principal' is empty"));
            }
            return Ok(credential);
        }
        let mut words = trimmed.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some(principal), Some(secret), None) => Ok(Credential {
                principal: principal.to_string(),
                secret: secret.to_string(),
            }),
            _ => Err(format!(
                "--credential {path}: expected a JSON object {{\"principal\": \"NAME\", \
                 \"secret\": \"SECRET\"}} (or one line `principal secret`)"
            )),
        }
    }

    /// The `Authorization` header value that presents this credential.
    pub fn basic_header(&self) -> String {
        let pair = format!("{}:{}", self.principal, self.secret);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }
}

/// Mesos' `--credentials`: the principals a daemon accepts and their secrets.
#[derive(Clone, Default)]
pub struct Credentials {
    secrets: HashMap<String, String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut principals: Vec<&String> = self.secrets.keys().collect();
        principals.sort();
        f.debug_struct("Credentials")
            .field("principals", &principals)
            .finish()
    }
}

#[derive(Deserialize)]
struct CredentialsFile {
    credentials: Vec<Credential>,
}

impl Credentials {
    /// Reads `--credentials` (`flag` names the flag in errors): a path or `file://` URL of a
    /// JSON file `{"credentials": [{"principal": ..., "secret": ...}, ...]}`. Mesos 1.11 dropped
    /// the text format; it is refused with a message saying what to write instead.
    pub fn load(path: &str, flag: &str) -> Result<Credentials, String> {
        let list = Credentials::read_list(path, flag)?;
        let path = path.strip_prefix("file://").unwrap_or(path);
        Credentials::from_list(list).map_err(|e| format!("{flag} {path}: {e}"))
    }

    /// The file's credentials in file order, unchecked (see [`Credentials::load`]).
    pub fn read_list(path: &str, flag: &str) -> Result<Vec<Credential>, String> {
        let (path, text) = read(path, flag)?;
        let file: CredentialsFile = serde_json::from_str(&text).map_err(|e| {
            format!(
                "{flag} {path}: not a credentials file ({e}); expected \
                 {{\"credentials\": [{{\"principal\": \"NAME\", \"secret\": \"SECRET\"}}]}}"
            )
        })?;
        Ok(file.credentials)
    }

    /// Credentials from a list (duplicates and empty principals refused).
    pub fn from_list(list: Vec<Credential>) -> Result<Credentials, String> {
        if list.is_empty() {
            return Err("no credentials: 'credentials' is empty".into());
        }
        let mut secrets = HashMap::new();
        for (i, c) in list.into_iter().enumerate() {
            if c.principal.is_empty() {
                return Err(format!("credentials[{i}]: 'principal' is empty"));
            }
            if secrets.insert(c.principal.clone(), c.secret).is_some() {
                return Err(format!(
                    "credentials[{i}]: principal '{}' is listed twice",
                    c.principal
                ));
            }
        }
        Ok(Credentials { secrets })
    }

    /// Whether `principal` is known and `secret` is its secret (compared in constant time).
    pub fn verify(&self, principal: &str, secret: &str) -> bool {
        match self.secrets.get(principal) {
            Some(expected) => constant_time_eq(expected.as_bytes(), secret.as_bytes()),
            None => false,
        }
    }

    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }
}

fn read(path: &str, flag: &str) -> Result<(String, String), String> {
    let path = path.strip_prefix("file://").unwrap_or(path).to_string();
    if path.is_empty() {
        return Err(format!(
            "{flag} is empty: give the path of the credentials file"
        ));
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("{flag} {path}: cannot read it: {e}"))?;
    Ok((path, text))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

/// The principal a request was authenticated as (`None`: the realm did not ask, or the request
/// presented none). Every request through [`authenticate`] carries one in its extensions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Principal(pub Option<String>);

/// A group of endpoints with one authentication setting.
#[derive(Clone, Debug)]
pub struct Realm {
    /// Mesos' realm name, sent in `WWW-Authenticate`.
    pub name: &'static str,
    /// `Some`: every request must present credentials from this list.
    pub credentials: Option<Arc<Credentials>>,
}

impl Realm {
    /// A realm that asks nothing.
    pub fn open(name: &'static str) -> Realm {
        Realm {
            name,
            credentials: None,
        }
    }

    /// A realm that requires credentials when `required` (then `credentials` must be set:
    /// the daemons check that at start-up).
    pub fn new(
        name: &'static str,
        required: bool,
        credentials: &Option<Arc<Credentials>>,
    ) -> Realm {
        Realm {
            name,
            credentials: if required { credentials.clone() } else { None },
        }
    }

    /// Who `headers` authenticate as in this realm, or the 401 to answer.
    #[allow(clippy::result_large_err)] // the answer is built once per refused request
    pub fn check(&self, headers: &HeaderMap) -> Result<Principal, Response> {
        let Some(credentials) = &self.credentials else {
            return Ok(Principal(None));
        };
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(self.unauthorized("this endpoint requires HTTP Basic credentials"));
        };
        let Some((principal, secret)) = parse_basic(value) else {
            return Err(self.unauthorized(
                "malformed 'Authorization' header: expected 'Basic base64(principal:secret)'",
            ));
        };
        if !credentials.verify(&principal, &secret) {
            tracing::info!(realm = self.name, %principal, "refused credentials");
            return Err(self.unauthorized("unknown principal or wrong secret"));
        }
        Ok(Principal(Some(principal)))
    }

    fn unauthorized(&self, why: &str) -> Response {
        let mut response = (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{why} (realm '{}')", self.name),
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&format!("Basic realm=\"{}\"", self.name)) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        response
    }
}

/// `Basic base64(principal:secret)` → the pair.
pub fn parse_basic(value: &HeaderValue) -> Option<(String, String)> {
    let text = value.to_str().ok()?;
    let (scheme, encoded) = text.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (principal, secret) = decoded.split_once(':')?;
    Some((principal.to_string(), secret.to_string()))
}

/// The axum middleware of one realm (`axum::middleware::from_fn_with_state(realm,
/// authenticate)`): answers 401 or passes the request on with its [`Principal`].
pub async fn authenticate(
    State(realm): State<Arc<Realm>>,
    mut request: Request<Body>,
    next: Next,
) -> Response {
    match realm.check(request.headers()) {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(response) => response,
    }
}

/// Wraps every route of `router` in `realm`'s authentication.
pub fn in_realm<S>(router: axum::Router<S>, realm: Realm) -> axum::Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router.route_layer(axum::middleware::from_fn_with_state(
        Arc::new(realm),
        authenticate,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Arc<Credentials> {
        Arc::new(
            Credentials::from_list(vec![Credential {
                principal: "ops".into(),
                secret: "s3cret".into(),
            }])
            .unwrap(),
        )
    }

    fn headers(auth: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(a).unwrap());
        }
        h
    }

    #[test]
    fn a_required_realm_answers_401_with_its_name_and_knows_good_credentials() {
        let realm = Realm::new("mesos-master-readwrite", true, &Some(creds()));
        for bad in [
            None,
            Some("Bearer x"),
            Some("Basic !!!"),
            Some("Basic b3BzOndyb25n"),
        ] {
            let response = realm.check(&headers(bad)).unwrap_err();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{bad:?}");
            assert_eq!(
                response.headers()[header::WWW_AUTHENTICATE],
                "Basic realm=\"mesos-master-readwrite\""
            );
        }
        let good = Credential {
            principal: "ops".into(),
            secret: "s3cret".into(),
        }
        .basic_header();
        assert_eq!(
            realm.check(&headers(Some(&good))).unwrap(),
            Principal(Some("ops".into()))
        );
    }

    #[test]
    fn an_open_realm_lets_everyone_in_unauthenticated() {
        let realm = Realm::new("mesos-master-readonly", false, &Some(creds()));
        assert_eq!(realm.check(&headers(None)).unwrap(), Principal(None));
    }

    #[test]
    fn credential_files_in_both_forms_and_their_errors() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("c.json");
        std::fs::write(
            &json,
            r#"{"credentials":[{"principal":"a","secret":"x"},{"principal":"b","secret":"y"}]}"#,
        )
        .unwrap();
        let url = format!("file://{}", json.display());
        let c = Credentials::load(&url, "--credentials").unwrap();
        assert!(c.verify("a", "x") && c.verify("b", "y") && !c.verify("a", "y"));
        assert!(!format!("{c:?}").contains('x'));

        std::fs::write(&json, "a x\n").unwrap();
        let e = Credentials::load(json.to_str().unwrap(), "--credentials").unwrap_err();
        assert!(e.contains("expected {\"credentials\""), "{e}");
        let e = Credentials::load("/nonexistent/c.json", "--credentials").unwrap_err();
        assert!(
            e.contains("/nonexistent/c.json") && e.contains("cannot read"),
            "{e}"
        );

        let one = dir.path().join("one");
        std::fs::write(&one, r#"{"principal":"agent","secret":"pw"}"#).unwrap();
        let c = Credential::load(one.to_str().unwrap()).unwrap();
        assert_eq!(c.principal, "agent");
        assert!(!format!("{c:?}").contains("pw"));
        std::fs::write(&one, "agent pw\n").unwrap();
        assert_eq!(
            Credential::load(one.to_str().unwrap()).unwrap().secret,
            "pw"
        );
    }
}
