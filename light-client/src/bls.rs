//! BLS12-381 `FastAggregateVerify` of sync-committee signatures, with `blst`.
//!
//! Why `blst`: it is the implementation every consensus client uses (audited, constant-time), the
//! fastest available (assembly natively, portable C in wasm32), and it builds for
//! `wasm32-unknown-unknown` with clang, which `cargo xtask setup` installs. A pure-Rust
//! alternative (`bls12_381` with hash-to-curve) is about 3x slower in wasm and less reviewed.
//!
//! # Cost per committee and per update
//!
//! Decompressing and subgroup-checking a public key is the expensive part of accepting a
//! committee (512 of them per period: most of a sync's CPU time, above all in wasm). A
//! [`PreparedCommittee`] therefore decompresses keys lazily, each at most once, and aggregates
//! with whichever is cheaper:
//!
//! - the committee's `aggregate_pubkey` minus the keys of the members who did *not* sign (a few
//!   percent of the committee on mainnet), or
//! - the sum of the keys of the members who signed (the spec's literal definition), used when
//!   fewer than half signed, when the aggregate key is not a valid key, and whenever the first
//!   way does not verify.
//!
//! Trust argument: `aggregate_pubkey` sits in the same SSZ container as the member keys, under
//! the same Merkle branch, in a state signed by the previous committee, and consensus defines it
//! as the sum of the members' keys. The fallback makes this never reject a signature the spec
//! accepts; it could only accept one the spec rejects if the committee that signed the state had
//! committed to an aggregate key other than the sum of its members, which a signing majority
//! could do no more harmfully by committing to keys of its choice.
//!
//! # Batches
//!
//! Catching up fetches several updates at once. [`verify_batch`] checks their signatures together
//! (one [`SignatureCheck`] per update, from [`PreparedCommittee::check`]): `n` random linear
//! combinations share one final exponentiation and one Miller loop instead of paying two Miller
//! loops and a final exponentiation each; the benchmark's wasm sync runs 1.5-1.7x faster with it
//! (it prints the ratio). The scalars are 64 bits, derived from the caller's secret seed and every
//! input of the batch, so a server choosing the updates cannot make invalid signatures cancel out
//! (probability 2^-64 per batch, without knowing the seed). A batch that fails says nothing about which signature is
//! bad: callers check one by one then ([`crate::Store::process_updates`] does).

use std::sync::OnceLock;

use blst::min_pk::{AggregatePublicKey, PublicKey, Signature};
use blst::{BLST_ERROR, Pairing, blst_p1_affine, blst_p2_affine};
use sha2::{Digest, Sha256};

use crate::types::{SyncAggregate, SyncCommittee};

/// The proof-of-possession ciphersuite of the consensus specs.
const DST: &[u8] = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

/// A sync committee ready to verify signatures: keys are decompressed and validated (on curve,
/// in subgroup, not infinity) on first use and kept.
#[derive(Clone)]
pub struct PreparedCommittee {
    /// The committee as received (for `hash_tree_root` and equality).
    pub committee: SyncCommittee,
    /// `aggregate_pubkey`, if it is a valid key.
    aggregate: Option<PublicKey>,
    /// Member keys, decompressed on first use; `None` inside for a key that is not valid.
    keys: Vec<OnceLock<Option<PublicKey>>>,
}

impl std::fmt::Debug for PreparedCommittee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedCommittee")
            .field("members", &self.keys.len())
            .field("decompressed", &self.decompressed())
            .finish()
    }
}

/// Which aggregation a verification used (for tests and benchmarks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    /// `aggregate_pubkey` minus the non-signers.
    Subtracted,
    /// The sum of the signers' keys.
    Summed,
}

impl PreparedCommittee {
    /// Takes the committee; only its aggregate key is decompressed now.
    pub fn new(committee: SyncCommittee) -> Self {
        let aggregate = PublicKey::key_validate(committee.aggregate_pubkey.as_slice()).ok();
        let keys = committee.pubkeys.iter().map(|_| OnceLock::new()).collect();
        Self {
            committee,
            aggregate,
            keys,
        }
    }

