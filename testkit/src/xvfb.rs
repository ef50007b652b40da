//! A private X display per test, so desktop tests run headless and in parallel.

use std::path::Path;
use std::time::Duration;

use tokio::process::Command;

use crate::{ChildGuard, Error, Result};

/// Xvfb starts in well under a second; ten allows for a loaded CI machine.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running Xvfb server, killed on drop.
#[derive(Debug)]
pub struct Xvfb {
    display: String,
    _guard: ChildGuard,
}

impl Xvfb {
    /// Starts Xvfb on the first free display number from 90 and waits for its socket.
    pub async fn start() -> Result<Self> {
        let binary = crate::find_tool("Xvfb", "CAIRN_XVFB")?;
        for number in 90..190u32 {
            if Path::new(&format!("/tmp/.X{number}-lock")).exists()
                || Path::new(&format!("/tmp/.X11-unix/X{number}")).exists()
            {
                continue;
            }
            let display = format!(":{number}");
            let mut command = Command::new(&binary);
            command
                .arg(&display)
                .args(["-screen", "0", "1280x800x24", "-nolisten", "tcp"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            let mut guard = ChildGuard::spawn("Xvfb", command)?;
            let socket = format!("/tmp/.X11-unix/X{number}");
            let up = crate::eventually("the Xvfb socket", START_TIMEOUT, || {
                let alive = guard.is_running();
                let ready = Path::new(&socket).exists();
                async move { (ready || !alive).then_some(alive) }
            })
            .await?;
            if up {
                return Ok(Self {
                    display,
                    _guard: guard,
                });
            }
            // Lost a race for this display number with another test; try the next one.
        }
        Err(Error::Io {
            what: "starting Xvfb".into(),
            source: std::io::Error::other("no free display between :90 and :189"),
        })
    }

    /// The `DISPLAY` value, for example `:90`.
    pub fn display(&self) -> &str {
        &self.display
    }
}
