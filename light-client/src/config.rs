//! Networks and forks: the fork schedule (versions and activation epochs), the preset sizes the
//! light client depends on (slots per epoch, epochs per sync-committee period, committee size),
//! the generalized indices of each fork, and the presets for mainnet, sepolia and hoodi. A custom
//! network is a [`ChainConfig`] read from JSON.

use alloy_primitives::{B256, b256};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::DecodeError;

/// The consensus forks the light client knows, in activation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fork {
    /// Genesis.
    Phase0,
    /// Sync committees appear.
    Altair,
    /// The merge.
    Bellatrix,
    /// Withdrawals; light-client headers gain the execution payload header.
    Capella,
    /// Blobs; the execution payload header gains blob gas fields.
    Deneb,
    /// The beacon state grows: finality and sync-committee branches get one level deeper.
    Electra,
    /// PeerDAS; light-client types as in Electra.
    Fulu,
}

impl Fork {
    /// Every fork, oldest first.
    pub const ALL: [Fork; 7] = [
        Fork::Phase0,
        Fork::Altair,
        Fork::Bellatrix,
        Fork::Capella,
        Fork::Deneb,
        Fork::Electra,
        Fork::Fulu,
    ];

    /// The lowercase name used by the beacon API's `version` field.
    pub fn name(self) -> &'static str {
        match self {
            Fork::Phase0 => "phase0",
            Fork::Altair => "altair",
            Fork::Bellatrix => "bellatrix",
            Fork::Capella => "capella",
            Fork::Deneb => "deneb",
            Fork::Electra => "electra",
            Fork::Fulu => "fulu",
        }
    }

    /// Parses a beacon-API `version` name.
    pub fn from_name(name: &str) -> Option<Fork> {
        Fork::ALL
            .into_iter()
            .find(|fork| fork.name().eq_ignore_ascii_case(name))
    }

    /// Generalized index of `finalized_checkpoint.root` in the beacon state.
    pub fn finalized_root_gindex(self) -> u64 {
        if self >= Fork::Electra { 169 } else { 105 }
    }

    /// Generalized index of `current_sync_committee` in the beacon state.
    pub fn current_sync_committee_gindex(self) -> u64 {
        if self >= Fork::Electra { 86 } else { 54 }
    }

    /// Generalized index of `next_sync_committee` in the beacon state.
    pub fn next_sync_committee_gindex(self) -> u64 {
        if self >= Fork::Electra { 87 } else { 55 }
    }
}

/// Generalized index of the execution payload in the beacon block body (Capella and later).
pub const EXECUTION_PAYLOAD_GINDEX: u64 = 25;
/// `DOMAIN_SYNC_COMMITTEE`.
pub const DOMAIN_SYNC_COMMITTEE: [u8; 4] = [7, 0, 0, 0];
/// `MIN_SYNC_COMMITTEE_PARTICIPANTS`.
pub const MIN_SYNC_COMMITTEE_PARTICIPANTS: usize = 1;

/// One entry of the fork schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkEntry {
    /// The fork.
    pub fork: Fork,
    /// Its activation epoch.
    pub epoch: u64,
    /// Its 4-byte fork version, as `0x`-hex.
    #[serde(with = "version_hex")]
    pub version: [u8; 4],
}

/// A network the light client can follow: everything signature checks and period arithmetic
/// depend on. Presets: [`ChainConfig::mainnet`], [`ChainConfig::sepolia`],
/// [`ChainConfig::hoodi`]; any other network is read from JSON of this shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainConfig {
    /// A name for messages.
    pub name: String,
    /// `genesis_validators_root`, part of every signing domain.
    pub genesis_validators_root: B256,
    /// Genesis time (Unix seconds).
    pub genesis_time: u64,
    /// `SECONDS_PER_SLOT` (12 on mainnet).
    pub seconds_per_slot: u64,
    /// `SLOTS_PER_EPOCH` (32 on mainnet, 8 in the minimal preset).
    pub slots_per_epoch: u64,
    /// `EPOCHS_PER_SYNC_COMMITTEE_PERIOD` (256 on mainnet, 8 in the minimal preset).
    pub epochs_per_sync_committee_period: u64,
    /// `SYNC_COMMITTEE_SIZE` (512 on mainnet, 32 in the minimal preset).
    pub sync_committee_size: usize,
    /// The fork schedule, oldest first.
    pub forks: Vec<ForkEntry>,
}

