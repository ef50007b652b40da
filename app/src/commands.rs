//! Tauri commands: one-line delegates into the runtime.

use protocol::api::Status;

use crate::Error;

/// The current runtime status (`protocol::api::COMMAND_STATUS`).
#[tauri::command]
pub(crate) async fn status(runtime: tauri::State<'_, runtime::Handle>) -> Result<Status, Error> {
    Ok(runtime.status())
}
