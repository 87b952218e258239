"""`alliance consultation`: remote consultations (远程会诊) between members: the requesting
member asks, the consulting member accepts or declines and reports, the requester closes or
cancels. Read the named records with `alliance record get ID --consultation CID --purpose
consultation`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from sharing_api.sdk.cli import ADDRESS, SdkGroup, _api_option, _client, _csv, _key_option, _show
from sharing_api.sdk.consultation_report import consultation_report


@click.group(cls=SdkGroup)
def consultation() -> None:
    """Ask another member's specialists about a patient's records, and answer such requests.

    \b
    requester:  request -> (report arrives) -> close, or cancel before
    consultant: accept | decline -> read the named records -> report
    The patient must first consent (purpose consultation, to the consultant) in the wallet.
    """


@consultation.command("request")
@click.option(
    "--patient", required=True, type=ADDRESS, help="The patient's pseudonym at the records' keeper."
)
@click.option("--consultant", required=True, type=ADDRESS, help="The consulting member's address.")
@click.option("--records", "record_ids", required=True, help="Comma-separated record ids to read.")
@click.option(
    "--question", required=True, help="What to answer (kept off chain; a salted commitment on it)."
)
@click.option(
    "--consent",
    "consent_id",
    type=int,
    default=None,
    help="The patient's consent (purpose consultation) [default: found on chain].",
)
@click.option(
    "--expires-days",
    type=click.IntRange(1, 30),
    default=None,
    help="Days until it ends [default: 7, or the consent's end if sooner].",
)
@_api_option
@_key_option
def consultation_request(
    patient: str,
    consultant: str,
    record_ids: str,
    question: str,
    consent_id: int | None,
    expires_days: int | None,
    api_url: str,
    key_file: Path | None,
) -> None:
    """Ask a consulting member about named records of a patient."""
    expires_at = None if expires_days is None else int(time.time()) + expires_days * 86_400
    with _client(api_url, key_file) as client:
        _show(
            client.request_consultation(
                patient,
                consultant,
                [int(i) for i in _csv(record_ids)],
                question,
                consent_id=consent_id,
                expires_at=expires_at,
            )
        )


@consultation.command("accept")
@click.argument("consultation_id", type=int)
@_api_option
@_key_option
def consultation_accept(consultation_id: int, api_url: str, key_file: Path | None) -> None:
    """As the consultant: accept (reading the named records starts now)."""
    with _client(api_url, key_file) as client:
        _show(client.accept_consultation(consultation_id))


def _note_step(action: str, summary: str) -> None:
    @consultation.command(action, help=summary)
    @click.argument("consultation_id", type=int)
    @click.option("--note", default="", help="Kept off chain; a salted commitment on it.")
    @_api_option
    @_key_option
    def step(consultation_id: int, note: str, api_url: str, key_file: Path | None) -> None:
        with _client(api_url, key_file) as client:
            _show(getattr(client, f"{action}_consultation")(consultation_id, note))


_note_step("decline", "As the consultant: decline the request.")
_note_step("close", "As the requester: close a reported consultation.")
_note_step("cancel", "As the requester: cancel before the report.")


@consultation.command("report")
@click.argument("consultation_id", type=int)
@click.option(
    "--policy",
    required=True,
    help="Who may open the report: the requester's attributes, e.g. 'pjx.role:doctor'.",
)
@click.option(
    "--file",
    "report_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A FHIR DiagnosticReport or ClinicalImpression (JSON) naming the consultation.",
)
@click.option(
    "--conclusion", default=None, help="Or just the conclusion: a DiagnosticReport is built."
)
@click.option("--category", default="summary", show_default=True, help="The report's category.")
@click.option("--note", default="", help="Kept off chain; a salted commitment on it.")
@_api_option
@_key_option
def consultation_report_cmd(
    consultation_id: int,
    policy: str,
    report_file: Path | None,
    conclusion: str | None,
    category: str,
    note: str,
    api_url: str,
    key_file: Path | None,
) -> None:
    """As the consultant: seal the report, register it as your record, report it on chain."""
    if (report_file is None) == (conclusion is None):
        raise click.UsageError("give exactly one of --file or --conclusion")
    with _client(api_url, key_file) as client:
        if report_file is not None:
            report = json.loads(report_file.read_text(encoding="utf-8"))
        else:
            patient = client.consultation(consultation_id)["patient"]
            report = consultation_report(consultation_id, patient, str(conclusion))
        _show(
            client.report_consultation(
                consultation_id, report, policy, category=category, note=note
            )
        )


@consultation.command("list")
@click.option("--patient", type=ADDRESS, default=None, help="Only those about this patient.")
@_api_option
@_key_option
def consultation_list(patient: str | None, api_url: str, key_file: Path | None) -> None:
    """Consultations you are a party to (a patient: about your records)."""
    with _client(api_url, key_file) as client:
        _show(client.consultations(patient))


@consultation.command("show")
@click.argument("consultation_id", type=int)
@click.option(
    "--texts", is_flag=True, help="Also the question and notes, checked against the chain."
)
@_api_option
@_key_option
def consultation_show(
    consultation_id: int, texts: bool, api_url: str, key_file: Path | None
) -> None:
    """One consultation, with its steps."""
    with _client(api_url, key_file) as client:
        found = client.consultation(consultation_id)
        if texts:
            found["texts"] = client.consultation_texts(consultation_id)
        _show(found)


@consultation.command("fhir")
@click.argument("consultation_id", type=int)
@_api_option
@_key_option
def consultation_fhir(consultation_id: int, api_url: str, key_file: Path | None) -> None:
    """The consultation as a FHIR R4 Bundle of its ServiceRequest and Task."""
    with _client(api_url, key_file) as client:
        _show(client.consultation_fhir(consultation_id))
