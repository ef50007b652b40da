//! The UI <-> backend contract: one set of types for Tauri commands/events and the daemon's JSON API.
//!
//! Tauri command names and event names live here too, so the app and the UI cannot drift apart.

use serde::{Deserialize, Serialize};

/// Tauri command returning the current [`Status`].
pub const COMMAND_STATUS: &str = "status";
/// Tauri event carrying a fresh [`Status`] each time the runtime publishes one.
pub const EVENT_STATUS: &str = "cairn://status";
/// Daemon route returning the current [`Status`] as JSON.
pub const HTTP_STATUS_PATH: &str = "/api/status";
/// Tauri command setting the embedded node's quota (arguments: [`SetNodeQuota`]); returns the
/// new [`Status`].
pub const COMMAND_SET_NODE_QUOTA: &str = "set_node_quota";
/// Daemon route (`PUT`, body [`SetNodeQuota`]) setting the embedded node's quota; answers with
/// the new [`Status`].
pub const HTTP_NODE_QUOTA_PATH: &str = "/api/node/quota";
/// Tauri command giving a selling node the stake it registers with in the Registry (arguments:
/// [`SetNodeStake`]); returns the status.
pub const COMMAND_SET_NODE_STAKE: &str = "set_node_stake";
/// Daemon route (`PUT`, body [`SetNodeStake`]) giving a selling node the stake it registers
/// with; answers with the status.
pub const HTTP_NODE_STAKE_PATH: &str = "/api/node/stake";
/// Tauri command setting the beacon chain the light client follows, or stopping it (arguments:
/// [`SetLightClient`]); returns the new [`Status`].
pub const COMMAND_SET_LIGHT_CLIENT: &str = "set_light_client";
/// Daemon route (`PUT`, body [`SetLightClient`]) setting the beacon chain the light client
/// follows, or stopping it; answers with the new [`Status`].
pub const HTTP_LIGHT_CLIENT_PATH: &str = "/api/light-client";
/// Tauri command having a node that does not sell storage start selling it (arguments:
/// [`SetNodeMarket`]); returns the new [`Status`].
pub const COMMAND_SET_NODE_MARKET: &str = "set_node_market";
/// Daemon route (`PUT`, body [`SetNodeMarket`]) having a node that does not sell storage start
/// selling it; answers with the new [`Status`].
pub const HTTP_NODE_MARKET_PATH: &str = "/api/node/market";
/// Tauri command paying a selling node's earnings to its payout address (no arguments); returns
/// the [`Withdrawal`].
pub const COMMAND_WITHDRAW_EARNINGS: &str = "withdraw_earnings";
/// Daemon route (`POST`, no body) paying a selling node's earnings to its payout address;
/// answers with the [`Withdrawal`].
pub const HTTP_WITHDRAW_EARNINGS_PATH: &str = "/api/node/earnings/withdraw";
/// Tauri command setting the chain endpoint the runtime reads and sells on, or returning to
/// the one the shell was given (arguments: [`SetChain`]); returns the new [`Status`].
pub const COMMAND_SET_CHAIN: &str = "set_chain";
/// Daemon route (`PUT`, body [`SetChain`]) setting the chain endpoint, or returning to the one
/// the daemon was given; answers with the new [`Status`].
pub const HTTP_CHAIN_PATH: &str = "/api/chain";
/// Tauri command storing a file on the network through the embedded node (arguments:
/// [`StoreFile`]); returns the [`StoredFile`] once every copy is stored.
pub const COMMAND_STORE_FILE: &str = "store_file";
/// Daemon route (`POST`, body [`StoreFile`]) storing a file on the network; answers with the
/// [`StoredFile`] once every copy is stored.
pub const HTTP_FILES_PATH: &str = "/api/files";
/// Tauri command fetching a stored object back to a file (arguments: [`FetchFile`]); returns the
/// [`FetchedFile`].
pub const COMMAND_FETCH_FILE: &str = "fetch_file";
/// Tauri command opening the system's file dialog to pick a file to store (no arguments);
/// returns its path, or `null` when the dialog was cancelled.
pub const COMMAND_PICK_FILE: &str = "pick_file";
/// Tauri command opening the system's save dialog to choose where a fetched file goes
/// (arguments: [`PickSaveFile`]); returns the path, or `null` when the dialog was cancelled.
pub const COMMAND_PICK_SAVE_FILE: &str = "pick_save_file";
/// Daemon route (`POST`, body [`FetchFile`]) fetching a stored object back to a file; answers
/// with the [`FetchedFile`].
pub const HTTP_FETCH_FILE_PATH: &str = "/api/files/fetch";
/// Daemon route (`POST`) storing a file the browser sends: the file's bytes are the body
/// (`Content-Type: application/octet-stream`), its name and the copies are the query
/// ([`UploadFile`]: `?name=photo.jpg&copies=2`). Answers with the [`StoredFile`] once every copy
/// is stored; the daemon keeps no copy of its own.
pub const HTTP_UPLOAD_FILE_PATH: &str = "/api/files/upload";
/// Daemon route (`POST`, body [`DownloadFile`]) fetching a stored object, every chunk verified,
/// for the browser to download; answers with the [`DownloadReady`] link.
pub const HTTP_DOWNLOAD_FILE_PATH: &str = "/api/files/download";
/// Where the links of [`DownloadReady`] point: `GET /api/downloads/<ticket>`, without a token
/// (the ticket, 128 random bits, is the secret), with byte ranges, until the link expires.
pub const HTTP_DOWNLOADS_PATH: &str = "/api/downloads";
/// Tauri command forgetting a stored file (arguments: [`ForgetFile`]): it is no longer kept or
/// renewed, and its deals are ended; returns the [`ForgotFile`].
pub const COMMAND_FORGET_FILE: &str = "forget_file";
/// Daemon route (`POST`, body [`ForgetFile`]) forgetting a stored file; answers with the
/// [`ForgotFile`].
pub const HTTP_FORGET_FILE_PATH: &str = "/api/files/forget";
/// Tauri command paying what the market owes the node's account as a buyer to that account
/// (no arguments); returns the [`Withdrawal`].
pub const COMMAND_WITHDRAW_REFUNDS: &str = "withdraw_refunds";
/// Daemon route (`POST`, no body) paying what the market owes the node's account as a buyer;
/// answers with the [`Withdrawal`].
pub const HTTP_WITHDRAW_REFUNDS_PATH: &str = "/api/files/refunds/withdraw";
/// Daemon route that answers without a token, for liveness probes.
pub const HTTP_HEALTH_PATH: &str = "/api/health";
/// URL fragment key carrying the daemon's API token to the browser UI.
pub const TOKEN_FRAGMENT_KEY: &str = "token";

