//! Cairn's ESP unified provisioning client over any [`Transport`]: `proto-ver` capabilities,
//! the security handshake, paged Wi-Fi scan, config set/apply/status, custom endpoints, and
//! [`provision`], the whole flow with bounded retries.

use std::future::Future;

use prost::Message;
use serde::Serialize;

use crate::Error;
use crate::proto::{self, Status, WifiConnectFailedReason, WifiStationState};
use crate::security::{Cipher, ClientHandshake, Credentials, Level, Step};
use crate::transport::{Transport, TransportError};

/// Scan results read per `prov-scan` request (ESP's BLE characteristic limit allows 4).
pub const DEFAULT_SCAN_PAGE: u32 = 4;
/// At most this many scan results are read.
pub const MAX_SCAN_RESULTS: u32 = 64;
/// Handshake messages before the client gives up (security 2 needs 2).
const MAX_HANDSHAKE_STEPS: usize = 4;

/// What the device said on `proto-ver`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Version {
    /// Provisioning version, e.g. `v1.1`.
    pub ver: String,
    /// Security level the device requires, if it says.
    pub sec_ver: Option<u8>,
    /// `sec_patch_ver` (0 when absent).
    pub sec_patch_ver: u32,
    /// Capabilities (`wifi_scan`, `no_pop`, `no_sec`, ...).
    pub capabilities: Vec<String>,
    /// The raw answer.
    pub raw: String,
}

impl Version {
    /// Parses a `proto-ver` answer: JSON `{"prov":{...}}`, or a bare version string from old
    /// firmware.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let raw = String::from_utf8_lossy(bytes).into_owned();
        let Ok(json) = serde_json::from_str::<serde_json::Value>(&raw) else {
            if raw.trim_start().starts_with('{') {
                return Err(Error::Protocol(format!(
                    "the proto-ver answer is broken JSON (truncated?): {raw}"
                )));
            }
            return Ok(Self {
                ver: raw.trim().to_owned(),
                sec_ver: None,
                sec_patch_ver: 0,
                capabilities: vec![],
                raw,
            });
        };
        let prov = json.get("prov").ok_or_else(|| {
            Error::Protocol(format!("proto-ver answer has no `prov` object: {raw}"))
        })?;
        let sec_ver = match prov.get("sec_ver").and_then(|v| v.as_u64()) {
            Some(n) => Some(Level::from_number(n)?.number()),
            None => None,
        };
        Ok(Self {
            ver: prov
                .get("ver")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned(),
            sec_ver,
            sec_patch_ver: prov
                .get("sec_patch_ver")
                .and_then(|v| v.as_u64())
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(0),
            capabilities: prov
                .get("cap")
                .and_then(|v| v.as_array())
                .map(|caps| {
                    caps.iter()
                        .filter_map(|c| c.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            raw,
        })
    }

    /// Whether the device advertises `capability`.
    pub fn has(&self, capability: &str) -> bool {
        self.capabilities.iter().any(|c| c == capability)
    }
}

/// Client options.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// PoP / SRP credentials.
    pub credentials: Credentials,
    /// Security level to use when the device does not say (old firmware); otherwise the
    /// device's `sec_ver` is used and must match this when set.
    pub level: Option<Level>,
    /// Allow security 0 (no encryption, no authentication). Default: refused.
    pub allow_sec0: bool,
    /// Allow security 2 with `sec_patch_ver` 0, which reuses one AES-GCM nonce for every
    /// message. Default: refused.
    pub allow_nonce_reuse: bool,
}

/// A Wi-Fi network the device sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessPoint {
    /// SSID.
    pub ssid: String,
    /// BSSID, hex.
    pub bssid: String,
    /// Channel.
    pub channel: u32,
    /// RSSI, dBm.
    pub rssi: i32,
    /// Auth mode name.
    pub auth: String,
}

/// The device's station state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum WifiStatus {
    /// Connected, with the address it got.
    Connected {
        /// IPv4 address.
        ip: String,
        /// SSID.
        ssid: String,
    },
    /// Still connecting.
    Connecting,
    /// Not connected and not trying.
    Disconnected,
    /// The connection failed because of `reason`.
    Failed(FailReason),
}

