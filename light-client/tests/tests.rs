//! Integration tests of the light client over real mainnet data and the consensus-spec minimal
//! `light_client/sync` tests: every fixture set verifies, and corrupted inputs are rejected with
//! the check that failed. Fixtures are embedded (`include_bytes!`) so the same tests run natively
//! and, compiled for wasm32, in headless Chromium (`cargo xtask test`; by hand:
//! `cargo test -p light-client --target wasm32-unknown-unknown --test tests`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any unexpected error"
)]

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

#[path = "it/batch.rs"]
mod batch;
#[path = "it/block.rs"]
mod block;
#[path = "it/bls.rs"]
mod bls;
#[path = "it/consensus.rs"]
mod consensus;
#[path = "it/corruption.rs"]
mod corruption;
#[path = "it/evm.rs"]
mod evm;
#[path = "it/execution.rs"]
mod execution;
#[path = "it/fixtures.rs"]
mod fixtures;
#[path = "it/spec.rs"]
mod spec;
