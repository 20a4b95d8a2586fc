"""``PartialUploads`` on S3: one multipart upload per object, its parts listed in the state.

S3 parts must be at least 5 MiB (except the last), but tus chunks may be any size: bytes past
the last full part are kept as a small "tail" object named after the offset it ends at. The next
append reads the tail back in front of its own bytes; parts go up as ``PART_BYTES`` fill. A chunk
that is not adopted may have uploaded parts numbered past the adopted ones (the next append
re-uploads those numbers) or a tail under a new name (removed on completion or abort).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from services.core.storage.content import guess_content_type
from services.core.storage.interface import ObjectNotFound, StoredObject
from services.core.storage.keys import partial_tail_key, partial_tail_prefix, validate_key
from services.core.storage.partial import Observe, PartialState, pump_blocks
from services.core.storage.s3 import PART_BYTES, _s3_errors, make_s3_client

_GONE = frozenset({"NoSuchKey", "NoSuchUpload", "404"})

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef


class S3PartialUploads:
    """In-progress uploads to objects under ``prefix`` in ``bucket``."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        client: S3Client | None = None,
    ) -> None:
        self._bucket, self._prefix = bucket, prefix.strip("/")
        self._owns_client = client is None
        self._client = client if client is not None else make_s3_client(endpoint_url, region)

    def _full(self, key: str) -> str:
        validate_key(key)
        return f"{self._prefix}/{key}" if self._prefix else key

    async def append(
        self,
        key: str,
        state: PartialState,
        chunks: AsyncIterable[bytes],
        *,
        max_bytes: int,
        observe: Observe | None = None,
    ) -> PartialState:
        """Tail + chunks go up as parts of ``PART_BYTES`` or more; the rest becomes a new tail."""
        upload_id, parts = state.backend.get("upload_id"), list(state.backend.get("parts", []))
        with _s3_errors(key):
            buffer = bytearray(await asyncio.to_thread(self._tail, key, state))

        def write(block: bytes) -> None:
            nonlocal upload_id
            if upload_id is None:
                upload_id = self._client.create_multipart_upload(
                    Bucket=self._bucket, Key=self._full(key), ContentType=guess_content_type(key)
                )["UploadId"]
            parts.append(self._upload_part(key, upload_id, len(parts) + 1, block))

        with _s3_errors(key):
            size, rest = await pump_blocks(
                key,
                chunks,
                write,
                flush_bytes=PART_BYTES,
                max_bytes=max_bytes,
                buffer=buffer,
                observe=observe,
            )
            if size == 0:
                return state
            offset = state.offset + size
            if rest:
                tail = self._full(partial_tail_key(key, offset))
                await asyncio.to_thread(
                    self._client.put_object, Bucket=self._bucket, Key=tail, Body=rest
                )
        return PartialState(offset, {"upload_id": upload_id, "parts": parts, "tail": len(rest)})

    async def complete(self, key: str, state: PartialState) -> StoredObject:
        """The tail becomes the last part (or the whole object); then tails are removed."""
        with _s3_errors(key):
            try:
                await asyncio.to_thread(self._complete, key, state)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in _GONE:
                    raise
                await asyncio.to_thread(self._check_completed, key, state)
            await asyncio.to_thread(self._clean, key)
        return StoredObject(key, state.offset, None, guess_content_type(key))

    async def prune(self, key: str, adopted: PartialState) -> None:
        """Remove the tails older than the adopted one."""
        with _s3_errors(key):
            await asyncio.to_thread(self._delete_tails, key, adopted.offset)

    async def abort(self, key: str, state: PartialState) -> None:
        """Abort every multipart upload to ``key`` and remove the tails."""
        with _s3_errors(key):
            await asyncio.to_thread(self._clean, key)

    def close(self) -> None:
        """Close the client's connection pool (only if this object created the client)."""
        if self._owns_client:
            self._client.close()

    def _tail(self, key: str, state: PartialState) -> bytes:
        if not state.backend.get("tail"):
            return b""
        tail = self._full(partial_tail_key(key, state.offset))
        return self._client.get_object(Bucket=self._bucket, Key=tail)["Body"].read()

    def _upload_part(self, key: str, upload_id: str, number: int, block: bytes) -> list[Any]:
        part = self._client.upload_part(
            Bucket=self._bucket,
            Key=self._full(key),
            UploadId=upload_id,
            PartNumber=number,
            Body=block,
        )
        return [number, part["ETag"]]

    def _complete(self, key: str, state: PartialState) -> None:
        upload_id, parts = state.backend.get("upload_id"), list(state.backend.get("parts", []))
        tail = self._tail(key, state)
        if upload_id is None:
            content_type = guess_content_type(key)
            self._client.put_object(
                Bucket=self._bucket, Key=self._full(key), Body=tail, ContentType=content_type
            )
            return
        if tail:
            parts.append(self._upload_part(key, upload_id, len(parts) + 1, tail))
        self._client.complete_multipart_upload(
            Bucket=self._bucket,
            Key=self._full(key),
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in parts]},
        )

    def _check_completed(self, key: str, state: PartialState) -> None:
        """Tail or upload gone: fine if a previous completion made the object."""
        try:
            head = self._client.head_object(Bucket=self._bucket, Key=self._full(key))
        except ClientError:
            raise ObjectNotFound(key) from None
        if head["ContentLength"] != state.offset:
            raise ObjectNotFound(key)

    def _clean(self, key: str) -> None:
        full = self._full(key)
        found = self._client.list_multipart_uploads(Bucket=self._bucket, Prefix=full)
        for upload in found.get("Uploads", []):
            if upload["Key"] == full:
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=full, UploadId=upload["UploadId"]
                )
        self._delete_tails(key, None)

    def _delete_tails(self, key: str, before: int | None) -> None:
        prefix = self._full(partial_tail_prefix(key))
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
            doomed: list[ObjectIdentifierTypeDef] = [
                {"Key": item["Key"]}
                for item in page.get("Contents", [])
                if before is None or int(item["Key"][len(prefix) :]) < before
            ]
            if doomed:
                self._client.delete_objects(Bucket=self._bucket, Delete={"Objects": doomed})
