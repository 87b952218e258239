"""The wallet and security labels (DS4P): a consent that covers records labelled restricted,
very restricted or sensitive says so in plain words, in English and Chinese, and cannot be
signed until the patient ticks the opt-in box. In headless Chromium against the real API and
ledger node; the words themselves are checked against crypto/labels.py in Node."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from eth_account import Account
from playwright.sync_api import Browser, Page

from crypto.labels import SENSITIVITY, SecurityLabels
from sharing_api.sdk import SharingClient
from tests.support import api as support
from tests.support.api import RunningApi, running_api, running_ledger_alliance
from tests.support.browser import PHONE, chromium, ensure_web_built, screenshot
from tests.web.test_wallet_units import WALLET, node
from tests.web.wallet_page import WalletPage

pytestmark = pytest.mark.integration

PASSPHRASE = "correct horse battery"
H1_NAME = "City Third People's Hospital"
POLICY = "h1.role:doctor"
EN_V = (
    "This consent covers records marked very restricted: mental health and HIV/AIDS. "
    "Whoever you allow can read them."
)
ZH_V = (
    "此授权涵盖标记为“高度受限”的档案：精神心理健康和艾滋病（HIV）。您授权的对象将能查看这些档案。"
)


def test_the_wallet_words_are_the_vocabulary_s() -> None:
    """labels.js lists crypto/labels.py's codes, i18n.js has their plain words in both
    languages, and the sentences come out as the patient reads them."""
    out = node(
        f"""import {{ STRINGS, setLang }} from '{WALLET / "i18n.js"}';
        import {{ SENSITIVITY, describeSensitive, recordLabels }} from '{WALLET / "labels.js"}';
        const r = {{ confidentiality: "R", sensitivity: [] }};
        const eth = {{ confidentiality: "N", sensitivity: ["ETH"] }};
        const said = {{}};
        for (const lang of ["en", "zh-CN"]) {{
          setLang(lang, null);
          said[lang] = [describeSensitive([r]), describeSensitive([eth, r]),
            recordLabels({{ confidentiality: "N", sensitivity: [] }}),
            recordLabels({{ confidentiality: "V", sensitivity: ["HIV", "PSY"] }})];
        }}
        console.log(JSON.stringify({{ codes: SENSITIVITY, strings: STRINGS, said }}));"""
    )
    assert out["codes"] == list(SENSITIVITY)
    for code, term in SENSITIVITY.items():
        assert out["strings"]["en"][f"sens.{code}"] == term.en
        assert out["strings"]["zh-CN"][f"sens.{code}"] == term.zh
    assert out["said"]["en"] == [
        "This consent covers records marked restricted. Whoever you allow can read them.",
        "This consent covers records marked restricted: alcohol or drug use. "
        "Whoever you allow can read them.",
        "",
        "very restricted · mental health and HIV/AIDS",
    ]
    assert out["said"]["zh-CN"][0] == "此授权涵盖标记为“受限”的档案。您授权的对象将能查看这些档案。"
    assert out["said"]["zh-CN"][3] == "高度受限 · 精神心理健康和艾滋病（HIV）"


@pytest.fixture(scope="module")
def alliance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.TestAlliance]:
    with running_ledger_alliance(tmp_path_factory.mktemp("wallet-labels")) as deployed:
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
    context = browser.new_context(viewport=PHONE, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    assert errors == [], errors


def _client(api: RunningApi, key: str) -> SharingClient:
    client = SharingClient(api.url)
    client.login(key)
    return client


def test_a_grant_over_sensitive_records_needs_the_patients_opt_in(
    api: RunningApi, alliance: support.TestAlliance, page: Page
) -> None:
    patient = Account.create()
    clinic = _client(api, alliance.keys["clinic"])
    clinic.attest_patient(patient.address)
    h1 = _client(api, alliance.keys["h1"])  # the grantee: it sees the consents given to it
    params = [clinic.authority_params("h1")]
    plain = clinic.seal(b'{"resourceType": "Observation"}', POLICY, params)
    clinic.upload(patient.address, "lab", POLICY, plain)
    labels = SecurityLabels.of("V", ["PSY", "HIV"])
    sensitive = clinic.seal(b'{"resourceType": "Observation"}', POLICY, params, labels=labels)
    rid = clinic.upload(patient.address, "summary", POLICY, sensitive)["record_id"]

    wallet = WalletPage(page, api.url)
    wallet.open()
    wallet.import_key("0x" + bytes(patient.key).hex(), PASSPHRASE)
    shown = {r["record_id"]: r["text"] for r in wallet.records()}
    assert "very restricted · mental health and HIV/AIDS" in shown[rid]
    until = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()

    # Lab results carry no label: no warning, Sign is enabled as before.
    wallet.review_grant(H1_NAME, ["lab"], ["treatment"], until)
    assert wallet.sensitive_notice() == "" and wallet.grant_signable()

    # The summary is very restricted: the wallet says what it is and blocks signing.
    wallet.review_grant(H1_NAME, ["lab", "summary"], ["treatment"], until)
    assert wallet.sensitive_notice() == EN_V
    assert not wallet.grant_signable()
    page.evaluate("document.getElementById('grant-sign').click()")  # a disabled button
    page.wait_for_timeout(300)
    assert h1.json("GET", "/consents", params={"patient": patient.address}) == []
    screenshot(page, "wallet-labels-1-optin")
    assert wallet.opt_in() == "I understand, and I want to share these sensitive records too."
    assert wallet.grant_signable()
    consent_id = wallet.sign_grant()
    (granted,) = h1.json("GET", "/consents", params={"patient": patient.address})
    assert granted["consent_id"] == consent_id
    assert sorted(granted["categories"]) == ["lab", "summary"]

    # The same in Chinese.
    assert wallet.toggle_language() == "zh-CN"
    shown = {r["record_id"]: r["text"] for r in wallet.records()}
    assert "高度受限 · 精神心理健康和艾滋病（HIV）" in shown[rid]
    wallet.review_grant(H1_NAME, ["summary"], ["treatment"], until)
    assert wallet.sensitive_notice() == ZH_V
    assert not wallet.grant_signable()
    assert wallet.opt_in() == "我已了解，并同意一并共享这些敏感档案。"
    assert wallet.grant_signable()
    screenshot(page, "wallet-labels-2-optin-zh")
    clinic.close()
    h1.close()