/// A snapshot of the embedded runtime, as shown on the UI's first screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Cairn version of the runtime that produced this snapshot.
    pub version: String,
    /// Human name of the network the runtime is configured for (for example `devnet`).
    pub network: String,
    /// JSON-RPC endpoint the runtime reads the chain from.
    pub rpc_url: String,
    /// Where that endpoint comes from (absent from runtimes that predate it:
    /// [`EndpointSource::Given`]).
    #[serde(default)]
    pub rpc_source: EndpointSource,
    /// Connection state of the chain reader.
    pub chain: ChainState,
    /// Seconds since the runtime started.
    pub uptime_secs: u64,
    /// The embedded libp2p node (absent from runtimes that predate it: [`NodeState::Off`]).
    #[serde(default)]
    pub node: NodeState,
    /// The light client, while the runtime follows a beacon chain; absent otherwise (a devnet
    /// has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub light_client: Option<LightClientState>,
}

/// What the runtime's light client has verified of the beacon chain it follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LightClientState {
    /// The beacon network's name (`mainnet`, or a custom network's).
    pub network: String,
    /// The beacon API endpoints it follows the chain through.
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// The trusted checkpoint it was configured with (a finalized beacon block root, 0x-hex);
    /// it goes on from the latest one it verified.
    #[serde(default)]
    pub checkpoint: String,
    /// The latest head it verified, once there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<VerifiedHead>,
    /// Why its last sync round gave no new head, if it failed; the head above, if any, stays
    /// verified (only older).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A beacon header the light client verified (signed by more than the safety threshold of the
/// sync committee), and the execution block it commits to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedHead {
    /// The header's slot.
    pub slot: u64,
    /// The execution block's number.
    pub block: u64,
    /// The execution block's hash (0x-hex).
    pub block_hash: String,
}

