//! Device registration with the device's own EIP-712 signature.

use alloy::primitives::{Address, Bytes, U256};
use alloy::signers::local::PrivateKeySigner;
use chain::contracts::Registry;
use chain::eip712::{self, DeviceClaim, DeviceKind};

use crate::common::{env, revert};
use crate::tx;

/// A valid resolution-9 H3 cell (San Francisco).
const H3_CELL: u64 = 0x8928308280fffff;

/// `key` signs a claim naming `device` (normally its own address).
fn signed_as(
    key: &PrivateKeySigner,
    device: Address,
    owner: Address,
    kind: DeviceKind,
    nonce: u64,
    chain_id: u64,
    registry: Address,
) -> Bytes {
    let claim = DeviceClaim::new(device, owner, kind, U256::from(nonce));
    let sig = eip712::sign(key, &claim, &eip712::registry_domain(chain_id, registry)).unwrap();
    Bytes::from(sig.as_bytes().to_vec())
}

fn signed(
    device: &PrivateKeySigner,
    owner: Address,
    kind: DeviceKind,
    nonce: u64,
    chain_id: u64,
    registry: Address,
) -> Bytes {
    signed_as(
        device,
        device.address(),
        owner,
        kind,
        nonce,
        chain_id,
        registry,
    )
}

#[tokio::test]
async fn a_device_is_registered_only_with_its_own_fresh_signature() {
    let env = env().await;
    let installer = env.as_account(3);
    let owner = env.key(4).address();
    let device = PrivateKeySigner::random();
    let (chain_id, registry) = (env.deployment.chain_id, env.deployment.registry);

    // The Rust digest is the contract's digest.
    let claim = DeviceClaim::new(device.address(), owner, DeviceKind::Hotspot, U256::ZERO);
    let on_chain = installer
        .registry
        .deviceClaimDigest(device.address(), owner, 0, U256::ZERO)
        .call()
        .await
        .unwrap();
    assert_eq!(
        on_chain,
        eip712::digest(&claim, &eip712::registry_domain(chain_id, registry))
    );

    let sig = signed(&device, owner, DeviceKind::Hotspot, 0, chain_id, registry);
    let receipt =
        tx!(installer
            .registry
            .registerDevice(device.address(), owner, 0, H3_CELL, sig.clone()))
        .unwrap();
    let event = receipt.decoded_log::<Registry::DeviceRegistered>().unwrap();
    assert_eq!(event.owner, owner);
    assert_eq!(event.h3Cell, H3_CELL);
    let stored = installer
        .registry
        .getDevice(device.address())
        .call()
        .await
        .unwrap();
    assert_eq!((stored.owner, stored.h3Cell), (owner, H3_CELL));

    // Replayed: the nonce moved on, so the old signature recovers to someone else.
    revert::<Registry::InvalidDeviceSignature, _>(tx!(installer.registry.registerDevice(
        device.address(),
        owner,
        0,
        H3_CELL,
        sig
    )));

    // Signed by another key.
    let impostor = PrivateKeySigner::random();
    let forged = signed_as(
        &impostor,
        device.address(),
        owner,
        DeviceKind::Hotspot,
        1,
        chain_id,
        registry,
    );
    let err = revert::<Registry::InvalidDeviceSignature, _>(tx!(installer
        .registry
        .registerDevice(device.address(), owner, 0, H3_CELL, forged)));
    assert_eq!(err.recovered, impostor.address());

    // Signed for another chain.
    let other_chain = signed(
        &device,
        owner,
        DeviceKind::Hotspot,
        1,
        chain_id + 1,
        registry,
    );
    revert::<Registry::InvalidDeviceSignature, _>(tx!(installer.registry.registerDevice(
        device.address(),
        owner,
        0,
        H3_CELL,
        other_chain
    )));

    // Signed for another owner than the one submitted.
    let for_me = signed(
        &device,
        installer_address(&env),
        DeviceKind::Hotspot,
        1,
        chain_id,
        registry,
    );
    revert::<Registry::InvalidDeviceSignature, _>(tx!(installer.registry.registerDevice(
        device.address(),
        owner,
        0,
        H3_CELL,
        for_me
    )));

    // The next fresh signature re-registers (to a new owner).
    let fresh = signed(
        &device,
        installer_address(&env),
        DeviceKind::Hotspot,
        1,
        chain_id,
        registry,
    );
    tx!(installer.registry.registerDevice(
        device.address(),
        installer_address(&env),
        0,
        H3_CELL,
        fresh
    ))
    .unwrap();
    assert_eq!(
        installer
            .registry
            .deviceNonce(device.address())
            .call()
            .await
            .unwrap(),
        U256::from(2)
    );
}

fn installer_address(env: &crate::common::Env) -> Address {
    env.key(3).address()
}

#[tokio::test]
async fn locations_are_valid_h3_cells_set_by_the_owner() {
    let env = env().await;
    let owner = env.as_account(4);
    let device = PrivateKeySigner::random();
    let (chain_id, registry) = (env.deployment.chain_id, env.deployment.registry);
    let owner_address = env.key(4).address();

    let sig = signed(
        &device,
        owner_address,
        DeviceKind::Hotspot,
        0,
        chain_id,
        registry,
    );
    let err = revert::<Registry::InvalidH3Cell, _>(tx!(owner.registry.registerDevice(
        device.address(),
        owner_address,
        0,
        0x1234,
        sig.clone()
    )));
    assert_eq!(err.cell, 0x1234);
    tx!(owner
        .registry
        .registerDevice(device.address(), owner_address, 0, H3_CELL, sig))
    .unwrap();

    let moved = 0x8928308280bffff;
    assert!(owner.registry.isValidH3Cell(moved).call().await.unwrap());
    tx!(owner.registry.setDeviceLocation(device.address(), moved)).unwrap();
    assert_eq!(
        owner
            .registry
            .getDevice(device.address())
            .call()
            .await
            .unwrap()
            .h3Cell,
        moved
    );

    let stranger = env.as_account(5);
    revert::<Registry::NotDeviceOwner, _>(tx!(stranger
        .registry
        .setDeviceLocation(device.address(), H3_CELL)));
    revert::<Registry::UnknownDevice, _>(tx!(owner
        .registry
        .setDeviceLocation(Address::repeat_byte(3), H3_CELL)));

    // Meters carry no location.
    let meter = PrivateKeySigner::random();
    let sig = signed(
        &meter,
        owner_address,
        DeviceKind::Meter,
        0,
        chain_id,
        registry,
    );
    revert::<Registry::InvalidH3Cell, _>(tx!(owner.registry.registerDevice(
        meter.address(),
        owner_address,
        1,
        H3_CELL,
        sig.clone()
    )));
    tx!(owner
        .registry
        .registerDevice(meter.address(), owner_address, 1, 0, sig))
    .unwrap();
    revert::<Registry::NotAHotspot, _>(tx!(owner
        .registry
        .setDeviceLocation(meter.address(), H3_CELL)));
    revert::<Registry::InvalidOwner, _>(tx!(owner.registry.registerDevice(
        meter.address(),
        Address::ZERO,
        1,
        0,
        Bytes::new()
    )));
}
