//! Mock Ethereum endpoints on 127.0.0.1 for the light client's tests: a beacon API serving the
//! real mainnet light-client fixtures (Capella in beacon-API JSON only, Deneb in SSZ), honest,
//! failing or lying, and an execution node that knows the Capella optimistic head's block,
//! rebuilt from its full beacon block so that it hashes to the block hash the beacon chain
//! signed. Fixtures are read from `light-client/tests/fixtures/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc,
    reason = "a mock in tests fails loudly on a broken fixture"
)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use alloy_primitives::B256;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use serde_json::Value;

/// The bytes of a light-client fixture file (a path under `light-client/tests/fixtures/`).
pub fn fixture(path: &str) -> Vec<u8> {
    let full = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../light-client/tests/fixtures/"
    )
    .to_owned()
        + path;
    std::fs::read(&full).unwrap_or_else(|err| panic!("fixture {full}: {err}"))
}

/// The Capella set's trusted checkpoint (bootstrap block root, slot 7069376).
pub const CAPELLA_ROOT: &str = "0x5afc212a7924789b2bc86acad3ab3a6ffb1f6e97253ea50bee7f4f51422c9275";
/// The Deneb set's trusted checkpoint.
pub const DENEB_ROOT: &str = "0x69d93fb3b7370556d960de8c8d86a48adf7c4bfdced8e940dff3f149eb47dcfd";
/// A slot after every fixture's signatures (late 2026), for the Deneb set.
pub const NOW: u64 = 13_000_000;
/// The slot after the Capella optimistic update's signature (period 867): what the clock said
/// when the Capella fixtures were the head.
pub const CAPELLA_NOW: u64 = 7_109_433;

/// How a mock beacon endpoint behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Serves the fixtures as they are.
    Honest,
    /// Every request answers HTTP 500.
    Failing,
    /// Serves the fixtures with one byte changed in each signature and committee.
    Liar,
}

struct Mock {
    behaviour: Behaviour,
    /// `(path and query, accept header)` of every request.
    log: Mutex<Vec<(String, String)>>,
}

type Shared = Arc<Mock>;

