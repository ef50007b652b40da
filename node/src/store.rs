//! The provider's crash-safe object store: a data directory with a quota.
//!
//! Layout: `store.redb` (metadata: one record and one manifest per object), `partial/<id>`
//! (objects being received) and `objects/<id>` (complete objects).
//!
//! Crash safety, in write order:
//! 1. `begin_put` commits a `Partial` record (reserving quota) before the partial file exists;
//! 2. chunks are verified against the manifest, written in place, and every [`SYNC_EVERY`]
//!    bytes the file is fsynced *then* the bitmap of held chunks is committed, so the bitmap
//!    never claims a chunk that is not on disk (a resumed upload re-sends at most the last
//!    unsynced window);
//! 3. `finish` fsyncs the file, renames it into `objects/`, fsyncs that directory and only then
//!    commits the `Complete` record and acknowledges.
//!
//! Only `Complete` records are visible ([`Store::list`], [`Store::reader`]), so a crash or kill
//! at any point leaves no half-written object visible. [`Store::open`] recovers: orphan files
//! are deleted, a rename that happened just before a crash is completed, a missing or truncated
//! object is marked `Corrupt`.
//!
//! Every chunk read is checked against the manifest before it leaves the store: a flipped byte
//! on disk marks the object `Corrupt` and returns [`StoreError::Corrupt`], never the bytes.
//!
//! One object may be stored under several deals (the same bytes bought again, by the same
//! buyer renewing or by another): each is kept in its record ([`ObjectInfo::deals`]), added in
//! the same write transaction that reads the record, so none is lost to a concurrent upload.

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use redb::{Database, ReadableDatabase as _, ReadableTable as _, TableDefinition};

use crate::content::{ContentError, ContentId, Manifest};
use crate::wire::{bit, set_bit};

/// Bytes received between two fsync + bitmap commits (bounds what a resume re-sends).
pub const SYNC_EVERY: u64 = 8 << 20;

const OBJECTS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("objects");
const MANIFESTS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("manifests");

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Filesystem error.
    #[error("store {phase}: {path}: {source}")]
    Io {
        /// What was being done.
        phase: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Metadata database error.
    #[error("store metadata ({phase}): {source}")]
    Db {
        /// What was being done.
        phase: &'static str,
        /// The cause.
        source: Box<redb::Error>,
    },
    /// The store's database is held by another open store: another Cairn process on the same
    /// data directory, or a node of this process that is still closing.
    #[error(
        "the store {path} is in use by another Cairn node (another process on this data directory, or one still closing); stop it first or use another data directory"
    )]
    InUse {
        /// The database file.
        path: PathBuf,
    },
    /// A corrupt metadata record.
    #[error(
        "store metadata record for {0} is unreadable; delete the data directory's store to start over"
    )]
    Record(ContentId),
    /// Not enough room under the quota.
    #[error(
        "quota exceeded: the object needs {needed} bytes but only {available} of the {quota}-byte quota are free; raise --quota or free space"
    )]
    QuotaExceeded {
        /// Bytes asked for.
        needed: u64,
        /// Bytes free.
        available: u64,
        /// The quota.
        quota: u64,
    },
    /// The disk holding the store has no room for the object, whatever the quota says.
    #[error(
        "the provider's disk is full: the object needs {needed} bytes but the disk holding {dir} has {free} bytes free (beyond {DISK_SPARE} kept spare); free disk space or lower --quota"
    )]
    DiskFull {
        /// Bytes asked for.
        needed: u64,
        /// Bytes free on the disk, less what objects still being received will take.
        free: u64,
        /// The store's directory.
        dir: PathBuf,
    },
    /// The object is not held (or not complete).
    #[error("object {0} is not stored here")]
    NotFound(ContentId),
    /// The object failed verification on disk; it is not served.
    #[error("object {id} is corrupt on disk (chunk {chunk}); it is no longer served")]
    Corrupt {
        /// The object.
        id: ContentId,
        /// First chunk found bad.
        chunk: u64,
    },
    /// Received data does not match the manifest.
    #[error("received data rejected: {0}")]
    Content(#[from] ContentError),
    /// `finish` called before every chunk arrived.
    #[error("object {id} is incomplete: {missing} chunks missing")]
    Incomplete {
        /// The object.
        id: ContentId,
        /// Chunks still missing.
        missing: u64,
    },
}

fn db_err<E: Into<redb::Error>>(phase: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Db {
        phase,
        source: Box::new(e.into()),
    }
}

/// Streams the file at `path` through `hasher` (its commitment, and its proof if the hasher has
/// challenges). A file of another size than the hasher's is an `InvalidData` error.
///
/// Reads two blocks of 1 MiB at a time and hashes the blocks that hold no
/// challenged leaf on as many threads (`chain::proof::block_root`), so a proof over a large store
/// takes the time of one keccak pass divided by the cores.
pub fn hash_piece(
    path: &Path,
    hasher: chain::proof::PieceHasher,
) -> std::io::Result<(chain::proof::Commitment, Option<Vec<u8>>)> {
    hash_piece_and(path, hasher, |_| {})
}

/// [`hash_piece`], also handing every piece of the file, in order, to `also` (a buyer builds
/// the content manifest in the same pass; a provider's audit checks every chunk). `also` runs on
/// a thread of its own beside the keccak hashing of the same piece, so its cost mostly hides.
pub fn hash_piece_and(
    path: &Path,
    hasher: chain::proof::PieceHasher,
    also: impl FnMut(&[u8]) + Send,
) -> std::io::Result<(chain::proof::Commitment, Option<Vec<u8>>)> {
    hash_piece_in_blocks(path, hasher, HASH_BLOCK_LEAVES_LOG2, HASH_BLOCKS, also)
}

