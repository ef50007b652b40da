//! Transfers: copies on several providers, verified downloads from several holders with
//! fail-over and a faster holder serving more, ranges, resume after a provider restart,
//! corruption, quota, malformed frames and throttling, copies pulled by a provider itself.

use std::time::Duration;

use futures::{AsyncReadExt as _, AsyncWriteExt as _};
use node::content::CHUNK_SIZE;
use node::store::State;
use node::transfer::{Fallback, GetReport, Holders, Source};
use node::wire::{ErrorCode, Holder};
use node::{Client, ContentId, Event, TransferError};

use crate::common::*;

async fn write_file(dir: &std::path::Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    tokio::fs::write(&path, bytes).await.unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_two_copies_get_whole_and_ranges() {
    let p1 = start(1 << 30, vec![]).await;
    let p2 = start(1 << 30, vec![p1.addr.clone()]).await;
    let buyer = start(0, vec![p1.addr.clone(), p2.addr.clone()]).await;
    let providers = providers(&buyer.handle, 2).await;
    let bytes = random_bytes(3 * CHUNK_SIZE + 1234, 1);
    let src = write_file(buyer.dir.path(), "in.bin", &bytes).await;
    let client = Client::new(buyer.handle.clone());
    let report = client.put_file(&src, 2, providers.clone()).await.unwrap();
    assert_eq!(report.copies.len(), 2);
    assert_eq!(report.size, bytes.len() as u64);
    for copy in &report.copies {
        assert_eq!(copy.sent_chunks, 4);
    }
    for p in [&p1, &p2] {
        let info = p.handle.store().unwrap().info(&report.id).unwrap().unwrap();
        assert_eq!(info.state, State::Complete);
    }
    let out = buyer.dir.path().join("out.bin");
    let got = client
        .get(report.id, None, &out, providers.clone())
        .await
        .unwrap();
    assert_eq!(got.bytes, bytes.len() as u64);
    assert_eq!(tokio::fs::read(&out).await.unwrap(), bytes);
    // A range crossing a chunk boundary.
    let start = CHUNK_SIZE as u64 - 10;
    let end = 2 * CHUNK_SIZE as u64 + 77;
    client
        .get(report.id, Some(start..end), &out, providers.clone())
        .await
        .unwrap();
    assert_eq!(
        tokio::fs::read(&out).await.unwrap(),
        bytes[start as usize..end as usize]
    );
    // A larger object comes from both holders at once, in segments.
    let big = random_bytes(64 * CHUNK_SIZE, 4);
    let big_src = write_file(buyer.dir.path(), "big.bin", &big).await;
    let big_put = client
        .put_file(&big_src, 2, providers.clone())
        .await
        .unwrap();
    let got = client
        .get(big_put.id, None, &out, providers.clone())
        .await
        .unwrap();
    assert_eq!(tokio::fs::read(&out).await.unwrap(), big);
    assert_eq!(got.served_by, providers);
    assert!(got.failures.is_empty(), "{got:?}");
    // The DHT knows the holders.
    let holders = holders_found(&buyer.handle, report.id).await;
    assert!(holders.contains(&p1.handle.peer_id()) || holders.contains(&p2.handle.peer_id()));
    // An unknown object is refused.
    let missing = ContentId([7; 32]);
    let err = client
        .get(missing, None, &out, providers)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not stored here"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_killed_mid_upload_and_mid_download() {
    let p1 = start(1 << 30, vec![]).await;
    let p2 = start(1 << 30, vec![p1.addr.clone()]).await;
    let p3 = start(1 << 30, vec![p1.addr.clone()]).await;
    let buyer = start(0, vec![p1.addr.clone(), p2.addr.clone(), p3.addr.clone()]).await;
    let providers = providers(&buyer.handle, 3).await;
    // 128 chunks: a download from two holders hands out eight segments of 16.
    let bytes = random_bytes(128 * CHUNK_SIZE, 2);
    let src = write_file(buyer.dir.path(), "in.bin", &bytes).await;
    let client = Client::new(buyer.handle.clone());
    let order = vec![
        p1.handle.peer_id(),
        p2.handle.peer_id(),
        p3.handle.peer_id(),
    ];
    assert!(order.iter().all(|p| providers.contains(p)));

    // Kill p1 once it has received a few chunks: the copy moves to p3.
    let mut p1_events = p1.handle.subscribe();
    let put = tokio::spawn({
        let client = client.clone();
        let src = src.clone();
        let order = order.clone();
        async move { client.put_file(&src, 2, order).await }
    });
    next_event(&mut p1_events, |e| match e {
        Event::Progress {
            done,
            upload: false,
            ..
        } if *done >= 4 * CHUNK_SIZE as u64 => Some(()),
        _ => None,
    })
    .await;
    p1.kill();
    let report = put.await.unwrap().unwrap();
    let holders: Vec<_> = report.copies.iter().map(|c| c.peer).collect();
    assert_eq!(holders.len(), 2);
    assert!(holders.contains(&p2.handle.peer_id()));
    assert!(holders.contains(&p3.handle.peer_id()));
    // Nothing half-written is visible on the killed provider.
    assert!(p1.handle.store().unwrap().list().unwrap().is_empty());

    // Kill p2 mid-download: both holders take segments, and p3 finishes the rest of p2's from
    // its first chunk not yet verified.
    let out = buyer.dir.path().join("out.bin");
    let mut p2_events = p2.handle.subscribe();
    let mut buyer_events = buyer.handle.subscribe();
    let get = tokio::spawn({
        let client = client.clone();
        let out = out.clone();
        let holders = vec![p2.handle.peer_id(), p3.handle.peer_id()];
        let id = report.id;
        async move { client.get(id, None, &out, holders).await }
    });
    next_event(&mut buyer_events, |e| match e {
        Event::Progress {
            done,
            upload: false,
            peer,
            ..
        } if *peer == p2.handle.peer_id() && *done >= 4 * CHUNK_SIZE as u64 => Some(()),
        _ => None,
    })
    .await;
    p2.kill();
    let got = get.await.unwrap().unwrap();
    assert_eq!(
        got.served_by,
        vec![p2.handle.peer_id(), p3.handle.peer_id()]
    );
    assert!(!got.failures.is_empty(), "{got:?}");
    assert!(
        got.failures.iter().all(|f| f.peer == p2.handle.peer_id()),
        "{got:?}"
    );
    written_once(&mut buyer_events, report.id, bytes.len() as u64);
    assert_eq!(tokio::fs::read(&out).await.unwrap(), bytes);
    drop(p2_events.try_recv());
}

/// Checks from the download progress `events` received that every chunk of `id` was written
/// once: the download's byte count rises with each chunk and ends exactly at `size`.
fn written_once(events: &mut tokio::sync::broadcast::Receiver<Event>, id: ContentId, size: u64) {
    let mut written = 0;
    while let Ok(event) = events.try_recv() {
        if let Event::Progress {
            id: of,
            done,
            upload: false,
            ..
        } = event
            && of == id
        {
            assert!(done > written && done <= size, "{done}");
            written = done;
        }
    }
    assert_eq!(written, size);
}

/// A download whose only holder dies part-way waits for the holders found later (as a DHT
/// lookup hands them out), and the first of them finishes it from the first chunk not yet
/// verified: nothing is fetched twice. With no holder left and none to come, it fails and
/// leaves no file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_cut_short_is_finished_by_a_holder_found_later() {
    let p1 = start(1 << 30, vec![]).await;
    let p2 = start(1 << 30, vec![p1.addr.clone()]).await;
    let buyer = start(0, vec![p1.addr.clone(), p2.addr.clone()]).await;
    let providers = providers(&buyer.handle, 2).await;
    // 64 chunks: one holder known and more to come make four segments of 16.
    let bytes = random_bytes(64 * CHUNK_SIZE, 9);
    let src = write_file(buyer.dir.path(), "in.bin", &bytes).await;
    let client = Client::new(buyer.handle.clone());
    let report = client.put_file(&src, 2, providers).await.unwrap();
    let (first, second) = (p1.handle.peer_id(), p2.handle.peer_id());

    let out = buyer.dir.path().join("out.bin");
    let mut buyer_events = buyer.handle.subscribe();
    let (found, later) = tokio::sync::mpsc::channel(4);
    let get = tokio::spawn({
        let client = client.clone();
        let out = out.clone();
        let holders = Holders {
            known: vec![first],
            later: Some(later),
        };
        async move { client.get_to(report.id, None, &out, holders).await }
    });
    next_event(&mut buyer_events, |e| match e {
        Event::Progress {
            done,
            upload: false,
            peer,
            ..
        } if *peer == first && *done >= 4 * CHUNK_SIZE as u64 => Some(()),
        _ => None,
    })
    .await;
    p1.kill();
    // The only holder known is gone: the download waits for more rather than fail.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !get.is_finished(),
        "the download ended with no holder left and more to come: {:?}",
        get.await
    );
    // The dead one again (as a lookup may find it) is not asked again; the live one finishes.
    found.send(first).await.unwrap();
    found.send(second).await.unwrap();
    let got = get.await.unwrap().unwrap();
    assert_eq!(tokio::fs::read(&out).await.unwrap(), bytes);
    assert_eq!(got.served_by, vec![first, second]);
    assert_eq!(got.failures.len(), 1, "{got:?}");
    assert_eq!(got.failures[0].peer, first);
    assert!(got.failures[0].next_chunk >= 4, "{got:?}");
    written_once(&mut buyer_events, report.id, bytes.len() as u64);

    // No holder left, and the lookup ended (its sender dropped): a clear error, no file.
    p2.kill();
    let again = buyer.dir.path().join("again.bin");
    let (found, later) = tokio::sync::mpsc::channel(1);
    drop(found);
    let holders = Holders {
        known: vec![second],
        later: Some(later),
    };
    let err = client
        .get_to(report.id, None, &again, holders)
        .await
        .unwrap_err();
    assert!(
        matches!(err, TransferError::Unavailable { id, tried: 1, .. } if id == report.id),
        "{err}"
    );
    assert!(!again.exists() && !node::transfer::partial_path(&again).exists());
}

