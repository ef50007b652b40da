//! Set-up and checks of the light client (issue 4).
//!
//! The light client verifies BLS signatures with `blst`, whose C and assembly are compiled by
//! clang for every target: natively by the system compiler, for wasm32 by clang (installed by
//! set-up), and for the Android *check* by clang (see [`android_c_env`]). `llvm-ar` archives the
//! objects for both.

use std::process::Command;

/// Debian packages the light client and the Android check need on top of set-up's list (`llvm`
/// provides `llvm-ar`; `libc6-dev-arm64-cross` the aarch64 C headers of [`android_c_env`]).
pub(crate) const APT_PACKAGES: &[&str] = &["llvm", "libc6-dev-arm64-cross"];

/// Debian's aarch64 C headers (`libc6-dev-arm64-cross`), which stand in for the NDK's Bionic
/// headers in the Android check.
const AARCH64_C_HEADERS: &str = "/usr/aarch64-linux-gnu/include";

/// The light client's I/O crate also runs in the browser (reqwest's fetch backend): linted for
/// wasm32 with `tasks::WASM_CRATES`.
pub(crate) const WASM_CRATES: &[&str] = &["light-client-rpc"];

/// Points cc-rs at clang for `aarch64-linux-android`, so the C dependencies' build scripts (blst;
/// for `node`, ring and aws-lc) run for the Android check without an NDK, which cannot be
/// installed from a package registry. The C headers are Debian's aarch64 glibc ones instead of
/// the NDK's Bionic (`_GNU_SOURCE`, because Bionic declares the POSIX types aws-lc uses without
/// feature macros). `cargo check` links nothing, so this checks Cairn's Rust code for Android
/// (every `cfg(target_os = "android")` path), not the C code against Bionic: only a build with
/// the NDK (an APK) would, and none can run here.
pub(crate) fn android_c_env(command: &mut Command) -> &mut Command {
    command
        .env("CC_aarch64_linux_android", "clang")
        .env(
            "CFLAGS_aarch64_linux_android",
            format!("-nostdlibinc -isystem {AARCH64_C_HEADERS} -D_GNU_SOURCE"),
        )
        .env("AR_aarch64_linux_android", "llvm-ar")
}

/// Runs the light client's integration tests (real mainnet chains, spec sync tests, corruption
/// sweeps, the eth_call re-execution) compiled for wasm32 in headless Chromium, so the browser
/// build verifies exactly what the native one does; then the IndexedDB checkpoint store's tests.
/// `webdriver.json` in each crate holds the Chromium flags.
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
    )?;
    // The browser's checkpoint store against Chromium's real IndexedDB.
    crate::util::run(
        "cargo test wasm32 (light-client-rpc IndexedDB checkpoint)",
        crate::util::cargo()
            .args([
                "test",
                "--package",
                "light-client-rpc",
                "--target",
                "wasm32-unknown-unknown",
                "--test",
                "indexeddb",
                "--locked",
            ])
            .env("PATH", crate::util::tool_path())
            .env("WASM_BINDGEN_TEST_TIMEOUT", "120"),
    )
}

/// `cargo xtask light-client-bench`: builds the browser build of the light client (the
/// `browser` example: decoding, sync with BLS, proofs and revm) for wasm32 with the
/// `wasm-release` profile, shrinks it with `wasm-opt -Oz` when installed, measures it gzipped,
/// runs the browser timings (`light-client/tests/wasm_bench.rs`, release, headless Chromium),
/// then `cargo bench -p light-client --bench light_client`, which prints every native figure
/// against the goals.
pub(crate) fn bench() -> crate::util::Result {
    use crate::util;
    util::step("light client: browser build (wasm32, wasm-release)");
    util::run(
        "cargo build light-client browser example",
        util::cargo()
            .args([
                "build",
                "--package",
                "light-client",
                "--example",
                "browser",
                "--target",
                "wasm32-unknown-unknown",
                "--profile",
                "wasm-release",
                "--locked",
            ])
            .env("PATH", util::tool_path()),
    )?;
    let built =
        util::target_dir().join("wasm32-unknown-unknown/wasm-release/examples/browser.wasm");
    let wasm = built.with_file_name("browser-opt.wasm");
    if util::on_path("wasm-opt") {
        util::run(
            "wasm-opt -Oz",
            Command::new("wasm-opt")
                .args(["-Oz", "--strip-debug", "--enable-bulk-memory"])
                .args([
                    "--enable-nontrapping-float-to-int",
                    "--enable-sign-ext",
                    "--enable-mutable-globals",
                    "--enable-reference-types",
                    "--enable-multivalue",
                ])
                .arg(&built)
                .arg("-o")
                .arg(&wasm),
        )?;
    } else {
        std::fs::copy(&built, &wasm).map_err(|err| format!("{}: {err}", built.display()))?;
    }
    let gzipped = Command::new("gzip")
        .args(["-9", "-c"])
        .arg(&wasm)
        .output()
        .map_err(|err| format!("gzip: {err}"))?
        .stdout
        .len();
    let raw = std::fs::metadata(&wasm)
        .map_err(|err| format!("{}: {err}", wasm.display()))?
        .len();
    println!(
        "light client wasm: {raw} bytes raw, {gzipped} bytes gzipped [{}]",
        wasm.display()
    );
    util::step("light client: timings in headless Chromium (release wasm)");
    util::run(
        "cargo test light-client wasm_bench",
        util::cargo()
            .args([
                "test",
                "--package",
                "light-client",
                "--release",
                "--target",
                "wasm32-unknown-unknown",
                "--test",
                "wasm_bench",
                "--locked",
                // The figures are the test's console output: show it although it passes.
                "--",
                "--nocapture",
            ])
            .env("PATH", util::tool_path())
            .env("WASM_BINDGEN_TEST_TIMEOUT", "600"),
    )?;
    util::step("light client: benchmark (native)");
    util::run(
        "cargo bench light-client",
        util::cargo()
            .args([
                "bench",
                "--package",
                "light-client",
                "--bench",
                "light_client",
                "--locked",
            ])
            .env("CAIRN_LC_WASM_GZIP", gzipped.to_string()),
    )
}
