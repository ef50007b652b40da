//! Every endpoint of the simulated device (scan, config, ctrl, Cairn profile) over a security 0
//! session, on arbitrary bytes: never panics.
#![no_main]

use ble_provisioning::device::{Config, Device};
use ble_provisioning::security::DeviceSecurity;
use libfuzzer_sys::fuzz_target;

const ENDPOINTS: [&str; 8] = [
    "proto-ver",
    "prov-session",
    "prov-scan",
    "prov-config",
    "prov-ctrl",
    "cairn-claim",
    "cairn-hotspot",
    "cairn-meter",
];

fuzz_target!(|data: &[u8]| {
    let mut device = Device::new(Config::example("FUZZ", DeviceSecurity::Sec0));
    // Open a security 0 session: SessionData { sec_ver: 0, sec0: { sc: {} } }.
    let _ = device.handle(1, "prov-session", &[0x52, 0x02, 0xa2, 0x01, 0x00]);
    for chunk in data.split(|b| *b == 0xff) {
        let (which, body) = chunk.split_first().unwrap_or((&0, &[]));
        let _ = device.handle(1, ENDPOINTS[*which as usize % ENDPOINTS.len()], body);
    }
});
