"""``ObjectStore`` on S3 or MinIO via boto3 (``STORAGE_URL=s3://bucket/prefix``).

boto3 is blocking, so every call runs in a worker thread; the client itself is thread-safe.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from boto3.exceptions import Boto3Error
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from services.core.storage.content import content_disposition, guess_content_type
from services.core.storage.interface import ObjectNotFound, StorageError, StoredObject
from services.core.storage.keys import validate_key, validate_prefix
from services.core.storage.transfer import (
    READ_CHUNK,
    check_range,
    hash_file,
    pump_chunks,
    run_cleanup,
)

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

PART_BYTES = 8 * 1024 * 1024  # S3 needs >= 5 MiB per part; 10,000 parts cap objects at ~80 GiB
_NOT_FOUND = frozenset({"NoSuchKey", "NotFound", "404"})
_log = logging.getLogger(__name__)


@contextlib.contextmanager
def _s3_errors(key: str) -> Iterator[None]:
    """Turn boto3 failures into ObjectNotFound / StorageError."""
    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _NOT_FOUND:
            raise ObjectNotFound(key) from exc
        raise StorageError(f"S3 {code or 'error'} on {key}: {exc}") from exc
    except (BotoCoreError, Boto3Error) as exc:
        raise StorageError(f"S3 request on {key} failed: {exc}") from exc


def make_s3_client(endpoint_url: str | None, region: str | None) -> S3Client:
    """A client for AWS, or for an S3-compatible service (MinIO, moto) at ``endpoint_url``."""
    options: dict[str, Any] = {"signature_version": "s3v4", "retries": {"mode": "standard"}}
    if endpoint_url:
        # Path-style works without wildcard DNS; S3-compatible servers may reject the
        # default CRC checksum headers of boto3 >= 1.36.
        options["s3"] = {"addressing_style": "path"}
        options["request_checksum_calculation"] = "when_required"
        options["response_checksum_validation"] = "when_required"
    session = boto3.session.Session()
    return session.client(
        "s3", endpoint_url=endpoint_url, region_name=region, config=Config(**options)
    )


class S3ObjectStore:
    """Objects under ``prefix`` in ``bucket``; downloads should use ``presigned_url``."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        client: S3Client | None = None,
    ) -> None:
        self._bucket = bucket
        self._prefix = prefix.strip("/")
        if self._prefix:
            validate_key(self._prefix)
        self._owns_client = client is None
        self._client = client if client is not None else make_s3_client(endpoint_url, region)

    def _full(self, key: str) -> str:
        validate_key(key)
        return f"{self._prefix}/{key}" if self._prefix else key

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        content_type: str | None = None,
        max_bytes: int | None = None,
    ) -> StoredObject:
        """Upload in 8 MiB multipart parts (one PutObject if smaller); abort on any failure."""
        content_type = content_type or guess_content_type(key)
        upload = _Upload(self._client, self._bucket, self._full(key), content_type)
        try:
            with _s3_errors(key):
                pumped = await pump_chunks(
                    key, chunks, upload.write_part, flush_bytes=PART_BYTES, max_bytes=max_bytes
                )
                await asyncio.to_thread(upload.finish, pumped.tail)
        except BaseException:
            await run_cleanup(upload.abort)
            raise
        return StoredObject(key, pumped.size, pumped.sha256, content_type)

    async def put_file(
        self, key: str, path: Path, *, content_type: str | None = None
    ) -> StoredObject:
        """Hash ``path``, then upload it with boto3's managed (multipart, parallel) transfer."""
        full, content_type = self._full(key), content_type or guess_content_type(key)
        try:
            size, sha256 = await asyncio.to_thread(hash_file, path)
        except OSError as exc:
            raise StorageError(f"{key}: {exc}") from exc
        extra = {"ContentType": content_type}
        with _s3_errors(key):
            await asyncio.to_thread(
                self._client.upload_file, str(path), self._bucket, full, ExtraArgs=extra
            )
        return StoredObject(key, size, sha256, content_type)

    async def get_to_file(self, key: str, path: Path) -> None:
        """Download with boto3's managed transfer (it writes a temp file, then renames)."""
        full = self._full(key)
        with _s3_errors(key):
            await asyncio.to_thread(self._client.download_file, self._bucket, full, str(path))

    async def open_range(
        self, key: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        """Stream bytes ``[start, end)`` with a ranged GetObject."""
        check_range(start, end)
        full = self._full(key)
        with _s3_errors(key):
            body = await asyncio.to_thread(self._get_body, full, start, end)
        if body is None:
            return
        try:
            while True:
                with _s3_errors(key):
                    chunk = await asyncio.to_thread(body.read, READ_CHUNK)
                if not chunk:
                    return
                yield chunk
        finally:
            body.close()

    async def stat(self, key: str) -> StoredObject | None:
        """HeadObject: size and stored content type, or None."""
        full = self._full(key)
        try:
            with _s3_errors(key):
                head = await asyncio.to_thread(
                    self._client.head_object, Bucket=self._bucket, Key=full
                )
        except ObjectNotFound:
            return None
        content_type = head.get("ContentType") or guess_content_type(key)
        modified = head.get("LastModified")
        return StoredObject(
            key,
            head["ContentLength"],
            None,
            content_type,
            modified.timestamp() if modified is not None else None,
        )

    async def exists(self, key: str) -> bool:
        """Whether the object exists."""
        return await self.stat(key) is not None

    async def delete(self, key: str) -> None:
        """DeleteObject (idempotent in S3)."""
        full = self._full(key)
        with _s3_errors(key):
            await asyncio.to_thread(self._client.delete_object, Bucket=self._bucket, Key=full)

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix``, 1,000 per request."""
        if not validate_prefix(prefix):
            raise ValueError("refusing to delete_prefix(''): it would empty the whole store")
        with _s3_errors(prefix):
            return await asyncio.to_thread(self._delete_prefix, self._full_prefix(prefix))

    async def list(self, prefix: str = "") -> builtins.list[str]:
        """Sorted keys starting with ``prefix`` (S3 lists in key order)."""
        validate_prefix(prefix)
        with _s3_errors(prefix):
            pages = await asyncio.to_thread(builtins.list, self._pages(self._full_prefix(prefix)))
        strip = len(self._prefix) + 1 if self._prefix else 0
        return [full[strip:] for page in pages for full in page]

    def local_path(self, key: str) -> Path | None:
        """Always None: S3 objects have no local file."""
        validate_key(key)
        return None

    async def presigned_url(
        self, key: str, *, expires_s: int = 300, filename: str | None = None
    ) -> str | None:
        """A presigned GET URL; with ``filename``, S3 answers with that Content-Disposition."""
        params = {"Bucket": self._bucket, "Key": self._full(key)}
        if filename:
            params["ResponseContentDisposition"] = content_disposition(filename)
        with _s3_errors(key):
            # In a thread: the first signing may resolve credentials over the network.
            return await asyncio.to_thread(
                self._client.generate_presigned_url, "get_object", params, expires_s
            )

    def close(self) -> None:
        """Close the client's connection pool (only if this store created the client)."""
        if self._owns_client:
            self._client.close()

    def _full_prefix(self, prefix: str) -> str:
        return f"{self._prefix}/{prefix}" if self._prefix else prefix

    def _pages(self, full_prefix: str) -> Iterator[builtins.list[str]]:
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=full_prefix):
            yield [item["Key"] for item in page.get("Contents", [])]

    def _delete_prefix(self, full_prefix: str) -> int:
        deleted = 0
        for keys in self._pages(full_prefix):
            if not keys:
                continue
            response = self._client.delete_objects(
                Bucket=self._bucket,
                Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True},
            )
            if errors := response.get("Errors"):
                raise StorageError(f"S3 refused to delete {len(errors)} objects: {errors[:3]}")
            deleted += len(keys)
        return deleted

    def _get_body(self, full: str, start: int, end: int | None) -> StreamingBody | None:
        if end == start:  # empty range: only whether the object exists matters
            self._client.head_object(Bucket=self._bucket, Key=full)
            return None
        byte_range = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=full, Range=byte_range)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                return None  # start at or past the end (or an empty object): nothing to read
            raise
        return response["Body"]


