"""A gateway configured for the national-cryptography suite: its key files are SM4-GCM, its
/health says so, the SDK seals in it, and records of either suite open side by side."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from eth_account import Account

from crypto.keystore import MIN_LOG2_N
from crypto.records import read_container_header
from crypto.suite import AES_256_GCM_SHA256, SM4_GCM_SM3
from sharing_api.api.core.keys import seal_hosted_member
from sharing_api.sdk import SharingClient
from tests.support.api import TEST_PASSPHRASE, running_api, running_ledger_alliance

pytestmark = pytest.mark.integration

POLICY = "c1.role:doctor"


def test_sm4_gateway_seals_and_opens_both_suites(tmp_path: Path) -> None:
    with running_ledger_alliance(tmp_path / "chain", crypto_suite="sm4-gcm") as alliance:
        members = tuple(
            seal_hosted_member(
                tmp_path / "keys",
                name,
                alliance.keys[name],
                TEST_PASSPHRASE,
                alliance.authorities.get(alliance.keys[name]),
                MIN_LOG2_N,
                SM4_GCM_SM3,  # the gateway's own key files in the national suite
            )
            for name in ("h1", "clinic")
        )
        settings = alliance.settings(members=members, crypto_suite="sm4-gcm")
        with running_api(settings) as api:
            clinic = SharingClient(api.url)
            clinic.login(alliance.keys["clinic"])
            assert clinic.json("GET", "/health")["crypto_suite"] == "sm4-gcm"
            suite = clinic.crypto_suite()
            assert suite is SM4_GCM_SM3

            patient = Account.create()
            clinic.attest_patient(patient.address)
            doctor = clinic.staff_client("dr-zhao", "doctor")
            key = doctor.issue_my_key()
            params = [clinic.authority_params("c1")]
            # What the SDK seals by the gateway's setting, and an AES record written before
            # the alliance switched (or by a member still on the default).
            for plaintext, chosen in ((b"sm4 note", suite), (b"aes note", AES_256_GCM_SHA256)):
                sealed = SharingClient.seal(plaintext, POLICY, params, chosen)
                assert read_container_header(io.BytesIO(sealed)).suite is chosen
                record = doctor.upload(patient.address, "summary", POLICY, sealed)
                fetched, _ = doctor.fetch(record["record_id"])
                assert fetched == sealed
                assert doctor.open(fetched, key) == plaintext
            doctor.close()
            clinic.close()


def test_a_gateway_set_apart_from_the_alliances_suite_refuses_to_start(tmp_path: Path) -> None:
    """The suite is the alliance's (genesis, deployment.json): a gateway configured with
    another would seal records its peers' operators did not choose; it says so and stops."""
    from sharing_api.api.services import Services

    with running_ledger_alliance(tmp_path / "chain") as alliance:  # an AES alliance
        settings = alliance.settings(crypto_suite="sm4-gcm")
        with pytest.raises(ValueError, match="differs from the alliance's aes-256-gcm"):
            Services.build(settings)
