//! A device simulator for tests and demos: the ESP provisioning device side and the Cairn
//! profile (`ble_provisioning::device::Device`, pure) served over HTTP on 127.0.0.1 the way
//! ESP's `protocomm_httpd` does ([`http`]), and as a BLE peripheral through BlueZ's D-Bus API
//! with `bluer` the way ESP's `protocomm_ble` does ([`ble`]; BlueZoo's virtual adapters in
//! tests), with faults injected on request.
//!
//! Builds for: native.
//!
//! Must not depend on: `runtime`, the app, the UI or any shell crate.

pub mod ble;
pub mod http;

pub use ble_provisioning::device::{Config, Device, Fault};
