"""One alliance deployment seen through one signer: the six contract wrappers together."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount

from sharing_api.chain.client import ChainClient
from sharing_api.chain.consent import ConsentRegistry
from sharing_api.chain.consultations import CONSULTATION_EVENTS, ConsultationRegistry
from sharing_api.chain.events import ChainEvent
from sharing_api.chain.genesis import Deployment
from sharing_api.chain.governance import AllianceRegistry
from sharing_api.chain.records import AccessLog, RecordRegistry
from sharing_api.chain.referrals import ReferralRegistry

# Events an auditor reads, per contract.
AUDIT_EVENTS = {
    "AllianceRegistry": (
        "MemberAdded",
        "MemberRemoved",
        "RolesChanged",
        "ThresholdChanged",
        "GatewaySet",
        "GatewayCleared",
        "StaffRevealed",
    ),
    "ConsentRegistry": ("ConsentGranted", "ConsentRevoked"),
    "RecordRegistry": ("RecordRegistered", "RecordSuperseded", "RecordErased"),
    "ReferralRegistry": ("ReferralCreated", "ReferralStatusChanged"),
    "ConsultationRegistry": CONSULTATION_EVENTS,
    "AccessLog": ("AccessLogged", "BreakGlassJustified", "BreakGlassClosed", "AuditKeySet"),
}


class Alliance:
    def __init__(self, client: ChainClient, deployment: Deployment) -> None:
        if client.chain_id != deployment.chain_id:
            raise ValueError(
                f"endpoint is chain {client.chain_id}, "
                f"deployment is for chain {deployment.chain_id}"
            )
        self.client = client
        self.deployment = deployment
        a, start = deployment.addresses, deployment.block_number
        self.registry = AllianceRegistry(client, a["AllianceRegistry"], start)
        self.consents = ConsentRegistry(client, a["ConsentRegistry"], start)
        self.records = RecordRegistry(client, a["RecordRegistry"], start)
        self.referrals = ReferralRegistry(client, a["ReferralRegistry"], start)
        self.consultations = ConsultationRegistry(client, a["ConsultationRegistry"], start)
        self.access = AccessLog(client, a["AccessLog"], start)

    def as_account(self, private_key: str | bytes | LocalAccount) -> Alliance:
        """The same deployment, signing as another account."""
        return Alliance(self.client.as_account(private_key), self.deployment)

    def audit_trail(self) -> list[ChainEvent]:
        """Every audit-relevant event of the alliance, in chain order."""
        wrappers = {
            "AllianceRegistry": self.registry,
            "ConsentRegistry": self.consents,
            "RecordRegistry": self.records,
            "ReferralRegistry": self.referrals,
            "ConsultationRegistry": self.consultations,
            "AccessLog": self.access,
        }
        found = [
            event
            for name, events in AUDIT_EVENTS.items()
            for kind in events
            for event in wrappers[name].events(kind)
        ]
        return sorted(found, key=lambda e: (e.block_number, e.log_index))
