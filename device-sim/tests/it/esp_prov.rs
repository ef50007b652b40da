//! Espressif's own client, `esp_prov` from PyPI `esp-rainmaker-cli` (pinned, installed into a
//! venv by `cargo xtask setup`), provisions the simulator over HTTP with security 1 and 2.

use std::path::PathBuf;

use ble_provisioning::security::DeviceSecurity;

use crate::device;

/// The venv's Python: `CAIRN_ESP_VENV`, else `~/.cache/cairn/venv`.
pub(crate) fn python() -> PathBuf {
    testkit::bluezoo::venv_bin("python").unwrap()
}

async fn esp_prov(
    addr: std::net::SocketAddr,
    sec: u8,
    pop: &str,
    passphrase: &str,
) -> (bool, String) {
    run(&["--host", &addr.to_string()], sec, pop, passphrase).await
}

/// Runs `esp_prov_client.py` with `target` (`--host ...`, `--transport ...`): success and output.
pub(crate) async fn run(target: &[&str], sec: u8, pop: &str, passphrase: &str) -> (bool, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/esp_prov_client.py");
    let out = tokio::process::Command::new(python())
        .arg(script)
        .args(target)
        .args(["--sec", &sec.to_string(), "--pop", pop])
        .args(["--ssid", "cairn-home", "--passphrase", passphrase])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), out)
        .await
        .expect("esp_prov finished within 2 minutes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.success(), format!("{stdout}\n{stderr}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn espressif_esp_prov_provisions_the_simulator_with_security_1_and_2() {
    for (security, patch) in [
        (
            DeviceSecurity::Sec1 {
                pop: "abcd1234".into(),
            },
            0,
        ),
        (DeviceSecurity::sec2("wifiprov", "abcd1234", 1).unwrap(), 1),
        (DeviceSecurity::sec2("wifiprov", "abcd1234", 0).unwrap(), 0),
    ] {
        let level = security.level().number();
        let dev = device(security);
        let server = device_sim::http::serve(dev.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let (ok, output) = esp_prov(server.addr(), level, "abcd1234", "correct horse").await;
        assert!(ok, "esp_prov failed at security {level}:\n{output}");
        let result = output
            .lines()
            .find_map(|l| l.strip_prefix("RESULT "))
            .expect("esp_prov printed its result");
        let result: serde_json::Value = serde_json::from_str(result).unwrap();
        assert_eq!(result["state"], "connected");
        assert_eq!(result["patch"], patch);
        assert_eq!(result["aps"].as_array().unwrap().len(), 13);
        assert_eq!(dev.lock().unwrap().connected_ssid(), Some("cairn-home"));
    }
    // And Espressif's client is refused by the simulator with a wrong PoP.
    let dev = device(DeviceSecurity::Sec1 {
        pop: "abcd1234".into(),
    });
    let server = device_sim::http::serve(dev.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let (ok, output) = esp_prov(server.addr(), 1, "wrong-pop", "correct horse").await;
    assert!(!ok, "a wrong PoP must fail:\n{output}");
    assert_eq!(dev.lock().unwrap().connected_ssid(), None);
}
