//! Bulk transfers over raw libp2p streams (`/cairn/storage/1`, framed by [`crate::wire`]).
//!
//! Provider side: the `Service` accepts incoming streams, applies per-peer limits (concurrent
//! streams, stream opening rate, strikes for protocol violations that end in a ban) and runs
//! one task per stream. Buyer side: [`Client`] uploads an object to several providers with
//! resume and fail-over, and downloads it from any holder with every chunk verified, resuming
//! from another holder at the first unverified chunk when one dies.
//!
//! A malformed frame, an oversized length prefix or a silent peer ends that stream (after
//! [`IDLE_TIMEOUT`]) with an error frame where possible; nothing panics and nothing is
//! allocated beyond [`crate::wire::MAX_FRAME`] per stream.

use std::collections::HashMap;
use std::fs::File;
use std::num::NonZeroU64;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::io::{AsyncReadExt as _, AsyncWriteExt as _};
use futures::stream::FuturesUnordered;
use futures::{AsyncRead, AsyncWrite, StreamExt as _};
use libp2p::{PeerId, StreamProtocol};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::content::{ContentError, ContentId, Manifest, ManifestBuilder};
use crate::market::{CheckedDeal, Market, MarketError};
use crate::node::{Event, Handle, WeakHandle};
use crate::store::{Store, StoreError, Upload};
use crate::wire::{self, ErrorCode, Holder, Message, WireError};

/// The storage protocol.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/cairn/storage/1");
/// Longest wait for a frame once a stream is open (a live peer sends a 256 KiB chunk in far
/// less; a silent one is dropped).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(20);
/// Attempts per provider before an upload moves on to the next one (the second attempt resumes).
pub const ATTEMPTS_PER_PROVIDER: usize = 2;
/// Read buffer for streaming a file into its manifest.
const READ_BUF: usize = 1 << 20;
/// Attempts at a request whose stream is reset before any answer (see `Client::request`).
pub const REQUEST_ATTEMPTS: u32 = 3;
/// Pause before the first retry of such a request (doubled, then tripled, after).
const REQUEST_RETRY_PAUSE: Duration = Duration::from_millis(100);
/// Chunks a provider reads and checks ahead of the one it is sending.
const READ_AHEAD: usize = 4;
/// Chunks a downloader queues for verification while it reads the next ones.
const VERIFY_AHEAD: usize = 8;
/// What a provider is doing when a write of a download's chunks fails (the buyer may have
/// stopped the download: see `Service::run`).
const SERVING_CHUNKS: &str = "serving chunks";
/// How long a downloader waits for a frame before it counts the chunks verified meanwhile.
const SETTLE_WAITING_AFTER: Duration = Duration::from_millis(100);

/// Provider-side limits on incoming transfer streams.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Concurrent streams per peer. Default: 8.
    pub max_streams_per_peer: usize,
    /// Concurrent streams in total. Default: 256.
    pub max_streams: usize,
    /// New streams per peer per second before it is throttled. Default: 32.
    pub streams_per_second: u32,
    /// Protocol violations or throttlings before the peer is banned. Default: 8.
    pub strikes_before_ban: u32,
    /// Bytes per second of chunks served to buyers, over all downloads together, so a home
    /// provider keeps its uplink usable. Default: none (as fast as the network goes).
    pub max_serve_rate: Option<NonZeroU64>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_streams_per_peer: 8,
            max_streams: 256,
            streams_per_second: 32,
            strikes_before_ban: 8,
            max_serve_rate: None,
        }
    }
}

/// Paces bytes to a rate: each send is given the next free slot on a virtual clock, so any
/// number of senders sharing one pacer stay, together, under the rate. Pure: the caller passes
/// the time and sleeps for what comes back.
#[derive(Debug)]
pub struct Pacer {
    rate: NonZeroU64,
    /// When the bytes already admitted will have gone out at the rate.
    free_at: Option<Instant>,
}

impl Pacer {
    /// A pacer for `rate` bytes per second.
    pub fn new(rate: NonZeroU64) -> Self {
        Self {
            rate,
            free_at: None,
        }
    }

    /// How long to wait at `now` before sending `bytes`.
    pub fn admit(&mut self, now: Instant, bytes: u64) -> Duration {
        let start = self.free_at.map_or(now, |t| t.max(now));
        let time = Duration::from_secs_f64(bytes as f64 / self.rate.get() as f64);
        self.free_at = Some(start + time);
        start - now
    }
}

/// Why a transfer failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    /// Stream I/O failed (the peer went away).
    #[error("{phase}: stream to {peer} failed: {source}")]
    Stream {
        /// What was being done.
        phase: &'static str,
        /// The peer.
        peer: PeerId,
        /// The cause.
        source: std::io::Error,
    },
    /// A stream could not be opened.
    #[error("cannot open a storage stream to {peer}: {reason}")]
    Open {
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: String,
    },
    /// The peer was silent for [`IDLE_TIMEOUT`].
    #[error("{phase}: {peer} sent nothing for {IDLE_TIMEOUT:?}")]
    Timeout {
        /// What was being waited for.
        phase: &'static str,
        /// The peer.
        peer: PeerId,
    },
    /// A malformed or oversized frame.
    #[error("bad frame from {peer}: {source}")]
    Wire {
        /// The peer.
        peer: PeerId,
        /// The cause.
        source: Box<WireError>,
    },
    /// A well-formed but unexpected frame.
    #[error("protocol violation by {peer}: {what}")]
    Protocol {
        /// The peer.
        peer: PeerId,
        /// What was wrong.
        what: String,
    },
    /// The peer answered with an error frame.
    #[error("{peer} refused: {message} ({code:?})")]
    Remote {
        /// The peer.
        peer: PeerId,
        /// Its error code.
        code: ErrorCode,
        /// Its message.
        message: String,
    },
    /// Data failed verification.
    #[error("data from {peer} failed verification: {source}")]
    Verify {
        /// The peer.
        peer: PeerId,
        /// The cause.
        source: Box<ContentError>,
    },
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A local file could not be read or written.
    #[error("{phase} {path}: {source}")]
    File {
        /// What was being done.
        phase: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file an upload reads from no longer holds the object it was stored as: a chunk read
    /// from it does not match the manifest (it changed since it was hashed). Nothing of it was
    /// sent.
    #[error(
        "{path} changed since it was hashed: its chunk {index} no longer matches the object; \
         store the file again (as a new object) or fetch the object back from its holders"
    )]
    FileChanged {
        /// The file.
        path: PathBuf,
        /// The first chunk found changed.
        index: u64,
    },
    /// The file cannot be addressed (empty or too large).
    #[error("{path}: {source}")]
    Content {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: ContentError,
    },
    /// Fewer providers took the object than asked.
    #[error(
        "stored {stored} of {wanted} copies ({tried} providers tried); start more providers or lower --copies. Last error: {last}"
    )]
    NotEnoughCopies {
        /// Copies asked for.
        wanted: usize,
        /// Copies made.
        stored: usize,
        /// The object.
        id: ContentId,
        /// The providers that did store a copy (they keep it).
        holders: Vec<PeerId>,
        /// Providers tried.
        tried: usize,
        /// The last failure.
        last: String,
    },
    /// An upload of chunks the provider was to hold already ([`Source::Held`]) found some
    /// missing: nothing was sent.
    #[error(
        "{peer} no longer holds {missing} of the object's {chunks} chunks; buy the copy from a provider given the file"
    )]
    NotHeld {
        /// The provider.
        peer: PeerId,
        /// Chunks it lacks.
        missing: u64,
        /// Chunks in the object.
        chunks: u64,
    },
    /// No holder could serve the object.
    #[error("no holder could serve {id} ({tried} tried). Last error: {last}")]
    Unavailable {
        /// The object.
        id: ContentId,
        /// Holders tried.
        tried: usize,
        /// The last failure.
        last: String,
    },
    /// The on-chain market refused or failed.
    #[error(transparent)]
    Market(#[from] MarketError),
    /// A blocking task died.
    #[error("internal task failed: {0}")]
    Task(String),
}

impl TransferError {
    /// Whether the peer misbehaved (counts as a strike), as opposed to an honest failure.
    fn is_violation(&self) -> bool {
        matches!(
            self,
            Self::Wire { .. } | Self::Protocol { .. } | Self::Timeout { .. } | Self::Verify { .. }
        )
    }
}

/// Reads one frame.
async fn read_msg<S: AsyncRead + Unpin>(
    stream: &mut S,
    peer: PeerId,
    phase: &'static str,
    buf: &mut Vec<u8>,
) -> Result<Message, TransferError> {
    read_msg_into(stream, peer, phase, buf, None).await
}

/// [`read_msg`]; given a `spare` buffer, a chunk's data is read straight into it (and taken,
/// leaving it empty) instead of being copied out of the frame: a spare that held a chunk before
/// keeps its allocation and is not zeroed again.
async fn read_msg_into<S: AsyncRead + Unpin>(
    stream: &mut S,
    peer: PeerId,
    phase: &'static str,
    buf: &mut Vec<u8>,
    spare: Option<&mut Vec<u8>>,
) -> Result<Message, TransferError> {
    let read = async {
        let mut len = [0u8; 4];
        stream.read_exact(&mut len).await?;
        let len = match Message::check_len(u32::from_be_bytes(len)) {
            Ok(len) => len,
            Err(e) => return Ok(Err(e)),
        };
        let Some(spare) = spare else {
            buf.resize(len, 0);
            stream.read_exact(buf).await?;
            return Ok(Ok(None));
        };
        let head = len.min(wire::CHUNK_HEADER);
        if buf.len() < head {
            buf.resize(head, 0);
        }
        stream.read_exact(&mut buf[..head]).await?;
        if let Some(index) = Message::chunk_header(&buf[..head], len) {
            spare.resize(len - wire::CHUNK_HEADER, 0);
            stream.read_exact(spare).await?;
            let data = std::mem::take(spare);
            return Ok(Ok(Some(Message::Chunk { index, data })));
        }
        buf.resize(len, 0);
        stream.read_exact(&mut buf[head..]).await?;
        Ok::<_, std::io::Error>(Ok(None))
    };
    match tokio::time::timeout(IDLE_TIMEOUT, read).await {
        Err(_) => Err(TransferError::Timeout { phase, peer }),
        Ok(Err(source)) => Err(TransferError::Stream {
            phase,
            peer,
            source,
        }),
        Ok(Ok(Err(source))) => Err(TransferError::Wire {
            peer,
            source: Box::new(source),
        }),
        Ok(Ok(Ok(Some(chunk)))) => Ok(chunk),
        Ok(Ok(Ok(None))) => Message::decode(buf).map_err(|source| TransferError::Wire {
            peer,
            source: Box::new(source),
        }),
    }
}

/// Writes one frame.
async fn write_msg<S: AsyncWrite + Unpin>(
    stream: &mut S,
    peer: PeerId,
    phase: &'static str,
    msg: &Message,
    buf: &mut Vec<u8>,
) -> Result<(), TransferError> {
    buf.clear();
    msg.encode(buf);
    let write = stream.write_all(buf);
    match tokio::time::timeout(IDLE_TIMEOUT, write).await {
        Err(_) => Err(TransferError::Timeout { phase, peer }),
        Ok(r) => r.map_err(|source| TransferError::Stream {
            phase,
            peer,
            source,
        }),
    }
}

fn remote(peer: PeerId, code: ErrorCode, message: String) -> TransferError {
    TransferError::Remote {
        peer,
        code,
        message,
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, TransferError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| TransferError::Task(e.to_string()))
}

#[derive(Debug)]
struct PeerState {
    active: usize,
    window: Instant,
    opened: u32,
    strikes: u32,
}

/// The provider's side of the protocol (spawned by the node's event loop).
pub(crate) struct Service {
    incoming: libp2p_stream::IncomingStreams,
    store: Store,
    events: broadcast::Sender<Event>,
    /// The node's own handle, weak (bans, DHT records, and the pulls it makes).
    node: WeakHandle,
    limits: Limits,
    market: Option<Market>,
    /// Shared by every download served, when [`Limits::max_serve_rate`] is set.
    pacer: Option<Arc<std::sync::Mutex<Pacer>>>,
}

