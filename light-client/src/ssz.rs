//! The slice of SSZ the light client needs: bounds-checked decoding of containers (fixed fields and
//! 4-byte offsets), `hash_tree_root` building blocks (chunking, merkleization with zero-hash
//! padding, length mix-in) and Merkle branch checks with generalized indices.
//!
//! Written here rather than pulled in: the light-client types are few and mostly fixed-size, and a
//! small audited decoder keeps the wasm bundle lean.

use alloy_primitives::B256;
use sha2::{Digest, Sha256};

use crate::error::DecodeError;

/// SHA-256 of the concatenation of two 32-byte nodes.
pub(crate) fn hash_pair(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of an all-zero subtree of `depth` levels.
fn zero_hash(depth: usize) -> [u8; 32] {
    let mut node = [0u8; 32];
    for _ in 0..depth {
        node = hash_pair(&node, &node);
    }
    node
}

/// Merkleizes `chunks` as the leaves of a tree with `limit` leaves (rounded up to a power of two),
/// padding with zero chunks.
pub(crate) fn merkleize(chunks: &[[u8; 32]], limit: usize) -> [u8; 32] {
    let width = limit.max(chunks.len()).max(1).next_power_of_two();
    let depth = width.trailing_zeros() as usize;
    if chunks.is_empty() {
        return zero_hash(depth);
    }
    let mut layer: Vec<[u8; 32]> = chunks.to_vec();
    for level in 0..depth {
        if layer.len() % 2 == 1 {
            layer.push(zero_hash(level));
        }
        layer = layer
            .chunks_exact(2)
            .map(|pair| hash_pair(&pair[0], &pair[1]))
            .collect();
    }
    layer.first().copied().unwrap_or_else(|| zero_hash(depth))
}

/// `mix_in_length` for lists.
pub(crate) fn mix_in_length(root: [u8; 32], length: usize) -> [u8; 32] {
    let mut len = [0u8; 32];
    len[..8].copy_from_slice(&(length as u64).to_le_bytes());
    hash_pair(&root, &len)
}

/// Packs bytes into 32-byte chunks (the last one zero-padded).
pub(crate) fn pack_bytes(bytes: &[u8]) -> Vec<[u8; 32]> {
    bytes
        .chunks(32)
        .map(|chunk| {
            let mut out = [0u8; 32];
            out[..chunk.len()].copy_from_slice(chunk);
            out
        })
        .collect()
}

/// The chunk of a `uint64`.
pub(crate) fn u64_chunk(value: u64) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..8].copy_from_slice(&value.to_le_bytes());
    out
}

/// `hash_tree_root` of a fixed byte vector longer than 32 bytes (e.g. `Bytes48`, `Bytes96`).
pub(crate) fn bytes_vector_root(bytes: &[u8]) -> [u8; 32] {
    let chunks = pack_bytes(bytes);
    merkleize(&chunks, chunks.len())
}

/// `is_valid_merkle_branch` of the consensus specs, for a generalized index.
pub(crate) fn is_valid_merkle_branch(leaf: B256, branch: &[B256], gindex: u64, root: B256) -> bool {
    let depth = gindex_depth(gindex);
    if branch.len() != depth {
        return false;
    }
    let index = gindex - (1u64 << depth);
    let mut node: [u8; 32] = leaf.0;
    for (level, sibling) in branch.iter().enumerate() {
        node = if (index >> level) & 1 == 1 {
            hash_pair(&sibling.0, &node)
        } else {
            hash_pair(&node, &sibling.0)
        };
    }
    node == root.0
}

/// `floorlog2(gindex)`: the depth of a generalized index.
pub(crate) fn gindex_depth(gindex: u64) -> usize {
    (63 - gindex.max(1).leading_zeros()) as usize
}

/// A bounds-checked view of one SSZ container being decoded.
pub(crate) struct Container<'a> {
    what: &'static str,
    fields: Vec<&'a [u8]>,
}

/// The size of one field in a container's fixed part.
#[derive(Clone, Copy)]
pub(crate) enum Field {
    /// A fixed-size field of this many bytes.
    Fixed(usize),
    /// A variable-size field (a 4-byte offset in the fixed part).
    Variable,
}