/// Why the station could not connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FailReason {
    /// Wrong passphrase.
    AuthError,
    /// SSID not found.
    NetworkNotFound,
    /// A reason this client does not know.
    Other(i32),
}

/// A client bound to one transport.
#[derive(Debug)]
pub struct Client<T> {
    transport: T,
    cipher: Option<Cipher>,
}

impl<T: Transport> Client<T> {
    /// A client on `transport`.
    pub fn new(transport: T) -> Self {
        Self {
            transport,
            cipher: None,
        }
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Asks `proto-ver`.
    pub async fn version(&self) -> Result<Version, Error> {
        let answer = self
            .transport
            .send("proto-ver", b"---")
            .await
            .map_err(|source| Error::Transport {
                phase: "proto-ver",
                source,
            })?;
        Version::parse(&answer)
    }

    /// Establishes a secure session; returns the device's version and the level used.
    pub async fn connect(&mut self, options: &Options) -> Result<(Version, Level), Error> {
        let version = self.version().await?;
        let level = match (version.sec_ver, options.level) {
            (Some(n), None) => Level::from_number(u64::from(n))?,
            (Some(n), Some(wanted)) if n == wanted.number() => wanted,
            (Some(n), Some(wanted)) => {
                return Err(Error::SchemeMismatch {
                    expected: i32::from(wanted.number()),
                    got: i32::from(n),
                });
            }
            (None, Some(wanted)) => wanted,
            (None, None) => {
                return Err(Error::Invalid(
                    "the device does not say its security level: pass --security".into(),
                ));
            }
        };
        if level == Level::Sec0 && !options.allow_sec0 {
            return Err(Error::InsecureRefused);
        }
        if level == Level::Sec2 && version.sec_patch_ver == 0 && !options.allow_nonce_reuse {
            return Err(Error::NonceReuseRefused);
        }
        let mut handshake =
            ClientHandshake::new(level, options.credentials.clone(), version.sec_patch_ver)?;
        let mut response: Option<Vec<u8>> = None;
        for step in 0..MAX_HANDSHAKE_STEPS {
            match handshake.step(response.as_deref())? {
                Step::Send(request) => {
                    let answer = self.transport.send("prov-session", &request).await;
                    response = Some(match answer {
                        Ok(answer) => answer,
                        // The device closes the session when the proof does not verify.
                        Err(TransportError::Rejected { .. })
                            if step >= 1 && level != Level::Sec0 =>
                        {
                            return Err(Error::WrongPop);
                        }
                        Err(source) => {
                            return Err(Error::Transport {
                                phase: "prov-session",
                                source,
                            });
                        }
                    });
                }
                Step::Done(cipher) => {
                    self.cipher = Some(cipher);
                    return Ok((version, level));
                }
            }
        }
        Err(Error::Protocol(
            "the security handshake did not finish".into(),
        ))
    }

    /// Sends `data` to an encrypted endpoint (Wi-Fi or custom) and decrypts the answer.
    pub async fn call(&mut self, endpoint: &'static str, data: &[u8]) -> Result<Vec<u8>, Error> {
        let cipher = self.cipher.as_mut().ok_or(Error::NoSession)?;
        let request = cipher.encrypt(data)?;
        let answer = self
            .transport
            .send(endpoint, &request)
            .await
            .map_err(|source| Error::Transport {
                phase: endpoint,
                source,
            })?;
        let cipher = self.cipher.as_mut().ok_or(Error::NoSession)?;
        cipher.decrypt(&answer)
    }

    async fn scan_call(
        &mut self,
        msg: proto::WiFiScanMsgType,
        payload: proto::wi_fi_scan_payload::Payload,
    ) -> Result<proto::WiFiScanPayload, Error> {
        let request = proto::WiFiScanPayload {
            msg: msg as i32,
            status: 0,
            payload: Some(payload),
        };
        let answer = self.call("prov-scan", &request.encode_to_vec()).await?;
        let resp =
            proto::WiFiScanPayload::decode(answer.as_slice()).map_err(|source| Error::Decode {
                phase: "prov-scan answer",
                source,
            })?;
        if resp.status != Status::Success as i32 {
            return Err(Error::DeviceStatus {
                phase: "prov-scan",
                status: format!("{:?}", Status::try_from(resp.status)),
            });
        }
        Ok(resp)
    }

    /// Scans for Wi-Fi networks, reading the results `page` at a time.
    pub async fn scan(&mut self, page: u32) -> Result<Vec<AccessPoint>, Error> {
        use proto::wi_fi_scan_payload::Payload;
        let page = page.clamp(1, 16);
        self.scan_call(
            proto::WiFiScanMsgType::TypeCmdScanStart,
            Payload::CmdScanStart(proto::CmdScanStart {
                blocking: true,
                passive: false,
                group_channels: 0,
                period_ms: 120,
            }),
        )
        .await?;
        let status = self
            .scan_call(
                proto::WiFiScanMsgType::TypeCmdScanStatus,
                Payload::CmdScanStatus(proto::CmdScanStatus {}),
            )
            .await?;
        let count = match status.payload {
            Some(Payload::RespScanStatus(s)) => s.result_count.min(MAX_SCAN_RESULTS),
            None if status.msg == proto::WiFiScanMsgType::TypeRespScanStatus as i32 => 0,
            _ => return Err(Error::Protocol("prov-scan: not a scan status".into())),
        };
        let mut out = Vec::new();
        let mut index = 0;
        while index < count {
            let n = page.min(count - index);
            let resp = self
                .scan_call(
                    proto::WiFiScanMsgType::TypeCmdScanResult,
                    Payload::CmdScanResult(proto::CmdScanResult {
                        start_index: index,
                        count: n,
                    }),
                )
                .await?;
            let Some(Payload::RespScanResult(result)) = resp.payload else {
                return Err(Error::Protocol("prov-scan: not a scan result".into()));
            };
            for e in result.entries {
                out.push(AccessPoint {
                    ssid: String::from_utf8_lossy(&e.ssid)
                        .trim_end_matches('\0')
                        .to_owned(),
                    bssid: hex::encode(&e.bssid),
                    channel: e.channel,
                    rssi: e.rssi,
                    auth: proto::WifiAuthMode::try_from(e.auth)
                        .map(|a| format!("{a:?}"))
                        .unwrap_or_else(|_| format!("auth mode {}", e.auth)),
                });
            }
            index += n;
        }
        Ok(out)
    }

    async fn config_call(
        &mut self,
        msg: proto::WiFiConfigMsgType,
        payload: proto::wi_fi_config_payload::Payload,
    ) -> Result<proto::wi_fi_config_payload::Payload, Error> {
        let request = proto::WiFiConfigPayload {
            msg: msg as i32,
            payload: Some(payload),
        };
        let answer = self.call("prov-config", &request.encode_to_vec()).await?;
        use proto::wi_fi_config_payload::Payload;
        let resp = proto::WiFiConfigPayload::decode(answer.as_slice()).map_err(|source| {
            Error::Decode {
                phase: "prov-config answer",
                source,
            }
        })?;
        // An all-default answer message is not serialized at all: go by `msg`.
        match (resp.payload, proto::WiFiConfigMsgType::try_from(resp.msg)) {
            (Some(payload), _) => Ok(payload),
            (None, Ok(proto::WiFiConfigMsgType::TypeRespSetConfig)) => {
                Ok(Payload::RespSetConfig(proto::RespSetConfig::default()))
            }
            (None, Ok(proto::WiFiConfigMsgType::TypeRespApplyConfig)) => {
                Ok(Payload::RespApplyConfig(proto::RespApplyConfig::default()))
            }
            (None, Ok(proto::WiFiConfigMsgType::TypeRespGetStatus)) => {
                Ok(Payload::RespGetStatus(proto::RespGetStatus::default()))
            }
            _ => Err(Error::Protocol("prov-config answer without payload".into())),
        }
    }

    /// Sends the Wi-Fi credentials.
    pub async fn set_config(&mut self, ssid: &str, passphrase: &str) -> Result<(), Error> {
        use proto::wi_fi_config_payload::Payload;
        if ssid.is_empty() || ssid.len() > 32 {
            return Err(Error::Invalid(format!(
                "SSID `{ssid}` must be 1 to 32 bytes"
            )));
        }
        if passphrase.len() > 64 || (!passphrase.is_empty() && passphrase.len() < 8) {
            return Err(Error::Invalid(
                "a WPA passphrase is 8 to 63 characters (or 64 hex digits); empty for an open network"
                    .into(),
            ));
        }
        match self
            .config_call(
                proto::WiFiConfigMsgType::TypeCmdSetConfig,
                Payload::CmdSetConfig(proto::CmdSetConfig {
                    ssid: ssid.as_bytes().to_vec(),
                    passphrase: passphrase.as_bytes().to_vec(),
                    bssid: vec![],
                    channel: 0,
                }),
            )
            .await?
        {
            Payload::RespSetConfig(r) if r.status == Status::Success as i32 => Ok(()),
            Payload::RespSetConfig(r) => Err(Error::DeviceStatus {
                phase: "Wi-Fi set config",
                status: format!("{:?}", Status::try_from(r.status)),
            }),
            _ => Err(Error::Protocol(
                "prov-config: not a set-config answer".into(),
            )),
        }
    }

    /// Tells the device to connect with the credentials sent.
    pub async fn apply(&mut self) -> Result<(), Error> {
        use proto::wi_fi_config_payload::Payload;
        match self
            .config_call(
                proto::WiFiConfigMsgType::TypeCmdApplyConfig,
                Payload::CmdApplyConfig(proto::CmdApplyConfig {}),
            )
            .await?
        {
            Payload::RespApplyConfig(r) if r.status == Status::Success as i32 => Ok(()),
            Payload::RespApplyConfig(r) => Err(Error::DeviceStatus {
                phase: "Wi-Fi apply config",
                status: format!("{:?}", Status::try_from(r.status)),
            }),
            _ => Err(Error::Protocol("prov-config: not an apply answer".into())),
        }
    }

    /// The station state.
    pub async fn status(&mut self) -> Result<WifiStatus, Error> {
        use proto::resp_get_status::State;
        use proto::wi_fi_config_payload::Payload;
        let Payload::RespGetStatus(r) = self
            .config_call(
                proto::WiFiConfigMsgType::TypeCmdGetStatus,
                Payload::CmdGetStatus(proto::CmdGetStatus {}),
            )
            .await?
        else {
            return Err(Error::Protocol("prov-config: not a status answer".into()));
        };
        Ok(match WifiStationState::try_from(r.sta_state) {
            Ok(WifiStationState::Connected) => match r.state {
                Some(State::Connected(c)) => WifiStatus::Connected {
                    ip: c.ip4_addr,
                    ssid: String::from_utf8_lossy(&c.ssid).into_owned(),
                },
                _ => WifiStatus::Connected {
                    ip: String::new(),
                    ssid: String::new(),
                },
            },
            Ok(WifiStationState::Connecting) => WifiStatus::Connecting,
            Ok(WifiStationState::Disconnected) => WifiStatus::Disconnected,
            Ok(WifiStationState::ConnectionFailed) => WifiStatus::Failed(match r.state {
                Some(State::FailReason(n)) => match WifiConnectFailedReason::try_from(n) {
                    Ok(WifiConnectFailedReason::AuthError) => FailReason::AuthError,
                    Ok(WifiConnectFailedReason::NetworkNotFound) => FailReason::NetworkNotFound,
                    Err(_) => FailReason::Other(n),
                },
                _ => FailReason::Other(-1),
            }),
            Err(_) => {
                return Err(Error::Protocol(format!(
                    "unknown station state {}",
                    r.sta_state
                )));
            }
        })
    }
}

/// What to provision.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Session options.
    pub options: Options,
    /// Network name.
    pub ssid: String,
    /// Network passphrase.
    pub passphrase: String,
    /// Scan first (when the device can) and report what it sees.
    pub scan: bool,
    /// Whole-flow attempts on transient failures (at least 1).
    pub attempts: u32,
    /// Status polls after apply (at least 1).
    pub status_polls: u32,
}

