"""Compile the Solidity sources offline and write the committed artifacts.

solc comes from npm (solc-js, pinned in package.json); ``solc_shim.js`` makes it look like a
native ``solc`` so py-solc-x's ``compile_standard`` drives it. The output is deterministic:
rebuilding from the same sources gives byte-identical artifacts, so the service only ever
reads ``contracts/artifacts/*.json`` and never needs node.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "src"
ARTIFACTS = HERE / "artifacts"
SHIM = HERE / "solc_shim.js"
REPO = HERE.parent

# Pinned compiler settings: solc 0.8.37 defaults to osaka, which our nodes do not run.
EVM_VERSION = "cancun"
OPTIMIZER_RUNS = 200


class CompileError(ValueError):
    """The Solidity sources do not compile (the message carries solc's diagnostics)."""


def standard_input(source_dir: Path = SOURCES) -> dict[str, Any]:
    """The solc standard-JSON input: every source inline, sorted, so the build is reproducible."""
    sources = {
        path.name: {"content": path.read_text(encoding="utf-8")}
        for path in sorted(source_dir.glob("*.sol"))
    }
    if not sources:
        raise FileNotFoundError(f"no Solidity sources in {source_dir}")
    return {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "evmVersion": EVM_VERSION,
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "metadata": {"bytecodeHash": "ipfs"},
            "outputSelection": {
                "*": {
                    "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "metadata"]
                }
            },
        },
    }


def _shim_path() -> Path:
    if shutil.which("node") is None:
        raise FileNotFoundError("node is not installed: it is needed only to rebuild artifacts")
    if not (REPO / "node_modules" / "solc").is_dir():
        raise FileNotFoundError("node_modules/solc is missing: run `npm install` (or `make setup`)")
    mode = SHIM.stat().st_mode
    if not mode & stat.S_IXUSR:
        os.chmod(SHIM, mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return SHIM


def compile_sources(source_dir: Path = SOURCES) -> dict[str, dict[str, Any]]:
    """Compile and return {contract name: artifact} for every deployable contract."""
    import solcx  # imported here: py-solc-x is only needed to rebuild
    import solcx.exceptions
    import solcx.wrapper

    shim = _shim_path()
    try:
        output = solcx.compile_standard(standard_input(source_dir), solc_binary=str(shim))
    except solcx.exceptions.SolcError as exc:
        raise CompileError(str(exc)) from exc
    version = solcx.wrapper.get_solc_version(shim, with_commit_hash=True)
    artifacts: dict[str, dict[str, Any]] = {}
    for source_name, contracts in sorted(output["contracts"].items()):
        for name, data in sorted(contracts.items()):
            bytecode = data["evm"]["bytecode"]["object"]
            if (
                not bytecode or not data["abi"]
            ):  # interfaces, abstract contracts, constant libraries
                continue
            if name in artifacts:
                raise CompileError(f"two deployable contracts are named {name}")
            artifacts[name] = {
                "contractName": name,
                "sourceName": source_name,
                "compiler": f"solc-js {version}",
                "evmVersion": EVM_VERSION,
                "abi": data["abi"],
                "bytecode": "0x" + bytecode,
                "deployedBytecode": "0x" + data["evm"]["deployedBytecode"]["object"],
                "metadata": data["metadata"],
            }
    return artifacts


def render(artifact: dict[str, Any]) -> bytes:
    """The exact bytes written for an artifact (stable key order, trailing newline)."""
    return (json.dumps(artifact, indent=2, sort_keys=True) + "\n").encode("utf-8")


def build(source_dir: Path = SOURCES, out_dir: Path = ARTIFACTS) -> list[Path]:
    """Compile and (re)write the artifacts; stale artifacts of removed contracts are deleted."""
    artifacts = compile_sources(source_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, artifact in artifacts.items():
        path = out_dir / f"{name}.json"
        path.write_bytes(render(artifact))
        written.append(path)
    for stale in set(out_dir.glob("*.json")) - set(written):
        stale.unlink()
    return written


def check(source_dir: Path = SOURCES, out_dir: Path = ARTIFACTS) -> list[str]:
    """Rebuild in memory; return the artifact names that differ from those on disk."""
    artifacts = compile_sources(source_dir)
    expected = {f"{name}.json": render(a) for name, a in artifacts.items()}
    on_disk = {p.name: p.read_bytes() for p in out_dir.glob("*.json")}
    return sorted(
        name for name in set(expected) | set(on_disk) if expected.get(name) != on_disk.get(name)
    )
