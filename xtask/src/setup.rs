//! `cargo xtask setup`: installs whatever is missing, and nothing that is already there.
//!
//! Sources, all package registries: Debian packages (apt), Rust targets (rustup), npm tools
//! pinned by `package-lock.json` (anvil, solc, the Tauri CLI), and cargo tools pinned here
//! (`wasm-bindgen-cli` at exactly the version in `Cargo.lock`, tauri-driver).

use std::path::Path;
use std::process::Command;

use crate::util::{self, Result};

/// Debian packages Cairn builds, runs or tests with.
const APT_PACKAGES: &[&str] = &[
    // Tauri on Linux
    "libwebkit2gtk-4.1-dev",
    "libayatana-appindicator3-dev",
    "librsvg2-dev",
    "libssl-dev",
    "libdbus-1-dev",
    "pkg-config",
    "build-essential",
    "file",
    // Headless desktop and browser tests
    "xvfb",
    "webkit2gtk-driver",
    // Types into the app's native file dialogs (GTK) under Xvfb
    "xdotool",
    "chromium",
    "chromium-driver",
    "fonts-dejavu-core",
    // A provider behind a NAT: network namespaces (`ip netns`), masquerading (`nft`), a router
    // that maps ports on request (UPnP IGD, NAT-PMP)
    "iproute2",
    "nftables",
    "miniupnpd-nftables",
    // C code built for wasm32, and the wasm optimizer
    "clang",
    "lld",
    "binaryen",
];

/// Rust targets: the browser, and Android for the crates that run on phones.
const RUST_TARGETS: &[&str] = &["wasm32-unknown-unknown", "aarch64-linux-android"];

/// Cargo tools, pinned. `wasm-bindgen-cli` is pinned to `Cargo.lock` instead (see [`wasm_bindgen_version`]).
const TAURI_DRIVER_VERSION: &str = "2.1.0";

pub(crate) fn setup() -> Result {
    util::step("setup: Debian packages");
    apt()?;
    util::step("setup: Rust targets");
    rust_targets()?;
    util::step("setup: npm tools (package-lock.json)");
    npm()?;
    util::step("setup: cargo tools");
    let wasm_bindgen = wasm_bindgen_version()?;
    cargo_tool("wasm-bindgen-cli", "wasm-bindgen", &wasm_bindgen)?;
    cargo_tool("tauri-driver", "tauri-driver", TAURI_DRIVER_VERSION)?;
    util::step("setup: Python venv (BLE pairing: esp_prov)");
    crate::ble::setup()?;
    println!("setup complete");
    Ok(())
}

fn installed(package: &str) -> bool {
    util::output(Command::new("dpkg-query").args(["-W", "-f=${db:Status-Status}", package]))
        .is_some_and(|status| status.trim() == "installed")
}

fn apt() -> Result {
    let mut missing: Vec<&str> = APT_PACKAGES
        .iter()
        .chain(crate::light_client::APT_PACKAGES)
        .copied()
        .filter(|p| !installed(p))
        .collect();
    if !util::on_path("node") || !util::on_path("npm") {
        missing.extend(["nodejs", "npm"]);
    }
    if missing.is_empty() {
        println!("all {} Debian packages present", APT_PACKAGES.len());
        return Ok(());
    }
    println!("installing: {}", missing.join(" "));
    let sudo = !is_root();
    if sudo && !util::on_path("sudo") {
        return Err(format!(
            "these Debian packages are missing and installing them needs root: {}",
            missing.join(" ")
        ));
    }
    let apt = |args: &[&str]| {
        let mut command = if sudo {
            Command::new("sudo")
        } else {
            Command::new("apt-get")
        };
        if sudo {
            command.arg("apt-get");
        }
        command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        command
    };
    util::run("apt-get update", &mut apt(&["update", "-q"]))?;
    let mut install = apt(&["install", "-y", "-q", "--no-install-recommends"]);
    install.args(&missing);
    util::run("apt-get install", &mut install)
}

fn is_root() -> bool {
    util::output(Command::new("id").arg("-u")).is_some_and(|uid| uid.trim() == "0")
}

fn rust_targets() -> Result {
    let installed = util::output(Command::new("rustup").args(["target", "list", "--installed"]))
        .ok_or("rustup is needed to add the wasm32 and Android targets")?;
    let missing: Vec<&str> = RUST_TARGETS
        .iter()
        .copied()
        .filter(|target| !installed.lines().any(|line| line.trim() == *target))
        .collect();
    if missing.is_empty() {
        println!("targets present: {}", RUST_TARGETS.join(", "));
        return Ok(());
    }
    util::run(
        "rustup target add",
        Command::new("rustup")
            .args(["target", "add"])
            .args(&missing)
            .current_dir(util::root()),
    )
}

fn npm() -> Result {
    let root = util::root();
    let lock = root.join("package-lock.json");
    let stamp = root.join("node_modules/.cairn-package-lock.json");
    let current =
        std::fs::read(&lock).map_err(|err| format!("reading {}: {err}", lock.display()))?;
    if std::fs::read(&stamp).is_ok_and(|installed| installed == current)
        && root.join("node_modules/.bin/anvil").is_file()
    {
        println!("npm tools match package-lock.json");
        return Ok(());
    }
    util::run(
        "npm ci",
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&root),
    )?;
    std::fs::write(&stamp, current).map_err(|err| format!("writing {}: {err}", stamp.display()))
}

/// The `wasm-bindgen` version in `Cargo.lock`: the CLI must match it exactly.
pub(crate) fn wasm_bindgen_version() -> Result<String> {
    let lock_path = util::root().join("Cargo.lock");
    let lock = std::fs::read_to_string(&lock_path)
        .map_err(|err| format!("reading {}: {err}", lock_path.display()))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\""
            && let Some(version) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = \""))
                .and_then(|v| v.strip_suffix('"'))
        {
            return Ok(version.to_owned());
        }
    }
    Err("Cargo.lock has no wasm-bindgen entry".into())
}

fn cargo_tool(package: &str, binary: &str, version: &str) -> Result {
    // `cargo install --list` prints `<package> v<version>:` for every installed tool.
    let listed = util::output(util::cargo().args(["install", "--list"])).unwrap_or_default();
    let wanted = format!("{package} v{version}:");
    if listed.lines().any(|line| line.trim() == wanted) && util::cargo_bin().join(binary).is_file()
    {
        println!("{binary} {version} present");
        return Ok(());
    }
    // Installing into a throwaway target directory keeps tool builds out of the workspace cache.
    let tmp = std::env::temp_dir().join(format!("cairn-install-{package}"));
    util::run(
        &format!("cargo install {package} {version}"),
        util::cargo()
            .args([
                "install",
                "--locked",
                "--force",
                package,
                "--version",
                version,
            ])
            .env("CARGO_TARGET_DIR", &tmp)
            .current_dir(std::env::temp_dir()),
    )?;
    let _ = std::fs::remove_dir_all(Path::new(&tmp));
    Ok(())
}
