//! Configuration of one running client.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// How a runtime is configured. Shells fill it from their flags, environment and defaults;
/// the precedence is theirs to document (flags, then environment, then these defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Directory for everything the client keeps (API token, keys, stored data).
    /// Default: the platform data directory joined with `cairn`.
    pub data_dir: PathBuf,
    /// Human name of the network, shown in the UI with the shell's endpoint or the devnet's (an
    /// endpoint set from the UI has its own). Default: `devnet`.
    pub network: String,
    /// JSON-RPC endpoint of the chain, given by the shell: it wins over the one set from the UI
    /// ([`crate::Handle::set_chain`], saved in the data directory) at every start. `None`: the
    /// saved one, else the local devnet, [`chain::DEVNET_DEFAULT_RPC_URL`]. Default: `None`.
    pub rpc_url: Option<String>,
    /// How often the chain is polled for a new head (and the node's state read). Default: one
    /// second.
    pub poll_interval: Duration,
    /// The embedded libp2p node, or `None` for no node. Default: `None`.
    pub node: Option<NodeConfig>,
    /// Follow the chain's beacon chain with the light client, so what is shown as verified (a
    /// selling node's earnings) is anchored on a block the sync committee signed, not on the
    /// endpoint's word; `None` (a devnet has no beacon chain): anchored on the endpoint's latest
    /// block. Default: `None`.
    pub beacon: Option<BeaconConfig>,
}

/// The beacon chain the runtime's light client follows (see [`crate::beacon`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeaconConfig {
    /// The network's consensus configuration (`light_client::ChainConfig::mainnet()`, a
    /// preset by name, or a custom network's JSON).
    pub network: light_client::ChainConfig,
    /// Beacon API base URLs, tried in order (several give failover, and the head is
    /// cross-checked between them).
    pub endpoints: Vec<String>,
    /// The trusted checkpoint: a finalized beacon block root. The first sync starts from it;
    /// later ones start from the latest checkpoint verified from it, kept in
    /// `<data_dir>/light-client/<network>/<trusted checkpoint>.checkpoint`
    /// ([`crate::beacon::checkpoint_file`]). Another trusted checkpoint starts from itself.
    pub checkpoint: alloy_primitives::B256,
}

/// How the embedded libp2p node runs. It keeps its key and store in `<data_dir>/node`, the
/// directory `cairn node` uses by default, so both see the same identity and data (one at a time:
/// the store is locked while open).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// Disk offered to buyers, in bytes; 0 makes a plain peer that stores nothing. `None`: the
    /// quota last set through [`crate::Handle::set_node_quota`] (saved in the data directory),
    /// else 0. A quota given here wins over the saved one at start.
    pub quota: Option<u64>,
    /// Multiaddrs to listen on; empty: TCP, QUIC and WebSocket on every interface.
    pub listen: Vec<String>,
    /// Peers to dial at start: full multiaddrs ending in `/p2p/<peer id>`.
    pub peers: Vec<String>,
    /// Discover peers on the LAN with mDNS.
    pub mdns: bool,
    /// Ask the router for port mappings (UPnP).
    pub upnp: bool,
    /// The network is a private one (a lab, a campus): reachability checks dial back private
    /// addresses and private peers serve as relays (see [`node::Options::private_network`]).
    pub private_network: bool,
    /// The relay the node serves nodes behind NATs: by default a limited one, for hole
    /// punching, once its peers found it reachable (see [`node::RelayService`]).
    pub relay_service: node::RelayService,
    /// Sell storage on chain (reached at the runtime's chain endpoint), or `None` to store nothing for
    /// buyers (a provider without a market has no deals to accept data for).
    pub market: Option<NodeMarket>,
}

