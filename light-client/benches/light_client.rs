//! The light client's figures against the goals of issue 4, printed with ratios:
//! `cargo bench -p light-client --bench light_client` (native timings and the download
//! schedule), or `cargo xtask light-client-bench` (also builds the browser wasm and adds its
//! gzipped size). Inputs are the real mainnet fixtures of `tests/fixtures/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark prints its figures and fails loudly on bad fixtures"
)]

use std::hint::black_box;
use std::time::Instant;

use alloy_primitives::{Address, B256};
use light_client::bls::{PreparedCommittee, verify_batch};
use light_client::evm::{CallOutcome, CallRequest, VerifiedState, call};
use light_client::execution::AccountProof;
use light_client::header::verify_header_json;
use light_client::store::{update_signing_root, verify_update_signature};
use light_client::{ChainConfig, Store, Update, json};

macro_rules! fixture {
    ($path:expr) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/",
            $path
        )) as &[u8]
    };
}

const CAPELLA_ROOT: &str = "0x5afc212a7924789b2bc86acad3ab3a6ffb1f6e97253ea50bee7f4f51422c9275";
const NOW: u64 = 13_000_000;
/// HTTP response headers per request, assumed (status line, content type and length, date,
/// server): what a beacon node's answer adds to the SSZ body.
const HTTP_OVERHEAD: u64 = 400;
const SLOTS_PER_HOUR: u64 = 3600 / 12;

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap()
}

fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text.trim().trim_start_matches("0x")).unwrap()
}

/// Mean milliseconds per run of `f` over `runs` runs (after one warm-up run).
fn time<T>(runs: u32, mut f: impl FnMut() -> T) -> f64 {
    black_box(f());
    let started = Instant::now();
    for _ in 0..runs {
        black_box(f());
    }
    started.elapsed().as_secs_f64() * 1000.0 / f64::from(runs)
}

fn line(what: &str, value: f64, unit: &str, goal: f64, note: &str) {
    let verdict = if value <= goal { "meets" } else { "MISSES" };
    println!(
        "{what:<46} {value:>10.3} {unit:<3} goal <= {goal} {unit} ({:.2}x of goal, {verdict}) {note}",
        value / goal
    );
}

fn capella() -> (light_client::Bootstrap, Vec<Update>, Update, Update) {
    let config = ChainConfig::mainnet();
    let bootstrap = json::bootstrap_from_json(
        text(fixture!("helios-capella-mainnet-lc/bootstrap.json")),
        &config,
    )
    .unwrap();
    let updates = json::updates_from_json(
        text(fixture!("helios-capella-mainnet-lc/updates.json")),
        &config,
    )
    .unwrap();
    let single = |bytes: &[u8]| {
        json::updates_from_json(text(bytes), &config)
            .unwrap()
            .remove(0)
    };
    (
        bootstrap,
        updates,
        single(fixture!("helios-capella-mainnet-lc/finality.json")),
        single(fixture!("helios-capella-mainnet-lc/optimistic.json")),
    )
}

/// Bootstrap, then the six period updates and the finality and optimistic updates: as one batch
/// (`process_updates`, as `BeaconSync` and `cairn light-client sync` do) or one at a time.
fn sync_capella(
    bootstrap: &light_client::Bootstrap,
    updates: &[Update],
    finality: &Update,
    optimistic: &Update,
    batched: bool,
) -> Store {
    let mut store = Store::bootstrap(
        ChainConfig::mainnet(),
        CAPELLA_ROOT.parse().unwrap(),
        bootstrap.clone(),
    )
    .unwrap();
    let mut all = updates.to_vec();
    all.extend([finality.clone(), optimistic.clone()]);
    if batched {
        for result in store.process_updates(all, NOW, &BATCH_SEED) {
            result.unwrap();
        }
    } else {
        for update in all {
            store.process_update(update, NOW).unwrap();
        }
    }
    store
}

/// The batch's seed (callers use fresh OS randomness; a constant costs the same).
const BATCH_SEED: [u8; 32] = [0x5e; 32];

/// The lodestar mainnet `eth_call` vector, verified from scratch (header hash, proofs, code
/// hashes) and re-executed.
fn verified_eth_call(vector: &serde_json::Value) -> CallOutcome {
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
                    let address: Address = payload["params"][0].as_str().unwrap().parse().unwrap();
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
}

/// Bytes of a portal fixture's SSZ object (its content value minus the 4-byte fork digest).
fn portal_ssz_len(yaml: &[u8]) -> u64 {
    let value: serde_yaml::Value = serde_yaml::from_slice(yaml).unwrap();
    unhex(value["content_value"].as_str().unwrap()).len() as u64 - 4
}

