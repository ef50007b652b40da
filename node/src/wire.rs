//! The storage protocol's frames: pure encoding and decoding, no I/O.
//!
//! A frame is a 4-byte big-endian body length, then the body: one kind byte and its payload.
//! A body may not exceed [`MAX_FRAME`]; a reader checks the length before allocating, so an
//! oversized or malformed frame costs the peer its stream, never our memory.
//!
//! Put (buyer → provider): `PutRequest` → `PutReady` (chunks the provider already holds, for
//! resume) → `Chunk`… → `PutEnd` → `PutDone` (data fsynced and the object visible).
//! Get: `GetRequest` → `Manifest` → `Chunk`… → `End`.
//! Sample (a buyer that has the manifest checks chunks picked at random): `SampleRequest` →
//! `Chunk`… → `End`.
//! Pull (buyer → provider, for a copy the provider fetches from other holders itself):
//! `PullRequest` → `PutReady` → `Pulled`… (progress, at least every [`PULL_PROGRESS_EVERY`]) →
//! `PutDone`.
//! Either side may answer `Error` and close.

use std::time::Duration;

use libp2p::{Multiaddr, PeerId};

use crate::content::{CHUNK_SIZE, ContentError, ContentId, MAX_CHUNKS, Manifest};

/// Most holders one `PullRequest` may name.
pub const MAX_PULL_HOLDERS: usize = 8;
/// Most addresses given for one holder (as many as the Registry keeps).
pub const MAX_PULL_ADDRS: usize = 8;
/// Longest address given for a holder, in bytes (the Registry's limit).
pub const MAX_PULL_ADDR_LEN: usize = 256;
/// Longest peer id, in bytes (an inlined ed25519 key takes 38).
const MAX_PEER_ID_LEN: usize = 64;
/// Largest holder list a `PullRequest` carries, encoded.
const MAX_HOLDERS_LEN: usize =
    1 + MAX_PULL_HOLDERS * (1 + MAX_PEER_ID_LEN + 1 + MAX_PULL_ADDRS * (2 + MAX_PULL_ADDR_LEN));
/// Longest a pulling provider stays silent towards its buyer: it reports its progress at least
/// this often, well within the buyer's idle timeout.
pub const PULL_PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Largest frame body: a manifest of [`MAX_CHUNKS`] hashes plus headers (and a pull's holders).
pub const MAX_FRAME: usize = 8 + 32 * MAX_CHUNKS as usize + 64 + MAX_HOLDERS_LEN;
/// Largest error message carried.
pub const MAX_ERROR_LEN: usize = 1024;
/// Most chunks one `SampleRequest` may ask for.
pub const MAX_SAMPLE_CHUNKS: usize = 64;

/// Why a frame could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// Length prefix above [`MAX_FRAME`].
    #[error("frame of {0} bytes exceeds the {MAX_FRAME}-byte limit")]
    Oversized(u64),
    /// Empty body.
    #[error("empty frame")]
    Empty,
    /// Unknown kind byte.
    #[error("unknown frame kind {0}")]
    Kind(u8),
    /// Payload too short or too long for its kind.
    #[error("malformed {kind} frame: {what}")]
    Malformed {
        /// The frame kind.
        kind: &'static str,
        /// What was wrong.
        what: &'static str,
    },
    /// A manifest inside a frame is invalid.
    #[error("invalid manifest in frame: {0}")]
    Manifest(#[from] ContentError),
}

/// Why a provider refused or failed a request (carried in `Error` frames).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[repr(u8)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The store has no room for the object.
    QuotaExceeded = 1,
    /// The object is not held here.
    NotFound = 2,
    /// The object was found corrupt on disk and is not served.
    Corrupt = 3,
    /// The peer broke the protocol.
    Protocol = 4,
    /// No funded deal names this provider for that content.
    NoDeal = 5,
    /// Anything else on the provider's side.
    Internal = 6,
    /// The peer is sending too fast or too much garbage.
    RateLimited = 7,
    /// None of the holders named in a pull served the object.
    Unavailable = 8,
}

