//! Cairn's Ethereum light client: nothing Cairn shows as verified rests on trust in an RPC server.
//!
//! Will own (issue "Light client"): the Altair-and-later sync protocol (bootstrap, updates,
//! finality and optimistic updates, BLS aggregate verification, SSZ), execution verification
//! against the verified state root (`eth_getProof`, headers, receipts, logs, revm-backed
//! `eth_call`), and an execution-only mode anchored on a trusted block hash for the devnet.
//! The verification core is pure (no I/O); fetching sits behind a small transport trait.
//!
//! Builds for: native, `wasm32-unknown-unknown`, `aarch64-linux-android`.
//!
//! Must not depend on: `runtime`, `node`, the app, the UI or any shell crate. It depends only on
//! pure crates (`protocol`) and, at its I/O edge, an HTTP client.
//!
//! Status: the crate exists so the workspace, the wasm and Android checks and the dependency
//! rules cover it from day one; it has no API yet.