    /// Like [`new`](Self::new), then decompresses and validates every member key now (what a
    /// caller wants before going offline, and what benchmarks measure as the eager cost).
    pub fn eager(committee: SyncCommittee) -> Self {
        let prepared = Self::new(committee);
        for index in 0..prepared.keys.len() {
            prepared.key(index);
        }
        prepared
    }

    /// How many member keys have been decompressed so far.
    pub fn decompressed(&self) -> usize {
        self.keys.iter().filter(|key| key.get().is_some()).count()
    }

    /// Member `index`'s key, decompressed and validated once; `None` if it is not a valid key.
    fn key(&self, index: usize) -> Option<&PublicKey> {
        let bytes = self.committee.pubkeys.get(index)?;
        self.keys
            .get(index)?
            .get_or_init(|| PublicKey::key_validate(bytes.as_slice()).ok())
            .as_ref()
    }

    /// `FastAggregateVerify(participants, signing_root, signature)`.
    pub fn verify(&self, aggregate: &SyncAggregate, signing_root: &[u8; 32]) -> bool {
        self.verify_with(aggregate, signing_root).is_some()
    }

    /// [`verify`](Self::verify), saying which aggregation succeeded; `None` if the signature
    /// does not verify.
    pub fn verify_with(
        &self,
        aggregate: &SyncAggregate,
        signing_root: &[u8; 32],
    ) -> Option<Aggregation> {
        let (subtract, signature) = self.signed(aggregate)?;
        if subtract
            && let Some(key) = self.subtracted_key(aggregate)
            && verifies(&signature, signing_root, &key)
        {
            return Some(Aggregation::Subtracted);
        }
        let key = self.summed_key(aggregate)?;
        verifies(&signature, signing_root, &key).then_some(Aggregation::Summed)
    }

    /// What [`verify_batch`] needs to check this committee's `aggregate` over `signing_root`:
    /// the aggregate key the first way of [`verify_with`](Self::verify_with) would try
    /// (`aggregate_pubkey` minus the non-signers, else the signers' sum). `None` where
    /// `verify_with` fails without a pairing: nobody signed, the signature does not decode, or a
    /// signer's key is invalid.
    pub fn check(
        &self,
        aggregate: &SyncAggregate,
        signing_root: &[u8; 32],
    ) -> Option<SignatureCheck> {
        let (subtract, signature) = self.signed(aggregate)?;
        let key = match subtract.then(|| self.subtracted_key(aggregate)).flatten() {
            Some(key) => key,
            None => self.summed_key(aggregate)?,
        };
        Some(SignatureCheck {
            key,
            signing_root: *signing_root,
            signature,
        })
    }

    /// Whether subtracting is worth trying (at least half the members signed), and the decoded
    /// signature; `None` if nobody signed or the signature is not a valid point.
    fn signed(&self, aggregate: &SyncAggregate) -> Option<(bool, Signature)> {
        let members = self.keys.len();
        let signers = (0..members).filter(|&index| aggregate.bit(index)).count();
        if signers == 0 {
            return None;
        }
        let signature =
            Signature::from_bytes(aggregate.sync_committee_signature.as_slice()).ok()?;
        Some((signers * 2 >= members, signature))
    }

    /// `aggregate_pubkey` minus the keys of the members whose bit is clear.
    fn subtracted_key(&self, aggregate: &SyncAggregate) -> Option<PublicKey> {
        let total = self.aggregate.as_ref()?;
        let absent = (0..self.keys.len())
            .filter(|&index| !aggregate.bit(index))
            .map(|index| self.key(index))
            .collect::<Option<Vec<&PublicKey>>>()?;
        if absent.is_empty() {
            return Some(*total);
        }
        let absent = AggregatePublicKey::aggregate(&absent, false).ok()?;
        let mut key = AggregatePublicKey::from_public_key(total);
        key.sub_aggregate(&absent);
        Some(key.to_public_key())
    }

