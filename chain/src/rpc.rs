//! A small Ethereum JSON-RPC client: one POST per call, results decoded by `protocol::jsonrpc`.
//!
//! On wasm32 reqwest uses the browser's `fetch`, so the same code serves the SDK.

use std::sync::atomic::{AtomicU64, Ordering};

use protocol::jsonrpc::{self, DecodeError, Request};
use serde_json::Value;

/// Why an RPC call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RpcError {
    /// The URL given is not an absolute http(s) URL.
    #[error("{url:?} is not a valid RPC URL (expected http://host:port or https://...): {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// The endpoint could not be reached or did not answer in time.
    #[error("could not reach the RPC endpoint {url} for {method}: {source}")]
    Transport {
        /// Endpoint called.
        url: String,
        /// Method called.
        method: String,
        /// Underlying HTTP error.
        #[source]
        source: reqwest::Error,
    },
    /// The endpoint answered with a non-success HTTP status.
    #[error("the RPC endpoint {url} answered {method} with HTTP {status}")]
    Http {
        /// Endpoint called.
        url: String,
        /// Method called.
        method: String,
        /// HTTP status code.
        status: u16,
    },
    /// The body could not be decoded or carried a JSON-RPC error.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// A JSON-RPC client for one endpoint. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RpcClient {
    url: reqwest::Url,
    http: reqwest::Client,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl RpcClient {
    /// A client for `url`, which must be an absolute `http` or `https` URL.
    pub fn new(url: &str) -> Result<Self, RpcError> {
        let invalid = |reason: String| RpcError::InvalidUrl {
            url: url.to_owned(),
            reason,
        };
        let parsed = reqwest::Url::parse(url).map_err(|err| invalid(err.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid(format!("unsupported scheme {:?}", parsed.scheme())));
        }
        Ok(Self {
            url: parsed,
            http: build_http_client(),
        })
    }

    /// The endpoint this client calls.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// Calls `method` with `params` and returns the raw `result`.
    pub async fn call(&self, method: &str, params: Vec<Value>) -> Result<Value, RpcError> {
        let request = Request::new(NEXT_ID.fetch_add(1, Ordering::Relaxed), method, params);
        let transport = |source| RpcError::Transport {
            url: self.url.to_string(),
            method: method.to_owned(),
            source,
        };
        let response = self
            .http
            .post(self.url.clone())
            .json(&request)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        if !status.is_success() {
            return Err(RpcError::Http {
                url: self.url.to_string(),
                method: method.to_owned(),
                status: status.as_u16(),
            });
        }
        let body = response.bytes().await.map_err(transport)?;
        Ok(jsonrpc::decode_result(&request, &body)?)
    }

    /// `eth_chainId`.
    pub async fn chain_id(&self) -> Result<u64, RpcError> {
        let value = self.call("eth_chainId", vec![]).await?;
        Ok(jsonrpc::parse_quantity(&value)?)
    }

    /// `eth_blockNumber`.
    pub async fn block_number(&self) -> Result<u64, RpcError> {
        let value = self.call("eth_blockNumber", vec![]).await?;
        Ok(jsonrpc::parse_quantity(&value)?)
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn build_http_client() -> reqwest::Client {
    /// A devnet or a healthy node answers reads in milliseconds; ten seconds means it is gone.
    const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .unwrap_or_default()
}

#[cfg(target_arch = "wasm32")]
fn build_http_client() -> reqwest::Client {
    reqwest::Client::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_urls_it_cannot_call() {
        for bad in ["", "localhost:8545", "ws://127.0.0.1:8545", "not a url"] {
            let err = RpcClient::new(bad).unwrap_err();
            assert!(matches!(err, RpcError::InvalidUrl { .. }), "{bad}: {err}");
        }
        assert!(RpcClient::new("http://127.0.0.1:8545").is_ok());
    }
}
