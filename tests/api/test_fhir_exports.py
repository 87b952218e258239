"""FHIR R4 exports through a real gateway (ledger node, index, local store): a consent, a
referral as ServiceRequest + Task, and the BALP AuditEvents each kind of caller may see, by
API and by CLI (from the index and from the chain)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sharing_api.cli.main import cli
from sharing_api.fhir_export.syslog import BOM
from sharing_api.sdk import SharingClient
from tests.api.conftest import Cast, known_patient
from tests.fhir_export.collector import collector
from tests.fhir_export.r4_shape import r4_shape_problems

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def story(cast: Cast) -> Iterator[dict[str, Any]]:
    """A township clinic's record, the patient's consent to h3, a referral up to h3 that h3
    accepts and reads through, a read on the consent, h1's break-glass read, revocation."""
    patient = known_patient(cast)
    wallet = SharingClient(cast.api.url)
    wallet.login(patient.key)
    sealed = cast.clinic.seal(
        b'{"resourceType": "Patient"}', "c1.role:doctor", [cast.clinic.authority_params("c1")]
    )
    rid = cast.clinic.upload(patient.address, "lab", "c1.role:doctor", sealed)["record_id"]
    consent = wallet.grant_consent(
        patient.key,
        grantee=cast.address("h3"),
        categories=["lab"],
        purposes=["treatment", "referral"],
    )
    cid = consent["consent_id"]
    fid = cast.clinic_doctor.create_referral(
        patient.address, cast.address("h3"), [rid], cid, reason="suspected ACS"
    )["referral_id"]
    cast.h3_doctor.accept_referral(fid)
    reads = [
        cast.h3_doctor.fetch(rid, referral_id=fid, purpose="treatment")[1]["x-access-id"],
        cast.h3_doctor.fetch(rid)[1]["x-access-id"],
        cast.h1_doctor.fetch(rid, break_glass=True, reason="collapsed in ER")[1]["x-access-id"],
    ]
    wallet.revoke_consent(patient.key, cid)
    yield {
        "patient": patient.address.lower(),
        "wallet": wallet,
        "rid": rid,
        "cid": cid,
        "fid": fid,
        "reads": [int(a) for a in reads],
    }
    wallet.close()


def status(client: SharingClient, path: str, **params: Any) -> int:
    return client.http.get(path, headers=client._headers(), params=params).status_code


def events(client: SharingClient, **params: Any) -> dict[str, dict[str, Any]]:
    response = client.request("GET", "/fhir/AuditEvent", params=params)
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle" and r4_shape_problems(bundle) == []
    return {e["resource"]["id"]: e["resource"] for e in bundle.get("entry", [])}


def test_consent_as_r4_consent(cast: Cast, story: dict[str, Any]) -> None:
    path = f"/fhir/Consent/{story['cid']}"
    consent = story["wallet"].json("GET", path)
    assert r4_shape_problems(consent) == []
    assert consent["status"] == "inactive"  # revoked
    provision = consent["provision"]
    assert (
        provision["actor"][0]["reference"]["reference"]
        == f"Organization/{cast.address('h3').lower()}"
    )
    assert [p["code"] for p in provision["purpose"]] == ["TREAT", "COC"]
    assert [c["code"] for c in provision["class"]] == ["lab"]
    assert set(provision["period"]) == {"start", "end"}
    # The same visibility as GET /consents/{id}: h1 is no party to a consent granted to h3.
    assert [status(c, path) for c in (cast.h3, cast.regulator, cast.h1, cast.h1_doctor)] == [
        200,
        200,
        403,
        403,
    ]


def test_referral_as_service_request_and_task(cast: Cast, story: dict[str, Any]) -> None:
    path = f"/fhir/Task/{story['fid']}"
    bundle = cast.clinic.json("GET", path)
    # The Task id the audit events reference resolves too, to the same Bundle.
    by_id = cast.clinic.json("GET", f"/fhir/Task/referral-{story['fid']}")
    assert [e["resource"] for e in by_id["entry"]] == [e["resource"] for e in bundle["entry"]]
    assert r4_shape_problems(bundle) == []
    request, task = (e["resource"] for e in bundle["entry"])
    assert task["focus"]["reference"] == bundle["entry"][0]["fullUrl"]  # resolves in the Bundle
    assert (task["status"], request["status"]) == ("accepted", "active")
    assert task["owner"]["reference"] == f"Organization/{cast.address('h3').lower()}"
    assert task["requester"]["reference"] == f"Organization/{cast.address('clinic').lower()}"
    assert task["for"]["reference"] == f"Patient/{story['patient']}"
    assert request["supportingInfo"][0]["identifier"]["value"] == str(story["rid"])
    assert task["authoredOn"] <= task["lastModified"]
    other = known_patient(cast)
    stranger = SharingClient(cast.api.url)
    stranger.login(other.key)
    try:
        seen = [status(c, path) for c in (story["wallet"], cast.h3_doctor, cast.h1, stranger)]
    finally:
        stranger.close()
    assert seen == [200, 200, 403, 403]