const fn entry(fork: Fork, epoch: u64, version: [u8; 4]) -> ForkEntry {
    ForkEntry {
        fork,
        epoch,
        version,
    }
}

impl ChainConfig {
    /// Ethereum mainnet.
    pub fn mainnet() -> Self {
        Self {
            name: "mainnet".into(),
            genesis_validators_root: b256!(
                "4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95"
            ),
            genesis_time: 1_606_824_023,
            seconds_per_slot: 12,
            slots_per_epoch: 32,
            epochs_per_sync_committee_period: 256,
            sync_committee_size: 512,
            forks: vec![
                entry(Fork::Phase0, 0, [0, 0, 0, 0]),
                entry(Fork::Altair, 74_240, [1, 0, 0, 0]),
                entry(Fork::Bellatrix, 144_896, [2, 0, 0, 0]),
                entry(Fork::Capella, 194_048, [3, 0, 0, 0]),
                entry(Fork::Deneb, 269_568, [4, 0, 0, 0]),
                entry(Fork::Electra, 364_032, [5, 0, 0, 0]),
                entry(Fork::Fulu, 411_392, [6, 0, 0, 0]),
            ],
        }
    }

    /// The Sepolia testnet.
    pub fn sepolia() -> Self {
        Self {
            name: "sepolia".into(),
            genesis_validators_root: b256!(
                "d8ea171f3c94aea21ebc42a1ed61052acf3f9209c00e4efbaaddac09ed9b8078"
            ),
            genesis_time: 1_655_733_600,
            seconds_per_slot: 12,
            slots_per_epoch: 32,
            epochs_per_sync_committee_period: 256,
            sync_committee_size: 512,
            forks: vec![
                entry(Fork::Phase0, 0, [0x90, 0, 0, 0x69]),
                entry(Fork::Altair, 50, [0x90, 0, 0, 0x70]),
                entry(Fork::Bellatrix, 100, [0x90, 0, 0, 0x71]),
                entry(Fork::Capella, 56_832, [0x90, 0, 0, 0x72]),
                entry(Fork::Deneb, 132_608, [0x90, 0, 0, 0x73]),
                entry(Fork::Electra, 222_464, [0x90, 0, 0, 0x74]),
                entry(Fork::Fulu, 272_640, [0x90, 0, 0, 0x75]),
            ],
        }
    }

    /// The Hoodi testnet.
    pub fn hoodi() -> Self {
        Self {
            name: "hoodi".into(),
            genesis_validators_root: b256!(
                "212f13fc4df078b6cb7db228f1c8307566dcecf900867401a92023d7ba99cb5f"
            ),
            genesis_time: 1_742_213_400,
            seconds_per_slot: 12,
            slots_per_epoch: 32,
            epochs_per_sync_committee_period: 256,
            sync_committee_size: 512,
            forks: vec![
                entry(Fork::Phase0, 0, [0x10, 0, 0x09, 0x10]),
                entry(Fork::Altair, 0, [0x20, 0, 0x09, 0x10]),
                entry(Fork::Bellatrix, 0, [0x30, 0, 0x09, 0x10]),
                entry(Fork::Capella, 0, [0x40, 0, 0x09, 0x10]),
                entry(Fork::Deneb, 0, [0x50, 0, 0x09, 0x10]),
                entry(Fork::Electra, 2_048, [0x60, 0, 0x09, 0x10]),
                entry(Fork::Fulu, 50_688, [0x70, 0, 0x09, 0x10]),
            ],
        }
    }

