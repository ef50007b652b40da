//! Tauri commands: one-line delegates into the runtime.

use protocol::api::{
    ChainSettings, FetchFile, FetchedFile, ForgetFile, ForgotFile, LightClientSettings,
    SetNodeMarket, Status, StoreFile, StoredFile, Withdrawal,
};

use crate::Error;

/// Sets the embedded node's quota (`protocol::api::COMMAND_SET_NODE_QUOTA`; the webview passes
/// `{ quotaBytes }`) and returns the status once the node is back.
#[tauri::command]
pub(crate) async fn set_node_quota(
    runtime: tauri::State<'_, runtime::Handle>,
    quota_bytes: u64,
) -> Result<Status, Error> {
    Ok(runtime.set_node_quota(quota_bytes).await?)
}

/// Gives a selling node the stake it registers with (`protocol::api::COMMAND_SET_NODE_STAKE`;
/// the webview passes `{ tokens }`) and returns the status.
#[tauri::command]
pub(crate) async fn set_node_stake(
    runtime: tauri::State<'_, runtime::Handle>,
    tokens: u64,
) -> Result<Status, Error> {
    Ok(runtime.set_node_stake(tokens).await?)
}

/// Follows the beacon chain the user set with the light client, or stops following one
/// (`protocol::api::COMMAND_SET_LIGHT_CLIENT`; the webview passes `{ settings }`), and returns
/// the status.
#[tauri::command]
pub(crate) async fn set_light_client(
    runtime: tauri::State<'_, runtime::Handle>,
    settings: Option<LightClientSettings>,
) -> Result<Status, Error> {
    Ok(runtime.set_light_client(settings).await?)
}

/// Reads the chain through the endpoint the user set, or returns to the app's own
/// (`protocol::api::COMMAND_SET_CHAIN`; the webview passes `{ settings }`), and returns the
/// status.
#[tauri::command]
pub(crate) async fn set_chain(
    runtime: tauri::State<'_, runtime::Handle>,
    settings: Option<ChainSettings>,
) -> Result<Status, Error> {
    Ok(runtime.set_chain(settings).await?)
}

/// Has the node start selling storage on the deployment the user gave
/// (`protocol::api::COMMAND_SET_NODE_MARKET`; the webview passes a [`SetNodeMarket`],
/// `{ deploymentFile, payout }`), and returns the status.
#[tauri::command]
pub(crate) async fn set_node_market(
    runtime: tauri::State<'_, runtime::Handle>,
    deployment_file: String,
    payout: Option<String>,
) -> Result<Status, Error> {
    let request = SetNodeMarket {
        deployment_file,
        payout,
    };
    Ok(runtime.set_node_market(request).await?)
}

/// Pays a selling node's earnings to its payout address
/// (`protocol::api::COMMAND_WITHDRAW_EARNINGS`).
#[tauri::command]
pub(crate) async fn withdraw_earnings(
    runtime: tauri::State<'_, runtime::Handle>,
) -> Result<Withdrawal, Error> {
    Ok(runtime.withdraw_earnings().await?)
}

/// Stores a file on the network through the embedded node
/// (`protocol::api::COMMAND_STORE_FILE`; the webview passes a [`StoreFile`],
/// `{ path, copies, keepUntil? }`).
#[tauri::command]
pub(crate) async fn store_file(
    runtime: tauri::State<'_, runtime::Handle>,
    path: String,
    copies: u32,
    keep_until: Option<u64>,
) -> Result<StoredFile, Error> {
    Ok(runtime
        .store_file(StoreFile {
            path,
            copies,
            keep_until,
        })
        .await?)
}

/// Fetches a stored object back into a new file (`protocol::api::COMMAND_FETCH_FILE`; the
/// webview passes a [`FetchFile`], `{ id, output }`).
#[tauri::command]
pub(crate) async fn fetch_file(
    runtime: tauri::State<'_, runtime::Handle>,
    id: String,
    output: String,
) -> Result<FetchedFile, Error> {
    Ok(runtime.fetch_file(FetchFile { id, output }).await?)
}

/// Stops keeping a stored file and ends its deals (`protocol::api::COMMAND_FORGET_FILE`; the
/// webview passes a [`ForgetFile`], `{ id }`).
#[tauri::command]
pub(crate) async fn forget_file(
    runtime: tauri::State<'_, runtime::Handle>,
    id: String,
) -> Result<ForgotFile, Error> {
    Ok(runtime.forget_file(ForgetFile { id }).await?)
}

/// Pays what the market owes the node's account as a buyer to that account
/// (`protocol::api::COMMAND_WITHDRAW_REFUNDS`).
#[tauri::command]
pub(crate) async fn withdraw_refunds(
    runtime: tauri::State<'_, runtime::Handle>,
) -> Result<Withdrawal, Error> {
    Ok(runtime.withdraw_refunds().await?)
}

/// The current runtime status (`protocol::api::COMMAND_STATUS`).
#[tauri::command]
pub(crate) async fn status(runtime: tauri::State<'_, runtime::Handle>) -> Result<Status, Error> {
    Ok(runtime.status())
}
