"""The storage key shapes every service relies on; stored objects outlive code changes."""

from __future__ import annotations

import pytest

from services.core.storage import keys

JOB = "0b6f5c9e-2d1a-4c3b-9f8e-7a6d5c4b3a21"


def test_source_key_is_the_one_ingest_always_wrote() -> None:
    assert keys.source_key(JOB) == f"sources/{JOB}/source"
    assert keys.source_key(JOB).startswith(keys.source_prefix(JOB))


def test_output_key_carries_the_attempt() -> None:
    assert keys.output_key(JOB, 2, "720p.mp4") == f"outputs/{JOB}/2/720p.mp4"
    assert keys.output_key(JOB, 1, "hls/360p/index.m3u8") == f"outputs/{JOB}/1/hls/360p/index.m3u8"


def test_output_prefixes_nest_job_then_attempt() -> None:
    key = keys.output_key(JOB, 3, "thumbnail.jpg")
    assert key.startswith(keys.output_prefix(JOB, 3))
    assert key.startswith(keys.output_prefix(JOB))
    assert not key.startswith(keys.output_prefix(JOB, 1))
    assert keys.output_prefix(JOB) == f"outputs/{JOB}/"


def test_prefixes_end_in_a_slash_so_one_job_never_matches_another() -> None:
    # list/delete_prefix match plain string prefixes: "outputs/ab" would also match job "abc".
    for prefix in (*keys.job_prefixes("ab"), keys.output_prefix("ab", 1)):
        assert prefix.endswith("/")
        assert not keys.source_key("abc").startswith(prefix)
        assert not keys.output_key("abc", 1, "x").startswith(prefix)
    assert not keys.output_key("ab", 10, "x").startswith(keys.output_prefix("ab", 1))


def test_job_prefixes_cover_every_key_of_the_job() -> None:
    prefixes = keys.job_prefixes(JOB)
    assert prefixes == (f"sources/{JOB}/", f"outputs/{JOB}/")
    for key in (keys.source_key(JOB), keys.output_key(JOB, 1, "a"), keys.output_key(JOB, 9, "b/c")):
        assert any(key.startswith(prefix) for prefix in prefixes)


def test_built_keys_and_prefixes_are_valid() -> None:
    for key in (keys.source_key(JOB), keys.output_key(JOB, 1, "hls/720p/seg_001.ts")):
        assert keys.validate_key(key) == key
    for prefix in (keys.SOURCES, *keys.job_prefixes(JOB), keys.output_prefix(JOB, 1)):
        assert keys.validate_prefix(prefix) == prefix


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/abs",
        "a//b",
        "a/./b",
        "a/../b",
        "a\\b",
        "a/\nb",
        f"sources/{JOB}/{keys.PARTIAL_PREFIX}x",
        "outputs/",
    ],
)
def test_unsafe_keys_are_refused(key: str) -> None:
    with pytest.raises(ValueError, match="invalid storage key"):
        keys.validate_key(key)


def test_prefix_may_be_empty_or_end_in_one_slash() -> None:
    assert keys.validate_prefix("") == ""
    assert keys.validate_prefix("sources/") == "sources/"
    with pytest.raises(ValueError):
        keys.validate_prefix("sources//")


def test_output_attempt_reads_the_attempt_back_from_an_output_key() -> None:
    assert keys.output_attempt(JOB, keys.output_key(JOB, 3, "hls/360p/seg_00001.m4s")) == 3
    assert keys.output_attempt(JOB, keys.source_key(JOB)) is None
    assert keys.output_attempt("ab", keys.output_key("abc", 3, "video.mp4")) is None
    for tail in ("3", "3/", "x/a", "²/a"):
        assert keys.output_attempt(JOB, f"outputs/{JOB}/{tail}") is None
