//! Bluetooth LE pairing for installers: Espressif's unified provisioning and the Cairn device
//! profile, as pure protocol code.
//!
//! Owns: the protocomm and Wi-Fi provisioning messages ([`proto`], field numbers as ESP-IDF's
//! `.proto` files), the security 0/1/2 handshakes and session ciphers ([`security`], SRP6a in
//! [`srp`]), the client ([`client`]: `proto-ver` capabilities, paged scan, config set/apply/status,
//! custom endpoints, the whole flow with bounded retries), the QR payload ([`qr`]), the Cairn
//! device profile ([`profile`]: identity and EIP-712 claims, hotspot settings, signed meter
//! readings and their verifier), the device side of all of it ([`device`], used by the
//! simulator), and the [`transport::Transport`] trait with an in-memory transport.
//!
//! GATT layout (what a BLE transport maps): ESP's provisioning service (16-bit `0xFFFF` in ESP
//! examples, or the UUID the device advertises) with one characteristic per endpoint
//! (`prov-session`, `prov-config`, `proto-ver`, `prov-scan`, `prov-ctrl`, custom ones), each named
//! by its 0x2901 user description, falling back to `FF51` session, `FF52` config, `FF53` version
//! (and `FF4F`/`FF50` scan/ctrl) on old firmware; writes with response then a read. The Cairn
//! service and its characteristics are listed in [`profile`].
//!
//! Builds for: native, `aarch64-linux-android` (pure Rust; no I/O, no clock, no async runtime:
//! transports live in `ble-transport`, the simulator's servers in `device-sim`).
//!
//! Must not depend on: `runtime`, `node`, the app, the UI, any shell crate, tokio or btleplug.

pub mod client;
pub mod device;
pub mod profile;
pub mod proto;
pub mod qr;
pub mod security;
pub mod srp;
pub mod transport;

pub use security::Level;

/// Why provisioning or a profile operation failed, by phase.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A message did not decode.
    #[error("{phase}: the message does not decode ({source}); it was truncated or garbled")]
    Decode {
        /// Where.
        phase: &'static str,
        /// The decoder's error.
        source: prost::DecodeError,
    },
    /// The device answered with a protocomm error status.
    #[error("{phase}: the device answered {status}")]
    DeviceStatus {
        /// Where.
        phase: &'static str,
        /// The status.
        status: String,
    },
    /// The device speaks another security scheme.
    #[error("the device uses security {got}, not security {expected}: pass --security {got}")]
    SchemeMismatch {
        /// What the client wanted.
        expected: i32,
        /// What the device has.
        got: i32,
    },
    /// The proofs did not verify.
    #[error(
        "wrong proof of possession: the device and Cairn derived different keys (check the PoP, \
         and for security 2 the username)"
    )]
    WrongPop,
    /// Security 0 without opt-in.
    #[error(
        "the device uses security 0 (no encryption, no authentication): pass --allow-insecure to \
         send Wi-Fi credentials in the clear"
    )]
    InsecureRefused,
    /// Security 2 patch 0 without opt-in.
    #[error(
        "the device uses security 2 with sec_patch_ver 0, which reuses one AES-GCM nonce for every \
         message: update its firmware, or pass --allow-nonce-reuse"
    )]
    NonceReuseRefused,
    /// SRP arithmetic refused the values.
    #[error("SRP6a: {0}")]
    Srp(&'static str),
    /// A cipher failed.
    #[error("session cipher: {0}")]
    Crypto(&'static str),
    /// The system random generator failed.
    #[error("no randomness from the operating system: {0}")]
    Random(String),
    /// A protocol rule was broken.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// Bad input from the user.
    #[error("{0}")]
    Invalid(String),
    /// An encrypted endpoint was used before the session.
    #[error("no secure session: connect first")]
    NoSession,
    /// A transport failed.
    #[error("{phase}: {source}")]
    Transport {
        /// Where.
        phase: &'static str,
        /// What the transport said.
        source: transport::TransportError,
    },
    /// Wi-Fi: wrong passphrase.
    #[error("the device could not join `{0}`: wrong passphrase (check it and provision again)")]
    WifiAuth(String),
    /// Wi-Fi: SSID not found.
    #[error(
        "the device could not find the network `{0}`: check the SSID and that the access point is in range"
    )]
    WifiNotFound(String),
    /// Wi-Fi: other failure.
    #[error("the device could not connect to Wi-Fi: {0}")]
    WifiFailed(String),
    /// A Cairn profile message was refused.
    #[error("Cairn profile: {0}")]
    Profile(#[from] profile::ProfileError),
}

impl Error {
    /// Whether a new session may succeed where this one failed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport { source, .. } => !matches!(
                source,
                transport::TransportError::UnknownEndpoint(_) | transport::TransportError::Io(_)
            ),
            Self::Decode { .. } | Self::Crypto(_) | Self::Protocol(_) | Self::NoSession => true,
            _ => false,
        }
    }
}
