"""`alliance record|consent|referral` against the real API: encrypt locally, publish, consent,
fetch and decrypt locally, revoke, and the refused fetch after it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from eth_account import Account

from sharing_api.cli.main import cli
from sharing_api.fhir import chest_pain_bundle
from tests.api.conftest import Cast, ChainCounts, known_patient, storage_files

pytestmark = pytest.mark.integration


def _run(args: list[str], **env: str) -> str:
    result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_record_consent_cycle_on_the_command_line(cast: Cast, tmp_path: Path) -> None:

    api = {"ALLIANCE_API_URL": cast.api.url}
    clinic_key = tmp_path / "clinic.key"
    clinic_key.write_text(cast.alliance.keys["clinic"])
    patient = Account.create()
    # The clinic verified the patient at its desk and attests the wallet's address.
    args = ["patient", "attest", patient.address, "--key-file", str(clinic_key)]
    attested = json.loads(_run(args, **api))
    assert attested["known"] is True and attested["member"] == cast.address("clinic")
    patient_key = tmp_path / "patient.key"
    patient_key.write_text("0x" + bytes(patient.key).hex())
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(chest_pain_bundle(patient.address, "c1")))

    policy = "h1.role:doctor or c1.role:doctor"
    put = json.loads(
        _run(
            [
                "record",
                "put",
                str(bundle),
                "--patient",
                patient.address,
                "--category",
                "summary",
                "--policy",
                policy,
                "--key-file",
                str(clinic_key),
            ],
            **api,
        )
    )
    rid = put["record_id"]
    granted = json.loads(
        _run(
            [
                "consent",
                "grant",
                "--grantee",
                cast.address("h1"),
                "--categories",
                "summary",
                "--key-file",
                str(patient_key),
            ],
            **api,
        )
    )
    listed = json.loads(_run(["consent", "list", "--key-file", str(patient_key)], **api))
    assert [c["consent_id"] for c in listed] == [granted["consent_id"]]

    token = {"ALLIANCE_TOKEN": cast.h1_doctor.token, **api}
    key = tmp_path / "dr.key"
    _run(["record", "key", "--out", str(key)], **token)
    out = tmp_path / "read.json"
    _run(["record", "get", str(rid), "--key", str(key), "--out", str(out)], **token)
    assert json.loads(out.read_text()) == json.loads(bundle.read_text())

    _run(["consent", "revoke", str(granted["consent_id"]), "--key-file", str(patient_key)], **api)
    refused = CliRunner().invoke(
        cli,
        ["record", "get", str(rid), "--key", str(key), "--out", str(tmp_path / "again.json")],
        env=token,
    )
    assert refused.exit_code != 0
    assert "403" in str(refused.exception)
    assert not (tmp_path / "again.json").exists()


def test_cli_validates_fhir_before_encrypting(
    cast: Cast, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sharing_api.cli.main import main

    monkeypatch.setenv("ALLIANCE_API_URL", cast.api.url)
    clinic_key = tmp_path / "clinic.key"
    clinic_key.write_text(cast.alliance.keys["clinic"])
    bad = tmp_path / "bad.json"
    bundle = chest_pain_bundle(cast.patient_key.address, "c1")
    bundle["entry"][0]["resource"]["birthDate"] = "yesterday"  # not a FHIR date
    bad.write_text(json.dumps(bundle))
    root = Path(cast.api.services.settings.resolved_storage().local_root)
    before = (storage_files(root), ChainCounts(cast).values)
    args = ["--patient", cast.patient_key.address, "--category", "summary"]
    who = ["--key-file", str(clinic_key)]
    status = main(["record", "put", str(bad), *args, "--policy", "c1.role:doctor", *who])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1 and len(err) == 1 and err[0].startswith("error: invalid"), err
    assert (storage_files(root), ChainCounts(cast).values) == before


def test_cli_supersede_cancel_and_progress(cast: Cast, tmp_path: Path) -> None:

    from sharing_api.sdk import SharingClient

    api = {"ALLIANCE_API_URL": cast.api.url}
    clinic_key = tmp_path / "clinic.key"
    clinic_key.write_text(cast.alliance.keys["clinic"])
    patient = known_patient(cast)
    v1, v2 = tmp_path / "v1.json", tmp_path / "v2.json"
    v1.write_text(json.dumps(chest_pain_bundle(patient.address, "c1")))
    corrected = chest_pain_bundle(patient.address, "c1")
    corrected["entry"][0]["resource"]["gender"] = "female"
    v2.write_text(json.dumps(corrected))
    policy = ["--policy", "c1.role:doctor"]
    who = ["--key-file", str(clinic_key)]
    runner = CliRunner()
    put = runner.invoke(
        cli,
        [
            "record",
            "put",
            str(v1),
            "--patient",
            patient.address,
            "--category",
            "lab",
            *policy,
            *who,
        ],
        env=api,
    )
    assert put.exit_code == 0, put.output
    assert "uploading" in put.stderr
    old = json.loads(put.stdout)["record_id"]
    new = runner.invoke(cli, ["record", "supersede", str(old), str(v2), *policy, *who], env=api)
    assert new.exit_code == 0, new.output
    assert "uploading" in new.stderr
    record = json.loads(new.stdout)
    assert record["supersedes"] == old and record["patient"] == patient.address.lower()

    # The clinic's doctor reads the new version of the clinic's own record (the custodian
    # basis: no consent): a download progress bar, and the plaintext written 0600.
    token = {"ALLIANCE_TOKEN": cast.clinic_doctor.token, **api}
    key, out = tmp_path / "dr.key", tmp_path / "read.json"
    _run(["record", "key", "--out", str(key)], **token)
    got = runner.invoke(
        cli,
        ["record", "get", str(record["record_id"]), "--key", str(key), "--out", str(out)],
        env=token,
    )
    assert got.exit_code == 0, got.output
    assert "downloading" in got.stderr
    assert json.loads(out.read_text()) == corrected
    assert out.stat().st_mode & 0o777 == 0o600
    read = cast.regulator.json("GET", "/audit/accesses", params={"record_id": record["record_id"]})
    assert [(a["basis"], a["reader"]) for a in read] == [
        ("custodian", cast.address("clinic").lower())
    ]

    # The referrer cancels a referral from the command line.
    wallet = SharingClient(cast.api.url)
    wallet.login(patient.key)
    consent = wallet.grant_consent(
        patient.key, grantee=cast.address("h3"), categories=["lab"], purposes=["referral"]
    )
    wallet.close()
    created = runner.invoke(
        cli,
        [
            *("referral", "create", "--patient", patient.address),
            *("--receiver", cast.address("h3"), "--records", str(record["record_id"])),
            *("--consent", str(consent["consent_id"]), *who),
        ],
        env=api,
    )
    assert created.exit_code == 0, created.output
    fid = json.loads(created.stdout)["referral_id"]
    cancelled = runner.invoke(
        cli, ["referral", "cancel", str(fid), "--note", "moved", *who], env=api
    )
    assert cancelled.exit_code == 0, cancelled.output
    assert json.loads(cancelled.stdout)["status"] == "cancelled"


def test_download_progress_without_a_length() -> None:
    from sharing_api.sdk.cli import _receive
    from sharing_api.sdk.client import Download

    chunks = [b"a" * 10, b"b" * 7]
    assert _receive(Download({}, None, iter(chunks))) == b"".join(chunks)
    assert _receive(Download({}, 17, iter(chunks))) == b"".join(chunks)


def test_sealed_key_file_signs_in(cast: Cast, tmp_path: Path) -> None:

    from sharing_api.api.core.keys import seal_ledger_key

    patient = known_patient(cast)
    sealed = tmp_path / "patient.key"
    seal_ledger_key(sealed, patient.key, "wallet-pass")
    api = {"ALLIANCE_API_URL": cast.api.url}
    args = ["consent", "grant", "--grantee", cast.address("h1"), "--categories", "lab"]
    granted = json.loads(
        _run([*args, "--key-file", str(sealed)], ALLIANCE_PASSPHRASE="wallet-pass", **api)
    )
    assert granted["patient"] == patient.address.lower()
    wrong = CliRunner().invoke(
        cli,
        ["consent", "list", "--key-file", str(sealed)],
        env={"ALLIANCE_PASSPHRASE": "not-it", **api},
    )
    assert wrong.exit_code != 0 and "wrong passphrase" in str(wrong.exception)


def test_record_list_and_referral_lifecycle_on_the_command_line(cast: Cast, tmp_path: Path) -> None:
    """`alliance record list` and `alliance referral accept|complete|list`: a referral goes
    created -> accepted -> completed, and each party's list shows it with its status."""

    from sharing_api.sdk import SharingClient

    api = {"ALLIANCE_API_URL": cast.api.url}
    keys = {}
    for name in ("clinic", "h3", "h1"):
        keys[name] = tmp_path / f"{name}.key"
        keys[name].write_text(cast.alliance.keys[name])
    patient = known_patient(cast)
    keys["patient"] = tmp_path / "patient.key"
    keys["patient"].write_text("0x" + bytes(patient.key).hex())

    def as_(who: str, *args: str) -> object:
        return json.loads(_run([*args, "--key-file", str(keys[who])], **api))

    rid = cast.clinic.upload(
        patient.address, "lab", "c1.role:doctor", cast.sealed(b"cli-referral")
    )["record_id"]
    # record list: the custodian and the patient see the record, an unrelated member does not.
    mine = as_("clinic", "record", "list", "--patient", patient.address)
    assert isinstance(mine, list) and [r["record_id"] for r in mine] == [rid]
    assert mine[0]["custodian"] == cast.address("clinic").lower()
    own = as_("patient", "record", "list")
    assert isinstance(own, list) and [r["record_id"] for r in own] == [rid]
    assert as_("h1", "record", "list", "--patient", patient.address) == []

    wallet = SharingClient(cast.api.url)
    wallet.login(patient.key)
    consent = wallet.grant_consent(
        patient.key, grantee=cast.address("h3"), categories=["lab"], purposes=["referral"]
    )
    wallet.close()
    created = as_(
        "clinic",
        *("referral", "create", "--patient", patient.address, "--receiver", cast.address("h3")),
        *("--records", str(rid), "--consent", str(consent["consent_id"])),
    )
    assert isinstance(created, dict) and created["status"] == "created"
    fid = created["referral_id"]

    def statuses(who: str) -> dict[int, str]:
        listed = as_(who, "referral", "list")
        assert isinstance(listed, list)
        return {r["referral_id"]: r["status"] for r in listed}

    assert statuses("h3")[fid] == "created"
    accepted = as_("h3", "referral", "accept", str(fid))
    assert isinstance(accepted, dict) and accepted["status"] == "accepted"
    assert statuses("clinic")[fid] == "accepted"
    # The receiver lists the record (the patient's consent and the referral cover it).
    received = as_("h3", "record", "list", "--patient", patient.address)
    assert isinstance(received, list) and [r["record_id"] for r in received] == [rid]

    # Only the receiver may complete it: the referrer is refused, nothing changes.
    refused = CliRunner().invoke(
        cli, ["referral", "complete", str(fid), "--key-file", str(keys["clinic"])], env=api
    )
    assert refused.exit_code != 0 and "403" in str(refused.exception)
    completed = as_("h3", "referral", "complete", str(fid), "--note", "discharged")
    assert isinstance(completed, dict) and completed["status"] == "completed"
    assert completed["record_ids"] == [rid] and completed["receiver"] == cast.address("h3").lower()
    assert statuses("clinic")[fid] == statuses("h3")[fid] == "completed"
    assert statuses("patient") == {fid: "completed"}
    assert fid not in statuses("h1")  # not a party to it


