"""RW15 formats: round trips, and hostile bytes to every parser raise only FormatError;
tampering with a ciphertext is detected (by the parser or by a wrong encapsulated element)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto.encoding import DOMAIN, Writer
from crypto.errors import DecryptionError, FormatError
from crypto.policy import parse_policy
from crypto.rw15 import Rw15, Rw15Ciphertext, issue
from crypto.rw15_formats import (
    dump_ciphertext,
    dump_global_params,
    dump_public_key,
    dump_secret_key,
    dump_user_key,
    load_ciphertext,
    load_global_params,
    load_public_key,
    load_secret_key,
    load_user_key,
)

RW15 = Rw15()
GID = "0x" + "c3" * 20
POLICY = "h1.dept:cardiology and 2 of (reg.title:chief, pj.a:1, h1.b:1)"

PARSERS: dict[str, Callable[[bytes], Any]] = {
    "global params": load_global_params,
    "public key": load_public_key,
    "secret key": load_secret_key,
    "user key": load_user_key,
    "ciphertext": load_ciphertext,
}


@pytest.fixture(scope="module")
def objects() -> dict[str, Any]:
    pairs = {a: RW15.setup_authority(a) for a in ("h1", "reg", "pj")}
    pks = {a: p[0] for a, p in pairs.items()}
    key = issue(RW15, pairs["h1"][1], GID, ["h1.dept:cardiology", "h1.b:1"], 100).merge(
        RW15.keygen(pairs["reg"][1], GID, ["reg.title:chief"])
    )
    z, ct = RW15.encapsulate(pks, parse_policy(POLICY))
    return {"pk": pks["h1"], "sk": pairs["h1"][1], "key": key, "z": z, "ct": ct}


@pytest.fixture(scope="module")
def valid(objects: dict[str, Any]) -> dict[str, bytes]:
    return {
        "global params": dump_global_params(RW15),
        "public key": dump_public_key(objects["pk"]),
        "secret key": dump_secret_key(objects["sk"]),
        "user key": dump_user_key(objects["key"]),
        "ciphertext": dump_ciphertext(objects["ct"]),
    }


def test_round_trips(objects: dict[str, Any], valid: dict[str, bytes]) -> None:
    for name, raw in valid.items():
        obj = PARSERS[name](raw)
        dump: dict[str, Callable[[Any], bytes]] = {
            "global params": dump_global_params,
            "public key": dump_public_key,
            "secret key": dump_secret_key,
            "user key": dump_user_key,
            "ciphertext": dump_ciphertext,
        }
        assert dump[name](obj) == raw
    key = load_user_key(valid["user key"])
    ct = load_ciphertext(valid["ciphertext"])
    assert RW15.decapsulate(key, ct) == objects["z"]
    assert load_global_params(valid["global params"]).e == RW15.e
    assert len(valid["ciphertext"]) == 4 + 1 + 4 + len(POLICY) + 4 + 4 * 768


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_truncations_and_extensions_are_format_errors(valid: dict[str, bytes], name: str) -> None:
    raw = valid[name]
    for cut in sorted({0, 1, 4, 5, len(raw) // 2, len(raw) - 1}):
        with pytest.raises(FormatError):
            PARSERS[name](raw[:cut])
    with pytest.raises(FormatError):
        PARSERS[name](raw + b"\x00")


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.sampled_from(sorted(PARSERS)), data=st.data())
def test_mutations_raise_only_format_errors(valid: dict[str, bytes], name: str, data: Any) -> None:
    raw = bytearray(valid[name])
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    with contextlib.suppress(FormatError):
        PARSERS[name](bytes(raw))


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(sorted(PARSERS)), blob=st.binary(max_size=700))
def test_random_bytes_raise_only_format_errors(name: str, blob: bytes) -> None:
    with contextlib.suppress(FormatError):
        PARSERS[name](blob)


@settings(max_examples=100, deadline=None)
@given(name=st.sampled_from(sorted(PARSERS)), body=st.binary(max_size=900))
def test_random_bodies_behind_a_valid_magic_raise_only_format_errors(
    name: str, body: bytes
) -> None:
    magic = {
        "global params": b"AMGP",
        "public key": b"AMPK",
        "secret key": b"AMSK",
        "user key": b"AMUK",
        "ciphertext": b"AMCT",
    }[name]
    with contextlib.suppress(FormatError):
        PARSERS[name](magic + b"\x01" + body)


def test_non_canonical_fields_are_refused(objects: dict[str, Any], valid: dict[str, bytes]) -> None:
    grp = RW15.group
    key = objects["key"]
    k, kp = key.components["h1.b:1"]

    def user_key(gid: str, attribute: str) -> bytes:
        w = Writer().raw(b"AMUK").u8(1).text(gid).u32(1).text(attribute)
        return w.raw(grp.dump_g2(k)).raw(grp.dump_g1(kp)).getvalue()

    load_user_key(user_key(GID, "h1.b:1"))
    for gid, attribute in [
        (GID.upper().replace("0X", "0x"), "h1.b:1"),  # not lowercase
        ("dr-li", "h1.b:1"),  # not an address
        (GID, "b:1"),  # names no authority
        (GID, "H1.b:1"),  # not a valid attribute
    ]:
        with pytest.raises(FormatError):
            load_user_key(user_key(gid, attribute))
    ct: Rw15Ciphertext = objects["ct"]
    for policy in (POLICY.replace(" and ", " AND "), "dept:cardiology", "h1.a:1 or h1.b:1"):
        w = Writer().raw(b"AMCT").u8(1).text(policy).u32(len(ct.rows))
        raw = dump_ciphertext(ct)
        with pytest.raises(FormatError):
            load_ciphertext(w.getvalue() + raw[len(raw) - 768 * len(ct.rows) :])
    with pytest.raises(FormatError, match="label"):
        load_global_params(Writer().raw(b"AMGP").u8(1).text("Not A Label").getvalue())


def _wrap(z: Any, ct: Rw15Ciphertext, data_key: bytes) -> bytes:
    """The data-key wrap as ``crypto.header`` does it for FAME: AES-GCM under HKDF(Z), the
    whole serialized ciphertext as associated data."""
    nonce = bytes(12)
    return AESGCM(_kek(z)).encrypt(nonce, data_key, dump_ciphertext(ct))


def _kek(z: Any) -> bytes:
    hkdf = HKDF(hashes.SHA256(), 32, salt=b"test", info=DOMAIN + b"wrap-key")
    return hkdf.derive(RW15.group.dump_gt(z))


def test_tampering_is_detected(objects: dict[str, Any], valid: dict[str, bytes]) -> None:
    """Every byte flip is refused by the parser, by the KEM (another attribute set), or by the
    AEAD of the data-key wrap (a wrong Z, or a changed row the key does not use)."""
    raw = valid["ciphertext"]
    key, z = objects["key"], objects["z"]
    sealed = _wrap(z, objects["ct"], b"k" * 32)
    header = len(raw) - 4 * 768
    offsets = (0, 300, 576, 600, 624, 700)
    positions = [*range(0, header, 3), *(header + i * 768 + o for i in range(4) for o in offsets)]
    outcomes = {"format": 0, "kem": 0, "aead": 0}
    for position in positions:
        mutated = bytearray(raw)
        mutated[position] ^= 0x01
        try:
            ct = load_ciphertext(bytes(mutated))
            z2 = RW15.decapsulate(key, ct)
        except FormatError:
            outcomes["format"] += 1
            continue
        except DecryptionError:
            outcomes["kem"] += 1
            continue
        with pytest.raises(InvalidTag):
            AESGCM(_kek(z2)).decrypt(bytes(12), sealed, bytes(mutated))
        outcomes["aead"] += 1
    assert all(outcomes.values()), outcomes
    rows = objects["ct"].rows
    swapped = Rw15Ciphertext(objects["ct"].policy, (rows[1], rows[0], *rows[2:]))
    assert RW15.decapsulate(key, swapped) != z
