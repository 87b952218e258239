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
- stream_encrypt_sm4/256MB, stream_decrypt_sm4/256MB: the same in the national suite
  (SM4-GCM, stream key by HKDF-SM3), with ``ratio_to_aes`` against the rows above.
  (--quick streams 64 MB, and the case names say 64MB.)

Multi-authority ABE (RW15, ``crypto.rw15``), N in {1, 10, 50}, authorities h1, pj, reg; the
N attributes ``<auth>.attr<i>:yes`` are dealt round-robin to the three authorities:
- maabe/keygen/N: issue one GID its N attribute keys: one ``keygen`` call per authority
  holding some of them (3 calls for N >= 3), no expiry cover.
- maabe/encrypt/N: encapsulate under the AND of the N attributes (N LSSS rows, N columns).
- maabe/decrypt/N: decapsulate that ciphertext with the GID's merged key bundle (every row
  used: 2N + 1 pairings).
- maabe/{keygen,encrypt,decrypt}_1auth/N: RW15 on a single-authority AND of N (all h1), and
  maabe/fame_{keygen,encrypt,decrypt}/N: FAME on that same policy in the same run; the RW15
  single-authority rows carry ``ratio_to_fame``.
- maabe/encrypt_cold/10: with the hash caches and comb tables cleared before every run.
- maabe/{issue,encrypt,decrypt}_expiry/10: the same AND of 10 with expiry bound by the
  scheme (``rw15.issue`` adds each authority's epoch cover; ``rw15.bind_epoch`` adds 3 x 16
  OR rows to the ciphertext; decryption uses 3 more rows).
- maabe/load_ciphertext/10, maabe/load_ciphertext_expiry/10: parse with subgroup checks
  (one ~1 ms GT membership test per row).
- maabe/ciphertext_bytes/10, maabe/ciphertext_bytes_expiry/10, maabe/key_bytes/10: sizes.
Hashes and comb tables are warm (built in the warm-up run) unless the case says cold.
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
from crypto.rw15 import Rw15, Rw15PublicKey, Rw15SecretKey, Rw15UserKey, bind_epoch, issue
from crypto.rw15_formats import dump_ciphertext as dump_rw15_ciphertext
from crypto.rw15_formats import dump_user_key as dump_rw15_user_key
from crypto.rw15_formats import load_ciphertext as load_rw15_ciphertext
from crypto.stream import decrypt_stream, encrypt_stream, new_stream_id
from crypto.suite import AES_256_GCM_SHA256, SM4_GCM_SM3, Suite


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

    _maabe_cases(reporter, repeat)

    size_mb = 64 if args.quick else 256
    plaintext = os.urandom(size_mb << 20)
    aes = _stream_cases(reporter, plaintext, AES_256_GCM_SHA256, "")
    _stream_cases(reporter, plaintext, SM4_GCM_SM3, "_sm4", aes)


def _stream_cases(
    reporter: Reporter,
    plaintext: bytes,
    suite: Suite,
    tag: str,
    baseline: tuple[float, float] | None = None,
) -> tuple[float, float]:
    """stream_{encrypt,decrypt}{tag}/<size>: the median of 3 runs, MB/s; returns them."""
    size_mb = len(plaintext) >> 20
    progress(f"abe: streaming {size_mb} MB ({suite.name})")
    data_key, stream_id = os.urandom(32), new_stream_id()
    sealed = io.BytesIO()
    encrypt_stream(data_key, io.BytesIO(plaintext), sealed, stream_id, suite=suite)
    ciphertext = sealed.getvalue()
    enc_times, dec_times = [], []
    sink = cast(BinaryIO, _Discard())
    for _ in range(3):
        start = time.perf_counter()
        encrypt_stream(data_key, io.BytesIO(plaintext), sink, stream_id, suite=suite)
        enc_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        decrypt_stream(data_key, io.BytesIO(ciphertext), sink)
        dec_times.append(time.perf_counter() - start)
    rates = (size_mb / sorted(enc_times)[1], size_mb / sorted(dec_times)[1])
    for i, op in enumerate(("encrypt", "decrypt")):
        extra = {"ratio_to_aes": round(rates[i] / baseline[i], 2)} if baseline else {}
        case = f"stream_{op}{tag}/{size_mb}MB"
        reporter.emit(case, "MB_per_s", round(rates[i], 1), "MB/s", **extra)
    return rates


MAABE_AUTHORITIES = ("h1", "pj", "reg")
MAABE_GID = "0x" + "5a" * 20


def _maabe_attributes(n: int, authorities: tuple[str, ...] = MAABE_AUTHORITIES) -> list[str]:
    return [f"{authorities[i % len(authorities)]}.attr{i}:yes" for i in range(n)]


def _maabe_keys(
    scheme: Rw15, sks: dict[str, Rw15SecretKey], attrs: list[str], expiry: int | None = None
) -> Rw15UserKey:
    key = Rw15UserKey(MAABE_GID, {})
    for authority, sk in sks.items():
        mine = [a for a in attrs if a.startswith(authority + ".")]
        if mine:
            issued = (
                scheme.keygen(sk, MAABE_GID, mine)
                if expiry is None
                else issue(scheme, sk, MAABE_GID, mine, expiry)
            )
            key = key.merge(issued)
    return key


