"""A staff member's own secp256k1 key: its address is their GID for RW15 attribute keys.

It is the person's, not the hospital's: generated here, kept in a key file sealed under the
person's passphrase (``crypto.keystore``, kind ``gid``), and used only to sign key requests
(``sharing_api.auth.key_request``). Keys of two GIDs never combine, so whoever holds this
file holds the person's attribute keys' identity: keep it like a ledger key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eth_account import Account

from crypto.keystore import DEFAULT_LOG2_N, read_key_file, write_key_file

GID_KIND = "gid"


@dataclass(frozen=True)
class StaffIdentity:
    private_key: bytes

    @property
    def gid(self) -> str:
        """The GID: the key's address, lowercase (as the scheme hashes it)."""
        return str(Account.from_key(self.private_key).address).lower()

    @classmethod
    def generate(cls) -> StaffIdentity:
        return cls(bytes(Account.create().key))


def load_or_create(path: Path, passphrase: str, log2_n: int = DEFAULT_LOG2_N) -> StaffIdentity:
    """The identity sealed in ``path``, or a new one sealed there (0600, atomic)."""
    if path.exists():
        raw = read_key_file(path, GID_KIND, passphrase)
        if len(raw) != 32:
            raise ValueError(f"{path}: a GID key is 32 bytes, found {len(raw)}")
        return StaffIdentity(raw)
    identity = StaffIdentity.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_key_file(path, GID_KIND, identity.private_key, passphrase, log2_n)
    return identity
