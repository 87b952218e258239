"""The demo's doctor tiers: h1 seals its most sensitive category under an AND of its own
department and the regulator's professional title, so only a chief physician reads it.

Each doctor has their own key (their GID); h1 binds it to the staff id in the staff token,
the regulator records the titles it verified for it, and each authority issues RW15 keys to
that GID only against a request signed by it. The attending cardiologist of the same
department fetches the ciphertext (the API lets h1's staff read h1's records) and is refused
by the cryptography.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from eth_account import Account

from crypto.errors import DecryptionError
from crypto.rw15_keys import Rw15Key
from sharing_api.fhir import chest_pain_bundle
from sharing_api.sdk import ApiError, SharingClient
from sharing_api.sdk.gid_keys import issue_credential_key, issue_staff_key, verify_credential
from sharing_api.sdk.identity import StaffIdentity

if TYPE_CHECKING:
    from sharing_api.cli.alliance_demo import DemoAlliance, Steps

SENSITIVE_CATEGORY = "discharge"
TIERED_POLICY = "h1.dept:cardiology and reg.title:chief-physician"


def doctor_tiers(
    s: Steps,
    world: DemoAlliance,
    h1: SharingClient,
    regulator: SharingClient,
    echo: Callable[[str], None],
) -> None:
    s.step(
        f"Doctor tiers: h1 seals its {SENSITIVE_CATEGORY} records under '{TIERED_POLICY}' "
        "(RW15, an AND across h1 and the regulator)"
    )
    chief_me, attending_me = StaffIdentity.generate(), StaffIdentity.generate()
    chief = h1.staff_client("dr-wang", "doctor", ["dept:cardiology"], gid=chief_me.gid)
    attending = h1.staff_client("dr-chen", "doctor", ["dept:cardiology"], gid=attending_me.gid)
    echo(f"    dr-wang's own key (GID) {chief_me.gid}, dr-chen's {attending_me.gid}")
    echo("    h1 binds each GID to the staff id in the doctor's staff token")
    verify_credential(regulator, chief_me.gid, title="chief-physician", licence="cardiology")
    verify_credential(regulator, attending_me.gid, title="attending", licence="cardiology")
    echo("    the regulator records the titles and licences it verified for each GID")

    reg_gateway = world.gateways["reg"]
    at_reg = SharingClient(reg_gateway.url, verify=reg_gateway.verify)  # no sign-in
    try:
        keys = {}
        for who, me, staff, title in (
            ("dr-wang", chief_me, chief, "chief-physician"),
            ("dr-chen", attending_me, attending, "attending"),
        ):
            mine = issue_staff_key(staff, me)  # from h1's gateway
            titled = issue_credential_key(at_reg, me, "reg", [f"title:{title}"])
            keys[who] = mine.merge(titled)
            echo(f"    {who}: {', '.join(keys[who].attributes)} (requests signed by the GID)")
        status = _status(
            lambda: issue_credential_key(at_reg, attending_me, "reg", ["title:chief-physician"])
        )
        s.expect(f"dr-chen cannot get a chief-physician title key ({status})", status == 403)
        forger = StaffIdentity(bytes(Account.create().key))
        status = _status(lambda: issue_staff_key(chief, forger))
        s.expect(
            f"a key request for dr-wang's token signed by another key is refused ({status})",
            status == 403,
        )

        patient = Account.create().address
        qualified, params = chief.policy_for_sealing(TIERED_POLICY)
        plaintext = json.dumps(chest_pain_bundle(patient, "h1")).encode()
        sealed = SharingClient.seal(plaintext, qualified, params)
        rec = chief.upload(patient, SENSITIVE_CATEGORY, qualified, sealed)
        echo(
            f"    record {rec['record_id']} ({SENSITIVE_CATEGORY}): one RW15 wrap; reg's "
            "parameters from the regulator's gateway, checked against its hash on chain"
        )
        data, headers = chief.fetch(rec["record_id"])
        s.expect(
            f"dr-wang (chief physician) decrypts it (access {headers['x-access-id']})",
            SharingClient.open(data, keys["dr-wang"]) == plaintext,
        )
        data, headers = attending.fetch(rec["record_id"])
        s.expect(
            f"dr-chen (attending) may fetch it (access {headers['x-access-id']}, custodian "
            "basis) but the cryptography refuses her: " + _refusal(data, keys["dr-chen"]),
            _refusal(data, keys["dr-chen"]).startswith("DecryptionError"),
        )
        # dr-chen's h1 grant and dr-wang's title grant together: two GIDs, never pooled.
        chen_h1, wang_title = keys["dr-chen"].grant("h1"), keys["dr-wang"].grant("reg")
        assert chen_h1 is not None and wang_title is not None
        pooled = [Rw15Key(attending_me.gid, (chen_h1,)), Rw15Key(chief_me.gid, (wang_title,))]
        why = _refusal(data, pooled)
        s.expect(
            f"dr-chen's h1 key with dr-wang's title key opens nothing ({why[:60]}...)",
            why.startswith("DecryptionError"),
        )
    finally:
        for client in (at_reg, chief, attending):
            client.close()


def _status(call: Callable[[], Any]) -> int:
    try:
        call()
    except ApiError as exc:
        return exc.status
    return 200


def _refusal(data: bytes, key: Any) -> str:
    try:
        SharingClient.open(data, key)
    except DecryptionError as exc:
        return f"DecryptionError: {exc}"
    return "opened"
