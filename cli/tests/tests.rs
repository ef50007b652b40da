//! End-to-end tests of the `cairn` binary: the real process against a real anvil devnet, its
//! JSON API over HTTP, and its UI in headless Chromium driven through chromedriver.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::path::Path;
use std::time::Duration;

use chain::Devnet;
use testkit::{ChildGuard, WebDriver};
use tokio::process::Command;

mod common;
use common::{CAIRN, START_TIMEOUT};

/// A daemon on a free loopback port with its own data directory.
struct Daemon {
    process: testkit::Daemon,
    data_dir: tempfile::TempDir,
}

impl std::ops::Deref for Daemon {
    type Target = testkit::Daemon;

    fn deref(&self) -> &testkit::Daemon {
        &self.process
    }
}

async fn start_daemon(rpc_url: &str) -> Daemon {
    start_daemon_with(rpc_url, &[]).await
}

/// [`start_daemon`] with more `cairn daemon` arguments.
async fn start_daemon_with(rpc_url: &str, args: &[&str]) -> Daemon {
    let data_dir = tempfile::tempdir().unwrap();
    let process = testkit::Daemon::start(CAIRN, rpc_url, data_dir.path(), args, START_TIMEOUT)
        .await
        .unwrap();
    Daemon { process, data_dir }
}

/// `PUT` of `body` (JSON) to the daemon's quota route, with `token` if any: the HTTP status and
/// the JSON answer.
/// `PUT`s `body` to the daemon's API `path` (with `token`, if any): the status code and the JSON
/// answer.
async fn put_api(
    http: &reqwest::Client,
    daemon: &Daemon,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, serde_json::Value) {
    send_api(http, daemon, reqwest::Method::PUT, path, token, body).await
}

/// A body that is not the request is refused (400) with an example that contains `example`;
/// `request` without the token is refused (401).
async fn refuses_a_bad_body_and_no_token(
    http: &reqwest::Client,
    daemon: &Daemon,
    method: reqwest::Method,
    path: &str,
    request: &str,
    example: &str,
) {
    let token = Some(daemon.token.as_str());
    let bad = r#"{"unknown": 1}"#;
    let (code, body) = send_api(http, daemon, method.clone(), path, token, bad).await;
    assert_eq!(code, 400, "{path}: {body}");
    assert_eq!(body["code"], "bad_request");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains(example), "{path}: {message}");
    let (code, _) = send_api(http, daemon, method, path, None, request).await;
    assert_eq!(code, 401, "{path}");
}

