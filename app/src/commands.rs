//! Tauri commands: one-line delegates into the runtime, and the system's file dialogs.

use protocol::api::{
    ChainSettings, FetchFile, FetchedFile, ForgetFile, ForgotFile, LightClientSettings,
    SetNodeMarket, Status, StoreFile, StoredFile, Withdrawal,
};

use tauri::Manager as _;
use tauri_plugin_dialog::{DialogExt as _, FilePath};

use crate::Error;

/// Title of the file dialog the window opens to pick a file to store (`pick_file`).
pub const PICK_FILE_TITLE: &str = "Choose a file to store on the network";
/// Title of the save dialog the window opens for a fetched file (`pick_save_file`).
pub const PICK_SAVE_FILE_TITLE: &str = "Save the fetched file as";

/// Opens the system's file dialog over `window` to pick a file to store
/// (`protocol::api::COMMAND_PICK_FILE`): its path, or `None` if the dialog was cancelled. The
/// file is stored by that path, so nothing is copied through the webview.
#[tauri::command]
pub(crate) async fn pick_file(window: tauri::WebviewWindow) -> Result<Option<String>, Error> {
    let dialog = window
        .dialog()
        .file()
        .set_title(PICK_FILE_TITLE)
        .set_parent(&window);
    let picked = tauri::async_runtime::spawn_blocking(move || dialog.blocking_pick_file())
        .await
        .map_err(|e| Error::Dialog(format!("the file dialog failed: {e}")))?;
    picked.map(path_string).transpose()
}

/// Opens the system's save dialog over `window`, starting from `name` in the downloads folder,
/// to choose where a fetched file goes (`protocol::api::COMMAND_PICK_SAVE_FILE`): the path, or `None` if the
/// dialog was cancelled. The dialog asks before it names a file that exists; the runtime
/// refuses to write over one all the same.
#[tauri::command]
pub(crate) async fn pick_save_file(
    window: tauri::WebviewWindow,
    name: String,
) -> Result<Option<String>, Error> {
    let mut dialog = window
        .dialog()
        .file()
        .set_title(PICK_SAVE_FILE_TITLE)
        .set_parent(&window);
    if !name.is_empty() {
        dialog = dialog.set_file_name(name);
    }
    // Where downloads go, when the system has such a folder.
    if let Ok(downloads) = window.path().download_dir()
        && downloads.is_dir()
    {
        dialog = dialog.set_directory(downloads);
    }
    let picked = tauri::async_runtime::spawn_blocking(move || dialog.blocking_save_file())
        .await
        .map_err(|e| Error::Dialog(format!("the save dialog failed: {e}")))?;
    picked.map(path_string).transpose()
}

/// A path a dialog gave, as the runtime's requests carry it.
fn path_string(picked: FilePath) -> Result<String, Error> {
    let path = picked
        .into_path()
        .map_err(|e| Error::Dialog(format!("the dialog gave no file path: {e}")))?;
    path.into_os_string().into_string().map_err(|path| {
        Error::Dialog(format!(
            "{} is not valid UTF-8, which the app cannot pass on; rename it or pick another",
            std::path::Path::new(&path).display()
        ))
    })
}

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