/// A running node, as [`NodeState::Running`] carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo {
    /// The node's libp2p peer id (base58), stable across restarts.
    pub peer_id: String,
    /// Full multiaddrs it listens on, each ending in `/p2p/<peer id>`.
    pub listen_addrs: Vec<String>,
    /// Peers with at least one open connection.
    pub connected_peers: u32,
    /// Objects stored for buyers.
    pub objects: u64,
    /// Bytes those objects take.
    pub stored_bytes: u64,
    /// Disk offered to buyers, in bytes (0: a plain peer that stores nothing).
    pub quota_bytes: u64,
    /// Room left on the store's disk for new objects (its free space less what is kept spare
    /// and what is being received), when the platform says. New objects need room under both
    /// this and the quota.
    #[serde(default)]
    pub disk_room_bytes: Option<u64>,
    /// Objects found corrupt on disk (never served again).
    pub corrupt_objects: u64,
    /// Its on-chain market, when it sells storage.
    #[serde(default)]
    pub market: Option<MarketState>,
    /// Transfers under way with peers (objects being received or served).
    #[serde(default)]
    pub transfers: Vec<TransferInfo>,
    /// What the node did lately, newest first, at most [`ACTIVITY_LEN`] entries.
    #[serde(default)]
    pub activity: Vec<Activity>,
    /// Why the node does not sell storage although it was set to (the market saved from the UI
    /// could not be used at start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market_error: Option<String>,
    /// The files this client stored on other providers (its catalog), by name.
    #[serde(default)]
    pub files: Vec<FileInfo>,
    /// Why the catalog of stored files cannot be read, when it cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_error: Option<String>,
    /// Whether other nodes can dial it, as they last found by dialling it back (AutoNAT); a
    /// node they cannot reach is reached through the relays in `listen_addrs`
    /// (`…/p2p-circuit/…`).
    #[serde(default)]
    pub reachability: Reachability,
    /// The relay it serves nodes behind NATs: one for hole punching by default, once other
    /// nodes can reach it.
    #[serde(default)]
    pub relay: RelayServed,
}

/// The relay a node serves others, as [`NodeInfo::relay`] carries it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RelayServed {
    /// None: no address of it is known to be reachable yet, or it was told to serve none.
    #[default]
    None,
    /// One for hole punching: each circuit carries 2 minutes and 128 KiB at most.
    Limited,
    /// One that carries whole transfers.
    Full,
}

/// Whether other nodes can dial a node, as [`NodeInfo::reachability`] carries it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum Reachability {
    /// Not known yet: no peer able to try has dialled it back yet.
    #[default]
    Unknown,
    /// A peer dialled it back at `addr`.
    Public {
        /// The address it was reached at.
        addr: String,
    },
    /// No peer could dial it back (a NAT or a firewall without UPnP): it is reached through
    /// relays only.
    Private,
}

/// A file this client stored on the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileInfo {
    /// Its content id (64 hex digits): what fetches it back.
    pub id: String,
    /// The file's name when it was stored.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// The providers holding a copy (peer ids).
    pub holders: Vec<String>,
    /// The on-chain deals its copies were bought under (none from free providers).
    #[serde(default)]
    pub deals: Vec<u64>,
    /// When the first of those deals stops being paid (Unix seconds): a copy need not be kept
    /// after its deal ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_until: Option<u64>,
    /// Periods proven so far over all its copies' deals.
    #[serde(default)]
    pub proven_periods: u32,
    /// Periods missed so far over all its copies' deals (each refunded).
    #[serde(default)]
    pub missed_periods: u32,
    /// Periods its copies' deals run for, together (the replaced copies' included).
    #[serde(default)]
    pub periods: u32,
    /// Copies given up because their provider missed a proof, each replaced by a copy bought
    /// from another provider; oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaced: Vec<CopyReplaced>,
    /// A copy being replaced now, or why the last try failed and when the next one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repair: Option<Repair>,
    /// Until when it is kept (Unix seconds): its copies are not bought again for later. Absent:
    /// while it is listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_until: Option<u64>,
}

/// A copy replaced by another (see [`FileInfo::replaced`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyReplaced {
    /// The deal given up: its provider missed a proof (ended early, the periods not yet started
    /// refunded), or it was ending (`renewed`).
    pub deal: u64,
    /// The deal of the copy bought in its place.
    pub by_deal: u64,
    /// When (Unix seconds).
    pub at: u64,
    /// Bought again from the same provider (its deal was ending); otherwise moved to another
    /// provider (its provider missed a proof, or did not serve the file).
    #[serde(default)]
    pub renewed: bool,
    /// Moved to a provider that fetched the copy from the other holders itself: nothing was
    /// sent from the node that keeps the file.
    #[serde(default)]
    pub pulled: bool,
}

/// A copy bought again: its provider missed a proof, or its deal is ending (`renewal`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum Repair {
    /// Under way: the object is fetched back verified and bought again, from another
    /// provider, or for a renewal from the same one if it served it.
    #[serde(rename_all = "camelCase")]
    Replacing {
        /// The deal whose copy is replaced.
        deal: u64,
        /// A renewal (its deal is ending), not a missed proof.
        #[serde(default)]
        renewal: bool,
    },
    /// The last try failed; the next is at `retry_at`.
    #[serde(rename_all = "camelCase")]
    Failed {
        /// The deal whose copy is to be replaced.
        deal: u64,
        /// A renewal (its deal is ending), not a missed proof.
        #[serde(default)]
        renewal: bool,
        /// Why.
        error: String,
        /// When it is tried again (Unix seconds).
        retry_at: u64,
    },
}

