//! Block bodies against a verified header: transactions against `transactionsRoot`, receipts
//! against `receiptsRoot`, and logs taken only from verified receipts.
//!
//! Transactions arrive as `eth_getBlockByHash(hash, true)` objects. Each one is decoded from its
//! JSON fields (legacy, EIP-2930, EIP-1559, EIP-4844 and EIP-7702), re-encoded as EIP-2718 and
//! hashed locally; the server's `hash` and `from` are claims compared with the computed hash and
//! the sender recovered from the signature (secp256k1 with `k256`). The ordered Merkle-Patricia
//! trie of the encodings, keyed by `RLP(index)`, must give the header's `transactionsRoot`, so
//! every field that goes into an encoding is checked.
//!
//! Receipts arrive as `eth_getBlockReceipts` objects: status, cumulative gas, bloom, logs and
//! type are re-encoded and must give `receiptsRoot`. Everything else a JSON-RPC receipt carries
//! (per-transaction gas, sender, recipient, created contract, effective gas price, the position of
//! each log) is computed here from the verified transactions and header, never read from the
//! server; where the server states them anyway they are claims, and any that differs is
//! rejected. [`LogFilter`] selects logs as `eth_getLogs` does, and can rule a block out by its
//! verified bloom before its receipts are fetched.
//!
//! Withdrawals (after Shanghai) are decoded from the block's `withdrawals` array and their
//! ordered trie must give the header's `withdrawalsRoot`.

use alloy_consensus::transaction::SignerRecoverable;
use alloy_consensus::{
    EthereumTxEnvelope, ReceiptEnvelope, Transaction as _, TxEip4844,
    proofs::ordered_trie_root_with_encoder,
};
use alloy_eips::eip2718::Encodable2718;
use alloy_eips::eip4895::Withdrawal;
use alloy_primitives::{Address, B256, Bloom, BloomInput, Log, TxKind, keccak256};
use serde_json::Value;

use crate::error::{DecodeError, ExecutionError};
use crate::header::VerifiedBlock;

/// A signed transaction as it sits in a block (an EIP-4844 transaction without its sidecar).
pub type Transaction = EthereumTxEnvelope<TxEip4844>;

/// Blob gas per blob (EIP-4844).
const GAS_PER_BLOB: u64 = 131_072;

/// A transaction proven to be at `index` in block `block_hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTransaction {
    /// The transaction (its hash is the computed one).
    pub transaction: Transaction,
    /// `keccak256` of its EIP-2718 encoding.
    pub hash: B256,
    /// The sender recovered from its signature.
    pub from: Address,
    /// The block it is in.
    pub block_hash: B256,
    /// That block's number.
    pub block_number: u64,
    /// Its position in the block.
    pub index: u64,
    /// What it paid per gas, given the block's base fee.
    pub effective_gas_price: u128,
}

/// A block whose header hash and every transaction were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedBody {
    /// The verified header.
    pub block: VerifiedBlock,
    /// Its transactions, in block order.
    pub transactions: Vec<VerifiedTransaction>,
    /// Its withdrawals, checked against `withdrawalsRoot`: `None` before Shanghai (no root) or
    /// when the server sent none to check.
    pub withdrawals: Option<Vec<Withdrawal>>,
}

/// A log taken from a verified receipt, with its position computed locally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedLog {
    /// Emitter, topics and data.
    pub log: Log,
    /// The block.
    pub block_hash: B256,
    /// The block's number.
    pub block_number: u64,
    /// The transaction that emitted it.
    pub transaction_hash: B256,
    /// That transaction's position in the block.
    pub transaction_index: u64,
    /// The log's position in the block (counted across all receipts).
    pub log_index: u64,
}

/// A receipt proven against `receiptsRoot`, joined with its verified transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedReceipt {
    /// The consensus receipt (type, status, cumulative gas, bloom, logs).
    pub receipt: ReceiptEnvelope,
    /// The transaction's hash.
    pub transaction_hash: B256,
    /// The transaction's position.
    pub transaction_index: u64,
    /// The block.
    pub block_hash: B256,
    /// The block's number.
    pub block_number: u64,
    /// The sender.
    pub from: Address,
    /// The recipient (`None` for a contract creation).
    pub to: Option<Address>,
    /// The created contract, for a creation.
    pub contract_address: Option<Address>,
    /// Gas used by this transaction alone.
    pub gas_used: u64,
    /// What it paid per gas.
    pub effective_gas_price: u128,
    /// Blob gas used (EIP-4844 transactions only).
    pub blob_gas_used: Option<u64>,
    /// Its logs with their positions.
    pub logs: Vec<VerifiedLog>,
}

