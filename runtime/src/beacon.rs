//! The light client's verified head of the chain, for what the runtime shows as verified.
//!
//! When the runtime is given a beacon chain to follow ([`crate::Config::beacon`]), one task owns
//! a [`light_client_rpc::BeaconSync`]: it bootstraps from the trusted checkpoint (or from the
//! latest checkpoint it verified from that one, kept in [`checkpoint_file`]), then runs one
//! sync round per slot and publishes the verified optimistic head (a beacon header signed by
//! more than the safety threshold of the sync committee, and the execution block it commits to)
//! on a `watch` channel. Nothing here trusts the beacon endpoints: every header, committee and
//! signature is checked by `light-client` before the store moves. A failed round keeps the last
//! verified head (it stays true, only older) and says why next to it.
//!
//! [`crate::earnings`] anchors a selling node's earnings on that head's execution block, so an
//! execution endpoint that serves another chain, or a state of its own making, is caught.

use std::path::{Path, PathBuf};

use alloy_primitives::B256;
use light_client_rpc::{BeaconSync, FileCheckpoint};
use protocol::api::{LightClientSettings, LightClientState};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::BeaconConfig;

/// Where the latest checkpoint verified from the trusted checkpoint `trusted` of the beacon
/// network named `network` is kept: `<data_dir>/light-client/<network>/<trusted>.checkpoint`.
/// One file per network, so a data directory switched to another network never starts from the
/// first one's checkpoint; and one per trusted checkpoint, so a user who replaces the one they
/// trust (say, one from a source they no longer trust) starts from the new one, never from
/// what was verified from the old one. Characters other than ASCII letters, digits, `-` and
/// `_` in the network's name are written `_`.
pub fn checkpoint_file(data_dir: &Path, network: &str, trusted: B256) -> PathBuf {
    let name: String = network
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    data_dir
        .join("light-client")
        .join(name)
        .join(format!("{trusted}.checkpoint"))
}

/// A head the light client verified: the beacon slot and the execution block it commits to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedHead {
    /// The slot of the signed beacon header.
    pub slot: u64,
    /// The execution block's hash, as the header commits to it.
    pub block_hash: B256,
    /// The execution block's number.
    pub block_number: u64,
}

/// What the follower task publishes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HeadState {
    /// The latest verified head, once there is one.
    pub(crate) head: Option<VerifiedHead>,
    /// Why the last round gave no new head, if it failed.
    pub(crate) error: Option<String>,
}

impl HeadState {
    /// Folds a round's outcome in: a new head, or the same one (with what the endpoints did
    /// wrong, if anything, beside it), or why the round failed (the last head stays). Whether
    /// anything changed.
    fn record(&mut self, outcome: Result<(VerifiedHead, Vec<String>), String>) -> bool {
        match outcome {
            Ok((head, faults)) => {
                let moved = self.head != Some(head);
                if moved {
                    tracing::info!(
                        slot = head.slot,
                        block = head.block_number,
                        hash = %head.block_hash,
                        "the light client verified a new head"
                    );
                }
                // A head that did not move while endpoints failed or lied: say so beside it.
                let error = (!moved && !faults.is_empty())
                    .then(|| format!("no new head: {}", faults.join("; ")));
                let changed = moved || self.error != error;
                self.head = Some(head);
                self.error = error;
                changed
            }
            Err(error) => {
                if self.error.as_ref() == Some(&error) {
                    return false;
                }
                tracing::warn!(%error, "the light client's sync round failed");
                self.error = Some(error);
                true
            }
        }
    }

    /// The head to anchor on, or why there is none.
    pub(crate) fn anchor(&self) -> Result<VerifiedHead, String> {
        match (self.head, &self.error) {
            (Some(head), _) => Ok(head),
            (None, Some(error)) => Err(format!(
                "the light client has no verified head of the beacon chain: {error}"
            )),
            (None, None) => Err(
                "the light client has not verified a head of the beacon chain yet; it syncs once \
                 per slot"
                    .to_owned(),
            ),
        }
    }
}

/// The head of `config`'s beacon chain the light client verifies in one sync round from the
/// trusted checkpoint, or from the one kept in `checkpoint_file` (which then keeps the new
/// one), for a one-off check such as `cairn earnings --beacon`.
pub async fn verified_head(
    config: &BeaconConfig,
    checkpoint_file: Option<PathBuf>,
) -> Result<VerifiedHead, crate::Error> {
    let head = async {
        let mut sync = sync(config, checkpoint_file).await?;
        round(&mut sync, &config.network)
            .await
            .map(|(head, _faults)| head)
    };
    head.await.map_err(|why| {
        crate::Error::Unverified(format!("the light client has no verified head: {why}"))
    })
}

