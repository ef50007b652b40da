//! The beacon API's JSON encoding of light-client objects (`{"version": .., "data": ..}`, numbers
//! as decimal strings, bytes as `0x`-hex), decoded into the same types as SSZ.

use alloy_primitives::{Address, B256, Bytes, U256};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::config::{ChainConfig, Fork};
use crate::error::DecodeError;
use crate::types::{
    BeaconBlockHeader, Bootstrap, ExecutionPayloadHeader, LightClientHeader, PublicKeyBytes,
    SignatureBytes, SyncAggregate, SyncCommittee, Update,
};

/// A decimal string (or a JSON number) as `u64`.
#[derive(Debug, Clone, Copy)]
struct Quoted(u64);

impl<'de> Deserialize<'de> for Quoted {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(u64),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(Quoted(n)),
            Raw::Text(text) => text.parse().map(Quoted).map_err(serde::de::Error::custom),
        }
    }
}

#[derive(Deserialize)]
struct JsonBeacon {
    slot: Quoted,
    proposer_index: Quoted,
    parent_root: B256,
    state_root: B256,
    body_root: B256,
}

#[derive(Deserialize)]
struct JsonExecution {
    parent_hash: B256,
    fee_recipient: Address,
    state_root: B256,
    receipts_root: B256,
    logs_bloom: Bytes,
    prev_randao: B256,
    block_number: Quoted,
    gas_limit: Quoted,
    gas_used: Quoted,
    timestamp: Quoted,
    extra_data: Bytes,
    base_fee_per_gas: String,
    block_hash: B256,
    transactions_root: B256,
    withdrawals_root: B256,
    blob_gas_used: Option<Quoted>,
    excess_blob_gas: Option<Quoted>,
}

#[derive(Deserialize)]
struct JsonHeader {
    beacon: JsonBeacon,
    execution: JsonExecution,
    execution_branch: Vec<B256>,
}

#[derive(Deserialize)]
struct JsonCommittee {
    pubkeys: Vec<PublicKeyBytes>,
    aggregate_pubkey: PublicKeyBytes,
}

#[derive(Deserialize)]
struct JsonAggregate {
    sync_committee_bits: Bytes,
    sync_committee_signature: SignatureBytes,
}

#[derive(Deserialize)]
struct JsonBootstrap {
    header: JsonHeader,
    current_sync_committee: JsonCommittee,
    current_sync_committee_branch: Vec<B256>,
}

#[derive(Deserialize)]
struct JsonUpdate {
    attested_header: JsonHeader,
    next_sync_committee: Option<JsonCommittee>,
    next_sync_committee_branch: Option<Vec<B256>>,
    finalized_header: Option<JsonHeader>,
    finality_branch: Option<Vec<B256>>,
    sync_aggregate: JsonAggregate,
    signature_slot: Quoted,
}

#[derive(Deserialize)]
struct Versioned<T> {
    version: Option<String>,
    data: T,
}

fn json_err(what: &'static str) -> impl Fn(serde_json::Error) -> DecodeError {
    move |e| DecodeError::Json {
        what,
        reason: e.to_string(),
    }
}

fn fork_of(
    version: Option<&str>,
    slot: u64,
    config: &ChainConfig,
    what: &'static str,
) -> Result<Fork, DecodeError> {
    let fork = match version {
        Some(name) => Fork::from_name(name).ok_or_else(|| DecodeError::UnsupportedFork {
            what,
            fork: name.into(),
        })?,
        None => config.fork_at_slot(slot),
    };
    if fork < Fork::Capella {
        return Err(DecodeError::UnsupportedFork {
            what,
            fork: fork.name().into(),
        });
    }
    Ok(fork)
}

impl JsonHeader {
    fn into_header(self, fork: Fork) -> Result<LightClientHeader, DecodeError> {
        let e = self.execution;
        if e.logs_bloom.len() != 256 {
            return Err(DecodeError::Length {
                what: "logs_bloom",
                expected: 256,
                got: e.logs_bloom.len(),
            });
        }
        if e.extra_data.len() > 32 {
            return Err(DecodeError::TooLong {
                what: "extra_data",
                limit: 32,
                got: e.extra_data.len(),
            });
        }
        if self.execution_branch.len() != crate::types::EXECUTION_BRANCH_DEPTH {
            return Err(DecodeError::Length {
                what: "execution_branch",
                expected: crate::types::EXECUTION_BRANCH_DEPTH,
                got: self.execution_branch.len(),
            });
        }
        let blob = |value: Option<Quoted>| -> Result<u64, DecodeError> {
            match (fork >= Fork::Deneb, value) {
                (true, Some(v)) => Ok(v.0),
                (false, None) => Ok(0),
                (true, None) => Err(DecodeError::Json {
                    what: "execution payload header",
                    reason: "missing blob gas fields for Deneb or later".into(),
                }),
                (false, Some(_)) => Err(DecodeError::Json {
                    what: "execution payload header",
                    reason: "blob gas fields before Deneb".into(),
                }),
            }
        };
        Ok(LightClientHeader {
            beacon: BeaconBlockHeader {
                slot: self.beacon.slot.0,
                proposer_index: self.beacon.proposer_index.0,
                parent_root: self.beacon.parent_root,
                state_root: self.beacon.state_root,
                body_root: self.beacon.body_root,
            },
            execution: ExecutionPayloadHeader {
                parent_hash: e.parent_hash,
                fee_recipient: e.fee_recipient,
                state_root: e.state_root,
                receipts_root: e.receipts_root,
                logs_bloom: e.logs_bloom.to_vec(),
                prev_randao: e.prev_randao,
                block_number: e.block_number.0,
                gas_limit: e.gas_limit.0,
                gas_used: e.gas_used.0,
                timestamp: e.timestamp.0,
                extra_data: e.extra_data.to_vec(),
                base_fee_per_gas: U256::from_str_radix(&e.base_fee_per_gas, 10).map_err(|err| {
                    DecodeError::Json {
                        what: "base_fee_per_gas",
                        reason: err.to_string(),
                    }
                })?,
                block_hash: e.block_hash,
                transactions_root: e.transactions_root,
                withdrawals_root: e.withdrawals_root,
                blob_gas_used: blob(e.blob_gas_used)?,
                excess_blob_gas: blob(e.excess_blob_gas)?,
            },
            execution_branch: self.execution_branch,
        })
    }
}

