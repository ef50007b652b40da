//! The libp2p node: one task owns the swarm.
//!
//! Message flow: [`Node::start`] builds the swarm, starts listening, and returns a cloneable
//! [`Handle`], a [`broadcast`] receiver of [`Event`]s and the [`EventLoop`] the caller spawns.
//! Handles send [`Command`]s over a bounded `mpsc` with `oneshot` replies; the loop keeps
//! pending Kademlia replies in a map keyed by query id. Raw transfer streams do not pass through
//! the loop: they are opened and accepted through a `libp2p_stream::Control` (see
//! [`crate::transfer`]), so bulk data never queues behind swarm events. The loop ends when every
//! handle is dropped or on [`Handle::shutdown`].
//!
//! What the loop decides from its NAT, its relays and its links to a peer (when a transfer
//! stream may go, which relays to listen through, which addresses count) is pure logic in
//! [`nat`], tested without a swarm.
//!
//! Cancellation: the loop checks commands first in a `biased` `select!`; all futures it awaits
//! are cancel-safe (`mpsc::recv`, `Swarm::select_next_some`, `Interval::tick`).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::StreamExt as _;
use libp2p::core::multiaddr::Protocol;
use libp2p::core::transport::ListenerId;
use libp2p::kad::{self, store::MemoryStore};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{
    ConnectionId, DialError, NetworkBehaviour, SwarmEvent, behaviour::toggle::Toggle,
};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, allow_block_list, autonat, connection_limits, dcutr,
    gossipsub, identify, mdns, noise, ping, relay, tcp, upnp, websocket, yamux,
};
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::Instrument as _;

use crate::content::ContentId;
use crate::store::Store;
use crate::{NodeError, transfer};

mod nat;

pub(crate) use nat::is_dialable;
use nat::{
    AUTO_RELAY_GIVE_UP, Link, Links, MAX_DIAL_BACK_ADDRS, RelayKinds, RelaySlot, Route,
    autonat_config, is_quic, is_relayed, limited_to_drop, relay_addr_usable, relay_config,
    relays_to_add, without_peer,
};
pub use nat::{
    AUTO_RELAYS, DIRECT_GRACE, LIMITED_GRACE, PUNCH_ROUND_TRIPS, Reachability, RelayService,
};

/// Kademlia protocol id: Cairn's own DHT, separate from the public IPFS one.
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/cairn/kad/1.0.0");
/// Identify protocol version string.
pub const PROTOCOL_VERSION: &str = "/cairn/0.1.0";
/// Gossipsub topic on which providers announce their free capacity.
pub const OFFERS_TOPIC: &str = "cairn/storage/offers/1";
/// DHT key every provider announces itself under.
pub const PROVIDERS_KEY: &[u8] = b"cairn/storage/providers/1";
/// How often a provider announces its capacity (fast enough that a new buyer sees offers within
/// seconds; one small message per provider).
pub const OFFER_INTERVAL: Duration = Duration::from_secs(3);
/// Idle connections are kept this long (a buyer usually returns within a minute).
pub const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);
/// How long [`Node::start`] waits for its listeners to come up.
pub const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
/// A banned peer stays blocked this long.
pub const BAN_DURATION: Duration = Duration::from_secs(60);
/// Capacity of the command channel (handles wait when the loop is this far behind).
/// Failed dials in a row after which a peer that is not a bootstrap peer is forgotten: dropped
/// from the DHT's routing table (which otherwise keeps its last address and redials it with every
/// lookup) and from the providers. It is known again once it connects, or is announced again.
pub const FORGET_AFTER_FAILED_DIALS: u32 = 3;
const COMMAND_CAPACITY: usize = 64;
/// Holders a lookup ([`Handle::find_holders`]) queues for its reader: more than a download uses
/// (past these, the ones found are dropped until the reader catches up).
const HOLDERS_QUEUED: usize = 64;
/// Capacity of the event channel (slow subscribers lose the oldest events, and are told so).
const EVENT_CAPACITY: usize = 1024;

/// How the node is configured.
#[derive(Debug, Clone)]
pub struct Options {
    /// Data directory: the key (`node.key`) and, for a provider, the store (`store/`).
    pub data_dir: PathBuf,
    /// Bytes offered to buyers; 0 runs a client only (no store, no offers), unless
    /// [`Options::keep_store`] finds a store already there. Changed at runtime with
    /// [`Handle::set_quota`].
    pub quota: u64,
    /// With a quota of 0, still open a store that the data directory already holds: its
    /// objects stay served and proven (their deals keep paying) while nothing new is accepted,
    /// and no capacity is offered. Default: false (a quota of 0 leaves the store closed, so
    /// another process, such as a provider on the same data directory, may hold it).
    pub keep_store: bool,
    /// Addresses to listen on. Default: TCP, QUIC and WebSocket on every interface, random ports.
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start (full multiaddrs ending in `/p2p/<peer id>`).
    pub bootstrap: Vec<Multiaddr>,
    /// Discover peers on the LAN with mDNS. Default: true.
    pub mdns: bool,
    /// Ask the router for port mappings with UPnP. Default: true.
    pub upnp: bool,
    /// The circuit relay (v2) service offered to nodes behind NAT, which then listen on
    /// `<this node's address>/p2p-circuit` and are dialled through it: by default a limited
    /// one, for hole punching, once peers found this node reachable
    /// ([`RelayService::Limited`]); [`RelayService::Full`] carries transfers too.
    pub relay_service: RelayService,
    /// Find relays by itself when behind a NAT: once AutoNAT finds that no peer can dial this
    /// node back, a provider (a node with a store) listens through up to [`AUTO_RELAYS`] of the
    /// relays it met (peers serving circuit relay v2), and drops them once it is found
    /// reachable again; a node that only buys dials out, and needs none. Relays named in
    /// [`Options::listen`] are kept whatever AutoNAT says. Default: true.
    pub auto_relay: bool,
    /// The network is a private one (a lab, a campus): AutoNAT servers dial back private
    /// addresses (10/8, 192.168/16, …), and private peers serve as AutoNAT servers and relays.
    /// On the internet, a private address says nothing of whether others can reach it: keep
    /// this off. A peer on the node's own LAN then reaches it too, and may find it reachable
    /// though the rest of the network cannot. Default: false.
    pub private_network: bool,
    /// Answer other nodes' DHT queries (Kademlia's server mode), which has them keep this node
    /// in their routing tables. A node that runs for one command (`cairn storage`) should not:
    /// once it exits, its entry is a dead peer in every table that took it, and their lookups
    /// wait on dials to it (a QUIC dial to a dead peer gives up only after 5 s). It still makes
    /// lookups of its own. Default: true.
    pub dht_server: bool,
    /// Most established connections in total. Default: 256.
    pub max_connections: u32,
    /// Most established connections per peer. Default: 4.
    pub max_connections_per_peer: u32,
    /// Provider-side limits on incoming transfer streams.
    pub limits: transfer::Limits,
    /// The on-chain market: when set, data is accepted only for funded deals naming this
    /// provider, and proofs are submitted every [`Options::prove_every`]. Default: none.
    pub market: Option<crate::market::Market>,
    /// How often the prover looks for due periods. Default: 30 s.
    pub prove_every: Duration,
    /// How long (chain time) after the last of an object's deals has ended it is released:
    /// deleted from the store, its quota freed, and no longer announced. Objects stored for
    /// free (no deal), or under a deal this chain does not know, are kept. Default: a day, so a
    /// buyer renewing late need not send the data again.
    pub release_after: Duration,
    /// TLS for WebSocket: a certificate to listen on `wss` (`/tls/ws`) addresses, and roots
    /// trusted when dialing them. Default: none (`wss` dials trust the web PKI roots only).
    pub tls: WsTls,
}

/// TLS for the WebSocket transport (`wss`, multiaddr `/tls/ws`), from PEM files.
#[derive(Clone, Default)]
pub struct WsTls {
    /// The certificate chain (leaf first) and its private key, DER.
    server: Option<(Vec<Vec<u8>>, Vec<u8>)>,
    /// Extra trusted roots for dialing, DER.
    trust: Vec<Vec<u8>>,
}

impl std::fmt::Debug for WsTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsTls")
            .field(
                "server",
                &self.server.as_ref().map(|(chain, _)| chain.len()),
            )
            .field("trust", &self.trust.len())
            .finish()
    }
}

/// The certificates (DER) in `pem`; `what` names the file in errors, `hint` ends the error
/// for a file with none.
fn pem_certificates(pem: &[u8], what: &str, hint: &str) -> Result<Vec<Vec<u8>>, NodeError> {
    use rustls_pki_types::pem::PemObject as _;
    let certs = rustls_pki_types::CertificateDer::pem_slice_iter(pem)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| NodeError::Tls(format!("the {what} is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(NodeError::Tls(format!(
            "the {what} holds no CERTIFICATE block{hint}"
        )));
    }
    Ok(certs)
}

