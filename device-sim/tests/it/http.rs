//! Cairn's client provisions the simulator over real HTTP, with faults injected.

use std::time::Duration;

use ble_provisioning::Error;
use ble_provisioning::client;
use ble_provisioning::device::Fault;
use ble_provisioning::security::DeviceSecurity;
use ble_transport::Http;

use crate::{device, pause, request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cairn_provisions_the_simulator_over_http_at_each_level() {
    for (security, pop) in [
        (
            DeviceSecurity::Sec1 {
                pop: "abcd1234".into(),
            },
            "abcd1234",
        ),
        (
            DeviceSecurity::sec2("wifiprov", "abcd1234", 1).unwrap(),
            "abcd1234",
        ),
        (DeviceSecurity::Sec0, ""),
    ] {
        let level = security.level();
        let dev = device(security);
        let server = device_sim::http::serve(dev.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let transport = Http::new(&server.addr().to_string(), Duration::from_secs(10)).unwrap();
        let mut req = request(pop, "correct horse");
        req.options.allow_sec0 = true;
        let report = client::provision(&transport, &req, pause).await.unwrap();
        assert_eq!(report.security, level.number());
        assert_eq!(report.access_points.len(), 13);
        assert_eq!(dev.lock().unwrap().connected_ssid(), Some("cairn-home"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_faults_end_in_a_retry_or_a_clear_error() {
    // Dropped (held past the client timeout), disconnected mid-body, truncated, reset: each is
    // survived by a new session. Faults land on the handshake and on the Wi-Fi messages.
    for fault in [
        Fault::Drop,
        Fault::Disconnect,
        Fault::Truncate,
        Fault::Reset,
    ] {
        for at in [2, 9] {
            let dev = device(DeviceSecurity::Sec1 {
                pop: "abcd1234".into(),
            });
            dev.lock().unwrap().inject(at, fault);
            let server = device_sim::http::serve(dev.clone(), "127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();
            let transport =
                Http::new(&server.addr().to_string(), Duration::from_millis(500)).unwrap();
            let report =
                client::provision(&transport, &request("abcd1234", "correct horse"), pause)
                    .await
                    .unwrap_or_else(|err| panic!("{fault:?} at {at}: {err}"));
            assert_eq!(
                report.attempts, 2,
                "{fault:?} at {at}: {:?}",
                report.retried
            );
            assert_eq!(dev.lock().unwrap().connected_ssid(), Some("cairn-home"));
        }
    }
    // A wrong PoP is reported as such (after one fresh session), not retried forever.
    let dev = device(DeviceSecurity::Sec1 {
        pop: "abcd1234".into(),
    });
    let server = device_sim::http::serve(dev, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let transport = Http::new(&server.addr().to_string(), Duration::from_secs(5)).unwrap();
    let err = client::provision(&transport, &request("nope", "correct horse"), pause)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::WrongPop), "{err}");
    // Nothing listening: a clear error, no retry loop.
    drop(server);
    let err = client::provision(&transport, &request("abcd1234", "correct horse"), pause)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot reach"), "{err}");
}
