"""The patient wallet in Debian's headless Chromium against the real API, ledger node and
store: import a key, sign in, grant a hospital consent by an EIP-712 signature made in the
browser; the hospital reads through the SDK; the patient sees that access (who, when, basis)
and revokes; the next read is refused. Also: a new key, wrong passphrase, the Chinese
interface, and no horizontal scroll on a phone."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from eth_account import Account
from playwright.sync_api import Browser, Page

from crypto import text_commitment
from sharing_api.chain import Alliance, ChainClient, ReferralStatus
from sharing_api.patient.pseudonyms import primary_account, pseudonym_account
from sharing_api.sdk import ApiError, SharingClient
from tests.support import api as support
from tests.support.api import RunningApi, running_api, running_ledger_alliance
from tests.support.browser import PHONE, RequestLog, chromium, ensure_web_built, screenshot
from tests.web.wallet_page import WalletPage

pytestmark = pytest.mark.integration

PASSPHRASE = "correct horse battery"
H1_NAME = "City Third People's Hospital"
CLINIC_NAME = "Xinqiao Community Clinic"
POLICY = "h1.role:doctor"


@pytest.fixture(scope="module")
def alliance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.TestAlliance]:
    with running_ledger_alliance(tmp_path_factory.mktemp("wallet-alliance")) as deployed:
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


@pytest.fixture
def page(browser: Browser, api: RunningApi) -> Iterator[Page]:
    """A fresh phone-sized context (empty localStorage) that records page errors and every
    request: each test ends by checking that all went to the API's own 127.0.0.1 origin."""
    context = browser.new_context(viewport=PHONE, locale="en-US")
    requests = RequestLog.attach(context, api.url)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    assert errors == [], errors
    requests.assert_local("/wallet/", "/wallet/app.js", "/wallet/style.css")


def signed_in(api: RunningApi, key: str) -> SharingClient:
    client = SharingClient(api.url)
    client.login(key)
    return client


