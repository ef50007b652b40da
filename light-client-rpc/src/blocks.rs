//! Blocks, transactions, receipts and logs for [`ExecutionClient`], all within the verified
//! chain: the anchor block and its ancestors, each header trusted because its hash is its
//! child's `parentHash`. Headers below the anchor are fetched in one batch and checked top down;
//! bodies are checked against `transactionsRoot`, receipts against `receiptsRoot`, and logs are
//! only ever read out of verified receipts. Blocks whose verified logs bloom rules a log filter
//! out are not fetched at all.

use alloy_primitives::B256;
use light_client::block::{
    LogFilter, VerifiedBody, VerifiedLog, VerifiedReceipt, VerifiedTransaction, verify_block_json,
    verify_block_receipts_json,
};
use light_client::header::{VerifiedBlock, verify_header_json};
use serde_json::{Value, json};

use crate::client::{Error, ExecutionClient};

/// How far below the anchor a block may be looked up: every header in between is fetched (in one
/// batch) to walk the parent hashes down to it.
pub const MAX_DEPTH: u64 = 1024;
/// The most blocks one `logs` call scans (`toBlock - fromBlock + 1`).
pub const MAX_LOG_RANGE: u64 = 256;

/// Which block a request names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockRef {
    /// The anchor (`latest`, `safe`, `finalized`, `pending`).
    Anchor,
    /// By number.
    Number(u64),
    /// By hash.
    Hash(B256),
}

impl BlockRef {
    /// Reads a JSON-RPC block tag, number, hash or `{"blockHash": …}` / `{"blockNumber": …}`;
    /// `null` or absent means the anchor.
    pub fn from_json(value: Option<&Value>) -> Result<Self, String> {
        match value {
            None | Some(Value::Null) => Ok(Self::Anchor),
            Some(Value::String(s)) => match s.as_str() {
                "latest" | "safe" | "finalized" | "pending" => Ok(Self::Anchor),
                "earliest" => Ok(Self::Number(0)),
                s if s.len() == 66 => s
                    .parse()
                    .map(Self::Hash)
                    .map_err(|e| format!("block hash {s}: {e}")),
                s => u64::from_str_radix(s.trim_start_matches("0x"), 16)
                    .map(Self::Number)
                    .map_err(|e| format!("block number {s}: {e}")),
            },
            Some(Value::Object(o)) => {
                if let Some(hash) = o.get("blockHash") {
                    Self::from_json(Some(hash)).and_then(|r| match r {
                        Self::Hash(_) => Ok(r),
                        _ => Err("blockHash must be a hash".into()),
                    })
                } else {
                    Self::from_json(o.get("blockNumber"))
                }
            }
            Some(other) => Err(format!("not a block: {other}")),
        }
    }
}

fn out_of_range(reason: String) -> Error {
    Error::OutOfRange(reason)
}

impl ExecutionClient {
    /// The verified headers of blocks `from ..= anchor`, oldest first: one batch of
    /// `eth_getBlockByNumber`, then the parent-hash walk down from the anchor.
    async fn chain_from(&self, from: u64) -> Result<Vec<VerifiedBlock>, Error> {
        let anchor = self.block();
        let top = anchor.header.number;
        if from > top {
            return Err(out_of_range(format!(
                "block {from} is after the anchored block {top}"
            )));
        }
        if top - from > MAX_DEPTH {
            return Err(out_of_range(format!(
                "block {from} is more than {MAX_DEPTH} blocks below the anchored block {top}"
            )));
        }
        let calls: Vec<(&str, Value)> = (from..top)
            .map(|n| ("eth_getBlockByNumber", json!([format!("0x{n:x}"), false])))
            .collect();
        let answers = self.rpc().batch(&calls).await?;
        let mut chain = vec![anchor.clone()];
        let mut expected = anchor.header.parent_hash;
        for answer in answers.iter().rev() {
            let block = verify_header_json(answer, expected)?;
            expected = block.header.parent_hash;
            chain.push(block);
        }
        chain.reverse();
        Ok(chain)
    }

