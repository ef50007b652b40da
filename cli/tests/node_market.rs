//! `cairn node` selling storage on chain (a real anvil devnet): an upload without a funded deal
//! naming the provider is refused with a clear error, the provider registers itself with its
//! stake, a bad chain key is refused at start, and its earnings are withdrawn with `cairn earnings`;
//! providers announce their addresses in the Registry (updated after a restart) and a buyer finds
//! them there; a paid upload that fails ends its deal, the buyer moves on to the next provider,
//! and the refund is withdrawn with `cairn storage refunds --withdraw`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::time::Duration;

use chain::Devnet;
use chain::contracts::DeployOptions;
use testkit::{ChildGuard, files_card};
use tokio::process::Command;

mod common;
use common::{CAIRN, COMMAND_TIMEOUT, START_TIMEOUT};

/// Deal `deal` as the chain has it.
async fn deal_on_chain(
    contracts: &chain::contracts::Contracts,
    deal: u64,
) -> chain::contracts::StorageMarket::Deal {
    contracts
        .market
        .getDeal(alloy_primitives::U256::from(deal))
        .call()
        .await
        .unwrap()
}

/// The market's contracts, as anvil account 0 (the deployer) reaches them.
fn admin_contracts(
    deployment: &chain::contracts::Deployment,
    rpc: &str,
) -> chain::contracts::Contracts {
    chain::contracts::Contracts::new(
        deployment,
        chain::contracts::signer_provider(rpc, Devnet::key(0)).unwrap(),
    )
}

/// The addresses anvil account `index`'s provider entry in the Registry lists.
async fn registry_addrs(contracts: &chain::contracts::Contracts, index: usize) -> Vec<String> {
    let entry = contracts
        .registry
        .getProvider(Devnet::key(index).address())
        .call()
        .await
        .unwrap();
    entry
        .info
        .multiaddrs
        .iter()
        .map(|a| node::Multiaddr::try_from(a.to_vec()).unwrap().to_string())
        .collect()
}

/// A `cairn daemon` in `data` whose node buys storage on the market in `deployment_file`,
/// paying with anvil account 3's tokens; it knows no peer (it finds the providers in the
/// Registry). Returned once its node runs.
async fn buying_daemon(
    root: &std::path::Path,
    data: &std::path::Path,
    rpc: &str,
    deployment_file: &std::path::Path,
) -> testkit::Daemon {
    let daemon_key = key_file(root, "daemon.key", 3);
    #[rustfmt::skip]
    let args = [
        "--node", "--node-quota", "0", "--no-mdns", "--no-upnp",
        "--node-listen", "/ip4/127.0.0.1/tcp/0",
        "--node-deployment-file", deployment_file.to_str().unwrap(),
        "--node-chain-key-file", daemon_key.to_str().unwrap(),
    ];
    let daemon = testkit::Daemon::start(CAIRN, rpc, data, &args, START_TIMEOUT)
        .await
        .unwrap();
    daemon
        .wait_for_node("a running node", Duration::from_secs(60), |n| {
            n["state"] == "running"
        })
        .await
        .unwrap();
    daemon
}

/// The entry of `id` in the catalog of the daemon whose data directory is `data`.
fn catalog_entry(data: &std::path::Path, id: &str) -> serde_json::Value {
    let catalog = std::fs::read_to_string(data.join("client/catalog.json")).unwrap();
    let catalog: serde_json::Value = serde_json::from_str(&catalog).unwrap();
    // An object keyed by content id.
    catalog
        .get(id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} is not in the catalog: {catalog}"))
}

/// The daemon's page in headless Chromium (its profile, and downloads, in `profile`), once it
/// shows the node running.
async fn open_page(
    daemon: &testkit::Daemon,
    profile: &std::path::Path,
) -> (ChildGuard, testkit::WebDriver) {
    let (driver, browser) = testkit::WebDriver::chromium(profile).await.unwrap();
    browser.goto(&daemon.url()).await.unwrap();
    browser
        .wait_for_text("#node-state", Duration::from_secs(30), |t| t == "running")
        .await
        .unwrap();
    (driver, browser)
}

/// A beacon chain signed by a test sync committee over `devnet`, served honestly, and its
/// network configuration written to `network.json` in `dir` (for `--beacon-network`).
async fn signed_beacon_chain(
    devnet: &Devnet,
    dir: &std::path::Path,
) -> (
    testkit::beacon_chain::SignedChain,
    testkit::beacon_chain::Server,
    std::path::PathBuf,
) {
    let signed = testkit::beacon_chain::SignedChain::new();
    let beacon = signed
        .serve(devnet.rpc_url(), testkit::beacon_chain::Behaviour::Honest)
        .await;
    let network_file = dir.join("network.json");
    std::fs::write(&network_file, signed.config_json()).unwrap();
    (signed, beacon, network_file)
}

/// `cairn node` selling on `deployment` with the key in `key` (`None`: its own) and a stake of
/// 200 tokens.
fn node_command(
    dir: &std::path::Path,
    rpc: &str,
    deployment: &std::path::Path,
    key: Option<&std::path::Path>,
) -> Command {
    node_command_with_quota(dir, rpc, deployment, key, "64MiB")
}

fn node_command_with_quota(
    dir: &std::path::Path,
    rpc: &str,
    deployment: &std::path::Path,
    key: Option<&std::path::Path>,
    quota: &str,
) -> Command {
    let mut command = Command::new(CAIRN);
    command
        .arg("node")
        .arg("--data-dir")
        .arg(dir)
        .args(["--quota", quota, "--no-mdns", "--no-upnp"])
        .args(["--listen", "/ip4/127.0.0.1/tcp/0"])
        .args([
            "--rpc-url",
            rpc,
            "--period",
            "3600",
            "--periods",
            "2",
            "--stake",
            "200",
        ])
        .arg("--deployment-file")
        .arg(deployment)
        .env("CAIRN_LOG", "warn")
        .kill_on_drop(true);
    if let Some(key) = key {
        command.arg("--chain-key-file").arg(key);
    }
    command
}

/// A devnet with the contracts deployed, a temporary directory, and the deployment written to
/// `deployment.json` in it.
/// Writes anvil's account `index` as a hex key file `name` in `dir`, as `--chain-key-file`
/// reads it.
fn key_file(dir: &std::path::Path, name: &str, index: usize) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, Devnet::key(index).to_bytes().to_string()).unwrap();
    path
}

/// Writes `len` bytes of a fixed pattern to `path` and returns them.
fn patterned_file(path: &std::path::Path, len: u32) -> Vec<u8> {
    let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(path, &bytes).unwrap();
    bytes
}

async fn market_devnet() -> (
    Devnet,
    chain::contracts::Deployment,
    tempfile::TempDir,
    std::path::PathBuf,
) {
    let devnet = Devnet::start().await.unwrap();
    let deployment = devnet.deploy(&DeployOptions::default()).await.unwrap();
    let root = tempfile::tempdir().unwrap();
    let deployment_file = root.path().join("deployment.json");
    deployment.write(&deployment_file).unwrap();
    (devnet, deployment, root, deployment_file)
}

