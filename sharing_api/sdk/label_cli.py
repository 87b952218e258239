"""The security-label options of `alliance record put/supersede` (DS4P), the policy they
lead to (``sdk.label_policy``), checked before anything is signed, sealed or sent, and the
sealing itself, with what was chosen shown on stderr."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import click

from crypto.labels import CONFIDENTIALITY, SENSITIVITY, SecurityLabels
from sharing_api.sdk.client import SharingClient
from sharing_api.sdk.label_policy import choose_policy

F = TypeVar("F", bound=Callable[..., Any])


class Code(click.ParamType[str]):
    """One code of a vocabulary, any case; refused in one line naming the option and the
    codes (a ValueError, which `alliance` prints as one `error:` line)."""

    def __init__(self, codes: Iterable[str], name: str) -> None:
        self.codes = list(codes)
        self.name = name

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        code = str(value).strip().upper()
        if code not in self.codes:
            where = param.opts[0] if param is not None and param.opts else self.name
            raise ValueError(
                f"{where}: unknown code {value!r} (choose from {', '.join(self.codes)})"
            )
        return code


_CONF_HELP = ", ".join(f"{c} {t.en}" for c, t in CONFIDENTIALITY.items())
_SENS_HELP = ", ".join(f"{c} {t.en}" for c, t in SENSITIVITY.items())


def label_options(command: F) -> F:
    """--confidentiality, --sensitivity (repeatable), --care-team, --allow-wider."""
    for option in reversed(
        [
            click.option(
                "--confidentiality",
                type=Code(CONFIDENTIALITY, "N|R|V"),
                default=None,
                help=f"HL7 confidentiality, sealed in the record's header: {_CONF_HELP}. "
                "Without --policy, R seals for your doctors and V for --care-team. "
                "Default: N for a new record; a new version keeps the old version's labels.",
            ),
            click.option(
                "--sensitivity",
                multiple=True,
                type=Code(SENSITIVITY, "CODE"),
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


def labels_from(confidentiality: str | None, sensitivity: tuple[str, ...]) -> SecurityLabels:
    return SecurityLabels.of(confidentiality or "N", sensitivity)


RANK = {code: i for i, code in enumerate(CONFIDENTIALITY)}  # N < R < V


def labels_for_new_version(
    old: dict[str, Any], confidentiality: str | None, sensitivity: tuple[str, ...]
) -> tuple[SecurityLabels, str | None]:
    """The labels of a record's new version: those given, or else the old version's (as the
    gateway that received its header knows them; none known: N). Also a warning when the
    given ones are less restrictive than the old version's."""
    was = SecurityLabels.of(
        str(old.get("confidentiality") or "N"), tuple(old.get("sensitivity") or ())
    )
    if confidentiality is None and not sensitivity:
        return was, None
    now = labels_from(confidentiality or was.confidentiality, sensitivity)
    dropped = sorted(set(was.sensitivity) - set(now.sensitivity))
    lower = RANK[now.confidentiality] < RANK[was.confidentiality]
    if not (lower or dropped):
        return now, None
    what = []
    if lower:
        what.append(f"confidentiality {was.confidentiality} -> {now.confidentiality}")
    if dropped:
        what.append("sensitivity " + ",".join(dropped) + " dropped")
    return now, f"warning: the new version is labelled less restrictively ({'; '.join(what)})"


def precheck(labels: SecurityLabels, policy: str | None, care_team: str | None) -> None:
    """Refuse what needs no gateway to refuse (N without --policy, V without a care team, a
    bad team name) before signing in; the authority is filled in later."""
    choose_policy(labels, policy, "<authority>", care_team, allow_wider=True)


def seal_for(
    client: SharingClient,
    document: dict[str, Any],
    policy: str | None,
    labels: SecurityLabels,
    care_team: str | None,
    allow_wider: bool,
) -> tuple[bytes, str]:
    """The sealed container and the policy it was sealed under (shown, so that what a
    shorthand like 'role:doctor' became is never a surprise), in the gateway's suite."""
    chosen, params = client.policy_for_labels(labels, policy, care_team, allow_wider)
    suite = client.crypto_suite()
    source = f" (default for confidentiality {labels.confidentiality})" if chosen.defaulted else ""
    click.echo(f"policy: {chosen.policy}{source}", err=True)
    codes = ",".join(labels.sensitivity) or "none"
    click.echo(f"labels: confidentiality {labels.confidentiality}, sensitivity {codes}", err=True)
    if chosen.warning:
        click.secho(chosen.warning, err=True, fg="yellow")
    click.echo(f"cipher suite: {suite.name}", err=True)
    sealed = SharingClient.seal_fhir(document, chosen.policy, params, suite, labels)
    return sealed, chosen.policy
