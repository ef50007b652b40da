//! Cairn's Ethereum light client: nothing Cairn shows as verified rests on trust in an RPC server.
//!
//! Owns the pure verification core:
//! - consensus: the Altair-and-later light-client sync protocol of the consensus specs
//!   ([`Store`]: bootstrap from a trusted checkpoint, updates, finality and optimistic updates,
//!   force updates), fork-aware from Capella through Fulu ([`Fork`], [`ChainConfig`] with the
//!   mainnet, sepolia and hoodi presets or a custom JSON config), BLS aggregate verification
//!   with `blst` ([`bls`]), SSZ ([`types`]) and the beacon API's JSON ([`json`]);
//! - execution: `eth_getProof` account and storage proofs and code hashes against a verified
//!   state root ([`execution`]), header hashes and parent walks ([`header`]), `eth_call`
//!   re-executed with revm over proven state ([`evm`]), and block bodies ([`block`]):
//!   transactions against `transactionsRoot` with locally computed hashes and recovered
//!   senders, receipts against `receiptsRoot`, logs only from verified receipts, and the
//!   `eth_getLogs` filter.
//!
//! Pure: no I/O, no clock (the caller passes the current slot), no async runtime, so it runs
//! natively, in wasm and in tests alike. Fetching from beacon and execution endpoints is the job
//! of an I/O crate above it.
//!
//! Builds for: native, `wasm32-unknown-unknown` (blst's C compiled by clang), and
//! `aarch64-linux-android`.
//!
//! Must not depend on: `runtime`, `node`, the app, the UI or any shell crate, nor tokio or an
//! HTTP client.

pub mod block;
pub mod bls;
pub mod config;
mod error;
pub mod evm;
pub mod execution;
pub mod header;
pub mod input;
pub mod json;
mod ssz;
pub mod store;
pub mod types;

pub use config::{ChainConfig, Fork};
pub use error::{DecodeError, ExecutionError, SyncError};
pub use store::{Store, SyncReport, VerifiedHeader};
pub use types::{Bootstrap, LightClientHeader, Update};
