//! HTTP backend for the `cairn daemon`: `GET /api/status`, `PUT /api/chain`, `PUT /api/node/quota`,
//! `PUT /api/node/stake`, `PUT /api/node/market`, `PUT /api/light-client`,
//! `POST /api/node/earnings/withdraw`, `POST /api/files`, `POST /api/files/fetch` and
//! `POST /api/files/refunds/withdraw` with the per-install bearer token; files picked in the
//! browser go to `POST /api/files/upload` as the body of an `XMLHttpRequest` (for its
//! progress), and come back through the link `POST /api/files/download` answers, which the
//! browser downloads.
//!
//! The daemon prints a URL whose fragment carries the token (`#token=...`); fragments never
//! reach a server. On load the token moves into `localStorage` and out of the address bar.

use std::time::Duration;

use protocol::api::{
    ApiError, ChainSettings, DownloadFile, DownloadReady, FetchFile, FetchedFile, ForgetFile,
    ForgotFile, HTTP_CHAIN_PATH, HTTP_DOWNLOAD_FILE_PATH, HTTP_FETCH_FILE_PATH, HTTP_FILES_PATH,
    HTTP_FORGET_FILE_PATH, HTTP_LIGHT_CLIENT_PATH, HTTP_NODE_MARKET_PATH, HTTP_NODE_QUOTA_PATH,
    HTTP_NODE_STAKE_PATH, HTTP_STATUS_PATH, HTTP_UPLOAD_FILE_PATH, HTTP_WITHDRAW_EARNINGS_PATH,
    HTTP_WITHDRAW_REFUNDS_PATH, LightClientSettings, SetChain, SetLightClient, SetNodeMarket,
    SetNodeQuota, SetNodeStake, Status, StoreFile, StoredFile, TOKEN_FRAGMENT_KEY, Withdrawal,
};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::{Backend, BackendError, StatusSink, UploadProgress};

/// The daemon's status changes every second (uptime); poll at the same pace.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
const STORAGE_KEY: &str = "cairn.apiToken";

pub(super) struct HttpBackend {
    token: Option<String>,
}

impl HttpBackend {
    /// Reads the token from the URL fragment (then hides it) or from local storage.
    pub(super) fn from_location() -> Self {
        let Some(window) = web_sys::window() else {
            return Self { token: None };
        };
        let storage = window.local_storage().ok().flatten();
        let from_fragment = window
            .location()
            .hash()
            .ok()
            .and_then(|hash| token_from_fragment(&hash));
        if let Some(token) = &from_fragment {
            if let Some(storage) = &storage {
                let _ = storage.set_item(STORAGE_KEY, token);
            }
            if let Ok(history) = window.history() {
                let path = window.location().pathname().unwrap_or_else(|_| "/".into());
                let _ =
                    history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&path));
            }
        }
        let token =
            from_fragment.or_else(|| storage.and_then(|s| s.get_item(STORAGE_KEY).ok().flatten()));
        Self { token }
    }
}

/// Extracts `token` from a fragment such as `#token=abc&x=y`.
pub(crate) fn token_from_fragment(hash: &str) -> Option<String> {
    hash.trim_start_matches('#')
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == TOKEN_FRAGMENT_KEY)
        .map(|(_, value)| value.to_owned())
        .filter(|value| !value.is_empty())
}

async fn fetch_status(token: Option<&str>) -> Result<Status, BackendError> {
    call(token, "GET", HTTP_STATUS_PATH, None).await
}

/// One API call answered by a `T` (a [`Status`], a [`Withdrawal`]): `body`, when given, is sent
/// as JSON.
async fn call<T: serde::de::DeserializeOwned>(
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<String>,
) -> Result<T, BackendError> {
    let Some(token) = token else {
        return Err(BackendError::Unauthorized(
            "no access token: open the URL that `cairn daemon` printed (it ends in #token=...)"
                .into(),
        ));
    };
    let window = web_sys::window().ok_or_else(|| BackendError::Unreachable("no window".into()))?;
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    let headers =
        web_sys::Headers::new().map_err(|e| BackendError::Unreachable(format!("{e:?}")))?;
    headers
        .set("Authorization", &format!("Bearer {token}"))
        .map_err(|e| BackendError::Unreachable(format!("{e:?}")))?;
    if let Some(body) = body {
        headers
            .set("Content-Type", "application/json")
            .map_err(|e| BackendError::Unreachable(format!("{e:?}")))?;
        init.set_body(&wasm_bindgen::JsValue::from_str(&body));
    }
    init.set_headers(&headers);
    let request = web_sys::Request::new_with_str_and_init(path, &init)
        .map_err(|e| BackendError::Unreachable(format!("{e:?}")))?;
    let response = JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(|_| {
            BackendError::Unreachable("the daemon did not answer; is it still running?".into())
        })?;
    let response: web_sys::Response = response
        .dyn_into()
        .map_err(|_| BackendError::Decode("fetch did not return a Response".into()))?;
    let text = JsFuture::from(
        response
            .text()
            .map_err(|e| BackendError::Decode(format!("{e:?}")))?,
    )
    .await
    .map_err(|e| BackendError::Decode(format!("{e:?}")))?
    .as_string()
    .unwrap_or_default();
    answer(response.status(), text)
}

