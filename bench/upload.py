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
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
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
    """Samples a process's RSS every 20 ms in a thread; also the CPU seconds the server and this
    process (the client) spent meanwhile (where an upload's time goes on a small machine)."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = self.proc.memory_info().rss
        self.server_cpu = self.client_cpu = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def _cpu(self) -> tuple[float, float]:
        server, client = self.proc.cpu_times(), os.times()
        return server.user + server.system, client.user + client.system

    def __enter__(self) -> PeakRss:
        self._cpu_before = self._cpu()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        after = self._cpu()
        self.server_cpu = after[0] - self._cpu_before[0]
        self.client_cpu = after[1] - self._cpu_before[1]


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


def send_file(
    base: str,
    method: str,
    path: str,
    headers: dict[str, str],
    source: Path,
    span: tuple[int, int],
    wrap: tuple[bytes, bytes] = (b"", b""),
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request whose body is ``source``'s bytes ``span`` (offset, count) between
    ``wrap``, sent with sendfile(2): the client costs almost no CPU, so on a small machine the
    bench measures the server, not the client. Returns the status, headers and body."""
    host, port = base.removeprefix("http://").split(":")
    offset, count = span
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    with socket.create_connection((host, int(port))) as sock, source.open("rb") as handle:
        sock.sendall(
            f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
            f"Content-Length: {len(wrap[0]) + count + len(wrap[1])}\r\n{head}\r\n".encode()
            + wrap[0]
        )
        sock.sendfile(handle, offset, count)
        sock.sendall(wrap[1])
        answer = bytearray()
        while data := sock.recv(65536):
            answer += data
    top, _, body = bytes(answer).partition(b"\r\n\r\n")
    status, *lines = top.decode("latin-1").split("\r\n")
    fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status.split()[1]), fields, body


async def upload(base: str, source: Path, token: str) -> float:
    boundary = "benchboundary"
    wrap = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{source.name}"\r\nContent-Type: video/x-matroska\r\n\r\n'
        ).encode(),
        f"\r\n--{boundary}--\r\n".encode(),
    )
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": f"multipart/form-data; boundary={boundary}",
    }
    started = time.perf_counter()
    status, _, body = await asyncio.to_thread(
        send_file, base, "POST", "/upload", headers, source, (0, source.stat().st_size), wrap
    )
    elapsed = time.perf_counter() - started
    if status != 202:
        raise SystemExit(f"upload failed: {status} {body[:500]!r}")
    return elapsed


async def tus_upload(base: str, source: Path, token: str, chunk: int) -> float:
    size = source.stat().st_size
    tus = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    async with httpx.AsyncClient(base_url=base, timeout=600) as client:
        started = time.perf_counter()
        created = await client.post("/uploads/", headers={**tus, "Upload-Length": str(size)})
        url, offset = created.headers["Location"], 0
    path = httpx.URL(url).raw_path.decode()
    while offset < size:
        end = min(offset + chunk, size)
        headers = {
            **tus,
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
        }
        status, fields, body = await asyncio.to_thread(
            send_file, base, "PATCH", path, headers, source, (offset, end - offset)
        )
        if status != 204:
            raise SystemExit(f"tus PATCH failed: {status} {body[:500]!r}")
        offset = int(fields["upload-offset"])
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
        cpu = {"tus": [0.0, 0.0], "multipart": [0.0, 0.0]}  # server, client CPU seconds
        for _ in range(args.rounds):
            drop_cache(source)
            with PeakRss(server.pid) as tus_rss:
                seconds["tus"].append(
                    await tus_upload(base, source, token, args.chunk_mb * 1024 * 1024)
                )
            peaks["tus"] = max(peaks["tus"], tus_rss.peak)
            cpu["tus"][0] += tus_rss.server_cpu
            cpu["tus"][1] += tus_rss.client_cpu
            empty(storage)
            drop_cache(source)
            with PeakRss(server.pid) as rss:
                seconds["multipart"].append(await upload(base, source, token))
            peaks["multipart"] = max(peaks["multipart"], rss.peak)
            cpu["multipart"][0] += rss.server_cpu
            cpu["multipart"][1] += rss.client_cpu
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
        gigabytes = size_mb / 1e3 * args.rounds
        for name in ("tus", "multipart"):
            server_s, client_s = (seconds_ / gigabytes for seconds_ in cpu[name])
            print(f"CPU per GB, {name}: server {server_s:.2f} s, client {client_s:.2f} s")
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
