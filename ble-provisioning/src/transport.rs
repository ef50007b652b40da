//! The one small trait every transport implements (BLE GATT, softAP HTTP, in-memory), and the
//! in-memory transport to a [`crate::device::Device`] in the same process.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::device::{Device, DeviceError};

/// Why a message did not make a round trip.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// No answer within the transport's timeout (a dropped message or a hung device).
    #[error("no answer from the device on `{endpoint}` within {timeout_ms} ms")]
    Timeout {
        /// The endpoint written.
        endpoint: String,
        /// The timeout that passed.
        timeout_ms: u64,
    },
    /// The link went away (BLE disconnect, connection reset).
    #[error("the device disconnected during `{endpoint}`: {detail}")]
    Disconnected {
        /// The endpoint written.
        endpoint: String,
        /// What the transport saw.
        detail: String,
    },
    /// The device answered with an error (ESP's HTTP 500, a GATT error): it closed the session.
    #[error("the device rejected the message on `{endpoint}`: {detail}")]
    Rejected {
        /// The endpoint written.
        endpoint: String,
        /// What the device or transport said.
        detail: String,
    },
    /// The device has no such endpoint.
    #[error("the device has no endpoint `{0}`")]
    UnknownEndpoint(String),
    /// The transport could not be used at all (no adapter, bad address, ...).
    #[error("transport failure: {0}")]
    Io(String),
}

impl TransportError {
    /// Whether starting a new session may help (not a rejection of the credentials).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Timeout { .. } | Self::Disconnected { .. })
    }
}

/// A way to exchange one request/response pair with a named protocomm endpoint.
///
/// `send` must return within a bounded time (implementations own their timeouts).
#[async_trait]
pub trait Transport: Send + Sync {
    /// Writes `data` to `endpoint` and returns the device's answer.
    async fn send(&self, endpoint: &str, data: &[u8]) -> Result<Vec<u8>, TransportError>;

    /// Ends the current session so the next `prov-session` starts a new one (HTTP: forget the
    /// cookie; BLE: reconnect).
    async fn reset(&self) -> Result<(), TransportError>;
}

/// In-memory transport: calls the device directly. Each [`Transport::reset`] opens a new session.
#[derive(Debug, Clone)]
pub struct Memory {
    device: Arc<Mutex<Device>>,
    session: Arc<Mutex<u64>>,
}

impl Memory {
    /// A transport to `device` (shared with whoever else holds it).
    pub fn new(device: Arc<Mutex<Device>>) -> Self {
        Self {
            device,
            session: Arc::new(Mutex::new(1)),
        }
    }

    fn session(&self) -> u64 {
        self.session.lock().map(|s| *s).unwrap_or(0)
    }
}

/// Maps a device-side failure to what a client on a transport sees.
pub fn device_error(endpoint: &str, err: DeviceError) -> TransportError {
    match err {
        DeviceError::Dropped => TransportError::Timeout {
            endpoint: endpoint.to_owned(),
            timeout_ms: 0,
        },
        DeviceError::Disconnected => TransportError::Disconnected {
            endpoint: endpoint.to_owned(),
            detail: "the simulated link dropped".into(),
        },
        DeviceError::UnknownEndpoint(name) => TransportError::UnknownEndpoint(name),
        other => TransportError::Rejected {
            endpoint: endpoint.to_owned(),
            detail: other.to_string(),
        },
    }
}

#[async_trait]
impl Transport for Memory {
    async fn send(&self, endpoint: &str, data: &[u8]) -> Result<Vec<u8>, TransportError> {
        let session = self.session();
        let mut device = self
            .device
            .lock()
            .map_err(|_| TransportError::Io("the in-memory device panicked".into()))?;
        device
            .handle(session, endpoint, data)
            .map_err(|err| device_error(endpoint, err))
    }

    async fn reset(&self) -> Result<(), TransportError> {
        let mut session = self
            .session
            .lock()
            .map_err(|_| TransportError::Io("the in-memory session lock is poisoned".into()))?;
        *session = session.wrapping_add(1);
        Ok(())
    }
}
