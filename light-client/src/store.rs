//! The light-client sync state machine of the consensus specs (`altair/light-client/
//! sync-protocol.md`, with the Capella header and Electra normalized-branch changes):
//! `initialize_light_client_store`, `validate_light_client_update`,
//! `process_light_client_update`, `apply_light_client_update`,
//! `process_light_client_store_force_update`, and finality and optimistic updates as updates with
//! empty parts. Function names follow the spec so the two can be read side by side.
//!
//! Pure: the caller supplies the current slot; nothing here reads a clock or the network.

use alloy_primitives::B256;
use serde::Serialize;

use crate::bls::PreparedCommittee;
use crate::config::{ChainConfig, EXECUTION_PAYLOAD_GINDEX, Fork, MIN_SYNC_COMMITTEE_PARTICIPANTS};
use crate::error::SyncError;
use crate::ssz::{gindex_depth, hash_pair, is_valid_merkle_branch};
use crate::types::{Bootstrap, LightClientHeader, Update};

/// `LightClientStore`.
#[derive(Debug, Clone)]
pub struct Store {
    config: ChainConfig,
    finalized_header: LightClientHeader,
    current_sync_committee: PreparedCommittee,
    next_sync_committee: Option<PreparedCommittee>,
    best_valid_update: Option<Update>,
    optimistic_header: LightClientHeader,
    previous_max_active_participants: usize,
    current_max_active_participants: usize,
}

/// A verified header as Cairn reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifiedHeader {
    /// Beacon slot.
    pub slot: u64,
    /// Beacon block root.
    pub beacon_root: B256,
    /// The execution block this beacon block carries.
    pub execution: VerifiedExecution,
}

/// What a synced store vouches for: its finalized and optimistic headers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// The network.
    pub network: String,
    /// The latest finalized header (signed by a supermajority, proven final).
    pub finalized: VerifiedHeader,
    /// The latest optimistic header (signed by more than the safety threshold).
    pub optimistic: VerifiedHeader,
}

/// The execution part of a [`VerifiedHeader`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifiedExecution {
    /// Execution block number.
    pub block_number: u64,
    /// Execution block hash.
    pub block_hash: B256,
    /// Execution state root.
    pub state_root: B256,
}

impl VerifiedHeader {
    /// The report of a header already verified by the store.
    pub fn of(header: &LightClientHeader) -> Self {
        Self {
            slot: header.beacon.slot,
            beacon_root: header.beacon.root(),
            execution: VerifiedExecution {
                block_number: header.execution.block_number,
                block_hash: header.execution.block_hash,
                state_root: header.execution.state_root,
            },
        }
    }
}

/// `is_valid_light_client_header` (Capella and later).
pub fn is_valid_light_client_header(header: &LightClientHeader, config: &ChainConfig) -> bool {
    let fork = config.fork_at_slot(header.beacon.slot);
    if fork < Fork::Deneb
        && (header.execution.blob_gas_used != 0 || header.execution.excess_blob_gas != 0)
    {
        return false;
    }
    if fork < Fork::Capella {
        return header.execution_branch.iter().all(|n| n.is_zero())
            && header.execution.block_hash.is_zero()
            && header.execution.state_root.is_zero();
    }
    is_valid_merkle_branch(
        header.execution_root(config),
        &header.execution_branch,
        EXECUTION_PAYLOAD_GINDEX,
        header.beacon.body_root,
    )
}

/// `is_valid_normalized_merkle_branch`: a branch longer than the gindex's depth must be padded
/// with leading zero roots (an Electra store reading pre-Electra proofs).
fn is_valid_normalized_merkle_branch(leaf: B256, branch: &[B256], gindex: u64, root: B256) -> bool {
    let depth = gindex_depth(gindex);
    if branch.len() < depth {
        return false;
    }
    let extra = branch.len() - depth;
    if branch[..extra].iter().any(|n| !n.is_zero()) {
        return false;
    }
    is_valid_merkle_branch(leaf, &branch[extra..], gindex, root)
}