/// [`hash_piece_and`] with blocks of `2^block` leaves, `blocks` of them read and hashed at once.
fn hash_piece_in_blocks(
    path: &Path,
    mut hasher: chain::proof::PieceHasher,
    block: u32,
    blocks: usize,
    mut also: impl FnMut(&[u8]) + Send,
) -> std::io::Result<(chain::proof::Commitment, Option<Vec<u8>>)> {
    let panicked = || std::io::Error::other("a hashing thread panicked");
    let invalid =
        |e: chain::proof::ProofError| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
    let mut file = File::open(path)?;
    let block_len = chain::proof::LEAF_SIZE << block;
    let mut buf = vec![0u8; block_len * blocks.max(1)];
    loop {
        // Fill the buffer (a short read is not the end of the file).
        let mut n = 0;
        while n < buf.len() {
            match file.read(&mut buf[n..])? {
                0 => break,
                read => n += read,
            }
        }
        if n == 0 {
            break;
        }
        let data = &buf[..n];
        let also = &mut also;
        let hasher = &mut hasher;
        std::thread::scope(|scope| -> std::io::Result<()> {
            // The caller's pass over the same bytes runs beside the keccak hashing.
            let side = scope.spawn(move || also(data));
            let mut rest = data;
            while !rest.is_empty() {
                // Whole blocks from here that can go in as roots, hashed side by side.
                let run = hasher.pushable_blocks(block, rest.len() / block_len);
                if run == 0 {
                    let take = rest.len().min(block_len);
                    hasher.update(&rest[..take]).map_err(invalid)?;
                    rest = &rest[take..];
                    continue;
                }
                let handles: Vec<_> = rest[..run * block_len]
                    .chunks(block_len)
                    .map(|b| scope.spawn(move || chain::proof::block_root(b)))
                    .collect();
                for handle in handles {
                    let root = handle.join().map_err(|_| panicked())?;
                    hasher
                        .push_block(block, root.map_err(invalid)?)
                        .map_err(invalid)?;
                }
                rest = &rest[run * block_len..];
            }
            side.join().map_err(|_| panicked())
        })?;
    }
    hasher.finish().map_err(invalid)
}

/// Bytes a scrub without a proof reads at a time.
const SCRUB_READ: usize = 2 << 20;

/// Leaves per block [`hash_piece`] hashes on its own thread: 2^15 leaves, 1 MiB.
const HASH_BLOCK_LEAVES_LOG2: u32 = 15;
/// Blocks read and hashed at once (one per core on the machines Cairn targets).
const HASH_BLOCKS: usize = 2;

fn io_err(phase: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_owned();
    move |source| StoreError::Io {
        phase,
        path,
        source,
    }
}

/// State of a stored object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Being received; invisible.
    Partial,
    /// Held and served.
    Complete,
    /// Found damaged on disk; not served.
    Corrupt,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Record {
    size: u64,
    state: State,
    /// The first deal it was stored under (0 = none); stores written before objects could
    /// have several deals hold this one alone.
    deal: u64,
    have: Vec<u8>,
    /// The deals it was stored under since.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    more_deals: Vec<u64>,
}

impl Record {
    /// Its deals, the first one first.
    fn deals(&self) -> Vec<u64> {
        std::iter::once(self.deal)
            .chain(self.more_deals.iter().copied())
            .filter(|deal| *deal != 0)
            .collect()
    }

    /// Adds `deal` (0 and deals it has already change nothing).
    fn add_deal(&mut self, deal: u64) {
        if deal == 0 || self.deals().contains(&deal) {
            return;
        }
        if self.deal == 0 {
            self.deal = deal;
        } else {
            self.more_deals.push(deal);
        }
    }

    fn info(&self, id: ContentId) -> ObjectInfo {
        ObjectInfo {
            id,
            size: self.size,
            state: self.state,
            deals: self.deals(),
        }
    }
}

/// What [`Store::list`] reports for one object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ObjectInfo {
    /// The content id.
    pub id: ContentId,
    /// Size in bytes.
    pub size: u64,
    /// Complete or corrupt.
    pub state: State,
    /// The on-chain deals paying for it, the first one first (none: stored for free).
    pub deals: Vec<u64>,
}

/// Bytes always left free on the store's disk (for the metadata database, the file system, and
/// everything else on that disk).
pub const DISK_SPARE: u64 = 64 << 20;

/// Free bytes (for an unprivileged user) on the file system holding `dir`, when the platform
/// says.
fn disk_free(dir: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        let stat = rustix::fs::statvfs(dir).ok()?;
        Some(stat.f_bavail.saturating_mul(stat.f_frsize))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}

struct Inner {
    dir: PathBuf,
    db: Database,
    /// Reads the disk's free space ([`disk_free`]; replaced in tests).
    disk_free: fn(&Path) -> Option<u64>,
    /// Bytes offered; changed at runtime by [`Store::set_quota`].
    quota: AtomicU64,
    /// Serializes quota reservations (and quota changes, so a reservation sees one quota).
    reserve: Mutex<()>,
}

/// A handle to the store (cheap to clone). Methods block on disk I/O: call them from
/// `spawn_blocking` in async code.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.inner.dir)
            .field("quota", &self.quota())
            .finish()
    }
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory", dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

