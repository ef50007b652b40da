//! Cairn's web SDK, compiled to wasm and published as an npm package (`@cairn/sdk`).
//!
//! Owns the JavaScript-facing API and its error translation: every export returns a value or
//! throws a JavaScript `Error` whose message says what was wrong. The logic itself lives in the
//! pure crates (`protocol`, `chain`, `light-client`) and the light client's fetch-based edge
//! (`light-client-rpc`); this crate only adapts them to JavaScript.
//!
//! Builds for: `wasm32-unknown-unknown` (the product, `wasm-bindgen --target web`) and native
//! (so its logic is checked and unit-tested with the rest of the workspace).
//!
//! Must not depend on: `runtime`, `node`, Tauri, or anything that needs threads, files or sockets.

use std::rc::Rc;

use alloy_primitives::B256;
use light_client_rpc::{ExecutionClient, Provider, RequestError, Rpc};
use wasm_bindgen::prelude::*;

/// The SDK's version (the Cairn version it was built from).
#[wasm_bindgen]
pub fn version() -> String {
    protocol::VERSION.to_owned()
}

/// Reads the EIP-155 chain id of the JSON-RPC endpoint at `rpcUrl`, through the browser's `fetch`.
///
/// Returns a `bigint`. Throws if the URL is invalid, the endpoint is unreachable or answers
/// something that is not a chain id. The value is as reported by the endpoint (unverified).
#[wasm_bindgen(js_name = chainId)]
pub async fn chain_id(#[wasm_bindgen(js_name = rpcUrl)] rpc_url: String) -> Result<u64, JsError> {
    let client = chain::RpcClient::new(&rpc_url).map_err(to_js)?;
    client.chain_id().await.map_err(to_js)
}

/// A verified Ethereum provider for the page, EIP-1193 style: `await provider.request({ method,
/// params })` answers balances, nonces, code, storage, `eth_call`, `eth_estimateGas`, blocks,
/// transactions, receipts and logs only after proving them against a trusted block (Merkle
/// proofs, header and trie hashes, calls re-executed locally with revm). Anything it cannot verify
/// is refused with a JavaScript `Error` carrying an EIP-1193 `code` (-32601 unsupported method,
/// -32602 bad parameters or a block outside the verified range, -32000 an answer that failed
/// verification, 3 a reverted call with its `data`).
#[wasm_bindgen]
pub struct VerifiedProvider {
    inner: Rc<Provider>,
}

#[wasm_bindgen]
impl VerifiedProvider {
    /// Anchors on the trusted execution block `blockHash` (0x-hex; e.g. from Cairn's light
    /// client) at the untrusted JSON-RPC endpoint `rpcUrl`. `chainId` is what `CHAINID` returns
    /// (default: the endpoint's `eth_chainId`). Throws if the hash is malformed, the endpoint is
    /// unreachable, or the block it returns does not hash to `blockHash`.
    pub async fn connect(
        #[wasm_bindgen(js_name = rpcUrl)] rpc_url: String,
        #[wasm_bindgen(js_name = blockHash)] block_hash: String,
        #[wasm_bindgen(js_name = chainId)] chain_id: Option<u64>,
    ) -> Result<VerifiedProvider, JsError> {
        let hash: B256 = block_hash.trim().parse().map_err(|err| {
            JsError::new(&format!(
                "blockHash {block_hash:?} is not a 32-byte 0x-hex block hash: {err}"
            ))
        })?;
        let rpc = Rpc::new(&rpc_url).map_err(to_js)?;
        let chain_id = match chain_id {
            Some(id) => id,
            None => rpc.chain_id().await.map_err(to_js)?,
        };
        let client = ExecutionClient::anchor(rpc, hash, chain_id)
            .await
            .map_err(to_js)?;
        Ok(Self {
            inner: Rc::new(Provider::new(client)),
        })
    }

    /// The number of the block every answer is proven against.
    #[wasm_bindgen(getter, js_name = blockNumber)]
    pub fn block_number(&self) -> u64 {
        self.inner.client().block().header.number
    }

    /// Its hash.
    #[wasm_bindgen(getter, js_name = blockHash)]
    pub fn block_hash(&self) -> String {
        format!("{:#x}", self.inner.client().block().hash)
    }

    /// EIP-1193 `request({ method, params })`: a promise of the verified result.
    pub fn request(&self, args: JsValue) -> js_sys::Promise {
        let provider = self.inner.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let (method, params) = request_args(&args)?;
            match provider.request(&method, &params).await {
                Ok(result) => to_js_value(&result),
                Err(error) => Err(rpc_error(&error)),
            }
        })
    }
}

/// `{ method, params }` from JavaScript; `params` defaults to `[]`.
fn request_args(args: &JsValue) -> Result<(String, serde_json::Value), JsValue> {
    let text = js_sys::JSON::stringify(args)
        .ok()
        .and_then(|text| text.as_string())
        .ok_or_else(|| invalid_request("request takes an object { method, params }"))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|err| invalid_request(&format!("request arguments: {err}")))?;
    let method = value
        .get("method")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| invalid_request("request needs a string `method`"))?
        .to_owned();
    let params = value
        .get("params")
        .cloned()
        .unwrap_or(serde_json::Value::Array(Vec::new()));
    Ok((method, params))
}

fn to_js_value(value: &serde_json::Value) -> Result<JsValue, JsValue> {
    let text = serde_json::to_string(value)
        .map_err(|err| JsValue::from(JsError::new(&err.to_string())))?;
    js_sys::JSON::parse(&text)
}

/// An EIP-1193 `ProviderRpcError`: an `Error` with `code` and, when there is one, `data`.
fn rpc_error(error: &RequestError) -> JsValue {
    provider_error(
        error.code,
        &error.message,
        error.data.as_ref().map(ToString::to_string),
    )
}

fn invalid_request(message: &str) -> JsValue {
    provider_error(-32600, message, None)
}

fn provider_error(code: i64, message: &str, data: Option<String>) -> JsValue {
    let error = js_sys::Error::new(message);
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&error, &"code".into(), &JsValue::from_f64(code as f64));
    if let Some(data) = data {
        let _ = js_sys::Reflect::set(&error, &"data".into(), &data.into());
    }
    error.into()
}

/// Translates a Rust error into a JavaScript `Error`, keeping the whole cause chain.
fn to_js(err: impl std::error::Error) -> JsError {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    JsError::new(&message)
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_is_the_workspace_version() {
        assert_eq!(super::version(), env!("CARGO_PKG_VERSION"));
    }
}
