"""Storage throughput: put and get on each backend, against a raw-disk baseline.

Cases ``<backend>/<put|get>/<size>`` (metric ``MB_per_s``) for local, ipfs (js-ipfs) and s3
(SeaweedFS), the raw baseline measured in the same run (``raw/put``: sha256 + write +
fsync; ``raw/get``: read + sha256) and ``local/put/ratio``, ``local/get/ratio`` (target
>= 0.7). Raw and local runs are interleaved so machine noise hits both alike. Sources and
blobs live in one temp directory (page cache warm for reads, as in normal serving); each
put writes a new file. The machine is shared: quote the ratios, which pair runs in time.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from benchlib import Reporter, progress

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sharing_api.storage.base import Storage  # noqa: E402
from sharing_api.storage.local import LocalStorage  # noqa: E402

MB = 1 << 20
BLOCK = 1 << 18


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def raw_put(src: Path, dest: Path) -> None:
    sha = hashlib.sha256()
    with src.open("rb", buffering=0) as inp, dest.open("wb") as out:
        while chunk := inp.read(BLOCK):
            sha.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())


def raw_get(path: Path) -> None:
    sha = hashlib.sha256()
    with path.open("rb", buffering=0) as inp:
        while chunk := inp.read(BLOCK):
            sha.update(chunk)
    sha.hexdigest()


def store_put(store: Storage, src: Path) -> str:
    with src.open("rb") as handle:
        return store.put(handle).cid


def store_get(store: Storage, cid: str) -> None:
    for _ in store.get(cid):
        pass


def label(size: int) -> str:
    return f"{size // MB}MB"


def mbps(size: int, seconds: list[float]) -> float:
    return round(size / MB / statistics.median(seconds), 1)


def bench_local_and_raw(reporter: Reporter, work: Path, src: Path, repeat: int) -> None:
    size = src.stat().st_size
    store = LocalStorage(work / "cas")
    cid = store_put(store, src)  # warm-up
    raw_file = work / "raw.bin"
    raw_put(src, raw_file)
    put_raw, put_local, get_raw, get_local = [], [], [], []
    for i in range(repeat):
        progress(f"storage: raw vs local {label(size)} round {i + 1}/{repeat}")
        # Both write a new file each round (nothing to overwrite or deduplicate).
        raw_file.unlink()
        put_raw.append(timed(lambda: raw_put(src, raw_file)))
        store.delete(cid)
        put_local.append(timed(lambda: store_put(store, src)))
        get_raw.append(timed(lambda: raw_get(raw_file)))
        get_local.append(timed(lambda: store_get(store, cid)))
    n = {"n": repeat}
    reporter.emit(f"raw/put/{label(size)}", "MB_per_s", mbps(size, put_raw), "MB/s", **n)
    reporter.emit(f"raw/get/{label(size)}", "MB_per_s", mbps(size, get_raw), "MB/s", **n)
    reporter.emit(f"local/put/{label(size)}", "MB_per_s", mbps(size, put_local), "MB/s", **n)
    reporter.emit(f"local/get/{label(size)}", "MB_per_s", mbps(size, get_local), "MB/s", **n)
    if size >= 64 * MB:
        put_ratio = statistics.median(put_raw) / statistics.median(put_local)
        get_ratio = statistics.median(get_raw) / statistics.median(get_local)
        peer = f"raw/{label(size)}"
        reporter.emit("local/put/ratio", "ratio", round(put_ratio, 3), "x", peer=peer, **n)
        reporter.emit("local/get/ratio", "ratio", round(get_ratio, 3), "x", peer=peer, **n)


def bench_backend(reporter: Reporter, name: str, store: Storage, src: Path, repeat: int) -> None:
    size = src.stat().st_size
    progress(f"storage: {name} {label(size)} x{repeat}")
    cids: list[str] = []
    puts = [timed(lambda: cids.append(store_put(store, src))) for _ in range(repeat)]
    gets = [timed(lambda: store_get(store, cids[0])) for _ in range(repeat)]
    reporter.emit(f"{name}/put/{label(size)}", "MB_per_s", mbps(size, puts), "MB/s", n=repeat)
    reporter.emit(f"{name}/get/{label(size)}", "MB_per_s", mbps(size, gets), "MB/s", n=repeat)
    store.delete(cids[0])


@contextlib.contextmanager
def servers(kind: str) -> Iterator[Storage | None]:
    """Start js-ipfs or SeaweedFS with the test helpers; None if not installed."""
    try:
        if kind == "ipfs":
            from sharing_api.storage.ipfs import IPFSStorage
            from tests.support.ipfs import JSIPFS, ipfs_daemon

            if not JSIPFS.exists():
                raise FileNotFoundError(JSIPFS)
            with ipfs_daemon() as node:
                yield IPFSStorage(node.api_url, gc_on_delete=False, timeout=120)
        else:
            from sharing_api.storage.s3 import S3Storage
            from tests.support.seaweed import seaweedfs

            with seaweedfs() as server:
                yield S3Storage(
                    "bench",
                    endpoint_url=server.endpoint,
                    access_key=server.access_key,
                    secret_key=server.secret_key,
                    timeout=120,
                )
    except (FileNotFoundError, ImportError) as exc:
        progress(f"storage: {kind} not available ({exc}); skipped")
        yield None


def make_source(path: Path, size: int) -> Path:
    with path.open("wb") as out:
        left = size
        while left:
            n = min(left, 8 * MB)
            out.write(os.urandom(n))
            left -= n
    return path


def run(reporter: Reporter, args: argparse.Namespace) -> None:
    big = 64 * MB if args.quick else 256 * MB
    repeat = 2 if args.quick else 5
    with tempfile.TemporaryDirectory(prefix="bench-storage-", dir=os.environ.get("TMPDIR")) as tmp:
        work = Path(tmp)
        small_src = make_source(work / "small.bin", 1 * MB)
        big_src = make_source(work / "big.bin", big)
        bench_local_and_raw(reporter, work, small_src, repeat * 3)
        bench_local_and_raw(reporter, work, big_src, repeat)
        for kind in ("s3", "ipfs"):
            with servers(kind) as store:
                if store is not None:
                    bench_backend(reporter, kind, store, small_src, repeat * 2)
                    bench_backend(reporter, kind, store, big_src, 1)
                    store.close()
