//! `run`, `test`, `build-ui` and `sdk`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::util::{self, Result};
use crate::{devnet, setup};

/// The devnet `run` starts, and Cairn's embedded default RPC URL.
const DEVNET_PORT: u16 = 8545;
/// Tokens the node `run` starts stakes to register as a provider on the new devnet.
const STAKE: &str = "200";
/// Crates that run on phones: checked for Android in every test run.
const MOBILE_CRATES: &[&str] = &[
    "protocol",
    "light-client",
    "runtime",
    "ble-provisioning",
    "node",
];
/// Crates that run in the browser: linted for wasm32 in every test run.
const WASM_CRATES: &[&str] = &["protocol", "chain", "ui", "sdk-wasm", "light-client"];
/// Pure crates: no shell (`SHELLS`) and no I/O runtime (tokio, axum, tauri) among their
/// dependencies (`chain` may use tokio for its native-only devnet and contract modules).
const PURE_CRATES: &[&str] = &[
    "protocol",
    "light-client",
    "ble-provisioning",
    "chain",
    "ui",
    "sdk-wasm",
];
/// The I/O edges of the libraries: they may run tokio, but never depend on a shell.
const EDGE_CRATES: &[&str] = &["node", "light-client-rpc", "ble-transport", "device-sim"];
const SHELLS: &[&str] = &["runtime", "app", "cli"];

/// `cargo xtask build-ui`: builds the Leptos UI into `ui/dist`: the `ui` binary for wasm32,
/// `wasm-bindgen --target web` (the CLI pinned to `Cargo.lock`), and `ui/index.html` with the
/// stylesheet and the module loader filled in. File names carry a hash of their content, so a
/// browser never mixes a new page with a cached old module.
///
/// Why not trunk: it does the same steps, but installing it compiles ~400 crates, which was a
/// third of a cold CI run on the 2-core machine.
pub(crate) fn build_ui() -> Result {
    util::step("build the UI (wasm32 + wasm-bindgen)");
    let root = util::root();
    let ui = root.join("ui");
    util::run(
        "cargo build ui (wasm32)",
        util::cargo().args([
            "build",
            "--package",
            "ui",
            "--bin",
            "ui",
            "--target",
            "wasm32-unknown-unknown",
            "--locked",
        ]),
    )?;
    let wasm = util::target_dir().join("wasm32-unknown-unknown/debug/ui.wasm");
    let module_hash = content_hash(&wasm)?;
    let style_hash = content_hash(&ui.join("style.css"))?;
    let dist = ui.join("dist");
    if dist.exists() {
        std::fs::remove_dir_all(&dist)
            .map_err(|err| format!("clearing {}: {err}", dist.display()))?;
    }
    let name = format!("ui-{module_hash}");
    util::run(
        "wasm-bindgen --target web (ui)",
        Command::new(util::cargo_bin().join("wasm-bindgen"))
            .args(["--target", "web", "--no-typescript", "--out-name", &name])
            .arg("--out-dir")
            .arg(&dist)
            .arg(&wasm),
    )?;
    let style = format!("style-{style_hash}.css");
    std::fs::copy(ui.join("style.css"), dist.join(&style))
        .map_err(|err| format!("copying ui/style.css: {err}"))?;
    let template = std::fs::read_to_string(ui.join("index.html"))
        .map_err(|err| format!("reading ui/index.html: {err}"))?;
    let assets = format!(
        "<link rel=\"stylesheet\" href=\"/{style}\" />\n    \
         <link rel=\"modulepreload\" href=\"/{name}.js\" />\n    \
         <script type=\"module\">\n      \
         import init from '/{name}.js';\n      \
         await init({{ module_or_path: '/{name}_bg.wasm' }});\n    \
         </script>"
    );
    const MARKER: &str = "<!-- assets -->";
    if !template.contains(MARKER) {
        return Err(format!("ui/index.html lacks the `{MARKER}` line"));
    }
    std::fs::write(dist.join("index.html"), template.replace(MARKER, &assets))
        .map_err(|err| format!("writing ui/dist/index.html: {err}"))?;
    println!("--- ui/dist: {name}.js, {name}_bg.wasm, {style}, index.html");
    Ok(())
}

/// A short hex hash of a file's bytes, for cache-busting file names.
fn content_hash(path: &Path) -> Result<String> {
    use std::hash::{Hash, Hasher};
    let bytes = std::fs::read(path).map_err(|err| format!("reading {}: {err}", path.display()))?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut hasher);
    Ok(format!("{:016x}", hasher.finish()))
}

