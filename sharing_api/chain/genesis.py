"""Deploying an alliance from a genesis description (members, roles, threshold)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils.address import is_address, to_checksum_address

from crypto.suite import DEFAULT_SUITE, SUITE_NAMES
from sharing_api.chain.artifacts import CONTRACT_NAMES
from sharing_api.chain.client import ChainClient
from sharing_api.chain.scopes import Role

DEFAULT_SUITE_NAME = DEFAULT_SUITE.name  # the alliance's data encryption unless genesis says


@dataclass(frozen=True)
class MemberSpec:
    address: str
    name: str
    roles: Role
    abe_params_hash: bytes = b"\x00" * 32


@dataclass(frozen=True)
class Genesis:
    """The founding members and the number of approvals (M of N) a governance change needs.

    JSON form: ``{"threshold": 2, "members": [{"address": "0x..", "name": "..",
    "roles": ["hospital", "attribute-authority"], "abe_params_hash": "0x.."}],
    "crypto_suite": "aes-256-gcm"}`` (``crypto_suite``: the alliance's data encryption,
    crypto/suite.py; it travels to every gateway in deployment.json).
    """

    members: tuple[MemberSpec, ...]
    threshold: int
    crypto_suite: str = DEFAULT_SUITE_NAME

    def __post_init__(self) -> None:
        _check_suite(self.crypto_suite)
        if not self.members:
            raise ValueError("genesis needs at least one member")
        if not 1 <= self.threshold <= len(self.members):
            raise ValueError(f"threshold {self.threshold} must be 1..{len(self.members)}")
        seen: set[str] = set()
        for m in self.members:
            if not is_address(m.address):
                raise ValueError(f"member {m.name!r}: not an address: {m.address!r}")
            if m.address.lower() in seen:
                raise ValueError(f"member {m.address} listed twice")
            seen.add(m.address.lower())
            known = int(Role.of(list(Role)))
            if not m.roles or int(m.roles) & ~known:
                raise ValueError(f"member {m.name!r}: needs at least one known role")
            if Role.TERTIARY in m.roles and Role.HOSPITAL not in m.roles:
                raise ValueError(f"member {m.name!r}: tertiary is a hospital's tier")
            if len(m.abe_params_hash) != 32:
                raise ValueError(f"member {m.name!r}: abe_params_hash must be 32 bytes")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Genesis:
        try:
            members = tuple(
                MemberSpec(
                    address=str(m["address"]),
                    name=str(m["name"]),
                    roles=Role.of(m["roles"]),
                    abe_params_hash=bytes.fromhex(
                        str(m.get("abe_params_hash", "00" * 32)).removeprefix("0x")
                    ),
                )
                for m in data["members"]
            )
            suite = str(data.get("crypto_suite", DEFAULT_SUITE_NAME))
            return cls(members=members, threshold=int(data["threshold"]), crypto_suite=suite)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed genesis: {exc!r}") from None

    @classmethod
    def load(cls, path: Path) -> Genesis:
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "crypto_suite": self.crypto_suite,
            "members": [
                {
                    "address": to_checksum_address(m.address),
                    "name": m.name,
                    "roles": m.roles.labels(),
                    "abe_params_hash": "0x" + m.abe_params_hash.hex(),
                }
                for m in self.members
            ],
        }


def _check_suite(name: str) -> None:
    if name not in SUITE_NAMES:
        raise ValueError(f"crypto_suite {name!r} is not one of {', '.join(SUITE_NAMES)}")


@dataclass(frozen=True)
class Deployment:
    """Where an alliance's contracts live on one chain (``block_number``: where events start)."""

    chain_id: int
    addresses: dict[str, str]
    block_number: int
    crypto_suite: str = DEFAULT_SUITE_NAME  # the alliance's data encryption (from genesis)

    def __post_init__(self) -> None:
        _check_suite(self.crypto_suite)
        missing = set(CONTRACT_NAMES) - set(self.addresses)
        if missing:
            raise ValueError(f"deployment lacks {', '.join(sorted(missing))}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "block_number": self.block_number,
            "addresses": dict(self.addresses),
            "crypto_suite": self.crypto_suite,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Deployment:
        try:
            return cls(
                chain_id=int(data["chain_id"]),
                addresses={k: to_checksum_address(v) for k, v in data["addresses"].items()},
                block_number=int(data["block_number"]),
                crypto_suite=str(data.get("crypto_suite", DEFAULT_SUITE_NAME)),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed deployment: {exc!r}") from None

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Deployment:
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))


def deploy_alliance(client: ChainClient, genesis: Genesis) -> tuple[Deployment, dict[str, int]]:
    """Deploy the six contracts, wired together; returns the deployment and gas per contract.

    The deployer need not be a member: it only pays for (or, with gas price 0, just sends)
    the six creation transactions. Genesis members are set in AllianceRegistry's constructor.
    """
    gas: dict[str, int] = {}
    members = genesis.members
    registry, receipt = client.deploy(
        "AllianceRegistry",
        [to_checksum_address(m.address) for m in members],
        [int(m.roles) for m in members],
        [m.name for m in members],
        [m.abe_params_hash for m in members],
        genesis.threshold,
    )
    gas["AllianceRegistry"] = int(receipt["gasUsed"])
    first_block = int(receipt["blockNumber"])
    consents, receipt = client.deploy("ConsentRegistry", registry)
    gas["ConsentRegistry"] = int(receipt["gasUsed"])
    records, receipt = client.deploy("RecordRegistry", registry)
    gas["RecordRegistry"] = int(receipt["gasUsed"])
    referrals, receipt = client.deploy("ReferralRegistry", registry, consents, records)
    gas["ReferralRegistry"] = int(receipt["gasUsed"])
    consultations, receipt = client.deploy("ConsultationRegistry", registry, consents, records)
    gas["ConsultationRegistry"] = int(receipt["gasUsed"])
    access, receipt = client.deploy(
        "AccessLog", registry, consents, records, referrals, consultations
    )
    gas["AccessLog"] = int(receipt["gasUsed"])
    deployment = Deployment(
        chain_id=client.chain_id,
        addresses={
            "AllianceRegistry": registry,
            "ConsentRegistry": consents,
            "RecordRegistry": records,
            "ReferralRegistry": referrals,
            "ConsultationRegistry": consultations,
            "AccessLog": access,
        },
        block_number=first_block,
        crypto_suite=genesis.crypto_suite,
    )
    return deployment, gas
