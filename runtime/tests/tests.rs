//! Integration tests for the runtime against a real anvil devnet.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::path::Path;
use std::time::Duration;

use chain::Devnet;
use runtime::{ChainState, Config, Handle, NodeConfig, NodeInfo, NodeState, Status};
use testkit::beacon_chain::{self, SignedChain};
use testkit::rpc_proxy::{Proxy, Tamper};

fn config(rpc_url: &str) -> Config {
    Config {
        rpc_url: Some(rpc_url.to_owned()),
        poll_interval: Duration::from_millis(200),
        ..Config::devnet(std::env::temp_dir().join("cairn-runtime-tests"))
    }
}

#[tokio::test]
async fn status_follows_the_devnet_head() {
    let devnet = Devnet::start().await.unwrap();
    let (handle, event_loop) = runtime::start(config(devnet.rpc_url())).unwrap();
    let task = tokio::spawn(event_loop.run());

    let first = handle.refresh().await.unwrap();
    let ChainState::Connected {
        chain_id,
        latest_block,
    } = first.chain
    else {
        panic!("not connected: {first:?}");
    };
    assert_eq!(chain_id, devnet.chain_id());
    assert_eq!(first.network, "devnet");
    assert_eq!(first.version, env!("CARGO_PKG_VERSION"));

    devnet.mine().await.unwrap();
    devnet.mine().await.unwrap();
    devnet.mine().await.unwrap();
    // The ticker publishes the new head on its own, without a refresh.
    let mut updates = handle.subscribe();
    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            updates.changed().await.unwrap();
            if let ChainState::Connected {
                latest_block: b, ..
            } = updates.borrow().chain
                && b >= latest_block + 3
            {
                return b;
            }
        }
    })
    .await
    .expect("the new head is published");
    assert_eq!(seen, latest_block + 3);

    handle.shutdown().await.unwrap();
    task.await.unwrap();
    assert!(handle.refresh().await.is_err());
}

#[tokio::test]
async fn an_outage_is_reported_and_keeps_the_last_chain_id() {
    let devnet = Devnet::start().await.unwrap();
    let chain_id = devnet.chain_id();
    let (handle, event_loop) = runtime::start(config(devnet.rpc_url())).unwrap();
    tokio::spawn(event_loop.run());
    assert_eq!(
        handle.refresh().await.unwrap().chain.chain_id(),
        Some(chain_id)
    );

    devnet.stop().await.unwrap();
    let status = handle.refresh().await.unwrap();
    match status.chain {
        ChainState::Unreachable {
            error,
            last_chain_id,
        } => {
            assert_eq!(last_chain_id, Some(chain_id));
            assert!(error.contains("could not reach"), "{error}");
        }
        other => panic!("expected an outage, got {other:?}"),
    }
}

#[test]
fn bad_configuration_is_refused_with_the_reason() {
    let err = runtime::start(config("localhost:8545")).unwrap_err();
    assert!(err.to_string().contains("not a valid RPC URL"), "{err}");

    let err = runtime::start(Config {
        poll_interval: Duration::from_millis(1),
        ..config("http://127.0.0.1:1")
    })
    .unwrap_err();
    assert!(err.to_string().contains("poll interval"), "{err}");

    let err = runtime::start(Config {
        beacon: Some(runtime::BeaconConfig {
            network: light_client::ChainConfig::mainnet(),
            endpoints: vec!["beacon.example.org".into()],
            checkpoint: alloy_primitives::B256::ZERO,
        }),
        ..config("http://127.0.0.1:1")
    })
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("\"beacon.example.org\" is not an http(s) URL"),
        "{err}"
    );
}

#[tokio::test]
async fn the_loop_ends_when_every_handle_is_dropped() {
    let (handle, event_loop) = runtime::start(config("http://127.0.0.1:1")).unwrap();
    let task = tokio::spawn(event_loop.run());
    drop(handle);
    tokio::time::timeout(Duration::from_secs(15), task)
        .await
        .expect("loop ends")
        .unwrap();
}

/// A runtime whose chain endpoint refuses connections (the node must not need it) and whose node
/// listens on loopback only, without mDNS or UPnP.
fn node_config(data_dir: &Path, quota: u64, peers: Vec<String>) -> Config {
    Config {
        data_dir: data_dir.to_owned(),
        node: Some(NodeConfig {
            quota: Some(quota),
            listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
            peers,
            mdns: false,
            upnp: false,
            private_network: false,
            relay_service: runtime::RelayService::Limited,
            market: None,
        }),
        ..config("http://127.0.0.1:1")
    }
}

/// Waits (at most 30 s) for a published status that `accept`s, and returns it.
async fn wait_for(handle: &Handle, what: &str, accept: impl Fn(&Status) -> bool) -> Status {
    let mut updates = handle.subscribe();
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let status = updates.borrow_and_update().clone();
            if accept(&status) {
                return status;
            }
            updates.changed().await.unwrap();
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}; last: {:?}", handle.status()))
}

fn peers_of(status: &Status) -> Option<u32> {
    status.node.running().map(|info| info.connected_peers)
}

/// Waits for the node to be shown as failed, and returns why.
async fn node_failure(handle: &Handle, what: &str) -> String {
    let status = wait_for(handle, what, |s| matches!(s.node, NodeState::Failed { .. })).await;
    match status.node {
        NodeState::Failed { error } => error,
        other => unreachable!("waited for a failure, got {other:?}"),
    }
}

/// The running node's values of a status waited for with the node running.
fn running(status: Status) -> NodeInfo {
    match status.node {
        NodeState::Running(info) => *info,
        other => unreachable!("waited for a running node, got {other:?}"),
    }
}

#[tokio::test]
async fn an_embedded_node_publishes_its_identity_addresses_peers_and_store() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, loop_a) = runtime::start(node_config(dir_a.path(), 1 << 20, Vec::new())).unwrap();
    assert_eq!(a.status().node, NodeState::Starting);
    let task_a = tokio::spawn(loop_a.run());
    let status = wait_for(&a, "node A running", |s| peers_of(s).is_some()).await;
    let chain = status.chain.clone();
    let NodeInfo {
        peer_id,
        listen_addrs,
        connected_peers,
        objects,
        stored_bytes,
        quota_bytes,
        disk_room_bytes,
        corrupt_objects,
        market,
        transfers,
        activity,
        market_error,
        files,
        files_error,
        reachability,
        relay,
    } = running(status);
    assert!(peer_id.starts_with("12D3KooW"), "{peer_id}");
    assert!(!listen_addrs.is_empty());
    for addr in &listen_addrs {
        assert!(addr.starts_with("/ip4/127.0.0.1/tcp/"), "{addr}");
        assert!(addr.ends_with(&format!("/p2p/{peer_id}")), "{addr}");
    }
    assert_eq!(
        (connected_peers, objects, stored_bytes, corrupt_objects),
        (0, 0, 0, 0)
    );
    assert_eq!(market, None, "no market configured");
    assert_eq!(market_error, None);
    // No peer has tried to dial it back yet.
    assert_eq!(reachability, protocol::api::Reachability::Unknown);
    // Nor found it reachable: it serves no relay yet.
    assert_eq!(relay, protocol::api::RelayServed::None);
    assert!(transfers.is_empty() && activity.is_empty());
    assert!(
        files.is_empty() && files_error.is_none(),
        "nothing stored yet"
    );
    assert_eq!(quota_bytes, 1 << 20);
    assert!(
        disk_room_bytes.is_some_and(|room| room > 0),
        "the disk's room is read: {disk_room_bytes:?}"
    );
    // The node runs without the chain: the follower reports its outage beside it.
    assert!(matches!(chain, ChainState::Unreachable { .. }), "{chain:?}");
    assert!(dir_a.path().join("node").join(node::KEY_FILE).is_file());

    // B dials A from its configuration; both see one peer.
    let (b, loop_b) = runtime::start(node_config(dir_b.path(), 0, listen_addrs.clone())).unwrap();
    let task_b = tokio::spawn(loop_b.run());
    let status_b = wait_for(&b, "B connected to A", |s| peers_of(s) == Some(1)).await;
    let node_b = running(status_b);
    assert_ne!(node_b.peer_id, peer_id);
    assert_eq!(node_b.quota_bytes, 0);
    assert_eq!(node_b.disk_room_bytes, None, "no store, no disk read");
    wait_for(&a, "A sees B", |s| peers_of(s) == Some(1)).await;

    // Shutting A's runtime down shuts its node down: B loses its peer.
    a.shutdown().await.unwrap();
    task_a.await.unwrap();
    wait_for(&b, "B sees A gone", |s| peers_of(s) == Some(0)).await;

    // Restarted on the same directory, A keeps its identity.
    let (a, loop_a) = runtime::start(node_config(dir_a.path(), 1 << 20, Vec::new())).unwrap();
    let task_a = tokio::spawn(loop_a.run());
    let again = wait_for(&a, "A running again", |s| peers_of(s).is_some()).await;
    assert_eq!(running(again).peer_id, peer_id);

    for (handle, task) in [(a, task_a), (b, task_b)] {
        handle.shutdown().await.unwrap();
        task.await.unwrap();
    }
}