impl ErrorCode {
    fn from_u8(b: u8) -> Self {
        match b {
            1 => Self::QuotaExceeded,
            2 => Self::NotFound,
            3 => Self::Corrupt,
            4 => Self::Protocol,
            5 => Self::NoDeal,
            7 => Self::RateLimited,
            8 => Self::Unavailable,
            _ => Self::Internal,
        }
    }
}

/// One protocol message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message {
    /// Buyer asks a provider to store an object; `deal` names the on-chain deal, if any.
    PutRequest {
        /// The object's manifest.
        manifest: Manifest,
        /// The on-chain deal id paying for it (0 = none).
        deal: u64,
    },
    /// Provider accepts; `have` is a bitmap of chunks it already holds (bit i of byte i/8).
    PutReady {
        /// Chunks already held.
        have: Vec<u8>,
    },
    /// One chunk.
    Chunk {
        /// Chunk index.
        index: u64,
        /// Its bytes.
        data: Vec<u8>,
    },
    /// Buyer asks a provider to store an object it fetches itself from `holders` (other
    /// providers holding it), verifying every chunk against `manifest`, under `deal`; answered
    /// with `PutReady`, then `Pulled` progress, then `PutDone` once it holds the whole object
    /// durably. The buyer sends no chunk.
    PullRequest {
        /// The object's manifest.
        manifest: Manifest,
        /// The on-chain deal id paying for it (0 = none).
        deal: u64,
        /// Where to fetch it from: 1 to [`MAX_PULL_HOLDERS`], in the order to try them (each
        /// made with [`Holder::new`], which keeps what a frame can carry).
        holders: Vec<Holder>,
    },
    /// A pulling provider's progress: bytes of the object it holds, verified.
    Pulled {
        /// Bytes held so far.
        done: u64,
    },
    /// Buyer has sent every missing chunk.
    PutEnd,
    /// Provider has the whole object durably.
    PutDone,
    /// Ask for chunks `first..last` of an object (`last == u64::MAX` means to the end).
    GetRequest {
        /// The object.
        id: ContentId,
        /// First chunk.
        first: u64,
        /// One past the last chunk.
        last: u64,
    },
    /// Ask for some chunks of an object by index, strictly ascending, 1 to
    /// [`MAX_SAMPLE_CHUNKS`] of them; answered with the chunks and `End`, without the manifest
    /// (the buyer has it).
    SampleRequest {
        /// The object.
        id: ContentId,
        /// The chunks' indexes.
        chunks: Vec<u64>,
    },
    /// The manifest of the object asked for.
    Manifest(Manifest),
    /// All chunks asked for were sent.
    End,
    /// Buyer asks a provider for a signed quote to store the piece committed to by `root`.
    QuoteRequest {
        /// The buyer's chain address.
        buyer: [u8; 20],
        /// The piece's proof commitment (keccak Merkle root, `chain::proof`).
        root: [u8; 32],
        /// The piece's size in bytes.
        size: u64,
    },
    /// The provider's signed terms (the rest of the on-chain `Quote` is the request's).
    Quote(QuoteTerms),
    /// A refusal or failure.
    Error {
        /// Why.
        code: ErrorCode,
        /// Human-readable detail.
        message: String,
    },
}

/// A provider holding an object, as named in a `PullRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Its peer id.
    pub peer: PeerId,
    /// Addresses to dial it at (0 to [`MAX_PULL_ADDRS`]; with none, the puller finds it
    /// itself).
    pub addrs: Vec<Multiaddr>,
}

impl Holder {
    /// `peer` at the first [`MAX_PULL_ADDRS`] of `addrs` no longer than [`MAX_PULL_ADDR_LEN`]
    /// bytes.
    pub fn new(peer: PeerId, addrs: impl IntoIterator<Item = Multiaddr>) -> Self {
        let addrs = addrs
            .into_iter()
            .filter(|addr| !addr.is_empty() && addr.len() <= MAX_PULL_ADDR_LEN)
            .take(MAX_PULL_ADDRS)
            .collect();
        Self { peer, addrs }
    }
}

