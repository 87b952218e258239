"""Records of several GB stream through in constant memory (run in a child process so its
peak RSS can be measured), in each cipher suite."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CHILD = textwrap.dedent(
    """
    import hashlib, io, json, os, resource, sys
    from crypto.authority import AttributeAuthority
    from crypto.expiry import current_epoch
    from crypto.records import decrypt_record, encrypt_record
    from crypto.suite import suite_by_name

    size, path, suite = 0, sys.argv[2], suite_by_name(sys.argv[3])
    block = os.urandom(1 << 20)

    class Source(io.RawIOBase):
        def __init__(self):
            self.left, self.digest = size, hashlib.sha256()
        def readable(self):
            return True
        def readinto(self, buffer):
            n = min(len(buffer), self.left, len(block))
            buffer[:n] = block[:n]
            self.digest.update(block[:n])
            self.left -= n
            return n

    class Sink(io.RawIOBase):
        def __init__(self):
            self.digest, self.size = hashlib.sha256(), 0
        def writable(self):
            return True
        def write(self, data):
            self.digest.update(data)
            self.size += len(data)
            return len(data)

    authority = AttributeAuthority.setup("h1")
    key = authority.issue_key(["role:doctor"], current_epoch() + 1)

    def round_trip(n):
        global size
        size = n
        source = Source()
        with open(path, "wb") as body:
            header = encrypt_record(io.BufferedReader(source, 1 << 20), body, "role:doctor",
                                    [authority.params()], suite=suite)
        sink = Sink()
        with open(path, "rb") as body:
            decrypt_record(header, body, sink, key)
        return header, source, sink

    round_trip(16 << 20)  # warm-up: every buffer and import in place
    warm_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    header, source, sink = round_trip(int(sys.argv[1]))
    print(json.dumps({
        "suite": header.suite.name,
        "same": sink.digest.digest() == source.digest.digest(),
        "size": sink.size,
        "body": os.path.getsize(path),
        "growth_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - warm_rss,
    }))
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("suite", ["aes-256-gcm", "sm4-gcm"])
def test_two_gigabyte_record_in_constant_memory(tmp_path: Path, suite: str) -> None:
    size = (2 << 30) + 1  # past 2^31 bytes
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(size), str(tmp_path / "body"), suite],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    report = json.loads(result.stdout)
    assert report["suite"] == suite
    assert report["same"] is True
    assert report["size"] == size
    assert report["body"] > size  # tags and the stream header were added
    # Peak memory after a 16 MiB record vs after a 2 GiB one: constant, not proportional.
    assert report["growth_mb"] < 32, report
