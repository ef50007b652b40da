// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title CairnToken
/// @notice The ERC-20 (with EIP-2612 permit) that Cairn pays for storage and compute with, stakes
/// providers with, and rewards contributors in. Supply is capped; only MINTER_ROLE mints.
contract CairnToken is ERC20, ERC20Permit, AccessControl {
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    /// @notice One billion tokens with 18 decimals: no amount in the system can exceed this.
    uint256 public constant MAX_SUPPLY = 1_000_000_000 ether;

    /// @notice Minting `requested` would exceed the cap; only `available` remains.
    error SupplyCapExceeded(uint256 requested, uint256 available);

    constructor(address admin) ERC20("Cairn", "CAIRN") ERC20Permit("Cairn") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(MINTER_ROLE, admin);
    }

    /// @notice Mints `amount` to `to`, within MAX_SUPPLY.
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        uint256 available = MAX_SUPPLY - totalSupply();
        if (amount > available) revert SupplyCapExceeded(amount, available);
        _mint(to, amount);
    }
}
