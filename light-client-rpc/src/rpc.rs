//! A minimal JSON-RPC 2.0 client over HTTP: single calls and batches.

use serde_json::{Value, json};

/// A JSON-RPC transport failure or error answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RpcError {
    /// The URL is not a valid http(s) URL.
    #[error("invalid RPC URL {0:?}")]
    Url(String),
    /// The HTTP request failed.
    #[error("request to {url} failed: {source}")]
    Http {
        /// The endpoint.
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// The node answered with a JSON-RPC error.
    #[error("{method}: node error {code}: {message}")]
    Node {
        /// The method called.
        method: String,
        /// JSON-RPC error code.
        code: i64,
        /// Its message.
        message: String,
    },
    /// The answer was not a JSON-RPC response.
    #[error("{method}: malformed answer: {reason}")]
    Malformed {
        /// The method called.
        method: String,
        /// What was wrong.
        reason: String,
    },
}

/// A JSON-RPC endpoint.
#[derive(Debug, Clone)]
pub struct Rpc {
    url: String,
    http: reqwest::Client,
}

impl Rpc {
    /// A client for `url` (`http://` or `https://`).
    pub fn new(url: &str) -> Result<Self, RpcError> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(RpcError::Url(url.into()));
        }
        Ok(Self {
            url: url.into(),
            http: reqwest::Client::new(),
        })
    }

    /// The endpoint's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    async fn post(&self, body: &Value, method: &str) -> Result<Value, RpcError> {
        let response = self
            .http
            .post(&self.url)
            .json(body)
            .send()
            .await
            .map_err(|source| RpcError::Http {
                url: self.url.clone(),
                source,
            })?;
        response.json().await.map_err(|e| RpcError::Malformed {
            method: method.into(),
            reason: e.to_string(),
        })
    }

    /// One call.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let answer = self.post(&body, method).await?;
        result_of(answer, method)
    }

    /// The endpoint's `eth_chainId` (as it reports it: a chain id cannot be proven).
    pub async fn chain_id(&self) -> Result<u64, RpcError> {
        let answer = self.call("eth_chainId", json!([])).await?;
        answer
            .as_str()
            .and_then(|text| u64::from_str_radix(text.trim_start_matches("0x"), 16).ok())
            .ok_or_else(|| RpcError::Malformed {
                method: "eth_chainId".into(),
                reason: format!("not a quantity: {answer}"),
            })
    }

    /// Several calls in one HTTP request; answers in request order.
    pub async fn batch(&self, calls: &[(&str, Value)]) -> Result<Vec<Value>, RpcError> {
        if calls.is_empty() {
            return Ok(Vec::new());
        }
        let body: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(id, (method, params))| {
                json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
            })
            .collect();
        let answer = self.post(&Value::Array(body), "batch").await?;
        let Value::Array(items) = answer else {
            return Err(RpcError::Malformed {
                method: "batch".into(),
                reason: "a batch answer must be an array".into(),
            });
        };
        let mut ordered: Vec<Option<Value>> = vec![None; calls.len()];
        for item in items {
            let Some(id) = item.get("id").and_then(Value::as_u64) else {
                continue;
            };
            if let Some(slot) = ordered.get_mut(id as usize) {
                *slot = Some(item);
            }
        }
        ordered
            .into_iter()
            .zip(calls)
            .map(|(item, (method, _))| {
                let item = item.ok_or_else(|| RpcError::Malformed {
                    method: (*method).into(),
                    reason: "missing from the batch answer".into(),
                })?;
                result_of(item, method)
            })
            .collect()
    }
}

fn result_of(mut answer: Value, method: &str) -> Result<Value, RpcError> {
    if let Some(error) = answer.get("error") {
        return Err(RpcError::Node {
            method: method.into(),
            code: error
                .get("code")
                .and_then(Value::as_i64)
                .unwrap_or_default(),
            message: error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
        });
    }
    match answer.get_mut("result") {
        Some(result) => Ok(result.take()),
        None => Err(RpcError::Malformed {
            method: method.into(),
            reason: "no result".into(),
        }),
    }
}
