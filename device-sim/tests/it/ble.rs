//! The simulator over BLE: BlueZoo (PyPI `bluezoo`, pinned, in the venv `cargo xtask setup`
//! makes) on a private `dbus-daemon` with seven virtual adapters: `hci0` is the central, `hci1`..
//! `hci4` serve simulators at security 1 and 2 through `bluer`. Cairn's btleplug transport
//! provisions two (and reads their notified meter readings), Espressif's `esp_prov` (bleak) the
//! other two; `hci5` serves one with faults, `hci6` one without 0x2901 names (old firmware).
//!
//! `DBUS_SYSTEM_BUS_ADDRESS` must point at the private bus before any D-Bus connection is made,
//! and setting a process's environment is `unsafe`: so [`ble_over_bluezoo`] starts the bus and
//! BlueZoo, then runs [`bluezoo_child`] in a child process of this test binary with the bus in
//! its environment.

use std::process::Command;
use std::time::Duration;

use ble_provisioning::security::DeviceSecurity;
use ble_transport::ble;
use device_sim::{Config, Device};
use futures::StreamExt as _;
use testkit::BlueZoo;

use crate::esp_prov;

const CHILD: &str = "CAIRN_BLUEZOO_CHILD";

#[test]
fn ble_over_bluezoo() {
    let bus = BlueZoo::start(7).unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "ble::bluezoo_child",
            "--include-ignored",
            "--nocapture",
        ])
        .env("DBUS_SYSTEM_BUS_ADDRESS", bus.address())
        .env(CHILD, "1")
        .spawn()
        .unwrap();
    // Bounded: every step inside has its own timeout; this is the backstop.
    let mut status = None;
    for _ in 0..1800 {
        if let Some(s) = child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let Some(status) = status else {
        let _ = child.kill();
        panic!(
            "the BLE test did not finish within 3 minutes; BlueZoo's log ends:\n{}",
            bus.log_tail(300)
        );
    };
    assert!(
        status.success(),
        "the BLE test failed: {status}; BlueZoo's log ends:\n{}",
        bus.log_tail(300)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by `ble_over_bluezoo`, which starts BlueZoo and puts its bus in the environment"]
async fn bluezoo_child() {
    assert!(
        std::env::var_os(CHILD).is_some(),
        "run `ble_over_bluezoo` instead: it starts BlueZoo first"
    );
    let sec1 = std::sync::Arc::new(std::sync::Mutex::new(Device::new(Config::example(
        "PROV_SEC1",
        DeviceSecurity::Sec1 {
            pop: "abcd1234".into(),
        },
    ))));
    let sec2 = std::sync::Arc::new(std::sync::Mutex::new(Device::new(Config::example(
        "PROV_SEC2",
        DeviceSecurity::sec2("wifiprov", "abcd1234", 1).unwrap(),
    ))));
    let _p1 = device_sim::ble::serve(sec1.clone(), "hci1").await.unwrap();
    let _p2 = device_sim::ble::serve(sec2.clone(), "hci2").await.unwrap();

    // `cairn pair scan`'s path: the service filter finds both.
    let adapter = ble::adapter(Some("hci0")).await.unwrap();
    let mut names = Vec::new();
    for _ in 0..10 {
        let found = ble::scan(
            &adapter,
            Some(device_sim::ble::SERVICE_UUID),
            Duration::from_millis(1500),
        )
        .await
        .unwrap();
        names = found.into_iter().map(|f| f.name).collect();
        if names.len() == 2 {
            break;
        }
    }
    assert_eq!(names, ["PROV_SEC1", "PROV_SEC2"]);

    // Cairn's client over btleplug.
    for (name, device, level) in [("PROV_SEC1", &sec1, 1u8), ("PROV_SEC2", &sec2, 2)] {
        let transport = ble::Ble::connect(
            ble::adapter(Some("hci0")).await.unwrap(),
            name,
            // Any service: the Cairn service's notifying meter is mapped too.
            None,
            Duration::from_secs(15),
        )
        .await
        .unwrap();
        let endpoints = transport.endpoints().await;
        assert!(
            endpoints.contains(&"prov-session".to_owned()),
            "{endpoints:?}"
        );
        assert!(
            endpoints.contains(&"cairn-meter".to_owned()),
            "{endpoints:?}"
        );
        let report = ble_provisioning::client::provision(
            &transport,
            &crate::request("abcd1234", "correct horse"),
            crate::pause,
        )
        .await
        .unwrap();
        assert_eq!(report.security, level);
        assert!(
            report
                .access_points
                .iter()
                .any(|ap| ap.ssid == "cairn-home"),
            "{:?}",
            report.access_points
        );
        assert_eq!(device.lock().unwrap().connected_ssid(), Some("cairn-home"));

        // Signed readings notified by the Cairn service, each verified (signature, counter).
        let meter = device.lock().unwrap().config().identity.address();
        let mut readings = transport
            .notifications(device_sim::ble::READINGS_NAME)
            .await
            .unwrap();
        let mut verifier = ble_provisioning::profile::Verifier::new();
        let mut last = 0;
        for _ in 0..3 {
            let bytes = tokio::time::timeout(Duration::from_secs(10), readings.next())
                .await
                .expect("a notification within 10 s")
                .expect("the notification stream is open");
            let reading = verifier.verify_bytes(&bytes).unwrap();
            assert_eq!(reading.device, meter);
            assert!(reading.counter > last);
            last = reading.counter;
        }
        drop(readings);

        // The plain values as Environmental Sensing characteristics: energy in kWh (uint24).
        let energy = transport
            .read_characteristic(device_sim::ble::sig_uuid(
                ble_provisioning::profile::ess::ENERGY,
            ))
            .await
            .unwrap();
        assert_eq!(energy.len(), 3);
        let kwh = u32::from_le_bytes([energy[0], energy[1], energy[2], 0]);
        assert!((1250..1300).contains(&kwh), "{kwh} kWh");
        transport.disconnect().await;
    }

    // Espressif's own client over BLE (bleak on hci0), on devices of their own: BlueZoo 1.0.2
    // fails a second connection to a device (it exports the GATT objects again: EEXIST).
    let sec1 = std::sync::Arc::new(std::sync::Mutex::new(Device::new(Config::example(
        "PROV_ESP1",
        DeviceSecurity::Sec1 {
            pop: "abcd1234".into(),
        },
    ))));
    let sec2 = std::sync::Arc::new(std::sync::Mutex::new(Device::new(Config::example(
        "PROV_ESP2",
        DeviceSecurity::sec2("wifiprov", "abcd1234", 1).unwrap(),
    ))));
    let _p3 = device_sim::ble::serve(sec1.clone(), "hci3").await.unwrap();
    let _p4 = device_sim::ble::serve(sec2.clone(), "hci4").await.unwrap();
    for (name, sec, device) in [("PROV_ESP1", 1u8, &sec1), ("PROV_ESP2", 2, &sec2)] {
        // bleak lists only devices whose advertising data changed during its 5 s scan, which
        // BlueZoo's once-a-second reports can miss: a bounded retry of discovery only.
        let (mut ok, mut out, mut tries) = (false, String::new(), Vec::new());
        for _ in 0..3 {
            (ok, out) = esp_prov::run(
                &["--transport", "ble", "--host", name],
                sec,
                "abcd1234",
                "correct horse",
            )
            .await;
            tries.push(out.clone());
            if ok || !out.contains("Device not found") {
                break;
            }
        }
        // Every try's output, so a failure shows whether discovery failed each time.
        assert!(
            ok,
            "esp_prov over BLE at security {sec}, {} tries:\n{}",
            tries.len(),
            tries.join("\n---- next try ----\n")
        );
        assert!(out.contains("\"state\": \"connected\""), "{out}");
        assert_eq!(device.lock().unwrap().connected_ssid(), Some("cairn-home"));
    }

    // Faults over BLE end in clear errors within the timeout, never a hang. (Retries reconnect,
    // and BlueZoo 1.0.2 cannot reconnect to a device: retried faults are tested over memory and
    // HTTP.)
    let faulty = std::sync::Arc::new(std::sync::Mutex::new(Device::new(Config::example(
        "PROV_FAULT",
        DeviceSecurity::Sec1 {
            pop: "abcd1234".into(),
        },
    ))));
    let _p5 = device_sim::ble::serve(faulty.clone(), "hci5")
        .await
        .unwrap();
    let transport = ble::Ble::connect(
        ble::adapter(Some("hci0")).await.unwrap(),
        "PROV_FAULT",
        Some(ble::ESP_SERVICE_UUID),
        Duration::from_secs(3),
    )
    .await
    .unwrap();
    let mut once = crate::request("wrong-pop", "correct horse");
    once.attempts = 1;
    let err = ble_provisioning::client::provision(&transport, &once, crate::pause)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ble_provisioning::Error::WrongPop),
        "wrong PoP: {err}"
    );
    faulty
        .lock()
        .unwrap()
        .inject(0, ble_provisioning::device::Fault::Drop);
    let mut once = crate::request("abcd1234", "correct horse");
    once.attempts = 1;
    let err = ble_provisioning::client::provision(&transport, &once, crate::pause)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ble_provisioning::Error::Transport {
                source: ble_provisioning::transport::TransportError::Timeout { .. },
                ..
            }
        ),
        "dropped message: {err}"
    );
    assert!(err.to_string().contains("within 3000 ms"), "{err}");

    // Old firmware without user descriptions: the FF4F-FF53 fallback finds the ESP endpoints.
    let old = std::sync::Arc::new(std::sync::Mutex::new(Device::new(Config::example(
        "PROV_OLD",
        DeviceSecurity::Sec1 {
            pop: "abcd1234".into(),
        },
    ))));
    let _p6 = device_sim::ble::serve_with(old.clone(), "hci6", false)
        .await
        .unwrap();
    let transport = ble::Ble::connect(
        ble::adapter(Some("hci0")).await.unwrap(),
        "PROV_OLD",
        Some(ble::ESP_SERVICE_UUID),
        Duration::from_secs(15),
    )
    .await
    .unwrap();
    assert_eq!(
        transport.endpoints().await,
        [
            "proto-ver",
            "prov-config",
            "prov-ctrl",
            "prov-scan",
            "prov-session"
        ]
    );
    let report = ble_provisioning::client::provision(
        &transport,
        &crate::request("abcd1234", "correct horse"),
        crate::pause,
    )
    .await
    .unwrap();
    assert_eq!(report.security, 1);
    assert_eq!(old.lock().unwrap().connected_ssid(), Some("cairn-home"));
}
