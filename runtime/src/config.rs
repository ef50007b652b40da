//! Configuration of one running client.

use std::path::PathBuf;
use std::time::Duration;

/// How a runtime is configured. Shells fill it from their flags, environment and defaults;
/// the precedence is theirs to document (flags, then environment, then these defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Directory for everything the client keeps (API token, keys, stored data).
    /// Default: the platform data directory joined with `cairn`.
    pub data_dir: PathBuf,
    /// Human name of the network, shown in the UI. Default: `devnet`.
    pub network: String,
    /// JSON-RPC endpoint of the chain. Default: the local devnet, `http://127.0.0.1:8545`.
    pub rpc_url: String,
    /// How often the chain is polled for a new head. Default: one second.
    pub poll_interval: Duration,
}

impl Config {
    /// The embedded default: the local anvil devnet, data under `data_dir`.
    pub fn devnet(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            network: chain::DEVNET_NAME.to_owned(),
            rpc_url: chain::DEVNET_DEFAULT_RPC_URL.to_owned(),
            poll_interval: Duration::from_secs(1),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), crate::Error> {
        if self.network.trim().is_empty() {
            return Err(crate::Error::Config(
                "the network name is empty; give a name such as `devnet`".into(),
            ));
        }
        if self.poll_interval < Duration::from_millis(100) {
            return Err(crate::Error::Config(format!(
                "poll interval {:?} is below 100 ms; that would flood the RPC endpoint",
                self.poll_interval
            )));
        }
        Ok(())
    }
}
