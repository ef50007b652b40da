//! The buyer's side of the storage market over a running node: find providers (the LAN, the
//! DHT, gossiped offers and, with a market, the chain's Registry), store a file on several of
//! them (each copy under its own paid deal when a market is given), fetch an object back from
//! any holder, and keep a catalog of what was stored.
//!
//! A shell (the `cairn storage` CLI) starts a client [`crate::Node`], calls [`put`] or [`get`]
//! and shows progress from the node's [`Event::Progress`] events; nothing here prints.
//!
//! Redundancy is kept with [`replace`]: a copy whose provider missed a proof is bought again from
//! a provider that holds none, which fetches it verified from the other holders itself (or is
//! sent it from the file it was stored from, or from a copy fetched back), and the failing deal
//! is ended; a copy whose deal is ending is bought again from its provider once it
//! serves a few chunks picked at random (the upload sends nothing: it holds every chunk), or
//! elsewhere if it does not. Deciding *when* is the caller's: the runtime does it as soon as the
//! chain resolves a period missed, or shortly before a deal ends.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy::primitives::utils::format_ether;
use tokio::sync::broadcast;

use crate::content::Manifest;
use crate::market::{self, EndedDeal, MarketError};
use crate::transfer::{self, CopyReport, Fallback, GetReport, PutReport, Source};
use crate::wire::{self, Holder};
use crate::{Client, ContentId, Event, Handle, NodeError, PeerId, TransferError};

/// How long [`put`] and [`get`] look for providers before working with what they found.
pub const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long [`put`] keeps looking for spare providers (to replace a failing one) once it has
/// enough for the copies asked.
pub const SPARE_GRACE: Duration = Duration::from_secs(2);
/// The catalog's file name in its directory.
pub const CATALOG_FILE: &str = "catalog.json";
/// Chunks a renewal fetches from the copy's provider, picked at random and verified, before it
/// pays it again (2 MiB; its proofs on chain already show it holds the bytes).
pub const RENEWAL_SAMPLES: u64 = 8;
/// The copies replaced (or renewed) a catalog entry remembers, the latest ones: a file renewed
/// every day for years keeps a bounded entry.
pub const REPLACED_KEPT: usize = 32;

/// Why storing or fetching failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuyerError {
    /// Zero copies were asked for.
    #[error("copies must be at least 1")]
    NoCopies,
    /// No provider was found in time.
    #[error(
        "no storage provider found within {waited:?} (LAN, DHT and, with a market, the chain's \
         Registry){}",
        dials_failed(dial_failures)
    )]
    NoProviders {
        /// How long discovery waited.
        waited: Duration,
        /// Dials that failed meanwhile (a wrong address, a refused certificate).
        dial_failures: Vec<String>,
    },
    /// Fewer copies were stored than asked; those made are kept (under their deals) and in the
    /// catalog.
    #[error("stored {stored} of {wanted} copies of {id}: {why}")]
    NotEnoughCopies {
        /// Copies asked for.
        wanted: usize,
        /// Copies made.
        stored: usize,
        /// The object.
        id: ContentId,
        /// The providers that hold the copies made.
        holders: Vec<String>,
        /// What went wrong with the others.
        why: String,
    },
    /// A transfer failed.
    #[error(transparent)]
    Transfer(#[from] TransferError),
    /// The chain refused or could not be reached.
    #[error(transparent)]
    Market(#[from] MarketError),
    /// The node stopped.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The catalog does not parse.
    #[error("{path} is not a valid catalog ({reason}); move it away to start a new one")]
    CatalogMalformed {
        /// The catalog file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// The object is not in the catalog, or the deal is not one of its copies'.
    #[error("{id} has no copy under deal {deal} in the catalog; nothing to replace")]
    NotACopy {
        /// The object.
        id: ContentId,
        /// The deal named.
        deal: u64,
    },
    /// No provider that holds no copy yet could take one.
    #[error("no provider could take another copy of {id}: {why}")]
    NoSpareProvider {
        /// The object.
        id: ContentId,
        /// What was found or went wrong.
        why: String,
    },
    /// The catalog could not be read or written.
    #[error("cannot use the catalog {path}: {source}")]
    CatalogIo {
        /// The file involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

fn dials_failed(failures: &[String]) -> String {
    if failures.is_empty() {
        String::new()
    } else {
        format!(". Dials that failed: {}", failures.join("; "))
    }
}

/// One object the buyer stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CatalogEntry {
    /// The content id.
    pub id: ContentId,
    /// The file's name when it was stored.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// The providers holding a copy (peer ids).
    pub holders: Vec<String>,
    /// The deals the copies were bought under, on a market (none for free providers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deals: Vec<BoughtCopy>,
    /// Copies replaced (by [`replace`]) because their provider missed a proof, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaced: Vec<ReplacedCopy>,
    /// Until when (Unix seconds) the buyer keeps it: its copies are not bought again for later
    /// than that. `None`: while it is in the catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_until: Option<u64>,
    /// The file it was stored from, on this host (absolute), when the shell keeps it there: a
    /// copy to replace is sent from it, if it still holds the same bytes, instead of fetched
    /// back from the network first. `None` for a file the shell was sent and deleted after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<PathBuf>,
}

/// A copy given up for another.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReplacedCopy {
    /// The copy given up (its deal ended, or ending).
    pub copy: BoughtCopy,
    /// The copy bought in its place.
    pub by: BoughtCopy,
    /// When (Unix seconds).
    pub at: u64,
    /// Bought again from the same provider (its deal was ending); otherwise moved to another
    /// provider (its provider missed a proof, or did not serve the file).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub renewed: bool,
    /// The new provider fetched the copy from the other holders itself: nothing was sent from
    /// this node.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pulled: bool,
}

/// Why [`replace`] buys a copy again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// Its provider missed a proof: bought from a provider holding none, the deal ended.
    MissedProof,
    /// Its deal is ending: bought again from the same provider if it serves the file (the
    /// upload then sends nothing), else from one holding none.
    Ending,
}

/// A copy bought under a deal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BoughtCopy {
    /// The deal.
    pub deal: u64,
    /// The provider holding the copy (peer id).
    pub peer: String,
    /// When the deal stops being paid (Unix seconds): the provider need not keep the copy
    /// after that.
    pub paid_until: u64,
}

impl CatalogEntry {
    /// When the first of its deals stops being paid, if it was bought on a market.
    pub fn paid_until(&self) -> Option<u64> {
        self.deals.iter().map(|copy| copy.paid_until).min()
    }

    /// Adds the copies of `later` (the same object stored again) to its own, under `later`'s
    /// name.
    fn absorb(&mut self, later: CatalogEntry) {
        for holder in later.holders {
            if !self.holders.contains(&holder) {
                self.holders.push(holder);
            }
        }
        for copy in later.deals {
            if !self.deals.iter().any(|known| known.deal == copy.deal) {
                self.deals.push(copy);
            }
        }
        self.name = later.name;
        self.size = later.size;
        self.keep_until = later.keep_until;
        if later.original.is_some() {
            self.original = later.original;
        }
    }

