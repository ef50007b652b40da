//! A provider behind a NAT, reached through a relay: real `cairn` processes in network
//! namespaces this test makes (`testkit::NatLab`: a public side, a home side, and a router
//! masquerading home as a home router does). Needs root, `ip` and `nft`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::path::Path;
use std::time::Duration;

use testkit::netns::{GLOBAL_PUBLIC_IP, GLOBAL_ROUTER_IP, HOME_IP, OTHER_ROUTER_IP, PUBLIC_IP};
use testkit::{ChildGuard, NatLab};

mod common;
use common::{CAIRN, COMMAND_TIMEOUT, START_TIMEOUT};

/// `cairn node` in namespace `ns` with `args`, without UPnP; its guard and its listen
/// addresses.
async fn node_in(ns: &str, dir: &Path, args: &[&str]) -> (ChildGuard, Vec<String>) {
    let mut all = vec!["--no-upnp"];
    all.extend(args);
    let (guard, addrs, lines) = internet_node_in(ns, dir, &all).await;
    lines.drain();
    (guard, addrs)
}

/// `cairn storage ARGS --data-dir CLIENT` in namespace `ns`, without mDNS: whether it
/// succeeded, its stdout and its stderr.
async fn storage_in(ns: &str, client: &Path, args: &[&str]) -> (bool, String, String) {
    let mut all = vec!["--no-mdns"];
    all.extend(args);
    lan_storage_in(ns, client, &all).await
}

/// [`storage_in`], finding providers on the LAN with mDNS unless `args` say `--no-mdns`.
async fn lan_storage_in(ns: &str, client: &Path, args: &[&str]) -> (bool, String, String) {
    let mut command = NatLab::command(ns, Path::new(CAIRN));
    command
        .arg("storage")
        .args(args)
        .arg("--data-dir")
        .arg(client)
        .env(
            "CAIRN_LOG",
            std::env::var("NAT_LOG").unwrap_or("warn".into()),
        );
    let ran = testkit::run("cairn storage", command, COMMAND_TIMEOUT)
        .await
        .unwrap();
    (ran.ok, ran.stdout, ran.stderr)
}

/// `cairn storage put FILE --copies COPIES --peer PEER EXTRA...` by a buyer in namespace `ns`
/// keeping its data in `client`: its JSON report (the put must succeed).
async fn put_in(
    ns: &str,
    client: &Path,
    (file, copies): (&Path, &str),
    peer: &str,
    extra: &[&str],
) -> serde_json::Value {
    let mut args = vec![
        "put",
        file.to_str().unwrap(),
        "--copies",
        copies,
        "--peer",
        peer,
    ];
    args.extend(extra);
    let (ok, out, err) = storage_in(ns, client, &args).await;
    assert!(ok, "put failed: {err}");
    serde_json::from_str(out.trim()).unwrap()
}

/// `cairn node --relay-server` on the public side of `lab`, listening on `listen`; its guard
/// and its address.
async fn relay_in(lab: &NatLab, dir: &Path, listen: &str) -> (ChildGuard, String) {
    let (guard, addrs) = relay_on(lab, dir, &[listen]).await;
    (guard, addrs[0].clone())
}

/// `cairn node --relay-server` on the public side of `lab`, listening on each of `listen`; its
/// guard and its addresses.
async fn relay_on(lab: &NatLab, dir: &Path, listen: &[&str]) -> (ChildGuard, Vec<String>) {
    let mut args = vec!["--quota", "0", "--relay-server"];
    for addr in listen {
        args.extend(["--listen", addr]);
    }
    node_in(&lab.public, dir, &args).await
}

/// A provider at home in `lab`, listening on its own TCP port and through `relay`; its guard
/// and its listen addresses.
async fn home_provider(lab: &NatLab, dir: &Path, relay: &str) -> (ChildGuard, Vec<String>) {
    let circuit = format!("{relay}/p2p-circuit");
    let args = [
        "--quota",
        "64MiB",
        "--listen",
        "/ip4/0.0.0.0/tcp/0",
        "--listen",
        &circuit,
    ];
    node_in(&lab.home, dir, &args).await
}

/// `cairn storage put SRC --copies 1 --peer PEER EXTRA...` by a buyer in namespace `ns` keeping
/// its data in `client`: the copy must go to `provider`, all 16 chunks of a 4 MB file sent.
/// Returns the object's content id.
async fn put_whole(
    ns: &str,
    client: &Path,
    src: &Path,
    (peer, extra): (&str, &[&str]),
    provider: &str,
) -> String {
    let report = put_in(ns, client, (src, "1"), peer, extra).await;
    assert_eq!(report["copies"][0]["peer"], provider, "{report}");
    assert_eq!(report["copies"][0]["sent_chunks"], 16, "{report}");
    report["id"].as_str().unwrap().to_owned()
}

/// What namespace `home` of `lab` received while `work` ran, through the relay (from the
/// public side) and directly from `direct_from` (the other home's router): `work`'s output,
/// then the two byte counts.
async fn counted<T>(
    lab: &NatLab,
    (home, direct_from): (&str, &str),
    work: impl std::future::Future<Output = T>,
) -> (T, u64, u64) {
    let count = |from| lab.received_from(home, from).unwrap();
    let (relayed, direct) = (count(GLOBAL_PUBLIC_IP), count(direct_from));
    let out = work.await;
    let relayed = count(GLOBAL_PUBLIC_IP) - relayed;
    (out, relayed, count(direct_from) - direct)
}

/// Checks that a 4 MB transfer (`what`) went through a hole, not the relay.
fn through_the_hole(what: &str, (relayed, direct): (u64, u64)) {
    eprintln!("{what}: {relayed} bytes through the relay, {direct} directly");
    assert!(
        relayed < 200_000 && direct > 4_000_000,
        "{what}: {relayed} bytes through the relay, {direct} directly"
    );
}

