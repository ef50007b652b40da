//! Errors, one enum per phase: decoding what a server sent, and each verification check of the
//! sync protocol and of execution proofs, named so a user sees which check failed.

/// Input that could not be decoded (SSZ, beacon-API JSON, `eth_getProof` JSON).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// A fixed-size value or container had the wrong length.
    #[error("{what}: expected {expected} bytes, got {got}")]
    Length {
        /// What was being decoded.
        what: &'static str,
        /// Bytes expected.
        expected: usize,
        /// Bytes found.
        got: usize,
    },
    /// An SSZ offset was out of order or out of bounds.
    #[error("{what}: invalid SSZ offset")]
    Offset {
        /// What was being decoded.
        what: &'static str,
    },
    /// A variable-size field is longer than its limit.
    #[error("{what}: {got} bytes exceed the limit of {limit}")]
    TooLong {
        /// What was being decoded.
        what: &'static str,
        /// The limit.
        limit: usize,
        /// Bytes found.
        got: usize,
    },
    /// The object belongs to a fork the light client does not handle (before Capella).
    #[error("{what}: unsupported fork {fork} (the light client handles Capella and later)")]
    UnsupportedFork {
        /// What was being decoded.
        what: &'static str,
        /// The fork name or digest.
        fork: String,
    },
    /// The JSON was malformed or missing a field.
    #[error("{what}: invalid JSON: {reason}")]
    Json {
        /// What was being decoded.
        what: &'static str,
        /// The parser's message.
        reason: String,
    },
    /// A network configuration was invalid.
    #[error("invalid network configuration: {0}")]
    Config(String),
}

/// A verification check of the light-client sync protocol that failed (consensus specs,
/// `sync-protocol.md`), or a decoding failure of the input it was given.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncError {
    /// The input could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// `hash_tree_root(bootstrap.header.beacon)` is not the trusted checkpoint block root.
    #[error("bootstrap header root {got} does not match the trusted checkpoint {expected}")]
    CheckpointMismatch {
        /// The trusted block root.
        expected: alloy_primitives::B256,
        /// The root of the bootstrap header.
        got: alloy_primitives::B256,
    },
    /// A light-client header's execution payload header is not proven by its `execution_branch`
    /// against the beacon body root (or has blob fields before Deneb).
    #[error(
        "{which} header at slot {slot}: execution branch does not prove the execution payload header"
    )]
    ExecutionBranch {
        /// Which header (bootstrap, attested, finalized).
        which: &'static str,
        /// Its beacon slot.
        slot: u64,
    },
    /// The current sync committee is not proven by the bootstrap's branch against its state root.
    #[error("bootstrap: current sync committee branch does not verify against the state root")]
    CurrentSyncCommitteeBranch,
    /// The next sync committee is not proven by the update's branch.
    #[error("update: next sync committee branch does not verify against the attested state root")]
    NextSyncCommitteeBranch,
    /// The update's next sync committee contradicts the one already known for that period.
    #[error("update: next sync committee differs from the one already verified for this period")]
    NextSyncCommitteeConflict,
    /// The finalized header is not proven by the finality branch.
    #[error("update: finality branch does not verify against the attested state root")]
    FinalityBranch,
    /// A non-finality update carries a finalized header, or a non-committee update a committee.
    #[error("update: {0} must be empty when its branch is empty")]
    NotEmpty(&'static str),
    /// Fewer sync-committee participants than the minimum.
    #[error("update: {participants} sync committee participants, at least {minimum} required")]
    TooFewParticipants {
        /// Participants (set bits).
        participants: usize,
        /// The minimum.
        minimum: usize,
    },
    /// `current_slot >= signature_slot > attested_slot >= finalized_slot` does not hold.
    #[error(
        "update: slots out of order (current {current}, signature {signature}, attested {attested}, finalized {finalized})"
    )]
    SlotOrder {
        /// The current slot.
        current: u64,
        /// The signature slot.
        signature: u64,
        /// The attested header slot.
        attested: u64,
        /// The finalized header slot.
        finalized: u64,
    },
    /// The update is signed in a period the store has no committee for.
    #[error(
        "update: signature period {update} is not the store's period {store} (or the next one once known); sync the periods in between first"
    )]
    PeriodSkip {
        /// The period of the store's finalized header.
        store: u64,
        /// The period of the update's signature slot.
        update: u64,
    },
    /// The update brings nothing new (not newer than the finalized header, no new committee).
    #[error(
        "update: not relevant (attested slot {attested} is not newer than the finalized slot {finalized})"
    )]
    NotRelevant {
        /// The attested header slot.
        attested: u64,
        /// The store's finalized slot.
        finalized: u64,
    },
    /// A sync-committee public key or the signature is not a valid BLS point.
    #[error("invalid BLS {0}")]
    BlsEncoding(&'static str),
    /// The aggregate BLS signature of the sync committee does not verify.
    #[error(
        "update: sync committee aggregate signature does not verify (signature slot {signature_slot})"
    )]
    Signature {
        /// The signature slot.
        signature_slot: u64,
    },
    /// Applying an update whose finalized period does not match the store (spec assertion).
    #[error("update: finalized period {update} cannot be applied to the store's period {store}")]
    ApplyPeriod {
        /// The store's period.
        store: u64,
        /// The update's finalized period.
        update: u64,
    },
}

