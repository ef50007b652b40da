//! A JSON-RPC proxy on 127.0.0.1 in front of anvil that can alter the node's answers: what a
//! verifying client is tested against (every tampered answer it relies on must be refused).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test helper fails loudly on any unexpected answer"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use serde_json::{Value, json};

/// What the proxy alters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Tamper {
    /// Nothing: the node's answers pass unchanged.
    None,
    /// `eth_getProof`: balance + 1.
    ProofBalance,
    /// `eth_getProof`: nonce + 1.
    ProofNonce,
    /// `eth_getProof`: every storage value + 1.
    ProofStorageValue,
    /// `eth_getProof`: one byte of the last account proof node.
    AccountProofNode,
    /// `eth_getProof`: one byte of the last storage proof node.
    StorageProofNode,
    /// `eth_getCode`: one byte of the code.
    Code,
    /// `eth_getBlockByHash`: another state root.
    HeaderStateRoot,
    /// `eth_getBlockByHash`: another timestamp.
    HeaderTimestamp,
    /// `eth_createAccessList`: an empty list (a hint only: must not change results).
    DropAccessList,
    /// Full-transaction blocks: the target transaction's value + 1.
    TxValue,
    /// Full-transaction blocks: one byte of the target transaction's input.
    TxInput,
    /// Full-transaction blocks: one byte of the target transaction's claimed sender.
    TxFrom,
    /// Full-transaction blocks: the target transaction's nonce + 1.
    TxNonce,
    /// `eth_getBlockReceipts`: the target receipt's status flipped.
    ReceiptStatus,
    /// `eth_getBlockReceipts`: the target receipt's cumulative gas + 1.
    ReceiptGas,
    /// `eth_getBlockReceipts`: one byte of the target receipt's first log's data.
    LogData,
    /// `eth_getBlockReceipts`: one byte of the target receipt's first log's last topic.
    LogTopic,
    /// `eth_getBlockReceipts`: the target receipt's last log dropped.
    DropLog,
    /// `eth_getBlockReceipts`: the target receipt's first log repeated.
    AddLog,
    /// `eth_getTransactionByHash`: the block hash set to another verified block's.
    TxBlockHash,
    /// `eth_getBlockReceipts`: one byte of the target receipt's claimed sender.
    ReceiptFrom,
    /// `eth_getBlockReceipts`: the target receipt's claimed (per-transaction) gas used + 1.
    ReceiptGasUsed,
    /// `eth_getBlockReceipts`: the target receipt's first log's claimed log index + 1.
    LogIndex,
    /// Blocks with withdrawals: one more withdrawal (to a validator's address, 1 ETH).
    AddWithdrawal,
}

const ALL: [Tamper; 25] = [
    Tamper::None,
    Tamper::ProofBalance,
    Tamper::ProofNonce,
    Tamper::ProofStorageValue,
    Tamper::AccountProofNode,
    Tamper::StorageProofNode,
    Tamper::Code,
    Tamper::HeaderStateRoot,
    Tamper::HeaderTimestamp,
    Tamper::DropAccessList,
    Tamper::TxValue,
    Tamper::TxInput,
    Tamper::TxFrom,
    Tamper::TxNonce,
    Tamper::ReceiptStatus,
    Tamper::ReceiptGas,
    Tamper::LogData,
    Tamper::LogTopic,
    Tamper::DropLog,
    Tamper::AddLog,
    Tamper::TxBlockHash,
    Tamper::ReceiptFrom,
    Tamper::ReceiptGasUsed,
    Tamper::LogIndex,
    Tamper::AddWithdrawal,
];

struct Shared {
    upstream: String,
    http: reqwest::Client,
    mode: AtomicU8,
    /// Which transaction or receipt of a block the body and receipt tampers alter.
    target: AtomicUsize,
    /// A block hash for `TxBlockHash`.
    other_block: std::sync::Mutex<Value>,
    tampered: AtomicUsize,
}