/// Store a file on the network: `copies` copies on distinct providers, each under its own deal
/// paid by the node's chain key when the node sells on a market.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StoreFile {
    /// Path of the file, as the node's host sees it.
    pub path: String,
    /// Copies on distinct providers (at least 1).
    pub copies: u32,
    /// Until when to keep it (Unix seconds, in the future): its copies are not bought again for
    /// later than that. Absent: while it is listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_until: Option<u64>,
}

/// A file stored by [`StoreFile`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredFile {
    /// What was stored, and under which deals.
    pub file: FileInfo,
}

/// Fetch a stored object back to a file, every chunk verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FetchFile {
    /// The content id (64 hex digits).
    pub id: String,
    /// Where to write it, as the node's host sees it: a new file in an existing directory.
    pub output: String,
}

/// Open the save dialog ([`COMMAND_PICK_SAVE_FILE`]) with a file name to start from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PickSaveFile {
    /// The name the dialog suggests (the stored file's; empty for none).
    pub name: String,
}

/// An object fetched by [`FetchFile`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FetchedFile {
    /// The file written.
    pub output: String,
    /// Bytes written, each chunk verified against the content id.
    pub bytes: u64,
    /// The holders that served chunks.
    pub holders: Vec<String>,
}

/// The query of [`HTTP_UPLOAD_FILE_PATH`]: how to store the file in the request's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UploadFile {
    /// The file's name (no folder), as the list of files shows it.
    pub name: String,
    /// Copies on distinct providers (at least 1).
    pub copies: u32,
    /// As [`StoreFile::keep_until`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_until: Option<u64>,
}

/// Fetch a stored object, every chunk verified, for the browser to download.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DownloadFile {
    /// The content id (64 hex digits).
    pub id: String,
}

/// An object fetched by [`DownloadFile`], ready for the browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DownloadReady {
    /// The link to download it from, under [`HTTP_DOWNLOADS_PATH`].
    pub url: String,
    /// The name to save it as: the file's name in the list, else its content id.
    pub name: String,
    /// Its size, each chunk verified against the content id.
    pub bytes: u64,
    /// The holders that served chunks.
    pub holders: Vec<String>,
    /// Seconds the link stays valid.
    pub expires_in: u64,
}

/// Stop keeping a stored file: it leaves the list, is no longer renewed, and its deals are ended
/// (the periods not yet started refunded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ForgetFile {
    /// The content id (64 hex digits).
    pub id: String,
}

/// A file forgotten by [`ForgetFile`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForgotFile {
    /// The file's name when it was stored.
    pub name: String,
    /// The deals ended.
    pub ended: Vec<u64>,
    /// Refunded for them, in token base units (decimal), owed to the node's account.
    pub refunded: String,
    /// Deals that could not be ended, and why (they run to their end, paid while proven).
    pub not_ended: Vec<String>,
}

/// How many [`Activity`] entries a [`NodeInfo`] keeps.
pub const ACTIVITY_LEN: usize = 20;

/// A transfer under way between the node and a peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferInfo {
    /// The object's content id (hex).
    pub object: String,
    /// The other side's peer id.
    pub peer: String,
    /// `true`: the node sends (serves a download); `false`: it receives (stores an upload).
    pub sending: bool,
    /// The peer, a provider, fetches the object from other holders for this node (a copy moved
    /// to it): nothing passes through this node, and `sending` is `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pulling: bool,
    /// Bytes done so far.
    pub done_bytes: u64,
    /// Bytes in all.
    pub total_bytes: u64,
}

/// One thing the node did, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    /// When, in seconds since the Unix epoch.
    pub at: u64,
    /// What.
    #[serde(flatten)]
    pub what: ActivityKind,
}

/// What an [`Activity`] was. In JSON, `"kind"` names it beside its fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ActivityKind {
    /// An object a buyer uploaded was stored durably.
    Stored {
        /// Content id (hex).
        object: String,
        /// Its size.
        bytes: u64,
        /// The buyer's peer id.
        peer: String,
    },
    /// A download was served to the end.
    Served {
        /// Content id (hex).
        object: String,
        /// Bytes sent.
        bytes: u64,
        /// Who asked.
        peer: String,
    },
    /// A possession proof was submitted; `accepted` is the chain's verdict.
    Proof {
        /// The deal.
        deal: u64,
        /// The period proven.
        period: u32,
        /// Whether the chain accepted it.
        accepted: bool,
    },
    /// An object whose every deal had ended was deleted, its quota freed.
    Released {
        /// Content id (hex).
        object: String,
        /// Bytes freed.
        bytes: u64,
        /// Its deals, all ended.
        deals: Vec<u64>,
    },
    /// An object was found corrupt on disk; it is no longer served.
    Corrupt {
        /// Content id (hex).
        object: String,
        /// The first bad chunk.
        chunk: u64,
    },
    /// A peer was throttled (and maybe banned) for sending too much or garbage.
    Throttled {
        /// The peer.
        peer: String,
        /// Whether it was banned for a while.
        banned: bool,
    },
}

