// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {
    IAllianceRegistry,
    IConsentRegistry,
    IConsultationRegistry,
    IRecordRegistry,
    Roles,
    Scopes,
    requireCareProvider
} from "./Interfaces.sol";

/// Remote consultations (a county or township doctor asks a specialist member to read named
/// records of a patient and report back). Lifecycle:
///   Requested -> Accepted | Declined (consultant) | Cancelled (requester)
///   Accepted -> Reported (consultant, naming the report's record) | Cancelled (requester)
///   Reported -> Closed (requester)
/// Every request rests on the patient's live consent for purpose consultation, granted to the
/// consultant and covering every named record's category, and ends at `expiresAt` (at most
/// MAX_DURATION away, not after the consent ends). The question and notes stay off chain: the
/// chain holds salted commitments (crypto/text_commitment.py). Each step has its own event.
contract ConsultationRegistry is IConsultationRegistry {
    enum Status {
        None,
        Requested,
        Accepted,
        Declined,
        Reported,
        Closed,
        Cancelled
    }

    struct Consultation {
        address patient;
        Status status;
        uint64 consentId;
        address requester;
        uint40 expiresAt; // packs with requester: the consultant's reads end at this time
        address consultant;
        uint64 reportRecordId; // set by `report`: the record holding the sealed report
    }

    /// A consultation answers one question; a longer relationship is a consent's or a referral's.
    uint256 public constant MAX_DURATION = 30 days;

    error UnknownConsultation(uint256 consultationId);
    error InvalidTransition(uint256 consultationId, Status from, Status to);
    error NotRequester(uint256 consultationId, address caller);
    error NotConsultant(uint256 consultationId, address caller);
    error InvalidConsultant(address consultant);
    error NoRecords();
    error MissingQuestion();
    error RecordNotOfPatient(uint256 recordId, address patient);
    error ConsentDoesNotCover(uint256 consentId, uint256 recordId);
    error InvalidExpiry(uint256 expiresAt, uint256 latest);
    error ExpiryBeyondConsent(uint256 consentId, uint256 expiresAt, uint256 consentUntil);
    error ConsultationExpired(uint256 consultationId, uint256 expiresAt);
    error InvalidReport(uint256 consultationId, uint256 recordId);

    event ConsultationRequested(
        uint256 indexed consultationId,
        address indexed patient,
        address indexed requester,
        address consultant,
        uint256[] recordIds,
        uint256 consentId,
        bytes32 questionHash,
        uint256 expiresAt
    );
    event ConsultationAccepted(uint256 indexed consultationId, address indexed consultant);
    event ConsultationDeclined(uint256 indexed consultationId, address indexed consultant, bytes32 noteHash);
    event ConsultationReported(
        uint256 indexed consultationId, address indexed consultant, uint256 reportRecordId, bytes32 noteHash
    );
    event ConsultationClosed(uint256 indexed consultationId, address indexed requester, bytes32 noteHash);
    event ConsultationCancelled(uint256 indexed consultationId, address indexed requester, bytes32 noteHash);

    IAllianceRegistry public immutable alliance;
    IConsentRegistry public immutable consents;
    IRecordRegistry public immutable records;
    uint64 private _nextId = 1;
    mapping(uint256 => Consultation) private _consultations;
    mapping(uint256 => mapping(uint256 => bool)) private _named;

    constructor(IAllianceRegistry alliance_, IConsentRegistry consents_, IRecordRegistry records_) {
        alliance = alliance_;
        consents = consents_;
        records = records_;
    }

    /// The requester (a hospital or clinic) asks `consultant` about `recordIds` of `patient`
    /// on the patient's live consent `consentId` (purpose consultation, to the consultant).
    function request(
        address patient,
        address consultant,
        uint256[] calldata recordIds,
        uint256 consentId,
        bytes32 questionHash,
        uint256 expiresAt
    ) external returns (uint256 consultationId) {
        requireCareProvider(alliance, msg.sender);
        // The consultant reads the records: a hospital or clinic, never the regulator.
        if (consultant == msg.sender || !alliance.hasRole(consultant, Roles.HOSPITAL | Roles.CLINIC)) {
            revert InvalidConsultant(consultant);
        }
        if (recordIds.length == 0) revert NoRecords();
        if (questionHash == bytes32(0)) revert MissingQuestion();
        uint256 latest = block.timestamp + MAX_DURATION;
        if (expiresAt <= block.timestamp || expiresAt > latest) revert InvalidExpiry(expiresAt, latest);
        uint256 consentUntil = consents.liveUntil(consentId);
        if (expiresAt > consentUntil) revert ExpiryBeyondConsent(consentId, expiresAt, consentUntil);
        consultationId = _nextId++;
        for (uint256 i = 0; i < recordIds.length; i++) {
            IRecordRegistry.Record memory rec = records.getRecord(recordIds[i]);
            if (rec.patient != patient) revert RecordNotOfPatient(recordIds[i], patient);
            if (!consents.permits(consentId, patient, consultant, rec.category, Scopes.PURPOSE_CONSULTATION)) {
                revert ConsentDoesNotCover(consentId, recordIds[i]);
            }
            _named[consultationId][recordIds[i]] = true;
        }
        _consultations[consultationId] = Consultation({
            patient: patient,
            status: Status.Requested,
            consentId: uint64(consentId),
            requester: msg.sender,
            expiresAt: uint40(expiresAt), // < 2^40: checked against now + MAX_DURATION
            consultant: consultant,
            reportRecordId: 0
        });
        emit ConsultationRequested(
            consultationId, patient, msg.sender, consultant, recordIds, consentId, questionHash, expiresAt
        );
    }

    function accept(uint256 consultationId) external {
        Consultation storage c = _byConsultant(consultationId);
        _live(consultationId, c); // an expired consultation never starts
        _move(consultationId, c, Status.Requested, Status.Accepted);
        emit ConsultationAccepted(consultationId, msg.sender);
    }

    function decline(uint256 consultationId, bytes32 noteHash) external {
        Consultation storage c = _byConsultant(consultationId);
        _move(consultationId, c, Status.Requested, Status.Declined);
        emit ConsultationDeclined(consultationId, msg.sender, noteHash);
    }

    /// The consultant names the record holding its sealed report: one it registered as
    /// custodian, about the same patient pseudonym, before the consultation expires.
    function report(uint256 consultationId, uint256 reportRecordId, bytes32 noteHash) external {
        Consultation storage c = _byConsultant(consultationId);
        _live(consultationId, c);
        _move(consultationId, c, Status.Accepted, Status.Reported);
        IRecordRegistry.Record memory rec = records.getRecord(reportRecordId);
        if (rec.custodian != msg.sender || rec.patient != c.patient || rec.erased) {
            revert InvalidReport(consultationId, reportRecordId);
        }
        c.reportRecordId = uint64(reportRecordId);
        emit ConsultationReported(consultationId, msg.sender, reportRecordId, noteHash);
    }

    function close(uint256 consultationId, bytes32 noteHash) external {
        Consultation storage c = _byRequester(consultationId);
        _move(consultationId, c, Status.Reported, Status.Closed);
        emit ConsultationClosed(consultationId, msg.sender, noteHash);
    }

    function cancel(uint256 consultationId, bytes32 noteHash) external {
        Consultation storage c = _byRequester(consultationId);
        Status from = c.status;
        if (from != Status.Requested && from != Status.Accepted) {
            revert InvalidTransition(consultationId, from, Status.Cancelled);
        }
        _move(consultationId, c, from, Status.Cancelled);
        emit ConsultationCancelled(consultationId, msg.sender, noteHash);
    }

    // ---- views -------------------------------------------------------------------------

    function getConsultation(uint256 consultationId) external view returns (Consultation memory) {
        return _consultations[consultationId];
    }

    function isNamed(uint256 consultationId, uint256 recordId) external view returns (bool) {
        return _named[consultationId][recordId];
    }

    /// The consultant reads the named records while the consultation is Accepted or Reported
    /// (until the requester closes it), before its expiry; the requester reads the report's
    /// record once reported. Both only while the patient's consent behind it is live.
    function coversAccess(uint256 consultationId, address patient, address reader, uint256 recordId)
        external
        view
        returns (bool)
    {
        Consultation storage c = _consultations[consultationId];
        if (c.patient != patient || patient == address(0)) return false;
        if (!alliance.hasRole(reader, Roles.HOSPITAL | Roles.CLINIC)) return false;
        if (reader == c.consultant) {
            if (c.status != Status.Accepted && c.status != Status.Reported) return false;
            if (block.timestamp >= c.expiresAt || !_named[consultationId][recordId]) return false;
        } else if (reader == c.requester) {
            if (c.status != Status.Reported && c.status != Status.Closed) return false;
            if (recordId != c.reportRecordId) return false;
        } else {
            return false;
        }
        return block.timestamp < consents.liveUntil(c.consentId);
    }

    // ---- internals ---------------------------------------------------------------------

    function _existing(uint256 consultationId) private view returns (Consultation storage c) {
        c = _consultations[consultationId];
        if (c.status == Status.None) revert UnknownConsultation(consultationId);
    }

    function _byConsultant(uint256 consultationId) private view returns (Consultation storage c) {
        c = _existing(consultationId);
        if (msg.sender != c.consultant) revert NotConsultant(consultationId, msg.sender);
    }

    function _byRequester(uint256 consultationId) private view returns (Consultation storage c) {
        c = _existing(consultationId);
        if (msg.sender != c.requester) revert NotRequester(consultationId, msg.sender);
    }

    function _live(uint256 consultationId, Consultation storage c) private view {
        if (block.timestamp >= c.expiresAt) revert ConsultationExpired(consultationId, c.expiresAt);
    }

    function _move(uint256 consultationId, Consultation storage c, Status from, Status to) private {
        if (c.status != from) revert InvalidTransition(consultationId, c.status, to);
        c.status = to;
    }
}