def test_grant_read_see_revoke(api: RunningApi, alliance: support.TestAlliance, page: Page) -> None:
    patient = Account.create()
    clinic = signed_in(api, alliance.keys["clinic"])
    clinic.attest_patient(patient.address)
    h1 = signed_in(api, alliance.keys["h1"])
    doctor = h1.staff_client("dr-chen", "doctor", ["dept:cardiology"])
    sealed = clinic.seal(b'{"resourceType": "Observation"}', POLICY, [h1.authority_params("h1")])
    rid = clinic.upload(patient.address, "lab", POLICY, sealed)["record_id"]

    wallet = WalletPage(page, api.url)
    wallet.open()
    assert wallet.view == "setup"
    wallet.import_key("0x" + bytes(patient.key).hex(), PASSPHRASE)
    assert wallet.address() == patient.address
    # A bare key has no pseudonyms: the wallet says plainly that its records are linkable.
    assert "anyone who reads the ledger can link them" in wallet.linkable_note()
    assert wallet.pseudonyms() == {}
    (record,) = wallet.records()
    assert record["record_id"] == rid
    assert "Lab results" in record["text"] and "Xinqiao Community Clinic" in record["text"]
    assert wallet.accesses(rid) == []
    screenshot(page, "wallet-1-records")

    until = (datetime.now(UTC) + timedelta(days=60)).date().isoformat()
    summary = wallet.review_grant(H1_NAME, ["lab"], ["treatment"], until)
    assert summary == f"You allow {H1_NAME} to read your Lab results for treatment until {until}."
    screenshot(page, "wallet-2-grant-review")
    consent_id = wallet.sign_grant()
    assert f"until {until}" in wallet.consents()[consent_id]
    on_chain = h1.json("GET", f"/consents/{consent_id}")
    assert on_chain["grantee"] == alliance.address("h1").lower()
    assert on_chain["categories"] == ["lab"] and on_chain["purposes"] == ["treatment"]
    assert on_chain["valid_until"] == int(
        datetime.fromisoformat(until).replace(tzinfo=UTC).timestamp() + 86_400
    )

    before = int(time.time())
    data, headers = doctor.fetch(rid)
    assert data == sealed
    wallet.refresh()
    (seen,) = wallet.accesses(rid)
    assert seen["access_id"] == int(headers["x-access-id"])
    assert seen["basis"] == "consent" and seen["reader"] == alliance.address("h1").lower()
    assert H1_NAME in seen["text"] and f"your consent #{consent_id}" in seen["text"]
    assert "for treatment" in seen["text"]
    stamp = datetime.fromtimestamp(before, UTC).strftime("%Y-%m-%d")
    assert stamp in seen["text"]
    assert wallet.horizontal_overflow() == 0
    screenshot(page, "wallet-3-access-seen")

    # Revoke first shows, in plain words, what is about to be signed; Cancel signs nothing.
    registry = Alliance(
        ChainClient(alliance.chain_url, alliance.keys["regulator"]), alliance.deployment
    ).consents
    nonce = registry.nonce_of(patient.address)
    summary = wallet.review_revoke(consent_id)
    assert summary == (
        f"You are revoking consent #{consent_id}, which lets {H1_NAME} read your Lab results "
        f"for treatment. Once you sign, {H1_NAME} can no longer read them under this consent."
    )
    typed = wallet.revoke_typed()
    assert typed["message"]["consentId"] == consent_id and typed["message"]["nonce"] == nonce
    assert typed["message"]["patient"] == patient.address
    assert typed["domain"]["consent_registry"].lower() == registry.address.lower()
    screenshot(page, "wallet-3b-revoke-review")
    wallet.cancel_revoke()
    assert consent_id in wallet.consents()
    assert registry.nonce_of(patient.address) == nonce  # no signature went on chain
    assert not h1.json("GET", f"/consents/{consent_id}")["revoked"]
    data, _ = doctor.fetch(rid)  # still readable
    assert data == sealed

    assert wallet.revoke(consent_id) == summary
    assert registry.nonce_of(patient.address) == nonce + 1
    assert h1.json("GET", f"/consents/{consent_id}")["revoked"]
    with pytest.raises(ApiError) as refused:
        doctor.fetch(rid)
    assert refused.value.status == 403
    # An emergency read shows up too, marked as break-glass until the hospital justifies it.
    doctor.fetch(rid, break_glass=True, reason="unconscious in ER")
    wallet.refresh()
    emergency = [a for a in wallet.accesses(rid) if a["basis"] == "break-glass"]
    assert (
        len(emergency) == 1
        and "emergency (break-glass) (waiting for justification)" in (emergency[0]["text"])
    )
    screenshot(page, "wallet-4-revoked")

    # Chinese interface, still no horizontal scroll on the phone; and back.
    assert wallet.toggle_language() == "zh-CN"
    assert page.inner_text("h1") == "我的健康档案钱包"
    assert "检验结果" in wallet.records()[0]["text"]
    assert "您的授权" in wallet.accesses(rid)[0]["text"]
    assert wallet.horizontal_overflow() == 0
    screenshot(page, "wallet-5-zh")
    assert wallet.toggle_language() == "en"
    assert page.inner_text("h1") == "My health records wallet"

    # Lock; a wrong passphrase says so; the right one signs in again.
    wallet.lock()
    assert "Wrong passphrase" in wallet.unlock_fails("not the passphrase")
    screenshot(page, "wallet-6-wrong-passphrase")
    wallet.unlock(PASSPHRASE)
    assert wallet.address() == patient.address
    for client in (clinic, h1, doctor):
        client.close()