/// `cargo xtask contracts`: compiles the contracts with the pinned solcjs into `contracts/artifacts`.
pub(crate) fn contracts() -> Result {
    util::step("contracts (solcjs)");
    util::run(
        "node contracts/build.mjs",
        Command::new("node")
            .arg("contracts/build.mjs")
            .current_dir(util::root()),
    )
}

/// `cargo xtask run`.
pub(crate) fn run() -> Result {
    setup::setup()?;
    build_ui()?;

    util::step("devnet");
    let address = format!("127.0.0.1:{DEVNET_PORT}");
    // A new devnet gets Cairn's contracts (through `cairn devnet`), and the node sells storage
    // on it with anvil's account #1; one already running is used as it is, without a market,
    // since what it holds is unknown.
    let devnet = match devnet::chain_id(&address) {
        Some(chain_id) => {
            println!(
                "reusing the devnet already answering at http://{address} (chain id {chain_id}); \
                 its contracts are unknown, so the node will not sell storage"
            );
            None
        }
        None => {
            util::run(
                "cargo build cairn",
                util::cargo().args(["build", "--package", "cli", "--bin", "cairn"]),
            )?;
            let run_dir = util::target_dir().join("cairn-run");
            std::fs::create_dir_all(&run_dir)
                .map_err(|err| format!("creating {}: {err}", run_dir.display()))?;
            let cairn = util::target_dir().join("debug").join("cairn");
            let devnet = devnet::start_with_contracts(
                &cairn,
                DEVNET_PORT,
                1,
                run_dir.join("deployment.json"),
            )?;
            let key_file = run_dir.join("provider.key");
            std::fs::write(&key_file, devnet::PROVIDER_KEY)
                .map_err(|err| format!("writing {}: {err}", key_file.display()))?;
            println!(
                "the node sells storage with anvil's account #1 (staking {STAKE} tokens): deployment file {}, chain key {}",
                devnet.deployment_file.display(),
                key_file.display()
            );
            Some((devnet, key_file))
        }
    };
    let rpc_url = format!("http://{address}");

    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let interrupted = Arc::clone(&interrupted);
        ctrlc::set_handler(move || interrupted.store(true, Ordering::SeqCst))
            .map_err(|err| format!("cannot handle Ctrl-C: {err}"))?;
    }
    let has_display = std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty())
        || std::env::var_os("WAYLAND_DISPLAY").is_some_and(|d| !d.is_empty());
    let mut command = util::cargo();
    if has_display {
        util::step("Cairn desktop app");
        command.args(["run", "--package", "app", "--bin", "cairn-app"]);
        if let Some((devnet, key_file)) = &devnet {
            command
                .env("CAIRN_NODE_DEPLOYMENT_FILE", &devnet.deployment_file)
                .env("CAIRN_NODE_CHAIN_KEY_FILE", key_file)
                .env("CAIRN_NODE_STAKE", STAKE);
        }
    } else {
        util::step("no display: Cairn headless daemon (open the URL it prints)");
        command.args([
            "run",
            "--package",
            "cli",
            "--bin",
            "cairn",
            "--",
            "daemon",
            "--node",
        ]);
        if let Some((devnet, key_file)) = &devnet {
            command
                .arg("--node-deployment-file")
                .arg(&devnet.deployment_file)
                .arg("--node-chain-key-file")
                .arg(key_file)
                .args(["--node-stake", STAKE]);
        }
    }
    command
        .env("CAIRN_RPC_URL", &rpc_url)
        .env("CAIRN_NETWORK", "devnet");
    let mut child = command
        .spawn()
        .map_err(|err| format!("cannot start Cairn: {err}"))?;
    // Wait for Cairn to exit or for Ctrl-C / SIGTERM; the devnet stops when `devnet` drops.
    loop {
        if let Some(status) = child.try_wait().map_err(|err| err.to_string())? {
            return if status.success() || interrupted.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err(format!("Cairn exited with {status}"))
            };
        }
        if interrupted.load(Ordering::SeqCst) {
            // Cairn got the same signal from the terminal; give it a moment to shut down cleanly.
            std::thread::sleep(Duration::from_secs(2));
            let _ = child.kill();
            let _ = child.wait();
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `cargo xtask test`: everything CI checks.
pub(crate) fn test() -> Result {
    let started = Instant::now();
    setup::setup()?;

    util::step("formatting");
    util::run(
        "cargo fmt --check",
        util::cargo().args(["fmt", "--all", "--check"]),
    )?;

    util::step("tidy");
    tidy()?;
    dependency_rules()?;

    build_ui()?;

    util::step("clippy (native, all targets)");
    util::run(
        "cargo clippy",
        util::cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    util::step("clippy (wasm32)");
    let mut wasm_clippy = util::cargo();
    wasm_clippy.args([
        "clippy",
        "--target",
        "wasm32-unknown-unknown",
        // Benches drive anvil and are native-only.
        "--lib",
        "--bins",
        "--tests",
        "--locked",
    ]);
    for krate in WASM_CRATES.iter().chain(crate::light_client::WASM_CRATES) {
        wasm_clippy.args(["--package", krate]);
    }
    util::run(
        "cargo clippy wasm32",
        wasm_clippy.args(["--", "-D", "warnings"]),
    )?;

    util::step("Android check (crates that run on phones)");
    let mut android = util::cargo();
    android.args(["check", "--target", "aarch64-linux-android", "--locked"]);
    for krate in MOBILE_CRATES {
        android.args(["--package", krate]);
    }
    util::run(
        "cargo check android",
        crate::light_client::android_c_env(&mut android),
    )?;

    util::step("native tests (unit, integration, end-to-end)");
    util::run(
        "cargo test",
        util::cargo()
            .args(["test", "--workspace", "--locked"])
            .env("PATH", util::tool_path()),
    )?;

    util::step("wasm tests in headless Chromium");
    let anvil = devnet::start(0, None)?;
    util::run(
        "cargo test wasm32 (sdk-wasm)",
        util::cargo()
            .args([
                "test",
                "--package",
                "sdk-wasm",
                "--target",
                "wasm32-unknown-unknown",
                "--locked",
            ])
            .env("PATH", util::tool_path())
            .env("CAIRN_TEST_RPC_URL", &anvil.rpc_url)
            .env("CAIRN_TEST_CHAIN_ID", anvil.chain_id.to_string())
            .env("WASM_BINDGEN_TEST_TIMEOUT", "120"),
    )?;
    drop(anvil);
    crate::light_client::wasm_tests()?;

    sdk()?;

    util::step("docs");
    util::run(
        "cargo doc",
        util::cargo()
            .args(["doc", "--workspace", "--no-deps", "--locked"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;

    println!(
        "\nall checks passed in {:.1} min",
        started.elapsed().as_secs_f64() / 60.0
    );
    Ok(())
}

/// `cargo xtask sdk`: builds `sdk-wasm/pkg` (wasm-bindgen `--target web`, optimized, with
/// `package.json` and TypeScript types) and prints the wasm size raw and gzipped.
pub(crate) fn sdk() -> Result<PathBuf> {
    util::step("SDK npm package");
    let root = util::root();
    util::run(
        "cargo build sdk-wasm",
        util::cargo().args([
            "build",
            "--package",
            "sdk-wasm",
            "--target",
            "wasm32-unknown-unknown",
            "--profile",
            "wasm-release",
            "--locked",
        ]),
    )?;
    let wasm = util::target_dir().join("wasm32-unknown-unknown/wasm-release/sdk_wasm.wasm");
    let pkg = root.join("sdk-wasm/pkg");
    let _ = std::fs::remove_dir_all(&pkg);
    util::run(
        "wasm-bindgen --target web",
        Command::new(util::cargo_bin().join("wasm-bindgen"))
            .args(["--target", "web", "--out-dir"])
            .arg(&pkg)
            .arg(&wasm),
    )?;
    let bg = pkg.join("sdk_wasm_bg.wasm");
    util::run(
        "wasm-opt -Oz",
        Command::new("wasm-opt")
            .args([
                "-Oz",
                "--enable-bulk-memory",
                "--enable-nontrapping-float-to-int",
            ])
            .args([
                "--enable-sign-ext",
                "--enable-mutable-globals",
                "--enable-reference-types",
                "--enable-multivalue",
            ])
            .arg(&bg)
            .arg("-o")
            .arg(&bg),
    )?;
    std::fs::copy(root.join("sdk-wasm/npm/README.md"), pkg.join("README.md"))
        .map_err(|err| format!("copying README.md into the package: {err}"))?;
    write_package_json(
        &root.join("sdk-wasm/npm/package.json"),
        &pkg.join("package.json"),
    )?;
    let types =
        std::fs::read_to_string(pkg.join("sdk_wasm.d.ts")).map_err(|err| err.to_string())?;
    for export in [
        "export function version(): string;",
        "export function chainId(rpcUrl: string): Promise<bigint>;",
        "export class VerifiedProvider {",
        "static connect(rpcUrl: string, blockHash: string, chainId?: bigint | null): Promise<VerifiedProvider>;",
        "request(args: any): Promise<any>;",
    ] {
        if !types.contains(export) {
            return Err(format!("sdk_wasm.d.ts lacks `{export}`:\n{types}"));
        }
    }
    let raw = std::fs::metadata(&bg).map_err(|err| err.to_string())?.len();
    let gzipped = gzip_size(&bg)?;
    println!(
        "SDK wasm size: {raw} bytes raw ({:.1} KiB), {gzipped} bytes gzipped ({:.1} KiB) [{}]",
        raw as f64 / 1024.0,
        gzipped as f64 / 1024.0,
        bg.display()
    );
    Ok(pkg)
}

/// Copies the package manifest, stamping it with the crate's version so the two never drift.
fn write_package_json(template: &Path, out: &Path) -> Result {
    let text = std::fs::read_to_string(template)
        .map_err(|err| format!("{}: {err}", template.display()))?;
    let mut manifest: serde_json::Value =
        serde_json::from_str(&text).map_err(|err| format!("{}: {err}", template.display()))?;
    let metadata = util::output(util::cargo().args([
        "metadata",
        "--format-version",
        "1",
        "--no-deps",
        "--locked",
    ]))
    .ok_or("cargo metadata failed")?;
    let metadata: serde_json::Value =
        serde_json::from_str(&metadata).map_err(|err| err.to_string())?;
    let version = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|package| package["name"] == "sdk-wasm")
        .and_then(|package| package["version"].as_str())
        .ok_or("sdk-wasm is missing from cargo metadata")?;
    manifest["version"] = serde_json::Value::from(version);
    let pretty = serde_json::to_string_pretty(&manifest).map_err(|err| err.to_string())?;
    std::fs::write(out, pretty + "\n").map_err(|err| format!("{}: {err}", out.display()))
}

fn gzip_size(path: &Path) -> Result<u64> {
    let out = Command::new("gzip")
        .args(["-9", "-c"])
        .arg(path)
        .output()
        .map_err(|err| format!("gzip: {err}"))?;
    if !out.status.success() {
        return Err(format!("gzip failed on {}", path.display()));
    }
    Ok(out.stdout.len() as u64)
}

/// Every Rust source file opens with a `//!` module doc saying what it owns.
fn tidy() -> Result {
    let root = util::root();
    let mut missing = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|err| format!("{}: {err}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if path.is_dir() {
                if !matches!(
                    name.as_ref(),
                    "target" | "node_modules" | ".git" | "dist" | "pkg" | "gen" | "test-artifacts"
                ) {
                    stack.push(path);
                }
            } else if name.ends_with(".rs") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                if !text.trim_start().starts_with("//!") {
                    missing.push(
                        path.strip_prefix(&root)
                            .unwrap_or(&path)
                            .display()
                            .to_string(),
                    );
                }
            }
        }
    }
    if missing.is_empty() {
        println!("--- tidy: every .rs file opens with a //! doc");
        Ok(())
    } else {
        missing.sort();
        Err(format!(
            "these files do not open with a `//!` doc:\n  {}",
            missing.join("\n  ")
        ))
    }
}

/// Pure crates and I/O edges never depend on shell crates, and pure crates on no I/O runtime
/// (checked on `cargo metadata`).
fn dependency_rules() -> Result {
    let out = util::output(util::cargo().args([
        "metadata",
        "--format-version",
        "1",
        "--no-deps",
        "--locked",
    ]))
    .ok_or("cargo metadata failed")?;
    let metadata: serde_json::Value = serde_json::from_str(&out).map_err(|err| err.to_string())?;
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    let mut violations = Vec::new();
    for package in &packages {
        let name = package["name"].as_str().unwrap_or_default();
        let pure = PURE_CRATES.contains(&name);
        if !pure && !EDGE_CRATES.contains(&name) {
            continue;
        }
        for dep in package["dependencies"].as_array().into_iter().flatten() {
            let dep_name = dep["name"].as_str().unwrap_or_default();
            let dev = dep["kind"].as_str() == Some("dev");
            if SHELLS.contains(&dep_name) && !dev {
                violations.push(format!("{name} -> {dep_name}"));
            }
            if pure && ["tauri", "axum", "tokio"].contains(&dep_name) && !dev && name != "chain" {
                violations.push(format!(
                    "{name} -> {dep_name} (I/O runtime in a pure crate)"
                ));
            }
        }
    }
    if violations.is_empty() {
        println!("--- dependency rules: pure crates and I/O edges depend on no shell");
        Ok(())
    } else {
        Err(format!(
            "dependency rules broken:\n  {}",
            violations.join("\n  ")
        ))
    }
}