impl Service {
    pub(crate) fn new(
        incoming: libp2p_stream::IncomingStreams,
        store: Store,
        events: broadcast::Sender<Event>,
        node: WeakHandle,
        limits: Limits,
        market: Option<Market>,
    ) -> Self {
        let pacer = limits
            .max_serve_rate
            .map(|rate| Arc::new(std::sync::Mutex::new(Pacer::new(rate))));
        Self {
            incoming,
            store,
            events,
            node,
            limits,
            market,
            pacer,
        }
    }

    fn strike(&self, peers: &mut HashMap<PeerId, PeerState>, peer: PeerId) -> bool {
        let Some(state) = peers.get_mut(&peer) else {
            return false;
        };
        state.strikes += 1;
        if state.strikes >= self.limits.strikes_before_ban {
            state.strikes = 0;
            true
        } else {
            false
        }
    }

    pub(crate) async fn run(mut self) {
        let mut tasks: JoinSet<(PeerId, Result<(), TransferError>)> = JoinSet::new();
        let mut peers: HashMap<PeerId, PeerState> = HashMap::new();
        loop {
            tokio::select! {
                biased;
                Some(done) = tasks.join_next() => {
                    let Ok((peer, result)) = done else { continue };
                    if let Some(state) = peers.get_mut(&peer) {
                        state.active = state.active.saturating_sub(1);
                    }
                    if let Err(e) = result {
                        match e {
                            // A buyer that has what it wants of this download drops the stream
                            // (the rest taken by a faster holder, or the download cancelled).
                            TransferError::Stream { phase: SERVING_CHUNKS, .. } => {
                                tracing::debug!(%peer, error = %e, "the buyer stopped a download early");
                            }
                            _ => tracing::info!(%peer, error = %e, "storage stream ended with an error"),
                        }
                        if e.is_violation() && self.strike(&mut peers, peer) {
                            Handle::ban_weak(&self.node.commands, peer).await;
                        }
                    }
                }
                next = self.incoming.next() => {
                    let Some((peer, stream)) = next else { break };
                    let now = Instant::now();
                    let state = peers.entry(peer).or_insert(PeerState {
                        active: 0,
                        window: now,
                        opened: 0,
                        strikes: 0,
                    });
                    if now.duration_since(state.window) >= Duration::from_secs(1) {
                        state.window = now;
                        state.opened = 0;
                    }
                    state.opened += 1;
                    let over = state.active >= self.limits.max_streams_per_peer
                        || state.opened > self.limits.streams_per_second
                        || tasks.len() >= self.limits.max_streams;
                    if over {
                        // Dropping the stream resets it; the peer learns it was refused.
                        drop(stream);
                        let ban = self.strike(&mut peers, peer);
                        let _ = self.events.send(Event::Throttled { peer, banned: false });
                        if ban {
                            Handle::ban_weak(&self.node.commands, peer).await;
                        }
                        continue;
                    }
                    state.active += 1;
                    let store = self.store.clone();
                    let events = self.events.clone();
                    let node = self.node.clone();
                    let market = self.market.clone();
                    let pacer = self.pacer.clone();
                    tasks.spawn(async move {
                        let result =
                            serve_stream(peer, stream, store, events, node, market, pacer).await;
                        (peer, result)
                    });
                }
            }
        }
    }
}

async fn serve_stream(
    peer: PeerId,
    mut stream: libp2p::Stream,
    store: Store,
    events: broadcast::Sender<Event>,
    node: WeakHandle,
    market: Option<Market>,
    pacer: Option<Arc<std::sync::Mutex<Pacer>>>,
) -> Result<(), TransferError> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let first = read_msg(&mut stream, peer, "reading the request", &mut buf).await;
    let result = match first {
        Ok(Message::PutRequest { manifest, deal }) => {
            match put_into(&store, &events, market.as_ref(), deal, &manifest).await {
                Ok(into) => serve_put(peer, &mut stream, into, manifest, &mut buf).await,
                Err(e) => Err(e),
            }
        }
        Ok(Message::PullRequest {
            manifest,
            deal,
            holders,
        }) => match put_into(&store, &events, market.as_ref(), deal, &manifest).await {
            Ok(into) => serve_pull(peer, &mut stream, into, &node, manifest, holders).await,
            Err(e) => Err(e),
        },
        Ok(Message::QuoteRequest { buyer, root, size }) => match &market {
            Some(market) => match market.quote(buyer.into(), root.into(), size).await {
                Ok(terms) => write_msg(
                    &mut stream,
                    peer,
                    "sending a quote",
                    &Message::Quote(terms),
                    &mut out,
                )
                .await
                .map(|()| None),
                Err(e) => Err(e.into()),
            },
            None => Err(TransferError::Market(MarketError::Deal {
                deal: 0,
                reason: "this provider does not sell storage on chain".into(),
            })),
        },
        Ok(Message::GetRequest { id, first, last }) => {
            let request = GetServe {
                store: &store,
                events: &events,
                pacer: pacer.as_deref(),
            };
            serve_get(peer, &mut stream, request, id, Wanted::Range(first..last)).await
        }
        Ok(Message::SampleRequest { id, chunks }) => {
            let request = GetServe {
                store: &store,
                events: &events,
                pacer: pacer.as_deref(),
            };
            serve_get(peer, &mut stream, request, id, Wanted::Sample(chunks)).await
        }
        Ok(other) => Err(TransferError::Protocol {
            peer,
            what: format!("expected a request, got {}", kind(&other)),
        }),
        Err(e) => Err(e),
    };
    match &result {
        Ok(Some(id)) => Handle::provide_weak(&node.commands, *id).await,
        Ok(None) => {}
        Err(e) => {
            let (code, message) = match e {
                TransferError::Store(
                    StoreError::QuotaExceeded { .. } | StoreError::DiskFull { .. },
                ) => (ErrorCode::QuotaExceeded, e.to_string()),
                TransferError::Store(StoreError::NotFound(_)) => {
                    (ErrorCode::NotFound, e.to_string())
                }
                TransferError::Store(StoreError::Corrupt { .. }) => {
                    (ErrorCode::Corrupt, e.to_string())
                }
                TransferError::Market(MarketError::Deal { .. }) => {
                    (ErrorCode::NoDeal, e.to_string())
                }
                TransferError::Unavailable { .. } => (ErrorCode::Unavailable, e.to_string()),
                e if e.is_violation() => (ErrorCode::Protocol, e.to_string()),
                TransferError::Stream { .. } => (ErrorCode::Internal, String::new()),
                e => (ErrorCode::Internal, e.to_string()),
            };
            if !message.is_empty() {
                let _ = write_msg(
                    &mut stream,
                    peer,
                    "reporting an error",
                    &Message::Error { code, message },
                    &mut out,
                )
                .await;
            }
        }
    }
    let _ = stream.close().await;
    result.map(|_| ())
}

fn kind(m: &Message) -> &'static str {
    match m {
        Message::PutRequest { .. } => "put-request",
        Message::PutReady { .. } => "put-ready",
        Message::Chunk { .. } => "chunk",
        Message::PullRequest { .. } => "pull-request",
        Message::Pulled { .. } => "pulled",
        Message::PutEnd => "put-end",
        Message::PutDone => "put-done",
        Message::GetRequest { .. } => "get-request",
        Message::SampleRequest { .. } => "sample-request",
        Message::Manifest(_) => "manifest",
        Message::End => "end",
        Message::QuoteRequest { .. } => "quote-request",
        Message::Quote(_) => "quote",
        Message::Error { .. } => "error",
    }
}

async fn serve_put(
    peer: PeerId,
    stream: &mut libp2p::Stream,
    into: PutInto<'_>,
    manifest: Manifest,
    buf: &mut Vec<u8>,
) -> Result<Option<ContentId>, TransferError> {
    let id = manifest.id();
    let total = manifest.size();
    let mut upload = into
        .begin(peer, stream, &manifest, "accepting the upload")
        .await?;
    let mut done = held_bytes(&manifest, &missing_runs(upload.have(), manifest.chunks()));
    loop {
        match read_msg(stream, peer, "receiving chunks", buf).await {
            Ok(Message::Chunk { index, data }) => {
                let len = data.len() as u64;
                let (u, r) = blocking(move || {
                    let r = upload.write_chunk(index, &data);
                    (upload, r)
                })
                .await?;
                upload = u;
                if let Err(e) = r {
                    return Err(match e {
                        StoreError::Content(source) => TransferError::Verify {
                            peer,
                            source: Box::new(source),
                        },
                        e => e.into(),
                    });
                }
                done += len;
                let _ = into.events.send(Event::Progress {
                    id,
                    peer,
                    done,
                    total,
                    upload: false,
                });
            }
            Ok(Message::PutEnd) => {
                return into
                    .finish(peer, stream, upload, "confirming the upload")
                    .await;
            }
            Ok(other) => {
                let _ = blocking(move || upload.sync()).await;
                return Err(TransferError::Protocol {
                    peer,
                    what: format!("expected a chunk, got {}", kind(&other)),
                });
            }
            Err(e) => {
                // Keep what arrived for a resume.
                let _ = blocking(move || upload.sync()).await;
                return Err(e);
            }
        }
    }
}

/// Where a put or a pull stores its object, and the deal it is for.
struct PutInto<'a> {
    store: &'a Store,
    events: &'a broadcast::Sender<Event>,
    deal: u64,
    checked: Option<CheckedDeal>,
}

impl PutInto<'_> {
    /// Reserves room for `manifest`'s object (or resumes it) and tells `peer` the chunks held
    /// already (`PutReady`).
    async fn begin(
        &self,
        peer: PeerId,
        stream: &mut libp2p::Stream,
        manifest: &Manifest,
        phase: &'static str,
    ) -> Result<Upload, TransferError> {
        let (store, m, deal) = (self.store.clone(), manifest.clone(), self.deal);
        let upload = blocking(move || store.begin_put(&m, deal)).await??;
        let ready = Message::PutReady {
            have: upload.have().to_vec(),
        };
        write_msg(stream, peer, phase, &ready, &mut Vec::new()).await?;
        Ok(upload)
    }

    /// Makes a complete upload visible once its data's proof root is the deal's (an upload
    /// whose root is not is abandoned, and refused), then confirms it to `peer` (`PutDone`).
    async fn finish(
        self,
        peer: PeerId,
        stream: &mut libp2p::Stream,
        mut upload: Upload,
        phase: &'static str,
    ) -> Result<Option<ContentId>, TransferError> {
        let checked = self.checked;
        let info = blocking(move || {
            if let Some(checked) = checked {
                let commitment = upload.commitment()?;
                if commitment.root != checked.root {
                    upload.abandon()?;
                    return Ok(Err(MarketError::Deal {
                        deal: checked.deal,
                        reason: format!(
                            "the data's proof root {} is not the deal's root {}",
                            commitment.root, checked.root
                        ),
                    }));
                }
            }
            upload.finish().map(Ok)
        })
        .await???;
        write_msg(stream, peer, phase, &Message::PutDone, &mut Vec::new()).await?;
        let _ = self.events.send(Event::Stored {
            id: info.id,
            size: info.size,
            peer,
        });
        Ok(Some(info.id))
    }
}

/// Where a put or a pull of `manifest`'s object under `deal` goes, once a provider selling on
/// `market` found the deal funded and naming it ([`Market::check_deal`]).
async fn put_into<'a>(
    store: &'a Store,
    events: &'a broadcast::Sender<Event>,
    market: Option<&Market>,
    deal: u64,
    manifest: &Manifest,
) -> Result<PutInto<'a>, TransferError> {
    let checked = match market {
        Some(market) => Some(market.check_deal(deal, manifest.size()).await?),
        None => None,
    };
    Ok(PutInto {
        store,
        events,
        deal,
        checked,
    })
}

