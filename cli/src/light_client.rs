//! `cairn light-client ...`: the light client from the command line.
//!
//! - `sync`: verifies a bootstrap and updates read from files (beacon-API JSON or SSZ) from a
//!   trusted checkpoint block root, prints the verified finalized and optimistic headers as JSON;
//! - `verify-proof`: verifies an `eth_getProof` answer against a trusted state root.
//!
//! Every failure exits non-zero with a message naming the file and the check that failed.

use std::path::{Path, PathBuf};

use alloy_primitives::B256;
use anyhow::Context as _;
use clap::Subcommand;
use light_client::types::Kind;
use light_client::{ChainConfig, Store, input};

use crate::print_line;

/// The light client's subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Verify a light-client bootstrap and updates from files; print the verified headers.
    Sync {
        /// `mainnet`, `sepolia`, `hoodi`, or the path of a network configuration JSON file.
        #[arg(long, default_value = "mainnet")]
        network: String,
        /// The trusted checkpoint: a beacon block root (0x-hex), e.g. a recent finalized root.
        #[arg(long)]
        checkpoint: B256,
        /// `light_client/bootstrap` for the checkpoint (beacon-API JSON or SSZ).
        #[arg(long)]
        bootstrap: PathBuf,
        /// `light_client/updates` files (JSON array or SSZ response), applied in order.
        #[arg(long)]
        updates: Vec<PathBuf>,
        /// A `light_client/finality_update` file, applied after the updates.
        #[arg(long)]
        finality: Option<PathBuf>,
        /// A `light_client/optimistic_update` file, applied last.
        #[arg(long)]
        optimistic: Option<PathBuf>,
        /// The current slot [default: from the system clock and the network's genesis time].
        #[arg(long)]
        current_slot: Option<u64>,
    },
    /// Verify an `eth_getProof` answer against a trusted execution state root.
    VerifyProof {
        /// The trusted state root (0x-hex), e.g. `execution.state_root` printed by `sync`.
        #[arg(long)]
        state_root: B256,
        /// The `eth_getProof` result (bare or in its JSON-RPC envelope).
        #[arg(long)]
        proof: PathBuf,
    },
}

/// Runs one light-client subcommand.
pub(crate) async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Sync {
            network,
            checkpoint,
            bootstrap,
            updates,
            finality,
            optimistic,
            current_slot,
        } => {
            let config = network_config(&network)?;
            let current_slot = match current_slot {
                Some(slot) => slot,
                None => config.slot_at_time(unix_now()?),
            };
            let report = sync(
                config,
                checkpoint,
                &bootstrap,
                &updates,
                finality.as_deref(),
                optimistic.as_deref(),
                current_slot,
            )?;
            print_line(&serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::VerifyProof { state_root, proof } => {
            let text = read_text(&proof)?;
            let answer = light_client::execution::AccountProof::from_json(&text)
                .with_context(|| format!("{}: not an eth_getProof result", proof.display()))?;
            let verified = answer
                .verify(state_root)
                .with_context(|| format!("{}: proof rejected", proof.display()))?;
            print_line(&serde_json::to_string_pretty(&verified)?);
            Ok(())
        }
    }
}

/// A preset network by name, or a custom one from a JSON file.
pub(crate) fn network_config(network: &str) -> anyhow::Result<ChainConfig> {
    if let Some(config) = ChainConfig::preset(network) {
        return Ok(config);
    }
    let path = Path::new(network);
    if !path.is_file() {
        anyhow::bail!(
            "unknown network {network:?}: use mainnet, sepolia, hoodi or the path of a network configuration JSON file"
        );
    }
    ChainConfig::from_json(&read_text(path)?)
        .with_context(|| format!("{}: invalid network configuration", path.display()))
}

fn sync(
    config: ChainConfig,
    checkpoint: B256,
    bootstrap: &Path,
    updates: &[PathBuf],
    finality: Option<&Path>,
    optimistic: Option<&Path>,
    current_slot: u64,
) -> anyhow::Result<light_client::SyncReport> {
    let decoded = input::bootstrap(&read(bootstrap)?, &config)
        .with_context(|| format!("{}: cannot decode the bootstrap", bootstrap.display()))?;
    let mut store = Store::bootstrap(config.clone(), checkpoint, decoded)
        .with_context(|| format!("{}: bootstrap rejected", bootstrap.display()))?;
    for path in updates {
        let decoded = input::updates(&read(path)?, &config)
            .with_context(|| format!("{}: cannot decode the updates", path.display()))?;
        for (index, update) in decoded.into_iter().enumerate() {
            store
                .process_update(update, current_slot)
                .with_context(|| format!("{}: update #{index} rejected", path.display()))?;
        }
    }
    for (path, kind, name) in [
        (finality, Kind::Finality, "finality update"),
        (optimistic, Kind::Optimistic, "optimistic update"),
    ] {
        let Some(path) = path else { continue };
        let update = input::single(&read(path)?, kind, &config)
            .with_context(|| format!("{}: cannot decode the {name}", path.display()))?;
        store
            .process_update(update, current_slot)
            .with_context(|| format!("{}: {name} rejected", path.display()))?;
    }
    Ok(store.report())
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn unix_now() -> anyhow::Result<u64> {
    Ok(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the system clock is before 1970")?
        .as_secs())
}
