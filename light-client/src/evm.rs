//! `eth_call` / `eth_estimateGas` re-executed locally with revm over state proven against a
//! verified block (accounts and storage from `eth_getProof`, code checked against its hash).
//!
//! Execution never reads anything unproven. When it touches an account, a storage slot or code
//! that has not been supplied yet, the database answers with a placeholder and records what was
//! missing; the run is then reported as [`CallError::Missing`] so the caller fetches exactly that
//! (with proofs) and runs again. One discovery pass usually finds everything at once, so a call
//! costs two round trips (access list, then proofs) and rarely a third.

use std::collections::{BTreeSet, HashMap};
use std::convert::Infallible;

use alloy_consensus::Header;
use alloy_primitives::{Address, B256, Bytes, U256};
use revm::context::result::{ExecutionResult, Output};
use revm::context::{BlockEnv, CfgEnv, Context, TxEnv};
use revm::context_interface::block::BlobExcessGasAndPrice;
use revm::primitives::TxKind;
use revm::primitives::hardfork::SpecId;
use revm::state::{AccountInfo, Bytecode};
use revm::{Database, ExecuteEvm, MainBuilder, MainContext};

use crate::error::ExecutionError;
use crate::execution::{VerifiedAccount, verify_code};

/// Something execution needed that the verified state does not hold yet.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Missing {
    /// An account (its proof).
    Account(Address),
    /// A storage slot of an account whose proof is known.
    Storage(Address, B256),
    /// The code of an account whose code hash is known.
    Code(Address),
    /// The hash of an earlier block (`BLOCKHASH`).
    BlockHash(u64),
}

/// Why a verified call could not produce a result.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallError {
    /// Execution needs more proven state: fetch it and run again.
    #[error("execution needs {} more proven items", .0.len())]
    Missing(Vec<Missing>),
    /// revm rejected the call itself (e.g. gas limit, invalid transaction).
    #[error("revm rejected the call: {0}")]
    Evm(String),
    /// Supplied state did not verify.
    #[error(transparent)]
    Verification(#[from] ExecutionError),
}

/// The outcome of a call that ran entirely over proven state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome {
    /// Returned normally.
    Success {
        /// Return data.
        output: Bytes,
        /// Gas used.
        gas_used: u64,
    },
    /// Reverted (`REVERT`).
    Revert {
        /// Revert data.
        output: Bytes,
        /// Gas used.
        gas_used: u64,
    },
    /// Halted (out of gas, invalid opcode, ...).
    Halt {
        /// The reason, for messages.
        reason: String,
        /// Gas used.
        gas_used: u64,
    },
}

/// An `eth_call` request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallRequest {
    /// Sender (zero address if absent).
    pub from: Option<Address>,
    /// Callee (`None`: contract creation).
    pub to: Option<Address>,
    /// Calldata.
    pub data: Bytes,
    /// Value sent.
    pub value: U256,
    /// Gas limit (the block's if absent).
    pub gas: Option<u64>,
}

#[derive(Debug, Clone)]
struct ProvenAccount {
    account: VerifiedAccount,
    storage: HashMap<B256, U256>,
    code: Option<Bytecode>,
}

/// State proven against one block's state root: the database revm runs on.
#[derive(Debug, Clone)]
pub struct VerifiedState {
    state_root: B256,
    accounts: HashMap<Address, ProvenAccount>,
    block_hashes: HashMap<u64, B256>,
}

impl VerifiedState {
    /// Empty state for a block whose state root is trusted.
    pub fn new(state_root: B256) -> Self {
        Self {
            state_root,
            accounts: HashMap::new(),
            block_hashes: HashMap::new(),
        }
    }

    /// The state root everything here was proven against.
    pub fn state_root(&self) -> B256 {
        self.state_root
    }

    /// Adds an `eth_getProof` answer after verifying it against the state root.
    pub fn add_proof(
        &mut self,
        proof: &crate::execution::AccountProof,
    ) -> Result<(), ExecutionError> {
        let verified = proof.verify(self.state_root)?;
        let entry = self
            .accounts
            .entry(verified.address)
            .or_insert_with(|| ProvenAccount {
                account: verified.clone(),
                storage: HashMap::new(),
                code: None,
            });
        entry.account = VerifiedAccount {
            storage: Vec::new(),
            ..verified.clone()
        };
        for slot in verified.storage {
            entry.storage.insert(slot.key, slot.value);
        }
        Ok(())
    }

    /// Adds an account's code after checking it against the proven code hash.
    pub fn add_code(&mut self, address: Address, code: Bytes) -> Result<(), ExecutionError> {
        let Some(entry) = self.accounts.get_mut(&address) else {
            return Err(ExecutionError::CodeHash {
                address,
                expected: B256::ZERO,
                got: alloy_primitives::keccak256(&code),
            });
        };
        verify_code(&entry.account, &code)?;
        entry.code = Some(Bytecode::new_raw(code));
        Ok(())
    }

    /// Adds the hash of an earlier block, already verified by the caller (parent-hash walk).
    pub fn add_block_hash(&mut self, number: u64, hash: B256) {
        self.block_hashes.insert(number, hash);
    }

    /// The proven account, if supplied.
    pub fn account(&self, address: &Address) -> Option<&VerifiedAccount> {
        self.accounts.get(address).map(|a| &a.account)
    }

    /// Whether the account's code is needed and not yet supplied.
    pub fn needs_code(&self, address: &Address) -> bool {
        self.accounts.get(address).is_some_and(|a| {
            a.code.is_none() && a.account.code_hash != revm::primitives::KECCAK_EMPTY
        })
    }
}