    /// Puts `by` in the place of the copy under deal `deal` (which must be one of its deals),
    /// and keeps the change in [`CatalogEntry::replaced`].
    fn swap_copy(&mut self, deal: u64, by: BoughtCopy, at: u64, pulled: bool) {
        let Some(index) = self.deals.iter().position(|copy| copy.deal == deal) else {
            return;
        };
        let copy = self.deals.remove(index);
        let by_same = by.peer == copy.peer;
        // The provider stays a holder if it holds the object under another deal too.
        if !self.deals.iter().any(|other| other.peer == copy.peer) {
            self.holders.retain(|holder| *holder != copy.peer);
        }
        if !self.holders.contains(&by.peer) {
            self.holders.push(by.peer.clone());
        }
        self.deals.push(by.clone());
        self.replaced.push(ReplacedCopy {
            copy,
            by,
            at,
            renewed: by_same,
            pulled,
        });
        let over = self.replaced.len().saturating_sub(REPLACED_KEPT);
        self.replaced.drain(..over);
    }
}

/// What the buyer stored, kept in `catalog.json` in a directory (replaced atomically): [`get`]
/// asks its holders first.
///
/// Every change reads, changes and writes the file under an exclusive lock on `catalog.lock`
/// beside it (advisory, `flock` on Unix), so two writers never lose each other's changes: the
/// daemon's upkeep buying a copy again while a file is stored, in one process or two (the
/// daemon and `cairn storage`, on the same data directory).
#[derive(Debug, Clone)]
pub struct Catalog {
    path: PathBuf,
}

impl Catalog {
    /// The catalog in `dir` (a missing file is an empty catalog).
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            path: dir.join(CATALOG_FILE),
        }
    }

    /// Its entries, by content id.
    pub fn entries(&self) -> Result<BTreeMap<String, CatalogEntry>, BuyerError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|err| BuyerError::CatalogMalformed {
                    path: self.path.clone(),
                    reason: err.to_string(),
                })
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(source) => Err(BuyerError::CatalogIo {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// Adds or replaces `entry`: the file is written beside, fsynced, then renamed over.
    pub fn record(&self, entry: CatalogEntry) -> Result<(), BuyerError> {
        self.update(|entries| {
            entries.insert(entry.id.to_string(), entry);
            ((), true)
        })
    }

    /// Removes `id`'s entry, as [`Catalog::record`] writes; returns it (`None`: not there,
    /// nothing written).
    pub fn remove(&self, id: &ContentId) -> Result<Option<CatalogEntry>, BuyerError> {
        self.update(|entries| {
            let removed = entries.remove(&id.to_string());
            let changed = removed.is_some();
            (removed, changed)
        })
    }

    /// Reads the entries, applies `change` and writes them back if it says they changed, all
    /// under the catalog's lock.
    fn update<T>(
        &self,
        change: impl FnOnce(&mut BTreeMap<String, CatalogEntry>) -> (T, bool),
    ) -> Result<T, BuyerError> {
        let _locked = self.lock()?;
        let mut entries = self.entries()?;
        let (out, changed) = change(&mut entries);
        if changed {
            self.write(&entries)?;
        }
        Ok(out)
    }

    /// Waits for the catalog's exclusive lock; held until the file returned is dropped.
    fn lock(&self) -> Result<std::fs::File, BuyerError> {
        let path = self.path.with_extension("lock");
        let io = |source| BuyerError::CatalogIo {
            path: path.clone(),
            source,
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| BuyerError::CatalogIo {
                path: dir.to_owned(),
                source,
            })?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        file.lock().map_err(io)?;
        Ok(file)
    }

    fn write(&self, entries: &BTreeMap<String, CatalogEntry>) -> Result<(), BuyerError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| BuyerError::CatalogIo { path, source }
        };
        let text =
            serde_json::to_vec_pretty(entries).map_err(|err| BuyerError::CatalogMalformed {
                path: self.path.clone(),
                reason: err.to_string(),
            })?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let mut file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        file.write_all(&text).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &self.path).map_err(io(&self.path))
    }
}

/// Dial failures a client node has seen, for the error shown when no provider is found.
#[derive(Debug, Clone, Default)]
pub struct DialFailures(Arc<Mutex<Vec<String>>>);

