"""Threat: lists silently stopped at 500 or 1,000 rows, so later records, consents and
accesses (break-glass included) vanished from the wallet, the console and the SDK. Now every
list pages with a cursor (X-Next-Cursor and Link: rel="next"), and the SDK follows it."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

from eth_account import Account

from sharing_api.chain import Category
from tests.api.conftest import Cast
from tests.contracts.helpers import POLICY

OLD_CAP = 500


def test_a_list_longer_than_the_old_cap_comes_whole_through_the_cursor(cast: Cast) -> None:
    patient = Account.create().address
    clinic = cast.api.services.signer(cast.address("clinic"))

    def register(i: int) -> int:
        digest = hashlib.sha256(b"record %d" % i).digest()
        cid = "bafk" + digest.hex()[:40]
        return clinic.records.register(patient, Category.LAB, cid, digest, POLICY).record_id

    with ThreadPoolExecutor(8) as pool:
        ids = sorted(pool.map(register, range(OLD_CAP + 7)))
    cast.api.services.indexer.sync()

    first, cursor = cast.regulator.page("/records", patient=patient)
    assert len(first) == OLD_CAP and cursor  # the default page, and a way on
    response = cast.regulator.request("GET", "/records", params={"patient": patient})
    assert 'rel="next"' in response.headers["link"]

    everything = cast.regulator.json("GET", "/records", params={"patient": patient})
    assert [r["record_id"] for r in everything] == ids

    pages, at = [], ""
    while True:  # small pages, followed by hand: every row once, in order
        rows, at = cast.regulator.page("/records", at or None, patient=patient, limit=200)
        pages.append(rows)
        if not at:
            break
    assert [len(p) for p in pages] == [200, 200, 107]
    assert [r["record_id"] for p in pages for r in p] == ids
