//! Multi-process tests of `cairn node` and `cairn storage`: real processes on loopback.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::path::Path;

use testkit::ChildGuard;
use tokio::io::AsyncBufReadExt as _;
use tokio::process::Command;

mod common;
use common::{CAIRN, COMMAND_TIMEOUT, START_TIMEOUT};

struct NodeProcess {
    guard: ChildGuard,
    peer_id: String,
    addrs: Vec<String>,
}

async fn start_node(dir: &Path, quota: &str, peers: &[String]) -> NodeProcess {
    let mut command = Command::new(CAIRN);
    command
        .arg("node")
        .arg("--data-dir")
        .arg(dir)
        .args(["--quota", quota, "--no-mdns", "--no-upnp"])
        .args(["--listen", "/ip4/127.0.0.1/tcp/0"])
        .args(["--listen", "/ip4/127.0.0.1/udp/0/quic-v1"])
        .args(["--listen", "/ip4/127.0.0.1/tcp/0/ws"])
        .env("CAIRN_LOG", "warn");
    for peer in peers {
        command.args(["--peer", peer]);
    }
    let (guard, line) =
        ChildGuard::spawn_and_read_line("cairn node", command, "peer_id", START_TIMEOUT)
            .await
            .unwrap();
    let json: serde_json::Value = serde_json::from_str(&line).unwrap();
    let peer_id = json["peer_id"].as_str().unwrap().to_owned();
    let addrs: Vec<String> = json["listen_addrs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    NodeProcess {
        guard,
        peer_id,
        addrs,
    }
}

impl NodeProcess {
    fn addr(&self, transport: &str) -> String {
        self.addrs
            .iter()
            .find(|a| match transport {
                "quic" => a.contains("/quic-v1/"),
                "ws" => a.contains("/ws/"),
                _ => !a.contains("/ws/") && a.contains("/tcp/"),
            })
            .cloned()
            .unwrap()
    }
}

async fn cairn(args: &[&str], dir: &Path) -> (bool, String, String) {
    let mut command = Command::new(CAIRN);
    command
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        // Only the providers this test starts: none found on the LAN by mDNS.
        .env("CAIRN_NO_MDNS", "1")
        .env("CAIRN_LOG", "warn");
    let ran = testkit::run("cairn", command, COMMAND_TIMEOUT)
        .await
        .unwrap();
    (ran.ok, ran.stdout, ran.stderr)
}

/// `cairn storage put FILE --copies N --peer PEER`, the client's state in `client`.
async fn put(client: &Path, file: &Path, copies: u32, peer: &str) -> (bool, String, String) {
    let copies = copies.to_string();
    #[rustfmt::skip]
    let args = ["storage", "put", file.to_str().unwrap(), "--copies", &copies, "--peer", peer];
    cairn(&args, client).await
}

/// `cairn storage get ID -o OUT --peer PEER [--range R]`, the client's state in `client`.
async fn get(
    client: &Path,
    id: &str,
    out: &Path,
    peer: &str,
    range: Option<&str>,
) -> (bool, String, String) {
    let mut args = vec![
        "storage",
        "get",
        id,
        "-o",
        out.to_str().unwrap(),
        "--peer",
        peer,
    ];
    if let Some(range) = range {
        args.extend(["--range", range]);
    }
    cairn(&args, client).await
}

fn random_file(path: &Path, len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let bytes: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(path, &bytes).unwrap();
    bytes
}

