"""Upload throughput: stream a >= 1 GB video through tus and ``POST /upload``, and compare.

Runs ``--rounds`` alternating rounds of tus (``--chunk-mb`` PATCHes), multipart and a direct
write of the same bytes to the same disk (flushed and fsynced, as the store does), dropping the
file from the page cache before each, and prints each method's median MB/s, the ratios (targets:
tus >= 0.8 x direct and >= multipart) and the ingest process's peak RSS growth over each method's
uploads (target < 64 MB). The direct write swings with the page cache: hence the medians.

    python bench/upload.py [--size-gb 1.0] [--chunk-mb 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psutil

from services.cli.embedded import EmbeddedBroker, EmbeddedPostgres
from services.core.db.engine import migrate
from services.core.kafka.clients import ensure_topics
from services.core.runtime.process import free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for tests.support
from tests.support.media import make_video

CHUNK = 1024 * 1024
EXTRA_ENV = dict(
    e.split("=", 1) for e in os.environ.get("BENCH_SERVER_ENV", "").split() if "=" in e
)


def make_source(path: Path, size_gb: float) -> None:
    """Raw 720p video: 1.38 MB a frame, so ~750 frames per GB, decodable by any probe."""
    seconds = round(max(1.0, size_gb * 1e9 / (1280 * 720 * 1.5 * 25)), 2)
    make_video(
        path, seconds=seconds, size="1280x720", fps=25, audio=False, codec="rawvideo", timeout=None
    )


def drop_cache(path: Path) -> None:
    """Ask the kernel to forget ``path``'s cached pages, so each round reads it from disk."""
    if not hasattr(os, "posix_fadvise"):
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def empty(storage: Path) -> None:
    """Remove what the uploads stored (kept out of the timings), so rounds do not fill the disk."""
    for path in storage.rglob("*"):
        if path.is_file():
            path.unlink()


def direct_write(source: Path, target_dir: Path) -> float:
    target = target_dir / "direct-copy"
    started = time.perf_counter()
    with source.open("rb") as src, target.open("wb") as out:
        while chunk := src.read(CHUNK):
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    elapsed = time.perf_counter() - started
    target.unlink()
    return elapsed


