"""Small builders shared by the contract tests."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from sharing_api.chain import Alliance, Category, ContractRevert, Purpose
from sharing_api.chain.consent import Granted
from sharing_api.chain.typed_data import GrantTerms

CID = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"
# What the chain holds of a policy: its commitment (crypto/policy_commitment), 32 bytes.
POLICY = hashlib.sha256(b"h1.role:doctor or (h2.role:doctor and h2.dept:cardiology)").digest()


def sha(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def terms(
    relayer: Alliance,
    patient: LocalAccount,
    *,
    grantee: str | None = None,
    categories: tuple[Category, ...] = (Category.LAB, Category.SUMMARY),
    purposes: tuple[Purpose, ...] = (Purpose.TREATMENT, Purpose.REFERRAL),
    valid_for: int = 3_600,
    **overrides: Any,
) -> GrantTerms:
    now = relayer.client.block_timestamp()
    kwargs: dict[str, Any] = {
        "categories": categories,
        "purposes": purposes,
        "valid_from": now - 60,
        "valid_until": now + valid_for,
        "deadline": now + 600,
    }
    if "grantee_role" not in overrides:
        kwargs["grantee"] = grantee
    kwargs.update(overrides)
    return relayer.consents.grant_terms(patient.address, **kwargs)


def grant(
    relayer: Alliance, patient: LocalAccount, grantee: str | None = None, **kwargs: Any
) -> Granted:
    t = terms(relayer, patient, grantee=grantee, **kwargs)
    return relayer.consents.grant_by_sig(t, relayer.consents.sign_grant(t, patient.key))


def register(custodian: Alliance, patient: LocalAccount, category: Category, tag: str = "") -> int:
    return custodian.records.register(
        patient.address, category, CID, sha(f"{category}{tag}"), POLICY
    ).record_id


def reverts(name: str, fn: Callable[[], object]) -> ContractRevert:
    """Run ``fn`` and check it reverts with the named custom error."""
    with pytest.raises(ContractRevert) as info:
        fn()
    assert info.value.name == name, str(info.value)
    return info.value
