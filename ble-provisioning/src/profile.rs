//! The Cairn device profile: device identity and on-chain claims, hotspot settings, and signed
//! meter readings with the verifier the app runs before anything goes on chain.
//!
//! Over any transport the profile is a set of protocomm custom endpoints, encrypted by the
//! provisioning session like `prov-config` ([`ENDPOINT_IDENTITY`], [`ENDPOINT_CLAIM`],
//! [`ENDPOINT_HOTSPOT`], [`ENDPOINT_METER`]); their bodies are JSON except the meter reading,
//! which is the fixed 121-byte [`SignedReading`] encoding. Over BLE the same endpoints are
//! characteristics of the Cairn GATT service ([`SERVICE_UUID`]), each named by its 0x2901 user
//! description, and the plain meter values are also exposed read-only under the Environmental
//! Sensing service (see [`ess`]).

use std::collections::HashMap;
use std::str::FromStr;

use alloy_primitives::{Address, Signature, U256, keccak256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use chain::eip712::{self, DeviceClaim, DeviceKind};
use serde::{Deserialize, Serialize};

/// The Cairn GATT service.
pub const SERVICE_UUID: &str = "c4a10000-0c6e-4b2a-8d3a-636169726e31";
/// Characteristic of [`ENDPOINT_IDENTITY`].
pub const IDENTITY_UUID: &str = "c4a10001-0c6e-4b2a-8d3a-636169726e31";
/// Characteristic of [`ENDPOINT_CLAIM`].
pub const CLAIM_UUID: &str = "c4a10002-0c6e-4b2a-8d3a-636169726e31";
/// Characteristic of [`ENDPOINT_HOTSPOT`].
pub const HOTSPOT_UUID: &str = "c4a10003-0c6e-4b2a-8d3a-636169726e31";
/// Characteristic of [`ENDPOINT_METER`].
pub const METER_UUID: &str = "c4a10004-0c6e-4b2a-8d3a-636169726e31";

/// Endpoint: `{}` → [`IdentityInfo`].
pub const ENDPOINT_IDENTITY: &str = "cairn-identity";
/// Endpoint: [`ClaimRequest`] → [`ClaimResponse`].
pub const ENDPOINT_CLAIM: &str = "cairn-claim";
/// Endpoint: `{}` (read) or [`HotspotSettings`] (write) → [`HotspotSettings`].
pub const ENDPOINT_HOTSPOT: &str = "cairn-hotspot";
/// Endpoint: any body → the next [`SignedReading`] (121 bytes).
pub const ENDPOINT_METER: &str = "cairn-meter";

/// Why a profile message was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    /// A JSON body did not parse.
    #[error("{what} is not valid JSON for the Cairn profile: {source}")]
    Json {
        /// Which message.
        what: &'static str,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// A field is malformed.
    #[error("{0}")]
    Field(String),
    /// Signing or recovering failed.
    #[error(transparent)]
    Signature(#[from] eip712::SignatureError),
    /// A reading's signature is not the device's.
    #[error("the reading claims device {claimed} but was signed by {signer}")]
    WrongSigner {
        /// The device named in the reading.
        claimed: Address,
        /// Who signed it.
        signer: Address,
    },
    /// A reading was seen before.
    #[error("replayed reading: counter {counter} of device {device} was already accepted")]
    Replayed {
        /// The device.
        device: Address,
        /// Its counter.
        counter: u64,
    },
    /// A reading is older than one already accepted.
    #[error("reordered reading: counter {counter} of device {device} is behind {last}")]
    Reordered {
        /// The device.
        device: Address,
        /// Its counter.
        counter: u64,
        /// The last accepted counter.
        last: u64,
    },
    /// The readings contradict each other (time or energy going backwards).
    #[error("inconsistent reading from {device}: {detail}")]
    Inconsistent {
        /// The device.
        device: Address,
        /// What went backwards.
        detail: String,
    },
}

fn parse_address(what: &str, s: &str) -> Result<Address, ProfileError> {
    Address::from_str(s)
        .map_err(|err| ProfileError::Field(format!("{what} `{s}` is not an address: {err}")))
}

/// The device's answer on [`ENDPOINT_IDENTITY`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityInfo {
    /// The device's address (its key's Ethereum address), `0x`-hex.
    pub device: String,
    /// `0` hotspot, `1` meter (`Registry.DeviceKind`).
    pub kind: u8,
    /// Firmware name and version.
    pub firmware: String,
}

/// The installer asks the device to sign a claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRequest {
    /// Chain id of the registry.
    pub chain_id: u64,
    /// Registry address, `0x`-hex.
    pub registry: String,
    /// The new owner, `0x`-hex.
    pub owner: String,
    /// The device's current registry nonce (decimal), read from the chain just before.
    pub nonce: String,
}