/// A provider's signed terms for one piece, as carried in a `Quote` frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteTerms {
    /// The provider's chain address (the quote's signer).
    pub provider: [u8; 20],
    /// Seconds per proof period.
    pub period_duration: u32,
    /// Number of periods.
    pub num_periods: u32,
    /// Price per period, in token base units.
    pub price_per_period: u128,
    /// Unix time after which the quote cannot open a deal.
    pub expiry: u64,
    /// The quote's salt.
    pub salt: [u8; 32],
    /// The provider's EIP-712 signature over the whole quote (r ‖ s ‖ v).
    pub signature: [u8; 65],
}

const QUOTE_TERMS_LEN: usize = 20 + 4 + 4 + 16 + 8 + 32 + 65;

const PUT_REQUEST: u8 = 1;
const PUT_READY: u8 = 2;
const CHUNK: u8 = 3;
/// Bytes of a chunk frame's body before its data: the kind and the chunk index.
pub const CHUNK_HEADER: usize = 9;
const PUT_END: u8 = 4;
const PUT_DONE: u8 = 5;
const GET_REQUEST: u8 = 6;
const MANIFEST: u8 = 7;
const END: u8 = 8;
const ERROR: u8 = 9;
const QUOTE_REQUEST: u8 = 10;
const QUOTE: u8 = 11;
const SAMPLE_REQUEST: u8 = 12;
const PULL_REQUEST: u8 = 13;
const PULLED: u8 = 14;

/// The longest prefix of `message` of at most [`MAX_ERROR_LEN`] bytes that ends on a character
/// boundary: what an error frame carries.
fn clip_error(message: &str) -> &str {
    let mut end = message.len().min(MAX_ERROR_LEN);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

fn u64_at(kind: &'static str, b: &[u8], at: usize) -> Result<u64, WireError> {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or(WireError::Malformed {
            kind,
            what: "too short",
        })
}