#[tokio::test]
async fn a_market_provider_refuses_uploads_without_a_deal_and_bad_keys() {
    let (devnet, deployment, root, deployment_file) = market_devnet().await;
    // A key file that is not a key: a clear error at start, no node.
    let bad_key = root.path().join("bad.key");
    std::fs::write(&bad_key, "not a key").unwrap();
    let output = run(node_command(
        &root.path().join("bad"),
        devnet.rpc_url(),
        &deployment_file,
        Some(&bad_key),
    ))
    .await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("does not hold a hex"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&bad_key).unwrap(), "not a key");

    // No key given: the provider makes its own in its data directory. A new key holds no tokens
    // to stake and no ether for gas: a clear error naming the address to fund, no node.
    let own_dir = root.path().join("own");
    let own = node_command(&own_dir, devnet.rpc_url(), &deployment_file, None);
    let output = run(own).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let own_key: alloy_signer_local::PrivateKeySigner =
        std::fs::read_to_string(own_dir.join("chain.key"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
    let own_address = own_key.address();
    assert!(
        stderr.contains(&format!(
            "the provider address {own_address} holds 0 CAIRN and 0 ETH"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("send them to {own_address}")),
        "{stderr}"
    );
    // Funded (by `cairn devnet fund`), the same key registers, its earnings paid to the address
    // given by --payout.
    let mut fund = Command::new(CAIRN);
    fund.args([
        "devnet",
        "fund",
        &own_address.to_string(),
        "--tokens",
        "200",
    ])
    .args(["--rpc-url", devnet.rpc_url(), "--deployment-file"])
    .arg(&deployment_file)
    .env("CAIRN_LOG", "warn")
    .kill_on_drop(true);
    let funded = ok_json(&run(fund).await);
    assert_eq!(funded["funded"], own_address.to_checksum(None));
    // No devnet where it looks: said so, with where it looked.
    let mut nowhere = Command::new(CAIRN);
    nowhere
        .args(["devnet", "fund", &own_address.to_string()])
        .args(["--rpc-url", "http://127.0.0.1:1", "--deployment-file"])
        .arg(&deployment_file)
        .env("CAIRN_LOG", "warn")
        .kill_on_drop(true);
    let output = run(nowhere).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("is a devnet from `cairn devnet` running there"),
        "{stderr}"
    );
    let contracts = chain::contracts::Contracts::new(
        &deployment,
        chain::contracts::signer_provider(devnet.rpc_url(), Devnet::key(0)).unwrap(),
    );
    assert_eq!(
        contracts.token.balanceOf(own_address).call().await.unwrap(),
        chain::contracts::TOKEN * alloy_primitives::U256::from(200u64)
    );
    // The first start registers with --payout; a restart with another payout address updates
    // the entry to it.
    for wallet in [Devnet::key(4).address(), Devnet::key(5).address()] {
        let mut own = node_command(&own_dir, devnet.rpc_url(), &deployment_file, None);
        own.args(["--payout", &wallet.to_string()]);
        let (own_guard, _) =
            ChildGuard::spawn_and_read_line("cairn node", own, "peer_id", START_TIMEOUT)
                .await
                .unwrap();
        let registry = &contracts.registry;
        assert!(registry.isActiveProvider(own_address).call().await.unwrap());
        assert_eq!(registry.payoutOf(own_address).call().await.unwrap(), wallet);
        drop(own_guard);
    }

    let (_guard, addr) =
        start_provider(root.path(), 1, devnet.rpc_url(), &deployment_file, "64MiB").await;
    // It registered itself (staking 200 tokens) before printing its addresses.
    let registry = contracts.registry.clone();
    let provider = Devnet::key(1).address();
    assert!(registry.isActiveProvider(provider).call().await.unwrap());

    let file = root.path().join("in.bin");
    std::fs::write(&file, vec![7u8; 300_000]).unwrap();
    let mut command = Command::new(CAIRN);
    command
        .args(["storage", "--no-mdns", "--peer", &addr, "put"])
        .arg(&file)
        .args(["--copies", "1", "--data-dir"])
        .arg(root.path().join("client"))
        .env("CAIRN_LOG", "warn")
        .kill_on_drop(true);
    let output = run(command).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("funded on-chain deal"), "{stderr}");

    // With a buyer key: quote, deal opened and paid on chain, upload accepted, then proven.
    let buyer_key = key_file(root.path(), "buyer.key", 2);
    let bytes = patterned_file(&file, 300_000);
    let output = run(buyer_put(
        &addr,
        &file,
        devnet.rpc_url(),
        &root.path().join("client"),
        &deployment_file,
        &buyer_key,
    ))
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let id = report["id"].as_str().unwrap().to_owned();
    assert_eq!(report["copies"].as_array().unwrap().len(), 1);

    // The provider proves period 0 on its own (it looks every second): its earnings rise.
    let mut paid = false;
    for _ in 0..120 {
        paid = !contracts
            .market
            .earnings(provider)
            .call()
            .await
            .unwrap()
            .is_zero();
        if paid {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(paid, "no proof was accepted on chain");

    // The provider's earnings are withdrawn to its payout address (itself, as `--stake`
    // registered it), the gas paid by another key (the running node keeps its own nonces): the
    // token balance rises by exactly what was paid, and nothing is left owed.
    let earnings_command = |withdraw: bool| {
        let mut command = Command::new(CAIRN);
        command
            .args([
                "earnings",
                "--rpc-url",
                devnet.rpc_url(),
                "--deployment-file",
            ])
            .arg(&deployment_file)
            .arg("--chain-key-file")
            .arg(&buyer_key)
            .args(["--provider", &provider.to_string()])
            .env("CAIRN_LOG", "warn")
            .kill_on_drop(true);
        if withdraw {
            command.arg("--withdraw");
        }
        command
    };
    let shown = run(earnings_command(false)).await;
    let shown = ok_json(&shown);
    // Verified, not read: with the block the earnings were proven against.
    assert_eq!(shown["verified"]["anchor"], "endpoint", "{shown}");
    assert!(shown["verified"]["block"].as_u64().unwrap() >= 1, "{shown}");

    // With a beacon chain to follow (here one signed by a test sync committee over the devnet,
    // its network given as a configuration file), the block is the head the light client
    // verified, and the latest verified checkpoint is kept in --beacon-state.
    let (signed, beacon, network_file) = signed_beacon_chain(&devnet, root.path()).await;
    let state_file = root.path().join("lc-checkpoint");
    let mut anchored = earnings_command(false);
    anchored
        .args(["--beacon", &beacon.url])
        .args(["--beacon-checkpoint", &signed.checkpoint().to_string()])
        .arg("--beacon-network")
        .arg(&network_file)
        .arg("--beacon-state")
        .arg(&state_file);
    let anchored = ok_json(&run(anchored).await);
    let slot = anchored["verified"]["anchor"]["beacon"]["slot"].as_u64();
    assert!(slot.is_some_and(|slot| slot > 0), "{anchored}");
    let block = anchored["verified"]["block"].as_u64().unwrap();
    let hash = devnet.block_hash(block).await.unwrap().unwrap();
    assert_eq!(anchored["verified"]["blockHash"], hash, "{anchored}");
    let at_least: alloy_primitives::U256 = shown["earnings"].as_str().unwrap().parse().unwrap();
    let proven: alloy_primitives::U256 = anchored["earnings"].as_str().unwrap().parse().unwrap();
    assert!(proven >= at_least, "{anchored} after {shown}");
    let kept = std::fs::read_to_string(&state_file).unwrap();
    assert!(
        kept.trim().parse::<alloy_primitives::B256>().is_ok(),
        "{kept:?}"
    );
    assert_eq!(
        shown["payout"]
            .as_str()
            .unwrap()
            .parse::<alloy_primitives::Address>()
            .unwrap(),
        provider
    );
    let balance_before = contracts.token.balanceOf(provider).call().await.unwrap();
    let withdrawn = run(earnings_command(true)).await;
    let withdrawn = ok_json(&withdrawn);
    let amount: alloy_primitives::U256 = withdrawn["withdrawn"].as_str().unwrap().parse().unwrap();
    assert!(!amount.is_zero());
    // A proof may have been accepted between the two reads: at least what was shown is paid.
    let earned: alloy_primitives::U256 = shown["earnings"].as_str().unwrap().parse().unwrap();
    assert!(amount >= earned, "withdrew {amount}, was owed {earned}");
    let balance_after = contracts.token.balanceOf(provider).call().await.unwrap();
    assert_eq!(balance_after - balance_before, amount);
    assert!(
        contracts
            .market
            .earnings(provider)
            .call()
            .await
            .unwrap()
            .is_zero()
    );
    // Nothing left: a clear refusal, and no transaction sent.
    let again = run(earnings_command(true)).await;
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("no earnings to withdraw yet"), "{stderr}");
    assert_eq!(
        contracts.token.balanceOf(provider).call().await.unwrap(),
        balance_after
    );

    // And the data comes back verified.
    let out = root.path().join("out.bin");
    let mut command = Command::new(CAIRN);
    command
        .args(["storage", "--no-mdns", "--peer", &addr, "get", &id, "-o"])
        .arg(&out)
        .arg("--data-dir")
        .arg(root.path().join("client"))
        .env("CAIRN_LOG", "warn")
        .kill_on_drop(true);
    let output = run(command).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
}

/// `cairn storage put` of one copy of `file` on the provider at `addr`, paid with `buyer_key`.
fn buyer_put(
    addr: &str,
    file: &std::path::Path,
    rpc: &str,
    client_dir: &std::path::Path,
    deployment_file: &std::path::Path,
    buyer_key: &std::path::Path,
) -> Command {
    let mut command = Command::new(CAIRN);
    command
        .args(["storage", "--no-mdns", "--peer", addr, "put"])
        .arg(file)
        .args(["--copies", "1", "--rpc-url", rpc, "--data-dir"])
        .arg(client_dir)
        .arg("--deployment-file")
        .arg(deployment_file)
        .arg("--chain-key-file")
        .arg(buyer_key)
        .env("CAIRN_LOG", "warn")
        .kill_on_drop(true);
    command
}

/// Runs `command` to completion within [`COMMAND_TIMEOUT`].
async fn run(mut command: Command) -> std::process::Output {
    tokio::time::timeout(COMMAND_TIMEOUT, command.output())
        .await
        .expect("command finished in time")
        .unwrap()
}

/// The JSON a successful command printed.
fn ok_json(output: &std::process::Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Starts a provider selling on chain with anvil key `index`; returns it and its first address.
async fn start_provider(
    root: &std::path::Path,
    index: usize,
    rpc: &str,
    deployment_file: &std::path::Path,
    quota: &str,
) -> (ChildGuard, String) {
    start_provider_with(root, index, rpc, deployment_file, quota, &[]).await
}

/// [`start_provider`], with `extra` arguments for `cairn node`.
async fn start_provider_with(
    root: &std::path::Path,
    index: usize,
    rpc: &str,
    deployment_file: &std::path::Path,
    quota: &str,
    extra: &[&str],
) -> (ChildGuard, String) {
    let key_file = key_file(root, &format!("provider{index}.key"), index);
    let mut command = node_command_with_quota(
        &root.join(format!("p{index}")),
        rpc,
        deployment_file,
        Some(&key_file),
        quota,
    );
    command.args(extra);
    first_address(command).await
}

/// Starts `cairn node` as `command`; returns it and the first address its first line lists.
async fn first_address(command: Command) -> (ChildGuard, String) {
    let (guard, line) =
        ChildGuard::spawn_and_read_line("cairn node", command, "peer_id", START_TIMEOUT)
            .await
            .unwrap();
    let json: serde_json::Value = serde_json::from_str(&line).unwrap();
    (guard, json["listen_addrs"][0].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn buyers_find_providers_in_the_registry_and_a_failed_paid_upload_is_refunded() {
    let (devnet, deployment, root, deployment_file) = market_devnet().await;
    let rpc = devnet.rpc_url();
    // Two providers: one with room, one whose quota is smaller than the file (it quotes and
    // gets paid, then refuses the data).
    let (mut big, mut big_addr) =
        start_provider(root.path(), 1, rpc, &deployment_file, "64MiB").await;
    let (_small, small_addr) =
        start_provider(root.path(), 3, rpc, &deployment_file, "100KiB").await;
    let small_peer = small_addr.rsplit('/').next().unwrap().to_owned();
    let contracts = admin_contracts(&deployment, rpc);
    let listed = |index: usize| registry_addrs(&contracts, index);
    // Each provider announced the address it printed.
    assert_eq!(listed(3).await, vec![small_addr.clone()]);
    // Restarted, the first provider listens on a new port and updates its entry (no new stake).
    big.kill().await.unwrap();
    let (_big, addr) = start_provider(root.path(), 1, rpc, &deployment_file, "64MiB").await;
    assert_ne!(addr, big_addr);
    big_addr = addr;
    assert_eq!(listed(1).await, vec![big_addr.clone()]);

    let buyer_key = key_file(root.path(), "buyer.key", 2);
    let buyer_address = Devnet::key(2).address();
    let balance = || {
        let token = contracts.token.clone();
        async move { token.balanceOf(buyer_address).call().await.unwrap() }
    };
    let storage = |args: &[&str]| {
        let mut command = Command::new(CAIRN);
        // No --peer: the buyer finds both providers in the Registry (they run without mDNS).
        command
            .args(["storage", "--no-mdns"])
            .args(["--rpc-url", rpc, "--deployment-file"])
            .arg(&deployment_file)
            .arg("--chain-key-file")
            .arg(&buyer_key)
            .arg("--data-dir")
            .arg(root.path().join("client"))
            .args(args)
            .env("CAIRN_LOG", "warn")
            .kill_on_drop(true);
        command
    };

    // Two copies asked, one provider can hold it: both deals are paid, the small provider's
    // upload is refused, its deal is ended and the periods not started are refunded.
    let file = root.path().join("in.bin");
    std::fs::write(&file, vec![9u8; 300_000]).unwrap();
    let file = file.to_str().unwrap();
    let balance_before = balance().await;
    let output = run(storage(&["put", file, "--copies", "2"])).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("stored 1 of 2 copies"), "{stderr}");
    assert!(
        stderr.contains(&format!("{small_peer}:")) && stderr.contains("ended early"),
        "{stderr}"
    );
    // The copy that was stored is kept, and the catalog lists it on the big provider.
    assert!(stderr.contains("listed by `cairn storage ls`"), "{stderr}");
    let big_peer = big_addr.rsplit('/').next().unwrap();
    let listed_objects = run(storage(&["ls"])).await;
    let line = String::from_utf8_lossy(&listed_objects.stdout).into_owned();
    let entry: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(entry["size"], 300_000);
    assert_eq!(entry["holders"], serde_json::json!([big_peer]), "{line}");
    // The node's terms (`--periods 2`): period 0 is under way and stays with the deal, period 1
    // is refunded.
    let owed = contracts
        .market
        .refunds(buyer_address)
        .call()
        .await
        .unwrap();
    assert!(!owed.is_zero(), "nothing refunded");
    let paid = balance_before - balance().await;
    // Two deals of two periods were paid; one period of one deal comes back.
    assert_eq!(
        owed * alloy_primitives::U256::from(4),
        paid,
        "paid {paid}, refunded {owed}"
    );

    // `storage refunds` shows it, `--withdraw` pays it, and a second withdrawal is refused.
    let shown = ok_json(&run(storage(&["refunds"])).await);
    assert_eq!(shown["refunds"].as_str().unwrap(), owed.to_string());
    let before = balance().await;
    let withdrawn = ok_json(&run(storage(&["refunds", "--withdraw"])).await);
    assert_eq!(withdrawn["withdrawn"].as_str().unwrap(), owed.to_string());
    assert_eq!(balance().await - before, owed);
    let again = run(storage(&["refunds", "--withdraw"])).await;
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("no refund is owed"), "{stderr}");

    // With one copy asked, the buyer gets its copy whichever provider it tries first: a
    // refused one is replaced by the next (its deal ended as above).
    let report = ok_json(&run(storage(&["put", file, "--copies", "1"])).await);
    assert_eq!(report["copies"].as_array().unwrap().len(), 1);
    assert_eq!(
        report["copies"][0]["peer"].as_str().unwrap(),
        big_addr.rsplit('/').next().unwrap()
    );
    if let Some(ended) = report["ended_deals"].as_array() {
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0]["peer"].as_str().unwrap(), small_peer);
        assert!(
            ended[0]["reason"].as_str().unwrap().contains("quota"),
            "{ended:?}"
        );
    }
    // Stored twice, listed once with both copies bought (both on the big provider).
    let id = report["id"].as_str().unwrap().to_owned();
    let listed = ok_json(&run(storage(&["ls"])).await);
    let bought: Vec<u64> = listed["deals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|copy| copy["deal"].as_u64().unwrap())
        .collect();
    assert_eq!(bought.len(), 2, "{listed}");

    // Forgotten: without the chain key its deals could not be ended, so nothing is changed.
    let mut keyless = Command::new(CAIRN);
    keyless
        .args(["storage", "--data-dir"])
        .arg(root.path().join("client"))
        .args(["forget", &id])
        .env("CAIRN_LOG", "warn");
    let refused = run(keyless).await;
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("give --deployment-file and --chain-key-file"),
        "{stderr}"
    );
    assert_eq!(ok_json(&run(storage(&["ls"])).await), listed);
    // With it: removed from the catalog, both deals ended in their first period, one period of
    // each refunded.
    let owed_before = contracts
        .market
        .refunds(buyer_address)
        .call()
        .await
        .unwrap();
    let forgot = ok_json(&run(storage(&["forget", &id])).await);
    assert_eq!(forgot["name"], "in.bin");
    let ended: Vec<u64> = forgot["ended"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ended| ended["deal"].as_u64().unwrap())
        .collect();
    assert_eq!(ended, bought, "{forgot}");
    assert!(
        forgot["not_ended"].as_array().unwrap().is_empty(),
        "{forgot}"
    );
    for deal in bought {
        let d = deal_on_chain(&contracts, deal).await;
        assert_eq!(d.endPeriod, 1, "deal {deal}");
    }
    assert_eq!(
        contracts
            .market
            .refunds(buyer_address)
            .call()
            .await
            .unwrap()
            - owed_before,
        owed * alloy_primitives::U256::from(2),
        "a period of each deal"
    );
    let listed = run(storage(&["ls"])).await;
    assert!(listed.stdout.is_empty(), "{listed:?}");
    let again = run(storage(&["forget", &id])).await;
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("is not in the catalog"),
        "{again:?}"
    );
}

