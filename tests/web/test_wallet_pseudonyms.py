"""The wallet with pairwise pseudonyms, in Debian's headless Chromium against the real API,
ledger node and store. A patient's recovery phrase gives one pseudonym per care provider:
the clinic and the hospital register records under different addresses. After one sign-in
the wallet lists both custodians' records and every read of them; it grants consent at
each custodian with that custodian's pseudonym (the chain names two different patients,
neither the primary); revoking signs with the pseudonym the consent names; a disclosure to
the regulator downloads and verifies in Python; and the phrase imported in a fresh browser
restores both pseudonyms, with the same records and consents."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from eth_account import Account
from playwright.sync_api import Browser, BrowserContext

from sharing_api.chain import Alliance, ChainClient, ReferralStatus
from sharing_api.patient.disclosure import verify_disclosure
from sharing_api.sdk import ApiError, PatientWallet, SharingClient
from tests.support import api as support
from tests.support.api import RunningApi, running_api, running_ledger_alliance
from tests.support.browser import PHONE, RequestLog, chromium, ensure_web_built, screenshot
from tests.web.wallet_page import WalletPage

pytestmark = pytest.mark.integration

PASSPHRASE = "correct horse battery"
H1_NAME = "City Third People's Hospital"
CLINIC_NAME = "Xinqiao Community Clinic"


@pytest.fixture(scope="module")
def alliance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.TestAlliance]:
    with running_ledger_alliance(tmp_path_factory.mktemp("wallet-pseudonyms")) as deployed:
        yield deployed


@pytest.fixture(scope="module")
def api(alliance: support.TestAlliance) -> Iterator[RunningApi]:
    ensure_web_built()
    with running_api(alliance.settings()) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


class Context:
    """A fresh phone-sized browser context (empty localStorage) that records page errors and
    every request; `close` checks that none left the API's own origin."""

    def __init__(self, browser: Browser, api: RunningApi) -> None:
        self.context: BrowserContext = browser.new_context(viewport=PHONE, locale="en-US")
        self.requests = RequestLog.attach(self.context, api.url)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.wallet = WalletPage(self.page, api.url)
        self.wallet.open()

    def close(self) -> None:
        self.context.close()
        assert self.errors == [], self.errors
        self.requests.assert_local("/wallet/", "/wallet/app.js", "/auth/login")


def signed_in(api: RunningApi, key: str) -> SharingClient:
    client = SharingClient(api.url)
    client.login(key)
    return client


