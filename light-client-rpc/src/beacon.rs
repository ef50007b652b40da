//! Consensus sync from beacon endpoints: bootstrap from a trusted checkpoint, period updates in
//! batches (`light_client/updates?start_period=&count=`), then the head through finality and
//! optimistic updates only (never full blocks). SSZ is requested first, JSON is the fallback;
//! several endpoints give failover, and the head updates are fetched from every endpoint and
//! cross-checked, so an endpoint that fails or lies is named in the report and skipped. Every
//! object is verified by `light-client` before it changes the store; the latest verified
//! finalized block root is persisted through a [`CheckpointStore`](crate::CheckpointStore).

use alloy_primitives::B256;
use light_client::types::Kind;
use light_client::{ChainConfig, Store, SyncError, Update, input};

use crate::checkpoint::BoxedCheckpointStore;

/// Updates asked for per request (the beacon API's `MAX_REQUEST_LIGHT_CLIENT_UPDATES`).
pub const MAX_BATCH: u64 = 128;

/// [`Store::process_updates`] with a fresh seed from the operating system's randomness, so the
/// updates' signatures are checked as one batch; one [`Store::process_update`] at a time if the
/// system has no randomness to give. One result per update, in order, either way.
pub fn process_updates(
    store: &mut Store,
    updates: Vec<Update>,
    current_slot: u64,
) -> Vec<Result<(), SyncError>> {
    let mut seed = [0u8; 32];
    match getrandom::getrandom(&mut seed) {
        Ok(()) => store.process_updates(updates, current_slot, &seed),
        Err(_) => updates
            .into_iter()
            .map(|update| store.process_update(update, current_slot))
            .collect(),
    }
}

/// A sync that could not complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BeaconError {
    /// No beacon endpoint was given, or one is not an http(s) URL.
    #[error("beacon endpoints: {0}")]
    Endpoints(String),
    /// Every endpoint served data that failed verification in an earlier round, and is skipped.
    #[error(
        "every beacon endpoint served data that failed verification and is skipped ({}); give \
         one that serves the chain the checkpoint names",
        .liars.join(", ")
    )]
    AllEndpointsSkipped {
        /// The endpoints skipped.
        liars: Vec<String>,
    },
    /// Every endpoint failed or lied during `phase`.
    #[error("{phase}: no beacon endpoint gave verifiable data ({})", faults_text(.faults))]
    AllEndpointsFailed {
        /// The phase: `bootstrap` or `period updates`.
        phase: &'static str,
        /// What each endpoint did wrong.
        faults: Vec<Fault>,
    },
    /// The persisted checkpoint could not be read or written.
    #[error(
        "checkpoint file {path}: {reason}; delete it (the sync then starts again from the \
         configured checkpoint) or keep checkpoints in another file"
    )]
    Checkpoint {
        /// The file.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// The checkpoint kept in the browser's IndexedDB could not be read or written.
    #[error(
        "checkpoint in IndexedDB database {database:?}: {reason}; clear the site's storage to \
         start again from the configured checkpoint"
    )]
    CheckpointDb {
        /// The database name.
        database: String,
        /// What was wrong.
        reason: String,
    },
    /// Verified state could not be advanced (an internal check of the sync protocol).
    #[error("sync: {0}")]
    Sync(#[from] SyncError),
}

fn faults_text(faults: &[Fault]) -> String {
    faults
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Something an endpoint did wrong: unreachable, an HTTP error, undecodable data, or data that
/// failed verification (a lie).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The endpoint's base URL.
    pub endpoint: String,
    /// What was being fetched.
    pub request: String,
    /// Whether the data was decoded but failed a verification check.
    pub lied: bool,
    /// The cause.
    pub reason: String,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.lied { "rejected" } else { "failed" };
        write!(
            f,
            "{} {what} {}: {}",
            self.endpoint, self.request, self.reason
        )
    }
}

/// One beacon endpoint and what it cost.
#[derive(Debug, Clone)]
struct Endpoint {
    url: String,
}

/// What a sync round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Period updates verified and processed.
    pub updates: usize,
    /// `light_client/updates` requests that returned data.
    pub batches: usize,
    /// Finality and optimistic updates verified and processed (from all endpoints).
    pub head_updates: usize,
    /// Endpoints whose finality update finalized the same block as the store afterwards.
    pub agreeing: Vec<String>,
    /// Response bytes downloaded in this round.
    pub bytes: u64,
    /// Faults seen in this round; the endpoints that lied are skipped afterwards.
    pub faults: Vec<Fault>,
}