/// Serves a `PullRequest`: the provider fetches the object from `holders` itself, every chunk
/// verified against `manifest` (chunks it holds already are kept, not fetched), reports its
/// progress to the buyer at least every [`wire::PULL_PROGRESS_EVERY`], and answers `PutDone`
/// once the object is stored as an upload's would be (fsynced, its proof root the deal's).
/// When no holder serves it, the chunks fetched are kept for a resume and the buyer is told
/// ([`ErrorCode::Unavailable`]).
async fn serve_pull(
    peer: PeerId,
    stream: &mut libp2p::Stream,
    into: PutInto<'_>,
    node: &WeakHandle,
    manifest: Manifest,
    holders: Vec<Holder>,
) -> Result<Option<ContentId>, TransferError> {
    let handle = node
        .upgrade()
        .ok_or_else(|| TransferError::Task("the node is stopping".into()))?;
    let id = manifest.id();
    let upload = into
        .begin(peer, stream, &manifest, "accepting the pull")
        .await?;
    let missing = missing_runs(upload.have(), manifest.chunks());
    let mut out = Vec::new();
    let held = held_bytes(&manifest, &missing);
    let manifest = Arc::new(manifest);
    let upload = Arc::new(std::sync::Mutex::new(Some(upload)));
    // Bytes fetched so far, counted by the download as it keeps them.
    let got = AtomicU64::new(0);
    let sink: Sink = {
        let upload = Arc::clone(&upload);
        Arc::new(move |from, index, data: &[u8]| {
            let mut upload = upload
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let Some(upload) = upload.as_mut() else {
                return Err(TransferError::Task("the pull was over".into()));
            };
            upload.write_chunk(index, data).map_err(|e| match e {
                StoreError::Content(source) => TransferError::Verify {
                    peer: from,
                    source: Box::new(source),
                },
                e => e.into(),
            })?;
            Ok(data.len() as u64)
        })
    };
    let pull = async {
        if missing.is_empty() {
            return Ok(());
        }
        // Each holder joins as soon as it is reached and answers: one that cannot be reached
        // holds nothing back while its dial times out.
        let (reached, later) = mpsc::channel(holders.len().max(1));
        let reaching = reach(&handle, &holders, reached);
        let segments = pull_spans(&missing)
            .into_iter()
            .flat_map(|run| download_segments(run, holders.len()))
            .collect();
        let to_get = manifest.size() - held;
        let client = Client::new(handle.clone());
        let mut candidates = Candidates::new(
            &client,
            id,
            Holders {
                known: Vec::new(),
                later: Some(later),
            },
        );
        let fetch = client.fetch(
            &manifest,
            segments,
            (&sink, &got, to_get),
            None,
            &mut candidates,
        );
        tokio::pin!(fetch);
        let fetched = tokio::select! {
            fetched = &mut fetch => fetched,
            () = reaching => fetch.await,
        };
        let (served_by, failures) = fetched.map_err(|err| match err {
            TransferError::Unavailable { tried: 0, .. } => TransferError::Unavailable {
                id,
                tried: holders.len(),
                last: "none of them could be dialled".into(),
            },
            err => err,
        })?;
        tracing::info!(%id, buyer = %peer, ?served_by, failed = failures.len(), "copy pulled");
        Ok(())
    };
    // The buyer hears from this provider while it pulls: a stream silent for IDLE_TIMEOUT is
    // given up.
    let mut pull = Box::pin(pull);
    let mut report = tokio::time::interval_at(
        Instant::now() + wire::PULL_PROGRESS_EVERY,
        wire::PULL_PROGRESS_EVERY,
    );
    let pulled = loop {
        tokio::select! {
            pulled = &mut pull => break pulled,
            _ = report.tick() => {
                let done = held + got.load(Ordering::Relaxed);
                let progress = Message::Pulled { done };
                if let Err(e) = write_msg(stream, peer, "reporting the pull", &progress, &mut out).await {
                    break Err(e);
                }
            }
        }
    };
    // Stopped, if the buyer left: no chunk is fetched after this.
    drop(pull);
    let upload = upload
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    let Some(mut upload) = upload else {
        return Err(TransferError::Task("the pull lost its upload".into()));
    };
    if let Err(e) = pulled {
        // Keep what was verified for a resume, by a pull or an upload.
        let _ = blocking(move || upload.sync()).await;
        return Err(e);
    }
    into.finish(peer, stream, upload, "confirming the pull")
        .await
}

/// Sends each of `holders` that this node reaches to `reached`, as soon as it is reached: one
/// with addresses once one of them answered (all dialled at once, so a holder takes at most one
/// dial timeout), one without at once (a stream to it dials whatever address the node knows).
/// Itself is left out. Returns once every dial ended, or `reached` is dropped.
async fn reach(handle: &Handle, holders: &[Holder], reached: mpsc::Sender<PeerId>) {
    let me = handle.peer_id();
    let mut tries: FuturesUnordered<_> = holders
        .iter()
        .filter(|holder| holder.peer != me)
        .map(|holder| async move {
            if holder.addrs.is_empty() {
                return Some(holder.peer);
            }
            // An address naming another peer is no address of this holder.
            let dials: Vec<_> = holder
                .addrs
                .iter()
                .filter_map(|addr| addr.clone().with_p2p(holder.peer).ok())
                .map(|addr| Box::pin(handle.dial(addr)))
                .collect();
            if dials.is_empty() {
                return None;
            }
            match futures::future::select_ok(dials).await {
                Ok(_) => Some(holder.peer),
                Err(e) => {
                    tracing::info!(peer = %holder.peer, error = %e, "cannot reach a holder to pull from");
                    None
                }
            }
        })
        .collect();
    while let Some(tried) = tries.next().await {
        if let Some(peer) = tried
            && reached.send(peer).await.is_err()
        {
            return;
        }
    }
}

/// Bytes chunks `run` hold in `manifest`'s object.
fn run_bytes(manifest: &Manifest, run: &Range<u64>) -> u64 {
    if run.is_empty() {
        return 0;
    }
    match (
        manifest.chunk_range(run.start),
        manifest.chunk_range(run.end - 1),
    ) {
        (Ok(first), Ok(last)) => last.end - first.start,
        _ => 0,
    }
}

/// Bytes of `manifest`'s object held, given the runs of chunks `missing`.
fn held_bytes(manifest: &Manifest, missing: &[Range<u64>]) -> u64 {
    let lacking: u64 = missing.iter().map(|run| run_bytes(manifest, run)).sum();
    manifest.size() - lacking
}

/// The chunk ranges a pull fetches, given the runs of chunks it lacks: each run, or, for more
/// runs than [`MAX_SEGMENTS`] (which a resume rarely leaves), one span from the first to the
/// last, so a holder answers a few requests (each with the manifest), not one per run; chunks
/// held in the span are verified and skipped.
fn pull_spans(missing: &[Range<u64>]) -> Vec<Range<u64>> {
    match (missing.first(), missing.last()) {
        (Some(first), Some(last)) if missing.len() > MAX_SEGMENTS as usize => {
            std::iter::once(first.start..last.end).collect()
        }
        _ => missing.to_vec(),
    }
}

/// The runs of consecutive chunks below `chunks` whose bit is clear in `have`.
fn missing_runs(have: &[u8], chunks: u64) -> Vec<Range<u64>> {
    let mut runs: Vec<Range<u64>> = Vec::new();
    for index in (0..chunks).filter(|&index| !wire::bit(have, index)) {
        match runs.last_mut() {
            Some(run) if run.end == index => run.end += 1,
            _ => runs.push(index..index + 1),
        }
    }
    runs
}

/// What serving a download uses of the provider's state.
struct GetServe<'a> {
    store: &'a Store,
    events: &'a broadcast::Sender<Event>,
    pacer: Option<&'a std::sync::Mutex<Pacer>>,
}

/// The chunks a download asks for.
#[derive(Debug, Clone)]
enum Wanted {
    /// A `GetRequest`'s range (its end clipped to the object), after the manifest.
    Range(Range<u64>),
    /// A `SampleRequest`'s chunks (each in the object), without the manifest.
    Sample(Vec<u64>),
}

impl Wanted {
    fn iter(&self) -> Box<dyn Iterator<Item = u64> + Send + '_> {
        match self {
            Self::Range(range) => Box::new(range.clone()),
            Self::Sample(chunks) => Box::new(chunks.iter().copied()),
        }
    }

    /// Bytes the chunks hold in `manifest`'s object.
    fn bytes(&self, manifest: &Manifest) -> u64 {
        let len = |i| manifest.chunk_range(i).map_or(0, |r| r.end - r.start);
        match self {
            Self::Range(range) => run_bytes(manifest, range),
            Self::Sample(chunks) => chunks.iter().map(|&i| len(i)).sum(),
        }
    }
}

async fn serve_get(
    peer: PeerId,
    stream: &mut libp2p::Stream,
    GetServe {
        store,
        events,
        pacer,
    }: GetServe<'_>,
    id: ContentId,
    wanted: Wanted,
) -> Result<Option<ContentId>, TransferError> {
    let s = store.clone();
    let mut reader = match blocking(move || s.reader(&id)).await? {
        Ok(r) => r,
        Err(StoreError::Corrupt { id, chunk }) => {
            let _ = events.send(Event::Corrupt { id, chunk });
            return Err(StoreError::Corrupt { id, chunk }.into());
        }
        Err(e) => return Err(e.into()),
    };
    let manifest = reader.manifest().clone();
    let chunks = manifest.chunks();
    let wanted = match wanted {
        Wanted::Range(range) => Wanted::Range(range.start..range.end.min(chunks)),
        Wanted::Sample(list) => {
            if let Some(beyond) = list.iter().find(|&&i| i >= chunks) {
                return Err(TransferError::Protocol {
                    peer,
                    what: format!("asked for chunk {beyond} of an object of {chunks} chunks"),
                });
            }
            Wanted::Sample(list)
        }
    };
    let span = wanted.bytes(&manifest);
    let mut sent = 0u64;
    let mut out = Vec::new();
    if let Wanted::Range(_) = wanted {
        write_msg(
            stream,
            peer,
            "sending the manifest",
            &Message::Manifest(manifest.clone()),
            &mut out,
        )
        .await?;
    }
    // A blocking reader reads and checks chunks ahead of the sender (at most READ_AHEAD
    // queued), so disk reads and hashing overlap encryption and sending.
    let (tx, mut rx) = mpsc::channel(READ_AHEAD);
    let to_read = wanted.clone();
    let read_ahead = tokio::task::spawn_blocking(move || {
        for index in to_read.iter() {
            let chunk = reader.read_chunk(index);
            let failed = chunk.is_err();
            if tx.blocking_send((index, chunk)).is_err() || failed {
                break;
            }
        }
    });
    // Once `rx` is dropped (an error below), the reader's next send fails and it stops.
    drop(read_ahead);
    for index in wanted.iter() {
        let Some((at, chunk)) = rx.recv().await else {
            return Err(TransferError::Task("the chunk reader stopped".into()));
        };
        let data = match chunk {
            Ok(data) if at == index => data,
            Ok(_) => {
                return Err(TransferError::Task(
                    "the chunk reader skipped a chunk".into(),
                ));
            }
            Err(StoreError::Corrupt { id, chunk }) => {
                let _ = events.send(Event::Corrupt { id, chunk });
                return Err(StoreError::Corrupt { id, chunk }.into());
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(pacer) = pacer {
            let wait = pacer
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .admit(Instant::now(), data.len() as u64);
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
        let len = data.len() as u64;
        write_msg(
            stream,
            peer,
            SERVING_CHUNKS,
            &Message::Chunk { index, data },
            &mut out,
        )
        .await?;
        sent += len;
        let _ = events.send(Event::Progress {
            id,
            peer,
            done: sent,
            total: span,
            upload: true,
        });
    }
    write_msg(stream, peer, "ending the download", &Message::End, &mut out).await?;
    // A request for no chunks is a buyer reading the manifest alone: nothing was served.
    if sent > 0 {
        let _ = events.send(Event::Served {
            id,
            peer,
            bytes: sent,
        });
    }
    Ok(None)
}

/// The result of storing one copy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CopyReport {
    /// The provider.
    #[serde(serialize_with = "ser_peer")]
    pub peer: PeerId,
    /// Chunks sent in the attempt that completed.
    pub sent_chunks: u64,
    /// Chunks the provider already held (resume).
    pub skipped_chunks: u64,
    /// Chunks the provider fetched from other holders itself ([`Source::Pull`]).
    #[serde(skip_serializing_if = "is_zero")]
    pub pulled_chunks: u64,
    /// Bytes of the object this node fetched from the holders, every chunk verified, to send
    /// what the provider could not pull ([`Fallback::fetch_to`]), for this provider or an
    /// earlier one of the same copy.
    #[serde(skip_serializing_if = "is_zero")]
    pub fetched_bytes: u64,
    /// The on-chain deal the copy is stored under, when it was bought on a market.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deal: Option<u64>,
    /// When that deal stops being paid (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid_until: Option<u64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn ser_peer<S: serde::Serializer>(p: &PeerId, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(p)
}

/// The result of [`Client::put_file`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct PutReport {
    /// The content id.
    pub id: ContentId,
    /// Object size.
    pub size: u64,
    /// One entry per copy stored.
    pub copies: Vec<CopyReport>,
}

/// The result of [`Client::get`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct GetReport {
    /// Bytes written.
    pub bytes: u64,
    /// Holders that served chunks, in order.
    #[serde(serialize_with = "ser_peers")]
    pub served_by: Vec<PeerId>,
    /// Holders that failed during the download, each with the chunk its part went on from on
    /// the next holder (chunks verified before the failure are kept, not fetched again).
    pub failures: Vec<HolderFailure>,
    /// The manifest every chunk was verified against (the whole object's, for a range too).
    #[serde(skip)]
    pub manifest: Manifest,
}

