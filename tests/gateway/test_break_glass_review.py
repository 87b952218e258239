"""The regulator reads the reason and justification of a break-glass read kept at the reader's
gateway, from its own tools: `alliance audit break-glass show` (the on-chain directory, TLS
pinned, signed in there as the regulator, opened with its audit key, checked against the
chain) and its console gateway's review route, which fetches them from the reader's gateway
the same way. A gateway that alters a text is caught by the commitment on chain."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from crypto import audit_seal
from crypto.keystore import MIN_LOG2_N
from sharing_api.api.core.keys import seal_audit_key
from sharing_api.cli.main import main
from sharing_api.gateway.local import LocalGateway, MemberKeys, prepare_gateway, running_gateway
from sharing_api.sdk import SharingClient
from tests.gateway.conftest import GATEWAY_PASSPHRASE, Gateways

pytestmark = pytest.mark.integration
POLICY = "h1.role:doctor or c1.role:doctor"
REASON = "unconscious, suspected MI, no consent reachable"
JUSTIFICATION = "STEMI; patient unconscious; family unreachable"


@pytest.fixture(scope="module")
def reg(gateways: Gateways, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalGateway]:
    """The regulator's console gateway: it hosts the regulator and holds its audit key."""
    a = gateways.alliance
    gateway = prepare_gateway(
        tmp_path_factory.mktemp("reg") / "reg",
        [MemberKeys("regulator", a.keys["regulator"], audit_key=a.audit_key)],
        chain_url=a.chain_url,
        deployment_file=a.root / "deployment.json",
        passphrase=GATEWAY_PASSPHRASE,
        extra={"directory_ttl_s": 0.2},
    )
    with running_gateway(gateway):
        yield gateway


def _break_glass(g: Gateways) -> int:
    """A clinic record read at h1's gateway under break-glass, justified by h1's chief."""
    clinic_doctor = g.member("clinic").staff_client("dr-zhao", "doctor")
    params = [clinic_doctor.authority_params(a) for a in ("c1", "h1")]
    sealed = SharingClient.seal(b"{}", POLICY, params)
    record = clinic_doctor.upload(g.patient.address, "summary", POLICY, sealed)
    h1 = g.member("h1")
    er = h1.staff_client("dr-li", "doctor", ["dept:emergency"])
    _, headers = er.fetch(record["record_id"], break_glass=True, reason=REASON)
    access_id = int(headers["x-access-id"])
    chief = h1.staff_client("dr-zhang", "chief-physician")
    path = f"/audit/break-glass/{access_id}/justify"
    chief.json("POST", path, json={"justification": JUSTIFICATION})
    return access_id


def _show(
    g: Gateways, files: tuple[Path, Path], access_id: int, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(
        [
            "audit",
            "break-glass",
            "show",
            str(access_id),
            "--json",
            "--key-file",
            str(files[0]),
            "--audit-key-file",
            str(files[1]),
            "--rpc",
            g.alliance.chain_url,
            "--deployment",
            str(g.alliance.root / "deployment.json"),
        ]
    )
    out = capsys.readouterr()
    return status, out.out, out.err.strip()


def test_the_regulator_reads_and_checks_the_texts_at_the_readers_gateway(
    gateways: Gateways,
    reg: LocalGateway,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    g = gateways
    access_id = _break_glass(g)
    regulator_key = tmp_path / "regulator.key"
    regulator_key.write_text(g.alliance.keys["regulator"] + "\n")
    audit_file = tmp_path / "audit.key"
    seal_audit_key(audit_file, g.alliance.audit_key, "audit passphrase", MIN_LOG2_N)
    monkeypatch.setenv("ALLIANCE_PASSPHRASE", "audit passphrase")
    files = (regulator_key, audit_file)

    status, out, err = _show(g, files, access_id, capsys)
    assert status == 0, err
    shown = json.loads(out)
    assert (shown["access_id"], shown["review"]) == (access_id, "justified")
    assert shown["reader"] == g.alliance.address("h1")
    assert (shown["reason"]["text"], shown["justification"]["text"]) == (REASON, JUSTIFICATION)
    assert shown["reason"]["matches_chain"] and shown["justification"]["matches_chain"]

    # The console's gateway holds the audit key but not the texts: it fetches them from h1's.
    console = SharingClient(reg.url, verify=reg.verify)
    console.login(g.alliance.keys["regulator"])
    review = console.json("GET", f"/audit/break-glass/{access_id}/review")
    assert review["reason"] == shown["reason"]
    assert review["justification"]["text"] == JUSTIFICATION

    # Clear refusals: no such access; an access that is no break-glass (the custodian's read).
    status, _, err = _show(g, files, 10**9, capsys)
    assert (status, err) == (1, f"error: no access {10**9} on chain")
    own_read = g.member("clinic").staff_client("dr-zhao", "doctor")
    _, headers = own_read.fetch(shown["record_id"])
    status, _, err = _show(g, files, int(headers["x-access-id"]), capsys)
    assert status == 1 and err.endswith("is not a break-glass read (basis custodian)")

    # h1's gateway swaps the reason for another text, sealed to the same audit key.
    audit_public = audit_seal.public_bytes(g.alliance.audit_key.public_key())
    forged = audit_seal.seal(audit_public, "reason", "routine check")
    with sqlite3.connect(g.h1.directory / "index.sqlite3") as db:
        db.execute(
            "UPDATE break_glass_texts SET envelope = ?, commitment = ? "
            "WHERE access_id = ? AND kind = 'reason'",
            (forged.envelope, "0x" + forged.commitment.hex(), access_id),
        )
    status, out, err = _show(g, files, access_id, capsys)
    assert (status, out) == (1, "")
    assert "the reason from" in err and "does not match its commitment on chain" in err
    review = console.json("GET", f"/audit/break-glass/{access_id}/review")
    assert review["reason"]["text"] == "routine check"
    assert review["reason"]["matches_chain"] is False
    assert review["justification"]["matches_chain"] is True

    # h1's gateway down: one line naming it.
    g.h1.stop()
    try:
        status, _, err = _show(g, files, access_id, capsys)
        assert status == 1 and "gateway at https://127.0.0.1:" in err
        assert err.startswith("error: member ") and "is unreachable" in err
    finally:
        g.h1.start()
    console.close()