/// The daemon's answer: a `T` for 200, else its `ApiError`'s message.
fn answer<T: serde::de::DeserializeOwned>(status: u16, text: String) -> Result<T, BackendError> {
    match status {
        200 => serde_json::from_str(&text).map_err(|err| BackendError::Decode(err.to_string())),
        status => {
            let message = serde_json::from_str::<ApiError>(&text)
                .map(|error| error.message)
                .unwrap_or(text);
            if status == 401 {
                Err(BackendError::Unauthorized(message))
            } else {
                Err(BackendError::Http { status, message })
            }
        }
    }
}

#[async_trait::async_trait(?Send)]
impl Backend for HttpBackend {
    fn name(&self) -> &'static str {
        "daemon"
    }

    async fn status(&self) -> Result<Status, BackendError> {
        fetch_status(self.token.as_deref()).await
    }

    async fn set_node_quota(&self, quota_bytes: u64) -> Result<Status, BackendError> {
        let body = serde_json::to_string(&SetNodeQuota { quota_bytes })
            .map_err(|err| BackendError::Decode(err.to_string()))?;
        call(
            self.token.as_deref(),
            "PUT",
            HTTP_NODE_QUOTA_PATH,
            Some(body),
        )
        .await
    }

    async fn set_node_stake(&self, tokens: u64) -> Result<Status, BackendError> {
        let body = serde_json::to_string(&SetNodeStake { tokens })
            .map_err(|err| BackendError::Decode(err.to_string()))?;
        call(
            self.token.as_deref(),
            "PUT",
            HTTP_NODE_STAKE_PATH,
            Some(body),
        )
        .await
    }

    async fn set_light_client(
        &self,
        settings: Option<LightClientSettings>,
    ) -> Result<Status, BackendError> {
        let body = serde_json::to_string(&SetLightClient { settings })
            .map_err(|err| BackendError::Decode(err.to_string()))?;
        call(
            self.token.as_deref(),
            "PUT",
            HTTP_LIGHT_CLIENT_PATH,
            Some(body),
        )
        .await
    }

    async fn set_chain(&self, settings: Option<ChainSettings>) -> Result<Status, BackendError> {
        let body = serde_json::to_string(&SetChain { settings })
            .map_err(|err| BackendError::Decode(err.to_string()))?;
        call(self.token.as_deref(), "PUT", HTTP_CHAIN_PATH, Some(body)).await
    }

    async fn set_node_market(&self, request: SetNodeMarket) -> Result<Status, BackendError> {
        let body =
            serde_json::to_string(&request).map_err(|err| BackendError::Decode(err.to_string()))?;
        call(
            self.token.as_deref(),
            "PUT",
            HTTP_NODE_MARKET_PATH,
            Some(body),
        )
        .await
    }

    async fn withdraw_earnings(&self) -> Result<Withdrawal, BackendError> {
        call(
            self.token.as_deref(),
            "POST",
            HTTP_WITHDRAW_EARNINGS_PATH,
            None,
        )
        .await
    }

    async fn store_file(&self, request: StoreFile) -> Result<StoredFile, BackendError> {
        let body =
            serde_json::to_string(&request).map_err(|err| BackendError::Decode(err.to_string()))?;
        call(self.token.as_deref(), "POST", HTTP_FILES_PATH, Some(body)).await
    }

    async fn fetch_file(&self, request: FetchFile) -> Result<FetchedFile, BackendError> {
        let body =
            serde_json::to_string(&request).map_err(|err| BackendError::Decode(err.to_string()))?;
        call(
            self.token.as_deref(),
            "POST",
            HTTP_FETCH_FILE_PATH,
            Some(body),
        )
        .await
    }

    fn browser_files(&self) -> bool {
        true
    }

    async fn upload_file(
        &self,
        file: web_sys::File,
        (copies, keep_until): (u32, Option<u64>),
        progress: UploadProgress,
    ) -> Result<StoredFile, BackendError> {
        let keep = keep_until
            .map(|until| format!("&keepUntil={until}"))
            .unwrap_or_default();
        let path = format!(
            "{HTTP_UPLOAD_FILE_PATH}?name={}&copies={copies}{keep}",
            query_component(&file.name())
        );
        let Some(token) = self.token.as_deref() else {
            // The same refusal as every call without a token.
            return call(None, "POST", &path, None).await;
        };
        upload(token, &path, &file, progress).await
    }

    async fn download_file(&self, request: DownloadFile) -> Result<DownloadReady, BackendError> {
        let body =
            serde_json::to_string(&request).map_err(|err| BackendError::Decode(err.to_string()))?;
        let ready: DownloadReady = call(
            self.token.as_deref(),
            "POST",
            HTTP_DOWNLOAD_FILE_PATH,
            Some(body),
        )
        .await?;
        save_link(&ready.url, &ready.name)?;
        Ok(ready)
    }

    async fn forget_file(&self, request: ForgetFile) -> Result<ForgotFile, BackendError> {
        let body =
            serde_json::to_string(&request).map_err(|err| BackendError::Decode(err.to_string()))?;
        call(
            self.token.as_deref(),
            "POST",
            HTTP_FORGET_FILE_PATH,
            Some(body),
        )
        .await
    }

    async fn withdraw_refunds(&self) -> Result<Withdrawal, BackendError> {
        call(
            self.token.as_deref(),
            "POST",
            HTTP_WITHDRAW_REFUNDS_PATH,
            None,
        )
        .await
    }

    fn watch_status(&self, sink: StatusSink) {
        let token = self.token.clone();
        wasm_bindgen_futures::spawn_local(async move {
            loop {
                gloo_timers::future::sleep(POLL_INTERVAL).await;
                let result = fetch_status(token.as_deref()).await;
                let stop = matches!(result, Err(BackendError::Unauthorized(_)));
                sink(result);
                if stop {
                    break;
                }
            }
        });
    }
}

