"""Pairwise patient pseudonyms: one address per custodian, all from one recovery phrase.

A patient's records, consents and referrals at custodian M are under the patient's
*M-pseudonym*, so nothing on chain links their care at two members. Every pseudonym is a
BIP-32 key under the patient's one BIP-39 recovery phrase, so the phrase restores them all.

The paths (the wallet, ``sharing_api/web/apps/shared/keystore.js``, derives the same):

- primary (recovery, sign-in) key: ``m/44'/60'/0'/0/0``, what every Ethereum wallet derives;
- pseudonym for custodian ``M`` (a member address ``0x...``)::

      i    = int.from_bytes(keccak256(bytes.fromhex(M[2:]))[:4], "big") & 0x7FFFFFFF
      path = m/44'/60'/0'/1'/{i}'

  Branch ``1'`` is ours (change branch ``0`` stays the ordinary accounts). Every level is
  hardened, so neither the primary's nor another pseudonym's public key helps to compute
  this one: a leaked extended public key links nothing. ``i`` is a hash of the member's
  address, not its position in a list, so a new member never renumbers anyone.

Two members whose ``i`` collide (a 1 in 2^31 chance per pair) would share a pseudonym;
``custodian_index`` is pure, so a deployment can check its members once.
"""

from __future__ import annotations

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import is_address, to_checksum_address
from eth_utils.crypto import keccak
from eth_utils.exceptions import ValidationError

PRIMARY_PATH = "m/44'/60'/0'/0/0"
PSEUDONYM_BRANCH = "m/44'/60'/0'/1'"
HARDENED = 0x8000_0000

# eth-account gates HD derivation behind this flag (its BIP-32 code is unaudited upstream);
# we use it rather than hand-rolled BIP-32, and check it against ethers in the tests.
Account.enable_unaudited_hdwallet_features()


class PseudonymError(ValueError):
    """A malformed recovery phrase or member address."""


def custodian_index(custodian: str) -> int:
    """The hardened child index (below 2^31; the path adds the hardened bit) for a member."""
    if not is_address(custodian):
        raise PseudonymError(f"custodian: not an address: {custodian!r}")
    digest = keccak(bytes.fromhex(to_checksum_address(custodian)[2:]))
    return int.from_bytes(digest[:4], "big") & (HARDENED - 1)


def pseudonym_path(custodian: str) -> str:
    return f"{PSEUDONYM_BRANCH}/{custodian_index(custodian)}'"


def _derive(mnemonic: str, path: str) -> LocalAccount:
    try:
        account: LocalAccount = Account.from_mnemonic(" ".join(mnemonic.split()), account_path=path)
    except (ValueError, ValidationError) as exc:  # never echo the phrase: it is the key
        raise PseudonymError(f"not a valid BIP-39 recovery phrase ({type(exc).__name__})") from None
    return account


def primary_account(mnemonic: str) -> LocalAccount:
    """The recovery key: signs in, and proves the pseudonyms belong to one session."""
    return _derive(mnemonic, PRIMARY_PATH)


def pseudonym_account(mnemonic: str, custodian: str) -> LocalAccount:
    """The patient's key for records, consents and referrals at ``custodian``."""
    return _derive(mnemonic, pseudonym_path(custodian))