/// How provisioning went.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `proto-ver`.
    pub version: Version,
    /// Level used.
    pub security: u8,
    /// Networks seen, if scanned.
    pub access_points: Vec<AccessPoint>,
    /// Final status (always `Connected` on success).
    pub status: WifiStatus,
    /// Attempts it took.
    pub attempts: u32,
    /// The errors of failed attempts that were retried.
    pub retried: Vec<String>,
}

async fn provision_once<T: Transport, F, Fut>(
    transport: &T,
    request: &Request,
    pause: &F,
) -> Result<Report, Error>
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut client = Client::new(transport);
    let (version, level) = client.connect(&request.options).await?;
    let access_points = if request.scan && version.has("wifi_scan") {
        client.scan(DEFAULT_SCAN_PAGE).await?
    } else {
        vec![]
    };
    client
        .set_config(&request.ssid, &request.passphrase)
        .await?;
    client.apply().await?;
    for _ in 0..request.status_polls.max(1) {
        match client.status().await? {
            WifiStatus::Connecting => pause().await,
            WifiStatus::Failed(FailReason::AuthError) => {
                return Err(Error::WifiAuth(request.ssid.clone()));
            }
            WifiStatus::Failed(FailReason::NetworkNotFound) => {
                return Err(Error::WifiNotFound(request.ssid.clone()));
            }
            WifiStatus::Failed(FailReason::Other(n)) => {
                return Err(Error::WifiFailed(format!("reason code {n}")));
            }
            WifiStatus::Disconnected => {
                return Err(Error::WifiFailed(
                    "the device is disconnected and not trying to connect".into(),
                ));
            }
            status @ WifiStatus::Connected { .. } => {
                return Ok(Report {
                    version,
                    security: level.number(),
                    access_points,
                    status,
                    attempts: 1,
                    retried: vec![],
                });
            }
        }
    }
    Err(Error::WifiFailed(format!(
        "still connecting after {} status polls",
        request.status_polls.max(1)
    )))
}