/// A fixture's JSON.
pub fn json_value(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

/// Flips the last hex digit of the string at `pointer`.
fn flip(value: &mut Value, pointer: &str) {
    let text = value.pointer_mut(pointer).unwrap();
    let mut s = text.as_str().unwrap().to_owned();
    let last = s.pop().unwrap();
    s.push(if last == '0' { '1' } else { '0' });
    *text = Value::String(s);
}

fn lie(mut object: Value) -> Value {
    if object["data"].get("sync_aggregate").is_some() {
        flip(&mut object, "/data/sync_aggregate/sync_committee_signature");
    }
    if object["data"].get("current_sync_committee").is_some() {
        flip(&mut object, "/data/current_sync_committee/pubkeys/3");
    }
    object
}

/// The request's `Accept` header ("" without one).
pub(crate) fn accept(headers: &HeaderMap) -> &str {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Whether the request asks for SSZ.
pub(crate) fn wants_ssz(headers: &HeaderMap) -> bool {
    accept(headers).contains("octet-stream")
}

fn record(mock: &Mock, uri: String, headers: &HeaderMap) {
    let accept = accept(headers).to_owned();
    mock.log.lock().unwrap().push((uri, accept));
}

/// The Capella set is served as JSON only (SSZ requests get 406, as from a JSON-only server);
/// the Deneb set as SSZ.
fn respond(mock: &Mock, headers: &HeaderMap, json: Option<Value>, ssz: Option<&[u8]>) -> Response {
    if mock.behaviour == Behaviour::Failing {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    if wants_ssz(headers) {
        return match ssz {
            Some(bytes) => (
                [(header::CONTENT_TYPE, "application/octet-stream")],
                bytes.to_vec(),
            )
                .into_response(),
            None if json.is_some() => StatusCode::NOT_ACCEPTABLE.into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        };
    }
    match json {
        Some(mut value) => {
            if mock.behaviour == Behaviour::Liar {
                value = match value {
                    Value::Array(items) => Value::Array(items.into_iter().map(lie).collect()),
                    other => lie(other),
                };
            }
            axum::Json(value).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn bootstrap(
    State(mock): State<Shared>,
    Path(root): Path<String>,
    headers: HeaderMap,
) -> Response {
    record(&mock, format!("bootstrap/{root}"), &headers);
    if root == CAPELLA_ROOT {
        let json = json_value(&fixture("helios-capella-mainnet-lc/bootstrap.json"));
        respond(&mock, &headers, Some(json), None)
    } else if root == DENEB_ROOT {
        let ssz = &fixture(
            "colibri-eth_getProof1/eth_v1_beacon_light_client_bootstrap_0x69d93fb3b7370556d960de8c8d86a48adf7c4bfdced8e940dff3f149eb47d.ssz",
        );
        respond(&mock, &headers, None, Some(ssz))
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

async fn updates(
    State(mock): State<Shared>,
    Query(query): Query<HashMap<String, u64>>,
    headers: HeaderMap,
) -> Response {
    let start = query["start_period"];
    let count = query["count"];
    record(
        &mock,
        format!("updates?start_period={start}&count={count}"),
        &headers,
    );
    if start > 1000 && (start..start + count).contains(&1394) {
        let ssz = &fixture(
            "colibri-eth_getProof1/eth_v1_beacon_light_client_updates_start_period_1394_count_1.ssz",
        );
        return respond(&mock, &headers, None, Some(ssz));
    }
    if start > 1000 {
        return respond(&mock, &headers, None, Some(&[]));
    }
    // The Capella updates: one per period from 862.
    let all = json_value(&fixture("helios-capella-mainnet-lc/updates.json"));
    let selected: Vec<Value> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| {
            let slot: u64 = u["data"]["attested_header"]["beacon"]["slot"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            (start..start + count).contains(&(slot / 8192))
        })
        .cloned()
        .collect();
    respond(&mock, &headers, Some(Value::Array(selected)), None)
}

async fn finality(State(mock): State<Shared>, headers: HeaderMap) -> Response {
    record(&mock, "finality_update".into(), &headers);
    let json = json_value(&fixture("helios-capella-mainnet-lc/finality.json"));
    respond(&mock, &headers, Some(json), None)
}

async fn optimistic(State(mock): State<Shared>, headers: HeaderMap) -> Response {
    record(&mock, "optimistic_update".into(), &headers);
    let json = json_value(&fixture("helios-capella-mainnet-lc/optimistic.json"));
    respond(&mock, &headers, Some(json), None)
}

/// The beacon API's light-client routes, each answered by its handler: what every mock beacon
/// endpoint serves (this module's fixtures, [`crate::beacon_chain`]'s signed chain).
pub(crate) fn light_client_api<S: Clone + Send + Sync + 'static>(
    bootstrap: MethodRouter<S>,
    updates: MethodRouter<S>,
    finality: MethodRouter<S>,
    optimistic: MethodRouter<S>,
) -> Router<S> {
    Router::new()
        .route("/eth/v1/beacon/light_client/bootstrap/{root}", bootstrap)
        .route("/eth/v1/beacon/light_client/updates", updates)
        .route("/eth/v1/beacon/light_client/finality_update", finality)
        .route("/eth/v1/beacon/light_client/optimistic_update", optimistic)
}

/// A mock beacon endpoint on 127.0.0.1 serving the real mainnet fixtures; stopped on drop.
pub struct Server {
    /// Its base URL.
    pub url: String,
    mock: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// Starts one.
    pub async fn start(behaviour: Behaviour) -> Self {
        let mock = Arc::new(Mock {
            behaviour,
            log: Mutex::new(Vec::new()),
        });
        let app = light_client_api(get(bootstrap), get(updates), get(finality), get(optimistic))
            .with_state(mock.clone());
        let (url, task) = crate::serve_local(app).await;
        Self { url, mock, task }
    }

    /// `(path and query, accept header)` of every request so far.
    pub fn log(&self) -> Vec<(String, String)> {
        self.mock.log.lock().unwrap().clone()
    }
}

/// Mainnet block 17923113, the Capella optimistic update's execution block, as a node's
/// `eth_getBlockByHash(hash, false)` answer, rebuilt from the full beacon block's execution
/// payload (its transactions and withdrawals tries computed here). `alter` changes the header
/// before it is served, as a lying node would.
pub fn head_block_json(alter: impl FnOnce(&mut alloy_consensus::Header)) -> (B256, Value) {
    use alloy_consensus::proofs::{calculate_withdrawals_root, ordered_trie_root_with_encoder};
    use alloy_primitives::{Address, Bloom, Bytes, U256, keccak256};
    let block = json_value(&fixture("helios-capella-mainnet-lc/blocks/7109431.json"));
    let payload = &block["data"]["message"]["body"]["execution_payload"];
    let text = |name: &str| payload[name].as_str().unwrap().to_owned();
    let number = |name: &str| text(name).parse::<u64>().unwrap();
    let unhex = |value: &Value| hex::decode(&value.as_str().unwrap()[2..]).unwrap();
    let transactions: Vec<Vec<u8>> = payload["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(unhex)
        .collect();
    let withdrawals: Vec<alloy_eips::eip4895::Withdrawal> = payload["withdrawals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| alloy_eips::eip4895::Withdrawal {
            index: w["index"].as_str().unwrap().parse().unwrap(),
            validator_index: w["validator_index"].as_str().unwrap().parse().unwrap(),
            address: w["address"].as_str().unwrap().parse::<Address>().unwrap(),
            amount: w["amount"].as_str().unwrap().parse().unwrap(),
        })
        .collect();
    let mut header = alloy_consensus::Header {
        parent_hash: text("parent_hash").parse().unwrap(),
        ommers_hash: alloy_consensus::EMPTY_OMMER_ROOT_HASH,
        beneficiary: text("fee_recipient").parse().unwrap(),
        state_root: text("state_root").parse().unwrap(),
        transactions_root: ordered_trie_root_with_encoder(&transactions, |tx, buf| {
            buf.extend_from_slice(tx)
        }),
        receipts_root: text("receipts_root").parse().unwrap(),
        logs_bloom: Bloom::from_slice(&unhex(&payload["logs_bloom"])),
        difficulty: U256::ZERO,
        number: number("block_number"),
        gas_limit: number("gas_limit"),
        gas_used: number("gas_used"),
        timestamp: number("timestamp"),
        extra_data: Bytes::from(unhex(&payload["extra_data"])),
        mix_hash: text("prev_randao").parse().unwrap(),
        base_fee_per_gas: Some(number("base_fee_per_gas")),
        withdrawals_root: Some(calculate_withdrawals_root(&withdrawals)),
        ..Default::default()
    };
    let hash: B256 = text("block_hash").parse().unwrap();
    // The payload rebuilt as an execution header hashes to the block hash the beacon chain
    // signed: consensus and execution agree before anything is served.
    assert_eq!(header.hash_slow(), hash);
    alter(&mut header);
    let mut answer = serde_json::to_value(&header).unwrap();
    answer["hash"] = serde_json::json!(hash);
    answer["transactions"] = Value::Array(
        transactions
            .iter()
            .map(|tx| serde_json::json!(keccak256(tx)))
            .collect(),
    );
    (hash, answer)
}

/// An execution node on 127.0.0.1 that knows one block (by hash) and the chain id; it counts
/// the requests it answered.
pub async fn execution_node(
    hash: B256,
    block: Value,
) -> (String, Arc<Mutex<usize>>, tokio::task::JoinHandle<()>) {
    let served = Arc::new(Mutex::new(0usize));
    let counter = served.clone();
    let app = Router::new().route(
        "/",
        axum::routing::post(move |axum::Json(request): axum::Json<Value>| {
            let block = block.clone();
            let counter = counter.clone();
            async move {
                *counter.lock().unwrap() += 1;
                let result = match request["method"].as_str() {
                    Some("eth_chainId") => serde_json::json!("0x1"),
                    Some("eth_getBlockByHash")
                        if request["params"][0] == serde_json::json!(hash) =>
                    {
                        block
                    }
                    _ => Value::Null,
                };
                axum::Json(
                    serde_json::json!({"jsonrpc": "2.0", "id": request["id"], "result": result}),
                )
            }
        }),
    );
    let (url, task) = crate::serve_local(app).await;
    (url, served, task)
}
