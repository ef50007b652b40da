//! Fuzzes every consensus decoder a server's bytes reach (bootstrap, updates, finality and
//! optimistic updates; JSON, bare, framed and fork-digest-prefixed SSZ), then feeds whatever
//! decodes to the sync state machine, one update at a time and as a batch: nothing may panic,
//! and both ways give the same results.
#![no_main]

use libfuzzer_sys::fuzz_target;
use light_client::types::Kind;
use light_client::{ChainConfig, Store, input};

fuzz_target!(|data: &[u8]| {
    let config = ChainConfig::mainnet();
    let store = input::bootstrap(data, &config).ok().and_then(|b| {
        let root = b.header.beacon.root();
        Store::bootstrap(config.clone(), root, b).ok()
    });
    let mut updates = input::updates(data, &config).unwrap_or_default();
    for kind in [Kind::Finality, Kind::Optimistic] {
        if let Ok(update) = input::single(data, kind, &config) {
            updates.push(update);
        }
    }
    if let Some(mut store) = store {
        // One by one on a copy, as a batch on the original: the same results either way.
        let mut alone = store.clone();
        let expected: Vec<_> = updates
            .iter()
            .map(|update| alone.process_update(update.clone(), u64::MAX / 2))
            .collect();
        let batched = store.process_updates(updates, u64::MAX / 2, &[7; 32]);
        assert_eq!(batched, expected);
        assert_eq!(store.report(), alone.report());
        let _ = store.force_update(u64::MAX / 2);
    }
});