fn json_error(what: &'static str, index: usize, error: impl std::fmt::Display) -> ExecutionError {
    DecodeError::Json {
        what,
        reason: format!("#{index}: {error}"),
    }
    .into()
}

/// A quantity or hash field the server claimed, if present.
fn claim<T: serde::de::DeserializeOwned>(
    object: &Value,
    field: &str,
    what: &'static str,
    index: usize,
) -> Result<Option<T>, ExecutionError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => serde_json::from_value(value.clone())
            .map(Some)
            .map_err(|e| json_error(what, index, format!("{field}: {e}"))),
    }
}

fn quantity(
    object: &Value,
    field: &str,
    what: &'static str,
    index: usize,
) -> Result<Option<u64>, ExecutionError> {
    Ok(claim::<alloy_primitives::U64>(object, field, what, index)?.map(|n| n.to::<u64>()))
}

/// Checks the claims every block-bound JSON-RPC object carries (`blockHash`, `blockNumber`,
/// `transactionIndex`) against the verified position.
fn check_position(
    object: &Value,
    what: &'static str,
    block: &VerifiedBlock,
    index: usize,
) -> Result<(), ExecutionError> {
    let mismatch = |field: &'static str| ExecutionError::Claim { what, index, field };
    if claim::<B256>(object, "blockHash", what, index)?.is_some_and(|h| h != block.hash) {
        return Err(mismatch("blockHash"));
    }
    if quantity(object, "blockNumber", what, index)?.is_some_and(|n| n != block.header.number) {
        return Err(mismatch("blockNumber"));
    }
    if quantity(object, "transactionIndex", what, index)?.is_some_and(|i| i != index as u64) {
        return Err(mismatch("transactionIndex"));
    }
    Ok(())
}

/// Decodes one JSON-RPC transaction object and checks it: its hash is computed from its
/// encoding, its sender recovered from its signature; the server's `hash` and `from` (if given)
/// must match. `index` is its position, named in errors. This alone proves nothing about which
/// block holds it: [`verify_transactions_json`] does.
pub fn verify_transaction_json(
    object: &Value,
    index: usize,
) -> Result<(Transaction, B256, Address), ExecutionError> {
    if object.is_string() {
        return Err(json_error(
            "block transaction",
            index,
            "a transaction hash, not a full transaction (ask for full transactions)",
        ));
    }
    let transaction: Transaction = serde_json::from_value(object.clone())
        .map_err(|e| json_error("block transaction", index, e))?;
    let hash = keccak256(transaction.encoded_2718());
    let claimed = *transaction.hash();
    if claimed != hash {
        return Err(ExecutionError::TransactionHash {
            index,
            claimed,
            computed: hash,
        });
    }
    let from = transaction
        .recover_signer()
        .map_err(|e| ExecutionError::Signature {
            index,
            reason: e.to_string(),
        })?;
    if let Some(claimed) = claim::<Address>(object, "from", "block transaction", index)?
        && claimed != from
    {
        return Err(ExecutionError::Sender {
            index,
            claimed,
            recovered: from,
        });
    }
    Ok((transaction, hash, from))
}

/// Verifies a block's transactions (the `transactions` array of `eth_getBlockByHash(_, true)`)
/// against the header's `transactionsRoot`.
pub fn verify_transactions_json(
    block: &VerifiedBlock,
    transactions: &Value,
) -> Result<Vec<VerifiedTransaction>, ExecutionError> {
    let items = transactions.as_array().ok_or(DecodeError::Json {
        what: "block transactions",
        reason: "not an array".into(),
    })?;
    let mut verified = Vec::with_capacity(items.len());
    for (index, object) in items.iter().enumerate() {
        let (transaction, hash, from) = verify_transaction_json(object, index)?;
        check_position(object, "transaction", block, index)?;
        let effective_gas_price = transaction.effective_gas_price(block.header.base_fee_per_gas);
        verified.push(VerifiedTransaction {
            transaction,
            hash,
            from,
            block_hash: block.hash,
            block_number: block.header.number,
            index: index as u64,
            effective_gas_price,
        });
    }
    let root = ordered_trie_root_with_encoder(&verified, |tx, buf| {
        tx.transaction.encode_2718(buf);
    });
    if root != block.header.transactions_root {
        return Err(ExecutionError::Root {
            what: "transactions",
            expected: block.header.transactions_root,
            got: root,
        });
    }
    Ok(verified)
}