/// Writes 4 MB at `path`, bytes made from `seed` (a different file for each seed); returns
/// the path.
fn four_mb(path: &Path, seed: u32) -> std::path::PathBuf {
    let bytes: Vec<u8> = (0..4_000_000u32)
        .map(|i| (i.wrapping_mul(seed) + i / 7) as u8)
        .collect();
    std::fs::write(path, bytes).unwrap();
    path.to_owned()
}

/// The peer id a full multiaddr ends with.
fn id_of(addr: &str) -> String {
    addr.rsplit('/').next().unwrap_or_default().to_owned()
}

/// A home provider's arguments: 64 MiB offered, TCP on every interface, `peer` to start from.
fn home_args(peer: &str) -> [&str; 6] {
    [
        "--quota",
        "64MiB",
        "--listen",
        "/ip4/0.0.0.0/tcp/0",
        "--peer",
        peer,
    ]
}

/// `cairn storage` arguments for a buyer that listens on loopback only (by default, it listens on
/// every interface).
const LOOPBACK_ONLY: [&str; 2] = ["--listen", "/ip4/127.0.0.1/tcp/0"];

/// `relay`'s address without its peer id: where it listens again after a restart.
fn listen_of(relay: &str) -> &str {
    relay
        .rsplit_once("/p2p/")
        .map_or(relay, |(listen, _)| listen)
}

/// The `ip:port` of a TCP multiaddr.
fn socket_of(addr: &str) -> String {
    let parts: Vec<&str> = addr.split('/').collect();
    format!("{}:{}", parts[2], parts[4])
}

/// A provider at home, behind the router's NAT, cannot be dialled from the public side. With
/// a relay on the public side (`--relay-server`), it listens through it
/// (`<relay>/p2p-circuit`): its first line names that address, and a buyer on the public side
/// stores a file on it and fetches it back, byte-identical, through the relay. When the relay
/// restarts, the provider reserves a slot on it again by itself, and is reached again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_behind_a_nat_is_reached_through_a_relay() {
    let lab = NatLab::new().unwrap();
    let root = tempfile::tempdir().unwrap();
    let listen_public = format!("/ip4/{PUBLIC_IP}/tcp/0");
    let relay_dir = root.path().join("relay");
    let (relay_process, relay) = relay_in(&lab, &relay_dir, &listen_public).await;
    let relay = &relay;
    let circuit = format!("{relay}/p2p-circuit");
    let (_provider, provider_addrs) =
        home_provider(&lab, &root.path().join("provider"), relay).await;
    // Its direct address is at home: the public side cannot open a connection to it.
    let direct = provider_addrs
        .iter()
        .find(|addr| addr.starts_with(&format!("/ip4/{HOME_IP}/tcp/")))
        .unwrap_or_else(|| panic!("no home address in {provider_addrs:?}"));
    assert!(!NatLab::connects(&lab.public, &socket_of(direct)).unwrap());
    assert!(NatLab::connects(&lab.home, &socket_of(relay)).unwrap());
    // Its relayed address: the relay's, then the circuit to it.
    let relayed = provider_addrs
        .iter()
        .find(|addr| addr.starts_with(&format!("{circuit}/p2p/")))
        .unwrap_or_else(|| panic!("no relayed address in {provider_addrs:?}"));
    let provider_id = id_of(relayed);

    let client = root.path().join("client");
    let src = root.path().join("in.bin");
    let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    std::fs::write(&src, &bytes).unwrap();
    let report = put_in(&lab.public, &client, (&src, "1"), relayed, &[]).await;
    assert_eq!(report["copies"][0]["peer"], provider_id, "{report}");
    assert_eq!(report["copies"][0]["sent_chunks"], 12, "{report}");
    let id = report["id"].as_str().unwrap();

    let out_file = root.path().join("out.bin");
    let out = out_file.to_str().unwrap();
    let get_args = ["get", id, "-o", out, "--peer", relayed];
    let get = || storage_in(&lab.public, &client, &get_args);
    let (ok, _, err) = get().await;
    assert!(ok, "get failed: {err}");
    assert!(
        std::fs::read(&out_file).unwrap() == bytes,
        "fetched bytes differ"
    );

    // The relay restarts, with its key, on its port: its circuits and the provider's
    // reservation are gone. The provider reserves a slot again by itself (within a few of its
    // 3 s ticks), and the file is fetched through the relay once more.
    drop(relay_process);
    std::fs::remove_file(&out_file).unwrap();
    let (_relay, again) = relay_in(&lab, &relay_dir, listen_of(relay)).await;
    assert_eq!(&again, relay);
    testkit::eventually(
        "the file fetched through the restarted relay",
        Duration::from_secs(90),
        || async { get().await.0.then_some(()) },
    )
    .await
    .unwrap();
    assert!(
        std::fs::read(&out_file).unwrap() == bytes,
        "fetched bytes differ"
    );
}

