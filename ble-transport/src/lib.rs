//! The I/O edge of pairing: transports that implement `ble_provisioning::transport::Transport`.
//!
//! Owns: [`ble::Ble`], ESP's BLE transport over btleplug (scan with a service filter, 0x2901
//! endpoint names with the `FF4F`–`FF53` fallback, write-with-response then read, notifications,
//! timeouts, reconnect), and [`http::Http`], ESP's softAP transport (`POST /<endpoint>`, session
//! cookie, bounded timeouts). Protocol, crypto and the client live in `ble-provisioning`; this crate only moves
//! bytes.
//!
//! Builds for: native (Linux, Android).
//!
//! Must not depend on: `runtime`, the app, the UI or any shell crate.

pub mod ble;
pub mod http;

pub use ble::Ble;
pub use http::Http;
