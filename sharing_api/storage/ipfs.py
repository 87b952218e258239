"""IPFS through the Kubo RPC API (``/api/v0``) over httpx; also served by js-ipfs.

The CID is computed locally first; the node's answer to ``add`` must be the same CID or the
upload is unpinned and refused. Our blobs are the node's recursive pins: ``stat``/``has``
ask ``pin/ls`` (which answers at once, whereas asking for a missing block waits for the
network), ``delete`` unpins and then garbage-collects so the blocks are really gone, which
is what honouring an erasure request needs. Reads stream ``cat`` and verify each block
against inner nodes fetched with ``block/get``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx

from sharing_api.storage.base import BlobInfo, Source, Storage
from sharing_api.storage.errors import BackendUnavailableError, IntegrityError, NotFoundError
from sharing_api.storage.ingest import spooled
from sharing_api.storage.unixfs import CHUNK_SIZE, CID, CODEC_RAW, parse_node
from sharing_api.storage.verify import verified_chunks

T = TypeVar("T")
_NOT_PINNED = "is not pinned"
_MAX_BLOCK = 2 * 1024 * 1024  # ours are <= 256 KiB + framing; refuse to trust a bigger one


class IPFSStorage(Storage):
    name = "ipfs"

    def __init__(
        self,
        api_url: str = "http://127.0.0.1:5001",
        *,
        max_size: int | None = None,
        cid_version: int = 0,
        retries: int = 3,
        timeout: float = 30.0,
        gc_on_delete: bool = True,
    ) -> None:
        self.api = api_url.rstrip("/") + "/api/v0"
        self.max_size = max_size
        self.cid_version = cid_version
        self.retries = max(1, retries)
        self.gc_on_delete = gc_on_delete
        # The node-side timeout stops a request for a missing block from waiting forever.
        self._node_timeout = f"{max(1, int(timeout))}s"
        self._client = httpx.Client(timeout=httpx.Timeout(timeout, connect=5.0))

    # --- plumbing ---

    def _retrying(self, what: str, call: Callable[[], T]) -> T:
        delay = 0.2
        for attempt in range(self.retries):
            try:
                return call()
            except httpx.TransportError as exc:
                if attempt + 1 == self.retries:
                    raise BackendUnavailableError(
                        f"ipfs at {self.api}", f"{what}: {exc!r} after {self.retries} attempts"
                    ) from None
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    def _post(self, path: str, **params: Any) -> httpx.Response:
        def call() -> httpx.Response:
            return self._client.post(f"{self.api}/{path}", params=params)

        return self._retrying(path, call)

    @staticmethod
    def _message(response: httpx.Response) -> str:
        try:
            return str(response.json().get("Message", response.text))
        except ValueError:
            return response.text[:200]

    def _error(self, response: httpx.Response, what: str) -> BackendUnavailableError:
        return BackendUnavailableError(
            f"ipfs at {self.api}",
            f"{what} answered {response.status_code}: {self._message(response)}",
        )

    # --- the interface ---

    def put(self, source: Source) -> BlobInfo:
        with spooled(source, self.cid_version, self.max_size) as spool:
            params = {
                "cid-version": self.cid_version,
                "raw-leaves": "true" if self.cid_version == 1 else "false",
                "pin": "true",
                "quieter": "true",
            }

            start = spool.stream.tell()

            def call() -> httpx.Response:
                spool.stream.seek(start)
                return self._client.post(
                    f"{self.api}/add", params=params, files={"file": ("blob", spool.stream)}
                )

            response = self._retrying("add", call)
            if response.status_code != 200:
                raise self._error(response, "add")
            answer = response.json()["Hash"]
            expected = spool.info.cid
            if CID.parse(answer) != CID.parse(expected):
                self._post("pin/rm", arg=answer)
                raise IntegrityError(expected, f"the IPFS node computed {answer}")
            return BlobInfo(expected, spool.info.sha256, spool.info.size)

    def _require_pinned(self, cid: str) -> None:
        CID.parse(cid)
        response = self._post("pin/ls", arg=cid, type="recursive")
        if response.status_code == 200:
            return
        if _NOT_PINNED in self._message(response):
            raise NotFoundError(cid, self.name)
        raise self._error(response, "pin/ls")

    def _block(self, cid: CID) -> bytes:
        response = self._post("block/get", arg=str(cid), timeout=self._node_timeout)
        if response.status_code != 200:
            raise IntegrityError(str(cid), f"block missing on the node: {self._message(response)}")
        if len(response.content) > _MAX_BLOCK:
            raise IntegrityError(str(cid), "the node served an oversized block")
        return response.content

    def stat(self, cid: str) -> BlobInfo:
        self._require_pinned(cid)
        root = CID.parse(cid)
        if root.codec == CODEC_RAW:
            response = self._post("block/stat", arg=cid, timeout=self._node_timeout)
            if response.status_code != 200:
                raise self._error(response, "block/stat")
            return BlobInfo(cid, None, int(response.json()["Size"]))
        try:
            size = parse_node(self._block(root), root.version).filesize
        except ValueError as exc:
            raise IntegrityError(cid, f"root node unreadable: {exc}") from None
        return BlobInfo(cid, None, size)

    def get(self, cid: str, expected_sha256: str | None = None) -> Iterator[bytes]:
        info = self.stat(cid)
        return verified_chunks(cid, self._block, self._cat(cid), info.size, expected_sha256)

    def _cat(self, cid: str) -> Iterator[bytes]:
        def open_stream() -> httpx.Response:
            request = self._client.build_request(
                "POST", f"{self.api}/cat", params={"arg": cid, "timeout": self._node_timeout}
            )
            return self._client.send(request, stream=True)

        response = self._retrying("cat", open_stream)
        try:
            if response.status_code != 200:
                response.read()
                raise self._error(response, "cat")
            yield from response.iter_bytes(CHUNK_SIZE)
        except httpx.TransportError as exc:
            # Mid-stream failure: the replicated backend fails over on this error.
            raise BackendUnavailableError(f"ipfs at {self.api}", f"cat broke: {exc!r}") from None
        finally:
            response.close()

    def cids(self) -> Iterator[str]:
        # Our blobs are the node's recursive pins (Kubo answers one {"Keys": {...}} object,
        # js-ipfs may stream one {"Cid": ...} object per line).
        response = self._post("pin/ls", type="recursive")
        if response.status_code != 200:
            raise self._error(response, "pin/ls")
        for line in response.text.splitlines():
            if not line.strip():
                continue
            answer = json.loads(line)
            if "Keys" in answer:
                yield from answer["Keys"]
            elif "Cid" in answer:
                cid = answer["Cid"]
                yield cid["/"] if isinstance(cid, dict) else str(cid)

    def delete(self, cid: str) -> bool:
        CID.parse(cid)
        response = self._post("pin/rm", arg=cid)
        if response.status_code != 200:
            if _NOT_PINNED in self._message(response):
                return False
            raise self._error(response, "pin/rm")
        if self.gc_on_delete:
            gc = self._post("repo/gc")
            if gc.status_code != 200:
                raise self._error(gc, "repo/gc")
        return True

    def close(self) -> None:
        self._client.close()
