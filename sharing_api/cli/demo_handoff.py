"""What `alliance demo` leaves for a newcomer to carry on from: the demo passphrase, which
key file is which member, the regulator's and the patients' keys, and the shell variables
the README's hospital section uses (``demo.env``, ``README-demo.txt`` and a printed block).

Everything here is demo-only: throwaway keys on a throwaway chain, kept on disk 0600 so that
a person can sign in as any member, the regulator or a patient.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click
from eth_account import Account

from crypto.files import atomic_output
from sharing_api.api.core.config import HostedMember
from sharing_api.api.core.keys import read_passphrase_file, seal_ledger_key
from sharing_api.cli.alliance_demo import INSTITUTIONS, REGULATOR, DemoAlliance

PASSPHRASE_FILE = "demo-passphrase"
KEYS_DIR = "demo-only-keys"
ENV_FILE = "demo.env"
README_FILE = "README-demo.txt"
README_SECTION = 'README.md, "The sharing API and the hospital CLI"'


@dataclass(frozen=True)
class Variable:
    name: str
    value: str  # shell text, already quoted
    note: str = ""

    def line(self) -> str:
        text = f"export {self.name}={self.value}"
        return f"{text:<72} # {self.note}" if self.note else text


@dataclass(frozen=True)
class MemberFiles:
    member_id: str
    name: str
    address: str
    gateway: str
    key_file: Path
    passphrase_file: Path  # what unlocks key_file


def _write(path: Path, text: str, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, mode=mode) as handle:
        handle.write(text.encode())
    return path


def _members(world: DemoAlliance, demo_passphrase: Path) -> list[MemberFiles]:
    """Each member's ledger key file as its gateway's gateway.json names it, and what unlocks
    it: a hosted clinic's own passphrase file, else the demo passphrase."""
    names = {aid: name for aid, name, _ in INSTITUTIONS}
    out = []
    for gateway_name, gateway in world.gateways.items():
        config = json.loads(gateway.config.read_text())
        for entry in config.get("members", []):
            member = HostedMember.model_validate(entry)
            # Named by its authority id, else as seal_hosted_member names its key file (the
            # regulator is authority "reg" but member "regulator").
            aid = member.authority or ""
            if aid not in world.address:
                aid = Path(member.key_file).name.split(".")[0]
            unlock = Path(member.passphrase_file) if member.passphrase_file else demo_passphrase
            out.append(
                MemberFiles(
                    aid,
                    names.get(aid, aid),
                    world.address[aid],
                    gateway_name,
                    Path(member.key_file),
                    unlock,
                )
            )
    return out


def _rel(root: Path, path: Path) -> str:
    """A path under the demo directory as shell text relative to $DEMO."""
    try:
        return '"$DEMO/' + path.resolve().relative_to(root.resolve()).as_posix() + '"'
    except ValueError:
        return shlex.quote(str(path))


def write_handoff(world: DemoAlliance, root: Path) -> list[Variable]:
    """Write the demo passphrase, the regulator's and the patients' keys, ``demo.env`` and
    ``README-demo.txt`` into ``root``; return the shell variables (in order)."""
    if world.facts is None:
        raise ValueError("the scenario has not run: nothing to hand over")
    first = next(iter(world.gateways.values()))
    passphrase = read_passphrase_file(first.passphrase_file)
    demo_passphrase = _write(root / PASSPHRASE_FILE, passphrase + "\n", 0o600)
    keys_dir = root / KEYS_DIR
    regulator_key = keys_dir / "regulator.ledger.key"
    regulator_key.unlink(missing_ok=True)  # a rerun in the same directory: a new chain
    keys_dir.mkdir(parents=True, exist_ok=True)
    seal_ledger_key(regulator_key, world.keys["regulator"], passphrase)
    patients = []
    for i, key in enumerate(world.facts.patient_keys, start=1):
        path = _write(keys_dir / f"patient-{i}.key", key + "\n", 0o600)
        patients.append((Account.from_key(key).address, path))

    members = {m.member_id: m for m in _members(world, demo_passphrase)}
    v: list[Variable] = [
        Variable("DEMO", shlex.quote(str(root.resolve())), "this directory"),
        Variable(
            "ALLIANCE_PASSPHRASE",
            f'"$(cat {_rel(root, demo_passphrase)})"',
            "unlocks h1's, pj's and the regulator's key files",
        ),
    ]
    for name, gateway in world.gateways.items():
        hosts = ", ".join(m for m, g in world.home.items() if g == name)
        v.append(
            Variable(f"{name.upper()}_URL", shlex.quote(gateway.url), f"gateway {name}: {hosts}")
        )
        if gateway.cert is not None:
            v.append(Variable(f"{name.upper()}_CA", _rel(root, gateway.cert)))
    v.append(Variable("ALLIANCE_API_URL", '"$H1_URL"', "the CLI talks to h1's gateway..."))
    v.append(Variable("ALLIANCE_API_CA", '"$H1_CA"', "...and trusts its certificate"))
    for aid in ("h1", "pj", "xq"):
        m = members[aid]
        v.append(Variable(aid.upper(), m.address, m.name))
        v.append(Variable(f"{aid.upper()}_KEY", _rel(root, m.key_file), f"{aid}'s ledger key"))
    v.append(
        Variable(
            "XQ_PASSPHRASE_FILE",
            _rel(root, members["xq"].passphrase_file),
            "xq's keys are sealed under this one",
        )
    )
    v.append(Variable("REGULATOR", world.address["regulator"], REGULATOR))
    v.append(Variable("REGULATOR_KEY", _rel(root, regulator_key), "sealed (ALLIANCE_PASSPHRASE)"))
    for i, (address, path) in enumerate(patients, start=1):
        suffix = "" if i == 1 else str(i)
        note = f"has record {world.facts.record_id}" if i == 1 else "no records yet"
        v.append(Variable(f"PATIENT{suffix}", address, f"a patient wallet ({note})"))
        v.append(Variable(f"PATIENT{suffix}_KEY", _rel(root, path), "plain 0x-hex, demo only"))
    v.append(Variable("RECORD", str(world.facts.record_id), "the demo's record of $PATIENT"))

    _write(root / ENV_FILE, "".join(f"{x.line()}\n" for x in v))
    _write(
        root / README_FILE,
        _readme(root, v, list(members.values()), world.address["regulator"], patients),
    )
    return v