/// The device's signed claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimResponse {
    /// The device's address, `0x`-hex.
    pub device: String,
    /// `Registry.DeviceKind`.
    pub kind: u8,
    /// 65-byte EIP-712 signature, `0x`-hex.
    pub signature: String,
}

impl ClaimResponse {
    /// Checks that the signature is the device's over exactly `request`; returns the device.
    pub fn verify(&self, request: &ClaimRequest) -> Result<(Address, Signature), ProfileError> {
        let device = parse_address("device", &self.device)?;
        let registry = parse_address("registry", &request.registry)?;
        let owner = parse_address("owner", &request.owner)?;
        let nonce = U256::from_str(&request.nonce)
            .map_err(|err| ProfileError::Field(format!("nonce: {err}")))?;
        let kind = kind_from(self.kind)?;
        let bytes = hex::decode(self.signature.trim_start_matches("0x"))
            .map_err(|err| ProfileError::Field(format!("signature is not hex: {err}")))?;
        let signature = Signature::from_raw(&bytes)
            .map_err(|err| ProfileError::Field(format!("signature: {err}")))?;
        let claim = DeviceClaim::new(device, owner, kind, nonce);
        let signer = eip712::recover(
            &claim,
            &eip712::registry_domain(request.chain_id, registry),
            &signature,
        )?;
        if signer != device {
            return Err(ProfileError::WrongSigner {
                claimed: device,
                signer,
            });
        }
        Ok((device, signature))
    }
}

fn kind_from(kind: u8) -> Result<DeviceKind, ProfileError> {
    match kind {
        0 => Ok(DeviceKind::Hotspot),
        1 => Ok(DeviceKind::Meter),
        other => Err(ProfileError::Field(format!(
            "device kind {other} is unknown (0 hotspot, 1 meter)"
        ))),
    }
}

/// Hotspot settings ([`ENDPOINT_HOTSPOT`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HotspotSettings {
    /// H3 cell of the location (resolution 9 or finer), hex without `0x`.
    pub h3_cell: String,
    /// Antenna gain in dBi.
    pub antenna_gain_dbi: f32,
    /// Radio region, e.g. `EU868`, `US915`.
    pub region: String,
}

impl HotspotSettings {
    /// The H3 cell as a number, checked for a valid H3 cell header (mode 1, resolution ≤ 15).
    pub fn h3(&self) -> Result<u64, ProfileError> {
        let cell = u64::from_str_radix(self.h3_cell.trim_start_matches("0x"), 16)
            .map_err(|err| ProfileError::Field(format!("h3_cell is not hex: {err}")))?;
        if (cell >> 59) & 0xf != 1 {
            return Err(ProfileError::Field(format!(
                "h3_cell {:x} is not an H3 cell index (mode must be 1)",
                cell
            )));
        }
        Ok(cell)
    }
}

/// A device's key and kind.
#[derive(Debug, Clone)]
pub struct Identity {
    key: PrivateKeySigner,
    kind: DeviceKind,
}

impl Identity {
    /// An identity with this key.
    pub fn new(key: PrivateKeySigner, kind: DeviceKind) -> Self {
        Self { key, kind }
    }

    /// A fresh random identity.
    pub fn random(kind: DeviceKind) -> Self {
        Self::new(PrivateKeySigner::random(), kind)
    }

    /// The device's address.
    pub fn address(&self) -> Address {
        self.key.address()
    }

    /// The kind.
    pub fn kind(&self) -> DeviceKind {
        self.kind
    }

