//! A synthetic beacon chain for tests: signed by a test sync committee, following an execution
//! endpoint (an anvil devnet), served over the standard beacon light-client HTTP API on
//! 127.0.0.1. Test-only.
//!
//! A devnet has no consensus layer, so the light client's beacon side could only be tested
//! against recorded mainnet fixtures whose execution blocks no local node has. [`SignedChain`]
//! closes that gap: it invents a network (`cairn-test`: its own [`ChainConfig`], every fork the
//! light client knows active from genesis, one-second slots), a sync committee of deterministic
//! BLS keys, and a checkpoint whose state commits to that committee. [`SignedChain::serve`] then
//! answers `finality_update` and `optimistic_update` with a beacon header built on the spot
//! around the execution endpoint's latest block, signed by the whole committee, and `bootstrap`
//! for the checkpoint and for every head it signed (a client restarted from the checkpoint it
//! kept starts from one of those).
//!
//! Why the light client's trust argument still holds: the client is given
//! [`SignedChain::checkpoint`] exactly as a user is given a mainnet checkpoint, and trusts
//! nothing else. Everything after it is verified as on mainnet: the bootstrap must hash to the
//! checkpoint and prove its committee against the checkpoint's state root; each update's
//! attested header must be signed by that committee in this network's domain, and must prove its
//! execution payload header (hence the execution block hash the execution node is then held to)
//! against its body root, and its finalized header against its state root. Only the keys'
//! holder (this module) can produce such headers, which is what [`Behaviour::WrongKeys`] checks
//! from the other side. What the synthetic chain does not have is a validator set behind the
//! committee: the checkpoint is trusted to name an honest committee, as on mainnet.
//!
//! Shape of the chain: genesis is eight seconds before [`SignedChain::new`], the checkpoint's
//! block three slots before it, and the checkpoint's execution payload names a made-up block (no
//! execution node has it). Each new head is attested two slots before the server's clock slot
//! and signed one slot before it, so a client whose `current_slot` was read up to a slot before
//! its request still sees `signature_slot <= current_slot` (the spec's check, which has no
//! clock-disparity allowance); two requests within one slot get the same signed head. Each head's parent and finalized header is
//! the previous head (the checkpoint for the first), so finality trails the head by one block.
//! Beacon states and bodies are sparse: only the leaves the light client checks (the current and
//! next sync committees, the finalized root, the execution payload) are real; every other
//! subtree root is an arbitrary hash. The sync-committee period is years long, so no test crosses
//! one and `light_client/updates` is always an empty list.
//!
//! Only beacon-API JSON is served: an SSZ request is answered 406, from which `BeaconSync` falls
//! back to JSON.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc,
    reason = "a mock in tests fails loudly on a poisoned lock or a broken invariant"
)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use alloy_primitives::{Address, B256, U256};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use blst::min_pk::{AggregatePublicKey, AggregateSignature, SecretKey, Signature};
use light_client::config::{EXECUTION_PAYLOAD_GINDEX, ForkEntry};
use light_client::store::update_signing_root;
use light_client::types::{
    BeaconBlockHeader, ExecutionPayloadHeader, PublicKeyBytes, SignatureBytes, SyncAggregate,
    SyncCommittee,
};
use light_client::{Bootstrap, ChainConfig, Fork, LightClientHeader, Update};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Members of the test sync committee (a multiple of 8, as the bitvector needs; the minimal
/// preset's size keeps signing cheap).
pub const COMMITTEE_SIZE: usize = 32;
/// The network's name in [`ChainConfig::name`].
pub const NETWORK: &str = "cairn-test";
/// `SLOTS_PER_EPOCH` of the test network (the minimal preset's).
const SLOTS_PER_EPOCH: u64 = 8;
/// `EPOCHS_PER_SYNC_COMMITTEE_PERIOD`: 2^24 epochs of 8 one-second slots is over four years, so
/// no test crosses a period and `force_update` never fires.
const EPOCHS_PER_PERIOD: u64 = 1 << 24;
/// How long before [`SignedChain::new`] genesis lies, in seconds (one-second slots).
const GENESIS_AGE: u64 = 8;
/// How many slots before the clock at [`SignedChain::new`] the checkpoint's block is.
const CHECKPOINT_AGE: u64 = 3;
/// The proof-of-possession ciphersuite of the consensus specs (as `light_client::bls`).
const DST: &[u8] = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

/// How a served chain behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Every head commits to the execution endpoint's latest block and is signed by the
    /// committee.
    Honest,
    /// As [`Honest`](Self::Honest), but the aggregate signature is made with keys that are not
    /// the committee's: a verifying client must refuse every update.
    WrongKeys,
    /// Every head commits to this execution block (hash, number) instead of the endpoint's
    /// latest, correctly signed: a block the execution node may not have.
    Pinned(B256, u64),
}

