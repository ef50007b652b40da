//! Execution-layer verification against a trusted state root: `eth_getProof` account and
//! storage proofs (Merkle-Patricia, via `alloy-trie`), and code checked against the proven code
//! hash.

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_rlp::Encodable;
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, Nibbles, TrieAccount, proof::verify_proof};
use serde::{Deserialize, Serialize};

use crate::error::{DecodeError, ExecutionError};

/// One storage entry of an `eth_getProof` answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct StorageProof {
    /// The storage key as requested (any length up to 32 bytes, left-padded).
    pub key: U256,
    /// The claimed value.
    pub value: U256,
    /// Trie nodes from the storage root to the value.
    pub proof: Vec<Bytes>,
}

/// Checks that `proof` shows `value` in the storage slot `key` under `storage_root`.
///
/// A zero value is proven by the slot's absence, as Ethereum's tries delete a cleared slot, or by
/// a leaf holding the RLP of 0 (`0x80`), which some nodes' tries keep after a slot is cleared
/// (anvil's, after a contract sets a slot back to 0): the root commits to either, and both say
/// the slot holds 0. Any other value must be the leaf's, exactly.
fn verify_slot(
    storage_root: B256,
    key: B256,
    value: U256,
    proof: &[Bytes],
) -> Result<(), alloy_trie::proof::ProofVerificationError> {
    let path = Nibbles::unpack(keccak256(key));
    let mut encoded = Vec::new();
    value.encode(&mut encoded);
    if !value.is_zero() {
        return verify_proof(storage_root, path, Some(encoded), proof);
    }
    verify_empty(storage_root, path, encoded, proof)
}

/// Checks that `proof` shows the entry at `path` under `root` empty: absent, or a leaf holding
/// `empty_leaf` (the encoding of the empty value), which some tries keep. Fails with the
/// absence proof's error.
fn verify_empty(
    root: B256,
    path: Nibbles,
    empty_leaf: Vec<u8>,
    proof: &[Bytes],
) -> Result<(), alloy_trie::proof::ProofVerificationError> {
    verify_proof(root, path, None, proof)
        .or_else(|absent| verify_proof(root, path, Some(empty_leaf), proof).map_err(|_| absent))
}

/// An `eth_getProof` answer (`EIP-1186`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountProof {
    /// The account.
    pub address: Address,
    /// Claimed balance.
    pub balance: U256,
    /// Claimed code hash.
    pub code_hash: B256,
    /// Claimed nonce.
    pub nonce: U256,
    /// Claimed storage root.
    pub storage_hash: B256,
    /// Trie nodes from the state root to the account.
    pub account_proof: Vec<Bytes>,
    /// The storage slots asked for.
    #[serde(default)]
    pub storage_proof: Vec<StorageProof>,
}

/// An account whose every field was proven against a state root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifiedAccount {
    /// The account.
    pub address: Address,
    /// Its nonce.
    pub nonce: u64,
    /// Its balance (wei).
    pub balance: U256,
    /// Its code hash.
    pub code_hash: B256,
    /// Its storage root.
    pub storage_hash: B256,
    /// The proven storage slots, in request order.
    pub storage: Vec<VerifiedSlot>,
}

/// A storage slot proven against its account's storage root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifiedSlot {
    /// The 32-byte storage key.
    pub key: B256,
    /// The value.
    pub value: U256,
}

