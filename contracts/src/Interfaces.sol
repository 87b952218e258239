// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {NotCareProvider, NotMember} from "./Errors.sol";

// What the alliance contracts ask of each other. Addresses are wired once at deployment
// (immutable), so no contract can be re-pointed later.

/// Role bits held by a member (a member may hold several).
library Roles {
    uint8 internal constant HOSPITAL = 1;
    uint8 internal constant CLINIC = 2;
    uint8 internal constant REGULATOR = 4;
    uint8 internal constant ATTRIBUTE_AUTHORITY = 8;
    /// A hospital of the top tier (三级): the supervision dashboard's tiers are tertiary
    /// (HOSPITAL | TERTIARY), county (HOSPITAL) and township/community (CLINIC).
    uint8 internal constant TERTIARY = 16;
    uint8 internal constant ALL = 31;
}

/// Record categories (bit index in a consent's category mask) and purposes (bit index in a
/// consent's purpose mask). The Python client mirrors these numbers.
library Scopes {
    uint8 internal constant CATEGORY_COUNT = 6; // summary, lab, imaging, prescription, discharge, chronic-care
    uint8 internal constant PURPOSE_TREATMENT = 0;
    uint8 internal constant PURPOSE_REFERRAL = 1;
    uint8 internal constant PURPOSE_CONSULTATION = 2;
    uint8 internal constant PURPOSE_RESEARCH = 3;
    uint8 internal constant PURPOSE_EMERGENCY = 4;
    uint8 internal constant PURPOSE_COUNT = 5;
}

interface IAllianceRegistry {
    function isMember(address account) external view returns (bool);
    function rolesOf(address account) external view returns (uint8);
    /// True if `account` is a member holding any of the role bits in `roleMask`.
    function hasRole(address account, uint8 roleMask) external view returns (bool);
}

interface IConsentRegistry {
    function permits(uint256 consentId, address patient, address reader, uint8 category, uint8 purpose)
        external
        view
        returns (bool);
    function isRevoked(uint256 consentId) external view returns (bool);
    function liveUntil(uint256 consentId) external view returns (uint256);
}

interface IRecordRegistry {
    struct Record {
        address patient;
        uint8 category;
        uint64 supersedes;
        address custodian;
        uint64 supersededBy;
        bool erased; // the custodian honoured the patient's erasure request: nothing to read
        bytes32 contentHash;
    }

    function getRecord(uint256 recordId) external view returns (Record memory);
}

interface IReferralRegistry {
    function coversAccess(uint256 referralId, address patient, address reader, uint256 recordId)
        external
        view
        returns (bool);
}

interface IConsultationRegistry {
    function coversAccess(uint256 consultationId, address patient, address reader, uint256 recordId)
        external
        view
        returns (bool);
}

/// Only hospitals and clinics write care data (records, referrals, accesses): the regulator
/// and a bare attribute authority are members but not care providers. One external call
/// (`rolesOf` is 0 for a non-member), so outsiders still get `NotMember`.
function requireCareProvider(IAllianceRegistry alliance, address account) view {
    uint8 roles = alliance.rolesOf(account);
    if (roles == 0) revert NotMember(account);
    if (roles & (Roles.HOSPITAL | Roles.CLINIC) == 0) revert NotCareProvider(account);
}