#[tokio::test]
async fn nodes_print_their_addresses_and_store_and_serve_across_processes() {
    let root = tempfile::tempdir().unwrap();
    let a = start_node(&root.path().join("a"), "1GiB", &[]).await;
    for addr in &a.addrs {
        assert!(addr.starts_with("/ip4/127.0.0.1/"), "{addr}");
        assert!(addr.ends_with(&format!("/p2p/{}", a.peer_id)), "{addr}");
    }
    assert_eq!(a.addrs.len(), 3);
    // b joins over QUIC, c over WebSocket.
    let b = start_node(&root.path().join("b"), "1GiB", &[a.addr("quic")]).await;
    let mut c = start_node(&root.path().join("c"), "1GiB", &[a.addr("ws")]).await;

    let client = root.path().join("client");
    let src = root.path().join("in.bin");
    let bytes = random_file(&src, 3_000_000, 1);
    let (ok, out, err) = put(&client, &src, 3, &a.addr("tcp")).await;
    assert!(ok, "put failed: {err}");
    // Not a terminal: plain progress lines.
    assert!(err.contains("upload "), "{err}");
    let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let id = report["id"].as_str().unwrap().to_owned();
    let mut holders: Vec<&str> = report["copies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["peer"].as_str().unwrap())
        .collect();
    holders.sort_unstable();
    let mut all = vec![a.peer_id.as_str(), b.peer_id.as_str(), c.peer_id.as_str()];
    all.sort_unstable();
    assert_eq!(holders, all);

    let (ok, out, _) = cairn(&["storage", "ls"], &client).await;
    assert!(ok);
    let entry: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(entry["id"], id.as_str());
    assert_eq!(entry["size"], 3_000_000);
    // Remembered where it was stored from.
    assert_eq!(
        entry["original"],
        serde_json::json!(src.canonicalize().unwrap())
    );
    // On a terminal (a pseudo-terminal through util-linux's `script`), a table.
    let mut on_tty = Command::new("script");
    on_tty
        .args(["--quiet", "--return", "--command"])
        .arg(format!(
            "{CAIRN} storage ls --data-dir {}",
            client.display()
        ));
    on_tty.arg("/dev/null");
    let ran = testkit::run("cairn storage ls on a terminal", on_tty, COMMAND_TIMEOUT)
        .await
        .unwrap();
    assert!(ran.ok, "{}", ran.stderr);
    let lines: Vec<&str> = ran.stdout.lines().map(str::trim_end).collect();
    assert_eq!(lines.len(), 2, "{}", ran.stdout);
    assert!(
        lines[0].starts_with("NAME    SIZE     COPIES  PAID UNTIL  KEPT UNTIL    CONTENT ID"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("in.bin  2.8 MiB  3       -           while listed  ")
            && lines[1].ends_with(&id),
        "{}",
        lines[1]
    );

    // c dies; a fresh client that knows only b still gets identical bytes.
    c.guard.kill().await.unwrap();
    let got = root.path().join("out.bin");
    let (ok, _, err) = get(
        &root.path().join("client2"),
        &id,
        &got,
        &b.addr("tcp"),
        None,
    )
    .await;
    assert!(ok, "get failed: {err}");
    assert_eq!(std::fs::read(&got).unwrap(), bytes);
    // A range.
    let (ok, _, err) = get(&client, &id, &got, &b.addr("tcp"), Some("1000..300000")).await;
    assert!(ok, "ranged get failed: {err}");
    assert_eq!(std::fs::read(&got).unwrap(), bytes[1000..300_000]);
}

#[tokio::test]
async fn restart_keeps_identity_and_data_and_full_quota_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("p");
    let mut p = start_node(&dir, "1MiB", &[]).await;
    let client = root.path().join("client");
    let src = root.path().join("in.bin");
    let bytes = random_file(&src, 600_000, 2);
    let (ok, out, err) = put(&client, &src, 1, &p.addr("tcp")).await;
    assert!(ok, "put failed: {err}");
    let id = serde_json::from_str::<serde_json::Value>(out.trim()).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // A second object does not fit in the rest of the 1 MiB quota.
    let big = root.path().join("big.bin");
    random_file(&big, 600_000, 3);
    let (ok, _, err) = put(&client, &big, 1, &p.addr("tcp")).await;
    assert!(!ok);
    assert!(err.contains("quota exceeded"), "{err}");
    assert!(err.contains("raise --quota"), "{err}");

    // Killed (SIGKILL) and restarted: same peer id, the object is still served.
    let peer_id = p.peer_id.clone();
    p.guard.kill().await.unwrap();
    let p = start_node(&dir, "1MiB", &[]).await;
    assert_eq!(p.peer_id, peer_id);
    let got = root.path().join("out.bin");
    let (ok, _, err) = get(&client, &id, &got, &p.addr("tcp"), None).await;
    assert!(ok, "get after restart failed: {err}");
    assert_eq!(std::fs::read(&got).unwrap(), bytes);
}

/// A `--peer` nobody listens on: the buyer says no provider was found and why the dial failed.
#[tokio::test]
async fn an_unreachable_peer_is_named_with_the_reason() {
    let root = tempfile::tempdir().unwrap();
    // A closed port: bind one, note it, free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let peer = "12D3KooWRLoRJECYexhboSkUZAjYXx7E3JrxEiADumihQNg2wyng";
    let addr = format!("/ip4/127.0.0.1/tcp/{port}/p2p/{peer}");
    let file = root.path().join("in.bin");
    random_file(&file, 1000, 3);
    let (ok, _, err) = cairn(
        &["storage", "--peer", &addr, "put", file.to_str().unwrap()],
        &root.path().join("client"),
    )
    .await;
    assert!(!ok);
    assert!(err.contains("no storage provider found"), "{err}");
    assert!(err.contains("Dials that failed"), "{err}");
    assert!(err.contains(&format!("tcp/{port}")), "{err}");
    assert!(err.to_lowercase().contains("refused"), "{err}");
}

/// `cairn node`'s reader goes away after its first line (as `cairn node | head -1` does): the
/// node goes on. Here a second node dials it; each dials the other back (AutoNAT, on a
/// private network), so the first prints two more lines (found reachable, and serving a relay
/// for hole punching) to a closed pipe, which made `println!` panic and the provider exit. It
/// still runs after logging them, and still stores a file.
#[tokio::test]
async fn a_node_whose_output_is_no_longer_read_goes_on() {
    let root = tempfile::tempdir().unwrap();
    let log = root.path().join("a.log");
    // `cairn node` on loopback, on a private network, keeping its state in `name`.
    let node = |name: &str, quota: &str| {
        let mut command = Command::new(CAIRN);
        command
            .arg("node")
            .arg("--data-dir")
            .arg(root.path().join(name))
            .args([
                "--quota",
                quota,
                "--no-mdns",
                "--no-upnp",
                "--private-network",
            ])
            .args(["--listen", "/ip4/127.0.0.1/tcp/0"]);
        command
    };
    let mut command = node("a", "1MiB");
    command
        .env("CAIRN_LOG", "info")
        .stderr(std::fs::File::create(&log).unwrap())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut a = command.spawn().unwrap();
    let mut stdout = tokio::io::BufReader::new(a.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(START_TIMEOUT, stdout.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    // Nobody reads its stdout any more: the pipe is closed.
    drop(stdout);
    let json: serde_json::Value = serde_json::from_str(&line).unwrap();
    let addr = json["listen_addrs"][0].as_str().unwrap().to_owned();

    let mut command = node("b", "0");
    command.args(["--peer", &addr]).env("CAIRN_LOG", "warn");
    let (_b, _, mut b_lines) =
        ChildGuard::spawn_and_follow("cairn node", command, "peer_id", START_TIMEOUT)
            .await
            .unwrap();
    b_lines
        .wait_for(r#"{"relay":"limited"}"#, std::time::Duration::from_secs(60))
        .await
        .unwrap();
    let logged = |what: &str| std::fs::read_to_string(&log).unwrap().contains(what);
    testkit::eventually(
        "the first node to serve a relay",
        std::time::Duration::from_secs(60),
        || async { logged("serving a relay to nodes behind NATs").then_some(()) },
    )
    .await
    .unwrap();
    // Its two lines went out (or did not) right after those log lines: it has had time to die.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(
        a.try_wait().unwrap().is_none(),
        "it exited: {}",
        std::fs::read_to_string(&log).unwrap()
    );
    assert!(
        !logged("panicked"),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    // And it still serves: a buyer stores a file on it.
    let file = root.path().join("in.bin");
    random_file(&file, 100_000, 7);
    let (ok, _, err) = put(&root.path().join("client"), &file, 1, &addr).await;
    assert!(ok, "{err}");
}