impl AccountProof {
    /// Decodes an `eth_getProof` result (the bare result object or a JSON-RPC envelope).
    pub fn from_json(json: &str) -> Result<Self, DecodeError> {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| DecodeError::Json {
                what: "eth_getProof result",
                reason: e.to_string(),
            })?;
        let value = match value.get("result") {
            Some(result) => result.clone(),
            None => value,
        };
        serde_json::from_value(value).map_err(|e| DecodeError::Json {
            what: "eth_getProof result",
            reason: e.to_string(),
        })
    }

    /// Verifies the account against `state_root` and every storage slot against the proven
    /// storage root. An empty account (no nonce, balance, code or storage) is proven by its
    /// absence, as EIP-161 removes empty accounts that are touched, or by a leaf holding it, as
    /// empty accounts made before EIP-161 still have on mainnet, and as anvil keeps.
    pub fn verify(&self, state_root: B256) -> Result<VerifiedAccount, ExecutionError> {
        let nonce: u64 = self
            .nonce
            .try_into()
            .map_err(|_| ExecutionError::AccountProof {
                address: self.address,
                state_root,
                reason: "nonce exceeds 64 bits".into(),
            })?;
        let account = TrieAccount {
            nonce,
            balance: self.balance,
            storage_root: self.storage_hash,
            code_hash: self.code_hash,
        };
        let is_empty = nonce == 0
            && self.balance.is_zero()
            && self.storage_hash == EMPTY_ROOT_HASH
            && (self.code_hash == KECCAK_EMPTY || self.code_hash.is_zero());
        let key = Nibbles::unpack(keccak256(self.address));
        let leaf = |account: TrieAccount| {
            let mut encoded = Vec::new();
            account.encode(&mut encoded);
            encoded
        };
        let proven = if is_empty {
            // As a leaf, an empty account's code hash is the empty code's (some nodes say 0 for
            // an account they do not have).
            let empty = leaf(TrieAccount {
                code_hash: KECCAK_EMPTY,
                ..account
            });
            verify_empty(state_root, key, empty, &self.account_proof)
        } else {
            verify_proof(state_root, key, Some(leaf(account)), &self.account_proof)
        };
        proven.map_err(|e| ExecutionError::AccountProof {
            address: self.address,
            state_root,
            reason: e.to_string(),
        })?;
        let storage = self
            .storage_proof
            .iter()
            .map(|slot| {
                let key = B256::from(slot.key);
                verify_slot(self.storage_hash, key, slot.value, &slot.proof).map_err(|e| {
                    ExecutionError::StorageProof {
                        address: self.address,
                        slot: key,
                        storage_root: self.storage_hash,
                        reason: e.to_string(),
                    }
                })?;
                Ok(VerifiedSlot {
                    key,
                    value: slot.value,
                })
            })
            .collect::<Result<Vec<_>, ExecutionError>>()?;
        Ok(VerifiedAccount {
            address: self.address,
            nonce,
            balance: self.balance,
            code_hash: if is_empty {
                KECCAK_EMPTY
            } else {
                self.code_hash
            },
            storage_hash: self.storage_hash,
            storage,
        })
    }
}