/// A holder that failed during [`Client::get`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct HolderFailure {
    /// The holder.
    #[serde(serialize_with = "ser_peer")]
    pub peer: PeerId,
    /// The first chunk of its part not yet verified when it failed.
    pub next_chunk: u64,
    /// What went wrong.
    pub error: String,
}

fn ser_peers<S: serde::Serializer>(p: &[PeerId], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(p.iter().map(|p| p.to_string()))
}

/// Computes the manifest of a file, streaming it once.
pub fn manifest_of_file(path: &Path) -> Result<Manifest, TransferError> {
    let mut builder = ManifestBuilder::default();
    read_file(path, |buf| {
        builder.update(buf);
        Ok(())
    })?;
    builder.finish().map_err(|source| TransferError::Content {
        path: path.to_owned(),
        source,
    })
}

/// The manifest and the on-chain proof commitment of the file at `path`, in one streaming pass
/// (what a buyer needs before it opens a deal), the keccak tree hashed on several cores as the
/// prover does.
pub fn digest_file(path: &Path) -> Result<(Manifest, chain::proof::Commitment), TransferError> {
    let size = std::fs::metadata(path)
        .map_err(|source| TransferError::File {
            phase: "stat",
            path: path.to_owned(),
            source,
        })?
        .len();
    let content = |source| TransferError::Content {
        path: path.to_owned(),
        source,
    };
    let hasher =
        chain::proof::PieceHasher::new(size).map_err(|_| content(ContentError::Size(size)))?;
    let mut builder = ManifestBuilder::default();
    let (commitment, _) = crate::store::hash_piece_and(path, hasher, |buf| builder.update(buf))
        .map_err(|source| TransferError::File {
            phase: "read",
            path: path.to_owned(),
            // A size mismatch: the file grew or shrank after it was measured.
            source: if source.kind() == std::io::ErrorKind::InvalidData {
                std::io::Error::other(format!("the file changed while being read: {source}"))
            } else {
                source
            },
        })?;
    let manifest = builder.finish().map_err(content)?;
    Ok((manifest, commitment))
}

/// Feeds the file at `path` to `f` in [`READ_BUF`] pieces.
fn read_file(
    path: &Path,
    mut f: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<(), TransferError> {
    use std::io::Read as _;
    let file_err = |phase| {
        let path = path.to_owned();
        move |source| TransferError::File {
            phase,
            path,
            source,
        }
    };
    let mut file = File::open(path).map_err(file_err("open"))?;
    let mut buf = vec![0u8; READ_BUF];
    loop {
        let n = file.read(&mut buf).map_err(file_err("read"))?;
        if n == 0 {
            return Ok(());
        }
        f(&buf[..n]).map_err(file_err("read"))?;
    }
}

fn read_at(file: &File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    #[cfg(unix)]
    std::os::unix::fs::FileExt::read_exact_at(file, &mut buf, offset)?;
    #[cfg(not(unix))]
    {
        use std::io::{Read as _, Seek as _};
        let mut f = file;
        f.seek(std::io::SeekFrom::Start(offset))?;
        f.read_exact(&mut buf)?;
    }
    Ok(buf)
}

/// Where a download's chunks go: given the holder that sent it, a chunk's index and its bytes
/// (not yet verified), it checks them against the manifest and keeps them, returning the bytes
/// kept. Called on a blocking thread.
type Sink = Arc<dyn Fn(PeerId, u64, &[u8]) -> Result<u64, TransferError> + Send + Sync>;

/// Checks chunk `index` against the manifest and writes the part of it inside `bytes` to
/// `file` (which holds `bytes` from offset 0); returns the bytes of the range done so far.
fn verify_and_write(
    manifest: &Manifest,
    index: u64,
    data: &[u8],
    bytes: &Range<u64>,
    file: &File,
    path: &Path,
    peer: PeerId,
) -> Result<u64, TransferError> {
    let verify = |source| TransferError::Verify {
        peer,
        source: Box::new(source),
    };
    manifest.verify_chunk(index, data).map_err(verify)?;
    let chunk = manifest.chunk_range(index).map_err(verify)?;
    let lo = chunk.start.max(bytes.start);
    let hi = chunk.end.min(bytes.end);
    let slice = &data[(lo - chunk.start) as usize..(hi - chunk.start) as usize];
    write_at(file, lo - bytes.start, slice).map_err(|source| TransferError::File {
        phase: "write",
        path: path.to_owned(),
        source,
    })?;
    Ok(hi - lo)
}

fn write_at(file: &File, offset: u64, data: &[u8]) -> std::io::Result<()> {
    #[cfg(unix)]
    std::os::unix::fs::FileExt::write_all_at(file, data, offset)?;
    #[cfg(not(unix))]
    {
        use std::io::{Seek as _, Write as _};
        let mut f = file;
        f.seek(std::io::SeekFrom::Start(offset))?;
        f.write_all(data)?;
    }
    Ok(())
}

/// Where an upload's chunks come from.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// The file at this path.
    File(&'a Path),
    /// Nowhere: the provider holds every chunk already (a deal renewed with the provider that
    /// stores the object).
    Held,
    /// Other providers: the provider fetches the object from these holders itself
    /// ([`Client::pull_to`]). When none of them serves it, the chunks still missing are sent
    /// as `or_else` says, under the same deal.
    Pull {
        /// Where the provider fetches the object.
        holders: &'a [Holder],
        /// What is sent should the holders serve the provider none of it.
        or_else: Fallback<'a>,
    },
}

/// Where the chunks a provider could not pull ([`Source::Pull`]) come from: each is sent under
/// the deal the pull was for, so a failed pull costs no deal. With neither, the upload fails as
/// the pull did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fallback<'a> {
    /// The file the object was stored from: the rest is sent from it, each chunk checked
    /// against the manifest before it goes out.
    pub file: Option<&'a Path>,
    /// Where this node fetches the object from the holders itself, every chunk verified,
    /// should there be no `file` or should it have changed since it was hashed: a holder may
    /// serve this node and not the provider (one that cannot reach it, or refuses it). The
    /// rest is sent from there. A file already there was fetched whole for an earlier
    /// provider (a download is written beside it and renamed once verified) and is not
    /// fetched again.
    pub fetch_to: Option<&'a Path>,
}

/// The buyer's side of the protocol.
#[derive(Debug, Clone)]
pub struct Client {
    handle: Handle,
}

impl Client {
    /// A client over a running node.
    pub fn new(handle: Handle) -> Self {
        Self { handle }
    }

    async fn open(&self, peer: PeerId) -> Result<libp2p::Stream, TransferError> {
        // A peer reached through a relay may dial back directly, or punch a hole with this node:
        // the stream then skips the relay.
        self.handle
            .route(peer)
            .await
            .map_err(|e| TransferError::Open {
                peer,
                reason: e.to_string(),
            })?;
        let mut control = self.handle.control();
        control
            .open_stream(peer, PROTOCOL)
            .await
            .map_err(|e| TransferError::Open {
                peer,
                reason: e.to_string(),
            })
    }

