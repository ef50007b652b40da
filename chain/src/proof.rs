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
    /// A streamed piece got more or fewer bytes than its size.
    #[error("a piece of {size} bytes was fed {fed} bytes; feed exactly its size")]
    Fed {
        /// The piece's size.
        size: u64,
        /// Bytes fed.
        fed: u64,
    },
    /// A block root was fed where its leaves cannot be summarised (unaligned, past the end,
    /// or holding a challenged leaf).
    #[error("a block of 2^{log2} leaves cannot be fed at leaf {leaf}")]
    Block {
        /// The next leaf.
        leaf: u64,
        /// The block's size, log2 of its leaves.
        log2: u32,
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
    let mut hasher = PieceHasher::new(data.len() as u64)?;
    hasher.update(data)?;
    Ok(hasher.finish()?.0)
}

/// Builds a piece's commitment, and optionally a proof, while its bytes stream through, in
/// O(depth) memory: a provider proves a 1 GiB store by reading it once in small buffers, and a
/// buyer commits to a file without loading it.
///
/// The tree is built bottom-up as a binary counter (one pending left node per level). A
/// challenged leaf's siblings are recorded as they are combined, so the proof is ready when the
/// last byte has been hashed. Equal, byte for byte, to [`Tree::prove`] over the same bytes.
#[derive(Debug, Clone)]
pub struct PieceHasher {
    size: u64,
    fed: u64,
    leaves: u64,
    /// Leaves hashed so far.
    next_leaf: u64,
    /// Bytes of a leaf split across two `update` calls.
    partial: [u8; LEAF_SIZE],
    partial_len: usize,
    /// `stack[h]`: the pending left node at level `h`.
    stack: Vec<Option<B256>>,
    zeros: Vec<B256>,
    challenges: Option<Challenges>,
}

#[derive(Debug, Clone)]
struct Challenges {
    indices: [u64; CHALLENGES],
    leaves: [[u8; LEAF_SIZE]; CHALLENGES],
    /// `siblings[c][h]`: the sibling of challenge `c`'s path at level `h`.
    siblings: [Vec<B256>; CHALLENGES],
}

impl Challenges {
    /// Records `hash`, the node at `position` of `level`, where it is a challenged path's sibling.
    fn record(&mut self, level: usize, position: u64, hash: &B256) {
        for (c, index) in self.indices.iter().enumerate() {
            if (index >> level) ^ 1 == position {
                self.siblings[c][level] = *hash;
            }
        }
    }
}

impl PieceHasher {
    /// A hasher for a piece of exactly `size` bytes, computing only its commitment.
    pub fn new(size: u64) -> Result<Self, ProofError> {
        if size == 0 || size > MAX_SIZE {
            return Err(ProofError::InvalidSize(size));
        }
        let leaves = leaves(size);
        let depth = depth(leaves);
        Ok(Self {
            size,
            fed: 0,
            leaves,
            next_leaf: 0,
            partial: [0; LEAF_SIZE],
            partial_len: 0,
            stack: vec![None; depth as usize + 1],
            zeros: zero_hashes(depth),
            challenges: None,
        })
    }

    /// A hasher that also builds the proof for `indices` (one per challenge, in order).
    pub fn with_challenges(size: u64, indices: &[u64; CHALLENGES]) -> Result<Self, ProofError> {
        let mut hasher = Self::new(size)?;
        if let Some(&index) = indices.iter().find(|&&i| i >= hasher.leaves) {
            return Err(ProofError::IndexOutOfRange {
                index,
                leaves: hasher.leaves,
            });
        }
        let depth = hasher.stack.len() - 1;
        hasher.challenges = Some(Challenges {
            indices: *indices,
            leaves: [[0; LEAF_SIZE]; CHALLENGES],
            siblings: std::array::from_fn(|_| vec![B256::ZERO; depth]),
        });
        Ok(hasher)
    }

    /// Feeds the next bytes of the piece.
    pub fn update(&mut self, mut data: &[u8]) -> Result<(), ProofError> {
        let fed = self.fed.saturating_add(data.len() as u64);
        if fed > self.size {
            return Err(ProofError::Fed {
                size: self.size,
                fed,
            });
        }
        self.fed = fed;
        if self.partial_len > 0 {
            let take = (LEAF_SIZE - self.partial_len).min(data.len());
            self.partial[self.partial_len..self.partial_len + take].copy_from_slice(&data[..take]);
            self.partial_len += take;
            data = &data[take..];
            if self.partial_len < LEAF_SIZE {
                return Ok(());
            }
            let leaf = self.partial;
            self.partial_len = 0;
            self.push_leaf(&leaf);
        }
        let mut leaves = data.chunks_exact(LEAF_SIZE);
        for leaf in &mut leaves {
            let mut bytes = [0u8; LEAF_SIZE];
            bytes.copy_from_slice(leaf);
            self.push_leaf(&bytes);
        }
        let rest = leaves.remainder();
        self.partial[..rest.len()].copy_from_slice(rest);
        self.partial_len = rest.len();
        Ok(())
    }

