"""ConsentRegistry: relaying patients' signed grants and revocations; permission checks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from eth_utils.address import to_checksum_address

from sharing_api.chain.base import ContractWrapper
from sharing_api.chain.client import Sent
from sharing_api.chain.coverage import ConsentTerms, consent_problem
from sharing_api.chain.scopes import Category, Purpose, Role, mask
from sharing_api.chain.typed_data import (
    ZERO_ADDRESS,
    ZERO_HASH,
    GrantTerms,
    Signature,
    grant_typed_data,
    revoke_typed_data,
    sign_typed_data,
)


@dataclass(frozen=True)
class ConsentInfo:
    consent_id: int
    patient: str
    valid_from: int
    valid_until: int
    categories: int
    grantee: str
    previous: int
    purposes: int
    grantee_role: Role
    revoked: bool

    def covers(
        self, reader: str, reader_roles: Role, category: Category, purpose: Purpose, now: int
    ) -> bool:
        """The contract's ``permits`` rule, off chain (for indexers and tests).

        ``reader_roles`` is the reader's role mask now (``Role(0)`` for a non-member).
        """
        problem = consent_problem(
            self.terms(),
            patient=self.patient,
            reader=reader,
            reader_roles=int(reader_roles),
            category=int(category),
            purpose=int(purpose),
            now=now,
        )
        return problem is None

    def terms(self) -> ConsentTerms:
        return ConsentTerms(
            self.patient,
            self.grantee,
            int(self.grantee_role),
            self.categories,
            self.purposes,
            self.valid_from,
            self.valid_until,
            self.revoked,
        )


@dataclass(frozen=True)
class Granted:
    consent_id: int
    sent: Sent


class ConsentRegistry(ContractWrapper):
    NAME = "ConsentRegistry"

    # ---- what the patient's wallet does (no chain writes) -------------------------------

    def is_member(self, account: str) -> bool:
        """Membership as the ConsentRegistry's own AllianceRegistry sees it."""
        registry = self.client.contract("AllianceRegistry", self._call(self.fn.alliance()))
        return bool(self._call(registry.functions.isMember(to_checksum_address(account))))

    def nonce_of(self, patient: str) -> int:
        return int(self._call(self.fn.nonces(to_checksum_address(patient))))

    def grant_terms(
        self,
        patient: str,
        *,
        grantee: str | None = None,
        grantee_role: Role | None = None,
        categories: Iterable[Category],
        purposes: Iterable[Purpose],
        valid_from: int,
        valid_until: int,
        deadline: int,
        document_hash: bytes = ZERO_HASH,
        nonce: int | None = None,
    ) -> GrantTerms:
        """Terms for a patient to sign; the nonce is read from chain unless given."""
        if (grantee is None) == (grantee_role is None):
            raise ValueError("give exactly one of grantee (a member) or grantee_role")
        if grantee is not None and not self.is_member(grantee):
            # The contract does not check this at grant time (gas): a grant to a non-member
            # would be inert, so refuse it here before the patient signs.
            raise ValueError(f"grantee {grantee} is not a member of the alliance")
        return GrantTerms(
            patient=to_checksum_address(patient),
            grantee=to_checksum_address(grantee or ZERO_ADDRESS),
            grantee_role=int(grantee_role or 0),
            categories=mask(categories),
            purposes=mask(purposes),
            valid_from=valid_from,
            valid_until=valid_until,
            document_hash=document_hash,
            nonce=self.nonce_of(patient) if nonce is None else nonce,
            deadline=deadline,
        )

    def sign_grant(self, terms: GrantTerms, patient_key: str | bytes) -> Signature:
        typed = grant_typed_data(terms, self.client.chain_id, self.address)
        return sign_typed_data(typed, patient_key)

    def sign_revoke(
        self, consent_id: int, patient_key: str | bytes, *, deadline: int, nonce: int | None = None
    ) -> tuple[int, Signature]:
        """Returns (nonce, signature) of a Revoke for the patient owning ``patient_key``."""
        from eth_account import Account

        patient = Account.from_key(patient_key).address
        nonce = self.nonce_of(patient) if nonce is None else nonce
        typed = revoke_typed_data(
            patient, consent_id, nonce, deadline, self.client.chain_id, self.address
        )
        return nonce, sign_typed_data(typed, patient_key)

    # ---- what a member relays ------------------------------------------------------------

    def grant_by_sig(self, terms: GrantTerms, sig: Signature) -> Granted:
        event, sent = self._send_for_event(
            self.fn.grantBySig(terms.as_tuple(), sig.v, sig.r, sig.s), "ConsentGranted"
        )
        return Granted(int(event.args["consentId"]), sent)

    def attest_patient(self, patient: str) -> Sent:
        """This member (a hospital or clinic) vouches that it verified the patient's real
        identity; only the address and the member go on chain."""
        return self._send(self.fn.attestPatient(to_checksum_address(patient)))

    def is_known_patient(self, patient: str) -> bool:
        return bool(self._call(self.fn.isKnownPatient(to_checksum_address(patient))))

    def revoke_by_sig(self, consent_id: int, nonce: int, deadline: int, sig: Signature) -> Sent:
        return self._send(self.fn.revokeBySig(consent_id, nonce, deadline, sig.v, sig.r, sig.s))

    def revoke(self, consent_id: int) -> Sent:
        """Revocation by the patient's own transaction (this client's account is the patient)."""
        return self._send(self.fn.revoke(consent_id))

    def use_nonce(self) -> Sent:
        """The patient (this client's account) voids its outstanding signatures."""
        return self._send(self.fn.useNonce())

    # ---- views ---------------------------------------------------------------------------

    def get(self, consent_id: int) -> ConsentInfo:
        c = self._call(self.fn.getConsent(consent_id))
        return ConsentInfo(consent_id, c[0], c[1], c[2], c[3], c[4], c[5], c[6], Role(c[7]), c[8])

    def permits(
        self, consent_id: int, patient: str, reader: str, category: Category, purpose: Purpose
    ) -> bool:
        fn = self.fn.permits(
            consent_id,
            to_checksum_address(patient),
            to_checksum_address(reader),
            int(category),
            int(purpose),
        )
        return bool(self._call(fn))

    def is_permitted(
        self, patient: str, reader: str, category: Category, purpose: Purpose
    ) -> int | None:
        """The newest consent id covering the access now, or None."""
        fn = self.fn.isPermitted(
            to_checksum_address(patient), to_checksum_address(reader), int(category), int(purpose)
        )
        permitted, consent_id = self._call(fn)
        return int(consent_id) if permitted else None

    def consent_ids_of(self, patient: str) -> list[int]:
        return [int(i) for i in self._call(self.fn.consentIdsOf(to_checksum_address(patient)))]