impl DialFailures {
    /// Collects the dial failures among `events` (give the node's first receiver, so none is
    /// missed) from a task of its own, until the node stops.
    pub fn collect(mut events: broadcast::Receiver<Event>) -> Self {
        let failures = Self::default();
        let log = failures.clone();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(Event::DialFailed { error, .. }) => {
                        if let Ok(mut log) = log.0.lock() {
                            log.push(error);
                        }
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        failures
    }

    fn seen(&self) -> Vec<String> {
        self.0.lock().map(|log| log.clone()).unwrap_or_default()
    }
}

/// Waits until `want` providers are known, or `need` of them and [`SPARE_GRACE`] has passed,
/// or [`DISCOVERY_TIMEOUT`] has passed; returns those known.
pub async fn discover(handle: &Handle, need: usize, want: usize) -> Result<Vec<PeerId>, NodeError> {
    let start = tokio::time::Instant::now();
    loop {
        let found: Vec<PeerId> = handle
            .providers()
            .await?
            .into_iter()
            .map(|p| p.peer)
            .collect();
        let waited = start.elapsed();
        if found.len() >= want
            || (found.len() >= need && waited >= SPARE_GRACE)
            || waited >= DISCOVERY_TIMEOUT
        {
            return Ok(found);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The addresses of the providers `listed` in the Registry, but for `me`'s own: a node that
/// sells too is listed itself, and is no provider to buy from.
fn addrs_to_dial(listed: Vec<market::ListedProvider>, me: PeerId) -> Vec<crate::Multiaddr> {
    listed
        .into_iter()
        .filter(|provider| provider.peer != me)
        .flat_map(|provider| provider.addrs)
        .collect()
}

/// Dials every provider listed in the chain's Registry (providers selling on chain announce
/// their addresses there) but the node itself, each from a task of its own: the providers
/// found are waited for after, and an address that does not answer must not hold up the
/// others.
async fn dial_listed(handle: &Handle, market: &market::Buyer) -> Result<(), BuyerError> {
    let listed = market.listed_providers(0).await?;
    tracing::info!(providers = listed.len(), "providers listed in the Registry");
    for addr in addrs_to_dial(listed, handle.peer_id()) {
        let handle = handle.clone();
        tokio::spawn(async move {
            if let Err(e) = handle.dial(addr.clone()).await {
                tracing::debug!(%addr, error = %e, "cannot dial a listed provider");
            }
        });
    }
    Ok(())
}

/// An upload that failed after its deal was paid, and the deal ended for it.
#[derive(Debug, serde::Serialize)]
pub struct EndedUpload {
    /// The provider.
    pub peer: String,
    /// Why the upload failed.
    pub reason: String,
    /// The ended deal and its refund.
    #[serde(flatten)]
    pub deal: EndedDeal,
}

/// What [`put`] stored, and the deals it ended for uploads that failed once paid.
#[derive(Debug)]
pub struct Stored {
    /// The object and its copies.
    pub report: PutReport,
    /// What the catalog now says of it.
    pub entry: CatalogEntry,
    /// Deals ended early (their refunds owed to the buyer).
    pub ended: Vec<EndedUpload>,
}

/// How [`put`] keeps a file.
#[derive(Debug, Clone, Copy)]
pub struct Keep {
    /// Copies, on as many providers.
    pub copies: usize,
    /// Until when (Unix seconds; `None`: while listed; a file stored again takes the new date).
    pub until: Option<u64>,
    /// Whether the file stays where it is, so a lost copy can be sent from it again
    /// ([`CatalogEntry::original`]); `false` for a file the shell deletes once stored.
    pub original: bool,
}

/// Stores `file` as `keep` says, on distinct providers, and records it in `catalog`.
/// With `market`,
/// the providers listed in the chain's Registry are dialled too, and each copy is stored under
/// its own deal: the provider's signed quote, a deal opened and paid on chain, then the upload
/// (resumed once if interrupted, sending only missing chunks); a deal whose upload fails is
/// ended, so the periods not yet started are refunded. Fewer copies than asked is
/// [`BuyerError::NotEnoughCopies`], with the copies made kept and recorded.
pub async fn put(
    handle: &Handle,
    catalog: &Catalog,
    file: &Path,
    keep: Keep,
    market: Option<&market::Buyer>,
    dials: &DialFailures,
) -> Result<Stored, BuyerError> {
    let Keep {
        copies,
        until: keep_until,
        original,
    } = keep;
    let original = original.then(|| original_path(file)).flatten();
    if copies == 0 {
        return Err(BuyerError::NoCopies);
    }
    if let Some(market) = market {
        dial_listed(handle, market).await?;
    }
    // Ask for a few more than needed so a failing provider can be replaced.
    let providers = discover(handle, copies, copies + 1).await?;
    if providers.is_empty() {
        return Err(BuyerError::NoProviders {
            waited: DISCOVERY_TIMEOUT,
            dial_failures: dials.seen(),
        });
    }
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // The copies made are recorded, also when fewer than asked: they are paid for and kept.
    let record = |id: ContentId, size: u64, copies: &[CopyReport], holders: &[String]| {
        let entry = CatalogEntry {
            id,
            name: name.clone(),
            size,
            holders: holders.to_vec(),
            deals: copies
                .iter()
                .filter_map(|copy| {
                    Some(BoughtCopy {
                        deal: copy.deal?,
                        peer: copy.peer.to_string(),
                        paid_until: copy.paid_until?,
                    })
                })
                .collect(),
            replaced: Vec::new(),
            keep_until,
            original: original.clone(),
        };
        if holders.is_empty() {
            return Ok(entry);
        }
        // Stored before: the copies bought then are still there, and still paid.
        catalog.update(|entries| {
            let entry = match entries.remove(&id.to_string()) {
                Some(mut before) => {
                    before.absorb(entry);
                    before
                }
                None => entry,
            };
            entries.insert(id.to_string(), entry.clone());
            (entry, true)
        })
    };
    match market {
        Some(market) => {
            let (manifest, commitment) = digest(file).await?;
            let object = (&manifest, &commitment, Source::File(file));
            let (report, ended, failures) =
                put_with_deals(handle, market, object, copies, providers).await?;
            let holders: Vec<String> = report.copies.iter().map(|c| c.peer.to_string()).collect();
            let entry = record(report.id, report.size, &report.copies, &holders)?;
            if report.copies.len() < copies {
                return Err(BuyerError::NotEnoughCopies {
                    wanted: copies,
                    stored: report.copies.len(),
                    id: report.id,
                    holders,
                    why: if failures.is_empty() {
                        "no other provider was found".to_owned()
                    } else {
                        format!("failures: {}", failures.join("; "))
                    },
                });
            }
            Ok(Stored {
                report,
                entry,
                ended,
            })
        }
        None => match Client::new(handle.clone())
            .put_file(file, copies, providers)
            .await
        {
            Ok(report) => {
                let holders: Vec<String> =
                    report.copies.iter().map(|c| c.peer.to_string()).collect();
                let entry = record(report.id, report.size, &report.copies, &holders)?;
                Ok(Stored {
                    report,
                    entry,
                    ended: Vec::new(),
                })
            }
            Err(TransferError::NotEnoughCopies {
                stored,
                id,
                holders,
                tried,
                last,
                ..
            }) => {
                let holders: Vec<String> = holders.iter().map(ToString::to_string).collect();
                let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
                record(id, size, &[], &holders)?;
                Err(BuyerError::NotEnoughCopies {
                    wanted: copies,
                    stored,
                    id,
                    holders,
                    why: format!("{tried} providers tried, last error: {last}"),
                })
            }
            Err(e) => Err(e.into()),
        },
    }
}

/// What `read` makes of `file`, read off the async threads; `phase` names the read in an error.
async fn read_off_thread<T: Send + 'static>(
    file: &Path,
    phase: &'static str,
    read: fn(&Path) -> Result<T, TransferError>,
) -> Result<T, BuyerError> {
    let path = file.to_owned();
    Ok(tokio::task::spawn_blocking(move || read(&path))
        .await
        .map_err(|err| TransferError::File {
            phase,
            path: file.to_owned(),
            source: std::io::Error::other(err),
        })??)
}

/// The manifest of `file` (BLAKE3 only, no proof commitment), read off the async threads.
async fn manifest_of(file: &Path) -> Result<Manifest, BuyerError> {
    read_off_thread(file, "read", transfer::manifest_of_file).await
}

/// The proof commitment `deal` was opened for, which must be for `manifest`'s size: the same
/// bytes bought again need no new commitment (a keccak pass over them).
async fn deal_commitment(
    market: &market::Buyer,
    deal: u64,
    manifest: &Manifest,
) -> Result<chain::proof::Commitment, BuyerError> {
    let commitment = market.commitment(deal).await?;
    if commitment.size != manifest.size() {
        return Err(BuyerError::NoSpareProvider {
            id: manifest.id(),
            why: format!(
                "deal {deal} is for {} bytes, the object has {}",
                commitment.size,
                manifest.size()
            ),
        });
    }
    Ok(commitment)
}

/// The manifest and the proof commitment of `file`, read off the async threads.
async fn digest(file: &Path) -> Result<(Manifest, chain::proof::Commitment), BuyerError> {
    read_off_thread(file, "digest", transfer::digest_file).await
}

/// Stores `copies` copies of `object` (its manifest, its commitment and where its chunks are),
/// each under its own deal: quote, open and pay the deal, upload. Returns what was stored (maybe
/// fewer than asked), the deals ended for failed uploads, and each provider's failure.
async fn put_with_deals(
    handle: &Handle,
    market: &market::Buyer,
    (manifest, commitment, source): (&Manifest, &chain::proof::Commitment, Source<'_>),
    copies: usize,
    providers: Vec<PeerId>,
) -> Result<(PutReport, Vec<EndedUpload>, Vec<String>), BuyerError> {
    let client = Client::new(handle.clone());
    let mut done = Vec::new();
    let mut failures = Vec::new();
    let mut ended = Vec::new();
    for peer in providers {
        if done.len() == copies {
            break;
        }
        let opened = async {
            let terms = client
                .quote(peer, market.address().into_array(), commitment)
                .await?;
            let deal = market.open_deal(&terms, commitment).await?;
            Ok::<_, TransferError>((deal, terms))
        };
        let (deal, terms) = match opened.await {
            Ok(opened) => opened,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "no deal with this provider");
                failures.push(format!("{peer}: {e}"));
                continue;
            }
        };
        tracing::info!(%peer, deal, "deal opened");
        // An interrupted upload resumes once under the same deal, sending only missing chunks.
        let mut result = client.put_from(peer, source, manifest, deal).await;
        for _ in 1..transfer::ATTEMPTS_PER_PROVIDER {
            match &result {
                Err(TransferError::Stream { .. } | TransferError::Timeout { .. }) => {
                    tracing::info!(%peer, deal, "upload interrupted; resuming");
                    result = client.put_from(peer, source, manifest, deal).await;
                }
                _ => break,
            }
        }
        let e = match result {
            Ok(copy) => {
                // The deal's own end; should the chain not say, the quote's terms from now.
                let paid_until = match market.paid_until(deal).await {
                    Ok(end) => end,
                    Err(e) => {
                        tracing::warn!(deal, error = %e, "cannot read the deal's end; estimated");
                        unix_now() + u64::from(terms.num_periods) * u64::from(terms.period_duration)
                    }
                };
                done.push(CopyReport {
                    deal: Some(deal),
                    paid_until: Some(paid_until),
                    ..copy
                });
                continue;
            }
            Err(e) => e,
        };
        // Paid for but not stored: end the deal so the periods not yet started come back, and
        // move on to the next provider.
        tracing::warn!(%peer, deal, error = %e, "upload failed; ending the deal");
        match market.end_deal(deal).await {
            Ok(end) => {
                failures.push(format!(
                    "{peer}: {e} (deal {deal} ended early, {} tokens refunded)",
                    format_ether(end.refund)
                ));
                ended.push(EndedUpload {
                    peer: peer.to_string(),
                    reason: e.to_string(),
                    deal: end,
                });
            }
            Err(end_err) => failures.push(format!(
                "{peer}: {e}; ending its deal {deal} failed too ({end_err}): the provider will \
                 miss its proofs, and `reportMissed` refunds each missed period"
            )),
        }
        // The next provider would read the same changed file: no more deals for it.
        if matches!(e, TransferError::FileChanged { .. }) {
            return Err(e.into());
        }
    }
    let report = PutReport {
        id: manifest.id(),
        size: manifest.size(),
        copies: done,
    };
    Ok((report, ended, failures))
}

/// A copy replaced by [`replace`].
#[derive(Debug)]
pub struct Replacement {
    /// What the catalog now says of the object.
    pub entry: CatalogEntry,
    /// The copy bought in place of the failing one.
    pub by: BoughtCopy,
    /// The failing deal, ended (its periods not yet started refunded); `None` if it could not
    /// be ended (it was over already, or the chain refused: said in the log), or was renewed.
    pub ended: Option<EndedDeal>,
    /// Bytes of the object fetched back, verified: a few chunks for a renewal its provider
    /// served ([`RENEWAL_SAMPLES`]), none when the new provider pulled it or it was sent from
    /// the original file, else the whole object.
    pub fetched: u64,
    /// Whether the copy was sent from the file the object was stored from
    /// ([`CatalogEntry::original`]).
    pub from_original: bool,
    /// Chunks the new provider fetched from the other holders itself, none of them sent by
    /// this node.
    pub pulled_chunks: u64,
}

/// Buys the copy of `id` bought under `deal` again, for `why`, and records the swap in
/// `catalog`. Nothing changes in the catalog unless the new copy is stored.
/// - [`Why::Ending`]: the copy's provider is paid again once it serves [`RENEWAL_SAMPLES`]
///   chunks picked at random, each verified: a deal for the commitment the old one was opened
///   for, and an upload that sends nothing (the provider holds every chunk, and checks its bytes
///   against the new deal's root before it confirms). The old deal runs to its end.
/// - Otherwise, and when that fails, the copy is bought from a provider that holds none yet,
///   and the failing deal is ended (its periods not yet started, if any, are refunded). While
///   other providers hold the object, the new provider fetches it from them itself (the
///   failing one last), every chunk verified, and this node sends nothing
///   ([`Source::Pull`]): a phone's uplink is spared. Should none of them serve it, the chunks
///   still missing are sent under the same deal (a failed pull costs no deal): from the file
///   the object was stored from ([`CatalogEntry::original`]), or, with none or one changed
///   since, from the object fetched from those holders by this node, every chunk verified,
///   into `scratch` (a directory; the file is removed after). With the original to fall back
///   on, a copy with no other holder is pulled from the failing provider itself.
/// - With no other holder (and no original to pull with): the copy is sent from the original
///   if that still holds the object (same size and content id, read once), and else the object
///   is fetched, every chunk verified, into `scratch`: for [`Why::MissedProof`] from the other
///   holders (the failing one last), for [`Why::Ending`] from the copy's provider first (bought
///   from it again if it served the file). With the original, a file whose only copy was lost
///   is stored again.
pub async fn replace(
    handle: &Handle,
    catalog: &Catalog,
    market: &market::Buyer,
    (id, deal): (ContentId, u64),
    why: Why,
    scratch: &Path,
) -> Result<Replacement, BuyerError> {
    let not_a_copy = || BuyerError::NotACopy { id, deal };
    let entry = catalog
        .entries()?
        .remove(&id.to_string())
        .ok_or_else(not_a_copy)?;
    let failing = entry
        .deals
        .iter()
        .find(|copy| copy.deal == deal)
        .ok_or_else(not_a_copy)?
        .peer
        .clone();
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| TransferError::File {
            phase: "prepare the replacement copy in",
            path,
            source,
        }
    };
    std::fs::create_dir_all(scratch).map_err(io(scratch))?;
    let object = scratch.join(id.to_string());
    let result = replace_from(
        handle,
        catalog,
        market,
        entry,
        (deal, &failing),
        why,
        &object,
    )
    .await;
    if let Err(err) = std::fs::remove_file(&object)
        && err.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %object.display(), %err, "cannot remove the replacement's copy");
    }
    result
}