fn committee(json: JsonCommittee, config: &ChainConfig) -> Result<SyncCommittee, DecodeError> {
    if json.pubkeys.len() != config.sync_committee_size {
        return Err(DecodeError::Length {
            what: "sync committee pubkeys",
            expected: config.sync_committee_size,
            got: json.pubkeys.len(),
        });
    }
    Ok(SyncCommittee {
        pubkeys: json.pubkeys,
        aggregate_pubkey: json.aggregate_pubkey,
    })
}

fn branch(
    json: Option<Vec<B256>>,
    gindex: u64,
    what: &'static str,
) -> Result<Vec<B256>, DecodeError> {
    let depth = crate::ssz::gindex_depth(gindex);
    let branch = json.unwrap_or_else(|| vec![B256::ZERO; depth]);
    if branch.len() != depth {
        return Err(DecodeError::Length {
            what,
            expected: depth,
            got: branch.len(),
        });
    }
    Ok(branch)
}

impl JsonUpdate {
    fn into_update(self, fork: Fork, config: &ChainConfig) -> Result<Update, DecodeError> {
        let size = config.sync_committee_size;
        if self.sync_aggregate.sync_committee_bits.len() != size / 8 {
            return Err(DecodeError::Length {
                what: "sync_committee_bits",
                expected: size / 8,
                got: self.sync_aggregate.sync_committee_bits.len(),
            });
        }
        let next_sync_committee = match self.next_sync_committee {
            Some(json) => committee(json, config)?,
            None => SyncCommittee::default(),
        };
        Ok(Update {
            attested_header: self.attested_header.into_header(fork)?,
            next_sync_committee,
            next_sync_committee_branch: branch(
                self.next_sync_committee_branch,
                fork.next_sync_committee_gindex(),
                "next_sync_committee_branch",
            )?,
            finalized_header: match self.finalized_header {
                Some(header) => header.into_header(fork)?,
                None => LightClientHeader::default(),
            },
            finality_branch: branch(
                self.finality_branch,
                fork.finalized_root_gindex(),
                "finality_branch",
            )?,
            sync_aggregate: SyncAggregate {
                sync_committee_bits: self.sync_aggregate.sync_committee_bits.to_vec(),
                sync_committee_signature: self.sync_aggregate.sync_committee_signature,
            },
            signature_slot: self.signature_slot.0,
        })
    }
}

fn parse<T: DeserializeOwned>(json: &str, what: &'static str) -> Result<T, DecodeError> {
    serde_json::from_str(json).map_err(json_err(what))
}

/// Decodes a `GET /eth/v1/beacon/light_client/bootstrap/{root}` JSON response.
pub fn bootstrap_from_json(json: &str, config: &ChainConfig) -> Result<Bootstrap, DecodeError> {
    let what = "light-client bootstrap";
    let versioned: Versioned<JsonBootstrap> = parse(json, what)?;
    let data = versioned.data;
    let fork = fork_of(
        versioned.version.as_deref(),
        data.header.beacon.slot.0,
        config,
        what,
    )?;
    Ok(Bootstrap {
        header: data.header.into_header(fork)?,
        current_sync_committee: committee(data.current_sync_committee, config)?,
        current_sync_committee_branch: branch(
            Some(data.current_sync_committee_branch),
            fork.current_sync_committee_gindex(),
            "current_sync_committee_branch",
        )?,
    })
}

/// Decodes a `GET /eth/v1/beacon/light_client/updates` JSON response (an array), or a single
/// update, finality update or optimistic update (an object).
pub fn updates_from_json(json: &str, config: &ChainConfig) -> Result<Vec<Update>, DecodeError> {
    let what = "light-client update";
    let value: serde_json::Value = parse(json, what)?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        other => vec![other],
    };
    items
        .into_iter()
        .map(|item| {
            let versioned: Versioned<JsonUpdate> =
                serde_json::from_value(item).map_err(json_err(what))?;
            let fork = fork_of(
                versioned.version.as_deref(),
                versioned.data.attested_header.beacon.slot.0,
                config,
                what,
            )?;
            versioned.data.into_update(fork, config)
        })
        .collect()
}