/// The proxy, serving until dropped.
pub struct Proxy {
    url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Starts a proxy on 127.0.0.1 forwarding to the JSON-RPC endpoint `upstream`, passing its
    /// answers unchanged until [`Proxy::set`] says otherwise.
    pub async fn start(upstream: &str) -> Self {
        let shared = Arc::new(Shared {
            upstream: upstream.into(),
            http: reqwest::Client::new(),
            mode: AtomicU8::new(Tamper::None as u8),
            target: AtomicUsize::new(0),
            other_block: std::sync::Mutex::new(Value::Null),
            tampered: AtomicUsize::new(0),
        });
        let app = axum::Router::new()
            .route("/", post(handle))
            .with_state(shared.clone());
        let (url, task) = crate::serve_local(app).await;
        Self { url, shared, task }
    }

    /// The proxy's URL, to give the client under test.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Alters every later answer as `tamper` says.
    pub fn set(&self, tamper: Tamper) {
        self.shared.mode.store(tamper as u8, Ordering::SeqCst);
    }

    /// Sets which transaction or receipt the body and receipt tampers alter.
    pub fn target(&self, index: usize) {
        self.shared.target.store(index, Ordering::SeqCst);
    }

    /// Sets the block hash `TxBlockHash` claims.
    pub fn other_block(&self, hash: Value) {
        *self.shared.other_block.lock().unwrap() = hash;
    }

    /// How many answers were altered so far.
    pub fn tampered(&self) -> usize {
        self.shared.tampered.load(Ordering::SeqCst)
    }
}

async fn handle(State(shared): State<Arc<Shared>>, Json(request): Json<Value>) -> Json<Value> {
    let mut answer: Value = shared
        .http
        .post(&shared.upstream)
        .json(&request)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mode = ALL[shared.mode.load(Ordering::SeqCst) as usize];
    let pairs: Vec<(Value, &mut Value)> = match (&request, &mut answer) {
        (Value::Array(requests), Value::Array(answers)) => {
            requests.iter().cloned().zip(answers.iter_mut()).collect()
        }
        (request, answer) => vec![(request.clone(), answer)],
    };
    for (request, answer) in pairs {
        let method = request["method"].as_str().unwrap_or_default().to_owned();
        let target = shared.target.load(Ordering::SeqCst);
        let other = shared.other_block.lock().unwrap().clone();
        if let Some(result) = answer.get_mut("result")
            && tamper(mode, &method, result, target, &other)
        {
            shared.tampered.fetch_add(1, Ordering::SeqCst);
        }
    }
    Json(answer)
}