def test_break_glass_reads_are_marked_with_their_review(
    api: RunningApi, alliance: support.TestAlliance, page: Page
) -> None:
    """Every break-glass read of the patient's record is marked as an emergency read, with
    where its review stands (en and zh-CN): waiting, justified, accepted, flagged."""
    patient = Account.create()
    clinic = signed_in(api, alliance.keys["clinic"])
    h1 = signed_in(api, alliance.keys["h1"])
    regulator = signed_in(api, alliance.keys["regulator"])
    er = h1.staff_client("dr-er-fang", "doctor", ["dept:emergency"])
    chief = h1.staff_client("dr-hu", "chief-physician", ["dept:emergency"])
    sealed = clinic.seal(b'{"resourceType": "Observation"}', POLICY, [h1.authority_params("h1")])
    rid = clinic.upload(patient.address, "lab", POLICY, sealed)["record_id"]
    ids = [
        int(er.fetch(rid, break_glass=True, reason="unconscious in ER")[1]["x-access-id"])
        for _ in range(3)
    ]
    for access_id in ids[1:]:
        chief.json(
            "POST", f"/audit/break-glass/{access_id}/justify", json={"justification": "STEMI"}
        )
    regulator.json("POST", f"/audit/break-glass/{ids[2]}/close", json={"accepted": True})

    wallet = WalletPage(page, api.url)
    wallet.open()
    wallet.import_key("0x" + bytes(patient.key).hex(), PASSPHRASE)
    shown = {a["access_id"]: a for a in wallet.accesses(rid)}
    assert set(shown) == set(ids)
    assert all(
        a["basis"] == "break-glass" and a["badge"] == ["Emergency read"] for a in shown.values()
    )
    assert [shown[i]["review"] for i in ids] == ["open", "justified", "accepted"]
    assert "(waiting for justification)" in shown[ids[0]]["text"]
    assert "(accepted by the regulator)" in shown[ids[2]]["text"]

    regulator.json("POST", f"/audit/break-glass/{ids[0]}/close", json={"accepted": False})
    wallet.refresh()
    flagged = next(a for a in wallet.accesses(rid) if a["access_id"] == ids[0])
    assert flagged["review"] == "flagged" and "(flagged by the regulator)" in flagged["text"]
    assert wallet.toggle_language() == "zh-CN"
    zh = {a["access_id"]: a["text"] for a in wallet.accesses(rid)}
    assert "紧急调阅" in zh[ids[0]] and "监管机构已标记为异常" in zh[ids[0]]
    assert "等待说明理由" not in zh[ids[1]] and "已说明理由，待监管机构审核" in zh[ids[1]]
    assert wallet.horizontal_overflow() == 0
    screenshot(page, "wallet-7-break-glass-zh")
    wallet.toggle_language()
    for client in (clinic, h1, regulator, er, chief):
        client.close()


def test_the_patient_erases_a_record_from_the_wallet(
    api: RunningApi, alliance: support.TestAlliance, page: Page
) -> None:
    """Erasure is one button and one question in words; afterwards the record is listed as
    erased and nobody can read it (410)."""
    patient = Account.create()
    clinic = signed_in(api, alliance.keys["clinic"])
    h1 = signed_in(api, alliance.keys["h1"])
    sealed = clinic.seal(b'{"resourceType": "Observation"}', POLICY, [h1.authority_params("h1")])
    rid = clinic.upload(patient.address, "lab", POLICY, sealed)["record_id"]
    wallet = WalletPage(page, api.url)
    wallet.open()
    wallet.import_key("0x" + bytes(patient.key).hex(), PASSPHRASE)
    assert [r["erased"] for r in wallet.records() if r["record_id"] == rid] == [False]
    question = wallet.erase(rid)
    assert f"#{rid}" in question and "for good" in question
    (shown,) = [r for r in wallet.records() if r["record_id"] == rid]
    assert shown["erased"] and "Erased" in shown["text"]
    doctor = h1.staff_client("dr-erase", "doctor")
    with pytest.raises(ApiError) as gone:
        doctor.fetch(rid)
    assert gone.value.status == 410
    for client in (clinic, h1, doctor):
        client.close()


