//! Why the control loop refused a request. Each front-end maps these kinds to
//! its own wire form: gRPC to status codes (`api::convert`), ng to `error` or
//! `load limit` replies (`ng::commands`).

use crate::session::SessionError;

/// A refused request; nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A field of the request is wrong.
    #[error("{field}: {message}")]
    Invalid {
        /// The field, as the request names it (`legs[0].remote`, `page_size`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A session with this id exists with other parameters.
    #[error("{0}")]
    Exists(String),
    /// No such session or leg.
    #[error("{0}")]
    NotFound(String),
    /// Out of relay ports, flow slots or next hops.
    #[error("{0}")]
    Exhausted(String),
    /// The node takes no new session: it drains, or it is stopping.
    #[error("{0}")]
    Unavailable(String),
    /// The control loop's queue is full.
    #[error("{0}")]
    Busy(String),
}

impl Error {
    /// A wrong `field`.
    pub fn invalid(field: impl Into<String>, message: impl std::fmt::Display) -> Error {
        Error::Invalid { field: field.into(), message: message.to_string() }
    }
}

impl From<SessionError> for Error {
    fn from(e: SessionError) -> Error {
        match e {
            // The session manager names an updated leg's fields `leg.<field>`;
            // a request names them `<field>`.
            SessionError::Invalid { field, message } => {
                Error::Invalid { field: field.strip_prefix("leg.").map(str::to_string).unwrap_or(field), message }
            }
            SessionError::Exists(_) => Error::Exists(e.to_string()),
            SessionError::NotFound(m) => Error::NotFound(m),
            SessionError::Exhausted(m) => Error::Exhausted(m),
        }
    }
}