/// A home provider started while its relay is down starts anyway (it serves its LAN), without
/// the address through the relay; once the relay is up, it reserves a slot on it by itself, and
/// a buyer on the public side stores a file on it through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_home_provider_started_while_its_relay_is_down_is_reached_once_it_is_up() {
    let lab = NatLab::new().unwrap();
    let root = tempfile::tempdir().unwrap();
    let relay_dir = root.path().join("relay");
    let listen_public = format!("/ip4/{PUBLIC_IP}/tcp/0");
    // Its address and key, then it stops.
    let (relay_process, relay) = relay_in(&lab, &relay_dir, &listen_public).await;
    drop(relay_process);
    let circuit = format!("{relay}/p2p-circuit");
    let (_provider, provider_addrs) =
        home_provider(&lab, &root.path().join("provider"), &relay).await;
    assert!(
        provider_addrs
            .iter()
            .all(|addr| !addr.contains("p2p-circuit")),
        "{provider_addrs:?}"
    );
    let provider_id = id_of(&provider_addrs[0]);
    let relayed = format!("{circuit}/p2p/{provider_id}");

    let (_relay, again) = relay_in(&lab, &relay_dir, listen_of(&relay)).await;
    assert_eq!(again, relay);
    let client = root.path().join("client");
    let src = root.path().join("in.bin");
    std::fs::write(&src, vec![7u8; 300_000]).unwrap();
    let put_args = [
        "put",
        src.to_str().unwrap(),
        "--copies",
        "1",
        "--peer",
        &relayed,
    ];
    let out = testkit::eventually(
        "a file stored through the relay once it is up",
        Duration::from_secs(90),
        || async {
            let (ok, out, _) = storage_in(&lab.public, &client, &put_args).await;
            ok.then_some(out)
        },
    )
    .await
    .unwrap();
    let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(report["copies"][0]["peer"], provider_id, "{report}");
}

/// `cairn node` in namespace `ns` with `args`, on the lab's private network and without UPnP,
/// its stdout followed: its guard, its listen addresses (from its first line), and its later
/// lines.
async fn followed_node_in(
    ns: &str,
    dir: &Path,
    args: &[&str],
) -> (ChildGuard, Vec<String>, testkit::Lines) {
    let mut all = vec!["--no-upnp", "--private-network"];
    all.extend(args);
    internet_node_in(ns, dir, &all).await
}

/// `cairn node` in namespace `ns` with `args` (without mDNS), its stdout followed: its guard,
/// its listen addresses (from its first line), and its later lines.
async fn internet_node_in(
    ns: &str,
    dir: &Path,
    args: &[&str],
) -> (ChildGuard, Vec<String>, testkit::Lines) {
    let mut all = vec!["--no-mdns"];
    all.extend(args);
    lan_node_in(ns, dir, &all).await
}

