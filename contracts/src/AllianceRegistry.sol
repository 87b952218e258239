// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {NotMember, NotRegulator, ZeroAddress} from "./Errors.sol";
import {IAllianceRegistry, Roles} from "./Interfaces.sol";

/// The alliance's members, their roles and ABE public-parameter hashes, the directory of
/// their gateways, and the M-of-N governance that changes them. The ledger node asks
/// `isMember` to admit transactions.
contract AllianceRegistry is IAllianceRegistry {
    enum ProposalKind {
        AddMember,
        RemoveMember,
        SetRoles,
        SetThreshold,
        ClearGateway // appended: the numbers above keep their meaning
    }

    struct Member {
        uint8 roles;
        bool active;
        bytes32 abeParamsHash;
        string name;
    }

    /// Where a member's gateway serves ciphertext to other members, and the SHA-256 of its
    /// TLS certificate (other gateways pin it).
    struct Gateway {
        string url;
        bytes32 tlsFingerprint;
    }

    struct Proposal {
        ProposalKind kind;
        bool executed;
        uint8 roles;
        uint32 approvals;
        uint64 epoch;
        address account;
        address proposer;
        uint256 threshold;
        bytes32 abeParamsHash;
        string name;
    }

    error AlreadyMember(address account);
    error InvalidRoles(uint8 roles);
    error InvalidThreshold(uint256 threshold, uint256 memberCount);
    error UnknownProposal(uint256 proposalId);
    error ProposalAlreadyExecuted(uint256 proposalId);
    error AlreadyApproved(uint256 proposalId, address member);
    error StaleProposal(uint256 proposalId);
    error LengthMismatch();
    error InvalidGatewayUrl();
    error MissingTlsFingerprint();
    error NoGateway(address account);
    error UnsupportedProposalKind(ProposalKind kind);
    error MissingPseudonym();

    event MemberAdded(address indexed account, uint8 roles, string name, bytes32 abeParamsHash);
    event MemberRemoved(address indexed account);
    event RolesChanged(address indexed account, uint8 oldRoles, uint8 newRoles);
    event ThresholdChanged(uint256 oldThreshold, uint256 newThreshold);
    event AbeParamsChanged(address indexed account, bytes32 abeParamsHash);
    event GatewaySet(address indexed member, string url, bytes32 tlsFingerprint);
    event GatewayCleared(address indexed member);
    event StaffRevealed(address indexed member, bytes32 indexed staff, address indexed regulator);
    event ProposalCreated(
        uint256 indexed proposalId,
        ProposalKind kind,
        address indexed proposer,
        address indexed account,
        uint8 roles,
        uint256 threshold
    );
    event ProposalApproved(uint256 indexed proposalId, address indexed approver, uint256 approvals);
    event ProposalExecuted(uint256 indexed proposalId);

    mapping(address => Member) private _members;
    address[] private _memberList;
    mapping(address => uint256) private _listIndex; // position + 1; 0 = absent
    mapping(uint256 => Proposal) private _proposals;
    mapping(uint256 => mapping(address => bool)) private _approved;
    mapping(address => Gateway) private _gateways;

    uint256 public threshold;
    uint256 public proposalCount;
    /// Bumped by every membership or threshold change: approvals given under an older
    /// membership no longer count, so pending proposals must be proposed again.
    uint64 public epoch;

    modifier onlyMember() {
        if (!_members[msg.sender].active) revert NotMember(msg.sender);
        _;
    }

    constructor(
        address[] memory accounts,
        uint8[] memory roles,
        string[] memory names,
        bytes32[] memory abeParamsHashes,
        uint256 threshold_
    ) {
        uint256 n = accounts.length;
        if (roles.length != n || names.length != n || abeParamsHashes.length != n) revert LengthMismatch();
        for (uint256 i = 0; i < n; i++) {
            _addMember(accounts[i], roles[i], names[i], abeParamsHashes[i]);
        }
        if (threshold_ == 0 || threshold_ > n) revert InvalidThreshold(threshold_, n);
        threshold = threshold_;
        emit ThresholdChanged(0, threshold_);
    }

    // ---- views -------------------------------------------------------------------------

    function isMember(address account) external view returns (bool) {
        return _members[account].active;
    }

    function rolesOf(address account) external view returns (uint8) {
        Member storage m = _members[account];
        return m.active ? m.roles : 0;
    }

    function hasRole(address account, uint8 roleMask) external view returns (bool) {
        Member storage m = _members[account];
        return m.active && (m.roles & roleMask) != 0;
    }

    function getMember(address account) external view returns (Member memory) {
        return _members[account];
    }

    function getMembers() external view returns (address[] memory) {
        return _memberList;
    }

    function memberCount() external view returns (uint256) {
        return _memberList.length;
    }

    /// A member's gateway; an empty url when it has none.
    function gatewayOf(address account) external view returns (string memory url, bytes32 tlsFingerprint) {
        Gateway storage g = _gateways[account];
        return (g.url, g.tlsFingerprint);
    }

    function getProposal(uint256 proposalId) external view returns (Proposal memory) {
        return _proposals[proposalId];
    }

    function hasApproved(uint256 proposalId, address member) external view returns (bool) {
        return _approved[proposalId][member];
    }

    // ---- governance --------------------------------------------------------------------

    /// Proposes a change; the proposer's approval is counted at once (so M = 1 executes now).
    /// `roles`, `name` and `abeParamsHash` are used by AddMember (roles also by SetRoles);
    /// `newThreshold` by SetThreshold; ClearGateway uses only `account`.
    function propose(
        ProposalKind kind,
        address account,
        uint8 roles,
        string calldata name,
        bytes32 abeParamsHash,
        uint256 newThreshold
    ) external onlyMember returns (uint256 proposalId) {
        _checkProposal(kind, account, roles, newThreshold);
        proposalId = ++proposalCount;
        Proposal storage p = _proposals[proposalId];
        p.kind = kind;
        p.roles = roles;
        p.epoch = epoch;
        p.account = account;
        p.proposer = msg.sender;
        p.threshold = newThreshold;
        p.abeParamsHash = abeParamsHash;
        p.name = name;
        emit ProposalCreated(proposalId, kind, msg.sender, account, roles, newThreshold);
        _approve(proposalId, p);
    }

    function approve(uint256 proposalId) external onlyMember {
        Proposal storage p = _proposals[proposalId];
        if (p.proposer == address(0)) revert UnknownProposal(proposalId);
        _approve(proposalId, p);
    }

    /// A member updates the hash of its own ABE public parameters (key rotation).
    function setAbeParamsHash(bytes32 abeParamsHash) external onlyMember {
        _members[msg.sender].abeParamsHash = abeParamsHash;
        emit AbeParamsChanged(msg.sender, abeParamsHash);
    }

    /// A member publishes (or moves) its own gateway; there is no way to set another's.
    /// Plain http is accepted for loopback tests: gateways refuse it unless told otherwise.
    function setGateway(string calldata url, bytes32 tlsFingerprint) external onlyMember {
        bytes calldata u = bytes(url);
        bool https = _startsWith(u, "https://");
        // Something must follow the scheme; 256 bytes bound the storage a member can take.
        uint256 scheme = https ? 8 : 7;
        if (u.length > 256 || u.length <= scheme || (!https && !_startsWith(u, "http://"))) {
            revert InvalidGatewayUrl();
        }
        if (https && tlsFingerprint == bytes32(0)) revert MissingTlsFingerprint();
        _gateways[msg.sender] = Gateway({url: url, tlsFingerprint: tlsFingerprint});
        emit GatewaySet(msg.sender, url, tlsFingerprint);
    }

    /// A member's gateway records that it is revealing to `regulator` the person behind
    /// `staff`, one of its staff pseudonyms (as AccessLogged carries them), before it answers:
    /// every reveal is on the alliance's record (whose staff, which pseudonym, to whom), the
    /// person never is. Only the member itself can say it revealed its own staff.
    function recordStaffReveal(bytes32 staff, address regulator) external onlyMember {
        if (staff == bytes32(0)) revert MissingPseudonym();
        Member storage r = _members[regulator];
        if (!r.active || r.roles & Roles.REGULATOR == 0) revert NotRegulator(regulator);
        emit StaffRevealed(msg.sender, staff, regulator);
    }

    // ---- internals ---------------------------------------------------------------------

    function _approve(uint256 proposalId, Proposal storage p) private {
        if (p.executed) revert ProposalAlreadyExecuted(proposalId);
        if (p.epoch != epoch) revert StaleProposal(proposalId);
        if (_approved[proposalId][msg.sender]) revert AlreadyApproved(proposalId, msg.sender);
        _approved[proposalId][msg.sender] = true;
        uint32 approvals = p.approvals + 1;
        p.approvals = approvals;
        emit ProposalApproved(proposalId, msg.sender, approvals);
        if (approvals >= threshold) {
            p.executed = true;
            _execute(p);
            emit ProposalExecuted(proposalId);
        }
    }

    function _checkProposal(ProposalKind kind, address account, uint8 roles, uint256 newThreshold)
        private
        view
    {
        uint256 n = _memberList.length;
        if (kind == ProposalKind.AddMember) {
            if (account == address(0)) revert ZeroAddress();
            if (_members[account].active) revert AlreadyMember(account);
            if (!_validRoles(roles)) revert InvalidRoles(roles);
        } else if (kind == ProposalKind.RemoveMember) {
            if (!_members[account].active) revert NotMember(account);
            // Removing must leave enough members to reach the threshold: lower it first.
            if (threshold > n - 1) revert InvalidThreshold(threshold, n - 1);
        } else if (kind == ProposalKind.SetRoles) {
            if (!_members[account].active) revert NotMember(account);
            if (!_validRoles(roles)) revert InvalidRoles(roles);
        } else if (kind == ProposalKind.SetThreshold) {
            if (newThreshold == 0 || newThreshold > n) revert InvalidThreshold(newThreshold, n);
        } else if (kind == ProposalKind.ClearGateway) {
            if (bytes(_gateways[account].url).length == 0) revert NoGateway(account);
        } else {
            // Unreachable while every kind has a branch above; a kind added without one fails here.
            revert UnsupportedProposalKind(kind);
        }
    }

    function _execute(Proposal storage p) private {
        // Re-check at execution: the state may have moved since the proposal was made.
        _checkProposal(p.kind, p.account, p.roles, p.threshold);
        if (p.kind == ProposalKind.AddMember) {
            _addMember(p.account, p.roles, p.name, p.abeParamsHash);
        } else if (p.kind == ProposalKind.RemoveMember) {
            _removeMember(p.account);
        } else if (p.kind == ProposalKind.SetRoles) {
            uint8 old = _members[p.account].roles;
            _members[p.account].roles = p.roles;
            emit RolesChanged(p.account, old, p.roles);
        } else if (p.kind == ProposalKind.SetThreshold) {
            emit ThresholdChanged(threshold, p.threshold);
            threshold = p.threshold;
        } else if (p.kind == ProposalKind.ClearGateway) {
            _clearGateway(p.account);
            // Membership and threshold are unchanged: pending approvals keep counting.
            return;
        }
        epoch += 1;
    }

    /// Some role, none unknown, and TERTIARY only on a hospital (it is a hospital's tier).
    function _validRoles(uint8 roles) private pure returns (bool) {
        if (roles == 0 || roles & ~Roles.ALL != 0) return false;
        return roles & Roles.TERTIARY == 0 || roles & Roles.HOSPITAL != 0;
    }

    function _addMember(address account, uint8 roles, string memory name, bytes32 abeParamsHash) private {
        if (account == address(0)) revert ZeroAddress();
        if (_members[account].active) revert AlreadyMember(account);
        if (!_validRoles(roles)) revert InvalidRoles(roles);
        _members[account] = Member({roles: roles, active: true, abeParamsHash: abeParamsHash, name: name});
        _memberList.push(account);
        _listIndex[account] = _memberList.length;
        emit MemberAdded(account, roles, name, abeParamsHash);
    }

    function _removeMember(address account) private {
        uint256 index = _listIndex[account] - 1;
        address last = _memberList[_memberList.length - 1];
        _memberList[index] = last;
        _listIndex[last] = index + 1;
        _memberList.pop();
        delete _listIndex[account];
        delete _members[account];
        emit MemberRemoved(account);
        // A former member's gateway must no longer be found in the directory.
        if (bytes(_gateways[account].url).length != 0) _clearGateway(account);
    }

    function _clearGateway(address account) private {
        delete _gateways[account];
        emit GatewayCleared(account);
    }

    function _startsWith(bytes calldata data, bytes memory prefix) private pure returns (bool) {
        if (data.length < prefix.length) return false;
        for (uint256 i = 0; i < prefix.length; i++) {
            if (data[i] != prefix[i]) return false;
        }
        return true;
    }
}
