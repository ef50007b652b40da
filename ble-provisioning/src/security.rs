//! protocomm security schemes 0, 1 and 2: both sides of the `prov-session` handshake and the
//! session cipher that protects every later message.
//!
//! - Security 0: no handshake content, no encryption (the client refuses it unless opted in).
//! - Security 1: X25519, shared key XORed with SHA-256(PoP) when a PoP is set, one AES-256-CTR
//!   stream (IV = the device's 16 random bytes) used by both directions in turn, proofs are each
//!   side's public key encrypted by the other.
//! - Security 2: SRP6a (see [`crate::srp`]) with the PoP as the password, AES-256-GCM keyed with
//!   the first 32 bytes of `K`, 12-byte nonce from the device. `sec_patch_ver` 0 reuses that nonce
//!   for every message (the client refuses it unless opted in); 1 increments its last four bytes
//!   (big-endian) after every message, in either direction.

use aes::cipher::{KeyIvInit, StreamCipher};
use aes_gcm::aead::{Aead, KeyInit};
use prost::Message;
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};

use crate::proto::{self, SecSchemeVersion, Status, session_data::Proto};
use crate::{Error, srp};

type Aes256Ctr = ctr::Ctr128BE<aes::Aes256>;

/// The default SRP username of ESP's Wi-Fi provisioning manager.
pub const DEFAULT_USERNAME: &str = "wifiprov";

/// Fills an array from the operating system's generator.
pub(crate) fn random<const N: usize>() -> Result<[u8; N], Error> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|err| Error::Random(err.to_string()))?;
    Ok(out)
}

/// A security level of ESP's protocomm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Level {
    /// No security.
    Sec0,
    /// X25519 + AES-CTR + PoP.
    Sec1,
    /// SRP6a + AES-GCM.
    Sec2,
}

impl Level {
    /// The level named by its number (`0`, `1`, `2`).
    pub fn from_number(n: u64) -> Result<Self, Error> {
        match n {
            0 => Ok(Self::Sec0),
            1 => Ok(Self::Sec1),
            2 => Ok(Self::Sec2),
            other => Err(Error::Invalid(format!(
                "security level {other} does not exist: use 0, 1 or 2"
            ))),
        }
    }

    /// Its number.
    pub fn number(self) -> u8 {
        match self {
            Self::Sec0 => 0,
            Self::Sec1 => 1,
            Self::Sec2 => 2,
        }
    }
}

/// Encrypts and decrypts the messages of an established session.
pub enum Cipher {
    /// Security 0: identity.
    Plain,
    /// Security 1: one AES-256-CTR keystream shared by both directions.
    Ctr(Box<Aes256Ctr>),
    /// Security 2: AES-256-GCM.
    Gcm {
        /// The keyed cipher.
        cipher: Box<aes_gcm::Aes256Gcm>,
        /// The current nonce.
        nonce: [u8; 12],
        /// Patch level 1: increment the nonce after every message.
        increment: bool,
    },
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Plain => "Cipher::Plain",
            Self::Ctr(_) => "Cipher::Ctr",
            Self::Gcm { .. } => "Cipher::Gcm",
        })
    }
}

impl Cipher {
    fn step_nonce(nonce: &mut [u8; 12], increment: bool) -> Result<(), Error> {
        if increment {
            let mut counter = [0u8; 4];
            counter.copy_from_slice(&nonce[8..]);
            let next = u32::from_be_bytes(counter)
                .checked_add(1)
                .ok_or(Error::Crypto(
                    "the session nonce counter overflowed; start a new session",
                ))?;
            nonce[8..].copy_from_slice(&next.to_be_bytes());
        }
        Ok(())
    }

