"""The regulator console in Debian's headless Chromium against the real API, ledger node and
store, over a history made through the SDK: a consent, two reads on it, a referral up from
the clinic to the tertiary hospital with a read on it, the revocation, and an unjustified
break-glass read by a county hospital. The regulator signs in with its key, sees the head
and members, filters the timeline, reads the four charts, finds the planted anomaly and the
break-glass read in its queue, and downloads the CSV and the HTML report."""

from __future__ import annotations

import csv
import io
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from playwright.sync_api import ViewportSize

from sharing_api.patient.disclosure import make_disclosure
from sharing_api.sdk import PatientWallet, SharingClient
from tests.support.api import running_api, running_ledger_alliance
from tests.support.browser import PHONE, RequestLog, chromium, ensure_web_built, screenshot
from tests.web.console_page import ConsolePage

pytestmark = pytest.mark.integration
LAPTOP = ViewportSize(width=1366, height=900)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    ensure_web_built()  # before the app is created: it mounts only built apps
    with (
        running_ledger_alliance(tmp_path_factory.mktemp("console")) as alliance,
        running_api(alliance.settings()) as api,
    ):

        def signed_in(key: str) -> SharingClient:
            client = SharingClient(api.url)
            client.login(key)
            return client

        patient = Account.create()
        patient_key = "0x" + bytes(patient.key).hex()
        pclient = signed_in(patient_key)
        h1, clinic, h3 = (signed_in(alliance.keys[n]) for n in ("h1", "clinic", "h3"))
        clinic.attest_patient(patient.address)
        h1_doc = h1.staff_client("dr-chen", "doctor", ["dept:cardiology"])
        clinic_doc = clinic.staff_client("dr-zhao", "doctor", ["dept:general-practice"])
        h3_doc = h3.staff_client("dr-wang", "doctor", ["dept:internal-medicine"])
        sealed = clinic.seal(b"{}" * 120, "c1.role:doctor", [clinic.authority_params("c1")])
        rid = clinic.upload(patient.address, "lab", "c1.role:doctor", sealed)["record_id"]
        consent = pclient.grant_consent(
            patient_key,
            grantee=alliance.address("h1"),
            categories=["lab"],
            purposes=["treatment", "referral"],
        )
        for _ in range(2):
            h1_doc.fetch(rid)
        referral = clinic_doc.json(
            "POST",
            "/referrals",
            json={
                "patient": patient.address,
                "receiver": alliance.address("h1"),
                "direction": "up",
                "record_ids": [rid],
                "consent_id": consent["consent_id"],
                "reason": "chest pain",
            },
        )
        h1_doc.json("POST", f"/referrals/{referral['referral_id']}/accept")
        h1_doc.fetch(rid, referral_id=referral["referral_id"], purpose="referral")
        pclient.revoke_consent(patient_key, consent["consent_id"])
        _, headers = h3_doc.fetch(rid, break_glass=True, reason="unconscious")
        yield {
            "url": api.url,
            "regulator_key": alliance.keys["regulator"],
            "keys": dict(alliance.keys),
            "chain_id": alliance.deployment.chain_id,
            "patient_key": patient_key,
            "patient": patient.address.lower(),
            "h1": alliance.address("h1").lower(),
            "h3": alliance.address("h3").lower(),
            "clinic": alliance.address("clinic").lower(),
            "break_glass": int(headers["x-access-id"]),
            "head": api.services.reader.client.w3.eth.block_number,
        }
        for c in (pclient, h1, clinic, h3):
            c.close()


H1 = "City Third People's Hospital"
H3 = "Pujiang County People's Hospital"
CLINIC = "Xinqiao Community Clinic"