#[tokio::test]
async fn a_node_that_cannot_start_is_reported_and_the_chain_follower_keeps_running() {
    let dir = tempfile::tempdir().unwrap();
    // The node's directory is taken by a plain file.
    std::fs::write(dir.path().join("node"), b"not a directory").unwrap();
    let (handle, event_loop) = runtime::start(node_config(dir.path(), 0, Vec::new())).unwrap();
    let task = tokio::spawn(event_loop.run());
    let error = node_failure(&handle, "the failure").await;
    assert!(error.contains("node"), "{error}");
    // The follower still answers, and the failure stays on show.
    let later = handle.refresh().await.unwrap();
    assert!(matches!(later.chain, ChainState::Unreachable { .. }));
    assert!(matches!(later.node, NodeState::Failed { .. }));
    assert_eq!(
        std::fs::read(dir.path().join("node")).unwrap(),
        b"not a directory",
        "the file in the way is left as it was"
    );
    handle.shutdown().await.unwrap();
    task.await.unwrap();
}

#[test]
fn a_node_address_that_does_not_parse_is_refused_with_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = node_config(dir.path(), 0, Vec::new());
    if let Some(node) = config.node.as_mut() {
        node.listen = vec!["127.0.0.1:4001".into()];
    }
    let err = runtime::start(config).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("\"127.0.0.1:4001\""), "{text}");
    assert!(text.contains("not a multiaddr"), "{text}");
    assert!(text.contains("/ip4/"), "says how to write one: {text}");

    let mut config = node_config(dir.path(), 0, Vec::new());
    if let Some(node) = config.node.as_mut() {
        node.peers = vec!["/ip4/127.0.0.1/tcp/nope".into()];
    }
    let err = runtime::start(config).unwrap_err();
    assert!(err.to_string().contains("node peer address"), "{err}");

    // A market whose deployment file is missing: refused at start, naming the file.
    let mut config = node_config(dir.path(), 0, Vec::new());
    let missing = dir.path().join("no-such-deployment.json");
    if let Some(node) = config.node.as_mut() {
        node.market = Some(runtime::NodeMarket::new(missing.clone()));
    }
    let err = runtime::start(config).unwrap_err().to_string();
    assert!(err.contains("market"), "{err}");
    assert!(err.contains("no-such-deployment.json"), "{err}");
    // Nothing was created for a refused configuration.
    assert!(!dir.path().join("node").exists());
}

fn quota_of(status: &Status) -> Option<u64> {
    status.node.running().map(|info| info.quota_bytes)
}

/// Starts a runtime, waits for its node to run and returns its quota with the handle and task.
async fn run_node(config: Config) -> (Handle, tokio::task::JoinHandle<()>, u64) {
    let (handle, event_loop) = runtime::start(config).unwrap();
    let task = tokio::spawn(event_loop.run());
    let status = wait_for(&handle, "a running node", |s| quota_of(s).is_some()).await;
    let quota = quota_of(&status).unwrap();
    (handle, task, quota)
}

