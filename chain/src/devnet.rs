//! The local anvil devnet: Cairn's embedded default chain, and what every chain test runs against.
//!
//! [`Devnet::start`] launches the anvil binary that README's set-up installs from npm, waits until
//! it answers JSON-RPC, and kills it when the [`Devnet`] is dropped.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;

use crate::contracts::{self, CairnToken, ContractError, DeployOptions, Deployment};
use crate::rpc::{RpcClient, RpcError};

/// Private keys of anvil's first accounts (its well-known test mnemonic). Devnet only.
pub const ANVIL_KEYS: [&str; 6] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
];

/// Tokens minted to each funded devnet account.
pub const FUNDING: u64 = 1_000_000;

/// anvil starts in well under a second; thirty covers a cold disk cache on a loaded CI machine.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Environment variable naming the anvil binary, overriding the search.
pub const ANVIL_ENV: &str = "CAIRN_ANVIL";

/// Why the devnet could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevnetError {
    /// No anvil binary was found.
    #[error(
        "anvil was not found (looked at ${ANVIL_ENV}, {searched}, and PATH); run `cargo xtask setup` to install it"
    )]
    AnvilNotFound {
        /// Where the workspace copy was expected.
        searched: String,
    },
    /// The process could not be spawned.
    #[error("could not start anvil at {path}: {source}")]
    Spawn {
        /// Binary that was run.
        path: PathBuf,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
    /// anvil exited or stayed silent before it listened.
    #[error("anvil did not come up: {0}")]
    NotListening(String),
    /// anvil listened but its RPC did not answer.
    #[error("anvil is listening but its RPC failed: {0}")]
    Rpc(#[from] RpcError),
    /// Deploying or funding the contracts failed.
    #[error("deploying Cairn's contracts on the devnet failed: {0}")]
    Deploy(#[from] ContractError),
    /// Funding an address failed.
    #[error("funding {address} on the devnet failed: {source}")]
    Fund {
        /// The address being funded.
        address: Address,
        /// What failed.
        source: ContractError,
    },
}

/// Options for [`Devnet::start`].
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Port to listen on; `None` picks a free one.
    pub port: Option<u16>,
    /// Seconds between blocks; `None` mines only on transactions (anvil's default).
    pub block_time: Option<u64>,
    /// Chain id; `None` keeps anvil's default (31337).
    pub chain_id: Option<u64>,
}

/// A running anvil process. Killed on drop.
#[derive(Debug)]
pub struct Devnet {
    child: Child,
    rpc_url: String,
    chain_id: u64,
    client: RpcClient,
}

impl Devnet {
    /// Starts anvil with default options on a free loopback port.
    pub async fn start() -> Result<Self, DevnetError> {
        Self::start_with(Options::default()).await
    }

    /// Starts anvil with `options` and waits until it answers `eth_chainId`.
    pub async fn start_with(options: Options) -> Result<Self, DevnetError> {
        let path = find_anvil()?;
        let mut command = Command::new(&path);
        command
            .arg("--host")
            .arg("127.0.0.1")
            .arg("--port")
            .arg(options.port.unwrap_or(0).to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if let Some(block_time) = options.block_time {
            command.arg("--block-time").arg(block_time.to_string());
        }
        if let Some(chain_id) = options.chain_id {
            command.arg("--chain-id").arg(chain_id.to_string());
        }
        let mut child = command.spawn().map_err(|source| DevnetError::Spawn {
            path: path.clone(),
            source,
        })?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| DevnetError::NotListening("stdout was not captured".into()))?;
        let address = tokio::time::timeout(START_TIMEOUT, wait_for_listen_line(stdout))
            .await
            .map_err(|_| {
                DevnetError::NotListening(format!(
                    "no \"Listening on\" line within {START_TIMEOUT:?}"
                ))
            })??;
        let rpc_url = format!("http://{address}");
        let client = RpcClient::new(&rpc_url)?;
        let chain_id = client.chain_id().await?;
        tracing::info!(%rpc_url, chain_id, "devnet up");
        Ok(Self {
            child,
            rpc_url,
            chain_id,
            client,
        })
    }

    /// HTTP JSON-RPC URL of the devnet.
    pub fn rpc_url(&self) -> &str {
        &self.rpc_url
    }

    /// Chain id the devnet reported.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// A client for the devnet.
    pub fn client(&self) -> &RpcClient {
        &self.client
    }

    /// Mines one block now (`evm_mine`).
    pub async fn mine(&self) -> Result<(), RpcError> {
        self.client.call("evm_mine", vec![]).await.map(drop)
    }

    /// The hash of block `number` (0x-hex), or `None` when the devnet has no such block.
    pub async fn block_hash(&self, number: u64) -> Result<Option<String>, RpcError> {
        let block = self
            .client
            .call(
                "eth_getBlockByNumber",
                vec![
                    serde_json::json!(format!("0x{number:x}")),
                    serde_json::json!(false),
                ],
            )
            .await?;
        Ok(block
            .get("hash")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned))
    }

    /// The signer of anvil account `index` (0 deploys and administers the contracts).
    pub fn key(index: usize) -> PrivateKeySigner {
        #[allow(clippy::expect_used, reason = "constant, well-known keys")]
        ANVIL_KEYS[index % ANVIL_KEYS.len()]
            .parse()
            .expect("anvil's keys are valid")
    }

    /// Deploys token, registry and market as account 0 and mints [`FUNDING`] tokens to each of
    /// anvil's first accounts.
    pub async fn deploy(&self, options: &DeployOptions) -> Result<Deployment, DevnetError> {
        let admin = Self::key(0);
        let provider = contracts::signer_provider(&self.rpc_url, admin.clone())?;
        let deployment =
            contracts::deploy(provider.clone(), &self.rpc_url, admin.address(), options).await?;
        let token = CairnToken::new(deployment.token, provider);
        let amount = contracts::TOKEN * U256::from(FUNDING);
        for index in 0..ANVIL_KEYS.len() {
            let account: Address = Self::key(index).address();
            mint(&token, account, amount).await?;
        }
        Ok(deployment)
    }

    /// Funds `to` as anvil's own accounts are (see [`fund`]).
    pub async fn fund(
        &self,
        deployment: &Deployment,
        to: Address,
        tokens: u64,
    ) -> Result<(), DevnetError> {
        fund(&self.rpc_url, deployment, to, tokens).await
    }

    /// Moves the devnet's clock forward by `seconds` and mines a block (`evm_increaseTime`).
    pub async fn increase_time(&self, seconds: u64) -> Result<(), RpcError> {
        self.client
            .call("evm_increaseTime", vec![serde_json::json!(seconds)])
            .await?;
        self.mine().await
    }

    /// Stops anvil and waits for it to exit.
    pub async fn stop(mut self) -> std::io::Result<()> {
        self.child.kill().await
    }
}