def test_one_person_two_custodians_two_pseudonyms(
    api: RunningApi, alliance: support.TestAlliance, browser: Browser
) -> None:
    _, phrase = Account.create_with_mnemonic()
    me = PatientWallet(phrase)
    clinic_addr, h1_addr = alliance.address("clinic").lower(), alliance.address("h1").lower()
    at_clinic, at_h1 = me.address_at(clinic_addr), me.address_at(h1_addr)
    assert len({at_clinic, at_h1, me.address}) == 3

    clinic = signed_in(api, alliance.keys["clinic"])
    h1 = signed_in(api, alliance.keys["h1"])
    for pseudonym in (at_clinic, at_h1):  # the desks verified the person under each address
        clinic.attest_patient(pseudonym)
    h1_doctor = h1.staff_client("dr-chen", "doctor", ["dept:cardiology"])
    clinic_doctor = clinic.staff_client("dr-zhao", "doctor")
    lab = clinic.seal(
        b'{"resourceType": "Observation"}', "h1.role:doctor", [h1.authority_params("h1")]
    )
    rid_clinic = int(clinic.upload(at_clinic, "lab", "h1.role:doctor", lab)["record_id"])
    summary = h1.seal(
        b'{"resourceType": "Composition"}', "c1.role:doctor", [clinic.authority_params("c1")]
    )
    rid_h1 = int(h1.upload(at_h1, "summary", "c1.role:doctor", summary)["record_id"])
    chain = Alliance(
        ChainClient(alliance.chain_url, alliance.keys["regulator"]), alliance.deployment
    )
    registry = chain.consents

    first = Context(browser, api)
    wallet, page = first.wallet, first.page
    wallet.import_key(phrase, PASSPHRASE)
    assert wallet.address() == me.address
    assert wallet.linkable_note() == ""
    shown = wallet.pseudonyms()
    assert shown[clinic_addr] == at_clinic and shown[h1_addr] == at_h1
    # One sign-in: the token proves the pseudonym at every care provider of the alliance.
    who = page.evaluate(
        """async () => (await fetch('/auth/me', {headers: {Authorization:
            'Bearer ' + sessionStorage.getItem('alliance.token')}})).json()"""
    )
    assert who["subject"] == me.address
    providers = [alliance.address(n) for n in ("h1", "clinic", "h3")]
    assert set(who["pseudonyms"]) == {me.address_at(m).lower() for m in providers}
    records = {r["record_id"]: r["text"] for r in wallet.records()}
    assert set(records) == {rid_clinic, rid_h1}
    assert CLINIC_NAME in records[rid_clinic] and H1_NAME in records[rid_h1]

    # A consent at each custodian, each signed by that custodian's pseudonym.
    until = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    review = wallet.review_grant(
        H1_NAME, ["lab"], ["treatment", "referral"], until, kept_at=CLINIC_NAME
    )
    assert review == (
        f"You allow {H1_NAME} to read your Lab results kept at {CLINIC_NAME} for treatment "
        f"and referral until {until}."
    )
    c_clinic = wallet.sign_grant()
    c_h1 = wallet.grant(CLINIC_NAME, ["summary"], ["treatment"], until, kept_at=H1_NAME)
    on_chain = {c: registry.get(c).patient.lower() for c in (c_clinic, c_h1)}
    assert on_chain == {c_clinic: at_clinic.lower(), c_h1: at_h1.lower()}
    assert me.address.lower() not in on_chain.values()
    # grantBySig checked each signature against the patient it names: that pseudonym's key
    # signed (its nonce moved); the primary signed nothing.
    assert registry.nonce_of(at_clinic) == 1 and registry.nonce_of(at_h1) == 1
    assert registry.nonce_of(me.address) == 0
    consents = wallet.consents()
    assert f"records kept at {CLINIC_NAME}" in consents[c_clinic]
    assert f"records kept at {H1_NAME}" in consents[c_h1]
    screenshot(page, "wallet-pseudonyms-1-two-consents")
    # The addresses for the desks fit a phone too, and the labels exist in Chinese.
    page.click("#addresses summary")
    assert wallet.horizontal_overflow() == 0
    assert wallet.toggle_language() == "zh-CN"
    assert f"档案保存于{CLINIC_NAME}" in wallet.consents()[c_clinic]
    assert wallet.toggle_language() == "en"

    # Members read under each consent: the wallet shows every read, of both custodians.
    _, read_clinic = h1_doctor.fetch(rid_clinic)
    _, read_h1 = clinic_doctor.fetch(rid_h1)
    wallet.refresh()
    (seen_clinic,) = wallet.accesses(rid_clinic)
    (seen_h1,) = wallet.accesses(rid_h1)
    assert seen_clinic["access_id"] == int(read_clinic["x-access-id"])
    assert seen_clinic["reader"] == h1_addr and f"your consent #{c_clinic}" in seen_clinic["text"]
    assert seen_h1["access_id"] == int(read_h1["x-access-id"])
    assert seen_h1["reader"] == clinic_addr and f"your consent #{c_h1}" in seen_h1["text"]

    # The clinic refers the clinic's record to h1 under that consent: the referral names the
    # clinic pseudonym, and withdrawing it from the wallet signs with that pseudonym.
    fid = int(
        clinic_doctor.create_referral(at_clinic, h1_addr, [rid_clinic], c_clinic)["referral_id"]
    )
    wallet.refresh()
    (referral,) = wallet.referrals()
    assert referral["referral_id"] == fid and f"records kept at {CLINIC_NAME}" in referral["text"]
    wallet.withdraw_referral(fid)
    assert chain.referrals.get(fid).status is ReferralStatus.WITHDRAWN
    assert chain.referrals.nonce_of(at_clinic) == 1 and chain.referrals.nonce_of(me.address) == 0

    # Revoke: the wallet signs with the pseudonym the consent names, by itself.
    wallet.review_revoke(c_clinic)
    typed = wallet.revoke_typed()
    assert typed["message"]["patient"] == at_clinic and typed["message"]["nonce"] == 1
    wallet.sign_revoke(c_clinic)
    assert registry.get(c_clinic).revoked and not registry.get(c_h1).revoked
    assert registry.nonce_of(at_clinic) == 2 and registry.nonce_of(at_h1) == 1
    with pytest.raises(ApiError) as refused:
        h1_doctor.fetch(rid_clinic)
    assert refused.value.status == 403

    # Disclosure to the regulator: a download the Python checker accepts.
    doc = wallet.disclose([clinic_addr, h1_addr], alliance.address("regulator"))
    chain_id = alliance.deployment.chain_id
    disclosed = verify_disclosure(doc, regulator=alliance.address("regulator"), chain_id=chain_id)
    assert disclosed == sorted([at_clinic.lower(), at_h1.lower()])
    assert wallet.status() == ("ok", "Disclosure of 2 IDs downloaded.")
    listed = {"records": wallet.records(), "consents": wallet.consents()}
    first.close()

    # The phrase alone, in a fresh browser: both pseudonyms, the same records and consents.
    second = Context(browser, api)
    second.wallet.import_key(phrase, "another long passphrase")
    assert second.wallet.pseudonyms() == shown
    assert second.wallet.records() == listed["records"]
    assert second.wallet.consents() == listed["consents"] == {c_h1: consents[c_h1]}
    assert [a["access_id"] for a in second.wallet.accesses(rid_h1)] == [seen_h1["access_id"]]
    screenshot(second.page, "wallet-pseudonyms-2-restored")
    # The one token covers erasing a record kept under a pseudonym.
    second.wallet.erase(rid_h1)
    assert [r["erased"] for r in second.wallet.records() if r["record_id"] == rid_h1] == [True]
    second.close()
    for client in (clinic, h1, h1_doctor, clinic_doctor):
        client.close()
