//! The one error type Tauri commands return, serialized for the webview.

use serde::{Serialize, Serializer};

/// What can fail in the app shell.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The runtime refused to start or stopped.
    #[error(transparent)]
    Runtime(#[from] runtime::Error),
    /// The shell could not be set up.
    #[error("app setup failed: {0}")]
    Setup(String),
    /// A file dialog failed, or gave a path the app cannot pass on.
    #[error("{0}")]
    Dialog(String),
}

impl Serialize for Error {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}
