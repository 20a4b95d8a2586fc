"""A served process settles its garbage collector once started (``services.core.runtime.heap``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from services.core.runtime import heap
from services.core.runtime.ports import read_report
from tests.support.eventually import eventually_sync

SERVER = """
import asyncio, gc, sys
from pathlib import Path
from typing import Any
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

        def answer() -> dict[str, Any] | None:
            assert proc.poll() is None, "the server exited"
            port = read_report(report, proc.pid) if report.exists() else None
            if port is None:
                return None
            state: dict[str, Any] = httpx.get(f"http://127.0.0.1:{port}/", timeout=2).json()
            return state

        state = eventually_sync(
            answer,
            timeout=30,
            message="the server to answer",
            ignoring=(httpx.TransportError,),  # bound, not serving yet
        )
        assert tuple(state["thresholds"]) == heap.THRESHOLDS
        # what start-up built (starlette, uvicorn, the settings) is out of the collector's sight
        assert state["frozen"] > 10_000
    finally:
        proc.terminate()
        proc.wait(20)
