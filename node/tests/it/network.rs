//! Discovery: peers found through a bootstrap node, providers through identify, the DHT and
//! gossiped offers; the key persists across restarts.

use node::{ContentId, Event, FORGET_AFTER_FAILED_DIALS};

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

/// A node that answers no DHT queries (`dht_server: false`, as `cairn storage`'s node, which
/// runs for one command) still finds providers, but no peer keeps it in its routing table, so
/// no lookup waits on it once it is gone; a node left at the default is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_answers_no_dht_queries_is_kept_in_no_routing_table() {
    let a = start(1 << 30, vec![]).await;
    let bootstrap = vec![a.addr.clone()];
    let client = start_with(tempfile::tempdir().unwrap(), |dir| {
        let mut options = options(dir, 0, bootstrap);
        options.dht_server = false;
        options
    })
    .await;
    let client_id = client.handle.peer_id();
    // Connected, and each side told the other its protocols (identify).
    assert_eq!(providers(&client.handle, 1).await, vec![a.handle.peer_id()]);
    // A provider that starts after it: the client finds it too, and a keeps it in its table.
    let b = start(1 << 30, vec![a.addr.clone()]).await;
    assert!(
        providers(&client.handle, 2)
            .await
            .contains(&b.handle.peer_id())
    );
    let b_id = b.handle.peer_id();
    in_routing_table(&a.handle, b_id, true).await;
    assert!(a.handle.peers().await.unwrap().contains(&client_id));
    assert_eq!(a.handle.addresses_of(client_id).await.unwrap(), vec![]);
    // A peer that dials it (as a provider dials a buyer back) puts the address it dialled in
    // its table, as for any peer, until identify says the client answers no DHT queries.
    let d = start(0, vec![]).await;
    d.handle.dial(client.addr.clone()).await.unwrap();
    in_routing_table(&d.handle, client_id, false).await;
    assert_eq!(d.handle.peers().await.unwrap(), vec![client_id]);
}

/// The failed dials of `peer` and the times it was forgotten, among the events received so far.
fn dials_failed_and_forgotten(
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    peer: node::PeerId,
) -> (u32, u32) {
    let (mut failed, mut forgotten) = (0, 0);
    while let Ok(event) = events.try_recv() {
        match event {
            Event::DialFailed { peer: Some(p), .. } if p == peer => failed += 1,
            Event::Forgotten { peer: p } if p == peer => forgotten += 1,
            _ => {}
        }
    }
    (failed, forgotten)
}

/// A peer that went away is dialled by the DHT's lookups a few times, then forgotten (no more
/// dials, no longer a provider); a bootstrap peer that went away is dialled by every lookup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_departed_peer_is_forgotten_after_a_few_failed_dials_but_a_bootstrap_peer_is_not() {
    let a = start(1 << 30, vec![]).await;
    let b = start(1 << 30, vec![a.addr.clone()]).await;
    let c = start(0, vec![a.addr.clone()]).await;
    let gone = b.handle.peer_id();
    assert!(providers(&a.handle, 1).await.contains(&gone));
    let lookups = 4 * FORGET_AFTER_FAILED_DIALS;
    let lookup = |handle: node::Handle| async move {
        for _ in 0..lookups {
            holders_found(&handle, ContentId([7; 32])).await;
        }
    };

    let mut events = a.handle.subscribe();
    b.kill();
    next_event(&mut events, |e| {
        matches!(e, Event::PeerDisconnected { peer } if *peer == gone).then_some(())
    })
    .await;
    lookup(a.handle.clone()).await;
    let (failed, forgotten) = dials_failed_and_forgotten(&mut events, gone);
    assert_eq!(forgotten, 1);
    // One more dial may have been under way when it was forgotten.
    assert!(
        (FORGET_AFTER_FAILED_DIALS..=FORGET_AFTER_FAILED_DIALS + 1).contains(&failed),
        "{failed} dials failed over {lookups} lookups"
    );
    let listed = a.handle.providers().await.unwrap();
    assert!(listed.iter().all(|p| p.peer != gone), "{listed:?}");

    let bootstrap = a.handle.peer_id();
    let mut events = c.handle.subscribe();
    a.kill();
    next_event(&mut events, |e| {
        matches!(e, Event::PeerDisconnected { peer } if *peer == bootstrap).then_some(())
    })
    .await;
    lookup(c.handle.clone()).await;
    let (failed, forgotten) = dials_failed_and_forgotten(&mut events, bootstrap);
    assert_eq!(forgotten, 0);
    assert!(
        failed >= 2 * FORGET_AFTER_FAILED_DIALS,
        "{failed} dials failed over {lookups} lookups"
    );
}