/// `compute_signing_root(header, domain)`.
fn signing_root(object_root: B256, domain: [u8; 32]) -> [u8; 32] {
    hash_pair(&object_root.0, &domain)
}

impl Store {
    /// `initialize_light_client_store`: trusts `bootstrap` only if its header hashes to
    /// `trusted_block_root` and proves its sync committee.
    pub fn bootstrap(
        config: ChainConfig,
        trusted_block_root: B256,
        bootstrap: Bootstrap,
    ) -> Result<Self, SyncError> {
        config.validate()?;
        if !is_valid_light_client_header(&bootstrap.header, &config) {
            return Err(SyncError::ExecutionBranch {
                which: "bootstrap",
                slot: bootstrap.header.beacon.slot,
            });
        }
        let root = bootstrap.header.beacon.root();
        if root != trusted_block_root {
            return Err(SyncError::CheckpointMismatch {
                expected: trusted_block_root,
                got: root,
            });
        }
        let gindex = config
            .fork_at_slot(bootstrap.header.beacon.slot)
            .current_sync_committee_gindex();
        if !is_valid_normalized_merkle_branch(
            bootstrap.current_sync_committee.root(),
            &bootstrap.current_sync_committee_branch,
            gindex,
            bootstrap.header.beacon.state_root,
        ) {
            return Err(SyncError::CurrentSyncCommitteeBranch);
        }
        if bootstrap.current_sync_committee.pubkeys.len() != config.sync_committee_size {
            return Err(SyncError::CurrentSyncCommitteeBranch);
        }
        let current_sync_committee = PreparedCommittee::new(bootstrap.current_sync_committee);
        Ok(Self {
            config,
            finalized_header: bootstrap.header.clone(),
            current_sync_committee,
            next_sync_committee: None,
            best_valid_update: None,
            optimistic_header: bootstrap.header,
            previous_max_active_participants: 0,
            current_max_active_participants: 0,
        })
    }

    /// The network this store follows.
    pub fn config(&self) -> &ChainConfig {
        &self.config
    }

    /// The latest finalized header.
    pub fn finalized_header(&self) -> &LightClientHeader {
        &self.finalized_header
    }

    /// The latest optimistic header.
    pub fn optimistic_header(&self) -> &LightClientHeader {
        &self.optimistic_header
    }

    /// The verified headers, for display.
    pub fn report(&self) -> SyncReport {
        SyncReport {
            network: self.config.name.clone(),
            finalized: VerifiedHeader::of(&self.finalized_header),
            optimistic: VerifiedHeader::of(&self.optimistic_header),
        }
    }

    /// Whether the next period's committee is known.
    pub fn is_next_sync_committee_known(&self) -> bool {
        self.next_sync_committee.is_some()
    }

    /// The sync-committee period of the finalized header.
    pub fn finalized_period(&self) -> u64 {
        self.config
            .period_at_slot(self.finalized_header.beacon.slot)
    }

    fn safety_threshold(&self) -> usize {
        self.previous_max_active_participants
            .max(self.current_max_active_participants)
            / 2
    }

    /// `validate_light_client_update`: every check of the spec, in the spec's order.
    pub fn validate_update(&self, update: &Update, current_slot: u64) -> Result<(), SyncError> {
        self.validate_update_with(update, current_slot, &mut verify_update_signature)
    }

