"""Ingest's response models answer the same JSON bytes as the dicts they replaced."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from schemas.events import JobSubmitted
from services.core.http.openapi import model_response
from services.ingest.adapters.media_urls import MediaUrls, derive_key, signature
from services.ingest.jobs.queries import pending_view, row_view

JOB_ID = "0b5c3f9e-6a39-4c1b-9a8e-3f0e2f6b1d2a"
USER_ID = "7d8e9f10-1112-4131-8415-161718192021"
CREATED = datetime(2025, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)
MEDIA = MediaUrls(derive_key("s" * 40), ttl_s=3600)
EXPIRES = 1740834060  # an hour after CREATED, rounded up to the minute
SIGNATURE = signature(MEDIA.key, JOB_ID, "2", str(EXPIRES))


def _bytes(body: dict[str, Any]) -> bytes:
    """What Starlette's JSONResponse wrote for the hand-built dicts."""
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def test_a_job_row_answers_the_same_bytes() -> None:
    row = SimpleNamespace(
        id=JOB_ID,
        user_id=USER_ID,
        status="completed",
        progress=100,
        stage="package",  # the last tick's: shown only while processing
        eta_s=3.0,
        progress_at=CREATED,
        error_code="stale",  # a former failure's: shown only while failed
        original_filename="clip é.mp4",
        processing_options={"preset": "h264-480p", "crf": 23},
        error_message=None,
        created_at=CREATED,
        started_at=CREATED,
        completed_at=None,
        updated_at=CREATED,
        attempts=1,
        cancel_requested=False,
        batch_id=None,
        source_size=1024,
        source_sha256="ab" * 32,
        # an integer duration stays an integer; an unknown key follows the known ones
        metadata={"rotation": 90, "fps": 29.97, "duration_s": 5, "width": 640},
        outputs=[
            {
                "name": "480p.mp4",
                "key": f"outputs/{JOB_ID}/2/480p.mp4",
                "content_type": "video/mp4",
                "size_bytes": 9,
            },
            # a key outside the job's attempts: no media URL, the download route instead
            {"name": "old.mp4", "key": "k", "content_type": "video/mp4", "size_bytes": 9},
        ],
    )
    iso = "2025-03-01T12:00:00.250000Z"
    expected = {
        "id": JOB_ID,
        "user_id": USER_ID,
        "username": None,
        "status": "completed",
        "progress": 100,
        "stage": None,
        "eta_seconds": None,
        "queue_position": None,
        "original_filename": "clip é.mp4",
        "processing_options": {"preset": "h264-480p", "crf": 23},
        "error_message": None,
        "error_code": None,
        "created_at": iso,
        "started_at": iso,
        "completed_at": None,
        "updated_at": iso,
        "attempts": 1,
        "cancel_requested": False,
        "batch_id": None,
        "source_size": 1024,
        "source_sha256": "ab" * 32,
        "metadata": {
            "duration_s": 5,
            "width": 640,
            "height": None,
            "video_codec": None,
            "audio_codec": None,
            "fps": 29.97,
            "bitrate": None,
            "rotation": 90,
        },
        "playback_url": f"/media/{JOB_ID}/2/{EXPIRES}/{SIGNATURE}/480p.mp4",
        "outputs": [
            {
                "name": "480p.mp4",
                "content_type": "video/mp4",
                "size_bytes": 9,
                "url": f"/media/{JOB_ID}/2/{EXPIRES}/{SIGNATURE}/480p.mp4",
                "download_url": f"/jobs/{JOB_ID}/download?output=480p.mp4",
            },
            {
                "name": "old.mp4",
                "content_type": "video/mp4",
                "size_bytes": 9,
                "url": f"/jobs/{JOB_ID}/download?output=old.mp4",
                "download_url": f"/jobs/{JOB_ID}/download?output=old.mp4",
            },
        ],
    }
    now = CREATED.timestamp()
    assert model_response(row_view(row, MEDIA, now)).body == _bytes(expected)


def test_a_pending_job_answers_the_same_bytes() -> None:
    event = JobSubmitted(
        job_id=JOB_ID,
        user_id=USER_ID,
        original_filename="a.mp4",
        source_key=f"sources/{JOB_ID}/source",
        source_size=10,
        source_sha256="cd" * 32,
        processing_options={"preset": "h264-480p"},
        source_metadata={"duration_s": 1.5, "width": 320, "height": 240},
        batch_id=None,
    )
    iso = "2025-03-01T12:00:00.250000Z"
    expected = {
        "id": JOB_ID,
        "user_id": USER_ID,
        "username": None,
        "status": "pending",
        "progress": 0,
        "stage": None,
        "eta_seconds": None,
        "queue_position": None,
        "original_filename": "a.mp4",
        "processing_options": {"preset": "h264-480p"},
        "error_message": None,
        "error_code": None,
        "created_at": iso,
        "started_at": None,
        "completed_at": None,
        "updated_at": iso,
        "attempts": 0,
        "cancel_requested": False,
        "batch_id": None,
        "source_size": 10,
        "source_sha256": "cd" * 32,
        "metadata": {
            "duration_s": 1.5,
            "width": 320,
            "height": 240,
            "video_codec": None,
            "audio_codec": None,
            "fps": None,
            "bitrate": None,
        },
        "playback_url": None,
        "outputs": [],
    }
    assert model_response(pending_view(event, CREATED)).body == _bytes(expected)
