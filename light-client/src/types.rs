//! The light-client containers of the consensus specs (Capella and later), their SSZ decoding
//! (fork-aware: the execution payload header grows at Deneb, state branches deepen at Electra) and
//! their `hash_tree_root`.
//!
//! One Rust type serves every fork: the fork an object was encoded for is an argument of its
//! decoder, and roots are computed for the fork of the header's own slot, as the spec's
//! `get_lc_execution_root` does.

use alloy_primitives::{Address, B256, FixedBytes, U256};

use crate::config::{ChainConfig, Fork};
use crate::error::DecodeError;
use crate::ssz::{
    Container, Field, bytes_vector_root, merkleize, mix_in_length, pack_bytes, u64_chunk,
};

/// A BLS public key (compressed G1 point).
pub type PublicKeyBytes = FixedBytes<48>;
/// A BLS signature (compressed G2 point).
pub type SignatureBytes = FixedBytes<96>;

/// `MAX_EXTRA_DATA_BYTES`.
const MAX_EXTRA_DATA_BYTES: usize = 32;
/// Depth of `execution_branch` (the execution payload in the body, gindex 25).
pub(crate) const EXECUTION_BRANCH_DEPTH: usize = 4;

/// `BeaconBlockHeader`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BeaconBlockHeader {
    /// Slot.
    pub slot: u64,
    /// Proposer index.
    pub proposer_index: u64,
    /// Parent block root.
    pub parent_root: B256,
    /// State root.
    pub state_root: B256,
    /// Body root.
    pub body_root: B256,
}

impl BeaconBlockHeader {
    /// SSZ size.
    pub const SSZ_LEN: usize = 112;

    /// Decodes the 112-byte SSZ encoding.
    pub fn from_ssz(bytes: &[u8]) -> Result<Self, DecodeError> {
        let c = Container::split(
            "BeaconBlockHeader",
            bytes,
            &[
                Field::Fixed(8),
                Field::Fixed(8),
                Field::Fixed(32),
                Field::Fixed(32),
                Field::Fixed(32),
            ],
        )?;
        Ok(Self {
            slot: c.u64(0)?,
            proposer_index: c.u64(1)?,
            parent_root: c.b256(2)?,
            state_root: c.b256(3)?,
            body_root: c.b256(4)?,
        })
    }

    /// `hash_tree_root`: the beacon block root.
    pub fn root(&self) -> B256 {
        B256::from(merkleize(
            &[
                u64_chunk(self.slot),
                u64_chunk(self.proposer_index),
                self.parent_root.0,
                self.state_root.0,
                self.body_root.0,
            ],
            8,
        ))
    }
}

/// `ExecutionPayloadHeader` (Capella; Deneb adds the blob gas fields, Electra and Fulu keep it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecutionPayloadHeader {
    /// Parent execution block hash.
    pub parent_hash: B256,
    /// Fee recipient.
    pub fee_recipient: Address,
    /// Execution state root: what account and storage proofs are checked against.
    pub state_root: B256,
    /// Receipts root.
    pub receipts_root: B256,
    /// Logs bloom (256 bytes).
    pub logs_bloom: Vec<u8>,
    /// `prev_randao`.
    pub prev_randao: B256,
    /// Execution block number.
    pub block_number: u64,
    /// Gas limit.
    pub gas_limit: u64,
    /// Gas used.
    pub gas_used: u64,
    /// Timestamp.
    pub timestamp: u64,
    /// Extra data (at most 32 bytes).
    pub extra_data: Vec<u8>,
    /// Base fee per gas.
    pub base_fee_per_gas: U256,
    /// Execution block hash.
    pub block_hash: B256,
    /// Transactions root (SSZ).
    pub transactions_root: B256,
    /// Withdrawals root (SSZ).
    pub withdrawals_root: B256,
    /// Blob gas used (Deneb and later; 0 before).
    pub blob_gas_used: u64,
    /// Excess blob gas (Deneb and later; 0 before).
    pub excess_blob_gas: u64,
}

