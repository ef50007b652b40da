//! Single-byte corruptions of what a server sends are rejected, each by the check it targets:
//! every byte of the sync-committee signature, of every Merkle branch, and of the signed headers.

use light_client::{Store, SyncError, Update};

use crate::consensus::{NOW, capella_store, capella_updates};

/// The first Capella update (period 862): it carries a next sync committee and finality.
fn update() -> (Store, Update) {
    (capella_store(), capella_updates().remove(0))
}

fn rejected(store: &Store, update: &Update) -> SyncError {
    store
        .validate_update(update, NOW)
        .expect_err("a corrupted update must be rejected")
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn untouched_update_is_valid() {
    let (store, update) = update();
    store.validate_update(&update, NOW).unwrap();
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn every_signature_byte_is_checked() {
    let (store, update) = update();
    for index in 0..96 {
        let mut bad = update.clone();
        bad.sync_aggregate.sync_committee_signature.0[index] ^= 0x01;
        let err = rejected(&store, &bad);
        assert!(
            matches!(err, SyncError::Signature { .. }),
            "byte {index}: {err}"
        );
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn every_participation_bit_is_checked() {
    let (store, update) = update();
    // Flipping a participant in or out changes the aggregate key: the signature must fail.
    for index in (0..512).step_by(7) {
        let mut bad = update.clone();
        bad.sync_aggregate.sync_committee_bits[index / 8] ^= 1 << (index % 8);
        let err = rejected(&store, &bad);
        assert!(
            matches!(err, SyncError::Signature { .. }),
            "bit {index}: {err}"
        );
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn every_branch_byte_is_checked() {
    let (store, update) = update();
    for node in 0..update.finality_branch.len() {
        for byte in 0..32 {
            let mut bad = update.clone();
            bad.finality_branch[node].0[byte] ^= 0x80;
            let err = rejected(&store, &bad);
            assert_eq!(
                err,
                SyncError::FinalityBranch,
                "finality node {node} byte {byte}"
            );
        }
    }
    for node in 0..update.next_sync_committee_branch.len() {
        for byte in 0..32 {
            let mut bad = update.clone();
            bad.next_sync_committee_branch[node].0[byte] ^= 0x80;
            let err = rejected(&store, &bad);
            assert_eq!(
                err,
                SyncError::NextSyncCommitteeBranch,
                "committee node {node} byte {byte}"
            );
        }
    }
    for node in 0..update.attested_header.execution_branch.len() {
        for byte in 0..32 {
            let mut bad = update.clone();
            bad.attested_header.execution_branch[node].0[byte] ^= 0x80;
            assert!(
                matches!(
                    rejected(&store, &bad),
                    SyncError::ExecutionBranch {
                        which: "attested",
                        ..
                    }
                ),
                "attested execution node {node} byte {byte}"
            );
            let mut bad = update.clone();
            bad.finalized_header.execution_branch[node].0[byte] ^= 0x80;
            assert!(
                matches!(
                    rejected(&store, &bad),
                    SyncError::ExecutionBranch {
                        which: "finalized",
                        ..
                    }
                ),
                "finalized execution node {node} byte {byte}"
            );
        }
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn every_signed_header_byte_is_checked() {
    let (store, update) = update();
    let corruptions: [fn(&mut Update, usize); 10] = [
        |u, i| u.attested_header.beacon.parent_root.0[i] ^= 1,
        |u, i| u.attested_header.beacon.state_root.0[i] ^= 1,
        |u, i| u.attested_header.beacon.body_root.0[i] ^= 1,
        |u, i| u.finalized_header.beacon.parent_root.0[i] ^= 1,
        |u, i| u.finalized_header.beacon.state_root.0[i] ^= 1,
        |u, i| u.finalized_header.beacon.body_root.0[i] ^= 1,
        |u, i| u.attested_header.execution.state_root.0[i] ^= 1,
        |u, i| u.attested_header.execution.block_hash.0[i] ^= 1,
        |u, i| u.finalized_header.execution.state_root.0[i] ^= 1,
        |u, i| u.finalized_header.execution.block_hash.0[i] ^= 1,
    ];
    for (which, corrupt) in corruptions.iter().enumerate() {
        for byte in 0..32 {
            let mut bad = update.clone();
            corrupt(&mut bad, byte);
            assert!(
                store.validate_update(&bad, NOW).is_err(),
                "corruption {which} byte {byte} accepted"
            );
        }
    }
    for byte in 0..8 {
        let mut bad = update.clone();
        bad.attested_header.beacon.proposer_index ^= 1 << (8 * byte);
        assert!(matches!(
            rejected(&store, &bad),
            SyncError::Signature { .. }
        ));
        let mut bad = update.clone();
        bad.finalized_header.beacon.slot ^= 1 << (8 * byte);
        rejected(&store, &bad);
        let mut bad = update.clone();
        bad.attested_header.execution.block_number ^= 1 << (8 * byte);
        assert!(matches!(
            rejected(&store, &bad),
            SyncError::ExecutionBranch { .. }
        ));
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn every_next_committee_key_is_checked() {
    let (store, update) = update();
    for key in (0..512).step_by(37) {
        let mut bad = update.clone();
        bad.next_sync_committee.pubkeys[key].0[47] ^= 1;
        assert_eq!(
            rejected(&store, &bad),
            SyncError::NextSyncCommitteeBranch,
            "key {key}"
        );
    }
}
