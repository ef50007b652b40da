//! A private D-Bus system bus with BlueZoo on it: Bluetooth LE tests without a radio.
//!
//! BlueZoo (PyPI `bluezoo`, pinned in the venv that `cargo xtask setup` makes) is a user-space
//! mock of BlueZ's D-Bus API with virtual adapters that see each other, so btleplug (central) and
//! bluer (peripheral) run their real code paths. Each [`BlueZoo`] owns its own `dbus-daemon`:
//! give its [`address`](BlueZoo::address) to a child process as `DBUS_SYSTEM_BUS_ADDRESS`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use crate::{Error, Result};

/// How long BlueZoo may take to own `org.bluez` with all its adapters.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// The Python venv holding Espressif's `esp_prov` and BlueZoo: `$CAIRN_ESP_VENV`, else
/// `~/.cache/cairn/venv` (where `cargo xtask setup` makes it).
pub fn venv() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CAIRN_ESP_VENV") {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").ok_or_else(|| Error::MissingTool {
        tool: "the pairing venv".into(),
        hint: "HOME is not set; set CAIRN_ESP_VENV".into(),
    })?;
    Ok(PathBuf::from(home).join(".cache/cairn/venv"))
}

/// A program of the venv (`python`, `bluezoo`, ...), checked to exist.
pub fn venv_bin(name: &str) -> Result<PathBuf> {
    let path = venv()?.join("bin").join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::MissingTool {
            tool: name.into(),
            hint: format!("looked for {}", path.display()),
        })
    }
}

/// A running private bus with BlueZoo on it; both are killed on drop.
#[derive(Debug)]
pub struct BlueZoo {
    // Kept open so dbus-daemon never writes to a closed pipe.
    _stdout: BufReader<ChildStdout>,
    address: String,
    dbus: Child,
    bluezoo: Child,
    /// BlueZoo's standard error: its log.
    log: tempfile::NamedTempFile,
}

impl BlueZoo {
    /// Starts a `dbus-daemon` and BlueZoo with `adapters` powered virtual adapters (`hci0`,
    /// `hci1`, ...; adapter `i` has address `00:00:00:CA:00:<i+1>`), and waits (bounded) until
    /// all of them are on the bus.
    pub fn start(adapters: u8) -> Result<Self> {
        let io = |what: &str| {
            let what = what.to_owned();
            move |source| Error::Io { what, source }
        };
        let mut dbus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile", "--print-address=1"])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(io("starting dbus-daemon (Debian package `dbus`)"))?;
        let stdout = dbus.stdout.take().ok_or_else(|| Error::Io {
            what: "reading dbus-daemon's address".into(),
            source: std::io::Error::other("no stdout pipe"),
        })?;
        let mut stdout = BufReader::new(stdout);
        let mut address = String::new();
        stdout
            .read_line(&mut address)
            .map_err(io("reading dbus-daemon's address"))?;
        let address = address.trim().to_owned();
        // Its log at INFO (scans, devices added, advertisements registered and removed) goes
        // to a file, for a failing test to show (`BlueZoo::log`).
        let log = tempfile::NamedTempFile::new().map_err(io("making BlueZoo's log file"))?;
        let mut command = Command::new(venv_bin("bluezoo")?);
        command
            .args(["--auto-enable", "--scan-interval", "1"])
            .env("DBUS_SYSTEM_BUS_ADDRESS", &address)
            .stderr(log.reopen().map_err(io("opening BlueZoo's log file"))?);
        for i in 0..adapters {
            command.args(["-a", &format!("00:00:00:CA:00:{:02X}", i + 1)]);
        }
        let bluezoo = match command.spawn() {
            Ok(child) => child,
            Err(source) => {
                let _ = dbus.kill();
                let _ = dbus.wait();
                return Err(Error::Io {
                    what: "starting bluezoo".into(),
                    source,
                });
            }
        };
        let mut bus = Self {
            _stdout: stdout,
            address,
            dbus,
            bluezoo,
            log,
        };
        bus.wait_ready(adapters)?;
        Ok(bus)
    }

    /// The bus address, for `DBUS_SYSTEM_BUS_ADDRESS`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The last `lines` lines of BlueZoo's log (INFO and above), for a failing test to show.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.log.path()).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    fn wait_ready(&mut self, adapters: u8) -> Result<()> {
        let last_adapter = format!("/org/bluez/hci{}", adapters.saturating_sub(1));
        let started = std::time::Instant::now();
        let mut last = String::new();
        while started.elapsed() < READY_TIMEOUT {
            let out = Command::new("dbus-send")
                .arg(format!("--bus={}", self.address))
                .args(["--print-reply", "--dest=org.bluez", "/"])
                .arg("org.freedesktop.DBus.ObjectManager.GetManagedObjects")
                .output()
                .map_err(|source| Error::Io {
                    what: "running dbus-send (Debian package `dbus`)".into(),
                    source,
                })?;
            if String::from_utf8_lossy(&out.stdout).contains(&last_adapter) {
                return Ok(());
            }
            last = String::from_utf8_lossy(&out.stderr).into_owned();
            if let Ok(Some(status)) = self.bluezoo.try_wait() {
                last = format!("bluezoo exited with {status}");
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(Error::Timeout {
            what: format!("BlueZoo's {adapters} adapters on {} ({last})", self.address),
            after: READY_TIMEOUT,
        })
    }
}

impl Drop for BlueZoo {
    fn drop(&mut self) {
        let _ = self.bluezoo.kill();
        let _ = self.bluezoo.wait();
        let _ = self.dbus.kill();
        let _ = self.dbus.wait();
    }
}
