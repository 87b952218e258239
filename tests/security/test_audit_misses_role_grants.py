"""Threat: the auditor's no-live-basis rule waved through any access on a consent granted to
a role, whoever read (main: ``_consent_problem`` never compared the reader's roles with the
granted role), so a member outside the role went unflagged. The rule is now the one the
contract applies (sharing_api.chain.coverage), fed with the reader's roles at the time."""

from __future__ import annotations

from sharing_api.audit.rules import ZERO, Access, Consent, History, no_live_basis
from sharing_api.audit.sources import from_events
from sharing_api.chain import Basis, Category, Purpose, Role
from sharing_api.chain.events import ChainEvent

PATIENT = "0x" + "aa" * 20
HOSPITAL = "0x" + "b1" * 20
CLINIC = "0x" + "c1" * 20
T0 = 1_700_000_000
ALL = (1 << 6) - 1


def _history(reader: str, reader_roles: int) -> History:
    to_clinics = Consent(
        1, PATIENT, ZERO, int(Role.CLINIC), ALL, ALL, T0, T0 + 86_400, (10, 0)
    )  # fmt: skip
    read = Access(
        7, 3, PATIENT, reader, int(Purpose.TREATMENT), int(Basis.CONSENT), 1,
        (12, 0), T0 + 100, int(Category.LAB), None, reader_roles,
    )  # fmt: skip
    return History(consents=(to_clinics,), accesses=(read,))


def test_a_role_grant_read_by_a_member_outside_the_role_is_flagged() -> None:
    assert no_live_basis(_history(CLINIC, int(Role.CLINIC))) == []
    found = no_live_basis(_history(HOSPITAL, int(Role.HOSPITAL)))
    assert [(a.rule, a.access_id) for a in found] == [("no-live-basis", 7)]
    assert "role 2" in found[0].detail


def _event(event: str, block: int, **args: object) -> ChainEvent:
    return ChainEvent("X", event, dict(args), block, "0x" + "00" * 32, 0)


def test_the_chain_audit_judges_roles_as_they_were_at_the_access() -> None:
    """From the trail itself: MemberAdded/RolesChanged give the reader's roles then."""
    grant = _event(
        "ConsentGranted", 2, consentId=1, patient=PATIENT, grantee=ZERO,
        granteeRole=int(Role.CLINIC), categories=ALL, purposes=ALL, validFrom=T0,
        validUntil=T0 + 86_400, documentHash=b"", relayer=CLINIC,
    )  # fmt: skip
    record = _event(
        "RecordRegistered", 3, recordId=3, patient=PATIENT, custodian=CLINIC,
        category=int(Category.LAB), contentHash=b"\x01" * 32, cid="c",
        policyCommitment=b"\x02" * 32, supersedes=0,
    )  # fmt: skip

    def read(access_id: int, block: int) -> ChainEvent:
        return _event(
            "AccessLogged", block, accessId=access_id, recordId=3, patient=PATIENT,
            reader=HOSPITAL, logger=HOSPITAL, purpose=int(Purpose.TREATMENT),
            basis=int(Basis.CONSENT), basisId=1, reasonHash=b"\x00" * 32, staff=b"\x00" * 32,
        )  # fmt: skip

    events = [
        _event("MemberAdded", 1, account=HOSPITAL, roles=1, name="h", abeParamsHash=b""),
        grant,
        record,
        read(1, 4),  # a hospital only: outside the granted role
        _event("RolesChanged", 5, account=HOSPITAL, oldRoles=1, newRoles=3),
        read(2, 6),  # now also a clinic: covered
    ]
    data = from_events(events, {n: T0 + n for n in range(1, 7)})
    assert [a.access_id for a in no_live_basis(data.history)] == [1]
