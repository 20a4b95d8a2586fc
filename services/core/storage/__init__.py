"""Object storage: the ``ObjectStore`` interface, its errors, and ``open_store`` to pick one.

Keys are relative slash-separated paths built in ``keys`` (``sources/{job_id}/source``,
``outputs/{job_id}/{attempt}/{name}``); listing is by plain string prefix, as in S3.
Implementations: ``local.LocalObjectStore`` (``file://``) and ``s3.S3ObjectStore`` (``s3://``).
They import the modules beside them, never this package's ``__init__``, so nothing is cyclic.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from services.core.storage.content import content_disposition
from services.core.storage.interface import (
    ObjectNotFound,
    ObjectStore,
    ObjectTooLarge,
    StorageError,
    StoredObject,
)
from services.core.storage.keys import validate_key
from services.core.storage.partial import PartialState, PartialUploads
from services.core.storage.transfer import run_cleanup

__all__ = [
    "ObjectNotFound",
    "ObjectStore",
    "ObjectTooLarge",
    "PartialState",
    "PartialUploads",
    "StorageError",
    "StoredObject",
    "content_disposition",
    "open_partial_uploads",
    "open_store",
    "run_cleanup",
    "validate_key",
]


def open_store(url: str, *, s3_endpoint_url: str | None = None) -> ObjectStore:
    """The store for ``STORAGE_URL``: ``file:///abs/path`` or ``s3://bucket/prefix``."""
    parts = urlsplit(url)
    if parts.scheme == "file" and parts.netloc in ("", "localhost") and parts.path.startswith("/"):
        from services.core.storage.local import LocalObjectStore  # only the backend in use loads

        return LocalObjectStore(Path(unquote(parts.path)))
    if parts.scheme == "s3" and parts.netloc:
        from services.core.storage.s3 import S3ObjectStore  # boto3 only when S3 is used

        return S3ObjectStore(parts.netloc, unquote(parts.path), endpoint_url=s3_endpoint_url)
    raise ValueError(f"STORAGE_URL must be file:///abs/path or s3://bucket/prefix, got {url!r}")


def open_partial_uploads(url: str, *, s3_endpoint_url: str | None = None) -> PartialUploads:
    """Resumable uploads into the store that ``open_store(url)`` opens."""
    parts = urlsplit(url)
    if parts.scheme == "file" and parts.netloc in ("", "localhost") and parts.path.startswith("/"):
        from services.core.storage.local_partial import LocalPartialUploads

        return LocalPartialUploads(Path(unquote(parts.path)))
    if parts.scheme == "s3" and parts.netloc:
        from services.core.storage.s3_partial import S3PartialUploads

        return S3PartialUploads(parts.netloc, unquote(parts.path), endpoint_url=s3_endpoint_url)
    raise ValueError(f"STORAGE_URL must be file:///abs/path or s3://bucket/prefix, got {url!r}")
