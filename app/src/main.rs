//! Desktop entry point of the Cairn app; all of it lives in the `app` library.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    app::run();
}
