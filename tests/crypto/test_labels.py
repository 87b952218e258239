"""Security labels (DS4P) in the sealed header (crypto/labels.py, header version 4).

Threat: a gateway (or anyone between the custodian and a reader) lowers a record's labels,
say drops HIV or turns V into N, so the wallet no longer asks the patient to opt in. The
header MAC catches it for every reader that opens the record; the policy commitment on
chain catches it for whoever holds only the header.
"""

from __future__ import annotations

import io
import os
from dataclasses import replace
from pathlib import Path

import pytest

from crypto.encoding import Reader
from crypto.errors import DecryptionError, FormatError
from crypto.header import VERSION_SCHEMES, RecordHeader, open_header, rewrap, seal_header
from crypto.labels import SENSITIVITY, UNLABELLED, SecurityLabels
from crypto.policy_commitment import (
    PolicyCommitmentMismatch,
    check_policy_commitment,
    policy_commitment,
)
from crypto.records import decrypt_record, encrypt_record, read_container_header, write_container
from tests.crypto.conftest import Alliance

POLICY = "h1.role:doctor"
HIV_V = SecurityLabels.of("V", ["hiv", "PSY", "HIV"])


def _seal(alliance: Alliance, labels: SecurityLabels = HIV_V) -> tuple[RecordHeader, bytes]:
    key = os.urandom(32)
    header = seal_header(key, os.urandom(16), POLICY, [alliance.h1.params()], labels=labels)
    return header, key


def test_labels_are_normalised_and_checked() -> None:
    assert SecurityLabels("V", ("HIV", "PSY")) == HIV_V
    assert HIV_V.sensitive and not UNLABELLED.sensitive
    assert SecurityLabels.of("r").sensitive and SecurityLabels.of("N", ["ETH"]).sensitive
    with pytest.raises(ValueError, match="unknown confidentiality code 'X'"):
        SecurityLabels.of("X")
    with pytest.raises(ValueError, match="unknown sensitivity code 'CANCER'"):
        SecurityLabels.of("N", ["CANCER"])
    with pytest.raises(ValueError, match="sorted and unique"):
        SecurityLabels("N", ("PSY", "HIV"))
    for term in SENSITIVITY.values():  # every code has words in both languages
        assert term.display and term.en and term.zh


def test_labelled_header_round_trips_and_opens(alliance: Alliance) -> None:
    header, key = _seal(alliance)
    assert header.version == 4
    again = RecordHeader.from_bytes(header.to_bytes())
    assert again == header and again.labels == HIV_V
    assert open_header(again, alliance.cardiologist) == key
    # A re-wrap (new epoch or policy) keeps the labels: the body they describe is the same.
    renewed = rewrap(again, alliance.cardiologist, [alliance.h1.params()])
    assert renewed.labels == HIV_V and renewed.version == 4


def test_unlabelled_records_keep_the_old_format_and_read_as_normal(alliance: Alliance) -> None:
    header, _ = _seal(alliance, UNLABELLED)
    assert header.version == 2 and header.to_bytes()[4] == 2  # older readers still open it
    assert RecordHeader.from_bytes(header.to_bytes()).labels == UNLABELLED
    v3 = seal_header(os.urandom(32), os.urandom(16), POLICY, [alliance.h1.params()], version=3)
    assert RecordHeader.from_bytes(v3.to_bytes()).labels == SecurityLabels("N", ())
    with pytest.raises(ValueError, match="cannot carry security labels"):
        seal_header(os.urandom(32), os.urandom(16), POLICY, [alliance.h1.params()], None,
                    version=VERSION_SCHEMES, labels=HIV_V)  # fmt: skip


def _label_offset(header: RecordHeader) -> int:
    """Where the labels start in the header's bytes (after magic, version, suite, stream id
    and the policy text)."""
    return 4 + 1 + 1 + 16 + 4 + len(header.policy.encode())


