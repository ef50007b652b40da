//! An EIP-1193-style provider: `request(method, params)` with the JSON-RPC method names wallets
//! and alloy use, answering only with data verified against the anchored block. Unsupported
//! methods are refused rather than passed through unverified.

use alloy_primitives::{Address, B256, Bytes, U256};
use light_client::evm::{CallOutcome, CallRequest};
use serde_json::{Value, json};

use crate::client::{Error, ExecutionClient};

/// A JSON-RPC error answer: code, message and optional data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    /// JSON-RPC error code (-32601 unsupported method, -32602 bad params, 3 execution reverted,
    /// -32000 verification or node failure).
    pub code: i64,
    /// Human-readable message.
    pub message: String,
    /// Revert data, for `eth_call`.
    pub data: Option<Bytes>,
}

impl RequestError {
    fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// The JSON-RPC `error` object.
    pub fn to_json(&self) -> Value {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(data) = &self.data {
            error["data"] = json!(data);
        }
        error
    }
}

impl From<Error> for RequestError {
    fn from(error: Error) -> Self {
        Self::new(-32000, error.to_string())
    }
}

/// The verified provider.
#[derive(Debug, Clone)]
pub struct Provider {
    client: ExecutionClient,
}

fn param<T: serde::de::DeserializeOwned>(
    params: &Value,
    index: usize,
    name: &str,
) -> Result<T, RequestError> {
    let value = params.get(index).cloned().unwrap_or(Value::Null);
    serde_json::from_value(value)
        .map_err(|e| RequestError::new(-32602, format!("invalid {name}: {e}")))
}

impl Provider {
    /// A provider answering from `client`'s anchored block.
    pub fn new(client: ExecutionClient) -> Self {
        Self { client }
    }

    /// The client underneath.
    pub fn client(&self) -> &ExecutionClient {
        &self.client
    }

    /// Checks a block tag names the anchored block (`latest`, its number or its hash).
    fn check_block(&self, tag: Option<&Value>) -> Result<(), RequestError> {
        let block = self.client.block();
        let ok = match tag {
            None | Some(Value::Null) => true,
            Some(Value::String(s))
                if s == "latest" || s == "safe" || s == "finalized" || s == "pending" =>
            {
                true
            }
            Some(Value::String(s)) if s.len() == 66 => {
                s.parse::<B256>().is_ok_and(|h| h == block.hash)
            }
            Some(Value::String(s)) => u64::from_str_radix(s.trim_start_matches("0x"), 16)
                .is_ok_and(|n| n == block.header.number),
            Some(Value::Object(o)) => o
                .get("blockHash")
                .and_then(Value::as_str)
                .and_then(|h| h.parse::<B256>().ok())
                .is_some_and(|h| h == block.hash),
            Some(_) => false,
        };
        if ok {
            Ok(())
        } else {
            Err(RequestError::new(
                -32602,
                format!(
                    "this verified provider answers for block {} ({}) only",
                    block.header.number, block.hash
                ),
            ))
        }
    }

    /// Answers one request (`params` is the JSON-RPC params array).
    pub async fn request(&self, method: &str, params: &Value) -> Result<Value, RequestError> {
        let block = self.client.block();
        match method {
            "eth_chainId" => Ok(json!(format!("0x{:x}", self.client.chain_id()))),
            "eth_blockNumber" => Ok(json!(format!("0x{:x}", block.header.number))),
            "eth_getBalance" | "eth_getTransactionCount" => {
                let address: Address = param(params, 0, "address")?;
                self.check_block(params.get(1))?;
                let account = self.client.account(address, &[]).await?;
                Ok(if method == "eth_getBalance" {
                    json!(account.balance)
                } else {
                    json!(format!("0x{:x}", account.nonce))
                })
            }
            "eth_getStorageAt" => {
                let address: Address = param(params, 0, "address")?;
                let slot: U256 = param(params, 1, "slot")?;
                self.check_block(params.get(2))?;
                let key = B256::from(slot);
                let account = self.client.account(address, &[key]).await?;
                let value = account.storage.first().map(|s| s.value).unwrap_or_default();
                Ok(json!(B256::from(value)))
            }
            "eth_getCode" => {
                let address: Address = param(params, 0, "address")?;
                self.check_block(params.get(1))?;
                Ok(json!(self.client.code(address).await?))
            }
            "eth_call" | "eth_estimateGas" => {
                let tx = params.get(0).cloned().unwrap_or(Value::Null);
                self.check_block(params.get(1))?;
                let request = call_request(&tx)?;
                let outcome = self.client.call(&request).await?;
                match (method, outcome) {
                    ("eth_call", CallOutcome::Success { output, .. }) => Ok(json!(output)),
                    ("eth_estimateGas", CallOutcome::Success { gas_used, .. }) => {
                        Ok(json!(format!("0x{gas_used:x}")))
                    }
                    (_, CallOutcome::Revert { output, .. }) => Err(RequestError {
                        code: 3,
                        message: "execution reverted".into(),
                        data: Some(output),
                    }),
                    (_, CallOutcome::Halt { reason, .. }) => Err(RequestError::new(
                        -32000,
                        format!("execution halted: {reason}"),
                    )),
                    (_, CallOutcome::Success { .. }) => Err(RequestError::new(-32601, method)),
                }
            }
            "eth_getBlockByHash" | "eth_getBlockByNumber" => {
                self.check_block(params.get(0))?;
                let header = &block.header;
                let mut json = serde_json::to_value(header)
                    .map_err(|e| RequestError::new(-32000, e.to_string()))?;
                json["hash"] = json!(block.hash);
                json["transactions"] = json!([]);
                json["uncles"] = json!([]);
                Ok(json)
            }
            other => Err(RequestError::new(
                -32601,
                format!("{other} is not supported by the verified provider"),
            )),
        }
    }
}

fn call_request(tx: &Value) -> Result<CallRequest, RequestError> {
    let field = |name: &str| tx.get(name).filter(|v| !v.is_null()).cloned();
    let parse = |name: &str| -> Result<Option<Value>, RequestError> { Ok(field(name)) };
    let from: Option<Address> = parse("from")?
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| RequestError::new(-32602, format!("invalid from: {e}")))?;
    let to: Option<Address> = parse("to")?
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| RequestError::new(-32602, format!("invalid to: {e}")))?;
    let data: Bytes = field("input")
        .or_else(|| field("data"))
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| RequestError::new(-32602, format!("invalid data: {e}")))?
        .unwrap_or_default();
    let value: U256 = parse("value")?
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| RequestError::new(-32602, format!("invalid value: {e}")))?
        .unwrap_or_default();
    let gas: Option<u64> = parse("gas")?
        .and_then(|v| v.as_str().map(str::to_owned))
        .map(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16))
        .transpose()
        .map_err(|e| RequestError::new(-32602, format!("invalid gas: {e}")))?;
    Ok(CallRequest {
        from,
        to,
        data,
        value,
        gas,
    })
}
