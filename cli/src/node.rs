//! `cairn node`: runs a storage provider (or a plain peer with `--quota 0`) until Ctrl-C.
//!
//! The first stdout line is one JSON object, `{"peer_id": ..., "listen_addrs": [...]}`, with
//! full multiaddrs ending in `/p2p/<peer id>`, so scripts and tests can dial it. Each later
//! stdout line is one JSON object too: an address gained (`{"listening": ...}`, such as a
//! relay's circuit once the node found itself behind a NAT) or lost (`{"expired": ...}`), or
//! a change of reachability (`{"reachability": "public" | "private" | "unknown"}`), or of the
//! relay it serves others (`{"relay": "limited" | "full" | "none"}`). Node events are logged on
//! stderr.

use std::path::PathBuf;

use anyhow::Context as _;
use node::{Event, Multiaddr, Node, Options};

/// Arguments of `cairn node`.
#[derive(Debug, clap::Args)]
pub(crate) struct NodeArgs {
    /// Directory for the node's key and store [default: platform data dir + /cairn/node].
    #[arg(long, env = "CAIRN_NODE_DIR")]
    data_dir: Option<PathBuf>,
    /// Disk space offered to buyers, e.g. `512MiB`, `10GiB` or bytes; 0 stores nothing.
    #[arg(long, default_value = "10GiB", value_parser = parse_size)]
    quota: u64,
    /// Most bytes per second served to buyers, over all their downloads together, e.g. `5MiB`
    /// (keeps a home uplink usable) [default: no limit].
    #[arg(long, value_parser = parse_size)]
    max_upload_rate: Option<u64>,
    /// Address to listen on (repeatable) [default: TCP, QUIC and WebSocket on every interface].
    #[arg(long)]
    listen: Vec<Multiaddr>,
    /// Peer to dial at start (repeatable), a full multiaddr ending in `/p2p/<peer id>`.
    #[arg(long = "peer", env = "CAIRN_PEERS", value_delimiter = ',')]
    peers: Vec<Multiaddr>,
    /// Do not discover peers on the LAN with mDNS.
    #[arg(long)]
    no_mdns: bool,
    /// Do not ask the router for port mappings (UPnP).
    #[arg(long)]
    no_upnp: bool,
    /// Relay whole transfers for nodes behind NAT: they listen on `<this node's
    /// address>/p2p-circuit` and are dialled through this node, even when no hole can be
    /// punched to them. Without it, a node its peers found reachable relays only enough for
    /// two nodes behind NATs to punch a hole (2 minutes and 128 KiB per circuit).
    #[arg(long, conflicts_with = "no_relay_service")]
    relay_server: bool,
    /// Serve no relay at all, not even the limited one for hole punching.
    #[arg(long)]
    no_relay_service: bool,
    /// Do not look for relays by itself: by default, a node that no peer can dial back (behind
    /// a NAT without UPnP) listens through relays it met (reachable peers; those running
    /// `--relay-server` first, as they carry transfers when no hole can be punched).
    #[arg(long)]
    no_auto_relay: bool,
    /// The network is a private one (a lab, a campus): reachability checks dial back private
    /// addresses (10/8, 192.168/16, …), and private peers serve as relays. Leave it off on the
    /// internet.
    #[arg(long)]
    private_network: bool,
    /// Sell storage on chain: the contracts' deployment file (from `cairn devnet
    /// --deployment-file`). Data is then accepted only for funded deals naming this provider,
    /// and proofs are submitted every period.
    #[arg(long)]
    deployment_file: Option<PathBuf>,
    /// File holding the provider's hex chain private key (signs quotes and proofs, pays for the
    /// stake and gas) [default: the node's own key, `chain.key` in the data directory, made on
    /// first start].
    #[arg(long, requires = "deployment_file")]
    chain_key_file: Option<PathBuf>,
    /// Address the provider's earnings are paid to (its payout address in the Registry)
    /// [default: the provider's own chain address].
    #[arg(long, requires = "deployment_file")]
    payout: Option<node::market::Address>,
    /// JSON-RPC endpoint of the chain for `--deployment-file`.
    #[arg(long, env = "CAIRN_RPC_URL", default_value = "http://127.0.0.1:8545")]
    rpc_url: String,
    /// Seconds per proof period in this provider's quotes.
    #[arg(long, default_value_t = 3600)]
    period: u32,
    /// Periods per deal in this provider's quotes.
    #[arg(long, default_value_t = 24)]
    periods: u32,
    /// Register in the chain's Registry at start (unless already active), locking this many
    /// whole tokens as stake; buyers can open deals only with a registered provider.
    #[arg(long, requires = "deployment_file")]
    stake: Option<u64>,
    /// Seconds between the prover's looks for due proof periods.
    #[arg(long, default_value_t = 30)]
    prove_every: u64,
    /// Seconds of chain time after the last of an object's deals has ended before it is
    /// deleted and its room freed (a buyer renewing within them sends nothing again). Objects
    /// stored for free, or for deals this chain does not know, are kept.
    #[arg(long, default_value_t = 86_400)]
    release_after: u64,
    /// PEM certificate chain for `wss` listen addresses (`--listen /ip4/0.0.0.0/tcp/443/tls/ws`),
    /// so browsers on other machines can dial this node. Needs `--tls-key`.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of `--tls-cert`.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// PEM certificate to trust when dialing `wss` peers (repeatable; for self-signed ones).
    #[arg(long)]
    tls_trust: Vec<PathBuf>,
}