/// A provider's Registry entry follows its addresses: started while its relay is down, it
/// announces its direct address only; once the relay is up and its reservation made, the
/// address through the relay is announced too (buyers finding it in the Registry reach it
/// from behind its NAT), and dropped again once the relay is gone.
#[tokio::test]
async fn a_relayed_address_gained_or_lost_after_start_is_announced_in_the_registry() {
    let (devnet, deployment, root, deployment_file) = market_devnet().await;
    let rpc = devnet.rpc_url();
    let relay_command = || {
        let mut command = Command::new(CAIRN);
        command
            .arg("node")
            .arg("--data-dir")
            .arg(root.path().join("relay"))
            .args(["--quota", "0", "--no-mdns", "--no-upnp", "--relay-server"])
            .env("CAIRN_LOG", "warn")
            .kill_on_drop(true);
        command
    };
    let start_relay = |listen: String| async move {
        let mut command = relay_command();
        command.args(["--listen", &listen]);
        first_address(command).await
    };
    // The relay's address and key, then it stops.
    let (relay, relay_addr) = start_relay("/ip4/127.0.0.1/tcp/0".into()).await;
    drop(relay);
    let circuit = format!("{relay_addr}/p2p-circuit");
    let (_provider, direct) = start_provider_with(
        root.path(),
        1,
        rpc,
        &deployment_file,
        "64MiB",
        &["--listen", &circuit],
    )
    .await;
    let peer = direct.rsplit('/').next().unwrap().to_owned();
    let relayed = format!("{circuit}/p2p/{peer}");
    let contracts = admin_contracts(&deployment, rpc);
    let listed = || registry_addrs(&contracts, 1);
    assert_eq!(listed().await, vec![direct.clone()]);

    let listen = relay_addr
        .rsplit_once("/p2p/")
        .map(|(listen, _)| listen.to_owned())
        .unwrap();
    let (relay, again) = start_relay(listen).await;
    assert_eq!(again, relay_addr);
    let listed_as = |want: Vec<String>, what: &'static str| {
        let listed = &listed;
        async move {
            testkit::eventually(what, Duration::from_secs(90), || async {
                (listed().await == want).then_some(())
            })
            .await
            .unwrap();
        }
    };
    listed_as(
        vec![direct.clone(), relayed],
        "the relayed address in the Registry",
    )
    .await;
    drop(relay);
    listed_as(vec![direct], "the relayed address gone from the Registry").await;
}

