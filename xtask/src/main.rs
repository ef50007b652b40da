//! `cargo xtask`: the two commands of README and the steps they are made of.
//!
//! - `cargo xtask run`: install what is missing, build the UI, start the local anvil devnet on
//!   127.0.0.1:8545 (or reuse one already answering there), then start Cairn against it: the
//!   desktop app where there is a display, the headless `cairn daemon` otherwise.
//! - `cargo xtask test`: install what is missing, then every check CI runs (`.ci/run` calls it).
//! - `cargo xtask setup | build-ui | sdk`: single steps.
//!
//! Owns developer tooling only; nothing ships from here. Builds for: native.
//! Must not depend on: any Cairn crate (it must build before the system libraries they need exist).

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a developer tool talks on the terminal"
)]

mod ble;
mod devnet;
mod light_client;
mod setup;
mod tasks;
mod util;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

  run        install what is missing, start the devnet and Cairn (window, or daemon if headless)
  test       install what is missing, then run every check CI runs
  setup      install what is missing (Debian packages, Rust targets, npm and cargo tools)
  build-ui   build the Leptos UI into ui/dist (wasm32 + wasm-bindgen)
  sdk        build the npm package into sdk-wasm/pkg and print its size
  contracts  compile the Solidity contracts into contracts/artifacts (checked in)
  light-client-bench  light client figures against issue 4's goals, with the browser wasm size
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => tasks::run(),
        Some("test") => tasks::test(),
        Some("setup") => setup::setup(),
        Some("build-ui") => tasks::build_ui(),
        Some("sdk") => tasks::sdk().map(drop),
        Some("contracts") => tasks::contracts(),
        Some("light-client-bench") => light_client::bench(),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command {other:?}\n\n{USAGE}")),
        None => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: error: {message}");
            ExitCode::FAILURE
        }
    }
}