async fn replace_from(
    handle: &Handle,
    catalog: &Catalog,
    market: &market::Buyer,
    entry: CatalogEntry,
    (deal, own): (u64, &str),
    why: Why,
    object: &Path,
) -> Result<Replacement, BuyerError> {
    let id = entry.id;
    let own_peer: Option<PeerId> = own.parse().ok();
    if let (Why::Ending, Some(peer)) = (why, own_peer) {
        match renew_in_place(handle, market, (id, deal), peer).await {
            Ok((copy, fetched)) => {
                let by = bought(&copy);
                let entry = record_swap(catalog, market, (id, deal), &by, false).await?;
                return Ok(Replacement {
                    entry,
                    by,
                    ended: None,
                    fetched,
                    from_original: false,
                    pulled_chunks: 0,
                });
            }
            Err(err) => {
                tracing::info!(%id, deal, %peer, %err, "cannot renew the copy in place; buying it elsewhere");
            }
        }
    }
    let others: Vec<PeerId> = entry
        .holders
        .iter()
        .filter(|holder| *holder != own)
        .filter_map(|holder| holder.parse().ok())
        .collect();
    // The providers to buy from, found before anything is read or fetched: a try with none
    // reads and fetches nothing (the runtime tries again later). A renewal may still buy from
    // its own provider, if that serves the whole file below.
    let may_renew = why == Why::Ending && own_peer.is_some();
    let spares = match spares_for(handle, market, &entry, may_renew).await {
        Ok(spares) => spares,
        Err(BuyerError::NoSpareProvider { .. }) if may_renew => Vec::new(),
        Err(err) => return Err(err),
    };
    // The file it was stored from, if it may still hold the object: it is there, with the
    // object's size. Not hashed yet: a pull needs it only should the holders fail, and each
    // chunk sent from it is checked then (a 2 GiB video is not read for a copy pulled).
    let maybe_original = entry
        .original
        .as_deref()
        .filter(|path| std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == entry.size));
    // Other holders serve it: the new provider pulls the copy from them (the failing one last),
    // and nothing is sent from here. Should none of them serve it, the rest is sent, under the
    // same deal, from the original, or from the object fetched back (when there is no
    // original, or it changed). With the original to fall back on, a copy with no other holder
    // is pulled from the failing one, which may still serve it (a proof missed while it was
    // offline). A pull that fails has tried every spare provider with every source: the
    // runtime tries again later.
    let sources: Vec<PeerId> = others.iter().copied().chain(own_peer).collect();
    let may_pull = !others.is_empty() || (maybe_original.is_some() && !sources.is_empty());
    if may_pull && !spares.is_empty() {
        let or_else = Fallback {
            file: maybe_original,
            fetch_to: Some(object),
        };
        let copy = pull_copy(handle, market, (&entry, deal), &sources, or_else, spares).await?;
        let from_original = copy.sent_chunks > 0 && copy.fetched_bytes == 0;
        let (fetched, pulled_chunks) = (copy.fetched_bytes, copy.pulled_chunks);
        return settle(catalog, market, (id, deal, own), &copy)
            .await
            .map(|(entry, by, ended)| Replacement {
                entry,
                by,
                ended,
                fetched,
                from_original,
                pulled_chunks,
            });
    }
    // The file it was stored from, hashed, if it still holds the object.
    let original = match &entry.original {
        Some(path) => original_of(path, &entry)
            .await
            .map(|manifest| (path.clone(), manifest)),
        None => None,
    };
    // A missed proof: the healthy holders first (the failing one may be back, and is better than
    // nothing). A renewal: its own provider first, which is paid again only if it serves.
    let sources: Vec<PeerId> = match why {
        Why::MissedProof => others.into_iter().chain(own_peer).collect(),
        Why::Ending => own_peer.into_iter().chain(others).collect(),
    };
    // Sent from the original, nothing fetched; otherwise fetched back, every chunk verified.
    let from_original = original.is_some();
    let (object, manifest, fetched, own_served) = match original {
        Some((path, manifest)) => (path, manifest, 0, false),
        None => {
            let fetched = fetch_to(handle, id, None, object, sources).await?;
            let own_served = own_peer.is_some_and(|peer| fetched.served_by.contains(&peer));
            (
                object.to_owned(),
                fetched.manifest,
                fetched.bytes,
                own_served,
            )
        }
    };
    // A renewal's own provider, once it served the file, first.
    let renew_with = match (why, own_peer) {
        (Why::Ending, Some(peer)) if own_served => Some(peer),
        _ => None,
    };
    let spares: Vec<PeerId> = renew_with.into_iter().chain(spares).collect();
    if spares.is_empty() {
        return Err(no_spare(&entry));
    }
    let commitment = deal_commitment(market, deal, &manifest).await?;
    let (report, _ended, failures) = put_with_deals(
        handle,
        market,
        (&manifest, &commitment, Source::File(&object)),
        1,
        spares,
    )
    .await?;
    let Some(copy) = report.copies.first() else {
        return Err(BuyerError::NoSpareProvider {
            id,
            why: failures.join("; "),
        });
    };
    let (entry, by, ended) = settle(catalog, market, (id, deal, own), copy).await?;
    Ok(Replacement {
        entry,
        by,
        ended,
        fetched,
        from_original,
        pulled_chunks: 0,
    })
}

