//! Real mainnet chains: Capella (beacon-API JSON, helios), Deneb (beacon-API SSZ, colibri) and
//! the portal network's Capella and Deneb sets (fork-digest-prefixed SSZ).

use light_client::types::{Kind, decode_updates_response, decode_with_digest, split_digest};
use light_client::{Bootstrap, ChainConfig, Store, json};

use crate::fixtures::{fixture, portal, root, text};

/// A slot after every fixture's signatures (late 2026).
pub(crate) const NOW: u64 = 13_000_000;

/// The helios Capella set: bootstrap at slot 7069376 (period 862) trusted by its block root.
pub(crate) fn capella_store() -> Store {
    let config = ChainConfig::mainnet();
    let bootstrap = json::bootstrap_from_json(
        text(fixture!("helios-capella-mainnet-lc/bootstrap.json")),
        &config,
    )
    .unwrap();
    Store::bootstrap(
        config,
        root("0x5afc212a7924789b2bc86acad3ab3a6ffb1f6e97253ea50bee7f4f51422c9275"),
        bootstrap,
    )
    .unwrap()
}

pub(crate) fn capella_updates() -> Vec<light_client::Update> {
    json::updates_from_json(
        text(fixture!("helios-capella-mainnet-lc/updates.json")),
        &ChainConfig::mainnet(),
    )
    .unwrap()
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn capella_chain_syncs_through_six_periods_then_finality_and_optimistic() {
    let mut store = capella_store();
    assert_eq!(store.finalized_period(), 862);
    let updates = capella_updates();
    assert_eq!(updates.len(), 6);
    let mut periods = Vec::new();
    for update in updates {
        store.process_update(update, NOW).unwrap();
        periods.push(store.finalized_period());
    }
    // Each update advances the store by one sync-committee period.
    assert_eq!(periods, vec![862, 863, 864, 865, 866, 867]);
    assert!(store.is_next_sync_committee_known());

    let config = ChainConfig::mainnet();
    let finality = json::updates_from_json(
        text(fixture!("helios-capella-mainnet-lc/finality.json")),
        &config,
    )
    .unwrap()
    .remove(0);
    let finalized_slot = finality.finalized_header.beacon.slot;
    let finalized_hash = finality.finalized_header.execution.block_hash;
    store.process_update(finality, NOW).unwrap();
    assert_eq!(store.finalized_header().beacon.slot, finalized_slot);
    assert_eq!(
        store.finalized_header().execution.block_hash,
        finalized_hash
    );

    let optimistic = json::updates_from_json(
        text(fixture!("helios-capella-mainnet-lc/optimistic.json")),
        &config,
    )
    .unwrap()
    .remove(0);
    let attested = optimistic.attested_header.beacon.slot;
    store.process_update(optimistic, NOW).unwrap();
    assert_eq!(store.optimistic_header().beacon.slot, attested);
    assert!(attested > finalized_slot);
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn capella_update_from_a_skipped_period_is_rejected() {
    let mut store = capella_store();
    let mut updates = capella_updates();
    let third = updates.remove(2);
    let err = store.process_update(third, NOW).unwrap_err();
    assert!(
        matches!(err, light_client::SyncError::PeriodSkip { store: 862, .. }),
        "{err}"
    );
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn bootstrap_with_another_checkpoint_is_rejected() {
    let config = ChainConfig::mainnet();
    let bootstrap = json::bootstrap_from_json(
        text(fixture!("helios-capella-mainnet-lc/bootstrap.json")),
        &config,
    )
    .unwrap();
    let wrong = root("0x5afc212a7924789b2bc86acad3ab3a6ffb1f6e97253ea50bee7f4f51422c9276");
    let err = Store::bootstrap(config, wrong, bootstrap).unwrap_err();
    assert!(
        matches!(err, light_client::SyncError::CheckpointMismatch { .. }),
        "{err}"
    );
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn deneb_ssz_chain_from_finality_checkpoint_to_next_period() {
    let config = ChainConfig::mainnet();
    let checkpoints: serde_json::Value = serde_json::from_slice(fixture!(
        "colibri-eth_getProof1/eth_v1_beacon_states_head_finality_checkpoints.json"
    ))
    .unwrap();
    let trusted = root(checkpoints["data"]["finalized"]["root"].as_str().unwrap());
    let bootstrap = Bootstrap::from_ssz_any_fork(
        fixture!(
            "colibri-eth_getProof1/eth_v1_beacon_light_client_bootstrap_0x69d93fb3b7370556d960de8c8d86a48adf7c4bfdced8e940dff3f149eb47d.ssz"
        ),
        &config,
    )
    .unwrap();
    assert_eq!(
        config.fork_at_slot(bootstrap.header.beacon.slot),
        light_client::Fork::Deneb
    );
    let mut store = Store::bootstrap(config.clone(), trusted, bootstrap).unwrap();
    assert_eq!(store.finalized_period(), 1394);

    let updates = decode_updates_response(
        fixture!(
            "colibri-eth_getProof1/eth_v1_beacon_light_client_updates_start_period_1394_count_1.ssz"
        ),
        &config,
    )
    .unwrap();
    assert_eq!(updates.len(), 1);
    store.process_update(updates[0].clone(), NOW).unwrap();
    assert!(store.is_next_sync_committee_known());
    assert!(store.optimistic_header().beacon.slot > store.finalized_header().beacon.slot - 1);

    // The period-1374 update belongs to a committee twenty periods earlier.
    let old = decode_updates_response(
        fixture!(
            "colibri-eth_getProof1/eth_v1_beacon_light_client_updates_start_period_1374_count_1.ssz"
        ),
        &config,
    )
    .unwrap();
    let err = store.process_update(old[0].clone(), NOW).unwrap_err();
    assert!(
        matches!(err, light_client::SyncError::PeriodSkip { .. }),
        "{err}"
    );
}

fn portal_store(bootstrap_yaml: &[u8]) -> Store {
    let config = ChainConfig::mainnet();
    let (key, value) = portal(bootstrap_yaml);
    // The content key is the selector byte 0x10 followed by the trusted block root.
    assert_eq!(key[0], 0x10);
    let trusted = alloy_primitives::B256::from_slice(&key[1..]);
    let (digest, body) = split_digest(&value).unwrap();
    let fork = config.fork_of_digest(digest).unwrap();
    let bootstrap = Bootstrap::from_ssz(body, fork, &config).unwrap();
    Store::bootstrap(config, trusted, bootstrap).unwrap()
}

fn portal_updates(updates_yaml: &[u8]) -> Vec<light_client::Update> {
    let config = ChainConfig::mainnet();
    let (_, value) = portal(updates_yaml);
    let first = u32::from_le_bytes(value[..4].try_into().unwrap()) as usize;
    let mut offsets: Vec<usize> = value[..first]
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()) as usize)
        .collect();
    offsets.push(value.len());
    offsets
        .windows(2)
        .map(|w| decode_with_digest(&value[w[0]..w[1]], Kind::Update, &config).unwrap())
        .collect()
}

fn portal_finality_and_optimistic(mut store: Store, finality: &[u8], optimistic: &[u8]) {
    let config = store.config().clone();
    let finality = decode_with_digest(&portal(finality).1, Kind::Finality, &config).unwrap();
    let finalized = finality.finalized_header.beacon.clone();
    store.process_update(finality, NOW).unwrap();
    assert_eq!(store.finalized_header().beacon, finalized);
    let optimistic = decode_with_digest(&portal(optimistic).1, Kind::Optimistic, &config).unwrap();
    let attested = optimistic.attested_header.beacon.clone();
    store.process_update(optimistic, NOW).unwrap();
    assert_eq!(store.optimistic_header().beacon, attested);
}

/// The portal `LightClientUpdatesByRange` value: an SSZ list of digest-prefixed updates. Each
/// update's signature is checked with the committee proven by the update before it, and the last
/// one's next committee must be the bootstrap's.
fn portal_updates_chain(updates_yaml: &[u8], bootstrap_yaml: &[u8]) {
    let config = ChainConfig::mainnet();
    let updates = portal_updates(updates_yaml);
    assert!(updates.len() >= 2);
    for pair in updates.windows(2) {
        let (previous, update) = (&pair[0], &pair[1]);
        let committee =
            light_client::bls::PreparedCommittee::new(previous.next_sync_committee.clone());
        assert!(light_client::store::verify_update_signature(
            update, &committee, &config
        ));
    }
    let (_, bootstrap) = portal(bootstrap_yaml);
    let (digest, body) = split_digest(&bootstrap).unwrap();
    let bootstrap =
        Bootstrap::from_ssz(body, config.fork_of_digest(digest).unwrap(), &config).unwrap();
    let last = updates.last().unwrap();
    assert_eq!(last.next_sync_committee, bootstrap.current_sync_committee);
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn portal_capella_bootstrap_finality_optimistic_and_update_chain() {
    let store = portal_store(fixture!(
        "portal-spec-tests-mainnet-lc/capella/bootstrap.yaml"
    ));
    portal_finality_and_optimistic(
        store,
        fixture!("portal-spec-tests-mainnet-lc/capella/finality_update.yaml"),
        fixture!("portal-spec-tests-mainnet-lc/capella/optimistic_update.yaml"),
    );
    portal_updates_chain(
        fixture!("portal-spec-tests-mainnet-lc/capella/updates.yaml"),
        fixture!("portal-spec-tests-mainnet-lc/capella/bootstrap.yaml"),
    );
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn portal_deneb_bootstrap_updates_finality_optimistic() {
    // Here the updates start at the bootstrap's period: the store goes through them.
    let mut store = portal_store(fixture!(
        "portal-spec-tests-mainnet-lc/deneb/bootstrap.yaml"
    ));
    let start = store.finalized_period();
    let updates = portal_updates(fixture!("portal-spec-tests-mainnet-lc/deneb/updates.yaml"));
    assert_eq!(updates.len(), 2);
    for update in updates {
        store.process_update(update, NOW).unwrap();
    }
    assert_eq!(store.finalized_period(), start + 1);
    portal_finality_and_optimistic(
        store,
        fixture!("portal-spec-tests-mainnet-lc/deneb/finality_update.yaml"),
        fixture!("portal-spec-tests-mainnet-lc/deneb/optimistic_update.yaml"),
    );
}