def test_patient_answers_referral_proposals(
    api: RunningApi, alliance: support.TestAlliance, page: Page
) -> None:
    """A clinic doctor proposes two referrals through the SDK; the patient declines one
    (nothing on chain) and accepts the other in the browser (signed there, created on chain
    by the API as the clinic); the hospital accepts and reads on the referral's strength."""
    started = time.monotonic()
    patient = Account.create()
    clinic = signed_in(api, alliance.keys["clinic"])
    doctor = clinic.staff_client("dr-zhao", "doctor", ["dept:general-practice"])
    h1 = signed_in(api, alliance.keys["h1"])
    params = [clinic.authority_params("c1")]
    rid, lab = (
        clinic.upload(
            patient.address, c, "c1.role:doctor", clinic.seal(b"{}", "c1.role:doctor", params)
        )["record_id"]
        for c in ("summary", "lab")
    )
    registry = Alliance(
        ChainClient(alliance.chain_url, alliance.keys["regulator"]), alliance.deployment
    ).referrals

    wallet = WalletPage(page, api.url)
    wallet.open()
    wallet.import_key("0x" + bytes(patient.key).hex(), PASSPHRASE)
    assert wallet.proposals() == {} and wallet.referrals() == []
    h1_address = alliance.address("h1")
    other = doctor.propose_referral(patient.address, h1_address, record_ids=[lab])["proposal_id"]
    reason = "cardiology: chest pain on exertion"
    pid = doctor.propose_referral(
        patient.address, h1_address, categories=["summary"], reason=reason
    )["proposal_id"]
    wallet.refresh()
    shown = wallet.proposals()
    assert set(shown) == {pid, other}
    assert shown[pid]["terms"] == (
        f"Xinqiao Community Clinic refers you to {H1_NAME} (up) for: {reason}."
    )
    assert (
        shown[pid]["reads"] == f"If you accept, {H1_NAME} may read your Summary records (#{rid})."
    )
    assert shown[other]["terms"] == f"Xinqiao Community Clinic refers you to {H1_NAME} (up)."
    # The referral's own end, in words, before the patient signs it (30 days from now).
    assert shown[pid]["ends"].startswith("If you accept, the referral ends on ")
    assert "(30 days)" in shown[pid]["ends"]
    screenshot(page, "wallet-8-referral-proposals")

    nonce = registry.nonce_of(patient.address)
    wallet.decline_proposal(other)
    assert registry.nonce_of(patient.address) == nonce  # nothing went on chain
    assert doctor.json("GET", f"/referral-proposals/{other}")["status"] == "declined"

    fid = wallet.accept_proposal(pid)
    # The browser signed the commitment it computed itself from the reason it showed and the
    # proposal's salt: the chain holds exactly that, not the reason's plain SHA-256, and the
    # clinic's gateway keeps the reason, which checks against it.
    salt = bytes.fromhex(doctor.json("GET", f"/referral-proposals/{pid}")["reason_salt"][2:])
    (created_event,) = [
        e for e in registry.events("ReferralCreated") if int(e.args["referralId"]) == fid
    ]
    reason_hash = bytes(created_event.args["reasonHash"])
    assert reason_hash == text_commitment.commit(salt, "reason", reason)
    assert reason_hash != hashlib.sha256(reason.encode()).digest()
    (kept,) = clinic.referral_texts(fid)
    assert (kept.kind, kept.text, kept.matches_chain) == ("reason", reason, True)
    on_chain = registry.get(fid)
    assert on_chain.patient == patient.address
    assert on_chain.referrer.lower() == alliance.address("clinic").lower()
    assert on_chain.receiver.lower() == h1_address.lower()
    assert on_chain.status is ReferralStatus.CREATED
    assert abs(on_chain.expires_at - (time.time() + 30 * 86_400)) < 3600  # what was shown
    mine = {p["proposal_id"]: p for p in clinic.referral_proposals()}
    assert mine[pid]["status"] == "accepted" and mine[pid]["referral_id"] == fid
    (created,) = wallet.referrals()
    assert created["referral_id"] == fid and created["status"] == "created"
    assert f"Referral #{fid}" in created["text"] and "waiting for the receiver" in created["text"]

    assert h1.json("POST", f"/referrals/{fid}/accept")["status"] == "accepted"
    h1.fetch(rid, purpose="referral", referral_id=fid)
    wallet.refresh()
    (accepted,) = wallet.referrals()
    assert accepted["status"] == "accepted"
    (read,) = wallet.accesses(rid)
    assert read["basis"] == "referral" and f"referral #{fid}" in read["text"]
    assert "for referral" in read["text"]
    answered = wallet.proposals("accepted")
    assert f"you accepted (referral #{fid})" in answered[pid]["text"]
    assert "you declined" in wallet.proposals("declined")[other]["text"]
    screenshot(page, "wallet-9-referral-accepted")
    assert wallet.toggle_language() == "zh-CN"
    assert f"转诊 #{fid}" in wallet.referrals()[0]["text"]
    assert f"您已同意（转诊 #{fid}）" in wallet.proposals("accepted")[pid]["text"]
    wallet.toggle_language()

    # The patient withdraws the referral from the wallet: the hospital's next read through
    # it is refused, and the chain says who ended it.
    summary = wallet.withdraw_referral(fid)
    assert summary == (
        f"You are withdrawing referral #{fid}. Once you sign, {H1_NAME} can no longer read "
        f"records #{rid} through it."
    )
    assert registry.get(fid).status is ReferralStatus.WITHDRAWN
    (withdrawn,) = wallet.referrals()
    assert withdrawn["status"] == "withdrawn" and "withdrawn by you" in withdrawn["text"]
    with pytest.raises(ApiError) as refused:
        h1.fetch(rid, purpose="referral", referral_id=fid)
    assert refused.value.status == 403
    for client in (clinic, h1):
        client.close()
    assert time.monotonic() - started < 60


