//! Cairn's Tauri 2 shell, shaped like a Tauri plugin: `commands` are one-line delegates into the
//! `runtime` crate (and the system's file dialogs, through `tauri-plugin-dialog`), `error`
//! translates runtime errors once for IPC, and [`run`] wires the runtime's status channel to a
//! Tauri event.
//!
//! Owns only window and IPC concerns. The client itself (chain follower, libp2p node and light
//! client) is the `runtime` crate, shared with the `cairn daemon`.
//!
//! Builds for: desktop (Linux, macOS, Windows) and, through `tauri android`/`tauri ios`, mobile.
//!
//! Must not depend on: `ui` (it embeds the UI's built files, not its code), `cli`.

mod commands;
mod error;

use tauri::{Emitter, Manager};

pub use commands::{PICK_FILE_TITLE, PICK_SAVE_FILE_TITLE};
pub use error::Error;

/// Environment variable selecting the chain endpoint; it wins over the one set in the window
/// (default: the one set in the window, else the local devnet).
pub const RPC_URL_ENV: &str = "CAIRN_RPC_URL";
/// Environment variable naming the network shown in the UI.
pub const NETWORK_ENV: &str = "CAIRN_NETWORK";
/// Environment variable overriding the data directory.
pub const DATA_DIR_ENV: &str = "CAIRN_DATA_DIR";
/// Environment variable turning the embedded libp2p node off (`off`); it runs by default.
pub const NODE_ENV: &str = "CAIRN_NODE";
/// Environment variable setting the disk the node offers to buyers (`10GiB`; default: the quota
/// last set in the UI, else 0, a plain peer that stores nothing).
pub const NODE_QUOTA_ENV: &str = "CAIRN_NODE_QUOTA";
/// Environment variable listing the node's listen multiaddrs, comma-separated (default: TCP, QUIC
/// and WebSocket on every interface).
pub const NODE_LISTEN_ENV: &str = "CAIRN_NODE_LISTEN";
/// Environment variable turning off the node's LAN features (`off`: no mDNS discovery, no UPnP
/// port mapping).
pub const NODE_LAN_ENV: &str = "CAIRN_NODE_LAN";
/// Environment variable naming the contracts' deployment file (from `cairn devnet
/// --deployment-file`): the node sells storage on chain, as the daemon's
/// `--node-deployment-file` does.
pub const NODE_DEPLOYMENT_ENV: &str = "CAIRN_NODE_DEPLOYMENT_FILE";
/// Environment variable naming a file that holds the node's hex chain key (it signs quotes and
/// proofs, and pays for the stake and gas); default: the key the app makes in its data
/// directory (`node/chain.key`). Needs [`NODE_DEPLOYMENT_ENV`].
pub const NODE_CHAIN_KEY_ENV: &str = "CAIRN_NODE_CHAIN_KEY_FILE";
/// Environment variable with the address the node's earnings are paid to (default: the node's
/// own chain address). Needs [`NODE_DEPLOYMENT_ENV`].
pub const NODE_PAYOUT_ENV: &str = "CAIRN_NODE_PAYOUT";
/// Environment variable with the whole tokens to stake when registering in the Registry at start
/// (default: do not register).
pub const NODE_STAKE_ENV: &str = "CAIRN_NODE_STAKE";

/// Environment variable listing beacon API endpoints, comma-separated: the light client follows
/// that beacon chain, and the node's earnings are proven against the block it verified (default:
/// none, as on the devnet; the endpoint's latest block is the anchor). Needs
/// [`BEACON_CHECKPOINT_ENV`].
pub const BEACON_ENV: &str = "CAIRN_BEACON";
/// Environment variable with the trusted checkpoint, a finalized beacon block root (0x-hex), the
/// first sync starts from. Needs [`BEACON_ENV`].
pub const BEACON_CHECKPOINT_ENV: &str = "CAIRN_BEACON_CHECKPOINT";
/// Environment variable naming the beacon chain's network: `mainnet` (default), `sepolia`,
/// `hoodi`, or a network configuration JSON file.
pub const BEACON_NETWORK_ENV: &str = "CAIRN_BEACON_NETWORK";