    /// Opens a stream to `peer`, sends `request` and reads the first answer.
    ///
    /// A stream that fails before any answer is retried (up to [`REQUEST_ATTEMPTS`] times,
    /// pausing longer each time): libp2p-stream hands a provider one new stream at a time and
    /// drops (resets) any that arrive before the last was taken, which happens under load. An
    /// answer, a timeout, a refusal or an unreachable peer is returned as it is.
    async fn request(
        &self,
        peer: PeerId,
        request: &Message,
        phase: &'static str,
        buf: &mut Vec<u8>,
    ) -> Result<(libp2p::Stream, Message), TransferError> {
        let mut out = Vec::new();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let result = async {
                let mut stream = self.open(peer).await?;
                write_msg(&mut stream, peer, phase, request, &mut out).await?;
                let first = read_msg(&mut stream, peer, phase, buf).await?;
                Ok((stream, first))
            }
            .await;
            match result {
                Err(TransferError::Stream { .. }) if attempt < REQUEST_ATTEMPTS => {
                    tracing::debug!(%peer, attempt, phase, "stream reset before an answer; retrying");
                    tokio::time::sleep(REQUEST_RETRY_PAUSE * attempt).await;
                }
                other => return other,
            }
        }
    }

    /// Uploads one copy of the file at `path` (whose manifest is `manifest`) to `peer`,
    /// sending only the chunks the provider does not already hold.
    pub async fn put_to(
        &self,
        peer: PeerId,
        path: &Path,
        manifest: &Manifest,
        deal: u64,
    ) -> Result<CopyReport, TransferError> {
        self.put_from(peer, Source::File(path), manifest, deal)
            .await
    }

    /// Uploads one copy of the object `manifest` describes to `peer` under `deal`, its chunks
    /// read from `source`; only those the provider does not hold already are sent. With
    /// [`Source::Held`], a provider lacking any chunk is [`TransferError::NotHeld`], and nothing
    /// is sent. With [`Source::Pull`], the provider fetches them itself; should no holder serve
    /// it ([`ErrorCode::Unavailable`]), the rest is sent as its [`Fallback`] says.
    pub async fn put_from(
        &self,
        peer: PeerId,
        source: Source<'_>,
        manifest: &Manifest,
        deal: u64,
    ) -> Result<CopyReport, TransferError> {
        let (holders, or_else) = match source {
            Source::File(path) => return self.push(peer, Some(path), manifest, deal).await,
            Source::Held => return self.push(peer, None, manifest, deal).await,
            Source::Pull { holders, or_else } => (holders, or_else),
        };
        let unavailable = match self.pull_to(peer, manifest, deal, holders).await {
            Err(
                e @ TransferError::Remote {
                    code: ErrorCode::Unavailable,
                    ..
                },
            ) => e,
            pulled => return pulled,
        };
        let fetch_to = match or_else {
            Fallback {
                file: None,
                fetch_to: None,
            } => return Err(unavailable),
            Fallback {
                file: Some(original),
                fetch_to,
            } => {
                tracing::info!(%peer, deal, error = %unavailable, "the provider could not pull the copy; sending the rest from the file");
                match (
                    self.push(peer, Some(original), manifest, deal).await,
                    fetch_to,
                ) {
                    (Err(changed @ TransferError::FileChanged { .. }), Some(path)) => {
                        tracing::info!(%peer, deal, error = %changed, "fetching the copy from the holders to send the rest");
                        path
                    }
                    (pushed, _) => return pushed,
                }
            }
            Fallback {
                file: None,
                fetch_to: Some(path),
            } => {
                tracing::info!(%peer, deal, error = %unavailable, "the provider could not pull the copy; fetching it from the holders to send the rest");
                path
            }
        };
        let fetched_bytes = self.fetch_once(manifest.id(), fetch_to, holders).await?;
        let copy = self.push(peer, Some(fetch_to), manifest, deal).await?;
        Ok(CopyReport {
            fetched_bytes,
            ..copy
        })
    }

    /// Fetches the whole object `id` from `holders` into `path` ([`Fallback::fetch_to`]), unless
    /// an earlier call did; its size.
    async fn fetch_once(
        &self,
        id: ContentId,
        path: &Path,
        holders: &[Holder],
    ) -> Result<u64, TransferError> {
        if let Ok(meta) = std::fs::metadata(path)
            && meta.is_file()
        {
            return Ok(meta.len());
        }
        let peers: Vec<PeerId> = holders.iter().map(|holder| holder.peer).collect();
        let report = self.get_to(id, None, path, peers).await?;
        Ok(report.bytes)
    }

    /// Has `peer` store a copy of the object `manifest` describes under `deal`, fetched by the
    /// provider itself from `holders` (at most [`wire::MAX_PULL_HOLDERS`], tried in order;
    /// [`Message::PullRequest`]): nothing is sent from here. The provider's progress reports
    /// come out as [`Event::Pulling`]. When no holder serves it, the provider keeps the
    /// chunks it verified (a pull or an upload under the same deal resumes from them) and
    /// answers [`ErrorCode::Unavailable`].
    pub async fn pull_to(
        &self,
        peer: PeerId,
        manifest: &Manifest,
        deal: u64,
        holders: &[Holder],
    ) -> Result<CopyReport, TransferError> {
        let id = manifest.id();
        if holders.is_empty() {
            return Err(TransferError::Unavailable {
                id,
                tried: 0,
                last: "no holder to pull from".into(),
            });
        }
        let mut buf = Vec::new();
        let request = Message::PullRequest {
            manifest: manifest.clone(),
            deal,
            holders: holders
                .iter()
                .take(wire::MAX_PULL_HOLDERS)
                .cloned()
                .collect(),
        };
        let (mut stream, answer) = self
            .request(peer, &request, "waiting for acceptance", &mut buf)
            .await?;
        let have = match answer {
            Message::PutReady { have } => have,
            other => return Err(unexpected(peer, "put-ready", other)),
        };
        let held = (0..manifest.chunks())
            .filter(|&index| wire::bit(&have, index))
            .count() as u64;
        loop {
            match read_msg(&mut stream, peer, "waiting for the pull", &mut buf).await? {
                Message::Pulled { done } => {
                    let _ = self.handle.events().send(Event::Pulling {
                        id,
                        peer,
                        done: done.min(manifest.size()),
                        total: manifest.size(),
                    });
                }
                Message::PutDone => {
                    let _ = self.handle.events().send(Event::Pulling {
                        id,
                        peer,
                        done: manifest.size(),
                        total: manifest.size(),
                    });
                    break;
                }
                other => return Err(unexpected(peer, "the pull's progress", other)),
            }
        }
        let _ = stream.close().await;
        Ok(CopyReport {
            peer,
            sent_chunks: 0,
            skipped_chunks: held,
            pulled_chunks: manifest.chunks() - held,
            fetched_bytes: 0,
            deal: None,
            paid_until: None,
        })
    }

    /// [`Client::put_from`] for a file, or for chunks held (`None`).
    async fn push(
        &self,
        peer: PeerId,
        file: Option<&Path>,
        manifest: &Manifest,
        deal: u64,
    ) -> Result<CopyReport, TransferError> {
        let opened = match file {
            Some(path) => Some((
                path,
                std::sync::Arc::new(File::open(path).map_err(|source| TransferError::File {
                    phase: "open",
                    path: path.to_owned(),
                    source,
                })?),
            )),
            None => None,
        };
        let mut buf = Vec::new();
        let mut out = Vec::new();
        let request = Message::PutRequest {
            manifest: manifest.clone(),
            deal,
        };
        let (mut stream, answer) = self
            .request(peer, &request, "waiting for acceptance", &mut buf)
            .await?;
        let have = match answer {
            Message::PutReady { have } => have,
            other => return Err(unexpected(peer, "put-ready", other)),
        };
        let id = manifest.id();
        let total = manifest.size();
        let Some((path, file)) = opened else {
            let missing = (0..manifest.chunks())
                .filter(|&index| !wire::bit(&have, index))
                .count() as u64;
            if missing > 0 {
                let _ = stream.close().await;
                return Err(TransferError::NotHeld {
                    peer,
                    missing,
                    chunks: manifest.chunks(),
                });
            }
            return self.finish_put(peer, stream, manifest.chunks()).await;
        };
        let mut done = 0;
        let mut sent = 0;
        let mut skipped = 0;
        for index in 0..manifest.chunks() {
            let range = manifest
                .chunk_range(index)
                .map_err(|source| TransferError::Verify {
                    peer,
                    source: Box::new(source),
                })?;
            let len = range.end - range.start;
            if wire::bit(&have, index) {
                skipped += 1;
                done += len;
                continue;
            }
            let f = file.clone();
            let data = blocking(move || read_at(&f, range.start, len as usize))
                .await?
                .map_err(|source| TransferError::File {
                    phase: "read",
                    path: path.to_owned(),
                    source,
                })?;
            // A file changed since it was hashed is caught here, not by the provider, which
            // refuses the chunk and counts it against this node.
            if manifest.verify_chunk(index, &data).is_err() {
                return Err(TransferError::FileChanged {
                    path: path.to_owned(),
                    index,
                });
            }
            write_msg(
                &mut stream,
                peer,
                "sending chunks",
                &Message::Chunk { index, data },
                &mut out,
            )
            .await?;
            sent += 1;
            done += len;
            let _ = self.handle.events().send(Event::Progress {
                id,
                peer,
                done,
                total,
                upload: true,
            });
        }
        let report = self.finish_put(peer, stream, skipped).await?;
        Ok(CopyReport {
            sent_chunks: sent,
            ..report
        })
    }

    /// Ends an upload whose chunks were sent (`skipped` of them held already): waits for the
    /// provider's confirmation that the object is stored.
    async fn finish_put(
        &self,
        peer: PeerId,
        mut stream: libp2p::Stream,
        skipped: u64,
    ) -> Result<CopyReport, TransferError> {
        let (mut buf, mut out) = (Vec::new(), Vec::new());
        write_msg(&mut stream, peer, "finishing", &Message::PutEnd, &mut out).await?;
        match read_msg(&mut stream, peer, "waiting for confirmation", &mut buf).await? {
            Message::PutDone => {}
            other => return Err(unexpected(peer, "put-done", other)),
        }
        let _ = stream.close().await;
        Ok(CopyReport {
            peer,
            sent_chunks: 0,
            skipped_chunks: skipped,
            pulled_chunks: 0,
            fetched_bytes: 0,
            deal: None,
            paid_until: None,
        })
    }

    /// Stores `copies` copies of the file at `path` on distinct providers from `candidates`
    /// (tried in order; a provider that fails is retried once with resume, then replaced).
    pub async fn put_file(
        &self,
        path: &Path,
        copies: usize,
        candidates: Vec<PeerId>,
    ) -> Result<PutReport, TransferError> {
        let p = path.to_owned();
        let manifest = blocking(move || manifest_of_file(&p)).await??;
        let mut queue = candidates.into_iter();
        let mut running = FuturesUnordered::new();
        let mut stored = Vec::new();
        let mut tried = 0;
        let mut last = String::from("no provider known");
        let attempt = |peer: PeerId| {
            let manifest = manifest.clone();
            async move {
                let mut result = self.put_to(peer, path, &manifest, 0).await;
                for _ in 1..ATTEMPTS_PER_PROVIDER {
                    match &result {
                        Err(TransferError::Stream { .. } | TransferError::Timeout { .. }) => {
                            tracing::info!(%peer, "upload interrupted; resuming");
                            result = self.put_to(peer, path, &manifest, 0).await;
                        }
                        _ => break,
                    }
                }
                (peer, result)
            }
        };
        for peer in queue.by_ref().take(copies) {
            tried += 1;
            running.push(attempt(peer));
        }
        while let Some((peer, result)) = running.next().await {
            match result {
                Ok(report) => stored.push(report),
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "provider failed; trying another");
                    last = e.to_string();
                    if let Some(next) = queue.next() {
                        tried += 1;
                        running.push(attempt(next));
                    }
                }
            }
        }
        if stored.len() < copies {
            return Err(TransferError::NotEnoughCopies {
                wanted: copies,
                stored: stored.len(),
                id: manifest.id(),
                holders: stored.iter().map(|copy| copy.peer).collect(),
                tried,
                last,
            });
        }
        Ok(PutReport {
            id: manifest.id(),
            size: manifest.size(),
            copies: stored,
        })
    }

    /// Asks `peer` for a signed quote to store a piece (`commitment`) for `buyer`.
    pub async fn quote(
        &self,
        peer: PeerId,
        buyer: [u8; 20],
        commitment: &chain::proof::Commitment,
    ) -> Result<wire::QuoteTerms, TransferError> {
        let mut buf = Vec::new();
        let request = Message::QuoteRequest {
            buyer,
            root: commitment.root.0,
            size: commitment.size,
        };
        let (mut stream, answer) = self
            .request(peer, &request, "requesting a quote", &mut buf)
            .await?;
        let _ = stream.close().await;
        match answer {
            Message::Quote(terms) => Ok(terms),
            other => Err(unexpected(peer, "a quote", other)),
        }
    }

    /// Fetches and checks the manifest of `id` from `peer`.
    async fn manifest_from(&self, peer: PeerId, id: ContentId) -> Result<Manifest, TransferError> {
        let mut buf = Vec::new();
        let request = Message::GetRequest {
            id,
            first: 0,
            last: 0,
        };
        let (mut stream, answer) = self
            .request(peer, &request, "requesting the manifest", &mut buf)
            .await?;
        let manifest = expect_manifest(answer, peer, id)?;
        let _ = stream.close().await;
        Ok(manifest)
    }

    /// Fetches `samples` chunks of `id` from `peer` (at most [`wire::MAX_SAMPLE_CHUNKS`]),
    /// picked at random (every chunk when it has no more), each verified against the manifest;
    /// returns the manifest and the bytes fetched. It checks that a holder still serves an
    /// object without downloading all of it: two requests, the manifest once, then the chunks.
    pub async fn sample(
        &self,
        peer: PeerId,
        id: ContentId,
        samples: u64,
    ) -> Result<(Manifest, u64), TransferError> {
        let manifest = self.manifest_from(peer, id).await?;
        let mut seed = [0u8; 8];
        let mut random = || {
            // No randomness from the OS: a predictable sample is still a sample.
            let _ = getrandom::fill(&mut seed);
            u64::from_le_bytes(seed)
        };
        let samples = samples.min(wire::MAX_SAMPLE_CHUNKS as u64);
        let chunks = pick_samples(manifest.chunks(), samples, &mut random);
        let mut fetched = 0;
        if chunks.is_empty() {
            return Ok((manifest, fetched));
        }
        let mut buf = Vec::new();
        let request = Message::SampleRequest {
            id,
            chunks: chunks.clone(),
        };
        let (mut stream, mut answer) = self
            .request(peer, &request, "requesting sample chunks", &mut buf)
            .await?;
        for index in chunks {
            let data = match answer {
                Message::Chunk { index: got, data } if got == index => data,
                other => return Err(unexpected(peer, &format!("chunk {index}"), other)),
            };
            manifest
                .verify_chunk(index, &data)
                .map_err(|source| TransferError::Verify {
                    peer,
                    source: Box::new(source),
                })?;
            fetched += data.len() as u64;
            answer = read_msg(&mut stream, peer, "reading sample chunks", &mut buf).await?;
        }
        match answer {
            Message::End => {}
            other => return Err(unexpected(peer, "the end of the sample", other)),
        }
        let _ = stream.close().await;
        Ok((manifest, fetched))
    }

    /// Downloads the chunks of `lane` from `peer` into `sink`, from `*next` (its start) to its
    /// end, advancing `*next` past every verified chunk (so a failure leaves it at the first
    /// chunk still needed) and adding the bytes kept to `written`, the whole download's count of
    /// `total`. The lane's end may be pulled in while this runs (another holder took the rest,
    /// [`Work::take`]): the stream is then dropped once the chunks up to it arrived.
    async fn chunks_from(
        &self,
        peer: PeerId,
        manifest: &Arc<Manifest>,
        (next, lane): (&mut u64, &Lane),
        sink: &Sink,
        (written, total): (&AtomicU64, u64),
    ) -> Result<(), TransferError> {
        let id = manifest.id();
        let mut buf = Vec::new();
        // Asked for up to the lane's end now; it may only come nearer.
        let end = lane.end();
        if end <= *next {
            return Ok(());
        }
        let request = Message::GetRequest {
            id,
            first: *next,
            last: end,
        };
        let asking = self.request(peer, &request, "requesting chunks", &mut buf);
        let Some(asked) = lane.unless_cut(*next, end, asking).await else {
            // Taken whole by another holder before this one answered.
            return Ok(());
        };
        let (mut stream, answer) = asked?;
        expect_manifest(answer, peer, id)?;
        // One blocking worker verifies and writes chunks (up to VERIFY_AHEAD queued) while this
        // task keeps reading frames, so the stream is drained at the speed of the network.
        // `*next` moves past a chunk only once the worker has verified and written it.
        let (chunks, mut queue) = mpsc::channel::<(u64, Vec<u8>)>(VERIFY_AHEAD);
        // Between two drains below the worker reports at most what was queued, the chunk in
        // its hands and one more sent: never more than this, so neither side blocks the other.
        let (report, mut verified) =
            mpsc::channel::<Result<u64, TransferError>>(2 * VERIFY_AHEAD + 2);
        let sink = Arc::clone(sink);
        // The worker hands each chunk's buffer back, so the reader reads the next chunk's data
        // straight into it: no copy out of the frame, no allocation, no zeroing.
        let (give_back, mut spares) = mpsc::channel::<Vec<u8>>(VERIFY_AHEAD + 2);
        drop(tokio::task::spawn_blocking(move || {
            while let Some((index, data)) = queue.blocking_recv() {
                let result = sink(peer, index, &data);
                let failed = result.is_err();
                if report.blocking_send(result).is_err() || failed {
                    break;
                }
                let _ = give_back.try_send(data);
            }
        }));
        let mut spare = Vec::new();
        let mut received = *next;
        let settle = |result: Result<u64, TransferError>, next: &mut u64| {
            let len = result?;
            *next += 1;
            let done = written.fetch_add(len, Ordering::Relaxed) + len;
            let _ = self.handle.events().send(Event::Progress {
                id,
                peer,
                done,
                total,
                upload: false,
            });
            Ok::<_, TransferError>(())
        };
        let outcome = loop {
            while let Ok(result) = verified.try_recv() {
                settle(result, next)?;
            }
            if spare.capacity() == 0
                && let Ok(back) = spares.try_recv()
            {
                spare = back;
            }
            let read = read_msg_into(
                &mut stream,
                peer,
                "reading chunks",
                &mut buf,
                Some(&mut spare),
            );
            // Chunks verified while this waits long for a frame (a slow holder's next chunk
            // may take seconds) are counted and shown then, not when the frame comes; a frame
            // that comes soon, as from any holder keeping up, costs no wake-up for them.
            let read = {
                let mut read = std::pin::pin!(lane.unless_cut(received, end, read));
                match tokio::time::timeout(SETTLE_WAITING_AFTER, &mut read).await {
                    Ok(read) => read,
                    Err(_) => loop {
                        tokio::select! {
                            biased;
                            read = &mut read => break read,
                            Some(result) = verified.recv() => settle(result, next)?,
                        }
                    },
                }
            };
            let Some(read) = read else {
                // The rest was taken by other holders: dropping the stream resets it, and the
                // provider stops sending.
                break Ok(());
            };
            let msg = match read {
                Ok(msg) => msg,
                Err(e) => break Err(e),
            };
            match msg {
                Message::Chunk { index, data } if index == received && index < end => {
                    if !lane.claim(index) {
                        // Taken by another holder while it was on its way.
                        break Ok(());
                    }
                    received += 1;
                    if chunks.send((index, data)).await.is_err() {
                        // The worker stopped: its report says why.
                        break Ok(());
                    }
                }
                Message::End if received == end => {
                    let _ = stream.close().await;
                    break Ok(());
                }
                Message::Error { code, message } => break Err(remote(peer, code, message)),
                other => {
                    break Err(TransferError::Protocol {
                        peer,
                        what: format!(
                            "unexpected {} while expecting chunk {received}",
                            kind(&other)
                        ),
                    });
                }
            }
        };
        // Let the worker finish what was queued, so `*next` counts every chunk written.
        drop(chunks);
        while let Some(result) = verified.recv().await {
            settle(result, next)?;
        }
        outcome?;
        let end = lane.end();
        if *next == end {
            Ok(())
        } else {
            Err(TransferError::Task(format!(
                "the chunk writer stopped at chunk {next} of {end}"
            )))
        }
    }

    /// [`Client::get`] through a partial file beside `output` ([`partial_path`]), renamed to
    /// `output` once every chunk is verified and removed if the download fails: `output` never
    /// holds a part of the object.
    pub async fn get_to(
        &self,
        id: ContentId,
        range: Option<Range<u64>>,
        output: &Path,
        holders: impl Into<Holders>,
    ) -> Result<GetReport, TransferError> {
        let partial = partial_path(output);
        match self.get(id, range, &partial, holders).await {
            Ok(report) => {
                std::fs::rename(&partial, output).map_err(|source| TransferError::File {
                    phase: "rename the download to",
                    path: output.to_owned(),
                    source,
                })?;
                Ok(report)
            }
            Err(err) => {
                let _ = std::fs::remove_file(&partial);
                Err(err)
            }
        }
    }

    /// Downloads bytes `range` (the whole object if `None`) of `id` into the file `out`,
    /// verifying every chunk, from the first of `holders` to give the manifest and from each of
    /// the others as it answers (see [`Holders`]); when a holder fails, the others (and holders
    /// found later) continue from the first chunk it had not delivered: nothing verified is
    /// fetched twice.
    pub async fn get(
        &self,
        id: ContentId,
        range: Option<Range<u64>>,
        out: &Path,
        holders: impl Into<Holders>,
    ) -> Result<GetReport, TransferError> {
        let mut candidates = Candidates::new(self, id, holders.into());
        let (manifest, first, mut failures) = candidates.first_manifest().await?;
        let manifest = Arc::new(manifest);
        let bytes = range.unwrap_or(0..manifest.size());
        let chunks = manifest
            .chunks_for(bytes.start, bytes.end)
            .map_err(|source| TransferError::Content {
                path: out.to_owned(),
                source,
            })?;
        let file_err = |phase| {
            let path = out.to_owned();
            move |source| TransferError::File {
                phase,
                path,
                source,
            }
        };
        let file = Arc::new(File::create(out).map_err(file_err("create"))?);
        file.set_len(bytes.end - bytes.start)
            .map_err(file_err("size"))?;
        let sink: Sink = {
            let (manifest, file, bytes, out) = (
                Arc::clone(&manifest),
                Arc::clone(&file),
                bytes.clone(),
                out.to_owned(),
            );
            Arc::new(move |peer, index, data: &[u8]| {
                verify_and_write(&manifest, index, data, &bytes, &file, &out, peer)
            })
        };
        // The holders not yet failed, and those still to come as one more: a download that
        // starts with one holder leaves segments for those that answer or are found later.
        let expected =
            candidates.seen.len() - failures.len() + usize::from(candidates.later.is_some());
        let segments = download_segments(chunks, expected);
        let (served_by, failed) = self
            .fetch(
                &manifest,
                segments,
                (&sink, &AtomicU64::new(0), bytes.end - bytes.start),
                Some(first),
                &mut candidates,
            )
            .await?;
        failures.extend(failed);
        file.sync_all().map_err(file_err("fsync"))?;
        Ok(GetReport {
            bytes: bytes.end - bytes.start,
            served_by,
            failures,
            manifest: Arc::unwrap_or_clone(manifest),
        })
    }

    /// The manifest of `id` from the first of `holders` to give it, all asked at once: one
    /// that is gone holds nothing back while its dial times out.
    pub async fn manifest(
        &self,
        id: ContentId,
        holders: &[PeerId],
    ) -> Result<Manifest, TransferError> {
        let mut candidates = Candidates::new(self, id, holders.to_vec().into());
        Ok(candidates.first_manifest().await?.0)
    }

    /// Fetches the chunks in `segments` of `manifest`'s object from the `first` holder, and
    /// from the `candidates` as each answers, into `sink` (`total` bytes in all), adding the
    /// bytes kept to `written`; returns the holders that served chunks (in the order they were
    /// asked) and those that failed.
    ///
    /// The segments sit in one queue; each holder takes the next one as soon as it is free, so
    /// faster holders serve more, and once none is queued a free holder takes the second half
    /// of what another still has to receive, or all of it from one that received nothing for
    /// [`STALLED`] ([`Work::take`]): a slow or stalled holder does not hold the end of a
    /// download back. A holder that fails puts the rest of its segment back (from
    /// the first chunk not yet verified) and drops out. While segments are left and every
    /// holder so far failed, the download waits for the next candidate, until none can come.
    async fn fetch(
        &self,
        manifest: &Arc<Manifest>,
        segments: Vec<Range<u64>>,
        (sink, written, total): (&Sink, &AtomicU64, u64),
        first: Option<PeerId>,
        candidates: &mut Candidates<'_>,
    ) -> Result<(Vec<PeerId>, Vec<HolderFailure>), TransferError> {
        let id = manifest.id();
        let work = Work::new(segments, least_taken(manifest.chunks()));
        let worker = |peer: PeerId| {
            let work = &work;
            async move {
                let mut served = false;
                // Whether this holder may take what a stalled one has left: not once its own
                // was taken (two stalled holders would take it from each other for ever).
                let mut unstalled = true;
                while let Some(lane) = work.take(unstalled).await {
                    let start = lane.start();
                    let mut next = start;
                    let result = self
                        .chunks_from(peer, manifest, (&mut next, &lane), sink, (written, total))
                        .await;
                    served |= next > start;
                    unstalled &= !lane.was_taken_whole();
                    match result {
                        Ok(()) => work.done(&lane, None),
                        Err(e) => {
                            tracing::warn!(%peer, error = %e, next, "holder failed; its segment goes to the others");
                            work.done(&lane, Some(next));
                            return (
                                peer,
                                served,
                                Some(HolderFailure {
                                    peer,
                                    next_chunk: next,
                                    error: e.to_string(),
                                }),
                            );
                        }
                    }
                }
                (peer, served, None)
            }
        };
        let mut workers: FuturesUnordered<_> = first.into_iter().map(worker).collect();
        let (mut served, mut failures) = (Vec::new(), Vec::new());
        loop {
            let joining = !work.finished() && candidates.open();
            tokio::select! {
                Some((peer, delivered, failure)) = workers.next(), if !workers.is_empty() => {
                    if delivered {
                        served.push(peer);
                    }
                    failures.extend(failure);
                }
                // Each holder answers once (`Candidates` asks a holder once).
                answer = candidates.next(), if joining => match answer {
                    Some((peer, Ok(_))) => {
                        tracing::debug!(%peer, %id, "a holder that answered joins the download");
                        workers.push(worker(peer));
                    }
                    Some((peer, Err(e))) => failures.push(HolderFailure {
                        peer,
                        next_chunk: 0,
                        error: e.to_string(),
                    }),
                    None => {}
                },
                else => break,
            }
        }
        if !work.finished() {
            return Err(TransferError::Unavailable {
                id,
                tried: candidates.seen.len(),
                last: failures
                    .last()
                    .map_or_else(String::new, |f: &HolderFailure| f.error.clone()),
            });
        }
        // In the order the holders were asked.
        let served_by = candidates
            .seen
            .iter()
            .copied()
            .filter(|p| served.contains(p))
            .collect();
        Ok((served_by, failures))
    }
}

