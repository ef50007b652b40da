//! The provisioning QR code payload ESP devices print:
//! `{"ver":"v1","name":"PROV_...","pop":"...","transport":"ble"|"softap","security":1|2}`
//! (`username` for security 2 and `security` are optional, as in ESP-IDF's examples).

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::security::Level;

/// How the device is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QrTransport {
    /// Bluetooth LE (`name` is the advertised name).
    Ble,
    /// The device's soft access point, HTTP (`name` is its SSID, or `host:port`).
    Softap,
    /// A serial console (not supported by Cairn).
    Console,
}

/// A parsed QR payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// Payload version (`v1`).
    pub ver: String,
    /// Device name.
    pub name: String,
    /// Proof of possession / SRP password (may be absent when the device has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pop: Option<String>,
    /// SRP username (security 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Transport.
    pub transport: QrTransport,
    /// Security level, when printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<u8>,
}

impl Payload {
    /// Parses and checks a QR payload.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let payload: Self = serde_json::from_str(text.trim()).map_err(|err| {
            Error::Invalid(format!(
                "the QR payload is not ESP's provisioning JSON ({err}); expected \
                 {{\"ver\":\"v1\",\"name\":...,\"pop\":...,\"transport\":\"ble\"|\"softap\"}}"
            ))
        })?;
        if payload.ver != "v1" {
            return Err(Error::Invalid(format!(
                "QR payload version `{}` is not supported (only v1)",
                payload.ver
            )));
        }
        if payload.name.is_empty() {
            return Err(Error::Invalid(
                "the QR payload has an empty device name".into(),
            ));
        }
        if let Some(level) = payload.security {
            Level::from_number(u64::from(level))?;
        }
        Ok(payload)
    }

    /// The payload as printed in the QR code.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_espressif_examples_and_rejects_bad_ones() {
        let p = Payload::parse(
            r#"{"ver":"v1","name":"PROV_1A2B3C","pop":"abcd1234","transport":"ble"}"#,
        )
        .unwrap();
        assert_eq!(p.name, "PROV_1A2B3C");
        assert_eq!(p.pop.as_deref(), Some("abcd1234"));
        assert_eq!(p.transport, QrTransport::Ble);
        assert_eq!(p.security, None);
        let p = Payload::parse(
            r#"{"ver":"v1","name":"127.0.0.1:8080","username":"wifiprov","pop":"abcd1234","transport":"softap","security":2}"#,
        )
        .unwrap();
        assert_eq!(p.security, Some(2));
        assert_eq!(p.username.as_deref(), Some("wifiprov"));
        assert_eq!(Payload::parse(&p.to_json()).unwrap(), p);
        for bad in [
            "",
            "{}",
            r#"{"ver":"v2","name":"x","transport":"ble"}"#,
            r#"{"ver":"v1","name":"","transport":"ble"}"#,
            r#"{"ver":"v1","name":"x","transport":"wifi"}"#,
            r#"{"ver":"v1","name":"x","transport":"ble","security":7}"#,
        ] {
            assert!(Payload::parse(bad).is_err(), "{bad}");
        }
    }
}
