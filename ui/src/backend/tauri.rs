//! Tauri IPC backend: `invoke` for commands, `listen` for events (`app.withGlobalTauri`).

use protocol::api::{
    COMMAND_FETCH_FILE, COMMAND_FORGET_FILE, COMMAND_PICK_FILE, COMMAND_PICK_SAVE_FILE,
    COMMAND_SET_CHAIN, COMMAND_SET_LIGHT_CLIENT, COMMAND_SET_NODE_MARKET, COMMAND_SET_NODE_QUOTA,
    COMMAND_SET_NODE_STAKE, COMMAND_STATUS, COMMAND_STORE_FILE, COMMAND_WITHDRAW_EARNINGS,
    COMMAND_WITHDRAW_REFUNDS, ChainSettings, EVENT_STATUS, FetchFile, FetchedFile, ForgetFile,
    ForgotFile, LightClientSettings, PickSaveFile, SetChain, SetLightClient, SetNodeMarket,
    SetNodeQuota, SetNodeStake, Status, StoreFile, StoredFile, Withdrawal,
};
use wasm_bindgen::prelude::*;

use super::{Backend, BackendError, StatusSink};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["window", "__TAURI__", "core"], catch)]
    async fn invoke(cmd: &str, args: JsValue) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(js_namespace = ["window", "__TAURI__", "event"], catch)]
    async fn listen(event: &str, handler: &Closure<dyn FnMut(JsValue)>)
    -> Result<JsValue, JsValue>;
}

/// Whether the page runs inside Tauri.
pub(super) fn is_available() -> bool {
    web_sys_window()
        .map(|window| {
            js_sys::Reflect::has(&window, &JsValue::from_str("__TAURI__")).unwrap_or(false)
        })
        .unwrap_or(false)
}

fn web_sys_window() -> Option<JsValue> {
    js_sys::global()
        .dyn_into::<js_sys::Object>()
        .ok()
        .map(JsValue::from)
}

pub(super) struct TauriBackend;

fn describe(value: &JsValue) -> String {
    value
        .as_string()
        .or_else(|| {
            js_sys::JSON::stringify(value)
                .ok()
                .and_then(|s| s.as_string())
        })
        .unwrap_or_else(|| "unknown error".into())
}

fn decode<T: serde::de::DeserializeOwned>(value: JsValue) -> Result<T, BackendError> {
    serde_wasm_bindgen::from_value(value).map_err(|err| BackendError::Decode(err.to_string()))
}

/// Invokes the Tauri command `name` with `args` (a struct whose fields are the command's
/// arguments, or `()` for none) and decodes its answer.
async fn command<T: serde::de::DeserializeOwned>(
    name: &str,
    args: &impl serde::Serialize,
) -> Result<T, BackendError> {
    let args =
        serde_wasm_bindgen::to_value(args).map_err(|err| BackendError::Decode(err.to_string()))?;
    let value = invoke(name, args)
        .await
        .map_err(|err| BackendError::Ipc(describe(&err)))?;
    decode(value)
}

#[async_trait::async_trait(?Send)]
impl Backend for TauriBackend {
    fn name(&self) -> &'static str {
        "desktop"
    }

    async fn status(&self) -> Result<Status, BackendError> {
        command(COMMAND_STATUS, &()).await
    }

    async fn set_node_quota(&self, quota_bytes: u64) -> Result<Status, BackendError> {
        // Tauri maps the command's `quota_bytes` argument to `quotaBytes`, as the type serializes.
        command(COMMAND_SET_NODE_QUOTA, &SetNodeQuota { quota_bytes }).await
    }

    async fn set_node_stake(&self, tokens: u64) -> Result<Status, BackendError> {
        command(COMMAND_SET_NODE_STAKE, &SetNodeStake { tokens }).await
    }

    async fn set_light_client(
        &self,
        settings: Option<LightClientSettings>,
    ) -> Result<Status, BackendError> {
        command(COMMAND_SET_LIGHT_CLIENT, &SetLightClient { settings }).await
    }

    async fn set_chain(&self, settings: Option<ChainSettings>) -> Result<Status, BackendError> {
        command(COMMAND_SET_CHAIN, &SetChain { settings }).await
    }

    async fn set_node_market(&self, request: SetNodeMarket) -> Result<Status, BackendError> {
        // The command's arguments are the request's fields.
        command(COMMAND_SET_NODE_MARKET, &request).await
    }

    async fn withdraw_earnings(&self) -> Result<Withdrawal, BackendError> {
        command(COMMAND_WITHDRAW_EARNINGS, &()).await
    }

    async fn store_file(&self, request: StoreFile) -> Result<StoredFile, BackendError> {
        // The command's arguments are the request's fields.
        command(COMMAND_STORE_FILE, &request).await
    }

    async fn fetch_file(&self, request: FetchFile) -> Result<FetchedFile, BackendError> {
        command(COMMAND_FETCH_FILE, &request).await
    }

    fn file_dialogs(&self) -> bool {
        true
    }

    async fn pick_file(&self) -> Result<Option<String>, BackendError> {
        command(COMMAND_PICK_FILE, &()).await
    }

    async fn pick_save_file(&self, name: String) -> Result<Option<String>, BackendError> {
        command(COMMAND_PICK_SAVE_FILE, &PickSaveFile { name }).await
    }

    async fn forget_file(&self, request: ForgetFile) -> Result<ForgotFile, BackendError> {
        command(COMMAND_FORGET_FILE, &request).await
    }

    async fn withdraw_refunds(&self) -> Result<Withdrawal, BackendError> {
        command(COMMAND_WITHDRAW_REFUNDS, &()).await
    }

    fn watch_status(&self, sink: StatusSink) {
        let handler = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let payload = js_sys::Reflect::get(&event, &JsValue::from_str("payload"))
                .unwrap_or(JsValue::UNDEFINED);
            sink(decode(payload));
        });
        wasm_bindgen_futures::spawn_local(async move {
            // The listener lives as long as the page: the closure is intentionally leaked.
            if let Err(err) = listen(EVENT_STATUS, &handler).await {
                web_sys_console_error(&format!(
                    "cannot listen to {EVENT_STATUS}: {}",
                    describe(&err)
                ));
            }
            handler.forget();
        });
    }
}

fn web_sys_console_error(message: &str) {
    leptos::logging::error!("{message}");
}
