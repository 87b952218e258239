"""The wallet's pseudonyms in Node (no browser): identity.js derives, for a fixed recovery
phrase and several members, exactly the addresses sharing_api.patient.pseudonyms does; a key
without a phrase has none; a disclosure made by disclose.js is the document Python's
make_disclosure makes and verify_disclosure accepts; and the inbox body carries one
statement per pseudonym that inbox_auth verifies for that pseudonym."""

from __future__ import annotations

import json
import shutil

import pytest
from eth_account import Account

from sharing_api.gateway.inbox_auth import InboxAuthError, check_inbox_statement
from sharing_api.patient.disclosure import (
    DisclosureError,
    disclosure_text,
    make_disclosure,
    verify_disclosure,
)
from sharing_api.patient.pseudonyms import (
    custodian_index,
    primary_account,
    pseudonym_account,
)
from tests.web.test_wallet_units import CHAIN_ID, WALLET, node

if shutil.which("node") is None:  # pragma: no cover - node is part of `make setup`
    pytest.skip("node is not installed: run `make setup`", allow_module_level=True)

PHRASE = "test test test test test test test test test test test junk"
MEMBERS = [
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    "0x" + "00" * 20,
    "0x" + "ff" * 20,
    "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
]
REGULATOR = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"
IDENTITY = WALLET / "identity.js"


def identity_script(body: str, members: list[str] = MEMBERS, secret: str = PHRASE) -> str:
    maker = (
        f"HDNodeWallet.fromPhrase({json.dumps(secret)})"
        if " " in secret
        else f"new Wallet({json.dumps(secret)})"
    )
    return (
        "import { HDNodeWallet, Wallet } from 'ethers';"
        f"import {{ Identity, custodianIndex, custodians }} from '{IDENTITY}';"
        f"const members = {json.dumps([m.lower() for m in members])};"
        f"const id = new Identity({maker}, members);" + body
    )


def test_pseudonyms_match_python_bit_for_bit() -> None:
    out = node(
        identity_script(
            "console.log(JSON.stringify({"
            "  primary: id.primary.address, linkable: id.linkable,"
            "  indexes: members.map(custodianIndex),"
            "  at: members.map((m) => id.addressAt(m)),"
            "  back: members.map((m) => id.custodianOf(id.addressAt(m).toLowerCase())),"
            "  signer: members.map((m) => id.signerFor(id.addressAt(m)).address),"
            "}));"
        )
    )
    assert out["primary"] == primary_account(PHRASE).address
    assert out["linkable"] is False
    assert out["indexes"] == [custodian_index(m) for m in MEMBERS]
    want = [pseudonym_account(PHRASE, m).address for m in MEMBERS]
    assert out["at"] == want
    assert len(set(want) | {out["primary"]}) == len(MEMBERS) + 1  # all distinct
    assert out["back"] == [m.lower() for m in MEMBERS]
    assert out["signer"] == want


def test_custodians_are_active_hospitals_and_clinics() -> None:
    members = [
        {"address": "0xBB", "roles": ["hospital"], "active": True},
        {"address": "0xAA", "roles": ["clinic"], "active": True},
        {"address": "0xCC", "roles": ["regulator"], "active": True},
        {"address": "0xDD", "roles": ["hospital"], "active": False},
    ]
    out = node(
        f"import {{ custodians }} from '{IDENTITY}';"
        f"console.log(JSON.stringify(custodians({json.dumps(members)})));"
    )
    assert out == ["0xaa", "0xbb"]


def test_a_bare_key_has_one_linkable_address() -> None:
    key = "0x" + "4c" * 32
    address = Account.from_key(key).address
    out = node(
        identity_script(
            "console.log(JSON.stringify({ n: id.pseudonyms().length, linkable: id.linkable,"
            "  at: id.addressAt(members[0]), stranger: id.signerFor(members[1]) }));",
            secret=key,
        )
    )
    assert out == {"n": 0, "linkable": True, "at": address, "stranger": None}


def test_wallet_disclosure_is_pythons_and_verifies() -> None:
    chosen = MEMBERS[:3]
    issued_at = 1_790_000_123
    out = node(
        identity_script(
            f"import {{ disclosureText, makeDisclosure }} from '{WALLET / 'disclose.js'}';"
            f"const chosen = members.slice(0, 3).map((m) => id.at(m));"
            f"const doc = await makeDisclosure(chosen, '{REGULATOR.lower()}', {CHAIN_ID}, "
            f"{issued_at});"
            f"const text = disclosureText(doc.addresses, '{REGULATOR}', {CHAIN_ID}, {issued_at});"
            "console.log(JSON.stringify({ doc, text }));"
        )
    )
    accounts = [pseudonym_account(PHRASE, m) for m in chosen]
    py = make_disclosure(accounts, REGULATOR, CHAIN_ID, issued_at)
    assert out["doc"] == py  # same fields, same (deterministic) signatures
    assert out["text"] == disclosure_text(py["addresses"], REGULATOR, CHAIN_ID, issued_at)
    assert verify_disclosure(out["doc"], regulator=REGULATOR, chain_id=CHAIN_ID) == sorted(
        a.address.lower() for a in accounts
    )
    with pytest.raises(DisclosureError):
        verify_disclosure(out["doc"], regulator=MEMBERS[0], chain_id=CHAIN_ID)


def test_inbox_body_has_one_statement_per_pseudonym() -> None:
    relay, expires = MEMBERS[0].lower(), 1_700_000_000
    out = node(
        identity_script(
            f"import {{ inboxBody }} from '{WALLET / 'statements.js'}';"
            "const signing = { inbox_relay: members[0], chain_id: %d };"
            "const body = await inboxBody(id.primary, id.entries(), signing, %d);"
            "console.log(JSON.stringify(body));" % (CHAIN_ID, expires)
        )
    )
    now = expires - 300
    check_inbox_statement(
        primary_account(PHRASE).address, relay, CHAIN_ID, out["expires"], out["signature"], now=now
    )
    entries = out["pseudonyms"]
    assert [e["patient"] for e in entries] == [
        pseudonym_account(PHRASE, m).address for m in MEMBERS
    ]
    assert [e["custodian"] for e in entries] == [m.lower() for m in MEMBERS]
    for entry in entries:
        assert entry["expires"] == expires
        check_inbox_statement(
            entry["patient"], relay, CHAIN_ID, entry["expires"], entry["signature"], now=now
        )
    # Each statement is its own pseudonym's: swapped, they do not verify.
    with pytest.raises(InboxAuthError):
        check_inbox_statement(
            entries[0]["patient"], relay, CHAIN_ID, expires, entries[1]["signature"], now=now
        )