    /// Signs the claim `request` names.
    pub fn sign_claim(&self, request: &ClaimRequest) -> Result<ClaimResponse, ProfileError> {
        let registry = parse_address("registry", &request.registry)?;
        let owner = parse_address("owner", &request.owner)?;
        let nonce = U256::from_str(&request.nonce)
            .map_err(|err| ProfileError::Field(format!("nonce: {err}")))?;
        let claim = DeviceClaim::new(self.address(), owner, self.kind, nonce);
        let signature = eip712::sign(
            &self.key,
            &claim,
            &eip712::registry_domain(request.chain_id, registry),
        )?;
        Ok(ClaimResponse {
            device: self.address().to_string(),
            kind: self.kind as u8,
            signature: format!("0x{}", hex::encode(signature.as_bytes())),
        })
    }

    /// Signs a reading (which must name this device).
    pub fn sign_reading(&self, reading: Reading) -> Result<SignedReading, ProfileError> {
        let signature = self
            .key
            .sign_hash_sync(&reading.digest())
            .map_err(eip712::SignatureError::from)?;
        Ok(SignedReading { reading, signature })
    }
}

/// Domain separation of reading digests.
const READING_DOMAIN: &[u8] = b"CairnMeterReading/v1";
/// Bytes of an encoded [`Reading`].
pub const READING_BYTES: usize = 20 + 8 + 8 + 8 + 4 + 4 + 4;
/// Bytes of an encoded [`SignedReading`].
pub const SIGNED_READING_BYTES: usize = READING_BYTES + 65;

/// One meter reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reading {
    /// The meter's address.
    pub device: Address,
    /// Strictly increasing per device, never reset.
    pub counter: u64,
    /// Unix seconds at the meter.
    pub timestamp: u64,
    /// Energy register, Wh (never decreases).
    pub energy_wh: u64,
    /// Active power, mW.
    pub power_mw: u32,
    /// RMS voltage, mV.
    pub voltage_mv: u32,
    /// RMS current, mA.
    pub current_ma: u32,
}

impl Reading {
    /// The fixed big-endian encoding.
    pub fn encode(&self) -> [u8; READING_BYTES] {
        let mut out = [0u8; READING_BYTES];
        out[..20].copy_from_slice(self.device.as_slice());
        out[20..28].copy_from_slice(&self.counter.to_be_bytes());
        out[28..36].copy_from_slice(&self.timestamp.to_be_bytes());
        out[36..44].copy_from_slice(&self.energy_wh.to_be_bytes());
        out[44..48].copy_from_slice(&self.power_mw.to_be_bytes());
        out[48..52].copy_from_slice(&self.voltage_mv.to_be_bytes());
        out[52..56].copy_from_slice(&self.current_ma.to_be_bytes());
        out
    }

    /// Decodes [`Reading::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Self, ProfileError> {
        if bytes.len() != READING_BYTES {
            return Err(ProfileError::Field(format!(
                "a reading is {READING_BYTES} bytes, got {}",
                bytes.len()
            )));
        }
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[i..i + 8]);
            u64::from_be_bytes(b)
        };
        let u32_at = |i: usize| {
            let mut b = [0u8; 4];
            b.copy_from_slice(&bytes[i..i + 4]);
            u32::from_be_bytes(b)
        };
        Ok(Self {
            device: Address::from_slice(&bytes[..20]),
            counter: u64_at(20),
            timestamp: u64_at(28),
            energy_wh: u64_at(36),
            power_mw: u32_at(44),
            voltage_mv: u32_at(48),
            current_ma: u32_at(52),
        })
    }

    /// The digest the meter signs: `keccak256("CairnMeterReading/v1" || encode())`.
    pub fn digest(&self) -> alloy_primitives::B256 {
        let mut buf = Vec::with_capacity(READING_DOMAIN.len() + READING_BYTES);
        buf.extend_from_slice(READING_DOMAIN);
        buf.extend_from_slice(&self.encode());
        keccak256(buf)
    }
}

/// A reading and the meter's signature over [`Reading::digest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedReading {
    /// The reading.
    pub reading: Reading,
    /// secp256k1 signature of the device key.
    pub signature: Signature,
}

