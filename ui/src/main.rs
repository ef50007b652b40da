//! Cairn's user interface: a Leptos 0.8 client-side-rendered app built to wasm (`cargo xtask build-ui`).
//!
//! Owns what the user sees and nothing else. It talks to its host through the small
//! [`backend::Backend`] trait, with two implementations: Tauri IPC inside the desktop/mobile app,
//! and HTTP against the `cairn daemon` in a plain browser. Both speak `protocol::api` types.
//!
//! Builds for: `wasm32-unknown-unknown` (the product) and native (checks and unit tests).
//!
//! Must not depend on: `runtime`, `chain`, `node` or any crate doing I/O on the host; the UI
//! only ever sees what a backend hands it.

mod backend;
mod view;

fn main() {
    console_error_panic_hook::set_once();
    let backend = backend::detect();
    leptos::mount::mount_to_body(move || view::App(view::AppProps { backend }));
}