/// `cairn daemon --node` selling storage: the embedded node registers itself at start, a buyer's
/// `cairn storage put` lands on it, its proof is accepted on chain, and the daemon's API and its
/// UI in Chromium show the object, the proof and the earnings, proven against the head its light
/// client verified of a beacon chain (one signed by a test sync committee over the devnet).
#[tokio::test]
async fn the_daemons_embedded_node_sells_storage_and_shows_its_earnings() {
    let (devnet, deployment, root, deployment_file) = market_devnet().await;
    let provider_key = key_file(root.path(), "provider.key", 1);
    let provider = Devnet::key(1).address();

    // Earnings are paid to another address than the provider's (the user's wallet).
    let wallet = Devnet::key(5).address().to_checksum(None);

    let (signed, beacon, network_file) = signed_beacon_chain(&devnet, root.path()).await;
    let checkpoint = signed.checkpoint().to_string();

    let deployment_arg = deployment_file.to_str().unwrap();
    let key_arg = provider_key.to_str().unwrap();
    #[rustfmt::skip]
    let args = [
        "--node", "--node-quota", "64MiB", "--no-mdns", "--no-upnp",
        "--node-listen", "/ip4/127.0.0.1/tcp/0",
        "--node-deployment-file", deployment_arg, "--node-chain-key-file", key_arg,
        "--node-payout", wallet.as_str(),
        "--node-periods", "2", "--node-prove-every", "1",
        "--beacon", beacon.url.as_str(), "--beacon-checkpoint", checkpoint.as_str(),
        "--beacon-network", network_file.to_str().unwrap(),
    ];
    let daemon = testkit::Daemon::start(
        CAIRN,
        devnet.rpc_url(),
        &root.path().join("daemon"),
        &args,
        START_TIMEOUT,
    )
    .await
    .unwrap();
    let url = daemon.url();
    let wait_node = |what: &'static str, accept: fn(&serde_json::Value) -> bool| {
        daemon.wait_for_node(what, Duration::from_secs(60), accept)
    };

    // Started without a stake, the node is not registered, and the UI says so.
    let node = wait_node("a running, unregistered node", |n| {
        n["state"] == "running" && n["market"]["announceError"].is_string()
    })
    .await
    .unwrap();
    let note = node["market"]["announceError"].as_str().unwrap();
    assert!(note.starts_with("not registered in the Registry"), "{note}");
    assert!(node["market"].get("payout").is_none(), "{node}");
    let profile = tempfile::tempdir().unwrap();
    let (_driver, browser) = testkit::WebDriver::chromium(profile.path()).await.unwrap();
    browser.goto(&url).await.unwrap();
    let shown = browser
        .wait_for_text("#node-announce-error", Duration::from_secs(30), |t| {
            t.starts_with("not registered")
        })
        .await
        .unwrap();
    assert!(shown.contains("give it a stake"), "{shown}");
    // Registered from the UI: a stake that is not a number is explained, 200 registers it.
    browser
        .type_into("#node-stake-input", "lots")
        .await
        .unwrap();
    let error = browser
        .click_for(
            "#node-stake-set",
            "#node-stake-error",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert!(error.contains("not a whole number of CAIRN"), "{error}");
    browser.type_into("#node-stake-input", "200").await.unwrap();
    browser.click("#node-stake-set").await.unwrap();

    // Then announced (registered with its stake, off the runtime's loop): its earnings are
    // verified once that is done. Nothing earned yet.
    let node = wait_node("a running, announced node", |n| {
        n["state"] == "running"
            && !n["market"]["earnings"].is_null()
            && n["market"]["payout"].is_string()
    })
    .await
    .unwrap();
    assert!(node["market"].get("announceError").is_none(), "{node}");
    assert_eq!(node["market"]["provider"], provider.to_checksum(None));
    assert_eq!(node["market"]["payout"], wallet.as_str());
    assert_eq!(node["market"]["earnings"], "0");
    // Verified, not read: proven against the block of a head the light client verified.
    assert!(
        node["market"]["earningsProof"]["anchor"]["beacon"]["slot"]
            .as_u64()
            .is_some(),
        "{node}"
    );
    assert!(
        node["market"]["earningsProof"]["block"].as_u64().is_some(),
        "{node}"
    );
    assert!(node["market"].get("earningsError").is_none(), "{node}");
    assert_eq!(node["market"]["proofsAccepted"], 0);
    let registry = chain::contracts::Contracts::new(
        &deployment,
        chain::contracts::signer_provider(devnet.rpc_url(), Devnet::key(0)).unwrap(),
    )
    .registry;
    assert!(registry.isActiveProvider(provider).call().await.unwrap());
    let addr = node["listenAddrs"][0].as_str().unwrap().to_owned();

    // A buyer stores a file on it: quote, deal funded on chain, upload.
    let buyer_key = key_file(root.path(), "buyer.key", 2);
    let file = root.path().join("in.bin");
    patterned_file(&file, 300_000);
    ok_json(
        &run(buyer_put(
            &addr,
            &file,
            devnet.rpc_url(),
            &root.path().join("client"),
            &deployment_file,
            &buyer_key,
        ))
        .await,
    );

    // Period 0 is proven on schedule: one accepted proof, one period's price earned (shown once
    // the verified head has moved past the proof's block).
    let node = wait_node("a paid proof", |n| {
        n["market"]["proofsAccepted"] == 1 && n["market"]["earnings"] != "0"
    })
    .await
    .unwrap();
    assert_eq!(node["objects"], 1);
    assert_eq!(node["storedBytes"], 300_000);
    assert_eq!(node["corruptObjects"], 0);
    assert_eq!(node["market"]["proofsRejected"], 0);
    // Its activity, newest first: the upload stored, then the proof accepted.
    let activity = node["activity"].as_array().unwrap();
    assert_eq!(activity.len(), 2, "{activity:?}");
    assert_eq!(activity[0]["kind"], "proof");
    assert_eq!(activity[0]["period"], 0);
    assert_eq!(activity[0]["accepted"], true);
    assert_eq!(activity[1]["kind"], "stored");
    assert_eq!(activity[1]["bytes"], 300_000);
    assert_eq!(node["transfers"], serde_json::json!([]));
    let earned: alloy_primitives::U256 = node["market"]["earnings"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let contracts = chain::contracts::Contracts::new(
        &deployment,
        chain::contracts::signer_provider(devnet.rpc_url(), Devnet::key(0)).unwrap(),
    );
    assert_eq!(
        earned,
        contracts.market.earnings(provider).call().await.unwrap(),
        "the status shows what the chain holds"
    );
    assert_eq!(earned, alloy_primitives::U256::from(10u64.pow(16)));

    browser.goto(&url).await.unwrap();
    browser
        .wait_for_text("#node-earnings", Duration::from_secs(60), |t| {
            t == "0.01 CAIRN"
        })
        .await
        .unwrap();
    assert_eq!(
        browser.text_of("#node-proofs").await.unwrap().as_deref(),
        Some("1 accepted, 0 rejected")
    );
    let verified_at = browser
        .text_of("#node-earnings-proof")
        .await
        .unwrap()
        .unwrap();
    assert!(
        verified_at.starts_with("proven at block ")
            && verified_at.contains("which the light client verified the beacon chain signed"),
        "{verified_at}"
    );
    let light_client = browser.text_of("#light-client").await.unwrap().unwrap();
    assert!(
        light_client.starts_with("cairn-test: verified head at slot "),
        "{light_client}"
    );
    assert_eq!(
        browser.text_of("#node-provider").await.unwrap(),
        Some(provider.to_checksum(None))
    );
    assert_eq!(
        browser.text_of("#node-payout").await.unwrap(),
        Some(wallet.clone())
    );
    assert_eq!(
        browser.text_of("#node-stored").await.unwrap().as_deref(),
        Some("1 object, 292.9 KiB of 64 MiB")
    );
    let shown = browser.text_of("#node-activity").await.unwrap().unwrap();
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 2, "{shown}");
    assert!(lines[0].ends_with("period 0: accepted"), "{shown}");
    assert!(
        lines[1].contains("stored ") && lines[1].contains("(292.9 KiB) from 12D3Ko"),
        "{shown}"
    );
    let png = browser.screenshot_png().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
    let path = testkit::artifacts_dir()
        .unwrap()
        .join("daemon-ui-node-market.png");
    std::fs::write(&path, png).unwrap();
    // The top of the page: the chain and the light client's verified head.
    browser.execute("window.scrollTo(0, 0)").await.unwrap();
    let png = browser.screenshot_png().await.unwrap();
    let path = testkit::artifacts_dir()
        .unwrap()
        .join("daemon-ui-light-client.png");
    std::fs::write(&path, png).unwrap();

    // Withdrawn from the page: paid to the wallet on chain, with the transaction named, and the
    // earnings shown as 0 once verified again.
    let wallet_address: alloy_primitives::Address = wallet.parse().unwrap();
    let held = contracts
        .token
        .balanceOf(wallet_address)
        .call()
        .await
        .unwrap();
    let withdrawn = browser
        .click_for("#node-withdraw", "#node-withdrawn", Duration::from_secs(60))
        .await
        .unwrap();
    assert!(
        withdrawn.starts_with(&format!("withdrew 0.01 CAIRN to {wallet} (transaction 0x")),
        "{withdrawn}"
    );
    assert_eq!(
        contracts
            .token
            .balanceOf(wallet_address)
            .call()
            .await
            .unwrap()
            - held,
        earned
    );
    browser
        .wait_for_text("#node-earnings", Duration::from_secs(60), |t| {
            t == "0 CAIRN"
        })
        .await
        .unwrap();
    assert_eq!(browser.text_of("#node-withdraw").await.unwrap(), None);
    // Over the API, again: nothing is left, and the answer says so; nothing is sent.
    let (code, body) = daemon.post("/api/node/earnings/withdraw").await.unwrap();
    assert_eq!(code, 409, "{body}");
    assert_eq!(body["code"], "withdraw");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("has no earnings to withdraw yet"),
        "{body}"
    );

    // Stopped from the daemon's UI, over its API: the light client's card goes, and the
    // earnings are proven against the endpoint's latest block again, as the page says.
    browser
        .click("#light-client-settings summary")
        .await
        .unwrap();
    browser.click("#light-client-stop").await.unwrap();
    let proven = browser
        .wait_for_text("#node-earnings-proof", Duration::from_secs(60), |t| {
            t.contains("the endpoint's latest")
        })
        .await
        .unwrap();
    assert!(proven.starts_with("proven at block "), "{proven}");
    assert_eq!(browser.text_of("#light-client").await.unwrap(), None);
    assert_eq!(
        browser.text_of("#node-earnings").await.unwrap().as_deref(),
        Some("0 CAIRN")
    );
    browser.quit().await.unwrap();
}

