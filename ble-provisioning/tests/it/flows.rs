//! Cairn's client provisions the simulated device in memory at each security level, refuses
//! the insecure options unless opted in, and survives every injected fault.

use std::sync::{Arc, Mutex};

use ble_provisioning::Error;
use ble_provisioning::client::{self, Client, Options, Request, WifiStatus};
use ble_provisioning::device::{Config, Device, Fault};
use ble_provisioning::security::{Credentials, DeviceSecurity, Level};
use ble_provisioning::transport::Memory;
use futures::executor::block_on;

fn device(security: DeviceSecurity) -> Arc<Mutex<Device>> {
    Arc::new(Mutex::new(Device::new(Config::example(
        "PROV_TEST",
        security,
    ))))
}

fn sec2(patch: u32) -> DeviceSecurity {
    DeviceSecurity::sec2("wifiprov", "abcd1234", patch).unwrap()
}

fn request(pop: &str, ssid: &str, passphrase: &str) -> Request {
    Request {
        options: Options {
            credentials: Credentials {
                pop: pop.into(),
                username: String::new(),
            },
            ..Options::default()
        },
        ssid: ssid.into(),
        passphrase: passphrase.into(),
        scan: true,
        attempts: 3,
        status_polls: 5,
    }
}

async fn no_pause() {}

#[test]
fn every_security_level_provisions_the_device() {
    let cases = [
        (DeviceSecurity::Sec0, ""),
        (
            DeviceSecurity::Sec1 {
                pop: "abcd1234".into(),
            },
            "abcd1234",
        ),
        (DeviceSecurity::Sec1 { pop: String::new() }, ""),
        (sec2(1), "abcd1234"),
        (sec2(0), "abcd1234"),
    ];
    for (security, pop) in cases {
        let level = security.level();
        let patch = security.patch();
        let dev = device(security);
        let transport = Memory::new(dev.clone());
        let mut req = request(pop, "cairn-home", "correct horse");
        req.options.allow_sec0 = level == Level::Sec0;
        req.options.allow_nonce_reuse = patch == 0;
        let report = block_on(client::provision(&transport, &req, no_pause)).unwrap();
        assert_eq!(report.security, level.number());
        assert_eq!(report.attempts, 1);
        assert_eq!(
            report.access_points.len(),
            13,
            "paged scan reads every network"
        );
        assert_eq!(report.access_points[0].ssid, "cairn-home");
        assert_eq!(
            report.status,
            WifiStatus::Connected {
                ip: "192.168.1.42".into(),
                ssid: "cairn-home".into()
            }
        );
        assert_eq!(dev.lock().unwrap().connected_ssid(), Some("cairn-home"));
    }
}

#[test]
fn insecure_options_are_refused_unless_opted_in() {
    let transport = Memory::new(device(DeviceSecurity::Sec0));
    let err = block_on(client::provision(
        &transport,
        &request("", "cairn-home", "correct horse"),
        no_pause,
    ))
    .unwrap_err();
    assert!(matches!(err, Error::InsecureRefused), "{err}");
    assert!(err.to_string().contains("--allow-insecure"));

    let transport = Memory::new(device(sec2(0)));
    let err = block_on(client::provision(
        &transport,
        &request("abcd1234", "cairn-home", "correct horse"),
        no_pause,
    ))
    .unwrap_err();
    assert!(matches!(err, Error::NonceReuseRefused), "{err}");
}

#[test]
fn wrong_credentials_and_wifi_failures_are_final_and_clear() {
    for security in [
        DeviceSecurity::Sec1 {
            pop: "abcd1234".into(),
        },
        sec2(1),
    ] {
        let transport = Memory::new(device(security));
        let err = block_on(client::provision(
            &transport,
            &request("wrong-pop", "cairn-home", "correct horse"),
            no_pause,
        ))
        .unwrap_err();
        assert!(matches!(err, Error::WrongPop), "{err}");
    }
    let transport = Memory::new(device(sec2(1)));
    let err = block_on(client::provision(
        &transport,
        &request("abcd1234", "cairn-home", "wrong horse"),
        no_pause,
    ))
    .unwrap_err();
    assert!(matches!(err, Error::WifiAuth(_)), "{err}");
    assert!(err.to_string().contains("wrong passphrase"));
    let err = block_on(client::provision(
        &transport,
        &request("abcd1234", "nowhere", "correct horse"),
        no_pause,
    ))
    .unwrap_err();
    assert!(matches!(err, Error::WifiNotFound(_)), "{err}");
    assert!(
        err.to_string()
            .contains("could not find the network `nowhere`")
    );
}

#[test]
fn every_injected_fault_at_every_step_ends_in_success_after_a_retry() {
    // A full sec1 flow is 1 version + 2 session + 2 scan + 4 result pages + set + apply + 2
    // status = 13 requests; a fault at any of them must be survived by a new session.
    for fault in [
        Fault::Drop,
        Fault::Truncate,
        Fault::Disconnect,
        Fault::Reset,
    ] {
        for security in [
            DeviceSecurity::Sec1 {
                pop: "abcd1234".into(),
            },
            sec2(1),
        ] {
            for at in 0..13 {
                let dev = device(security.clone());
                dev.lock().unwrap().inject(at, fault);
                let transport = Memory::new(dev.clone());
                let result = block_on(client::provision(
                    &transport,
                    &request("abcd1234", "cairn-home", "correct horse"),
                    no_pause,
                ));
                let report = result.unwrap_or_else(|err| {
                    panic!("{fault:?} at request {at} ({:?}): {err}", security.level())
                });
                assert_eq!(dev.lock().unwrap().connected_ssid(), Some("cairn-home"));
                // Truncating `proto-ver` JSON may still parse as a bare version string, and a
                // truncated scan page can still decode: those are the only unretried cases.
                assert!(report.attempts <= 2, "{fault:?} at {at}: {report:?}");
            }
        }
    }
}

#[test]
fn faults_on_every_attempt_end_in_a_clear_error_not_a_hang() {
    let dev = device(DeviceSecurity::Sec1 {
        pop: "abcd1234".into(),
    });
    for i in 0..3 {
        // Each attempt's first session message is lost.
        dev.lock().unwrap().inject(1 + i * 2, Fault::Drop);
    }
    let transport = Memory::new(dev);
    let err = block_on(client::provision(
        &transport,
        &request("abcd1234", "cairn-home", "correct horse"),
        no_pause,
    ))
    .unwrap_err();
    assert!(
        err.to_string().contains("no answer from the device"),
        "{err}"
    );
}

#[test]
fn version_and_custom_endpoints() {
    let dev = device(sec2(1));
    let mut client = Client::new(Memory::new(dev));
    let version = block_on(client.version()).unwrap();
    assert_eq!(version.ver, "v1.1");
    assert_eq!(version.sec_ver, Some(2));
    assert_eq!(version.sec_patch_ver, 1);
    assert!(version.has("wifi_scan"));
    assert!(matches!(
        block_on(client.call("cairn-identity", b"{}")),
        Err(Error::NoSession)
    ));
    let options = Options {
        credentials: Credentials {
            pop: "abcd1234".into(),
            username: String::new(),
        },
        ..Options::default()
    };
    block_on(client.connect(&options)).unwrap();
    let identity: serde_json::Value =
        serde_json::from_slice(&block_on(client.call("cairn-identity", b"{}")).unwrap()).unwrap();
    assert!(identity["device"].as_str().unwrap().starts_with("0x"));
    let err = block_on(client.call("no-such-endpoint", b"")).unwrap_err();
    assert!(
        err.to_string().contains("no endpoint `no-such-endpoint`"),
        "{err}"
    );
}