def _readme(
    root: Path,
    v: list[Variable],
    members: list[MemberFiles],
    regulator: str,
    patients: list[tuple[str, Path]],
) -> str:
    def rel(path: Path) -> str:
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            return str(path)

    rows = [
        f"  {m.member_id:<4} {m.address}  gateway {m.gateway:<6} {rel(m.key_file)}"
        f"  (unlocked by {rel(m.passphrase_file)})  {m.name}"
        for m in members
    ]
    return "\n".join(
        [
            "AllianceLedger demo: what it left in this directory.",
            "",
            "DEMO ONLY: throwaway keys on a throwaway chain. The keys here are kept so that you",
            "can act as any member, the regulator or a patient; never reuse them.",
            "",
            "The commands below need the demo running: `alliance demo --workdir DIR",
            "--keep-running` keeps its ledger node and gateways up until Ctrl-C or SIGTERM",
            "(the chain and the gateways' ports do not survive a restart).",
            "",
            "Files",
            f"  {PASSPHRASE_FILE:<36} the passphrase sealing h1's, pj's, the regulator's "
            "and every gateway's keys",
            f"  {ENV_FILE:<36} the variables below: `. {root / ENV_FILE}`",
            f"  {KEYS_DIR + '/regulator.ledger.key':<36} the regulator's ledger key "
            f"(sealed under {PASSPHRASE_FILE})",
            *(
                f"  {rel(path):<36} a patient's wallet key {address} (plain 0x-hex)"
                for address, path in patients
            ),
            f"  {'alliance/deployment.json':<36} the contracts' addresses",
            f"  {'alliance/gateways/NAME/':<36} each gateway's operator files: gateway.json, "
            "keys/ (sealed), tls/cert.pem, passphrase, store, index, gateway.log",
            "",
            "Members: ledger key file (sealed) and what unlocks it",
            *rows,
            f"  reg  {regulator}  gateway reg    {KEYS_DIR}/regulator.ledger.key"
            f"  (unlocked by {PASSPHRASE_FILE})"
            f"  {REGULATOR}",
            "",
            "Variables (paste them into a shell, or `. demo.env`)",
            *(f"  {x.line()}" for x in v),
            "",
            f"Then follow {README_SECTION}: every command there runs",
            "as written against this demo (tests/cli/test_readme_flow.py checks that it does).",
            "",
        ]
    )


def hand_off(
    world: DemoAlliance,
    root: Path,
    *,
    kept: bool,
    running: bool,
    echo: Callable[[str], None] = click.echo,
) -> None:
    """Write the hand-off files and say, at the end of the demo, how to carry on."""
    variables = write_handoff(world, root)
    echo("")
    if not kept and not running:
        click.secho("Nothing is kept: the demo ran in a temporary directory.", bold=True)
        echo("To carry on from it (keys, passphrases, running gateways and the commands):")
        echo("  alliance demo --workdir DIR --keep-running")
        return
    click.secho(f"Carry on from the demo: {root / README_FILE} says which file is what.", bold=True)
    echo(f"  demo passphrase: {root / PASSPHRASE_FILE} (0600)")
    echo(f"  regulator's and patients' keys: {root / KEYS_DIR}/ (0600, demo only)")
    if not running:
        echo("The gateways and the ledger node stop with the demo; to use the commands in")
        echo(f"{root / README_FILE}, run: alliance demo --workdir DIR --keep-running")
        return
    if not kept:
        echo("  (a temporary directory, deleted when the demo stops: --workdir DIR keeps it)")
    echo(f"Paste these lines into a shell (or: . {root / ENV_FILE}), then follow")
    echo(f"{README_SECTION}:")
    echo("")
    for x in variables:
        echo(x.line())