/// Checks bytecode against an account's verified code hash.
pub fn verify_code(account: &VerifiedAccount, code: &[u8]) -> Result<(), ExecutionError> {
    let got = keccak256(code);
    if got != account.code_hash {
        return Err(ExecutionError::CodeHash {
            address: account.address,
            expected: account.code_hash,
            got,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use alloy_trie::HashBuilder;
    use alloy_trie::proof::ProofRetainer;

    use super::*;

    /// A trie holding `entries` (keys hashed, as in the state and storage tries) as raw leaf
    /// values: its root, and each entry's proof.
    fn trie<K: AsRef<[u8]>>(entries: &[(K, Vec<u8>)]) -> (B256, Vec<Vec<Bytes>>) {
        let mut leaves: Vec<(Nibbles, &[u8])> = entries
            .iter()
            .map(|(key, value)| (Nibbles::unpack(keccak256(key)), value.as_slice()))
            .collect();
        leaves.sort_by_key(|leaf| leaf.0);
        let targets: Vec<Nibbles> = leaves.iter().map(|(path, _)| *path).collect();
        let mut builder = HashBuilder::default().with_proof_retainer(ProofRetainer::new(targets));
        for (path, value) in &leaves {
            builder.add_leaf(*path, value);
        }
        let root = builder.root();
        let nodes = builder.take_proof_nodes();
        let proofs = entries
            .iter()
            .map(|(key, _)| {
                nodes
                    .matching_nodes_sorted(&Nibbles::unpack(keccak256(key)))
                    .into_iter()
                    .map(|(_, node)| node)
                    .collect()
            })
            .collect();
        (root, proofs)
    }

    #[test]
    fn a_cleared_slot_is_zero_whether_the_trie_dropped_it_or_kept_a_zero_leaf() {
        let kept_zero = B256::repeat_byte(1);
        let seven = B256::repeat_byte(2);
        let absent = B256::repeat_byte(3);
        let (root, proofs) = trie(&[
            (kept_zero, vec![0x80]),
            (seven, alloy_rlp::encode(U256::from(7))),
        ]);
        // A leaf holding RLP(0), as anvil keeps after a slot is set back to 0: the value is 0.
        verify_slot(root, kept_zero, U256::ZERO, &proofs[0]).unwrap();
        // ...and nothing else.
        assert!(verify_slot(root, kept_zero, U256::from(1), &proofs[0]).is_err());
        // A slot with a value: exactly that value.
        verify_slot(root, seven, U256::from(7), &proofs[1]).unwrap();
        assert!(verify_slot(root, seven, U256::ZERO, &proofs[1]).is_err());
        assert!(verify_slot(root, seven, U256::from(8), &proofs[1]).is_err());
        // A slot the trie does not hold is 0, proven by its absence (here, the proof of a
        // neighbour that shows the path ends elsewhere).
        let (root, proofs) = trie(&[(seven, alloy_rlp::encode(U256::from(7)))]);
        verify_slot(root, absent, U256::ZERO, &proofs[0]).unwrap();
        assert!(verify_slot(root, absent, U256::from(7), &proofs[0]).is_err());
    }

    #[test]
    fn an_empty_account_is_empty_whether_the_trie_dropped_it_or_kept_a_leaf() {
        let empty = Address::repeat_byte(1);
        let funded = Address::repeat_byte(2);
        let account = |balance: u64| TrieAccount {
            nonce: 0,
            balance: U256::from(balance),
            storage_root: EMPTY_ROOT_HASH,
            code_hash: KECCAK_EMPTY,
        };
        let (root, proofs) = trie(&[
            (empty, alloy_rlp::encode(account(0))),
            (funded, alloy_rlp::encode(account(5))),
        ]);
        let claim = |address, balance: u64, code_hash, proof: &Vec<Bytes>| AccountProof {
            address,
            balance: U256::from(balance),
            code_hash,
            nonce: U256::ZERO,
            storage_hash: EMPTY_ROOT_HASH,
            account_proof: proof.clone(),
            storage_proof: Vec::new(),
        };
        // A leaf holding an empty account, claimed with either code hash a node may give.
        claim(empty, 0, KECCAK_EMPTY, &proofs[0])
            .verify(root)
            .unwrap();
        claim(empty, 0, B256::ZERO, &proofs[0])
            .verify(root)
            .unwrap();
        // ...and nothing else.
        assert!(
            claim(empty, 1, KECCAK_EMPTY, &proofs[0])
                .verify(root)
                .is_err()
        );
        claim(funded, 5, KECCAK_EMPTY, &proofs[1])
            .verify(root)
            .unwrap();
        assert!(
            claim(funded, 0, KECCAK_EMPTY, &proofs[1])
                .verify(root)
                .is_err()
        );
        // An account the trie does not hold is empty, proven by its absence.
        let (root, proofs) = trie(&[(funded, alloy_rlp::encode(account(5)))]);
        claim(empty, 0, B256::ZERO, &proofs[0])
            .verify(root)
            .unwrap();
        assert!(
            claim(empty, 3, B256::ZERO, &proofs[0])
                .verify(root)
                .is_err()
        );
    }
}
