//! Consensus sync over HTTP against mock beacon endpoints on 127.0.0.1 that serve the real
//! mainnet fixtures (Capella in beacon-API JSON, Deneb in SSZ): batched period updates, SSZ
//! preferred with JSON fallback, failover past an endpoint that fails, rejection of an endpoint
//! that lies (one flipped signature or committee byte), cross-checked head updates, and the
//! persisted checkpoint.
#![cfg(not(target_arch = "wasm32"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use alloy_primitives::B256;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use light_client::{ChainConfig, json};
use light_client_rpc::{BeaconError, BeaconSync, CheckpointStore, FileCheckpoint};
use serde_json::Value;

macro_rules! fixture {
    ($path:expr) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../light-client/tests/fixtures/",
            $path
        )) as &[u8]
    };
}

const CAPELLA_ROOT: &str = "0x5afc212a7924789b2bc86acad3ab3a6ffb1f6e97253ea50bee7f4f51422c9275";
const DENEB_ROOT: &str = "0x69d93fb3b7370556d960de8c8d86a48adf7c4bfdced8e940dff3f149eb47dcfd";
/// A slot after every fixture's signatures (late 2026), for the Deneb set.
const NOW: u64 = 13_000_000;
/// The slot after the Capella optimistic update's signature (period 867): what the clock said
/// when the Capella fixtures were the head.
const CAPELLA_NOW: u64 = 7_109_433;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Behaviour {
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

fn json_value(bytes: &[u8]) -> Value {
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

fn wants_ssz(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("octet-stream"))
}

fn record(mock: &Mock, uri: String, headers: &HeaderMap) {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
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
        let json = json_value(fixture!("helios-capella-mainnet-lc/bootstrap.json"));
        respond(&mock, &headers, Some(json), None)
    } else if root == DENEB_ROOT {
        let ssz = fixture!(
            "colibri-eth_getProof1/eth_v1_beacon_light_client_bootstrap_0x69d93fb3b7370556d960de8c8d86a48adf7c4bfdced8e940dff3f149eb47d.ssz"
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
        let ssz = fixture!(
            "colibri-eth_getProof1/eth_v1_beacon_light_client_updates_start_period_1394_count_1.ssz"
        );
        return respond(&mock, &headers, None, Some(ssz));
    }
    if start > 1000 {
        return respond(&mock, &headers, None, Some(&[]));
    }
    // The Capella updates: one per period from 862.
    let all = json_value(fixture!("helios-capella-mainnet-lc/updates.json"));
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
    let json = json_value(fixture!("helios-capella-mainnet-lc/finality.json"));
    respond(&mock, &headers, Some(json), None)
}

async fn optimistic(State(mock): State<Shared>, headers: HeaderMap) -> Response {
    record(&mock, "optimistic_update".into(), &headers);
    let json = json_value(fixture!("helios-capella-mainnet-lc/optimistic.json"));
    respond(&mock, &headers, Some(json), None)
}

struct Server {
    url: String,
    mock: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    async fn start(behaviour: Behaviour) -> Self {
        let mock = Arc::new(Mock {
            behaviour,
            log: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route(
                "/eth/v1/beacon/light_client/bootstrap/{root}",
                get(bootstrap),
            )
            .route("/eth/v1/beacon/light_client/updates", get(updates))
            .route("/eth/v1/beacon/light_client/finality_update", get(finality))
            .route(
                "/eth/v1/beacon/light_client/optimistic_update",
                get(optimistic),
            )
            .with_state(mock.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, mock, task }
    }

    fn log(&self) -> Vec<(String, String)> {
        self.mock.log.lock().unwrap().clone()
    }
}

fn root(hex: &str) -> B256 {
    hex.parse().unwrap()
}

fn capella_finality() -> light_client::Update {
    json::updates_from_json(
        std::str::from_utf8(fixture!("helios-capella-mainnet-lc/finality.json")).unwrap(),
        &ChainConfig::mainnet(),
    )
    .unwrap()
    .remove(0)
}

#[tokio::test]
async fn capella_syncs_in_batches_past_a_failing_and_a_lying_endpoint() {
    let failing = Server::start(Behaviour::Failing).await;
    let liar = Server::start(Behaviour::Liar).await;
    let honest = Server::start(Behaviour::Honest).await;
    let endpoints = vec![failing.url.clone(), liar.url.clone(), honest.url.clone()];
    let mut sync = BeaconSync::new(ChainConfig::mainnet(), &endpoints, root(CAPELLA_ROOT))
        .unwrap()
        .with_batch(4);
    let progress = sync.sync(CAPELLA_NOW).await.unwrap();

    // The store reached the finality fixture's header, and the optimistic fixture's head.
    let store = sync.store().unwrap();
    let finality = capella_finality();
    assert_eq!(
        store.finalized_header().beacon.root(),
        finality.finalized_header.beacon.root()
    );
    assert_eq!(
        store.finalized_header().execution.block_hash,
        finality.finalized_header.execution.block_hash
    );
    assert!(store.optimistic_header().beacon.slot > store.finalized_header().beacon.slot);
    assert_eq!(progress.updates, 6);
    assert_eq!(progress.batches, 2);
    assert_eq!(progress.agreeing, vec![honest.url.clone()]);
    assert!(progress.bytes > 0);

    // The liar's bootstrap was rejected by the committee branch check; it is skipped after.
    assert_eq!(sync.liars(), std::slice::from_ref(&liar.url));
    let lies: Vec<_> = progress.faults.iter().filter(|f| f.lied).collect();
    assert_eq!(lies.len(), 1, "{:?}", progress.faults);
    assert_eq!(lies[0].endpoint, liar.url);
    assert!(
        lies[0].reason.contains("sync committee branch"),
        "{}",
        lies[0].reason
    );
    assert!(
        progress
            .faults
            .iter()
            .any(|f| f.endpoint == failing.url && !f.lied && f.reason.contains("500")),
        "{:?}",
        progress.faults
    );

    // Two batched requests, each first in SSZ, then in JSON after the 406.
    let honest_log = honest.log();
    let batches: Vec<_> = honest_log
        .iter()
        .filter(|(uri, accept)| uri.starts_with("updates") && accept.contains("json"))
        .map(|(uri, _)| uri.as_str())
        .collect();
    assert_eq!(
        batches,
        [
            "updates?start_period=862&count=4",
            "updates?start_period=866&count=2"
        ]
    );
    assert!(
        honest_log
            .iter()
            .any(|(uri, accept)| uri.starts_with("updates") && accept.contains("octet-stream"))
    );
    // Only the light-client routes were used: no blocks, no states.
    assert!(honest_log.iter().all(|(uri, _)| !uri.contains("blocks")));
}

#[tokio::test]
async fn head_updates_from_a_liar_are_rejected_and_named() {
    let honest = Server::start(Behaviour::Honest).await;
    let liar = Server::start(Behaviour::Liar).await;
    // The honest endpoint comes first, so the liar is only asked for head updates.
    let endpoints = vec![honest.url.clone(), liar.url.clone()];
    let mut sync = BeaconSync::new(ChainConfig::mainnet(), &endpoints, root(CAPELLA_ROOT)).unwrap();
    let progress = sync.sync(CAPELLA_NOW).await.unwrap();
    assert_eq!(progress.batches, 1);
    // Both head updates are fetched from every endpoint, then checked as one batch: each of the
    // liar's is rejected on its own signature and named.
    let lies: Vec<_> = progress.faults.iter().filter(|f| f.lied).collect();
    assert_eq!(lies.len(), 2, "{:?}", progress.faults);
    assert_eq!(
        lies.iter().map(|l| l.request.as_str()).collect::<Vec<_>>(),
        [
            "/eth/v1/beacon/light_client/finality_update",
            "/eth/v1/beacon/light_client/optimistic_update"
        ]
    );
    for lie in &lies {
        assert_eq!(lie.endpoint, liar.url);
        assert!(lie.reason.contains("signature"), "{}", lie.reason);
    }
    assert_eq!(progress.head_updates, 2);
    assert_eq!(progress.agreeing, vec![honest.url.clone()]);
    assert_eq!(
        sync.store().unwrap().finalized_header().beacon.root(),
        capella_finality().finalized_header.beacon.root()
    );
}

#[tokio::test]
async fn only_liars_and_failures_is_an_error_naming_each() {
    let failing = Server::start(Behaviour::Failing).await;
    let liar = Server::start(Behaviour::Liar).await;
    let endpoints = vec![failing.url.clone(), liar.url.clone()];
    let mut sync = BeaconSync::new(ChainConfig::mainnet(), &endpoints, root(CAPELLA_ROOT)).unwrap();
    let err = sync.sync(CAPELLA_NOW).await.unwrap_err();
    let BeaconError::AllEndpointsFailed { phase, faults } = &err else {
        panic!("{err}");
    };
    assert_eq!(*phase, "bootstrap");
    assert_eq!(faults.len(), 2);
    let text = err.to_string();
    assert!(
        text.contains(&failing.url) && text.contains(&liar.url),
        "{text}"
    );
    assert!(sync.store().is_none());
}

#[tokio::test]
async fn deneb_is_fetched_as_ssz() {
    let honest = Server::start(Behaviour::Honest).await;
    let mut sync = BeaconSync::new(
        ChainConfig::mainnet(),
        std::slice::from_ref(&honest.url),
        root(DENEB_ROOT),
    )
    .unwrap();
    let progress = sync.sync(NOW).await.unwrap();
    let store = sync.store().unwrap();
    assert_eq!(progress.updates, 1);
    assert!(store.is_next_sync_committee_known());
    // Bootstrap and updates were answered in SSZ: no JSON retry.
    let log = honest.log();
    assert!(
        log.iter()
            .filter(|(uri, _)| uri.starts_with("bootstrap") || uri.starts_with("updates"))
            .all(|(_, accept)| accept.contains("octet-stream")),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|(uri, _)| uri.starts_with("updates?start_period=1394"))
    );
}

#[tokio::test]
async fn checkpoint_is_persisted_and_preferred_over_the_configured_one() {
    let honest = Server::start(Behaviour::Honest).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checkpoint");
    // A previous run left the Capella checkpoint; the configured one is unknown to the server.
    std::fs::write(&path, format!("{CAPELLA_ROOT}\n")).unwrap();
    let mut sync = BeaconSync::new(
        ChainConfig::mainnet(),
        std::slice::from_ref(&honest.url),
        B256::repeat_byte(7),
    )
    .unwrap()
    .with_persistence(Box::new(FileCheckpoint::new(&path)))
    .await
    .unwrap();
    assert_eq!(sync.checkpoint(), root(CAPELLA_ROOT));
    sync.sync(CAPELLA_NOW).await.unwrap();
    let saved = FileCheckpoint::new(&path).load().await.unwrap().unwrap();
    assert_eq!(saved, capella_finality().finalized_header.beacon.root());

    std::fs::write(&path, "not a root").unwrap();
    let err = BeaconSync::new(
        ChainConfig::mainnet(),
        std::slice::from_ref(&honest.url),
        B256::ZERO,
    )
    .unwrap()
    .with_persistence(Box::new(FileCheckpoint::new(&path)))
    .await
    .unwrap_err();
    assert!(err.to_string().contains("block root"), "{err}");
}

/// Real beacon endpoints are https: the native client speaks TLS (rustls, system roots). A
/// listener on 127.0.0.1 receives a TLS ClientHello, and an endpoint whose certificate the system
/// does not trust is a named fault, not a silent plain-HTTP request.
#[tokio::test]
async fn https_endpoints_are_reached_over_tls() {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    let first_bytes = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut record = [0u8; 3];
        socket.read_exact(&mut record).await.unwrap();
        record
    });
    let mut sync = BeaconSync::new(
        ChainConfig::mainnet(),
        std::slice::from_ref(&url),
        root(CAPELLA_ROOT),
    )
    .unwrap();
    let err = sync.sync(CAPELLA_NOW).await.unwrap_err();
    // A TLS handshake record (0x16), version 3.x: what rustls sends first.
    // (The sync has ended, so a client that never connected would leave the listener waiting.)
    let record = tokio::time::timeout(std::time::Duration::from_secs(10), first_bytes)
        .await
        .expect("the client never connected: no TLS support?")
        .unwrap();
    assert_eq!(record[..2], [0x16, 0x03], "{record:?}");
    let BeaconError::AllEndpointsFailed { phase, faults } = &err else {
        panic!("{err}");
    };
    assert_eq!(*phase, "bootstrap");
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert_eq!(faults[0].endpoint, url);
    assert!(!faults[0].lied);
    assert!(
        faults[0].reason.starts_with("unreachable: "),
        "{}",
        faults[0].reason
    );
}