def test_regulator_console_end_to_end(world: dict[str, Any]) -> None:
    errors: list[str] = []
    with chromium() as browser:
        page = browser.new_page(viewport=LAPTOP, accept_downloads=True)
        requests = RequestLog.attach(page.context, world["url"])
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        console = ConsolePage(page, world["url"])
        console.open()

        # A key that is not the regulator's is refused, and nothing is shown.
        refused = console.try_sign_in(world["patient_key"])
        assert "not the regulator" in refused
        assert page.is_hidden("#console")

        console.sign_in(world["regulator_key"])
        status = console.status()
        assert status["head_number"] >= world["head"]
        assert str(status["head_hash"]).startswith("0x")
        assert status["members"][H1] == world["h1"]
        assert set(status["members"]) >= {H1, H3, "Municipal Health Commission"}
        assert console.verify().startswith("Verified OK")

        everything = console.timeline()
        assert Counter(r["reader_name"] for r in everything) == {H1: 3, H3: 1}
        assert Counter(r["basis"] for r in everything) == {
            "consent": 2,
            "referral": 1,
            "break-glass": 1,
        }
        screenshot(page, "console-laptop")

        # Filters narrow the timeline (and the charts follow them).
        only_h3 = console.filter_timeline(member=H3)
        assert [r["access_id"] for r in only_h3] == [world["break_glass"]]
        assert console.chart_bars("accesses") == [
            {"series": world["h3"], "day": time.strftime("%Y-%m-%d", time.gmtime()), "value": 1}
        ]
        referral_reads = console.filter_timeline(purpose="referral")
        assert [(r["reader_name"], r["basis"]) for r in referral_reads] == [(H1, "referral")]
        assert console.filter_timeline(patient=world["patient"], basis="consent") != []
        assert len(console.filter_timeline(basis="consent")) == 2
        future = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 3 * 86_400))
        assert console.filter_timeline(date_from=future) == []
        assert len(console.filter_timeline()) == 4

        # The four charts, read back from their SVG bars.
        accesses = {b["series"]: b["value"] for b in console.chart_bars("accesses")}
        assert accesses == {world["h1"]: 3, world["h3"]: 1}
        assert set(console.chart_legend("accesses")) == {H1, H3}
        consents = {b["series"]: b["value"] for b in console.chart_bars("consents")}
        assert consents == {"granted": 1, "revoked": 1}
        assert [(b["series"], b["value"]) for b in console.chart_bars("referrals")] == [("up", 1)]
        break_glass = {b["series"]: b["value"] for b in console.chart_bars("break-glass")}
        assert break_glass == {"count": 1, "unjustified": 1}

        # The planted anomaly: break-glass not justified (within 0 s, to judge it now).
        assert console.anomalies() == []  # the default allows a day to justify
        found = console.anomalies(justify_within=0)
        assert [(a["rule"], a["access_id"], a["reader_name"]) for a in found] == [
            ("unjustified-break-glass", world["break_glass"], H3)
        ]
        assert console.anomalies(source="chain") == found  # the chain's logs agree
        assert console.break_glass_queue() == [
            {"access_id": world["break_glass"], "reader_name": H3}
        ]
        # The regulator reads the reason (opened with its audit key) and, nobody having
        # justified the read, flags it: a transaction of its own, and the row is closed.
        review = console.break_glass_review(world["break_glass"])
        assert review == {
            "review": "open",
            "reason": "unconscious",
            "justification": "–",
            "buttons": ["Flag"],  # accepting needs a justification
        }
        console.close_break_glass(world["break_glass"], accepted=False)
        closed = console.break_glass_review(world["break_glass"])
        assert closed["review"] == "flagged" and closed["buttons"] == []

        # Exports: the CSV of the timeline and the HTML report (and the FHIR bundle).
        name, text = console.export_text("csv")
        assert name == "alliance-accesses.csv"
        rows = list(csv.DictReader(io.StringIO(text)))
        assert [r["basis"] for r in rows] == ["consent", "consent", "referral", "break-glass"]
        assert {r["patient"] for r in rows} == {world["patient"]}
        name, html = console.export_text("report")
        assert name == "alliance-audit-report.html"
        assert html.count("<svg") == 4
        assert "unjustified-break-glass" in html and "Accesses (4)" in html
        name, fhir = console.export_text("fhir")
        bundle = json.loads(fhir)
        assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["AuditEvent"] * 4
        screenshot(page, "console-after-anomalies")

        # Readable on a phone-sized screen: the page fits its width.
        page.set_viewport_size(PHONE)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1
        screenshot(page, "console-phone")
    assert errors == []
    # Everything the console loaded or called, exports included, came from the API itself.
    requests.assert_local("/console/", "/console/app.js", "/console/style.css")


