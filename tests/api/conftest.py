"""A real alliance for the API tests: the project's ledger node, the contracts, a local store,
a SQLite index, and the API under uvicorn on 127.0.0.1 (one per session)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from crypto.policy import leaves, parse_policy
from sharing_api.sdk import SharingClient
from tests.support.api import RunningApi, TestAlliance, running_api, running_ledger_alliance


@pytest.fixture(scope="session")
def alliance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestAlliance]:
    with running_ledger_alliance(tmp_path_factory.mktemp("alliance")) as deployed:
        yield deployed


# The clinic keeps break-glass to its emergency physicians, twice an hour per person
# (tests/security/test_break_glass_*); h1 and h3 keep the defaults (doctors, 3 a day).
CLINIC_BREAK_GLASS = {
    "break_glass_roles": ("emergency-physician",),
    "break_glass_limit": 2,
    "break_glass_window_s": 3600,
}


@pytest.fixture(scope="session")
def api(alliance: TestAlliance) -> Iterator[RunningApi]:
    members = list(alliance.hosted_members())
    members[1] = members[1].model_copy(update=CLINIC_BREAK_GLASS)  # h1, clinic, h3, regulator
    settings = alliance.settings(max_upload_bytes=256 * 1024, members=tuple(members))
    with running_api(settings) as running:
        yield running


@dataclass
class Cast:
    """Signed-in clients for every kind of caller."""

    api: RunningApi
    alliance: TestAlliance
    patient_key: LocalAccount
    patient: SharingClient
    h1: SharingClient
    clinic: SharingClient
    h3: SharingClient
    regulator: SharingClient
    h1_doctor: SharingClient
    h1_nurse: SharingClient
    clinic_doctor: SharingClient
    h3_doctor: SharingClient
    anonymous: SharingClient

    def address(self, name: str) -> str:
        return self.alliance.address(name)

    def sealed(self, payload: bytes, policy: str = "c1.role:doctor") -> bytes:
        """``payload`` sealed under ``policy`` by the clinic's SDK (uploads must be sealed
        record containers), with the parameters of every authority the policy names."""
        named = {a.authority for a in leaves(parse_policy(policy))}
        params = [self.clinic.authority_params(a) for a in sorted(x for x in named if x)]
        return self.clinic.seal(payload, policy, params)


def known_patient(cast: Cast) -> LocalAccount:
    """A new patient whom the clinic has verified and attested on chain, as a member must
    before any gateway relays the patient's consents."""
    patient: LocalAccount = Account.create()
    cast.clinic.attest_patient(patient.address)
    return patient


@pytest.fixture(scope="session")
def cast(api: RunningApi, alliance: TestAlliance) -> Iterator[Cast]:
    def signed_in(key: str) -> SharingClient:
        client = SharingClient(api.url)
        client.login(key)
        return client

    patient = Account.create()
    h1, clinic, h3 = (signed_in(alliance.keys[n]) for n in ("h1", "clinic", "h3"))
    clinic.attest_patient(patient.address)  # the clinic verified who the patient is
    c = Cast(
        api=api,
        alliance=alliance,
        patient_key=patient,
        patient=signed_in("0x" + bytes(patient.key).hex()),
        h1=h1,
        clinic=clinic,
        h3=h3,
        regulator=signed_in(alliance.keys["regulator"]),
        h1_doctor=h1.staff_client("dr-chen", "doctor", ["dept:cardiology"]),
        h1_nurse=h1.staff_client("nurse-liu", "nurse", ["dept:cardiology"]),
        clinic_doctor=clinic.staff_client("dr-zhao", "doctor", ["dept:general-practice"]),
        h3_doctor=h3.staff_client("dr-wang", "doctor", ["dept:internal-medicine"]),
        anonymous=SharingClient(api.url),
    )
    yield c
    for client in (c.patient, c.h1, c.clinic, c.h3, c.regulator, c.anonymous):
        client.close()


def storage_files(root: Path) -> set[Path]:
    return {p for p in (root / "blobs").rglob("*") if p.is_file()}


class ChainCounts:
    def __init__(self, cast: Cast) -> None:
        r = cast.api.services.reader
        self.values = (
            int(r.records._call(r.records.fn.recordCount())),
            int(r.access._call(r.access.fn.accessCount())),
            len(cast.regulator.json("GET", "/audit/consents")),
            len(cast.regulator.json("GET", "/audit/referrals")),
        )


@pytest.fixture
def unchanged(cast: Cast) -> Iterator[None]:
    """Asserts after the test that nothing was written on chain or in storage."""
    root = Path(cast.api.services.settings.resolved_storage().local_root)
    before_files, before_chain = storage_files(root), ChainCounts(cast).values
    yield
    assert storage_files(root) == before_files
    assert ChainCounts(cast).values == before_chain