/// What an answer other than the one expected from `peer` means: its refusal (an error frame),
/// or a violation of the protocol.
fn unexpected(peer: PeerId, expected: &str, answer: Message) -> TransferError {
    match answer {
        Message::Error { code, message } => remote(peer, code, message),
        other => TransferError::Protocol {
            peer,
            what: format!("expected {expected}, got {}", kind(&other)),
        },
    }
}

/// The manifest of `id` from a provider's first answer to a get request.
fn expect_manifest(
    answer: Message,
    peer: PeerId,
    id: ContentId,
) -> Result<Manifest, TransferError> {
    match answer {
        Message::Manifest(m) if m.id() == id => Ok(m),
        Message::Manifest(m) => Err(TransferError::Verify {
            peer,
            source: Box::new(ContentError::ManifestMismatch {
                expected: id,
                got: m.id(),
            }),
        }),
        other => Err(unexpected(peer, "a manifest", other)),
    }
}

/// `samples` distinct chunk indexes below `chunks`, drawn with `random` (every index when there
/// are no more than `samples`), in order. Floyd's algorithm: exactly `samples` draws.
fn pick_samples(chunks: u64, samples: u64, mut random: impl FnMut() -> u64) -> Vec<u64> {
    if samples >= chunks {
        return (0..chunks).collect();
    }
    let mut picked = std::collections::BTreeSet::new();
    for top in chunks - samples..chunks {
        let draw = random() % (top + 1);
        if !picked.insert(draw) {
            picked.insert(top);
        }
    }
    picked.into_iter().collect()
}

