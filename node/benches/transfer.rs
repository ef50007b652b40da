//! Transfer benchmark: `cargo bench -p node --bench transfer` (size: `CAIRN_BENCH_MIB`, default
//! 256; proof store size: `CAIRN_BENCH_PROOF_MIB`, default 1024; downloads are written under
//! `CAIRN_BENCH_OUT_DIR`, default the temporary directory; rounds of the two downloads:
//! `CAIRN_BENCH_ROUNDS`, default 5).
//!
//! Every figure is measured in the same run on the same machine, and printed with its ratio to
//! the relevant ceiling. Ceilings and stream transfers are the best of three runs; the two
//! downloads are alternated five times each (by default), and the best of each counts, with the
//! medians shown beside: two nodes sharing two cores vary a lot from run to run.
//! - raw TCP over loopback (one connection, 256 KiB writes);
//! - the single-core throughput of ChaCha20-Poly1305 as libp2p-noise runs it on native targets
//!   (`ring`'s, through snow's ring resolver) on 64 KiB frames;
//! - BLAKE3 single-core hashing;
//! - the bound this machine sets on any Noise transport between two nodes on it: one TCP
//!   connection carrying Noise-sized ChaCha20-Poly1305 frames, sealed by one thread and opened by
//!   another, with nothing else (no multiplexing, no async runtime);
//! - libp2p (TCP + Noise + Yamux) raw stream bulk transfer, 1, 4 and 8 streams (unverified),
//!   with the cores kept busy and the share of that CPU time the cipher needs: both nodes
//!   share this machine, so every byte is encrypted and decrypted on the same cores;
//! - the same over QUIC (libp2p-quic, TLS 1.3 with ChaCha20-Poly1305: the same cipher ceiling), 1
//!   and 4 streams, between two more nodes: the transport hole punching uses;
//! - a verified download from a provider's store (`Client::get`, every chunk checked), against
//!   an unverified download of the same object over the same protocol and streams, from the
//!   same provider, written to a file at the same offsets (the baseline: the buyer's checks,
//!   and the hand-off of each chunk to the thread that checks and writes it, are what differ;
//!   an unverified download is fastest writing on its reading task);
//! - building a possession proof for a store (streamed from the file,
//!   `node::store::hash_piece`), with the growth of resident memory while it runs, and what the
//!   prover runs once per period: the same proof from an object in a store, with every chunk
//!   checked in the same read (`Store::audit`), as a ratio to the proof alone;
//! - growth of resident memory while serving (provider and client share the process);
//! - a download from two providers whose uploads are capped (`CAIRN_BENCH_CAP_MIB`, default 64
//!   MiB/s each), against the same download from one of them;
//! - a copy moved to another provider, pulled by it from the holder (`Source::Pull`), against
//!   the buyer fetching it back and sending it (the verified download and upload rates above).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark binary prints its results and fails loudly"
)]

use std::time::{Duration, Instant};

use futures::{AsyncReadExt as _, AsyncWriteExt as _, StreamExt as _};
use node::{Client, Node, Options};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const BENCH_PROTOCOL: libp2p::StreamProtocol = libp2p::StreamProtocol::new("/cairn/bench/1");
const WRITE: usize = 256 * 1024;
/// Runs of each download, alternated, unless `CAIRN_BENCH_ROUNDS` says otherwise.
const ROUNDS: u64 = 5;

fn mib(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / (1 << 20) as f64 / d.as_secs_f64()
}

