//! `cairn light-client ...` end to end: the binary verifies the real mainnet fixtures of the
//! `light-client` crate, prints the verified headers and accounts as JSON, and exits non-zero
//! naming the failed check when a file is tampered with.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::path::PathBuf;
use std::process::{Command, Output};

use testkit::beacon::{Behaviour, Server, execution_node, head_block_json};

mod common;
use common::CAIRN;

const CAPELLA_CHECKPOINT: &str =
    "0x5afc212a7924789b2bc86acad3ab3a6ffb1f6e97253ea50bee7f4f51422c9275";
const BLOCK_21925176_STATE_ROOT: &str =
    "0x7b3d5a01f69b7d2ea7479fd7ae35f4bac2700ab6d6d7b4807a7fedf53ced710e";

fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../light-client/tests/fixtures")
        .join(path)
}

fn cairn(args: &[&str]) -> Output {
    Command::new(CAIRN)
        .args(["light-client"])
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .env("CAIRN_LOG", "error")
        .output()
        .unwrap()
}

fn json(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn capella(path: &str) -> String {
    fixture(&format!("helios-capella-mainnet-lc/{path}"))
        .display()
        .to_string()
}

#[test]
fn sync_capella_json_from_checkpoint_to_optimistic_head() {
    let out = cairn(&[
        "sync",
        "--network",
        "mainnet",
        "--checkpoint",
        CAPELLA_CHECKPOINT,
        "--bootstrap",
        &capella("bootstrap.json"),
        "--updates",
        &capella("updates.json"),
        "--finality",
        &capella("finality.json"),
        "--optimistic",
        &capella("optimistic.json"),
    ]);
    let report = json(&out);
    assert_eq!(report["finalized"]["slot"], 7_109_344);
    assert_eq!(
        report["finalized"]["execution"]["block_hash"],
        "0xbc8499537876e5406c7a65e25f99063f1cd85a17014a3aa5ade38271b1fbf64f"
    );
    assert_eq!(report["optimistic"]["slot"], 7_109_431);
    assert_eq!(
        report["optimistic"]["execution"]["block_number"],
        17_923_113
    );
}

#[test]
fn sync_deneb_ssz_from_finality_checkpoint() {
    let dir = "colibri-eth_getProof1";
    let bootstrap = fixture(&format!(
        "{dir}/eth_v1_beacon_light_client_bootstrap_0x69d93fb3b7370556d960de8c8d86a48adf7c4bfdced8e940dff3f149eb47d.ssz"
    ));
    let updates = fixture(&format!(
        "{dir}/eth_v1_beacon_light_client_updates_start_period_1394_count_1.ssz"
    ));
    let out = cairn(&[
        "sync",
        "--checkpoint",
        "0x69d93fb3b7370556d960de8c8d86a48adf7c4bfdced8e940dff3f149eb47dcfd",
        "--bootstrap",
        bootstrap.to_str().unwrap(),
        "--updates",
        updates.to_str().unwrap(),
    ]);
    let report = json(&out);
    assert_eq!(report["finalized"]["slot"], 11_419_680);
    assert_eq!(report["optimistic"]["slot"], 11_419_714);
}

#[test]
fn sync_fails_naming_the_check() {
    // Skipping the periods in between.
    let out = cairn(&[
        "sync",
        "--checkpoint",
        CAPELLA_CHECKPOINT,
        "--bootstrap",
        &capella("bootstrap.json"),
        "--finality",
        &capella("finality.json"),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("finality update rejected"), "{stderr}");
    assert!(stderr.contains("signature period 867"), "{stderr}");

    // Another checkpoint.
    let out = cairn(&[
        "sync",
        "--checkpoint",
        "0x5afc212a7924789b2bc86acad3ab3a6ffb1f6e97253ea50bee7f4f51422c9274",
        "--bootstrap",
        &capella("bootstrap.json"),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("does not match the trusted checkpoint"),
        "{stderr}"
    );

    // One hex digit of the first update's signature changed.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(capella("updates.json")).unwrap();
    let at = text.find("\"sync_committee_signature\": \"0x").unwrap() + 40;
    let mut bytes = text.into_bytes();
    bytes[at] = if bytes[at] == b'1' { b'2' } else { b'1' };
    let tampered = dir.path().join("updates.json");
    std::fs::write(&tampered, bytes).unwrap();
    let out = cairn(&[
        "sync",
        "--checkpoint",
        CAPELLA_CHECKPOINT,
        "--bootstrap",
        &capella("bootstrap.json"),
        "--updates",
        tampered.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("update #0 rejected"), "{stderr}");
    assert!(
        stderr.contains("aggregate signature does not verify") || stderr.contains("invalid BLS"),
        "{stderr}"
    );
}

#[test]
fn unknown_network_is_explained() {
    let out = cairn(&[
        "sync",
        "--network",
        "mainnett",
        "--checkpoint",
        CAPELLA_CHECKPOINT,
        "--bootstrap",
        &capella("bootstrap.json"),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("use mainnet, sepolia, hoodi"), "{stderr}");
}

#[test]
fn verify_proof_prints_the_verified_account_and_rejects_tampering() {
    let proof = fixture("helios-el-mainnet-block21925176/proof.json");
    let out = cairn(&[
        "verify-proof",
        "--state-root",
        BLOCK_21925176_STATE_ROOT,
        "--proof",
        proof.to_str().unwrap(),
    ]);
    let account = json(&out);
    assert_eq!(
        account["address"],
        "0x00000000219ab540356cbb839cbe05303d7705fa"
    );
    assert_eq!(account["balance"], "0x2fb161afe600a5b2605040");
    assert_eq!(
        account["storage"][0]["value"],
        "0x2394e3bc4086a9625ae88307145a40ff4a4bf2c9a6755435bff86b22d6175d5f"
    );

    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(&proof).unwrap();
    let tampered = dir.path().join("proof.json");
    std::fs::write(
        &tampered,
        text.replace("0x2fb161afe600a5b2605040", "0x2fb161afe600a5b2605041"),
    )
    .unwrap();
    let out = cairn(&[
        "verify-proof",
        "--state-root",
        BLOCK_21925176_STATE_ROOT,
        "--proof",
        tampered.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("proof rejected"), "{stderr}");
    assert!(
        stderr.contains("does not verify against state root"),
        "{stderr}"
    );
}

/// A JSON-RPC request (or batch) to `cairn light-client serve`, and its answer.
async fn post(url: &str, body: serde_json::Value) -> serde_json::Value {
    reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The devnet, its token and admin, and the hash of its latest block.
async fn devnet() -> (chain::Devnet, chain::contracts::Deployment, String) {
    let devnet = chain::Devnet::start().await.unwrap();
    let deployment = devnet
        .deploy(&chain::contracts::DeployOptions::default())
        .await
        .unwrap();
    let block = devnet
        .client()
        .call(
            "eth_getBlockByNumber",
            vec![serde_json::json!("latest"), serde_json::json!(false)],
        )
        .await
        .unwrap();
    let hash = block["hash"].as_str().unwrap().to_owned();
    (devnet, deployment, hash)
}

fn balance_of_data(owner: &str) -> String {
    format!(
        "0x70a08231{}{}",
        "0".repeat(24),
        owner.trim_start_matches("0x")
    )
}

/// 1,000,000 tokens with 18 decimals, as a 32-byte word.
const MILLION_TOKENS_WORD: &str =
    "0x00000000000000000000000000000000000000000000d3c21bcecceda1000000";

#[tokio::test]
async fn call_prints_the_verified_return_data() {
    let (devnet, deployment, hash) = devnet().await;
    let admin = format!("{:#x}", deployment.admin);
    let token = format!("{:#x}", deployment.token);
    let out = cairn(&[
        "call",
        "--rpc",
        devnet.rpc_url(),
        "--block-hash",
        &hash,
        "--to",
        &token,
        "--data",
        &balance_of_data(&admin),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        MILLION_TOKENS_WORD
    );

    // A block hash the node does not have cannot anchor anything.
    let out = cairn(&[
        "call",
        "--rpc",
        devnet.rpc_url(),
        "--block-hash",
        &format!("0x{}", "ab".repeat(32)),
        "--to",
        &token,
        "--data",
        &balance_of_data(&admin),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot anchor"));
}

#[tokio::test]
async fn serve_answers_verified_json_rpc_on_loopback() {
    let (devnet, deployment, hash) = devnet().await;
    let mut command = tokio::process::Command::new(CAIRN);
    command.args([
        "light-client",
        "serve",
        "--rpc",
        devnet.rpc_url(),
        "--block-hash",
        &hash,
        "--listen",
        "127.0.0.1:0",
    ]);
    let (_guard, line) = testkit::process::ChildGuard::spawn_and_read_line(
        "cairn serve",
        command,
        "http://",
        std::time::Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert!(!line.contains("following"), "{line}");
    let url = line[line.find("http://").unwrap()..].trim().to_owned();
    let admin = format!("{:#x}", deployment.admin);
    let token = format!("{:#x}", deployment.token);
    let answer = post(
        &url,
        serde_json::json!([
            {"jsonrpc": "2.0", "id": 1, "method": "eth_call",
             "params": [{"to": token, "data": balance_of_data(&admin)}, "latest"]},
            {"jsonrpc": "2.0", "id": 2, "method": "eth_sendRawTransaction", "params": ["0x00"]},
            {"jsonrpc": "2.0", "id": 3, "method": "eth_chainId", "params": []},
        ]),
    )
    .await;
    assert_eq!(answer[0]["result"], MILLION_TOKENS_WORD);
    assert_eq!(answer[1]["error"]["code"], -32601);
    assert_eq!(answer[2]["result"], format!("0x{:x}", devnet.chain_id()));

    let out = cairn(&[
        "serve",
        "--rpc",
        devnet.rpc_url(),
        "--block-hash",
        &hash,
        "--listen",
        "0.0.0.0:0",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback only"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_from_beacon_endpoints_fails_over_and_persists_the_checkpoint() {
    // Mock beacon endpoints serving the Capella fixtures (testkit): JSON only, or HTTP 500.
    let failing_server = Server::start(Behaviour::Failing).await;
    let honest_server = Server::start(Behaviour::Honest).await;
    let (failing, honest) = (failing_server.url.clone(), honest_server.url.clone());
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("checkpoint");
    let state_arg = state.display().to_string();
    let args = [
        "sync",
        "--checkpoint",
        CAPELLA_CHECKPOINT,
        "--beacon",
        &failing,
        "--beacon",
        &honest,
        "--state",
        &state_arg,
        // The slot after the optimistic update's signature: the fixtures are the head.
        "--current-slot",
        "7109433",
    ]
    .map(str::to_owned);
    let out = tokio::task::spawn_blocking(move || {
        cairn(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    let report = json(&out);
    assert_eq!(report["finalized"]["slot"], 7109344);
    assert_eq!(report["optimistic"]["slot"], 7109431);
    assert_eq!(report["updates"], 6);
    assert_eq!(report["agreeing"], serde_json::json!([honest]));
    let faults = report["faults"].as_array().unwrap();
    assert!(!faults.is_empty());
    assert!(
        faults
            .iter()
            .all(|f| f.as_str().unwrap().starts_with(&failing)),
        "{faults:?}"
    );
    assert!(report["downloaded_bytes"].as_u64().unwrap() > 100_000);
    let saved = std::fs::read_to_string(&state).unwrap();
    assert_eq!(
        saved.trim(),
        report["finalized"]["beacon_root"].as_str().unwrap()
    );

    // Only a failing endpoint: non-zero exit naming the phase and the endpoint.
    let args = [
        "sync",
        "--checkpoint",
        CAPELLA_CHECKPOINT,
        "--beacon",
        &failing,
    ]
    .map(str::to_owned);
    let out = tokio::task::spawn_blocking(move || {
        cairn(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bootstrap: no beacon endpoint gave verifiable data"),
        "{stderr}"
    );
    assert!(stderr.contains(&failing), "{stderr}");
}

/// `serve --beacon` follows the verified head: it syncs from the beacon endpoint, anchors on the
/// optimistic header's execution block (mainnet 17923113, from a mock execution node that knows
/// it) and answers for it; a node lying about that block's header is refused at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_follows_the_verified_beacon_head() {
    let beacon = Server::start(Behaviour::Honest).await;
    let (hash, block) = head_block_json(|_| {});
    let (rpc, _, node) = execution_node(hash, block).await;
    let serve = |rpc: &str| {
        let mut command = tokio::process::Command::new(CAIRN);
        command.args([
            "light-client",
            "serve",
            "--rpc",
            rpc,
            "--beacon",
            &beacon.url,
            "--checkpoint",
            CAPELLA_CHECKPOINT,
            "--current-slot",
            "7109433",
            "--listen",
            "127.0.0.1:0",
        ]);
        command
    };
    let (_guard, line) = testkit::process::ChildGuard::spawn_and_read_line(
        "cairn serve --beacon",
        serve(&rpc),
        "http://",
        std::time::Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert!(line.contains("block 17923113"), "{line}");
    assert!(line.contains("following the verified head"), "{line}");
    let url = line[line.find("http://").unwrap()..].trim().to_owned();
    let answer = post(
        &url,
        serde_json::json!([
            {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []},
            {"jsonrpc": "2.0", "id": 2, "method": "eth_chainId", "params": []},
        ]),
    )
    .await;
    assert_eq!(answer[0]["result"], "0x1117c29");
    assert_eq!(answer[1]["result"], "0x1");
    node.abort();

    let (_, lying) = head_block_json(|header| header.timestamp += 1);
    let (rpc, _, node) = execution_node(hash, lying).await;
    let out = serve(&rpc).output().await.unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot follow the chain"), "{stderr}");
    assert!(stderr.contains("17923113"), "{stderr}");
    node.abort();
}