impl Store {
    /// Opens (creating if needed) the store in `dir` with a quota of `quota` bytes, and recovers
    /// from any crash.
    pub fn open(dir: &Path, quota: u64) -> Result<Self, StoreError> {
        for sub in ["objects", "partial"] {
            let path = dir.join(sub);
            fs::create_dir_all(&path).map_err(io_err("create directory", &path))?;
        }
        let db_path = dir.join("store.redb");
        let db = Database::create(&db_path).map_err(|err| match err {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse {
                path: db_path.clone(),
            },
            other => db_err("open")(other),
        })?;
        let store = Self {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                db,
                disk_free,
                quota: AtomicU64::new(quota),
                reserve: Mutex::new(()),
            }),
        };
        store.recover()?;
        Ok(store)
    }

    /// This store, reading the disk's free space with `probe` instead.
    #[cfg(test)]
    fn with_disk_free(mut self, probe: fn(&Path) -> Option<u64>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.disk_free = probe;
        }
        self
    }

    fn object_path(&self, id: &ContentId) -> PathBuf {
        self.inner.dir.join("objects").join(id.to_string())
    }

    fn partial_path(&self, id: &ContentId) -> PathBuf {
        self.inner.dir.join("partial").join(id.to_string())
    }

    /// Path of a complete object's data (for proof building).
    pub fn data_path(&self, id: &ContentId) -> PathBuf {
        self.object_path(id)
    }

    fn records(&self) -> Result<Vec<(ContentId, Record)>, StoreError> {
        let tx = self.inner.db.begin_read().map_err(db_err("read"))?;
        let table = match tx.open_table(OBJECTS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(db_err("open table")(e)),
        };
        let mut out = Vec::new();
        for row in table.iter().map_err(db_err("iterate"))? {
            let (k, v) = row.map_err(db_err("iterate"))?;
            let key: [u8; 32] = k
                .value()
                .try_into()
                .map_err(|_| StoreError::Record(ContentId([0; 32])))?;
            let id = ContentId(key);
            let record: Record =
                serde_json::from_slice(v.value()).map_err(|_| StoreError::Record(id))?;
            out.push((id, record));
        }
        Ok(out)
    }

    fn record(&self, id: &ContentId) -> Result<Option<Record>, StoreError> {
        let tx = self.inner.db.begin_read().map_err(db_err("read"))?;
        let table = match tx.open_table(OBJECTS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(db_err("open table")(e)),
        };
        let Some(v) = table.get(id.0.as_slice()).map_err(db_err("get"))? else {
            return Ok(None);
        };
        serde_json::from_slice(v.value())
            .map(Some)
            .map_err(|_| StoreError::Record(*id))
    }

    /// Adds `deal` to a visible object's record, its state kept as it is (a corrupt object
    /// stays corrupt); returns the object.
    fn add_deal(&self, id: &ContentId, deal: u64) -> Result<ObjectInfo, StoreError> {
        let record = self.update_record(
            id,
            |stored| {
                let mut record = stored.ok_or(StoreError::NotFound(*id))?;
                record.add_deal(deal);
                Ok(record)
            },
            None,
        )?;
        Ok(record.info(*id))
    }

    /// Writes `record` (and `manifest`, if given); the deals it is stored under are only ever
    /// added to, so those another upload added since `record` was read are kept. Returns what
    /// was written.
    fn put_record(
        &self,
        id: &ContentId,
        record: &Record,
        manifest: Option<&Manifest>,
    ) -> Result<Record, StoreError> {
        self.update_record(
            id,
            |stored| {
                let mut record = record.clone();
                if let Some(stored) = stored {
                    let given = record.deals();
                    record.deal = stored.deal;
                    record.more_deals = stored.more_deals;
                    for deal in given {
                        record.add_deal(deal);
                    }
                }
                Ok(record)
            },
            manifest,
        )
    }

    /// Replaces `id`'s record with what `update` makes of the stored one, read in the same write
    /// transaction; writes `manifest` too if given. Returns the record written.
    fn update_record(
        &self,
        id: &ContentId,
        update: impl FnOnce(Option<Record>) -> Result<Record, StoreError>,
        manifest: Option<&Manifest>,
    ) -> Result<Record, StoreError> {
        let tx = self.inner.db.begin_write().map_err(db_err("write"))?;
        let record = {
            let mut table = tx.open_table(OBJECTS).map_err(db_err("open table"))?;
            let stored = match table.get(id.0.as_slice()).map_err(db_err("get"))? {
                Some(stored) => Some(
                    serde_json::from_slice::<Record>(stored.value())
                        .map_err(|_| StoreError::Record(*id))?,
                ),
                None => None,
            };
            let record = update(stored)?;
            let bytes = serde_json::to_vec(&record).map_err(|_| StoreError::Record(*id))?;
            table
                .insert(id.0.as_slice(), bytes.as_slice())
                .map_err(db_err("insert"))?;
            if let Some(manifest) = manifest {
                let mut manifests = tx.open_table(MANIFESTS).map_err(db_err("open table"))?;
                let mut enc = Vec::new();
                manifest.encode(&mut enc);
                manifests
                    .insert(id.0.as_slice(), enc.as_slice())
                    .map_err(db_err("insert"))?;
            }
            record
        };
        tx.commit().map_err(db_err("commit"))?;
        Ok(record)
    }

    fn set_state(&self, id: &ContentId, state: State) -> Result<(), StoreError> {
        if let Some(mut record) = self.record(id)? {
            record.state = state;
            self.put_record(id, &record, None)?;
        }
        Ok(())
    }

    /// The manifest of an object in any state.
    pub fn manifest(&self, id: &ContentId) -> Result<Manifest, StoreError> {
        let tx = self.inner.db.begin_read().map_err(db_err("read"))?;
        let table = match tx.open_table(MANIFESTS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Err(StoreError::NotFound(*id)),
            Err(e) => return Err(db_err("open table")(e)),
        };
        let v = table
            .get(id.0.as_slice())
            .map_err(db_err("get"))?
            .ok_or(StoreError::NotFound(*id))?;
        Manifest::decode_for(*id, v.value()).map_err(|_| StoreError::Record(*id))
    }

    fn recover(&self) -> Result<(), StoreError> {
        let records = self.records()?;
        for (id, mut record) in records.iter().cloned() {
            let object = self.object_path(&id);
            let partial = self.partial_path(&id);
            match record.state {
                State::Complete => {
                    let len = fs::metadata(&object).map(|m| m.len()).ok();
                    if len != Some(record.size) {
                        tracing::warn!(%id, "object missing or truncated on disk; marked corrupt");
                        self.set_state(&id, State::Corrupt)?;
                    }
                }
                State::Partial => {
                    let chunks = crate::content::chunk_count(record.size);
                    let all = (0..chunks).all(|i| bit(&record.have, i));
                    if !partial.exists() && all && object.exists() {
                        // Crashed between the rename and the commit: finish the commit.
                        record.state = State::Complete;
                        self.put_record(&id, &record, None)?;
                    } else if !partial.exists() {
                        record.have.clear();
                        self.put_record(&id, &record, None)?;
                    }
                }
                State::Corrupt => {}
            }
        }
        let records = self.records()?;
        for sub in ["objects", "partial"] {
            let dir = self.inner.dir.join(sub);
            for entry in fs::read_dir(&dir).map_err(io_err("list", &dir))? {
                let entry = entry.map_err(io_err("list", &dir))?;
                let name = entry.file_name();
                let known = name
                    .to_str()
                    .and_then(|n| n.parse::<ContentId>().ok())
                    .and_then(|id| records.iter().find(|(r, _)| *r == id))
                    .is_some_and(|(_, r)| sub == "partial" || r.state != State::Partial);
                if !known {
                    let path = entry.path();
                    tracing::info!(path = %path.display(), "removing orphan file left by a crash");
                    fs::remove_file(&path).map_err(io_err("remove orphan", &path))?;
                }
            }
        }
        Ok(())
    }

    /// The quota in bytes.
    pub fn quota(&self) -> u64 {
        self.inner.quota.load(Ordering::Relaxed)
    }

    /// Changes the quota. Nothing stored is touched: a quota below what is already used only
    /// refuses new objects (and resumes of partial ones keep their reservation) until room is
    /// made. Takes effect for the next reservation.
    pub fn set_quota(&self, quota: u64) {
        let _guard = self
            .inner
            .reserve
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.inner.quota.store(quota, Ordering::Relaxed);
    }

    /// Bytes reserved by every object (partial, complete and corrupt).
    pub fn used(&self) -> Result<u64, StoreError> {
        Ok(self.records()?.iter().map(|(_, r)| r.size).sum())
    }

    /// Bytes a new object may take: what the quota leaves, and no more than the disk holds
    /// beyond [`DISK_SPARE`] and the objects still being received.
    pub fn free(&self) -> Result<u64, StoreError> {
        let records = self.records()?;
        let used: u64 = records.iter().map(|(_, r)| r.size).sum();
        let under_quota = self.quota().saturating_sub(used);
        Ok(match self.disk_room(&records) {
            Some(room) => under_quota.min(room),
            None => under_quota,
        })
    }

    /// Room on the disk for new objects: its free space less [`DISK_SPARE`] and the objects
    /// still being received. `None` when the platform does not say.
    pub fn disk_room_now(&self) -> Result<Option<u64>, StoreError> {
        Ok(self.disk_room(&self.records()?))
    }

    /// Room on the disk for new objects: its free space less [`DISK_SPARE`] and the parts of
    /// partial objects not yet written (counted whole: an upper bound). `None` when the
    /// platform does not say.
    fn disk_room(&self, records: &[(ContentId, Record)]) -> Option<u64> {
        let free = (self.inner.disk_free)(&self.inner.dir)?;
        let pending: u64 = records
            .iter()
            .filter(|(_, r)| r.state == State::Partial)
            .map(|(_, r)| r.size)
            .sum();
        Some(free.saturating_sub(DISK_SPARE).saturating_sub(pending))
    }

    /// Complete and corrupt objects (partial ones are invisible).
    pub fn list(&self) -> Result<Vec<ObjectInfo>, StoreError> {
        Ok(self
            .records()?
            .into_iter()
            .filter(|(_, r)| r.state != State::Partial)
            .map(|(id, r)| r.info(id))
            .collect())
    }

    /// Information on one visible object.
    pub fn info(&self, id: &ContentId) -> Result<Option<ObjectInfo>, StoreError> {
        Ok(self
            .record(id)?
            .filter(|r| r.state != State::Partial)
            .map(|r| r.info(*id)))
    }

    /// Starts (or resumes) receiving an object; reserves its size under the quota.
    pub fn begin_put(&self, manifest: &Manifest, deal: u64) -> Result<Upload, StoreError> {
        let id = manifest.id();
        let _guard = self
            .inner
            .reserve
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let record = match self.record(&id)? {
            Some(record) => record,
            None => {
                let records = self.records()?;
                let used: u64 = records.iter().map(|(_, r)| r.size).sum();
                let quota = self.quota();
                let available = quota.saturating_sub(used);
                if manifest.size() > available {
                    return Err(StoreError::QuotaExceeded {
                        needed: manifest.size(),
                        available,
                        quota,
                    });
                }
                if let Some(room) = self.disk_room(&records)
                    && manifest.size() > room
                {
                    return Err(StoreError::DiskFull {
                        needed: manifest.size(),
                        free: room,
                        dir: self.inner.dir.clone(),
                    });
                }
                let record = Record {
                    size: manifest.size(),
                    state: State::Partial,
                    deal,
                    have: Vec::new(),
                    more_deals: Vec::new(),
                };
                self.put_record(&id, &record, Some(manifest))?;
                record
            }
        };
        let path = self.partial_path(&id);
        let (file, have) = match record.state {
            State::Complete => (None, vec![0xff; manifest.chunks().div_ceil(8) as usize]),
            State::Corrupt | State::Partial => {
                let mut record = record;
                if record.state == State::Corrupt {
                    // A re-upload repairs a corrupt object: start over.
                    let _ = fs::remove_file(self.object_path(&id));
                    record.state = State::Partial;
                    record.have.clear();
                    self.put_record(&id, &record, None)?;
                }
                let file = OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .read(true)
                    .write(true)
                    .open(&path)
                    .map_err(io_err("create partial file", &path))?;
                file.set_len(manifest.size())
                    .map_err(io_err("size partial file", &path))?;
                (Some(file), record.have)
            }
        };
        Ok(Upload {
            store: self.clone(),
            id,
            manifest: manifest.clone(),
            file,
            have,
            deal,
            unsynced: 0,
        })
    }

    /// Opens a complete object for reading.
    pub fn reader(&self, id: &ContentId) -> Result<Reader, StoreError> {
        match self.record(id)? {
            Some(r) if r.state == State::Complete => {}
            Some(r) if r.state == State::Corrupt => {
                return Err(StoreError::Corrupt { id: *id, chunk: 0 });
            }
            _ => return Err(StoreError::NotFound(*id)),
        }
        let manifest = self.manifest(id)?;
        let path = self.object_path(id);
        let file = File::open(&path).map_err(io_err("open object", &path))?;
        Ok(Reader {
            store: self.clone(),
            id: *id,
            manifest,
            file,
        })
    }

    /// Reads and checks every chunk of an object; marks it corrupt on the first bad chunk
    /// ([`Store::audit`] without a proof).
    pub fn scrub(&self, id: &ContentId) -> Result<(), StoreError> {
        match self.audit(id, None)?.corrupt {
            Some(chunk) => Err(StoreError::Corrupt { id: *id, chunk }),
            None => Ok(()),
        }
    }

    /// Reads a stored object (complete, or already found corrupt) once from disk, checking
    /// every chunk against its manifest (a scrub) and, given `challenges`, building in the same
    /// pass the possession proof for those leaf indices (`chain::proof`).
    ///
    /// This is the provider's one full read per proof period: the proof must come from the bytes
    /// on disk, and the same read finds bit rot before a buyer asks for the data. The proof
    /// covers the file as it is, so a damaged object yields a proof the chain rejects rather
    /// than none (none only when the file's size cannot be proven at all, such as 0 bytes).
    /// The first mismatching chunk marks the object `Corrupt`.
    pub fn audit(
        &self,
        id: &ContentId,
        challenges: Option<&[u64; chain::proof::CHALLENGES]>,
    ) -> Result<Audit, StoreError> {
        let was = match self.record(id)? {
            Some(r) if matches!(r.state, State::Complete | State::Corrupt) => r.state,
            _ => return Err(StoreError::NotFound(*id)),
        };
        let manifest = self.manifest(id)?;
        let path = self.object_path(id);
        let size = fs::metadata(&path)
            .map_err(io_err("read object", &path))?
            .len();
        let mut check = ChunkCheck::new(&manifest);
        let hasher = match challenges {
            Some(indices) => chain::proof::PieceHasher::with_challenges(size, indices).ok(),
            None => None,
        };
        let (commitment, proof) = match hasher {
            Some(hasher) => {
                let (commitment, proof) = hash_piece_and(&path, hasher, |piece| check.feed(piece))
                    .map_err(io_err("read object", &path))?;
                (Some(commitment), proof)
            }
            None => {
                let mut file = File::open(&path).map_err(io_err("read object", &path))?;
                let mut buf = vec![0u8; SCRUB_READ];
                loop {
                    match file.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => check.feed(&buf[..n]),
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(io_err("read object", &path)(e)),
                    }
                }
                (None, None)
            }
        };
        let corrupt = check.finish();
        let newly_corrupt = corrupt.is_some() && was == State::Complete;
        if let Some(chunk) = corrupt
            && newly_corrupt
        {
            tracing::error!(%id, chunk, path = %path.display(), "corrupt object on disk");
            self.set_state(id, State::Corrupt)?;
        }
        Ok(Audit {
            proof,
            commitment,
            corrupt,
            newly_corrupt,
        })
    }

    /// Deletes `id` if every deal its record names is among `ended` (none was added since they
    /// were read), with [`Store::remove`]; returns the bytes freed, `None` if it was kept.
    pub fn release(&self, id: &ContentId, ended: &[u64]) -> Result<Option<u64>, StoreError> {
        let _guard = self
            .inner
            .reserve
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(record) = self.record(id)? else {
            return Ok(None);
        };
        let deals = record.deals();
        if deals.is_empty()
            || record.state == State::Partial
            || !deals.iter().all(|deal| ended.contains(deal))
        {
            return Ok(None);
        }
        self.remove(id)?;
        Ok(Some(record.size))
    }

    /// Deletes an object (any state) and frees its quota.
    pub fn remove(&self, id: &ContentId) -> Result<(), StoreError> {
        let tx = self.inner.db.begin_write().map_err(db_err("write"))?;
        {
            let mut table = tx.open_table(OBJECTS).map_err(db_err("open table"))?;
            table.remove(id.0.as_slice()).map_err(db_err("remove"))?;
            let mut manifests = tx.open_table(MANIFESTS).map_err(db_err("open table"))?;
            manifests
                .remove(id.0.as_slice())
                .map_err(db_err("remove"))?;
        }
        tx.commit().map_err(db_err("commit"))?;
        let _ = fs::remove_file(self.object_path(id));
        let _ = fs::remove_file(self.partial_path(id));
        Ok(())
    }
}

