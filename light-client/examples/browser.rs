//! What a browser build of the light client contains, for measuring its size: bootstrap and
//! update decoding (JSON and SSZ), the sync state machine with BLS, execution headers,
//! `eth_getProof` verification, the revm `eth_call`, and block bodies (transactions with sender
//! recovery, receipts, logs and their filter). Built for wasm32 by
//! `cargo xtask light-client-bench`, which prints the gzipped size; the inputs are opaque to the
//! optimizer (`black_box`), so nothing is compiled away.

use std::hint::black_box;

use alloy_primitives::B256;
use light_client::block::{LogFilter, verify_block_json, verify_block_receipts_json};
use light_client::evm::{CallRequest, VerifiedState, call};
use light_client::execution::AccountProof;
use light_client::header::verify_header_json;
use light_client::types::Kind;
use light_client::{ChainConfig, Store, input};

fn run(bytes: &[u8], text: &str) -> Option<usize> {
    let config = ChainConfig::preset(text).or_else(|| ChainConfig::from_json(text).ok())?;
    let bootstrap = input::bootstrap(bytes, &config).ok()?;
    let mut store = Store::bootstrap(config.clone(), B256::ZERO, bootstrap).ok()?;
    let mut updates = input::updates(bytes, &config).ok()?;
    for kind in [Kind::Finality, Kind::Optimistic] {
        updates.push(input::single(bytes, kind, &config).ok()?);
    }
    // Catch-up checks its signatures as a batch; a single head update alone.
    let seed: [u8; 32] = black_box([0; 32]);
    for result in store.process_updates(updates.split_off(1), black_box(0), &seed) {
        result.ok()?;
    }
    store.process_update(updates.pop()?, black_box(0)).ok()?;
    store.force_update(black_box(0)).ok()?;
    let execution = &store.finalized_header().execution;
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let block = verify_header_json(&value, execution.block_hash).ok()?;
    let mut state = VerifiedState::new(block.header.state_root);
    state.add_proof(&AccountProof::from_json(text).ok()?).ok()?;
    let request: CallRequest = CallRequest {
        to: serde_json::from_str(text).ok()?,
        data: bytes.to_vec().into(),
        ..CallRequest::default()
    };
    let outcome = call(&state, &block.header, 1, &request).ok()?;
    let body = verify_block_json(&value, execution.block_hash).ok()?;
    let receipts = verify_block_receipts_json(&body, &value).ok()?;
    let filter = LogFilter::from_json(&value).ok()?;
    let logs = filter.select(receipts.iter().flat_map(|r| &r.logs)).count();
    Some(format!("{outcome:?}{logs}").len())
}

fn main() {
    let bytes: &[u8] = black_box(&[]);
    let text: &str = black_box("");
    black_box(run(bytes, text));
}