/// Reads anvil's stdout until its `Listening on <addr>` line, then keeps draining it in the
/// background so anvil never blocks on a full pipe.
async fn wait_for_listen_line(stdout: tokio::process::ChildStdout) -> Result<String, DevnetError> {
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    while let Some(line) = lines
        .next_line()
        .await
        .map_err(|err| DevnetError::NotListening(err.to_string()))?
    {
        if let Some(address) = line.trim().strip_prefix("Listening on ") {
            let address = address.trim().to_owned();
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return Ok(address);
        }
        if seen.len() < 20 {
            seen.push(line);
        }
    }
    Err(DevnetError::NotListening(format!(
        "anvil exited before listening; it printed: {}",
        seen.join(" | ")
    )))
}

/// Finds anvil: `$CAIRN_ANVIL`, then the workspace's `node_modules`, then `PATH`.
pub fn find_anvil() -> Result<PathBuf, DevnetError> {
    if let Some(path) = std::env::var_os(ANVIL_ENV) {
        return Ok(PathBuf::from(path));
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let local = workspace.join("node_modules/.bin/anvil");
    if local.is_file() {
        return Ok(local);
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join("anvil");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(DevnetError::AnvilNotFound {
        searched: local.display().to_string(),
    })
}

async fn mint(
    token: &CairnToken::CairnTokenInstance<alloy::providers::DynProvider>,
    to: Address,
    amount: U256,
) -> Result<(), ContractError> {
    crate::send!("minting devnet funds", token.mint(to, amount));
    Ok(())
}

/// Funds `to` on the devnet at `rpc_url` as anvil's own accounts are: `tokens` whole tokens of
/// `deployment`'s token (minted by anvil's account 0, the token's admin on a devnet) and 10 ETH
/// for gas (sent by account 0). A key made by a node can then stake and pay for its
/// transactions. Only a devnet answers: elsewhere account 0 is not the admin and holds nothing.
pub async fn fund(
    rpc_url: &str,
    deployment: &Deployment,
    to: Address,
    tokens: u64,
) -> Result<(), DevnetError> {
    send_funds(rpc_url, deployment, to, tokens)
        .await
        .map_err(|source| DevnetError::Fund {
            address: to,
            source,
        })
}

async fn send_funds(
    rpc_url: &str,
    deployment: &Deployment,
    to: Address,
    tokens: u64,
) -> Result<(), ContractError> {
    use alloy::network::TransactionBuilder as _;
    use alloy::providers::Provider as _;
    let provider = contracts::signer_provider(rpc_url, Devnet::key(0))?;
    let token = CairnToken::new(deployment.token, provider.clone());
    mint(&token, to, contracts::TOKEN * U256::from(tokens)).await?;
    let ether = alloy::rpc::types::TransactionRequest::default()
        .with_to(to)
        .with_value(contracts::TOKEN * U256::from(10u64));
    let action = "sending devnet ether";
    let receipt = provider
        .send_transaction(ether)
        .await
        .map_err(|e| ContractError::Call {
            action,
            source: Box::new(alloy::contract::Error::TransportError(e)),
        })?
        .get_receipt()
        .await
        .map_err(|source| ContractError::Receipt {
            action,
            source: Box::new(source),
        })?;
    if !receipt.status() {
        return Err(ContractError::Reverted { action });
    }
    Ok(())
}
