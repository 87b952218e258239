"""The security-label options of `alliance record put/supersede` (DS4P), and the policy they
lead to (``sdk.label_policy``), checked before anything is signed, sealed or sent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from crypto.labels import CONFIDENTIALITY, SENSITIVITY, SecurityLabels
from sharing_api.sdk.label_policy import LabelPolicyError, choose_policy

F = TypeVar("F", bound=Callable[..., Any])

_CONF_HELP = ", ".join(f"{c} {t.en}" for c, t in CONFIDENTIALITY.items())
_SENS_HELP = ", ".join(f"{c} {t.en}" for c, t in SENSITIVITY.items())


def label_options(command: F) -> F:
    """--confidentiality, --sensitivity (repeatable), --care-team, --allow-wider."""
    for option in reversed(
        [
            click.option(
                "--confidentiality",
                type=click.Choice(list(CONFIDENTIALITY), case_sensitive=False),
                default="N",
                show_default=True,
                help=f"HL7 confidentiality, sealed in the record's header: {_CONF_HELP}. "
                "Without --policy, R seals for your doctors and V for --care-team.",
            ),
            click.option(
                "--sensitivity",
                multiple=True,
                type=click.Choice(sorted(SENSITIVITY), case_sensitive=False),
                help=f"HL7 sensitivity code (repeatable): {_SENS_HELP}.",
            ),
            click.option(
                "--care-team",
                default=None,
                help="The care team that alone reads a V record (ABE attribute <your "
                "authority>.team:NAME: `alliance staff token --attrs team:NAME`).",
            ),
            click.option(
                "--allow-wider",
                is_flag=True,
                help="Seal a V record under a --policy other members can satisfy, no warning.",
            ),
        ]
    ):
        command = option(command)
    return command


def labels_from(confidentiality: str, sensitivity: tuple[str, ...]) -> SecurityLabels:
    return SecurityLabels.of(confidentiality, sensitivity)


def precheck(labels: SecurityLabels, policy: str | None, care_team: str | None) -> None:
    """Refuse what needs no gateway to refuse (N without --policy, V without a care team, a
    bad team name) before signing in; the authority is filled in later."""
    try:
        choose_policy(labels, policy, "own", care_team, allow_wider=True)
    except LabelPolicyError as exc:
        raise click.UsageError(str(exc)) from None
