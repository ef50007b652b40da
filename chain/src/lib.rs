//! How Cairn reaches its EVM chain.
//!
//! Owns:
//! - [`rpc`]: a minimal Ethereum JSON-RPC client over HTTP (reqwest natively, the browser's
//!   `fetch` on wasm32) for the reads the runtime and the SDK need;
//! - [`devnet`] (native only): the local anvil devnet that is Cairn's embedded default chain.
//!
//! Contract bindings (alloy `sol!`), the proof scheme and deployment arrive with the contracts
//! work and live here too; see `ARCHITECTURE.md`.
//!
//! Builds for: native, `wasm32-unknown-unknown` (without `devnet`), `aarch64-linux-android`.
//!
//! Must not depend on: `runtime`, `node`, the app or the UI. Values read here are *unverified*:
//! anything shown to a user as verified goes through `light-client`.

pub mod rpc;

#[cfg(not(target_arch = "wasm32"))]
pub mod devnet;

#[cfg(not(target_arch = "wasm32"))]
pub use devnet::Devnet;
pub use rpc::RpcClient;

/// Chain id anvil uses unless told otherwise; Cairn's embedded default network.
pub const DEVNET_CHAIN_ID: u64 = 31337;
/// Name of Cairn's embedded default network.
pub const DEVNET_NAME: &str = "devnet";
/// RPC URL of the devnet that `cargo xtask run` starts.
pub const DEVNET_DEFAULT_RPC_URL: &str = "http://127.0.0.1:8545";
