// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/// @title Registry
/// @notice Who provides what on a Cairn network, and who owns which device.
///
/// Providers register a libp2p peer id, a payout address, capabilities, prices and public
/// multiaddrs, and lock a stake in CairnToken. Stake leaves only through unbonding, which waits
/// `unbondingDelay` seconds; SLASHER_ROLE (the StorageMarket) can slash active and unbonding
/// stake for missed proofs.
///
/// Devices (hotspots, meters) are registered to an owner only with the device's own EIP-712
/// signature over (chain id, registry address, device, owner, kind, nonce): nobody can claim a
/// device they do not hold, and each signature is good exactly once.
contract Registry is AccessControl, EIP712, ReentrancyGuard {
    using SafeERC20 for IERC20;

    bytes32 public constant SLASHER_ROLE = keccak256("SLASHER_ROLE");
    bytes32 public constant DEVICE_CLAIM_TYPEHASH =
        keccak256("DeviceClaim(address device,address owner,uint8 kind,uint256 nonce)");

    uint256 public constant MAX_PEER_ID_LENGTH = 64;
    uint256 public constant MAX_MULTIADDRS = 8;
    uint256 public constant MAX_MULTIADDR_LENGTH = 256;
    /// @notice Bound on any price or stake amount (the token's whole supply).
    uint256 public constant MAX_AMOUNT = 1_000_000_000 ether;
    uint64 public constant MAX_UNBONDING_DELAY = 365 days;

    enum DeviceKind {
        Hotspot,
        Meter
    }

    /// @notice What a provider offers. Prices are in token base units.
    struct ProviderInfo {
        bytes peerId;
        address payout;
        uint64 storageBytes;
        uint64 computeUnits;
        uint128 storagePricePerGiBDay;
        uint128 computePricePerUnitHour;
        bytes[] multiaddrs;
    }

    struct Provider {
        ProviderInfo info;
        uint256 stake;
        uint256 unbonding;
        uint64 unbondingReadyAt;
        bool registered;
    }

    struct Device {
        address owner;
        DeviceKind kind;
        uint64 h3Cell;
        uint64 registeredAt;
    }

    IERC20 public immutable token;
    uint256 public immutable minStake;
    uint64 public immutable unbondingDelay;

    mapping(address => Provider) private _providers;
    mapping(bytes32 => address) public peerIdOwner;
    mapping(address => Device) private _devices;
    /// @notice Next nonce a device must sign; bumps on every registration.
    mapping(address => uint256) public deviceNonce;

    event ProviderRegistered(address indexed provider, bytes peerId, address payout, uint256 stake);
    event ProviderUpdated(address indexed provider, bytes peerId, address payout);
    event StakeAdded(address indexed provider, uint256 amount, uint256 stake);
    event UnbondingRequested(address indexed provider, uint256 amount, uint256 unbonding, uint64 readyAt);
    event UnbondingWithdrawn(address indexed provider, uint256 amount);
    event Slashed(address indexed provider, uint256 amount, address indexed recipient);
    event DeviceRegistered(address indexed device, address indexed owner, DeviceKind kind, uint64 h3Cell, uint256 nonce);
    event DeviceLocationUpdated(address indexed device, uint64 h3Cell);

    error AlreadyRegistered(address provider);
    error NotRegistered(address provider);
    error InvalidPeerId(uint256 length);
    error PeerIdTaken(address owner);
    error InvalidPayout();
    error TooManyMultiaddrs(uint256 count, uint256 max);
    error InvalidMultiaddr(uint256 index, uint256 length);
    error AmountOutOfRange(uint256 amount, uint256 min, uint256 max);
    error InsufficientStake(uint256 requested, uint256 available);
    error UnbondingNotReady(uint64 readyAt, uint64 now_);
    error NothingToWithdraw();
    error InvalidUnbondingDelay(uint64 delay);
    error InvalidDeviceSignature(address recovered, address device);
    error InvalidH3Cell(uint64 cell);
    error InvalidOwner();
    error NotDeviceOwner(address device, address caller);
    error NotAHotspot(address device);
    error UnknownDevice(address device);

    constructor(IERC20 token_, uint256 minStake_, uint64 unbondingDelay_, address admin)
        EIP712("CairnRegistry", "1")
    {
        if (minStake_ == 0 || minStake_ > MAX_AMOUNT) revert AmountOutOfRange(minStake_, 1, MAX_AMOUNT);
        if (unbondingDelay_ > MAX_UNBONDING_DELAY) revert InvalidUnbondingDelay(unbondingDelay_);
        token = token_;
        minStake = minStake_;
        unbondingDelay = unbondingDelay_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    // ----- providers -----

    /// @notice Registers the caller as a provider and locks `stake` (at least `minStake`).
    function registerProvider(ProviderInfo calldata info, uint256 stake) external nonReentrant {
        Provider storage p = _providers[msg.sender];
        if (p.registered) revert AlreadyRegistered(msg.sender);
        if (stake < minStake || stake > MAX_AMOUNT) revert AmountOutOfRange(stake, minStake, MAX_AMOUNT);
        _setInfo(p, info);
        p.registered = true;
        p.stake = stake;
        token.safeTransferFrom(msg.sender, address(this), stake);
        emit ProviderRegistered(msg.sender, info.peerId, info.payout, stake);
    }

    /// @notice Replaces the caller's provider information.
    function updateProvider(ProviderInfo calldata info) external {
        Provider storage p = _providers[msg.sender];
        if (!p.registered) revert NotRegistered(msg.sender);
        delete peerIdOwner[keccak256(p.info.peerId)];
        _setInfo(p, info);
        emit ProviderUpdated(msg.sender, info.peerId, info.payout);
    }

    /// @notice Adds `amount` to the caller's stake.
    function addStake(uint256 amount) external nonReentrant {
        Provider storage p = _providers[msg.sender];
        if (!p.registered) revert NotRegistered(msg.sender);
        uint256 total = p.stake + p.unbonding + amount;
        if (amount == 0 || total > MAX_AMOUNT) revert AmountOutOfRange(amount, 1, MAX_AMOUNT - (total - amount));
        p.stake += amount;
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit StakeAdded(msg.sender, amount, p.stake);
    }

    /// @notice Starts unbonding `amount`; the whole unbonding balance is ready `unbondingDelay` from now.
    function requestUnbond(uint256 amount) external {
        Provider storage p = _providers[msg.sender];
        if (!p.registered) revert NotRegistered(msg.sender);
        if (amount == 0 || amount > p.stake) revert InsufficientStake(amount, p.stake);
        p.stake -= amount;
        p.unbonding += amount;
        p.unbondingReadyAt = uint64(block.timestamp) + unbondingDelay;
        emit UnbondingRequested(msg.sender, amount, p.unbonding, p.unbondingReadyAt);
    }

    /// @notice Pays out the caller's unbonded stake once the delay has passed.
    function withdrawUnbonded() external nonReentrant {
        Provider storage p = _providers[msg.sender];
        uint256 amount = p.unbonding;
        if (amount == 0) revert NothingToWithdraw();
        if (block.timestamp < p.unbondingReadyAt) revert UnbondingNotReady(p.unbondingReadyAt, uint64(block.timestamp));
        p.unbonding = 0;
        token.safeTransfer(msg.sender, amount);
        emit UnbondingWithdrawn(msg.sender, amount);
    }

    /// @notice Moves up to `amount` of `provider`'s stake (active first, then unbonding) to
    /// `recipient`; returns what was actually slashed.
    function slash(address provider, uint256 amount, address recipient)
        external
        onlyRole(SLASHER_ROLE)
        nonReentrant
        returns (uint256 slashed)
    {
        Provider storage p = _providers[provider];
        uint256 fromStake = amount < p.stake ? amount : p.stake;
        p.stake -= fromStake;
        uint256 rest = amount - fromStake;
        uint256 fromUnbonding = rest < p.unbonding ? rest : p.unbonding;
        p.unbonding -= fromUnbonding;
        slashed = fromStake + fromUnbonding;
        if (slashed > 0) token.safeTransfer(recipient, slashed);
        emit Slashed(provider, slashed, recipient);
    }

    /// @notice Whether `provider` is registered with at least `minStake` active.
    function isActiveProvider(address provider) external view returns (bool) {
        Provider storage p = _providers[provider];
        return p.registered && p.stake >= minStake;
    }

    /// @notice Everything known about `provider`.
    function getProvider(address provider) external view returns (Provider memory) {
        return _providers[provider];
    }

    /// @notice Where `provider` is paid.
    function payoutOf(address provider) external view returns (address) {
        return _providers[provider].info.payout;
    }

    function _setInfo(Provider storage p, ProviderInfo calldata info) private {
        uint256 peerLength = info.peerId.length;
        if (peerLength == 0 || peerLength > MAX_PEER_ID_LENGTH) revert InvalidPeerId(peerLength);
        bytes32 peerHash = keccak256(info.peerId);
        address holder = peerIdOwner[peerHash];
        if (holder != address(0) && holder != msg.sender) revert PeerIdTaken(holder);
        if (info.payout == address(0)) revert InvalidPayout();
        if (info.storagePricePerGiBDay > MAX_AMOUNT) revert AmountOutOfRange(info.storagePricePerGiBDay, 0, MAX_AMOUNT);
        if (info.computePricePerUnitHour > MAX_AMOUNT) {
            revert AmountOutOfRange(info.computePricePerUnitHour, 0, MAX_AMOUNT);
        }
        uint256 count = info.multiaddrs.length;
        if (count > MAX_MULTIADDRS) revert TooManyMultiaddrs(count, MAX_MULTIADDRS);
        for (uint256 i = 0; i < count; ++i) {
            uint256 length = info.multiaddrs[i].length;
            if (length == 0 || length > MAX_MULTIADDR_LENGTH) revert InvalidMultiaddr(i, length);
        }
        peerIdOwner[peerHash] = msg.sender;
        p.info = info;
    }

    // ----- devices -----

    /// @notice EIP-712 digest a device signs to be registered to `owner`.
    function deviceClaimDigest(address device, address owner, DeviceKind kind, uint256 nonce)
        public
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(keccak256(abi.encode(DEVICE_CLAIM_TYPEHASH, device, owner, uint8(kind), nonce)));
    }

    /// @notice Registers `device` to `owner` with the device's signature over its current nonce.
    /// Anyone may submit it (the installer's app usually does); `h3Cell` is required for hotspots
    /// and must be 0 for meters.
    function registerDevice(address device, address owner, DeviceKind kind, uint64 h3Cell, bytes calldata signature)
        external
    {
        if (owner == address(0)) revert InvalidOwner();
        uint256 nonce = deviceNonce[device];
        bytes32 digest = deviceClaimDigest(device, owner, kind, nonce);
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signature);
        if (err != ECDSA.RecoverError.NoError || recovered != device) {
            revert InvalidDeviceSignature(recovered, device);
        }
        if (kind == DeviceKind.Hotspot) {
            if (!isValidH3Cell(h3Cell)) revert InvalidH3Cell(h3Cell);
        } else if (h3Cell != 0) {
            revert InvalidH3Cell(h3Cell);
        }
        deviceNonce[device] = nonce + 1;
        _devices[device] = Device({owner: owner, kind: kind, h3Cell: h3Cell, registeredAt: uint64(block.timestamp)});
        emit DeviceRegistered(device, owner, kind, h3Cell, nonce);
    }

    /// @notice The owner moves a hotspot to another H3 cell.
    function setDeviceLocation(address device, uint64 h3Cell) external {
        Device storage d = _devices[device];
        if (d.owner == address(0)) revert UnknownDevice(device);
        if (d.owner != msg.sender) revert NotDeviceOwner(device, msg.sender);
        if (d.kind != DeviceKind.Hotspot) revert NotAHotspot(device);
        if (!isValidH3Cell(h3Cell)) revert InvalidH3Cell(h3Cell);
        d.h3Cell = h3Cell;
        emit DeviceLocationUpdated(device, h3Cell);
    }

    /// @notice The registration of `device` (owner is zero if unregistered).
    function getDevice(address device) external view returns (Device memory) {
        return _devices[device];
    }

    /// @notice Whether `cell` is a valid H3 cell index: high bit clear, mode 1 (cell), and every
    /// digit finer than its resolution set to 7.
    function isValidH3Cell(uint64 cell) public pure returns (bool) {
        if (cell >> 63 != 0) return false;
        if ((cell >> 59) & 0xF != 1) return false;
        uint64 resolution = (cell >> 52) & 0xF;
        uint64 baseCell = (cell >> 45) & 0x7F;
        if (baseCell > 121) return false;
        for (uint64 r = resolution + 1; r <= 15; ++r) {
            if ((cell >> ((15 - r) * 3)) & 7 != 7) return false;
        }
        return true;
    }
}
