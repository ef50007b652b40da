// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Registry} from "./Registry.sol";

/// @title StorageMarket
/// @notice Storage deals paid from escrow while, and only while, the provider proves possession.
///
/// A deal covers one piece of data, committed to by (size, root): the root of a binary keccak
/// Merkle tree over 32-byte leaves (the data zero-padded to a power-of-two number of leaves;
/// leaf hash = keccak256(0x00 ‖ leaf), node = keccak256(left ‖ right)). The buyer opens it with a
/// quote the provider signed (EIP-712) and escrows `pricePerPeriod × numPeriods`.
///
/// Time is cut into periods of `periodDuration` seconds from the opening block. During period p
/// the provider submits one proof answering CHALLENGES leaf indices derived from the deal's seed;
/// the seed is re-mixed with `block.prevrandao` every time a period is resolved, so the indices
/// of period p are unknown until period p-1 is settled. Each proof carries the challenged
/// **bytes themselves** and their Merkle paths. A proven period credits its share of the escrow
/// to the provider; a period that ends unproven can be reported by anyone: its share is refunded
/// to the buyer and `slashPerMiss` of the provider's stake goes to the buyer.
///
/// Early end: the buyer may end a deal at any time. Periods that have not started yet are
/// refunded at once; a period already under way stays payable on proof (or refundable on miss).
contract StorageMarket is EIP712, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    uint256 public constant LEAF_SIZE = 32;
    /// @notice Leaves challenged per period. Three keeps a proof for a 1 GiB piece under 150k gas
    /// (EIP-7623 calldata floor included); over n periods a provider missing a fraction f of the
    /// data escapes with probability (1-f)^(3n).
    uint256 public constant CHALLENGES = 3;
    /// @notice Largest piece: 16 TiB (depth 39).
    uint64 public constant MAX_SIZE = uint64(1) << 44;
    uint32 public constant MIN_PERIOD_DURATION = 60;
    uint32 public constant MAX_PERIOD_DURATION = 30 days;
    uint32 public constant MAX_PERIODS = 3650;
    uint256 public constant MAX_AMOUNT = 1_000_000_000 ether;

    bytes32 public constant QUOTE_TYPEHASH = keccak256(
        "Quote(address provider,address buyer,bytes32 root,uint64 size,uint32 periodDuration,uint32 numPeriods,uint128 pricePerPeriod,uint64 expiry,uint256 salt)"
    );

    /// @notice A provider's signed offer to store one piece for one buyer.
    struct Quote {
        address provider;
        address buyer;
        bytes32 root;
        uint64 size;
        uint32 periodDuration;
        uint32 numPeriods;
        uint128 pricePerPeriod;
        uint64 expiry;
        uint256 salt;
    }

    /// @dev Packed into five slots; `nextPeriod` is the first unresolved period, the deal is over
    /// when it reaches `endPeriod`.
    struct Deal {
        address buyer;
        uint64 start;
        uint32 periodDuration;
        address provider;
        uint32 numPeriods;
        uint32 nextPeriod;
        uint32 endPeriod;
        bytes32 root;
        uint64 size;
        uint128 pricePerPeriod;
        uint32 missed;
        bytes32 seed;
    }

    IERC20 public immutable token;
    Registry public immutable registry;
    uint256 public immutable slashPerMiss;

    uint256 public dealCount;
    mapping(uint256 => Deal) private _deals;
    mapping(bytes32 => bool) public quoteUsed;
    /// @notice Earned by each provider, paid to its registry payout address on withdrawal.
    mapping(address => uint256) public earnings;
    /// @notice Refunds and slashing compensation owed to each buyer.
    mapping(address => uint256) public refunds;

    event DealOpened(
        uint256 indexed dealId,
        address indexed buyer,
        address indexed provider,
        bytes32 root,
        uint64 size,
        uint32 periodDuration,
        uint32 numPeriods,
        uint128 pricePerPeriod
    );
    event PeriodProven(uint256 indexed dealId, uint32 period);
    event PeriodMissed(uint256 indexed dealId, uint32 period, uint256 slashed);
    event DealEnded(uint256 indexed dealId, uint32 endPeriod, uint256 refund);
    event DealCompleted(uint256 indexed dealId, uint32 proven, uint32 missed);
    event EarningsWithdrawn(address indexed provider, address indexed payout, uint256 amount);
    event RefundWithdrawn(address indexed buyer, uint256 amount);

    error QuoteExpired(uint64 expiry);
    error QuoteAlreadyUsed(bytes32 digest);
    error InvalidQuoteSignature(address recovered, address provider);
    error WrongBuyer(address expected, address caller);
    error ProviderNotActive(address provider);
    error InvalidSize(uint64 size);
    error InvalidPeriodDuration(uint32 duration);
    error InvalidPeriodCount(uint32 count);
    error AmountOutOfRange(uint256 amount, uint256 max);
    error UnknownDeal(uint256 dealId);
    error DealNotActive(uint256 dealId);
    error NotProvider(address caller);
    error NotBuyer(address caller);
    error PeriodNotStarted(uint32 period, uint64 startsAt);
    error PeriodExpired(uint32 period, uint64 endedAt);
    error PeriodNotOver(uint32 period, uint64 endsAt);
    error InvalidProofLength(uint256 length, uint256 expected);
    error InvalidProof(uint256 challenge, uint256 leafIndex);
    error NothingToWithdraw();

    constructor(IERC20 token_, Registry registry_, uint256 slashPerMiss_) EIP712("CairnStorageMarket", "1") {
        if (slashPerMiss_ > MAX_AMOUNT) revert AmountOutOfRange(slashPerMiss_, MAX_AMOUNT);
        token = token_;
        registry = registry_;
        slashPerMiss = slashPerMiss_;
    }

    // ----- opening -----

    /// @notice EIP-712 digest a provider signs to offer `quote`.
    function quoteDigest(Quote calldata quote) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(QUOTE_TYPEHASH, quote)));
    }

    /// @notice Opens a deal from the provider's signed quote; the escrow is pulled with `approve`.
    function openDeal(Quote calldata quote, bytes calldata signature) external nonReentrant returns (uint256) {
        return _open(quote, signature);
    }

    /// @notice Opens a deal, authorizing the escrow with an EIP-2612 permit in the same transaction.
    function openDealWithPermit(
        Quote calldata quote,
        bytes calldata signature,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external nonReentrant returns (uint256) {
        uint256 total = uint256(quote.pricePerPeriod) * quote.numPeriods;
        // A permit front-run by someone else still leaves the allowance in place: ignore its failure
        // and let the transfer decide.
        try IERC20Permit(address(token)).permit(msg.sender, address(this), total, permitDeadline, v, r, s) {} catch {}
        return _open(quote, signature);
    }

    function _open(Quote calldata q, bytes calldata signature) private returns (uint256 dealId) {
        if (q.buyer != msg.sender) revert WrongBuyer(q.buyer, msg.sender);
        if (block.timestamp > q.expiry) revert QuoteExpired(q.expiry);
        if (q.size == 0 || q.size > MAX_SIZE) revert InvalidSize(q.size);
        if (q.periodDuration < MIN_PERIOD_DURATION || q.periodDuration > MAX_PERIOD_DURATION) {
            revert InvalidPeriodDuration(q.periodDuration);
        }
        if (q.numPeriods == 0 || q.numPeriods > MAX_PERIODS) revert InvalidPeriodCount(q.numPeriods);
        uint256 total = uint256(q.pricePerPeriod) * q.numPeriods;
        if (total > MAX_AMOUNT) revert AmountOutOfRange(total, MAX_AMOUNT);
        bytes32 digest = quoteDigest(q);
        if (quoteUsed[digest]) revert QuoteAlreadyUsed(digest);
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signature);
        if (err != ECDSA.RecoverError.NoError || recovered != q.provider) {
            revert InvalidQuoteSignature(recovered, q.provider);
        }
        if (!registry.isActiveProvider(q.provider)) revert ProviderNotActive(q.provider);
        quoteUsed[digest] = true;

        dealId = ++dealCount;
        _deals[dealId] = Deal({
            buyer: msg.sender,
            start: uint64(block.timestamp),
            periodDuration: q.periodDuration,
            provider: q.provider,
            numPeriods: q.numPeriods,
            nextPeriod: 0,
            endPeriod: q.numPeriods,
            root: q.root,
            size: q.size,
            pricePerPeriod: q.pricePerPeriod,
            missed: 0,
            seed: keccak256(abi.encodePacked(block.prevrandao, dealId, q.root))
        });
        token.safeTransferFrom(msg.sender, address(this), total);
        emit DealOpened(dealId, msg.sender, q.provider, q.root, q.size, q.periodDuration, q.numPeriods, q.pricePerPeriod);
    }

    // ----- proving -----

    /// @notice The period awaiting a proof and its challenged leaf indices.
    function challenges(uint256 dealId) external view returns (uint32 period, uint256[] memory indices) {
        Deal storage d = _existing(dealId);
        period = d.nextPeriod;
        uint256 numLeaves = (uint256(d.size) + LEAF_SIZE - 1) / LEAF_SIZE;
        indices = new uint256[](CHALLENGES);
        for (uint256 i = 0; i < CHALLENGES; ++i) {
            indices[i] = challengeIndex(d.seed, i, numLeaves);
        }
    }

    /// @notice Leaf index of challenge `i` for `seed` over `numLeaves` leaves.
    function challengeIndex(bytes32 seed, uint256 i, uint256 numLeaves) public pure returns (uint256) {
        return uint256(keccak256(abi.encodePacked(seed, i))) % numLeaves;
    }

    /// @notice Depth of the tree over `numLeaves` leaves: ceil(log2(numLeaves)).
    function treeDepth(uint256 numLeaves) public pure returns (uint256 depth) {
        while ((uint256(1) << depth) < numLeaves) ++depth;
    }

    /// @notice Proves the current period. `proof` is, for each challenge in order, the 32-byte
    /// leaf followed by its `depth` sibling hashes from the bottom up.
    function prove(uint256 dealId, bytes calldata proof) external nonReentrant {
        Deal storage d = _existing(dealId);
        if (msg.sender != d.provider) revert NotProvider(msg.sender);
        uint32 period = d.nextPeriod;
        if (period >= d.endPeriod) revert DealNotActive(dealId);
        uint64 windowStart = d.start + uint64(period) * d.periodDuration;
        if (block.timestamp < windowStart) revert PeriodNotStarted(period, windowStart);
        if (block.timestamp >= windowStart + d.periodDuration) {
            revert PeriodExpired(period, windowStart + d.periodDuration);
        }
        uint256 numLeaves = (uint256(d.size) + LEAF_SIZE - 1) / LEAF_SIZE;
        uint256 depth = treeDepth(numLeaves);
        uint256 stride = LEAF_SIZE * (depth + 1);
        if (proof.length != stride * CHALLENGES) revert InvalidProofLength(proof.length, stride * CHALLENGES);
        bytes32 seed = d.seed;
        bytes32 root = d.root;
        for (uint256 i = 0; i < CHALLENGES; ++i) {
            uint256 index = challengeIndex(seed, i, numLeaves);
            if (!_verify(proof, i * stride, depth, index, root)) revert InvalidProof(i, index);
        }
        d.seed = keccak256(abi.encodePacked(seed, block.prevrandao));
        d.nextPeriod = period + 1;
        earnings[d.provider] += d.pricePerPeriod;
        emit PeriodProven(dealId, period);
        if (period + 1 == d.endPeriod) emit DealCompleted(dealId, period + 1 - d.missed, d.missed);
    }

    /// @dev Checks one challenge: hashes the leaf at `offset` and folds its siblings up to `root`.
    function _verify(bytes calldata proof, uint256 offset, uint256 depth, uint256 index, bytes32 root)
        private
        pure
        returns (bool ok)
    {
        assembly ("memory-safe") {
            let start := add(proof.offset, offset)
            let ptr := mload(0x40)
            mstore8(ptr, 0)
            calldatacopy(add(ptr, 1), start, 32)
            let h := keccak256(ptr, 33)
            let sibling := add(start, 32)
            for { let level := 0 } lt(level, depth) { level := add(level, 1) } {
                let s := calldataload(add(sibling, shl(5, level)))
                switch and(shr(level, index), 1)
                case 0 {
                    mstore(0x00, h)
                    mstore(0x20, s)
                }
                default {
                    mstore(0x00, s)
                    mstore(0x20, h)
                }
                h := keccak256(0x00, 0x40)
            }
            ok := eq(h, root)
        }
    }

    /// @notice Resolves the current period as missed once its window is over: refunds its share to
    /// the buyer and slashes the provider. Anyone may call it.
    function reportMissed(uint256 dealId) external nonReentrant {
        Deal storage d = _existing(dealId);
        uint32 period = d.nextPeriod;
        if (period >= d.endPeriod) revert DealNotActive(dealId);
        uint64 windowEnd = d.start + uint64(period + 1) * d.periodDuration;
        if (block.timestamp < windowEnd) revert PeriodNotOver(period, windowEnd);
        d.seed = keccak256(abi.encodePacked(d.seed, block.prevrandao));
        d.nextPeriod = period + 1;
        d.missed += 1;
        refunds[d.buyer] += d.pricePerPeriod;
        uint256 slashed = registry.slash(d.provider, slashPerMiss, d.buyer);
        emit PeriodMissed(dealId, period, slashed);
        if (period + 1 == d.endPeriod) emit DealCompleted(dealId, period + 1 - d.missed, d.missed);
    }

    /// @notice The buyer ends the deal early: periods not yet started are refunded now.
    function endDeal(uint256 dealId) external nonReentrant {
        Deal storage d = _existing(dealId);
        if (msg.sender != d.buyer) revert NotBuyer(msg.sender);
        uint32 next = d.nextPeriod;
        uint32 end = d.endPeriod;
        if (next >= end) revert DealNotActive(dealId);
        uint256 elapsed = block.timestamp - d.start;
        uint256 current = elapsed / d.periodDuration; // the period under way
        uint256 newEnd = current + 1 < end ? current + 1 : end;
        if (newEnd < next) newEnd = next;
        uint256 refund = (end - newEnd) * uint256(d.pricePerPeriod);
        d.endPeriod = uint32(newEnd);
        refunds[d.buyer] += refund;
        emit DealEnded(dealId, uint32(newEnd), refund);
        if (newEnd == next) emit DealCompleted(dealId, next - d.missed, d.missed);
    }

    // ----- payouts -----

    /// @notice Pays `provider`'s earnings to its payout address in the registry. Anyone may call it.
    function withdrawEarnings(address provider) external nonReentrant {
        uint256 amount = earnings[provider];
        if (amount == 0) revert NothingToWithdraw();
        earnings[provider] = 0;
        address payout = registry.payoutOf(provider);
        token.safeTransfer(payout, amount);
        emit EarningsWithdrawn(provider, payout, amount);
    }

    /// @notice Pays the caller's refunds.
    function withdrawRefund() external nonReentrant {
        uint256 amount = refunds[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        refunds[msg.sender] = 0;
        token.safeTransfer(msg.sender, amount);
        emit RefundWithdrawn(msg.sender, amount);
    }

    // ----- views -----

    /// @notice The deal `dealId`.
    function getDeal(uint256 dealId) external view returns (Deal memory) {
        return _existing(dealId);
    }

    function _existing(uint256 dealId) private view returns (Deal storage d) {
        d = _deals[dealId];
        if (d.buyer == address(0)) revert UnknownDeal(dealId);
    }
}