/// Dials a restarted `provider`: once `dial` returns, the buyer is connected to it, so an
/// upload opens its stream on that connection rather than dialling the address the provider
/// had before its restart (which a DHT lookup may still be dialling, and whose failure would
/// fail a stream waiting for a connection).
async fn redial(buyer: &node::Handle, provider: &TestNode) {
    buyer.dial(provider.addr.clone()).await.unwrap();
    let peers = buyer.peers().await.unwrap();
    assert!(peers.contains(&provider.handle.peer_id()), "{peers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_provider_keeps_data_and_an_upload_resumes() {
    let provider = start(1 << 30, vec![]).await;
    let buyer = start(0, vec![provider.addr.clone()]).await;
    let peer = provider.handle.peer_id();
    providers(&buyer.handle, 1).await;
    let bytes = random_bytes(80 * CHUNK_SIZE, 3);
    let src = write_file(buyer.dir.path(), "in.bin", &bytes).await;
    let client = Client::new(buyer.handle.clone());
    let manifest = node::transfer::manifest_of_file(&src).unwrap();

    let mut events = provider.handle.subscribe();
    let put = tokio::spawn({
        let client = client.clone();
        let src = src.clone();
        let manifest = manifest.clone();
        async move { client.put_to(peer, &src, &manifest, 0).await }
    });
    // Past the first fsync window (32 chunks), then crash.
    next_event(&mut events, |e| match e {
        Event::Progress {
            done,
            upload: false,
            ..
        } if *done >= 40 * CHUNK_SIZE as u64 => Some(()),
        _ => None,
    })
    .await;
    provider.kill();
    assert!(put.await.unwrap().is_err());
    let dir = provider.stop().await;

    let provider = restart(dir, 1 << 30).await;
    assert_eq!(provider.handle.peer_id(), peer);
    assert!(provider.handle.store().unwrap().list().unwrap().is_empty());
    redial(&buyer.handle, &provider).await;
    // Partly held: an upload with no file to send from is refused, and sends nothing.
    match client.put_from(peer, Source::Held, &manifest, 0).await {
        Err(TransferError::NotHeld {
            missing,
            chunks: 80,
            ..
        }) => assert!((1..=48).contains(&missing), "{missing} missing"),
        other => panic!("{other:?}"),
    }
    let report = client.put_to(peer, &src, &manifest, 0).await.unwrap();
    assert!(report.skipped_chunks >= 32, "{report:?}");
    assert_eq!(report.skipped_chunks + report.sent_chunks, 80);

    // Restart again: the complete object survives and is served.
    let dir = provider.stop().await;
    let provider = restart(dir, 1 << 30).await;
    redial(&buyer.handle, &provider).await;
    let out = buyer.dir.path().join("out.bin");
    client
        .get(manifest.id(), None, &out, vec![peer])
        .await
        .unwrap();
    assert_eq!(tokio::fs::read(&out).await.unwrap(), bytes);
    // Held whole: stored again with nothing sent.
    let held = client
        .put_from(peer, Source::Held, &manifest, 0)
        .await
        .unwrap();
    assert_eq!((held.sent_chunks, held.skipped_chunks), (0, 80));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_data_is_not_served_and_quota_is_enforced() {
    let bad = start(1 << 30, vec![]).await;
    let good = start(1 << 30, vec![bad.addr.clone()]).await;
    let small = start(CHUNK_SIZE as u64, vec![bad.addr.clone()]).await;
    let buyer = start(
        0,
        vec![bad.addr.clone(), good.addr.clone(), small.addr.clone()],
    )
    .await;
    providers(&buyer.handle, 3).await;
    let bytes = random_bytes(5 * CHUNK_SIZE, 4);
    let src = write_file(buyer.dir.path(), "in.bin", &bytes).await;
    let client = Client::new(buyer.handle.clone());

    let err = client
        .put_file(&src, 1, vec![small.handle.peer_id()])
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        TransferError::NotEnoughCopies { stored: 0, .. }
    ));
    assert!(err.to_string().contains("quota exceeded"), "{err}");

    let order = vec![bad.handle.peer_id(), good.handle.peer_id()];
    let report = client.put_file(&src, 2, order.clone()).await.unwrap();
    let path = bad
        .dir
        .path()
        .join("store/objects")
        .join(report.id.to_string());
    let mut on_disk = std::fs::read(&path).unwrap();
    on_disk[3 * CHUNK_SIZE + 5] ^= 0x01;
    std::fs::write(&path, &on_disk).unwrap();

    // The bad holder first; the good one joins once the bad one found its chunk 3 corrupt (as
    // a holder found later would), and serves the rest.
    let mut events = bad.handle.subscribe();
    let out = buyer.dir.path().join("out.bin");
    let (found, later) = tokio::sync::mpsc::channel(1);
    let holders = Holders {
        known: vec![order[0]],
        later: Some(later),
    };
    let get = client.get(report.id, None, &out, holders);
    let corrupt = async {
        let chunk = next_event(&mut events, |e| match e {
            Event::Corrupt { id, chunk } if *id == report.id => Some(*chunk),
            _ => None,
        })
        .await;
        found.send(order[1]).await.unwrap();
        chunk
    };
    let (got, chunk) = tokio::join!(get, corrupt);
    let got = got.unwrap();
    assert_eq!(tokio::fs::read(&out).await.unwrap(), bytes);
    assert_eq!(got.served_by, order);
    assert_eq!(got.failures.len(), 1, "{got:?}");
    assert_eq!(got.failures[0].next_chunk, 3, "{got:?}");
    assert_eq!(chunk, 3);
    let info = bad
        .handle
        .store()
        .unwrap()
        .info(&report.id)
        .unwrap()
        .unwrap();
    assert_eq!(info.state, State::Corrupt);
}