/// The providers a copy of `entry`'s object can be bought from in place of a failing one: any
/// the node finds (the Registry's dialled) but those holding a copy, and itself; at least one.
/// With `may_renew` (the copy's own provider may be paid again instead), it does not wait for
/// one past [`SPARE_GRACE`].
async fn spares_for(
    handle: &Handle,
    market: &market::Buyer,
    entry: &CatalogEntry,
    may_renew: bool,
) -> Result<Vec<PeerId>, BuyerError> {
    dial_listed(handle, market).await?;
    let holding: Vec<PeerId> = entry
        .holders
        .iter()
        .filter_map(|h| h.parse().ok())
        .collect();
    let need = if may_renew { 1 } else { holding.len() + 1 };
    let found = discover(handle, need, holding.len() + 2).await?;
    let spares: Vec<PeerId> = found
        .into_iter()
        .filter(|peer| !holding.contains(peer) && *peer != handle.peer_id())
        .collect();
    if spares.is_empty() {
        return Err(no_spare(entry));
    }
    Ok(spares)
}

fn no_spare(entry: &CatalogEntry) -> BuyerError {
    BuyerError::NoSpareProvider {
        id: entry.id,
        why: format!(
            "every provider found ({}) holds a copy already",
            entry.holders.len()
        ),
    }
}

/// Buys a copy of `entry`'s object (the one bought under `deal` is failing) from one of
/// `spares`, a provider that fetches it itself from `sources`, holders of it (at the addresses
/// this node knows them at, and the Registry's): nothing is sent from here unless none of them
/// serves it, and then the rest of the chunks are sent under the same deal as `or_else` says
/// (from the original, or fetched from the holders by this node). The manifest comes from the
/// holders; the original is hashed for it only when none serves it.
async fn pull_copy(
    handle: &Handle,
    market: &market::Buyer,
    (entry, deal): (&CatalogEntry, u64),
    sources: &[PeerId],
    or_else: Fallback<'_>,
    spares: Vec<PeerId>,
) -> Result<CopyReport, BuyerError> {
    // From the holders (a manifest is a few hundred KiB for gigabytes); should none serve it,
    // from the original, hashed then.
    let manifest = match Client::new(handle.clone())
        .manifest(entry.id, sources)
        .await
    {
        Ok(manifest) => manifest,
        Err(err) => match or_else.file {
            Some(path) => original_of(path, entry).await.ok_or(err)?,
            None => return Err(err.into()),
        },
    };
    let commitment = deal_commitment(market, deal, &manifest).await?;
    // Each holder's addresses: those this node knows it at (fresh), then the Registry's.
    let listed = market.listed_providers(0).await?;
    let mut holders = Vec::new();
    for &peer in sources.iter().take(wire::MAX_PULL_HOLDERS) {
        let mut addrs = handle.addresses_of(peer).await?;
        for provider in listed.iter().filter(|provider| provider.peer == peer) {
            for addr in &provider.addrs {
                let full = addr.clone().with_p2p(peer).ok();
                if !addrs
                    .iter()
                    .any(|known| known.clone().with_p2p(peer).ok() == full)
                {
                    addrs.push(addr.clone());
                }
            }
        }
        holders.push(Holder::new(peer, addrs));
    }
    let source = Source::Pull {
        holders: &holders,
        or_else,
    };
    let (report, _ended, failures) =
        put_with_deals(handle, market, (&manifest, &commitment, source), 1, spares).await?;
    report
        .copies
        .into_iter()
        .next()
        .ok_or_else(|| BuyerError::NoSpareProvider {
            id: entry.id,
            why: failures.join("; "),
        })
}

