"""An alliance of separate gateway processes: h1 (the tertiary hospital) on its own gateway,
the clinic and h3 hosted by a cloud operator's gateway (the clinic's keys sealed under its
own passphrase), both over TLS pinned to the fingerprints each registered on chain; one
ledger node, each gateway with its own store, index and keys."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from sharing_api.gateway.local import LocalGateway, MemberKeys, prepare_gateway, running_gateway
from sharing_api.sdk import SharingClient
from tests.support.api import CLINIC, H1, TestAlliance, running_ledger_alliance

GATEWAY_PASSPHRASE = "gateway operator passphrase (tests only)"


@dataclass
class Gateways:
    alliance: TestAlliance
    h1: LocalGateway
    cloud: LocalGateway
    patient: LocalAccount

    def client(self, gateway: LocalGateway, key: str | bytes) -> SharingClient:
        client = SharingClient(gateway.url, verify=gateway.verify)
        client.login(key)
        return client

    def member(self, name: str) -> SharingClient:
        gateway = self.h1 if name == "h1" else self.cloud
        return self.client(gateway, self.alliance.keys[name])

    @classmethod
    def with_known_patient(
        cls, alliance: TestAlliance, h1: LocalGateway, cloud: LocalGateway
    ) -> Gateways:
        """The gateways and a new patient whom h1 has verified and attested on chain."""
        made = cls(alliance, h1, cloud, Account.create())
        with made.member("h1") as hospital:
            hospital.attest_patient(made.patient.address)
        return made


def start_gateways(
    root: Path, alliance: TestAlliance, *, tls: bool = True, storage: Any = None
) -> tuple[LocalGateway, LocalGateway]:
    common: dict[str, Any] = {
        "chain_url": alliance.chain_url,
        "deployment_file": alliance.root / "deployment.json",
        "passphrase": GATEWAY_PASSPHRASE,
        "tls": tls,
        "extra": {"directory_ttl_s": 0.2, "max_upload_bytes": 96 * 1024 * 1024},
    }
    h1 = prepare_gateway(
        root / "h1",
        [MemberKeys("h1", alliance.keys["h1"], alliance.authorities[H1])],
        storage=storage("h1") if storage else None,
        **common,
    )
    cloud = prepare_gateway(
        root / "cloud",
        [
            MemberKeys(
                "clinic",
                alliance.keys["clinic"],
                alliance.authorities[CLINIC],
                own_passphrase="the clinic's own passphrase",
            ),
            MemberKeys("h3", alliance.keys["h3"]),
        ],
        storage=storage("cloud") if storage else None,
        **common,
    )
    return h1, cloud


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateways]:
    root = tmp_path_factory.mktemp("gateways")
    with running_ledger_alliance(root / "chain") as alliance:
        h1, cloud = start_gateways(root, alliance)
        with running_gateway(h1), running_gateway(cloud):
            yield Gateways.with_known_patient(alliance, h1, cloud)
