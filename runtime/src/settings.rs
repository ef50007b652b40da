//! Settings changed from the UI and kept in the data directory (`settings.json`), so they
//! outlive a restart: the chain endpoint, the embedded node's quota, the stake and market a
//! selling node registers with, and the beacon chain the light client follows.
//!
//! The file is replaced atomically (a temporary file, fsynced, then renamed, then the directory
//! fsynced): a crash leaves the old settings or the new ones, never half of either. A file that
//! does not parse is reported with its path and never overwritten.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The settings file's name in the data directory.
pub const FILE_NAME: &str = "settings.json";

/// What the UI has set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// The embedded node's quota in bytes, when set from the UI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_quota: Option<u64>,
    /// Whole tokens a selling node registers with, when set from the UI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_stake: Option<u64>,
    /// The node sells storage, as set from the UI: on the deployment copied into the data
    /// directory ([`crate::MARKET_DEPLOYMENT_FILE`]), its earnings paid to this
    /// address, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_market: Option<SavedMarket>,
    /// The beacon chain the light client follows, when set from the UI (as typed: a network's
    /// name or file, endpoints, checkpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub light_client: Option<protocol::api::LightClientSettings>,
    /// The chain endpoint, when set from the UI, with the network's name (as typed, else the
    /// one its chain id gave when it was set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<protocol::api::ChainSettings>,
}

/// A market set from the UI ([`Settings::node_market`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedMarket {
    /// Where the earnings are paid, when not to the node's own address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payout: Option<node::market::Address>,
}

/// Why the settings could not be read or saved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// The file or its directory could not be read or written.
    #[error("cannot use the settings file {path}: {source}")]
    Io {
        /// File or directory involved.
        path: PathBuf,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file exists but is not Cairn's settings.
    #[error(
        "{path} is not a Cairn settings file ({reason}); fix it, or delete it to return to the defaults"
    )]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
}

/// The settings in `data_dir`, or the defaults when there is no file yet.
pub fn load(data_dir: &Path) -> Result<Settings, SettingsError> {
    let path = data_dir.join(FILE_NAME);
    match fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map_err(|err| SettingsError::Malformed {
            path,
            reason: err.to_string(),
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
        Err(source) => Err(SettingsError::Io { path, source }),
    }
}

/// Replaces the settings in `data_dir` with `settings`, atomically.
pub fn save(data_dir: &Path, settings: &Settings) -> Result<(), SettingsError> {
    let path = data_dir.join(FILE_NAME);
    let text = serde_json::to_string_pretty(settings).map_err(|err| SettingsError::Malformed {
        path: path.clone(),
        reason: err.to_string(),
    })?;
    crate::files::replace(&path, text.as_bytes())
        .map_err(|source| SettingsError::Io { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_a_missing_file_is_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), Settings::default());
        let settings = Settings {
            node_quota: Some(10 << 30),
            node_stake: Some(200),
            node_market: Some(SavedMarket {
                payout: Some(node::market::Address::repeat_byte(7)),
            }),
            light_client: Some(protocol::api::LightClientSettings {
                network: "sepolia".into(),
                endpoints: vec!["https://beacon.example".into()],
                checkpoint: format!("0x{}", "5a".repeat(32)),
            }),
            chain: Some(protocol::api::ChainSettings {
                rpc_url: "https://rpc.example".into(),
                network: "sepolia".into(),
            }),
        };
        save(dir.path(), &settings).unwrap();
        assert_eq!(load(dir.path()).unwrap(), settings);
        assert!(!dir.path().join(format!("{FILE_NAME}.tmp")).exists());
        let text = fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert!(text.contains("\"nodeQuota\": 10737418240"), "{text}");
    }

    #[test]
    fn a_malformed_file_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FILE_NAME), "{\"nodeQuota\": \"lots\"}").unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains(FILE_NAME), "{err}");
        assert!(err.contains("delete it"), "{err}");
    }
}
