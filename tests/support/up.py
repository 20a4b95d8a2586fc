"""A real ``vidpipe up`` in a subprocess, driven as a user would, for the end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests.support.eventually import eventually

# A JVM broker (Kafka) and PostgreSQL's initdb on a loaded 2-core CI machine: 15-20 s is usual.
READY_DEADLINE_S = 90.0


class Up:
    """A running ``vidpipe up`` and everything it printed."""

    def __init__(
        self, data_dir: Path, *, new_session: bool = False, env: dict[str, str] | None = None
    ) -> None:
        """``env``: settings of the stack's services on top of this process's environment."""
        extra = env or {}
        env = {
            k: v
            for k, v in os.environ.items()
            if k
            not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "STORAGE_URL", "KAFKA_TOPIC_PREFIX")
        }
        env.update(extra, VIDPIPE_DATA_DIR=str(data_dir), PORT="0")
        self.data_dir = data_dir
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "up"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=new_session,  # a process group of its own, to kill it whole
        )
        self.lines: list[str] = []

    def wait_ready(self) -> float:
        started = time.monotonic()
        assert self.proc.stdout is not None
        while time.monotonic() - started < READY_DEADLINE_S:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line.rstrip())
            if "vidpipe is up" in line:
                return time.monotonic() - started
        raise AssertionError("not ready in time:\n" + "\n".join(self.lines))

    def address(self, component: str) -> str:
        for line in self.lines:
            if line.startswith(component + " "):
                return line.split()[1]
        raise KeyError(component)

    def descendants(self) -> list[psutil.Process]:
        procs = psutil.Process(self.proc.pid).children(recursive=True)
        pid_file = self.data_dir / "pg" / "postmaster.pid"
        if pid_file.exists():  # pg_ctl daemonises the server, so it is not our child
            procs.append(psutil.Process(int(pid_file.read_text().split()[0])))
        return procs

    def dump(self) -> None:
        """Print what `up` and its services said (pytest shows it when a test fails)."""
        print("\n".join(self.lines))
        for log in sorted((self.data_dir / "logs").glob("*.log")):
            print(f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}")

    def stop(self) -> int:
        """SIGTERM, then the exit code; the pipe of its output is closed either way."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(60)
        finally:
            self.close()

    def kill(self) -> None:
        """SIGKILL the whole process group (start with ``new_session=True``): a crash of all."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
        finally:
            self.close()

    def close(self) -> None:
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class User:
    """One account on a running stack's public origin."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        self.base = base
        self.headers = headers

    @classmethod
    async def register(cls, base: str, name: str = "dur") -> User:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            account = {"username": name, "email": f"{name}@example.com", "password": "password123"}
            assert (await client.post("/auth/register", json=account)).status_code == 201
            return await cls.login(base, name)

    @classmethod
    async def login(cls, base: str, name: str = "dur") -> User:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            login = {"username": name, "password": "password123"}
            token = (await client.post("/auth/login", json=login)).json()["access_token"]
        return cls(base, {"Authorization": f"Bearer {token}"})

    async def upload(self, source: Path) -> str:
        async with httpx.AsyncClient(base_url=self.base, timeout=30) as client:
            response = await client.post(
                "/upload",
                headers=self.headers,
                files={"file": (source.name, source.read_bytes())},
                data={"options": json.dumps({"preset": "h264-480p"})},
            )
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    async def job(self, job_id: str) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.base, timeout=30) as client:
            response = await client.get(f"/jobs/{job_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        return job

    async def completed(self, job_id: str, timeout_s: float = 90) -> dict[str, Any]:
        async def done() -> dict[str, Any] | None:
            async with httpx.AsyncClient(base_url=self.base, timeout=30) as client:
                response = await client.get(f"/jobs/{job_id}", headers=self.headers)
            if response.status_code == 404:  # accepted (202), not projected yet: a projector
                return None  # that has just been restarted catches up on its own time
            assert response.status_code == 200, response.text
            job: dict[str, Any] = response.json()
            assert job["status"] not in ("failed", "cancelled"), job
            return job if job["status"] == "completed" else None

        job: dict[str, Any] = await eventually(
            done, timeout=timeout_s, message=f"job {job_id} completed"
        )
        return job
