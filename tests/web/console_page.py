"""Page helpers for the regulator console (``/console/``), for this area's tests and for a
combined patient-hospital-regulator flow test:

    page = ConsolePage(browser.new_page(), api.url)
    page.open()
    page.sign_in(regulator_key)
    page.filter_timeline(member="City Third People's Hospital")
    with page.export("csv") as download: ...

Each console section counts finished loads in ``data-gen``; an action waits for the load it
started, never for a fixed time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Download, Page

TIMEOUT_MS = 20_000
SECTIONS = ("status", "supervision", "timeline-section", "charts", "anomalies", "break-glass")
EXPORTS = {"csv": "#export-csv", "fhir": "#export-fhir", "report": "#export-report"}


class ConsolePage:
    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url.rstrip("/")

    def open(self) -> None:
        self.page.goto(f"{self.base_url}/console/")
        self.page.wait_for_selector("#app[data-ready=true]", timeout=TIMEOUT_MS)

    # ---- waiting for loads ------------------------------------------------------------------

    def _gens(self, sections: tuple[str, ...]) -> dict[str, int]:
        return {s: int(self.page.get_attribute(f"#{s}", "data-gen") or 0) for s in sections}

    def _wait_past(self, before: dict[str, int]) -> None:
        for name, gen in before.items():
            self.page.wait_for_function(
                "([id, gen]) => Number(document.getElementById(id).dataset.gen || 0) > gen",
                arg=[name, gen],
                timeout=TIMEOUT_MS,
            )
            state = self.page.get_attribute(f"#{name}", "data-state")
            if state != "loaded":
                error = self.page.get_attribute(f"#{name}", "data-error")
                raise AssertionError(f"console section {name} failed to load: {error}")

    # ---- sign in ------------------------------------------------------------------------------

    def try_sign_in(self, private_key: str) -> str:
        """Submit a key; return the sign-in error shown ('' once the console shows)."""
        self.page.fill("#key", private_key)
        self.page.click("#signin-btn")
        self.page.wait_for_function(
            "() => !document.getElementById('console').hidden"
            " || document.getElementById('signin-error').textContent !== ''",
            timeout=TIMEOUT_MS,
        )
        return self.page.text_content("#signin-error") or ""

    def sign_in_keystore(self, keystore: Path, passphrase: str) -> None:
        """Sign in with a JSON keystore file (ethers decrypts it in the page)."""
        before = self._gens(SECTIONS)
        self.page.set_input_files("#keystore", str(keystore))
        self.page.fill("#keystore-pass", passphrase)
        self.page.click("#signin-btn")
        self.page.wait_for_function(
            "() => !document.getElementById('console').hidden"
            " || document.getElementById('signin-error').textContent !== ''",
            timeout=TIMEOUT_MS,
        )
        error = self.page.text_content("#signin-error") or ""
        assert not error, f"sign-in failed: {error}"
        self._wait_past(before)

    def sign_in(self, private_key: str) -> None:
        before = self._gens(SECTIONS)
        error = self.try_sign_in(private_key)
        assert not error, f"sign-in failed: {error}"
        self._wait_past(before)

    # ---- status -------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        members = self.page.eval_on_selector_all(
            "#members tbody tr",
            "rows => rows.map(r => [r.querySelector('.member-name').textContent,"
            " r.dataset.address])",
        )
        return {
            "head_number": int(self.page.text_content("#head-number") or -1),
            "head_hash": self.page.text_content("#head-hash"),
            "head_time": self.page.text_content("#head-time"),
            "members": dict(members),
        }

    def verify(self) -> str:
        """Run a verification from the console; return its result line."""
        self.page.click("#verify-btn")
        self.page.wait_for_selector(
            "#verification[data-state=ok], #verification[data-state=failed]",
            timeout=TIMEOUT_MS,
        )
        return self.page.text_content("#verification") or ""

    # ---- timeline -----------------------------------------------------------------------------

    def filter_timeline(
        self,
        *,
        member: str = "",
        patient: str = "",
        purpose: str = "",
        basis: str = "",
        date_from: str = "",
        date_to: str = "",
    ) -> list[dict[str, Any]]:
        """Set the filters (member by its name as listed; empty means any), apply, and
        return the timeline rows once the timeline and charts have reloaded."""
        if member:
            self.page.select_option("#f-member", label=member)
        else:
            self.page.select_option("#f-member", value="")
        self.page.fill("#f-patient", patient)
        self.page.select_option("#f-purpose", value=purpose)
        self.page.select_option("#f-basis", value=basis)
        self.page.fill("#f-from", date_from)
        self.page.fill("#f-to", date_to)
        before = self._gens(("timeline-section", "charts"))
        self.page.click("#f-apply")
        self._wait_past(before)
        return self.timeline()

    def timeline(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.page.eval_on_selector_all(
            "#timeline tbody tr",
            """rows => rows.map(r => ({
                access_id: Number(r.dataset.accessId),
                reader: r.dataset.reader,
                reader_name: r.querySelector('.reader').textContent,
                purpose: r.querySelector('.purpose').textContent,
                basis: r.className,
            }))""",
        )
        return rows

    # ---- charts, anomalies, break-glass -----------------------------------------------------

    def chart_bars(self, chart: str) -> list[dict[str, Any]]:
        """The bars of chart ``accesses`` | ``consents`` | ``referrals`` | ``break-glass``."""
        bars: list[dict[str, Any]] = self.page.eval_on_selector_all(
            f"#chart-{chart} svg rect.bar",
            """bars => bars.map(b => ({
                series: b.dataset.series, day: b.dataset.day, value: Number(b.dataset.value),
            }))""",
        )
        return bars

    def chart_legend(self, chart: str) -> list[str]:
        names: list[str] = self.page.eval_on_selector_all(
            f"#chart-{chart} svg text.legend", "ts => ts.map(t => t.textContent)"
        )
        return names

    def anomalies(
        self,
        *,
        justify_within: int | None = None,
        max_per_day: int | None = None,
        source: str | None = None,
    ) -> list[dict[str, Any]]:
        """The anomaly list, re-checked first with new thresholds or source (``index`` |
        ``chain``) if any are given."""
        if justify_within is not None or max_per_day is not None or source is not None:
            if justify_within is not None:
                self.page.fill("#t-within", str(justify_within))
            if max_per_day is not None:
                self.page.fill("#t-per-day", str(max_per_day))
            if source is not None:
                self.page.select_option("#t-source", value=source)
            before = self._gens(("anomalies",))
            self.page.click("#t-apply")
            self._wait_past(before)
        found: list[dict[str, Any]] = self.page.eval_on_selector_all(
            "#anomaly-list tbody tr",
            """rows => rows.map(r => ({
                rule: r.dataset.rule,
                access_id: r.dataset.accessId ? Number(r.dataset.accessId) : null,
                reader_name: r.querySelector('.reader').textContent,
            }))""",
        )
        return found

    def break_glass_queue(self) -> list[dict[str, Any]]:
        queue: list[dict[str, Any]] = self.page.eval_on_selector_all(
            "#bg-queue tbody tr",
            """rows => rows.map(r => ({
                access_id: Number(r.dataset.accessId),
                reader_name: r.querySelector('.reader').textContent,
            }))""",
        )
        return queue

    def break_glass_review(self, access_id: int) -> dict[str, Any]:
        """One queue row: its review state, the opened reason and justification, the buttons."""
        row = self.page.locator(f"#bg-queue tbody tr[data-access-id='{access_id}']")
        return {
            "review": row.get_attribute("data-review"),
            "reason": row.locator(".reason").inner_text(),
            "justification": row.locator(".justification").inner_text(),
            "buttons": row.locator(".actions button").all_inner_texts(),
        }

    def close_break_glass(self, access_id: int, accepted: bool) -> None:
        """Click Accept or Flag on a queue row and wait for the queue to reload."""
        before = self._gens(("break-glass",))
        button = "button.accept" if accepted else "button.flag"
        self.page.click(f"#bg-queue tbody tr[data-access-id='{access_id}'] {button}")
        self._wait_past(before)

    # ---- exports ------------------------------------------------------------------------------

    @contextmanager
    def export(self, kind: str) -> Iterator[Download]:
        """Click an export button (``csv`` | ``fhir`` | ``report``) and yield the download."""
        with self.page.expect_download(timeout=TIMEOUT_MS) as info:
            self.page.click(EXPORTS[kind])
        yield info.value

    def export_text(self, kind: str) -> tuple[str, str]:
        """(suggested file name, content) of an export."""
        with self.export(kind) as download:
            path = download.path()
            return download.suggested_filename, path.read_text(encoding="utf-8")

    # ---- language ----------------------------------------------------------------------------

    def switch_language(self) -> str:
        """Click the language toggle; wait until every section has loaded again; return the
        page's language (``en`` | ``zh-CN``)."""
        signed_in = not self.page.is_hidden("#console")
        before = self._gens(SECTIONS) if signed_in else {}
        self.page.click("#lang-toggle")
        self._wait_past(before)
        return str(self.page.evaluate("document.documentElement.lang"))

    # ---- supervision --------------------------------------------------------------------------

    def supervision(self, first: str = "", last: str = "") -> None:
        """Show the supervision figures for a month range (YYYY-MM; empty: as it is)."""
        if first:
            self.page.fill("#sup-from", first)
        if last:
            self.page.fill("#sup-to", last)
        before = self._gens(("supervision",))
        self.page.click("#sup-apply")
        self._wait_past(before)

    def set_thresholds(self, bg: str = "", median: str = "", down: str = "") -> None:
        """Save the thresholds (empty: cleared) and wait for the figures to reload."""
        self.page.fill("#sup-th-bg", bg)
        self.page.fill("#sup-th-median", median)
        self.page.fill("#sup-th-down", down)
        before = self._gens(("supervision",))
        self.page.click("#sup-th-save")
        self._wait_past(before)

    def sup_table(self, table: str) -> list[dict[str, str]]:
        """Rows of a supervision table (``sup-referrals`` | ``sup-flows`` | ...): each row's
        data attributes and its cells by header text."""
        rows: list[dict[str, str]] = self.page.eval_on_selector_all(
            f"#{table} tbody tr",
            """rows => rows.map(r => {
                const heads = [...r.closest('table').querySelectorAll('thead th')]
                  .map(h => h.textContent);
                const out = { ...r.dataset };
                [...r.children].forEach((td, i) => { out[heads[i]] = td.textContent; });
                return out;
            })""",
        )
        return rows

    def sup_bars(self, chart: str) -> dict[tuple[str, str], float]:
        """(series, month) -> value of a supervision chart (``referrals`` | ``flows`` |
        ``acceptance`` | ``reads`` | ``records``)."""
        bars: list[dict[str, Any]] = self.page.eval_on_selector_all(
            f"#sup-chart-{chart} svg rect.bar",
            """bars => bars.map(b => ({
                series: b.dataset.series, month: b.dataset.day, value: Number(b.dataset.value),
            }))""",
        )
        return {(b["series"], b["month"]): b["value"] for b in bars}

    @contextmanager
    def export_supervision(self) -> Iterator[Download]:
        with self.page.expect_download(timeout=TIMEOUT_MS) as info:
            self.page.click("#sup-export")
        yield info.value

    # ---- pseudonyms ---------------------------------------------------------------------------

    def shared_records(self) -> int:
        """Records still under a shared (pre-pseudonym) patient address, per the status."""
        return int(self.page.get_attribute("#shared-addresses", "data-records") or -1)

    def check_disclosure(self, path: Path) -> dict[str, Any]:
        """Check a patient's disclosure file; what the section shows after."""
        self.page.set_input_files("#disclosure-file", str(path))
        self.page.click("#disclosure-check")  # the handler marks the section loading at once
        self.page.wait_for_selector(
            "#disclosed[data-state=loaded], #disclosed[data-state=error]", timeout=TIMEOUT_MS
        )
        rows = self.page.eval_on_selector_all(
            "#disclosed-records tbody tr",
            "rows => rows.map(r => [Number(r.dataset.recordId),"
            " r.querySelector('.custodian').textContent])",
        )
        return {
            "state": self.page.get_attribute("#disclosed", "data-state"),
            "result": self.page.text_content("#disclosure-result") or "",
            "records": [r[0] for r in rows],
            "custodians": [r[1] for r in rows],
            "accesses": self.page.eval_on_selector_all(
                "#disclosed-accesses tbody tr", "rows => rows.length"
            ),
        }