    /// Encrypts one message.
    pub fn encrypt(&mut self, data: &[u8]) -> Result<Vec<u8>, Error> {
        match self {
            Self::Plain => Ok(data.to_vec()),
            Self::Ctr(ctr) => {
                let mut out = data.to_vec();
                ctr.apply_keystream(&mut out);
                Ok(out)
            }
            Self::Gcm {
                cipher,
                nonce,
                increment,
            } => {
                let out = cipher
                    .encrypt(aes_gcm::Nonce::from_slice(nonce.as_slice()), data)
                    .map_err(|_| Error::Crypto("AES-GCM encryption failed"))?;
                Self::step_nonce(nonce, *increment)?;
                Ok(out)
            }
        }
    }

    /// Decrypts one message.
    pub fn decrypt(&mut self, data: &[u8]) -> Result<Vec<u8>, Error> {
        match self {
            Self::Plain => Ok(data.to_vec()),
            Self::Ctr(ctr) => {
                let mut out = data.to_vec();
                ctr.apply_keystream(&mut out);
                Ok(out)
            }
            Self::Gcm {
                cipher,
                nonce,
                increment,
            } => {
                let out = cipher
                    .decrypt(aes_gcm::Nonce::from_slice(nonce.as_slice()), data)
                    .map_err(|_| {
                        Error::Crypto(
                            "AES-GCM authentication failed: the message was altered, truncated or sent out of order",
                        )
                    })?;
                Self::step_nonce(nonce, *increment)?;
                Ok(out)
            }
        }
    }
}

fn session(scheme: SecSchemeVersion, proto: Proto) -> Vec<u8> {
    proto::SessionData {
        sec_ver: scheme as i32,
        proto: Some(proto),
    }
    .encode_to_vec()
}

fn decode_session(phase: &'static str, bytes: &[u8]) -> Result<proto::SessionData, Error> {
    proto::SessionData::decode(bytes).map_err(|source| Error::Decode { phase, source })
}

fn check_status(phase: &'static str, status: i32) -> Result<(), Error> {
    if status == Status::Success as i32 {
        Ok(())
    } else {
        Err(Error::DeviceStatus {
            phase,
            status: Status::try_from(status)
                .map(|s| format!("{s:?}"))
                .unwrap_or_else(|_| format!("unknown status {status}")),
        })
    }
}

fn sec1_key(shared: &[u8; 32], pop: &[u8]) -> [u8; 32] {
    let mut key = *shared;
    if !pop.is_empty() {
        let digest = Sha256::digest(pop);
        for (k, d) in key.iter_mut().zip(digest.iter()) {
            *k ^= d;
        }
    }
    key
}

fn ctr(key: &[u8; 32], iv: &[u8]) -> Result<Aes256Ctr, Error> {
    Aes256Ctr::new_from_slices(key, iv)
        .map_err(|_| Error::Crypto("security 1 needs a 16-byte device random"))
}

fn gcm(key: &[u8]) -> Result<aes_gcm::Aes256Gcm, Error> {
    aes_gcm::Aes256Gcm::new_from_slice(key).map_err(|_| Error::Crypto("bad AES-GCM key length"))
}

/// What the client sends next, or the established session.
#[derive(Debug)]
pub enum Step {
    /// Send these bytes to `prov-session` and feed the answer back.
    Send(Vec<u8>),
    /// The session is established.
    Done(Cipher),
}

/// The client's credentials and options for a handshake.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// Proof of possession (security 1) or SRP password (security 2).
    pub pop: String,
    /// SRP username (security 2); [`DEFAULT_USERNAME`] when empty.
    pub username: String,
}

enum ClientState {
    Sec0Start,
    Sec0Sent,
    Sec1Start {
        secret: StaticSecret,
    },
    Sec1Sent0 {
        secret: StaticSecret,
    },
    Sec1Sent1 {
        cipher: Box<Aes256Ctr>,
        client_public: [u8; 32],
    },
    Sec2Start {
        client: Box<srp::Client>,
    },
    Sec2Sent0 {
        client: Box<srp::Client>,
    },
    Sec2Sent1 {
        keys: Box<srp::ClientKeys>,
    },
    Finished,
}

