"""The wallet's consultations: the patient grants a consultation consent in the browser, a
clinic asks the tertiary hospital to read an imaging record on it, and the patient follows
the consultation (status, end, the report) and sees the consultant's read on the
consultation basis, in English and Chinese."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from eth_account import Account
from playwright.sync_api import Page

from sharing_api.sdk import SharingClient
from sharing_api.sdk.consultation_report import consultation_report
from tests.support import api as support
from tests.support.api import RunningApi, running_api, running_ledger_alliance
from tests.support.browser import PHONE, chromium, ensure_web_built, screenshot
from tests.web.wallet_page import WalletPage

pytestmark = pytest.mark.integration
PASSPHRASE = "correct horse battery"
H1_NAME = "City Third People's Hospital"
CLINIC_NAME = "Xinqiao Community Clinic"
POLICY = "c1.role:doctor or h1.role:doctor"


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningApi, support.TestAlliance]]:
    ensure_web_built()
    root = tmp_path_factory.mktemp("consult-alliance")
    with running_ledger_alliance(root) as alliance, running_api(alliance.settings()) as running:
        yield running, alliance


@pytest.fixture
def page(api: tuple[RunningApi, support.TestAlliance]) -> Iterator[Page]:
    with chromium() as browser:
        context = browser.new_context(viewport=PHONE, locale="en-US")
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page
        context.close()
    assert errors == [], errors


def _signed_in(api: RunningApi, key: str) -> SharingClient:
    client = SharingClient(api.url)
    client.login(key)
    return client


def test_the_patient_follows_a_consultation(
    api: tuple[RunningApi, support.TestAlliance], page: Page
) -> None:
    running, alliance = api
    patient = Account.create()
    clinic = _signed_in(running, alliance.keys["clinic"])
    clinic.attest_patient(patient.address)
    params = [clinic.authority_params("c1"), clinic.authority_params("h1")]
    rid = int(
        clinic.upload(
            patient.address, "imaging", POLICY, clinic.seal(b'{"ct": 1}', POLICY, params)
        )["record_id"]
    )
    h1 = _signed_in(running, alliance.keys["h1"])

    wallet = WalletPage(page, running.url)
    wallet.open()
    wallet.import_key("0x" + bytes(patient.key).hex(), PASSPHRASE)
    assert wallet.consultations() == []
    # The consent for purpose consultation is granted in the wallet, with an end date.
    until = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
    summary = wallet.review_grant(H1_NAME, ["imaging"], ["consultation"], until)
    assert summary == f"You allow {H1_NAME} to read your Imaging for consultation until {until}."
    wallet.sign_grant()

    cid = int(
        clinic.request_consultation(patient.address, alliance.address("h1"), [rid], "CT: nodule?")[
            "consultation_id"
        ]
    )
    wallet.refresh()
    (shown,) = wallet.consultations()
    assert shown["consultation_id"] == cid and shown["status"] == "requested"
    assert (
        f"Consultation #{cid}: {CLINIC_NAME} asked {H1_NAME} about records #{rid}: "
        "waiting for the consultant"
    ) in shown["text"]

    h1.accept_consultation(cid)
    h1.fetch(rid, consultation_id=cid, purpose="consultation")
    h1.report_consultation(
        cid, consultation_report(cid, patient.address, "benign"), "c1.role:doctor"
    )
    wallet.refresh()
    (reported,) = wallet.consultations()
    assert reported["status"] == "reported" and "report written" in reported["text"]
    assert "report: record #" in reported["text"]
    (read,) = wallet.accesses(rid)
    assert read["basis"] == "consultation" and f"consultation #{cid}" in read["text"]
    screenshot(page, "wallet-10-consultation")
    assert wallet.toggle_language() == "zh-CN"
    assert f"会诊 #{cid}" in wallet.consultations()[0]["text"]
    assert "已出具会诊报告" in wallet.consultations()[0]["text"]
    assert f"会诊 #{cid}" in wallet.accesses(rid)[0]["text"]
    wallet.toggle_language()

    clinic.close_consultation(cid)
    wallet.refresh()
    assert wallet.consultations()[0]["status"] == "closed"
    assert wallet.horizontal_overflow() == 0
    for client in (clinic, h1):
        client.close()
