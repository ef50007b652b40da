//! Discovery: peers found through a bootstrap node, providers through identify, the DHT and
//! gossiped offers; the key persists across restarts.

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_find_each_other_and_the_providers() {
    let a = start(1 << 30, vec![]).await;
    let b = start(1 << 30, vec![a.addr.clone()]).await;
    let c = start(0, vec![a.addr.clone()]).await;
    // c only dialled a, yet learns about b as a provider (DHT provider records / gossip).
    let found = providers(&c.handle, 2).await;
    assert!(found.contains(&a.handle.peer_id()));
    assert!(found.contains(&b.handle.peer_id()));
    assert!(!found.contains(&c.handle.peer_id()));
    // The client-only node does not offer storage.
    let seen_by_a = providers(&a.handle, 1).await;
    assert_eq!(seen_by_a, vec![b.handle.peer_id()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_persists_in_the_data_dir() {
    let node = start(0, vec![]).await;
    let id = node.handle.peer_id();
    let dir = node.stop().await;
    let again = start_in(dir, 0, vec![]).await;
    assert_eq!(again.handle.peer_id(), id);
    assert!(again.addr.to_string().ends_with(&format!("/p2p/{id}")));
}
