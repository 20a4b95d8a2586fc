"""The client commands' pure parts: SSE parsing, job tracking, ETA, tus wire format, stores."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import time
from pathlib import Path

from services.cli.client.sse import ServerEvent, SseParser
from services.cli.client.store import (
    ResumeIndex,
    Session,
    SessionStore,
    config_dir,
    upload_key,
)
from services.cli.client.tracking import JobView, Tracker, describe, format_eta
from services.cli.client.tus import checksum_header, encode_metadata


def feed(parser: SseParser, text: str) -> list[ServerEvent]:
    events = [parser.feed(line) for line in text.split("\n")]
    return [e for e in events if e is not None]


def test_sse_events_ids_comments_and_multiline_data() -> None:
    parser = SseParser()
    text = ': ping\n\nevent: job_complete\nid: 1:0:3\ndata: {"a":\ndata: 1}\n\ndata: x\n\n'
    events = feed(parser, text)
    assert events[0] == ServerEvent(None)
    assert events[1] == ServerEvent("job_complete", '{"a":\n1}', "1:0:3")
    assert events[1].json() == {"a": 1}
    assert events[2] == ServerEvent("message", "x", "1:0:3")  # the id stays until a new one
    assert parser.last_event_id == "1:0:3"


def test_sse_event_without_data_is_not_dispatched() -> None:
    assert feed(SseParser(), "event: x\nid: 7\n\n") == []


def test_sse_retry_sets_the_reconnection_time_only_when_all_digits() -> None:
    parser = SseParser()
    assert parser.retry_ms is None
    feed(parser, "retry: 2500\n\n")
    assert parser.retry_ms == 2500
    feed(parser, "retry: 2s\nretry: -1\nretry: \n\n")  # not digits: ignored, as browsers do
    assert parser.retry_ms == 2500


def test_tracker_follows_progress_to_each_terminal_status() -> None:
    tracker = Tracker(["a", "b", "c"])
    assert (
        tracker.apply(
            "progress_update", {"job_id": "a", "progress": 40, "stage": "transcode", "eta": 12}
        )
        == "a"
    )
    assert (tracker.jobs["a"].progress, tracker.jobs["a"].stage) == (40, "transcode")
    assert tracker.apply("progress_update", {"job_id": "other", "progress": 1}) is None
    tracker.apply("job_complete", {"job_id": "a"})
    tracker.apply("error_notification", {"job_id": "b", "error_message": "bad input"})
    assert not tracker.all_done and tracker.pending() == ["c"]
    tracker.apply("job_update", {"job_id": "c", "status": "cancelled", "progress": 5})
    assert tracker.all_done
    assert [j.status for j in tracker.jobs.values()] == ["completed", "failed", "cancelled"]
    assert tracker.jobs["b"].error == "bad input"
    assert tracker.apply("progress_update", {"job_id": "a", "progress": 3}) is None  # done stays


def test_tracker_settles_from_the_job_resource() -> None:
    tracker = Tracker(["a"])
    tracker.settle("a", {"status": "completed", "progress": 100, "error_message": None})
    assert tracker.all_done


def test_eta_and_lines() -> None:
    assert [format_eta(s) for s in (None, -1, 0, 65.4, 3725)] == [
        "-",
        "-",
        "0:00",
        "1:05",
        "1:02:05",
    ]
    view = JobView("processing", 40, "transcode", 12)
    assert describe("clip.mp4", view) == "clip.mp4: processing 40% transcode eta 0:12"
    assert describe("clip.mp4", JobView("failed", error="bad")) == "clip.mp4: failed: bad"


def test_tus_wire_format() -> None:
    encoded = encode_metadata({"filename": "clip.mp4", "options": "{}"})
    pairs = dict(p.split(" ") for p in encoded.split(","))
    assert base64.b64decode(pairs["filename"]) == b"clip.mp4"
    digest = base64.b64encode(hashlib.sha256(b"abc").digest()).decode()
    assert checksum_header(b"abc") == f"sha256 {digest}"


def test_config_dir_follows_xdg() -> None:
    assert config_dir({"XDG_CONFIG_HOME": "/x"}) == Path("/x/vidpipe")
    assert config_dir({"HOME": "/h"}) == Path("/h/.config/vidpipe")


def test_session_store_is_private_and_knows_staleness(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "vidpipe")
    assert store.load() is None
    session = Session.from_tokens(
        "http://s", "ann", {"access_token": "a", "refresh_token": "r", "expires_in": 900}
    )
    store.save(session)
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert store.load() == session
    assert not session.stale(time.time()) and session.stale(time.time() + 880)
    store.clear()
    assert store.load() is None


def test_resume_index_keys_change_with_the_file(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"12345")
    key = upload_key("http://s", video, "{}")
    index = ResumeIndex(tmp_path / "vidpipe")
    index.put(key, "http://s/uploads/1")
    assert index.get(key) == "http://s/uploads/1"
    assert upload_key("http://other", video, "{}") != key
    video.write_bytes(b"123456")
    assert upload_key("http://s", video, "{}") != key
    index.forget(key)
    assert index.get(key) is None


def test_the_clients_statuses_are_the_servers() -> None:
    from schemas.events import JobStatus
    from services.cli.client.wire import TERMINAL, Status

    assert {s.value for s in Status} == {s.value for s in JobStatus}
    assert {s.value for s in TERMINAL} == {"completed", "failed", "cancelled"}
