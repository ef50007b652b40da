//! Transfer benchmark: `cargo bench -p node --bench transfer` (size: `CAIRN_BENCH_MIB`, default
//! 256; proof store size: `CAIRN_BENCH_PROOF_MIB`, default 1024).
//!
//! Every figure is measured in the same run on the same machine, and printed with its ratio to
//! the relevant ceiling:
//! - raw TCP over loopback (one connection, 256 KiB writes);
//! - the single-core throughput of ChaCha20-Poly1305 (Noise's cipher) on 64 KiB frames;
//! - BLAKE3 single-core hashing;
//! - libp2p (TCP + Noise + Yamux) raw stream bulk transfer, 1 and 4 streams (unverified);
//! - a verified download from a provider's store (`Client::get`, every chunk checked);
//! - building a possession proof for a store (`chain::proof`, keccak tree over the object);
//! - peak resident memory of the process (provider and client together).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark binary prints its results and fails loudly"
)]

use std::time::{Duration, Instant};

use chacha20poly1305::aead::{AeadInPlace as _, KeyInit as _};
use futures::{AsyncReadExt as _, AsyncWriteExt as _, StreamExt as _};
use node::{Client, Node, Options};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const BENCH_PROTOCOL: libp2p::StreamProtocol = libp2p::StreamProtocol::new("/cairn/bench/1");
const WRITE: usize = 256 * 1024;

fn mib(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / (1 << 20) as f64 / d.as_secs_f64()
}

fn env_mib(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
        << 20
}

fn random(len: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

async fn raw_tcp(total: u64) -> Duration {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; WRITE];
        let mut got = 0u64;
        while got < total {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0);
            got += n as u64;
        }
    });
    let buf = vec![7u8; WRITE];
    let start = Instant::now();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    let mut sent = 0u64;
    while sent < total {
        s.write_all(&buf).await.unwrap();
        sent += WRITE as u64;
    }
    server.await.unwrap();
    start.elapsed()
}

fn cipher(total: u64) -> Duration {
    let key = chacha20poly1305::Key::from([3u8; 32]);
    let aead = chacha20poly1305::ChaCha20Poly1305::new(&key);
    let mut frame = vec![5u8; 65_519];
    let start = Instant::now();
    let mut done = 0u64;
    let mut nonce = 0u64;
    while done < total {
        let mut n = [0u8; 12];
        n[4..].copy_from_slice(&nonce.to_le_bytes());
        frame.truncate(65_519);
        aead.encrypt_in_place(&n.into(), &[], &mut frame).unwrap();
        nonce += 1;
        done += 65_519;
    }
    start.elapsed()
}

fn hashing(data: &[u8]) -> Duration {
    let start = Instant::now();
    let manifest = node::Manifest::of(data).unwrap();
    std::hint::black_box(manifest);
    start.elapsed()
}

fn options(dir: &std::path::Path, quota: u64) -> Options {
    let mut o = Options::new(dir.to_owned());
    o.quota = quota;
    o.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    o.mdns = false;
    o.upnp = false;
    o
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let total = env_mib("CAIRN_BENCH_MIB", 256);
    let data = random(total as usize);
    println!(
        "transfer benchmark, {} MiB, {} cores",
        total >> 20,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );

    let tcp = mib(total, raw_tcp(total).await);
    let chacha = mib(total, cipher(total));
    let blake = mib(total, hashing(&data));
    println!(
        "ceilings: raw TCP loopback {tcp:.0} MiB/s | ChaCha20-Poly1305 one core {chacha:.0} MiB/s | BLAKE3 manifest one core {blake:.0} MiB/s"
    );

    let pdir = tempfile::tempdir().unwrap();
    let cdir = tempfile::tempdir().unwrap();
    let (provider, _pe, ploop) = Node::start(options(pdir.path(), 4 * total)).await.unwrap();
    tokio::spawn(ploop.run());
    let mut copts = options(cdir.path(), 0);
    copts.bootstrap = provider.listen_addrs().await.unwrap();
    let (client, _ce, cloop) = Node::start(copts).await.unwrap();
    tokio::spawn(cloop.run());
    let peer = provider.peer_id();

    // Raw libp2p streams: the provider drains a bench protocol.
    let mut incoming = provider.control().accept(BENCH_PROTOCOL).unwrap();
    tokio::spawn(async move {
        while let Some((_, mut s)) = incoming.next().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; WRITE];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
                let _ = s.write_all(b"k").await;
                let _ = s.close().await;
            });
        }
    });
    let mut single = 0.0;
    for streams in [1usize, 4] {
        let per = total / streams as u64;
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..streams {
            let mut control = client.control();
            tasks.push(tokio::spawn(async move {
                let mut s = control.open_stream(peer, BENCH_PROTOCOL).await.unwrap();
                let buf = vec![9u8; WRITE];
                let mut sent = 0;
                while sent < per {
                    s.write_all(&buf).await.unwrap();
                    sent += WRITE as u64;
                }
                s.close().await.unwrap();
                let mut ack = Vec::new();
                s.read_to_end(&mut ack).await.unwrap();
                assert_eq!(ack, b"k");
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let rate = mib(per * streams as u64, start.elapsed());
        if streams == 1 {
            single = rate;
        }
        println!(
            "libp2p raw streams x{streams}: {rate:.0} MiB/s = {:.0}% of raw TCP, {:.0}% of the cipher ceiling",
            100.0 * rate / tcp,
            100.0 * rate / chacha
        );
    }

    // Verified store → client download.
    let src = cdir.path().join("in.bin");
    std::fs::write(&src, &data).unwrap();
    let c = Client::new(client.clone());
    let start = Instant::now();
    let put = c.put_file(&src, 1, vec![peer]).await.unwrap();
    let up = mib(total, start.elapsed());
    let out = cdir.path().join("out.bin");
    let start = Instant::now();
    c.get(put.id, None, &out, vec![peer]).await.unwrap();
    let down = mib(total, start.elapsed());
    let rss = peak_rss_mib();
    println!("upload (fsynced on the provider) {up:.0} MiB/s");
    println!(
        "verified download {down:.0} MiB/s = {:.0}% of the unverified single-stream transfer ({single:.0} MiB/s); BLAKE3 hashing alone {blake:.0} MiB/s",
        100.0 * down / single
    );
    assert_eq!(std::fs::read(&out).unwrap(), data);
    if let Some(rss) = rss {
        println!("peak RSS while serving (provider + client in one process) {rss:.0} MiB");
    }

    // Proof building for a store.
    let proof_size = env_mib("CAIRN_BENCH_PROOF_MIB", 1024);
    let piece = random(proof_size as usize);
    let start = Instant::now();
    let tree = chain::proof::Tree::build(&piece).unwrap();
    let built = start.elapsed();
    let c = tree.commitment();
    let indices = [0, c.leaves() / 2, c.leaves() - 1];
    let start = Instant::now();
    let proof = tree.prove(&piece, &indices).unwrap();
    let proved = start.elapsed();
    chain::proof::verify(&c, &indices, &proof).unwrap();
    println!(
        "proof for a {} MiB store: tree {:.1} s ({:.0} MiB/s keccak), proof {:?} ({} bytes)",
        proof_size >> 20,
        built.as_secs_f64(),
        mib(proof_size, built),
        proved,
        proof.len()
    );
    if proof_size < 1 << 30 {
        println!(
            "  scaled to a 1 GiB store: tree about {:.0} s",
            built.as_secs_f64() * (1u64 << 30) as f64 / proof_size as f64
        );
    }
    let _ = data;
}
