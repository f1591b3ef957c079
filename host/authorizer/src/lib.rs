//! The authorizer module kind (Mesos' `--authorizers`): the one handle the master and the agent
//! ask "may this subject do this to that?".
//!
//! An [`Authorizer`] is either Mesos' local ACL authorizer linked natively (`--authorizers=local`,
//! the default, configured by `--acls`) or an `authorizer` Wasm module (any other name: a
//! manifest module, or the shipped `authorizer-local`, the same policy sandboxed).
//!
//! ```ignore
//! let acls = args.acls.as_deref().map(meseta_authorizer::read_acls_flag).transpose()?;
//! let authorizer = Authorizer::resolve(&args.authorizers, acls.as_deref(), |name| {
//!     modules.get_of(name, "--authorizers", &["authorizer"])
//! })?;
//! if !authorizer.allows_all(Action::ViewTask) { /* filter */ }
//! if !authorizer.authorized(&request) { /* 403 */ }
//! ```
//!
//! **Invariant:** it fails closed. A module that traps, misses its deadline, exceeds its memory
//! or answers `err` denies the request; the fault is counted and logged (warn, naming the module
//! and the reason), and the next call gets a fresh instance (or, with `failure_policy: reload`,
//! is denied until the quarantine ends). The manifest's failure policy never turns a fault into
//! an allow.
//!
//! **API boundary:** [`Authorizer`] (`local`, `from_module`, `resolve`, `authorized`,
//! `allows_everything`, `allows_all`, `counters`), [`read_acls_flag`], [`LOCAL`], [`SHIPPED_LOCAL`].

use std::sync::{Arc, Mutex};
use std::time::Instant;

use authorizer_local::LocalAuthorizer;
use meseta_bindings::authorizer::Authorizer as AuthorizerWorld;
use meseta_bindings::convert as cv;
use meseta_runtime::{
    Counters, CountersSnapshot, FaultCause, InstanceContext, LatencyHistogram, LoadedModule,
    Sandbox, Source,
};
pub use meseta_types::authorization::{Action, Object, Request};

/// `--authorizers` value of the native local authorizer (Mesos' default).
pub const LOCAL: &str = "local";
/// Mesos' full name of the local authorizer, also accepted.
pub const LOCAL_MESOS_NAME: &str = "mesos::internal::LocalAuthorizer";
/// The shipped Wasm build of the local authorizer: `--authorizers authorizer-local` runs the
/// default policy sandboxed, with `--acls` passed as its `acls` parameter.
pub const SHIPPED_LOCAL: &str = "authorizer-local";

/// The handle the daemons call. Cheap to clone (an `Arc`); `Send + Sync`.
#[derive(Clone)]
pub struct Authorizer {
    inner: Arc<Inner>,
}

enum Inner {
    Local {
        policy: LocalAuthorizer,
        counters: Counters,
    },
    Wasm {
        module: Arc<LoadedModule>,
        sandbox: Mutex<Sandbox<AuthorizerWorld, ()>>,
        /// What the module's ACLs allow without asking it, when it is the shipped local
        /// authorizer (the same policy, parsed natively); `None` for any other module.
        shortcut: Option<LocalAuthorizer>,
    },
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer")
            .field("name", &self.name())
            .finish()
    }
}

/// `--acls` as Mesos takes it: inline JSON (starting with `{`), or a path or `file://` URI of a
/// file holding it. Returns the JSON text.
pub fn read_acls_flag(value: &str) -> Result<String, String> {
    let trimmed = value.trim_start();
    if trimmed.starts_with('{') {
        return Ok(trimmed.to_string());
    }
    let path = value.strip_prefix("file://").unwrap_or(value);
    std::fs::read_to_string(path).map_err(|e| {
        format!("--acls: cannot read '{path}': {e} (give the ACLs as JSON, or a path to a file holding them)")
    })
}

fn warn_ignored(policy: &LocalAuthorizer) {
    for key in policy.ignored() {
        tracing::warn!(
            "--acls: '{key}' is a Mesos ACL that Meseta does not check yet; its rules are ignored"
        );
    }
}