/// The number in the environment variable `name`, or `default` when it is unset or not a number.
fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn env_mib(name: &str, default: u64) -> u64 {
    env_number(name, default) << 20
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

/// Single-core ChaCha20-Poly1305 from `ring`: the implementation libp2p-noise uses on native
/// targets (snow's ring resolver), sealing Noise-sized frames (65 519 bytes of plaintext).
fn cipher(total: u64) -> Duration {
    use ring::aead::{CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
    let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &[3u8; 32]).unwrap());
    let mut frame = vec![5u8; 65_519];
    let start = Instant::now();
    let mut done = 0u64;
    let mut nonce = 0u64;
    while done < total {
        let mut n = [0u8; 12];
        n[4..].copy_from_slice(&nonce.to_le_bytes());
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(n),
                ring::aead::Aad::empty(),
                &mut frame,
            )
            .unwrap();
        let _ = std::hint::black_box(tag);
        nonce += 1;
        done += 65_519;
    }
    start.elapsed()
}

/// The least a Noise transport can cost on this machine: one TCP connection on loopback carrying
/// Noise-sized frames (a 2-byte length, then 65 519 bytes sealed with `ring`'s
/// ChaCha20-Poly1305 and their 16-byte tag), sealed by one thread and opened by another, with
/// blocking sockets and no multiplexing, no async runtime and no copies beyond the socket's.
/// Every byte is encrypted and decrypted on this machine's cores, as in a transfer between two
/// nodes here. Returns the time for `total` bytes and the CPU time the process used.
fn sealed_tcp(total: u64) -> (Duration, Option<Duration>) {
    use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
    use std::io::{Read as _, Write as _};
    const PLAIN: usize = 65_519;
    const TAG: usize = 16;
    let key = || LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &[3u8; 32]).unwrap());
    let nonce = |n: u64| {
        let mut bytes = [0u8; 12];
        bytes[4..].copy_from_slice(&n.to_le_bytes());
        Nonce::assume_unique_for_key(bytes)
    };
    let frames = total.div_ceil(PLAIN as u64);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let cpu = cpu_time();
    let start = Instant::now();
    let reader = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let key = key();
        let mut frame = vec![0u8; PLAIN + TAG];
        for n in 0..frames {
            let mut len = [0u8; 2];
            s.read_exact(&mut len).unwrap();
            let len = usize::from(u16::from_be_bytes(len));
            s.read_exact(&mut frame[..len]).unwrap();
            let plain = key
                .open_in_place(nonce(n), Aad::empty(), &mut frame[..len])
                .unwrap();
            std::hint::black_box(plain);
        }
    });
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    let key = key();
    let mut frame = vec![5u8; 2 + PLAIN + TAG];
    for n in 0..frames {
        // Sealed in place over the last frame's bytes: what is sealed does not change the
        // cipher's cost, and no copy of fresh plaintext is counted against the bound.
        frame[..2].copy_from_slice(&((PLAIN + TAG) as u16).to_be_bytes());
        let tag = key
            .seal_in_place_separate_tag(nonce(n), Aad::empty(), &mut frame[2..2 + PLAIN])
            .unwrap();
        frame[2 + PLAIN..].copy_from_slice(tag.as_ref());
        s.write_all(&frame).unwrap();
    }
    reader.join().unwrap();
    let wall = start.elapsed();
    (wall, cpu.zip(cpu_time()).map(|(a, b)| b - a))
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

/// CPU time of the whole process so far (user + system, from `/proc/self/stat`, 10 ms ticks).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Cores kept busy between `cpu` (a [`cpu_time`] reading) and now, over `wall`, and the share
/// of that CPU time the cipher alone needs for `rate` (one encryption and one decryption per
/// byte, as both nodes share this machine, at `cipher` MiB/s per core).
fn busy(cpu: Option<Duration>, wall: Duration, rate: f64, cipher: f64) -> String {
    match (cpu, cpu_time()) {
        (Some(a), Some(b)) => {
            let cores = (b - a).as_secs_f64() / wall.as_secs_f64();
            format!(
                "{cores:.1} cores busy, {:.0}% of that CPU in the cipher",
                100.0 * 2.0 * rate / cipher / cores
            )
        }
        _ => "CPU unknown".into(),
    }
}

