//! Fuzzes the storage protocol's decoders (`node::wire::Message::decode` and
//! `node::Manifest::decode`): any input must decode or be refused, never panic, and a decoded
//! message must survive an encode/decode round trip (after its 4-byte length prefix).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = node::wire::Message::decode(data) {
        let mut out = Vec::new();
        message.encode(&mut out);
        assert_eq!(node::wire::Message::decode(&out[4..]).ok(), Some(message));
    }
    let _ = node::Manifest::decode(data);
});
