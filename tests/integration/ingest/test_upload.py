"""``POST /upload`` over real HTTP: storage, validation by content, the submitted event."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY, generate_latest

from schemas.envelope import decode
from services.core.kafka.clients import make_consumer
from tests.support import media
from tests.support.eventually import eventually
from tests.support.ingest import Api, stored_files


def received_upload_bytes() -> float:
    """Bytes of file parts the in-process ingest server has read (its ``upload_bytes`` metric)."""
    return REGISTRY.get_sample_value("upload_bytes_total") or 0.0


async def submitted_events(api: Api, count: int) -> list[Any]:
    consumer = make_consumer(
        api.settings.kafka_bootstrap_servers or "",
        api.settings.topic("video.jobs"),
        group_id=f"t-{uuid.uuid4().hex}",
    )
    await consumer.start()
    found: list[Any] = []

    async def all_found() -> bool:
        for records in (await consumer.getmany(timeout_ms=200)).values():
            found.extend(decode(r.key, r.value, r.headers) for r in records)
        return len(found) >= count

    try:
        await eventually(all_found, timeout=20, message=f"{count} submitted events")
    finally:
        await consumer.stop()
    return found


async def test_upload_stores_once_and_publishes_submitted(api: Api, video: bytes) -> None:
    headers = await api.user()
    response = await api.upload(
        {**headers, "X-Request-ID": "upload-req-1"},
        ("holiday.mp4", video),
        options='{"preset": "h264-480p"}',
    )
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["Location"] == f"/jobs/{job['id']}"
    assert job["status"] == "pending" and job["original_filename"] == "holiday.mp4"
    assert job["processing_options"]["preset"] == "h264-480p"
    assert job["source_sha256"] == hashlib.sha256(video).hexdigest()
    assert job["metadata"]["width"] == 160 and job["metadata"]["video_codec"] == "h264"
    files = stored_files(api)
    assert [p.relative_to(p.parents[2]).as_posix() for p in files] == [
        f"sources/{job['id']}/source"
    ]
    assert files[0].read_bytes() == video
    (envelope,) = await submitted_events(api, 1)
    assert envelope.event.job_id == job["id"] and envelope.event.user_id == headers["X-User-Id"]
    assert envelope.correlation_id == "upload-req-1"
    assert envelope.event.source_size == len(video)
    metrics = generate_latest().decode()  # this process's registry (OPS_PORT serves it)
    assert "upload_bytes_total" in metrics and "upload_duration_seconds_count" in metrics


async def test_batch_upload_makes_one_job_per_file(api: Api, video: bytes) -> None:
    headers = await api.user()
    response = await api.upload(headers, ("a.mp4", video), ("b.mp4", video))
    assert response.status_code == 202, response.text
    jobs = response.json()["jobs"]
    assert [j["original_filename"] for j in jobs] == ["a.mp4", "b.mp4"]
    assert len({j["id"] for j in jobs}) == 2
    assert jobs[0]["batch_id"] and jobs[0]["batch_id"] == jobs[1]["batch_id"]
    assert len(stored_files(api)) == 2


async def test_client_filename_is_metadata_only(api: Api, video: bytes) -> None:
    headers = await api.user()
    traversal = await api.upload(headers, ("../../../etc/passwd.mp4", video))
    assert traversal.status_code == 202
    assert traversal.json()["original_filename"] == "passwd.mp4"
    long_name = await api.upload(headers, ("x" * 10_000 + ".mp4", video))
    assert long_name.status_code == 202
    assert len(long_name.json()["original_filename"]) == 255
    for path in stored_files(api):
        assert path.name == "source"


async def test_refusals_leave_nothing_in_storage(api: Api, video: bytes, media_dir: Path) -> None:
    headers = await api.user()
    cases: list[tuple[str, bytes, int, str]] = [
        ("doc.mp4", media.PDF, 415, "not_a_video"),
        ("image.mp4", media.make_still(media_dir / "i.png").read_bytes(), 415, "not_a_video"),
        ("sound.mp4", media.make_audio(media_dir / "s.m4a").read_bytes(), 415, "not_a_video"),
        ("noise.mp4", os.urandom(50_000), 415, "not_a_video"),
        ("empty.mp4", b"", 415, "not_a_video"),
        ("truncated.mp4", video[: len(video) // 3], 415, "not_a_video"),
        ("big.mp4", b"\0" * (2_000_000 + 1), 413, "file_too_large"),
    ]
    for name, data, status, code in cases:
        response = await api.upload(headers, (name, data))
        assert response.status_code == status, (name, response.text)
        assert response.json()["error"]["code"] == code, name
        assert response.json()["error"]["message"]
        assert stored_files(api) == [], f"{name} left files behind"
    # one bad file refuses the whole batch, and the good one is removed too
    mixed = await api.upload(headers, ("good.mp4", video), ("doc.mp4", media.PDF))
    assert mixed.status_code == 415 and stored_files(api) == []
    bad_options = await api.upload(headers, ("good.mp4", video), options='{"preset": "nope"}')
    assert bad_options.status_code == 422 and "preset" in bad_options.json()["error"]["message"]
    rungs = '{"format": "hls", "ladder": [144, 240, 360, 480, 720, 1080, 1440]}'
    long_ladder = await api.upload(headers, ("good.mp4", video), options=rungs)
    assert long_ladder.status_code == 422, long_ladder.text
    assert "ladder: at most 6 distinct heights" in long_ladder.json()["error"]["message"]
    not_json = await api.upload(headers, ("good.mp4", video), options="{oops")
    assert not_json.status_code == 422
    assert stored_files(api) == []
    jobs = await api.client.get("/jobs", headers=headers)
    assert jobs.json()["items"] == []


async def test_malformed_requests(api: Api, video: bytes) -> None:
    headers = await api.user()
    no_file = await api.client.post(
        "/upload", data={"options": "{}"}, files={"other": ("x", b"1")}, headers=headers
    )
    assert no_file.status_code == 422 and no_file.json()["error"]["code"] == "missing_file"
    not_multipart = await api.client.post(
        "/upload", content=video, headers={**headers, "Content-Type": "video/mp4"}
    )
    assert not_multipart.status_code == 415
    cut = (
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.mp4"\r\n\r\n'
        + video[:1000]
    )
    truncated = await api.client.post(
        "/upload",
        content=cut,
        headers={**headers, "Content-Type": "multipart/form-data; boundary=XyZ"},
    )
    assert truncated.status_code == 400 and stored_files(api) == []
    anonymous = await api.upload({}, ("a.mp4", video))
    assert anonymous.status_code == 401 and stored_files(api) == []


async def test_upload_limit_is_streamed(make_api: Callable[..., Any]) -> None:
    api = await make_api(MAX_FILE_SIZE="64KiB")
    headers = await api.user()

    async def body() -> Any:
        yield b'--B\r\nContent-Disposition: form-data; name="file"; filename="x.mp4"\r\n\r\n'
        for _ in range(200):  # 12.8 MB if read to the end; the answer comes long before
            yield b"\0" * 65536
        yield b"\r\n--B--\r\n"

    received_before = received_upload_bytes()
    response = await api.client.post(
        "/upload",
        content=body(),
        headers={**headers, "Content-Type": "multipart/form-data; boundary=B"},
    )
    assert response.status_code == 413
    assert stored_files(api) == []
    # refused as the limit was crossed: the 64 KiB allowed and at most a few reads past it
    read = received_upload_bytes() - received_before
    assert 65536 < read <= 4 * 65536, f"{read} bytes read before the 413"


async def test_priority_counts_the_owners_recent_uploads(
    api: Api, video: bytes, running_projector: Callable[[], Any], catch_up: Callable[[], Any]
) -> None:
    flood, other = await api.user(), await api.user()
    async with running_projector():
        first = await api.upload(flood, ("a.mp4", video), ("b.mp4", video))
        assert first.status_code == 202, first.text
        await catch_up()  # the read model counts a and b
        assert (await api.upload(flood, ("c.mp4", video))).status_code == 202
        assert (await api.upload(other, ("d.mp4", video))).status_code == 202
    events = await submitted_events(api, 4)
    priorities = {e.event.original_filename: e.event.priority for e in events}
    assert priorities == {"a.mp4": 0, "b.mp4": 1, "c.mp4": 2, "d.mp4": 0}


async def test_a_probe_over_its_memory_limit_is_a_422_naming_the_file_and_ingest_goes_on(
    make_api: Callable[..., Any], video: bytes, media_dir: Path
) -> None:
    api = await make_api(PROBE_MEMORY="256MiB", READ_YOUR_WRITES_TIMEOUT_MS="0")
    headers = await api.user()
    deep = media.make_deep_8k(media_dir / "deep.mp4").read_bytes()
    refused = await api.upload(headers, ("fine.mp4", video), ("deep-8k.mp4", deep))
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "probe_failed"
    assert error["message"].startswith("deep-8k.mp4: could not be probed: ")
    assert "memory limit (256 MiB, PROBE_MEMORY)" in error["message"]
    assert stored_files(api) == []  # the batch is refused whole, as for any bad file
    # the API, and probing, go on: the child that failed was replaced
    assert (await api.client.get("/health")).status_code == 200
    again = await api.upload(headers, ("fine.mp4", video))
    assert again.status_code == 202, again.text
