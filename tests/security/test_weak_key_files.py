"""Threat: a key file sealed with a cheap KDF (an attacker who can swap files, or an old
tool) makes its passphrase cheap to guess. New files use scrypt 2^17; files below the
minimum are refused on load."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.encoding import Writer
from crypto.errors import KeystoreError
from crypto.keystore import DEFAULT_LOG2_N, MIN_LOG2_N, _kdf, read_key_file, seal, write_key_file


def _sealed_cheaply(payload: bytes, passphrase: str, log2_n: int) -> bytes:
    """A well-formed key file at a cost ``seal`` no longer produces (as an old build did)."""
    salt, nonce = os.urandom(16), os.urandom(12)
    head = (
        Writer().raw(b"ALKS").u8(1).text("ledger").u8(log2_n).u8(8).u8(1).raw(salt).raw(nonce)
    ).getvalue()
    return head + AESGCM(_kdf(passphrase, salt, log2_n, 8, 1)).encrypt(nonce, payload, head)


def test_cheaply_sealed_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.key"
    path.write_bytes(_sealed_cheaply(b"\x01" * 32, "pw", 10))
    with pytest.raises(KeystoreError, match="out-of-range KDF parameters"):
        read_key_file(path, "ledger", "pw")
    at_minimum = tmp_path / "min.key"
    at_minimum.write_bytes(_sealed_cheaply(b"\x01" * 32, "pw", MIN_LOG2_N))
    assert read_key_file(at_minimum, "ledger", "pw") == b"\x01" * 32


def test_new_key_files_use_the_raised_cost(tmp_path: Path) -> None:
    assert DEFAULT_LOG2_N >= 17
    path = tmp_path / "new.key"
    write_key_file(path, "ledger", b"\x02" * 32, "pw")
    log2_n = path.read_bytes()[4 + 1 + 1 + 4 + len("ledger")]  # magic, version, suite, kind
    assert log2_n == DEFAULT_LOG2_N
    with pytest.raises(KeystoreError, match="log2 N"):
        seal("ledger", b"x", "pw", log2_n=MIN_LOG2_N - 1)