/// Verifies a whole JSON-RPC block with full transactions: the header must hash to `expected`,
/// the transactions must give its `transactionsRoot`.
pub fn verify_block_json(block: &Value, expected: B256) -> Result<VerifiedBody, ExecutionError> {
    let verified = crate::header::verify_header_json(block, expected)?;
    let transactions = block.get("transactions").ok_or(DecodeError::Json {
        what: "block",
        reason: "no transactions field".into(),
    })?;
    let transactions = verify_transactions_json(&verified, transactions)?;
    let withdrawals = match (verified.header.withdrawals_root, block.get("withdrawals")) {
        (Some(root), Some(withdrawals)) => Some(verify_withdrawals_json(root, withdrawals)?),
        _ => None,
    };
    Ok(VerifiedBody {
        block: verified,
        transactions,
        withdrawals,
    })
}

/// Decodes a block's `withdrawals` array and checks it against `withdrawalsRoot`.
pub fn verify_withdrawals_json(
    root: B256,
    withdrawals: &Value,
) -> Result<Vec<Withdrawal>, ExecutionError> {
    let items = withdrawals.as_array().ok_or(DecodeError::Json {
        what: "withdrawals",
        reason: "not an array".into(),
    })?;
    let decoded = items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            serde_json::from_value::<Withdrawal>(item.clone())
                .map_err(|e| json_error("withdrawal", index, e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let got = alloy_consensus::proofs::calculate_withdrawals_root(&decoded);
    if got != root {
        return Err(ExecutionError::Root {
            what: "withdrawals",
            expected: root,
            got,
        });
    }
    Ok(decoded)
}

/// Verifies receipts (the `eth_getBlockReceipts` array) against the header's `receiptsRoot`:
/// only their consensus fields are kept. Positional claims (`blockHash`, `blockNumber`,
/// `transactionIndex`) must match where given.
pub fn verify_receipts_json(
    block: &VerifiedBlock,
    receipts: &Value,
) -> Result<Vec<ReceiptEnvelope>, ExecutionError> {
    let items = receipts.as_array().ok_or(DecodeError::Json {
        what: "block receipts",
        reason: "not an array".into(),
    })?;
    let mut verified = Vec::with_capacity(items.len());
    for (index, object) in items.iter().enumerate() {
        let receipt: ReceiptEnvelope = serde_json::from_value(object.clone())
            .map_err(|e| json_error("block receipt", index, e))?;
        check_position(object, "receipt", block, index)?;
        verified.push(receipt);
    }
    let root = ordered_trie_root_with_encoder(&verified, |r, buf| r.encode_2718(buf));
    if root != block.header.receipts_root {
        return Err(ExecutionError::Root {
            what: "receipts",
            expected: block.header.receipts_root,
            got: root,
        });
    }
    Ok(verified)
}

/// The logs of root-checked receipts with their positions: `transaction_hashes` are the block's
/// transaction hashes in order (from [`VerifiedBody`]).
pub fn block_logs(
    block: &VerifiedBlock,
    transaction_hashes: &[B256],
    receipts: &[ReceiptEnvelope],
) -> Result<Vec<Vec<VerifiedLog>>, ExecutionError> {
    if transaction_hashes.len() != receipts.len() {
        return Err(ExecutionError::ReceiptCount {
            transactions: transaction_hashes.len(),
            receipts: receipts.len(),
        });
    }
    let mut log_index = 0u64;
    let mut all = Vec::with_capacity(receipts.len());
    for (index, (receipt, hash)) in receipts.iter().zip(transaction_hashes).enumerate() {
        let mut logs = Vec::with_capacity(receipt.logs().len());
        for log in receipt.logs() {
            logs.push(VerifiedLog {
                log: log.clone(),
                block_hash: block.hash,
                block_number: block.header.number,
                transaction_hash: *hash,
                transaction_index: index as u64,
                log_index,
            });
            log_index += 1;
        }
        all.push(logs);
    }
    Ok(all)
}

/// Joins root-checked receipts with the block's verified transactions and computes every
/// non-consensus receipt field.
pub fn join_receipts(
    body: &VerifiedBody,
    receipts: Vec<ReceiptEnvelope>,
) -> Result<Vec<VerifiedReceipt>, ExecutionError> {
    let hashes: Vec<B256> = body.transactions.iter().map(|tx| tx.hash).collect();
    let logs = block_logs(&body.block, &hashes, &receipts)?;
    let mut previous_gas = 0u64;
    let mut joined = Vec::with_capacity(receipts.len());
    for ((receipt, tx), logs) in receipts.into_iter().zip(&body.transactions).zip(logs) {
        let index = tx.index as usize;
        if receipt.tx_type() != tx.transaction.tx_type() {
            return Err(ExecutionError::ReceiptType { index });
        }
        let cumulative = receipt.cumulative_gas_used();
        let gas_used = cumulative
            .checked_sub(previous_gas)
            .ok_or(ExecutionError::CumulativeGas { index })?;
        previous_gas = cumulative;
        let inner = &tx.transaction;
        let contract_address = match inner.kind() {
            TxKind::Create => Some(tx.from.create(inner.nonce())),
            TxKind::Call(_) => None,
        };
        joined.push(VerifiedReceipt {
            receipt,
            transaction_hash: tx.hash,
            transaction_index: tx.index,
            block_hash: body.block.hash,
            block_number: body.block.header.number,
            from: tx.from,
            to: inner.to(),
            contract_address,
            gas_used,
            effective_gas_price: tx.effective_gas_price,
            blob_gas_used: inner
                .blob_versioned_hashes()
                .map(|hashes| hashes.len() as u64 * GAS_PER_BLOB),
            logs,
        });
    }
    if previous_gas != body.block.header.gas_used {
        return Err(ExecutionError::CumulativeGas {
            index: joined.len().saturating_sub(1),
        });
    }
    Ok(joined)
}

/// Verifies `eth_getBlockReceipts` for a verified body: root, join, computed fields.
pub fn verify_block_receipts_json(
    body: &VerifiedBody,
    receipts: &Value,
) -> Result<Vec<VerifiedReceipt>, ExecutionError> {
    let consensus = verify_receipts_json(&body.block, receipts)?;
    let joined = join_receipts(body, consensus)?;
    if let Some(items) = receipts.as_array() {
        for (index, (object, receipt)) in items.iter().zip(&joined).enumerate() {
            check_receipt_claims(object, receipt, index)?;
        }
    }
    Ok(joined)
}

/// The fields of a JSON-RPC receipt outside the consensus encoding are claims: each one given
/// must equal what was computed from the verified transactions and header.
fn check_receipt_claims(
    object: &Value,
    receipt: &VerifiedReceipt,
    index: usize,
) -> Result<(), ExecutionError> {
    let what = "receipt";
    let wrong = |field: &'static str| ExecutionError::Claim { what, index, field };
    if claim::<B256>(object, "transactionHash", what, index)?
        .is_some_and(|h| h != receipt.transaction_hash)
    {
        return Err(wrong("transactionHash"));
    }
    if claim::<Address>(object, "from", what, index)?.is_some_and(|a| a != receipt.from) {
        return Err(wrong("from"));
    }
    if claim::<Address>(object, "to", what, index)?.is_some_and(|a| Some(a) != receipt.to) {
        return Err(wrong("to"));
    }
    if claim::<Address>(object, "contractAddress", what, index)?
        .is_some_and(|a| Some(a) != receipt.contract_address)
    {
        return Err(wrong("contractAddress"));
    }
    if quantity(object, "gasUsed", what, index)?.is_some_and(|g| g != receipt.gas_used) {
        return Err(wrong("gasUsed"));
    }
    if claim::<alloy_primitives::U128>(object, "effectiveGasPrice", what, index)?
        .is_some_and(|p| p.to::<u128>() != receipt.effective_gas_price)
    {
        return Err(wrong("effectiveGasPrice"));
    }
    let claimed_logs = object.get("logs").and_then(Value::as_array);
    for (claimed, log) in claimed_logs.into_iter().flatten().zip(&receipt.logs) {
        let what = "log";
        let wrong = |field: &'static str| ExecutionError::Claim { what, index, field };
        if quantity(claimed, "logIndex", what, index)?.is_some_and(|i| i != log.log_index) {
            return Err(wrong("logIndex"));
        }
        if claim::<B256>(claimed, "transactionHash", what, index)?
            .is_some_and(|h| h != log.transaction_hash)
        {
            return Err(wrong("transactionHash"));
        }
        if claim::<B256>(claimed, "blockHash", what, index)?.is_some_and(|h| h != log.block_hash) {
            return Err(wrong("blockHash"));
        }
        if quantity(claimed, "blockNumber", what, index)?.is_some_and(|n| n != log.block_number) {
            return Err(wrong("blockNumber"));
        }
        if quantity(claimed, "transactionIndex", what, index)?
            .is_some_and(|i| i != log.transaction_index)
        {
            return Err(wrong("transactionIndex"));
        }
    }
    Ok(())
}

/// An `eth_getLogs` filter on emitter and topics (the block range is the fetcher's business).
///
/// `addresses` empty matches any emitter; `topics[i]` `None` (JSON `null`) matches anything at
/// position `i`, `Some(list)` matches any topic in the list (an OR); as in geth, a log with fewer
/// topics than the filter has positions (wildcards included) does not match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// Emitters (OR); empty means any.
    pub addresses: Vec<Address>,
    /// Per-position topic alternatives.
    pub topics: Vec<Option<Vec<B256>>>,
}

impl LogFilter {
    /// Reads `address` and `topics` from an `eth_getLogs` filter object.
    pub fn from_json(filter: &Value) -> Result<Self, DecodeError> {
        let invalid = |reason: String| DecodeError::Json {
            what: "log filter",
            reason,
        };
        let addresses = match filter.get("address") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|a| serde_json::from_value(a.clone()))
                .collect::<Result<_, _>>()
                .map_err(|e| invalid(format!("address: {e}")))?,
            Some(one) => vec![
                serde_json::from_value(one.clone())
                    .map_err(|e| invalid(format!("address: {e}")))?,
            ],
        };
        let mut topics = Vec::new();
        match filter.get("topics") {
            None | Some(Value::Null) => {}
            Some(Value::Array(positions)) => {
                if positions.len() > 4 {
                    return Err(invalid(format!(
                        "{} topic positions, at most 4",
                        positions.len()
                    )));
                }
                for position in positions {
                    topics.push(match position {
                        Value::Null => None,
                        Value::Array(items) if items.is_empty() => None,
                        Value::Array(items) => Some(
                            items
                                .iter()
                                .map(|t| serde_json::from_value(t.clone()))
                                .collect::<Result<_, _>>()
                                .map_err(|e| invalid(format!("topics: {e}")))?,
                        ),
                        one => Some(vec![
                            serde_json::from_value(one.clone())
                                .map_err(|e| invalid(format!("topics: {e}")))?,
                        ]),
                    });
                }
            }
            Some(other) => return Err(invalid(format!("topics must be an array, got {other}"))),
        }
        Ok(Self { addresses, topics })
    }

    /// Whether `log` matches.
    pub fn matches(&self, log: &Log) -> bool {
        if !self.addresses.is_empty() && !self.addresses.contains(&log.address) {
            return false;
        }
        let topics = log.topics();
        if self.topics.len() > topics.len() {
            return false;
        }
        self.topics
            .iter()
            .enumerate()
            .all(|(i, wanted)| match wanted {
                None => true,
                Some(list) => topics.get(i).is_some_and(|t| list.contains(t)),
            })
    }

    /// Whether a block with this (verified) logs bloom can hold a matching log; `false` means
    /// it certainly does not, so its receipts need not be fetched.
    pub fn may_match(&self, bloom: &Bloom) -> bool {
        let address_ok = self.addresses.is_empty()
            || self
                .addresses
                .iter()
                .any(|a| bloom.contains_input(BloomInput::Raw(a.as_slice())));
        address_ok
            && self.topics.iter().all(|wanted| match wanted {
                None => true,
                Some(list) => list
                    .iter()
                    .any(|t| bloom.contains_input(BloomInput::Raw(t.as_slice()))),
            })
    }

    /// The matching logs of a block, in log order.
    pub fn select<'a>(
        &'a self,
        logs: impl IntoIterator<Item = &'a VerifiedLog>,
    ) -> impl Iterator<Item = &'a VerifiedLog> {
        logs.into_iter().filter(|l| self.matches(&l.log))
    }
}