impl SignedReading {
    /// `reading || r || s || v` (121 bytes).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.reading.encode().to_vec();
        out.extend_from_slice(&self.signature.as_bytes());
        out
    }

    /// Decodes [`SignedReading::encode`] (no signature check: see [`Verifier`]).
    pub fn decode(bytes: &[u8]) -> Result<Self, ProfileError> {
        if bytes.len() != SIGNED_READING_BYTES {
            return Err(ProfileError::Field(format!(
                "a signed reading is {SIGNED_READING_BYTES} bytes, got {}",
                bytes.len()
            )));
        }
        let reading = Reading::decode(&bytes[..READING_BYTES])?;
        let signature = Signature::from_raw(&bytes[READING_BYTES..])
            .map_err(|err| ProfileError::Field(format!("reading signature: {err}")))?;
        Ok(Self { reading, signature })
    }

    /// The address that signed it.
    pub fn signer(&self) -> Result<Address, ProfileError> {
        Ok(self
            .signature
            .recover_address_from_prehash(&self.reading.digest())
            .map_err(eip712::SignatureError::from)?)
    }
}

/// Accepts each device's readings only in counter order, each once, signed by that device.
#[derive(Debug, Default, Clone)]
pub struct Verifier {
    last: HashMap<Address, Reading>,
}

impl Verifier {
    /// A verifier that has accepted nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes and checks one encoded signed reading.
    pub fn verify_bytes(&mut self, bytes: &[u8]) -> Result<Reading, ProfileError> {
        self.verify(&SignedReading::decode(bytes)?)
    }

    /// Checks a reading: signer, then counter, time and energy against the last accepted one.
    pub fn verify(&mut self, signed: &SignedReading) -> Result<Reading, ProfileError> {
        let reading = signed.reading;
        let signer = signed.signer()?;
        if signer != reading.device {
            return Err(ProfileError::WrongSigner {
                claimed: reading.device,
                signer,
            });
        }
        if let Some(last) = self.last.get(&reading.device) {
            if reading.counter == last.counter {
                return Err(ProfileError::Replayed {
                    device: reading.device,
                    counter: reading.counter,
                });
            }
            if reading.counter < last.counter {
                return Err(ProfileError::Reordered {
                    device: reading.device,
                    counter: reading.counter,
                    last: last.counter,
                });
            }
            if reading.timestamp < last.timestamp {
                return Err(ProfileError::Inconsistent {
                    device: reading.device,
                    detail: format!(
                        "timestamp {} is before the last accepted {}",
                        reading.timestamp, last.timestamp
                    ),
                });
            }
            if reading.energy_wh < last.energy_wh {
                return Err(ProfileError::Inconsistent {
                    device: reading.device,
                    detail: format!(
                        "energy register {} Wh is below the last accepted {} Wh",
                        reading.energy_wh, last.energy_wh
                    ),
                });
            }
        }
        self.last.insert(reading.device, reading);
        Ok(reading)
    }

    /// The last counter accepted from `device`.
    pub fn last_counter(&self, device: &Address) -> Option<u64> {
        self.last.get(device).map(|r| r.counter)
    }
}

/// Plain meter values as Bluetooth SIG Environmental Sensing / GATT characteristics.
pub mod ess {
    use super::Reading;

    /// Environmental Sensing service.
    pub const SERVICE_UUID: u16 = 0x181A;
    /// Electric Current characteristic (uint16, 0.01 A).
    pub const ELECTRIC_CURRENT: u16 = 0x2AEE;
    /// Energy characteristic (uint24, kWh).
    pub const ENERGY: u16 = 0x2AF2;
    /// Power characteristic (uint24, 0.1 W).
    pub const POWER: u16 = 0x2B05;
    /// Voltage characteristic (uint16, 1/64 V).
    pub const VOLTAGE: u16 = 0x2B18;

    fn u24(x: u64) -> Vec<u8> {
        let x = x.min(0xFF_FFFE);
        vec![
            (x & 0xff) as u8,
            ((x >> 8) & 0xff) as u8,
            ((x >> 16) & 0xff) as u8,
        ]
    }

    fn u16le(x: u64) -> Vec<u8> {
        let x = x.min(0xFFFE);
        (x as u16).to_le_bytes().to_vec()
    }

    /// `(characteristic, little-endian value)` for each plain value of `reading`.
    pub fn values(reading: &Reading) -> [(u16, Vec<u8>); 4] {
        [
            (ENERGY, u24(reading.energy_wh / 1000)),
            (POWER, u24(u64::from(reading.power_mw) / 100)),
            (VOLTAGE, u16le(u64::from(reading.voltage_mv) * 64 / 1000)),
            (ELECTRIC_CURRENT, u16le(u64::from(reading.current_ma) / 10)),
        ]
    }
}
