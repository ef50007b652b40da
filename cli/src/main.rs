//! The `cairn` binary: a thin shell over the `runtime` crate for servers and operators.
//!
//! Owns argument parsing, process concerns (signals, exit codes, logging setup) and the daemon's
//! HTTP edge. It holds no client logic of its own: everything it shows comes from `runtime`.
//!
//! Builds for: native only.
//!
//! Must not depend on: Tauri or the UI crate (it serves the UI's built files, not its code).

mod daemon;
mod earnings;
mod light_client;
mod node;
mod pair;
mod storage;

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

/// Cairn: one client for DePIN networks.
#[derive(Debug, Parser)]
#[command(name = "cairn", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options shared by every command that runs the embedded client.
#[derive(Debug, clap::Args)]
struct RuntimeArgs {
    /// JSON-RPC endpoint of the chain; given, it wins over the one set in the UI [default: the
    /// one set in the UI, else the local devnet, http://127.0.0.1:8545].
    #[arg(long, env = "CAIRN_RPC_URL")]
    rpc_url: Option<String>,
    /// Network name shown in the UI with the given endpoint or the devnet's (one set in the UI
    /// has its own).
    #[arg(long, env = "CAIRN_NETWORK", default_value = chain::DEVNET_NAME)]
    network: String,
    /// Directory for the API token, keys and data [default: platform data dir + /cairn].
    #[arg(long, env = "CAIRN_DATA_DIR")]
    data_dir: Option<PathBuf>,
    #[command(flatten)]
    beacon: BeaconArgs,
}

/// The beacon chain the light client follows, so what is shown as verified is anchored on a
/// block the sync committee signed rather than on the RPC endpoint's word. Without `--beacon`
/// (a devnet has no beacon chain) the anchor is the endpoint's latest block.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct BeaconArgs {
    /// Beacon API endpoint to follow (repeat, or separate with commas, for failover and
    /// cross-checking).
    #[arg(
        long,
        env = "CAIRN_BEACON",
        value_delimiter = ',',
        requires = "beacon_checkpoint"
    )]
    beacon: Vec<String>,
    /// The trusted checkpoint: a finalized beacon block root (0x-hex), e.g. a recent one from a
    /// source you trust. Only the first sync starts from it; later ones start from the latest
    /// checkpoint verified.
    #[arg(long, env = "CAIRN_BEACON_CHECKPOINT", requires = "beacon")]
    beacon_checkpoint: Option<alloy_primitives::B256>,
    /// The beacon chain's network: `mainnet`, `sepolia`, `hoodi`, or a network configuration
    /// JSON file.
    #[arg(long, env = "CAIRN_BEACON_NETWORK", default_value = "mainnet")]
    beacon_network: String,
}

impl BeaconArgs {
    /// The runtime's beacon configuration, if `--beacon` was given.
    pub(crate) fn config(&self) -> anyhow::Result<Option<runtime::BeaconConfig>> {
        let Some(checkpoint) = self.beacon_checkpoint else {
            return Ok(None);
        };
        if self.beacon.is_empty() {
            return Ok(None);
        }
        Ok(Some(runtime::BeaconConfig {
            network: runtime::BeaconConfig::network(&self.beacon_network)
                .with_context(|| format!("--beacon-network {}", self.beacon_network))?,
            endpoints: self.beacon.clone(),
            checkpoint,
        }))
    }
}

impl RuntimeArgs {
    fn config(&self) -> anyhow::Result<runtime::Config> {
        let data_dir = match &self.data_dir {
            Some(dir) => dir.clone(),
            None => dirs::data_dir()
                .context("no platform data directory is known; pass --data-dir")?
                .join("cairn"),
        };
        Ok(runtime::Config {
            rpc_url: self.rpc_url.clone(),
            network: self.network.clone(),
            beacon: self.beacon.config()?,
            ..runtime::Config::devnet(data_dir)
        })
    }
}

