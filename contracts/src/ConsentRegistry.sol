// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Eip712} from "./Eip712.sol";
import {InvalidNonce, InvalidSignature, NotMember, SignatureExpired, ZeroAddress} from "./Errors.sol";
import {IAllianceRegistry, IConsentRegistry, Roles, Scopes, requireCareProvider} from "./Interfaces.sol";

/// Patients' consents. A patient (a wallet address, nothing personal) signs an EIP-712 Grant
/// or Revoke and any member relays it, so the patient needs no balance. Every change emits
/// an event; `permits` and `isPermitted` answer whether an access is covered right now.
contract ConsentRegistry is IConsentRegistry, Eip712 {
    /// What the patient signs. `grantee` is one member, or zero with `granteeRole` naming a
    /// role bit (any member holding it). `categories`/`purposes` are bit masks (see Scopes).
    /// The consent is live for validFrom <= block.timestamp < validUntil.
    struct Grant {
        address patient;
        address grantee;
        uint8 granteeRole;
        uint16 categories;
        uint8 purposes;
        uint40 validFrom;
        uint40 validUntil;
        bytes32 documentHash; // hash of the FHIR Consent resource, or zero
        uint256 nonce;
        uint256 deadline; // the signature is refused after this time
    }

    // Packed into two storage slots (the gas of a relayed grant is dominated by storage).
    struct Consent {
        address patient;
        uint40 validFrom;
        uint40 validUntil;
        uint16 categories;
        address grantee;
        uint64 previous; // the patient's previous consent id: a per-patient linked list
        uint8 purposes;
        uint8 granteeRole;
        bool revoked;
    }

    struct PatientState {
        uint64 nonce;
        uint64 latest; // head of the patient's consent list
    }

    bytes32 public constant GRANT_TYPEHASH = keccak256(
        "Grant(address patient,address grantee,uint8 granteeRole,uint16 categories,uint8 purposes,"
        "uint40 validFrom,uint40 validUntil,bytes32 documentHash,uint256 nonce,uint256 deadline)"
    );
    bytes32 public constant REVOKE_TYPEHASH =
        keccak256("Revoke(address patient,uint256 consentId,uint256 nonce,uint256 deadline)");

    error UnknownConsent(uint256 consentId);
    error AlreadyRevoked(uint256 consentId);
    error NotPatient(address caller);
    error InvalidGrantee(address grantee, uint8 granteeRole);
    error InvalidScope(uint16 categories, uint8 purposes);
    error InvalidWindow(uint40 validFrom, uint40 validUntil);

    event ConsentGranted(
        uint256 indexed consentId,
        address indexed patient,
        address indexed grantee,
        uint8 granteeRole,
        uint16 categories,
        uint8 purposes,
        uint40 validFrom,
        uint40 validUntil,
        bytes32 documentHash,
        address relayer
    );
    event ConsentRevoked(uint256 indexed consentId, address indexed patient, address relayer);
    event NonceUsed(address indexed patient, uint256 nonce);
    /// A member verified the patient's real identity off chain and vouches for the address:
    /// nothing personal is stored, only who vouched for which address.
    event PatientAttested(address indexed patient, address indexed member);

    IAllianceRegistry public immutable alliance;
    uint64 private _nextId = 1; // set here so the first grant does not pay for a fresh slot
    mapping(uint256 => Consent) private _consents;
    mapping(address => PatientState) private _patients;
    mapping(address => address) private _attestedBy; // patient -> first member that attested

    constructor(IAllianceRegistry alliance_) Eip712("AllianceConsent", "1") {
        alliance = alliance_;
    }

    // ---- writes ------------------------------------------------------------------------

    /// A hospital or clinic attests that it verified this patient's real identity (real-name
    /// verification, done off chain). Gateways relay consents only for attested patients.
    function attestPatient(address patient) external {
        requireCareProvider(alliance, msg.sender);
        if (patient == address(0)) revert ZeroAddress();
        if (_attestedBy[patient] == address(0)) _attestedBy[patient] = msg.sender;
        emit PatientAttested(patient, msg.sender);
    }

    /// Records a grant signed by the patient; the caller (a member) only relays it.
    function grantBySig(Grant calldata g, uint8 v, bytes32 r, bytes32 s) external returns (uint256 consentId) {
        if (!alliance.isMember(msg.sender)) revert NotMember(msg.sender);
        if (block.timestamp > g.deadline) revert SignatureExpired(g.deadline);
        PatientState memory st = _patients[g.patient];
        if (g.nonce != st.nonce) revert InvalidNonce(g.patient, st.nonce);
        // A static struct ABI-encodes field by field, exactly EIP-712's encodeData.
        if (_recover(keccak256(abi.encode(GRANT_TYPEHASH, g)), v, r, s) != g.patient) revert InvalidSignature();
        _checkTerms(g);

        consentId = _nextId++;
        _consents[consentId] = Consent({
            patient: g.patient,
            validFrom: g.validFrom,
            validUntil: g.validUntil,
            categories: g.categories,
            grantee: g.grantee,
            previous: st.latest,
            purposes: g.purposes,
            granteeRole: g.granteeRole,
            revoked: false
        });
        _patients[g.patient] = PatientState({nonce: st.nonce + 1, latest: uint64(consentId)});
        emit ConsentGranted(
            consentId,
            g.patient,
            g.grantee,
            g.granteeRole,
            g.categories,
            g.purposes,
            g.validFrom,
            g.validUntil,
            g.documentHash,
            msg.sender
        );
    }

    /// Revokes a consent by the patient's signed Revoke, relayed by a member.
    function revokeBySig(uint256 consentId, uint256 nonce, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
    {
        if (!alliance.isMember(msg.sender)) revert NotMember(msg.sender);
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        Consent storage c = _existing(consentId);
        address patient = c.patient;
        PatientState storage st = _patients[patient];
        if (nonce != st.nonce) revert InvalidNonce(patient, st.nonce);
        bytes32 structHash = keccak256(abi.encode(REVOKE_TYPEHASH, patient, consentId, nonce, deadline));
        if (_recover(structHash, v, r, s) != patient) revert InvalidSignature();
        st.nonce += 1;
        _revoke(consentId, c);
    }

    /// Revocation by the patient's own transaction (possible where the patient may send one).
    function revoke(uint256 consentId) external {
        Consent storage c = _existing(consentId);
        if (msg.sender != c.patient) revert NotPatient(msg.sender);
        _revoke(consentId, c);
    }

    /// The patient voids any signature it has handed out but that was not relayed yet.
    function useNonce() external {
        uint64 used = _patients[msg.sender].nonce;
        _patients[msg.sender].nonce = used + 1;
        emit NonceUsed(msg.sender, used);
    }

    // ---- views -------------------------------------------------------------------------

    /// Whether a member has attested this patient (see attestPatient).
    function isKnownPatient(address patient) external view returns (bool) {
        return _attestedBy[patient] != address(0);
    }

    function nonces(address patient) external view returns (uint256) {
        return _patients[patient].nonce;
    }

    function getConsent(uint256 consentId) external view returns (Consent memory) {
        return _consents[consentId];
    }

    function isRevoked(uint256 consentId) external view returns (bool) {
        return _consents[consentId].revoked;
    }

    /// The end (validUntil) of consent `consentId` if it is live now, else 0 (unknown,
    /// revoked, not yet valid or over). A referral on the consent ends with it.
    function liveUntil(uint256 consentId) external view returns (uint256) {
        Consent storage c = _consents[consentId];
        if (c.patient == address(0) || c.revoked) return 0;
        if (block.timestamp < c.validFrom || block.timestamp >= c.validUntil) return 0;
        return c.validUntil;
    }

    /// Whether consent `consentId` is the patient's and lets `reader` access a record of
    /// `category` for `purpose` at this block's time.
    function permits(uint256 consentId, address patient, address reader, uint8 category, uint8 purpose)
        public
        view
        returns (bool)
    {
        Consent storage c = _consents[consentId];
        if (c.patient != patient || patient == address(0) || c.revoked) return false;
        if (block.timestamp < c.validFrom || block.timestamp >= c.validUntil) return false;
        if (category >= 16 || purpose >= 8) return false;
        if (c.categories & (uint16(1) << category) == 0 || c.purposes & (uint8(1) << purpose) == 0) return false;
        if (c.grantee != address(0)) return c.grantee == reader && alliance.isMember(reader);
        return alliance.hasRole(reader, c.granteeRole);
    }

    /// Whether any of the patient's consents covers the access now; returns the first
    /// (newest) one that does. Walks the patient's list: meant for eth_call, not for contracts.
    function isPermitted(address patient, address reader, uint8 category, uint8 purpose)
        external
        view
        returns (bool permitted, uint256 consentId)
    {
        for (uint256 id = _patients[patient].latest; id != 0; id = _consents[id].previous) {
            if (permits(id, patient, reader, category, purpose)) return (true, id);
        }
        return (false, 0);
    }

    /// The patient's consent ids, newest first.
    function consentIdsOf(address patient) external view returns (uint256[] memory ids) {
        uint256 n = 0;
        for (uint256 id = _patients[patient].latest; id != 0; id = _consents[id].previous) n++;
        ids = new uint256[](n);
        uint256 i = 0;
        for (uint256 id = _patients[patient].latest; id != 0; id = _consents[id].previous) ids[i++] = id;
    }

    // ---- internals ---------------------------------------------------------------------

    function _checkTerms(Grant calldata g) private view {
        if (g.grantee != address(0)) {
            // Membership of the grantee is checked when the consent is used (`permits`), not
            // here: a grant to a non-member is inert, and skipping the call keeps a relayed
            // first grant under its 120k gas budget. The client checks membership before signing.
            if (g.granteeRole != 0) revert InvalidGrantee(g.grantee, g.granteeRole);
        } else {
            uint8 role = g.granteeRole;
            // exactly one known role bit
            if (role == 0 || role & ~Roles.ALL != 0 || role & (role - 1) != 0) {
                revert InvalidGrantee(g.grantee, role);
            }
        }
        if (
            g.categories == 0 || g.categories >> Scopes.CATEGORY_COUNT != 0 || g.purposes == 0
                || g.purposes >> Scopes.PURPOSE_COUNT != 0
        ) revert InvalidScope(g.categories, g.purposes);
        if (g.validUntil <= g.validFrom || g.validUntil <= block.timestamp) {
            revert InvalidWindow(g.validFrom, g.validUntil);
        }
    }

    function _existing(uint256 consentId) private view returns (Consent storage c) {
        c = _consents[consentId];
        if (c.patient == address(0)) revert UnknownConsent(consentId);
    }

    function _revoke(uint256 consentId, Consent storage c) private {
        if (c.revoked) revert AlreadyRevoked(consentId);
        c.revoked = true;
        emit ConsentRevoked(consentId, c.patient, msg.sender);
    }
}
