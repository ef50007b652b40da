//! Runs tauri-build against the repository-root `tauri.conf.json`.
//!
//! tauri-build reads the configuration from the build script's working directory, so the script
//! moves to the workspace root first. The UI must be built (`cargo xtask build-ui`) beforehand.

#![allow(
    clippy::expect_used,
    reason = "a build script reports failure by panicking"
)]

use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the app crate lives inside the workspace");
    let dist = root.join("ui/dist/index.html");
    if !dist.is_file() {
        panic!(
            "the UI is not built ({} is missing); run `cargo xtask build-ui` first",
            dist.display()
        );
    }
    println!(
        "cargo:rerun-if-changed={}",
        root.join("tauri.conf.json").display()
    );
    println!("cargo:rerun-if-changed={}", root.join("ui/dist").display());
    std::env::set_current_dir(root).expect("the workspace root is accessible");
    tauri_build::build();
}
