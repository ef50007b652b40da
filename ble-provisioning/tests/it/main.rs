//! Integration tests of the pure protocol crate: golden vectors from Espressif's reference
//! client, in-memory provisioning at every security level, injected faults, the Cairn profile.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on unexpected errors"
)]

mod flows;
mod golden;
mod profile;
