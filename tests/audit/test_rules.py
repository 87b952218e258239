"""Each anomaly rule finds an anomaly planted in an otherwise clean history, and finds nothing
in the clean history itself."""

from __future__ import annotations

from dataclasses import replace

from sharing_api.audit.rules import (
    ZERO,
    Access,
    Anomaly,
    Consent,
    History,
    Justification,
    Referral,
    Revocation,
    Thresholds,
    after_revocation,
    find_anomalies,
    no_live_basis,
    unjustified_break_glass,
    unusual_volume,
)
from sharing_api.chain.scopes import Basis, Category, Purpose

PATIENT = "0x" + "aa" * 20
DOCTOR = "0x" + "d1" * 20
CLINIC = "0x" + "c1" * 20
T0 = 1_700_000_000
DAY = 86_400
ALL = (1 << 6) - 1


def consent(cid: int = 1, **kw: object) -> Consent:
    base = Consent(cid, PATIENT, DOCTOR, 0, ALL, ALL, T0, T0 + 30 * DAY, (10, 0))
    return replace(base, **kw)  # type: ignore[arg-type]


def access(aid: int, block: int, **kw: object) -> Access:
    base = Access(
        aid, 7, PATIENT, DOCTOR, int(Purpose.TREATMENT), int(Basis.CONSENT), 1,
        (block, 0), T0 + block, int(Category.LAB),
    )  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


def clean() -> History:
    """A consent, two reads on it, a referral read, a justified break-glass, a revocation
    after the reads, and a role-based consent read by the clinic."""
    return History(
        consents=(consent(1), consent(2, grantee=ZERO, grantee_role=2, pos=(12, 0))),
        revocations=(Revocation(1, (40, 0), T0 + 40),),
        referrals=(Referral(5, PATIENT, CLINIC, DOCTOR, (7, 8), (20, 0), accepted=(20, 1)),),
        accesses=(
            access(1, 15),
            access(2, 16),
            access(3, 21, basis=int(Basis.REFERRAL), basis_id=5),
            access(4, 25, basis=int(Basis.BREAK_GLASS), basis_id=0, purpose=4),
            access(5, 30, reader=CLINIC, basis_id=2),
        ),
        justifications=(Justification(4, (26, 0), T0 + 26 + 3600),),
    )


NOW = T0 + 3 * DAY
T = Thresholds(justify_within_s=DAY, max_accesses_per_day=5)


def plant(h: History, *extra: Access) -> History:
    return replace(h, accesses=h.accesses + extra)


def ids(found: list[Anomaly]) -> list[int]:
    return [-1 if a.access_id is None else a.access_id for a in found]


def test_clean_history_has_no_anomalies() -> None:
    h = clean()
    assert no_live_basis(h) == []
    assert after_revocation(h) == []
    assert unjustified_break_glass(h, T.justify_within_s, NOW) == []
    assert unusual_volume(h, T.max_accesses_per_day) == []
    assert find_anomalies(h, T, NOW) == []


def test_no_live_basis_finds_each_kind_of_uncovered_access() -> None:
    h = plant(
        clean(),
        access(10, 31, basis_id=99),  # no such consent
        access(11, 32, reader=CLINIC),  # consent 1 is the doctor's
        access(12, 33, timestamp=T0 + 31 * DAY),  # expired
        access(13, 34, category=None, purpose=int(Purpose.RESEARCH)),  # purpose not granted
        access(14, 35, basis=int(Basis.REFERRAL), basis_id=5, record_id=9),  # not handed over
        access(15, 11, basis_id=2),  # before consent 2 was granted (block 12)
    )
    narrow = replace(h, consents=(replace(h.consents[0], purposes=1), h.consents[1]))
    found = no_live_basis(narrow)
    assert sorted(ids(found)) == [10, 11, 12, 13, 14, 15]
    assert all(a.rule == "no-live-basis" for a in found)
    # Narrowing purposes did not make the clean TREATMENT reads anomalous.
    assert not {1, 2} & set(ids(found))