/// A synthetic network: its configuration, its sync committee's secret keys and its trusted
/// checkpoint. Cheap to clone; every [`Server`] started from it serves the same checkpoint.
#[derive(Clone)]
pub struct SignedChain {
    inner: Arc<Inner>,
}

struct Inner {
    config: ChainConfig,
    /// The committee's secret keys, in committee order.
    keys: Vec<SecretKey>,
    /// As many other keys, for [`Behaviour::WrongKeys`].
    wrong_keys: Vec<SecretKey>,
    committee: SyncCommittee,
    bootstrap: Bootstrap,
}

impl std::fmt::Debug for SignedChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedChain")
            .field("config", &self.inner.config)
            .field("checkpoint", &self.checkpoint())
            .finish_non_exhaustive()
    }
}

impl Default for SignedChain {
    fn default() -> Self {
        Self::new()
    }
}

impl SignedChain {
    /// A new `cairn-test` network whose genesis was eight seconds ago, with a checkpoint three
    /// slots old. Keys and fork versions are fixed; only times and the roots that depend on them
    /// change between calls.
    pub fn new() -> Self {
        let genesis_time = unix_now().saturating_sub(GENESIS_AGE);
        let config = ChainConfig {
            name: NETWORK.into(),
            genesis_validators_root: tagged_hash(b"cairn-test genesis validators root", 0),
            genesis_time,
            seconds_per_slot: 1,
            slots_per_epoch: SLOTS_PER_EPOCH,
            epochs_per_sync_committee_period: EPOCHS_PER_PERIOD,
            sync_committee_size: COMMITTEE_SIZE,
            forks: Fork::ALL
                .iter()
                .enumerate()
                .map(|(index, fork)| ForkEntry {
                    fork: *fork,
                    epoch: 0,
                    version: [index as u8, 0xca, 0x12, 0x25],
                })
                .collect(),
        };
        config
            .validate()
            .expect("the test network's configuration is valid");
        let keys = secret_keys(b"cairn-test sync committee");
        let wrong_keys = secret_keys(b"cairn-test impostors");
        let committee = sync_committee(&keys);

        let slot = config
            .slot_at_time(unix_now())
            .saturating_sub(CHECKPOINT_AGE)
            .max(1);
        let fork = config.fork_at_slot(slot);
        let salt = tagged_hash(b"cairn-test checkpoint", slot);
        let committee_root = committee.root();
        let state = SparseTree::new(
            salt,
            [
                (fork.current_sync_committee_gindex(), committee_root),
                (fork.next_sync_committee_gindex(), committee_root),
            ],
        );
        let execution = ExecutionPayloadHeader {
            block_hash: tagged_hash(b"cairn-test checkpoint execution block", 0),
            logs_bloom: vec![0; 256],
            gas_limit: 30_000_000,
            timestamp: genesis_time + slot,
            ..ExecutionPayloadHeader::default()
        };
        let header = light_client_header(
            &config,
            slot,
            tagged_hash(b"cairn-test checkpoint parent", slot),
            state.root(),
            execution,
        );
        let bootstrap = Bootstrap {
            header,
            current_sync_committee: committee.clone(),
            current_sync_committee_branch: state.branch(fork.current_sync_committee_gindex()),
        };
        Self {
            inner: Arc::new(Inner {
                config,
                keys,
                wrong_keys,
                committee,
                bootstrap,
            }),
        }
    }

    /// The network.
    pub fn config(&self) -> &ChainConfig {
        &self.inner.config
    }

    /// The network as the JSON [`ChainConfig::from_json`] reads (what `--network` files hold).
    pub fn config_json(&self) -> String {
        serde_json::to_string_pretty(&self.inner.config).expect("a config serializes")
    }

    /// The checkpoint to trust: the bootstrap's beacon block root.
    pub fn checkpoint(&self) -> B256 {
        self.inner.bootstrap.header.beacon.root()
    }

    /// The bootstrap served for [`checkpoint`](Self::checkpoint).
    pub fn bootstrap(&self) -> &Bootstrap {
        &self.inner.bootstrap
    }

    /// The sync committee (all its members sign every head).
    pub fn committee(&self) -> &SyncCommittee {
        &self.inner.committee
    }

    /// The bootstrap as `GET /eth/v1/beacon/light_client/bootstrap/{root}` answers it.
    pub fn bootstrap_json(&self) -> Value {
        self.bootstrap_json_of(&self.inner.bootstrap)
    }

