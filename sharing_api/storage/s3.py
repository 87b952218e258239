"""S3-compatible object storage through boto3 (tested against SeaweedFS).

Objects are keyed ``<prefix><CID>`` (the bytes as they are, with the SHA-256 in the object's
metadata) and ``<prefix><CID>.dag`` (the manifest, see ``manifest``). The manifest goes up
first and the data last, so a visible data object is a complete blob. Large blobs go up as
multipart uploads in 8 MiB parts and come down as a stream, so memory stays constant.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from sharing_api.storage.base import BlobInfo, Source, Storage
from sharing_api.storage.errors import BackendUnavailableError, IntegrityError, NotFoundError
from sharing_api.storage.ingest import spooled
from sharing_api.storage.manifest import Manifest
from sharing_api.storage.unixfs import CHUNK_SIZE, CID
from sharing_api.storage.verify import verified_chunks

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

T = TypeVar("T")
_MISSING = {"404", "NoSuchKey", "NotFound"}
_PART = 8 * 1024 * 1024


class S3Storage(Storage):
    name = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str = "us-east-1",
        max_size: int | None = None,
        cid_version: int = 0,
        retries: int = 3,
        timeout: float = 30.0,
        create_bucket: bool = True,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.max_size = max_size
        self.cid_version = cid_version
        self.create_bucket = create_bucket
        self._where = f"s3 bucket {bucket} at {endpoint_url or 'the default endpoint'}"
        config = Config(
            retries={"max_attempts": max(1, retries), "mode": "standard"},
            connect_timeout=min(timeout, 5.0),
            read_timeout=timeout,
            # Checksums beyond Content-MD5 are optional in S3 and not every server has them;
            # integrity is checked end to end against the CID anyway.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            s3={"addressing_style": "path"},
        )
        self._s3: S3Client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name=region,
            config=config,
        )
        self._transfer = TransferConfig(
            multipart_threshold=_PART, multipart_chunksize=_PART, max_concurrency=2
        )
        # s3transfer reads up to this many parts of a file object ahead into memory
        # (default 10 x 8 MiB): keep it to what the two upload threads need.
        self._transfer.max_in_memory_upload_chunks = 3
        self._bucket_ready = False

    def _key(self, cid: str) -> str:
        CID.parse(cid)
        return f"{self.prefix}{cid}"

    def _call(self, what: str, fn: Callable[[], T], cid: str | None = None) -> T:
        """Run one S3 call (botocore retries it); map failures to our errors."""
        try:
            return fn()
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if cid is not None and code in _MISSING:
                raise NotFoundError(cid, self.name) from None
            detail = f"{what}: {code} {error.get('Message', '')}"
            raise BackendUnavailableError(self._where, detail) from None
        except BotoCoreError as exc:
            raise BackendUnavailableError(self._where, f"{what}: {exc}") from None

    def _ensure_bucket(self) -> None:
        if self._bucket_ready or not self.create_bucket:
            return
        try:
            self._s3.head_bucket(Bucket=self.bucket)
        except ClientError:
            self._call("create_bucket", lambda: self._s3.create_bucket(Bucket=self.bucket))
        except BotoCoreError as exc:
            raise BackendUnavailableError(self._where, f"head_bucket: {exc}") from None
        self._bucket_ready = True

    def put(self, source: Source) -> BlobInfo:
        with spooled(source, self.cid_version, self.max_size) as spool:
            self._ensure_bucket()
            info = spool.info
            key = self._key(info.cid)
            manifest = Manifest(info, spool.dag.inner).encode()
            self._call(
                "put manifest",
                lambda: self._s3.put_object(Bucket=self.bucket, Key=f"{key}.dag", Body=manifest),
            )
            extra: dict[str, Any] = {"Metadata": {"sha256": str(info.sha256)}}
            self._call(
                "upload",
                lambda: self._s3.upload_fileobj(
                    spool.stream, self.bucket, key, ExtraArgs=extra, Config=self._transfer
                ),
            )
            return info

    def _manifest(self, cid: str) -> Manifest:
        key = self._key(cid)
        response = self._call(
            "get manifest", lambda: self._s3.get_object(Bucket=self.bucket, Key=f"{key}.dag"), cid
        )
        raw = response["Body"].read()
        try:
            return Manifest.decode(raw, cid)
        except (ValueError, KeyError) as exc:
            raise IntegrityError(cid, f"unreadable manifest ({exc})") from None

    def stat(self, cid: str) -> BlobInfo:
        key = self._key(cid)
        head = self._call("head", lambda: self._s3.head_object(Bucket=self.bucket, Key=key), cid)
        sha = head.get("Metadata", {}).get("sha256")
        return BlobInfo(cid, sha, int(head["ContentLength"]))

    def get(self, cid: str, expected_sha256: str | None = None) -> Iterator[bytes]:
        key = self._key(cid)
        response = self._call("get", lambda: self._s3.get_object(Bucket=self.bucket, Key=key), cid)
        body = response["Body"]
        try:
            manifest = self._manifest(cid)
        except BaseException:
            body.close()
            raise
        if expected_sha256 is not None and manifest.info.sha256 != expected_sha256.lower():
            body.close()
            raise IntegrityError(cid, "SHA-256 differs from the expected digest")

        def data() -> Iterator[bytes]:
            try:
                yield from body.iter_chunks(CHUNK_SIZE)
            except BotoCoreError as exc:
                raise BackendUnavailableError(self._where, f"read broke: {exc}") from None
            finally:
                body.close()

        return verified_chunks(
            cid,
            lambda c: manifest.inner.get(str(c)),
            data(),
            manifest.info.size,
            manifest.info.sha256,
        )

    def cids(self) -> Iterator[str]:
        pages = self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        )
        try:
            for page in pages:
                for item in page.get("Contents", []):
                    name = item["Key"][len(self.prefix) :]
                    # A data object is a complete blob (its manifest went up first).
                    if not name.endswith(".dag") and "/" not in name:
                        yield name
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise BackendUnavailableError(self._where, f"list: {error.get('Code', '')}") from None
        except BotoCoreError as exc:
            raise BackendUnavailableError(self._where, f"list: {exc}") from None

    def delete(self, cid: str) -> bool:
        key = self._key(cid)
        try:
            self.stat(cid)
            existed = True
        except NotFoundError:
            existed = False
        self._call("delete", lambda: self._s3.delete_object(Bucket=self.bucket, Key=key))
        self._call("delete", lambda: self._s3.delete_object(Bucket=self.bucket, Key=f"{key}.dag"))
        return existed

    def close(self) -> None:
        self._s3.close()
