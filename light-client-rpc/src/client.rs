//! Execution-only mode: everything is proven against one trusted block (its hash anchors the
//! header, the header's state root anchors accounts, storage and code; its parent hash anchors
//! the ancestors whose bodies, receipts and logs `blocks` verifies).

use std::collections::{BTreeMap, BTreeSet};

use alloy_primitives::{Address, B256, Bytes};
use light_client::ExecutionError;
use light_client::evm::{self, CallError, CallOutcome, CallRequest, Missing, VerifiedState};
use light_client::execution::{AccountProof, VerifiedAccount};
use light_client::header::{VerifiedBlock, verify_header_json};
use serde_json::{Value, json};

use crate::rpc::{Rpc, RpcError};

/// Rounds of "fetch what execution was missing, run again" before giving up: the access list
/// normally makes the first run complete; each further round adds what the previous run touched.
const MAX_CALL_ROUNDS: usize = 6;
/// How far back `BLOCKHASH` may look (the EVM's own limit).
const BLOCKHASH_WINDOW: u64 = 256;

/// Why a verified answer could not be given.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The node could not be reached or answered with an error.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// The node's answer did not verify: it is wrong or forged.
    #[error("unverifiable answer: {0}")]
    Verification(#[from] ExecutionError),
    /// The node's answer was not of the expected shape.
    #[error("{what}: malformed answer: {reason}")]
    Decode {
        /// What was being read.
        what: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// Re-execution failed.
    #[error("verified execution failed: {0}")]
    Call(#[from] CallError),
    /// Execution kept touching new state.
    #[error("execution still needed unproven state after {MAX_CALL_ROUNDS} rounds of proofs")]
    TooManyRounds,
    /// The block asked for is outside what can be verified from the anchor (after it, too deep
    /// below it, not its ancestor) or the range is too long.
    #[error("out of the verified range: {0}")]
    OutOfRange(String),
    /// The node placed a transaction in a block whose verified body does not hold it.
    #[error("unverifiable answer: transaction {transaction} is not in block {block}")]
    NotInBlock {
        /// The transaction.
        transaction: B256,
        /// The block the node named.
        block: B256,
    },
}

/// A client pinned to one trusted execution block.
#[derive(Debug, Clone)]
pub struct ExecutionClient {
    rpc: Rpc,
    chain_id: u64,
    block: VerifiedBlock,
}

fn decode<T: serde::de::DeserializeOwned>(value: Value, what: &'static str) -> Result<T, Error> {
    serde_json::from_value(value).map_err(|e| Error::Decode {
        what,
        reason: e.to_string(),
    })
}

impl ExecutionClient {
    /// Fetches the header of `block_hash` and checks it hashes to it. `chain_id` is the chain's
    /// configured id (what `CHAINID` returns; not something a node can prove).
    pub async fn anchor(rpc: Rpc, block_hash: B256, chain_id: u64) -> Result<Self, Error> {
        let block = rpc
            .call("eth_getBlockByHash", json!([block_hash, false]))
            .await?;
        if block.is_null() {
            return Err(Error::Decode {
                what: "eth_getBlockByHash",
                reason: format!("the node does not know block {block_hash}"),
            });
        }
        let block = verify_header_json(&block, block_hash)?;
        Ok(Self {
            rpc,
            chain_id,
            block,
        })
    }

    /// The trusted block.
    pub fn block(&self) -> &VerifiedBlock {
        &self.block
    }

    /// The endpoint.
    pub(crate) fn rpc(&self) -> &Rpc {
        &self.rpc
    }

    /// The configured chain id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    fn block_id(&self) -> Value {
        json!({ "blockHash": self.block.hash })
    }

    /// The `count` blocks before the trusted one, newest first, each trusted because its hash is
    /// its child's `parentHash`.
    pub async fn ancestors(&self, count: usize) -> Result<Vec<VerifiedBlock>, Error> {
        let mut verified: Vec<VerifiedBlock> = Vec::with_capacity(count);
        let mut expected = self.block.header.parent_hash;
        for _ in 0..count {
            if self.block.header.number == 0 || expected.is_zero() {
                break;
            }
            let block = self
                .rpc
                .call("eth_getBlockByHash", json!([expected, false]))
                .await?;
            let block = verify_header_json(&block, expected)?;
            expected = block.header.parent_hash;
            let at_genesis = block.header.number == 0;
            verified.push(block);
            if at_genesis {
                break;
            }
        }
        Ok(verified)
    }

    /// An account with the given storage slots, proven against the trusted state root.
    pub async fn account(
        &self,
        address: Address,
        slots: &[B256],
    ) -> Result<VerifiedAccount, Error> {
        let answer = self
            .rpc
            .call("eth_getProof", json!([address, slots, self.block_id()]))
            .await?;
        let proof: AccountProof = decode(answer, "eth_getProof")?;
        if proof.address != address {
            return Err(Error::Decode {
                what: "eth_getProof",
                reason: format!("asked for {address}, got {}", proof.address),
            });
        }
        Ok(proof.verify(self.block.header.state_root)?)
    }

    /// An account's code, checked against its proven code hash.
    pub async fn code(&self, address: Address) -> Result<Bytes, Error> {
        let mut state = VerifiedState::new(self.block.header.state_root);
        self.fetch(&mut state, &BTreeMap::from([(address, BTreeSet::new())]))
            .await?;
        let account = state.account(&address).ok_or(Error::Decode {
            what: "eth_getProof",
            reason: "no account".into(),
        })?;
        if account.code_hash == light_client_empty_code_hash() {
            return Ok(Bytes::new());
        }
        let answer = self
            .rpc
            .call("eth_getCode", json!([address, self.block_id()]))
            .await?;
        let code: Bytes = decode(answer, "eth_getCode")?;
        light_client::execution::verify_code(account, &code)?;
        Ok(code)
    }

    /// Fetches proofs (and code) for `wanted` in one batch and adds them to `state`.
    async fn fetch(
        &self,
        state: &mut VerifiedState,
        wanted: &BTreeMap<Address, BTreeSet<B256>>,
    ) -> Result<(), Error> {
        let mut calls: Vec<(&str, Value)> = Vec::new();
        for (address, slots) in wanted {
            let slots: Vec<&B256> = slots.iter().collect();
            calls.push(("eth_getProof", json!([address, slots, self.block_id()])));
            calls.push(("eth_getCode", json!([address, self.block_id()])));
        }
        let answers = self.rpc.batch(&calls).await?;
        let mut answers = answers.into_iter();
        for address in wanted.keys() {
            let (Some(proof), Some(code)) = (answers.next(), answers.next()) else {
                return Err(Error::Decode {
                    what: "batch",
                    reason: "fewer answers than requests".into(),
                });
            };
            let proof: AccountProof = decode(proof, "eth_getProof")?;
            if proof.address != *address {
                return Err(Error::Decode {
                    what: "eth_getProof",
                    reason: format!("asked for {address}, got {}", proof.address),
                });
            }
            state.add_proof(&proof)?;
            let code: Bytes = decode(code, "eth_getCode")?;
            if state.needs_code(address) || !code.is_empty() {
                state.add_code(*address, code)?;
            }
        }
        Ok(())
    }

    /// `eth_call` re-executed locally over proven state: round trip 1 asks the node for the
    /// access list, round trip 2 fetches every proof and code in one batch; more rounds happen
    /// only if execution touched state the access list did not name.
    pub async fn call(&self, request: &CallRequest) -> Result<CallOutcome, Error> {
        let mut wanted: BTreeMap<Address, BTreeSet<B256>> = BTreeMap::new();
        wanted.entry(request.from.unwrap_or_default()).or_default();
        if let Some(to) = request.to {
            wanted.entry(to).or_default();
        }
        // The access list is a hint from an untrusted node: it only decides what to fetch.
        let mut tx = json!({ "from": request.from.unwrap_or_default(), "data": request.data });
        if let Some(to) = request.to {
            tx["to"] = json!(to);
        }
        if let Ok(answer) = self
            .rpc
            .call("eth_createAccessList", json!([tx, self.block_id()]))
            .await
            && let Some(list) = answer.get("accessList").and_then(Value::as_array)
        {
            for item in list {
                let Some(address) = item
                    .get("address")
                    .and_then(|a| serde_json::from_value::<Address>(a.clone()).ok())
                else {
                    continue;
                };
                let keys = item
                    .get("storageKeys")
                    .and_then(|k| serde_json::from_value::<Vec<B256>>(k.clone()).ok())
                    .unwrap_or_default();
                wanted.entry(address).or_default().extend(keys);
            }
        }
        let mut state = VerifiedState::new(self.block.header.state_root);
        let mut fetched: BTreeMap<Address, BTreeSet<B256>> = BTreeMap::new();
        for _ in 0..MAX_CALL_ROUNDS {
            let mut round: BTreeMap<Address, BTreeSet<B256>> = BTreeMap::new();
            for (address, slots) in &wanted {
                let have = fetched.get(address);
                let new: BTreeSet<B256> = slots
                    .iter()
                    .filter(|s| !have.is_some_and(|h| h.contains(*s)))
                    .copied()
                    .collect();
                if have.is_none() || !new.is_empty() {
                    round.insert(*address, new);
                }
            }
            if !round.is_empty() {
                self.fetch(&mut state, &round).await?;
                for (address, slots) in round {
                    fetched.entry(address).or_default().extend(slots);
                }
            }
            match evm::call(&state, &self.block.header, self.chain_id, request) {
                Ok(outcome) => return Ok(outcome),
                Err(CallError::Missing(missing)) => {
                    let mut progress = false;
                    for item in missing {
                        match item {
                            Missing::Account(address) | Missing::Code(address) => {
                                progress |= !fetched.contains_key(&address);
                                wanted.entry(address).or_default();
                            }
                            Missing::Storage(address, slot) => {
                                progress |=
                                    !fetched.get(&address).is_some_and(|s| s.contains(&slot));
                                wanted.entry(address).or_default().insert(slot);
                            }
                            Missing::BlockHash(number) => {
                                self.add_block_hash(&mut state, number).await?;
                                progress = true;
                            }
                        }
                    }
                    if !progress {
                        return Err(Error::TooManyRounds);
                    }
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(Error::TooManyRounds)
    }

    async fn add_block_hash(&self, state: &mut VerifiedState, number: u64) -> Result<(), Error> {
        let anchor = self.block.header.number;
        if number >= anchor || anchor - number > BLOCKHASH_WINDOW {
            // The EVM answers zero outside the window; revm does not ask then.
            state.add_block_hash(number, B256::ZERO);
            return Ok(());
        }
        let depth = (anchor - number) as usize;
        let ancestors = self.ancestors(depth).await?;
        for block in ancestors {
            state.add_block_hash(block.header.number, block.hash);
        }
        Ok(())
    }
}

fn light_client_empty_code_hash() -> B256 {
    alloy_primitives::keccak256([])
}
