"""The wallet's pure modules run in Node (no browser): both languages have every key, and an
EIP-712 grant or revocation signed by the wallet's typed.js (ethers v6) is byte for byte the
signature Python's sharing_api.chain.typed_data makes, which is what the contract verifies."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from crypto import text_commitment
from crypto.encoding import tagged_hash
from sharing_api.chain import Basis, Category, GrantTerms, Purpose
from sharing_api.chain.scopes import mask
from sharing_api.chain.typed_data import (
    grant_typed_data,
    referral_typed_data,
    revoke_typed_data,
    sign_typed_data,
    withdraw_typed_data,
)
from sharing_api.gateway.inbox_auth import (
    check_inbox_statement,
    decline_text,
    inbox_text,
)

REPO = Path(__file__).resolve().parents[2]
WALLET = REPO / "sharing_api" / "web" / "apps" / "wallet"
KEY = "0x" + "4c" * 32
REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
CHAIN_ID = 31337

if shutil.which("node") is None:  # pragma: no cover - node is part of `make setup`
    pytest.skip("node is not installed: run `make setup`", allow_module_level=True)


def node(script: str) -> Any:
    """Run an ES module script in Node from the repo (node_modules resolves) and parse the
    JSON it prints."""
    done = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def test_every_text_exists_in_both_languages() -> None:
    strings = node(
        f"import {{ STRINGS, LANGS }} from '{WALLET / 'i18n.js'}';"
        "console.log(JSON.stringify({ STRINGS, LANGS }));"
    )
    en, zh = strings["STRINGS"]["en"], strings["STRINGS"]["zh-CN"]
    assert strings["LANGS"] == ["en", "zh-CN"]
    assert set(en) == set(zh)
    assert len(en) > 50
    for key in en:
        assert en[key] and zh[key], key
        # The same placeholders on both sides, so no value is dropped in translation.
        placeholders = [sorted(re.findall(r"\{(\w+)\}", s)) for s in (en[key], zh[key])]
        assert placeholders[0] == placeholders[1], key
    # Chinese text really is Chinese (not a copy of the English).
    assert sum(1 for k in en if en[k] == zh[k]) <= 2  # e.g. "{category} · {custodian} · {date}"


def test_every_category_purpose_and_basis_has_a_label() -> None:
    found = node(
        f"import {{ STRINGS }} from '{WALLET / 'i18n.js'}';"
        f"import {{ CATEGORIES, PURPOSES }} from '{WALLET / 'typed.js'}';"
        "console.log(JSON.stringify({ keys: Object.keys(STRINGS.en), CATEGORIES, PURPOSES }));"
    )
    keys = set(found["keys"])
    # typed.js lists the contract's bit order: the same as the Python enums.
    assert found["CATEGORIES"] == [c.label for c in Category]
    assert found["PURPOSES"] == [p.label for p in Purpose]
    for c in Category:
        assert f"cat.{c.label}" in keys
    for p in Purpose:
        assert f"purpose.{p.label}" in keys
    for b in Basis:
        assert f"basis.{b.label}" in keys


def test_browser_signatures_match_python() -> None:
    patient = Account.from_key(KEY).address
    terms = GrantTerms(
        patient=patient,
        grantee="0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        grantee_role=0,
        categories=mask([Category.LAB, Category.IMAGING]),
        purposes=mask([Purpose.TREATMENT, Purpose.REFERRAL]),
        valid_from=1_790_000_000,
        valid_until=1_800_000_000,
        document_hash=b"\x00" * 32,
        nonce=7,
        deadline=1_790_000_600,
    )
    role_terms = GrantTerms(**{**terms.__dict__, "grantee": "0x" + "00" * 20, "grantee_role": 2})
    js_terms = [
        {
            "patient": t.patient,
            "grantee": t.grantee,
            "grantee_role": t.grantee_role,
            "categories": ["lab", "imaging"],
            "purposes": ["treatment", "referral"],
            "valid_from": t.valid_from,
            "valid_until": t.valid_until,
            "document_hash": "0x" + t.document_hash.hex(),
            "nonce": t.nonce,
            "deadline": t.deadline,
        }
        for t in (terms, role_terms)
    ]
    out = node(
        "import { Wallet } from 'ethers';"
        f"import {{ signGrant, signRevoke }} from '{WALLET / 'typed.js'}';"
        f"const w = new Wallet('{KEY}');"
        f"const terms = {json.dumps(js_terms)};"
        f"const sign = t => signGrant(w, t, {CHAIN_ID}, '{REGISTRY}');"
        "const grants = await Promise.all(terms.map(sign));"
        f"const revoke = await signRevoke(w, 3, 8, 1790000600, {CHAIN_ID}, '{REGISTRY}');"
        "console.log(JSON.stringify({ grants: grants.map(g => g.signature), revoke }));"
    )
    for t, js in zip((terms, role_terms), out["grants"], strict=True):
        py = sign_typed_data(grant_typed_data(t, CHAIN_ID, REGISTRY), KEY)
        assert (js["v"], js["r"], js["s"]) == (py.v, "0x" + py.r.hex(), "0x" + py.s.hex())
    py_revoke = sign_typed_data(
        revoke_typed_data(patient, 3, 8, 1790000600, CHAIN_ID, REGISTRY), KEY
    )
    assert out["revoke"]["nonce"] == 8 and out["revoke"]["deadline"] == 1790000600
    sig = out["revoke"]["signature"]
    assert (sig["v"], sig["r"], sig["s"]) == (
        py_revoke.v,
        "0x" + py_revoke.r.hex(),
        "0x" + py_revoke.s.hex(),
    )


def test_browser_referral_agreement_matches_python() -> None:
    patient = Account.from_key(KEY).address
    clinic, hospital = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "0x" + "ab" * 20
    terms = {
        "referrer": clinic,
        "receiver": hospital,
        "direction": "down",
        "record_ids": [4, 9],
        "reason": "随访 follow-up",
        "reason_salt": "0x" + "5a" * 32,
        "expires_at": 1792592000,
    }
    out = node(
        "import { Wallet } from 'ethers';"
        f"import {{ signReferral }} from '{WALLET / 'typed.js'}';"
        f"const w = new Wallet('{KEY}');"
        f"const body = await signReferral(w, {json.dumps(terms)}, 2, 1790000600, {CHAIN_ID}, "
        f"'{REGISTRY}');"
        "console.log(JSON.stringify(body));"
    )
    typed = referral_typed_data(
        patient=patient,
        referrer=clinic,
        receiver=hospital,
        direction=1,
        record_ids=[4, 9],
        # as the API commits to it: salted, under the salt the proposal carries
        reason_hash=text_commitment.commit(b"\x5a" * 32, "reason", "随访 follow-up"),
        expires_at=1792592000,
        nonce=2,
        deadline=1790000600,
        chain_id=CHAIN_ID,
        referral_registry=REGISTRY,
    )
    py = sign_typed_data(typed, KEY)
    sig = out["patient_signature"]["signature"]
    assert (sig["v"], sig["r"], sig["s"]) == (py.v, "0x" + py.r.hex(), "0x" + py.s.hex())
    assert out["patient_signature"]["deadline"] == 1790000600
    assert out["direction"] == "down" and out["reason"] == "随访 follow-up"
    assert out["reason_salt"] == terms["reason_salt"]
    assert out["expires_at"] == 1792592000  # the API's POST /referrals takes what was signed


def test_browser_referral_withdrawal_matches_python() -> None:
    out = node(
        "import { Wallet } from 'ethers';"
        f"import {{ signWithdraw }} from '{WALLET / 'typed.js'}';"
        f"const w = new Wallet('{KEY}');"
        f"const body = await signWithdraw(w, 12, 3, 1790000600, {CHAIN_ID}, '{REGISTRY}');"
        "console.log(JSON.stringify(body));"
    )
    patient = Account.from_key(KEY).address
    typed = withdraw_typed_data(patient, 12, 3, 1790000600, CHAIN_ID, REGISTRY)
    py = sign_typed_data(typed, KEY)
    sig = out["signature"]
    assert (sig["v"], sig["r"], sig["s"]) == (py.v, "0x" + py.r.hex(), "0x" + py.s.hex())
    assert (out["nonce"], out["deadline"]) == (3, 1790000600)


def test_inbox_statements_are_the_texts_the_gateways_check() -> None:
    """The wallet's EIP-191 inbox and decline statements are, character for character, what
    sharing_api.gateway.inbox_auth verifies (a space off and every peer would refuse), and
    ethers' signature over them verifies there."""
    patient = Account.from_key(KEY).address
    relay, referrer = REGISTRY.lower(), "0x" + "ab" * 20
    note = "closer to home, 离家近"
    expires = 1_700_000_000
    script = f"""
        import {{ Wallet }} from "ethers";
        import {{ inboxText, declineText }} from "{WALLET / "statements.js"}";
        const inbox = inboxText("{patient}", "{relay}", {CHAIN_ID}, {expires});
        const decline = declineText("{patient}", "{referrer}", 7, {json.dumps(note)},
          {CHAIN_ID}, {expires});
        const signature = await new Wallet("{KEY}").signMessage(inbox);
        console.log(JSON.stringify({{ inbox, decline, signature }}));
    """
    out = node(script)
    assert out["inbox"] == inbox_text(patient, relay, CHAIN_ID, expires)
    assert out["decline"] == decline_text(patient, referrer, 7, note, CHAIN_ID, expires)
    check_inbox_statement(patient, relay, CHAIN_ID, expires, out["signature"], now=expires - 300)