#[tokio::test]
async fn a_quota_set_at_runtime_applies_at_once_and_is_kept_over_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let unset = || {
        let mut config = node_config(dir.path(), 0, Vec::new());
        if let Some(node) = config.node.as_mut() {
            node.quota = None;
        }
        config
    };
    // Nothing configured, nothing saved: a plain peer.
    let (handle, task, quota) = run_node(unset()).await;
    assert_eq!(quota, 0);
    let peer = handle.status();

    // Given a quota, it opens a store and becomes a provider without a restart.
    let status = handle.set_node_quota(3 << 20).await.unwrap();
    assert_eq!(quota_of(&status), Some(3 << 20), "{status:?}");
    let (peer, status) = (running(peer), running(status));
    assert_eq!(peer.peer_id, status.peer_id);
    assert_eq!(
        peer.listen_addrs, status.listen_addrs,
        "the node was restarted"
    );
    assert!(dir.path().join("node").join("store").is_dir());
    let saved = runtime::settings::load(dir.path()).unwrap();
    assert_eq!(saved.node_quota, Some(3 << 20));
    handle.shutdown().await.unwrap();
    task.await.unwrap();

    // Restarted with no quota given: the saved one.
    let (handle, task, quota) = run_node(unset()).await;
    assert_eq!(quota, 3 << 20);
    handle.shutdown().await.unwrap();
    task.await.unwrap();

    // A quota given explicitly wins over the saved one.
    let (handle, task, quota) = run_node(node_config(dir.path(), 1 << 20, Vec::new())).await;
    assert_eq!(quota, 1 << 20);
    let before = running(handle.status());
    let dir_b = tempfile::tempdir().unwrap();
    let (peer, peer_loop) =
        runtime::start(node_config(dir_b.path(), 0, before.listen_addrs.clone())).unwrap();
    let peer_task = tokio::spawn(peer_loop.run());
    wait_for(&handle, "a peer connected", |s| peers_of(s) == Some(1)).await;

    // Changed while the node has a store: applied at once, without a restart (the listeners
    // on port 0 keep their ports, the peer its connection).
    let after = running(handle.set_node_quota(2 << 20).await.unwrap());
    assert_eq!(after.quota_bytes, 2 << 20);
    assert_eq!(
        after.listen_addrs, before.listen_addrs,
        "the node was restarted"
    );
    assert_eq!(after.connected_peers, 1, "the peer lost its connection");
    assert_eq!(
        runtime::settings::load(dir.path()).unwrap().node_quota,
        Some(2 << 20)
    );
    // 0 accepts nothing new, and the node keeps running as it was.
    let zero = running(handle.set_node_quota(0).await.unwrap());
    assert_eq!((zero.quota_bytes, zero.connected_peers), (0, 1), "{zero:?}");
    assert_eq!(zero.listen_addrs, before.listen_addrs);
    for (handle, task) in [(handle, task), (peer, peer_task)] {
        handle.shutdown().await.unwrap();
        task.await.unwrap();
    }

    // What the store holds is kept after a restart at quota 0: still served and proven.
    let store = node::Store::open(&dir.path().join("node").join("store"), 1 << 20).unwrap();
    let data = vec![7u8; 1000];
    let manifest = node::content::Manifest::of(&data).unwrap();
    let mut upload = store.begin_put(&manifest, 0).unwrap();
    upload.write_chunk(0, &data).unwrap();
    upload.finish().unwrap();
    drop(store);
    let (handle, task, quota) = run_node(unset()).await;
    assert_eq!(quota, 0, "the saved quota");
    let held = running(handle.status());
    assert_eq!((held.objects, held.stored_bytes), (1, 1000), "{held:?}");
    handle.shutdown().await.unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn node_commands_without_a_node_or_with_a_broken_settings_file_say_why() {
    // No node configured: a quota, a market or a withdrawal is refused with how to run one.
    let dir = tempfile::tempdir().unwrap();
    let (handle, event_loop) = runtime::start(Config {
        data_dir: dir.path().to_owned(),
        ..config("http://127.0.0.1:1")
    })
    .unwrap();
    let task = tokio::spawn(event_loop.run());
    let err = handle.set_node_quota(1 << 20).await.unwrap_err();
    assert!(matches!(err, runtime::Error::NoNode), "{err}");
    assert!(err.to_string().contains("--node"), "{err}");
    let market = runtime::SetNodeMarket {
        deployment_file: "d.json".into(),
        payout: None,
    };
    let err = handle.set_node_market(market).await.unwrap_err();
    assert!(matches!(err, runtime::Error::NoNode), "{err}");
    let err = handle.withdraw_earnings().await.unwrap_err();
    assert!(matches!(err, runtime::Error::NoNode), "{err}");
    assert!(!dir.path().join(runtime::settings::FILE_NAME).exists());
    handle.shutdown().await.unwrap();
    task.await.unwrap();

    // A settings file that is not one: start is refused, naming it, and the file is kept.
    let path = dir.path().join(runtime::settings::FILE_NAME);
    std::fs::write(&path, "{ not json").unwrap();
    let err = runtime::start(node_config(dir.path(), 0, Vec::new()))
        .unwrap_err()
        .to_string();
    assert!(err.contains(runtime::settings::FILE_NAME), "{err}");
    assert!(err.contains("delete it"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{ not json");
}

#[tokio::test]
async fn withdrawing_from_a_node_that_does_not_sell_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let (handle, task, _) = run_node(node_config(dir.path(), 0, Vec::new())).await;
    let err = handle.withdraw_earnings().await.unwrap_err();
    assert!(
        matches!(err, runtime::Error::Withdraw(_))
            && err.to_string().contains("does not sell storage"),
        "{err}"
    );
    handle.shutdown().await.unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn a_store_held_elsewhere_is_reported_and_the_node_starts_once_it_is_free() {
    let dir = tempfile::tempdir().unwrap();
    // Another node (here, the store alone) holds the data directory's store.
    let held = node::Store::open(&dir.path().join("node").join("store"), 1 << 20).unwrap();
    let (handle, event_loop) =
        runtime::start(node_config(dir.path(), 1 << 20, Vec::new())).unwrap();
    let task = tokio::spawn(event_loop.run());
    let error = node_failure(&handle, "the store reported in use").await;
    assert!(error.contains("in use"), "{error}");
    assert!(error.contains("retrying"), "{error}");
    // The chain follower is not held up meanwhile: it still answers at once.
    let answered = tokio::time::timeout(Duration::from_secs(5), handle.refresh()).await;
    assert!(answered.is_ok(), "refresh blocked while the store was held");

    drop(held);
    let status = wait_for(&handle, "the node running", |s| quota_of(s).is_some()).await;
    assert_eq!(quota_of(&status), Some(1 << 20));
    handle.shutdown().await.unwrap();
    task.await.unwrap();
}

/// A node with a 1 MiB quota in `dir` that sells on `market`, reaching its chain at `rpc_url`.
fn selling_config(dir: &Path, rpc_url: String, market: runtime::NodeMarket) -> Config {
    let mut config = node_config(dir, 1 << 20, Vec::new());
    config.rpc_url = Some(rpc_url);
    if let Some(node) = config.node.as_mut() {
        node.market = Some(market);
    }
    config
}

/// A selling node's standing in `status`, once it runs.
fn market_of(status: &Status) -> Option<runtime::MarketState> {
    status.node.running().and_then(|info| info.market.clone())
}

/// A devnet with Cairn's contracts, their deployment written to `deployment.json` in `dir`.
async fn market_devnet(dir: &Path) -> (Devnet, chain::contracts::Deployment, std::path::PathBuf) {
    let devnet = Devnet::start().await.unwrap();
    let deployment = devnet
        .deploy(&chain::contracts::DeployOptions::default())
        .await
        .unwrap();
    let deployment_file = dir.join("deployment.json");
    deployment.write(&deployment_file).unwrap();
    (devnet, deployment, deployment_file)
}

/// A market on `deployment_file` selling with anvil account 1's key (written to `dir`), which
/// registers with a stake of 200 tokens.
fn staked_market(dir: &Path, deployment_file: std::path::PathBuf) -> runtime::NodeMarket {
    runtime::NodeMarket {
        stake: Some(200),
        chain_key_file: Some(anvil_key_file(dir, 1)),
        ..runtime::NodeMarket::new(deployment_file)
    }
}

/// Anvil account `index`'s key, written to `provider.key` in `dir` as a chain key file.
fn anvil_key_file(dir: &Path, index: usize) -> std::path::PathBuf {
    let key_file = dir.join("provider.key");
    std::fs::write(&key_file, Devnet::key(index).to_bytes().to_string()).unwrap();
    key_file
}

#[tokio::test]
async fn a_selling_node_whose_chain_is_down_at_start_serves_and_is_announced_once_it_is_up() {
    let dir = tempfile::tempdir().unwrap();
    // The deployment a devnet makes is the same on every fresh anvil (same deployer, same
    // nonces): write its file from one, then stop it.
    let (first, deployment, deployment_file) = market_devnet(dir.path()).await;
    first.stop().await.unwrap();

    // A free loopback port, released: nothing listens on it until the devnet below.
    let port = testkit::free_port().unwrap();
    let config = selling_config(
        dir.path(),
        format!("http://127.0.0.1:{port}"),
        staked_market(dir.path(), deployment_file),
    );
    let (handle, event_loop) = runtime::start(config).unwrap();
    let task = tokio::spawn(event_loop.run());
    let announce_error = |s: &Status| {
        s.node
            .running()
            .and_then(|info| info.market.as_ref())
            .and_then(|market| market.announce_error.clone())
    };
    let status = wait_for(&handle, "the announcement failing", |s| {
        announce_error(s).is_some()
    })
    .await;
    let error = announce_error(&status).unwrap();
    assert!(error.contains("not announced"), "{error}");
    assert!(error.contains("retrying"), "{error}");
    // The node runs meanwhile, and the loop answers at once.
    let info = running(status);
    assert_eq!(info.quota_bytes, 1 << 20);
    let answered = tokio::time::timeout(Duration::from_secs(5), handle.refresh()).await;
    assert!(answered.is_ok(), "refresh blocked while the chain was down");

    // The chain comes up where the node looks for it: it registers, with its stake.
    let devnet = Devnet::start_with(chain::devnet::Options {
        port: Some(port),
        ..Default::default()
    })
    .await
    .unwrap();
    let again = devnet
        .deploy(&chain::contracts::DeployOptions::default())
        .await
        .unwrap();
    assert_eq!(again.registry, deployment.registry, "the same deployment");
    let status = wait_for(&handle, "the node announced", |s| {
        s.node
            .running()
            .and_then(|info| info.market.as_ref())
            .is_some_and(|m| m.announce_error.is_none() && m.earnings.is_some())
    })
    .await;
    let market = running(status).market.unwrap();
    assert_eq!(market.earnings.as_deref(), Some("0"));
    let registry = chain::contracts::Contracts::new(
        &again,
        chain::contracts::signer_provider(devnet.rpc_url(), Devnet::key(0)).unwrap(),
    )
    .registry;
    let provider = Devnet::key(1).address();
    assert_eq!(market.provider, provider.to_checksum(None));
    assert!(registry.isActiveProvider(provider).call().await.unwrap());
    let entry = registry.getProvider(provider).call().await.unwrap();
    assert_eq!(entry.info.storageBytes, 1 << 20);

    // A quota change reaches the Registry too, without holding up the loop.
    handle.set_node_quota(3 << 20).await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), async {
        while registry
            .getProvider(provider)
            .call()
            .await
            .unwrap()
            .info
            .storageBytes
            != 3 << 20
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the Registry shows the new capacity");
    handle.shutdown().await.unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn a_node_without_a_chain_key_makes_its_own_and_registers_once_it_is_funded() {
    let dir = tempfile::tempdir().unwrap();
    let (devnet, deployment, deployment_file) = market_devnet(dir.path()).await;
    // Earnings go to the user's wallet (anvil #3), not to the node's hot key.
    let wallet = Devnet::key(3).address();
    let config = selling_config(
        dir.path(),
        devnet.rpc_url().to_owned(),
        runtime::NodeMarket {
            stake: Some(200),
            payout: Some(wallet),
            ..runtime::NodeMarket::new(deployment_file.clone())
        },
    );
    let (handle, event_loop) = runtime::start(config.clone()).unwrap();
    let task = tokio::spawn(event_loop.run());

    // The key is made in the data directory, private; its address is the provider's.
    let key_file = dir.path().join("node").join("chain.key");
    let key_text = std::fs::read_to_string(&key_file).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A new key holds nothing: the node runs, and says what to send where.
    let status = wait_for(&handle, "the announcement refused for want of funds", |s| {
        market_of(s).is_some_and(|m| m.announce_error.is_some())
    })
    .await;
    let market = market_of(&status).unwrap();
    assert_eq!(market.payout, None, "not registered yet");
    let provider: runtime::ChainAddress = market.provider.parse().unwrap();
    assert_ne!(provider, wallet);
    for anvil in 0..6 {
        assert_ne!(
            provider,
            Devnet::key(anvil).address(),
            "a new key, not anvil's"
        );
    }
    let error = market.announce_error.unwrap();
    assert!(
        error.contains(&format!("{provider} holds 0 CAIRN and 0 ETH")),
        "{error}"
    );
    assert!(error.contains("needs 200 CAIRN"), "{error}");
    assert!(
        error.contains(&format!("send them to {provider}")),
        "{error}"
    );
    let registry = chain::contracts::Contracts::new(
        &deployment,
        chain::contracts::signer_provider(devnet.rpc_url(), Devnet::key(0)).unwrap(),
    )
    .registry;
    assert!(!registry.isActiveProvider(provider).call().await.unwrap());

    // Funded, it registers on a later tick, with its stake and the user's payout address.
    devnet.fund(&deployment, provider, 250).await.unwrap();
    let status = wait_for(&handle, "the node registered", |s| {
        market_of(s).is_some_and(|m| m.announce_error.is_none() && m.earnings.is_some())
    })
    .await;
    let market = market_of(&status).unwrap();
    assert_eq!(market.provider, provider.to_checksum(None));
    assert_eq!(market.payout, Some(wallet.to_checksum(None)));
    assert!(registry.isActiveProvider(provider).call().await.unwrap());
    assert_eq!(registry.payoutOf(provider).call().await.unwrap(), wallet);
    handle.shutdown().await.unwrap();
    task.await.unwrap();

    // A restart keeps the key (and so the registration).
    let (handle, event_loop) = runtime::start(config).unwrap();
    let task = tokio::spawn(event_loop.run());
    let status = wait_for(&handle, "the node announced again", |s| {
        market_of(s).is_some_and(|m| m.earnings.is_some())
    })
    .await;
    let market = market_of(&status).unwrap();
    assert_eq!(market.provider, provider.to_checksum(None));
    assert_eq!(market.announce_error, None);
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), key_text);
    handle.shutdown().await.unwrap();
    task.await.unwrap();

    // A selling node given no stake stays unregistered, and says how to register.
    let other = tempfile::tempdir().unwrap();
    let config = selling_config(
        other.path(),
        devnet.rpc_url().to_owned(),
        runtime::NodeMarket::new(deployment_file.clone()),
    );
    let (handle, event_loop) = runtime::start(config).unwrap();
    let task = tokio::spawn(event_loop.run());
    let status = wait_for(&handle, "the node found unregistered", |s| {
        market_of(s).is_some_and(|m| m.announce_error.is_some() && m.earnings.is_some())
    })
    .await;
    let market = market_of(&status).unwrap();
    let note = market.announce_error.unwrap();
    assert!(note.starts_with("not registered in the Registry"), "{note}");
    assert!(note.contains("give it a stake"), "{note}");
    assert_eq!(market.payout, None);
    // A stake of 0 is refused, naming why; nothing is saved.
    let err = handle.set_node_stake(0).await.unwrap_err();
    assert!(matches!(err, runtime::Error::Stake(_)), "{err}");
    assert!(err.to_string().contains("registers nothing"), "{err}");
    assert!(!other.path().join("settings.json").exists());
    // Given a stake (as from the UI), it registers once its own key is funded.
    let status = handle.set_node_stake(200).await.unwrap();
    let other_provider: runtime::ChainAddress =
        market_of(&status).unwrap().provider.parse().unwrap();
    let settings = std::fs::read_to_string(other.path().join("settings.json")).unwrap();
    assert!(settings.contains("\"nodeStake\": 200"), "{settings}");
    wait_for(
        &handle,
        "the stake's announcement refused for want of funds",
        |s| {
            market_of(s)
                .and_then(|m| m.announce_error)
                .is_some_and(|e| e.contains("needs 200 CAIRN"))
        },
    )
    .await;
    devnet.fund(&deployment, other_provider, 200).await.unwrap();
    let status = wait_for(
        &handle,
        "the node registered with the stake it was given",
        |s| market_of(s).is_some_and(|m| m.payout.is_some() && m.announce_error.is_none()),
    )
    .await;
    assert_eq!(
        market_of(&status).unwrap().payout,
        Some(other_provider.to_checksum(None))
    );
    assert!(
        registry
            .isActiveProvider(other_provider)
            .call()
            .await
            .unwrap()
    );
    handle.shutdown().await.unwrap();
    task.await.unwrap();

    // A node that does not sell has nothing to register.
    let plain = tempfile::tempdir().unwrap();
    let (handle, event_loop) = runtime::start(node_config(plain.path(), 0, Vec::new())).unwrap();
    let task = tokio::spawn(event_loop.run());
    let err = handle.set_node_stake(200).await.unwrap_err();
    assert!(err.to_string().contains("does not sell storage"), "{err}");
    handle.shutdown().await.unwrap();
    task.await.unwrap();

    // A key file that holds no key is refused and left as it is, never replaced.
    std::fs::write(&key_file, "not a key").unwrap();
    let config = selling_config(
        dir.path(),
        devnet.rpc_url().to_owned(),
        runtime::NodeMarket::new(deployment_file),
    );
    let err = runtime::start(config).unwrap_err().to_string();
    assert!(
        err.contains("chain.key does not hold a hex secp256k1 private key"),
        "{err}"
    );
    assert!(err.contains("move it away"), "{err}");
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), "not a key");
}

