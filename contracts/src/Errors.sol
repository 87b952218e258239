// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

// Errors shared by every alliance contract. Each names what went wrong so clients (and
// auditors replaying a failed transaction) can tell the cases apart without parsing strings.

error NotMember(address account);
error ZeroAddress();
error InvalidSignature();
error SignatureExpired(uint256 deadline);
error InvalidNonce(address signer, uint256 expected);
error NotCareProvider(address account);
error NotRegulator(address account);