/// The `wss` TLS settings from `--tls-cert`, `--tls-key` and `--tls-trust` files.
pub(crate) fn ws_tls(
    cert: Option<&std::path::Path>,
    key: Option<&std::path::Path>,
    trust: &[PathBuf],
) -> anyhow::Result<node::WsTls> {
    let read = |path: &std::path::Path| {
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))
    };
    let mut tls = node::WsTls::default();
    if let (Some(cert), Some(key)) = (cert, key) {
        tls = tls
            .with_server_pem(&read(cert)?, &read(key)?)
            .with_context(|| {
                format!(
                    "the wss certificate {} and key {}",
                    cert.display(),
                    key.display()
                )
            })?;
    }
    for path in trust {
        tls = tls
            .with_trusted_pem(&read(path)?)
            .with_context(|| path.display().to_string())?;
    }
    Ok(tls)
}

pub(crate) use runtime::parse_size;

/// The relay a node serves, from `--relay-server` (`full`) and `--no-relay-service` (`off`),
/// as `cairn node` and `cairn daemon --node` take them: the limited one by default.
pub(crate) fn relay_service(full: bool, off: bool) -> node::RelayService {
    match (full, off) {
        (true, _) => node::RelayService::Full,
        (false, true) => node::RelayService::Off,
        (false, false) => node::RelayService::Limited,
    }
}

pub(crate) fn default_dir(leaf: &str) -> anyhow::Result<PathBuf> {
    Ok(dirs::data_dir()
        .context("no platform data directory is known; pass --data-dir")?
        .join("cairn")
        .join(leaf))
}