/// Settles a copy bought in place of the one under `deal` (held by `own`): the failing deal is
/// ended unless the copy renews it with the same provider (a renewed deal runs to its end, its
/// last period paid if proven), and the swap is recorded in the catalog.
async fn settle(
    catalog: &Catalog,
    market: &market::Buyer,
    (id, deal, own): (ContentId, u64, &str),
    copy: &CopyReport,
) -> Result<(CatalogEntry, BoughtCopy, Option<EndedDeal>), BuyerError> {
    let by = bought(copy);
    let ended = if by.peer == own {
        None
    } else {
        match market.end_deal(deal).await {
            Ok(ended) => Some(ended),
            Err(err) => {
                tracing::info!(deal, %err, "the replaced copy's deal was not ended");
                None
            }
        }
    };
    // Pulled: the provider fetched every chunk it lacked itself, none sent from here.
    let pulled = copy.pulled_chunks > 0 && copy.sent_chunks == 0;
    let entry = record_swap(catalog, market, (id, deal), &by, pulled).await?;
    Ok((entry, by, ended))
}

/// `file` as the catalog remembers it as an original: absolute, so it still names the file
/// whatever the shell's working directory; `None` when that path is not UTF-8, which the
/// catalog's JSON cannot hold (the copies are then recorded without it, as a sent file's are).
fn original_path(file: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(file)
        .ok()
        .filter(|path| path.to_str().is_some())
}

/// The manifest of `entry`'s object read from `path`, the file it was stored from, if that
/// still holds the object (same size, same content id); `None` (and why, in the log) when it
/// is gone, unreadable or changed.
async fn original_of(path: &Path, entry: &CatalogEntry) -> Option<Manifest> {
    let id = entry.id;
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() && meta.len() == entry.size => {}
        Ok(_) => {
            tracing::info!(%id, path = %path.display(), "the file it was stored from changed; fetching it back");
            return None;
        }
        Err(err) => {
            tracing::info!(%id, path = %path.display(), %err, "the file it was stored from is gone; fetching it back");
            return None;
        }
    }
    match manifest_of(path).await {
        Ok(manifest) if manifest.id() == id => Some(manifest),
        Ok(_) => {
            tracing::info!(%id, path = %path.display(), "the file it was stored from changed; fetching it back");
            None
        }
        Err(err) => {
            tracing::info!(%id, path = %path.display(), %err, "cannot read the file it was stored from; fetching it back");
            None
        }
    }
}

/// Renews the copy of `id` under `deal` with its own provider `peer`, as [`replace`] says;
/// returns the new copy and the bytes fetched to check it.
async fn renew_in_place(
    handle: &Handle,
    market: &market::Buyer,
    (id, deal): (ContentId, u64),
    peer: PeerId,
) -> Result<(CopyReport, u64), BuyerError> {
    let (manifest, fetched) = Client::new(handle.clone())
        .sample(peer, id, RENEWAL_SAMPLES)
        .await?;
    let commitment = deal_commitment(market, deal, &manifest).await?;
    let object = (&manifest, &commitment, Source::Held);
    let (report, _ended, failures) = put_with_deals(handle, market, object, 1, vec![peer]).await?;
    match report.copies.into_iter().next() {
        Some(copy) => Ok((copy, fetched)),
        None => Err(BuyerError::NoSpareProvider {
            id,
            why: failures.join("; "),
        }),
    }
}

/// The catalog's record of a copy bought under a deal.
fn bought(copy: &CopyReport) -> BoughtCopy {
    BoughtCopy {
        deal: copy.deal.unwrap_or_default(),
        peer: copy.peer.to_string(),
        paid_until: copy.paid_until.unwrap_or_default(),
    }
}

/// Records in `catalog` that `by` replaced the copy of `id` under `deal`. The catalog is read
/// again (it may have changed while the copy was made): a file forgotten meanwhile does not
/// want the copy, whose deal is ended.
async fn record_swap(
    catalog: &Catalog,
    market: &market::Buyer,
    (id, deal): (ContentId, u64),
    by: &BoughtCopy,
    pulled: bool,
) -> Result<CatalogEntry, BuyerError> {
    let swapped = catalog.update(|entries| match entries.get_mut(&id.to_string()) {
        Some(entry) => {
            entry.swap_copy(deal, by.clone(), unix_now(), pulled);
            (Some(entry.clone()), true)
        }
        None => (None, false),
    })?;
    let Some(entry) = swapped else {
        if let Err(err) = market.end_deal(by.deal).await {
            tracing::warn!(deal = by.deal, %err, "cannot end the deal of a forgotten file");
        }
        return Err(BuyerError::NotACopy { id, deal });
    };
    Ok(entry)
}

/// What [`end_deals`] did.
#[derive(Debug, Default, serde::Serialize)]
pub struct EndedDeals {
    /// The deals ended, with their refunds.
    pub ended: Vec<EndedDeal>,
    /// Those that could not be ended, and why: they run to their end, paid while proven.
    pub not_ended: Vec<String>,
}

/// Ends the deals of `entry`'s copies (a file no longer kept): the periods not yet started are
/// refunded to the buyer. The replaced copies' deals are not: those were ended when replaced,
/// or are renewals' last periods.
pub async fn end_deals(market: &market::Buyer, entry: &CatalogEntry) -> EndedDeals {
    let mut done = EndedDeals::default();
    for copy in &entry.deals {
        match market.end_deal(copy.deal).await {
            Ok(ended) => done.ended.push(ended),
            Err(err) => done.not_ended.push(format!("deal {}: {err}", copy.deal)),
        }
    }
    done
}

