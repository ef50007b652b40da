//! The per-install API token that guards the daemon's HTTP API.
//!
//! Created on first run as 32 random bytes, hex encoded, in `<data_dir>/api-token` with mode
//! 0600; read back on every later run. A token file that is not valid is refused, never replaced,
//! so a user's existing token (and anything configured with it) is not silently lost.

use std::fs;
use std::path::{Path, PathBuf};

/// File name of the token inside the data directory.
pub const FILE_NAME: &str = "api-token";
const TOKEN_BYTES: usize = 32;

/// Why the token could not be loaded or created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The data directory or the token file could not be read or written.
    #[error("cannot use the API token file {path}: {source}")]
    Io {
        /// File or directory involved.
        path: PathBuf,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file exists but does not hold a token.
    #[error(
        "{path} does not hold a Cairn API token (expected {expected} hex characters); fix or delete it to have a new one generated"
    )]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Expected length in characters.
        expected: usize,
    },
    /// The OS random source failed.
    #[error("the system random source failed: {0}")]
    Random(String),
}

/// A secret bearer token. Its `Debug` output does not reveal it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken(String);

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(..)")
    }
}

impl ApiToken {
    /// The token text, to hand to a user or a client.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares `candidate` with the token in time independent of where they differ.
    pub fn matches(&self, candidate: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), candidate.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// Loads the token from `data_dir`, creating the directory and the token on first run.
pub fn load_or_create(data_dir: &Path) -> Result<ApiToken, TokenError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TokenError::Io { path, source }
    };
    fs::create_dir_all(data_dir).map_err(io(data_dir))?;
    let path = data_dir.join(FILE_NAME);
    match fs::read_to_string(&path) {
        Ok(text) => {
            restrict_permissions(&path).map_err(io(&path))?;
            parse(&path, &text)
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => create(&path),
        Err(err) => Err(io(&path)(err)),
    }
}

fn parse(path: &Path, text: &str) -> Result<ApiToken, TokenError> {
    let token = text.trim();
    let valid = token.len() == TOKEN_BYTES * 2 && token.bytes().all(|b| b.is_ascii_hexdigit());
    if !valid {
        return Err(TokenError::Malformed {
            path: path.to_path_buf(),
            expected: TOKEN_BYTES * 2,
        });
    }
    Ok(ApiToken(token.to_ascii_lowercase()))
}

fn create(path: &Path) -> Result<ApiToken, TokenError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(|err| TokenError::Random(err.to_string()))?;
    let token = hex::encode(bytes);
    // Owner-only from creation, and replaced whole: a crash never leaves a half token.
    crate::files::replace_private(path, token.as_bytes()).map_err(|source| TokenError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(ApiToken(token))
}

#[cfg(unix)]
fn restrict_permissions(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path)?.permissions().mode() & 0o777;
    if mode != 0o600 {
        tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "tightening API token permissions to 0600");
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict_permissions(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_run_creates_a_private_token_and_later_runs_reuse_it() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("nested/data");
        let first = load_or_create(&data_dir).unwrap();
        assert_eq!(first.expose().len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(data_dir.join(FILE_NAME))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let second = load_or_create(&data_dir).unwrap();
        assert_eq!(first, second);
        assert!(first.matches(second.expose()));
        assert!(!first.matches("0"));
        assert!(!format!("{first:?}").contains(first.expose()));
    }

    #[test]
    fn a_corrupt_token_is_refused_and_left_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        fs::write(&path, "not a token").unwrap();
        let err = load_or_create(dir.path()).unwrap_err();
        assert!(matches!(err, TokenError::Malformed { .. }), "{err}");
        assert!(err.to_string().contains("delete it"), "{err}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "not a token");
    }

    #[cfg(unix)]
    #[test]
    fn loose_permissions_are_tightened() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let token = load_or_create(dir.path()).unwrap();
        let path = dir.path().join(FILE_NAME);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(load_or_create(dir.path()).unwrap(), token);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