    /// [`validate_update`](Self::validate_update) with its last check, the signature, left to
    /// `signature` (given the committee that must have signed).
    fn validate_update_with(
        &self,
        update: &Update,
        current_slot: u64,
        signature: &mut impl FnMut(&Update, &PreparedCommittee, &ChainConfig) -> bool,
    ) -> Result<(), SyncError> {
        let config = &self.config;
        let participants = update.sync_aggregate.participants();
        if participants < MIN_SYNC_COMMITTEE_PARTICIPANTS {
            return Err(SyncError::TooFewParticipants {
                participants,
                minimum: MIN_SYNC_COMMITTEE_PARTICIPANTS,
            });
        }
        if update.sync_aggregate.size() != config.sync_committee_size {
            return Err(SyncError::TooFewParticipants {
                participants,
                minimum: config.sync_committee_size,
            });
        }
        if !is_valid_light_client_header(&update.attested_header, config) {
            return Err(SyncError::ExecutionBranch {
                which: "attested",
                slot: update.attested_header.beacon.slot,
            });
        }
        let attested_slot = update.attested_header.beacon.slot;
        let finalized_slot = update.finalized_header.beacon.slot;
        if !(current_slot >= update.signature_slot
            && update.signature_slot > attested_slot
            && attested_slot >= finalized_slot)
        {
            return Err(SyncError::SlotOrder {
                current: current_slot,
                signature: update.signature_slot,
                attested: attested_slot,
                finalized: finalized_slot,
            });
        }
        let store_period = self.finalized_period();
        let signature_period = config.period_at_slot(update.signature_slot);
        let period_ok = if self.is_next_sync_committee_known() {
            signature_period == store_period || signature_period == store_period + 1
        } else {
            signature_period == store_period
        };
        if !period_ok {
            return Err(SyncError::PeriodSkip {
                store: store_period,
                update: signature_period,
            });
        }

        let attested_period = config.period_at_slot(attested_slot);
        let has_next_sync_committee = !self.is_next_sync_committee_known()
            && update.is_sync_committee_update()
            && attested_period == store_period;
        if !(attested_slot > self.finalized_header.beacon.slot || has_next_sync_committee) {
            return Err(SyncError::NotRelevant {
                attested: attested_slot,
                finalized: self.finalized_header.beacon.slot,
            });
        }

        let attested_fork = config.fork_at_slot(attested_slot);
        if !update.is_finality_update() {
            if !update.finalized_header.is_empty() {
                return Err(SyncError::NotEmpty("finalized_header"));
            }
        } else {
            let finalized_root = if finalized_slot == 0 {
                if !update.finalized_header.is_empty() {
                    return Err(SyncError::NotEmpty("genesis finalized_header"));
                }
                B256::ZERO
            } else {
                if !is_valid_light_client_header(&update.finalized_header, config) {
                    return Err(SyncError::ExecutionBranch {
                        which: "finalized",
                        slot: finalized_slot,
                    });
                }
                update.finalized_header.beacon.root()
            };
            if !is_valid_normalized_merkle_branch(
                finalized_root,
                &update.finality_branch,
                attested_fork.finalized_root_gindex(),
                update.attested_header.beacon.state_root,
            ) {
                return Err(SyncError::FinalityBranch);
            }
        }

        if !update.is_sync_committee_update() {
            if update
                .next_sync_committee
                .pubkeys
                .iter()
                .any(|k| !k.is_zero())
                || !update.next_sync_committee.aggregate_pubkey.is_zero()
            {
                return Err(SyncError::NotEmpty("next_sync_committee"));
            }
        } else {
            if attested_period == store_period
                && let Some(next) = &self.next_sync_committee
                && next.committee != update.next_sync_committee
            {
                return Err(SyncError::NextSyncCommitteeConflict);
            }
            if update.next_sync_committee.pubkeys.len() != config.sync_committee_size
                || !is_valid_normalized_merkle_branch(
                    update.next_sync_committee.root(),
                    &update.next_sync_committee_branch,
                    attested_fork.next_sync_committee_gindex(),
                    update.attested_header.beacon.state_root,
                )
            {
                return Err(SyncError::NextSyncCommitteeBranch);
            }
        }

        let committee = if signature_period == store_period {
            &self.current_sync_committee
        } else {
            match &self.next_sync_committee {
                Some(next) => next,
                None => {
                    return Err(SyncError::PeriodSkip {
                        store: store_period,
                        update: signature_period,
                    });
                }
            }
        };
        if !signature(update, committee, config) {
            return Err(SyncError::Signature {
                signature_slot: update.signature_slot,
            });
        }
        Ok(())
    }