/// What [`Store::audit`] found in one read of an object.
#[derive(Debug)]
pub struct Audit {
    /// The possession proof (`None` when no challenges were given).
    pub proof: Option<Vec<u8>>,
    /// The commitment (size and Merkle root) of the bytes on disk, computed in the same read
    /// (`None` when no challenges were given): a proof only passes for a deal committed to it.
    pub commitment: Option<chain::proof::Commitment>,
    /// The first chunk whose bytes on disk do not match the manifest, if any.
    pub corrupt: Option<u64>,
    /// Whether this audit is what found the object corrupt (it was `Complete` until now).
    pub newly_corrupt: bool,
}

/// Checks a stream of an object's bytes, in order and in pieces of any size, chunk by chunk
/// against its manifest, and remembers the first chunk that fails.
struct ChunkCheck<'a> {
    manifest: &'a Manifest,
    /// The chunk the next bytes belong to.
    next: u64,
    /// The start of chunk `next` when it straddles two pieces.
    carry: Vec<u8>,
    corrupt: Option<u64>,
}

impl<'a> ChunkCheck<'a> {
    fn new(manifest: &'a Manifest) -> Self {
        Self {
            manifest,
            next: 0,
            carry: Vec::new(),
            corrupt: None,
        }
    }

    fn feed(&mut self, mut piece: &[u8]) {
        while !piece.is_empty() && self.corrupt.is_none() {
            let Ok(range) = self.manifest.chunk_range(self.next) else {
                // Bytes past the manifest's end: the object is longer than what was stored.
                self.corrupt = Some(self.manifest.chunks().saturating_sub(1));
                return;
            };
            let len = (range.end - range.start) as usize;
            let chunk = if self.carry.is_empty() && piece.len() >= len {
                let (chunk, rest) = piece.split_at(len);
                piece = rest;
                chunk
            } else {
                let take = (len - self.carry.len()).min(piece.len());
                self.carry.extend_from_slice(&piece[..take]);
                piece = &piece[take..];
                if self.carry.len() < len {
                    return;
                }
                &self.carry[..]
            };
            if self.manifest.verify_chunk(self.next, chunk).is_err() {
                self.corrupt = Some(self.next);
            }
            self.carry.clear();
            self.next += 1;
        }
    }