/// The daemon's embedded libp2p node (off unless `--node`); its key and store live in
/// `<data dir>/node`, where `cairn node` keeps them by default.
#[derive(Debug, clap::Args)]
struct DaemonNodeArgs {
    /// Run the embedded libp2p node (storage provider) inside the daemon; the UI shows its state.
    #[arg(long)]
    node: bool,
    /// Disk the node offers to buyers, e.g. `512MiB` or `10GiB`; 0 stores nothing [default: the
    /// quota last set in the UI, else 0].
    #[arg(long, requires = "node", value_parser = node::parse_size)]
    node_quota: Option<u64>,
    /// Address for the node to listen on (repeatable) [default: TCP, QUIC and WebSocket on
    /// every interface].
    #[arg(long, requires = "node")]
    node_listen: Vec<String>,
    /// Peer for the node to dial at start (repeatable), a full multiaddr ending in `/p2p/<id>`.
    #[arg(long = "node-peer", requires = "node")]
    node_peers: Vec<String>,
    /// Do not discover peers on the LAN with mDNS.
    #[arg(long, requires = "node")]
    no_mdns: bool,
    /// Do not ask the router for port mappings (UPnP).
    #[arg(long, requires = "node")]
    no_upnp: bool,
    /// The network is a private one (a lab, a campus): reachability checks dial back private
    /// addresses, and private peers serve as relays. Leave it off on the internet.
    #[arg(long, requires = "node")]
    node_private_network: bool,
    /// Relay whole transfers for nodes behind NATs, as `cairn node --relay-server` [default: a
    /// relay for hole punching only (2 minutes and 128 KiB per circuit), once the node's peers
    /// found it reachable].
    #[arg(long, requires = "node", conflicts_with = "node_no_relay_service")]
    node_relay_server: bool,
    /// Serve no relay at all, not even the one for hole punching.
    #[arg(long, requires = "node")]
    node_no_relay_service: bool,
    /// Sell the node's storage on chain: the contracts' deployment file (from `cairn devnet
    /// --deployment-file`), as `cairn node --deployment-file`.
    #[arg(long, requires = "node")]
    node_deployment_file: Option<PathBuf>,
    /// File holding the node's hex chain private key (signs quotes and proofs, pays for the
    /// stake and gas). Default: the node's own key, `node/chain.key` in the data directory,
    /// made on first start.
    #[arg(long, requires = "node_deployment_file")]
    node_chain_key_file: Option<PathBuf>,
    /// The address the node's earnings are paid to (its payout address in the Registry).
    /// Default: the node's own chain address.
    #[arg(long, requires = "node_deployment_file")]
    node_payout: Option<runtime::ChainAddress>,
    /// Register the node in the Registry at start (unless already registered), locking this
    /// many whole tokens as stake.
    #[arg(long, requires = "node_deployment_file")]
    node_stake: Option<u64>,
    /// Seconds per proof period in the node's quotes.
    #[arg(long, default_value_t = 3600, requires = "node_deployment_file")]
    node_period: u32,
    /// Periods per deal in the node's quotes.
    #[arg(long, default_value_t = 24, requires = "node_deployment_file")]
    node_periods: u32,
    /// Seconds between the prover's looks for due proof periods.
    #[arg(long, default_value_t = 30, requires = "node_deployment_file")]
    node_prove_every: u64,
}

