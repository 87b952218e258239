"""The README's hospital section, command by command, against `alliance demo --workdir DIR
--keep-running`, as a newcomer would follow it: paste the variables the demo prints into a
shell, then type each command of the marked block. So the README cannot drift from the
product: a renamed option, a changed output or an id the demo no longer leaves fails here."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from crypto.keystore import read_key_file
from sharing_api.api.core.keys import LEDGER_KIND
from tests.cli.test_demo import _ours, _port_open

ROOT = Path(__file__).resolve().parents[2]
BEGIN = "<!-- hospital-flow: begin"
END = "<!-- hospital-flow: end -->"


def readme_flow(readme: Path = ROOT / "README.md") -> list[str]:
    """The commands of the README's marked hospital block: comment-only and blank lines
    dropped, backslash-continued lines joined into one command."""
    text = readme.read_text()
    start = text.index(BEGIN)
    block = text[start : text.index(END, start)]
    fenced = re.search(r"```sh\n(.*?)```", block, re.DOTALL)
    assert fenced is not None, "the hospital-flow markers hold no ```sh block"
    commands: list[str] = []
    pending = ""
    for line in fenced.group(1).splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line + "\n"
        if not line.endswith("\\"):
            commands.append(pending.rstrip("\n"))
            pending = ""
    assert not pending, f"a command ends in a backslash: {pending!r}"
    return commands


@dataclass
class Ran:
    command: str
    status: int
    out: str
    err: str


class Shell:
    """One bash session fed command after command, as a person types them: variables and
    exports carry over; each command's stdout and stderr are kept apart."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd = cwd
        self.n = 0
        self.proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            text=True,
            start_new_session=True,
        )
        # Stricter than a terminal: an unset variable or a failure inside a pipeline counts.
        self._send("set -u -o pipefail\n")

    def _send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def run(self, command: str, timeout: float = 120.0) -> Ran:
        self.n += 1
        out, err = self.cwd / f".cmd{self.n}.out", self.cwd / f".cmd{self.n}.err"
        marker = f"__done_{self.n}__"
        self._send(f"{{\n{command}\n}} >{out} 2>{err}\necho {marker} $?\n")
        assert self.proc.stdout is not None
        line, deadline = "", time.monotonic() + timeout
        while not line.startswith(marker):
            assert time.monotonic() < deadline, f"no answer within {timeout:g} s: {command}"
            ready, _, _ = select.select([self.proc.stdout], [], [], 1.0)
            if ready:
                line = self.proc.stdout.readline()
                assert line, f"the shell exited at: {command}\n{_read(err)}"
        return Ran(command, int(line.split()[1]), _read(out), _read(err))

    def value(self, name: str) -> str:
        return self.run(f'printf %s "${name}"').out

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _owner_only(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600


def _demo_block(out: str) -> list[str]:
    """The `export` lines the demo printed for the user to paste."""
    start = out.index("Paste these lines into a shell")
    return [line for line in out[start:].splitlines() if line.startswith("export ")]


# What each README command must show, found by a fragment of its text. Every fragment must
# match exactly one command, so a step dropped from the README fails too.
Check = Callable[[Ran, Shell, Path], None]


def _json(ran: Ran) -> object:
    return json.loads(ran.out)


def _put(ran: Ran, sh: Shell, work: Path) -> None:
    assert "policy: (h1.role:doctor and h1.dept:cardiology) or xq.role:doctor" in ran.err
    assert sh.value("NEW").isdigit() and sh.value("NEW") != sh.value("RECORD")


def _patient_list(ran: Ran, sh: Shell, work: Path) -> None:
    rows = _json(ran)
    assert isinstance(rows, list)
    ids = {str(r["record_id"]) for r in rows}
    assert ids == {sh.value("RECORD"), sh.value("NEW")}, ids


def _grant(ran: Ran, sh: Shell, work: Path) -> None:
    assert sh.value("CONSENT").isdigit()


def _staff(ran: Ran, sh: Shell, work: Path) -> None:
    assert sh.value("DR").count(".") == 2  # a JWT alone on stdout
    assert "staff token for dr-chen@" in ran.err and "h1.dept:cardiology" in ran.err


def _key(ran: Ran, sh: Shell, work: Path) -> None:
    assert _owner_only(work / "dr-chen.key")
    assert "h1.dept:cardiology, h1.role:doctor" in ran.err


def _read_new(ran: Ran, sh: Shell, work: Path) -> None:
    read, sample = work / "bp-read.json", work / "bp.json"
    assert json.loads(read.read_text()) == json.loads(sample.read_text())  # decrypted
    assert _owner_only(read) and "logged on chain" in ran.err


def _read_demo_record(name: str) -> Check:
    def check(ran: Ran, sh: Shell, work: Path) -> None:
        text = (work / name).read_text()
        assert "Chest pain" in text and sh.value("PATIENT") in text  # the demo's record
        assert _owner_only(work / name)

    return check


def _revoke(ran: Ran, sh: Shell, work: Path) -> None:
    out = _json(ran)
    assert isinstance(out, dict) and out["revoked"] is True


def _refused(ran: Ran, sh: Shell, work: Path) -> None:
    lines = ran.err.strip().splitlines()
    assert ran.status == 1 and len(lines) == 1, ran.err
    assert lines[0].startswith("error: API 403: no live consent"), lines
    assert not (work / "again.json").exists()


def _propose(ran: Ran, sh: Shell, work: Path) -> None:
    assert sh.value("PROPOSAL").isdigit()


def _inbox(ran: Ran, sh: Shell, work: Path) -> None:
    rows = _json(ran)
    assert isinstance(rows, list)
    assert [(str(p["proposal_id"]), p["status"]) for p in rows] == [
        (sh.value("PROPOSAL"), "pending")
    ]


def _proposal_accepted(ran: Ran, sh: Shell, work: Path) -> None:
    assert sh.value("REFERRAL").isdigit()
    assert f"referral {sh.value('REFERRAL')} created on chain" in ran.err


def _status(expected: str) -> Check:
    def check(ran: Ran, sh: Shell, work: Path) -> None:
        out = _json(ran)
        assert isinstance(out, dict) and out["status"] == expected, out

    return check


def _regulator_sees(ran: Ran, sh: Shell, work: Path) -> None:
    rows = _json(ran)
    assert isinstance(rows, list)
    revoked = {str(c["consent_id"]): c["revoked"] for c in rows}
    # The demo's own consent (revoked by its scenario) and the README's, revoked in step 4.
    assert len(revoked) == 2 and revoked[sh.value("CONSENT")] is True, revoked


CHECKS: dict[str, Check] = {
    "alliance record put": _put,
    'record list --key-file "$PATIENT_KEY"': _patient_list,
    "alliance consent grant": _grant,
    "alliance staff token": _staff,
    "alliance record key": _key,
    'record get "$NEW"': _read_new,
    "--out chest-pain.json": _read_demo_record("chest-pain.json"),
    "alliance consent revoke": _revoke,
    "--out again.json": _refused,
    "alliance referral propose": _propose,
    'referral proposals --key-file "$PATIENT_KEY"': _inbox,
    "alliance referral proposal-accept": _proposal_accepted,
    "alliance referral accept": _status("accepted"),
    "--out referred.json": _read_demo_record("referred.json"),
    "alliance referral complete": _status("completed"),
    'consent list --patient "$PATIENT" --key-file "$REGULATOR_KEY"': _regulator_sees,
}


def test_the_flow_is_read_from_the_marked_block() -> None:
    commands = readme_flow()
    for fragment in CHECKS:
        assert sum(fragment in c for c in commands) == 1, fragment
    assert all(c.splitlines()[0].split("#")[0].strip() for c in commands)  # no comment lines


def _start_demo(tmp_path: Path, work: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ALLIANCE_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "sharing_api.cli", "demo", "--keep-running", "--workdir", str(work)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=tmp_path,
        start_new_session=True,
    )


def _wait_for_block(proc: subprocess.Popen[bytes], timeout: float = 240.0) -> str:
    assert proc.stdout is not None
    out, deadline = "", time.monotonic() + timeout
    while "stays up at" not in out:
        assert proc.poll() is None, "demo exited early:\n" + out[-3000:]
        assert time.monotonic() < deadline, "the demo never printed its block:\n" + out[-3000:]
        if select.select([proc.stdout], [], [], 1.0)[0]:
            out += os.read(proc.stdout.fileno(), 65536).decode(errors="replace")
    return out


def _cli_on_path(tmp_path: Path) -> str:
    """A directory whose `alliance` is this checkout's CLI (as `.venv/bin/alliance` is)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "alliance"
    shim.write_text(f'#!/bin/sh\nPYTHONPATH={ROOT} exec {sys.executable} -m sharing_api.cli "$@"\n')
    shim.chmod(0o755)
    return str(bin_dir)


@pytest.mark.integration
@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed (apt-packages.txt)")
def test_readme_hospital_flow_runs_against_a_kept_demo(tmp_path: Path) -> None:
    work, user = tmp_path / "work", tmp_path / "user"
    user.mkdir()
    commands = readme_flow()
    proc = _start_demo(tmp_path, work)
    shell = None
    try:
        out = _wait_for_block(proc)
        assert "FAIL" not in out

        # What the demo kept: the passphrase, the regulator's and the patients' keys (0600).
        passphrase = (work / "demo-passphrase").read_text().strip()
        assert _owner_only(work / "demo-passphrase") and passphrase
        keys = work / "demo-only-keys"
        assert all(_owner_only(p) for p in keys.iterdir()) and len(list(keys.iterdir())) == 3
        regulator = read_key_file(keys / "regulator.ledger.key", LEDGER_KIND, passphrase)
        assert len(regulator) == 32
        assert "DEMO ONLY" in (work / "README-demo.txt").read_text()

        env = {
            "PATH": _cli_on_path(tmp_path) + os.pathsep + os.environ.get("PATH", ""),
            "HOME": str(tmp_path / "home"),
            "ALLIANCE_HOME": str(tmp_path / "home"),
            "LANG": "C.UTF-8",
        }
        shell = Shell(user, env)
        block = _demo_block(out)
        assert any(line.startswith("export PATIENT=") for line in block), block
        for line in block:
            ran = shell.run(line)
            assert ran.status == 0, (line, ran.err)
        # demo.env holds the same variables as the printed block.
        assert (work / "demo.env").read_text().splitlines() == block

        used = set()
        for command in commands:
            ran = shell.run(command)
            expect_refusal = command.rstrip().endswith("# refused")
            if not expect_refusal:
                assert ran.status == 0, f"{command}\nexit {ran.status}\n{ran.err}"
            checks = [(f, c) for f, c in CHECKS.items() if f in command]
            for fragment, check in checks:
                check(ran, shell, user)
                used.add(fragment)
            if expect_refusal:
                assert checks, f"no check says how this command is refused: {command}"
        assert used == set(CHECKS)

        # SIGTERM stops the demo: every gateway and the ledger node, nothing left behind.
        urls = [line.split("=", 1)[1].split()[0] for line in block if "_URL=https" in line]
        assert len(urls) == 4, block
        proc.send_signal(signal.SIGTERM)
        assert proc.stdout is not None
        rest = proc.communicate(timeout=60)[0].decode(errors="replace")
        assert proc.returncode == 0, out[-2000:] + rest
        assert "Stopping the gateways" in rest
        assert not any(_port_open(url) for url in urls)
        assert _ours(str(tmp_path)) == []
    finally:
        if shell is not None:
            shell.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        for pid in _ours(str(tmp_path)):  # only if the test failed: the processes it started
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if proc.stdout is not None:
            proc.stdout.close()