/// Sends `body` with `method` to the daemon's `path`; its HTTP status and JSON answer.
async fn send_api(
    http: &reqwest::Client,
    daemon: &Daemon,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, serde_json::Value) {
    let mut request = http
        .request(method, format!("{}{path}", daemon.base))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn api_requires_the_install_token() {
    let devnet = Devnet::start().await.unwrap();
    let daemon = start_daemon(devnet.rpc_url()).await;
    let http = reqwest::Client::new();
    let status_url = format!("{}/api/status", daemon.base);

    let anonymous = http.get(&status_url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    let body: serde_json::Value = anonymous.json().await.unwrap();
    assert_eq!(body["code"], "unauthorized");
    assert!(body["message"].as_str().unwrap().contains("Authorization"));

    let wrong = http
        .get(&status_url)
        .bearer_auth("0".repeat(64))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    let ok = http
        .get(&status_url)
        .bearer_auth(&daemon.token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let status: serde_json::Value = ok.json().await.unwrap();
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status["network"], "devnet");
    assert_eq!(status["node"]["state"], "off");

    // This daemon runs no node: a quota is refused with how to run one, and nothing is saved.
    let (code, body) = put_api(
        &http,
        &daemon,
        "/api/node/quota",
        Some(&daemon.token),
        r#"{"quotaBytes": 1}"#,
    )
    .await;
    assert_eq!(code, 409);
    assert_eq!(body["code"], "no_node");
    assert!(
        body["message"].as_str().unwrap().contains("--node"),
        "{body}"
    );
    assert!(!daemon.data_dir.path().join("settings.json").exists());

    // So is a market: there is no node to sell with.
    let (code, body) = put_api(
        &http,
        &daemon,
        "/api/node/market",
        Some(&daemon.token),
        r#"{"deploymentFile": "/srv/deployment.json"}"#,
    )
    .await;
    assert_eq!(code, 409, "{body}");
    assert_eq!(body["code"], "no_node");

    // So are files: they are stored through the node. A body that is not the request is
    // answered with what to send; without the token, nothing is done.
    for (path, request) in [
        ("/api/files", r#"{"path": "/etc/hostname", "copies": 1}"#),
        ("/api/files/fetch", r#"{"id": "ab", "output": "/tmp/x"}"#),
        ("/api/files/forget", r#"{"id": "ab"}"#),
        ("/api/files/download", r#"{"id": "ab"}"#),
    ] {
        let post = || {
            send_api(
                &http,
                &daemon,
                reqwest::Method::POST,
                path,
                Some(&daemon.token),
                request,
            )
        };
        let (code, body) = post().await;
        assert_eq!(code, 409, "{path}: {body}");
        assert_eq!(body["code"], "no_node");
        let post = reqwest::Method::POST;
        refuses_a_bad_body_and_no_token(&http, &daemon, post, path, request, "with Content-Type")
            .await;
    }

    // A file sent by the browser: no node to store it through, said before it is received.
    let upload = "/api/files/upload?name=a.bin&copies=1";
    let post = reqwest::Method::POST;
    let (code, body) = send_api(&http, &daemon, post.clone(), upload, None, "data").await;
    assert_eq!(code, 401, "{body}");
    let (code, body) = send_api(&http, &daemon, post, upload, Some(&daemon.token), "data").await;
    assert_eq!(code, 409, "{body}");
    assert_eq!(body["code"], "no_node");
    // A download link that was never made: not found, with what to do.
    let (code, body) = send_api(
        &http,
        &daemon,
        reqwest::Method::GET,
        &format!("/api/downloads/{}", "ab".repeat(16)),
        None,
        "",
    )
    .await;
    assert_eq!(code, 404, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("expired"),
        "{body}"
    );

    // The light client's beacon chain: what does not hold is refused with what is wrong, a body
    // that is not the request with what to send, and nothing is saved.
    let light_client = "/api/light-client";
    let (code, body) = put_api(
        &http,
        &daemon,
        light_client,
        Some(&daemon.token),
        r#"{"settings": {"network": "holesky-old", "endpoints": ["http://127.0.0.1:1"], "checkpoint": "0x00"}}"#,
    )
    .await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["code"], "invalid_setting");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("unknown network \"holesky-old\""),
        "{body}"
    );
    let stop = r#"{"settings": null}"#;
    refuses_a_bad_body_and_no_token(
        &http,
        &daemon,
        reqwest::Method::PUT,
        light_client,
        stop,
        stop,
    )
    .await;
    assert!(!daemon.data_dir.path().join("settings.json").exists());
    // Stopping it when none runs is no error: the status has no light client.
    let (code, body) = put_api(
        &http,
        &daemon,
        light_client,
        Some(&daemon.token),
        r#"{"settings": null}"#,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert!(body.get("lightClient").is_none(), "{body}");

    // The chain endpoint: one that does not answer, or is no URL, is refused saying so; a body
    // that is not the request is answered with what to send; nothing is saved.
    let silent = format!(
        "http://127.0.0.1:{}",
        testkit::process::free_port().unwrap()
    );
    for (endpoint, reason) in [
        (silent.as_str(), "did not answer with its chain id"),
        ("rpc.example", "write the chain's JSON-RPC endpoint like"),
    ] {
        let (code, body) = put_api(
            &http,
            &daemon,
            "/api/chain",
            Some(&daemon.token),
            &serde_json::json!({"settings": {"rpcUrl": endpoint}}).to_string(),
        )
        .await;
        assert_eq!(code, 422, "{body}");
        assert_eq!(body["code"], "invalid_setting");
        assert!(body["message"].as_str().unwrap().contains(reason), "{body}");
    }
    refuses_a_bad_body_and_no_token(
        &http,
        &daemon,
        reqwest::Method::PUT,
        "/api/chain",
        r#"{"settings": null}"#,
        r#"{"settings": {"rpcUrl""#,
    )
    .await;
    let saved = std::fs::read_to_string(daemon.data_dir.path().join("settings.json")).unwrap();
    assert!(!saved.contains("chain"), "{saved}");

    // The ticker reaches the devnet within a few polls.
    let chain_id = testkit::eventually("a connected status", Duration::from_secs(20), || {
        let request = http.get(&status_url).bearer_auth(&daemon.token);
        async move {
            let status: serde_json::Value = request.send().await.ok()?.json().await.ok()?;
            status["chain"]["chainId"].as_u64()
        }
    })
    .await
    .unwrap();
    assert_eq!(chain_id, devnet.chain_id());

    let health = http
        .get(format!("{}/api/health", daemon.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    // The token on disk is the one printed, and private to its owner.
    let token_path = daemon.data_dir.path().join("api-token");
    assert_eq!(std::fs::read_to_string(&token_path).unwrap(), daemon.token);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&token_path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test]
async fn the_token_survives_a_restart() {
    let devnet = Devnet::start().await.unwrap();
    let first = start_daemon(devnet.rpc_url()).await;
    let token = first.token.clone();
    let Daemon { process, data_dir } = first;
    drop(process);

    let second =
        testkit::Daemon::start(CAIRN, devnet.rpc_url(), data_dir.path(), &[], START_TIMEOUT)
            .await
            .unwrap();
    assert_eq!(second.token, token);
}

#[tokio::test]
async fn refuses_to_listen_beyond_loopback() {
    let out = Command::new(CAIRN)
        .args(["daemon", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(std::env::temp_dir().join("cairn-never-used"))
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("only listens on loopback"), "{stderr}");
}

#[tokio::test]
async fn a_missing_ui_is_a_clear_error() {
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(CAIRN)
        .args(["daemon", "--listen", "127.0.0.1:0", "--ui-dir"])
        .arg(empty.path())
        .arg("--data-dir")
        .arg(empty.path().join("data"))
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the UI is not built"), "{stderr}");
}

#[tokio::test]
async fn status_command_prints_the_chain() {
    let devnet = Devnet::start().await.unwrap();
    let out = Command::new(CAIRN)
        .args(["status", "--rpc-url", devnet.rpc_url(), "--data-dir"])
        .arg(std::env::temp_dir().join("cairn-status-test"))
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["chain"]["chainId"], devnet.chain_id());
    assert!(status.get("lightClient").is_none(), "{status}");

    // Following a beacon chain (one signed by a test sync committee over the devnet, given by
    // environment as the daemon and the app take it): the light client's verified head, whose
    // block is the devnet's.
    let signed = testkit::beacon_chain::SignedChain::new();
    let beacon = signed
        .serve(devnet.rpc_url(), testkit::beacon_chain::Behaviour::Honest)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let network_file = dir.path().join("network.json");
    std::fs::write(&network_file, signed.config_json()).unwrap();
    let out = Command::new(CAIRN)
        .args(["status", "--rpc-url", devnet.rpc_url(), "--data-dir"])
        .arg(dir.path())
        .env("CAIRN_BEACON", &beacon.url)
        .env("CAIRN_BEACON_CHECKPOINT", signed.checkpoint().to_string())
        .env("CAIRN_BEACON_NETWORK", &network_file)
        .output()
        .await
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let light_client = &status["lightClient"];
    assert_eq!(light_client["network"], "cairn-test", "{status}");
    let block = light_client["head"]["block"].as_u64().unwrap();
    assert_eq!(
        light_client["head"]["blockHash"].as_str(),
        devnet.block_hash(block).await.unwrap().as_deref(),
        "{status}"
    );

    devnet.stop().await.unwrap();
    let out = Command::new(CAIRN)
        .args(["status", "--rpc-url", "http://127.0.0.1:9", "--data-dir"])
        .arg(std::env::temp_dir().join("cairn-status-test"))
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unreachable"));
}

/// The daemon's UI, loaded in headless Chromium, shows the devnet's live values.
#[tokio::test]
async fn ui_in_chromium_shows_live_devnet_status() {
    let devnet = Devnet::start().await.unwrap();
    let daemon = start_daemon(devnet.rpc_url()).await;

    let profile = tempfile::tempdir().unwrap();
    let (_driver, browser) = WebDriver::chromium(profile.path()).await.unwrap();

    browser
        .goto(&format!("{}/#token={}", daemon.base, daemon.token))
        .await
        .unwrap();
    let expected = devnet.chain_id().to_string();
    let chain_id = browser
        .wait_for_text("#chain-id", Duration::from_secs(60), |t| t == expected)
        .await
        .unwrap();
    assert_eq!(chain_id, expected);
    assert_eq!(
        browser.text_of("#network").await.unwrap().as_deref(),
        Some("devnet")
    );
    assert_eq!(
        browser.text_of("#version").await.unwrap().as_deref(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        browser.text_of("#backend").await.unwrap().as_deref(),
        Some("daemon")
    );
    assert_eq!(
        browser.text_of("#chain-state").await.unwrap().as_deref(),
        Some("connected")
    );
    // The token left the address bar once it was stored.
    assert!(!browser.current_url().await.unwrap().contains("token"));
    // This daemon runs no node, so the UI shows no node section.
    assert_eq!(browser.text_of("#node").await.unwrap(), None);

    // Live: blocks mined on the devnet appear without a reload.
    let before: u64 = browser
        .wait_for_text("#latest-block", Duration::from_secs(10), |t| {
            t.parse::<u64>().is_ok()
        })
        .await
        .unwrap()
        .parse()
        .unwrap();
    for _ in 0..3 {
        devnet.mine().await.unwrap();
    }
    browser
        .wait_for_text("#latest-block", Duration::from_secs(20), |t| {
            t.parse::<u64>().is_ok_and(|b| b >= before + 3)
        })
        .await
        .unwrap();

    save_screenshot(&browser, "daemon-ui-chromium.png").await;

    // A reload without the fragment still works: the token was kept in local storage.
    browser.goto(&format!("{}/", daemon.base)).await.unwrap();
    browser
        .wait_for_text("#chain-id", Duration::from_secs(30), |t| t == expected)
        .await
        .unwrap();
    let endpoint = browser.text_of("#chain-endpoint").await.unwrap().unwrap();
    assert!(
        endpoint.starts_with(devnet.rpc_url()) && endpoint.contains("given at start"),
        "{endpoint}"
    );

    // The chain endpoint, set from the page: one that does not answer is refused, saying so.
    let other = Devnet::start_with(chain::devnet::Options {
        chain_id: Some(4242),
        ..Default::default()
    })
    .await
    .unwrap();
    browser.click("#chain-settings summary").await.unwrap();
    let silent = format!(
        "http://127.0.0.1:{}",
        testkit::process::free_port().unwrap()
    );
    browser.type_into("#chain-rpc-url", &silent).await.unwrap();
    browser.click("#chain-connect").await.unwrap();
    let error = browser
        .wait_for_text("#chain-settings-error", Duration::from_secs(30), |t| {
            !t.is_empty()
        })
        .await
        .unwrap();
    assert!(
        error.contains(&silent) && error.contains("did not answer with its chain id"),
        "{error}"
    );
    // Another chain's: read at once, named after its chain id, kept.
    browser
        .type_into("#chain-rpc-url", other.rpc_url())
        .await
        .unwrap();
    browser.click("#chain-connect").await.unwrap();
    browser
        .wait_for_text("#chain-id", Duration::from_secs(30), |t| t == "4242")
        .await
        .unwrap();
    assert_eq!(
        browser.text_of("#network").await.unwrap().as_deref(),
        Some("chain 4242")
    );
    let endpoint = browser.text_of("#chain-endpoint").await.unwrap().unwrap();
    assert_eq!(
        endpoint,
        format!("{}: set here, kept across restarts", other.rpc_url())
    );
    assert_eq!(
        browser.text_of("#chain-settings-error").await.unwrap(),
        None
    );
    save_screenshot(&browser, "daemon-ui-chain-endpoint.png").await;
    // "Use the default" returns to the daemon's --rpc-url.
    browser.click("#chain-default").await.unwrap();
    browser
        .wait_for_text("#chain-id", Duration::from_secs(30), |t| t == expected)
        .await
        .unwrap();
    assert_eq!(
        browser.text_of("#network").await.unwrap().as_deref(),
        Some("devnet")
    );
    browser.quit().await.unwrap();
}

/// Without the token the UI says how to get in, instead of showing stale or empty values.
#[tokio::test]
async fn ui_without_token_explains_what_to_do() {
    let devnet = Devnet::start().await.unwrap();
    let daemon = start_daemon(devnet.rpc_url()).await;
    let profile = tempfile::tempdir().unwrap();
    let (_driver, browser) = WebDriver::chromium(profile.path()).await.unwrap();
    browser.goto(&format!("{}/", daemon.base)).await.unwrap();
    let message = browser
        .wait_for_text("#error", Duration::from_secs(60), |t| !t.is_empty())
        .await
        .unwrap();
    assert!(message.contains("cairn daemon"), "{message}");
    assert_eq!(
        browser.text_of("#chain-id").await.unwrap().as_deref(),
        Some("…")
    );
    browser.quit().await.unwrap();
}

async fn save_screenshot(browser: &WebDriver, name: &str) {
    let png = browser.screenshot_png().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
    let path = testkit::artifacts_dir().unwrap().join(name);
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot saved to {}", Path::new(&path).display());
}

#[tokio::test]
async fn devnet_command_deploys_and_prints_the_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deployment.json");
    let mut command = Command::new(CAIRN);
    command
        .args([
            "devnet",
            "--port",
            "0",
            "--block-time",
            "0",
            "--deployment-file",
        ])
        .arg(&file);
    let (_guard, line) =
        ChildGuard::spawn_and_read_line("cairn devnet", command, "rpcUrl", START_TIMEOUT)
            .await
            .unwrap();
    let printed: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(printed["chainId"], 31337);
    for contract in ["token", "registry", "market"] {
        let address = printed[contract].as_str().unwrap();
        assert!(
            address.starts_with("0x") && address.len() == 42,
            "{contract}: {address}"
        );
    }
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(written, printed);
    // The printed RPC URL answers, with code at the token address.
    let client = chain::RpcClient::new(printed["rpcUrl"].as_str().unwrap()).unwrap();
    let code = client
        .call(
            "eth_getCode",
            vec![printed["token"].clone(), serde_json::json!("latest")],
        )
        .await
        .unwrap();
    assert!(code.as_str().unwrap().len() > 1000, "the token is deployed");
}

/// `cairn daemon --node` runs the libp2p node inside the runtime: its state is in the JSON API
/// and, live, in the UI in Chromium (a `cairn node` that dials it shows up as a peer, and, once
/// it dialled the daemon's node back, the UI says it is reachable directly, and serves a relay
/// for hole punching).
#[tokio::test]
async fn daemon_with_a_node_shows_it_in_the_api_and_the_ui() {
    let devnet = Devnet::start().await.unwrap();
    let daemon = start_daemon_with(
        devnet.rpc_url(),
        &[
            "--node",
            "--node-quota",
            "1MiB",
            "--node-listen",
            "/ip4/127.0.0.1/tcp/0",
            "--no-mdns",
            "--no-upnp",
            // The peer below dials it back on loopback.
            "--node-private-network",
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let node = daemon
        .wait_for_node("a running node", START_TIMEOUT, |n| n["state"] == "running")
        .await
        .unwrap();
    let peer_id = node["peerId"].as_str().unwrap().to_owned();
    let addr = node["listenAddrs"][0].as_str().unwrap().to_owned();
    assert!(addr.starts_with("/ip4/127.0.0.1/tcp/"), "{addr}");
    assert!(addr.ends_with(&format!("/p2p/{peer_id}")), "{addr}");
    assert_eq!(node["quotaBytes"], 1 << 20);
    assert_eq!(node["connectedPeers"], 0);
    // Its key is in the data directory, where `cairn node` keeps it by default.
    assert!(
        daemon
            .data_dir
            .path()
            .join("node")
            .join("node.key")
            .is_file()
    );

    let profile = tempfile::tempdir().unwrap();
    let (_driver, browser) = WebDriver::chromium(profile.path()).await.unwrap();
    browser
        .goto(&format!("{}/#token={}", daemon.base, daemon.token))
        .await
        .unwrap();
    browser
        .wait_for_text("#node-state", Duration::from_secs(60), |t| t == "running")
        .await
        .unwrap();
    assert_eq!(
        browser.text_of("#node-peer-id").await.unwrap(),
        Some(peer_id.clone())
    );
    assert_eq!(
        browser.text_of("#node-stored").await.unwrap().as_deref(),
        Some("0 objects, 0 B of 1 MiB")
    );
    let addrs = browser.text_of("#node-addrs").await.unwrap().unwrap();
    assert!(addrs.contains(&addr), "{addrs}");
    assert_eq!(
        browser.text_of("#node-peers").await.unwrap().as_deref(),
        Some("0")
    );
    assert_eq!(
        browser.text_of("#node-reachable").await.unwrap().as_deref(),
        Some("not known yet: no peer has tried to dial it back")
    );
    assert_eq!(
        browser.text_of("#node-relay").await.unwrap().as_deref(),
        Some("none: only a node that others can reach serves one")
    );

    // A provider that dials the daemon's node appears as a peer, live.
    let peer_dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(CAIRN);
    command
        .args(["node", "--quota", "0", "--no-mdns", "--no-upnp"])
        .args(["--listen", "/ip4/127.0.0.1/tcp/0", "--peer", &addr])
        .arg("--private-network")
        .arg("--data-dir")
        .arg(peer_dir.path())
        .env("CAIRN_LOG", "warn");
    let (peer, _line) = ChildGuard::spawn_and_read_line("cairn node", command, "{", START_TIMEOUT)
        .await
        .unwrap();
    browser
        .wait_for_text("#node-peers", Duration::from_secs(30), |t| t == "1")
        .await
        .unwrap();
    // The peer dials it back (AutoNAT, every 10 s until it is sure) at its listen address.
    let reachable = format!("directly, at {addr}");
    browser
        .wait_for_text("#node-reachable", Duration::from_secs(60), |t| {
            t == reachable
        })
        .await
        .unwrap();
    let api = daemon.status().await.unwrap()["node"].clone();
    assert_eq!(
        api["reachability"],
        serde_json::json!({ "state": "public", "addr": addr }),
        "{api}"
    );
    // Found reachable, it serves a relay for hole punching (the default).
    browser
        .wait_for_text("#node-relay", Duration::from_secs(10), |t| {
            t == "for hole punching (2 minutes and 128 KiB per circuit)"
        })
        .await
        .unwrap();
    assert_eq!(daemon.status().await.unwrap()["node"]["relay"], "limited");
    save_screenshot(&browser, "daemon-ui-node.png").await;
    drop(peer);
    browser
        .wait_for_text("#node-peers", Duration::from_secs(30), |t| t == "0")
        .await
        .unwrap();

    // The quota is set from the UI: a size that does not parse is explained, a good one applies.
    browser.type_into("#node-quota-input", "ten").await.unwrap();
    let error = browser
        .click_for(
            "#node-quota-set",
            "#node-quota-error",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert!(error.contains("not a size"), "{error}");
    browser
        .type_into("#node-quota-input", "2MiB")
        .await
        .unwrap();
    browser.click("#node-quota-set").await.unwrap();
    browser
        .wait_for_text("#node-stored", Duration::from_secs(60), |t| {
            t == "0 objects, 0 B of 2 MiB"
        })
        .await
        .unwrap();
    assert_eq!(browser.text_of("#node-quota-error").await.unwrap(), None);
    // The node restarted with it and kept its identity; the setting is saved.
    assert_eq!(
        browser.text_of("#node-peer-id").await.unwrap(),
        Some(peer_id.clone())
    );
    let settings = std::fs::read_to_string(daemon.data_dir.path().join("settings.json")).unwrap();
    assert!(settings.contains("\"nodeQuota\": 2097152"), "{settings}");
    browser.quit().await.unwrap();

    // Over the API: a body that is not the request is refused with what to send.
    let (code, body) = put_api(
        &http,
        &daemon,
        "/api/node/quota",
        Some(&daemon.token),
        r#"{"quota": 5}"#,
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(body["code"], "bad_request");
    assert!(
        body["message"].as_str().unwrap().contains("quotaBytes"),
        "{body}"
    );
    // Without the token: refused like every API route.
    let (code, _) = put_api(
        &http,
        &daemon,
        "/api/node/quota",
        None,
        r#"{"quotaBytes": 1}"#,
    )
    .await;
    assert_eq!(code, 401);
    let (code, ok) = put_api(
        &http,
        &daemon,
        "/api/node/quota",
        Some(&daemon.token),
        &format!(r#"{{"quotaBytes": {}}}"#, 4 << 20),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(ok["node"]["quotaBytes"], 4 << 20, "{ok}");
    // A stake for a node that does not sell storage is refused, saying why; a body that is not
    // the request is refused with what to send; without the token, refused.
    let stake = "/api/node/stake";
    let (code, body) = put_api(
        &http,
        &daemon,
        stake,
        Some(&daemon.token),
        r#"{"tokens": 200}"#,
    )
    .await;
    assert_eq!(code, 409);
    assert_eq!(body["code"], "stake");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("does not sell storage"),
        "{body}"
    );
    let request = r#"{"tokens": 200}"#;
    refuses_a_bad_body_and_no_token(
        &http,
        &daemon,
        reqwest::Method::PUT,
        stake,
        request,
        request,
    )
    .await;
    let settings = std::fs::read_to_string(daemon.data_dir.path().join("settings.json")).unwrap();
    assert!(!settings.contains("nodeStake"), "{settings}");
}