impl ExecutionPayloadHeader {
    /// Decodes the SSZ encoding of `fork`'s execution payload header.
    pub fn from_ssz(bytes: &[u8], fork: Fork) -> Result<Self, DecodeError> {
        let what = "ExecutionPayloadHeader";
        let mut layout = vec![
            Field::Fixed(32),
            Field::Fixed(20),
            Field::Fixed(32),
            Field::Fixed(32),
            Field::Fixed(256),
            Field::Fixed(32),
            Field::Fixed(8),
            Field::Fixed(8),
            Field::Fixed(8),
            Field::Fixed(8),
            Field::Variable,
            Field::Fixed(32),
            Field::Fixed(32),
            Field::Fixed(32),
            Field::Fixed(32),
        ];
        if fork >= Fork::Deneb {
            layout.extend([Field::Fixed(8), Field::Fixed(8)]);
        }
        let c = Container::split(what, bytes, &layout)?;
        let extra_data = c.field(10)?.to_vec();
        if extra_data.len() > MAX_EXTRA_DATA_BYTES {
            return Err(DecodeError::TooLong {
                what: "extra_data",
                limit: MAX_EXTRA_DATA_BYTES,
                got: extra_data.len(),
            });
        }
        Ok(Self {
            parent_hash: c.b256(0)?,
            fee_recipient: Address::from_slice(c.field(1)?),
            state_root: c.b256(2)?,
            receipts_root: c.b256(3)?,
            logs_bloom: c.field(4)?.to_vec(),
            prev_randao: c.b256(5)?,
            block_number: c.u64(6)?,
            gas_limit: c.u64(7)?,
            gas_used: c.u64(8)?,
            timestamp: c.u64(9)?,
            extra_data,
            base_fee_per_gas: U256::from_le_slice(c.field(11)?),
            block_hash: c.b256(12)?,
            transactions_root: c.b256(13)?,
            withdrawals_root: c.b256(14)?,
            blob_gas_used: if fork >= Fork::Deneb { c.u64(15)? } else { 0 },
            excess_blob_gas: if fork >= Fork::Deneb { c.u64(16)? } else { 0 },
        })
    }

    /// `hash_tree_root` in the form of `fork` (Capella: 15 fields; Deneb and later: 17).
    pub fn root(&self, fork: Fork) -> B256 {
        let mut fee_recipient = [0u8; 32];
        fee_recipient[..20].copy_from_slice(self.fee_recipient.as_slice());
        let bloom_chunks = pack_bytes(&self.logs_bloom);
        let extra_chunks = pack_bytes(&self.extra_data);
        let mut fields = vec![
            self.parent_hash.0,
            fee_recipient,
            self.state_root.0,
            self.receipts_root.0,
            merkleize(&bloom_chunks, 8),
            self.prev_randao.0,
            u64_chunk(self.block_number),
            u64_chunk(self.gas_limit),
            u64_chunk(self.gas_used),
            u64_chunk(self.timestamp),
            mix_in_length(merkleize(&extra_chunks, 1), self.extra_data.len()),
            self.base_fee_per_gas.to_le_bytes::<32>(),
            self.block_hash.0,
            self.transactions_root.0,
            self.withdrawals_root.0,
        ];
        if fork >= Fork::Deneb {
            fields.push(u64_chunk(self.blob_gas_used));
            fields.push(u64_chunk(self.excess_blob_gas));
        }
        B256::from(merkleize(&fields, fields.len()))
    }
}

/// `LightClientHeader` (Capella and later): a beacon header with its execution payload header
/// and the branch proving it against the body root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LightClientHeader {
    /// The beacon block header.
    pub beacon: BeaconBlockHeader,
    /// The execution payload header of that block.
    pub execution: ExecutionPayloadHeader,
    /// Merkle branch of `execution` in the body (4 roots).
    pub execution_branch: Vec<B256>,
}