# Texts the wallet may show: ASCII, Chinese, emoji (4-byte UTF-8), long, with a 0 byte.
FREE_TEXTS = ["rehab", "随访 follow-up", "胸痛待查 🫀", "x" * 1024, "a\u0000b"]


def test_wallet_free_text_commitment_matches_python() -> None:
    """commitment.js computes crypto/text_commitment.py's bytes exactly (and so the tagged
    hash and part encoding of crypto/encoding.py), for every kind and a spread of texts;
    no text is zero on both sides."""
    salts = ["0x" + "00" * 32, "0x" + "ff" * 32, "0x" + bytes(range(32)).hex()]
    cases = [(s, k, t) for s in salts for k in text_commitment.KINDS for t in [*FREE_TEXTS, ""]]
    out = node(
        f"import {{ textCommitment, taggedHash }} from '{WALLET / 'commitment.js'}';"
        f"const cases = {json.dumps(cases)};"
        "console.log(JSON.stringify({"
        "  commitments: cases.map(([s, k, t]) => textCommitment(s, k, t)),"
        "  tagged: taggedHash('policy-commitment', new Uint8Array([1, 2]), 'h1.role:doctor'),"
        "}));"
    )
    for (salt, kind, text), got in zip(cases, out["commitments"], strict=True):
        want = text_commitment.commit(bytes.fromhex(salt[2:]), kind, text)
        assert got == "0x" + want.hex(), (kind, text)
    # the generic tagged hash as well (another tag, bytes then text)
    assert (
        out["tagged"]
        == "0x" + tagged_hash("policy-commitment", b"\x01\x02", "h1.role:doctor").hex()
    )


def test_wallet_signs_under_its_own_salt_when_none_is_given() -> None:
    """A ReferralConsent built without a salt gets a fresh one, returned for the referrer to
    send with the reason (POST /referrals reason_salt)."""
    terms = {
        "referrer": "0x" + "cd" * 20,
        "receiver": "0x" + "ab" * 20,
        "direction": "up",
        "record_ids": [1],
        "reason": "rehab",
        "expires_at": 1792592000,
    }
    out = node(
        "import { Wallet } from 'ethers';"
        f"import {{ signReferral }} from '{WALLET / 'typed.js'}';"
        f"const w = new Wallet('{KEY}');"
        f"const a = await signReferral(w, {json.dumps(terms)}, 0, 1790000600, {CHAIN_ID}, "
        f"'{REGISTRY}');"
        f"const b = await signReferral(w, {json.dumps(terms)}, 0, 1790000600, {CHAIN_ID}, "
        f"'{REGISTRY}');"
        "console.log(JSON.stringify([a.reason_salt, b.reason_salt]));"
    )
    assert all(re.fullmatch(r"0x[0-9a-f]{64}", s) for s in out) and out[0] != out[1]
