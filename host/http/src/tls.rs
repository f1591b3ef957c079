//! TLS configured as Mesos' libprocess configures it: environment variables read by every
//! process (master, agent, the CLI, frameworks and executors), named `LIBPROCESS_SSL_<NAME>`
//! (the legacy `SSL_<NAME>` is read when the first is unset).
//!
//! | variable | meaning |
//! |---|---|
//! | `ENABLED` | servers accept TLS only and clients speak `https`; needs `CERT_FILE` and `KEY_FILE` |
//! | `SUPPORT_DOWNGRADE` | a server also serves plaintext on the same port (it sniffs the first byte); a client whose TLS handshake fails retries in clear |
//! | `CERT_FILE`, `KEY_FILE` | the PEM certificate chain and private key, the server's and the one a client presents |
//! | `VERIFY_SERVER_CERT` (legacy `VERIFY_CERT`) | a client verifies the server's certificate and that it names the host it connected to |
//! | `REQUIRE_CLIENT_CERT` (legacy `REQUIRE_CERT`) | a server refuses a client without a certificate signed by the CA (implies `VERIFY_SERVER_CERT`) |
//! | `CA_FILE`, `CA_DIR` | the trusted CAs (a PEM bundle; a directory of PEM files); without either, the system's bundle |
//! | `VERIFY_IPADD` | accepted; an IP address host is always checked against the certificate's IP SANs |
//!
//! Booleans are Mesos': `true`, `false`, `1`, `0`. rustls negotiates TLS 1.2 and 1.3 with its
//! own cipher suites, so `CIPHERS`, `ECDH_CURVES`, `ENABLE_TLS_V1_*` and
//! `VERIFICATION_DEPTH` are not read.
//!
//! The process's configuration is read once ([`process`]); [`crate::serve`] and
//! [`crate::client`] use it, and a daemon calls [`process`] at start-up to refuse to start on a
//! bad one.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

/// The primary prefix of the variables.
pub const PREFIX: &str = "LIBPROCESS_SSL_";
/// The legacy prefix, read when the primary variable is unset.
pub const LEGACY_PREFIX: &str = "SSL_";

/// Where the trusted CAs come from when neither `CA_FILE` nor `CA_DIR` is set (Debian's bundle,
/// OpenSSL's default file there).
const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The names of every variable read, without a prefix (the agent passes them on to executors).
pub const VARIABLES: &[&str] = &[
    "ENABLED",
    "SUPPORT_DOWNGRADE",
    "CERT_FILE",
    "KEY_FILE",
    "VERIFY_SERVER_CERT",
    "VERIFY_CERT",
    "REQUIRE_CLIENT_CERT",
    "REQUIRE_CERT",
    "CA_FILE",
    "CA_DIR",
    "VERIFY_IPADD",
];

/// A process's TLS configuration (`LIBPROCESS_SSL_ENABLED` was true).
#[derive(Clone)]
pub struct TlsConfig {
    /// `SUPPORT_DOWNGRADE`: plaintext is served and tried too.
    pub support_downgrade: bool,
    /// `VERIFY_SERVER_CERT` (or implied by `REQUIRE_CLIENT_CERT`).
    pub verify_server_cert: bool,
    /// `REQUIRE_CLIENT_CERT`.
    pub require_client_cert: bool,
    /// `VERIFY_IPADD`.
    pub verify_ipadd: bool,
    /// `CERT_FILE`.
    pub cert_file: PathBuf,
    /// `KEY_FILE`.
    pub key_file: PathBuf,
    /// What a server accepts with.
    pub server: Arc<ServerConfig>,
    /// What a client connects with.
    pub client: Arc<ClientConfig>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("support_downgrade", &self.support_downgrade)
            .field("verify_server_cert", &self.verify_server_cert)
            .field("require_client_cert", &self.require_client_cert)
            .field("verify_ipadd", &self.verify_ipadd)
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .finish_non_exhaustive()
    }
}

static PROCESS: OnceLock<Result<Option<Arc<TlsConfig>>, String>> = OnceLock::new();

/// The process's configuration, read from its environment on the first call: `None` without
/// `LIBPROCESS_SSL_ENABLED`; an error names the variable and what is wrong with it.
pub fn process() -> Result<Option<Arc<TlsConfig>>, String> {
    PROCESS
        .get_or_init(|| TlsConfig::from_env().map(|c| c.map(Arc::new)))
        .clone()
}

/// `true` when the process's TLS is enabled (and valid).
pub fn enabled() -> bool {
    matches!(process(), Ok(Some(_)))
}

/// The scheme of the URLs this process builds for another daemon: `https` when TLS is
/// enabled, else `http`.
pub fn scheme() -> &'static str {
    if enabled() { "https" } else { "http" }
}