    /// `process_light_client_update`: validates, then tracks the best update, the optimistic
    /// header, and applies the update when a supermajority signed a newer finalized header.
    pub fn process_update(&mut self, update: Update, current_slot: u64) -> Result<(), SyncError> {
        self.process_update_with(update, current_slot, &mut verify_update_signature)
    }

    /// [`process_update`](Self::process_update) for each of `updates` in order, with the same
    /// result for each and the same store afterwards, but with their signatures checked together
    /// ([`bls::verify_batch`](crate::bls::verify_batch), about half the BLS cost of one by one).
    ///
    /// A trial copy of the store runs every other check and takes every state change, collecting
    /// the signatures; it replaces the store only if the whole batch verifies. Otherwise (some
    /// signature is bad) the updates are processed one by one on the untouched store, so the bad
    /// one gets its own error and everything before and after it is treated exactly as
    /// `process_update` would. `seed` must be secret from whoever supplied the updates (fresh OS
    /// randomness).
    pub fn process_updates(
        &mut self,
        updates: Vec<Update>,
        current_slot: u64,
        seed: &[u8; 32],
    ) -> Vec<Result<(), SyncError>> {
        let mut trial = self.clone();
        let mut checks = Vec::with_capacity(updates.len());
        let results: Vec<Result<(), SyncError>> = updates
            .iter()
            .map(|update| {
                trial.process_update_with(
                    update.clone(),
                    current_slot,
                    &mut |update, committee, config| {
                        let root = update_signing_root(update, config);
                        committee
                            .check(&update.sync_aggregate, &root)
                            .map(|check| checks.push(check))
                            .is_some()
                    },
                )
            })
            .collect();
        if crate::bls::verify_batch(&checks, seed) {
            *self = trial;
            return results;
        }
        updates
            .into_iter()
            .map(|update| self.process_update(update, current_slot))
            .collect()
    }

    fn process_update_with(
        &mut self,
        update: Update,
        current_slot: u64,
        signature: &mut impl FnMut(&Update, &PreparedCommittee, &ChainConfig) -> bool,
    ) -> Result<(), SyncError> {
        self.validate_update_with(&update, current_slot, signature)?;
        let participants = update.sync_aggregate.participants();
        let better = match &self.best_valid_update {
            None => true,
            Some(best) => is_better_update(&update, best, &self.config),
        };
        self.current_max_active_participants =
            self.current_max_active_participants.max(participants);
        if participants > self.safety_threshold()
            && update.attested_header.beacon.slot > self.optimistic_header.beacon.slot
        {
            self.optimistic_header = update.attested_header.clone();
        }
        let has_finalized_next_sync_committee = !self.is_next_sync_committee_known()
            && update.is_sync_committee_update()
            && update.is_finality_update()
            && self
                .config
                .period_at_slot(update.finalized_header.beacon.slot)
                == self
                    .config
                    .period_at_slot(update.attested_header.beacon.slot);
        let supermajority = participants * 3 >= update.sync_aggregate.size() * 2;
        if supermajority
            && (update.finalized_header.beacon.slot > self.finalized_header.beacon.slot
                || has_finalized_next_sync_committee)
        {
            self.apply_update(&update)?;
            self.best_valid_update = None;
        } else if better {
            self.best_valid_update = Some(update);
        }
        Ok(())
    }

    /// `apply_light_client_update`.
    fn apply_update(&mut self, update: &Update) -> Result<(), SyncError> {
        let store_period = self.finalized_period();
        let update_period = self
            .config
            .period_at_slot(update.finalized_header.beacon.slot);
        if !self.is_next_sync_committee_known() {
            if update_period != store_period {
                return Err(SyncError::ApplyPeriod {
                    store: store_period,
                    update: update_period,
                });
            }
            self.next_sync_committee = self.prepare_next(update)?;
        } else if update_period == store_period + 1 {
            let next = self.prepare_next(update)?;
            if let Some(current) = std::mem::replace(&mut self.next_sync_committee, next) {
                self.current_sync_committee = current;
            }
            self.previous_max_active_participants = self.current_max_active_participants;
            self.current_max_active_participants = 0;
        }
        if update.finalized_header.beacon.slot > self.finalized_header.beacon.slot {
            self.finalized_header = update.finalized_header.clone();
            if self.finalized_header.beacon.slot > self.optimistic_header.beacon.slot {
                self.optimistic_header = self.finalized_header.clone();
            }
        }
        Ok(())
    }

