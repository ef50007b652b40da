//! Execution block headers checked against a trusted block hash (the RLP hash of the header),
//! and the execution-only trust chain: from one trusted block hash, each parent is trusted
//! because its hash is the `parentHash` of a trusted child.

use alloy_consensus::Header;
use alloy_primitives::B256;

use crate::error::{DecodeError, ExecutionError};

/// A header whose hash was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedBlock {
    /// The header.
    pub header: Header,
    /// Its hash (the trusted one it matched).
    pub hash: B256,
}

/// Decodes a header from a JSON-RPC block object (`eth_getBlockByHash` result; extra fields such
/// as `transactions` are ignored) and checks it hashes to `expected`.
pub fn verify_header_json(
    block: &serde_json::Value,
    expected: B256,
) -> Result<VerifiedBlock, ExecutionError> {
    let header: Header = serde_json::from_value(block.clone()).map_err(|e| DecodeError::Json {
        what: "block header",
        reason: e.to_string(),
    })?;
    verify_header(header, expected)
}

/// Checks `header` hashes to `expected`.
pub fn verify_header(header: Header, expected: B256) -> Result<VerifiedBlock, ExecutionError> {
    let got = header.hash_slow();
    if got != expected {
        return Err(ExecutionError::HeaderHash {
            number: header.number,
            expected,
            got,
        });
    }
    Ok(VerifiedBlock {
        header,
        hash: expected,
    })
}

/// Walks parent hashes down from a trusted block: `ancestors` must be the parent, grandparent,
/// ... of `trusted`, in that order. Returns them verified.
pub fn verify_ancestors(
    trusted: &VerifiedBlock,
    ancestors: Vec<Header>,
) -> Result<Vec<VerifiedBlock>, ExecutionError> {
    let mut expected = trusted.header.parent_hash;
    let mut verified = Vec::with_capacity(ancestors.len());
    for header in ancestors {
        let block = verify_header(header, expected)?;
        expected = block.header.parent_hash;
        verified.push(block);
    }
    Ok(verified)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_hash_is_checked() {
        let header = Header {
            number: 7,
            gas_limit: 30_000_000,
            ..Header::default()
        };
        let hash = header.hash_slow();
        assert!(verify_header(header.clone(), hash).is_ok());
        let mut other = header;
        other.gas_used = 1;
        assert!(matches!(
            verify_header(other, hash),
            Err(ExecutionError::HeaderHash { number: 7, .. })
        ));
    }

    #[test]
    fn ancestors_chain_by_parent_hash() {
        let grandparent = Header {
            number: 1,
            ..Header::default()
        };
        let parent = Header {
            number: 2,
            parent_hash: grandparent.hash_slow(),
            ..Header::default()
        };
        let child = Header {
            number: 3,
            parent_hash: parent.hash_slow(),
            ..Header::default()
        };
        let trusted = verify_header(child.clone(), child.hash_slow()).unwrap();
        let verified =
            verify_ancestors(&trusted, vec![parent.clone(), grandparent.clone()]).unwrap();
        assert_eq!(verified.len(), 2);
        assert!(verify_ancestors(&trusted, vec![grandparent]).is_err());
    }
}