/// [`internet_node_in`], finding peers on the LAN with mDNS unless `args` say `--no-mdns`.
async fn lan_node_in(
    ns: &str,
    dir: &Path,
    args: &[&str],
) -> (ChildGuard, Vec<String>, testkit::Lines) {
    let mut command = NatLab::command(ns, Path::new(CAIRN));
    command
        .arg("node")
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env(
            "CAIRN_LOG",
            std::env::var("NAT_LOG").unwrap_or("warn".into()),
        );
    let (guard, line, lines) =
        ChildGuard::spawn_and_follow("cairn node", command, "peer_id", START_TIMEOUT)
            .await
            .unwrap();
    let json: serde_json::Value = serde_json::from_str(&line).unwrap();
    let addrs = json["listen_addrs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    (guard, addrs, lines)
}

/// Nothing is named by hand: a provider at home and one on the public side only know a relay
/// to start from (`--peer`, as any peer to bootstrap from). Each finds out by itself, with
/// AutoNAT (the relay tries to dial it back), whether others can reach it: the home provider,
/// not reachable, listens through the relay it met and says so (`{"listening": "<relay>/
/// p2p-circuit/..."}`); the public one, reachable, takes no relay. A buyer on the public side,
/// also knowing only the relay, finds both providers and stores a copy on each (the home one
/// dialled through the relay at the address it learnt from the DHT), then, the public
/// provider gone, fetches the file back from the home one through the relay. A node at home
/// that stores nothing takes no relay. On the lab's public internet, as on the real one, only
/// public peers are asked to dial a node back (a peer on the same LAN would reach it). The
/// public provider, found reachable, serves a limited relay (as every reachable node does, for
/// hole punching): should the home provider have listened through it too, it no longer does
/// once the relay that carries transfers gave it a reservation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_behind_a_nat_finds_a_relay_by_itself_and_buyers_find_it() {
    let lab = NatLab::internet().unwrap();
    let root = tempfile::tempdir().unwrap();
    let listen_public = format!("/ip4/{GLOBAL_PUBLIC_IP}/tcp/0");
    let (_relay, relay) = relay_in(&lab, &root.path().join("relay"), &listen_public).await;
    let peer_args = |quota: &'static str, listen: &'static str| {
        vec![
            "--no-upnp".to_owned(),
            "--quota".to_owned(),
            quota.to_owned(),
            "--listen".to_owned(),
            listen.to_owned(),
            "--peer".to_owned(),
            relay.clone(),
        ]
    };
    let args = peer_args("64MiB", "/ip4/0.0.0.0/tcp/0");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (_home, home_addrs, mut home_lines) =
        internet_node_in(&lab.home, &root.path().join("home"), &args).await;
    let home_id = id_of(&home_addrs[0]);
    assert!(
        home_addrs.iter().all(|addr| !addr.contains("p2p-circuit")),
        "{home_addrs:?}"
    );
    let public_listen = format!("/ip4/{GLOBAL_PUBLIC_IP}/tcp/0");
    let mut args = peer_args("64MiB", "/ip4/0.0.0.0/tcp/0");
    args[4] = public_listen;
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (public_provider, public_addrs, mut public_lines) =
        internet_node_in(&lab.public, &root.path().join("public"), &args).await;
    let public_id = id_of(&public_addrs[0]);
    // A node at home that stores nothing: it only dials out, and takes no relay.
    let args = peer_args("0", "/ip4/0.0.0.0/tcp/0");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (_plain, _, mut plain_lines) =
        internet_node_in(&lab.home, &root.path().join("plain"), &args).await;

    // AutoNAT's first probe is 5 s after start; the relay's reservation follows within a tick.
    let found = Duration::from_secs(60);
    home_lines
        .wait_for(r#""reachability":"private""#, found)
        .await
        .unwrap();
    plain_lines
        .wait_for(r#""reachability":"private""#, found)
        .await
        .unwrap();
    // Found private: from two ticks after, it would have listened through the relay.
    let plain_private_at = tokio::time::Instant::now();
    let circuit = format!("{relay}/p2p-circuit/p2p/{home_id}");
    home_lines
        .wait_for(&format!(r#"{{"listening":"{circuit}"}}"#), found)
        .await
        .unwrap();
    let public_status = public_lines
        .wait_for(r#""reachability""#, found)
        .await
        .unwrap();
    assert!(
        public_status.contains(r#""reachability":"public""#),
        "{public_status}"
    );

    let client = root.path().join("client");
    let src = root.path().join("in.bin");
    let bytes: Vec<u8> = (0..2_000_000u32)
        .map(|i| (i * 13 + i / 509) as u8)
        .collect();
    std::fs::write(&src, &bytes).unwrap();
    let report = put_in(&lab.public, &client, (&src, "2"), &relay, &[]).await;
    let mut holders: Vec<String> = report["copies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|copy| copy["peer"].as_str().unwrap().to_owned())
        .collect();
    holders.sort();
    let mut expected = vec![home_id.clone(), public_id.clone()];
    expected.sort();
    assert_eq!(holders, expected, "{report}");
    let id = report["id"].as_str().unwrap();

    // Only the home provider is left, behind its NAT.
    drop(public_provider);
    let out_file = root.path().join("out.bin");
    let (ok, _, err) = storage_in(
        &lab.public,
        &client,
        &[
            "get",
            id,
            "-o",
            out_file.to_str().unwrap(),
            "--peer",
            &relay,
        ],
    )
    .await;
    assert!(ok, "get failed: {err}");
    assert!(
        std::fs::read(&out_file).unwrap() == bytes,
        "fetched bytes differ"
    );
    // The public provider never listened through the relay, nor the node that stores nothing.
    assert!(
        public_lines
            .seen()
            .iter()
            .all(|line| !line.contains("p2p-circuit")),
        "{:?}",
        public_lines.seen()
    );
    // The public provider, found reachable, serves a limited relay: the home provider may
    // have listened through it too (it cannot tell until it has a reservation), but not for
    // longer than it takes the relay that carries transfers to take it.
    let via_public = format!("/p2p/{public_id}/p2p-circuit/");
    let limited: Vec<String> = home_lines
        .seen()
        .iter()
        .filter(|line| line.contains(r#"{"listening":"#) && line.contains(&via_public))
        .cloned()
        .collect();
    for line in &limited {
        let expired = line.replace(r#"{"listening":"#, r#"{"expired":"#);
        if !home_lines.seen().contains(&expired) {
            home_lines
                .wait_for(&expired, node::OFFER_INTERVAL * 3)
                .await
                .unwrap();
        }
    }
    eprintln!("listened through the public provider's limited relay, then no longer: {limited:?}");
    tokio::time::sleep_until(plain_private_at + node::OFFER_INTERVAL * 2).await;
    assert!(
        plain_lines
            .seen()
            .iter()
            .all(|line| !line.contains("p2p-circuit")),
        "{:?}",
        plain_lines.seen()
    );
}

/// Bytes the TCP connections in namespace `ns` to `remote` (`ip:port`) have received so far,
/// as the kernel counts them (`ss -tin`).
fn bytes_received(ns: &str, remote: &str) -> u64 {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", ns, "ss", "-tinH", "state", "established"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    // Each connection: a line with its addresses, then a line with its counters.
    let lines: Vec<&str> = text.lines().collect();
    let to_remote: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].split_whitespace().any(|word| word == remote))
        .collect();
    assert!(
        !to_remote.is_empty(),
        "no connection to {remote} in\n{text}"
    );
    to_remote
        .iter()
        .map(|&i| {
            lines[i + 1]
                .split_whitespace()
                .find_map(|word| word.strip_prefix("bytes_received:"))
                .map_or(0, |n| n.parse::<u64>().unwrap())
        })
        .sum()
}

/// A buyer on the public side that listens on a public address is dialled back by the
/// provider behind the NAT when it reaches it through the relay: the upload goes over that
/// direct connection, and the relay carries none of it (`cairn storage` listens on every
/// interface by default). A buyer listening on loopback only cannot be dialled back: its
/// upload goes through the relay (which shows the count is the relay's traffic).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_behind_a_nat_dials_a_reachable_buyer_back_and_the_transfer_skips_the_relay() {
    // Public addresses, as on the internet: a node dials back only those.
    let lab = NatLab::internet().unwrap();
    let root = tempfile::tempdir().unwrap();
    let listen_public = format!("/ip4/{GLOBAL_PUBLIC_IP}/tcp/0");
    let (_relay, relay) = relay_in(&lab, &root.path().join("relay"), &listen_public).await;
    let (_provider, provider_addrs) =
        home_provider(&lab, &root.path().join("provider"), &relay).await;
    let relayed = provider_addrs
        .iter()
        .find(|addr| addr.contains("p2p-circuit"))
        .unwrap_or_else(|| panic!("no relayed address in {provider_addrs:?}"))
        .clone();
    // The provider's connection to the relay, as the home side sees it.
    let relay_socket = socket_of(&relay);
    let through_relay = || bytes_received(&lab.home, &relay_socket);
    let file = |name: &str, seed: u32| four_mb(&root.path().join(name), seed);
    let put = |client: &'static str, src: std::path::PathBuf, extra: &'static [&'static str]| {
        let client = root.path().join(client);
        let relayed = relayed.clone();
        let lab = &lab;
        async move {
            let report = put_in(&lab.public, &client, (&src, "1"), &relayed, extra).await;
            assert_eq!(report["copies"][0]["sent_chunks"], 16, "{report}");
        }
    };

    // Listening on loopback only: through the relay, all 4 MB of it.
    let before = through_relay();
    put("loopback", file("a.bin", 7), &LOOPBACK_ONLY).await;
    let relayed_bytes = through_relay() - before;
    assert!(
        relayed_bytes > 4_000_000,
        "{relayed_bytes} bytes through the relay"
    );

    // Listening on every interface (by default), its public address among them: dialled back,
    // next to nothing through the relay.
    let before = through_relay();
    put("public", file("b.bin", 11), &[]).await;
    let relayed_bytes = through_relay() - before;
    assert!(
        relayed_bytes < 200_000,
        "{relayed_bytes} bytes through the relay"
    );
}

/// The home provider's only peer is a public node that serves only a limited relay (for hole
/// punching, as every reachable node does); the relay (`--relay-server`) knows that node too.
/// The home provider's DHT lookups (for providers, every few seconds) reach the relay through
/// the public node; identify says it is a relay; found private, the home provider listens
/// through it, and a buyer on the public side stores a file on it at that address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_behind_a_nat_finds_a_relay_its_peers_know() {
    let lab = NatLab::new().unwrap();
    let root = tempfile::tempdir().unwrap();
    let listen_public = format!("/ip4/{PUBLIC_IP}/tcp/0");
    let (_peer, peer_addrs, _) = followed_node_in(
        &lab.public,
        &root.path().join("peer"),
        &["--quota", "0", "--listen", &listen_public],
    )
    .await;
    let peer = peer_addrs[0].clone();
    let (_relay, relay_addrs, _) = followed_node_in(
        &lab.public,
        &root.path().join("relay"),
        &[
            "--quota",
            "0",
            "--listen",
            &listen_public,
            "--relay-server",
            "--peer",
            &peer,
        ],
    )
    .await;
    let relay = relay_addrs[0].clone();
    let (_home, home_addrs, mut home_lines) =
        followed_node_in(&lab.home, &root.path().join("home"), &home_args(&peer)).await;
    let home_id = id_of(&home_addrs[0]);
    let circuit = format!("{relay}/p2p-circuit/p2p/{home_id}");
    home_lines
        .wait_for(
            &format!(r#"{{"listening":"{circuit}"}}"#),
            Duration::from_secs(90),
        )
        .await
        .unwrap();

    let client = root.path().join("client");
    let src = root.path().join("in.bin");
    std::fs::write(&src, vec![5u8; 500_000]).unwrap();
    let report = put_in(&lab.public, &client, (&src, "1"), &circuit, &[]).await;
    assert_eq!(report["copies"][0]["peer"], home_id.as_str(), "{report}");
}

/// A home router that maps ports on request (miniupnpd: UPnP IGD and NAT-PMP), on an internet
/// of public addresses. The home provider, given one public peer to start from, has its port
/// mapped by the router (UPnP), is dialled back there by that peer (AutoNAT) and says it is
/// reachable at the router's address, takes no relay, and a buyer on the public side reaches it
/// there directly and stores a file on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_home_provider_behind_a_upnp_router_has_its_port_mapped_and_is_reached_directly() {
    let lab = NatLab::with_upnp().unwrap();
    let root = tempfile::tempdir().unwrap();
    let listen_public = format!("/ip4/{GLOBAL_PUBLIC_IP}/tcp/0");
    let (_peer, peer_addrs, _) = internet_node_in(
        &lab.public,
        &root.path().join("peer"),
        &["--no-upnp", "--quota", "0", "--listen", &listen_public],
    )
    .await;
    let peer = peer_addrs[0].clone();
    let (_home, home_addrs, mut home_lines) =
        internet_node_in(&lab.home, &root.path().join("home"), &home_args(&peer)).await;
    let home_id = id_of(&home_addrs[0]);
    let port = home_addrs[0].split('/').nth(4).unwrap().to_owned();
    // Reached at the router's address, on its own port (mapped as asked).
    let mapped = format!("/ip4/{GLOBAL_ROUTER_IP}/tcp/{port}/p2p/{home_id}");
    let status = home_lines
        .wait_for(r#""reachability""#, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        status,
        format!(r#"{{"addr":"{mapped}","reachability":"public"}}"#)
    );
    assert!(NatLab::connects(&lab.public, &format!("{GLOBAL_ROUTER_IP}:{port}")).unwrap());

    let client = root.path().join("client");
    let src = root.path().join("in.bin");
    std::fs::write(&src, vec![3u8; 700_000]).unwrap();
    let report = put_in(&lab.public, &client, (&src, "1"), &mapped, &[]).await;
    assert_eq!(report["copies"][0]["peer"], home_id.as_str(), "{report}");
    // Reachable directly: no relay taken.
    assert!(
        home_lines
            .seen()
            .iter()
            .all(|line| !line.contains("p2p-circuit")),
        "{:?}",
        home_lines.seen()
    );
}

/// Two homes, each behind its own router (NAT and firewall), on the same private addresses: a
/// provider in one and a buyer in the other, each knowing only a relay on the public side, at
/// its TCP address. The provider, found unreachable, listens through the relay; the buyer finds
/// it through the DHT and reaches it through the relay. Both dialled the relay over QUIC too
/// (TCP hole punching mostly fails behind these routers: they answer the other side's first
/// packet with a reset), so it saw their UDP mappings; they punch a hole through both NATs
/// (DCUtR: each sends to the address the relay saw the other at, from the UDP port it used for
/// the relay), and the upload goes over that direct connection: the provider's home receives
/// 4 MB from the buyer's router and next to nothing from the relay. So does the upload of a
/// buyer given the provider's relayed TCP address, which reaches it before the relay saw its
/// UDP mapping, and dials it through the relay again once it did. Then the buyer's router lets
/// no UDP out, and both routers drop unasked packets silently: a buyer listening on loopback
/// only gets no hole, and its upload goes through the relay (which shows what the count
/// counts); one listening on every interface, as by default, punches a hole over TCP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_and_a_provider_behind_two_nats_punch_a_hole_and_the_transfer_skips_the_relay() {
    let lab = NatLab::two_homes().unwrap();
    let away = lab.other_home.clone().unwrap();
    let root = tempfile::tempdir().unwrap();
    let quic = format!("/ip4/{GLOBAL_PUBLIC_IP}/udp/0/quic-v1");
    let tcp = format!("/ip4/{GLOBAL_PUBLIC_IP}/tcp/0");
    let (_relay, relay_addrs) = relay_on(&lab, &root.path().join("relay"), &[&quic, &tcp]).await;
    let relay_over = |transport: &str| {
        relay_addrs
            .iter()
            .find(|addr| addr.contains(transport))
            .unwrap_or_else(|| panic!("no {transport} address in {relay_addrs:?}"))
            .clone()
    };
    let (relay_quic, relay_tcp) = (relay_over("quic-v1"), relay_over("/tcp/"));
    let mut args = home_args(&relay_tcp).to_vec();
    args.extend(["--no-upnp", "--listen", "/ip4/0.0.0.0/udp/0/quic-v1"]);
    let (_provider, provider_addrs, mut provider_lines) =
        internet_node_in(&away, &root.path().join("provider"), &args).await;
    let provider_id = id_of(&provider_addrs[0]);
    let found = Duration::from_secs(60);
    let circuit = |relay: &str| format!("{relay}/p2p-circuit/p2p/{provider_id}");
    // Both of the relay's addresses, in either order.
    for relay in [&relay_quic, &relay_tcp] {
        let line = format!(r#"{{"listening":"{}"}}"#, circuit(relay));
        if !provider_lines.seen().contains(&line) {
            provider_lines.wait_for(&line, found).await.unwrap();
        }
    }
    provider_lines.drain();

    let file = |name: &str, seed: u32| four_mb(&root.path().join(name), seed);
    // What the provider's home receives from the relay, and from the buyer's home directly.
    let put_with = |client: &'static str, src: std::path::PathBuf, peer: String, extra| {
        let path = root.path().join(client);
        let (lab, away, provider_id) = (&lab, &away, &provider_id);
        async move {
            let put = put_whole(&lab.home, &path, &src, (&peer, extra), provider_id);
            let (_, relayed, direct) = counted(lab, (away, GLOBAL_ROUTER_IP), put).await;
            (relayed, direct)
        }
    };
    let put = |client, src, peer| put_with(client, src, peer, &[]);

    // A hole is punched over QUIC, and the upload goes through it.
    through_the_hole(
        "punched",
        put("punched", file("a.bin", 7), relay_tcp.clone()).await,
    );
    // A buyer given the provider's relayed TCP address dials it at once, over its TCP connection
    // to the relay, before the relay saw its UDP mapping: it dials through the relay again once
    // it did, and that connection's hole punch goes through.
    through_the_hole(
        "at-once",
        put("at-once", file("c.bin", 13), circuit(&relay_tcp)).await,
    );
    // No UDP out of the buyer's home, and both routers drop what comes in unasked instead of
    // resetting it (in this lab, with no latency, the two first SYNs cross the routers within
    // microseconds: behind a router that resets, a TCP hole opens only when each leaves its
    // own router before the other's comes; the far-apart test has it open behind resetting
    // routers too). A buyer listening on loopback only dials from other ports than the one
    // the relay saw: no hole, all of it through the relay.
    lab.block_udp(&lab.home).unwrap();
    lab.drop_unasked(&lab.home).unwrap();
    lab.drop_unasked(&away).unwrap();
    let (relayed, direct) =
        put_with("lo", file("b.bin", 11), relay_tcp.clone(), &LOOPBACK_ONLY).await;
    eprintln!("lo: {relayed} bytes through the relay, {direct} directly");
    assert!(
        relayed > 4_000_000 && direct < 200_000,
        "{relayed} bytes through the relay, {direct} directly"
    );
    // One listening on every interface (its TCP dials leave from the port it listens on)
    // punches a hole over TCP: the first SYN to reach the other router is dropped, and sent
    // again once the other side's opened the way.
    through_the_hole(
        "tcp",
        put("tcp", file("d.bin", 17), relay_tcp.clone()).await,
    );
}

/// A plain node on `lab`'s public side (no `--relay-server`) and a provider in its other home
/// knowing only that node; returns once the node, found reachable, serves a limited relay and
/// the provider, found unreachable, listens through it: both guards, the node's TCP address
/// and the provider's peer id.
async fn provider_behind_a_limited_relay(
    lab: &NatLab,
    root: &Path,
) -> (ChildGuard, ChildGuard, String, String) {
    let away = lab.other_home.clone().unwrap();
    let quic = format!("/ip4/{GLOBAL_PUBLIC_IP}/udp/0/quic-v1");
    let tcp = format!("/ip4/{GLOBAL_PUBLIC_IP}/tcp/0");
    let (peer, peer_addrs, mut peer_lines) = internet_node_in(
        &lab.public,
        &root.join("peer"),
        &[
            "--no-upnp",
            "--quota",
            "0",
            "--listen",
            &quic,
            "--listen",
            &tcp,
        ],
    )
    .await;
    let peer_tcp = peer_addrs
        .iter()
        .find(|addr| addr.contains("/tcp/"))
        .unwrap()
        .clone();
    let peer_id = id_of(&peer_tcp);
    let mut args = home_args(&peer_tcp).to_vec();
    args.extend(["--no-upnp", "--listen", "/ip4/0.0.0.0/udp/0/quic-v1"]);
    let (provider, provider_addrs, mut provider_lines) =
        internet_node_in(&away, &root.join("provider"), &args).await;
    let provider_id = id_of(&provider_addrs[0]);
    let found = Duration::from_secs(60);
    // The provider dials the public node back: found reachable, it serves a limited relay,
    // which the provider, found unreachable, listens through.
    peer_lines
        .wait_for(r#""reachability":"public""#, found)
        .await
        .unwrap();
    let relay_line = r#"{"relay":"limited"}"#;
    if !peer_lines.seen().iter().any(|line| line == relay_line) {
        peer_lines.wait_for(relay_line, found).await.unwrap();
    }
    let circuit = provider_lines
        .wait_for(
            &format!(r#"/p2p/{peer_id}/p2p-circuit/p2p/{provider_id}"}}"#),
            found,
        )
        .await
        .unwrap();
    assert!(circuit.contains(r#"{"listening":"#), "{circuit}");
    (peer, provider, peer_tcp, provider_id)
}

/// No peer runs `--relay-server`. A node on the public side that its peers found reachable
/// serves a limited relay by default (for hole punching: 2 minutes and 128 KiB per circuit),
/// and a provider in one home, found unreachable, listens through it by itself. A buyer in
/// another home, knowing only that public node, punches a hole through both NATs and uploads
/// over it; a buyer on the public side is dialled back by the provider, and uploads over that. When no hole can be punched (the buyer's home lets no UDP out, both routers drop
/// what comes in unasked, and the buyer listens on loopback only, so no TCP hole either), the
/// upload fails with an error that says why, instead of going through a relay that would cut it
/// off after 128 KiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_relay_server_a_reachable_peer_relays_enough_to_punch_a_hole_but_no_transfer() {
    let lab = NatLab::two_homes().unwrap();
    let away = lab.other_home.clone().unwrap();
    let root = tempfile::tempdir().unwrap();
    let (_peer, _provider, peer_tcp, provider_id) =
        provider_behind_a_limited_relay(&lab, root.path()).await;

    let src = four_mb(&root.path().join("a.bin"), 7);
    let client = root.path().join("punched");
    let put = put_whole(&lab.home, &client, &src, (&peer_tcp, &[]), &provider_id);
    let (_, relayed, direct) = counted(&lab, (&away, GLOBAL_ROUTER_IP), put).await;
    through_the_hole("punched", (relayed, direct));

    // A buyer on the public side reaches the provider through the limited relay too, and is
    // dialled back: its upload goes over that direct connection (through the relay, it would
    // have been cut off after 128 KiB).
    let src = four_mb(&root.path().join("p.bin"), 5);
    put_whole(
        &lab.public,
        &root.path().join("public"),
        &src,
        (&peer_tcp, &[]),
        &provider_id,
    )
    .await;

    lab.block_udp(&lab.home).unwrap();
    lab.drop_unasked(&lab.home).unwrap();
    lab.drop_unasked(&away).unwrap();
    let src = four_mb(&root.path().join("b.bin"), 11);
    let mut args = vec![
        "put",
        src.to_str().unwrap(),
        "--copies",
        "1",
        "--peer",
        &peer_tcp,
    ];
    args.extend(LOOPBACK_ONLY);
    let started = tokio::time::Instant::now();
    let client = root.path().join("no-hole");
    let put = storage_in(&lab.home, &client, &args);
    let ((ok, out, err), relayed, _) = counted(&lab, (&away, GLOBAL_ROUTER_IP), put).await;
    eprintln!(
        "no hole: failed after {:?}, {relayed} bytes through the relay: {err}",
        started.elapsed()
    );
    assert!(!ok, "the put went through: {out}");
    assert!(
        err.contains(&format!(
            "{provider_id} is reached only through relays limited to hole punching"
        )),
        "{err}"
    );
    assert!(relayed < 200_000, "{relayed} bytes through the relay");
}

/// The two homes of the limited-relay test, at internet distances: 80 ms from the public side
/// and back, 160 ms from each other and back (the lab's wires delay every packet). Hole
/// punching times its two sides' dials by the round trip it measures through the relay: a
/// buyer in one home punches a hole to a provider in the other over QUIC; with no UDP out of
/// its home, over TCP, behind routers that reset what comes in unasked (the two first SYNs
/// leave their own routers long before either reaches the other's, so each is let in as an
/// answer), and behind routers that drop it. Each 4 MB upload goes through the hole, not the
/// limited relay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_homes_an_ocean_apart_punch_a_hole_over_quic_and_over_tcp() {
    let latency = Duration::from_millis(40);
    let lab = NatLab::two_homes_far_apart(latency).unwrap();
    let away = lab.other_home.clone().unwrap();
    // The wires delay as they should: a connection from home to the public side (refused,
    // nothing listens on port 9) takes two latencies, one to the other home's router four.
    for (to, hops) in [(GLOBAL_PUBLIC_IP, 2), (OTHER_ROUTER_IP, 4)] {
        let took = NatLab::round_trip(&lab.home, &format!("{to}:9"))
            .unwrap()
            .unwrap_or_else(|| panic!("no answer from {to}"));
        eprintln!("round trip to {to}: {took:?}");
        assert!(took >= latency * hops, "{took:?} to {to}");
    }
    let root = tempfile::tempdir().unwrap();
    let (_peer, _provider, peer_tcp, provider_id) =
        provider_behind_a_limited_relay(&lab, root.path()).await;

    for (over, seed) in [("quic", 7), ("tcp", 11), ("tcp-dropped", 13)] {
        if over == "tcp" {
            lab.block_udp(&lab.home).unwrap();
        }
        if over == "tcp-dropped" {
            lab.drop_unasked(&lab.home).unwrap();
            lab.drop_unasked(&away).unwrap();
        }
        let src = four_mb(&root.path().join(format!("{over}.bin")), seed);
        let client = root.path().join(over);
        let started = tokio::time::Instant::now();
        let put = put_whole(&lab.home, &client, &src, (&peer_tcp, &[]), &provider_id);
        let (id, relayed, direct) = counted(&lab, (&away, GLOBAL_ROUTER_IP), put).await;
        let took = started.elapsed();
        through_the_hole(&format!("{over}: put in {took:?}"), (relayed, direct));

        // Fetched back by a new `cairn storage` (a new connection through the relay, and a new
        // hole), byte for byte, through the hole too.
        let out = root.path().join(format!("{over}.out"));
        let started = tokio::time::Instant::now();
        let args = ["get", &id, "-o", out.to_str().unwrap(), "--peer", &peer_tcp];
        let get = storage_in(&lab.home, &client, &args);
        let ((ok, _, err), relayed, direct) =
            counted(&lab, (&lab.home, OTHER_ROUTER_IP), get).await;
        let took = started.elapsed();
        assert!(ok, "{over}: get failed: {err}");
        assert!(
            std::fs::read(&out).unwrap() == std::fs::read(&src).unwrap(),
            "{over}: fetched bytes differ"
        );
        through_the_hole(&format!("{over}: got in {took:?}"), (relayed, direct));
    }
}

/// Two homes 600 ms apart (150 ms on each router's uplink: 300 ms from the public side and
/// back), a relay on the public side that carries transfers (`--relay-server`). A hole punch
/// takes a few round trips, longer than [`node::DIRECT_GRACE`] this far apart: the transfer
/// waits [`node::PUNCH_ROUND_TRIPS`] more of the relayed connection's round trips, and goes
/// through the hole rather than loading the relay (it went through the relay before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_homes_600_ms_apart_wait_for_their_hole_rather_than_load_the_relay() {
    let lab = NatLab::two_homes_far_apart(Duration::from_millis(150)).unwrap();
    let away = lab.other_home.clone().unwrap();
    let root = tempfile::tempdir().unwrap();
    let quic = format!("/ip4/{GLOBAL_PUBLIC_IP}/udp/0/quic-v1");
    let tcp = format!("/ip4/{GLOBAL_PUBLIC_IP}/tcp/0");
    let (_relay, relay_addrs) = relay_on(&lab, &root.path().join("relay"), &[&quic, &tcp]).await;
    let relay_tcp = relay_addrs
        .iter()
        .find(|addr| addr.contains("/tcp/"))
        .unwrap()
        .clone();
    let mut args = home_args(&relay_tcp).to_vec();
    args.extend(["--no-upnp", "--listen", "/ip4/0.0.0.0/udp/0/quic-v1"]);
    let (_provider, provider_addrs, mut provider_lines) =
        internet_node_in(&away, &root.path().join("provider"), &args).await;
    let provider_id = id_of(&provider_addrs[0]);
    provider_lines
        .wait_for(
            &format!("{relay_tcp}/p2p-circuit/p2p/{provider_id}"),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    let src = four_mb(&root.path().join("a.bin"), 7);
    let client = root.path().join("buyer");
    let started = tokio::time::Instant::now();
    let put = put_whole(&lab.home, &client, &src, (&relay_tcp, &[]), &provider_id);
    let (_, relayed, direct) = counted(&lab, (&away, GLOBAL_ROUTER_IP), put).await;
    let took = started.elapsed();
    through_the_hole(&format!("put in {took:?}"), (relayed, direct));
}

/// On a LAN (the lab's home network: its multicast stays inside the namespace), a provider and
/// a buyer given no peer at all find each other by mDNS: the buyer stores a file on the
/// provider and fetches it back, byte for byte. With `--no-mdns`, a buyer finds nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_given_no_peer_finds_a_provider_on_its_lan_by_mdns() {
    let lab = NatLab::new().unwrap();
    let root = tempfile::tempdir().unwrap();
    let args = [
        "--quota",
        "64MiB",
        "--no-upnp",
        "--listen",
        "/ip4/0.0.0.0/tcp/0",
    ];
    let (_provider, provider_addrs, _lines) =
        lan_node_in(&lab.home, &root.path().join("provider"), &args).await;
    let provider_id = id_of(&provider_addrs[0]);
    let buyer = root.path().join("buyer");
    let src = four_mb(&root.path().join("a.bin"), 7);
    let put = |extra: &'static [&'static str]| {
        let (lab, buyer, src) = (&lab, &buyer, &src);
        async move {
            let mut args = extra.to_vec();
            args.extend(["put", src.to_str().unwrap(), "--copies", "1"]);
            lan_storage_in(&lab.home, buyer, &args).await
        }
    };
    let (ok, out, err) = put(&[]).await;
    assert!(ok, "put failed: {err}");
    let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(report["copies"][0]["peer"], provider_id, "{report}");
    let id = report["id"].as_str().unwrap();
    let out = root.path().join("out.bin");
    let args = ["get", id, "-o", out.to_str().unwrap()];
    let (ok, _, err) = lan_storage_in(&lab.home, &buyer, &args).await;
    assert!(ok, "get failed: {err}");
    assert!(
        std::fs::read(&out).unwrap() == std::fs::read(&src).unwrap(),
        "fetched bytes differ"
    );
    // Without mDNS, nothing tells it where a provider is.
    let (ok, _, err) = put(&["--no-mdns"]).await;
    assert!(!ok, "a put with no way to find providers went through");
    assert!(err.contains("no storage provider found"), "{err}");
}
