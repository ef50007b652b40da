//! The lazy committee ([`PreparedCommittee`]): the aggregate-minus-non-signers shortcut agrees
//! with the spec's sum of signers on real mainnet signatures, falls back to that sum whenever the
//! shortcut cannot be used or does not verify, and never accepts a wrong participation set.

use light_client::bls::{Aggregation, PreparedCommittee};
use light_client::store::update_signing_root;
use light_client::types::SyncCommittee;
use light_client::{ChainConfig, Update, json};

use crate::consensus::capella_updates;
use crate::fixtures::{fixture, text};

/// Each Capella update with the committee that signs it (the previous update's next committee;
/// the bootstrap's for the first).
pub(crate) fn signed_updates() -> Vec<(SyncCommittee, Update)> {
    let config = ChainConfig::mainnet();
    let bootstrap = json::bootstrap_from_json(
        text(fixture!("helios-capella-mainnet-lc/bootstrap.json")),
        &config,
    )
    .unwrap();
    let updates = capella_updates();
    let mut committees = vec![bootstrap.current_sync_committee];
    committees.extend(updates.iter().map(|u| u.next_sync_committee.clone()));
    committees.into_iter().zip(updates).collect()
}

fn verify(committee: &PreparedCommittee, update: &Update) -> Option<Aggregation> {
    let root = update_signing_root(update, &ChainConfig::mainnet());
    committee.verify_with(&update.sync_aggregate, &root)
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn real_signatures_verify_by_subtraction_touching_only_non_signers() {
    let updates = signed_updates();
    assert!(
        updates
            .iter()
            .any(|(_, u)| u.sync_aggregate.participants() < 512),
        "the set includes updates with non-signers"
    );
    for (committee, update) in updates {
        let signers = update.sync_aggregate.participants();
        assert!(
            signers * 2 >= 512,
            "a mainnet committee signs with a majority"
        );
        let prepared = PreparedCommittee::new(committee.clone());
        assert_eq!(prepared.decompressed(), 0);
        assert_eq!(verify(&prepared, &update), Some(Aggregation::Subtracted));
        assert_eq!(prepared.decompressed(), 512 - signers);
        // The spec's literal aggregation agrees.
        let mut literal = committee;
        literal.aggregate_pubkey = Default::default();
        let literal = PreparedCommittee::new(literal);
        assert_eq!(verify(&literal, &update), Some(Aggregation::Summed));
        assert_eq!(literal.decompressed(), signers);
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_wrong_aggregate_key_falls_back_to_the_signers_sum() {
    let (mut committee, update) = signed_updates().remove(0);
    // A valid key, but not the members' sum: the shortcut fails, the spec's sum verifies.
    committee.aggregate_pubkey = committee.pubkeys[0];
    let prepared = PreparedCommittee::new(committee);
    assert_eq!(verify(&prepared, &update), Some(Aggregation::Summed));
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_changed_participation_set_is_rejected_by_both_aggregations() {
    let (committee, update) = signed_updates().remove(1);
    let prepared = PreparedCommittee::eager(committee);
    assert_eq!(prepared.decompressed(), 512);
    for index in [0usize, 1, 100, 255, 256, 511] {
        let mut changed = update.clone();
        changed.sync_aggregate.sync_committee_bits[index / 8] ^= 1 << (index % 8);
        assert_eq!(verify(&prepared, &changed), None, "bit {index} flipped");
    }
    let mut nobody = update;
    nobody.sync_aggregate.sync_committee_bits.fill(0);
    assert_eq!(verify(&prepared, &nobody), None);
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn an_invalid_key_fails_only_when_it_is_needed() {
    let (committee, update) = signed_updates().remove(2);
    let absent = (0..512)
        .find(|&i| !update.sync_aggregate.bit(i))
        .expect("a non-signer");
    let present = (0..512)
        .find(|&i| update.sync_aggregate.bit(i))
        .expect("a signer");
    // Not a valid key (off the curve, or outside the subgroup).
    let mut garbage = committee.pubkeys[absent];
    garbage.0[47] ^= 0x01;
    // An invalid key of a member who did not sign: the spec never reads it and accepts; the
    // shortcut cannot be used, and the sum of signers verifies.
    let mut broken = committee.clone();
    broken.pubkeys[absent] = garbage;
    assert_eq!(
        verify(&PreparedCommittee::new(broken), &update),
        Some(Aggregation::Summed)
    );
    // An invalid key of a signer: the spec rejects, so must we. (The aggregate key goes too: a
    // genuine state's aggregate is its members' sum, and these members are not genuine.)
    let mut broken = committee;
    broken.pubkeys[present] = garbage;
    broken.aggregate_pubkey = Default::default();
    assert_eq!(verify(&PreparedCommittee::new(broken), &update), None);
}
