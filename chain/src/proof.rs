//! The storage-proof scheme shared with `StorageMarket.sol`: commitments and possession proofs.
//!
//! A piece of `size` bytes is cut into 32-byte leaves (the last one zero-padded), padded with
//! zero leaves to a power of two, and committed to by the root of a binary keccak Merkle tree:
//! `leaf_hash = keccak256(0x00 ‖ leaf)`, `node = keccak256(left ‖ right)`. A proof answers
//! [`CHALLENGES`] leaf indices, each with the leaf's bytes themselves and its siblings bottom-up.
//!
//! Pure: no I/O; runs natively and in wasm32.

use alloy_primitives::{B256, keccak256};

/// Bytes per leaf (`StorageMarket.LEAF_SIZE`).
pub const LEAF_SIZE: usize = 32;
/// Leaves challenged per period (`StorageMarket.CHALLENGES`).
pub const CHALLENGES: usize = 3;
/// Largest piece the market accepts (`StorageMarket.MAX_SIZE`, 16 TiB).
pub const MAX_SIZE: u64 = 1 << 44;

/// Why a commitment or proof could not be built or checked.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProofError {
    /// The piece is empty or larger than [`MAX_SIZE`].
    #[error("a piece must hold 1 to {MAX_SIZE} bytes, this one has {0}")]
    InvalidSize(u64),
    /// A challenged leaf index is outside the piece.
    #[error("leaf {index} is outside a piece of {leaves} leaves")]
    IndexOutOfRange {
        /// The index asked for.
        index: u64,
        /// Leaves in the piece.
        leaves: u64,
    },
    /// A proof has the wrong length for the piece.
    #[error("a proof for depth {depth} is {expected} bytes, this one is {got}")]
    Length {
        /// Tree depth.
        depth: u32,
        /// Expected length.
        expected: usize,
        /// Actual length.
        got: usize,
    },
    /// A challenge's path does not lead to the root.
    #[error("challenge {challenge} (leaf {index}) does not match the root")]
    Mismatch {
        /// Which challenge failed.
        challenge: usize,
        /// Its leaf index.
        index: u64,
    },
}

/// What a deal commits to: the piece's size and Merkle root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Commitment {
    /// Size of the piece in bytes.
    pub size: u64,
    /// Merkle root.
    pub root: B256,
}

impl Commitment {
    /// Leaves in the piece.
    pub fn leaves(&self) -> u64 {
        leaves(self.size)
    }

    /// Depth of the tree.
    pub fn depth(&self) -> u32 {
        depth(self.leaves())
    }
}

/// Number of leaves of a piece of `size` bytes.
pub fn leaves(size: u64) -> u64 {
    size.div_ceil(LEAF_SIZE as u64)
}

/// `ceil(log2(leaves))`, as `StorageMarket.treeDepth`.
pub fn depth(leaves: u64) -> u32 {
    if leaves <= 1 {
        0
    } else {
        64 - (leaves - 1).leading_zeros()
    }
}

/// Length in bytes of a proof for a tree of `depth`.
pub fn proof_len(depth: u32) -> usize {
    CHALLENGES * LEAF_SIZE * (depth as usize + 1)
}

/// Hash of one (zero-padded) leaf.
pub fn leaf_hash(leaf: &[u8; LEAF_SIZE]) -> B256 {
    let mut buf = [0u8; LEAF_SIZE + 1];
    buf[1..].copy_from_slice(leaf);
    keccak256(buf)
}

fn node_hash(left: &B256, right: &B256) -> B256 {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(left.as_slice());
    buf[32..].copy_from_slice(right.as_slice());
    keccak256(buf)
}

/// Roots of all-zero subtrees: `zero[h]` is the root of 2^h zero leaves.
fn zero_hashes(depth: u32) -> Vec<B256> {
    let mut zeros = Vec::with_capacity(depth as usize + 1);
    zeros.push(leaf_hash(&[0u8; LEAF_SIZE]));
    for h in 0..depth as usize {
        let below = zeros[h];
        zeros.push(node_hash(&below, &below));
    }
    zeros
}

fn leaf_at(data: &[u8], index: u64) -> [u8; LEAF_SIZE] {
    let mut leaf = [0u8; LEAF_SIZE];
    let start = (index as usize).saturating_mul(LEAF_SIZE);
    if start < data.len() {
        let end = (start + LEAF_SIZE).min(data.len());
        leaf[..end - start].copy_from_slice(&data[start..end]);
    }
    leaf
}

/// The full Merkle tree of a piece held in memory: every level, for building proofs.
///
/// Memory is about the size of the data (one 32-byte hash per 32-byte leaf, plus as much again
/// for the levels above).
#[derive(Debug, Clone)]
pub struct Tree {
    size: u64,
    /// `levels[0]` are the leaf hashes (only real leaves; padding is implicit), `levels[depth]` the root.
    levels: Vec<Vec<B256>>,
    zeros: Vec<B256>,
}

