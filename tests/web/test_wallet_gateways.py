"""The wallet served by the patient's own gateway shows the whole alliance: h1's gateway (A)
holds two referral proposals for the patient; the wallet at the cloud gateway (B), in
Debian's headless Chromium over B's TLS, lists them with h1's name, declines one (a signed
decline) and accepts the other (the ReferralConsent signed in the browser), and A's member
creates the referral on chain. The record at A is labelled very restricted (mental health):
B never saw its header, yet the wallet shows the label (from A, with the inbox) and asks for
the patient's opt-in before a consent covers it. Every request the page makes goes to B's
own origin."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crypto.labels import SecurityLabels
from sharing_api.chain import Alliance, ChainClient, ReferralStatus
from sharing_api.gateway.local import running_gateway
from sharing_api.sdk import SharingClient
from tests.gateway.conftest import Gateways, start_gateways
from tests.support.api import running_ledger_alliance
from tests.support.browser import PHONE, RequestLog, chromium, ensure_web_built, screenshot
from tests.web.wallet_page import WalletPage

pytestmark = pytest.mark.integration

H1_NAME = "City Third People's Hospital"
POLICY = "h1.role:doctor"


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateways]:
    ensure_web_built()  # before the gateways start: they mount only built apps
    root = tmp_path_factory.mktemp("wallet-gateways")
    with running_ledger_alliance(root / "chain") as alliance:
        h1, cloud = start_gateways(root, alliance)
        with running_gateway(h1), running_gateway(cloud):
            yield Gateways.with_known_patient(alliance, h1, cloud)


def test_wallet_at_b_answers_proposals_made_at_a(gateways: Gateways) -> None:
    g = gateways
    patient = g.patient
    h1 = g.member("h1")
    labels = SecurityLabels.of("V", ["PSY"])
    sealed = SharingClient.seal(b"{}", POLICY, [h1.authority_params("h1")], labels=labels)
    rid = int(h1.upload(patient.address, "summary", POLICY, sealed)["record_id"])
    clinic, h3 = g.alliance.address("clinic"), g.alliance.address("h3")
    reason = "follow-up of hypertension"
    pid = h1.propose_referral(
        patient.address, clinic, record_ids=[rid], direction="down", reason=reason
    )["proposal_id"]
    other = h1.propose_referral(patient.address, h3, record_ids=[rid])["proposal_id"]
    h1_address = g.alliance.address("h1")

    with chromium() as browser:
        # B's certificate is self-signed (pinned between gateways by its fingerprint on chain).
        context = browser.new_context(viewport=PHONE, locale="en-US", ignore_https_errors=True)
        requests = RequestLog.attach(context, g.cloud.url)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        wallet = WalletPage(page, g.cloud.url)
        wallet.open()
        wallet.import_key("0x" + bytes(patient.key).hex(), "correct horse battery")
        (record,) = wallet.records()
        assert "very restricted · mental health" in record["text"]
        wallet.review_grant("Xinqiao Community Clinic", ["summary"], ["treatment"], "2099-01-01")
        assert wallet.sensitive_notice().startswith(
            "This consent covers records marked very restricted: mental health."
        )
        assert not wallet.grant_signable()
        page.click("#grant-cancel")

        shown = wallet.proposals()
        assert set(shown) == {pid, other}
        assert shown[pid]["terms"] == (
            f"{H1_NAME} refers you to Xinqiao Community Clinic (down) for: {reason}."
        )
        assert shown[pid]["reads"] == (
            f"If you accept, Xinqiao Community Clinic may read your Summary records (#{rid})."
        )
        assert wallet.proposal_origin(pid, h1_address) == "remote"
        assert wallet.unreachable_note() == ""
        screenshot(page, "wallet-gateways-1-remote-proposals")

        wallet.decline_proposal(other, h1_address)
        fid = wallet.accept_proposal(pid, h1_address)
        screenshot(page, "wallet-gateways-2-accepted")
        context.close()
    assert errors == [], errors
    requests.assert_local("/wallet/", "/wallet/app.js", "/patients/me/referral-inbox")
    paths = {u.split("?")[0].split("/", 3)[-1] for u in requests.urls}
    assert f"patients/me/referral-inbox/{h1_address.lower()}/{pid}/accept" in paths

    at_a = {p["proposal_id"]: p for p in h1.referral_proposals()}
    assert at_a[pid]["status"] == "accepted" and at_a[pid]["referral_id"] == fid
    assert at_a[other]["status"] == "declined"
    chain = Alliance(
        ChainClient(g.alliance.chain_url, g.alliance.keys["regulator"]), g.alliance.deployment
    )
    referral = chain.referrals.get(fid)
    assert referral.referrer.lower() == h1_address.lower()  # created by A's member
    assert referral.receiver.lower() == clinic.lower()
    assert referral.patient.lower() == patient.address.lower()
    assert referral.status is ReferralStatus.CREATED
