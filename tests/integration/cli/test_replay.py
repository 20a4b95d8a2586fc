"""``vidpipe replay``: a dry run counts; a real run emits events the projector applies; options
uploads would refuse are refused before anything is published."""

from __future__ import annotations

import json

from schemas.options import parse_options
from services.core.runtime.settings import Settings
from services.core.stack.discovery import Endpoints
from tests.support.cli import vidpipe
from tests.support.projector import CatchUp, PublishEnvelopes, Running, end_offsets, fetch_jobs
from tests.support.stream import job_uuid, kind_of, recorded_stream

JOBS = 14


async def test_replay_dry_run_then_reprocess(
    test_env: dict[str, str],
    publish_envelopes: PublishEnvelopes,
    running_projector: Running,
    catch_up: CatchUp,
    db_url: str,
) -> None:
    await publish_envelopes(recorded_stream(JOBS))
    async with running_projector():
        await catch_up()
        failed = [job_uuid("s", n) for n in range(JOBS) if kind_of(n) == "failed"]
        dry = vidpipe("replay", "--status", "failed", "--dry-run", env=test_env)
        assert dry.returncode == 0, dry.stderr
        assert f"would reprocess {len(failed)} jobs" in dry.stdout
        pending = job_uuid("s", 6)  # a pending job is selected but not reprocessable
        chosen = vidpipe("replay", "--job", failed[0], "--job", pending, "--dry-run", env=test_env)
        assert "would reprocess 1 jobs (1 more selected" in chosen.stdout
        assert vidpipe("replay", env=test_env).returncode == 2  # no selection: refused

        real = vidpipe(
            "replay",
            "--status",
            "failed",
            "--preset",
            "h264-1080p",
            "--reason",
            "fix",
            env=test_env,
        )
        assert real.returncode == 0, real.stderr
        assert f"emitted {len(failed)} reprocess_requested" in real.stdout
        await catch_up()
    rows = await fetch_jobs(db_url)
    for job in failed:
        assert rows[job]["status"] == "pending"
        # normalised as the API's reprocess stores them: what the transcoder will run
        stored = json.loads(rows[job]["processing_options"])
        assert stored == parse_options("h264-1080p").to_event_dict()


async def test_replay_refuses_options_uploads_refuse(
    test_env: dict[str, str],
    settings: Settings,
    endpoints: Endpoints,
    publish_envelopes: PublishEnvelopes,
    running_projector: Running,
    catch_up: CatchUp,
    db_url: str,
) -> None:
    await publish_envelopes(recorded_stream(JOBS))
    async with running_projector():
        await catch_up()
    failed = [job_uuid("s", n) for n in range(JOBS) if kind_of(n) == "failed"]
    topics = [settings.topic("video.jobs")]
    before = await end_offsets(endpoints.kafka_bootstrap_servers, topics)
    for flags, culprit in (
        (("--preset", "web-1080p"), "preset"),  # not a preset: every job would fail later
        (("--options", '{"format": "webm", "crf": 99}'), "crf"),  # vp9 crf is 0..63
    ):
        refused = vidpipe("replay", "--status", "failed", *flags, env=test_env)
        assert refused.returncode == 2, refused.stdout
        assert refused.stdout == ""  # refused before selecting, so nothing was even counted
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and f"processing_options.{culprit}:" in lines[0], refused.stderr
    assert await end_offsets(endpoints.kafka_bootstrap_servers, topics) == before
    rows = await fetch_jobs(db_url)
    assert failed and all(rows[job]["status"] == "failed" for job in failed)