/// Downloads `id` (or only `range` of it) to `output`, every chunk verified. The holders the
/// catalog names are asked at once; the DHT's lookup starts with the download, and each holder
/// it finds joins the download as it comes (should it find none, up to 16 providers known by
/// their offers once it ends): the download starts with the first holder to answer, never
/// waits for the lookup (which, meeting dead peers, runs on until their dials give up), and
/// ends as soon as every chunk is in. A holder that fails hands what it had not delivered to
/// the others, and to those found later: nothing verified is fetched twice. The bytes go to a
/// partial file beside `output` (`.<name>.part`), renamed to `output` once all are verified
/// and removed on failure, so `output` never holds a half-written object.
pub async fn get(
    handle: &Handle,
    catalog: &Catalog,
    id: ContentId,
    range: Option<Range<u64>>,
    output: &Path,
) -> Result<GetReport, BuyerError> {
    let named: Vec<PeerId> = catalog
        .entries()?
        .get(&id.to_string())
        .map(|e| e.holders.iter().filter_map(|h| h.parse().ok()).collect())
        .unwrap_or_default();
    discover(handle, 1, 1).await?;
    let mut lookup = handle.find_holders(id).await?;
    let (found, later) = tokio::sync::mpsc::channel(LATER_HOLDERS_QUEUED);
    let feed = async move {
        let mut any = false;
        while let Some(peer) = lookup.recv().await {
            any = true;
            if found.send(peer).await.is_err() {
                return;
            }
        }
        // The lookup ended having found nobody (the DHT's records lost or not yet spread): the
        // providers known by their offers may hold it, a bounded few of them (each is asked at
        // once).
        if any {
            return;
        }
        let Ok(providers) = handle.providers().await else {
            return;
        };
        for provider in providers.into_iter().take(OFFERED_ASKED) {
            if found.send(provider.peer).await.is_err() {
                return;
            }
        }
    };
    let holders = transfer::Holders {
        known: named,
        later: Some(later),
    };
    let client = Client::new(handle.clone());
    let download = client.get_to(id, range, output, holders);
    tokio::pin!(download);
    // The feed ends with the lookup (dropping its sender tells the download no more will come);
    // the download may end first, dropping the lookup with the feed.
    let report = tokio::select! {
        report = &mut download => report,
        () = feed => download.await,
    };
    Ok(report?)
}

/// Holders found and not yet taken by the download; the lookup waits while it is full.
const LATER_HOLDERS_QUEUED: usize = 16;
/// Most providers known by their offers that a download asks, when the DHT found no holder.
const OFFERED_ASKED: usize = 16;