class _Upload:
    """Parts are sent as they fill; an object smaller than one part becomes one PutObject."""

    def __init__(self, client: S3Client, bucket: str, key: str, content_type: str) -> None:
        self._client, self._bucket, self._key = client, bucket, key
        self._content_type = content_type
        self._upload_id: str | None = None
        self._parts: list[CompletedPartTypeDef] = []

    def write_part(self, data: bytes) -> None:
        if self._upload_id is None:
            created = self._client.create_multipart_upload(
                Bucket=self._bucket, Key=self._key, ContentType=self._content_type
            )
            self._upload_id = created["UploadId"]
        number = len(self._parts) + 1
        part = self._client.upload_part(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=data,
        )
        self._parts.append({"ETag": part["ETag"], "PartNumber": number})

    def finish(self, tail: bytes) -> None:
        if self._upload_id is None:
            self._client.put_object(
                Bucket=self._bucket, Key=self._key, Body=tail, ContentType=self._content_type
            )
            return
        if tail:
            self.write_part(tail)
        self._client.complete_multipart_upload(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},
        )
        self._upload_id = None  # completed: nothing left to abort

    def abort(self) -> None:
        if self._upload_id is None:
            return
        try:
            self._client.abort_multipart_upload(
                Bucket=self._bucket, Key=self._key, UploadId=self._upload_id
            )
        except (BotoCoreError, ClientError):
            # The parts stay invisible; a bucket lifecycle rule for incomplete uploads removes them.
            _log.warning("could not abort multipart upload of %s", self._key, exc_info=True)
