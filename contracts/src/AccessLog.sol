// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {NotRegulator} from "./Errors.sol";
import {
    IAllianceRegistry,
    IConsentRegistry,
    IConsultationRegistry,
    IRecordRegistry,
    IReferralRegistry,
    Roles,
    Scopes,
    requireCareProvider
} from "./Interfaces.sol";

/// The audit trail of record accesses. A member logs each of its own accesses (only in its
/// own name) with its basis; a consent or referral basis must cover the access at that
/// moment or the call reverts. A custodian reading its own record needs no other basis.
/// Break-glass (emergency, no consent) is accepted for care providers but flagged: the reader's
/// member justifies it (naming the reviewing person by pseudonym), and the regulator closes
/// it, accepted or flagged. Reasons and justifications are off chain, encrypted to the
/// regulator's audit key (`setAuditKey`); the chain holds salted commitments to them. Only
/// hospitals and clinics log accesses: the regulator reads the trail and closes reviews. Each
/// entry names the person who read only by `staff`, a keyed pseudonym that only the reader's
/// gateway can open (to the regulator, audited); zero when the member itself read.
contract AccessLog {
    enum Basis {
        Consent,
        Referral,
        BreakGlass,
        Custodian, // appended: the numbers above keep their meaning
        Consultation // a consultant reading named records, or the requester its report
    }

    /// One access as logged: the arguments of logAccess, an element of logAccessBatch.
    struct Entry {
        uint256 recordId;
        address reader;
        uint8 purpose;
        Basis basis;
        uint256 basisId;
        bytes32 reasonHash;
        bytes32 staff;
    }

    /// The review of a break-glass access: Open until justified, closed by the regulator.
    enum Review {
        None,
        Open,
        Justified,
        Accepted,
        Flagged
    }

    struct BreakGlassEntry {
        address reader;
        address logger;
        bool justified;
        Review review; // the reviewer's pseudonym is in BreakGlassJustified only (gas)
    }

    error NotOwnAccess(address caller, address reader);
    error RecordIsErased(uint256 recordId);
    error ReaderNotCustodian(uint256 recordId, address reader);
    error BasisDoesNotCover(Basis basis, uint256 basisId);
    error InvalidPurpose(uint8 purpose);
    error MissingReason();
    error NotBreakGlass(uint256 accessId);
    error AlreadyJustified(uint256 accessId);
    error NotReader(uint256 accessId, address caller);
    error MissingReviewer();
    error NotJustified(uint256 accessId);
    error AlreadyClosed(uint256 accessId);
    error InvalidAuditKey();

    event AccessLogged(
        uint256 accessId,
        uint256 indexed recordId,
        address indexed patient,
        address indexed reader,
        address logger,
        uint8 purpose,
        Basis basis,
        uint256 basisId,
        bytes32 reasonHash,
        bytes32 staff
    );
    event BreakGlassJustified(
        uint256 indexed accessId, address indexed by, bytes32 justificationHash, bytes32 reviewer
    );
    event BreakGlassClosed(uint256 indexed accessId, address indexed regulator, bool accepted);
    event AuditKeySet(address indexed regulator, bytes32 publicKey);

    IAllianceRegistry public immutable alliance;
    IConsentRegistry public immutable consents;
    IRecordRegistry public immutable records;
    IReferralRegistry public immutable referrals;
    IConsultationRegistry public immutable consultations;
    uint64 private _nextId = 1;
    mapping(uint256 => BreakGlassEntry) private _breakGlass;
    address private _auditKeyOwner;
    bytes32 private _auditKey; // X25519 public key that break-glass reasons are sealed to

    constructor(
        IAllianceRegistry alliance_,
        IConsentRegistry consents_,
        IRecordRegistry records_,
        IReferralRegistry referrals_,
        IConsultationRegistry consultations_
    ) {
        alliance = alliance_;
        consents = consents_;
        records = records_;
        referrals = referrals_;
        consultations = consultations_;
    }

    /// Logs that `reader` (the caller itself) accessed `recordId` for `purpose` on `basis`
    /// (`basisId` is the consent, referral or consultation id; ignored for break-glass, which needs
    /// `reasonHash`, and for custodian). `staff` is the reading person's pseudonym (0: the
    /// member itself); the contract cannot check it, it only carries it into the event.
    function logAccess(
        uint256 recordId,
        address reader,
        uint8 purpose,
        Basis basis,
        uint256 basisId,
        bytes32 reasonHash,
        bytes32 staff
    ) external returns (uint256 accessId) {
        requireCareProvider(alliance, msg.sender);
        accessId = _log(Entry(recordId, reader, purpose, basis, basisId, reasonHash, staff));
    }

    /// Logs many accesses in one transaction (an API serving many readers batches them):
    /// entry i is checked exactly as `logAccess` checks it and emits the same AccessLogged
    /// event, so indexers and auditors cannot tell the two apart. Any entry that fails its
    /// check reverts the whole batch. The access ids are consecutive from the one returned.
    /// One array of entries, not one array per field: seven calldata arrays leave no stack.
    function logAccessBatch(Entry[] calldata entries) external returns (uint256 firstAccessId) {
        requireCareProvider(alliance, msg.sender);
        firstAccessId = _nextId;
        uint256 n = entries.length;
        for (uint256 i = 0; i < n; ++i) {
            _log(entries[i]);
        }
    }

    function _log(Entry memory e) private returns (uint256 accessId) {
        address reader = e.reader;
        uint8 purpose = e.purpose;
        Basis basis = e.basis;
        // Only in its own name: otherwise a member could log a read (even a break-glass one)
        // that another member never made, and the audit trail would blame that member.
        if (msg.sender != reader) revert NotOwnAccess(msg.sender, reader);
        if (purpose >= Scopes.PURPOSE_COUNT) revert InvalidPurpose(purpose);
        IRecordRegistry.Record memory rec = records.getRecord(e.recordId);
        if (rec.erased) revert RecordIsErased(e.recordId);

        accessId = _nextId++;
        if (basis == Basis.Consent) {
            if (!consents.permits(e.basisId, rec.patient, reader, rec.category, purpose)) {
                revert BasisDoesNotCover(basis, e.basisId);
            }
        } else if (basis == Basis.Referral) {
            // A referral carries care for the referred patient, not research.
            if (purpose != Scopes.PURPOSE_TREATMENT && purpose != Scopes.PURPOSE_REFERRAL) {
                revert InvalidPurpose(purpose);
            }
            if (!referrals.coversAccess(e.basisId, rec.patient, reader, e.recordId)) {
                revert BasisDoesNotCover(basis, e.basisId);
            }
        } else if (basis == Basis.Consultation) {
            // A consultation is read for itself (the consultant) or acted on (the requester).
            if (purpose != Scopes.PURPOSE_CONSULTATION && purpose != Scopes.PURPOSE_TREATMENT) {
                revert InvalidPurpose(purpose);
            }
            if (!consultations.coversAccess(e.basisId, rec.patient, reader, e.recordId)) {
                revert BasisDoesNotCover(basis, e.basisId);
            }
        } else if (basis == Basis.Custodian) {
            if (reader != rec.custodian) revert ReaderNotCustodian(e.recordId, reader);
            // An emergency read is break-glass, reviewed as such, even by the custodian.
            if (purpose == Scopes.PURPOSE_EMERGENCY) revert InvalidPurpose(purpose);
            e.basisId = 0;
        } else {
            if (purpose != Scopes.PURPOSE_EMERGENCY) revert InvalidPurpose(purpose);
            if (e.reasonHash == bytes32(0)) revert MissingReason();
            // reader == msg.sender, already checked to be a hospital or clinic
            e.basisId = 0;
            _breakGlass[accessId] =
                BreakGlassEntry({reader: reader, logger: msg.sender, justified: false, review: Review.Open});
        }
        emit AccessLogged(
            accessId, e.recordId, rec.patient, reader, msg.sender, purpose, basis, e.basisId, e.reasonHash, e.staff
        );
    }

    /// The reader's member records the justification's commitment and the reviewer's
    /// pseudonym. That the reviewer is another person, in a reviewing role, is the member's
    /// gateway's check: persons exist only under the member's pseudonyms.
    function justify(uint256 accessId, bytes32 justificationHash, bytes32 reviewer) external {
        BreakGlassEntry storage e = _breakGlass[accessId];
        if (e.reader == address(0)) revert NotBreakGlass(accessId);
        if (msg.sender != e.reader && msg.sender != e.logger) revert NotReader(accessId, msg.sender);
        if (e.review != Review.Open) {
            if (e.justified) revert AlreadyJustified(accessId);
            revert AlreadyClosed(accessId);
        }
        if (justificationHash == bytes32(0)) revert MissingReason();
        if (reviewer == bytes32(0)) revert MissingReviewer();
        e.justified = true;
        e.review = Review.Justified;
        emit BreakGlassJustified(accessId, msg.sender, justificationHash, reviewer);
    }

    /// The regulator closes a review: accepts a justified access, or flags one (justified or
    /// not: an access nobody justifies is what flagging is for).
    function closeBreakGlass(uint256 accessId, bool accepted) external {
        if (!alliance.hasRole(msg.sender, Roles.REGULATOR)) revert NotRegulator(msg.sender);
        BreakGlassEntry storage e = _breakGlass[accessId];
        if (e.reader == address(0)) revert NotBreakGlass(accessId);
        if (e.review == Review.Accepted || e.review == Review.Flagged) revert AlreadyClosed(accessId);
        if (accepted && e.review != Review.Justified) revert NotJustified(accessId);
        e.review = accepted ? Review.Accepted : Review.Flagged;
        emit BreakGlassClosed(accessId, msg.sender, accepted);
    }

    /// The regulator publishes the X25519 public key that gateways seal break-glass reasons
    /// and justifications to (a new one replaces it; AuditKeySet keeps the history).
    function setAuditKey(bytes32 publicKey) external {
        if (!alliance.hasRole(msg.sender, Roles.REGULATOR)) revert NotRegulator(msg.sender);
        if (publicKey == bytes32(0)) revert InvalidAuditKey();
        _auditKeyOwner = msg.sender;
        _auditKey = publicKey;
        emit AuditKeySet(msg.sender, publicKey);
    }

    function auditKey() external view returns (address regulator, bytes32 publicKey) {
        return (_auditKeyOwner, _auditKey);
    }

    function getBreakGlass(uint256 accessId) external view returns (BreakGlassEntry memory) {
        return _breakGlass[accessId];
    }

    function accessCount() external view returns (uint256) {
        return _nextId - 1;
    }
}
