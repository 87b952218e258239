"""Bring blobs back from a backup into the primary replicas, verified.

Every blob is read from the backup through its verifying ``get`` (block by block against
the CID, then size and SHA-256) and written into each primary that lacks it; the primary's
own CID must come out the same. A primary copy that exists but fails verification (with
``check_present``) is replaced. Nothing unverified ever lands in a primary.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sharing_api.storage.base import Storage
from sharing_api.storage.chunks import chunk_reader
from sharing_api.storage.errors import IntegrityError, NotFoundError, StorageError


@dataclass
class RestoreReport:
    restored: list[str] = field(default_factory=list)  # copied into at least one primary
    present: list[str] = field(default_factory=list)  # every primary already held it
    failed: dict[str, str] = field(default_factory=dict)  # CID -> why (e.g. bad backup copy)

    @property
    def ok(self) -> bool:
        return not self.failed


def _intact(store: Storage, cid: str, check: bool) -> bool:
    if not check:
        return store.has(cid)
    try:
        for _ in store.get(cid):
            pass
    except NotFoundError:
        return False
    except IntegrityError:
        store.delete(cid)  # a damaged copy: drop it so the verified one replaces it
        return False
    return True


def restore(
    primaries: Sequence[Storage],
    backup: Storage,
    cids: Iterable[str] | None = None,
    *,
    check_present: bool = False,
) -> RestoreReport:
    """Copy ``cids`` (default: everything the backup holds) into each primary lacking them."""
    report = RestoreReport()
    for cid in cids if cids is not None else backup.cids():
        try:
            missing = [p for p in primaries if not _intact(p, cid, check_present)]
            if not missing:
                report.present.append(cid)
                continue
            for primary in missing:
                info = primary.put(chunk_reader(backup.get(cid)))
                if info.cid != cid:
                    raise IntegrityError(cid, f"{primary.name} stored it as {info.cid}")
            report.restored.append(cid)
        except StorageError as exc:
            report.failed[cid] = str(exc)
    return report
