//! `cairn pair` over Bluetooth LE end to end: BlueZoo (PyPI `bluezoo`, pinned, in the venv
//! `cargo xtask setup` makes) runs on a private `dbus-daemon` with four virtual adapters; two
//! `cairn pair simulate --transport ble` serve simulators (security 1 and 2) on `hci1` and
//! `hci2`; `cairn pair scan` on `hci0` lists them and `cairn pair provision --transport ble`
//! provisions both (by name, and by the QR payload); `cairn meter read --transport ble` reads
//! verified readings from a third. Every child gets the private bus as its
//! `DBUS_SYSTEM_BUS_ADDRESS`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::time::Duration;

use serde_json::Value;
use testkit::{BlueZoo, ChildGuard};
use tokio::process::Command;

mod common;
use common::{CAIRN, START_TIMEOUT};

const RUN_TIMEOUT: Duration = Duration::from_secs(120);

async fn simulator(bus: &BlueZoo, args: &[&str]) -> (ChildGuard, Value) {
    let mut command = Command::new(CAIRN);
    command
        .args(["pair", "simulate", "--transport", "ble"])
        .args(args)
        .env("CAIRN_LOG", "warn")
        .env("DBUS_SYSTEM_BUS_ADDRESS", bus.address());
    let (guard, line) = ChildGuard::spawn_and_read_line(
        "cairn pair simulate --transport ble",
        command,
        "\"address\"",
        START_TIMEOUT,
    )
    .await
    .unwrap();
    (guard, serde_json::from_str(&line).unwrap())
}

async fn cairn(bus: &BlueZoo, args: &[&str]) -> (bool, String, String) {
    let mut command = Command::new(CAIRN);
    command
        .args(args)
        .env("CAIRN_LOG", "warn")
        .env("RUST_BACKTRACE", "0")
        .env("DBUS_SYSTEM_BUS_ADDRESS", bus.address());
    let ran = testkit::run("cairn", command, RUN_TIMEOUT).await.unwrap();
    (ran.ok, ran.stdout, ran.stderr)
}

#[tokio::test]
async fn scan_and_provision_over_ble_at_security_1_and_2() {
    let bus = BlueZoo::start(4).unwrap();
    let (_sim1, info1) = simulator(
        &bus,
        &[
            "--adapter",
            "hci1",
            "--name",
            "PROV_BLE1",
            "--security",
            "1",
            "--pop",
            "abcd1234",
        ],
    )
    .await;
    assert_eq!(info1["name"], "PROV_BLE1");
    assert_eq!(info1["address"], "00:00:00:CA:00:02");
    let (_sim2, info2) = simulator(
        &bus,
        &[
            "--adapter",
            "hci2",
            "--name",
            "PROV_BLE2",
            "--security",
            "2",
            "--pop",
            "abcd1234",
        ],
    )
    .await;
    let qr2 = info2["qr"].as_str().unwrap();
    assert!(qr2.contains("\"transport\":\"ble\""), "{qr2}");

    // Scan (bounded retries: BlueZoo reports advertisers once per second).
    let mut names = Vec::new();
    for _ in 0..10 {
        let (ok, out, err) = cairn(
            &bus,
            &["pair", "scan", "--adapter", "hci0", "--seconds", "2"],
        )
        .await;
        assert!(ok, "{err}");
        names = out
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["name"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect::<Vec<_>>();
        if names.len() == 2 {
            break;
        }
    }
    assert_eq!(names, ["PROV_BLE1", "PROV_BLE2"]);

    // Security 1 by name.
    let (ok, out, err) = cairn(
        &bus,
        &[
            "pair",
            "provision",
            "--transport",
            "ble",
            "--adapter",
            "hci0",
            "--device",
            "PROV_BLE1",
            "--pop",
            "abcd1234",
            "--ssid",
            "cairn-home",
            "--passphrase",
            "correct horse",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let report: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(report["security"], 1);

    // Security 2 from the QR payload.
    let (ok, out, err) = cairn(
        &bus,
        &[
            "pair",
            "provision",
            "--qr",
            qr2,
            "--adapter",
            "hci0",
            "--ssid",
            "cairn-home",
            "--passphrase",
            "correct horse",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let report: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(report["security"], 2);

    // Signed meter readings over BLE, each verified (BlueZoo connects to a device once, so a
    // third simulator serves them).
    let (_sim3, _) = simulator(
        &bus,
        &[
            "--adapter",
            "hci3",
            "--name",
            "PROV_BLE3",
            "--security",
            "1",
            "--pop",
            "abcd1234",
        ],
    )
    .await;
    let (ok, out, err) = cairn(
        &bus,
        &[
            "meter",
            "read",
            "--transport",
            "ble",
            "--adapter",
            "hci0",
            "--device",
            "PROV_BLE3",
            "--pop",
            "abcd1234",
            "--count",
            "3",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let counters: Vec<u64> = out
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["verified"], true);
            v["reading"]["counter"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(counters, [1, 2, 3]);
}