    /// A preset by name (`mainnet`, `sepolia`, `hoodi`).
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "mainnet" => Some(Self::mainnet()),
            "sepolia" => Some(Self::sepolia()),
            "hoodi" => Some(Self::hoodi()),
            _ => None,
        }
    }

    /// Reads a custom network from JSON (the shape this type serializes to) and checks it.
    pub fn from_json(json: &str) -> Result<Self, DecodeError> {
        let config: Self = serde_json::from_str(json).map_err(|e| DecodeError::Json {
            what: "network configuration",
            reason: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the invariants the verification code relies on.
    pub fn validate(&self) -> Result<(), DecodeError> {
        if self.slots_per_epoch == 0 || self.epochs_per_sync_committee_period == 0 {
            return Err(DecodeError::Config(
                "slots_per_epoch and epochs_per_sync_committee_period must be positive".into(),
            ));
        }
        if self.sync_committee_size == 0 || !self.sync_committee_size.is_multiple_of(8) {
            return Err(DecodeError::Config(
                "sync_committee_size must be a positive multiple of 8".into(),
            ));
        }
        if self.forks.is_empty() || self.forks.windows(2).any(|w| w[0].epoch > w[1].epoch) {
            return Err(DecodeError::Config(
                "forks must be non-empty and ordered by activation epoch".into(),
            ));
        }
        Ok(())
    }

    /// `compute_epoch_at_slot`.
    pub fn epoch_at_slot(&self, slot: u64) -> u64 {
        slot / self.slots_per_epoch
    }

    /// `compute_sync_committee_period_at_slot`.
    pub fn period_at_slot(&self, slot: u64) -> u64 {
        self.epoch_at_slot(slot) / self.epochs_per_sync_committee_period
    }

    /// `SLOTS_PER_EPOCH * EPOCHS_PER_SYNC_COMMITTEE_PERIOD`: also the spec's `UPDATE_TIMEOUT`.
    pub fn slots_per_period(&self) -> u64 {
        self.slots_per_epoch * self.epochs_per_sync_committee_period
    }

    /// The fork schedule entry active at `epoch`.
    pub fn fork_entry_at_epoch(&self, epoch: u64) -> ForkEntry {
        let mut active = self.forks[0];
        for entry in &self.forks {
            if entry.epoch <= epoch {
                active = *entry;
            }
        }
        active
    }

    /// The fork active at `slot`.
    pub fn fork_at_slot(&self, slot: u64) -> Fork {
        self.fork_entry_at_epoch(self.epoch_at_slot(slot)).fork
    }

    /// The activation epoch of `fork`, if scheduled.
    pub fn fork_epoch(&self, fork: Fork) -> Option<u64> {
        self.forks.iter().find(|e| e.fork == fork).map(|e| e.epoch)
    }

    /// `compute_fork_data_root(version, genesis_validators_root)`.
    pub fn fork_data_root(&self, version: [u8; 4]) -> [u8; 32] {
        let mut chunk = [0u8; 32];
        chunk[..4].copy_from_slice(&version);
        let mut hasher = Sha256::new();
        hasher.update(chunk);
        hasher.update(self.genesis_validators_root.0);
        hasher.finalize().into()
    }

    /// `compute_fork_digest` (without Fulu's blob-parameter mask): the first 4 bytes of the fork
    /// data root.
    pub fn fork_digest(&self, fork: Fork) -> Option<[u8; 4]> {
        let entry = self.forks.iter().find(|e| e.fork == fork)?;
        let root = self.fork_data_root(entry.version);
        Some([root[0], root[1], root[2], root[3]])
    }

    /// The fork whose digest is `digest`.
    pub fn fork_of_digest(&self, digest: [u8; 4]) -> Option<Fork> {
        self.forks
            .iter()
            .map(|e| e.fork)
            .find(|fork| self.fork_digest(*fork) == Some(digest))
    }

    /// The sync-committee signing domain for a signature made at `signature_slot`
    /// (the fork version of epoch `max(signature_slot, 1) - 1`).
    pub fn sync_committee_domain(&self, signature_slot: u64) -> [u8; 32] {
        let fork_slot = signature_slot.max(1) - 1;
        let version = self
            .fork_entry_at_epoch(self.epoch_at_slot(fork_slot))
            .version;
        let root = self.fork_data_root(version);
        let mut domain = [0u8; 32];
        domain[..4].copy_from_slice(&DOMAIN_SYNC_COMMITTEE);
        domain[4..].copy_from_slice(&root[..28]);
        domain
    }

    /// How long from `now` (time since the Unix epoch) until the next round of head updates is
    /// worth fetching: the next slot's start plus a third of a slot, at most 4 s (on mainnet,
    /// when the previous slot's head update is out). Before genesis: until genesis plus that.
    pub fn until_next_round(&self, now: std::time::Duration) -> std::time::Duration {
        let slot = std::time::Duration::from_secs(self.seconds_per_slot.max(1));
        let offset = (slot / 3).min(std::time::Duration::from_secs(4));
        let since_genesis = now.saturating_sub(std::time::Duration::from_secs(self.genesis_time));
        let into_slot = since_genesis.as_nanos() % slot.as_nanos();
        // `into_slot` is below one slot, so it fits in a u64 of nanoseconds.
        let into_slot = std::time::Duration::from_nanos(u64::try_from(into_slot).unwrap_or(0));
        slot - into_slot + offset
    }

    /// The slot at Unix time `now` (0 before genesis).
    pub fn slot_at_time(&self, now: u64) -> u64 {
        now.saturating_sub(self.genesis_time) / self.seconds_per_slot.max(1)
    }
}

mod version_hex {
    //! `[u8; 4]` fork versions as `0x`-hex strings.
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8; 4], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("0x{}", hex::encode(v)))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 4], D::Error> {
        let text = String::deserialize(d)?;
        let bytes = hex::decode(text.trim_start_matches("0x")).map_err(serde::de::Error::custom)?;
        bytes
            .try_into()
            .map_err(|_| serde::de::Error::custom("a fork version is 4 bytes"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rounds_wait_for_the_next_slot_plus_a_third_at_most_4_s() {
        use std::time::Duration;
        let mut config = super::ChainConfig::mainnet();
        config.genesis_time = 1_000;
        // 5 s into a 12 s slot: 7 s to the next, plus 4.
        assert_eq!(
            config.until_next_round(Duration::from_secs(1_005)),
            Duration::from_secs(11)
        );
        assert_eq!(
            config.until_next_round(Duration::from_secs(1_012)),
            Duration::from_secs(16)
        );
        config.seconds_per_slot = 1;
        assert_eq!(
            config.until_next_round(Duration::from_millis(1_000_250)),
            Duration::from_millis(750) + Duration::from_secs(1) / 3
        );
        assert_eq!(
            config.until_next_round(Duration::from_secs(10)),
            Duration::from_secs(1) + Duration::from_secs(1) / 3
        );
    }

    use super::*;

    #[test]
    fn mainnet_digests_match_the_ones_seen_on_the_network() {
        let config = ChainConfig::mainnet();
        assert_eq!(
            config.fork_digest(Fork::Capella),
            Some([0xbb, 0xa4, 0xda, 0x96])
        );
        assert_eq!(
            config.fork_digest(Fork::Deneb),
            Some([0x6a, 0x95, 0xa1, 0xa9])
        );
        assert_eq!(
            config.fork_of_digest([0x6a, 0x95, 0xa1, 0xa9]),
            Some(Fork::Deneb)
        );
    }

    #[test]
    fn fork_of_signature_is_taken_one_slot_earlier() {
        let config = ChainConfig::mainnet();
        let deneb_start = 269_568 * 32;
        assert_eq!(config.fork_at_slot(deneb_start), Fork::Deneb);
        assert_ne!(
            config.sync_committee_domain(deneb_start),
            config.sync_committee_domain(deneb_start + 1)
        );
        assert_eq!(
            config.sync_committee_domain(deneb_start + 1),
            config.sync_committee_domain(deneb_start + 2)
        );
    }

    #[test]
    fn custom_config_round_trips_and_is_validated() {
        let json = serde_json::to_string(&ChainConfig::hoodi()).unwrap();
        assert_eq!(ChainConfig::from_json(&json).unwrap(), ChainConfig::hoodi());
        let mut bad = ChainConfig::hoodi();
        bad.sync_committee_size = 7;
        let json = serde_json::to_string(&bad).unwrap();
        assert!(ChainConfig::from_json(&json).is_err());
    }
}