/// The client side of the `prov-session` handshake.
pub struct ClientHandshake {
    state: ClientState,
    credentials: Credentials,
    patch: u32,
}

impl std::fmt::Debug for ClientHandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientHandshake")
            .field("patch", &self.patch)
            .finish_non_exhaustive()
    }
}

impl ClientHandshake {
    /// A handshake at `level`, with fresh random secrets. `patch` is the device's
    /// `sec_patch_ver` (security 2 only).
    pub fn new(level: Level, credentials: Credentials, patch: u32) -> Result<Self, Error> {
        Self::with_secret(level, credentials, patch, random::<32>()?)
    }

    /// As [`ClientHandshake::new`] with a chosen secret (X25519 scalar, or SRP `a` whose top bit
    /// is forced as ESP does), for golden vectors.
    pub fn with_secret(
        level: Level,
        credentials: Credentials,
        patch: u32,
        mut secret: [u8; 32],
    ) -> Result<Self, Error> {
        let state = match level {
            Level::Sec0 => ClientState::Sec0Start,
            Level::Sec1 => ClientState::Sec1Start {
                secret: StaticSecret::from(secret),
            },
            Level::Sec2 => {
                secret[0] |= 0x80;
                ClientState::Sec2Start {
                    client: Box::new(srp::Client::new(&secret)),
                }
            }
        };
        Ok(Self {
            state,
            credentials,
            patch,
        })
    }

    fn username(&self) -> &[u8] {
        if self.credentials.username.is_empty() {
            DEFAULT_USERNAME.as_bytes()
        } else {
            self.credentials.username.as_bytes()
        }
    }

