"""The probe's child processes: real PyAV in real children, real crashes and limits."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from services.core.media.probe import ProbeError, probe
from services.ingest.adapters.probe_pool import ProbeFailed, ProbePool, ProbeResources
from tests.support import media

SMALL = ProbeResources(concurrency=2, memory_bytes=256 * 1024**2, cpu_seconds=10)


@pytest.fixture(scope="module")
def deep_8k(media_dir: Path) -> Path:
    return media.make_deep_8k(media_dir / "deep-8k.mp4")


def fake_python(tmp_path: Path, body: str) -> str:
    """A stand-in for the interpreter the pool starts children with."""
    script = tmp_path / "python"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


async def test_a_child_answers_what_the_probe_answers_in_process(
    media_dir: Path, video: bytes
) -> None:
    clip = media_dir / "pool.mp4"
    clip.write_bytes(video)
    pool = ProbePool(ProbeResources())
    try:
        assert await pool.probe(str(clip)) == probe(str(clip))
        with pytest.raises(ProbeError) as refused:
            await pool.probe(str(media_dir / "missing.mp4"))
        assert refused.value.code == "not_found"
    finally:
        await pool.close()


async def test_a_probe_over_the_memory_limit_fails_alone_and_the_next_one_works(
    deep_8k: Path, media_dir: Path, video: bytes
) -> None:
    clip = media_dir / "pool-after.mp4"
    clip.write_bytes(video)
    pool = ProbePool(SMALL)
    try:
        results = await asyncio.gather(
            pool.probe(str(deep_8k)), pool.probe(str(clip)), return_exceptions=True
        )
        assert isinstance(results[0], ProbeFailed), results
        assert "memory limit (256 MiB, PROBE_MEMORY)" in results[0].reason
        assert not isinstance(results[1], BaseException) and results[1].height == 120
        assert (await pool.probe(str(clip))).height == 120
    finally:
        await pool.close()
    # the same file within a larger limit is a fine video
    roomy = ProbePool(ProbeResources(concurrency=1))
    try:
        assert (await roomy.probe(str(deep_8k))).width == 7680
    finally:
        await roomy.close()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("kill -SEGV $$", "the probe crashed (signal 11)"),
        ("kill -XCPU $$", "CPU time limit (10 s, PROBE_CPU_SECONDS)"),
        ("exit 3", "the probe could not start (exit code 3)"),
    ],
)
async def test_a_child_that_dies_fails_its_probe_with_a_readable_reason(
    tmp_path: Path, body: str, reason: str
) -> None:
    pool = ProbePool(SMALL, python=fake_python(tmp_path, body))
    try:
        for _ in range(2):  # a new child each time, dying the same way
            with pytest.raises(ProbeFailed) as failed:
                await pool.probe(str(tmp_path / "any.mp4"))
            assert reason in failed.value.reason
    finally:
        await pool.close()


async def test_children_are_reused_and_never_more_than_the_concurrency(
    tmp_path: Path, media_dir: Path, video: bytes
) -> None:
    clip = media_dir / "pool-many.mp4"
    clip.write_bytes(video)
    started = tmp_path / "started"
    python = fake_python(tmp_path, f'echo $$ >> {started}\nexec {sys.executable} "$@"')
    pool = ProbePool(ProbeResources(concurrency=2), python=python)
    try:
        infos = await asyncio.gather(*(pool.probe(str(clip)) for _ in range(8)))
        assert {i.height for i in infos} == {120}
    finally:
        await pool.close()
    assert len(started.read_text().split()) == 2
