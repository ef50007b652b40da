//! `cairn pair` and `cairn meter` end to end: the real binary runs the simulator over HTTP on
//! 127.0.0.1, provisions it (by address and by QR payload), reports wrong credentials and
//! Wi-Fi failures clearly, reads verified meter readings, and registers a device claim on a
//! real anvil devnet.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::time::Duration;

use chain::Devnet;
use serde_json::Value;
use testkit::ChildGuard;
use tokio::process::Command;

mod common;
use common::{CAIRN, START_TIMEOUT};

/// A command against the local simulator finishes in well under a second; CI gets slack.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

async fn simulator(args: &[&str]) -> (ChildGuard, Value) {
    let mut command = Command::new(CAIRN);
    command
        .args(["pair", "simulate", "--transport", "http"])
        .args(args)
        .env("CAIRN_LOG", "warn");
    let (guard, line) = ChildGuard::spawn_and_read_line(
        "cairn pair simulate",
        command,
        "\"address\"",
        START_TIMEOUT,
    )
    .await
    .unwrap();
    (guard, serde_json::from_str(&line).unwrap())
}

/// Runs `cairn <args>`: (success, stdout, stderr).
async fn cairn(args: &[&str]) -> (bool, String, String) {
    let mut command = Command::new(CAIRN);
    command
        .args(args)
        .env("CAIRN_LOG", "warn")
        .env("RUST_BACKTRACE", "0");
    let ran = testkit::run("cairn", command, RUN_TIMEOUT).await.unwrap();
    (ran.ok, ran.stdout, ran.stderr)
}

#[tokio::test]
async fn provision_by_address_and_by_qr_with_clear_failures() {
    let (_sim, info) = simulator(&["--security", "2", "--pop", "abcd1234"]).await;
    assert_eq!(info["security"], 2);
    assert_eq!(info["sec_patch_ver"], 1);
    let addr = info["address"].as_str().unwrap();
    let qr = info["qr"].as_str().unwrap();

    let (ok, out, err) = cairn(&[
        "pair",
        "provision",
        "--device",
        addr,
        "--pop",
        "abcd1234",
        "--ssid",
        "cairn-home",
        "--passphrase",
        "correct horse",
    ])
    .await;
    assert!(ok, "{err}");
    let report: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(report["security"], 2);
    assert_eq!(report["status"]["Connected"]["ssid"], "cairn-home");
    assert_eq!(report["access_points"].as_array().unwrap().len(), 13);

    let (ok, out, err) = cairn(&[
        "pair",
        "provision",
        "--qr",
        qr,
        "--ssid",
        "cairn-home",
        "--passphrase",
        "correct horse",
        "--no-scan",
    ])
    .await;
    assert!(ok, "{err}");
    assert!(out.contains("\"Connected\""), "{out}");

    let (ok, _, err) = cairn(&[
        "pair",
        "provision",
        "--qr",
        qr,
        "--pop",
        "not-it",
        "--ssid",
        "cairn-home",
        "--passphrase",
        "correct horse",
    ])
    .await;
    assert!(!ok);
    assert!(err.contains("wrong proof of possession"), "{err}");

    let (ok, _, err) = cairn(&[
        "pair",
        "provision",
        "--qr",
        qr,
        "--ssid",
        "cairn-home",
        "--passphrase",
        "wrong horse",
    ])
    .await;
    assert!(!ok);
    assert!(err.contains("wrong passphrase"), "{err}");

    let (ok, _, err) = cairn(&[
        "pair",
        "provision",
        "--qr",
        r#"{"ver":"v9"}"#,
        "--ssid",
        "x",
        "--passphrase",
        "",
    ])
    .await;
    assert!(!ok);
    assert!(err.contains("QR payload"), "{err}");
}

#[tokio::test]
async fn the_insecure_options_need_an_explicit_opt_in() {
    let (_sim, info) = simulator(&[
        "--security",
        "2",
        "--pop",
        "abcd1234",
        "--sec-patch-ver",
        "0",
    ])
    .await;
    let addr = info["address"].as_str().unwrap();
    let base = [
        "pair",
        "provision",
        "--device",
        addr,
        "--pop",
        "abcd1234",
        "--ssid",
        "cairn-home",
        "--passphrase",
        "correct horse",
    ];
    let (ok, _, err) = cairn(&base).await;
    assert!(!ok);
    assert!(err.contains("--allow-nonce-reuse"), "{err}");
    let mut opted = base.to_vec();
    opted.push("--allow-nonce-reuse");
    let (ok, _, err) = cairn(&opted).await;
    assert!(ok, "{err}");
}

#[tokio::test]
async fn injected_faults_are_retried_cleanly() {
    let (_sim, info) = simulator(&[
        "--security",
        "1",
        "--pop",
        "abcd1234",
        "--fault",
        "disconnect@2",
        "--fault",
        "truncate@12",
    ])
    .await;
    let addr = info["address"].as_str().unwrap();
    let (ok, out, err) = cairn(&[
        "pair",
        "provision",
        "--device",
        addr,
        "--pop",
        "abcd1234",
        "--ssid",
        "cairn-home",
        "--passphrase",
        "correct horse",
        "--timeout-secs",
        "5",
    ])
    .await;
    assert!(ok, "{err}");
    let report: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(report["attempts"], 3, "{report}");
    assert_eq!(report["retried"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn meter_readings_are_verified_and_claims_registered_on_chain() {
    let (_sim, info) =
        simulator(&["--security", "1", "--pop", "abcd1234", "--kind", "meter"]).await;
    let addr = info["address"].as_str().unwrap();
    let device = info["device"].as_str().unwrap().to_lowercase();

    let (ok, out, err) = cairn(&[
        "meter", "read", "--device", addr, "--pop", "abcd1234", "--count", "3",
    ])
    .await;
    assert!(ok, "{err}");
    let readings: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(readings.len(), 3);
    for (i, r) in readings.iter().enumerate() {
        assert_eq!(r["verified"], true);
        assert_eq!(r["reading"]["counter"], i as u64 + 1);
        assert_eq!(
            r["reading"]["device"].as_str().unwrap().to_lowercase(),
            device
        );
    }

    let devnet = Devnet::start().await.unwrap();
    let deployment = devnet
        .deploy(&chain::contracts::DeployOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deployment.json");
    deployment.write(&file).unwrap();
    let key = format!("0x{}", hex::encode(Devnet::key(3).to_bytes()));
    let claim = [
        "pair",
        "claim",
        "--device",
        addr,
        "--pop",
        "abcd1234",
        "--deployment",
        file.to_str().unwrap(),
        "--key",
        &key,
    ];
    let (ok, out, err) = cairn(&claim).await;
    assert!(ok, "{err}");
    let receipt: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(receipt["device"].as_str().unwrap().to_lowercase(), device);
    assert_eq!(receipt["nonce"], "0");
    assert_eq!(receipt["kind"], 1);
    // Claiming again uses the next nonce: the device signs afresh, the old signature is dead.
    let (ok, out, err) = cairn(&claim).await;
    assert!(ok, "{err}");
    let receipt: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(receipt["nonce"], "1");
}
