//! The light client following a synthetic beacon chain (`testkit::beacon_chain`) signed by a
//! test sync committee over a real anvil devnet: `BeaconSync` and `Follower` verify it exactly as
//! they verify mainnet (checkpoint, committee branch, execution branch, finality branch, the
//! committee's aggregate signature), then anchor execution proofs on the anvil block the signed
//! header commits to and move with the chain. A chain signed by other keys is refused, and a
//! correctly signed header naming a block the node lacks cannot be anchored.
#![cfg(not(target_arch = "wasm32"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy_primitives::B256;
use chain::Devnet;
use light_client::ChainConfig;
use light_client_rpc::{BeaconError, BeaconSync, FollowError, Follower, Rpc, Step};
use serde_json::json;
use testkit::beacon_chain::{Behaviour, Server, SignedChain};

/// Sleeps until just after the synthetic chain's next slot starts (one-second slots, on whole
/// seconds), so that a round's requests (a finality update, then an optimistic one) fall within
/// one slot. The server signs a new head in every new slot it is asked in: a round begun late
/// in a slot (seen on a loaded machine) saw one more head between its two requests than the
/// test expects.
async fn at_next_slot() {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let rest = Duration::from_secs(1) - Duration::from_nanos(now.subsec_nanos().into());
    tokio::time::sleep(rest + Duration::from_millis(20)).await;
}

fn current_slot(config: &ChainConfig) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    config.slot_at_time(now)
}

/// One round of `follower` at `chain`'s clock.
async fn round(follower: &mut Follower, chain: &SignedChain) -> Result<Step, FollowError> {
    follower.step(current_slot(chain.config())).await
}

async fn latest(rpc: &Rpc) -> (B256, u64) {
    let block = rpc
        .call("eth_getBlockByNumber", json!(["latest", false]))
        .await
        .unwrap();
    let hash = serde_json::from_value(block["hash"].clone()).unwrap();
    let number = u64::from_str_radix(
        block["number"].as_str().unwrap().trim_start_matches("0x"),
        16,
    )
    .unwrap();
    (hash, number)
}

/// An anvil devnet, the synthetic chain served over it, and a follower of that chain (its config
/// read back from the chain's JSON, as a user's `--network` file would be).
async fn setup(behaviour: Behaviour) -> (Devnet, SignedChain, Server, Follower) {
    let devnet = Devnet::start().await.unwrap();
    let chain = SignedChain::new();
    let server = chain.serve(devnet.rpc_url(), behaviour).await;
    let config = ChainConfig::from_json(&chain.config_json()).unwrap();
    assert_eq!(&config, chain.config());
    let sync = BeaconSync::new(
        config,
        std::slice::from_ref(&server.url),
        chain.checkpoint(),
    )
    .unwrap();
    let follower = Follower::new(sync, Rpc::new(devnet.rpc_url()).unwrap(), devnet.chain_id());
    (devnet, chain, server, follower)
}

