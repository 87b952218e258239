// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Eip712} from "./Eip712.sol";
import {InvalidNonce, InvalidSignature, NotMember, SignatureExpired} from "./Errors.sol";
import {
    IAllianceRegistry,
    IConsentRegistry,
    IRecordRegistry,
    IReferralRegistry,
    Roles,
    Scopes,
    requireCareProvider
} from "./Interfaces.sol";

/// Two-way referrals between members (up to a tertiary hospital, down to a community clinic)
/// with the records handed over. Lifecycle:
///   Created -> Accepted | Rejected (receiver) | Cancelled (referrer) | Withdrawn (patient)
///   Accepted -> Completed (receiver) | Cancelled (referrer) | Withdrawn (patient)
/// Only while Accepted, before its own `expiresAt`, and while the patient's consent behind it
/// (if any) is live, is the referral a basis for the receiver's access to the handed-over
/// records. Every referral expires (at most MAX_DURATION after creation, and for one created
/// on a consent not after that consent ends), so none outlives the patient's agreement.
contract ReferralRegistry is IReferralRegistry, Eip712 {
    enum Status {
        None,
        Created,
        Accepted,
        Rejected,
        Completed,
        Cancelled,
        Withdrawn // appended: the numbers above keep their meaning
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
        uint40 expiresAt; // packs with receiver: access through the referral ends at this time
    }

    bytes32 public constant REFERRAL_TYPEHASH = keccak256(
        "ReferralConsent(address patient,address referrer,address receiver,uint8 direction,"
        "uint256[] recordIds,bytes32 reasonHash,uint256 expiresAt,uint256 nonce,uint256 deadline)"
    );
    bytes32 public constant WITHDRAW_TYPEHASH =
        keccak256("Withdraw(address patient,uint256 referralId,uint256 nonce,uint256 deadline)");
    /// A referral covers one episode of care; a longer relationship is a consent's job.
    uint256 public constant MAX_DURATION = 90 days;

    error UnknownReferral(uint256 referralId);
    error InvalidTransition(uint256 referralId, Status from, Status to);
    error NotReferrer(uint256 referralId, address caller);
    error NotReceiver(uint256 referralId, address caller);
    error InvalidReceiver(address receiver);
    error NoRecords();
    error RecordNotOfPatient(uint256 recordId, address patient);
    error ConsentDoesNotCover(uint256 consentId, uint256 recordId);
    error InvalidExpiry(uint256 expiresAt, uint256 latest);
    error ExpiryBeyondConsent(uint256 consentId, uint256 expiresAt, uint256 consentUntil);
    error ReferralExpired(uint256 referralId, uint256 expiresAt);
    error NotPatient(uint256 referralId, address caller);

    event ReferralCreated(
        uint256 indexed referralId,
        address indexed patient,
        address indexed referrer,
        address receiver,
        Direction direction,
        uint256[] recordIds,
        uint256 consentId,
        bytes32 reasonHash,
        uint256 expiresAt
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
    /// the receiver, covering every handed-over record's category), ending at `expiresAt`
    /// (in the future, within MAX_DURATION, and not after the consent ends).
    function create(
        address patient,
        address receiver,
        Direction direction,
        uint256[] calldata recordIds,
        uint256 consentId,
        bytes32 reasonHash,
        uint256 expiresAt
    ) external returns (uint256 referralId) {
        _checkParties(receiver);
        _checkExpiry(expiresAt);
        uint256 consentUntil = consents.liveUntil(consentId);
        if (expiresAt > consentUntil) revert ExpiryBeyondConsent(consentId, expiresAt, consentUntil);
        for (uint256 i = 0; i < recordIds.length; i++) {
            uint8 category = _recordCategory(recordIds[i], patient);
            if (!consents.permits(consentId, patient, receiver, category, Scopes.PURPOSE_REFERRAL)) {
                revert ConsentDoesNotCover(consentId, recordIds[i]);
            }
        }
        referralId = _store(patient, receiver, direction, recordIds, consentId, reasonHash, expiresAt);
    }

    /// Creates a referral the patient signed (EIP-712 ReferralConsent, which includes
    /// `expiresAt`, so the patient agrees to how long it lasts) in the same call.
    function createWithSig(
        address patient,
        address receiver,
        Direction direction,
        uint256[] calldata recordIds,
        bytes32 reasonHash,
        uint256 expiresAt,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external returns (uint256 referralId) {
        _checkParties(receiver);
        _checkExpiry(expiresAt);
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        bytes32 structHash = _useReferralConsent(
            patient, receiver, direction, keccak256(abi.encodePacked(recordIds)), reasonHash, expiresAt, deadline
        );
        if (_recover(structHash, v, r, s) != patient) revert InvalidSignature();
        for (uint256 i = 0; i < recordIds.length; i++) {
            _recordCategory(recordIds[i], patient);
        }
        referralId = _store(patient, receiver, direction, recordIds, 0, reasonHash, expiresAt);
    }

    function accept(uint256 referralId) external {
        Referral storage f = _byReceiver(referralId);
        // Accepting would start nothing: access through an expired referral never begins.
        if (block.timestamp >= f.expiresAt) revert ReferralExpired(referralId, f.expiresAt);
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

    /// The patient ends a referral about them (any: one they signed, or one made on their
    /// consent, which they may keep for other uses). Patients hold no balance, so a member
    /// usually relays `withdrawBySig`; this is for a patient who sends its own transaction.
    function withdraw(uint256 referralId) external {
        Referral storage f = _existing(referralId);
        if (msg.sender != f.patient) revert NotPatient(referralId, msg.sender);
        _withdraw(referralId, f);
    }

    /// Withdrawal by the patient's signed EIP-712 Withdraw (nonce shared with
    /// ReferralConsent), relayed by any member. `by` in the event is the patient.
    function withdrawBySig(uint256 referralId, uint256 nonce, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
    {
        if (!alliance.isMember(msg.sender)) revert NotMember(msg.sender);
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        Referral storage f = _existing(referralId);
        address patient = f.patient;
        if (nonce != nonces[patient]) revert InvalidNonce(patient, nonces[patient]);
        bytes32 structHash = keccak256(abi.encode(WITHDRAW_TYPEHASH, patient, referralId, nonce, deadline));
        if (_recover(structHash, v, r, s) != patient) revert InvalidSignature();
        nonces[patient] = nonce + 1;
        _withdraw(referralId, f);
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
        // Access starts when the receiver accepts (not at creation) and ends with the
        // referral's own expiry, whatever its status still says.
        if (f.status != Status.Accepted || block.timestamp >= f.expiresAt) return false;
        if (f.patient != patient || f.receiver != reader || !_handedOver[referralId][recordId]) return false;
        if (!alliance.hasRole(reader, Roles.HOSPITAL | Roles.CLINIC)) return false;
        // A consent-backed referral ends when its consent is revoked or runs out.
        return f.consentId == 0 || block.timestamp < consents.liveUntil(f.consentId);
    }

    // ---- internals ---------------------------------------------------------------------

    function _checkParties(address receiver) private view {
        requireCareProvider(alliance, msg.sender);
        // The receiver will read the records: a hospital or clinic, never the regulator.
        if (receiver == msg.sender || !alliance.hasRole(receiver, Roles.HOSPITAL | Roles.CLINIC)) {
            revert InvalidReceiver(receiver);
        }
    }

    function _checkExpiry(uint256 expiresAt) private view {
        uint256 latest = block.timestamp + MAX_DURATION;
        if (expiresAt <= block.timestamp || expiresAt > latest) revert InvalidExpiry(expiresAt, latest);
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
        bytes32 reasonHash,
        uint256 expiresAt
    ) private returns (uint256 referralId) {
        if (recordIds.length == 0) revert NoRecords();
        referralId = _nextId++;
        _referrals[referralId] = Referral({
            patient: patient,
            status: Status.Created,
            direction: direction,
            consentId: uint64(consentId),
            referrer: msg.sender,
            receiver: receiver,
            expiresAt: uint40(expiresAt) // < 2^40: checked against now + MAX_DURATION
        });
        for (uint256 i = 0; i < recordIds.length; i++) {
            _handedOver[referralId][recordIds[i]] = true;
        }
        emit ReferralCreated(
            referralId, patient, msg.sender, receiver, direction, recordIds, consentId, reasonHash, expiresAt
        );
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

    /// The ReferralConsent struct hash over the patient's current nonce, which it uses up
    /// (a bad signature reverts the whole call, so the nonce is only spent by a valid one).
    function _useReferralConsent(
        address patient,
        address receiver,
        Direction direction,
        bytes32 recordIdsHash,
        bytes32 reasonHash,
        uint256 expiresAt,
        uint256 deadline
    ) private returns (bytes32) {
        uint256 nonce = nonces[patient];
        nonces[patient] = nonce + 1;
        // Two static halves concatenate to exactly abi.encode of all ten (fewer stack slots).
        return keccak256(
            bytes.concat(
                abi.encode(REFERRAL_TYPEHASH, patient, msg.sender, receiver, uint8(direction)),
                abi.encode(recordIdsHash, reasonHash, expiresAt, nonce, deadline)
            )
        );
    }

    function _withdraw(uint256 referralId, Referral storage f) private {
        Status from = f.status;
        if (from != Status.Created && from != Status.Accepted) {
            revert InvalidTransition(referralId, from, Status.Withdrawn);
        }
        f.status = Status.Withdrawn;
        emit ReferralStatusChanged(referralId, from, Status.Withdrawn, f.patient, bytes32(0));
    }

    function _move(uint256 referralId, Referral storage f, Status from, Status to, bytes32 noteHash) private {
        if (f.status != from) revert InvalidTransition(referralId, f.status, to);
        f.status = to;
        emit ReferralStatusChanged(referralId, from, to, msg.sender, noteHash);
    }
}