fn bump_quantity(value: &mut Value) {
    let n = u128::from_str_radix(value.as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    *value = json!(format!("0x{:x}", n + 1));
}

fn flip_hex_byte(value: &mut Value, byte: usize) {
    let text = value.as_str().unwrap();
    let mut bytes = hex::decode(text.trim_start_matches("0x")).unwrap();
    let at = byte.min(bytes.len() - 1);
    bytes[at] ^= 0x01;
    *value = json!(format!("0x{}", hex::encode(bytes)));
}

/// Alters `result` for `method` under `mode`; returns whether anything changed.
fn tamper(mode: Tamper, method: &str, result: &mut Value, target: usize, other: &Value) -> bool {
    if method == "eth_getBlockByHash"
        && let Some(tx) = result
            .get_mut("transactions")
            .and_then(|txs| txs.get_mut(target))
            .filter(|tx| tx.is_object())
    {
        match mode {
            Tamper::TxValue => {
                bump_quantity(&mut tx["value"]);
                return true;
            }
            Tamper::TxNonce => {
                bump_quantity(&mut tx["nonce"]);
                return true;
            }
            Tamper::TxFrom => {
                flip_hex_byte(&mut tx["from"], 19);
                return true;
            }
            Tamper::TxInput if tx["input"].as_str().is_some_and(|i| i.len() > 2) => {
                flip_hex_byte(&mut tx["input"], 4);
                return true;
            }
            _ => {}
        }
    }
    if method == "eth_getBlockReceipts"
        && let Some(receipt) = result.get_mut(target)
    {
        let has_logs = receipt["logs"].as_array().is_some_and(|l| !l.is_empty());
        match mode {
            Tamper::ReceiptStatus => {
                let flipped = if receipt["status"] == "0x1" {
                    "0x0"
                } else {
                    "0x1"
                };
                receipt["status"] = json!(flipped);
                return true;
            }
            Tamper::ReceiptGas => {
                bump_quantity(&mut receipt["cumulativeGasUsed"]);
                return true;
            }
            Tamper::ReceiptFrom => {
                flip_hex_byte(&mut receipt["from"], 19);
                return true;
            }
            Tamper::ReceiptGasUsed => {
                bump_quantity(&mut receipt["gasUsed"]);
                return true;
            }
            Tamper::LogIndex if has_logs => {
                bump_quantity(&mut receipt["logs"][0]["logIndex"]);
                return true;
            }
            Tamper::LogData
                if has_logs
                    && receipt["logs"][0]["data"]
                        .as_str()
                        .is_some_and(|d| d.len() > 2) =>
            {
                flip_hex_byte(&mut receipt["logs"][0]["data"], 31);
                return true;
            }
            Tamper::LogTopic if has_logs => {
                let topics = receipt["logs"][0]["topics"].as_array_mut().unwrap();
                if let Some(last) = topics.last_mut() {
                    flip_hex_byte(last, 31);
                    return true;
                }
            }
            Tamper::DropLog if has_logs => {
                receipt["logs"].as_array_mut().unwrap().pop();
                return true;
            }
            Tamper::AddLog if has_logs => {
                let first = receipt["logs"][0].clone();
                receipt["logs"].as_array_mut().unwrap().push(first);
                return true;
            }
            _ => {}
        }
    }
    match (mode, method) {
        (Tamper::AddWithdrawal, "eth_getBlockByHash" | "eth_getBlockByNumber")
            if result["withdrawals"].is_array() =>
        {
            result["withdrawals"].as_array_mut().unwrap().push(json!({
                "index": "0x0",
                "validatorIndex": "0x1",
                "address": "0x00000000000000000000000000000000000000aa",
                "amount": "0x3b9aca00"
            }));
            true
        }
        (Tamper::TxBlockHash, "eth_getTransactionByHash") if result.is_object() => {
            result["blockHash"] = other.clone();
            true
        }
        (Tamper::ProofBalance, "eth_getProof") => {
            bump_quantity(&mut result["balance"]);
            true
        }
        (Tamper::ProofNonce, "eth_getProof") => {
            bump_quantity(&mut result["nonce"]);
            true
        }
        (Tamper::ProofStorageValue, "eth_getProof") => {
            let mut changed = false;
            for slot in result["storageProof"].as_array_mut().unwrap() {
                bump_quantity(&mut slot["value"]);
                changed = true;
            }
            changed
        }
        (Tamper::AccountProofNode, "eth_getProof") => {
            let nodes = result["accountProof"].as_array_mut().unwrap();
            let last = nodes.last_mut().unwrap();
            flip_hex_byte(last, 20);
            true
        }
        (Tamper::StorageProofNode, "eth_getProof") => {
            let mut changed = false;
            for slot in result["storageProof"].as_array_mut().unwrap() {
                if let Some(last) = slot["proof"].as_array_mut().unwrap().last_mut() {
                    flip_hex_byte(last, 10);
                    changed = true;
                }
            }
            changed
        }
        (Tamper::Code, "eth_getCode") if result.as_str().is_some_and(|c| c.len() > 2) => {
            flip_hex_byte(result, 40);
            true
        }
        (Tamper::HeaderStateRoot, "eth_getBlockByHash" | "eth_getBlockByNumber") => {
            flip_hex_byte(&mut result["stateRoot"], 31);
            true
        }
        (Tamper::HeaderTimestamp, "eth_getBlockByHash") => {
            bump_quantity(&mut result["timestamp"]);
            true
        }
        (Tamper::DropAccessList, "eth_createAccessList") => {
            result["accessList"] = json!([]);
            true
        }
        _ => false,
    }
}
