"""A remote consultation's FHIR R4 exports through a real gateway (ledger node, index, local
store): the clinic asks h1 about an imaging record, h1 accepts, reads it and reports, the
clinic reads the report and closes; a second consultation h1 declines. Its Bundle
(ServiceRequest + Task) under the consultation routes' visibility, its steps and reads as
BALP AuditEvents by API, and both by CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sharing_api.cli.main import cli
from sharing_api.sdk import ApiError, SharingClient
from sharing_api.sdk.consultation_report import consultation_report
from tests.api.conftest import Cast, known_patient
from tests.api.test_fhir_exports import events, status
from tests.fhir_export.r4_shape import r4_shape_problems

pytestmark = pytest.mark.integration
POLICY = "c1.role:doctor or h1.role:doctor"


@pytest.fixture(scope="module")
def story(cast: Cast) -> Iterator[dict[str, Any]]:
    patient = known_patient(cast)
    wallet = SharingClient(cast.api.url)
    wallet.login(patient.key)
    record = int(
        cast.clinic_doctor.upload(
            patient.address, "imaging", POLICY, cast.sealed(b'{"ct": 1}', POLICY)
        )["record_id"]
    )
    cast.clinic.grant_consent(  # the clinic relays the patient's signed grant
        patient.key,
        grantee=cast.address("h1"),
        categories=["imaging"],
        purposes=["consultation"],
        valid_for_s=3_600,
    )
    ask = cast.clinic_doctor.request_consultation
    cid = int(ask(patient.address, cast.address("h1"), [record], "nodule?")["consultation_id"])
    cast.h1_doctor.accept_consultation(cid)
    read = cast.h1_doctor.fetch(record, consultation_id=cid, purpose="consultation")[1]
    report = consultation_report(cid, patient.address, "benign calcification")
    reported = cast.h1_doctor.report_consultation(cid, report, "c1.role:doctor", category="imaging")
    report_id = int(reported["report_record_id"])
    cast.clinic_doctor.fetch(report_id, consultation_id=cid, purpose="consultation")
    cast.clinic.close_consultation(cid, "thanks")
    declined = int(ask(patient.address, cast.address("h1"), [record], "again?")["consultation_id"])
    cast.h1.decline_consultation(declined, "no capacity")
    yield {
        "patient": patient.address.lower(),
        "wallet": wallet,
        "record": record,
        "cid": cid,
        "declined": declined,
        "report": report_id,
        "read": int(read["x-access-id"]),
    }
    wallet.close()


def test_consultation_as_service_request_and_task(cast: Cast, story: dict[str, Any]) -> None:
    cid = story["cid"]
    path = f"/fhir/Task/consultation-{cid}"
    response = cast.clinic_doctor.request("GET", path)
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle = response.json()
    assert r4_shape_problems(bundle) == []
    request, task = (e["resource"] for e in bundle["entry"])
    assert (request["id"], task["id"]) == (f"consultation-{cid}", f"consultation-{cid}")
    assert task["focus"]["reference"] == bundle["entry"][0]["fullUrl"]
    assert (task["status"], request["status"], task["businessStatus"]["text"]) == (
        "completed",
        "completed",
        "closed",
    )
    assert task["owner"]["reference"] == f"Organization/{cast.address('h1').lower()}"
    assert task["requester"]["reference"] == f"Organization/{cast.address('clinic').lower()}"
    assert task["for"]["reference"] == f"Patient/{story['patient']}"
    assert request["code"]["coding"][0]["code"] == "11429006"
    assert [i["valueReference"]["identifier"]["value"] for i in task["input"]] == [
        str(story["record"])
    ]
    assert [o["valueReference"]["identifier"]["value"] for o in task["output"]] == [
        str(story["report"])
    ]
    assert task["authoredOn"] <= task["lastModified"]

    declined = cast.h1.json("GET", f"/fhir/Task/consultation-{story['declined']}")
    _, refused_task = (e["resource"] for e in declined["entry"])
    assert (refused_task["status"], declined["entry"][0]["resource"]["status"]) == (
        "rejected",
        "revoked",
    )
    assert "output" not in refused_task


def test_the_bundle_has_the_consultation_routes_visibility(
    cast: Cast, story: dict[str, Any]
) -> None:
    path = f"/fhir/Task/consultation-{story['cid']}"
    other = known_patient(cast)
    stranger = SharingClient(cast.api.url)
    stranger.login(other.key)
    try:
        callers = (
            story["wallet"],
            cast.clinic_doctor,
            cast.h1_doctor,
            cast.regulator,
            cast.h3,
            cast.h3_doctor,
            stranger,
        )
        seen = [status(c, path) for c in callers]
    finally:
        stranger.close()
    assert seen == [200, 200, 200, 200, 403, 403, 403]
    assert status(cast.anonymous, path) == 401
    assert status(cast.regulator, "/fhir/Task/consultation-999999") == 404
    assert status(cast.regulator, "/fhir/Task/consultation-x") == 422


def test_consultation_audit_events(cast: Cast, story: dict[str, Any]) -> None:
    cid, declined = story["cid"], story["declined"]
    steps = {f"consultation-{cid}-{s}" for s in ("requested", "accepted", "reported", "closed")}
    steps |= {f"consultation-{declined}-{s}" for s in ("requested", "declined")}
    patient = story["patient"]
    mine = events(story["wallet"], kind="consultation")
    assert set(mine) == steps
    assert set(events(cast.regulator, patient=patient, kind="consultation")) == steps
    assert set(events(cast.clinic_doctor, patient=patient, kind="consultation")) == steps
    assert set(events(cast.h1, patient=patient, kind="consultation")) == steps
    assert set(events(cast.h3, patient=patient, kind="consultation")) == set()  # no party
    reported = mine[f"consultation-{cid}-reported"]
    assert reported["entity"][1]["what"]["reference"] == f"Task/consultation-{cid}"
    assert reported["entity"][2]["what"]["identifier"]["value"] == str(story["report"])
    assert reported["agent"][0]["who"]["reference"] == f"Organization/{cast.address('h1').lower()}"
    # The consultant's read rests on the consultation: it is the authorising entity and policy.
    read = events(cast.h1, patient=patient, kind="access")[f"access-{story['read']}"]
    assert read["entity"][2]["what"]["reference"] == f"Task/consultation-{cid}"
    assert read["agent"][-1]["policy"] == [f"urn:alliance:basis:consultation:{cid}"]
    codes = [c["code"] for c in read["purposeOfEvent"][0]["coding"]]
    assert codes == ["COC", "consultation"]


def _cli(*args: str, **env: str) -> str:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_cli(cast: Cast, story: dict[str, Any], tmp_path: Path) -> None:
    cid = story["cid"]
    api = {"ALLIANCE_API_URL": cast.api.url, "ALLIANCE_TOKEN": cast.clinic_doctor.token}
    bundle = json.loads(_cli("consultation", "fhir", str(cid), **api))
    assert [e["resource"]["id"] for e in bundle["entry"]] == [f"consultation-{cid}"] * 2
    h3 = {"ALLIANCE_API_URL": cast.api.url, "ALLIANCE_TOKEN": cast.h3.token}
    refused = CliRunner().invoke(cli, ["consultation", "fhir", str(cid)], env=h3)
    assert refused.exit_code == 1 and isinstance(refused.exception, ApiError)
    assert refused.exception.status == 403

    out = tmp_path / "consultations.ndjson"
    index_url = cast.api.services.index.url
    _cli(
        "audit", "export", "--database-url", index_url, "--patient", story["patient"],
        "--kind", "consultation", "--out", str(out),
    )  # fmt: skip
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(not r4_shape_problems(e) for e in exported)
    wanted = events(cast.regulator, patient=story["patient"], kind="consultation")
    assert [e["id"] for e in exported] == list(wanted)
    from_chain = tmp_path / "chain.ndjson"  # the chain indexed afresh gives the same events
    _cli(
        "audit", "export", "--rpc", cast.alliance.chain_url,
        "--deployment", str(cast.alliance.root / "deployment.json"),
        "--patient", story["patient"], "--kind", "consultation", "--out", str(from_chain),
    )  # fmt: skip
    assert from_chain.read_text() == out.read_text()
    everything = tmp_path / "all.ndjson"  # without --kind: consultations are in too
    _cli("audit", "export", "--database-url", index_url, "--out", str(everything))
    assert set(wanted) <= {json.loads(line)["id"] for line in everything.read_text().splitlines()}