class PeakRss:
    """Samples a process's RSS every 20 ms in a thread."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


async def multipart(source: Path, boundary: str) -> AsyncIterator[bytes]:
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{source.name}"\r\nContent-Type: video/x-matroska\r\n\r\n'
    ).encode()
    with source.open("rb") as handle:
        while chunk := await asyncio.to_thread(handle.read, CHUNK):
            yield chunk
    yield f"\r\n--{boundary}--\r\n".encode()


async def wait_healthy(base: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                if (await client.get(f"{base}/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("ingest did not start")


async def login(base: str) -> str:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        user = {"username": "bench", "email": "bench@example.com", "password": "bench-password"}
        await client.post("/auth/register", json=user)
        login = {"username": user["username"], "password": user["password"]}
        return str((await client.post("/auth/login", json=login)).json()["access_token"])


async def upload(base: str, source: Path, token: str) -> float:
    async with httpx.AsyncClient(base_url=base, timeout=600) as client:
        started = time.perf_counter()
        response = await client.post(
            "/upload",
            content=multipart(source, "benchboundary"),
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "multipart/form-data; boundary=benchboundary",
            },
        )
        elapsed = time.perf_counter() - started
        if response.status_code != 202:
            raise SystemExit(f"upload failed: {response.status_code} {response.text}")
        return elapsed


async def file_slice(source: Path, start: int, end: int) -> AsyncIterator[bytes]:
    with source.open("rb") as handle:
        handle.seek(start)
        while start < end:
            chunk = await asyncio.to_thread(handle.read, min(CHUNK, end - start))
            start += len(chunk)
            yield chunk


async def tus_upload(base: str, source: Path, token: str, chunk: int) -> float:
    size = source.stat().st_size
    tus = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    async with httpx.AsyncClient(base_url=base, timeout=600) as client:
        started = time.perf_counter()
        created = await client.post("/uploads/", headers={**tus, "Upload-Length": str(size)})
        url, offset = created.headers["Location"], 0
        while offset < size:
            end = min(offset + chunk, size)
            response = await client.patch(
                url,
                content=file_slice(source, offset, end),
                headers={
                    **tus,
                    "Upload-Offset": str(offset),
                    "Content-Type": "application/offset+octet-stream",
                    "Content-Length": str(end - offset),
                },
            )
            if response.status_code != 204:
                raise SystemExit(f"tus PATCH failed: {response.status_code} {response.text}")
            offset = int(response.headers["Upload-Offset"])
        return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=1.0)
    parser.add_argument("--chunk-mb", type=int, default=64, help="tus PATCH size")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (median)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="vpb", dir="/tmp"))
    broker = EmbeddedBroker(free_port(), root / "kafka", log_path=root / "broker.log")
    postgres = EmbeddedPostgres(root / "pg")
    server: subprocess.Popen[bytes] | None = None
    try:
        source = root / "source.mkv"
        make_source(source, args.size_gb)
        size_mb = source.stat().st_size / 1e6
        bootstrap = broker.start()
        database_url = await asyncio.to_thread(postgres.start)
        await asyncio.to_thread(migrate, database_url)
        await ensure_topics(bootstrap)
        port = free_port()
        storage = root / "storage"
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "STORAGE_URL": storage.as_uri(),
            "VIDPIPE_DATA_DIR": str(root / "data"),
            "PORT": str(port),
            "MAX_FILE_SIZE": "8GB",
            "USER_STORAGE_QUOTA": "1TB",  # no projector runs: nothing would free the quota
            "READ_YOUR_WRITES_TIMEOUT_MS": "0",
            "LOG_LEVEL": "WARN",
            **EXTRA_ENV,
        }
        server = subprocess.Popen([sys.executable, "-m", "services.cli", "ingest"], env=env)
        base = f"http://127.0.0.1:{port}"
        await wait_healthy(base)
        storage.mkdir(parents=True, exist_ok=True)
        # log in first: Argon2id hashing alone takes 64 MiB and is not part of an upload
        token = await login(base)
        baseline = psutil.Process(server.pid).memory_info().rss
        seconds: dict[str, list[float]] = {"tus": [], "multipart": [], "direct": []}
        peaks = {"tus": baseline, "multipart": baseline}
        for _ in range(args.rounds):
            drop_cache(source)
            with PeakRss(server.pid) as tus_rss:
                seconds["tus"].append(
                    await tus_upload(base, source, token, args.chunk_mb * 1024 * 1024)
                )
            peaks["tus"] = max(peaks["tus"], tus_rss.peak)
            empty(storage)
            drop_cache(source)
            with PeakRss(server.pid) as rss:
                seconds["multipart"].append(await upload(base, source, token))
            peaks["multipart"] = max(peaks["multipart"], rss.peak)
            empty(storage)
            drop_cache(source)
            seconds["direct"].append(direct_write(source, storage))
        rates = {name: [size_mb / s for s in runs] for name, runs in seconds.items()}
        tus_mbs, api_mbs, direct_mbs = (statistics.median(rates[n]) for n in seconds)
        print(f"file: {size_mb:.0f} MB raw 720p video, {args.rounds} alternating rounds (median)")
        for name, label in (
            ("tus", f"tus ({args.chunk_mb} MB PATCHes)"),
            ("multipart", "POST /upload"),
            ("direct", "direct write"),
        ):
            each = " ".join(f"{r:.0f}" for r in rates[name])
            print(f"{label:24} {statistics.median(rates[name]):7.1f} MB/s  (rounds: {each})")
        print(f"ratio tus/direct:       {tus_mbs / direct_mbs:.2f}  (target >= 0.8)")
        print(f"ratio tus/multipart:    {tus_mbs / api_mbs:.2f}  (target >= 1.0)")
        print(f"ratio multipart/direct: {api_mbs / direct_mbs:.2f}")
        for name in ("tus", "multipart"):
            growth = (peaks[name] - baseline) / 1e6
            print(f"server peak RSS growth, {name}: {growth:.1f} MB  (target < 64 MB)")
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        broker.stop()
        postgres.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
