"""Awkward but valid inputs work; invalid ones fail once, clearly, without retries."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from schemas.events import JobCompleted, JobFailed
from services.core.media.probe import probe
from services.core.storage import ObjectStore
from tests.support.transcoder import StartWorker, Submitter, Watcher, local


async def test_awkward_inputs(
    clips: Callable[..., Path],
    submit: Submitter,
    watcher: Watcher,
    start_worker: StartWorker,
    store: ObjectStore,
) -> None:
    await start_worker(worker_count=2)
    cases = {  # source -> expected output size (h264-720p default: no upscale, even sizes)
        "no_audio": (clips(audio=False), (160, 120), None),
        "odd_size": (clips(size="161x91"), (160, 90), "aac"),
        "rotated": (clips(rotate=90), (120, 160), "aac"),
        "vfr": (clips(seconds=2.0, timestamps="variable", fps=30), (160, 120), "aac"),
        "short": (clips(seconds=0.4), (160, 120), "aac"),
        "mpeg4_avi": (clips(codec="mpeg4", size="176x144"), (176, 144), "aac"),
        "vp8_webm": (clips(codec="vp8"), (160, 120), "aac"),
    }
    jobs = {name: await submit(path) for name, (path, _size, _audio) in cases.items()}
    for name, job_id in jobs.items():
        done = (await watcher.wait_type(job_id, "completed", 60)).event
        assert isinstance(done, JobCompleted)
        info = probe(local(store, done.outputs[0].key))
        source = probe(str(cases[name][0]))
        assert (info.width, info.height) == cases[name][1], name
        assert info.audio_codec == cases[name][2], name
        assert info.duration_s == pytest.approx(source.duration_s, abs=0.2), name
        assert done.metadata["source"]["width"] == source.width


async def test_invalid_inputs_fail_without_retry(
    tmp_path: Path,
    clips: Callable[..., Path],
    submit: Submitter,
    watcher: Watcher,
    start_worker: StartWorker,
) -> None:
    await start_worker(worker_count=2, retry_base_delay_s=0.1)
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%%EOF\n")
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(bytes(range(256)) * 64)
    silent = clips(audio=False)
    jobs = {
        "pdf": (await submit(pdf), "invalid_input"),
        "noise": (await submit(noise), "invalid_input"),
        "options": (await submit(silent, {"crf": 99}), "invalid_options"),
        "audio_of_silence": (await submit(silent, {"preset": "audio"}), "invalid_options"),
    }
    for name, (job_id, code) in jobs.items():
        failed = (await watcher.wait_type(job_id, "failed", 30)).event
        assert isinstance(failed, JobFailed)
        assert (failed.error_code, failed.retryable, failed.attempt) == (code, False, 1), name
        assert failed.message and "Traceback" not in failed.message
        assert "retry_scheduled" not in watcher.types(job_id)