    /// The first bad chunk; a chunk cut short by the end of the file is bad.
    fn finish(self) -> Option<u64> {
        self.corrupt
            .or((self.next < self.manifest.chunks()).then_some(self.next))
    }
}

/// An object being received.
#[derive(Debug)]
pub struct Upload {
    store: Store,
    id: ContentId,
    manifest: Manifest,
    /// `None` when the object was already complete.
    file: Option<File>,
    have: Vec<u8>,
    deal: u64,
    unsynced: u64,
}

impl Upload {
    /// Bitmap of chunks already durably held (for resume).
    pub fn have(&self) -> &[u8] {
        &self.have
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Verifies and writes chunk `index`.
    pub fn write_chunk(&mut self, index: u64, data: &[u8]) -> Result<(), StoreError> {
        self.manifest.verify_chunk(index, data)?;
        let Some(file) = &mut self.file else {
            return Ok(());
        };
        if bit(&self.have, index) {
            return Ok(());
        }
        let path = self.store.partial_path(&self.id);
        let offset = self.manifest.chunk_range(index)?.start;
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.write_all(data))
            .map_err(io_err("write chunk", &path))?;
        set_bit(&mut self.have, index);
        self.unsynced += data.len() as u64;
        if self.unsynced >= SYNC_EVERY {
            self.sync()?;
        }
        Ok(())
    }

    /// Fsyncs the data, then commits the bitmap of held chunks.
    pub fn sync(&mut self) -> Result<(), StoreError> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let path = self.store.partial_path(&self.id);
        file.sync_data()
            .map_err(io_err("fsync partial file", &path))?;
        self.store.put_record(
            &self.id,
            &Record {
                size: self.manifest.size(),
                state: State::Partial,
                deal: self.deal,
                have: self.have.clone(),
                more_deals: Vec::new(),
            },
            None,
        )?;
        self.unsynced = 0;
        Ok(())
    }

    /// The on-chain proof commitment (`chain::proof`) of the bytes received so far; call once
    /// every chunk has arrived. Streams the file (memory does not grow with the object).
    pub fn commitment(&mut self) -> Result<chain::proof::Commitment, StoreError> {
        let path = match &self.file {
            Some(_) => self.store.partial_path(&self.id),
            None => self.store.object_path(&self.id),
        };
        let hasher =
            chain::proof::PieceHasher::new(self.manifest.size()).map_err(|e| StoreError::Io {
                phase: "commitment",
                path: path.clone(),
                source: std::io::Error::other(e),
            })?;
        hash_piece(&path, hasher)
            .map(|(commitment, _)| commitment)
            .map_err(io_err("read for the commitment", &path))
    }

    /// Drops the object and everything received for it.
    pub fn abandon(self) -> Result<(), StoreError> {
        let Self {
            store, id, file, ..
        } = self;
        drop(file);
        store.remove(&id)
    }

    /// Makes the object durable and visible; returns only once it is.
    pub fn finish(mut self) -> Result<ObjectInfo, StoreError> {
        let missing = (0..self.manifest.chunks())
            .filter(|&i| !bit(&self.have, i))
            .count() as u64;
        if missing > 0 {
            self.sync()?;
            return Err(StoreError::Incomplete {
                id: self.id,
                missing,
            });
        }
        let Some(file) = self.file.take() else {
            // Complete already: stored under this deal too.
            return self.store.add_deal(&self.id, self.deal);
        };
        let partial = self.store.partial_path(&self.id);
        let object = self.store.object_path(&self.id);
        file.sync_all().map_err(io_err("fsync object", &partial))?;
        drop(file);
        // The bitmap says "all" before the rename, so recovery can complete a crashed rename.
        self.store.put_record(
            &self.id,
            &Record {
                size: self.manifest.size(),
                state: State::Partial,
                deal: self.deal,
                have: self.have.clone(),
                more_deals: Vec::new(),
            },
            None,
        )?;
        fs::rename(&partial, &object).map_err(io_err("rename into objects", &object))?;
        sync_dir(&self.store.inner.dir.join("objects"))?;
        sync_dir(&self.store.inner.dir.join("partial"))?;
        let record = Record {
            size: self.manifest.size(),
            state: State::Complete,
            deal: self.deal,
            have: Vec::new(),
            more_deals: Vec::new(),
        };
        // With the deals another upload added meanwhile.
        let written = self.store.put_record(&self.id, &record, None)?;
        Ok(written.info(self.id))
    }
}

