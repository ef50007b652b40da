//! Bluetooth LE pairing for installers.
//!
//! Will own (issue "Bluetooth pairing"): Espressif's unified provisioning (protocomm security
//! 0/1/2, Wi-Fi scan/config/apply/status) over btleplug, softAP HTTP and in-memory transports
//! behind one small trait; the Cairn device profile (device identity and EIP-712 claims, hotspot
//! settings, signed meter readings); and a device simulator for tests. Protocol and crypto stay
//! pure; btleplug is confined to one transport module.
//!
//! Builds for: native, `aarch64-linux-android` (not wasm32: browsers have no general BLE).
//!
//! Must not depend on: `runtime`, `node`, the app, the UI or any shell crate.
//!
//! Status: the crate exists so the workspace, the Android check and the dependency rules cover it
//! from day one; it has no API yet.
