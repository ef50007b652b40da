//! Helpers: loopback nodes and bounded waits.

use std::time::Duration;

use node::{Event, Handle, Multiaddr, Node, Options};
use tokio::sync::broadcast;

/// Upper bound for anything a test waits for (generous for a loaded 2-core CI box).
pub const WAIT: Duration = Duration::from_secs(60);

pub struct TestNode {
    pub handle: Handle,
    #[allow(dead_code, reason = "keeps the first receiver alive")]
    pub events: broadcast::Receiver<Event>,
    pub addr: Multiaddr,
    pub dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl TestNode {
    /// Kills the node's event loop (its connections drop at once), as a crash would.
    pub fn kill(&self) {
        self.task.abort();
    }

    /// Stops the node and keeps its data directory.
    pub async fn stop(mut self) -> tempfile::TempDir {
        let _ = self.handle.shutdown().await;
        self.task.abort();
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn options(dir: &std::path::Path, quota: u64, bootstrap: Vec<Multiaddr>) -> Options {
    let mut options = Options::new(dir.to_owned());
    options.quota = quota;
    options.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    options.bootstrap = bootstrap;
    options.mdns = false;
    options.upnp = false;
    options
}

pub async fn start(quota: u64, bootstrap: Vec<Multiaddr>) -> TestNode {
    let dir = tempfile::tempdir().unwrap();
    start_in(dir, quota, bootstrap).await
}

pub async fn start_in(dir: tempfile::TempDir, quota: u64, bootstrap: Vec<Multiaddr>) -> TestNode {
    start_with(dir, options_for(quota, bootstrap)).await
}

/// Starts a node again on the data directory of a killed one. In-process, the killed node's
/// aborted tasks release the store a moment later (a real crash releases it at once), so the
/// database lock is retried for a bounded time.
pub async fn restart(dir: tempfile::TempDir, quota: u64) -> TestNode {
    for _ in 0..100 {
        match Node::start(options(dir.path(), quota, vec![])).await {
            Ok((handle, events, event_loop)) => {
                let task = tokio::spawn(event_loop.run());
                let addr = handle.listen_addrs().await.unwrap()[0].clone();
                return TestNode {
                    handle,
                    events,
                    addr,
                    dir,
                    task,
                };
            }
            Err(e) if e.is_store_in_use() => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("restart failed: {e}"),
        }
    }
    panic!("the killed node never released its store");
}

fn options_for(quota: u64, bootstrap: Vec<Multiaddr>) -> impl FnOnce(&std::path::Path) -> Options {
    move |dir| options(dir, quota, bootstrap)
}

pub async fn start_with(
    dir: tempfile::TempDir,
    make: impl FnOnce(&std::path::Path) -> Options,
) -> TestNode {
    let (handle, events, event_loop) = Node::start(make(dir.path())).await.unwrap();
    let task = tokio::spawn(event_loop.run());
    let addr = handle.listen_addrs().await.unwrap()[0].clone();
    TestNode {
        handle,
        events,
        addr,
        dir,
        task,
    }
}

/// Waits until `handle` knows at least `n` providers; returns them.
pub async fn providers(handle: &Handle, n: usize) -> Vec<node::PeerId> {
    tokio::time::timeout(WAIT, async {
        loop {
            let list = handle.providers().await.unwrap();
            if list.len() >= n {
                return list.into_iter().map(|p| p.peer).collect();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("providers discovered in time")
}

/// Waits until `handle`'s routing table holds `peer` (`kept`), or until it no longer does.
pub async fn in_routing_table(handle: &Handle, peer: node::PeerId, kept: bool) {
    tokio::time::timeout(WAIT, async {
        while handle.addresses_of(peer).await.unwrap().is_empty() == kept {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap_or_else(|_| {
        let state = if kept { "in" } else { "out of" };
        panic!("{peer} not {state} the routing table in time")
    });
}

/// The holders of `id` that `handle`'s DHT lookup finds, once it has ended.
pub async fn holders_found(handle: &Handle, id: node::ContentId) -> Vec<node::PeerId> {
    let mut lookup = handle.find_holders(id).await.unwrap();
    let mut found = Vec::new();
    while let Some(peer) = lookup.recv().await {
        found.push(peer);
    }
    found
}

pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Waits for the first event matching `f`.
pub async fn next_event<T>(
    events: &mut broadcast::Receiver<Event>,
    mut f: impl FnMut(&Event) -> Option<T>,
) -> T {
    tokio::time::timeout(WAIT, async {
        loop {
            match events.recv().await {
                Ok(e) => {
                    if let Some(t) = f(&e) {
                        return t;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("event channel closed"),
            }
        }
    })
    .await
    .expect("event in time")
}

/// Has `by` ban `peer` (for [`node::BAN_DURATION`]): `peer` sends it malformed frames (an
/// oversized length prefix), at most 64, until it is banned.
pub async fn get_banned(peer: &Handle, by: &TestNode) {
    use futures::AsyncWriteExt as _;
    let mut events = by.handle.subscribe();
    peer.dial(by.addr.clone()).await.unwrap();
    let mut control = peer.control();
    let target = by.handle.peer_id();
    let garbage = async {
        for _ in 0..64 {
            // The peer may close the stream before its error frame goes out: not awaited.
            if let Ok(mut stream) = control.open_stream(target, node::transfer::PROTOCOL).await {
                let _ = stream.write_all(&u32::MAX.to_be_bytes()).await;
                let _ = stream.close().await;
            }
        }
        std::future::pending::<()>().await
    };
    let me = peer.peer_id();
    let banned = next_event(&mut events, |e| match e {
        Event::Throttled { peer, banned: true } if *peer == me => Some(()),
        _ => None,
    });
    tokio::select! {
        () = banned => {},
        () = garbage => {},
    }
}