impl Message {
    /// Appends the whole frame (length prefix and body) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        match self {
            Self::PutRequest { manifest, deal } => {
                out.push(PUT_REQUEST);
                out.extend_from_slice(&deal.to_be_bytes());
                manifest.encode(out);
            }
            Self::PutReady { have } => {
                out.push(PUT_READY);
                out.extend_from_slice(have);
            }
            Self::Chunk { index, data } => {
                out.push(CHUNK);
                out.extend_from_slice(&index.to_be_bytes());
                out.extend_from_slice(data);
            }
            Self::PullRequest {
                manifest,
                deal,
                holders,
            } => {
                out.push(PULL_REQUEST);
                out.extend_from_slice(&deal.to_be_bytes());
                out.push(holders.len() as u8);
                for holder in holders {
                    let peer = holder.peer.to_bytes();
                    out.push(peer.len() as u8);
                    out.extend_from_slice(&peer);
                    out.push(holder.addrs.len() as u8);
                    for addr in &holder.addrs {
                        out.extend_from_slice(&(addr.len() as u16).to_be_bytes());
                        out.extend_from_slice(addr.as_ref());
                    }
                }
                manifest.encode(out);
            }
            Self::Pulled { done } => {
                out.push(PULLED);
                out.extend_from_slice(&done.to_be_bytes());
            }
            Self::PutEnd => out.push(PUT_END),
            Self::PutDone => out.push(PUT_DONE),
            Self::GetRequest { id, first, last } => {
                out.push(GET_REQUEST);
                out.extend_from_slice(&id.0);
                out.extend_from_slice(&first.to_be_bytes());
                out.extend_from_slice(&last.to_be_bytes());
            }
            Self::SampleRequest { id, chunks } => {
                out.push(SAMPLE_REQUEST);
                out.extend_from_slice(&id.0);
                for index in chunks {
                    out.extend_from_slice(&index.to_be_bytes());
                }
            }
            Self::Manifest(manifest) => {
                out.push(MANIFEST);
                manifest.encode(out);
            }
            Self::End => out.push(END),
            Self::QuoteRequest { buyer, root, size } => {
                out.push(QUOTE_REQUEST);
                out.extend_from_slice(buyer);
                out.extend_from_slice(root);
                out.extend_from_slice(&size.to_be_bytes());
            }
            Self::Quote(t) => {
                out.push(QUOTE);
                out.extend_from_slice(&t.provider);
                out.extend_from_slice(&t.period_duration.to_be_bytes());
                out.extend_from_slice(&t.num_periods.to_be_bytes());
                out.extend_from_slice(&t.price_per_period.to_be_bytes());
                out.extend_from_slice(&t.expiry.to_be_bytes());
                out.extend_from_slice(&t.salt);
                out.extend_from_slice(&t.signature);
            }
            Self::Error { code, message } => {
                out.push(ERROR);
                out.push(*code as u8);
                out.extend_from_slice(clip_error(message).as_bytes());
            }
        }
        let len = (out.len() - start - 4) as u32;
        out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    }

    /// The chunk index of a frame whose body is `len` bytes and starts with `header` (its first
    /// `min(len, CHUNK_HEADER)` bytes), if it is a chunk frame [`Message::decode`] would accept;
    /// `None` for anything else. A reader uses it to read a chunk's data straight into a buffer
    /// of its own instead of copying it out of the frame; anything else it decodes whole, so
    /// every refusal still comes from `decode`.
    pub fn chunk_header(header: &[u8], len: usize) -> Option<u64> {
        let [kind, index @ ..] = header else {
            return None;
        };
        let data = len.checked_sub(CHUNK_HEADER)?;
        if *kind != CHUNK || header.len() != CHUNK_HEADER || data == 0 || data > CHUNK_SIZE {
            return None;
        }
        Some(u64::from_be_bytes(index.try_into().ok()?))
    }

    /// Checks a frame's length prefix before the body is read.
    pub fn check_len(len: u32) -> Result<usize, WireError> {
        let len = len as usize;
        if len == 0 {
            Err(WireError::Empty)
        } else if len > MAX_FRAME {
            Err(WireError::Oversized(len as u64))
        } else {
            Ok(len)
        }
    }

    /// Decodes one frame body (without its length prefix).
    pub fn decode(body: &[u8]) -> Result<Self, WireError> {
        let (&kind, p) = body.split_first().ok_or(WireError::Empty)?;
        if body.len() > MAX_FRAME {
            return Err(WireError::Oversized(body.len() as u64));
        }
        let exact = |k: &'static str, n: usize| {
            if p.len() == n {
                Ok(())
            } else {
                Err(WireError::Malformed {
                    kind: k,
                    what: "wrong length",
                })
            }
        };
        Ok(match kind {
            PUT_REQUEST => {
                let deal = u64_at("put-request", p, 0)?;
                Self::PutRequest {
                    manifest: Manifest::decode(&p[8..])?,
                    deal,
                }
            }
            PUT_READY => {
                if p.len() as u64 > MAX_CHUNKS.div_ceil(8) {
                    return Err(WireError::Malformed {
                        kind: "put-ready",
                        what: "bitmap longer than the largest object",
                    });
                }
                Self::PutReady { have: p.to_vec() }
            }
            CHUNK => {
                let index = u64_at("chunk", p, 0)?;
                let data = &p[8..];
                if data.is_empty() || data.len() > CHUNK_SIZE {
                    return Err(WireError::Malformed {
                        kind: "chunk",
                        what: "data must be 1 to CHUNK_SIZE bytes",
                    });
                }
                Self::Chunk {
                    index,
                    data: data.to_vec(),
                }
            }
            PULL_REQUEST => {
                let deal = u64_at("pull-request", p, 0)?;
                let (holders, rest) = decode_holders(&p[8..])?;
                Self::PullRequest {
                    manifest: Manifest::decode(rest)?,
                    deal,
                    holders,
                }
            }
            PULLED => {
                exact("pulled", 8)?;
                Self::Pulled {
                    done: u64_at("pulled", p, 0)?,
                }
            }
            PUT_END => {
                exact("put-end", 0)?;
                Self::PutEnd
            }
            PUT_DONE => {
                exact("put-done", 0)?;
                Self::PutDone
            }
            GET_REQUEST => {
                exact("get-request", 48)?;
                let mut id = [0u8; 32];
                id.copy_from_slice(&p[..32]);
                Self::GetRequest {
                    id: ContentId(id),
                    first: u64_at("get-request", p, 32)?,
                    last: u64_at("get-request", p, 40)?,
                }
            }
            SAMPLE_REQUEST => {
                let malformed = |what| WireError::Malformed {
                    kind: "sample-request",
                    what,
                };
                let (id, list) = p.split_at_checked(32).ok_or(malformed("too short"))?;
                if list.is_empty() || list.len() % 8 != 0 {
                    return Err(malformed("chunk indexes must be 1 or more 8-byte numbers"));
                }
                if list.len() / 8 > MAX_SAMPLE_CHUNKS {
                    return Err(malformed("more chunks than a sample may ask for"));
                }
                let chunks: Vec<u64> = list
                    .chunks_exact(8)
                    .map(|b| u64::from_be_bytes(b.try_into().unwrap_or_default()))
                    .collect();
                if chunks.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(malformed("chunk indexes must be strictly ascending"));
                }
                let mut bytes = [0u8; 32];
                bytes.copy_from_slice(id);
                Self::SampleRequest {
                    id: ContentId(bytes),
                    chunks,
                }
            }
            MANIFEST => Self::Manifest(Manifest::decode(p)?),
            END => {
                exact("end", 0)?;
                Self::End
            }
            ERROR => {
                let (&code, text) = p.split_first().ok_or(WireError::Malformed {
                    kind: "error",
                    what: "missing code",
                })?;
                if text.len() > MAX_ERROR_LEN {
                    return Err(WireError::Malformed {
                        kind: "error",
                        what: "message too long",
                    });
                }
                // Invalid UTF-8 becomes U+FFFD (3 bytes each), which can take the text past
                // the limit: clipped as an encoder clips, so it re-encodes to itself.
                let message = String::from_utf8_lossy(text);
                Self::Error {
                    code: ErrorCode::from_u8(code),
                    message: clip_error(&message).to_owned(),
                }
            }
            QUOTE_REQUEST => {
                exact("quote-request", 60)?;
                let mut buyer = [0u8; 20];
                buyer.copy_from_slice(&p[..20]);
                let mut root = [0u8; 32];
                root.copy_from_slice(&p[20..52]);
                Self::QuoteRequest {
                    buyer,
                    root,
                    size: u64_at("quote-request", p, 52)?,
                }
            }
            QUOTE => {
                exact("quote", QUOTE_TERMS_LEN)?;
                let mut provider = [0u8; 20];
                provider.copy_from_slice(&p[..20]);
                let p = &p[20..];
                let mut u32s = [0u8; 4];
                u32s.copy_from_slice(&p[..4]);
                let period_duration = u32::from_be_bytes(u32s);
                u32s.copy_from_slice(&p[4..8]);
                let num_periods = u32::from_be_bytes(u32s);
                let mut price = [0u8; 16];
                price.copy_from_slice(&p[8..24]);
                let mut salt = [0u8; 32];
                salt.copy_from_slice(&p[32..64]);
                let mut signature = [0u8; 65];
                signature.copy_from_slice(&p[64..]);
                Self::Quote(QuoteTerms {
                    provider,
                    period_duration,
                    num_periods,
                    price_per_period: u128::from_be_bytes(price),
                    expiry: u64_at("quote", p, 24)?,
                    salt,
                    signature,
                })
            }
            other => return Err(WireError::Kind(other)),
        })
    }
}