fn status_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Resets the peak-RSS mark (Linux: `echo 5 > /proc/self/clear_refs`) and returns the current
/// RSS, so `VmHWM` afterwards minus it is the growth during what follows.
fn reset_peak() -> Option<f64> {
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    status_mib("VmRSS:")
}

fn growth_mib(base: Option<f64>) -> String {
    match (base, status_mib("VmHWM:")) {
        (Some(base), Some(peak)) => format!("{:.0} MiB", (peak - base).max(0.0)),
        _ => "unknown (no /proc)".into(),
    }
}

/// The baseline download: the storage protocol from the same provider, over the same segments
/// and streams as `Client::get` from one holder (`node::transfer::download_segments`), every
/// chunk written at its offset like `Client::get` does, but nothing checked (not the manifest,
/// not a chunk) and no chunk copied: its data is written from the frame it arrived in.
async fn unverified_get(
    control: libp2p_stream::Control,
    peer: node::PeerId,
    id: node::ContentId,
    size: u64,
    out: &std::path::Path,
) -> u64 {
    let file = std::fs::File::create(out).unwrap();
    let chunks = size.div_ceil(node::content::CHUNK_SIZE as u64);
    let parts = node::transfer::download_segments(0..chunks, 1)
        .into_iter()
        .map(|part| unverified_part(control.clone(), peer, id, part, &file));
    let got = futures::future::join_all(parts).await.into_iter().sum();
    file.sync_all().unwrap();
    got
}

async fn unverified_part(
    mut control: libp2p_stream::Control,
    peer: node::PeerId,
    id: node::ContentId,
    part: std::ops::Range<u64>,
    file: &std::fs::File,
) -> u64 {
    use node::wire::Message;
    use std::os::unix::fs::FileExt as _;
    let mut s = control
        .open_stream(peer, node::transfer::PROTOCOL)
        .await
        .unwrap();
    let mut frame = Vec::new();
    Message::GetRequest {
        id,
        first: part.start,
        last: part.end,
    }
    .encode(&mut frame);
    s.write_all(&frame).await.unwrap();
    let mut got = 0u64;
    loop {
        let mut len = [0u8; 4];
        s.read_exact(&mut len).await.unwrap();
        frame.resize(Message::check_len(u32::from_be_bytes(len)).unwrap(), 0);
        s.read_exact(&mut frame).await.unwrap();
        let head = &frame[..frame.len().min(node::wire::CHUNK_HEADER)];
        if let Some(index) = Message::chunk_header(head, frame.len()) {
            let data = &frame[node::wire::CHUNK_HEADER..];
            file.write_all_at(data, index * node::content::CHUNK_SIZE as u64)
                .unwrap();
            got += data.len() as u64;
            continue;
        }
        match Message::decode(&frame).unwrap() {
            Message::Manifest(_) => {}
            Message::End => break,
            other => panic!("unexpected frame {other:?}"),
        }
    }
    got
}