impl Authorizer {
    /// Mesos' local authorizer, native. `None` (no `--acls`): everything is allowed. A bad ACL
    /// is an error naming what is wrong and how to fix it.
    pub fn local(acls_json: Option<&str>) -> Result<Authorizer, String> {
        let policy = match acls_json {
            None => LocalAuthorizer::default(),
            Some(text) => LocalAuthorizer::from_json(text).map_err(|e| format!("--acls: {e}"))?,
        };
        warn_ignored(&policy);
        Ok(Authorizer {
            inner: Arc::new(Inner::Local {
                policy,
                counters: Counters::default(),
            }),
        })
    }

    /// An `authorizer` module, linked and started (its `init` runs now, so bad parameters stop
    /// the daemon at start-up). `acls` is given to the module as its `acls` parameter unless
    /// its manifest sets one; pass it only for the shipped local authorizer.
    pub fn from_module(
        module: Arc<LoadedModule>,
        acls: Option<&str>,
    ) -> Result<Authorizer, String> {
        if module.world.kind != "authorizer" {
            return Err(format!(
                "module '{}' is {} {} module, not an authorizer",
                module.spec.name,
                meseta_runtime::article(module.world.kind),
                module.world.kind
            ));
        }
        let context = InstanceContext {
            grants: Vec::new(),
            parameters: acls
                .map(|a| vec![("acls".to_string(), a.to_string())])
                .unwrap_or_default(),
        };
        let mut sandbox = Sandbox::<AuthorizerWorld, ()>::new(module.clone(), || ())
            .map_err(|e| e.to_string())?
            .with_context(context);
        sandbox.start().map_err(|e| e.to_string())?;
        let shortcut = if is_shipped_local(&module) {
            let manifest = module
                .spec
                .parameters
                .iter()
                .find(|(k, _)| k == "acls")
                .map(|(_, v)| v.as_str());
            match manifest.or(acls) {
                None => Some(LocalAuthorizer::default()),
                Some(text) => LocalAuthorizer::from_json(text).ok(),
            }
        } else {
            None
        };
        if let Some(policy) = &shortcut {
            warn_ignored(policy);
        }
        Ok(Authorizer {
            inner: Arc::new(Inner::Wasm {
                module,
                sandbox: Mutex::new(sandbox),
                shortcut,
            }),
        })
    }

    /// `--authorizers` and `--acls` as the master and agent take them. `local` (the default,
    /// or Mesos' `mesos::internal::LocalAuthorizer`) is the native local authorizer with
    /// `acls`; any other name is looked up with `module` (the daemon's manifest modules and
    /// the shipped ones, as for `--allocator`). The shipped `authorizer-local` gets `acls` as
    /// its parameter; any other module ignores `--acls`, as in Mesos (logged as a warning).
    /// `acls` is the JSON text ([`read_acls_flag`] reads the flag).
    pub fn resolve(
        authorizers: &str,
        acls: Option<&str>,
        module: impl FnOnce(&str) -> Result<Arc<LoadedModule>, String>,
    ) -> Result<Authorizer, String> {
        let name = authorizers.trim();
        if name.contains(',') {
            return Err(format!(
                "--authorizers: '{name}' names several authorizers; Mesos and Meseta take exactly one"
            ));
        }
        if name.is_empty() || name == LOCAL || name == LOCAL_MESOS_NAME {
            return Authorizer::local(acls);
        }
        let m = module(name)?;
        if m.world.kind != "authorizer" {
            return Err(format!(
                "--authorizers: module '{name}' is {} {} module, not an authorizer",
                meseta_runtime::article(m.world.kind),
                m.world.kind
            ));
        }
        let acls = if is_shipped_local(&m) {
            acls
        } else {
            if acls.is_some() {
                tracing::warn!(
                    module = %name,
                    "--acls is ignored: --authorizers names the module '{name}', which is not \
                     the local authorizer (as in Mesos); give the module its configuration in \
                     its manifest parameters"
                );
            }
            None
        };
        Authorizer::from_module(m, acls).map_err(|e| format!("--authorizers: {e}"))
    }