impl LightClientHeader {
    /// Decodes `fork`'s SSZ encoding.
    pub fn from_ssz(bytes: &[u8], fork: Fork) -> Result<Self, DecodeError> {
        require_capella("LightClientHeader", fork)?;
        let c = Container::split(
            "LightClientHeader",
            bytes,
            &[
                Field::Fixed(BeaconBlockHeader::SSZ_LEN),
                Field::Variable,
                Field::Fixed(32 * EXECUTION_BRANCH_DEPTH),
            ],
        )?;
        Ok(Self {
            beacon: BeaconBlockHeader::from_ssz(c.field(0)?)?,
            execution: ExecutionPayloadHeader::from_ssz(c.field(1)?, fork)?,
            execution_branch: c.branch(2)?,
        })
    }

    /// `get_lc_execution_root`: the execution header's root in the form of the fork of the
    /// header's own slot.
    pub fn execution_root(&self, config: &ChainConfig) -> B256 {
        let fork = config.fork_at_slot(self.beacon.slot);
        if fork >= Fork::Deneb {
            self.execution.root(Fork::Deneb)
        } else {
            self.execution.root(Fork::Capella)
        }
    }

    /// `true` for the all-zero header (an absent finalized header).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
            || (self.beacon == BeaconBlockHeader::default()
                && self.execution == ExecutionPayloadHeader::empty_form()
                && self.execution_branch.iter().all(|n| n.is_zero()))
    }
}

impl ExecutionPayloadHeader {
    /// The SSZ default value (a zeroed bloom of 256 bytes).
    fn empty_form() -> Self {
        Self {
            logs_bloom: vec![0; 256],
            ..Self::default()
        }
    }
}

/// `SyncCommittee`: the public keys signing sync aggregates for one period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncCommittee {
    /// The members' public keys, `SYNC_COMMITTEE_SIZE` of them.
    pub pubkeys: Vec<PublicKeyBytes>,
    /// Their aggregate.
    pub aggregate_pubkey: PublicKeyBytes,
}

impl SyncCommittee {
    /// SSZ size for a committee of `size` members.
    pub fn ssz_len(size: usize) -> usize {
        48 * (size + 1)
    }

    /// Decodes the SSZ encoding of a committee of `size` members.
    pub fn from_ssz(bytes: &[u8], size: usize) -> Result<Self, DecodeError> {
        if bytes.len() != Self::ssz_len(size) {
            return Err(DecodeError::Length {
                what: "SyncCommittee",
                expected: Self::ssz_len(size),
                got: bytes.len(),
            });
        }
        let mut keys: Vec<PublicKeyBytes> = bytes
            .chunks_exact(48)
            .map(PublicKeyBytes::from_slice)
            .collect();
        let aggregate_pubkey = keys.pop().unwrap_or_default();
        Ok(Self {
            pubkeys: keys,
            aggregate_pubkey,
        })
    }

    /// `hash_tree_root`.
    pub fn root(&self) -> B256 {
        let leaves: Vec<[u8; 32]> = self
            .pubkeys
            .iter()
            .map(|key| bytes_vector_root(key.as_slice()))
            .collect();
        B256::from(merkleize(
            &[
                merkleize(&leaves, leaves.len()),
                bytes_vector_root(self.aggregate_pubkey.as_slice()),
            ],
            2,
        ))
    }
}

/// `SyncAggregate`: which committee members signed, and their aggregate signature.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncAggregate {
    /// The participation bitvector (`SYNC_COMMITTEE_SIZE` bits, little-endian within bytes).
    pub sync_committee_bits: Vec<u8>,
    /// The aggregate BLS signature over the attested header's signing root.
    pub sync_committee_signature: SignatureBytes,
}

impl SyncAggregate {
    /// SSZ size for a committee of `size` members.
    pub fn ssz_len(size: usize) -> usize {
        size / 8 + 96
    }

    /// Decodes the SSZ encoding for a committee of `size` members.
    pub fn from_ssz(bytes: &[u8], size: usize) -> Result<Self, DecodeError> {
        if bytes.len() != Self::ssz_len(size) {
            return Err(DecodeError::Length {
                what: "SyncAggregate",
                expected: Self::ssz_len(size),
                got: bytes.len(),
            });
        }
        Ok(Self {
            sync_committee_bits: bytes[..size / 8].to_vec(),
            sync_committee_signature: SignatureBytes::from_slice(&bytes[size / 8..]),
        })
    }

