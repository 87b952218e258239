// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ZeroAddress} from "./Errors.sol";
import {IAllianceRegistry, IRecordRegistry, Scopes, requireCareProvider} from "./Interfaces.sol";

/// Encrypted records registered by their custodian (the registering member). Nothing personal
/// on chain: the patient's address at this custodian, the ciphertext's CID and SHA-256, a
/// commitment to the ABE policy and a coarse category. The policy text (which may name a
/// department) stays in the sealed header; the commitment is salted with the header's random
/// stream id, so only a holder of the header can check it (crypto/policy_commitment.py).
/// CID and commitment live in the RecordRegistered event only; storage keeps what other
/// contracts check.
/// Only hospitals and clinics register records (the regulator audits, it does not hold care).
contract RecordRegistry is IRecordRegistry {
    error UnknownRecord(uint256 recordId);
    error NotCustodian(uint256 recordId, address caller);
    error AlreadySuperseded(uint256 recordId, uint256 supersededBy);
    error InvalidCategory(uint8 category);
    error InvalidRecord();
    error AlreadyErased(uint256 recordId);

    event RecordRegistered(
        uint256 indexed recordId,
        address indexed patient,
        address indexed custodian,
        uint8 category,
        bytes32 contentHash,
        string cid,
        bytes32 policyCommitment,
        uint256 supersedes
    );
    event RecordSuperseded(uint256 indexed oldRecordId, uint256 indexed newRecordId, address indexed custodian);
    /// The custodian deleted the ciphertext (crypto-shredding) at the patient's request. The
    /// event names the record and custodian only: nothing about the patient.
    event RecordErased(uint256 indexed recordId, address indexed custodian);

    IAllianceRegistry public immutable alliance;
    uint64 private _nextId = 1; // nonzero from the start: later increments cost less
    mapping(uint256 => Record) private _records;

    constructor(IAllianceRegistry alliance_) {
        alliance = alliance_;
    }

    function register(address patient, uint8 category, string calldata cid, bytes32 contentHash, bytes32 policyCommitment)
        external
        returns (uint256 recordId)
    {
        requireCareProvider(alliance, msg.sender);
        if (patient == address(0)) revert ZeroAddress();
        if (category >= Scopes.CATEGORY_COUNT) revert InvalidCategory(category);
        recordId = _store(patient, category, cid, contentHash, policyCommitment, 0);
    }

    /// A new version of a record, by its custodian: same patient and category.
    function supersede(uint256 oldRecordId, string calldata cid, bytes32 contentHash, bytes32 policyCommitment)
        external
        returns (uint256 recordId)
    {
        requireCareProvider(alliance, msg.sender);
        Record storage old = _records[oldRecordId];
        if (old.patient == address(0)) revert UnknownRecord(oldRecordId);
        if (old.custodian != msg.sender) revert NotCustodian(oldRecordId, msg.sender);
        if (old.supersededBy != 0) revert AlreadySuperseded(oldRecordId, old.supersededBy);
        recordId = _store(old.patient, old.category, cid, contentHash, policyCommitment, uint64(oldRecordId));
        old.supersededBy = uint64(recordId);
        emit RecordSuperseded(oldRecordId, recordId, msg.sender);
    }

    /// Mark records erased, by their custodian, once their ciphertext is deleted: no access
    /// can be logged for them from then on, and every index shows them as erased.
    function erase(uint256[] calldata recordIds) external {
        for (uint256 i = 0; i < recordIds.length; i++) {
            Record storage r = _records[recordIds[i]];
            if (r.patient == address(0)) revert UnknownRecord(recordIds[i]);
            if (r.custodian != msg.sender) revert NotCustodian(recordIds[i], msg.sender);
            if (r.erased) revert AlreadyErased(recordIds[i]);
            r.erased = true;
            emit RecordErased(recordIds[i], msg.sender);
        }
    }

    function getRecord(uint256 recordId) external view returns (Record memory) {
        Record memory r = _records[recordId];
        if (r.patient == address(0)) revert UnknownRecord(recordId);
        return r;
    }

    function recordCount() external view returns (uint256) {
        return _nextId - 1;
    }

    function _store(
        address patient,
        uint8 category,
        string calldata cid,
        bytes32 contentHash,
        bytes32 policyCommitment,
        uint64 supersedes
    ) private returns (uint256 recordId) {
        if (contentHash == bytes32(0) || bytes(cid).length == 0 || policyCommitment == bytes32(0)) {
            revert InvalidRecord();
        }
        recordId = _nextId++;
        _records[recordId] = Record({
            patient: patient,
            category: category,
            supersedes: supersedes,
            custodian: msg.sender,
            supersededBy: 0,
            erased: false,
            contentHash: contentHash
        });
        emit RecordRegistered(recordId, patient, msg.sender, category, contentHash, cid, policyCommitment, supersedes);
    }
}