    /// A bootstrap from a head this chain signed (`header`, the attested header of an update
    /// [`sign_head`](Self::sign_head) made): its state is rebuilt as `sign_head` built it (same
    /// salt and leaves: the committee, and the header's parent as the finalized root), so the
    /// committee's branch proves against the header's state root. What a light client restarted
    /// from a later checkpoint bootstraps from.
    pub fn bootstrap_of(&self, header: &LightClientHeader) -> Bootstrap {
        let fork = self.fork_of(header);
        let committee_root = self.inner.committee.root();
        let state = SparseTree::new(
            tagged_hash(b"cairn-test state", header.beacon.slot),
            [
                (fork.current_sync_committee_gindex(), committee_root),
                (fork.next_sync_committee_gindex(), committee_root),
                (fork.finalized_root_gindex(), header.beacon.parent_root),
            ],
        );
        assert_eq!(
            state.root(),
            header.beacon.state_root,
            "a head this chain signed"
        );
        Bootstrap {
            header: header.clone(),
            current_sync_committee: self.inner.committee.clone(),
            current_sync_committee_branch: state.branch(fork.current_sync_committee_gindex()),
        }
    }

    fn bootstrap_json_of(&self, bootstrap: &Bootstrap) -> Value {
        let fork = self.fork_of(&bootstrap.header);
        json!({
            "version": fork.name(),
            "data": {
                "header": header_json(&bootstrap.header, fork),
                "current_sync_committee": committee_json(&bootstrap.current_sync_committee),
                "current_sync_committee_branch": roots_json(&bootstrap.current_sync_committee_branch),
            }
        })
    }

    /// A finality update (`finality` = true) or an optimistic update as the beacon API answers
    /// them, from `update` (one made by [`sign_head`](Self::sign_head)).
    pub fn update_json(&self, update: &Update, finality: bool) -> Value {
        let fork = self.fork_of(&update.attested_header);
        let aggregate = &update.sync_aggregate;
        let mut data = json!({
            "attested_header": header_json(&update.attested_header, fork),
            "sync_aggregate": {
                "sync_committee_bits": hex0x(&aggregate.sync_committee_bits),
                "sync_committee_signature": hex0x(aggregate.sync_committee_signature.as_slice()),
            },
            "signature_slot": update.signature_slot.to_string(),
        });
        if finality {
            data["finalized_header"] = header_json(&update.finalized_header, fork);
            data["finality_branch"] = roots_json(&update.finality_branch);
        }
        json!({ "version": fork.name(), "data": data })
    }

    /// A new head at clock slot `slot`: a header attested at `slot - 2` on top of `previous`
    /// (its parent and its finalized header), committing to `execution`, signed at `slot - 1`
    /// by the committee (or, with `wrong_keys`, by keys that are not the committee's). The
    /// update is in the finality form; [`update_json`](Self::update_json) also gives the
    /// optimistic one. `None` if `slot - 2` is not after `previous`.
    pub fn sign_head(
        &self,
        previous: &LightClientHeader,
        slot: u64,
        execution: ExecutionPayloadHeader,
        wrong_keys: bool,
    ) -> Option<Update> {
        let config = &self.inner.config;
        let attested_slot = slot.checked_sub(2)?;
        if attested_slot <= previous.beacon.slot {
            return None;
        }
        let fork = config.fork_at_slot(attested_slot);
        let committee_root = self.inner.committee.root();
        let finalized_root = previous.beacon.root();
        let state = SparseTree::new(
            tagged_hash(b"cairn-test state", attested_slot),
            [
                (fork.current_sync_committee_gindex(), committee_root),
                (fork.next_sync_committee_gindex(), committee_root),
                (fork.finalized_root_gindex(), finalized_root),
            ],
        );
        let attested_header = light_client_header(
            config,
            attested_slot,
            previous.beacon.root(),
            state.root(),
            execution,
        );
        let mut update = Update {
            attested_header,
            next_sync_committee: SyncCommittee::default(),
            next_sync_committee_branch: vec![
                B256::ZERO;
                gindex_depth(fork.next_sync_committee_gindex())
            ],
            finalized_header: previous.clone(),
            finality_branch: state.branch(fork.finalized_root_gindex()),
            sync_aggregate: SyncAggregate::default(),
            signature_slot: slot - 1,
        };
        // The light client's own signing root: the attested header's root in the domain of the
        // signature slot's fork.
        let signing_root = update_signing_root(&update, config);
        let keys = if wrong_keys {
            &self.inner.wrong_keys
        } else {
            &self.inner.keys
        };
        update.sync_aggregate = aggregate(keys, &signing_root);
        Some(update)
    }