/// Builds and runs the app until its last window closes.
#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CAIRN_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    let result = tauri::Builder::default()
        // The system's file dialogs, opened by the app's own commands (`commands::pick_file`),
        // not from the webview: no dialog permission is granted to the page.
        .plugin(tauri_plugin_dialog::init())
        .setup(|app| {
            let config = config(app.handle())?;
            let (handle, event_loop) = runtime::start(config).map_err(Error::from)?;
            tauri::async_runtime::spawn(event_loop.run());
            forward_status(app.handle().clone(), handle.subscribe());
            app.manage(handle);
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::status,
            commands::set_node_quota,
            commands::set_node_stake,
            commands::set_light_client,
            commands::set_node_market,
            commands::withdraw_earnings,
            commands::set_chain,
            commands::store_file,
            commands::fetch_file,
            commands::pick_file,
            commands::pick_save_file,
            commands::forget_file,
            commands::withdraw_refunds
        ])
        .run(tauri::generate_context!("../tauri.conf.json"));
    if let Err(err) = result {
        tracing::error!(%err, "the Cairn app failed");
        std::process::exit(1);
    }
}

/// Runtime configuration: environment overrides over the embedded devnet default.
fn config(app: &tauri::AppHandle) -> Result<runtime::Config, Error> {
    let data_dir = match std::env::var_os(DATA_DIR_ENV) {
        Some(dir) => dir.into(),
        None => app
            .path()
            .app_data_dir()
            .map_err(|err| Error::Setup(format!("no app data directory: {err}")))?,
    };
    let mut config = runtime::Config::devnet(data_dir);
    config.rpc_url = std::env::var(RPC_URL_ENV)
        .ok()
        .filter(|url| !url.trim().is_empty());
    if let Ok(network) = std::env::var(NETWORK_ENV) {
        config.network = network;
    }
    config.node = node_config(|name| std::env::var(name).ok())?;
    config.beacon = beacon_config(|name| std::env::var(name).ok())?;
    Ok(config)
}