/// `<scheme>://<authority>`, for a `host:port`.
pub fn url(authority: &str) -> String {
    format!("{}://{authority}", scheme())
}

/// The process's `LIBPROCESS_SSL_*` and legacy `SSL_*` variables that are set (for an
/// executor's environment, so it can connect back).
pub fn variables_set() -> Vec<(String, String)> {
    let mut set = Vec::new();
    for prefix in [PREFIX, LEGACY_PREFIX] {
        for name in VARIABLES {
            let var = format!("{prefix}{name}");
            if let Ok(value) = std::env::var(&var) {
                set.push((var, value));
            }
        }
    }
    set
}

/// One variable as found: its full name (for messages) and its value.
struct Found {
    var: String,
    value: String,
}

/// The variables, through a lookup (the process environment, or a test's map).
struct Vars<F>(F);

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    /// The first of `names` set under either prefix (an empty value is unset).
    fn get(&self, names: &[&str]) -> Option<Found> {
        for prefix in [PREFIX, LEGACY_PREFIX] {
            for name in names {
                let var = format!("{prefix}{name}");
                if let Some(value) = (self.0)(&var).filter(|v| !v.trim().is_empty()) {
                    return Some(Found { var, value });
                }
            }
        }
        None
    }

    fn flag(&self, names: &[&str]) -> Result<bool, String> {
        match self.get(names) {
            None => Ok(false),
            Some(found) => parse_bool(&found.value).ok_or_else(|| {
                format!(
                    "{}={}: not a boolean (expected true, false, 1 or 0)",
                    found.var, found.value
                )
            }),
        }
    }

    fn path(&self, name: &str) -> Option<(String, PathBuf)> {
        self.get(&[name])
            .map(|found| (found.var, PathBuf::from(found.value)))
    }
}

/// Mesos' booleans.
fn parse_bool(value: &str) -> Option<bool> {
    match value.trim() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// The crypto provider of every TLS configuration here: rustls on *ring* (aws-lc-rs, the
/// provider with post-quantum key exchange that rustls now recommends, needs cmake and clang
/// to build).
#[allow(deprecated)]
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsConfig {
    /// Reads the process environment; `None` unless `LIBPROCESS_SSL_ENABLED` is true.
    pub fn from_env() -> Result<Option<TlsConfig>, String> {
        TlsConfig::from_lookup(|var| std::env::var(var).ok())
    }

    /// As [`TlsConfig::from_env`], reading the variables (full names) through `lookup`.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<TlsConfig>, String> {
        let vars = Vars(lookup);
        if !vars.flag(&["ENABLED"])? {
            return Ok(None);
        }
        let support_downgrade = vars.flag(&["SUPPORT_DOWNGRADE"])?;
        let require_client_cert = vars.flag(&["REQUIRE_CLIENT_CERT", "REQUIRE_CERT"])?;
        let verify_server_cert =
            vars.flag(&["VERIFY_SERVER_CERT", "VERIFY_CERT"])? || require_client_cert;
        let verify_ipadd = vars.flag(&["VERIFY_IPADD"])?;
        let enabled = vars
            .get(&["ENABLED"])
            .map(|f| f.var)
            .unwrap_or_else(|| format!("{PREFIX}ENABLED"));
        let (cert_var, cert_file) = vars.path("CERT_FILE").ok_or_else(|| {
            format!("{enabled} is set but {PREFIX}CERT_FILE is not (the PEM certificate to serve)")
        })?;
        let (key_var, key_file) = vars.path("KEY_FILE").ok_or_else(|| {
            format!(
                "{enabled} is set but {PREFIX}KEY_FILE is not (the PEM private key of {cert_var})"
            )
        })?;
        let certs = read_certs(&cert_var, &cert_file)?;
        let key = read_key(&key_var, &key_file)?;

        let roots = if verify_server_cert || require_client_cert {
            let why = if require_client_cert {
                format!("{PREFIX}REQUIRE_CLIENT_CERT")
            } else {
                format!("{PREFIX}VERIFY_SERVER_CERT")
            };
            Some(Arc::new(read_roots(&vars, &why)?))
        } else {
            None
        };

        let provider = provider();
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot configure TLS: {e}"))?;
        let server = match (&roots, require_client_cert) {
            (Some(roots), true) => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
                        .build()
                        .map_err(|e| format!("cannot verify client certificates: {e}"))?;
                server.with_client_cert_verifier(verifier)
            }
            _ => server.with_no_client_auth(),
        };
        let server = server
            .with_single_cert(certs.clone(), key.clone_key())
            .map_err(|e| {
                format!(
                    "{cert_var}={} with {key_var}={}: {e}",
                    cert_file.display(),
                    key_file.display()
                )
            })?;

        let client = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot configure TLS: {e}"))?;
        let client = match &roots {
            Some(roots) if verify_server_cert => {
                let verifier =
                    WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
                        .build()
                        .map_err(|e| format!("cannot verify server certificates: {e}"))?;
                client.with_webpki_verifier(verifier)
            }
            _ => client
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoServerVerification(provider))),
        };
        let client = client.with_client_auth_cert(certs, key).map_err(|e| {
            format!(
                "{cert_var}={} with {key_var}={}: {e}",
                cert_file.display(),
                key_file.display()
            )
        })?;

        Ok(Some(TlsConfig {
            support_downgrade,
            verify_server_cert,
            require_client_cert,
            verify_ipadd,
            cert_file,
            key_file,
            server: Arc::new(server),
            client: Arc::new(client),
        }))
    }
}

