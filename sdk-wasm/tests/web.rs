//! The SDK as a browser sees it: these tests run in headless Chromium (wasm-bindgen-test).
//!
//! `cargo xtask test` starts an anvil devnet and passes its URL in `CAIRN_TEST_RPC_URL` at
//! build time; the browser then reads it with `fetch`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any unexpected error"
)]
#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const RPC_URL: Option<&str> = option_env!("CAIRN_TEST_RPC_URL");
const CHAIN_ID: Option<&str> = option_env!("CAIRN_TEST_CHAIN_ID");

#[wasm_bindgen_test]
fn version_matches_the_crate() {
    assert_eq!(sdk_wasm::version(), env!("CARGO_PKG_VERSION"));
}

#[wasm_bindgen_test]
async fn chain_id_reads_the_devnet_through_fetch() {
    let url =
        RPC_URL.expect("CAIRN_TEST_RPC_URL must name a running devnet; run `cargo xtask test`");
    let expected: u64 = CHAIN_ID
        .expect("CAIRN_TEST_CHAIN_ID must be set with CAIRN_TEST_RPC_URL")
        .parse()
        .expect("CAIRN_TEST_CHAIN_ID is a number");
    let chain_id = sdk_wasm::chain_id(url.to_owned())
        .await
        .expect("chainId succeeds");
    assert_eq!(chain_id, expected);
}

#[wasm_bindgen_test]
async fn chain_id_reports_an_unreachable_endpoint() {
    // Port 9 (discard) on loopback has nothing listening in the test environment.
    let err = sdk_wasm::chain_id("http://127.0.0.1:9".to_owned())
        .await
        .unwrap_err();
    let message = wasm_bindgen::JsValue::from(err);
    let text = js_sys::Error::from(message)
        .message()
        .as_string()
        .unwrap_or_default();
    assert!(text.contains("could not reach"), "{text}");
}

#[wasm_bindgen_test]
async fn chain_id_refuses_a_bad_url() {
    let err = sdk_wasm::chain_id("localhost:8545".to_owned())
        .await
        .unwrap_err();
    let text = js_sys::Error::from(wasm_bindgen::JsValue::from(err))
        .message()
        .as_string()
        .unwrap_or_default();
    assert!(text.contains("not a valid RPC URL"), "{text}");
}
