//! EIP-712 messages Cairn signs: device claims (`Registry.registerDevice`), storage quotes
//! (`StorageMarket.openDeal`) and EIP-2612 permits (`CairnToken.permit`, `openDealWithPermit`). Pure: digests, signing with a local key, and recovery run natively
//! and in wasm32 (the BLE tool signs claims with the device's key, the SDK checks quotes).

use alloy_primitives::{Address, B256, Signature, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::{Eip712Domain, SolStruct, eip712_domain};

alloy_sol_types::sol! {
    /// A device's consent to be registered to `owner` (`Registry.DEVICE_CLAIM_TYPEHASH`).
    #[derive(Debug, PartialEq, Eq)]
    struct DeviceClaim {
        address device;
        address owner;
        uint8 kind;
        uint256 nonce;
    }

    /// A provider's signed offer (`StorageMarket.QUOTE_TYPEHASH`).
    #[derive(Debug, PartialEq, Eq)]
    struct Quote {
        address provider;
        address buyer;
        bytes32 root;
        uint64 size;
        uint32 periodDuration;
        uint32 numPeriods;
        uint128 pricePerPeriod;
        uint64 expiry;
        uint256 salt;
    }

    /// An EIP-2612 permit: `owner` lets `spender` move `value` of the token until `deadline`.
    #[derive(Debug, PartialEq, Eq)]
    struct Permit {
        address owner;
        address spender;
        uint256 value;
        uint256 nonce;
        uint256 deadline;
    }
}

/// Device kinds, as `Registry.DeviceKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum DeviceKind {
    /// A Wi-Fi/LoRa hotspot; has an H3 location.
    Hotspot = 0,
    /// An energy meter.
    Meter = 1,
}

/// Why a signature could not be made or checked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The key could not sign.
    #[error("signing failed: {0}")]
    Sign(#[from] alloy_signer::Error),
    /// The signature does not recover to an address.
    #[error("the signature is malformed: {0}")]
    Recover(#[from] alloy_primitives::SignatureError),
}

/// The registry's EIP-712 domain on `chain_id` at `registry`.
pub fn registry_domain(chain_id: u64, registry: Address) -> Eip712Domain {
    eip712_domain! {
        name: "CairnRegistry",
        version: "1",
        chain_id: chain_id,
        verifying_contract: registry,
    }
}

/// The token's EIP-712 domain (OpenZeppelin `ERC20Permit("Cairn")`) on `chain_id` at `token`.
pub fn token_domain(chain_id: u64, token: Address) -> Eip712Domain {
    eip712_domain! {
        name: "Cairn",
        version: "1",
        chain_id: chain_id,
        verifying_contract: token,
    }
}

/// The market's EIP-712 domain on `chain_id` at `market`.
pub fn market_domain(chain_id: u64, market: Address) -> Eip712Domain {
    eip712_domain! {
        name: "CairnStorageMarket",
        version: "1",
        chain_id: chain_id,
        verifying_contract: market,
    }
}

impl DeviceClaim {
    /// A claim of `device` for `owner` at the device's current registry `nonce`.
    pub fn new(device: Address, owner: Address, kind: DeviceKind, nonce: U256) -> Self {
        Self {
            device,
            owner,
            kind: kind as u8,
            nonce,
        }
    }
}

/// Digest the signer of `message` signs under `domain`.
pub fn digest<T: SolStruct>(message: &T, domain: &Eip712Domain) -> B256 {
    message.eip712_signing_hash(domain)
}

/// Signs `message` under `domain` with `key` (a device key for claims, a provider key for quotes).
pub fn sign<T: SolStruct>(
    key: &PrivateKeySigner,
    message: &T,
    domain: &Eip712Domain,
) -> Result<Signature, SignatureError> {
    Ok(key.sign_hash_sync(&digest(message, domain))?)
}

/// `signature` as the `(v, r, s)` parameters Solidity's `permit` takes (`v` is 27 or 28).
pub fn split(signature: &Signature) -> (u8, B256, B256) {
    (
        27 + u8::from(signature.v()),
        signature.r().into(),
        signature.s().into(),
    )
}

/// The address that signed `message` under `domain`.
pub fn recover<T: SolStruct>(
    message: &T,
    domain: &Eip712Domain,
    signature: &Signature,
) -> Result<Address, SignatureError> {
    Ok(signature.recover_address_from_prehash(&digest(message, domain))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::keccak256;

    #[test]
    fn type_hashes_match_the_contracts() {
        assert_eq!(
            DeviceClaim::new(Address::ZERO, Address::ZERO, DeviceKind::Meter, U256::ZERO)
                .eip712_type_hash(),
            keccak256("DeviceClaim(address device,address owner,uint8 kind,uint256 nonce)")
        );
    }

    #[test]
    fn claims_recover_to_the_device_and_bind_the_domain() {
        let device = PrivateKeySigner::random();
        let owner = Address::repeat_byte(7);
        let claim = DeviceClaim::new(device.address(), owner, DeviceKind::Hotspot, U256::from(3));
        let domain = registry_domain(31337, Address::repeat_byte(1));
        let signature = sign(&device, &claim, &domain).unwrap();
        assert_eq!(
            recover(&claim, &domain, &signature).unwrap(),
            device.address()
        );
        // Another chain or another registry: the same signature names someone else.
        let other_chain = registry_domain(1, Address::repeat_byte(1));
        assert_ne!(
            recover(&claim, &other_chain, &signature).unwrap(),
            device.address()
        );
        let other_nonce =
            DeviceClaim::new(device.address(), owner, DeviceKind::Hotspot, U256::from(4));
        assert_ne!(
            recover(&other_nonce, &domain, &signature).unwrap(),
            device.address()
        );
    }
}