/// How the embedded node sells storage on chain, as `cairn node --deployment-file` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeMarket {
    /// The contracts' deployment file (from `cairn devnet --deployment-file`).
    pub deployment_file: PathBuf,
    /// File holding the provider's hex chain private key, which signs its quotes and proofs and
    /// pays for its stake and gas. `None`: the node's own key, `node/chain.key` in the data
    /// directory, made on first start (see [`node::market::create_key_file`]) and kept.
    pub chain_key_file: Option<PathBuf>,
    /// Where the provider's earnings are paid (its payout address in the Registry); `None`: the
    /// provider's own address at registration, and whatever the entry names afterwards.
    pub payout: Option<node::market::Address>,
    /// Seconds per proof period in this provider's quotes.
    pub period_secs: u32,
    /// Periods per deal in this provider's quotes.
    pub periods: u32,
    /// Whole tokens to lock as stake when registering in the Registry at start (unless already
    /// registered); `None`: do not register (buyers cannot open deals with an unregistered
    /// provider).
    pub stake: Option<u64>,
    /// How often the prover looks for due proof periods.
    pub prove_every: Duration,
}

/// Where a market set from the UI keeps the deployment it sells on, in the data directory: a
/// copy of the file the user gave, so moving or deleting that file changes nothing.
pub const MARKET_DEPLOYMENT_FILE: &str = "node/deployment.json";

impl NodeMarket {
    /// The market saved from the UI in `data_dir` ([`crate::settings::Settings::node_market`]).
    pub(crate) fn saved(data_dir: &Path, saved: &crate::settings::SavedMarket) -> Self {
        Self {
            payout: saved.payout,
            ..Self::new(data_dir.join(MARKET_DEPLOYMENT_FILE))
        }
    }

    /// A market on the deployment in `deployment_file` with the node's own key and `cairn node`'s
    /// default terms: hour-long periods, day-long deals, a look for due proofs every 30 s, no
    /// registration, earnings paid to the provider's address.
    pub fn new(deployment_file: PathBuf) -> Self {
        Self {
            deployment_file,
            chain_key_file: None,
            payout: None,
            period_secs: 3600,
            periods: 24,
            stake: None,
            prove_every: Duration::from_secs(30),
        }
    }
}

impl Default for NodeConfig {
    /// The saved quota (else 0) on every interface, with mDNS and UPnP.
    fn default() -> Self {
        Self {
            quota: None,
            listen: Vec::new(),
            peers: Vec::new(),
            mdns: true,
            upnp: true,
            private_network: false,
            relay_service: node::RelayService::Limited,
            market: None,
        }
    }
}