/// Segments per holder a download is cut into: enough for a faster holder to take over part of
/// a slower one's share, few enough that a holder sees a handful of requests per download (each
/// opens a stream, counted against the provider's per-peer rate, and is answered with the
/// manifest, 32 bytes a chunk).
const SEGMENTS_PER_HOLDER: u64 = 4;
/// Most segments one download is cut into: their manifests stay under 1% of the object.
const MAX_SEGMENTS: u64 = 64;
/// Fewest chunks (4 MiB) worth a segment of their own.
const MIN_SEGMENT_CHUNKS: u64 = 16;

/// Splits `chunks` into the contiguous segments a download from `holders` holders hands out:
/// the whole range for one holder (one stream, no stall between segments), otherwise 4 per
/// holder (at most 64) of at least 16 chunks (4 MiB; one segment, possibly empty, for fewer).
pub fn download_segments(chunks: Range<u64>, holders: usize) -> Vec<Range<u64>> {
    let n = chunks.end - chunks.start;
    let most = (holders as u64)
        .saturating_mul(SEGMENTS_PER_HOLDER)
        .min(MAX_SEGMENTS);
    let count = if holders <= 1 {
        1
    } else {
        (n / MIN_SEGMENT_CHUNKS).clamp(1, most)
    };
    (0..count)
        .map(|i| chunks.start + n * i / count..chunks.start + n * (i + 1) / count)
        .collect()
}

/// Fewest chunks a free holder takes from another's segment: one, and for a large object
/// 1/256 of its chunks (1 KiB of data per chunk of the object), since each segment taken is
/// answered with the manifest again (32 bytes a chunk): it costs at most 1/32 of what it brings.
fn least_taken(object_chunks: u64) -> u64 {
    (object_chunks / 256).max(1)
}

/// How long a holder may go without receiving a chunk before a free holder takes all it has
/// left of its segment: a holder whose disk or uplink stalls keeps the end of a download for
/// this long, not [`IDLE_TIMEOUT`].
pub const STALLED: Duration = Duration::from_secs(2);

/// A segment in a holder's hands: the next chunk it is to receive and the end, which another
/// holder may pull in to take the rest ([`Work::take`]).
#[derive(Debug)]
struct Lane {
    state: std::sync::Mutex<LaneState>,
    /// Told when the end is pulled in to the next chunk (nothing left to receive).
    cut: tokio::sync::Notify,
}

#[derive(Debug)]
struct LaneState {
    /// From the next chunk to receive to the end.
    left: Range<u64>,
    /// When a chunk was last received (or the segment taken).
    last: Instant,
    /// Whether another holder took all that was left (this one had stalled).
    taken_whole: bool,
}

