// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Eip712} from "./Eip712.sol";
import {InvalidNonce, InvalidSignature, NotMember, SignatureExpired} from "./Errors.sol";
import {IAllianceRegistry, IConsentRegistry, IRecordRegistry, IReferralRegistry, Scopes} from "./Interfaces.sol";

/// Two-way referrals between members (up to a tertiary hospital, down to a community clinic)
/// with the records handed over. Lifecycle:
///   Created -> Accepted | Rejected (receiver) | Cancelled (referrer)
///   Accepted -> Completed (receiver) | Cancelled (referrer)
/// While Created or Accepted ("active") the referral is a basis for the receiver's access to
/// the handed-over records, as long as the patient's consent behind it is not revoked.
contract ReferralRegistry is IReferralRegistry, Eip712 {
    enum Status {
        None,
        Created,
        Accepted,
        Rejected,
        Completed,
        Cancelled
    }

    enum Direction {
        Up,
        Down
    }

    struct Referral {
        address patient;
        Status status;
        Direction direction;
        uint64 consentId; // 0 when the patient signed the referral itself
        address referrer;
        address receiver;
    }

    bytes32 public constant REFERRAL_TYPEHASH = keccak256(
        "ReferralConsent(address patient,address referrer,address receiver,uint8 direction,"
        "uint256[] recordIds,bytes32 reasonHash,uint256 nonce,uint256 deadline)"
    );

    error UnknownReferral(uint256 referralId);
    error InvalidTransition(uint256 referralId, Status from, Status to);
    error NotReferrer(uint256 referralId, address caller);
    error NotReceiver(uint256 referralId, address caller);
    error InvalidReceiver(address receiver);
    error NoRecords();
    error RecordNotOfPatient(uint256 recordId, address patient);
    error ConsentDoesNotCover(uint256 consentId, uint256 recordId);

    event ReferralCreated(
        uint256 indexed referralId,
        address indexed patient,
        address indexed referrer,
        address receiver,
        Direction direction,
        uint256[] recordIds,
        uint256 consentId,
        bytes32 reasonHash
    );
    event ReferralStatusChanged(
        uint256 indexed referralId, Status from, Status to, address indexed by, bytes32 noteHash
    );

    IAllianceRegistry public immutable alliance;
    IConsentRegistry public immutable consents;
    IRecordRegistry public immutable records;
    uint64 private _nextId = 1;
    mapping(uint256 => Referral) private _referrals;
    mapping(uint256 => mapping(uint256 => bool)) private _handedOver;
    mapping(address => uint256) public nonces;

    constructor(IAllianceRegistry alliance_, IConsentRegistry consents_, IRecordRegistry records_)
        Eip712("AllianceReferral", "1")
    {
        alliance = alliance_;
        consents = consents_;
        records = records_;
    }

    /// Creates a referral backed by the patient's live consent (purpose referral, granted to
    /// the receiver, covering every handed-over record's category).
    function create(
        address patient,
        address receiver,
        Direction direction,
        uint256[] calldata recordIds,
        uint256 consentId,
        bytes32 reasonHash
    ) external returns (uint256 referralId) {
        _checkParties(receiver);
        for (uint256 i = 0; i < recordIds.length; i++) {
            uint8 category = _recordCategory(recordIds[i], patient);
            if (!consents.permits(consentId, patient, receiver, category, Scopes.PURPOSE_REFERRAL)) {
                revert ConsentDoesNotCover(consentId, recordIds[i]);
            }
        }
        referralId = _store(patient, receiver, direction, recordIds, consentId, reasonHash);
    }

    /// Creates a referral the patient signed (EIP-712 ReferralConsent) in the same call.
    function createWithSig(
        address patient,
        address receiver,
        Direction direction,
        uint256[] calldata recordIds,
        bytes32 reasonHash,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external returns (uint256 referralId) {
        _checkParties(receiver);
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        uint256 nonce = nonces[patient];
        bytes32 structHash = keccak256(
            abi.encode(
                REFERRAL_TYPEHASH,
                patient,
                msg.sender,
                receiver,
                uint8(direction),
                keccak256(abi.encodePacked(recordIds)),
                reasonHash,
                nonce,
                deadline
            )
        );
        if (_recover(structHash, v, r, s) != patient) revert InvalidSignature();
        nonces[patient] = nonce + 1;
        for (uint256 i = 0; i < recordIds.length; i++) {
            _recordCategory(recordIds[i], patient);
        }
        referralId = _store(patient, receiver, direction, recordIds, 0, reasonHash);
    }

    function accept(uint256 referralId) external {
        Referral storage f = _byReceiver(referralId);
        _move(referralId, f, Status.Created, Status.Accepted, bytes32(0));
    }

    function reject(uint256 referralId, bytes32 reasonHash) external {
        Referral storage f = _byReceiver(referralId);
        _move(referralId, f, Status.Created, Status.Rejected, reasonHash);
    }

    function complete(uint256 referralId, bytes32 outcomeHash) external {
        Referral storage f = _byReceiver(referralId);
        _move(referralId, f, Status.Accepted, Status.Completed, outcomeHash);
    }

    function cancel(uint256 referralId, bytes32 reasonHash) external {
        Referral storage f = _existing(referralId);
        if (msg.sender != f.referrer) revert NotReferrer(referralId, msg.sender);
        Status from = f.status;
        if (from != Status.Created && from != Status.Accepted) {
            revert InvalidTransition(referralId, from, Status.Cancelled);
        }
        _move(referralId, f, from, Status.Cancelled, reasonHash);
    }

    // ---- views -------------------------------------------------------------------------

    function getReferral(uint256 referralId) external view returns (Referral memory) {
        return _referrals[referralId];
    }

    function isHandedOver(uint256 referralId, uint256 recordId) external view returns (bool) {
        return _handedOver[referralId][recordId];
    }

    function coversAccess(uint256 referralId, address patient, address reader, uint256 recordId)
        external
        view
        returns (bool)
    {
        Referral storage f = _referrals[referralId];
        if (f.status != Status.Created && f.status != Status.Accepted) return false;
        if (f.patient != patient || f.receiver != reader || !_handedOver[referralId][recordId]) return false;
        if (!alliance.isMember(reader)) return false;
        return f.consentId == 0 || !consents.isRevoked(f.consentId);
    }

    // ---- internals ---------------------------------------------------------------------

    function _checkParties(address receiver) private view {
        if (!alliance.isMember(msg.sender)) revert NotMember(msg.sender);
        if (receiver == msg.sender || !alliance.isMember(receiver)) revert InvalidReceiver(receiver);
    }

    function _recordCategory(uint256 recordId, address patient) private view returns (uint8) {
        IRecordRegistry.Record memory rec = records.getRecord(recordId);
        if (rec.patient != patient) revert RecordNotOfPatient(recordId, patient);
        return rec.category;
    }

    function _store(
        address patient,
        address receiver,
        Direction direction,
        uint256[] calldata recordIds,
        uint256 consentId,
        bytes32 reasonHash
    ) private returns (uint256 referralId) {
        if (recordIds.length == 0) revert NoRecords();
        referralId = _nextId++;
        _referrals[referralId] = Referral({
            patient: patient,
            status: Status.Created,
            direction: direction,
            consentId: uint64(consentId),
            referrer: msg.sender,
            receiver: receiver
        });
        for (uint256 i = 0; i < recordIds.length; i++) {
            _handedOver[referralId][recordIds[i]] = true;
        }
        emit ReferralCreated(referralId, patient, msg.sender, receiver, direction, recordIds, consentId, reasonHash);
        emit ReferralStatusChanged(referralId, Status.None, Status.Created, msg.sender, reasonHash);
    }

    function _existing(uint256 referralId) private view returns (Referral storage f) {
        f = _referrals[referralId];
        if (f.status == Status.None) revert UnknownReferral(referralId);
    }

    function _byReceiver(uint256 referralId) private view returns (Referral storage f) {
        f = _existing(referralId);
        if (msg.sender != f.receiver) revert NotReceiver(referralId, msg.sender);
    }

    function _move(uint256 referralId, Referral storage f, Status from, Status to, bytes32 noteHash) private {
        if (f.status != from) revert InvalidTransition(referralId, f.status, to);
        f.status = to;
        emit ReferralStatusChanged(referralId, from, to, msg.sender, noteHash);
    }
}
