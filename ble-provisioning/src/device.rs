//! The device side of ESP unified provisioning and of the Cairn profile, as a pure state
//! machine: `handle(session, endpoint, bytes) -> bytes`. The simulator serves it over memory,
//! HTTP and BLE; faults are injected here so every transport sees the same ones.
//!
//! Endpoints: `proto-ver` (plain JSON capabilities), `prov-session` (the handshake), and, under
//! the session cipher, `prov-scan`, `prov-config`, `prov-ctrl` and the Cairn profile endpoints.
//! One session at a time, as ESP's protocomm: a handshake from a new session id replaces it.

use std::collections::VecDeque;

use chain::eip712::DeviceKind;
use prost::Message;

use crate::Error;
use crate::profile::{self, Identity, Reading};
use crate::proto::{self, Status, WifiAuthMode, WifiConnectFailedReason, WifiStationState};
use crate::security::{self, Cipher, DeviceHandshake, DeviceSecrets, DeviceSecurity};

/// The provisioning version this device reports.
pub const PROV_VERSION: &str = "v1.1";

/// Why the device answered nothing useful.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// The device closes the session (ESP: HTTP 500 or a GATT error).
    #[error("{0}")]
    Closed(#[from] Error),
    /// No such endpoint.
    #[error("no endpoint `{0}`")]
    UnknownEndpoint(String),
    /// Injected: the message was lost; the client sees a timeout.
    #[error("the message was dropped")]
    Dropped,
    /// Injected: the link dropped.
    #[error("the link dropped")]
    Disconnected,
    /// A request on an encrypted endpoint without an established session.
    #[error("no established session: run the prov-session handshake first")]
    NoSession,
}

/// A fault to inject into the device's next requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Fault {
    /// Lose the request (no answer; the client times out).
    Drop,
    /// Answer with only the first half of the response.
    Truncate,
    /// Drop the link in the middle of the request; the session is lost.
    Disconnect,
    /// The device reboots before handling the request: sessions and unapplied config are lost.
    Reset,
}

/// A Wi-Fi network the simulated device can see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// SSID.
    pub ssid: String,
    /// Passphrase (empty: open).
    pub passphrase: String,
    /// Channel.
    pub channel: u32,
    /// Signal strength.
    pub rssi: i32,
    /// BSSID.
    pub bssid: [u8; 6],
}

impl Network {
    /// A WPA2 network.
    pub fn new(ssid: &str, passphrase: &str, channel: u32, rssi: i32) -> Self {
        let mut bssid = [0x24, 0x0a, 0xc4, 0, 0, 0];
        bssid[5] = (channel & 0xff) as u8;
        bssid[4] = ssid.len() as u8;
        Self {
            ssid: ssid.to_owned(),
            passphrase: passphrase.to_owned(),
            channel,
            rssi,
            bssid,
        }
    }
}

/// Everything a simulated device is made of.
#[derive(Debug, Clone)]
pub struct Config {
    /// Its BLE/softAP name (`PROV_XXXXXX` on ESP examples).
    pub name: String,
    /// Its security.
    pub security: DeviceSecurity,
    /// Networks in range.
    pub networks: Vec<Network>,
    /// Its Cairn identity.
    pub identity: Identity,
    /// Extra capabilities advertised in `proto-ver`.
    pub capabilities: Vec<String>,
}

