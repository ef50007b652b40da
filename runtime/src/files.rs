//! Files the runtime keeps in its data directory, replaced atomically.

use std::fs;
use std::io::Write as _;
use std::path::Path;

/// Replaces `path` with `bytes`: written to `<path>.tmp`, fsynced, renamed over `path`, then
/// the directory fsynced. A crash leaves the old contents or the new ones, never half of either.
/// Creates the directory if needed.
pub(crate) fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_and_rename(path, bytes, false)
}

/// [`replace`] for a secret: the file is readable by its owner alone (mode 0600 on unix) from
/// the moment it is created.
pub(crate) fn replace_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_and_rename(path, bytes, true)
}

fn write_and_rename(path: &Path, bytes: &[u8], private: bool) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    }
    let mut file = options.open(&tmp)?;
    #[cfg(unix)]
    if private {
        // A temporary file left by an earlier crash keeps its old mode: set it before writing.
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = private;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, path)?;
    // The rename itself is durable once the directory is synced.
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_replaced_whole_and_no_temporary_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("file.json");
        replace(&path, b"first").unwrap();
        replace(&path, b"second, longer").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second, longer");
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["file.json"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_private_file_is_owner_only_even_over_a_left_temporary() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        // A temporary left by a crash, readable by all.
        fs::write(dir.path().join("secret.tmp"), b"old").unwrap();
        fs::set_permissions(
            dir.path().join("secret.tmp"),
            fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        replace_private(&path, b"token").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"token");
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
