//! The device's `prov-session` decoder and handshake (security 1 and 2) on arbitrary bytes:
//! never panics, whatever a client sends, in whatever order.
#![no_main]

use ble_provisioning::security::{DeviceHandshake, DeviceSecrets, DeviceSecurity};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let security = match data.first() {
        Some(b) if b % 2 == 0 => DeviceSecurity::Sec1 {
            pop: "abcd1234".into(),
        },
        _ => DeviceSecurity::Sec2 {
            username: "wifiprov".into(),
            salt: vec![1; 16],
            verifier: ble_provisioning::srp::verifier(&[1; 16], b"wifiprov", b"abcd1234"),
            patch: 1,
        },
    };
    let secrets = DeviceSecrets {
        secret: [7; 32],
        random: [9; 16],
        nonce: [3; 12],
    };
    let mut device = DeviceHandshake::new(security, secrets);
    for chunk in data.split(|b| *b == 0xff) {
        let _ = device.handle(chunk);
    }
});
