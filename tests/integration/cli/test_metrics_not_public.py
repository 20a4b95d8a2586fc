"""``/metrics`` is never on the public origin (issue 26, item 15): ``vidpipe web`` (what
``vidpipe up`` runs) serves it, with ``/health``, on its ops port only, and reports that port
beside the public one (``stack.json`` shows it as the web child's ``ops_port``)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx

from services.core.runtime.ports import ops_report, read_report
from tests.support.eventually import eventually


async def test_vidpipe_web_serves_metrics_on_its_ops_port_only(
    ingest_env: dict[str, str], tmp_path: Path
) -> None:
    report = tmp_path / "run" / "web.port"
    env = {
        **os.environ,
        **ingest_env,
        "PORT": "0",
        "OPS_PORT": "0",
        "VIDPIPE_PORT_REPORT": str(report),
        "VIDPIPE_WEB_DIST": str(tmp_path / "no-build"),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", "web", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:

        def ports() -> tuple[int, int] | None:
            assert proc.returncode is None, "vidpipe web exited"
            public, ops = read_report(report, proc.pid), read_report(ops_report(report), proc.pid)
            return (public, ops) if public and ops else None

        public, ops = await eventually(ports, timeout=60, message="both ports reported")
        async with httpx.AsyncClient(timeout=10) as client:

            async def healthy() -> bool:
                try:
                    return (await client.get(f"http://127.0.0.1:{public}/health")).is_success
                except httpx.TransportError:
                    return False

            await eventually(healthy, timeout=60, message="the public origin answering")
            await client.get(f"http://127.0.0.1:{public}/jobs")  # counted in the metrics
            for path in ("/metrics", "/notifier/metrics"):
                response = await client.get(f"http://127.0.0.1:{public}{path}")
                assert response.status_code == 404, path
            scraped = await client.get(f"http://127.0.0.1:{ops}/metrics")
            assert scraped.status_code == 200
            assert 'http_requests_total{method="GET",route="/jobs",status="401"}' in scraped.text
            assert "vidpipe_notifier_connected_clients" in scraped.text  # one process, both apps
            assert (await client.get(f"http://127.0.0.1:{ops}/health")).status_code == 200
    finally:
        proc.terminate()
        await proc.wait()