/// An execution-layer check that failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExecutionError {
    /// The input could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The account proof does not prove the claimed account against the state root.
    #[error("account {address}: proof does not verify against state root {state_root}: {reason}")]
    AccountProof {
        /// The account.
        address: alloy_primitives::Address,
        /// The trusted state root.
        state_root: alloy_primitives::B256,
        /// What the proof checker reported.
        reason: String,
    },
    /// A storage proof does not prove the claimed value against the account's storage root.
    #[error(
        "storage slot {slot} of {address}: proof does not verify against storage root {storage_root}: {reason}"
    )]
    StorageProof {
        /// The account.
        address: alloy_primitives::Address,
        /// The storage key.
        slot: alloy_primitives::B256,
        /// The verified storage root of the account.
        storage_root: alloy_primitives::B256,
        /// What the proof checker reported.
        reason: String,
    },
    /// Bytecode whose hash is not the account's verified code hash.
    #[error("code of {address}: keccak256 {got} is not the verified code hash {expected}")]
    CodeHash {
        /// The account.
        address: alloy_primitives::Address,
        /// The verified code hash.
        expected: alloy_primitives::B256,
        /// The hash of the code received.
        got: alloy_primitives::B256,
    },
    /// A block header whose RLP hash is not the expected block hash.
    #[error("block header {number}: hash {got} is not the expected {expected}")]
    HeaderHash {
        /// The block number.
        number: u64,
        /// The trusted hash.
        expected: alloy_primitives::B256,
        /// The hash of the header received.
        got: alloy_primitives::B256,
    },
    /// A list (transactions, receipts) whose trie root is not the header's.
    #[error("{what}: root {got} is not the header's {expected}")]
    Root {
        /// What was checked.
        what: &'static str,
        /// The header's root.
        expected: alloy_primitives::B256,
        /// The root computed from what was received.
        got: alloy_primitives::B256,
    },
    /// A transaction's claimed hash is not the hash of its encoding.
    #[error(
        "transaction #{index}: claimed hash {claimed} is not the hash of its encoding {computed}"
    )]
    TransactionHash {
        /// Its position in the block.
        index: usize,
        /// The hash the server gave.
        claimed: alloy_primitives::B256,
        /// `keccak256` of the EIP-2718 encoding.
        computed: alloy_primitives::B256,
    },
    /// A transaction's signature does not recover a sender.
    #[error("transaction #{index}: invalid signature: {reason}")]
    Signature {
        /// Its position in the block.
        index: usize,
        /// What recovery reported.
        reason: String,
    },
    /// A transaction's claimed sender is not the one its signature recovers.
    #[error("transaction #{index}: claimed sender {claimed} is not the signer {recovered}")]
    Sender {
        /// Its position in the block.
        index: usize,
        /// The `from` the server gave.
        claimed: alloy_primitives::Address,
        /// The address recovered from the signature.
        recovered: alloy_primitives::Address,
    },
    /// A transaction, receipt or log claims a position (block hash or number, transaction index
    /// or hash, log index) or a derived field (sender, gas used, created contract, effective gas
    /// price) other than the one verified or computed here.
    #[error("{what} #{index}: claimed {field} is not the verified one")]
    Claim {
        /// What carried the claim (transaction, receipt, log).
        what: &'static str,
        /// Its position in the block.
        index: usize,
        /// The field.
        field: &'static str,
    },
    /// A block's receipts do not pair one to one with its transactions.
    #[error("{receipts} receipts for {transactions} transactions")]
    ReceiptCount {
        /// Verified transactions in the block.
        transactions: usize,
        /// Receipts received.
        receipts: usize,
    },
    /// A receipt's type is not its transaction's type.
    #[error("receipt #{index}: type differs from its transaction's")]
    ReceiptType {
        /// Its position in the block.
        index: usize,
    },
    /// Cumulative gas decreases between receipts, or does not end at the header's `gasUsed`.
    #[error("receipt #{index}: cumulative gas used is inconsistent with the block")]
    CumulativeGas {
        /// The receipt's position.
        index: usize,
    },
}
