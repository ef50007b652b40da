//! Fuzzes the storage protocol's decoders (`node::wire::Message::decode` and
//! `node::Manifest::decode`): any input must decode or be refused, never panic, and a decoded
//! message must survive an encode/decode round trip (after its 4-byte length prefix), and the
//! chunk fast path (`Message::chunk_header`) must accept exactly the chunks `decode` accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = node::wire::Message::decode(data) {
        let mut out = Vec::new();
        message.encode(&mut out);
        assert_eq!(node::wire::Message::decode(&out[4..]).ok(), Some(message));
    }
    // The chunk fast path agrees with the full decoder on every body.
    let header = &data[..data.len().min(node::wire::CHUNK_HEADER)];
    let fast = node::wire::Message::chunk_header(header, data.len());
    let whole = match node::wire::Message::decode(data) {
        Ok(node::wire::Message::Chunk { index, .. }) => Some(index),
        _ => None,
    };
    assert_eq!(fast, whole);
    let _ = node::Manifest::decode(data);
});
