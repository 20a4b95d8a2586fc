"""Bad uploads: each gets a clear 4xx (and leaves nothing in storage) or becomes a job that ends
with a readable message; the worker that meets them keeps running."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest

from services.core.media.probe import probe
from tests.reliability.badmedia import corrupt_frames, mkv_claims_hours
from tests.reliability.harness import Processes, all_terminal, fetch, healthy
from tests.support import media
from tests.support.eventually import eventually
from tests.support.ingest import Api, bearer

MAX = 2_000_000  # MAX_FILE_SIZE of the ingest fixture ("2MB")


def stored(api: Api) -> set[str]:
    root = Path(urlparse(api.settings.storage_url).path)
    sources = root / "sources"  # outputs appear meanwhile: the worker runs accepted jobs
    return {str(p.relative_to(root)) for p in sources.rglob("*") if p.is_file()}


async def test_bad_uploads(
    ingest: Api, procs: Processes, test_env: dict[str, str], tmp_path: Path
) -> None:
    procs.start("projector", ["projector"], test_env)
    worker = procs.start(
        "transcoder", ["transcoder", "--retry-delay", "0.2"], {**test_env, "WORKER_COUNT": "1"}
    )
    await eventually(lambda: healthy(worker), timeout=30, message="transcoder up")
    headers = bearer(ingest, str(uuid.uuid4()))
    video = media.make_video(tmp_path / "ok.mp4").read_bytes()
    media.ffmpeg("-i", str(tmp_path / "ok.mp4"), "-c", "copy", str(tmp_path / "ok.mkv"))
    files: dict[str, tuple[str, bytes]] = {
        "zero bytes": ("empty.mp4", b""),
        "truncated MP4": ("cut.mp4", video[: len(video) // 3]),
        "random bytes .mp4": ("noise.mp4", os.urandom(64_000)),
        "PDF": ("doc.pdf", media.PDF),
        "PNG": ("image.png", media.make_still(tmp_path / "i.png").read_bytes()),
        "audio only": ("sound.m4a", media.make_audio(tmp_path / "s.m4a").read_bytes()),
        "valid header, corrupt frames": ("corrupt.mp4", corrupt_frames(video)),
        "header claims 4 h (1 s file)": (
            "long.mkv",
            mkv_claims_hours((tmp_path / "ok.mkv").read_bytes()),
        ),
        "path traversal name": ("../../../../etc/passwd.mp4", video),
        "10,000-char name": ("n" * 10_000 + ".mp4", video),
        "1 byte over MAX_FILE_SIZE": ("big.mp4", b"\0" * (MAX + 1)),
        "exactly MAX_FILE_SIZE (zeros)": ("limit.mp4", b"\0" * MAX),
    }
    results: dict[str, str] = {}
    accepted: dict[str, str] = {}
    for case, (name, data) in files.items():
        before = stored(ingest)
        response = await ingest.upload(headers, (name, data))
        if response.status_code == 202:
            job = response.json()
            accepted[case] = job["id"]
            assert len(job["original_filename"]) <= 255 and "/" not in job["original_filename"]
            assert stored(ingest) - before == {f"sources/{job['id']}/source"}, case
            continue
        assert 400 <= response.status_code < 500, (case, response.status_code, response.text)
        error = response.json()["error"]
        assert error["code"] and error["message"], case
        assert stored(ingest) == before, f"{case}: refused but left files behind"
        results[case] = f"{response.status_code} {error['code']}: {error['message'][:60]}"
    # multipart bodies without a file part, and bodies that are not multipart at all
    for case, kwargs in {
        "multipart, no file part": {"data": {"options": "{}"}, "files": {"x": ("a", b"1")}},
        "not multipart": {"content": b"raw bytes", "headers": {"Content-Type": "video/mp4"}},
        "multipart, broken boundary": {
            "content": b"--nope\r\n\r\n",
            "headers": {"Content-Type": "multipart/form-data; boundary=other"},
        },
    }.items():
        before = stored(ingest)
        extra = kwargs.pop("headers", {})
        response = await ingest.client.post(
            "/upload",
            headers={**headers, **extra},  # type: ignore[dict-item]
            **kwargs,  # type: ignore[arg-type]
        )
        assert 400 <= response.status_code < 500, (case, response.status_code, response.text)
        assert response.json()["error"]["message"], case
        assert stored(ingest) == before, case
        error = response.json()["error"]
        results[case] = f"{response.status_code} {error['code']}: {error['message'][:60]}"
    db = test_env["DATABASE_URL"]
    ids = list(accepted.values())
    terminal = ("completed", "failed", "cancelled")
    await eventually(
        lambda: all_terminal(db, ids, terminal), timeout=120, message="accepted uploads finished"
    )
    rows = {
        str(r["id"]): r for r in await fetch(db, "SELECT * FROM jobs WHERE id::text = ANY($1)", ids)
    }
    for case, job_id in accepted.items():
        row = rows[job_id]
        if row["status"] == "failed":
            assert row["error_message"] and "Traceback" not in row["error_message"], case
            results[case] = f"202, job failed: {row['error_message'][:80]}"
        else:
            assert row["status"] == "completed", case
            root = Path(urlparse(ingest.settings.storage_url).path)
            made = probe(str(root / row["output_path"]))
            assert made.duration_s == pytest.approx(1.0, abs=0.2), case  # the frames, not the claim
            name = row["original_filename"]
            results[case] = (
                f"202, job completed, {made.duration_s:.1f} s output (name {name[:12]}…)"
            )
    assert worker.alive() and await healthy(worker), "the worker did not survive"
    assert "attempt crashed" not in worker.log.read_text()
    assert not Path("/etc/passwd.mp4").exists()
    print("\n" + "\n".join(f"{case:32} -> {what}" for case, what in results.items()))
    for case in (
        "zero bytes",
        "truncated MP4",
        "random bytes .mp4",
        "PDF",
        "PNG",
        "audio only",
        "valid header, corrupt frames",
        "1 byte over MAX_FILE_SIZE",
        "multipart, no file part",
    ):
        assert results[case].startswith("4"), (case, results[case])
    # docs/reliability.md: these are accepted and complete (a refusal must fail the test too)
    for case in ("header claims 4 h (1 s file)", "path traversal name", "10,000-char name"):
        assert results[case].startswith("202, job completed"), (case, results[case])
    assert rows[accepted["path traversal name"]]["original_filename"] == "passwd.mp4"
    assert len(rows[accepted["10,000-char name"]]["original_filename"]) == 255
    assert results["1 byte over MAX_FILE_SIZE"].startswith("413")
    # the limit is inclusive: exactly MAX_FILE_SIZE passes the size check, then is no video
    assert results["exactly MAX_FILE_SIZE (zeros)"].startswith("415 not_a_video")