    /// Whether committee member `index` signed.
    pub fn bit(&self, index: usize) -> bool {
        self.sync_committee_bits
            .get(index / 8)
            .is_some_and(|byte| (byte >> (index % 8)) & 1 == 1)
    }

    /// The number of participants.
    pub fn participants(&self) -> usize {
        self.sync_committee_bits
            .iter()
            .map(|byte| byte.count_ones() as usize)
            .sum()
    }

    /// The committee size these bits are for.
    pub fn size(&self) -> usize {
        self.sync_committee_bits.len() * 8
    }
}

/// `LightClientBootstrap`: the header of a trusted checkpoint and its current sync committee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bootstrap {
    /// The checkpoint header.
    pub header: LightClientHeader,
    /// The sync committee of the checkpoint's period.
    pub current_sync_committee: SyncCommittee,
    /// Its branch in the checkpoint's state.
    pub current_sync_committee_branch: Vec<B256>,
}

/// `LightClientUpdate`; finality and optimistic updates are represented as updates with empty
/// parts, exactly as the spec's `process_light_client_finality_update` builds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// The header the sync committee signed.
    pub attested_header: LightClientHeader,
    /// The next sync committee (all zero when absent).
    pub next_sync_committee: SyncCommittee,
    /// Its branch in the attested state (all zero when absent).
    pub next_sync_committee_branch: Vec<B256>,
    /// The finalized header (all zero when absent).
    pub finalized_header: LightClientHeader,
    /// Its branch in the attested state (all zero when absent).
    pub finality_branch: Vec<B256>,
    /// The sync committee's signature.
    pub sync_aggregate: SyncAggregate,
    /// The slot at which the signature was made.
    pub signature_slot: u64,
}

impl Update {
    /// `is_sync_committee_update`.
    pub fn is_sync_committee_update(&self) -> bool {
        self.next_sync_committee_branch.iter().any(|n| !n.is_zero())
    }

    /// `is_finality_update`.
    pub fn is_finality_update(&self) -> bool {
        self.finality_branch.iter().any(|n| !n.is_zero())
    }
}

fn require_capella(what: &'static str, fork: Fork) -> Result<(), DecodeError> {
    if fork < Fork::Capella {
        return Err(DecodeError::UnsupportedFork {
            what,
            fork: fork.name().into(),
        });
    }
    Ok(())
}

fn branch_field(gindex: u64) -> Field {
    Field::Fixed(32 * crate::ssz::gindex_depth(gindex))
}

fn zero_branch(gindex: u64) -> Vec<B256> {
    vec![B256::ZERO; crate::ssz::gindex_depth(gindex)]
}

/// Reads the `u64` slot at the start of a variable field whose offset sits at `offset_at`,
/// without decoding the rest: how a bare SSZ object's fork is chosen from its own slot.
fn peek_slot(bytes: &[u8], offset_at: usize) -> Option<u64> {
    let offset = u32::from_le_bytes(bytes.get(offset_at..offset_at + 4)?.try_into().ok()?);
    let start = offset as usize;
    Some(u64::from_le_bytes(
        bytes.get(start..start + 8)?.try_into().ok()?,
    ))
}

impl Bootstrap {
    /// Decodes `fork`'s SSZ encoding for `config`'s committee size.
    pub fn from_ssz(bytes: &[u8], fork: Fork, config: &ChainConfig) -> Result<Self, DecodeError> {
        require_capella("LightClientBootstrap", fork)?;
        let size = config.sync_committee_size;
        let c = Container::split(
            "LightClientBootstrap",
            bytes,
            &[
                Field::Variable,
                Field::Fixed(SyncCommittee::ssz_len(size)),
                branch_field(fork.current_sync_committee_gindex()),
            ],
        )?;
        Ok(Self {
            header: LightClientHeader::from_ssz(c.field(0)?, fork)?,
            current_sync_committee: SyncCommittee::from_ssz(c.field(1)?, size)?,
            current_sync_committee_branch: c.branch(2)?,
        })
    }

