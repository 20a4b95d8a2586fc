"""Reprocessing continues a job's attempt count: new keys, new URLs, the old ones refused.

Real ingest (HTTP), a real projector process, an in-process transcoder and real ffmpeg.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

from tests.support.ingest import bearer
from tests.support.readmodel_stack import api_with_projector, job_when
from tests.support.transcoder import StartWorker

OPTIONS = json.dumps({"preset": "h264-480p"})


async def test_reprocess_runs_attempt_2_under_new_keys_and_the_old_url_stops_serving(
    test_env: dict[str, str], clips: Callable[..., Path], start_worker: StartWorker
) -> None:
    async with api_with_projector(test_env) as api:
        await start_worker(worker_count=1)
        user = bearer(api, str(uuid.uuid4()))
        clip = clips(seconds=1.0, size="160x120", audio=False)
        uploaded = await api.upload(user, ("clip.mp4", clip.read_bytes()), options=OPTIONS)
        assert uploaded.status_code == 202, uploaded.text
        job_id = uploaded.json()["id"]
        first = await job_when(api, user, job_id, "first run completed", status="completed")
        assert first["attempts"] == 1
        old_url = first["playback_url"]
        assert f"/{job_id}/1/" in old_url
        assert (await api.client.get(old_url)).status_code == 200

        again = await api.client.post(f"/jobs/{job_id}/reprocess", headers=user, json={})
        assert again.status_code == 202, again.text
        second = await job_when(
            api, user, job_id, "reprocessed as attempt 2", status="completed", attempts=2
        )
        new_url = second["playback_url"]
        assert f"/{job_id}/2/" in new_url and all(
            f"/{job_id}/2/" in o["url"] for o in second["outputs"]
        )
        assert (await api.client.get(new_url)).status_code == 200
        # the old run's signed URL (still unexpired) no longer opens anything
        assert (await api.client.get(old_url)).status_code == 404

        history = (await api.client.get(f"/jobs/{job_id}/history", headers=user)).json()
        started = [h["attempt"] for h in history["items"] if h["operation"] == "started"]
        reprocess = [h for h in history["items"] if h["operation"] == "reprocess_requested"]
        assert started == [1, 2] and [h["attempt"] for h in reprocess] == [2]