/// The database view of one run: answers from proven state, records what is missing.
struct Run<'a> {
    state: &'a VerifiedState,
    missing: BTreeSet<Missing>,
}

impl Database for Run<'_> {
    type Error = Infallible;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, Infallible> {
        let Some(proven) = self.state.accounts.get(&address) else {
            self.missing.insert(Missing::Account(address));
            return Ok(None);
        };
        let account = &proven.account;
        if account.nonce == 0
            && account.balance.is_zero()
            && account.code_hash == revm::primitives::KECCAK_EMPTY
        {
            return Ok(None);
        }
        let code = match &proven.code {
            Some(code) => Some(code.clone()),
            None if account.code_hash == revm::primitives::KECCAK_EMPTY => {
                Some(Bytecode::default())
            }
            None => {
                self.missing.insert(Missing::Code(address));
                Some(Bytecode::default())
            }
        };
        Ok(Some(AccountInfo {
            balance: account.balance,
            nonce: account.nonce,
            code_hash: if code.as_ref().is_some_and(|c| c.is_empty())
                && account.code_hash != revm::primitives::KECCAK_EMPTY
            {
                revm::primitives::KECCAK_EMPTY
            } else {
                account.code_hash
            },
            code,
            ..AccountInfo::default()
        }))
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, Infallible> {
        let found = self
            .state
            .accounts
            .values()
            .find(|a| a.account.code_hash == code_hash)
            .and_then(|a| a.code.clone());
        Ok(found.unwrap_or_default())
    }

    fn storage(&mut self, address: Address, index: U256) -> Result<U256, Infallible> {
        let key = B256::from(index);
        match self.state.accounts.get(&address) {
            Some(proven) => match proven.storage.get(&key) {
                Some(value) => Ok(*value),
                None => {
                    self.missing.insert(Missing::Storage(address, key));
                    Ok(U256::ZERO)
                }
            },
            None => {
                self.missing.insert(Missing::Account(address));
                Ok(U256::ZERO)
            }
        }
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, Infallible> {
        match self.state.block_hashes.get(&number) {
            Some(hash) => Ok(*hash),
            None => {
                self.missing.insert(Missing::BlockHash(number));
                Ok(B256::ZERO)
            }
        }
    }
}

/// The hard fork a header belongs to, from the fields it carries.
pub fn spec_of(header: &Header) -> SpecId {
    if header.requests_hash.is_some() {
        SpecId::PRAGUE
    } else if header.blob_gas_used.is_some() {
        SpecId::CANCUN
    } else if header.withdrawals_root.is_some() {
        SpecId::SHANGHAI
    } else if header.base_fee_per_gas.is_some() {
        SpecId::LONDON
    } else {
        SpecId::BERLIN
    }
}

/// Runs `request` on top of `header`'s state (eth_call semantics: no fee, no balance or nonce
/// checks), reading only `state`.
pub fn call(
    state: &VerifiedState,
    header: &Header,
    chain_id: u64,
    request: &CallRequest,
) -> Result<CallOutcome, CallError> {
    let spec = spec_of(header);
    let mut cfg = CfgEnv::new_with_spec(spec);
    cfg.chain_id = chain_id;
    cfg.disable_nonce_check = true;
    cfg.disable_balance_check = true;
    cfg.disable_base_fee = true;
    cfg.disable_eip3607 = true;
    cfg.disable_block_gas_limit = true;
    cfg.disable_fee_charge = true;
    let block = BlockEnv {
        number: U256::from(header.number),
        beneficiary: header.beneficiary,
        timestamp: U256::from(header.timestamp),
        gas_limit: header.gas_limit,
        basefee: header.base_fee_per_gas.unwrap_or_default(),
        difficulty: header.difficulty,
        prevrandao: Some(header.mix_hash),
        blob_excess_gas_and_price: header
            .excess_blob_gas
            .map(|excess| BlobExcessGasAndPrice::new_with_spec(excess, spec)),
        ..BlockEnv::default()
    };
    let tx = TxEnv {
        caller: request.from.unwrap_or_default(),
        gas_limit: request.gas.unwrap_or(header.gas_limit),
        gas_price: 0,
        kind: match request.to {
            Some(to) => TxKind::Call(to),
            None => TxKind::Create,
        },
        value: request.value,
        data: request.data.clone(),
        chain_id: Some(chain_id),
        ..TxEnv::default()
    };
    let run = Run {
        state,
        missing: BTreeSet::new(),
    };
    let mut evm = Context::mainnet()
        .with_db(run)
        .with_block(block)
        .with_cfg(cfg)
        .build_mainnet();
    let result = evm.transact(tx);
    let missing = std::mem::take(&mut evm.ctx.journaled_state.database.missing);
    if !missing.is_empty() {
        return Err(CallError::Missing(missing.into_iter().collect()));
    }
    let result = result.map_err(|e| CallError::Evm(format!("{e:?}")))?.result;
    let gas_used = result.tx_gas_used();
    Ok(match result {
        ExecutionResult::Success { output, .. } => CallOutcome::Success {
            output: match output {
                Output::Call(bytes) => bytes,
                Output::Create(bytes, _) => bytes,
            },
            gas_used,
        },
        ExecutionResult::Revert { output, .. } => CallOutcome::Revert { output, gas_used },
        ExecutionResult::Halt { reason, .. } => CallOutcome::Halt {
            reason: format!("{reason:?}"),
            gas_used,
        },
    })
}
