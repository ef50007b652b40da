//! Integration tests of the light client over real mainnet data and the consensus-spec minimal
//! `light_client/sync` tests: every fixture set verifies, and corrupted inputs are rejected with
//! the check that failed. Fixtures are embedded (`include_bytes!`) so the same tests can run in
//! wasm.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any unexpected error"
)]

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
