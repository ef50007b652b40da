//! Running commands and finding paths.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Result of an xtask step: an error is a message for the user.
pub(crate) type Result<T = ()> = std::result::Result<T, String>;

/// The workspace root: the parent of xtask's manifest directory, which `cargo run` names at run
/// time. The path compiled in is only the fallback: cargo does not rebuild xtask when the same
/// sources sit in another checkout that shares the build cache, so it may name that checkout.
pub(crate) fn root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The cargo that runs us.
pub(crate) fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(root());
    command
}

/// The target directory cargo uses (honours `CARGO_TARGET_DIR`).
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                root().join(dir)
            }
        })
        .unwrap_or_else(|| root().join("target"))
}

/// Prints a step header.
pub(crate) fn step(name: &str) {
    println!("\n==> {name}");
}

/// Runs `command` to completion, streaming its output; fails with `what` on a non-zero exit.
pub(crate) fn run(what: &str, command: &mut Command) -> Result {
    let started = Instant::now();
    let status = command
        .status()
        .map_err(|err| format!("{what}: cannot start {:?}: {err}", command.get_program()))?;
    let elapsed = started.elapsed().as_secs_f64();
    if status.success() {
        println!("--- {what}: ok in {elapsed:.1}s");
        Ok(())
    } else {
        Err(format!("{what} failed ({status}) after {elapsed:.1}s"))
    }
}

/// Runs `command` and returns its stdout, or `None` if it cannot start or fails.
pub(crate) fn output(command: &mut Command) -> Option<String> {
    let out = command.stderr(Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether `program` is on `PATH`.
pub(crate) fn on_path(program: &str) -> bool {
    find_on_path(program).is_some()
}

/// The full path of `program` on `PATH`.
pub(crate) fn find_on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|path| path.is_file())
    })
}

/// `~/.cargo/bin`, where `cargo install` puts tools.
pub(crate) fn cargo_bin() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .unwrap_or_default()
        .join("bin")
}

/// `PATH` with `~/.cargo/bin` and the workspace's npm tools in front.
pub(crate) fn tool_path() -> std::ffi::OsString {
    let mut dirs = vec![cargo_bin(), root().join("node_modules/.bin")];
    if let Some(paths) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&paths));
    }
    std::env::join_paths(dirs).unwrap_or_default()
}