impl<'a> Container<'a> {
    /// Splits `bytes` into the container's fields, checking offsets as the SSZ spec requires
    /// (the first offset ends the fixed part, offsets never decrease, all stay in bounds).
    pub(crate) fn split(
        what: &'static str,
        bytes: &'a [u8],
        layout: &[Field],
    ) -> Result<Self, DecodeError> {
        let fixed_len: usize = layout
            .iter()
            .map(|field| match field {
                Field::Fixed(n) => *n,
                Field::Variable => 4,
            })
            .sum();
        if bytes.len() < fixed_len {
            return Err(DecodeError::Length {
                what,
                expected: fixed_len,
                got: bytes.len(),
            });
        }
        let mut position = 0;
        // (field index, start offset) of the variable fields, and the fixed slices.
        let mut fields: Vec<&'a [u8]> = Vec::with_capacity(layout.len());
        let mut variable: Vec<(usize, usize)> = Vec::new();
        for (index, field) in layout.iter().enumerate() {
            match field {
                Field::Fixed(n) => {
                    fields.push(&bytes[position..position + n]);
                    position += n;
                }
                Field::Variable => {
                    let mut raw = [0u8; 4];
                    raw.copy_from_slice(&bytes[position..position + 4]);
                    variable.push((index, u32::from_le_bytes(raw) as usize));
                    fields.push(&[]);
                    position += 4;
                }
            }
        }
        if variable.is_empty() && bytes.len() != fixed_len {
            return Err(DecodeError::Length {
                what,
                expected: fixed_len,
                got: bytes.len(),
            });
        }
        for (i, &(index, start)) in variable.iter().enumerate() {
            if i == 0 && start != fixed_len {
                return Err(DecodeError::Offset { what });
            }
            let end = variable.get(i + 1).map_or(bytes.len(), |&(_, next)| next);
            if start > end || end > bytes.len() {
                return Err(DecodeError::Offset { what });
            }
            fields[index] = &bytes[start..end];
        }
        Ok(Self { what, fields })
    }

    /// The raw bytes of field `index`.
    pub(crate) fn field(&self, index: usize) -> Result<&'a [u8], DecodeError> {
        self.fields
            .get(index)
            .copied()
            .ok_or(DecodeError::Offset { what: self.what })
    }

    /// Field `index` as a little-endian `uint64`.
    pub(crate) fn u64(&self, index: usize) -> Result<u64, DecodeError> {
        let raw = self.field(index)?;
        let array: [u8; 8] = raw.try_into().map_err(|_| DecodeError::Length {
            what: self.what,
            expected: 8,
            got: raw.len(),
        })?;
        Ok(u64::from_le_bytes(array))
    }

    /// Field `index` as a 32-byte root.
    pub(crate) fn b256(&self, index: usize) -> Result<B256, DecodeError> {
        let raw = self.field(index)?;
        B256::try_from(raw).map_err(|_| DecodeError::Length {
            what: self.what,
            expected: 32,
            got: raw.len(),
        })
    }

    /// Field `index` as a vector of `count` 32-byte roots (a Merkle branch).
    pub(crate) fn branch(&self, index: usize) -> Result<Vec<B256>, DecodeError> {
        let raw = self.field(index)?;
        Ok(raw.chunks_exact(32).map(B256::from_slice).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merkleize_pads_with_zero_subtrees() {
        let a = [1u8; 32];
        let b = [2u8; 32];
        let expected = hash_pair(&hash_pair(&a, &b), &zero_hash(1));
        assert_eq!(merkleize(&[a, b], 3), expected);
        assert_eq!(merkleize(&[a, b], 4), expected);
        assert_eq!(merkleize(&[], 4), zero_hash(2));
        assert_eq!(merkleize(&[a], 1), a);
    }

    #[test]
    fn branch_check_follows_the_index_bits() {
        let leaf = B256::repeat_byte(7);
        let sibling = B256::repeat_byte(9);
        // gindex 3: right child of the root.
        let root = B256::from(hash_pair(&sibling.0, &leaf.0));
        assert!(is_valid_merkle_branch(leaf, &[sibling], 3, root));
        assert!(!is_valid_merkle_branch(leaf, &[sibling], 2, root));
        assert!(!is_valid_merkle_branch(leaf, &[], 3, root));
    }

    #[test]
    fn container_rejects_bad_offsets() {
        let layout = [Field::Fixed(2), Field::Variable];
        let good = [1, 2, 6, 0, 0, 0, 9, 9];
        let container = Container::split("t", &good, &layout).unwrap();
        assert_eq!(container.field(1).unwrap(), &[9, 9]);
        let bad = [1, 2, 7, 0, 0, 0, 9, 9];
        assert!(Container::split("t", &bad, &layout).is_err());
        let past_end = [1, 2, 60, 0, 0, 0];
        assert!(Container::split("t", &past_end, &layout).is_err());
        assert!(Container::split("t", &[1, 2, 3], &layout).is_err());
    }
}
