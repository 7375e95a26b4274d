//! Why an event was not decided, typed by what follows: a permanent problem is the event's own
//! (FAILED at once; an operator can fix and replay), a transient one may pass (another try with
//! back-off, FAILED after `max_attempts`). The text is the event's `last_error`.

use std::time::Duration;

use domain::Unreadable;

use crate::metrics::LockBackend;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Failure {
    Permanent(Permanent),
    Transient(Transient),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum Permanent {
    #[error("unknown provider {0:?}: not in this processor's configuration")]
    UnknownProvider(String),
    #[error(transparent)]
    Unreadable(#[from] Unreadable),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum Transient {
    /// The host application has not created the collection yet.
    #[error("no collection with request_ref {0:?} yet")]
    NoCollection(String),
    #[error("{} lock {name} not acquired within {wait:?}", backend.as_str())]
    LockNotAcquired {
        backend: LockBackend,
        name: String,
        wait: Duration,
    },
    /// The database (or the task running its work) failed.
    #[error("{0}")]
    Store(String),
}

impl From<persistence::StoreError> for Transient {
    fn from(error: persistence::StoreError) -> Transient {
        Transient::Store(error.to_string())
    }
}