    /// The verified header a request names, within [`MAX_DEPTH`] of the anchor.
    pub async fn header(&self, block: BlockRef) -> Result<VerifiedBlock, Error> {
        let anchor = self.block();
        let number = match block {
            BlockRef::Anchor => return Ok(anchor.clone()),
            BlockRef::Hash(hash) if hash == anchor.hash => return Ok(anchor.clone()),
            BlockRef::Number(n) if n == anchor.header.number => return Ok(anchor.clone()),
            BlockRef::Number(n) => n,
            BlockRef::Hash(hash) => {
                // The node's header only tells us which number to walk to; the walk decides.
                let claimed = self
                    .rpc()
                    .call("eth_getBlockByHash", json!([hash, false]))
                    .await?;
                let number = claimed
                    .get("number")
                    .and_then(Value::as_str)
                    .and_then(|n| u64::from_str_radix(n.trim_start_matches("0x"), 16).ok())
                    .ok_or_else(|| out_of_range(format!("the node does not know block {hash}")))?;
                let chain = self.chain_from(number).await?;
                return match chain.into_iter().next() {
                    Some(found) if found.hash == hash => Ok(found),
                    _ => Err(out_of_range(format!(
                        "block {hash} is not an ancestor of the anchored block"
                    ))),
                };
            }
        };
        let chain = self.chain_from(number).await?;
        chain
            .into_iter()
            .next()
            .ok_or_else(|| out_of_range(format!("block {number}")))
    }

    /// A verified header's full body: every transaction checked against `transactionsRoot`.
    pub async fn body(&self, block: &VerifiedBlock) -> Result<VerifiedBody, Error> {
        let answer = self
            .rpc()
            .call("eth_getBlockByHash", json!([block.hash, true]))
            .await?;
        Ok(verify_block_json(&answer, block.hash)?)
    }

    /// The block a request names with its verified transactions.
    pub async fn block_with_transactions(&self, block: BlockRef) -> Result<VerifiedBody, Error> {
        let header = self.header(block).await?;
        self.body(&header).await
    }

    /// A verified body's receipts (`eth_getBlockReceipts`), checked against `receiptsRoot`.
    pub async fn receipts(&self, body: &VerifiedBody) -> Result<Vec<VerifiedReceipt>, Error> {
        let answer = self
            .rpc()
            .call("eth_getBlockReceipts", json!([body.block.hash]))
            .await?;
        Ok(verify_block_receipts_json(body, &answer)?)
    }

    /// The receipts of the block a request names.
    pub async fn block_receipts(&self, block: BlockRef) -> Result<Vec<VerifiedReceipt>, Error> {
        let body = self.block_with_transactions(block).await?;
        self.receipts(&body).await
    }

    /// Finds the verified body holding transaction `hash`. `None` when the node does not know
    /// the transaction or has it pending: absence cannot be proven, only presence.
    async fn body_of(&self, hash: B256) -> Result<Option<(VerifiedBody, usize)>, Error> {
        let claimed = self
            .rpc()
            .call("eth_getTransactionByHash", json!([hash]))
            .await?;
        let Some(block_hash) = claimed
            .get("blockHash")
            .and_then(|h| serde_json::from_value::<B256>(h.clone()).ok())
        else {
            return Ok(None);
        };
        let header = self.header(BlockRef::Hash(block_hash)).await?;
        let body = self.body(&header).await?;
        let index = body
            .transactions
            .iter()
            .position(|tx| tx.hash == hash)
            .ok_or_else(|| Error::NotInBlock {
                transaction: hash,
                block: block_hash,
            })?;
        Ok(Some((body, index)))
    }

    /// A transaction by hash, proven by the whole verified body of its block.
    pub async fn transaction_by_hash(
        &self,
        hash: B256,
    ) -> Result<Option<VerifiedTransaction>, Error> {
        Ok(self
            .body_of(hash)
            .await?
            .map(|(mut body, index)| body.transactions.swap_remove(index)))
    }

    /// A transaction's receipt, proven by its block's `receiptsRoot`.
    pub async fn transaction_receipt(&self, hash: B256) -> Result<Option<VerifiedReceipt>, Error> {
        let Some((body, index)) = self.body_of(hash).await? else {
            return Ok(None);
        };
        let mut receipts = self.receipts(&body).await?;
        Ok(Some(receipts.swap_remove(index)))
    }