def test_no_live_basis_category_and_closed_referral() -> None:
    h = clean()
    lab_only = replace(h.consents[0], categories=1 << int(Category.LAB))
    h = replace(h, consents=(lab_only, h.consents[1]))
    assert no_live_basis(h) == []
    closed = replace(h.referrals[0], closed=(22, 0))
    h = replace(
        plant(
            h, access(20, 17, category=int(Category.IMAGING)), access(21, 23, basis=1, basis_id=5)
        ),
        referrals=(closed,),
    )
    assert sorted(ids(no_live_basis(h))) == [20, 21]


def test_custodian_basis_holds_only_for_the_records_custodian() -> None:
    own = {"basis": int(Basis.CUSTODIAN), "basis_id": 0}
    h = plant(
        clean(),
        access(50, 36, reader=CLINIC, custodian=CLINIC, **own),  # the custodian itself
        access(51, 37, reader=CLINIC, custodian=CLINIC.upper().replace("0X", "0x"), **own),
        access(52, 38, reader=DOCTOR, custodian=CLINIC, **own),  # someone else's record
        access(53, 39, reader=CLINIC, custodian=None, **own),  # record unknown to the index
    )
    found = no_live_basis(h)
    assert ids(found) == [52, 53]
    assert f"held by {CLINIC}" in found[0].detail and "unknown" in found[1].detail
    assert ids(find_anomalies(h, T, NOW)) == [52, 53]


def test_after_revocation_finds_reads_on_a_revoked_consent() -> None:
    h = plant(clean(), access(30, 41), access(31, 50, reader=CLINIC, basis_id=2))
    found = after_revocation(h)
    assert ids(found) == [30]
    assert found[0].reader == DOCTOR and "revoked 1 s earlier" in found[0].detail
    # The same block but an earlier log index than the revocation is still before it.
    h2 = plant(clean(), access(32, 40, pos=(40, -1)))
    assert after_revocation(h2) == []


def test_break_glass_unjustified_or_late() -> None:
    bg = {"basis": int(Basis.BREAK_GLASS), "basis_id": 0, "purpose": 4}
    h = plant(clean(), access(40, 26, **bg), access(41, 27, **bg), access(42, 28, **bg))
    h = replace(
        h,
        justifications=(
            *h.justifications,
            Justification(41, (90, 0), T0 + 27 + 2 * DAY),  # late
            Justification(42, (29, 0), T0 + 28 + 60),  # in time
        ),
    )
    found = unjustified_break_glass(h, DAY, NOW)
    assert ids(found) == [40, 41]
    assert "justified late" in found[1].detail
    # Not yet due: inside the window at `now`, nothing to report.
    assert unjustified_break_glass(plant(clean(), access(40, 26, **bg)), DAY, T0 + 126) == []
    # A tighter window makes the clean justification (after an hour) late.
    assert ids(unjustified_break_glass(clean(), 60, NOW)) == [4]


def test_unusual_volume_per_reader_and_day() -> None:
    burst = [access(100 + i, 60 + i) for i in range(4)]  # + 4 clean reads by the doctor
    h = plant(clean(), *burst)
    found = unusual_volume(h, 7)
    assert [(a.reader, a.extra["count"]) for a in found] == [(DOCTOR, 8)]
    assert unusual_volume(h, 8) == []
    # Spread over two days the same reads stay under the threshold.
    spread = [replace(a, timestamp=a.timestamp + DAY) for a in burst]
    assert unusual_volume(plant(clean(), *spread), 7) == []


def test_consultation_reads_are_no_unknown_basis_but_keep_their_purpose() -> None:
    on = {"basis": int(Basis.CONSULTATION), "basis_id": 9}
    h = plant(
        clean(),
        access(60, 36, purpose=int(Purpose.CONSULTATION), **on),
        access(61, 37, purpose=int(Purpose.RESEARCH), **on),
    )
    found = no_live_basis(h)
    assert ids(found) == [61] and "consultation basis for purpose 3" in found[0].detail
