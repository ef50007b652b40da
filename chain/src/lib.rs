//! How Cairn reaches its EVM chain.
//!
//! Owns:
//! - [`rpc`]: a minimal Ethereum JSON-RPC client over HTTP (reqwest natively, the browser's
//!   `fetch` on wasm32) for the reads the runtime and the SDK need;
//! - [`proof`]: the storage-proof scheme of `StorageMarket.sol` (commitments, challenges, proofs);
//! - [`eip712`]: device claims and storage quotes, signed and recovered;
//! - [`contracts`] (native only): alloy bindings generated from `contracts/artifacts/`, typed
//!   handles and deployment;
//! - [`devnet`] (native only): the local anvil devnet that is Cairn's embedded default chain,
//!   with the contracts deployed and test accounts funded.
//!
//! Builds for: native; `wasm32-unknown-unknown` and `aarch64-linux-android` without `contracts`
//! and `devnet` (the pure modules `proof`, `eip712` and `rpc` build everywhere).
//!
//! Must not depend on: `runtime`, `node`, the app or the UI. Values read here are *unverified*:
//! anything shown to a user as verified goes through `light-client`.

pub mod eip712;
pub mod proof;
pub mod rpc;

#[cfg(not(target_arch = "wasm32"))]
pub mod contracts;
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

/// The name a network is shown by when its user gave none: the public networks Cairn knows by
/// their chain id, [`DEVNET_NAME`] for anvil's default, else `chain <id>`.
pub fn network_name(chain_id: u64) -> String {
    match chain_id {
        1 => "mainnet".to_owned(),
        11_155_111 => "sepolia".to_owned(),
        560_048 => "hoodi".to_owned(),
        17_000 => "holesky".to_owned(),
        DEVNET_CHAIN_ID => DEVNET_NAME.to_owned(),
        other => format!("chain {other}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn networks_are_named_after_their_chain_id() {
        assert_eq!(super::network_name(1), "mainnet");
        assert_eq!(super::network_name(11_155_111), "sepolia");
        assert_eq!(super::network_name(31337), "devnet");
        assert_eq!(super::network_name(42), "chain 42");
    }
}
