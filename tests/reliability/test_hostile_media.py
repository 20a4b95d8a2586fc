"""Hostile media and abuse: playlists, concat files, image sequences and bombs are refused at
upload with a clear 4xx and leave nothing in storage; quotas and login lockout answer before
anything is stored; the worker that runs meanwhile keeps serving."""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import urlparse

from tests.reliability.badmedia import mkv_claims_hours, mkv_frames_far_apart
from tests.reliability.harness import Processes, all_terminal, fetch, healthy, statuses
from tests.reliability.test_bad_uploads import stored
from tests.support import media
from tests.support.eventually import eventually
from tests.support.ingest import Api, bearer, start_api


def hostile_files(tmp: Path, victim: Path) -> dict[str, tuple[str, bytes, int, str]]:
    """case -> (name, bytes, expected status, expected error code), made with real ffmpeg."""
    clip = media.make_video(tmp / "clip.mp4")
    hls = f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n{clip}\n#EXTINF:1,\n{victim}\n"
    dash = (
        '<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
        'mediaPresentationDuration="PT1S"><Period><AdaptationSet><Representation id="1" '
        f'bandwidth="1"><BaseURL>file://{victim}</BaseURL></Representation></AdaptationSet>'
        "</Period></MPD>"
    )
    concat = f"ffconcat version 1.0\nfile '{clip}'\nfile '{victim}'\n"
    make = media.make_video
    make(tmp / "frames.jpg", size="64x48", fps=5, audio=False, codec="mjpeg", muxer="image2pipe")
    make(
        tmp / "bomb.mp4", picture="black", size="8192x4352", fps=1, frames=1, audio=False, threads=1
    )
    make(tmp / "fast.mp4", seconds=0.2, size="64x48", fps=1000, audio=False)
    make(tmp / "many.mkv", seconds=0.5, size="32x32", fps=2, audio=False, video_streams=24)
    media.ffmpeg("-i", str(clip), "-c", "copy", str(tmp / "clip.mkv"))
    lie = mkv_claims_hours((tmp / "clip.mkv").read_bytes(), hours=100)

    def made(name: str) -> bytes:
        return (tmp / name).read_bytes()

    refused, over = (415, "not_a_video"), 422
    return {
        "HLS playlist (local file + another user's source)": ("l.m3u8", hls.encode(), *refused),
        "DASH manifest (another user's source)": ("a.mpd", dash.encode(), *refused),
        "ffconcat (local file + another user's source)": ("c.txt", concat.encode(), *refused),
        "image sequence (JPEG frames)": ("f.mjpeg", made("frames.jpg"), *refused),
        "pixel bomb (8192x4352, one frame)": ("b.mp4", made("bomb.mp4"), over, "too_many_pixels"),
        "extreme frame rate (1000 fps)": ("f.mp4", made("fast.mp4"), over, "frame_rate_too_high"),
        "stream bomb (24 video streams)": ("m.mkv", made("many.mkv"), over, "too_many_streams"),
        "duration lie (1 s file claims 100 h)": ("long.mkv", lie, over, "too_long"),
    }


async def test_hostile_media_is_refused_and_the_worker_keeps_serving(
    ingest: Api, procs: Processes, test_env: dict[str, str], tmp_path: Path
) -> None:
    procs.start("projector", ["projector"], test_env)
    worker = procs.start(
        "transcoder", ["transcoder", "--retry-delay", "0.2"], {**test_env, "WORKER_COUNT": "1"}
    )
    await eventually(lambda: healthy(worker), timeout=30, message="transcoder up")
    victim_user, attacker = bearer(ingest, str(uuid.uuid4())), bearer(ingest, str(uuid.uuid4()))
    clip = media.make_video(tmp_path / "victim.mp4").read_bytes()
    victim_job = (await ingest.upload(victim_user, ("mine.mp4", clip))).json()["id"]
    root = Path(urlparse(ingest.settings.storage_url).path)
    victim = root / "sources" / victim_job / "source"
    results = {}
    for case, (name, data, status, code) in hostile_files(tmp_path, victim).items():
        before = stored(ingest)
        response = await ingest.upload(attacker, (name, data))
        assert response.status_code == status, (case, response.text)
        error = response.json()["error"]
        assert error["code"] == code and error["message"], case
        assert stored(ingest) == before, f"{case}: refused but left files behind"
        results[case] = f"{status} {code}: {error['message'][:90]}"
    after = await ingest.upload(attacker, ("fine.mp4", clip))  # the attacker's honest upload
    assert after.status_code == 202
    db = test_env["DATABASE_URL"]
    jobs = [victim_job, after.json()["id"]]
    await eventually(
        lambda: all_terminal(db, jobs, ("completed",)), timeout=120, message="honest jobs completed"
    )
    assert worker.alive() and await healthy(worker), "the worker did not survive"
    print("\n" + "\n".join(f"{case:52} -> {what}" for case, what in results.items()))