/// A `PullRequest`'s holder list, and the bytes after it. Peer ids and addresses must be in
/// their canonical encoding (what they encode back to), so a decoded request re-encodes to
/// itself.
fn decode_holders(p: &[u8]) -> Result<(Vec<Holder>, &[u8]), WireError> {
    let malformed = |what| WireError::Malformed {
        kind: "pull-request",
        what,
    };
    let mut at = 0;
    let mut take = |n: usize| {
        let bytes = p.get(at..at + n).ok_or(malformed("too short"))?;
        at += n;
        Ok::<_, WireError>(bytes)
    };
    let count = usize::from(take(1)?[0]);
    if count == 0 || count > MAX_PULL_HOLDERS {
        return Err(malformed("it must name 1 to MAX_PULL_HOLDERS holders"));
    }
    let mut holders = Vec::with_capacity(count);
    for _ in 0..count {
        let len = usize::from(take(1)?[0]);
        if len > MAX_PEER_ID_LEN {
            return Err(malformed("peer id too long"));
        }
        let bytes = take(len)?;
        let peer = PeerId::from_bytes(bytes)
            .ok()
            .filter(|peer| peer.to_bytes() == bytes)
            .ok_or(malformed("invalid peer id"))?;
        let addrs_count = usize::from(take(1)?[0]);
        if addrs_count > MAX_PULL_ADDRS {
            return Err(malformed("more addresses than MAX_PULL_ADDRS"));
        }
        let mut addrs = Vec::with_capacity(addrs_count);
        for _ in 0..addrs_count {
            let len = take(2)?;
            let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
            if len == 0 || len > MAX_PULL_ADDR_LEN {
                return Err(malformed(
                    "address of 0 or more than MAX_PULL_ADDR_LEN bytes",
                ));
            }
            let bytes = take(len)?;
            let addr = Multiaddr::try_from(bytes.to_vec())
                .ok()
                .filter(|addr| addr.as_ref() == bytes)
                .ok_or(malformed("invalid address"))?;
            addrs.push(addr);
        }
        holders.push(Holder { peer, addrs });
    }
    Ok((holders, &p[at..]))
}