impl Lane {
    fn new(segment: Range<u64>) -> Self {
        Self {
            state: std::sync::Mutex::new(LaneState {
                left: segment,
                last: Instant::now(),
                taken_whole: false,
            }),
            cut: tokio::sync::Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, LaneState> {
        // Plain fields set under the lock: consistent even if a holder panicked.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What is left to receive.
    fn left(&self) -> Range<u64> {
        self.state().left.clone()
    }

    /// The next chunk to receive.
    fn start(&self) -> u64 {
        self.state().left.start
    }

    /// Where the segment ends now.
    fn end(&self) -> u64 {
        self.state().left.end
    }

    fn was_taken_whole(&self) -> bool {
        self.state().taken_whole
    }

    /// Claims chunk `index`, the next one, as received; `false` if the segment now ends before
    /// it (another holder took it).
    fn claim(&self, index: u64) -> bool {
        let mut state = self.state();
        if index < state.left.end {
            state.left.start = state.left.start.max(index + 1);
            state.last = Instant::now();
            true
        } else {
            false
        }
    }

    /// Takes the second half of what is left, if it holds at least `least` chunks: the holder
    /// keeps at least the chunk it is receiving.
    fn split(&self, least: u64) -> Option<Range<u64>> {
        let mut state = self.state();
        let left = &mut state.left;
        let taken = (left.end - left.start) / 2;
        if taken == 0 || taken < least {
            return None;
        }
        let end = left.end;
        left.end -= taken;
        Some(left.end..end)
    }

    /// When the holder will have stalled ([`STALLED`] after its last chunk), if it has
    /// anything left.
    fn stalls_at(&self) -> Option<Instant> {
        let state = self.state();
        (!state.left.is_empty()).then_some(state.last + STALLED)
    }

    /// Takes all that is left if the holder received nothing for [`STALLED`] by `now`; the
    /// holder, told, drops what it was waiting for.
    fn take_stalled(&self, now: Instant) -> Option<Range<u64>> {
        let taken = {
            let mut state = self.state();
            if state.left.is_empty() || now < state.last + STALLED {
                return None;
            }
            state.taken_whole = true;
            let taken = state.left.clone();
            state.left.end = state.left.start;
            taken
        };
        self.cut.notify_waiters();
        Some(taken)
    }

    /// The output of `wait` (a request for chunks up to `asked`, or the next frame of its
    /// answer, the chunks before `received` in), or `None` as soon as the segment ends at
    /// `received` before `asked`: nothing more of that stream is wanted.
    async fn unless_cut<T>(
        &self,
        received: u64,
        asked: u64,
        wait: impl std::future::Future<Output = T>,
    ) -> Option<T> {
        let mut wait = std::pin::pin!(wait);
        loop {
            let cut = self.cut.notified();
            let mut cut = std::pin::pin!(cut);
            // Registered before the check, so a cut in between still wakes this.
            cut.as_mut().enable();
            if received < asked && received >= self.end() {
                return None;
            }
            tokio::select! {
                out = &mut wait => return Some(out),
                () = cut => {}
            }
        }
    }
}

/// The segments of one download still to fetch, shared by the holders' workers.
struct Work {
    state: std::sync::Mutex<WorkState>,
    changed: tokio::sync::Notify,
    /// Fewest chunks taken from another holder's segment.
    least_taken: u64,
}

struct WorkState {
    queue: std::collections::VecDeque<Range<u64>>,
    /// Segments taken and not yet done.
    lanes: Vec<Arc<Lane>>,
}

impl Work {
    fn new(segments: Vec<Range<u64>>, least_taken: u64) -> Self {
        Self {
            state: std::sync::Mutex::new(WorkState {
                queue: segments.into(),
                lanes: Vec::new(),
            }),
            changed: tokio::sync::Notify::new(),
            least_taken,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, WorkState> {
        // The state stays consistent under every lock (no code between its updates panics).
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The next segment to fetch: the next one queued; with none queued, the second half of
    /// what the holder with the most left still has to receive (at least `least_taken`
    /// chunks), which that holder then stops short of; failing that and if `unstalled`, all
    /// that a holder that received nothing for [`STALLED`] has left. Waits while none is to
    /// be had but a segment in hands may come back or stall; `None` once nothing is left to
    /// hand out.
    async fn take(&self, unstalled: bool) -> Option<Arc<Lane>> {
        loop {
            // Registered before the check, so a change in between still wakes this.
            let changed = self.changed.notified();
            let stalls_at = {
                let mut state = self.state();
                let segment = state.queue.pop_front().or_else(|| {
                    let most = state.lanes.iter().max_by_key(|lane| {
                        let left = lane.left();
                        left.end - left.start
                    })?;
                    most.split(self.least_taken)
                });
                let now = Instant::now();
                let segment = match segment {
                    None if unstalled => state.lanes.iter().find_map(|l| l.take_stalled(now)),
                    segment => segment,
                };
                if let Some(segment) = segment {
                    let lane = Arc::new(Lane::new(segment));
                    state.lanes.push(Arc::clone(&lane));
                    return Some(lane);
                }
                if state.lanes.is_empty() {
                    return None;
                }
                let stalls = || state.lanes.iter().filter_map(|lane| lane.stalls_at()).min();
                unstalled.then(stalls).flatten()
            };
            match stalls_at {
                Some(at) => {
                    let _ = tokio::time::timeout_at(at, changed).await;
                }
                None => changed.await,
            }
        }
    }

    /// Ends a taken segment; `failed_at`: its holder failed, and the rest from that chunk on
    /// (to the segment's end now: none if it was taken whole) goes back first in line.
    fn done(&self, lane: &Arc<Lane>, failed_at: Option<u64>) {
        {
            let mut state = self.state();
            state.lanes.retain(|l| !Arc::ptr_eq(l, lane));
            // Under the work's lock: no holder takes part of this lane meanwhile.
            let rest = failed_at.map(|next| next..lane.end());
            if let Some(rest) = rest.filter(|r| !r.is_empty()) {
                state.queue.push_front(rest);
            }
        }
        self.changed.notify_waiters();
    }

    /// Whether every segment was fetched.
    fn finished(&self) -> bool {
        let state = self.state();
        state.queue.is_empty() && state.lanes.is_empty()
    }
}

/// The holders a download asks: those `known` when it starts, all at once, then those `later`
/// brings while it runs (a DHT lookup's, as [`Handle::find_holders`] finds them), until it ends.
/// Each is asked for the manifest first and takes segments once it answered: one that is gone
/// holds no segment back while its dial times out. A holder that fails drops out; a holder that
/// comes again is not asked again.
#[derive(Debug, Default)]
pub struct Holders {
    /// Asked first, all at once (listed first in the report's `served_by`).
    pub known: Vec<PeerId>,
    /// Join as they come; `None`: no more will.
    pub later: Option<mpsc::Receiver<PeerId>>,
}

impl From<Vec<PeerId>> for Holders {
    fn from(known: Vec<PeerId>) -> Self {
        Self { known, later: None }
    }
}

/// A holder's answer to a request for the manifest.
type Answer = (PeerId, Result<Manifest, TransferError>);

/// The holders on their way into a download: each is asked for the manifest first (those known
/// at once, all together; those found later as they come) and joins once it answered, so a
/// holder that is gone (its dial hangs until the transport gives up) never holds a segment back.
struct Candidates<'a> {
    client: &'a Client,
    id: ContentId,
    asking: FuturesUnordered<futures::future::BoxFuture<'a, Answer>>,
    later: Option<mpsc::Receiver<PeerId>>,
    /// Every holder asked, in order.
    seen: Vec<PeerId>,
}

impl<'a> Candidates<'a> {
    fn new(client: &'a Client, id: ContentId, holders: Holders) -> Self {
        let mut candidates = Self {
            client,
            id,
            asking: FuturesUnordered::new(),
            later: holders.later,
            seen: Vec::new(),
        };
        for peer in holders.known {
            candidates.ask(peer);
        }
        candidates
    }

    /// Asks `peer` for the manifest, unless it was asked already.
    fn ask(&mut self, peer: PeerId) {
        if self.seen.contains(&peer) {
            return;
        }
        self.seen.push(peer);
        let (client, id) = (self.client, self.id);
        self.asking.push(Box::pin(async move {
            (peer, client.manifest_from(peer, id).await)
        }));
    }

    /// Whether another answer may come.
    fn open(&self) -> bool {
        !self.asking.is_empty() || self.later.is_some()
    }

    /// The first manifest given, the holder that gave it, and the holders that failed before;
    /// [`TransferError::Unavailable`] (with the last failure) once none can come.
    async fn first_manifest(
        &mut self,
    ) -> Result<(Manifest, PeerId, Vec<HolderFailure>), TransferError> {
        let mut failures = Vec::new();
        loop {
            match self.next().await {
                Some((peer, Ok(manifest))) => return Ok((manifest, peer, failures)),
                Some((peer, Err(e))) => failures.push(HolderFailure {
                    peer,
                    next_chunk: 0,
                    error: e.to_string(),
                }),
                None => {
                    return Err(TransferError::Unavailable {
                        id: self.id,
                        tried: self.seen.len(),
                        last: failures.last().map_or_else(
                            || "no holder known".to_owned(),
                            |f: &HolderFailure| f.error.clone(),
                        ),
                    });
                }
            }
        }
    }

    /// The next answer; `None` once none can come.
    async fn next(&mut self) -> Option<Answer> {
        loop {
            tokio::select! {
                Some(answer) = self.asking.next(), if !self.asking.is_empty() => return Some(answer),
                found = next_holder(&mut self.later), if self.later.is_some() => match found {
                    Some(peer) => self.ask(peer),
                    None => self.later = None,
                },
                else => return None,
            }
        }
    }
}

/// The next holder from `later` (`None` once it ended); pending forever without one.
async fn next_holder(later: &mut Option<mpsc::Receiver<PeerId>>) -> Option<PeerId> {
    match later {
        Some(found) => found.recv().await,
        None => std::future::pending().await,
    }
}

/// `dir/.name.part` for `dir/name`: where [`Client::get_to`] writes a download until it is
/// verified.
pub fn partial_path(output: &Path) -> PathBuf {
    let name = output
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    output.with_file_name(format!(".{name}.part"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_download_is_written_beside_its_output() {
        assert_eq!(
            partial_path(Path::new("/home/me/photo.jpg")),
            Path::new("/home/me/.photo.jpg.part")
        );
    }

    #[test]
    fn a_pull_fetches_the_runs_of_chunks_missing_or_one_span_for_many() {
        let mut have = Vec::new();
        for held in [0, 1, 5, 9] {
            wire::set_bit(&mut have, held);
        }
        assert_eq!(missing_runs(&have, 12), vec![2..5, 6..9, 10..12]);
        assert_eq!(missing_runs(&have, 2), Vec::<Range<u64>>::new());
        assert_eq!(missing_runs(&[], 3), vec![0..3]);
        assert_eq!(pull_spans(&[2..5, 6..9]), vec![2..5, 6..9]);
        // Every other chunk held: one span, not one request per chunk.
        let mut alternate = Vec::new();
        for held in (0..400).step_by(2) {
            wire::set_bit(&mut alternate, held);
        }
        let runs = missing_runs(&alternate, 400);
        assert_eq!(runs.len(), 200);
        assert_eq!(
            pull_spans(&runs),
            std::iter::once(1..400).collect::<Vec<_>>()
        );
        let manifest = Manifest::of(&vec![1u8; 3 * crate::content::CHUNK_SIZE + 10]).unwrap();
        assert_eq!(
            run_bytes(&manifest, &(2..4)),
            crate::content::CHUNK_SIZE as u64 + 10
        );
        assert_eq!(run_bytes(&manifest, &(1..1)), 0);
    }

    #[test]
    fn samples_are_distinct_chunks_of_the_object_drawn_at_random() {
        assert_eq!(pick_samples(5, 8, || unreachable!()), vec![0, 1, 2, 3, 4]);
        assert_eq!(
            pick_samples(8, 8, || unreachable!()),
            (0..8).collect::<Vec<_>>()
        );
        // Every draw the same: Floyd's algorithm still gives distinct indexes.
        assert_eq!(pick_samples(100, 4, || 7), vec![7, 97, 98, 99]);
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let picked = pick_samples(40, 8, || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            });
            assert_eq!(picked.len(), 8);
            assert!(picked.windows(2).all(|w| w[0] < w[1]), "{picked:?}");
            assert!(picked.iter().all(|&i| i < 40));
            seen.extend(picked);
        }
        assert_eq!(seen.len(), 40, "every chunk can be drawn");
    }

    #[test]
    fn downloads_split_into_contiguous_segments_that_cover_the_chunks() {
        assert_eq!(download_segments(0..0, 3), vec![0..0]);
        assert_eq!(download_segments(5..20, 3), vec![5..20]);
        assert_eq!(download_segments(0..1000, 1), vec![0..1000]);
        assert_eq!(download_segments(0..32, 2), vec![0..16, 16..32]);
        assert_eq!(download_segments(3..65_539, 2).len(), 8);
        assert_eq!(download_segments(3..65_539, 40).len(), 64);
        assert_eq!(download_segments(0..100, 3).len(), 6);
        for chunks in [0..1, 0..16, 0..17, 7..70, 0..1024, 1000..1003, 2..100_001] {
            let segments = download_segments(chunks.clone(), 3);
            assert!(segments.len() as u64 <= 3 * SEGMENTS_PER_HOLDER);
            assert_eq!(segments.first().map(|p| p.start), Some(chunks.start));
            assert_eq!(segments.last().map(|p| p.end), Some(chunks.end));
            for pair in segments.windows(2) {
                assert_eq!(pair[0].end, pair[1].start, "{chunks:?}: {segments:?}");
            }
            if segments.len() > 1 {
                assert!(
                    segments
                        .iter()
                        .all(|p| p.end - p.start >= MIN_SEGMENT_CHUNKS)
                );
            }
        }
    }

    #[test]
    fn a_pacer_spaces_sends_to_its_rate_across_senders() {
        let mut pacer = Pacer::new(NonZeroU64::new(1000).unwrap_or(NonZeroU64::MIN));
        let t0 = Instant::now();
        // The first send goes at once; the next waits for the first to have gone out.
        assert_eq!(pacer.admit(t0, 500), Duration::ZERO);
        assert_eq!(pacer.admit(t0, 250), Duration::from_millis(500));
        // A second sender at the same moment queues behind both.
        assert_eq!(pacer.admit(t0, 100), Duration::from_millis(750));
        // After an idle spell, no credit was saved up beyond the present.
        let later = t0 + Duration::from_secs(5);
        assert_eq!(pacer.admit(later, 1000), Duration::ZERO);
        assert_eq!(pacer.admit(later, 1), Duration::from_secs(1));
    }

    /// What `lane` has left to receive.
    fn left(lane: &Option<Arc<Lane>>) -> Option<Range<u64>> {
        lane.as_ref().map(|lane| lane.left())
    }

    #[tokio::test]
    async fn a_failed_segment_goes_back_to_the_workers_still_running() {
        // Nothing is ever worth taking from another holder here.
        let work = Arc::new(Work::new(vec![0..16, 16..32], 100));
        let a = work.take(false).await;
        let b = work.take(false).await;
        assert_eq!((left(&a), left(&b)), (Some(0..16), Some(16..32)));
        // Nothing queued, but two in hands: a third worker waits...
        let waiting = tokio::spawn({
            let work = Arc::clone(&work);
            async move { work.take(false).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        // ...and gets the rest of a failed segment.
        let (a, b) = (a.unwrap(), b.unwrap());
        work.done(&a, Some(5));
        let c = waiting.await.unwrap();
        assert_eq!(left(&c), Some(5..16));
        work.done(&b, None);
        assert!(!work.finished());
        work.done(&c.unwrap(), None);
        assert!(work.finished());
        assert!(work.take(false).await.is_none());
    }

    #[tokio::test]
    async fn a_free_holder_takes_the_second_half_of_what_another_has_left() {
        let work = Arc::new(Work::new(vec![0..10, 10..30], 2));
        let slow = work.take(false).await.unwrap();
        let other = work.take(false).await.unwrap();
        assert!(slow.claim(0) && slow.claim(1));
        for i in 10..27 {
            assert!(other.claim(i));
        }
        // Nothing queued: the next holder takes half of the 8 chunks `slow` has left (the
        // most: `other` has 3).
        let fast = work.take(false).await.unwrap();
        assert_eq!(fast.left(), 6..10);
        assert_eq!(slow.end(), 6);
        // `slow` may not receive past its new end: chunk 6 is `fast`'s.
        assert!(slow.claim(2) && slow.claim(5));
        assert!(!slow.claim(6));
        assert_eq!(slow.start(), 6);
        // `fast` got 1 of its 4 and fails: the 3 left go back, and are taken whole.
        assert!(fast.claim(6));
        work.done(&fast, Some(7));
        work.done(&slow, None);
        let next = work.take(false).await.unwrap();
        assert_eq!(next.left(), 7..10);
        // `other` and `next` have 3 left each: half is under the 2 worth taking, so a
        // free holder waits...
        let waiting = tokio::spawn({
            let work = Arc::clone(&work);
            async move { left(&work.take(false).await) }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        assert_eq!((other.end(), next.end()), (30, 10));
        // ...until one comes back.
        work.done(&next, Some(8));
        assert_eq!(waiting.await.unwrap(), Some(8..10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_free_holder_takes_all_a_stalled_one_has_left_but_not_back() {
        let work = Arc::new(Work::new(std::iter::once(0..4).collect(), 1));
        let stalled = work.take(true).await.unwrap();
        assert!(stalled.claim(0));
        // Split twice (3..4, then 2..3), fetched by others: `stalled` keeps chunk 1.
        for taken in [3..4, 2..3] {
            let other = work.take(true).await.unwrap();
            assert_eq!(other.left(), taken);
            work.done(&other, None);
        }
        assert_eq!(stalled.left(), 1..2);
        // `stalled` waits for chunk 1 (asked up to 4, 1 in).
        let reading = tokio::spawn({
            let stalled = Arc::clone(&stalled);
            async move {
                let chunk = std::future::pending::<()>();
                stalled.unless_cut(1, 4, chunk).await
            }
        });
        let free = tokio::spawn({
            let work = Arc::clone(&work);
            async move { work.take(true).await.map(|lane| lane.left()) }
        });
        tokio::time::sleep(STALLED - Duration::from_millis(100)).await;
        assert!(!free.is_finished() && !reading.is_finished());
        // Nothing received for STALLED: the free holder takes all it has left, and the stalled
        // one stops waiting.
        let soon = Duration::from_millis(200);
        let took = tokio::time::timeout(soon, free)
            .await
            .expect("nothing taken from the stalled holder");
        assert_eq!(took.unwrap(), Some(1..2));
        let read = tokio::time::timeout(soon, reading)
            .await
            .expect("the stalled holder kept waiting");
        assert_eq!(read.unwrap(), None);
        assert!(stalled.was_taken_whole());
        assert_eq!(stalled.left(), 1..1);
        work.done(&stalled, Some(1));
        // The one taken from may not take it back, however long the other stalls...
        let back = tokio::spawn({
            let work = Arc::clone(&work);
            async move { work.take(false).await.map(|lane| lane.left()) }
        });
        tokio::time::sleep(10 * STALLED).await;
        assert!(!back.is_finished());
        // ...and is let go once it is fetched.
        let taker = work.state().lanes[0].clone();
        assert!(taker.claim(1));
        work.done(&taker, None);
        let after = tokio::time::timeout(Duration::from_millis(1), back).await;
        assert_eq!(after.expect("still waiting").unwrap(), None);
        assert!(work.finished());
    }

    #[test]
    fn a_lane_gives_the_second_half_of_what_it_has_left_and_never_less_than_the_least() {
        let lane = Lane::new(0..9);
        assert_eq!(lane.split(5), None, "half of 9 is 4");
        assert_eq!(lane.split(4), Some(5..9));
        assert_eq!(lane.split(1), Some(3..5));
        assert_eq!(lane.split(1), Some(2..3));
        assert_eq!(lane.split(1), Some(1..2));
        assert_eq!(lane.split(1), None, "1 chunk left is not split");
        assert!(lane.claim(0));
        assert_eq!(lane.split(1), None, "nothing left");
        assert_eq!(lane.end(), 1);
        assert_eq!(least_taken(10), 1);
        assert_eq!(least_taken(4096), 16);
    }
}
