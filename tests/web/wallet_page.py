"""Driving the patient wallet page (Playwright, sync API), for the wallet's tests and any
combined flow test: open, import or create a key, unlock, grant, revoke, read accesses.

    wallet = WalletPage(page, api.url)
    wallet.open()
    wallet.import_key("0x" + key.hex(), "a long passphrase")    # signs in
    wallet.create_key("a long passphrase")   # shows the phrase once (wallet.phrase), signs in
    wallet.pseudonyms()          # custodian -> the address shown for it (phrase wallets)
    doc = wallet.disclose([clinic, h1], regulator)   # the downloaded disclosure, parsed
    consent_id = wallet.grant("City Third People's Hospital", ["lab"], ["treatment"], "2026-12-31")
    wallet.sensitive_notice()    # a reviewed grant over labelled records: the warning shown
    wallet.opt_in()              # tick the box that enables signing it
    wallet.accesses(record_id)   # [{'access_id': .., 'basis': 'consent', 'reader': .., 'text': ..}]
    wallet.review_revoke(consent_id)   # the plain-words summary; nothing signed yet
    wallet.cancel_revoke()             # signs nothing
    wallet.revoke(consent_id)          # review, then sign_revoke(consent_id)
    wallet.proposals()           # pending referral proposals: id -> {'terms', 'reads', ...}
    referral_id = wallet.accept_proposal(proposal_id)   # signs in the browser
    wallet.decline_proposal(proposal_id)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

TIMEOUT_MS = 30_000  # scrypt (2^17) + a chain write stay well under this


class WalletError(AssertionError):
    """The wallet showed an error where the test expected success."""


@dataclass
class WalletPage:
    page: Page
    base_url: str
    phrase: str = ""  # the recovery phrase a new key showed (create_key)

    def open(self) -> None:
        self.page.goto(f"{self.base_url}/wallet/")
        self.page.wait_for_selector("#app[data-ready=true]", timeout=TIMEOUT_MS)

    @property
    def view(self) -> str:
        return str(self.page.get_attribute("#app", "data-view"))

    def status(self) -> tuple[str, str]:
        """(kind, text) of the status line: kind is '', 'busy', 'ok' or 'error'."""
        el = self.page.locator("#status")
        return str(el.get_attribute("data-kind") or ""), el.inner_text()

    def _mark(self) -> None:
        """Mark the status line so only a message set after this counts."""
        self.page.eval_on_selector("#status", "el => { el.dataset.kind = 'pending'; }")

    def _settle(self, want: str) -> None:
        """Wait until the wallet is idle and shows view `want` or an error."""
        self.page.wait_for_function(
            """want => {
                const app = document.getElementById('app');
                const s = document.getElementById('status');
                return app.dataset.busy !== 'true' &&
                    (app.dataset.view === want || (s && s.dataset.kind === 'error'));
            }""",
            arg=want,
            timeout=TIMEOUT_MS,
        )
        kind, text = self.status()
        if self.view != want:
            raise WalletError(f"wallet stayed on {self.view}: {kind} {text}")

    # ---- keys -------------------------------------------------------------------------------

    def import_key(self, secret: str, passphrase: str) -> None:
        self.page.fill("#import-secret", secret)
        self.page.fill("#import-pass", passphrase)
        self._mark()
        self.page.click("#import-btn")
        self._settle("home")

    def create_key(self, passphrase: str) -> str:
        """Create a key; the wallet shows its recovery phrase once (kept in self.phrase)
        and signs in when the patient says it is written down. The primary address."""
        self.page.fill("#create-pass", passphrase)
        self.page.fill("#create-pass2", passphrase)
        self._mark()
        self.page.click("#create-btn")
        self._settle("backup")
        self.phrase = " ".join(self.page.locator("#backup-words li").all_inner_texts())
        self._mark()
        self.page.click("#backup-done")
        self._settle("home")
        return self.address()

    def unlock(self, passphrase: str) -> None:
        self.page.fill("#unlock-pass", passphrase)
        self._mark()
        self.page.click("#unlock-btn")
        self._settle("home")

    def unlock_fails(self, passphrase: str) -> str:
        """Try a passphrase expected to be wrong; the error text shown."""
        self.page.fill("#unlock-pass", passphrase)
        self._mark()
        self.page.click("#unlock-btn")
        self.page.wait_for_selector("#status[data-kind=error]", timeout=TIMEOUT_MS)
        assert self.view == "unlock"
        return self.status()[1]

    def lock(self) -> None:
        self.page.click("#lock-btn")
        self.page.wait_for_selector("#unlock", timeout=TIMEOUT_MS)

    def address(self) -> str:
        return str(self.page.get_attribute("#account", "data-address"))

    def pseudonyms(self) -> dict[str, str]:
        """The address shown for each care provider (lowercase member -> checksummed)."""
        return {
            str(li.get_attribute("data-custodian")): str(li.get_attribute("data-address"))
            for li in self.page.locator("#addresses li.pseudonym").all()
        }

    def linkable_note(self) -> str:
        """The warning a key without a recovery phrase gets ('' when there is none)."""
        note = self.page.locator("#linkable-note")
        return note.inner_text() if note.count() else ""

    def disclose(self, custodians: list[str], regulator: str) -> dict[str, Any]:
        """Choose the pseudonyms at these custodians and the regulator, sign, and return
        the downloaded file's JSON."""
        box = self.page.locator("#disclose")
        box.locator("summary").click()
        for item in box.locator("input[name=disclose-at]").all():
            item.set_checked((item.get_attribute("value") or "") in {c.lower() for c in custodians})
        box.locator("#disclose-regulator").select_option(value=regulator.lower())
        self._mark()
        with self.page.expect_download(timeout=TIMEOUT_MS) as caught:
            self.page.click("#disclose-btn")
        return dict(json.loads(Path(caught.value.path()).read_text(encoding="utf-8")))

    # ---- lists ------------------------------------------------------------------------------

    def refresh(self) -> None:
        self._mark()
        self.page.click("#refresh-btn")
        self._settle("home")

    def records(self) -> list[dict[str, Any]]:
        return [
            {
                "record_id": int(li.get_attribute("data-record-id") or 0),
                "erased": li.get_attribute("data-erased") == "yes",
                "text": li.inner_text(),
            }
            for li in self.page.locator("li.record").all()
        ]

    def erase(self, record_id: int) -> str:
        """Press the record's Erase button and accept the confirmation; the question the
        wallet asked before erasing anything."""
        asked: list[str] = []

        def accept(dialog: Any) -> None:
            asked.append(dialog.message)
            dialog.accept()

        self.page.once("dialog", accept)
        self._act(f"li.record[data-record-id='{record_id}'] button.erase", "erase")
        return asked[0]

    def accesses(self, record_id: int) -> list[dict[str, Any]]:
        items = self.page.locator(f"li.record[data-record-id='{record_id}'] li.access").all()
        return [
            {
                "access_id": int(li.get_attribute("data-access-id") or 0),
                "basis": li.get_attribute("data-basis"),
                "reader": li.get_attribute("data-reader"),
                "review": li.get_attribute("data-review"),  # break-glass only
                "badge": li.locator(".badge").all_inner_texts(),
                "text": li.inner_text(),
            }
            for li in items
        ]

    def consents(self) -> dict[int, str]:
        """Active consents shown: consent id -> the line of text."""
        return {
            int(li.get_attribute("data-consent-id") or 0): li.locator("span").inner_text()
            for li in self.page.locator("li.consent").all()
        }

    def referrals(self) -> list[dict[str, Any]]:
        return [
            {
                "referral_id": int(li.get_attribute("data-referral-id") or 0),
                "status": li.get_attribute("data-status"),
                "text": li.inner_text(),
            }
            for li in self.page.locator("li.referral").all()
        ]

    def consultations(self) -> list[dict[str, Any]]:
        return [
            {
                "consultation_id": int(li.get_attribute("data-consultation-id") or 0),
                "status": li.get_attribute("data-status"),
                "text": li.inner_text(),
            }
            for li in self.page.locator("li.consultation").all()
        ]

    def withdraw_referral(self, referral_id: int) -> str:
        """Press the referral's Withdraw button, read the plain-words summary shown before
        anything is signed, then sign; returns the summary."""
        self.page.click(f"li.referral[data-referral-id='{referral_id}'] button.withdraw")
        self.page.wait_for_selector(
            f"#withdraw-confirm-box[data-referral-id='{referral_id}'] #withdraw-summary",
            timeout=TIMEOUT_MS,
        )
        summary = self.page.inner_text("#withdraw-summary")
        self._act("#withdraw-sign", "withdraw")
        return summary

    # ---- consents ---------------------------------------------------------------------------

    def review_grant(
        self,
        grantee: str,
        categories: list[str],
        purposes: list[str],
        until: str,
        *,
        role: str | None = None,
        kept_at: str | None = None,
    ) -> str:
        """Fill the grant form (a member by name, or `role`; `kept_at`: the name of the
        custodian whose records it covers, for a wallet with pseudonyms) and return the
        plain-words summary the wallet shows before signing."""
        form = self.page.locator("#grant-form")
        if kept_at is not None:
            form.locator("#grant-at").select_option(label=kept_at)
        if role is None:
            form.locator("input[name=grant-to][value=member]").check()
            form.locator("#grant-member").select_option(label=grantee)
        else:
            form.locator("input[name=grant-to][value=role]").check()
            form.locator("#grant-role").select_option(value=role)
        for box in form.locator("input[name=cat]").all():
            box.set_checked(box.get_attribute("value") in categories)
        for box in form.locator("input[name=purpose]").all():
            box.set_checked(box.get_attribute("value") in purposes)
        form.locator("#grant-until").fill(until)
        self.page.click("#grant-review")
        self.page.wait_for_selector("#grant-summary", timeout=TIMEOUT_MS)
        return self.page.inner_text("#grant-summary")

    def _act(self, selector: str, what: str) -> None:
        """Click, then wait for the wallet's verdict: an ok or error status set after the
        click (the marker keeps an earlier action's message from answering)."""
        self._mark()
        self.page.click(selector)
        self.page.wait_for_selector(
            "#status[data-kind=ok], #status[data-kind=error]", timeout=TIMEOUT_MS
        )
        kind, text = self.status()
        if kind != "ok":
            raise WalletError(f"{what} failed: {text}")

    def sensitive_notice(self) -> str:
        """The reviewed grant's warning about sensitive records ('' when there is none)."""
        note = self.page.locator("#grant-sensitive-text")
        return note.inner_text() if note.count() else ""

    def grant_signable(self) -> bool:
        return self.page.locator("#grant-sign").is_enabled()

    def opt_in(self) -> str:
        """Tick the opt-in box a grant over sensitive records needs; its label."""
        self.page.check("#grant-optin")
        return self.page.locator("#grant-sensitive label").inner_text()

    def sign_grant(self) -> int:
        """Sign the reviewed grant; the new consent's id."""
        before = set(self.consents())
        self._act("#grant-sign", "grant")
        (new,) = set(self.consents()) - before
        return new

    def grant(
        self,
        grantee: str,
        categories: list[str],
        purposes: list[str],
        until: str,
        kept_at: str | None = None,
    ) -> int:
        self.review_grant(grantee, categories, purposes, until, kept_at=kept_at)
        return self.sign_grant()

    def review_revoke(self, consent_id: int) -> str:
        """Press the consent's Revoke button and return the plain-words summary the wallet
        shows before anything is signed."""
        self.page.click(f"li.consent[data-consent-id='{consent_id}'] button.revoke")
        self.page.wait_for_selector(
            f"#revoke-confirm-box[data-consent-id='{consent_id}'] #revoke-summary",
            timeout=TIMEOUT_MS,
        )
        return self.page.inner_text("#revoke-summary")

    def revoke_typed(self) -> dict[str, Any]:
        """The typed message (domain and Revoke message) shown under the summary."""
        return dict(json.loads(self.page.text_content("#revoke-typed") or "{}"))

    def cancel_revoke(self) -> None:
        self.page.click("#revoke-cancel")
        self.page.wait_for_selector("#revoke-summary", state="detached", timeout=TIMEOUT_MS)

    def sign_revoke(self, consent_id: int) -> None:
        """Sign the reviewed revocation; the consent leaves the active list."""
        self._act("#revoke-sign", "revoke")
        assert consent_id not in self.consents()

    def revoke(self, consent_id: int) -> str:
        """Review, then sign; the summary that was shown."""
        summary = self.review_revoke(consent_id)
        self.sign_revoke(consent_id)
        return summary

    # ---- referrals --------------------------------------------------------------------------

    def proposals(self, status: str = "pending") -> dict[int, dict[str, str]]:
        """Referral proposals shown with this status: proposal id -> texts (pending ones:
        'terms', 'reads', 'ends' and 'until'; answered ones: 'text')."""
        out: dict[int, dict[str, str]] = {}
        for li in self.page.locator(f"li.proposal[data-status='{status}']").all():
            pid = int(li.get_attribute("data-proposal-id") or 0)
            if status == "pending":
                texts = ("terms", "reads", "ends")
                out[pid] = {k: li.locator(f"p.{k}").inner_text() for k in texts} | {
                    "until": li.locator("p.small").inner_text()
                }
            else:
                out[pid] = {"text": li.inner_text()}
        return out

    @staticmethod
    def _proposal(proposal_id: int, referrer: str | None) -> str:
        """The selector of a proposal's item (ids are per gateway: give the referrer when
        the inbox may hold proposals from several)."""
        by = f"[data-referrer='{referrer.lower()}']" if referrer else ""
        return f"li.proposal[data-proposal-id='{proposal_id}']{by}"

    def proposal_origin(self, proposal_id: int, referrer: str | None = None) -> str:
        """'local' (held by this gateway) or 'remote' (gathered from another)."""
        return str(self.page.get_attribute(self._proposal(proposal_id, referrer), "data-origin"))

    def accept_proposal(self, proposal_id: int, referrer: str | None = None) -> int:
        """Accept (the wallet signs the ReferralConsent); the new referral's id."""
        item = self._proposal(proposal_id, referrer)
        self._act(f"{item} button.accept", "accept")
        assert self.page.get_attribute(item, "data-status") == "accepted"
        digits = "".join(c if c.isdigit() else " " for c in self.status()[1]).split()
        return int(digits[0])

    def decline_proposal(self, proposal_id: int, referrer: str | None = None) -> None:
        self._act(f"{self._proposal(proposal_id, referrer)} button.decline", "decline")
        assert proposal_id not in self.proposals()

    def unreachable_note(self) -> str:
        """The inbox's note naming gateways that did not answer ('' when all did)."""
        note = self.page.locator("#inbox-unreachable")
        return note.inner_text() if note.count() else ""

    # ---- language and layout ----------------------------------------------------------------

    def toggle_language(self) -> str:
        """Switch en <-> zh-CN; the page's new lang attribute."""
        before = self.page.get_attribute("html", "lang")
        self.page.click("#lang-toggle")
        self.page.wait_for_function("b => document.documentElement.lang !== b", arg=before)
        return str(self.page.get_attribute("html", "lang"))

    def horizontal_overflow(self) -> int:
        """How many CSS pixels the page is wider than the viewport (0: no horizontal scroll)."""
        return int(
            self.page.evaluate(
                "Math.max(0, document.documentElement.scrollWidth - window.innerWidth)"
            )
        )