    fn push_leaf(&mut self, leaf: &[u8; LEAF_SIZE]) {
        let position = self.next_leaf;
        self.next_leaf += 1;
        if let Some(ch) = &mut self.challenges {
            for (c, &index) in ch.indices.iter().enumerate() {
                if index == position {
                    ch.leaves[c] = *leaf;
                }
            }
        }
        self.push_node(0, position, leaf_hash(leaf));
    }

    /// Puts `hash`, the node at `position` of `level`, on the stack, combining it with the
    /// pending left nodes it completes (and recording challenged paths' siblings on the way).
    fn push_node(&mut self, level: usize, mut position: u64, mut hash: B256) {
        let mut h = level;
        while let Some(left) = self.stack[h].take() {
            if let Some(ch) = &mut self.challenges {
                ch.record(h, position - 1, &left);
                ch.record(h, position, &hash);
            }
            hash = node_hash(&left, &hash);
            position >>= 1;
            h += 1;
        }
        self.stack[h] = Some(hash);
    }

    /// Whether the next `2^log2` leaves can be fed as one block root ([`Self::push_block`]):
    /// they start at a multiple of `2^log2`, are all inside the piece (none is the zero-padded
    /// last leaf), and hold no challenged leaf.
    pub fn can_push_block(&self, log2: u32) -> bool {
        self.pushable_blocks(log2, 1) == 1
    }

    /// How many of the next `max` blocks of `2^log2` leaves can be fed as roots one after
    /// the other (each as [`Self::can_push_block`] would judge it in turn).
    pub fn pushable_blocks(&self, log2: u32, max: usize) -> usize {
        let count = 1u64 << log2;
        if self.partial_len != 0
            || (log2 as usize) >= self.stack.len()
            || !self.next_leaf.is_multiple_of(count)
        {
            return 0;
        }
        (0..max as u64)
            .map(|k| self.next_leaf + k * count)
            .take_while(|&start| {
                (start + count) * LEAF_SIZE as u64 <= self.size
                    && self.challenges.as_ref().is_none_or(|ch| {
                        ch.indices.iter().all(|&i| i < start || i >= start + count)
                    })
            })
            .count()
    }

    /// Feeds the next `2^log2` leaves as their subtree root ([`block_root`] of their bytes,
    /// computed wherever the caller likes, e.g. on another core). Refused unless
    /// [`Self::can_push_block`].
    pub fn push_block(&mut self, log2: u32, root: B256) -> Result<(), ProofError> {
        if !self.can_push_block(log2) {
            return Err(ProofError::Block {
                leaf: self.next_leaf,
                log2,
            });
        }
        let count = 1u64 << log2;
        let position = self.next_leaf >> log2;
        self.next_leaf += count;
        self.fed += count * LEAF_SIZE as u64;
        self.push_node(log2 as usize, position, root);
        Ok(())
    }

    /// The commitment, and the proof if challenges were given. Fails unless exactly `size`
    /// bytes were fed.
    pub fn finish(mut self) -> Result<(Commitment, Option<Vec<u8>>), ProofError> {
        if self.fed != self.size {
            return Err(ProofError::Fed {
                size: self.size,
                fed: self.fed,
            });
        }
        if self.partial_len > 0 {
            let mut leaf = [0u8; LEAF_SIZE];
            leaf[..self.partial_len].copy_from_slice(&self.partial[..self.partial_len]);
            self.partial_len = 0;
            self.push_leaf(&leaf);
        }
        // Close the tree with zero subtrees on the right. At level `h` the last real node is
        // at position `ceil(leaves / 2^h) - 1`.
        let depth = self.stack.len() - 1;
        let mut carry: Option<B256> = None;
        for h in 0..depth {
            let last = self.leaves.div_ceil(1 << h) - 1;
            let zero = self.zeros[h];
            let (left, right, left_at) = match (self.stack[h].take(), carry) {
                (None, None) => {
                    carry = None;
                    continue;
                }
                (Some(node), None) | (None, Some(node)) => (node, zero, last),
                (Some(left), Some(right)) => (left, right, last - 1),
            };
            if let Some(ch) = &mut self.challenges {
                ch.record(h, left_at, &left);
                ch.record(h, left_at + 1, &right);
            }
            carry = Some(node_hash(&left, &right));
        }
        let root = match (self.stack[depth].take(), carry) {
            (Some(root), None) | (None, Some(root)) => root,
            _ => self.zeros[depth],
        };
        let commitment = Commitment {
            size: self.size,
            root,
        };
        let proof = self.challenges.map(|ch| {
            let mut proof = Vec::with_capacity(proof_len(depth as u32));
            for (leaf, siblings) in ch.leaves.iter().zip(&ch.siblings) {
                proof.extend_from_slice(leaf);
                for sibling in siblings {
                    proof.extend_from_slice(sibling.as_slice());
                }
            }
            proof
        });
        Ok((commitment, proof))
    }
}