impl WsTls {
    /// Serves `wss` with the certificate chain in `cert_pem` (leaf first) and the private key in
    /// `key_pem` (PKCS#8, PKCS#1 or SEC1).
    pub fn with_server_pem(mut self, cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, NodeError> {
        use rustls_pki_types::pem::PemObject as _;
        let chain = pem_certificates(
            cert_pem,
            "certificate file",
            "; pass the PEM certificate chain",
        )?;
        if let Some(leaf) = chain.first() {
            let (_, cert) = x509_parser::parse_x509_certificate(leaf).map_err(|e| {
                NodeError::Tls(format!(
                    "the first certificate does not parse as X.509: {e}"
                ))
            })?;
            if let Ok(Some(constraints)) = cert.basic_constraints()
                && constraints.value.ca
            {
                return Err(NodeError::Tls(
                    "the certificate is a CA certificate (basicConstraints CA:TRUE), which TLS \
                     clients, browsers included, refuse as a server's certificate; use a leaf \
                     certificate (with openssl: -addext basicConstraints=critical,CA:FALSE)"
                        .into(),
                ));
            }
        }
        let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| {
            NodeError::Tls(format!(
                "the key file holds no usable private key ({e}); pass the PEM private key of the certificate"
            ))
        })?;
        self.server = Some((chain, key.secret_der().to_vec()));
        Ok(self)
    }

    /// Also trusts the certificates in `pem` as roots when dialing `wss` (for a provider with
    /// a self-signed certificate).
    pub fn with_trusted_pem(mut self, pem: &[u8]) -> Result<Self, NodeError> {
        let roots = pem_certificates(pem, "trusted certificate file", "")?;
        self.trust.extend(roots);
        Ok(self)
    }

    fn config(&self) -> Result<websocket::tls::Config, NodeError> {
        let mut builder = websocket::tls::Config::builder();
        if let Some((chain, key)) = &self.server {
            builder
                .server(
                    websocket::tls::PrivateKey::new(key.clone()),
                    chain
                        .iter()
                        .map(|c| websocket::tls::Certificate::new(c.clone())),
                )
                .map_err(|e| NodeError::Tls(format!("the certificate and key do not fit: {e}")))?;
        }
        for root in &self.trust {
            builder
                .add_trust(&websocket::tls::Certificate::new(root.clone()))
                .map_err(|e| NodeError::Tls(format!("a trusted certificate is unusable: {e}")))?;
        }
        Ok(builder.finish())
    }
}

impl Options {
    /// Defaults for a node keeping its state in `data_dir`.
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            quota: 0,
            keep_store: false,
            listen: Vec::new(),
            bootstrap: Vec::new(),
            mdns: true,
            upnp: true,
            relay_service: RelayService::Limited,
            auto_relay: true,
            private_network: false,
            dht_server: true,
            max_connections: 256,
            max_connections_per_peer: 4,
            limits: transfer::Limits::default(),
            market: None,
            prove_every: Duration::from_secs(30),
            release_after: Duration::from_secs(24 * 3600),
            tls: WsTls::default(),
        }
    }

    fn default_listen() -> Vec<Multiaddr> {
        [
            "/ip4/0.0.0.0/tcp/0",
            "/ip4/0.0.0.0/udp/0/quic-v1",
            "/ip4/0.0.0.0/tcp/0/ws",
        ]
        .iter()
        .filter_map(|a| a.parse().ok())
        .collect()
    }
}

/// What the node reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// A listener is up on this address.
    Listening {
        /// Full address (ends in `/p2p/<peer id>`).
        addr: Multiaddr,
    },
    /// This node no longer listens on this address (its listener closed, or a relay's
    /// reservation ended).
    ListenExpired {
        /// Full address (ends in `/p2p/<peer id>`).
        addr: Multiaddr,
    },
    /// Whether other nodes can dial this one changed (see [`Reachability`]).
    Reachability {
        /// As AutoNAT found it now.
        status: Reachability,
    },
    /// This node started or stopped serving a relay to nodes behind NATs: it serves one (of
    /// [`Options::relay_service`]'s kind) while an address of it is known to be reachable.
    Relaying {
        /// The relay it serves now; `None`: none.
        service: Option<RelayService>,
    },
    /// First connection to a peer.
    PeerConnected {
        /// The peer.
        peer: PeerId,
    },
    /// Last connection to a peer closed.
    PeerDisconnected {
        /// The peer.
        peer: PeerId,
    },
    /// Dialing a peer not connected failed (every address tried), with the reasons.
    DialFailed {
        /// The peer, when known.
        peer: Option<PeerId>,
        /// Why, as the transport reported it.
        error: String,
    },
    /// A peer failed [`FORGET_AFTER_FAILED_DIALS`] dials in a row and was forgotten: it is no
    /// longer dialled by DHT lookups, nor listed as a provider, until it is seen again.
    Forgotten {
        /// The peer.
        peer: PeerId,
    },
    /// A provider was seen (identify, DHT or a gossiped offer).
    Provider {
        /// The provider.
        peer: PeerId,
        /// Free bytes, when it said.
        free: Option<u64>,
    },
    /// Transfer progress (either direction).
    Progress {
        /// The object.
        id: ContentId,
        /// The other side.
        peer: PeerId,
        /// Bytes done.
        done: u64,
        /// Bytes in total.
        total: u64,
        /// Upload (we send) or download (we receive).
        upload: bool,
    },
    /// A provider fetching a copy from other holders for this node ([`Source::Pull`]) said how
    /// far it is: this node sends nothing.
    ///
    /// [`Source::Pull`]: crate::transfer::Source::Pull
    Pulling {
        /// The object.
        id: ContentId,
        /// The provider.
        peer: PeerId,
        /// Bytes it holds, verified.
        done: u64,
        /// Bytes in total.
        total: u64,
    },
    /// The provider stored an object durably.
    Stored {
        /// The object.
        id: ContentId,
        /// Its size.
        size: u64,
        /// Who sent it.
        peer: PeerId,
    },
    /// The provider served a download (of the whole object or a range of chunks) to the end.
    Served {
        /// The object.
        id: ContentId,
        /// Who asked for it.
        peer: PeerId,
        /// Bytes sent.
        bytes: u64,
    },
    /// An object whose every deal has ended was released: deleted, its quota freed (see
    /// [`Options::release_after`]).
    Released {
        /// The object.
        id: ContentId,
        /// Bytes freed.
        size: u64,
        /// Its deals, all ended.
        deals: Vec<u64>,
    },
    /// An object was found corrupt on this provider's disk and is no longer served.
    Corrupt {
        /// The object.
        id: ContentId,
        /// The first bad chunk.
        chunk: u64,
    },
    /// A peer was throttled or banned for sending too much or garbage.
    Throttled {
        /// The peer.
        peer: PeerId,
        /// Whether it was also banned for [`BAN_DURATION`].
        banned: bool,
    },
    /// A possession proof was submitted for a deal.
    Proof {
        /// The deal.
        deal: u64,
        /// The proof period.
        period: u32,
        /// Whether the chain accepted it (a rejected proof is a reverted transaction).
        accepted: bool,
    },
    /// This provider's unwithdrawn on-chain earnings after an accepted proof, as the RPC
    /// endpoint reads them: unverified (`cairn node` logs them; the runtime and `cairn earnings`
    /// show earnings only once verified, `runtime::earnings`).
    Earnings {
        /// Total, in token base units.
        total: u128,
    },
}

/// A provider known to this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderInfo {
    /// The provider.
    pub peer: PeerId,
    /// Free bytes from its latest offer, if any.
    pub free: Option<u64>,
}

/// A capacity offer on [`OFFERS_TOPIC`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Offer {
    free: u64,
    quota: u64,
}

#[derive(Debug)]
pub(crate) enum Command {
    ListenAddrs(oneshot::Sender<Vec<Multiaddr>>),
    Dial(Multiaddr, oneshot::Sender<Result<(), NodeError>>),
    Peers(oneshot::Sender<Vec<PeerId>>),
    Addresses(PeerId, oneshot::Sender<Vec<Multiaddr>>),
    Providers(oneshot::Sender<Vec<ProviderInfo>>),
    Provide(ContentId),
    Unprovide(ContentId),
    FindHolders(ContentId, mpsc::Sender<PeerId>),
    /// How to open a transfer stream to the peer now (see [`Handle::route`]).
    Route(PeerId, oneshot::Sender<Route>),
    /// Dial the peer at the addresses the node knows for it.
    DialPeer(PeerId, oneshot::Sender<Result<(), NodeError>>),
    Ban(PeerId),
    /// The store's quota changed: offer the new capacity now.
    Capacity(u64, oneshot::Sender<()>),
    /// A node without a store has opened one (with the objects it holds): become a provider.
    OpenStore(
        Store,
        Vec<ContentId>,
        oneshot::Sender<Result<(), NodeError>>,
    ),
    Shutdown(oneshot::Sender<()>),
}

/// The composed behaviour.
#[derive(NetworkBehaviour)]
struct Behaviour {
    limits: connection_limits::Behaviour,
    blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    kad: kad::Behaviour<MemoryStore>,
    gossipsub: gossipsub::Behaviour,
    mdns: Toggle<mdns::tokio::Behaviour>,
    autonat: autonat::Behaviour,
    relay: relay::client::Behaviour,
    dcutr: dcutr::Behaviour,
    upnp: Toggle<upnp::tokio::Behaviour>,
    relay_server: Toggle<relay::Behaviour>,
    stream: libp2p_stream::Behaviour,
}

/// A cloneable handle to the node.
#[derive(Clone)]
pub struct Handle {
    commands: mpsc::Sender<Command>,
    events: broadcast::Sender<Event>,
    control: libp2p_stream::Control,
    peer_id: PeerId,
    /// The provider's store, once it has one (at start, or from [`Handle::set_quota`]); shared by
    /// every clone and the loop.
    store: Arc<OnceLock<Store>>,
    /// Where the store is opened.
    store_dir: PathBuf,
}

