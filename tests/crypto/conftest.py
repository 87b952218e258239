"""Shared authorities and keys for the crypto tests (setup is done once per session)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from crypto.authority import AttributeAuthority, UserKey
from crypto.expiry import current_epoch


@dataclass
class Alliance:
    h1: AttributeAuthority
    pj: AttributeAuthority
    cardiologist: UserKey  # h1.role:doctor, h1.dept:cardiology
    h1_nurse: UserKey  # h1.role:nurse
    pj_doctor: UserKey  # pj.role:doctor
    now: int


@pytest.fixture(scope="session")
def alliance() -> Alliance:
    now = current_epoch()
    h1, pj = AttributeAuthority.setup("h1"), AttributeAuthority.setup("pj")
    return Alliance(
        h1=h1,
        pj=pj,
        cardiologist=h1.issue_key(["role:doctor", "dept:cardiology"], now + 365, "dr-li"),
        h1_nurse=h1.issue_key(["role:nurse"], now + 365, "nurse-wu"),
        pj_doctor=pj.issue_key(["role:doctor"], now + 365, "dr-zhang"),
        now=now,
    )
