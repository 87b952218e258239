"""Record headers and whole records: policies across authorities, expiry, tampering, rewrap."""

from __future__ import annotations

import io
import os
import time

import pytest

from crypto.authority import AttributeAuthority, UserKey
from crypto.errors import CryptoError, DecryptionError, KeyExpiredError, PolicyError
from crypto.header import RecordHeader, open_header, rewrap, seal_header
from crypto.records import (
    decrypt_record,
    encrypt_record,
    read_container_header,
    write_container,
)
from tests.crypto.conftest import Alliance

POLICY = "(h1.role:doctor and h1.dept:cardiology) or pj.role:doctor"


def _sealed(alliance: Alliance, policy: str = POLICY, epoch: int | None = None) -> RecordHeader:
    params = [alliance.h1.params(), alliance.pj.params()]
    return seal_header(os.urandom(32), os.urandom(16), policy, params, epoch)


def test_one_ciphertext_many_readers_across_authorities(alliance: Alliance) -> None:
    data = os.urandom(5000)
    body = io.BytesIO()
    header = encrypt_record(
        io.BytesIO(data), body, POLICY, [alliance.h1.params(), alliance.pj.params()]
    )
    assert {w.authority for w in header.wraps} == {"h1", "pj"}
    for reader in (alliance.cardiologist, alliance.pj_doctor):
        out = io.BytesIO()
        decrypt_record(
            RecordHeader.from_bytes(header.to_bytes()), io.BytesIO(body.getvalue()), out, reader
        )
        assert out.getvalue() == data
    with pytest.raises(DecryptionError, match="do not satisfy"):
        decrypt_record(header, io.BytesIO(body.getvalue()), io.BytesIO(), alliance.h1_nurse)


def test_single_authority_policies_are_qualified(alliance: Alliance) -> None:
    header = seal_header(os.urandom(32), os.urandom(16), "role:nurse", [alliance.h1.params()])
    assert header.policy == "h1.role:nurse"
    assert len(open_header(header, alliance.h1_nurse)) == 32


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("role:doctor or pj.role:doctor", "names no authority"),
        ("xx.role:doctor", "no public parameters"),
        ("_epoch.l0:1 or h1.role:doctor", "reserved"),
    ],
)
def test_unsupported_policies_are_refused(alliance: Alliance, policy: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        _sealed(alliance, policy)


def test_key_from_another_authority_is_refused(alliance: Alliance) -> None:
    header = _sealed(alliance, "h1.role:doctor")
    with pytest.raises(DecryptionError, match="names no attribute of authority 'pj'"):
        open_header(header, alliance.pj_doctor)
    impostor = AttributeAuthority.setup("h1").issue_key(["role:doctor"], alliance.now + 10)
    with pytest.raises(DecryptionError, match="generation"):
        open_header(header, impostor)


def test_expired_key_cannot_open_newer_records(alliance: Alliance) -> None:
    key = alliance.h1.issue_key(["role:doctor", "dept:cardiology"], alliance.now + 30)
    assert len(open_header(_sealed(alliance, epoch=alliance.now + 30), key)) == 32
    later = _sealed(alliance, epoch=alliance.now + 31)
    with pytest.raises(KeyExpiredError):
        open_header(later, key)
    # Lying about the expiry in the key's metadata does not help: the scheme enforces it.
    forged = UserKey(**{**key.__dict__, "expiry_epoch": alliance.now + 999})
    with pytest.raises(DecryptionError, match="do not satisfy"):
        open_header(later, forged)


def test_rotation_revokes_old_keys_for_new_records(alliance: Alliance) -> None:
    rotated = alliance.h1.rotate()
    header = seal_header(os.urandom(32), os.urandom(16), "role:nurse", [rotated.params()])
    with pytest.raises(DecryptionError, match="generation"):
        open_header(header, alliance.h1_nurse)
    fresh = rotated.issue_key(["role:nurse"], alliance.now + 10)
    assert len(open_header(header, fresh)) == 32


def test_every_flipped_header_byte_is_detected(alliance: Alliance) -> None:
    raw = _sealed(alliance).to_bytes()
    step = max(1, len(raw) // 150)
    for position in range(0, len(raw), step):
        tampered = bytearray(raw)
        tampered[position] ^= 0x04
        with pytest.raises(CryptoError):
            open_header(RecordHeader.from_bytes(bytes(tampered)), alliance.pj_doctor)


def test_rewrap_changes_readers_without_touching_the_body(alliance: Alliance) -> None:
    params = [alliance.h1.params(), alliance.pj.params()]
    body, data = io.BytesIO(), os.urandom(3000)
    header = encrypt_record(io.BytesIO(data), body, "pj.role:doctor", params)
    new = rewrap(header, alliance.pj_doctor, params, policy="h1.role:nurse")
    assert new.stream_id == header.stream_id
    out = io.BytesIO()
    decrypt_record(new, io.BytesIO(body.getvalue()), out, alliance.h1_nurse)
    assert out.getvalue() == data
    with pytest.raises(DecryptionError):
        open_header(new, alliance.pj_doctor)


def test_rewrap_cost_does_not_depend_on_record_size(alliance: Alliance) -> None:
    # Rewrap takes only the header: a 1-byte and a 64 MiB record give headers of one size.
    params = [alliance.pj.params()]
    small = encrypt_record(io.BytesIO(b"x"), io.BytesIO(), "pj.role:doctor", params)
    big_body = io.BytesIO()
    big = encrypt_record(io.BytesIO(bytes(64 << 20)), big_body, "pj.role:doctor", params)
    assert len(small.to_bytes()) == len(big.to_bytes())
    start = time.perf_counter()
    rewrap(big, alliance.pj_doctor, params, epoch=alliance.now)
    assert time.perf_counter() - start < 2.0  # the body (64 MiB) is never read


def test_container_round_trip_and_mismatched_body(alliance: Alliance) -> None:
    params = [alliance.h1.params()]
    body1, body2 = io.BytesIO(), io.BytesIO()
    header1 = encrypt_record(io.BytesIO(b"one"), body1, "role:nurse", params)
    encrypt_record(io.BytesIO(b"two"), body2, "role:nurse", params)
    container = io.BytesIO()
    write_container(header1, container)
    container.write(body1.getvalue())
    container.seek(0)
    out = io.BytesIO()
    decrypt_record(read_container_header(container), container, out, alliance.h1_nurse)
    assert out.getvalue() == b"one"
    with pytest.raises(DecryptionError, match="another record body"):
        decrypt_record(header1, io.BytesIO(body2.getvalue()), io.BytesIO(), alliance.h1_nurse)
