//! The Cairn profile: claims signed by the device key verify as the registry's EIP-712
//! `DeviceClaim`; meter readings verify only once, in order, from their own device.

use std::sync::{Arc, Mutex};

use alloy_primitives::{Address, U256};
use ble_provisioning::client::{Client, Options};
use ble_provisioning::device::{Config, Device};
use ble_provisioning::profile::{
    self, ClaimRequest, ClaimResponse, HotspotSettings, Identity, ProfileError, Reading,
    SignedReading, Verifier,
};
use ble_provisioning::security::{Credentials, DeviceSecurity};
use ble_provisioning::transport::Memory;
use chain::eip712::{self, DeviceClaim, DeviceKind};
use futures::executor::block_on;

fn claim_request() -> ClaimRequest {
    ClaimRequest {
        chain_id: 31337,
        registry: "0x5FbDB2315678afecb367f032d93F642f64180aa3".into(),
        owner: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8".into(),
        nonce: "7".into(),
    }
}

#[test]
fn a_claim_over_the_session_verifies_as_the_registry_digest() {
    let dev = Arc::new(Mutex::new(Device::new(Config::example(
        "PROV_CLAIM",
        DeviceSecurity::Sec1 {
            pop: "abcd1234".into(),
        },
    ))));
    let device_address = dev.lock().unwrap().config().identity.address();
    let mut client = Client::new(Memory::new(dev));
    block_on(client.connect(&Options {
        credentials: Credentials {
            pop: "abcd1234".into(),
            username: String::new(),
        },
        ..Options::default()
    }))
    .unwrap();
    let request = claim_request();
    let body = serde_json::to_vec(&request).unwrap();
    let response: ClaimResponse =
        serde_json::from_slice(&block_on(client.call(profile::ENDPOINT_CLAIM, &body)).unwrap())
            .unwrap();
    let (device, signature) = response.verify(&request).unwrap();
    assert_eq!(device, device_address);
    let claim = DeviceClaim::new(
        device,
        request.owner.parse().unwrap(),
        DeviceKind::Meter,
        U256::from(7),
    );
    let registry: Address = request.registry.parse().unwrap();
    assert_eq!(
        eip712::recover(
            &claim,
            &eip712::registry_domain(31337, registry),
            &signature
        )
        .unwrap(),
        device_address
    );
    // The same signature does not verify for another nonce (a replayed claim).
    let mut stale = request.clone();
    stale.nonce = "8".into();
    assert!(matches!(
        response.verify(&stale),
        Err(ProfileError::WrongSigner { .. })
    ));

    let settings = HotspotSettings {
        h3_cell: "8928308280fffff".into(),
        antenna_gain_dbi: 5.5,
        region: "US915".into(),
    };
    let answer: HotspotSettings = serde_json::from_slice(
        &block_on(client.call(
            profile::ENDPOINT_HOTSPOT,
            &serde_json::to_vec(&settings).unwrap(),
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(answer, settings);
    let bad = HotspotSettings {
        h3_cell: "1234".into(),
        ..settings
    };
    assert!(
        block_on(client.call(
            profile::ENDPOINT_HOTSPOT,
            &serde_json::to_vec(&bad).unwrap()
        ))
        .is_err()
    );
}

#[test]
fn readings_verify_once_in_order_from_their_device() {
    let meter = Identity::random(DeviceKind::Meter);
    let reading = |counter: u64, energy: u64| Reading {
        device: meter.address(),
        counter,
        timestamp: 1_767_225_600 + counter * 15,
        energy_wh: energy,
        power_mw: 730_000,
        voltage_mv: 230_000,
        current_ma: 3_170,
    };
    let signed: Vec<SignedReading> = (1..=3)
        .map(|i| meter.sign_reading(reading(i, 1000 + i)).unwrap())
        .collect();
    let mut verifier = Verifier::new();
    assert_eq!(
        verifier.verify_bytes(&signed[0].encode()).unwrap().counter,
        1
    );
    assert!(matches!(
        verifier.verify(&signed[0]),
        Err(ProfileError::Replayed { counter: 1, .. })
    ));
    assert_eq!(verifier.verify(&signed[2]).unwrap().counter, 3);
    assert!(matches!(
        verifier.verify(&signed[1]),
        Err(ProfileError::Reordered {
            counter: 2,
            last: 3,
            ..
        })
    ));
    // Energy running backwards is refused even with a fresh counter.
    let back = meter.sign_reading(reading(4, 10)).unwrap();
    assert!(matches!(
        verifier.verify(&back),
        Err(ProfileError::Inconsistent { .. })
    ));
    // A reading naming this meter but signed by another key.
    let forger = Identity::random(DeviceKind::Meter);
    let forged = forger.sign_reading(reading(5, 2000)).unwrap();
    assert!(matches!(
        verifier.verify(&forged),
        Err(ProfileError::WrongSigner { .. })
    ));
    // A tampered byte breaks the signature.
    let mut bytes = meter.sign_reading(reading(6, 2000)).unwrap().encode();
    bytes[40] ^= 1;
    assert!(verifier.verify_bytes(&bytes).is_err());
    assert!(verifier.verify_bytes(&bytes[..100]).is_err());
    assert_eq!(verifier.last_counter(&meter.address()), Some(3));
}

#[test]
fn the_simulated_meter_streams_verifiable_readings() {
    let dev = Arc::new(Mutex::new(Device::new(Config::example(
        "PROV_METER",
        DeviceSecurity::sec2("wifiprov", "abcd1234", 1).unwrap(),
    ))));
    let mut client = Client::new(Memory::new(dev));
    block_on(client.connect(&Options {
        credentials: Credentials {
            pop: "abcd1234".into(),
            username: String::new(),
        },
        ..Options::default()
    }))
    .unwrap();
    let mut verifier = Verifier::new();
    let mut readings = Vec::new();
    for _ in 0..5 {
        let bytes = block_on(client.call(profile::ENDPOINT_METER, b"")).unwrap();
        readings.push(bytes.clone());
        verifier.verify_bytes(&bytes).unwrap();
    }
    assert!(verifier.verify_bytes(&readings[4]).is_err(), "replay");
    assert!(verifier.verify_bytes(&readings[2]).is_err(), "reorder");
    let last = SignedReading::decode(&readings[4]).unwrap().reading;
    let ess = profile::ess::values(&last);
    assert_eq!(
        ess[2],
        (profile::ess::VOLTAGE, (230u16 * 64).to_le_bytes().to_vec())
    );
}