/// The consensus side of the light client fed from beacon endpoints.
pub struct BeaconSync {
    config: ChainConfig,
    endpoints: Vec<Endpoint>,
    http: reqwest::Client,
    checkpoint: B256,
    batch: u64,
    store: Option<Store>,
    persistence: Option<BoxedCheckpointStore>,
    liars: Vec<String>,
    downloaded: u64,
}

impl std::fmt::Debug for BeaconSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BeaconSync")
            .field("endpoints", &self.endpoints)
            .field("checkpoint", &self.checkpoint)
            .field("batch", &self.batch)
            .field("downloaded", &self.downloaded)
            .finish_non_exhaustive()
    }
}

impl BeaconSync {
    /// A sync of `config`'s chain from the trusted `checkpoint` (a finalized beacon block root
    /// within the weak-subjectivity period) over `endpoints` (base URLs, tried in order).
    pub fn new(
        config: ChainConfig,
        endpoints: &[String],
        checkpoint: B256,
    ) -> Result<Self, BeaconError> {
        if endpoints.is_empty() {
            return Err(BeaconError::Endpoints(
                "give at least one beacon URL".into(),
            ));
        }
        let mut list = Vec::new();
        for url in endpoints {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(BeaconError::Endpoints(format!(
                    "{url:?} is not an http(s) URL"
                )));
            }
            list.push(Endpoint {
                url: url.trim_end_matches('/').to_owned(),
            });
        }
        #[cfg(not(target_arch = "wasm32"))]
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| BeaconError::Endpoints(e.to_string()))?;
        #[cfg(target_arch = "wasm32")]
        let http = reqwest::Client::new();
        Ok(Self {
            config,
            endpoints: list,
            http,
            checkpoint,
            batch: MAX_BATCH,
            store: None,
            persistence: None,
            liars: Vec::new(),
            downloaded: 0,
        })
    }

    /// Asks for `batch` periods per `light_client/updates` request (1 to [`MAX_BATCH`]).
    pub fn with_batch(mut self, batch: u64) -> Self {
        self.batch = batch.clamp(1, MAX_BATCH);
        self
    }

    /// Persists the latest verified checkpoint in `persistence`, and starts from the checkpoint
    /// saved there, if any, instead of the one given to [`BeaconSync::new`] (which then only
    /// anchors the first run).
    pub async fn with_persistence(
        mut self,
        persistence: BoxedCheckpointStore,
    ) -> Result<Self, BeaconError> {
        if let Some(saved) = persistence.load().await? {
            self.checkpoint = saved;
        }
        self.persistence = Some(persistence);
        Ok(self)
    }

    /// The checkpoint the next bootstrap starts from.
    pub fn checkpoint(&self) -> B256 {
        self.checkpoint
    }

    /// The verified store, once bootstrapped.
    pub fn store(&self) -> Option<&Store> {
        self.store.as_ref()
    }

    /// Response bytes downloaded since creation.
    pub fn downloaded(&self) -> u64 {
        self.downloaded
    }

    /// Endpoints that served data failing verification: skipped from then on.
    pub fn liars(&self) -> &[String] {
        &self.liars
    }

    /// One sync round at `current_slot`: bootstraps if needed, catches up period by period in
    /// batches, then follows the head with finality and optimistic updates from every endpoint,
    /// and persists the new finalized checkpoint. Call it again (every few minutes, or each
    /// slot for the optimistic head) to follow the chain; nothing but these small updates is
    /// downloaded while idle.
    pub async fn sync(&mut self, current_slot: u64) -> Result<Progress, BeaconError> {
        if self.honest().is_empty() {
            return Err(BeaconError::AllEndpointsSkipped {
                liars: self.liars.clone(),
            });
        }
        let before = self.downloaded;
        let mut progress = Progress::default();
        if self.store.is_none() {
            self.bootstrap(&mut progress).await?;
        }
        self.period_updates(current_slot, &mut progress).await?;
        self.head(current_slot, &mut progress).await;
        if let Some(store) = &mut self.store {
            store.force_update(current_slot)?;
            let root = store.finalized_header().beacon.root();
            if let Some(persistence) = &self.persistence {
                persistence.save(root).await?;
            }
        }
        progress.bytes = self.downloaded - before;
        Ok(progress)
    }

    fn honest(&self) -> Vec<Endpoint> {
        self.endpoints
            .iter()
            .filter(|e| !self.liars.contains(&e.url))
            .cloned()
            .collect()
    }

    fn lie(&mut self, progress: &mut Progress, endpoint: &str, request: &str, reason: String) {
        if !self.liars.iter().any(|l| l == endpoint) {
            self.liars.push(endpoint.to_owned());
        }
        progress.faults.push(Fault {
            endpoint: endpoint.to_owned(),
            request: request.to_owned(),
            lied: true,
            reason,
        });
    }

    async fn bootstrap(&mut self, progress: &mut Progress) -> Result<(), BeaconError> {
        let path = format!(
            "/eth/v1/beacon/light_client/bootstrap/{:#x}",
            self.checkpoint
        );
        for endpoint in self.honest() {
            let bytes = match self.get(&endpoint, &path).await {
                Ok(bytes) => bytes,
                Err(fault) => {
                    progress.faults.push(fault);
                    continue;
                }
            };
            let verified = input::bootstrap(&bytes, &self.config)
                .map_err(SyncError::from)
                .and_then(|b| Store::bootstrap(self.config.clone(), self.checkpoint, b));
            match verified {
                Ok(store) => {
                    self.store = Some(store);
                    return Ok(());
                }
                Err(e) => self.lie(progress, &endpoint.url, &path, e.to_string()),
            }
        }
        Err(BeaconError::AllEndpointsFailed {
            phase: "bootstrap",
            faults: progress.faults.clone(),
        })
    }

    /// Catches up from the store's period to `current_slot`'s, `batch` periods per request;
    /// an old checkpoint only means more batches.
    async fn period_updates(
        &mut self,
        current_slot: u64,
        progress: &mut Progress,
    ) -> Result<(), BeaconError> {
        let target = self.config.period_at_slot(current_slot);
        let mut endpoints = self.honest().into_iter();
        let mut endpoint = endpoints.next();
        // Each pass either advances the finalized slot, moves to the next endpoint, or ends.
        while let (Some(current), Some(store)) = (&endpoint, &self.store) {
            let start = store.finalized_period() + u64::from(store.is_next_sync_committee_known());
            if start > target {
                return Ok(());
            }
            let count = self.batch.min(target - start + 1);
            let path =
                format!("/eth/v1/beacon/light_client/updates?start_period={start}&count={count}");
            let before = (
                store.finalized_header().beacon.slot,
                store.is_next_sync_committee_known(),
            );
            let current = current.clone();
            let updates = match self.get(&current, &path).await.and_then(|bytes| {
                decode_updates(&bytes, &self.config).map_err(|reason| Fault {
                    endpoint: current.url.clone(),
                    request: path.clone(),
                    lied: false,
                    reason,
                })
            }) {
                Ok(updates) => updates,
                Err(fault) => {
                    progress.faults.push(fault);
                    endpoint = endpoints.next();
                    continue;
                }
            };
            progress.batches += 1;
            let received = updates.len() as u64;
            let mut lied = None;
            if let Some(store) = &mut self.store {
                for result in process_updates(store, updates, current_slot) {
                    match result {
                        Ok(()) => progress.updates += 1,
                        Err(SyncError::NotRelevant { .. }) => {}
                        Err(e) => {
                            lied.get_or_insert(e.to_string());
                        }
                    }
                }
            }
            if let Some(reason) = lied {
                self.lie(progress, &current.url, &path, reason);
                endpoint = endpoints.next();
                continue;
            }
            let after = self.store.as_ref().map(|store| {
                (
                    store.finalized_header().beacon.slot,
                    store.is_next_sync_committee_known(),
                )
            });
            if received < count || after == Some(before) {
                return Ok(());
            }
        }
        if self.store.is_some() && progress.batches == 0 {
            return Err(BeaconError::AllEndpointsFailed {
                phase: "period updates",
                faults: progress.faults.clone(),
            });
        }
        Ok(())
    }

    /// Finality and optimistic updates from every endpoint, each verified (their signatures as
    /// one batch): the store keeps the best; an endpoint whose update fails verification is a
    /// liar. Endpoints without one are only reported.
    async fn head(&mut self, current_slot: u64, progress: &mut Progress) {
        let mut fetched = Vec::new();
        for (kind, path) in [
            (
                Kind::Finality,
                "/eth/v1/beacon/light_client/finality_update",
            ),
            (
                Kind::Optimistic,
                "/eth/v1/beacon/light_client/optimistic_update",
            ),
        ] {
            for endpoint in self.honest() {
                match self.get(&endpoint, path).await.and_then(|bytes| {
                    input::single(&bytes, kind, &self.config).map_err(|e| Fault {
                        endpoint: endpoint.url.clone(),
                        request: path.to_owned(),
                        lied: false,
                        reason: e.to_string(),
                    })
                }) {
                    Ok(update) => fetched.push((kind, path, endpoint.url, update)),
                    Err(fault) => progress.faults.push(fault),
                }
            }
        }
        let Some(store) = &mut self.store else { return };
        let (sources, updates): (Vec<_>, Vec<_>) = fetched
            .into_iter()
            .map(|(kind, path, url, update)| {
                let root = update.finalized_header.beacon.root();
                ((kind, path, url, root), update)
            })
            .unzip();
        let results = process_updates(store, updates, current_slot);
        let mut finalized = Vec::new();
        for ((kind, path, url, root), result) in sources.into_iter().zip(results) {
            let verified = match result {
                Ok(()) => {
                    progress.head_updates += 1;
                    true
                }
                Err(SyncError::NotRelevant { .. }) => true,
                Err(e) => {
                    self.lie(progress, &url, path, e.to_string());
                    false
                }
            };
            if verified && kind == Kind::Finality {
                finalized.push((url, root));
            }
        }
        if let Some(store) = &self.store {
            let head = store.finalized_header().beacon.root();
            progress.agreeing = finalized
                .into_iter()
                .filter(|(_, root)| *root == head)
                .map(|(url, _)| url)
                .collect();
        }
    }

    /// GET `path`, asking for SSZ and falling back to JSON if the endpoint refuses it.
    async fn get(&mut self, endpoint: &Endpoint, path: &str) -> Result<Vec<u8>, Fault> {
        let fault = |reason: String| Fault {
            endpoint: endpoint.url.clone(),
            request: path.to_owned(),
            lied: false,
            reason,
        };
        let url = format!("{}{path}", endpoint.url);
        let mut last = String::new();
        for accept in ["application/octet-stream", "application/json"] {
            let response = self
                .http
                .get(&url)
                .header("accept", accept)
                .send()
                .await
                .map_err(|e| fault(format!("unreachable: {}", causes(&e))))?;
            let status = response.status();
            let body = response
                .bytes()
                .await
                .map_err(|e| fault(format!("reading the body: {e}")))?;
            self.downloaded += body.len() as u64;
            if status.is_success() {
                return Ok(body.to_vec());
            }
            last = format!("HTTP {status}");
            // Only a refusal of the encoding is worth asking again in JSON.
            if !matches!(status.as_u16(), 400 | 406 | 415) {
                break;
            }
        }
        Err(fault(last))
    }
}