async def test_quotas_answer_before_anything_is_stored(
    procs: Processes, test_env: dict[str, str], tmp_path: Path
) -> None:
    clip = media.make_video(tmp_path / "q.mp4").read_bytes()
    api, stop = await start_api(
        {
            **test_env,
            "USER_STORAGE_QUOTA": str(len(clip) * 3 // 2),
            "USER_JOBS_IN_FLIGHT": "2",
            "RATE_LIMIT_PER_MINUTE": "0",
            "USER_RATE_LIMIT_PER_MINUTE": "0",
        }
    )
    procs.start("projector", ["projector"], test_env)  # no worker: jobs wait
    db = test_env["DATABASE_URL"]
    try:
        user, busy = bearer(api, str(uuid.uuid4())), bearer(api, str(uuid.uuid4()))
        first = (await api.upload(user, ("a.mp4", clip))).json()["id"]
        await eventually(
            lambda: _projected(db, first), timeout=30, message="first job in the read model"
        )
        before = stored(api)
        over = await api.upload(user, ("b.mp4", clip))
        assert over.status_code == 413 and over.json()["error"]["code"] == "storage_quota"
        assert "USER_STORAGE_QUOTA" in over.json()["error"]["message"]
        assert stored(api) == before
        usage = (await api.client.get("/jobs", headers=user)).json()["usage"]
        assert usage["storage_bytes"] == len(clip) and usage["jobs_in_flight"] == 1
        tiny = media.make_video(tmp_path / "t.mp4", seconds=0.2, size="32x32", audio=False)
        small = tiny.read_bytes()
        two = await api.upload(busy, ("1.mp4", small), ("2.mp4", small), ("3.mp4", small))
        assert two.status_code == 429 and two.json()["error"]["code"] == "jobs_in_flight_quota"
        assert stored(api) == before  # the first two files of the batch went with the refusal
        admin = bearer(api, str(uuid.uuid4()), "admin")
        assert (await api.upload(admin, ("x.mp4", clip), ("y.mp4", clip))).status_code == 202
    finally:
        await stop()


async def test_login_lockout_does_not_reveal_accounts(ingest: Api) -> None:
    await ingest.register("lockme")
    answers = {}
    for name in ("lockme", "no-such-user"):
        for _ in range(ingest.settings.login_max_failures):
            failed = await ingest.client.post(
                "/auth/login", json={"username": name, "password": "wrong password"}
            )
            assert failed.status_code == 401
        locked = await ingest.client.post(
            "/auth/login", json={"username": name, "password": "correct horse"}
        )
        assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
        answers[name] = (locked.json()["error"]["code"], locked.headers["Retry-After"])
    assert answers["lockme"] == answers["no-such-user"]


async def _projected(db: str, job_id: str) -> bool:
    return bool(await fetch(db, "SELECT 1 FROM jobs WHERE id::text = $1", job_id))


async def test_a_header_that_understates_the_length_fails_before_any_encode(
    ingest: Api, procs: Processes, test_env: dict[str, str], tmp_path: Path
) -> None:
    """A few KB of MKV that says 2 s, frames 20 h apart, with ``fps`` set (2.16 M frames if
    trusted): ingest's probe accepts it, the worker refuses it with ``duration_mismatch``,
    and its honest neighbour completes on the same single slot."""
    procs.start("projector", ["projector"], test_env)
    worker = procs.start("transcoder", ["transcoder"], {**test_env, "WORKER_COUNT": "1"})
    await eventually(lambda: healthy(worker), timeout=30, message="transcoder up")
    user = bearer(ingest, str(uuid.uuid4()))
    hostile = mkv_frames_far_apart(tmp_path / "far.mkv", hours=20).read_bytes()
    options = '{"preset": "h264-480p", "fps": 30}'
    lie = await ingest.upload(user, ("long-night.mkv", hostile), options=options)
    assert lie.status_code == 202, lie.text
    clip = media.make_video(tmp_path / "honest.mp4").read_bytes()
    honest = await ingest.upload(user, ("honest.mp4", clip), options=options)
    jobs = [lie.json()["id"], honest.json()["id"]]
    db = test_env["DATABASE_URL"]
    await eventually(
        lambda: all_terminal(db, jobs, ("completed", "failed")), timeout=60, message="both ended"
    )
    view = (await ingest.client.get(f"/jobs/{jobs[0]}", headers=user)).json()
    assert (view["status"], view["error_code"]) == ("failed", "duration_mismatch")
    assert "lasts 2 s but its frames span" in view["error_message"]
    history = (await ingest.client.get(f"/jobs/{jobs[0]}/history", headers=user)).json()
    assert "transcode" not in [h["operation"] for h in history["items"]]
    assert (await statuses(db, jobs[1:])) == {jobs[1]: "completed"}