/// The task that owns the swarm; spawn [`EventLoop::run`].
pub struct EventLoop {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    events: broadcast::Sender<Event>,
    listen_addrs: Vec<Multiaddr>,
    providers: HashMap<PeerId, Option<u64>>,
    /// Holder lookups under way: where each sends the holders it finds, and those sent.
    holder_queries: HashMap<kad::QueryId, (mpsc::Sender<PeerId>, HashSet<PeerId>)>,
    provider_query: Option<kad::QueryId>,
    bans: HashMap<PeerId, tokio::time::Instant>,
    /// Failed dials in a row per peer not connected (see [`FORGET_AFTER_FAILED_DIALS`]).
    failed_dials: HashMap<PeerId, u32>,
    /// Dials asked for through [`Handle::dial`], answered when connected or failed.
    dials: HashMap<ConnectionId, (Multiaddr, oneshot::Sender<Result<(), NodeError>>)>,
    /// Peers to dial whose addresses this node did not know, looked up in the DHT.
    peer_lookups: HashMap<kad::QueryId, (PeerId, oneshot::Sender<Result<(), NodeError>>)>,
    /// The bootstrap addresses, and the peers known to be behind them: never forgotten.
    bootstrap: (Vec<Multiaddr>, HashSet<PeerId>),
    /// The relays listened through (`/p2p-circuit` listen addresses), reserved again when a
    /// reservation ends.
    relayed: Vec<RelaySlot>,
    /// Whether other nodes can dial this one, as AutoNAT last found.
    reachability: Reachability,
    /// The connections to each connected peer, for transfer streams (see [`Links`]).
    links: HashMap<PeerId, Links>,
    /// Relays met (peers serving circuit relay v2), with the addresses they announced that
    /// others can dial: picked from when behind a NAT, if [`Options::auto_relay`].
    relays: std::collections::BTreeMap<PeerId, Vec<Multiaddr>>,
    /// Relays' kinds, from the limits of their reservations and circuits: limited ones (for
    /// hole punching only, see [`nat::is_limited`]) or ones that carry transfers.
    relay_kinds: RelayKinds,
    /// The relay this node serves (see [`Options::relay_service`]).
    relay_service: RelayService,
    /// A peer saw this node at a QUIC address others can dial (identify's observed address):
    /// its NAT's UDP mapping, which hole punching needs (see [`EventLoop::learn_quic_mapping`]).
    quic_observed: bool,
    /// Relays dialled over QUIC for that mapping.
    quic_asked: HashSet<PeerId>,
    auto_relay: bool,
    private_network: bool,
    /// Provider tasks built but not spawned yet (spawned when the loop runs).
    service: Option<transfer::Service>,
    prover: Option<crate::market::Prover>,
    service_task: AbortOnDrop,
    prover_task: AbortOnDrop,
    /// What becoming a provider needs, kept for a store opened after start.
    provide: ProvideWith,
}

/// What [`EventLoop::become_provider`] needs besides the store.
struct ProvideWith {
    /// The store, once the node is a provider (shared with every [`Handle`]).
    store: Arc<OnceLock<Store>>,
    /// The loop's own handle, weak, for the provider service (bans, DHT records, pulls).
    node: WeakHandle,
    /// Where capacity offers are published.
    topic: gossipsub::IdentTopic,
    limits: transfer::Limits,
    market: Option<crate::market::Market>,
    prove_every: Duration,
    release_after: Duration,
}

impl std::fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoop")
            .field("peer_id", self.swarm.local_peer_id())
            .finish_non_exhaustive()
    }
}

/// Builds nodes.
#[derive(Debug)]
pub struct Node;

impl Node {
    /// Builds the swarm, starts listening (waiting until every listener has an address) and
    /// returns the handle, the event stream and the loop to spawn.
    pub async fn start(
        options: Options,
    ) -> Result<(Handle, broadcast::Receiver<Event>, EventLoop), NodeError> {
        // The swarm builder's future is ~20 KiB: keep it off the caller's stack.
        Box::pin(Self::build(options)).await
    }

    async fn build(
        options: Options,
    ) -> Result<(Handle, broadcast::Receiver<Event>, EventLoop), NodeError> {
        let key = crate::key::load_or_create(&options.data_dir)?;
        let peer_id = key.public().to_peer_id();
        let store_dir = options.data_dir.join("store");
        let store = if options.quota > 0 || (options.keep_store && store_dir.is_dir()) {
            Some(open_store(store_dir.clone(), options.quota).await?)
        } else {
            None
        };
        let upnp_on = options.upnp;
        let relay_service = options.relay_service;
        let mdns_on = options.mdns;
        let private_network = options.private_network;
        let limits = connection_limits::ConnectionLimits::default()
            .with_max_established(Some(options.max_connections))
            .with_max_established_per_peer(Some(options.max_connections_per_peer))
            .with_max_pending_incoming(Some(options.max_connections / 2 + 1));
        let ws_tls = options.tls.config()?;
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| NodeError::Build(format!("tcp: {e}")))?
            .with_quic()
            // WebSocket (`ws`, and `wss` with the configured TLS), resolving `/dns` itself.
            .with_other_transport(|key| {
                let tcp = tcp::tokio::Transport::new(tcp::Config::default().nodelay(true));
                let mut ws = websocket::Config::new(libp2p::dns::tokio::Transport::system(tcp)?);
                ws.set_tls_config(ws_tls);
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
                    libp2p::Transport::upgrade(ws, libp2p::core::upgrade::Version::V1Lazy)
                        .authenticate(noise::Config::new(key)?)
                        .multiplex(yamux::Config::default()),
                )
            })
            .map_err(|e| NodeError::Build(format!("websocket: {e}")))?
            .with_dns()
            .map_err(|e| NodeError::Build(format!("dns: {e}")))?
            .with_relay_client(noise::Config::new, yamux::Config::default)
            .map_err(|e| NodeError::Build(format!("relay client: {e}")))?
            .with_behaviour(|key, relay| {
                let peer_id = key.public().to_peer_id();
                let mut kad_config = kad::Config::new(KAD_PROTOCOL);
                kad_config.set_query_timeout(Duration::from_secs(30));
                let mut kad =
                    kad::Behaviour::with_config(peer_id, MemoryStore::new(peer_id), kad_config);
                // Set, not left to AutoNAT: test networks are all-loopback, where it would
                // never confirm reachability, and a node behind a NAT is reached through its
                // relays' circuits.
                kad.set_mode(Some(if options.dht_server {
                    kad::Mode::Server
                } else {
                    kad::Mode::Client
                }));
                let gossip_config = gossipsub::ConfigBuilder::default()
                    .heartbeat_interval(Duration::from_secs(1))
                    .validation_mode(gossipsub::ValidationMode::Strict)
                    .max_transmit_size(4096)
                    .build()
                    .map_err(|e| NodeError::Build(format!("gossipsub: {e}")))?;
                let gossipsub = gossipsub::Behaviour::new(
                    gossipsub::MessageAuthenticity::Signed(key.clone()),
                    gossip_config,
                )
                .map_err(|e| NodeError::Build(format!("gossipsub: {e}")))?;
                let mdns = if mdns_on {
                    Some(
                        mdns::tokio::Behaviour::new(mdns::Config::default(), peer_id)
                            .map_err(|e| NodeError::Build(format!("mdns: {e}")))?,
                    )
                } else {
                    None
                };
                Ok(Behaviour {
                    limits: connection_limits::Behaviour::new(limits),
                    blocked: allow_block_list::Behaviour::default(),
                    // Peers learn an address gained later (a relay's circuit) at once.
                    identify: identify::Behaviour::new(
                        identify::Config::new(PROTOCOL_VERSION.to_owned(), key.public())
                            .with_push_listen_addr_updates(true),
                    ),
                    ping: ping::Behaviour::default(),
                    kad,
                    gossipsub,
                    mdns: mdns.into(),
                    autonat: autonat::Behaviour::new(peer_id, autonat_config(private_network)),
                    relay,
                    dcutr: dcutr::Behaviour::new(peer_id),
                    upnp: upnp_on.then(upnp::tokio::Behaviour::default).into(),
                    relay_server: relay_config(relay_service)
                        .map(|config| relay::Behaviour::new(peer_id, config))
                        .into(),
                    stream: libp2p_stream::Behaviour::new(),
                })
            })
            .map_err(|e| NodeError::Build(format!("behaviour: {e}")))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
            .build();

        let topic = gossipsub::IdentTopic::new(OFFERS_TOPIC);
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&topic)
            .map_err(|e| NodeError::Build(format!("gossipsub subscribe: {e}")))?;

        let listen = if options.listen.is_empty() {
            Options::default_listen()
        } else {
            options.listen.clone()
        };
        let mut pending = HashSet::new();
        let mut relayed = Vec::new();
        for addr in &listen {
            let id = swarm
                .listen_on(addr.clone())
                .map_err(|e| NodeError::Listen {
                    addr: addr.clone(),
                    reason: e.to_string(),
                })?;
            if is_relayed(addr) {
                relayed.push(RelaySlot::new(
                    addr.clone(),
                    id,
                    tokio::time::Instant::now(),
                ));
            }
            pending.insert(id);
        }
        let (events, events_rx) = broadcast::channel(EVENT_CAPACITY);
        let mut listen_addrs = Vec::new();
        let deadline = tokio::time::Instant::now() + LISTEN_TIMEOUT;
        let is_relayed = |relayed: &[RelaySlot], id: &ListenerId| {
            relayed.iter().any(|slot| slot.listener == Some(*id))
        };
        while !pending.is_empty() {
            let event = match tokio::time::timeout_at(deadline, swarm.select_next_some()).await {
                Ok(event) => event,
                // Only relays left, silent: the node starts without their addresses, which
                // come when they answer.
                Err(_) if pending.iter().all(|id| is_relayed(&relayed, id)) => {
                    tracing::warn!(
                        "no answer from the relay yet: starting without the address through it, which comes once it answers"
                    );
                    // A relay listener whose dial failed never closes: dropped, and tried
                    // again from the event loop.
                    let now = tokio::time::Instant::now();
                    for slot in relayed.iter_mut() {
                        if let Some(id) = slot.listener.filter(|id| pending.contains(id)) {
                            swarm.remove_listener(id);
                            slot.lost(now);
                        }
                    }
                    break;
                }
                Err(_) => {
                    return Err(NodeError::Build("listeners did not come up in time".into()));
                }
            };
            match event {
                SwarmEvent::NewListenAddr {
                    listener_id,
                    address,
                } => {
                    pending.remove(&listener_id);
                    if let Some(slot) = RelaySlot::of(&mut relayed, listener_id) {
                        slot.up();
                    }
                    let full = address.with_p2p(peer_id).unwrap_or_else(|a| a);
                    listen_addrs.push(full);
                }
                // A relay that refuses, or cannot be reached, does not stop the node: it is
                // tried again from the event loop (a home node rebooting while its relay is
                // down still serves its LAN, and is reached through the relay once it is back).
                SwarmEvent::ListenerClosed {
                    listener_id,
                    reason: Err(e),
                    ..
                } if is_relayed(&relayed, &listener_id) => {
                    pending.remove(&listener_id);
                    let now = tokio::time::Instant::now();
                    if let Some(slot) = RelaySlot::of(&mut relayed, listener_id) {
                        slot.lost(now);
                        tracing::warn!(addr = %slot.addr, error = %e, retry_in = ?(slot.retry_at - now), "cannot listen through the relay yet; starting without it");
                    }
                }
                SwarmEvent::ListenerError { listener_id, error }
                    if is_relayed(&relayed, &listener_id) =>
                {
                    // Its listener lives on until it closes (then it is tried again).
                    pending.remove(&listener_id);
                    tracing::warn!(%error, "the relay refused for now; starting without it");
                }
                SwarmEvent::ListenerClosed {
                    listener_id,
                    reason: Err(e),
                    ..
                }
                | SwarmEvent::ListenerError {
                    listener_id,
                    error: e,
                } if pending.contains(&listener_id) => {
                    return Err(NodeError::Build(format!("a listener failed: {e}")));
                }
                _ => {}
            }
        }
        // A relay hands its addresses to the nodes reserving a slot on it (which refuse a
        // reservation without any): a full one, those it listens on (a listener on every
        // interface comes up as one address per interface); a limited one, those its peers
        // confirmed (until then, it serves no relay).
        if relay_service == RelayService::Full {
            for addr in listen_addrs.iter().filter(|addr| is_dialable(addr)) {
                let mut bare = addr.clone();
                if let Some(Protocol::P2p(_)) = bare.iter().last() {
                    bare.pop();
                }
                swarm.add_external_address(bare);
            }
        }
        for addr in &options.bootstrap {
            swarm.dial(addr.clone()).map_err(|e| NodeError::Dial {
                addr: addr.clone(),
                reason: e.to_string(),
            })?;
        }

        let control = swarm.behaviour().stream.new_control();
        let (commands_tx, commands) = mpsc::channel(COMMAND_CAPACITY);
        let store_cell = Arc::new(OnceLock::new());
        let handle = Handle {
            commands: commands_tx,
            events: events.clone(),
            control,
            peer_id,
            store: Arc::clone(&store_cell),
            store_dir,
        };
        let mut event_loop = EventLoop {
            swarm,
            commands,
            events,
            listen_addrs,
            providers: HashMap::new(),
            holder_queries: HashMap::new(),
            provider_query: None,
            bans: HashMap::new(),
            failed_dials: HashMap::new(),
            dials: HashMap::new(),
            peer_lookups: HashMap::new(),
            bootstrap: (
                options.bootstrap.clone(),
                options
                    .bootstrap
                    .iter()
                    .filter_map(|addr| match addr.iter().last() {
                        Some(Protocol::P2p(peer)) => Some(peer),
                        _ => None,
                    })
                    .collect(),
            ),
            relayed,
            reachability: Reachability::Unknown,
            links: HashMap::new(),
            relays: std::collections::BTreeMap::new(),
            relay_kinds: RelayKinds::default(),
            relay_service: options.relay_service,
            quic_observed: false,
            quic_asked: HashSet::new(),
            auto_relay: options.auto_relay,
            private_network: options.private_network,
            service: None,
            prover: None,
            service_task: AbortOnDrop(None),
            prover_task: AbortOnDrop(None),
            provide: ProvideWith {
                store: store_cell,
                node: handle.downgrade(),
                topic,
                limits: options.limits.clone(),
                market: options.market.clone(),
                prove_every: options.prove_every,
                release_after: options.release_after,
            },
        };
        if let Some((store, held)) = store {
            event_loop.become_provider(store, &held)?;
        }
        Ok((handle, events_rx, event_loop))
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("peer_id", &self.peer_id)
            .finish_non_exhaustive()
    }
}

