"""A patient's wallet in Python: one recovery phrase, one pseudonym per custodian.

What the browser wallet does, for scripts, tests and the CLI: sign in once proving every
pseudonym, sign each consent with the pseudonym of the custodian whose records it covers,
and list and answer referral proposals naming any pseudonym with that pseudonym's key (the
patient never picks an address or an HD path).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from sharing_api.patient.pseudonyms import primary_account, pseudonym_account
from sharing_api.sdk.client import SharingClient

CARE_ROLES = frozenset({"hospital", "clinic"})  # members that keep records (custodians)


def care_providers(client: SharingClient) -> list[str]:
    """The alliance's active hospitals and clinics (``GET /members``), lowercase."""
    return sorted(
        str(m["address"]).lower()
        for m in client.json("GET", "/members")
        if m["active"] and CARE_ROLES & set(m["roles"])
    )


class PatientWallet:
    def __init__(self, mnemonic: str) -> None:
        self._mnemonic = " ".join(mnemonic.split())
        self.primary: LocalAccount = primary_account(self._mnemonic)  # checks the phrase
        self._accounts: dict[str, LocalAccount] = {}
        self._signed_in: list[str] | None = None  # the custodians proven at the last login

    @classmethod
    def from_file(cls, path: Path) -> PatientWallet:
        """A file holding the recovery phrase (keep it 0600; it is every key)."""
        text = path.read_text(encoding="utf-8").strip()
        if not text:
            raise ValueError(f"{path}: empty; expected a BIP-39 recovery phrase")
        return cls(text)

    def __repr__(self) -> str:  # never the phrase
        return f"PatientWallet({self.primary.address})"

    @property
    def address(self) -> str:
        """The primary (sign-in) address: never on chain for records or consents."""
        return str(self.primary.address)

    def account_at(self, custodian: str) -> LocalAccount:
        key = custodian.lower()
        if key not in self._accounts:
            self._accounts[key] = pseudonym_account(self._mnemonic, custodian)
        return self._accounts[key]

    def address_at(self, custodian: str) -> str:
        """The address custodian ``custodian`` registers this patient's records under."""
        return str(self.account_at(custodian).address)

    def key_at(self, custodian: str) -> str:
        return "0x" + bytes(self.account_at(custodian).key).hex()

    def custodian_of(self, address: str, custodians: Iterable[str]) -> str:
        """Which custodian's pseudonym ``address`` is (ValueError if none)."""
        for custodian in custodians:
            if self.address_at(custodian).lower() == address.lower():
                return custodian
        raise ValueError(f"{address} is not one of this wallet's pseudonyms")

    def login(self, client: SharingClient, custodians: Iterable[str] | None = None) -> Any:
        """Sign in once with the primary, proving the pseudonym at every care provider
        (``custodians``, default: every active hospital and clinic of the alliance, read
        from ``GET /members`` after a first sign-in as the primary alone: the member list
        is for signed-in callers only)."""
        if custodians is None:
            client.login(self.primary_key)
            custodians = care_providers(client)
        custodians = list(custodians)
        out = client.login(self.primary_key, [self.key_at(m) for m in custodians])
        self._signed_in = custodians
        return out

    @property
    def primary_key(self) -> str:
        return "0x" + bytes(self.primary.key).hex()

    def _custodians(self, client: SharingClient, custodians: Iterable[str] | None) -> list[str]:
        """The custodians given, else those proven at the last login, else every one."""
        if custodians is not None:
            return list(custodians)
        return self._signed_in if self._signed_in is not None else care_providers(client)

    def key_for(
        self, client: SharingClient, address: str, custodians: Iterable[str] | None = None
    ) -> str:
        """The key of ``address``, the primary or one of this wallet's pseudonyms."""
        if address.lower() == self.address.lower():
            return self.primary_key
        return self.key_at(self.custodian_of(address, self._custodians(client, custodians)))

    # ---- referral proposals: the inbox across gateways, answered with the right key ----------

    def referral_inbox(
        self, client: SharingClient, custodians: Iterable[str] | None = None
    ) -> dict[str, Any]:
        """Proposals naming the primary or any pseudonym, at every gateway (the pseudonyms
        must be proven at sign-in: by default, those of the last :meth:`login`)."""
        keys = {m: self.key_at(m) for m in self._custodians(client, custodians)}
        return client.referral_inbox(self.primary_key, pseudonym_keys=keys)

    def accept_proposal(
        self, client: SharingClient, proposal: dict[str, Any], lasts_s: int = 30 * 86_400
    ) -> dict[str, Any]:
        """Accept with the key of the address the proposal names (its ReferralConsent), for
        a referral that lasts ``lasts_s``."""
        key = self.key_for(client, str(proposal["patient"]))
        return client.accept_inbox_proposal(key, proposal, lasts_s=lasts_s)

    def decline_proposal(
        self, client: SharingClient, proposal: dict[str, Any], note: str = ""
    ) -> dict[str, Any]:
        """Decline, signed by the address the proposal names."""
        key = self.key_for(client, str(proposal["patient"]))
        return client.decline_inbox_proposal(key, proposal, note)

    def withdraw_referral(self, client: SharingClient, referral_id: int) -> dict[str, Any]:
        """End a referral at once, signed by the address the referral names."""
        patient = str(client.referral(referral_id)["patient"])
        return client.withdraw_referral(self.key_for(client, patient), referral_id)

    def grant_consent(
        self, client: SharingClient, *, custodian: str, grantee: str, **terms: Any
    ) -> dict[str, Any]:
        """A consent to ``grantee`` over ``custodian``'s records of this patient: signed by
        the custodian's pseudonym, the only address those records are under."""
        terms.setdefault("coarse_times", True)
        return client.grant_consent(self.key_at(custodian), grantee=grantee, **terms)

    def revoke_consent(
        self, client: SharingClient, consent_id: int, custodian: str | None = None
    ) -> dict[str, Any]:
        """Revoke with the pseudonym that granted it (looked up if ``custodian`` is None)."""
        if custodian is None:
            patient = client.json("GET", f"/consents/{consent_id}")["patient"]
            custodian = self.custodian_of(patient, care_providers(client))
        return client.revoke_consent(self.key_at(custodian), consent_id, coarse_times=True)