impl NodeConfig {
    /// The node's options (built once, at start; the quota is set on each start), or a
    /// [`crate::Error::Config`] naming the address or file that is unusable.
    pub(crate) fn options(
        &self,
        data_dir: &Path,
        rpc_url: &str,
    ) -> Result<node::Options, crate::Error> {
        let parse = |what: &str, addrs: &[String]| {
            addrs
                .iter()
                .map(|addr| {
                    addr.parse::<node::Multiaddr>().map_err(|err| {
                        crate::Error::Config(format!(
                            "node {what} address {addr:?} is not a multiaddr ({err}); write it \
                             like /ip4/0.0.0.0/tcp/4001"
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let mut options = node::Options::new(data_dir.join("node"));
        options.listen = parse("listen", &self.listen)?;
        options.bootstrap = parse("peer", &self.peers)?;
        options.mdns = self.mdns;
        options.upnp = self.upnp;
        options.private_network = self.private_network;
        options.relay_service = self.relay_service;
        // A quota set to 0 from the UI stops new data, not the deals already held.
        options.keep_store = true;
        if let Some(market) = &self.market {
            if market.prove_every < Duration::from_secs(1) {
                return Err(crate::Error::Config(format!(
                    "the node's prover interval {:?} is below 1 s; that would flood the RPC \
                     endpoint",
                    market.prove_every
                )));
            }
            let terms = node::market::Terms {
                period_duration: market.period_secs,
                num_periods: market.periods,
                ..node::market::Terms::default()
            };
            let market_err = |err| crate::Error::Config(format!("the node's market: {err}"));
            let key_file = node::market::key_file_or_own(
                market.chain_key_file.as_deref(),
                &options.data_dir,
                &market.deployment_file,
            )
            .map_err(market_err)?;
            let mut built = node::market::Market::from_files(
                rpc_url,
                &market.deployment_file,
                &key_file,
                terms,
            )
            .map_err(market_err)?;
            if let Some(payout) = market.payout {
                built = built.with_payout(payout);
            }
            options.market = Some(built);
            options.prove_every = market.prove_every;
        }
        Ok(options)
    }
}

impl Config {
    /// The embedded default: the local anvil devnet, data under `data_dir`.
    pub fn devnet(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            network: chain::DEVNET_NAME.to_owned(),
            rpc_url: None,
            poll_interval: Duration::from_secs(1),
            node: None,
            beacon: None,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), crate::Error> {
        if self.network.trim().is_empty() {
            return Err(crate::Error::Config(
                "the network name is empty; give a name such as `devnet`".into(),
            ));
        }
        if let Some(beacon) = &self.beacon {
            beacon.validate()?;
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

impl BeaconConfig {
    /// A network by preset name (`mainnet`, `sepolia`, `hoodi`) or the path of a network
    /// configuration JSON file (the shape `light_client::ChainConfig` serializes to).
    pub fn network(name_or_path: &str) -> Result<light_client::ChainConfig, crate::Error> {
        if let Some(config) = light_client::ChainConfig::preset(name_or_path) {
            return Ok(config);
        }
        let path = Path::new(name_or_path);
        if !path.is_file() {
            return Err(crate::Error::Config(format!(
                "unknown network {name_or_path:?}: use mainnet, sepolia, hoodi or the path of a \
                 network configuration JSON file"
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|err| {
            crate::Error::Config(format!("cannot read {}: {err}", path.display()))
        })?;
        light_client::ChainConfig::from_json(&text).map_err(|err| {
            crate::Error::Config(format!(
                "{}: invalid network configuration: {err}",
                path.display()
            ))
        })
    }

    /// The beacon chain a user typed (in the UI's light client form, or the app's environment),
    /// checked as [`crate::start`] checks a configured one: an error names the field that is
    /// wrong and says what to write.
    pub fn from_settings(
        settings: &protocol::api::LightClientSettings,
    ) -> Result<Self, crate::Error> {
        let network = settings.network.trim();
        let network = Self::network(if network.is_empty() {
            "mainnet"
        } else {
            network
        })?;
        let endpoints: Vec<String> = settings
            .endpoints
            .iter()
            .map(|url| url.trim().to_owned())
            .filter(|url| !url.is_empty())
            .collect();
        if endpoints.is_empty() {
            return Err(crate::Error::Config(
                "no beacon API endpoint given: give at least one, like https://beacon.example \
                 (several, comma-separated, are cross-checked)"
                    .into(),
            ));
        }
        let checkpoint = settings.checkpoint.trim();
        let checkpoint = checkpoint.parse().map_err(|err| {
            crate::Error::Config(format!(
                "the checkpoint {checkpoint:?} is not a beacon block root ({err}); write a \
                 finalized block root as 0x and 64 hex digits"
            ))
        })?;
        let config = Self {
            network,
            endpoints,
            checkpoint,
        };
        config.validate()?;
        Ok(config)
    }

    /// Refuses at start what the sync would refuse on every round: a network configuration
    /// that does not hold together, no endpoint, or one that is not an http(s) URL (checked by
    /// `BeaconSync::new` itself).
    pub(crate) fn validate(&self) -> Result<(), crate::Error> {
        self.network.validate().map_err(|err| {
            crate::Error::Config(format!("the beacon network {:?}: {err}", self.network.name))
        })?;
        light_client_rpc::BeaconSync::new(self.network.clone(), &self.endpoints, self.checkpoint)
            .map(drop)
            .map_err(|err| crate::Error::Config(err.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_serves_a_relay_for_hole_punching_unless_told_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let options = |config: &NodeConfig| config.options(dir.path(), "http://127.0.0.1:1");
        let default = NodeConfig::default();
        assert_eq!(
            options(&default).unwrap().relay_service,
            node::RelayService::Limited
        );
        for service in [node::RelayService::Off, node::RelayService::Full] {
            let config = NodeConfig {
                relay_service: service,
                ..default.clone()
            };
            assert_eq!(options(&config).unwrap().relay_service, service);
        }
    }
}