/// Sends `file` as the body of `POST path` with an `XMLHttpRequest` (a `fetch` says nothing of
/// its upload's progress), telling `progress` as it goes; the browser streams it from disk.
async fn upload<T: serde::de::DeserializeOwned>(
    token: &str,
    path: &str,
    file: &web_sys::File,
    progress: UploadProgress,
) -> Result<T, BackendError> {
    let failed = |e: wasm_bindgen::JsValue| BackendError::Unreachable(format!("{e:?}"));
    let request = web_sys::XmlHttpRequest::new().map_err(failed)?;
    request
        .open_with_async("POST", path, true)
        .map_err(failed)?;
    request
        .set_request_header("Authorization", &format!("Bearer {token}"))
        .map_err(failed)?;
    request
        .set_request_header("Content-Type", "application/octet-stream")
        .map_err(failed)?;
    let on_progress = wasm_bindgen::closure::Closure::<dyn FnMut(web_sys::ProgressEvent)>::new(
        move |event: web_sys::ProgressEvent| {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "byte counts of a file, whole and below 2^53"
            )]
            progress(event.loaded() as u64, event.total() as u64);
        },
    );
    request
        .upload()
        .map_err(failed)?
        .set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
    let done = js_sys::Promise::new(&mut |resolve, reject| {
        request.set_onload(Some(&resolve));
        request.set_onerror(Some(&reject));
        request.set_onabort(Some(&reject));
    });
    request.send_with_opt_blob(Some(file)).map_err(failed)?;
    let sent = JsFuture::from(done).await;
    drop(on_progress);
    sent.map_err(|_| {
        BackendError::Unreachable(
            "the upload to the daemon broke off; is it still running? Nothing was stored".into(),
        )
    })?;
    let status = request.status().map_err(failed)?;
    let text = request.response_text().map_err(failed)?.unwrap_or_default();
    answer(status, text)
}

/// Has the browser download `url`, saved as `name`: a link clicked, as a user would.
fn save_link(url: &str, name: &str) -> Result<(), BackendError> {
    let failed = |e: wasm_bindgen::JsValue| BackendError::Decode(format!("{e:?}"));
    let document = web_sys::window()
        .and_then(|window| window.document())
        .ok_or_else(|| BackendError::Unreachable("no document".into()))?;
    let link: web_sys::HtmlAnchorElement = document
        .create_element("a")
        .map_err(failed)?
        .dyn_into()
        .map_err(|_| BackendError::Decode("an a element that is not a link".into()))?;
    link.set_href(url);
    link.set_download(name);
    let body = document
        .body()
        .ok_or_else(|| BackendError::Unreachable("no body".into()))?;
    body.append_child(&link).map_err(failed)?;
    link.click();
    link.remove();
    Ok(())
}

/// `text` percent-encoded for a URL's query: all but the unreserved characters (RFC 3986).
pub(crate) fn query_component(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::{query_component, token_from_fragment};

    #[test]
    fn a_file_name_is_encoded_for_the_query() {
        assert_eq!(query_component("notes.bin"), "notes.bin");
        assert_eq!(
            query_component("été & co/2026?.png"),
            "%C3%A9t%C3%A9%20%26%20co%2F2026%3F.png"
        );
    }

    #[test]
    fn token_is_read_from_the_fragment() {
        assert_eq!(token_from_fragment("#token=abc"), Some("abc".into()));
        assert_eq!(token_from_fragment("#x=1&token=def"), Some("def".into()));
        assert_eq!(token_from_fragment("#token="), None);
        assert_eq!(token_from_fragment(""), None);
        assert_eq!(token_from_fragment("#tokens=abc"), None);
    }
}