def test_new_key_and_a_role_grant(
    api: RunningApi, alliance: support.TestAlliance, page: Page
) -> None:
    wallet = WalletPage(page, api.url)
    wallet.open()
    address = wallet.create_key(PASSPHRASE)
    assert address.startswith("0x") and len(address) == 42
    # The recovery phrase was shown once, before sign-in: it is this key's, and every
    # pseudonym the wallet shows derives from it.
    assert len(wallet.phrase.split()) == 12
    assert primary_account(wallet.phrase).address == address
    clinic_address = alliance.address("clinic").lower()
    shown = wallet.pseudonyms()
    assert shown[clinic_address] == pseudonym_account(wallet.phrase, clinic_address).address
    assert wallet.linkable_note() == ""
    assert page.locator("#backup-words").count() == 0  # not shown again
    # The clinic verifies the person and attests the address the wallet shows for it.
    signed_in(api, alliance.keys["clinic"]).attest_patient(shown[clinic_address])
    assert wallet.records() == [] and wallet.consents() == {}
    until = (datetime.now(UTC) + timedelta(days=7)).date().isoformat()
    summary = wallet.review_grant(
        "", ["summary", "imaging"], ["consultation"], until, role="clinic", kept_at=CLINIC_NAME
    )
    assert summary == (
        f"You allow any clinic to read your Summary and Imaging kept at {CLINIC_NAME} for "
        f"consultation until {until}."
    )
    consent_id = wallet.sign_grant()
    assert "any clinic" in wallet.consents()[consent_id]
    assert f"records kept at {CLINIC_NAME}" in wallet.consents()[consent_id]
    # The revocation's review in Chinese; Cancel leaves the consent active.
    assert wallet.toggle_language() == "zh-CN"
    assert wallet.review_revoke(consent_id) == (
        f"您将撤销授权 #{consent_id}：任一诊所目前可出于会诊目的查看您的病历摘要和影像。"
        "签名后，任一诊所将无法再凭此授权查看这些档案。"
    )
    assert page.inner_text("#revoke-sign") == "签名并撤销"
    wallet.cancel_revoke()
    assert wallet.toggle_language() == "en"
    assert set(wallet.consents()) == {consent_id}
    # The key survives a reload only encrypted: the page asks for the passphrase again.
    page.reload()
    page.wait_for_selector("#app[data-ready=true]")
    assert wallet.view == "unlock"
    stored = json.loads(page.evaluate("localStorage.getItem('alliance.keystore.wallet')"))
    assert stored["Crypto"]["kdf"] == "scrypt" and stored["Crypto"]["kdfparams"]["n"] == 2**17
    assert stored["address"] == address[2:].lower()
    assert wallet.horizontal_overflow() == 0
    screenshot(page, "wallet-7-unlock")


