//! Cairn's web SDK, compiled to wasm and published as an npm package (`@cairn/sdk`).
//!
//! Owns the JavaScript-facing API and its error translation: every export returns a value or
//! throws a JavaScript `Error` whose message says what was wrong. The logic itself lives in the
//! pure crates (`protocol`, `chain`); this crate only adapts it to JavaScript.
//!
//! Builds for: `wasm32-unknown-unknown` (the product, `wasm-bindgen --target web`) and native
//! (so its logic is checked and unit-tested with the rest of the workspace).
//!
//! Must not depend on: `runtime`, `node`, Tauri, or anything that needs threads, files or sockets.

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
