//! Set-up and checks of the light client (issue 4).
//!
//! The light client verifies BLS signatures with `blst`, whose C and assembly are compiled by
//! clang for every target: natively by the system compiler, for wasm32 by clang (installed by
//! set-up), and for the Android *check* by clang in freestanding mode (the check needs no NDK:
//! blst uses no libc headers when freestanding). `llvm-ar` archives the objects for both.

use std::process::Command;

/// Debian packages the light client needs on top of set-up's list (`llvm` provides `llvm-ar`).
pub(crate) const APT_PACKAGES: &[&str] = &["llvm"];

/// The light client's I/O crate also runs in the browser (reqwest's fetch backend): linted for
/// wasm32 with `tasks::WASM_CRATES`.
pub(crate) const WASM_CRATES: &[&str] = &["light-client-rpc"];

/// Points cc-rs at clang for `aarch64-linux-android`, so C dependencies (blst) build for the
/// Android check without an NDK.
pub(crate) fn android_c_env(command: &mut Command) -> &mut Command {
    command
        .env("CC_aarch64_linux_android", "clang")
        .env("CFLAGS_aarch64_linux_android", "-ffreestanding")
        .env("AR_aarch64_linux_android", "llvm-ar")
}

/// Runs the light client's integration tests (real mainnet chains, spec sync tests, corruption
/// sweeps, the eth_call re-execution) compiled for wasm32 in headless Chromium, so the browser
/// build verifies exactly what the native one does. `light-client/webdriver.json` holds the
/// Chromium flags.
pub(crate) fn wasm_tests() -> crate::util::Result {
    crate::util::run(
        "cargo test wasm32 (light-client)",
        crate::util::cargo()
            .args([
                "test",
                "--package",
                "light-client",
                "--target",
                "wasm32-unknown-unknown",
                "--test",
                "tests",
                "--locked",
            ])
            .env("PATH", crate::util::tool_path())
            .env("WASM_BINDGEN_TEST_TIMEOUT", "300"),
    )
}