/// Deal ids are the chain's: a provider that kept its store over a devnet started afresh holds
/// an object for the old chain's deal 1 when a buyer opens the new chain's deal 1. It proves the
/// new deal from the new object, and leaves the old one alone: a proof built from it would be
/// rejected and the period missed.
#[tokio::test]
async fn a_store_kept_over_a_fresh_devnet_proves_the_new_deal_from_the_right_object() {
    let root = tempfile::tempdir().unwrap();
    let provider_key = key_file(root.path(), "provider.key", 1);
    let buyer_key = key_file(root.path(), "buyer.key", 2);
    let provider_dir = root.path().join("provider");
    // The old object must be the first the prover looks at (the store lists by content id),
    // and as large as the new one: the size cannot tell them apart, only the root can, and a
    // proof from it would be built and submitted for the new deal 1, and rejected.
    let new_bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
    let new_id = node::Manifest::of(&new_bytes).unwrap().id();
    let old_bytes = (0u8..)
        .map(|seed| {
            (0..300_000u32)
                .map(|i| (i * 13 + u32::from(seed)) as u8)
                .collect::<Vec<u8>>()
        })
        .find(|bytes| node::Manifest::of(bytes).unwrap().id().0 < new_id.0)
        .unwrap();
    let (old_file, new_file) = (root.path().join("old.bin"), root.path().join("new.bin"));
    std::fs::write(&old_file, &old_bytes).unwrap();
    std::fs::write(&new_file, &new_bytes).unwrap();

    let mut rounds = Vec::new();
    for (round, file) in [&old_file, &new_file].into_iter().enumerate() {
        let devnet = Devnet::start().await.unwrap();
        let deployment = devnet.deploy(&DeployOptions::default()).await.unwrap();
        let deployment_file = root.path().join(format!("deployment{round}.json"));
        deployment.write(&deployment_file).unwrap();
        let mut provider = node_command(
            &provider_dir,
            devnet.rpc_url(),
            &deployment_file,
            Some(&provider_key),
        );
        provider.args(["--prove-every", "1"]);
        let (guard, line) =
            ChildGuard::spawn_and_read_line("cairn node", provider, "peer_id", START_TIMEOUT)
                .await
                .unwrap();
        let json: serde_json::Value = serde_json::from_str(&line).unwrap();
        let addr = json["listen_addrs"][0].as_str().unwrap().to_owned();
        let put = buyer_put(
            &addr,
            file,
            devnet.rpc_url(),
            &root.path().join(format!("buyer{round}")),
            &deployment_file,
            &buyer_key,
        );
        ok_json(&run(put).await);
        rounds.push((devnet, deployment, guard));
        if round == 0 {
            // The first devnet goes away with its deal; the provider's store stays.
            let (devnet, _, guard) = rounds.pop().unwrap();
            drop(guard);
            devnet.stop().await.unwrap();
        }
    }
    let (devnet, deployment, _guard) = rounds.pop().unwrap();
    let market = chain::contracts::Contracts::new(
        &deployment,
        chain::contracts::signer_provider(devnet.rpc_url(), Devnet::key(0)).unwrap(),
    )
    .market;
    let deal = alloy_primitives::U256::from(1u64);
    assert_eq!(
        market.getDeal(deal).call().await.unwrap().size,
        new_bytes.len() as u64,
        "the new chain's deal 1 is the new object's"
    );
    // Period 0 of the new deal 1 is proven from the new object, and paid.
    let proven = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if market.getDeal(deal).call().await.unwrap().nextPeriod >= 1 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
    .await;
    assert!(
        proven.is_ok(),
        "period 0 of the new deal 1 was never proven"
    );
    assert!(
        !market
            .earnings(Devnet::key(1).address())
            .call()
            .await
            .unwrap()
            .is_zero()
    );
}

