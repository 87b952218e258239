"""The restore drill: one member's node is backed up while the network produces, then
destroyed (data directory and all); an operator restores the older backup with the sealer
key from their key safe, starts the node, and it catches up from the network. Every
acknowledged transaction is there and the restored chain verifies from genesis."""

from __future__ import annotations

import shutil
from functools import partial
from pathlib import Path

import pytest

from ledger_node.backup import read_manifest
from sharing_api.cli.main import main
from tests.network.test_faults import MEMBERS, Sender, same_head
from tests.support.etcd import requires_etcd
from tests.support.network import local_network, wait_for

pytestmark = [pytest.mark.integration, requires_etcd, pytest.mark.timeout(240)]


def test_restore_drill_loses_nothing_acknowledged(tmp_path: Path) -> None:
    with local_network(3, blockTimeMs=50) as net:
        wait_for("a producer", net.producer, 15)
        victim = next(n for n in MEMBERS if n != net.producer())
        others = [n for n in MEMBERS if n != victim]
        data = net.net.data_dir(victim)
        safe = tmp_path / "key-safe" / "node.key"  # the operator keeps the key apart
        safe.parent.mkdir()
        shutil.copy2(data / "node.key", safe)

        sender = Sender(net, net.member_key(others[0]), [victim, *others])
        sender.start()
        wait_for("some traffic", lambda: len(sender.acked) > 30, 20)
        archive = tmp_path / "backup.tar.gz"
        # Online: the node keeps applying blocks while the snapshot is taken.
        assert main(["node", "backup", "--data-dir", str(data), "--out", str(archive)]) == 0
        backed_up = read_manifest(archive).head_number
        wait_for("more traffic after the backup", lambda: len(sender.acked) > 90, 30)
        assert net.height(others[0]) > backed_up, "the chain moved on after the backup"

        net.kill(victim)
        shutil.rmtree(data)  # the member's node is gone, disk and all
        wait_for("traffic without the victim", lambda: len(sender.acked) > 130, 30)
        sender.halt.set()
        sender.join(10)

        assert (
            main(
                [
                    "node",
                    "restore",
                    str(archive),
                    "--data-dir",
                    str(data),
                    "--key",
                    str(safe),
                ]
            )
            == 0
        )
        net.start(victim)
        wait_for("the restored node catching up", lambda: same_head(net, MEMBERS), 60)
        last = sender.acked[-1]
        wait_for("the last receipt on the restored node", partial(net.receipt, victim, last), 30)
        missing = [h for h in sender.acked if net.receipt(victim, h) is None]
        assert not missing, f"the restored node lacks {len(missing)} acknowledged transactions"
        print(
            f"backup at block {backed_up}; restored node caught up to {net.height(victim)}; "
            f"{len(sender.acked)} acknowledged transactions all present"
        )
        net.stop(victim)  # verify its store at rest: every seal, link and state commitment
        assert main(["node", "verify", "--data-dir", str(data)]) == 0