def test_a_lowered_label_is_detected_by_readers_and_by_the_commitment(alliance: Alliance) -> None:
    header, _ = _seal(alliance)
    on_chain = policy_commitment(header)
    raw = bytearray(header.to_bytes())
    at = _label_offset(header)
    assert raw[at] == ord("V")
    raw[at] = ord("N")  # "very restricted" becomes "normal"
    lowered = RecordHeader.from_bytes(bytes(raw))  # still well formed...
    assert lowered.labels.confidentiality == "N"
    with pytest.raises(DecryptionError, match="tampered"):  # ...but no reader accepts it
        open_header(lowered, alliance.cardiologist)
    with pytest.raises(PolicyCommitmentMismatch):  # nor the chain's commitment
        check_policy_commitment(lowered, on_chain)
    check_policy_commitment(header, on_chain)


def test_dropped_or_stripped_labels_are_detected(alliance: Alliance) -> None:
    header, _ = _seal(alliance)
    on_chain = policy_commitment(header)
    fewer = replace(header, labels=SecurityLabels("V", ("PSY",)))  # HIV dropped, same MAC
    stripped = replace(header, version=VERSION_SCHEMES, labels=UNLABELLED)  # back to v3
    for forged in (fewer, stripped):
        forged = RecordHeader.from_bytes(forged.to_bytes())
        with pytest.raises(DecryptionError, match="tampered"):
            open_header(forged, alliance.cardiologist)
        with pytest.raises(PolicyCommitmentMismatch):
            check_policy_commitment(forged, on_chain)
    # An unlabelled v4 header still commits differently from the same v3 header.
    plain = seal_header(os.urandom(32), b"\x05" * 16, POLICY, [alliance.h1.params()], 1, version=4)
    v3 = replace(plain, version=VERSION_SCHEMES)
    assert policy_commitment(plain) != policy_commitment(v3)


@pytest.mark.parametrize(
    ("label_bytes", "message"),
    [
        (b"X\x00", "unknown confidentiality code"),
        (b"N\x01\x06CANCER", "unknown sensitivity code"),
        (b"N\x02\x03PSY\x03HIV", "not sorted and unique"),
        (b"N\x02\x03HIV\x03HIV", "not sorted and unique"),
        (b"N\x08", "8 sensitivity codes exceeds"),
        (b"N\x01\x00", "sensitivity code of 0 bytes"),
        (b"N\x01\x11" + b"A" * 17, "sensitivity code of 17 bytes"),
        (b"N\x01\x05HI", "truncated"),
    ],
)
def test_malformed_labels_are_refused(label_bytes: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        SecurityLabels.read(Reader(label_bytes, "record header"))


def test_a_malformed_label_in_a_header_is_a_format_error(alliance: Alliance) -> None:
    header, _ = _seal(alliance, SecurityLabels.of("R"))
    raw = bytearray(header.to_bytes())
    raw[_label_offset(header)] = ord("Q")
    with pytest.raises(FormatError, match="unknown confidentiality code 'Q'"):
        RecordHeader.from_bytes(bytes(raw))


def test_a_labelled_container_round_trips(alliance: Alliance) -> None:
    body = io.BytesIO()
    header = encrypt_record(io.BytesIO(b"note"), body, POLICY, [alliance.h1.params()], labels=HIV_V)
    container = io.BytesIO()
    write_container(header, container)
    container.write(body.getvalue())
    container.seek(0)
    read = read_container_header(container)
    assert read.labels == HIV_V
    out = io.BytesIO()
    decrypt_record(read, container, out, alliance.cardiologist)
    assert out.getvalue() == b"note"


def test_fhir_security_codings() -> None:
    codings = HIV_V.fhir_security()
    assert [c["code"] for c in codings] == ["V", "HIV", "PSY"]
    assert codings[0]["system"] == "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
    assert codings[1]["system"] == "http://terminology.hl7.org/CodeSystem/v3-ActCode"
    assert codings[1]["display"] == "HIV/AIDS information sensitivity"


def test_abe_inspect_shows_the_labels(
    alliance: Alliance, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sharing_api.cli.main import main

    body = io.BytesIO()
    header = encrypt_record(io.BytesIO(b"note"), body, POLICY, [alliance.h1.params()], labels=HIV_V)
    path = tmp_path / "note.alr"
    with path.open("wb") as out:
        write_container(header, out)
        out.write(body.getvalue())
    capsys.readouterr()
    assert main(["abe", "inspect", str(path)]) == 0
    shown = capsys.readouterr().out
    assert "labels: confidentiality V (very restricted), sensitivity HIV (" in shown
    assert ", PSY (" in shown