/// A complete object open for verified reading.
#[derive(Debug)]
pub struct Reader {
    store: Store,
    id: ContentId,
    manifest: Manifest,
    file: File,
}

impl Reader {
    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Reads chunk `index` and checks it; a mismatch marks the object corrupt and is an error.
    pub fn read_chunk(&mut self, index: u64) -> Result<Vec<u8>, StoreError> {
        let range = self.manifest.chunk_range(index)?;
        let mut buf = vec![0u8; (range.end - range.start) as usize];
        let path = self.store.object_path(&self.id);
        let read = self
            .file
            .seek(SeekFrom::Start(range.start))
            .and_then(|_| self.file.read_exact(&mut buf));
        let ok = read.is_ok() && self.manifest.verify_chunk(index, &buf).is_ok();
        if !ok {
            tracing::error!(id = %self.id, chunk = index, path = %path.display(), "corrupt object on disk");
            self.store.set_state(&self.id, State::Corrupt)?;
            return Err(StoreError::Corrupt {
                id: self.id,
                chunk: index,
            });
        }
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::CHUNK_SIZE;

    fn data(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn a_store_open_twice_is_refused_as_in_use_until_the_first_is_closed() {
        let dir = tempfile::tempdir().unwrap();
        let first = Store::open(dir.path(), 1 << 20).unwrap();
        put(&first, &data(1000, 1)).unwrap();
        let clone = first.clone();
        let err = Store::open(dir.path(), 2 << 20).err().unwrap();
        assert!(matches!(err, StoreError::InUse { .. }), "{err}");
        assert!(err.to_string().contains("store.redb"), "{err}");
        // Held while any clone lives; free once the last is dropped, with its object intact.
        drop(first);
        assert!(matches!(
            Store::open(dir.path(), 2 << 20).err(),
            Some(StoreError::InUse { .. })
        ));
        drop(clone);
        let again = Store::open(dir.path(), 2 << 20).unwrap();
        assert_eq!(again.quota(), 2 << 20);
        assert_eq!(again.list().unwrap().len(), 1);
    }

    #[test]
    fn an_object_bought_again_keeps_every_deal_over_a_restart_and_is_released_once_all_end() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = data(3 * crate::content::CHUNK_SIZE + 7, 5);
        let manifest = Manifest::of(&bytes).unwrap();
        let id = manifest.id();
        let store = Store::open(dir.path(), 1 << 30).unwrap();
        let mut upload = store.begin_put(&manifest, 1).unwrap();
        for i in 0..manifest.chunks() {
            let r = manifest.chunk_range(i).unwrap();
            upload
                .write_chunk(i, &bytes[r.start as usize..r.end as usize])
                .unwrap();
        }
        assert_eq!(upload.finish().unwrap().deals, [1]);
        // Bought again: nothing to receive, the deal added; the same deal twice adds nothing.
        for deal in [2, 2] {
            let upload = store.begin_put(&manifest, deal).unwrap();
            assert!(upload.have().iter().all(|byte| *byte == 0xff));
            assert_eq!(upload.finish().unwrap().deals, [1, 2]);
        }
        // A corrupt object stays corrupt when a deal is added.
        store.set_state(&id, State::Corrupt).unwrap();
        let info = store.add_deal(&id, 4).unwrap();
        assert_eq!((info.state, info.deals), (State::Corrupt, vec![1, 2, 4]));
        assert!(matches!(
            store.add_deal(&ContentId([9; 32]), 5),
            Err(StoreError::NotFound(_))
        ));
        drop(store);
        let store = Store::open(dir.path(), 1 << 30).unwrap();
        assert_eq!(store.list().unwrap()[0].deals, [1, 2, 4]);
        // Released only once every deal it has is over.
        assert_eq!(store.release(&id, &[1, 2]).unwrap(), None);
        assert_eq!(store.list().unwrap().len(), 1);
        assert_eq!(
            store.release(&id, &[1, 2, 4, 7]).unwrap(),
            Some(bytes.len() as u64)
        );
        assert!(store.list().unwrap().is_empty());
        assert!(!dir.path().join("objects").join(id.to_string()).exists());
        assert_eq!(store.release(&id, &[1, 2, 4]).unwrap(), None, "gone");
        // An object stored for free (no deal) is never released.
        let free = put(&store, &data(1000, 6)).unwrap();
        assert!(free.deals.is_empty());
        assert_eq!(store.release(&free.id, &[0, 1]).unwrap(), None);
        assert_eq!(store.list().unwrap().len(), 1);
        // A record written before objects had several deals reads as its one deal.
        let old: Record =
            serde_json::from_str(r#"{"size":1,"state":"complete","deal":5,"have":[]}"#).unwrap();
        assert_eq!(old.deals(), [5]);
        let free: Record =
            serde_json::from_str(r#"{"size":1,"state":"complete","deal":0,"have":[]}"#).unwrap();
        assert!(free.deals().is_empty());
    }

    fn put(store: &Store, bytes: &[u8]) -> Result<ObjectInfo, StoreError> {
        let manifest = Manifest::of(bytes)?;
        let mut upload = store.begin_put(&manifest, 0)?;
        for i in 0..manifest.chunks() {
            let r = manifest.chunk_range(i)?;
            upload.write_chunk(i, &bytes[r.start as usize..r.end as usize])?;
        }
        upload.finish()
    }

    #[test]
    fn hashing_a_file_on_several_threads_gives_the_in_memory_proof() {
        // Blocks of 32 leaves (1 KiB), three read at once, over 20 KiB and a ragged tail: whole
        // blocks go to threads, except those holding a challenged leaf, and the tail is hashed
        // leaf by leaf.
        let bytes = data((20 << 10) + 123, 9);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("piece");
        fs::write(&path, &bytes).unwrap();
        let tree = chain::proof::Tree::build(&bytes).unwrap();
        let leaves = tree.commitment().leaves();
        for indices in [[0, leaves - 1, 300], [40, 41, 639], [100, 200, 500]] {
            for blocks in [1, 3] {
                let hasher =
                    chain::proof::PieceHasher::with_challenges(bytes.len() as u64, &indices)
                        .unwrap();
                let (commitment, proof) =
                    hash_piece_in_blocks(&path, hasher, 5, blocks, |_| {}).unwrap();
                assert_eq!(commitment, tree.commitment());
                assert_eq!(proof.unwrap(), tree.prove(&bytes, &indices).unwrap());
            }
        }
        // The real block size over a small file: no whole block, leaf by leaf.
        let hasher =
            chain::proof::PieceHasher::with_challenges(bytes.len() as u64, &[1, 2, 3]).unwrap();
        let (_, proof) = hash_piece(&path, hasher).unwrap();
        assert_eq!(proof.unwrap(), tree.prove(&bytes, &[1, 2, 3]).unwrap());
        // A file shorter than the piece is refused, not proven.
        let hasher = chain::proof::PieceHasher::new(bytes.len() as u64 + 1).unwrap();
        let err = hash_piece(&path, hasher).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    }

    #[test]
    fn chunk_check_finds_the_first_bad_chunk_whatever_the_piece_sizes() {
        let bytes = data(5 * CHUNK_SIZE + 77, 4);
        let manifest = Manifest::of(&bytes).unwrap();
        let mut bad = bytes.clone();
        bad[3 * CHUNK_SIZE + 5] ^= 0x40;
        bad[4 * CHUNK_SIZE] ^= 1;
        let run = |bytes: &[u8], piece: usize| {
            let mut check = ChunkCheck::new(&manifest);
            bytes.chunks(piece).for_each(|p| check.feed(p));
            check.finish()
        };
        for piece in [1, 4096, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 3, 2 << 20] {
            assert_eq!(run(&bytes, piece), None, "piece {piece}");
            assert_eq!(run(&bad, piece), Some(3), "piece {piece}");
            // Cut short: the chunk the end falls in; one byte more: the last chunk.
            assert_eq!(run(&bytes[..2 * CHUNK_SIZE + 10], piece), Some(2));
            assert_eq!(run(&bytes[..5 * CHUNK_SIZE], piece), Some(5));
            let mut long = bytes.clone();
            long.push(0);
            assert_eq!(run(&long, piece), Some(5), "piece {piece}");
        }
    }

    #[test]
    fn an_audit_proves_from_disk_and_finds_a_flipped_byte_in_the_same_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 30).unwrap();
        let bytes = data(6 * CHUNK_SIZE + 1000, 21);
        let id = put(&store, &bytes).unwrap().id;
        let tree = chain::proof::Tree::build(&bytes).unwrap();
        let commitment = tree.commitment();
        let leaves = commitment.leaves();
        let indices = [0, leaves / 2, leaves - 1];

        let audit = store.audit(&id, Some(&indices)).unwrap();
        assert_eq!((audit.corrupt, audit.newly_corrupt), (None, false));
        let proof = audit.proof.unwrap();
        assert_eq!(proof, tree.prove(&bytes, &indices).unwrap());
        chain::proof::verify(&commitment, &indices, &proof).unwrap();
        assert!(store.audit(&id, None).unwrap().proof.is_none());

        // A flipped byte in chunk 4, far from every challenged leaf: the chunk is reported, the
        // object is no longer served, and the proof (built over the bytes on disk) fails.
        let path = store.data_path(&id);
        let mut on_disk = fs::read(&path).unwrap();
        on_disk[4 * CHUNK_SIZE + 17] ^= 0x80;
        fs::write(&path, &on_disk).unwrap();
        let audit = store.audit(&id, Some(&indices)).unwrap();
        assert_eq!((audit.corrupt, audit.newly_corrupt), (Some(4), true));
        assert!(chain::proof::verify(&commitment, &indices, &audit.proof.unwrap()).is_err());
        assert!(matches!(store.reader(&id), Err(StoreError::Corrupt { .. })));
        // Audited again (the next period): still corrupt, no longer news, still proven.
        let audit = store.audit(&id, Some(&indices)).unwrap();
        assert_eq!((audit.corrupt, audit.newly_corrupt), (Some(4), false));
        assert!(audit.proof.is_some());
        assert!(matches!(
            store.scrub(&id),
            Err(StoreError::Corrupt { chunk: 4, .. })
        ));
    }

    #[test]
    fn an_audit_of_a_truncated_object_reports_it_and_still_builds_a_failing_proof() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 30).unwrap();
        let bytes = data(4 * CHUNK_SIZE, 22);
        let id = put(&store, &bytes).unwrap().id;
        let commitment = chain::proof::commit(&bytes).unwrap();
        let path = store.data_path(&id);
        fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(CHUNK_SIZE as u64 + 9)
            .unwrap();
        let indices = [0, 1, 2];
        let audit = store.audit(&id, Some(&indices)).unwrap();
        assert_eq!((audit.corrupt, audit.newly_corrupt), (Some(1), true));
        assert!(chain::proof::verify(&commitment, &indices, &audit.proof.unwrap()).is_err());
        // Emptied: nothing can be proven, and the object stays reported.
        fs::write(&path, b"").unwrap();
        let audit = store.audit(&id, Some(&indices)).unwrap();
        assert_eq!((audit.corrupt, audit.proof), (Some(0), None));
        // Gone: an error naming the file, not a panic.
        fs::remove_file(&path).unwrap();
        let err = store.audit(&id, Some(&indices)).unwrap_err();
        assert!(err.to_string().contains(&id.to_string()), "{err}");
    }

    #[test]
    fn put_read_and_restart_keeps_data() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = data(3 * CHUNK_SIZE + 99, 7);
        let id = {
            let store = Store::open(dir.path(), 1 << 30).unwrap();
            let info = put(&store, &bytes).unwrap();
            assert_eq!(store.list().unwrap(), vec![info.clone()]);
            info.id
        };
        let store = Store::open(dir.path(), 1 << 30).unwrap();
        let mut reader = store.reader(&id).unwrap();
        let mut back = Vec::new();
        for i in 0..reader.manifest().chunks() {
            back.extend(reader.read_chunk(i).unwrap());
        }
        assert_eq!(back, bytes);
        assert_eq!(store.used().unwrap(), bytes.len() as u64);
    }

    #[test]
    fn full_quota_is_refused_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1000).unwrap();
        put(&store, &data(600, 3)).unwrap();
        let err = put(&store, &data(600, 5)).unwrap_err();
        assert!(matches!(
            err,
            StoreError::QuotaExceeded {
                needed: 600,
                available: 400,
                quota: 1000
            }
        ));
        assert!(err.to_string().contains("raise --quota"), "{err}");
    }

    #[test]
    fn a_quota_changed_at_runtime_applies_to_the_next_object_and_keeps_what_is_held() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1000).unwrap();
        let held = put(&store, &data(600, 3)).unwrap();
        // Below what is used: the next object is refused, the held one stays readable.
        store.set_quota(500);
        assert_eq!(store.quota(), 500);
        let err = put(&store, &data(100, 5)).unwrap_err();
        assert!(matches!(
            err,
            StoreError::QuotaExceeded {
                needed: 100,
                available: 0,
                quota: 500
            }
        ));
        assert_eq!(store.list().unwrap(), vec![held.clone()]);
        assert_eq!(
            store.reader(&held.id).unwrap().read_chunk(0).unwrap(),
            data(600, 3)
        );
        // Raised: the clone shares it, and the object that was refused now fits.
        let clone = store.clone();
        clone.set_quota(700);
        assert_eq!(store.quota(), 700);
        let added = put(&store, &data(100, 5)).unwrap();
        assert_eq!(store.used().unwrap(), 700);
        assert_eq!(store.list().unwrap().len(), 2);
        assert!(store.list().unwrap().contains(&added));
    }

    #[test]
    fn the_disks_free_space_bounds_what_is_accepted_whatever_the_quota() {
        // The real probe answers on this platform, with something free.
        let dir = tempfile::tempdir().unwrap();
        assert!(disk_free(dir.path()).is_some_and(|free| free > 0));

        // A disk with 1000 bytes beyond the spare, under a 1 GiB quota.
        let store = Store::open(dir.path(), 1 << 30)
            .unwrap()
            .with_disk_free(|_| Some(DISK_SPARE + 1000));
        assert_eq!(store.free().unwrap(), 1000);
        let err = put(&store, &data(1500, 1)).unwrap_err();
        assert!(
            matches!(
                &err,
                StoreError::DiskFull {
                    needed: 1500,
                    free: 1000,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("disk is full"), "{err}");
        assert!(store.list().unwrap().is_empty(), "nothing half-stored");
        // An object being received counts against the disk until it is written.
        let first = data(600, 2);
        let manifest = Manifest::of(&first).unwrap();
        let upload = store.begin_put(&manifest, 0).unwrap();
        assert_eq!(store.free().unwrap(), 400);
        let err = put(&store, &data(600, 3)).unwrap_err();
        assert!(
            matches!(err, StoreError::DiskFull { free: 400, .. }),
            "{err}"
        );
        // The quota still applies when it is the smaller bound.
        store.set_quota(700);
        assert_eq!(store.free().unwrap(), 100);
        drop(upload);
    }

    #[test]
    fn a_flipped_byte_is_detected_not_served_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 30).unwrap();
        let bytes = data(2 * CHUNK_SIZE, 9);
        let id = put(&store, &bytes).unwrap().id;
        let path = store.data_path(&id);
        let mut on_disk = fs::read(&path).unwrap();
        on_disk[CHUNK_SIZE + 10] ^= 1;
        fs::write(&path, &on_disk).unwrap();
        let mut reader = store.reader(&id).unwrap();
        assert_eq!(reader.read_chunk(0).unwrap(), bytes[..CHUNK_SIZE]);
        assert!(matches!(
            reader.read_chunk(1),
            Err(StoreError::Corrupt { chunk: 1, .. })
        ));
        assert_eq!(store.info(&id).unwrap().unwrap().state, State::Corrupt);
        assert!(matches!(store.reader(&id), Err(StoreError::Corrupt { .. })));
        // Re-uploading the object repairs it.
        put(&store, &bytes).unwrap();
        store.scrub(&id).unwrap();
    }

    #[test]
    fn an_interrupted_put_is_invisible_and_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = data(40 * CHUNK_SIZE, 11);
        let manifest = Manifest::of(&bytes).unwrap();
        {
            let store = Store::open(dir.path(), 1 << 30).unwrap();
            let mut upload = store.begin_put(&manifest, 0).unwrap();
            for i in 0..35 {
                let r = manifest.chunk_range(i).unwrap();
                upload
                    .write_chunk(i, &bytes[r.start as usize..r.end as usize])
                    .unwrap();
            }
            // Dropped without finish: as if the process died here.
        }
        let store = Store::open(dir.path(), 1 << 30).unwrap();
        assert!(store.list().unwrap().is_empty());
        assert!(matches!(
            store.reader(&manifest.id()),
            Err(StoreError::NotFound(_))
        ));
        let upload = store.begin_put(&manifest, 0).unwrap();
        let held = (0..40).filter(|&i| bit(upload.have(), i)).count() as u64;
        // Synced every 8 MiB (32 chunks): the first window survived, the rest is re-sent.
        assert_eq!(held, SYNC_EVERY / CHUNK_SIZE as u64);
        assert!(matches!(
            upload.finish(),
            Err(StoreError::Incomplete { missing: 8, .. })
        ));
        // A chunk that does not match the manifest is refused.
        let mut upload = store.begin_put(&manifest, 0).unwrap();
        assert!(matches!(
            upload.write_chunk(39, &bytes[..CHUNK_SIZE]),
            Err(StoreError::Content(_))
        ));
    }

    #[test]
    fn recovery_removes_orphans_and_completes_a_crashed_rename() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = data(CHUNK_SIZE + 1, 13);
        let manifest = Manifest::of(&bytes).unwrap();
        let id = manifest.id();
        {
            let store = Store::open(dir.path(), 1 << 30).unwrap();
            let mut upload = store.begin_put(&manifest, 0).unwrap();
            upload.write_chunk(0, &bytes[..CHUNK_SIZE]).unwrap();
            upload.write_chunk(1, &bytes[CHUNK_SIZE..]).unwrap();
            upload.sync().unwrap();
            // Simulate a crash right after the rename.
            fs::rename(store.partial_path(&id), store.object_path(&id)).unwrap();
        }
        fs::write(dir.path().join("partial").join("junk"), b"x").unwrap();
        let store = Store::open(dir.path(), 1 << 30).unwrap();
        assert!(!dir.path().join("partial/junk").exists());
        assert_eq!(store.info(&id).unwrap().unwrap().state, State::Complete);
        store.scrub(&id).unwrap();
    }
}
