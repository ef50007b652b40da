//! `cairn light-client ...`: the light client from the command line.
//!
//! - `sync`: verifies a bootstrap and updates read from files (beacon-API JSON or SSZ), or
//!   fetched from beacon endpoints (`--beacon`, repeatable, with `--state` to persist the
//!   checkpoint), from a trusted checkpoint block root, and prints the verified finalized and
//!   optimistic headers as JSON;
//! - `verify-proof`: verifies an `eth_getProof` answer against a trusted state root;
//! - `call`: execution-only verified `eth_call` (anchored on a trusted block hash, re-executed
//!   locally with revm over proven state);
//! - `serve`: the verified provider as a JSON-RPC endpoint on 127.0.0.1, for a trusted block
//!   (execution-only) or following the verified beacon head (`--beacon`).
//!
//! Every failure exits non-zero with a message naming the file and the check that failed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use alloy_primitives::{Address, B256, Bytes};
use anyhow::Context as _;
use axum::Json;
use axum::extract::State;
use clap::Subcommand;
use light_client::evm::{CallOutcome, CallRequest};
use light_client::types::Kind;
use light_client::{ChainConfig, Store, input};
use light_client_rpc::{BeaconSync, ExecutionClient, FileCheckpoint, Follower, Provider, Rpc};
use serde_json::{Value, json};
use tokio::sync::watch;

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
        #[arg(long, required_unless_present = "beacon")]
        bootstrap: Option<PathBuf>,
        /// Fetch from beacon endpoints instead of files (repeat for failover and
        /// cross-checking): bootstrap, period updates in batches, finality and optimistic updates.
        #[arg(long, conflicts_with_all = ["bootstrap", "updates", "finality", "optimistic"])]
        beacon: Vec<String>,
        /// With `--beacon`: file keeping the latest verified checkpoint; when it exists, sync
        /// starts from it instead of `--checkpoint`.
        #[arg(long, requires = "beacon")]
        state: Option<PathBuf>,
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
    /// Verified `eth_call`: proves every account, slot and code the call touches against a
    /// trusted block and re-executes it locally; prints the return data.
    Call {
        #[command(flatten)]
        anchor: AnchorArgs,
        /// The contract called.
        #[arg(long)]
        to: Address,
        /// Calldata (0x-hex).
        #[arg(long)]
        data: Bytes,
        /// The sender [default: the zero address].
        #[arg(long)]
        from: Option<Address>,
    },
    /// Serve verified JSON-RPC (balances, storage, code, eth_call, eth_estimateGas of the
    /// trusted block; blocks, transactions, receipts and logs of it and its ancestors) on a
    /// loopback address for wallets and tools. With `--beacon`, follow the chain: each slot a
    /// beacon sync round, and the answers move to the verified head's execution block.
    Serve {
        /// The execution JSON-RPC endpoint (untrusted).
        #[arg(long)]
        rpc: String,
        /// Execution-only mode: the trusted execution block hash to answer for.
        #[arg(long, required_unless_present = "beacon", conflicts_with = "beacon")]
        block_hash: Option<B256>,
        /// Chain id for the `CHAINID` opcode [default: the node's `eth_chainId`].
        #[arg(long)]
        chain_id: Option<u64>,
        /// Follow the head from these beacon endpoints (repeat for failover and
        /// cross-checking) instead of a fixed block.
        #[arg(long, requires = "checkpoint")]
        beacon: Vec<String>,
        /// With `--beacon`: the trusted checkpoint (a beacon block root).
        #[arg(long, requires = "beacon")]
        checkpoint: Option<B256>,
        /// With `--beacon`: `mainnet`, `sepolia`, `hoodi`, or a network configuration JSON file.
        #[arg(long, default_value = "mainnet")]
        network: String,
        /// With `--beacon`: file keeping the latest verified checkpoint (used when it exists).
        #[arg(long, requires = "beacon")]
        state: Option<PathBuf>,
        /// With `--beacon`: the slot to sync to at start, then one more each second [default:
        /// from the system clock, one step per slot].
        #[arg(long, requires = "beacon", hide = true)]
        current_slot: Option<u64>,
        /// Loopback address to listen on (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:8546")]
        listen: SocketAddr,
    },
}

/// Execution-only mode: the untrusted node and the trusted block everything is proven against.
#[derive(Debug, clap::Args)]
pub(crate) struct AnchorArgs {
    /// The execution JSON-RPC endpoint (untrusted).
    #[arg(long)]
    rpc: String,
    /// The trusted execution block hash (e.g. `execution.block_hash` printed by `sync`).
    #[arg(long)]
    block_hash: B256,
    /// Chain id for the `CHAINID` opcode [default: the node's `eth_chainId`].
    #[arg(long)]
    chain_id: Option<u64>,
}

impl AnchorArgs {
    async fn client(&self) -> anyhow::Result<ExecutionClient> {
        anchor(&self.rpc, self.block_hash, self.chain_id).await
    }
}

