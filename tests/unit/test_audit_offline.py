"""``make audit`` without the advisory databases fails, saying so; it never passes silently."""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
from typing import Any

import pytest

from tools import audit


def test_unreachable_advisories_exit_2_naming_them_and_audit_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def offline(*args: Any, **kwargs: Any) -> Any:
        raise urllib.error.URLError("Name or service not known")

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("nothing may run without the advisory data")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setattr(subprocess, "run", never)
    assert audit.main(["--pip-audit", "pip-audit", "requirements/image.lock"]) == 2
    said = capsys.readouterr().err
    assert audit.PYPI_ADVISORIES in said and audit.NPM_ADVISORIES in said
    assert "nothing was audited" in said