impl DaemonNodeArgs {
    fn config(self) -> Option<runtime::NodeConfig> {
        let market = self
            .node_deployment_file
            .map(|deployment| runtime::NodeMarket {
                chain_key_file: self.node_chain_key_file,
                payout: self.node_payout,
                period_secs: self.node_period,
                periods: self.node_periods,
                stake: self.node_stake,
                prove_every: std::time::Duration::from_secs(self.node_prove_every),
                ..runtime::NodeMarket::new(deployment)
            });
        self.node.then_some(runtime::NodeConfig {
            quota: self.node_quota,
            listen: self.node_listen,
            peers: self.node_peers,
            mdns: !self.no_mdns,
            upnp: !self.no_upnp,
            private_network: self.node_private_network,
            relay_service: node::relay_service(self.node_relay_server, self.node_no_relay_service),
            market,
        })
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the client headless and serve the UI and its JSON API on 127.0.0.1.
    Daemon {
        #[command(flatten)]
        runtime: RuntimeArgs,
        /// Loopback address to serve on (port 0 picks a free port).
        #[arg(long, env = "CAIRN_LISTEN", default_value = "127.0.0.1:7878")]
        listen: std::net::SocketAddr,
        /// Directory holding the built UI (`ui/dist`, from `cargo xtask build-ui`).
        #[arg(long, env = "CAIRN_UI_DIR", default_value = daemon::DEFAULT_UI_DIR)]
        ui_dir: PathBuf,
        #[command(flatten)]
        node: DaemonNodeArgs,
    },
    /// Start a local anvil devnet with Cairn's contracts deployed and anvil's first accounts
    /// funded; print the RPC URL, chain id and addresses as JSON; stop with Ctrl-C. `cairn devnet
    /// fund` funds another address on it.
    #[command(args_conflicts_with_subcommands = true)]
    Devnet {
        #[command(subcommand)]
        action: Option<DevnetAction>,
        /// Port to listen on (0 picks a free port).
        #[arg(long, default_value_t = 8545)]
        port: u16,
        /// Seconds between blocks (0 mines only on transactions).
        #[arg(long, default_value_t = 1)]
        block_time: u64,
        /// Also write the deployment (addresses, chain id, RPC URL) to this JSON file.
        #[arg(long)]
        deployment_file: Option<PathBuf>,
    },
    /// Run a libp2p node offering storage; prints its peer id and addresses as JSON first.
    Node(node::NodeArgs),
    /// Buy storage: put, get and list objects on the network's providers.
    Storage(storage::StorageArgs),
    /// A storage provider's on-chain earnings; `--withdraw` pays them to its payout address.
    Earnings(earnings::EarningsArgs),
    /// Read the chain once through the runtime and print the status as JSON.
    Status {
        #[command(flatten)]
        runtime: RuntimeArgs,
    },
    /// Verify Ethereum consensus and execution data (the light client).
    #[command(subcommand)]
    LightClient(light_client::Command),
    /// Pair devices: ESP unified provisioning (Wi-Fi), on-chain claims, the device simulator.
    #[command(subcommand)]
    Pair(pair::PairCommand),
    /// Read energy meters (signed, verified readings).
    #[command(subcommand)]
    Meter(pair::MeterCommand),
}

/// What to do on a devnet that is already running.
#[derive(Subcommand, Debug)]
enum DevnetAction {
    /// Fund an address on a running devnet as anvil's own accounts are: tokens (for a stake)
    /// and 10 ETH (for gas). Say, the chain key a node made for itself, so it can register.
    Fund {
        /// The address to fund (0x and 40 hex digits).
        address: runtime::ChainAddress,
        /// Whole tokens to mint to it.
        #[arg(long, default_value_t = 1000)]
        tokens: u64,
        /// The devnet's deployment file (from `cairn devnet --deployment-file`).
        #[arg(long)]
        deployment_file: PathBuf,
        /// The devnet's JSON-RPC endpoint.
        #[arg(long, env = "CAIRN_RPC_URL", default_value = "http://127.0.0.1:8545")]
        rpc_url: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CAIRN_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Daemon {
            runtime,
            listen,
            ui_dir,
            node,
        } => {
            let config = runtime::Config {
                node: node.config(),
                ..runtime.config()?
            };
            daemon::run(config, listen, ui_dir).await
        }
        Command::Devnet {
            action: None,
            port,
            block_time,
            deployment_file,
        } => devnet(port, block_time, deployment_file).await,
        Command::Devnet {
            action:
                Some(DevnetAction::Fund {
                    address,
                    tokens,
                    deployment_file,
                    rpc_url,
                }),
            ..
        } => devnet_fund(&rpc_url, &deployment_file, address, tokens).await,
        Command::Status { runtime } => status(runtime.config()?).await,
        Command::LightClient(command) => light_client::run(command).await,
        Command::Pair(command) => pair::run_pair(command).await,
        Command::Meter(command) => pair::run_meter(command).await,
        Command::Node(args) => node::run(args).await,
        Command::Storage(args) => storage::run(args).await,
        Command::Earnings(args) => earnings::run(args).await,
    }
}

async fn devnet(
    port: u16,
    block_time: u64,
    deployment_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    let devnet = chain::Devnet::start_with(chain::devnet::Options {
        port: Some(port),
        block_time: (block_time > 0).then_some(block_time),
        chain_id: None,
    })
    .await?;
    let deployment = devnet
        .deploy(&chain::contracts::DeployOptions::default())
        .await?;
    if let Some(path) = &deployment_file {
        deployment.write(path)?;
    }
    print_line(&serde_json::to_string(&deployment)?);
    shutdown_signal().await;
    devnet.stop().await.context("stopping anvil")?;
    Ok(())
}

async fn devnet_fund(
    rpc_url: &str,
    deployment_file: &std::path::Path,
    address: runtime::ChainAddress,
    tokens: u64,
) -> anyhow::Result<()> {
    let deployment = chain::contracts::Deployment::read(deployment_file)?;
    chain::devnet::fund(rpc_url, &deployment, address, tokens)
        .await
        .with_context(|| {
            format!(
                "funding {address} on {rpc_url}: is a devnet from `cairn devnet` running there, \
                 with the deployment in {}?",
                deployment_file.display()
            )
        })?;
    print_line(
        &serde_json::json!({
            "funded": address.to_checksum(None),
            "tokens": tokens,
            "ether": 10,
        })
        .to_string(),
    );
    Ok(())
}

async fn status(config: runtime::Config) -> anyhow::Result<()> {
    let (handle, event_loop) = runtime::start(config)?;
    let task = tokio::spawn(event_loop.run());
    let mut status = handle.refresh().await?;
    if status.light_client.is_some() {
        // Following a beacon chain: wait for the light client's first round to give its head
        // (or say why it could not), within a bound.
        let mut updates = handle.subscribe();
        let first_round = async {
            loop {
                let now = updates.borrow_and_update().clone();
                let done = now
                    .light_client
                    .as_ref()
                    .is_some_and(|lc| lc.head.is_some() || lc.error.is_some());
                if done || updates.changed().await.is_err() {
                    return now;
                }
            }
        };
        if let Ok(after) = tokio::time::timeout(STATUS_LIGHT_CLIENT_WAIT, first_round).await {
            status = after;
        }
    }
    handle.shutdown().await?;
    task.await?;
    print_line(&serde_json::to_string_pretty(&status)?);
    if let runtime::ChainState::Unreachable { error, .. } = &status.chain {
        anyhow::bail!("the chain is unreachable: {error}");
    }
    Ok(())
}

/// How long `cairn status` waits for the light client's first sync round.
const STATUS_LIGHT_CLIENT_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Writes one line to stdout: the binary's output, as opposed to logs on stderr. Stdout gone
/// (its reader exited, as in `cairn node | head -1`) ends nothing: a provider goes on serving,
/// and what it would have printed is in its log too (`println!` would panic).
pub(crate) fn print_line(line: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(err) = writeln!(out, "{line}").and_then(|()| out.flush())
        && err.kind() != std::io::ErrorKind::BrokenPipe
    {
        tracing::warn!(%err, "cannot write to stdout");
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
