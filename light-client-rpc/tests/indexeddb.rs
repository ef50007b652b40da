//! The browser's checkpoint store, in headless Chromium (`cargo test -p light-client-rpc --target
//! wasm32-unknown-unknown --test indexeddb`, a `cargo xtask test` step): a real IndexedDB, a
//! fresh database per test. Natively this file is empty.
#![cfg(target_arch = "wasm32")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any unexpected error"
)]

use alloy_primitives::B256;
use light_client::ChainConfig;
use light_client_rpc::{BeaconError, BeaconSync, CheckpointStore, IndexedDbCheckpoint};
use rexie::{ObjectStore, Rexie, TransactionMode};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

/// A database name no other test (or earlier run in the same profile) uses.
fn fresh(name: &str) -> String {
    format!("cairn-test-{name}-{}", unique())
}

fn unique() -> u64 {
    // Milliseconds since the epoch plus a random part: unique per test run.
    let now = js_sys::Date::now() as u64;
    now * 1000 + (js_sys::Math::random() * 1000.0) as u64
}

/// Writes `value` under `key` behind the store's back, as a stale or foreign writer would.
async fn write_raw(database: &str, key: &str, value: JsValue) {
    let db = Rexie::builder(database)
        .version(1)
        .add_object_store(ObjectStore::new("checkpoints"))
        .build()
        .await
        .unwrap();
    let transaction = db
        .transaction(&["checkpoints"], TransactionMode::ReadWrite)
        .unwrap();
    let store = transaction.store("checkpoints").unwrap();
    store
        .put(&value, Some(&JsValue::from_str(key)))
        .await
        .unwrap();
    transaction.done().await.unwrap();
    db.close();
}

/// The trusted checkpoint the stores below were verified from.
const TRUSTED: B256 = B256::repeat_byte(0x5a);

#[wasm_bindgen_test]
async fn starts_empty_saves_replaces_and_survives_a_new_handle() {
    let database = fresh("roundtrip");
    let config = ChainConfig::mainnet();
    let store = IndexedDbCheckpoint::new(&database, &config, TRUSTED);
    assert_eq!(store.load().await.unwrap(), None);
    let first = B256::repeat_byte(0x11);
    store.save(first).await.unwrap();
    assert_eq!(store.load().await.unwrap(), Some(first));
    let second = B256::repeat_byte(0x22);
    store.save(second).await.unwrap();
    // A new handle (as after a page reload) reads what the last save wrote.
    let reopened = IndexedDbCheckpoint::new(&database, &config, TRUSTED);
    assert_eq!(reopened.load().await.unwrap(), Some(second));
}

#[wasm_bindgen_test]
async fn chains_keep_separate_checkpoints_in_one_database() {
    let database = fresh("chains");
    let mainnet = IndexedDbCheckpoint::new(&database, &ChainConfig::mainnet(), TRUSTED);
    let sepolia = IndexedDbCheckpoint::new(&database, &ChainConfig::sepolia(), TRUSTED);
    mainnet.save(B256::repeat_byte(0xaa)).await.unwrap();
    assert_eq!(sepolia.load().await.unwrap(), None);
    sepolia.save(B256::repeat_byte(0xbb)).await.unwrap();
    assert_eq!(mainnet.load().await.unwrap(), Some(B256::repeat_byte(0xaa)));
    assert_eq!(sepolia.load().await.unwrap(), Some(B256::repeat_byte(0xbb)));
    // Another trusted checkpoint of the same chain starts from itself.
    let replaced =
        IndexedDbCheckpoint::new(&database, &ChainConfig::mainnet(), B256::repeat_byte(0x5b));
    assert_eq!(replaced.load().await.unwrap(), None);
}

#[wasm_bindgen_test]
async fn a_corrupt_value_is_a_clear_error_and_a_save_repairs_it() {
    let database = fresh("corrupt");
    let config = ChainConfig::mainnet();
    let key = format!("{:#x}/{TRUSTED:#x}", config.genesis_validators_root);
    let store = IndexedDbCheckpoint::new(&database, &config, TRUSTED);

    write_raw(&database, &key, JsValue::from_str("0x1234")).await;
    let err = store.load().await.unwrap_err();
    assert!(matches!(err, BeaconError::CheckpointDb { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("not a 32-byte 0x-hex block root"), "{text}");
    assert!(text.contains(&database), "{text}");
    assert!(text.contains("clear the site's storage"), "{text}");

    write_raw(&database, &key, JsValue::from_f64(7.0)).await;
    let err = store.load().await.unwrap_err().to_string();
    assert!(err.contains("is not a string"), "{err}");

    let root = B256::repeat_byte(0x33);
    store.save(root).await.unwrap();
    assert_eq!(store.load().await.unwrap(), Some(root));
}

#[wasm_bindgen_test]
async fn beacon_sync_starts_from_the_checkpoint_saved_in_indexeddb() {
    let database = fresh("sync");
    let config = ChainConfig::mainnet();
    let configured = B256::repeat_byte(0x01);
    let saved = B256::repeat_byte(0x02);
    let endpoints = ["http://127.0.0.1:1".to_owned()];

    // Nothing saved yet: the configured checkpoint anchors the first run.
    let sync = BeaconSync::new(config.clone(), &endpoints, configured)
        .unwrap()
        .with_persistence(Box::new(IndexedDbCheckpoint::new(
            &database, &config, configured,
        )))
        .await
        .unwrap();
    assert_eq!(sync.checkpoint(), configured);

    IndexedDbCheckpoint::new(&database, &config, configured)
        .save(saved)
        .await
        .unwrap();
    let sync = BeaconSync::new(config.clone(), &endpoints, configured)
        .unwrap()
        .with_persistence(Box::new(IndexedDbCheckpoint::new(
            &database, &config, configured,
        )))
        .await
        .unwrap();
    assert_eq!(sync.checkpoint(), saved);
}
