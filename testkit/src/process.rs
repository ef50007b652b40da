//! Child processes that die with the test, free ports and readiness checks.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::{Error, Result};

/// A child process in its own process group; the whole group is killed when the guard drops.
///
/// Drivers start browsers and apps of their own (chromedriver starts Chromium, tauri-driver
/// starts WebKitWebDriver, which starts the app). Killing only the driver would orphan those,
/// and an orphan holding the test's stdout keeps `cargo test` from ever finishing; so the group
/// goes, even when a test panics.
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
    name: String,
    group: Option<u32>,
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(group) = self.group {
            // `kill -KILL -<pgid>` signals every process in the group; failures mean it is gone.
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{group}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl ChildGuard {
    /// Spawns `command` (stdin closed, killed on drop).
    pub fn spawn(name: &str, mut command: Command) -> Result<Self> {
        command.stdin(Stdio::null()).kill_on_drop(true);
        #[cfg(unix)]
        command.process_group(0);
        let child = command.spawn().map_err(|source| Error::Io {
            what: format!("starting {name}"),
            source,
        })?;
        let group = if cfg!(unix) { child.id() } else { None };
        Ok(Self {
            child,
            name: name.to_owned(),
            group,
        })
    }

    /// Spawns `command` with stdout piped and returns the first stdout line containing `marker`.
    /// The rest of stdout keeps draining in the background.
    pub async fn spawn_and_read_line(
        name: &str,
        command: Command,
        marker: &str,
        timeout: Duration,
    ) -> Result<(Self, String)> {
        let (guard, line, lines) = Self::spawn_and_follow(name, command, marker, timeout).await?;
        lines.drain();
        Ok((guard, line))
    }

    /// Spawns `command` with stdout piped and returns the first stdout line containing `marker`,
    /// and the lines after it for the test to wait on ([`Lines::wait_for`]).
    pub async fn spawn_and_follow(
        name: &str,
        mut command: Command,
        marker: &str,
        timeout: Duration,
    ) -> Result<(Self, String, Lines)> {
        command.stdout(Stdio::piped());
        let mut guard = Self::spawn(name, command)?;
        let stdout = guard.child.stdout.take().ok_or_else(|| Error::Io {
            what: format!("{name} stdout"),
            source: std::io::Error::other("not piped"),
        })?;
        // A child prints a few lines after its first (addresses gained or lost): a test not
        // reading them holds it up only after this many.
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        let mut reader = BufReader::new(stdout).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = reader.next_line().await {
                if tx.send(line).await.is_err() {
                    break;
                }
            }
        });
        let mut lines = Lines {
            name: name.to_owned(),
            rx,
            seen: Vec::new(),
        };
        let line = lines.wait_for(marker, timeout).await?;
        Ok((guard, line, lines))
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills the process and waits for it.
    pub async fn kill(&mut self) -> Result<()> {
        self.child.kill().await.map_err(|source| Error::Io {
            what: format!("killing {}", self.name),
            source,
        })
    }
}

/// The stdout lines of a child started with [`ChildGuard::spawn_and_follow`], as they come.
#[derive(Debug)]
pub struct Lines {
    name: String,
    rx: tokio::sync::mpsc::Receiver<String>,
    /// Every line read so far, in order.
    seen: Vec<String>,
}

impl Lines {
    /// The next line containing `marker` (lines before it are kept in [`Lines::seen`]); an error
    /// when the child's stdout ends first or after `timeout`.
    pub async fn wait_for(&mut self, marker: &str, timeout: Duration) -> Result<String> {
        let read = async {
            while let Some(line) = self.rx.recv().await {
                self.seen.push(line.clone());
                if line.contains(marker) {
                    return Ok(line);
                }
            }
            Err(Error::Io {
                what: format!("{} exited before printing {marker:?}", self.name),
                source: std::io::Error::other("end of stdout"),
            })
        };
        tokio::time::timeout(timeout, read)
            .await
            .map_err(|_| Error::Timeout {
                what: format!("{} to print {marker:?}", self.name),
                after: timeout,
            })?
    }

    /// Reads the rest in the background, unseen (the child never blocks on a full pipe).
    pub fn drain(mut self) {
        tokio::spawn(async move { while self.rx.recv().await.is_some() {} });
    }

    /// Every line read so far (by [`Lines::wait_for`]), oldest first, with those already
    /// waiting.
    pub fn seen(&mut self) -> &[String] {
        while let Ok(line) = self.rx.try_recv() {
            self.seen.push(line);
        }
        &self.seen
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|source| Error::Io {
        what: "binding a free port".into(),
        source,
    })?;
    listener
        .local_addr()
        .map(|addr| addr.port())
        .map_err(|source| Error::Io {
            what: "reading the free port".into(),
            source,
        })
}

/// Waits until something accepts TCP connections on `addr`.
pub async fn wait_for_port(addr: SocketAddr, timeout: Duration) -> Result<()> {
    crate::eventually(&format!("a listener on {addr}"), timeout, || async move {
        tokio::net::TcpStream::connect(addr).await.ok().map(drop)
    })
    .await
}

/// Finds `tool`: `$<ENV>` if set, else `~/.cargo/bin/<tool>`, else `PATH`.
pub fn find_tool(tool: &str, env: &str) -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Ok(PathBuf::from(path));
    }
    let mut candidates = Vec::new();
    if let Some(home) = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
    {
        candidates.push(home.join("bin").join(tool));
    }
    if let Some(paths) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&paths).map(|dir| dir.join(tool)));
    }
    candidates
        .into_iter()
        .find(|path| path.is_file())
        .ok_or_else(|| Error::MissingTool {
            tool: tool.to_owned(),
            hint: format!("not in ${env}, ~/.cargo/bin or PATH"),
        })
}

/// Whether process `pid` is running (not gone, not a zombie), according to `/proc/<pid>/stat`.
pub(crate) fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
            Some(state != 'Z' && state != 'X')
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dropping_the_guard_kills_grandchildren() {
        let mut command = Command::new("sh");
        command.args(["-c", "sleep 600 & echo \"grandchild $!\"; wait"]);
        let (guard, line) =
            ChildGuard::spawn_and_read_line("sh", command, "grandchild", Duration::from_secs(10))
                .await
                .unwrap();
        let pid: u32 = line
            .trim_start_matches("grandchild ")
            .trim()
            .parse()
            .unwrap();
        assert!(alive(pid), "the grandchild runs while the guard lives");
        drop(guard);
        crate::eventually(
            "the grandchild to die",
            Duration::from_secs(10),
            || async move { (!alive(pid)).then_some(()) },
        )
        .await
        .unwrap();
    }
}

/// What a finished command did.
#[derive(Debug, Clone)]
pub struct Ran {
    /// It exited with status 0.
    pub ok: bool,
    /// Its standard output, lossily decoded.
    pub stdout: String,
    /// Its standard error, lossily decoded.
    pub stderr: String,
}

/// Runs `command` to completion with its output captured, killing it if it outlives `timeout`.
pub async fn run(name: &str, mut command: Command, timeout: Duration) -> Result<Ran> {
    let output = command.kill_on_drop(true).output();
    let output = tokio::time::timeout(timeout, output)
        .await
        .map_err(|_| Error::Timeout {
            what: format!("{name} to finish"),
            after: timeout,
        })?
        .map_err(|source| Error::Io {
            what: format!("running {name}"),
            source,
        })?;
    Ok(Ran {
        ok: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}
