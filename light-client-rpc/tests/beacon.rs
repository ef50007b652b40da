//! Consensus sync over HTTP against mock beacon endpoints on 127.0.0.1 that serve the real
//! mainnet fixtures (Capella in beacon-API JSON, Deneb in SSZ): batched period updates, SSZ
//! preferred with JSON fallback, failover past an endpoint that fails, rejection of an endpoint
//! that lies (one flipped signature or committee byte), cross-checked head updates, and the
//! persisted checkpoint.
#![cfg(not(target_arch = "wasm32"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any unexpected error"
)]

use alloy_primitives::B256;
use light_client::{ChainConfig, json};
use light_client_rpc::{BeaconError, BeaconSync, CheckpointStore, FileCheckpoint};
use testkit::beacon::{
    Behaviour, CAPELLA_NOW, CAPELLA_ROOT, DENEB_ROOT, NOW, Server, execution_node, fixture,
    head_block_json,
};

fn root(hex: &str) -> B256 {
    hex.parse().unwrap()
}

fn capella_finality() -> light_client::Update {
    json::updates_from_json(
        std::str::from_utf8(&fixture("helios-capella-mainnet-lc/finality.json")).unwrap(),
        &ChainConfig::mainnet(),
    )
    .unwrap()
    .remove(0)
}

#[tokio::test]
async fn capella_syncs_in_batches_past_a_failing_and_a_lying_endpoint() {
    let failing = Server::start(Behaviour::Failing).await;
    let liar = Server::start(Behaviour::Liar).await;
    let honest = Server::start(Behaviour::Honest).await;
    let endpoints = vec![failing.url.clone(), liar.url.clone(), honest.url.clone()];
    let mut sync = BeaconSync::new(ChainConfig::mainnet(), &endpoints, root(CAPELLA_ROOT))
        .unwrap()
        .with_batch(4);
    let progress = sync.sync(CAPELLA_NOW).await.unwrap();

    // The store reached the finality fixture's header, and the optimistic fixture's head.
    let store = sync.store().unwrap();
    let finality = capella_finality();
    assert_eq!(
        store.finalized_header().beacon.root(),
        finality.finalized_header.beacon.root()
    );
    assert_eq!(
        store.finalized_header().execution.block_hash,
        finality.finalized_header.execution.block_hash
    );
    assert!(store.optimistic_header().beacon.slot > store.finalized_header().beacon.slot);
    assert_eq!(progress.updates, 6);
    assert_eq!(progress.batches, 2);
    assert_eq!(progress.agreeing, vec![honest.url.clone()]);
    assert!(progress.bytes > 0);

    // The liar's bootstrap was rejected by the committee branch check; it is skipped after.
    assert_eq!(sync.liars(), std::slice::from_ref(&liar.url));
    let lies: Vec<_> = progress.faults.iter().filter(|f| f.lied).collect();
    assert_eq!(lies.len(), 1, "{:?}", progress.faults);
    assert_eq!(lies[0].endpoint, liar.url);
    assert!(
        lies[0].reason.contains("sync committee branch"),
        "{}",
        lies[0].reason
    );
    assert!(
        progress
            .faults
            .iter()
            .any(|f| f.endpoint == failing.url && !f.lied && f.reason.contains("500")),
        "{:?}",
        progress.faults
    );

    // Two batched requests, each first in SSZ, then in JSON after the 406.
    let honest_log = honest.log();
    let batches: Vec<_> = honest_log
        .iter()
        .filter(|(uri, accept)| uri.starts_with("updates") && accept.contains("json"))
        .map(|(uri, _)| uri.as_str())
        .collect();
    assert_eq!(
        batches,
        [
            "updates?start_period=862&count=4",
            "updates?start_period=866&count=2"
        ]
    );
    assert!(
        honest_log
            .iter()
            .any(|(uri, accept)| uri.starts_with("updates") && accept.contains("octet-stream"))
    );
    // Only the light-client routes were used: no blocks, no states.
    assert!(honest_log.iter().all(|(uri, _)| !uri.contains("blocks")));
}

