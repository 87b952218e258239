"""The console's texts (console/i18n.js, run in Node): both languages have every key with the
same placeholders; every key the page (data-i18n) and the console's scripts (t("...")) use
exists; every basis, purpose, role, review state, tier and anomaly rule the API sends has a
label, so nothing shows up untranslated."""

from __future__ import annotations

import re
from pathlib import Path

from sharing_api.api.core.security import Kind
from sharing_api.audit.supervision import TIER_LABELS
from sharing_api.chain import Basis, Purpose, Role
from sharing_api.chain.scopes import Review
from tests.web.test_wallet_units import node

CONSOLE = Path(__file__).resolve().parents[2] / "sharing_api" / "web" / "apps" / "console"
RULES = ("no-live-basis", "after-revocation", "unjustified-break-glass", "unusual-volume")
ALERTS = ("break-glass-unjustified", "acceptance-median", "referral-down-share")


def strings() -> tuple[dict[str, str], dict[str, str]]:
    found = node(
        f"import {{ STRINGS, LANGS }} from '{CONSOLE / 'i18n.js'}';"
        "console.log(JSON.stringify({ STRINGS, LANGS }));"
    )
    assert found["LANGS"] == ["en", "zh-CN"]
    return found["STRINGS"]["en"], found["STRINGS"]["zh-CN"]


def test_both_languages_have_every_text() -> None:
    en, zh = strings()
    assert set(en) == set(zh)
    assert len(en) > 150
    for key in en:
        assert en[key] and zh[key], key
        placeholders = [sorted(re.findall(r"\{(\w+)\}", s)) for s in (en[key], zh[key])]
        assert placeholders[0] == placeholders[1], key
    same = {k for k in en if en[k] == zh[k]}
    # The SIWE statement is signed as is; a dash and a flow's arrow are the same everywhere.
    assert same == {"signin.statement", "dash", "sup.flow"}


def test_every_key_used_exists() -> None:
    en, _ = strings()
    html = (CONSOLE / "index.html").read_text(encoding="utf-8")
    used = set(re.findall(r'data-i18n(?:-html)?="([^"]+)"', html))
    for script in CONSOLE.glob("*.js"):
        used |= set(re.findall(r'\bt\(\s*"([^"]+)"', script.read_text(encoding="utf-8")))
    assert len(used) > 100
    assert sorted(used - set(en)) == []


def test_every_label_the_api_sends_has_a_text() -> None:
    en, _ = strings()
    wanted = (
        [f"basis.{b.label}" for b in Basis]
        + [f"purpose.{p.label}" for p in Purpose]
        + [f"role.{label}" for label in Role(15).labels()]
        + [f"review.{r.name.lower()}" for r in Review if r != Review.NONE]
        + [f"tier.{t}" for t in TIER_LABELS.values()]
        + [f"rule.{r}" for r in RULES]
        + [f"alert.{a}" for a in ALERTS]
        + [f"kind.{k.value}" for k in Kind if k != Kind.REGULATOR]
    )
    assert [k for k in wanted if k not in en] == []