    /// The sum of the keys of the members whose bit is set; `None` if one is not a valid key.
    fn summed_key(&self, aggregate: &SyncAggregate) -> Option<PublicKey> {
        let present = (0..self.keys.len())
            .filter(|&index| aggregate.bit(index))
            .map(|index| self.key(index))
            .collect::<Option<Vec<&PublicKey>>>()?;
        AggregatePublicKey::aggregate(&present, false)
            .ok()
            .map(|key| key.to_public_key())
    }
}

/// The pairing check, with the signature's subgroup check.
fn verifies(signature: &Signature, signing_root: &[u8; 32], key: &PublicKey) -> bool {
    signature.verify(true, signing_root, DST, &[], key, false) == BLST_ERROR::BLST_SUCCESS
}

/// One signature for [`verify_batch`]: an aggregate key, the signing root and the signature.
#[derive(Clone, Debug)]
pub struct SignatureCheck {
    key: PublicKey,
    signing_root: [u8; 32],
    signature: Signature,
}

impl SignatureCheck {
    /// This signature alone (two Miller loops and a final exponentiation).
    pub fn verify(&self) -> bool {
        verifies(&self.signature, &self.signing_root, &self.key)
    }

    fn points(&self) -> (&blst_p1_affine, &blst_p2_affine) {
        ((&self.key).into(), (&self.signature).into())
    }
}

/// Whether every signature of `checks` verifies (each with its subgroup check), checked together
/// as a random linear combination; see the [module documentation](self#batches). `seed` must be
/// secret from whoever supplied the signatures (fresh OS randomness is right). An empty batch is
/// true; a batch of one is checked alone.
pub fn verify_batch(checks: &[SignatureCheck], seed: &[u8; 32]) -> bool {
    match checks {
        [] => true,
        [one] => one.verify(),
        [first, rest @ ..] => {
            // The first signature's scalar is 1 (fixing one scalar keeps the 2^-64 bound and
            // saves its two scalar multiplications); the others get random 64-bit scalars.
            let mut pairing = Pairing::new(true, DST);
            let (key, signature) = first.points();
            if pairing.aggregate(key, false, signature, true, &first.signing_root, &[])
                != BLST_ERROR::BLST_SUCCESS
            {
                return false;
            }
            for (check, scalar) in rest.iter().zip(batch_scalars(checks, seed)) {
                let (key, signature) = check.points();
                if pairing.mul_n_aggregate(
                    key,
                    false,
                    signature,
                    true,
                    &scalar,
                    64,
                    &check.signing_root,
                    &[],
                ) != BLST_ERROR::BLST_SUCCESS
                {
                    return false;
                }
            }
            pairing.commit();
            pairing.finalverify(None)
        }
    }
}

/// Nonzero 64-bit scalars (little-endian bytes), one for each check after the first:
/// `SHA-256(transcript ‖ i)` truncated, where the transcript hashes the seed and every key, root
/// and signature of the batch.
fn batch_scalars(checks: &[SignatureCheck], seed: &[u8; 32]) -> Vec<[u8; 8]> {
    let mut transcript = Sha256::new();
    transcript.update(b"cairn light-client BLS batch v1");
    transcript.update(seed);
    for check in checks {
        transcript.update(check.key.compress());
        transcript.update(check.signing_root);
        transcript.update(check.signature.compress());
    }
    let transcript = transcript.finalize();
    (1..checks.len() as u64)
        .map(|index| {
            let digest = Sha256::new()
                .chain_update(transcript)
                .chain_update(index.to_le_bytes())
                .finalize();
            let mut scalar = [0u8; 8];
            scalar.copy_from_slice(&digest[..8]);
            if scalar == [0; 8] {
                scalar[0] = 1;
            }
            scalar
        })
        .collect()
}