/// An error and its sources, outermost first ("error sending request: ...: invalid peer
/// certificate: UnknownIssuer"): reqwest's own message alone does not say what failed.
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

/// Decodes a `light_client/updates` body (framed SSZ or JSON); an empty body is no updates.
fn decode_updates(bytes: &[u8], config: &ChainConfig) -> Result<Vec<light_client::Update>, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    input::updates(bytes, config).map_err(|e| e.to_string())
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails loudly")]

    use super::*;

    #[test]
    fn endpoints_must_be_http_urls() {
        let config = ChainConfig::mainnet();
        assert!(matches!(
            BeaconSync::new(config.clone(), &[], B256::ZERO),
            Err(BeaconError::Endpoints(_))
        ));
        let err = BeaconSync::new(config.clone(), &["ftp://x".into()], B256::ZERO).unwrap_err();
        assert!(err.to_string().contains("not an http(s) URL"), "{err}");
        let sync = BeaconSync::new(config, &["http://127.0.0.1:1/".into()], B256::ZERO)
            .unwrap()
            .with_batch(0);
        assert_eq!(sync.batch, 1);
        assert_eq!(sync.endpoints[0].url, "http://127.0.0.1:1");
    }

    #[test]
    fn an_empty_updates_body_is_no_updates_and_garbage_is_an_error() {
        let config = ChainConfig::mainnet();
        assert!(decode_updates(b"", &config).unwrap().is_empty());
        assert!(decode_updates(b"[]", &config).unwrap().is_empty());
        assert!(decode_updates(b"\x01\x02\x03", &config).is_err());
    }
}
