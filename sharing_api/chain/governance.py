"""AllianceRegistry: members, roles, ABE parameter hashes, the gateway directory and M-of-N
proposals."""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils.address import to_checksum_address

from sharing_api.chain.base import ContractWrapper
from sharing_api.chain.client import Sent, sent_of
from sharing_api.chain.events import events_in_receipt
from sharing_api.chain.scopes import ProposalKind, Role

ZERO32 = b"\x00" * 32
NO_ROLES = Role(0)


@dataclass(frozen=True)
class MemberInfo:
    address: str
    roles: Role
    active: bool
    abe_params_hash: bytes
    name: str


@dataclass(frozen=True)
class ProposalInfo:
    proposal_id: int
    kind: ProposalKind
    executed: bool
    roles: Role
    approvals: int
    epoch: int
    account: str
    proposer: str
    threshold: int


@dataclass(frozen=True)
class GatewayEntry:
    """A member's gateway in the on-chain directory: where it serves, and the SHA-256 of its
    TLS certificate that other gateways pin (zero for a plain-http loopback gateway)."""

    url: str
    fingerprint: bytes


@dataclass(frozen=True)
class Proposed:
    proposal_id: int
    executed: bool
    sent: Sent


class AllianceRegistry(ContractWrapper):
    NAME = "AllianceRegistry"

    # ---- views --------------------------------------------------------------------------

    def is_member(self, account: str) -> bool:
        return bool(self._call(self.fn.isMember(to_checksum_address(account))))

    def roles_of(self, account: str) -> Role:
        return Role(self._call(self.fn.rolesOf(to_checksum_address(account))))

    def has_role(self, account: str, role: Role) -> bool:
        return bool(self._call(self.fn.hasRole(to_checksum_address(account), int(role))))

    def member(self, account: str) -> MemberInfo:
        roles, active, abe, name = self._call(self.fn.getMember(to_checksum_address(account)))
        return MemberInfo(to_checksum_address(account), Role(roles), active, bytes(abe), name)

    def members(self) -> list[str]:
        return [to_checksum_address(a) for a in self._call(self.fn.getMembers())]

    def gateway_of(self, account: str) -> GatewayEntry | None:
        """The member's gateway entry, or None when it has published none."""
        url, fingerprint = self._call(self.fn.gatewayOf(to_checksum_address(account)))
        return GatewayEntry(str(url), bytes(fingerprint)) if url else None

    def threshold(self) -> int:
        return int(self._call(self.fn.threshold()))

    def proposal(self, proposal_id: int) -> ProposalInfo:
        p = self._call(self.fn.getProposal(proposal_id))
        kind, executed, roles, approvals, epoch, account, proposer, threshold = p[:8]
        return ProposalInfo(
            proposal_id,
            ProposalKind(kind),
            executed,
            Role(roles),
            approvals,
            epoch,
            account,
            proposer,
            threshold,
        )

    # ---- governance ----------------------------------------------------------------------

    def propose(
        self,
        kind: ProposalKind,
        *,
        account: str = "0x" + "00" * 20,
        roles: Role = NO_ROLES,
        name: str = "",
        abe_params_hash: bytes = ZERO32,
        threshold: int = 0,
    ) -> Proposed:
        """Propose a change (the proposer's approval counts at once)."""
        fn = self.fn.propose(
            int(kind), to_checksum_address(account), int(roles), name, abe_params_hash, threshold
        )
        receipt = self.client.send(fn)
        created = events_in_receipt(self.NAME, self.contract, "ProposalCreated", receipt)
        executed = events_in_receipt(self.NAME, self.contract, "ProposalExecuted", receipt)
        return Proposed(int(created[0].args["proposalId"]), bool(executed), sent_of(receipt))

    def propose_add_member(
        self, account: str, roles: Role, name: str, abe_params_hash: bytes = ZERO32
    ) -> Proposed:
        return self.propose(
            ProposalKind.ADD_MEMBER,
            account=account,
            roles=roles,
            name=name,
            abe_params_hash=abe_params_hash,
        )

    def propose_remove_member(self, account: str) -> Proposed:
        return self.propose(ProposalKind.REMOVE_MEMBER, account=account)

    def propose_set_roles(self, account: str, roles: Role) -> Proposed:
        return self.propose(ProposalKind.SET_ROLES, account=account, roles=roles)

    def propose_threshold(self, threshold: int) -> Proposed:
        return self.propose(ProposalKind.SET_THRESHOLD, threshold=threshold)

    def propose_clear_gateway(self, account: str) -> Proposed:
        """Propose to remove a member's gateway from the directory (e.g. a compromised host)."""
        return self.propose(ProposalKind.CLEAR_GATEWAY, account=account)

    def approve(self, proposal_id: int) -> Proposed:
        receipt = self.client.send(self.fn.approve(proposal_id))
        executed = events_in_receipt(self.NAME, self.contract, "ProposalExecuted", receipt)
        return Proposed(proposal_id, bool(executed), sent_of(receipt))

    def record_staff_reveal(self, staff: bytes, regulator: str) -> Sent:
        """Put on record (event StaffRevealed) that this member reveals to ``regulator`` the
        person behind its staff pseudonym ``staff``: done before the answer is given."""
        return self._send(self.fn.recordStaffReveal(staff, to_checksum_address(regulator)))

    def set_abe_params_hash(self, abe_params_hash: bytes) -> Sent:
        return self._send(self.fn.setAbeParamsHash(abe_params_hash))

    # ---- gateway directory ---------------------------------------------------------------

    def set_gateway(self, url: str, fingerprint: bytes) -> Sent:
        """Publish this member's own gateway (the contract checks the url's scheme and
        length, and that https comes with a fingerprint)."""
        if len(fingerprint) != 32:
            raise ValueError("fingerprint must be the 32-byte SHA-256 of the TLS certificate")
        return self._send(self.fn.setGateway(url, fingerprint))