/// The configured chain id, or the node's `eth_chainId`.
async fn chain_id(rpc: &Rpc, configured: Option<u64>) -> anyhow::Result<u64> {
    match configured {
        Some(id) => Ok(id),
        None => Ok(rpc.chain_id().await?),
    }
}

/// Execution-only mode: a client anchored on a trusted block hash.
async fn anchor(
    rpc: &str,
    block_hash: B256,
    configured_chain_id: Option<u64>,
) -> anyhow::Result<ExecutionClient> {
    let rpc = Rpc::new(rpc)?;
    let chain_id = chain_id(&rpc, configured_chain_id).await?;
    ExecutionClient::anchor(rpc, block_hash, chain_id)
        .await
        .with_context(|| format!("cannot anchor on block {block_hash}"))
}

/// Runs one light-client subcommand.
pub(crate) async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Sync {
            network,
            checkpoint,
            bootstrap,
            beacon,
            state,
            updates,
            finality,
            optimistic,
            current_slot,
        } => {
            let config = runtime::BeaconConfig::network(&network)?;
            let current_slot = match current_slot {
                Some(slot) => slot,
                None => config.slot_at_time(unix_now()?),
            };
            let Some(bootstrap) = bootstrap else {
                let report =
                    sync_from_beacons(config, checkpoint, &beacon, state, current_slot).await?;
                print_line(&serde_json::to_string_pretty(&report)?);
                return Ok(());
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
        Command::Call {
            anchor,
            to,
            data,
            from,
        } => {
            let client = anchor.client().await?;
            let request = CallRequest {
                from,
                to: Some(to),
                data,
                ..CallRequest::default()
            };
            match client
                .call(&request)
                .await
                .context("verified eth_call failed")?
            {
                CallOutcome::Success { output, .. } => {
                    print_line(&output.to_string());
                    Ok(())
                }
                CallOutcome::Revert { output, .. } => {
                    anyhow::bail!("execution reverted (verified): {output}")
                }
                CallOutcome::Halt { reason, .. } => {
                    anyhow::bail!("execution halted (verified): {reason}")
                }
            }
        }
        Command::Serve {
            rpc,
            block_hash,
            chain_id: configured_chain_id,
            beacon,
            checkpoint,
            network,
            state,
            current_slot,
            listen,
        } => {
            // Checked before anything is fetched; `serve` below only binds.
            if !listen.ip().is_loopback() {
                anyhow::bail!(
                    "refusing to listen on {listen}: the verified endpoint serves loopback only"
                );
            }
            let (Some(checkpoint), false) = (checkpoint, beacon.is_empty()) else {
                let block_hash = block_hash.context("--block-hash or --beacon is required")?;
                // A fixed block: nothing will send another provider.
                let (_, head) = watch::channel(Arc::new(Provider::new(
                    anchor(&rpc, block_hash, configured_chain_id).await?,
                )));
                return serve(head, listen, false).await;
            };
            let config = runtime::BeaconConfig::network(&network)?;
            let sync = beacon_sync(config.clone(), &beacon, checkpoint, state).await?;
            let rpc = Rpc::new(&rpc)?;
            let chain_id = chain_id(&rpc, configured_chain_id).await?;
            let mut follower = Follower::new(sync, rpc, chain_id);
            let clock = SlotClock::new(&config, current_slot)?;
            // The first step must give a verified head: there is nothing to serve before it.
            let first = follower
                .step(clock.slot)
                .await
                .context("cannot follow the chain")?
                .provider
                .context("the beacon sync gave no verified head")?;
            let (head, receiver) = watch::channel(Arc::new(first));
            // The follower stays on this task (its checkpoint store need not be `Send`); the
            // server spawns a task per connection. Ctrl-C ends the server, and with it this.
            tokio::select! {
                served = serve(receiver, listen, true) => served,
                () = follow(follower, clock, head) => Ok(()),
            }
        }
    }
}

/// A beacon sync from `beacons`, starting from `checkpoint` or, when `state` names an existing
/// file, from the checkpoint kept there (and keeping the new ones there).
async fn beacon_sync(
    config: ChainConfig,
    beacons: &[String],
    checkpoint: B256,
    state: Option<PathBuf>,
) -> anyhow::Result<BeaconSync> {
    let sync = BeaconSync::new(config, beacons, checkpoint)?;
    Ok(match state {
        Some(state) => {
            sync.with_persistence(Box::new(FileCheckpoint::new(state)))
                .await?
        }
        None => sync,
    })
}

/// `sync --beacon`: one network sync round; the report adds what was downloaded, which
/// endpoints agreed on the finalized header, and what each faulty endpoint did.
async fn sync_from_beacons(
    config: ChainConfig,
    checkpoint: B256,
    beacons: &[String],
    state: Option<PathBuf>,
    current_slot: u64,
) -> anyhow::Result<Value> {
    let mut sync = beacon_sync(config, beacons, checkpoint, state).await?;
    let progress = sync.sync(current_slot).await?;
    let store = sync
        .store()
        .context("sync ended without a verified store")?;
    let mut report = serde_json::to_value(store.report())?;
    report["updates"] = json!(progress.updates);
    report["downloaded_bytes"] = json!(progress.bytes);
    report["agreeing"] = json!(progress.agreeing);
    report["faults"] = json!(
        progress
            .faults
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    );
    Ok(report)
}