def test_audit_events_by_caller(cast: Cast, story: dict[str, Any]) -> None:
    cid, fid = story["cid"], story["fid"]
    via_referral, via_consent, glass = (f"access-{a}" for a in story["reads"])
    decisions = {f"consent-{cid}-grant", f"consent-{cid}-revoke"}
    steps = {f"referral-{fid}-created", f"referral-{fid}-accepted"}
    everything = {via_referral, via_consent, glass} | decisions | steps

    mine = events(story["wallet"])
    assert everything <= set(mine)
    for event in mine.values():  # the patient sees events about them only
        assert event["entity"][0]["what"]["reference"] == f"Patient/{story['patient']}"
    assert set(events(cast.regulator, patient=story["patient"])) == set(mine)

    # h3: its own reads, the consent granted to it, the referral it received.
    h3 = set(events(cast.h3_doctor, patient=story["patient"]))
    assert h3 == everything - {glass}
    # h1: only its own break-glass read: no party to the consent or the referral.
    assert set(events(cast.h1, patient=story["patient"])) == {glass}
    assert set(events(cast.h1, patient=story["patient"], kind="consent")) == set()

    bg = mine[glass]
    codes = [[c["code"] for c in cc["coding"]] for cc in bg["purposeOfEvent"]]
    assert codes[-1] == ["BTG"]
    assert mine[via_referral]["agent"][-1]["policy"] == [f"urn:alliance:basis:referral:{fid}"]
    assert mine[via_consent]["entity"][2]["what"]["reference"] == f"Consent/consent-{cid}"
    times = [e["recorded"] for e in mine.values()]
    assert times == sorted(times)


def test_audit_events_refuse_another_patient(cast: Cast, story: dict[str, Any]) -> None:
    other = known_patient(cast)
    stranger = SharingClient(cast.api.url)
    stranger.login(other.key)
    try:
        assert status(stranger, "/fhir/AuditEvent", patient=story["patient"]) == 403
        assert events(stranger) == {}
        assert status(stranger, "/fhir/AuditEvent", kind="nothing") == 422
    finally:
        stranger.close()


def test_audit_events_in_pages(cast: Cast, story: dict[str, Any]) -> None:
    """The regulator pages through everything one row of each kind at a time: the `next`
    links give every event once, the last page has none, a forged cursor is refused."""
    whole = set(events(cast.regulator))
    seen: list[str] = []
    url: str | None = "/fhir/AuditEvent?limit=1"
    pages = 0
    while url is not None:
        bundle = cast.regulator.request("GET", url).json()
        assert r4_shape_problems(bundle) == []
        seen += [e["resource"]["id"] for e in bundle.get("entry", [])]
        links = {link["relation"]: link["url"] for link in bundle.get("link", [])}
        url = links.get("next")
        pages += 1
        assert pages < 1000
    assert pages > 1 and len(seen) == len(set(seen)) and set(seen) == whole
    for bad in ("access", "access:x", "access:1,nothing:2", "access:" + "9" * 19):
        assert status(cast.regulator, "/fhir/AuditEvent", page=bad) == 422, bad


def _cli(*args: str, **env: str) -> str:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_cli_exports(cast: Cast, story: dict[str, Any], tmp_path: Path) -> None:
    from_index = tmp_path / "index.ndjson"
    index_url = cast.api.services.index.url
    _cli(
        "audit",
        "export",
        "--format",
        "balp",
        "--database-url",
        index_url,
        "--patient",
        story["patient"],
        "--out",
        str(from_index),
    )
    lines = [json.loads(line) for line in from_index.read_text().splitlines()]
    assert all(e["resourceType"] == "AuditEvent" and not r4_shape_problems(e) for e in lines)
    by_index = {e["id"] for e in lines}
    assert by_index == set(events(cast.regulator, patient=story["patient"]))

    from_chain = tmp_path / "chain.json"
    deployment = cast.alliance.root / "deployment.json"
    _cli(
        "audit",
        "export",
        "--rpc",
        cast.alliance.chain_url,
        "--deployment",
        str(deployment),
        "--patient",
        story["patient"],
        "--as",
        "bundle",
        "--out",
        str(from_chain),
    )
    bundle = json.loads(from_chain.read_text())
    assert {e["resource"]["id"] for e in bundle["entry"]} == by_index

    later = tmp_path / "later.ndjson"
    soon = str(int(time.time()) + 3600)
    out = _cli("audit", "export", "--database-url", index_url, "--since", soon, "--out", str(later))
    assert out.startswith("0 AuditEvents") and later.read_text() == ""
    too_late = CliRunner().invoke(
        cli, ["audit", "export", "--database-url", index_url, "--since", str(2**40), "--out", "x"]
    )
    assert too_late.exit_code == 2 and "--since" in too_late.output

    api = {"ALLIANCE_API_URL": cast.api.url, "ALLIANCE_TOKEN": story["wallet"].token}
    consent = json.loads(_cli("consent", "fhir", str(story["cid"]), **api))
    assert consent["id"] == f"consent-{story['cid']}"
    task_bundle = json.loads(_cli("referral", "fhir", str(story["fid"]), **api))
    assert [e["resource"]["resourceType"] for e in task_bundle["entry"]] == [
        "ServiceRequest",
        "Task",
    ]


def test_cli_syslog_to_a_collector(cast: Cast, story: dict[str, Any]) -> None:
    index_url = cast.api.services.index.url
    wanted = set(events(cast.regulator, patient=story["patient"]))
    with collector("tcp") as (url, received):
        out = _cli(
            "audit", "syslog", "--to", url, "--database-url", index_url,
            "--patient", story["patient"], "--hostname", "reg-console",
        )  # fmt: skip
        assert out.strip() == f"{len(wanted)} AuditEvents -> {url}"
        for _ in range(100):
            if len(received) >= len(wanted):
                break
            time.sleep(0.05)
    assert all(m.startswith(b"<85>1 ") and b" reg-console alliance " in m for m in received)
    assert {json.loads(m.split(BOM, 1)[1])["id"] for m in received} == wanted
    refused = CliRunner().invoke(
        cli, ["audit", "syslog", "--to", "http://x:1", "--database-url", index_url]
    )
    assert refused.exit_code == 1 and "give udp://, tcp:// or tls://" in refused.output
