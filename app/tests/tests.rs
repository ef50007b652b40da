//! End-to-end test of the desktop app: the real `cairn-app` binary in a real WebKitGTK window
//! under Xvfb, driven through `tauri-driver` and `WebKitWebDriver`, against a real anvil devnet
//! with Cairn's contracts and a beacon chain over it: the consumer's whole path to selling
//! storage from the window, with no configuration but the data directory: the chain's
//! endpoint, the quota, the contracts to sell on (with a key the app makes), the registration,
//! and earnings it verified against the head of the beacon chain its own light client, set up
//! from the window too, verified; and, through the same commands, a file bought from a provider
//! found in the Registry, paid with the app's key, and fetched back verified.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::time::Duration;

use chain::Devnet;
use serde_json::json;
use testkit::{ChildGuard, WebDriver, Xvfb, files_card};
use tokio::process::Command;

const APP: &str = env!("CARGO_BIN_EXE_cairn-app");

#[tokio::test]
async fn desktop_window_shows_live_devnet_status() {
    let devnet = Devnet::start().await.unwrap();
    let deployment = devnet
        .deploy(&chain::contracts::DeployOptions::default())
        .await
        .unwrap();
    let display = Xvfb::start().await.unwrap();
    let data_dir = tempfile::tempdir().unwrap();
    let market_dir = tempfile::tempdir().unwrap();
    let deployment_file = market_dir.path().join("deployment.json");
    deployment.write(&deployment_file).unwrap();
    // A beacon chain for the app's light client to follow once it is set in the window: signed
    // by a test sync committee, its heads committing to the devnet's blocks, its network given
    // as a configuration file.
    let signed = testkit::beacon_chain::SignedChain::new();
    let beacon = signed
        .serve(devnet.rpc_url(), testkit::beacon_chain::Behaviour::Honest)
        .await;
    let network_file = market_dir.path().join("network.json");
    std::fs::write(&network_file, signed.config_json()).unwrap();

    let tauri_driver = testkit::find_tool("tauri-driver", "TAURI_DRIVER").unwrap();
    let port = testkit::free_port().unwrap();
    let native_port = testkit::free_port().unwrap();
    let mut command = Command::new(tauri_driver);
    command
        .args([
            "--port",
            &port.to_string(),
            "--native-port",
            &native_port.to_string(),
        ])
        // tauri-driver starts WebKitWebDriver, which starts the app: both inherit this environment.
        .env("DISPLAY", display.display())
        // No chain endpoint: it is set in the window.
        .env_remove("CAIRN_RPC_URL")
        .env("CAIRN_DATA_DIR", data_dir.path())
        // The embedded node, on loopback only and without mDNS or UPnP, offering 1 MiB.
        .env("CAIRN_NODE_LISTEN", "/ip4/127.0.0.1/tcp/0")
        .env("CAIRN_NODE_LAN", "off")
        .env("CAIRN_NODE_QUOTA", "1MiB")
        .env("CAIRN_LOG", "warn")
        .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
        // GTK's settings in memory: the file dialogs write no dconf database (and there is no
        // session bus to reach one through).
        .env("GSETTINGS_BACKEND", "memory")
        .env("LIBGL_ALWAYS_SOFTWARE", "1");
    let _driver = ChildGuard::spawn("tauri-driver", command).unwrap();
    testkit::wait_for_port(([127, 0, 0, 1], port).into(), Duration::from_secs(30))
        .await
        .unwrap();

    let app = WebDriver::connect(
        &format!("http://127.0.0.1:{port}"),
        json!({ "tauri:options": { "application": APP } }),
    )
    .await
    .unwrap();

    // Started with no endpoint, the app reads the local devnet's default one; the user gives the
    // chain's endpoint in the window, and it is read at once.
    let endpoint = app
        .wait_for_text("#chain-endpoint", Duration::from_secs(60), |t| {
            !t.is_empty()
        })
        .await
        .unwrap();
    assert_eq!(
        endpoint,
        "http://127.0.0.1:8545: the local devnet (the default)"
    );
    app.click("#chain-settings summary").await.unwrap();
    app.type_into("#chain-rpc-url", devnet.rpc_url())
        .await
        .unwrap();
    app.click("#chain-connect").await.unwrap();

    // The first screen shows the runtime's live values, fetched through the `status` command.
    let expected = devnet.chain_id().to_string();
    let chain_id = app
        .wait_for_text("#chain-id", Duration::from_secs(60), |t| t == expected)
        .await
        .unwrap();
    assert_eq!(chain_id, expected);
    assert_eq!(
        app.text_of("#backend").await.unwrap().as_deref(),
        Some("desktop")
    );
    assert_eq!(
        app.text_of("#network").await.unwrap().as_deref(),
        Some("devnet")
    );
    assert_eq!(
        app.text_of("#chain-endpoint").await.unwrap().unwrap(),
        format!("{}: set here, kept across restarts", devnet.rpc_url())
    );
    assert_eq!(
        app.text_of("#version").await.unwrap().as_deref(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        app.text_of("#chain-state").await.unwrap().as_deref(),
        Some("connected")
    );

    // Refreshed by the Tauri event: blocks mined now appear without any action in the window.
    let before: u64 = app
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
    app.wait_for_text("#latest-block", Duration::from_secs(20), |t| {
        t.parse::<u64>().is_ok_and(|b| b >= before + 3)
    })
    .await
    .unwrap();
    // Uptime ticks too, which only the event stream can deliver.
    app.wait_for_text("#uptime", Duration::from_secs(20), |t| {
        t != "0s" && t != "…"
    })
    .await
    .unwrap();

    // The app embeds the libp2p node: it runs, with its key in the app's data directory.
    app.wait_for_text("#node-state", Duration::from_secs(30), |t| t == "running")
        .await
        .unwrap();
    let peer_id = app.text_of("#node-peer-id").await.unwrap().unwrap();
    assert!(peer_id.starts_with("12D3KooW"), "{peer_id}");
    assert_eq!(
        app.text_of("#node-stored").await.unwrap().as_deref(),
        Some("0 objects, 0 B of 1 MiB")
    );
    let addrs = app.text_of("#node-addrs").await.unwrap().unwrap();
    assert!(
        addrs.contains("/ip4/127.0.0.1/tcp/") && addrs.contains(&peer_id),
        "{addrs}"
    );
    assert!(data_dir.path().join("node").join("node.key").is_file());

    // The quota is set from the window, through the Tauri command: the node restarts with it,
    // keeping its identity, and the setting is saved in the app's data directory.
    app.type_into("#node-quota-input", "2MiB").await.unwrap();
    app.click("#node-quota-set").await.unwrap();
    app.wait_for_text("#node-stored", Duration::from_secs(60), |t| {
        t == "0 objects, 0 B of 2 MiB"
    })
    .await
    .unwrap();
    assert_eq!(
        app.text_of("#node-peer-id").await.unwrap(),
        Some(peer_id.clone())
    );
    let settings = std::fs::read_to_string(data_dir.path().join("settings.json")).unwrap();
    assert!(settings.contains("\"nodeQuota\": 2097152"), "{settings}");

    // Selling is set up from the window, through the Tauri command: a deployment file that is
    // not there is refused, naming it; the devnet's makes the node sell on its contracts.
    app.type_into("#node-market-deployment", "/nowhere/deployment.json")
        .await
        .unwrap();
    let refused = app
        .click_for(
            "#node-market-set",
            "#node-market-set-error",
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert!(refused.contains("/nowhere/deployment.json"), "{refused}");
    std::fs::write(
        testkit::artifacts_dir()
            .unwrap()
            .join("desktop-app-sell-form.png"),
        app.screenshot_png().await.unwrap(),
    )
    .unwrap();
    app.type_into(
        "#node-market-deployment",
        &deployment_file.display().to_string(),
    )
    .await
    .unwrap();
    app.click("#node-market-set").await.unwrap();
    // It sells with a chain key the app made; with no stake the node is not registered, and
    // the window says so and offers to register.
    let provider: alloy_primitives::Address = app
        .wait_for_text("#node-provider", Duration::from_secs(60), |t| {
            t.starts_with("0x")
        })
        .await
        .unwrap()
        .parse()
        .unwrap();
    assert!(data_dir.path().join("node").join("chain.key").is_file());
    assert_eq!(app.text_of("#node-market-form").await.unwrap(), None);
    assert_eq!(
        app.text_of("#node-peer-id").await.unwrap(),
        Some(peer_id.clone()),
        "restarted selling, the node kept its identity"
    );
    let settings = std::fs::read_to_string(data_dir.path().join("settings.json")).unwrap();
    assert!(settings.contains("\"nodeMarket\""), "{settings}");
    app.wait_for_text("#node-announce-error", Duration::from_secs(30), |t| {
        t.starts_with("not registered")
    })
    .await
    .unwrap();
    // Registered from the window, through the Tauri command: the new key has nothing yet, so the
    // window says what to send where; funded, the node registers on its own.
    app.type_into("#node-stake-input", "200").await.unwrap();
    app.click("#node-stake-set").await.unwrap();
    let unfunded = app
        .wait_for_text("#node-announce-error", Duration::from_secs(30), |t| {
            t.contains("needs 200 CAIRN")
        })
        .await
        .unwrap();
    assert!(
        unfunded.contains(&format!("send them to {provider}")),
        "{unfunded}"
    );
    devnet.fund(&deployment, provider, 200).await.unwrap();
    app.wait_for_text("#node-payout", Duration::from_secs(60), |t| {
        t == provider.to_checksum(None)
    })
    .await
    .unwrap();
    assert_eq!(app.text_of("#node-announce-error").await.unwrap(), None);
    let settings = std::fs::read_to_string(data_dir.path().join("settings.json")).unwrap();
    assert!(settings.contains("\"nodeStake\": 200"), "{settings}");
    // Its earnings (none yet) are verified, with the block they were proven at: with no beacon
    // chain to follow, the endpoint's latest, and the window says so.
    let proven = app
        .wait_for_text("#node-earnings-proof", Duration::from_secs(60), |t| {
            t.starts_with("proven at block ")
        })
        .await
        .unwrap();
    assert!(proven.contains("the endpoint's latest"), "{proven}");
    assert_eq!(app.text_of("#light-client").await.unwrap(), None);

    // The light client is set up from the window, through the Tauri command: a checkpoint that
    // is not a block root is refused, saying so; the right one is followed at once, and the
    // earnings are proven against the head it verified.
    app.click("#light-client-settings summary").await.unwrap();
    app.type_into("#light-client-network", &network_file.display().to_string())
        .await
        .unwrap();
    app.type_into("#light-client-endpoints", &beacon.url)
        .await
        .unwrap();
    app.type_into("#light-client-checkpoint", "0x12")
        .await
        .unwrap();
    app.click("#light-client-follow").await.unwrap();
    let refused = app
        .wait_for_text(
            "#light-client-settings-error",
            Duration::from_secs(30),
            |_| true,
        )
        .await
        .unwrap();
    assert!(
        refused.contains("\"0x12\" is not a beacon block root"),
        "{refused}"
    );
    app.type_into("#light-client-checkpoint", &signed.checkpoint().to_string())
        .await
        .unwrap();
    app.click("#light-client-follow").await.unwrap();
    let proven = app
        .wait_for_text("#node-earnings-proof", Duration::from_secs(60), |t| {
            t.contains("which the light client verified the beacon chain signed")
        })
        .await
        .unwrap();
    assert!(proven.starts_with("proven at block "), "{proven}");
    assert_eq!(
        app.text_of("#light-client-settings-error").await.unwrap(),
        None
    );
    let source = app.text_of("#light-client-source").await.unwrap().unwrap();
    assert!(
        source.starts_with(&format!("through {};", beacon.url)),
        "{source}"
    );
    let settings = std::fs::read_to_string(data_dir.path().join("settings.json")).unwrap();
    assert!(settings.contains("\"lightClient\""), "{settings}");
    assert_eq!(
        app.text_of("#node-earnings").await.unwrap().as_deref(),
        Some("0 CAIRN")
    );
    let light_client = app.text_of("#light-client").await.unwrap().unwrap();
    assert!(
        light_client.starts_with("cairn-test: verified head at slot "),
        "{light_client}"
    );

    // Files go through the app's commands to the runtime, which checks them: a path that is not
    // a file, and a fetch onto a file that exists (left as it is).
    let missing = market_dir.path().join("nowhere.bin");
    let error = files_card::store_refused(&app, &missing, 1).await.unwrap();
    assert!(
        error.contains(&format!("cannot store {}", missing.display())),
        "{error}"
    );
    let error = files_card::fetch_refused(&app, &"ab".repeat(32), &deployment_file)
        .await
        .unwrap();
    assert!(error.contains("exists already"), "{error}");
    assert_eq!(
        chain::contracts::Deployment::read(&deployment_file).unwrap(),
        deployment
    );

    // Bought from the window: a provider registered in the Registry (anvil account 2, in this
    // process), found there by the app's node, which pays the deal with its own key.
    let seller_dir = tempfile::tempdir().unwrap();
    let seller_key = seller_dir.path().join("provider.key");
    std::fs::write(&seller_key, Devnet::key(2).to_bytes().to_string()).unwrap();
    let mut options = node::Options::new(seller_dir.path().join("node"));
    options.quota = 16 << 20;
    options.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    options.mdns = false;
    options.upnp = false;
    let seller = node::market::Market::from_files(
        devnet.rpc_url(),
        &deployment_file,
        &seller_key,
        node::market::Terms::default(),
    )
    .unwrap();
    options.market = Some(seller.clone());
    let (seller_node, _events, seller_loop) = node::Node::start(options).await.unwrap();
    tokio::spawn(seller_loop.run());
    seller
        .announce_node(&seller_node, Some(node::market::token_units(200)))
        .await
        .unwrap();
    devnet.fund(&deployment, provider, 1).await.unwrap();
    let file = market_dir.path().join("notes.bin");
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &bytes).unwrap();
    // The page itself may not open dialogs: only the app's own commands do.
    let refused = app
        .execute(
            "return window.__TAURI__.core.invoke('plugin:dialog|open', { options: {} }) \
             .then(() => 'opened', (e) => String(e));",
        )
        .await
        .unwrap();
    let refused = refused.as_str().unwrap_or_default();
    assert!(refused.contains("not allowed"), "{refused}");
    // The system's file dialog (GTK), cancelled: the path typed before stays, and nothing is
    // said.
    let typed = market_dir.path().join("typed.bin");
    app.type_into("#node-store-path", &typed.display().to_string())
        .await
        .unwrap();
    let said = app.text_of("#node-store-error").await.unwrap();
    let kept = files_card::store_chosen_cancelled(&app, &display, app::PICK_FILE_TITLE)
        .await
        .unwrap();
    assert_eq!(kept, typed.display().to_string());
    assert_eq!(app.text_of("#node-store-error").await.unwrap(), said);
    // Picked in it, typed into as a user would.
    let stored = files_card::store_chosen(&app, &display, app::PICK_FILE_TITLE, &file, 1)
        .await
        .unwrap();
    assert!(
        stored.starts_with("stored notes.bin (195.3 KiB) on 1 provider under deal 1; content id "),
        "{stored}"
    );
    let listed = app
        .wait_for_text("#node-files", Duration::from_secs(30), |t| !t.is_empty())
        .await
        .unwrap();
    assert!(
        listed.starts_with("notes.bin: 195.3 KiB, 1 copy, paid until "),
        "{listed}"
    );
    // Where it goes is chosen in the system's save dialog.
    let copy = market_dir.path().join("notes-copy.bin");
    let fetched = files_card::fetch_first_chosen(&app, &display, app::PICK_SAVE_FILE_TITLE, &copy)
        .await
        .unwrap();
    assert!(
        fetched.starts_with("fetched 195.3 KiB to ") && fetched.ends_with("from 1 holder"),
        "{fetched}"
    );
    assert_eq!(std::fs::read(&copy).unwrap(), bytes);

    // Forgotten from the window: its deal is ended (the periods not yet started refunded), and
    // the list is empty.
    let (question, forgot) = files_card::forget_first(&app).await.unwrap();
    assert!(
        question.starts_with("Forget notes.bin? ") && question.contains("its deal 1 is ended now"),
        "{question}"
    );
    assert!(
        forgot.starts_with("forgot notes.bin: deal 1 ended, ")
            && forgot.ends_with(" refunded to this node"),
        "{forgot}"
    );
    let ended = chain::contracts::Contracts::new(
        &deployment,
        chain::contracts::signer_provider(devnet.rpc_url(), Devnet::key(0)).unwrap(),
    )
    .market
    .getDeal(alloy_primitives::U256::from(1))
    .call()
    .await
    .unwrap();
    assert_eq!(ended.endPeriod, 1, "ended in its first period");
    app.wait_for_text("#node-files", Duration::from_secs(30), |t| t.is_empty())
        .await
        .unwrap();

    let png = app.screenshot_png().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
    let path = testkit::artifacts_dir()
        .unwrap()
        .join("desktop-app-webkit.png");
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot saved to {}", path.display());

    app.quit().await.unwrap();
}
