"""A served process settles its garbage collector once started (``services.core.runtime.heap``)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from services.core.runtime import heap
from services.core.runtime.ports import read_report

SERVER = """
import asyncio, gc, sys
from pathlib import Path
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from services.core.http.serving import serve

async def collector(request):
    return JSONResponse({"frozen": gc.get_freeze_count(), "thresholds": gc.get_threshold()})

app = Starlette(routes=[Route("/", collector)])
asyncio.run(serve(app, "127.0.0.1", 0, report_to=Path(sys.argv[1])))
"""


def test_the_start_up_heap_is_frozen_and_the_thresholds_raised(tmp_path: Path) -> None:
    report = tmp_path / "port"
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(report)])
    try:
        deadline = time.monotonic() + 30
        state = None
        while state is None and time.monotonic() < deadline:
            port = read_report(report, proc.pid) if report.exists() else None
            if port is not None:
                try:
                    state = httpx.get(f"http://127.0.0.1:{port}/", timeout=2).json()
                except httpx.TransportError:
                    pass  # bound, not serving yet
            assert proc.poll() is None, "the server exited"
            time.sleep(0.05)
        assert state is not None, "the server never answered"
        assert tuple(state["thresholds"]) == heap.THRESHOLDS
        # what start-up built (starlette, uvicorn, the settings) is out of the collector's sight
        assert state["frozen"] > 10_000
    finally:
        proc.terminate()
        proc.wait(20)
