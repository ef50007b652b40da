//! Fuzzes the execution decoders: `eth_getProof` answers (verified against a fixed root) and
//! block headers (hashed against a fixed hash): nothing may panic.
#![no_main]

use alloy_primitives::B256;
use libfuzzer_sys::fuzz_target;
use light_client::execution::AccountProof;
use light_client::header::verify_header_json;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(proof) = AccountProof::from_json(text) {
        let _ = proof.verify(B256::repeat_byte(1));
    }
    if let Ok(value) = serde_json::from_str(text) {
        let _ = verify_header_json(&value, B256::repeat_byte(1));
    }
});
