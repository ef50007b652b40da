//! Where the latest verified checkpoint (a finalized beacon block root) survives restarts: a file
//! natively ([`FileCheckpoint`]), IndexedDB through `rexie` in the browser
//! ([`IndexedDbCheckpoint`]). A stored value that is not a block root is an error naming where it
//! is, never silently replaced by the configured checkpoint.

use std::future::Future;
use std::pin::Pin;

use alloy_primitives::B256;

use crate::beacon::BeaconError;

/// What a [`CheckpointStore`] returns: `Send` natively; not in the browser, where IndexedDB
/// handles are JavaScript objects.
#[cfg(not(target_arch = "wasm32"))]
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, BeaconError>> + Send + 'a>>;
/// What a [`CheckpointStore`] returns: `Send` natively; not in the browser, where IndexedDB
/// handles are JavaScript objects.
#[cfg(target_arch = "wasm32")]
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, BeaconError>> + 'a>>;

/// A boxed [`CheckpointStore`], as [`crate::BeaconSync::with_persistence`] takes it: `Send` and
/// `Sync` natively, so a sync can run on any task of a multi-threaded runtime; not in the
/// browser.
#[cfg(not(target_arch = "wasm32"))]
pub type BoxedCheckpointStore = Box<dyn CheckpointStore + Send + Sync>;
/// A boxed [`CheckpointStore`], as [`crate::BeaconSync::with_persistence`] takes it: `Send` and
/// `Sync` natively, so a sync can run on any task of a multi-threaded runtime; not in the
/// browser.
#[cfg(target_arch = "wasm32")]
pub type BoxedCheckpointStore = Box<dyn CheckpointStore>;

/// Where the latest verified checkpoint (a finalized beacon block root) survives restarts.
pub trait CheckpointStore {
    /// The saved checkpoint, if any.
    fn load(&self) -> StoreFuture<'_, Option<B256>>;
    /// Saves `root`, replacing the previous checkpoint.
    fn save(&self, root: B256) -> StoreFuture<'_, ()>;
}

/// A checkpoint kept in a file as one `0x`-hex line (native only), replaced atomically.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Clone)]
pub struct FileCheckpoint {
    path: std::path::PathBuf,
}

#[cfg(not(target_arch = "wasm32"))]
impl FileCheckpoint {
    /// A checkpoint file at `path` (created on the first save).
    pub fn new(path: impl Into<std::path::PathBuf>) -> Self {
        Self { path: path.into() }
    }

    fn error(&self, reason: impl ToString) -> BeaconError {
        BeaconError::Checkpoint {
            path: self.path.display().to_string(),
            reason: reason.to_string(),
        }
    }

    fn load_now(&self) -> Result<Option<B256>, BeaconError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => text
                .trim()
                .parse::<B256>()
                .map(Some)
                .map_err(|e| self.error(format!("not a 32-byte 0x-hex block root: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.error(e)),
        }
    }

    fn save_now(&self, root: B256) -> Result<(), BeaconError> {
        let mut temporary = self.path.clone().into_os_string();
        temporary.push(".tmp");
        std::fs::write(&temporary, format!("{root:#x}\n")).map_err(|e| self.error(e))?;
        std::fs::rename(&temporary, &self.path).map_err(|e| self.error(e))
    }
}

/// A few dozen bytes: read and written in place rather than on a blocking pool.
#[cfg(not(target_arch = "wasm32"))]
impl CheckpointStore for FileCheckpoint {
    fn load(&self) -> StoreFuture<'_, Option<B256>> {
        Box::pin(async move { self.load_now() })
    }

    fn save(&self, root: B256) -> StoreFuture<'_, ()> {
        Box::pin(async move { self.save_now(root) })
    }
}

#[cfg(target_arch = "wasm32")]
pub use indexed_db::IndexedDbCheckpoint;

#[cfg(target_arch = "wasm32")]
mod indexed_db {
    use alloy_primitives::B256;
    use light_client::ChainConfig;
    use rexie::{ObjectStore, Rexie, TransactionMode};
    use wasm_bindgen::JsValue;

    use super::{CheckpointStore, StoreFuture};
    use crate::beacon::BeaconError;

    /// The object store holding checkpoints, one per chain.
    const STORE: &str = "checkpoints";