/// The whole flow: session, optional scan, set config, apply, poll status until connected or
/// failed. Transient failures (timeouts, disconnects, truncated or garbled answers, a device
/// that reset) restart the flow on a new session, up to `request.attempts` times; a rejected
/// proof is retried once (a reset device looks the same), then reported as a wrong PoP; Wi-Fi
/// failures are final. `pause` is awaited between status polls.
pub async fn provision<T: Transport, F, Fut>(
    transport: &T,
    request: &Request,
    pause: F,
) -> Result<Report, Error>
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let attempts = request.attempts.max(1);
    let mut retried = Vec::new();
    let mut retried_wrong_pop = false;
    for attempt in 1..=attempts {
        if attempt > 1 {
            transport.reset().await.map_err(|source| Error::Transport {
                phase: "reconnect",
                source,
            })?;
        }
        match provision_once(transport, request, &pause).await {
            Ok(mut report) => {
                report.attempts = attempt;
                report.retried = retried;
                return Ok(report);
            }
            // A device that restarted mid-handshake rejects the proof exactly as one given the
            // wrong PoP: one fresh session tells them apart.
            Err(Error::WrongPop) if attempt < attempts && !retried_wrong_pop => {
                retried_wrong_pop = true;
                retried.push(Error::WrongPop.to_string());
            }
            Err(err) if err.is_retryable() && attempt < attempts => {
                retried.push(err.to_string());
            }
            Err(err) => return Err(err),
        }
    }
    Err(Error::Protocol("no provisioning attempt was made".into()))
}

#[async_trait::async_trait]
impl<T: Transport + ?Sized> Transport for &T {
    async fn send(&self, endpoint: &str, data: &[u8]) -> Result<Vec<u8>, TransportError> {
        (**self).send(endpoint, data).await
    }

    async fn reset(&self) -> Result<(), TransportError> {
        (**self).reset().await
    }
}

#[async_trait::async_trait]
impl<T: Transport + ?Sized> Transport for std::sync::Arc<T> {
    async fn send(&self, endpoint: &str, data: &[u8]) -> Result<Vec<u8>, TransportError> {
        (**self).send(endpoint, data).await
    }

    async fn reset(&self) -> Result<(), TransportError> {
        (**self).reset().await
    }
}
