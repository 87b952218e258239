"""The policy a labelled record is sealed under when the custodian gives none (DS4P).

- ``V`` (very restricted): the custodian's named care team only, ``<authority>.team:<name>``.
  A member names a care team by issuing its staff the attribute ``team:<name>`` (``alliance
  staff token --attrs team:<name>``; the gateway prefixes it with the member's authority).
  Without a team name there is no default: the record is refused rather than sealed wider.
- ``R`` (restricted): the custodian's doctors, ``<authority>.role:doctor``.
- ``N`` (normal): as before labels, the custodian gives ``--policy``; there is no default.

A policy given by the custodian is used as it is. For a ``V`` record, one that attributes of
other members alone satisfy (another authority's doctors, say) gets a warning unless the
custodian says ``allow_wider``: the label and the policy disagree, and the policy is what
decides who can decrypt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from crypto.labels import SecurityLabels
from crypto.policy import leaves, parse_policy, satisfies

_TEAM_RE = re.compile(r"[a-z0-9_\-]{1,64}")


class LabelPolicyError(ValueError):
    """No policy can be chosen for these labels (e.g. V without a care team)."""


@dataclass(frozen=True)
class ChosenPolicy:
    policy: str
    defaulted: bool  # chosen from the labels, not given
    warning: str = ""  # for stderr: the given policy is wider than the labels ask


def care_team_attribute(authority: str, team: str) -> str:
    if not _TEAM_RE.fullmatch(team):
        raise LabelPolicyError(
            f"care team name {team!r}: use 1 to 64 of a-z, 0-9, '-' and '_' (it becomes the "
            f"ABE attribute {authority}.team:<name>)"
        )
    return f"{authority}.team:{team}"


def default_policy(labels: SecurityLabels, authority: str | None, care_team: str | None) -> str:
    """The policy the labels call for at custodian ``authority`` (its attribute prefix)."""
    if care_team is not None and labels.confidentiality != "V":
        raise LabelPolicyError("--care-team names who reads a very restricted (V) record only")
    if labels.confidentiality == "N":
        raise LabelPolicyError(
            "give --policy: a normal (N) record has no default policy (label it "
            "--confidentiality R or V for one)"
        )
    if authority is None:
        raise LabelPolicyError(
            "your member is no attribute authority on this gateway: give --policy"
        )
    if labels.confidentiality == "R":
        return f"{authority}.role:doctor"
    if care_team is None:
        raise LabelPolicyError(
            "a very restricted (V) record is readable only by the custodian's named care team: "
            f"give --care-team NAME (policy {authority}.team:NAME) or an explicit --policy"
        )
    return care_team_attribute(authority, care_team)


def others_can_read(policy: str, authority: str) -> bool:
    """Whether attributes of authorities other than ``authority`` alone satisfy ``policy``
    (a qualified policy: every attribute names its authority)."""
    tree = parse_policy(policy)
    foreign = {a.name for a in leaves(tree) if a.authority != authority}
    return satisfies(tree, foreign)


def choose_policy(
    labels: SecurityLabels,
    policy: str | None,
    authority: str | None,
    care_team: str | None = None,
    allow_wider: bool = False,
) -> ChosenPolicy:
    """The policy to seal under: ``policy`` (qualified) as given, else the labels' default.
    ``authority``: the custodian's own attribute prefix (None: not an authority here)."""
    if policy is None:
        return ChosenPolicy(default_policy(labels, authority, care_team), defaulted=True)
    if care_team is not None:
        raise LabelPolicyError("give --care-team or --policy, not both")
    warning = ""
    wide = authority is None or others_can_read(policy, authority)
    if labels.confidentiality == "V" and not allow_wider and wide:
        warning = (
            "warning: this record is labelled very restricted (V), but its policy "
            f"({policy}) lets staff of other members decrypt it; pass --allow-wider if "
            "that is intended, or leave --policy out to seal it for your care team"
        )
    return ChosenPolicy(policy, defaulted=False, warning=warning)
