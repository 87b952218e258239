"""RW15 through the gateway and the SDK: GIDs bound to people (a signed request by the GID's
own key, to a GID the authority verified), the regulator issuing title keys, a record
sealed under an AND across h1 and the regulator, read by the chief physician and refused by
the cryptography to an attending of the same department; version 1 and 2 records, re-wrap
and tampering of a version 3 (RW15) header, RW15 in the SM4 suite."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account

from crypto.errors import DecryptionError
from crypto.expiry import current_epoch
from crypto.header import RecordHeader, rewrap, seal_header
from crypto.records import encrypt_body, new_record, read_container_header, write_container
from crypto.rw15_keys import Rw15Key
from sharing_api.auth.key_request import build_request, sign_request
from sharing_api.sdk import ApiError, SharingClient
from sharing_api.sdk.gid_keys import (
    issue_credential_key,
    issue_staff_key,
    signed_request,
    verify_credential,
)
from sharing_api.sdk.identity import StaffIdentity, load_or_create
from sharing_api.staff.rotation import rotate_without
from tests.support import api as support
from tests.support.api import RunningApi, running_api, running_ledger_alliance

pytestmark = pytest.mark.integration
TIERED = "h1.dept:cardiology and reg.title:chief-physician"


@pytest.fixture(scope="module")
def alliance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.TestAlliance]:
    root = tmp_path_factory.mktemp("maabe")
    with running_ledger_alliance(root, regulator_authority=True) as deployed:
        yield deployed


@pytest.fixture(scope="module")
def api(alliance: support.TestAlliance) -> Iterator[RunningApi]:
    with running_api(alliance.settings()) as running:
        yield running


@dataclass
class Staff:
    identity: StaffIdentity
    client: SharingClient


@dataclass
class World:
    api: RunningApi
    h1: SharingClient
    regulator: SharingClient
    anonymous: SharingClient
    chief: Staff
    attending: Staff


@pytest.fixture(scope="module")
def world(api: RunningApi, alliance: support.TestAlliance) -> Iterator[World]:
    def signed_in(name: str) -> SharingClient:
        client = SharingClient(api.url)
        client.login(alliance.keys[name])
        return client

    h1, regulator = signed_in("h1"), signed_in("regulator")
    chief_id, attending_id = StaffIdentity.generate(), StaffIdentity.generate()
    w = World(
        api=api,
        h1=h1,
        regulator=regulator,
        anonymous=SharingClient(api.url),
        chief=Staff(
            chief_id,
            h1.staff_client("dr-wang", "doctor", ["dept:cardiology"], gid=chief_id.gid),
        ),
        attending=Staff(
            attending_id,
            h1.staff_client("dr-chen", "doctor", ["dept:cardiology"], gid=attending_id.gid),
        ),
    )
    verify_credential(regulator, chief_id.gid, title="chief-physician", licence="cardiology")
    verify_credential(regulator, attending_id.gid, title="attending")
    yield w
    for c in (h1, regulator, w.anonymous, w.chief.client, w.attending.client):
        c.close()


def _keys(world: World, staff: Staff, title: str) -> Rw15Key:
    mine = issue_staff_key(staff.client, staff.identity)
    titled = issue_credential_key(world.anonymous, staff.identity, "reg", [f"title:{title}"])
    return mine.merge(titled)


def _status(call: object) -> int:
    try:
        call()  # type: ignore[operator]
    except ApiError as exc:
        return exc.status
    return 200


def test_the_regulator_publishes_its_params_and_issues_title_keys(world: World) -> None:
    listed = {a["authority"] for a in world.anonymous.json("GET", "/keys/authorities")}
    assert {"h1", "reg"} <= listed
    params = world.anonymous.authority_params("reg")
    on_chain = world.api.services.reader.registry.member(
        world.regulator.json("GET", "/auth/me")["member"]
    ).abe_params_hash
    assert params.rw15 is not None and params.fingerprint == on_chain
    key = issue_credential_key(
        world.anonymous, world.chief.identity, "reg", ["title:chief-physician"]
    )
    assert key.gid == world.chief.identity.gid
    assert key.attributes == ("reg.title:chief-physician",)
    registry = world.regulator.json("GET", "/keys/credentials", params={"gid": key.gid})
    assert {r["attribute"] for r in registry} == {
        "reg.title:chief-physician",
        "reg.licence:cardiology",
    }
    # The regulator reads no records, and only the regulator keeps its registry.
    assert _status(lambda: world.regulator.fetch(1)) == 403
    assert _status(lambda: verify_credential(world.h1, world.chief.identity.gid, title="x")) == 403


def test_a_title_the_regulator_has_not_verified_is_refused(world: World) -> None:
    status = _status(
        lambda: issue_credential_key(
            world.anonymous, world.attending.identity, "reg", ["title:chief-physician"]
        )
    )
    assert status == 403
    stranger = StaffIdentity.generate()
    assert (
        _status(lambda: issue_credential_key(world.anonymous, stranger, "reg", ["title:attending"]))
        == 403
    )


def test_a_request_signed_by_another_key_is_refused(world: World) -> None:
    facts = world.anonymous.json("POST", "/auth/nonce")
    request = build_request(
        "reg",
        world.chief.identity.gid,  # the chief's GID ...
        ["title:chief-physician"],
        current_epoch() + 10,
        int(facts["chain_id"]),
        facts["nonce"],
        int(time.time()) + 60,
    )
    forged = sign_request(request, Account.create().key)  # ... signed by someone else
    body = {"request": request.to_text(), "signature": forged}
    with pytest.raises(ApiError) as refused:
        world.anonymous.json("POST", "/keys/credentials/key", json=body)
    assert refused.value.status == 403 and "not signed by the key" in str(refused.value)


def test_a_malformed_or_stale_request_is_a_bad_request(world: World) -> None:
    """Wrong in itself (another chain, past its deadline, not a request): 400 with the
    reason, not 403 as if someone were refused a right."""
    facts = world.anonymous.json("POST", "/auth/nonce")
    chain_id = int(facts["chain_id"])

    def body(chain: int, deadline: int) -> dict[str, str]:
        request = build_request(
            "reg",
            world.chief.identity.gid,
            ["title:chief-physician"],
            current_epoch() + 10,
            chain,
            facts["nonce"],
            deadline,
        )
        signature = sign_request(request, world.chief.identity.private_key)
        return {"request": request.to_text(), "signature": signature}

    cases = [
        (body(chain_id + 1, int(time.time()) + 60), "for chain"),
        (body(chain_id, int(time.time()) - 1), "expired"),
        ({"request": "hello", "signature": "0x" + "00" * 65}, "not an attribute key request"),
    ]
    for sent, why in cases:
        with pytest.raises(ApiError) as refused:
            world.anonymous.json("POST", "/keys/credentials/key", json=sent)
        assert refused.value.status == 400 and why in str(refused.value), refused.value


def test_a_nonce_is_single_use(world: World) -> None:
    body = signed_request(
        world.anonymous, world.chief.identity, "reg", ["title:chief-physician"], 10
    )
    world.anonymous.json("POST", "/keys/credentials/key", json=body)
    with pytest.raises(ApiError) as replay:
        world.anonymous.json("POST", "/keys/credentials/key", json=body)
    assert replay.value.status == 401


def test_a_member_issues_only_to_the_gid_it_bound_to_its_staff(world: World) -> None:
    chief = world.chief
    # The attending asks h1 for a key to the chief's GID: she cannot sign for it, and her
    # own signature over the chief's GID is refused too.
    own = signed_request(chief.client, world.attending.identity, "h1", ["dept:cardiology"], 10)
    status = _status(lambda: chief.client.json("POST", "/keys/gid", json=own))
    assert status == 403  # the chief's token is bound to the chief's GID
    unbound = world.h1.staff_client("dr-unbound", "doctor", ["dept:cardiology"])
    someone = StaffIdentity.generate()
    assert _status(lambda: issue_staff_key(unbound, someone)) == 403
    # Attributes beyond the staff token are refused.
    extra = signed_request(chief.client, chief.identity, "h1", ["dept:oncology"], 10)
    assert _status(lambda: chief.client.json("POST", "/keys/gid", json=extra)) == 403
    # A staff id keeps its GID: binding another is a conflict.
    with pytest.raises(ApiError) as conflict:
        world.h1.staff_client("dr-wang", "doctor", ["dept:cardiology"], gid=someone.gid)
    assert conflict.value.status == 409
    key = issue_staff_key(chief.client, chief.identity)
    assert set(key.attributes) == {"h1.dept:cardiology", "h1.role:doctor"}


def test_cross_authority_and_end_to_end(world: World, tmp_path: Path) -> None:
    patient = Account.create().address
    qualified, params = world.chief.client.policy_for_sealing(TIERED)
    assert {p.authority for p in params} == {"h1", "reg"}
    sealed = SharingClient.seal(b"chief-only discharge summary", qualified, params)
    assert read_container_header(io.BytesIO(sealed)).version == 3
    rid = world.chief.client.upload(patient, "discharge", qualified, sealed)["record_id"]

    data, _ = world.chief.client.fetch(rid)
    chief_keys = _keys(world, world.chief, "chief-physician")
    assert SharingClient.open(data, chief_keys) == b"chief-only discharge summary"

    # The attending of the same department may fetch (custodian basis), cannot decrypt.
    data, _ = world.attending.client.fetch(rid)
    attending_keys = _keys(world, world.attending, "attending")
    with pytest.raises(DecryptionError, match="do not satisfy"):
        SharingClient.open(data, attending_keys)

    # Re-wrap the RW15 header (to the attending too), the body untouched.
    source = io.BytesIO(data)
    header = read_container_header(source)
    body = source.read()
    wider = f"({TIERED}) or (h1.dept:cardiology and reg.title:attending)"
    moved = rewrap(header, chief_keys, params, wider)
    out = io.BytesIO()
    write_container(moved, out)
    assert SharingClient.open(out.getvalue() + body, attending_keys).startswith(b"chief-only")

    # Tampering with any part of the v3 header is detected.
    raw = bytearray(moved.to_bytes())
    raw[len(raw) // 2] ^= 0x01
    tampered = io.BytesIO()
    with pytest.raises(ValueError):
        write_container(RecordHeader.from_bytes(bytes(raw)), tampered)
        SharingClient.open(tampered.getvalue() + body, chief_keys)

    # A GID's key file survives on disk, sealed.
    path = tmp_path / "me.gid"
    first = load_or_create(path, "pass phrase for tests", 15)
    assert load_or_create(path, "pass phrase for tests").gid == first.gid


def test_version_1_and_2_records_still_open(world: World) -> None:
    params = [world.chief.client.authority_params("h1")]
    key = world.chief.client.issue_my_key()
    for version in (1, 2):
        header, data_key = new_record("h1.dept:cardiology", params)
        if version == 1:  # as written before cipher suites and RW15
            header = seal_header(data_key, header.stream_id, header.policy, params, version=1)
        body, out = io.BytesIO(), io.BytesIO()
        encrypt_body(header, data_key, io.BytesIO(b"old"), body)
        write_container(header, out)
        container = out.getvalue() + body.getvalue()
        assert read_container_header(io.BytesIO(container)).version == version
        assert SharingClient.open(container, key) == b"old"


def test_rw15_in_the_sm4_suite(world: World) -> None:
    qualified, params = world.chief.client.policy_for_sealing(TIERED)
    sealed = SharingClient.seal(b"sm4 and rw15", qualified, params, suite="sm4-gcm")
    header = read_container_header(io.BytesIO(sealed))
    assert header.version == 3 and header.suite.aead_name == "SM4-GCM"
    assert (
        SharingClient.open(sealed, _keys(world, world.chief, "chief-physician")) == b"sm4 and rw15"
    )


def test_a_rotated_member_authority_still_seals_rw15_parts(world: World) -> None:
    """Staff revocation rotates the member's authority (``rotate_without``): the next
    generation has RW15 keys too; grants of the old one are refused, fresh ones open."""
    services = world.api.services
    h1 = next(a for a, auth in services.authorities.items() if auth.authority == "h1")
    before = services.authorities[h1]
    old_keys = _keys(world, world.chief, "chief-physician")
    rotation = rotate_without(before, [], set())
    services.authorities[h1] = rotation.authority
    try:
        qualified, params = world.chief.client.policy_for_sealing(TIERED)
        assert {p.generation for p in params if p.authority == "h1"} == {before.generation + 1}
        sealed = SharingClient.seal(b"after rotation", qualified, params)
        with pytest.raises(DecryptionError, match="another generation"):
            SharingClient.open(sealed, old_keys)
        fresh = _keys(world, world.chief, "chief-physician")
        assert SharingClient.open(sealed, fresh) == b"after rotation"
    finally:
        services.authorities[h1] = before


def test_the_cli_path(
    world: World, alliance: support.TestAlliance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`alliance gid new`, `alliance regulator verify-title`, `alliance gid credential-key`."""
    from sharing_api.cli.main import main

    monkeypatch.setenv("ALLIANCE_PASSPHRASE", "a passphrase for this test")
    monkeypatch.setenv("ALLIANCE_API_URL", world.api.url)
    monkeypatch.delenv("ALLIANCE_TOKEN", raising=False)
    me = tmp_path / "me.gid"
    assert main(["gid", "new", "--out", str(me)]) == 0
    gid = load_or_create(me, "a passphrase for this test").gid
    reg_key = tmp_path / "reg.key"
    reg_key.write_text(alliance.keys["regulator"])
    args = ["regulator", "verify-title", "--gid", gid, "--title", "chief-physician"]
    assert main([*args, "--key-file", str(reg_key)]) == 0
    out = tmp_path / "bundle.key"
    args = ["gid", "credential-key", "--identity", str(me), "--attrs", "title:chief-physician"]
    assert main([*args, "--out", str(out)]) == 0
    assert Rw15Key.from_bytes(out.read_bytes()).attributes == ("reg.title:chief-physician",)
    args = ["gid", "credential-key", "--identity", str(me), "--attrs", "title:attending"]
    assert main([*args, "--out", str(out)]) == 1  # not verified: one error line, exit 1
