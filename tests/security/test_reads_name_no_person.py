"""Threat: a read could not be traced to the person who made it (the access log named only
the member), and naming them on chain would tell every member who works where. Each access
now carries the reader's staff pseudonym: HMAC-SHA256 under a secret of their member, kept by
its gateway, so no name reaches the chain, one person working for two members has two
unrelated pseudonyms, and a new secret gives everyone new ones."""

from __future__ import annotations

import stat

import pytest
from eth_account import Account
from eth_typing import HexStr

from sharing_api.staff.pseudonym import load_or_create_secret, pseudonym
from tests.api.conftest import Cast

pytestmark = pytest.mark.integration

ZERO = b"\0" * 32


def test_accesses_carry_a_pseudonym_per_member_and_no_name(cast: Cast) -> None:
    services = cast.api.services
    patient = Account.create().address
    h1, clinic = cast.address("h1"), cast.address("clinic")
    # The same person's id at two members: each member's record, read by its own staff.
    same_h1 = cast.h1.staff_client("dr-moonlighter", "doctor")
    same_clinic = cast.clinic.staff_client("dr-moonlighter", "doctor")
    at_h1 = same_h1.upload(patient, "lab", "h1.role:doctor", cast.sealed(b"a", "h1.role:doctor"))
    at_clinic = same_clinic.upload(patient, "lab", "c1.role:doctor", cast.sealed(b"b"))
    _, read_h1 = same_h1.fetch(at_h1["record_id"])
    _, read_clinic = same_clinic.fetch(at_clinic["record_id"])
    _, read_member = cast.h1.fetch(at_h1["record_id"])  # the member's own token: no person

    logged = {int(e.args["accessId"]): e for e in services.reader.access.events("AccessLogged")}
    staff_h1 = bytes(logged[int(read_h1["x-access-id"])].args["staff"])
    staff_clinic = bytes(logged[int(read_clinic["x-access-id"])].args["staff"])
    assert bytes(logged[int(read_member["x-access-id"])].args["staff"]) == ZERO
    assert ZERO not in (staff_h1, staff_clinic)
    assert staff_h1 != staff_clinic  # unlinkable across members

    # The pseudonym is the HMAC under the member's own secret, kept 0600 by its gateway.
    directory = services.settings.resolved_state_dir() / "staff_pseudonyms"
    for member, seen in ((h1, staff_h1), (clinic, staff_clinic)):
        path = directory / f"{member.lower()}.key"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert pseudonym(load_or_create_secret(directory, member), member, "dr-moonlighter") == seen

    # No name anywhere in what the chain holds for these reads, nor in the audit rows.
    for e in (logged[int(h["x-access-id"])] for h in (read_h1, read_clinic)):
        tx_hash = HexStr(e.tx_hash)
        receipt = services.reader.client.w3.eth.get_transaction_receipt(tx_hash)
        tx = services.reader.client.w3.eth.get_transaction(tx_hash)
        raw = bytes(tx["input"]) + b"".join(bytes(log["data"]) for log in receipt["logs"])
        assert b"moonlighter" not in raw
    rows = cast.regulator.json("GET", "/audit/accesses", params={"patient": patient})
    assert {r["staff"] for r in rows} == {"0x" + s.hex() for s in (staff_h1, staff_clinic, ZERO)}
    assert "moonlighter" not in str(rows)


def test_a_new_secret_gives_new_pseudonyms(tmp_path: object) -> None:
    member = "0x" + "ab" * 20
    one, two = b"\1" * 32, b"\2" * 32
    assert pseudonym(one, member, "dr-chen") != pseudonym(two, member, "dr-chen")
    assert pseudonym(one, member, "dr-chen") != pseudonym(one, "0x" + "cd" * 20, "dr-chen")
    assert pseudonym(one, member, "dr-chen") == pseudonym(one, member, "dr-chen")
    with pytest.raises(ValueError):
        pseudonym(b"short", member, "dr-chen")
