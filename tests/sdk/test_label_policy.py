"""The policy a labelled record defaults to, and when a given one is too wide for V
(sharing_api/sdk/label_policy.py): pure functions, no gateway."""

from __future__ import annotations

import pytest

from crypto.labels import SecurityLabels
from sharing_api.sdk.label_policy import LabelPolicyError, choose_policy, others_can_read

V, R, N = (SecurityLabels.of(c) for c in "VRN")


def test_defaults_by_confidentiality() -> None:
    assert choose_policy(V, None, "h1", "psych-a").policy == "h1.team:psych-a"
    assert choose_policy(R, None, "h1").policy == "h1.role:doctor"
    assert choose_policy(SecurityLabels.of("N", ["HIV"]), "h1.role:doctor", "h1").warning == ""
    with pytest.raises(LabelPolicyError, match="no default policy"):
        choose_policy(N, None, "h1")
    with pytest.raises(LabelPolicyError, match="give --care-team NAME"):
        choose_policy(V, None, "h1")
    with pytest.raises(LabelPolicyError, match="no attribute authority"):
        choose_policy(R, None, None)
    with pytest.raises(LabelPolicyError, match="not both"):
        choose_policy(V, "h1.role:doctor", "h1", "psych-a")


@pytest.mark.parametrize(
    ("policy", "wide"),
    [
        ("h1.team:a", False),
        ("h1.role:doctor and pj.role:doctor", False),  # needs an h1 attribute too
        ("h1.dept:x and reg.title:chief-physician", False),
        ("h1.team:a or c1.role:doctor", True),
        ("2 of (h1.team:a, c1.role:doctor, pj.role:doctor)", True),
        ("reg.title:chief-physician", True),
    ],
)
def test_other_members_reading(policy: str, wide: bool) -> None:
    assert others_can_read(policy, "h1") is wide
    warned = bool(choose_policy(V, policy, "h1").warning)
    assert warned is wide
    assert choose_policy(V, policy, "h1", allow_wider=True).warning == ""
    assert choose_policy(R, policy, "h1").warning == ""  # the check is for V only