    /// Starts the beacon API on 127.0.0.1, following the JSON-RPC endpoint `execution_url`.
    pub async fn serve(&self, execution_url: &str, behaviour: Behaviour) -> Server {
        let served = Arc::new(Served {
            chain: self.clone(),
            execution_url: execution_url.to_owned(),
            behaviour,
            http: reqwest::Client::new(),
            head: Mutex::new(None),
            signed: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
        });
        let app = crate::beacon::light_client_api(
            get(bootstrap),
            get(updates),
            get(finality),
            get(optimistic),
        )
        .with_state(served.clone());
        let (url, task) = crate::serve_local(app).await;
        Server { url, served, task }
    }

    fn fork_of(&self, header: &LightClientHeader) -> Fork {
        self.inner.config.fork_at_slot(header.beacon.slot)
    }
}

/// A served [`SignedChain`]; stopped on drop.
pub struct Server {
    /// Its base URL.
    pub url: String,
    served: Arc<Served>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("url", &self.url)
            .field("behaviour", &self.served.behaviour)
            .finish_non_exhaustive()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// `(path and query, accept header)` of every request so far.
    pub fn log(&self) -> Vec<(String, String)> {
        self.served.log.lock().unwrap().clone()
    }

    /// The latest signed head (in the finality form), if one was asked for.
    pub fn head(&self) -> Option<Update> {
        self.served.head.lock().unwrap().clone()
    }
}

struct Served {
    chain: SignedChain,
    execution_url: String,
    behaviour: Behaviour,
    http: reqwest::Client,
    /// The latest signed head.
    head: Mutex<Option<Update>>,
    /// Every head signed, by beacon block root: a light client restarted from a later
    /// checkpoint bootstraps from one of them.
    signed: Mutex<HashMap<B256, LightClientHeader>>,
    /// `(path and query, accept header)` of every request.
    log: Mutex<Vec<(String, String)>>,
}

type Shared = Arc<Served>;

impl Served {
    fn record(&self, uri: String, headers: &HeaderMap) {
        let accept = crate::beacon::accept(headers).to_owned();
        self.log.lock().unwrap().push((uri, accept));
    }

    /// What to serve at clock slot `slot` without signing.
    fn reusable(&self, slot: u64) -> Reuse {
        let head = self.head.lock().unwrap();
        let previous_slot = head
            .as_ref()
            .map_or(self.chain.inner.bootstrap.header.beacon.slot, |update| {
                update.attested_header.beacon.slot
            });
        match head.as_ref() {
            _ if slot.saturating_sub(2) > previous_slot => Reuse::Sign,
            Some(update) => Reuse::Same(Box::new(update.clone())),
            None => Reuse::NotYet,
        }
    }

    /// The head at the clock's slot: reused within a slot, else signed over the execution
    /// endpoint's latest block (or the pinned one).
    async fn head(&self) -> Result<Update, Response> {
        let not_yet = || {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "no head after the checkpoint yet",
            )
                .into_response()
        };
        let slot = self.chain.config().slot_at_time(unix_now());
        match self.reusable(slot) {
            Reuse::Sign => {}
            Reuse::Same(update) => return Ok(*update),
            Reuse::NotYet => return Err(not_yet()),
        }
        let execution = match self.behaviour {
            Behaviour::Pinned(hash, number) => pinned_payload(hash, number),
            Behaviour::Honest | Behaviour::WrongKeys => {
                latest_payload(&self.http, &self.execution_url)
                    .await
                    .map_err(|reason| (StatusCode::BAD_GATEWAY, reason).into_response())?
            }
        };
        let wrong_keys = self.behaviour == Behaviour::WrongKeys;
        let mut head = self.head.lock().unwrap();
        let previous = head
            .as_ref()
            .map_or(&self.chain.inner.bootstrap.header, |update| {
                &update.attested_header
            });
        // `None` if another request signed this slot's head while the block was fetched.
        match self.chain.sign_head(previous, slot, execution, wrong_keys) {
            Some(update) => {
                let attested = &update.attested_header;
                self.signed
                    .lock()
                    .unwrap()
                    .insert(attested.beacon.root(), attested.clone());
                *head = Some(update.clone());
                Ok(update)
            }
            None => head.clone().ok_or_else(not_yet),
        }
    }
}

/// What [`Served::reusable`] found.
enum Reuse {
    /// A newer head can be attested: sign one.
    Sign,
    /// The latest head is still this slot's.
    Same(Box<Update>),
    /// The clock is not yet past the checkpoint's slot.
    NotYet,
}

/// JSON only, as from a JSON-only server: SSZ is refused with 406, which `BeaconSync` answers
/// by asking again for JSON.
fn refuse_ssz(headers: &HeaderMap) -> Option<Response> {
    crate::beacon::wants_ssz(headers).then(|| StatusCode::NOT_ACCEPTABLE.into_response())
}