/// A sync of `config` that keeps its checkpoint in `checkpoint_file`, if given (made on the
/// first save), and starts from it when it holds one.
async fn sync(
    config: &BeaconConfig,
    checkpoint_file: Option<PathBuf>,
) -> Result<BeaconSync, String> {
    let sync = BeaconSync::new(config.network.clone(), &config.endpoints, config.checkpoint)
        .map_err(|err| err.to_string())?;
    let Some(file) = checkpoint_file else {
        return Ok(sync);
    };
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|err| format!("creating {}: {err}", parent.display()))?;
    }
    sync.with_persistence(Box::new(FileCheckpoint::new(file)))
        .await
        .map_err(|err| err.to_string())
}

/// One sync round of `network` at the clock's slot: the verified head after it, and what the
/// endpoints did wrong meanwhile (a round succeeds while one endpoint answers; the others'
/// faults are logged and returned).
async fn round(
    sync: &mut BeaconSync,
    network: &light_client::ChainConfig,
) -> Result<(VerifiedHead, Vec<String>), String> {
    let slot = current_slot(network)?;
    let progress = sync.sync(slot).await.map_err(|err| err.to_string())?;
    for fault in &progress.faults {
        tracing::warn!("beacon endpoint: {fault}");
    }
    let faults = progress.faults.iter().map(ToString::to_string).collect();
    let store = sync
        .store()
        .ok_or("the beacon sync ended without a verified store")?;
    let header = store.optimistic_header();
    if header.is_empty() {
        return Err(format!(
            "the verified head (slot {}) carries no execution block: the network is before \
             Capella",
            header.beacon.slot
        ));
    }
    let head = VerifiedHead {
        slot: header.beacon.slot,
        block_hash: header.execution.block_hash,
        block_number: header.execution.block_number,
    };
    Ok((head, faults))
}

/// The slot at the system clock.
fn current_slot(config: &light_client::ChainConfig) -> Result<u64, String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|err| format!("the system clock is before 1970: {err}"))?;
    Ok(config.slot_at_time(now.as_secs()))
}

/// The light client the runtime runs: the task that owns its sync, the channel that task
/// publishes the verified head on, and what it was configured with. Dropping it stops the task.
#[derive(Debug)]
pub(crate) struct LightClient {
    head: watch::Receiver<HeadState>,
    /// The sync to start ([`LightClient::run`]): what to follow, where to keep its checkpoint,
    /// and where to publish.
    pending: Option<(BeaconConfig, PathBuf, watch::Sender<HeadState>)>,
    task: Option<JoinHandle<()>>,
    /// The state shown, but for the head and error, which come from `head`.
    shown: LightClientState,
}

impl LightClient {
    /// A light client of `config`'s beacon chain that keeps its checkpoint under `data_dir`;
    /// it follows the chain once [`LightClient::run`] is called.
    pub(crate) fn new(config: BeaconConfig, data_dir: PathBuf) -> Self {
        let (sender, head) = watch::channel(HeadState::default());
        let shown = LightClientState {
            network: config.network.name.clone(),
            endpoints: config.endpoints.clone(),
            checkpoint: config.checkpoint.to_string(),
            head: None,
            error: None,
        };
        Self {
            head,
            pending: Some((config, data_dir, sender)),
            task: None,
            shown,
        }
    }

    /// Starts the task that follows the chain, on the current tokio runtime (once; a light
    /// client that cannot run has nothing to start).
    pub(crate) fn run(&mut self) {
        if let Some((config, data_dir, sender)) = self.pending.take() {
            self.task = Some(tokio::spawn(follow(config, data_dir, sender)));
        }
    }

    /// A light client that cannot run (settings saved from the UI that no longer hold, such as
    /// a network file since deleted): it has no head and says why, so what is anchored on it
    /// waits instead of falling back to the endpoint's word.
    pub(crate) fn unusable(settings: &LightClientSettings, error: String) -> Self {
        let (_, head) = watch::channel(HeadState {
            head: None,
            error: Some(error),
        });
        Self {
            head,
            pending: None,
            task: None,
            shown: LightClientState {
                network: settings.network.clone(),
                endpoints: settings.endpoints.clone(),
                checkpoint: settings.checkpoint.clone(),
                head: None,
                error: None,
            },
        }
    }

