"""The benchmarks are not run by the suite, so check what they import from vidpipe still exists:
a module moved or a name renamed fails here, not on the day someone measures."""

from __future__ import annotations

import ast
import importlib

import pytest

from tests.support.repo import ROOT

SCRIPTS = sorted((ROOT / "bench").glob("*.py"))
OURS = ("services", "schemas", "tests")


def imported(path: str) -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse((ROOT / path).read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(OURS):
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(a.name, None) for a in node.names if a.name.startswith(OURS)]
    return found


@pytest.mark.parametrize("script", [str(p.relative_to(ROOT)) for p in SCRIPTS])
def test_what_a_bench_imports_from_vidpipe_exists(script: str) -> None:
    names = imported(script)
    missing = []
    for module, name in names:
        loaded = importlib.import_module(module)
        if name is not None and not hasattr(loaded, name):
            try:
                importlib.import_module(f"{module}.{name}")
            except ModuleNotFoundError:
                missing.append(f"{module}.{name}")
    assert not missing, f"{script} imports what is gone: {missing}"


def test_every_bench_is_checked() -> None:
    assert len(SCRIPTS) >= 9