async fn bootstrap(
    State(served): State<Shared>,
    Path(root): Path<String>,
    headers: HeaderMap,
) -> Response {
    served.record(format!("bootstrap/{root}"), &headers);
    let Ok(root) = root.parse::<B256>() else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let json = if root == served.chain.checkpoint() {
        served.chain.bootstrap_json()
    } else {
        let signed = served.signed.lock().unwrap().get(&root).cloned();
        match signed {
            Some(header) => served
                .chain
                .bootstrap_json_of(&served.chain.bootstrap_of(&header)),
            None => return StatusCode::NOT_FOUND.into_response(),
        }
    };
    if let Some(refused) = refuse_ssz(&headers) {
        return refused;
    }
    axum::Json(json).into_response()
}

async fn updates(
    State(served): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let param = |name: &str| query.get(name).and_then(|v| v.parse::<u64>().ok());
    let (Some(start), Some(count)) = (param("start_period"), param("count")) else {
        return (
            StatusCode::BAD_REQUEST,
            "start_period and count are required",
        )
            .into_response();
    };
    served.record(
        format!("updates?start_period={start}&count={count}"),
        &headers,
    );
    if let Some(refused) = refuse_ssz(&headers) {
        return refused;
    }
    // Every head is signed in period 0 by the checkpoint's committee: no period update exists.
    axum::Json(json!([])).into_response()
}

async fn finality(State(served): State<Shared>, headers: HeaderMap) -> Response {
    head_update(&served, &headers, true).await
}

async fn optimistic(State(served): State<Shared>, headers: HeaderMap) -> Response {
    head_update(&served, &headers, false).await
}

async fn head_update(served: &Served, headers: &HeaderMap, finality: bool) -> Response {
    let name = if finality {
        "finality_update"
    } else {
        "optimistic_update"
    };
    served.record(name.into(), headers);
    if let Some(refused) = refuse_ssz(headers) {
        return refused;
    }
    match served.head().await {
        Ok(update) => axum::Json(served.chain.update_json(&update, finality)).into_response(),
        Err(response) => response,
    }
}

/// The execution endpoint's latest block as an execution payload header: every field the block
/// has (`transactions_root` and `withdrawals_root`, SSZ roots a JSON-RPC block does not give,
/// stay zero).
async fn latest_payload(
    http: &reqwest::Client,
    url: &str,
) -> Result<ExecutionPayloadHeader, String> {
    let request = json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "eth_getBlockByNumber",
        "params": ["latest", false],
    });
    let answer: Value = http
        .post(url)
        .json(&request)
        .send()
        .await
        .map_err(|e| format!("eth_getBlockByNumber at {url}: {e}"))?
        .json()
        .await
        .map_err(|e| format!("eth_getBlockByNumber at {url}: {e}"))?;
    let block = &answer["result"];
    if !block.is_object() {
        return Err(format!("eth_getBlockByNumber at {url}: {answer}"));
    }
    payload_of(block)
}

fn payload_of(block: &Value) -> Result<ExecutionPayloadHeader, String> {
    let text = |name: &str| {
        block[name]
            .as_str()
            .ok_or_else(|| format!("block field {name} is missing"))
    };
    let bytes = |name: &str| {
        text(name).and_then(|t| {
            hex::decode(t.trim_start_matches("0x")).map_err(|e| format!("block field {name}: {e}"))
        })
    };
    let b256 = |name: &str| {
        text(name).and_then(|t| {
            t.parse::<B256>()
                .map_err(|e| format!("block field {name}: {e}"))
        })
    };
    let quantity = |name: &str| {
        text(name).and_then(|t| {
            u64::from_str_radix(t.trim_start_matches("0x"), 16)
                .map_err(|e| format!("block field {name}: {e}"))
        })
    };
    let optional = |name: &str| {
        if block[name].is_null() {
            Ok(0)
        } else {
            quantity(name)
        }
    };
    let logs_bloom = bytes("logsBloom")?;
    if logs_bloom.len() != 256 {
        return Err(format!("logsBloom has {} bytes", logs_bloom.len()));
    }
    let mut extra_data = bytes("extraData")?;
    extra_data.truncate(32);
    let base_fee = match block["baseFeePerGas"].as_str() {
        Some(t) => U256::from_str_radix(t.trim_start_matches("0x"), 16)
            .map_err(|e| format!("block field baseFeePerGas: {e}"))?,
        None => U256::ZERO,
    };
    Ok(ExecutionPayloadHeader {
        parent_hash: b256("parentHash")?,
        fee_recipient: text("miner")?
            .parse::<Address>()
            .map_err(|e| format!("block field miner: {e}"))?,
        state_root: b256("stateRoot")?,
        receipts_root: b256("receiptsRoot")?,
        logs_bloom,
        prev_randao: b256("mixHash").unwrap_or_default(),
        block_number: quantity("number")?,
        gas_limit: quantity("gasLimit")?,
        gas_used: quantity("gasUsed")?,
        timestamp: quantity("timestamp")?,
        extra_data,
        base_fee_per_gas: base_fee,
        block_hash: b256("hash")?,
        transactions_root: B256::ZERO,
        withdrawals_root: B256::ZERO,
        blob_gas_used: optional("blobGasUsed")?,
        excess_blob_gas: optional("excessBlobGas")?,
    })
}

