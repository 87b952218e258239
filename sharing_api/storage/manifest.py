"""The sidecar stored next to each blob by the local and S3 backends.

It holds the blob's SHA-256 and size and the DAG's inner nodes (one ~8 KiB node per 174
leaves), so ``get`` can verify every 256 KiB block against the CID while streaming without
re-reading the blob first. Its contents are checked, not trusted: inner nodes are verified
against the CID on use, and a wrong size or SHA-256 fails the read as an integrity error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sharing_api.storage.base import BlobInfo
from sharing_api.storage.unixfs import CID, _read_varint, _varint

_MAGIC = b"alliance-dag/1\n"


@dataclass
class Manifest:
    info: BlobInfo
    inner: dict[str, bytes] = field(default_factory=dict)

    def encode(self) -> bytes:
        head = {"cid": self.info.cid, "sha256": self.info.sha256, "size": self.info.size}
        out = bytearray(_MAGIC + json.dumps(head, sort_keys=True).encode() + b"\n")
        for block in self.inner.values():
            out += _varint(len(block)) + block
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes, cid: str) -> Manifest:
        """Parse a sidecar; anything malformed is reported against ``cid`` by the caller."""
        if not data.startswith(_MAGIC):
            raise ValueError("not a storage manifest")
        end = data.index(b"\n", len(_MAGIC))
        head = json.loads(data[len(_MAGIC) : end])
        info = BlobInfo(str(head["cid"]), str(head["sha256"]), int(head["size"]))
        if info.cid != cid:
            raise ValueError("manifest names another CID")
        version = CID.parse(cid).version
        from sharing_api.storage.unixfs import block_cid  # local: avoid a wide import list

        inner: dict[str, bytes] = {}
        pos = end + 1
        while pos < len(data):
            length, pos = _read_varint(data, pos)
            block = data[pos : pos + length]
            pos += length
            inner[str(block_cid(block, version))] = block
        return cls(info, inner)
