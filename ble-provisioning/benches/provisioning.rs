//! `cargo bench -p ble-provisioning --bench provisioning`: CPU time of a full in-memory
//! provisioning (client and simulated device, both in this thread: version, handshake, paged
//! scan, set config, apply, status) at security 1 and 2, against security 0 as the baseline;
//! and meter readings verified per second, against readings signed per second.
//!
//! CPU time is this thread's on-CPU time from `/proc/thread-self/schedstat` (wall time where
//! that file does not exist). Build with `--release` (cargo bench does).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ble_provisioning::client::{self, Options, Request};
use ble_provisioning::device::{Config, Device};
use ble_provisioning::profile::{Identity, Reading, Verifier};
use ble_provisioning::security::{Credentials, DeviceSecurity};
use ble_provisioning::transport::Memory;
use chain::eip712::DeviceKind;

fn cpu_now() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// CPU (or wall) time of `f`, averaged over `n` runs.
fn measure(n: u32, mut f: impl FnMut()) -> Duration {
    let (cpu0, wall0) = (cpu_now(), Instant::now());
    for _ in 0..n {
        f();
    }
    let total = match (cpu0, cpu_now()) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => wall0.elapsed(),
    };
    total / n
}

fn provision_once(security: DeviceSecurity) {
    let level = security.level();
    let device = Arc::new(Mutex::new(Device::new(Config::example(
        "PROV_BENCH",
        security,
    ))));
    let transport = Memory::new(device);
    let request = Request {
        options: Options {
            credentials: Credentials {
                pop: "abcd1234".into(),
                username: String::new(),
            },
            level: Some(level),
            allow_sec0: true,
            allow_nonce_reuse: false,
        },
        ssid: "cairn-home".into(),
        passphrase: "correct horse".into(),
        scan: true,
        attempts: 1,
        status_polls: 5,
    };
    let report = futures::executor::block_on(client::provision(&transport, &request, || async {}));
    assert!(report.is_ok(), "{report:?}");
}

#[allow(clippy::print_stdout, reason = "a benchmark prints its table")]
fn main() {
    let sec0 = measure(50, || provision_once(DeviceSecurity::Sec0));
    let sec1 = measure(50, || {
        provision_once(DeviceSecurity::Sec1 {
            pop: "abcd1234".into(),
        })
    });
    // The device's SRP record is made once, like a device's factory provisioning.
    let record = DeviceSecurity::sec2("wifiprov", "abcd1234", 1).unwrap_or(DeviceSecurity::Sec0);
    let sec2 = measure(10, || provision_once(record.clone()));
    println!("full provisioning, client + simulated device, in memory (CPU time per run):");
    println!(
        "  security 0 (baseline) {:>10.3} ms",
        sec0.as_secs_f64() * 1e3
    );
    println!(
        "  security 1            {:>10.3} ms  ({:.1}x baseline)",
        sec1.as_secs_f64() * 1e3,
        sec1.as_secs_f64() / sec0.as_secs_f64()
    );
    println!(
        "  security 2            {:>10.3} ms  ({:.1}x baseline)",
        sec2.as_secs_f64() * 1e3,
        sec2.as_secs_f64() / sec0.as_secs_f64()
    );

    let meter = Identity::random(DeviceKind::Meter);
    let n = 2000u32;
    let readings: Vec<Vec<u8>> = (1..=u64::from(n))
        .filter_map(|i| {
            meter
                .sign_reading(Reading {
                    device: meter.address(),
                    counter: i,
                    timestamp: 1_767_225_600 + i * 15,
                    energy_wh: 1_000_000 + i * 4,
                    power_mw: 730_000,
                    voltage_mv: 230_000,
                    current_ma: 3_170,
                })
                .ok()
                .map(|s| s.encode())
        })
        .collect();
    let sign = measure(1, || {
        for i in 1..=u64::from(n) {
            let _ = meter.sign_reading(Reading {
                device: meter.address(),
                counter: i,
                timestamp: i,
                energy_wh: i,
                power_mw: 0,
                voltage_mv: 0,
                current_ma: 0,
            });
        }
    });
    let mut accepted = 0u32;
    let verify = measure(1, || {
        let mut verifier = Verifier::new();
        for bytes in &readings {
            if verifier.verify_bytes(bytes).is_ok() {
                accepted += 1;
            }
        }
    });
    assert_eq!(accepted, n, "every reading verifies once");
    let per_sec = |d: Duration| f64::from(n) / d.as_secs_f64();
    println!("meter readings ({n}, one thread):");
    println!("  signed   (baseline)   {:>10.0} /s", per_sec(sign));
    println!(
        "  verified (decode, recover, counter) {:>10.0} /s  ({:.2}x baseline)",
        per_sec(verify),
        per_sec(verify) / per_sec(sign)
    );
}