impl Tree {
    /// Builds the tree of `data`.
    pub fn build(data: &[u8]) -> Result<Self, ProofError> {
        let size = data.len() as u64;
        if size == 0 || size > MAX_SIZE {
            return Err(ProofError::InvalidSize(size));
        }
        let depth = depth(leaves(size));
        let zeros = zero_hashes(depth);
        let mut level: Vec<B256> = data
            .chunks(LEAF_SIZE)
            .map(|chunk| {
                let mut leaf = [0u8; LEAF_SIZE];
                leaf[..chunk.len()].copy_from_slice(chunk);
                leaf_hash(&leaf)
            })
            .collect();
        let mut levels = Vec::with_capacity(depth as usize + 1);
        for zero in &zeros[..depth as usize] {
            let next: Vec<B256> = level
                .chunks(2)
                .map(|pair| node_hash(&pair[0], pair.get(1).unwrap_or(zero)))
                .collect();
            levels.push(std::mem::replace(&mut level, next));
        }
        levels.push(level);
        Ok(Self {
            size,
            levels,
            zeros,
        })
    }

    /// The commitment a deal is opened with.
    pub fn commitment(&self) -> Commitment {
        Commitment {
            size: self.size,
            root: self
                .levels
                .last()
                .and_then(|l| l.first())
                .copied()
                .unwrap_or_default(),
        }
    }

    /// The proof for `indices` (one per challenge, in order) over `data`, the same bytes the
    /// tree was built from.
    pub fn prove(&self, data: &[u8], indices: &[u64; CHALLENGES]) -> Result<Vec<u8>, ProofError> {
        let commitment = self.commitment();
        let leaves = commitment.leaves();
        let mut proof = Vec::with_capacity(proof_len(commitment.depth()));
        for &index in indices {
            if index >= leaves {
                return Err(ProofError::IndexOutOfRange { index, leaves });
            }
            proof.extend_from_slice(&leaf_at(data, index));
            let mut position = index as usize;
            for (h, level) in self.levels[..self.levels.len() - 1].iter().enumerate() {
                let sibling = level.get(position ^ 1).unwrap_or(&self.zeros[h]);
                proof.extend_from_slice(sibling.as_slice());
                position >>= 1;
            }
        }
        Ok(proof)
    }
}

/// The commitment of `data` (same as `Tree::build(data)?.commitment()`, with O(depth) memory).
pub fn commit(data: &[u8]) -> Result<Commitment, ProofError> {
    let size = data.len() as u64;
    if size == 0 || size > MAX_SIZE {
        return Err(ProofError::InvalidSize(size));
    }
    let depth = depth(leaves(size));
    let zeros = zero_hashes(depth);
    // A stack of pending left siblings, one per level (binary-counter Merkle builder).
    let mut stack: Vec<Option<B256>> = vec![None; depth as usize + 1];
    for chunk in data.chunks(LEAF_SIZE) {
        let mut leaf = [0u8; LEAF_SIZE];
        leaf[..chunk.len()].copy_from_slice(chunk);
        let mut hash = leaf_hash(&leaf);
        let mut h = 0;
        while let Some(left) = stack[h].take() {
            hash = node_hash(&left, &hash);
            h += 1;
        }
        stack[h] = Some(hash);
    }
    // Close the tree with zero subtrees on the right.
    let mut carry: Option<B256> = None;
    for h in 0..depth as usize {
        carry = match (stack[h].take(), carry) {
            (None, None) => None,
            (Some(left), None) => Some(node_hash(&left, &zeros[h])),
            (None, Some(right)) => Some(node_hash(&right, &zeros[h])),
            (Some(left), Some(right)) => Some(node_hash(&left, &right)),
        };
    }
    let root = match (stack[depth as usize].take(), carry) {
        (Some(root), None) | (None, Some(root)) => root,
        _ => zeros[depth as usize],
    };
    Ok(Commitment { size, root })
}

/// Leaf index of challenge `i` for `seed`, as `StorageMarket.challengeIndex`.
pub fn challenge_index(seed: B256, i: u64, leaves: u64) -> u64 {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(seed.as_slice());
    buf[56..].copy_from_slice(&i.to_be_bytes());
    let hash = alloy_primitives::U256::from_be_bytes(keccak256(buf).0);
    let index = hash % alloy_primitives::U256::from(leaves.max(1));
    index.to::<u64>()
}