/// Downloads `id` from `holders` (in that order) to `output` through its partial file.
async fn fetch_to(
    handle: &Handle,
    id: ContentId,
    range: Option<Range<u64>>,
    output: &Path,
    holders: Vec<PeerId>,
) -> Result<GetReport, BuyerError> {
    Ok(Client::new(handle.clone())
        .get_to(id, range, output, holders)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writers at once (the daemon's upkeep and a store, or `cairn storage` in another process)
    /// each read, change and write the whole file: without the lock, one's entry is lost to
    /// the other's write.
    #[test]
    fn concurrent_writers_lose_no_entry() {
        let dir = tempfile::tempdir().unwrap();
        let writers: Vec<_> = (0..4u8)
            .map(|writer| {
                let catalog = Catalog::in_dir(dir.path());
                std::thread::spawn(move || {
                    for n in 0..25u8 {
                        let mut id = [0; 32];
                        id[..2].copy_from_slice(&[writer, n]);
                        catalog
                            .record(CatalogEntry {
                                id: ContentId(id),
                                name: format!("{writer}-{n}"),
                                size: 1,
                                holders: vec![],
                                deals: vec![],
                                replaced: vec![],
                                keep_until: None,
                                original: None,
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        let entries = Catalog::in_dir(dir.path()).entries().unwrap();
        assert_eq!(entries.len(), 100);
        // Removals, with records, lose nothing either.
        let catalog = Catalog::in_dir(dir.path());
        let removers: Vec<_> = (0..2u8)
            .map(|writer| {
                let catalog = catalog.clone();
                let ids: Vec<ContentId> = entries
                    .values()
                    .filter(|entry| entry.id.0[0] == writer)
                    .map(|entry| entry.id)
                    .collect();
                std::thread::spawn(move || {
                    for id in ids {
                        assert!(catalog.remove(&id).unwrap().is_some());
                    }
                })
            })
            .collect();
        for remover in removers {
            remover.join().unwrap();
        }
        let left = catalog.entries().unwrap();
        assert_eq!(left.len(), 50);
        assert!(left.values().all(|entry| entry.id.0[0] >= 2));
    }

    #[test]
    fn the_catalog_keeps_entries_and_names_a_file_that_does_not_parse() {
        let root = tempfile::tempdir().unwrap();
        // Made on the first record.
        let dir = root.path().join("client");
        let catalog = Catalog::in_dir(&dir);
        assert!(catalog.entries().unwrap().is_empty());
        // Catalogs written before deals were kept still read.
        let old: CatalogEntry = serde_json::from_str(&format!(
            r#"{{"id": "{}", "name": "a", "size": 1, "holders": []}}"#,
            "ab".repeat(32)
        ))
        .unwrap();
        assert!(old.deals.is_empty() && old.paid_until().is_none());
        let entry = CatalogEntry {
            id: ContentId([7; 32]),
            name: "photo.jpg".into(),
            size: 3,
            holders: vec!["12D3KooWHolder".into()],
            deals: vec![
                BoughtCopy {
                    deal: 4,
                    peer: "12D3KooWHolder".into(),
                    paid_until: 1_800_000_000,
                },
                BoughtCopy {
                    deal: 5,
                    peer: "12D3KooWOther".into(),
                    paid_until: 1_700_000_000,
                },
            ],
            replaced: Vec::new(),
            keep_until: None,
            original: None,
        };
        assert_eq!(entry.paid_until(), Some(1_700_000_000));
        catalog.record(entry.clone()).unwrap();
        let again = CatalogEntry {
            holders: vec!["12D3KooWOther".into()],
            ..entry.clone()
        };
        catalog.record(again.clone()).unwrap();
        let entries = catalog.entries().unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[&entry.id.to_string()], again);
        assert!(!dir.join("catalog.json.tmp").exists());
        // Removed: returned once, then gone.
        assert_eq!(catalog.remove(&entry.id).unwrap(), Some(again.clone()));
        assert_eq!(catalog.remove(&entry.id).unwrap(), None);
        assert!(catalog.entries().unwrap().is_empty());
        catalog.record(again.clone()).unwrap();

        std::fs::write(dir.join(CATALOG_FILE), "{ not json").unwrap();
        let err = catalog.entries().unwrap_err().to_string();
        assert!(
            err.contains("catalog.json") && err.contains("move it away"),
            "{err}"
        );
        let err = catalog.record(entry).unwrap_err().to_string();
        assert!(err.contains("move it away"), "{err}");
        assert_eq!(
            std::fs::read_to_string(dir.join(CATALOG_FILE)).unwrap(),
            "{ not json",
            "a catalog that does not parse is never overwritten"
        );
    }

    #[test]
    fn a_replaced_copy_leaves_holders_and_deals_and_is_kept_in_the_history() {
        let copy = |deal, peer: &str| BoughtCopy {
            deal,
            peer: peer.into(),
            paid_until: 1_800_000_000 + deal,
        };
        let mut entry = CatalogEntry {
            id: ContentId([7; 32]),
            name: "photo.jpg".into(),
            size: 3,
            holders: vec!["A".into(), "B".into()],
            deals: vec![copy(1, "A"), copy(2, "B"), copy(3, "B")],
            replaced: Vec::new(),
            keep_until: None,
            original: None,
        };
        // B holds it under deal 3 too: still a holder once deal 2 is replaced.
        entry.swap_copy(2, copy(4, "C"), 100, true);
        assert_eq!(entry.holders, ["A", "B", "C"]);
        assert_eq!(entry.deals, [copy(1, "A"), copy(3, "B"), copy(4, "C")]);
        entry.swap_copy(1, copy(5, "D"), 200, false);
        assert_eq!(entry.holders, ["B", "C", "D"]);
        assert_eq!(
            entry.replaced,
            [
                ReplacedCopy {
                    copy: copy(2, "B"),
                    by: copy(4, "C"),
                    at: 100,
                    renewed: false,
                    pulled: true,
                },
                ReplacedCopy {
                    copy: copy(1, "A"),
                    by: copy(5, "D"),
                    at: 200,
                    renewed: false,
                    pulled: false,
                },
            ]
        );
        // Renewed with the same provider: still a holder, under the new deal.
        entry.swap_copy(4, copy(7, "C"), 250, false);
        assert_eq!(entry.holders, ["B", "D", "C"]);
        assert_eq!(entry.deals, [copy(3, "B"), copy(5, "D"), copy(7, "C")]);
        assert!(entry.replaced[2].renewed);
        // Only the latest are remembered.
        for deal in 10..10 + REPLACED_KEPT as u64 {
            let by = copy(deal + 1000, "C");
            entry.swap_copy(entry.deals[2].deal, by, deal, false);
        }
        assert_eq!(entry.replaced.len(), REPLACED_KEPT);
        assert_eq!(entry.replaced[0].at, 10);
        assert_eq!(entry.deals[2].deal, 1000 + 9 + REPLACED_KEPT as u64);
        // A deal that is not one of its copies' changes nothing.
        let before = entry.clone();
        entry.swap_copy(9, copy(6, "E"), 300, true);
        assert_eq!(entry, before);
        let text = serde_json::to_string(&entry).unwrap();
        assert_eq!(serde_json::from_str::<CatalogEntry>(&text).unwrap(), entry);
    }

    #[test]
    fn a_file_stored_again_keeps_the_copies_bought_before() {
        let copy = |deal, peer: &str| BoughtCopy {
            deal,
            peer: peer.into(),
            paid_until: 100 + deal,
        };
        let entry = |name: &str, holders: &[&str], deals: Vec<BoughtCopy>| CatalogEntry {
            id: ContentId([3; 32]),
            name: name.into(),
            size: 10,
            holders: holders.iter().map(|h| (*h).to_owned()).collect(),
            deals,
            replaced: Vec::new(),
            keep_until: None,
            original: None,
        };
        let mut first = entry("a.jpg", &["A", "B"], vec![copy(1, "A"), copy(2, "B")]);
        first.absorb(entry(
            "b.jpg",
            &["B", "C"],
            vec![copy(3, "B"), copy(4, "C")],
        ));
        assert_eq!(
            first,
            entry(
                "b.jpg",
                &["A", "B", "C"],
                vec![copy(1, "A"), copy(2, "B"), copy(3, "B"), copy(4, "C")]
            )
        );
        // Stored again with a date to keep it until: the latest store says.
        let mut kept = first.clone();
        kept.absorb(CatalogEntry {
            keep_until: Some(500),
            ..first.clone()
        });
        assert_eq!(kept.keep_until, Some(500));
        kept.absorb(first.clone());
        assert_eq!(kept.keep_until, None);
        // The original is the latest one given; a file stored again from nowhere kept keeps it.
        kept.absorb(CatalogEntry {
            original: Some("/home/me/a.jpg".into()),
            ..first.clone()
        });
        assert_eq!(kept.original, Some("/home/me/a.jpg".into()));
        kept.absorb(first);
        assert_eq!(kept.original, Some("/home/me/a.jpg".into()));
    }

    #[cfg(unix)]
    #[test]
    fn an_original_is_remembered_absolute_and_only_as_utf8() {
        use std::os::unix::ffi::OsStrExt as _;
        let dir = tempfile::tempdir().unwrap();
        let named = dir.path().join("été.jpg");
        std::fs::write(&named, b"x").unwrap();
        assert_eq!(
            original_path(&named),
            Some(std::fs::canonicalize(&named).unwrap())
        );
        assert!(original_path(&named).unwrap().is_absolute());
        // Latin-1 "é": a name the catalog's JSON could not hold.
        let latin1 = dir.path().join(std::ffi::OsStr::from_bytes(b"caf\xe9.jpg"));
        std::fs::write(&latin1, b"x").unwrap();
        assert_eq!(original_path(&latin1), None);
        assert_eq!(original_path(&dir.path().join("gone.jpg")), None);
        // The entry is written either way.
        let catalog = Catalog::in_dir(dir.path());
        catalog
            .record(CatalogEntry {
                id: ContentId([9; 32]),
                name: latin1.file_name().unwrap().to_string_lossy().into_owned(),
                size: 1,
                holders: vec!["12D3KooWA".into()],
                deals: Vec::new(),
                replaced: Vec::new(),
                keep_until: None,
                original: original_path(&latin1),
            })
            .unwrap();
    }

    #[tokio::test]
    async fn an_original_counts_only_while_it_holds_the_object() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("photo.jpg");
        let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let manifest = crate::transfer::manifest_of_file(&path).unwrap();
        let entry = CatalogEntry {
            id: manifest.id(),
            name: "photo.jpg".into(),
            size: bytes.len() as u64,
            holders: Vec::new(),
            deals: Vec::new(),
            replaced: Vec::new(),
            keep_until: None,
            original: Some(path.clone()),
        };
        assert_eq!(
            original_of(&path, &entry).await.unwrap().id(),
            manifest.id()
        );

        let mut changed = bytes.clone();
        changed[299_999] ^= 1;
        std::fs::write(&path, &changed).unwrap();
        assert!(
            original_of(&path, &entry).await.is_none(),
            "one byte changed"
        );
        std::fs::write(&path, &bytes[1..]).unwrap();
        assert!(original_of(&path, &entry).await.is_none(), "shorter");
        std::fs::remove_file(&path).unwrap();
        assert!(original_of(&path, &entry).await.is_none(), "gone");
        std::fs::create_dir(&path).unwrap();
        assert!(original_of(&path, &entry).await.is_none(), "a folder");
    }

    #[test]
    fn a_node_listed_in_the_registry_does_not_dial_itself() {
        let me = PeerId::random();
        let other = PeerId::random();
        let listed = |peer: PeerId, port: u16| market::ListedProvider {
            address: market::Address::repeat_byte(1),
            peer,
            addrs: vec![format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()],
            storage_bytes: 1 << 20,
        };
        let addrs = addrs_to_dial(vec![listed(me, 1), listed(other, 2)], me);
        assert_eq!(addrs, vec!["/ip4/127.0.0.1/tcp/2".parse().unwrap()]);
    }

    #[test]
    fn no_providers_names_the_dials_that_failed() {
        let none = BuyerError::NoProviders {
            waited: DISCOVERY_TIMEOUT,
            dial_failures: Vec::new(),
        };
        assert!(!none.to_string().contains("Dials"));
        let some = BuyerError::NoProviders {
            waited: DISCOVERY_TIMEOUT,
            dial_failures: vec!["a: refused".into(), "b: bad certificate".into()],
        };
        assert!(
            some.to_string()
                .ends_with(". Dials that failed: a: refused; b: bad certificate"),
            "{some}"
        );
    }
}