def _main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, list[str]]:
    """`alliance ARGS` as the console script runs it: status, stdout, stderr lines."""
    from sharing_api.cli.main import main

    capsys.readouterr()
    status = main(args)
    captured = capsys.readouterr()
    return status, captured.out, captured.err.strip().splitlines()


def _key_file(tmp_path: Path, name: str, key: str) -> str:
    path = tmp_path / f"{name}.key"
    path.write_text(key)
    return str(path)


def _uploads(cast: Cast) -> float:
    """POST /records requests the API has seen, whatever their status."""
    return sum(
        sample.value
        for metric in cast.api.services.metrics.requests.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
        and sample.labels["route"] == "/records"
        and sample.labels["method"] == "POST"
    )


def test_an_unprefixed_policy_is_the_members_own(
    cast: Cast, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's `abe` style, 'role:doctor and dept:cardiology', published by h1: sealed
    and registered as h1's attributes, shown to the user, and h1's cardiologist reads it."""

    from sharing_api.sdk import SharingClient

    monkeypatch.setenv("ALLIANCE_API_URL", cast.api.url)
    monkeypatch.delenv("ALLIANCE_TOKEN", raising=False)
    h1 = _key_file(tmp_path, "h1", cast.alliance.keys["h1"])
    patient = known_patient(cast)
    bundle = tmp_path / "bundle.json"
    status, _, err = _main(
        ["record", "sample", "--patient", patient.address, "--out", str(bundle)], capsys
    )
    assert status == 0, err
    policy = "role:doctor and dept:cardiology"
    put = ["record", "put", str(bundle), "--patient", patient.address, "--category", "summary"]
    status, out, err = _main([*put, "--policy", policy, "--key-file", h1], capsys)
    assert status == 0, err
    expanded = "h1.role:doctor and h1.dept:cardiology"
    assert f"policy: {expanded}" in err and "cipher suite: aes-256-gcm" in err  # the default
    record = json.loads(out)
    assert record["policy"] == expanded

    wallet = SharingClient(cast.api.url)
    wallet.login(patient.key)
    wallet.grant_consent(
        patient.key, grantee=cast.address("h1"), categories=["summary"], purposes=["treatment"]
    )
    wallet.close()
    token = {"ALLIANCE_TOKEN": cast.h1_doctor.token, "ALLIANCE_API_URL": cast.api.url}
    key, read = tmp_path / "dr.key", tmp_path / "read.json"
    _run(["record", "key", "--out", str(key)], **token)
    _run(
        ["record", "get", str(record["record_id"]), "--key", str(key), "--out", str(read)], **token
    )
    assert json.loads(read.read_text()) == json.loads(bundle.read_text())

    # supersede takes the same shorthand.
    supersede = ["record", "supersede", str(record["record_id"]), str(bundle)]
    status, out, err = _main([*supersede, "--policy", "role:doctor", "--key-file", h1], capsys)
    assert status == 0, err
    assert json.loads(out)["policy"] == "h1.role:doctor" and "policy: h1.role:doctor" in err


@pytest.mark.usefixtures("unchanged")
def test_policies_naming_no_known_authority_are_one_line(
    cast: Cast, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ALLIANCE_API_URL", cast.api.url)
    monkeypatch.delenv("ALLIANCE_TOKEN", raising=False)
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(chest_pain_bundle(cast.patient_key.address, "c1")))
    put = ["record", "put", str(bundle), "--patient", cast.patient_key.address]
    put += ["--category", "summary"]
    clinic = _key_file(tmp_path, "clinic", cast.alliance.keys["clinic"])
    status, _, err = _main(
        [*put, "--policy", "c1.role:doctor or xq.role:doctor", "--key-file", clinic], capsys
    )
    assert (status, err) == (
        1,
        ["error: policy names no known attribute authority 'xq' (this API knows: c1, h1)"],
    )
    # h3 is no attribute authority: its shorthand has no owner to expand to.
    h3 = _key_file(tmp_path, "h3", cast.alliance.keys["h3"])
    status, _, err = _main([*put, "--policy", "role:doctor", "--key-file", h3], capsys)
    assert status == 1 and len(err) == 1, err
    assert "'role:doctor' names no authority" in err[0] and "<authority>.role:doctor" in err[0]


def test_a_422_names_the_field(
    cast: Cast, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sharing_api.sdk import ApiError

    with pytest.raises(ApiError) as refused:
        cast.clinic.json("GET", "/records", params={"patient": "0x123"})
    assert refused.value.status == 422 and "query.patient: " in str(refused.value)
    # The command line prints it: a staff key valid for longer than the API allows.
    monkeypatch.setenv("ALLIANCE_API_URL", cast.api.url)
    monkeypatch.setenv("ALLIANCE_TOKEN", cast.h1_doctor.token)
    out = tmp_path / "dr.key"
    status, _, err = _main(["record", "key", "--out", str(out), "--days", "9999"], capsys)
    assert status == 1 and len(err) == 1, err
    assert err[0].startswith("error: API 422: ") and "body.valid_days: " in err[0], err
    assert not out.exists()


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("category", "policy", "error"),
    [
        ("x-ray", "c1.role:doctor", "error: unknown category 'x-ray' (choose from summary, "),
        ("lab", "c1.role:doctor and", "error: --policy: expected an attribute"),
        ("lab", "c1.role:Doctor or", "error: --policy: invalid attribute 'c1.role:Doctor'"),
    ],
)
def test_bad_category_or_policy_is_refused_before_anything_is_sent(
    cast: Cast,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    category: str,
    policy: str,
    error: str,
) -> None:
    monkeypatch.setenv("ALLIANCE_API_URL", cast.api.url)
    monkeypatch.delenv("ALLIANCE_TOKEN", raising=False)
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(chest_pain_bundle(cast.patient_key.address, "c1")))
    clinic = _key_file(tmp_path, "clinic", cast.alliance.keys["clinic"])
    before = _uploads(cast)
    put = ["record", "put", str(bundle), "--patient", cast.patient_key.address]
    status, _, err = _main(
        [*put, "--category", category, "--policy", policy, "--key-file", clinic], capsys
    )
    assert status == 1 and len(err) == 1 and err[0].startswith(error), err
    # The SDK refuses too, before the body goes out.
    with pytest.raises(ValueError):
        cast.clinic.upload(cast.patient_key.address, category, policy, iter([b"never sent"]))
    assert _uploads(cast) == before


def test_the_patient_answers_proposals_on_the_command_line(
    cast: Cast, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:

    from sharing_api.sdk import SharingClient

    monkeypatch.setenv("ALLIANCE_API_URL", cast.api.url)
    monkeypatch.delenv("ALLIANCE_TOKEN", raising=False)
    patient = known_patient(cast)
    key = _key_file(tmp_path, "patient", "0x" + bytes(patient.key).hex())
    rid = cast.clinic.upload(patient.address, "lab", "c1.role:doctor", cast.sealed(b"{}"))[
        "record_id"
    ]
    propose = cast.clinic_doctor.propose_referral
    first = propose(patient.address, cast.address("h3"), categories=["lab"], reason="nephrology")
    second = propose(patient.address, cast.address("h3"), record_ids=[rid])

    status, out, err = _main(
        ["referral", "proposal-accept", str(first["proposal_id"]), "--key-file", key], capsys
    )
    assert status == 0, err
    accepted = json.loads(out)
    assert accepted["status"] == "accepted" and accepted["record_ids"] == [rid]
    (said,) = err
    assert said.startswith(f"proposal {first['proposal_id']} accepted: referral up from ")
    assert "Pujiang County People's Hospital" in said and "reason: nephrology" in said
    wallet = SharingClient(cast.api.url)
    wallet.login(patient.key)
    try:  # on chain, the patient's own referral
        (made,) = wallet.referrals()
        assert made["referral_id"] == accepted["referral_id"] and made["status"] == "created"
    finally:
        wallet.close()

    args = ["referral", "proposal-decline", str(second["proposal_id"]), "--note", "not now"]
    status, out, err = _main([*args, "--key-file", key], capsys)
    assert status == 0, err
    declined = json.loads(out)
    assert declined["status"] == "declined" and declined["note"] == "not now"
    # Answered once: a second answer is one line, exit 1.
    status, _, err = _main([*args, "--key-file", key], capsys)
    assert status == 1 and len(err) == 1 and "already declined" in err[0], err
