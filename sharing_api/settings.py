"""One way to load settings: defaults < a config file < ``PREFIX_<FIELD>`` environment
variables < explicit overrides (command-line flags), validated by a pydantic model.

The gateway's settings (``api/core/config.py``) and the record store's
(``storage/config.py``) both load through ``layered``; a config file may be JSON or TOML
(by its suffix), optionally with the settings under one table (``[storage]``).
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def alliance_home() -> Path:
    """Where configuration and data live unless a flag says otherwise."""
    return Path(os.environ.get("ALLIANCE_HOME", "~/.alliance")).expanduser()


def read_settings_file(path: Path, section: str | None = None) -> dict[str, Any]:
    """The settings in a JSON or TOML file (``section``: the table holding them)."""
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".toml":
            values: Any = tomllib.loads(text)
        else:
            values = json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        kind = "TOML" if path.suffix == ".toml" else "JSON"
        raise ValueError(f"{path}: not {kind}: {exc}") from None
    if section is not None and path.suffix == ".toml":
        values = values.get(section, {})
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a table of settings")
    return values


def validation_problems(exc: ValidationError) -> str:
    """One line, and never the offending input: it may be a secret pasted into a config."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
    )


def layered(
    model: type[M],
    *,
    env_prefix: str,
    file_values: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    not_from_env: Collection[str] = (),
    what: str = "settings",
) -> M:
    """Merge the layers (``None`` overrides are ignored) and validate once."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = dict(file_values or {})
    for name in model.model_fields:
        env = environ.get(f"{env_prefix}{name.upper()}")
        if env is not None and name not in not_from_env:
            values[name] = env
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise ValueError(f"bad {what}: {validation_problems(exc)}") from None


def settings_file(
    explicit: Path | None, default: Path, section: str | None = None
) -> dict[str, Any]:
    """The explicit file (which must exist), else the default one if present, else {}."""
    path = explicit or default
    if path.exists():
        return read_settings_file(path, section)
    if explicit is not None:
        raise FileNotFoundError(f"config file not found: {path}")
    return {}
