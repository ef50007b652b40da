//! Cairn's libp2p node and storage market.
//!
//! Owns:
//! - [`content`]: content ids, manifests and chunk verification (pure);
//! - [`wire`]: the storage protocol's frames (pure);
//! - [`store`]: the provider's crash-safe object store (redb metadata, fsynced data, quota);
//!
//! Builds for: native (Linux, macOS, Android). The pure modules have no I/O.
//!
//! Must not depend on: `runtime`, `app`, `cli` or the UI (the runtime embeds the node, never the
//! reverse).

pub mod content;
pub mod store;
pub mod wire;

pub use content::{ContentId, Manifest};
pub use store::Store;
