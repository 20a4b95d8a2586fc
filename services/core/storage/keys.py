"""Storage keys: what a safe key is, and the key of every object the pipeline stores.

Ingest writes ``sources/{job_id}/source``; the transcoder reads it and writes
``outputs/{job_id}/{attempt}/{name}``; deleting a job removes both job prefixes. Pure: no I/O.
"""

from __future__ import annotations

PARTIAL_PREFIX = ".partial-"  # reserved segment prefix: local in-progress uploads
SOURCES = "sources/"
OUTPUTS = "outputs/"


def source_prefix(job_id: str) -> str:
    """Everything ingest stored for ``job_id``."""
    return f"{SOURCES}{job_id}/"


def source_key(job_id: str) -> str:
    """Where ingest stores a job's upload and the transcoder reads it."""
    return f"{source_prefix(job_id)}source"


def output_prefix(job_id: str, attempt: int | None = None) -> str:
    """Every output of ``job_id``, or of one of its attempts."""
    job = f"{OUTPUTS}{job_id}/"
    return job if attempt is None else f"{job}{attempt}/"


def output_key(job_id: str, attempt: int, name: str) -> str:
    """Deterministic key of an output: a rerun of the attempt overwrites it, and a stale attempt
    (a worker cut off while its job was redone) can neither overwrite nor clean up the files
    of the attempt that counts."""
    return f"{output_prefix(job_id, attempt)}{name}"


def output_attempt(job_id: str, key: str) -> int | None:
    """The attempt whose prefix holds ``key`` when it is an output of ``job_id``, else None."""
    head = output_prefix(job_id)
    attempt, slash, name = key.removeprefix(head).partition("/")
    if not key.startswith(head) or not slash or not name:
        return None
    return int(attempt) if attempt.isascii() and attempt.isdigit() else None


def job_prefixes(job_id: str) -> tuple[str, str]:
    """The prefixes holding every object of ``job_id``: its source, then its outputs."""
    return source_prefix(job_id), output_prefix(job_id)


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe relative key, else raise ValueError."""
    if not key or key.startswith("/") or "\\" in key or any(ord(char) < 32 for char in key):
        raise ValueError(f"invalid storage key: {key!r}")
    for segment in key.split("/"):
        if segment in ("", ".", "..") or segment.startswith(PARTIAL_PREFIX):
            raise ValueError(f"invalid storage key: {key!r}")
    return key


def validate_prefix(prefix: str) -> str:
    """Like ``validate_key`` but allows "" and one trailing slash."""
    if prefix:
        validate_key(prefix.removesuffix("/"))
    return prefix