    /// Advances the handshake: `response` is `None` on the first call, then the device's answer
    /// to the previous [`Step::Send`].
    pub fn step(&mut self, response: Option<&[u8]>) -> Result<Step, Error> {
        let state = std::mem::replace(&mut self.state, ClientState::Finished);
        match (state, response) {
            (ClientState::Sec0Start, None) => {
                self.state = ClientState::Sec0Sent;
                Ok(Step::Send(session(
                    SecSchemeVersion::SecScheme0,
                    Proto::Sec0(proto::Sec0Payload {
                        msg: proto::Sec0MsgType::S0SessionCommand as i32,
                        payload: Some(proto::sec0_payload::Payload::Sc(proto::S0SessionCmd {})),
                    }),
                )))
            }
            (ClientState::Sec0Sent, Some(resp)) => {
                let data = decode_session("security 0 response", resp)?;
                if data.sec_ver != SecSchemeVersion::SecScheme0 as i32 {
                    return Err(Error::SchemeMismatch {
                        expected: 0,
                        got: data.sec_ver,
                    });
                }
                if let Some(Proto::Sec0(proto::Sec0Payload {
                    payload: Some(proto::sec0_payload::Payload::Sr(sr)),
                    ..
                })) = data.proto
                {
                    check_status("security 0 response", sr.status)?;
                }
                Ok(Step::Done(Cipher::Plain))
            }
            (ClientState::Sec1Start { secret }, None) => {
                let public = PublicKey::from(&secret);
                self.state = ClientState::Sec1Sent0 { secret };
                Ok(Step::Send(session(
                    SecSchemeVersion::SecScheme1,
                    Proto::Sec1(proto::Sec1Payload {
                        msg: proto::Sec1MsgType::SessionCommand0 as i32,
                        payload: Some(proto::sec1_payload::Payload::Sc0(proto::SessionCmd0 {
                            client_pubkey: public.as_bytes().to_vec(),
                        })),
                    }),
                )))
            }
            (ClientState::Sec1Sent0 { secret }, Some(resp)) => {
                let phase = "security 1 response 0";
                let data = decode_session(phase, resp)?;
                let sr0 = match data.proto {
                    Some(Proto::Sec1(proto::Sec1Payload {
                        payload: Some(proto::sec1_payload::Payload::Sr0(sr0)),
                        ..
                    })) if data.sec_ver == SecSchemeVersion::SecScheme1 as i32 => sr0,
                    _ => {
                        return Err(Error::SchemeMismatch {
                            expected: 1,
                            got: data.sec_ver,
                        });
                    }
                };
                check_status(phase, sr0.status)?;
                let device_public: [u8; 32] =
                    sr0.device_pubkey.as_slice().try_into().map_err(|_| {
                        Error::Protocol(format!(
                            "{phase}: the device public key has {} bytes, expected 32",
                            sr0.device_pubkey.len()
                        ))
                    })?;
                let shared = secret.diffie_hellman(&PublicKey::from(device_public));
                let key = sec1_key(shared.as_bytes(), self.credentials.pop.as_bytes());
                let mut cipher = Box::new(ctr(&key, &sr0.device_random)?);
                let mut verify = device_public.to_vec();
                cipher.apply_keystream(&mut verify);
                self.state = ClientState::Sec1Sent1 {
                    cipher,
                    client_public: *PublicKey::from(&secret).as_bytes(),
                };
                Ok(Step::Send(session(
                    SecSchemeVersion::SecScheme1,
                    Proto::Sec1(proto::Sec1Payload {
                        msg: proto::Sec1MsgType::SessionCommand1 as i32,
                        payload: Some(proto::sec1_payload::Payload::Sc1(proto::SessionCmd1 {
                            client_verify_data: verify,
                        })),
                    }),
                )))
            }
            (
                ClientState::Sec1Sent1 {
                    mut cipher,
                    client_public,
                },
                Some(resp),
            ) => {
                let phase = "security 1 response 1";
                let data = decode_session(phase, resp)?;
                let sr1 = match data.proto {
                    Some(Proto::Sec1(proto::Sec1Payload {
                        payload: Some(proto::sec1_payload::Payload::Sr1(sr1)),
                        ..
                    })) => sr1,
                    _ => return Err(Error::Protocol(format!("{phase}: not a SessionResp1"))),
                };
                check_status(phase, sr1.status)?;
                let mut check = sr1.device_verify_data;
                cipher.apply_keystream(&mut check);
                if check.as_slice() != client_public.as_slice() {
                    return Err(Error::WrongPop);
                }
                Ok(Step::Done(Cipher::Ctr(cipher)))
            }
            (ClientState::Sec2Start { client }, None) => {
                let request = session(
                    SecSchemeVersion::SecScheme2,
                    Proto::Sec2(proto::Sec2Payload {
                        msg: proto::Sec2MsgType::S2SessionCommand0 as i32,
                        payload: Some(proto::sec2_payload::Payload::Sc0(proto::S2SessionCmd0 {
                            client_username: self.username().to_vec(),
                            client_pubkey: client.public(),
                        })),
                    }),
                );
                self.state = ClientState::Sec2Sent0 { client };
                Ok(Step::Send(request))
            }
            (ClientState::Sec2Sent0 { client }, Some(resp)) => {
                let phase = "security 2 response 0";
                let data = decode_session(phase, resp)?;
                let sr0 = match data.proto {
                    Some(Proto::Sec2(proto::Sec2Payload {
                        payload: Some(proto::sec2_payload::Payload::Sr0(sr0)),
                        ..
                    })) if data.sec_ver == SecSchemeVersion::SecScheme2 as i32 => sr0,
                    _ => {
                        return Err(Error::SchemeMismatch {
                            expected: 2,
                            got: data.sec_ver,
                        });
                    }
                };
                check_status(phase, sr0.status)?;
                let keys = client.process_challenge(
                    self.username(),
                    self.credentials.pop.as_bytes(),
                    &sr0.device_salt,
                    &sr0.device_pubkey,
                )?;
                let request = session(
                    SecSchemeVersion::SecScheme2,
                    Proto::Sec2(proto::Sec2Payload {
                        msg: proto::Sec2MsgType::S2SessionCommand1 as i32,
                        payload: Some(proto::sec2_payload::Payload::Sc1(proto::S2SessionCmd1 {
                            client_proof: keys.proof.to_vec(),
                        })),
                    }),
                );
                self.state = ClientState::Sec2Sent1 {
                    keys: Box::new(keys),
                };
                Ok(Step::Send(request))
            }
            (ClientState::Sec2Sent1 { keys }, Some(resp)) => {
                let phase = "security 2 response 1";
                let data = decode_session(phase, resp)?;
                let sr1 = match data.proto {
                    Some(Proto::Sec2(proto::Sec2Payload {
                        payload: Some(proto::sec2_payload::Payload::Sr1(sr1)),
                        ..
                    })) => sr1,
                    _ => return Err(Error::Protocol(format!("{phase}: not a S2SessionResp1"))),
                };
                check_status(phase, sr1.status)?;
                if sr1.device_proof.as_slice() != keys.expected_device_proof.as_slice() {
                    return Err(Error::WrongPop);
                }
                let nonce: [u8; 12] = sr1.device_nonce.as_slice().try_into().map_err(|_| {
                    Error::Protocol(format!(
                        "{phase}: the device nonce has {} bytes, expected 12",
                        sr1.device_nonce.len()
                    ))
                })?;
                Ok(Step::Done(Cipher::Gcm {
                    cipher: Box::new(gcm(&keys.key[..32])?),
                    nonce,
                    increment: self.patch >= 1,
                }))
            }
            (_, _) => Err(Error::Protocol(
                "the security handshake was driven out of order".into(),
            )),
        }
    }
}

