"""Blob checks against a real local store, and the report's HTML/CSV writers."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

from sharing_api.audit.report import bar_chart, render_html, write_csv
from sharing_api.audit.rules import Anomaly
from sharing_api.audit.verify import verify_blobs
from sharing_api.storage.local import LocalStorage


def _record(rid: int, cid: str, data: bytes) -> dict[str, object]:
    return {"record_id": rid, "cid": cid, "content_hash": "0x" + hashlib.sha256(data).hexdigest()}


def test_verify_blobs_ok_missing_wrong_hash_and_sample(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "store")
    a, b, c = (store.put(d) for d in (b"alpha" * 10, b"beta" * 10, b"gamma" * 10))
    records = [
        _record(1, a.cid, b"alpha" * 10),
        _record(2, b.cid, b"not what the chain registered"),  # hash on chain differs
        _record(3, c.cid, b"gamma" * 10),
    ]
    store.delete(c.cid)
    result = verify_blobs(store, records)
    assert (result.total, result.checked, result.ok) == (3, 3, 1)
    assert [f["record_id"] for f in result.failures] == [2, 3]
    sampled = verify_blobs(store, records, sample=2, seed=1)
    assert sampled.checked == 2 and sampled.ok + len(sampled.failures) == 2
    assert verify_blobs(store, records, sample=2, seed=1) == sampled  # seeded: repeatable


def _row(aid: int, reader: str) -> dict[str, object]:
    return {
        "access_id": aid,
        "record_id": 1,
        "patient": "0xp",
        "reader": reader,
        "logger": "0xl",
        "purpose": 0,
        "basis": 2,
        "basis_id": 0,
        "justified": False,
        "block_number": 5,
        "tx_hash": "0xt",
        "timestamp": 1_700_000_000 + aid,
    }


def test_html_escapes_and_charts(tmp_path: Path) -> None:
    rows = [_row(1, "<script>x</script>"), _row(2, "0xr")]
    found = [Anomaly("unjustified-break-glass", 1, "<b>", "late & <i>")]
    html = render_html(rows, found, ("2023-11-14", "2023-11-15"), {"accesses": 2})
    assert "<script>" not in html and "&lt;script&gt;" in html and "late &amp; &lt;i&gt;" in html
    assert html.count("<svg") == 4
    svg = bar_chart("t", [("a", 1), ("b", 4)])
    assert svg.count("<rect") == 2 and 'width="390"' in svg  # the largest bar is full width
    write_csv(rows, tmp_path / "a.csv")
    with (tmp_path / "a.csv").open() as f:
        out = list(csv.DictReader(f))
    assert [r["basis"] for r in out] == ["break-glass"] * 2
    assert out[0]["time_utc"] == "2023-11-14T22:13:21Z" and out[0]["purpose"] == "treatment"


def test_verify_blobs_checks_each_header_against_its_policy_commitment(tmp_path: Path) -> None:
    """The chain holds a commitment to the policy, not its text: the auditor, who reads
    the blobs, checks the sealed header against it."""
    import io

    from crypto.authority import AttributeAuthority
    from crypto.policy_commitment import policy_commitment
    from crypto.records import read_container_header
    from sharing_api.sdk import SharingClient

    authority = AttributeAuthority.setup("h1")
    sealed = SharingClient.seal(b"x" * 200_000, "h1.dept:psychiatry", [authority.params()])
    other = SharingClient.seal(b"y", "h1.dept:cardiology", [authority.params()])
    store = LocalStorage(tmp_path / "store")
    info = store.put(sealed)

    def record(commitment: bytes) -> dict[str, object]:
        return {**_record(1, info.cid, sealed), "policy_commitment": "0x" + commitment.hex()}

    own = policy_commitment(read_container_header(io.BytesIO(sealed)))
    claimed = policy_commitment(read_container_header(io.BytesIO(other)))
    assert verify_blobs(store, [record(own)]).ok == 1
    result = verify_blobs(store, [record(claimed)])
    assert result.ok == 0 and "policy commitment" in result.failures[0]["error"]
