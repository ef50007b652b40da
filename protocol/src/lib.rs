//! Cairn's wire types: everything that crosses a process, network or IPC boundary.
//!
//! Owns:
//! - [`api`]: the types the UI exchanges with its backend (Tauri IPC in the app, HTTP in
//!   the `cairn daemon`), so both ends share one Rust type and only this crate knows the format;
//! - [`jsonrpc`]: Ethereum JSON-RPC envelopes and quantity decoding, shared by every RPC caller;
//! - [`units`]: sizes as users write them (`10GiB`), parsed the same in the CLI, the app and the
//!   UI.
//!
//! Builds for: native, `wasm32-unknown-unknown`, `aarch64-linux-android`.
//!
//! Must not depend on: any I/O (no tokio, no sockets, no files, no clocks), nor on any other
//! Cairn crate. Everything here is pure data and codecs so it runs in the browser and in tests alike.

pub mod api;
pub mod jsonrpc;
pub mod units;

/// Cairn's version, as built into every binary and the SDK.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
