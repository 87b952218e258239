"""The national-cryptography suite (SM4-GCM + SM3): the standards' vectors, every format
recording its suite, and files of the formats before suites (version 1) still opening."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from crypto.authority import UserKey
from crypto.errors import CryptoError, DecryptionError, FormatError, KeystoreError
from crypto.header import RecordHeader, open_header, rewrap, seal_header
from crypto.keystore import MIN_LOG2_N, file_suite, read_key_file, seal, unseal
from crypto.records import decrypt_record, encrypt_record, read_container_header
from crypto.stream import StreamHeader, decrypt_stream, encrypt_stream, new_stream_id
from crypto.suite import (
    AES_256_GCM_SHA256,
    SM4_GCM_SM3,
    Sm4Gcm,
    Suite,
    suite_by_id,
    suite_by_name,
)
from tests.crypto.conftest import Alliance

DATA = Path(__file__).parent / "data"
SM4 = SM4_GCM_SM3


# ---- the standards' vectors ---------------------------------------------------------------


def _sm4_block(key: bytes, block: bytes, rounds: int = 1) -> bytes:
    encryptor = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    for _ in range(rounds):
        block = encryptor.update(block)
    return block


def test_sm4_gbt_32907_example_1() -> None:
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    assert _sm4_block(key, key).hex() == "681edf34d206965e86b3e94f536e4246"


def test_sm4_gbt_32907_example_2_one_million_encryptions() -> None:
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    assert _sm4_block(key, key, 1_000_000).hex() == "595298c7c6fd271f0402f804c33d3f66"


@pytest.mark.parametrize(
    ("message", "digest"),
    [
        (b"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
        (b"abcd" * 16, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"),
    ],
)
def test_sm3_gbt_32905_examples(message: bytes, digest: str) -> None:
    h = hashes.Hash(hashes.SM3())
    h.update(message)
    assert h.finalize().hex() == digest
    assert SM4.digest(message).hex() == digest


# RFC 8998, Appendix A.1 (SM4-GCM), through the wrapper the suite uses: ciphertext || tag.
RFC8998_KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
RFC8998_IV = bytes.fromhex("00001234567800000000ABCD")
RFC8998_AAD = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
RFC8998_PLAIN = bytes.fromhex(
    "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
    "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA"
)
RFC8998_SEALED = bytes.fromhex(
    "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
    "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
    "83DE3541E4C2B58177E065A9BF7B62EC"
)


def test_sm4_gcm_rfc_8998_vector() -> None:
    aead = Sm4Gcm(RFC8998_KEY)
    assert aead.encrypt(RFC8998_IV, RFC8998_PLAIN, RFC8998_AAD) == RFC8998_SEALED
    assert aead.decrypt(RFC8998_IV, RFC8998_SEALED, RFC8998_AAD) == RFC8998_PLAIN
    for bad in (RFC8998_SEALED[:-1] + b"\x00", RFC8998_SEALED[:10], b""):
        with pytest.raises(InvalidTag):
            aead.decrypt(RFC8998_IV, bad, RFC8998_AAD)
    with pytest.raises(InvalidTag):
        aead.decrypt(RFC8998_IV, RFC8998_SEALED, RFC8998_AAD + b"x")


def test_suites_by_id_and_name() -> None:
    assert suite_by_id(1, "x") is AES_256_GCM_SHA256 and suite_by_id(2, "x") is SM4
    assert suite_by_name("SM4-GCM") is SM4 and suite_by_name(SM4) is SM4
    for unknown in (0, 3, 255):
        with pytest.raises(FormatError, match=f"record body: unknown cipher suite id {unknown}"):
            suite_by_id(unknown, "record body")
    with pytest.raises(ValueError, match="aes-256-gcm, sm4-gcm"):
        suite_by_name("sm4-cbc")
    # The AES suite's tagged hash is the one every version-1 format used.
    from crypto.encoding import tagged_hash

    assert AES_256_GCM_SHA256.tagged_hash("t", b"a", 1) == tagged_hash("t", b"a", 1)
    assert SM4.tagged_hash("t", b"a", 1) != tagged_hash("t", b"a", 1)


# ---- the record stream ----------------------------------------------------------------------


def _seal_stream(data: bytes, key: bytes, suite: Suite = SM4) -> bytes:
    out = io.BytesIO()
    encrypt_stream(key, io.BytesIO(data), out, new_stream_id(), 1024, suite)
    return out.getvalue()


def test_sm4_stream_round_trip_records_its_suite() -> None:
    key, data = os.urandom(32), os.urandom(5000)
    sealed = _seal_stream(data, key)
    assert StreamHeader.from_bytes(sealed[:26]).suite is SM4
    assert sealed[4:6] == b"\x02\x02"  # version 2, suite 2
    out = io.BytesIO()
    assert decrypt_stream(key, io.BytesIO(sealed), out) == len(data)
    assert out.getvalue() == data
    # Same size as the AES suite: the layout does not depend on the suite.
    assert len(sealed) == len(_seal_stream(data, key, AES_256_GCM_SHA256))


def test_sm4_stream_tampering_and_suite_swaps_are_detected() -> None:
    key = os.urandom(32)
    sealed = _seal_stream(os.urandom(3000), key)
    for position in range(0, len(sealed), 37):
        tampered = bytearray(sealed)
        tampered[position] ^= 0x01
        with pytest.raises(CryptoError):
            decrypt_stream(key, io.BytesIO(bytes(tampered)), io.BytesIO())
    swapped = bytearray(sealed)
    swapped[5] = AES_256_GCM_SHA256.suite_id  # claims AES: the tags cannot verify
    with pytest.raises(DecryptionError, match="chunk 0"):
        decrypt_stream(key, io.BytesIO(bytes(swapped)), io.BytesIO())
    swapped[5] = 9
    with pytest.raises(FormatError, match="unknown cipher suite id 9"):
        decrypt_stream(key, io.BytesIO(bytes(swapped)), io.BytesIO())


# ---- record headers and whole records ------------------------------------------------------


def test_sm4_record_round_trip_rewrap_and_mismatched_body(alliance: Alliance) -> None:
    params = [alliance.h1.params(), alliance.pj.params()]
    body, data = io.BytesIO(), os.urandom(4000)
    header = encrypt_record(io.BytesIO(data), body, "pj.role:doctor", params, suite=SM4)
    parsed = RecordHeader.from_bytes(header.to_bytes())
    assert parsed.suite is SM4 and parsed.to_bytes() == header.to_bytes()
    out = io.BytesIO()
    decrypt_record(parsed, io.BytesIO(body.getvalue()), out, alliance.pj_doctor)
    assert out.getvalue() == data
    renewed = rewrap(parsed, alliance.pj_doctor, params, policy="h1.role:nurse")
    assert renewed.suite is SM4
    out = io.BytesIO()
    decrypt_record(renewed, io.BytesIO(body.getvalue()), out, alliance.h1_nurse)
    assert out.getvalue() == data
    # An AES body under the SM4 header's stream id: refused by name, before any chunk.
    data_key = open_header(parsed, alliance.pj_doctor)
    aes_body = io.BytesIO()
    encrypt_stream(data_key, io.BytesIO(data), aes_body, parsed.stream_id)
    with pytest.raises(DecryptionError, match="suite sm4-gcm, the body aes-256-gcm"):
        decrypt_record(parsed, io.BytesIO(aes_body.getvalue()), io.BytesIO(), alliance.pj_doctor)


def test_sm4_header_tampering_and_suite_swaps_are_detected(alliance: Alliance) -> None:
    raw = seal_header(
        os.urandom(32), os.urandom(16), "role:nurse", [alliance.h1.params()], suite=SM4
    ).to_bytes()
    assert raw[4:6] == b"\x02\x02"
    for position in [*range(0, 64), *range(64, len(raw), max(1, len(raw) // 60))]:
        tampered = bytearray(raw)
        tampered[position] ^= 0x03  # byte 5 becomes suite 1: AES keys, so the wrap fails
        with pytest.raises(CryptoError):
            open_header(RecordHeader.from_bytes(bytes(tampered)), alliance.h1_nurse)
    unknown = bytearray(raw)
    unknown[5] = 0
    with pytest.raises(FormatError, match="record header: unknown cipher suite id 0"):
        RecordHeader.from_bytes(bytes(unknown))


# ---- key files ------------------------------------------------------------------------------


def test_sm4_key_file_round_trip_and_errors() -> None:
    sealed = seal("user", b"secret", "pw", MIN_LOG2_N, SM4)
    assert file_suite(sealed) is SM4
    assert unseal(sealed, "pw", "user") == b"secret"
    with pytest.raises(KeystoreError, match="wrong passphrase"):
        unseal(sealed, "pW", "user")
    swapped = bytearray(sealed)
    swapped[5] = AES_256_GCM_SHA256.suite_id
    with pytest.raises(KeystoreError, match="wrong passphrase or corrupted"):
        unseal(bytes(swapped), "pw", "user")
    swapped[5] = 7
    with pytest.raises(KeystoreError, match="unknown cipher suite id 7"):
        unseal(bytes(swapped), "pw", "user")


# ---- files written before suites existed (version 1) ----------------------------------------


def test_version_1_files_still_open_as_aes() -> None:
    """Written by the code before this change (commit b8ac8fc), kept as bytes."""
    key = UserKey.from_bytes((DATA / "v1_user.key").read_bytes())
    container = io.BytesIO((DATA / "v1_record.alrc").read_bytes())
    header = read_container_header(container)
    assert header.version == 1 and header.suite is AES_256_GCM_SHA256
    out = io.BytesIO()
    decrypt_record(header, container, out, key)
    assert out.getvalue() == b"a version-1 record body, " * 100
    # The header re-serializes byte for byte (its MAC covers the version-1 bytes).
    raw = (DATA / "v1_record.alrc").read_bytes()
    assert raw[9 : 9 + len(header.to_bytes())] == header.to_bytes()
    sealed_file = DATA / "v1_keyfile.alks"
    assert file_suite(sealed_file.read_bytes()) is AES_256_GCM_SHA256
    assert read_key_file(sealed_file, "user", "golden passphrase") == b"version-1 secret"


def test_rewrap_of_a_version_1_record_keeps_the_body(alliance: Alliance) -> None:
    key = UserKey.from_bytes((DATA / "v1_user.key").read_bytes())
    container = io.BytesIO((DATA / "v1_record.alrc").read_bytes())
    header = read_container_header(container)
    renewed = rewrap(header, key, [alliance.h1.params()], policy="role:nurse")
    assert renewed.version == 2 and renewed.suite is AES_256_GCM_SHA256
    out = io.BytesIO()
    decrypt_record(renewed, container, out, alliance.h1_nurse)
    assert out.getvalue() == b"a version-1 record body, " * 100


def test_a_version_1_object_cannot_claim_another_suite() -> None:
    with pytest.raises(ValueError, match="version 1 in the AES suite"):
        StreamHeader(1024, os.urandom(16), SM4, version=1)
    with pytest.raises(ValueError, match="version 1 in the AES suite"):
        RecordHeader(os.urandom(16), "h1.role:nurse", 1, (), suite=SM4, version=1)