/// Serves the bench protocol on `provider`: greets each new stream, then drains it, and answers
/// `k` at its end. libp2p-stream drops an inbound stream that arrives before the last one was
/// accepted, so [`stream_run`] opens every stream (and retries a dropped one) until greeted
/// before the clock starts.
fn serve_bench(provider: &node::Handle) {
    let mut incoming = provider.control().accept(BENCH_PROTOCOL).unwrap();
    tokio::spawn(async move {
        while let Some((_, mut s)) = incoming.next().await {
            tokio::spawn(async move {
                if s.write_all(b"h").await.is_err() {
                    return;
                }
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
}

/// The best of three [`stream_run`]s of `total` bytes over `streams` streams, with the CPU it
/// kept busy.
async fn best_streams(
    client: &node::Handle,
    peer: node::PeerId,
    streams: usize,
    total: u64,
    cipher: f64,
) -> (f64, String) {
    let per = total / streams as u64;
    let mut best: Option<(f64, String)> = None;
    for _ in 0..3 {
        let run = stream_run(client, peer, streams, per, cipher).await;
        if best.as_ref().is_none_or(|(rate, _)| run.0 > *rate) {
            best = Some(run);
        }
    }
    best.unwrap()
}

/// One bulk transfer over `streams` new bench streams of `per` bytes each: the rate in MiB/s,
/// and the cores it kept busy with the share of that CPU the cipher (`cipher` MiB/s) needs.
async fn stream_run(
    client: &node::Handle,
    peer: node::PeerId,
    streams: usize,
    per: u64,
    cipher: f64,
) -> (f64, String) {
    let mut opened = Vec::new();
    for _ in 0..streams {
        let mut greeted = None;
        for _ in 0..10 {
            let mut s = client
                .control()
                .open_stream(peer, BENCH_PROTOCOL)
                .await
                .unwrap();
            let mut hello = [0u8; 1];
            if s.read_exact(&mut hello).await.is_ok() {
                greeted = Some(s);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        opened.push(greeted.expect("the provider never accepted a bench stream"));
    }
    let cpu = cpu_time();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for mut s in opened {
        tasks.push(tokio::spawn(async move {
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
    let wall = start.elapsed();
    let rate = mib(per * streams as u64, wall);
    (rate, busy(cpu, wall, rate, cipher))
}

fn main() {
    // `RUST_LOG=node=debug` shows the node's view (connections, streams) on stderr.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
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

    // Each ceiling is the best of three runs: the highest this machine reached.
    let mut tcp_best = Duration::MAX;
    for _ in 0..3 {
        tcp_best = tcp_best.min(raw_tcp(total).await);
    }
    let tcp = mib(total, tcp_best);
    let chacha = mib(total, (0..3).map(|_| cipher(total)).min().unwrap());
    let blake = mib(total, (0..3).map(|_| hashing(&data)).min().unwrap());
    println!(
        "ceilings: raw TCP loopback {tcp:.0} MiB/s | ChaCha20-Poly1305 one core {chacha:.0} MiB/s | BLAKE3 manifest one core {blake:.0} MiB/s"
    );
    // The bound the machine itself sets on any Noise transport between two nodes on it.
    let sealed = (0..3)
        .map(|_| sealed_tcp(total))
        .min_by_key(|(wall, _)| *wall)
        .unwrap();
    let sealed_rate = mib(total, sealed.0);
    let sealed_cpu = match sealed.1 {
        Some(cpu) => {
            let cores = cpu.as_secs_f64() / sealed.0.as_secs_f64();
            format!(
                "{cores:.1} cores busy, {:.0}% of that CPU in the cipher",
                100.0 * 2.0 * sealed_rate / chacha / cores
            )
        }
        None => "CPU unknown".into(),
    };
    println!(
        "Noise-framed TCP without libp2p (one thread seals, one opens, blocking sockets): {sealed_rate:.0} MiB/s = {:.0}% of the cipher ceiling ({sealed_cpu}; best of 3)",
        100.0 * sealed_rate / chacha
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

    // Raw libp2p streams: the provider greets each new stream, then drains it.
    serve_bench(&provider);
    let mut single = 0.0;
    for streams in [1usize, 4, 8] {
        let (rate, cpu) = best_streams(&client, peer, streams, total, chacha).await;
        if streams == 1 {
            single = rate;
        }
        println!(
            "libp2p raw streams x{streams}: {rate:.0} MiB/s = {:.0}% of raw TCP, {:.0}% of the cipher ceiling, {:.0}% of Noise-framed TCP ({cpu}; best of 3)",
            100.0 * rate / tcp,
            100.0 * rate / chacha,
            100.0 * rate / sealed_rate,
        );
    }
    // The same over QUIC (libp2p-tls picks ChaCha20-Poly1305 first, the same cipher ceiling),
    // between two more nodes: the transport two nodes behind NATs punch a hole with.
    {
        let (qp, qc) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let quic = "/ip4/127.0.0.1/udp/0/quic-v1";
        let mut popts = options(qp.path(), 0);
        popts.listen = vec![quic.parse().unwrap()];
        let (qprovider, _qpe, qploop) = Node::start(popts).await.unwrap();
        tokio::spawn(qploop.run());
        let mut copts = options(qc.path(), 0);
        copts.listen = vec![quic.parse().unwrap()];
        copts.bootstrap = qprovider.listen_addrs().await.unwrap();
        let (qclient, _qce, qcloop) = Node::start(copts).await.unwrap();
        tokio::spawn(qcloop.run());
        serve_bench(&qprovider);
        for streams in [1usize, 4] {
            let (rate, cpu) =
                best_streams(&qclient, qprovider.peer_id(), streams, total, chacha).await;
            println!(
                "libp2p QUIC streams x{streams}: {rate:.0} MiB/s = {:.0}% of the cipher ceiling, {:.0}% of libp2p TCP x1 ({cpu}; best of 3)",
                100.0 * rate / chacha,
                100.0 * rate / single,
            );
        }
        let _ = qclient.shutdown().await;
        let _ = qprovider.shutdown().await;
    }

    // Verified store → client download.
    let src = cdir.path().join("in.bin");
    std::fs::write(&src, &data).unwrap();
    let c = Client::new(client.clone());
    let start = Instant::now();
    let put = c.put_file(&src, 1, vec![peer]).await.unwrap();
    let up = mib(total, start.elapsed());
    // Downloads go to the temporary directory's disk unless `CAIRN_BENCH_OUT_DIR` names another
    // (a tmpfs such as /dev/shm leaves out the disk's run-to-run variation).
    let odir = match std::env::var_os("CAIRN_BENCH_OUT_DIR") {
        Some(dir) => tempfile::tempdir_in(dir).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let out = odir.path().join("out.bin");
    // Alternate the two downloads (each `rounds` times) so neither gets a warmer cache or a
    // quieter machine; the best of each counts, and the medians are shown beside it.
    let (mut verified, mut plain) = (Vec::new(), Vec::new());
    // Resident memory after each round: a leak in serving would grow it round by round.
    let mut retained = Vec::new();
    let base = reset_peak();
    let rounds = match env_number("CAIRN_BENCH_ROUNDS", ROUNDS) {
        0 => ROUNDS,
        n => n,
    };
    for _ in 0..rounds {
        // Each run writes a new file: truncating the last one's blocks is not timed.
        let _ = std::fs::remove_file(&out);
        let start = Instant::now();
        let got = unverified_get(client.control(), peer, put.id, total, &out).await;
        plain.push(start.elapsed());
        assert_eq!(got, total);
        std::fs::remove_file(&out).unwrap();
        let start = Instant::now();
        c.get(put.id, None, &out, vec![peer]).await.unwrap();
        verified.push(start.elapsed());
        retained.push(status_mib("VmRSS:"));
    }
    let serving = growth_mib(base);
    verified.sort();
    plain.sort();
    let (down, plain_best) = (mib(total, verified[0]), mib(total, plain[0]));
    let (down_median, plain_median) = (
        mib(total, verified[verified.len() / 2]),
        mib(total, plain[plain.len() / 2]),
    );
    println!("upload (fsynced on the provider) {up:.0} MiB/s");
    println!(
        "verified download {down:.0} MiB/s = {:.0}% of the unverified download over the same protocol ({plain_best:.0} MiB/s), {:.0}% of the raw single stream ({single:.0} MiB/s); BLAKE3 one core {blake:.0} MiB/s",
        100.0 * down / plain_best,
        100.0 * down / single
    );
    println!(
        "  best of {rounds} each; medians: verified {down_median:.0} MiB/s = {:.0}% of unverified {plain_median:.0} MiB/s",
        100.0 * down_median / plain_median
    );
    assert_eq!(std::fs::read(&out).unwrap(), data);
    println!(
        "resident memory growth while serving {} MiB {} times (provider + client in one process): {serving}",
        total >> 20,
        2 * rounds
    );
    let after = |round: usize| match (base, retained[round]) {
        (Some(base), Some(now)) => format!("{:+.0} MiB", now - base),
        _ => "unknown (no /proc)".into(),
    };
    println!(
        "  resident memory against before the downloads: {} after the first round, {} after round {rounds}",
        after(0),
        after(retained.len() - 1)
    );

    // A copy moved to another provider: pulled by it from the holder, every chunk verified and
    // fsynced, against the buyer fetching it back and sending it (the rates measured above).
    let mdir = tempfile::tempdir().unwrap();
    let (mover, _me, mloop) = Node::start(options(mdir.path(), 2 * total)).await.unwrap();
    tokio::spawn(mloop.run());
    for addr in mover.listen_addrs().await.unwrap() {
        client.dial(addr).await.unwrap();
    }
    let manifest = c.manifest(put.id, &[peer]).await.unwrap();
    let holders = [node::wire::Holder::new(
        peer,
        provider.listen_addrs().await.unwrap(),
    )];
    let start = Instant::now();
    let pulled = c
        .pull_to(mover.peer_id(), &manifest, 0, &holders)
        .await
        .unwrap();
    let pull = mib(total, start.elapsed());
    assert_eq!(pulled.pulled_chunks, manifest.chunks());
    let through_buyer = 1.0 / (1.0 / down + 1.0 / up);
    println!(
        "a copy moved to another provider, pulled by it from the holder: {pull:.0} MiB/s = {:.2}x fetching it back and sending it ({through_buyer:.0} MiB/s: verified download then upload, as above); the buyer's link carries none of its {} MiB instead of twice them",
        pull / through_buyer,
        total >> 20
    );
    drop(mover);
    drop(mdir);

    // Several providers where one is not enough: two providers whose uploads are capped (like
    // home uplinks), downloading the same object from one holder, then from both.
    let cap = env_mib("CAIRN_BENCH_CAP_MIB", 64);
    let size = (total / 2).max(64 << 20);
    let mut capped = Vec::new();
    let mut dirs = Vec::new();
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let mut o = options(dir.path(), 2 * size);
        o.limits.max_serve_rate = std::num::NonZeroU64::new(cap);
        let (p, _pe, ploop) = Node::start(o).await.unwrap();
        tokio::spawn(ploop.run());
        for addr in p.listen_addrs().await.unwrap() {
            client.dial(addr).await.unwrap();
        }
        capped.push(p.peer_id());
        dirs.push((dir, p));
    }
    let src = cdir.path().join("capped.bin");
    std::fs::write(&src, &data[..size as usize]).unwrap();
    let put = c.put_file(&src, 2, capped.clone()).await.unwrap();
    assert_eq!(put.copies.len(), 2);
    let start = Instant::now();
    c.get(put.id, None, &out, capped[..1].to_vec())
        .await
        .unwrap();
    let one = mib(size, start.elapsed());
    let start = Instant::now();
    let got = c.get(put.id, None, &out, capped.clone()).await.unwrap();
    let two = mib(size, start.elapsed());
    assert_eq!(got.served_by.len(), 2);
    assert_eq!(std::fs::read(&out).unwrap(), data[..size as usize]);
    println!(
        "providers capped at {} MiB/s each, {} MiB: one holder {one:.0} MiB/s ({:.0}% of its cap), two holders {two:.0} MiB/s = {:.2}x one",
        cap >> 20,
        size >> 20,
        100.0 * one * (1 << 20) as f64 / cap as f64,
        two / one
    );
    drop(dirs);
    drop(data);

    // Proof building the prover's way: streamed from the stored file in 1 MiB reads.
    let proof_size = env_mib("CAIRN_BENCH_PROOF_MIB", 1024);
    let piece_path = pdir.path().join("proof-piece.bin");
    {
        use std::io::Write as _;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&piece_path).unwrap());
        let block = random(1 << 20);
        for i in 0..(proof_size >> 20) {
            f.write_all(&block[..(1 << 20) - 8]).unwrap();
            f.write_all(&i.to_le_bytes()).unwrap();
        }
    }
    let leaves = chain::proof::leaves(proof_size);
    let indices = [0, leaves / 2, leaves - 1];
    let base = reset_peak();
    let start = Instant::now();
    let hasher = chain::proof::PieceHasher::with_challenges(proof_size, &indices).unwrap();
    let (c, proof) = node::store::hash_piece(&piece_path, hasher).unwrap();
    let built = start.elapsed();
    let proof_growth = growth_mib(base);
    let proof = proof.unwrap();
    chain::proof::verify(&c, &indices, &proof).unwrap();
    // Baseline in the same run: the in-memory tree over the first 64 MiB.
    let sample = (64u64 << 20).min(proof_size);
    let bytes = std::fs::read(&piece_path).unwrap();
    let base = reset_peak();
    let start = Instant::now();
    let tree = chain::proof::Tree::build(&bytes[..sample as usize]).unwrap();
    let t = tree.commitment();
    let tp = tree
        .prove(&bytes[..sample as usize], &[0, 1, t.leaves() - 1])
        .unwrap();
    let tree_time = start.elapsed();
    let tree_growth = growth_mib(base);
    std::hint::black_box(tp);
    drop(bytes);
    println!(
        "proof for a {} MiB store, streamed from disk: {:.1} s ({:.0} MiB/s), memory growth {proof_growth}, {} bytes of proof; in-memory tree over {} MiB: {:.0} MiB/s, memory growth {tree_growth} (on top of the data)",
        proof_size >> 20,
        built.as_secs_f64(),
        mib(proof_size, built),
        proof.len(),
        sample >> 20,
        mib(sample, tree_time),
    );

    // What the prover runs once per period: the same proof from an object in a provider's
    // store, in one read that also checks every chunk against the manifest (the scrub).
    let sdir = tempfile::tempdir_in(pdir.path()).unwrap();
    let store = node::store::Store::open(sdir.path(), proof_size + (1 << 20)).unwrap();
    let manifest = node::transfer::manifest_of_file(&piece_path).unwrap();
    let mut upload = store.begin_put(&manifest, 1).unwrap();
    {
        use std::io::Read as _;
        let mut f = std::fs::File::open(&piece_path).unwrap();
        let mut chunk = vec![0u8; node::content::CHUNK_SIZE];
        for i in 0..manifest.chunks() {
            let r = manifest.chunk_range(i).unwrap();
            let buf = &mut chunk[..(r.end - r.start) as usize];
            f.read_exact(buf).unwrap();
            upload.write_chunk(i, buf).unwrap();
        }
    }
    let id = upload.finish().unwrap().id;
    std::fs::remove_file(&piece_path).unwrap();
    let base = reset_peak();
    let start = Instant::now();
    let audit = store.audit(&id, Some(&indices)).unwrap();
    let audited = start.elapsed();
    let audit_growth = growth_mib(base);
    assert_eq!(audit.corrupt, None);
    assert_eq!(audit.proof.as_deref(), Some(&proof[..]));
    println!(
        "  the prover's audit (the same proof and every chunk checked, one read): {:.1} s = {:.2}x the proof alone, memory growth {audit_growth}",
        audited.as_secs_f64(),
        audited.as_secs_f64() / built.as_secs_f64(),
    );
    if proof_size < 1 << 30 {
        println!(
            "  scaled to a 1 GiB store: about {:.0} s",
            built.as_secs_f64() * (1u64 << 30) as f64 / proof_size as f64
        );
    }
}
