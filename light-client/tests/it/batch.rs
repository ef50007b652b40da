//! Signatures checked in batches ([`verify_batch`], [`Store::process_updates`]): a batch ends with
//! the same results and the same store as one update at a time, and a bad signature anywhere in
//! it is caught and blamed on its own update. That includes two valid signatures swapped between
//! updates: their sum is unchanged, so a batch without random scalars would accept them.

use light_client::bls::{PreparedCommittee, SignatureCheck, verify_batch};
use light_client::store::update_signing_root;
use light_client::{ChainConfig, Store, SyncError, Update, json};

use crate::bls::signed_updates;
use crate::consensus::{NOW, capella_store, capella_updates};
use crate::fixtures::{fixture, text};

const SEED: [u8; 32] = [0x5e; 32];

/// The six Capella period updates, then the finality and the optimistic update.
fn capella_sync() -> Vec<Update> {
    let config = ChainConfig::mainnet();
    let mut updates = capella_updates();
    for file in [
        fixture!("helios-capella-mainnet-lc/finality.json"),
        fixture!("helios-capella-mainnet-lc/optimistic.json"),
    ] {
        updates.push(
            json::updates_from_json(text(file), &config)
                .unwrap()
                .remove(0),
        );
    }
    updates
}

fn one_by_one(updates: &[Update]) -> (Vec<Result<(), SyncError>>, Store) {
    let mut store = capella_store();
    let results = updates
        .iter()
        .map(|update| store.process_update(update.clone(), NOW))
        .collect();
    (results, store)
}

fn batched(updates: &[Update], seed: &[u8; 32]) -> (Vec<Result<(), SyncError>>, Store) {
    let mut store = capella_store();
    let results = store.process_updates(updates.to_vec(), NOW, seed);
    (results, store)
}

/// Everything a store shows and decides with.
fn assert_same_store(batched: &Store, one_by_one: &Store) {
    assert_eq!(batched.report(), one_by_one.report());
    assert_eq!(batched.finalized_period(), one_by_one.finalized_period());
    assert_eq!(
        batched.is_next_sync_committee_known(),
        one_by_one.is_next_sync_committee_known()
    );
}

fn swap_signatures(updates: &mut [Update], a: usize, b: usize) {
    let first = updates[a].sync_aggregate.sync_committee_signature;
    updates[a].sync_aggregate.sync_committee_signature =
        updates[b].sync_aggregate.sync_committee_signature;
    updates[b].sync_aggregate.sync_committee_signature = first;
}

fn checks(updates: &[(light_client::types::SyncCommittee, Update)]) -> Vec<SignatureCheck> {
    let config = ChainConfig::mainnet();
    updates
        .iter()
        .map(|(committee, update)| {
            PreparedCommittee::new(committee.clone())
                .check(
                    &update.sync_aggregate,
                    &update_signing_root(update, &config),
                )
                .unwrap()
        })
        .collect()
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn real_signatures_verify_as_a_batch_and_swapped_ones_do_not() {
    let mut signed = signed_updates();
    let real = checks(&signed);
    assert!(verify_batch(&real, &SEED));
    assert!(verify_batch(&real, &[0; 32]));
    assert!(verify_batch(&real[..2], &SEED));
    assert!(verify_batch(&[], &SEED));

    let mut updates: Vec<Update> = signed.iter().map(|(_, u)| u.clone()).collect();
    swap_signatures(&mut updates, 1, 4);
    for ((_, update), swapped) in signed.iter_mut().zip(updates) {
        *update = swapped;
    }
    let swapped = checks(&signed);
    assert!(!swapped[1].verify() && !swapped[4].verify());
    assert!(swapped[0].verify());
    assert!(!verify_batch(&swapped, &SEED));
    assert!(!verify_batch(&swapped, &[0; 32]));
    assert!(!verify_batch(
        &[swapped[1].clone(), swapped[4].clone()],
        &SEED
    ));
    // A batch of one is checked alone.
    assert!(!verify_batch(&swapped[1..2], &SEED));
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_batch_of_real_updates_ends_where_one_by_one_ends() {
    let updates = capella_sync();
    let (expected, sequential) = one_by_one(&updates);
    assert!(expected.iter().all(Result::is_ok), "{expected:?}");
    let (results, store) = batched(&updates, &SEED);
    assert_eq!(results, expected);
    assert_same_store(&store, &sequential);
    assert_eq!(store.finalized_period(), 867);
    assert_eq!(
        store.optimistic_header().beacon.slot,
        updates[7].attested_header.beacon.slot
    );
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn a_bad_signature_in_a_batch_is_blamed_on_its_update_and_the_rest_are_treated_as_alone() {
    // A swap in the middle of the period updates: the first bad one stops the catch-up there.
    let mut updates = capella_sync();
    swap_signatures(&mut updates, 2, 3);
    let (expected, sequential) = one_by_one(&updates);
    assert!(
        matches!(expected[2], Err(SyncError::Signature { .. })),
        "{expected:?}"
    );
    let (results, store) = batched(&updates, &SEED);
    assert_eq!(results, expected);
    assert_same_store(&store, &sequential);
    assert_eq!(store.finalized_period(), 863);

    // A swap between the head updates: every period update still applies, neither head update.
    let mut updates = capella_sync();
    swap_signatures(&mut updates, 6, 7);
    let (expected, sequential) = one_by_one(&updates);
    assert!(expected[..6].iter().all(Result::is_ok));
    assert!(matches!(expected[6], Err(SyncError::Signature { .. })));
    assert!(matches!(expected[7], Err(SyncError::Signature { .. })));
    let (results, store) = batched(&updates, &SEED);
    assert_eq!(results, expected);
    assert_same_store(&store, &sequential);
    assert_eq!(store.finalized_period(), 867);
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn checks_that_fail_without_a_pairing_fail_in_a_batch_too() {
    // A signature that is not a curve point is rejected before any pairing; the rest of its
    // batch still applies.
    let mut updates = capella_sync();
    updates[7].sync_aggregate.sync_committee_signature = [0xff; 96].into();
    let (expected, sequential) = one_by_one(&updates);
    assert!(expected[..7].iter().all(Result::is_ok));
    assert!(
        matches!(expected[7], Err(SyncError::Signature { .. })),
        "{expected:?}"
    );
    let (results, store) = batched(&updates, &SEED);
    assert_eq!(results, expected);
    assert_same_store(&store, &sequential);
}
