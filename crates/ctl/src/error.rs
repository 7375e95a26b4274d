//! What can go wrong in a command, and the exit code each kind gives.

use persistence::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// Bad arguments or configuration (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The operation could not be done: not found, refused, a non-2xx answer (exit 1).
    #[error("{0}")]
    Failed(String),
    /// The database cannot be reached (exit 3).
    #[error("{0}")]
    Unavailable(String),
}

impl CtlError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CtlError::Failed(_) => 1,
            CtlError::Usage(_) => 2,
            CtlError::Unavailable(_) => 3,
        }
    }
}

impl From<StoreError> for CtlError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) | StoreError::Task(_) => {
                CtlError::Unavailable(err.to_string())
            }
            StoreError::InvalidUrl(_) => CtlError::Usage(err.to_string()),
            other => CtlError::Failed(other.to_string()),
        }
    }
}

impl From<inbox_config::ConfigError> for CtlError {
    fn from(err: inbox_config::ConfigError) -> Self {
        CtlError::Usage(err.to_string())
    }
}
