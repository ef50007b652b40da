//! Setup for the BLE pairing tests: a Python venv holding Espressif's reference provisioning
//! client (`esp_prov`, shipped in PyPI `esp-rainmaker-cli`) and BlueZoo (PyPI `bluezoo`, a
//! user-space BlueZ D-Bus mock standing in for a Bluetooth radio), pinned; and `dbus` (Debian)
//! for the private bus BlueZoo runs on. `device-sim`'s tests run it
//! against the simulator; `ble-provisioning/testdata/gen_golden.py` made the golden vectors with
//! it. The venv is `$CAIRN_ESP_VENV`, else `~/.cache/cairn/venv`.

use std::path::PathBuf;
use std::process::Command;

use crate::util::{self, Result};

/// PyPI packages, pinned.
const PYTHON_PACKAGES: &[&str] = &["esp-rainmaker-cli==1.14.1", "bluezoo==1.0.2"];

/// Where the venv lives (the tests look in the same place).
fn venv() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CAIRN_ESP_VENV") {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").ok_or("HOME is not set: set CAIRN_ESP_VENV")?;
    Ok(PathBuf::from(home).join(".cache/cairn/venv"))
}

pub(crate) fn setup() -> Result {
    // The BLE tests run BlueZoo on a private bus: `dbus-daemon` and `dbus-send`.
    if !util::on_path("dbus-daemon") || !util::on_path("dbus-send") {
        util::run(
            "apt-get install dbus",
            Command::new("apt-get")
                .args(["install", "-y", "-q", "--no-install-recommends", "dbus"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )?;
    }
    let venv = venv()?;
    let stamp = venv.join(".cairn-packages");
    let wanted = PYTHON_PACKAGES.join("\n");
    if std::fs::read_to_string(&stamp).is_ok_and(|have| have == wanted)
        && venv.join("bin/python").is_file()
    {
        println!("Python venv {} matches its pins", venv.display());
        return Ok(());
    }
    if util::output(Command::new("python3").args(["-m", "venv", "--help"])).is_none() {
        util::run(
            "apt-get install python3-venv",
            Command::new("apt-get")
                .args([
                    "install",
                    "-y",
                    "-q",
                    "--no-install-recommends",
                    "python3-venv",
                ])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )?;
    }
    util::run(
        "python3 -m venv",
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
    )?;
    util::run(
        "pip install (BLE pairing tools)",
        Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "--disable-pip-version-check"])
            .args(PYTHON_PACKAGES),
    )?;
    std::fs::write(&stamp, wanted).map_err(|err| format!("writing {}: {err}", stamp.display()))?;
    Ok(())
}