/// Bit `i` of a chunk bitmap.
pub fn bit(bitmap: &[u8], i: u64) -> bool {
    bitmap
        .get((i / 8) as usize)
        .is_some_and(|b| b & (1 << (i % 8)) != 0)
}

/// Sets bit `i` of a chunk bitmap (growing it as needed).
pub fn set_bit(bitmap: &mut Vec<u8>, i: u64) {
    let byte = (i / 8) as usize;
    if bitmap.len() <= byte {
        bitmap.resize(byte + 1, 0);
    }
    bitmap[byte] |= 1 << (i % 8);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(m: Message) {
        let mut out = Vec::new();
        m.encode(&mut out);
        let len = u32::from_be_bytes(out[..4].try_into().unwrap());
        assert_eq!(Message::check_len(len).unwrap(), out.len() - 4);
        assert_eq!(Message::decode(&out[4..]).unwrap(), m);
    }

    #[test]
    fn chunk_header_accepts_exactly_the_chunks_decode_accepts() {
        let mut bodies: Vec<Vec<u8>> = vec![vec![], vec![CHUNK], vec![CHUNK, 0, 0, 0]];
        for data_len in [0, 1, 1000, CHUNK_SIZE, CHUNK_SIZE + 1] {
            for kind in [CHUNK, PUT_REQUEST, 200] {
                let mut body = vec![kind];
                body.extend_from_slice(&0x0102_0304_0506_0708u64.to_be_bytes());
                body.resize(CHUNK_HEADER + data_len, 0xAB);
                bodies.push(body);
            }
        }
        for body in bodies {
            let header = &body[..body.len().min(CHUNK_HEADER)];
            let fast = Message::chunk_header(header, body.len());
            let whole = match Message::decode(&body) {
                Ok(Message::Chunk { index, data }) => {
                    assert_eq!(data, body[CHUNK_HEADER..]);
                    Some(index)
                }
                _ => None,
            };
            assert_eq!(fast, whole, "{} bytes, kind {:?}", body.len(), body.first());
        }
        assert_eq!(
            Message::chunk_header(&[CHUNK, 0, 0, 0, 0, 0, 0, 0, 9], CHUNK_HEADER + 1),
            Some(9)
        );
    }

    #[test]
    fn an_error_text_of_invalid_utf8_decodes_within_the_limit_and_reencodes_to_itself() {
        // Found by the fuzz target: 0xFF bytes decode to U+FFFD (3 bytes each), three times as
        // long as the limit the encoder clips to.
        let mut body = vec![ERROR, ErrorCode::Internal as u8];
        body.extend(std::iter::repeat_n(0xFF, MAX_ERROR_LEN));
        let decoded = Message::decode(&body).unwrap();
        let Message::Error { message, .. } = &decoded else {
            panic!("{decoded:?}");
        };
        assert!(message.len() <= MAX_ERROR_LEN && message.len() > MAX_ERROR_LEN - 3);
        assert!(message.chars().all(|c| c == char::REPLACEMENT_CHARACTER));
        let mut out = Vec::new();
        decoded.encode(&mut out);
        assert_eq!(Message::decode(&out[4..]).unwrap(), decoded);
    }

    #[test]
    fn every_message_roundtrips() {
        let manifest = Manifest::of(&[7u8; 300_000]).unwrap();
        let id = manifest.id();
        roundtrip(Message::PutRequest {
            manifest: manifest.clone(),
            deal: 42,
        });
        roundtrip(Message::PutReady { have: vec![0b101] });
        roundtrip(Message::Chunk {
            index: 3,
            data: vec![1, 2, 3],
        });
        roundtrip(Message::PutEnd);
        roundtrip(Message::PutDone);
        roundtrip(Message::GetRequest {
            id,
            first: 1,
            last: u64::MAX,
        });
        roundtrip(Message::SampleRequest {
            id,
            chunks: vec![0, 7, u64::MAX],
        });
        roundtrip(Message::SampleRequest {
            id,
            chunks: (0..MAX_SAMPLE_CHUNKS as u64).collect(),
        });
        let peer = PeerId::random();
        let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/4001/p2p/{peer}")
            .parse()
            .unwrap();
        roundtrip(Message::PullRequest {
            manifest: manifest.clone(),
            deal: 7,
            holders: vec![
                Holder::new(
                    peer,
                    [addr.clone(), "/ip6/::1/udp/9/quic-v1".parse().unwrap()],
                ),
                Holder::new(PeerId::random(), []),
            ],
        });
        let most: Vec<Holder> = (0..MAX_PULL_HOLDERS)
            .map(|_| Holder::new(PeerId::random(), vec![addr.clone(); MAX_PULL_ADDRS + 3]))
            .collect();
        assert!(most.iter().all(|h| h.addrs.len() == MAX_PULL_ADDRS));
        roundtrip(Message::PullRequest {
            manifest: manifest.clone(),
            deal: 0,
            holders: most,
        });
        roundtrip(Message::Pulled { done: 1 << 40 });
        roundtrip(Message::Manifest(manifest));
        roundtrip(Message::End);
        roundtrip(Message::QuoteRequest {
            buyer: [1; 20],
            root: [2; 32],
            size: 99,
        });
        roundtrip(Message::Quote(QuoteTerms {
            provider: [9; 20],
            period_duration: 60,
            num_periods: 4,
            price_per_period: 10u128.pow(19),
            expiry: 1_700_000_000,
            salt: [3; 32],
            signature: [4; 65],
        }));
        roundtrip(Message::Error {
            code: ErrorCode::QuotaExceeded,
            message: "full".into(),
        });
    }

    #[test]
    fn malformed_frames_are_errors_not_panics() {
        assert_eq!(Message::check_len(0), Err(WireError::Empty));
        assert!(matches!(
            Message::check_len(u32::MAX),
            Err(WireError::Oversized(_))
        ));
        assert_eq!(Message::decode(&[200]), Err(WireError::Kind(200)));
        assert!(Message::decode(&[CHUNK, 0, 0]).is_err());
        assert!(Message::decode(&[CHUNK, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(Message::decode(&[GET_REQUEST; 10]).is_err());
        assert!(Message::decode(&[PUT_REQUEST, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(Message::decode(&[END, 1]).is_err());
        let sample = |chunks: &[u64]| {
            let mut body = vec![SAMPLE_REQUEST];
            body.extend_from_slice(&[5; 32]);
            for c in chunks {
                body.extend_from_slice(&c.to_be_bytes());
            }
            Message::decode(&body)
        };
        let malformed = |what| {
            Err(WireError::Malformed {
                kind: "sample-request",
                what,
            })
        };
        assert_eq!(
            sample(&[]),
            malformed("chunk indexes must be 1 or more 8-byte numbers")
        );
        assert_eq!(
            sample(&[3, 3]),
            malformed("chunk indexes must be strictly ascending")
        );
        assert_eq!(
            sample(&[4, 3]),
            malformed("chunk indexes must be strictly ascending")
        );
        let too_many: Vec<u64> = (0..=MAX_SAMPLE_CHUNKS as u64).collect();
        assert_eq!(
            sample(&too_many),
            malformed("more chunks than a sample may ask for")
        );
        assert_eq!(
            Message::decode(&[SAMPLE_REQUEST; 20]),
            malformed("too short")
        );
        assert_eq!(
            Message::decode(&[SAMPLE_REQUEST; 45]),
            malformed("chunk indexes must be 1 or more 8-byte numbers")
        );
        let mut big = vec![CHUNK];
        big.extend_from_slice(&[0; 8]);
        big.extend(std::iter::repeat_n(0, CHUNK_SIZE + 1));
        assert!(Message::decode(&big).is_err());
    }

    #[test]
    fn a_malformed_pull_request_says_what_is_wrong() {
        let manifest = Manifest::of(&[1u8; 1000]).unwrap();
        let peer = PeerId::random().to_bytes();
        let addr: Multiaddr = "/ip4/10.0.0.1/tcp/4001".parse().unwrap();
        // The body after the deal: holders, then the manifest.
        let body = |holders: &[u8]| {
            let mut body = vec![PULL_REQUEST];
            body.extend_from_slice(&3u64.to_be_bytes());
            body.extend_from_slice(holders);
            manifest.encode(&mut body);
            Message::decode(&body)
        };
        let holder = |peer: &[u8], addrs: &[&[u8]]| {
            let mut out = vec![peer.len() as u8];
            out.extend_from_slice(peer);
            out.push(addrs.len() as u8);
            for addr in addrs {
                out.extend_from_slice(&(addr.len() as u16).to_be_bytes());
                out.extend_from_slice(addr);
            }
            out
        };
        let malformed = |what| {
            Err(WireError::Malformed {
                kind: "pull-request",
                what,
            })
        };
        let one = |h: Vec<u8>| [vec![1], h].concat();
        // The well-formed one first, so each refusal below is for its own flaw.
        let good = body(&one(holder(&peer, &[addr.as_ref()]))).unwrap();
        assert!(
            matches!(good, Message::PullRequest { deal: 3, ref holders, .. }
            if holders.len() == 1 && holders[0].addrs == [addr.clone()])
        );
        assert_eq!(
            body(&[0]),
            malformed("it must name 1 to MAX_PULL_HOLDERS holders")
        );
        let nine: Vec<u8> = std::iter::once(9)
            .chain((0..9).flat_map(|_| holder(&peer, &[])))
            .collect();
        assert_eq!(
            body(&nine),
            malformed("it must name 1 to MAX_PULL_HOLDERS holders")
        );
        assert_eq!(
            body(&one(holder(&[0xFF; 20], &[]))),
            malformed("invalid peer id")
        );
        assert_eq!(
            body(&one(holder(&[0; 65], &[]))),
            malformed("peer id too long")
        );
        assert_eq!(
            body(&one(holder(&peer, &[&[0xFF, 0xFF, 0xFF]]))),
            malformed("invalid address")
        );
        assert_eq!(
            body(&one(holder(&peer, &[&[]]))),
            malformed("address of 0 or more than MAX_PULL_ADDR_LEN bytes")
        );
        assert_eq!(
            body(&one(holder(&peer, &[addr.as_ref(); MAX_PULL_ADDRS + 1]))),
            malformed("more addresses than MAX_PULL_ADDRS")
        );
        // Cut inside the holder list: the rest is not taken for a manifest.
        let mut cut = vec![PULL_REQUEST];
        cut.extend_from_slice(&3u64.to_be_bytes());
        cut.extend_from_slice(&one(holder(&peer, &[addr.as_ref()]))[..peer.len() + 4]);
        assert_eq!(Message::decode(&cut), malformed("too short"));
        assert_eq!(
            Message::decode(&[PULLED, 0, 0]),
            Err(WireError::Malformed {
                kind: "pulled",
                what: "wrong length"
            })
        );
    }

    #[test]
    fn bitmaps() {
        let mut map = Vec::new();
        set_bit(&mut map, 9);
        assert!(bit(&map, 9));
        assert!(!bit(&map, 8));
        assert!(!bit(&map, 1000));
    }
}