fn read_file(var: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{var}={}: cannot read the file: {e}", path.display()))
}

fn read_certs(var: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read_file(var, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{var}={}: not a PEM file: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{var}={}: no certificate in the PEM file (expected -----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(certs)
}

fn read_key(var: &str, path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let pem = read_file(var, path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => format!(
            "{var}={}: no private key in the PEM file (expected -----BEGIN PRIVATE KEY-----, RSA or EC)",
            path.display()
        ),
        e => format!("{var}={}: not a PEM file: {e}", path.display()),
    })
}

/// The trusted CAs: `CA_FILE` and every PEM certificate in `CA_DIR`, or the system's bundle
/// when neither is set. `why` names the variable that needs them.
fn read_roots<F: Fn(&str) -> Option<String>>(
    vars: &Vars<F>,
    why: &str,
) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let file = vars.path("CA_FILE");
    let dir = vars.path("CA_DIR");
    if let Some((var, path)) = &file {
        for cert in read_certs(var, path)? {
            roots
                .add(cert)
                .map_err(|e| format!("{var}={}: {e}", path.display()))?;
        }
    }
    if let Some((var, path)) = &dir {
        let entries = std::fs::read_dir(path)
            .map_err(|e| format!("{var}={}: cannot read the directory: {e}", path.display()))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for file in files {
            let Ok(pem) = std::fs::read(&file) else {
                continue;
            };
            for cert in CertificateDer::pem_slice_iter(&pem).flatten() {
                // A directory may hold other PEM files; what does not parse is not a CA.
                let _ = roots.add(cert);
            }
        }
        if roots.is_empty() {
            return Err(format!(
                "{var}={}: no certificate in the directory",
                path.display()
            ));
        }
    }
    if file.is_none() && dir.is_none() {
        let system = Path::new(SYSTEM_BUNDLE);
        if !system.exists() {
            return Err(format!(
                "{why} needs the trusted CAs: set {PREFIX}CA_FILE or {PREFIX}CA_DIR (there is no {SYSTEM_BUNDLE})"
            ));
        }
        for cert in read_certs(why, system)? {
            let _ = roots.add(cert);
        }
    }
    Ok(roots)
}

