"""Probing is isolated from the API: twenty 8K uploads in one POST to a real ingest process
keep its memory flat (the decoding happens in PROBE_CONCURRENCY children, each under
PROBE_MEMORY), and other requests are answered meanwhile, each in under a second."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx

from services.core.runtime.process import free_port
from services.core.runtime.settings import Settings
from tests.reliability.harness import Processes
from tests.support import media
from tests.support.eventually import eventually
from tests.support.ingest import Api, bearer

MIB = 1024**2
FILES = 20  # the most one POST may carry (MAX_FILES_PER_REQUEST)


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


async def test_twenty_8k_files_in_one_post_keep_ingest_memory_bounded(
    procs: Processes, test_env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **test_env,
        "PORT": str(port),
        "RATE_LIMIT_PER_MINUTE": "0",
        "USER_RATE_LIMIT_PER_MINUTE": "0",
        "READ_YOUR_WRITES_TIMEOUT_MS": "0",  # no projector here: answer with the pending view
    }
    ingest = procs.start("ingest", ["ingest"], env)
    clip = media.make_video(
        tmp_path / "8k.mp4", size="7680x4320", fps=1, frames=2, audio=False, picture="black"
    )
    data = clip.read_bytes()
    assert len(data) < 200_000  # small files, large frames
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
        api = Api(client, Settings.from_env(env))

        async def up() -> bool:
            try:
                return (await client.get("/health")).status_code == 200
            except httpx.TransportError:
                return False

        await eventually(up, timeout=60, message="ingest answers /health")
        headers = bearer(api, str(uuid.uuid4()))
        await client.get("/jobs", headers=headers)  # settle the first request's allocations
        before_kib = status_kib(ingest.pid, "VmRSS")
        answered: list[int] = []
        slowest = 0.0

        async def others_meanwhile(done: asyncio.Event) -> None:
            nonlocal slowest
            while not done.is_set():
                for path in ("/health", "/jobs"):
                    started = time.monotonic()
                    answered.append((await client.get(path, headers=headers)).status_code)
                    slowest = max(slowest, time.monotonic() - started)

        done = asyncio.Event()
        others = asyncio.create_task(others_meanwhile(done))
        try:
            files = [(f"8k-{n}.mp4", data) for n in range(FILES)]
            response = await api.upload(headers, *files)
        finally:
            done.set()
            await others
        assert response.status_code == 202, response.text
        assert len(response.json()["jobs"]) == FILES
        assert {j["metadata"]["width"] for j in response.json()["jobs"]} == {7680}
        assert answered and set(answered) == {200}, answered
        assert slowest < 1.0, f"another request took {slowest:.2f} s while 8K files were probed"

        peak_kib = status_kib(ingest.pid, "VmHWM")
        growth_mib = (peak_kib - before_kib) / 1024
        probes = children(ingest.pid)
        child_peaks_mib = [status_kib(pid, "VmHWM") / 1024 for pid in probes]
        print(f"ingest RSS {before_kib / 1024:.0f} MiB, peak +{growth_mib:.0f} MiB;")
        print(f"probe children peak RSS (MiB): {[round(p) for p in child_peaks_mib]}")
        # one in-process 8K decode alone grows RSS by ~80 MiB; twenty at once by gigabytes
        assert growth_mib < 64, f"ingest grew by {growth_mib:.0f} MiB probing {FILES} 8K files"
        assert len(probes) == api.settings.probe_concurrency
        assert all(p * MIB < api.settings.probe_memory for p in child_peaks_mib)