pub(crate) async fn run(args: NodeArgs) -> anyhow::Result<()> {
    let data_dir = match args.data_dir {
        Some(dir) => dir,
        None => default_dir("node")?,
    };
    let mut options = Options::new(data_dir.clone());
    let mut market_setup = None;
    options.quota = args.quota;
    if let Some(rate) = args.max_upload_rate {
        options.limits.max_serve_rate = Some(std::num::NonZeroU64::new(rate).context(
            "--max-upload-rate must be above 0 bytes per second; leave it out for no limit",
        )?);
    }
    options.listen = args.listen;
    options.bootstrap = args.peers;
    options.mdns = !args.no_mdns;
    options.upnp = !args.no_upnp;
    options.relay_service = relay_service(args.relay_server, args.no_relay_service);
    options.auto_relay = !args.no_auto_relay;
    options.private_network = args.private_network;
    options.prove_every = std::time::Duration::from_secs(args.prove_every.max(1));
    options.release_after = std::time::Duration::from_secs(args.release_after);
    options.tls = ws_tls(
        args.tls_cert.as_deref(),
        args.tls_key.as_deref(),
        &args.tls_trust,
    )?;
    if let Some(deployment) = &args.deployment_file {
        let terms = node::market::Terms {
            period_duration: args.period,
            num_periods: args.periods,
            ..node::market::Terms::default()
        };
        let key =
            node::market::key_file_or_own(args.chain_key_file.as_deref(), &data_dir, deployment)?;
        let mut market = node::market::Market::from_files(&args.rpc_url, deployment, &key, terms)
            .context("setting up the on-chain market")?;
        if let Some(payout) = args.payout {
            market = market.with_payout(payout);
        }
        tracing::info!(provider = %market.address(), "selling storage on chain");
        market_setup = Some((market.clone(), args.stake));
        options.market = Some(market);
    }
    let (handle, mut events, event_loop) = Node::start(options)
        .await
        .with_context(|| format!("starting the node in {}", data_dir.display()))?;
    let task = tokio::spawn(event_loop.run());
    let addrs = handle.listen_addrs().await?;
    if let Some((market, stake)) = &market_setup {
        // Buyers find this provider in the Registry: announce the addresses it listens on.
        let registration = market
            .announce_node(&handle, stake.map(node::market::token_units))
            .await
            .context("registering in the chain's Registry")?;
        match registration {
            node::market::Registration::Unregistered => tracing::warn!(
                "not registered in the Registry: buyers cannot open deals with this provider; pass --stake <tokens> to register"
            ),
            other => tracing::info!(?other, "provider active on chain"),
        }
    }
    let line = serde_json::json!({
        "peer_id": handle.peer_id().to_string(),
        "listen_addrs": addrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
    });
    crate::print_line(&line.to_string());
    // Buyers finding this provider in the Registry dial the addresses there: a relay's circuit
    // gained later (behind a NAT) is announced too.
    let (addrs_changed, reannounce) = tokio::sync::watch::channel(());
    let reannouncer = market_setup.map(|(market, stake)| {
        tokio::spawn(reannounce_on_change(
            market,
            handle.clone(),
            stake,
            reannounce,
        ))
    });
    let log = async {
        let mut unreachable = Unreachable::default();
        let mut shown = Shown(addrs.iter().cloned().collect());
        loop {
            match events.recv().await {
                Ok(event) => {
                    if let Some(line) = shown.line(&event) {
                        crate::print_line(&line.to_string());
                        if matches!(event, Event::Listening { .. } | Event::ListenExpired { .. }) {
                            addrs_changed.send_replace(());
                        }
                    }
                    log_event(&event, &mut unreachable)
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!(n, "event log fell behind");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    };
    tokio::select! {
        () = crate::shutdown_signal() => {},
        () = log => {},
    }
    if let Some(reannouncer) = reannouncer {
        reannouncer.abort();
    }
    let _ = handle.shutdown().await;
    let _ = task.await;
    Ok(())
}

/// How long address changes are left to settle (a relay's circuit and its reservation's expiry
/// come together) before the Registry entry is updated.
const REANNOUNCE_SETTLE: std::time::Duration = std::time::Duration::from_secs(2);

/// Updates the Registry entry (through `market`) whenever `changed` says the listen addresses
/// changed; a failed update is tried again every 10 s until one succeeds.
async fn reannounce_on_change(
    market: node::market::Market,
    handle: node::Handle,
    stake: Option<u64>,
    mut changed: tokio::sync::watch::Receiver<()>,
) {
    while changed.changed().await.is_ok() {
        tokio::time::sleep(REANNOUNCE_SETTLE).await;
        changed.borrow_and_update();
        loop {
            match market
                .announce_node(&handle, stake.map(node::market::token_units))
                .await
            {
                Ok(registration) => {
                    tracing::info!(?registration, "listen addresses announced again");
                    break;
                }
                Err(err) => {
                    tracing::warn!(%err, "announcing the new listen addresses failed; trying again in 10 s");
                    tokio::time::sleep(std::time::Duration::from_secs(10)).await;
                    changed.borrow_and_update();
                }
            }
        }
    }
}

/// What `cairn node` printed of its listen addresses: after its first line, one JSON line per
/// address gained (`{"listening": ...}`) or lost (`{"expired": ...}`), and per change of
/// reachability (`{"reachability": "public" | "private" | "unknown", "addr": ...}`), and per
/// change of the relay it serves (`{"relay": "limited" | "full" | "none"}`).
#[derive(Debug)]
struct Shown(std::collections::HashSet<Multiaddr>);

impl Shown {
    /// The line to print for `event`, if it is news.
    fn line(&mut self, event: &Event) -> Option<serde_json::Value> {
        match event {
            Event::Listening { addr } => self
                .0
                .insert(addr.clone())
                .then(|| serde_json::json!({ "listening": addr.to_string() })),
            Event::ListenExpired { addr } => self
                .0
                .remove(addr)
                .then(|| serde_json::json!({ "expired": addr.to_string() })),
            Event::Reachability { status } => Some(match status {
                node::Reachability::Public { addr } => {
                    serde_json::json!({ "reachability": "public", "addr": addr.to_string() })
                }
                node::Reachability::Private => serde_json::json!({ "reachability": "private" }),
                _ => serde_json::json!({ "reachability": "unknown" }),
            }),
            Event::Relaying { service } => {
                Some(serde_json::json!({ "relay": runtime::relay_served(*service) }))
            }
            _ => None,
        }
    }
}

/// The peers whose dials failed since they were last connected: the DHT dials a peer that went
/// away with each provider lookup (every few seconds) until it is forgotten, and a bootstrap
/// peer for good; a provider's log says so once, not every time.
#[derive(Debug, Default)]
struct Unreachable(std::collections::HashSet<node::PeerId>);

impl Unreachable {
    /// Whether a failed dial to `peer` is news: the first since it was last connected (a dial
    /// to an address without a peer id always is).
    fn failed(&mut self, peer: Option<node::PeerId>) -> bool {
        peer.is_none_or(|peer| self.0.insert(peer))
    }

    fn connected(&mut self, peer: &node::PeerId) {
        self.0.remove(peer);
    }
}

fn log_event(event: &Event, unreachable: &mut Unreachable) {
    match event {
        Event::Listening { addr } => tracing::info!(%addr, "listening"),
        Event::ListenExpired { addr } => tracing::info!(%addr, "no longer listening"),
        Event::Reachability { status } => tracing::info!(?status, "reachability"),
        Event::PeerConnected { peer } => {
            unreachable.connected(peer);
            tracing::info!(%peer, "peer connected")
        }
        Event::PeerDisconnected { peer } => tracing::info!(%peer, "peer disconnected"),
        Event::DialFailed { peer, error } => {
            if unreachable.failed(*peer) {
                tracing::warn!(?peer, %error, "dial failed (said once until it connects again)")
            } else {
                tracing::debug!(?peer, %error, "dial failed again")
            }
        }
        Event::Forgotten { peer } => tracing::info!(
            %peer,
            "peer forgotten: it failed {} dials in a row; it is known again once it connects",
            node::FORGET_AFTER_FAILED_DIALS
        ),
        Event::Provider { peer, free } => tracing::info!(%peer, ?free, "provider seen"),
        Event::Stored { id, size, peer } => tracing::info!(%id, size, %peer, "object stored"),
        Event::Served { id, peer, bytes } => tracing::info!(%id, bytes, %peer, "object served"),
        Event::Corrupt { id, chunk } => {
            tracing::error!(%id, chunk, "object corrupt on disk; no longer served")
        }
        Event::Released { id, size, deals } => {
            tracing::info!(%id, size, ?deals, "object released: its deals have ended")
        }
        Event::Throttled { peer, banned } => tracing::warn!(%peer, banned, "peer throttled"),
        Event::Proof {
            deal,
            period,
            accepted,
        } => tracing::info!(deal, period, accepted, "proof submitted"),
        Event::Earnings { total } => {
            tracing::info!(
                total,
                "earnings as the RPC endpoint reads them (`cairn earnings` verifies them)"
            )
        }
        Event::Progress { .. } => {}
        other => tracing::debug!(?other, "node event"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_printed_when_gained_or_lost_once_each_and_reachability_when_it_changes() {
        let first: Multiaddr = "/ip4/192.168.99.2/tcp/4001".parse().unwrap();
        let relayed: Multiaddr = "/ip4/10.99.0.2/tcp/4001/p2p-circuit".parse().unwrap();
        let mut shown = Shown([first.clone()].into_iter().collect());
        // The first line had it.
        assert_eq!(shown.line(&Event::Listening { addr: first }), None);
        let gained = Event::Listening {
            addr: relayed.clone(),
        };
        assert_eq!(
            shown.line(&gained).unwrap().to_string(),
            format!(r#"{{"listening":"{relayed}"}}"#)
        );
        assert_eq!(shown.line(&gained), None);
        let lost = Event::ListenExpired {
            addr: relayed.clone(),
        };
        assert_eq!(
            shown.line(&lost).unwrap().to_string(),
            format!(r#"{{"expired":"{relayed}"}}"#)
        );
        assert_eq!(shown.line(&lost), None);
        let private = Event::Reachability {
            status: node::Reachability::Private,
        };
        assert_eq!(
            shown.line(&private).unwrap().to_string(),
            r#"{"reachability":"private"}"#
        );
        for (service, line) in [
            (Some(node::RelayService::Limited), r#"{"relay":"limited"}"#),
            (Some(node::RelayService::Full), r#"{"relay":"full"}"#),
            (None, r#"{"relay":"none"}"#),
        ] {
            let shown_line = shown.line(&Event::Relaying { service });
            assert_eq!(shown_line.unwrap().to_string(), line);
        }
        assert_eq!(
            shown.line(&Event::PeerConnected {
                peer: node::PeerId::random()
            }),
            None
        );
    }

    #[test]
    fn a_peer_that_stays_unreachable_is_said_once_until_it_connects_again() {
        let mut unreachable = Unreachable::default();
        let (gone, other) = (node::PeerId::random(), node::PeerId::random());
        assert!(unreachable.failed(Some(gone)));
        assert!(!unreachable.failed(Some(gone)));
        assert!(!unreachable.failed(Some(gone)));
        assert!(unreachable.failed(Some(other)));
        // An address dialled without a peer id: always said.
        assert!(unreachable.failed(None));
        assert!(unreachable.failed(None));
        // Back, then gone again: said again.
        unreachable.connected(&gone);
        assert!(unreachable.failed(Some(gone)));
    }
}
