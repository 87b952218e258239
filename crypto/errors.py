"""The documented exceptions of ``crypto``.

Every failure a caller can cause with bad input raises a subclass of :class:`CryptoError`
(itself a ``ValueError``), never a crash inside a parser or a wrong answer:

- :class:`FormatError`: bytes that are not a well-formed object of the expected type and
  version (bad magic, version, length, a point not in the prime-order subgroup, trailing data).
- :class:`PolicyError`: a policy that does not parse or that the scheme cannot serve; the
  message names the position.
- :class:`DecryptionError`: the key does not satisfy the policy, belongs to another authority,
  has expired, or the ciphertext was tampered with, truncated or reordered.
- :class:`KeystoreError`: a key file that cannot be opened (wrong passphrase, corrupted).
"""

from __future__ import annotations


class CryptoError(ValueError):
    """Base class of every documented error raised by ``crypto``."""


class FormatError(CryptoError):
    """Malformed serialized data: wrong magic, version, length, or a point off the subgroup."""


class PolicyError(CryptoError):
    """A policy that does not parse, or that this scheme cannot encrypt under."""

    def __init__(self, message: str, position: int | None = None) -> None:
        self.position = position
        if position is not None:
            message = f"{message} (at position {position})"
        super().__init__(message)


class DecryptionError(CryptoError):
    """The ciphertext cannot be opened with this key, or it was tampered with."""


class KeyExpiredError(DecryptionError):
    """The key's expiry epoch is before the epoch the ciphertext was bound to."""


class KeystoreError(CryptoError):
    """A key file that cannot be opened: wrong passphrase or corrupted file."""