/// A made-up execution payload header naming block `number` with hash `hash`.
fn pinned_payload(hash: B256, number: u64) -> ExecutionPayloadHeader {
    ExecutionPayloadHeader {
        parent_hash: tagged_hash(b"cairn-test pinned parent", number),
        logs_bloom: vec![0; 256],
        block_number: number,
        gas_limit: 30_000_000,
        timestamp: unix_now(),
        block_hash: hash,
        ..ExecutionPayloadHeader::default()
    }
}

/// A light-client header at `slot` carrying `execution`, its body a sparse tree in which only
/// the execution payload (gindex 25) is real, with the branch proving it against the body root.
fn light_client_header(
    config: &ChainConfig,
    slot: u64,
    parent_root: B256,
    state_root: B256,
    execution: ExecutionPayloadHeader,
) -> LightClientHeader {
    let mut header = LightClientHeader {
        beacon: BeaconBlockHeader {
            slot,
            proposer_index: slot % 64,
            parent_root,
            state_root,
            body_root: B256::ZERO,
        },
        execution,
        execution_branch: Vec::new(),
    };
    // `get_lc_execution_root`: the payload header's root in the form of the header's fork.
    let body = SparseTree::new(
        tagged_hash(b"cairn-test body", slot),
        [(EXECUTION_PAYLOAD_GINDEX, header.execution_root(config))],
    );
    header.beacon.body_root = body.root();
    header.execution_branch = body.branch(EXECUTION_PAYLOAD_GINDEX);
    header
}

/// A binary Merkle tree known only by some nodes (generalized index → root): every subtree
/// holding none of them has an arbitrary root derived from `salt` and its index, as if it were
/// the rest of a beacon state or body.
struct SparseTree {
    salt: B256,
    known: BTreeMap<u64, B256>,
}

impl SparseTree {
    fn new(salt: B256, known: impl IntoIterator<Item = (u64, B256)>) -> Self {
        Self {
            salt,
            known: known.into_iter().collect(),
        }
    }

    fn node(&self, gindex: u64) -> B256 {
        if let Some(root) = self.known.get(&gindex) {
            return *root;
        }
        let depth = gindex_depth(gindex);
        let above_known = self.known.keys().any(|&known| {
            let known_depth = gindex_depth(known);
            known_depth > depth && known >> (known_depth - depth) == gindex
        });
        if above_known {
            hash_pair(self.node(2 * gindex), self.node(2 * gindex + 1))
        } else {
            let mut hasher = Sha256::new();
            hasher.update(self.salt);
            hasher.update(gindex.to_le_bytes());
            B256::from(<[u8; 32]>::from(hasher.finalize()))
        }
    }

    fn root(&self) -> B256 {
        self.node(1)
    }

    /// The siblings from `gindex` up to the root, lowest first (`is_valid_merkle_branch`'s
    /// order).
    fn branch(&self, gindex: u64) -> Vec<B256> {
        let mut branch = Vec::with_capacity(gindex_depth(gindex));
        let mut index = gindex;
        while index > 1 {
            branch.push(self.node(index ^ 1));
            index >>= 1;
        }
        branch
    }
}

/// `floorlog2(gindex)`.
fn gindex_depth(gindex: u64) -> usize {
    (63 - gindex.max(1).leading_zeros()) as usize
}

fn hash_pair(left: B256, right: B256) -> B256 {
    let mut hasher = Sha256::new();
    hasher.update(left);
    hasher.update(right);
    B256::from(<[u8; 32]>::from(hasher.finalize()))
}

/// SHA-256 of `tag ‖ n`: made-up roots and key material, different for each tag and number.
fn tagged_hash(tag: &[u8], n: u64) -> B256 {
    let mut hasher = Sha256::new();
    hasher.update(tag);
    hasher.update(n.to_le_bytes());
    B256::from(<[u8; 32]>::from(hasher.finalize()))
}

/// [`COMMITTEE_SIZE`] deterministic BLS keys (`KeyGen` over SHA-256 of `tag ‖ index`).
fn secret_keys(tag: &[u8]) -> Vec<SecretKey> {
    (0..COMMITTEE_SIZE as u64)
        .map(|index| {
            SecretKey::key_gen(tagged_hash(tag, index).as_slice(), &[])
                .expect("32 bytes of key material")
        })
        .collect()
}