/// Whether `request` opens a handshake (security 0 command, or command 0 of security 1/2):
/// a device restarts the session on it, whatever state the previous one was in.
pub fn is_session_start(request: &[u8]) -> bool {
    match proto::SessionData::decode(request).map(|d| d.proto) {
        Ok(Some(Proto::Sec0(_))) => true,
        Ok(Some(Proto::Sec1(p))) => matches!(p.payload, Some(proto::sec1_payload::Payload::Sc0(_))),
        Ok(Some(Proto::Sec2(p))) => matches!(p.payload, Some(proto::sec2_payload::Payload::Sc0(_))),
        _ => false,
    }
}

/// A device's security configuration.
#[derive(Debug, Clone)]
pub enum DeviceSecurity {
    /// Security 0.
    Sec0,
    /// Security 1 with this PoP (empty: none).
    Sec1 {
        /// Proof of possession.
        pop: String,
    },
    /// Security 2 with this SRP record.
    Sec2 {
        /// SRP username.
        username: String,
        /// SRP salt.
        salt: Vec<u8>,
        /// SRP verifier `g^x`.
        verifier: Vec<u8>,
        /// `sec_patch_ver` the device implements.
        patch: u32,
    },
}

impl DeviceSecurity {
    /// Security 2 for `username`/`password`, with a fresh 16-byte salt.
    pub fn sec2(username: &str, password: &str, patch: u32) -> Result<Self, Error> {
        let salt = random::<16>()?.to_vec();
        let verifier = srp::verifier(&salt, username.as_bytes(), password.as_bytes());
        Ok(Self::Sec2 {
            username: username.to_owned(),
            salt,
            verifier,
            patch,
        })
    }

    /// The level.
    pub fn level(&self) -> Level {
        match self {
            Self::Sec0 => Level::Sec0,
            Self::Sec1 { .. } => Level::Sec1,
            Self::Sec2 { .. } => Level::Sec2,
        }
    }

    /// `sec_patch_ver` advertised in `proto-ver`.
    pub fn patch(&self) -> u32 {
        match self {
            Self::Sec2 { patch, .. } => *patch,
            _ => 0,
        }
    }
}