/// The beacon chain to follow from the environment (`env` reads a variable); `None` when no
/// endpoint is given.
fn beacon_config(
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<runtime::BeaconConfig>, Error> {
    let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let (endpoints, checkpoint) = match (var(BEACON_ENV), var(BEACON_CHECKPOINT_ENV)) {
        (None, None) => return Ok(None),
        (Some(_), None) => {
            return Err(Error::Setup(format!(
                "{BEACON_ENV} is set without {BEACON_CHECKPOINT_ENV}: give the finalized beacon \
                 block root to trust first, as 0x and 64 hex digits"
            )));
        }
        (None, Some(_)) => {
            return Err(Error::Setup(format!(
                "{BEACON_CHECKPOINT_ENV} is set without {BEACON_ENV}: give the beacon API \
                 endpoints to follow, comma-separated"
            )));
        }
        (Some(endpoints), Some(checkpoint)) => (endpoints, checkpoint),
    };
    let settings = protocol::api::LightClientSettings {
        network: var(BEACON_NETWORK_ENV).unwrap_or_else(|| "mainnet".to_owned()),
        endpoints: endpoints.split(',').map(str::to_owned).collect(),
        checkpoint,
    };
    runtime::BeaconConfig::from_settings(&settings)
        .map(Some)
        .map_err(|err| {
            Error::Setup(format!(
                "{BEACON_ENV}, {BEACON_CHECKPOINT_ENV}, {BEACON_NETWORK_ENV}: {err}"
            ))
        })
}

/// The embedded node's configuration from the environment (`env` reads a variable); `None`
/// when turned off.
fn node_config(env: impl Fn(&str) -> Option<String>) -> Result<Option<runtime::NodeConfig>, Error> {
    let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    if let Some(value) = var(NODE_ENV)
        && !switch(NODE_ENV, &value)?
    {
        return Ok(None);
    }
    let mut node = runtime::NodeConfig::default();
    if let Some(quota) = var(NODE_QUOTA_ENV) {
        node.quota = Some(
            runtime::parse_size(&quota)
                .map_err(|err| Error::Setup(format!("{NODE_QUOTA_ENV}: {err}")))?,
        );
    }
    if let Some(listen) = var(NODE_LISTEN_ENV) {
        node.listen = listen.split(',').map(|a| a.trim().to_owned()).collect();
    }
    if let Some(value) = var(NODE_LAN_ENV) {
        let lan = switch(NODE_LAN_ENV, &value)?;
        node.mdns = lan;
        node.upnp = lan;
    }
    match var(NODE_DEPLOYMENT_ENV) {
        None => {
            if let Some(name) = [NODE_CHAIN_KEY_ENV, NODE_PAYOUT_ENV, NODE_STAKE_ENV]
                .into_iter()
                .find(|name| var(name).is_some())
            {
                return Err(Error::Setup(format!(
                    "{name} is set, but the node does not sell storage: set \
                     {NODE_DEPLOYMENT_ENV} too"
                )));
            }
        }
        Some(deployment) => {
            let mut market = runtime::NodeMarket::new(deployment.into());
            market.chain_key_file = var(NODE_CHAIN_KEY_ENV).map(Into::into);
            if let Some(payout) = var(NODE_PAYOUT_ENV) {
                market.payout = Some(payout.trim().parse().map_err(|err| {
                    Error::Setup(format!(
                        "{NODE_PAYOUT_ENV}={payout:?} is not a chain address ({err}); write it \
                         as 0x and 40 hex digits"
                    ))
                })?);
            }
            if let Some(stake) = var(NODE_STAKE_ENV) {
                market.stake = Some(stake.trim().parse().map_err(|_| {
                    Error::Setup(format!(
                        "{NODE_STAKE_ENV}={stake:?} is not a whole number of tokens, like 200"
                    ))
                })?);
            }
            node.market = Some(market);
        }
    }
    Ok(Some(node))
}

/// `on`/`off` (also `1`/`0`, `true`/`false`), or an error naming the variable.
fn switch(name: &str, value: &str) -> Result<bool, Error> {
    match value.trim().to_ascii_lowercase().as_str() {
        "on" | "1" | "true" => Ok(true),
        "off" | "0" | "false" => Ok(false),
        other => Err(Error::Setup(format!(
            "{name}={other:?} is not understood; use on or off"
        ))),
    }
}

/// Emits every new runtime status to the webview as [`protocol::api::EVENT_STATUS`].
fn forward_status(app: tauri::AppHandle, mut status: runtime::StatusReceiver) {
    tauri::async_runtime::spawn(async move {
        while status.changed().await.is_ok() {
            let snapshot = status.borrow_and_update().clone();
            if let Err(err) = app.emit(protocol::api::EVENT_STATUS, snapshot) {
                tracing::warn!(%err, "cannot emit the status event");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    fn setup_error(result: Result<Option<runtime::NodeConfig>, Error>) -> String {
        match result {
            Err(Error::Setup(message)) => message,
            other => panic!("expected a setup error, got {other:?}"),
        }
    }

    #[test]
    fn the_node_runs_by_default_and_is_set_from_the_environment() {
        let node = node_config(env(&[])).unwrap().unwrap();
        assert_eq!(node.quota, None);
        assert!(node.market.is_none());
        assert!(node_config(env(&[(NODE_ENV, "off")])).unwrap().is_none());
        let node = node_config(env(&[
            (NODE_QUOTA_ENV, "10GiB"),
            (
                NODE_LISTEN_ENV,
                "/ip4/0.0.0.0/tcp/4001, /ip4/0.0.0.0/tcp/4002/ws",
            ),
            (NODE_LAN_ENV, "off"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(node.quota, Some(10 << 30));
        assert_eq!(
            node.listen,
            ["/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/tcp/4002/ws"]
        );
        assert!(!node.mdns && !node.upnp);
    }

    #[test]
    fn the_node_sells_storage_given_a_deployment_with_its_own_key_or_a_given_one() {
        let node = node_config(env(&[
            (NODE_DEPLOYMENT_ENV, "/etc/cairn/deployment.json"),
            (NODE_CHAIN_KEY_ENV, "/etc/cairn/provider.key"),
            (
                NODE_PAYOUT_ENV,
                "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
            ),
            (NODE_STAKE_ENV, "200"),
        ]))
        .unwrap()
        .unwrap();
        let market = node.market.unwrap();
        assert_eq!(
            market.deployment_file,
            std::path::Path::new("/etc/cairn/deployment.json")
        );
        assert_eq!(
            market.chain_key_file.as_deref(),
            Some(std::path::Path::new("/etc/cairn/provider.key"))
        );
        assert_eq!(
            market.payout.map(|a| a.to_checksum(None)).as_deref(),
            Some("0x70997970C51812dc3A010C7d01b50e0d17dc79C8")
        );
        assert_eq!(market.stake, Some(200));

        // The deployment alone: the node's own key, paid to its own address.
        let node = node_config(env(&[(NODE_DEPLOYMENT_ENV, "d.json")]))
            .unwrap()
            .unwrap();
        let market = node.market.unwrap();
        assert_eq!(market.chain_key_file, None);
        assert_eq!(market.payout, None);
        assert_eq!(market.stake, None);
    }

    #[test]
    fn the_beacon_chain_to_follow_comes_from_the_environment() {
        assert_eq!(beacon_config(env(&[])).unwrap(), None);
        let root = "0x5afc212a7924789b2bc86acad3ab3a6ffb1f6e97253ea50bee7f4f51422c9275";
        let beacon = beacon_config(env(&[
            (BEACON_ENV, "https://a.example, http://127.0.0.1:5052"),
            (BEACON_CHECKPOINT_ENV, root),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            beacon.endpoints,
            ["https://a.example", "http://127.0.0.1:5052"]
        );
        assert_eq!(beacon.checkpoint.to_string(), root);
        assert_eq!(beacon.network.name, "mainnet");
        let beacon = beacon_config(env(&[
            (BEACON_ENV, "https://a.example"),
            (BEACON_CHECKPOINT_ENV, root),
            (BEACON_NETWORK_ENV, "sepolia"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(beacon.network.name, "sepolia");

        let error = |vars: &[(&str, &str)]| match beacon_config(env(vars)) {
            Err(Error::Setup(message)) => message,
            other => panic!("expected a setup error, got {other:?}"),
        };
        let message = error(&[(BEACON_ENV, "https://a.example")]);
        assert!(message.contains(BEACON_CHECKPOINT_ENV), "{message}");
        let message = error(&[(BEACON_CHECKPOINT_ENV, root)]);
        assert!(message.contains(BEACON_ENV), "{message}");
        let message = error(&[
            (BEACON_ENV, "https://a.example"),
            (BEACON_CHECKPOINT_ENV, "0x12"),
        ]);
        assert!(message.contains("is not a beacon block root"), "{message}");
        let message = error(&[
            (BEACON_ENV, "https://a.example"),
            (BEACON_CHECKPOINT_ENV, root),
            (BEACON_NETWORK_ENV, "holesky-old"),
        ]);
        assert!(
            message.contains(BEACON_NETWORK_ENV) && message.contains("unknown network"),
            "{message}"
        );
        let message = error(&[(BEACON_ENV, " , "), (BEACON_CHECKPOINT_ENV, root)]);
        assert!(message.contains("no beacon API endpoint"), "{message}");
    }

    #[test]
    fn a_half_set_market_or_a_bad_value_names_the_variable() {
        for name in [NODE_CHAIN_KEY_ENV, NODE_PAYOUT_ENV, NODE_STAKE_ENV] {
            let message = setup_error(node_config(env(&[(name, "200")])));
            assert!(message.starts_with(&format!("{name} is set")), "{message}");
            assert!(message.contains(NODE_DEPLOYMENT_ENV), "{message}");
        }
        let message = setup_error(node_config(env(&[
            (NODE_DEPLOYMENT_ENV, "d.json"),
            (NODE_PAYOUT_ENV, "0x1234"),
        ])));
        assert!(
            message.contains("CAIRN_NODE_PAYOUT=\"0x1234\""),
            "{message}"
        );
        let message = setup_error(node_config(env(&[
            (NODE_DEPLOYMENT_ENV, "d.json"),
            (NODE_CHAIN_KEY_ENV, "k.key"),
            (NODE_STAKE_ENV, "lots"),
        ])));
        assert!(message.contains("CAIRN_NODE_STAKE=\"lots\""), "{message}");
        let message = setup_error(node_config(env(&[(NODE_QUOTA_ENV, "ten")])));
        assert!(message.contains(NODE_QUOTA_ENV), "{message}");
        let message = setup_error(node_config(env(&[(NODE_LAN_ENV, "maybe")])));
        assert!(message.contains("use on or off"), "{message}");
    }
}
