//! A private X display per test, so desktop tests run headless and in parallel.

use std::path::Path;
use std::time::Duration;

use tokio::process::Command;

use crate::{ChildGuard, Error, Result};

/// Xvfb starts in well under a second; ten allows for a loaded CI machine.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a native dialog may take to open.
const DIALOG_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a dialog may take to close once Enter is pressed, and how many times it is pressed.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
const CLOSE_TRIES: u32 = 5;

/// Which of the system's file dialogs is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileDialog {
    /// Opening a file: the path goes into the location field (Ctrl+L).
    Open,
    /// Saving a file: the path replaces the suggested name.
    Save,
}

/// Whether the X lock file `lock` names a process that no longer runs (or names none).
fn stale(lock: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(lock) else {
        // No lock (a socket alone), or one being written: only a missing lock is stale.
        return !lock.exists();
    };
    match text.trim().parse::<u32>() {
        Ok(pid) => !crate::process::alive(pid),
        Err(_) => false,
    }
}

/// A running Xvfb server, killed on drop.
#[derive(Debug)]
pub struct Xvfb {
    display: String,
    _guard: ChildGuard,
}

impl Xvfb {
    /// Starts Xvfb on the first free display number from 90 and waits for its socket. A display
    /// whose lock names a process that is gone (an Xvfb killed with SIGKILL, as test guards do,
    /// leaves its lock and socket behind) is free again: its leftovers are removed.
    pub async fn start() -> Result<Self> {
        let binary = crate::find_tool("Xvfb", "CAIRN_XVFB")?;
        for number in 90..190u32 {
            let lock = format!("/tmp/.X{number}-lock");
            let socket = format!("/tmp/.X11-unix/X{number}");
            if Path::new(&lock).exists() || Path::new(&socket).exists() {
                if !stale(Path::new(&lock)) {
                    continue;
                }
                let _ = std::fs::remove_file(&lock);
                let _ = std::fs::remove_file(&socket);
            }
            let display = format!(":{number}");
            let mut command = Command::new(&binary);
            command
                .arg(&display)
                .args(["-screen", "0", "1280x800x24", "-nolisten", "tcp"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            let mut guard = ChildGuard::spawn("Xvfb", command)?;
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

    /// Answers the GTK file dialog titled `title` on this display with `path`, or cancels it
    /// (`None`: Escape), as a user at the keyboard would (xdotool, through the XTEST
    /// extension): waits for the dialog, focuses it, types the path and presses Enter, then
    /// waits until the dialog has closed. GTK may take the first Enter to complete the path:
    /// Enter is pressed again while it stays open.
    pub async fn answer_file_dialog(
        &self,
        title: &str,
        path: Option<&Path>,
        dialog: FileDialog,
    ) -> Result<()> {
        let xdotool = crate::find_tool("xdotool", "CAIRN_XDOTOOL")?;
        let pattern = format!("^{title}$");
        let search = ["search", "--onlyvisible", "--name", &pattern];
        let window = crate::eventually(&format!("the dialog {title:?}"), DIALOG_TIMEOUT, || {
            let search = self.xdotool(&xdotool, &search);
            async move {
                let ran = search.await.ok()?;
                ran.stdout.lines().next().map(str::to_owned)
            }
        })
        .await?;
        self.xdotool_ok(&xdotool, &["windowfocus", "--sync", &window])
            .await?;
        let key = match path {
            Some(path) => {
                let select = match dialog {
                    FileDialog::Open => "ctrl+l",
                    FileDialog::Save => "ctrl+a",
                };
                self.xdotool_ok(&xdotool, &["key", "--clearmodifiers", select])
                    .await?;
                let path = path.display().to_string();
                self.xdotool_ok(&xdotool, &["type", "--delay", "10", &path])
                    .await?;
                "Return"
            }
            None => "Escape",
        };
        for _ in 0..CLOSE_TRIES {
            self.xdotool_ok(&xdotool, &["key", "--clearmodifiers", key])
                .await?;
            // Closed once no visible window has its title (the search finds none, and fails).
            let closed = crate::eventually("the dialog to close", CLOSE_WAIT, || {
                let search = self.xdotool(&xdotool, &search);
                async move { search.await.ok().filter(|ran| !ran.ok).map(drop) }
            })
            .await;
            if closed.is_ok() {
                return Ok(());
            }
        }
        Err(Error::Timeout {
            what: format!("the dialog {title:?} to close after {key}"),
            after: CLOSE_WAIT * CLOSE_TRIES,
        })
    }

    fn xdotool(
        &self,
        xdotool: &Path,
        args: &[&str],
    ) -> impl std::future::Future<Output = Result<crate::Ran>> + use<> {
        let mut command = Command::new(xdotool);
        command.args(args).env("DISPLAY", &self.display);
        let name = format!("xdotool {}", args.join(" "));
        async move { crate::run(&name, command, DIALOG_TIMEOUT).await }
    }

    async fn xdotool_ok(&self, xdotool: &Path, args: &[&str]) -> Result<()> {
        let ran = self.xdotool(xdotool, args).await?;
        if ran.ok {
            Ok(())
        } else {
            Err(Error::Io {
                what: format!("xdotool {}", args.join(" ")),
                source: std::io::Error::other(ran.stderr),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::stale;

    #[test]
    fn a_lock_is_stale_once_its_process_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join(".X99-lock");
        // X writes its pid right-aligned in 10 characters, then a newline.
        std::fs::write(&lock, format!("{:>10}\n", std::process::id())).unwrap();
        assert!(!stale(&lock), "this process is alive");
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let pid = gone.id();
        gone.wait().unwrap();
        std::fs::write(&lock, format!("{pid:>10}\n")).unwrap();
        assert!(stale(&lock), "pid {pid} has exited");
        std::fs::write(&lock, "garbage").unwrap();
        assert!(!stale(&lock), "an unreadable lock is left alone");
        std::fs::remove_file(&lock).unwrap();
        assert!(stale(&lock), "a socket without a lock");
    }
}