/// The daemon's page stores a file through the embedded node: the providers are found in the
/// Registry, each copy is bought under its own deal paid by the node's chain key, and the file
/// comes back verified. A provider that misses a proof is reported (refunded), its copy moved to
/// another provider; the other copy is renewed with its provider when its deal's last period
/// opens.
#[tokio::test]
async fn the_daemons_page_buys_storage_for_a_file_and_fetches_it_back() {
    let (devnet, deployment, root, deployment_file) = market_devnet().await;
    let rpc = devnet.rpc_url();
    // Provider 1 looks for due proofs only at start (then hourly): it will miss period 0.
    // Provider 2 proves as soon as a period is open.
    let (p1, p1_addr) = start_provider_with(
        root.path(),
        1,
        rpc,
        &deployment_file,
        "64MiB",
        &["--prove-every", "3600"],
    )
    .await;
    let (p2, _) = start_provider_with(
        root.path(),
        2,
        rpc,
        &deployment_file,
        "64MiB",
        &["--prove-every", "1"],
    )
    .await;
    let data = root.path().join("daemon");
    let daemon = buying_daemon(root.path(), &data, rpc, &deployment_file).await;
    let buyer = Devnet::key(3).address();
    let contracts = admin_contracts(&deployment, rpc);
    let held = contracts.token.balanceOf(buyer).call().await.unwrap();

    let profile = tempfile::tempdir().unwrap();
    let (_driver, browser) = open_page(&daemon, profile.path()).await;

    // A path that is not a file is refused, naming it.
    let missing = root.path().join("nowhere.bin");
    let error = files_card::store_refused(&browser, &missing, 2)
        .await
        .unwrap();
    assert!(
        error.contains(&format!("cannot store {}", missing.display())),
        "{error}"
    );

    // Stored: two copies, under two deals paid from the node's account.
    let file = root.path().join("notes.bin");
    let bytes = patterned_file(&file, 300_000);
    let stored = files_card::store(&browser, &file, 2).await.unwrap();
    assert!(
        stored.starts_with(
            "stored notes.bin (292.9 KiB) on 2 providers under deals 1, 2; content id "
        ) || stored.starts_with(
            "stored notes.bin (292.9 KiB) on 2 providers under deals 2, 1; content id "
        ),
        "{stored}"
    );
    let id = stored.rsplit(' ').next().unwrap().to_owned();
    assert_eq!(id.len(), 64, "{stored}");
    // Stored by its path: remembered, so a lost copy can be sent from it again.
    assert_eq!(
        catalog_entry(&data, &id)["original"],
        serde_json::json!(file.canonicalize().unwrap())
    );
    for deal in [1u64, 2] {
        let deal = deal_on_chain(&contracts, deal).await;
        assert_eq!(deal.buyer, buyer);
        assert_eq!(deal.size, 300_000);
    }
    let price = alloy_primitives::U256::from(2 * 2 * 10u64.pow(16));
    assert_eq!(
        held - contracts.token.balanceOf(buyer).call().await.unwrap(),
        price,
        "two deals of two periods at 0.01 CAIRN"
    );
    // Listed with when its deals stop being paid: two periods of an hour from their start.
    let listed = browser
        .wait_for_text("#node-files", Duration::from_secs(30), |t| !t.is_empty())
        .await
        .unwrap();
    assert!(
        listed.starts_with("notes.bin: 292.9 KiB, 2 copies, paid until "),
        "{listed}"
    );
    let status = daemon.status().await.unwrap();
    let listed = &status["node"]["files"][0];
    let mut deals: Vec<u64> = listed["deals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|deal| deal.as_u64().unwrap())
        .collect();
    deals.sort_unstable();
    assert_eq!(deals, vec![1, 2], "{listed}");
    let first = deal_on_chain(&contracts, 1).await;
    let second = deal_on_chain(&contracts, 2).await;
    assert_eq!(
        listed["paidUntil"].as_u64().unwrap(),
        first.start.min(second.start) + 2 * 3600,
        "{listed}"
    );

    // Fetched back from the list into a new file, every chunk verified.
    let output = root.path().join("notes-copy.bin");
    let fetched = files_card::fetch_first(&browser, &output).await.unwrap();
    assert!(
        fetched.starts_with(&format!(
            "fetched 292.9 KiB to {}, every chunk verified, from ",
            output.display()
        )),
        "{fetched}"
    );
    assert_eq!(std::fs::read(&output).unwrap(), bytes);
    // Again to the same file: refused, and the file is left as it is.
    let error = browser
        .click_for("#node-fetch", "#node-fetch-error", Duration::from_secs(30))
        .await
        .unwrap();
    assert!(error.contains("exists already"), "{error}");
    assert_eq!(std::fs::read(&output).unwrap(), bytes);
    let png = browser.screenshot_png().await.unwrap();
    std::fs::write(
        testkit::artifacts_dir()
            .unwrap()
            .join("daemon-ui-files.png"),
        png,
    )
    .unwrap();

    // `cairn storage ls` over the daemon's data directory lists the same file.
    let out = ok_json(
        &run({
            let mut command = Command::new(CAIRN);
            command
                .args(["storage", "ls", "--data-dir"])
                .arg(root.path().join("daemon").join("client"));
            command
        })
        .await,
    );
    assert_eq!(out["id"], id.as_str());
    assert_eq!(out["name"], "notes.bin");

    // Provider 2 proves period 0; provider 1 does not, and is stopped. Once period 0's window
    // is over, the node reports it missed (refunded to it, the provider slashed), and the
    // page says so.
    let deal_of = |index: usize| {
        let contracts = &contracts;
        async move {
            for deal in [1u64, 2] {
                let d = deal_on_chain(contracts, deal).await;
                if d.provider == Devnet::key(index).address() {
                    return (deal, d);
                }
            }
            panic!("no deal with provider {index}");
        }
    };
    testkit::eventually(
        "provider 2's proof of period 0",
        Duration::from_secs(60),
        || async { (deal_of(2).await.1.nextPeriod == 1).then_some(()) },
    )
    .await
    .unwrap();
    // A third provider (anvil account 4) comes up, listed in the Registry: where the copy that
    // provider 1 fails to prove will be replaced.
    let (_p4, p4_addr) = start_provider_with(
        root.path(),
        4,
        rpc,
        &deployment_file,
        "64MiB",
        &["--prove-every", "1"],
    )
    .await;
    let p4_peer = p4_addr.rsplit('/').next().unwrap().to_owned();
    testkit::eventually("provider 4 listed", Duration::from_secs(60), || async {
        let entry = contracts
            .registry
            .getProvider(Devnet::key(4).address())
            .call()
            .await
            .ok()?;
        (!entry.info.multiaddrs.is_empty()).then_some(())
    })
    .await
    .unwrap();
    drop(p1);
    let (missed_deal, before) = deal_of(1).await;
    assert_eq!((before.nextPeriod, before.missed), (0, 0));
    devnet.increase_time(3600 + 120).await.unwrap();
    devnet.mine().await.unwrap();
    let node = daemon
        .wait_for_node(
            "the missed period reported",
            Duration::from_secs(120),
            |n| n["market"]["refunds"].as_str().is_some_and(|r| r != "0"),
        )
        .await
        .unwrap();
    assert_eq!(node["market"]["refunds"], "10000000000000000", "{node}");
    let after = deal_of(1).await.1;
    assert_eq!(
        (after.nextPeriod, after.missed),
        (1, 1),
        "deal {missed_deal}"
    );
    let files = browser
        .wait_for_text("#node-files", Duration::from_secs(30), |t| {
            t.contains("missed")
        })
        .await
        .unwrap();
    assert!(
        files.contains("periods proven, 1 missed (refunded)"),
        "{files}"
    );
    let owed = browser.text_of("#node-refunds").await.unwrap().unwrap();
    assert!(
        owed.starts_with("0.01 CAIRN refunded to this node"),
        "{owed}"
    );

    // The copy whose provider missed a proof (and serves no more) moves to provider 4, which
    // fetches it from provider 2 itself: the daemon sends nothing, though the file it was
    // stored from is on its disk. Then, 15 minutes before the deals' end (a quarter of their hour-long
    // periods), provider 2's copy is renewed: 8 chunks fetched back from it, then bought from
    // it again under a new deal (it sends nothing: provider 2 holds every chunk). Both new
    // deals are paid by the node.
    let kept_deal = 3 - missed_deal;
    let moved = format!("1 copy moved to another provider (deal {missed_deal} by ");
    browser
        .wait_for_text("#node-files", Duration::from_secs(120), |t| {
            t.contains(&moved) && !t.contains("buying the copy")
        })
        .await
        .unwrap();
    let renewed = format!("renewed (deal {kept_deal} by ");
    let files = browser.text_of("#node-files").await.unwrap().unwrap();
    assert!(
        !files.contains(&renewed),
        "renewed 45 min before its end: {files}"
    );
    devnet.increase_time(3600 - 120 - 900).await.unwrap();
    devnet.mine().await.unwrap();
    let files = browser
        .wait_for_text("#node-files", Duration::from_secs(120), |t| {
            t.contains(&moved) && t.contains(&renewed) && !t.contains("buying the copy")
        })
        .await
        .unwrap();
    assert!(files.contains("notes.bin: 292.9 KiB, 2 copies"), "{files}");
    let status = daemon.status().await.unwrap();
    let listed = &status["node"]["files"][0];
    let by = |deal: u64| {
        let replaced = listed["replaced"]
            .as_array()
            .unwrap()
            .iter()
            .find(|replaced| replaced["deal"] == deal)
            .unwrap_or_else(|| panic!("deal {deal} not replaced: {listed}"));
        (
            replaced["byDeal"].as_u64().unwrap(),
            (
                replaced["renewed"].as_bool().unwrap(),
                replaced["pulled"].as_bool().unwrap(),
            ),
        )
    };
    let (moved_to, renewed_as) = (by(missed_deal), by(kept_deal));
    assert_eq!(
        (moved_to.1, renewed_as.1),
        ((false, true), (true, false)),
        "renewed, pulled: {listed}"
    );
    assert!(
        files.contains(&format!(
            "(deal {missed_deal} by {} copied from a holder)",
            moved_to.0
        )),
        "{files}"
    );
    let (moved_to, renewed_as) = (moved_to.0, renewed_as.0);
    for (deal, provider) in [(moved_to, 4), (renewed_as, 2)] {
        let new_deal = deal_on_chain(&contracts, deal).await;
        assert_eq!(
            new_deal.provider,
            Devnet::key(provider).address(),
            "deal {deal}"
        );
        assert_eq!(new_deal.buyer, buyer);
        assert_eq!((new_deal.root, new_deal.size), (before.root, before.size));
    }
    let holders: Vec<&str> = listed["holders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|holder| holder.as_str().unwrap())
        .collect();
    let p1_peer = p1_addr.rsplit('/').next().unwrap();
    assert!(
        holders.contains(&p4_peer.as_str()) && !holders.contains(&p1_peer),
        "{listed}"
    );
    assert!(listed["repair"].is_null(), "{listed}");
    let mut deals: Vec<u64> = listed["deals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|deal| deal.as_u64().unwrap())
        .collect();
    deals.sort_unstable();
    let mut expected = vec![moved_to, renewed_as];
    expected.sort_unstable();
    assert_eq!(deals, expected, "{listed}");
    // Withdrawn from the page: paid to the node's account.
    let held = contracts.token.balanceOf(buyer).call().await.unwrap();
    let withdrawn = browser
        .click_for(
            "#node-withdraw-refunds",
            "#node-refunds-withdrawn",
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert!(
        withdrawn.starts_with(&format!(
            "withdrew 0.01 CAIRN to {} (transaction 0x",
            buyer.to_checksum(None)
        )),
        "{withdrawn}"
    );
    assert_eq!(
        contracts.token.balanceOf(buyer).call().await.unwrap() - held,
        alloy_primitives::U256::from(10u64.pow(16))
    );
    daemon
        .wait_for_node(
            "the refunds verified as paid",
            Duration::from_secs(60),
            |n| n["market"]["refunds"] == "0",
        )
        .await
        .unwrap();

    // Provider 2 stopped too: the copy bought in place of provider 1's serves the file alone.
    drop(p2);
    let again = root.path().join("notes-again.bin");
    let fetched = files_card::fetch_first(&browser, &again).await.unwrap();
    assert!(
        fetched.contains(&again.display().to_string()) && fetched.ends_with("from 1 holder"),
        "{fetched}"
    );
    assert_eq!(std::fs::read(&again).unwrap(), bytes);

    // Forgotten from the page: asked first, then the two deals bought last are ended (each in
    // its first period: one period refunded each), and the list is empty.
    let refunds_before = |node: &serde_json::Value| {
        node["market"]["refunds"]
            .as_str()
            .and_then(|r| r.parse::<u128>().ok())
    };
    let before = refunds_before(&daemon.status().await.unwrap()["node"]).unwrap();
    let (question, forgot) = files_card::forget_first(&browser).await.unwrap();
    assert!(
        question.starts_with(
            "Forget notes.bin? It leaves this list and is no longer kept or renewed; its deals "
        ),
        "{question}"
    );
    assert!(
        forgot.starts_with("forgot notes.bin: deals ")
            && forgot.ends_with(" ended, 0.02 CAIRN refunded to this node"),
        "{forgot}"
    );
    for deal in [moved_to, renewed_as] {
        let ended = deal_on_chain(&contracts, deal).await;
        assert_eq!(ended.endPeriod, 1, "deal {deal} ended in its first period");
    }
    browser
        .wait_for_text("#node-files", Duration::from_secs(30), |t| t.is_empty())
        .await
        .unwrap();
    daemon
        .wait_for_node(
            "the refunds of the ended deals",
            Duration::from_secs(60),
            |n| refunds_before(n) == Some(before + 2 * 10u128.pow(16)),
        )
        .await
        .unwrap();
    browser.quit().await.unwrap();
}

/// The daemon's page stores a file picked in the browser (the daemon keeps no copy of it) and
/// downloads it back to the browser, every chunk verified; the download link serves byte ranges
/// and names the file. What the upload route refuses, it refuses before storing anything.
#[tokio::test]
async fn the_daemons_page_stores_a_file_picked_in_the_browser_and_downloads_it_back() {
    let (devnet, deployment, root, deployment_file) = market_devnet().await;
    let rpc = devnet.rpc_url();
    let (_p1, p1_addr) = start_provider(root.path(), 1, rpc, &deployment_file, "64MiB").await;
    let data = root.path().join("daemon");
    let daemon = buying_daemon(root.path(), &data, rpc, &deployment_file).await;
    let spool = data.join("browser-files");
    let spooled = || std::fs::read_dir(&spool).unwrap().count();

    // Refused before anything is stored: a name with a folder, no copies, a past date to keep
    // it until, an empty file, no name, no token.
    let http = reqwest::Client::new();
    let upload = |query: &str, body: &'static [u8], token: bool| {
        let mut request = http
            .post(format!("{}/api/files/upload{query}", daemon.base))
            .header("Content-Type", "application/octet-stream")
            .body(body);
        if token {
            request = request.bearer_auth(&daemon.token);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap();
            (
                status,
                body["message"].as_str().unwrap_or_default().to_owned(),
            )
        }
    };
    let (status, message) = upload("?name=../x.bin&copies=1", b"data", true).await;
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("without a folder"), "{message}");
    let (status, message) = upload("?name=x.bin&copies=0", b"data", true).await;
    assert_eq!(status, 422, "{message}");
    assert!(message.contains("between 1 and 16 copies"), "{message}");
    let (status, message) = upload("?name=x.bin&copies=1&keepUntil=1000", b"data", true).await;
    assert_eq!(status, 422, "{message}");
    assert!(message.contains("is past"), "{message}");
    let (status, message) = upload("?name=x.bin&copies=1", b"", true).await;
    assert_eq!(status, 422, "{message}");
    assert!(message.contains("empty"), "{message}");
    let (status, message) = upload("?copies=1", b"data", true).await;
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("?name=photo.jpg&copies=2"), "{message}");
    let (status, _) = upload("?name=x.bin&copies=1", b"data", false).await;
    assert_eq!(status, 401);
    assert_eq!(spooled(), 0);
    assert_eq!(
        daemon.status().await.unwrap()["node"]["files"],
        serde_json::json!([])
    );

    let profile = tempfile::tempdir().unwrap();
    let (_driver, browser) = open_page(&daemon, profile.path()).await;

    // Picked in the browser, from a folder the daemon is never told about.
    let picked = tempfile::tempdir().unwrap();
    let file = picked.path().join("été notes.bin");
    // Over 2 MiB: more than a request body extractor takes by default.
    let bytes = patterned_file(&file, 3_000_000);
    files_card::keep_until(&browser, "2099-12-31")
        .await
        .unwrap();
    // Every text the progress line shows, as it changes, on an uplink of 1 MB/s.
    browser.throttle_uploads(1_000_000).await.unwrap();
    browser
        .execute(
            "window.progressSeen = []; new MutationObserver(() => { \
               const line = document.querySelector('#node-store-progress'); \
               const text = line && line.textContent; \
               if (text && !window.progressSeen.includes(text)) window.progressSeen.push(text); \
             }).observe(document.body, { subtree: true, childList: true, characterData: true });",
        )
        .await
        .unwrap();
    let stored = files_card::upload(&browser, &file, 1).await.unwrap();
    assert!(
        stored
            .starts_with("stored été notes.bin (2.8 MiB) on 1 provider under deal 1; content id "),
        "{stored}"
    );
    let id = stored.rsplit(' ').next().unwrap().to_owned();
    // The daemon deletes the file it was sent: it is no original to send a copy from.
    let entry = catalog_entry(&data, &id);
    assert!(entry.get("original").is_none(), "{entry}");
    // The upload's progress, then the store's; gone once stored.
    let seen = browser
        .execute("return window.progressSeen;")
        .await
        .unwrap();
    let seen: Vec<&str> = seen
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(
        seen.last(),
        Some(&"storing été notes.bin on the network…"),
        "{seen:?}"
    );
    assert!(
        seen.len() >= 3 && seen[0].starts_with("sending été notes.bin to the daemon: "),
        "progress shown while sending: {seen:?}"
    );
    assert!(
        seen.iter()
            .all(|t| t.starts_with("sending été notes.bin to the daemon: ")
                || *t == "storing été notes.bin on the network…"),
        "{seen:?}"
    );
    assert_eq!(browser.text_of("#node-store-progress").await.unwrap(), None);
    assert_eq!(spooled(), 0, "the daemon keeps no copy");
    let node = daemon.status().await.unwrap()["node"].clone();
    assert_eq!(node["files"][0]["name"], "été notes.bin");
    assert_eq!(
        node["files"][0]["keepUntil"], 4_102_444_800u64,
        "2100-01-01 00:00 UTC"
    );
    assert_eq!(node["files"][0]["id"], id.as_str());
    let p1_peer = p1_addr.rsplit('/').next().unwrap();
    assert_eq!(node["files"][0]["holders"], serde_json::json!([p1_peer]));
    let contracts = admin_contracts(&deployment, rpc);
    let deal = deal_on_chain(&contracts, 1).await;
    assert_eq!(deal.size, 3_000_000);
    assert_eq!(deal.buyer, Devnet::key(3).address());
    assert_eq!(deal.provider, Devnet::key(1).address());

    // Downloaded back by the browser, byte-identical.
    browser
        .wait_for_text("#node-files li", Duration::from_secs(10), |t| {
            t.starts_with("été notes.bin: 2.8 MiB, 1 copy")
                && t.contains("kept until 2100-01-01 00:00 UTC")
        })
        .await
        .unwrap();
    let said = files_card::download_first(&browser).await.unwrap();
    assert_eq!(
        said,
        "downloading été notes.bin (2.8 MiB), every chunk verified, from 1 holder; the link lasts 10 minutes"
    );
    let saved = testkit::WebDriver::chromium_downloads(profile.path()).join("été notes.bin");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while std::fs::read(&saved).ok().as_deref() != Some(&bytes[..]) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} not saved: {:?}",
            saved.display(),
            std::fs::read_dir(saved.parent().unwrap()).map(|d| d.count())
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The link (the spool's one folder) serves ranges and names the file; a made-up one is not
    // found.
    let ticket = std::fs::read_dir(&spool)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name()
        .into_string()
        .unwrap();
    let response = http
        .get(format!("{}/api/downloads/{ticket}", daemon.base))
        .header("Range", "bytes=1000-1999")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 206);
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"_t_ notes.bin\"; filename*=UTF-8''%C3%A9t%C3%A9%20notes.bin"
    );
    assert_eq!(response.bytes().await.unwrap(), bytes[1000..2000]);
    let response = http
        .get(format!("{}/api/downloads/{}", daemon.base, "0".repeat(32)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("download the file again"),
        "{body}"
    );
}
