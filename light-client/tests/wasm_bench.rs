//! The benchmark's timings in the browser: run by `cargo xtask light-client-bench`
//! (`cargo test -p light-client --release --target wasm32-unknown-unknown --test wasm_bench`,
//! headless Chromium). Each figure is printed against the goal; the only assertions are
//! that the verified results are right (no timed assertions). Empty on native targets.
#![cfg(target_arch = "wasm32")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark fails loudly on bad fixtures"
)]

use std::hint::black_box;

use alloy_primitives::{Address, B256};
use light_client::bls::{PreparedCommittee, SignatureCheck, verify_batch};
use light_client::evm::{CallOutcome, CallRequest, VerifiedState, call};
use light_client::execution::AccountProof;
use light_client::header::verify_header_json;
use light_client::store::{update_signing_root, verify_update_signature};
use light_client::{ChainConfig, Store, json};
use wasm_bindgen_test::{console_log, wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

macro_rules! fixture {
    ($path:expr) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/",
            $path
        ))
    };
}

const NOW: u64 = 13_000_000;

/// Mean milliseconds per run (after one warm-up run), from the browser's clock.
/// Mean milliseconds per run over `runs`, after warming up for at least half a second (and at
/// least one run) so V8 has tiered the hot code up to its optimizing compiler, as it has in a
/// page that has been syncing for a while.
fn time<T>(runs: u32, mut f: impl FnMut() -> T) -> f64 {
    let warm_up = js_sys::Date::now();
    loop {
        black_box(f());
        if js_sys::Date::now() - warm_up >= 500.0 {
            break;
        }
    }
    let started = js_sys::Date::now();
    for _ in 0..runs {
        black_box(f());
    }
    (js_sys::Date::now() - started) / f64::from(runs)
}

fn line(what: &str, ms: f64, goal: Option<f64>) {
    match goal {
        Some(goal) => console_log!(
            "wasm: {what:<44} {ms:>9.3} ms  goal <= {goal} ms ({:.2}x of goal, {})",
            ms / goal,
            if ms <= goal { "meets" } else { "MISSES" }
        ),
        None => console_log!("wasm: {what:<44} {ms:>9.3} ms"),
    }
}

fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text.trim().trim_start_matches("0x")).unwrap()
}

/// Each Capella period update's signature check, with the committee that signed it (the
/// bootstrap's, then each previous update's next committee).
fn batch_checks(
    bootstrap: &light_client::Bootstrap,
    updates: &[light_client::Update],
    config: &ChainConfig,
) -> Vec<SignatureCheck> {
    let committees = std::iter::once(&bootstrap.current_sync_committee)
        .chain(updates.iter().map(|u| &u.next_sync_committee));
    committees
        .zip(updates)
        .map(|(committee, update)| {
            PreparedCommittee::eager(committee.clone())
                .check(&update.sync_aggregate, &update_signing_root(update, config))
                .unwrap()
        })
        .collect()
}

