//! The I/O edge of pairing: transports that implement `ble_provisioning::transport::Transport`.
//!
//! Owns: [`http::Http`], ESP's softAP transport (`POST /<endpoint>`, session cookie, bounded
//! timeouts). Protocol, crypto and the client live in `ble-provisioning`; this crate only moves
//! bytes.
//!
//! Builds for: native (Linux, Android).
//!
//! Must not depend on: `runtime`, the app, the UI or any shell crate.

pub mod http;

pub use http::Http;