    /// Decodes a bare SSZ bootstrap, taking its fork from its header's slot.
    pub fn from_ssz_any_fork(bytes: &[u8], config: &ChainConfig) -> Result<Self, DecodeError> {
        let slot = peek_slot(bytes, 0).ok_or(DecodeError::Offset {
            what: "LightClientBootstrap",
        })?;
        Self::from_ssz(bytes, config.fork_at_slot(slot), config)
    }
}

impl Update {
    /// Decodes `fork`'s SSZ encoding of a `LightClientUpdate`.
    pub fn from_ssz(bytes: &[u8], fork: Fork, config: &ChainConfig) -> Result<Self, DecodeError> {
        require_capella("LightClientUpdate", fork)?;
        let size = config.sync_committee_size;
        let c = Container::split(
            "LightClientUpdate",
            bytes,
            &[
                Field::Variable,
                Field::Fixed(SyncCommittee::ssz_len(size)),
                branch_field(fork.next_sync_committee_gindex()),
                Field::Variable,
                branch_field(fork.finalized_root_gindex()),
                Field::Fixed(SyncAggregate::ssz_len(size)),
                Field::Fixed(8),
            ],
        )?;
        Ok(Self {
            attested_header: LightClientHeader::from_ssz(c.field(0)?, fork)?,
            next_sync_committee: SyncCommittee::from_ssz(c.field(1)?, size)?,
            next_sync_committee_branch: c.branch(2)?,
            finalized_header: LightClientHeader::from_ssz(c.field(3)?, fork)?,
            finality_branch: c.branch(4)?,
            sync_aggregate: SyncAggregate::from_ssz(c.field(5)?, size)?,
            signature_slot: c.u64(6)?,
        })
    }

    /// Decodes `fork`'s SSZ encoding of a `LightClientFinalityUpdate`.
    pub fn from_finality_ssz(
        bytes: &[u8],
        fork: Fork,
        config: &ChainConfig,
    ) -> Result<Self, DecodeError> {
        require_capella("LightClientFinalityUpdate", fork)?;
        let size = config.sync_committee_size;
        let c = Container::split(
            "LightClientFinalityUpdate",
            bytes,
            &[
                Field::Variable,
                Field::Variable,
                branch_field(fork.finalized_root_gindex()),
                Field::Fixed(SyncAggregate::ssz_len(size)),
                Field::Fixed(8),
            ],
        )?;
        Ok(Self {
            attested_header: LightClientHeader::from_ssz(c.field(0)?, fork)?,
            next_sync_committee: SyncCommittee::default(),
            next_sync_committee_branch: zero_branch(fork.next_sync_committee_gindex()),
            finalized_header: LightClientHeader::from_ssz(c.field(1)?, fork)?,
            finality_branch: c.branch(2)?,
            sync_aggregate: SyncAggregate::from_ssz(c.field(3)?, size)?,
            signature_slot: c.u64(4)?,
        })
    }

    /// Decodes `fork`'s SSZ encoding of a `LightClientOptimisticUpdate`.
    pub fn from_optimistic_ssz(
        bytes: &[u8],
        fork: Fork,
        config: &ChainConfig,
    ) -> Result<Self, DecodeError> {
        require_capella("LightClientOptimisticUpdate", fork)?;
        let size = config.sync_committee_size;
        let c = Container::split(
            "LightClientOptimisticUpdate",
            bytes,
            &[
                Field::Variable,
                Field::Fixed(SyncAggregate::ssz_len(size)),
                Field::Fixed(8),
            ],
        )?;
        Ok(Self {
            attested_header: LightClientHeader::from_ssz(c.field(0)?, fork)?,
            next_sync_committee: SyncCommittee::default(),
            next_sync_committee_branch: zero_branch(fork.next_sync_committee_gindex()),
            finalized_header: LightClientHeader::default(),
            finality_branch: zero_branch(fork.finalized_root_gindex()),
            sync_aggregate: SyncAggregate::from_ssz(c.field(1)?, size)?,
            signature_slot: c.u64(2)?,
        })
    }