/// The Merkle root of a block of `2^k` whole leaves (`data.len()` is `32 * 2^k`), as fed to
/// [`PieceHasher::push_block`]. Pure, so callers can hash blocks on several cores.
pub fn block_root(data: &[u8]) -> Result<B256, ProofError> {
    let leaves = data.len() / LEAF_SIZE;
    if !data.len().is_multiple_of(LEAF_SIZE) || !leaves.is_power_of_two() {
        return Err(ProofError::InvalidSize(data.len() as u64));
    }
    let mut stack: Vec<Option<B256>> = vec![None; leaves.trailing_zeros() as usize + 1];
    for leaf in data.chunks_exact(LEAF_SIZE) {
        let mut bytes = [0u8; LEAF_SIZE];
        bytes.copy_from_slice(leaf);
        let mut hash = leaf_hash(&bytes);
        let mut h = 0;
        while let Some(left) = stack[h].take() {
            hash = node_hash(&left, &hash);
            h += 1;
        }
        stack[h] = Some(hash);
    }
    Ok(stack.pop().flatten().unwrap_or_default())
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
    fn streamed_proofs_equal_the_tree_proofs_for_any_split() {
        for len in [1usize, 31, 32, 33, 64, 65, 96, 97, 1000, 4096, 4097, 10_007] {
            let bytes = data(len);
            let tree = Tree::build(&bytes).unwrap();
            let leaves = leaves(len as u64);
            let picks = [
                [0, leaves - 1, leaves / 2],
                [leaves - 1, 0, 0],
                [leaves / 3, (leaves * 2) / 3, leaves.saturating_sub(2)],
            ];
            for indices in picks {
                let expected = tree.prove(&bytes, &indices).unwrap();
                for split in [1usize, 7, 32, 33, 1000, len] {
                    let mut hasher = PieceHasher::with_challenges(len as u64, &indices).unwrap();
                    for piece in bytes.chunks(split) {
                        hasher.update(piece).unwrap();
                    }
                    let (commitment, proof) = hasher.finish().unwrap();
                    assert_eq!(commitment, tree.commitment(), "len {len} split {split}");
                    assert_eq!(
                        proof.as_deref(),
                        Some(&expected[..]),
                        "len {len} split {split} indices {indices:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn block_roots_fed_in_place_of_bytes_give_the_same_proof() {
        // 40 blocks of 4 leaves and a ragged tail; challenges inside blocks 0 and 21.
        let bytes = data(40 * 4 * LEAF_SIZE + 77);
        let leaves = leaves(bytes.len() as u64);
        let indices = [1, 85, leaves - 1];
        let expected = Tree::build(&bytes)
            .unwrap()
            .prove(&bytes, &indices)
            .unwrap();
        let mut hasher = PieceHasher::with_challenges(bytes.len() as u64, &indices).unwrap();
        let block = 4 * LEAF_SIZE;
        let mut pushed = 0;
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            if rest.len() >= block && hasher.can_push_block(2) {
                hasher
                    .push_block(2, block_root(&rest[..block]).unwrap())
                    .unwrap();
                pushed += 1;
                rest = &rest[block..];
            } else {
                let n = rest.len().min(block);
                hasher.update(&rest[..n]).unwrap();
                rest = &rest[n..];
            }
        }
        // Every block but the two challenged ones went in as a root.
        assert_eq!(pushed, 38);
        let (commitment, proof) = hasher.finish().unwrap();
        assert_eq!(commitment, commit(&bytes).unwrap());
        assert_eq!(proof.unwrap(), expected);
        // Unaligned, or over a challenged leaf: refused.
        let mut hasher = PieceHasher::with_challenges(bytes.len() as u64, &indices).unwrap();
        assert!(!hasher.can_push_block(2));
        assert!(hasher.push_block(2, B256::ZERO).is_err());
        hasher.update(&bytes[..LEAF_SIZE]).unwrap();
        assert!(hasher.push_block(2, B256::ZERO).is_err());
        assert!(block_root(&bytes[..3 * LEAF_SIZE]).is_err());
        // After block 0, blocks 1 to 20 can go in as roots; block 21 holds leaf 85.
        let mut hasher = PieceHasher::with_challenges(bytes.len() as u64, &indices).unwrap();
        assert_eq!(hasher.pushable_blocks(2, 40), 0);
        hasher.update(&bytes[..block]).unwrap();
        assert_eq!(hasher.pushable_blocks(2, 40), 20);
        assert_eq!(hasher.pushable_blocks(2, 5), 5);
    }

    #[test]
    fn a_stream_of_the_wrong_length_is_refused() {
        let mut short = PieceHasher::new(100).unwrap();
        short.update(&data(99)).unwrap();
        assert_eq!(
            short.finish().unwrap_err(),
            ProofError::Fed { size: 100, fed: 99 }
        );
        let mut long = PieceHasher::new(100).unwrap();
        long.update(&data(60)).unwrap();
        assert_eq!(
            long.update(&data(41)).unwrap_err(),
            ProofError::Fed {
                size: 100,
                fed: 101
            }
        );
        assert!(matches!(
            PieceHasher::with_challenges(64, &[0, 2, 1]),
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