impl Config {
    /// A device named `name` with `security`, a few networks in range (`cairn-home` /
    /// `correct horse`, and 12 more so scans page), and a random meter identity.
    pub fn example(name: &str, security: DeviceSecurity) -> Self {
        let mut networks = vec![Network::new("cairn-home", "correct horse", 6, -42)];
        for i in 0..12u32 {
            networks.push(Network::new(
                &format!("neighbour-{i:02}"),
                "secret",
                1 + i % 11,
                -60 - i as i32,
            ));
        }
        Self {
            name: name.to_owned(),
            security,
            networks,
            identity: Identity::random(DeviceKind::Meter),
            capabilities: vec!["wifi_scan".into()],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Station {
    Idle,
    Configured {
        ssid: Vec<u8>,
        passphrase: Vec<u8>,
    },
    Applying {
        ssid: Vec<u8>,
        passphrase: Vec<u8>,
        polls: u8,
    },
    Connected(Network),
    Failed(WifiConnectFailedReason),
}

/// The simulated device.
#[derive(Debug)]
pub struct Device {
    config: Config,
    session: Option<(u64, SessionState)>,
    station: Station,
    scanned: bool,
    faults: VecDeque<(u64, Fault)>,
    requests: u64,
    meter: Meter,
    hotspot: profile::HotspotSettings,
    fixed_secrets: Option<DeviceSecrets>,
}

#[derive(Debug)]
enum SessionState {
    Handshake(DeviceHandshake),
    Established(Cipher),
}

#[derive(Debug, Clone)]
struct Meter {
    counter: u64,
    timestamp: u64,
    energy_wh: u64,
}

impl Device {
    /// A device from `config`.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            session: None,
            station: Station::Idle,
            scanned: false,
            faults: VecDeque::new(),
            requests: 0,
            meter: Meter {
                counter: 0,
                timestamp: 1_767_225_600,
                energy_wh: 1_250_000,
            },
            hotspot: profile::HotspotSettings {
                h3_cell: "8928308280fffff".into(),
                antenna_gain_dbi: 3.0,
                region: "EU868".into(),
            },
            fixed_secrets: None,
        }
    }

    /// Uses these secrets for every handshake (golden vectors), instead of fresh ones.
    pub fn fix_secrets(&mut self, secrets: DeviceSecrets) {
        self.fixed_secrets = Some(secrets);
    }

    /// Its configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Injects `fault` into the request that comes `after` requests from now (0: the next).
    pub fn inject(&mut self, after: u64, fault: Fault) {
        self.faults.push_back((self.requests + after, fault));
    }

    /// Requests handled so far.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// The network the station is connected to, if any.
    pub fn connected_ssid(&self) -> Option<&str> {
        match &self.station {
            Station::Connected(network) => Some(&network.ssid),
            _ => None,
        }
    }

    /// The `proto-ver` answer.
    pub fn version_json(&self) -> String {
        let mut caps = self.config.capabilities.clone();
        if let DeviceSecurity::Sec1 { pop } = &self.config.security
            && pop.is_empty()
        {
            caps.push("no_pop".into());
        }
        if matches!(self.config.security, DeviceSecurity::Sec0) {
            caps.push("no_sec".into());
        }
        serde_json::json!({
            "prov": {
                "ver": PROV_VERSION,
                "sec_ver": self.config.security.level().number(),
                "sec_patch_ver": self.config.security.patch(),
                "cap": caps,
            },
            "cairn": {
                "ver": "v1",
                "device": self.config.identity.address().to_string(),
                "kind": self.config.identity.kind() as u8,
            }
        })
        .to_string()
    }

    /// Handles one request of session `session` on `endpoint`.
    pub fn handle(
        &mut self,
        session: u64,
        endpoint: &str,
        data: &[u8],
    ) -> Result<Vec<u8>, DeviceError> {
        let index = self.requests;
        self.requests += 1;
        let mut fault = None;
        while let Some(&(at, f)) = self.faults.front() {
            if at <= index {
                self.faults.pop_front();
                if at == index {
                    fault = Some(f);
                }
            } else {
                break;
            }
        }
        match fault {
            Some(Fault::Drop) => return Err(DeviceError::Dropped),
            Some(Fault::Disconnect) => {
                self.session = None;
                return Err(DeviceError::Disconnected);
            }
            Some(Fault::Reset) => self.reset(),
            Some(Fault::Truncate) | None => {}
        }
        let mut answer = self.dispatch(session, endpoint, data)?;
        if fault == Some(Fault::Truncate) {
            answer.truncate(answer.len() / 2);
        }
        Ok(answer)
    }

    /// The meter's next reading (counter + 1), signed by the device: what `cairn-meter` answers
    /// inside a session and what the BLE simulator notifies in the clear (the signature
    /// authenticates it).
    pub fn next_reading(&mut self) -> Result<Vec<u8>, DeviceError> {
        self.meter.counter += 1;
        self.meter.timestamp += 15;
        self.meter.energy_wh += 3 + self.meter.counter % 5;
        let reading = Reading {
            device: self.config.identity.address(),
            counter: self.meter.counter,
            timestamp: self.meter.timestamp,
            energy_wh: self.meter.energy_wh,
            power_mw: 730_000 + (self.meter.counter % 7) as u32 * 1000,
            voltage_mv: 230_000,
            current_ma: 3_170,
        };
        Ok(self
            .config
            .identity
            .sign_reading(reading)
            .map_err(Error::Profile)?
            .encode())
    }

    /// A reboot: sessions and unapplied configuration are lost; the meter counter is kept
    /// (it lives in flash).
    pub fn reset(&mut self) {
        self.session = None;
        self.scanned = false;
        if !matches!(self.station, Station::Connected(_)) {
            self.station = Station::Idle;
        }
    }

    fn dispatch(
        &mut self,
        session: u64,
        endpoint: &str,
        data: &[u8],
    ) -> Result<Vec<u8>, DeviceError> {
        match endpoint {
            "proto-ver" => Ok(self.version_json().into_bytes()),
            "prov-session" => self.session_message(session, data),
            "prov-scan"
            | "prov-config"
            | "prov-ctrl"
            | profile::ENDPOINT_IDENTITY
            | profile::ENDPOINT_CLAIM
            | profile::ENDPOINT_HOTSPOT
            | profile::ENDPOINT_METER => {
                let cipher = match &mut self.session {
                    Some((id, SessionState::Established(cipher))) if *id == session => cipher,
                    _ => return Err(DeviceError::NoSession),
                };
                let request = cipher.decrypt(data)?;
                let answer = self.endpoint(endpoint, &request)?;
                match &mut self.session {
                    Some((_, SessionState::Established(cipher))) => Ok(cipher.encrypt(&answer)?),
                    _ => Err(DeviceError::NoSession),
                }
            }
            other => Err(DeviceError::UnknownEndpoint(other.to_owned())),
        }
    }

    fn session_message(&mut self, session: u64, data: &[u8]) -> Result<Vec<u8>, DeviceError> {
        let restart = security::is_session_start(data);
        let mut handshake = match self.session.take() {
            Some((id, SessionState::Handshake(h))) if id == session && !restart => h,
            _ => DeviceHandshake::new(
                self.config.security.clone(),
                match &self.fixed_secrets {
                    Some(s) => s.clone(),
                    None => DeviceSecrets::fresh()?,
                },
            ),
        };
        let (answer, cipher) = handshake.handle(data)?;
        self.session = Some((
            session,
            match cipher {
                Some(cipher) => SessionState::Established(cipher),
                None => SessionState::Handshake(handshake),
            },
        ));
        Ok(answer)
    }

    fn endpoint(&mut self, endpoint: &str, request: &[u8]) -> Result<Vec<u8>, DeviceError> {
        match endpoint {
            "prov-scan" => Ok(self.scan(request)?),
            "prov-config" => Ok(self.wifi_config(request)?),
            "prov-ctrl" => Ok(self.ctrl(request)?),
            profile::ENDPOINT_IDENTITY => Ok(serde_json::to_vec(&profile::IdentityInfo {
                device: self.config.identity.address().to_string(),
                kind: self.config.identity.kind() as u8,
                firmware: concat!("cairn-device-sim ", env!("CARGO_PKG_VERSION")).into(),
            })
            .map_err(|err| Error::Protocol(err.to_string()))?),
            profile::ENDPOINT_CLAIM => {
                let req: profile::ClaimRequest = serde_json::from_slice(request)
                    .map_err(|err| Error::Protocol(format!("claim request: {err}")))?;
                let resp = self
                    .config
                    .identity
                    .sign_claim(&req)
                    .map_err(Error::Profile)?;
                Ok(serde_json::to_vec(&resp).map_err(|err| Error::Protocol(err.to_string()))?)
            }
            profile::ENDPOINT_HOTSPOT => {
                if request != b"{}" && !request.is_empty() {
                    let settings: profile::HotspotSettings = serde_json::from_slice(request)
                        .map_err(|err| Error::Protocol(format!("hotspot settings: {err}")))?;
                    settings.h3().map_err(Error::Profile)?;
                    self.hotspot = settings;
                }
                Ok(serde_json::to_vec(&self.hotspot)
                    .map_err(|err| Error::Protocol(err.to_string()))?)
            }
            profile::ENDPOINT_METER => self.next_reading(),
            other => Err(DeviceError::UnknownEndpoint(other.to_owned())),
        }
    }

    fn scan(&mut self, request: &[u8]) -> Result<Vec<u8>, Error> {
        use proto::wi_fi_scan_payload::Payload;
        let cmd = proto::WiFiScanPayload::decode(request).map_err(|source| Error::Decode {
            phase: "scan command",
            source,
        })?;
        let total = self.config.networks.len() as u32;
        // Like ESP-IDF, dispatch on `msg`: an empty command message is not serialized at all.
        let command = match (proto::WiFiScanMsgType::try_from(cmd.msg), cmd.payload) {
            (Ok(proto::WiFiScanMsgType::TypeCmdScanStart), p) => {
                Some(p.unwrap_or(Payload::CmdScanStart(proto::CmdScanStart::default())))
            }
            (Ok(proto::WiFiScanMsgType::TypeCmdScanStatus), _) => {
                Some(Payload::CmdScanStatus(proto::CmdScanStatus {}))
            }
            (Ok(proto::WiFiScanMsgType::TypeCmdScanResult), p) => {
                Some(p.unwrap_or(Payload::CmdScanResult(proto::CmdScanResult::default())))
            }
            _ => None,
        };
        let (msg, status, payload) = match command {
            Some(Payload::CmdScanStart(_)) => {
                self.scanned = true;
                (
                    proto::WiFiScanMsgType::TypeRespScanStart,
                    Status::Success,
                    Payload::RespScanStart(proto::RespScanStart {}),
                )
            }
            Some(Payload::CmdScanStatus(_)) => (
                proto::WiFiScanMsgType::TypeRespScanStatus,
                Status::Success,
                Payload::RespScanStatus(proto::RespScanStatus {
                    scan_finished: self.scanned,
                    result_count: if self.scanned { total } else { 0 },
                }),
            ),
            Some(Payload::CmdScanResult(r)) => {
                let end = r.start_index.checked_add(r.count);
                match end {
                    Some(end) if self.scanned && end <= total => (
                        proto::WiFiScanMsgType::TypeRespScanResult,
                        Status::Success,
                        Payload::RespScanResult(proto::RespScanResult {
                            entries: self.config.networks[r.start_index as usize..end as usize]
                                .iter()
                                .map(|n| proto::WiFiScanResult {
                                    ssid: n.ssid.as_bytes().to_vec(),
                                    channel: n.channel,
                                    rssi: n.rssi,
                                    bssid: n.bssid.to_vec(),
                                    auth: if n.passphrase.is_empty() {
                                        WifiAuthMode::Open as i32
                                    } else {
                                        WifiAuthMode::Wpa2Psk as i32
                                    },
                                })
                                .collect(),
                        }),
                    ),
                    _ => (
                        proto::WiFiScanMsgType::TypeRespScanResult,
                        Status::InvalidArgument,
                        Payload::RespScanResult(proto::RespScanResult { entries: vec![] }),
                    ),
                }
            }
            _ => {
                return Err(Error::Protocol("unexpected scan message".into()));
            }
        };
        Ok(proto::WiFiScanPayload {
            msg: msg as i32,
            status: status as i32,
            payload: Some(payload),
        }
        .encode_to_vec())
    }

    fn wifi_config(&mut self, request: &[u8]) -> Result<Vec<u8>, Error> {
        use proto::wi_fi_config_payload::Payload;
        let cmd = proto::WiFiConfigPayload::decode(request).map_err(|source| Error::Decode {
            phase: "config command",
            source,
        })?;
        let command = match (proto::WiFiConfigMsgType::try_from(cmd.msg), cmd.payload) {
            (Ok(proto::WiFiConfigMsgType::TypeCmdSetConfig), p) => {
                Some(p.unwrap_or(Payload::CmdSetConfig(proto::CmdSetConfig::default())))
            }
            (Ok(proto::WiFiConfigMsgType::TypeCmdApplyConfig), _) => {
                Some(Payload::CmdApplyConfig(proto::CmdApplyConfig {}))
            }
            (Ok(proto::WiFiConfigMsgType::TypeCmdGetStatus), _) => {
                Some(Payload::CmdGetStatus(proto::CmdGetStatus {}))
            }
            _ => None,
        };
        let (msg, payload) = match command {
            Some(Payload::CmdSetConfig(set)) => {
                let status =
                    if set.ssid.is_empty() || set.ssid.len() > 32 || set.passphrase.len() > 64 {
                        Status::InvalidArgument
                    } else {
                        self.station = Station::Configured {
                            ssid: set.ssid,
                            passphrase: set.passphrase,
                        };
                        Status::Success
                    };
                (
                    proto::WiFiConfigMsgType::TypeRespSetConfig,
                    Payload::RespSetConfig(proto::RespSetConfig {
                        status: status as i32,
                    }),
                )
            }
            Some(Payload::CmdApplyConfig(_)) => {
                let status = match std::mem::replace(&mut self.station, Station::Idle) {
                    Station::Configured { ssid, passphrase } => {
                        self.station = Station::Applying {
                            ssid,
                            passphrase,
                            polls: 0,
                        };
                        Status::Success
                    }
                    other => {
                        self.station = other;
                        Status::InvalidArgument
                    }
                };
                (
                    proto::WiFiConfigMsgType::TypeRespApplyConfig,
                    Payload::RespApplyConfig(proto::RespApplyConfig {
                        status: status as i32,
                    }),
                )
            }
            Some(Payload::CmdGetStatus(_)) => {
                if let Station::Applying {
                    ssid,
                    passphrase,
                    polls,
                } = &mut self.station
                {
                    if *polls == 0 {
                        *polls = 1;
                    } else {
                        let found = self
                            .config
                            .networks
                            .iter()
                            .find(|n| n.ssid.as_bytes() == ssid.as_slice());
                        self.station = match found {
                            None => Station::Failed(WifiConnectFailedReason::NetworkNotFound),
                            Some(n) if n.passphrase.as_bytes() != passphrase.as_slice() => {
                                Station::Failed(WifiConnectFailedReason::AuthError)
                            }
                            Some(n) => Station::Connected(n.clone()),
                        };
                    }
                }
                let (state, detail) = match &self.station {
                    Station::Idle | Station::Configured { .. } => {
                        (WifiStationState::Disconnected, None)
                    }
                    Station::Applying { .. } => (WifiStationState::Connecting, None),
                    Station::Connected(n) => (
                        WifiStationState::Connected,
                        Some(proto::resp_get_status::State::Connected(
                            proto::WifiConnectedState {
                                ip4_addr: "192.168.1.42".into(),
                                auth_mode: WifiAuthMode::Wpa2Psk as i32,
                                ssid: n.ssid.as_bytes().to_vec(),
                                bssid: n.bssid.to_vec(),
                                channel: n.channel as i32,
                            },
                        )),
                    ),
                    Station::Failed(reason) => (
                        WifiStationState::ConnectionFailed,
                        Some(proto::resp_get_status::State::FailReason(*reason as i32)),
                    ),
                };
                (
                    proto::WiFiConfigMsgType::TypeRespGetStatus,
                    Payload::RespGetStatus(proto::RespGetStatus {
                        status: Status::Success as i32,
                        sta_state: state as i32,
                        state: detail,
                    }),
                )
            }
            _ => return Err(Error::Protocol("unexpected config message".into())),
        };
        Ok(proto::WiFiConfigPayload {
            msg: msg as i32,
            payload: Some(payload),
        }
        .encode_to_vec())
    }

    fn ctrl(&mut self, request: &[u8]) -> Result<Vec<u8>, Error> {
        use proto::WiFiCtrlMsgType;
        use proto::wi_fi_ctrl_payload::Payload;
        let cmd = proto::WiFiCtrlPayload::decode(request).map_err(|source| Error::Decode {
            phase: "ctrl command",
            source,
        })?;
        let command = match WiFiCtrlMsgType::try_from(cmd.msg) {
            Ok(WiFiCtrlMsgType::TypeCmdCtrlReset) => {
                Some(Payload::CmdCtrlReset(proto::CmdCtrlReset {}))
            }
            Ok(WiFiCtrlMsgType::TypeCmdCtrlReprov) => {
                Some(Payload::CmdCtrlReprov(proto::CmdCtrlReprov {}))
            }
            _ => None,
        };
        let (msg, payload) = match command {
            Some(Payload::CmdCtrlReset(_)) => {
                self.station = Station::Idle;
                (
                    proto::WiFiCtrlMsgType::TypeRespCtrlReset,
                    Payload::RespCtrlReset(proto::RespCtrlReset {}),
                )
            }
            Some(Payload::CmdCtrlReprov(_)) => {
                self.station = Station::Idle;
                (
                    proto::WiFiCtrlMsgType::TypeRespCtrlReprov,
                    Payload::RespCtrlReprov(proto::RespCtrlReprov {}),
                )
            }
            _ => return Err(Error::Protocol("unexpected ctrl message".into())),
        };
        Ok(proto::WiFiCtrlPayload {
            msg: msg as i32,
            status: Status::Success as i32,
            payload: Some(payload),
        }
        .encode_to_vec())
    }
}
