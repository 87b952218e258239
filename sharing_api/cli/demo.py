"""`alliance demo`: the alliance scenario, step by step, with readable output.

What exists so far is the record-encryption core: a township clinic's FHIR R4 bundle is
encrypted under a CP-ABE policy spanning two attribute authorities, opened by readers whose
attributes satisfy it, refused to one whose attributes do not, refused to an expired key,
and re-wrapped for a new reader without touching the encrypted body. Exit status 0 only if
every step behaved as expected.
"""

from __future__ import annotations

import io
import json
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from crypto.authority import AttributeAuthority, UserKey
from crypto.errors import DecryptionError
from crypto.expiry import current_epoch, date_of
from crypto.header import RecordHeader, rewrap
from crypto.records import decrypt_record, encrypt_record
from crypto.suite import suite_by_name
from sharing_api.fhir import chest_pain_bundle, validate_resource


class Scenario:
    def __init__(self) -> None:
        self.failures: list[str] = []
        self.step_no = 0

    def step(self, title: str) -> None:
        self.step_no += 1
        click.secho(f"\n[{self.step_no}] {title}", bold=True)

    def expect(self, description: str, ok: bool) -> None:
        mark = click.style("ok  ", fg="green") if ok else click.style("FAIL", fg="red")
        click.echo(f"    {mark} {description}")
        if not ok:
            self.failures.append(description)


def _try_read(header: RecordHeader, body: bytes, key: UserKey) -> tuple[bytes | None, str]:
    out = io.BytesIO()
    try:
        decrypt_record(header, io.BytesIO(body), out, key)
    except DecryptionError as exc:
        return None, str(exc)
    return out.getvalue(), ""


def run_record_scenario(
    workdir: Path, echo: Callable[[str], None] = click.echo, suite: str = "aes-256-gcm"
) -> list[str]:
    s = Scenario()
    today = current_epoch()

    s.step("Attribute authorities: each member issues keys for its own staff")
    h1 = AttributeAuthority.setup("h1")  # City Third People's Hospital (tertiary)
    pj = AttributeAuthority.setup("pj")  # Pujiang County People's Hospital
    for a, name in ((h1, "City Third People's Hospital"), (pj, "Pujiang County People's Hosp.")):
        echo(f"    {a.authority:<3} {name:<32} params {a.params().fingerprint.hex()[:16]}...")
    year = today + 365
    cardiologist = h1.issue_key(["role:doctor", "dept:cardiology"], year, "dr-chen (h1)")
    h1_nurse = h1.issue_key(["role:nurse", "dept:cardiology"], year, "nurse-liu (h1)")
    pj_doctor = pj.issue_key(["role:doctor", "dept:internal-medicine"], year, "dr-wang (pj)")
    expiring = h1.issue_key(["role:doctor", "dept:cardiology"], today, "locum (h1)")
    for key in (cardiologist, h1_nurse, pj_doctor, expiring):
        echo(
            f"    key for {key.subject:<16} {', '.join(key.attributes):<44} "
            f"valid through {date_of(key.expiry_epoch).isoformat()}"
        )

    s.step("A township clinic's FHIR R4 bundle (chest pain), validated before encryption")
    bundle = chest_pain_bundle("0x5a1e0000000000000000000000000000000000b7", "pjx")
    validate_resource(bundle)
    plaintext = json.dumps(bundle, ensure_ascii=False, indent=1).encode()
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    echo(f"    {len(plaintext)} bytes: {', '.join(kinds)}")

    s.step("Encrypt once for many readers across two authorities")
    policy = "(h1.role:doctor and h1.dept:cardiology) or pj.role:doctor"
    body_buffer = io.BytesIO()
    params = [h1.params(), pj.params()]
    header = encrypt_record(
        io.BytesIO(plaintext), body_buffer, policy, params, epoch=today, suite=suite_by_name(suite)
    )
    body = body_buffer.getvalue()
    (workdir / "record.body").write_bytes(body)
    (workdir / "record.header").write_bytes(header.to_bytes())
    echo(f"    policy: {header.policy}")
    echo(f"    cipher suite: {header.suite.name}")
    echo(
        f"    header {len(header.to_bytes())} bytes (data key wrapped for "
        f"{', '.join(w.authority for w in header.wraps)}), body {len(body)} bytes"
    )
    s.expect("the body holds no plaintext", b"Chest pain" not in body)

    s.step("Readers whose attributes satisfy the policy open it")
    for key in (cardiologist, pj_doctor):
        data, _ = _try_read(header, body, key)
        s.expect(f"{key.subject} reads the bundle", data == plaintext)

    s.step("Readers whose attributes do not satisfy it are refused")
    data, reason = _try_read(header, body, h1_nurse)
    s.expect(f"{h1_nurse.subject} is refused: {reason}", data is None)

    s.step("An expired key cannot open a record sealed after its expiry")
    later = encrypt_record(
        io.BytesIO(plaintext), io.BytesIO(), policy, [h1.params(), pj.params()], epoch=today + 1
    )
    data, reason = _try_read(later, b"", expiring)
    s.expect(f"{expiring.subject} (expired) is refused: {reason}", data is None)

    s.step("Re-wrap the header for a new policy; the encrypted body is untouched")
    new_header = rewrap(
        header,
        cardiologist,
        [h1.params(), pj.params()],
        policy="h1.dept:cardiology or pj.role:doctor",
        epoch=today,
    )
    data, _ = _try_read(new_header, body, h1_nurse)
    s.expect(
        f"{h1_nurse.subject} now reads the same body under '{new_header.policy}'", data == plaintext
    )
    s.expect("the old header still refuses the nurse", _try_read(header, body, h1_nurse)[0] is None)
    return s.failures


