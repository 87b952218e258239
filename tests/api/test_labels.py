"""Security labels (DS4P) end to end against the real API: `alliance record put` chooses the
default policy from the labels, the gateway that received the header knows them, the patient
sees them, and the chain holds only the commitment that binds them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount

from crypto.errors import DecryptionError
from crypto.labels import SecurityLabels
from crypto.policy_commitment import policy_commitment
from crypto.records import read_container_header
from sharing_api.fhir import chest_pain_bundle
from sharing_api.sdk import SharingClient
from tests.api.conftest import Cast, known_patient

pytestmark = pytest.mark.integration


def _main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from sharing_api.cli.main import main

    capsys.readouterr()
    status = main(args)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture
def put(
    cast: Cast, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[str], LocalAccount]:
    """`record put` of a bundle by h1 (an attribute authority) for a new, attested patient."""
    monkeypatch.setenv("ALLIANCE_API_URL", cast.api.url)
    monkeypatch.delenv("ALLIANCE_TOKEN", raising=False)
    patient = known_patient(cast)
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(chest_pain_bundle(patient.address, "h1")))
    key = tmp_path / "h1.key"
    key.write_text(cast.alliance.keys["h1"])
    args = ["record", "put", str(bundle), "--patient", patient.address, "--category", "summary"]
    return [*args, "--key-file", str(key)], patient


def _stored(cast: Cast, record: dict[str, object]) -> bytes:
    return cast.api.services.storage.get_bytes(str(record["cid"]))


def test_labelled_records_get_the_default_policy(
    cast: Cast, put: tuple[list[str], LocalAccount], capsys: pytest.CaptureFixture[str]
) -> None:
    args, patient = put
    v = ["--confidentiality", "v", "--sensitivity", "PSY", "--sensitivity", "hiv"]
    status, out, err = _main([*args, *v, "--care-team", "psych-a"], capsys)
    assert status == 0, err
    very = json.loads(out)
    assert "policy: h1.team:psych-a (default for confidentiality V)" in err
    assert "labels: confidentiality V, sensitivity HIV,PSY" in err
    assert very["policy"] == "h1.team:psych-a"
    assert (very["confidentiality"], very["sensitivity"]) == ("V", ["HIV", "PSY"])

    status, out, err = _main([*args, "--confidentiality", "R"], capsys)
    assert status == 0, err
    restricted = json.loads(out)
    assert restricted["policy"] == "h1.role:doctor" and restricted["confidentiality"] == "R"
    assert restricted["sensitivity"] == []

    # The header in storage carries the labels; the chain holds the commitment binding them.
    header = read_container_header(io.BytesIO(_stored(cast, very)))
    assert header.labels == SecurityLabels("V", ("HIV", "PSY"))
    assert very["policy_commitment"] == "0x" + policy_commitment(header).hex()
    chain = cast.api.services.reader.records
    assert "psych" not in json.dumps(chain.get(int(str(very["record_id"]))), default=str)

    # Only the care team opens the V record; a doctor of the same member does not.
    team = cast.h1.staff_client("dr-psy", "doctor", ["team:psych-a"])
    sealed = _stored(cast, very)
    document = json.loads(SharingClient.open(sealed, team.issue_my_key()))
    hiv = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HIV"}
    hiv["display"] = "HIV/AIDS information sensitivity"
    assert hiv in document["meta"]["security"]
    with pytest.raises(DecryptionError):
        SharingClient.open(sealed, cast.h1_doctor.issue_my_key())

    # The patient sees the labels of both records (this gateway received their headers).
    wallet = SharingClient(cast.api.url)
    wallet.login("0x" + bytes(patient.key).hex())
    mine = {r["record_id"]: r for r in wallet.json("GET", "/patients/me/records")}
    wallet.close()
    assert mine[very["record_id"]]["confidentiality"] == "V"
    assert mine[very["record_id"]]["sensitivity"] == ["HIV", "PSY"]
    assert mine[restricted["record_id"]]["confidentiality"] == "R"


def test_a_new_version_keeps_the_labels_and_policy(
    cast: Cast, put: tuple[list[str], LocalAccount], capsys: pytest.CaptureFixture[str]
) -> None:
    """`record supersede` without label options seals the new version as the old one was
    (labels and policy): before, it fell back to N and the new version of a very restricted
    record lost its labels. A less restrictive label is taken, with a warning."""
    args, _ = put
    v = ["--confidentiality", "V", "--sensitivity", "PSY", "--care-team", "psych-a"]
    status, out, err = _main([*args, *v], capsys)
    assert status == 0, err
    first = json.loads(out)
    bundle, key = args[2], args[-1]
    again = ["record", "supersede", str(first["record_id"]), bundle, "--key-file", key]
    status, out, err = _main(again, capsys)
    assert status == 0, err
    second = json.loads(out)
    assert "labels: confidentiality V, sensitivity PSY" in err and "warning" not in err
    header = read_container_header(io.BytesIO(_stored(cast, second)))
    assert header.labels == SecurityLabels("V", ("PSY",))
    assert second["policy"] == first["policy"] == "h1.team:psych-a"
    assert (second["confidentiality"], second["sensitivity"]) == ("V", ["PSY"])

    lower = ["record", "supersede", str(second["record_id"]), bundle, "--key-file", key]
    status, out, err = _main([*lower, "--confidentiality", "R"], capsys)
    assert status == 0, err
    assert "labelled less restrictively (confidentiality V -> R; sensitivity PSY dropped)" in err
    third = json.loads(out)
    assert (third["confidentiality"], third["policy"]) == ("R", "h1.team:psych-a")


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("extra", "error"),
    [
        (
            ["--confidentiality", "V"],
            "give --care-team NAME (policy <authority>.team:NAME) or an explicit --policy",
        ),
        ([], "give --policy: a normal (N) record has no default policy"),
        (["--confidentiality", "V", "--care-team", "Psych A"], "care team name 'Psych A'"),
        (["--confidentiality", "R", "--care-team", "a"], "very restricted (V) record only"),
        (
            ["--sensitivity", "cancer"],
            "error: --sensitivity: unknown code 'cancer' (choose from PSY",
        ),
        (
            ["--confidentiality", "U"],
            "error: --confidentiality: unknown code 'U' (choose from N, R, V)",
        ),
    ],
)
def test_labels_without_a_usable_policy_are_refused_before_anything_is_sent(
    put: tuple[list[str], LocalAccount],
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    error: str,
) -> None:
    args, _ = put
    status, out, err = _main([*args, *extra], capsys)
    assert status == 1 and not out
    assert error in err and len(err.strip().splitlines()) == 1, err


def test_a_wider_policy_on_a_very_restricted_record_warns(
    put: tuple[list[str], LocalAccount], capsys: pytest.CaptureFixture[str]
) -> None:
    args, _ = put
    wide = [*args, "--confidentiality", "V", "--policy", "h1.team:psych-a or c1.role:doctor"]
    status, out, err = _main(wide, capsys)
    assert status == 0, err
    assert "warning: this record is labelled very restricted (V)" in err
    assert json.loads(out)["policy"] == "h1.team:psych-a or c1.role:doctor"  # used as given
    status, _, err = _main([*wide, "--allow-wider"], capsys)
    assert status == 0 and "warning" not in err
    # Within the member (any of its doctors) is not "other members": no warning.
    status, _, err = _main([*args, "--confidentiality", "V", "--policy", "role:doctor"], capsys)
    assert status == 0 and "warning" not in err, err


def test_erasure_clears_the_labels_the_gateway_kept(cast: Cast) -> None:
    """An erased record keeps only its coarse category in the index: no policy text, and no
    label saying it was about HIV."""
    patient = known_patient(cast)
    policy = "c1.role:doctor"
    params = [cast.clinic.authority_params("c1")]
    labels = SecurityLabels.of("R", ["HIV"])
    sealed = cast.clinic.seal(b'{"resourceType": "Observation"}', policy, params, labels=labels)
    record = cast.clinic.upload(patient.address, "lab", policy, sealed)
    assert (record["confidentiality"], record["sensitivity"]) == ("R", ["HIV"])
    (erased,) = cast.clinic.erase_record(record["record_id"])
    assert erased["erased"] and erased["policy"] is None
    assert (erased["confidentiality"], erased["sensitivity"]) == (None, None)
    row = cast.api.services.index.record(record["record_id"])
    assert row is not None and (row["confidentiality"], row["sensitivity"]) == (None, None)


def test_the_sdk_publishes_a_labelled_record_in_one_call(cast: Cast) -> None:
    patient = known_patient(cast)
    bundle = chest_pain_bundle(patient.address, "h1")
    labels = SecurityLabels.of("V", ["SDV"])
    record, chosen = cast.h1.publish_fhir(
        patient.address, "summary", bundle, labels, care_team="safeguarding"
    )
    assert chosen.defaulted and chosen.policy == "h1.team:safeguarding" and not chosen.warning
    assert (record["policy"], record["confidentiality"]) == ("h1.team:safeguarding", "V")
    wide = "h1.team:safeguarding or c1.role:doctor"
    record, chosen = cast.h1.publish_fhir(patient.address, "summary", bundle, labels, wide)
    assert chosen.warning.startswith("warning: this record is labelled very restricted (V)")
    assert record["policy"] == wide  # a given policy is used as it is
