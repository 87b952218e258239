"""The supervision dashboard in headless Chromium, in English and Chinese, against the real API,
ledger node and store, over a planted history made through the SDK (all this month, UTC):

- referrals: the community clinic (township tier) refers two patients up to the tertiary
  hospital, the county hospital one; the tertiary hospital one down to the clinic. Three
  are accepted (two by h1, one by the clinic), the clinic's second stays pending;
- reads: h1 two on consent and one on a referral, the clinic one of its own record
  (custodian), the county hospital one break-glass, never justified;
- records: one published by the clinic, one by h1.

So: up 3, down 1 (25 % down), flows township->tertiary 2, county->tertiary 1,
tertiary->township 1. Times to acceptance come from the blocks (seconds here): the page shows
what the index holds, computed again in Python; known hours come from rows planted in the
index for a past month (the last test). Thresholds raise alerts; the CSV holds the figures; the
language switch is remembered across a reload; the other sections follow it too."""

from __future__ import annotations

import calendar
import csv
import io
import time
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account
from playwright.sync_api import ViewportSize

from sharing_api.audit import supervision
from sharing_api.sdk import SharingClient
from tests.audit.test_supervision import plant_known, reference
from tests.support.api import running_api, running_ledger_alliance
from tests.support.browser import chromium, ensure_web_built, screenshot
from tests.web.console_page import ConsolePage

