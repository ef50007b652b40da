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

use wasm_bindgen::JsValue;
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
    let text = message(err);
    assert!(text.contains("could not reach"), "{text}");
}

#[wasm_bindgen_test]
async fn chain_id_refuses_a_bad_url() {
    let err = sdk_wasm::chain_id("localhost:8545".to_owned())
        .await
        .unwrap_err();
    let text = message(err);
    assert!(text.contains("not a valid RPC URL"), "{text}");
}

fn devnet_url() -> String {
    RPC_URL
        .expect("CAIRN_TEST_RPC_URL must name a running devnet; run `cargo xtask test`")
        .to_owned()
}

/// The devnet node's own (unverified) answer to `method`/`params`, straight through `fetch`.
async fn node(method: &str, params: serde_json::Value) -> serde_json::Value {
    light_client_rpc::Rpc::new(&devnet_url())
        .unwrap()
        .call(method, params)
        .await
        .unwrap()
}

async fn request(
    provider: &sdk_wasm::VerifiedProvider,
    method: &str,
    params: serde_json::Value,
) -> Result<serde_json::Value, js_sys::Error> {
    let args =
        js_sys::JSON::parse(&serde_json::json!({"method": method, "params": params}).to_string())
            .unwrap();
    match wasm_bindgen_futures::JsFuture::from(provider.request(args)).await {
        Ok(value) => Ok(serde_json::from_str(
            &js_sys::JSON::stringify(&value)
                .unwrap()
                .as_string()
                .unwrap(),
        )
        .unwrap()),
        Err(error) => Err(error.into()),
    }
}

/// The message of an error the SDK threw.
fn message(error: impl Into<wasm_bindgen::JsValue>) -> String {
    js_sys::Error::from(error.into())
        .message()
        .as_string()
        .expect("an error message")
}

fn code(error: &js_sys::Error) -> f64 {
    js_sys::Reflect::get(error, &"code".into())
        .unwrap()
        .as_f64()
        .unwrap()
}

/// anvil's first account: funded with 10,000 ETH on the devnet.
const FUNDED: &str = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";

#[wasm_bindgen_test]
async fn verified_provider_answers_only_what_it_proved() {
    // A mined block (anvil's genesis header does not commit to its funded accounts).
    node("evm_mine", serde_json::json!([])).await;
    let latest = node("eth_getBlockByNumber", serde_json::json!(["latest", false])).await;
    let hash = latest["hash"].as_str().unwrap().to_owned();
    let provider = sdk_wasm::VerifiedProvider::connect(devnet_url(), hash.clone(), None)
        .await
        .expect("anchoring on the devnet's latest block");
    assert_eq!(provider.block_hash(), hash);
    let number = u64::from_str_radix(&latest["number"].as_str().unwrap()[2..], 16).unwrap();
    assert_eq!(provider.block_number(), number);

    // Verified against the block's state root, equal to what the node says at that block.
    let balance = request(
        &provider,
        "eth_getBalance",
        serde_json::json!([FUNDED, "latest"]),
    )
    .await
    .unwrap();
    let expected = node(
        "eth_getBalance",
        serde_json::json!([FUNDED, {"blockHash": hash}]),
    )
    .await;
    assert_eq!(balance, expected);
    assert_ne!(balance, serde_json::json!("0x0"));
    let chain_id = request(&provider, "eth_chainId", serde_json::json!([]))
        .await
        .unwrap();
    assert_eq!(
        chain_id,
        serde_json::json!(format!("0x{:x}", CHAIN_ID.unwrap().parse::<u64>().unwrap()))
    );

    // What it cannot verify is refused with an EIP-1193 code.
    let refused = request(
        &provider,
        "eth_sendRawTransaction",
        serde_json::json!(["0x00"]),
    )
    .await
    .unwrap_err();
    assert_eq!(code(&refused), -32601.0);
    let elsewhere = request(
        &provider,
        "eth_getBalance",
        serde_json::json!([FUNDED, "0x0"]),
    )
    .await
    .unwrap_err();
    assert_eq!(code(&elsewhere), -32602.0);
    let malformed = wasm_bindgen_futures::JsFuture::from(provider.request(JsValue::from(7)))
        .await
        .unwrap_err();
    assert_eq!(code(&malformed.into()), -32600.0);
}

#[wasm_bindgen_test]
async fn verified_provider_refuses_a_bad_anchor() {
    let bad = sdk_wasm::VerifiedProvider::connect(devnet_url(), "0x1234".to_owned(), None)
        .await
        .err()
        .expect("a short hash is refused");
    let text = message(bad);
    assert!(text.contains("not a 32-byte 0x-hex block hash"), "{text}");

    // A well-formed hash the node does not know: nothing to prove against.
    let unknown =
        sdk_wasm::VerifiedProvider::connect(devnet_url(), format!("0x{}", "ab".repeat(32)), None)
            .await
            .err()
            .expect("an unknown block is refused");
    let text = message(unknown);
    assert!(text.contains("does not know block"), "{text}");
}