/// Randomness a device handshake uses (fixed in golden-vector tests).
#[derive(Debug, Clone)]
pub struct DeviceSecrets {
    /// X25519 scalar (security 1) or SRP `b` (security 2; top bit forced).
    pub secret: [u8; 32],
    /// Security 1: the CTR IV.
    pub random: [u8; 16],
    /// Security 2: the GCM nonce.
    pub nonce: [u8; 12],
}

impl DeviceSecrets {
    /// Fresh secrets from the operating system.
    pub fn fresh() -> Result<Self, Error> {
        Ok(Self {
            secret: random()?,
            random: random()?,
            nonce: random()?,
        })
    }
}

enum DeviceState {
    Start,
    Sec1Sent0 {
        cipher: Box<Aes256Ctr>,
        device_public: [u8; 32],
        client_public: [u8; 32],
    },
    Sec2Sent0 {
        device: Box<srp::Device>,
        username: Vec<u8>,
        a_pub: Vec<u8>,
    },
    Established,
}

/// The device side of the `prov-session` handshake.
pub struct DeviceHandshake {
    security: DeviceSecurity,
    secrets: DeviceSecrets,
    state: DeviceState,
}

impl std::fmt::Debug for DeviceHandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceHandshake")
            .field("level", &self.security.level())
            .finish_non_exhaustive()
    }
}

impl DeviceHandshake {
    /// A new handshake for a connecting client.
    pub fn new(security: DeviceSecurity, secrets: DeviceSecrets) -> Self {
        Self {
            security,
            secrets,
            state: DeviceState::Start,
        }
    }