def test_sign_in_with_a_keystore_file(world: dict[str, Any], tmp_path: Path) -> None:
    """A JSON keystore (PBKDF2, as eth-account writes it) decrypted by ethers in the page;
    a wrong passphrase is refused with a message."""
    keystore = Account.encrypt(
        world["regulator_key"], "correct horse", kdf="pbkdf2", iterations=2000
    )
    path = tmp_path / "regulator.json"
    path.write_text(json.dumps(keystore))
    errors: list[str] = []
    with chromium() as browser:
        page = browser.new_page(viewport=LAPTOP)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        console = ConsolePage(page, world["url"])
        console.open()
        page.set_input_files("#keystore", str(path))
        page.fill("#keystore-pass", "wrong")
        page.click("#signin-btn")
        page.wait_for_function("() => document.getElementById('signin-error').textContent")
        assert page.is_hidden("#console")
        console.sign_in_keystore(path, "correct horse")
        assert console.status()["head_number"] >= world["head"]
        assert len(console.timeline()) == 4
    assert errors == []


def test_a_disclosed_patient_and_the_migration_count(world: dict[str, Any], tmp_path: Path) -> None:
    """Records under pseudonyms at two members are one patient's only in the console's
    disclosed view, after the regulator checks the patient's signed file; a patient whose
    one address has records at two members counts in the status line as still to migrate."""
    clients = {n: SharingClient(world["url"]) for n in ("clinic", "h1", "regulator")}
    for name, client in clients.items():
        client.login(world["keys"][name])
    clinic, h1 = clients["clinic"], clients["h1"]
    _, phrase = Account.create_with_mnemonic()
    wallet = PatientWallet(phrase)
    record_ids = []
    for client, custodian, params in (
        (clinic, world["clinic"], "c1"),
        (h1, world["h1"], "h1"),
    ):
        pseudonym = wallet.address_at(custodian)
        client.attest_patient(pseudonym)
        sealed = client.seal(b"{}", f"{params}.role:doctor", [client.authority_params(params)])
        record_ids.append(
            client.upload(pseudonym, "lab", f"{params}.role:doctor", sealed)["record_id"]
        )
    # A patient from before pseudonyms: one address, records at both.
    legacy = Account.create().address
    for client, params in ((clinic, "c1"), (h1, "h1")):
        client.attest_patient(legacy)
        sealed = client.seal(b"{}", f"{params}.role:doctor", [client.authority_params(params)])
        client.upload(legacy, "imaging", f"{params}.role:doctor", sealed)
    disclosure = make_disclosure(
        [wallet.account_at(world["clinic"]), wallet.account_at(world["h1"])],
        Account.from_key(world["regulator_key"]).address,
        world["chain_id"],
        int(time.time()),
    )
    path = tmp_path / "disclosure.json"
    path.write_text(json.dumps(disclosure))
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({**disclosure, "issued_at": disclosure["issued_at"] + 1}))

    errors: list[str] = []
    with chromium() as browser:
        page = browser.new_page(viewport=LAPTOP)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        console = ConsolePage(page, world["url"])
        console.open()
        console.sign_in(world["regulator_key"])
        assert console.shared_records() == 2
        found = console.check_disclosure(forged)
        assert found["state"] == "error" and "did not sign" in found["result"]
        found = console.check_disclosure(path)
        assert found["state"] == "loaded", found["result"]
        assert found["records"] == record_ids
        assert found["custodians"] == [CLINIC, H1]
        screenshot(page, "console-disclosed")
    assert errors == []
    for client in clients.values():
        client.close()