    /// Decodes a bare SSZ `LightClientUpdate`, taking its fork from its attested header's slot.
    pub fn from_ssz_any_fork(bytes: &[u8], config: &ChainConfig) -> Result<Self, DecodeError> {
        let slot = peek_slot(bytes, 0).ok_or(DecodeError::Offset {
            what: "LightClientUpdate",
        })?;
        Self::from_ssz(bytes, config.fork_at_slot(slot), config)
    }
}

/// What kind of light-client object a byte string holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `LightClientUpdate`.
    Update,
    /// `LightClientFinalityUpdate`.
    Finality,
    /// `LightClientOptimisticUpdate`.
    Optimistic,
}

/// Decodes the beacon API's SSZ response to `GET /eth/v1/beacon/light_client/updates`: a
/// sequence of `[u64 little-endian length][4-byte fork digest][SSZ bytes]` items.
pub fn decode_updates_response(
    bytes: &[u8],
    config: &ChainConfig,
) -> Result<Vec<Update>, DecodeError> {
    let what = "light_client/updates response";
    let mut rest = bytes;
    let mut updates = Vec::new();
    while !rest.is_empty() {
        let header: [u8; 8] = rest
            .get(..8)
            .and_then(|h| h.try_into().ok())
            .ok_or(DecodeError::Offset { what })?;
        let len = u64::from_le_bytes(header) as usize;
        let item = rest
            .get(8..8usize.saturating_add(len))
            .ok_or(DecodeError::Offset { what })?;
        if item.len() < 4 || len < 4 {
            return Err(DecodeError::Offset { what });
        }
        let digest = [item[0], item[1], item[2], item[3]];
        let fork = config
            .fork_of_digest(digest)
            .ok_or_else(|| DecodeError::UnsupportedFork {
                what,
                fork: format!("digest 0x{}", hex::encode(digest)),
            })?;
        updates.push(Update::from_ssz(&item[4..], fork, config)?);
        rest = &rest[8 + len..];
    }
    Ok(updates)
}

/// Decodes one object prefixed by its 4-byte fork digest (the encoding of the portal network and
/// of the spec's `ForkDigest`-tagged payloads).
pub fn decode_with_digest(
    bytes: &[u8],
    kind: Kind,
    config: &ChainConfig,
) -> Result<Update, DecodeError> {
    let (digest, body) = split_digest(bytes)?;
    let fork = config
        .fork_of_digest(digest)
        .ok_or_else(|| DecodeError::UnsupportedFork {
            what: "fork digest",
            fork: format!("0x{}", hex::encode(digest)),
        })?;
    match kind {
        Kind::Update => Update::from_ssz(body, fork, config),
        Kind::Finality => Update::from_finality_ssz(body, fork, config),
        Kind::Optimistic => Update::from_optimistic_ssz(body, fork, config),
    }
}

/// Splits a 4-byte fork digest off the front of `bytes`.
pub fn split_digest(bytes: &[u8]) -> Result<([u8; 4], &[u8]), DecodeError> {
    if bytes.len() < 4 {
        return Err(DecodeError::Length {
            what: "fork digest",
            expected: 4,
            got: bytes.len(),
        });
    }
    Ok(([bytes[0], bytes[1], bytes[2], bytes[3]], &bytes[4..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beacon_header_ssz_round_trip_and_length() {
        let mut bytes = vec![0u8; 112];
        bytes[0] = 5;
        let header = BeaconBlockHeader::from_ssz(&bytes).unwrap();
        assert_eq!(header.slot, 5);
        assert!(BeaconBlockHeader::from_ssz(&bytes[..111]).is_err());
    }

    #[test]
    fn aggregate_bits_are_little_endian() {
        let aggregate = SyncAggregate {
            sync_committee_bits: vec![0b0000_0101, 0x80],
            sync_committee_signature: SignatureBytes::ZERO,
        };
        assert!(aggregate.bit(0));
        assert!(!aggregate.bit(1));
        assert!(aggregate.bit(2));
        assert!(aggregate.bit(15));
        assert_eq!(aggregate.participants(), 3);
    }
}