fn main() {
    println!("light client benchmark (native; real mainnet fixtures; goals from issue 4)\n");
    let config = ChainConfig::mainnet();
    let (bootstrap, updates, finality, optimistic) = capella();

    // BLS: FastAggregateVerify of one update's sync-committee signature (512 keys), with the
    // committee's keys already decompressed as the store keeps them.
    let committee = PreparedCommittee::eager(bootstrap.current_sync_committee.clone());
    assert!(verify_update_signature(&updates[0], &committee, &config));
    let bls = time(50, || {
        verify_update_signature(&updates[0], &committee, &config)
    });
    line(
        "BLS verification per update",
        bls,
        "ms",
        12.0,
        "(goal is for wasm)",
    );

    // The six Capella period updates' signatures checked as one batch, per update.
    let committees = std::iter::once(&bootstrap.current_sync_committee)
        .chain(updates.iter().map(|u| &u.next_sync_committee));
    let checks: Vec<_> = committees
        .zip(&updates)
        .map(|(committee, update)| {
            PreparedCommittee::eager(committee.clone())
                .check(
                    &update.sync_aggregate,
                    &update_signing_root(update, &config),
                )
                .unwrap()
        })
        .collect();
    assert!(verify_batch(&checks, &BATCH_SEED));
    let batched = time(10, || verify_batch(&checks, &BATCH_SEED)) / checks.len() as f64;
    line(
        "  per update, 6 signatures as one batch",
        batched,
        "ms",
        12.0,
        &format!(
            "(goal is for wasm; {:.2}x faster than alone)",
            bls / batched
        ),
    );

    // Every check of one update (branches, then BLS).
    let store = Store::bootstrap(
        config.clone(),
        CAPELLA_ROOT.parse().unwrap(),
        bootstrap.clone(),
    )
    .unwrap();
    let validate = time(50, || store.validate_update(&updates[0], NOW).unwrap());
    line(
        "validate_update (all checks) per update",
        validate,
        "ms",
        12.0,
        "(goal is for wasm)",
    );

    // The six Capella periods, plus finality and optimistic updates, from decoded objects, as
    // one batch (signatures checked together); includes accepting each new committee. Baseline:
    // the same updates one at a time.
    for batched in [true, false] {
        let synced = sync_capella(&bootstrap, &updates, &finality, &optimistic, batched);
        assert_eq!(synced.finalized_period(), 867);
    }
    let sync = time(5, || {
        sync_capella(&bootstrap, &updates, &finality, &optimistic, true)
    });
    let alone = time(5, || {
        sync_capella(&bootstrap, &updates, &finality, &optimistic, false)
    });
    line(
        "sync: 6 Capella updates + fin + opt, per update",
        sync / 8.0,
        "ms",
        12.0,
        &format!("(goal is for wasm; one batch; whole sync incl. bootstrap: {sync:.1} ms)"),
    );
    println!(
        "{:<46} {:>10.3} ms  (baseline: batch is {:.2}x faster)",
        "  one update at a time, per update",
        alone / 8.0,
        alone / sync
    );
    // Accepting a new committee: lazily (its aggregate key now, then only the keys of members
    // who did not sign, on first verification) against the baseline of decompressing and
    // subgroup-checking all 512 keys, as the spec's per-key aggregation needs.
    let first_use = |committee: &PreparedCommittee| {
        assert!(verify_update_signature(&updates[0], committee, &config));
    };
    let lazy = time(5, || {
        let committee = PreparedCommittee::new(bootstrap.current_sync_committee.clone());
        first_use(&committee);
        committee.decompressed()
    });
    let eager = time(5, || {
        let committee = PreparedCommittee::eager(bootstrap.current_sync_committee.clone());
        first_use(&committee);
    });
    let fresh = PreparedCommittee::new(bootstrap.current_sync_committee.clone());
    first_use(&fresh);
    println!(
        "{:<46} {lazy:>10.3} ms  (aggregate key minus {} non-signers' keys; baseline, all 512 \
         keys decompressed first: {eager:.3} ms, {:.1}x)",
        "  new committee + its first verification",
        fresh.decompressed(),
        eager / lazy
    );
    let with_decoding = time(5, || {
        let (b, u, f, o) = capella();
        sync_capella(&b, &u, &f, &o, true)
    });
    println!(
        "{:<46} {with_decoding:>10.3} ms  (JSON decoding included)",
        "sync from beacon-API JSON"
    );

    // eth_getProof: the deposit contract's account and one storage slot at block 21925176.
    let block: serde_json::Value =
        serde_json::from_slice(fixture!("helios-el-mainnet-block21925176/block.json")).unwrap();
    let state_root: B256 = block["stateRoot"].as_str().unwrap().parse().unwrap();
    let proof =
        AccountProof::from_json(text(fixture!("helios-el-mainnet-block21925176/proof.json")))
            .unwrap();
    proof.verify(state_root).unwrap();
    let get_proof = time(200, || proof.verify(state_root).unwrap());
    line(
        "eth_getProof verification (account + 1 slot)",
        get_proof,
        "ms",
        12.0,
        "(no issue goal; per-update budget shown)",
    );

    // A verified eth_call: header hash, every proof and code hash, then revm.
    let vector: serde_json::Value =
        serde_json::from_slice(fixture!("lodestar-prover-mainnet/eth_call.json")).unwrap();
    assert!(matches!(
        verified_eth_call(&vector),
        CallOutcome::Success { .. }
    ));
    let eth_call = time(20, || verified_eth_call(&vector));
    line(
        "verified eth_call (mainnet block 17463226)",
        eth_call,
        "ms",
        12.0,
        "(no issue goal; per-update budget shown)",
    );

    // Downloads, from the real SSZ sizes of Deneb objects and the request schedule of
    // light-client-rpc's BeaconSync.
    let bootstrap_len = fixture!(
        "colibri-eth_getProof1/eth_v1_beacon_light_client_bootstrap_0x69d93fb3b7370556d960de8c8d86a48adf7c4bfdced8e940dff3f149eb47d.ssz"
    )
    .len() as u64;
    // A `light_client/updates` response for one period: [u64 length][fork digest][SSZ].
    let update_len = fixture!(
        "colibri-eth_getProof1/eth_v1_beacon_light_client_updates_start_period_1394_count_1.ssz"
    )
    .len() as u64;
    let finality_len = portal_ssz_len(fixture!(
        "portal-spec-tests-mainnet-lc/deneb/finality_update.yaml"
    ));
    let optimistic_len = portal_ssz_len(fixture!(
        "portal-spec-tests-mainnet-lc/deneb/optimistic_update.yaml"
    ));
    println!(
        "\nSSZ sizes (Deneb, real): bootstrap {bootstrap_len} B, update {update_len} B, \
         finality update {finality_len} B, optimistic update {optimistic_len} B"
    );
    // 14 days = 100,800 slots = 12.3 periods: at worst 14 periods' updates (the checkpoint's
    // period included), in one batched request (up to 128 periods each).
    let slots = 14 * 24 * SLOTS_PER_HOUR;
    let periods = slots.div_ceil(config.slots_per_period()) + 1;
    let requests = 1 + periods.div_ceil(128) + 2;
    let fourteen_days = bootstrap_len
        + periods * update_len
        + finality_len
        + optimistic_len
        + requests * HTTP_OVERHEAD;
    line(
        "download: sync from a 14-day-old checkpoint",
        fourteen_days as f64 / 1e6,
        "MB",
        0.5,
        &format!("({periods} updates in {requests} requests; Helios: fails or refetches)"),
    );
    // Idle: one BeaconSync round per slot (finality + optimistic update, one endpoint), and one
    // period update per ~27 h.
    let per_round = finality_len + optimistic_len + 2 * HTTP_OVERHEAD;
    let period_hours = config.slots_per_period() as f64 / SLOTS_PER_HOUR as f64;
    let idle = SLOTS_PER_HOUR as f64 * per_round as f64
        + (update_len + HTTP_OVERHEAD) as f64 / period_hours;
    line(
        "download: per idle hour (every slot, 1 endpoint)",
        idle / 1e6,
        "MB",
        5.0,
        &format!("(Helios: 60-200 MB/h, {:.0}x less)", 60e6 / idle),
    );
    line(
        "download: per idle hour (every slot, 3 endpoints)",
        3.0 * idle / 1e6,
        "MB",
        5.0,
        "(cross-checking the head on each)",
    );

    match std::env::var("CAIRN_LC_WASM_GZIP")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        Some(gzipped) => line(
            "browser wasm with revm, gzipped",
            gzipped as f64 / 1e3,
            "KB",
            450.0,
            &format!("(Helios: 1120 KB, {:.2}x)", gzipped as f64 / 1.12e6),
        ),
        None => println!(
            "\nbrowser wasm size: run `cargo xtask light-client-bench` to build it and print it"
        ),
    }
}
