"""CIDs computed locally: known Kubo vectors, parsing, the DAG's shape."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sharing_api.storage.unixfs import (
    CHUNK_SIZE,
    CID,
    CODEC_DAG_PB,
    CODEC_RAW,
    MAX_LINKS,
    DagBuilder,
    InvalidCIDError,
    compute_cid,
    parse_node,
)

# What `ipfs add` (Kubo, and js-ipfs) reports for these bytes.
KNOWN = [
    (b"", 0, "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"),
    (b"", 1, "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"),
    (b"hello\n", 0, "QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN"),
]


@pytest.mark.parametrize(("data", "version", "expected"), KNOWN)
def test_known_vectors(data: bytes, version: int, expected: str) -> None:
    assert str(compute_cid(data, version)) == expected


def test_v1_single_chunk_is_the_raw_leaf() -> None:
    data = b"x" * CHUNK_SIZE
    cid = compute_cid(data, 1)
    assert cid.codec == CODEC_RAW
    assert cid.digest == hashlib.sha256(data).digest()
    assert str(cid).startswith("bafkrei")


def test_parse_round_trips_and_accepts_base58_v1() -> None:
    for version in (0, 1):
        cid = compute_cid(b"abc" * 100_000, version)
        assert CID.parse(str(cid)) == cid
    v1 = compute_cid(b"abc", 1)
    import base58

    assert CID.parse("z" + base58.b58encode(v1.raw).decode()) == v1


@pytest.mark.parametrize(
    "text", ["", "foo", "Qm" + "1" * 44, "bafy", "../../etc/passwd", "b" + "a" * 60]
)
def test_invalid_cids_are_value_errors(text: str) -> None:
    with pytest.raises(InvalidCIDError):
        CID.parse(text)
    assert issubclass(InvalidCIDError, ValueError)


def _depth(builder_result_cid: CID, inner: dict[str, bytes]) -> int:
    depth, cid = 0, builder_result_cid
    while str(cid) in inner:
        node = parse_node(inner[str(cid)], cid.version)
        cid = node.links[0][0]
        depth += 1
    return depth


@pytest.mark.parametrize(
    ("leaves", "depth", "root_links"),
    [(1, 0, 0), (2, 1, 2), (MAX_LINKS, 1, MAX_LINKS), (MAX_LINKS + 1, 2, 2)],
)
def test_balanced_layout_shape(leaves: int, depth: int, root_links: int) -> None:
    builder = DagBuilder(0)
    for i in range(leaves):
        builder.add_chunk(i.to_bytes(4, "big"))  # tiny chunks: the shape is what matters
    result = builder.finish()
    assert _depth(result.cid, result.inner) == depth
    if root_links:
        root = parse_node(result.inner[str(result.cid)], 0)
        assert len(root.links) == root_links
        assert root.filesize == 4 * leaves
        assert result.cid.codec == CODEC_DAG_PB


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=3 * CHUNK_SIZE), st.sampled_from([0, 1]))
def test_chunk_feeding_matches_whole_computation(data: bytes, version: int) -> None:
    builder = DagBuilder(version)
    for start in range(0, len(data), CHUNK_SIZE):
        builder.add_chunk(data[start : start + CHUNK_SIZE])
    assert builder.finish().cid == compute_cid(data, version)
    assert CID.parse(str(compute_cid(data, version))).version == version
