//! The client's decoding of a device's handshake answers: never panics on arbitrary bytes.
#![no_main]

use ble_provisioning::security::{ClientHandshake, Credentials, Level};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let level = if data.first().is_some_and(|b| b % 2 == 0) {
        Level::Sec1
    } else {
        Level::Sec2
    };
    let credentials = Credentials {
        pop: "abcd1234".into(),
        username: String::new(),
    };
    let Ok(mut client) = ClientHandshake::with_secret(level, credentials, 1, [5; 32]) else {
        return;
    };
    if client.step(None).is_err() {
        return;
    }
    for chunk in data.split(|b| *b == 0xff) {
        if client.step(Some(chunk)).is_err() {
            return;
        }
    }
});
