//! In-process loopback tests of the node: discovery, transfers with fail-over, corruption,
//! malformed frames and throttling.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any unexpected error"
)]
#![allow(unreachable_pub, reason = "helpers shared between test modules")]

mod common;
mod market;
mod network;
mod transfer;