impl NodeState {
    /// The running node's values, if it runs.
    pub fn running(&self) -> Option<&NodeInfo> {
        match self {
            NodeState::Running(info) => Some(info.as_ref()),
            _ => None,
        }
    }
}

/// A selling node's standing on chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarketState {
    /// The provider's chain address (checksummed hex), which signs its quotes and proofs.
    pub provider: String,
    /// Unwithdrawn earnings in token base units (a decimal string: JSON numbers cannot hold
    /// them), verified against the block in `earnings_proof`; `None` until first verified.
    pub earnings: Option<String>,
    /// What `earnings` was proven against; absent until first verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earnings_proof: Option<EarningsProof>,
    /// Why the latest earnings could not be verified (the endpoint's answers did not check
    /// out, or it could not be reached); `earnings` keeps the last verified value. Absent once
    /// a verification succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earnings_error: Option<String>,
    /// Where the provider's earnings are paid (checksummed hex), as its Registry entry names
    /// it; absent until the node is registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payout: Option<String>,
    /// Possession proofs the chain accepted since the node started.
    pub proofs_accepted: u64,
    /// Possession proofs the chain rejected since the node started (data lost or corrupt).
    pub proofs_rejected: u64,
    /// Why the node is not announced in the Registry yet (say, the chain is unreachable); it
    /// is tried again on every tick. Meanwhile the node serves and proves what it holds, but new
    /// buyers do not find it on chain. Absent once announced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub announce_error: Option<String>,
    /// What the market owes the node's account as a buyer (token base units, decimal): periods
    /// its providers missed, deals it ended. Verified with the earnings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refunds: Option<String>,
    /// The deals the node bought for its files, as the chain resolved them (verified with the
    /// earnings).
    #[serde(default)]
    pub bought: Vec<BoughtDeal>,
}

/// A deal the node bought, as the chain resolved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BoughtDeal {
    /// The deal.
    pub deal: u64,
    /// Periods its provider proved (and was paid for).
    pub proven: u32,
    /// Periods it missed (refunded to the buyer; the provider slashed).
    pub missed: u32,
    /// The periods it runs for.
    pub periods: u32,
    /// It ends soon, or is over (chain time; within a quarter of a period, at least 10 min, at
    /// most its last period): a copy kept past it must be bought again.
    #[serde(default)]
    pub ending: bool,
    /// When its last period ends (Unix seconds, chain time).
    #[serde(default)]
    pub ends_at: u64,
}

/// The block a selling node's earnings were verified against: its state root proves the
/// `StorageMarket` account, storage and code the earnings call ran over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EarningsProof {
    /// The block's number.
    pub block: u64,
    /// The block's hash (the header fetched hashed to it).
    pub block_hash: String,
    /// How that hash is trusted.
    pub anchor: EarningsAnchor,
}

/// How the block earnings are verified against is itself trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EarningsAnchor {
    /// The endpoint's latest block, taken at its word (all a devnet allows: it has no beacon
    /// chain whose signed headers the light client could check). The earnings are proven
    /// consistent with the block the endpoint names.
    Endpoint,
    /// The execution block of a beacon header the runtime's light client verified (signed by
    /// more than the safety threshold of the sync committee it follows from a trusted
    /// checkpoint): the endpoint's word is not taken for the block either.
    #[serde(rename_all = "camelCase")]
    Beacon {
        /// The signed beacon header's slot.
        slot: u64,
    },
}

/// What the runtime's embedded libp2p node (the storage provider) is doing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum NodeState {
    /// The runtime was configured without a node.
    #[default]
    Off,
    /// The node is opening its key, its store and its listeners.
    Starting,
    /// The node is up; values are as read at the runtime's last tick. In JSON its fields sit
    /// beside `"state": "running"`.
    Running(Box<NodeInfo>),
    /// The node could not start or has stopped; the runtime keeps running without it.
    #[serde(rename_all = "camelCase")]
    Failed {
        /// What went wrong, in words a user can act on.
        error: String,
    },
}

