//! The light client's I/O edge for execution data: it fetches over JSON-RPC from an untrusted
//! node and hands everything to the pure `light-client` crate to verify before anyone sees it.
//!
//! - [`Rpc`]: a small JSON-RPC client (single and batched requests), reqwest natively and the
//!   browser's `fetch` on wasm32 (reqwest picks it).
//! - [`ExecutionClient`]: execution-only mode: anchors on a trusted block hash (the header must
//!   hash to it), walks parent hashes, proves accounts and storage with `eth_getProof`, checks code
//!   hashes, and re-executes `eth_call` / `eth_estimateGas` with revm over proven state in two
//!   round trips (`eth_createAccessList`, then one batch of proofs and code), fetching more only
//!   if execution touches state the access list missed. Within the anchor and up to
//!   [`MAX_DEPTH`] of its ancestors it also serves blocks with verified transactions,
//!   transactions and receipts by hash, block receipts, and logs over at most
//!   [`MAX_LOG_RANGE`] blocks (bodies against `transactionsRoot`, receipts against
//!   `receiptsRoot`, logs only out of verified receipts, blocks skipped by their verified bloom).
//! - [`BeaconSync`]: consensus sync from beacon endpoints: bootstrap from a trusted checkpoint,
//!   period updates in batches, then finality and optimistic updates only; SSZ preferred with a
//!   JSON fallback, failover and cross-checking across endpoints (liars are named and skipped),
//!   and the latest verified checkpoint persisted through a [`CheckpointStore`]
//!   ([`FileCheckpoint`] natively, `IndexedDbCheckpoint` with `rexie` in the browser).
//! - [`Provider`]: an EIP-1193-style `request(method, params)` answering only with verified data.
//! - `VerifiedTransport` (native): the provider as an alloy transport, so alloy's typed API reads
//!   verified data.
//! - [`Follower`]: keeps a provider on the chain's head: a beacon sync round per step, then an
//!   execution anchor on the verified optimistic header's block hash.
//!
//! Builds for: native (and wasm32 through reqwest's fetch backend).
//!
//! Must not depend on: `runtime`, the app, the UI or any shell crate. Verification itself lives
//! in `light-client`; nothing here decides whether data is valid.

mod beacon;
mod blocks;
mod checkpoint;
mod client;
mod follow;
mod provider;
mod rpc;
#[cfg(not(target_arch = "wasm32"))]
mod transport;

pub use beacon::{BeaconError, BeaconSync, Fault, MAX_BATCH, Progress, process_updates};
pub use blocks::{BlockRef, MAX_DEPTH, MAX_LOG_RANGE};
#[cfg(not(target_arch = "wasm32"))]
pub use checkpoint::FileCheckpoint;
#[cfg(target_arch = "wasm32")]
pub use checkpoint::IndexedDbCheckpoint;
pub use checkpoint::{BoxedCheckpointStore, CheckpointStore, StoreFuture};
pub use client::{Error, ExecutionClient};
pub use follow::{FollowError, Follower, Step};
pub use provider::{Provider, RequestError};
pub use rpc::{Rpc, RpcError};
#[cfg(not(target_arch = "wasm32"))]
pub use transport::VerifiedTransport;