# BIP-39's all-"abandon" test vector; its first Ethereum account (m/44'/60'/0'/0/0) is the
# well-known 0x9858EfFD232B4033E47d90003D41EC34EcaEda94.
MNEMONIC = " ".join(["abandon"] * 11 + ["about"])
MNEMONIC_ADDRESS = "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"


def test_import_a_recovery_phrase(api: RunningApi, page: Page) -> None:
    """A recovery phrase (pasted with stray capitals and spaces) gives the account Python's
    eth-account derives from the same phrase at m/44'/60'/0'/0/0; the wallet signs in as it,
    keeps the phrase's path in the encrypted keystore, and unlocks to it after a reload."""
    Account.enable_unaudited_hdwallet_features()
    derived = Account.from_mnemonic(MNEMONIC, account_path="m/44'/60'/0'/0/0").address
    assert derived == MNEMONIC_ADDRESS
    wallet = WalletPage(page, api.url)
    wallet.open()
    pasted = "  " + MNEMONIC.replace("abandon", "Abandon", 1).replace(" ", "  \n", 3) + " "
    wallet.import_key(pasted, PASSPHRASE)
    assert wallet.address() == derived
    assert wallet.linkable_note() == ""  # a phrase: a pseudonym per care provider
    stored = json.loads(page.evaluate("localStorage.getItem('alliance.keystore.wallet')"))
    assert stored["address"] == derived[2:].lower()
    assert stored["x-ethers"]["path"] == "m/44'/60'/0'/0/0"
    assert "about" not in json.dumps(stored)  # the phrase is stored only encrypted
    page.reload()
    page.wait_for_selector("#app[data-ready=true]")
    wallet.unlock(PASSPHRASE)
    assert wallet.address() == derived
    # A phrase that fails its BIP-39 checksum is refused, and nothing is stored.
    wallet.lock()
    page.evaluate("localStorage.clear()")
    page.reload()
    page.wait_for_selector("#app[data-ready=true]")
    page.fill("#import-secret", " ".join(["abandon"] * 12))
    page.fill("#import-pass", PASSPHRASE)
    page.click("#import-btn")
    page.wait_for_selector("#status[data-kind=error]")
    assert "nor a valid mnemonic" in wallet.status()[1]
    assert wallet.view == "setup"
    assert page.evaluate("localStorage.getItem('alliance.keystore.wallet')") is None


def test_setup_screen_in_chinese_fits_a_phone(api: RunningApi, page: Page, tmp_path: Path) -> None:
    wallet = WalletPage(page, api.url)
    wallet.open()
    assert wallet.toggle_language() == "zh-CN"
    assert "创建新密钥" in page.inner_text("#setup")
    assert wallet.horizontal_overflow() == 0
    # The choice is remembered across a reload.
    page.reload()
    page.wait_for_selector("#app[data-ready=true]")
    assert page.get_attribute("html", "lang") == "zh-CN"