def _maabe_cases(reporter: Reporter, repeat: int) -> None:
    scheme, fame = Rw15(), Fame()
    pairs = {a: scheme.setup_authority(a) for a in MAABE_AUTHORITIES}
    pks = {a: p[0] for a, p in pairs.items()}
    sks = {a: p[1] for a, p in pairs.items()}
    fame_pk, fame_msk = fame.setup("h1")
    for n in (1, 10, 50):
        progress(f"abe: maabe {n} attributes")
        reps = max(3, repeat // (2 if n == 50 else 1))
        _maabe_size_cases(reporter, scheme, pks, sks, fame, fame_pk, fame_msk, n, reps)

    attrs10 = _maabe_attributes(10)
    policy10 = parse_policy(" and ".join(attrs10))

    def cold_encrypt() -> None:
        hash_cache_clear()
        scheme.clear_tables()
        scheme.encapsulate(pks, policy10)

    reporter.emit("maabe/encrypt_cold/10", "median_ms", median_ms(cold_encrypt, repeat), "ms")
    _maabe_expiry_cases(reporter, scheme, pks, sks, repeat)


def _maabe_size_cases(
    reporter: Reporter,
    scheme: Rw15,
    pks: dict[str, Rw15PublicKey],
    sks: dict[str, Rw15SecretKey],
    fame: Fame,
    fame_pk: FamePublicKey,
    fame_msk: FameMasterKey,
    n: int,
    reps: int,
) -> None:
    attrs = _maabe_attributes(n)
    policy = parse_policy(" and ".join(attrs))
    reporter.emit(
        f"maabe/keygen/{n}",
        "median_ms",
        median_ms(lambda: _maabe_keys(scheme, sks, attrs), reps),
        "ms",
    )
    reporter.emit(
        f"maabe/encrypt/{n}",
        "median_ms",
        median_ms(lambda: scheme.encapsulate(pks, policy), reps),
        "ms",
    )
    key = _maabe_keys(scheme, sks, attrs)
    _, ct = scheme.encapsulate(pks, policy)
    reporter.emit(
        f"maabe/decrypt/{n}",
        "median_ms",
        median_ms(lambda: scheme.decapsulate(key, ct, policy), reps),
        "ms",
    )
    # One authority: RW15 and FAME on the same AND of N.
    single = _maabe_attributes(n, ("h1",))
    single_policy = parse_policy(" and ".join(single))
    single_key = _maabe_keys(scheme, sks, single)
    _, single_ct = scheme.encapsulate(pks, single_policy)
    fame_key = fame.keygen(fame_pk, fame_msk, single)
    _, fame_ct = fame.encapsulate(fame_pk, single_policy)
    ops = {
        "keygen": (
            lambda: scheme.keygen(sks["h1"], MAABE_GID, single),
            lambda: fame.keygen(fame_pk, fame_msk, single),
        ),
        "encrypt": (
            lambda: scheme.encapsulate(pks, single_policy),
            lambda: fame.encapsulate(fame_pk, single_policy),
        ),
        "decrypt": (
            lambda: scheme.decapsulate(single_key, single_ct, single_policy),
            lambda: fame.decapsulate(fame_key, fame_ct, single_policy),
        ),
    }
    for op, (rw15_fn, fame_fn) in ops.items():
        fame_ms = median_ms(fame_fn, reps)
        rw15_ms = median_ms(rw15_fn, reps)
        reporter.emit(f"maabe/fame_{op}/{n}", "median_ms", fame_ms, "ms")
        reporter.emit(
            f"maabe/{op}_1auth/{n}",
            "median_ms",
            rw15_ms,
            "ms",
            peer="fame",
            ratio_to_fame=round(rw15_ms / fame_ms, 2) if fame_ms else None,
        )


def _maabe_expiry_cases(
    reporter: Reporter,
    scheme: Rw15,
    pks: dict[str, Rw15PublicKey],
    sks: dict[str, Rw15SecretKey],
    repeat: int,
) -> None:
    progress("abe: maabe with expiry bound by the scheme")
    attrs10 = _maabe_attributes(10)
    policy10 = parse_policy(" and ".join(attrs10))
    expiry = current_epoch() + 365
    reporter.emit(
        "maabe/issue_expiry/10",
        "median_ms",
        median_ms(lambda: _maabe_keys(scheme, sks, attrs10, expiry), repeat),
        "ms",
    )
    key10 = _maabe_keys(scheme, sks, attrs10, expiry)
    bound = bind_epoch(policy10, current_epoch())
    reporter.emit(
        "maabe/encrypt_expiry/10",
        "median_ms",
        median_ms(lambda: scheme.encapsulate(pks, bound), repeat),
        "ms",
    )
    _, bound_ct = scheme.encapsulate(pks, bound)
    reporter.emit(
        "maabe/decrypt_expiry/10",
        "median_ms",
        median_ms(lambda: scheme.decapsulate(key10, bound_ct, bound), repeat),
        "ms",
    )
    _, ct10 = scheme.encapsulate(pks, policy10)
    raw10, raw_bound = dump_rw15_ciphertext(ct10), dump_rw15_ciphertext(bound_ct)
    reporter.emit(
        "maabe/load_ciphertext/10",
        "median_ms",
        median_ms(lambda: load_rw15_ciphertext(raw10), repeat),
        "ms",
    )
    reporter.emit(
        "maabe/load_ciphertext_expiry/10",
        "median_ms",
        median_ms(lambda: load_rw15_ciphertext(raw_bound), max(3, repeat // 2)),
        "ms",
    )
    reporter.emit("maabe/ciphertext_bytes/10", "bytes", len(raw10), "bytes")
    reporter.emit("maabe/ciphertext_bytes_expiry/10", "bytes", len(raw_bound), "bytes")
    reporter.emit("maabe/key_bytes/10", "bytes", len(dump_rw15_user_key(key10)), "bytes")