pytestmark = pytest.mark.integration
LAPTOP = ViewportSize(width=1366, height=900)
H1 = "City Third People's Hospital (tertiary)"
H3 = "Pujiang County People's Hospital"
CLINIC = "Xinqiao Community Clinic"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    ensure_web_built()
    with (
        running_ledger_alliance(
            tmp_path_factory.mktemp("supervision"), names={"h1": H1}
        ) as alliance,
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
        for member in (clinic, h1):
            member.attest_patient(patient.address)
        h1_doc = h1.staff_client("dr-chen", "doctor", ["dept:cardiology"])
        clinic_doc = clinic.staff_client("dr-zhao", "doctor", ["dept:general-practice"])
        h3_doc = h3.staff_client("dr-wang", "doctor", ["dept:internal-medicine"])
        sealed = clinic.seal(b"{}" * 40, "c1.role:doctor", [clinic.authority_params("c1")])
        r_clinic = clinic.upload(patient.address, "lab", "c1.role:doctor", sealed)["record_id"]
        sealed = h1.seal(b"{}" * 40, "h1.role:doctor", [h1.authority_params("h1")])
        r_h1 = h1.upload(patient.address, "lab", "h1.role:doctor", sealed)["record_id"]

        def consent(to: str) -> int:
            granted = pclient.grant_consent(
                patient_key,
                grantee=alliance.address(to),
                categories=["lab"],
                purposes=["treatment", "referral"],
            )
            return int(granted["consent_id"])

        to_h1, to_clinic = consent("h1"), consent("clinic")

        def refer(doc: SharingClient, to: str, direction: str, rid: int, cid: int) -> int:
            made = doc.json(
                "POST",
                "/referrals",
                json={
                    "patient": patient.address,
                    "receiver": alliance.address(to),
                    "direction": direction,
                    "record_ids": [rid],
                    "consent_id": cid,
                    "reason": "planted",
                },
            )
            return int(made["referral_id"])

        up1 = refer(clinic_doc, "h1", "up", r_clinic, to_h1)
        up2 = refer(h3_doc, "h1", "up", r_clinic, to_h1)
        down = refer(h1_doc, "clinic", "down", r_h1, to_clinic)
        refer(clinic_doc, "h1", "up", r_clinic, to_h1)  # stays pending
        for doc, rid in ((h1_doc, up1), (h1_doc, up2), (clinic_doc, down)):
            doc.json("POST", f"/referrals/{rid}/accept")
        for _ in range(2):
            h1_doc.fetch(r_clinic)
        h1_doc.fetch(r_clinic, referral_id=up1, purpose="referral")
        clinic_doc.fetch(r_clinic)
        _, headers = h3_doc.fetch(r_clinic, break_glass=True, reason="unconscious")
        api.services.indexer.sync()
        regulator = signed_in(alliance.keys["regulator"])
        yield {
            "url": api.url,
            "api": api,
            "regulator": regulator,
            "regulator_key": alliance.keys["regulator"],
            "h1": alliance.address("h1").lower(),
            "h3": alliance.address("h3").lower(),
            "clinic": alliance.address("clinic").lower(),
            "break_glass": int(headers["x-access-id"]),
        }
        for c in (pclient, h1, clinic, h3, regulator):
            c.close()


def _month() -> str:
    return time.strftime("%Y-%m", time.gmtime())


def test_supervision_api_checks_its_input(world: dict[str, Any]) -> None:
    """Bad months and bad thresholds are refused with a reason and change nothing."""
    reg: SharingClient = world["regulator"]

    def status(method: str, path: str, body: Any = None) -> int:
        response = reg.http.request(method, path, headers=reg._headers(), json=body)
        return response.status_code

    assert status("GET", "/audit/supervision?from=2026-13") == 422
    assert status("GET", "/audit/supervision?from=2026-05&to=2026-01") == 400
    assert status("GET", "/audit/supervision?from=2000-01&to=2026-01") == 400
    kept = {"break_glass_unjustified_max": 3}
    reg.json("PUT", "/audit/supervision/thresholds", json=kept)
    assert status("PUT", "/audit/supervision/thresholds", {"break_glass_max": 1}) == 422
    assert (
        status("PUT", "/audit/supervision/thresholds", {"referral_down_share_min_pct": 101}) == 422
    )
    got = reg.json("GET", "/audit/supervision/thresholds")
    assert got == {**dict.fromkeys(got, None), **kept}
    reg.json("PUT", "/audit/supervision/thresholds", json={})
    # The JSON figures equal what the index holds, counted again in Python.
    month = _month()
    figs = reg.json("GET", f"/audit/supervision?from={month}&to={month}")
    assert (figs["from"], figs["to"], figs["months"]) == (month, month, [month])
    expected = reference(world["api"].services.index, supervision.Months.between(month, month))
    assert figs["acceptance"] == expected["acceptance"]
    assert figs["acceptance_by_direction"] == expected["acceptance_by_direction"]
    assert figs["reads"] == expected["reads"]
    assert figs["consultations"] == expected["consultations"]


def test_dashboard_in_english_and_chinese(world: dict[str, Any]) -> None:
    h1, h3, clinic, month = world["h1"], world["h3"], world["clinic"], _month()
    errors: list[str] = []
    with chromium() as browser:
        page = browser.new_page(viewport=LAPTOP, accept_downloads=True)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        console = ConsolePage(page, world["url"])
        console.open()
        assert page.evaluate("document.documentElement.lang") == "en"
        console.sign_in(world["regulator_key"])
        assert page.input_value("#sup-to") == month

        # Referrals up and down, between tiers, per member.
        assert console.sup_bars("referrals") == {("up", month): 3, ("down", month): 1}
        flows = {r["flow"]: (r["Up"], r["Down"]) for r in console.sup_table("sup-flows")}
        assert flows == {
            "county>tertiary": ("1", "0"),
            "tertiary>township": ("0", "1"),
            "township>tertiary": ("2", "0"),
        }
        referrals = {r["member"]: r for r in console.sup_table("sup-referrals")}
        assert referrals[clinic]["Sent up"] == "2" and referrals[clinic]["Received down"] == "1"
        assert referrals[h1]["Received up"] == "3" and referrals[h1]["Sent down"] == "1"
        assert referrals[h1]["Tier"] == "tertiary" and referrals[clinic]["Tier"] == (
            "township/community"
        )
        accepted = {r["member"]: r["Accepted"] for r in console.sup_table("sup-acceptance")}
        assert accepted == {h1: "2", clinic: "1"}

        # Reads by basis, the unjustified break-glass read, records published.
        reads = {r["member"]: r for r in console.sup_table("sup-reads")}
        assert (reads[h1]["consent"], reads[h1]["referral"], reads[h1]["Total"]) == ("2", "1", "3")
        assert reads[clinic]["custodian"] == "1"
        assert reads[h3]["break-glass"] == "1" and reads[h3]["Break-glass unjustified"] == "1"
        assert console.sup_bars("reads")[("unjustified", month)] == 1
        published = {r["member"]: r["Records published"] for r in console.sup_table("sup-records")}
        assert published == {clinic: "1", h1: "1"}
        assert console.sup_table("sup-consultation-rows") == []  # none requested this month

        # Thresholds raise alerts (and none without them).
        assert console.sup_table("sup-alerts") == []
        console.set_thresholds(bg="0", median="100", down="30")
        alerts = console.sup_table("sup-alerts")
        assert [(a["rule"], a["month"], a["member"]) for a in alerts] == [
            ("break-glass-unjustified", month, h3),
            ("referral-down-share", month, ""),
        ]
        assert alerts[0]["Member"] == H3
        assert alerts[1]["Alert"] == "25% of referrals went down (threshold 30%)"
        screenshot(page, "console-supervision-en")

        # The figures as CSV.
        with console.export_supervision() as download:
            name = download.suggested_filename
            text = download.path().read_text(encoding="utf-8")
        first = page.input_value("#sup-from")  # the default: the twelve months to this one
        assert first < month
        assert name == f"alliance-supervision-{first}-{month}.csv"
        rows = {(r["member"], r["figure"]): r for r in csv.DictReader(io.StringIO(text))}
        assert rows[(h3, "break_glass_unjustified")]["value"] == "1"
        assert rows[(h1, "referrals_received_up")]["member_name"] == H1
        assert rows[("", "referrals_township_to_tertiary_up")]["value"] == "2"
        assert rows[("", "referrals_down_share_pct")]["value"] == "25.0"

        # Chinese: the same figures, the words in Chinese, the whole console.
        assert console.switch_language() == "zh-CN"
        assert page.text_content("#supervision h2") == "监管看板"
        assert console.sup_bars("referrals") == {("up", month): 3, ("down", month): 1}
        alerts = console.sup_table("sup-alerts")
        assert alerts[0]["预警"] == "1 次紧急访问未说明理由（阈值 0）"
        assert alerts[1]["成员"] == "医联体整体"
        referrals = {r["member"]: r for r in console.sup_table("sup-referrals")}
        assert referrals[h1]["层级"] == "三级医院" and referrals[h1]["上转（接收）"] == "3"
        assert page.text_content("#timeline-count") == "5 次访问"
        assert page.text_content("#timeline-section h2") == "访问时间线"
        assert page.text_content("#status h2") == "链状态"
        assert page.text_content("#f-apply") == "应用"
        legend = page.eval_on_selector_all(
            "#chart-referrals svg text.legend", "ts => ts.map(t => t.textContent)"
        )
        assert legend == ["上转（至更高层级）", "下转（回到较低层级）"]
        queue = console.break_glass_review(world["break_glass"])
        assert queue["buttons"] == ["标记"] and queue["review"] == "open"
        assert "等待说明理由" in (page.text_content("#bg-count") or "")
        assert "监管看板" in (page.text_content("#supervision") or "")
        screenshot(page, "console-supervision-zh")

        # A bad month range is refused in the page's language, before asking the API.
        page.fill("#sup-from", "2026-12")
        page.fill("#sup-to", "2026-01")
        page.click("#sup-apply")
        page.wait_for_selector("#supervision[data-state=error]")
        assert page.text_content("#sup-error") == "起始月份不能晚于结束月份"

        # Remembered: a reload keeps Chinese (and the session).
        page.reload()
        page.wait_for_selector("#app[data-ready=true]")
        assert page.evaluate("document.documentElement.lang") == "zh-CN"
        assert page.text_content("#lang-toggle") == "English"
        page.wait_for_selector("#supervision[data-state=loaded]")
        assert page.text_content("#supervision h2") == "监管看板"
        assert console.switch_language() == "en"
        assert page.text_content("#supervision h2") == "Supervision"
        console.set_thresholds()  # cleared
        assert console.sup_table("sup-alerts") == []
    assert errors == []


def test_known_times_to_acceptance(world: dict[str, Any]) -> None:
    """Block times are the clock's, so a chain made in a test accepts within seconds. Rows
    planted straight into the API's index for February and March 2025 (ids far past the
    chain's; last in this module, as they add to the timeline) give known hours: h1 accepted
    after 1, 2, 3 and 10 hours (median 2, p90 10), the county hospital after 5, the clinic
    after 4 (its second acceptance, 9 hours, does not count)."""
    h1, h3, clinic = world["h1"], world["h3"], world["clinic"]
    feb = calendar.timegm((2025, 2, 3, 8, 0, 0))
    mar = calendar.timegm((2025, 3, 10, 8, 0, 0))
    plant_known(world["api"].services.index, h1, h3, clinic, feb, mar, first_id=1_000_001)
    errors: list[str] = []
    with chromium() as browser:
        page = browser.new_page(viewport=LAPTOP)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        console = ConsolePage(page, world["url"])
        console.open()
        # Errors the console itself makes follow the language too.
        assert console.switch_language() == "zh-CN"
        stranger = "0x" + bytes(Account.create().key).hex()
        assert console.try_sign_in(stranger) == "此密钥的登录身份是患者，不是监管机构"
        page.fill("#key", "")
        page.click("#signin-btn")
        page.wait_for_function(
            "() => document.getElementById('signin-error').textContent.startsWith('请粘贴')"
        )
        assert console.switch_language() == "en"
        console.sign_in(world["regulator_key"])
        console.supervision("2025-02", "2025-03")
        hours = {
            r["member"]: (r["Accepted"], r["Median (h)"], r["p90 (h)"])
            for r in console.sup_table("sup-acceptance")
        }
        assert hours == {h1: ("4", "2", "10"), h3: ("1", "5", "5"), clinic: ("1", "4", "4")}
        bars = console.sup_bars("acceptance")
        assert bars == {
            ("up-median", "2025-02"): 2,
            ("up-p90", "2025-02"): 10,
            ("down-median", "2025-02"): 4,
            ("down-p90", "2025-02"): 5,
        }
        assert console.sup_bars("referrals") == {
            ("up", "2025-02"): 5,
            ("down", "2025-02"): 2,
            ("down", "2025-03"): 1,
        }
        # The clinic asked h1 for three consultations: reported after 2 and 6 hours.
        consults = {
            r["member"]: (r["Requested"], r["Received"], r["Answered"],
                          r["To report, median (h)"], r["To report, p90 (h)"])
            for r in console.sup_table("sup-consultation-rows")
        }  # fmt: skip
        assert consults == {clinic: ("3", "0", "0", "–", "–"), h1: ("0", "3", "2", "2", "6")}
        assert console.sup_bars("consultations") == {
            ("requested", "2025-02"): 3,
            ("answered", "2025-02"): 2,
        }
        console.set_thresholds(median="4.5")
        alerts = console.sup_table("sup-alerts")
        assert [(a["rule"], a["month"], a["member"]) for a in alerts] == [
            ("acceptance-median", "2025-02", h3)
        ]
        assert alerts[0]["Alert"] == "median time to acceptance 5 h (threshold 4.5 h)"
        assert console.switch_language() == "zh-CN"
        hours_zh = {
            r["member"]: (r["中位数（小时）"], r["P90（小时）"])
            for r in console.sup_table("sup-acceptance")
        }
        assert hours_zh[h1] == ("2", "10")
        answered_zh = {
            r["member"]: r["已出报告"] for r in console.sup_table("sup-consultation-rows")
        }
        assert answered_zh[h1] == "2"
        alert = console.sup_table("sup-alerts")[0]
        assert alert["预警"] == "接收用时中位数 5 小时（阈值 4.5 小时）"
        assert alert["成员"] == H3
        console.set_thresholds()
        assert console.switch_language() == "en"
    assert errors == []