/// Mesos' client without `VERIFY_SERVER_CERT`: any certificate is accepted (the handshake's
/// signatures are still checked, so the connection is encrypted to whoever holds its key).
#[derive(Debug)]
struct NoServerVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoServerVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

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
            let params =
                rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".into()])
                    .unwrap();
            let cert = params.signed_by(&key, &issuer).unwrap();
            std::fs::write(dir.path().join("ca.pem"), ca_cert.pem()).unwrap();
            std::fs::write(dir.path().join("cert.pem"), cert.pem()).unwrap();
            std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();
            std::fs::write(dir.path().join("empty.pem"), "nothing here\n").unwrap();
            Pki { dir }
        }

        fn path(&self, name: &str) -> String {
            self.dir.path().join(name).display().to_string()
        }
    }

    fn read(vars: &[(&str, &str)]) -> Result<Option<TlsConfig>, String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        TlsConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn disabled_unless_enabled() {
        assert!(read(&[]).unwrap().is_none());
        assert!(
            read(&[("LIBPROCESS_SSL_ENABLED", "false")])
                .unwrap()
                .is_none()
        );
        assert!(read(&[("LIBPROCESS_SSL_ENABLED", "0")]).unwrap().is_none());
        // Nothing else is read while disabled.
        assert!(
            read(&[
                ("LIBPROCESS_SSL_ENABLED", "false"),
                ("LIBPROCESS_SSL_CERT_FILE", "/nope")
            ])
            .unwrap()
            .is_none()
        );
    }

    #[test]
    fn booleans_are_mesos_booleans() {
        let e = read(&[("LIBPROCESS_SSL_ENABLED", "yes")]).unwrap_err();
        assert!(e.contains("LIBPROCESS_SSL_ENABLED=yes"), "{e}");
        assert!(e.contains("not a boolean"), "{e}");
        let pki = Pki::new();
        let (cert, key) = (pki.path("cert.pem"), pki.path("key.pem"));
        let e = read(&[
            ("LIBPROCESS_SSL_ENABLED", "1"),
            ("LIBPROCESS_SSL_CERT_FILE", &cert),
            ("LIBPROCESS_SSL_KEY_FILE", &key),
            ("LIBPROCESS_SSL_SUPPORT_DOWNGRADE", "maybe"),
        ])
        .unwrap_err();
        assert!(e.contains("LIBPROCESS_SSL_SUPPORT_DOWNGRADE=maybe"), "{e}");
    }

    #[test]
    fn enabled_needs_cert_and_key() {
        let e = read(&[("LIBPROCESS_SSL_ENABLED", "true")]).unwrap_err();
        assert!(e.contains("LIBPROCESS_SSL_CERT_FILE is not"), "{e}");
        let pki = Pki::new();
        let cert = pki.path("cert.pem");
        let e = read(&[
            ("LIBPROCESS_SSL_ENABLED", "true"),
            ("LIBPROCESS_SSL_CERT_FILE", &cert),
        ])
        .unwrap_err();
        assert!(e.contains("LIBPROCESS_SSL_KEY_FILE is not"), "{e}");
    }

    #[test]
    fn file_errors_name_the_variable_and_the_file() {
        let pki = Pki::new();
        let (cert, key, empty) = (
            pki.path("cert.pem"),
            pki.path("key.pem"),
            pki.path("empty.pem"),
        );
        let e = read(&[
            ("LIBPROCESS_SSL_ENABLED", "true"),
            ("LIBPROCESS_SSL_CERT_FILE", "/no/such/cert.pem"),
            ("LIBPROCESS_SSL_KEY_FILE", &key),
        ])
        .unwrap_err();
        assert!(
            e.starts_with("LIBPROCESS_SSL_CERT_FILE=/no/such/cert.pem: cannot read"),
            "{e}"
        );
        let e = read(&[
            ("LIBPROCESS_SSL_ENABLED", "true"),
            ("LIBPROCESS_SSL_CERT_FILE", &empty),
            ("LIBPROCESS_SSL_KEY_FILE", &key),
        ])
        .unwrap_err();
        assert!(
            e.contains(&format!("LIBPROCESS_SSL_CERT_FILE={empty}: no certificate")),
            "{e}"
        );
        let e = read(&[
            ("LIBPROCESS_SSL_ENABLED", "true"),
            ("LIBPROCESS_SSL_CERT_FILE", &cert),
            ("LIBPROCESS_SSL_KEY_FILE", &cert),
        ])
        .unwrap_err();
        assert!(
            e.contains(&format!("LIBPROCESS_SSL_KEY_FILE={cert}: no private key")),
            "{e}"
        );
        let e = read(&[
            ("LIBPROCESS_SSL_ENABLED", "true"),
            ("LIBPROCESS_SSL_CERT_FILE", &cert),
            ("LIBPROCESS_SSL_KEY_FILE", &key),
            ("LIBPROCESS_SSL_REQUIRE_CLIENT_CERT", "true"),
            ("LIBPROCESS_SSL_CA_FILE", &empty),
        ])
        .unwrap_err();
        assert!(
            e.contains(&format!("LIBPROCESS_SSL_CA_FILE={empty}: no certificate")),
            "{e}"
        );
    }

    #[test]
    fn legacy_names_and_implications() {
        let pki = Pki::new();
        let (cert, key, ca) = (
            pki.path("cert.pem"),
            pki.path("key.pem"),
            pki.path("ca.pem"),
        );
        let c = read(&[
            ("SSL_ENABLED", "true"),
            ("SSL_CERT_FILE", &cert),
            ("SSL_KEY_FILE", &key),
            ("SSL_REQUIRE_CERT", "1"),
            ("SSL_CA_FILE", &ca),
        ])
        .unwrap()
        .unwrap();
        assert!(c.require_client_cert && c.verify_server_cert && !c.support_downgrade);
        // The primary prefix wins over the legacy one.
        let c = read(&[
            ("LIBPROCESS_SSL_ENABLED", "true"),
            ("LIBPROCESS_SSL_CERT_FILE", &cert),
            ("LIBPROCESS_SSL_KEY_FILE", &key),
            ("LIBPROCESS_SSL_SUPPORT_DOWNGRADE", "true"),
            ("SSL_SUPPORT_DOWNGRADE", "false"),
            ("SSL_VERIFY_CERT", "true"),
            ("LIBPROCESS_SSL_CA_DIR", &pki.path("")),
        ])
        .unwrap()
        .unwrap();
        assert!(c.support_downgrade && c.verify_server_cert && !c.require_client_cert);
    }
}