fn sync_committee(keys: &[SecretKey]) -> SyncCommittee {
    let public: Vec<_> = keys.iter().map(SecretKey::sk_to_pk).collect();
    let refs: Vec<_> = public.iter().collect();
    let aggregate = AggregatePublicKey::aggregate(&refs, false)
        .expect("a nonempty committee")
        .to_public_key();
    SyncCommittee {
        pubkeys: public
            .iter()
            .map(|key| PublicKeyBytes::from(key.compress()))
            .collect(),
        aggregate_pubkey: PublicKeyBytes::from(aggregate.compress()),
    }
}

/// Every key of `keys` signs `signing_root`; all participation bits are set.
fn aggregate(keys: &[SecretKey], signing_root: &[u8; 32]) -> SyncAggregate {
    let signatures: Vec<Signature> = keys
        .iter()
        .map(|key| key.sign(signing_root, DST, &[]))
        .collect();
    let refs: Vec<&Signature> = signatures.iter().collect();
    let signature = AggregateSignature::aggregate(&refs, false)
        .expect("a nonempty committee")
        .to_signature();
    SyncAggregate {
        sync_committee_bits: vec![0xff; keys.len() / 8],
        sync_committee_signature: SignatureBytes::from(signature.compress()),
    }
}

fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn roots_json(roots: &[B256]) -> Value {
    Value::Array(roots.iter().map(|r| json!(hex0x(r.as_slice()))).collect())
}

fn committee_json(committee: &SyncCommittee) -> Value {
    json!({
        "pubkeys": committee.pubkeys.iter().map(|k| hex0x(k.as_slice())).collect::<Vec<_>>(),
        "aggregate_pubkey": hex0x(committee.aggregate_pubkey.as_slice()),
    })
}