/// What the runtime knows about the chain it follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum ChainState {
    /// No answer yet since start.
    Connecting,
    /// The endpoint answered; values are as read at `observed_at_uptime_secs`.
    #[serde(rename_all = "camelCase")]
    Connected {
        /// EIP-155 chain id reported by the endpoint.
        chain_id: u64,
        /// Latest block number reported by the endpoint.
        latest_block: u64,
    },
    /// The last attempt failed; the runtime keeps retrying.
    #[serde(rename_all = "camelCase")]
    Unreachable {
        /// What went wrong, in words a user can act on.
        error: String,
        /// Values from the last successful read, if any.
        last_chain_id: Option<u64>,
    },
}

impl ChainState {
    /// The chain id, if one was ever read.
    pub fn chain_id(&self) -> Option<u64> {
        match self {
            ChainState::Connected { chain_id, .. } => Some(*chain_id),
            ChainState::Unreachable { last_chain_id, .. } => *last_chain_id,
            ChainState::Connecting => None,
        }
    }
}

/// The stake a selling node registers with in the Registry, when it is not registered yet. It is
/// saved in the data directory and used at the next start too, unless the shell was given a
/// stake explicitly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetNodeStake {
    /// Whole CAIRN tokens to lock as stake when the node registers.
    pub tokens: u64,
}

/// The beacon chain for the light client to follow, as a user types it: saved in the data
/// directory and used at the next start too, unless the shell was given one explicitly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LightClientSettings {
    /// `mainnet`, `sepolia`, `hoodi`, or the path of a network configuration JSON file.
    pub network: String,
    /// Beacon API base URLs (several give failover, and the head is cross-checked between
    /// them).
    pub endpoints: Vec<String>,
    /// The trusted checkpoint the first sync starts from: a finalized beacon block root, 0x and
    /// 64 hex digits.
    pub checkpoint: String,
}

/// Follow a beacon chain with the light client (`settings`), or stop following one (`null`):
/// the node's earnings are then anchored on the endpoint's latest block again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetLightClient {
    /// The beacon chain to follow, or `None` to stop.
    pub settings: Option<LightClientSettings>,
}

/// Where the chain endpoint a runtime reads comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EndpointSource {
    /// The shell's flag or environment (`--rpc-url`, `CAIRN_RPC_URL`); it wins at every start.
    #[default]
    Given,
    /// Set from the UI ([`SetChain`]) and saved in the data directory.
    Saved,
    /// Nothing was given or saved: the embedded local devnet.
    Default,
}

/// A chain endpoint as a user types it: saved in the data directory and used at the next start
/// too, unless the shell was given one explicitly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChainSettings {
    /// The chain's JSON-RPC endpoint, an http(s) URL.
    pub rpc_url: String,
    /// The network's name as shown; empty: named after the chain id the endpoint serves
    /// (`mainnet`, `sepolia`, `hoodi`, `devnet` for anvil's 31337, else `chain <id>`).
    #[serde(default)]
    pub network: String,
}

/// Read the chain (and sell storage on it) through another endpoint (`settings`), or return to
/// the one the shell was given, else the local devnet (`null`). An endpoint is checked first:
/// it must answer with its chain id, and a node that sells storage must stay on its chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetChain {
    /// The endpoint to use, or `None` for the shell's (else the devnet's).
    pub settings: Option<ChainSettings>,
}

/// Sell the node's storage on chain, on the contracts a deployment file names (the one
/// `cairn devnet --deployment-file` writes, or a network's), with the node's own chain key; saved
/// in the data directory and used at the next start too, unless the shell was given a market.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetNodeMarket {
    /// Path of the contracts' deployment file (JSON), as the node's host sees it.
    pub deployment_file: String,
    /// Where the earnings are paid (0x and 40 hex digits), if not to the node's own address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payout: Option<String>,
}

/// A new quota for the embedded node: the disk offered to buyers. It is saved in the data
/// directory and used at the next start too, unless the shell was given a quota explicitly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetNodeQuota {
    /// Bytes; 0 makes a plain peer that accepts nothing new.
    pub quota_bytes: u64,
}

/// Earnings paid out of the market to a provider's payout address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Withdrawal {
    /// Token base units paid (18 decimals), as a decimal string.
    pub amount: String,
    /// The payout address they were paid to (checksummed).
    pub payout: String,
    /// The `withdrawEarnings` transaction's hash (0x-hex).
    pub transaction: String,
}