    /// The verified head, as it moves.
    pub(crate) fn subscribe(&self) -> watch::Receiver<HeadState> {
        self.head.clone()
    }

    /// As the status shows it.
    pub(crate) fn state(&self) -> LightClientState {
        let state = self.head.borrow();
        LightClientState {
            head: state.head.map(|head| protocol::api::VerifiedHead {
                slot: head.slot,
                block: head.block_number,
                block_hash: head.block_hash.to_string(),
            }),
            error: state.error.clone(),
            ..self.shown.clone()
        }
    }
}

impl Drop for LightClient {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// One round per slot, forever; the sync is made again after a failure to make it (a
/// checkpoint file that could not be read, say, may be fixed meanwhile).
async fn follow(config: BeaconConfig, data_dir: PathBuf, sender: watch::Sender<HeadState>) {
    let mut sync = None;
    loop {
        let outcome = match sync.as_mut() {
            Some(sync) => round(sync, &config.network).await,
            None => match self::sync(
                &config,
                Some(checkpoint_file(
                    &data_dir,
                    &config.network.name,
                    config.checkpoint,
                )),
            )
            .await
            {
                Ok(made) => round(sync.insert(made), &config.network).await,
                Err(err) => Err(err),
            },
        };
        sender.send_if_modified(|state| state.record(outcome));
        if sender.is_closed() {
            return;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        tokio::time::sleep(config.network.until_next_round(now)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_without_a_head_says_why() {
        let empty = HeadState::default();
        assert!(empty.anchor().unwrap_err().contains("not verified a head"));
        let failed = HeadState {
            head: None,
            error: Some("bootstrap: no beacon endpoint gave verifiable data".into()),
        };
        let error = failed.anchor().unwrap_err();
        assert!(
            error.contains("no verified head") && error.contains("bootstrap"),
            "{error}"
        );
        let head = VerifiedHead {
            slot: 7,
            block_hash: B256::repeat_byte(1),
            block_number: 3,
        };
        let stale = HeadState {
            head: Some(head),
            error: Some("timed out".into()),
        };
        assert_eq!(
            stale.anchor(),
            Ok(head),
            "a failed round keeps the last verified head"
        );
    }

    #[test]
    fn each_network_and_trusted_checkpoint_keeps_its_own_checkpoint_file() {
        let dir = Path::new("/data");
        let trusted = B256::repeat_byte(0x5a);
        let hex = "5a".repeat(32);
        assert_eq!(
            checkpoint_file(dir, "mainnet", trusted),
            Path::new(&format!("/data/light-client/mainnet/0x{hex}.checkpoint"))
        );
        assert_eq!(
            checkpoint_file(dir, "../my net", trusted),
            Path::new(&format!("/data/light-client/___my_net/0x{hex}.checkpoint"))
        );
        assert_ne!(
            checkpoint_file(dir, "mainnet", B256::repeat_byte(1)),
            checkpoint_file(dir, "mainnet", trusted)
        );
    }

    #[test]
    fn a_round_moves_the_head_or_says_why_it_did_not() {
        let head = |slot| VerifiedHead {
            slot,
            block_hash: B256::repeat_byte(slot as u8),
            block_number: slot,
        };
        let mut state = HeadState::default();
        assert!(state.record(Err("bootstrap: unreachable".into())));
        assert!(
            !state.record(Err("bootstrap: unreachable".into())),
            "said once"
        );
        assert_eq!(
            state.anchor().unwrap_err(),
            "the light client has no verified head of the beacon chain: bootstrap: unreachable"
        );
        // A first head clears the error, even if some endpoint failed meanwhile.
        assert!(state.record(Ok((head(5), vec!["http://b failed".into()]))));
        assert_eq!(
            state,
            HeadState {
                head: Some(head(5)),
                error: None
            }
        );
        // The same head with no fault changes nothing; with faults, they are said beside it.
        assert!(!state.record(Ok((head(5), Vec::new()))));
        assert!(state.record(Ok((head(5), vec!["http://a rejected x".into()]))));
        assert_eq!(
            state.error.as_deref(),
            Some("no new head: http://a rejected x")
        );
        assert_eq!(state.anchor(), Ok(head(5)));
        // A failed round keeps the head; the next one that moves it clears the error.
        assert!(state.record(Err("every beacon endpoint … is skipped".into())));
        assert_eq!(state.anchor(), Ok(head(5)));
        assert!(state.record(Ok((head(6), Vec::new()))));
        assert_eq!(
            state,
            HeadState {
                head: Some(head(6)),
                error: None
            }
        );
    }
}