/// A [`Handle`] that does not keep the node running: what the node's own tasks hold.
#[derive(Clone)]
pub(crate) struct WeakHandle {
    pub(crate) commands: mpsc::WeakSender<Command>,
    events: broadcast::Sender<Event>,
    control: libp2p_stream::Control,
    peer_id: PeerId,
    store: Arc<OnceLock<Store>>,
    store_dir: PathBuf,
}

impl WeakHandle {
    /// The handle, while the node runs.
    pub(crate) fn upgrade(&self) -> Option<Handle> {
        Some(Handle {
            commands: self.commands.upgrade()?,
            events: self.events.clone(),
            control: self.control.clone(),
            peer_id: self.peer_id,
            store: Arc::clone(&self.store),
            store_dir: self.store_dir.clone(),
        })
    }
}

impl Handle {
    pub(crate) fn downgrade(&self) -> WeakHandle {
        WeakHandle {
            commands: self.commands.downgrade(),
            events: self.events.clone(),
            control: self.control.clone(),
            peer_id: self.peer_id,
            store: Arc::clone(&self.store),
            store_dir: self.store_dir.clone(),
        }
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NodeError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| NodeError::Stopped)?;
        rx.await.map_err(|_| NodeError::Stopped)
    }

    pub(crate) async fn ban_weak(commands: &mpsc::WeakSender<Command>, peer: PeerId) {
        if let Some(tx) = commands.upgrade() {
            let _ = tx.send(Command::Ban(peer)).await;
        }
    }

    pub(crate) async fn provide_weak(commands: &mpsc::WeakSender<Command>, id: ContentId) {
        if let Some(tx) = commands.upgrade() {
            let _ = tx.send(Command::Provide(id)).await;
        }
    }

    pub(crate) async fn unprovide_weak(commands: &mpsc::WeakSender<Command>, id: ContentId) {
        if let Some(tx) = commands.upgrade() {
            let _ = tx.send(Command::Unprovide(id)).await;
        }
    }

    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The provider's store (`None` for a client-only node).
    pub fn store(&self) -> Option<&Store> {
        self.store.get()
    }

    /// A new receiver of the node's events.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    pub(crate) fn events(&self) -> &broadcast::Sender<Event> {
        &self.events
    }

    /// A stream control for opening transfer streams.
    pub fn control(&self) -> libp2p_stream::Control {
        self.control.clone()
    }

    /// Full listen addresses (ending in `/p2p/<peer id>`).
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NodeError> {
        self.ask(Command::ListenAddrs).await
    }

    /// Dials `addr` and waits until the connection is established, or the dial failed
    /// ([`NodeError::Dial`], with why; an address that does not answer fails after the
    /// transport's 10 s connection timeout). An address ending in `/p2p/<peer id>` of a peer
    /// already connected is not dialled again.
    ///
    /// A stream opened to a peer while a dial to it is still under way can fail from another
    /// dial of that peer (a DHT lookup's, to an address it no longer has): dial first, then
    /// open streams.
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NodeError> {
        self.ask(|tx| Command::Dial(addr, tx)).await?
    }

    /// Readies `peer` for a transfer stream: dials it if not connected, and when it is reached
    /// through a relay only, waits up to [`DIRECT_GRACE`] for a direct connection (a peer behind
    /// a NAT dials this node back when it can; two nodes behind NATs punch a hole), so the
    /// transfer does not go through the relay.
    /// [`NodeError::Dial`] when it cannot be dialled.
    pub async fn route(&self, peer: PeerId) -> Result<(), NodeError> {
        let mut dialled = false;
        loop {
            match self.ask(|reply| Command::Route(peer, reply)).await? {
                Route::Go => return Ok(()),
                Route::Limited => return Err(NodeError::LimitedRelay { peer }),
                Route::Wait => tokio::time::sleep(Duration::from_millis(50)).await,
                // Connected, then gone at once: the stream dials it again.
                Route::NotConnected if dialled => return Ok(()),
                Route::NotConnected => {
                    dialled = true;
                    self.ask(|reply| Command::DialPeer(peer, reply)).await??;
                }
            }
        }
    }

    /// Connected peers.
    pub async fn peers(&self) -> Result<Vec<PeerId>, NodeError> {
        self.ask(Command::Peers).await
    }

    /// The addresses this node knows `peer` listens at: those it announced (identify) or that
    /// were found for it on the LAN or in the DHT; none for a peer it has not met.
    pub async fn addresses_of(&self, peer: PeerId) -> Result<Vec<Multiaddr>, NodeError> {
        self.ask(|reply| Command::Addresses(peer, reply)).await
    }

    /// Storage providers known so far (most free space first).
    pub async fn providers(&self) -> Result<Vec<ProviderInfo>, NodeError> {
        self.ask(Command::Providers).await
    }

    /// Peers the DHT says hold `id`, each as soon as its lookup finds it; the receiver ends
    /// with the lookup. A lookup waits on every peer it asks, and a dead one that drops
    /// packets answers nothing until the dial gives up (5 s over QUIC, 10 s over TCP), up to
    /// the query's 30 s: a caller that already knows holders need not wait for the end.
    /// Dropping the receiver ends the lookup.
    pub async fn find_holders(&self, id: ContentId) -> Result<mpsc::Receiver<PeerId>, NodeError> {
        let (found, holders) = mpsc::channel(HOLDERS_QUEUED);
        self.commands
            .send(Command::FindHolders(id, found))
            .await
            .map_err(|_| NodeError::Stopped)?;
        Ok(holders)
    }

    /// Changes the provider's quota at once, without a restart: connections, transfers under
    /// way and listen addresses are kept. The store refuses what no longer fits (nothing held
    /// is removed), and the new capacity is offered to peers now. A quota of 0 stops offers and
    /// withdraws the node from the DHT's provider list, while what it holds stays served and
    /// proven. A node started without a store opens one (in its data directory) and becomes a
    /// provider: it accepts uploads, offers its capacity and, with a market, proves its deals.
    pub async fn set_quota(&self, quota: u64) -> Result<(), NodeError> {
        if self.store.get().is_none() {
            if quota == 0 {
                return Ok(());
            }
            let (store, held) = open_store(self.store_dir.clone(), quota).await?;
            return self.ask(|tx| Command::OpenStore(store, held, tx)).await?;
        }
        self.ask(|tx| Command::Capacity(quota, tx)).await
    }

    /// Stops the loop.
    pub async fn shutdown(&self) -> Result<(), NodeError> {
        self.ask(Command::Shutdown).await
    }
}

