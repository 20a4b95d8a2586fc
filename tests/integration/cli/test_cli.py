"""The ``vidpipe`` command driven as a user would: subprocesses, real broker and database."""

from __future__ import annotations

import json
import uuid

from schemas.envelope import new_envelope
from schemas.events import JobSubmitted
from services.core.kafka.clients import KafkaEventPublisher
from tests.support.cli import vidpipe
from tests.support.infra import Infra


def test_bad_max_file_size_exits_with_one_line(test_env: dict[str, str]) -> None:
    result = vidpipe("migrate", env={**test_env, "MAX_FILE_SIZE": "huge"})
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "MAX_FILE_SIZE" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_exits_with_one_line(test_env: dict[str, str]) -> None:
    env = {**test_env, "DATABASE_URL": "postgresql://vidpipe:secret@127.0.0.1:1/vidpipe"}
    for command in (["migrate"], ["up"]):
        result = vidpipe(*command, env=env)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert "PostgreSQL" in lines[0] and "unreachable" in lines[0]
        assert "secret" not in lines[0], "passwords never reach the terminal"


def test_migrate_command(test_env: dict[str, str]) -> None:
    result = vidpipe("migrate", env=test_env)
    assert result.returncode == 0, result.stderr
    assert "at head" in result.stdout


async def test_tap_prints_cloudevents_json(infra: Infra, test_env: dict[str, str]) -> None:
    job_ids = [str(uuid.uuid4()) for _ in range(3)]
    publisher = KafkaEventPublisher(
        infra.bootstrap_servers, topic_prefix=test_env["KAFKA_TOPIC_PREFIX"]
    )
    await publisher.start()
    try:
        await publisher.publish_many(
            [
                new_envelope(
                    JobSubmitted(
                        job_id=j,
                        user_id="u1",
                        original_filename="a.mp4",
                        source_key=f"sources/{j}/source",
                        source_size=1,
                        source_sha256="0" * 64,
                    ),
                    source="/test",
                    correlation_id=f"c-{j}",
                )
                for j in job_ids
            ]
        )
    finally:
        await publisher.stop()
    result = vidpipe("tap", "video.jobs", "--from-beginning", "--max", "3", env=test_env)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(e["subject"] for e in events) == sorted(job_ids)
    for event in events:
        assert event["specversion"] == "1.0"
        assert event["type"] == "video.job.submitted"
        assert event["data"]["job_id"] == event["subject"]
        assert event["correlationid"] == f"c-{event['subject']}"

    filtered = vidpipe(
        "tap",
        "video.jobs",
        "--from-beginning",
        "--type",
        "video.job.started",
        "--idle-exit",
        "1",
        env=test_env,
    )
    assert filtered.returncode == 0 and filtered.stdout == ""