/// `Handle::dial` returns once connected, or with why the dial failed: a refused address, or
/// a peer that is not the one the address names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dial_waits_for_its_connection_and_says_why_it_failed() {
    let a = start(0, vec![]).await;
    let b = start(0, vec![]).await;
    b.handle.dial(a.addr.clone()).await.unwrap();
    assert_eq!(b.handle.peers().await.unwrap(), vec![a.handle.peer_id()]);
    // Already connected: nothing to wait for.
    b.handle.dial(a.addr.clone()).await.unwrap();

    let someone_else = libp2p::identity::Keypair::generate_ed25519()
        .public()
        .to_peer_id();
    let mut wrong = a.addr.clone();
    wrong.pop();
    let wrong = wrong.with_p2p(someone_else).unwrap();
    let c = start(0, vec![]).await;
    match c.handle.dial(wrong.clone()).await {
        Err(node::NodeError::Dial { addr, reason }) => {
            assert_eq!(addr, wrong);
            assert!(reason.contains(&a.handle.peer_id().to_string()), "{reason}");
        }
        other => panic!("dialled {wrong} as another peer: {other:?}"),
    }

    let gone = a.addr.clone();
    a.kill();
    let d = start(0, vec![]).await;
    match d.handle.dial(gone.clone()).await {
        Err(node::NodeError::Dial { addr, reason }) => {
            assert_eq!(addr, gone);
            assert!(reason.contains("refused"), "{reason}");
        }
        other => panic!("dialled {gone} after its node stopped: {other:?}"),
    }
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

/// A provider listening on `wss` with a configured certificate (self-signed here, so the buyer
/// trusts it explicitly): the buyer dials the `/tls/ws` address, and an object stored and read
/// back over it comes back whole. A bad certificate file is refused before anything starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_with_a_configured_certificate_carries_transfers() {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.key_pair.serialize_pem());
    let provider = start_with(tempfile::tempdir().unwrap(), |dir| {
        let mut o = options(dir, 1 << 30, vec![]);
        o.listen = vec!["/ip4/127.0.0.1/tcp/0/tls/ws".parse().unwrap()];
        o.tls = node::WsTls::default()
            .with_server_pem(cert_pem.as_bytes(), key_pem.as_bytes())
            .unwrap();
        o
    })
    .await;
    let wss = provider.addr.to_string();
    assert!(wss.contains("/tls/ws/p2p/"), "{wss}");
    let buyer = start_with(tempfile::tempdir().unwrap(), |dir| {
        let mut o = options(dir, 0, vec![provider.addr.clone()]);
        o.tls = node::WsTls::default()
            .with_trusted_pem(cert_pem.as_bytes())
            .unwrap();
        o
    })
    .await;
    let found = providers(&buyer.handle, 1).await;
    assert_eq!(found, vec![provider.handle.peer_id()]);
    let bytes = random_bytes(700_000, 7);
    let src = buyer.dir.path().join("in.bin");
    std::fs::write(&src, &bytes).unwrap();
    let client = node::Client::new(buyer.handle.clone());
    let report = client.put_file(&src, 1, found.clone()).await.unwrap();
    let out = buyer.dir.path().join("out.bin");
    client.get(report.id, None, &out, found).await.unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), bytes);

    // A CA certificate (what `openssl req -x509` makes by default) is refused up front: TLS
    // clients would refuse it as a server's certificate.
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = params.self_signed(&ca_key).unwrap();
    let refused = node::WsTls::default()
        .with_server_pem(ca.pem().as_bytes(), ca_key.serialize_pem().as_bytes())
        .unwrap_err();
    assert!(refused.to_string().contains("CA certificate"), "{refused}");

    // Files that are not what they claim: clear errors naming the fault.
    let no_cert = node::WsTls::default().with_server_pem(key_pem.as_bytes(), key_pem.as_bytes());
    assert!(
        no_cert
            .unwrap_err()
            .to_string()
            .contains("no CERTIFICATE block"),
        "a key passed as the certificate"
    );
    let no_key = node::WsTls::default().with_server_pem(cert_pem.as_bytes(), cert_pem.as_bytes());
    assert!(
        no_key
            .unwrap_err()
            .to_string()
            .contains("no usable private key"),
        "a certificate passed as the key"
    );
}
