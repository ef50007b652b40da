//! Shared helpers for Cairn's integration and end-to-end tests, in one place.
//!
//! Owns: a minimal W3C WebDriver client (driving `chromedriver` and `tauri-driver` alike), an
//! Xvfb display per test, a private D-Bus bus with BlueZoo (BLE without a radio), child-process
//! guards, a `cairn daemon` process, free-port and readiness helpers, mock beacon and execution endpoints serving the light
//! client's mainnet fixtures, a synthetic beacon chain signed by a test sync committee that
//! follows an anvil devnet (`beacon_chain`), a JSON-RPC proxy that tampers with a node's answers (`rpc_proxy`), a home network behind a NAT made of network namespaces (`netns`), and the directory where tests save artifacts such as screenshots.
//!
//! Builds for: native only. Used only as a dev-dependency.
//!
//! Must not depend on: any Cairn crate but the pure `light-client`, whose types and root
//! functions `beacon_chain` builds its chain with (so the chain is hashed exactly as it is
//! verified); tests bring the pieces under test themselves.

pub mod beacon;
pub mod beacon_chain;
pub mod bluezoo;
pub mod daemon;
pub mod files_card;
pub mod netns;
pub mod process;
pub mod rpc_proxy;
pub mod webdriver;
pub mod xvfb;

use std::path::PathBuf;
use std::time::Duration;

pub use bluezoo::BlueZoo;
pub use daemon::Daemon;
pub use netns::NatLab;
pub use process::{ChildGuard, Lines, Ran, find_tool, free_port, run, wait_for_port};
pub use webdriver::WebDriver;
pub use xvfb::Xvfb;

/// Why a test helper failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A tool the tests need is not installed.
    #[error("{tool} is not installed ({hint}); run `cargo xtask setup`")]
    MissingTool {
        /// Tool name.
        tool: String,
        /// Where it was looked for.
        hint: String,
    },
    /// An OS operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
    /// Something did not happen in time.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long we waited.
        after: Duration,
    },
    /// The WebDriver server failed a command.
    #[error("WebDriver {command} failed: {detail}")]
    WebDriver {
        /// Command that failed.
        command: String,
        /// Error from the server.
        detail: String,
    },
    /// HTTP transport failed.
    #[error(transparent)]
    Http(#[from] reqwest::Error),
}

/// Result alias for the helpers.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The workspace root (where `Cargo.toml` with `[workspace]` lives).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// Directory for test artifacts (screenshots): `$CAIRN_ARTIFACTS_DIR`, else `<workspace>/test-artifacts`.
pub fn artifacts_dir() -> Result<PathBuf> {
    let dir = std::env::var_os("CAIRN_ARTIFACTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("test-artifacts"));
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
        what: format!("creating {}", dir.display()),
        source,
    })?;
    Ok(dir)
}

/// Serves `app` on a free port of 127.0.0.1 (the mocks' one way to listen): its base URL and
/// the task serving it, to abort when the mock is dropped.
///
/// # Panics
/// When no loopback port can be bound: a test cannot go on without its mock.
pub async fn serve_local(app: axum::Router) -> (String, tokio::task::JoinHandle<()>) {
    #[allow(
        clippy::expect_used,
        reason = "a mock that cannot listen fails its test loudly"
    )]
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding a loopback port");
    #[allow(clippy::expect_used, reason = "a bound listener has an address")]
    let url = format!("http://{}", listener.local_addr().expect("its address"));
    let task = tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            panic!("the mock server on 127.0.0.1 failed: {err}");
        }
    });
    (url, task)
}

/// The built UI that the daemon serves and the app embeds.
pub fn ui_dist() -> PathBuf {
    workspace_root().join("ui/dist")
}

/// Polls `probe` every 100 ms until it returns `Some`, or fails after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::Timeout {
                what: what.to_owned(),
                after: timeout,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