/// Sends `bytes` to `peer` on a new stream and returns the error frame it answers with, once it
/// has closed the stream with nothing after it.
async fn error_answer(
    from: &node::Handle,
    peer: node::PeerId,
    bytes: &[u8],
) -> (node::wire::ErrorCode, String) {
    let mut stream = from
        .control()
        .open_stream(peer, node::transfer::PROTOCOL)
        .await
        .unwrap();
    stream.write_all(bytes).await.unwrap();
    stream.flush().await.unwrap();
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply).await;
    let len = u32::from_be_bytes(reply[..4].try_into().unwrap()) as usize;
    assert_eq!(reply.len(), 4 + len, "nothing after the error");
    match node::wire::Message::decode(&reply[4..]).unwrap() {
        node::wire::Message::Error { code, message } => (code, message),
        other => panic!("expected an error frame, got {other:?}"),
    }
}

/// A sample is the manifest and the chunks picked, each verified, in two requests; the
/// provider serves exactly those chunks, refuses chunks the object does not have, and a sample
/// that meets a corrupt chunk fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sample_fetches_only_the_chunks_picked() {
    let provider = start(1 << 30, vec![]).await;
    let peer = provider.handle.peer_id();
    let buyer = start(0, vec![provider.addr.clone()]).await;
    providers(&buyer.handle, 1).await;
    let bytes = random_bytes(12 * CHUNK_SIZE, 12);
    let src = write_file(buyer.dir.path(), "in.bin", &bytes).await;
    let client = Client::new(buyer.handle.clone());
    let id = client.put_file(&src, 1, vec![peer]).await.unwrap().id;

    let mut events = provider.handle.subscribe();
    let (manifest, fetched) = client.sample(peer, id, 8).await.unwrap();
    assert_eq!(manifest.id(), id);
    assert_eq!(fetched, 8 * CHUNK_SIZE as u64);
    let served = next_event(&mut events, |e| match e {
        Event::Served { id: i, bytes, .. } if *i == id => Some(*bytes),
        _ => None,
    })
    .await;
    assert_eq!(served, 8 * CHUNK_SIZE as u64);
    // A sample of more chunks than the object has is all of them.
    let (_, fetched) = client.sample(peer, id, 20).await.unwrap();
    assert_eq!(fetched, bytes.len() as u64);

    // A chunk the object does not have: refused, not a panic.
    let mut frame = Vec::new();
    node::wire::Message::SampleRequest {
        id,
        chunks: vec![3, 12],
    }
    .encode(&mut frame);
    let (code, message) = error_answer(&buyer.handle, peer, &frame).await;
    assert_eq!(code, node::wire::ErrorCode::Protocol);
    assert!(
        message.contains("asked for chunk 12 of an object of 12 chunks"),
        "{message}"
    );

    let path = provider
        .dir
        .path()
        .join("store/objects")
        .join(id.to_string());
    let mut on_disk = std::fs::read(&path).unwrap();
    on_disk[7 * CHUNK_SIZE + 1] ^= 0x01;
    std::fs::write(&path, &on_disk).unwrap();
    let err = client.sample(peer, id, 12).await.unwrap_err();
    assert!(err.to_string().contains("corrupt"), "{err}");
}

