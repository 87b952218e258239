"""`python scripts/bench.py abe`: CP-ABE (FAME on BLS12-381) and streaming AEAD.

Cases (median over repeated runs):
- setup, keygen/N, encrypt/N, decrypt/N: the FAME scheme operations with an N-attribute
  policy that is an AND of all N attributes (the worst case for decryption: every row is
  used; and for encryption: N LSSS columns). Hashes to G1 warm in the LRU cache, as in a
  long-running service whose attributes recur.
- keygen_cold/N, encrypt_cold/N: the same with the hash cache cleared before every run.
- encrypt_or_pairs/N, decrypt_or_pairs/N: an OR of N/2 two-attribute ANDs (typical policy).
- issue_key/10, seal_header/10, open_header/10: the product path, which adds the expiry
  epoch binding (up to 16 reserved attributes in the key, 16 OR rows in the ciphertext) and
  the AES-GCM wrap of the data key.
- header_bytes/10, key_bytes/10: serialized FAME ciphertext and user key (10 attributes);
  record_header_bytes/10, user_key_bytes/10: the product objects including expiry.
- stream_encrypt/256MB, stream_decrypt/256MB: chunked AES-256-GCM from memory to a
  discarding sink (the crypto path alone; 1 MiB chunks).
"""

from __future__ import annotations

import io
import os
import time
from argparse import Namespace
from typing import Any, BinaryIO, cast

from benchlib import Reporter, median_ms, progress

from crypto.authority import AttributeAuthority
from crypto.expiry import current_epoch
from crypto.fame import Fame, FameMasterKey, FamePublicKey
from crypto.formats import dump_ciphertext, dump_user_key
from crypto.header import open_header, seal_header
from crypto.pairing import hash_cache_clear
from crypto.policy import parse_policy
from crypto.stream import decrypt_stream, encrypt_stream, new_stream_id


class _Discard(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return len(data)


def _and_policy(n: int) -> str:
    return " and ".join(f"attr{i}:yes" for i in range(n))


def _or_pairs_policy(n: int) -> str:
    return " or ".join(f"(attr{2 * i}:yes and attr{2 * i + 1}:yes)" for i in range(n // 2))


def _attributes(n: int) -> list[str]:
    return [f"attr{i}:yes" for i in range(n)]


def _scheme_cases(
    reporter: Reporter, fame: Fame, pk: FamePublicKey, msk: FameMasterKey, n: int, reps: int
) -> None:
    attrs, policy = _attributes(n), parse_policy(_and_policy(n))
    reporter.emit(
        f"keygen/{n}", "median_ms", median_ms(lambda: fame.keygen(pk, msk, attrs), reps), "ms"
    )
    reporter.emit(
        f"encrypt/{n}", "median_ms", median_ms(lambda: fame.encapsulate(pk, policy), reps), "ms"
    )
    key = fame.keygen(pk, msk, attrs)
    _, ct = fame.encapsulate(pk, policy)
    reporter.emit(
        f"decrypt/{n}",
        "median_ms",
        median_ms(lambda: fame.decapsulate(key, ct, policy), reps),
        "ms",
    )
    if n >= 10:
        pairs = parse_policy(_or_pairs_policy(n))
        _, ct_pairs = fame.encapsulate(pk, pairs)
        encrypt_ms = median_ms(lambda: fame.encapsulate(pk, pairs), reps)
        decrypt_ms = median_ms(lambda: fame.decapsulate(key, ct_pairs, pairs), reps)
        reporter.emit(f"encrypt_or_pairs/{n}", "median_ms", encrypt_ms, "ms")
        reporter.emit(f"decrypt_or_pairs/{n}", "median_ms", decrypt_ms, "ms")


def run(reporter: Reporter, args: Namespace) -> None:
    repeat = 5 if args.quick else 25
    fame = Fame()
    progress("abe: setup")
    reporter.emit("setup", "median_ms", median_ms(lambda: fame.setup("h1"), repeat), "ms")
    pk, msk = fame.setup("h1")

    for n in (2, 10, 50):
        progress(f"abe: {n} attributes")
        _scheme_cases(reporter, fame, pk, msk, n, max(3, repeat // (2 if n == 50 else 1)))

    attrs10, policy10 = _attributes(10), parse_policy(_and_policy(10))

    def cold_keygen() -> None:
        hash_cache_clear()
        fame.keygen(pk, msk, attrs10)

    def cold_encrypt() -> None:
        hash_cache_clear()
        fame.encapsulate(pk, policy10)

    reporter.emit("keygen_cold/10", "median_ms", median_ms(cold_keygen, repeat), "ms")
    reporter.emit("encrypt_cold/10", "median_ms", median_ms(cold_encrypt, repeat), "ms")

    key10 = fame.keygen(pk, msk, attrs10)
    _, ct10 = fame.encapsulate(pk, policy10)
    reporter.emit("header_bytes/10", "bytes", len(dump_ciphertext(ct10)), "bytes")
    reporter.emit("key_bytes/10", "bytes", len(dump_user_key(key10)), "bytes")

    progress("abe: product path (expiry binding + data-key wrap)")
    authority = AttributeAuthority.setup("h1")
    expiry = current_epoch() + 365
    reporter.emit(
        "issue_key/10",
        "median_ms",
        median_ms(lambda: authority.issue_key(attrs10, expiry), repeat),
        "ms",
    )
    user_key = authority.issue_key(attrs10, expiry)
    params = [authority.params()]
    data_key, stream_id = os.urandom(32), new_stream_id()
    text10 = _and_policy(10)
    reporter.emit(
        "seal_header/10",
        "median_ms",
        median_ms(lambda: seal_header(data_key, stream_id, text10, params), repeat),
        "ms",
    )
    header = seal_header(data_key, stream_id, text10, params)
    reporter.emit(
        "open_header/10",
        "median_ms",
        median_ms(lambda: open_header(header, user_key), repeat),
        "ms",
    )
    reporter.emit("record_header_bytes/10", "bytes", len(header.to_bytes()), "bytes")
    reporter.emit("user_key_bytes/10", "bytes", len(user_key.to_bytes()), "bytes")

    size_mb = 64 if args.quick else 256
    progress(f"abe: streaming {size_mb} MB")
    plaintext = os.urandom(size_mb << 20)
    sealed = io.BytesIO()
    encrypt_stream(data_key, io.BytesIO(plaintext), sealed, stream_id)
    ciphertext = sealed.getvalue()
    enc_times, dec_times = [], []
    sink = cast(BinaryIO, _Discard())
    for _ in range(3):
        start = time.perf_counter()
        encrypt_stream(data_key, io.BytesIO(plaintext), sink, stream_id)
        enc_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        decrypt_stream(data_key, io.BytesIO(ciphertext), sink)
        dec_times.append(time.perf_counter() - start)
    enc_times.sort()
    dec_times.sort()
    label = f"{size_mb}MB"
    reporter.emit(f"stream_encrypt/{label}", "MB_per_s", round(size_mb / enc_times[1], 1), "MB/s")
    reporter.emit(f"stream_decrypt/{label}", "MB_per_s", round(size_mb / dec_times[1], 1), "MB/s")