#[tokio::test]
async fn a_selling_nodes_earnings_are_shown_only_once_verified() {
    let dir = tempfile::tempdir().unwrap();
    let (devnet, _, deployment_file) = market_devnet(dir.path()).await;
    // The runtime reaches the chain only through a proxy that can alter the node's answers.
    let proxy = Proxy::start(devnet.rpc_url()).await;
    let config = selling_config(
        dir.path(),
        proxy.url(),
        staked_market(dir.path(), deployment_file),
    );
    let (handle, event_loop) = runtime::start(config).unwrap();
    let task = tokio::spawn(event_loop.run());

    // Untampered: the earnings (none yet) are shown with the block they were proven against.
    let status = wait_for(&handle, "the earnings verified", |s| {
        market_of(s).is_some_and(|m| m.earnings_proof.is_some())
    })
    .await;
    let market = market_of(&status).unwrap();
    assert_eq!(market.earnings.as_deref(), Some("0"));
    assert_eq!(market.earnings_error, None);
    let proof = market.earnings_proof.unwrap();
    assert_eq!(proof.anchor, runtime::EarningsAnchor::Endpoint);
    let ChainState::Connected { latest_block, .. } = status.chain else {
        panic!("not connected: {status:?}");
    };
    assert!(
        proof.block >= 1 && proof.block <= latest_block + 1,
        "{proof:?}"
    );
    assert_eq!(proof.block_hash.len(), 66, "{proof:?}");
    assert_eq!(proxy.tampered(), 0);

    // Each tampering with what the earnings rest on is caught: nothing new is shown, the last
    // verified value stays, and the status says why. A quota change asks for a new check.
    let mut quota = 1u64 << 20;
    let mut verified_at = proof.block_hash.clone();
    for tamper in [
        Tamper::ProofStorageValue,
        Tamper::AccountProofNode,
        Tamper::Code,
    ] {
        proxy.set(tamper);
        let before = proxy.tampered();
        quota += 1 << 20;
        handle.set_node_quota(quota).await.unwrap();
        let status = wait_for(&handle, "the tampering caught", |s| {
            market_of(s).is_some_and(|m| m.earnings_error.is_some())
        })
        .await;
        assert!(proxy.tampered() > before, "{tamper:?} altered nothing");
        let market = market_of(&status).unwrap();
        let error = market.earnings_error.unwrap();
        assert!(
            error.starts_with("the earnings could not be verified"),
            "{tamper:?}: {error}"
        );
        assert_eq!(market.earnings.as_deref(), Some("0"), "{tamper:?}");
        assert_eq!(
            market.earnings_proof.unwrap().block_hash,
            verified_at,
            "{tamper:?}"
        );

        // Untampered again, the next check clears it.
        proxy.set(Tamper::None);
        quota += 1 << 20;
        handle.set_node_quota(quota).await.unwrap();
        let status = wait_for(&handle, "the earnings verified again", |s| {
            market_of(s).is_some_and(|m| m.earnings_error.is_none())
        })
        .await;
        verified_at = market_of(&status)
            .unwrap()
            .earnings_proof
            .unwrap()
            .block_hash;
    }
    handle.shutdown().await.unwrap();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nodes_transfers_and_activity_show_in_its_status() {
    let dir = tempfile::tempdir().unwrap();
    // Ticks every 100 ms (the least allowed): the upload below is seen under way many times.
    let config = Config {
        poll_interval: Duration::from_millis(100),
        ..node_config(dir.path(), 256 << 20, Vec::new())
    };
    let (handle, event_loop) = runtime::start(config.clone()).unwrap();
    let task = tokio::spawn(event_loop.run());
    let info = running(wait_for(&handle, "the node running", |s| peers_of(s).is_some()).await);
    assert!(
        info.transfers.is_empty() && info.activity.is_empty(),
        "{info:?}"
    );

    // A buyer (a plain node of the test's own) stores a 64 MiB file on it.
    let buyer_dir = tempfile::tempdir().unwrap();
    let mut options = node::Options::new(buyer_dir.path().to_owned());
    options.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    options.bootstrap = vec![info.listen_addrs[0].parse().unwrap()];
    options.mdns = false;
    options.upnp = false;
    let (buyer, _events, buyer_loop) = node::Node::start(options).await.unwrap();
    let buyer_task = tokio::spawn(buyer_loop.run());
    wait_for(&handle, "the buyer connected", |s| peers_of(s) == Some(1)).await;
    let size = 64u64 << 20;
    let bytes: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
    let file = buyer_dir.path().join("in.bin");
    std::fs::write(&file, &bytes).unwrap();
    let client = node::Client::new(buyer.clone());
    let provider: node::PeerId = info.peer_id.parse().unwrap();
    let put = tokio::spawn({
        let client = client.clone();
        let file = file.clone();
        async move { client.put_file(&file, 1, vec![provider]).await }
    });
    // Under way: shown with the buyer, the direction and the size.
    let during = running(
        wait_for(&handle, "the upload under way", |s| {
            s.node
                .running()
                .is_some_and(|info| !info.transfers.is_empty())
        })
        .await,
    );
    let transfer = &during.transfers[0];
    assert_eq!(transfer.peer, buyer.peer_id().to_string());
    assert!(!transfer.sending);
    assert_eq!(transfer.total_bytes, size);
    assert!(transfer.done_bytes < size, "{transfer:?}");
    let report = put.await.unwrap().unwrap();

    // Done: no longer under way; stored, then served, newest first.
    let out = buyer_dir.path().join("out.bin");
    client
        .get(report.id, None, &out, vec![provider])
        .await
        .unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
    let after = running(
        wait_for(&handle, "the download in the activity", |s| {
            s.node
                .running()
                .is_some_and(|info| info.activity.len() == 2 && info.transfers.is_empty())
        })
        .await,
    );
    let object = report.id.to_string();
    let buyer_id = buyer.peer_id().to_string();
    assert_eq!(
        after
            .activity
            .iter()
            .map(|a| a.what.clone())
            .collect::<Vec<_>>(),
        vec![
            runtime::ActivityKind::Served {
                object: object.clone(),
                bytes: size,
                peer: buyer_id.clone(),
            },
            runtime::ActivityKind::Stored {
                object,
                bytes: size,
                peer: buyer_id,
            },
        ]
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        after
            .activity
            .iter()
            .all(|a| a.at <= now && a.at + 120 > now)
    );
    buyer.shutdown().await.unwrap();
    buyer_task.await.unwrap();
    handle.shutdown().await.unwrap();
    task.await.unwrap();

    // The activity outlives a restart; the transfers under way do not.
    let (handle, event_loop) = runtime::start(config).unwrap();
    let task = tokio::spawn(event_loop.run());
    let again = running(
        wait_for(&handle, "the node running again", |s| {
            s.node.running().is_some()
        })
        .await,
    );
    assert_eq!(again.activity, after.activity);
    assert!(again.transfers.is_empty());
    handle.shutdown().await.unwrap();
    task.await.unwrap();
}

/// The runtime's beacon configuration for `chain`, served at `server`.
fn beacon_config(chain: &SignedChain, server: &beacon_chain::Server) -> runtime::BeaconConfig {
    runtime::BeaconConfig {
        network: chain.config().clone(),
        endpoints: vec![server.url.clone()],
        checkpoint: chain.checkpoint(),
    }
}

/// [`market_devnet`] under a beacon chain signed by a sync committee the test made, whose heads
/// commit to the devnet's latest block (a runtime trusts its checkpoint as a user trusts
/// mainnet's), served honestly: the devnet, its deployment file, the chain and its server.
async fn market_under_a_beacon_chain(
    dir: &Path,
) -> (
    Devnet,
    std::path::PathBuf,
    SignedChain,
    beacon_chain::Server,
) {
    let (devnet, _, deployment_file) = market_devnet(dir).await;
    let chain = SignedChain::new();
    let server = chain
        .serve(devnet.rpc_url(), beacon_chain::Behaviour::Honest)
        .await;
    (devnet, deployment_file, chain, server)
}

/// A node in `dir` selling on `deployment_file` with [`staked_market`], reaching its chain at
/// `rpc_url` and following `chain`'s beacon chain at `server`; started, its loop spawned.
fn start_following(
    dir: &Path,
    rpc_url: &str,
    deployment_file: std::path::PathBuf,
    chain: &SignedChain,
    server: &beacon_chain::Server,
) -> (Handle, tokio::task::JoinHandle<()>) {
    let mut config = selling_config(dir, rpc_url.to_owned(), staked_market(dir, deployment_file));
    config.beacon = Some(beacon_config(chain, server));
    let (handle, event_loop) = runtime::start(config).unwrap();
    (handle, tokio::spawn(event_loop.run()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_beacon_chain_the_earnings_are_proven_against_the_head_the_light_client_verified() {
    let dir = tempfile::tempdir().unwrap();
    let (devnet, deployment_file, chain, server) = market_under_a_beacon_chain(dir.path()).await;
    let (handle, task) = start_following(
        dir.path(),
        devnet.rpc_url(),
        deployment_file.clone(),
        &chain,
        &server,
    );

    let anchored = |s: &Status| {
        market_of(s)
            .and_then(|m| m.earnings_proof)
            .filter(|proof| matches!(proof.anchor, runtime::EarningsAnchor::Beacon { .. }))
    };
    let status = wait_for(
        &handle,
        "the earnings proven against the verified head",
        |s| anchored(s).is_some(),
    )
    .await;
    let market = market_of(&status).unwrap();
    assert_eq!(market.earnings.as_deref(), Some("0"));
    assert_eq!(market.earnings_error, None);
    let first = anchored(&status).unwrap();
    let runtime::EarningsAnchor::Beacon { slot: first_slot } = first.anchor else {
        unreachable!()
    };
    // The block is the devnet's own: the beacon header committed to it, the endpoint served it.
    assert_eq!(
        first.block_hash,
        devnet.block_hash(first.block).await.unwrap().unwrap()
    );
    assert!(
        server
            .log()
            .iter()
            .any(|(request, _)| request.starts_with("bootstrap/")),
        "the light client bootstrapped from the checkpoint: {:?}",
        server.log()
    );
    // The latest verified checkpoint is kept for the next start.
    let checkpoint_file =
        runtime::beacon::checkpoint_file(dir.path(), &chain.config().name, chain.checkpoint());
    let kept = std::fs::read_to_string(&checkpoint_file).unwrap();
    assert!(
        kept.trim().parse::<alloy_primitives::B256>().is_ok(),
        "{kept:?}"
    );

    // The chain moves on; the verified head follows it, and the next check is proven against a
    // later block in a later slot.
    devnet.mine().await.unwrap();
    devnet.mine().await.unwrap();
    handle.set_node_quota(2 << 20).await.unwrap();
    let status = wait_for(&handle, "the earnings proven against a later head", |s| {
        anchored(s).is_some_and(|proof| proof.block > first.block)
    })
    .await;
    let later = anchored(&status).unwrap();
    let runtime::EarningsAnchor::Beacon { slot } = later.anchor else {
        unreachable!()
    };
    assert!(slot > first_slot, "{later:?} after {first:?}");
    assert_eq!(
        later.block_hash,
        devnet.block_hash(later.block).await.unwrap().unwrap()
    );
    handle.shutdown().await.unwrap();
    task.await.unwrap();

    // Restarted with the same trusted checkpoint, it starts from the later one it kept.
    let kept: alloy_primitives::B256 = std::fs::read_to_string(&checkpoint_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_ne!(kept, chain.checkpoint(), "the kept checkpoint moved on");
    let bootstraps = || -> Vec<String> {
        server
            .log()
            .into_iter()
            .map(|(request, _)| request)
            .filter(|request| request.starts_with("bootstrap/"))
            .collect()
    };
    let before = bootstraps().len();
    let (handle, task) = start_following(
        dir.path(),
        devnet.rpc_url(),
        deployment_file.clone(),
        &chain,
        &server,
    );
    let status = wait_for(&handle, "the earnings proven after a restart", |s| {
        anchored(s).is_some()
    })
    .await;
    let again = anchored(&status).unwrap();
    assert!(again.block >= later.block, "{again:?} after {later:?}");
    // (Each request is logged twice: SSZ asked first, then JSON.)
    let after = bootstraps();
    assert!(
        after.len() > before
            && after[before..]
                .iter()
                .all(|b| *b == format!("bootstrap/{kept}")),
        "{after:?}"
    );
    handle.shutdown().await.unwrap();
    task.await.unwrap();

    // Given another trusted checkpoint (a user who no longer trusts the first one's source), it
    // starts from that one, never from what it verified from the first: here a root no beacon
    // endpoint knows, which leaves it without a head and the earnings unshown.
    let other = alloy_primitives::B256::repeat_byte(7);
    let mut config = selling_config(
        dir.path(),
        devnet.rpc_url().to_owned(),
        staked_market(dir.path(), deployment_file),
    );
    config.beacon = Some(runtime::BeaconConfig {
        checkpoint: other,
        ..beacon_config(&chain, &server)
    });
    let (handle, event_loop) = runtime::start(config).unwrap();
    let task = tokio::spawn(event_loop.run());
    let status = wait_for(&handle, "the earnings waiting for a head", |s| {
        market_of(s).is_some_and(|m| m.earnings_error.is_some())
            && s.light_client.as_ref().is_some_and(|lc| lc.error.is_some())
    })
    .await;
    assert_eq!(status.light_client.as_ref().unwrap().head, None);
    assert_eq!(market_of(&status).unwrap().earnings, None);
    assert_eq!(
        bootstraps().last(),
        Some(&format!("bootstrap/{other}")),
        "{:?}",
        bootstraps()
    );
    handle.shutdown().await.unwrap();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn earnings_are_not_shown_from_an_endpoint_off_the_verified_chain_or_without_a_verified_head()
{
    let dir = tempfile::tempdir().unwrap();
    // The beacon chain signs devnet A's blocks; the node's endpoint is devnet B: the same
    // contracts at the same addresses, a consistent chain of its own, whose earnings an
    // endpoint-anchored check would accept.
    let (signed, _, deployment_file) = market_devnet(dir.path()).await;
    // (Its clock moved first, so its blocks differ from A's from the first one on, even when
    // both started in the same second.)
    let other = Devnet::start().await.unwrap();
    other.increase_time(1000).await.unwrap();
    other
        .deploy(&chain::contracts::DeployOptions::default())
        .await
        .unwrap();
    let chain = SignedChain::new();
    let server = chain
        .serve(signed.rpc_url(), beacon_chain::Behaviour::Honest)
        .await;
    let (handle, task) = start_following(
        dir.path(),
        other.rpc_url(),
        deployment_file.clone(),
        &chain,
        &server,
    );
    // (Until the light client verifies its first head, the earnings wait for it.)
    let status = wait_for(&handle, "the earnings refused", |s| {
        market_of(s)
            .and_then(|m| m.earnings_error)
            .is_some_and(|error| error.contains("anchoring"))
    })
    .await;
    let market = market_of(&status).unwrap();
    let error = market.earnings_error.unwrap();
    assert!(
        error.starts_with("the earnings could not be verified: anchoring on block")
            && error.contains("which the beacon chain signed at slot")
            && error.contains("on the same network as the beacon chain"),
        "{error}"
    );
    assert_eq!(market.earnings, None, "nothing unverified is shown");
    assert_eq!(market.earnings_proof, None);
    // The node itself is unaffected: it registered through its endpoint.
    assert_eq!(market.announce_error, None);
    handle.shutdown().await.unwrap();
    task.await.unwrap();

    // A beacon endpoint whose head updates are not signed by the committee the checkpoint names
    // moves nothing: the light client stays on the checkpoint (whose block this endpoint does
    // not have), names the endpoint, and no earnings are shown.
    let dir = tempfile::tempdir().unwrap();
    let server = chain
        .serve(signed.rpc_url(), beacon_chain::Behaviour::WrongKeys)
        .await;
    let (handle, task) = start_following(
        dir.path(),
        signed.rpc_url(),
        deployment_file,
        &chain,
        &server,
    );
    let status = wait_for(&handle, "the endpoint refused", |s| {
        s.light_client.as_ref().is_some_and(|lc| lc.error.is_some())
            && market_of(s).is_some_and(|m| m.earnings_error.is_some())
    })
    .await;
    let light_client = status.light_client.clone().unwrap();
    let error = light_client.error.unwrap();
    assert!(
        error.contains("failed verification and is skipped") && error.contains(&server.url),
        "{error}"
    );
    let checkpoint = chain.bootstrap().header.beacon.slot;
    assert_eq!(light_client.head.map(|head| head.slot), Some(checkpoint));
    let market = market_of(&status).unwrap();
    assert_eq!(market.earnings, None, "{market:?}");
    assert_eq!(market.earnings_proof, None);
    handle.shutdown().await.unwrap();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_checkpoint_that_does_not_parse_is_named_and_left_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let devnet = Devnet::start().await.unwrap();
    let chain = SignedChain::new();
    let server = chain
        .serve(devnet.rpc_url(), beacon_chain::Behaviour::Honest)
        .await;
    let file =
        runtime::beacon::checkpoint_file(dir.path(), &chain.config().name, chain.checkpoint());
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "not a root\n").unwrap();
    let config = Config {
        beacon: Some(beacon_config(&chain, &server)),
        data_dir: dir.path().to_owned(),
        ..config(devnet.rpc_url())
    };
    let (handle, event_loop) = runtime::start(config).unwrap();
    let task = tokio::spawn(event_loop.run());
    let status = wait_for(&handle, "the light client's error", |s| {
        s.light_client.as_ref().is_some_and(|lc| lc.error.is_some())
    })
    .await;
    let light_client = status.light_client.unwrap();
    let error = light_client.error.unwrap();
    assert!(
        error.contains(&file.display().to_string()) && error.contains("delete it"),
        "{error}"
    );
    assert_eq!(light_client.head, None);
    // Nothing stored is replaced: the file may be the user's to fix.
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "not a root\n");
    handle.shutdown().await.unwrap();
    task.await.unwrap();
}

/// Asserts that a setting was refused as [`runtime::Error::Config`] naming `reason`.
fn refused(result: Result<Status, runtime::Error>, reason: &str) {
    match result {
        Err(runtime::Error::Config(message)) => assert!(message.contains(reason), "{message}"),
        other => panic!("expected a configuration error naming {reason}, got {other:?}"),
    }
}

/// The earnings' proof in `status`, when it is anchored as `beacon` says (on the light client's
/// head, or on the endpoint's latest block).
fn proof_anchored(status: &Status, beacon: bool) -> Option<runtime::EarningsProof> {
    market_of(status)
        .and_then(|m| m.earnings_proof)
        .filter(|proof| matches!(proof.anchor, runtime::EarningsAnchor::Beacon { .. }) == beacon)
}

/// What `settings.json` in `dir` holds under `key` (null when it holds nothing there, or there is
/// no file).
fn saved_setting(dir: &Path, key: &str) -> serde_json::Value {
    let Ok(text) = std::fs::read_to_string(dir.join(runtime::settings::FILE_NAME)) else {
        return serde_json::Value::Null;
    };
    let settings: serde_json::Value = serde_json::from_str(&text).unwrap();
    settings
        .get(key)
        .cloned()
        .unwrap_or(serde_json::Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_light_client_set_at_runtime_anchors_the_earnings_and_is_kept_over_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let (devnet, deployment_file, chain, server) = market_under_a_beacon_chain(dir.path()).await;
    // As a user of the app would give it: the network's file, the endpoint, the checkpoint.
    let network_file = dir.path().join("network.json");
    std::fs::write(&network_file, chain.config_json()).unwrap();
    let settings = runtime::LightClientSettings {
        network: network_file.display().to_string(),
        endpoints: vec![server.url.clone()],
        checkpoint: chain.checkpoint().to_string(),
    };
    // No beacon chain configured: the earnings are anchored on the endpoint's latest block.
    let config = || {
        selling_config(
            dir.path(),
            devnet.rpc_url().to_owned(),
            staked_market(dir.path(), deployment_file.clone()),
        )
    };
    let (handle, event_loop) = runtime::start(config()).unwrap();
    let task = tokio::spawn(event_loop.run());
    wait_for(&handle, "the earnings anchored on the endpoint", |s| {
        proof_anchored(s, false).is_some()
    })
    .await;

    // What does not hold is refused, naming what is wrong, and changes nothing.
    let bad = [
        (
            runtime::LightClientSettings {
                network: "holesky-old".into(),
                ..settings.clone()
            },
            "unknown network \"holesky-old\"",
        ),
        (
            runtime::LightClientSettings {
                checkpoint: "0x1234".into(),
                ..settings.clone()
            },
            "\"0x1234\" is not a beacon block root",
        ),
        (
            runtime::LightClientSettings {
                endpoints: vec![" ".into()],
                ..settings.clone()
            },
            "no beacon API endpoint",
        ),
        (
            runtime::LightClientSettings {
                endpoints: vec!["beacon.example:5052".into()],
                ..settings.clone()
            },
            "beacon.example:5052",
        ),
    ];
    for (settings, reason) in bad {
        refused(handle.set_light_client(Some(settings)).await, reason);
    }
    assert_eq!(handle.status().light_client, None);
    assert!(
        !dir.path().join(runtime::settings::FILE_NAME).exists(),
        "nothing was saved"
    );

    // Set: the light client follows that chain at once, and the earnings are proven against
    // the head it verified.
    let status = handle
        .set_light_client(Some(settings.clone()))
        .await
        .unwrap();
    let light_client = status.light_client.unwrap();
    assert_eq!(light_client.network, chain.config().name);
    assert_eq!(light_client.endpoints, vec![server.url.clone()]);
    assert_eq!(light_client.checkpoint, chain.checkpoint().to_string());
    assert_eq!(
        saved_setting(dir.path(), "lightClient"),
        serde_json::to_value(&settings).unwrap()
    );
    let status = wait_for(&handle, "the earnings anchored on the verified head", |s| {
        proof_anchored(s, true).is_some()
    })
    .await;
    let proof = proof_anchored(&status, true).unwrap();
    assert_eq!(
        proof.block_hash,
        devnet.block_hash(proof.block).await.unwrap().unwrap()
    );
    handle.shutdown().await.unwrap();
    task.await.unwrap();

    // Restarted with the same configuration (no beacon chain in it), it follows the saved one.
    let (handle, event_loop) = runtime::start(config()).unwrap();
    assert_eq!(
        handle.status().light_client.map(|lc| lc.network),
        Some(chain.config().name.clone())
    );
    let task = tokio::spawn(event_loop.run());
    wait_for(
        &handle,
        "the saved light client's anchor after a restart",
        |s| proof_anchored(s, true).is_some(),
    )
    .await;

    // Stopped: the earnings are anchored on the endpoint again, and that is saved too.
    let status = handle.set_light_client(None).await.unwrap();
    assert_eq!(status.light_client, None);
    assert_eq!(
        saved_setting(dir.path(), "lightClient"),
        serde_json::Value::Null
    );
    wait_for(
        &handle,
        "the earnings anchored on the endpoint again",
        |s| proof_anchored(s, false).is_some(),
    )
    .await;

    // Saved settings that no longer hold (the network's file is gone) leave the light client
    // without a head, saying why, and the earnings wait for it rather than fall back to the
    // endpoint's word.
    handle.set_light_client(Some(settings)).await.unwrap();
    handle.shutdown().await.unwrap();
    task.await.unwrap();
    std::fs::remove_file(&network_file).unwrap();
    let (handle, event_loop) = runtime::start(config()).unwrap();
    let task = tokio::spawn(event_loop.run());
    let status = wait_for(&handle, "the earnings waiting for the light client", |s| {
        market_of(s).is_some_and(|m| m.earnings_error.is_some())
    })
    .await;
    let error = status.light_client.clone().unwrap().error.unwrap();
    assert!(
        error.contains("settings saved in settings.json cannot be used")
            && error.contains(&network_file.display().to_string()),
        "{error}"
    );
    let market = market_of(&status).unwrap();
    assert!(
        market
            .earnings_error
            .as_deref()
            .is_some_and(|e| e.contains("cannot be used")),
        "{market:?}"
    );
    assert_eq!(market.earnings, None);
    handle.shutdown().await.unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn a_market_set_at_runtime_sells_and_is_kept_over_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let (devnet, deployment, deployment_file) = market_devnet(dir.path()).await;
    let data_dir = dir.path().join("data");
    let config = || Config {
        rpc_url: Some(devnet.rpc_url().to_owned()),
        ..node_config(&data_dir, 1 << 20, Vec::new())
    };
    let (handle, task, _) = run_node(config()).await;
    assert!(market_of(&handle.status()).is_none());
    let request = |file: &Path, payout: Option<&str>| runtime::SetNodeMarket {
        deployment_file: file.display().to_string(),
        payout: payout.map(str::to_owned),
    };

    // What does not hold is refused, naming what is wrong, and changes nothing.
    let missing = dir.path().join("nowhere.json");
    let wallet = Devnet::key(5).address().to_checksum(None);
    let other_chain = dir.path().join("mainnet-deployment.json");
    chain::contracts::Deployment {
        chain_id: 1,
        ..deployment.clone()
    }
    .write(&other_chain)
    .unwrap();
    for (bad, reason) in [
        (
            request(&other_chain, None),
            format!(
                "is a deployment on chain 1, but the chain endpoint {} serves chain",
                devnet.rpc_url()
            ),
        ),
        (request(&missing, None), missing.display().to_string()),
        (
            request(&deployment_file, Some("0x12")),
            "\"0x12\" is not a chain address".to_owned(),
        ),
    ] {
        refused(handle.set_node_market(bad).await, &reason);
    }
    assert!(!data_dir.join(runtime::settings::FILE_NAME).exists());
    assert!(market_of(&handle.status()).is_none());

    // Set: the node restarts selling on it, with a key of its own, its identity kept.
    let peer_id = running(handle.status()).peer_id;
    let status = handle
        .set_node_market(request(&deployment_file, Some(&wallet)))
        .await
        .unwrap();
    let info = running(status);
    assert_eq!(info.peer_id, peer_id);
    let provider = info.market.unwrap().provider;
    assert!(data_dir.join("node").join("chain.key").is_file());
    assert!(
        (0..6).all(|anvil| provider != Devnet::key(anvil).address().to_checksum(None)),
        "{provider} is a key of the node's own"
    );
    let settings = std::fs::read_to_string(data_dir.join(runtime::settings::FILE_NAME)).unwrap();
    assert!(
        settings.contains(&format!("\"payout\": \"{}\"", wallet.to_lowercase())),
        "{settings}"
    );
    // Unregistered (no stake yet), so it says so.
    wait_for(&handle, "the market's first announcement", |s| {
        market_of(s).is_some_and(|m| m.announce_error.is_some())
    })
    .await;
    // A selling node's market is not changed from here.
    refused(
        handle
            .set_node_market(request(&deployment_file, None))
            .await,
        "sells storage already",
    );
    handle.shutdown().await.unwrap();
    task.await.unwrap();

    // Restarted, it sells on the saved market, from its own copy of the deployment.
    std::fs::remove_file(&deployment_file).unwrap();
    let (handle, task, _) = run_node(config()).await;
    let status = wait_for(&handle, "the saved market", |s| market_of(s).is_some()).await;
    assert_eq!(market_of(&status).unwrap().provider, provider);
    handle.shutdown().await.unwrap();
    task.await.unwrap();
    let copy = data_dir.join(runtime::MARKET_DEPLOYMENT_FILE);
    assert_eq!(
        chain::contracts::Deployment::read(&copy).unwrap(),
        deployment
    );

    // A copy that no longer parses leaves the node running without the market, saying why.
    std::fs::write(&copy, "{ not json").unwrap();
    let (handle, task, _) = run_node(config()).await;
    let info = running(handle.status());
    assert!(info.market.is_none());
    let error = info.market_error.unwrap();
    assert!(
        error.contains("storage market saved in settings.json cannot be used")
            && error.contains("deployment.json"),
        "{error}"
    );
    handle.shutdown().await.unwrap();
    task.await.unwrap();
}

/// The endpoint a status reads the chain through, where it comes from, and the network's name.
fn endpoint_of(status: &Status) -> (String, runtime::EndpointSource, String) {
    (
        status.rpc_url.clone(),
        status.rpc_source,
        status.network.clone(),
    )
}

/// `rpc_url` as a typed endpoint, with the network's `name` (empty: named after its chain id).
fn typed(rpc_url: &str, name: &str) -> Option<runtime::ChainSettings> {
    Some(runtime::ChainSettings {
        rpc_url: rpc_url.to_owned(),
        network: name.to_owned(),
    })
}

/// Waits until `handle` reads chain `chain_id`.
async fn connected_to(handle: &Handle, chain_id: u64) -> Status {
    wait_for(
        handle,
        &format!("chain {chain_id}"),
        |s| matches!(s.chain, ChainState::Connected { chain_id: id, .. } if id == chain_id),
    )
    .await
}

#[tokio::test]
async fn a_chain_endpoint_set_at_runtime_is_checked_saved_and_yields_to_the_shells() {
    use runtime::EndpointSource::{Given, Saved};
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let home = Devnet::start().await.unwrap();
    let other = Devnet::start_with(chain::devnet::Options {
        chain_id: Some(4242),
        ..Default::default()
    })
    .await
    .unwrap();
    let given = |rpc_url: Option<&str>| Config {
        rpc_url: rpc_url.map(str::to_owned),
        poll_interval: Duration::from_millis(200),
        ..Config::devnet(data_dir.clone())
    };
    let (handle, event_loop) = runtime::start(given(None)).unwrap();
    let task = tokio::spawn(event_loop.run());
    assert_eq!(
        endpoint_of(&handle.status()),
        (
            chain::DEVNET_DEFAULT_RPC_URL.to_owned(),
            runtime::EndpointSource::Default,
            "devnet".to_owned()
        )
    );

    // What cannot be read through is refused, saying why, and nothing is saved.
    let silent = format!(
        "http://127.0.0.1:{}",
        testkit::process::free_port().unwrap()
    );
    for (bad, reason) in [
        ("127.0.0.1:8545", "write the chain's JSON-RPC endpoint like"),
        ("ftp://rpc.example", "unsupported scheme"),
        (silent.as_str(), "did not answer with its chain id"),
    ] {
        refused(handle.set_chain(typed(bad, "")).await, reason);
    }
    assert!(!data_dir.join(runtime::settings::FILE_NAME).exists());

    // Set without a name: named after its chain id, read at once, saved.
    let status = handle.set_chain(typed(other.rpc_url(), " ")).await.unwrap();
    assert_eq!(
        endpoint_of(&status),
        (other.rpc_url().to_owned(), Saved, "chain 4242".to_owned())
    );
    connected_to(&handle, 4242).await;
    // Set with a name: that one.
    let status = handle
        .set_chain(typed(&format!(" {} ", home.rpc_url()), "home"))
        .await
        .unwrap();
    assert_eq!(
        endpoint_of(&status),
        (home.rpc_url().to_owned(), Saved, "home".to_owned())
    );
    connected_to(&handle, home.chain_id()).await;
    assert_eq!(
        saved_setting(&data_dir, "chain"),
        serde_json::json!({"rpcUrl": home.rpc_url(), "network": "home"})
    );
    handle.shutdown().await.unwrap();
    task.await.unwrap();

    // Restarted without an endpoint from the shell: the saved one.
    let (handle, event_loop) = runtime::start(given(None)).unwrap();
    let task = tokio::spawn(event_loop.run());
    assert_eq!(
        endpoint_of(&handle.status()),
        (home.rpc_url().to_owned(), Saved, "home".to_owned())
    );
    connected_to(&handle, home.chain_id()).await;
    handle.shutdown().await.unwrap();
    task.await.unwrap();

    // Given one by the shell, that one wins; returning to "the default" returns to it, and
    // forgets the saved one.
    let (handle, event_loop) = runtime::start(given(Some(other.rpc_url()))).unwrap();
    let task = tokio::spawn(event_loop.run());
    assert_eq!(
        endpoint_of(&handle.status()),
        (other.rpc_url().to_owned(), Given, "devnet".to_owned())
    );
    connected_to(&handle, 4242).await;
    handle.set_chain(typed(home.rpc_url(), "")).await.unwrap();
    connected_to(&handle, home.chain_id()).await;
    let status = handle.set_chain(None).await.unwrap();
    assert_eq!(
        endpoint_of(&status),
        (other.rpc_url().to_owned(), Given, "devnet".to_owned())
    );
    connected_to(&handle, 4242).await;
    assert_eq!(saved_setting(&data_dir, "chain"), serde_json::Value::Null);
    handle.shutdown().await.unwrap();
    task.await.unwrap();

    // Nothing given, nothing saved: the devnet's.
    let (handle, event_loop) = runtime::start(given(None)).unwrap();
    let task = tokio::spawn(event_loop.run());
    assert_eq!(
        endpoint_of(&handle.status()).1,
        runtime::EndpointSource::Default
    );
    handle.shutdown().await.unwrap();
    task.await.unwrap();

    // A saved endpoint edited into one that is not a URL is named at start.
    std::fs::write(
        data_dir.join(runtime::settings::FILE_NAME),
        r#"{"chain": {"rpcUrl": "rpc.example", "network": "x"}}"#,
    )
    .unwrap();
    let err = runtime::start(given(None)).unwrap_err().to_string();
    assert!(
        err.contains("chain endpoint saved in settings.json cannot be used"),
        "{err}"
    );
}

#[tokio::test]
async fn a_selling_node_stays_on_its_chain_and_sells_through_a_new_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (devnet, _, deployment_file) = market_devnet(dir.path()).await;
    let other = Devnet::start_with(chain::devnet::Options {
        chain_id: Some(4242),
        ..Default::default()
    })
    .await
    .unwrap();
    // Another endpoint of the same chain, which alters the proofs the earnings rest on: once
    // the node sells through it, its earnings fail verification.
    let proxy = Proxy::start(devnet.rpc_url()).await;
    let config = selling_config(
        dir.path(),
        devnet.rpc_url().to_owned(),
        staked_market(dir.path(), deployment_file),
    );
    let data_dir = config.data_dir.clone();
    let (handle, event_loop) = runtime::start(config).unwrap();
    let task = tokio::spawn(event_loop.run());
    let status = wait_for(&handle, "the earnings verified", |s| {
        market_of(s).is_some_and(|m| m.earnings_proof.is_some())
    })
    .await;
    let peer_id = running(status).peer_id;

    // Another chain: its deals are not there.
    refused(
        handle.set_chain(typed(other.rpc_url(), "")).await,
        &format!(
            "this node sells storage on chain {} (the deployment in {}), and its deals are \
             proven there, but {} serves chain 4242",
            devnet.chain_id(),
            dir.path().join("deployment.json").display(),
            other.rpc_url()
        ),
    );
    assert_eq!(saved_setting(&data_dir, "chain"), serde_json::Value::Null);

    // The same chain through another endpoint: the node restarts selling through it.
    proxy.set(Tamper::ProofStorageValue);
    let status = handle.set_chain(typed(&proxy.url(), "")).await.unwrap();
    assert_eq!(
        endpoint_of(&status),
        (
            proxy.url(),
            runtime::EndpointSource::Saved,
            "devnet".to_owned()
        )
    );
    assert_eq!(running(status).peer_id, peer_id);
    let status = wait_for(&handle, "the altered proofs caught", |s| {
        market_of(s).is_some_and(|m| m.earnings_error.is_some())
    })
    .await;
    assert!(proxy.tampered() > 0);
    assert_eq!(market_of(&status).unwrap().earnings, None);

    // Back to the shell's: verified again.
    handle.set_chain(None).await.unwrap();
    let status = wait_for(&handle, "the earnings verified again", |s| {
        market_of(s).is_some_and(|m| m.earnings_proof.is_some() && m.earnings_error.is_none())
    })
    .await;
    assert_eq!(status.rpc_url, devnet.rpc_url());
    assert_eq!(running(status).peer_id, peer_id);
    handle.shutdown().await.unwrap();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_stored_through_the_node_lands_on_providers_and_comes_back_verified() {
    let dir = tempfile::tempdir().unwrap();
    // Two providers (1 MiB each, no market: they store for anyone), and a client that knows them.
    let mut providers = Vec::new();
    let mut addrs = Vec::new();
    for name in ["a", "b"] {
        let (handle, task, _) =
            run_node(node_config(&dir.path().join(name), 1 << 20, Vec::new())).await;
        let info = running(handle.status());
        addrs.push(info.listen_addrs[0].clone());
        providers.push((handle, task, info.peer_id));
    }
    let client_dir = dir.path().join("client");
    let client = || node_config(&client_dir, 0, addrs.clone());
    let (handle, task, _) = run_node(client()).await;
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let file = dir.path().join("photo.jpg");
    std::fs::write(&file, &data).unwrap();
    let store = |path: &Path, copies| runtime::StoreFile {
        path: path.display().to_string(),
        copies,
        keep_until: None,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();

    // What cannot be stored is refused before anything is sent.
    for (bad, reason) in [
        (
            store(&dir.path().join("nowhere.jpg"), 2),
            "cannot store".to_owned(),
        ),
        (store(dir.path(), 2), "is not a file".to_owned()),
        (store(&file, 0), "store between 1 and 16 copies".to_owned()),
        (
            runtime::StoreFile {
                keep_until: Some(now - 1),
                ..store(&file, 2)
            },
            "the date to keep the file until is past".to_owned(),
        ),
    ] {
        match handle.store_file(bad).await {
            Err(runtime::Error::Request(message)) => {
                assert!(message.contains(&reason), "{message}")
            }
            other => panic!("expected {reason}, got {other:?}"),
        }
    }

    // Stored: two copies, one on each provider, listed in the client's status, kept for a year.
    let year = now + 365 * 86_400;
    let request = runtime::StoreFile {
        keep_until: Some(year),
        ..store(&file, 2)
    };
    let stored = handle.store_file(request).await.unwrap();
    assert_eq!(stored.file.name, "photo.jpg");
    assert_eq!(stored.file.keep_until, Some(year));
    assert_eq!(stored.file.size, data.len() as u64);
    assert!(
        stored.file.deals.is_empty() && stored.file.paid_until.is_none(),
        "no market, no deals"
    );
    let mut holders = stored.file.holders.clone();
    holders.sort();
    let mut expected: Vec<String> = providers.iter().map(|(_, _, peer)| peer.clone()).collect();
    expected.sort();
    assert_eq!(holders, expected);
    for (provider, _, _) in &providers {
        let info = wait_for(provider, "the copy stored", |s| {
            s.node.running().is_some_and(|info| info.objects == 1)
        })
        .await;
        assert_eq!(running(info).stored_bytes, data.len() as u64);
    }
    let status = wait_for(&handle, "the file listed", |s| {
        s.node.running().is_some_and(|info| !info.files.is_empty())
    })
    .await;
    assert_eq!(running(status).files, vec![stored.file.clone()]);

    // Fetched back, verified, into a new file; an existing one is never overwritten.
    let fetch = |id: &str, output: &Path| runtime::FetchFile {
        id: id.to_owned(),
        output: output.display().to_string(),
    };
    let copy = dir.path().join("copy.jpg");
    let fetched = handle
        .fetch_file(fetch(&stored.file.id, &copy))
        .await
        .unwrap();
    assert_eq!(fetched.bytes, data.len() as u64);
    assert_eq!(std::fs::read(&copy).unwrap(), data);
    for (bad, reason) in [
        (fetch(&stored.file.id, &copy), "exists already"),
        (fetch("12ab", &dir.path().join("x")), "is not a content id"),
        (
            fetch(&stored.file.id, &dir.path().join("no-folder").join("x")),
            "does not exist",
        ),
    ] {
        match handle.fetch_file(bad).await {
            Err(runtime::Error::Request(message)) => assert!(message.contains(reason), "{message}"),
            other => panic!("expected {reason}, got {other:?}"),
        }
    }
    assert_eq!(std::fs::read(&copy).unwrap(), data);

    // With one provider gone, the other serves it; restarted, the client still lists the file.
    let (a, task_a, _) = providers.remove(0);
    a.shutdown().await.unwrap();
    task_a.await.unwrap();
    handle.shutdown().await.unwrap();
    task.await.unwrap();
    let (handle, task, _) = run_node(client()).await;
    let status = wait_for(&handle, "the file listed after a restart", |s| {
        s.node.running().is_some_and(|info| !info.files.is_empty())
    })
    .await;
    assert_eq!(running(status).files, vec![stored.file.clone()]);
    let second = dir.path().join("second.jpg");
    let fetched = handle
        .fetch_file(fetch(&stored.file.id, &second))
        .await
        .unwrap();
    assert_eq!(fetched.holders, vec![providers[0].2.clone()]);
    assert_eq!(std::fs::read(&second).unwrap(), data);

    // No holder left: the fetch fails, saying so, and leaves no file behind.
    let (b, task_b, _) = providers.remove(0);
    b.shutdown().await.unwrap();
    task_b.await.unwrap();
    let third = dir.path().join("third.jpg");
    match handle.fetch_file(fetch(&stored.file.id, &third)).await {
        Err(runtime::Error::Storage(message)) => {
            assert!(message.contains("no holder"), "{message}")
        }
        other => panic!("expected no holder, got {other:?}"),
    }
    assert!(!third.exists());
    assert_eq!(
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|entry| entry.file_name().to_string_lossy().ends_with(".part"))
            .count(),
        0,
        "no partial download is left"
    );

    // Forgotten: refused for what is not in the list, then gone from it and from the catalog.
    let forget = |id: &str| runtime::ForgetFile { id: id.to_owned() };
    for (bad, reason) in [
        (forget("12ab"), "is not a content id"),
        (
            forget(&"cd".repeat(32)),
            "is not in the list of stored files",
        ),
    ] {
        match handle.forget_file(bad).await {
            Err(runtime::Error::Request(message)) => assert!(message.contains(reason), "{message}"),
            other => panic!("expected {reason}, got {other:?}"),
        }
    }
    let forgot = handle.forget_file(forget(&stored.file.id)).await.unwrap();
    assert_eq!(
        forgot,
        runtime::ForgotFile {
            name: "photo.jpg".into(),
            ended: Vec::new(),
            refunded: "0".into(),
            not_ended: Vec::new(),
        },
        "no market, no deals to end"
    );
    assert!(running(handle.status()).files.is_empty());
    let catalog = node::buyer::Catalog::in_dir(&client_dir.join(runtime::CLIENT_DIR));
    assert!(catalog.entries().unwrap().is_empty());
    match handle.forget_file(forget(&stored.file.id)).await {
        Err(runtime::Error::Request(message)) => {
            assert!(message.contains("not in the list"), "{message}")
        }
        other => panic!("forgotten twice: {other:?}"),
    }
    handle.shutdown().await.unwrap();
    task.await.unwrap();

    // A node without a node: says so.
    let (bare, bare_loop) = runtime::start(config("http://127.0.0.1:1")).unwrap();
    let bare_task = tokio::spawn(bare_loop.run());
    assert!(matches!(
        bare.store_file(store(&file, 1)).await,
        Err(runtime::Error::NoNode)
    ));
    bare.shutdown().await.unwrap();
    bare_task.await.unwrap();
}