#[tokio::test]
async fn head_updates_from_a_liar_are_rejected_and_named() {
    let honest = Server::start(Behaviour::Honest).await;
    let liar = Server::start(Behaviour::Liar).await;
    // The honest endpoint comes first, so the liar is only asked for head updates.
    let endpoints = vec![honest.url.clone(), liar.url.clone()];
    let mut sync = BeaconSync::new(ChainConfig::mainnet(), &endpoints, root(CAPELLA_ROOT)).unwrap();
    let progress = sync.sync(CAPELLA_NOW).await.unwrap();
    assert_eq!(progress.batches, 1);
    // Both head updates are fetched from every endpoint, then checked as one batch: each of the
    // liar's is rejected on its own signature and named.
    let lies: Vec<_> = progress.faults.iter().filter(|f| f.lied).collect();
    assert_eq!(lies.len(), 2, "{:?}", progress.faults);
    assert_eq!(
        lies.iter().map(|l| l.request.as_str()).collect::<Vec<_>>(),
        [
            "/eth/v1/beacon/light_client/finality_update",
            "/eth/v1/beacon/light_client/optimistic_update"
        ]
    );
    for lie in &lies {
        assert_eq!(lie.endpoint, liar.url);
        assert!(lie.reason.contains("signature"), "{}", lie.reason);
    }
    assert_eq!(progress.head_updates, 2);
    assert_eq!(progress.agreeing, vec![honest.url.clone()]);
    assert_eq!(
        sync.store().unwrap().finalized_header().beacon.root(),
        capella_finality().finalized_header.beacon.root()
    );
}

#[tokio::test]
async fn only_liars_and_failures_is_an_error_naming_each() {
    let failing = Server::start(Behaviour::Failing).await;
    let liar = Server::start(Behaviour::Liar).await;
    let endpoints = vec![failing.url.clone(), liar.url.clone()];
    let mut sync = BeaconSync::new(ChainConfig::mainnet(), &endpoints, root(CAPELLA_ROOT)).unwrap();
    let err = sync.sync(CAPELLA_NOW).await.unwrap_err();
    let BeaconError::AllEndpointsFailed { phase, faults } = &err else {
        panic!("{err}");
    };
    assert_eq!(*phase, "bootstrap");
    assert_eq!(faults.len(), 2);
    let text = err.to_string();
    assert!(
        text.contains(&failing.url) && text.contains(&liar.url),
        "{text}"
    );
    assert!(sync.store().is_none());
}

#[tokio::test]
async fn deneb_is_fetched_as_ssz() {
    let honest = Server::start(Behaviour::Honest).await;
    let mut sync = BeaconSync::new(
        ChainConfig::mainnet(),
        std::slice::from_ref(&honest.url),
        root(DENEB_ROOT),
    )
    .unwrap();
    let progress = sync.sync(NOW).await.unwrap();
    let store = sync.store().unwrap();
    assert_eq!(progress.updates, 1);
    assert!(store.is_next_sync_committee_known());
    // Bootstrap and updates were answered in SSZ: no JSON retry.
    let log = honest.log();
    assert!(
        log.iter()
            .filter(|(uri, _)| uri.starts_with("bootstrap") || uri.starts_with("updates"))
            .all(|(_, accept)| accept.contains("octet-stream")),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|(uri, _)| uri.starts_with("updates?start_period=1394"))
    );
}

#[tokio::test]
async fn checkpoint_is_persisted_and_preferred_over_the_configured_one() {
    let honest = Server::start(Behaviour::Honest).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checkpoint");
    // A previous run left the Capella checkpoint; the configured one is unknown to the server.
    std::fs::write(&path, format!("{CAPELLA_ROOT}\n")).unwrap();
    let mut sync = BeaconSync::new(
        ChainConfig::mainnet(),
        std::slice::from_ref(&honest.url),
        B256::repeat_byte(7),
    )
    .unwrap()
    .with_persistence(Box::new(FileCheckpoint::new(&path)))
    .await
    .unwrap();
    assert_eq!(sync.checkpoint(), root(CAPELLA_ROOT));
    sync.sync(CAPELLA_NOW).await.unwrap();
    let saved = FileCheckpoint::new(&path).load().await.unwrap().unwrap();
    assert_eq!(saved, capella_finality().finalized_header.beacon.root());

    std::fs::write(&path, "not a root").unwrap();
    let err = BeaconSync::new(
        ChainConfig::mainnet(),
        std::slice::from_ref(&honest.url),
        B256::ZERO,
    )
    .unwrap()
    .with_persistence(Box::new(FileCheckpoint::new(&path)))
    .await
    .unwrap_err();
    assert!(err.to_string().contains("block root"), "{err}");
}