    /// Handles one `prov-session` request: the answer, and the cipher once established.
    /// An error means the device closes the session (ESP answers HTTP 500 / drops the link).
    pub fn handle(&mut self, request: &[u8]) -> Result<(Vec<u8>, Option<Cipher>), Error> {
        let data = decode_session("session request", request)?;
        let state = std::mem::replace(&mut self.state, DeviceState::Established);
        match (&self.security, state, data.proto) {
            (DeviceSecurity::Sec0, DeviceState::Start, Some(Proto::Sec0(_))) => Ok((
                session(
                    SecSchemeVersion::SecScheme0,
                    Proto::Sec0(proto::Sec0Payload {
                        msg: proto::Sec0MsgType::S0SessionResponse as i32,
                        payload: Some(proto::sec0_payload::Payload::Sr(proto::S0SessionResp {
                            status: Status::Success as i32,
                        })),
                    }),
                ),
                Some(Cipher::Plain),
            )),
            (
                DeviceSecurity::Sec1 { pop },
                DeviceState::Start,
                Some(Proto::Sec1(proto::Sec1Payload {
                    payload: Some(proto::sec1_payload::Payload::Sc0(sc0)),
                    ..
                })),
            ) => {
                let client_public: [u8; 32] =
                    sc0.client_pubkey.as_slice().try_into().map_err(|_| {
                        Error::Protocol("the client public key is not 32 bytes".into())
                    })?;
                let secret = StaticSecret::from(self.secrets.secret);
                let device_public = *PublicKey::from(&secret).as_bytes();
                let shared = secret.diffie_hellman(&PublicKey::from(client_public));
                let key = sec1_key(shared.as_bytes(), pop.as_bytes());
                let cipher = Box::new(ctr(&key, &self.secrets.random)?);
                self.state = DeviceState::Sec1Sent0 {
                    cipher,
                    device_public,
                    client_public,
                };
                Ok((
                    session(
                        SecSchemeVersion::SecScheme1,
                        Proto::Sec1(proto::Sec1Payload {
                            msg: proto::Sec1MsgType::SessionResponse0 as i32,
                            payload: Some(proto::sec1_payload::Payload::Sr0(proto::SessionResp0 {
                                status: Status::Success as i32,
                                device_pubkey: device_public.to_vec(),
                                device_random: self.secrets.random.to_vec(),
                            })),
                        }),
                    ),
                    None,
                ))
            }
            (
                DeviceSecurity::Sec1 { .. },
                DeviceState::Sec1Sent0 {
                    mut cipher,
                    device_public,
                    client_public,
                },
                Some(Proto::Sec1(proto::Sec1Payload {
                    payload: Some(proto::sec1_payload::Payload::Sc1(sc1)),
                    ..
                })),
            ) => {
                let mut check = sc1.client_verify_data;
                cipher.apply_keystream(&mut check);
                if check.as_slice() != device_public.as_slice() {
                    return Err(Error::WrongPop);
                }
                let mut verify = client_public.to_vec();
                cipher.apply_keystream(&mut verify);
                Ok((
                    session(
                        SecSchemeVersion::SecScheme1,
                        Proto::Sec1(proto::Sec1Payload {
                            msg: proto::Sec1MsgType::SessionResponse1 as i32,
                            payload: Some(proto::sec1_payload::Payload::Sr1(proto::SessionResp1 {
                                status: Status::Success as i32,
                                device_verify_data: verify,
                            })),
                        }),
                    ),
                    Some(Cipher::Ctr(cipher)),
                ))
            }
            (
                DeviceSecurity::Sec2 {
                    username,
                    salt,
                    verifier,
                    ..
                },
                DeviceState::Start,
                Some(Proto::Sec2(proto::Sec2Payload {
                    payload: Some(proto::sec2_payload::Payload::Sc0(sc0)),
                    ..
                })),
            ) => {
                if sc0.client_username != username.as_bytes() {
                    return Err(Error::Srp("unknown SRP username"));
                }
                let mut b = self.secrets.secret;
                b[0] |= 0x80;
                let device = Box::new(srp::Device::new(verifier, &b));
                let answer = session(
                    SecSchemeVersion::SecScheme2,
                    Proto::Sec2(proto::Sec2Payload {
                        msg: proto::Sec2MsgType::S2SessionResponse0 as i32,
                        payload: Some(proto::sec2_payload::Payload::Sr0(proto::S2SessionResp0 {
                            status: Status::Success as i32,
                            device_pubkey: device.public(),
                            device_salt: salt.clone(),
                        })),
                    }),
                );
                self.state = DeviceState::Sec2Sent0 {
                    device,
                    username: sc0.client_username,
                    a_pub: sc0.client_pubkey,
                };
                Ok((answer, None))
            }
            (
                DeviceSecurity::Sec2 { salt, patch, .. },
                DeviceState::Sec2Sent0 {
                    device,
                    username,
                    a_pub,
                },
                Some(Proto::Sec2(proto::Sec2Payload {
                    payload: Some(proto::sec2_payload::Payload::Sc1(sc1)),
                    ..
                })),
            ) => {
                let (proof, key) = device.verify(&username, salt, &a_pub, &sc1.client_proof)?;
                let cipher = Cipher::Gcm {
                    cipher: Box::new(gcm(&key[..32])?),
                    nonce: self.secrets.nonce,
                    increment: *patch >= 1,
                };
                Ok((
                    session(
                        SecSchemeVersion::SecScheme2,
                        Proto::Sec2(proto::Sec2Payload {
                            msg: proto::Sec2MsgType::S2SessionResponse1 as i32,
                            payload: Some(proto::sec2_payload::Payload::Sr1(
                                proto::S2SessionResp1 {
                                    status: Status::Success as i32,
                                    device_proof: proof.to_vec(),
                                    device_nonce: self.secrets.nonce.to_vec(),
                                },
                            )),
                        }),
                    ),
                    Some(cipher),
                ))
            }
            (security, _, _) => Err(Error::Protocol(format!(
                "unexpected session message for a security {} device",
                security.level().number()
            ))),
        }
    }
}
