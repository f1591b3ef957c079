//! The master's typed errors. Each names what was wrong; the server turns them into HTTP
//! answers in one place (`server::http`), with Mesos' status codes.

/// Why a command was refused. A refused command changed nothing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MasterError {
    /// Malformed or invalid input (400).
    #[error("{0}")]
    Invalid(String),
    /// A scheduler call for a framework that is not subscribed (403).
    #[error("Framework '{0}' is not subscribed")]
    NotSubscribed(String),
    /// A framework that was removed tried to subscribe again under its id (its stream gets an
    /// ERROR event).
    #[error("Framework has been removed")]
    FrameworkRemoved(String),
    /// An agent id the master refuses (marked gone), or an admission the registry refused (403).
    #[error("{0}")]
    Forbidden(String),
    /// Something the request names that the master does not know (404).
    #[error("{0}")]
    NotFound(String),
    /// A message from an agent that is not registered with this master: it must register
    /// again (409).
    #[error("Agent '{0}' is not registered with this master: register again")]
    UnknownAgent(String),
    /// The request is valid but the state does not allow it now (409), e.g. an operation on
    /// resources the agent does not have free.
    #[error("{0}")]
    Conflict(String),
    /// The registry could not store a change; nothing changed (503).
    #[error("the registry cannot store the change: {0}")]
    Registry(String),
    /// A call Meseta does not implement (501).
    #[error("{0}")]
    Unsupported(String),
    /// A request body in a format Meseta does not speak (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A request method the endpoint does not take (405).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The master cannot go on (it exits, as Mesos' does).
    #[error("{0}")]
    Fatal(String),
}

impl MasterError {
    /// Mesos' HTTP status code for the error.
    pub fn status(&self) -> u16 {
        match self {
            MasterError::Invalid(_) | MasterError::FrameworkRemoved(_) => 400,
            MasterError::NotSubscribed(_) | MasterError::Forbidden(_) => 403,
            MasterError::NotFound(_) => 404,
            MasterError::MethodNotAllowed(_) => 405,
            MasterError::UnsupportedMediaType(_) => 415,
            MasterError::UnknownAgent(_) | MasterError::Conflict(_) => 409,
            MasterError::Unsupported(_) => 501,
            MasterError::Registry(_) | MasterError::Fatal(_) => 503,
        }
    }
}

impl From<meseta_registry::RegistryError> for MasterError {
    fn from(e: meseta_registry::RegistryError) -> Self {
        match e {
            meseta_registry::RegistryError::Refused(e) => MasterError::Invalid(e.to_string()),
            e => MasterError::Registry(e.to_string()),
        }
    }
}

pub type Result<T, E = MasterError> = std::result::Result<T, E>;