impl EventLoop {
    /// Runs until [`Handle::shutdown`] or until every handle is dropped.
    pub async fn run(mut self) {
        let span = tracing::info_span!("node", peer = %self.swarm.local_peer_id());
        async move {
            self.spawn_provider_tasks();
            for addr in self.listen_addrs.clone() {
                let _ = self.events.send(Event::Listening { addr });
            }
            let mut offer_timer = tokio::time::interval(OFFER_INTERVAL);
            loop {
                tokio::select! {
                    biased;
                    command = self.commands.recv() => match command {
                        Some(Command::Shutdown(reply)) => {
                            let _ = reply.send(());
                            break;
                        }
                        Some(command) => self.on_command(command),
                        None => break,
                    },
                    event = self.swarm.select_next_some() => self.on_swarm_event(event),
                    _ = offer_timer.tick() => self.on_tick(),
                }
            }
            // The provider service and the prover end with the loop, before it returns: whoever
            // awaits the loop may then reopen the store (their disk reads already under way
            // still finish on their blocking threads; `Store::open` reports them as `InUse`).
            std::mem::replace(&mut self.service_task, AbortOnDrop(None))
                .stop()
                .await;
            std::mem::replace(&mut self.prover_task, AbortOnDrop(None))
                .stop()
                .await;
            tracing::debug!("node event loop ended");
        }
        .instrument(span)
        .await;
    }

