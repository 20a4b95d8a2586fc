"""Signed media URLs: round trip, expiry, and tampering with each field of the grant."""

from __future__ import annotations

import hmac
from urllib.parse import urljoin

import pytest

from services.ingest.adapters import media_urls as mediaurls
from services.ingest.adapters.media_urls import Grant, MediaUrlRefused, MediaUrls, derive_key

JOB = "0b5c3f9e-6a39-4c1b-9a8e-3f0e2f6b1d2a"
OTHER_JOB = "7d8e9f10-1112-4131-8415-161718192021"
NOW = 1_750_000_000.0
URLS = MediaUrls(derive_key("s" * 40), ttl_s=3600)


def fields(url: str) -> tuple[str, str, str, str, str]:
    """``job, attempt, expires, signature, path`` of a media URL."""
    assert url.startswith("/media/")
    job, attempt, expires, signed, path = url.removeprefix("/media/").split("/", 4)
    return job, attempt, expires, signed, path


def refused(job: str, attempt: str, expires: str, signed: str, now: float = NOW) -> str:
    with pytest.raises(MediaUrlRefused) as caught:
        URLS.verify(job, attempt, expires, signed, now)
    return caught.value.code


def test_a_url_verifies_and_grants_its_attempt_until_it_expires() -> None:
    job, attempt, expires, signed, path = fields(URLS.url(JOB, 2, "hls/master.m3u8", NOW))
    assert (job, attempt, path) == (JOB, "2", "hls/master.m3u8")
    assert int(expires) >= NOW + 3600 and int(expires) % 60 == 0
    assert URLS.verify(job, attempt, expires, signed, NOW) == Grant(JOB, 2, int(expires))
    assert URLS.verify(job, attempt, expires, signed, int(expires) - 1).attempt == 2


def test_the_signature_covers_the_tree_so_relative_uris_share_it() -> None:
    master = URLS.url(JOB, 1, "hls/master.m3u8", NOW)
    segment = URLS.url(JOB, 1, "hls/360p/seg_00001.m4s", NOW)
    # what a player does with the master's relative URI
    assert urljoin(f"http://h{master}", "360p/seg_00001.m4s") == f"http://h{segment}"
    assert URLS.tree(JOB, 1, NOW) == master.removesuffix("hls/master.m3u8")


def test_an_expired_url_is_refused_as_expired() -> None:
    job, attempt, expires, signed, _ = fields(URLS.url(JOB, 1, "video.mp4", NOW))
    assert refused(job, attempt, expires, signed, now=int(expires)) == "expired_signature"
    assert refused(job, attempt, expires, signed, now=int(expires) + 10**6) == "expired_signature"


@pytest.mark.parametrize(
    "field, value",
    [
        (0, OTHER_JOB),  # another job
        (0, JOB.upper()),  # the same job spelt differently
        (1, "2"),  # another attempt
        (1, "01"),  # the same attempt spelt differently
        (2, "9999999960"),  # a later expiry
        (3, "A" * 43),  # another signature
    ],
)
def test_tampering_with_any_field_is_refused(field: int, value: str) -> None:
    parts = list(fields(URLS.url(JOB, 1, "video.mp4", NOW))[:4])
    parts[field] = value
    assert refused(*parts) == "invalid_signature"


@pytest.mark.parametrize("signed", ["", "short", "é" * 43, "A" * 44, "+" * 43, "A" * 42 + "="])
def test_malformed_signatures_are_refused_without_error(signed: str) -> None:
    job, attempt, expires, _, _ = fields(URLS.url(JOB, 1, "video.mp4", NOW))
    assert refused(job, attempt, expires, signed) == "invalid_signature"


@pytest.mark.parametrize("attempt, expires", [("0", "1"), ("-1", "1"), ("1", "0"), ("1", "1e9")])
def test_malformed_attempts_and_expiries_are_refused(attempt: str, expires: str) -> None:
    signed = mediaurls.signature(URLS.key, JOB, attempt, expires)
    assert refused(JOB, attempt, expires, signed, now=0) == "invalid_signature"


def test_another_secret_or_purpose_signs_differently() -> None:
    url = URLS.url(JOB, 1, "video.mp4", NOW)
    other = MediaUrls(derive_key("t" * 40))
    with pytest.raises(MediaUrlRefused):
        other.verify(*fields(url)[:4], NOW)
    # the key is not the secret itself: an HMAC made with the raw secret never verifies
    job, attempt, expires, _, _ = fields(url)
    raw = mediaurls.signature(("s" * 40).encode(), job, attempt, expires)
    assert refused(job, attempt, expires, raw) == "invalid_signature"


def test_signatures_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[str, str]] = []
    original = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr(mediaurls.hmac, "compare_digest", spy)
    job, attempt, expires, signed, _ = fields(URLS.url(JOB, 1, "video.mp4", NOW))
    URLS.verify(job, attempt, expires, signed, NOW)
    refused(job, attempt, expires, "B" * 43)
    assert [b for _, b in compared] == [signed, "B" * 43]


def test_names_are_quoted_but_keep_their_slashes() -> None:
    assert URLS.url(JOB, 1, "hls/a b#.m3u8", NOW).endswith("/hls/a%20b%23.m3u8")
