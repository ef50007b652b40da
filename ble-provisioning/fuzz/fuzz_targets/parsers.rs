//! `proto-ver` answers, QR payloads and signed meter readings from untrusted bytes: never panic.
#![no_main]

use ble_provisioning::client::Version;
use ble_provisioning::profile::{SignedReading, Verifier};
use ble_provisioning::qr::Payload;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Version::parse(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Payload::parse(text);
    }
    let _ = SignedReading::decode(data);
    let _ = Verifier::new().verify_bytes(data);
});
