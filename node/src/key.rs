//! The node's identity key, persisted in the data directory.

use std::path::Path;

use libp2p::identity::Keypair;

use crate::NodeError;

/// File name of the key inside the data directory (protobuf-encoded ed25519 keypair).
pub const KEY_FILE: &str = "node.key";

/// Loads the key from `dir`, or creates and saves one (mode 0600) if there is none.
pub(crate) fn load_or_create(dir: &Path) -> Result<Keypair, NodeError> {
    let path = dir.join(KEY_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => Keypair::from_protobuf_encoding(&bytes).map_err(|e| NodeError::Key {
            path: path.clone(),
            reason: format!("not a libp2p keypair ({e}); move it away to create a new identity"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|e| NodeError::Key {
                path: dir.to_owned(),
                reason: format!("cannot create the data directory: {e}"),
            })?;
            let key = Keypair::generate_ed25519();
            let bytes = key.to_protobuf_encoding().map_err(|e| NodeError::Key {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            write_private(&path, &bytes).map_err(|e| NodeError::Key {
                path: path.clone(),
                reason: format!("cannot write: {e}"),
            })?;
            Ok(key)
        }
        Err(e) => Err(NodeError::Key {
            path,
            reason: format!("cannot read: {e}"),
        }),
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_persists_and_garbage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create(dir.path()).unwrap();
        let b = load_or_create(dir.path()).unwrap();
        assert_eq!(a.public().to_peer_id(), b.public().to_peer_id());
        std::fs::write(dir.path().join(KEY_FILE), b"garbage").unwrap();
        let err = load_or_create(dir.path()).unwrap_err();
        assert!(err.to_string().contains("move it away"), "{err}");
    }
}
