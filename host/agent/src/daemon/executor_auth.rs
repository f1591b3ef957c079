//! Executor authentication, as Mesos' `--authenticate_http_executors` with
//! `--executor_secret_key`: each custom executor gets a token of its own in
//! `MESOS_EXECUTOR_AUTHENTICATION_TOKEN` (an HS256 JWT whose claims `fid`, `eid` and `cid` name
//! its framework, executor and container), and must present it as `Authorization: Bearer
//! <token>` on every executor API call. A call without a valid token is 401; a valid token
//! used for another executor's call (or an earlier container of the same executor) is 403. So
//! no local process can act as another task's executor.
//!
//! **Invariant:** the key and the tokens are never logged; a refused token is described by
//! what was wrong with it, not by its text.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The realm of the executor API (Mesos').
pub const REALM: &str = "mesos-agent-executor";
/// The variable an executor finds its token in (Mesos').
pub const TOKEN_VARIABLE: &str = "MESOS_EXECUTOR_AUTHENTICATION_TOKEN";

/// The key tokens are signed with: `--executor_secret_key`'s file.
#[derive(Clone)]
pub struct ExecutorSecret {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for ExecutorSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExecutorSecret(<hidden>)")
    }
}

/// A token's claims, Mesos' names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub fid: String,
    pub eid: String,
    pub cid: String,
}

impl ExecutorSecret {
    /// Reads `--executor_secret_key`: the file's bytes are the key (a trailing newline is
    /// not part of it).
    pub fn load(path: &std::path::Path) -> Result<ExecutorSecret, String> {
        let bytes = std::fs::read(path).map_err(|e| {
            format!(
                "--executor_secret_key {}: cannot read it: {e}",
                path.display()
            )
        })?;
        let key = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        if key.len() < 16 {
            return Err(format!(
                "--executor_secret_key {}: the key is {} bytes; give at least 16 random bytes \
                 (e.g. `head -c 32 /dev/urandom | base64 > FILE`)",
                path.display(),
                key.len()
            ));
        }
        Ok(ExecutorSecret::from_key(key))
    }

    pub fn from_key(key: &[u8]) -> ExecutorSecret {
        ExecutorSecret {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
        }
    }

    /// The token of the executor `eid` of framework `fid` in container `cid`.
    pub fn token(&self, fid: &str, eid: &str, cid: &str) -> Result<String, String> {
        let claims = Claims {
            fid: fid.to_string(),
            eid: eid.to_string(),
            cid: cid.to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| format!("cannot sign an executor token: {e}"))
    }

    /// The claims of a token this agent signed.
    pub fn verify(&self, token: &str) -> Result<Claims, String> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| format!("invalid executor token ({e})"))
    }

    /// Checks a call's `Authorization` for the executor `eid` of framework `fid` running in
    /// container `cid` (`None`: the agent does not run it; the caller answers that).
    #[allow(clippy::result_large_err)]
    pub fn check(
        &self,
        headers: &HeaderMap,
        fid: &str,
        eid: &str,
        cid: Option<&str>,
    ) -> Result<(), Response> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            });
        let Some(token) = token else {
            return Err(unauthorized(
                "executor calls need 'Authorization: Bearer <MESOS_EXECUTOR_AUTHENTICATION_TOKEN>'",
            ));
        };
        let claims = self.verify(token).map_err(|e| unauthorized(&e))?;
        let matches =
            claims.fid == fid && claims.eid == eid && cid.is_none_or(|cid| claims.cid == cid);
        if !matches {
            tracing::warn!(
                token_framework = %claims.fid, token_executor = %claims.eid,
                framework = %fid, executor = %eid,
                "refused an executor call made with another executor's token"
            );
            return Err((
                StatusCode::FORBIDDEN,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!(
                    "this token belongs to executor '{}' of framework '{}' (its container), not to \
                     executor '{eid}' of framework '{fid}'",
                    claims.eid, claims.fid
                ),
            )
                .into_response());
        }
        Ok(())
    }
}

fn unauthorized(why: &str) -> Response {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{why} (realm '{REALM}')"),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer realm=\"{REALM}\"")) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        h
    }

    #[test]
    fn a_token_opens_only_its_own_executor() {
        let secret = ExecutorSecret::from_key(b"0123456789abcdef0123");
        let token = secret.token("fw", "ex", "c1").unwrap();
        assert!(
            secret
                .check(&bearer(&token), "fw", "ex", Some("c1"))
                .is_ok()
        );
        let other = secret.check(&bearer(&token), "fw", "ex2", Some("c2"));
        assert_eq!(other.unwrap_err().status(), StatusCode::FORBIDDEN);
        let old = secret.check(&bearer(&token), "fw", "ex", Some("c9"));
        assert_eq!(old.unwrap_err().status(), StatusCode::FORBIDDEN);
        let none = secret
            .check(&HeaderMap::new(), "fw", "ex", Some("c1"))
            .unwrap_err();
        assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            none.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"mesos-agent-executor\""
        );
        let forged = ExecutorSecret::from_key(b"another key, not the agent's")
            .token("fw", "ex", "c1")
            .unwrap();
        let refused = secret.check(&bearer(&forged), "fw", "ex", Some("c1"));
        assert_eq!(refused.unwrap_err().status(), StatusCode::UNAUTHORIZED);
    }
}