/// A `LightClientHeader` in the beacon API's JSON (numbers as decimal strings, bytes as
/// `0x`-hex); the blob gas fields only from Deneb on, as `light_client::json` requires.
fn header_json(header: &LightClientHeader, fork: Fork) -> Value {
    let beacon = &header.beacon;
    let e = &header.execution;
    let mut execution = json!({
        "parent_hash": hex0x(e.parent_hash.as_slice()),
        "fee_recipient": hex0x(e.fee_recipient.as_slice()),
        "state_root": hex0x(e.state_root.as_slice()),
        "receipts_root": hex0x(e.receipts_root.as_slice()),
        "logs_bloom": hex0x(&e.logs_bloom),
        "prev_randao": hex0x(e.prev_randao.as_slice()),
        "block_number": e.block_number.to_string(),
        "gas_limit": e.gas_limit.to_string(),
        "gas_used": e.gas_used.to_string(),
        "timestamp": e.timestamp.to_string(),
        "extra_data": hex0x(&e.extra_data),
        "base_fee_per_gas": e.base_fee_per_gas.to_string(),
        "block_hash": hex0x(e.block_hash.as_slice()),
        "transactions_root": hex0x(e.transactions_root.as_slice()),
        "withdrawals_root": hex0x(e.withdrawals_root.as_slice()),
    });
    if fork >= Fork::Deneb {
        execution["blob_gas_used"] = json!(e.blob_gas_used.to_string());
        execution["excess_blob_gas"] = json!(e.excess_blob_gas.to_string());
    }
    json!({
        "beacon": {
            "slot": beacon.slot.to_string(),
            "proposer_index": beacon.proposer_index.to_string(),
            "parent_root": hex0x(beacon.parent_root.as_slice()),
            "state_root": hex0x(beacon.state_root.as_slice()),
            "body_root": hex0x(beacon.body_root.as_slice()),
        },
        "execution": execution,
        "execution_branch": roots_json(&header.execution_branch),
    })
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use light_client::json::{bootstrap_from_json, updates_from_json};
    use light_client::store::is_valid_light_client_header;
    use light_client::{Store, SyncError};

    use super::*;

    fn payload(number: u64) -> ExecutionPayloadHeader {
        pinned_payload(tagged_hash(b"test block", number), number)
    }

    /// The update as a client decodes it from the served JSON.
    fn served(chain: &SignedChain, update: &Update, finality: bool) -> Update {
        let json = chain.update_json(update, finality).to_string();
        updates_from_json(&json, chain.config()).unwrap().remove(0)
    }

    fn store(chain: &SignedChain) -> Store {
        let json = chain.bootstrap_json().to_string();
        let bootstrap = bootstrap_from_json(&json, chain.config()).unwrap();
        assert_eq!(&bootstrap, chain.bootstrap());
        Store::bootstrap(chain.config().clone(), chain.checkpoint(), bootstrap).unwrap()
    }

    #[test]
    fn a_signed_head_is_a_checkpoint_a_client_can_restart_from() {
        let chain = SignedChain::new();
        let checkpoint = chain.bootstrap().header.clone();
        let slot = checkpoint.beacon.slot + 3;
        let head = chain
            .sign_head(&checkpoint, slot, payload(1), false)
            .unwrap()
            .attested_header;
        let json = chain
            .bootstrap_json_of(&chain.bootstrap_of(&head))
            .to_string();
        let bootstrap = bootstrap_from_json(&json, chain.config()).unwrap();
        let store =
            Store::bootstrap(chain.config().clone(), head.beacon.root(), bootstrap).unwrap();
        assert_eq!(store.finalized_header(), &head);
        // Its committee proves against that head's state root only.
        let mut other = head.clone();
        other.beacon.state_root = B256::repeat_byte(1);
        let mut bootstrap = chain.bootstrap_of(&head);
        bootstrap.header = other.clone();
        assert!(Store::bootstrap(chain.config().clone(), other.beacon.root(), bootstrap).is_err());
    }

    #[test]
    fn the_config_round_trips_and_every_known_fork_is_active() {
        let chain = SignedChain::new();
        let config = ChainConfig::from_json(&chain.config_json()).unwrap();
        assert_eq!(&config, chain.config());
        assert_eq!(config.fork_at_slot(0), Fork::ALL[Fork::ALL.len() - 1]);
        // Four years of one-second slots stay in period 0.
        assert_eq!(config.period_at_slot(4 * 365 * 24 * 3600), 0);
    }

    #[test]
    fn the_bootstrap_proves_the_committee_against_the_checkpoint() {
        let chain = SignedChain::new();
        let store = store(&chain);
        assert_eq!(store.finalized_header().beacon.root(), chain.checkpoint());
    }

    #[test]
    fn heads_verify_and_finality_trails_by_one_block() {
        let chain = SignedChain::new();
        let mut store = store(&chain);
        let checkpoint = chain.bootstrap().header.clone();
        let slot = checkpoint.beacon.slot + 3;
        assert!(
            chain
                .sign_head(&checkpoint, slot - 1, payload(1), false)
                .is_none()
        );

        let first = chain
            .sign_head(&checkpoint, slot, payload(1), false)
            .unwrap();
        assert!(is_valid_light_client_header(
            &first.attested_header,
            chain.config()
        ));
        let finality = served(&chain, &first, true);
        assert_eq!(finality, first);
        store.process_update(finality, slot).unwrap();
        assert_eq!(store.optimistic_header(), &first.attested_header);
        // The optimistic form of the same head is still relevant, and verifies.
        store
            .process_update(served(&chain, &first, false), slot)
            .unwrap();

        let second = chain
            .sign_head(&first.attested_header, slot + 1, payload(2), false)
            .unwrap();
        assert_eq!(
            second.attested_header.beacon.parent_root,
            first.attested_header.beacon.root()
        );
        store
            .process_update(served(&chain, &second, true), slot + 1)
            .unwrap();
        assert_eq!(store.finalized_header(), &first.attested_header);
        assert_eq!(store.optimistic_header().execution.block_number, 2);
    }

    #[test]
    fn a_head_signed_by_other_keys_is_refused() {
        let chain = SignedChain::new();
        let mut store = store(&chain);
        let checkpoint = chain.bootstrap().header.clone();
        let slot = checkpoint.beacon.slot + 3;
        let update = chain
            .sign_head(&checkpoint, slot, payload(1), true)
            .unwrap();
        let err = store
            .process_update(served(&chain, &update, false), slot)
            .unwrap_err();
        assert!(matches!(err, SyncError::Signature { .. }), "{err}");
        assert_eq!(store.optimistic_header(), &checkpoint);
    }

    #[test]
    fn an_anvil_block_becomes_a_payload_header() {
        let block = json!({
            "hash": hex0x(&[1; 32]),
            "parentHash": hex0x(&[2; 32]),
            "miner": hex0x(&[3; 20]),
            "stateRoot": hex0x(&[4; 32]),
            "receiptsRoot": hex0x(&[5; 32]),
            "logsBloom": hex0x(&[0; 256]),
            "mixHash": hex0x(&[6; 32]),
            "number": "0x7",
            "gasLimit": "0x1c9c380",
            "gasUsed": "0x0",
            "timestamp": "0x65",
            "extraData": "0x",
            "baseFeePerGas": "0x3b9aca00",
            "blobGasUsed": "0x0",
            "excessBlobGas": "0x0",
        });
        let payload = payload_of(&block).unwrap();
        assert_eq!(payload.block_hash, B256::repeat_byte(1));
        assert_eq!(payload.block_number, 7);
        assert_eq!(payload.gas_limit, 30_000_000);
        assert_eq!(payload.base_fee_per_gas, U256::from(1_000_000_000u64));
    }
}
