"""pytest plugin for ``make mutation``: mutmut 3.7 reads ``item._nodeid``, which pytest 9 no
longer has (mutmut 3.8 reads ``nodeid`` but needs a click that faust-streaming refuses)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item._nodeid = item.nodeid  # type: ignore[attr-defined]
