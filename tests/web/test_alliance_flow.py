"""Issue #7's browser scenario in one alliance: the patient signs in to the wallet and
grants a hospital consent (signed in the browser); the hospital reads through the SDK; the
patient sees that access and revokes; the next read is refused; the regulator's console
shows the consent, the read and the revocation, and its report exports them."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eth_account import Account
from playwright.sync_api import ViewportSize

from sharing_api.sdk import ApiError, SharingClient
from tests.support.api import running_api, running_ledger_alliance
from tests.support.browser import PHONE, RequestLog, chromium, ensure_web_built, screenshot
from tests.web.console_page import ConsolePage
from tests.web.wallet_page import WalletPage

pytestmark = pytest.mark.integration

H1 = "City Third People's Hospital"
POLICY = "h1.role:doctor"
LAPTOP = ViewportSize(width=1366, height=900)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    ensure_web_built()  # before the app is created: it mounts only built apps
    with (
        running_ledger_alliance(tmp_path_factory.mktemp("flow")) as alliance,
        running_api(alliance.settings()) as api,
    ):
        yield {"api": api, "alliance": alliance}


def signed_in(url: str, key: str) -> SharingClient:
    client = SharingClient(url)
    client.login(key)
    return client


def test_patient_hospital_regulator_in_the_browser(world: dict[str, Any]) -> None:
    started = time.monotonic()
    api, alliance = world["api"], world["alliance"]
    patient = Account.create()
    clinic = signed_in(api.url, alliance.keys["clinic"])
    clinic.attest_patient(patient.address)  # verified at the clinic's desk
    h1 = signed_in(api.url, alliance.keys["h1"])
    doctor = h1.staff_client("dr-chen", "doctor", ["dept:cardiology"])
    sealed = clinic.seal(b'{"resourceType": "Observation"}', POLICY, [h1.authority_params("h1")])
    rid = clinic.upload(patient.address, "lab", POLICY, sealed)["record_id"]
    errors: list[str] = []

    with chromium() as browser:
        phone = browser.new_context(viewport=PHONE, locale="en-US").new_page()
        wallet_requests = RequestLog.attach(phone.context, api.url)
        phone.on("pageerror", lambda exc: errors.append(str(exc)))
        wallet = WalletPage(phone, api.url)
        wallet.open()
        wallet.import_key("0x" + bytes(patient.key).hex(), "correct horse battery")
        assert [r["record_id"] for r in wallet.records()] == [rid]

        until = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
        wallet.review_grant(H1, ["lab"], ["treatment"], until)
        consent_id = wallet.sign_grant()

        data, headers = doctor.fetch(rid)  # the hospital reads through the SDK
        assert doctor.open(data, doctor.issue_my_key()) == b'{"resourceType": "Observation"}'
        access_id = int(headers["x-access-id"])
        wallet.refresh()
        (seen,) = wallet.accesses(rid)
        assert seen["access_id"] == access_id and seen["basis"] == "consent"
        assert H1 in seen["text"]
        screenshot(phone, "flow-1-wallet-access")

        summary = wallet.revoke(consent_id)
        assert summary.startswith(f"You are revoking consent #{consent_id}, which lets {H1} read")
        assert f"Once you sign, {H1} can no longer read them" in summary
        with pytest.raises(ApiError) as refused:
            doctor.fetch(rid)
        assert refused.value.status == 403
        screenshot(phone, "flow-2-wallet-revoked")

        laptop = browser.new_context(viewport=LAPTOP, accept_downloads=True).new_page()
        console_requests = RequestLog.attach(laptop.context, api.url)
        laptop.on("pageerror", lambda exc: errors.append(str(exc)))
        console = ConsolePage(laptop, api.url)
        console.open()
        console.sign_in(alliance.keys["regulator"])
        assert console.verify().startswith("Verified OK")
        timeline = console.filter_timeline(patient=patient.address)
        assert [(r["access_id"], r["reader_name"], r["basis"]) for r in timeline] == [
            (access_id, H1, "consent")
        ]
        consents = {b["series"]: b["value"] for b in console.chart_bars("consents")}
        assert consents == {"granted": 1, "revoked": 1}
        screenshot(laptop, "flow-3-console")

        name, report = console.export_text("report")
        assert name.endswith(".html")
        cells = re.findall(r"<td>([^<]*)</td>", html.unescape(report))
        assert cells[cells.index("consents") + 1] == "1"
        assert cells[cells.index("revocations") + 1] == "1"
        reader = cells.index(alliance.address("h1").lower())  # the access table's row
        # access, time, record, reader, staff (the doctor's pseudonym, never a name), purpose,
        # basis
        assert cells[reader - 3] == str(access_id) and cells[reader + 3] == f"consent {consent_id}"
        assert re.fullmatch(r"0x[0-9a-f]{64}", cells[reader + 1])
        _, table = console.export_text("csv")
        assert str(access_id) in table and patient.address.lower() in table.lower()

    assert errors == [], errors
    wallet_requests.assert_local("/wallet/", "/wallet/app.js", "/wallet/style.css")
    console_requests.assert_local("/console/", "/console/app.js", "/console/style.css")
    assert time.monotonic() - started < 90
    for client in (clinic, h1, doctor):
        client.close()