def _check_unused(workdir: Path) -> None:
    """Refuse a --workdir that an earlier demo already used, before anything runs: its ledger
    node would refuse the chain anyway, half-way through, and its keys are someone's hand-off."""
    used = [
        p
        for p in ("alliance/node", "alliance/network", "alliance/gateways")
        if (workdir / p).exists()
    ]
    if used:
        raise ValueError(
            f"--workdir {workdir} already holds an earlier demo ({used[0]}): "
            "choose a new directory, or remove that one first"
        )


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@click.command()
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the demo's files here (default: a temporary directory).",
)
@click.option(
    "--keep-running",
    is_flag=True,
    help="Leave the gateways up at the end (Ctrl-C or SIGTERM stops them and the ledger).",
)
@click.option("--records-only", is_flag=True, help="Only the record-encryption part.")
@click.option(
    "--storage",
    type=click.Choice(["local", "ipfs", "s3"]),
    default="local",
    show_default=True,
    help="The gateways' record stores: local directories, a js-ipfs daemon per gateway, "
    "or SeaweedFS S3 with a bucket per gateway (the demo starts and stops the servers).",
)
@click.option(
    "--suite",
    type=click.Choice(["aes-256-gcm", "sm4-gcm"]),
    default="aes-256-gcm",
    show_default=True,
    help="The alliance's cipher suite (every gateway's crypto_suite): records and key files "
    "in AES-256-GCM, or SM4-GCM with SM3.",
)
@click.option(
    "--network",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    help="Run the ledger as a local N-member network (etcd x3, N nodes, a regulator "
    "follower) instead of one node.",
)
def demo(
    workdir: Path | None,
    keep_running: bool,
    records_only: bool,
    network: int,
    storage: str,
    suite: str,
) -> None:
    """Run the alliance demo scenario end to end (exit 0 only if every step behaved)."""
    from sharing_api.cli.alliance_demo import run_alliance_scenario
    from sharing_api.cli.demo_handoff import hand_off

    click.secho(
        "AllianceLedger demo: sharing an encrypted FHIR record across the alliance", bold=True
    )

    def hold(world: Any) -> None:
        first, *others = world.gateways.items()
        click.secho(
            f"\nThe {first[0]} gateway stays up at {first[1].url} (Ctrl-C to stop), and "
            + ", ".join(f"{name} at {g.url}" for name, g in others),
            bold=True,
        )
        # SIGTERM (a supervisor, `kill`) stops it like Ctrl-C: the API, the ledger node and
        # the store are shut down on the way out, not left running as orphans.
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _interrupt) if main else None
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            click.echo("Stopping the gateways and the ledger node.")
        finally:
            if main:
                signal.signal(signal.SIGTERM, previous)

    if workdir is not None and not records_only:
        _check_unused(workdir)
    with tempfile.TemporaryDirectory(prefix="alliance-demo-") as tmp:
        target = workdir or Path(tmp)
        target.mkdir(parents=True, exist_ok=True)
        for part in ("records", "alliance"):
            (target / part).mkdir(parents=True, exist_ok=True)
        failures = run_record_scenario(target / "records", suite=suite)
        if not records_only:
            failures += run_alliance_scenario(
                target / "alliance",
                keep_running=hold if keep_running else None,
                network=network,
                storage=storage,
                suite=suite,
                handoff=lambda world: hand_off(
                    world, target, kept=workdir is not None, running=keep_running
                ),
            )
    if failures:
        raise click.ClickException(f"{len(failures)} step(s) did not behave: {failures[0]}")
    click.secho("\nEvery step behaved as expected.", fg="green", bold=True)