/// The slot `serve --beacon` syncs to: the system clock's, or (for tests) a given start that
/// advances by one each second.
struct SlotClock {
    slot: u64,
    config: Option<ChainConfig>,
}

impl SlotClock {
    fn new(config: &ChainConfig, fixed: Option<u64>) -> anyhow::Result<Self> {
        Ok(match fixed {
            Some(slot) => Self { slot, config: None },
            None => Self {
                slot: config.slot_at_time(unix_now()?),
                config: Some(config.clone()),
            },
        })
    }

    /// Waits for the next round (the next slot's start plus a third of a slot, at most 4 s:
    /// `ChainConfig::until_next_round`) and returns its slot.
    async fn next(&mut self) -> anyhow::Result<u64> {
        match &self.config {
            None => {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                self.slot += 1;
            }
            Some(config) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .context("the system clock is before 1970")?;
                tokio::time::sleep(config.until_next_round(now)).await;
                self.slot = config.slot_at_time(unix_now()?);
            }
        }
        Ok(self.slot)
    }
}

/// The task that owns the [`Follower`]: one sync round per slot; a moved head replaces the
/// provider the server answers with. A failed round keeps the last verified block.
async fn follow(mut follower: Follower, mut clock: SlotClock, head: watch::Sender<Arc<Provider>>) {
    loop {
        let slot = match clock.next().await {
            Ok(slot) => slot,
            Err(err) => {
                tracing::error!("cannot tell the slot: {err:#}; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(12)).await;
                continue;
            }
        };
        match follower.step(slot).await {
            Ok(step) => {
                for fault in &step.progress.faults {
                    tracing::warn!("beacon endpoint: {fault}");
                }
                if let Some(provider) = step.provider {
                    let block = provider.client().block();
                    tracing::info!(number = block.header.number, hash = %block.hash, slot, "verified head");
                    if head.send(Arc::new(provider)).is_err() {
                        return;
                    }
                }
            }
            Err(err) => tracing::warn!(
                slot,
                "no new verified head: {err}; still answering for the last one"
            ),
        }
    }
}

/// Serves the verified provider over HTTP JSON-RPC (single and batch requests), always with the
/// latest one `head` holds.
async fn serve(
    head: watch::Receiver<Arc<Provider>>,
    listen: SocketAddr,
    following: bool,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    let following = if following {
        ", following the verified head"
    } else {
        ""
    };
    let block = head.borrow().client().block().clone();
    print_line(&format!(
        "verified JSON-RPC for block {} ({}){following} on http://{address}",
        block.header.number, block.hash
    ));
    let app = axum::Router::new()
        .route("/", axum::routing::post(answer))
        .with_state(head);
    axum::serve(listener, app)
        .with_graceful_shutdown(crate::shutdown_signal())
        .await?;
    Ok(())
}

async fn answer(
    State(head): State<watch::Receiver<Arc<Provider>>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    // A whole batch is answered for one block, even if the head moves meanwhile.
    let provider = head.borrow().clone();
    match body {
        Value::Array(requests) => {
            let mut answers = Vec::with_capacity(requests.len());
            for request in requests.iter().take(MAX_BATCH) {
                answers.push(answer_one(&provider, request).await);
            }
            Json(Value::Array(answers))
        }
        request => Json(answer_one(&provider, &request).await),
    }
}

/// Largest batch answered (the rest is dropped): bounds the work one request can cause.
const MAX_BATCH: usize = 100;

async fn answer_one(provider: &Provider, request: &Value) -> Value {
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = request.get("method").and_then(Value::as_str) else {
        return json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32600, "message": "invalid request: no method"}});
    };
    let params = request.get("params").cloned().unwrap_or(json!([]));
    match provider.request(method, &params).await {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(error) => json!({"jsonrpc": "2.0", "id": id, "error": error.to_json()}),
    }
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
    // Every update is decoded first, then all are checked as one batch (their signatures
    // together), with each one's result as if processed alone; the first rejection is the error.
    let mut labels = Vec::new();
    let mut batch = Vec::new();
    for path in updates {
        let decoded = input::updates(&read(path)?, &config)
            .with_context(|| format!("{}: cannot decode the updates", path.display()))?;
        for (index, update) in decoded.into_iter().enumerate() {
            labels.push(format!("{}: update #{index} rejected", path.display()));
            batch.push(update);
        }
    }
    for (path, kind, name) in [
        (finality, Kind::Finality, "finality update"),
        (optimistic, Kind::Optimistic, "optimistic update"),
    ] {
        let Some(path) = path else { continue };
        let update = input::single(&read(path)?, kind, &config)
            .with_context(|| format!("{}: cannot decode the {name}", path.display()))?;
        labels.push(format!("{}: {name} rejected", path.display()));
        batch.push(update);
    }
    let results = light_client_rpc::process_updates(&mut store, batch, current_slot);
    for (label, result) in labels.into_iter().zip(results) {
        result.context(label)?;
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