    /// Whether `request` is allowed. Fails closed: a module fault or `err` denies, counted in
    /// the module's counters (`fallbacks` counts every denial the module did not decide; the
    /// faults by cause are in `faults`) and logged.
    pub fn authorized(&self, request: &Request) -> bool {
        match &*self.inner {
            Inner::Local { policy, counters } => {
                let start = Instant::now();
                let allowed = policy.decide(request);
                counters.record_call(start.elapsed());
                allowed
            }
            Inner::Wasm {
                module, sandbox, ..
            } => {
                let r = cv::authz_request_to(request);
                // a poisoned lock only means another caller panicked: the sandbox itself is
                // consistent between calls
                let mut sandbox = sandbox.lock().unwrap_or_else(|p| p.into_inner());
                let answer = sandbox.call("authorized", |x, s| {
                    x.meseta_authorizer_authorizer_api().call_authorized(s, &r)
                });
                match answer {
                    Ok(Ok(allowed)) => allowed,
                    Ok(Err(reason)) => {
                        sandbox.record_fallback();
                        tracing::warn!(
                            module = %module.spec.name,
                            kind = "authorizer",
                            action = request.action.acl_key(),
                            "authorizer '{}' could not decide ({reason}): denied",
                            module.spec.name
                        );
                        false
                    }
                    Err(e) if matches!(e.cause, FaultCause::Quarantined(_)) => {
                        // counted by the sandbox; the fault that started the quarantine was
                        // logged, so not every request it denies is
                        sandbox.record_fallback();
                        tracing::debug!(
                            module = %module.spec.name,
                            action = request.action.acl_key(),
                            "authorizer '{}' is quarantined: denied",
                            module.spec.name
                        );
                        false
                    }
                    Err(e) => {
                        // the sandbox counted the fault and logged it; say what it meant
                        sandbox.record_fallback();
                        tracing::warn!(
                            module = %module.spec.name,
                            kind = "authorizer",
                            action = request.action.acl_key(),
                            "authorizer '{}' faulted ({}): denied",
                            module.spec.name,
                            e.cause
                        );
                        false
                    }
                }
            }
        }
    }

    /// Whether every request is allowed, so a caller may skip asking (for example filtering
    /// the tasks of `/master/state`): the local authorizer with no ACLs, or permissive with no
    /// rule for any action Meseta checks. Never true for a module other than the shipped
    /// local authorizer.
    pub fn allows_everything(&self) -> bool {
        self.local_policy()
            .is_some_and(LocalAuthorizer::allows_everything)
    }

    /// Whether every request for `action` is allowed (permissive, no rule for it): as
    /// [`Authorizer::allows_everything`], for one action.
    pub fn allows_all(&self, action: Action) -> bool {
        self.local_policy().is_some_and(|p| p.allows_all(action))
    }

    fn local_policy(&self) -> Option<&LocalAuthorizer> {
        match &*self.inner {
            Inner::Local { policy, .. } => Some(policy),
            Inner::Wasm { shortcut, .. } => shortcut.as_ref(),
        }
    }

    /// `local`, or the module's name.
    pub fn name(&self) -> &str {
        match &*self.inner {
            Inner::Local { .. } => LOCAL,
            Inner::Wasm { module, .. } => &module.spec.name,
        }
    }

    /// The module, when the authorizer is one (for `/master/modules`).
    pub fn module(&self) -> Option<&Arc<LoadedModule>> {
        match &*self.inner {
            Inner::Local { .. } => None,
            Inner::Wasm { module, .. } => Some(module),
        }
    }

    /// Calls, faults, fallbacks (denials the module did not decide) and latency, in the shape
    /// every module kind reports. The native authorizer counts its calls and latency too.
    pub fn counters(&self) -> CountersSnapshot {
        match &*self.inner {
            Inner::Local { counters, .. } => counters.snapshot(),
            Inner::Wasm { module, .. } => module.counters.snapshot(),
        }
    }

    /// The latency histogram for `/metrics`.
    pub fn latency_histogram(&self) -> LatencyHistogram {
        match &*self.inner {
            Inner::Local { counters, .. } => counters.latency_histogram(),
            Inner::Wasm { module, .. } => module.counters.latency_histogram(),
        }
    }
}

/// Whether the module is the shipped Wasm local authorizer: the component built into the
/// binary under that name (a file is never taken for it, whatever its name).
fn is_shipped_local(module: &LoadedModule) -> bool {
    matches!(&module.spec.source, Source::Builtin(lib) if lib == SHIPPED_LOCAL)
}
