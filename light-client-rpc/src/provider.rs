//! An EIP-1193-style provider: `request(method, params)` with the JSON-RPC method names wallets
//! and alloy use, answering only with data verified against the anchored block: state and calls
//! at the anchor; blocks (with full transactions), transactions, receipts and logs within the
//! verified chain below it. Unsupported methods are refused rather than passed through
//! unverified.

use alloy_primitives::{Address, B256, Bytes, U256};
use light_client::block::{
    LogFilter, VerifiedBody, VerifiedLog, VerifiedReceipt, VerifiedTransaction,
};
use light_client::evm::{CallOutcome, CallRequest};
use serde_json::{Value, json};

use crate::blocks::BlockRef;
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
                let at = block_ref(params.get(0))?;
                let full = params.get(1).and_then(Value::as_bool).unwrap_or(false);
                let body = self.client.block_with_transactions(at).await?;
                Ok(block_json(&body, full))
            }
            "eth_getTransactionByHash" => {
                let hash: B256 = param(params, 0, "transaction hash")?;
                Ok(match self.client.transaction_by_hash(hash).await? {
                    Some(tx) => transaction_json(&tx),
                    None => Value::Null,
                })
            }
            "eth_getTransactionReceipt" => {
                let hash: B256 = param(params, 0, "transaction hash")?;
                Ok(match self.client.transaction_receipt(hash).await? {
                    Some(receipt) => receipt_json(&receipt),
                    None => Value::Null,
                })
            }
            "eth_getBlockReceipts" => {
                let at = block_ref(params.get(0))?;
                let receipts = self.client.block_receipts(at).await?;
                Ok(Value::Array(receipts.iter().map(receipt_json).collect()))
            }
            "eth_getLogs" => {
                let filter = params.get(0).cloned().unwrap_or_else(|| json!({}));
                LogFilter::from_json(&filter)
                    .map_err(|e| RequestError::new(-32602, e.to_string()))?;
                let logs = self.client.logs(&filter).await?;
                Ok(Value::Array(logs.iter().map(log_json).collect()))
            }
            other => Err(RequestError::new(
                -32601,
                format!("{other} is not supported by the verified provider"),
            )),
        }
    }
}

fn block_ref(value: Option<&Value>) -> Result<BlockRef, RequestError> {
    BlockRef::from_json(value).map_err(|e| RequestError::new(-32602, format!("invalid block: {e}")))
}

fn quantity(n: impl Into<u128>) -> Value {
    json!(format!("0x{:x}", n.into()))
}

/// The JSON-RPC shape of a verified transaction: its own fields (as alloy serializes the signed
/// envelope) plus its position, sender and effective gas price, all computed locally.
fn transaction_json(tx: &VerifiedTransaction) -> Value {
    let mut value = serde_json::to_value(&tx.transaction).unwrap_or(Value::Null);
    value["hash"] = json!(tx.hash);
    value["blockHash"] = json!(tx.block_hash);
    value["blockNumber"] = quantity(tx.block_number);
    value["transactionIndex"] = quantity(tx.index);
    value["from"] = json!(tx.from);
    value["gasPrice"] = quantity(tx.effective_gas_price);
    value
}

fn log_json(log: &VerifiedLog) -> Value {
    json!({
        "address": log.log.address,
        "topics": log.log.topics(),
        "data": log.log.data.data,
        "blockHash": log.block_hash,
        "blockNumber": quantity(log.block_number),
        "transactionHash": log.transaction_hash,
        "transactionIndex": quantity(log.transaction_index),
        "logIndex": quantity(log.log_index),
        "removed": false,
    })
}

/// The JSON-RPC shape of a verified receipt. `blobGasPrice` is left out: it depends on the
/// fork's blob schedule, which the provider does not track.
fn receipt_json(receipt: &VerifiedReceipt) -> Value {
    let consensus = &receipt.receipt;
    let mut value = json!({
        "type": quantity(consensus.tx_type() as u8),
        "status": quantity(u8::from(consensus.status())),
        "cumulativeGasUsed": quantity(consensus.cumulative_gas_used()),
        "logsBloom": consensus.logs_bloom(),
        "logs": receipt.logs.iter().map(log_json).collect::<Vec<_>>(),
        "transactionHash": receipt.transaction_hash,
        "transactionIndex": quantity(receipt.transaction_index),
        "blockHash": receipt.block_hash,
        "blockNumber": quantity(receipt.block_number),
        "from": receipt.from,
        "to": receipt.to,
        "contractAddress": receipt.contract_address,
        "gasUsed": quantity(receipt.gas_used),
        "effectiveGasPrice": quantity(receipt.effective_gas_price),
    });
    if let Some(blob_gas) = receipt.blob_gas_used {
        value["blobGasUsed"] = quantity(blob_gas);
    }
    value
}

/// The JSON-RPC shape of a verified block: the header's fields, its hash, its transactions
/// (hashes, or full objects when `full`) and, after Shanghai, its withdrawals (checked against
/// `withdrawalsRoot`; left out if the node sent none). Size and uncle hashes are left out: they
/// are not checked here.
fn block_json(body: &VerifiedBody, full: bool) -> Value {
    let mut value = serde_json::to_value(&body.block.header).unwrap_or(Value::Null);
    value["hash"] = json!(body.block.hash);
    value["transactions"] = if full {
        Value::Array(body.transactions.iter().map(transaction_json).collect())
    } else {
        Value::Array(body.transactions.iter().map(|tx| json!(tx.hash)).collect())
    };
    if let Some(withdrawals) = &body.withdrawals {
        value["withdrawals"] = json!(withdrawals);
    }
    value["uncles"] = json!([]);
    value
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