    /// `eth_getLogs` over verified blocks: `filter` is the JSON-RPC filter object (`blockHash`
    /// or `fromBlock`/`toBlock`, at most [`MAX_LOG_RANGE`] blocks, within [`MAX_DEPTH`] of the
    /// anchor; `address`, `topics`). Blocks whose verified bloom excludes the filter are skipped;
    /// the others' bodies and receipts are fetched in one batch and verified.
    pub async fn logs(&self, filter: &Value) -> Result<Vec<VerifiedLog>, Error> {
        let bad = |reason: String| Error::Decode {
            what: "log filter",
            reason,
        };
        let select = LogFilter::from_json(filter).map_err(|e| bad(e.to_string()))?;
        let blocks: Vec<VerifiedBlock> = if let Some(hash) = filter.get("blockHash") {
            if filter.get("fromBlock").is_some() || filter.get("toBlock").is_some() {
                return Err(bad("blockHash excludes fromBlock and toBlock".into()));
            }
            let block = BlockRef::from_json(Some(hash)).map_err(bad)?;
            vec![self.header(block).await?]
        } else {
            let anchor = self.block().header.number;
            let number = |field: &str| -> Result<u64, Error> {
                match BlockRef::from_json(filter.get(field)).map_err(bad)? {
                    BlockRef::Anchor => Ok(anchor),
                    BlockRef::Number(n) => Ok(n),
                    BlockRef::Hash(_) => Err(bad(format!("{field} must be a number or tag"))),
                }
            };
            let (from, to) = (number("fromBlock")?, number("toBlock")?);
            if from > to {
                return Err(bad(format!("fromBlock {from} is after toBlock {to}")));
            }
            if to - from >= MAX_LOG_RANGE {
                return Err(out_of_range(format!(
                    "{} blocks asked for, at most {MAX_LOG_RANGE} per request",
                    to - from + 1
                )));
            }
            if to > anchor {
                return Err(out_of_range(format!(
                    "toBlock {to} is after the anchored block {anchor}"
                )));
            }
            let mut chain = self.chain_from(from).await?;
            chain.truncate((to - from + 1) as usize);
            chain
        };
        let candidates: Vec<&VerifiedBlock> = blocks
            .iter()
            .filter(|b| select.may_match(&b.header.logs_bloom))
            .collect();
        let mut calls: Vec<(&str, Value)> = Vec::with_capacity(candidates.len() * 2);
        for block in &candidates {
            calls.push(("eth_getBlockByHash", json!([block.hash, true])));
            calls.push(("eth_getBlockReceipts", json!([block.hash])));
        }
        let answers = self.rpc().batch(&calls).await?;
        let mut logs = Vec::new();
        for (block, pair) in candidates.iter().zip(answers.chunks(2)) {
            let [body, receipts] = pair else {
                return Err(Error::Decode {
                    what: "batch",
                    reason: "fewer answers than requests".into(),
                });
            };
            let body = verify_block_json(body, block.hash)?;
            let receipts = verify_block_receipts_json(&body, receipts)?;
            logs.extend(
                select
                    .select(receipts.iter().flat_map(|r| &r.logs))
                    .cloned(),
            );
        }
        Ok(logs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_references_parse() {
        let hash = B256::repeat_byte(0xab);
        assert_eq!(BlockRef::from_json(None), Ok(BlockRef::Anchor));
        assert_eq!(
            BlockRef::from_json(Some(&json!("finalized"))),
            Ok(BlockRef::Anchor)
        );
        assert_eq!(
            BlockRef::from_json(Some(&json!("earliest"))),
            Ok(BlockRef::Number(0))
        );
        assert_eq!(
            BlockRef::from_json(Some(&json!("0x1f"))),
            Ok(BlockRef::Number(31))
        );
        assert_eq!(
            BlockRef::from_json(Some(&json!(hash))),
            Ok(BlockRef::Hash(hash))
        );
        assert_eq!(
            BlockRef::from_json(Some(&json!({"blockHash": hash}))),
            Ok(BlockRef::Hash(hash))
        );
        assert_eq!(
            BlockRef::from_json(Some(&json!({"blockNumber": "0x2"}))),
            Ok(BlockRef::Number(2))
        );
        assert!(BlockRef::from_json(Some(&json!({"blockHash": "0x2"}))).is_err());
        assert!(BlockRef::from_json(Some(&json!("0xzz"))).is_err());
        assert!(BlockRef::from_json(Some(&json!(7))).is_err());
    }
}
