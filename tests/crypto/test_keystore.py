"""Keys at rest under a passphrase."""

from __future__ import annotations

from pathlib import Path

import pytest

from crypto.errors import KeystoreError
from crypto.keystore import MIN_LOG2_N, read_key_file, seal, unseal, write_key_file


def test_round_trip_and_file_mode(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    write_key_file(path, "user", b"secret material", "correct horse")
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_key_file(path, "user", "correct horse") == b"secret material"


def test_wrong_passphrase_kind_and_corruption(tmp_path: Path) -> None:
    sealed = seal("user", b"secret", "pw", log2_n=MIN_LOG2_N)
    with pytest.raises(KeystoreError, match="wrong passphrase"):
        unseal(sealed, "pW", "user")
    with pytest.raises(KeystoreError, match="expected a authority key"):
        unseal(sealed, "pw", "authority")
    for position in (0, 6, len(sealed) // 2, len(sealed) - 1):
        tampered = bytearray(sealed)
        tampered[position] ^= 1
        with pytest.raises(KeystoreError):
            unseal(bytes(tampered), "pw", "user")
    with pytest.raises(KeystoreError, match="empty passphrase"):
        seal("user", b"x", "")


def test_kdf_parameters_are_bounded() -> None:
    sealed = bytearray(seal("user", b"secret", "pw", log2_n=MIN_LOG2_N))
    sealed[4 + 1 + 1 + 4 + 4] = 40  # after magic, version, suite, kind: log2(n) = 40
    with pytest.raises(KeystoreError, match="out-of-range"):
        unseal(bytes(sealed), "pw", "user")
