//! The embedded Cairn client: what the desktop app, the `cairn daemon` and the CLI all run.
//!
//! Owns the configuration of a running client, the secrets kept in its data directory (the
//! daemon's API token; the node's chain key is made by `node::market`), and the lifecycle of
//! its services: the chain follower and, when configured, the libp2p node (`node::Node`, the
//! storage provider) and the light client following a beacon chain ([`beacon`]), whose states
//! are part of every [`Status`]. What it shows as verified (a selling node's earnings,
//! [`earnings`]) rests on the light client, not on the RPC endpoint.
//!
//! The runtime is one task (the [`EventLoop`]) driven through a cloneable [`Handle`]: requests
//! go in on a bounded command channel with `oneshot` replies, the latest [`Status`] goes out on a
//! `watch` channel. The loop ends when every handle is dropped or [`Handle::shutdown`] is called.
//!
//! Builds for: native, `aarch64-linux-android` (not wasm32: the browser has the SDK instead).
//!
//! Must not depend on: Tauri, axum, the UI or any other shell; shells depend on the runtime.

mod activity;
mod announce;
pub mod beacon;
mod config;
pub mod earnings;
mod event_loop;
mod files;
pub mod settings;
pub mod token;
mod upkeep;

pub use activity::relay_served;
pub use config::{BeaconConfig, Config, MARKET_DEPLOYMENT_FILE, NodeConfig, NodeMarket};
pub use event_loop::{CLIENT_DIR, EventLoop, Handle, check_storing, start};
pub use node::RelayService;
/// A chain address (the node's payout address), parsed from `0x`-prefixed hex.
pub use node::market::Address as ChainAddress;
pub use protocol::api::{
    Activity, ActivityKind, ChainSettings, ChainState, CopyReplaced, EarningsAnchor, EarningsProof,
    EndpointSource, FetchFile, FetchedFile, FileInfo, ForgetFile, ForgotFile, LightClientSettings,
    LightClientState, MarketState, NodeInfo, NodeState, Repair, SetNodeMarket, Status, StoreFile,
    StoredFile, TransferInfo, Withdrawal,
};
pub use protocol::units::parse_size;

/// Receives every status the runtime publishes (see [`Handle::subscribe`]).
pub type StatusReceiver = tokio::sync::watch::Receiver<Status>;

/// Why the runtime could not start or answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The chain endpoint is unusable.
    #[error(transparent)]
    Rpc(#[from] chain::rpc::RpcError),
    /// The runtime task has stopped.
    #[error("the Cairn runtime has stopped")]
    Stopped,
    /// The data directory could not be used.
    #[error(transparent)]
    Token(#[from] token::TokenError),
    /// The settings saved in the data directory could not be read or saved.
    #[error(transparent)]
    Settings(#[from] settings::SettingsError),
    /// A provider's earnings could not be verified (the endpoint's answers did not check out,
    /// or it could not be reached).
    #[error("the earnings could not be verified: {0}")]
    Unverified(String),
    /// A selling node's earnings could not be withdrawn (none to withdraw, a node that does not
    /// sell storage, or the chain refused or could not be reached).
    #[error("the earnings could not be withdrawn: {0}")]
    Withdraw(String),
    /// A request cannot be carried out as given (a path that is not a file, an id that is not
    /// one); nothing was done.
    #[error("{0}")]
    Request(String),
    /// A file could not be stored or fetched (no provider, fewer copies than asked, no holder
    /// served it, the chain refused a deal).
    #[error("{0}")]
    Storage(String),
    /// A stake was given to a node that cannot register with it.
    #[error("{0}")]
    Stake(String),
    /// A node command was given to a runtime configured without a node.
    #[error(
        "this Cairn runs no node; start the daemon with --node (the desktop app runs one unless CAIRN_NODE=off)"
    )]
    NoNode,
}
