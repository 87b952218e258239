// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {InvalidSignature} from "./Errors.sol";

/// EIP-712 domain and signature recovery for contracts that accept a patient's signed message
/// relayed by a member (the patient holds no balance and sends no transaction).
abstract contract Eip712 {
    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    // secp256k1n / 2: signatures with a larger s are the malleable twin of a valid one.
    uint256 private constant HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    bytes32 private immutable _nameHash;
    bytes32 private immutable _versionHash;

    constructor(string memory name, string memory version) {
        _nameHash = keccak256(bytes(name));
        _versionHash = keccak256(bytes(version));
    }

    function domainSeparator() public view returns (bytes32) {
        // Computed on each call (not cached) so a chain-id change can never replay old signatures.
        return keccak256(abi.encode(DOMAIN_TYPEHASH, _nameHash, _versionHash, block.chainid, address(this)));
    }

    /// Recovers the signer of an EIP-712 struct hash; reverts on a malformed signature.
    function _recover(bytes32 structHash, uint8 v, bytes32 r, bytes32 s) internal view returns (address) {
        if (uint256(s) > HALF_N || (v != 27 && v != 28)) revert InvalidSignature();
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash));
        address signer = ecrecover(digest, v, r, s);
        if (signer == address(0)) revert InvalidSignature();
        return signer;
    }
}
