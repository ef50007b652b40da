//! The simulator over HTTP on 127.0.0.1: provisioned by Cairn's client and by Espressif's own
//! `esp_prov`, at security 1 and 2, with faults injected; and over BLE through BlueZoo.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on unexpected errors"
)]

mod ble;
mod esp_prov;
mod http;

use std::sync::{Arc, Mutex};

use ble_provisioning::client::{Options, Request};
use ble_provisioning::device::{Config, Device};
use ble_provisioning::security::{Credentials, DeviceSecurity};

pub(crate) fn device(security: DeviceSecurity) -> Arc<Mutex<Device>> {
    Arc::new(Mutex::new(Device::new(Config::example(
        "PROV_HTTP",
        security,
    ))))
}

pub(crate) fn request(pop: &str, passphrase: &str) -> Request {
    Request {
        options: Options {
            credentials: Credentials {
                pop: pop.into(),
                username: String::new(),
            },
            ..Options::default()
        },
        ssid: "cairn-home".into(),
        passphrase: passphrase.into(),
        scan: true,
        attempts: 3,
        status_polls: 10,
    }
}

pub(crate) async fn pause() {
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
}