/// Checks `proof` for `indices` against `commitment`, as `StorageMarket.prove` does.
pub fn verify(
    commitment: &Commitment,
    indices: &[u64; CHALLENGES],
    proof: &[u8],
) -> Result<(), ProofError> {
    let depth = commitment.depth();
    let expected = proof_len(depth);
    if proof.len() != expected {
        return Err(ProofError::Length {
            depth,
            expected,
            got: proof.len(),
        });
    }
    let stride = LEAF_SIZE * (depth as usize + 1);
    for (challenge, (&index, chunk)) in indices.iter().zip(proof.chunks(stride)).enumerate() {
        let mut leaf = [0u8; LEAF_SIZE];
        leaf.copy_from_slice(&chunk[..LEAF_SIZE]);
        let mut hash = leaf_hash(&leaf);
        for (level, sibling) in chunk[LEAF_SIZE..].chunks(32).enumerate() {
            let sibling = B256::from_slice(sibling);
            hash = if (index >> level) & 1 == 0 {
                node_hash(&hash, &sibling)
            } else {
                node_hash(&sibling, &hash)
            };
        }
        if hash != commitment.root {
            return Err(ProofError::Mismatch { challenge, index });
        }
    }
    Ok(())
}

/// A piece whose leaves all hold the same 32 bytes: its root and proofs take O(depth) to build,
/// so real proofs for 1 GiB or 1 TiB pieces can be submitted in tests and benchmarks. With random
/// leaf bytes its proofs are as incompressible as those of real data.
#[derive(Debug, Clone)]
pub struct UniformPiece {
    leaf: [u8; LEAF_SIZE],
    levels: Vec<B256>,
}

impl UniformPiece {
    /// A piece of `size` bytes (a multiple of [`LEAF_SIZE`]) whose every leaf is `leaf`.
    pub fn new(leaf: [u8; LEAF_SIZE], size: u64) -> Self {
        let depth = depth(leaves(size));
        let mut levels = vec![leaf_hash(&leaf)];
        for h in 0..depth as usize {
            let below = levels[h];
            levels.push(node_hash(&below, &below));
        }
        Self { leaf, levels }
    }

    /// The Merkle root.
    pub fn root(&self) -> B256 {
        self.levels.last().copied().unwrap_or_default()
    }

    /// A proof for any challenge (every leaf and every path is the same).
    pub fn proof(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(proof_len(self.levels.len() as u32 - 1));
        for _ in 0..CHALLENGES {
            out.extend_from_slice(&self.leaf);
            for level in &self.levels[..self.levels.len() - 1] {
                out.extend_from_slice(level.as_slice());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 256) as u8).collect()
    }

    #[test]
    fn depth_matches_the_contract() {
        assert_eq!(depth(1), 0);
        assert_eq!(depth(2), 1);
        assert_eq!(depth(3), 2);
        assert_eq!(depth(4), 2);
        assert_eq!(depth(5), 3);
        // 1 GiB of 32-byte leaves.
        assert_eq!(depth(leaves(1 << 30)), 25);
    }

    #[test]
    fn streaming_commitment_equals_the_tree_root() {
        for len in [1, 31, 32, 33, 64, 65, 96, 1000, 4096, 4097, 100_003] {
            let bytes = data(len);
            assert_eq!(
                commit(&bytes).unwrap(),
                Tree::build(&bytes).unwrap().commitment(),
                "len {len}"
            );
        }
    }

    #[test]
    fn proofs_verify_and_any_flipped_byte_is_rejected() {
        let bytes = data(10_007);
        let tree = Tree::build(&bytes).unwrap();
        let commitment = tree.commitment();
        let indices = [0, commitment.leaves() - 1, 123];
        let proof = tree.prove(&bytes, &indices).unwrap();
        assert_eq!(proof.len(), proof_len(commitment.depth()));
        verify(&commitment, &indices, &proof).unwrap();
        for position in 0..proof.len() {
            let mut bad = proof.clone();
            bad[position] ^= 0x01;
            assert!(
                verify(&commitment, &indices, &bad).is_err(),
                "flip at {position} accepted"
            );
        }
        assert!(verify(&commitment, &[1, commitment.leaves() - 1, 123], &proof).is_err());
    }

    #[test]
    fn bad_sizes_and_indices_are_refused() {
        assert_eq!(commit(&[]).unwrap_err(), ProofError::InvalidSize(0));
        let tree = Tree::build(&data(64)).unwrap();
        assert!(matches!(
            tree.prove(&data(64), &[0, 1, 2]),
            Err(ProofError::IndexOutOfRange {
                index: 2,
                leaves: 2
            })
        ));
    }

    #[test]
    fn uniform_piece_matches_the_real_tree() {
        let leaf = [0x5Au8; 32];
        let bytes: Vec<u8> = std::iter::repeat_n(leaf, 64).flatten().collect();
        let piece = UniformPiece::new(leaf, bytes.len() as u64);
        let tree = Tree::build(&bytes).unwrap();
        assert_eq!(piece.root(), tree.commitment().root);
        assert_eq!(piece.proof(), tree.prove(&bytes, &[0, 5, 63]).unwrap());
    }
}