/// The error body every failing daemon API call returns, with an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// Stable machine-readable code, for example `unauthorized`.
    pub code: String,
    /// What was wrong and what to do about it.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_with_camel_case_fields() {
        let status = Status {
            version: "0.1.0".into(),
            network: "devnet".into(),
            rpc_url: "http://127.0.0.1:8545".into(),
            rpc_source: EndpointSource::Saved,
            chain: ChainState::Connected {
                chain_id: 31337,
                latest_block: 12,
            },
            uptime_secs: 3,
            light_client: Some(LightClientState {
                network: "mainnet".into(),
                endpoints: vec!["https://beacon.example".into()],
                checkpoint: format!("0x{}", "5a".repeat(32)),
                head: Some(VerifiedHead {
                    slot: 13_000_000,
                    block: 23_900_000,
                    block_hash: format!("0x{}", "cd".repeat(32)),
                }),
                error: None,
            }),
            node: NodeState::Running(Box::new(NodeInfo {
                peer_id: "12D3KooWExample".into(),
                listen_addrs: vec!["/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWExample".into()],
                reachability: Reachability::Public {
                    addr: "/ip4/203.0.113.7/tcp/4001".into(),
                },
                relay: RelayServed::Limited,
                connected_peers: 2,
                objects: 1,
                stored_bytes: 1024,
                quota_bytes: 1 << 30,
                disk_room_bytes: Some(5 << 30),
                corrupt_objects: 0,
                market: Some(MarketState {
                    provider: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8".into(),
                    earnings: Some("340282366920938463463374607431768211455".into()),
                    earnings_proof: Some(EarningsProof {
                        block: 42,
                        block_hash: format!("0x{}", "ab".repeat(32)),
                        anchor: EarningsAnchor::Endpoint,
                    }),
                    earnings_error: None,
                    payout: Some("0x90F79bf6EB2c4f870365E785982E1f101E93b906".into()),
                    proofs_accepted: 3,
                    proofs_rejected: 1,
                    announce_error: None,
                    refunds: Some("10000000000000000".into()),
                    bought: vec![BoughtDeal {
                        deal: 7,
                        proven: 2,
                        missed: 1,
                        periods: 24,
                        ending: false,
                        ends_at: 1_764_086_400,
                    }],
                }),
                transfers: vec![TransferInfo {
                    object: "ab".repeat(32),
                    peer: "12D3KooWBuyer".into(),
                    sending: false,
                    pulling: false,
                    done_bytes: 262_144,
                    total_bytes: 1_000_000,
                }],
                activity: vec![
                    Activity {
                        at: 1_764_000_000,
                        what: ActivityKind::Proof {
                            deal: 7,
                            period: 2,
                            accepted: true,
                        },
                    },
                    Activity {
                        at: 1_763_999_990,
                        what: ActivityKind::Stored {
                            object: "ab".repeat(32),
                            bytes: 1_000_000,
                            peer: "12D3KooWBuyer".into(),
                        },
                    },
                ],
                market_error: None,
                files: vec![FileInfo {
                    id: "ab".repeat(32),
                    name: "photo.jpg".into(),
                    size: 1_000_000,
                    holders: vec!["12D3KooWHolder".into()],
                    deals: vec![7],
                    paid_until: Some(1_764_086_400),
                    proven_periods: 2,
                    missed_periods: 1,
                    periods: 24,
                    replaced: vec![CopyReplaced {
                        deal: 3,
                        by_deal: 7,
                        at: 1_763_990_000,
                        renewed: false,
                        pulled: true,
                    }],
                    repair: Some(Repair::Failed {
                        deal: 7,
                        renewal: true,
                        error: "no provider could take another copy".into(),
                        retry_at: 1_764_000_060,
                    }),
                    keep_until: Some(1_798_761_600),
                }],
                files_error: None,
            })),
        };
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["chain"]["state"], "connected");
        assert_eq!(json["chain"]["chainId"], 31337);
        assert_eq!(json["uptimeSecs"], 3);
        assert_eq!(json["rpcSource"], "saved");
        assert_eq!(json["node"]["state"], "running");
        assert_eq!(json["node"]["connectedPeers"], 2);
        assert_eq!(json["node"]["quotaBytes"], 1u64 << 30);
        let file = &json["node"]["files"][0];
        assert_eq!(file["replaced"][0]["byDeal"], 7);
        assert_eq!(file["repair"]["state"], "failed");
        assert_eq!(file["repair"]["retryAt"], 1_764_000_060);
        assert_eq!(file["repair"]["renewal"], true);
        assert_eq!(file["keepUntil"], 1_798_761_600);
        assert_eq!(json["node"]["market"]["proofsAccepted"], 3);
        assert_eq!(
            json["node"]["market"]["earningsProof"],
            serde_json::json!({"block": 42, "blockHash": format!("0x{}", "ab".repeat(32)), "anchor": "endpoint"})
        );
        assert_eq!(
            json["node"]["market"]["payout"],
            "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
        );
        assert_eq!(
            json["lightClient"],
            serde_json::json!({
                "network": "mainnet",
                "endpoints": ["https://beacon.example"],
                "checkpoint": format!("0x{}", "5a".repeat(32)),
                "head": {"slot": 13_000_000u64, "block": 23_900_000u64, "blockHash": format!("0x{}", "cd".repeat(32))},
            })
        );
        let beacon = serde_json::to_value(EarningsAnchor::Beacon { slot: 9 }).unwrap();
        assert_eq!(beacon, serde_json::json!({"beacon": {"slot": 9}}));
        assert_eq!(
            serde_json::from_value::<EarningsAnchor>(beacon).unwrap(),
            EarningsAnchor::Beacon { slot: 9 }
        );
        assert_eq!(json["node"]["transfers"][0]["doneBytes"], 262_144);
        assert_eq!(
            json["node"]["activity"][0],
            serde_json::json!({"at": 1_764_000_000u64, "kind": "proof", "deal": 7, "period": 2, "accepted": true})
        );
        assert_eq!(json["node"]["activity"][1]["kind"], "stored");
        assert_eq!(json["node"]["files"][0]["name"], "photo.jpg");
        assert_eq!(json["node"]["files"][0]["missedPeriods"], 1);
        assert_eq!(
            json["node"]["market"]["bought"][0],
            serde_json::json!({"deal": 7, "proven": 2, "missed": 1, "periods": 24, "ending": false, "endsAt": 1_764_086_400u64})
        );
        // Read before `ending` was: not ending.
        let older: BoughtDeal =
            serde_json::from_str(r#"{"deal": 7, "proven": 2, "missed": 1, "periods": 24}"#)
                .unwrap();
        assert!(!older.ending);
        assert_eq!(older.ends_at, 0);
        assert!(
            json["node"]["market"].get("announceError").is_none(),
            "an announced node's market has no announceError key"
        );
        assert_eq!(
            json["node"]["market"]["earnings"],
            u128::MAX.to_string(),
            "earnings beyond 2^53 survive as a string"
        );
        let back: Status = serde_json::from_value(json).unwrap();
        assert_eq!(back, status);
    }

    #[test]
    fn light_client_settings_are_set_or_cleared_and_unknown_fields_refused() {
        let set: SetLightClient = serde_json::from_value(serde_json::json!({
            "settings": {
                "network": "sepolia",
                "endpoints": ["https://a.example", "https://b.example"],
                "checkpoint": format!("0x{}", "5a".repeat(32)),
            }
        }))
        .unwrap();
        let settings = set.settings.unwrap();
        assert_eq!(settings.network, "sepolia");
        assert_eq!(settings.endpoints.len(), 2);
        let stop: SetLightClient =
            serde_json::from_value(serde_json::json!({ "settings": null })).unwrap();
        assert_eq!(stop.settings, None);
        let typo = serde_json::from_value::<SetLightClient>(serde_json::json!({
            "settings": {"network": "mainnet", "endpoint": [], "checkpoint": ""}
        }));
        assert!(typo.unwrap_err().to_string().contains("endpoint"));
    }

    #[test]
    fn a_status_without_a_node_field_reads_as_node_off() {
        let json = serde_json::json!({
            "version": "0.1.0",
            "network": "devnet",
            "rpcUrl": "http://127.0.0.1:8545",
            "chain": {"state": "connecting"},
            "uptimeSecs": 0,
        });
        let status: Status = serde_json::from_value(json).unwrap();
        assert_eq!(status.node, NodeState::Off);
        assert_eq!(status.rpc_source, EndpointSource::Given);
    }

    #[test]
    fn chain_settings_are_set_or_cleared_and_the_name_is_optional() {
        let set: SetChain = serde_json::from_value(serde_json::json!({
            "settings": {"rpcUrl": "https://rpc.example"}
        }))
        .unwrap();
        let settings = set.settings.unwrap();
        assert_eq!(settings.rpc_url, "https://rpc.example");
        assert_eq!(settings.network, "");
        let back: SetChain =
            serde_json::from_value(serde_json::json!({ "settings": null })).unwrap();
        assert_eq!(back.settings, None);
        let typo = serde_json::from_value::<SetChain>(serde_json::json!({
            "settings": {"url": "https://rpc.example"}
        }));
        assert!(typo.unwrap_err().to_string().contains("url"));
    }

    #[test]
    fn chain_id_survives_an_outage() {
        let state = ChainState::Unreachable {
            error: "connection refused".into(),
            last_chain_id: Some(5),
        };
        assert_eq!(state.chain_id(), Some(5));
        assert_eq!(ChainState::Connecting.chain_id(), None);
    }
}
