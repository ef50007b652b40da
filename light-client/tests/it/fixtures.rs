//! The fixture files, embedded, and small readers for their containers (portal YAML, snappy).

use alloy_primitives::B256;

/// A fixture file's bytes, embedded at compile time.
macro_rules! fixture {
    ($path:expr) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/",
            $path
        )) as &[u8]
    };
}
pub(crate) use fixture;

/// A fixture file as UTF-8.
pub(crate) fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap()
}

/// `0x`-hex to bytes.
pub(crate) fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text.trim().trim_start_matches("0x")).unwrap()
}

/// A 32-byte root from `0x`-hex.
pub(crate) fn root(text: &str) -> B256 {
    B256::from_slice(&unhex(text))
}

/// `(content_key, content_value)` of a portal-spec-tests YAML file.
pub(crate) fn portal(yaml: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let value: serde_yaml::Value = serde_yaml::from_slice(yaml).unwrap();
    let field = |name: &str| unhex(value[name].as_str().unwrap());
    (field("content_key"), field("content_value"))
}

/// Decompresses an `.ssz_snappy` file (snappy block format).
pub(crate) fn unsnappy(bytes: &[u8]) -> Vec<u8> {
    snap::raw::Decoder::new().decompress_vec(bytes).unwrap()
}
