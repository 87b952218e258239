"""The persisted token-signing secret: created once (0600, atomically), reused, shared by
worker processes starting together, refused when readable by others; a configured one wins."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from sharing_api.api.core.config import ApiSettings
from sharing_api.api.core.jwt_secret import FILE_NAME, load_or_create, token_secret

REPO = Path(__file__).resolve().parents[2]


def test_created_once_and_reused(tmp_path: Path) -> None:
    state = tmp_path / "api"
    first = load_or_create(state)
    path = state / FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == 64 and first in path.read_text()
    assert load_or_create(state) == first
    assert not [p for p in state.iterdir() if p.name.endswith(".partial")]


def test_configured_secret_wins(tmp_path: Path) -> None:
    settings = ApiSettings(state_dir=str(tmp_path / "api"), jwt_secret="s" * 40)
    assert token_secret(settings) == "s" * 40
    assert not (tmp_path / "api" / FILE_NAME).exists()
    generated = token_secret(ApiSettings(state_dir=str(tmp_path / "api")))
    assert generated != "s" * 40 and (tmp_path / "api" / FILE_NAME).exists()
    with pytest.raises(ValueError, match="at least 32"):
        ApiSettings(jwt_secret="short")


def test_unsafe_or_empty_files_are_refused(tmp_path: Path) -> None:
    load_or_create(tmp_path)
    path = tmp_path / FILE_NAME
    os.chmod(path, 0o644)
    with pytest.raises(ValueError, match="readable by others"):
        load_or_create(tmp_path)
    os.chmod(path, 0o600)
    path.write_text("tiny\n")
    with pytest.raises(ValueError, match="no usable secret"):
        load_or_create(tmp_path)


def test_workers_starting_together_agree(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path;"
        "from sharing_api.api.core.jwt_secret import load_or_create;"
        "print(load_or_create(Path(sys.argv[1])))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path / "api")],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for _ in range(4)
    ]
    secrets = {proc.communicate(timeout=60)[0].strip() for proc in procs}
    assert len(secrets) == 1 and len(secrets.pop()) == 64
