//! A `cairn daemon` process for end-to-end tests: started on a free loopback port, its UI URL
//! read from its first line.

use std::path::Path;
use std::time::Duration;

use tokio::process::Command;

use crate::{ChildGuard, Error, Result};

/// The line prefix `cairn daemon` prints before its UI URL.
const URL_PREFIX: &str = "Cairn UI: ";

/// A running daemon (killed on drop) and what its URL carries.
#[derive(Debug)]
pub struct Daemon {
    /// Kills the daemon's process group when dropped.
    pub guard: ChildGuard,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The API token from the URL's fragment.
    pub token: String,
}

impl Daemon {
    /// Starts `cairn` (the binary at `bin`) as `daemon` on a free loopback port against
    /// `rpc_url`, with `data_dir`, the built UI and `args`, and waits for its URL.
    pub async fn start(
        bin: &str,
        rpc_url: &str,
        data_dir: &Path,
        args: &[&str],
        timeout: Duration,
    ) -> Result<Self> {
        let mut command = Command::new(bin);
        command
            .args(["daemon", "--listen", "127.0.0.1:0", "--rpc-url", rpc_url])
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--ui-dir")
            .arg(crate::ui_dist())
            .args(args)
            .env("CAIRN_LOG", "warn");
        let (guard, line) =
            ChildGuard::spawn_and_read_line("cairn daemon", command, URL_PREFIX, timeout).await?;
        let url = line.trim().trim_start_matches(URL_PREFIX);
        let (base, token) = url.split_once("/#token=").ok_or_else(|| Error::Io {
            what: "reading the daemon's URL".into(),
            source: std::io::Error::other(format!("{line:?} carries no #token=")),
        })?;
        Ok(Self {
            guard,
            base: base.to_owned(),
            token: token.to_owned(),
        })
    }

    /// The UI's URL with the token in its fragment, as the daemon prints it.
    pub fn url(&self) -> String {
        format!("{}/#token={}", self.base, self.token)
    }

    /// `GET /api/status` with the token, as JSON.
    pub async fn status(&self) -> Result<serde_json::Value> {
        Ok(reqwest::Client::new()
            .get(format!("{}/api/status", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// `POST path` with the token and no body: the HTTP status and the JSON answer.
    pub async fn post(&self, path: &str) -> Result<(u16, serde_json::Value)> {
        let response = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await?))
    }

    /// Polls the status until its `node` is accepted (for at most `timeout`), and returns it.
    pub async fn wait_for_node(
        &self,
        what: &str,
        timeout: Duration,
        accept: impl Fn(&serde_json::Value) -> bool,
    ) -> Result<serde_json::Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let node = self.status().await?["node"].clone();
            if accept(&node) {
                return Ok(node);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("{what} (last node status: {node})"),
                    after: timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