#[tokio::test]
async fn the_follower_anchors_on_the_signed_anvil_head_and_moves_with_it() {
    let (devnet, chain, server, mut follower) = setup(Behaviour::Honest).await;
    let rpc = Rpc::new(devnet.rpc_url()).unwrap();
    let (first, number) = latest(&rpc).await;

    at_next_slot().await;
    let step = round(&mut follower, &chain).await.unwrap();
    assert!(
        step.progress.faults.is_empty(),
        "{:?}",
        step.progress.faults
    );
    assert_eq!(step.progress.head_updates, 2);
    let provider = step.provider.expect("the first step anchors on the head");
    assert_eq!(follower.anchored(), Some(first));
    assert_eq!(
        provider
            .request("eth_blockNumber", &json!([]))
            .await
            .unwrap(),
        json!(format!("0x{number:x}"))
    );
    let store = follower.sync().store().unwrap();
    // The anchor came from the signed header, which commits to anvil's state too.
    assert_eq!(
        store.optimistic_header().execution.state_root,
        provider.client().block().header.state_root
    );
    // Finality trails the head by one block: the checkpoint is still the finalized header.
    assert_eq!(store.finalized_header().beacon.root(), chain.checkpoint());
    let first_head = store.optimistic_header().beacon.clone();

    // The bootstrap for the checkpoint, the (empty) period updates, then the head; SSZ is asked
    // for first and refused, JSON follows.
    let requests: Vec<String> = server.log().into_iter().map(|(uri, _)| uri).collect();
    assert_eq!(
        requests,
        [
            format!("bootstrap/{:#x}", chain.checkpoint()),
            format!("bootstrap/{:#x}", chain.checkpoint()),
            "updates?start_period=0&count=1".into(),
            "updates?start_period=0&count=1".into(),
            "finality_update".into(),
            "finality_update".into(),
            "optimistic_update".into(),
            "optimistic_update".into(),
        ]
    );

    // A new block on anvil, a new slot on the beacon chain: the follower moves to it.
    devnet.mine().await.unwrap();
    let (second, _) = latest(&rpc).await;
    assert_ne!(second, first);
    at_next_slot().await;
    let step = round(&mut follower, &chain).await.unwrap();
    assert!(
        step.progress.faults.is_empty(),
        "{:?}",
        step.progress.faults
    );
    assert!(step.provider.is_some());
    assert_eq!(follower.anchored(), Some(second));
    let store = follower.sync().store().unwrap();
    assert!(store.optimistic_header().beacon.slot > first_head.slot);
    assert_eq!(
        store.optimistic_header().beacon.parent_root,
        first_head.root()
    );
    // The previous head is now finalized.
    assert_eq!(store.finalized_header().beacon, first_head);
    assert_eq!(step.progress.agreeing, std::slice::from_ref(&server.url));
}

#[tokio::test]
async fn a_chain_signed_by_other_keys_is_refused_and_nothing_is_anchored() {
    let (devnet, chain, server, mut follower) = setup(Behaviour::WrongKeys).await;
    let rpc = Rpc::new(devnet.rpc_url()).unwrap();
    let (latest_hash, _) = latest(&rpc).await;

    // Both head updates fail their signature check: the endpoint is named a liar, and the
    // verified head stays the checkpoint, whose execution block is made up (no node has it).
    let err = round(&mut follower, &chain).await.unwrap_err();
    let checkpoint_block = chain.bootstrap().header.execution.block_hash;
    assert!(
        matches!(err, FollowError::Anchor { hash, .. } if hash == checkpoint_block),
        "{err}"
    );
    assert_ne!(checkpoint_block, latest_hash);
    assert_eq!(follower.anchored(), None);
    assert_eq!(follower.sync().liars(), std::slice::from_ref(&server.url));
    let store = follower.sync().store().unwrap();
    assert_eq!(store.optimistic_header(), &chain.bootstrap().header);
    assert!(
        server.head().is_some(),
        "the server did sign a head, with the wrong keys"
    );

    // The only endpoint lied: the next round has no endpoint left, fails on the beacon side,
    // and names the endpoint it skips.
    let err = round(&mut follower, &chain).await.unwrap_err();
    assert!(
        matches!(
            &err,
            FollowError::Beacon(BeaconError::AllEndpointsSkipped { liars }) if liars == std::slice::from_ref(&server.url)
        ),
        "{err}"
    );
    assert!(err.to_string().contains(&server.url), "{err}");
    assert_eq!(follower.anchored(), None);
}

#[tokio::test]
async fn a_signed_head_naming_a_block_the_node_lacks_cannot_be_anchored() {
    let pinned = B256::repeat_byte(0x5a);
    let (_devnet, chain, _server, mut follower) = setup(Behaviour::Pinned(pinned, 1_000_000)).await;

    let err = round(&mut follower, &chain).await.unwrap_err();
    assert!(
        matches!(
            err,
            FollowError::Anchor {
                hash,
                number: 1_000_000,
                ..
            } if hash == pinned
        ),
        "{err}"
    );
    assert_eq!(follower.anchored(), None);
    // The beacon side verified the header: only the execution node could not back it.
    assert!(follower.sync().liars().is_empty());
    let store = follower.sync().store().unwrap();
    assert_eq!(store.optimistic_header().execution.block_hash, pinned);
}