    /// The latest checkpoint verified from one trusted checkpoint of one chain, in the browser's
    /// IndexedDB: object store `checkpoints` of `database`, keyed by the chain's genesis
    /// validators root and the trusted checkpoint (`0x…/0x…`: two chains never share a
    /// checkpoint, and a page given another trusted checkpoint starts from it, never from what
    /// was verified from the one it replaces), the value a `0x`-hex string. IndexedDB writes
    /// are transactional: a crash leaves the previous checkpoint or the new one.
    #[derive(Debug, Clone)]
    pub struct IndexedDbCheckpoint {
        database: String,
        key: String,
    }

    impl IndexedDbCheckpoint {
        /// The checkpoint of `config`'s chain verified from `trusted`, in the IndexedDB database
        /// `database` (created on first use).
        pub fn new(database: &str, config: &ChainConfig, trusted: B256) -> Self {
            Self {
                database: database.to_owned(),
                key: format!("{:#x}/{trusted:#x}", config.genesis_validators_root),
            }
        }

        fn error(&self, reason: impl std::fmt::Display) -> BeaconError {
            BeaconError::CheckpointDb {
                database: self.database.clone(),
                reason: reason.to_string(),
            }
        }

        async fn open(&self) -> Result<Rexie, BeaconError> {
            Rexie::builder(&self.database)
                .version(1)
                .add_object_store(ObjectStore::new(STORE))
                .build()
                .await
                .map_err(|e| self.error(format!("cannot open: {e}")))
        }

        async fn load_now(&self) -> Result<Option<B256>, BeaconError> {
            let db = self.open().await?;
            let value = async {
                let transaction = db.transaction(&[STORE], TransactionMode::ReadOnly)?;
                let store = transaction.store(STORE)?;
                let value = store.get(JsValue::from_str(&self.key)).await?;
                transaction.done().await?;
                Ok::<_, rexie::Error>(value)
            }
            .await;
            db.close();
            let Some(value) = value.map_err(|e| self.error(format!("cannot read: {e}")))? else {
                return Ok(None);
            };
            let text = value.as_string().ok_or_else(|| {
                self.error(format!(
                    "the stored checkpoint for chain {} is not a string",
                    self.key
                ))
            })?;
            text.parse::<B256>().map(Some).map_err(|e| {
                self.error(format!(
                    "the stored checkpoint for chain {} is not a 32-byte 0x-hex block root: {e}",
                    self.key
                ))
            })
        }

        async fn save_now(&self, root: B256) -> Result<(), BeaconError> {
            let db = self.open().await?;
            let saved = async {
                let transaction = db.transaction(&[STORE], TransactionMode::ReadWrite)?;
                let store = transaction.store(STORE)?;
                store
                    .put(
                        &JsValue::from_str(&format!("{root:#x}")),
                        Some(&JsValue::from_str(&self.key)),
                    )
                    .await?;
                transaction.done().await?;
                Ok::<_, rexie::Error>(())
            }
            .await;
            db.close();
            saved.map_err(|e| self.error(format!("cannot write: {e}")))
        }
    }

    impl CheckpointStore for IndexedDbCheckpoint {
        fn load(&self) -> StoreFuture<'_, Option<B256>> {
            Box::pin(self.load_now())
        }

        fn save(&self, root: B256) -> StoreFuture<'_, ()> {
            Box::pin(self.save_now(root))
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails loudly")]

    use super::*;

    #[tokio::test]
    async fn checkpoint_file_round_trips_starts_empty_and_names_a_corrupt_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = FileCheckpoint::new(dir.path().join("checkpoint"));
        assert_eq!(file.load().await.unwrap(), None);
        let root = B256::repeat_byte(0xab);
        file.save(root).await.unwrap();
        assert_eq!(file.load().await.unwrap(), Some(root));
        let other = B256::repeat_byte(0xcd);
        file.save(other).await.unwrap();
        assert_eq!(file.load().await.unwrap(), Some(other));

        std::fs::write(dir.path().join("checkpoint"), "not a root\n").unwrap();
        let err = file.load().await.unwrap_err().to_string();
        assert!(err.contains("not a 32-byte 0x-hex block root"), "{err}");
        assert!(err.contains("checkpoint"), "{err}");
        // The corrupt file is still there for the user to inspect; a save replaces it.
        file.save(root).await.unwrap();
        assert_eq!(file.load().await.unwrap(), Some(root));
    }
}