    /// The committee an update brings, ready to verify signatures; `None` for an update without
    /// one (the spec's empty `SyncCommittee()`, meaning "not known").
    fn prepare_next(&self, update: &Update) -> Result<Option<PreparedCommittee>, SyncError> {
        if !update.is_sync_committee_update() {
            return Ok(None);
        }
        if let Some(next) = &self.next_sync_committee
            && next.committee == update.next_sync_committee
        {
            return Ok(Some(next.clone()));
        }
        Ok(Some(PreparedCommittee::new(
            update.next_sync_committee.clone(),
        )))
    }

    /// `process_light_client_store_force_update`: after `UPDATE_TIMEOUT` slots without
    /// finality, applies the best valid update seen, treating its attested header as finalized
    /// if needed. Returns whether an update was applied.
    pub fn force_update(&mut self, current_slot: u64) -> Result<bool, SyncError> {
        if current_slot > self.finalized_header.beacon.slot + self.config.slots_per_period()
            && let Some(mut best) = self.best_valid_update.take()
        {
            if best.finalized_header.beacon.slot <= self.finalized_header.beacon.slot {
                best.finalized_header = best.attested_header.clone();
            }
            self.apply_update(&best)?;
            return Ok(true);
        }
        Ok(false)
    }
}

/// The last check of `validate_light_client_update`: the sync aggregate is `committee`'s
/// signature over the attested header, in the domain of the signature slot's fork.
pub fn verify_update_signature(
    update: &Update,
    committee: &PreparedCommittee,
    config: &ChainConfig,
) -> bool {
    committee.verify(&update.sync_aggregate, &update_signing_root(update, config))
}

/// What an update's sync aggregate signs: its attested header's root in the domain of the
/// signature slot's fork.
pub fn update_signing_root(update: &Update, config: &ChainConfig) -> [u8; 32] {
    let domain = config.sync_committee_domain(update.signature_slot);
    signing_root(update.attested_header.beacon.root(), domain)
}

/// `is_better_update`.
pub fn is_better_update(new: &Update, old: &Update, config: &ChainConfig) -> bool {
    let max = new.sync_aggregate.size();
    let new_active = new.sync_aggregate.participants();
    let old_active = old.sync_aggregate.participants();
    let new_super = new_active * 3 >= max * 2;
    let old_super = old_active * 3 >= max * 2;
    if new_super != old_super {
        return new_super;
    }
    if !new_super && new_active != old_active {
        return new_active > old_active;
    }
    let relevant = |u: &Update| {
        u.is_sync_committee_update()
            && config.period_at_slot(u.attested_header.beacon.slot)
                == config.period_at_slot(u.signature_slot)
    };
    if relevant(new) != relevant(old) {
        return relevant(new);
    }
    let new_finality = new.is_finality_update();
    if new_finality != old.is_finality_update() {
        return new_finality;
    }
    if new_finality {
        let committee_finality = |u: &Update| {
            config.period_at_slot(u.finalized_header.beacon.slot)
                == config.period_at_slot(u.attested_header.beacon.slot)
        };
        if committee_finality(new) != committee_finality(old) {
            return committee_finality(new);
        }
    }
    if new_active != old_active {
        return new_active > old_active;
    }
    if new.attested_header.beacon.slot != old.attested_header.beacon.slot {
        return new.attested_header.beacon.slot < old.attested_header.beacon.slot;
    }
    new.signature_slot < old.signature_slot
}
