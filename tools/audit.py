"""``make audit``: known vulnerabilities in what vidpipe ships, from the advisory databases.

- the Python packages pinned in ``requirements/*.lock``: ``pip-audit`` against PyPI's
  vulnerability data (the JSON API), hashes required, nothing resolved or installed;
- the web app's runtime packages: ``npm audit --omit=dev`` in ``web/`` (the npm registry's
  advisories; build tools that never reach a browser are left out).

Both need the advisory data from the network. Before running them the script asks each source
once; when one cannot be reached it says which, and where to run the audit instead, and exits
2 (never a silent pass). Exit 1: vulnerabilities found; 0: none known.

Usage: ``python -m tools.audit --pip-audit PATH LOCK...``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# pip-audit asks PyPI per pinned version; this one has known advisories (CVE-2024-22195)
PYPI_ADVISORIES = "https://pypi.org/pypi/jinja2/3.1.2/json"
NPM_ADVISORIES = "https://registry.npmjs.org/-/npm/v1/security/advisories/bulk"
EXIT_UNREACHABLE = 2


def _reachable(url: str, body: bytes | None = None) -> str | None:
    """None when ``url`` answers with advisory data; else why not (one phrase)."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    request = urllib.request.Request(url, data=body, headers=headers)  # noqa: S310 - https only
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
            answer = json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
    if body is None and not (isinstance(answer, dict) and answer.get("vulnerabilities")):
        return "no vulnerability data in the answer"
    return None


def unreachable_sources() -> list[str]:
    problems = []
    if (why := _reachable(PYPI_ADVISORIES)) is not None:
        problems.append(f"PyPI's vulnerability data ({PYPI_ADVISORIES}): {why}")
    if (why := _reachable(NPM_ADVISORIES, b"{}")) is not None:
        problems.append(f"the npm registry's advisories ({NPM_ADVISORIES}): {why}")
    return problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pip-audit", required=True, help="the pip-audit executable")
    parser.add_argument("locks", nargs="+", type=Path, help="requirements/*.lock")
    args = parser.parse_args(argv)
    problems = unreachable_sources()
    if problems:
        print(
            "make audit needs the advisory databases, and this machine cannot reach:\n  "
            + "\n  ".join(problems)
            + "\nRun `make audit` where pypi.org and registry.npmjs.org are reachable "
            "(a CI job, a workstation); nothing was audited.",
            file=sys.stderr,
        )
        return EXIT_UNREACHABLE
    requirements = [part for lock in args.locks for part in ("-r", str(lock))]
    python = subprocess.run(
        [args.pip_audit, "--require-hashes", "--disable-pip", "--progress-spinner", "off",
         *requirements],
        cwd=ROOT, check=False,
    )  # fmt: skip
    web = subprocess.run(["npm", "audit", "--omit=dev"], cwd=ROOT / "web", check=False)
    return 1 if python.returncode or web.returncode else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
