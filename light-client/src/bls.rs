//! BLS12-381 `FastAggregateVerify` of sync-committee signatures, with `blst`.
//!
//! Why `blst`: it is the implementation every consensus client uses (audited, constant-time), the
//! fastest available (assembly natively, portable C in wasm32), and it builds for
//! `wasm32-unknown-unknown` with clang, which `cargo xtask setup` installs. A pure-Rust
//! alternative (`bls12_381` with hash-to-curve) is about 3x slower in wasm and less reviewed.
//!
//! Public keys of a committee are decompressed and subgroup-checked once, when the committee is
//! accepted ([`PreparedCommittee`]); each update then costs one aggregation of points and one
//! pairing check.

use blst::BLST_ERROR;
use blst::min_pk::{AggregatePublicKey, PublicKey, Signature};

use crate::error::SyncError;
use crate::types::{SyncAggregate, SyncCommittee};

/// The proof-of-possession ciphersuite of the consensus specs.
const DST: &[u8] = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

/// A sync committee with its public keys decompressed and validated.
#[derive(Clone)]
pub struct PreparedCommittee {
    /// The committee as received (for `hash_tree_root` and equality).
    pub committee: SyncCommittee,
    keys: Vec<PublicKey>,
}

impl std::fmt::Debug for PreparedCommittee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedCommittee")
            .field("members", &self.keys.len())
            .finish()
    }
}

impl PreparedCommittee {
    /// Decompresses and validates (on curve, in subgroup, not infinity) every public key.
    pub fn new(committee: SyncCommittee) -> Result<Self, SyncError> {
        let keys = committee
            .pubkeys
            .iter()
            .map(|bytes| {
                PublicKey::key_validate(bytes.as_slice())
                    .map_err(|_| SyncError::BlsEncoding("sync committee public key"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { committee, keys })
    }

    /// `FastAggregateVerify(participants, signing_root, signature)`.
    pub fn verify(&self, aggregate: &SyncAggregate, signing_root: &[u8; 32]) -> bool {
        let participants: Vec<&PublicKey> = self
            .keys
            .iter()
            .enumerate()
            .filter(|(index, _)| aggregate.bit(*index))
            .map(|(_, key)| key)
            .collect();
        if participants.is_empty() {
            return false;
        }
        let Ok(aggregate_key) = AggregatePublicKey::aggregate(&participants, false) else {
            return false;
        };
        let Ok(signature) = Signature::from_bytes(aggregate.sync_committee_signature.as_slice())
        else {
            return false;
        };
        signature.verify(
            true,
            signing_root,
            DST,
            &[],
            &aggregate_key.to_public_key(),
            false,
        ) == BLST_ERROR::BLST_SUCCESS
    }
}
