"""The offline compile pipeline: the committed artifacts are exactly what the sources build."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from contracts import build
from sharing_api.chain.artifacts import CONTRACT_NAMES, decode_revert, load_artifact

needs_solc = pytest.mark.skipif(
    shutil.which("node") is None or not (build.REPO / "node_modules" / "solc").is_dir(),
    reason="node or npm solc not installed (run `make setup`)",
)


@needs_solc
def test_rebuild_is_byte_identical_to_committed_artifacts(tmp_path: Path) -> None:
    written = build.build(out_dir=tmp_path)
    assert sorted(p.name for p in written) == sorted(f"{n}.json" for n in CONTRACT_NAMES)
    for path in written:
        committed = build.ARTIFACTS / path.name
        assert path.read_bytes() == committed.read_bytes(), f"{path.name} differs: rebuild it"
    assert sorted(p.name for p in build.ARTIFACTS.glob("*.json")) == sorted(p.name for p in written)
    # `alliance contracts build --check` notices a hand-edited or stale artifact.
    edited = tmp_path / "AccessLog.json"
    edited.write_bytes(edited.read_bytes().replace(b'"cancun"', b'"osaka"'))
    (tmp_path / "Removed.json").write_text("{}")
    assert build.check(out_dir=tmp_path) == ["AccessLog.json", "Removed.json"]


@needs_solc
def test_compile_error_is_a_clear_value_error(tmp_path: Path) -> None:
    (tmp_path / "Broken.sol").write_text("pragma solidity ^0.8.28; contract Broken { uint x = ; }")
    with pytest.raises(build.CompileError, match="ParserError"):
        build.compile_sources(tmp_path)


def test_artifacts_pin_the_evm_version_and_compiler() -> None:
    for name in CONTRACT_NAMES:
        data = json.loads((build.ARTIFACTS / f"{name}.json").read_text())
        assert data["evmVersion"] == "cancun"
        assert data["compiler"].startswith("solc-js 0.8.37+commit.")
        metadata = json.loads(data["metadata"])
        assert metadata["settings"]["evmVersion"] == "cancun"
        assert data["bytecode"].startswith("0x6") and len(data["bytecode"]) > 1000


def test_alliance_registry_keeps_the_interface_the_ledger_node_calls() -> None:
    abi = load_artifact("AllianceRegistry").abi
    functions = {
        (f["name"], tuple(i["type"] for i in f["inputs"])): f
        for f in abi
        if f["type"] == "function"
    }
    is_member = functions[("isMember", ("address",))]
    assert is_member["stateMutability"] == "view"
    assert [o["type"] for o in is_member["outputs"]] == ["bool"]
    assert ("rolesOf", ("address",)) in functions
    assert ("hasRole", ("address", "uint8")) in functions


def test_unknown_revert_data_is_reported_not_swallowed() -> None:
    err = decode_revert("0xdeadbeef")
    assert err.name == "Reverted" and "0xdeadbeef" in str(err)
    assert isinstance(err, ValueError)


def test_signing_uses_the_coincurve_backend() -> None:
    # eth-account falls back to a pure-Python backend (~5x slower per signature) silently.
    from eth_keys.backends import get_backend

    assert type(get_backend()).__name__ == "CoinCurveECCBackend"
