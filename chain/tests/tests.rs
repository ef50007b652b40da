//! Integration tests for the `chain` crate against a real anvil devnet: RPC client, devnet,
//! and every external function of the contracts (successes and decoded custom-error reverts).
#![cfg(not(target_arch = "wasm32"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any unexpected error"
)]

use chain::{DEVNET_CHAIN_ID, Devnet, RpcClient, devnet::Options, rpc::RpcError};

#[tokio::test]
async fn devnet_answers_chain_id_and_mines() {
    let devnet = Devnet::start().await.expect("devnet starts");
    assert_eq!(devnet.chain_id(), DEVNET_CHAIN_ID);
    let client = RpcClient::new(devnet.rpc_url()).unwrap();
    let before = client.block_number().await.unwrap();
    devnet.mine().await.unwrap();
    devnet.mine().await.unwrap();
    assert_eq!(client.block_number().await.unwrap(), before + 2);
}

#[tokio::test]
async fn custom_chain_id_is_reported() {
    let devnet = Devnet::start_with(Options {
        chain_id: Some(424242),
        ..Options::default()
    })
    .await
    .expect("devnet starts");
    assert_eq!(devnet.client().chain_id().await.unwrap(), 424242);
}

#[tokio::test]
async fn a_stopped_devnet_gives_a_transport_error() {
    let devnet = Devnet::start().await.expect("devnet starts");
    let client = devnet.client().clone();
    devnet.stop().await.unwrap();
    let err = client.chain_id().await.unwrap_err();
    assert!(matches!(err, RpcError::Transport { .. }), "{err}");
    assert!(err.to_string().contains("eth_chainId"), "{err}");
}

#[tokio::test]
async fn unknown_methods_surface_the_node_error() {
    let devnet = Devnet::start().await.expect("devnet starts");
    let err = devnet
        .client()
        .call("cairn_doesNotExist", vec![])
        .await
        .unwrap_err();
    assert!(matches!(err, RpcError::Decode(_)), "{err}");
}

#[path = "it/common.rs"]
mod common;
#[path = "it/devices.rs"]
mod devices;
#[path = "it/market.rs"]
mod market;
#[path = "it/registry.rs"]
mod registry;
#[path = "it/token.rs"]
mod token;

/// The checked-in ABI and bytecode are exactly what the pinned solc makes of the sources.
#[test]
fn contract_artifacts_are_fresh() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::process::Command::new("node")
        .arg(root.join("contracts/build.mjs"))
        .arg("--check")
        .output()
        .expect("node runs (installed by `cargo xtask setup`)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