    fn on_tick(&mut self) {
        let now = tokio::time::Instant::now();
        for slot in &mut self.relayed {
            // A reservation asked for that never came (the relay was down when dialled: such
            // a listener never closes) is asked for again.
            if let Some(id) = slot.listener
                && !slot.reserved
                && now.duration_since(slot.asked_at) >= LISTEN_TIMEOUT
            {
                self.swarm.remove_listener(id);
                slot.lost(now);
                tracing::info!(addr = %slot.addr, retry_in = ?(slot.retry_at - now), "no reservation from the relay yet");
            }
        }
        self.pick_relays(now);
        self.learn_quic_mapping();
        for slot in self
            .relayed
            .iter_mut()
            .filter(|slot| slot.listener.is_none() && slot.retry_at <= now)
        {
            match self.swarm.listen_on(slot.addr.clone()) {
                Ok(id) => slot.asked(id, now),
                Err(e) => {
                    slot.failed(now);
                    tracing::warn!(addr = %slot.addr, error = %e, retry_in = ?(slot.retry_at - now), "cannot listen through the relay");
                }
            }
        }
        let expired: Vec<PeerId> = self
            .bans
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(p, _)| *p)
            .collect();
        for peer in expired {
            self.bans.remove(&peer);
            self.swarm.behaviour_mut().blocked.unblock_peer(peer);
        }
        self.publish_offer();
        if self.provider_query.is_none() && self.swarm.connected_peers().next().is_some() {
            self.provider_query = Some(
                self.swarm
                    .behaviour_mut()
                    .kad
                    .get_providers(kad::RecordKey::new(&PROVIDERS_KEY)),
            );
        }
    }

    /// Behind a NAT (AutoNAT found it private), with [`Options::auto_relay`], as a provider:
    /// gives up the relays it picked that keep failing, and listens through relays it met up to
    /// [`AUTO_RELAYS`], those that carry transfers rather than limited ones (which it stops
    /// listening through once one that carries transfers gave it a reservation).
    fn pick_relays(&mut self, now: tokio::time::Instant) {
        let drop = limited_to_drop(&self.relayed, &self.relay_kinds);
        if !drop.is_empty() {
            let swarm = &mut self.swarm;
            self.relayed.retain(|slot| {
                if !drop.contains(&slot.addr) {
                    return true;
                }
                tracing::info!(addr = %slot.addr, "a relay that carries transfers took this node: no longer listening through a limited one");
                if let Some(id) = slot.listener {
                    swarm.remove_listener(id);
                }
                false
            });
        }
        let relays = &mut self.relays;
        self.relayed.retain(|slot| {
            let give_up = slot.picked.is_some()
                && slot.listener.is_none()
                && slot.failures >= AUTO_RELAY_GIVE_UP;
            if give_up {
                tracing::info!(addr = %slot.addr, "giving up a relay that keeps failing");
                if let Some(relay) = slot.picked {
                    relays.remove(&relay);
                }
            }
            !give_up
        });
        // Only a provider (a node with a store) needs reaching: a node that only buys dials
        // out, and takes no relay's reservation.
        if !self.auto_relay
            || self.reachability != Reachability::Private
            || self.provide.store.get().is_none()
        {
            return;
        }
        // Relays named by hand count too: with two, none is picked.
        let in_use: Vec<PeerId> = self.relayed.iter().filter_map(RelaySlot::relay).collect();
        for (relay, addr) in relays_to_add(&self.relays, &in_use, AUTO_RELAYS, &self.relay_kinds) {
            match self.swarm.listen_on(addr.clone()) {
                Ok(id) => {
                    tracing::info!(%addr, "behind a NAT: listening through a relay it met");
                    let mut slot = RelaySlot::new(addr, id, now);
                    slot.picked = Some(relay);
                    self.relayed.push(slot);
                }
                Err(e) => {
                    tracing::warn!(%addr, error = %e, "cannot listen through a relay");
                    self.relays.remove(&relay);
                }
            }
        }
    }

    /// Not known to be reachable (behind a NAT, or not found out yet: a short-lived buyer never
    /// is) and seen by no peer at a QUIC address yet (it met its peers over TCP, say a relay
    /// given by its TCP address): dials a relay it met at its QUIC addresses (one it listens
    /// through first; each relay once). Hole punching (DCUtR) sends each side to the addresses
    /// peers saw the other at; over TCP it fails behind a router that answers an unasked packet
    /// with a reset (the other side's first packet often comes before this side's own opened
    /// the NAT), so a QUIC mapping, learnt from that second connection, is what lets two nodes
    /// behind NATs connect directly. A node with no QUIC listener dials from QUIC's one dialling
    /// socket, which its hole punching dials use too.
    fn learn_quic_mapping(&mut self) {
        if self.quic_observed || matches!(self.reachability, Reachability::Public { .. }) {
            return;
        }
        let picked: Vec<PeerId> = self.relayed.iter().filter_map(RelaySlot::relay).collect();
        let mut relays: Vec<(&PeerId, &Vec<Multiaddr>)> = self
            .relays
            .iter()
            .filter(|(relay, _)| !self.quic_asked.contains(relay))
            .collect();
        relays.sort_by_key(|(relay, _)| !picked.contains(relay));
        let Some((relay, quic)) = relays.into_iter().find_map(|(relay, addrs)| {
            let quic: Vec<Multiaddr> = addrs.iter().filter(|a| is_quic(a)).cloned().collect();
            (!quic.is_empty()).then_some((*relay, quic))
        }) else {
            return;
        };
        self.quic_asked.insert(relay);
        tracing::debug!(%relay, addrs = ?quic, "dialling a relay over QUIC too, to learn this node's UDP mapping for hole punching");
        self.dial_also(relay, quic);
    }

    /// Dials `peer` at `addrs` for one more connection, connected already or not; a dial that
    /// cannot start is only logged (the connections it has stay).
    fn dial_also(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        let opts = DialOpts::peer_id(peer)
            .addresses(addrs)
            .condition(PeerCondition::Always)
            .build();
        if let Err(e) = self.swarm.dial(opts) {
            tracing::debug!(%peer, error = %e, "cannot dial the peer once more");
        }
    }

    /// `peer` is reached through relays only, on a connection this node dialled before any peer
    /// saw its UDP mapping, and one has since (see [`EventLoop::learn_quic_mapping`]; a buyer
    /// given a provider's relayed address dials it at once, over the TCP connection to the
    /// relay): dials it through the relay again, once, and before any transfer stream went, so
    /// that hole punching, which each connection through a relay starts with the addresses
    /// known then, offers that mapping. [`Links::route`] closes both relayed connections once
    /// the punched one is up.
    fn punch_again(&mut self, peer: PeerId) {
        if !self.quic_observed {
            return;
        }
        let Some(links) = self.links.get_mut(&peer) else {
            return;
        };
        if !links.relayed_only() || links.streamed || links.punch_failed {
            return;
        }
        let Some(addr) = links.punched_without_quic.take() else {
            return;
        };
        tracing::debug!(%peer, %addr, "dialling the peer through the relay again, for hole punching with this node's UDP mapping");
        self.dial_also(peer, vec![addr]);
    }

    /// Whether a peer reached through a relay may dial this node back directly: AutoNAT found
    /// it reachable; or, not known yet, it listens on an address others can dial (public, or
    /// on a private network any but loopback; not a relay's circuit).
    fn may_be_dialled_back(&self) -> bool {
        match self.reachability {
            Reachability::Public { .. } => true,
            Reachability::Private => false,
            _ => self
                .listen_addrs
                .iter()
                .any(|addr| relay_addr_usable(&without_peer(addr), self.private_network)),
        }
    }

    /// A peer that reached this node through a relay told its addresses (`listen`): dialled
    /// back directly at those others can dial (at most [`MAX_DIAL_BACK_ADDRS`]), once per time
    /// it connects (a node behind a NAT can dial out; the peer then need not go through the
    /// relay, see [`Handle::route`]). Two peers both behind NATs punch a hole instead (DCUtR,
    /// started by the peer the relay brought the connection to).
    fn dial_back(&mut self, peer: PeerId, listen: &[Multiaddr]) {
        let Some(links) = self.links.get_mut(&peer) else {
            return;
        };
        if !links.relayed_only() || links.reversed {
            return;
        }
        // Public addresses only (on a private network, any but loopback), and a few: a peer
        // must not make this node dial into its own LAN, or many addresses.
        let addrs: Vec<Multiaddr> = listen
            .iter()
            .filter(|addr| relay_addr_usable(&without_peer(addr), self.private_network))
            .take(MAX_DIAL_BACK_ADDRS)
            .cloned()
            .collect();
        if addrs.is_empty() {
            return;
        }
        links.reversed = true;
        tracing::debug!(%peer, ?addrs, "reached through a relay: dialling the peer back directly");
        self.dial_also(peer, addrs);
    }

    /// Reachable directly: stops listening through the relays it picked itself.
    fn drop_picked_relays(&mut self) {
        let swarm = &mut self.swarm;
        self.relayed.retain(|slot| {
            if slot.picked.is_none() {
                return true;
            }
            if let Some(id) = slot.listener {
                swarm.remove_listener(id);
            }
            tracing::info!(addr = %slot.addr, "reachable directly: no longer listening through the relay");
            false
        });
    }

    fn publish_offer(&mut self) {
        let (Some(store), topic) = (self.provide.store.get(), &self.provide.topic) else {
            return;
        };
        let quota = store.quota();
        if quota == 0 {
            // Keeping what it holds, accepting nothing: no offer.
            return;
        }
        // What the quota leaves, and no more than the disk has room for.
        let Ok(free) = store.free() else {
            return;
        };
        let offer = Offer { free, quota };
        let Ok(data) = serde_json::to_vec(&offer) else {
            return;
        };
        // No subscribed peer yet is the normal case for a lone provider.
        let _ = self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(topic.clone(), data);
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::ListenAddrs(reply) => {
                let _ = reply.send(self.listen_addrs.clone());
            }
            Command::Dial(addr, reply) => self.dial(addr, reply),
            Command::Peers(reply) => {
                let _ = reply.send(self.swarm.connected_peers().copied().collect());
            }
            Command::Addresses(peer, reply) => {
                let key = kad::KBucketKey::from(peer);
                let addrs = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .kbucket(peer)
                    .and_then(|bucket| {
                        bucket
                            .iter()
                            .find(|entry| *entry.node.key == key)
                            .map(|entry| entry.node.value.iter().cloned().collect())
                    })
                    .unwrap_or_default();
                let _ = reply.send(addrs);
            }
            Command::Providers(reply) => {
                let mut list: Vec<ProviderInfo> = self
                    .providers
                    .iter()
                    .filter(|(p, _)| !self.bans.contains_key(p))
                    .map(|(&peer, &free)| ProviderInfo { peer, free })
                    .collect();
                list.sort_by(|a, b| b.free.cmp(&a.free).then(a.peer.cmp(&b.peer)));
                let _ = reply.send(list);
            }
            Command::Unprovide(id) => {
                self.swarm
                    .behaviour_mut()
                    .kad
                    .stop_providing(&kad::RecordKey::new(&id.0));
            }
            Command::Provide(id) => {
                if let Err(e) = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .start_providing(kad::RecordKey::new(&id.0))
                {
                    tracing::warn!(%id, %e, "cannot announce an object in the DHT");
                }
            }
            Command::FindHolders(id, reply) => {
                let query = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .get_providers(kad::RecordKey::new(&id.0));
                self.holder_queries.insert(query, (reply, HashSet::new()));
            }
            Command::Route(peer, reply) => {
                self.punch_again(peer);
                let may_dial_back = self.may_be_dialled_back();
                let (route, close) =
                    self.links
                        .get_mut(&peer)
                        .map_or((Route::NotConnected, Vec::new()), |links| {
                            links.route(
                                tokio::time::Instant::now(),
                                may_dial_back,
                                &self.relay_kinds,
                            )
                        });
                for id in close {
                    tracing::debug!(%peer, "a direct connection came: closing the one through the relay");
                    self.swarm.close_connection(id);
                }
                let _ = reply.send(route);
            }
            Command::DialPeer(peer, reply) => self.dial_peer(peer, Vec::new(), reply),
            Command::Ban(peer) => {
                tracing::warn!(%peer, "banning peer for {BAN_DURATION:?}");
                self.bans
                    .insert(peer, tokio::time::Instant::now() + BAN_DURATION);
                self.swarm.behaviour_mut().blocked.block_peer(peer);
                let _ = self.events.send(Event::Throttled { peer, banned: true });
            }
            Command::Capacity(quota, reply) => {
                self.set_capacity(quota);
                let _ = reply.send(());
            }
            Command::OpenStore(store, held, reply) => {
                let result = self.become_provider(store, &held);
                if result.is_ok() {
                    self.spawn_provider_tasks();
                    self.publish_offer();
                }
                let _ = reply.send(result);
            }
            Command::Shutdown(_) => {}
        }
    }

    /// Makes this node a provider with `store`: accepts the storage protocol, announces itself
    /// (when its quota is above 0) and the objects the store holds (`held`) in the DHT, offers
    /// its capacity, and builds the provider service and, with a market, the prover (spawned by
    /// [`EventLoop::spawn_provider_tasks`]).
    fn become_provider(&mut self, store: Store, held: &[ContentId]) -> Result<(), NodeError> {
        if self.provide.store.get().is_some() {
            return Err(NodeError::Build("this node already has a store".into()));
        }
        let incoming = self
            .swarm
            .behaviour()
            .stream
            .new_control()
            .accept(transfer::PROTOCOL)
            .map_err(|e| NodeError::Build(format!("storage protocol: {e}")))?;
        let kad = &mut self.swarm.behaviour_mut().kad;
        if store.quota() > 0
            && let Err(e) = kad.start_providing(kad::RecordKey::new(&PROVIDERS_KEY))
        {
            tracing::warn!(%e, "cannot announce as a provider in the DHT");
        }
        for id in held {
            let _ = kad.start_providing(kad::RecordKey::new(&id.0));
        }
        self.service = Some(transfer::Service::new(
            incoming,
            store.clone(),
            self.events.clone(),
            self.provide.node.clone(),
            self.provide.limits.clone(),
            self.provide.market.clone(),
        ));
        self.prover = self
            .provide
            .market
            .clone()
            .map(|market| crate::market::Prover {
                market,
                store: store.clone(),
                events: self.events.clone(),
                every: self.provide.prove_every,
                release_after: self.provide.release_after,
                commands: self.provide.node.commands.clone(),
            });
        // Checked empty above, and only this loop sets it.
        let _ = self.provide.store.set(store);
        Ok(())
    }

    /// Spawns the provider service and the prover built by [`EventLoop::become_provider`].
    fn spawn_provider_tasks(&mut self) {
        if let Some(service) = self.service.take() {
            self.service_task = AbortOnDrop(Some(tokio::spawn(service.run())));
        }
        if let Some(prover) = self.prover.take() {
            self.prover_task = AbortOnDrop(Some(tokio::spawn(prover.run())));
        }
    }

    /// Applies a new quota: the store's, the DHT's provider record, and an offer now.
    fn set_capacity(&mut self, quota: u64) {
        let Some(store) = self.provide.store.get() else {
            return;
        };
        let before = store.quota();
        store.set_quota(quota);
        tracing::info!(before, quota, "quota changed");
        let key = kad::RecordKey::new(&PROVIDERS_KEY);
        let kad = &mut self.swarm.behaviour_mut().kad;
        if quota == 0 {
            kad.stop_providing(&key);
        } else if before == 0
            && let Err(e) = kad.start_providing(key)
        {
            tracing::warn!(%e, "cannot announce as a provider in the DHT");
        }
        self.publish_offer();
    }

    fn add_provider(&mut self, peer: PeerId, free: Option<u64>) {
        if peer == *self.swarm.local_peer_id() {
            return;
        }
        let entry = self.providers.entry(peer).or_insert(None);
        let changed = free.is_some() && *entry != free;
        let new = entry.is_none() && free.is_none();
        if free.is_some() {
            *entry = free;
        }
        if changed || new {
            let _ = self.events.send(Event::Provider { peer, free });
        }
    }

    /// Dials `addr` for [`Handle::dial`]: the answer goes out once the connection is
    /// established or failed (see [`EventLoop::dial_answered`]).
    fn dial(&mut self, addr: Multiaddr, reply: oneshot::Sender<Result<(), NodeError>>) {
        let opts = match addr.iter().last() {
            Some(Protocol::P2p(peer)) => DialOpts::peer_id(peer)
                .addresses(vec![addr.clone()])
                .condition(PeerCondition::Disconnected)
                .build(),
            _ => DialOpts::unknown_peer_id().address(addr.clone()).build(),
        };
        if let Some(reply) = self.start_dial(opts, addr.clone(), reply) {
            let _ = reply.send(Err(NodeError::Dial {
                addr,
                reason: dial_error(&DialError::NoAddresses),
            }));
        }
    }

    /// Starts the dial `opts` for a caller waiting on `reply`: answered once connected or
    /// failed (see [`EventLoop::dial_answered`]; its error names `addr`), at once when already
    /// connected or when the dial cannot start. Only a dial with no address known for its peer
    /// hands the reply back (the caller may look the peer up).
    fn start_dial(
        &mut self,
        opts: DialOpts,
        addr: Multiaddr,
        reply: oneshot::Sender<Result<(), NodeError>>,
    ) -> Option<oneshot::Sender<Result<(), NodeError>>> {
        let id = opts.connection_id();
        match self.swarm.dial(opts) {
            Ok(()) => {
                self.dials.insert(id, (addr, reply));
            }
            // Already connected.
            Err(DialError::DialPeerConditionFalse(_)) => {
                let _ = reply.send(Ok(()));
            }
            Err(DialError::NoAddresses) => return Some(reply),
            Err(e) => {
                let _ = reply.send(Err(NodeError::Dial {
                    addr,
                    reason: dial_error(&e),
                }));
            }
        }
        None
    }

    /// Answers the DHT lookups of `peer`'s addresses ([`EventLoop::dial_peer`]) now that it is
    /// connected, and ends them: a lookup dials the peer it looks for as soon as it learns
    /// where it is (the closest peer to its own id), but reports only once every peer it asked
    /// has answered or failed, and a dead one that drops packets fails only when the dial
    /// gives up (10 s over TCP).
    fn found_by_lookup(&mut self, peer: PeerId) {
        let done: Vec<kad::QueryId> = self
            .peer_lookups
            .iter()
            .filter(|(_, (looked_for, _))| *looked_for == peer)
            .map(|(&query, _)| query)
            .collect();
        for query in done {
            if let Some((_, reply)) = self.peer_lookups.remove(&query) {
                let _ = reply.send(Ok(()));
            }
            if let Some(mut query) = self.swarm.behaviour_mut().kad.query_mut(&query) {
                query.finish();
            }
        }
    }

    /// Dials `peer` (at `addrs`, and those the node knows) for [`Handle::route`]; the answer
    /// goes out once connected or failed. A peer whose addresses this node does not know is
    /// looked up in the DHT first (a provider found through a gossiped offer, before any
    /// lookup told where it is).
    fn dial_peer(
        &mut self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        reply: oneshot::Sender<Result<(), NodeError>>,
    ) {
        let looked_up = !addrs.is_empty();
        let opts = DialOpts::peer_id(peer)
            .addresses(addrs)
            .condition(PeerCondition::Disconnected)
            .build();
        let addr = Multiaddr::empty().with(Protocol::P2p(peer));
        match self.start_dial(opts, addr.clone(), reply) {
            None => {}
            Some(reply) if !looked_up => {
                let query = self.swarm.behaviour_mut().kad.get_closest_peers(peer);
                self.peer_lookups.insert(query, (peer, reply));
            }
            Some(reply) => {
                let _ = reply.send(Err(NodeError::Dial {
                    addr,
                    reason: dial_error(&DialError::NoAddresses),
                }));
            }
        }
    }

    /// Answers the [`Handle::dial`] that opened `connection`, if one did.
    fn dial_answered(&mut self, connection: ConnectionId, failed: Option<&DialError>) {
        if let Some((addr, reply)) = self.dials.remove(&connection) {
            let _ = reply.send(match failed {
                None => Ok(()),
                Some(e) => Err(NodeError::Dial {
                    addr,
                    reason: dial_error(e),
                }),
            });
        }
    }

    /// Counts a failed dial of `peer`, and forgets it after [`FORGET_AFTER_FAILED_DIALS`] in a
    /// row unless it is connected or a bootstrap peer.
    fn dial_failed(&mut self, peer: PeerId) {
        if self.swarm.is_connected(&peer) || self.bootstrap.1.contains(&peer) {
            return;
        }
        let failed = self.failed_dials.entry(peer).or_insert(0);
        *failed += 1;
        if *failed < FORGET_AFTER_FAILED_DIALS {
            return;
        }
        self.failed_dials.remove(&peer);
        self.swarm.behaviour_mut().kad.remove_peer(&peer);
        self.providers.remove(&peer);
        tracing::debug!(%peer, "forgetting a peer that no longer answers");
        let _ = self.events.send(Event::Forgotten { peer });
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr {
                listener_id,
                address,
            } => {
                if let Some(slot) = RelaySlot::of(&mut self.relayed, listener_id) {
                    slot.up();
                }
                let full = address
                    .with_p2p(*self.swarm.local_peer_id())
                    .unwrap_or_else(|a| a);
                if !self.listen_addrs.contains(&full) {
                    self.listen_addrs.push(full.clone());
                    let _ = self.events.send(Event::Listening { addr: full });
                }
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                addresses,
                reason,
            } => {
                let now = tokio::time::Instant::now();
                if let Some(slot) = RelaySlot::of(&mut self.relayed, listener_id) {
                    slot.lost(now);
                    let why = reason.err().map(|e| e.to_string()).unwrap_or_default();
                    tracing::warn!(addr = %slot.addr, why, retry_in = ?(slot.retry_at - now), "the relay reservation ended; reserving again");
                }
                for address in addresses {
                    self.listen_expired(address);
                }
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => self.listen_expired(address),
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                num_established,
                endpoint,
                ..
            } => {
                self.dial_answered(connection_id, None);
                self.failed_dials.remove(&peer_id);
                let links = self.links.entry(peer_id).or_default();
                let addr = match &endpoint {
                    libp2p::core::ConnectedPoint::Dialer { address, .. } => address,
                    libp2p::core::ConnectedPoint::Listener { local_addr, .. } => local_addr,
                };
                links.connections.push(Link::at(connection_id, addr));
                if endpoint.is_relayed() && endpoint.is_dialer() && !self.quic_observed {
                    links.punched_without_quic = Some(endpoint.get_remote_address().clone());
                }
                if endpoint.is_dialer() {
                    let addr = endpoint.get_remote_address();
                    if self
                        .bootstrap
                        .0
                        .iter()
                        .any(|boot| without_peer(boot) == without_peer(addr))
                    {
                        self.bootstrap.1.insert(peer_id);
                    }
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer_id, addr.clone());
                }
                if num_established.get() == 1 {
                    let _ = self.events.send(Event::PeerConnected { peer: peer_id });
                }
                self.found_by_lookup(peer_id);
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id,
                connection_id,
                error,
            } => {
                tracing::debug!(peer = ?peer_id, %error, "dial failed");
                self.dial_answered(connection_id, Some(&error));
                // A peer connected anyway is reached: another of its addresses failing (an
                // AutoNAT dial-back to a node behind a NAT, a hole punch) is no news.
                if peer_id.is_some_and(|peer| self.swarm.is_connected(&peer)) {
                    return;
                }
                if let Some(peer) = peer_id {
                    self.dial_failed(peer);
                }
                let _ = self.events.send(Event::DialFailed {
                    peer: peer_id,
                    error: dial_error(&error),
                });
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                cause,
                ..
            } => {
                tracing::debug!(peer = %peer_id, ?connection_id, ?cause, num_established, "connection closed");
                if let Some(links) = self.links.get_mut(&peer_id) {
                    links.connections.retain(|link| link.id != connection_id);
                    if links.connections.is_empty() {
                        self.links.remove(&peer_id);
                    }
                }
                if num_established == 0 {
                    let _ = self.events.send(Event::PeerDisconnected { peer: peer_id });
                }
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            // Seen at a QUIC address others can dial (a LAN peer sees the LAN address).
            SwarmEvent::NewExternalAddrCandidate { address }
                if is_quic(&address) && relay_addr_usable(&address, self.private_network) =>
            {
                self.quic_observed = true;
            }
            _ => {}
        }
    }

    /// `address` (as the listener had it, without the peer id) is no longer listened on.
    fn listen_expired(&mut self, address: Multiaddr) {
        let full = address
            .with_p2p(*self.swarm.local_peer_id())
            .unwrap_or_else(|a| a);
        let before = self.listen_addrs.len();
        self.listen_addrs.retain(|a| *a != full);
        if self.listen_addrs.len() != before {
            let _ = self.events.send(Event::ListenExpired { addr: full });
        }
    }

    fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Autonat(autonat::Event::StatusChanged { new, .. }) => {
                let status = Reachability::from(new);
                match &status {
                    Reachability::Public { addr } => {
                        tracing::info!(%addr, "reachable: a peer dialled this node back");
                        self.drop_picked_relays();
                    }
                    Reachability::Private => tracing::info!(
                        auto_relay = self.auto_relay,
                        "not reachable: no peer could dial this node back (a NAT or a firewall)"
                    ),
                    Reachability::Unknown => tracing::info!("reachability unknown again"),
                }
                self.reachability = status.clone();
                let _ = self.events.send(Event::Reachability { status });
            }
            BehaviourEvent::Upnp(upnp::Event::NewExternalAddr {
                local_addr,
                external_addr,
            }) => {
                tracing::info!(%local_addr, %external_addr, "the router maps a port to this node (UPnP)");
            }
            BehaviourEvent::Upnp(upnp::Event::ExpiredExternalAddr { external_addr, .. }) => {
                tracing::info!(%external_addr, "the router's port mapping lapsed (UPnP)");
            }
            BehaviourEvent::Upnp(upnp::Event::NonRoutableGateway) => tracing::info!(
                "the router's own address is private (another NAT beyond it): UPnP cannot make this node reachable"
            ),
            BehaviourEvent::Upnp(upnp::Event::GatewayNotFound) => {
                tracing::debug!("no UPnP router found");
            }
            BehaviourEvent::Relay(
                relay::client::Event::ReservationReqAccepted {
                    relay_peer_id,
                    limit,
                    ..
                }
                | relay::client::Event::OutboundCircuitEstablished {
                    relay_peer_id,
                    limit,
                },
            ) => {
                let limited =
                    limit.is_some_and(|l| nat::is_limited(l.duration(), l.data_in_bytes()));
                if self.relay_kinds.learn(relay_peer_id, limited) && limited {
                    tracing::info!(relay = %relay_peer_id, ?limit, "a limited relay: for hole punching, not for transfers");
                }
            }
            BehaviourEvent::RelayServer(relay::Event::StatusChanged { status }) => {
                let service = match status {
                    relay::Status::Enable => {
                        tracing::info!(
                            service = ?self.relay_service,
                            "serving a relay to nodes behind NATs, at this node's reachable addresses"
                        );
                        Some(self.relay_service)
                    }
                    relay::Status::Disable => {
                        tracing::info!(
                            "no longer serving a relay: no address of this node is known to be reachable"
                        );
                        None
                    }
                };
                let _ = self.events.send(Event::Relaying { service });
            }
            BehaviourEvent::Ping(ping::Event {
                peer,
                connection,
                result: Ok(rtt),
            }) => {
                if let Some(links) = self.links.get_mut(&peer) {
                    links.pinged(connection, rtt);
                }
            }
            BehaviourEvent::Dcutr(dcutr::Event {
                remote_peer_id,
                result,
            }) => match result {
                Ok(connection) => tracing::info!(
                    peer = %remote_peer_id,
                    ?connection,
                    "hole punched: a direct connection to a peer reached through a relay"
                ),
                Err(e) => {
                    tracing::info!(
                        peer = %remote_peer_id,
                        error = %e,
                        "hole punching failed: the peer stays reached through a relay"
                    );
                    if let Some(links) = self.links.get_mut(&remote_peer_id) {
                        links.punch_failed = true;
                    }
                }
            },
            // What a peer pushes when its addresses or protocols change comes here too (a
            // reachable node starts serving a limited relay once its peers confirmed it
            // reachable, and stops when they no longer do).
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                self.dial_back(peer_id, &info.listen_addrs);
                if !info.protocols.contains(&relay::HOP_PROTOCOL_NAME) {
                    self.relays.remove(&peer_id);
                } else {
                    let usable: Vec<Multiaddr> = info
                        .listen_addrs
                        .iter()
                        .filter(|a| relay_addr_usable(a, self.private_network))
                        .cloned()
                        .collect();
                    if usable.is_empty() {
                        self.relays.remove(&peer_id);
                    } else {
                        self.relays.insert(peer_id, usable);
                        self.learn_quic_mapping();
                    }
                }
                if info.protocols.contains(&KAD_PROTOCOL) {
                    for addr in info.listen_addrs.iter().filter(|a| is_dialable(a)) {
                        self.swarm
                            .behaviour_mut()
                            .kad
                            .add_address(&peer_id, addr.clone());
                    }
                } else {
                    // It answers no DHT queries (a `cairn storage` buyer, there for one
                    // command): no DHT peer, though dialling it put the address dialled in the
                    // table, before its protocols were known. Kept, it would be handed to other
                    // nodes' lookups, which would wait on dials to it once it is gone.
                    self.swarm.behaviour_mut().kad.remove_peer(&peer_id);
                }
                if info.protocols.contains(&transfer::PROTOCOL) {
                    self.add_provider(peer_id, None);
                }
            }
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                for (peer, addr) in found {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer, addr.clone());
                    if !self.swarm.is_connected(&peer) {
                        let _ = self.swarm.dial(addr);
                    }
                }
            }
            BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message,
                ..
            }) => {
                let from = message.source.unwrap_or(propagation_source);
                match serde_json::from_slice::<Offer>(&message.data) {
                    Ok(offer) if offer.free <= offer.quota => {
                        self.add_provider(from, Some(offer.free));
                    }
                    _ => tracing::debug!(%from, "ignoring a malformed offer"),
                }
            }
            BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                id,
                result: kad::QueryResult::GetClosestPeers(result),
                step,
                ..
            }) if self.peer_lookups.contains_key(&id) => {
                let peers = match result {
                    Ok(ok) => ok.peers,
                    Err(kad::GetClosestPeersError::Timeout { peers, .. }) => peers,
                };
                let want = self.peer_lookups.get(&id).map(|(peer, _)| *peer);
                let found = peers
                    .into_iter()
                    .find(|info| Some(info.peer_id) == want && !info.addrs.is_empty());
                if found.is_none() && !step.last {
                    return;
                }
                if let Some((peer, reply)) = self.peer_lookups.remove(&id) {
                    match found {
                        Some(info) => self.dial_peer(peer, info.addrs, reply),
                        None if self.swarm.is_connected(&peer) => {
                            let _ = reply.send(Ok(()));
                        }
                        None => {
                            let _ = reply.send(Err(NodeError::Dial {
                                addr: Multiaddr::empty().with(Protocol::P2p(peer)),
                                reason: "no address is known for it, here or in the DHT".into(),
                            }));
                        }
                    }
                }
            }
            BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                id,
                result: kad::QueryResult::GetProviders(result),
                step,
                ..
            }) => {
                let found = match result {
                    Ok(kad::GetProvidersOk::FoundProviders { providers, .. }) => providers,
                    _ => HashSet::new(),
                };
                if self.provider_query == Some(id) {
                    for peer in found {
                        self.add_provider(peer, None);
                    }
                    if step.last {
                        self.provider_query = None;
                    }
                } else if let Some((holders, sent)) = self.holder_queries.get_mut(&id) {
                    let mut gone = false;
                    for peer in found {
                        if sent.insert(peer) {
                            match holders.try_send(peer) {
                                Ok(()) => {}
                                Err(mpsc::error::TrySendError::Full(_)) => {
                                    tracing::debug!(%peer, "holder lookup: more holders than read");
                                }
                                Err(mpsc::error::TrySendError::Closed(_)) => gone = true,
                            }
                        }
                    }
                    gone |= holders.is_closed();
                    if step.last || gone {
                        // Dropping the sender ends the receiver's stream.
                        self.holder_queries.remove(&id);
                        if let Some(mut query) = self.swarm.behaviour_mut().kad.query_mut(&id) {
                            query.finish();
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// Opens (creating if needed) the store in `dir` off the async threads, with the objects it
/// holds (none listed if they cannot be read: they are then found when asked for).
async fn open_store(dir: PathBuf, quota: u64) -> Result<(Store, Vec<ContentId>), NodeError> {
    tokio::task::spawn_blocking(move || {
        let store = Store::open(&dir, quota)?;
        let held = store
            .list()
            .unwrap_or_default()
            .into_iter()
            .map(|info| info.id)
            .collect();
        Ok((store, held))
    })
    .await
    .map_err(|e| NodeError::Task(e.to_string()))?
}

struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl AbortOnDrop {
    /// Aborts the task and waits until it is gone.
    async fn stop(mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

/// A dial error with the innermost cause of each address's failure (the transport wraps them
/// several layers deep), e.g. a TLS certificate refused.
fn dial_error(error: &libp2p::swarm::DialError) -> String {
    match error {
        libp2p::swarm::DialError::Transport(addrs) => addrs
            .iter()
            .map(|(addr, e)| {
                let mut cause: &dyn std::error::Error = e;
                while let Some(inner) = cause.source() {
                    cause = inner;
                }
                format!("{addr}: {cause}")
            })
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}
