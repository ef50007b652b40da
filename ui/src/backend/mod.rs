//! The UI's one seam to its host.

use std::rc::Rc;

use protocol::api::{
    ChainSettings, DownloadFile, DownloadReady, FetchFile, FetchedFile, ForgetFile, ForgotFile,
    LightClientSettings, SetNodeMarket, Status, StoreFile, StoredFile, Withdrawal,
};

mod http;
mod tauri;

/// Why the backend could not answer.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum BackendError {
    /// The Tauri IPC call failed.
    #[error("the app backend failed: {0}")]
    Ipc(String),
    /// The daemon refused the token or none was given.
    #[error("{0}")]
    Unauthorized(String),
    /// The daemon answered with an error status.
    #[error("the daemon answered HTTP {status}: {message}")]
    Http {
        /// HTTP status.
        status: u16,
        /// Message from the body.
        message: String,
    },
    /// The daemon could not be reached.
    #[error("cannot reach the Cairn daemon: {0}")]
    Unreachable(String),
    /// The answer did not have the expected shape.
    #[error("unexpected answer from the backend: {0}")]
    Decode(String),
    /// This host does not do that.
    #[error("{0}")]
    Unsupported(&'static str),
}

/// Callback receiving each fresh status or error.
pub(crate) type StatusSink = Rc<dyn Fn(Result<Status, BackendError>)>;

/// Callback receiving an upload's progress: bytes sent, of the file's size.
pub(crate) type UploadProgress = Rc<dyn Fn(u64, u64)>;

/// What the UI needs from its host.
#[async_trait::async_trait(?Send)]
pub(crate) trait Backend {
    /// Short name shown in the header: `desktop` or `daemon`.
    fn name(&self) -> &'static str;
    /// The current status.
    async fn status(&self) -> Result<Status, BackendError>;
    /// Sets the embedded node's quota; the status once the node is back.
    async fn set_node_quota(&self, quota_bytes: u64) -> Result<Status, BackendError>;
    /// Gives a selling node the stake it registers with; the status after.
    async fn set_node_stake(&self, tokens: u64) -> Result<Status, BackendError>;
    /// Follows the beacon chain `settings` names with the light client, or stops (`None`); the
    /// status after.
    async fn set_light_client(
        &self,
        settings: Option<LightClientSettings>,
    ) -> Result<Status, BackendError>;
    /// Reads the chain through the endpoint `settings` names, or the shell's (`None`); the status
    /// after.
    async fn set_chain(&self, settings: Option<ChainSettings>) -> Result<Status, BackendError>;
    /// Has the node start selling storage on the deployment `request` names; the status after.
    async fn set_node_market(&self, request: SetNodeMarket) -> Result<Status, BackendError>;
    /// Pays a selling node's earnings to its payout address.
    async fn withdraw_earnings(&self) -> Result<Withdrawal, BackendError>;
    /// Stores a file on the network through the node; what was stored, once every copy is.
    async fn store_file(&self, request: StoreFile) -> Result<StoredFile, BackendError>;
    /// Fetches a stored object back into a new file, verified.
    async fn fetch_file(&self, request: FetchFile) -> Result<FetchedFile, BackendError>;
    /// Whether files come from, and go to, the browser's own disk ([`Backend::upload_file`],
    /// [`Backend::download_file`]): the daemon's page. The app's window stores files by path.
    fn browser_files(&self) -> bool {
        false
    }
    /// Stores `file`, picked in the browser, on `copies` providers, kept until `keep_until`;
    /// `progress` hears how much of it was sent.
    async fn upload_file(
        &self,
        _file: web_sys::File,
        (_copies, _keep_until): (u32, Option<u64>),
        _progress: UploadProgress,
    ) -> Result<StoredFile, BackendError> {
        Err(BackendError::Unsupported(
            "files are stored from the browser on the daemon's page; here, give the file's path",
        ))
    }
    /// Fetches a stored object, verified, and has the browser download it.
    async fn download_file(&self, _request: DownloadFile) -> Result<DownloadReady, BackendError> {
        Err(BackendError::Unsupported(
            "files are downloaded by the browser on the daemon's page; here, fetch it to a path",
        ))
    }
    /// Whether the host opens the system's file dialogs ([`Backend::pick_file`],
    /// [`Backend::pick_save_file`]): the app's window.
    fn file_dialogs(&self) -> bool {
        false
    }
    /// The path of a file picked in the system's file dialog; `None` if it was cancelled.
    async fn pick_file(&self) -> Result<Option<String>, BackendError> {
        Err(BackendError::Unsupported(
            "the system's file dialog opens in the app's window; here, give the file's path",
        ))
    }
    /// Where to save a fetched file, chosen in the system's save dialog starting from `name`;
    /// `None` if it was cancelled.
    async fn pick_save_file(&self, _name: String) -> Result<Option<String>, BackendError> {
        Err(BackendError::Unsupported(
            "the system's save dialog opens in the app's window; here, give the path",
        ))
    }
    /// Stops keeping a stored file and ends its deals.
    async fn forget_file(&self, request: ForgetFile) -> Result<ForgotFile, BackendError>;
    /// Pays what the market owes the node's account as a buyer to that account.
    async fn withdraw_refunds(&self) -> Result<Withdrawal, BackendError>;
    /// Calls `sink` with every fresh status from now on.
    fn watch_status(&self, sink: StatusSink);
}

/// Picks Tauri IPC inside the app, HTTP otherwise.
pub(crate) fn detect() -> Rc<dyn Backend> {
    if tauri::is_available() {
        Rc::new(tauri::TauriBackend)
    } else {
        Rc::new(http::HttpBackend::from_location())
    }
}
