//! Cairn's libp2p node and storage market.
//!
//! Owns:
//! - [`content`]: content ids, manifests and chunk verification (pure);
//! - [`wire`]: the storage protocol's frames (pure);
//! - [`store`]: the provider's crash-safe object store (redb metadata, fsynced data, quota);
//! - [`Node`]: the libp2p swarm (TCP+Noise+Yamux, QUIC, WebSocket, identify, ping, Kademlia,
//!   gossipsub, mDNS, AutoNAT, relay client, DCUtR, UPnP, connection limits) owned by one
//!   [`EventLoop`] and driven through a cloneable [`Handle`];
//! - [`transfer`]: the provider service and the buyer [`Client`] over raw streams;
//! - [`buyer`]: the buyer's workflow over a client node: discovery, storing a file under paid
//!   deals, fetching it back verified, and the catalog of what was stored;
//! - [`market`]: quotes, deal checks, scheduled possession proofs and earnings on chain.
//!
//! Builds for: native (tested on Linux; checked for Android; meant for macOS).
//! The pure modules have no I/O.
//!
//! Must not depend on: `runtime`, `app`, `cli` or the UI (the runtime embeds the node, never the
//! reverse).

pub mod buyer;
pub mod content;
mod key;
pub mod market;
mod node;
pub mod store;
pub mod transfer;
pub mod wire;

use std::path::PathBuf;

pub use content::{ContentId, Manifest};
pub use key::KEY_FILE;
pub use libp2p::{Multiaddr, PeerId};
pub use node::{
    AUTO_RELAYS, BAN_DURATION, DIRECT_GRACE, Event, EventLoop, FORGET_AFTER_FAILED_DIALS, Handle,
    IDLE_CONNECTION_TIMEOUT, KAD_PROTOCOL, LIMITED_GRACE, LISTEN_TIMEOUT, Node, OFFER_INTERVAL,
    OFFERS_TOPIC, Options, PROTOCOL_VERSION, PROVIDERS_KEY, PUNCH_ROUND_TRIPS, ProviderInfo,
    Reachability, RelayService, WsTls,
};
pub use store::Store;
pub use transfer::{Client, Limits, TransferError};

/// Why the node could not start or a command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The identity key could not be loaded or created.
    #[error("node key {path}: {reason}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The WebSocket TLS certificate, key or trusted roots are unusable.
    #[error("wss TLS: {0}")]
    Tls(String),
    /// Building the swarm failed.
    #[error("building the node: {0}")]
    Build(String),
    /// A listen address was refused.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
    /// A dial failed, or could not start.
    #[error("cannot dial {addr}: {reason}")]
    Dial {
        /// The address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
    /// Opening the store failed.
    #[error("opening the store: {0}")]
    Store(#[from] store::StoreError),
    /// The peer is reached only through limited relays (for hole punching: every reachable
    /// node serves one by default), and no direct connection came: hole punching to it failed,
    /// or its NAT or this node's lets none through.
    #[error(
        "{peer} is reached only through relays limited to hole punching, and no hole could be punched to it (its NAT or this one's lets none through); it needs a relay that carries transfers (`cairn node --relay-server`) or a port forwarded to it"
    )]
    LimitedRelay {
        /// The peer.
        peer: PeerId,
    },
    /// The event loop has stopped.
    #[error("the node has stopped")]
    Stopped,
    /// A blocking task failed.
    #[error("internal task failed: {0}")]
    Task(String),
}

impl NodeError {
    /// Whether the node could not start only because its store is still held: by another
    /// process on the same data directory, or by a node of this process still finishing its
    /// disk reads after shutting down. Starting again later may succeed.
    pub fn is_store_in_use(&self) -> bool {
        matches!(self, NodeError::Store(store::StoreError::InUse { .. }))
    }
}