#[wasm_bindgen_test]
fn browser_timings() {
    let config = ChainConfig::mainnet();
    let bootstrap = json::bootstrap_from_json(
        fixture!("helios-capella-mainnet-lc/bootstrap.json"),
        &config,
    )
    .unwrap();
    let updates =
        json::updates_from_json(fixture!("helios-capella-mainnet-lc/updates.json"), &config)
            .unwrap();
    let single = |text: &str| json::updates_from_json(text, &config).unwrap().remove(0);
    let finality = single(fixture!("helios-capella-mainnet-lc/finality.json"));
    let optimistic = single(fixture!("helios-capella-mainnet-lc/optimistic.json"));
    let checkpoint: B256 = "0x5afc212a7924789b2bc86acad3ab3a6ffb1f6e97253ea50bee7f4f51422c9275"
        .parse()
        .unwrap();

    let committee = PreparedCommittee::eager(bootstrap.current_sync_committee.clone());
    assert!(verify_update_signature(&updates[0], &committee, &config));
    let bls = time(10, || {
        verify_update_signature(&updates[0], &committee, &config)
    });
    line("BLS verification per update", bls, Some(12.0));
    let batch = batch_checks(&bootstrap, &updates, &config);
    assert!(verify_batch(&batch, &[0x5e; 32]));
    let batched = time(2, || verify_batch(&batch, &[0x5e; 32])) / batch.len() as f64;
    line(
        "  per update, 6 signatures as one batch",
        batched,
        Some(12.0),
    );

    // Bootstrap, then the six period updates and the two head updates: as one batch
    // (`process_updates`, as `BeaconSync` and `cairn light-client sync` do) or one at a time.
    let sync = |batched: bool| {
        let mut store = Store::bootstrap(config.clone(), checkpoint, bootstrap.clone()).unwrap();
        let mut all = updates.clone();
        all.extend([finality.clone(), optimistic.clone()]);
        if batched {
            for result in store.process_updates(all, NOW, &[0x5e; 32]) {
                result.unwrap();
            }
        } else {
            for update in all {
                store.process_update(update, NOW).unwrap();
            }
        }
        store
    };
    assert_eq!(sync(true).finalized_period(), 867);
    assert_eq!(sync(false).finalized_period(), 867);
    let synced = time(2, || sync(true));
    let alone = time(2, || sync(false));
    line(
        "sync: 6 Capella updates + fin + opt, per update",
        synced / 8.0,
        Some(12.0),
    );
    line("  whole sync incl. bootstrap (one batch)", synced, None);
    line("  one update at a time, per update", alone / 8.0, None);
    console_log!(
        "wasm: {:<44} {:>9.2}x",
        "  batch: speed-up over one at a time",
        alone / synced
    );
    let first_use = |committee: &PreparedCommittee| {
        assert!(verify_update_signature(&updates[0], committee, &config));
    };
    let lazy = time(2, || {
        first_use(&PreparedCommittee::new(
            bootstrap.current_sync_committee.clone(),
        ))
    });
    let eager = time(2, || {
        first_use(&PreparedCommittee::eager(
            bootstrap.current_sync_committee.clone(),
        ))
    });
    line(
        "  new committee + first verification (lazy keys)",
        lazy,
        None,
    );
    line("  baseline: all 512 keys decompressed first", eager, None);
    console_log!(
        "wasm: {:<44} {:>9.1}x",
        "  lazy keys: speed-up over the baseline",
        eager / lazy
    );

    let block: serde_json::Value =
        serde_json::from_str(fixture!("helios-el-mainnet-block21925176/block.json")).unwrap();
    let state_root: B256 = block["stateRoot"].as_str().unwrap().parse().unwrap();
    let proof =
        AccountProof::from_json(fixture!("helios-el-mainnet-block21925176/proof.json")).unwrap();
    proof.verify(state_root).unwrap();
    let get_proof = time(50, || proof.verify(state_root).unwrap());
    line(
        "eth_getProof verification (account + 1 slot)",
        get_proof,
        None,
    );

    let vector: serde_json::Value =
        serde_json::from_str(fixture!("lodestar-prover-mainnet/eth_call.json")).unwrap();
    let verified_call = || {
        let block_json = &vector["execution"]["block"];
        let hash: B256 = block_json["hash"].as_str().unwrap().parse().unwrap();
        let block = verify_header_json(block_json, hash).unwrap();
        let mut state = VerifiedState::new(block.header.state_root);
        for dependent in vector["dependentRequests"].as_array().unwrap() {
            let (Some(payloads), Some(responses)) = (
                dependent["payload"].as_array(),
                dependent["response"].as_array(),
            ) else {
                continue;
            };
            for (payload, response) in payloads.iter().zip(responses) {
                match payload["method"].as_str().unwrap() {
                    "eth_getProof" => {
                        let proof = AccountProof::from_json(&response.to_string()).unwrap();
                        state.add_proof(&proof).unwrap();
                    }
                    "eth_getCode" => {
                        let address: Address =
                            payload["params"][0].as_str().unwrap().parse().unwrap();
                        let code = unhex(response["result"].as_str().unwrap());
                        state.add_code(address, code.into()).unwrap();
                    }
                    _ => {}
                }
            }
        }
        let params = &vector["request"]["params"][0];
        let request = CallRequest {
            to: Some(params["to"].as_str().unwrap().parse().unwrap()),
            data: unhex(params["data"].as_str().unwrap()).into(),
            ..CallRequest::default()
        };
        call(&state, &block.header, 1, &request).unwrap()
    };
    assert!(matches!(verified_call(), CallOutcome::Success { .. }));
    let eth_call = time(5, verified_call);
    line("verified eth_call (mainnet block 17463226)", eth_call, None);
}
