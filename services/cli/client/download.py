"""``vidpipe download ID``: one output to a file, continuing a partial file with ``Range``."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from services.cli.client.api import Api, ClientError, server_message
from services.cli.client.display import Display

_FILENAME = re.compile(r'filename="?([^";]+)"?')


def target(path: str | None, response: httpx.Response, job_id: str) -> Path:
    """``-o PATH``, else the name the server suggests, else the job id."""
    if path is not None:
        return Path(path)
    found = _FILENAME.search(response.headers.get("Content-Disposition", ""))
    return Path(Path(found.group(1)).name if found else job_id)


def download(api: Api, job_id: str, output: str | None, path: str | None, display: Display) -> Path:
    """Write the output to ``path`` (or the server's name for it); the path written."""
    params = {"output": output} if output else {}
    have = Path(path).stat().st_size if path and Path(path).is_file() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    url = f"/jobs/{job_id}/download"
    with api.stream(url, params=params, headers=headers, follow_redirects=True) as response:
        if response.status_code == 416 and have:  # nothing past what we have: complete
            display.note(f"{path}: already complete ({have} bytes)")
            return Path(str(path))
        if response.status_code not in (200, 206):
            response.read()
            raise ClientError(server_message(response))
        out = target(path, response, job_id)
        resumed = response.status_code == 206
        if resumed:
            display.note(f"{out}: resuming at byte {have}")
        with out.open("ab" if resumed else "wb") as f:
            for block in response.iter_bytes():
                f.write(block)
    return out
