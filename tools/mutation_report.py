"""Kill rate per module of the last ``mutmut run`` (``make mutation``), and its survivors.

Reads mutmut's ``mutants/<module>.py.meta`` files (exit code of the tests per mutant); see
``mutmut show <name>`` for the diff of a survivor. A timeout counts as killed: the tests noticed.
"""

from __future__ import annotations

import json
import sys
import tomllib
from collections import Counter
from pathlib import Path

KILLED = {1: "killed", 3: "killed", 36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout"}
SURVIVED = 0
NO_TESTS = {5, 33}


def outcome(code: int | None) -> str:
    if code is None:
        return "not checked"
    if code == SURVIVED:
        return "survived"
    if code in NO_TESTS:
        return "no tests"
    return KILLED.get(code, "suspicious")


def main() -> int:
    config = tomllib.loads(Path("pyproject.toml").read_text())["tool"]["mutmut"]
    total: Counter[str] = Counter()
    survivors: list[str] = []
    print(f"{'module':36} {'mutants':>7} {'killed':>7} {'survived':>8} {'no tests':>8}  rate")
    for module in config["only_mutate"]:
        meta = Path("mutants") / f"{module}.meta"
        if not meta.exists():
            print(f"{module}: no results (run `mutmut run` first)", file=sys.stderr)
            return 1
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        counts = Counter(outcome(code) for code in codes.values())
        killed = counts["killed"] + counts["timeout"]
        rate = killed / len(codes) if codes else 1.0
        print(
            f"{module:36} {len(codes):7} {killed:7} {counts['survived']:8} "
            f"{counts['no tests']:8}  {rate:6.1%}"
        )
        total.update(counts)
        total["mutants"] += len(codes)
        survivors += [n for n, code in codes.items() if outcome(code) not in ("killed", "timeout")]
    killed = total["killed"] + total["timeout"]
    print(
        f"{'all':36} {total['mutants']:7} {killed:7} {total['survived']:8} {total['no tests']:8}",
        end="",
    )
    print(f"  {killed / max(total['mutants'], 1):6.1%}")
    print("\nnot killed (`mutmut show NAME` for the diff):")
    for name in sorted(survivors):
        print(f"  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