/// Real beacon endpoints are https: the native client speaks TLS (rustls, system roots). A
/// listener on 127.0.0.1 receives a TLS ClientHello, and an endpoint whose certificate the system
/// does not trust is a named fault, not a silent plain-HTTP request.
#[tokio::test]
async fn https_endpoints_are_reached_over_tls() {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    let first_bytes = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut record = [0u8; 3];
        socket.read_exact(&mut record).await.unwrap();
        record
    });
    let mut sync = BeaconSync::new(
        ChainConfig::mainnet(),
        std::slice::from_ref(&url),
        root(CAPELLA_ROOT),
    )
    .unwrap();
    let err = sync.sync(CAPELLA_NOW).await.unwrap_err();
    // A TLS handshake record (0x16), version 3.x: what rustls sends first.
    // (The sync has ended, so a client that never connected would leave the listener waiting.)
    let record = tokio::time::timeout(std::time::Duration::from_secs(10), first_bytes)
        .await
        .expect("the client never connected: no TLS support?")
        .unwrap();
    assert_eq!(record[..2], [0x16, 0x03], "{record:?}");
    let BeaconError::AllEndpointsFailed { phase, faults } = &err else {
        panic!("{err}");
    };
    assert_eq!(*phase, "bootstrap");
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert_eq!(faults[0].endpoint, url);
    assert!(!faults[0].lied);
    assert!(
        faults[0].reason.starts_with("unreachable: "),
        "{}",
        faults[0].reason
    );
}

/// A follower of the Capella set from `beacon`, proving execution from the node at `rpc`.
fn capella_follower(beacon: &Server, rpc: &str) -> light_client_rpc::Follower {
    let sync = BeaconSync::new(
        ChainConfig::mainnet(),
        std::slice::from_ref(&beacon.url),
        root(CAPELLA_ROOT),
    )
    .unwrap();
    light_client_rpc::Follower::new(sync, light_client_rpc::Rpc::new(rpc).unwrap(), 1)
}

#[tokio::test]
async fn the_follower_anchors_execution_on_the_verified_head_and_only_when_it_moves() {
    use light_client_rpc::FollowError;
    let beacon = Server::start(Behaviour::Honest).await;
    let (hash, block) = head_block_json(|_| {});
    let (url, served, node) = execution_node(hash, block).await;
    let mut follower = capella_follower(&beacon, &url);
    let step = follower.step(CAPELLA_NOW).await.unwrap();
    assert_eq!(step.progress.head_updates, 2);
    let provider = step.provider.expect("the first step anchors on the head");
    assert_eq!(follower.anchored(), Some(hash));
    // The provider answers for the optimistic update's execution block.
    assert_eq!(
        provider
            .request("eth_blockNumber", &serde_json::json!([]))
            .await
            .unwrap(),
        serde_json::json!("0x1117c29")
    );
    let anchor = provider.client().block();
    assert_eq!(anchor.hash, hash);
    assert_eq!(anchor.header.number, 17_923_113);
    assert_eq!(
        follower
            .sync()
            .store()
            .unwrap()
            .optimistic_header()
            .execution
            .state_root,
        anchor.header.state_root
    );

    // Nothing new on the beacon chain: no new anchor, and the node is not asked again.
    let asked = *served.lock().unwrap();
    let step = follower.step(CAPELLA_NOW).await.unwrap();
    assert!(step.provider.is_none());
    assert_eq!(*served.lock().unwrap(), asked);
    node.abort();

    // A node that lies about the head's header is refused, naming the block.
    let (_, lying) = head_block_json(|header| header.gas_used += 1);
    let (url, _, node) = execution_node(hash, lying).await;
    let mut follower = capella_follower(&beacon, &url);
    let err = follower.step(CAPELLA_NOW).await.unwrap_err();
    assert!(
        matches!(
            err,
            FollowError::Anchor {
                number: 17_923_113,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("17923113"), "{err}");
    assert_eq!(follower.anchored(), None);
    node.abort();
}
