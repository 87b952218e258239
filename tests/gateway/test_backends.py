"""The whole cross-gateway flow once on IPFS stores and once on S3 stores, with the real
servers: each gateway its own js-ipfs daemon, or its own SeaweedFS bucket with credentials
that reach that bucket only. And an off-site backup at an alliance backup centre (an S3
endpoint, no gateway): written with every blob, never read, restored from on request."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from sharing_api.gateway.local import running_gateway
from sharing_api.sdk import ApiError, SharingClient
from sharing_api.storage import servers
from sharing_api.storage.config import StorageConfig, load_config, open_storage
from sharing_api.storage.errors import NotFoundError
from sharing_api.storage.replicated import ReplicatedStorage
from sharing_api.storage.s3 import S3Storage
from tests.gateway.conftest import Gateways, start_gateways
from tests.support.api import TestAlliance as LedgerAlliance
from tests.support.api import running_ledger_alliance
from tests.support.ipfs import require_jsipfs
from tests.support.seaweed import weed_binary

pytestmark = pytest.mark.integration
POLICY = "h1.role:doctor or c1.role:doctor"
Tables = Callable[[str], dict[str, Any]]


@pytest.fixture(scope="module")
def alliance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerAlliance]:
    with running_ledger_alliance(tmp_path_factory.mktemp("chain")) as running:
        yield running


@contextmanager
def ipfs_stores(root: Path) -> Iterator[Tables]:
    """One js-ipfs daemon per gateway, as each institution runs its own node."""
    require_jsipfs()
    with servers.ipfs_daemon(root / "ipfs-h1") as h1, servers.ipfs_daemon(root / "ipfs-cloud") as c:
        nodes = {"h1": h1, "cloud": c}
        yield lambda name: {"backend": "ipfs", "ipfs_api": nodes[name].api_url}


@contextmanager
def s3_stores(root: Path) -> Iterator[Tables]:
    """One SeaweedFS, a bucket per gateway, credentials that reach that bucket only."""
    weed_binary()
    buckets = {"h1": "records-h1", "cloud": "records-cloud"}
    with servers.seaweedfs(root / "s3", identities=buckets) as s3:

        def table(name: str) -> dict[str, Any]:
            creds = s3.credentials[name]
            return {
                "backend": "s3",
                "s3_endpoint": s3.endpoint,
                "s3_bucket": buckets[name],
                "s3_access_key": creds.access_key,
                "s3_secret_key": creds.secret_key,
            }

        yield table


@contextmanager
def gateways_on(alliance: LedgerAlliance, tables: Tables, root: Path) -> Iterator[Gateways]:
    h1, cloud = start_gateways(root, alliance, storage=tables)
    with running_gateway(h1), running_gateway(cloud):
        yield Gateways.with_known_patient(alliance, h1, cloud)


def _publish(g: Gateways, payload: bytes) -> tuple[int, str, bytes]:
    clinic_doctor = g.member("clinic").staff_client("dr-zhao", "doctor", ["dept:gp"])
    params = [clinic_doctor.authority_params(a) for a in ("c1", "h1")]
    sealed = SharingClient.seal(payload, POLICY, params)
    rec = clinic_doctor.upload(g.patient.address, "summary", POLICY, sealed)
    return int(rec["record_id"]), str(rec["cid"]), sealed


def _consent(g: Gateways) -> None:
    wallet = g.client(g.h1, g.patient.key)
    wallet.grant_consent(
        g.patient.key,
        grantee=g.alliance.address("h1"),
        categories=["summary"],
        purposes=["treatment"],
    )


def _holds(tables: Tables, name: str, cid: str) -> bool:
    store = open_storage(StorageConfig.model_validate(tables(name)))
    try:
        return store.has(cid)
    finally:
        store.close()


@pytest.mark.parametrize("stores", [ipfs_stores, s3_stores], ids=["ipfs", "s3"])
def test_cross_gateway_flow_on_real_stores(
    alliance: LedgerAlliance, stores: Callable[[Path], Any], tmp_path: Path
) -> None:
    payload = b'{"resourceType": "Bundle", "type": "document", "id": "on-real-stores"}'
    with stores(tmp_path / "servers") as tables, gateways_on(alliance, tables, tmp_path) as g:
        record_id, cid, sealed = _publish(g, payload)
        doctor = g.member("h1").staff_client("dr-chen", "doctor", ["dept:cardiology"])
        with pytest.raises(ApiError) as refused:
            doctor.fetch(record_id)
        assert refused.value.status == 403  # no consent yet

        _consent(g)
        data, _ = doctor.fetch(record_id)
        assert data == sealed
        assert SharingClient.open(data, doctor.issue_my_key()) == payload
        # The ciphertext lives in the custodian's store only: h1 streamed it, kept nothing.
        assert _holds(tables, "cloud", cid)
        assert not _holds(tables, "h1", cid)

        clinic_doctor = g.member("clinic").staff_client("dr-zhao", "doctor", ["dept:gp"])
        own, headers = clinic_doctor.fetch(record_id)  # the custodian reads its own record
        assert own == sealed and int(headers["x-access-id"]) > 0


def test_s3_credentials_reach_only_their_own_bucket(tmp_path: Path) -> None:
    weed_binary()
    buckets = {"h1": "records-h1", "cloud": "records-cloud"}
    with servers.seaweedfs(tmp_path / "s3", identities=buckets) as s3:
        cloud = s3.credentials["cloud"]
        info = S3Storage(
            "records-cloud",
            endpoint_url=s3.endpoint,
            access_key=cloud.access_key,
            secret_key=cloud.secret_key,
        ).put(b"cloud's ciphertext")
        h1 = s3.credentials["h1"]
        intruder = S3Storage(
            "records-cloud",
            endpoint_url=s3.endpoint,
            access_key=h1.access_key,
            secret_key=h1.secret_key,
            create_bucket=False,
        )
        with pytest.raises(ConnectionError, match="AccessDenied"):
            intruder.get_bytes(info.cid)


# --- an alliance backup centre ---


def _restore(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sharing_api.cli", "storage", "--config", str(config), "restore"],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_backup_centre_gets_every_write_serves_no_read_and_restores_verified(
    alliance: LedgerAlliance, tmp_path: Path
) -> None:
    """The cloud gateway keeps its records in its local store with the alliance backup
    centre as backup. The backup centre is only an S3 endpoint (SeaweedFS): it runs no
    gateway, has no directory entry, and members never read from it."""
    weed_binary()
    with servers.seaweedfs(tmp_path / "backup-centre", identities={"cloud": "backup-cloud"}) as bc:
        creds = bc.credentials["cloud"]
        backup = {
            "backend": "s3",
            "s3_endpoint": bc.endpoint,
            "s3_bucket": "backup-cloud",
            "s3_access_key": creds.access_key,
            "s3_secret_key": creds.secret_key,
        }
        primary_root = tmp_path / "cloud-primary"

        def tables(name: str) -> dict[str, Any]:
            if name == "h1":
                return {"backend": "local", "local_root": str(tmp_path / "h1-store")}
            return {"backend": "local", "local_root": str(primary_root), "backup": backup}

        centre = S3Storage(
            "backup-cloud",
            prefix="records/",
            endpoint_url=bc.endpoint,
            access_key=bc.access_key,  # the centre's operator, to look inside
            secret_key=bc.secret_key,
        )
        with gateways_on(alliance, tables, tmp_path) as g:
            payload = b'{"resourceType": "Bundle", "id": "backed-up"}'
            record_id, cid, sealed = _publish(g, payload)
            # The write landed in the backup centre, as ciphertext (what the gateway stored).
            assert centre.get_bytes(cid) == sealed
            assert payload not in sealed

            # The primary loses the blob: reads do NOT fall back to the backup.
            primary = open_storage(load_config(g.cloud.config))
            assert isinstance(primary, ReplicatedStorage) and primary.backups
            primary.replicas[0].delete(cid)
            with pytest.raises(NotFoundError, match=r"backup serves no reads.*restore"):
                primary.get(cid)
            clinic_doctor = g.member("clinic").staff_client("dr-zhao", "doctor", ["dept:gp"])
            with pytest.raises(ApiError) as missing:
                clinic_doctor.fetch(record_id)
            assert missing.value.status == 404
            assert "missing" in missing.value.problem["detail"]
            assert centre.has(cid)  # still only in the backup

            # The member restores from the backup; every blob is verified against its CID.
            done = _restore(g.cloud.config)
            assert done.returncode == 0, done.stderr
            assert f"restored {cid} (verified)" in done.stdout
            assert "1 restored, 0 already present, 0 failed" in done.stdout
            data, _ = clinic_doctor.fetch(record_id)
            assert data == sealed
            again = _restore(g.cloud.config)
            assert "0 restored, 1 already present" in again.stdout

            # A damaged copy at the backup centre is refused, and nothing unverified lands.
            primary.replicas[0].delete(cid)
            centre._s3.put_object(Bucket="backup-cloud", Key=f"records/{cid}", Body=sealed[::-1])
            bad = _restore(g.cloud.config)
            assert bad.returncode == 1
            assert f"failed   {cid}: integrity check failed" in bad.stderr
            assert not primary.replicas[0].has(cid)

            # Erasure reaches the backup centre too.
            primary.put(sealed)
            assert primary.delete(cid)
            assert not centre.has(cid)
            primary.close()
        centre.close()


def test_missing_server_binaries_are_one_line_naming_make_setup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    empty = tempfile.mkdtemp(prefix="no-bin-")
    monkeypatch.setattr(servers, "REPO_ROOT", Path(empty))
    monkeypatch.setattr(sys, "executable", str(Path(empty) / "python"))
    monkeypatch.setenv("PATH", empty)
    monkeypatch.delenv("ALLIANCE_JSIPFS", raising=False)
    monkeypatch.delenv("ALLIANCE_WEED", raising=False)
    for find in (servers.jsipfs_binary, servers.weed_binary):
        with pytest.raises(servers.ServerNotInstalledError, match=r"run `make setup`$"):
            find()