/// The free bytes `buyer` last heard offered by `provider`, once they equal `free`.
async fn offered(buyer: &node::Handle, provider: node::PeerId, free: u64) {
    tokio::time::timeout(WAIT, async {
        loop {
            let list = buyer.providers().await.unwrap();
            if list
                .iter()
                .any(|p| p.peer == provider && p.free == Some(free))
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no offer of {free} free bytes from {provider}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_changed_on_a_running_provider_applies_at_once() {
    let chunk = CHUNK_SIZE as u64;
    let provider = start(chunk, vec![]).await;
    let buyer = start(0, vec![provider.addr.clone()]).await;
    let id = provider.handle.peer_id();
    offered(&buyer.handle, id, chunk).await;
    let bytes = random_bytes(2 * CHUNK_SIZE, 11);
    let src = write_file(buyer.dir.path(), "in.bin", &bytes).await;
    let client = Client::new(buyer.handle.clone());
    let err = client.put_file(&src, 1, vec![id]).await.unwrap_err();
    assert!(err.to_string().contains("quota exceeded"), "{err}");

    // Raised: offered at once, and the same object now fits, over the same connection.
    provider.handle.set_quota(4 * chunk).await.unwrap();
    offered(&buyer.handle, id, 4 * chunk).await;
    let report = client.put_file(&src, 1, vec![id]).await.unwrap();
    offered(&buyer.handle, id, 2 * chunk).await;
    assert_eq!(
        provider.handle.listen_addrs().await.unwrap()[0],
        provider.addr
    );
    assert_eq!(
        provider.handle.peers().await.unwrap(),
        vec![buyer.handle.peer_id()]
    );

    // 0: nothing new is accepted, and what is held is still served whole.
    provider.handle.set_quota(0).await.unwrap();
    let other = write_file(buyer.dir.path(), "other.bin", &random_bytes(1000, 12)).await;
    let err = client.put_file(&other, 1, vec![id]).await.unwrap_err();
    assert!(err.to_string().contains("quota exceeded"), "{err}");
    let out = buyer.dir.path().join("out.bin");
    client.get(report.id, None, &out, vec![id]).await.unwrap();
    assert_eq!(tokio::fs::read(&out).await.unwrap(), bytes);

    // A node started without a store opens one and becomes a provider, still connected: the
    // other node sees its offer and stores an object on it.
    assert!(buyer.handle.store().is_none());
    buyer.handle.set_quota(4 * chunk).await.unwrap();
    assert_eq!(
        buyer.handle.store().map(node::Store::quota),
        Some(4 * chunk)
    );
    let new_id = buyer.handle.peer_id();
    offered(&provider.handle, new_id, 4 * chunk).await;
    let back = provider.dir.path().join("back.bin");
    tokio::fs::write(&back, &bytes).await.unwrap();
    let stored = Client::new(provider.handle.clone())
        .put_file(&back, 1, vec![new_id])
        .await
        .unwrap();
    assert_eq!(stored.id, report.id);
    let held = buyer.handle.store().unwrap().list().unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].size, bytes.len() as u64);
    assert_eq!(provider.handle.peers().await.unwrap(), vec![new_id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_close_the_stream_and_garbage_gets_a_peer_banned() {
    let provider = start(1 << 30, vec![]).await;
    let peer = provider.handle.peer_id();
    let attacker = start(0, vec![provider.addr.clone()]).await;
    providers(&attacker.handle, 1).await;
    let mut control = attacker.handle.control();

    // An oversized length prefix: the provider answers with an error frame and closes.
    let (code, message) = error_answer(&attacker.handle, peer, &u32::MAX.to_be_bytes()).await;
    assert_eq!(code, node::wire::ErrorCode::Protocol);
    assert!(message.contains("exceeds"), "{message}");

    // The provider still serves honest requests.
    let buyer = start(0, vec![provider.addr.clone()]).await;
    providers(&buyer.handle, 1).await;
    let bytes = random_bytes(1000, 5);
    let src = write_file(buyer.dir.path(), "in.bin", &bytes).await;
    Client::new(buyer.handle.clone())
        .put_file(&src, 1, vec![peer])
        .await
        .unwrap();

    // Garbage at a high rate: throttled, then banned (the connection is closed).
    let mut events = provider.handle.subscribe();
    for _ in 0..64 {
        let Ok(mut stream) = control.open_stream(peer, node::transfer::PROTOCOL).await else {
            break;
        };
        let _ = stream.write_all(&[0, 0, 0, 3, 0xEE, 0xEE, 0xEE]).await;
        let _ = stream.close().await;
    }
    let who = next_event(&mut events, |e| match e {
        Event::Throttled { peer, banned: true } => Some(*peer),
        _ => None,
    })
    .await;
    assert_eq!(who, attacker.handle.peer_id());
    // Once banned, the attacker cannot open streams any more.
    tokio::time::timeout(WAIT, async {
        loop {
            if control
                .open_stream(peer, node::transfer::PROTOCOL)
                .await
                .is_err()
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_takes_more_from_the_faster_holder() {
    // `slow` serves at most 2 MiB/s (its owner's upload cap); `fast` has no cap.
    let slow = start_with(tempfile::tempdir().unwrap(), |dir| {
        let mut o = options(dir, 1 << 30, vec![]);
        o.limits.max_serve_rate = std::num::NonZeroU64::new(2 << 20);
        o
    })
    .await;
    let fast = start(1 << 30, vec![slow.addr.clone()]).await;
    let buyer = start(0, vec![slow.addr.clone(), fast.addr.clone()]).await;
    providers(&buyer.handle, 2).await;
    let bytes = random_bytes(128 * CHUNK_SIZE, 5);
    let src = write_file(buyer.dir.path(), "in.bin", &bytes).await;
    let client = Client::new(buyer.handle.clone());
    let holders = vec![slow.handle.peer_id(), fast.handle.peer_id()];
    let put = client.put_file(&src, 2, holders.clone()).await.unwrap();
    assert_eq!(put.copies.len(), 2);

    // Eight segments of 4 MiB: each holder takes one at once; `slow` needs 2 s for its first,
    // while `fast` goes through the rest.
    let mut events = buyer.handle.subscribe();
    let out = buyer.dir.path().join("out.bin");
    let got = client.get(put.id, None, &out, holders).await.unwrap();
    assert_eq!(tokio::fs::read(&out).await.unwrap(), bytes);
    assert_eq!(got.served_by.len(), 2, "{got:?}");
    assert!(got.failures.is_empty(), "{got:?}");
    let (mut from_slow, mut from_fast) = (0, 0);
    while let Ok(event) = events.try_recv() {
        if let Event::Progress {
            peer,
            upload: false,
            ..
        } = event
        {
            if peer == slow.handle.peer_id() {
                from_slow += 1;
            } else if peer == fast.handle.peer_id() {
                from_fast += 1;
            }
        }
    }
    assert_eq!(from_slow + from_fast, 128);
    assert!(
        from_slow <= 32 && from_fast >= 96,
        "slow served {from_slow} chunks, fast {from_fast}"
    );
}

/// Downloads `chunks` chunks from two holders: `slow`, serving at most `rate` bytes a second
/// and alone at first (so it takes the whole download, one segment under 32 chunks), and an
/// uncapped one that joins once `slow` delivered its first chunk. Checks the bytes, and that
/// every chunk was received from one holder only; returns the report and how many chunks
/// `slow` and the other served.
async fn slow_holder_first(rate: u64, chunks: usize, seed: u64) -> (GetReport, u64, u64) {
    let slow = start_with(tempfile::tempdir().unwrap(), |dir| {
        let mut o = options(dir, 1 << 30, vec![]);
        o.limits.max_serve_rate = std::num::NonZeroU64::new(rate);
        o
    })
    .await;
    let fast = start(1 << 30, vec![slow.addr.clone()]).await;
    let buyer = start(0, vec![slow.addr.clone(), fast.addr.clone()]).await;
    providers(&buyer.handle, 2).await;
    let bytes = random_bytes(chunks * CHUNK_SIZE, seed);
    let src = write_file(buyer.dir.path(), "in.bin", &bytes).await;
    let client = Client::new(buyer.handle.clone());
    let (slow_peer, fast_peer) = (slow.handle.peer_id(), fast.handle.peer_id());
    // One copy each, sent from the file (a second copy would be pulled from the first holder).
    let put = client.put_file(&src, 1, vec![fast_peer]).await.unwrap();
    let again = client.put_file(&src, 1, vec![slow_peer]).await.unwrap();
    assert_eq!((put.copies.len(), again.id), (1, put.id));

    let mut events = buyer.handle.subscribe();
    let mut counting = buyer.handle.subscribe();
    let (found, later) = tokio::sync::mpsc::channel(1);
    let out = buyer.dir.path().join("out.bin");
    let get = tokio::spawn({
        let (client, out) = (client.clone(), out.clone());
        let holders = Holders {
            known: vec![slow_peer],
            later: Some(later),
        };
        async move { client.get(put.id, None, &out, holders).await }
    });
    next_event(&mut events, |e| match e {
        Event::Progress {
            peer,
            upload: false,
            ..
        } if *peer == slow_peer => Some(()),
        _ => None,
    })
    .await;
    found.send(fast_peer).await.unwrap();
    drop(found);
    let got = get.await.unwrap().unwrap();
    assert_eq!(tokio::fs::read(&out).await.unwrap(), bytes);
    assert_eq!(got.served_by, vec![slow_peer, fast_peer], "{got:?}");
    let (mut from_slow, mut from_fast, mut written) = (0, 0, 0);
    while let Ok(event) = counting.try_recv() {
        if let Event::Progress {
            peer,
            done,
            upload: false,
            ..
        } = event
        {
            // Two holders' events may come out of order: the count is what is checked.
            written = written.max(done);
            if peer == slow_peer {
                from_slow += 1;
            } else if peer == fast_peer {
                from_fast += 1;
            }
        }
    }
    assert_eq!(
        (from_slow + from_fast, written),
        (chunks as u64, bytes.len() as u64),
        "a chunk received twice"
    );
    (got, from_slow, from_fast)
}

/// A download too small to be cut into segments goes whole to the first holder to answer; a
/// faster one that answers later takes the second half of what it has left, again and again,
/// so a slow holder does not keep the end of the download.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_holder_answering_first_does_not_keep_the_whole_download() {
    // The slow holder serves at most 2 MiB/s: alone, the 16 chunks (4 MiB) would take 2 s.
    let (got, from_slow, from_fast) = slow_holder_first(2 << 20, 16, 16).await;
    assert!(got.failures.is_empty(), "{got:?}");
    assert!(
        from_fast >= 4 && from_slow >= 1,
        "slow served {from_slow} chunks, fast {from_fast}"
    );
}

/// A holder that stalls (here serving 8 KiB/s: a chunk at once, the next 32 s later) keeps no
/// part of a download beyond `transfer::STALLED` without a chunk: a free holder takes what it
/// has left, and the stalled one's stream is dropped, long before the stalled holder would time
/// out (`transfer::IDLE_TIMEOUT`, a failure in the report).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_holder_does_not_keep_the_end_of_a_download() {
    // 4 chunks: the other holder takes half of what the stalled one has left, twice, then the
    // rest once it sent nothing for 2 s.
    let (got, from_stalled, from_fast) = slow_holder_first(8 << 10, 4, 4).await;
    assert!(got.failures.is_empty(), "{got:?}");
    assert_eq!((from_stalled, from_fast), (1, 3));
}

/// Whether `err` is a provider saying no holder served the object it was to pull.
fn unavailable(err: &TransferError) -> bool {
    matches!(
        err,
        TransferError::Remote {
            code: ErrorCode::Unavailable,
            ..
        }
    )
}

/// A provider given holders pulls the copy from them itself, every chunk verified: a holder
/// serving a corrupt chunk drops out, the chunks verified before it are kept, and the other
/// serves the rest; the buyer sends no chunk.
/// A holder gone silent holds nothing back. A pull from holders that cannot be reached is
/// refused as unavailable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_pulls_a_copy_from_the_holders_itself() {
    let good = start(1 << 30, vec![]).await;
    let bad = start(1 << 30, vec![good.addr.clone()]).await;
    let buyer = start(0, vec![good.addr.clone(), bad.addr.clone()]).await;
    providers(&buyer.handle, 2).await;
    let bytes = random_bytes(40 * CHUNK_SIZE + 99, 40);
    let src = write_file(buyer.dir.path(), "in.bin", &bytes).await;
    let client = Client::new(buyer.handle.clone());
    let order = vec![bad.handle.peer_id(), good.handle.peer_id()];
    let put = client.put_file(&src, 2, order).await.unwrap();
    let id = put.id;
    let manifest = client.manifest(id, &[good.handle.peer_id()]).await.unwrap();
    let object = |node: &TestNode| node.dir.path().join("store/objects").join(id.to_string());
    let mut on_disk = std::fs::read(object(&bad)).unwrap();
    on_disk[2 * CHUNK_SIZE + 7] ^= 0x01;
    std::fs::write(object(&bad), &on_disk).unwrap();

    // The spare knows neither holder: it dials them at the addresses given.
    let spare = start(1 << 30, vec![buyer.addr.clone()]).await;
    buyer.handle.dial(spare.addr.clone()).await.unwrap();
    let mut bad_events = bad.handle.subscribe();
    let mut good_events = good.handle.subscribe();
    let mut buyer_events = buyer.handle.subscribe();
    // From the bad holder alone: it serves chunks 0 and 1, finds chunk 2 corrupt and serves
    // nothing more, and the pull is refused as unavailable; the spare keeps the two verified.
    let bad_only = [Holder::new(bad.handle.peer_id(), [bad.addr.clone()])];
    let err = client
        .pull_to(spare.handle.peer_id(), &manifest, 0, &bad_only)
        .await
        .unwrap_err();
    assert!(unavailable(&err), "{err}");
    // From both: the bad one no longer serves the object (found corrupt), the good one serves
    // what the spare lacks.
    let holders = [
        Holder::new(bad.handle.peer_id(), [bad.addr.clone()]),
        Holder::new(good.handle.peer_id(), [good.addr.clone()]),
    ];
    let copy = client
        .pull_to(spare.handle.peer_id(), &manifest, 0, &holders)
        .await
        .unwrap();
    assert_eq!(
        (copy.sent_chunks, copy.skipped_chunks, copy.pulled_chunks),
        (0, 2, 39)
    );
    assert_eq!(std::fs::read(object(&spare)).unwrap(), bytes);
    // The buyer sent no chunk (an upload reports each one), and heard the pull was done.
    let mut pulled = None;
    while let Ok(event) = buyer_events.try_recv() {
        assert!(
            !matches!(event, Event::Progress { upload: true, .. }),
            "{event:?}"
        );
        if let Event::Pulling {
            peer, done, total, ..
        } = event
        {
            assert_eq!(peer, spare.handle.peer_id());
            pulled = Some((done, total));
        }
    }
    let size = bytes.len() as u64;
    assert_eq!(pulled, Some((size, size)));
    let info = spare.handle.store().unwrap().info(&id).unwrap().unwrap();
    assert_eq!(info.state, State::Complete);
    let corrupt = next_event(&mut bad_events, |e| match e {
        Event::Corrupt { id: i, chunk } if *i == id => Some(*chunk),
        _ => None,
    })
    .await;
    assert_eq!(corrupt, 2);
    // The good holder served the spare (and nobody else) at least what the bad one could not:
    // chunks 0 and 1 at most came from it.
    let mut served = std::collections::HashMap::new();
    while let Ok(event) = good_events.try_recv() {
        if let Event::Served { id: i, peer, bytes } = event
            && i == id
        {
            *served.entry(peer).or_insert(0) += bytes;
        }
    }
    assert_eq!(served.len(), 1, "{served:?}");
    let from_good = served[&spare.handle.peer_id()];
    assert!(
        from_good >= bytes.len() as u64 - 2 * CHUNK_SIZE as u64,
        "{from_good} bytes served"
    );

    // Pulled again, the copy is there already: nothing is fetched.
    let again = client
        .pull_to(spare.handle.peer_id(), &manifest, 0, &holders)
        .await
        .unwrap();
    assert_eq!((again.skipped_chunks, again.pulled_chunks), (41, 0));

    // A holder gone silent (its address a listener that never answers) named first: another
    // provider pulls the copy from the good one at once, while its dial to the silent one is
    // still pending (it fails only when the transport's timeout ends it).
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr: node::Multiaddr =
        format!("/ip4/127.0.0.1/tcp/{}", silent.local_addr().unwrap().port())
            .parse()
            .unwrap();
    let _silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let silent_peer = node::PeerId::random();
    let third = start(1 << 30, vec![]).await;
    buyer.handle.dial(third.addr.clone()).await.unwrap();
    let mut third_events = third.handle.subscribe();
    let copy = client
        .pull_to(
            third.handle.peer_id(),
            &manifest,
            0,
            &[
                Holder::new(silent_peer, [silent_addr]),
                Holder::new(good.handle.peer_id(), [good.addr.clone()]),
            ],
        )
        .await
        .unwrap();
    assert_eq!(copy.pulled_chunks, 41);
    assert_eq!(std::fs::read(object(&third)).unwrap(), bytes);
    let silent_failed = |event: &Event| matches!(event, Event::DialFailed { peer: Some(peer), .. } if *peer == silent_peer);
    assert!(
        !std::iter::from_fn(|| third_events.try_recv().ok()).any(|e| silent_failed(&e)),
        "the pull waited for the dial to the silent holder"
    );
    next_event(&mut third_events, |e| silent_failed(e).then_some(())).await;

    // A holder that cannot be dialled: the pull is refused as unavailable, and a second
    // provider keeps nothing visible.
    let gone = start(1 << 30, vec![]).await;
    let (gone_peer, gone_addr) = (gone.handle.peer_id(), gone.addr.clone());
    drop(gone.stop().await);
    let other = start(1 << 30, vec![]).await;
    buyer.handle.dial(other.addr.clone()).await.unwrap();
    let err = client
        .pull_to(
            other.handle.peer_id(),
            &manifest,
            0,
            &[Holder::new(gone_peer, [gone_addr])],
        )
        .await
        .unwrap_err();
    assert!(unavailable(&err), "{err}");
    assert!(
        err.to_string().contains("none of them could be dialled"),
        "{err}"
    );
    assert!(other.handle.store().unwrap().list().unwrap().is_empty());
    // No holder at all is refused before anything is asked.
    let err = client
        .pull_to(other.handle.peer_id(), &manifest, 0, &[])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no holder to pull from"), "{err}");
}

/// A pull slower than the buyer's idle timeout's worth of silence keeps the buyer informed;
/// cut short by its only holder's death, it keeps what it verified, and the same copy is
/// finished from the file: only the chunks still missing are sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_cut_short_is_finished_from_the_file() {
    // The holder serves at most 2 MiB/s: 64 chunks (16 MiB) take 8 s.
    let holder = start_with(tempfile::tempdir().unwrap(), |dir| {
        let mut o = options(dir, 1 << 30, vec![]);
        o.limits.max_serve_rate = std::num::NonZeroU64::new(2 << 20);
        o
    })
    .await;
    let spare = start(1 << 30, vec![]).await;
    let buyer = start(0, vec![holder.addr.clone(), spare.addr.clone()]).await;
    providers(&buyer.handle, 2).await;
    let bytes = random_bytes(64 * CHUNK_SIZE, 64);
    let src = write_file(buyer.dir.path(), "in.bin", &bytes).await;
    let client = Client::new(buyer.handle.clone());
    let put = client
        .put_file(&src, 1, vec![holder.handle.peer_id()])
        .await
        .unwrap();
    let manifest = client
        .manifest(put.id, &[holder.handle.peer_id()])
        .await
        .unwrap();
    let spare_peer = spare.handle.peer_id();
    let holders = [Holder::new(holder.handle.peer_id(), [holder.addr.clone()])];

    let mut events = buyer.handle.subscribe();
    let pull = tokio::spawn({
        let (client, manifest, holders) = (client.clone(), manifest.clone(), holders.clone());
        async move {
            client
                .put_from(
                    spare_peer,
                    Source::Pull {
                        holders: &holders,
                        or_else: Fallback::default(),
                    },
                    &manifest,
                    0,
                )
                .await
        }
    });
    // The spare reports its progress (at least every 2 s); once it holds 4 MiB, the holder dies.
    let done = next_event(&mut events, |e| match e {
        Event::Pulling { peer, done, .. } if *peer == spare_peer && *done >= 4 << 20 => Some(*done),
        _ => None,
    })
    .await;
    assert!(done < bytes.len() as u64, "{done}");
    holder.kill();
    let err = pull.await.unwrap().unwrap_err();
    assert!(unavailable(&err), "{err}");
    assert!(spare.handle.store().unwrap().list().unwrap().is_empty());

    // The same copy, from the file should the pull fail: the spare keeps the chunks it pulled,
    // and only the rest is sent.
    let copy = client
        .put_from(
            spare_peer,
            Source::Pull {
                holders: &holders,
                or_else: Fallback {
                    file: Some(&src),
                    fetch_to: None,
                },
            },
            &manifest,
            0,
        )
        .await
        .unwrap();
    assert!(copy.skipped_chunks >= 16, "{copy:?}");
    assert_eq!(copy.sent_chunks + copy.skipped_chunks, 64, "{copy:?}");
    assert_eq!(copy.pulled_chunks, 0);
    let object = spare
        .dir
        .path()
        .join("store/objects")
        .join(put.id.to_string());
    assert_eq!(std::fs::read(object).unwrap(), bytes);
}

/// A holder that refuses the provider (it banned it) but serves the buyer: the pull fails, and
/// the buyer fetches the object from the holder itself, every chunk verified, and sends it
/// under the same deal, with no original to send from, or with one changed since it was
/// hashed. A file fetched already is not fetched again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_the_provider_cannot_pull_is_fetched_by_the_buyer_and_sent() {
    let holder = start(1 << 30, vec![]).await;
    let holder_peer = holder.handle.peer_id();
    let spares = [
        start(1 << 30, vec![]).await,
        start(1 << 30, vec![]).await,
        start(1 << 30, vec![]).await,
    ];
    let mut bootstrap = vec![holder.addr.clone()];
    bootstrap.extend(spares.iter().map(|spare| spare.addr.clone()));
    let buyer = start(0, bootstrap).await;
    providers(&buyer.handle, 4).await;
    let bytes = random_bytes(12 * CHUNK_SIZE + 321, 77);
    let src = write_file(buyer.dir.path(), "in.bin", &bytes).await;
    let client = Client::new(buyer.handle.clone());
    let put = client.put_file(&src, 1, vec![holder_peer]).await.unwrap();
    let manifest = client.manifest(put.id, &[holder_peer]).await.unwrap();
    let holders = [Holder::new(holder_peer, [holder.addr.clone()])];
    // The holder bans each spare (it sent malformed frames).
    for spare in &spares {
        get_banned(&spare.handle, &holder).await;
    }
    let object = |node: &TestNode| {
        node.dir
            .path()
            .join("store/objects")
            .join(put.id.to_string())
    };
    let pull = |or_else| Source::Pull {
        holders: &holders,
        or_else,
    };

    // With no fallback, the upload fails as the pull did.
    let first = spares[0].handle.peer_id();
    let err = client
        .put_from(first, pull(Fallback::default()), &manifest, 0)
        .await
        .unwrap_err();
    assert!(unavailable(&err), "{err}");
    assert!(!object(&spares[0]).exists());

    // No original: fetched from the holder by the buyer, and every chunk sent.
    let fetched = buyer.dir.path().join("fetched.bin");
    let mut buyer_events = buyer.handle.subscribe();
    let fetch_only = Fallback {
        file: None,
        fetch_to: Some(&fetched),
    };
    let copy = client
        .put_from(first, pull(fetch_only), &manifest, 0)
        .await
        .unwrap();
    assert_eq!(copy.fetched_bytes, bytes.len() as u64);
    assert_eq!(copy.pulled_chunks, 0);
    assert_eq!(copy.sent_chunks + copy.skipped_chunks, 13, "{copy:?}");
    assert_eq!(std::fs::read(object(&spares[0])).unwrap(), bytes);
    assert_eq!(std::fs::read(&fetched).unwrap(), bytes);
    let served_by = next_event(&mut buyer_events, |e| match e {
        Event::Progress {
            upload: false,
            peer,
            ..
        } => Some(*peer),
        _ => None,
    })
    .await;
    assert_eq!(served_by, holder_peer);

    // The original changed in its 6th chunk since it was hashed: the upload from it stops
    // there, and the buyer fetches the object to send the rest.
    std::fs::remove_file(&fetched).unwrap();
    let mut changed = bytes.clone();
    changed[5 * CHUNK_SIZE + 9] ^= 0x40;
    std::fs::write(&src, &changed).unwrap();
    let both = Fallback {
        file: Some(&src),
        fetch_to: Some(&fetched),
    };
    let copy = client
        .put_from(spares[1].handle.peer_id(), pull(both), &manifest, 0)
        .await
        .unwrap();
    assert_eq!(copy.fetched_bytes, bytes.len() as u64);
    assert_eq!(copy.sent_chunks + copy.skipped_chunks, 13, "{copy:?}");
    assert_eq!(std::fs::read(object(&spares[1])).unwrap(), bytes);

    // A further provider is sent the file fetched already: the holder serves the buyer nothing
    // more.
    let mut served = holder.handle.subscribe();
    let copy = client
        .put_from(spares[2].handle.peer_id(), pull(fetch_only), &manifest, 0)
        .await
        .unwrap();
    assert_eq!(copy.fetched_bytes, bytes.len() as u64);
    assert_eq!(copy.sent_chunks, 13, "{copy:?}");
    assert_eq!(std::fs::read(object(&spares[2])).unwrap(), bytes);
    while let Ok(event) = served.try_recv() {
        assert!(!matches!(event, Event::Served { .. }), "{event:?}");
    }
}

/// A file changed after it was hashed (same size, one byte in its 10th chunk) is caught by the
/// buyer before that chunk goes out: the upload ends with `FileChanged` naming the chunk, the
/// provider is not made to refuse anything (no ban), and the file put back as it was is
/// stored whole. (The provider keeps the 9 chunks before it once it has synced them, which
/// may come after the second upload asks: it then sends them again.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_changed_since_it_was_hashed_is_caught_before_its_chunk_is_sent() {
    let provider = start(1 << 30, vec![]).await;
    let buyer = start(0, vec![provider.addr.clone()]).await;
    let peer = provider.handle.peer_id();
    providers(&buyer.handle, 1).await;
    let bytes = random_bytes(16 * CHUNK_SIZE, 11);
    let src = write_file(buyer.dir.path(), "in.bin", &bytes).await;
    let client = Client::new(buyer.handle.clone());
    let manifest = node::transfer::manifest_of_file(&src).unwrap();
    let mut changed = bytes.clone();
    changed[9 * CHUNK_SIZE + 5] ^= 0x40;
    tokio::fs::write(&src, &changed).await.unwrap();
    match client.put_to(peer, &src, &manifest, 0).await {
        Err(err @ TransferError::FileChanged { index: 9, .. }) => {
            assert!(
                err.to_string().contains("changed since it was hashed"),
                "{err}"
            );
        }
        other => panic!("{other:?}"),
    }
    tokio::fs::write(&src, &bytes).await.unwrap();
    let report = client.put_to(peer, &src, &manifest, 0).await.unwrap();
    assert!(
        [(9, 7), (0, 16)].contains(&(report.skipped_chunks, report.sent_chunks)),
        "{report:?}"
    );
    let out = buyer.dir.path().join("out.bin");
    client
        .get(manifest.id(), None, &out, vec![peer])
        .await
        .unwrap();
    assert!(tokio::fs::read(&out).await.unwrap() == bytes);
}

/// A network for the download tests below: `a` (a provider, everyone's bootstrap), `holder`
/// (a provider holding the only copy of `bytes`, 300 KB, stored by `uploader`) and `other`
/// (offering `other_quota`), all started before the copy was stored.
struct OneCopy {
    a: TestNode,
    holder: TestNode,
    other: TestNode,
    #[allow(
        dead_code,
        reason = "kept running, as a buyer that stays on the network"
    )]
    uploader: TestNode,
    put: node::transfer::PutReport,
    bytes: Vec<u8>,
}

async fn one_copy(other_quota: u64, seed: u64) -> OneCopy {
    let a = start(1 << 30, vec![]).await;
    let holder = start(1 << 30, vec![a.addr.clone()]).await;
    let other = start(other_quota, vec![a.addr.clone()]).await;
    let uploader = start(0, vec![a.addr.clone()]).await;
    let bytes = random_bytes(300_000, seed);
    let src = write_file(uploader.dir.path(), "in.bin", &bytes).await;
    let expected = if other_quota > 0 { 3 } else { 2 };
    let holder_id = holder.handle.peer_id();
    assert!(
        providers(&uploader.handle, expected)
            .await
            .contains(&holder_id)
    );
    let put = Client::new(uploader.handle.clone())
        .put_file(&src, 1, vec![holder_id])
        .await
        .unwrap();
    OneCopy {
        a,
        holder,
        other,
        uploader,
        put,
        bytes,
    }
}

/// A dead peer in the DHT that answers nothing (a host gone silent: here its port takes
/// connections and never speaks) holds up every lookup that asks it until the dial gives up,
/// 10 s later. A new buyer node (as `cairn storage get` starts) downloading a file whose holder
/// its catalog names does not wait for that: it asks that holder at once, and the lookup of
/// the holder's address ends as soon as it reached the holder. One whose catalog names none
/// starts with the first holder the DHT finds, without waiting for the lookup's end. One whose
/// catalog names the dead peer first asks both at once and takes chunks from the one that
/// answered. All are done while their dial to the dead peer is still pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_does_not_wait_for_a_silent_peer_in_the_dht() {
    let OneCopy {
        a,
        holder,
        other: dead,
        uploader: _uploader,
        put,
        bytes,
    } = one_copy(0, 41).await;
    let holder_id = holder.handle.peer_id();
    let dead_id = dead.handle.peer_id();
    in_routing_table(&a.handle, dead_id, true).await;
    // `/ip4/127.0.0.1/tcp/<port>/p2p/<id>`
    let port: u16 = dead
        .addr
        .to_string()
        .split('/')
        .nth(4)
        .unwrap()
        .parse()
        .unwrap();
    dead.kill();
    // Its port taken by a listener that never answers (bound again once the killed node's
    // listener is closed).
    let silent = tokio::time::timeout(WAIT, async {
        loop {
            match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                Ok(listener) => return listener,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await
    .expect("the dead peer's port free");
    let _silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });

    // The catalog names the holder; names none; names the dead peer first (a provider gone
    // offline), which is asked at once with the holder and holds nothing back.
    for named in [vec![holder_id], vec![], vec![dead_id, holder_id]] {
        let buyer = start(0, vec![a.addr.clone()]).await;
        let mut events = buyer.handle.subscribe();
        let catalog = node::buyer::Catalog::in_dir(buyer.dir.path());
        if !named.is_empty() {
            catalog
                .record(node::buyer::CatalogEntry {
                    id: put.id,
                    name: "in.bin".into(),
                    size: bytes.len() as u64,
                    holders: named.iter().map(ToString::to_string).collect(),
                    deals: vec![],
                    replaced: vec![],
                    keep_until: None,
                    original: None,
                })
                .unwrap();
        }
        let out = buyer.dir.path().join("out.bin");
        let got = node::buyer::get(&buyer.handle, &catalog, put.id, None, &out)
            .await
            .unwrap();
        assert_eq!(got.served_by, vec![holder_id], "named: {named:?}");
        assert!(
            tokio::fs::read(&out).await.unwrap() == bytes,
            "bytes differ"
        );
        if named.len() > 1 {
            // A manifest asked of the same two (as a move asks the holders) comes from the
            // live one, at once.
            let manifest = Client::new(buyer.handle.clone())
                .manifest(put.id, &named)
                .await
                .unwrap();
            assert_eq!(manifest.id(), put.id);
        }
        // The buyer's lookups asked the dead peer (a handed it out), and the dial is still
        // pending: it fails only after the download.
        let failed_before = std::iter::from_fn(|| events.try_recv().ok()).any(
            |event| matches!(event, Event::DialFailed { peer: Some(peer), .. } if peer == dead_id),
        );
        assert!(
            !failed_before,
            "named: {named:?}: the download waited for the dial to the dead peer"
        );
        next_event(&mut events, |event| match event {
            Event::DialFailed {
                peer: Some(peer), ..
            } if *peer == dead_id => Some(()),
            _ => None,
        })
        .await;
    }
}

/// A download whose catalog names a holder that no longer serves the file (its copy moved
/// before the catalog heard of it, or the provider lost it) falls back to the holders the DHT
/// and the offers know; if none of them has it either, it fails, and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_whose_named_holder_fails_falls_back_to_the_dhts() {
    let OneCopy {
        a,
        holder,
        other: stranger,
        uploader: _uploader,
        put,
        bytes,
    } = one_copy(1 << 30, 43).await;
    let holder_id = holder.handle.peer_id();
    let stranger_id = stranger.handle.peer_id();

    let buyer = start(0, vec![a.addr.clone()]).await;
    let catalog = node::buyer::Catalog::in_dir(buyer.dir.path());
    let entry = |holders: Vec<String>| node::buyer::CatalogEntry {
        id: put.id,
        name: "in.bin".into(),
        size: bytes.len() as u64,
        holders,
        deals: vec![],
        replaced: vec![],
        keep_until: None,
        original: None,
    };
    catalog
        .record(entry(vec![stranger_id.to_string()]))
        .unwrap();
    let out = buyer.dir.path().join("out.bin");
    let got = node::buyer::get(&buyer.handle, &catalog, put.id, None, &out)
        .await
        .unwrap();
    assert_eq!(got.served_by, vec![holder_id]);
    assert!(
        tokio::fs::read(&out).await.unwrap() == bytes,
        "bytes differ"
    );

    // An object nobody holds, its catalog entry naming the stranger.
    let missing = ContentId([9; 32]);
    catalog
        .record(node::buyer::CatalogEntry {
            id: missing,
            ..entry(vec![stranger_id.to_string()])
        })
        .unwrap();
    let nowhere = buyer.dir.path().join("missing.bin");
    let err = node::buyer::get(&buyer.handle, &catalog, missing, None, &nowhere)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no holder could serve"), "{err}");
    assert!(!nowhere.exists());
}
